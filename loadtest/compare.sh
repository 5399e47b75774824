#!/usr/bin/env bash
# The bidder as an exchange sees it, against the ceiling of its own stack, in
# one run. Servers are pinned to core 0, the load generator to core 1.
#
#   loadtest/compare.sh [seconds] [connections]
#   CAMPAIGNS=1000 USERS=1000000 NOTICES=0.1 PAIRS=3 loadtest/compare.sh 10 32
#
# 1. starts `bidder --demo` and loads CAMPAIGNS campaigns (with creatives and
#    fragments) and USERS audience users through its admin API;
# 2. ceiling (minimal hyper server, fixed ~300-byte answer), closed loop;
# 3. bidder, closed loop: saturation throughput (PAIRS ceiling/bidder pairs
#    alternating, the median ratio reported); then a second ceiling whose
#    answer is padded to the bidder's mean answer size, closed loop: the
#    ratio to it is what the bidder's work costs, apart from its bytes;
#    and a third that also parses each request with the bidder's own
#    parser (`ceiling --parse`): the most a bidder on this stack and parser
#    could serve if deciding and writing its answer cost nothing.
#    The generator busy-polls in these runs (--busy-poll): sleeping, it
#    makes the server's core pay an interrupt to wake it on every answer,
#    and more often the slower the server (an exchange on another machine
#    costs the bidder nothing of the kind). One pair with a sleeping
#    generator is run too, for reference;
# 4. open loop at 50 % of the bidder's saturation rate, latency from each
#    request's due time: the ceiling (the generator's own floor), the
#    parsing ceiling answering the bidder's bytes (the floor of any bidder
#    on this stack and parser), the bidder, and the bidder with NOTICES of
#    the bids followed up (win, bill, impression, clicks; losses). For the
#    plain bidder run it also reads the bidder's own latency histogram
#    (from the kernel's receive time to the answer), which separates the
#    bidder's share of the tail from the generator's.
# 5. open loop at 200 % of the bidder's saturation rate over OVERLOAD_CONNS
#    connections (default 128), with --give-up: like an exchange, requests
#    that find no free connection within half their tmax are not sent.
#    Where the queue builds at the bidder instead (many connections), the
#    bidder sheds: 204 at once for requests that waited over
#    max_queue_delay_ms. Either way no answer may come after tmax.
# 6. with PROFILE=1 (needs `perf`): one more closed-loop run of the ceiling,
#    the parsing ceiling and the bidder with `perf record` on core 0 for 4 s
#    of it (with DWARF call stacks), and two tables of where the core goes
#    per request: by kind of work, and by step of the bid path, handler and
#    outside it (loadtest/per_request.py).
# All three send the same generated traffic (seed 1), or with REPLAY=DIR the
# *.json requests of DIR in turn (`REPLAY=testdata/typical` is the issue's
# typical banner request: a user the demo audience knows, an assembled
# creative). Results: a table on stdout, the JSON reports in $OUT (default:
# a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
campaigns=${CAMPAIGNS:-1000}
users=${USERS:-1000000}
notices=${NOTICES:-0.1}
pairs=${PAIRS:-3}
if [ -n "${PROFILE:-}" ] && ! command -v perf >/dev/null; then
  echo "PROFILE=1 needs perf (linux-tools / linux-perf)" >&2
  exit 1
fi
cargo build --release -p bidder -p loadtest >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release
data=$(mktemp -d)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT

# The generated GDPR traffic consents to vendor 1234. Its secure imps get
# bids only from a bidder whose public URL is https (notices are sent to
# the bidder's address whatever the URL's host).
printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' > "$data/bidder.toml"
token=$("$bin/bidder" --data-dir "$data" --config "$data/bidder.toml" token create --role admin --label compare.sh)
taskset -c 0 "$bin/bidder" --demo --data-dir "$data" --config "$data/bidder.toml" --listen 127.0.0.1:18080 >"$out/bidder.log" 2>&1 &
bidder_pid=$!
taskset -c 0 "$bin/loadtest" ceiling --listen 127.0.0.1:18090 2>/dev/null &
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && curl -s -o /dev/null -X POST http://127.0.0.1:18090/ && break
  sleep 0.1
done

echo "== seed: $campaigns campaigns, $users audience users"
taskset -c 1 "$bin/loadtest" seed --url http://127.0.0.1:18080 --token "$token" \
  --campaigns "$campaigns" --users "$users" 2>"$out/seed.log" | tee "$out/seed.txt"
