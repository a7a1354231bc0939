/* bench_floor.c - the compute floor of one OTLP/HTTP request: the CPU time
 * the work itself takes, without a server around it, so that bench/run.sh
 * can say how much profcol's CPU per request (all its threads, measured
 * under load in the same run) spends beyond the work.
 *
 * Per request of FILE (as sent, plain or gzip), on this thread:
 *   inflate  libdeflate's gzip decompressor into a buffer of the size the
 *            gzip trailer states (the fastest inflater profcol links)
 *   decode   pc_proto_decode with its validation, into an arena reset per
 *            request that keeps its blocks (as the receiver's pooled arenas)
 *   merge    pc_builder_add into a batch, which is reset when it holds
 *            --batch-samples samples (the batch processor's send_batch_size)
 * and, reported apart because the floor leaves it out:
 *   encode   each full batch made into a body as the batch processor's
 *            flush does (pc_builder_body: encode, then --compress gzip or
 *            zstd at the exporters' default level, or none), per request
 *
 * --dump OUT writes the first full batch's plain body (the bytes the
 * exporters compress) to OUT, to hold a compressor against its own CLI on
 * the same bytes (bench/README.md, "zstd").
 *
 * Times are CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), the
 * fastest of --runs runs of at least --time seconds each. Output: one line
 * of key=value pairs, microseconds per request, for scripts:
 *
 *   bench_floor [--time S] [--runs N] [--batch-samples N] [--compress none|gzip|zstd]
 *               [--dump OUT] FILE
 *   floor bytes=75284 inflated=199982 inflate_us=..  decode_us=.. merge_us=..
 *         floor_us=.. encode_us=.. samples=.. */
#include <errno.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pdata/intern.h"
#include "warm_malloc.h"

typedef struct {
  double seconds;
  int runs;
  uint64_t batch_samples;
  unsigned encodings; /* of the flush's body: 1 << pc_encoding_t each */
  const char *file;
  const char *dump; /* --dump: where the first full batch's plain body goes */
} opts_t;

typedef struct {
  const uint8_t *in; /* as sent */
  size_t n_in;
  bool gzip;
  struct libdeflate_decompressor *dz;
  uint8_t *plain; /* inflated, or in itself */
  size_t n_plain;
  pc_arena_t *arena;
  pc_builder_t *b;
  unsigned encodings;
  uint64_t samples;
  const char *dump; /* until written */
} ctx_t;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int step_inflate(ctx_t *c) {
  if (!c->gzip) return 0;
  size_t got = 0;
  enum libdeflate_result r =
      libdeflate_gzip_decompress(c->dz, c->in, c->n_in, c->plain, c->n_plain, &got);
  return r == LIBDEFLATE_SUCCESS && got == c->n_plain ? 0 : PC_ECORRUPT;
}

static int step_decode(ctx_t *c, pc_request_t *req) {
  pc_err_t err;
  pc_arena_reset(c->arena);
  return pc_proto_decode(c->arena, c->plain, c->n_plain, req, &err);
}

static int step_merge(ctx_t *c, const pc_request_t *req, bool *full) {
  pc_err_t err;
  int rc = pc_builder_add(c->b, req, &err);
  *full = pc_builder_stats(c->b)->samples >= c->samples;
  return rc;
}

/* The body's plain bytes to c->dump, once. */
static int dump_body(ctx_t *c, const pc_body_t *body) {
  const pc_bytes_t *plain = body->v[PC_ENC_IDENTITY];
  FILE *f = fopen(c->dump, "wb");
  bool ok = f && fwrite(plain->p, 1, plain->n, f) == plain->n;
  if (f && fclose(f) != 0) ok = false;
  if (!ok) {
    fprintf(stderr, "bench_floor: %s: %s\n", c->dump, strerror(errno));
    return PC_EIO;
  }
  c->dump = NULL;
  return 0;
}

static int step_encode(ctx_t *c) {
  int rc = 0;
  pc_body_t *body = pc_builder_body(c->b, c->encodings, NULL, &rc);
  if (!rc && c->dump) rc = dump_body(c, body);
  pc_body_unref(body);
  pc_builder_reset(c->b);
  return rc;
}

/* The cost of one cpu_now() (a system call, about 0.5 us): each step's
 * interval holds one, which is taken off. */
static double clock_cost(void) {
  double t0 = cpu_now(), t1 = t0;
  for (int i = 0; i < 1000; i++) t1 = cpu_now();
  return (t1 - t0) / 1000;
}

/* Seconds of CPU per request for each step: the fastest run of each. */
typedef struct {
  double inflate, decode, merge, encode;
} times_t;

