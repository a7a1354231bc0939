/* test_otlphttp.c - exporter/otlphttp.c against a real loopback HTTP server
 * (httpsrv.c): delivery that decodes to what was sent, keep-alive, retries
 * (503 then 200, Retry-After in seconds and as a date, timeouts, a backend
 * that is down then up), what is never retried (400, partial success),
 * giving up, splitting, the queue's limits, shutdown, the persistent queue
 * across a clean restart and across kill -9 under load, and config errors. */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../extension/extension.h"
#include "../pdata/testdata.h"
#include "../auth.h"
#include "fixture.h"
#include "../certs.h"
#include "httpsrv.h"

/* Short intervals: a test waits milliseconds where production waits seconds. */
#define RETRY_FAST                                  \
  "retry_on_failure:\n"                             \
  "  initial_interval: 20ms\n"                      \
  "  max_interval: 100ms\n"                         \
  "  max_elapsed_time: 20s\n"

static pc_otlphttp_stats_t stats(fx_t *fx) {
  pc_otlphttp_stats_t st;
  ck_assert_int_eq(pc_otlphttp_stats(fx->inst, &st), 0);
  return st;
}

static void consume_ids(fx_t *fx, uint64_t first, int n) {
  for (int i = 0; i < n; i++) {
    pc_arena_t *a = pc_arena_new(4096);
    pc_request_t req;
    fx_request(a, &req, first + (uint64_t)i);
    pc_err_t err = {0};
    int rc = fx->c->consume_profiles(fx->c, &req, &err);
    ck_assert_msg(rc == 0, "consume %d: %s (%s)", i, pc_err_name(rc), err.msg);
    pc_arena_free(a);
  }
}

static uint64_t profiles_per_request(void) {
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 1);
  uint64_t n = pc_request_profile_count(&req);
  pc_arena_free(a);
  return n;
}

typedef struct {
  fx_t *fx;
  srv_t *srv;
  uint64_t n;
} wait_t;

static bool sent_at_least(void *arg) {
  wait_t *w = arg;
  return stats(w->fx).sent_batches >= w->n;
}
static bool dropped_at_least(void *arg) {
  wait_t *w = arg;
  return stats(w->fx).dropped_batches >= w->n;
}

static void wait_sent(fx_t *fx, uint64_t n, uint64_t timeout_ms) {
  wait_t w = {.fx = fx, .n = n};
  ck_assert_msg(fx_run_until(fx, sent_at_least, &w, timeout_ms), "sent %llu of %llu batches",
                (unsigned long long)stats(fx).sent_batches, (unsigned long long)n);
}

