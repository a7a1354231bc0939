/* test_otlphttp.c - the `otlp_http` exporter's wire and client
 * (exporter/otlphttp.c, client.c, component/curl.c) against a real loopback
 * HTTP server (httpsrv.c): delivery that decodes to what was sent,
 * keep-alive and configured headers, which statuses are retried (429, 502,
 * 503, 504) and after how long (Retry-After in seconds and as a date), what
 * is never retried (400, 401, 404, 413, 500, partial success), timeouts and
 * closed connections, a bearer token, json and zstd, traces to their
 * endpoint, https with a CA, and config errors. What every wire shares is
 * in test_send.c. */
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

START_TEST(delivers_with_keepalive_and_headers) {
  srv_t *s = srv_start();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/t", "endpoint: %s/\n"
          "headers:\n  X-Scope-OrgID: tenant-7\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  fx_consume_ids(&fx, 1, 5);
  fx_wait_count(&fx, sent_batches, 5, 5000);
  ck_assert_uint_eq(srv_count(s), 5);
  uint64_t bytes = 0;
  for (size_t i = 0; i < 5; i++) {
    srv_request_t r = srv_request(s, i);
    ck_assert_str_eq(r.path, "/v1development/profiles");
    ck_assert_str_eq(r.content_type, "application/x-protobuf");
    ck_assert_str_eq(r.content_encoding, "gzip");
    ck_assert_ptr_nonnull(strstr(r.headers, "X-Scope-OrgID: tenant-7\r\n"));
    fx_check_sent(s, i, 1 + i); /* one consumer: FIFO order on the wire */
    bytes += r.n;
  }
  ck_assert_int_eq(srv_connections(s), 1); /* keep-alive: one connection reused */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.sent_profiles, 5 * fx_profiles_per_request());
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  fx_consume_ids(&fx, 42, 1);
  fx_wait_count(&fx, sent_batches, 1, 5000);
  ck_assert_uint_eq(srv_count(s), 3);
  srv_request_t r0 = srv_request(s, 0), r2 = srv_request(s, 2);
  ck_assert_uint_eq(r0.n, r2.n); /* the same finished body, sent again */
  ck_assert_mem_eq(r0.body, r2.body, r0.n);
  fx_check_sent(s, 2, 42);
  pc_otlphttp_stats_t st = fx_stats(&fx);
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
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, sent_batches, 1, 5000);
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
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, sent_batches, 1, 6000);
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, dropped_batches, 1, 5000);
  fx_run_for(&fx, 300); /* several retry intervals: nothing more may come */
  ck_assert_uint_eq(srv_count(s), 1);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_eq(st.dropped_profiles, fx_profiles_per_request());
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
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST, srv_url(s));
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, sent_batches, 1, 5000);
  fx_run_for(&fx, 300);
  ck_assert_uint_eq(srv_count(s), 1);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.rejected_profiles, 2);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.sent_batches, 1);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(timeout_is_retried) {
  srv_t *s = srv_start();
  srv_answer_t hang = {.hang = true};
  srv_script(s, &hang, 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\ntimeout: 200ms\n" FX_RETRY_FAST,
          srv_url(s));
  fx_consume_ids(&fx, 5, 1);
  fx_wait_count(&fx, sent_batches, 1, 5000);
  ck_assert_uint_eq(srv_count(s), 2);
  fx_check_sent(s, 1, 5);
  ck_assert_uint_eq(fx_stats(&fx).failed_attempts, 1);
  fx_close(&fx, 1000);
  srv_stop(s);
}
END_TEST

