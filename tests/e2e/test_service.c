/* test_service.c - end to end: the real profcol binary runs a pipeline from
 * YAML, answers real HTTP on loopback, shuts down on SIGTERM, and reports
 * config errors with file:line:col. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../certs.h"
#include "../pdata/testdata.h"
#include "e2e.h"

static const char *const pipeline_yaml =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http:\n"
    "        endpoint: 127.0.0.1:0\n"
    "exporters:\n"
    "  debug:\n"
    "    verbosity: detailed\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      exporters: [debug]\n";

/* `profcol validate --config path` fails and prints path:where (a
 * "line:col: key path: message"). */
static void assert_validate_says(const char *path, const char *where) {
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 1);
  char want[1024];
  snprintf(want, sizeof want, "%s:%s", path, where);
  pc_buf_append(&out, "", 1);
  ck_assert_msg(strstr((const char *)out.p, want), "missing \"%s\" in:\n%s", want,
                (const char *)out.p);
  pc_buf_free(&out);
}

static pc_buf_t rich_payload(bool json) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t b = {0};
  ck_assert_int_eq(json ? pc_json_encode(&req, &b) : pc_proto_encode(&req, &b), 0);
  pc_arena_free(a);
  return b;
}

START_TEST(pipeline_accepts_and_drains_on_sigterm) {
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, pipeline_yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  ck_assert_int_gt(p.port, 0);

  pc_buf_t proto = rich_payload(false), json = rich_payload(true);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 200);
  ck_assert(strstr(r.headers, "Content-Type: application/x-protobuf") != NULL);
  ck_assert_int_eq(r.body.n, 0); /* full success: an empty response message */
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/json", NULL,
                               json.p, json.n, &r), 200);
  ck_assert(strstr(r.headers, "Content-Type: application/json") != NULL);
  ck_assert_int_eq(r.body.n, 2);
  ck_assert(memcmp(r.body.p, "{}", 2) == 0);
  pc_buf_free(&r.body);

  /* Garbage gets a 400 with a message, and the process carries on. */
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/json", NULL,
                               "{\"resourceProfiles\": 7}", 23, &r), 400);
  ck_assert(strstr((const char *)r.body.p, "resourceProfiles") != NULL);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 200);
  pc_buf_free(&r.body);

  /* The debug exporter saw the data, sample by sample. */
  ck_assert(pc_e2e_wait_log(&p, "profiles: resources=2 profiles=3 samples=3", 5000));
  ck_assert(pc_e2e_wait_log(&p, "sample[0] values=[5,-1] timestamps=2", 5000));

  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "SIGTERM received") && strstr(log, "shutdown complete"), "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
  pc_buf_free(&json);
}
END_TEST

/* Broken configs: every problem at once, each with file:line:col and path. */
START_TEST(validate_reports_every_error_with_its_place) {
  pc_e2e_proc_t p = {0};
  snprintf(p.dir, sizeof p.dir, "/tmp/profcol-e2e-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(p.dir));
  char path[300];
  snprintf(path, sizeof path, "%s/bad.yaml", p.dir);
  FILE *f = fopen(path, "w");
  fputs("receivers:\n"
        "  otlp:\n"
        "    protocols:\n"
        "      http:\n"
        "        endpoint: 127.0.0.1:0\n"
        "exporters:\n"
        "  debug:\n"
        "    verbosity: loud\n"
        "  debgu: {}\n"
        "service:\n"
        "  pipelines:\n"
        "    profiles:\n"
        "      receivers: [otlp]\n"
        "      exporters: [debug, nope]\n"
        "    logs:\n"
        "      receivers: [otlp]\n",
        f);
  fclose(f);
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 1);
  const char *text = (const char *)out.p;
  char want[512];
  snprintf(want, sizeof want, "%s:9:3: exporters.debgu: unknown exporter type \"debgu\"; did "
           "you mean \"debug\"?", path);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
  snprintf(want, sizeof want, "%s:14:26: service.pipelines.profiles.exporters[1]: exporter "
           "\"nope\" is not defined in the exporters section", path);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
  snprintf(want, sizeof want, "%s:15:5: service.pipelines.logs: unknown pipeline \"logs\"", path);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
  snprintf(want, sizeof want, "%s:8:16: exporters.debug.verbosity: expected basic, normal or "
           "detailed, got \"loud\"", path);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);

  /* run refuses the same config before listening on anything. */
  pc_buf_free(&out);
  const char *run_args[] = {"--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(run_args, &out), 1);
  ck_assert(strstr((const char *)out.p, "unknown exporter type \"debgu\"") != NULL);
  pc_buf_free(&out);
  pc_e2e_cleanup(&p);
}
END_TEST

/* Issue 12: every problem of every component in one run (not the first per
 * component), and an unknown type at the line of its key, not its body. */
START_TEST(validate_reports_every_key_of_every_component) {
  pc_e2e_proc_t p = {0};
  snprintf(p.dir, sizeof p.dir, "/tmp/profcol-e2e-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(p.dir));
  char path[300];
  snprintf(path, sizeof path, "%s/typos.yaml", p.dir);
  FILE *f = fopen(path, "w");
  fputs("receivers:\n"
        "  otlp:\n"
        "    protocols:\n"
        "      http:\n"
        "        endpont: 127.0.0.1:0\n"
        "        max_request_body_siz: 1MiB\n"
        "processors:\n"
        "  batch:\n"
        "    timout: 1s\n"
        "  bacth:\n"
        "    timeout: 1s\n"
        "exporters:\n"
        "  otlp_http:\n"
        "    endpoint: http://127.0.0.1:1\n"
        "    compresion: gzip\n"
        "service:\n"
        "  pipelines:\n"
        "    profiles:\n"
        "      receivers: [otlp]\n"
        "      processors: [batch]\n"
        "      exporters: [otlp_http]\n",
        f);
  fclose(f);
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 1);
  const char *text = (const char *)out.p;
  static const char *const want[] = {
      "5:9: receivers.otlp.protocols.http.endpont: unknown key \"endpont\"",
      "6:9: receivers.otlp.protocols.http.max_request_body_siz: unknown key",
      "9:5: processors.batch.timout: unknown key \"timout\"; did you mean \"timeout\"?",
      "10:3: processors.bacth: unknown processor type \"bacth\"; did you mean \"batch\"?",
      "15:5: exporters.otlp_http.compresion: unknown key \"compresion\"",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char line[512];
    snprintf(line, sizeof line, "profcol: config error: %s:%s", path, want[i]);
    ck_assert_msg(strstr(text, line), "missing \"%s\" in:\n%s", line, text);
  }
  unsigned lines = 0;
  for (const char *c = text; (c = strstr(c, "config error:")); c++) lines++;
  ck_assert_msg(lines == 5, "%u errors, not 5:\n%s", lines, text);
  pc_buf_free(&out);
  pc_e2e_cleanup(&p);
}
END_TEST

