#!/usr/bin/env bash
# A few seconds of the load test's binaries against the bidder's binary
# (debug builds, as CI has them): a replayed folder and generated traffic,
# both closing the loop. Fails unless both runs got bids, no transport
# errors and no refused notices. CI runs it; locally: loadtest/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p bidder -p loadtest >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/debug
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$data"' EXIT
port=${SMOKE_PORT:-18123}
# As compare.sh: the generated GDPR traffic consents to vendor 1234, and
# its secure imps get bids only from a bidder whose public URL is https
# (notices are sent to the bidder's address whatever the URL's host).
printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' > "$data/bidder.toml"
"$bin/bidder" --demo --data-dir "$data" --config "$data/bidder.toml" --listen "127.0.0.1:$port" \
  >"$data/bidder.log" 2>&1 &
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port/openrtb2/bid"
"$bin/loadtest" run --url "$url" --dir testdata/requests --seconds 3 --connections 4 \
  --gzip-every 5 --notices 0.5 --quiet --json "$data/replay.json"
"$bin/loadtest" run --url "$url" --seconds 3 --connections 4 --pool 500 \
  --notices 0.5 --quiet --json "$data/generated.json"
python3 - "$data" <<'PY'
import json, os, sys
for name in ("replay", "generated"):
    r = json.load(open(os.path.join(sys.argv[1], name + ".json")))
    refused = {k: v for k, v in r["notices"]["statuses"].items() if not k.endswith((" 200", " 302"))}
    assert r["bids"] > 0, f"{name}: no bids"
    assert not r["errors"], f"{name}: errors {r['errors']}"
    assert not refused and not r["notices"]["errors"], f"{name}: notices {r['notices']}"
    assert r["late"] == 0, f"{name}: {r['late']} answers after tmax"
    print(f"smoke {name}: {r['answered']} answers, {r['bids']} bids, notices {r['notices']['statuses']}")
PY
