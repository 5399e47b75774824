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
# (c) overspend: three bid instances, every seeded campaign on a small
#     daily budget (CAMPAIGNS, default 100; SMALL micros, default
#     50,000; SHARE of campaigns small, default 1), traffic round robin
#     over the three with every bid followed up (win rate 0.5, each bid's
#     notices to the next instance) until most budgets ran out mid-run,
#     each instance's lease limits read every 0.5 s meanwhile; then, once
#     the control has booked every event, per campaign that ran out:
#     booked spend against its budget and the bound (the budget plus the
#     instances' outstanding leases), the overspend as a share of the
#     budgets, and a verdict (exit 1 when the bound is broken).
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
  # Every campaign small (CAMPAIGNS, default 100, each a daily budget of
  # SMALL micros, default 50,000, paced asap): as the best-paid run
  # out, the next win, so most run out mid-run. /metrics shows every
  # campaign's lease.
  campaigns=${CAMPAIGNS:-100}
  small=${SMALL:-50000}
  echo "metrics_campaigns = $((campaigns + 10))" >> "$root/bidder.toml"
  start_fleet "${SHARE:-1}" 0 0 1
  tok=$(cat "$root/token")
  small_ids=$(python3 -c "import re,sys; print(' '.join(re.search(r'small budget: \[([^\]]*)\]', open(sys.argv[1]).read()).group(1).replace(',', ' ').split()))" "$root/seeded")
  leases=$root/leases
  # port: one line per campaign, "port campaign limit" (the lease limit:
  # what the instance may have used of the campaign's day).
  sample_leases() {
    { curl -sf "http://127.0.0.1:$1/metrics" || true; } | awk -v p="$1" '
      $1 ~ /^bidder_lease_limit_micros\{campaign="[0-9]+"/ {
        split($1, a, "\""); print p, a[2], $2 }'
  }
  # Every instance's leases every 0.5 s while the traffic runs.
  ( while :; do
      for p in 18283 18284 18285; do sample_leases "$p"; done | sed "s/^/$(date +%s.%N) /"
      sleep 0.5
    done >> "$leases" ) &
  sampler=$!
  urls=http://127.0.0.1:18283/openrtb2/bid,http://127.0.0.1:18284/openrtb2/bid,http://127.0.0.1:18285/openrtb2/bid
  run --url "$urls" --seconds "$secs" --connections 24 --rate 1500 --notices 1 --win-rate 0.5
  echo "traffic: $(field "round(v['per_second'])") req/s over 3 bid instances, $(field "sum(v['notices']['statuses'].values())") notices"
  # The control books what the streams hold; wait until the lag is 0,
  # and the bidders' settles are in (they read them every 100 ms).
  for _ in $(seq 100); do
    lag=$(curl -sf http://127.0.0.1:18282/metrics | awk '$1 == "bidder_event_stream_lag" {print $2}')
    [ "$lag" = "0" ] && break
    sleep 0.2
  done
  sleep 2
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  for p in 18283 18284 18285; do sample_leases "$p"; done | sed "s/^/end /" >> "$leases"
  for id in $small_ids; do
    echo "$id $(curl -sf -H "authorization: Bearer $tok" "http://127.0.0.1:18282/api/v1/campaigns/$id/budget")"
  done | python3 -c "
import json, sys
from collections import defaultdict
rows = [dict(json.loads(l.split(' ', 1)[1]), campaign_id=l.split()[0]) for l in sys.stdin if l.strip()]
# The outstanding lease of each instance and campaign: its last sample
# (taken once the control booked everything); its peak while running.
last, peak = {}, defaultdict(int)
for line in open(sys.argv[1]):
    if len(line.split()) != 4:  # a sample cut short when the sampler stopped
        continue
    t, port, c, limit = line.split()
    limit = int(float(limit))
    last[(c, port)] = limit
    peak[(c, port)] = max(peak[(c, port)], limit)
def total(d, c):
    return sum(v for (k, _), v in d.items() if k == c)
budget = sum(r['daily_budget_micros'] for r in rows)
spent = sum(r['spent_today_micros'] for r in rows)
over = sum(max(r['spent_today_micros'] - r['daily_budget_micros'], 0) for r in rows)
ran_out = [r for r in rows if r['spent_today_micros'] >= 0.9 * r['daily_budget_micros']]
print(f'{len(rows)} campaigns with a daily budget of $small micros, {len(ran_out)} ran out (>= 90 %)')
print('campaign'.rjust(8), 'budget'.rjust(9), 'booked'.rjust(9), 'over'.rjust(7), 'leases'.rjust(9), 'peak'.rjust(9), 'bound'.rjust(9))
broken = 0
for r in sorted(ran_out, key=lambda r: r['spent_today_micros'] - r['daily_budget_micros'], reverse=True):
    c, b, s = str(r['campaign_id']), r['daily_budget_micros'], r['spent_today_micros']
    leases = total(last, c)
    bound = b + leases
    broken += s > bound
    flag = '  BROKEN' if s > bound else ''
    print(f'{c:>8} {b:>9} {s:>9} {100 * (s - b) / b:>+6.1f}% {leases:>9} {total(peak, c):>9} {bound:>9}{flag}')
worst = max((r['spent_today_micros'] - r['daily_budget_micros']) / r['daily_budget_micros'] for r in rows)
print(f'booked {spent} of {budget} micros; over budget {over} = {100 * over / budget:.2f} % of the budgets; worst campaign {100 * worst:+.2f} %')
within = sum(r['spent_today_micros'] <= total(last, str(r['campaign_id'])) for r in ran_out)
print(f'leases: the instances\' last lease limits cover what was booked for {within} of the {len(ran_out)} (booked within the leases)')
if broken:
    print(f'verdict: BOUND BROKEN for {broken} campaigns: booked more than the budget plus the outstanding leases')
    sys.exit(1)
print(f'verdict: bound holds: every campaign booked at most its budget plus its outstanding leases')
" "$leases"
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
  sed -n '2,34p' "$0" >&2
  exit 2
  ;;
esac