/* Issue 12: refused requests are logged (at info the first of a spell in
 * full, the rest counted and summed up; at debug each one), and a body in
 * the other encoding than its Content-Type gets a hint in the 400. */
START_TEST(refused_requests_are_logged_with_a_hint) {
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, "receivers:\n  otlp:\n    protocols:\n      http:\n"
                             "        endpoint: 127.0.0.1:0\n"
                             "exporters:\n  nop:\n"
                             "service:\n  pipelines:\n    profiles:\n"
                             "      receivers: [otlp]\n      exporters: [nop]\n"));
  pc_buf_t json = rich_payload(true), proto = rich_payload(false);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               json.p, json.n, &r), 400);
  pc_buf_append(&r.body, "", 1);
  ck_assert_msg(strstr((const char *)r.body.p, "the body looks like JSON but Content-Type is "
                                               "application/x-protobuf"), "%s", r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/json", NULL,
                               proto.p, proto.n, &r), 400);
  pc_buf_append(&r.body, "", 1);
  ck_assert_msg(strstr((const char *)r.body.p, "the body looks like protobuf but Content-Type "
                                               "is application/json"), "%s", r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post(p.port, "/nope", "application/json", NULL, "{}", 2, &r), 404);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char *log = pc_e2e_log(&p);
  const char *first = strstr(log, "info  [receiver:otlp] refused a request from 127.0.0.1:");
  ck_assert_msg(first && strstr(first, ": 400: ") &&
                    strstr(first, "(the body looks like JSON but Content-Type is "
                                  "application/x-protobuf) (more refusals in the next 10 s are "
                                  "summarised)"),
                "%s", log);
  ck_assert_msg(strstr(log, "info  [receiver:otlp] refused 2 more requests in the 10 s after "
                            "that: 400 x1, 404 x1"), "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
  pc_buf_free(&json);
  pc_buf_free(&proto);
}
END_TEST

/* Issue 12: debug's detailed verbosity prints a whole stack, leaf first,
 * a frame per line (inlined callee first), and never cuts a line: a
 * 3000-character function name comes out whole. A sample's trace and span
 * ids are printed when it has a link, and not for link_table[0]. */
START_TEST(debug_detailed_prints_whole_stacks_leaf_first) {
  char long_name[3001];
  memset(long_name, 'x', 3000);
  memcpy(long_name, "ns::Tmpl<", 9);
  long_name[3000] = 0;
  char body[4096];
  snprintf(body, sizeof body,
           "{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{"
           "\"sampleType\":{\"typeStrindex\":1,\"unitStrindex\":2},"
           "\"samples\":[{\"stackIndex\":1,\"values\":[\"5\"]},"
           "{\"stackIndex\":1,\"values\":[\"7\"],\"linkIndex\":1}]}]}]}],"
           "\"dictionary\":{\"stringTable\":[\"\",\"cpu\",\"nanoseconds\",\"leaf_fn\","
           "\"mid_fn\",\"main\",\"a.c\",\"%s\"],"
           "\"functionTable\":[{},{\"nameStrindex\":3,\"filenameStrindex\":6},"
           "{\"nameStrindex\":4,\"filenameStrindex\":6},{\"nameStrindex\":5,"
           "\"filenameStrindex\":6},{\"nameStrindex\":7}],"
           "\"locationTable\":[{},{\"lines\":[{\"functionIndex\":1,\"line\":\"10\"},"
           "{\"functionIndex\":2,\"line\":\"20\"}]},{\"lines\":[{\"functionIndex\":4}]},"
           "{\"lines\":[{\"functionIndex\":3,\"line\":\"30\"}]}],"
           "\"stackTable\":[{},{\"locationIndices\":[1,2,3]}],"
           "\"linkTable\":[{\"traceId\":\"00000000000000000000000000000000\","
           "\"spanId\":\"0000000000000000\"},{\"traceId\":"
           "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"a1b2c3d4e5f60718\"}]}}",
           long_name);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, "receivers:\n  otlp:\n    protocols:\n      http:\n"
                             "        endpoint: 127.0.0.1:0\n"
                             "exporters:\n  debug:\n    verbosity: detailed\n"
                             "service:\n  pipelines:\n    profiles:\n"
                             "      receivers: [otlp]\n      exporters: [debug]\n"));
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/json", NULL, body,
                               strlen(body), &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char *log = pc_e2e_log(&p);
  char want[3200];
  /* link_table[0] is "no link" however its ids are written: not printed */
  ck_assert_msg(strstr(log, "sample[1] values=[7] timestamps=0 trace_id="
                            "5b8efff798038103d269b633813fc60c span_id=a1b2c3d4e5f60718\n"),
                "%.2000s", log); /* Check's message limit: the 3000-character name */
  const char *at = strstr(log, "sample[0] values=[5] timestamps=0\n");
  ck_assert_msg(at, "%.2000s", log);
  const char *frames[] = {"#0 leaf_fn (a.c:10) [inlined]\n", "#1 mid_fn (a.c:20)\n", NULL,
                          "#3 main (a.c:30)\n"};
  for (int i = 0; i < 4; i++) {
    if (frames[i]) snprintf(want, sizeof want, "%s", frames[i]);
    else snprintf(want, sizeof want, "#2 %s\n", long_name);
    const char *next = strstr(at, want);
    ck_assert_msg(next, "frame %d \"%.60s\" not in order in:\n%.2000s", i, want, at);
    at = next;
  }
  free(log);
  pc_e2e_cleanup(&p);
}
END_TEST

/* An extension a component names that is not defined, defined but not in
 * service.extensions, or of the wrong role (component/host.h): validate
 * says so with the file:line:col of the key that names it, without starting
 * anything, whether or not the pipelines are sound; run refuses the same. */
