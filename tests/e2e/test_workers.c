/* test_workers.c - end to end: service.workers runs several loops in the
 * real binary. Both workers take connections (SO_REUSEPORT spreads them:
 * each worker's file exporter writes a file of its own), a reload and a
 * drain lose nothing either worker acknowledged, and a persistent queue
 * keeps one directory per worker that is replayed whole, also by fewer
 * workers after a restart. The summed metrics page is in test_telemetry.c. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "e2e.h"

/* n POSTs of body, each over a fresh connection (a new source port, so the
 * kernel's SO_REUSEPORT hash picks a worker anew), all acknowledged. */
static void post_n(int port, const pc_buf_t *body, int n) {
  for (int i = 0; i < n; i++) {
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_post(port, "/v1development/profiles", "application/x-protobuf",
                                 NULL, body->p, body->n, &r),
                     200);
    pc_buf_free(&r.body);
  }
}

static void rm_rf(const char *dir) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Batches that wait (timeout 1 h, no size trigger reached) until a reload
 * or a drain flushes them, into a file per worker. */
static const char *const file_yaml_fmt =
    "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:%d\n"
    "processors:\n  batch:\n    timeout: 1h\n    send_batch_size: 1000000\n"
    "exporters:\n  file:\n    path: %s/out.binpb\n    format: proto\n"
    "service:\n  workers: 2\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
    "      processors: [batch]\n      exporters: [file]\n";

START_TEST(two_workers_take_connections_and_drain_loses_nothing) {
  char dir[] = "/tmp/profcol-workers-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048], out0[300], out1[300];
  /* A fixed port: a reload of port 0 would listen on a fresh one. */
  snprintf(yaml, sizeof yaml, file_yaml_fmt, pc_e2e_free_port(), dir);
  snprintf(out0, sizeof out0, "%s/out.binpb", dir);
  snprintf(out1, sizeof out1, "%s/out.w1.binpb", dir);
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start with 2 workers");
  ck_assert(pc_e2e_wait_log(&p, "2 workers (service.workers)", 1000));

  uint64_t per;
  pc_buf_t body = pc_test_rich_body(&per);
  const int n = 40;
  post_n(p.port, &body, n);
  /* Everything acknowledged sits in the workers' batches. */
  ck_assert_int_eq(pc_e2e_samples_in_file(out0) + pc_e2e_samples_in_file(out1), 0);

  /* A reload: every worker starts the new copy and drains the old one's
   * batch into its file. */
  pc_e2e_signal(&p, SIGHUP);
  ck_assert(pc_e2e_wait_log(&p, "the previous config's pipelines are drained and closed",
                            10000));
  uint64_t after_reload = pc_e2e_samples_in_file(out0) + pc_e2e_samples_in_file(out1);
  ck_assert_msg(after_reload == per * n, "after the reload %llu samples, want %llu",
                (unsigned long long)after_reload, (unsigned long long)(per * n));

  /* More, then a drain: each worker flushes its own batch. */
  post_n(p.port, &body, n);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  uint64_t w0 = pc_e2e_samples_in_file(out0), w1 = pc_e2e_samples_in_file(out1);
  ck_assert_msg(w0 + w1 == 2 * per * n, "worker 0 wrote %llu samples, worker 1 %llu; want %llu "
                "in all", (unsigned long long)w0, (unsigned long long)w1,
                (unsigned long long)(2 * per * n));
  /* 80 connections all hashed to one worker: 2^-79. */
  ck_assert_msg(w0 > 0 && w1 > 0, "one worker took every connection: %llu and %llu samples",
                (unsigned long long)w0, (unsigned long long)w1);
  pc_buf_free(&body);
  pc_e2e_cleanup(&p);
  rm_rf(dir);
}
END_TEST

/* service.workers rejects what is not a count, with the line. */
START_TEST(workers_value_is_checked) {
  const char *yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n"
                     "        endpoint: 127.0.0.1:0\n"
                     "exporters:\n  nop:\n"
                     "service:\n  workers: 0\n  pipelines:\n    profiles:\n"
                     "      receivers: [otlp]\n      exporters: [nop]\n";
  pc_e2e_proc_t p;
  ck_assert(!pc_e2e_start(&p, yaml));
  pc_e2e_wait_exit(&p, 10);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "9:12: ") &&
                    strstr(log, "expected a number of workers from 1 to 1024, or auto, got \"0\""),
                "%s", log);
  free(log);
  pc_e2e_cleanup(&p);
}
END_TEST

/* One span_store for the process, whatever service.workers says: created
 * and started once (one query API listener, one line), found by every
 * worker's trace_link (tests/e2e/test_tracelink.c links across workers). */