/* Request i as received decodes to exactly fx_request(want_id). */
static void check_body(srv_t *s, size_t i, uint64_t want_id) {
  srv_request_t r = srv_request(s, i);
  pc_arena_t *a = pc_arena_new(4096), *b = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got, want;
  fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
  fx_request(b, &want, want_id);
  pc_test_assert_request_eq(&want, &got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  pc_arena_free(b);
}

static uint64_t body_id(srv_t *s, size_t i) {
  srv_request_t r = srv_request(s, i);
  pc_arena_t *a = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got;
  fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
  uint64_t id = fx_request_id(&got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  return id;
}

START_TEST(delivers_with_keepalive_and_headers) {
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/t", "endpoint: %s/\n"
          "headers:\n  X-Scope-OrgID: tenant-7\n" RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  consume_ids(&fx, 1, 5);
  wait_sent(&fx, 5, 5000);
  ck_assert_uint_eq(srv_count(s), 5);
  uint64_t bytes = 0;
  for (size_t i = 0; i < 5; i++) {
    srv_request_t r = srv_request(s, i);
    ck_assert_str_eq(r.path, "/v1development/profiles");
    ck_assert_str_eq(r.content_type, "application/x-protobuf");
    ck_assert_str_eq(r.content_encoding, "gzip");
    ck_assert_ptr_nonnull(strstr(r.headers, "X-Scope-OrgID: tenant-7\r\n"));
    check_body(s, i, 1 + i); /* one consumer: FIFO order on the wire */
    bytes += r.n;
  }
  ck_assert_int_eq(srv_connections(s), 1); /* keep-alive: one connection reused */
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.sent_profiles, 5 * profiles_per_request());
  ck_assert_uint_eq(st.sent_bytes, bytes);
  ck_assert_uint_eq(st.failed_attempts, 0);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.queue_batches, 0);
  ck_assert_uint_eq(st.queue_bytes, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

static const int retryable[] = {429, 502, 503, 504};

START_TEST(retryable_status_then_success) {
  srv_t *s = srv_start();
  srv_answer_t script[3] = {0};
  srv_answer_status(&script[0], retryable[_i], "overloaded");
  srv_answer_status(&script[1], retryable[_i], "still overloaded");
  srv_script(s, script, 3); /* then 200 */
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST, srv_url(s));
  consume_ids(&fx, 42, 1);
  wait_sent(&fx, 1, 5000);
  ck_assert_uint_eq(srv_count(s), 3);
  srv_request_t r0 = srv_request(s, 0), r2 = srv_request(s, 2);
  ck_assert_uint_eq(r0.n, r2.n); /* the same finished body, sent again */
  ck_assert_mem_eq(r0.body, r2.body, r0.n);
  check_body(s, 2, 42);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.retries, 2);
  ck_assert_uint_eq(st.failed_attempts, 2);
  ck_assert_uint_eq(st.dropped_batches, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

/* Retry-After is a floor over the backoff: 1 s here against a 10 ms interval. */
START_TEST(retry_after_seconds_is_honoured) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, 503, "come back later");
  a.retry_after_s = 1;
  srv_script(s, &a, 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "retry_on_failure:\n  initial_interval: 10ms\n  max_interval: 10ms\n", srv_url(s));
  consume_ids(&fx, 1, 1);
  wait_sent(&fx, 1, 5000);
  uint64_t gap = srv_request(s, 1).at_ms - srv_request(s, 0).at_ms;
  ck_assert_uint_ge(gap, 1000);
  ck_assert_uint_lt(gap, 2500);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(retry_after_http_date_is_honoured) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, 429, "slow down");
  a.retry_after_s = 2;
  a.retry_after_date = true; /* a date 2 s ahead: 1 to 2 s once rounded to seconds */
  srv_script(s, &a, 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "retry_on_failure:\n  initial_interval: 10ms\n  max_interval: 10ms\n", srv_url(s));
  consume_ids(&fx, 1, 1);
  wait_sent(&fx, 1, 6000);
  uint64_t gap = srv_request(s, 1).at_ms - srv_request(s, 0).at_ms;
  ck_assert_uint_ge(gap, 900);
  ck_assert_uint_lt(gap, 3500);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

static const int permanent[] = {400, 401, 404, 413, 500};

START_TEST(permanent_status_is_not_retried) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, permanent[_i], "profile 3: stack_index 99 out of range");
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST, srv_url(s));
  consume_ids(&fx, 1, 1);
  wait_t w = {.fx = &fx, .n = 1};
  ck_assert(fx_run_until(&fx, dropped_at_least, &w, 5000));
  fx_run_for(&fx, 300); /* several retry intervals: nothing more may come */
  ck_assert_uint_eq(srv_count(s), 1);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_eq(st.dropped_profiles, profiles_per_request());
  ck_assert_uint_eq(st.queue_batches, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(partial_success_is_counted_not_retried) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_partial(&a, 2, "2 profiles had no sample_type");
  srv_script(s, &a, 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST, srv_url(s));
  consume_ids(&fx, 1, 1);
  wait_sent(&fx, 1, 5000);
  fx_run_for(&fx, 300);
  ck_assert_uint_eq(srv_count(s), 1);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.rejected_profiles, 2);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.sent_batches, 1);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

/* The backend refuses connections for a while; everything queued meanwhile is
 * delivered, each batch once, when it comes back. */
