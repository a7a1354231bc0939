/* test_flags.c - the command line a Collector user types (issue 12): the
 * built-in config serving OTLP/gRPC and OTLP/HTTP on the default ports,
 * --feature-gates, --set, config URIs (file:, env:, yaml:) and "::" keys,
 * and --help for every command. The real binary, over real sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "e2e.h"

typedef struct {
  int status;
  pc_buf_t out; /* stdout and stderr */
} ran_t;

static ran_t run(const char *const *args) {
  ran_t r = {0};
  r.status = pc_e2e_run(args, &r.out);
  return r;
}
#define RUN(...) run((const char *const[]){__VA_ARGS__, NULL})

static void expect(ran_t *r, int status, const char *needle) {
  const char *text = r->out.p ? (const char *)r->out.p : "";
  ck_assert_msg(r->status == status, "exit %d, want %d:\n%s", r->status, status, text);
  if (needle) ck_assert_msg(strstr(text, needle), "missing \"%s\" in:\n%s", needle, text);
  pc_buf_free(&r->out);
}

static const char base_yaml[] =
    "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
    "exporters:\n  debug:\n    verbosity: basic\n"
    "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n      exporters: [debug]\n";

static char dir[64];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/profcol-flags-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static const char *write_config(const char *name, const char *yaml) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(yaml, f);
  fclose(f);
  return path;
}

/* ---- the built-in config on the default ports ----------------------------------------- */

static bool write_proc(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text);
}

/* Move this test (Check runs each in a child of its own) and the profcol it
 * starts into a network namespace of their own with its loopback up, so that
 * the default ports are free whatever else listens on 4317 or 4318 on the
 * machine. Root may make one directly; anyone else through a user namespace
 * mapping their own ids (files made in the test's directory keep their
 * owner). false with errno where neither is allowed (some containers). */
static bool private_loopback(void) {
  if (unshare(CLONE_NEWNET) != 0) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return false;
    char map[64];
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (!write_proc("/proc/self/uid_map", map)) return false;
    (void)write_proc("/proc/self/setgroups", "deny\n"); /* absent on old kernels */
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (!write_proc("/proc/self/gid_map", map)) return false;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  bool up = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP, true) &&
            ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  int saved = errno;
  close(fd);
  errno = saved;
  return up;
}

/* Whether something holds port on 127.0.0.1: a bind with SO_REUSEADDR, as
 * profcol's own, fails only where a socket is bound or listening there. */
static bool port_taken(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool taken = bind(fd, (struct sockaddr *)&a, sizeof a) != 0;
  close(fd);
  return taken;
}

/* Start profcol with no --config plus args (NULL-ended), and check that the
 * built-in config serves OTLP/gRPC and OTLP/HTTP where the log lines
 * grpc_line and http_line say, on grpc_port and http_port, into the debug
 * exporter. */
static void check_built_in(const char *const *args, int grpc_port, const char *grpc_line,
                           int http_port, const char *http_line) {
  pc_e2e_proc_t p;
  bool up = pc_e2e_start_args(&p, NULL, args);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(up, "profcol did not start:\n%s", log);
  ck_assert_msg(strstr(log, grpc_line) && strstr(log, http_line), "want \"%s\" and \"%s\" in:\n%s",
                grpc_line, http_line, log);
  free(log);
  pc_arena_t *arena = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_buf_t body = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &body), 0);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(http_port, "/v1development/profiles", "application/x-protobuf",
                               NULL, body.p, body.n, &r), 200);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_grpc_client(grpc_port, (const char *const[]){"ok", NULL}), 0);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "no --config given: using the built-in config"), "%s", log);
  /* The debug exporter (verbosity normal) shows both requests. */
  unsigned shown = 0;
  for (const char *c = log; (c = strstr(c, "profiles: resources=")); c++) shown++;
  ck_assert_msg(shown == 2, "%u requests shown:\n%s", shown, log);
  free(log);
  pc_buf_free(&body);
  pc_arena_free(arena);
  pc_e2e_cleanup(&p);
}