START_TEST(workers_share_one_span_store) {
  const char *yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n"
                     "        endpoint: 127.0.0.1:0\n"
                     "processors:\n  trace_link:\n"
                     "exporters:\n  nop:\n"
                     "extensions:\n  span_store:\n    endpoint: 127.0.0.1:0\n"
                     "service:\n  workers: 2\n  extensions: [span_store]\n"
                     "  pipelines:\n"
                     "    traces: {receivers: [otlp], processors: [trace_link], exporters: [nop]}\n"
                     "    profiles:\n"
                     "      receivers: [otlp]\n      processors: [trace_link]\n"
                     "      exporters: [nop]\n";
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start 2 workers with a span_store");
  ck_assert(pc_e2e_wait_log(&p, "2 workers (service.workers)", 5000));
  ck_assert_int_eq(pc_e2e_log_count(&p, "query API listening on"), 1);
  int query = pc_e2e_port_of(&p, "extension:span_store");
  ck_assert_int_gt(query, 0);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(query, "/api/v1/traces", &r), 200);
  pc_buf_free(&r.body);
  /* A reload builds a new store, once, and drains the old one. */
  pc_e2e_signal(&p, SIGHUP);
  ck_assert(pc_e2e_wait_log(&p, "the previous config's pipelines are drained and closed",
                            10000));
  ck_assert_int_eq(pc_e2e_log_count(&p, "query API listening on"), 2);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

/* Startup lines: each once (worker 0's), with one line saying the other
 * workers run the same; a processor in two pipelines says which pipeline
 * each of its lines is about. */
