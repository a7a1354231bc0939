/* test_ui.c - the flame graph page end to end (issue 16): the real binary
 * with trace_link and a span_store whose ui is on, fed spans and profiles
 * over OTLP/HTTP, then
 *   - the page's embedded files over real HTTP (gzip'd or not, CSP, 308,
 *     404, 405), served without a token while the API keeps asking for one,
 *     and absent when ui is off;
 *   - the API the page reads: a service's whole window with one trace's
 *     samples marked, and both profile answers as pprof, decoded by protoc
 *     (an implementation independent of pdata/) and equal, stack by stack,
 *     to the folded answers;
 *   - a real browser: headless Chromium (tests/ui/browser.py, over the
 *     DevTools protocol) loads /ui/, types a trace id, and the rendered
 *     flame graph holds that trace's frames with widths proportional to
 *     their values, the whole-window view marks them, search highlights, the
 *     export buttons save what the API answers, and no console error was
 *     logged; it leaves a screenshot in the build's
 *     meson-logs/ui-screenshot.png;
 *   - the time Chromium takes to render a 5,000-frame flame graph (printed,
 *     for the README; not a pass/fail criterion). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../pdata/materialize.h"
#include "../pdata/pprofcheck.h"
#include "../pdata/textpb.h"
#include "../spans.h"
#include "e2e.h"

#define PROTO "application/x-protobuf"

static const char yaml_fmt[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http: {endpoint: 127.0.0.1:0}\n"
    "processors:\n"
    "  trace_link:\n"
    "exporters:\n"
    "  nop:\n"
    "extensions:\n"
    "  bearertokenauth: {token: s3cret}\n"
    "  span_store:\n"
    "    endpoint: 127.0.0.1:0\n"
    "    auth: {authenticator: bearertokenauth}\n"
    "%s"
    "service:\n"
    "  extensions: [bearertokenauth, span_store]\n"
    "  pipelines:\n"
    "    traces: {receivers: [otlp], processors: [trace_link], exporters: [nop]}\n"
    "    profiles: {receivers: [otlp], processors: [trace_link], exporters: [nop]}\n";

typedef struct {
  pc_e2e_proc_t p;
  int http, query;
} fx_t;

static void fx_start(fx_t *f, const char *more) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml, yaml_fmt, more);
  bool started = pc_e2e_start(&f->p, yaml);
  char *log = pc_e2e_log(&f->p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  f->http = f->p.port;
  f->query = pc_e2e_port_of(&f->p, "extension:span_store");
  ck_assert_int_gt(f->query, 0);
}

static void fx_stop(fx_t *f) {
  ck_assert_int_eq(pc_e2e_stop(&f->p, 20), 0);
  pc_e2e_cleanup(&f->p);
}

/* ---- what is sent ------------------------------------------------------------------- */

/* Trace 1: GET /checkout (frontend) -> POST /pay (checkout) -> db.query
 * (checkout). Trace 2: GET /cart (checkout), a root. */
static void post_spans(fx_t *f) {
  static const char *const names[] = {"GET /checkout", "POST /pay", "db.query", "GET /cart"};
  pc_test_span_t v[4];
  for (uint32_t i = 0; i < 4; i++) {
    v[i] = (pc_test_span_t){.service = i ? "checkout" : "frontend", .pid = -1,
                            .name = names[i], .tid = -1, .start = 1000000 + 100000 * i,
                            .end = 9000000 - 100000 * i};
    pc_test_trace_id(i < 3 ? 1 : 2, v[i].trace_id);
    pc_test_span_id(i < 3 ? i + 1 : 1, v[i].span_id);
    if (i && i < 3) pc_test_span_id(i, v[i].parent_span_id);
  }
  pc_buf_t b = {0};
  pc_test_traces_proto(v, 4, &b);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f->http, "/v1/traces", PROTO, NULL, b.p, b.n, &r), 200);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
}

