/* test_extension.c - the extension suite: one TCase per source file of
 * extension/ (the others are tested where they are used: bearertokenauth
 * with the receivers, headers_setter and file_storage with the exporters). */
#include <stdlib.h>

#include "extension/test_extension.h"

static Suite *extension_suite(void) {
  Suite *s = suite_create("extension");
  suite_add_tcase(s, pc_test_spans_tcase());
  suite_add_tcase(s, pc_test_query_tcase());
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(extension_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
