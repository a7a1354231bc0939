/* bench_attacks.c - issue 14's attacks on memory, against any profcol
 * binary, with its peak resident set and its answers: the figures behind
 * "before and after" (bench/attacks.sh runs it against two binaries in one
 * run).
 *
 *   PROFCOL_BIN=path/to/profcol bench_attacks ATTACK [--memory SIZE] [--as BYTES]
 *
 * --memory adds service.max_request_memory: SIZE to the config (a binary
 * without the key refuses the config: leave it out there); --as sets
 * RLIMIT_AS for the binary (an address-space limit, as a container's
 * memory limit would end it). ATTACK is one of:
 *   expansion   one HTTP request, 64 MiB of packed 1-byte values in a few
 *               KB of zstd (decodes into 512 MiB of values)
 *   expansion4  four of them at once (libuv's four pool threads)
 *   window      8 gRPC connections x 2 streams of 64 MiB messages that fill
 *               their flow-control windows and never finish, kept alive
 *               with a WINDOW_UPDATE every 300 ms; the stall timeout
 *               (keepalive.server_parameters.timeout) is 5 s (the client
 *               blocks in send, so a shorter one can end connections whose
 *               answers it is slow to read on a busy machine)
 *   prefix      2 gRPC connections x 100 streams that send a prefix
 *               claiming 64 MiB and nothing more
 *   reset       rapid reset: 20 rounds of 100 such streams opened and
 *               reset at once (10 rounds a connection), while another one
 *               makes real Export calls one after another (their latency)
 * It prints one line: the answers, the process's peak RSS (VmHWM) before
 * and after, its address space (VmSize) at the peak of the attack, whether
 * it survived (still answers a real request), and the end of its log when
 * it died. The attack clients are the e2e suite's (tests/h2client.c,
 * tests/e2e/e2e.c, tests/pdata/testdata.c): the same bytes as
 * tests/e2e/test_budget.c. Their helpers report through Check, so the
 * attack runs as the one test of a Check runner, in this process. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/e2e/e2e.h"
#include "../tests/h2client.h"
#include "../tests/pdata/testdata.h"

#define PROFILES "/v1development/profiles"
#define GRPC_PROFILES "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define MIB ((uint64_t)1 << 20)

static const char *memory; /* --memory */

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static bool start(pc_e2e_proc_t *p, bool grpc, const char *more) {
  char yaml[2048], svc[128] = "";
  if (memory) snprintf(svc, sizeof svc, "  max_request_memory: %s\n", memory);
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      %s:\n        endpoint: 127.0.0.1:0\n"
           "%sexporters:\n  nop:\nservice:\n%s  pipelines:\n"
           "    profiles: {receivers: [otlp], exporters: [nop]}\n",
           grpc ? "grpc" : "http", more ? more : "", svc);
  if (pc_e2e_start(p, yaml)) return true;
  char *log = pc_e2e_log(p);
  fprintf(stderr, "bench_attacks: profcol did not start:\n%s", log);
  free(log);
  return false;
}

static bool alive(const pc_e2e_proc_t *p) {
  return waitpid(p->pid, NULL, WNOHANG) == 0;
}

/* One real request: its HTTP status (HTTP) or grpc-status (gRPC), -1 when
 * nothing came back. */
static int real_request(int port, bool grpc) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t msg = {0};
  pc_proto_encode(&req, &msg);
  int status = -1;
  if (grpc) {
    pc_buf_t framed = {0};
    uint8_t pre[5];
    pc_h2_prefix(pre, (uint32_t)msg.n);
    pc_buf_append(&framed, pre, 5);
    pc_buf_append(&framed, msg.p, msg.n);
    pc_h2_t *h = pc_h2_open(port);
    if (h) {
      int32_t id = pc_h2_call(h, GRPC_PROFILES, framed.p, framed.n, framed.n, framed.n, NULL);
      pc_h2_pump(h, 5000);
      status = pc_h2_status(h, id);
      pc_h2_close(h);
    }
    pc_buf_free(&framed);
  } else {
    pc_e2e_resp_t r;
    status = pc_e2e_post(port, PROFILES, "application/x-protobuf", NULL, msg.p, msg.n, &r);
    pc_buf_free(&r.body);
  }
  pc_buf_free(&msg);
  pc_arena_free(a);
  return status;
}

