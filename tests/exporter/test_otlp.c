/* test_otlp.c - the `otlp_grpc` exporter (OTLP/gRPC over h2c,
 * exporter/otlpgrpc.c with exporter/grpcwire.c, on the send module) against
 * profcol's own gRPC server: the otlp
 * receiver's grpc protocol (receiver/grpc.c, built on libnghttp2, not
 * libcurl) on a loop thread with a recording consumer. Same data in and out,
 * UNAVAILABLE with RetryInfo retried after the server's delay,
 * INVALID_ARGUMENT dropped at once, a backend down then up, config errors,
 * and the wire helpers on crafted input. The otlp-grpcio TCase does the same
 * against an independent server: Debian's python3-grpcio running
 * tests/grpc/grpc_server.py, which records the bytes of every call. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../rxthread.h"
#include "../../exporter/internal.h"
#include "../../receiver/grpc.h"
#include "../pdata/testdata.h"
#include "fixture.h"
#include "../certs.h"

/* ---- the backend: the otlp receiver on a loop thread -------------------------- */

#define MAX_GOT 16

typedef struct {
  pc_consumer_t c;
  pthread_mutex_t mu;
  unsigned calls;
  unsigned eagain_first; /* answer PC_EAGAIN (UNAVAILABLE) to this many calls */
  int rc;                /* then this */
  unsigned n_got;
  pc_buf_t got[MAX_GOT]; /* accepted requests, re-encoded as protobuf */
} rec_t;

typedef struct {
  pc_rxthread_t th;
  pc_cfg_t *cfg;
  void *rx;
  int port;
  rec_t rec;
} backend_t;

static int rec_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  rec_t *r = container_of(self, rec_t, c);
  pthread_mutex_lock(&r->mu);
  int rc = r->calls++ < r->eagain_first ? PC_EAGAIN : r->rc;
  if (!rc && r->n_got < MAX_GOT) ck_assert_int_eq(pc_proto_encode(req, &r->got[r->n_got++]), 0);
  pthread_mutex_unlock(&r->mu);
  if (rc) pc_err_set(err, rc, "test backend refuses: %s", pc_err_name(rc));
  return rc;
}

/* Listen on 127.0.0.1:port (0: any free port); the consumer answers
 * UNAVAILABLE to the first eagain_first calls (RetryInfo of retry_after_s),
 * then rc. */
static backend_t *backend_start(int port, unsigned eagain_first, int rc) {
  backend_t *b = pc_xcalloc(1, sizeof *b);
  pthread_mutex_init(&b->rec.mu, NULL);
  b->rec.c.consume_profiles = rec_profiles;
  b->rec.c.retry_after_s = 1;
  b->rec.eagain_first = eagain_first;
  b->rec.rc = rc;
  pc_rxthread_init(&b->th);
  char yaml[256];
  snprintf(yaml, sizeof yaml, "protocols:\n  grpc:\n    endpoint: 127.0.0.1:%d\n", port);
  pc_err_t err = {0};
  b->cfg = pc_cfg_load_string("backend.yaml", yaml, &err);
  ck_assert_msg(b->cfg != NULL, "%s", err.msg);
  pc_create_args_t args = {.id = "otlp/backend", .cfg = pc_cfg_root(b->cfg), .next = &b->rec.c,
                           .signals = PC_SIGNAL_PROFILES};
  b->rx = pc_receiver_otlp.create(&args, &err);
  ck_assert_msg(b->rx != NULL, "%s", err.msg);
  ck_assert_msg(pc_receiver_otlp.start(b->rx, &b->th.loop, &err) == 0, "%s", err.msg);
  b->port = pc__otlp_grpc_port(b->rx);
  ck_assert_int_gt(b->port, 0);
  pc_rxthread_run(&b->th, b->rx);
  return b;
}

