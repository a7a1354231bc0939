/* test_resource_detection.c - two TCases: detectors (processor/detectors.c:
 * OTEL_RESOURCE_ATTRIBUTES as the Collector parses it, the env and system
 * detectors against the real environment and host) and resource_detection
 * (processor/resource_detection.c: detection at start only, override,
 * failures that stop the start, config errors). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common.h"

static const char *detected_text(const pc__detected_t *d) {
  static char out[1024];
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < d->n && o < sizeof out; i++)
    o += (size_t)snprintf(out + o, sizeof out - o, "%s%s=%s", i ? "," : "", d->v[i].key,
                          d->v[i].value);
  return out;
}

static const char *parsed(const char *s) {
  static char out[1024];
  pc__detected_t d = {0};
  char why[300];
  if (pc__parse_resource_attributes(s, &d, why, sizeof why))
    snprintf(out, sizeof out, "error: %s", why);
  else
    snprintf(out, sizeof out, "%s", detected_text(&d));
  pc__detected_free(&d);
  return out;
}

START_TEST(detectors_parse_resource_attributes_as_the_collector) {
  ck_assert_str_eq(parsed("a=1, b = x%2Cy ,c="), "a=1,b=x,y,c=");
  ck_assert_str_eq(parsed("  k8s.pod.name=p-1,team=perf%20eng  "), "k8s.pod.name=p-1,team=perf eng");
  ck_assert_str_eq(parsed("k=a+b"), "k=a b"); /* Go's QueryUnescape */
  ck_assert_str_eq(parsed("a=1,"), "a=1");
  ck_assert_str_eq(parsed("a=1,a=2"), "a=2");
  ck_assert_str_eq(parsed(""), "");
  ck_assert_str_eq(parsed("a=1,,b=2"),
                   "error: invalid text \"\": want key=value pairs separated by commas, keys of "
                   "1 to 256 and values of up to 256 ASCII characters");
  ck_assert_str_eq(parsed("novalue"),
                   "error: invalid text \"novalue\": want key=value pairs separated by commas, "
                   "keys of 1 to 256 and values of up to 256 ASCII characters");
  ck_assert_str_eq(parsed("=v"), "error: invalid text \"=v\": want key=value pairs separated by "
                                 "commas, keys of 1 to 256 and values of up to 256 ASCII "
                                 "characters");
  ck_assert_str_eq(parsed("a=%zz"),
                   "error: invalid escape in \"a=%zz\": % must be followed by two hex digits");
  ck_assert_str_eq(parsed("a=%2"),
                   "error: invalid escape in \"a=%2\": % must be followed by two hex digits");
  char long_value[300] = "k=";
  memset(long_value + 2, 'v', 257);
  long_value[259] = 0;
  ck_assert(!strncmp(parsed(long_value), "error: invalid text", 19));
}
END_TEST

static const char *env_detected(char *const *allow, size_t n, bool has_allow) {
  static char out[1024];
  pc__detected_t d = {0};
  char why[300];
  if (pc__detect_env(allow, n, has_allow, &d, why, sizeof why))
    snprintf(out, sizeof out, "error: %s", why);
  else
    snprintf(out, sizeof out, "%s", detected_text(&d));
  pc__detected_free(&d);
  return out;
}

START_TEST(detectors_env_reads_the_environment) {
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=prod", 1);
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("OTEL_RESOURCE");
  ck_assert_str_eq(env_detected(NULL, 0, false),
                   "service.name=from-attrs,deployment.environment=prod");
  setenv("OTEL_SERVICE_NAME", "checkout", 1); /* wins, as in the SDKs */
  ck_assert_str_eq(env_detected(NULL, 0, false),
                   "service.name=checkout,deployment.environment=prod");
  char *allow[] = {"deployment.environment"};
  ck_assert_str_eq(env_detected(allow, 1, true), "deployment.environment=prod");
  ck_assert_str_eq(env_detected(NULL, 0, true), "");
  setenv("OTEL_RESOURCE_ATTRIBUTES", "  ", 1); /* blank: the deprecated variable */
  setenv("OTEL_RESOURCE", "old=yes", 1);
  unsetenv("OTEL_SERVICE_NAME");
  ck_assert_str_eq(env_detected(NULL, 0, false), "old=yes");
  setenv("OTEL_RESOURCE_ATTRIBUTES", "broken", 1);
  ck_assert_str_eq(env_detected(NULL, 0, false),
                   "error: OTEL_RESOURCE_ATTRIBUTES: invalid text \"broken\": want key=value "
                   "pairs separated by commas, keys of 1 to 256 and values of up to 256 ASCII "
                   "characters");
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
  unsetenv("OTEL_RESOURCE");
}
END_TEST

