/* test_grpc.c - the grpc suite: the otlp receiver's OTLP/gRPC side
 * (receiver/grpc.c) on a libuv loop in a background thread, spoken to by an
 * independent client: Debian's python3-grpcio running
 * tests/grpc/grpc_client.py, with stubs generated from the project's .proto
 * files. The client checks the statuses it gets; this side checks what the
 * recording consumer got and the counters. Raw sockets and a small nghttp2
 * client (h2client.c) cover what a well-behaved client never does (a silent
 * connection, garbage, prefixes that lie, windows held full). */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "certs.h"
#include "e2e/e2e.h"
#include "h2client.h"
#include <nghttp2/nghttp2.h>
#include "rxthread.h"
#include "pdata/testdata.h"
#include "../receiver/grpc.h"

extern char **environ;

#define PYTHON "/usr/bin/python3" /* Debian's, with python3-grpcio */

/* ---- a consumer that records what it got ------------------------------------ */

typedef struct {
  pc_consumer_t c;
  pthread_mutex_t mu;
  int rc; /* what consume returns */
  unsigned profiles_calls, traces_calls;
  pc_buf_t last;   /* the last profiles request, re-encoded as protobuf */
  pc_buf_t traces; /* the last traces request as received */
  uint64_t spans;  /* ... its spans, as decoded */
  char span_name[64];
  _Atomic bool is_full; /* what the full hook says */
} tconsumer_t;

static bool tc_full(pc_consumer_t *self, pc_err_t *err) {
  bool full = container_of(self, tconsumer_t, c)->is_full;
  if (full) pc_err_set(err, PC_EAGAIN, "test consumer is full");
  return full;
}

static int tc_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  tconsumer_t *t = container_of(self, tconsumer_t, c);
  pthread_mutex_lock(&t->mu);
  t->profiles_calls++;
  t->last.n = 0;
  int rc = pc_proto_encode(req, &t->last);
  if (!rc) rc = t->rc;
  pthread_mutex_unlock(&t->mu);
  if (rc) pc_err_set(err, rc, "test consumer refuses: %s", pc_err_name(rc));
  return rc;
}

static int tc_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  tconsumer_t *t = container_of(self, tconsumer_t, c);
  pthread_mutex_lock(&t->mu);
  t->traces_calls++;
  t->traces.n = 0;
  pc_buf_append(&t->traces, tr->encoded, tr->encoded_n);
  t->spans = pc_traces_span_count(tr);
  const pc_span_t *sp = &tr->resources[0].scopes[0].spans[0];
  snprintf(t->span_name, sizeof t->span_name, "%.*s", PC_STR_FMT(sp->name));
  int rc = tr->json ? PC_EINVAL : t->rc;
  pthread_mutex_unlock(&t->mu);
  if (rc) pc_err_set(err, rc, "test consumer refuses traces");
  return rc;
}

/* ---- the receiver on a loop thread ---------------------------------------------- */

typedef struct {
  pc_rxthread_t th;
  pc_cfg_t *cfg;
  void *rx;
  int port;
  tconsumer_t tc;
} tserver_t;

/* Create the receiver from YAML (the receiver's own node), as the service
 * does; NULL with err filled when create refuses it. */
static void *create_from(const char *yaml, pc_consumer_t *next, pc_cfg_t **cfg, pc_err_t *err) {
  *cfg = pc_cfg_load_string("test.yaml", yaml, err);
  ck_assert_msg(*cfg != NULL, "%s", err->msg);
  pc_create_args_t args = {.id = "otlp/grpc", .cfg = pc_cfg_root(*cfg), .next = next,
                           .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES};
  return pc_receiver_otlp.create(&args, err);
}

static tserver_t *server_start(const char *yaml, bool traces) {
  tserver_t *t = pc_xcalloc(1, sizeof *t);
  pthread_mutex_init(&t->tc.mu, NULL);
  t->tc.c.consume_profiles = tc_profiles;
  if (traces) t->tc.c.consume_traces = tc_traces;
  pc_rxthread_init(&t->th);
  pc_err_t err = {0};
  t->rx = create_from(yaml, &t->tc.c, &t->cfg, &err);
  ck_assert_msg(t->rx != NULL, "%s", err.msg);
  ck_assert_msg(pc_test_resolve(&pc_receiver_otlp, t->rx, &err) == 0, "%s", err.msg);
  ck_assert_msg(pc_receiver_otlp.start(t->rx, &t->th.loop, &err) == 0, "%s", err.msg);
  t->port = pc__otlp_grpc_port(t->rx);
  ck_assert_int_gt(t->port, 0);
  pc_rxthread_run(&t->th, t->rx);
  return t;
}

/* Shut down, and check that every handle was closed (uv_loop_close). */
static void server_stop(tserver_t *t) {
  pc_rxthread_stop(&t->th);
  pc_receiver_otlp.destroy(t->rx);
  pc_cfg_free(t->cfg);
  pc_buf_free(&t->tc.last);
  pc_buf_free(&t->tc.traces);
  pthread_mutex_destroy(&t->tc.mu);
  free(t);
}

