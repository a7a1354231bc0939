/* test_proto.c - placeholder; the real cases land with the implementation. */
#include "testdata.h"

START_TEST(placeholder_proto) { ck_assert_int_eq(1, 1); }
END_TEST

TCase *pc_test_proto_tcase(void) {
  TCase *tc = tcase_create("proto");
  tcase_add_test(tc, placeholder_proto);
  return tc;
}