static void backend_stop(backend_t *b) {
  pc_rxthread_stop(&b->th);
  pc_receiver_otlp.destroy(b->rx);
  pc_cfg_free(b->cfg);
  for (unsigned i = 0; i < MAX_GOT; i++) pc_buf_free(&b->rec.got[i]);
  pthread_mutex_destroy(&b->rec.mu);
  free(b);
}

static unsigned backend_calls(backend_t *b) {
  pthread_mutex_lock(&b->rec.mu);
  unsigned n = b->rec.calls;
  pthread_mutex_unlock(&b->rec.mu);
  return n;
}

/* Accepted request i decodes to exactly fx_request(want_id). */
static void check_got(backend_t *b, unsigned i, uint64_t want_id) {
  pthread_mutex_lock(&b->rec.mu);
  ck_assert_uint_gt(b->rec.n_got, i);
  pc_arena_t *a = pc_arena_new(4096), *w = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got, want;
  fx_decode("application/x-protobuf", "", b->rec.got[i].p, b->rec.got[i].n, a, &plain, &got);
  pthread_mutex_unlock(&b->rec.mu);
  fx_request(w, &want, want_id);
  pc_test_assert_request_eq(&want, &got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  pc_arena_free(w);
}

static uint64_t got_id(backend_t *b, unsigned i) {
  pthread_mutex_lock(&b->rec.mu);
  ck_assert_uint_gt(b->rec.n_got, i);
  pc_arena_t *a = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got;
  fx_decode("application/x-protobuf", "", b->rec.got[i].p, b->rec.got[i].n, a, &plain, &got);
  pthread_mutex_unlock(&b->rec.mu);
  uint64_t id = fx_request_id(&got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  return id;
}

/* A loopback port nobody listens on (bound, then closed). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t n = sizeof sa;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

/* ---- the exporter ---------------------------------------------------------------- */

/* ---- cases ------------------------------------------------------------------------- */

static void delivers_with(const char *compression, int consumers) {
  backend_t *b = backend_start(0, 0, 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: 127.0.0.1:%d\ntls:\n  insecure: true\n"
          "compression: %s\nheaders:\n  x-scope-orgid: tenant-7\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: %d\n", b->port, compression, consumers);
  fx_consume_ids(&fx, 1, 5);
  fx_wait_count(&fx, sent_batches, 5, 10000);
  ck_assert_uint_eq(backend_calls(b), 5);
  unsigned seen = 0;
  for (unsigned i = 0; i < 5; i++) {
    uint64_t id = got_id(b, i);
    if (consumers == 1) ck_assert_uint_eq(id, 1 + i); /* FIFO with one call at a time */
    ck_assert(id >= 1 && id <= 5 && !(seen & 1u << id));
    seen |= 1u << id;
    check_got(b, i, id);
  }
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.failed_attempts, 0);
  ck_assert_uint_eq(st.dropped_batches, 0);
  ck_assert_uint_gt(st.sent_profiles, 0);
  fx_close(&fx, 2000);
  backend_stop(b);
}

START_TEST(delivers_gzip_same_data) { delivers_with("gzip", 1); }
END_TEST

START_TEST(delivers_zstd_multiplexed) { delivers_with("zstd", 4); }
END_TEST

/* The Collector's otlp_grpc compresses zstd with configgrpc's codec,
 * klauspost's default speed (about zstd level 3), not confighttp's level
 * 1: the exporter asks bodies for that variant, its own, and gzip's
 * default is the shared one. */
START_TEST(zstd_at_configgrpcs_level) {
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: 127.0.0.1:1\ntls:\n  insecure: true\n"
          "compression: zstd\n");
  unsigned z3;
  ck_assert_int_eq(pc_body_variant(PC_ENC_ZSTD, 3, &z3), 0);
  ck_assert_uint_ne(z3, PC_ENC_ZSTD);
  ck_assert_uint_eq(fx.c->encodings, 1u << z3);
  pc_buf_t plain = {0}, want = {0};
  for (int i = 0; i < 20000; i++) {
    uint8_t rec[3] = {0x08, (uint8_t)(i * 2654435761u >> 27), (uint8_t)(i % 7)};
    pc_buf_append(&plain, rec, sizeof rec);
  }
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 3, plain.p, plain.n, &want), 0);
  pc_body_t *b = pc_body_new(&plain, false, false, 1, 1, NULL);
  ck_assert_int_eq(pc_body_compress(b, fx.c->encodings), 0);
  ck_assert_uint_eq(b->v[z3]->n, want.n);
  ck_assert_mem_eq(b->v[z3]->p, want.p, want.n);
  pc_body_unref(b);
  pc_buf_free(&want);
  fx_close(&fx, 1000);
  fx_open(&fx, &pc_exporter_otlp, "otlp/g", "endpoint: 127.0.0.1:1\ntls:\n  insecure: true\n");
  ck_assert_uint_eq(fx.c->encodings, 1u << PC_ENC_GZIP);
  fx_close(&fx, 1000);
}
END_TEST