/* The README's quick start: no --config serves gRPC on 4317 and HTTP on
 * 4318 (the eBPF profiler speaks gRPC only). Another collector on the
 * machine may hold those ports, so the test runs in a network namespace of
 * its own; where it may not make one and a port is taken, it says so and
 * checks the same built-in config on free ports, leaving out only the
 * default port numbers. */
START_TEST(built_in_config_serves_grpc_and_http) {
  const char *const metrics[] = {"--set", "service.telemetry.metrics.address=127.0.0.1:0", NULL};
  const char *grpc_line = "listening for OTLP/gRPC on localhost:4317 (port 4317)";
  const char *http_line = "listening for OTLP/HTTP on localhost:4318 (port 4318)";
  if (private_loopback()) {
    check_built_in(metrics, 4317, grpc_line, 4318, http_line);
    return;
  }
  const char *why = strerror(errno);
  int taken = port_taken(4317) ? 4317 : port_taken(4318) ? 4318 : 0;
  if (!taken) {
    check_built_in(metrics, 4317, grpc_line, 4318, http_line);
    return;
  }
  fprintf(stderr,
          "built_in_config_serves_grpc_and_http: NOT CHECKED: the default ports; port %d on "
          "127.0.0.1 is taken by another process and this test may not make a network "
          "namespace of its own (unshare: %s). The built-in config is checked on free ports "
          "instead.\n",
          taken, why);
  int grpc = pc_e2e_free_port(), http = pc_e2e_free_port();
  char grpc_set[96], http_set[96], grpc_want[96], http_want[96];
  snprintf(grpc_set, sizeof grpc_set, "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:%d", grpc);
  snprintf(http_set, sizeof http_set, "receivers.otlp.protocols.http.endpoint=127.0.0.1:%d", http);
  snprintf(grpc_want, sizeof grpc_want, "listening for OTLP/gRPC on 127.0.0.1:%d (port %d)", grpc,
           grpc);
  snprintf(http_want, sizeof http_want, "listening for OTLP/HTTP on 127.0.0.1:%d (port %d)", http,
           http);
  check_built_in((const char *const[]){metrics[0], metrics[1], "--set", grpc_set, "--set",
                                       http_set, NULL},
                 grpc, grpc_want, http, http_want);
}
END_TEST

START_TEST(feature_gates_as_the_collector_takes_them) {
  const char *cfg = write_config("base.yaml", base_yaml);
  ran_t r = RUN("validate", "--config", cfg, "--feature-gates=service.profilesSupport");
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--feature-gates", "+service.profilesSupport", "--config", cfg);
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--config", cfg, "--feature-gates=service.profilesSupport,bogus.gate");
  expect(&r, 2, "unknown feature gate \"bogus.gate\"; profcol knows: service.profilesSupport");
  r = RUN("validate", "--config", cfg, "--feature-gates=-service.profilesSupport");
  expect(&r, 2, "feature gate \"service.profilesSupport\" cannot be turned off");
  r = RUN("validate", "--config", cfg, "--feature-gates=service.profilesSupport,,");
  expect(&r, 2, "empty feature gate name");
}
END_TEST

START_TEST(set_overrides_after_every_config) {
  const char *cfg = write_config("base.yaml", base_yaml);
  ran_t r = RUN("validate", "--config", cfg, "--set", "exporters.debug.verbosity=loud");
  expect(&r, 1, "--set exporters.debug.verbosity=loud:1:");
  r = RUN("validate", "--config", cfg, "--set", "exporters.debug.verbosity=loud");
  expect(&r, 1, "exporters.debug.verbosity: expected basic, normal or detailed, got \"loud\"");
  r = RUN("validate", "--set=exporters.debug.verbosity=detailed", "--config", cfg);
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--config", cfg, "--set", "exporters.debug.verbosity");
  expect(&r, 2, "missing equal sign");
  /* A list is replaced, not appended to: [nope] names an undefined exporter. */
  r = RUN("validate", "--config", cfg, "--set", "service.pipelines.profiles.exporters=[nope]");
  expect(&r, 1, "exporter \"nope\" is not defined");

  /* It takes effect: the receiver listens where --set says. */
  int port = pc_e2e_free_port();
  char endpoint[96];
  snprintf(endpoint, sizeof endpoint, "receivers.otlp.protocols.http.endpoint=127.0.0.1:%d", port);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start_args(&p, base_yaml, (const char *const[]){"--set", endpoint, NULL}));
  ck_assert_int_eq(p.port, port);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

