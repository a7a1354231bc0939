/* test_trace_link.h - the trace_link TCase of the processor suite. */
#ifndef PC_TEST_TRACE_LINK_H
#define PC_TEST_TRACE_LINK_H

#include <check.h>

TCase *pc_test_trace_link_tcase(void);

#endif