START_TEST(delivers_uncompressed) { delivers_with("none", 2); }
END_TEST

/* UNAVAILABLE with a 1 s RetryInfo, twice: retried no sooner than the
 * server asked (our own backoff is 20 ms), then delivered intact. */
START_TEST(unavailable_retried_after_retry_info) {
  backend_t *b = backend_start(0, 2, 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: http://127.0.0.1:%d\n" FX_RETRY_FAST
          "sending_queue:\n  num_consumers: 1\n", b->port);
  uint64_t t0 = pc__now_ms();
  fx_consume_ids(&fx, 7, 1);
  fx_wait_count(&fx, sent_batches, 1, 10000);
  uint64_t took = pc__now_ms() - t0;
  ck_assert_msg(took >= 1900, "delivered after %llu ms, before two 1 s RetryInfo delays",
                (unsigned long long)took);
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.failed_attempts, 2);
  ck_assert_uint_eq(st.retries, 2);
  ck_assert_uint_eq(st.dropped_batches, 0);
  ck_assert_uint_eq(backend_calls(b), 3);
  check_got(b, 0, 7);
  fx_close(&fx, 2000);
  backend_stop(b);
}
END_TEST

/* INVALID_ARGUMENT (the pipeline says PC_EINVAL): dropped after one try. */
START_TEST(invalid_argument_not_retried) {
  backend_t *b = backend_start(0, 0, PC_EINVAL);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: 127.0.0.1:%d\ntls:\n  insecure: true\n"
          FX_RETRY_FAST, b->port);
  fx_consume_ids(&fx, 1, 1);
  fx_wait_count(&fx, dropped_batches, 1, 5000);
  fx_run_for(&fx, 300); /* a retry would come after 20 ms */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.failed_attempts, 1);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_gt(st.dropped_profiles, 0);
  ck_assert_uint_eq(backend_calls(b), 1);
  fx_close(&fx, 2000);
  backend_stop(b);
}
END_TEST

/* Nobody listens: connection refused is retried until the backend comes up. */
START_TEST(backend_down_then_up) {
  int port = free_port();
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: http://127.0.0.1:%d\n" FX_RETRY_FAST,
          port);
  fx_consume_ids(&fx, 3, 2);
  fx_wait_count(&fx, failed_attempts, 2, 5000);
  ck_assert_uint_eq(fx_stats(&fx).sent_batches, 0);
  backend_t *b = backend_start(port, 0, 0);
  fx_wait_count(&fx, sent_batches, 2, 10000);
  ck_assert_uint_eq(fx_stats(&fx).dropped_batches, 0);
  ck_assert_uint_gt(fx_stats(&fx).retries, 0);
  uint64_t a = got_id(b, 0), c = got_id(b, 1);
  ck_assert(a + c == 7 && a != c);
  check_got(b, 0, a);
  check_got(b, 1, c);
  fx_close(&fx, 2000);
  backend_stop(b);
}
END_TEST