/* Service checkout; cpu of trace 1: main;handle;encode;work 125 and
 * main;libc.so.6+0x1f2a3 50 (175); trace 2 adds 300 on work and 1000 on
 * main;other. */
static const pc_test_sample_t SAMPLES[] = {
    {.frames = "main;handle>encode;work", .trace = 1, .span = 2, .type = "cpu:nanoseconds",
     .value = 100},
    {.frames = "main;@/usr/lib/libc.so.6+0x1f2a3", .trace = 1, .span = 3,
     .type = "cpu:nanoseconds", .value = 50},
    {.frames = "main;handle>encode;work", .trace = 1, .span = 3, .type = "cpu:nanoseconds",
     .value = 25},
    {.frames = "main;alloc", .trace = 1, .span = 2, .type = "alloc:bytes", .value = 4096},
    {.frames = "main;other", .trace = 2, .span = 1, .type = "cpu:nanoseconds", .value = 1000},
    {.frames = "main;handle>encode;work", .trace = 2, .span = 1, .type = "cpu:nanoseconds",
     .value = 300},
};

static void post_samples(fx_t *f, const char *service, const pc_test_sample_t *v, size_t n) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, service, -1, v, n, &req);
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f->http, "/v1development/profiles", PROTO, NULL, b.p, b.n, &r),
                   200);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
  pc_arena_free(a);
}

static void feed(fx_t *f) {
  post_spans(f);
  post_samples(f, "checkout", SAMPLES, sizeof SAMPLES / sizeof SAMPLES[0]);
}

static void trace_hex(uint32_t t, char out[33]) {
  uint8_t id[16];
  pc_test_trace_id(t, id);
  pc_test_hex(id, 16, out);
}

static void span_hex(uint32_t s, char out[17]) {
  uint8_t id[8];
  pc_test_span_id(s, id);
  pc_test_hex(id, 8, out);
}

#define AUTH "Authorization: Bearer s3cret\r\n"

static int get(fx_t *f, const char *path, const char *headers, pc_e2e_resp_t *r) {
  char h[512];
  snprintf(h, sizeof h, "%s%s", AUTH, headers ? headers : "");
  return pc_e2e_get_headers(f->query, path, h, r);
}

static bool has_header(const pc_e2e_resp_t *r, const char *line) {
  return strcasestr(r->headers, line) != NULL;
}

/* ---- the page's files --------------------------------------------------------------- */