/* ---- HTTP: the protobuf expansion --------------------------------------------------- */

typedef struct {
  int port;
  const pc_buf_t *body;
  int status;
  double ms;
} bomb_t;

/* POST the bomb and wait up to 10 minutes for the status line (the e2e
 * helper gives up after 30 s; an unbounded decode on a loaded machine
 * takes longer). */
static void *post_bomb(void *arg) {
  bomb_t *b = arg;
  double t0 = now_ms();
  b->status = -1;
  pc_buf_t req = {0};
  pc_e2e_post_request(&req, b->port, PROFILES, "application/x-protobuf",
                      "Content-Encoding: zstd\r\n", b->body->p, b->body->n);
  int fd = pc_e2e_connect(b->port, 600);
  if (fd >= 0 && send(fd, req.p, req.n, MSG_NOSIGNAL) == (ssize_t)req.n) {
    char head[64] = "";
    if (recv(fd, head, sizeof head - 1, 0) > 12) b->status = atoi(head + 9);
  }
  if (fd >= 0) close(fd);
  pc_buf_free(&req);
  b->ms = now_ms() - t0;
  return NULL;
}

static void expansion(const pc_e2e_proc_t *p, int n, char *out, size_t cap) {
  pc_buf_t plain = {0}, z = {0};
  pc_test_expansion_request(((size_t)64 << 20) - (64 << 10), &plain);
  pc_compress(PC_ENC_ZSTD, 19, plain.p, plain.n, &z);
  pc_buf_free(&plain);
  bomb_t b[4];
  pthread_t th[4];
  for (int i = 0; i < n; i++) {
    b[i] = (bomb_t){.port = p->port, .body = &z};
    pthread_create(&th[i], NULL, post_bomb, &b[i]);
  }
  size_t off = (size_t)snprintf(out, cap, "%zu-byte zstd bodies answered", z.n);
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    off += (size_t)snprintf(out + off, cap - off, " %d (%.1f s)", b[i].status, b[i].ms / 1e3);
  }
  pc_buf_free(&z);
}

/* ---- gRPC ----------------------------------------------------------------------------- */

static void window(const pc_e2e_proc_t *p, int port, char *out, size_t cap) {
  enum { C = 8 };
  size_t msg = (size_t)64 << 20;
  uint8_t pre[5];
  pc_h2_prefix(pre, (uint32_t)msg);
  pc_h2_t *h[C];
  int32_t ids[C][2];
  for (int c = 0; c < C; c++) {
    h[c] = pc_h2_open(port);
    for (int i = 0; i < 2; i++)
      ids[c][i] = pc_h2_call(h[c], GRPC_PROFILES, pre, 5, msg + 5, msg, NULL);
  }
  double t0 = now_ms();
  while (now_ms() - t0 < 300000 && !pc_h2_all_sent_or_answered(h, C, ids, msg))
    pc_h2_pump_all(h, C, 300, true);
  double fill_s = (now_ms() - t0) / 1e3;
  uint64_t held = pc_e2e_proc_status(p->pid, "VmRSS"), sent = 0;
  for (int c = 0; c < C; c++)
    for (int i = 0; i < 2; i++) sent += pc_h2_sent(h[c], ids[c][i]);
  int codes[20] = {0}, open_before = 0;
  for (int c = 0; c < C; c++)
    for (int i = 0; i < 2; i++) {
      int s = pc_h2_status(h[c], ids[c][i]);
      codes[s >= 0 && s < 19 ? s : 19]++;
      open_before += !pc_h2_closed(h[c], ids[c][i]);
    }
  pc_h2_pump_all(h, C, 10000, true); /* past the 5 s stall timeout, kept alive */
  int open_after = 0;
  for (int c = 0; c < C; c++)
    for (int i = 0; i < 2; i++) open_after += !pc_h2_closed(h[c], ids[c][i]);
  uint64_t after = pc_e2e_proc_status(p->pid, "VmRSS");
  snprintf(out, cap, "16 streams: %d held (no answer, %d open), %d UNAVAILABLE, %d "
           "RESOURCE_EXHAUSTED; %llu MiB sent in %.0f s, RSS then %llu MiB; 10 s later (kept "
           "alive) %d streams open, RSS %llu MiB", codes[19], open_before, codes[14], codes[8],
           (unsigned long long)(sent / MIB), fill_s, (unsigned long long)(held / MIB),
           open_after, (unsigned long long)(after / MIB));
  for (int c = 0; c < C; c++) pc_h2_close(h[c]);
}

