#!/usr/bin/env bash
# Two bidder builds at saturation, in alternating rounds, against the
# ceiling: is a change worth a few percent, or is it this VM's drift?
#
#   loadtest/ab.sh A_BINARY B_BINARY [rounds] [seconds]
#   B_ENV="MIMALLOC_ALLOW_THP=0" loadtest/ab.sh target/release/bidder target/release/bidder
#
# Build the two binaries first (e.g. `cargo build --release -p bidder` on
# each commit, copying target/release/bidder aside). Both are pinned to
# core 0 with the ceiling, seeded alike (CAMPAIGNS campaigns, USERS
# audience users, default 1,000 and 1,000,000), then each round runs the
# ceiling, A and B closed loop for `seconds` with the generator on core 1
# (busy-polling, as compare.sh's saturation runs). A round prints both
# ratios to the ceiling and B/A; one round says little on a shared VM,
# five with B/A on both sides of 1 say "no difference measurable".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
bin_a=$1 bin_b=$2 rounds=${3:-5} secs=${4:-8}
campaigns=${CAMPAIGNS:-1000}
users=${USERS:-1000000}
cargo build --release -p loadtest >/dev/null 2>&1
lt=${CARGO_TARGET_DIR:-target}/release/loadtest
dirs=()
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "${dirs[@]}"' EXIT

start_bidder() { # binary port env
  local d tok
  d=$(mktemp -d)
  dirs+=("$d")
  # As compare.sh: the generated GDPR traffic consents to vendor 1234, and
  # its secure imps get bids only from a bidder whose public URL is https.
  printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' > "$d/bidder.toml"
  tok=$("$1" --data-dir "$d" --config "$d/bidder.toml" token create --role admin --label ab.sh)
  env $3 taskset -c 0 "$1" --demo --data-dir "$d" --config "$d/bidder.toml" --listen "127.0.0.1:$2" >"$d/log" 2>&1 &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && break; sleep 0.1; done
  taskset -c 1 "$lt" seed --url "http://127.0.0.1:$2" --token "$tok" \
    --campaigns "$campaigns" --users "$users" >/dev/null 2>&1
}
taskset -c 0 "$lt" ceiling --listen 127.0.0.1:18190 2>/dev/null &
start_bidder "$bin_a" 18181 "${A_ENV:-}"
start_bidder "$bin_b" 18182 "${B_ENV:-}"
json=$(mktemp)
dirs+=("$json")
rate() { # url [seconds]: requests per second, closed loop
  taskset -c 1 "$lt" run --url "$1" --seconds "${2:-$secs}" --connections 32 --gzip-every 5 \
    --busy-poll --quiet --json "$json" >/dev/null
  python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['per_second']))" "$json"
}
# Seeding leaves both publishing and writing for a while.
rate http://127.0.0.1:18181/openrtb2/bid 3 >/dev/null
rate http://127.0.0.1:18182/openrtb2/bid 3 >/dev/null
for r in $(seq "$rounds"); do
  c=$(rate http://127.0.0.1:18190/openrtb2/bid)
  a=$(rate http://127.0.0.1:18181/openrtb2/bid)
  b=$(rate http://127.0.0.1:18182/openrtb2/bid)
  python3 -c "import sys; r, c, a, b = sys.argv[1], *map(int, sys.argv[2:]); print(f'round {r}: ceiling {c}  A {a} ({a / c:.3f})  B {b} ({b / c:.3f})  B/A {b / a:.3f}')" "$r" "$c" "$a" "$b"
done
