/* test_oracle.c - end to end, every sample: random requests go into the
 * real profcol binary over HTTP (protobuf; JSON with the lowerCamelCase or
 * the proto field names; gzip, zstd, none), through the batch processor,
 * out of the file exporter; what comes out must be the same multiset of
 * materialized samples (and profiles) as what was acknowledged, with batch
 * dictionaries free of duplicates. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pdata/materialize.h"
#include "../pdata/randreq.h"
#include "../pdata/testdata.h"
#include "e2e.h"

static const char *const yaml_fmt =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http:\n"
    "        endpoint: 127.0.0.1:0\n"
    "processors:\n"
    "  batch:\n"
    "    send_batch_size: 300\n"
    "    timeout: 50ms\n"
    "exporters:\n"
    "  file:\n"
    "    path: %s/out.binpb\n"
    "    format: proto\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      processors: [batch]\n"
    "      exporters: [file]\n";

typedef struct {
  pc_mat_t *samples, *profiles;
} outputs_t;

/* One batch of the file exporter's output: check its dictionary, collect it. */
static void collect_batch(const pc_request_t *req, void *arg) {
  outputs_t *o = arg;
  char why[512];
  ck_assert_msg(pc_mat_check_batch(req, why, sizeof why) == 0, "batch: %s", why);
  pc_mat_add(o->samples, req);
  pc_mat_add_profiles(o->profiles, req);
}

START_TEST(every_sample_in_comes_out) {
  char dir[] = "/tmp/profcol-oracle-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[1024];
  snprintf(yaml, sizeof yaml, yaml_fmt, dir);
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);

  pc_mat_t want = {0}, want_profiles = {0};
  pc_rng_t rng = {.s = 20261125};
  pc_arena_t *a = pc_arena_new(0);
  static const char *const encodings[] = {NULL, "gzip", "zstd", "deflate"};
  static const pc_encoding_t encs[] = {PC_ENC_IDENTITY, PC_ENC_GZIP, PC_ENC_ZSTD, PC_ENC_DEFLATE};
  int sent = 0;
  for (int i = 0; i < 120; i++) {
    pc_request_t base, req;
    pc_rand_request(&rng, a, &base);
    /* The same data with shuffled, duplicated or padded tables. */
    if (i % 4 == 3) req = base;
    else pc_rewrite_request(&rng, a, &base, (pc_rewrite_t)(i % 3), &req);
    bool json = i % 2;
    pc_buf_t body = {0}, wire = {0};
    ck_assert_int_eq(json ? pc_json_encode(&req, &body) : pc_proto_encode(&req, &body), 0);
    if (i % 4 == 3) { /* OTLP-JSON with the proto's field names (issue 12) */
      pc_buf_t camel = body;
      body = (pc_buf_t){0};
      pc_test_to_proto_names(&camel, false, &body);
      pc_buf_free(&camel);
    }
    ck_assert_int_eq(pc_compress(encs[i % 4], 0, body.p, body.n, &wire), 0);
    pc_e2e_resp_t r;
    int status = pc_e2e_post(p.port, "/v1development/profiles",
                             json ? "application/json" : "application/x-protobuf",
                             encodings[i % 4], wire.p, wire.n, &r);
    ck_assert_msg(status == 200, "request %d: status %d: %.*s", i, status, (int)r.body.n,
                  (const char *)r.body.p);
    pc_buf_free(&r.body);
    pc_mat_add(&want, &base);
    pc_mat_add_profiles(&want_profiles, &base);
    pc_buf_free(&body);
    pc_buf_free(&wire);
    pc_arena_reset(a);
    sent++;
  }
  pc_arena_free(a);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0); /* drains the open batch */

  char path[300];
  snprintf(path, sizeof path, "%s/out.binpb", dir);
  pc_mat_t got = {0}, got_profiles = {0};
  outputs_t outputs = {&got, &got_profiles};
  int batches = pc_e2e_read_proto_file(path, collect_batch, &outputs);
  ck_assert_int_gt(batches, 0);
  ck_assert_int_lt(batches, sent); /* requests were merged */
  pc_mat_sort(&want);
  pc_mat_sort(&got);
  pc_mat_sort(&want_profiles);
  pc_mat_sort(&got_profiles);
  char why[1024];
  ck_assert_msg(want.n > 200, "only %zu samples sent", want.n);
  ck_assert_msg(pc_mat_eq(&want, &got, why, sizeof why), "samples differ: %s", why);
  ck_assert_msg(pc_mat_eq(&want_profiles, &got_profiles, why, sizeof why), "profiles differ: %s",
                why);
  pc_mat_free(&want);
  pc_mat_free(&got);
  pc_mat_free(&want_profiles);
  pc_mat_free(&got_profiles);
  pc_e2e_cleanup(&p);
  remove(path);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-oracle");
  TCase *tc = tcase_create("oracle");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, every_sample_in_comes_out);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