START_TEST(startup_lines_once_and_name_the_pipeline) {
  const char *yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n"
                     "        endpoint: 127.0.0.1:0\n"
                     "processors:\n  memory_limiter: {check_interval: 1s, limit_mib: 100000}\n"
                     "exporters:\n  nop:\n"
                     "service:\n  workers: 3\n"
                     "  pipelines:\n"
                     "    profiles: {receivers: [otlp], processors: [memory_limiter], "
                     "exporters: [nop]}\n"
                     "    profiles/b: {receivers: [otlp], processors: [memory_limiter], "
                     "exporters: [nop]}\n";
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start 3 workers");
  ck_assert(pc_e2e_wait_log(&p, "3 workers (service.workers)", 5000));
  char *log = pc_e2e_log(&p);
  ck_assert_msg(pc_e2e_log_count(&p, "listening for OTLP/HTTP") == 1, "%s", log);
  ck_assert_msg(pc_e2e_log_count(&p, "the other workers run the same components on the "
                                     "same ports") == 1, "%s", log);
  ck_assert_msg(pc_e2e_log_count(&p, "refusing data at") == 2, "%s", log);
  ck_assert_msg(pc_e2e_log_count(&p, "[processor:memory_limiter in pipeline profiles] "
                                     "refusing data at") == 1, "%s", log);
  ck_assert_msg(pc_e2e_log_count(&p, "[processor:memory_limiter in pipeline profiles/b] "
                                     "refusing data at") == 1, "%s", log);
  free(log);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

/* The pprof receiver's remote and file modes run on a timer: with two
 * workers they run in worker 0 alone (each target scraped and each file
 * read once: tests/e2e/test_pprof.c), not refused. */
START_TEST(workers_take_scheduled_pprof_modes) {
  const char *yaml = "receivers:\n  pprof/scrape:\n    remote:\n"
                     "      endpoint: http://127.0.0.1:1/debug/pprof/profile\n"
                     "  pprof/files:\n    file:\n      include: /nonexistent/*.pprof\n"
                     "exporters:\n  nop:\n"
                     "service:\n  workers: 2\n  pipelines:\n    profiles:\n"
                     "      receivers: [pprof/scrape, pprof/files]\n      exporters: [nop]\n";
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start 2 workers with pprof's remote and file modes");
  ck_assert(pc_e2e_wait_log(&p, "2 workers (service.workers)", 5000));
  ck_assert_int_eq(
      pc_e2e_log_count(&p, "scraping http://127.0.0.1:1/debug/pprof/profile every"), 1);
  ck_assert_int_eq(pc_e2e_log_count(&p, "reading pprof files matching /nonexistent/*.pprof"), 1);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

START_TEST(workers_take_the_pprof_server_mode) {
  const char *yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n"
                     "        endpoint: 127.0.0.1:0\n"
                     "  pprof:\n    server:\n      endpoint: 127.0.0.1:0\n"
                     "exporters:\n  nop:\n"
                     "service:\n  workers: 2\n  pipelines:\n    profiles:\n"
                     "      receivers: [otlp, pprof]\n      exporters: [nop]\n";
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start two workers with a pprof server");
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

/* auto: one worker per CPU the process may use (the test's affinity is
 * profcol's: it inherits it). */
START_TEST(workers_auto_takes_the_usable_cpus) {
  const char *yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n"
                     "        endpoint: 127.0.0.1:0\n"
                     "exporters:\n  nop:\n"
                     "service:\n  workers: auto\n  pipelines:\n    profiles:\n"
                     "      receivers: [otlp]\n      exporters: [nop]\n";
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start with workers: auto");
  uint32_t cpus = pc_cpus_usable();
  if (cpus > 1) {
    char want[64];
    snprintf(want, sizeof want, "%u workers (service.workers)", cpus);
    ck_assert(pc_e2e_wait_log(&p, want, 1000));
  }
  uint64_t per;
  pc_buf_t body = pc_test_rich_body(&per);
  post_n(p.port, &body, 4);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_buf_free(&body);
  pc_e2e_cleanup(&p);
}
END_TEST

/* ---- the persistent queue: a directory per worker ------------------------------------------- */

/* otlphttp to 127.0.0.1:backend_port, retrying forever, persistent queue
 * in qdir, on workers workers; drains give up after 1 s (what is unsent
 * stays on disk). */
static void queued_yaml(char *yaml, size_t n, int backend_port, const char *qdir,
                        int workers) {
  snprintf(yaml, n,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "exporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:%d\n"
           "    retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n"
           "      max_elapsed_time: 0s\n"
           "    sending_queue:\n      storage: file_storage\n"
           "extensions:\n  file_storage:\n    directory: %s\n    create_directory: true\n"
           "service:\n  workers: %d\n  shutdown_timeout: 1s\n  extensions: [file_storage]\n"
           "  pipelines:\n    profiles:\n      receivers: [otlp]\n      exporters: [otlphttp]\n",
           backend_port, qdir, workers);
}

/* How many entries of qdir end in "@w<digits>" (worker directories). */
static int worker_dirs(const char *qdir) {
  DIR *d = opendir(qdir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    const char *at = strstr(e->d_name, "@w");
    if (at && at[2] >= '1' && at[2] <= '9') n++;
  }
  closedir(d);
  return n;
}

/* Two workers queue on disk while the backend is down, each in a directory
 * of its own; a restart with restart_workers replays every directory. */
static void queue_replays(int restart_workers) {
  char dir[] = "/tmp/profcol-wqueue-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char qdir[300], out[300], yaml[2048];
  snprintf(qdir, sizeof qdir, "%s/queue", dir);
  snprintf(out, sizeof out, "%s/backend.binpb", dir);
  int backend_port = pc_e2e_free_port();
  queued_yaml(yaml, sizeof yaml, backend_port, qdir, 2);
  pc_e2e_proc_t p;
  pc_e2e_start_or_fail(&p, yaml, "start with 2 workers");
  uint64_t per;
  pc_buf_t body = pc_test_rich_body(&per);
  const int n = 30;
  post_n(p.port, &body, n);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  /* Worker 0's directory is the one a single worker uses, worker 1's beside it. */
  ck_assert_int_eq(worker_dirs(qdir), 1);

  pc_e2e_proc_t backend;
  pc_e2e_start_file_sink(&backend, backend_port, out);
  queued_yaml(yaml, sizeof yaml, backend_port, qdir, restart_workers);
  pc_e2e_proc_t again;
  pc_e2e_start_or_fail(&again, yaml, "restart on the queue");
  uint64_t want = per * (uint64_t)n, got = pc_e2e_wait_samples(out, want);
  ck_assert_int_eq(pc_e2e_stop(&again, 30), 0);
  ck_assert_int_eq(pc_e2e_stop(&backend, 30), 0);
  got = pc_e2e_samples_in_file(out);
  char *log = pc_e2e_log(&again);
  ck_assert_msg(got == want, "backend got %llu samples, want %llu\n%s", (unsigned long long)got,
                (unsigned long long)want, log);
  if (restart_workers == 1) { /* worker 1's directory was taken over, then removed */
    ck_assert_msg(strstr(log, "the directory of a worker that no longer runs"), "%s", log);
    ck_assert_int_eq(worker_dirs(qdir), 0);
  } else {
    ck_assert_int_eq(worker_dirs(qdir), 1);
  }
  free(log);
  pc_buf_free(&body);
  pc_e2e_cleanup(&p);
  pc_e2e_cleanup(&again);
  pc_e2e_cleanup(&backend);
  rm_rf(dir);
}

START_TEST(queue_dir_per_worker_replays_with_as_many_workers) { queue_replays(2); }
END_TEST

START_TEST(queue_dirs_of_two_workers_replay_on_one) { queue_replays(1); }
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-workers");
  TCase *tc = tcase_create("workers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, two_workers_take_connections_and_drain_loses_nothing);
  tcase_add_test(tc, workers_value_is_checked);
  tcase_add_test(tc, workers_share_one_span_store);
  tcase_add_test(tc, startup_lines_once_and_name_the_pipeline);
  tcase_add_test(tc, workers_take_scheduled_pprof_modes);
  tcase_add_test(tc, workers_take_the_pprof_server_mode);
  tcase_add_test(tc, workers_auto_takes_the_usable_cpus);
  tcase_add_test(tc, queue_dir_per_worker_replays_with_as_many_workers);
  tcase_add_test(tc, queue_dirs_of_two_workers_replay_on_one);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