static void refused(const char *yaml, const char *want) {
  pc_err_t err = {0};
  void *x = fx_create(&pc_exporter_otlp, "otlp/bad", PC_SIGNAL_PROFILES, &err, "%s", yaml);
  ck_assert_ptr_null(x);
  ck_assert_msg(strstr(err.msg, want), "\"%s\" does not say \"%s\"", err.msg, want);
}

START_TEST(config_errors) {
  refused("endpoint: ftp://backend:4317\n", "host:port");
  refused("endpoint: backend:4317\ntls:\n  min_version: \"1.4\"\n",
          "expected 1.0, 1.1, 1.2 or 1.3, got \"1.4\"");
  refused("endpoint: backend:4317\ntls:\n  cert_file: /etc/hostname\n",
          "cert_file and key_file go together");
  refused("endpoint: backend:4317\ntls:\n  ca_file: /nonexistent/ca.pem\n",
          "tls.ca_file: cannot read /nonexistent/ca.pem");
  refused("tls:\n  insecure: true\n", "set endpoint");
  refused("endpoint: http://b:1\ncompression: br\n", "gzip, zstd or none");
  /* configgrpc has no compression_params (confighttp has): an unknown key */
  refused("endpoint: http://b:1\ncompression: gzip\ncompression_params:\n  level: 9\n",
          "test.yaml:3:1: compression_params: unknown key \"compression_params\"");
  refused("endpoint: http://b:1\nheaders:\n  grpc-timeout: 1S\n", "reserved by gRPC");
  pc_err_t err = {0};
  void *x = fx_create(&pc_exporter_otlp, "otlp/ok", PC_SIGNAL_PROFILES, &err,
                      "endpoint: backend:4317\ntls:\n  insecure: true\ntimeout: 2s\n");
  ck_assert_msg(x != NULL, "%s", err.msg);
  pc_exporter_otlp.destroy(x);
}
END_TEST

/* ---- grpcwire.c ---------------------------------------------------------------------- */

