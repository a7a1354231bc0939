/* e2e.c - the end-to-end harness (see e2e.h). */
#include "e2e.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *binary(void) {
  const char *b = getenv("PROFCOL_BIN");
  return b ? b : "profcol";
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  fputs(text, f);
  return fclose(f) == 0;
}

char *pc_e2e_log(const pc_e2e_proc_t *p) {
  FILE *f = fopen(p->log_path, "r");
  pc_buf_t b = {0};
  if (f) {
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) pc_buf_append(&b, chunk, got);
    fclose(f);
  }
  pc_buf_append(&b, "", 1);
  return (char *)b.p;
}

int pc_e2e_log_count(const pc_e2e_proc_t *p, const char *needle) {
  char *log = pc_e2e_log(p);
  int n = 0;
  for (const char *c = log; (c = strstr(c, needle)); c++) n++;
  free(log);
  return n;
}

bool pc_e2e_wait_log(const pc_e2e_proc_t *p, const char *needle, int timeout_ms) {
  long until = now_ms() + timeout_ms;
  for (;;) {
    char *log = pc_e2e_log(p);
    bool found = strstr(log, needle) != NULL;
    free(log);
    if (found) return true;
    if (now_ms() > until) return false;
    usleep(20000);
  }
}

bool pc_e2e_start(pc_e2e_proc_t *p, const char *yaml) {
  return pc_e2e_start_args(p, yaml, NULL);
}

bool pc_e2e_start_args(pc_e2e_proc_t *p, const char *yaml, const char *const *args) {
  memset(p, 0, sizeof *p);
  snprintf(p->dir, sizeof p->dir, "/tmp/profcol-e2e-XXXXXX");
  if (!mkdtemp(p->dir)) return false;
  snprintf(p->log_path, sizeof p->log_path, "%s/profcol.log", p->dir);
  snprintf(p->config_path, sizeof p->config_path, "%s/profcol.yaml", p->dir);
  const char *argv[40] = {binary()};
  size_t n = 1;
  char telemetry_path[300];
  if (yaml) {
    if (!write_file(p->config_path, yaml)) return false;
    argv[n++] = "--config";
    argv[n++] = p->config_path;
    /* Self-telemetry listens on localhost:8888 by default, which parallel
     * tests would fight over: unless the test sets it, a second --config
     * (merged after the first, as the Collector merges) moves it to port 0. */
    snprintf(telemetry_path, sizeof telemetry_path, "%s/telemetry.yaml", p->dir);
    if (!strstr(yaml, "telemetry:")) {
      if (!write_file(telemetry_path, "service:\n  telemetry:\n    metrics:\n"
                                      "      address: 127.0.0.1:0\n"))
        return false;
      argv[n++] = "--config";
      argv[n++] = telemetry_path;
    }
  }
  for (size_t i = 0; args && args[i] && n < 39; i++) argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&p->pid, binary(), &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) return false;
  long until = now_ms() + 15000;
  while (now_ms() < until) {
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = 0;
      return false;
    }
    char *log = pc_e2e_log(p);
    bool ready = strstr(log, "everything is ready") != NULL;
    /* The OTLP/HTTP receiver's line, not another listener's. */
    const char *line = strstr(log, "listening for OTLP/HTTP on ");
    const char *port = line ? strstr(line, "(port ") : NULL;
    if (port) p->port = atoi(port + 6);
    free(log);
    if (ready) return true;
    usleep(20000);
  }
  return false;
}

int pc_e2e_port_of(const pc_e2e_proc_t *p, const char *component) {
  char *log = pc_e2e_log(p);
  char tag[128];
  snprintf(tag, sizeof tag, "[%s", component);
  int port = 0;
  for (char *line = log; line && *line && !port;) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    const char *at = strstr(line, "(port ");
    if (at && strstr(line, tag)) port = atoi(at + 6);
    line = end ? end + 1 : NULL;
  }
  free(log);
  return port;
}

void pc_e2e_signal(const pc_e2e_proc_t *p, int signum) {
  if (p->pid > 0) kill(p->pid, signum);
}

int pc_e2e_stop(pc_e2e_proc_t *p, int timeout_s) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  return pc_e2e_wait_exit(p, timeout_s);
}

int pc_e2e_wait_exit(pc_e2e_proc_t *p, int timeout_s) {
  if (p->pid <= 0) return -1;
  long until = now_ms() + timeout_s * 1000L;
  int status = 0;
  while (waitpid(p->pid, &status, WNOHANG) == 0) {
    if (now_ms() > until) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
      p->pid = 0;
      return -1;
    }
    usleep(20000);
  }
  p->pid = 0;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void pc_e2e_cleanup(pc_e2e_proc_t *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
  }
  if (p->dir[0]) nftw(p->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void pc_e2e_start_or_fail(pc_e2e_proc_t *p, const char *yaml, const char *what) {
  bool started = pc_e2e_start(p, yaml);
  char *log = pc_e2e_log(p);
  ck_assert_msg(started, "profcol did not %s:\n%s", what, log);
  free(log);
}

int pc_e2e_connect(int port, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = timeout_s};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int pc_e2e_raw(int port, const void *req, size_t n, pc_buf_t *answer) {
  int fd = pc_e2e_connect(port, 30);
  if (fd < 0) return -1;
  const uint8_t *p = req;
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) break; /* the server may answer early and close */
    p += w;
    n -= (size_t)w;
  }
  char chunk[65536];
  ssize_t got;
  while ((got = recv(fd, chunk, sizeof chunk, 0)) > 0) pc_buf_append(answer, chunk, (size_t)got);
  close(fd);
  return 0;
}

