#!/usr/bin/env python3
"""report.py - the table of bench/run.sh, and a process's memory by mapping.

  report.py table RAW.tsv --date D --commit C --machine M --tools T --setup S
                          [--libs FILE] [--quick]
      RAW.tsv: lines "run<TAB>case<TAB>server<TAB>key<TAB>value" written by
      run.sh. Prints Markdown: the table (medians over runs; every ratio is
      taken within a run, then the median of those), the targets of issue 18
      with met/MISSED and by how much, the sidecar's memory by library.

  report.py smaps PID
      RSS, PSS and private dirty memory of PID by mapped file (shared
      libraries by name, the executable, the heap, anonymous memory), from
      /proc/PID/smaps, largest RSS first.

Every figure in the table is a median over runs; a ratio is computed per run
from figures of that run (the machines are shared: absolute numbers move
with the load, ratios much less), then its median is shown.
"""
import argparse
import collections
import os
import statistics
import sys

SERVERS = ["nginx", "receive", "e2e", "sidecar", "gateway", "workers2"]
CASES = {"dict": "200 KB dictionary-heavy", "dict-gzip": "200 KB dictionary-heavy, gzip",
         "samples": "200 KB samples-heavy", "samples-gzip": "200 KB samples-heavy, gzip"}
MIB = 1024.0

# The flood's slack over the memory_limiter's 64 MiB: see bench/README.md
# ("The flood"): what can arrive between two checks of check_interval (1 s)
# is bounded by max_buffered_bytes-independent request concurrency; 16 MiB
# is the documented allowance.
FLOOD_LIMIT_MIB = 64
FLOOD_SLACK_MIB = 16


def load(path):
    raw = collections.defaultdict(dict)  # (case, server, key) -> {run: value}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 5:
            continue
        run, case, server, key, value = parts
        try:
            v = float(value)
        except ValueError:
            continue
        raw[(case, server, key)][int(run)] = v
    return raw


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}{unit}".replace(",", " ")


class Table:
    def __init__(self, raw):
        self.raw = raw
        self.runs = sorted({r for d in raw.values() for r in d if r > 0})

    def get(self, case, server, key, run=None):
        d = self.raw.get((case, server, key))
        if not d:
            return None
        if run is None:
            return med(list(d.values()))
        return d.get(run)

    def per_run(self, fn):
        """Median over runs of fn(run) (None values skipped)."""
        return med([fn(r) for r in self.runs])

    def bytes(self, case):
        return self.get(case, "-", "bytes", 0)

    def cpu_per_req(self, case, server, run):
        rps, cpu = self.get(case, server, "rps", run), self.get(case, server, "cpu", run)
        if not rps or cpu is None:
            return None
        return cpu / rps

    def per_cpu_vs(self, case, server, base, run):
        """(requests per CPU-second of server) / (the same of base), one run."""
        a, b = self.cpu_per_req(case, server, run), self.cpu_per_req(case, base, run)
        if not a or not b:
            return None
        return b / a

    def x_floor(self, case, server, run):
        c = self.cpu_per_req(case, server, run)
        f = self.get(case, "floor", "floor_us", run)
        if not c or not f:
            return None
        return c / (f * 1e-6)

    def cpu_s_per_gb(self, case, server, run):
        c, n = self.cpu_per_req(case, server, run), self.bytes(case)
        if c is None or not n:
            return None
        return c / (n / 1e9)

    def cases(self):
        return [c for c in CASES if self.get(c, "-", "bytes", 0)]

    def servers(self):
        return [s for s in SERVERS if any(self.raw.get((c, s, "rps")) for c in CASES)]


