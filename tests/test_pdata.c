/* test_pdata.c - the pdata suite: one TCase per source file of pdata/. */
#include <stdlib.h>

#include "pdata/testdata.h"

static Suite *pdata_suite(void) {
  Suite *s = suite_create("pdata");
  suite_add_tcase(s, pc_test_proto_tcase());
  suite_add_tcase(s, pc_test_json_tcase());
  suite_add_tcase(s, pc_test_json_bounds_tcase());
  suite_add_tcase(s, pc_test_json_names_tcase());
  suite_add_tcase(s, pc_test_json_syntax_tcase());
  suite_add_tcase(s, pc_test_stats_tcase());
  suite_add_tcase(s, pc_test_intern_tcase());
  suite_add_tcase(s, pc_test_pprof_tcase());
  suite_add_tcase(s, pc_test_stacks_tcase());
  suite_add_tcase(s, pc_test_traces_tcase());
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(pdata_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
