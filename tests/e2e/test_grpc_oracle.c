/* test_grpc_oracle.c - end to end over OTLP/gRPC on both sides, every sample:
 * Debian's python3-grpcio (tests/grpc/grpc_client.py) sends random requests
 * to the real profcol binary (otlp receiver, grpc only) -> batch -> the
 * `otlp` exporter (gzip) -> a python3-grpcio backend
 * (tests/grpc/grpc_server.py) that records every call. What the backend took
 * (the calls it answered OK) must be the same multiset of materialized
 * samples, and of profiles, as what the client sent and profcol
 * acknowledged: nothing lost, nothing duplicated. The second test has the
 * backend answer UNAVAILABLE to its first calls: the exporter retries the
 * same bytes and the comparison stays exact.
 *
 * Why exact and not "at least": the exporter sends a batch again only after
 * a failure answer, and a batch answered OK is never sent again. OTLP allows
 * a duplicate when an OK answer is lost (a connection cut after the backend
 * took the data, or the client's deadline firing first); this test provokes
 * neither, as grpc_server.py answers at once, well inside the 7 s timeout.
 *
 * The backend also shows what the exporter put on the wire: every call
 * carries a deadline from the exporter's `timeout` (grpc-timeout), and the
 * bytes sent (profcol's counter) are fewer than the messages grpcio
 * inflated (grpc-encoding: gzip). */
#include <check.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../pdata/materialize.h"
#include "../pdata/randreq.h"
#include "../pdata/testdata.h"
#include "e2e.h"

extern char **environ;

#define PYTHON "/usr/bin/python3" /* Debian's, with python3-grpcio */
#define N_REQUESTS 60
#define TIMEOUT_S 7 /* the exporter's timeout, as its grpc-timeout */

static const char *const yaml_fmt =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: 127.0.0.1:0\n"
    "processors:\n"
    "  batch:\n"
    "    send_batch_size: 40\n"
    "    send_batch_max_size: 60\n"
    "    timeout: 50ms\n"
    "exporters:\n"
    "  otlp:\n"
    "    endpoint: 127.0.0.1:%d\n"
    "    tls:\n"
    "      insecure: true\n"
    "    compression: gzip\n"
    "    timeout: %ds\n"
    "    retry_on_failure:\n"
    "      initial_interval: 50ms\n"
    "      max_interval: 200ms\n"
    "    sending_queue:\n"
    "      num_consumers: 4\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      processors: [batch]\n"
    "      exporters: [otlp]\n";

static void path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
}

static const char *src_root(void) {
  const char *r = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(r != NULL, "PC_SOURCE_ROOT is not set (run through meson test)");
  return r;
}

/* ---- the backend: grpc_server.py ------------------------------------------------ */

typedef struct {
  pid_t pid;
  int port;
  char dir[300]; /* NNN.bin and calls.log */
} backend_t;

/* Start grpc_server.py answering UNAVAILABLE (with a RetryInfo of
 * retry_s seconds when > 0) to its first fail calls, OK after. */
static void backend_start(backend_t *b, const char *dir, int fail, int retry_s) {
  path_in(b->dir, sizeof b->dir, dir, "backend");
  ck_assert_int_eq(mkdir(b->dir, 0700), 0);
  char script[1024], protos[1024], port_file[400], fail_s[16], retry_s_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_server.py", src_root());
  snprintf(protos, sizeof protos, "%s/proto", src_root());
  path_in(port_file, sizeof port_file, dir, "backend.port");
  snprintf(fail_s, sizeof fail_s, "%d", fail);
  snprintf(retry_s_s, sizeof retry_s_s, "%d", retry_s);
  char *argv[] = {PYTHON, script, "--proto-root", protos, "--out", b->dir, "--port-file",
                  port_file, "--fail", fail_s, "--retry-delay", retry_s_s, "--lifetime", "60",
                  NULL};
  int rc = posix_spawn(&b->pid, PYTHON, NULL, NULL, argv, environ);
  ck_assert_msg(rc == 0, "cannot run %s: %s", PYTHON, strerror(rc));
  b->port = 0;
  for (int i = 0; i < 600 && !b->port; i++) { /* up to 30 s: protoc runs first */
    FILE *f = fopen(port_file, "r");
    if (f) {
      ck_assert_int_eq(fscanf(f, "%d", &b->port), 1);
      fclose(f);
      break;
    }
    int status;
    ck_assert_msg(waitpid(b->pid, &status, WNOHANG) == 0, "grpc_server.py exited early");
    usleep(50 * 1000);
  }
  ck_assert_msg(b->port > 0, "grpc_server.py did not write its port in 30 s");
}

