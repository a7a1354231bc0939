/* test_send.c - the send module (exporter/send.c): what both OTLP exporters
 * do the same whatever their wire, exercised through otlp_http against a
 * real loopback HTTP server (httpsrv.c): splitting to the body limit, a
 * backend down then up, giving up at max_elapsed_time, num_consumers, the
 * queue's caps and a disabled queue or retry, shutdown's drain, the
 * persistent queue across a clean restart and across kill -9 under load,
 * sending_queue.storage's look-up, the references a queued body holds, and
 * bodies that come without their compressed variant: big ones compressed in
 * the thread pool, in order, counted against the queue, waited for at
 * shutdown, and on the loop for a persistent queue. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../component/curl_dl.h"
#include "../../extension/extension.h"
#include "../auth.h"
#include "../pdata/testdata.h"
#include "fixture.h"
#include "httpsrv.h"

/* Four resources, a limit that fits one: four requests, each under the limit,
 * together holding every profile. Loop 1 gives the batch encoded, as the
 * batch processor does. */
START_TEST(splits_batches_above_the_body_limit) {
  bool encoded = _i == 1;
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 9);
  req.n_resources = 1;
  pc_buf_t one = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &one), 0);
  pc_resource_profiles_t *four = pc_arena_calloc(a, 4, sizeof *four);
  for (int i = 0; i < 4; i++) four[i] = req.resources[0];
  req.resources = four;
  req.n_resources = 4;
  size_t limit = one.n + 16;
  ck_assert_uint_ge(limit, 256);

  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\nmax_request_body_size: %zu\n"
          FX_RETRY_FAST, srv_url(s), limit);
  pc_err_t err = {0};
  ck_assert_int_eq(encoded ? fx_consume_encoded(&fx, &req, &err)
                           : fx.c->consume_profiles(fx.c, &req, &err), 0);
  fx_wait_count(&fx, sent_batches, 4, 5000);
  ck_assert_uint_eq(srv_count(s), 4);
  uint64_t profiles = 0;
  for (size_t i = 0; i < 4; i++) {
    srv_request_t r = srv_request(s, i);
    pc_arena_t *da = pc_arena_new(4096);
    pc_buf_t plain = {0};
    pc_request_t got;
    fx_decode(r.content_type, r.content_encoding, r.body, r.n, da, &plain, &got);
    ck_assert_uint_le(plain.n, limit);
    ck_assert_uint_eq(got.n_resources, 1);
    profiles += pc_request_profile_count(&got);
    pc_buf_free(&plain);
    pc_arena_free(da);
  }
  ck_assert_uint_eq(profiles, pc_request_profile_count(&req));
  ck_assert_uint_eq(fx_stats(&fx).sent_profiles, profiles);

  /* One profile bigger than the limit cannot be split: refused, not sent. */
  req.n_resources = 1;
  fx_t fx2;
  fx_open(&fx2, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\nmax_request_body_size: 256\n",
          srv_url(s));
  ck_assert_int_eq(encoded ? fx_consume_encoded(&fx2, &req, &err)
                           : fx2.c->consume_profiles(fx2.c, &req, &err), PC_ELIMIT);
  ck_assert_ptr_nonnull(strstr(err.msg, "max_request_body_size"));
  fx_close(&fx2, 100);
  fx_close(&fx, 1000);
  srv_stop(s);
  pc_buf_free(&one);
  pc_arena_free(a);
}
END_TEST
/* The backend refuses connections for a while; everything queued meanwhile is
 * delivered, each batch once, when it comes back. */