static void b64(const uint8_t *p, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

START_TEST(wire_retry_info) {
  /* Status{code: 8, message: "m", details: [Any{BadRequest}, Any{RetryInfo{2.5 s}}]} */
  static const char ri[] = "type.googleapis.com/google.rpc.RetryInfo";
  static const char br[] = "type.googleapis.com/google.rpc.BadRequest";
  uint8_t st[256];
  size_t n = 0;
  st[n++] = 0x08, st[n++] = 8;                   /* code */
  st[n++] = 0x12, st[n++] = 1, st[n++] = 'm';    /* message */
  st[n++] = 0x1a, st[n++] = (uint8_t)(2 + sizeof br - 1 + 2);
  st[n++] = 0x0a, st[n++] = sizeof br - 1;
  memcpy(st + n, br, sizeof br - 1), n += sizeof br - 1;
  st[n++] = 0x12, st[n++] = 0;                   /* empty value */
  const uint8_t info[] = {0x0a, 7, 0x08, 2, 0x10, 0x80, 0xe5, 0x9a, 0x77}; /* 2 s + 250 ms */
  st[n++] = 0x1a, st[n++] = (uint8_t)(2 + sizeof ri - 1 + 2 + sizeof info);
  st[n++] = 0x0a, st[n++] = sizeof ri - 1;
  memcpy(st + n, ri, sizeof ri - 1), n += sizeof ri - 1;
  st[n++] = 0x12, st[n++] = sizeof info;
  memcpy(st + n, info, sizeof info), n += sizeof info;
  char text[400];
  b64(st, n, text);
  uint64_t ms = 0;
  ck_assert(pc__grpc_retry_info(text, strlen(text), &ms));
  ck_assert_uint_eq(ms, 2250);
  /* The same without padding, as gRPC sends it. */
  size_t tn = strlen(text);
  while (text[tn - 1] == '=') tn--;
  ms = 0;
  ck_assert(pc__grpc_retry_info(text, tn, &ms));
  ck_assert_uint_eq(ms, 2250);
  /* Only the BadRequest detail: no RetryInfo. */
  b64(st, 5 + 2 + 2 + (sizeof br - 1) + 2, text);
  ck_assert(!pc__grpc_retry_info(text, strlen(text), &ms));
  ck_assert(!pc__grpc_retry_info("!!!", 3, &ms));
  ck_assert(!pc__grpc_retry_info("", 0, &ms));
}
END_TEST

START_TEST(wire_codes_and_messages) {
  ck_assert(pc__grpc_retryable(PC_GRPC_UNAVAILABLE, false));
  ck_assert(pc__grpc_retryable(PC_GRPC_DEADLINE_EXCEEDED, false));
  ck_assert(pc__grpc_retryable(PC_GRPC_ABORTED, false));
  ck_assert(pc__grpc_retryable(PC_GRPC_OUT_OF_RANGE, false));
  ck_assert(pc__grpc_retryable(PC_GRPC_DATA_LOSS, false));
  ck_assert(pc__grpc_retryable(PC_GRPC_RESOURCE_EXHAUSTED, true));
  ck_assert(!pc__grpc_retryable(PC_GRPC_RESOURCE_EXHAUSTED, false));
  ck_assert(!pc__grpc_retryable(PC_GRPC_INVALID_ARGUMENT, true));
  ck_assert(!pc__grpc_retryable(PC_GRPC_UNIMPLEMENTED, false));
  ck_assert(!pc__grpc_retryable(PC_GRPC_INTERNAL, false));
  ck_assert_int_eq(pc__grpc_code_from_http(503), PC_GRPC_UNAVAILABLE);
  ck_assert_int_eq(pc__grpc_code_from_http(404), PC_GRPC_UNIMPLEMENTED);
  ck_assert_int_eq(pc__grpc_code_from_http(500), PC_GRPC_UNKNOWN);
  ck_assert_str_eq(pc__grpc_code_name(3), "INVALID_ARGUMENT");
  char out[32];
  static const char enc[] = "bad%20data%0A%E2%9C%93 100%";
  pc__grpc_message_decode(enc, sizeof enc - 1, out, sizeof out);
  ck_assert_str_eq(out, "bad data?\xe2\x9c\x93 100%");
  uint8_t frame[8];
  pc__grpc_prefix(frame, true, 3);
  memcpy(frame + 5, "abc", 3);
  bool z;
  const uint8_t *m;
  size_t mn;
  ck_assert_int_eq(pc__grpc_unprefix(frame, 8, &z, &m, &mn), 0);
  ck_assert(z && mn == 3 && m == frame + 5);
  ck_assert_int_eq(pc__grpc_unprefix(frame, 7, &z, &m, &mn), PC_EDECODE);
  ck_assert_int_eq(pc__grpc_unprefix(frame, 4, &z, &m, &mn), PC_EDECODE);
}
END_TEST

/* ---- against python3-grpcio (tests/grpc/grpc_server.py) ------------------------ */

#define PYTHON "/usr/bin/python3" /* Debian's, with python3-grpcio */

typedef struct {
  pid_t pid;
  int port;
  char *dir; /* the server writes NNN.bin and calls.log here */
} pysrv_t;

/* Start grpc_server.py answering code to the first fail calls (with a
 * RetryInfo of retry_s seconds when > 0) and OK after; wait for its port. */
static void pysrv_start_tls(pysrv_t *s, int fail, const char *code, int retry_s,
                            const char *cert, const char *key);

static void pysrv_start(pysrv_t *s, int fail, const char *code, int retry_s) {
  pysrv_start_tls(s, fail, code, retry_s, NULL, NULL);
}

/* With cert and key (PEM files), the server speaks TLS only. */
static void pysrv_start_tls(pysrv_t *s, int fail, const char *code, int retry_s,
                            const char *cert, const char *key) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(root != NULL, "PC_SOURCE_ROOT is not set (run through meson test)");
  s->dir = fx_tempdir();
  char script[1024], protos[1024], port_file[1024], fail_s[16], retry_s_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_server.py", root);
  snprintf(protos, sizeof protos, "%s/proto", root);
  snprintf(port_file, sizeof port_file, "%s/port", s->dir);
  snprintf(fail_s, sizeof fail_s, "%d", fail);
  snprintf(retry_s_s, sizeof retry_s_s, "%d", retry_s);
  char *argv[] = {PYTHON, script, "--proto-root", protos, "--out", s->dir,
                  "--port-file", port_file, "--fail", fail_s, "--code", (char *)code,
                  "--retry-delay", retry_s_s, "--lifetime", "60", NULL, NULL, NULL, NULL, NULL};
  if (cert) {
    size_t n = sizeof argv / sizeof argv[0] - 5;
    argv[n] = "--tls-cert";
    argv[n + 1] = (char *)cert;
    argv[n + 2] = "--tls-key";
    argv[n + 3] = (char *)key;
  }
  s->port = fx_spawn_server(argv, port_file, 30000, &s->pid); /* protoc runs first */
}

