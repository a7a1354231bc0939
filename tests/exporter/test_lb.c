/* test_lb.c - exporter/ring.c and exporter/load_balancing.c: the ring's
 * distribution and minimal movement, routing of linked and unlinked
 * samples to the backends the ring names (each part a valid request with a
 * dictionary of its own, no duplicate or unreferenced entry), spans cut by
 * trace, a backend taken away with batches queued for it (re-routed, none
 * lost), and config errors. Backends are httpsrv.c servers on loopback. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../exporter/internal.h"
#include "../spans.h"
#include "fixture.h"
#include "httpsrv.h"

/* ---- the ring ---------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static void rand_id(uint8_t id[16]) {
  for (int i = 0; i < 16; i++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    id[i] = (uint8_t)rng;
  }
}

static char names_buf[16][32];
static const char *names[16];
static void make_names(size_t n) {
  for (size_t i = 0; i < n; i++) {
    snprintf(names_buf[i], sizeof names_buf[i], "10.1.%zu.7:4317", i);
    names[i] = names_buf[i];
  }
}

#define KEYS 60000

/* Every backend gets a fair share: within 0.6 and 1.5 times 1/n, and the
 * shares' spread is small (the contrib documents a standard deviation
 * under 5% of the mean for its ring; this one is the same function). */
START_TEST(ring_distribution) {
  for (size_t n = 2; n <= 10; n++) {
    make_names(n);
    pc__ring_t *r = pc__ring_new(names, n);
    uint64_t count[16] = {0};
    uint8_t id[16];
    for (int k = 0; k < KEYS; k++) {
      rand_id(id);
      size_t b = pc__ring_find(r, pc__ring_position(id, 16));
      ck_assert_uint_lt(b, n);
      count[b]++;
    }
    double mean = (double)KEYS / (double)n, var = 0;
    for (size_t b = 0; b < n; b++) {
      double share = (double)count[b] / mean;
      ck_assert_msg(share > 0.6 && share < 1.5, "%zu backends: backend %zu has %.2f of its "
                    "share", n, b, share);
      var += ((double)count[b] - mean) * ((double)count[b] - mean);
    }
    double cv = sqrt(var / (double)n) / mean;
    ck_assert_msg(cv < 0.2, "%zu backends: spread %.3f of the mean", n, cv);
    pc__ring_free(r);
  }
}
END_TEST

/* Adding a backend moves keys only to it (about 1/n of them), removing one
 * moves only its keys; the order the names come in does not matter. */
START_TEST(ring_minimal_movement) {
  make_names(5);
  pc__ring_t *r4 = pc__ring_new(names, 4), *r5 = pc__ring_new(names, 5);
  const char *rev[4] = {names[3], names[2], names[1], names[0]};
  pc__ring_t *r4rev = pc__ring_new(rev, 4);
  uint8_t id[16];
  int moved = 0;
  for (int k = 0; k < KEYS; k++) {
    rand_id(id);
    uint32_t pos = pc__ring_position(id, 16);
    size_t a = pc__ring_find(r4, pos), b = pc__ring_find(r5, pos);
    ck_assert_str_eq(names[a], rev[pc__ring_find(r4rev, pos)]);
    if (a != b) {
      ck_assert_uint_eq(b, 4); /* only ever to the new one */
      moved++;
    }
  }
  double f = (double)moved / KEYS;
  ck_assert_msg(f > 0.1 && f < 0.32, "adding a fifth backend moved %.3f of the keys", f);
  /* Removing backend 1 of 5: the others keep every key they had. */
  const char *without[4] = {names[0], names[2], names[3], names[4]};
  pc__ring_t *r4b = pc__ring_new(without, 4);
  for (int k = 0; k < KEYS; k++) {
    rand_id(id);
    uint32_t pos = pc__ring_position(id, 16);
    size_t a = pc__ring_find(r5, pos);
    if (a != 1) ck_assert_str_eq(names[a], without[pc__ring_find(r4b, pos)]);
  }
  pc__ring_t *empty = pc__ring_new(NULL, 0);
  ck_assert_uint_eq(pc__ring_find(empty, 5), SIZE_MAX);
  pc__ring_free(empty);
  pc__ring_free(r4);
  pc__ring_free(r5);
  pc__ring_free(r4rev);
  pc__ring_free(r4b);
}
END_TEST