START_TEST(validate_reports_bad_extension_references) {
  pc_e2e_proc_t p = {0};
  snprintf(p.dir, sizeof p.dir, "/tmp/profcol-e2e-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(p.dir));
  char path[300];
  snprintf(path, sizeof path, "%s/refs.yaml", p.dir);
  static const char *const tails[] = {
      "      exporters: [otlphttp, otlphttp/b]\n",
      "      exporters: [otlphttp, otlphttp/b, nope]\n", /* broken: settings checked apart */
  };
  for (size_t t = 0; t < 2; t++) {
    FILE *f = fopen(path, "w");
    fprintf(f,
            "receivers:\n"
            "  otlp:\n"
            "    protocols:\n"
            "      http:\n"
            "        endpoint: 127.0.0.1:0\n"
            "        auth: {authenticator: bearertokenauth/missing}\n"
            "  otlp/g:\n"
            "    protocols:\n"
            "      grpc:\n"
            "        endpoint: 127.0.0.1:0\n"
            "        auth: {authenticator: bearertokenauth/unlisted}\n"
            "exporters:\n"
            "  otlphttp:\n"
            "    endpoint: http://127.0.0.1:1\n"
            "    sending_queue: {storage: headers_setter}\n"
            "  otlphttp/b:\n"
            "    endpoint: http://127.0.0.1:1\n"
            "    auth:\n"
            "      authenticator: headers_setter/missing\n"
            "extensions:\n"
            "  headers_setter: {headers: [{key: X-A, value: b}]}\n"
            "  bearertokenauth/unlisted: {token: s3cret}\n"
            "service:\n"
            "  extensions: [headers_setter]\n"
            "  pipelines:\n"
            "    profiles:\n"
            "      receivers: [otlp, otlp/g]\n"
            "%s", tails[t]);
    fclose(f);
    pc_buf_t out = {0};
    const char *args[] = {"validate", "--config", path, NULL};
    ck_assert_int_eq(pc_e2e_run(args, &out), 1);
    const char *text = (const char *)out.p;
    char want[512];
    snprintf(want, sizeof want, "%s:6:31: receivers.otlp.protocols.http.auth.authenticator: "
             "\"bearertokenauth/missing\" is not defined in extensions and listed in "
             "service.extensions", path);
    ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
    snprintf(want, sizeof want, "%s:11:31: receivers.otlp/g.protocols.grpc.auth.authenticator: "
             "\"bearertokenauth/unlisted\" is defined in extensions but not listed in "
             "service.extensions", path);
    ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
    snprintf(want, sizeof want, "%s:15:30: exporters.otlphttp.sending_queue.storage: "
             "\"headers_setter\" is a headers_setter extension, which is not a storage "
             "(file_storage)", path);
    ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
    snprintf(want, sizeof want, "%s:19:22: exporters.otlphttp/b.auth.authenticator: "
             "\"headers_setter/missing\" is not defined in extensions", path);
    ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
    ck_assert_msg(!strstr(text, "listening"), "validate started something:\n%s", text);
    pc_buf_free(&out);
  }
  /* run refuses the same config before listening on anything. */
  pc_buf_t out = {0};
  const char *run_args[] = {"--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(run_args, &out), 1);
  ck_assert(strstr((const char *)out.p, "\"bearertokenauth/missing\" is not defined") != NULL);
  ck_assert(!strstr((const char *)out.p, "listening"));
  pc_buf_free(&out);
  pc_e2e_cleanup(&p);
}
END_TEST

/* An extension that fails its own config check is reported once, at its
 * key: the components naming it used to add that it "is defined in
 * extensions but not listed in service.extensions", which it was. Both
 * when everything else builds and when the pipelines are broken too
 * (settings checked apart). */
START_TEST(failed_extension_reported_once) {
  pc_e2e_proc_t p = {0};
  snprintf(p.dir, sizeof p.dir, "/tmp/profcol-e2e-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(p.dir));
  char path[300];
  snprintf(path, sizeof path, "%s/failed.yaml", p.dir);
  static const char *const tails[] = {"[nop]", "[nop, nope]"};
  for (size_t t = 0; t < 2; t++) {
    FILE *f = fopen(path, "w");
    fprintf(f,
            "receivers:\n  otlp: {protocols: {http: {endpoint: 127.0.0.1:0}}}\n"
            "processors:\n  trace_link:\n"
            "exporters:\n  nop:\n"
            "extensions:\n  span_store: {endpoint: 127.0.0.1:0, no_such_key: 1}\n"
            "service:\n  extensions: [span_store]\n  pipelines:\n"
            "    profiles: {receivers: [otlp], processors: [trace_link], exporters: %s}\n",
            tails[t]);
    fclose(f);
    pc_buf_t out = {0};
    const char *args[] = {"validate", "--config", path, NULL};
    ck_assert_int_eq(pc_e2e_run(args, &out), 1);
    const char *text = (const char *)out.p;
    ck_assert_msg(strstr(text, "no_such_key"), "span_store's own error missing:\n%s", text);
    ck_assert_msg(!strstr(text, "not listed"), "misleading second error:\n%s", text);
    ck_assert_msg(!strstr(text, "could not find"), "second error:\n%s", text);
    pc_buf_free(&out);
  }
  pc_e2e_cleanup(&p);
}
END_TEST

/* Issue 12: validate runs what start would find, short of binding: a file
 * exporter path that cannot be written and a file_storage directory that
 * does not exist are reported, at their keys, and nothing is created. */
START_TEST(validate_checks_paths_start_would_use) {
  pc_e2e_proc_t p = {0};
  snprintf(p.dir, sizeof p.dir, "/tmp/profcol-e2e-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(p.dir));
  char path[300];
  snprintf(path, sizeof path, "%s/paths.yaml", p.dir);
  FILE *f = fopen(path, "w");
  fprintf(f,
          "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
          "exporters:\n"
          "  file:\n    path: %s/no-such-dir/out.json\n"
          "  otlp_http:\n    endpoint: http://127.0.0.1:1\n"
          "    sending_queue: {storage: file_storage}\n"
          "extensions:\n  file_storage:\n    directory: %s/queues\n"
          "service:\n  extensions: [file_storage]\n  pipelines:\n    profiles:\n"
          "      receivers: [otlp]\n      exporters: [file, otlp_http]\n",
          p.dir, p.dir);
  fclose(f);
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 1);
  const char *text = (const char *)out.p;
  char want[1200];
  snprintf(want, sizeof want, "%s:8:11: exporters.file.path: cannot create %s/no-such-dir/out.json",
           path, p.dir);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
  snprintf(want, sizeof want, "%s:14:16: extensions.file_storage.directory: directory %s/queues: "
           "No such file or directory (create it, or set create_directory: true)", path, p.dir);
  ck_assert_msg(strstr(text, want), "missing \"%s\" in:\n%s", want, text);
  char made[300];
  snprintf(made, sizeof made, "%s/queues", p.dir);
  ck_assert_int_ne(access(made, F_OK), 0);
  pc_buf_free(&out);
  pc_e2e_cleanup(&p);
}
END_TEST

/* The file exporter writes to /dev/stdout (a link the exporter otherwise
 * never follows), as Collector users point it there to see what flows;
 * here stdout is the harness's log file. */
START_TEST(file_exporter_writes_to_dev_stdout) {
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, "receivers:\n  otlp:\n    protocols:\n      http:\n"
                             "        endpoint: 127.0.0.1:0\n"
                             "exporters:\n  file:\n    path: /dev/stdout\n"
                             "service:\n  pipelines:\n    profiles:\n"
                             "      receivers: [otlp]\n      exporters: [file]\n"));
  pc_buf_t proto = rich_payload(false);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "{\"resourceProfiles\":[{"), "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
}
END_TEST