static unsigned tc_calls_locked(tconsumer_t *tc) {
  pthread_mutex_lock(&tc->mu);
  unsigned n = tc->profiles_calls;
  pthread_mutex_unlock(&tc->mu);
  return n;
}

static pc_otlp_stats_t stats(tserver_t *t) {
  pc_otlp_stats_t st;
  pc_otlp_receiver_stats(t->rx, &st);
  return st;
}

#define YAML_GRPC                                                                  \
  "protocols:\n"                                                                  \
  "  grpc:\n"                                                                     \
  "    endpoint: 127.0.0.1:0\n"                                                   \
  "    max_recv_msg_size_mib: 1\n"                                                \
  "    max_concurrent_streams: 4\n"

/* ---- the Python client ------------------------------------------------------------ */

static const char *src_root(void) {
  const char *r = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(r != NULL, "PC_SOURCE_ROOT is not set (run through meson test)");
  return r;
}

/* Run grpc_client.py against port with the extra arguments (NULL-ended);
 * its exit status. */
static int run_client(int port, ...) {
  char script[1024], protos[1024], request[1024], port_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_client.py", src_root());
  snprintf(protos, sizeof protos, "%s/proto", src_root());
  snprintf(request, sizeof request, "%s/tests/data/request.txtpb", src_root());
  snprintf(port_s, sizeof port_s, "%d", port);
  char *argv[32] = {PYTHON, script, "--port", port_s, "--proto-root", protos, "--request",
                    request};
  int n = 8;
  va_list ap;
  va_start(ap, port);
  for (char *a; (a = va_arg(ap, char *)) && n < 31;) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid;
  int rc = posix_spawn(&pid, PYTHON, NULL, NULL, argv, environ);
  ck_assert_msg(rc == 0, "cannot run %s: %s", PYTHON, strerror(rc));
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void tmp_path(char *buf, size_t n, const char *name) {
  const char *dir = getenv("TMPDIR");
  snprintf(buf, n, "%s/profcol-grpc-%d-%s", dir ? dir : "/tmp", (int)getpid(), name);
}

/* What profcol's own codec makes of the file: decode, encode again. */
static void canonical(const char *path, pc_buf_t *out) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  pc_buf_t raw = {0};
  ck_assert_int_eq(pc_buf_reserve(&raw, 1 << 20), 0);
  raw.n = fread(raw.p, 1, raw.cap, f);
  fclose(f);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(a, raw.p, raw.n, &req, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(pc_proto_encode(&req, out), 0);
  pc_arena_free(a);
  pc_buf_free(&raw);
}

/* ---- tests ------------------------------------------------------------------------- */

/* Plain, gzip and 16 concurrent streams on one channel (4 at once allowed):
 * every request reaches the consumer exactly as sent. */
START_TEST(test_export_ok) {
  tserver_t *t = server_start(YAML_GRPC, false);
  char sent[512];
  tmp_path(sent, sizeof sent, "request.binpb");
  ck_assert_int_eq(run_client(t->port, "--out-request", sent, "--streams", "16", "ok", "gzip",
                              "concurrent", NULL), 0);
  pc_otlp_stats_t st = stats(t);
  pthread_mutex_lock(&t->tc.mu);
  ck_assert_uint_eq(t->tc.profiles_calls, 18);
  pc_buf_t want = {0};
  canonical(sent, &want);
  ck_assert_uint_eq(t->tc.last.n, want.n);
  ck_assert_mem_eq(t->tc.last.p, want.p, want.n);
  pthread_mutex_unlock(&t->tc.mu);
  ck_assert_uint_eq(st.requests, 18);
  ck_assert_uint_eq(st.requests_failed, 0);
  ck_assert_uint_gt(st.profiles_accepted, 0);
  ck_assert_uint_eq(st.profiles_accepted % 18, 0);
  ck_assert_uint_ge(st.connections_total, 1);
  pc_buf_free(&want);
  unlink(sent);
  /* No HTTP listener: protocols has grpc only. */
  ck_assert_int_eq(pc_otlp_receiver_port(t->rx), 0);
  /* Self-telemetry labels these calls transport="grpc", and has no http series. */
  pc_metrics_t *m = pc_metrics_new();
  pc_receiver_otlp.metrics(t->rx, m);
  pc_buf_t text = {0};
  ck_assert_int_eq(pc_metrics_render(m, &text), 0);
  pc_buf_append(&text, "", 1);
  char line[128];
  snprintf(line, sizeof line, "otelcol_receiver_accepted_profiles{transport=\"grpc\"} %llu\n",
           (unsigned long long)st.profiles_accepted);
  ck_assert_msg(strstr((char *)text.p, line), "%s", (char *)text.p);
  ck_assert_ptr_null(strstr((char *)text.p, "transport=\"http\""));
  pc_buf_free(&text);
  pc_metrics_free(m);
  server_stop(t);
}
END_TEST

/* Messages over 128 KiB are decoded in the thread pool: plain, gzip (which
 * announces its size) and deflate (which does not, so it is tried on the
 * loop first) all arrive intact. */
START_TEST(test_export_large) {
  tserver_t *t = server_start(YAML_GRPC, false);
  char sent[512];
  tmp_path(sent, sizeof sent, "large.binpb");
  ck_assert_int_eq(run_client(t->port, "--out-large", sent, "large", "large_gzip",
                              "large_deflate", NULL), 0);
  pthread_mutex_lock(&t->tc.mu);
  ck_assert_uint_eq(t->tc.profiles_calls, 3);
  pc_buf_t want = {0};
  canonical(sent, &want);
  ck_assert_uint_gt(want.n, 600 << 10);
  ck_assert_uint_eq(t->tc.last.n, want.n);
  ck_assert_mem_eq(t->tc.last.p, want.p, want.n);
  pthread_mutex_unlock(&t->tc.mu);
  ck_assert_uint_eq(stats(t).requests_failed, 0);
  pc_buf_free(&want);
  unlink(sent);
  server_stop(t);
}
END_TEST

/* Over the limit as sent and after gzip, undecodable, unknown method: the
 * right status, nothing reaches the consumer, and the channel still works. */
START_TEST(test_export_refused) {
  tserver_t *t = server_start(YAML_GRPC, false);
  ck_assert_int_eq(run_client(t->port, "oversize", "oversize_gzip", "malformed", "unknown",
                              "ok", NULL), 0);
  pc_otlp_stats_t st = stats(t);
  ck_assert_uint_eq(t->tc.profiles_calls, 1);
  ck_assert_uint_eq(st.requests, 5);
  ck_assert_uint_eq(st.requests_failed, 4);
  server_stop(t);
}
END_TEST

/* TraceService/Export decodes the message and hands it with its bytes to
 * consume_traces. Without a traces consumer the method is UNIMPLEMENTED. */
START_TEST(test_traces) {
  tserver_t *t = server_start(YAML_GRPC, true);
  char sent[512];
  tmp_path(sent, sizeof sent, "traces.binpb");
  ck_assert_int_eq(run_client(t->port, "--out-traces", sent, "traces", NULL), 0);
  ck_assert_uint_eq(t->tc.traces_calls, 1);
  FILE *f = fopen(sent, "rb");
  ck_assert_ptr_nonnull(f);
  uint8_t buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  unlink(sent);
  ck_assert_uint_gt(n, 0);
  ck_assert_uint_eq(t->tc.traces.n, n);
  ck_assert_mem_eq(t->tc.traces.p, buf, n);
  ck_assert_uint_eq(t->tc.spans, 1);
  ck_assert_str_eq(t->tc.span_name, "checkout");
  /* A bad span is INVALID_ARGUMENT, and reaches no consumer. */
  ck_assert_int_eq(run_client(t->port, "traces_invalid", NULL), 0);
  ck_assert_uint_eq(t->tc.traces_calls, 1);
  server_stop(t);

  t = server_start(YAML_GRPC, false);
  ck_assert_int_eq(run_client(t->port, "traces_unimplemented", NULL), 0);
  ck_assert_uint_eq(stats(t).requests_failed, 1);
  server_stop(t);
}
END_TEST

/* A full pipeline (PC_EAGAIN) is UNAVAILABLE with the consumer's delay in a
 * RetryInfo; the profiles count as refused. */
START_TEST(test_unavailable) {
  tserver_t *t = server_start(YAML_GRPC, false);
  t->tc.rc = PC_EAGAIN;
  t->tc.c.retry_after_s = 7;
  ck_assert_int_eq(run_client(t->port, "--retry", "7", "unavailable", NULL), 0);
  pc_otlp_stats_t st = stats(t);
  ck_assert_uint_eq(st.profiles_accepted, 0);
  ck_assert_uint_gt(st.profiles_refused, 0);
  server_stop(t);
}
END_TEST

/* ---- raw sockets ---------------------------------------------------------------- */

static int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
                strerror(errno));
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read until the server closes; false on a 10 s timeout. */
static bool drained_to_eof(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
    if (r < 0) return false;
  }
}

