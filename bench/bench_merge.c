/* bench_merge.c - the batch builder (pdata/intern.h) on a many-hosts
 * workload: what merging saves, how fast it runs, what a batch costs in
 * memory.
 *
 * The workload is --requests requests (default 200) from --hosts hosts
 * (default 50) that run the same services (same binaries, functions and
 * stacks; workload.c's world), each request about --bytes of protobuf
 * (default 200 KB): request r comes from host r % hosts and covers the
 * 5-second window r / hosts, so every host reports several times. Each
 * request is encoded and decoded once up front, so the builder reads views
 * into protobuf buffers, as it does behind the receiver.
 *
 * It prints every dictionary table before (the sum over the requests) and
 * after merging all of them into one batch: entries and encoded bytes (the
 * real encoder on a copy that keeps only that table). Then, best of --runs
 * runs of --time seconds each:
 *   memcpy        copy all the requests' protobuf bytes (the baseline)
 *   merge         pc_builder_reset + pc_builder_add of every request
 *   encode batch  pc_builder_encode of the merged batch (what a flush costs)
 * as MB/s of protobuf input (the requests' bytes; for encode, the batch's
 * bytes) and as a ratio to memcpy from the same run, which is the figure to
 * quote. Then the builder's memory after the merge, which is its peak for
 * the batch (pc_builder_mem_detail: arena, tables, sets, maps, scratch),
 * against the batch's encoded size, and what a flush adds to it.
 *
 * Last, the repeat section (--repeat sizes, --batch-samples): one generated
 * request merged again and again into a batch until the batch holds its
 * flush size in samples, as bench/http_bench.sh makes the batch processor
 * do; each size against memcpy of the same request bytes in the same run.
 * --only many|repeat runs one section. MB = 10^6 B. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pdata/intern.h"
#include "workload.h"

#define WINDOW_NS 5000000000ull
#define START_NS 1795176000000000000ull /* 2026-11-20T12:00:00Z */

enum { MAX_REPEAT = 8 };

typedef struct {
  uint32_t requests, hosts;
  size_t bytes;
  uint64_t seed;
  double seconds;
  int runs;
  size_t repeat[MAX_REPEAT]; /* payload sizes for the repeat section */
  uint32_t n_repeat;
  uint64_t batch_samples; /* flush size of the repeat section */
  bool many, repeat_on;   /* which sections run */
} opts_t;

typedef struct {
  pc_buf_t pb;
  pc_arena_t *arena; /* the decoded request */
  pc_request_t req;
} input_t;

typedef struct {
  input_t *in;
  uint32_t n;
  size_t total; /* protobuf bytes of all inputs */
  uint8_t *dst; /* memcpy target */
  pc_builder_t *b;
  pc_buf_t out;
  struct repeat *rep; /* the repeat section's request */
} ctx_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- operations ----------------------------------------------------------- */

static int op_memcpy(ctx_t *c) {
  size_t off = 0;
  for (uint32_t i = 0; i < c->n; i++) {
    memcpy(c->dst + off, c->in[i].pb.p, c->in[i].pb.n);
    off += c->in[i].pb.n;
  }
  __asm__ volatile("" : : "r"(c->dst) : "memory"); /* keep the copies */
  return 0;
}

static int op_merge(ctx_t *c) {
  pc_builder_reset(c->b);
  for (uint32_t i = 0; i < c->n; i++) {
    pc_err_t err;
    int rc = pc_builder_add(c->b, &c->in[i].req, &err);
    if (rc) return rc;
  }
  return 0;
}

/* A flush by encoding: what the builder can send without decoding samples. */
static int op_encode(ctx_t *c) {
  c->out.n = 0;
  return pc_builder_encode(c->b, &c->out);
}

typedef int (*op_fn)(ctx_t *c);