/* ---- routing through the exporter ------------------------------------------------------------ */

#define N_SRV 3
#define N_TRACES 40

typedef struct {
  fx_t fx;
  srv_t *srv[N_SRV];
  char names[N_SRV][32];
  const char *name[N_SRV];
} lbfx_t;

static void lb_open(lbfx_t *l) {
  memset(l, 0, sizeof *l);
  char hosts[256] = "";
  for (int i = 0; i < N_SRV; i++) {
    l->srv[i] = srv_start();
    snprintf(l->names[i], sizeof l->names[i], "127.0.0.1:%u", srv_port(l->srv[i]));
    l->name[i] = l->names[i];
    snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%s%s", i ? ", " : "",
             l->names[i]);
  }
  fx_open(&l->fx, &pc_exporter_load_balancing, "load_balancing",
          "protocol:\n"
          "  otlp_http:\n"
          "    retry_on_failure: {initial_interval: 20ms, max_interval: 50ms, "
          "max_elapsed_time: 0s}\n"
          "resolver:\n"
          "  static: {hostnames: [%s]}\n", hosts);
}

static void lb_close(lbfx_t *l) {
  fx_close(&l->fx, 5000);
  for (int i = 0; i < N_SRV; i++) srv_stop(l->srv[i]);
}

/* Samples: per trace t one sample of value 1000 + t linked to it, then
 * three unlinked of value 7; service "svc". */
static void consume_linked(lbfx_t *l, uint32_t first, uint32_t last) {
  size_t n = last - first + 1 + 3;
  pc_test_sample_t *v = calloc(n, sizeof *v);
  char (*frames)[24] = calloc(n, sizeof *frames);
  size_t i = 0;
  for (uint32_t t = first; t <= last; t++, i++) {
    snprintf(frames[i], sizeof frames[i], "main;f%u", t);
    v[i] = (pc_test_sample_t){.frames = frames[i], .trace = t, .span = t, .value = 1000 + t,
                              .tid = -1};
  }
  for (; i < n; i++)
    v[i] = (pc_test_sample_t){.frames = "main;idle;x", .value = 7, .tid = -1};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, "svc", -1, v, n, &req);
  pc_err_t err = {0};
  int rc = l->fx.c->consume_profiles(l->fx.c, &req, &err);
  ck_assert_msg(rc == 0, "consume: %s", err.msg);
  pc_arena_free(a);
  free(frames);
  free(v);
}

typedef struct {
  lbfx_t *l;
  uint64_t want;
} wait_t;

static uint64_t samples_at(srv_t *s, uint32_t *owner_of_trace, int idx, uint32_t *idle_at) {
  uint64_t total = 0;
  for (size_t i = 0; i < srv_count(s); i++) {
    srv_request_t r = srv_request(s, i);
    if (!strstr(r.path, "profiles")) continue;
    pc_arena_t *a = pc_arena_new(0);
    pc_buf_t plain = {0};
    pc_request_t got;
    fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
    if (owner_of_trace) {
      /* Each part has a dictionary of its own: nothing twice, nothing unused. */
      pc_stats_t st;
      ck_assert_int_eq(pc_pdata_stats(&got, &st), 0);
      for (int k = 0; k < 7; k++) {
        ck_assert_msg(st.tables[k].duplicates == 0, "%s: %u duplicates", st.tables[k].name,
                      st.tables[k].duplicates);
        ck_assert_msg(st.tables[k].unreferenced == 0, "%s: %u unreferenced",
                      st.tables[k].name, st.tables[k].unreferenced);
      }
    }
    const pc_profile_t *p = &got.resources[0].scopes[0].profiles[0];
    for (uint32_t k = 0; k < p->n_samples; k++) {
      total++;
      if (!owner_of_trace) continue;
      int64_t v = p->samples[k].values[0];
      if (v == 7) {
        *idle_at |= 1u << idx;
        continue;
      }
      owner_of_trace[v - 1000] |= 1u << idx;
      const pc_link_t *lk = pc_dict_link(&got.dict, p->samples[k].link_index);
      uint8_t id[16];
      pc_test_trace_id((uint32_t)(v - 1000), id);
      ck_assert_mem_eq(lk->trace_id.p, id, 16);
    }
    pc_buf_free(&plain);
    pc_arena_free(a);
  }
  return total;
}

