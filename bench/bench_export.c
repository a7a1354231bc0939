/* bench_export.c - export throughput of the otlphttp exporter, and what the
 * persistent queue costs against the in-memory one, measured in one run.
 *
 * A loopback sink thread (plain sockets, poll) reads each request, discards
 * the body and answers 200. The exporter runs on a libuv loop in this
 * thread, exactly as in profcol: every batch is a workload.c request that
 * consume encodes (protobuf) and queues, compressed - in the thread pool
 * when it is above 128 KiB and the queue is in memory, in consume when the
 * queue is on disk (it acknowledges only what it wrote); num_consumers
 * requests are in flight. When the queue is full the producer runs the
 * loop until there is room, as a receiver answering 503 would make
 * clients wait.
 *
 * Modes, interleaved run by run so drift hits them alike:
 *   memory             sending_queue in memory
 *   disk, fsync off    file_storage, fsync: false (write(2) only)
 *   disk, fsync on     file_storage, fsync: true (fdatasync per batch)
 * Columns: compressed MB/s sent to the sink (what the backend receives),
 * batches/s, the mean time a consume call takes (what a receiver waits
 * before it can acknowledge: encode [+ compress] + queue [+ write + fsync]),
 * and each mode's MB/s as a ratio of the memory mode's in the same run. MB =
 * 10^6 bytes. The best of --runs runs is kept.
 *
 * Options: --size BYTES (protobuf per batch, default 1000000), --batches N
 * (default 200), --runs N (3), --consumers N (4), --compression
 * gzip|zstd|none (gzip), --dir DIR (where the disk modes write; default
 * $TMPDIR or /tmp - put it on the disk you care about). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../component/component.h"
#include "../core/log.h"
#include "../exporter/exporter.h"
#include "../extension/extension.h"
#include "workload.h"

/* ---- the sink --------------------------------------------------------------------- */

#define SINK_CONNS 64

typedef struct {
  int fd;
  char hdr[8192];
  size_t hdr_n;
  uint64_t body_left;
  bool in_body;
} sink_conn_t;

typedef struct {
  int lfd;
  uint16_t port;
  pthread_t thread;
  atomic_bool stop;
  atomic_uint_fast64_t requests;
  sink_conn_t conns[SINK_CONNS];
} sink_t;

static const char ok_answer[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";

static void sink_close(sink_conn_t *c) {
  close(c->fd);
  *c = (sink_conn_t){.fd = -1};
}

static void sink_answer(sink_t *s, sink_conn_t *c) {
  if (send(c->fd, ok_answer, sizeof ok_answer - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof ok_answer - 1))
    sink_close(c);
  else atomic_fetch_add(&s->requests, 1);
  c->in_body = false;
  c->hdr_n = 0;
}

/* Feed received bytes through the header/body state machine. */
static void sink_feed(sink_t *s, sink_conn_t *c, const char *p, size_t n) {
  while (n && c->fd >= 0) {
    if (c->in_body) {
      size_t k = n < c->body_left ? n : (size_t)c->body_left;
      c->body_left -= k;
      p += k;
      n -= k;
      if (!c->body_left) sink_answer(s, c);
      continue;
    }
    size_t room = sizeof c->hdr - 1 - c->hdr_n;
    size_t k = n < room ? n : room;
    memcpy(c->hdr + c->hdr_n, p, k);
    c->hdr_n += k;
    c->hdr[c->hdr_n] = 0;
    char *end = strstr(c->hdr, "\r\n\r\n");
    if (!end) {
      if (c->hdr_n == sizeof c->hdr - 1) sink_close(c);
      p += k;
      n -= k;
      continue;
    }
    size_t used = (size_t)(end + 4 - c->hdr) - (c->hdr_n - k); /* of this chunk */
    char *cl = strcasestr(c->hdr, "\r\ncontent-length:");
    c->body_left = cl ? strtoull(cl + 17, NULL, 10) : 0;
    c->in_body = true;
    p += used;
    n -= used;
    if (!c->body_left) sink_answer(s, c);
  }
}

static void *sink_main(void *arg) {
  sink_t *s = arg;
  static char buf[1 << 18];
  while (!atomic_load(&s->stop)) {
    struct pollfd p[SINK_CONNS + 1];
    int map[SINK_CONNS + 1], n = 0;
    p[n] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
    map[n++] = -1;
    for (int i = 0; i < SINK_CONNS; i++)
      if (s->conns[i].fd >= 0) {
        p[n] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        map[n++] = i;
      }
    if (poll(p, (nfds_t)n, 20) <= 0) continue;
    for (int k = 0; k < n; k++) {
      if (!p[k].revents) continue;
      if (map[k] < 0) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        int slot = -1;
        for (int i = 0; i < SINK_CONNS && slot < 0; i++)
          if (s->conns[i].fd < 0) slot = i;
        if (fd >= 0 && slot >= 0) s->conns[slot] = (sink_conn_t){.fd = fd};
        else if (fd >= 0) close(fd);
        continue;
      }
      sink_conn_t *c = &s->conns[map[k]];
      ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) sink_feed(s, c, buf, (size_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) sink_close(c);
    }
  }
  return NULL;
}