/* Seconds per call: the fastest of o->runs runs of o->seconds each. */
static double measure(const opts_t *o, op_fn fn, ctx_t *c) {
  int rc = fn(c); /* warm up: caches, arena blocks, tables */
  if (rc) return rc;
  double best = 0;
  for (int run = 0; run < o->runs; run++) {
    uint64_t calls = 0;
    double start = now(), elapsed = 0;
    while (elapsed < o->seconds) {
      if ((rc = fn(c)) != 0) return rc;
      calls++;
      elapsed = now() - start;
    }
    double per_call = elapsed / (double)calls;
    if (run == 0 || per_call < best) best = per_call;
  }
  return best;
}

/* ---- the workload ------------------------------------------------------------ */

static int make_inputs(const opts_t *o, ctx_t *c) {
  c->n = o->requests;
  c->in = pc_xcalloc(o->requests, sizeof *c->in);
  for (uint32_t r = 0; r < o->requests; r++) {
    input_t *in = &c->in[r];
    pc_arena_t *gen = pc_arena_new(1 << 20);
    pc_request_t req;
    pc_workload_opts_t wo = {.seed = o->seed, .target_bytes = o->bytes, .hosts = 1,
                             .first_host = r % o->hosts,
                             .start_time_unix_nano = START_NS + (r / o->hosts) * WINDOW_NS};
    int rc = pc_workload_build(gen, &wo, &req);
    if (!rc) rc = pc_proto_encode(&req, &in->pb);
    pc_arena_free(gen);
    if (rc) return rc;
    in->arena = pc_arena_new(1 << 20);
    pc_err_t err;
    rc = pc_proto_decode(in->arena, in->pb.p, in->pb.n, &in->req, &err);
    if (rc) {
      fprintf(stderr, "decode: %s\n", err.msg);
      return rc;
    }
    c->total += in->pb.n;
  }
  c->dst = pc_xmalloc(c->total);
  return 0;
}

/* ---- tables ---------------------------------------------------------------------- */

enum { N_TABLES = 7 };
static const char *const table_names[N_TABLES] = {"mapping", "location", "function", "link",
                                                  "string",  "attribute", "stack"};

static uint32_t table_len(const pc_dictionary_t *d, int t) {
  const uint32_t n[N_TABLES] = {d->n_mappings, d->n_locations, d->n_functions, d->n_links,
                                d->n_strings,  d->n_attrs,     d->n_stacks};
  return n[t];
}

/* Encoded bytes of table t alone (or of the tree, t == N_TABLES). */
static size_t part_bytes(const pc_request_t *r, int t) {
  pc_request_t c = *r;
  pc_dictionary_t *d = &c.dict;
  if (t != N_TABLES) c.n_resources = 0;
  if (t != 0) d->n_mappings = 0;
  if (t != 1) d->n_locations = 0;
  if (t != 2) d->n_functions = 0;
  if (t != 3) d->n_links = 0;
  if (t != 4) d->n_strings = 0;
  if (t != 5) d->n_attrs = 0;
  if (t != 6) d->n_stacks = 0;
  c.has_dictionary = t != N_TABLES;
  pc_buf_t b = {0};
  size_t n = pc_proto_encode(&c, &b) == 0 ? b.n : 0;
  pc_buf_free(&b);
  return n;
}