START_TEST(backend_down_then_up_delivers_everything) {
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  fx_consume_ids(&fx, 100, 8);
  fx_run_for(&fx, 2000);
  ck_assert_uint_eq(srv_count(s), 0);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_gt(st.failed_attempts, 8);
  ck_assert_uint_gt(st.retries, 8);
  ck_assert_uint_eq(st.queue_batches, 8);
  srv_down(s, false);
  fx_wait_count(&fx, sent_batches, 8, 5000);
  ck_assert_uint_eq(srv_count(s), 8);
  bool seen[8] = {0};
  for (size_t i = 0; i < 8; i++) {
    uint64_t id = fx_sent_id(s, i);
    ck_assert(id >= 100 && id < 108 && !seen[id - 100]);
    seen[id - 100] = true;
    fx_check_sent(s, i, id);
  }
  ck_assert_uint_eq(fx_stats(&fx).dropped_batches, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST
/* A batch the backend keeps refusing is retried until the next wait would
 * pass max_elapsed_time, then dropped and never tried again. Bounded by
 * what the settings allow, not by how fast a loaded machine runs: the
 * drop comes no sooner than max_elapsed_time less the longest wait (60 ms:
 * max_interval + 50% jitter) after the first try, and after no more tries
 * than the shortest wait (10 ms: initial_interval - 50%) fits into it. */
START_TEST(gives_up_after_max_elapsed_time) {
  enum { MAX_ELAPSED_MS = 1000, LONGEST_WAIT_MS = 60, SHORTEST_WAIT_MS = 10 };
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, 503, "down for maintenance");
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "retry_on_failure:\n  initial_interval: 20ms\n  max_interval: 40ms\n"
          "  max_elapsed_time: %dms\n", srv_url(s), MAX_ELAPSED_MS);
  uv_update_time(&fx.loop); /* the first try's loop time is not older than t0 (but
                             * libuv's coarse clock may lag it a tick: 10 ms below) */
  uint64_t t0 = srv_now_ms();
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, dropped_batches, 1, 60000);
  uint64_t took = srv_now_ms() - t0;
  size_t tries = srv_count(s);
  ck_assert_msg(took + 10 >= MAX_ELAPSED_MS - LONGEST_WAIT_MS, "gave up after %llu ms",
                (unsigned long long)took);
  ck_assert_uint_ge(tries, 4);
  ck_assert_uint_le(tries, 1 + MAX_ELAPSED_MS / SHORTEST_WAIT_MS);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_eq(st.dropped_batches, 1);
  ck_assert_uint_eq(st.queue_batches, 0);
  ck_assert_uint_eq(st.failed_attempts, tries);
  ck_assert_uint_eq(st.retries, tries - 1);
  /* Given up for good: no try follows (the longest wait, four times over). */
  fx_run_for(&fx, 4 * LONGEST_WAIT_MS);
  ck_assert_uint_eq(srv_count(s), tries);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST
START_TEST(in_flight_bounded_by_num_consumers) {
  srv_t *s = srv_start();
  srv_answer_t a = {.delay_ms = 150};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 2\n", srv_url(s));
  fx_consume_ids(&fx, 1, 6);
  fx_wait_count(&fx, sent_batches, 6, 5000);
  ck_assert_int_eq(srv_max_pending(s), 2);
  ck_assert_int_le(srv_connections(s), 2);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST
START_TEST(full_queue_refuses_and_counts) {
  srv_t *s = srv_start();
  srv_answer_t hang = {.hang = true};
  srv_set_default(s, &hang);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n  queue_size: 2\n", srv_url(s));
  fx_consume_ids(&fx, 1, 2);
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 3);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &req, &err), PC_EAGAIN);
  ck_assert_ptr_nonnull(strstr(err.msg, "full"));
  ck_assert_uint_gt(fx.c->retry_after_s, 0);
  pc_arena_free(a);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.refused_batches, 1);
  ck_assert_uint_eq(st.queue_batches, 2);
  /* In memory, what is still held at the deadline is lost, and counted. */
  uint64_t took = fx_shutdown(&fx, 300);
  ck_assert_uint_ge(took, 250);
  ck_assert_uint_lt(took, 2000);
  st = fx_stats(&fx);
  ck_assert_uint_eq(st.lost_batches, 2);
  ck_assert_uint_eq(st.lost_profiles, 2 * fx_profiles_per_request());
  fx_destroy(&fx);
  srv_stop(s);
}
END_TEST
/* sending_queue.enabled: false holds only what is in flight. */
START_TEST(disabled_queue_holds_only_in_flight) {
  srv_t *s = srv_start();
  srv_answer_t hang = {.hang = true};
  srv_set_default(s, &hang);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "sending_queue:\n  enabled: false\n  num_consumers: 2\n", srv_url(s));
  fx_consume_ids(&fx, 1, 2);
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 3);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &req, &err), PC_EAGAIN);
  pc_arena_free(a);
  fx_close(&fx, 100);
  srv_stop(s);
}
END_TEST
START_TEST(disabled_retry_drops_at_first_failure) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, 503, "busy");
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "retry_on_failure:\n  enabled: false\n", srv_url(s));
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, dropped_batches, 1, 5000);
  fx_run_for(&fx, 200);
  ck_assert_uint_eq(srv_count(s), 1);
  ck_assert_uint_eq(fx_stats(&fx).retries, 0);
  fx_close(&fx, 100);
  srv_stop(s);
}
END_TEST
START_TEST(shutdown_drains_before_the_deadline) {
  srv_t *s = srv_start();
  srv_answer_t a = {.delay_ms = 50};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  fx_consume_ids(&fx, 1, 4);
  uint64_t took = fx_shutdown(&fx, 10000);
  ck_assert_uint_lt(took, 5000); /* done as soon as drained, not at the deadline */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.sent_batches, 4);
  ck_assert_uint_eq(st.lost_batches, 0);
  ck_assert_uint_eq(srv_count(s), 4);
  /* After shutdown, data is refused, never dropped silently. */
  pc_arena_t *ar = pc_arena_new(4096);
  pc_request_t req;
  fx_request(ar, &req, 1);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &req, &err), PC_EAGAIN);
  pc_arena_free(ar);
  fx_destroy(&fx);
  srv_stop(s);
}
END_TEST
START_TEST(persistent_queue_survives_a_restart) {
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage", dir, true);
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  const char *yaml = "endpoint: %s\n" FX_RETRY_FAST "sending_queue:\n  storage: file_storage\n";
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  fx_consume_ids(&fx, 10, 3);
  fx_shutdown(&fx, 200);
  pc_otlphttp_stats_t ps = fx_stats(&fx);
  ck_assert_uint_eq(ps.lost_batches, 0); /* kept on disk, not lost */
  fx_destroy(&fx);

  srv_down(s, false);
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  fx_wait_count(&fx, sent_batches, 3, 5000);
  ps = fx_stats(&fx);
  ck_assert_uint_eq(ps.replayed_batches, 3);
  bool seen[3] = {0};
  for (size_t i = 0; i < srv_count(s); i++) {
    uint64_t id = fx_sent_id(s, i);
    ck_assert(id >= 10 && id < 13);
    seen[id - 10] = true;
    fx_check_sent(s, i, id);
  }
  ck_assert(seen[0] && seen[1] && seen[2]);
  fx_close(&fx, 1000);
  /* Sent and acknowledged: a third start replays nothing. */
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  ck_assert_uint_eq(fx_stats(&fx).replayed_batches, 0);
  fx_close(&fx, 1000);
  fx_storage_free(st);
  srv_stop(s);
  fx_rmtree(dir);
  free(dir);
}
END_TEST
/* The child runs the exporter with a persistent queue against a slow backend,
 * consuming as fast as it is let and reporting each acknowledged id on a pipe,
 * until it is killed with SIGKILL. A new exporter on the same directory must
 * then deliver every acknowledged id.
 *
 * The child makes no Check call (nor fixture call that makes one): in fork
 * mode each assertion writes to Check's message file, and a kill in the
 * middle of such a write would corrupt the parent's report. */
static void *child_create(const pc_component_t *comp, const char *id, const char *yaml) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load_string("child.yaml", yaml, &err);
  if (!cfg) _exit(5);
  pc_create_args_t args = {.id = id, .cfg = pc_cfg_root(cfg), .signals = comp->signals};
  void *inst = comp->create(&args, &err);
  pc_cfg_free(cfg);
  if (!inst) _exit(6);
  return inst;
}

