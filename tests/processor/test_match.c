/* test_match.c - the match TCase: processor/match.c, the Collector's
 * include/exclude properties on a resource, its scope and a sample's
 * attributes, strict and regexp. */
#include <stdio.h>
#include <string.h>

#include "common.h"

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

static pc__match_t *parse(const char *body, pc_cfg_t **cfg) {
  char yaml[1024];
  snprintf(yaml, sizeof yaml, "m:\n%s", body);
  pc_err_t err = {0};
  *cfg = pc_cfg_load_string("test.yaml", yaml, &err);
  ck_assert_msg(*cfg != NULL, "%s", err.msg);
  pc__match_t *m = pc__match_parse(pc_cfg_get(pc_cfg_root(*cfg), "m"), &err);
  ck_assert_msg(m != NULL, "%s", err.msg);
  return m;
}

/* Resource 0: checkout in prod, scope ebpf-profiler v1; resource 1: no
 * service.name, scope other (no version); resource 2: no resource at all. */
static void two_resources(pt_req_t *r) {
  pt_req_init(r, 3);
  pt_resource(r, 0, "service.name=checkout", "k8s.namespace.name=prod", NULL);
  pt_resource(r, 1, "k8s.namespace.name=dev", NULL);
  r->sp[0].has_scope = true;
  r->sp[0].scope.name = S("ebpf-profiler");
  r->sp[0].scope.version = S("v1");
  r->sp[1].has_scope = true;
  r->sp[1].scope.name = S("other");
}

static const char *scope_matches(const char *body) {
  static char out[4];
  pc_cfg_t *cfg;
  pc__match_t *m = parse(body, &cfg);
  pt_req_t r;
  two_resources(&r);
  for (int i = 0; i < 3; i++)
    out[i] = pc__match_scope(m, &r.req, r.rp[i].has_resource ? &r.rp[i].resource : NULL,
                             r.sp[i].has_scope ? &r.sp[i].scope : NULL) ? 'y' : 'n';
  out[3] = 0;
  pt_req_free(&r);
  pc__match_free(m);
  pc_cfg_free(cfg);
  return out;
}

START_TEST(match_scope_properties) {
  ck_assert_str_eq(scope_matches("  match_type: strict\n  services: [checkout, cart]\n"), "ynn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n  services: [\"<nil-service-name>\"]\n"),
                   "nyy");
  ck_assert_str_eq(scope_matches("  match_type: regexp\n  services: [^check]\n"), "ynn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n  resources: [{key: k8s.namespace.name}]\n"),
                   "yyn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n"
                                 "  resources: [{key: k8s.namespace.name, value: dev}]\n"), "nyn");
  ck_assert_str_eq(scope_matches("  match_type: regexp\n"
                                 "  resources: [{key: k8s.namespace.name, value: \"^(dev|prod)$\"}]\n"),
                   "yyn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n  libraries: [{name: ebpf-profiler}]\n"),
                   "ynn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n"
                                 "  libraries: [{name: other, version: \"\"}]\n"), "nyn");
  ck_assert_str_eq(scope_matches("  match_type: strict\n"
                                 "  libraries: [{name: ebpf-profiler, version: v2}]\n"), "nnn");
  /* Every property given must match. */
  ck_assert_str_eq(scope_matches("  match_type: strict\n  services: [checkout]\n"
                                 "  resources: [{key: k8s.namespace.name, value: dev}]\n"), "nnn");
}
END_TEST

