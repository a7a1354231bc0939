/* test_processor.c - the processor suite: one TCase per source file of
 * processor/. batch, dedup, memory_limiter and resource are here; the
 * attribute editing ones (attraction.c, regex.c, match.c, attributes.c,
 * detectors.c, resource_detection.c) and k8s_attributes with its
 * Kubernetes client (k8s*.c) are in tests/processor/. Batch and
 * dedup run on a real libuv loop, feeding a recording consumer that checks every batch
 * it is given and can refuse with PC_EAGAIN or for good. What comes out is
 * compared with what went in as multisets of materialized samples
 * (tests/pdata/materialize.c): nothing lost, nothing twice. Every test runs
 * twice: once with a recorder that takes trees (consume_profiles), once with
 * one that takes encoded batches (consume_encoded), as the protobuf
 * exporters do. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../bench/workload.h"
#include "../config/config.h"
#include "../pdata/intern.h"
#include "../processor/processor.h"
#include "pdata/materialize.h"
#include "pdata/randreq.h"
#include "processor/common.h"
#include "processor/test_trace_link.h"

/* ---- the recording consumer ------------------------------------------------------ */

typedef struct {
  pc_consumer_t c; /* first */
  pc_mat_t got;    /* samples of every accepted batch */
  uint32_t calls, accepted;
  uint32_t eagain_left; /* refuse with PC_EAGAIN this many times first */
  int fail_rc;          /* when set, refuse for good with it */
  uint64_t samples[256]; /* per accepted batch */
  size_t encoded[256];
  char tenant[256][16]; /* x-scope-orgid of each accepted batch, "-" when none */
  size_t md_pairs[256]; /* pairs of metadata it carried */
  uint64_t at_ms[256];  /* when it came (uv_hrtime) */
  uint32_t tree_calls, encoded_calls; /* by which call batches came */
  int problems;
  char why[300];
} rec_t;

/* Set by the "-encoded" test cases: recorders take encoded batches. */
static bool rec_encoded;

static void take_encoded(void) { rec_encoded = true; }

static int rec_take(rec_t *r, pc_request_t *req, pc_err_t *err) {
  r->calls++;
  if (r->eagain_left) {
    r->eagain_left--;
    return pc_err_set(err, PC_EAGAIN, "recorder is full");
  }
  if (r->fail_rc) return pc_err_set(err, r->fail_rc, "recorder refuses");
  char why[300];
  int problems = pc_mat_check_batch(req, why, sizeof why);
  if (problems && !r->problems) snprintf(r->why, sizeof r->why, "%s", why);
  r->problems += problems;
  pc_mat_add(&r->got, req);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(req, &pb), 0);
  ck_assert_uint_lt(r->accepted, 256);
  r->encoded[r->accepted] = pb.n;
  pc_str_t v;
  bool has = pc_md_get(req->metadata, PC_STR_LIT("X-Scope-OrgID"), 0, &v);
  snprintf(r->tenant[r->accepted], sizeof r->tenant[0], "%.*s", has ? (int)v.n : 1,
           has ? (const char *)v.p : "-");
  r->md_pairs[r->accepted] = req->metadata ? req->metadata->n : 0;
  r->at_ms[r->accepted] = uv_hrtime() / 1000000;
  r->samples[r->accepted++] = pc_request_sample_count(req);
  pc_buf_free(&pb);
  return 0;
}

static int rec_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  rec_t *r = (rec_t *)self;
  r->tree_calls++;
  return rec_take(r, req, err);
}

/* An encoded batch must decode, hold what its counts say, and is then
 * checked as a tree. */
static int rec_consume_encoded(pc_consumer_t *self, pc_body_t *enc, pc_err_t *err) {
  rec_t *r = (rec_t *)self;
  r->encoded_calls++;
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_err_t derr = {0};
  const pc_bytes_t *pb = enc->v[PC_ENC_IDENTITY];
  ck_assert_msg(pc_proto_decode(a, pb->p, pb->n, &req, &derr) == 0, "%s", derr.msg);
  ck_assert_uint_eq(enc->profiles, pc_request_profile_count(&req));
  ck_assert_uint_eq(enc->samples, pc_request_sample_count(&req));
  pc_metadata_t md = {0};
  if (enc->md) ck_assert_int_eq(pc_md_decode(enc->md->p, enc->md->n, &md), 0);
  req.metadata = enc->md ? &md : NULL;
  int rc = rec_take(r, &req, err);
  free((void *)md.v);
  pc_arena_free(a);
  return rc;
}

static void rec_init(rec_t *r) {
  memset(r, 0, sizeof *r);
  r->c.consume_profiles = rec_consume;
  if (rec_encoded) r->c.consume_encoded = rec_consume_encoded;
  r->c.retry_after_s = 2;
}

/* ---- a processor under test --------------------------------------------------------- */

typedef struct {
  const pc_component_t *type;
  void *inst;
  pc_consumer_t *in;
  pc_cfg_t *cfg;
  uv_loop_t loop;
  int done_calls;
  pc_mat_t sent; /* what was accepted from the test */
} fixture_t;

static void on_done(void *arg) { (*(int *)arg)++; }

static void *try_create(const pc_component_t *type, const char *yaml, pc_consumer_t *next,
                        pc_cfg_t **cfg, pc_err_t *err) {
  *cfg = pc_cfg_load_string("test.yaml", yaml, err);
  ck_assert_msg(*cfg != NULL, "yaml: %s", err->msg);
  pc_create_args_t args = {.id = type->type, .cfg = pc_cfg_root(*cfg), .next = next,
                           .signals = PC_SIGNAL_PROFILES};
  return type->create(&args, err);
}

/* type refuses yaml with PC_EINVAL, a message holding want, and the place. */
static void assert_refused(const pc_component_t *type, const char *yaml, const char *want) {
  rec_t rec;
  rec_init(&rec);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = try_create(type, yaml, &rec.c, &cfg, &err);
  ck_assert_msg(inst == NULL, "accepted: %s", yaml);
  ck_assert_msg(strstr(err.msg, want) != NULL, "%s: got \"%s\", want \"%s\"", yaml, err.msg,
                want);
  ck_assert_int_eq(err.code, PC_EINVAL);
  ck_assert_msg(err.line > 0 && err.col > 0 && strstr(err.msg, "test.yaml:"),
                "no file:line:col for: %s (%s)", yaml, err.msg);
  pc_cfg_free(cfg);
}

