# Shell functions the loadtest scripts share; sourced, never run.
# They read `bin` (a folder holding bidder and loadtest builds).

# start_demo_bidder DIR PORT LABEL: starts `bidder --demo` on core 0 with
# its data in DIR, serving https creatives (so the generator's secure
# impressions are answered), and waits until it is ready. Sets `url`,
# `pid` and `tok` (an admin token labelled LABEL).
start_demo_bidder() {
  local dir=$1 port=$2 label=$3
  url=http://127.0.0.1:$port
  printf 'tcf_vendor_id = 1234\npublic_url = "https://bidder.example"\n' >"$dir/bidder.toml"
  tok=$("$bin/bidder" --data-dir "$dir" --config "$dir/bidder.toml" token create --role admin --label "$label")
  taskset -c 0 "$bin/bidder" --demo --data-dir "$dir" --config "$dir/bidder.toml" \
    --listen "127.0.0.1:$port" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
}

# wait_listed FILE: waits (at most 30 s) until `loadtest writes`, its
# standard error in FILE, has listed the campaigns it writes.
wait_listed() {
  for _ in $(seq 600); do grep -q '^listed' "$1" && break; sleep 0.05; done
}