START_TEST(backend_down_then_up_delivers_everything) {
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST, srv_url(s));
  consume_ids(&fx, 100, 8);
  fx_run_for(&fx, 2000);
  ck_assert_uint_eq(srv_count(s), 0);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_gt(st.failed_attempts, 8);
  ck_assert_uint_gt(st.retries, 8);
  ck_assert_uint_eq(st.queue_batches, 8);
  srv_down(s, false);
  wait_sent(&fx, 8, 5000);
  ck_assert_uint_eq(srv_count(s), 8);
  bool seen[8] = {0};
  for (size_t i = 0; i < 8; i++) {
    uint64_t id = body_id(s, i);
    ck_assert(id >= 100 && id < 108 && !seen[id - 100]);
    seen[id - 100] = true;
    check_body(s, i, id);
  }
  ck_assert_uint_eq(stats(&fx).dropped_batches, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(gives_up_after_max_elapsed_time) {
  srv_t *s = srv_start();
  srv_answer_t a;
  srv_answer_status(&a, 503, "down for maintenance");
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n"
          "retry_on_failure:\n  initial_interval: 20ms\n  max_interval: 40ms\n"
          "  max_elapsed_time: 300ms\n", srv_url(s));
  consume_ids(&fx, 1, 1);
  wait_t w = {.fx = &fx, .n = 1};
  uint64_t t0 = srv_now_ms();
  ck_assert(fx_run_until(&fx, dropped_at_least, &w, 5000));
  ck_assert_uint_lt(srv_now_ms() - t0, 1500);
  ck_assert_uint_ge(srv_count(s), 4);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_eq(st.dropped_batches, 1);
  ck_assert_uint_eq(st.queue_batches, 0);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(timeout_is_retried) {
  srv_t *s = srv_start();
  srv_answer_t hang = {.hang = true};
  srv_script(s, &hang, 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\ntimeout: 200ms\n" RETRY_FAST,
          srv_url(s));
  consume_ids(&fx, 5, 1);
  wait_sent(&fx, 1, 5000);
  ck_assert_uint_eq(srv_count(s), 2);
  check_body(s, 1, 5);
  ck_assert_uint_eq(stats(&fx).failed_attempts, 1);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(server_closing_connections) {
  srv_t *s = srv_start();
  srv_answer_t a = {.close = true};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  consume_ids(&fx, 1, 4);
  wait_sent(&fx, 4, 5000);
  ck_assert_int_eq(srv_connections(s), 4);
  for (size_t i = 0; i < 4; i++) check_body(s, i, 1 + i);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(in_flight_bounded_by_num_consumers) {
  srv_t *s = srv_start();
  srv_answer_t a = {.delay_ms = 150};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
          "sending_queue:\n  num_consumers: 2\n", srv_url(s));
  consume_ids(&fx, 1, 6);
  wait_sent(&fx, 6, 5000);
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n  queue_size: 2\n", srv_url(s));
  consume_ids(&fx, 1, 2);
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 3);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &req, &err), PC_EAGAIN);
  ck_assert_ptr_nonnull(strstr(err.msg, "full"));
  ck_assert_uint_gt(fx.c->retry_after_s, 0);
  pc_arena_free(a);
  pc_otlphttp_stats_t st = stats(&fx);
  ck_assert_uint_eq(st.refused_batches, 1);
  ck_assert_uint_eq(st.queue_batches, 2);
  /* In memory, what is still held at the deadline is lost, and counted. */
  uint64_t took = fx_shutdown(&fx, 300);
  ck_assert_uint_ge(took, 250);
  ck_assert_uint_lt(took, 2000);
  st = stats(&fx);
  ck_assert_uint_eq(st.lost_batches, 2);
  ck_assert_uint_eq(st.lost_profiles, 2 * profiles_per_request());
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
  consume_ids(&fx, 1, 2);
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
  consume_ids(&fx, 1, 1);
  wait_t w = {.fx = &fx, .n = 1};
  ck_assert(fx_run_until(&fx, dropped_at_least, &w, 5000));
  fx_run_for(&fx, 200);
  ck_assert_uint_eq(srv_count(s), 1);
  ck_assert_uint_eq(stats(&fx).retries, 0);
  fx_close(&fx, 100);
  srv_stop(s);
}
END_TEST

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
          RETRY_FAST, srv_url(s), limit);
  pc_err_t err = {0};
  ck_assert_int_eq(encoded ? fx_consume_encoded(&fx, &req, &err)
                           : fx.c->consume_profiles(fx.c, &req, &err), 0);
  wait_sent(&fx, 4, 5000);
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
  ck_assert_uint_eq(stats(&fx).sent_profiles, profiles);

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

/* auth with a bearertokenauth: its header on every request, in place of a
 * configured one of the same name. */