static void pysrv_stop(pysrv_t *s) {
  ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
  int status;
  ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "grpc_server.py status %d",
                status);
  fx_rmtree(s->dir);
  free(s->dir);
}

/* The number of distinct client connections (peer=) in calls.log. */
static int pysrv_connections(pysrv_t *s) {
  char path[1024], line[256], peers[64][64];
  snprintf(path, sizeof path, "%s/calls.log", s->dir);
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, " peer=");
    ck_assert_ptr_nonnull(p);
    char peer[64];
    ck_assert_int_eq(sscanf(p + 6, "%63s", peer), 1);
    int i = 0;
    while (i < n && strcmp(peers[i], peer) != 0) i++;
    if (i == n && n < 64) snprintf(peers[n++], sizeof peers[0], "%s", peer);
  }
  fclose(f);
  return n;
}

/* The server's calls.log: line i is "NNN CODE BYTES parsed|unparsable:...".
 * Returns the number of lines; codes[i] gets CODE (up to max lines). */
static int pysrv_calls(pysrv_t *s, char codes[][32], int max) {
  char path[1024], line[256];
  snprintf(path, sizeof path, "%s/calls.log", s->dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    int idx;
    char code[32], parsed[64];
    ck_assert_msg(sscanf(line, "%d %31s %*u %63s", &idx, code, parsed) == 3, "calls.log: %s",
                  line);
    ck_assert_int_eq(idx, n);
    ck_assert_msg(!strcmp(parsed, "parsed"), "python3-protobuf could not parse call %d: %s",
                  idx, parsed);
    if (n < max) snprintf(codes[n], 32, "%s", code);
    n++;
  }
  fclose(f);
  return n;
}

/* Call i as the server recorded it, decoded by profcol's own decoder; the
 * request's id (fx_request_id), after checking it equals fx_request(id). */
static uint64_t pysrv_check_call(pysrv_t *s, int i) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%03d.bin", s->dir, i);
  pc_buf_t raw = {0};
  pc_test_read_file(path, &raw);
  pc_arena_t *a = pc_arena_new(4096), *w = pc_arena_new(4096);
  pc_request_t got, want;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(a, raw.p, raw.n, &got, &err) == 0, "call %d: %s", i, err.msg);
  uint64_t id = fx_request_id(&got);
  fx_request(w, &want, id);
  pc_test_assert_request_eq(&want, &got);
  pc_arena_free(a);
  pc_arena_free(w);
  pc_buf_free(&raw);
  return id;
}

/* UNAVAILABLE n_fail times, then OK: every batch delivered, each recorded
 * body equal to what was consumed. One consumer keeps the order FIFO, so the
 * first n_fail calls all carry the first batch. */