static void fx_open(fixture_t *f, const pc_component_t *type, const char *yaml, rec_t *rec,
                    bool start) {
  memset(f, 0, sizeof *f);
  f->type = type;
  pc_err_t err = {0};
  f->inst = try_create(type, yaml, &rec->c, &f->cfg, &err);
  ck_assert_msg(f->inst != NULL, "create: %s", err.msg);
  f->in = type->consumer(f->inst);
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  if (start) ck_assert_int_eq(type->start(f->inst, &f->loop, &err), 0);
}

/* Give req to the processor; remember it when accepted. */
static int fx_send(fixture_t *f, pc_request_t *req) {
  pc_err_t err = {0};
  int rc = f->in->consume_profiles(f->in, req, &err);
  if (rc == 0) pc_mat_add(&f->sent, req);
  return rc;
}

static void fx_shutdown(fixture_t *f, uint64_t wait_ms) {
  f->type->shutdown(f->inst, uv_now(&f->loop) + wait_ms, on_done, &f->done_calls);
  ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(f->done_calls, 1);
}

/* After shutdown: the recorder got exactly what was accepted. */
static void fx_close(fixture_t *f, rec_t *rec) {
  f->type->destroy(f->inst);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  pc_cfg_free(f->cfg);
  pc_mat_sort(&f->sent);
  pc_mat_sort(&rec->got);
  char why[400];
  ck_assert_msg(pc_mat_eq(&f->sent, &rec->got, why, sizeof why), "%s", why);
  ck_assert_msg(rec->problems == 0, "%d problems in batches, first: %s", rec->problems, rec->why);
  /* A consumer that takes bytes gets every batch as bytes. */
  ck_assert_uint_eq(rec_encoded ? rec->tree_calls : rec->encoded_calls, 0);
  pc_mat_free(&f->sent);
  pc_mat_free(&rec->got);
}

/* ---- requests --------------------------------------------------------------------- */

/* A random request with at least one sample. */
static void some_request(pc_rng_t *rng, pc_arena_t *a, pc_request_t *req) {
  do pc_rand_request(rng, a, req);
  while (pc_request_sample_count(req) == 0);
}

/* One request holding at least min samples (random requests merged). */
static pc_request_t *big_request(pc_rng_t *rng, pc_arena_t *a, pc_builder_t *b, uint64_t min) {
  while (pc_builder_stats(b)->samples < min) {
    pc_request_t r;
    pc_rand_request(rng, a, &r);
    pc_err_t err;
    ck_assert_int_eq(pc_builder_add(b, &r, &err), 0);
  }
  return pc_builder_request(b);
}

/* ---- batch ---------------------------------------------------------------------------- */

START_TEST(batch_flushes_on_size) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 10\ntimeout: 1h\n", &rec, true);
  pc_rng_t rng = {1};
  pc_arena_t *a = pc_arena_new(0);
  uint64_t held = 0;
  for (int i = 0; i < 40; i++) {
    pc_request_t req;
    some_request(&rng, a, &req);
    uint32_t before = rec.accepted;
    ck_assert_int_eq(fx_send(&f, &req), 0);
    held += pc_request_sample_count(&req);
    if (held >= 10) {
      ck_assert_uint_eq(rec.accepted, before + 1);
      ck_assert_uint_eq(rec.samples[before], held);
      held = 0;
    } else {
      ck_assert_uint_eq(rec.accepted, before);
    }
  }
  ck_assert_uint_gt(rec.accepted, 3);
  fx_shutdown(&f, 1000);
  if (held) ck_assert_uint_eq(rec.samples[rec.accepted - 1], held); /* the rest, at shutdown */
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_flushes_on_the_timer) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "timeout: 50ms\n", &rec, true);
  pc_rng_t rng = {2};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  uint64_t t0 = uv_now(&f.loop);
  ck_assert_int_eq(fx_send(&f, &req), 0);
  some_request(&rng, a, &req);
  ck_assert_int_eq(fx_send(&f, &req), 0);
  ck_assert_uint_eq(rec.accepted, 0);
  /* The loop runs until the timer fired and nothing is left to wait for. */
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  uv_update_time(&f.loop);
  ck_assert_uint_eq(rec.accepted, 1);
  ck_assert_uint_ge(uv_now(&f.loop) - t0, 50);
  fx_shutdown(&f, 1000);
  ck_assert_uint_eq(rec.accepted, 1);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_flushes_at_shutdown) {
  pc_rng_t rng = {3};
  pc_arena_t *a = pc_arena_new(0);
  for (int started = 0; started < 2; started++) {
    rec_t rec;
    rec_init(&rec);
    fixture_t f;
    fx_open(&f, &pc_processor_batch, "", &rec, started);
    for (int i = 0; i < 3; i++) {
      pc_request_t req;
      some_request(&rng, a, &req);
      ck_assert_int_eq(fx_send(&f, &req), 0);
    }
    ck_assert_uint_eq(rec.accepted, 0);
    fx_shutdown(&f, 1000);
    ck_assert_uint_eq(rec.accepted, 1);
    /* Safe twice, and new data is refused once shutting down. */
    f.type->shutdown(f.inst, 0, on_done, &f.done_calls);
    ck_assert_int_eq(f.done_calls, 2);
    pc_request_t late;
    some_request(&rng, a, &late);
    ck_assert_int_eq(fx_send(&f, &late), PC_EAGAIN);
    fx_close(&f, &rec);
  }
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_splits_at_max_size) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "send_batch_size: 5\nsend_batch_max_size: 7\ntimeout: 1h\n", &rec, true);
  pc_rng_t rng = {4};
  pc_arena_t *a = pc_arena_new(0);
  pc_builder_t *src = pc_builder_new();
  /* One request far over the maximum, then small ones. */
  ck_assert_int_eq(fx_send(&f, big_request(&rng, a, src, 60)), 0);
  for (int i = 0; i < 30; i++) {
    pc_request_t req;
    some_request(&rng, a, &req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
  }
  fx_shutdown(&f, 1000);
  ck_assert_uint_gt(rec.accepted, 60 / 7);
  for (uint32_t i = 0; i < rec.accepted; i++) {
    ck_assert_uint_le(rec.samples[i], 7);
    if (i + 1 < rec.accepted) ck_assert_uint_ge(rec.samples[i], 5);
  }
  fx_close(&f, &rec);
  pc_builder_free(src);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_splits_at_max_bytes) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "send_batch_size: 100000\nsend_batch_max_bytes: 3000\ntimeout: 1h\n", &rec, true);
  pc_rng_t rng = {5};
  pc_arena_t *a = pc_arena_new(0);
  pc_builder_t *src = pc_builder_new();
  pc_request_t *big = big_request(&rng, a, src, 200);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(big, &pb), 0);
  ck_assert_uint_gt(pb.n, 3 * 3000);
  pc_buf_free(&pb);
  ck_assert_int_eq(fx_send(&f, big), 0);
  for (int i = 0; i < 30; i++) {
    pc_request_t req;
    some_request(&rng, a, &req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
  }
  fx_shutdown(&f, 1000);
  ck_assert_uint_gt(rec.accepted, 3);
  for (uint32_t i = 0; i < rec.accepted; i++)
    if (rec.samples[i] > 1)
      ck_assert_msg(rec.encoded[i] <= 3000, "batch %u: %zu B", i, rec.encoded[i]);
  fx_close(&f, &rec);
  pc_builder_free(src);
  pc_arena_free(a);
}
END_TEST