static void kill9_child(const char *dir, const char *url, const pc_buf_t *request, int out) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char yaml[1024];
  pc_err_t err = {0};
  snprintf(yaml, sizeof yaml, "directory: %s\n", dir);
  void *st = child_create(&pc_extension_file_storage, "file_storage", yaml);
  if (pc_extension_file_storage.start(st, &loop, &err)) _exit(7);
  pc_test_host_add("file_storage", &pc_extension_file_storage, st);
  snprintf(yaml, sizeof yaml, "endpoint: %s\n" FX_RETRY_FAST "sending_queue:\n"
           "  storage: file_storage\n  num_consumers: 2\n  queue_size: 50\n", url);
  void *x = child_create(&pc_exporter_otlphttp, "otlphttp/disk", yaml);
  if (pc_test_resolve(&pc_exporter_otlphttp, x, &err)) _exit(10);
  if (pc_exporter_otlphttp.start(x, &loop, &err)) _exit(8);
  pc_consumer_t *c = pc_exporter_otlphttp.consumer(x);
  for (uint64_t id = 1000;; id++) {
    pc_arena_t *a = pc_arena_new(4096);
    pc_request_t req;
    if (pc_proto_decode(a, request->p, request->n, &req, &err)) _exit(9);
    req.resources[0].scopes[0].profiles[0].time_unix_nano = id;
    int rc;
    while ((rc = c->consume_profiles(c, &req, &err)) == PC_EAGAIN) uv_run(&loop, UV_RUN_ONCE);
    if (rc) _exit(3);
    if (write(out, &id, sizeof id) != sizeof id) _exit(4);
    pc_arena_free(a);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
}

typedef struct {
  srv_t *srv;
  uint64_t *ids;
  size_t n_ids;
} all_wait_t;

static bool all_delivered(void *arg) {
  all_wait_t *w = arg;
  size_t n = srv_count(w->srv);
  uint8_t *seen = calloc(w->n_ids, 1);
  for (size_t i = 0; i < n; i++) {
    uint64_t id = fx_sent_id(w->srv, i);
    if (id >= 1000 && id < 1000 + w->n_ids) seen[id - 1000] = 1;
  }
  size_t missing = 0;
  for (size_t i = 0; i < w->n_ids; i++) missing += !seen[i];
  free(seen);
  return missing == 0;
}

START_TEST(kill9_under_load_loses_nothing_acknowledged) {
  char *dir = fx_tempdir();
  srv_t *s = srv_start();
  srv_answer_t slow = {.delay_ms = 20};
  srv_set_default(s, &slow);
  pc_arena_t *ra = pc_arena_new(4096);
  pc_request_t rich;
  fx_request(ra, &rich, 0);
  pc_buf_t request = {0};
  ck_assert_int_eq(pc_proto_encode(&rich, &request), 0);
  /* libcurl is loaded here, before the fork, as it is at the first send of
   * a real process: dlopen in a child forked from this multithreaded test
   * (the backend's thread) can block for good on an allocator lock that
   * thread held at the fork (seen under ASan: the child never sent). */
  char why[256];
  ck_assert_msg(pc_curl_load(why, sizeof why) == 0, "%s", why);
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    kill9_child(dir, srv_url(s), &request, fds[1]);
    _exit(0);
  }
  close(fds[1]);
  uint64_t id, acked = 0;
  struct pollfd p = {.fd = fds[0], .events = POLLIN};
  /* 30 s per acknowledgement: under ASan on a CI machine running other
   * suites beside this one, the child's first batch once took over 10 s. */
  while (acked < 150 && poll(&p, 1, 30000) == 1 && read(fds[0], &id, sizeof id) == sizeof id) {
    ck_assert_uint_eq(id, 1000 + acked);
    acked++;
  }
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  int status;
  waitpid(pid, &status, 0);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  while (read(fds[0], &id, sizeof id) == sizeof id) acked++;
  close(fds[0]);
  ck_assert_uint_ge(acked, 150);
  size_t before_restart = srv_count(s);
  ck_assert_uint_lt(before_restart, acked); /* some were still queued when killed */

  srv_set_default(s, &(srv_answer_t){0});
  void *st = fx_storage("file_storage", dir, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  storage: file_storage\n", srv_url(s));
  ck_assert_uint_gt(fx_stats(&fx).replayed_batches, 0);
  all_wait_t w = {.srv = s, .n_ids = acked};
  ck_assert_msg(fx_run_until(&fx, all_delivered, &w, 20000),
                "not every acknowledged batch was delivered after kill -9");
  fx_close(&fx, 1000);
  fx_storage_free(st);
  srv_stop(s);
  pc_buf_free(&request);
  pc_arena_free(ra);
  fx_rmtree(dir);
  free(dir);
}
END_TEST
START_TEST(storage_must_name_a_file_storage) {
  fx_t fx;
  pc_err_t err = {0};
  int rc = fx_try_open(&fx, &pc_exporter_otlphttp, "otlphttp", &err,
                       "endpoint: http://127.0.0.1:9\nsending_queue:\n  storage: file_storage/nope\n");
  ck_assert_int_eq(rc, PC_EINVAL);
  ck_assert_ptr_nonnull(strstr(err.msg, "file_storage/nope"));
  fx_close(&fx, 100);
}
END_TEST
/* ---- the shared body's references ---------------------------------------------------------
 * A batch handed on as a body is queued by reference: the exporter holds
 * one reference to the variant it sends until the batch is done (delivered
 * after retries, or given up), releases it at shutdown (the persistent
 * queue keeps the bytes on disk, not the reference), and copies nothing. */

