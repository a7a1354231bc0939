/* bench_tracelink.c - what trace linking costs (issue 15): the trace_link
 * processor per 200 KB request with a million spans in the span store,
 * the store's bytes per span, and the query API's latency for a trace with
 * 10,000 samples.
 *
 * The requests are --requests workload requests (workload.c, about --size
 * bytes of protobuf each, from as many hosts), whose samples of traced
 * services carry links (10-20% of their samples). The span table gets a span
 * for every link (parents up to a local root, in 12 services with 200 span
 * names), then random spans up to --spans. The processor runs with its
 * defaults (no delay, enrichment on, linked samples kept in a 128 MiB
 * window), as the extension's role would serve it.
 *
 * Processor cost: per request, the profiles pipeline profcol runs behind
 * the receiver, measured as CPU time of this process (single-threaded):
 *   base     decode the protobuf bytes, merge into a batch (8 MiB batches:
 *            encoded and gzip-compressed when full, as batch -> otlp_http)
 *   linked   the same with trace_link between decode and merge
 * all alternated run by run (--runs runs of --time seconds); the figure to
 * quote is the median over runs of linked / base from the same run. A
 * run's encode + gzip is charged per request by the output bytes it merged
 * at its pipeline's CPU per flushed byte (batch_t), not as the flushes that
 * happened to fall in the run. The same without the flush (decode and
 * merge only) is printed too: the stricter ratio.
 * Each pipeline first reads the body into its receiver's buffer, which it
 * lends to the window (as receiver/decode.c does; --copy yes: it does not,
 * and the window copies the bytes). That read into a reused buffer is taken
 * off every pipeline's time (it was no part of base); what receiving costs
 * trace_link's pipeline beyond it (a fresh buffer whenever the window kept
 * the last one) is counted in trace_link's.
 *
 * Store: bytes held per span with 1M spans (all of it, and without names).
 *
 * Query: a trace given --query-samples linked samples spread over 8
 * requests among the others, then GET /api/v1/traces/{id}/profile answered
 * (text and JSON) as the extension's server calls it: median and p99 over
 * --queries queries. MB = 10^6 B. */
#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../extension/internal.h"
#include "../pdata/intern.h"
#include "../processor/processor.h"
#include "warm_malloc.h"
#include "workload.h"

#define START_NS 1795176000000000000ull
#define BATCH_BYTES ((uint64_t)8 << 20)

typedef struct {
  uint32_t requests, spans, query_samples, queries;
  size_t size;
  double seconds;
  int runs;
  pc_workload_shape_t shape;
  const char *profile; /* base, window or nowindow: run only that loop (for perf);
                        * query: skip the processor */
  bool copy;           /* the receiver lends no buffer: the window copies (as before) */
  bool no_flush;       /* --profile: time decode + merge only (no encode + gzip) */
} opts_t;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the span store, as span_store.c serves the role ------------------------------ */

typedef struct {
  pc_span_store_t iface;
  pc_spans_t *spans;
  pc_linked_t *linked;
  uint64_t now; /* a clock that does not move: nothing expires during the bench */
} store_t;

static store_t *store_of(const pc_span_store_t *s) {
  return container_of((pc_span_store_t *)s, store_t, iface);
}
static void s_add_spans(const pc_span_store_t *self, const pc_traces_t *tr) {
  pc_spans_add(store_of(self)->spans, tr, store_of(self)->now);
}
static bool s_find(const pc_span_store_t *self, const uint8_t t[16], const uint8_t s[8],
                   pc_span_rec_t *sp, pc_span_rec_t *root, pc_span_rec_t *top) {
  return pc_spans_find(store_of(self)->spans, t, s, store_of(self)->now, sp, root, top);
}
static void s_find_many(const pc_span_store_t *self, const pc_link_t *keys, size_t n,
                        pc_span_rec_t *sp, pc_span_rec_t *roots, bool *found) {
  pc_spans_find_many(store_of(self)->spans, keys, n, store_of(self)->now, sp, roots, found);
}
static size_t s_on_thread(const pc_span_store_t *self, uint32_t pid, uint32_t tid,
                          uint64_t from, uint64_t to, pc_thread_span_t *out, size_t cap) {
  return pc_spans_on_thread(store_of(self)->spans, pid, tid, from, to, store_of(self)->now, out,
                            cap);
}
static void s_add_profiles(const pc_span_store_t *self, const pc_request_t *req) {
  pc_linked_add(store_of(self)->linked, req, store_of(self)->now);
}
static const void *s_role(void *self, pc_role_t role) {
  return role == PC_ROLE_SPAN_STORE ? &((store_t *)self)->iface : NULL;
}
static const pc_component_t store_comp = {.type = "span_store", .kind = PC_EXTENSION,
                                          .role = s_role};