/* The next consumer is full: the batch is kept and retried, new data is
 * refused meanwhile, and in the end everything accepted arrives once. */
START_TEST(batch_holds_and_retries_on_eagain) {
  rec_t rec;
  rec_init(&rec);
  rec.eagain_left = 3;
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 10\ntimeout: 30ms\n", &rec, true);
  ck_assert_uint_ge(f.in->retry_after_s, 1);
  pc_rng_t rng = {6};
  pc_arena_t *a = pc_arena_new(0);
  pc_builder_t *src = pc_builder_new();
  ck_assert_int_eq(fx_send(&f, big_request(&rng, a, src, 12)), 0); /* due, refused: held */
  ck_assert_uint_eq(rec.calls, 1);
  pc_request_t r2;
  some_request(&rng, a, &r2);
  ck_assert_int_eq(fx_send(&f, &r2), PC_EAGAIN); /* tried again first, still full */
  ck_assert_uint_eq(rec.calls, 2);
  ck_assert_uint_eq(rec.accepted, 0);
  /* The timer retries until the recorder takes the batch, then goes idle. */
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  ck_assert_uint_eq(rec.calls, 4);
  ck_assert_uint_eq(rec.accepted, 1);
  ck_assert_int_eq(fx_send(&f, &r2), 0);
  fx_shutdown(&f, 1000);
  ck_assert_uint_eq(rec.accepted, 2);
  fx_close(&f, &rec);
  pc_builder_free(src);
  pc_arena_free(a);
}
END_TEST

/* The full hook (component/component.h): the batch says it is full when
 * consume would refuse any request (the next consumer refused a batch it
 * holds), as consume would, after pushing held batches on; a full answer
 * counts as a refusal. Empty, or once the next consumer takes them, it is
 * not. It holds what it takes, so what follows it is asked through it. */
START_TEST(batch_says_when_it_is_full) {
  rec_t rec;
  rec_init(&rec);
  rec.eagain_left = 2;
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 10\ntimeout: 30ms\n", &rec, true);
  ck_assert(f.in->full != NULL);
  ck_assert(f.in->holds);
  pc_err_t err = {0};
  ck_assert(!f.in->full(f.in, &err)); /* nothing held */
  pc_rng_t rng = {7};
  pc_arena_t *a = pc_arena_new(0);
  pc_builder_t *src = pc_builder_new();
  ck_assert_int_eq(fx_send(&f, big_request(&rng, a, src, 12)), 0); /* due, refused: held */
  ck_assert_uint_eq(rec.calls, 1);
  ck_assert(f.in->full(f.in, &err)); /* tried again, still refused */
  ck_assert_int_eq(err.code, PC_EAGAIN);
  ck_assert_msg(strstr(err.msg, "the next consumer is full"), "%s", err.msg);
  ck_assert_uint_eq(rec.calls, 2);
  ck_assert(!f.in->full(f.in, &err)); /* the third try is taken */
  ck_assert_uint_eq(rec.calls, 3);
  ck_assert_uint_eq(rec.accepted, 1);
  pc_metrics_t *m = pc_metrics_new();
  pc_processor_batch.metrics(f.inst, m);
  pc_buf_t text = {0};
  ck_assert_int_eq(pc_metrics_render(m, &text), 0);
  pc_buf_append(&text, "", 1);
  ck_assert_msg(strstr((char *)text.p, "profcol_processor_batch_refused_requests 1\n"), "%s",
                (char *)text.p);
  pc_buf_free(&text);
  pc_metrics_free(m);
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec);
  pc_builder_free(src);
  pc_arena_free(a);
}
END_TEST

/* A sample-heavy request of about 80 KB (bench/ --shape samples: samples
 * with timestamps, links and attributes over a few hundred stacks; about
 * 1,200 to 1,500 samples here, 4,700 at the benchmark's 200 KB), one per seed. */
static void samples_request(pc_arena_t *a, uint64_t seed, pc_request_t *req) {
  pc_workload_opts_t o = {.seed = seed, .target_bytes = 80000, .shape = PC_WORKLOAD_SAMPLES};
  ck_assert_int_eq(pc_workload_build(a, &o, req), 0);
  ck_assert_uint_gt(pc_request_sample_count(req), 1000);
}

/* The samples the open batch held when a request was refused for it
 * (batch.c's refusal message), or 0. */
static uint64_t open_samples_in(const char *msg) {
  const char *p = strstr(msg, "the open batch is full (");
  return p ? strtoull(p + strlen("the open batch is full ("), NULL, 10) : 0;
}

/* The thread pool encodes batches above 128 KiB while the loop goes on
 * merging; at the default send_batch_size (8192) a 200 KB sample-heavy
 * batch is sealed every two requests, as here with 80 KB ones. The loop
 * does not run here, so the first flush never completes: once MAX_SEALED
 * (4) batches wait, the open batch must keep taking whole requests past
 * its trigger, not refuse them (bench/RESULTS.md: 29 to 86 % of
 * sample-heavy requests refused after they were decoded), but only up to
 * 3 times send_batch_size samples, not to its byte cap (1 MiB here, 8 MiB by
 * default: a second of gzip that the sidecar's samples-shape run refused
 * 96 to 99.7 % of its requests behind). Past that it refuses, says so
 * before a request comes, and once the pool catches up everything taken
 * arrives exactly once. */
