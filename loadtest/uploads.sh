#!/usr/bin/env bash
# Audience uploads as the members table grows: UPLOADS uploads of ROWS new
# users each into one funnel that starts empty, and the rows/s of each.
#
#   loadtest/uploads.sh                  # 5 uploads of 2,000,000 rows
#   UPLOADS=3 ROWS=500000 loadtest/uploads.sh
#
# Starts `bidder --demo` on a fresh data directory on core 0, creates an
# empty funnel, and posts each gzipped CSV (`user_id,<unique id>,<stage>`,
# made once into $CSV_DIR, default /tmp/uploads-csv) with curl from core 1
# to `POST /api/v1/funnels/{id}/uploads`. Prints, per upload, the rows the
# job accepted, the wall time, rows/s, the bidder's CPU time (so the rest
# of the wall time is time off the CPU: waiting for the disk) and the bytes
# the bidder wrote to disk per row (/proc/PID/io write_bytes), and at the
# end each upload's
# rows/s against the first's, and the store's file sizes. Then it restarts
# the bidder on the same data and prints how long the audience table took
# to load from the store, and the RSS after. BIDDER=path runs another
# build of the bidder.
set -euo pipefail
cd "$(dirname "$0")/.."
uploads=${UPLOADS:-5}
rows=${ROWS:-2000000}
csv_dir=${CSV_DIR:-/tmp/uploads-csv}
bin=${CARGO_TARGET_DIR:-target}/release
if [ -z "${BIDDER:-}" ]; then
  cargo build --release -p bidder >/dev/null 2>&1
fi
bidder=${BIDDER:-$bin/bidder}
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT

mkdir -p "$csv_dir"
for n in $(seq "$uploads"); do
  file="$csv_dir/upload-$n-of-$rows.csv.gz"
  [ -s "$file" ] && continue
  awk -v n="$n" -v rows="$rows" 'BEGIN {
    print "key_type,id,stage"
    for (i = 0; i < rows; i++) printf "user_id,up%d-%d,%d\n", n, i, 1 + i % 5
  }' | gzip -1 > "$file.tmp"
  mv "$file.tmp" "$file"
done

token=$("$bidder" --data-dir "$data" token create --role admin --label uploads.sh)
taskset -c 0 "$bidder" --demo --data-dir "$data" --listen 127.0.0.1:18081 >"$data/bidder.log" 2>&1 &
bidder_pid=$!
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18081/readyz >/dev/null && break
  sleep 0.1
done
api=http://127.0.0.1:18081/api/v1
funnel=$(curl -sf -X POST "$api/funnels" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"advertiser_id": 1, "name": "uploads.sh"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

echo "== $uploads uploads of $rows rows into funnel $funnel (bidder on core 0, curl on core 1)"
first=""
rates=()
for n in $(seq "$uploads"); do
  file="$csv_dir/upload-$n-of-$rows.csv.gz"
  written=$(awk '/^write_bytes/ {print $2}' "/proc/$bidder_pid/io")
  ticks=$(awk '{print $14 + $15}' "/proc/$bidder_pid/stat")
  start=$(date +%s.%N)
  job=$(taskset -c 1 curl -sf -X POST "$api/funnels/$funnel/uploads?mode=add&format=csv" \
    -H "authorization: Bearer $token" -H 'content-type: text/csv' --data-binary "@$file")
  end=$(date +%s.%N)
  written=$(($(awk '/^write_bytes/ {print $2}' "/proc/$bidder_pid/io") - written))
  ticks=$(($(awk '{print $14 + $15}' "/proc/$bidder_pid/stat") - ticks))
  accepted=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["rows_accepted"])' "$job")
  rate=$(python3 -c "print(round($accepted / ($end - $start)))")
  rates+=("$rate")
  first=${first:-$rate}
  printf 'upload %d: %d rows in %.1f s (%.1f s on the CPU): %d rows/s (%.2fx the first), %d bytes written/row\n' \
    "$n" "$accepted" "$(python3 -c "print($end - $start)")" \
    "$(python3 -c "print($ticks / $(getconf CLK_TCK))")" "$rate" \
    "$(python3 -c "print($rate / $first)")" "$((written / accepted))"
done
echo "rows/s: ${rates[*]}"
echo "bidder RSS: $(ps -o rss= -p "$bidder_pid") KiB, peak $(awk '/^VmHWM/ {print $2}' "/proc/$bidder_pid/status") KiB"
ls -l "$data"/bidder.db* | awk '{printf "%s %d MiB\n", $NF, $5 / 1048576}'

kill -TERM "$bidder_pid"
wait "$bidder_pid" || true
taskset -c 0 "$bidder" --demo --data-dir "$data" --listen 127.0.0.1:18081 >"$data/restart.log" 2>&1 &
bidder_pid=$!
for _ in $(seq 1200); do
  curl -sf http://127.0.0.1:18081/readyz >/dev/null && break
  sleep 0.1
done
loaded=$(grep -o 'users=[0-9]*.*millis=[0-9]*' "$data/restart.log" | head -1)
echo "restart: audience table loaded ($loaded), bidder RSS $(ps -o rss= -p "$bidder_pid") KiB"