/* ---- the pipeline behind the processor: a batch ------------------------------------ */

/* A batch flushes every 8 MiB of output, a few times a second of a run:
 * one pipeline's run may see a flush more or less than another's, which
 * alone moved a run's ratio by x0.4 .. x6. So the flush's CPU is kept
 * apart (flush_cpu, over every flush of the pipeline so far) and each
 * request is charged its share by the output bytes it merged: the same
 * encode + gzip, amortized over the bytes that cause it. */
typedef struct {
  pc_consumer_t c;
  pc_builder_t *b;
  bool flush; /* encode + gzip full batches */
  pc_buf_t pb, gz;
  uint64_t batches;
  double flush_cpu;       /* thread CPU of all flushes */
  uint64_t flushed_bytes; /* output bytes (builder stats) of the batches flushed */
  uint64_t merged_bytes;  /* output bytes merged (growth of the stats per add) */
} batch_t;

static double thread_cpu(void);

static void batch_take(batch_t *bt, const pc_request_t *req) {
  pc_err_t err;
  uint64_t before = pc_builder_stats(bt->b)->out_bytes;
  if (pc_builder_add(bt->b, req, &err)) {
    fprintf(stderr, "merge: %s\n", err.msg);
    exit(1);
  }
  uint64_t out = pc_builder_stats(bt->b)->out_bytes;
  bt->merged_bytes += out - before;
  if (out < BATCH_BYTES) return;
  if (bt->flush) {
    double t0 = thread_cpu();
    bt->pb.n = bt->gz.n = 0;
    if (pc_builder_encode(bt->b, &bt->pb) || pc_compress(PC_ENC_GZIP, 0, bt->pb.p, bt->pb.n, &bt->gz))
      exit(1);
    bt->flush_cpu += thread_cpu() - t0;
    bt->flushed_bytes += out;
  }
  pc_builder_reset(bt->b);
  bt->batches++;
}

static int batch_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)err;
  batch_take((batch_t *)self, req);
  return 0;
}

/* ---- inputs -------------------------------------------------------------------------- */

typedef struct {
  pc_buf_t pb;
} input_t;

static const char *const services[12] = {"frontend", "checkout", "cart", "payment", "shipping",
                                         "email", "currency", "ads", "recommendation", "quote",
                                         "accounting", "fraud"};

static void span_name(uint32_t i, char *out, size_t n) {
  static const char *const verbs[] = {"GET", "POST", "PUT", "db.query", "rpc", "publish",
                                      "render", "cache.get"};
  snprintf(out, n, "%s /api/v%u/%s/%u", verbs[i % 8], i % 3 + 1, services[i % 12], i % 200);
}

/* Spans in a traces model: chunks of up to 1024, one resource per service. */
typedef struct {
  pc_arena_t *a;
  pc_span_t spans[12][1024];
  uint32_t n[12];
  char names[12][1024][64];
  uint8_t ids[12][1024][32];
} span_batch_t;

static void flush_spans(span_batch_t *sb, store_t *st) {
  pc_traces_t tr = {0};
  pc_resource_spans_t rs[12];
  pc_scope_spans_t ss[12];
  pc_keyvalue_t kv[12];
  for (int s = 0; s < 12; s++) {
    kv[s] = (pc_keyvalue_t){.key = PC_STR_LIT("service.name"), .has_value = true,
                            .value = {.type = PC_AV_STRING,
                                      .u.s = {(const uint8_t *)services[s], strlen(services[s])}}};
    ss[s] = (pc_scope_spans_t){.spans = sb->spans[s], .n_spans = sb->n[s]};
    rs[s] = (pc_resource_spans_t){.has_resource = true, .resource.attributes = {&kv[s], 1},
                                  .scopes = &ss[s], .n_scopes = 1};
  }
  tr.resources = rs;
  tr.n_resources = 12;
  st->iface.add_spans(&st->iface, &tr);
  memset(sb->n, 0, sizeof sb->n);
}

