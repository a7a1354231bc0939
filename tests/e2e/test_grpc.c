/* test_grpc.c - end to end over OTLP/gRPC: the real profcol binary with a
 * gRPC-only otlp receiver and the debug exporter, fed by Debian's
 * python3-grpcio (tests/grpc/grpc_client.py); every acknowledged request
 * reaches the exporter, and SIGTERM drains and exits 0. */
#include <check.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"

extern char **environ;

#define PYTHON "/usr/bin/python3"

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

/* grpc_client.py against port with the cases given (NULL-ended). */
static int run_client(int port, ...) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  char script[1024], protos[1024], request[1024], port_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_client.py", root);
  snprintf(protos, sizeof protos, "%s/proto", root);
  snprintf(request, sizeof request, "%s/tests/data/request.txtpb", root);
  snprintf(port_s, sizeof port_s, "%d", port);
  char *argv[24] = {PYTHON, script, "--port", port_s, "--proto-root", protos, "--request",
                    request};
  int n = 8;
  va_list ap;
  va_start(ap, port);
  for (char *a; (a = va_arg(ap, char *)) && n < 23;) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid;
  ck_assert_int_eq(posix_spawn(&pid, PYTHON, NULL, NULL, argv, environ), 0);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

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
  ck_assert_int_eq(run_client(port, "--streams", "8", "ok", "gzip", "concurrent", "malformed",
                              "unknown", NULL), 0);
  /* 10 accepted requests, each one line of the debug exporter. */
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "listening for OTLP/gRPC") && !strstr(log, "OTLP/HTTP"), "%s", log);
  ck_assert_msg(count(log, "profiles: resources=") == 10, "%s", log);
  ck_assert_msg(strstr(log, "shutdown complete"), "%s", log);
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