START_TEST(bearer_token_on_every_request) {
  void *auth = pc_test_bearer_new("bearertokenauth/out", "token: s3cret\n");
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\nheaders: {authorization: old, "
          "X-Other: kept}\nauth: {authenticator: bearertokenauth/out}\n", srv_url(s));
  consume_ids(&fx, 1, 2);
  wait_sent(&fx, 2, 5000);
  for (size_t i = 0; i < 2; i++) {
    srv_request_t r = srv_request(s, i);
    ck_assert_msg(strstr(r.headers, "Authorization: Bearer s3cret\r\n") &&
                  !strstr(r.headers, "old") && strstr(r.headers, "X-Other: kept\r\n"), "%s",
                  r.headers);
  }
  fx_close(&fx, 1000);
  srv_stop(s);
  pc_test_bearer_free(auth);
}
END_TEST

START_TEST(json_encoding_and_zstd) {
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\nencoding: json\n"
          "compression: zstd\n" RETRY_FAST "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  ck_assert(fx.c->consume_encoded == NULL); /* protobuf bytes would not do */
  consume_ids(&fx, 7, 2);
  wait_sent(&fx, 2, 5000);
  for (size_t i = 0; i < 2; i++) {
    srv_request_t r = srv_request(s, i);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.content_encoding, "zstd");
    check_body(s, i, 7 + i);
  }
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(traces_go_to_their_endpoint) {
  srv_t *s = srv_start();
  char traces_url[128];
  snprintf(traces_url, sizeof traces_url, "%s/custom/traces", srv_url(s));
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\ntraces_endpoint: %s\n"
          "compression: none\n", srv_url(s), traces_url);
  /* The model is not read: the bytes go out as they came. */
  static const uint8_t spans[] = "\x0a\x03" "abc not really spans, sent as they came";
  pc_traces_t tr = {.encoded = spans, .encoded_n = sizeof spans - 1};
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_traces(fx.c, &tr, &err), 0);
  wait_sent(&fx, 1, 5000);
  srv_request_t r = srv_request(s, 0);
  ck_assert_str_eq(r.path, "/custom/traces");
  ck_assert_str_eq(r.content_encoding, "");
  ck_assert_uint_eq(r.n, sizeof spans - 1);
  ck_assert_mem_eq(r.body, spans, r.n);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(shutdown_drains_before_the_deadline) {
  srv_t *s = srv_start();
  srv_answer_t a = {.delay_ms = 50};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  consume_ids(&fx, 1, 4);
  uint64_t took = fx_shutdown(&fx, 10000);
  ck_assert_uint_lt(took, 5000); /* done as soon as drained, not at the deadline */
  pc_otlphttp_stats_t st = stats(&fx);
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

/* ---- https:// (tests/exporter/https_backend.py: Python's http.server + ssl) ---- */

typedef struct {
  pid_t pid;
  int port;
  char *dir;
} https_t;

static void https_start(https_t *h, const char *cert, const char *key) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(root != NULL, "PC_SOURCE_ROOT is not set (run through meson test)");
  h->dir = fx_tempdir();
  char script[1024], port_file[1024];
  snprintf(script, sizeof script, "%s/tests/exporter/https_backend.py", root);
  snprintf(port_file, sizeof port_file, "%s/port", h->dir);
  char *argv[] = {"/usr/bin/python3", script, "--cert", (char *)cert, "--key", (char *)key,
                  "--out", h->dir, "--port-file", port_file, NULL};
  h->port = fx_spawn_server(argv, port_file, 10000, &h->pid);
}

/* Body i as the backend got it, decoded: its request id. */
static uint64_t https_body_id(https_t *h, int i) {
  char path[1100], enc[32] = "";
  snprintf(path, sizeof path, "%s/%03d.enc", h->dir, i);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "no body %d", i);
  if (!fgets(enc, sizeof enc, f)) enc[0] = 0;
  fclose(f);
  snprintf(path, sizeof path, "%s/%03d.bin", h->dir, i);
  pc_buf_t raw = {0}, plain = {0};
  pc_test_read_file(path, &raw);
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t got;
  fx_decode("application/x-protobuf", enc, raw.p, raw.n, a, &plain, &got);
  uint64_t id = fx_request_id(&got);
  pc_buf_free(&plain);
  pc_buf_free(&raw);
  pc_arena_free(a);
  return id;
}

