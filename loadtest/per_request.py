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

When the data has call stacks (`perf record --call-graph dwarf`), a
second table puts each sample in the step of the bid path it was taken
in, by the frames on its stack rather than the one it landed in: the
handler's steps (inflate, parse, consent and audience, decide, the notice
token, the answer), and outside the handler the kernel's receive, send
and the rest, HTTP, the runtime. That is the table to read against the
ceiling: everything in the handler is the bidder's own work, and the
rest is what both servers pay, or should.
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


# Inside the handler: the first step any frame of the sample matches. The
# parsing ceiling's one step (`ceiling --parse`) counts as its handler.
HANDLER = r"bid_endpoint::respond|^respond \(inlined\)|ceiling::parses|^parses \(inlined\)"
STEPS = [
    ("handler: inflate (gzip)", r"Gunzipper::gunzip|^gunzip \(inlined\)"),
    ("handler: parse", r"Parser::parse_into|^parse_into \(inlined\)"),
    ("handler: consent, audience", r"UserView::resolve|^resolve \(inlined\)|consent::personalization|audiences::"),
    ("handler: notice token (HMAC)", r"Signer::sign"),
    ("handler: decide, creative", r"decision::decide|^decide \(inlined\)"),
    ("handler: answer JSON", r"openrtb::write|^write_into \(inlined\)|bid_endpoint::json|^json \(inlined\)"),
    ("handler: the rest", r""),
]
# Outside it: kernel by system call (any frame), user space by the leaf.
KERNEL = [
    ("kernel: receive", r"sys_recv|sys_read\b|tcp_recvmsg"),
    ("kernel: send", r"sys_writev|sys_sendmsg|sys_write\b|tcp_sendmsg"),
    ("kernel: epoll", r"epoll"),
    ("kernel: the rest", r""),
]
USER = [
    ("HTTP (hyper, http, httparse)", r"hyper|http::|httparse|http_body"),
    ("runtime (tokio, mio)", r"tokio|mio::"),
    ("user space: the rest", r""),
]


def stacks(data):
    """(leaf ip, [frame names]) per sample, or None without call stacks."""
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "ip,sym"],
        capture_output=True, text=True, check=True,
    ).stdout
    samples = []
    for block in out.split("\n\n"):
        frames = [line.strip().split(" ", 1) for line in block.strip().splitlines()]
        frames = [(f[0], f[1] if len(f) > 1 else "") for f in frames if f and f[0]]
        if frames:
            samples.append((frames[0][0], [name for _, name in frames]))
    if not samples or all(len(names) < 2 for _, names in samples):
        return None
    return samples


def step(ip, names):
    def first(rules):
        return next(n for n, p in rules if any(re.search(p, f) for f in names))
    if any(re.search(HANDLER, f) for f in names):
        return first(STEPS)
    if re.search(r"cpuidle|default_idle|pv_native_safe_halt|acpi_idle", names[0]):
        return "idle"
    if ip.startswith("ffff"):
        return first(KERNEL)
    return next(n for n, p in USER if re.search(p, names[0]))


def steps(data):
    samples = stacks(data)
    if samples is None:
        return None
    shares = {}
    for ip, names in samples:
        name = step(ip, names)
        shares[name] = shares.get(name, 0.0) + 100.0 / len(samples)
    return shares


def table(runs, names):
    head = " | ".join(f"{n} us/req" for n, _, _ in runs)
    print(f"| work | {head} |")
    print("|---" * (len(runs) + 1) + "|")
    for cat in names:
        cells = [s.get(cat, 0.0) / 100 * 1e6 / rps for _, rps, s in runs]
        if max(cells) >= 0.005:
            print(f"| {cat} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    totals = [1e6 / rps for _, rps, _ in runs]
    print("| **all (1 / throughput)** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")


def main(args):
    runs = []
    for arg in args:
        name, rest = arg.split("=", 1)
        data, report = rest.split(":", 1)
        rps = json.load(open(report))["per_second"]
        runs.append((name, rps, data))
    table([(n, rps, categories(d)) for n, rps, d in runs], [n for n, _ in RULES] + ["other"])
    by_step = [(n, rps, steps(d)) for n, rps, d in runs]
    if all(s is not None for _, _, s in by_step):
        print()
        order = ["idle"] + [n for n, _ in STEPS] + [n for n, _ in KERNEL] + [n for n, _ in USER]
        table(by_step, order)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
