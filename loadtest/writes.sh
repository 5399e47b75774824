#!/usr/bin/env bash
# The bid path's tail while the cold path publishes, and the bidder's
# memory during a burst of writes, each as a ratio measured in one run.
#
#   loadtest/writes.sh [rounds] [seconds]
#   CAMPAIGNS=10000 USERS=100000 RATE=10 loadtest/writes.sh 3 10
#
# 1. starts `bidder --demo` pinned to core 0 and seeds CAMPAIGNS campaigns
#    (default 10,000) and USERS audience users through its admin API;
# 2. finds the bidder's saturation rate (closed loop, generator on core 1);
# 3. rounds of two open-loop runs at half that rate, alternating: without
#    writes, then with `loadtest writes` at RATE campaign writes per second
#    (default 10; each a real change that the snapshot publishes), started
#    once the writer has listed the campaigns it writes. Prints
#    each run's p99 and p99.9 as the exchange sees them and the ratio
#    with/without writes per round, and then the bidder's own view of the
#    same runs (its bid latency histogram, from the kernel's receipt of a
#    request to its answer): the share of requests over 2.5, 5 and 10 ms,
#    which leaves out what happens on the generator's side;
# 4. RSS: the bidder's resident memory when quiet, then its peak (sampled
#    every 10 ms) during a burst of 100 writes sent back to back.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
campaigns=${CAMPAIGNS:-10000}
users=${USERS:-100000}
wrate=${RATE:-10}
# BIN names a folder holding other builds of bidder and loadtest.
if [ -z "${BIN:-}" ]; then
  cargo build --release -p bidder -p loadtest >/dev/null 2>&1
fi
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release}
d=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$d"' EXIT
. loadtest/lib.sh
start_demo_bidder "$d" 18280 writes.sh
echo "seeding $campaigns campaigns and $users users ..."
started=$SECONDS
taskset -c 1 "$bin/loadtest" seed --url "$url" --token "$tok" --campaigns "$campaigns" --users "$users" >/dev/null
echo "seeded in $((SECONDS - started)) s"

run() { # name [args...]: one run of the generator on core 1, JSON in $d/name.json
  local name=$1
  shift
  scrape "$name.before"
  taskset -c 1 "$bin/loadtest" run --url "$url/openrtb2/bid" --connections 32 --quiet \
    --json "$d/$name.json" "$@" >/dev/null
  scrape "$name.after"
}
scrape() { # name: the bidder's own latency histogram, in $d/name.prom
  curl -sf -H "authorization: Bearer $tok" "$url/metrics" |
    grep '^bidder_bid_latency_seconds_bucket' >"$d/$1.prom" || true
}
field() { # name python-expression-of-x
  python3 -c "import json,sys; x=json.load(open(sys.argv[1])); print($2)" "$d/$1.json"
}
run warm-up --seconds 3 --busy-poll
run saturation --seconds "$secs" --busy-poll
half=$(field saturation "int(x['per_second'] / 2)")
echo "saturation $(field saturation "round(x['per_second'])") req/s; open loop at $half req/s"

for r in $(seq "$rounds"); do
  run "quiet-$r" --seconds "$secs" --rate "$half"
  # The writer first lists every campaign (20 pages at 10,000): the run
  # starts once it says so, and the writes outlast the run by a second.
  taskset -c 1 "$bin/loadtest" writes --url "$url" --token "$tok" --rate "$wrate" \
    --seconds "$((secs + 1))" --seed "$r" >"$d/writes-$r.txt" 2>"$d/writer-$r.err" &
  writer=$!
  wait_listed "$d/writer-$r.err"
  run "writes-$r" --seconds "$secs" --rate "$half"
  wait "$writer"
  grep -v '^listed' "$d/writer-$r.err" >&2 || true
  python3 - "$d" "$r" <<'PY'
import json, os, sys
d, r = sys.argv[1], sys.argv[2]
q, w = (json.load(open(os.path.join(d, f"{n}-{r}.json")))["latency_us"] for n in ("quiet", "writes"))
writes = open(os.path.join(d, f"writes-{r}.txt")).read().strip()
print(f"round {r}: quiet p99 {q['p99']} us p99.9 {q['p999']} us | writing p99 {w['p99']} us p99.9 {w['p999']} us | p99.9 ratio {w['p999'] / q['p999']:.2f}")
print(f"         {writes}")

def served(name):
    """The bidder's own view of one run, from kernel receipt to answer:
    (requests, the share over each bound in ms)."""
    def buckets(when):
        found = {}
        for line in open(os.path.join(d, f"{name}-{r}.{when}.prom")):
            le, n = line.split('le="')[1].split('"} ')
            found[le] = int(n)
        return found
    a, b = buckets("before"), buckets("after")
    total = b["+Inf"] - a["+Inf"]
    share = {ms: 100 * (1 - (b[le] - a[le]) / max(total, 1))
             for ms, le in ((2.5, "0.0025"), (5, "0.005"), (10, "0.01"))}
    return total, share
parts = []
for name in ("quiet", "writes"):
    total, share = served(name)
    parts.append(f"{name} " + ", ".join(f">{ms:g} ms {p:.2f} %" for ms, p in share.items()))
print("         in the bidder (of " + f"{served('quiet')[0]} and {served('writes')[0]} requests): " + " | ".join(parts))
PY
done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
quiet=$(rss)
( peak=0; while :; do v=$(rss); [ "$v" -gt "$peak" ] && peak=$v && echo "$peak" > "$d/peak"; sleep 0.01; done ) &
sampler=$!
taskset -c 1 "$bin/loadtest" writes --url "$url" --token "$tok" --rate 100000 --writes 100 --seconds 600 >"$d/burst.txt"
kill "$sampler" 2>/dev/null || true
peak=$(cat "$d/peak")
echo "burst: $(cat "$d/burst.txt")"
python3 -c "import sys; q, p = map(int, sys.argv[1:]); print(f'RSS quiet {q / 1024:.0f} MiB, peak during 100 writes {p / 1024:.0f} MiB: {p / q:.2f}x')" "$quiet" "$peak"