/* A client that connects and says nothing, and one that sends garbage, are
 * cut: the first after keepalive.server_parameters.timeout. */
START_TEST(test_silent_and_garbage_cut) {
  tserver_t *t = server_start(YAML_GRPC "    keepalive:\n"
                                        "      server_parameters:\n"
                                        "        timeout: 300ms\n", false);
  uint64_t t0 = now_ms();
  int fd = raw_connect(t->port);
  ck_assert(drained_to_eof(fd));
  uint64_t took = now_ms() - t0;
  ck_assert_uint_ge(took, 250);
  ck_assert_uint_lt(took, 3000);
  close(fd);

  fd = raw_connect(t->port);
  static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ck_assert_int_eq(send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL), (ssize_t)sizeof junk - 1);
  t0 = now_ms();
  ck_assert(drained_to_eof(fd));
  ck_assert_uint_lt(now_ms() - t0, 250);
  close(fd);
  /* The server still serves. */
  ck_assert_int_eq(run_client(t->port, "ok", NULL), 0);
  server_stop(t);
}
END_TEST

/* ---- grpc-timeout ---------------------------------------------------------------- */

/* The parser against the grammar of PROTOCOL-HTTP2.md. */
START_TEST(test_timeout_parse) {
  static const struct {
    const char *v;
    uint64_t ms;
  } good[] = {
      {"1H", 3600000}, {"2M", 120000}, {"5S", 5000}, {"250m", 250}, {"0m", 0},
      {"1500u", 2},    {"1n", 1},      {"00000007S", 7000},
      {"99999999H", 99999999ULL * 3600000},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    uint64_t ms = 12345;
    ck_assert_msg(pc__grpc_timeout_parse((const uint8_t *)good[i].v, strlen(good[i].v), &ms) == 0,
                  "%s", good[i].v);
    ck_assert_uint_eq(ms, good[i].ms);
  }
  static const char *const bad[] = {"", "S", "5", "5s", "5Sx", "-5S", "+5S", " 5S", "5 S",
                                    "1.5S", "0x5S", "123456789S", "99999999999999999999H",
                                    "5\xffS", "\xff"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t ms = 0;
    ck_assert_msg(pc__grpc_timeout_parse((const uint8_t *)bad[i], strlen(bad[i]), &ms) ==
                  PC_EINVAL, "accepted \"%s\"", bad[i]);
  }
  /* Not NUL-terminated: a view into a header block. */
  uint64_t ms = 0;
  ck_assert_int_eq(pc__grpc_timeout_parse((const uint8_t *)"7S9", 2, &ms), 0);
  ck_assert_uint_eq(ms, 7000);
}
END_TEST