static void prefix(const pc_e2e_proc_t *p, int port, char *out, size_t cap) {
  uint8_t pre[5];
  pc_h2_prefix(pre, 64u << 20);
  pc_h2_t *h[2];
  int32_t ids[2][100];
  for (int c = 0; c < 2; c++) {
    h[c] = pc_h2_open(port);
    for (int i = 0; i < 100; i++)
      ids[c][i] = pc_h2_call(h[c], GRPC_PROFILES, pre, 5, (64u << 20) + 5, 5, NULL);
  }
  pc_h2_pump_all(h, 2, 2000, false);
  uint64_t vm = pc_e2e_proc_status(p->pid, "VmSize");
  int sent = 0, answered = 0;
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 100; i++) {
      sent += pc_h2_sent(h[c], ids[c][i]) == 5;
      answered += pc_h2_status(h[c], ids[c][i]) >= 0;
    }
  snprintf(out, cap, "200 streams, %d prefixes sent, %d answered; address space %llu MiB",
           sent, answered, (unsigned long long)(vm / MIB));
  for (int c = 0; c < 2; c++) pc_h2_close(h[c]);
}

typedef struct {
  int port;
  volatile bool stop;
  int calls, ok;
  double worst_ms;
} caller_t;

static void *calls(void *arg) {
  caller_t *c = arg;
  while (!c->stop) {
    double t0 = now_ms();
    int s = real_request(c->port, true);
    double ms = now_ms() - t0;
    c->calls++;
    c->ok += s == 0;
    if (ms > c->worst_ms) c->worst_ms = ms;
  }
  return NULL;
}

static void rapid_reset(const pc_e2e_proc_t *p, int port, char *out, size_t cap) {
  uint8_t pre[5];
  pc_h2_prefix(pre, 64u << 20);
  caller_t c = {.port = port};
  pthread_t th;
  pthread_create(&th, NULL, calls, &c);
  pc_h2_t *h = NULL;
  double t0 = now_ms();
  uint64_t vm = 0;
  for (int round = 0; round < 20; round++) {
    if (round % 10 == 0) { /* a client keeps at most 1024 streams */
      if (h) pc_h2_close(h);
      if (!(h = pc_h2_open(port))) break;
    }
    int32_t ids[100];
    for (int i = 0; i < 100; i++)
      ids[i] = pc_h2_call(h, GRPC_PROFILES, pre, 5, (64u << 20) + 5, 5, NULL);
    pc_h2_pump(h, 20);
    uint64_t v = pc_e2e_proc_status(p->pid, "VmSize");
    if (v > vm) vm = v;
    for (int i = 0; i < 100; i++) pc_h2_reset(h, ids[i]);
    if (pc_h2_pump(h, 20) < 0) break;
  }
  double flood_ms = now_ms() - t0;
  c.stop = true;
  pthread_join(th, NULL);
  if (h) pc_h2_close(h);
  snprintf(out, cap, "2000 streams opened and reset in %.1f s; meanwhile %d real calls, %d OK, "
           "slowest %.0f ms; address space at most %llu MiB", flood_ms / 1e3, c.calls, c.ok,
           c.worst_ms, (unsigned long long)(vm / MIB));
}

/* The peak resident set as the attack goes: a process killed by it has
 * no /proc status left to read at the end. */
