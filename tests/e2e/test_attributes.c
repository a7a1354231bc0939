/* test_attributes.c - end to end: the real binary with resourcedetection
 * (by its deprecated name) -> attributes -> batch -> file exporter. The
 * environment the binary starts with names the service; what comes out
 * must carry the detected resource attributes on every resource and the
 * edited sample attributes on every sample, with every sample there; and
 * `profcol validate` names the place of a bad k8s_api detector setting. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "e2e.h"

typedef struct {
  uint64_t samples, tagged, resources, detected;
  char host[256];
} seen_t;

static pc_str_t key_of(const pc_request_t *req, const pc_keyvalue_t *kv) {
  return kv->key.n ? kv->key : pc_dict_string(&req->dict, kv->key_strindex);
}

static bool res_has(const pc_request_t *req, const pc_kvs_t *a, const char *key, const char *value) {
  for (uint32_t i = 0; i < a->n; i++) {
    if (!pc_str_eq(key_of(req, &a->v[i]), (pc_str_t){(const uint8_t *)key, strlen(key)})) continue;
    const pc_anyvalue_t *v = &a->v[i].value;
    pc_str_t s = v->type == PC_AV_STRINDEX ? pc_dict_string(&req->dict, v->u.strindex) : v->u.s;
    return (v->type == PC_AV_STRING || v->type == PC_AV_STRINDEX) &&
           pc_str_eq(s, (pc_str_t){(const uint8_t *)value, strlen(value)});
  }
  return false;
}

static void tally(const pc_request_t *req, void *arg) {
  seen_t *s = arg;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    const pc_kvs_t *a = &rp->resource.attributes;
    s->resources++;
    s->detected += res_has(req, a, "service.name", "e2e-svc") &&
                   res_has(req, a, "deployment.environment", "e2e") &&
                   res_has(req, a, "host.name", s->host) && res_has(req, a, "os.type", "linux");
    for (uint32_t k = 0; k < rp->n_scopes; k++)
      for (uint32_t p = 0; p < rp->scopes[k].n_profiles; p++) {
        const pc_profile_t *prof = &rp->scopes[k].profiles[p];
        for (uint32_t i = 0; i < prof->n_samples; i++) {
          s->samples++;
          const pc_i32s_t *l = &prof->samples[i].attribute_indices;
          for (uint32_t j = 0; j < l->n; j++) {
            const pc_attr_t *at = pc_dict_attr(&req->dict, l->v[j]);
            if (pc_str_eq(pc_dict_string(&req->dict, at->key_strindex), PC_STR_LIT("team")) &&
                at->value.type == PC_AV_STRING && pc_str_eq(at->value.u.s, PC_STR_LIT("perf")))
              s->tagged++;
          }
        }
      }
  }
}

START_TEST(detected_and_edited_attributes_reach_the_file) {
  char dir[64] = "/tmp/profcol-attrs-XXXXXX", yaml[2048], path[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/out.pb", dir);
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "processors:\n"
           "  resourcedetection:\n"
           "    detectors: [env, system]\n"
           "    system: {hostname_sources: [os]}\n"
           "  attributes:\n"
           "    include: {match_type: regexp, services: [\"^e2e-\"]}\n"
           "    actions:\n"
           "      - {key: team, value: perf, action: upsert}\n"
           "      - {pattern: \".*\", action: hash}\n"
           "      - {key: team, value: perf, action: upsert}\n"
           "  batch: {timeout: 50ms}\n"
           "exporters:\n  file: {path: %s, format: proto}\n"
           "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      processors: [resourcedetection, attributes, batch]\n      exporters: [file]\n",
           path);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=e2e,service.name=overridden", 1);
  setenv("OTEL_SERVICE_NAME", "e2e-svc", 1);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
  unsetenv("OTEL_SERVICE_NAME");
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "\"resourcedetection\" is a deprecated name for the processor type "
                            "\"resource_detection\""), "%s", log);
  ck_assert_msg(strstr(log, "detected 4 resource attributes"), "%s", log);
  free(log);
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
  seen_t s = {0};
  gethostname(s.host, sizeof s.host - 1);
  ck_assert_int_gt(pc_e2e_read_proto_file(path, tally, &s), 0);
  ck_assert_uint_eq(s.samples, 3 * pc_request_sample_count(&req));
  ck_assert_uint_gt(s.resources, 0);
  ck_assert_uint_eq(s.detected, s.resources);
  ck_assert_uint_eq(s.tagged, s.samples);
  unlink(path);
  rmdir(dir);
  pc_buf_free(&body);
  pc_arena_free(arena);
  pc_e2e_cleanup(&p);
}
END_TEST

START_TEST(validate_names_the_place_of_a_k8s_api_error) {
  char dir[64] = "/tmp/profcol-attrs-XXXXXX", path[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/c.yaml", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("receivers:\n  otlp:\n    protocols:\n      http:\n"
        "processors:\n  resource_detection:\n    detectors: [env, k8s_api]\n"
        "    k8s_api: {auth_type: kubeconfig}\n"
        "exporters:\n  nop:\n"
        "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
        "      processors: [resource_detection]\n      exporters: [nop]\n", f);
  fclose(f);
  pc_buf_t out = {0};
  int rc = pc_e2e_run((const char *const[]){"validate", "--config", path, NULL}, &out);
  pc_buf_append(&out, "", 1);
  ck_assert_int_ne(rc, 0);
  char want[300];
  snprintf(want, sizeof want, "%s:8:26: processors.resource_detection.k8s_api.auth_type: "
           "auth_type \"kubeconfig\": want serviceAccount, kubeConfig or none; did you mean "
           "\"kubeConfig\"?", path);
  ck_assert_msg(strstr((const char *)out.p, want), "%s", (const char *)out.p);
  pc_buf_free(&out);
  unlink(path);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-attributes");
  TCase *tc = tcase_create("attributes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, detected_and_edited_attributes_reach_the_file);
  tcase_add_test(tc, validate_names_the_place_of_a_k8s_api_error);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
