#!/usr/bin/env bash
# The cost of one campaign write against the catalog's size: runs
# `loadtest/control_plane.sh` at SMALL and LARGE campaigns (default 1,000
# and 10,000), alternating, ROUNDS times each (default 2), and prints the
# median PUT of each run and the ratio of the medians (large / small).
# The target is a write whose cost does not depend on the catalog size.
#
#   loadtest/write_ratio.sh
#   ROUNDS=3 WRITES=400 CLIENTS=1 loadtest/write_ratio.sh
#   OLD_BIDDER=... OLD_LOADTEST=... BIDDER=... LOADTEST=... loadtest/write_ratio.sh
#
# WRITES, CLIENTS and PORT pass through (defaults 200, 4 and 18084); BIDDER and LOADTEST
# name other builds. With OLD_BIDDER and OLD_LOADTEST too, every round
# runs both builds at both sizes (old, new, new, old, ...) and both
# builds' ratios are printed: a comparison made in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${SMALL:-1000}
large=${LARGE:-10000}
rounds=${ROUNDS:-2}
export WRITES=${WRITES:-200} CLIENTS=${CLIENTS:-4} PORT=${PORT:-18084}
bin=${CARGO_TARGET_DIR:-target}/release
if [ -z "${BIDDER:-}" ] || [ -z "${LOADTEST:-}" ]; then
  cargo build --release -p bidder -p loadtest >/dev/null 2>&1
fi
new=("${BIDDER:-$bin/bidder}" "${LOADTEST:-$bin/loadtest}")
builds=(new)
if [ -n "${OLD_BIDDER:-}" ] && [ -n "${OLD_LOADTEST:-}" ]; then
  old=("$OLD_BIDDER" "$OLD_LOADTEST")
  builds=(old new)
fi
declare -A medians
for round in $(seq "$rounds"); do
  for n in "$small" "$large"; do
    order=("${builds[@]}")
    # Alternate which build goes first, so neither always runs warm.
    if [ $(((round + (n == large)) % 2)) -eq 0 ] && [ ${#builds[@]} -eq 2 ]; then
      order=("${builds[1]}" "${builds[0]}")
    fi
    for b in "${order[@]}"; do
      declare -n pair=$b
      out=$(BIDDER=${pair[0]} LOADTEST=${pair[1]} CAMPAIGNS=$n loadtest/control_plane.sh)
      unset -n pair
      line=$(grep 'PUTs in' <<<"$out" || true)
      median=$(grep -o 'median [0-9.]*' <<<"$line" | cut -d' ' -f2)
      [ -n "$median" ] || { echo "$out"; echo "no median at $n campaigns ($b)" >&2; exit 1; }
      echo "round $round, $b, $n campaigns: $line"
      medians[$b,$n]="${medians[$b,$n]:-} $median"
    done
  done
done
for b in "${builds[@]}"; do
  python3 - "$b" "$small" "$large" "${medians[$b,$small]}" "${medians[$b,$large]}" <<'PY'
import statistics, sys
build, small, large = sys.argv[1], sys.argv[2], sys.argv[3]
s = [float(x) for x in sys.argv[4].split()]
l = [float(x) for x in sys.argv[5].split()]
ms, ml = statistics.median(s), statistics.median(l)
print(f"{build}: median PUT {ms:.2f} ms at {small}, {ml:.2f} ms at {large}; {large} / {small} = {ml / ms:.2f}x")
PY
done