/* CORS as the Collector's confighttp: a preflight from an allowed origin
 * gets 204 with the Access-Control-Allow-* headers, one from another origin
 * or asking for another header gets 204 without them, and every answer to an
 * allowed origin (errors too) names it. A bad pattern is a config error. */
START_TEST(cors_preflight_and_answers) {
  pc_e2e_proc_t p = {0};
  ck_assert(pc_e2e_start(&p,
                         "receivers:\n"
                         "  otlp:\n"
                         "    protocols:\n"
                         "      http:\n"
                         "        endpoint: 127.0.0.1:0\n"
                         "        cors:\n"
                         "          allowed_origins: [https://app.example.com, "
                         "\"https://*.grafana.net\"]\n"
                         "          allowed_headers: [x-scope-orgid]\n"
                         "          max_age: 7200\n"
                         "exporters:\n"
                         "  debug: {}\n"
                         "service:\n"
                         "  pipelines:\n"
                         "    profiles:\n"
                         "      receivers: [otlp]\n"
                         "      exporters: [debug]\n"));
  static const struct {
    const char *origin, *headers;
    bool allowed;
  } preflights[] = {
      {"https://app.example.com", "content-type, X-Scope-OrgID", true},
      {"https://eu.grafana.net", "content-type", true},
      {"HTTPS://APP.EXAMPLE.COM", "", true},
      {"https://grafana.net", "content-type", false}, /* the '*' needs its dot */
      {"https://evil.example", "content-type", false},
      {"https://app.example.com", "content-type, x-secret", false},
  };
  for (size_t i = 0; i < sizeof preflights / sizeof preflights[0]; i++) {
    char req[512];
    int n = snprintf(req, sizeof req,
                     "OPTIONS /v1development/profiles HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
                     "Access-Control-Request-Method: POST\r\n%s%s%sConnection: close\r\n\r\n",
                     preflights[i].origin,
                     preflights[i].headers[0] ? "Access-Control-Request-Headers: " : "",
                     preflights[i].headers, preflights[i].headers[0] ? "\r\n" : "");
    pc_buf_t ans = {0};
    ck_assert_int_eq(pc_e2e_raw(p.port, req, (size_t)n, &ans), 0);
    pc_buf_append(&ans, "", 1);
    const char *a = (const char *)ans.p;
    ck_assert_msg(strncmp(a, "HTTP/1.1 204 No Content\r\n", 25) == 0, "%s", a);
    ck_assert_msg(!strstr(a, "Content-Length"), "204 with a Content-Length: %s", a);
    ck_assert_msg(strstr(a, "Vary: Origin, Access-Control-Request-Method"), "%s", a);
    char want[256];
    snprintf(want, sizeof want, "Access-Control-Allow-Origin: %s\r\n", preflights[i].origin);
    ck_assert_msg((strstr(a, want) != NULL) == preflights[i].allowed, "case %zu: %s", i, a);
    ck_assert_msg((strstr(a, "Access-Control-Max-Age: 7200\r\n") != NULL) ==
                      preflights[i].allowed, "case %zu: %s", i, a);
    if (preflights[i].allowed)
      ck_assert_msg(strstr(a, "Access-Control-Allow-Methods: POST\r\n"), "%s", a);
    pc_buf_free(&ans);
  }
  /* The real POST, and an error answer, carry the origin too. */
  pc_buf_t body = rich_payload(false);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post_headers(p.port, "/v1development/profiles",
                                       "application/x-protobuf",
                                       "Origin: https://app.example.com\r\n", body.p, body.n, &r),
                   200);
  ck_assert_msg(strstr(r.headers, "Access-Control-Allow-Origin: https://app.example.com"), "%s",
                r.headers);
  ck_assert_msg(strstr(r.headers, "Access-Control-Allow-Credentials: true"), "%s", r.headers);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_post_headers(p.port, "/v1development/profiles", "text/plain",
                                       "Origin: https://app.example.com\r\n", body.p, body.n, &r),
                   415);
  ck_assert_msg(strstr(r.headers, "Access-Control-Allow-Origin: https://app.example.com"), "%s",
                r.headers);
  pc_buf_free(&r.body);
  /* Another origin: the data is taken, but the browser is not told it may read. */
  ck_assert_int_eq(pc_e2e_post_headers(p.port, "/v1development/profiles",
                                       "application/x-protobuf", "Origin: https://evil.example\r\n",
                                       body.p, body.n, &r),
                   200);
  ck_assert_msg(!strstr(r.headers, "Access-Control-Allow-Origin"), "%s", r.headers);
  ck_assert_msg(strstr(r.headers, "Vary: Origin"), "%s", r.headers);
  pc_buf_free(&r.body);
  pc_buf_free(&body);
  ck_assert_int_eq(pc_e2e_stop(&p, 10), 0);
  pc_e2e_cleanup(&p);

  /* A pattern with two '*' is refused with its place. */
  char dir[] = "/tmp/profcol-e2e-XXXXXX", path[300];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/cors.yaml", dir);
  FILE *f = fopen(path, "w");
  fputs("receivers:\n"
        "  otlp:\n"
        "    protocols:\n"
        "      http:\n"
        "        cors:\n"
        "          allowed_origins: [\"https://*.*.example.com\"]\n"
        "exporters:\n"
        "  debug: {}\n"
        "service:\n"
        "  pipelines:\n"
        "    profiles:\n"
        "      receivers: [otlp]\n"
        "      exporters: [debug]\n",
        f);
  fclose(f);
  assert_validate_says(path, "6:29: receivers.otlp.protocols.http.cors.allowed_origins[0]: "
                       "an origin pattern may hold one '*' only");
  unlink(path);
  rmdir(dir);
}
END_TEST

START_TEST(built_in_config_validates) {
  pc_buf_t out = {0};
  const char *args[] = {"validate", NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 0);
  ck_assert(strstr((const char *)out.p, "config is valid") != NULL);
  pc_buf_free(&out);
  const char *comps[] = {"components", NULL};
  ck_assert_int_eq(pc_e2e_run(comps, &out), 0);
  ck_assert(strstr((const char *)out.p, "otlp (") != NULL);
  ck_assert(strstr((const char *)out.p, "debug (") != NULL);
  pc_buf_free(&out);
}
END_TEST

/* Every example config in config/examples validates. */
START_TEST(example_configs_validate) {
  static const char *const examples[] = {"sidecar.yaml", "gateway.yaml", "trace-linking.yaml",
                                         "multi-tenant.yaml", "two-tier-balancer.yaml",
                                         "two-tier-gateway.yaml"};
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  char path[512];
  snprintf(path, sizeof path, "%s/config/examples/%s", root, examples[_i]);
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  int rc = pc_e2e_run(args, &out);
  ck_assert_msg(rc == 0, "%s: %s", path, (const char *)out.p);
  pc_buf_free(&out);
}
END_TEST

