#!/usr/bin/env python3
"""test_report.py - bench/report.py's attribution of CPU to the phases of a
request, which RESULTS.md's "where the CPU goes" for each missed target rests
on: PHASE_RULES on call chains of `perf script` text written here (the
innermost frame a rule matches decides, the export claims the socket work
beneath it, unknown leaves land in "other" and are listed), the sums per
phase, their us per request against bench_floor's parts and nginx's, and
which servers run.sh is told to profile.

  test_report.py PATH/TO/bench/report.py
"""
import importlib.util
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from types import SimpleNamespace

spec = importlib.util.spec_from_file_location("report", sys.argv.pop(1))
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

BIN = "/build/service/profcol"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
K = "[kernel.kallsyms]"


def sample(period, *frames, comm="profcol", tid=2377):
    """perf script's text of one sample: a header, then frames leaf first."""
    lines = [f"{comm}  {tid} {period:>10} "]
    for i, (sym, dso) in enumerate(frames):
        lines.append(f"\t{0x5000 + i:16x} {sym} ({dso})")
    return "\n".join(lines) + "\n\n"


# Each sample's period names its expected phase in the sums below.
FIXTURE = "".join([
    # memcpy has no rule: its caller (a GCC clone) decides
    sample(1000, ("__memcpy_avx512_unaligned_erms", "inlined"), ("dec_profile.lto_priv.0", BIN),
           ("pc_proto_decode.part.0", BIN), ("job_work", BIN), ("start_thread", LIBC)),
    # malloc under decode is memory, not decode (innermost wins)
    sample(200, ("_int_malloc", LIBC), ("__GI___libc_malloc", "inlined"), ("pc_arena_alloc", BIN),
           ("dec_profile", BIN), ("pc_proto_decode", BIN)),
    # the kernel's copy of a request body
    sample(300, ("_copy_to_iter", K), ("__skb_datagram_iter", K), ("tcp_recvmsg", K),
           ("sock_read_iter", K), ("ksys_read", K), ("__GI___libc_read", "inlined"),
           ("[unknown]", "/usr/lib/x86_64-linux-gnu/libuv.so.1.0.0")),
    # a page fault inside that copy is memory
    sample(40, ("clear_page_erms", K), ("do_anonymous_page", K), ("handle_mm_fault", K),
           ("exc_page_fault", K), ("_copy_to_iter", K), ("tcp_recvmsg", K)),
    # the exporter's socket write is the export's (PHASE_CLAIMS)
    sample(60, ("tcp_sendmsg", K), ("sock_write_iter", K), ("__libc_send", "inlined"),
           ("[unknown]", "/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0"), ("sock_on_poll", BIN)),
    # libzstd's internals carry no symbol: the exported entry point decides
    sample(500, ("[unknown]", "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4"),
           ("ZSTD_compressEnd", "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4"),
           ("pc_body_compress", BIN), ("flush_run", BIN)),
    # ZSTD_decompress* is inflate, though ZSTD_\w+ would also be compress
    sample(7, ("[unknown]", "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4"),
           ("ZSTD_decompressDCtx", "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4"),
           ("pc_decompress", BIN), ("job_work", BIN)),
    # the builder encodes samples as they merge: merge, not encode
    sample(3000, ("samples_encode", BIN), ("merge_guarded.lto_priv.0", BIN),
           ("pc_builder_add_range", BIN), ("batch_consume_profiles", BIN)),
    sample(90, ("enc_dictionary", BIN), ("pc__proto_encode_ex", BIN), ("pc_builder_body", BIN)),
    # a futex wait deep in the kernel
    sample(80, ("finish_task_switch.isra.0", K), ("__schedule", K), ("futex_wait_queue", K),
           ("__futex_wait", K), ("do_futex", K), ("__x64_sys_futex", K),
           ("__futex_abstimed_wait_common", LIBC), ("uv_cond_wait", "/usr/lib/libuv.so.1")),
    # nothing known: a user leaf is "other" and listed, a kernel one "other kernel"
    sample(11, ("mystery_fn.cold", BIN), ("[unknown]", "[unknown]")),
    sample(5, ("strange_kernel_fn", K), ("entry_SYSCALL_64", K)),
    sample(2, ("llhttp__internal__run", BIN), ("llhttp_execute", BIN), ("conn_feed", BIN)),
    # libuv's own code is the loop's machinery, but a named libuv function
    # with a rule of its own decides first
    sample(13, ("[unknown]", "/usr/lib/x86_64-linux-gnu/libuv.so.1.0.0"),
           ("uv_run", "/usr/lib/x86_64-linux-gnu/libuv.so.1.0.0"), ("pc_cmd_run", BIN)),
    sample(3, ("uv_write2", "/usr/lib/x86_64-linux-gnu/libuv.so.1.0.0"), ("conn_send", BIN)),
])

