#!/usr/bin/env bash
# What answering notices only once they are durable costs: two bidder
# builds at saturation with every bid followed up by notices, in
# alternating rounds, embedded and as a fleet's bid instance.
#
#   loadtest/notices_ab.sh A_DIR B_DIR [rounds] [seconds]
#
# A_DIR and B_DIR each hold a release `bidder` (B_DIR also the `loadtest`
# used for both). Each build runs an embedded bidder and a fleet (its own
# redis-server with AOF as in fleet_ab.sh, its control instance on core 1
# and one bid instance), the bidders on core 0, seeded alike (CAMPAIGNS,
# default 1,000; USERS, default 100,000). A round runs each of the four
# closed loop for `seconds` with the generator on core 1: CONNECTIONS
# (default 128) bid connections and one notice connection per 8, every
# bid followed up (win rate 0.5: win, bill, impression, 2 % clicks; else a
# loss). It prints bids/s and notices/s as the bidder counts them in the
# middle of the run (notices beside bids at saturation), notices/s just
# after it (the generator's queued notices alone, at saturation over its
# notice connections), and B/A of each.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,19p' "$0" >&2
  exit 2
fi
dir_a=$1 dir_b=$2 rounds=${3:-3} secs=${4:-8}
campaigns=${CAMPAIGNS:-1000}
users=${USERS:-100000}
connections=${CONNECTIONS:-128}
lt=$dir_b/loadtest
command -v redis-server >/dev/null || { echo "needs redis-server" >&2; exit 1; }
dirs=()
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "${dirs[@]}"' EXIT
root=$(mktemp -d)
dirs+=("$root")
printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' > "$root/bidder.toml"

ready() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.1; done; echo "port $1 not ready" >&2; exit 1; }
start() { # binary core dir port [args...]
  local bin=$1 core=$2 d=$3 port=$4
  shift 4
  mkdir -p "$d"
  taskset -c "$core" "$bin" --data-dir "$d" --config "$root/bidder.toml" \
    --listen "127.0.0.1:$port" "$@" >"$d/log" 2>&1 &
}
seed() { # binary dir port
  local tok
  tok=$("$1" --data-dir "$2" --config "$root/bidder.toml" token create --role admin --label notices_ab)
  taskset -c 1 "$lt" seed --url "http://127.0.0.1:$3" --token "$tok" \
    --campaigns "$campaigns" --users "$users" >/dev/null 2>&1
}
# One build's pair: embedded on $base, fleet bid instance on $base+2.
start_pair() { # name binary base-port redis-port
  local name=$1 bin=$2 base=$3 rport=$4
  start "$bin" 0 "$root/$name-embedded" "$base" --demo
  ready "$base"
  seed "$bin" "$root/$name-embedded" "$base"
  mkdir -p "$root/$name-redis"
  taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --dir "$root/$name-redis" \
    --appendonly yes --appendfsync everysec --save '' --loglevel warning >/dev/null &
  until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
  mkdir -p "$root/$name-control"
  start "$bin" 1 "$root/$name-control" $((base + 1)) --demo --redis "redis://127.0.0.1:$rport"
  ready $((base + 1))
  seed "$bin" "$root/$name-control" $((base + 1))
  start "$bin" 0 "$root/$name-bid" $((base + 2)) --redis "redis://127.0.0.1:$rport" --bid-only
  ready $((base + 2))
}
start_pair a "$dir_a/bidder" 18381 18391
start_pair b "$dir_b/bidder" 18384 18392
json=$root/report.json
accepted() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 ~ /^bidder_events_accepted_total/ {n += $2} END {print n}'; }
# port [seconds]: "bids/s mixed-notices/s notices-only/s". Notices per
# second as the bidder counts them: from the run's second second to a
# second before its end (beside bids at saturation), then for 3 s after
# it (the generator sends the notices still queued, notices alone at
# saturation over its notice connections).
rate() {
  local s=${2:-$secs} n0 n1 n2 n3
  taskset -c 1 "$lt" run --url "http://127.0.0.1:$1/openrtb2/bid" --seconds "$s" \
    --connections "$connections" --busy-poll --notices 1 --win-rate 0.5 \
    --quiet --json "$json" >/dev/null &
  sleep 2
  n0=$(accepted "$1")
  sleep $((s - 3))
  n1=$(accepted "$1")
  sleep 1.5
  n2=$(accepted "$1")
  sleep 3
  n3=$(accepted "$1")
  wait $!
  python3 -c "
import json, sys
v = json.load(open(sys.argv[1])); n0, n1, n2, n3 = map(int, sys.argv[2:6])
print(round(v['per_second']), round((n1 - n0) / float(sys.argv[6])), round((n3 - n2) / 3))
" "$json" "$n0" "$n1" "$n2" "$n3" "$((s - 3))"
}
# Seeding leaves every bidder publishing and writing for a while.
for p in 18381 18383 18384 18386; do rate "$p" 4 >/dev/null; done
for r in $(seq "$rounds"); do
  for mode in embedded:18381:18384 fleet:18383:18386; do
    IFS=: read -r name pa pb <<<"$mode"
    a=$(rate "$pa")
    b=$(rate "$pb")
    python3 -c "
import sys
r, name = sys.argv[1], sys.argv[2]
a, b = [list(map(int, x.split())) for x in sys.argv[3:5]]
print(f'round {r} {name}: with bids A {a[0]} bids/s {a[1]} notices/s, B {b[0]} bids/s {b[1]} notices/s, '
      f'B/A {b[1] / max(a[1], 1):.3f}; notices alone A {a[2]}/s, B {b[2]}/s, B/A {b[2] / max(a[2], 1):.3f}')
" "$r" "$name" "$a" "$b"
  done
done