/* A body of fx_request(id), gzip made, and an extra reference to that
 * variant for the test to watch. */
static pc_body_t *watched_body(uint64_t id, pc_bytes_t **gz) {
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, id);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &pb), 0);
  pc_body_t *b = pc_body_new(&pb, false, false, pc_request_profile_count(&req),
                             pc_request_sample_count(&req), NULL);
  ck_assert_int_eq(pc_body_compress(b, 1u << PC_ENC_GZIP), 0);
  *gz = pc_bytes_ref(b->v[PC_ENC_GZIP]);
  pc_arena_free(a);
  return b;
}

static bool refs_back_to(void *arg) { return pc_bytes_refs(arg) == 1; }

START_TEST(body_refs_under_retries_and_shutdown) {
  srv_t *s = srv_start();
  srv_answer_t busy = {.status = 503};
  srv_script(s, (srv_answer_t[]){busy, busy}, 2);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  pc_bytes_t *gz;
  pc_body_t *b = watched_body(1, &gz);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  ck_assert_uint_eq(pc_bytes_refs(gz), 3); /* the test, the body, the queue */
  pc_body_unref(b);                        /* the producer is done with it */
  ck_assert_uint_eq(pc_bytes_refs(gz), 2);
  fx_wait_count(&fx, sent_batches, 1, 5000);
  ck_assert_uint_eq(fx_stats(&fx).retries, 2);
  ck_assert(fx_run_until(&fx, refs_back_to, gz, 1000)); /* delivered: released */
  srv_request_t r = srv_request(s, 2);
  ck_assert_uint_eq(r.n, gz->n); /* the very bytes, sent three times */
  ck_assert(memcmp(r.body, gz->p, gz->n) == 0);
  pc_bytes_unref(gz);

  /* Undeliverable at shutdown: released when the deadline passes. */
  srv_down(s, true);
  b = watched_body(2, &gz);
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  pc_body_unref(b);
  fx_run_for(&fx, 50);
  ck_assert_uint_eq(pc_bytes_refs(gz), 2); /* held while retrying */
  fx_shutdown(&fx, 100);
  ck_assert_uint_eq(pc_bytes_refs(gz), 1);
  fx_destroy(&fx);
  pc_bytes_unref(gz);
  srv_stop(s);
}
END_TEST
/* The gRPC exporter sends the same variant framed: a view that holds the
 * variant, released with it; and a persistent queue replays a copy of the
 * bytes from disk after a restart, the original long released. */
START_TEST(body_refs_through_the_persistent_queue) {
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage", dir, true);
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  pc_bytes_t *gz;
  pc_body_t *b = watched_body(3, &gz);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  pc_body_unref(b);
  ck_assert_uint_eq(pc_bytes_refs(gz), 2);
  fx_shutdown(&fx, 50); /* stays on disk; the memory is let go */
  ck_assert_uint_eq(pc_bytes_refs(gz), 1);
  fx_destroy(&fx);
  srv_down(s, false);
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  fx_wait_count(&fx, sent_batches, 1, 5000);
  ck_assert_uint_eq(fx_stats(&fx).replayed_batches, 1);
  srv_request_t r = srv_request(s, 0);
  ck_assert_uint_eq(r.n, gz->n);
  ck_assert(memcmp(r.body, gz->p, gz->n) == 0);
  fx_close(&fx, 1000);
  pc_bytes_unref(gz);
  fx_storage_free(st);
  fx_rmtree(dir);
  free(dir);
  srv_stop(s);
}
END_TEST