typedef struct {
  int port;
  const pc_buf_t *payload;
  atomic_bool stop;
  int sent, failed;
} hammer_t;

/* Post profiles back to back until told to stop; count non-200 answers. */
static void *hammer(void *arg) {
  hammer_t *h = arg;
  while (!atomic_load(&h->stop)) {
    pc_e2e_resp_t r;
    int st = pc_e2e_post(h->port, "/v1development/profiles", "application/x-protobuf", NULL,
                         h->payload->p, h->payload->n, &r);
    pc_buf_free(&r.body);
    h->sent++;
    if (st != 200) h->failed++;
  }
  return NULL;
}

/* A pipeline on a fixed port into the debug exporter and a file exporter
 * (length-prefixed protobuf) writing to out. */
static void write_config(const char *path, int port, const char *verbosity, const char *out) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:%d\n"
             "exporters:\n  debug:\n    verbosity: %s\n  file:\n    path: %s\n    format: proto\n"
             "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
             "      exporters: [debug, file]\n", port, verbosity, out);
  fclose(f);
}

/* SIGHUP with a new config: the new pipelines take over with no moment
 * without a listener (a client posting all along never fails) and nothing
 * acknowledged is lost (every sample of every 200 reaches a file, the old
 * config's or the new one's); a broken config is refused and the running
 * one stays. */
START_TEST(sighup_reloads_without_a_gap) {
  int port = pc_e2e_free_port();
  char dir[] = "/tmp/profcol-reload-XXXXXX", yaml[1024], out1[300], out2[300], cfg[300];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(out1, sizeof out1, "%s/before.binpb", dir);
  snprintf(out2, sizeof out2, "%s/after.binpb", dir);
  snprintf(cfg, sizeof cfg, "%s/first.yaml", dir);
  write_config(cfg, port, "basic", out1);
  FILE *f = fopen(cfg, "r");
  size_t n = fread(yaml, 1, sizeof yaml - 1, f);
  yaml[n] = 0;
  fclose(f);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_buf_t proto = rich_payload(false);
  hammer_t h = {.port = port, .payload = &proto};
  pthread_t t;
  pthread_create(&t, NULL, hammer, &h);
  usleep(200000);

  write_config(p.config_path, port, "normal", out2);
  kill(p.pid, SIGHUP);
  ck_assert(pc_e2e_wait_log(&p, "config reloaded", 10000));
  ck_assert(pc_e2e_wait_log(&p, "drained and closed", 10000));
  /* The new config is the one running: normal verbosity prints profiles. */
  ck_assert(pc_e2e_wait_log(&p, "profile: service=checkout", 10000));

  f = fopen(p.config_path, "w");
  fputs("receivers: [not, a, map]\n", f);
  fclose(f);
  kill(p.pid, SIGHUP);
  ck_assert(pc_e2e_wait_log(&p, "reload failed: the new config has errors", 10000));
  usleep(200000);

  atomic_store(&h.stop, true);
  pthread_join(t, NULL);
  ck_assert_int_gt(h.sent, 10);
  ck_assert_msg(h.failed == 0, "%d of %d requests failed during reloads", h.failed, h.sent);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  /* The rich request has 3 samples. */
  uint64_t before = pc_e2e_samples_in_file(out1), after = pc_e2e_samples_in_file(out2);
  ck_assert_int_gt(before, 0);
  ck_assert_int_gt(after, 0);
  ck_assert_uint_eq(before + after, 3 * (uint64_t)(h.sent - h.failed));
  pc_e2e_cleanup(&p);
  remove(out1);
  remove(out2);
  remove(cfg);
  rmdir(dir);
  pc_buf_free(&proto);
}
END_TEST

/* Batches reach exporters that take bytes (file, proto format) and trees
 * (debug) in one pipeline, and bytes-only exporters in another: every file
 * gets every sample once. */
START_TEST(batch_feeds_exporters_of_bytes_and_trees) {
  char dir[] = "/tmp/profcol-fanout-XXXXXX", yaml[2048], out[3][300];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  for (int i = 0; i < 3; i++) snprintf(out[i], sizeof out[i], "%s/%c.binpb", dir, 'a' + i);
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "processors:\n  batch:\n    timeout: 50ms\n"
           "exporters:\n  debug:\n    verbosity: detailed\n"
           "  file/a:\n    path: %s\n    format: proto\n"
           "  file/b:\n    path: %s\n    format: proto\n"
           "  file/c:\n    path: %s\n    format: proto\n"
           "service:\n  pipelines:\n"
           "    profiles/mixed:\n      receivers: [otlp]\n      processors: [batch]\n"
           "      exporters: [debug, file/a]\n"
           "    profiles/bytes:\n      receivers: [otlp]\n      processors: [batch]\n"
           "      exporters: [file/b, file/c]\n",
           out[0], out[1], out[2]);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_buf_t proto = rich_payload(false);
  for (int i = 0; i < 20; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf",
                                 NULL, proto.p, proto.n, &r), 200);
    pc_buf_free(&r.body);
  }
  ck_assert(pc_e2e_wait_log(&p, "sample[0] values=[5,-1] timestamps=2", 5000));
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  for (int i = 0; i < 3; i++) { /* the rich request has 3 samples */
    ck_assert_uint_eq(pc_e2e_samples_in_file(out[i]), 3 * 20);
    remove(out[i]);
  }
  pc_e2e_cleanup(&p);
  rmdir(dir);
  pc_buf_free(&proto);
}
END_TEST

/* memory_limiter first in the pipeline: with a limit below what the process
 * holds, every request gets 503 with Retry-After and a Status that says
 * why, and nothing reaches the exporter; the metric counts them. */
START_TEST(memory_limiter_answers_503) {
  static const char *const yaml =
      "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
      "processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: 2\n"
      "    spike_limit_mib: 1\n"
      "exporters:\n  debug: {verbosity: detailed}\n"
      "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
      "      processors: [memory_limiter]\n      exporters: [debug]\n";
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_buf_t proto = rich_payload(false);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 503);
  ck_assert_msg(strstr(r.headers, "Retry-After: 1\r\n"), "%s", r.headers);
  pc_buf_append(&r.body, "", 1);
  ck_assert_msg(strstr((const char *)r.body.p, "memory use is above the soft limit"), "%s",
                (const char *)r.body.p + 2);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "refusing data at 1 MiB resident") && !strstr(log, "sample[0]"),
                "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
}
END_TEST

/* resource before batch in the real binary: the new service.name shows in
 * the debug exporter's lines, a header's value becomes an attribute, and
 * every sample still arrives. */