static void backend_stop(backend_t *b) {
  ck_assert_int_eq(kill(b->pid, SIGTERM), 0);
  int status;
  ck_assert_int_eq(waitpid(b->pid, &status, 0), b->pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "grpc_server.py status %d",
                status);
}

/* What the backend recorded so far. */
typedef struct {
  pc_mat_t samples, profiles; /* of the calls answered OK */
  int ok, failed;             /* calls answered OK, and UNAVAILABLE */
  int unresent;               /* failed calls not (yet) sent again and taken */
  uint64_t ok_bytes;          /* messages answered OK, as grpcio inflated them */
} got_t;

static void got_free(got_t *g) {
  pc_mat_free(&g->samples);
  pc_mat_free(&g->profiles);
  *g = (got_t){0};
}

static void read_call(const backend_t *b, int i, pc_buf_t *out) {
  char path[400];
  snprintf(path, sizeof path, "%s/%03d.bin", b->dir, i);
  out->n = 0;
  pc_test_read_file(path, out);
}

/* Read calls.log (complete lines only: the server may be writing) and every
 * call it names. Checks each call as it goes: python3-protobuf parsed it, it
 * had a deadline of at most TIMEOUT_S, an OK one decodes into a batch with a
 * clean dictionary, a failed one was sent again, byte for byte, and answered
 * OK later (a retry sends the queued body as it was). */
static got_t read_backend(const backend_t *b) {
  got_t g = {0};
  char path[400], line[512];
  path_in(path, sizeof path, b->dir, "calls.log");
  FILE *f = fopen(path, "r");
  if (!f) return g;
  char codes[256][16];
  int n = 0;
  while (fgets(line, sizeof line, f) && strchr(line, '\n')) {
    int idx;
    size_t bytes;
    char code[16], parsed[64], timeout[32];
    ck_assert_msg(sscanf(line, "%d %15s %zu %63s timeout=%31s", &idx, code, &bytes, parsed,
                         timeout) == 5, "calls.log: %s", line);
    ck_assert_int_eq(idx, n);
    ck_assert_int_lt(n, 256);
    ck_assert_msg(!strcmp(parsed, "parsed"), "python3-protobuf cannot parse call %d: %s", idx,
                  parsed);
    /* grpc-timeout: TIMEOUT_S less the time the call took to arrive. */
    double left = strtod(timeout, NULL);
    ck_assert_msg(left > TIMEOUT_S - 3 && left <= TIMEOUT_S, "call %d: deadline %s s, want %d",
                  idx, timeout, TIMEOUT_S);
    snprintf(codes[n++], sizeof codes[0], "%s", code);
  }
  fclose(f);

  pc_arena_t *a = pc_arena_new(0);
  pc_buf_t body = {0}, later = {0};
  for (int i = 0; i < n; i++) {
    read_call(b, i, &body);
    if (!strcmp(codes[i], "UNAVAILABLE")) {
      g.failed++;
      bool resent = false;
      for (int j = i + 1; j < n && !resent; j++) {
        if (strcmp(codes[j], "OK")) continue;
        read_call(b, j, &later);
        resent = later.n == body.n && !memcmp(later.p, body.p, body.n);
      }
      if (!resent) g.unresent++; /* fine while profcol runs: the caller waits */
      continue;
    }
    ck_assert_msg(!strcmp(codes[i], "OK"), "call %d answered %s", i, codes[i]);
    pc_request_t req;
    pc_err_t err = {0};
    ck_assert_msg(pc_proto_decode(a, body.p, body.n, &req, &err) == 0, "call %d: %s", i,
                  err.msg);
    char why[512];
    ck_assert_msg(pc_mat_check_batch(&req, why, sizeof why) == 0, "call %d: %s", i, why);
    pc_mat_add(&g.samples, &req);
    pc_mat_add_profiles(&g.profiles, &req);
    g.ok++;
    g.ok_bytes += body.n;
    pc_arena_reset(a);
  }
  pc_buf_free(&body);
  pc_buf_free(&later);
  pc_arena_free(a);
  pc_mat_sort(&g.samples);
  pc_mat_sort(&g.profiles);
  return g;
}

