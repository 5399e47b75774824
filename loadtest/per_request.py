#!/usr/bin/env python3
"""Where a server's core goes, per request: microseconds by kind of work.

    per_request.py NAME=PERF_DATA:REPORT_JSON [NAME=...]

Each PERF_DATA is a `perf record -C <server core>` taken during the run
whose `loadtest run --json` report is REPORT_JSON. Every sample on that
core is put in one category by the symbol it landed in (the first rule
that matches, in the order below), and each category's share of the
samples is turned into microseconds per request with the run's
throughput (a saturated core: its time per request is 1 / throughput).

The rules are name patterns, good enough to compare two servers on the
same stack (the ceiling and the bidder, compare.sh PROFILE=1); they are
not a substitute for reading `perf report`.
"""
import json
import re
import subprocess
import sys

RULES = [
    ("idle", r"\[k\] (cpuidle|default_idle|pv_native_safe_halt|acpi_idle)"),
    ("kernel", r"\[k\] "),
    ("HTTP (hyper, http, httparse)", r"hyper|http::|httparse|http_body"),
    ("runtime (tokio, mio)", r"tokio|mio::"),
    ("parse (simd-json, tape walk)", r"simd_json|openrtb::parse|openrtb::tape|FromTape|walk_into|native_request"),
    ("write (answer JSON, escaping)", r"openrtb::write|write_str|escape::"),
    ("decide (targeting, budget, caps)", r"bidder::decision|bidder::budget|bidder::frequency|targeting|pacing"),
    ("creative", r"creative::"),
    ("audiences, consent", r"audiences::"),
    ("allocator", r"\bmi_|_mi_|malloc|\bfree\b|RawVec|finish_grow|alloc::alloc"),
    ("memcpy, memset", r"memmove|memcpy|memset"),
    ("gzip", r"zlib|inflate|deflate|adler|crc32"),
    ("notice token (HMAC)", r"sha2|Signer|hmac|digest"),
    ("clock reads", r"clock_gettime|vdso|Timespec|Instant|SystemTime"),
    ("channels", r"mpmc|mpsc"),
    ("hashing", r"sip::|Hasher|hash"),
    ("fmt", r"fmt::"),
    ("the server's other code", r"^(bidder|loadtest) "),
]


def categories(data):
    out = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
        capture_output=True, text=True, check=True,
    ).stdout
    shares = {}
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\[[.k]\] .*)", line)
        if not m:
            continue
        pct, dso, sym = float(m[1]), m[2], m[3]
        text = f"{dso} {sym}"
        name = next((n for n, p in RULES if re.search(p, text)), "other")
        shares[name] = shares.get(name, 0.0) + pct
    return shares


def main(args):
    runs = []
    for arg in args:
        name, rest = arg.split("=", 1)
        data, report = rest.split(":", 1)
        rps = json.load(open(report))["per_second"]
        runs.append((name, rps, categories(data)))
    names = [n for n, _ in RULES] + ["other"]
    head = " | ".join(f"{n} us/req" for n, _, _ in runs)
    print(f"| work | {head} |")
    print("|---" * (len(runs) + 1) + "|")
    for cat in names:
        cells = [s.get(cat, 0.0) / 100 * 1e6 / rps for _, rps, s in runs]
        if max(cells) >= 0.005:
            print(f"| {cat} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    totals = [1e6 / rps for _, rps, _ in runs]
    print("| **all (1 / throughput)** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