START_TEST(match_sample_attributes) {
  pc_cfg_t *cfg;
  pc__match_t *strict = parse("  match_type: strict\n"
                              "  attributes: [{key: thread.name, value: gc}, {key: pid, value: 7}]\n",
                              &cfg);
  pc__amap_t m = {0};
  pc__amap_push(&m, S("thread.name"), (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = S("gc")}, 0);
  pc__amap_push(&m, S("pid"), (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 7}, 1);
  ck_assert(pc__match_has_attrs(strict));
  ck_assert(pc__match_attrs(strict, &m));
  m.v[1].value = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = S("7")}; /* "7" is not 7 */
  ck_assert(!pc__match_attrs(strict, &m));
  pc__match_free(strict);
  pc_cfg_free(cfg);

  pc__match_t *re = parse("  match_type: regexp\n  attributes: [{key: pid, value: \"^7$\"}]\n", &cfg);
  ck_assert(pc__match_attrs(re, &m)); /* "7" */
  m.v[1].value = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 7};
  ck_assert(pc__match_attrs(re, &m)); /* 7 written as Go does */
  pc__match_free(re);
  pc_cfg_free(cfg);
  /* A double in fixed notation, as the Collector's filter writes it. */
  re = parse("  match_type: regexp\n  attributes: [{key: pid, value: \"^1000000000000000000000$\"}]\n",
             &cfg);
  m.v[1].value = (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = 1e21};
  ck_assert(pc__match_attrs(re, &m));
  m.v[1].value = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 7};
  pc__match_free(re);
  pc_cfg_free(cfg);
  re = parse("  match_type: regexp\n  attributes: [{key: pid, value: \"^7$\"}]\n", &cfg);
  pc__amap_clear(&m);
  ck_assert(!pc__match_attrs(re, &m)); /* no attributes: no match */
  pc__match_free(re);
  pc_cfg_free(cfg);
  pc__amap_free(&m);
}
END_TEST

/* include/exclude mistakes, through the attributes processor, exactly. */
START_TEST(match_config_errors_are_exact) {
  static const char actions[] = "actions: [{key: a, value: b, action: upsert}]\n";
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"include: {services: [a]}\n", "test.yaml:1:10: include: needs match_type: strict or regexp"},
      {"include: {match_type: exact, services: [a]}\n",
       "test.yaml:1:23: include.match_type: match_type \"exact\": want strict or regexp"},
      {"include: {match_type: strict}\n",
       "test.yaml:1:10: include: needs at least one of services, resources, libraries and "
       "attributes (a non-empty list)"},
      {"exclude: {match_type: strict, span_names: [a]}\n",
       "test.yaml:1:31: exclude.span_names: span_names is for spans; profiles take services, "
       "resources, libraries and attributes"},
      {"exclude: {match_type: strict, log_bodies: [a]}\n",
       "test.yaml:1:31: exclude.log_bodies: log_bodies is for logs; profiles take services, "
       "resources, libraries and attributes"},
      {"include: {match_type: strict, metric_names: [a]}\n",
       "test.yaml:1:31: include.metric_names: metric_names is for metrics; profiles take "
       "services, resources, libraries and attributes"},
      {"include: {match_type: strict, servces: [a]}\n",
       "test.yaml:1:31: include.servces: unknown key \"servces\"; did you mean \"services\"?"},
      {"include: {match_type: regexp, attributes: [{key: a, value: 7}]}\n",
       "test.yaml:1:60: include.attributes[0].value: match_type regexp takes patterns (strings) "
       "as values; quote it to match the text \"7\""},
      {"include: {match_type: regexp, services: [\"(a\"]}\n",
       "test.yaml:1:42: include.services[0]: invalid regular expression \"(a\": missing closing "
       "parenthesis at offset 2"},
      {"include: {match_type: strict, attributes: [{value: 1}]}\n",
       "test.yaml:1:44: include.attributes[0]: needs a non-empty key"},
      {"include: {match_type: strict, libraries: [{version: v1}]}\n",
       "test.yaml:1:43: include.libraries[0]: needs a name"},
      {"include: {match_type: strict, resources: {key: a}}\n",
       "test.yaml:1:42: include.resources: must be a list"},
  };
  char yaml[512];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(yaml, sizeof yaml, "%s%s", bad[i].yaml, actions);
    pt_refused_exactly(&pc_processor_attributes, yaml, bad[i].want);
  }
}
END_TEST

TCase *pc_test_match_tcase(void) {
  TCase *tc = tcase_create("match");
  tcase_add_test(tc, match_scope_properties);
  tcase_add_test(tc, match_sample_attributes);
  tcase_add_test(tc, match_config_errors_are_exact);
  return tc;
}