/* Send req (consumed) and split the answer into status, headers, body. */
static int exchange(int port, pc_buf_t *req, pc_e2e_resp_t *resp) {
  memset(resp, 0, sizeof *resp);
  resp->status = -1;
  pc_buf_t ans = {0};
  int rc = pc_e2e_raw(port, req->p, req->n, &ans);
  pc_buf_free(req);
  if (rc || ans.n < 12) {
    pc_buf_free(&ans);
    return -1;
  }
  resp->status = atoi((const char *)ans.p + 9);
  const uint8_t *end = memmem(ans.p, ans.n, "\r\n\r\n", 4);
  size_t hn = end ? (size_t)(end - ans.p) : ans.n;
  snprintf(resp->headers, sizeof resp->headers, "%.*s", (int)hn, (const char *)ans.p);
  if (end) pc_buf_append(&resp->body, end + 4, ans.n - hn - 4);
  pc_buf_free(&ans);
  return resp->status;
}

int pc_e2e_post(int port, const char *path, const char *content_type,
                const char *content_encoding, const void *body, size_t n, pc_e2e_resp_t *resp) {
  char extra[128] = "";
  if (content_encoding) snprintf(extra, sizeof extra, "Content-Encoding: %s\r\n", content_encoding);
  return pc_e2e_post_headers(port, path, content_type, extra, body, n, resp);
}

int pc_e2e_post_headers(int port, const char *path, const char *content_type,
                        const char *headers, const void *body, size_t n, pc_e2e_resp_t *resp) {
  pc_buf_t req = {0};
  pc_e2e_post_request(&req, port, path, content_type, headers, body, n);
  return exchange(port, &req, resp);
}

void pc_e2e_post_request(pc_buf_t *req, int port, const char *path, const char *content_type,
                         const char *headers, const void *body, size_t n) {
  pc_buf_printf(req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n"
                "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", path, port,
                content_type, n, headers ? headers : "");
  pc_buf_append(req, body, n);
}

int pc_e2e_get(int port, const char *path, pc_e2e_resp_t *resp) {
  return pc_e2e_get_headers(port, path, NULL, resp);
}

int pc_e2e_get_headers(int port, const char *path, const char *headers, pc_e2e_resp_t *resp) {
  pc_buf_t req = {0};
  pc_buf_printf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n",
                path, port, headers ? headers : "");
  return exchange(port, &req, resp);
}

int pc_e2e_run(const char *const *args, pc_buf_t *out) {
  char path[] = "/tmp/profcol-e2e-run-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  const char *argv[32];
  size_t n = 0;
  argv[n++] = binary();
  for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, binary(), &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  int status = -1;
  if (rc == 0) waitpid(pid, &status, 0);
  lseek(fd, 0, SEEK_SET);
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) pc_buf_append(out, chunk, (size_t)got);
  pc_buf_append(out, "", 1);
  out->n--;
  close(fd);
  unlink(path);
  return rc ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int pc_e2e_grpc_client(int port, const char *const *cases) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  char script[1024], protos[1024], request[1024], port_s[16];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_client.py", root);
  snprintf(protos, sizeof protos, "%s/proto", root);
  snprintf(request, sizeof request, "%s/tests/data/request.txtpb", root);
  snprintf(port_s, sizeof port_s, "%d", port);
  const char *argv[32] = {"/usr/bin/python3", script, "--port", port_s, "--proto-root", protos,
                          "--request", request};
  size_t n = 8;
  for (size_t i = 0; cases[i] && n < 31; i++) argv[n++] = cases[i];
  argv[n] = NULL;
  pid_t pid;
  ck_assert_int_eq(posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ), 0);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int pc_e2e_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

int pc_e2e_read_proto_file(const char *path, void (*fn)(const pc_request_t *req, void *arg),
                           void *arg) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  pc_buf_t all = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) pc_buf_append(&all, chunk, got);
  fclose(f);
  pc_arena_t *a = pc_arena_new(0);
  int n = 0;
  for (size_t off = 0; off + 4 <= all.n; n++) {
    uint32_t len = (uint32_t)all.p[off] << 24 | (uint32_t)all.p[off + 1] << 16 |
                   (uint32_t)all.p[off + 2] << 8 | all.p[off + 3];
    if (all.n - off - 4 < len) break; /* a record being written */
    pc_request_t req;
    pc_err_t err = {0};
    ck_assert_msg(pc_proto_decode(a, all.p + off + 4, len, &req, &err) == 0, "%s record %d: %s",
                  path, n, err.msg);
    fn(&req, arg);
    off += 4 + len;
    pc_arena_reset(a);
  }
  pc_arena_free(a);
  pc_buf_free(&all);
  return n;
}

static void add_samples(const pc_request_t *req, void *arg) {
  *(uint64_t *)arg += pc_request_sample_count(req);
}

uint64_t pc_e2e_samples_in_file(const char *path) {
  uint64_t samples = 0;
  pc_e2e_read_proto_file(path, add_samples, &samples);
  return samples;
}

uint64_t pc_e2e_wait_samples(const char *path, uint64_t want) {
  uint64_t got = pc_e2e_samples_in_file(path);
  for (int i = 0; i < 300 && got < want; i++) {
    usleep(100000);
    got = pc_e2e_samples_in_file(path);
  }
  return got;
}

void pc_e2e_start_file_sink(pc_e2e_proc_t *p, int port, const char *out) {
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:%d\n"
           "exporters:\n  file:\n    path: %s\n    format: proto\n"
           "service:\n  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      exporters: [file]\n",
           port, out);
  ck_assert(pc_e2e_start(p, yaml));
}

uint64_t pc_e2e_proc_status(pid_t pid, const char *field) {
  char path[64];
  if (pid) snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  else snprintf(path, sizeof path, "/proc/self/status");
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') kb = strtoull(line + n + 1, NULL, 10);
  fclose(f);
  return kb * 1024;
}
