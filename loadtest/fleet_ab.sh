#!/usr/bin/env bash
# A fleet's figures on loopback, release build (build it first:
# `cargo build --release -p bidder -p loadtest`; this script does not;
# BIN=dir runs the binaries in dir).
#
#   loadtest/fleet_ab.sh ratio [rounds] [seconds]   # (a)
#   loadtest/fleet_ab.sh trips [seconds]            # (b)
#   loadtest/fleet_ab.sh overspend [seconds]        # (c)
#   loadtest/fleet_ab.sh ready [uploads]            # (d)
#
# (a) ratio: an embedded bidder and a fleet's bid instance (its control
#     instance and redis-server on core 1 with the generator), both on
#     core 0, seeded alike (CAMPAIGNS, default 1,000; USERS, default
#     100,000), at saturation in alternating rounds, closed loop as ab.sh:
#     per round both rates and fleet/embedded.
# (b) trips: the bid instance's Redis round trips per second
#     (bidder_redis_round_trips_total) at saturation, at a quarter of it
#     (open loop), and at that rate with every bid followed up by notices:
#     round trips per notice on top.
# (c) overspend: three bid instances, the seeded campaigns' small daily
#     budgets (SMALL micros, default 2,000,000), traffic round robin over
#     the three with every bid followed up (win rate 0.5, each bid's
#     notices to the next instance) until the budgets ran out mid-run;
#     then, once the control has booked every event, each small campaign's
#     booked spend against its budget: overspend as a share of the
#     budgets.
# (d) ready: a control instance with `uploads` (default 5) uploads of
#     2,000,000 users (the CSVs loadtest/uploads.sh makes, in CSV_DIR),
#     restarted so that it writes the whole audience copy to Redis; then a
#     new bid instance on core 0: seconds from its start to /readyz 200,
#     and the users its log says it loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
campaigns=${CAMPAIGNS:-1000}
users=${USERS:-100000}
small=${SMALL:-2000000}
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release}
command -v redis-server >/dev/null || { echo "needs redis-server" >&2; exit 1; }
[ -x "$bin/bidder" ] && [ -x "$bin/loadtest" ] || { echo "build the release binaries first" >&2; exit 1; }
dirs=()
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "${dirs[@]}"' EXIT
root=$(mktemp -d)
dirs+=("$root")
printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' > "$root/bidder.toml"
redis_port=18290
redis=redis://127.0.0.1:$redis_port

ready() { for _ in $(seq "${2:-600}"); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.1; done; echo "port $1 not ready" >&2; exit 1; }
token() { "$bin/bidder" --data-dir "$1" --config "$root/bidder.toml" token create --role admin --label fleet_ab; }
# core dir port [bidder args...]
start() {
  local core=$1 d=$2 port=$3
  shift 3
  mkdir -p "$d"
  taskset -c "$core" "$bin/bidder" --data-dir "$d" --config "$root/bidder.toml" \
    --listen "127.0.0.1:$port" "$@" >"$d/log" 2>&1 &
}
seed() { # port token [small share]
  taskset -c 1 "$bin/loadtest" seed --url "http://127.0.0.1:$1" --token "$2" \
    --campaigns "$campaigns" --users "$users" --small-budgets "${3:-0.02}" \
    --small-budget-micros "$small"
}
start_redis() {
  mkdir -p "$root/redis"
  taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$root/redis" \
    --appendonly yes --appendfsync everysec --save '' --loglevel warning >/dev/null &
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done
}
# Starts redis, the seeded control on core 1 (port 18282) and bid
# instances on the cores given, ports 18283...; the control's token in
# $root/token (not printed: in a $(...) subshell the processes would not
# be this shell's jobs, and the exit trap would leave them running).
start_fleet() { # small-share core...
  local share=$1 tok i=0
  shift
  start_redis
  tok=$(token "$root/control")
  start 1 "$root/control" 18282 --demo --redis "$redis"
  ready 18282
  seed 18282 "$tok" "$share" > "$root/seeded"
  for core in "$@"; do
    start "$core" "$root/bid-$i" $((18283 + i)) --redis "$redis" --bid-only
    i=$((i + 1))
  done
  for j in $(seq 0 $((i - 1))); do ready $((18283 + j)); done
  echo "$tok" > "$root/token"
}
json=$root/report.json
run() { # loadtest run args...: the report's JSON in $json
  taskset -c 1 "$bin/loadtest" run --quiet --json "$json" "$@" >/dev/null
}
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'v': v}))" "$json" "$1"; }
trips() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "bidder_redis_round_trips_total" {print $2}'; }

case "$what" in
ratio)
  rounds=${2:-5} secs=${3:-8}
  tok=$(token "$root/embedded")
  start 0 "$root/embedded" 18281 --demo
  ready 18281
  seed 18281 "$tok" >/dev/null
  start_fleet 0.02 0
  rate() { run --url "http://127.0.0.1:$1/openrtb2/bid" --seconds "$2" --connections 32 \
      --gzip-every 5 --busy-poll; field "round(v['per_second'])"; }
  # Seeding leaves both publishing and writing for a while.
  rate 18281 3 >/dev/null
  rate 18283 3 >/dev/null
  for r in $(seq "$rounds"); do
    e=$(rate 18281 "$secs")
    f=$(rate 18283 "$secs")
    python3 -c "import sys; r, e, f = sys.argv[1], *map(int, sys.argv[2:]); print(f'round {r}: embedded {e}  fleet bid instance {f}  fleet/embedded {f / e:.3f}')" "$r" "$e" "$f"
  done
  ;;