START_TEST(detectors_system_reads_the_host) {
  pc__system_cfg_t cfg = {.sources = {PC__HOST_OS}, .n_sources = 1, .host_name = true,
                          .host_id = true, .os_type = true, .host_arch = true};
  pc__detected_t d = {0};
  char why[300];
  ck_assert_int_eq(pc__detect_system(&cfg, 5000, &d, why, sizeof why), 0);
  char host[256] = "", id[128] = "", want[1024];
  gethostname(host, sizeof host - 1);
  FILE *f = fopen("/etc/machine-id", "r");
  if (!f) f = fopen("/var/lib/dbus/machine-id", "r");
  if (f) {
    if (!fgets(id, sizeof id, f)) id[0] = 0;
    fclose(f);
    id[strcspn(id, "\r\n")] = 0;
  }
  struct utsname u;
  uname(&u);
  const char *arch = !strcmp(u.machine, "x86_64") ? "amd64" : !strcmp(u.machine, "aarch64") ? "arm64" : u.machine;
  if (id[0])
    snprintf(want, sizeof want, "host.name=%s,host.id=%s,os.type=linux,host.arch=%s", host, id, arch);
  else
    snprintf(want, sizeof want, "host.name=%s,os.type=linux,host.arch=%s", host, arch);
  ck_assert_str_eq(detected_text(&d), want);
  pc__detected_free(&d);

  /* The Collector's defaults: host.name and os.type; dns falls back to os
   * when it gives nothing within the timeout. */
  cfg = (pc__system_cfg_t){.sources = {PC__HOST_DNS, PC__HOST_OS}, .n_sources = 2,
                           .host_name = true, .os_type = true};
  ck_assert_int_eq(pc__detect_system(&cfg, 2000, &d, why, sizeof why), 0);
  ck_assert_uint_eq(d.n, 2);
  ck_assert_str_eq(d.v[0].key, "host.name");
  ck_assert_uint_gt(strlen(d.v[0].value), 0);
  ck_assert_str_eq(d.v[1].key, "os.type");
  pc__detected_free(&d);
}
END_TEST

TCase *pc_test_detectors_tcase(void) {
  TCase *tc = tcase_create("detectors");
  tcase_add_test(tc, detectors_parse_resource_attributes_as_the_collector);
  tcase_add_test(tc, detectors_env_reads_the_environment);
  tcase_add_test(tc, detectors_system_reads_the_host);
  return tc;
}

/* ---- the processor ---------------------------------------------------------------------- */

typedef struct {
  pt_check_t next;
  pc_cfg_t *cfg;
  void *inst;
  uv_loop_t loop;
} rd_fx_t;

static int rd_open(rd_fx_t *f, const char *yaml, pc_err_t *err) {
  pt_check_init(&f->next);
  f->inst = pt_create(&pc_processor_resource_detection, NULL, yaml, &f->next.c, &f->cfg, err);
  ck_assert_msg(f->inst != NULL, "%s", err->msg);
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  return pc_processor_resource_detection.start(f->inst, &f->loop, err);
}

static void on_done(void *arg) { (*(int *)arg)++; }

static void rd_close(rd_fx_t *f) {
  int done = 0;
  pc_processor_resource_detection.shutdown(f->inst, 0, on_done, &done);
  ck_assert_int_eq(done, 1);
  pc_processor_resource_detection.destroy(f->inst);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  pc_cfg_free(f->cfg);
}

static const char *res_text(pt_req_t *r, int i) {
  static char out[2][512];
  return pt_res_text(&r->req, &r->rp[i].resource, out[i], sizeof out[i]);
}

/* Detected once at start; each resource gets them, overriding its own;
 * a change of the environment after start changes nothing. */
START_TEST(resource_detection_adds_what_start_detected) {
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=env-svc,deployment.environment=prod", 1);
  unsetenv("OTEL_SERVICE_NAME");
  rd_fx_t f;
  pc_err_t err = {0};
  ck_assert_msg(rd_open(&f, "detectors: [env, system]\nsystem: {hostname_sources: [os]}\n",
                        &err) == 0, "%s", err.msg);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=changed-after-start", 1);
  pt_req_t r;
  pt_req_init(&r, 2);
  pt_resource(&r, 0, "service.name=own", "k=v", NULL);
  pt_sample(&r, 0, 0, NULL);
  pt_send(f.inst, &pc_processor_resource_detection, &r.req);
  char host[256] = "", want[1024];
  gethostname(host, sizeof host - 1);
  snprintf(want, sizeof want, "service.name=env-svc,k=v,deployment.environment=prod,"
           "host.name=%s,os.type=linux", host);
  ck_assert_str_eq(res_text(&r, 0), want);
  snprintf(want, sizeof want, "service.name=env-svc,deployment.environment=prod,host.name=%s,"
           "os.type=linux", host);
  ck_assert_str_eq(res_text(&r, 1), want);
  ck_assert(r.rp[1].has_resource);
  pt_req_free(&r);
  rd_close(&f);
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}
END_TEST