static int sink_start(sink_t *s) {
  *s = (sink_t){0};
  for (int i = 0; i < SINK_CONNS; i++) s->conns[i].fd = -1;
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 64) ||
      getsockname(s->lfd, (struct sockaddr *)&a, &al))
    return -1;
  s->port = ntohs(a.sin_port);
  return pthread_create(&s->thread, NULL, sink_main, s);
}

static void sink_stop(sink_t *s) {
  atomic_store(&s->stop, true);
  pthread_join(s->thread, NULL);
  for (int i = 0; i < SINK_CONNS; i++)
    if (s->conns[i].fd >= 0) close(s->conns[i].fd);
  close(s->lfd);
}

/* ---- one measured run --------------------------------------------------------------- */

typedef struct {
  size_t size;
  int batches, runs, consumers;
  const char *compression;
  const char *dir;
} opts_t;

typedef struct {
  const char *name;
  bool disk, fsync;
} mode_t_;

typedef struct {
  double seconds;
  uint64_t sent_bytes;
  double consume_us; /* mean per successful consume */
  bool ok;
  char why[320];
} result_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *create(const pc_component_t *comp, const char *id, const char *yaml, pc_err_t *err) {
  pc_cfg_t *cfg = pc_cfg_load_string("bench.yaml", yaml, err);
  if (!cfg) return NULL;
  pc_create_args_t args = {.id = id, .cfg = pc_cfg_root(cfg), .signals = PC_SIGNAL_PROFILES};
  void *inst = comp->create(&args, err);
  pc_cfg_free(cfg);
  return inst;
}

static void on_done(void *arg) { *(bool *)arg = true; }

static void rm_queue_dir(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/exporter_otlphttp_bench'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not clean %s\n", dir);
}

static void run_mode(const opts_t *o, const mode_t_ *m, uint16_t port, const pc_request_t *req,
                     result_t *res) {
  *res = (result_t){0};
  uv_loop_t loop;
  uv_loop_init(&loop);
  pc_err_t err = {0};
  char yaml[1024];
  void *storage = NULL;
  if (m->disk) {
    snprintf(yaml, sizeof yaml, "directory: %s\nfsync: %s\n", o->dir, m->fsync ? "true" : "false");
    storage = create(&pc_extension_file_storage, "file_storage", yaml, &err);
    if (!storage || pc_extension_file_storage.start(storage, &loop, &err)) {
      snprintf(res->why, sizeof res->why, "file_storage: %s", err.msg);
      goto out;
    }
  }
  snprintf(yaml, sizeof yaml, "endpoint: http://127.0.0.1:%u\ncompression: %s\n"
           "sending_queue:\n  num_consumers: %d\n  queue_size: 64\n  max_bytes: 1GiB\n%s",
           port, o->compression, o->consumers, m->disk ? "  storage: file_storage\n" : "");
  void *x = create(&pc_exporter_otlphttp, "otlphttp/bench", yaml, &err);
  pc_host_t *host = pc_host_new(); /* as the service hands it: the storage, if any */
  if (storage) pc_host_add(host, "file_storage", &pc_extension_file_storage, storage);
  int resolved = x ? pc_exporter_otlphttp.resolve(x, host, &err) : 0;
  pc_host_free(host);
  if (!x || resolved || pc_exporter_otlphttp.start(x, &loop, &err)) {
    snprintf(res->why, sizeof res->why, "otlphttp: %s", err.msg);
    if (x) pc_exporter_otlphttp.destroy(x);
    goto out;
  }
  pc_consumer_t *c = pc_exporter_otlphttp.consumer(x);
  double t0 = now_s(), in_consume = 0;
  res->ok = true;
  for (int i = 0; i < o->batches && res->ok; i++) {
    for (;;) {
      double a = now_s();
      int rc = c->consume_profiles(c, (pc_request_t *)req, &err);
      if (rc == 0) in_consume += now_s() - a;
      if (rc != PC_EAGAIN) {
        if (rc) {
          snprintf(res->why, sizeof res->why, "consume: %s", err.msg);
          res->ok = false;
        }
        break;
      }
      uv_run(&loop, UV_RUN_ONCE); /* full: let requests finish */
    }
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  pc_otlphttp_stats_t st;
  for (pc_otlphttp_stats(x, &st); res->ok && st.sent_batches < (uint64_t)o->batches;
       pc_otlphttp_stats(x, &st)) {
    if (st.dropped_batches) {
      snprintf(res->why, sizeof res->why, "%llu batches dropped",
               (unsigned long long)st.dropped_batches);
      res->ok = false;
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
  res->seconds = now_s() - t0;
  res->sent_bytes = st.sent_bytes;
  res->consume_us = in_consume / o->batches * 1e6;
  bool done = false;
  pc_exporter_otlphttp.shutdown(x, uv_now(&loop) + 5000, on_done, &done);
  while (!done) uv_run(&loop, UV_RUN_ONCE);
  pc_exporter_otlphttp.destroy(x);
out:
  if (storage) pc_extension_file_storage.destroy(storage);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (m->disk) rm_queue_dir(o->dir);
}

/* ---- main ---------------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, opts_t *o) {
  const char *tmp = getenv("TMPDIR");
  *o = (opts_t){.size = 1000000, .batches = 200, .runs = 3, .consumers = 4,
                .compression = "gzip", .dir = tmp && *tmp ? tmp : "/tmp"};
  /* Every option takes a value: step over both. */
  for (int i = 1; i < argc; i += 2) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) goto usage;
    if (!strcmp(argv[i], "--size")) o->size = strtoull(v, NULL, 10);
    else if (!strcmp(argv[i], "--batches")) o->batches = atoi(v);
    else if (!strcmp(argv[i], "--runs")) o->runs = atoi(v);
    else if (!strcmp(argv[i], "--consumers")) o->consumers = atoi(v);
    else if (!strcmp(argv[i], "--compression")) o->compression = v;
    else if (!strcmp(argv[i], "--dir")) o->dir = v;
    else goto usage;
  }
  if (o->size && o->batches > 0 && o->runs > 0 && o->consumers > 0) return 0;
usage:
  fprintf(stderr, "usage: bench_export [--size BYTES] [--batches N] [--runs N] [--consumers N] "
                  "[--compression gzip|zstd|none] [--dir DIR]\n");
  return -1;
}