/* ---- bodies without their variant ------------------------------------------------------
 * A body larger than PC_BODY_INLINE_MAX that reaches an exporter without
 * the variant it sends (a trace request, a tree encoded by the exporter or
 * the fan-out) is compressed in libuv's thread pool. To see that consume
 * did not compress it, the pool is kept busy: until pool_release, no job
 * can run, so whatever was compressed by then was compressed by the
 * caller's thread. */

typedef struct {
  uv_work_t w;
} blocker_t;

static sem_t pool_gate;
static atomic_int pool_blocked;
static blocker_t *blockers;
static int n_blockers;

static void blocker_run(uv_work_t *w) {
  (void)w;
  atomic_fetch_add(&pool_blocked, 1);
  while (sem_wait(&pool_gate) != 0) {
  }
}

static void blocker_done(uv_work_t *w, int status) {
  (void)w;
  (void)status;
}

/* Occupy every thread of libuv's pool (UV_THREADPOOL_SIZE, 4 by default). */
static void pool_block(uv_loop_t *loop) {
  const char *env = getenv("UV_THREADPOOL_SIZE");
  n_blockers = env && atoi(env) > 0 ? atoi(env) : 4;
  blockers = calloc((size_t)n_blockers, sizeof *blockers);
  ck_assert_int_eq(sem_init(&pool_gate, 0, 0), 0);
  atomic_store(&pool_blocked, 0);
  for (int i = 0; i < n_blockers; i++)
    ck_assert_int_eq(uv_queue_work(loop, &blockers[i].w, blocker_run, blocker_done), 0);
  while (atomic_load(&pool_blocked) < n_blockers) usleep(1000);
}

static void pool_release(void) {
  for (int i = 0; i < n_blockers; i++) sem_post(&pool_gate);
}

/* After pool_release and the loop has run the blockers' done callbacks. */
static void pool_free(void) {
  sem_destroy(&pool_gate);
  free(blockers);
  blockers = NULL;
}

static void *release_later(void *arg) {
  usleep((useconds_t)(uintptr_t)arg * 1000);
  pool_release();
  return NULL;
}

/* fx_request(id) with its one resource n times: a request of n times the
 * profiles, well above PC_BODY_INLINE_MAX for n in the hundreds. */
static void big_request(pc_arena_t *a, pc_request_t *req, uint64_t id, size_t n) {
  fx_request(a, req, id);
  pc_resource_profiles_t *many = pc_arena_calloc(a, n, sizeof *many);
  for (size_t i = 0; i < n; i++) many[i] = req->resources[0];
  req->resources = many;
  req->n_resources = n;
}

/* A protobuf body of req with no compressed variant (what a producer that
 * leaves compression to the exporters hands on). */
static pc_body_t *plain_body(const pc_request_t *req) {
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(req, &pb), 0);
  return pc_body_new(&pb, false, false, pc_request_profile_count(req),
                     pc_request_sample_count(req), NULL);
}

static unsigned body_refs(pc_body_t *b) { return atomic_load(&b->refs); }

/* Request i as s received it holds n_resources resources. */
static void check_resources(srv_t *s, size_t i, size_t n_resources) {
  srv_request_t r = srv_request(s, i);
  pc_arena_t *a = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got;
  fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
  ck_assert_uint_eq(got.n_resources, n_resources);
  pc_buf_free(&plain);
  pc_arena_free(a);
}

/* A big body is compressed in the pool, not in consume; what comes behind
 * it (a small tree) waits behind it, so the two leave in order; both count
 * as held meanwhile. The tree path (loop 1) is the same through
 * consume_profiles. */
