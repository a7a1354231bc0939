/* test_grpc.c - end to end over OTLP/gRPC: the real profcol binary with a
 * gRPC-only otlp receiver and the debug exporter, fed by Debian's
 * python3-grpcio (tests/grpc/grpc_client.py); every acknowledged request
 * reaches the exporter, and SIGTERM drains and exits 0. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static const char *const grpc_yaml =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: 127.0.0.1:0\n"
    "exporters:\n"
    "  debug:\n"
    "    verbosity: basic\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp]\n"
    "      exporters: [debug]\n";

static unsigned count(const char *hay, const char *needle) {
  unsigned n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

START_TEST(grpc_export_reaches_the_exporter) {
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, grpc_yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  int port = pc_e2e_port_of(&p, "receiver:otlp");
  ck_assert_int_gt(port, 0);
  ck_assert_int_eq(pc_e2e_grpc_client(port, (const char *const[]){"--streams", "8", "ok", "gzip",
                                                                   "concurrent", "malformed",
                                                                   "unknown", NULL}),
                   0);
  /* 10 accepted requests, each one line of the debug exporter. */
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "listening for OTLP/gRPC") && !strstr(log, "OTLP/HTTP"), "%s", log);
  ck_assert_msg(count(log, "profiles: resources=") == 10, "%s", log);
  ck_assert_msg(strstr(log, "shutdown complete"), "%s", log);
  /* Refused calls are logged: the first in full, the rest summed up. */
  ck_assert_msg(strstr(log, "info  [receiver:otlp] refused a request from 127.0.0.1:") &&
                    strstr(log, ": INVALID_ARGUMENT: at byte"), "%s", log);
  ck_assert_msg(strstr(log, "more requests in the 10 s after that: UNIMPLEMENTED x1"), "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-grpc");
  TCase *tc = tcase_create("grpc");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, grpc_export_reaches_the_exporter);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
