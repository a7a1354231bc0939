/* test_fanout.c - end to end: one otlp receiver feeding several pipelines,
 * some with a processor that edits the data in place (resource). Each
 * pipeline's file exporter must hold exactly its own edits and every sample
 * sent, over OTLP/HTTP and over OTLP/gRPC (issue 12: pipelines used to share
 * one mutable request, so a pipeline without processors wrote the attribute
 * another pipeline's resource processor set). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "e2e.h"

/* profiles/a and profiles/c each insert an attribute of their own (from_a,
 * from_c), profiles/b only reads; a is listed first, so that were the
 * request shared, b or c would see a's edit whatever order the pipelines
 * run in, and one of a and c must be given a copy. */
static void write_config(char *yaml, size_t n, const char *dir, const char *protocol) {
  snprintf(yaml, n,
           "receivers:\n  otlp:\n    protocols:\n      %s:\n        endpoint: 127.0.0.1:0\n"
           "processors:\n"
           "  resource/a:\n    attributes: [{key: from_a, value: x, action: insert}]\n"
           "  resource/c:\n    attributes: [{key: from_c, value: x, action: insert}]\n"
           "exporters:\n"
           "  file/a: {path: %s/a.pb, format: proto}\n"
           "  file/b: {path: %s/b.pb, format: proto}\n"
           "  file/c: {path: %s/c.pb, format: proto}\n"
           "service:\n  pipelines:\n"
           "    profiles/a: {receivers: [otlp], processors: [resource/a], exporters: [file/a]}\n"
           "    profiles/b: {receivers: [otlp], exporters: [file/b]}\n"
           "    profiles/c: {receivers: [otlp], processors: [resource/c], exporters: [file/c]}\n",
           protocol, dir, dir, dir);
}

typedef struct {
  uint64_t samples;
  unsigned from_a, from_c, neither; /* resources by the attributes they carry */
} seen_t;

static bool has_key(const pc_request_t *req, const pc_kvs_t *attrs, pc_str_t key) {
  for (uint32_t i = 0; i < attrs->n; i++) {
    const pc_keyvalue_t *kv = &attrs->v[i];
    pc_str_t k = kv->key.n ? kv->key : pc_dict_string(&req->dict, kv->key_strindex);
    if (pc_str_eq(k, key)) return true;
  }
  return false;
}

static void tally(const pc_request_t *req, void *arg) {
  seen_t *s = arg;
  s->samples += pc_request_sample_count(req);
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_kvs_t *attrs = &req->resources[r].resource.attributes;
    bool a = has_key(req, attrs, PC_STR_LIT("from_a")), c = has_key(req, attrs, PC_STR_LIT("from_c"));
    s->from_a += a;
    s->from_c += c;
    s->neither += !a && !c;
  }
}

static seen_t read_out(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.pb", dir, name);
  seen_t s = {0};
  ck_assert_int_gt(pc_e2e_read_proto_file(path, tally, &s), 0);
  unlink(path);
  return s;
}

/* Every pipeline got every sample, with only its own edit. */
static void check_outputs(const char *dir, uint64_t samples) {
  seen_t a = read_out(dir, "a"), b = read_out(dir, "b"), c = read_out(dir, "c");
  ck_assert_uint_eq(a.samples, samples);
  ck_assert_uint_eq(b.samples, samples);
  ck_assert_uint_eq(c.samples, samples);
  ck_assert_msg(b.from_a == 0 && b.from_c == 0 && b.neither > 0,
                "pipeline b saw another pipeline's edit: %u from_a, %u from_c, %u neither",
                b.from_a, b.from_c, b.neither);
  ck_assert_msg(a.from_c == 0 && a.neither == 0 && a.from_a > 0,
                "a: %u from_a, %u from_c, %u neither", a.from_a, a.from_c, a.neither);
  ck_assert_msg(c.from_a == 0 && c.neither == 0 && c.from_c > 0,
                "c: %u from_a, %u from_c, %u neither", c.from_a, c.from_c, c.neither);
}

static void make_dir(char *dir, size_t n) {
  snprintf(dir, n, "/tmp/profcol-fanout-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

START_TEST(http_pipelines_see_only_their_own_edits) {
  char dir[64], yaml[2048];
  make_dir(dir, sizeof dir);
  write_config(yaml, sizeof yaml, dir, "http");
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_arena_t *arena = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_buf_t body = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &body), 0);
  for (int i = 0; i < 3; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf",
                                 NULL, body.p, body.n, &r), 200);
    pc_buf_free(&r.body);
  }
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  check_outputs(dir, 3 * pc_request_sample_count(&req));
  pc_buf_free(&body);
  pc_arena_free(arena);
  rmdir(dir);
  pc_e2e_cleanup(&p);
}
END_TEST

START_TEST(grpc_pipelines_see_only_their_own_edits) {
  char dir[64], yaml[2048];
  make_dir(dir, sizeof dir);
  write_config(yaml, sizeof yaml, dir, "grpc");
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  int port = pc_e2e_port_of(&p, "receiver:otlp");
  ck_assert_int_gt(port, 0);
  ck_assert_int_eq(pc_e2e_grpc_client(port, (const char *const[]){"ok", "gzip", NULL}), 0);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  /* tests/data/request.txtpb, sent twice (ok, gzip). */
  pc_buf_t bin = {0};
  pc_test_read_file(getenv("PC_REQUEST_BINPB"), &bin);
  pc_arena_t *arena = pc_arena_new(0);
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_proto_decode(arena, bin.p, bin.n, &req, &err), 0);
  check_outputs(dir, 2 * pc_request_sample_count(&req));
  pc_arena_free(arena);
  pc_buf_free(&bin);
  rmdir(dir);
  pc_e2e_cleanup(&p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-fanout");
  TCase *tc = tcase_create("fanout");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, http_pipelines_see_only_their_own_edits);
  tcase_add_test(tc, grpc_pipelines_see_only_their_own_edits);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