START_TEST(batch_grows_the_open_batch_while_the_pool_encodes) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 2000\nsend_batch_max_bytes: 1MiB\n"
          "timeout: 100ms\n", &rec, true); /* no timer fires while the loop does not run */
  pc_arena_t *a = pc_arena_new(0);
  pc_err_t err = {0};
  uint32_t sent = 0;
  int rc = 0;
  /* 8 requests fill the 4 sealed batches; one more goes to the open one. A
   * tree recorder takes every batch on the loop (no pool): a few do. */
  uint32_t first = rec_encoded ? 9 : 4;
  for (; sent < first; sent++) {
    pc_request_t req;
    samples_request(a, sent, &req);
    rc = fx_send(&f, &req);
    ck_assert_msg(rc == 0, "request %u refused: %s", sent, pc_strerror(rc));
  }
  ck_assert(!f.in->full(f.in, &err)); /* room for more */
  /* On until the open batch is full (an encoded recorder: at 3 x 2000
   * samples, 2 or 3 more requests; a tree recorder takes every batch at
   * once). */
  uint32_t cap = rec_encoded ? 40 : 4;
  for (; sent < cap; sent++) {
    pc_request_t req;
    samples_request(a, sent, &req);
    err = (pc_err_t){0};
    if ((rc = f.in->consume_profiles(f.in, &req, &err)) != 0) break;
    pc_mat_add(&f.sent, &req);
  }
  if (rec_encoded) {
    ck_assert_int_eq(rc, PC_EAGAIN);
    ck_assert_msg(strstr(err.msg, "the open batch is full"), "%s", err.msg);
    uint64_t held = open_samples_in(err.msg);
    ck_assert_msg(held >= 2000 && held <= 6000, "open batch of %" PRIu64 " samples: %s", held,
                  err.msg);
    ck_assert_uint_le(sent, 13);
    ck_assert(f.in->full(f.in, &err)); /* known before the next request comes */
    ck_assert_msg(strstr(err.msg, "the open batch is full"), "%s", err.msg);
  } else {
    ck_assert_int_eq(rc, 0);
  }
  /* The pool finishes, deferred sealing catches up, the loop goes idle. */
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  ck_assert(!f.in->full(f.in, &err));
  pc_request_t req;
  samples_request(a, 1000, &req);
  ck_assert_int_eq(fx_send(&f, &req), 0);
  fx_shutdown(&f, 10000);
  for (uint32_t i = 0; i < rec.accepted; i++)
    ck_assert_msg(rec.encoded[i] <= (size_t)1 << 20, "batch %u: %zu B", i, rec.encoded[i]);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

/* A receiver asks the full hook at a request's headers and merges the
 * request only once its body is read and decoded, so while the pool is
 * behind, every request let in must still find room when it comes: the
 * hook reserves it (10 connections passing the hook at once, then all
 * refused after their decode, was the sidecar's samples-shape run). Here
 * the hook is asked until it says full, and then every request it let in
 * is taken; once the pool catches up, the reservations are forgotten. */
START_TEST(batch_takes_every_request_it_let_in_at_the_headers) {
  if (!rec_encoded) return; /* a tree recorder takes every batch on the loop: no pool */
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 2000\nsend_batch_max_bytes: 1MiB\n"
          "timeout: 100ms\n", &rec, true);
  pc_arena_t *a = pc_arena_new(0);
  pc_err_t err = {0};
  uint32_t sent = 0;
  for (; sent < 9; sent++) { /* 4 batches wait for the pool, the open one holds one */
    pc_request_t req;
    samples_request(a, sent, &req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
  }
  uint32_t let_in = 0;
  while (let_in < 50 && !f.in->full(f.in, &err)) let_in++;
  ck_assert_msg(let_in >= 1 && let_in < 50, "the hook let %u requests in: %s", let_in, err.msg);
  ck_assert_msg(strstr(err.msg, "more requests on their way"), "%s", err.msg);
  for (uint32_t i = 0; i < let_in; i++) {
    pc_request_t req;
    samples_request(a, i % sent, &req); /* no bigger than the biggest so far */
    err = (pc_err_t){0};
    int rc = f.in->consume_profiles(f.in, &req, &err);
    ck_assert_msg(rc == 0, "request %u of %u let in was refused: %s", i, let_in, err.msg);
    pc_mat_add(&f.sent, &req);
  }
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  ck_assert(!f.in->full(f.in, &err)); /* caught up: nothing reserved any more */
  fx_shutdown(&f, 10000);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

/* Sample-heavy requests bigger than send_batch_max_size are split across
 * batches: every sample, value, timestamp, link and attribute arrives once
 * (fx_close compares them all), no batch passes the cap. */
START_TEST(batch_splits_sample_heavy_requests_exactly) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "send_batch_size: 600\nsend_batch_max_size: 800\n"
          "timeout: 1h\n", &rec, true);
  pc_arena_t *a = pc_arena_new(0);
  uint64_t total = 0;
  for (uint64_t seed = 0; seed < 3; seed++) {
    pc_request_t req;
    samples_request(a, seed, &req);
    total += pc_request_sample_count(&req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
  }
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  fx_shutdown(&f, 10000);
  uint64_t got = 0;
  for (uint32_t i = 0; i < rec.accepted; i++) {
    ck_assert_uint_le(rec.samples[i], 800);
    got += rec.samples[i];
  }
  ck_assert_uint_eq(got, total);
  ck_assert_uint_ge(rec.accepted, total / 800);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

/* A split request is held whole even when the next consumer is full. */
START_TEST(batch_holds_every_part_of_a_split_request) {
  rec_t rec;
  rec_init(&rec);
  rec.eagain_left = 2;
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "send_batch_size: 4\nsend_batch_max_size: 4\ntimeout: 20ms\n", &rec, true);
  pc_rng_t rng = {7};
  pc_arena_t *a = pc_arena_new(0);
  pc_builder_t *src = pc_builder_new();
  ck_assert_int_eq(fx_send(&f, big_request(&rng, a, src, 30)), 0);
  ck_assert_uint_eq(rec.accepted, 0);
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  ck_assert_uint_ge(rec.accepted, 30 / 4);
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec);
  pc_builder_free(src);
  pc_arena_free(a);
}
END_TEST

