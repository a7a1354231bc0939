/* test_headers_setter.c - extension/headers_setter.c: the rules (insert,
 * update, upsert, delete; value, from_context, default_value) on an
 * exporter's own headers, config errors with file:line:col, and the
 * exporters' auth.authenticator checks. Sending with them is tested end to
 * end in tests/e2e/test_metadata.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../exporter/internal.h"
#include "../../extension/extension.h"
#include "fixture.h"

static void *hs_create(pc_err_t *err, const char *yaml) {
  return fx_create(&pc_extension_headers_setter, "headers_setter", 0, err, "%s", yaml);
}

/* What exporters get from the host: the client headers role, and no other. */
static const pc_client_auth_t *hs_role(void *hs) {
  ck_assert_ptr_null(pc_extension_headers_setter.role(hs, PC_ROLE_STORAGE));
  ck_assert_ptr_null(pc_extension_headers_setter.role(hs, PC_ROLE_SERVER_AUTH));
  const pc_client_auth_t *ca = pc_extension_headers_setter.role(hs, PC_ROLE_CLIENT_AUTH);
  ck_assert_ptr_nonnull(ca);
  ck_assert(ca->uses_metadata);
  return ca;
}

/* The lines after applying the rules of yaml to start[] with md, joined by '|'. */
static void applied(const char *yaml, const char *const *start, const pc_metadata_t *md,
                    char *out, size_t cap) {
  pc_err_t err = {0};
  void *hs = hs_create(&err, yaml);
  ck_assert_msg(hs != NULL, "create: %s", err.msg);
  const pc_client_auth_t *found = hs_role(hs);
  pc_headers_t h = {0};
  for (size_t i = 0; start[i]; i++) {
    const char *colon = strchr(start[i], ':');
    pc_headers_add(&h, start[i], (size_t)(colon - start[i]), colon + 2, strlen(colon + 2));
  }
  ck_assert_int_eq(found->apply(found, md, &h, &err), 0);
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < h.n; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "|" : "", h.v[i]);
  pc_headers_free(&h);
  pc_extension_headers_setter.destroy(hs);
}

START_TEST(rules_apply_in_order) {
  pc_md_pair_t pairs[] = {{PC_STR_LIT("X-Scope-OrgID"), PC_STR_LIT("acme")},
                          {PC_STR_LIT("x-env"), PC_STR_LIT("prod")}};
  pc_metadata_t md = {pairs, 2};
  static const char *const start[] = {"x-scope-orgid: static", "Keep: 1", "Gone: x",
                                      "Stay: old", NULL};
  char got[512];
  applied("headers:\n"
          "  - {key: X-Scope-OrgID, from_context: x-scope-orgid}\n" /* upsert: replaces */
          "  - {key: Keep, value: '2', action: insert}\n"           /* present: kept */
          "  - {key: Gone, action: delete}\n"
          "  - {key: Absent, value: v, action: update}\n"           /* absent: nothing */
          "  - {key: Stay, from_context: X-ENV, action: update}\n"  /* any case */
          "  - {key: Env, from_context: missing, default_value: dflt, action: insert}\n"
          "  - {key: None, from_context: missing}\n",               /* no default: no header */
          start, &md, got, sizeof got);
  ck_assert_str_eq(got, "Keep: 1|X-Scope-OrgID: acme|Stay: prod|Env: dflt");
  applied("headers:\n  - {key: X-Scope-OrgID, from_context: x-scope-orgid}\n", start, NULL,
          got, sizeof got); /* no metadata at all: upsert has no value, nothing changes */
  ck_assert_str_eq(got, "x-scope-orgid: static|Keep: 1|Gone: x|Stay: old");
}
END_TEST