START_TEST(page_files_are_embedded_and_served) {
  fx_t f;
  fx_start(&f, "    ui: {enabled: true}\n");
  pc_e2e_resp_t gz, raw;
  /* no token needed for the files (a browser cannot send one by itself) */
  ck_assert_int_eq(pc_e2e_get_headers(f.query, "/ui/", "Accept-Encoding: gzip, br\r\n", &gz),
                   200);
  ck_assert_msg(has_header(&gz, "Content-Encoding: gzip"), "%s", gz.headers);
  ck_assert(has_header(&gz, "Content-Type: text/html; charset=utf-8"));
  ck_assert(has_header(&gz, "Content-Security-Policy: default-src 'none'; script-src 'self'"));
  ck_assert(has_header(&gz, "X-Content-Type-Options: nosniff"));
  ck_assert_int_eq(pc_encoding_sniff(gz.body.p, gz.body.n), PC_ENC_GZIP);
  /* without gzip (and with gzip refused by q=0): the same bytes inflated */
  ck_assert_int_eq(pc_e2e_get_headers(f.query, "/ui/", "Accept-Encoding: gzip;q=0\r\n", &raw),
                   200);
  ck_assert(!has_header(&raw, "Content-Encoding"));
  pc_buf_t inflated = {0};
  pc_err_t err = {0};
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, gz.body.p, gz.body.n, 1 << 20, &inflated, &err),
                   0);
  ck_assert_uint_eq(inflated.n, raw.body.n);
  ck_assert(memcmp(inflated.p, raw.body.p, raw.body.n) == 0);
  pc_buf_append(&raw.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)raw.body.p, "<script src=\"vendor.js\"></script>"));
  ck_assert_ptr_null(strstr((const char *)raw.body.p, "http://"));  /* no CDN */
  ck_assert_ptr_null(strstr((const char *)raw.body.p, "https://"));
  pc_buf_free(&inflated);
  pc_buf_free(&gz.body);
  pc_buf_free(&raw.body);

  /* the scripts: d3-flame-graph and d3 in vendor.js, the page's own app.js */
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/vendor.js", &r), 200);
  ck_assert(has_header(&r, "Content-Type: text/javascript; charset=utf-8"));
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "d3-flame-graph"));
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "d3js.org"));
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/app.js", &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/app.css", &r), 200);
  ck_assert(has_header(&r, "Content-Type: text/css"));
  pc_buf_free(&r.body);
  /* the licences of what is embedded */
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/licenses.txt", &r), 200);
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "d3-flame-graph 5.0.0 (Apache-2.0)"));
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "d3-selection"));
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "(ISC)"));
  pc_buf_free(&r.body);
  /* /ui goes to /ui/; unknown files are 404; other methods 405 */
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui", &r), 308);
  ck_assert(has_header(&r, "Location: /ui/"));
  ck_assert_msg(strncmp(r.headers, "HTTP/1.1 308 Permanent Redirect\r\n", 33) == 0, "%s",
                r.headers);
  pc_buf_free(&r.body);
  /* so does the endpoint's root, where a browser pointed at it lands */
  ck_assert_int_eq(pc_e2e_get(f.query, "/", &r), 308);
  ck_assert(has_header(&r, "Location: /ui/"));
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/nope.js", &r), 404);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post(f.query, "/ui/", "text/plain", NULL, "x", 1, &r), 405);
  pc_buf_free(&r.body);
  /* the data still needs the token */
  ck_assert_int_eq(pc_e2e_get(f.query, "/api/v1/traces", &r), 401);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/traces", NULL, &r), 200);
  pc_buf_free(&r.body);
  /* the log says where the page is and what it weighs */
  char *log = pc_e2e_log(&f.p), want[80];
  snprintf(want, sizeof want, "flame graph page at http://127.0.0.1:%d/ui/ (", f.query);
  ck_assert_msg(strstr(log, want), "%s", log);
  free(log);
  fx_stop(&f);
}
END_TEST

/* Off by default: /ui/ is neither served nor a way around the token. */
START_TEST(page_is_off_by_default) {
  fx_t f;
  fx_start(&f, "");
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(f.query, "/ui/", &r), 401);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/ui/", NULL, &r), 404);
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* ---- the API the page reads ----------------------------------------------------------- */

static void expect_body(const pc_e2e_resp_t *r, const char *want) {
  ck_assert_msg(r->body.n == strlen(want) && memcmp(r->body.p, want, r->body.n) == 0,
                "got:\n%.*s\nwanted:\n%s", (int)r->body.n, (const char *)r->body.p, want);
}

