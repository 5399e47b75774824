#!/usr/bin/env bash
# The bidder as an exchange sees it, against the ceiling of its own stack, in
# one run. Servers are pinned to core 0, the load generator to core 1.
#   loadtest/compare.sh [seconds] [connections]
# 1. ceiling (minimal hyper server, fixed ~300-byte answer), closed loop;
# 2. bidder (--demo), closed loop: saturation throughput;
# 3. bidder, open loop at 50 % of its own saturation: latency from due time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
cargo build --release -p bidder -p loadtest >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release
data=$(mktemp -d)
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data" "$out"' EXIT

taskset -c 0 "$bin/bidder" --demo --data-dir "$data" --listen 127.0.0.1:18080 >/dev/null 2>&1 &
taskset -c 0 "$bin/loadtest" ceiling --listen 127.0.0.1:18090 2>/dev/null &
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && curl -s -o /dev/null -X POST http://127.0.0.1:18090/ && break
  sleep 0.1
done

run() { # name url [extra args]
  local name=$1 url=$2; shift 2
  echo "== $name"
  taskset -c 1 "$bin/loadtest" replay --url "$url" --seconds "$secs" --connections "$conns" \
    --gzip-every 5 --quiet --json "$out/$name.json" "$@"
}
run ceiling http://127.0.0.1:18090/openrtb2/bid
run bidder-saturation http://127.0.0.1:18080/openrtb2/bid
half=$(python3 -c "import json;print(int(json.load(open('$out/bidder-saturation.json'))['per_second']/2))")
run bidder-half-rate http://127.0.0.1:18080/openrtb2/bid --rate "$half"

python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
r = {n: json.load(open(os.path.join(d, n + ".json"))) for n in ("ceiling", "bidder-saturation", "bidder-half-rate")}
print()
print("| run | req/s | bids | no-bids | late | p50 us | p99 us | p99.9 us | max us |")
print("|---|---|---|---|---|---|---|---|---|")
for n, x in r.items():
    l = x["latency_us"]
    print(f"| {n} ({x['mode']}) | {x['per_second']:.0f} | {x['bids']} | {x['no_bids']} | {x['late']} | {l['p50']} | {l['p99']} | {l['p999']} | {l['max']} |")
print()
print(f"bidder / ceiling saturation throughput: {r['bidder-saturation']['per_second'] / r['ceiling']['per_second']:.2f}")
PY