START_TEST(big_bodies_are_compressed_in_the_pool_in_order) {
  bool tree = _i == 1;
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  big_request(a, &req, 1, 400);
  pc_body_t *b = plain_body(&req);
  ck_assert_uint_gt(b->plain_n, PC_BODY_INLINE_MAX);
  pool_block(&fx.loop);
  uint64_t made = pc_body_compressions();
  pc_err_t err = {0};
  ck_assert_int_eq(tree ? fx.c->consume_profiles(fx.c, &req, &err)
                        : fx.c->consume_encoded(fx.c, b, &err), 0);
  ck_assert_uint_eq(pc_body_compressions(), made); /* nothing compressed by consume */
  if (!tree) {
    ck_assert_ptr_nonnull(b->job[PC_ENC_GZIP]); /* waiting for the pool */
    ck_assert_ptr_null(b->v[PC_ENC_GZIP]);
  }
  fx_consume_ids(&fx, 7, 1); /* small: compressed at once, queued behind */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.queue_batches, 2);
  ck_assert_uint_gt(st.queue_bytes, b->plain_n);
  fx_run_for(&fx, 100);
  ck_assert_uint_eq(srv_count(s), 0); /* the small one waits for the big one */
  pool_release();
  fx_wait_count(&fx, sent_batches, 2, 10000);
  check_resources(s, 0, 400);
  fx_check_sent(s, 1, 7);
  ck_assert_uint_eq(pc_body_compressions(), made + 2);
  if (!tree) {
    ck_assert_ptr_null(b->job[PC_ENC_GZIP]);
    ck_assert_ptr_nonnull(b->v[PC_ENC_GZIP]); /* made once, on the body, for every sender */
  }
  fx_close(&fx, 1000);
  pool_free();
  pc_body_unref(b);
  pc_arena_free(a);
  srv_stop(s);
}
END_TEST

/* Waiting bodies count against the queue's caps like queued ones. */
START_TEST(bodies_waiting_for_the_pool_count_against_the_queue) {
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n  queue_size: 2\n", srv_url(s));
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  big_request(a, &req, 1, 400);
  pc_body_t *b1 = plain_body(&req), *b2 = plain_body(&req);
  pool_block(&fx.loop);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b1, &err), 0);
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b2, &err), 0);
  pc_arena_t *sa = pc_arena_new(4096);
  pc_request_t small;
  fx_request(sa, &small, 3);
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &small, &err), PC_EAGAIN);
  ck_assert_ptr_nonnull(strstr(err.msg, "full"));
  ck_assert_uint_eq(fx_stats(&fx).refused_batches, 1);
  ck_assert_uint_eq(fx_stats(&fx).queue_batches, 2);
  pool_release();
  fx_wait_count(&fx, sent_batches, 2, 10000);
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &small, &err), 0); /* room again */
  fx_wait_count(&fx, sent_batches, 3, 10000);
  fx_close(&fx, 1000);
  pool_free();
  pc_body_unref(b1);
  pc_body_unref(b2);
  pc_arena_free(sa);
  pc_arena_free(a);
  srv_stop(s);
}
END_TEST

/* A compression cannot be stopped: shutdown waits for it past the
 * deadline, then counts the body as lost (in memory) and lets go of it. */
START_TEST(shutdown_waits_for_the_pool) {
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  big_request(a, &req, 1, 400);
  pc_body_t *b = plain_body(&req);
  pool_block(&fx.loop);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  ck_assert_uint_eq(body_refs(b), 3); /* the test, the exporter, the job */
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, release_later, (void *)(uintptr_t)300), 0);
  uint64_t took = fx_shutdown(&fx, 50);
  pthread_join(th, NULL);
  ck_assert_uint_ge(took, 250); /* until the compression came back */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.lost_batches, 1);
  ck_assert_uint_eq(st.lost_profiles, pc_request_profile_count(&req));
  ck_assert_uint_eq(st.queue_batches, 0);
  ck_assert_uint_eq(body_refs(b), 1);
  fx_destroy(&fx);
  pool_free();
  pc_body_unref(b);
  pc_arena_free(a);
  srv_stop(s);
}
END_TEST

/* A persistent queue acknowledges only what it wrote: a big body is
 * compressed by consume, on the loop, and is on disk when consume returns. */