static bool all_arrived(void *arg) {
  wait_t *w = arg;
  uint64_t n = 0;
  for (int i = 0; i < N_SRV; i++) n += samples_at(w->l->srv[i], NULL, i, NULL);
  return n >= w->want;
}

/* Linked samples go where the ring puts their trace id, unlinked ones where
 * it puts their service, each part its own valid request. */
START_TEST(routes_samples_by_link_and_service) {
  lbfx_t l;
  lb_open(&l);
  consume_linked(&l, 1, N_TRACES);
  wait_t w = {&l, N_TRACES + 3};
  ck_assert(fx_run_until(&l.fx, all_arrived, &w, 10000));
  uint32_t owner[N_TRACES + 1] = {0}, idle = 0;
  uint64_t n = 0;
  for (int i = 0; i < N_SRV; i++) n += samples_at(l.srv[i], owner, i, &idle);
  ck_assert_uint_eq(n, N_TRACES + 3);
  pc__ring_t *ring = pc__ring_new(l.name, N_SRV);
  for (uint32_t t = 1; t <= N_TRACES; t++) {
    uint8_t id[16];
    pc_test_trace_id(t, id);
    size_t want = pc__ring_find(ring, pc__ring_position(id, 16));
    ck_assert_msg(owner[t] == 1u << want, "trace %u went to 0x%x, the ring says %zu", t,
                  owner[t], want);
  }
  ck_assert_uint_eq(idle, 1u << pc__ring_find(ring, pc__ring_position("svc", 3)));
  pc__ring_free(ring);
  lb_close(&l);
}
END_TEST

/* A backend taken away (as a dns answer without it would) while batches
 * for it wait in its queue (it is down): they are routed again to the
 * others, and every sample arrives once, none at the one that left. */
/* Backend 1's exporter has scheduled a retry: its tries failed. */
static bool backend_retried(void *arg) {
  lbfx_t *l = arg;
  pc_metrics_t *m = pc_metrics_new();
  pc_exporter_load_balancing.metrics(l->fx.inst, m);
  pc_buf_t text = {0};
  ck_assert_int_eq(pc_metrics_render(m, &text), 0);
  pc_buf_append(&text, "", 1);
  bool retried = false;
  char label[64];
  snprintf(label, sizeof label, "backend=\"%s\"", l->name[1]);
  for (const char *p = (const char *)text.p; (p = strstr(p, "\nprofcol_exporter_retries{")); p++) {
    const char *eol = strchr(p + 1, '\n');
    const char *be = strstr(p, label);
    if (be && (!eol || be < eol) && eol && strncmp(eol - 2, " 0", 2) != 0) retried = true;
  }
  pc_buf_free(&text);
  pc_metrics_free(m);
  return retried;
}

START_TEST(removed_backend_batches_are_rerouted) {
  lbfx_t l;
  lb_open(&l);
  srv_down(l.srv[1], true);
  consume_linked(&l, 1, N_TRACES);
  /* Tries against the closed port fail and back off (after the process's
   * first send has loaded libcurl, off the loop, however long that takes). */
  ck_assert(fx_run_until(&l.fx, backend_retried, &l, 10000));
  const char *keep[2] = {l.name[0], l.name[2]};
  pc__lb_set_backends(l.fx.inst, keep, 2);
  srv_down(l.srv[1], false);
  wait_t w = {&l, N_TRACES + 3};
  ck_assert(fx_run_until(&l.fx, all_arrived, &w, 10000));
  fx_run_for(&l.fx, 300); /* nothing more comes */
  uint32_t owner[N_TRACES + 1] = {0}, idle = 0;
  uint64_t n = 0;
  for (int i = 0; i < N_SRV; i++) n += samples_at(l.srv[i], owner, i, &idle);
  ck_assert_uint_eq(n, N_TRACES + 3);
  ck_assert_uint_eq(samples_at(l.srv[1], NULL, 1, NULL), 0);
  for (uint32_t t = 1; t <= N_TRACES; t++) ck_assert_uint_eq(__builtin_popcount(owner[t]), 1);
  /* The retired exporter is stopped once empty (the sweep runs each second). */
  fx_run_for(&l.fx, 1300);
  pc_metrics_t *m = pc_metrics_new();
  pc_exporter_load_balancing.metrics(l.fx.inst, m);
  pc_buf_t text = {0};
  ck_assert_int_eq(pc_metrics_render(m, &text), 0);
  pc_buf_append(&text, "", 1);
  const char *t = (const char *)text.p;
  if (!strstr(t, "profcol_load_balancing_backends 2") ||
      !strstr(t, "profcol_load_balancing_retiring_backends 0") ||
      !strstr(t, "profcol_load_balancing_rerouted_batches ") ||
      strstr(t, "profcol_load_balancing_rerouted_batches 0\n"))
    fprintf(stderr, "%s", t);
  ck_assert_ptr_nonnull(strstr(t, "profcol_load_balancing_backends 2"));
  ck_assert_ptr_nonnull(
      strstr(t, "profcol_load_balancing_retiring_backends 0"));
  ck_assert_ptr_nonnull(
      strstr(t, "profcol_load_balancing_rerouted_batches "));
  ck_assert_ptr_null(
      strstr(t, "profcol_load_balancing_rerouted_batches 0\n"));
  pc_buf_free(&text);
  pc_metrics_free(m);
  lb_close(&l);
}
END_TEST