/* A service's whole window, one trace's share marked, in every format. */
START_TEST(service_window_marks_a_trace) {
  fx_t f;
  fx_start(&f, "");
  feed(&f);
  char t1[33], t9[33], s3[17], path[256];
  trace_hex(1, t1);
  trace_hex(9, t9);
  span_hex(3, s3);
  pc_e2e_resp_t r;
  /* folded: every sample of checkout's cpu, whatever the trace */
  ck_assert_int_eq(get(&f, "/api/v1/services/checkout/profile", NULL, &r), 200);
  ck_assert(has_header(&r, "X-Profcol-Sample-Type: cpu:nanoseconds"));
  expect_body(&r, "main;handle;encode;work 425\nmain;libc.so.6+0x1f2a3 50\nmain;other 1000\n");
  pc_buf_free(&r.body);
  /* JSON, trace 1 marked: its 175 of 1475 */
  snprintf(path, sizeof path, "/api/v1/services/checkout/profile?trace_id=%s", t1);
  ck_assert_int_eq(get(&f, path, "Accept: application/json\r\n", &r), 200);
  pc_buf_append(&r.body, "", 1);
  const char *b = (const char *)r.body.p;
  ck_assert_msg(strstr(b, "{\"service\":\"checkout\",\"traceId\":\"") == b, "%s", b);
  ck_assert_ptr_nonnull(strstr(b, "\"partialWindow\":false,\"sampleType\":\"cpu\""));
  ck_assert_ptr_nonnull(strstr(b, "\"samples\":5,\"total\":1475,\"markedSamples\":3,\"marked\":175"));
  ck_assert_ptr_nonnull(strstr(b, "\"sampleTypes\":[{\"type\":\"alloc\",\"unit\":\"bytes\","
                                  "\"samples\":1},{\"type\":\"cpu\",\"unit\":\"nanoseconds\","
                                  "\"samples\":5}],\"services\":[\"checkout\"]"));
  ck_assert_msg(strstr(b, "{\"name\":\"work\",\"value\":425,\"marked\":125,\"line\":10}"), "%s", b);
  ck_assert_msg(strstr(b, "{\"name\":\"other\",\"value\":1000,\"line\":10}"), "%s", b);
  pc_buf_free(&r.body);
  /* a span marks only its samples */
  snprintf(path, sizeof path, "/api/v1/services/checkout/profile?trace_id=%s&span_id=%s", t1,
           s3);
  ck_assert_int_eq(get(&f, path, "Accept: application/json\r\n", &r), 200);
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "\"markedSamples\":2,\"marked\":75"));
  pc_buf_free(&r.body);
  /* a trace with no samples marks nothing; the window is still shown */
  snprintf(path, sizeof path, "/api/v1/services/checkout/profile?trace_id=%s&format=json", t9);
  ck_assert_int_eq(get(&f, path, NULL, &r), 200);
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "\"markedSamples\":0,\"marked\":0"));
  ck_assert_ptr_null(strstr((const char *)r.body.p, "\"marked\":1"));
  pc_buf_free(&r.body);
  /* another sample type */
  ck_assert_int_eq(get(&f, "/api/v1/services/checkout/profile?sample_type=alloc", NULL, &r), 200);
  expect_body(&r, "main;alloc 4096\n");
  pc_buf_free(&r.body);
  /* a percent-encoded name; unknown services and bad parameters */
  ck_assert_int_eq(get(&f, "/api/v1/services/check%6Fut/profile", NULL, &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/services/frontend/profile", NULL, &r), 404);
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "no linked profile samples of service "
                                                       "\"frontend\""));
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/services/checkout/profile?trace_id=xyz", NULL, &r), 400);
  pc_buf_free(&r.body);
  snprintf(path, sizeof path, "/api/v1/services/checkout/profile?span_id=%s", s3);
  ck_assert_int_eq(get(&f, path, NULL, &r), 400);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/services/checkout/profile?format=svg", NULL, &r), 400);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/services/%00/profile", NULL, &r), 400);
  pc_buf_free(&r.body);
  ck_assert_int_eq(get(&f, "/api/v1/services/checkout/profile?sample_type=wall", NULL, &r), 404);
  pc_buf_free(&r.body);
  /* the trace's own answer names its services and sample types for the page */
  snprintf(path, sizeof path, "/api/v1/traces/%s/profile", t1);
  ck_assert_int_eq(get(&f, path, "Accept: application/json\r\n", &r), 200);
  pc_buf_append(&r.body, "", 1);
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "\"services\":[\"checkout\"]"));
  ck_assert_ptr_nonnull(strstr((const char *)r.body.p, "\"sampleTypes\":[{\"type\":\"alloc\""));
  ck_assert_ptr_null(strstr((const char *)r.body.p, "marked"));
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* protoc's reading of a pprof answer, as folded lines (sample type 0). */
static void pprof_folded(const pc_e2e_resp_t *r, pc_mat_t *out) {
  ck_assert_int_eq(pc_encoding_sniff(r->body.p, r->body.n), PC_ENC_GZIP);
  pc_tpb_t *p = pc_tpb_protoc_decode("perftools.profiles.Profile",
                                     "perftools/profiles/profile.proto", r->body.p, r->body.n);
  ck_assert_uint_eq(pc_tpb_count(p, "sample_type"), 1);
  pc_pprof_oracle_folded(p, 0, out);
  pc_tpb_free(p);
}

