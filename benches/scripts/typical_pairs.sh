#!/usr/bin/env bash
# Wall-clock comparison of two builds of the typical request in process.
#
#   benches/scripts/typical_pairs.sh A B [PAIRS] [REQUESTS]
#
# A and B are `typical_loop` binaries of two commits (cargo build --profile
# bench -p benches --example typical_loop, copied aside per commit). Runs
# PAIRS alternating pairs (A first in odd pairs, B first in even ones) on
# core 1 and prints, for B against A: the median of the pair ratios, and
# the ratios of the medians and of the 10th percentiles of each build's
# runs. On a shared machine the host's noise moves single runs by up to
# 2x; the lower percentile is what the code costs when it is left alone.
set -euo pipefail
a=$1 b=$2 pairs=${3:-100} requests=${4:-20000}
run() { taskset -c 1 "$1" "$requests" | awk '{print $1}'; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$pairs"); do
  if ((i % 2)); then x=$(run "$a"); y=$(run "$b"); else y=$(run "$b"); x=$(run "$a"); fi
  echo "$x $y" >>"$out"
done
pct() { sort -g | awk -v p="$1" '{v[NR]=$1} END {i=int((NR-1)*p)+1; print v[i]}'; }
ratio_median=$(awk '{print $2/$1}' "$out" | pct 0.5)
a50=$(awk '{print $1}' "$out" | pct 0.5) b50=$(awk '{print $2}' "$out" | pct 0.5)
a10=$(awk '{print $1}' "$out" | pct 0.1) b10=$(awk '{print $2}' "$out" | pct 0.1)
echo "pairs $pairs of $requests requests, us per request (B/A):"
echo "  median pair ratio  $ratio_median"
echo "  medians            $a50 $b50 ($(awk -v x="$a50" -v y="$b50" 'BEGIN{printf "%.3f", y/x}'))"
echo "  10th percentiles   $a10 $b10 ($(awk -v x="$a10" -v y="$b10" 'BEGIN{printf "%.3f", y/x}'))"
