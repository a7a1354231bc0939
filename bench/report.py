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

  report.py phases --server S --case C [--out FILE.json] < PERF_SCRIPT_TEXT
      Reads `perf script -F comm,tid,period,ip,sym,dso` output (with call
      chains) and sums each sample's period into a phase of the request's
      work (PHASE_RULES below); writes the sums, and the symbols that fell into
      "other", as JSON for `table --phases DIR`.

  report.py profiles RAW.tsv [--all]
      The "SERVER CASE MODE" triples run.sh should record with perf: the
      servers of every CPU-per-request target this run missed, and their
      references (nginx, receive); --all adds receive and e2e for every case.

Every figure in the table is a median over runs; a ratio is computed per run
from figures of that run (the machines are shared: absolute numbers move
with the load, ratios much less), then its median is shown.
"""
import argparse
import collections
import json
import os
import re
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
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
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
    w("")
    breakdowns(t, w, load_phases(args.phases), args.perf_note)
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
        after = t.get("flood", "sidecar", "rss_after_kb", 0)
        if after:
            dirty = (t.get("flood", "sidecar", "dirty_after_kb", 0) or 0) / MIB
            w(f"| flood: RSS once quiet after it (everything delivered; private dirty {fmt(dirty, 1)} "
              f"MiB) | | {fmt(after / MIB, 1)} MiB | (a figure) | - |")
        ratio = offered / cap if offered and cap else None
        w(f"| flood: offered load over capacity (answers/s incl. 503 over the saturated req/s) | | "
          f"{fmt(ratio, 1)}x | >= 10x | {verdict(ratio, 10)} |")


# ---- where the CPU goes: perf samples by phase ------------------------------------------------------
# The phases of a request's work, in the order the report shows them.
PHASES = [
    ("http", "socket read/write and HTTP parse"),
    ("inflate", "inflate (gzip, zstd bodies)"),
    ("decode", "protobuf decode + validate"),
    ("merge", "merge into the batch"),
    ("encode", "batch encode"),
    ("compress", "compression"),
    ("export", "export (libcurl, nghttp2, TLS, their sockets)"),
    ("handoff", "event loop, hand-offs and scheduling (libuv, futex, eventfd, condvar, epoll)"),
    ("memory", "malloc and page faults"),
    ("kernel", "other kernel"),
    ("other", "other"),
]
PHASE_LABEL = dict(PHASES)

# The one table of symbol/DSO -> phase. A sample's call chain is walked from
# the leaf (where the CPU was) to the root; the first frame that a rule
# matches decides, and within a frame the first matching rule (so a rule
# listed earlier wins: "inflate" before "compress" for ZSTD_decompress*).
# Innermost wins because the leaf is what costs: memcpy under on_body is
# HTTP, malloc under pc_proto_decode is "memory", a page fault under
# tcp_recvmsg is "memory". Frames no rule matches (memcpy, [unknown] inside
# libzstd, libuv's own) pass the sample on to their caller. A sample no rule
# claims is "other kernel" when its leaf is in the kernel, else "other"; the
# report lists the top "other" symbols so that this table can be kept up.
#
# Each rule: (phase, DSO regex or None, symbol regex or None), both matched
# in full against the DSO's file name and the symbol with GCC's clone
# suffixes (.lto_priv.0, .isra.0, .part.0, .constprop.0, .cold) and glibc's
# __GI_ prefix removed. Symbols are profcol's own (bench/README.md's
# "perf phases" says where to look when one moves), glibc's, libuv's,
# libdeflate's, libzstd's, nginx's (the baseline) and the kernel's.
_K = r"\[kernel\.kallsyms\]|\[kernel\.vmlinux\]"
_EXPORT_DSO = (r"lib(curl|nghttp2|ssl|crypto|gnutls|nettle|hogweed|gmp|brotli\w*|psl|idn2|ssh\w*|rtmp"
               r"|ldap\w*|lber\w*|sasl2|gssapi\w*|krb5\w*|k5crypto|unistring|tasn1|p11-kit)[-.\w]*\.so[.\d]*")
PHASE_RULES = [
    # memory: the allocator, mapping and page faults, wherever they are called from
    ("memory", None, r"(__libc_)?(malloc|calloc|realloc|free|cfree|memalign|posix_memalign|aligned_alloc)"
                     r"|_int_(malloc|free|realloc|memalign)|malloc_consolidate|sysmalloc|systrim|heap_trim"
                     r"|shrink_heap|grow_heap|new_heap|arena_get2|tcache_\w+|unlink_chunk|madvise|munmap"
                     r"|mmap(64)?|__mmap|brk|__brk|sbrk|__sbrk|pc_x(malloc|calloc|realloc)"),
    ("memory", _K, r"exc_page_fault|asm_exc_page_fault|do_user_addr_fault|(__)?handle_mm_fault"
                   r"|do_madvise|__x64_sys_(madvise|munmap|mmap|brk)|__vm_munmap|do_mmap|vm_mmap_pgoff"
                   r"|do_brk_flags|do_vmi_munmap|zap_\w+|unmap_\w+|tlb_finish_mmu"),
    # hand-offs between the loop and the pool, and the scheduler
    ("handoff", None, r"handed|seal_or_defer|pop_pending|batch_on_flushed|uv_(cond|mutex|sem|rwlock)_\w+|uv_async_send|uv__async_\w+|uv_queue_work|uv__work_\w+"
                      r"|uv__io_poll|epoll_wait|epoll_pwait|epoll_ctl|_*pthread_(cond|mutex)_\w+"
                      r"|__pthread_cond_wait_common|__pthread_mutex_\w+|_*lll_(lock|unlock)_\w+"
                      r"|lll_mutex_\w+|_*futex_\w+|eventfd_(read|write)|sched_yield|job_done|pc__rx_job_put"),
    ("handoff", _K, r"__x64_sys_futex|do_futex|_*futex_\w+|eventfd_\w+|__x64_sys_epoll_\w+|do_epoll_\w+"
                    r"|ep_\w+|(__)?schedule|schedule_hrtimeout_range\w*|finish_task_switch\w*|try_to_wake_up"
                    r"|wake_up_q|__wake_up\w*|pick_next_task\w*|(de|en)queue_task\w*|do_sched_yield"
                    r"|__switch_to\w*|context_switch"),
    # decompression of request bodies (before compress: ZSTD_decompress*)
    ("inflate", None, r"libdeflate_\w*decompress\w*|deflate_decompress\w*|inflate\w*|ZSTD_(decompress|decode"
                      r"|DCtx|DStream|getFrame|findFrame|initDStream|freeDCtx|createDCtx)\w*"
                      r"|HUF_(decompress|readDTable)\w*|FSE_(decompress|buildDTable)\w*|gunzip_sized"
                      r"|pc_decompress\w*|decompress_zstd|inflate_zlib|job_decompress"),
    ("compress", None, r"libdeflate_\w*compress\w*|deflate_\w+|deflate|ZSTD_\w+|HUF_\w+|FSE_\w+|HIST_\w+"
                       r"|compress_(deflate|zstd)|pc_compress\w*|pc_body_compress"),
    ("decode", None, r"pc_proto_decode|pc_traces_proto_decode|pc_pdata_validate|dec_\w+|i32_list|kv_list"
                     r"|count_varint_ends|count_fields|varint_slow|skip_field|check_(list|anyvalue|keyvalues"
                     r"|dictionary|valuetype|profile)|filter_profiles|note_reject|in_range|bad_index|where"
                     r"|job_work|job_on_work|job_decode|pc_request_\w+"),
    # the batch builder's encoding of samples as they merge is merge's work
    ("merge", None, r"pc_builder_(add\w*|reset|merge\w*)|merge_\w+|samples_encode|map_\w+|intern_\w+|hset_\w+"
                    r"|location_(eq|key|hash)|(stack|function|mapping|link|attr|string|resolved_kv"
                    r"|resolved_value|kvs_set|value)_eq(_mapped)?|value_copy_mapped|kvs_copy_mapped|key_\w+"
                    r"|list_eq_mapped|batch_consume_profiles|fanout_profiles|XXH\w+|resource_for|scope_for"
                    r"|first_attr"),
    ("encode", None, r"pc_builder_(body|encode\w*)|pc_proto_encode|pc__proto_encode_ex|enc_\w+"
                     r"|put_(varint|tag|bytes|fixed\d+\w*)|packed_\w+|opt_(i32|varint|bytes|fixed\d+|scope"
                     r"|resource)|rep_keyvalues|close_len|f_(varint|i32|len|bytes|packed)"
                     r"|(i32s_varint|kv|anyvalue|kvs|strs|resource|scope|valuetype|profile_header"
                     r"|values_varint|sample_payload|function|mapping|location|stack|link|attr)_size"
                     r"|flush_run|start_flush|pc__flush_\w+|pc__hand_on"),
    ("export", _EXPORT_DSO, None),
    ("export", None, r"curl_\w+|pc_curl_\w+|pc__send_\w+|send_consume_\w+|pc__call_\w+|pc__queue_\w+"
                     r"|call_on_done|slot_finish|push_bodies|pump|try_now|sock_on_poll|sock_on_close"
                     r"|check_done|timer_on_fire|wire_\w+|otlphttp_\w+|on_delivered|stage\w*|compress_later"
                     r"|queue_bodies|fanout_encoded"),
    # the request on the server's socket: profcol's httpd and receiver, nginx
    ("http", None, r"llhttp\w*|conn_\w+|on_(body|url|header_\w+|headers_complete|message_\w+|chunk_\w+)"
                   r"|pc_http_\w+|rx_\w+|answer_\w+|take_body|body_(reserve|take|free|buf_free|fits)"
                   r"|hval_\w+|hraw_\w+|pc__head_\w+|uv__read|uv__write\w*|uv_write2?|uv_try_write"
                   r"|uv__stream_io|parse_media_type|content_type_of|path_is|(__libc_)?(read|write|recv|send)"
                   r"|__writev|writev|getpeername|accept4?|ngx_\w+"),
    ("http", _K, r"tcp_\w+|__tcp_\w+|sock_\w+|__sock_\w+|sk_\w+|__sk_\w+|skb_\w+|__skb_\w+|kfree_skb\w*"
                 r"|__kfree_skb|inet_\w+|__inet_\w+|ip_\w+|__ip_\w+|ipv4_\w+|net_rx_action|__netif_\w+"
                 r"|netif_\w+|process_backlog|loopback_xmit|__dev_queue_xmit|dev_hard_start_xmit"
                 r"|__x64_sys_(read|write|writev|readv|recvfrom|sendto|recvmsg|sendmsg|getpeername|accept4?)"
                 r"|ksys_(read|write)|vfs_(read|write)|do_writev|__sys_\w+|__do_softirq|do_softirq"),
    # last, so that libuv's named functions above (uv_write2, uv_cond_wait)
    # decide first: libuv's own code with nothing of ours beneath it is the
    # event loop's machinery (timers, polling, queues)
    ("handoff", r"libuv\.so[.\d]*", None),
]
# A phase that owns the socket and kernel work done beneath it: the
# exporter's writes to its backend are the export's cost, not the request's.
PHASE_CLAIMS = {"export": {"http", "kernel", "handoff"}}

_PHASE_RULES = [(ph, re.compile(d) if d else None, re.compile(sy) if sy else None)
                for ph, d, sy in PHASE_RULES]
_SUFFIX = re.compile(r"(\.(lto_priv|isra|part|constprop|cold|localalias)(\.\d+)?)+$")
_HEAD = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*$")
_FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def norm_symbol(sym):
    sym = _SUFFIX.sub("", sym)
    if sym.startswith("__GI_"):
        sym = sym[5:]
    return sym


def frame_phase(sym, dso):
    """The phase of one frame by PHASE_RULES, or None."""
    for ph, d, sy in _PHASE_RULES:
        if d is not None and not d.fullmatch(dso):
            continue
        if sy is not None and not sy.fullmatch(sym):
            continue
        return ph
    return None


def is_kernel(dso):
    return dso.startswith("[kernel")


def classify(frames):
    """frames: [(symbol, dso basename)] leaf first -> (phase, leaf label)."""
    phase, at = None, len(frames)
    for i, (sym, dso) in enumerate(frames):
        phase = frame_phase(sym, dso)
        if phase:
            at = i
            break
    if phase is None:
        phase = "kernel" if frames and is_kernel(frames[0][1]) else "other"
    for owner, owned in PHASE_CLAIMS.items():
        if phase in owned and any(frame_phase(s, d) == owner for s, d in frames[at + 1:]):
            phase = owner
            break
    leaf = f"{frames[0][0]} ({frames[0][1]})" if frames else "[no frames]"
    return phase, leaf


def parse_perf_script(lines):
    """Yields (period, frames leaf first) from `perf script -F comm,tid,period,ip,sym,dso`."""
    period, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if period is not None:
                yield period, frames
            period, frames = None, []
            continue
        if not line[0].isspace():
            if period is not None:
                yield period, frames
            m = _HEAD.match(line)
            period, frames = (int(m.group(3)) if m else None), []
            continue
        m = _FRAME.match(line)
        if m and period is not None:
            sym, dso = m.group(1), m.group(2)
            if dso == "inlined" and frames:
                dso = frames[-1][1]  # perf names no DSO for an inlined frame: its caller's
            frames.append((norm_symbol(sym), os.path.basename(dso)))
    if period is not None:
        yield period, frames


def phase_sums(lines, top=8):
    """The period summed per phase, and the top leaves of "other" and "other kernel"."""
    sums = collections.Counter()
    unknown = {"other": collections.Counter(), "kernel": collections.Counter()}
    n = 0
    for period, frames in parse_perf_script(lines):
        phase, leaf = classify(frames)
        sums[phase] += period
        n += 1
        if phase in unknown:
            unknown[phase][leaf] += period
    return {"samples": n, "total": sum(sums.values()), "phases": dict(sums),
            "other_top": unknown["other"].most_common(top),
            "kernel_top": unknown["kernel"].most_common(top)}


def phases_cmd(args):
    out = phase_sums(sys.stdin)
    out.update(server=args.server, case=args.case)
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def load_phases(d):
    """{(server, case): phase_sums dict} from DIR/phases-SERVER-CASE.json."""
    got = {}
    if not d or not os.path.isdir(d):
        return got
    for name in sorted(os.listdir(d)):
        if name.startswith("phases-") and name.endswith(".json"):
            with open(os.path.join(d, name)) as f:
                p = json.load(f)
            got[(p["server"], p["case"])] = p
    return got


# What each CPU-per-request target compares with, for its breakdown:
# (kind, server, case, goal, reference). reference "floor": bench_floor's
# parts; "nginx" or "receive": that server's own profile, same run.
FLOOR_PARTS = {"inflate": "inflate_us", "decode": "decode_us", "merge": "merge_us"}
# A profile with fewer samples gets a word of caution: a share's standard
# error is sqrt(p (1 - p) / n), about 2 points at 500 samples.
MIN_SAMPLES = 500


def cpu_targets(t):
    out = []
    for c in ["dict", "samples"]:
        if c in t.cases():
            out.append(("receive path per CPU-second vs nginx", "receive", c,
                        t.per_run(lambda r: t.per_cpu_vs(c, "receive", "nginx", r)), 0.15, "nginx"))
    for c in t.cases():
        out.append(("CPU per request over the compute floor", "receive", c,
                    t.per_run(lambda r: t.x_floor(c, "receive", r)), 1.25, "floor"))
    for c in ["dict", "samples"]:
        if c in t.cases():
            out.append(("end to end per CPU-second vs nginx", "e2e", c,
                        t.per_run(lambda r: t.per_cpu_vs(c, "e2e", "nginx", r)), 0.1, "nginx"))
    for c in ["dict", "samples"]:
        if t.raw.get((c, "workers2", "rps")):
            out.append(("2 workers vs 1 per CPU-second", "workers2", c,
                        t.per_run(lambda r: t.per_cpu_vs(c, "workers2", "receive", r)), 0.9, "receive"))
    for c in ["dict", "samples"]:
        if c in t.cases() and t.get(c, "sidecar", "p99_ms") is not None:
            out.append(("sidecar p99 at half of its peak load", "sidecar", c,
                        t.get(c, "sidecar", "p99_ms"), 5, None))
    return out


def missed(v, goal, ref):
    if v is None:
        return False
    return v > goal if ref is None or ref == "floor" else v < goal


def profiles_cmd(args):
    """The (server, case, mode) run.sh records: missed targets and their references."""
    t = Table(load(args.raw))
    want = []
    for _, server, case, v, goal, ref in cpu_targets(t):
        if not (missed(v, goal, ref) or args.all):
            continue
        want.append((server, case, "half" if server == "sidecar" else "sat"))
        if ref in ("nginx", "receive"):
            want.append((ref, case, "sat"))
    if args.all:
        want += [(s, c, "sat") for c in t.cases() for s in ("receive", "e2e") if t.get(c, s, "rps")]
    seen = set()
    for w in want:
        if w not in seen:
            seen.add(w)
            print(*w)


def phase_us(t, prof, server, case):
    """{phase: us per request}: the profile's shares times the CPU per request of the
    measured (unprofiled) runs; for the sidecar at half load, the profiled run's own."""
    if prof["total"] <= 0:
        return {}, None
    if server == "sidecar":
        cpu = t.get(case, server, "perf_cpu_us")
    else:
        cpu = t.per_run(lambda r: t.cpu_per_req(case, server, r))
        cpu = cpu * 1e6 if cpu is not None else None
    if cpu is None:
        return {}, None
    return {k: cpu * prof["phases"].get(k, 0) / prof["total"] for k, _ in PHASES}, cpu


