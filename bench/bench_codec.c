/* bench_codec.c - throughput of the pdata codecs on realistic payloads,
 * against memcpy of the same bytes measured in the same run.
 *
 * For each payload size (about 10 KB, 200 KB and 5 MB of protobuf, made by
 * workload.c) it times six operations:
 *   memcpy        copy the protobuf bytes (the baseline)
 *   proto decode  pc_proto_decode into a reused arena (pc_arena_reset before
 *                 each run; validation is part of decode)
 *   proto encode  pc_proto_encode into a reused pc_buf_t
 *   json decode   pc_json_decode, same arena reuse
 *   json encode   pc_json_encode into a reused pc_buf_t
 *   jansson parse json_loadb + json_decref of the same JSON: the first half
 *                 of the jansson-based decoder that pc_json_decode replaced
 *                 (which then walked the document into pdata), kept as the
 *                 same-run baseline for JSON decode (issue 14)
 *
 * Throughput is "bytes/s of input", where the input of an operation is its
 * serialized side: what a decoder reads, what an encoder writes, what memcpy
 * copies (the protobuf bytes). So protobuf columns count protobuf bytes and
 * JSON columns count JSON bytes (about 3x as many for the same request);
 * us/op compares the formats per payload. MB = 10^6 bytes. The ratio column
 * is the operation's MB/s over memcpy's MB/s, both from this run, which is
 * what to quote (machines are shared and noisy; absolute numbers drift).
 *
 * Each cell repeats the operation for --time seconds (default 0.5), --runs
 * times (default 3), and keeps the fastest run. A codec that fails (not
 * implemented yet, or a bug) prints "n/a" and the reason, and the rest runs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "workload.h"

enum { OP_MEMCPY, OP_PB_DEC, OP_PB_ENC, OP_JS_DEC, OP_JS_ENC, OP_JANSSON, N_OPS };
static const char *const op_names[N_OPS] = {"memcpy",      "proto decode", "proto encode",
                                            "json decode", "json encode",  "jansson parse"};

typedef struct {
  double seconds; /* per run */
  int runs;
  uint64_t seed;
  pc_workload_shape_t shape;
  size_t sizes[16];
  int n_sizes;
} opts_t;

/* What an operation works on. */
typedef struct {
  const pc_request_t *req; /* the generated request (encoders) */
  const pc_buf_t *pb, *js; /* its encodings (decoders, memcpy) */
  uint8_t *dst;            /* memcpy target */
  pc_arena_t *arena;       /* decoders: reset before each decode */
  pc_buf_t out;            /* encoders: rewound before each encode */
  pc_request_t decoded;
  pc_err_t err;
} ctx_t;

typedef int (*op_fn)(ctx_t *c);

static int op_memcpy(ctx_t *c) {
  memcpy(c->dst, c->pb->p, c->pb->n);
  __asm__ volatile("" : : "r"(c->dst) : "memory"); /* keep the copy */
  return 0;
}

static int op_pb_decode(ctx_t *c) {
  pc_arena_reset(c->arena);
  return pc_proto_decode(c->arena, c->pb->p, c->pb->n, &c->decoded, &c->err);
}

static int op_pb_encode(ctx_t *c) {
  c->out.n = 0;
  return pc_proto_encode(c->req, &c->out);
}

static int op_js_decode(ctx_t *c) {
  pc_arena_reset(c->arena);
  return pc_json_decode(c->arena, c->js->p, c->js->n, &c->decoded, &c->err);
}

static int op_js_encode(ctx_t *c) {
  c->out.n = 0;
  return pc_json_encode(c->req, &c->out);
}

static int op_jansson(ctx_t *c) {
  json_error_t je;
  json_t *root = json_loadb((const char *)c->js->p, c->js->n, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                            &je);
  if (!root) return pc_err_set(&c->err, PC_EDECODE, "jansson: %s", je.text);
  json_decref(root);
  return 0;
}

static const op_fn op_fns[N_OPS] = {op_memcpy,    op_pb_decode, op_pb_encode,
                                    op_js_decode, op_js_encode, op_jansson};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds per call of fn: the fastest of o->runs runs of o->seconds each.
 * Calls are timed in batches (doubling while a batch takes under 1 ms) so
 * the clock is not part of the measurement. Returns < 0 (an error code) if
 * a call fails. */