START_TEST(resource_detection_without_override_keeps_the_resources_own) {
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=env-svc,team=perf", 1);
  rd_fx_t f;
  pc_err_t err = {0};
  ck_assert_msg(rd_open(&f, "override: false\n", &err) == 0, "%s", err.msg); /* default: [env] */
  pt_req_t r;
  pt_req_init(&r, 1);
  pt_resource(&r, 0, "service.name=own", NULL);
  pt_send(f.inst, &pc_processor_resource_detection, &r.req);
  ck_assert_str_eq(res_text(&r, 0), "service.name=own,team=perf");
  pt_req_free(&r);
  rd_close(&f);
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}
END_TEST

/* A detector that fails stops the start, with its reason. */
START_TEST(resource_detection_fails_the_start_on_a_bad_environment) {
  setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken", 1);
  rd_fx_t f;
  pc_err_t err = {0};
  ck_assert_int_eq(rd_open(&f, "detectors: [env]\n", &err), PC_EINVAL);
  ck_assert_str_eq(err.msg, "processor:resource_detection: env detector: "
                            "OTEL_RESOURCE_ATTRIBUTES: invalid text \"broken\": want key=value "
                            "pairs separated by commas, keys of 1 to 256 and values of up to 256 "
                            "ASCII characters");
  rd_close(&f);
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}
END_TEST

START_TEST(resource_detection_config_errors_are_exact) {
  ck_assert_str_eq(pc_processor_resource_detection.deprecated_alias, "resourcedetection");
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"detectors: [sytem]\n",
       "test.yaml:1:13: detectors[0]: unknown detector \"sytem\": profcol has env, system and "
       "k8s_api; did you mean \"system\"?"},
      {"detectors: [ec2]\n",
       "test.yaml:1:13: detectors[0]: the Collector's detector \"ec2\": profcol has env, system "
       "and k8s_api"},
      {"detectors: [env, env]\n", "test.yaml:1:18: detectors[1]: detector env is listed twice"},
      {"detectors: env\n",
       "test.yaml:1:12: detectors: must be a list of detectors, e.g. [env, system]"},
      {"system: {hostname_sources: [dns, fqdn]}\n",
       "test.yaml:1:34: system.hostname_sources[1]: hostname source \"fqdn\": want dns, os, "
       "cname or lookup"},
      {"system: {resource_attributes: {host.id: {enabled: yes}}}\n",
       "test.yaml:1:51: system.resource_attributes.host.id.enabled: expected true or false, "
       "got \"yes\""},
      {"system: {resource_attributes: {host.ip: {enabled: true}}}\n",
       "test.yaml:1:32: system.resource_attributes.host.ip: unknown key \"host.ip\"; did you "
       "mean \"host.id\"?"},
      {"k8s_api: {auth_type: tls}\n",
       "test.yaml:1:22: k8s_api.auth_type: auth_type \"tls\" is not provided: give the client certificate in a kubeconfig (auth_type: kubeConfig)"},
      {"k8s_api: {auth_type: serviceaccount}\n",
       "test.yaml:1:22: k8s_api.auth_type: auth_type \"serviceaccount\": want serviceAccount, kubeConfig or none; did you mean \"serviceAccount\"?"},
      {"k8s_api: {context: kind-kind}\n",
       "test.yaml:1:20: k8s_api.context: context is read only with auth_type: kubeConfig (auth_type is serviceAccount)"},
      {"k8s_api: {}\nk8snode: {}\n",
       "test.yaml:2:1: k8snode: give k8s_api or k8snode (its old name), not both"},
      {"detectors: [k8s_api]\nk8s_api: {node_from_env_var: \"\"}\n",
       "test.yaml:2:30: k8s_api.node_from_env_var: must name an environment variable"},
      {"k8s_api: {resource_attributes: {k8s.node.ip: {enabled: true}}}\n",
       "test.yaml:1:33: k8s_api.resource_attributes.k8s.node.ip: unknown key \"k8s.node.ip\"; did you mean \"k8s.node.uid\"?"},
      {"env: {allow_list: service.name}\n",
       "test.yaml:1:19: env.allow_list: must be a list of attribute keys"},
      {"timeout: 0s\n", "test.yaml:1:10: timeout: expected a duration from 1ms to 1h, got \"0s\""},
      {"overide: false\n",
       "test.yaml:1:1: overide: unknown key \"overide\"; did you mean \"override\"?"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    pt_refused_exactly(&pc_processor_resource_detection, bad[i].yaml, bad[i].want);
}
END_TEST

TCase *pc_test_resource_detection_tcase(void) {
  TCase *tc = tcase_create("resource_detection");
  tcase_add_test(tc, resource_detection_adds_what_start_detected);
  tcase_add_test(tc, resource_detection_without_override_keeps_the_resources_own);
  tcase_add_test(tc, resource_detection_fails_the_start_on_a_bad_environment);
  tcase_add_test(tc, resource_detection_config_errors_are_exact);
  return tc;
}