static void grpcio_fail_then_ok(int n_fail, int retry_s, const char *compression, int n_req) {
  pysrv_t s;
  pysrv_start(&s, n_fail, "UNAVAILABLE", retry_s);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: http://127.0.0.1:%d\n"
          "compression: %s\n" FX_RETRY_FAST "sending_queue:\n  num_consumers: 1\n", s.port,
          compression);
  uint64_t t0 = pc__now_ms();
  fx_consume_ids(&fx, 11, n_req);
  fx_wait_count(&fx, sent_batches, (uint64_t)n_req, 20000);
  uint64_t took = pc__now_ms() - t0;
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.sent_batches, (uint64_t)n_req);
  ck_assert_uint_eq(st.failed_attempts, (uint64_t)n_fail);
  ck_assert_uint_eq(st.retries, (uint64_t)n_fail);
  ck_assert_uint_eq(st.dropped_batches, 0);
  if (retry_s > 0)
    ck_assert_msg(took >= (uint64_t)(n_fail * retry_s * 1000 - 100),
                  "delivered after %llu ms, before %d RetryInfo delays of %d s",
                  (unsigned long long)took, n_fail, retry_s);
  fx_close(&fx, 2000);
  char codes[16][32];
  int n = pysrv_calls(&s, codes, 16);
  ck_assert_int_eq(n, n_fail + n_req);
  for (int i = 0; i < n; i++) {
    ck_assert_str_eq(codes[i], i < n_fail ? "UNAVAILABLE" : "OK");
    uint64_t id = pysrv_check_call(&s, i);
    ck_assert_uint_eq(id, i < n_fail ? 11 : 11 + (uint64_t)(i - n_fail));
  }
  pysrv_stop(&s);
}

/* ---- TLS ------------------------------------------------------------------------- */

/* host:port without tls.insecure is TLS, as in the Collector: the backend's
 * certificate is verified against tls.ca_file; with the system's CAs it is
 * refused (nothing is sent, the batch waits for a retry); with
 * insecure_skip_verify it is taken. */
START_TEST(grpcio_over_tls) {
  char *certs = fx_tempdir(), cert[1024], key[1024];
  pc_test_cert(certs, "server", NULL, cert, key, sizeof cert);
  pysrv_t s;
  pysrv_start_tls(&s, 0, "UNAVAILABLE", 0, cert, key);

  /* One consumer, so the calls go one after another: on one kept
   * connection, not a handshake each. */
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t",
          "endpoint: 127.0.0.1:%d\ntls:\n  ca_file: %s\n" FX_RETRY_FAST
          "sending_queue: {num_consumers: 1}\n", s.port, cert);
  fx_consume_ids(&fx, 21, 2);
  fx_wait_count(&fx, sent_batches, 2, 20000);
  ck_assert_uint_eq(fx_stats(&fx).failed_attempts, 0);
  fx_close(&fx, 2000);
  char codes[8][32];
  ck_assert_int_eq(pysrv_calls(&s, codes, 8), 2);
  ck_assert_uint_eq(pysrv_check_call(&s, 0) + pysrv_check_call(&s, 1), 21 + 22);
  ck_assert_int_eq(pysrv_connections(&s), 1);

  /* Without the CA: the handshake fails, every try, and nothing arrives. */
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: https://127.0.0.1:%d\n" FX_RETRY_FAST,
          s.port);
  fx_consume_ids(&fx, 23, 1);
  fx_wait_count(&fx, failed_attempts, 2, 10000);
  ck_assert_uint_eq(fx_stats(&fx).sent_batches, 0);
  fx_close(&fx, 500);
  ck_assert_int_eq(pysrv_calls(&s, codes, 8), 2);

  /* Told not to verify: taken. */
  fx_open(&fx, &pc_exporter_otlp, "otlp/t",
          "endpoint: 127.0.0.1:%d\ntls:\n  insecure_skip_verify: true\n" FX_RETRY_FAST, s.port);
  fx_consume_ids(&fx, 24, 1);
  fx_wait_count(&fx, sent_batches, 1, 20000);
  fx_close(&fx, 2000);
  ck_assert_int_eq(pysrv_calls(&s, codes, 8), 3);
  ck_assert_uint_eq(pysrv_check_call(&s, 2), 24);
  ck_assert_int_eq(pysrv_connections(&s), 2);

  /* Four consumers, 24 batches: streams side by side on kept connections,
   * every batch delivered once, no failed try. */
  fx_open(&fx, &pc_exporter_otlp, "otlp/t",
          "endpoint: 127.0.0.1:%d\ntls:\n  ca_file: %s\n" FX_RETRY_FAST
          "sending_queue: {num_consumers: 4}\n", s.port, cert);
  fx_consume_ids(&fx, 100, 24);
  fx_wait_count(&fx, sent_batches, 24, 20000);
  ck_assert_uint_eq(fx_stats(&fx).failed_attempts, 0);
  fx_close(&fx, 2000);
  ck_assert_int_eq(pysrv_calls(&s, codes, 8), 3 + 24);
  uint64_t sum = 0;
  for (int i = 3; i < 3 + 24; i++) sum += pysrv_check_call(&s, i);
  ck_assert_uint_eq(sum, 24 * 100 + 24 * 23 / 2);
  ck_assert_int_le(pysrv_connections(&s), 2 + 4);
  pysrv_stop(&s);
  fx_rmtree(certs);
  free(certs);
}
END_TEST