static double measure(const opts_t *o, op_fn fn, ctx_t *c) {
  int rc = fn(c); /* warm up caches, arena and buffer */
  if (rc) return rc;
  double best = 0;
  for (int run = 0; run < o->runs; run++) {
    uint64_t calls = 0, batch = 1;
    double start = now(), elapsed = 0;
    while (elapsed < o->seconds) {
      double t0 = now();
      for (uint64_t i = 0; i < batch; i++)
        if ((rc = fn(c)) != 0) return rc;
      double t1 = now();
      calls += batch;
      if (t1 - t0 < 1e-3) batch *= 2;
      elapsed = t1 - start;
    }
    double per_call = elapsed / (double)calls;
    if (run == 0 || per_call < best) best = per_call;
  }
  return best;
}

/* ---- the payload ---------------------------------------------------------- */

typedef struct {
  pc_arena_t *arena;
  pc_request_t req;
  pc_buf_t pb, js;
  int pb_rc, js_rc;
} payload_t;

static int payload_make(const opts_t *o, size_t target, payload_t *p) {
  memset(p, 0, sizeof *p);
  p->arena = pc_arena_new(1 << 20);
  pc_workload_opts_t wo = {.seed = o->seed, .target_bytes = target, .shape = o->shape};
  int rc = pc_workload_build(p->arena, &wo, &p->req);
  if (rc) return rc;
  p->pb_rc = pc_proto_encode(&p->req, &p->pb);
  p->js_rc = pc_json_encode(&p->req, &p->js);
  return 0;
}

static void payload_free(payload_t *p) {
  pc_buf_free(&p->pb);
  pc_buf_free(&p->js);
  pc_arena_free(p->arena);
}

static void print_stats(const payload_t *p) {
  const pc_request_t *r = &p->req;
  uint64_t events = 0, linked = 0, samples = 0, frames = 0;
  for (uint32_t i = 0; i < r->n_resources; i++)
    for (uint32_t j = 0; j < r->resources[i].n_scopes; j++)
      for (uint32_t k = 0; k < r->resources[i].scopes[j].n_profiles; k++) {
        const pc_profile_t *pr = &r->resources[i].scopes[j].profiles[k];
        for (uint32_t s = 0; s < pr->n_samples; s++) {
          events += pr->samples[s].n_timestamps;
          linked += pr->samples[s].link_index != 0;
        }
        samples += pr->n_samples;
      }
  for (uint32_t i = 0; i < r->dict.n_stacks; i++) frames += r->dict.stacks[i].location_indices.n;
  const pc_dictionary_t *d = &r->dict;
  printf("  resources %" PRIu32 ", profiles %" PRIu64 ", samples %" PRIu64 " (%" PRIu64
         " events, %.1f%% linked to traces)\n",
         r->n_resources, pc_request_profile_count(r), samples, events,
         samples ? 100.0 * (double)linked / (double)samples : 0.0);
  printf("  tables: mapping %" PRIu32 ", location %" PRIu32 ", function %" PRIu32
         ", link %" PRIu32 ", string %" PRIu32 ", attribute %" PRIu32 ", stack %" PRIu32
         " (%.1f frames per stack)\n",
         d->n_mappings, d->n_locations, d->n_functions, d->n_links, d->n_strings, d->n_attrs,
         d->n_stacks, d->n_stacks > 1 ? (double)frames / (d->n_stacks - 1) : 0.0);
  pc_stats_t st;
  if (pc_pdata_stats(r, &st) == 0) {
    printf("  duplicates/unreferenced:");
    for (int i = 0; i < 7; i++)
      printf(" %s %" PRIu32 "/%" PRIu32, st.tables[i].name ? st.tables[i].name : "?",
             st.tables[i].duplicates, st.tables[i].unreferenced);
    printf("\n");
  }
}

/* Encoded bytes of one part of the request: the real encoder run on a copy
 * that keeps only that part. part 0-6: a dictionary table; 7: the tree. */
static size_t part_bytes(const pc_request_t *r, int part) {
  pc_request_t c = *r;
  pc_dictionary_t *d = &c.dict;
  if (part != 7) c.n_resources = 0;
  if (part != 0) d->n_mappings = 0;
  if (part != 1) d->n_locations = 0;
  if (part != 2) d->n_functions = 0;
  if (part != 3) d->n_links = 0;
  if (part != 4) d->n_strings = 0;
  if (part != 5) d->n_attrs = 0;
  if (part != 6) d->n_stacks = 0;
  c.has_dictionary = part != 7;
  pc_buf_t b = {0};
  size_t n = pc_proto_encode(&c, &b) == 0 ? b.n : 0;
  pc_buf_free(&b);
  return n;
}

