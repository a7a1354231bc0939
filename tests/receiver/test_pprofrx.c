/* test_pprofrx.c - the pprof receiver's parts that need no server
 * (receiver/pyroscope.c, receiver/pprof.c's checks, the scrape schedule of
 * receiver/pprof_scrape.c): Pyroscope's /ingest query and multipart form
 * as the SDKs write them, malformed ones, the spread of a thousand
 * targets over the interval, config errors with their places, and
 * conversion jobs queued past the thread pool's threads (receiver/pprof.c).
 * The end-to-end behaviour is tests/e2e/test_pprof.c. */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../config/config.h"
#include "../../receiver/pprofrx.h"
#include "../pdata/testdata.h"
#include "test_pprofrx.h"

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

static bool eq(pc_str_t a, const char *b) { return pc_str_eq(a, S(b)); }

/* ---- the query ------------------------------------------------------------------------ */

static int parse(const char *q, pc__pyro_query_t *out, char *why) {
  static uint8_t scratch[4096];
  return pc__pyro_parse_query(S(q), scratch, 42, out, why, 256);
}

START_TEST(ingest_query_as_the_go_sdk_sends_it) {
  /* url.Values.Encode of name, from, until, spyName, sampleRate, units,
   * aggregationType (pyroscope-go upstream/remote). */
  const char *q = "aggregationType=sum&from=1796459720123456789&name=my.app.cpu%7Benv%3D"
                  "staging%2Cregion%3Dus-west-1%2C+team+%3D+a+b+%7D&sampleRate=100&spyName="
                  "gospy&units=samples&until=1796459730123456789";
  pc__pyro_query_t pq;
  char why[256];
  ck_assert_int_eq(parse(q, &pq, why), 0);
  ck_assert(eq(pq.app, "my.app.cpu"));
  ck_assert_uint_eq(pq.n_labels, 3);
  ck_assert(eq(pq.keys[0], "env") && eq(pq.values[0], "staging"));
  ck_assert(eq(pq.keys[1], "region") && eq(pq.values[1], "us-west-1"));
  ck_assert(eq(pq.keys[2], "team") && eq(pq.values[2], "a b")); /* blanks trimmed, kept inside */
  ck_assert_int_eq(pq.from_ns, 1796459720123456789);
  ck_assert_int_eq(pq.until_ns, 1796459730123456789);
  ck_assert_uint_eq(pq.sample_rate, 100);
  ck_assert(eq(pq.spy_name, "gospy"));
  ck_assert_uint_eq(pq.format.n, 0);
}
END_TEST

START_TEST(ingest_times_in_any_unit) {
  ck_assert_int_eq(pc__pyro_time_ns(S("1700000000"), 0), 1700000000000000000);
  ck_assert_int_eq(pc__pyro_time_ns(S("1700000000123"), 0), 1700000000123000000);
  ck_assert_int_eq(pc__pyro_time_ns(S("1700000000123456"), 0), 1700000000123456000);
  ck_assert_int_eq(pc__pyro_time_ns(S("1700000000123456789"), 0), 1700000000123456789);
  ck_assert_int_eq(pc__pyro_time_ns(S("now"), 77), 77);
  ck_assert_int_eq(pc__pyro_time_ns(S("0"), 0), 0);
  ck_assert_int_eq(pc__pyro_time_ns(S("-5"), 0), -1);
  ck_assert_int_eq(pc__pyro_time_ns(S("12x"), 0), -1);
  ck_assert_int_eq(pc__pyro_time_ns(S(""), 0), -1);
  ck_assert_int_eq(pc__pyro_time_ns(S("99999999999999999999"), 0), -1); /* 20 digits */
  ck_assert_int_eq(pc__pyro_time_ns(S("9999999999999999999"), 0), -1);  /* > INT64_MAX */
  ck_assert_int_eq(pc__pyro_time_ns(S("9999999999"), 0), -1);    /* s past 2262 */
  ck_assert_int_eq(pc__pyro_time_ns(S("9999999999999"), 0), -1); /* ms past 2262 */
  ck_assert_int_eq(pc__pyro_time_ns(S("9223372036"), 0), 9223372036000000000);
  /* the fuzzer's: 11 digits are milliseconds, not seconds that overflow */
  ck_assert_int_eq(pc__pyro_time_ns(S("17000000010"), 0), 17000000010000000);
}
END_TEST