START_TEST(grpcio_unavailable_retry_info) { grpcio_fail_then_ok(2, 1, "gzip", 3); }
END_TEST

/* No RetryInfo: retried on the exporter's own 20 ms backoff. */
START_TEST(grpcio_unavailable_backoff) { grpcio_fail_then_ok(3, 0, "none", 4); }
END_TEST

/* INVALID_ARGUMENT from the server: dropped after one call, never retried. */
START_TEST(grpcio_invalid_argument_not_retried) {
  pysrv_t s;
  pysrv_start(&s, 100, "INVALID_ARGUMENT", 1);
  fx_t fx;
  fx_open(&fx, &pc_exporter_otlp, "otlp/t", "endpoint: http://127.0.0.1:%d\n" FX_RETRY_FAST,
          s.port);
  fx_consume_ids(&fx, 5, 2);
  fx_wait_count(&fx, dropped_batches, 2, 10000);
  fx_run_for(&fx, 500); /* a retry would come after 20 ms (or the 1 s RetryInfo) */
  pc_otlphttp_stats_t st = fx_stats(&fx);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_eq(st.failed_attempts, 2);
  ck_assert_uint_eq(st.sent_batches, 0);
  ck_assert_uint_eq(st.dropped_batches, 2);
  fx_close(&fx, 2000);
  char codes[4][32];
  ck_assert_int_eq(pysrv_calls(&s, codes, 4), 2);
  uint64_t a = pysrv_check_call(&s, 0), b = pysrv_check_call(&s, 1);
  ck_assert(a + b == 11 && a != b);
  ck_assert_str_eq(codes[0], "INVALID_ARGUMENT");
  pysrv_stop(&s);
}
END_TEST

TCase *pc_test_otlp_grpcio_tcase(void);
TCase *pc_test_otlp_grpcio_tcase(void) {
  TCase *tc = tcase_create("otlp-grpcio");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, grpcio_unavailable_retry_info);
  tcase_add_test(tc, grpcio_over_tls);
  tcase_add_test(tc, grpcio_unavailable_backoff);
  tcase_add_test(tc, grpcio_invalid_argument_not_retried);
  return tc;
}

TCase *pc_test_otlp_tcase(void);
TCase *pc_test_otlp_tcase(void) {
  TCase *tc = tcase_create("otlp");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, delivers_gzip_same_data);
  tcase_add_test(tc, delivers_zstd_multiplexed);
  tcase_add_test(tc, zstd_at_configgrpcs_level);
  tcase_add_test(tc, delivers_uncompressed);
  tcase_add_test(tc, unavailable_retried_after_retry_info);
  tcase_add_test(tc, invalid_argument_not_retried);
  tcase_add_test(tc, backend_down_then_up);
  tcase_add_test(tc, config_errors);
  tcase_add_test(tc, wire_retry_info);
  tcase_add_test(tc, wire_codes_and_messages);
  return tc;
}