/* A batch the next consumer refuses for good is dropped; later ones flow. */
START_TEST(batch_drops_what_next_refuses_for_good) {
  rec_t rec;
  rec_init(&rec);
  rec.fail_rc = PC_EINVAL;
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "timeout: 0s\n", &rec, true);
  pc_rng_t rng = {8};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &(pc_err_t){0}), 0);
  ck_assert_uint_eq(rec.calls, 1);
  rec.fail_rc = 0;
  for (int i = 0; i < 3; i++) {
    some_request(&rng, a, &req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
    ck_assert_uint_eq(rec.accepted, (uint32_t)i + 1); /* timeout 0: every request at once */
  }
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec); /* the dropped request was never in f.sent */
  pc_arena_free(a);
}
END_TEST

/* Shutdown waits for a full consumer until its deadline, then gives up. */
START_TEST(batch_shutdown_gives_up_at_the_deadline) {
  rec_t rec;
  rec_init(&rec);
  rec.eagain_left = UINT32_MAX;
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "timeout: 0s\n", &rec, true);
  pc_rng_t rng = {9};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &(pc_err_t){0}), 0);
  uint64_t t0 = uv_now(&f.loop);
  fx_shutdown(&f, 120);
  uv_update_time(&f.loop);
  ck_assert_uint_ge(uv_now(&f.loop) - t0, 120);
  ck_assert_uint_gt(rec.calls, 2); /* retried meanwhile */
  ck_assert_uint_eq(rec.accepted, 0);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_config_is_checked) {
  static const char *const bad[] = {
      "send_batch_size: 10\nsend_batch_max_size: 5\n",
      "send_batch_sise: 10\n",
      "timeout: soon\n",
      "send_batch_max_bytes: -1\n",
      "metadata_keys: x-scope-orgid\n",
      "metadata_keys: [x-scope-orgid, X-Scope-OrgID]\n",
      "metadata_keys: [\"\"]\n",
      "metadata_keys: [a]\nmetadata_cardinality_limit: 0\n",
  };
  static const char *const needle[] = {"send_batch_max_size", "send_batch_sise", "timeout",
                                       "send_batch_max_bytes", "metadata_keys: must be a list",
                                       "metadata_keys[1]: duplicate metadata key",
                                       "metadata_keys[0]", "metadata_cardinality_limit"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_refused(&pc_processor_batch, bad[i], needle[i]);
}
END_TEST

/* ---- batch: metadata_keys -------------------------------------------------------------- */

/* A request from tenant (NULL: without the header), with other headers
 * that must not reach the batch. */
static int send_as(fixture_t *f, pc_request_t *req, const char *tenant) {
  pc_md_pair_t pairs[] = {
      {PC_STR_LIT("content-type"), PC_STR_LIT("application/x-protobuf")},
      {PC_STR_LIT("X-SCOPE-ORGID"), {(const uint8_t *)tenant, tenant ? strlen(tenant) : 0}},
  };
  pc_metadata_t md = {pairs, tenant ? 2 : 1};
  req->metadata = &md;
  int rc = fx_send(f, req);
  req->metadata = NULL;
  return rc;
}

START_TEST(batch_keeps_one_batch_per_metadata_value) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "send_batch_size: 100000\ntimeout: 1h\nmetadata_keys: [X-Scope-OrgID]\n", &rec, true);
  static const char *const tenants[] = {"acme", "globex", NULL, "initech"};
  uint64_t want[4] = {0};
  pc_rng_t rng = {21};
  pc_arena_t *a = pc_arena_new(0);
  for (int i = 0; i < 40; i++) { /* interleaved */
    pc_request_t req;
    some_request(&rng, a, &req);
    ck_assert_int_eq(send_as(&f, &req, tenants[i % 4]), 0);
    want[i % 4] += pc_request_sample_count(&req);
  }
  ck_assert_uint_eq(rec.accepted, 0); /* nothing is due before shutdown */
  fx_shutdown(&f, 1000);
  ck_assert_uint_eq(rec.accepted, 4); /* each tenant's batch flushed on its own */
  for (uint32_t b = 0; b < rec.accepted; b++) {
    int t = 0;
    while (t < 4 && strcmp(rec.tenant[b], tenants[t] ? tenants[t] : "-") != 0) t++;
    ck_assert_msg(t < 4, "batch %u has tenant %s", b, rec.tenant[b]);
    ck_assert_uint_eq(rec.samples[b], want[t]);
    ck_assert_uint_eq(rec.md_pairs[b], tenants[t] ? 1 : 0); /* only metadata_keys go on */
    want[t] = 0;
  }
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_flushes_metadata_batches_apart) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "send_batch_size: 10\ntimeout: 1h\nmetadata_keys: [x-scope-orgid]\n", &rec, true);
  pc_rng_t rng = {22};
  pc_arena_t *a = pc_arena_new(0);
  uint64_t held[2] = {0};
  static const char *const tenants[] = {"acme", "globex"};
  for (int i = 0; i < 30; i++) {
    pc_request_t req;
    some_request(&rng, a, &req);
    uint32_t before = rec.accepted;
    ck_assert_int_eq(send_as(&f, &req, tenants[i % 2]), 0);
    held[i % 2] += pc_request_sample_count(&req);
    if (held[i % 2] >= 10) { /* this tenant's batch went; the other one's stays */
      ck_assert_uint_eq(rec.accepted, before + 1);
      ck_assert_str_eq(rec.tenant[before], tenants[i % 2]);
      ck_assert_uint_eq(rec.samples[before], held[i % 2]);
      held[i % 2] = 0;
    } else {
      ck_assert_uint_eq(rec.accepted, before);
    }
  }
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

/* Each tenant's batch runs its own timeout, from its own first data: one
 * timer for all would send globex's with acme's. Only lower bounds are
 * checked, so a slow machine cannot fail it. */