START_TEST(resource_processor_edits_attributes) {
  char dir[] = "/tmp/profcol-resource-XXXXXX", yaml[2048], out[300], pb[300];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/out.json", dir);
  snprintf(pb, sizeof pb, "%s/out.binpb", dir);
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "        include_metadata: true\n"
           "processors:\n  resource:\n    attributes:\n"
           "      - {key: service.name, value: renamed, action: upsert}\n"
           "      - {key: tenant, from_context: metadata.x-tenant, action: insert}\n"
           "  batch: {timeout: 50ms}\n"
           "exporters:\n  debug: {verbosity: normal}\n  file/json: {path: %s}\n"
           "  file/pb: {path: %s, format: proto}\n"
           "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      processors: [resource, batch]\n"
           "      exporters: [debug, file/json, file/pb]\n", out, pb);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_buf_t proto = rich_payload(false);
  for (int i = 0; i < 5; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_post_headers(p.port, "/v1development/profiles",
                                         "application/x-protobuf", "X-Tenant: acme\r\n",
                                         proto.p, proto.n, &r), 200);
    pc_buf_free(&r.body);
  }
  ck_assert(pc_e2e_wait_log(&p, "service=renamed", 5000));
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(!strstr(log, "service=checkout"), "%s", log);
  free(log);
  pc_buf_t text = {0};
  pc_test_read_file(out, &text);
  pc_buf_append(&text, "", 1);
  ck_assert_msg(strstr((const char *)text.p, "{\"key\":\"tenant\",\"value\":{\"stringValue\":"
                       "\"acme\"}}"), "%s", (const char *)text.p);
  pc_buf_free(&text);
  ck_assert_uint_eq(pc_e2e_samples_in_file(pb), 3 * 5);
  remove(out);
  remove(pb);
  rmdir(dir);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
}
END_TEST

/* A second profcol on a port the first one holds fails to start, even
 * though a reloaded config shares its own sockets. */
START_TEST(second_instance_on_same_port_fails) {
  int port = pc_e2e_free_port();
  char yaml[512];
  snprintf(yaml, sizeof yaml, "receivers:\n  otlp:\n    protocols:\n      http:\n"
           "        endpoint: 127.0.0.1:%d\nexporters:\n  debug: {}\n"
           "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      exporters: [debug]\n", port);
  pc_e2e_proc_t a, b;
  ck_assert(pc_e2e_start(&a, yaml));
  ck_assert(!pc_e2e_start(&b, yaml));
  char *log = pc_e2e_log(&b);
  ck_assert_msg(strstr(log, "address already in use"), "%s", log);
  free(log);
  ck_assert_int_eq(pc_e2e_stop(&a, 30), 0);
  pc_e2e_cleanup(&a);
  pc_e2e_cleanup(&b);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------------- */

static size_t curl_sink(char *p, size_t size, size_t n, void *ud) {
  (void)p, (void)ud;
  return size * n;
}

/* POST body over https with h (the same h again reuses its connection);
 * the status, or 0 when curl failed. */
static long https_post(CURL *h, int port, const char *ca, const pc_buf_t *body) {
  char url[128];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/v1development/profiles", port);
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->n);
  curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(hd);
  return status;
}

/* Connect, send bytes (may be none), and reset the connection at once
 * (SO_LINGER 0): a client that gives up in the middle of its handshake. */
static void connect_send_reset(int port, const void *p, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  if (n) ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

/* The binary with an HTTPS receiver: requests with the CA arrive in the
 * file exporter's output; plain HTTP to the port, a client that does not
 * trust the server and clients that reset mid-handshake are turned away
 * while the process serves on and stops cleanly (exit 0, and under ASan no
 * leak). validate points a lone cert_file out at its file:line:col. */
START_TEST(tls_receiver_end_to_end) {
  char *dir = pc_test_certdir();
  char ca[512], ca_key[512], srv[512], srv_key[512], other[512], other_key[512], out[600];
  pc_test_cert(dir, "ca", NULL, ca, ca_key, sizeof ca);
  pc_test_cert(dir, "server", "ca", srv, srv_key, sizeof srv);
  pc_test_cert(dir, "other", NULL, other, other_key, sizeof other);
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  char yaml[4096];
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "        tls:\n          cert_file: %s\n          key_file: %s\n"
           "exporters:\n  file:\n    path: %s\n    format: proto\n"
           "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      exporters: [file]\n", srv, srv_key, out);
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started && p.port > 0, "profcol did not start:\n%s", log);
  ck_assert_msg(strstr(log, "over TLS"), "%s", log);
  free(log);

  pc_buf_t proto = rich_payload(false);
  CURL *h = curl_easy_init();
  ck_assert_int_eq(https_post(h, p.port, ca, &proto), 200);
  ck_assert_int_eq(https_post(h, p.port, ca, &proto), 200); /* keep-alive */
  curl_easy_cleanup(h);

  pc_e2e_resp_t r = {0};
  ck_assert_int_ne(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf",
                               NULL, proto.p, proto.n, &r), 200);
  pc_buf_free(&r.body);
  h = curl_easy_init();
  ck_assert_int_eq(https_post(h, p.port, other, &proto), 0); /* the client refuses us */
  curl_easy_cleanup(h);
  static const uint8_t hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
  for (int i = 0; i < 20; i++)
    connect_send_reset(p.port, hello_start, i % 2 ? sizeof hello_start : 0);
  h = curl_easy_init();
  ck_assert_int_eq(https_post(h, p.port, ca, &proto), 200);
  curl_easy_cleanup(h);
  ck_assert(pc_e2e_wait_log(&p, "TLS with 127.0.0.1:", 5000));

  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  ck_assert_uint_eq(pc_e2e_samples_in_file(out), 3 * 3); /* three requests of 3 samples */
  pc_e2e_cleanup(&p);

  /* validate: cert_file without key_file, at its place. */
  char cfg[700];
  snprintf(cfg, sizeof cfg, "%s/bad.yaml", dir);
  FILE *f = fopen(cfg, "w");
  fprintf(f, "receivers:\n  otlp:\n    protocols:\n      grpc:\n        tls:\n"
             "          cert_file: %s\nexporters:\n  debug: {}\n"
             "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
             "      exporters: [debug]\n", srv);
  fclose(f);
  assert_validate_says(cfg, "6:22: receivers.otlp.protocols.grpc.tls.cert_file: cert_file "
                       "is set but key_file is not");
  pc_buf_free(&proto);
  pc_test_certdir_rm(dir);
}
END_TEST

/* The README's components block is what the binary prints, so the docs of
 * every key and default stay true. */
