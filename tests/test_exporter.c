/* test_exporter.c - the exporter suite: one TCase per source file of
 * exporter/ (queue.c; send.c; otlphttp.c with client.c and component/curl.c
 * under it; file.c with file_storage.c and debug.c; otlpgrpc.c and
 * grpcwire.c against the otlp receiver and against python3-grpcio;
 * headers_setter.c; ring.c and load_balancing.c), against real loopback
 * sockets and real files. */
#include <check.h>
#include <stdlib.h>

TCase *pc_test_queue_tcase(void);
TCase *pc_test_send_tcase(void);
TCase *pc_test_otlphttp_tcase(void);
TCase *pc_test_file_tcase(void);
TCase *pc_test_otlp_tcase(void);
TCase *pc_test_otlp_grpcio_tcase(void);
TCase *pc_test_headers_setter_tcase(void);
TCase *pc_test_lb_tcase(void);

static Suite *exporter_suite(void) {
  Suite *s = suite_create("exporter");
  suite_add_tcase(s, pc_test_queue_tcase());
  suite_add_tcase(s, pc_test_send_tcase());
  suite_add_tcase(s, pc_test_otlphttp_tcase());
  suite_add_tcase(s, pc_test_file_tcase());
  suite_add_tcase(s, pc_test_otlp_tcase());
  suite_add_tcase(s, pc_test_otlp_grpcio_tcase());
  suite_add_tcase(s, pc_test_headers_setter_tcase());
  suite_add_tcase(s, pc_test_lb_tcase());
  return s;
}

int main(void) {
  /* libcurl honours proxy variables, as the Collector does; the tests talk
   * to 127.0.0.1 directly. */
  static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
  SRunner *sr = srunner_create(exporter_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
