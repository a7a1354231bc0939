/* test_json.c - placeholder; the real cases land with the implementation. */
#include "testdata.h"

START_TEST(placeholder_json) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *pc_test_json_tcase(void) {
  TCase *tc = tcase_create("json");
  tcase_add_test(tc, placeholder_json);
  return tc;
}