START_TEST(ingest_query_errors_say_why) {
  static const struct {
    const char *q, *why;
  } cases[] = {
      {"from=1", "name: missing"},
      {"name=", "name: missing"},
      {"name=%7Ba%3Db%7D", "name: no application name before the labels"},
      {"name=app%7Ba%3Db", "do not end with '}'"},
      {"name=app%7Bab%7D", "label \"ab\" has no '='"},
      {"name=app%7Bk%21%3Dv%7D", "label \"k!=v\" is not key=value"},
      {"name=app%7B%3Dv%7D", "label \"=v\" is not key=value"},
      {"name=app&from=yesterday", "from: \"yesterday\" is not a unix time"},
      {"name=app&until=1.5", "until: \"1.5\" is not a unix time"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pc__pyro_query_t pq;
    char why[256] = "";
    ck_assert_msg(parse(cases[i].q, &pq, why) == PC_EINVAL, "%s parsed", cases[i].q);
    ck_assert_msg(strstr(why, cases[i].why), "%s: \"%s\" lacks \"%s\"", cases[i].q, why,
                  cases[i].why);
  }
  /* Lenient where Pyroscope is: a bad sampleRate or a lone '%' are not
   * errors, empty labels and pairs are skipped. */
  pc__pyro_query_t pq;
  char why[256];
  ck_assert_int_eq(parse("name=a%zz%7Bx%3D1%2C%2C%7D&sampleRate=fast&&", &pq, why), 0);
  ck_assert(eq(pq.app, "a%zz"));
  ck_assert_uint_eq(pq.n_labels, 1);
  ck_assert_uint_eq(pq.sample_rate, 0);
}
END_TEST

START_TEST(ingest_query_label_limit) {
  char q[4096] = "name=a{";
  for (int i = 0; i <= PC__PYRO_MAX_LABELS; i++)
    snprintf(q + strlen(q), sizeof q - strlen(q), "k%d=v,", i);
  strcat(q, "}");
  pc__pyro_query_t pq;
  char why[256];
  ck_assert_int_eq(parse(q, &pq, why), PC_EINVAL);
  ck_assert_msg(strstr(why, "more than 64 labels"), "%s", why);
}
END_TEST

/* ---- the form --------------------------------------------------------------------------- */

START_TEST(ingest_form_as_go_writes_it) {
  /* mime/multipart.Writer with CreateFormFile("profile", "profile.pprof")
   * and "sample_type_config". */
  const char *body =
      "--b9f3\r\n"
      "Content-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "\x1f\x8b PPROF\r\n--b9 not the end\r\n"
      "--b9f3\r\n"
      "Content-Disposition: form-data; name=\"sample_type_config\"; "
      "filename=\"sample_type_config.json\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "{}\r\n"
      "--b9f3--\r\n";
  pc_str_t profile;
  char why[256];
  ck_assert_int_eq(pc__pyro_multipart(S("multipart/form-data; boundary=b9f3"), S(body),
                                      &profile, why, sizeof why), 0);
  ck_assert(eq(profile, "\x1f\x8b PPROF\r\n--b9 not the end"));
  /* Quoted boundary, a preamble, a part without headers first, LWS after
   * the boundary line. */
  const char *b2 = "preamble\r\n--x y\r\n\r\nfirst\r\n--x y  \r\nContent-Disposition: form-data;"
                   " name=profile\r\n\r\nP\r\n--x y--";
  ck_assert_int_eq(pc__pyro_multipart(S("Multipart/Form-Data;boundary=\"x y\""), S(b2),
                                      &profile, why, sizeof why), 0);
  ck_assert(eq(profile, "P"));
}
END_TEST

START_TEST(ingest_form_errors_say_why) {
  static const struct {
    const char *ct, *body, *why;
  } cases[] = {
      {"multipart/form-data", "--a\r\n\r\nx\r\n--a--", "without a usable boundary"},
      {"text/plain; boundary=a", "--a\r\n\r\nx\r\n--a--", "without a usable boundary"},
      {"multipart/form-data; boundary=a", "no delimiter here", "has no part"},
      {"multipart/form-data; boundary=a", "--a\r\n\r\nx\r\n--a--", "no \"profile\" part"},
      {"multipart/form-data; boundary=a",
       "--a\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\nx", "does not end"},
      {"multipart/form-data; boundary=a",
       "--a\r\nContent-Disposition: form-data; name=\"profile\"", "headers do not end"},
      {"multipart/form-data; boundary=a", "--axx", "cut off or malformed"},
      {"multipart/form-data; boundary=a",
       "--a\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\nx\r\n"
       "--a\r\nContent-Disposition: form-data; name=\"prev_profile\"\r\n\r\ny\r\n--a--",
       "prev_profile"},
      {"multipart/form-data; boundary=a",
       "--a\r\nContent-Disposition: form-data; filename=\"profile\"\r\n\r\nx\r\n--a--",
       "no \"profile\" part"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pc_str_t profile;
    char why[256] = "";
    ck_assert_msg(pc__pyro_multipart(S(cases[i].ct), S(cases[i].body), &profile, why,
                                     sizeof why) == PC_EDECODE, "case %zu parsed", i);
    ck_assert_msg(strstr(why, cases[i].why), "case %zu: \"%s\" lacks \"%s\"", i, why,
                  cases[i].why);
  }
  ck_assert(pc__pyro_is_multipart(S(" multipart/form-data ; boundary=x")));
  ck_assert(!pc__pyro_is_multipart(S("multipart/form-datax")));
  ck_assert(!pc__pyro_is_multipart(S("binary/octet-stream")));
}
END_TEST

/* ---- the component ---------------------------------------------------------------------- */

static int refuse(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  (void)req;
  return pc_err_set(err, PC_EINVAL, "not in this test");
}
static pc_consumer_t sink = {.consume_profiles = refuse};

/* Create a pprof receiver from yaml (the receiver's own map); NULL with
 * err filled. *cfg must be freed after. */
static void *create(const char *yaml, pc_cfg_t **cfg, pc_err_t *err) {
  *cfg = pc_cfg_load_string("pprof.yaml", yaml, err);
  ck_assert_msg(*cfg, "%s", err->msg);
  pc_create_args_t args = {.id = "pprof", .cfg = pc_cfg_root(*cfg), .next = &sink,
                           .signals = PC_SIGNAL_PROFILES};
  return pc_receiver_pprof.create(&args, err);
}

START_TEST(a_thousand_targets_spread_over_the_interval) {
  size_t cap = 1 << 16, n = 0;
  char *yaml = malloc(cap);
  n += (size_t)snprintf(yaml + n, cap - n, "remote:\n  collection_interval: 1m\n"
                        "  paths: [/debug/pprof/heap]\n  endpoints:\n");
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(yaml + n, cap - n, "    - http://10.0.%d.%d:6060\n", i / 250,
                          i % 250);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  pc__prx_t *rx = create(yaml, &cfg, &err);
  ck_assert_msg(rx, "%s", err.msg);
  /* Ten slices of six seconds: a uniform spread puts 100 in each; a
   * hash that clumps (or no spread at all) fails. */
  int slice[10] = {0};
  for (size_t i = 0; i < 1000; i++) {
    uint64_t ph = pc__prx_scrape_phase(rx->scrape, i);
    ck_assert_uint_lt(ph, 60000);
    slice[ph / 6000]++;
  }
  for (int s = 0; s < 10; s++) ck_assert_msg(slice[s] >= 60 && slice[s] <= 140, "slice %d: %d",
                                             s, slice[s]);
  /* A target keeps its offset from one instance (or restart) to the next. */
  pc_cfg_t *cfg2;
  pc__prx_t *rx2 = create(yaml, &cfg2, &err);
  for (size_t i = 0; i < 1000; i++)
    ck_assert_uint_eq(pc__prx_scrape_phase(rx->scrape, i), pc__prx_scrape_phase(rx2->scrape, i));
  pc_receiver_pprof.destroy(rx);
  pc_receiver_pprof.destroy(rx2);
  pc_cfg_free(cfg);
  pc_cfg_free(cfg2);
  free(yaml);
}
END_TEST

START_TEST(config_errors_name_their_place) {
  static const struct {
    const char *yaml, *err;
  } cases[] = {
      {"remote:\n  endpoint: http://h:6060/debug/pprof/profile?seconds=60\n  timeout: 60s\n"
       "  collection_interval: 2m\n",
       "pprof.yaml:3:12: remote.timeout: http://h:6060/debug/pprof/profile?seconds=60 takes 60 "
       "s: timeout, 1m, must be longer"},
      {"remote:\n  endpoint: http://h:6060/debug/pprof/allocs?seconds=5\n"
       "  collection_interval: 5s\n",
       "pprof.yaml:3:24: remote.collection_interval: http://h:6060/debug/pprof/allocs?seconds=5 "
       "takes 5 s: timeout, 5s (collection_interval), must be longer"},
      {"remote:\n  endpoint: not a url\n",
       "pprof.yaml:2:13: remote.endpoint: \"not a url\" is not a URL with a host"},
      {"remote:\n  endpoints: http://h/\n",
       "pprof.yaml:2:14: remote.endpoints: must be a list of URLs"},
      {"remote:\n  endpoints: [http://h:1/x?a=b]\n  paths: [/heap]\n",
       "pprof.yaml:2:15: remote.endpoints[0]: \"http://h:1/x?a=b\": with paths, an endpoint is "
       "a base URL"},
      {"remote:\n  endpoint: http://h:1\n  paths: []\n",
       "pprof.yaml:3:10: remote.paths: an empty list scrapes nothing"},
      {"remote:\n  endpoint: https://h:1/heap\n  tls:\n    min_version: \"1.1\"\n",
       "pprof.yaml:4:18: remote.tls.min_version: must be 1.2 or 1.3"},
      {"remote:\n  endpoint: https://h:1/heap\n  tls:\n    cert_file: /c.pem\n",
       "pprof.yaml:4:16: remote.tls.cert_file: cert_file is set but key_file is not"},
      {"remote:\n  endpoint: http://h:1/heap\n  headers:\n    \"a b\": c\n",
       "pprof.yaml:4:5: remote.headers.a b: \"a b\" is not a header name"},
      {"file:\n  collection_interval: 1s\n", "pprof.yaml:2:3: file: file.include must be "
       "specified"},
      {"server:\n  auth:\n    authenticator: basicauth\n",
       "pprof.yaml:3:20: server.auth.authenticator: \"basicauth\" is not a bearertokenauth"},
      {"server:\n  tls:\n    key_file: /k.pem\n",
       "pprof.yaml:3:15: server.tls.key_file: key_file is set but cert_file is not"},
      {"remote:\n  endpont: http://h/x\n", "pprof.yaml:2:3: remote.endpont: unknown key "
       "\"endpont\"; did you mean \"endpoint\"?"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pc_cfg_t *cfg;
    pc_err_t err = {0};
    void *rx = create(cases[i].yaml, &cfg, &err);
    ck_assert_msg(!rx, "case %zu was accepted", i);
    ck_assert_msg(strstr(err.msg, cases[i].err), "case %zu:\n  got  %s\n  want %s", i, err.msg,
                  cases[i].err);
    pc_cfg_free(cfg);
  }
}
END_TEST

START_TEST(urls_from_endpoints_and_paths) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  pc__prx_t *rx = create("remote:\n  endpoint: http://a:6060/\n"
                         "  endpoints: [http://b:6060/app, https://c]\n"
                         "  paths: [/debug/pprof/heap, /debug/pprof/profile?seconds=5]\n"
                         "  collection_interval: 10s\n",
                         &cfg, &err);
  ck_assert_msg(rx, "%s", err.msg);
  pc_metrics_t *m = pc_metrics_new();
  pc_receiver_pprof.metrics(rx, m);
  pc_buf_t text = {0};
  ck_assert_int_eq(pc_metrics_render(m, &text), 0);
  pc_buf_append(&text, "", 1);
  ck_assert_msg(strstr((const char *)text.p, "profcol_receiver_pprof_targets 6"), "%s", text.p);
  pc_buf_free(&text);
  pc_metrics_free(m);
  pc_receiver_pprof.destroy(rx);
  pc_cfg_free(cfg);
}
END_TEST

/* ---- conversion jobs ------------------------------------------------------------------- */

static int consumed;
static int take(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  (void)err;
  ck_assert_uint_gt(pc_request_sample_count(req), 0);
  consumed++;
  return 0;
}
static pc_consumer_t taker = {.consume_profiles = take};

static int done_order[8], n_done;
static void job_done(pc__prx_job_t *j, void *origin) {
  ck_assert_int_lt(n_done, 8);
  ck_assert_msg(j->failed == PC__PRX_OK, "job %d: %s", (int)(intptr_t)origin, pc__prx_job_why(j));
  done_order[n_done++] = (int)(intptr_t)origin;
  pc__prx_job_put(j);
}

/* Jobs past the pool's threads wait in the receiver's queue and run in
 * turn, each done once, holding a conversion state only while they
 * convert. The jobs come back from the receiver's spare pool, whose links
 * they still hold: the queue must not follow them to a job that was never
 * run (one held by its origin here). */
START_TEST(jobs_past_the_pool_wait_their_turn) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load_string("pprof.yaml", "file:\n  include: /nonexistent/*\n", &err);
  ck_assert_msg(cfg, "%s", err.msg);
  pc_create_args_t args = {.id = "pprof", .cfg = pc_cfg_root(cfg), .next = &taker,
                           .signals = PC_SIGNAL_PROFILES};
  pc__prx_t *rx = pc_receiver_pprof.create(&args, &err);
  ck_assert_msg(rx, "%s", err.msg);
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  rx->loop = &loop; /* what start would set; the file mode itself is not started */
  rx->max_converting = 1;
  pc_buf_t gz = {0};
  pc_test_read_file("tests/data/pprof/cpu.pb.gz", &gz);
  pc__prx_counters_t cnt = {0};
  /* Three jobs to the spare pool and back: each still links to the next. */
  pc__prx_job_t *j[3];
  for (int i = 0; i < 3; i++) j[i] = pc__prx_job_get(rx);
  for (int i = 0; i < 3; i++) pc__prx_job_put(j[i]);
  for (int i = 0; i < 3; i++) j[i] = pc__prx_job_get(rx);
  consumed = n_done = 0;
  for (int i = 0; i < 2; i++) { /* gzip as Content-Encoding: always the thread pool */
    j[i]->in = gz.p;
    j[i]->in_n = gz.n;
    j[i]->enc = PC_ENC_GZIP;
    j[i]->limit = (size_t)1 << 20;
    j[i]->cnt = &cnt;
    j[i]->done = job_done;
    j[i]->origin = (void *)(intptr_t)i;
    pc__prx_job_run(j[i]);
  }
  ck_assert_uint_eq(rx->converting, 1);
  ck_assert_ptr_eq(rx->wait_head, j[1]);
  ck_assert_int_eq(n_done, 0);
  /* Only a converting job holds a conversion state (megabytes once
   * used): a waiting one holds its input alone. */
  ck_assert_ptr_nonnull(j[0]->conv);
  ck_assert_ptr_null(j[1]->conv);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(n_done, 2);
  ck_assert_int_eq(done_order[0], 0);
  ck_assert_int_eq(done_order[1], 1);
  ck_assert_int_eq(consumed, 2);
  ck_assert_uint_eq(cnt.profiles_accepted, 4); /* samples/count and cpu/nanoseconds */
  ck_assert_uint_eq(rx->converting, 0);
  ck_assert_ptr_null(rx->wait_head);
  ck_assert_ptr_null(rx->wait_tail);
  /* One state served both, one after the other, and is kept for the next. */
  ck_assert_uint_eq(rx->n_free_convs, 1);
  for (int i = 0; i < 3; i++) ck_assert_ptr_null(j[i]->conv);
  pc__prx_job_put(j[2]);
  ck_assert_uint_eq(rx->jobs_out, 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  pc_receiver_pprof.destroy(rx);
  pc_cfg_free(cfg);
  pc_buf_free(&gz);
}
END_TEST

/* ---- file.include (pprof_glob.c) ------------------------------------------------------ */

static void touch(const char *root, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
}

/* What pattern (relative to root) matches, relative to root, joined by ' '. */
static void matches(const char *root, const char *pattern, char *out, size_t cap, int *rc) {
  char pat[512];
  snprintf(pat, sizeof pat, "%s/%s", root, pattern);
  char **v;
  size_t n;
  int err_no;
  *rc = pc__prx_glob(pat, &v, &n, &err_no);
  out[0] = '\0';
  size_t rl = strlen(root) + 1, at = 0;
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(strncmp(v[i], root, rl - 1), 0);
    at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? " " : "", v[i] + rl);
    free(v[i]);
  }
  free(v);
}