static size_t curl_on_header(char *p, size_t size, size_t n, void *ud) {
  pc_buf_append(ud, p, size * n);
  return size * n;
}

static size_t curl_on_body(char *p, size_t size, size_t n, void *ud) { return size * n; }

/* One Export call of body over h2c with libcurl, which sends any header
 * value (grpcio silently drops a grpc-timeout in the call's metadata), with
 * one more header line (curl's form; NULL: none). The grpc-status answered,
 * from the headers (trailers-only) or the trailers; -1 when there was none. */
static int call_with_lines(int port, const char *const *lines, const pc_buf_t *body);

static int call_with_header(int port, const char *line, const pc_buf_t *body) {
  const char *lines[] = {line, NULL};
  return call_with_lines(port, lines, body);
}

/* A call with the header lines of the NULL-terminated list. */
static int call_with_lines(int port, const char *const *lines, const pc_buf_t *body) {
  const char *line = lines[0];
  CURL *e = curl_easy_init();
  ck_assert_ptr_nonnull(e);
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, PC_GRPC_PROFILES_PATH);
  struct curl_slist *h = curl_slist_append(NULL, "content-type: application/grpc");
  h = curl_slist_append(h, "te: trailers");
  for (size_t i = 0; lines[i]; i++) h = curl_slist_append(h, lines[i]);
  pc_buf_t framed = {0}, heads = {0};
  uint8_t pre[5] = {0, (uint8_t)(body->n >> 24), (uint8_t)(body->n >> 16),
                    (uint8_t)(body->n >> 8), (uint8_t)body->n};
  pc_buf_append(&framed, pre, 5);
  pc_buf_append(&framed, body->p, body->n);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, framed.p);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)framed.n);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, curl_on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &heads);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_on_body);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(e);
  ck_assert_msg(rc == CURLE_OK, "%s: %s", line ? line : "-", curl_easy_strerror(rc));
  pc_buf_append(&heads, "", 1);
  const char *at = strstr((const char *)heads.p, "grpc-status: ");
  int status = at ? atoi(at + 13) : -1;
  pc_buf_free(&heads);
  pc_buf_free(&framed);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return status;
}

/* grpc-timeout: value, empty when value is "", none when NULL. */
static int call_with_timeout(int port, const char *value, const pc_buf_t *body) {
  char line[128];
  /* "name;" is libcurl's way to send a header with an empty value. */
  if (value && *value) snprintf(line, sizeof line, "grpc-timeout: %s", value);
  else snprintf(line, sizeof line, "grpc-timeout;");
  return call_with_header(port, value ? line : NULL, body);
}

static void on_done_count(void *arg);

/* protocols.grpc.auth with a bearertokenauth: UNAUTHENTICATED without its
 * token, OK with it (HTTP/2 sends the name lowercase); nothing refused is
 * handed on. */
