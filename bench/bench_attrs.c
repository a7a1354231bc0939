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
 * it: the processors' own cost against decoding alone. --only base (or
 * with) runs one pipeline alone, for `perf record` of what it costs; its
 * ratios are then meaningless.
 *
 * --k8s KUBECONFIG puts k8s_attributes first in the "with" pipeline, as
 * on a node agent: it lists the pods of the API server the kubeconfig
 * names (bench/k8s_bench.sh starts tests/k8s/apiserver.py with 10,000
 * pods) before the runs (wait_for_metadata), and associates each
 * resource by its container.id, which the workload's containerised
 * resources carry: they are rewritten to ids of those pods (pod i's first
 * container is %064x of i + 1), so every lookup finds a pod and its
 * metadata is added. It prints the cache's size and the process's RSS
 * growth from the list, per pod. The loop is not run during the timed
 * runs: the watches stay open and idle, as between pod changes.
 * --k8s-samples moves each resource's container.id onto its samples (one
 * interned attribute table entry per container), as the OpenTelemetry
 * eBPF profiler sends them: association then runs per distinct sample
 * container.id, and the resource is regrouped by pod. --shape picks the
 * workload's shape (dictionary, the default, or samples: about 20 times
 * as many samples per request). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "../core/metrics.h"
#include "../pdata/intern.h"
#include "../processor/processor.h"
#include "workload.h"

typedef struct {
  pc_consumer_t c; /* first */
  pc_builder_t *b;
  uint64_t samples;
} sink_t;

static bool no_merge; /* --no-merge: the sink drops requests (processors alone) */
static int only;      /* --only base|with: 1 runs base alone, 2 with alone (for perf record) */

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

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void noop_done(void *arg) { (void)arg; }
static void flag_done(void *arg) { *(bool *)arg = true; }

/* A metric of inst's self-telemetry, -1 when absent. */
static double metric(const pc_component_t *type, void *inst, const char *name) {
  pc_metrics_t *m = pc_metrics_new();
  type->metrics(inst, m);
  pc_buf_t out = {0};
  pc_metrics_render(m, &out);
  pc_buf_append(&out, "", 1);
  char pat[160];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *at = strstr((const char *)out.p, pat);
  double v = at ? strtod(at + strlen(pat), NULL) : -1;
  pc_buf_free(&out);
  pc_metrics_free(m);
  return v;
}

/* Point every container.id of req's resources at one of the stand-in's
 * bulk pods (tests/k8s/apiserver.py: pod i has container id %064x of
 * i + 1), resource r at pod r % pods. */
static uint32_t use_bulk_pods(pc_arena_t *a, pc_request_t *req, uint32_t pods) {
  uint32_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    pc_kvs_t *kv = &req->resources[r].resource.attributes;
    for (uint32_t i = 0; i < kv->n; i++) {
      pc_keyvalue_t *e = (pc_keyvalue_t *)&kv->v[i];
      if (!pc_str_eq(e->key, PC_STR_LIT("container.id")) || e->value.type != PC_AV_STRING) continue;
      char *id = pc_arena_alloc(a, 65);
      snprintf(id, 65, "%064x", (r * 7919u) % pods + 1);
      e->value.u.s = (pc_str_t){(const uint8_t *)id, 64};
      n++;
    }
  }
  return n;
}

/* --k8s-samples: move container.id from each resource onto every sample of
 * its profiles, as one dictionary attribute entry per distinct id (the
 * eBPF profiler's layout). The tables are reallocated from a. */