static void print_tables(const ctx_t *c, const pc_request_t *out, size_t out_bytes) {
  printf("\n%-18s %12s %14s   %12s %14s   %8s\n", "table", "entries in", "bytes in",
         "entries out", "bytes out", "bytes x");
  uint64_t samples = 0, profiles = 0;
  for (int t = 0; t <= N_TABLES; t++) {
    uint64_t n_in = 0, b_in = 0;
    for (uint32_t i = 0; i < c->n; i++) {
      if (t < N_TABLES) n_in += table_len(&c->in[i].req.dict, t);
      b_in += part_bytes(&c->in[i].req, t);
    }
    uint64_t n_out = t < N_TABLES ? table_len(&out->dict, t) : 0;
    size_t b_out = part_bytes(out, t);
    char nin[24] = "", nout[24] = "";
    if (t < N_TABLES) {
      snprintf(nin, sizeof nin, "%" PRIu64, n_in);
      snprintf(nout, sizeof nout, "%" PRIu64, n_out);
    }
    printf("%-18s %12s %14" PRIu64 "   %12s %14zu   %8.3f\n",
           t < N_TABLES ? table_names[t] : "resources+samples", nin, b_in, nout, b_out,
           b_in ? (double)b_out / (double)b_in : 0.0);
  }
  for (uint32_t i = 0; i < c->n; i++) {
    samples += pc_request_sample_count(&c->in[i].req);
    profiles += pc_request_profile_count(&c->in[i].req);
  }
  printf("%-18s %12s %14zu   %12s %14zu   %8.3f\n", "whole request", "", c->total, "",
         out_bytes, (double)out_bytes / (double)c->total);
  uint64_t in_resources = 0;
  for (uint32_t i = 0; i < c->n; i++) in_resources += c->in[i].req.n_resources;
  printf("resources %" PRIu64 " -> %" PRIu32 ", profiles %" PRIu64 " -> %" PRIu64
         ", samples %" PRIu64 " -> %" PRIu64 "\n",
         in_resources, out->n_resources, profiles, pc_request_profile_count(out), samples,
         pc_request_sample_count(out));
  /* The first target: no table of the batch holds an entry twice
   * (pc_pdata_stats compares entries by content), nor one nothing uses. */
  pc_stats_t st;
  if (pc_pdata_stats(out, &st) == 0) {
    uint64_t dup = 0, unref = 0;
    for (int t = 0; t < N_TABLES; t++) {
      dup += st.tables[t].duplicates;
      unref += st.tables[t].unreferenced;
    }
    printf("batch tables: %" PRIu64 " duplicate and %" PRIu64 " unreferenced entries in all\n",
           dup, unref);
  }
}

/* ---- memory -------------------------------------------------------------------------- */

static void mem_row(const char *what, size_t bytes, size_t enc, const char *note) {
  printf("  %-26s %12zu B %6.3f x  %s\n", what, bytes, (double)bytes / (double)enc, note);
}

/* The builder holding the whole batch: its memory only grows during a batch,
 * so this is its peak while merging. Then what each way of flushing adds. */
static void print_memory(ctx_t *c) {
  pc_builder_mem_t m;
  pc_builder_mem_detail(c->b, &m);
  const pc_builder_stats_t *st = pc_builder_stats(c->b);
  size_t enc = c->out.n;
  printf("\nbatch memory after merging all %" PRIu32 " requests (x = bytes / the batch's"
         " encoding, %zu B):\n", c->n, enc);
  mem_row("builder (pc_builder_mem)", m.total, enc, "peak while merging");
  mem_row("encoded samples", m.samples, enc, "64 KiB chunks");
  mem_row("arena blocks", m.arena, enc, "strings, lists, the tree");
  mem_row("  dictionary + tree", m.arena - m.arena_view - m.arena_free, enc,
          "copied strings and bytes, index lists, lines, resources");
  mem_row("  unused block tails", m.arena_free, enc, "");
  mem_row("dictionary tables", m.tables, enc, "entry arrays by capacity");
  mem_row("  unused capacity", m.tables_free, enc, "");
  mem_row("hash sets", m.sets, enc, "8-byte slots");
  mem_row("  empty slots", m.sets_free, enc, "");
  mem_row("index maps", m.maps, enc, "int32 per entry of the largest input");
  mem_row("other", m.other, enc, "resource arrays, scratch");
  /* Flushing by encoding: the output buffer, sized from out_bytes. */
  pc_buf_t out = {0};
  if (pc_builder_encode(c->b, &out) == 0)
    mem_row("+ flush: pc_builder_encode", out.cap, enc, "its output buffer (the body)");
  pc_buf_free(&out);
  /* Flushing by handing on the tree: samples decoded into pc_sample_t,
   * chunk by chunk, each chunk of encoded samples freed once decoded. At
   * most one chunk is held beside the decoded samples, so the peak of that
   * flush is the builder after it plus one chunk. */
  size_t before = m.total, encoded = m.samples;
  pc_builder_request(c->b);
  pc_builder_mem_detail(c->b, &m);
  char note[120];
  snprintf(note, sizeof note, "samples decoded to pc_sample_t; the %zu B encoded are freed",
           encoded);
  mem_row("+ flush: pc_builder_request", m.total - before + encoded, enc, note);
  mem_row("  peak of that flush", m.total + 64 * 1024, enc,
          "builder after it + one 64 KiB chunk");
  printf("out_bytes estimate %" PRIu64 " (%.3f x encoded), in_bytes estimate %" PRIu64
         " (%.3f x input)\n",
         st->out_bytes, (double)st->out_bytes / (double)enc, st->in_bytes,
         (double)st->in_bytes / (double)c->total);
}

