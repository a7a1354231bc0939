/* test_stats.c - placeholder; the real cases land with the implementation. */
#include "testdata.h"

START_TEST(placeholder_stats) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *pc_test_stats_tcase(void) {
  TCase *tc = tcase_create("stats");
  tcase_add_test(tc, placeholder_stats);
  return tc;
}