START_TEST(batch_times_metadata_batches_apart) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch, "timeout: 200ms\nmetadata_keys: [x-scope-orgid]\n", &rec,
          true);
  pc_rng_t rng = {24};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  uv_update_time(&f.loop);
  uint64_t t0 = uv_hrtime() / 1000000;
  ck_assert_int_eq(send_as(&f, &req, "acme"), 0);
  usleep(120 * 1000);
  uv_update_time(&f.loop);
  ck_assert_int_eq(send_as(&f, &req, "globex"), 0); /* due 120 ms after acme's */
  ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0); /* both timers */
  ck_assert_uint_eq(rec.accepted, 2);
  ck_assert_str_eq(rec.tenant[0], "acme");
  ck_assert_str_eq(rec.tenant[1], "globex");
  ck_assert_uint_ge(rec.at_ms[0] - t0, 195);
  ck_assert_uint_ge(rec.at_ms[1] - t0, 315);
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(batch_refuses_past_the_cardinality_limit) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_batch,
          "timeout: 1h\nmetadata_keys: [x-scope-orgid]\nmetadata_cardinality_limit: 2\n", &rec,
          true);
  pc_rng_t rng = {23};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(send_as(&f, &req, "acme"), 0);
  ck_assert_int_eq(send_as(&f, &req, "globex"), 0);
  pc_md_pair_t pair = {PC_STR_LIT("x-scope-orgid"), PC_STR_LIT("initech")};
  pc_metadata_t md = {&pair, 1};
  req.metadata = &md;
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), PC_EAGAIN); /* 503, retryable */
  ck_assert_msg(strstr(err.msg, "too many batcher metadata-value combinations"), "%s", err.msg);
  req.metadata = NULL;
  ck_assert_int_eq(send_as(&f, &req, "acme"), 0); /* known values still pass */
  /* Shutdown twice: both dones come, the shards flush once. */
  int second = 0;
  f.type->shutdown(f.inst, uv_now(&f.loop) + 1000, on_done, &second);
  ck_assert_int_eq(second, 0); /* the shards are closing their timers */
  f.type->shutdown(f.inst, uv_now(&f.loop) + 1000, on_done, &second);
  fx_shutdown(&f, 1000);
  ck_assert_int_eq(second, 2);
  ck_assert_uint_eq(rec.accepted, 2);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

/* ---- dedup ------------------------------------------------------------------------------- */

START_TEST(dedup_passes_client_metadata_on) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_dedup, "", &rec, true);
  pc_rng_t rng = {11};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(send_as(&f, &req, "acme"), 0);
  ck_assert_uint_eq(rec.accepted, 1);
  ck_assert_str_eq(rec.tenant[0], "acme");
  ck_assert_uint_eq(rec.md_pairs[0], 2); /* all of it: dedup is not batch */
  fx_shutdown(&f, 1000);
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(dedup_rebuilds_each_dictionary) {
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_dedup, "", &rec, true);
  pc_rng_t rng = {10};
  pc_arena_t *a = pc_arena_new(0);
  for (int i = 0; i < 200; i++) {
    pc_request_t base, req;
    pc_rand_request(&rng, a, &base);
    pc_rewrite_request(&rng, a, &base, i % 2 ? PC_REWRITE_PAD : PC_REWRITE_DUPLICATE, &req);
    ck_assert_int_eq(fx_send(&f, &req), 0);
    ck_assert_uint_eq(rec.accepted, (uint32_t)i + 1);
  }
  rec.eagain_left = 1;
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(fx_send(&f, &req), PC_EAGAIN); /* passed back as it is */
  ck_assert_int_eq(fx_send(&f, &req), 0);
  fx_shutdown(&f, 0);
  fx_close(&f, &rec);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  ck_assert_ptr_null(try_create(&pc_processor_dedup, "anything: 1\n", &rec.c, &cfg, &err));
  pc_cfg_free(cfg);
  pc_arena_free(a);
}
END_TEST

/* ---- memory_limiter ------------------------------------------------------------------- */

/* Run the loop until its timer has fired at least twice (each UV_RUN_ONCE
 * waits for the next tick of the only handle, the check timer). */
static void two_checks(fixture_t *f) {
  uv_run(&f->loop, UV_RUN_ONCE);
  uv_run(&f->loop, UV_RUN_ONCE);
}

/* With the real resident set size: data passes below the soft limit, is
 * refused with PC_EAGAIN once this process maps and touches 160 MiB more,
 * and passes again once it lets them go. mmap rather than malloc, so that
 * no allocator (ASan's quarantine) keeps the pages after the test frees
 * them. */
START_TEST(memory_limiter_refuses_above_the_soft_limit) {
  int64_t rss = pc_process_rss();
  ck_assert_int_gt(rss, 0);
  char yaml[256];
  uint64_t limit = (uint64_t)rss / (1 << 20) + 96;
  snprintf(yaml, sizeof yaml, "check_interval: 20ms\nlimit_mib: %" PRIu64 "\n"
           "spike_limit_mib: 32\n", limit); /* refusing from rss + 64 MiB */
  rec_t rec;
  rec_init(&rec);
  fixture_t f;
  fx_open(&f, &pc_processor_memory_limiter, yaml, &rec, true);
  ck_assert_uint_eq(f.in->retry_after_s, rec.c.retry_after_s); /* 1 s: the next's is longer */
  pc_rng_t rng = {21};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  some_request(&rng, a, &req);
  ck_assert_int_eq(fx_send(&f, &req), 0);
  ck_assert_uint_eq(rec.accepted, 1);

  size_t big = (size_t)160 << 20;
  uint8_t *p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(p != MAP_FAILED);
  memset(p, 1, big);
  two_checks(&f);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), PC_EAGAIN);
  ck_assert_msg(strstr(err.msg, "memory use is above the soft limit"), "%s", err.msg);
  ck_assert_uint_eq(rec.calls, 1); /* refused here, not passed on */
  ck_assert(f.in->full(f.in, &err)); /* known before a request comes, with why */
  ck_assert_msg(strstr(err.msg, "memory use is above the soft limit"), "%s", err.msg);
  ck_assert(!f.in->holds); /* passes each on: what follows is asked too */

  munmap(p, big);
  two_checks(&f);
  ck_assert(!f.in->full(f.in, &err));
  ck_assert_int_eq(fx_send(&f, &req), 0);
  ck_assert_uint_eq(rec.accepted, 2);
  fx_shutdown(&f, 1000);
  rec.problems = 0; /* requests go on as they came: the checks of a batch do not apply */
  fx_close(&f, &rec);
  pc_arena_free(a);
}
END_TEST

