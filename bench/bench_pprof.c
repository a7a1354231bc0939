/* bench_pprof.c - pprof -> OTLP conversion against decoding the same pprof
 * bytes alone, in CPU time, measured in the same run.
 *
 * Payloads: the real Go CPU and heap profiles of tests/data/pprof, and two
 * larger ones made from the workload generator (workload.c: eBPF-profiler
 * shaped stacks, mappings and functions), its 200 KB and 5 MB OTLP requests
 * exported as pprof (pdata/pprof_encode.c: one sample type, one sample per
 * distinct stack, no labels). For each it times, on the pprof bytes as
 * pprof files hold them (gzip'd) and inflated:
 *   decode          pc_pprof_decode into a reused arena (the baseline)
 *   convert         decode + pc_pprof_to_otlp into a reused batch builder:
 *                   the interned OTLP request, samples kept encoded
 *   convert+encode  convert + pc_builder_encode: the OTLP protobuf bytes a
 *                   receiver would forward
 * Throughput is pprof bytes (as given to the call) per CPU-second of the
 * thread (CLOCK_THREAD_CPUTIME_ID); the ratio column is decode's time over
 * the operation's, so 0.25 means converting costs 4 times decoding. Each
 * cell is the fastest of --runs runs of --time seconds. Arenas, buffers and
 * the builder are reused from call to call, as a receiver reuses them. Also
 * printed: the memory a conversion holds (arenas and builder).
 *
 * --write DIR writes the four payloads, gzip'd, as DIR/0.pb.gz .. 3.pb.gz
 * and exits: bench/pprof_bench.sh serves them to the pprof receiver and
 * sets its throughput beside this program's decode figure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pdata/intern.h"
#include "../pdata/pprof.h"
#include "../pdata/stacks.h"
#include "workload.h"

#ifndef PC_SOURCE_ROOT
#define PC_SOURCE_ROOT "."
#endif

typedef struct {
  double seconds;
  int runs;
} opts_t;

typedef struct {
  const uint8_t *p; /* the bytes given to the operation */
  size_t n;
  pc_arena_t *arena, *scratch;
  pc_builder_t *b;
  pc_buf_t inflated, out;
  pc_err_t err;
} ctx_t;

typedef int (*op_fn)(ctx_t *c);

static int op_decode(ctx_t *c) {
  pc_arena_reset(c->arena);
  c->inflated.n = 0;
  pc_str_t plain;
  int rc = pc_pprof_unpack(c->p, c->n, 1 << 30, &c->inflated, &plain, &c->err);
  pc_pprof_t prof;
  return rc ? rc : pc_pprof_decode(c->arena, plain.p, plain.n, &prof, &c->err);
}

static int op_convert(ctx_t *c) {
  pc_arena_reset(c->arena);
  pc_arena_reset(c->scratch);
  pc_builder_reset(c->b);
  c->inflated.n = 0;
  pc_str_t plain;
  pc_pprof_t prof;
  int rc = pc_pprof_unpack(c->p, c->n, 1 << 30, &c->inflated, &plain, &c->err);
  if (!rc) rc = pc_pprof_decode(c->arena, plain.p, plain.n, &prof, &c->err);
  if (!rc) rc = pc_pprof_to_otlp(&prof, c->scratch, c->b, &c->err);
  return rc;
}

static int op_convert_encode(ctx_t *c) {
  int rc = op_convert(c);
  c->out.n = 0;
  return rc ? rc : pc_builder_encode(c->b, &c->out);
}

enum { OP_DECODE, OP_CONVERT, OP_ENCODE, N_OPS };
static const op_fn op_fns[N_OPS] = {op_decode, op_convert, op_convert_encode};
static const char *const op_names[N_OPS] = {"decode", "convert", "convert+encode"};

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds per call: the fastest of o->runs runs, calls timed in
 * doubling batches so the clock is not what is measured. < 0: an error. */
static double measure(const opts_t *o, op_fn fn, ctx_t *c) {
  int rc = fn(c);
  if (rc) return rc;
  double best = 0;
  for (int run = 0; run < o->runs; run++) {
    uint64_t calls = 0, batch = 1;
    double start = cpu_now(), elapsed = 0;
    while (elapsed < o->seconds) {
      double t0 = cpu_now();
      for (uint64_t i = 0; i < batch; i++)
        if ((rc = fn(c)) != 0) return rc;
      double t1 = cpu_now();
      calls += batch;
      if (t1 - t0 < 1e-3) batch *= 2;
      elapsed = t1 - start;
    }
    double per_call = elapsed / (double)calls;
    if (run == 0 || per_call < best) best = per_call;
  }
  return best;
}

/* ---- payloads ------------------------------------------------------------------- */

typedef struct {
  char name[64];
  pc_buf_t gz, plain;
} payload_t;

static int read_file(const char *rel, pc_buf_t *out) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", PC_SOURCE_ROOT, rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench_pprof: %s: %s\n", path, strerror(errno));
    return PC_EIO;
  }
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) pc_buf_append(out, buf, got);
  fclose(f);
  return 0;
}

static int from_fixture(const char *name, const char *rel, payload_t *p) {
  snprintf(p->name, sizeof p->name, "%s", name);
  int rc = read_file(rel, &p->gz);
  pc_err_t err = {0};
  if (!rc) rc = pc_decompress(PC_ENC_GZIP, p->gz.p, p->gz.n, 1 << 30, &p->plain, &err);
  return rc;
}