trips)
  secs=${2:-10}
  start_fleet 0.02 0
  url=http://127.0.0.1:18283/openrtb2/bid
  run --url "$url" --seconds 3 --connections 32 --busy-poll
  measure() { # label loadtest-args...
    local label=$1 t0 t1
    shift
    t0=$(trips 18283)
    run --url "$url" --seconds "$secs" "$@"
    t1=$(trips 18283)
    python3 - "$json" "$label" "$t0" "$t1" "$secs" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
label, t0, t1, secs = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
notices = sum(v["notices"]["statuses"].values())
print(f"{label}: {v['per_second']:.0f} req/s, {notices} notices, "
      f"{(t1 - t0) / secs:.1f} Redis round trips/s, {t1 - t0:.0f} in all")
EOF
  }
  measure "saturation" --connections 32 --busy-poll
  sat=$(field "round(v['per_second'])")
  quarter=$((sat / 4))
  measure "open loop at $quarter/s" --connections 32 --rate "$quarter"
  measure "open loop at $quarter/s, notices for every bid" --connections 32 --rate "$quarter" \
    --notices 1 --win-rate 0.3
  ;;
overspend)
  secs=${2:-20}
  start_fleet 0.1 0 0 1
  tok=$(cat "$root/token")
  small_ids=$(python3 -c "import re,sys; print(' '.join(re.search(r'small budget: \[([^\]]*)\]', open(sys.argv[1]).read()).group(1).replace(',', ' ').split()))" "$root/seeded")
  urls=http://127.0.0.1:18283/openrtb2/bid,http://127.0.0.1:18284/openrtb2/bid,http://127.0.0.1:18285/openrtb2/bid
  run --url "$urls" --seconds "$secs" --connections 24 --rate 1500 --notices 1 --win-rate 0.5
  echo "traffic: $(field "round(v['per_second'])") req/s over 3 bid instances, $(field "sum(v['notices']['statuses'].values())") notices"
  # The control books what the streams hold; wait until the lag is 0.
  for _ in $(seq 100); do
    lag=$(curl -sf http://127.0.0.1:18282/metrics | awk '$1 == "bidder_event_stream_lag" {print $2}')
    [ "$lag" = "0" ] && break
    sleep 0.2
  done
  sleep 2
  for id in $small_ids; do
    curl -sf -H "authorization: Bearer $tok" "http://127.0.0.1:18282/api/v1/campaigns/$id/budget"
    echo
  done | python3 -c "
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
budget = sum(r['daily_budget_micros'] for r in rows)
spent = sum(r['spent_today_micros'] for r in rows)
over = sum(max(r['spent_today_micros'] - r['daily_budget_micros'], 0) for r in rows)
ran_out = sum(r['spent_today_micros'] >= 0.9 * r['daily_budget_micros'] for r in rows)
worst = max((r['spent_today_micros'] - r['daily_budget_micros']) / r['daily_budget_micros'] for r in rows)
print(f'{len(rows)} campaigns with a daily budget of $small micros, {ran_out} ran out (>= 90 %)')
print(f'booked {spent} of {budget} micros; over budget {over} = {100 * over / budget:.2f} % of the budgets; worst campaign {100 * worst:+.2f} %')
"
  ;;
ready)
  uploads=${2:-5}
  csv_dir=${CSV_DIR:-/tmp/uploads-csv}
  for n in $(seq "$uploads"); do
    [ -s "$csv_dir/upload-$n-of-2000000.csv.gz" ] || { echo "run loadtest/uploads.sh once first (it makes the CSVs)" >&2; exit 1; }
  done
  start_redis
  tok=$(token "$root/control")
  start 1 "$root/control" 18282 --demo --redis "$redis"
  ready 18282
  api=http://127.0.0.1:18282/api/v1
  funnel=$(curl -sf -X POST "$api/funnels" -H "authorization: Bearer $tok" \
    -H 'content-type: application/json' -d '{"advertiser_id": 1, "name": "fleet_ab ready"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  for n in $(seq "$uploads"); do
    curl -sf -X POST "$api/funnels/$funnel/uploads?mode=add&format=csv" \
      -H "authorization: Bearer $tok" -H 'content-type: text/csv' \
      --data-binary "@$csv_dir/upload-$n-of-2000000.csv.gz" |
      python3 -c 'import json, sys; j = json.load(sys.stdin); print("upload", j["id"], j["status"], j["rows_accepted"], "rows")'
  done
  # A restarted control writes a complete new generation of the copy.
  kill "$(jobs -p | tail -n 1)"
  wait "$(jobs -p | tail -n 1)" 2>/dev/null || true
  start 1 "$root/control" 18282 --demo --redis "$redis"
  ready 18282
  for _ in $(seq 1200); do
    grep -q 'audience copy written to Redis' "$root/control/log" && break
    sleep 0.1
  done
  grep -o 'audience copy written to Redis.*' "$root/control/log" | tail -n 1
  t0=$(date +%s.%N)
  start 0 "$root/bid-0" 18283 --redis "$redis" --bid-only
  ready 18283 3000
  t1=$(date +%s.%N)
  loaded=$(grep -o 'audiences loaded.*' "$root/bid-0/log" | tail -n 1)
  pid=$(jobs -p | tail -n 1)
  echo "bid instance: /readyz 200 after $(python3 -c "print(f'{$t1 - $t0:.1f}')") s; $loaded; RSS $(($(ps -o rss= -p "$pid") / 1024)) MiB"
  ;;
*)
  sed -n '2,29p' "$0" >&2
  exit 2
  ;;
esac