START_TEST(readme_documents_every_component) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  char path[512];
  snprintf(path, sizeof path, "%s/README.md", root);
  pc_buf_t readme = {0}, out = {0};
  pc_test_read_file(path, &readme);
  pc_buf_append(&readme, "", 1);
  const char *begin = strstr((const char *)readme.p, "<!-- components:begin -->\n```\n");
  const char *end = begin ? strstr(begin, "```\n<!-- components:end -->") : NULL;
  ck_assert_msg(begin && end, "README.md has no components block");
  begin += strlen("<!-- components:begin -->\n```\n");
  const char *args[] = {"components", NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 0);
  ck_assert_msg(out.n == (size_t)(end - begin) && memcmp(out.p, begin, out.n) == 0,
                "README.md's components block differs from `profcol components`; "
                "regenerate it with build/service/profcol components");
  pc_buf_free(&readme);
  pc_buf_free(&out);
}
END_TEST

/* ---- libcurl, loaded at the first send (component/curl_dl.c) ----------------------------- */

/* The path of the first mapping of pid whose file name contains name, or
 * false when there is none (pid 0: this process). */
static bool maps_file(pid_t pid, const char *name, char *path, size_t cap) {
  char maps[64];
  if (pid) snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
  else snprintf(maps, sizeof maps, "/proc/self/maps");
  FILE *f = fopen(maps, "r");
  ck_assert_ptr_nonnull(f);
  char line[PATH_MAX + 128];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    char *slash = strchr(line, '/');
    if (!slash || !strstr(slash, name)) continue;
    slash[strcspn(slash, "\n")] = 0;
    if (path) snprintf(path, cap, "%s", slash);
    found = true;
  }
  fclose(f);
  return found;
}

/* A sidecar's start: no libcurl (nor the GnuTLS, LDAP, Kerberos it drags
 * in) until the exporter's first request; then it is loaded and the data
 * reaches the backend. Before, the dynamic loader mapped all of them at
 * exec, and this fails at the first check. */
START_TEST(libcurl_is_loaded_at_the_first_send) {
  char dir[] = "/tmp/profcol-lazycurl-XXXXXX", out[300], yaml[1024];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/backend.binpb", dir);
  int backend_port = pc_e2e_free_port();
  pc_e2e_proc_t backend, p;
  pc_e2e_start_file_sink(&backend, backend_port, out);
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "exporters:\n  otlp_http: {endpoint: \"http://127.0.0.1:%d\", compression: gzip}\n"
           "service:\n  pipelines:\n    profiles: {receivers: [otlp], exporters: [otlp_http]}\n",
           backend_port);
  ck_assert(pc_e2e_start(&p, yaml));
  ck_assert_msg(!maps_file(p.pid, "/libcurl.so", NULL, 0), "libcurl is mapped before a send");
  ck_assert_msg(!maps_file(p.pid, "/libgnutls.so", NULL, 0), "GnuTLS is mapped before a send");
  /* nor OpenSSL (httpd/openssl_dl.c): no TLS listener, no hash action */
  ck_assert_msg(!maps_file(p.pid, "/libcrypto.so", NULL, 0), "libcrypto is mapped before a send");
  ck_assert_msg(!maps_file(p.pid, "/libssl.so", NULL, 0), "libssl is mapped before a send");
  pc_buf_t proto = rich_payload(false);
  for (int i = 0; i < 2; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf",
                                 NULL, proto.p, proto.n, &r), 200);
    pc_buf_free(&r.body);
    /* the rich request has 3 samples; the second send reuses the library */
    ck_assert_uint_eq(pc_e2e_wait_samples(out, 3 * (uint64_t)(i + 1)), 3 * (uint64_t)(i + 1));
  }
  ck_assert_msg(maps_file(p.pid, "/libcurl.so", NULL, 0), "sent without libcurl mapped?");
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  ck_assert_int_eq(pc_e2e_stop(&backend, 30), 0);
  pc_e2e_cleanup(&p);
  pc_e2e_cleanup(&backend);
  pc_buf_free(&proto);
  remove(out);
  rmdir(dir);
}
END_TEST

/* Make the library of this process whose path contains name an empty file
 * for every profcol started from now on: /dev/null mounted over it in a
 * mount namespace of this test's own (Check runs each test in a child).
 * false, with why on stderr, where mounting is not allowed (not root): the
 * test then checks nothing. */
static bool hide_library(const char *name, const char *test) {
  char lib[PATH_MAX];
  ck_assert_msg(maps_file(0, name, lib, sizeof lib), "this test maps no %s", name);
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("/dev/null", lib, NULL, MS_BIND, NULL) != 0) {
    fprintf(stderr, "%s: skipped, cannot hide %s in a mount namespace: %s\n", test, lib,
            strerror(errno));
    return false;
  }
  return true;
}

/* `profcol --version` succeeds and its line for what says that the hidden
 * file soname cannot be loaded and which package to install:
 * "  libcurl: cannot load /lib/.../libcurl.so.4: file too short (install
 * the libcurl4 package)". */
static void assert_version_cannot_load(const char *what, const char *soname, const char *pkg) {
  pc_buf_t out = {0};
  const char *args[] = {"--version", NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 0);
  pc_buf_append(&out, "", 1);
  char line[128], tail[128];
  snprintf(line, sizeof line, "  %s: cannot load /", what);
  snprintf(tail, sizeof tail, "%s: file too short (install the %s package)\n", soname, pkg);
  ck_assert_msg(strstr((const char *)out.p, line) && strstr((const char *)out.p, tail), "%s",
                (const char *)out.p);
  pc_buf_free(&out);
}

/* profcol with an otlp receiver and an otlp_http exporter to a closed
 * port that does not retry: one failed try is logged once. */
static void start_unretried_exporter(pc_e2e_proc_t *p) {
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "exporters:\n  otlp_http: {endpoint: \"http://127.0.0.1:%d\", "
           "retry_on_failure: {enabled: false}}\n"
           "service:\n  pipelines:\n    profiles: {receivers: [otlp], exporters: [otlp_http]}\n",
           pc_e2e_free_port());
  ck_assert(pc_e2e_start(p, yaml));
}

/* Without a loadable libcurl, profcol still starts and receives;
 * --version and the exporter's first send say what is missing and what to
 * install, and the process stays up. */
START_TEST(a_missing_libcurl_is_named_where_it_is_needed) {
  if (!hide_library("/libcurl.so", "a_missing_libcurl_is_named_where_it_is_needed")) return;
  assert_version_cannot_load("libcurl", "libcurl.so.4", "libcurl4");

  pc_e2e_proc_t p;
  start_unretried_exporter(&p);
  pc_buf_t proto = rich_payload(false);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 200);
  pc_buf_free(&r.body);
  ck_assert(pc_e2e_wait_log(&p, "cannot prepare a request: cannot load ", 10000));
  ck_assert(pc_e2e_wait_log(&p, "libcurl.so.4: file too short (install the libcurl4 package)",
                            1000));
  ck_assert_int_eq(kill(p.pid, 0), 0);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
}
END_TEST