START_TEST(server_closing_connections) {
  srv_t *s = srv_start();
  srv_answer_t a = {.close = true};
  srv_set_default(s, &a);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp", "endpoint: %s\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  fx_consume_ids(&fx, 1, 4);
  fx_wait_count(&fx, sent_batches, 4, 5000);
  ck_assert_int_eq(srv_connections(s), 4);
  for (size_t i = 0; i < 4; i++) fx_check_sent(s, i, 1 + i);
  fx_close(&fx, 1000);
  srv_stop(s);
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
  fx_consume_ids(&fx, 1, 2);
  fx_wait_count(&fx, sent_batches, 2, 5000);
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
          "compression: zstd\n" FX_RETRY_FAST "sending_queue:\n  num_consumers: 1\n", srv_url(s));
  ck_assert(fx.c->consume_encoded == NULL); /* protobuf bytes would not do */
  fx_consume_ids(&fx, 7, 2);
  fx_wait_count(&fx, sent_batches, 2, 5000);
  for (size_t i = 0; i < 2; i++) {
    srv_request_t r = srv_request(s, i);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.content_encoding, "zstd");
    fx_check_sent(s, i, 7 + i);
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
  fx_wait_count(&fx, sent_batches, 1, 5000);
  srv_request_t r = srv_request(s, 0);
  ck_assert_str_eq(r.path, "/custom/traces");
  ck_assert_str_eq(r.content_encoding, "");
  ck_assert_uint_eq(r.n, sizeof spans - 1);
  ck_assert_mem_eq(r.body, spans, r.n);
  fx_close(&fx, 1000);
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
          FX_RETRY_FAST, h.port, cert);
  fx_consume_ids(&fx, 31, 2);
  fx_wait_count(&fx, sent_batches, 2, 20000);
  ck_assert_uint_eq(fx_stats(&fx).failed_attempts, 0);
  fx_close(&fx, 2000);
  ck_assert_uint_eq(https_body_id(&h, 0) + https_body_id(&h, 1), 31 + 32);

  fx_open(&fx, &pc_exporter_otlphttp, "otlphttp/tls", "endpoint: https://127.0.0.1:%d\n"
          FX_RETRY_FAST, h.port);
  fx_consume_ids(&fx, 33, 1);
  fx_wait_count(&fx, failed_attempts, 2, 10000);
  ck_assert_uint_eq(fx_stats(&fx).sent_batches, 0);
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
    /* configcompression's ValidateParams: gzip takes -2..9, nothing else */
    {"endpoint: http://x:4318\ncompression_params:\n  level: 10\n",
     "test.yaml:3:10: compression_params.level: 10 is not a gzip level: -2 "
     "(HuffmanOnly), -1 (default), 0 (unset: default) or 1 (BestSpeed) to 9 (BestCompression)"},
    {"endpoint: http://x:4318\ncompression: gzip\ncompression_params: {level: -3}\n",
     "test.yaml:3:29: compression_params.level: -3 is not a gzip level"},
    {"endpoint: http://x:4318\ncompression_params: {levle: 1}\n", "did you mean \"level\""},
    {"endpoint: http://x:4318\ncompression_params: {level: fast}\n", "integer"},
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

/* compression_params.level where the Collector's confighttp takes it: each
 * accepted level picks the body variant of its codec level, the default
 * ones the encoding's own, so exporters at the default level share one
 * compression and one at another level gets its own. */
START_TEST(compression_params_level_accepted) {
  static const struct {
    const char *compression;
    int level;
    int codec; /* 0: the encoding's default variant */
  } cases[] = {
      {"gzip", 0, 0},  {"gzip", -1, 0}, {"gzip", 6, 0},   {"gzip", 9, 9},   {"gzip", 1, 1},
      {"gzip", -2, 1}, {"zstd", 0, 0},  {"zstd", -7, 0},  {"zstd", 2, 0},   {"zstd", 5, 3},
      {"zstd", 9, 7},  {"zstd", 22, 11}, {"none", 99, 0}, /* an uncompressed client: unchecked */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pc_err_t err = {0};
    fx_t fx;
    int rc = fx_try_open(&fx, &pc_exporter_otlphttp, "otlphttp", &err,
                         "endpoint: http://127.0.0.1:1\ncompression: %s\n"
                         "compression_params:\n  level: %d\n",
                         cases[i].compression, cases[i].level);
    ck_assert_msg(rc == 0, "%s level %d: %s", cases[i].compression, cases[i].level, err.msg);
    pc_encoding_t enc = !strcmp(cases[i].compression, "gzip")   ? PC_ENC_GZIP
                        : !strcmp(cases[i].compression, "zstd") ? PC_ENC_ZSTD
                                                                : PC_ENC_IDENTITY;
    unsigned want = enc;
    if (cases[i].codec) ck_assert_int_eq(pc_body_variant(enc, cases[i].codec, &want), 0);
    ck_assert_msg(fx.c->encodings == 1u << want, "%s level %d: variants 0x%x, want 0x%x",
                  cases[i].compression, cases[i].level, fx.c->encodings, 1u << want);
    if (cases[i].codec) ck_assert_uint_gt(want, PC_ENC_ZSTD);
    fx_close(&fx, 1000);
  }
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
  tcase_add_test(tc, timeout_is_retried);
  tcase_add_test(tc, server_closing_connections);
  tcase_add_test(tc, json_encoding_and_zstd);
  tcase_add_test(tc, bearer_token_on_every_request);
  tcase_add_test(tc, traces_go_to_their_endpoint);
  tcase_add_test(tc, https_with_ca_file);
  tcase_add_test(tc, compression_params_level_accepted);
  tcase_add_loop_test(tc, config_errors_name_the_key, 0,
                      (int)(sizeof bad_cfgs / sizeof bad_cfgs[0]));
  return tc;
}
