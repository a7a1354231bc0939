/* test_json.c - end to end, OTLP-JSON bodies that try to exhaust the
 * receiver (issue 14): the real profcol binary gets a few KB of zstd that
 * inflate to a body built to expand, over a real loopback socket, and must
 * answer it at once with the peak resident set of the profcol process
 * (VmHWM in /proc/PID/status, reset before each request through
 * /proc/PID/clear_refs) bounded by its limits, not by what the body asks.
 *
 * The receiver allows 4 MiB bodies here, so one request may decode into
 * max(16 x 4 MiB, 16 MiB) = 64 MiB (RX_ARENA_FACTOR, receiver/internal.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e2e.h"

#define BODY_LIMIT ((size_t)4 << 20)
#define ARENA_LIMIT ((size_t)64 << 20)

/* Sanitizers add shadow memory and keep freed blocks in quarantine. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_FACTOR 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_SLACK_FACTOR 3
#endif
#endif
#ifndef RSS_SLACK_FACTOR
#define RSS_SLACK_FACTOR 1
#endif

static const char *const yaml =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http:\n"
    "        endpoint: 127.0.0.1:0\n"
    "        max_request_body_size: 4MiB\n"
    "exporters:\n"
    "  nop:\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      exporters: [nop]\n";

static size_t status_kb(pid_t pid, const char *key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  size_t kb = 0, n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) kb = strtoull(line + n, NULL, 10);
  fclose(f);
  ck_assert_uint_gt(kb, 0);
  return kb;
}

static void reset_peak_rss(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_ge(fputs("5", f), 0);
  ck_assert_int_eq(fclose(f), 0);
}

/* head, filler repeated, tail: just under the body limit, zstd-compressed. */
static pc_buf_t bomb(const char *head, const char *filler, const char *tail) {
  pc_buf_t plain = {0}, z = {0};
  size_t h = strlen(head), f = strlen(filler), t = strlen(tail), room = BODY_LIMIT - 64;
  ck_assert_int_eq(pc_buf_reserve(&plain, room), 0);
  memcpy(plain.p, head, h);
  plain.n = h;
  /* No assertion per filler: Check reports each one through a pipe. */
  for (; plain.n + f + t < room; plain.n += f) memcpy(plain.p + plain.n, filler, f);
  if (filler[f - 1] == ',') plain.n--;
  memcpy(plain.p + plain.n, tail, t);
  plain.n += t;
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 0, plain.p, plain.n, &z), 0);
  pc_buf_free(&plain);
  return z;
}

typedef struct {
  int status;
  char body[512];
  double seconds;
  size_t peak_growth_kb; /* profcol's peak RSS during the request over its RSS before */
} answer_t;

static answer_t post_bomb(const pc_e2e_proc_t *p, const pc_buf_t *z) {
  answer_t a = {0};
  reset_peak_rss(p->pid);
  size_t before = status_kb(p->pid, "VmRSS:");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pc_e2e_resp_t r;
  a.status = pc_e2e_post(p->port, "/v1development/profiles", "application/json", "zstd", z->p,
                         z->n, &r);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  a.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  size_t peak = status_kb(p->pid, "VmHWM:");
  a.peak_growth_kb = peak > before ? peak - before : 0;
  snprintf(a.body, sizeof a.body, "%.*s", (int)(r.body.n < 500 ? r.body.n : 500),
           r.body.p ? (const char *)r.body.p : "");
  pc_buf_free(&r.body);
  /* For the record (the test log): what the attack cost. */
  fprintf(stderr, "e2e-json: %zu B of zstd: %d after %.2f s, peak RSS +%zu KiB\n", z->n,
          a.status, a.seconds, a.peak_growth_kb);
  return a;
}

/* Elements of fields that are read expand 19 to 27 times in pdata: the
 * decode stops at the 64 MiB a request may take, before taking more, and
 * the answer is 413. jansson built the whole document first (some 350 MB
 * for these 4 MiB). */
START_TEST(expanding_json_is_answered_413_within_the_limit) {
  static const char *const heads[] = {
      "{\"resourceProfiles\":[",
      "{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{\"samples\":["};
  static const char *const fillers[] = {"{},", "{},"};
  static const char *const tails[] = {"]}", "]}]}]}]}"};
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  for (int i = 0; i < 2; i++) {
    pc_buf_t z = bomb(heads[i], fillers[i], tails[i]);
    ck_assert_uint_lt(z.n, 64 * 1024);
    answer_t a = post_bomb(&p, &z);
    ck_assert_msg(a.status == 413, "%s: status %d: %s", heads[i], a.status, a.body);
    ck_assert_msg(strstr(a.body, "needs more than the 67108864 bytes allowed"), "%s", a.body);
    size_t bound_kb = (ARENA_LIMIT + 2 * BODY_LIMIT) / 1024 * RSS_SLACK_FACTOR + 16384;
    ck_assert_msg(a.peak_growth_kb < bound_kb, "%s: peak RSS grew by %zu KiB (bound %zu KiB)",
                  heads[i], a.peak_growth_kb, bound_kb);
    ck_assert_msg(a.seconds < 20, "%s: answered after %.1f s", heads[i], a.seconds);
    pc_buf_free(&z);
  }
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

/* The body, {"x":[{},{},...]}: skipped without memory, and refused
 * with 400 for what it is (no profile, an unknown key), not answered 200.
 * 3000 levels of nesting: refused at 2048. */
START_TEST(skipped_json_is_answered_400_without_memory) {
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  pc_buf_t z = bomb("{\"x\":[", "{},", "]}");
  answer_t a = post_bomb(&p, &z);
  ck_assert_msg(a.status == 400, "status %d: %s", a.status, a.body);
  ck_assert_msg(strstr(a.body, "no profiles, and unknown key \\\"x\\\""), "%s", a.body);
  size_t bound_kb = 2 * BODY_LIMIT / 1024 * RSS_SLACK_FACTOR + 16384;
  ck_assert_msg(a.peak_growth_kb < bound_kb, "peak RSS grew by %zu KiB (bound %zu KiB)",
                a.peak_growth_kb, bound_kb);
  ck_assert_msg(a.seconds < 20, "answered after %.1f s", a.seconds);
  pc_buf_free(&z);

  z = bomb("{\"resourceProfiles\":[{\"x\":", "[", "");
  a = post_bomb(&p, &z);
  ck_assert_msg(a.status == 400, "status %d: %s", a.status, a.body);
  ck_assert_msg(strstr(a.body, "maximum parsing depth reached near '['"), "%s", a.body);
  ck_assert_msg(a.peak_growth_kb < bound_kb, "peak RSS grew by %zu KiB (bound %zu KiB)",
                a.peak_growth_kb, bound_kb);
  pc_buf_free(&z);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-json");
  TCase *tc = tcase_create("issue_14_json_bombs");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, expanding_json_is_answered_413_within_the_limit);
  tcase_add_test(tc, skipped_json_is_answered_400_without_memory);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