EXPECTED = {"decode": 1000, "memory": 240, "http": 305, "export": 60, "compress": 500,
            "inflate": 7, "merge": 3000, "encode": 90, "handoff": 93, "other": 11, "kernel": 5}


class Attribution(unittest.TestCase):
    def test_every_sample_lands_in_its_phase(self):
        got = report.phase_sums(io.StringIO(FIXTURE))
        self.assertEqual(got["samples"], 15)
        self.assertEqual(got["phases"], EXPECTED)
        self.assertEqual(got["total"], sum(EXPECTED.values()))

    def test_unknown_leaves_are_listed(self):
        got = report.phase_sums(io.StringIO(FIXTURE))
        self.assertEqual(got["other_top"], [("mystery_fn (profcol)", 11)])
        self.assertEqual(got["kernel_top"], [("strange_kernel_fn ([kernel.kallsyms])", 5)])

    def test_every_rule_names_a_phase(self):
        for phase, _, _ in report.PHASE_RULES:
            self.assertIn(phase, report.PHASE_LABEL)


def raw_line(run, case, server, key, value):
    return f"{run}\t{case}\t{server}\t{key}\t{value}\n"


class Breakdown(unittest.TestCase):
    """The section RESULTS.md gets, from raw figures and phase sums."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.raw = os.path.join(d, "raw.tsv")
        with open(self.raw, "w") as f:
            f.write(raw_line(0, "dict", "-", "bytes", 200000))
            # receive: 0.5 CPU at 1000 req/s = 500 us; nginx: 0.1 CPU at 2000 = 50 us
            f.write(raw_line(1, "dict", "receive", "rps", 1000))
            f.write(raw_line(1, "dict", "receive", "cpu", 0.5))
            f.write(raw_line(1, "dict", "nginx", "rps", 2000))
            f.write(raw_line(1, "dict", "nginx", "cpu", 0.1))
            # the floor: 300 us, of which decode 120, merge 180; receive is 1.67x
            for k, v in [("inflate_us", 0), ("decode_us", 120), ("merge_us", 180),
                         ("floor_us", 300), ("encode_us", 20)]:
                f.write(raw_line(1, "dict", "floor", k, v))
        self.phases = os.path.join(d, "phases")
        os.mkdir(self.phases)
        self.write_phases("receive", {"decode": 40, "merge": 40, "http": 10, "other": 10},
                          [["mystery_fn (profcol)", 10]])
        self.write_phases("nginx", {"http": 80, "kernel": 20}, [])

    def tearDown(self):
        self.dir.cleanup()

    def write_phases(self, server, phases, other):
        with open(os.path.join(self.phases, f"phases-{server}-dict.json"), "w") as f:
            json.dump({"server": server, "case": "dict", "samples": 100, "total": 100,
                       "phases": phases, "other_top": other, "kernel_top": []}, f)

    def section(self, phases=None):
        args = SimpleNamespace(raw=self.raw, date="d", commit="c", machine="m", tools="t",
                               setup="s", libs="", quick=False, perf_note="",
                               phases=self.phases if phases is None else phases)
        out = io.StringIO()
        with redirect_stdout(out):
            report.table(args)
        text = out.getvalue()
        return text[text.index("## Where the CPU goes"):]

    def test_the_excess_over_the_floor_by_phase(self):
        s = self.section()
        head = s[s.index("### CPU per request over the compute floor"):]
        head = head[:head.index("\n### ") if "\n### " in head else len(head)]
        self.assertIn("1.67, goal <= 1.25 (MISSED by 1.33x)", head)
        # allowed 1.25 x 300 = 375 us, so 125 us must go
        self.assertIn("receive: 500.0 us of CPU per request; floor: 300.0 us; the target allows "
                      "375.0 us, so 125.0 us per request must go", head)
        # excess over the floor: 200 us; decode 200 - 120 = 80 (40 %), merge 200 - 180 = 20
        self.assertIn("| protobuf decode + validate | 40.0% | 200.0 | 120.0 | 80.0 | 40% |", head)
        self.assertIn("| merge into the batch | 40.0% | 200.0 | 180.0 | 20.0 | 10% |", head)
        self.assertIn("| socket read/write and HTTP parse | 10.0% | 50.0 | 0.0 | 50.0 | 25% |", head)
        self.assertIn("| total | 100% | 500.0 | 300.0 | 200.0 | 100% |", head)

    def test_the_excess_over_nginx_by_phase(self):
        s = self.section()
        head = s[s.index("### receive path per CPU-second vs nginx"):]
        head = head[:head.index("\n### ")]
        # 10 / 1 = 0.1 against 0.15: nginx 50 us allows 333.3 us
        self.assertIn("0.100, goal >= 0.15 (MISSED by 1.50x)", head)
        self.assertIn("nginx: 50.0 us; the target allows 333.3 us, so 166.7 us per request must go",
                      head)
        # nginx's 80 % of 50 us in http: 40 us; receive's 50 us there: excess 10 of 450
        self.assertIn("| socket read/write and HTTP parse | 10.0% | 50.0 | 40.0 | 10.0 | 2% |", head)
        self.assertIn("| other kernel | 0.0% | 0.0 | 10.0 | -10.0 | -2% |", head)

    def test_a_reference_without_a_profile_is_taken_whole(self):
        os.remove(os.path.join(self.phases, "phases-nginx-dict.json"))
        s = self.section()
        head = s[s.index("### receive path per CPU-second vs nginx"):]
        head = head[:head.index("\n### ")]
        self.assertIn("(100 samples; under 500, the shares are rough; no profile of nginx: its CPU "
                      "is not split by phase)", head)
        self.assertIn("| total | 100% | 500.0 | 50.0 | 450.0 | 100% |", head)

    def test_an_empty_profile_says_so(self):
        self.write_phases("receive", {}, [])
        with open(os.path.join(self.phases, "phases-receive-dict.json")) as f:
            p = json.load(f)
        p.update(samples=0, total=0)
        with open(os.path.join(self.phases, "phases-receive-dict.json"), "w") as f:
            json.dump(p, f)
        self.assertIn("The profile of receive holds no samples", self.section())

    def test_unknown_symbols_are_listed(self):
        self.assertIn("- `mystery_fn (profcol)`: 20.0%", self.section())

    def test_without_profiles_it_says_why(self):
        s = self.section(phases=os.path.join(self.dir.name, "none"))
        self.assertIn("No profile: perf was not run.", s)

    def test_what_run_sh_records(self):
        out = io.StringIO()
        with redirect_stdout(out):
            report.profiles_cmd(SimpleNamespace(raw=self.raw, all=False))
        self.assertEqual(out.getvalue().split("\n"), ["receive dict sat", "nginx dict sat", ""])

    def test_a_met_target_gets_no_breakdown(self):
        with open(self.raw, "a") as f:  # receive now 0.1 CPU: 100 us, 0.5x nginx, 0.33x floor
            f.write(raw_line(1, "dict", "receive", "cpu", 0.1))
        self.assertIn("No CPU-per-request target was missed.", self.section())


if __name__ == "__main__":
    unittest.main(verbosity=2)