static void cid_to_samples(pc_arena_t *a, pc_request_t *req) {
  pc_dictionary_t *d = &req->dict;
  pc_str_t *strings = pc_arena_alloc(a, (d->n_strings + 1) * sizeof *strings);
  memcpy(strings, d->strings, d->n_strings * sizeof *strings);
  strings[d->n_strings] = PC_STR_LIT("container.id");
  int32_t key = (int32_t)d->n_strings;
  d->strings = strings;
  d->n_strings++;
  pc_attr_t *attrs = pc_arena_alloc(a, (d->n_attrs + req->n_resources) * sizeof *attrs);
  memcpy(attrs, d->attrs, d->n_attrs * sizeof *attrs);
  d->attrs = attrs;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    pc_resource_profiles_t *rp = &req->resources[r];
    pc_kvs_t *kv = &rp->resource.attributes;
    int32_t at = -1;
    for (uint32_t i = 0; i < kv->n; i++) {
      if (!pc_str_eq(kv->v[i].key, PC_STR_LIT("container.id"))) continue;
      at = (int32_t)d->n_attrs;
      d->attrs[d->n_attrs++] = (pc_attr_t){.key_strindex = key, .has_value = true,
                                          .value = kv->v[i].value};
      memmove(&kv->v[i], &kv->v[i + 1], (kv->n - i - 1) * sizeof kv->v[0]);
      kv->n--;
      break;
    }
    if (at < 0) continue;
    for (uint32_t s = 0; s < rp->n_scopes; s++)
      for (uint32_t k = 0; k < rp->scopes[s].n_profiles; k++) {
        pc_profile_t *prof = &rp->scopes[s].profiles[k];
        for (uint32_t j = 0; j < prof->n_samples; j++) {
          pc_sample_t *sm = &prof->samples[j];
          int32_t *v = pc_arena_alloc(a, (sm->attribute_indices.n + 1) * sizeof *v);
          if (sm->attribute_indices.n)
            memcpy(v, sm->attribute_indices.v, sm->attribute_indices.n * sizeof *v);
          v[sm->attribute_indices.n] = at;
          sm->attribute_indices = (pc_i32s_t){v, sm->attribute_indices.n + 1};
        }
      }
  }
}

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
    if (only != 2) tb += chunk(base, pb, arena, 8);
    if (only != 1) tw += chunk(with, pb, arena, 8);
    n += 8;
  }
  *us_base = tb * 1e6 / (double)n;
  *us_with = tw * 1e6 / (double)n;
}

