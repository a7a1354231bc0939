/* test_faults.c - end to end under faults: what profcol acknowledged while
 * its backend was down survives a kill -9 of profcol itself, and reaches
 * the backend once both are back (a second profcol is the backend). */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "e2e.h"

/* profcol with an otlphttp exporter to 127.0.0.1:backend_port, retrying
 * forever, on a persistent queue in qdir (more: extra file_storage keys). */
static void queued_yaml(char *yaml, size_t n, int backend_port, const char *compression,
                        const char *qdir, const char *more) {
  snprintf(yaml, n,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "exporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:%d\n    compression: %s\n"
           "    retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n"
           "      max_elapsed_time: 0s\n"
           "    sending_queue:\n      storage: file_storage/queue\n"
           "extensions:\n  file_storage/queue:\n    directory: %s\n%s"
           "service:\n  extensions: [file_storage/queue]\n  pipelines:\n    profiles:\n"
           "      receivers: [otlp]\n      exporters: [otlphttp]\n",
           backend_port, compression, qdir, more);
}

static int post_body(int port, const pc_buf_t *body, pc_e2e_resp_t *r) {
  return pc_e2e_post(port, "/v1development/profiles", "application/x-protobuf", NULL, body->p,
                     body->n, r);
}

START_TEST(acknowledged_data_survives_kill_9_and_backend_outage) {
  char dir[] = "/tmp/profcol-faults-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  int backend_port = pc_e2e_free_port();
  char yaml[2048], qdir[300];
  snprintf(qdir, sizeof qdir, "%s/queue", dir);
  queued_yaml(yaml, sizeof yaml, backend_port, "zstd", qdir, "    create_directory: true\n");
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start");

  /* The backend is down: every request is still acknowledged (queued on disk). */
  uint64_t per_request;
  pc_buf_t body = pc_test_rich_body(&per_request);
  const int n = 20;
  for (int i = 0; i < n; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(post_body(p.port, &body, &r), 200);
    pc_buf_free(&r.body);
  }
  /* kill -9: no drain, no goodbye. */
  kill(p.pid, SIGKILL);
  waitpid(p.pid, NULL, 0);
  p.pid = 0;

  /* The backend comes up (a second profcol writing what it gets to a file). */
  char out[300];
  snprintf(out, sizeof out, "%s/backend.binpb", dir);
  pc_e2e_proc_t backend;
  pc_e2e_start_file_sink(&backend, backend_port, out);

  /* profcol restarts on the same queue and delivers everything. */
  pc_e2e_proc_t again;
  pc_e2e_start_or_fail(&again, yaml, "restart");
  uint64_t want = per_request * (uint64_t)n, got = pc_e2e_wait_samples(out, want);
  ck_assert_int_eq(pc_e2e_stop(&again, 30), 0);
  ck_assert_int_eq(pc_e2e_stop(&backend, 30), 0);
  got = pc_e2e_samples_in_file(out);
  ck_assert_msg(got == want, "backend got %llu samples, want %llu", (unsigned long long)got,
                (unsigned long long)want);
  pc_buf_free(&body);
  pc_e2e_cleanup(&p);
  pc_e2e_cleanup(&again);
  pc_e2e_cleanup(&backend);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- issue 14: a full disk under the persistent queue ------------------------------------ */

/* Make dir a small disk for the profcol started next: a 96 KiB tmpfs in a
 * mount namespace of this test's own (Check runs each test in a child), or
 * where mounting is not allowed, a file-size limit that profcol inherits
 * (writes past it fail with EFBIG, as with ENOSPC on a full disk). Returns
 * the errno text the queue's refusals then carry. */
static const char *small_disk(const char *dir, bool *fsize) {
  *fsize = false;
  if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
      mount("tmpfs", dir, "tmpfs", 0, "size=96k,mode=0700") == 0)
    return strerror(ENOSPC);
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
  rl.rlim_cur = 96 * 1024;
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
  *fsize = true;
  return strerror(EFBIG);
}

/* The persistent queue fills its disk: 503 from then on (correct). The
 * backend comes back and every acknowledged batch is delivered once; then
 * the queue must take data again. It used to keep the sent segment, so the
 * disk stayed full and every request got 503 until a restart. */
START_TEST(issue14_queue_serves_again_after_a_full_disk) {
  signal(SIGXFSZ, SIG_IGN);
  char dir[] = "/tmp/profcol-diskfull-XXXXXX", qdir[64], out[96];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(qdir, sizeof qdir, "%s/queue", dir);
  snprintf(out, sizeof out, "%s/backend.binpb", dir);
  ck_assert_int_eq(mkdir(qdir, 0700), 0);
  bool fsize;
  const char *full = small_disk(qdir, &fsize);
  int backend_port = pc_e2e_free_port();
  char yaml[2048];
  queued_yaml(yaml, sizeof yaml, backend_port, "none", qdir, "");
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start");
  if (fsize) { /* only profcol keeps the limit */
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
  }

  uint64_t per_request;
  pc_buf_t body = pc_test_rich_body(&per_request);
  /* The backend is down: batches are acknowledged until the disk is full. */
  uint64_t accepted = 0;
  pc_e2e_resp_t r;
  int status = 0;
  for (int i = 0; i < 2000; i++) {
    status = post_body(p.port, &body, &r);
    bool space = strstr((const char *)r.body.p ? (const char *)r.body.p : "", full) != NULL;
    pc_buf_free(&r.body);
    if (status != 200) {
      ck_assert_msg(status == 503 && space, "answer %d before the disk was full", status);
      break;
    }
    accepted++;
  }
  ck_assert_int_eq(status, 503);
  ck_assert_uint_gt(accepted, 0);

  /* The backend comes up: a second profcol writing what it gets to a file. */
  pc_e2e_proc_t backend;
  pc_e2e_start_file_sink(&backend, backend_port, out);
  uint64_t want = per_request * accepted, got = pc_e2e_wait_samples(out, want);
  ck_assert_msg(got == want, "backend got %llu samples of %llu acknowledged",
                (unsigned long long)got, (unsigned long long)want);

  /* The queue takes data again. */
  status = 0;
  for (int i = 0; i < 100 && status != 200; i++) {
    status = post_body(p.port, &body, &r);
    pc_buf_free(&r.body);
    if (status != 200) usleep(100000);
  }
  ck_assert_msg(status == 200, "still %d after every queued batch was delivered", status);
  for (int i = 0; i < 9; i++) {
    ck_assert_int_eq(post_body(p.port, &body, &r), 200);
    pc_buf_free(&r.body);
  }
  want += 10 * per_request;
  pc_e2e_wait_samples(out, want);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  ck_assert_int_eq(pc_e2e_stop(&backend, 30), 0);
  got = pc_e2e_samples_in_file(out); /* exactly once: no batch twice */
  ck_assert_msg(got == want, "backend got %llu samples, want %llu", (unsigned long long)got,
                (unsigned long long)want);
  pc_buf_free(&body);
  pc_e2e_cleanup(&p);
  pc_e2e_cleanup(&backend);
  if (!fsize) umount(qdir);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, acknowledged_data_survives_kill_9_and_backend_outage);
  suite_add_tcase(s, tc);
  TCase *i14 = tcase_create("issue_14");
  tcase_set_timeout(i14, 120);
  tcase_add_test(i14, issue14_queue_serves_again_after_a_full_disk);
  suite_add_tcase(s, i14);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