/* The first send loads libcurl in the thread pool, and the loop serves
 * every connection meanwhile. The load is held by an event, not timed:
 * libcurl's file is a FIFO (mounted over it in a mount namespace of this
 * test's own, as hide_library does), so the dynamic loader's open() waits
 * for a writer and its read() for bytes. Once this test can open the FIFO's
 * writing end (only possible while a reader has it open: the load is under
 * way and held), a request on another connection must be answered; with
 * the load on the loop it is not (the post gives up after its 30 s). Then
 * the FIFO closes empty, the load fails as for a missing libcurl, and the
 * exporter says so while the process keeps receiving. */
START_TEST(the_first_sends_load_leaves_the_loop_serving) {
  const char *test = "the_first_sends_load_leaves_the_loop_serving";
  char lib[PATH_MAX], dir[] = "/tmp/profcol-curlfifo-XXXXXX", fifo[300];
  ck_assert_msg(maps_file(0, "/libcurl.so", lib, sizeof lib), "this test maps no libcurl");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/libcurl.so.4", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount(fifo, lib, NULL, MS_BIND, NULL) != 0) {
    fprintf(stderr, "%s: skipped, cannot put a FIFO over %s in a mount namespace: %s\n", test,
            lib, strerror(errno));
    remove(fifo);
    rmdir(dir);
    return;
  }
  pc_e2e_proc_t p;
  start_unretried_exporter(&p);
  /* The first request, its answer read later: with the load on the loop,
   * even it is not answered until the load ends. */
  pc_buf_t proto = rich_payload(false), req = {0};
  pc_e2e_post_request(&req, p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                      proto.p, proto.n);
  int first = pc_e2e_connect(p.port, 60);
  ck_assert_int_ge(first, 0);
  ck_assert_int_eq(send(first, req.p, req.n, MSG_NOSIGNAL), (ssize_t)req.n);
  pc_buf_free(&req);
  /* The event: the load has the FIFO open (ENXIO until then). */
  int w = -1;
  for (int i = 0; i < 6000 && w < 0; i++) /* 60 s: only a broken build waits that long */
    if ((w = open(fifo, O_WRONLY | O_NONBLOCK)) < 0) usleep(10000);
  ck_assert_msg(w >= 0, "the first send did not start loading libcurl: %s", strerror(errno));
  /* Held: the loop answers another connection (and queues its batch). */
  pc_e2e_resp_t r;
  int status = pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                           proto.p, proto.n, &r);
  pc_buf_free(&r.body);
  int w2 = open(fifo, O_WRONLY | O_NONBLOCK); /* a reader still: the load still waits */
  bool still_held = w2 >= 0;
  if (w2 >= 0) close(w2);
  close(w); /* the last writer: the load reads an empty file */
  char ans[13] = "";
  ssize_t got = recv(first, ans, sizeof ans - 1, MSG_WAITALL);
  close(first);
  ck_assert_msg(status == 200, "no answer while libcurl loads: the loop is stalled (%d)", status);
  ck_assert_msg(still_held, "the load was not held while the request was answered");
  ck_assert_msg(got == 12 && !strcmp(ans, "HTTP/1.1 200"), "first request: \"%s\"", ans);
  ck_assert(pc_e2e_wait_log(&p, "cannot prepare a request: cannot load ", 30000));
  ck_assert(pc_e2e_wait_log(&p, "file too short (install the libcurl4 package)", 1000));
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL,
                               proto.p, proto.n, &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(kill(p.pid, 0), 0);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
  pc_buf_free(&proto);
  remove(fifo);
  rmdir(dir);
}
END_TEST

/* Without a loadable OpenSSL, a TLS receiver is an error at start that
 * says what to install, and --version says it too. Without TLS nothing
 * needs it (libcurl_is_loaded_at_the_first_send). */
START_TEST(a_missing_openssl_is_named_where_it_is_needed) {
  char *dir = pc_test_certdir(); /* made before: the openssl command needs libssl */
  char srv[512], srv_key[512];
  pc_test_cert(dir, "server", NULL, srv, srv_key, sizeof srv);
  if (!hide_library("/libssl.so", "a_missing_openssl_is_named_where_it_is_needed")) {
    pc_test_certdir_rm(dir);
    return;
  }
  assert_version_cannot_load("OpenSSL", "libssl.so.3", "libssl3");

  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "        tls: {cert_file: %s, key_file: %s}\n"
           "exporters:\n  debug: {}\n"
           "service:\n  pipelines:\n    profiles: {receivers: [otlp], exporters: [debug]}\n",
           srv, srv_key);
  pc_e2e_proc_t p;
  ck_assert(!pc_e2e_start(&p, yaml));
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "receivers.otlp.protocols.http.tls") && strstr(log, "cannot load ") &&
                strstr(log, "libssl.so.3: file too short (install the libssl3 package)"),
                "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
  pc_test_certdir_rm(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-service");
  TCase *tc = tcase_create("service");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, pipeline_accepts_and_drains_on_sigterm);
  tcase_add_test(tc, validate_reports_every_error_with_its_place);
  tcase_add_test(tc, validate_reports_every_key_of_every_component);
  tcase_add_test(tc, validate_reports_bad_extension_references);
  tcase_add_test(tc, failed_extension_reported_once);
  tcase_add_test(tc, validate_checks_paths_start_would_use);
  tcase_add_test(tc, file_exporter_writes_to_dev_stdout);
  tcase_add_test(tc, refused_requests_are_logged_with_a_hint);
  tcase_add_test(tc, debug_detailed_prints_whole_stacks_leaf_first);
  tcase_add_test(tc, cors_preflight_and_answers);
  tcase_add_test(tc, built_in_config_validates);
  tcase_add_loop_test(tc, example_configs_validate, 0, 6);
  tcase_add_test(tc, sighup_reloads_without_a_gap);
  tcase_add_test(tc, second_instance_on_same_port_fails);
  tcase_add_test(tc, batch_feeds_exporters_of_bytes_and_trees);
  tcase_add_test(tc, memory_limiter_answers_503);
  tcase_add_test(tc, resource_processor_edits_attributes);
  tcase_add_test(tc, readme_documents_every_component);
  tcase_add_test(tc, tls_receiver_end_to_end);
  tcase_add_test(tc, libcurl_is_loaded_at_the_first_send);
  tcase_add_test(tc, a_missing_libcurl_is_named_where_it_is_needed);
  tcase_add_test(tc, the_first_sends_load_leaves_the_loop_serving);
  tcase_add_test(tc, a_missing_openssl_is_named_where_it_is_needed);
  suite_add_tcase(s, tc);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  curl_global_cleanup();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