echo "bidder RSS after seeding: $(ps -o rss= -p "$bidder_pid") KiB"

run() { # name url [extra args]
  local name=$1 url=$2; shift 2
  echo "== $name"
  taskset -c 1 "$bin/loadtest" run --url "$url" --seconds "$secs" --connections "${RUN_CONNS:-$conns}" \
    --gzip-every "${GZIP_EVERY:-5}" --quiet --json "$out/$name.json" ${REPLAY:+--dir "$REPLAY"} "$@"
}
# Seeding leaves the bidder publishing and writing for a while: a few
# seconds of load first, not reported.
secs=3 run warm-up http://127.0.0.1:18080/openrtb2/bid --busy-poll >/dev/null
run ceiling http://127.0.0.1:18090/openrtb2/bid --busy-poll
run bidder-saturation http://127.0.0.1:18080/openrtb2/bid --busy-poll
# The VM's speed drifts by several percent from one run to the next: more
# pairs, alternating, and the median of their ratios.
for i in $(seq 2 "$pairs"); do
  run "ceiling-$i" http://127.0.0.1:18090/openrtb2/bid --busy-poll
  run "bidder-saturation-$i" http://127.0.0.1:18080/openrtb2/bid --busy-poll
done
run ceiling-sleeping http://127.0.0.1:18090/openrtb2/bid
run bidder-saturation-sleeping http://127.0.0.1:18080/openrtb2/bid
answer_bytes=$(python3 -c "import json;print(json.load(open('$out/bidder-saturation.json'))['mean_answer_bytes'])")
taskset -c 0 "$bin/loadtest" ceiling --listen 127.0.0.1:18091 --answer-bytes "$answer_bytes" 2>/dev/null &
sized_pid=$!
taskset -c 0 "$bin/loadtest" ceiling --listen 127.0.0.1:18092 --answer-bytes "$answer_bytes" --parse 2>/dev/null &
parsing_pid=$!
for port in 18091 18092; do
  for _ in $(seq 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
if [ -n "${PROFILE:-}" ]; then
  profile() { # name url: a saturation run, sampled in its middle
    secs=8 run "$1" "$2" --busy-poll >/dev/null &
    sleep 3
    perf record -F 999 -C 0 --call-graph dwarf,16384 -o "$out/$1.perf" -- sleep 4 >/dev/null 2>&1
    wait $!
  }
  profile profile-ceiling http://127.0.0.1:18090/openrtb2/bid
  profile profile-ceiling-parse http://127.0.0.1:18092/openrtb2/bid
  profile profile-bidder http://127.0.0.1:18080/openrtb2/bid
  python3 loadtest/per_request.py "ceiling=$out/profile-ceiling.perf:$out/profile-ceiling.json" \
    "ceiling-parse=$out/profile-ceiling-parse.perf:$out/profile-ceiling-parse.json" \
    "bidder=$out/profile-bidder.perf:$out/profile-bidder.json" > "$out/per-request.md"
fi
run ceiling-bidder-size http://127.0.0.1:18091/openrtb2/bid --busy-poll
run ceiling-parse http://127.0.0.1:18092/openrtb2/bid --busy-poll
kill "$sized_pid"
half=$(python3 -c "import json;print(int(json.load(open('$out/bidder-saturation.json'))['per_second']/2))")
# The generator's own floor at that rate: the ceiling in open loop; and the
# floor of any bidder on this stack and parser answering the bidder's bytes.
run ceiling-half-rate http://127.0.0.1:18090/openrtb2/bid --rate "$half"
run ceiling-parse-half-rate http://127.0.0.1:18092/openrtb2/bid --rate "$half"
kill "$parsing_pid"
# The bidder's own latency histogram (kernel arrival to answer) around the
# half-rate run: its share of the tail, apart from the generator's.
buckets() { curl -s http://127.0.0.1:18080/metrics | grep '^bidder_bid_latency_seconds_bucket' > "$1"; }
buckets "$out/buckets-before.txt"
run bidder-half-rate http://127.0.0.1:18080/openrtb2/bid --rate "$half"
buckets "$out/buckets-after.txt"
run bidder-half-rate-notices http://127.0.0.1:18080/openrtb2/bid --rate "$half" --notices "$notices"
shed() { curl -s http://127.0.0.1:18080/metrics | awk '/^bidder_no_bids_total.*reason="overloaded"/ {n += $2} END {print n + 0}'; }
shed_before=$(shed)
RUN_CONNS=${OVERLOAD_CONNS:-128} run bidder-double-rate http://127.0.0.1:18080/openrtb2/bid --rate "$((half * 4))" --give-up
echo $(( $(shed) - shed_before )) > "$out/bidder-double-rate.shed"
echo "bidder RSS at the end: $(ps -o rss= -p "$bidder_pid") KiB"

python3 - "$out" "$pairs" <<'PY'
import json, sys, os, statistics
d, pairs = sys.argv[1], int(sys.argv[2])
runs = ("ceiling", "bidder-saturation", "ceiling-sleeping", "bidder-saturation-sleeping", "ceiling-bidder-size", "ceiling-parse", "ceiling-half-rate", "ceiling-parse-half-rate", "bidder-half-rate", "bidder-half-rate-notices", "bidder-double-rate")
r = {n: json.load(open(os.path.join(d, n + ".json"))) for n in runs}
print()
print("| run | req/s | bids/s | no-bids | late | errors | answer bytes | p50 us | p90 us | p99 us | p99.9 us | max us |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n, x in r.items():
    l = x["latency_us"]
    errors = sum(x["errors"].values())
    bps = x['bids'] / x['elapsed_s'] if x.get('elapsed_s') else 0
    print(f"| {n} ({x['mode']}) | {x['per_second']:.0f} | {bps:.0f} | {x['no_bids']} | {x['late']} | {errors} | {x['mean_answer_bytes']} | {l['p50']} | {l['p90']} | {l['p99']} | {l['p999']} | {l['max']} |")
print()
ratios = [r['bidder-saturation']['per_second'] / r['ceiling']['per_second']]
for i in range(2, pairs + 1):
    c, b = (json.load(open(os.path.join(d, f"{n}-{i}.json"))) for n in ("ceiling", "bidder-saturation"))
    ratios.append(b['per_second'] / c['per_second'])
print(f"bidder / ceiling saturation throughput: {statistics.median(ratios):.2f} (median of {len(ratios)} alternating pairs: {', '.join(f'{x:.3f}' for x in ratios)})")
print(f"with a sleeping generator (one pair): {r['bidder-saturation-sleeping']['per_second'] / r['ceiling-sleeping']['per_second']:.2f}")
print(f"bidder / ceiling answering the bidder's {r['ceiling-bidder-size']['mean_answer_bytes']} bytes: {r['bidder-saturation']['per_second'] / r['ceiling-bidder-size']['per_second']:.2f} (the bytes alone: {r['ceiling-bidder-size']['per_second'] / r['ceiling']['per_second']:.2f})")
print(f"bidder / ceiling also parsing each request: {r['bidder-saturation']['per_second'] / r['ceiling-parse']['per_second']:.2f} (parsing and the bytes alone: {r['ceiling-parse']['per_second'] / r['ceiling']['per_second']:.2f}; {sum(r['ceiling-parse']['errors'].values())} errors, statuses {r['ceiling-parse']['statuses']})")
shed = int(open(os.path.join(d, "bidder-double-rate.shed")).read())
o, s = r["bidder-double-rate"], r["bidder-saturation"]
print(f"at 2x saturation: {o['given_up']} given up by the exchange, {shed} shed by the bidder; bids/s {o['bids'] / o['elapsed_s']:.0f} vs {s['bids'] / s['elapsed_s']:.0f} at saturation; late {o['late']}")
def buckets(name):
    out = []
    for line in open(os.path.join(d, name)):
        le = line.split('le="')[1].split('"')[0]
        out.append((float(le) if le != "+Inf" else float("inf"), int(line.split()[-1])))
    return out
before, after = buckets("buckets-before.txt"), buckets("buckets-after.txt")
delta = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
total = delta[-1][1]
def bound(q):
    return next(le for le, n in delta if n >= q * total)
fmt = lambda s: "over 250 ms" if s == float("inf") else f"<= {s * 1000:g} ms"
print(f"bidder's own view at half rate (kernel arrival to answer, {total} requests): p99 {fmt(bound(0.99))}, p99.9 {fmt(bound(0.999))}, slowest {fmt(next(le for le, n in delta if n == total))}")
n = r["bidder-half-rate-notices"]["notices"]
print(f"notices at half rate: {n['statuses']}; errors {n['errors']}; dropped {n['dropped']}")
PY
if [ -n "${PROFILE:-}" ]; then
  echo
  echo "Where core 0 goes per request at saturation (perf, 4 s of one more run each):"
  cat "$out/per-request.md"
fi