typedef struct {
  pid_t pid;
  volatile bool stop;
  uint64_t hwm;
} sampler_t;

static void *sample(void *arg) {
  sampler_t *s = arg;
  while (!s->stop) {
    uint64_t v = pc_e2e_proc_status(s->pid, "VmHWM");
    if (v > s->hwm) s->hwm = v;
    usleep(20 * 1000);
  }
  return NULL;
}

static int which = -1;
static const char *const names[] = {"expansion", "expansion4", "window", "prefix", "reset"};
static int failed_rc; /* the process died, or did not stop cleanly */

static pc_e2e_proc_t proc; /* killed at the end if the attack's test failed midway */

START_TEST(run_attack) {
  const char *attack = names[which];
  bool grpc = which >= 2;
  if (!start(&proc, grpc, which == 2 ? "        keepalive:\n          server_parameters:\n"
                                     "            timeout: 5s\n" : NULL)) {
    failed_rc = 1;
    return;
  }
  int port = grpc ? pc_e2e_port_of(&proc, "receiver:otlp") : proc.port;
  uint64_t hwm0 = pc_e2e_proc_status(proc.pid, "VmHWM");
  char what[600] = "";
  sampler_t smp = {.pid = proc.pid, .hwm = hwm0};
  pthread_t sth;
  pthread_create(&sth, NULL, sample, &smp);
  switch (which) {
  case 0: expansion(&proc, 1, what, sizeof what); break;
  case 1: expansion(&proc, 4, what, sizeof what); break;
  case 2: window(&proc, port, what, sizeof what); break;
  case 3: prefix(&proc, port, what, sizeof what); break;
  default: rapid_reset(&proc, port, what, sizeof what); break;
  }
  usleep(200 * 1000);
  smp.stop = true;
  pthread_join(sth, NULL);
  uint64_t hwm = smp.hwm;
  bool up = alive(&proc);
  if (!up) proc.pid = 0; /* reaped */
  int after = up ? real_request(port, grpc) : -1;
  printf("%s max_request_memory=%s: %s | VmHWM %llu -> %llu MiB | %s", attack,
         memory ? memory : "(not set)", what, (unsigned long long)(hwm0 / MIB),
         (unsigned long long)(hwm / MIB), up ? "alive" : "DIED");
  if (up) printf(", next real request answered %d", after);
  printf("\n");
  if (!up) {
    char *log = pc_e2e_log(&proc);
    size_t n = strlen(log);
    const char *tail = n > 300 ? log + n - 300 : log;
    printf("  log ends: %s\n", tail);
    free(log);
  }
  int rc = up ? pc_e2e_stop(&proc, 30) : 0;
  pc_e2e_cleanup(&proc);
  proc.pid = 0;
  fflush(stdout);
  failed_rc = !up || rc != 0;
}
END_TEST

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *attack = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--memory") == 0 && i + 1 < argc) {
      memory = argv[++i];
    } else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc) {
      struct rlimit rl = {.rlim_cur = strtoull(argv[++i], NULL, 0)};
      rl.rlim_max = rl.rlim_cur;
      if (setrlimit(RLIMIT_AS, &rl) != 0) perror("setrlimit");
    } else if (argv[i][0] != '-' && !attack) {
      attack = argv[i];
    } else {
      attack = NULL;
      break;
    }
  }
  for (int i = 0; attack && i < 5; i++)
    if (strcmp(attack, names[i]) == 0) which = i;
  if (which < 0) {
    fprintf(stderr, "usage: PROFCOL_BIN=BIN %s expansion|expansion4|window|prefix|reset "
            "[--memory SIZE] [--as BYTES]\n", argv[0]);
    return 2;
  }
  Suite *s = suite_create("attacks");
  TCase *tc = tcase_create("attack");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, run_attack);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_SILENT);
  int failed = srunner_ntests_failed(sr);
  if (failed) srunner_print(sr, CK_NORMAL);
  srunner_free(sr);
  if (proc.pid) pc_e2e_cleanup(&proc); /* SIGKILL */
  return failed || failed_rc ? 1 : 0;
}