/* ---- the same request again and again -----------------------------------------------
 * What bench/http_bench.sh makes the batch processor do: one payload posted
 * over and over, merged into a batch until the batch reaches its flush size
 * (send_batch_size samples), then the batch is reset. After the first add
 * every dictionary entry is already in the batch, so this measures the cost
 * of looking entries up (hash, probe, compare) rather than of copying them.
 * The builder does nothing special for repeated bytes: a real agent never
 * resends an identical dictionary. */

typedef struct repeat {
  input_t in;
  uint32_t per_batch; /* adds until the batch holds batch_samples samples */
  pc_builder_t *b;
  uint8_t *dst;
} repeat_t;

static int op_repeat_memcpy(ctx_t *c) {
  repeat_t *r = c->rep;
  for (uint32_t i = 0; i < r->per_batch; i++) {
    memcpy(r->dst, r->in.pb.p, r->in.pb.n);
    __asm__ volatile("" : : "r"(r->dst) : "memory");
  }
  return 0;
}

static int op_repeat_merge(ctx_t *c) {
  repeat_t *r = c->rep;
  pc_builder_reset(r->b);
  for (uint32_t i = 0; i < r->per_batch; i++) {
    pc_err_t err;
    int rc = pc_builder_add(r->b, &r->in.req, &err);
    if (rc) return rc;
  }
  return 0;
}

/* The batch processor's flush to a consumer that takes trees (debug, a
 * processor) hands on pc_builder_request's tree. */
static int op_repeat_flush(ctx_t *c) {
  int rc = op_repeat_merge(c);
  if (!rc) pc_builder_request(c->rep->b);
  return rc;
}

/* Its flush to an exporter that takes bytes (otlphttp, otlp, file, nop)
 * writes the batch into a fresh buffer with pc_builder_encode. */
static int op_repeat_encode(ctx_t *c) {
  int rc = op_repeat_merge(c);
  pc_buf_t body = {0};
  if (!rc) rc = pc_builder_encode(c->rep->b, &body);
  pc_buf_free(&body);
  return rc;
}

static int make_repeat(const opts_t *o, size_t bytes, repeat_t *r) {
  pc_arena_t *gen = pc_arena_new(1 << 20);
  pc_request_t req;
  pc_workload_opts_t wo = {.seed = o->seed, .target_bytes = bytes, .hosts = 1,
                           .start_time_unix_nano = START_NS};
  int rc = pc_workload_build(gen, &wo, &req);
  if (!rc) rc = pc_proto_encode(&req, &r->in.pb);
  pc_arena_free(gen);
  if (rc) return rc;
  r->in.arena = pc_arena_new(1 << 20);
  pc_err_t err;
  if ((rc = pc_proto_decode(r->in.arena, r->in.pb.p, r->in.pb.n, &r->in.req, &err))) return rc;
  uint64_t samples = pc_request_sample_count(&r->in.req);
  r->per_batch = samples ? (uint32_t)((o->batch_samples + samples - 1) / samples) : 1;
  r->b = pc_builder_new();
  r->dst = pc_xmalloc(r->in.pb.n);
  return 0;
}