/* ---- the client side --------------------------------------------------------------- */

/* N_REQUESTS random requests into dir/in/NNN.binpb, sent as they are: most
 * with their dictionaries shuffled, duplicated or padded (same meaning,
 * other bytes), as in test_oracle.c. want gets what they mean. */
static void write_payloads(const char *dir, uint64_t seed, pc_mat_t *want,
                           pc_mat_t *want_profiles) {
  char in[400];
  path_in(in, sizeof in, dir, "in");
  ck_assert_int_eq(mkdir(in, 0700), 0);
  pc_rng_t rng = {.s = seed};
  pc_arena_t *a = pc_arena_new(0);
  for (int i = 0; i < N_REQUESTS; i++) {
    pc_request_t base, req;
    pc_rand_request(&rng, a, &base);
    if (i % 4 == 3) req = base;
    else pc_rewrite_request(&rng, a, &base, (pc_rewrite_t)(i % 3), &req);
    pc_buf_t body = {0};
    ck_assert_int_eq(pc_proto_encode(&req, &body), 0);
    char path[450];
    snprintf(path, sizeof path, "%s/%03d.binpb", in, i);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(body.p, 1, body.n, f), body.n);
    ck_assert_int_eq(fclose(f), 0);
    pc_mat_add(want, &base);
    pc_mat_add_profiles(want_profiles, &base);
    pc_buf_free(&body);
    pc_arena_reset(a);
  }
  pc_arena_free(a);
  pc_mat_sort(want);
  pc_mat_sort(want_profiles);
}

/* grpc_client.py's payloads case: a third one call at a time, the rest at
 * once on one channel, every other one gzip; each must be answered OK. */
static void send_payloads(int port, const char *dir) {
  char script[1024], protos[1024], request[1024], in[400], port_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_client.py", src_root());
  snprintf(protos, sizeof protos, "%s/proto", src_root());
  snprintf(request, sizeof request, "%s/tests/data/request.txtpb", src_root());
  path_in(in, sizeof in, dir, "in");
  snprintf(port_s, sizeof port_s, "%d", port);
  char *argv[] = {PYTHON, script, "--port", port_s, "--proto-root", protos, "--request",
                  request, "--payload-dir", in, "payloads", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, PYTHON, NULL, NULL, argv, environ);
  ck_assert_msg(rc == 0, "cannot run %s: %s", PYTHON, strerror(rc));
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "grpc_client.py status %d",
                status);
}

/* ---- profcol's counters -------------------------------------------------------------- */

static double metric(int port, const char *series) {
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(port, "/metrics", &r), 200);
  pc_buf_append(&r.body, "", 1);
  const char *text = (const char *)r.body.p;
  double v = -1;
  size_t n = strlen(series);
  for (const char *p = text; (p = strstr(p, series)); p += n)
    if ((p == text || p[-1] == '\n') && p[n] == ' ') {
      v = strtod(p + n + 1, NULL);
      break;
    }
  pc_buf_free(&r.body);
  ck_assert_msg(v >= 0, "no %s in /metrics", series);
  return v;
}

/* The backend records a call before it answers: profcol may not have
 * counted the last answer yet when the data is there. */
static double wait_metric(int port, const char *series, double want) {
  double v = metric(port, series);
  for (int i = 0; i < 200 && v != want; i++) {
    usleep(50 * 1000);
    v = metric(port, series);
  }
  return v;
}

#define RX "{receiver=\"otlp\",transport=\"grpc\"}"
#define EX "{exporter=\"otlp\"}"

