/* test_pprofrx.h - the pprof receiver's TCases of the receiver suite
 * (tests/receiver/test_pprofrx.c), added by tests/test_receiver.c. */
#ifndef PC_TEST_PPROFRX_H
#define PC_TEST_PPROFRX_H

#include <check.h>

void pc_test_pprofrx_tcases(Suite *s);

#endif
