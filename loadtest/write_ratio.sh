#!/usr/bin/env bash
# The cost of one campaign write against the catalog's size: runs
# `loadtest/control_plane.sh` at SMALL and LARGE campaigns (default 1,000
# and 10,000), alternating, ROUNDS times each (default 2), and prints the
# median PUT of each run and the ratio of the medians (large / small).
# The target is a write whose cost does not depend on the catalog size.
#
#   loadtest/write_ratio.sh
#   ROUNDS=3 WRITES=400 CLIENTS=1 loadtest/write_ratio.sh
#
# WRITES, CLIENTS and PORT pass through (defaults 200, 4 and 18084); BIDDER and LOADTEST
# name other builds.
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
export BIDDER=${BIDDER:-$bin/bidder} LOADTEST=${LOADTEST:-$bin/loadtest}
declare -A medians
for round in $(seq "$rounds"); do
  for n in "$small" "$large"; do
    out=$(CAMPAIGNS=$n loadtest/control_plane.sh)
    line=$(grep 'PUTs in' <<<"$out" || true)
    median=$(grep -o 'median [0-9.]*' <<<"$line" | cut -d' ' -f2)
    [ -n "$median" ] || { echo "$out"; echo "no median at $n campaigns" >&2; exit 1; }
    echo "round $round, $n campaigns: $line"
    medians[$n]="${medians[$n]:-} $median"
  done
done
python3 - "$small" "$large" "${medians[$small]}" "${medians[$large]}" <<'PY'
import statistics, sys
small, large = sys.argv[1], sys.argv[2]
s = [float(x) for x in sys.argv[3].split()]
l = [float(x) for x in sys.argv[4].split()]
ms, ml = statistics.median(s), statistics.median(l)
print(f"median PUT: {ms:.2f} ms at {small}, {ml:.2f} ms at {large}; {large} / {small} = {ml / ms:.2f}x")
PY