/* ---- the test ---------------------------------------------------------------------------- */

/* Client -> profcol -> backend with the backend failing its first fail
 * calls (RetryInfo of retry_s seconds, 0: none); everything the client sent
 * arrives exactly once. */
static void same_samples_out(int fail, int retry_s, uint64_t seed) {
  char dir[] = "/tmp/profcol-grpc-oracle-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  backend_t b;
  backend_start(&b, dir, fail, retry_s);
  char yaml[2048];
  snprintf(yaml, sizeof yaml, yaml_fmt, b.port, TIMEOUT_S);
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  int port = pc_e2e_port_of(&p, "receiver:otlp");
  int metrics = pc_e2e_port_of(&p, "service:telemetry");
  ck_assert_int_gt(port, 0);
  ck_assert_int_gt(metrics, 0);

  pc_mat_t want = {0}, want_profiles = {0};
  write_payloads(dir, seed, &want, &want_profiles);
  ck_assert_msg(want.n > 100, "only %zu samples sent", want.n);
  send_payloads(port, dir);

  /* Wait while running (not only through the drain at SIGTERM) until every
   * sample and every retry has arrived. */
  got_t g = read_backend(&b);
  for (int i = 0; i < 600 && (g.samples.n < want.n || g.failed < fail || g.unresent); i++) {
    usleep(50 * 1000);
    got_free(&g);
    g = read_backend(&b);
  }
  ck_assert_msg(g.samples.n >= want.n && g.failed == fail && !g.unresent,
                "after 30 s the backend took %zu of %zu samples; %d calls failed (want %d), "
                "%d of them not sent again", g.samples.n, want.n, g.failed, fail, g.unresent);
  ck_assert_int_eq(metric(metrics, "profcol_receiver_requests" RX), N_REQUESTS);
  ck_assert_int_eq(metric(metrics, "profcol_receiver_failed_requests" RX), 0);
  ck_assert_int_eq(metric(metrics, "profcol_exporter_failed_attempts" EX), fail);
  ck_assert_int_eq(metric(metrics, "profcol_exporter_retries" EX), fail);
  ck_assert_int_eq(wait_metric(metrics, "profcol_exporter_sent_batches" EX, g.ok), g.ok);
  double sent = metric(metrics, "profcol_exporter_sent_bytes" EX);
  ck_assert_msg(sent < (double)g.ok_bytes, "%.0f bytes sent for %llu bytes of messages: "
                "not compressed", sent, (unsigned long long)g.ok_bytes);
  got_free(&g);

  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  backend_stop(&b);
  /* Again after the drain: nothing more was sent, nothing twice. */
  g = read_backend(&b);
  ck_assert_int_eq(g.failed, fail);
  ck_assert_int_eq(g.unresent, 0);
  ck_assert_int_lt(g.ok, N_REQUESTS); /* requests were merged into batches */
  char why[1024];
  ck_assert_msg(pc_mat_eq(&want, &g.samples, why, sizeof why), "samples differ: %s", why);
  ck_assert_msg(pc_mat_eq(&want_profiles, &g.profiles, why, sizeof why), "profiles differ: %s",
                why);
  got_free(&g);
  pc_mat_free(&want);
  pc_mat_free(&want_profiles);
  pc_e2e_cleanup(&p);
  pc_e2e_proc_t tmp = {0}; /* no process: pc_e2e_cleanup only removes dir's tree */
  snprintf(tmp.dir, sizeof tmp.dir, "%s", dir);
  pc_e2e_cleanup(&tmp);
}

START_TEST(grpc_in_grpc_out_same_samples) { same_samples_out(0, 0, 20261125); }
END_TEST

/* UNAVAILABLE with a RetryInfo of 1 s to the first 3 calls. */
START_TEST(grpc_backend_fails_then_recovers) { same_samples_out(3, 1, 7); }
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-grpc-oracle");
  TCase *tc = tcase_create("grpc-oracle");
  tcase_set_timeout(tc, 150);
  tcase_add_test(tc, grpc_in_grpc_out_same_samples);
  tcase_add_test(tc, grpc_backend_fails_then_recovers);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