/* The workload generator's request of about target OTLP bytes, as pprof. */
static int from_workload(size_t target, payload_t *p) {
  pc_arena_t *a = pc_arena_new(1 << 20);
  pc_workload_opts_t wo = {.seed = 1, .target_bytes = target};
  pc_request_t req;
  int rc = pc_workload_build(a, &wo, &req);
  pc_stacks_t *s = NULL;
  pc_err_t err = {0};
  const pc_request_t *reqs[] = {&req};
  if (!rc) rc = pc_stacks_select(reqs, 1, NULL, &s, &err);
  if (!rc) rc = pc_pprof_encode(s, false, &p->plain);
  if (!rc) rc = pc_compress(PC_ENC_GZIP, 0, p->plain.p, p->plain.n, &p->gz);
  snprintf(p->name, sizeof p->name, "workload %zu KB OTLP", target / 1000);
  pc_stacks_free(s);
  pc_arena_free(a);
  return rc;
}

static void describe(const payload_t *p) {
  pc_arena_t *a = pc_arena_new(0);
  pc_pprof_t prof;
  pc_err_t err = {0};
  if (pc_pprof_decode(a, p->plain.p, p->plain.n, &prof, &err) == 0) {
    uint64_t frames = 0, labels = 0;
    for (uint32_t i = 0; i < prof.n_samples; i++)
      frames += prof.samples[i].n_locations, labels += prof.samples[i].n_labels;
    printf("%s: %zu bytes (%zu gzip'd); %" PRIu32 " sample types, %" PRIu32 " samples "
           "(%.1f frames, %.1f labels each), %" PRIu32 " locations, %" PRIu32 " functions, %"
           PRIu32 " mappings, %" PRIu32 " strings\n",
           p->name, p->plain.n, p->gz.n, prof.n_sample_types, prof.n_samples,
           prof.n_samples ? (double)frames / prof.n_samples : 0.0,
           prof.n_samples ? (double)labels / prof.n_samples : 0.0, prof.n_locations,
           prof.n_functions, prof.n_mappings, prof.n_strings);
  }
  pc_arena_free(a);
}

static void bench_payload(const opts_t *o, const payload_t *p) {
  describe(p);
  printf("  %-8s %-15s %12s %10s %8s\n", "input", "operation", "MB/CPU-s", "us/op", "ratio");
  const pc_buf_t *inputs[2] = {&p->plain, &p->gz};
  const char *input_names[2] = {"plain", "gzip"};
  for (int in = 0; in < 2; in++) {
    ctx_t c = {.p = inputs[in]->p, .n = inputs[in]->n, .arena = pc_arena_new(0),
               .scratch = pc_arena_new(0), .b = pc_builder_new()};
    /* reused as a receiver reuses its arenas: no fresh pages per call */
    pc_arena_set_keep(c.arena, (size_t)1 << 30);
    pc_arena_set_keep(c.scratch, (size_t)1 << 30);
    double base = 0;
    for (int op = 0; op < N_OPS; op++) {
      double t = measure(o, op_fns[op], &c);
      if (t < 0) {
        printf("  %-8s %-15s n/a (%s: %s)\n", input_names[in], op_names[op],
               pc_strerror((int)t), c.err.msg);
        continue;
      }
      if (op == OP_DECODE) base = t;
      printf("  %-8s %-15s %12.1f %10.1f %8.3f\n", input_names[in], op_names[op],
             (double)c.n / t / 1e6, t * 1e6, base / t);
    }
    if (in == 0) {
      op_convert(&c);
      printf("  memory of one conversion: decoded pprof %zu KB, OTLP built on the way %zu KB, "
             "builder %zu KB\n", pc_arena_used(c.arena) / 1024, pc_arena_used(c.scratch) / 1024,
             pc_builder_mem(c.b) / 1024);
    }
    pc_arena_free(c.arena);
    pc_arena_free(c.scratch);
    pc_builder_free(c.b);
    pc_buf_free(&c.inflated);
    pc_buf_free(&c.out);
  }
}

/* The payloads as pprof files (gzip'd, as Go serves them), for
 * bench/pprof_bench.sh to serve to the receiver: DIR/0.pb.gz .. 3.pb.gz. */
static int write_payloads(const char *dir, const payload_t *p, int n) {
  for (int i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%d.pb.gz", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p[i].gz.p, 1, p[i].gz.n, f) != p[i].gz.n) {
      fprintf(stderr, "bench_pprof: %s: %s\n", path, strerror(errno));
      if (f) fclose(f);
      return 1;
    }
    fclose(f);
    printf("%s: %s (%zu bytes)\n", path, p[i].name, p[i].gz.n);
  }
  return 0;
}

int main(int argc, char **argv) {
  opts_t o = {.seconds = 0.5, .runs = 3};
  const char *write_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--time") && i + 1 < argc) o.seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) o.runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--write") && i + 1 < argc) write_dir = argv[++i];
    else {
      fprintf(stderr, "usage: bench_pprof [--time SECONDS] [--runs N] [--write DIR]\n");
      return 2;
    }
  }
  payload_t p[4] = {0};
  int rc = from_fixture("Go CPU profile", "tests/data/pprof/cpu.pb.gz", &p[0]);
  if (!rc) rc = from_fixture("Go heap profile", "tests/data/pprof/heap.pb.gz", &p[1]);
  if (!rc) rc = from_workload(200000, &p[2]);
  if (!rc) rc = from_workload(5000000, &p[3]);
  if (rc) {
    fprintf(stderr, "bench_pprof: cannot make the payloads: %s\n", pc_strerror(rc));
    return 1;
  }
  if (write_dir) return write_payloads(write_dir, p, 4);
  for (int i = 0; i < 4; i++) {
    bench_payload(&o, &p[i]);
    printf("\n");
    pc_buf_free(&p[i].gz);
    pc_buf_free(&p[i].plain);
  }
  return 0;
}