static bool failed_at_least(void *arg) {
  wait_t *w = arg;
  return stats(w->fx).failed_attempts >= w->n;
}

/* An https:// endpoint whose certificate only tls.ca_file vouches for:
 * delivered with it, refused on every try without it. */
START_TEST(https_with_ca_file) {
  char *certs = fx_tempdir(), cert[1024], key[1024];
  pc_test_cert(certs, "server", NULL, cert, key, sizeof cert);
  https_t h;
  https_start(&h, cert, key);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/tls",
          "endpoint: https://127.0.0.1:%d\ntls:\n  ca_file: %s\n  min_version: \"1.3\"\n"
          RETRY_FAST, h.port, cert);
  consume_ids(&fx, 31, 2);
  wait_sent(&fx, 2, 20000);
  ck_assert_uint_eq(stats(&fx).failed_attempts, 0);
  fx_close(&fx, 2000);
  ck_assert_uint_eq(https_body_id(&h, 0) + https_body_id(&h, 1), 31 + 32);

  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/tls", "endpoint: https://127.0.0.1:%d\n"
          RETRY_FAST, h.port);
  consume_ids(&fx, 33, 1);
  wait_t w = {.fx = &fx, .n = 2};
  ck_assert_msg(fx_run_until(&fx, failed_at_least, &w, 10000), "no failed TLS attempts");
  ck_assert_uint_eq(stats(&fx).sent_batches, 0);
  fx_close(&fx, 500);
  char path[1100];
  snprintf(path, sizeof path, "%s/002.bin", h.dir);
  ck_assert_msg(access(path, F_OK) != 0, "a body arrived without the CA");

  ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
  int status;
  ck_assert_int_eq(waitpid(h.pid, &status, 0), h.pid);
  fx_rmtree(h.dir);
  free(h.dir);
  fx_rmtree(certs);
  free(certs);
}
END_TEST

START_TEST(persistent_queue_survives_a_restart) {
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage", dir, true);
  srv_t *s = srv_start();
  srv_down(s, true);
  fx_t fx;
  const char *yaml = "endpoint: %s\n" RETRY_FAST "sending_queue:\n  storage: file_storage\n";
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  consume_ids(&fx, 10, 3);
  fx_shutdown(&fx, 200);
  pc_otlphttp_stats_t ps = stats(&fx);
  ck_assert_uint_eq(ps.lost_batches, 0); /* kept on disk, not lost */
  fx_destroy(&fx);

  srv_down(s, false);
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  wait_sent(&fx, 3, 5000);
  ps = stats(&fx);
  ck_assert_uint_eq(ps.replayed_batches, 3);
  bool seen[3] = {0};
  for (size_t i = 0; i < srv_count(s); i++) {
    uint64_t id = body_id(s, i);
    ck_assert(id >= 10 && id < 13);
    seen[id - 10] = true;
    check_body(s, i, id);
  }
  ck_assert(seen[0] && seen[1] && seen[2]);
  fx_close(&fx, 1000);
  /* Sent and acknowledged: a third start replays nothing. */
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", yaml, srv_url(s));
  ck_assert_uint_eq(stats(&fx).replayed_batches, 0);
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
  snprintf(yaml, sizeof yaml, "endpoint: %s\n" RETRY_FAST "sending_queue:\n"
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
    uint64_t id = body_id(w->srv, i);
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
  while (acked < 150 && poll(&p, 1, 10000) == 1 && read(fds[0], &id, sizeof id) == sizeof id) {
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/disk", "endpoint: %s\n" RETRY_FAST
          "sending_queue:\n  storage: file_storage\n", srv_url(s));
  ck_assert_uint_gt(stats(&fx).replayed_batches, 0);
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

typedef struct {
  const char *yaml;
  const char *expect;
} bad_cfg_t;

static const bad_cfg_t bad_cfgs[] = {
    {"endpoint: http://x:4318\ncompression: brotli\n", "gzip, zstd or none"},
    {"endpoint: http://x:4318\nencoding: xml\n", "proto or json"},
    {"timeout: 5s\n", "endpoint"},
    {"endpoint: x:4318\n", "http://"},
    {"endpoint: http://x:4318\nheaders:\n  Content-Type: text/plain\n", "set by the exporter"},
    {"endpoint: http://x:4318\nretry_on_failure:\n  multiplier: 0.5\n", "from 1"},
    {"endpoint: http://x:4318\nretry_on_failure:\n  randomization_factor: 2\n", "from 0 to 1"},
    {"endpoint: http://x:4318\nsending_queue:\n  enabled: false\n  storage: file_storage\n",
     "sending_queue.enabled"},
    {"endpoint: http://x:4318\nretry_on_failur:\n  enabled: false\n", "retry_on_failure"},
};

START_TEST(config_errors_name_the_key) {
  pc_err_t err = {0};
  void *inst = fx_create(&pc_exporter_otlphttp, "otlphttp", PC_SIGNAL_PROFILES, &err, "%s",
                         bad_cfgs[_i].yaml);
  ck_assert_ptr_null(inst);
  ck_assert_msg(strstr(err.msg, bad_cfgs[_i].expect) != NULL, "\"%s\" does not say \"%s\"",
                err.msg, bad_cfgs[_i].expect);
  ck_assert_msg(strstr(err.msg, "test.yaml:") != NULL, "\"%s\" has no location", err.msg);
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST, srv_url(s));
  pc_bytes_t *gz;
  pc_body_t *b = watched_body(1, &gz);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_encoded(fx.c, b, &err), 0);
  ck_assert_uint_eq(pc_bytes_refs(gz), 3); /* the test, the body, the queue */
  pc_body_unref(b);                        /* the producer is done with it */
  ck_assert_uint_eq(pc_bytes_refs(gz), 2);
  wait_t w = {.fx = &fx, .n = 1};
  ck_assert(fx_run_until(&fx, sent_at_least, &w, 5000));
  ck_assert_uint_eq(stats(&fx).retries, 2);
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" RETRY_FAST
          "sending_queue: {storage: file_storage}\n", srv_url(s));
  wait_sent(&fx, 1, 5000);
  ck_assert_uint_eq(stats(&fx).replayed_batches, 1);
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