int main(int argc, char **argv) {
  opts_t o;
  if (parse_args(argc, argv, &o)) return 2;
  pc_log_set_level(PC_LOG_ERROR); /* "queue full" is expected here: the producer outruns the sink */
  pc_arena_t *a = pc_arena_new(1 << 20);
  pc_request_t req;
  pc_workload_opts_t wo = {.seed = 1, .target_bytes = o.size};
  if (pc_workload_build(a, &wo, &req)) {
    fprintf(stderr, "cannot build a %zu-byte workload\n", o.size);
    return 1;
  }
  pc_buf_t pb = {0};
  pc_proto_encode(&req, &pb);
  sink_t sink;
  if (sink_start(&sink)) {
    perror("sink");
    return 1;
  }
  static const mode_t_ modes[] = {{"memory", false, false},
                                  {"disk, fsync off", true, false},
                                  {"disk, fsync on", true, true}};
  enum { N_MODES = sizeof modes / sizeof modes[0] };
  result_t best[N_MODES] = {0};
  for (int r = 0; r < o.runs; r++)
    for (int m = 0; m < N_MODES; m++) {
      result_t res;
      run_mode(&o, &modes[m], sink.port, &req, &res);
      if (!res.ok) best[m] = res;
      else if (!best[m].ok || res.seconds < best[m].seconds) best[m] = res;
    }
  sink_stop(&sink);

  printf("export: %d batches of %zu bytes protobuf (%llu profiles each), %s, %d consumers, "
         "disk modes in %s, best of %d runs\n", o.batches, pb.n,
         (unsigned long long)pc_request_profile_count(&req), o.compression, o.consumers, o.dir,
         o.runs);
  printf("%-18s %14s %12s %10s %16s %8s\n", "queue", "compressed MB", "MB/s", "batches/s",
         "consume us/batch", "ratio");
  for (int m = 0; m < N_MODES; m++) {
    const result_t *b = &best[m];
    if (!b->ok) {
      printf("%-18s n/a: %s\n", modes[m].name, b->why);
      continue;
    }
    double mbs = (double)b->sent_bytes / 1e6 / b->seconds;
    double base = best[0].ok ? (double)best[0].sent_bytes / 1e6 / best[0].seconds : 0;
    printf("%-18s %14.2f %12.1f %10.1f %16.0f %8.2f\n", modes[m].name,
           (double)b->sent_bytes / 1e6, mbs, o.batches / b->seconds, b->consume_us,
           base > 0 ? mbs / base : 0.0);
  }
  pc_buf_free(&pb);
  pc_arena_free(a);
  return 0;
}