START_TEST(memory_limiter_config_is_checked) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"limit_mib: 100\n", "check_interval must be greater than zero"},
      {"check_interval: 1s\n", "set one of limit_mib and limit_percentage"},
      {"check_interval: 1s\nlimit_mib: 100\nlimit_percentage: 50\n",
       "set one of limit_mib and limit_percentage"},
      {"check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100\n",
       "test.yaml:3:18: spike_limit_mib: the spike limit (100 MiB) must be below the limit"},
      {"check_interval: 1s\nlimit_percentage: 101\n", "limit_percentage"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_refused(&pc_processor_memory_limiter, bad[i].yaml, bad[i].want);
  /* A percentage of what the process may use. Encoded batches go through
   * when the next consumer takes them. */
  rec_t rec;
  rec_init(&rec);
  rec.c.consume_encoded = rec_consume_encoded;
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = try_create(&pc_processor_memory_limiter,
                          "check_interval: 1s\nlimit_percentage: 50\n", &rec.c, &cfg, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  pc_consumer_t *in = pc_processor_memory_limiter.consumer(inst);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_rng_t rng = {22};
  some_request(&rng, a, &req);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &pb), 0);
  pc_body_t *enc = pc_body_new(&pb, false, false, pc_request_profile_count(&req),
                               pc_request_sample_count(&req), NULL);
  ck_assert(in->consume_encoded != NULL);
  ck_assert_int_eq(in->consume_encoded(in, enc, &err), 0);
  ck_assert_uint_eq(rec.encoded_calls, 1);
  pc_body_unref(enc);
  pc_processor_memory_limiter.destroy(inst);
  pc_cfg_free(cfg);
  pc_arena_free(a);
  pc_mat_free(&rec.got);
}
END_TEST

/* ---- resource ----------------------------------------------------------------------------- */

/* Each resource's attributes as "key=t:value,..." in order (t: s string,
 * i int, d double, b bool), keys resolved through the string table. */
typedef struct {
  pc_consumer_t c; /* first */
  char text[4][512];
  uint32_t n;
} attr_rec_t;

static void attr_text(const pc_request_t *req, const pc_kvs_t *a, char *out, size_t cap) {
  size_t o = 0;
  out[0] = 0;
  for (uint32_t i = 0; i < a->n && o < cap; i++) {
    const pc_keyvalue_t *kv = &a->v[i];
    pc_str_t k = kv->key.n ? kv->key : req->dict.strings[kv->key_strindex];
    const pc_anyvalue_t *v = &kv->value;
    int w = v->type == PC_AV_STRING ? snprintf(out + o, cap - o, "%s%.*s=s:%.*s", i ? "," : "",
                                               (int)k.n, (const char *)k.p, (int)v->u.s.n,
                                               (const char *)v->u.s.p)
            : v->type == PC_AV_INT  ? snprintf(out + o, cap - o, "%s%.*s=i:%" PRId64, i ? "," : "",
                                               (int)k.n, (const char *)k.p, v->u.i)
            : v->type == PC_AV_DOUBLE ? snprintf(out + o, cap - o, "%s%.*s=d:%g", i ? "," : "",
                                                 (int)k.n, (const char *)k.p, v->u.d)
                                      : snprintf(out + o, cap - o, "%s%.*s=b:%d", i ? "," : "",
                                                 (int)k.n, (const char *)k.p, (int)v->u.b);
    o += (size_t)w;
  }
}

static int attr_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)err;
  attr_rec_t *r = (attr_rec_t *)self;
  for (uint32_t i = 0; i < req->n_resources && i < 4; i++)
    attr_text(req, &req->resources[i].resource.attributes, r->text[i], sizeof r->text[i]);
  r->n = req->n_resources;
  return 0;
}

static pc_keyvalue_t kv_str(const char *k, const char *v) {
  return (pc_keyvalue_t){.key = {(const uint8_t *)k, strlen(k)}, .has_value = true,
                         .value = {.type = PC_AV_STRING,
                                   .u.s = {(const uint8_t *)v, strlen(v)}}};
}

/* The Collector's actions, in order, on a resource with attributes (one
 * keyed through the string table) and on an absent resource; values of
 * every YAML type, from another attribute and from client metadata. */
