/* workload.h - a generator of realistic eBPF-profiler-like OTLP profiles
 * requests, for benchmarks, tests, fuzz seeds and manual runs.
 *
 * The generator first builds a fixed "world" from the seed: a few dozen
 * binaries (executables, shared libraries, the kernel, JIT/interpreter
 * pseudo-binaries) with symbol tables of C, C++, Go, Java and Python style
 * names, a dozen services that run them, and for each service a tree of call
 * stacks (common roots such as _start/__libc_start_main/main, shared middles,
 * distinct leaves that end in libraries and the kernel). It then adds
 * processes (one resource with one profile each) that sample stacks of their
 * service, until the canonical protobuf encoding (pc_proto_encode) reaches
 * the target size. Only what samples refer to goes into the dictionary.
 *
 * Two shapes of the same size: PC_WORKLOAD_DICTIONARY (the default) is a
 * quiet node, a couple of hundred samples per 200 KB that nearly all bring a
 * new deep stack, so most bytes are dictionary; PC_WORKLOAD_SAMPLES is a busy
 * node whose profiler reports thousands of samples per 5 s over a few hundred
 * hot stacks, with timestamps, two sample attributes (thread.name and
 * thread.id) and, in traced services, most samples linked to a span (a trace
 * covers a few spans), so most bytes are samples.
 *
 * Everything is deterministic: the same options give the same request, and
 * process i is the same process whatever the target size (a larger target
 * adds processes; only the last one may get extra samples to fill a small
 * target). */
#ifndef PC_WORKLOAD_H
#define PC_WORKLOAD_H

#include "../pdata/pdata.h"

typedef enum {
  PC_WORKLOAD_DICTIONARY = 0, /* about 230 samples per 200 KB, dictionary-heavy */
  PC_WORKLOAD_SAMPLES = 1,    /* about 5,000 samples per 200 KB over a few hundred stacks */
} pc_workload_shape_t;

typedef struct {
  uint64_t seed;       /* world and processes; any value, 0 included */
  size_t target_bytes; /* size of the protobuf encoding to aim for (0: 200 KB) */
  /* Processes are spread over hosts first_host .. first_host+hosts-1 (hosts 0
   * means 1). Every host runs the same services (same binaries, functions
   * and stacks) under its own host.name, pids and container ids, so a caller
   * can make one payload per host of a fleet by varying first_host. */
  uint32_t hosts;
  uint32_t first_host;
  /* When not 0: exactly this many processes, and target_bytes is ignored. */
  uint32_t processes;
  /* Start of the profiling window (0: 2026-11-20T12:00:00Z). */
  uint64_t start_time_unix_nano;
  pc_workload_shape_t shape;
} pc_workload_opts_t;

/* The biggest target accepted. */
#define PC_WORKLOAD_MAX_BYTES ((size_t)1 << 30)

/* Build a request into req (zeroed first), allocating everything it refers
 * to from a (req->arena = a); the generator's own scratch memory is freed
 * before returning. The encoded size lands at or just below target_bytes
 * (within 0.5% from 50 KB up, within 5% from 10 KB; a target smaller than
 * one sample still gets one process with one sample). Entry 0 of every
 * dictionary table is the zero entry; there are no duplicate or unused
 * entries. For small targets the arena may also hold a discarded first
 * attempt (a few KB).
 *
 * Returns 0, PC_EINVAL for options out of range (target above
 * PC_WORKLOAD_MAX_BYTES, an unknown shape), or PC_ENOMEM when the arena is exhausted (reset it
 * then). */
int pc_workload_build(pc_arena_t *a, const pc_workload_opts_t *o,
                      pc_request_t *req);

/* The exact size pc_proto_encode gives for a request made by
 * pc_workload_build (it covers only the fields the generator sets). Used to
 * hit the target without an encoder; benchmarks compare it with the real
 * encoder's output as a cross-check of both. */
size_t pc_workload_encoded_size(const pc_request_t *req);

#endif