START_TEST(unusable_values_are_refused) {
  pc_md_pair_t pairs[] = {{PC_STR_LIT("x-scope-orgid"), PC_STR_LIT("a")},
                          {PC_STR_LIT("X-Scope-OrgID"), PC_STR_LIT("b")}};
  pc_metadata_t md = {pairs, 2};
  pc_err_t err = {0};
  void *hs = hs_create(&err, "headers:\n  - {key: X-Scope-OrgID, from_context: x-scope-orgid}\n");
  ck_assert_ptr_nonnull(hs);
  pc_headers_t h = {0};
  const pc_client_auth_t *ca = hs_role(hs);
  ck_assert_int_eq(ca->apply(ca, &md, &h, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "several values of \"x-scope-orgid\""), "%s", err.msg);
  pc_md_pair_t evil = {PC_STR_LIT("x-scope-orgid"), PC_STR_LIT("a\r\nAuthorization: x")};
  md = (pc_metadata_t){&evil, 1};
  ck_assert_int_eq(ca->apply(ca, &md, &h, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "line break"), "%s", err.msg);
  ck_assert_uint_eq(h.n, 0);
  pc_headers_free(&h);
  pc_extension_headers_setter.destroy(hs);
}
END_TEST

START_TEST(config_errors_say_where) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"headers: []\n", "test.yaml:1:10: headers: headers_setter needs headers"},
      {"headers:\n  - {key: A, value: v, action: append}\n",
       "test.yaml:2:32: headers[0].action: unknown action \"append\""},
      {"headers:\n  - {key: A, value: v, from_context: c}\n",
       "headers[0].from_context: needs exactly one of value and from_context"},
      {"headers:\n  - {key: A}\n", "test.yaml:2:5: headers[0]: needs exactly one"},
      {"headers:\n  - {value: v}\n", "headers[0]: needs a key"},
      {"headers:\n  - {key: 'A B', value: v}\n", "headers[0].key: \"A B\" is not a header name"},
      {"headers:\n  - {key: A, value: v, default_value: d}\n",
       "headers[0].default_value: default_value needs from_context"},
      {"headers:\n  - {key: A, value: v, action: delete}\n", "action delete takes no value"},
      {"headers:\n  - {key: A, from_attribute: sub}\n", "headers[0].from_attribute: unknown key"},
      {"headers:\n  - {key: A, value: \"x\\r\\nEvil: 1\"}\n", "cannot hold a line break"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pc_err_t err = {0};
    void *hs = hs_create(&err, bad[i].yaml);
    ck_assert_msg(hs == NULL, "accepted: %s", bad[i].yaml);
    ck_assert_msg(strstr(err.msg, bad[i].want), "%s: got \"%s\", want \"%s\"", bad[i].yaml,
                  err.msg, bad[i].want);
    ck_assert_msg(err.line > 0, "no line for %s", bad[i].yaml);
  }
}
END_TEST

START_TEST(exporters_check_their_authenticator) {
  pc_err_t err = {0};
  void *x = fx_create(&pc_exporter_otlphttp, "otlphttp", PC_SIGNAL_PROFILES, &err,
                      "endpoint: http://127.0.0.1:1\nauth:\n  authenticator: basicauth\n");
  ck_assert_ptr_null(x);
  ck_assert_msg(strstr(err.msg, "test.yaml:3:18: auth.authenticator: \"basicauth\" is not an "
                       "authenticator profcol has: headers_setter or bearertokenauth"),
                "%s", err.msg);
  /* A headers_setter id that no instance has: resolve (before start) says so,
   * with the place. */
  fx_t fx;
  int rc = fx_try_open(&fx, &pc_exporter_otlp, "otlp", &err,
                       "endpoint: 127.0.0.1:1\ntls: {insecure: true}\n"
                       "auth: {authenticator: headers_setter/nope}\n");
  ck_assert_int_eq(rc, PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "test.yaml:3:23: auth.authenticator: \"headers_setter/nope\" "
                       "is not defined in extensions and listed in service.extensions"),
                "%s", err.msg);
  fx_close(&fx, 1000);
  rc = fx_try_open(&fx, &pc_exporter_otlphttp, "otlphttp", &err,
                   "endpoint: http://127.0.0.1:1\nauth: {authenticator: bearertokenauth/nope}\n");
  ck_assert_int_eq(rc, PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "\"bearertokenauth/nope\" is not defined in extensions"), "%s",
                err.msg);
  fx_close(&fx, 1000);
}
END_TEST

TCase *pc_test_headers_setter_tcase(void);
TCase *pc_test_headers_setter_tcase(void) {
  TCase *tc = tcase_create("headers_setter");
  tcase_add_test(tc, rules_apply_in_order);
  tcase_add_test(tc, unusable_values_are_refused);
  tcase_add_test(tc, config_errors_say_where);
  tcase_add_test(tc, exporters_check_their_authenticator);
  return tc;
}