START_TEST(resource_applies_its_actions_in_order) {
  attr_rec_t rec = {.c = {.consume_profiles = attr_consume, .retry_after_s = 1}};
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = try_create(&pc_processor_resource,
                          "attributes:\n"
                          "  - {key: env, value: prod, action: upsert}\n"
                          "  - {key: service.name, value: new, action: update}\n"
                          "  - {key: service.name, value: ignored, action: insert}\n"
                          "  - {key: k8s.cluster.name, from_attribute: cluster, action: insert}\n"
                          "  - {key: cluster, action: delete}\n"
                          "  - {key: host.name, value: 42, action: upsert}\n"
                          "  - {key: tenant, from_context: metadata.x-scope-orgid, action: upsert}\n"
                          "  - {key: ratio, value: 0.5, action: insert}\n"
                          "  - {key: on, value: true, action: insert}\n"
                          "  - {key: quoted, value: \"7\", action: insert}\n",
                          &rec.c, &cfg, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  pc_consumer_t *in = pc_processor_resource.consumer(inst);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req = {.arena = a, .has_dictionary = true};
  static pc_str_t strings[2] = {{(const uint8_t *)"", 0}, {(const uint8_t *)"host.name", 9}};
  req.dict.strings = strings;
  req.dict.n_strings = 2;
  pc_resource_profiles_t *rp = pc_arena_calloc(a, 2, sizeof *rp);
  pc_keyvalue_t *attrs = pc_arena_calloc(a, 3, sizeof *attrs);
  attrs[0] = kv_str("service.name", "checkout");
  attrs[1] = kv_str("cluster", "c1");
  attrs[2] = kv_str("", "h1");
  attrs[2].key_strindex = 1;
  rp[0].has_resource = true;
  rp[0].resource.attributes = (pc_kvs_t){attrs, 3};
  req.resources = rp;
  req.n_resources = 2;
  pc_md_pair_t md_pair = {{(const uint8_t *)"X-Scope-OrgID", 13}, {(const uint8_t *)"acme", 4}};
  pc_metadata_t md = {&md_pair, 1};
  req.metadata = &md;
  ck_assert_int_eq(in->consume_profiles(in, &req, &err), 0);
  ck_assert_uint_eq(rec.n, 2);
  ck_assert_str_eq(rec.text[0], "service.name=s:new,host.name=i:42,env=s:prod,"
                   "k8s.cluster.name=s:c1,tenant=s:acme,ratio=d:0.5,on=b:1,quoted=s:7");
  ck_assert_str_eq(rec.text[1], "env=s:prod,service.name=s:ignored,host.name=i:42,"
                   "tenant=s:acme,ratio=d:0.5,on=b:1,quoted=s:7");
  ck_assert(rp[1].has_resource); /* an absent resource now has attributes */
  pc_processor_resource.destroy(inst);
  pc_cfg_free(cfg);
  pc_arena_free(a);
}
END_TEST

/* hash, extract, convert and delete by pattern on resource attributes (the
 * actions themselves: tests/processor/test_attraction.c); a key kept by
 * string index stays so when its entry is left alone. */
START_TEST(resource_hashes_extracts_and_converts) {
  pt_check_t next;
  pt_check_init(&next);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = pt_create(&pc_processor_resource, NULL,
                         "attributes:\n"
                         "  - {key: k8s.pod.name, pattern: \"^(?P<workload>.+)-[a-z0-9]{5}$\", action: extract}\n"
                         "  - {key: user, action: hash}\n"
                         "  - {key: pid, action: convert, converted_type: int}\n"
                         "  - {pattern: ^tmp\\., action: delete}\n",
                         &next.c, &cfg, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  pt_req_t r;
  pt_req_init(&r, 1);
  pt_resource(&r, 0, "k8s.pod.name=checkout-7d9f-x2b4q", "user=abc", "pid=42", "tmp.a=1",
              "keep=1", "tmp.b=2", NULL);
  int32_t kept = pt_str(&r, "indexed");
  pc_kvs_t *kvs = &r.rp[0].resource.attributes;
  kvs->v[kvs->n++] = (pc_keyvalue_t){.key_strindex = kept, .has_value = true,
                                     .value = {.type = PC_AV_INT, .u.i = 1}};
  pt_send(inst, &pc_processor_resource, &r.req);
  char buf[1024];
  ck_assert_str_eq(pt_res_text(&r.req, &r.rp[0].resource, buf, sizeof buf),
                   "k8s.pod.name=checkout-7d9f-x2b4q,"
                   "user=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,"
                   "pid=i:42,keep=1,indexed=i:1,workload=checkout-7d9f");
  ck_assert_int_eq(kvs->v[4].key_strindex, kept);
  ck_assert_uint_eq(kvs->v[4].key.n, 0);
  ck_assert_int_eq(next.calls, 1);
  pc_processor_resource.destroy(inst);
  pc_cfg_free(cfg);
  pt_req_free(&r);
}
END_TEST

START_TEST(resource_config_is_checked) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"attributes: []\n", "attributes must be a list of one or more actions"},
      {"attributes:\n  - {key: a, action: upsert}\n",
       "test.yaml:2:5: attributes[0]: upsert needs exactly one of value, from_attribute"},
      {"attributes:\n  - {key: a, value: 1, from_attribute: b, action: insert}\n",
       "needs exactly one of"},
      {"attributes:\n  - {key: a, value: 1, action: delete}\n", "delete takes no value"},
      {"attributes:\n  - {key: a, value: 1, action: hsh}\n",
       "test.yaml:2:32: attributes[0].action: action \"hsh\": want insert, update, upsert, "
       "delete, hash, extract or convert; did you mean \"hash\"?"},
      {"attributes:\n  - {key: a, value: 1}\n", "needs an action"},
      {"attributes:\n  - {value: 1, action: insert}\n", "needs a non-empty key"},
      {"attributes:\n  - {key: a, from_context: x-tenant, action: insert}\n",
       "must be metadata.<key>"},
      {"attributes:\n  - {key: a, value: 1, pattern: \"^a\", action: insert}\n",
       "insert takes no pattern (delete, hash and extract do)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_refused(&pc_processor_resource, bad[i].yaml, bad[i].want);
}
END_TEST

static void add_resource_tests(TCase *tc) {
  tcase_add_test(tc, resource_applies_its_actions_in_order);
  tcase_add_test(tc, resource_hashes_extracts_and_converts);
  tcase_add_test(tc, resource_config_is_checked);
}

static void add_memory_limiter_tests(TCase *tc) {
  tcase_add_test(tc, memory_limiter_refuses_above_the_soft_limit);
  tcase_add_test(tc, memory_limiter_config_is_checked);
}

static void add_batch_tests(TCase *tc) {
  tcase_add_test(tc, batch_flushes_on_size);
  tcase_add_test(tc, batch_flushes_on_the_timer);
  tcase_add_test(tc, batch_flushes_at_shutdown);
  tcase_add_test(tc, batch_splits_at_max_size);
  tcase_add_test(tc, batch_splits_at_max_bytes);
  tcase_add_test(tc, batch_holds_and_retries_on_eagain);
  tcase_add_test(tc, batch_says_when_it_is_full);
  tcase_add_test(tc, batch_holds_every_part_of_a_split_request);
  tcase_add_test(tc, batch_grows_the_open_batch_while_the_pool_encodes);
  tcase_add_test(tc, batch_takes_every_request_it_let_in_at_the_headers);
  tcase_add_test(tc, batch_splits_sample_heavy_requests_exactly);
  tcase_add_test(tc, batch_drops_what_next_refuses_for_good);
  tcase_add_test(tc, batch_shutdown_gives_up_at_the_deadline);
  tcase_add_test(tc, batch_config_is_checked);
  tcase_add_test(tc, batch_keeps_one_batch_per_metadata_value);
  tcase_add_test(tc, batch_flushes_metadata_batches_apart);
  tcase_add_test(tc, batch_times_metadata_batches_apart);
  tcase_add_test(tc, batch_refuses_past_the_cardinality_limit);
}

static void add_dedup_tests(TCase *tc) {
  tcase_add_test(tc, dedup_rebuilds_each_dictionary);
  tcase_add_test(tc, dedup_passes_client_metadata_on);
}

static Suite *processor_suite(void) {
  Suite *s = suite_create("processor");
  static const struct {
    const char *name;
    void (*add)(TCase *);
    bool encoded;
  } cases[] = {
      {"batch", add_batch_tests, false},
      {"batch-encoded", add_batch_tests, true},
      {"dedup", add_dedup_tests, false},
      {"dedup-encoded", add_dedup_tests, true},
      {"memory_limiter", add_memory_limiter_tests, false},
      {"resource", add_resource_tests, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    if (cases[i].encoded) tcase_add_checked_fixture(tc, take_encoded, NULL);
    cases[i].add(tc);
    suite_add_tcase(s, tc);
  }
  suite_add_tcase(s, pc_test_attraction_tcase());
  suite_add_tcase(s, pc_test_regex_tcase());
  suite_add_tcase(s, pc_test_match_tcase());
  suite_add_tcase(s, pc_test_attributes_tcase());
  suite_add_tcase(s, pc_test_detectors_tcase());
  suite_add_tcase(s, pc_test_resource_detection_tcase());
  suite_add_tcase(s, pc_test_k8s_tcase());
  suite_add_tcase(s, pc_test_trace_link_tcase());
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(processor_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
