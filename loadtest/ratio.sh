#!/usr/bin/env bash
# Throughput of the bidder as a ratio to the ceiling server, in one run:
# each server pinned to core 0, the load generator to core 1.
#   loadtest/ratio.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
cargo build --release -p bidder -p loadtest >/dev/null
bin=target/release
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT

taskset -c 0 $bin/bidder --demo --data-dir "$data" --listen 127.0.0.1:18080 >/dev/null 2>&1 &
taskset -c 0 $bin/loadtest ceiling --listen 127.0.0.1:18090 2>/dev/null &
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && curl -s -o /dev/null http://127.0.0.1:18090/ && break
  sleep 0.1
done

run() { taskset -c 1 $bin/loadtest replay --url "$1" --seconds "$secs" --connections "$conns" --gzip-every 5; }
echo "== ceiling (minimal hyper server, fixed ~300-byte JSON answer)"
ceiling=$(run http://127.0.0.1:18090/openrtb2/bid); echo "$ceiling"
echo "== bidder (demo data, testdata/requests)"
bidder=$(run http://127.0.0.1:18080/openrtb2/bid); echo "$bidder"
rps() { sed -n 's/.*= \([0-9]*\) req\/s/\1/p' <<<"$1"; }
echo "== bidder / ceiling throughput: $(awk -v a="$(rps "$bidder")" -v b="$(rps "$ceiling")" 'BEGIN{printf "%.2f", a/b}')"