/* Each pprof answer (by ?format=pprof and by Accept) decodes with protoc
 * and sums per stack to the folded answer of the same question. */
START_TEST(pprof_answers_equal_folded_ones) {
  fx_t f;
  fx_start(&f, "");
  feed(&f);
  char t1[33], s3[17], base[4][200];
  trace_hex(1, t1);
  span_hex(3, s3);
  snprintf(base[0], sizeof base[0], "/api/v1/traces/%s/profile?x=1", t1);
  snprintf(base[1], sizeof base[1], "/api/v1/traces/%s/profile?span_id=%s", t1, s3);
  snprintf(base[2], sizeof base[2], "/api/v1/services/checkout/profile?trace_id=%s", t1);
  snprintf(base[3], sizeof base[3], "/api/v1/services/checkout/profile?sample_type=alloc:bytes");
  for (int i = 0; i < 4; i++) {
    char path[sizeof base[0] + 16];
    pc_e2e_resp_t folded, pp, acc;
    ck_assert_int_eq(get(&f, base[i], NULL, &folded), 200);
    size_t bn = strlen(base[i]);
    memcpy(path, base[i], bn);
    memcpy(path + bn, "&format=pprof", sizeof "&format=pprof");
    ck_assert_int_eq(get(&f, path, NULL, &pp), 200);
    ck_assert(has_header(&pp, "Content-Type: application/vnd.google.protobuf+gzip"));
    ck_assert(has_header(&pp, "Content-Disposition: attachment; filename=\""));
    ck_assert_int_eq(get(&f, base[i], "Accept: application/vnd.google.protobuf+gzip\r\n", &acc),
                     200);
    ck_assert_uint_eq(acc.body.n, pp.body.n);
    ck_assert(memcmp(acc.body.p, pp.body.p, pp.body.n) == 0);
    pc_mat_t a = {0}, b = {0};
    pc_folded_lines((const char *)folded.body.p, folded.body.n, &a);
    pprof_folded(&pp, &b);
    char why[512];
    ck_assert_uint_gt(a.n, 0);
    ck_assert_msg(pc_mat_eq(&a, &b, why, sizeof why), "%s: pprof vs folded: %s", base[i], why);
    pc_mat_free(&a);
    pc_mat_free(&b);
    pc_buf_free(&folded.body);
    pc_buf_free(&pp.body);
    pc_buf_free(&acc.body);
  }
  fx_stop(&f);
}
END_TEST

/* ---- a real browser -------------------------------------------------------------------- */

/* Run tests/ui/browser.py with args (NULL-ended); its output goes to the
 * test log. Returns its exit status. */
static int browser(const char *const *args) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  char script[512];
  snprintf(script, sizeof script, "%s/tests/ui/browser.py", root);
  const char *argv[64] = {"/usr/bin/python3", script};
  size_t n = 2;
  for (size_t i = 0; args[i]; i++) {
    ck_assert_msg(n < 63, "too many arguments for browser.py"); /* not cut short */
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  fflush(stdout);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    execv("/usr/bin/python3", (char *const *)argv);
    _exit(127);
  }
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void screenshot_path(char *buf, size_t n) {
  const char *build = getenv("PC_BUILD_ROOT");
  ck_assert_ptr_nonnull(build);
  snprintf(buf, n, "%s/meson-logs/ui-screenshot.png", build);
}