static void print_breakdown(const payload_t *p) {
  static const char *const names[8] = {"mapping", "location", "function", "link",
                                       "string",  "attribute", "stack", "resources+samples"};
  if (p->pb_rc || !p->pb.n) return;
  printf("  bytes:");
  for (int i = 0; i < 8; i++)
    printf(" %s %.1f%%%s", names[i], 100.0 * (double)part_bytes(&p->req, i) / (double)p->pb.n,
           i < 7 ? "," : "\n");
}

/* Decode the protobuf, encode it again: a canonical encoder gives the same
 * bytes back. Also compares the generator's size model with the encoder. */
static void print_checks(const payload_t *p, size_t target) {
  if (p->pb_rc) return;
  size_t model = pc_workload_encoded_size(&p->req);
  printf("  size: target %zu, encoded %zu (%+.1f%%), generator's model %s\n", target, p->pb.n,
         100.0 * ((double)p->pb.n - (double)target) / (double)target,
         model == p->pb.n ? "agrees" : "DISAGREES");
  pc_arena_t *a = pc_arena_new(1 << 20);
  pc_request_t back;
  pc_err_t err = {0};
  pc_buf_t again = {0};
  int rc = pc_proto_decode(a, p->pb.p, p->pb.n, &back, &err);
  if (rc == 0) rc = pc_proto_encode(&back, &again);
  if (rc)
    printf("  round trip: failed: %s %s\n", pc_err_name(rc), err.msg);
  else
    printf("  round trip: decode + encode gives %s bytes\n",
           again.n == p->pb.n && memcmp(again.p, p->pb.p, again.n) == 0 ? "the same"
                                                                          : "DIFFERENT");
  pc_buf_free(&again);
  pc_arena_free(a);
}

/* ---- one size ---------------------------------------------------------------- */

typedef struct {
  size_t target, pb_bytes;
  double mbps[N_OPS]; /* 0: n/a */
} row_t;

/* An arena whose first block holds a whole decoded request, so that reset
 * reuses it and no decode mallocs: as a receiver's pooled arena would be. */
static pc_arena_t *decode_arena(int (*dec)(pc_arena_t *, const uint8_t *, size_t,
                                           pc_request_t *, pc_err_t *),
                                const pc_buf_t *in) {
  pc_arena_t *probe = pc_arena_new(0);
  pc_request_t r;
  pc_err_t err;
  size_t used = dec(probe, in->p, in->n, &r, &err) == 0 ? pc_arena_used(probe) : 0;
  pc_arena_free(probe);
  return pc_arena_new(used + used / 4 + 65536);
}

static void bench_size(const opts_t *o, size_t target, row_t *row) {
  payload_t p;
  memset(row, 0, sizeof *row);
  row->target = target;
  int rc = payload_make(o, target, &p);
  if (rc) {
    printf("\n== target %zu B: generator failed: %s\n", target, pc_strerror(rc));
    payload_free(&p);
    return;
  }
  row->pb_bytes = p.pb.n;
  printf("\n== target %zu B: protobuf %zu B, JSON %zu B (seed %" PRIu64 ")\n", target, p.pb.n,
         p.js.n, o->seed);
  print_stats(&p);
  print_breakdown(&p);
  print_checks(&p, target);
  ctx_t c = {.req = &p.req, .pb = &p.pb, .js = &p.js, .dst = malloc(p.pb.n + 1)};
  printf("  %-14s %12s %12s %10s %9s\n", "op", "bytes/op", "us/op", "MB/s", "x memcpy");
  for (int op = 0; op < N_OPS; op++) {
    bool json = op == OP_JS_DEC || op == OP_JS_ENC || op == OP_JANSSON;
    const pc_buf_t *in = json ? &p.js : &p.pb;
    int have = json ? p.js_rc : p.pb_rc;
    double sec = 0;
    if (op == OP_PB_DEC) c.arena = decode_arena(pc_proto_decode, &p.pb);
    if (op == OP_JS_DEC) c.arena = decode_arena(pc_json_decode, &p.js);
    memset(&c.err, 0, sizeof c.err);
    if (have == 0) sec = measure(o, op_fns[op], &c);
    if (have != 0 || sec <= 0) {
      int code = have ? have : (int)sec;
      printf("  %-14s %12s %12s %10s %9s  (%s%s%s)\n", op_names[op], "n/a", "n/a", "n/a", "n/a",
             pc_err_name(code), c.err.msg[0] ? ": " : "", c.err.msg);
    } else {
      row->mbps[op] = (double)in->n / sec / 1e6;
      double ratio = row->mbps[OP_MEMCPY] > 0 ? row->mbps[op] / row->mbps[OP_MEMCPY] : 0;
      printf("  %-14s %12zu %12.2f %10.1f %9.4f\n", op_names[op], in->n, sec * 1e6,
             row->mbps[op], ratio);
    }
    pc_arena_free(c.arena);
    c.arena = NULL;
  }
  pc_buf_free(&c.out);
  free(c.dst);
  payload_free(&p);
}