START_TEST(config_uris) {
  const char *cfg = write_config("base.yaml", base_yaml);
  char uri[256];
  snprintf(uri, sizeof uri, "file:%s", cfg);
  ran_t r = RUN("validate", "--config", uri);
  expect(&r, 0, "config is valid");
  setenv("PROFCOL_TEST_CONFIG", base_yaml, 1);
  r = RUN("validate", "--config", "env:PROFCOL_TEST_CONFIG");
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--config", "env:PROFCOL_TEST_UNSET_VAR");
  expect(&r, 1, "env:PROFCOL_TEST_UNSET_VAR: the environment variable PROFCOL_TEST_UNSET_VAR is "
                "not set");
  r = RUN("validate", "--config", "env:PROFCOL_TEST_UNSET_VAR:-{}", "--config", cfg);
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--config", "env:1BAD");
  expect(&r, 1, "invalid environment variable name \"1BAD\"");
  /* yaml: with "::" keys, merged over a file. */
  r = RUN("validate", "--config", cfg, "--config", "yaml:exporters::debug::verbosity: loud");
  expect(&r, 1, "yaml:exporters::debug::verbosity: loud:1:");
  r = RUN("validate", "--config", cfg, "--config",
          "yaml:processors::batch::timeout: 1s\nservice::pipelines::profiles::processors: [batch]");
  expect(&r, 0, "config is valid");
  r = RUN("validate", "--config", "https://example.com/profcol.yaml");
  expect(&r, 1, "unsupported config URI scheme \"https\"");
  /* "::" nests in a file too, and merges with the keys beside it. */
  cfg = write_config("colons.yaml",
                     "receivers::otlp::protocols::http::endpoint: 127.0.0.1:0\n"
                     "exporters:\n  debug::verbosity: basic\n"
                     "service::pipelines::profiles:\n  receivers: [otlp]\n  exporters: [debug]\n"
                     "service::pipelines::profiles::processors: [batch]\n"
                     "processors::batch::timout: 1s\n");
  r = RUN("validate", "--config", cfg);
  expect(&r, 1, "colons.yaml:8:1: processors.batch.timout: unknown key \"timout\"");
}
END_TEST

START_TEST(every_command_has_help) {
  static const char *const commands[] = {"validate", "components", "convert", "stats"};
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    char want[64];
    snprintf(want, sizeof want, "usage: profcol %s", commands[i]);
    ran_t r = RUN(commands[i], "--help");
    expect(&r, 0, want);
    r = RUN(commands[i], "-h");
    expect(&r, 0, want);
  }
  ran_t r = RUN("validate", "--config", "x.yaml", "--help");
  expect(&r, 0, "--feature-gates");
  r = RUN("--config", "x.yaml", "--help"); /* run's own options */
  expect(&r, 0, "--set");
  r = RUN("--help");
  expect(&r, 0, "--feature-gates");
}
END_TEST

/* --version: the version, the commit, and each library profcol runs on. */
START_TEST(version_names_commit_and_libraries) {
  static const char *const want[] = {"(commit ", "\n  libuv 1.", "\n  nghttp2 1.",
                                     "\n  libcurl ", "\n  OpenSSL 3", "\n  zstd 1.",
                                     "\n  zlib 1.", "\n  libdeflate ", "\n  libyaml 0.",
                                     "\n  llhttp "};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ran_t r = RUN("--version");
    ck_assert_msg(strncmp((const char *)r.out.p, "profcol 0.", 10) == 0, "%s", r.out.p);
    expect(&r, 0, want[i]);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-flags");
  TCase *tc = tcase_create("flags");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, make_dir, remove_dir);
  tcase_add_test(tc, built_in_config_serves_grpc_and_http);
  tcase_add_test(tc, feature_gates_as_the_collector_takes_them);
  tcase_add_test(tc, set_overrides_after_every_config);
  tcase_add_test(tc, config_uris);
  tcase_add_test(tc, every_command_has_help);
  tcase_add_test(tc, version_names_commit_and_libraries);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