START_TEST(test_bearer_auth) {
  void *auth = pc_test_bearer_new("bearertokenauth", "token: s3cret\n");
  tserver_t *t = server_start(YAML_GRPC "    auth: {authenticator: bearertokenauth}\n", false);
  pc_buf_t body = pc_test_rich_body(NULL);
  ck_assert_int_eq(call_with_header(t->port, NULL, &body), 16);
  ck_assert_int_eq(call_with_header(t->port, "Authorization: Bearer wrong", &body), 16);
  ck_assert_int_eq(call_with_header(t->port, "Authorization: Bearer s3cret", &body), 0);
  /* Issue 14: an authorization with two values is refused, whichever is
   * good, as HTTP refuses two Authorization headers. */
  const char *two[][3] = {{"Authorization: Bearer wrong", "Authorization: Bearer s3cret", NULL},
                          {"Authorization: Bearer s3cret", "Authorization: Bearer wrong", NULL},
                          {"Authorization: Bearer s3cret", "Authorization: Bearer s3cret", NULL}};
  for (size_t i = 0; i < 3; i++)
    ck_assert_int_eq(call_with_lines(t->port, two[i], &body), 16);
  pthread_mutex_lock(&t->tc.mu);
  ck_assert_uint_eq(t->tc.profiles_calls, 1);
  pthread_mutex_unlock(&t->tc.mu);
  server_stop(t);
  pc_buf_free(&body);
  /* Not defined: start says so, with the place. */
  t = pc_xcalloc(1, sizeof *t);
  pthread_mutex_init(&t->tc.mu, NULL);
  t->tc.c.consume_profiles = tc_profiles;
  pc_err_t e = {0};
  t->rx = create_from(YAML_GRPC "    auth: {authenticator: bearertokenauth/nope}\n", &t->tc.c,
                      &t->cfg, &e);
  ck_assert_msg(t->rx != NULL, "%s", e.msg);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ck_assert_int_ne(pc_receiver_otlp.start(t->rx, &loop, &e), 0);
  ck_assert_msg(strstr(e.msg, ":6:") && strstr(e.msg, "is not defined in extensions"), "%s",
                e.msg);
  int done = 0;
  pc_receiver_otlp.shutdown(t->rx, 0, on_done_count, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  pc_receiver_otlp.destroy(t->rx);
  pc_cfg_free(t->cfg);
  pthread_mutex_destroy(&t->tc.mu);
  free(t);
  /* Not a bearertokenauth: a config error with its place. */
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  tconsumer_t tc = {.c = {.consume_profiles = tc_profiles}};
  ck_assert_ptr_null(create_from(YAML_GRPC "    auth: {authenticator: oidc}\n", &tc.c, &cfg, &err));
  ck_assert_msg(strstr(err.msg, ":6:") && strstr(err.msg, "not a bearertokenauth"), "%s",
                err.msg);
  pc_cfg_free(cfg);
  pc_test_bearer_free(auth);
}
END_TEST

/* A well-formed grpc-timeout is a deadline: one already over when the
 * request is complete ("0m") gets DEADLINE_EXCEEDED and is not handed on. A
 * malformed one gets INTERNAL (as from grpc-go) and changes nothing else:
 * the connection and the server carry on. */
START_TEST(test_timeout_header) {
  tserver_t *t = server_start(YAML_GRPC, false);
  pc_buf_t body = pc_test_rich_body(NULL);
  ck_assert_int_eq(call_with_timeout(t->port, NULL, &body), 0);
  ck_assert_int_eq(call_with_timeout(t->port, "5S", &body), 0);
  ck_assert_int_eq(call_with_timeout(t->port, "99999999H", &body), 0);
  ck_assert_int_eq(call_with_timeout(t->port, "0m", &body), 4);
  static const char *const bad[] = {"", "S", "5", "5s", "-5S", "1.5S", "123456789S",
                                    "99999999999999999999999999999999999999H", "5 S"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(call_with_timeout(t->port, bad[i], &body) == 13, "grpc-timeout \"%s\"",
                  bad[i]);
  pthread_mutex_lock(&t->tc.mu);
  ck_assert_uint_eq(t->tc.profiles_calls, 3);
  pthread_mutex_unlock(&t->tc.mu);
  pc_otlp_stats_t st = stats(t);
  ck_assert_uint_eq(st.requests, 4 + sizeof bad / sizeof bad[0]);
  ck_assert_uint_eq(st.requests_failed, 1 + sizeof bad / sizeof bad[0]);
  pc_buf_free(&body);
  server_stop(t);
}
END_TEST

/* Config: the Collector's keys load; wrong ones are errors at their line;
 * no protocol at all is an error. */
START_TEST(test_config) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  tconsumer_t tc = {.c.consume_profiles = tc_profiles};
  void *rx = create_from("protocols:\n  grpc:\n    keepalive:\n      server_parameters:\n"
                         "        max_connection_idle: 11s\n        max_connection_age: 30s\n"
                         "        max_connection_age_grace: 5s\n        time: 30s\n"
                         "        timeout: 5s\n      enforcement_policy:\n"
                         "        min_time: 10s\n        permit_without_stream: true\n"
                         "    include_metadata: true\n    read_buffer_size: 524288\n"
                         "  http:\n",
                         &tc.c, &cfg, &err);
  ck_assert_msg(rx != NULL, "%s", err.msg);
  pc_receiver_otlp.destroy(rx);
  pc_cfg_free(cfg);

  const char *bad[][2] = {
      {"protocols:\n  grpc:\n    transport: udp\n", "only \"tcp\""},
      {"protocols:\n  grpc:\n    max_recv_msg_size_mib: 0\n", "max_recv_msg_size_mib"},
      {"protocols:\n  grpc:\n    keepalive:\n      server_parameter: {}\n", "server_parameters"},
      {"protocols:\n  grpc:\n    tls: {}\n", "tls"},
      {"protocols:\n  grpc:\n    tls:\n      key_file: /x.key\n", "key_file is set"},
      {"protocols:\n  grpc:\n    tls:\n      cert_file: /nonexistent.pem\n"
       "      key_file: /nonexistent.key\n", "test.yaml:4:18: protocols.grpc.tls.cert_file: "
       "cannot read cert_file /nonexistent.pem"},
      {"protocols:\n  grpc: 5\n", "map"},
      {"protocols:\n  thrift:\n", "thrift"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err = (pc_err_t){0};
    rx = create_from(bad[i][0], &tc.c, &cfg, &err);
    ck_assert_msg(rx == NULL, "accepted: %s", bad[i][0]);
    ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
    ck_assert_msg(strstr(err.msg, "test.yaml:") != NULL, "no location: %s", err.msg);
    pc_cfg_free(cfg);
  }
}
END_TEST

static void on_done_count(void *arg) { (*(int *)arg)++; }

/* A second listener on the address of a running one in this process shares
 * its socket (as a reloaded config does); a port held by a socket outside
 * the registry (another process) is an error. */
START_TEST(test_listen_reuseport) {
  tserver_t *t = server_start(YAML_GRPC, false);
  tconsumer_t tc = {.c.consume_profiles = tc_profiles};
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* Someone else's socket on another port. */
  int other = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(other, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(other, 4), 0);
  socklen_t alen = sizeof a;
  getsockname(other, (struct sockaddr *)&a, &alen);
  int ports[2] = {t->port, ntohs(a.sin_port)};
  int done = 0;
  for (int i = 0; i < 2; i++) {
    char yaml[256];
    snprintf(yaml, sizeof yaml, "protocols:\n  grpc:\n    endpoint: 127.0.0.1:%d\n", ports[i]);
    pc_cfg_t *cfg;
    pc_err_t err = {0};
    void *rx = create_from(yaml, &tc.c, &cfg, &err);
    ck_assert_msg(rx != NULL, "%s", err.msg);
    int rc = pc_receiver_otlp.start(rx, &loop, &err);
    if (i == 0) {
      ck_assert_msg(rc == 0, "%s", err.msg);
      ck_assert_int_eq(pc__otlp_grpc_port(rx), t->port);
    } else {
      ck_assert_int_ne(rc, 0);
      ck_assert_msg(strstr(err.msg, "address already in use"), "%s", err.msg);
    }
    pc_receiver_otlp.shutdown(rx, uv_now(&loop) + 1000, on_done_count, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(done, i + 1);
    pc_receiver_otlp.destroy(rx);
    pc_cfg_free(cfg);
  }
  close(other);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  server_stop(t);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------------ */

/* grpcio's secure channel (it requires ALPN h2) exports over TLS: OK, and
 * the consumer gets the calls. A cleartext (h2c) client at the TLS port
 * fails, is counted, and the server goes on; a silent client is cut by
 * keepalive.server_parameters.timeout during its handshake. With
 * client_ca_file, a client without a certificate is refused and one with a
 * certificate the CA signed is served. */
START_TEST(test_tls) {
  char *dir = pc_test_certdir();
  char ca[512], ca_key[512], srv[512], srv_key[512], cli[512], cli_key[512];
  pc_test_cert(dir, "ca", NULL, ca, ca_key, sizeof ca);
  pc_test_cert(dir, "server", "ca", srv, srv_key, sizeof srv);
  pc_test_cert(dir, "client", "ca", cli, cli_key, sizeof cli);
  char yaml[4096];
  snprintf(yaml, sizeof yaml,
           YAML_GRPC "    keepalive:\n      server_parameters:\n        timeout: 300ms\n"
                     "    tls:\n      cert_file: %s\n      key_file: %s\n", srv, srv_key);
  tserver_t *t = server_start(yaml, false);
  ck_assert_int_eq(run_client(t->port, "--tls-ca", ca, "ok", "gzip", "large", NULL), 0);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 3);
  ck_assert_uint_eq(stats(t).tls_failed, 0);

  ck_assert_int_ne(run_client(t->port, "ok", NULL), 0); /* h2c at a TLS port */
  ck_assert_uint_ge(stats(t).tls_failed, 1);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 3);
  uint64_t failed = stats(t).tls_failed;
  uint64_t t0 = now_ms();
  int fd = raw_connect(t->port);
  ck_assert(drained_to_eof(fd));
  ck_assert_uint_ge(now_ms() - t0, 250);
  close(fd);
  for (int i = 0; i < 100 && stats(t).tls_failed == failed; i++) usleep(10000);
  ck_assert_uint_eq(stats(t).tls_failed, failed + 1);
  ck_assert_int_eq(run_client(t->port, "--tls-ca", ca, "ok", NULL), 0);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 4);
  server_stop(t);

  snprintf(yaml, sizeof yaml,
           YAML_GRPC "    tls:\n      cert_file: %s\n      key_file: %s\n"
                     "      client_ca_file: %s\n", srv, srv_key, ca);
  t = server_start(yaml, false);
  ck_assert_int_ne(run_client(t->port, "--tls-ca", ca, "ok", NULL), 0);
  ck_assert_uint_ge(stats(t).tls_failed, 1);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 0);
  ck_assert_int_eq(run_client(t->port, "--tls-ca", ca, "--tls-cert", cli, "--tls-key", cli_key,
                              "ok", NULL), 0);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 1);
  server_stop(t);
  pc_test_certdir_rm(dir);
}
END_TEST