/* Persistent queues: a balancer stopped while a backend was down keeps
 * that backend's batches on disk; started again with a list without it,
 * it adopts the orphaned queue and routes its batches to the others. */
/* first_worker/first_count: the worker the first run is (service.workers);
 * the second run is one worker, which takes over every directory. */
/* v6: the backends are listed as [::1]:port (false when the machine has no
 * IPv6 loopback: nothing to run). */
static bool orphan_rerouted(uint32_t first_worker, uint32_t first_count, bool v6) {
  srv_t *srv[3];
  char name[3][32];
  for (int i = 0; i < 3; i++) {
    srv[i] = v6 ? srv_start6() : srv_start();
    if (!srv[i]) {
      while (i--) srv_stop(srv[i]);
      return false;
    }
    snprintf(name[i], sizeof name[i], v6 ? "[::1]:%u" : "127.0.0.1:%u", srv_port(srv[i]));
  }
  char *dir = fx_tempdir();
  void *st = fx_storage("file_storage/q", dir, false);
  static const char cfg[] =
      "protocol:\n"
      "  otlp_http:\n"
      "    retry_on_failure: {initial_interval: 20ms, max_interval: 50ms, max_elapsed_time: 0s}\n"
      "    sending_queue: {storage: file_storage/q}\n"
      "resolver:\n"
      "  static: {hostnames: [\"%s\", \"%s\"]}\n"; /* quoted: [::1]:port is not a list */
  lbfx_t l = {0};
  srv_down(srv[1], true);
  pc_worker_set(first_worker, first_count, 1);
  fx_open(&l.fx, &pc_exporter_load_balancing, "load_balancing", cfg, name[0], name[1]);
  for (int i = 0; i < N_SRV; i++) l.srv[i] = srv[i];
  consume_linked(&l, 1, N_TRACES);
  fx_run_for(&l.fx, 300);
  fx_close(&l.fx, 100); /* backend 1's batches stay on disk */
  pc_worker_set(0, 1, 2);
  uint64_t first = samples_at(srv[0], NULL, 0, NULL);
  ck_assert_uint_lt(first, N_TRACES + 3);
  ck_assert_uint_gt(first, 0);
  /* Again, with backend 2 instead of 1 (1 is up now but not listed). */
  srv_down(srv[1], false);
  memset(&l.fx, 0, sizeof l.fx);
  fx_open(&l.fx, &pc_exporter_load_balancing, "load_balancing", cfg, name[0], name[2]);
  wait_t w = {&l, N_TRACES + 3};
  ck_assert(fx_run_until(&l.fx, all_arrived, &w, 10000));
  fx_run_for(&l.fx, 300);
  uint64_t n = 0;
  for (int i = 0; i < 3; i++) n += samples_at(srv[i], NULL, i, NULL);
  ck_assert_uint_eq(n, N_TRACES + 3);
  ck_assert_uint_eq(samples_at(srv[1], NULL, 1, NULL), 0);
  ck_assert_uint_gt(samples_at(srv[2], NULL, 2, NULL), 0);
  fx_close(&l.fx, 5000);
  for (int i = 0; i < 3; i++) srv_stop(srv[i]);
  fx_storage_free(st);
  fx_rmtree(dir);
  free(dir);
  return true;
}