START_TEST(browser_draws_a_trace) {
  fx_t f;
  fx_start(&f, "    ui: {enabled: true}\n");
  feed(&f);
  char url[128], t1[33], shot[512], controls[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ui/", f.query);
  trace_hex(1, t1);
  trace_hex(2, controls);
  strcat(controls, "=handle"); /* zoom into handle; trace 2 is GET /cart */
  screenshot_path(shot, sizeof shot);
  /* Trace 1's cpu: main 175 = handle 125 (> encode > work) + libc 50; trace
   * 2's main;other must not be there. Then the whole window of checkout:
   * other is there, trace 1's frames marked, and search finds work. */
  const char *args[] = {"--url", url, "--token", "s3cret", "--trace", t1,
                        "--expect", "main=175", "--expect", "handle=125",
                        "--expect", "encode=125", "--expect", "work=125",
                        "--expect", "libc.so.6+0x1f2a3=50", "--absent", "other",
                        "--absent", "alloc",
                        "--service-view", "checkout", "--window-expect", "other=1000",
                        "--window-expect", "work=425", "--marked", "work", "--unmarked", "other",
                        "--search", "work", "--export", "--screenshot", shot,
                        "--measure", /* the baseline of the 5,000-frame figure */
                        "--controls", controls, NULL};
  int rc = browser(args);
  ck_assert_msg(rc == 0, "tests/ui/browser.py failed (%d): see its output above", rc);
  struct stat sb;
  ck_assert_int_eq(stat(shot, &sb), 0);
  ck_assert_int_gt(sb.st_size, 10000);
  printf("ui: screenshot of the page: %s\n", shot);
  fx_stop(&f);
}
END_TEST

/* 5,000 distinct frames: 125 stacks of main and 40 frames of their own. */
START_TEST(browser_renders_5000_frames) {
  fx_t f;
  fx_start(&f, "    ui: {enabled: true}\n    max_query_bytes: 64MiB\n");
  post_spans(&f);
  enum { STACKS = 125, DEPTH = 40 };
  pc_test_sample_t *v = calloc(STACKS, sizeof *v);
  char **frames = calloc(STACKS, sizeof *frames);
  for (int i = 0; i < STACKS; i++) {
    frames[i] = malloc(DEPTH * 24 + 8);
    size_t o = (size_t)sprintf(frames[i], "main");
    for (int d = 0; d < DEPTH; d++)
      o += (size_t)sprintf(frames[i] + o, ";pkg%d.fn%d_%d", i % 7, i, d);
    v[i] = (pc_test_sample_t){.frames = frames[i], .trace = 1, .span = 2,
                              .type = "cpu:nanoseconds", .value = 1000 + 10 * i};
  }
  post_samples(&f, "checkout", v, STACKS);
  char url[128], t1[33];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ui/", f.query);
  trace_hex(1, t1);
  const char *args[] = {"--url",        url,    "--token",   "s3cret", "--trace", t1,
                        "--min-frames", "5000", "--measure",
                        /* a DevTools answer waits for the render: on a loaded
                         * 2-core machine one took over 30 s */
                        "--timeout", "90", NULL};
  int rc = browser(args);
  ck_assert_msg(rc == 0, "tests/ui/browser.py failed (%d): see its output above", rc);
  for (int i = 0; i < STACKS; i++) free(frames[i]);
  free(frames);
  free(v);
  fx_stop(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-ui");
  TCase *tc = tcase_create("ui");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, page_files_are_embedded_and_served);
  tcase_add_test(tc, page_is_off_by_default);
  tcase_add_test(tc, service_window_marks_a_trace);
  tcase_add_test(tc, pprof_answers_equal_folded_ones);
  suite_add_tcase(s, tc);
  TCase *br = tcase_create("browser");
  tcase_set_timeout(br, 180);
  tcase_add_test(br, browser_draws_a_trace);
  tcase_add_test(br, browser_renders_5000_frames);
  suite_add_tcase(s, br);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