/* ---- memory: what a hostile client can make the server hold (issue 14) ---------- */

/* A prefix that claims 64 MiB and nothing after it, on 2 connections x 100
 * streams: the buffers hold what arrived (5 bytes each), not what was
 * claimed (12.5 GiB of address space before, "fatal: out of memory" under
 * an 8 GiB limit). Then rapid reset of such streams: the loop still answers
 * a real call at once. */
START_TEST(test_prefix_claim) {
  pc_budget_t *b = pc_request_budget();
  pc_budget_set_limit(b, (uint64_t)64 << 20);
  tserver_t *t = server_start("protocols:\n  grpc:\n    endpoint: 127.0.0.1:0\n", false);
  uint8_t pre[5];
  pc_h2_prefix(pre, 64u << 20);
  uint64_t vm0 = pc_e2e_proc_status(0, "VmSize");
  pc_h2_t *h[2];
  int32_t ids[2][100];
  for (int c = 0; c < 2; c++) {
    h[c] = pc_h2_open(t->port);
    ck_assert_ptr_nonnull(h[c]);
    for (int i = 0; i < 100; i++)
      ids[c][i] = pc_h2_call(h[c], PC_GRPC_PROFILES_PATH, pre, 5, (64u << 20) + 5, 5, NULL);
  }
  for (int round = 0; round < 10; round++) pc_h2_pump_all(h, 2, 300, false);
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 100; i++) {
      ck_assert_uint_eq(pc_h2_sent(h[c], ids[c][i]), 5);
      ck_assert(!pc_h2_closed(h[c], ids[c][i])); /* waiting for the rest */
    }
  uint64_t grew = pc_e2e_proc_status(0, "VmSize") - vm0;
  ck_assert_msg(grew < ((uint64_t)512 << 20), "address space grew by %llu MiB",
                (unsigned long long)(grew >> 20));
  ck_assert_uint_le(pc_budget_held(b), 200u * (16u << 10)); /* a first buffer each */
  /* Rapid reset: every stream cancelled, 100 more opened and cancelled. */
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 100; i++) pc_h2_reset(h[c], ids[c][i]);
  for (int i = 0; i < 100; i++)
    pc_h2_reset(h[0], pc_h2_call(h[0], PC_GRPC_PROFILES_PATH, pre, 5, (64u << 20) + 5, 5,
                                 NULL));
  pc_h2_pump(h[0], 100);
  pc_h2_pump(h[1], 100);
  pc_buf_t body = pc_test_rich_body(NULL);
  uint64_t t0 = now_ms();
  ck_assert_int_eq(call_with_header(t->port, NULL, &body), 0);
  ck_assert_uint_lt(now_ms() - t0, 2000);
  pc_buf_free(&body);
  for (int i = 0; i < 50 && pc_budget_held(b) > (8u << 20); i++) usleep(20000);
  ck_assert_uint_le(pc_budget_held(b), 8u << 20); /* a spare job at most */
  pc_h2_close(h[0]);
  pc_h2_close(h[1]);
  server_stop(t);
  ck_assert_uint_eq(pc_budget_held(b), 0);
}
END_TEST