START_TEST(orphaned_persistent_queue_is_rerouted) { ck_assert(orphan_rerouted(0, 1, false)); }
END_TEST

/* The same with backends listed by IPv6 literal: the directory name
 * ("..._____1__PORT") is read back as [::1]:PORT. */
START_TEST(orphaned_queue_of_an_ipv6_backend_is_rerouted) {
  if (!orphan_rerouted(0, 1, true)) fprintf(stderr, "no IPv6 loopback: skipped\n");
}
END_TEST

/* Queue directory names read back as the backend names they were made
 * from (pc__id_to_filename, then pc__lb_backend_of_dir); what no backend
 * name maps to is not taken. */
START_TEST(queue_directory_names_round_trip) {
  static const char *const backends[] = {"10.0.3.7:4317", "gw-1.example.com:4318", "[::1]:4317",
                                      "[::]:1", "[2001:db8::8a2e:370:7334]:65535",
                                      "[::ffff:10.0.0.1]:4317", "[FE80::1]:80"};
  const char *prefix = "exporter_load_balancing_";
  for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
    char id[128], file[160], back[128];
    snprintf(id, sizeof id, "load_balancing/%s", backends[i]);
    pc__id_to_filename(id, file, sizeof file);
    ck_assert_int_eq(strncmp(file, prefix, strlen(prefix)), 0);
    ck_assert_msg(pc__lb_backend_of_dir(file + strlen(prefix), back, sizeof back), "%s", file);
    ck_assert_str_eq(back, backends[i]);
  }
  static const char *const not_backends[] = {"x", "host", "host_", "host_0", "host_65536",
                                             "a_b_4317", "_4317", "__4317", "___1_4317",
                                             "_fe80__1_eth0__4317", "_1_2_3__4317",
                                             "otlp_4317x"};
  for (size_t i = 0; i < sizeof not_backends / sizeof *not_backends; i++) {
    char back[128] = "";
    ck_assert_msg(!pc__lb_backend_of_dir(not_backends[i], back, sizeof back), "%s -> %s",
                  not_backends[i], back);
  }
}
END_TEST

/* With service.workers, worker 1 of 2 keeps its backends' queues in
 * "<dir>@w1": restarted as one worker, a backend gone from the list is
 * still found there and its batches rerouted. */
START_TEST(orphaned_queue_of_a_former_worker_is_rerouted) {
  ck_assert(orphan_rerouted(1, 2, false));
}
END_TEST

/* Spans: one request of many traces is cut so that each trace's spans
 * reach the backend its trace id names. */
START_TEST(routes_spans_by_trace) {
  lbfx_t l;
  lb_open(&l);
  pc_test_span_t v[2 * N_TRACES];
  for (uint32_t t = 1; t <= N_TRACES; t++)
    for (int k = 0; k < 2; k++) {
      pc_test_span_t *s = &v[2 * (t - 1) + (uint32_t)k];
      *s = (pc_test_span_t){.service = k ? "b" : "a", .pid = -1, .tid = -1, .name = "s",
                            .start = 1, .end = 2};
      pc_test_trace_id(t, s->trace_id);
      pc_test_span_id(t * 2 + (uint32_t)k, s->span_id);
    }
  pc_arena_t *a = pc_arena_new(0);
  pc_buf_t b = {0};
  pc_test_traces_proto(v, 2 * N_TRACES, &b);
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_traces_proto_decode(a, b.p, b.n, &tr, &err), 0);
  ck_assert_int_eq(l.fx.c->consume_traces(l.fx.c, &tr, &err), 0);
  fx_run_for(&l.fx, 500);
  pc__ring_t *ring = pc__ring_new(l.name, N_SRV);
  uint64_t spans = 0;
  for (int i = 0; i < N_SRV; i++)
    for (size_t q = 0; q < srv_count(l.srv[i]); q++) {
      srv_request_t r = srv_request(l.srv[i], q);
      ck_assert_ptr_nonnull(strstr(r.path, "/v1/traces"));
      pc_buf_t plain = {0};
      pc_err_t e2 = {0};
      ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, r.body, r.n, 1 << 20, &plain, &e2), 0);
      pc_traces_t got;
      ck_assert_int_eq(pc_traces_proto_decode(a, plain.p, plain.n, &got, &e2), 0);
      for (uint32_t ri = 0; ri < got.n_resources; ri++)
        for (uint32_t si = 0; si < got.resources[ri].n_scopes; si++)
          for (uint32_t k = 0; k < got.resources[ri].scopes[si].n_spans; k++) {
            const pc_span_t *sp = &got.resources[ri].scopes[si].spans[k];
            ck_assert_uint_eq(pc__ring_find(ring, pc__ring_position(sp->trace_id.p, 16)),
                              (size_t)i);
            spans++;
          }
      pc_buf_free(&plain);
    }
  ck_assert_uint_eq(spans, 2 * N_TRACES);
  pc__ring_free(ring);
  pc_buf_free(&b);
  pc_arena_free(a);
  lb_close(&l);
}
END_TEST