TCase *pc_test_otlphttp_tcase(void);
TCase *pc_test_otlphttp_tcase(void) {
  TCase *tc = tcase_create("otlphttp");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, delivers_with_keepalive_and_headers);
  tcase_add_loop_test(tc, retryable_status_then_success, 0, 4);
  tcase_add_test(tc, retry_after_seconds_is_honoured);
  tcase_add_test(tc, retry_after_http_date_is_honoured);
  tcase_add_loop_test(tc, permanent_status_is_not_retried, 0, 5);
  tcase_add_test(tc, partial_success_is_counted_not_retried);
  tcase_add_test(tc, backend_down_then_up_delivers_everything);
  tcase_add_test(tc, gives_up_after_max_elapsed_time);
  tcase_add_test(tc, timeout_is_retried);
  tcase_add_test(tc, server_closing_connections);
  tcase_add_test(tc, in_flight_bounded_by_num_consumers);
  tcase_add_test(tc, full_queue_refuses_and_counts);
  tcase_add_test(tc, disabled_queue_holds_only_in_flight);
  tcase_add_test(tc, disabled_retry_drops_at_first_failure);
  tcase_add_loop_test(tc, splits_batches_above_the_body_limit, 0, 2);
  tcase_add_test(tc, json_encoding_and_zstd);
  tcase_add_test(tc, bearer_token_on_every_request);
  tcase_add_test(tc, body_refs_under_retries_and_shutdown);
  tcase_add_test(tc, body_refs_through_the_persistent_queue);
  tcase_add_test(tc, traces_go_to_their_endpoint);
  tcase_add_test(tc, shutdown_drains_before_the_deadline);
  tcase_add_test(tc, persistent_queue_survives_a_restart);
  tcase_add_test(tc, https_with_ca_file);
  tcase_add_test(tc, kill9_under_load_loses_nothing_acknowledged);
  tcase_add_test(tc, storage_must_name_a_file_storage);
  tcase_add_loop_test(tc, config_errors_name_the_key, 0,
                      (int)(sizeof bad_cfgs / sizeof bad_cfgs[0]));
  return tc;
}