/* Three connections each fill both their streams' windows (16 MiB of a
 * 16 MiB message each, 96 MiB offered) and never finish, keeping the
 * connections alive with a WINDOW_UPDATE every 300 ms: the budget (32 MiB)
 * is never passed (the streams it has no room for get UNAVAILABLE with a
 * RetryInfo), and after keepalive.server_parameters.timeout (2 s) without
 * data the stalled streams are reset and their memory returned. */
START_TEST(test_window_hold) {
  pc_budget_t *b = pc_request_budget();
  pc_budget_set_limit(b, (uint64_t)32 << 20);
  tserver_t *t = server_start("protocols:\n  grpc:\n    endpoint: 127.0.0.1:0\n"
                              "    max_recv_msg_size_mib: 16\n"
                              "    keepalive:\n      server_parameters:\n        timeout: 2s\n",
                              false);
  uint64_t rss0 = pc_e2e_proc_status(0, "VmRSS");
  size_t msg = (size_t)16 << 20;
  uint8_t pre[5];
  pc_h2_prefix(pre, (uint32_t)msg);
  pc_h2_t *h[3];
  int32_t ids[3][2];
  for (int c = 0; c < 3; c++) {
    h[c] = pc_h2_open(t->port);
    ck_assert_ptr_nonnull(h[c]);
    for (int i = 0; i < 2; i++)
      ids[c][i] = pc_h2_call(h[c], PC_GRPC_PROFILES_PATH, pre, 5, msg + 5, msg, NULL);
  }
  /* Every stream fills its window or is refused, side by side. */
  uint64_t peak = 0;
  for (int round = 0; round < 200 && !pc_h2_all_sent_or_answered(h, 3, ids, msg); round++) {
    pc_h2_pump_all(h, 3, 100, true);
    uint64_t held = pc_budget_held(b);
    if (held > peak) peak = held;
  }
  ck_assert(pc_h2_all_sent_or_answered(h, 3, ids, msg));
  pc_h2_pump_all(h, 3, 200, true);
  ck_assert_uint_le(peak, (uint64_t)32 << 20);
  int unavailable = 0, open = 0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 2; i++) {
      if (pc_h2_status(h[c], ids[c][i]) == 14) {
        unavailable++;
        ck_assert(pc_h2_has_details(h[c], ids[c][i])); /* RetryInfo */
      }
      open += !pc_h2_closed(h[c], ids[c][i]);
    }
  ck_assert_int_ge(unavailable, 4); /* 6 messages of 16 MiB, at most one fits 32 MiB */
  ck_assert_int_ge(open, 1);
  uint64_t rss = pc_e2e_proc_status(0, "VmRSS");
  ck_assert_msg(!PC_E2E_RSS_MEANINGFUL || rss < rss0 + ((uint64_t)64 << 20),
                "RSS grew by %llu MiB", (unsigned long long)((rss - rss0) >> 20));
  /* Kept alive, but no stream gets data: reset after the timeout. */
  pc_h2_pump_all(h, 3, 4000, true);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 2; i++) {
      ck_assert_msg(pc_h2_closed(h[c], ids[c][i]), "stream %d/%d still open", c, i);
      if (pc_h2_status(h[c], ids[c][i]) != 14)
        ck_assert_uint_eq(pc_h2_reset_code(h[c], ids[c][i]), NGHTTP2_CANCEL);
    }
  ck_assert_uint_eq(pc_budget_held(b), 0);
  for (int c = 0; c < 3; c++) ck_assert_int_eq(pc_h2_pump(h[c], 10), 0); /* still connected */
  for (int c = 0; c < 3; c++) pc_h2_close(h[c]);
  server_stop(t);
}
END_TEST