/* "**" matches any depth of directories, zero included, as doublestar
 * does; not through symbolic links (a loop stays a loop), not into hidden
 * directories (as '*' skips hidden names); each match once, sorted; a
 * pattern without "**" is glob(3)'s. */
START_TEST(include_globstar_matches_any_depth) {
  char root[] = "/tmp/profcol-glob-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(root));
  static const char *const dirs[] = {"a", "a/b", "a/b/c", ".hidden"};
  char path[512];
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
    ck_assert_int_eq(mkdir(path, 0700), 0);
  }
  static const char *const files[] = {"top.pb.gz", "a/x.pb.gz", "a/b/c/y.pb.gz",
                                      "a/b/c/z.txt", ".hidden/h.pb.gz", ".dot.pb.gz"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) touch(root, files[i]);
  snprintf(path, sizeof path, "%s/link", root);
  ck_assert_int_eq(symlink("a", path), 0);
  snprintf(path, sizeof path, "%s/a/loop", root);
  ck_assert_int_eq(symlink("..", path), 0);
  static const struct {
    const char *pattern, *want;
  } cases[] = {
      {"**/*.pb.gz", "a/b/c/y.pb.gz a/x.pb.gz top.pb.gz"},
      {"a/**/c/*.pb.gz", "a/b/c/y.pb.gz"},
      {"a/**/b", "a/b"},
      {"**/**/x.pb.gz", "a/x.pb.gz"},
      {"**/c/*", "a/b/c/y.pb.gz a/b/c/z.txt"},
      {"**", "a a/b a/b/c a/b/c/y.pb.gz a/b/c/z.txt a/loop a/x.pb.gz link top.pb.gz"},
      {"a/**", "a/b a/b/c a/b/c/y.pb.gz a/b/c/z.txt a/loop a/x.pb.gz"},
      {".hidden/**/*.pb.gz", ".hidden/h.pb.gz"},
      {"link/**/*.txt", "link/b/c/z.txt"}, /* a link named in the pattern is followed */
      {"**/nothing", ""},
      {"nothing/**/*", ""},
      {"*.pb.gz", "top.pb.gz"},       /* glob(3) */
      {"*/b/*/*.pb.gz", "a/b/c/y.pb.gz link/b/c/y.pb.gz"}, /* links followed */
      {"a**.pb.gz", ""},              /* "**" inside a component is '*' */
      {"t**.pb.gz", "top.pb.gz"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char got[1024];
    int rc;
    matches(root, cases[i].pattern, got, sizeof got, &rc);
    ck_assert_msg(rc == 0 && !strcmp(got, cases[i].want), "%s: rc %d, \"%s\", want \"%s\"",
                  cases[i].pattern, rc, got, cases[i].want);
  }
  /* An unreadable directory is said (root reads everything: not there). */
  if (geteuid() != 0) {
    snprintf(path, sizeof path, "%s/a/b", root);
    ck_assert_int_eq(chmod(path, 0), 0);
    char got[1024];
    int rc;
    matches(root, "**/*.pb.gz", got, sizeof got, &rc);
    ck_assert_int_eq(rc, GLOB_ABORTED);
    ck_assert_str_eq(got, "a/x.pb.gz top.pb.gz");
    ck_assert_int_eq(chmod(path, 0700), 0);
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

void pc_test_pprofrx_tcases(Suite *s) {
  TCase *py = tcase_create("pyroscope");
  tcase_add_test(py, ingest_query_as_the_go_sdk_sends_it);
  tcase_add_test(py, ingest_times_in_any_unit);
  tcase_add_test(py, ingest_query_errors_say_why);
  tcase_add_test(py, ingest_query_label_limit);
  tcase_add_test(py, ingest_form_as_go_writes_it);
  tcase_add_test(py, ingest_form_errors_say_why);
  suite_add_tcase(s, py);
  TCase *pp = tcase_create("pprof");
  tcase_add_test(pp, a_thousand_targets_spread_over_the_interval);
  tcase_add_test(pp, config_errors_name_their_place);
  tcase_add_test(pp, urls_from_endpoints_and_paths);
  tcase_add_test(pp, jobs_past_the_pool_wait_their_turn);
  tcase_add_test(pp, include_globstar_matches_any_depth);
  suite_add_tcase(s, pp);
}