int main(int argc, char **argv) {
  size_t bytes = 200000;
  double seconds = 1.0;
  int runs = 5;
  const char *kubeconfig = NULL; /* --k8s: k8s_attributes first */
  uint32_t k8s_pods = 10000;     /* the stand-in's bulk pods */
  bool k8s_samples = false;      /* container.id on samples, not resources */
  pc_workload_shape_t shape = PC_WORKLOAD_DICTIONARY;
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
    else if (!strcmp(argv[i], "--only") && i + 1 < argc && !strcmp(argv[i + 1], "base"))
      only = 1, i++;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc && !strcmp(argv[i + 1], "with"))
      only = 2, i++;
    else if (!strcmp(argv[i], "--k8s") && i + 1 < argc) kubeconfig = argv[++i];
    else if (!strcmp(argv[i], "--k8s-pods") && i + 1 < argc) k8s_pods = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--k8s-samples")) k8s_samples = true;
    else if (!strcmp(argv[i], "--shape") && i + 1 < argc && !strcmp(argv[i + 1], "dictionary"))
      shape = PC_WORKLOAD_DICTIONARY, i++;
    else if (!strcmp(argv[i], "--shape") && i + 1 < argc && !strcmp(argv[i + 1], "samples"))
      shape = PC_WORKLOAD_SAMPLES, i++;
    else {
      fprintf(stderr, "usage: bench_attrs [--bytes N] [--time S] [--runs N] [--actions YAML] "
                      "[--no-merge] [--only base|with] [--shape dictionary|samples] "
                      "[--k8s KUBECONFIG [--k8s-pods N] [--k8s-samples]]\n");
      return 2;
    }
  }
  setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,k8s.cluster.name=c1", 1);

  pc_arena_t *gen = pc_arena_new(0);
  pc_request_t src;
  pc_workload_opts_t o = {.seed = 1, .target_bytes = bytes, .shape = shape};
  if (pc_workload_build(gen, &o, &src)) return 1;
  uint32_t ids = kubeconfig ? use_bulk_pods(gen, &src, k8s_pods) : 0;
  if (kubeconfig && k8s_samples) cid_to_samples(gen, &src);
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
  proc_t k8s;
  double cache_bytes = 0;
  if (kubeconfig) {
    char k8s_yaml[1024];
    snprintf(k8s_yaml, sizeof k8s_yaml,
             "auth_type: kubeConfig\nkube_config_path: %s\n"
             "wait_for_metadata: true\nwait_for_metadata_timeout: 5m\n"
             "extract:\n  metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, "
             "k8s.pod.start_time, k8s.deployment.name, k8s.node.name, k8s.container.name, "
             "container.image.name, container.image.tag, service.name, service.version]\n"
             "pod_association:\n"
             "  - sources: [{from: resource_attribute, name: container.id}]\n"
             "  - sources: [{from: connection}]\n", kubeconfig);
    int64_t rss0 = pc_process_rss();
    make(&k8s, &pc_processor_k8s_attributes, k8s_yaml, with, &loop);
    int64_t rss1 = pc_process_rss();
    with = pc_processor_k8s_attributes.consumer(k8s.inst);
    double pods = metric(&pc_processor_k8s_attributes, k8s.inst, "otelcol_otelsvc_k8s_pod_table_size");
    cache_bytes =
        metric(&pc_processor_k8s_attributes, k8s.inst, "profcol_processor_k8s_attributes_cache_bytes");
    printf("k8s_attributes: %.0f pods cached in %.0f bytes (%.0f per pod); RSS grew %.1f MiB "
           "over the list (%.0f bytes per pod); %u container.id in the payload point at them\n",
           pods, cache_bytes, cache_bytes / pods, (double)(rss1 - rss0) / 1048576, (double)(rss1 - rss0) / pods,
           ids);
  }

  pc_arena_t *arena = pc_arena_new(0);
  double best_base = 1e30, best_with = 1e30;
  double b, w;
  double *ratios = pc_xcalloc((size_t)runs, sizeof *ratios);
  run(&sink.c, with, &pb, arena, seconds / 4, &b, &w); /* warm up both, arena sized */
  for (int r = 0; r < runs; r++) {
    run(&sink.c, with, &pb, arena, seconds, &b, &w);
    ratios[r] = w / b - 1;
    printf("run %d: base %.1f us/request, with %sresource_detection + attributes %.1f us "
           "(%+.1f%%)\n", r + 1, b, kubeconfig ? "k8s_attributes + " : "", w, (w / b - 1) * 100);
    if (b < best_base) best_base = b;
    if (w < best_with) best_with = w;
  }
  printf("best: base %.1f us/request, with %.1f us/request: %+.1f%% CPU per request "
         "(processors %.1f us)\n", best_base, best_with, (best_with / best_base - 1) * 100,
         best_with - best_base);
  qsort(ratios, (size_t)runs, sizeof *ratios, cmp_double);
  printf("median of the runs' ratios: %+.1f%% CPU per request\n",
         (runs % 2 ? ratios[runs / 2] : (ratios[runs / 2 - 1] + ratios[runs / 2]) / 2) * 100);
  free(ratios);

  printf("attributes: %.0f distinct sample attribute sets edited, %.0f entries added (all "
         "requests)\n",
         metric(&pc_processor_attributes, attrs.inst, "profcol_processor_attributes_sets_edited"),
         metric(&pc_processor_attributes, attrs.inst, "profcol_processor_attributes_entries_added"));
  if (kubeconfig) {
    double assoc = metric(&pc_processor_k8s_attributes, k8s.inst,
                          "profcol_processor_k8s_attributes_resources_associated");
    double unassoc = metric(&pc_processor_k8s_attributes, k8s.inst,
                            "profcol_processor_k8s_attributes_resources_unassociated");
    printf("k8s_attributes: %.0f resources associated, %.0f not\n", assoc, unassoc);
    /* What the pods the payload used keep besides their entries: their
     * memo of attributes (built on first use). */
    double after =
        metric(&pc_processor_k8s_attributes, k8s.inst, "profcol_processor_k8s_attributes_cache_bytes");
    printf("k8s_attributes: cache %.0f bytes after the runs (%+.0f: the attribute memos of the "
           "%u pods used)\n", after, after - cache_bytes, ids);
    /* Its shutdown ends the watches on the loop: run it until done. */
    bool done = false;
    pc_processor_k8s_attributes.shutdown(k8s.inst, 0, flag_done, &done);
    while (!done) uv_run(&loop, UV_RUN_ONCE);
    pc_processor_k8s_attributes.destroy(k8s.inst);
    pc_cfg_free(k8s.cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  unmake(&rd);
  unmake(&attrs);
  uv_loop_close(&loop);
  pc_builder_free(sink.b);
  pc_arena_free(arena);
  pc_arena_free(gen);
  pc_buf_free(&pb);
  return 0;
}