static void run_repeat(const opts_t *o) {
  printf("\nsame request merged again and again, %" PRIu64 " samples a batch"
         " (MB/s of the request's protobuf; memcpy copies those bytes once per add;"
         " +request and +encode: us/add when each batch also ends with pc_builder_request,"
         " as the batch processor's flush to a tree consumer does, or with"
         " pc_builder_encode, as its flush to a protobuf exporter does):\n",
         o->batch_samples);
  printf("%-10s %8s %6s %8s %12s %10s %8s %9s %10s %9s %10s %9s\n", "request B", "samples",
         "adds", "entries", "memcpy MB/s", "merge MB/s", "us/add", "x memcpy", "+request",
         "x memcpy", "+encode", "x memcpy");
  for (uint32_t i = 0; i < o->n_repeat; i++) {
    repeat_t r = {0};
    int rc = make_repeat(o, o->repeat[i], &r);
    if (rc) {
      printf("%-10zu failed: %s\n", o->repeat[i], pc_strerror(rc));
      continue;
    }
    ctx_t c = {.rep = &r};
    double t_copy = measure(o, op_repeat_memcpy, &c);
    double t_merge = measure(o, op_repeat_merge, &c);
    double t_flush = measure(o, op_repeat_flush, &c);
    double t_encode = measure(o, op_repeat_encode, &c);
    const pc_dictionary_t *d = &r.in.req.dict;
    uint64_t entries = (uint64_t)d->n_strings + d->n_functions + d->n_mappings + d->n_attrs +
                       d->n_locations + d->n_stacks + d->n_links;
    double bytes = (double)r.in.pb.n * r.per_batch;
    if (t_copy <= 0 || t_merge <= 0 || t_flush <= 0 || t_encode <= 0)
      printf("%-10zu failed\n", r.in.pb.n);
    else
      printf("%-10zu %8" PRIu64 " %6" PRIu32 " %8" PRIu64
             " %12.1f %10.1f %8.2f %9.4f %10.2f %9.4f %10.2f %9.4f\n",
             r.in.pb.n, pc_request_sample_count(&r.in.req), r.per_batch, entries,
             bytes / t_copy / 1e6, bytes / t_merge / 1e6, t_merge / r.per_batch * 1e6,
             t_copy / t_merge, t_flush / r.per_batch * 1e6, t_copy / t_flush,
             t_encode / r.per_batch * 1e6, t_copy / t_encode);
    pc_builder_free(r.b);
    pc_buf_free(&r.in.pb);
    pc_arena_free(r.in.arena);
    free(r.dst);
  }
}

