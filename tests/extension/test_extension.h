/* test_extension.h - the extension suite's TCases, one per source file. */
#ifndef PC_TEST_EXTENSION_H
#define PC_TEST_EXTENSION_H

#include <check.h>

TCase *pc_test_spans_tcase(void);
TCase *pc_test_query_tcase(void);

#endif