static void print_summary(const row_t *rows, int n) {
  printf("\nsummary: MB/s of input (x memcpy of the same protobuf bytes, same run)\n");
  printf("%-10s %10s", "pb bytes", "memcpy");
  for (int op = 1; op < N_OPS; op++) printf(" %21s", op_names[op]);
  printf("\n");
  for (int i = 0; i < n; i++) {
    const row_t *r = &rows[i];
    printf("%-10zu %10.1f", r->pb_bytes, r->mbps[OP_MEMCPY]);
    for (int op = 1; op < N_OPS; op++) {
      char cell[32] = "n/a";
      if (r->mbps[op] > 0 && r->mbps[OP_MEMCPY] > 0)
        snprintf(cell, sizeof cell, "%.1f (%.4f)", r->mbps[op], r->mbps[op] / r->mbps[OP_MEMCPY]);
      printf(" %21s", cell);
    }
    printf("\n");
  }
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f, "usage: bench_codec [--time SECONDS] [--runs N] [--seed N] [--sizes B,B,...]\n"
             "                   [--shape dictionary|samples]\n"
             "  defaults: --time 0.5 --runs 3 --seed 1 --sizes 10000,200000,5000000\n"
             "            --shape dictionary (see profcol-gen --help)\n");
}

static bool parse_sizes(const char *s, opts_t *o) {
  o->n_sizes = 0;
  while (*s && o->n_sizes < 16) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || v == 0 || v > PC_WORKLOAD_MAX_BYTES) return false;
    o->sizes[o->n_sizes++] = (size_t)v;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return false;
  }
  return o->n_sizes > 0 && !*s;
}

static bool parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.seconds = 0.5, .runs = 3, .seed = 1, .sizes = {10000, 200000, 5000000},
                .n_sizes = 3};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (!v) return false;
    i++;
    char *end = NULL;
    if (strcmp(a, "--time") == 0)
      o->seconds = strtod(v, &end);
    else if (strcmp(a, "--runs") == 0)
      o->runs = (int)strtol(v, &end, 10);
    else if (strcmp(a, "--seed") == 0)
      o->seed = strtoull(v, &end, 10);
    else if (strcmp(a, "--shape") == 0) {
      if (strcmp(v, "dictionary") && strcmp(v, "samples")) return false;
      o->shape = strcmp(v, "samples") == 0 ? PC_WORKLOAD_SAMPLES : PC_WORKLOAD_DICTIONARY;
      continue;
    } else if (strcmp(a, "--sizes") == 0) {
      if (!parse_sizes(v, o)) return false;
      continue;
    } else
      return false;
    if (!end || *end || end == v) return false;
  }
  return o->seconds > 0 && o->runs > 0;
}

int main(int argc, char **argv) {
  opts_t o;
  if (!parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  printf("bench_codec: best of %d x %.2f s per cell; MB/s = bytes of the serialized input\n"
         "(decoders: what they read; encoders: what they write; memcpy: the protobuf bytes)\n",
         o.runs, o.seconds);
  row_t rows[16];
  for (int i = 0; i < o.n_sizes; i++) {
    bench_size(&o, o.sizes[i], &rows[i]);
    fflush(stdout);
  }
  print_summary(rows, o.n_sizes);
  return 0;
}