def table(args):
    t = Table(load(args.raw))
    out = []
    w = out.append
    w("# profcol benchmark results (bench/run.sh)")
    w("")
    if args.quick:
        w("**A --quick smoke run: one short run per cell; do not quote these figures.**")
        w("")
    w(f"- date: {args.date}")
    w(f"- commit: {args.commit}")
    w(f"- machine: {args.machine}")
    w(f"- tools: {args.tools}")
    w(f"- setup: {args.setup}")
    w("")
    w("Medians over runs. req/s and MB/s: saturated (wrk, 10 connections; MB = 10^6 B of bodies as")
    w("sent). p50/p99: profcol at half of its peak rate (4 connections with a pause; the rate reached")
    w("is in the half-load column); nginx's at the sidecar's pace, right after it: what the machine")
    w("alone costs a request at that rate. CPU-s/GB: server CPU seconds (all threads and processes) per 10^9 bytes")
    w("as sent. Peak memory: VmHWM (RSS) and the largest PSS seen every 0.2 s while saturated.")
    w("/nginx: requests per CPU-second over nginx's for the same payload, in the same run.")
    w("x floor: CPU per request over bench_floor's inflate + decode + validate + merge, same run.")
    w("refused: share of saturated answers that were not 2xx (503 under overload); req/s counts 2xx")
    w("only and CPU per request charges the refusals' CPU to the requests taken.")
    w("")
    w("| payload | server | req/s | MB/s | p50 ms | p99 ms | CPU-s/GB | peak RSS MiB | peak PSS MiB "
      "| /nginx per CPU-s | x floor | half-load req/s | refused |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in t.cases():
        n = t.bytes(c)
        for s in t.servers():
            rps = t.get(c, s, "rps")
            if rps is None:
                continue
            row = [CASES[c] + f" ({int(n)} B)", s, fmt(rps, 0), fmt(rps * n / 1e6, 1),
                   fmt(t.get(c, s, "p50_ms"), 2), fmt(t.get(c, s, "p99_ms"), 2),
                   fmt(t.per_run(lambda r: t.cpu_s_per_gb(c, s, r)), 1),
                   fmt(t.get(c, s, "hwm_kb") and t.get(c, s, "hwm_kb") / MIB, 1),
                   fmt(t.get(c, s, "pss_peak_kb") and t.get(c, s, "pss_peak_kb") / MIB, 1),
                   "1" if s == "nginx" else fmt(t.per_run(lambda r: t.per_cpu_vs(c, s, "nginx", r)), 3),
                   "-" if s == "nginx" else fmt(t.per_run(lambda r: t.x_floor(c, s, r)), 2),
                   fmt(t.get(c, s, "half_rps"), 0),
                   fmt(t.get(c, s, "refused_share") and 100 * t.get(c, s, "refused_share"), 1, "%")]
            w("| " + " | ".join(row) + " |")
    w("")
    w("The compute floor (bench_floor, us of CPU per request; encode: the batch's flush per request,")
    w("which the floor leaves out):")
    w("")
    w("| payload | samples | inflate | decode + validate | merge | floor | encode |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in t.cases():
        w(f"| {CASES[c]} | {fmt(t.get(c, '-', 'samples', 0), 0)} | "
          + " | ".join(fmt(t.get(c, "floor", k), 1)
                       for k in ["inflate_us", "decode_us", "merge_us", "floor_us", "encode_us"]) + " |")
    w("")
    w("Start-up (exec to every listening socket accepting, median of 5) and idle memory (a second")
    w("after start; RSS and PSS summed over nginx's two processes):")
    w("")
    w("| server | start ms | CPU ms by then | idle RSS MiB | idle PSS MiB | idle private dirty MiB |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for s in SERVERS:
        if t.get("-", s, "startup_ms") is None:
            continue
        w(f"| {s} | {fmt(t.get('-', s, 'startup_ms'), 2)} | {fmt(t.get('-', s, 'startup_cpu_ms'), 2)} | "
          f"{fmt((t.get('-', s, 'idle_rss_kb') or 0) / MIB, 2)} | "
          f"{fmt((t.get('-', s, 'idle_pss_kb') or 0) / MIB, 2)} | "
          f"{fmt((t.get('-', s, 'idle_dirty_kb') or 0) / MIB, 2)} |")
    w("")
    targets(t, w)
    if args.libs and os.path.exists(args.libs):
        w("")
        w("The sidecar's idle memory by mapping (KiB; /proc/PID/smaps):")
        w("")
        w("```")
        w(open(args.libs).read().rstrip())
        w("```")
    print("\n".join(out))


def verdict(v, goal, higher_is_better=True):
    if v is None:
        return "not measured"
    ok = v >= goal if higher_is_better else v <= goal
    if ok:
        return "met"
    by = (goal / v if higher_is_better else v / goal) if v else float("inf")
    return f"MISSED by {by:.2f}x"


def targets(t, w):
    w("## Targets (issue 18)")
    w("")
    w("| target | payload | measured | goal | verdict |")
    w("| --- | --- | ---: | ---: | --- |")

    def row(name, case, v, goal, hib=True, unit="", digits=3):
        g = (">= " if hib else "<= ") + f"{goal}{unit}"
        w(f"| {name} | {CASES.get(case, case)} | {fmt(v, digits, unit)} | {g} | {verdict(v, goal, hib)} |")

    for c in ["dict", "samples"]:
        if c in t.cases():
            row("receive path per CPU-second vs nginx (otlp -> batch -> nop)", c,
                t.per_run(lambda r: t.per_cpu_vs(c, "receive", "nginx", r)), 0.15)
    for c in t.cases():
        row("CPU per request over the compute floor (receive)", c,
            t.per_run(lambda r: t.x_floor(c, "receive", r)), 1.25, hib=False, digits=2)
    for c in ["dict", "samples"]:
        if c in t.cases():
            row("end to end per CPU-second vs nginx (otlp -> batch -> otlp_http zstd)", c,
                t.per_run(lambda r: t.per_cpu_vs(c, "e2e", "nginx", r)), 0.1)
    for c in ["dict", "samples"]:
        if t.raw.get((c, "workers2", "rps")):
            row("2 workers vs 1 (receive), throughput per CPU-second", c,
                t.per_run(lambda r: t.per_cpu_vs(c, "workers2", "receive", r)), 0.9)
            for s in ["receive", "workers2"]:
                fx, cs = t.get(c, s, "futex_per_req"), t.get(c, s, "cswitch_per_req")
                if fx is not None:
                    w(f"| &nbsp;&nbsp;{s}: futex calls / context switches per request (perf) | "
                      f"{CASES[c]} | {fmt(fx, 3)} / {fmt(cs, 2)} | | |")
    dirty = t.get("-", "sidecar", "idle_dirty_kb")
    row("sidecar idle private dirty memory", "-", dirty and dirty / MIB, 2, hib=False, unit=" MiB", digits=2)
    rss = t.get("-", "sidecar", "idle_rss_kb")
    row("sidecar idle RSS", "-", rss and rss / MIB, 12, hib=False, unit=" MiB", digits=2)
    row("sidecar start to listening sockets", "-", t.get("-", "sidecar", "startup_ms"), 20,
        hib=False, unit=" ms", digits=2)
    row("  the same, CPU time used by then (what the start costs, load aside)", "-",
        t.get("-", "sidecar", "startup_cpu_ms"), 20, hib=False, unit=" ms", digits=2)
    for c in ["dict", "samples"]:
        if c in t.cases():
            row("sidecar p99 at half of its peak load", c, t.get(c, "sidecar", "p99_ms"), 5,
                hib=False, unit=" ms", digits=2)
            row("  nginx's p99 at the same pace, same run (the machine's share)", c,
                t.get(c, "nginx", "p99_ms"), 5, hib=False, unit=" ms", digits=2)
    up = t.get("flood", "sidecar", "up", 0)
    if up is not None:
        rss_max = (t.get("flood", "sidecar", "rss_max_kb", 0) or 0) / MIB
        cap = t.get("dict", "sidecar", "rps")
        offered = t.get("flood", "sidecar", "answered_rps", 0)
        acked = t.get("flood", "sidecar", "acknowledged_samples", 0)
        got = t.get("flood", "sidecar", "delivered_samples", 0)
        secs = t.get("flood", "sidecar", "seconds", 0)
        w(f"| flood ({fmt(secs, 0)} s): RSS stays under 64 MiB + {FLOOD_SLACK_MIB} MiB slack | 200 KB "
          f"dictionary-heavy | {fmt(rss_max, 1)} MiB | <= {FLOOD_LIMIT_MIB + FLOOD_SLACK_MIB} MiB | "
          f"{verdict(rss_max, FLOOD_LIMIT_MIB + FLOOD_SLACK_MIB, False)} |")
        w(f"| flood: the process stays up | | {'up' if up else 'DOWN'} | up | "
          f"{'met' if up else 'MISSED'} |")
        w(f"| flood: everything acknowledged delivered (samples) | | {fmt(got, 0)} of {fmt(acked, 0)} "
          f"| all | {'met' if acked and got == acked else 'MISSED'} |")
        ratio = offered / cap if offered and cap else None
        w(f"| flood: offered load over capacity (answers/s incl. 503 over the saturated req/s) | | "
          f"{fmt(ratio, 1)}x | >= 10x | {verdict(ratio, 10)} |")


def smaps(args):
    by = collections.OrderedDict()
    cur = None
    with open(f"/proc/{args.pid}/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5] if len(head) >= 6 else "[anonymous]"
                if name.startswith("/"):
                    name = os.path.basename(name)
                cur = by.setdefault(name, collections.Counter())
            elif cur is not None and head[0] in ("Rss:", "Pss:", "Private_Dirty:",
                                                  "Private_Clean:", "Shared_Clean:"):
                cur[head[0][:-1]] += int(head[1])
    rows = sorted(by.items(), key=lambda kv: -kv[1]["Rss"])
    total = collections.Counter()
    for _, c in rows:
        total.update(c)
    print(f"{'mapping':32} {'RSS':>7} {'PSS':>7} {'priv dirty':>10} {'priv clean':>10} {'shared':>7}")
    for name, c in rows:
        if c["Rss"] == 0:
            continue
        print(f"{name[:32]:32} {c['Rss']:7d} {c['Pss']:7d} {c['Private_Dirty']:10d} "
              f"{c['Private_Clean']:10d} {c['Shared_Clean']:7d}")
    print(f"{'total':32} {total['Rss']:7d} {total['Pss']:7d} {total['Private_Dirty']:10d} "
          f"{total['Private_Clean']:10d} {total['Shared_Clean']:7d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tp = sub.add_parser("table")
    tp.add_argument("raw")
    for k in ["date", "commit", "machine", "tools", "setup", "libs"]:
        tp.add_argument("--" + k, default="")
    tp.add_argument("--quick", action="store_true")
    sp = sub.add_parser("smaps")
    sp.add_argument("pid", type=int)
    args = ap.parse_args()
    {"table": table, "smaps": smaps}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