/* Issue 14, "refuse early": a pipeline known full is answered UNAVAILABLE
 * with a RetryInfo at the HEADERS, before any DATA is sent (the stream
 * here sends none); nothing is read, decoded or handed on. */
START_TEST(test_full_at_headers) {
  tserver_t *t = server_start(YAML_GRPC, false);
  t->tc.c.full = tc_full;
  t->tc.c.retry_after_s = 3;
  t->tc.is_full = true;
  pc_h2_t *h = pc_h2_open(t->port);
  ck_assert_ptr_nonnull(h);
  uint8_t pre[5];
  pc_h2_prefix(pre, 1000);
  int32_t id = pc_h2_call(h, PC_GRPC_PROFILES_PATH, pre, 5, 1005, 0, NULL); /* HEADERS only */
  for (int i = 0; i < 100 && pc_h2_status(h, id) < 0; i++) pc_h2_pump(h, 50);
  ck_assert_int_eq(pc_h2_status(h, id), 14);
  ck_assert(pc_h2_has_details(h, id));
  ck_assert_uint_eq(pc_h2_sent(h, id), 0);
  pc_h2_close(h);
  pc_otlp_stats_t st = stats(t);
  ck_assert_uint_eq(st.requests_refused_early, 1);
  ck_assert_uint_eq(st.bytes_decompressed, 0);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 0);
  t->tc.is_full = false;
  pc_buf_t body = pc_test_rich_body(NULL);
  ck_assert_int_eq(call_with_header(t->port, NULL, &body), 0);
  ck_assert_uint_eq(tc_calls_locked(&t->tc), 1);
  pc_buf_free(&body);
  server_stop(t);
}
END_TEST

static Suite *grpc_suite(void) {
  Suite *s = suite_create("grpc");
  TCase *tc = tcase_create("grpc");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_export_ok);
  tcase_add_test(tc, test_export_large);
  tcase_add_test(tc, test_export_refused);
  tcase_add_test(tc, test_traces);
  tcase_add_test(tc, test_unavailable);
  tcase_add_test(tc, test_silent_and_garbage_cut);
  tcase_add_test(tc, test_timeout_parse);
  tcase_add_test(tc, test_timeout_header);
  tcase_add_test(tc, test_bearer_auth);
  tcase_add_test(tc, test_config);
  tcase_add_test(tc, test_listen_reuseport);
  tcase_add_test(tc, test_tls);
  tcase_add_test(tc, test_prefix_claim);
  tcase_add_test(tc, test_window_hold);
  tcase_add_test(tc, test_full_at_headers);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* as profcol's run does: a closed peer is EPIPE */
  SRunner *sr = srunner_create(grpc_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