/* ---- command line -------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f, "usage: bench_merge [--requests N] [--hosts N] [--bytes B] [--seed N]\n"
             "                   [--time SECONDS] [--runs N] [--only many|repeat]\n"
             "                   [--repeat B,B,...] [--batch-samples N]\n"
             "  defaults: --requests 200 --hosts 50 --bytes 200000 --seed 1 --time 0.5"
             " --runs 3\n"
             "            --repeat 10000,200000 --batch-samples 8192 (both sections)\n");
}

static bool parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.requests = 200, .hosts = 50, .bytes = 200000, .seed = 1, .seconds = 0.5,
                .runs = 3, .repeat = {10000, 200000}, .n_repeat = 2, .batch_samples = 8192,
                .many = true, .repeat_on = true};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (!v) return false;
    i++;
    char *end = NULL;
    errno = 0;
    if (strcmp(a, "--requests") == 0)
      o->requests = (uint32_t)strtoul(v, &end, 10);
    else if (strcmp(a, "--hosts") == 0)
      o->hosts = (uint32_t)strtoul(v, &end, 10);
    else if (strcmp(a, "--bytes") == 0)
      o->bytes = strtoull(v, &end, 10);
    else if (strcmp(a, "--seed") == 0)
      o->seed = strtoull(v, &end, 10);
    else if (strcmp(a, "--time") == 0)
      o->seconds = strtod(v, &end);
    else if (strcmp(a, "--runs") == 0)
      o->runs = (int)strtol(v, &end, 10);
    else if (strcmp(a, "--batch-samples") == 0)
      o->batch_samples = strtoull(v, &end, 10);
    else if (strcmp(a, "--only") == 0) {
      o->many = strcmp(v, "many") == 0;
      o->repeat_on = strcmp(v, "repeat") == 0;
      if (!o->many && !o->repeat_on) return false;
      continue;
    } else if (strcmp(a, "--repeat") == 0) {
      const char *p = v;
      for (o->n_repeat = 0; o->n_repeat < MAX_REPEAT; p = end + 1) {
        o->repeat[o->n_repeat++] = strtoull(p, &end, 10);
        if (errno || end == p || o->repeat[o->n_repeat - 1] == 0 ||
            o->repeat[o->n_repeat - 1] > PC_WORKLOAD_MAX_BYTES)
          return false;
        if (*end != ',') break;
      }
    } else
      return false;
    if (errno || !end || *end || end == v) return false;
  }
  return o->requests > 0 && o->hosts > 0 && o->bytes > 0 && o->bytes <= PC_WORKLOAD_MAX_BYTES &&
         o->seconds > 0 && o->runs > 0 && o->batch_samples > 0;
}

/* The many-hosts batch: tables, speed, memory. */
static int run_many(const opts_t *o) {
  ctx_t c = {0};
  int rc = make_inputs(o, &c);
  if (rc) {
    fprintf(stderr, "bench_merge: workload: %s\n", pc_strerror(rc));
    return 1;
  }
  printf("bench_merge: %" PRIu32 " requests from %" PRIu32 " hosts, %zu B of protobuf"
         " (%.0f B per request), seed %" PRIu64 "; best of %d x %.2f s\n",
         o->requests, o->hosts, c.total, (double)c.total / o->requests, o->seed, o->runs,
         o->seconds);
  c.b = pc_builder_new();
  if ((rc = op_merge(&c)) != 0 || (rc = op_encode(&c)) != 0) {
    fprintf(stderr, "bench_merge: merge: %s\n", pc_strerror(rc));
    return 1;
  }
  print_tables(&c, pc_builder_request(c.b), c.out.n);

  printf("\n%-14s %14s %12s %10s %9s\n", "op", "bytes/op", "ms/op", "MB/s", "x memcpy");
  static const char *const names[3] = {"memcpy", "merge", "encode batch"};
  static const op_fn fns[3] = {op_memcpy, op_merge, op_encode};
  double memcpy_mbps = 0;
  for (int op = 0; op < 3; op++) {
    double sec = measure(o, fns[op], &c);
    size_t bytes = op == 2 ? c.out.n : c.total;
    if (sec <= 0) {
      printf("%-14s failed: %s\n", names[op], pc_strerror((int)sec));
      continue;
    }
    double mbps = (double)bytes / sec / 1e6;
    if (op == 0) memcpy_mbps = mbps;
    printf("%-14s %14zu %12.3f %10.1f %9.4f\n", names[op], bytes, sec * 1e3, mbps,
           mbps / memcpy_mbps);
  }
  op_merge(&c); /* leave the builder holding one batch for the memory figures */
  print_memory(&c);
  pc_builder_free(c.b);
  pc_buf_free(&c.out);
  for (uint32_t i = 0; i < c.n; i++) {
    pc_buf_free(&c.in[i].pb);
    pc_arena_free(c.in[i].arena);
  }
  free(c.in);
  free(c.dst);
  return 0;
}

int main(int argc, char **argv) {
  opts_t o;
  if (!parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  if (o.many && run_many(&o)) return 1;
  if (o.repeat_on) run_repeat(&o);
  return 0;
}
