#!/usr/bin/env bash
# Server time and weight of every console page at CAMPAIGNS campaigns
# (default 10,000) and USERS audience members (default 1,000,000), on the
# release build: `loadtest seed` loads both through the API, an admin
# signs in, and each page is fetched RUNS times (default 5) over loopback;
# prints the median time (curl's time_total: the server's work plus a
# loopback round trip) and the size of each.
#
#   loadtest/console_pages.sh
#   CAMPAIGNS=1000 USERS=0 loadtest/console_pages.sh
#
# The bidder runs on core 0 and curl on core 1. BIDDER and LOADTEST name
# other builds.
set -euo pipefail
cd "$(dirname "$0")/.."
campaigns=${CAMPAIGNS:-10000}
users=${USERS:-1000000}
runs=${RUNS:-5}
bin=${CARGO_TARGET_DIR:-target}/release
if [ -z "${BIDDER:-}" ] || [ -z "${LOADTEST:-}" ]; then
  cargo build --release -p bidder -p loadtest >/dev/null 2>&1
fi
bidder=${BIDDER:-$bin/bidder}
loadtest=${LOADTEST:-$bin/loadtest}
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT
port=${PORT:-18083}
url="http://127.0.0.1:$port"

token=$("$bidder" --data-dir "$data" token create --role admin --label console_pages.sh)
taskset -c 0 "$bidder" --data-dir "$data" --listen "127.0.0.1:$port" >"$data/bidder.log" 2>&1 &
for _ in $(seq 100); do
  curl -sf "$url/readyz" >/dev/null && break
  sleep 0.1
done
echo "== seed: $campaigns campaigns, $users audience members"
taskset -c 1 "$loadtest" seed --url "$url" --token "$token" \
  --campaigns "$campaigns" --users "$users" 2>"$data/seed.log" >/dev/null
tail -2 "$data/seed.log"
sleep 2

jar="$data/cookies"
curl -sf -o /dev/null -c "$jar" --data-urlencode "token=$token" "$url/console/sign-in"
get() { taskset -c 1 curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$url$1"; }
campaign=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/campaigns?limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
# The gallery and audits pages of a campaign that assembles its creatives.
assembled=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/campaigns?limit=200" |
  python3 -c 'import json,sys; print(next(c["id"] for c in json.load(sys.stdin)["items"] if c.get("fragment_sets")))')
funnel=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/funnels" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("items", d); print(d[0]["id"])')
printf '%-44s %6s %10s %9s\n' page status median_ms bytes
for page in /console/campaigns "/console/campaigns?name=zzz" "/console/campaigns/$campaign" \
  "/console/campaigns/$campaign/edit" "/console/campaigns/$assembled/audits" \
  "/console/campaigns/$assembled/gallery" /console/campaigns/new /console/reports /console/explain \
  /console/fragments /console/funnels "/console/funnels/$funnel/upload" /console/tokens \
  /console/exchanges /console/live; do
  get "$page" >/dev/null # warm
  for _ in $(seq "$runs"); do get "$page"; done | sort -k2 -g |
    awk -v p="$page" -v n="$runs" 'NR == int((n + 1) / 2) {printf "%-44s %6s %10.1f %9d\n", p, $1, $2 * 1000, $3}'
done
# The explain page's answer: the typical request against every campaign.
csrf=$(curl -s -b "$jar" "$url/console/explain" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
post() {
  taskset -c 1 curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' \
    --data-urlencode "csrf=$csrf" --data-urlencode "request@testdata/typical/banner-audience-hit.json" \
    "$url/console/explain"
}
post >/dev/null
for _ in $(seq "$runs"); do post; done | sort -k2 -g |
  awk -v n="$runs" 'NR == int((n + 1) / 2) {printf "%-44s %6s %10.1f %9d\n", "POST /console/explain (typical request)", $1, $2 * 1000, $3}'
