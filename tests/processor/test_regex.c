/* test_regex.c - the regex TCase: processor/regex.c, Go RE2 syntax on PCRE2
 * with Go's matching rules, and the backtracking limit. */
#include <stdio.h>
#include <string.h>

#include "common.h"

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

/* Compile pattern (a YAML scalar, quoted); NULL with err on a bad one. */
static pc__regex_t *compile(const char *pattern, pc_cfg_t **cfg, pc_err_t *err) {
  char yaml[512];
  snprintf(yaml, sizeof yaml, "p: '%s'\n", pattern);
  *cfg = pc_cfg_load_string("test.yaml", yaml, err);
  ck_assert_msg(*cfg != NULL, "%s", err->msg);
  return pc__regex_compile(pc_cfg_get(pc_cfg_root(*cfg), "p"), err);
}

static bool matches(const char *pattern, const char *s) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  pc__regex_t *re = compile(pattern, &cfg, &err);
  ck_assert_msg(re != NULL, "%s", err.msg);
  bool m = pc__regex_match(re, S(s));
  pc__regex_free(re);
  pc_cfg_free(cfg);
  return m;
}

START_TEST(regex_matches_as_go_does) {
  ck_assert(matches("b", "abc"));               /* unanchored, as MatchString */
  ck_assert(!matches("^b", "abc"));
  ck_assert(!matches("c$", "abc\n"));           /* $ is the very end, as in Go */
  ck_assert(matches("c$", "abc"));
  ck_assert(matches("^\\d+$", "2024"));
  ck_assert(!matches("^\\d+$", "２０"));          /* \d is ASCII, as in Go */
  ck_assert(matches("^(?:ab)+$", "abab"));
  ck_assert(matches("(?i)^GC-", "gc-worker"));
  ck_assert(matches("^é.$", "éa"));              /* UTF-8: . is one character */
  ck_assert(matches("", "anything"));
}
END_TEST

START_TEST(regex_names_groups_in_both_forms) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  pc__regex_t *re = compile("^(?P<pool>[a-z]+)-(\\d+)-(?<n>x)?$", &cfg, &err);
  ck_assert_msg(re != NULL, "%s", err.msg);
  ck_assert_uint_eq(pc__regex_groups(re), 3);
  ck_assert_str_eq(pc__regex_group_name(re, 1), "pool");
  ck_assert_ptr_null(pc__regex_group_name(re, 2));
  ck_assert_str_eq(pc__regex_group_name(re, 3), "n");
  pc_str_t g[4];
  ck_assert_int_eq(pc__regex_exec(re, S("gc-12-"), g), 1);
  ck_assert(pc_str_eq(g[0], S("gc-12-")) && pc_str_eq(g[1], S("gc")) && pc_str_eq(g[2], S("12")));
  ck_assert_uint_eq(g[3].n, 0); /* took no part: "" */
  ck_assert_int_eq(pc__regex_exec(re, S("GC-12-"), g), 0);
  pc__regex_free(re);
  pc_cfg_free(cfg);
}
END_TEST

/* A pattern that backtracks exponentially stops at the limit, quickly, and
 * counts as no match. */
START_TEST(regex_stops_catastrophic_backtracking) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  pc__regex_t *re = compile("^(a|aa)+$", &cfg, &err);
  ck_assert_msg(re != NULL, "%s", err.msg);
  char s[80];
  memset(s, 'a', sizeof s - 2);
  s[sizeof s - 2] = 'b';
  s[sizeof s - 1] = 0;
  uint64_t t0 = uv_hrtime();
  ck_assert_int_eq(pc__regex_exec(re, S(s), NULL), 0);
  ck_assert_uint_lt((uv_hrtime() - t0) / 1000000, 1000);
  ck_assert_uint_eq(pc__regex_limit_hits(re), 1);
  ck_assert_int_eq(pc__regex_exec(re, S("aaaa"), NULL), 1);
  pc__regex_free(re);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(regex_refuses_bad_patterns_with_the_place) {
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  ck_assert_ptr_null(compile("a(b", &cfg, &err));
  ck_assert_str_eq(err.msg, "test.yaml:1:4: p: invalid regular expression \"a(b\": missing "
                            "closing parenthesis at offset 3");
  pc_cfg_free(cfg);
}
END_TEST

TCase *pc_test_regex_tcase(void) {
  TCase *tc = tcase_create("regex");
  tcase_add_test(tc, regex_matches_as_go_does);
  tcase_add_test(tc, regex_names_groups_in_both_forms);
  tcase_add_test(tc, regex_stops_catastrophic_backtracking);
  tcase_add_test(tc, regex_refuses_bad_patterns_with_the_place);
  return tc;
}
