/* bench_attrs.c - what resource_detection and attributes cost per request.
 *
 * One workload request (workload.c; --bytes of protobuf, default 200 KB,
 * eBPF-profiler-like: thread.name on samples) goes, again and again, the
 * way a request goes through a pipeline behind the receiver: decoded from
 * its protobuf into a reused arena, handed to the processors, and merged
 * by a batch builder (pc_builder_add, reset after each request as a flush
 * would). Two pipelines, timed alternately in the same run:
 *   base     decode -> batch builder
 *   attrs    decode -> resource_detection -> attributes -> batch builder
 * with resource_detection running env (OTEL_RESOURCE_ATTRIBUTES set here)
 * and system (hostname_sources [os]), and attributes running a few
 * realistic actions (--actions: the YAML list; the default upserts
 * deployment.environment, inserts k8s.cluster.name, extracts a pool from
 * thread.name, hashes process.executable.path on samples that have it,
 * and deletes an absent key). The two run in alternating chunks of 8
 * requests for --time seconds of CPU per run (this thread's CPU time, not
 * wall time: the machine is shared), --runs runs (default 5), the fastest
 * of each kept; the figure to quote is attrs / base - 1 of the same run.
 * --no-merge drops each request after the processors instead of merging
 * it: the processors' own cost against decoding alone. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pdata/intern.h"
#include "../processor/processor.h"
#include "workload.h"

typedef struct {
  pc_consumer_t c; /* first */
  pc_builder_t *b;
  uint64_t samples;
} sink_t;

static bool no_merge; /* --no-merge: the sink drops requests (processors alone) */

static int sink_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  sink_t *s = (sink_t *)self;
  if (no_merge) return 0;
  int rc = pc_builder_add(s->b, req, err);
  s->samples += pc_builder_stats(s->b)->samples;
  pc_builder_reset(s->b);
  return rc;
}

/* CPU time of this thread: what a request costs, not what the machine's
 * other tenants took meanwhile. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  const pc_component_t *type;
  pc_cfg_t *cfg;
  void *inst;
} proc_t;

static void make(proc_t *p, const pc_component_t *type, const char *yaml, pc_consumer_t *next,
                 uv_loop_t *loop) {
  pc_err_t err = {0};
  p->type = type;
  p->cfg = pc_cfg_load_string("bench.yaml", yaml, &err);
  pc_create_args_t args = {.id = type->type, .cfg = p->cfg ? pc_cfg_root(p->cfg) : NULL,
                           .next = next, .signals = PC_SIGNAL_PROFILES};
  if (!p->cfg || !(p->inst = type->create(&args, &err)) || type->start(p->inst, loop, &err)) {
    fprintf(stderr, "bench_attrs: %s: %s\n", type->type, err.msg);
    exit(1);
  }
}

static void noop_done(void *arg) { (void)arg; }

static void unmake(proc_t *p) {
  p->type->shutdown(p->inst, 0, noop_done, NULL);
  p->type->destroy(p->inst);
  pc_cfg_free(p->cfg);
}

/* Decode and hand on n requests; CPU seconds this thread spent. */
static double chunk(pc_consumer_t *first, const pc_buf_t *pb, pc_arena_t *arena, int n) {
  double t0 = cpu_s();
  for (int i = 0; i < n; i++) {
    pc_arena_reset(arena);
    pc_request_t req;
    pc_err_t err = {0};
    if (pc_proto_decode(arena, pb->p, pb->n, &req, &err) ||
        first->consume_profiles(first, &req, &err)) {
      fprintf(stderr, "bench_attrs: %s\n", err.msg);
      exit(1);
    }
  }
  return cpu_s() - t0;
}

/* One run: both pipelines in alternating chunks of 8 requests for about
 * seconds of CPU, so that both see the same machine at the same time;
 * us of CPU per request for each. */
static void run(pc_consumer_t *base, pc_consumer_t *with, const pc_buf_t *pb, pc_arena_t *arena,
                double seconds, double *us_base, double *us_with) {
  double tb = 0, tw = 0;
  uint64_t n = 0;
  while (tb + tw < seconds) {
    tb += chunk(base, pb, arena, 8);
    tw += chunk(with, pb, arena, 8);
    n += 8;
  }
  *us_base = tb * 1e6 / (double)n;
  *us_with = tw * 1e6 / (double)n;
}

int main(int argc, char **argv) {
  size_t bytes = 200000;
  double seconds = 1.0;
  int runs = 5;
  const char *actions =
      "  - {key: deployment.environment, value: prod, action: upsert}\n"
      "  - {key: k8s.cluster.name, value: c1, action: insert}\n"
      "  - {key: thread.name, pattern: \"^(?P<thread_pool>[A-Za-z_]+)\", action: extract}\n"
      "  - {key: process.executable.path, action: hash}\n"
      "  - {key: process.command_args, action: delete}\n";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bytes") && i + 1 < argc) bytes = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--time") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--actions") && i + 1 < argc) actions = argv[++i];
    else if (!strcmp(argv[i], "--no-merge")) no_merge = true;
    else {
      fprintf(stderr, "usage: bench_attrs [--bytes N] [--time S] [--runs N] [--actions YAML] "
                      "[--no-merge]\n");
      return 2;
    }
  }
  setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,k8s.cluster.name=c1", 1);

  pc_arena_t *gen = pc_arena_new(0);
  pc_request_t src;
  pc_workload_opts_t o = {.seed = 1, .target_bytes = bytes};
  if (pc_workload_build(gen, &o, &src)) return 1;
  pc_buf_t pb = {0};
  if (pc_proto_encode(&src, &pb)) return 1;
  printf("payload: %zu B protobuf, %" PRIu64 " samples, %u attribute entries, %u strings\n",
         pb.n, pc_request_sample_count(&src), src.dict.n_attrs, src.dict.n_strings);

  uv_loop_t loop;
  uv_loop_init(&loop);
  sink_t sink = {.c = {.consume_profiles = sink_consume}, .b = pc_builder_new()};
  proc_t attrs, rd;
  char yaml[4096];
  snprintf(yaml, sizeof yaml, "actions:\n%s", actions);
  make(&attrs, &pc_processor_attributes, yaml, &sink.c, &loop);
  make(&rd, &pc_processor_resource_detection,
       "detectors: [env, system]\nsystem: {hostname_sources: [os]}\n",
       pc_processor_attributes.consumer(attrs.inst), &loop);
  pc_consumer_t *with = pc_processor_resource_detection.consumer(rd.inst);

  pc_arena_t *arena = pc_arena_new(0);
  double best_base = 1e30, best_with = 1e30;
  double b, w;
  run(&sink.c, with, &pb, arena, seconds / 4, &b, &w); /* warm up both, arena sized */
  for (int r = 0; r < runs; r++) {
    run(&sink.c, with, &pb, arena, seconds, &b, &w);
    printf("run %d: base %.1f us/request, with resource_detection + attributes %.1f us "
           "(%+.1f%%)\n", r + 1, b, w, (w / b - 1) * 100);
    if (b < best_base) best_base = b;
    if (w < best_with) best_with = w;
  }
  printf("best: base %.1f us/request, with %.1f us/request: %+.1f%% CPU per request "
         "(processors %.1f us)\n", best_base, best_with, (best_with / best_base - 1) * 100,
         best_with - best_base);

  unmake(&rd);
  unmake(&attrs);
  uv_loop_close(&loop);
  pc_builder_free(sink.b);
  pc_arena_free(arena);
  pc_arena_free(gen);
  pc_buf_free(&pb);
  return 0;
}