/* Config errors name the key and its place; every one is reported. */
START_TEST(config_errors) {
  static const struct {
    const char *yaml, *want;
  } cases[] = {
      {"resolver: {static: {hostnames: [a:1]}}\n", "set protocol"},
      {"protocol: {otlp_grpc: {}, otlp_http: {}}\nresolver: {static: {hostnames: [a:1]}}\n",
       "exactly one of otlp_grpc"},
      {"protocol: {zipkin: {}}\nresolver: {static: {hostnames: [a:1]}}\n",
       "unknown protocol \"zipkin\""},
      {"protocol: {otlp: {endpoint: x:1}}\nresolver: {static: {hostnames: [a:1]}}\n",
       "leave endpoint out"},
      {"protocol: {otlp_grpc: {timeout: 5x}}\nresolver: {static: {hostnames: [a:1]}}\n",
       "timeout: expected a duration"},
      {"protocol: {otlp: {}}\nresolver: {static: {hostnames: []}}\n", "at least one"},
      {"protocol: {otlp: {}}\nresolver: {static: {hostnames: [a:1, a:1]}}\n", "listed twice"},
      {"protocol: {otlp: {}}\nresolver: {dns: {port: 4317}}\n", "set hostname"},
      {"protocol: {otlp: {}}\nresolver: {dns: {hostname: x, port: 99999}}\n",
       "from 1 to 65535"},
      {"protocol: {otlp: {}}\nresolver: {dns: {hostname: x, intervall: 5s}}\n", "intervall"},
      {"protocol: {otlp: {}}\nresolver: {k8s: {service: x}}\n", "no k8s resolver"},
      {"protocol: {otlp: {}}\nresolver: {static: {hostnames: [a:1]}, dns: {hostname: x}}\n",
       "exactly one of static"},
      {"routing_key: metric\nprotocol: {otlp: {}}\nresolver: {static: {hostnames: [a:1]}}\n",
       "metric and streamID are for metrics"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pc_err_t err = {0};
    void *x = fx_create(&pc_exporter_load_balancing, "load_balancing", PC_SIGNAL_PROFILES, &err,
                        "%s", cases[i].yaml);
    ck_assert_msg(!x, "case %zu accepted", i);
    ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    ck_assert_msg(err.line > 0, "case %zu without a line: %s", i, err.msg);
  }
}
END_TEST

TCase *pc_test_lb_tcase(void); /* for test_exporter.c */
TCase *pc_test_lb_tcase(void) {
  TCase *tc = tcase_create("load_balancing");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, ring_distribution);
  tcase_add_test(tc, ring_minimal_movement);
  tcase_add_test(tc, routes_samples_by_link_and_service);
  tcase_add_test(tc, removed_backend_batches_are_rerouted);
  tcase_add_test(tc, orphaned_persistent_queue_is_rerouted);
  tcase_add_test(tc, orphaned_queue_of_a_former_worker_is_rerouted);
  tcase_add_test(tc, orphaned_queue_of_an_ipv6_backend_is_rerouted);
  tcase_add_test(tc, queue_directory_names_round_trip);
  tcase_add_test(tc, routes_spans_by_trace);
  tcase_add_test(tc, config_errors);
  return tc;
}
