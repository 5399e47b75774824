#!/usr/bin/env bash
# The control plane at CAMPAIGNS campaigns (default 10,000), on the release
# build: how long `loadtest seed` takes to create them with their creatives
# through `POST /api/v1/campaigns:batch`, then the bidder's resident memory
# during a burst of WRITES campaign updates (default 100; CLIENTS clients
# at once, default 4, each a GET for the version then a PUT of a new CPM)
# against its quiet resident memory.
#
#   loadtest/control_plane.sh
#   CAMPAIGNS=1000 WRITES=50 CLIENTS=1 loadtest/control_plane.sh
#
# The bidder runs on core 0 and the clients on core 1. Quiet RSS is read
# after the seed has settled; the burst's peak is the kernel's high-water
# mark (VmHWM), reset just before the burst (`clear_refs`). BIDDER and
# LOADTEST name other builds.
set -euo pipefail
cd "$(dirname "$0")/.."
campaigns=${CAMPAIGNS:-10000}
writes=${WRITES:-100}
clients=${CLIENTS:-4}
bin=${CARGO_TARGET_DIR:-target}/release
if [ -z "${BIDDER:-}" ] || [ -z "${LOADTEST:-}" ]; then
  cargo build --release -p bidder -p loadtest >/dev/null 2>&1
fi
bidder=${BIDDER:-$bin/bidder}
loadtest=${LOADTEST:-$bin/loadtest}
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT
port=${PORT:-18082}

token=$("$bidder" --data-dir "$data" token create --role admin --label control_plane.sh)
taskset -c 0 "$bidder" --data-dir "$data" --listen "127.0.0.1:$port" >"$data/bidder.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done

echo "== seed: $campaigns campaigns with creatives through campaigns:batch (bidder on core 0)"
start=$(date +%s.%N)
taskset -c 1 "$loadtest" seed --url "http://127.0.0.1:$port" --token "$token" \
  --campaigns "$campaigns" --users 0 2>"$data/seed.log" >/dev/null
end=$(date +%s.%N)
before=$(grep -m1 -o 'fragments ([0-9.]* s)' "$data/seed.log" | grep -o '[0-9.]* s' | tr -d ' s')
after=$(grep 'campaigns, ' "$data/seed.log" | tail -1 | grep -o '([0-9.]* s)' | tr -d '( s)')
grep 'campaigns, ' "$data/seed.log" | tail -1
python3 -c "print(f'seed: {$end - $start:.1f} s in all; campaigns and creatives {$after - $before:.1f} s (advertisers, funnels and fragments before them {$before:.1f} s)')"

sleep 2
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
quiet=$(kib VmRSS)
echo 5 >"/proc/$pid/clear_refs"
echo "== burst: $writes campaign updates from $clients clients at once"
taskset -c 1 python3 - "$port" "$token" "$writes" "$clients" <<'PY'
import http.client, json, statistics, sys, threading, time
port, token, writes, clients = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
conn = http.client.HTTPConnection("127.0.0.1", port)
conn.request("GET", "/api/v1/campaigns?limit=500", headers=auth)
ids = [c["id"] for c in json.loads(conn.getresponse().read())["items"]]
took = []
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for n in range(k, writes, clients):
        cid = ids[n % len(ids)]
        c.request("GET", f"/api/v1/campaigns/{cid}", headers=auth)
        body = json.loads(c.getresponse().read())
        body["base_cpm_micros"] = min(body["base_cpm_micros"] + 10_000, body["max_cpm_micros"])
        for field in ("id", "created_at", "updated_at"):
            body.pop(field)
        t = time.monotonic()
        c.request("PUT", f"/api/v1/campaigns/{cid}", body=json.dumps(body), headers=auth)
        r = c.getresponse()
        answer = r.read()
        assert r.status == 200, (r.status, answer)
        took.append(time.monotonic() - t)
started = time.monotonic()
threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
if len(took) != writes:
    sys.exit(f"only {len(took)} of {writes} PUTs answered 200")
print(f"{len(took)} PUTs in {time.monotonic() - started:.2f} s, median {statistics.median(took) * 1000:.2f} ms")
PY
peak=$(kib VmHWM)
after_burst=$(kib VmRSS)
python3 -c "print(f'RSS quiet {$quiet // 1024} MiB, burst peak {$peak // 1024} MiB ({$peak / $quiet:.2f}x quiet), after {$after_burst // 1024} MiB')"