static int run(const opts_t *o, ctx_t *c, times_t *best) {
  double cc = clock_cost();
  for (int r = 0; r < o->runs; r++) {
    times_t t = {0};
    uint64_t reqs = 0;
    double start = cpu_now();
    while (cpu_now() - start < o->seconds || reqs < 8) {
      pc_request_t req;
      bool full = false;
      double t0 = cpu_now();
      int rc = step_inflate(c);
      double t1 = cpu_now();
      if (!rc) rc = step_decode(c, &req);
      double t2 = cpu_now();
      if (!rc) rc = step_merge(c, &req, &full);
      double t3 = cpu_now();
      if (!rc && full) rc = step_encode(c);
      double t4 = cpu_now();
      if (rc) return rc;
      t.inflate += t1 - t0;
      t.decode += t2 - t1;
      t.merge += t3 - t2;
      t.encode += t4 - t3;
      reqs++;
    }
    t.inflate = t.inflate / (double)reqs - (c->gzip ? cc : t.inflate / (double)reqs);
    t.decode = t.decode / (double)reqs - cc;
    t.merge = t.merge / (double)reqs - cc;
    t.encode /= (double)reqs; /* a step of few requests: its clock cost is noise */
    double sum = t.inflate + t.decode + t.merge;
    if (r == 0 || sum < best->inflate + best->decode + best->merge) *best = t;
  }
  return 0;
}

static bool read_file(const char *path, pc_buf_t *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  uint8_t chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) pc_buf_append(b, chunk, n);
  bool ok = !ferror(f);
  fclose(f);
  return ok;
}

static void usage(FILE *f) {
  fprintf(f, "usage: bench_floor [--time S] [--runs N] [--batch-samples N] "
             "[--compress none|gzip|zstd] [--dump OUT] FILE\n"
             "  defaults: --time 1 --runs 3 --batch-samples 8192 --compress none; FILE: "
             "protobuf, plain or gzip\n");
}

static bool parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.seconds = 1, .runs = 3, .batch_samples = 8192};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--time") == 0 && v) {
      o->seconds = strtod(v, &end);
    } else if (strcmp(a, "--runs") == 0 && v) {
      o->runs = (int)strtol(v, &end, 10);
    } else if (strcmp(a, "--batch-samples") == 0 && v) {
      o->batch_samples = strtoull(v, &end, 10);
    } else if (strcmp(a, "--compress") == 0 && v) {
      pc_encoding_t e;
      if (strcmp(v, "none") == 0) o->encodings = 0;
      else if (pc_encoding_parse((pc_str_t){(const uint8_t *)v, strlen(v)}, &e) == 0)
        o->encodings = 1u << e;
      else return false;
      end = "";
    } else if (strcmp(a, "--dump") == 0 && v) {
      o->dump = v;
      end = "";
    } else if (a[0] != '-' && !o->file) {
      o->file = a;
      continue;
    } else {
      return false;
    }
    if (!end || *end || end == v) return false;
    i++;
  }
  return o->file && o->seconds > 0 && o->runs > 0 && o->batch_samples > 0;
}

int main(int argc, char **argv) {
  /* A warm server's malloc thresholds: without, every buffer above 128
   * KiB here is mapped and faulted in afresh, which the server does not do
   * (warm_malloc.c). */
  pc_warm_malloc();
  opts_t o;
  if (!parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  pc_buf_t file = {0};
  if (!read_file(o.file, &file)) {
    fprintf(stderr, "bench_floor: %s: %s\n", o.file, strerror(errno));
    return 1;
  }
  ctx_t c = {.in = file.p, .n_in = file.n, .samples = o.batch_samples,
             .encodings = o.encodings, .dump = o.dump};
  c.gzip = pc_encoding_sniff(file.p, file.n) == PC_ENC_GZIP;
  if (c.gzip) {
    c.n_plain = (size_t)pc_announced_size(PC_ENC_GZIP, file.p, file.n);
    c.plain = pc_xmalloc(c.n_plain ? c.n_plain : 1);
    c.dz = libdeflate_alloc_decompressor();
    if (!c.dz) pc_oom();
  } else {
    c.plain = file.p;
    c.n_plain = file.n;
  }
  c.arena = pc_arena_new(0);
  pc_arena_set_keep(c.arena, (size_t)2 << 20); /* as receiver/internal.h RX_ARENA_KEEP */
  c.b = pc_builder_new();
  times_t t;
  int rc = run(&o, &c, &t);
  if (rc) {
    fprintf(stderr, "bench_floor: %s: %s\n", o.file, pc_strerror(rc));
    return 1;
  }
  pc_request_t req;
  uint64_t samples = 0;
  if (step_inflate(&c) == 0 && step_decode(&c, &req) == 0) samples = pc_request_sample_count(&req);
  printf("floor bytes=%zu inflated=%zu inflate_us=%.2f decode_us=%.2f merge_us=%.2f "
         "floor_us=%.2f encode_us=%.2f samples=%" PRIu64 "\n",
         file.n, c.n_plain, t.inflate * 1e6, t.decode * 1e6, t.merge * 1e6,
         (t.inflate + t.decode + t.merge) * 1e6, t.encode * 1e6, samples);
  pc_builder_free(c.b);
  pc_arena_free(c.arena);
  if (c.gzip) {
    free(c.plain);
    libdeflate_free_decompressor(c.dz);
  }
  pc_buf_free(&file);
  return 0;
}