def breakdowns(t, w, profiles, perf_note):
    w("## Where the CPU goes, for each missed target (perf)")
    w("")
    todo = [x for x in cpu_targets(t) if missed(x[3], x[4], x[5])]
    if not todo:
        w("No CPU-per-request target was missed.")
        return
    if not profiles:
        w(f"No profile: {perf_note or 'perf was not run'}.")
        return
    w("Each missed target's server, recorded with `perf record -F 999 --call-graph dwarf` in a phase")
    w("of its own after the measured runs (so perf does not touch the figures above); every sample is")
    w("put into a phase by its call chain (bench/report.py, PHASE_RULES). share: of the server's CPU")
    w("while recorded; us/req: that share of the CPU per request measured above. The reference is what")
    w("the target compares with: bench_floor's parts (its decode includes validate), or nginx's (or the")
    w("one-worker receive's) CPU per request split by the same rules; excess = us/req - reference.")
    w("Start-up, memory and flood targets are not CPU per request and have no breakdown.")
    unknown = collections.Counter()
    for name, server, case, v, goal, ref in todo:
        w("")
        prof = profiles.get((server, case))
        hib = ref in ("nginx", "receive")
        unit = " ms" if ref is None else ""
        w(f"### {name}, {CASES[case]}: {fmt(v, 3 if hib else 2, unit)}, goal "
          f"{'>=' if hib else '<='} {goal}{unit} ({verdict(v, goal, hib)})")
        w("")
        if prof is None:
            w(f"No profile of {server} for this payload.")
            continue
        if prof["total"] <= 0:
            w(f"The profile of {server} holds no samples (did it get no CPU while recorded?).")
            continue
        us, cpu = phase_us(t, prof, server, case)
        if cpu is None:
            w(f"No CPU per request measured for {server}.")
            continue
        rough = "" if prof["samples"] >= MIN_SAMPLES else f"; under {MIN_SAMPLES}, the shares are rough"
        refus, reftotal, budget = {}, None, None
        if ref == "floor":
            refus = {k: t.get(case, "floor", part) for k, part in FLOOR_PARTS.items()}
            reftotal = t.get(case, "floor", "floor_us")
            budget = reftotal * goal if reftotal else None
            refname = "floor"
        elif ref in ("nginx", "receive"):
            rprof = profiles.get((ref, case))
            if rprof and rprof["total"] > 0:
                refus, reftotal = phase_us(t, rprof, ref, case)
            if reftotal is None:
                rc = t.per_run(lambda r: t.cpu_per_req(case, ref, r))
                reftotal = rc * 1e6 if rc is not None else None
                rough += f"; no profile of {ref}: its CPU is not split by phase"
            budget = reftotal / goal if reftotal else None
            refname = ref
        if ref is None:
            w(f"{server}: {fmt(cpu, 1)} us of CPU per request at half load ({prof['samples']} samples"
              f"{rough}); a p99 over the goal is requests waiting behind this work on the one CPU.")
        else:
            over = cpu - budget if budget is not None else None
            w(f"{server}: {fmt(cpu, 1)} us of CPU per request; {refname}: {fmt(reftotal, 1)} us; the "
              f"target allows {fmt(budget, 1)} us, so {fmt(over, 1)} us per request must go "
              f"({prof['samples']} samples{rough}).")
        w("")
        if ref is None:
            w("| phase | share | us/req |")
            w("| --- | ---: | ---: |")
        else:
            w(f"| phase | share | us/req | {refname} us/req | excess us/req | share of the excess |")
            w("| --- | ---: | ---: | ---: | ---: | ---: |")
        excess_total = cpu - reftotal if reftotal is not None and ref is not None else None
        shared_out = excess_total if excess_total and excess_total > 0 else None
        for k, label in PHASES:
            share = prof["phases"].get(k, 0) / prof["total"]
            r = refus.get(k) or 0.0
            if share == 0 and r == 0:
                continue
            row = [label, fmt(100 * share, 1, "%"), fmt(us[k], 1)]
            if ref is not None:
                ex = us[k] - r
                row += [fmt(r, 1), fmt(ex, 1),
                        fmt(100 * ex / shared_out, 0, "%") if shared_out else "-"]
            w("| " + " | ".join(row) + " |")
        if ref is not None:
            w(f"| total | 100% | {fmt(cpu, 1)} | {fmt(reftotal, 1)} | {fmt(excess_total, 1)} | "
              f"{'100%' if shared_out else '-'} |")
        for leaf, wt in prof.get("other_top", []):
            unknown[leaf] += wt / prof["total"]
    if unknown:
        w("")
        w("Leaf symbols that no rule of PHASE_RULES maps (\"other\"; summed shares over the breakdowns")
        w("above), to keep the table up:")
        w("")
        for leaf, share in unknown.most_common(8):
            w(f"- `{leaf}`: {fmt(100 * share, 1, '%')}")


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
    for k in ["date", "commit", "machine", "tools", "setup", "libs", "phases", "perf-note"]:
        tp.add_argument("--" + k, default="")
    tp.add_argument("--quick", action="store_true")
    sp = sub.add_parser("smaps")
    sp.add_argument("pid", type=int)
    pp = sub.add_parser("phases")
    pp.add_argument("--server", required=True)
    pp.add_argument("--case", required=True)
    pp.add_argument("--out", default="")
    rp = sub.add_parser("profiles")
    rp.add_argument("raw")
    rp.add_argument("--all", action="store_true")
    args = ap.parse_args()
    {"table": table, "smaps": smaps, "phases": phases_cmd, "profiles": profiles_cmd}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
