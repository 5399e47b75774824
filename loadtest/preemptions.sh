#!/usr/bin/env bash
# Who takes the bid thread's core while campaign writes run: the time the
# bidder's bid-serving thread spent ready to run while another task held
# its core, by task, read from the kernel's scheduler trace.
#
#   BIN=<folder with bidder and loadtest> loadtest/preemptions.sh [bps] [seconds]
#
# Starts `bidder --demo` pinned to core 0 with 10,000 campaigns (seeded as
# writes.sh does), sends bids at `bps` per second (default 9,000) and 10
# campaign writes per second from core 1, records `perf sched` on core 0 for
# `seconds` (default 4) and prints, per task that preempted the bid thread,
# how often, for how long in all, and the longest. Needs perf and root.
# Run it on two builds to compare (BIN=... twice); hold the machine quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
bps=${1:-9000}
secs=${2:-4}
bin=${BIN:?BIN names a folder holding release builds of bidder and loadtest}
d=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$d"' EXIT
. loadtest/lib.sh
start_demo_bidder "$d" 18282 preemptions.sh
taskset -c 1 "$bin/loadtest" seed --url "$url" --token "$tok" --campaigns 10000 --users 100000 >/dev/null 2>&1
taskset -c 1 "$bin/loadtest" run --url "$url/openrtb2/bid" --connections 32 --quiet --seconds 3 --busy-poll >/dev/null
# The bid path runs on the runtime's worker at nice 0; every other thread of
# the bidder is cold path.
worker=$(ps -L -o tid=,ni=,comm= -p "$pid" | awk '$2 == 0 && $3 == "tokio-rt-worker" {print $1; exit}')
taskset -c 1 "$bin/loadtest" writes --url "$url" --token "$tok" --rate 10 --seconds $((secs + 6)) \
  --seed 1 >"$d/writes.txt" 2>"$d/writer.err" &
writer=$!
wait_listed "$d/writer.err"
taskset -c 1 "$bin/loadtest" run --url "$url/openrtb2/bid" --connections 32 --quiet \
  --seconds $((secs + 4)) --rate "$bps" >/dev/null &
bids=$!
sleep 2
perf sched record -C 0 -o "$d/perf.data" -- sleep "$secs" >/dev/null 2>&1
wait "$bids" "$writer"
echo "writes: $(cat "$d/writes.txt")"
perf script -i "$d/perf.data" -F time,event,trace 2>/dev/null | python3 -c '
import collections, re, sys
worker, secs = sys.argv[1], sys.argv[2]
switch = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
since = holder = None
total, times, worst = collections.Counter(), collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = switch.search(line)
    if not m:
        continue
    t = float(line.split(":")[0])
    _, prev, state, next_comm, nxt = m.groups()
    if prev == worker:
        # Switched out while still runnable: preempted.
        since, holder = (t, f"{next_comm}[{nxt}]") if state.startswith("R") else (None, None)
    elif nxt == worker and since is not None:
        ms = (t - since) * 1000
        total[holder] += ms
        times[holder] += 1
        worst[holder] = max(worst[holder], ms)
        since = None
print(f"bid thread {worker} preempted in {secs} s, by the task that held its core:")
for who, ms in total.most_common(10):
    print(f"  {who:32s} {times[who]:5d} times  {ms:8.2f} ms in all  longest {worst[who]:6.2f} ms")
print(f"  all: {sum(total.values()):.2f} ms")
' "$worker" "$secs"