START_TEST(persistent_queue_compresses_before_it_acknowledges) {
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage", dir, false);
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  big_request(a, &req, 1, 400);
  pc_body_t *b = plain_body(&req);
  pool_block(&fx.loop);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  ck_assert_ptr_null(b->job[PC_ENC_GZIP]);
  ck_assert_ptr_nonnull(b->v[PC_ENC_GZIP]);
  ck_assert_uint_gt(fx_stats(&fx).queue_disk_bytes, b->v[PC_ENC_GZIP]->n);
  pool_release();
  fx_shutdown(&fx, 50);
  fx_destroy(&fx);
  pool_free();
  srv_down(s, false);
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  fx_wait_count(&fx, sent_batches, 1, 10000);
  check_resources(s, 0, 400);
  fx_close(&fx, 1000);
  pc_body_unref(b);
  pc_arena_free(a);
  fx_storage_free(st);
  fx_rmtree(dir);
  free(dir);
  srv_stop(s);
}
END_TEST

/* The same body at an in-memory exporter and then at a persistent one
 * while the first one's compression is in the pool: the persistent one
 * cannot wait for it, nor touch the variant the pool thread is writing,
 * so it compresses a copy of its own; both deliver the same batch. */
START_TEST(persistent_queue_beside_a_compression_in_flight) {
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage", dir, false);
  srv_t *s = srv_start();
  fx_t mem, disk;
  fx_open(&mem, &pc_exporter_otlphttp, "otlphttp/mem", "endpoint: %s\n" FX_RETRY_FAST,
          srv_url(s));
  fx_open(&disk, &pc_exporter_otlphttp, "otlphttp/disk", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  big_request(a, &req, 1, 400);
  pc_body_t *b = plain_body(&req);
  pool_block(&mem.loop);
  pc_err_t err = {0};
  ck_assert_int_eq(mem.c->consume_encoded(mem.c, b, &err), 0);
  ck_assert_ptr_nonnull(b->job[PC_ENC_GZIP]);
  ck_assert_int_eq(disk.c->consume_encoded(disk.c, b, &err), 0);
  ck_assert_ptr_nonnull(b->job[PC_ENC_GZIP]); /* untouched: still the pool's */
  ck_assert_ptr_null(b->v[PC_ENC_GZIP]);
  ck_assert_uint_gt(fx_stats(&disk).queue_disk_bytes, 0);
  fx_wait_count(&disk, sent_batches, 1, 10000);
  pool_release();
  fx_wait_count(&mem, sent_batches, 1, 10000);
  ck_assert_uint_eq(srv_count(s), 2);
  check_resources(s, 0, 400);
  check_resources(s, 1, 400);
  fx_close(&mem, 1000);
  fx_close(&disk, 1000);
  pool_free();
  pc_body_unref(b);
  pc_arena_free(a);
  fx_storage_free(st);
  fx_rmtree(dir);
  free(dir);
  srv_stop(s);
}
END_TEST

TCase *pc_test_send_tcase(void);
TCase *pc_test_send_tcase(void) {
  TCase *tc = tcase_create("send");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, splits_batches_above_the_body_limit, 0, 2);
  tcase_add_test(tc, backend_down_then_up_delivers_everything);
  tcase_add_test(tc, gives_up_after_max_elapsed_time);
  tcase_add_test(tc, in_flight_bounded_by_num_consumers);
  tcase_add_test(tc, full_queue_refuses_and_counts);
  tcase_add_test(tc, disabled_queue_holds_only_in_flight);
  tcase_add_test(tc, disabled_retry_drops_at_first_failure);
  tcase_add_test(tc, shutdown_drains_before_the_deadline);
  tcase_add_test(tc, persistent_queue_survives_a_restart);
  tcase_add_test(tc, kill9_under_load_loses_nothing_acknowledged);
  tcase_add_test(tc, storage_must_name_a_file_storage);
  tcase_add_test(tc, body_refs_under_retries_and_shutdown);
  tcase_add_test(tc, body_refs_through_the_persistent_queue);
  tcase_add_loop_test(tc, big_bodies_are_compressed_in_the_pool_in_order, 0, 2);
  tcase_add_test(tc, bodies_waiting_for_the_pool_count_against_the_queue);
  tcase_add_test(tc, shutdown_waits_for_the_pool);
  tcase_add_test(tc, persistent_queue_compresses_before_it_acknowledges);
  tcase_add_test(tc, persistent_queue_beside_a_compression_in_flight);
  return tc;
}