static void add_span(span_batch_t *sb, store_t *st, const uint8_t trace[16], const uint8_t span[8],
                     const uint8_t *parent, uint32_t i) {
  int s = (int)(i % 12);
  if (sb->n[s] == 1024) flush_spans(sb, st);
  uint32_t k = sb->n[s]++;
  uint8_t *ids = sb->ids[s][k];
  memcpy(ids, trace, 16);
  memcpy(ids + 16, span, 8);
  if (parent) memcpy(ids + 24, parent, 8);
  span_name(i, sb->names[s][k], sizeof sb->names[s][k]);
  sb->spans[s][k] = (pc_span_t){.trace_id = {ids, 16}, .span_id = {ids + 16, 8},
                                .parent_span_id = {ids + 24, parent ? 8 : 0},
                                .name = {(const uint8_t *)sb->names[s][k], strlen(sb->names[s][k])},
                                .start_time_unix_nano = START_NS + i,
                                .end_time_unix_nano = START_NS + i + 1000000};
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* A span for every link of the inputs (with a parent: a local root chain of
 * two), then random ones up to total. Returns the spans added. */
static uint64_t fill_store(store_t *st, input_t *in, uint32_t n, uint32_t total) {
  span_batch_t *sb = calloc(1, sizeof *sb);
  uint64_t added = 0;
  pc_arena_t *a = pc_arena_new(1 << 20);
  for (uint32_t r = 0; r < n; r++) {
    pc_request_t req;
    pc_err_t err;
    pc_arena_reset(a);
    if (pc_proto_decode(a, in[r].pb.p, in[r].pb.n, &req, &err)) exit(1);
    for (uint32_t l = 1; l < req.dict.n_links; l++) {
      const pc_link_t *lk = &req.dict.links[l];
      uint8_t root[8];
      memcpy(root, lk->span_id.p, 8);
      root[0] ^= 0xff;
      add_span(sb, st, lk->trace_id.p, root, NULL, (uint32_t)added++);
      add_span(sb, st, lk->trace_id.p, lk->span_id.p, root, (uint32_t)added++);
    }
  }
  while (added < total) {
    uint8_t t[16], s[8];
    uint64_t x = next_rand(), y = next_rand(), z = next_rand();
    memcpy(t, &x, 8), memcpy(t + 8, &y, 8), memcpy(s, &z, 8);
    add_span(sb, st, t, s, NULL, (uint32_t)added++);
  }
  flush_spans(sb, st);
  pc_arena_free(a);
  free(sb);
  return added;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- lookups -------------------------------------------------------------------------- */

/* ns per link of find (span and local root) one link at a time, and of
 * find_many 16 at a time, over the links of the inputs. */
static void bench_lookups(const opts_t *o, input_t *in, store_t *st) {
  pc_arena_t *a = pc_arena_new(1 << 20);
  pc_link_t *links = NULL;
  size_t n = 0, cap = 0;
  for (uint32_t r = 0; r < o->requests; r++) {
    pc_request_t req;
    pc_err_t err;
    if (pc_proto_decode(a, in[r].pb.p, in[r].pb.n, &req, &err)) exit(1);
    for (uint32_t l = 1; l < req.dict.n_links; l++) {
      if (n == cap) links = pc_xrealloc(links, (cap = cap ? 2 * cap : 1024) * sizeof *links);
      links[n++] = req.dict.links[l];
    }
  }
  static pc_span_rec_t sp[16], root[16];
  bool found[16];
  double t_one = 0, t_many = 0;
  uint64_t done = 0;
  /* Each pass starts with the caches emptied of the table (64 MB written
   * elsewhere): a few thousand links' records would fit, and the second
   * of two passes would find them there. */
  size_t flush_n = (size_t)64 << 20;
  uint8_t *flush = pc_xmalloc(flush_n);
  for (int run = 0; run < 6; run++) {
    memset(flush, run, flush_n);
    double t0 = thread_cpu();
    if (run % 2 == 0) {
      for (size_t i = 0; i < n; i++)
        st->iface.find(&st->iface, links[i].trace_id.p, links[i].span_id.p, sp, root, NULL);
      t_one += thread_cpu() - t0;
    } else {
      for (size_t i = 0; i < n; i += 16)
        st->iface.find_many(&st->iface, &links[i], n - i < 16 ? n - i : 16, sp, root, found);
      t_many += thread_cpu() - t0;
    }
  }
  done = 3 * n;
  free(flush);
  printf("  lookups of a link's span and local root: find %.0f ns per link, find_many (16 at a "
         "time) %.0f ns per link (%zu links)\n", t_one / (double)done * 1e9,
         t_many / (double)done * 1e9, n);
  free(links);
  pc_arena_free(a);
}

/* ---- processor cost ----------------------------------------------------------------------- */

/* What a receiver does with each body (httpd/http_server.c, receiver/
 * decode.c): it reads it into its buffer, reused request after request,
 * and lends that buffer to a consumer that keeps the request's bytes (the
 * window); a buffer kept is the keeper's, and the next body gets another
 * one, of the size the HTTP server rounds a body's buffer up to: one the
 * window let go of (core.h's spares) when there is one, as the HTTP server
 * does, else a fresh one. */
#define BODY_ROUND ((size_t)64 << 10)

typedef struct {
  pc_buf_t body;
  pc_bytes_t *kept;
  pc_bytes_lender_t lender;
  uint64_t fresh; /* bodies read into another buffer because the window kept the last one */
} rx_t;

static pc_bytes_t *rx_keep(pc_bytes_lender_t *l) {
  rx_t *rx = container_of(l, rx_t, lender);
  if (!rx->kept) rx->kept = pc_bytes_from_buf_take(&rx->body);
  return pc_bytes_ref(rx->kept);
}

typedef struct {
  input_t *in;
  uint32_t n;
  pc_arena_t *arena;
  batch_t *bt;
  pc_consumer_t *tl; /* NULL: the base pipeline */
  batch_t *out;      /* the batch it ends in (bt, or trace_link's next) */
  bool copy;         /* lend no buffer: the window copies the bytes (--copy) */
  rx_t rx;
} run_t;

/* Request i through r's pipeline; returns the thread CPU time of its
 * receiving (the body read into the receiver's buffer), which the caller
 * counts as part of the request's. */
static double one_request(run_t *r, uint32_t i) {
  pc_arena_reset(r->arena);
  const pc_buf_t *pb = &r->in[i].pb;
  double t0 = thread_cpu();
  rx_t *rx = &r->rx;
  if (rx->body.cap < pb->n) {
    size_t cap = (pb->n + BODY_ROUND - 1) / BODY_ROUND * BODY_ROUND;
    rx->fresh += rx->body.cap == 0;
    pc_buf_free(&rx->body);
    if (!pc_spare_take(cap, cap, &rx->body) && pc_buf_reserve(&rx->body, cap)) exit(1);
  }
  memcpy(rx->body.p, pb->p, pb->n); /* as recv(2) would */
  rx->body.n = pb->n;
  double t_rx = thread_cpu() - t0;
  pc_request_t req;
  pc_err_t err;
  if (pc_proto_decode(r->arena, rx->body.p, rx->body.n, &req, &err)) exit(1);
  rx->lender = (pc_bytes_lender_t){.keep = rx_keep, .cap = rx->body.cap};
  if (!r->copy) req.encoded_lender = &rx->lender;
  if (r->tl) {
    if (r->tl->consume_profiles(r->tl, &req, &err)) {
      fprintf(stderr, "trace_link: %s\n", err.msg);
      exit(1);
    }
  } else {
    batch_take(r->bt, &req);
  }
  pc_bytes_unref(rx->kept); /* the request is answered */
  rx->kept = NULL;
  return t_rx;
}

static void one_pass(run_t *r) {
  for (uint32_t i = 0; i < r->n; i++) one_request(r, i);
}

/* CPU seconds per request of each of n pipelines, interleaved request by
 * request (in a rotating order) for o->seconds, so that whatever else the
 * machine does hits them alike; and of that, the receiving (rx). With
 * flushes, a request's flush CPU is replaced by its share (batch_t): the
 * output bytes it merged at the pipeline's CPU per flushed byte so far. */
static void per_request(const opts_t *o, run_t **r, int n, double *out, double *rx) {
  double acc[3] = {0}, acc_rx[3] = {0}, flush0[3];
  uint64_t merged0[3];
  for (int k = 0; k < n; k++) flush0[k] = r[k]->out->flush_cpu, merged0[k] = r[k]->out->merged_bytes;
  uint64_t reqs = 0;
  double wall = wall_now();
  do {
    for (uint32_t i = 0; i < r[0]->n; i++, reqs++)
      for (int k = 0; k < n; k++) {
        int p = (int)((i + (uint32_t)k) % (uint32_t)n);
        double t0 = thread_cpu();
        acc_rx[p] += one_request(r[p], i);
        acc[p] += thread_cpu() - t0;
      }
  } while (wall_now() - wall < o->seconds);
  for (int k = 0; k < n; k++) {
    const batch_t *bt = r[k]->out;
    if (bt->flushed_bytes) /* else no flush yet: nothing to amortize */
      acc[k] += (double)(bt->merged_bytes - merged0[k]) * (bt->flush_cpu / (double)bt->flushed_bytes) -
                (bt->flush_cpu - flush0[k]);
    out[k] = acc[k] / (double)reqs, rx[k] = acc_rx[k] / (double)reqs;
  }
}

static void *make_trace_link(const char *yaml, pc_consumer_t *next, pc_host_t *host,
                             pc_cfg_t **cfg) {
  pc_err_t err = {0};
  *cfg = pc_cfg_load_string("bench", yaml, &err);
  pc_create_args_t args = {.id = "trace_link", .cfg = pc_cfg_root(*cfg), .next = next,
                           .signals = PC_SIGNAL_PROFILES};
  void *tl = *cfg ? pc_processor_trace_link.create(&args, &err) : NULL;
  if (!tl || pc_processor_trace_link.resolve(tl, host, &err)) {
    fprintf(stderr, "trace_link: %s\n", err.msg);
    exit(1);
  }
  return tl;
}

static void bench_processor(const opts_t *o, input_t *in, store_t *st, bool flush) {
  /* A batch each: a pipeline's batch holds only what it merged. */
  batch_t bt[3];
  for (int k = 0; k < 3; k++)
    bt[k] = (batch_t){.c.consume_profiles = batch_consume, .b = pc_builder_new(), .flush = flush};
  pc_host_t *host = pc_host_new();
  pc_host_add(host, "span_store", &store_comp, st);
  pc_cfg_t *cfg_w, *cfg_n;
  void *tl_w = make_trace_link("{}", &bt[1].c, host, &cfg_w);
  void *tl_n = make_trace_link(getenv("TLCFG") ? getenv("TLCFG") : "query_window: false",
                               &bt[2].c, host, &cfg_n);
  run_t base = {.in = in, .n = o->requests, .arena = pc_arena_new(1 << 20), .bt = &bt[0],
                .out = &bt[0]};
  run_t linked = base, nowin = base;
  linked.tl = pc_processor_trace_link.consumer(tl_w);
  linked.out = &bt[1];
  linked.copy = o->copy;
  nowin.tl = pc_processor_trace_link.consumer(tl_n);
  nowin.out = &bt[2];
  run_t *runs[3] = {&base, &linked, &nowin};
  /* Warm up, and fill the window to its cap: it then runs as it does for
   * good, dropping a chunk for each one it takes. */
  one_pass(&base);
  one_pass(&nowin);
  for (int i = 0; i < 10000; i++) {
    pc_linked_stats_t ls;
    pc_linked_stats(st->linked, &ls);
    if (ls.evicted_memory > o->requests) break;
    one_pass(&linked);
  }
  if (o->profile) { /* one loop only, for a profiler */
    run_t *r = !strcmp(o->profile, "base") ? &base : !strcmp(o->profile, "window") ? &linked : &nowin;
    double t, t_rx;
    per_request(o, &r, 1, &t, &t_rx);
    printf("  %s only: %.1f us/request\n", o->profile, t * 1e6);
    exit(0);
  }
  /* A ratio is taken within a run, and the median of them quoted. The
   * body's read into a reused buffer is no part of the pipeline measured
   * (base, as before this bench had a receiver): it comes off every
   * pipeline's time; what a pipeline's receiving costs beyond it (fresh
   * buffers, when the window keeps them) stays in that pipeline's. */
  double *rl = pc_xcalloc((size_t)o->runs, sizeof *rl), *rn = pc_xcalloc((size_t)o->runs, sizeof *rn);
  double *tb = pc_xcalloc((size_t)o->runs, sizeof *tb);
  double *rxb = pc_xcalloc((size_t)o->runs, sizeof *rxb), *rxl = pc_xcalloc((size_t)o->runs, sizeof *rxl);
  uint64_t fresh0 = linked.rx.fresh;
  for (int i = 0; i < o->runs; i++) {
    double t[3], rx[3];
    per_request(o, runs, 3, t, rx);
    tb[i] = t[0] - rx[0];
    rl[i] = (t[1] - rx[0]) / tb[i];
    rn[i] = (t[2] - rx[0]) / tb[i];
    rxb[i] = rx[0];
    rxl[i] = rx[1];
  }
  qsort(rxb, (size_t)o->runs, sizeof *rxb, cmp_double);
  qsort(rxl, (size_t)o->runs, sizeof *rxl, cmp_double);
  qsort(rl, (size_t)o->runs, sizeof *rl, cmp_double);
  qsort(rn, (size_t)o->runs, sizeof *rn, cmp_double);
  qsort(tb, (size_t)o->runs, sizeof *tb, cmp_double);
  int m = o->runs / 2;
  printf("  %s: base %.1f us/request (median%s)\n"
         "    with trace_link: x %.3f (median; runs %.3f .. %.3f), %.1f us more per request\n"
         "    without its query window: x %.3f (%.3f .. %.3f), %.1f us more\n",
         flush ? "decode + merge + encode + gzip" : "decode + merge (no flush)", tb[m] * 1e6,
         flush ? "; encode + gzip charged by output bytes at each pipeline's CPU per flushed byte" : "",
         rl[m], rl[0], rl[o->runs - 1], (rl[m] - 1) * tb[m] * 1e6, rn[m], rn[0],
         rn[o->runs - 1], (rn[m] - 1) * tb[m] * 1e6);
  printf("    receiving (not counted in base): %.1f us/request into a reused buffer, %.1f "
         "with trace_link (%" PRIu64 " bodies into another buffer, a spare or a new one: the "
         "window kept the last one)\n",
         rxb[o->runs / 2] * 1e6, rxl[o->runs / 2] * 1e6, linked.rx.fresh - fresh0);
  free(rl);
  free(rn);
  free(tb);
  free(rxb);
  free(rxl);
  pc_processor_trace_link.destroy(tl_w);
  pc_processor_trace_link.destroy(tl_n);
  pc_cfg_free(cfg_w);
  pc_cfg_free(cfg_n);
  pc_host_free(host);
  for (int k = 0; k < 3; k++) {
    pc_builder_free(bt[k].b);
    pc_buf_free(&bt[k].pb);
    pc_buf_free(&bt[k].gz);
  }
  pc_arena_free(base.arena);
  for (int k = 0; k < 3; k++) pc_buf_free(&runs[k]->rx.body);
}

/* ---- query latency ----------------------------------------------------------------------- */

/* n samples linked to trace t (a long request on many threads): requests
 * whose every sample is relinked to one of four spans of t until n are
 * given, each after another request of other traces. */
static void add_query_trace(const opts_t *o, store_t *st, input_t *in, const uint8_t t[16]) {
  pc_arena_t *a = pc_arena_new(1 << 20);
  uint32_t left = o->query_samples, per = UINT32_MAX;
  static uint8_t spans[4][8];
  for (int k = 0; k < 4; k++) memset(spans[k], 0x40 + k, 8);
  for (uint32_t q = 0; left; q++) {
    for (uint32_t r = 0; r < 1; r++) { /* other traffic between them */
      pc_request_t req;
      pc_err_t err;
      pc_arena_reset(a);
      pc_proto_decode(a, in[(q * 4 + r) % o->requests].pb.p, in[(q * 4 + r) % o->requests].pb.n,
                      &req, &err);
      st->iface.add_profiles(&st->iface, &req);
    }
    pc_request_t req;
    pc_err_t err;
    pc_arena_reset(a);
    if (pc_proto_decode(a, in[q % o->requests].pb.p, in[q % o->requests].pb.n, &req, &err)) exit(1);
    pc_link_t *links = pc_arena_calloc(a, 5, sizeof *links);
    static const uint8_t zeros[16];
    links[0] = (pc_link_t){{zeros, 16}, {zeros, 8}};
    for (int k = 0; k < 4; k++) links[k + 1] = (pc_link_t){{t, 16}, {spans[k], 8}};
    req.dict.links = links;
    req.dict.n_links = 5;
    uint32_t linked = 0;
    for (uint32_t rr = 0; rr < req.n_resources; rr++)
      for (uint32_t s = 0; s < req.resources[rr].n_scopes; s++)
        for (uint32_t k = 0; k < req.resources[rr].scopes[s].n_profiles; k++) {
          pc_profile_t *p = &req.resources[rr].scopes[s].profiles[k];
          for (uint32_t i = 0; i < p->n_samples; i++) {
            bool take = linked < per && linked < left;
            p->samples[i].link_index = take ? (int32_t)(1 + i % 4) : 0;
            linked += take;
          }
        }
    left -= linked;
    /* As a receiver would hand it on: decoded from its bytes. */
    pc_buf_t pb = {0};
    pc_request_t again;
    if (pc_proto_encode(&req, &pb) || pc_proto_decode(a, pb.p, pb.n, &again, &err)) exit(1);
    st->iface.add_profiles(&st->iface, &again);
    pc_buf_free(&pb);
  }
  pc_arena_free(a);
}

static void bench_query(const opts_t *o, store_t *st, input_t *in) {
  uint8_t t[16];
  memset(t, 0x5b, 16);
  add_query_trace(o, st, in, t);
  char url[128] = "/api/v1/traces/";
  for (int i = 0; i < 16; i++) sprintf(url + 15 + 2 * i, "%02x", t[i]);
  strcat(url, "/profile");
  double *lat = pc_xcalloc(o->queries, sizeof *lat);
  for (int json = 0; json < 2; json++) {
    pc_md_pair_t accept = {PC_STR_LIT("Accept"), PC_STR_LIT("application/json")};
    pc_http_request_t r = {.method = HTTP_GET, .url = {(const uint8_t *)url, strlen(url)},
                           .path = {(const uint8_t *)url, strlen(url)},
                           .headers = {json ? &accept : NULL, json ? 1 : 0}};
    pc__query_t qy = {.spans = st->spans, .linked = st->linked, .window_ms = 3600000,
                      .now_ms = st->now, .wall_ms = 1795176000000ull};
    size_t bytes = 0;
    uint64_t samples = 0;
    for (uint32_t q = 0; q < o->queries; q++) {
      pc_http_response_t resp = {0};
      double start = wall_now();
      pc__query_answer(&qy, &r, &resp);
      lat[q] = wall_now() - start;
      if (resp.status != 200) {
        fprintf(stderr, "query: %d %.*s\n", resp.status, (int)resp.body.n, (const char *)resp.body.p);
        exit(1);
      }
      bytes = resp.body.n;
      pc_buf_free(&resp.body);
      pc_buf_free(&resp.headers);
    }
    if (!json) {
      pc_linked_sel_t sel;
      pc_err_t err;
      pc_linked_select(st->linked, t, st->now, &sel, &err);
      samples = sel.samples;
      printf("  the trace: %" PRIu64 " linked samples in %zu chunks (%zu requests decoded per "
             "query)\n", samples, sel.n_chunks, sel.n_reqs);
      pc_linked_sel_free(&sel);
    }
    qsort(lat, o->queries, sizeof *lat, cmp_double);
    printf("  GET .../profile (%s): median %.2f ms, p99 %.2f ms, %zu bytes of answer\n",
           json ? "JSON" : "folded", lat[o->queries / 2] * 1e3,
           lat[(size_t)((double)o->queries * 0.99)] * 1e3, bytes);
  }
  free(lat);
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr, "usage: bench_tracelink [--requests N] [--size BYTES] [--spans N] "
                  "[--time S] [--runs N] [--query-samples N] [--queries N] "
                  "[--shape dictionary|samples] [--profile base|window|nowindow|query] "
                  "[--copy yes|no] [--flush yes|no]\n");
  exit(2);
}

int main(int argc, char **argv) {
  pc_warm_malloc(); /* a warm server's malloc thresholds (warm_malloc.c) */
  opts_t o = {.requests = 20, .size = 200000, .spans = 1000000, .seconds = 1.0, .runs = 3,
              .query_samples = 10000, .queries = 50};
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    const char *k = argv[i], *v = argv[++i];
    if (!strcmp(k, "--requests")) o.requests = (uint32_t)atoi(v);
    else if (!strcmp(k, "--size")) o.size = (size_t)atol(v);
    else if (!strcmp(k, "--spans")) o.spans = (uint32_t)atol(v);
    else if (!strcmp(k, "--time")) o.seconds = atof(v);
    else if (!strcmp(k, "--runs")) o.runs = atoi(v);
    else if (!strcmp(k, "--query-samples")) o.query_samples = (uint32_t)atol(v);
    else if (!strcmp(k, "--queries")) o.queries = (uint32_t)atoi(v);
    else if (!strcmp(k, "--profile")) o.profile = v;
    else if (!strcmp(k, "--copy")) o.copy = !strcmp(v, "yes");
    else if (!strcmp(k, "--flush")) o.no_flush = !strcmp(v, "no");
    else if (!strcmp(k, "--shape") && !strcmp(v, "dictionary")) o.shape = PC_WORKLOAD_DICTIONARY;
    else if (!strcmp(k, "--shape") && !strcmp(v, "samples")) o.shape = PC_WORKLOAD_SAMPLES;
    else usage();
  }
  if (!o.requests || !o.runs || !o.queries) usage();
  input_t *in = pc_xcalloc(o.requests, sizeof *in);
  uint64_t links = 0, samples = 0, linked = 0;
  size_t total = 0;
  for (uint32_t r = 0; r < o.requests; r++) {
    pc_arena_t *a = pc_arena_new(1 << 20);
    pc_request_t req;
    pc_workload_opts_t wo = {.seed = 1, .target_bytes = o.size, .hosts = 1, .first_host = r,
                             .start_time_unix_nano = START_NS, .shape = o.shape};
    if (pc_workload_build(a, &wo, &req) || pc_proto_encode(&req, &in[r].pb)) return 1;
    links += req.dict.n_links - 1;
    samples += pc_request_sample_count(&req);
    for (uint32_t rr = 0; rr < req.n_resources; rr++)
      for (uint32_t s = 0; s < req.resources[rr].n_scopes; s++)
        for (uint32_t k = 0; k < req.resources[rr].scopes[s].n_profiles; k++)
          for (uint32_t i = 0; i < req.resources[rr].scopes[s].profiles[k].n_samples; i++)
            linked += req.resources[rr].scopes[s].profiles[k].samples[i].link_index > 0;
    total += in[r].pb.n;
    pc_arena_free(a);
  }
  printf("requests: %u of %.1f KB on average, %" PRIu64 " samples, %" PRIu64 " linked (%.1f%%), "
         "%" PRIu64 " links\n", o.requests, (double)total / o.requests / 1e3, samples, linked,
         100.0 * (double)linked / (double)samples, links);

  store_t st = {.now = 1000};
  pc_spans_cfg_t sc = {.window_ms = 3600000, .max_bytes = (uint64_t)1 << 30};
  pc_linked_cfg_t lc = {.window_ms = 3600000, .max_bytes = (uint64_t)128 << 20};
  st.spans = pc_spans_new(&sc);
  st.linked = pc_linked_new(&lc);
  st.iface = (pc_span_store_t){.add_spans = s_add_spans, .find = s_find, .find_many = s_find_many,
                              .on_thread = s_on_thread, .add_profiles = s_add_profiles};
  double t0 = wall_now();
  uint64_t added = fill_store(&st, in, o.requests, o.spans);
  double fill = wall_now() - t0;
  pc_spans_stats_t ss;
  pc_spans_stats(st.spans, &ss);
  printf("\nspan store: %" PRIu64 " spans (%" PRIu64 " added in %.2f s, %.0f ns per span): "
         "%.1f MB held, %.1f bytes per span; without names %.1f bytes per span "
         "(%.1f MB of names, 200 distinct x 12 services)\n", ss.spans, added, fill,
         fill / (double)added * 1e9, (double)ss.bytes / 1e6,
         (double)ss.bytes / (double)ss.spans,
         (double)(ss.bytes - ss.string_bytes) / (double)ss.spans, (double)ss.string_bytes / 1e6);

  bench_lookups(&o, in, &st);
  if (!o.profile || strcmp(o.profile, "query")) {
    printf("\nprocessor cost per request (thread CPU time, pipelines interleaved request by "
           "request, %d runs of %.1f s):\n", o.runs, o.seconds);
    if (!o.no_flush) bench_processor(&o, in, &st, true);
    bench_processor(&o, in, &st, false);
  }
  pc_spans_stats(st.spans, &ss);
  printf("  lookups: %" PRIu64 ", found %.1f%%\n", ss.lookups,
         100.0 * (double)ss.found / (double)(ss.lookups ? ss.lookups : 1));

  printf("\nquery API latency (%u queries):\n", o.queries);
  bench_query(&o, &st, in);
  pc_linked_stats_t ls;
  pc_linked_stats(st.linked, &ls);
  printf("  window: %" PRIu64 " linked samples of %" PRIu64 " traces in %" PRIu64 " chunks, "
         "%.1f MB\n", ls.samples, ls.traces, ls.chunks, (double)ls.bytes / 1e6);
  pc_spans_free(st.spans);
  pc_linked_free(st.linked);
  for (uint32_t r = 0; r < o.requests; r++) pc_buf_free(&in[r].pb);
  free(in);
  return 0;
}
