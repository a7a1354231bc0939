/* test_lb.c - the load_balancing exporter end to end (issue 18): one
 * balancing profcol in front of three gateway profcols on loopback, each
 * gateway with trace_link, a span_store and a file exporter. Spans and
 * linked profiles go to the balancer in requests that mix traces; every
 * trace's spans and samples must land on one gateway, whose trace-linking
 * query answers for it (and the others do not), unlinked samples go by
 * service; and a gateway stopped mid-run loses nothing that the balancer
 * acknowledged. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "../spans.h"
#include "e2e.h"

#define PROTO "application/x-protobuf"
#define N_GW 3
#define N_TRACES 24

static const char gw_fmt[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http: {endpoint: 127.0.0.1:%d}\n"
    "      grpc: {endpoint: 127.0.0.1:%d}\n"
    "processors:\n"
    "  trace_link: {delay: 0s}\n"
    "exporters:\n"
    "  file: {path: %s, format: proto}\n"
    "  nop:\n"
    "extensions:\n"
    "  span_store: {endpoint: 127.0.0.1:0, window: 5m}\n"
    "service:\n"
    "  extensions: [span_store]\n"
    "  pipelines:\n"
    "    traces: {receivers: [otlp], processors: [trace_link], exporters: [nop]}\n"
    "    profiles: {receivers: [otlp], processors: [trace_link], exporters: [file]}\n";

typedef struct {
  pc_e2e_proc_t p;
  int http, grpc, query;
  char out[160];
} gw_t;

typedef struct {
  char dir[64];
  gw_t gw[N_GW];
  pc_e2e_proc_t lb;
  int lb_http;
} fx_t;

static void gw_start(fx_t *f, int i, const char *out_name) {
  gw_t *g = &f->gw[i];
  if (!g->http) {
    g->http = pc_e2e_free_port();
    g->grpc = pc_e2e_free_port();
  }
  char out[sizeof g->out];
  snprintf(out, sizeof out, "%s/%s", f->dir, out_name);
  memcpy(g->out, out, sizeof out);
  char yaml[2048];
  snprintf(yaml, sizeof yaml, gw_fmt, g->http, g->grpc, g->out);
  bool started = pc_e2e_start(&g->p, yaml);
  char *log = pc_e2e_log(&g->p);
  ck_assert_msg(started, "gateway %d did not start:\n%s", i, log);
  free(log);
  g->query = pc_e2e_port_of(&g->p, "extension:span_store");
  ck_assert_int_gt(g->query, 0);
}

/* The balancer: protocol otlp_http or otlp_grpc to the gateways; service
 * lines (e.g. max_request_memory) when not NULL. */
static void lb_start(fx_t *f, bool grpc, const char *service) {
  char hosts[256] = "", yaml[2048];
  for (int i = 0; i < N_GW; i++)
    snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%s127.0.0.1:%d",
             i ? ", " : "", grpc ? f->gw[i].grpc : f->gw[i].http);
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  otlp:\n"
           "    protocols:\n"
           "      http: {endpoint: 127.0.0.1:0}\n"
           "processors:\n"
           "  batch: {timeout: 100ms}\n"
           "exporters:\n"
           "  load_balancing:\n"
           "    routing_key: traceID\n"
           "    protocol:\n"
           "      %s:\n"
           "        %s\n"
           "        retry_on_failure: {initial_interval: 100ms, max_interval: 200ms, "
           "max_elapsed_time: 0s}\n"
           "    resolver:\n"
           "      static: {hostnames: [%s]}\n"
           "service:\n"
           "%s"
           "  telemetry: {metrics: {address: 127.0.0.1:0}}\n"
           "  pipelines:\n"
           "    traces: {receivers: [otlp], exporters: [load_balancing]}\n"
           "    profiles: {receivers: [otlp], processors: [batch], exporters: [load_balancing]}\n",
           grpc ? "otlp_grpc" : "otlp_http", grpc ? "tls: {insecure: true}" : "compression: zstd",
           hosts, service ? service : "");
  bool started = pc_e2e_start(&f->lb, yaml);
  char *log = pc_e2e_log(&f->lb);
  ck_assert_msg(started, "the balancer did not start:\n%s", log);
  free(log);
  f->lb_http = f->lb.port;
}

static void fx_init(fx_t *f) {
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/profcol-lb-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
}

/* Every gateway, gateway I writing to gwI.binpb. */
static void fx_start_gateways(fx_t *f) {
  for (int i = 0; i < N_GW; i++) {
    char name[32];
    snprintf(name, sizeof name, "gw%d.binpb", i);
    gw_start(f, i, name);
  }
}

static void fx_stop(fx_t *f) {
  ck_assert_int_eq(pc_e2e_stop(&f->lb, 20), 0);
  pc_e2e_cleanup(&f->lb);
  for (int i = 0; i < N_GW; i++) {
    if (f->gw[i].p.pid) ck_assert_int_eq(pc_e2e_stop(&f->gw[i].p, 20), 0);
    pc_e2e_cleanup(&f->gw[i].p);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* ---- what is sent --------------------------------------------------------------------- */

/* Traces first..last: a root span "GET /tN" of frontend and a child "work"
 * of checkout, all in one request (so the balancer must cut it): protobuf,
 * or OTLP-JSON with the proto's field names ("resource_spans", as protobuf
 * JSON writers other than the SDKs' put them). */
static void spans_request(uint32_t first, uint32_t last, bool json, pc_buf_t *out) {
  size_t n = 2 * (last - first + 1);
  pc_test_span_t *v = calloc(n, sizeof *v);
  char (*names)[32] = calloc(n, sizeof *names);
  for (uint32_t t = first, i = 0; t <= last; t++, i += 2) {
    snprintf(names[i], sizeof names[i], "GET /t%u", t);
    v[i] = (pc_test_span_t){.service = "frontend", .pid = -1, .tid = -1, .name = names[i],
                            .start = 1000, .end = 9000};
    v[i + 1] = (pc_test_span_t){.service = "frontend", .pid = -1, .tid = -1, .name = "work",
                                .start = 2000, .end = 8000};
    pc_test_trace_id(t, v[i].trace_id);
    pc_test_trace_id(t, v[i + 1].trace_id);
    pc_test_span_id(2 * t, v[i].span_id);
    pc_test_span_id(2 * t + 1, v[i + 1].span_id);
    pc_test_span_id(2 * t, v[i + 1].parent_span_id);
  }
  if (json) {
    pc_buf_t camel = {0};
    pc_test_traces_json(v, n, &camel);
    pc_test_to_proto_names(&camel, false, out);
    pc_buf_free(&camel);
  } else {
    pc_test_traces_proto(v, n, out);
  }
  free(names);
  free(v);
}

static void post_spans(fx_t *f, uint32_t first, uint32_t last) {
  pc_buf_t b = {0};
  spans_request(first, last, false, &b);
  pc_e2e_resp_t r;
  int status = pc_e2e_post(f->lb_http, "/v1/traces", PROTO, NULL, b.p, b.n, &r);
  ck_assert_msg(status == 200, "POST traces: %d: %.*s", status, (int)r.body.n,
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
}

/* One profiles request: per trace t in first..last one sample "main;fT"
 * of value 100 + t linked to its child span, then `idle` unlinked samples.
 * Answers the status. */
static int post_profile(fx_t *f, uint32_t first, uint32_t last, uint32_t idle) {
  size_t n = last - first + 1 + idle;
  pc_test_sample_t *v = calloc(n, sizeof *v);
  char (*frames)[32] = calloc(n, sizeof *frames);
  size_t i = 0;
  for (uint32_t t = first; t <= last; t++, i++) {
    snprintf(frames[i], sizeof frames[i], "main;f%u", t);
    v[i] = (pc_test_sample_t){.frames = frames[i], .trace = t, .span = 2 * t + 1,
                              .type = "cpu:nanoseconds", .value = 100 + t, .tid = -1};
  }
  for (; i < n; i++)
    v[i] = (pc_test_sample_t){.frames = "main;idle", .type = "cpu:nanoseconds", .value = 7,
                              .tid = -1};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, n, &req);
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_e2e_resp_t r;
  int status = pc_e2e_post(f->lb_http, "/v1development/profiles", PROTO, NULL, b.p, b.n, &r);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
  pc_arena_free(a);
  free(frames);
  free(v);
  return status;
}

/* ---- what the gateways got -------------------------------------------------------------- */

typedef struct {
  int gw;
  uint32_t where[N_TRACES + 64]; /* per trace: bit per gateway that got its samples */
  uint32_t samples[N_TRACES + 64];
  uint32_t idle_where, idle;
  uint64_t total;
} seen_t;

static void collect(const pc_request_t *r, void *arg) {
  seen_t *s = arg;
  for (uint32_t ri = 0; ri < r->n_resources; ri++)
    for (uint32_t si = 0; si < r->resources[ri].n_scopes; si++)
      for (uint32_t pi = 0; pi < r->resources[ri].scopes[si].n_profiles; pi++) {
        const pc_profile_t *p = &r->resources[ri].scopes[si].profiles[pi];
        for (uint32_t k = 0; k < p->n_samples; k++) {
          int64_t value = p->samples[k].values[0];
          s->total++;
          if (value == 7) {
            s->idle_where |= 1u << s->gw;
            s->idle++;
            continue;
          }
          uint32_t t = (uint32_t)(value - 100);
          ck_assert_uint_lt(t, N_TRACES + 64);
          /* The link must still name the trace the value says. */
          const pc_link_t *l = pc_dict_link(&r->dict, p->samples[k].link_index);
          uint8_t id[16];
          pc_test_trace_id(t, id);
          ck_assert_uint_eq(l->trace_id.n, 16);
          ck_assert_mem_eq(l->trace_id.p, id, 16);
          s->where[t] |= 1u << s->gw;
          s->samples[t]++;
        }
      }
}

static seen_t read_all(fx_t *f, const char *const *extra_for, int extra_gw) {
  seen_t s = {0};
  for (int i = 0; i < N_GW; i++) {
    s.gw = i;
    pc_e2e_read_proto_file(f->gw[i].out, collect, &s);
  }
  for (; extra_for && *extra_for; extra_for++) { /* a restarted gateway's earlier file */
    s.gw = extra_gw;
    pc_e2e_read_proto_file(*extra_for, collect, &s);
  }
  return s;
}

static seen_t wait_for(fx_t *f, uint64_t want, const char *const *extra_for, int extra_gw) {
  seen_t s = {0};
  for (int i = 0; i < 300; i++) {
    s = read_all(f, extra_for, extra_gw);
    if (s.total >= want) break;
    usleep(50000);
  }
  ck_assert_msg(s.total == want, "the gateways got %" PRIu64 " samples, want %" PRIu64, s.total,
                want);
  return s;
}

static int one_gateway(uint32_t bits) {
  ck_assert_msg(bits && !(bits & (bits - 1)), "spread over gateways 0x%x", bits);
  return __builtin_ctz(bits);
}

static char url[256];

static const char *profile_url(uint32_t trace) {
  uint8_t id[16];
  char hex[33];
  pc_test_trace_id(trace, id);
  pc_test_hex(id, 16, hex);
  snprintf(url, sizeof url, "/api/v1/traces/%s/profile", hex);
  return url;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Spans and linked samples of 24 traces, mixed in each request: each
 * trace on one gateway, which answers its query with its samples and knows
 * its root span (the spans went there too); the others answer 404. */
START_TEST(each_trace_lands_on_one_gateway) {
  fx_t f;
  fx_init(&f);
  fx_start_gateways(&f);
  lb_start(&f, false, NULL);
  post_spans(&f, 1, N_TRACES);
  usleep(300000); /* spans before samples, so trace_link knows them */
  ck_assert_int_eq(post_profile(&f, 1, N_TRACES / 2, 3), 200);
  ck_assert_int_eq(post_profile(&f, N_TRACES / 2 + 1, N_TRACES, 3), 200);
  seen_t s = wait_for(&f, N_TRACES + 6, NULL, 0);
  uint32_t used = 0;
  for (uint32_t t = 1; t <= N_TRACES; t++) {
    ck_assert_uint_eq(s.samples[t], 1);
    int g = one_gateway(s.where[t]);
    used |= 1u << g;
    for (int i = 0; i < N_GW; i++) {
      pc_e2e_resp_t r;
      int status = pc_e2e_get(f.gw[i].query, profile_url(t), &r);
      pc_buf_append(&r.body, "", 1);
      if (i != g) {
        ck_assert_msg(status == 404, "trace %u on gateway %d too: %d", t, i, status);
      } else {
        char want[64];
        snprintf(want, sizeof want, "main;f%u %u\n", t, 100 + t);
        ck_assert_msg(status == 200, "trace %u: gateway %d answers %d", t, g, status);
        ck_assert_str_eq((const char *)r.body.p, want);
      }
      pc_buf_free(&r.body);
    }
    /* Its spans went there too: the listing names its root. */
    pc_e2e_resp_t r;
    ck_assert_int_eq(pc_e2e_get(f.gw[g].query, "/api/v1/traces?service=frontend&limit=1000", &r),
                     200);
    pc_buf_append(&r.body, "", 1);
    char root[64];
    snprintf(root, sizeof root, "\"rootSpanName\":\"GET /t%u\"", t);
    ck_assert_msg(strstr((const char *)r.body.p, root), "gateway %d lacks %s: %s", g, root,
                  (const char *)r.body.p);
    pc_buf_free(&r.body);
  }
  ck_assert_msg(__builtin_popcount(used) == N_GW, "24 traces over %d of 3 gateways",
                __builtin_popcount(used));
  /* Unlinked samples go by service: all six to one gateway. */
  ck_assert_uint_eq(s.idle, 6);
  one_gateway(s.idle_where);
  /* Self-telemetry per backend. */
  int mport = pc_e2e_port_of(&f.lb, "service:telemetry");
  ck_assert_int_gt(mport, 0);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(mport, "/metrics", &r), 200);
  pc_buf_append(&r.body, "", 1);
  char want[160];
  snprintf(want, sizeof want, "profcol_load_balancing_routed_samples{exporter=\"load_balancing\","
           "backend=\"127.0.0.1:%d\"}", f.gw[0].http);
  ck_assert_msg(strstr((const char *)r.body.p, want), "%s", (const char *)r.body.p);
  ck_assert_msg(strstr((const char *)r.body.p, "profcol_load_balancing_backends{exporter=\""
                       "load_balancing\"} 3"), "%s", (const char *)r.body.p);
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* Spans the gateways' span stores have taken, together; waits (up to 15 s)
 * until they are want. */
static uint64_t wait_spans(fx_t *f, uint64_t want) {
  uint64_t n = 0;
  for (int tries = 0; tries < 300 && n < want; tries++) {
    if (tries) usleep(50000);
    n = 0;
    for (int i = 0; i < N_GW; i++) {
      pc_e2e_resp_t r;
      ck_assert_int_eq(pc_e2e_get(pc_e2e_port_of(&f->gw[i].p, "service:telemetry"), "/metrics",
                                  &r), 200);
      pc_buf_append(&r.body, "", 1);
      const char *at = strstr((const char *)r.body.p,
                              "\nprofcol_span_store_added_spans{extension=\"span_store\"} ");
      if (at) n += strtoull(strchr(at, '}') + 2, NULL, 10);
      pc_buf_free(&r.body);
    }
  }
  ck_assert_msg(n == want, "the gateways took %" PRIu64 " spans, want %" PRIu64, n, want);
  return n;
}

/* The gateways whose span listing names trace t's root ("GET /tN"), as
 * bits (a trace is listed where its linked samples are, and named from
 * the spans there); waits (up to 15 s) until the listings name every
 * trace of first..last somewhere. */
static void roots_where(fx_t *f, uint32_t first, uint32_t last, uint32_t *where) {
  for (int tries = 0; tries < 300; tries++) {
    bool all = true;
    for (uint32_t t = first; t <= last; t++) where[t] = 0;
    for (int i = 0; i < N_GW; i++) {
      pc_e2e_resp_t r;
      ck_assert_int_eq(pc_e2e_get(f->gw[i].query, "/api/v1/traces?service=frontend&limit=1000",
                                  &r), 200);
      pc_buf_append(&r.body, "", 1);
      for (uint32_t t = first; t <= last; t++) {
        char root[64];
        snprintf(root, sizeof root, "\"rootSpanName\":\"GET /t%u\"", t);
        if (strstr((const char *)r.body.p, root)) where[t] |= 1u << i;
      }
      pc_buf_free(&r.body);
    }
    for (uint32_t t = first; t <= last; t++) all = all && where[t];
    if (all) return;
    usleep(50000);
  }
}

/* OTLP-JSON traces with the proto's field names are cut by trace as
 * protobuf ones are (the cut walks the text the decoder accepted, and
 * knows both spellings); and a JSON bomb beside a few spans (16 MiB of
 * {} in an unknown key, from a few KB of zstd) is answered within the
 * request memory budget: the cut builds no document, so the balancer's
 * peak resident set grows by about the inflated body, not by the
 * gigabyte a parsed document of 5.6 million objects takes. */
static void json_traces_cut(bool grpc, bool bomb) {
  fx_t f;
  fx_init(&f);
  fx_start_gateways(&f);
  lb_start(&f, grpc, "  max_request_memory: 128MiB\n");
  pc_buf_t b = {0};
  spans_request(1, N_TRACES, true, &b);
  ck_assert_ptr_nonnull(strstr((const char *)b.p, "\"resource_spans\""));
  ck_assert_ptr_null(strstr((const char *)b.p, "resourceSpans"));
  pc_e2e_resp_t r;
  int status = pc_e2e_post(f.lb_http, "/v1/traces", "application/json", NULL, b.p, b.n, &r);
  ck_assert_msg(status == 200, "POST JSON traces: %d: %.*s", status, (int)r.body.n,
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
  wait_spans(&f, 2 * N_TRACES);
  ck_assert_int_eq(post_profile(&f, 1, N_TRACES, 0), 200);
  uint32_t where[N_TRACES + 1], used = 0;
  roots_where(&f, 1, N_TRACES, where);
  for (uint32_t t = 1; t <= N_TRACES; t++) used |= 1u << one_gateway(where[t]);
  ck_assert_msg(__builtin_popcount(used) >= 2, "24 traces on gateways 0x%x: not cut", used);
  if (!bomb) {
    fx_stop(&f);
    return;
  }

  /* The bomb: 8 more traces, then "x":[{},{},...] to 16 MiB. */
  spans_request(N_TRACES + 1, N_TRACES + 8, true, &b);
  ck_assert(b.n > 2 && b.p[b.n - 1] == '}');
  b.n--;
  size_t want = (size_t)16 << 20;
  ck_assert_int_eq(pc_buf_append(&b, ",\"x\":[{}", 8), 0);
  size_t items = (want - b.n - 2) / 3;
  ck_assert_int_eq(pc_buf_reserve(&b, items * 3 + 2), 0);
  for (size_t i = 0; i < items; i++) memcpy(b.p + b.n + 3 * i, ",{}", 3); /* no check per item */
  b.n += items * 3;
  ck_assert_int_eq(pc_buf_append(&b, "]}", 2), 0);
  pc_buf_t z = {0};
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 19, b.p, b.n, &z), 0);
  ck_assert_uint_lt(z.n, 64 << 10);
  uint64_t hwm0 = pc_e2e_proc_status(f.lb.pid, "VmHWM");
  status = pc_e2e_post(f.lb_http, "/v1/traces", "application/json", "zstd", z.p, z.n, &r);
  uint64_t grew = pc_e2e_proc_status(f.lb.pid, "VmHWM") - hwm0;
  fprintf(stderr, "JSON bomb of %zu MiB (%zu B of zstd) beside 16 spans, cut for 3 gateways: "
          "%d, peak RSS +%llu MiB\n", b.n >> 20, z.n, status,
          (unsigned long long)(grew >> 20));
  ck_assert_msg(status == 200, "POST the bomb: %d: %.*s", status, (int)r.body.n,
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  ck_assert_msg(!PC_E2E_RSS_MEANINGFUL || grew < ((uint64_t)96 << 20),
                "peak RSS grew by %llu MiB", (unsigned long long)(grew >> 20));
  wait_spans(&f, 2 * N_TRACES + 16);
  ck_assert_int_eq(post_profile(&f, N_TRACES + 1, N_TRACES + 8, 0), 200);
  uint32_t where2[N_TRACES + 9];
  roots_where(&f, N_TRACES + 1, N_TRACES + 8, where2);
  for (uint32_t t = N_TRACES + 1; t <= N_TRACES + 8; t++) one_gateway(where2[t]);
  pc_buf_free(&z);
  pc_buf_free(&b);
  fx_stop(&f);
}

START_TEST(json_traces_are_cut_as_written) { json_traces_cut(false, true); }
END_TEST

/* Over gRPC, which carries protobuf only, each part is encoded from its
 * model (the request's spans, not decoded again): the same routing. */
START_TEST(json_traces_are_cut_for_grpc) { json_traces_cut(true, false); }
END_TEST

/* Over gRPC, a gateway stopped mid-run: what the balancer acknowledged
 * while it was down waits in that backend's queue and arrives when it is
 * back (a static backend keeps its keys, as in the contrib); nothing is
 * lost, nothing lands elsewhere. */
START_TEST(a_stopped_gateway_loses_nothing) {
  fx_t f;
  fx_init(&f);
  fx_start_gateways(&f);
  lb_start(&f, true, NULL);
  uint32_t t = 1;
  for (int k = 0; k < 4; k++, t += 4) ck_assert_int_eq(post_profile(&f, t, t + 3, 1), 200);
  wait_for(&f, 4 * 5, NULL, 0);
  ck_assert_int_eq(pc_e2e_stop(&f.gw[1].p, 20), 0);
  char first[160];
  snprintf(first, sizeof first, "%s", f.gw[1].out);
  for (int k = 0; k < 4; k++, t += 4) ck_assert_int_eq(post_profile(&f, t, t + 3, 1), 200);
  usleep(500000); /* some tries fail against the closed port */
  pc_e2e_cleanup(&f.gw[1].p);
  gw_start(&f, 1, "gw1-again.binpb");
  const char *extra[] = {first, NULL};
  seen_t s = wait_for(&f, 8 * 5, extra, 1);
  for (uint32_t u = 1; u < t; u++) {
    ck_assert_uint_eq(s.samples[u], 1);
    one_gateway(s.where[u]);
  }
  char *log = pc_e2e_log(&f.lb);
  ck_assert_msg(strstr(log, "retry"), "no failed try was logged:\n%s", log);
  free(log);
  fx_stop(&f);
}
END_TEST

/* The dns resolver in the real binary: a numeric name resolves without a
 * DNS server, so the one gateway it names is the whole ring, found by
 * uv_getaddrinfo and re-resolved every interval; everything lands there. */
START_TEST(dns_resolver_finds_the_gateway) {
  fx_t f;
  fx_init(&f);
  gw_start(&f, 0, "gw0.binpb");
  char yaml[1536];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  otlp: {protocols: {http: {endpoint: 127.0.0.1:0}}}\n"
           "exporters:\n"
           "  loadbalancing:\n"
           "    protocol: {otlp: {tls: {insecure: true}}}\n"
           "    resolver: {dns: {hostname: 127.0.0.1, port: %d, interval: 200ms}}\n"
           "service:\n"
           "  telemetry: {metrics: {address: 127.0.0.1:0}}\n"
           "  pipelines:\n"
           "    traces: {receivers: [otlp], exporters: [loadbalancing]}\n"
           "    profiles: {receivers: [otlp], exporters: [loadbalancing]}\n",
           f.gw[0].grpc);
  ck_assert(pc_e2e_start(&f.lb, yaml));
  f.lb_http = f.lb.port;
  char joined[96];
  snprintf(joined, sizeof joined, "backend 127.0.0.1:%d joined the ring", f.gw[0].grpc);
  ck_assert(pc_e2e_wait_log(&f.lb, joined, 5000));
  post_spans(&f, 1, 6);
  ck_assert_int_eq(post_profile(&f, 1, 6, 2), 200);
  seen_t s = wait_for(&f, 8, NULL, 0);
  for (uint32_t t = 1; t <= 6; t++) ck_assert_uint_eq(s.where[t], 1u);
  usleep(500000); /* a few more lookups, the same answer: no ring change */
  int mport = pc_e2e_port_of(&f.lb, "service:telemetry");
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(mport, "/metrics", &r), 200);
  pc_buf_append(&r.body, "", 1);
  const char *m = (const char *)r.body.p;
  /* The deprecated type name in the config: the id (and label) is as written. */
  if (!strstr(m, "profcol_load_balancing_ring_changes{exporter=\"loadbalancing\"} 1\n"))
    fprintf(stderr, "%s", m);
  ck_assert_ptr_nonnull(strstr(m, "profcol_load_balancing_ring_changes{exporter=\"loadbalancing\"} 1\n"));
  const char *res = strstr(m, "profcol_load_balancing_resolutions{exporter=\"loadbalancing\"} ");
  ck_assert_ptr_nonnull(res);
  ck_assert_int_ge(atoi(res + strlen("profcol_load_balancing_resolutions{exporter=\"loadbalancing\"} ")),
                   2);
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* A dns name that does not resolve, and no backend before it: the log line
 * says what that means for the data (it used to say "keeping the 0
 * backends there are"), and a request is indeed refused with retry-later. */
START_TEST(dns_without_backends_says_data_is_refused) {
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p,
                         "receivers:\n"
                         "  otlp: {protocols: {http: {endpoint: 127.0.0.1:0}}}\n"
                         "exporters:\n"
                         "  load_balancing:\n"
                         "    protocol: {otlp_grpc: {tls: {insecure: true}}}\n"
                         "    resolver: {dns: {hostname: no-such-gateway.invalid, interval: 1s}}\n"
                         "service:\n"
                         "  telemetry: {metrics: {level: none}}\n"
                         "  pipelines:\n"
                         "    profiles: {receivers: [otlp], exporters: [load_balancing]}\n"));
  bool said = pc_e2e_wait_log(&p, "no backend yet: nothing is sent and data is refused with "
                                  "retry-later (HTTP 503, gRPC UNAVAILABLE) until it resolves; "
                                  "asking again every 1000 ms", 30000);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(said && !strstr(log, "keeping the 0 backends"), "%s", log);
  free(log);
  pc_buf_t proto = pc_test_rich_body(NULL);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p.port, "/v1development/profiles", PROTO, NULL, proto.p, proto.n,
                               &r), 503);
  pc_buf_free(&r.body);
  pc_buf_free(&proto);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("e2e-lb");
  TCase *tc = tcase_create("lb");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, each_trace_lands_on_one_gateway);
  tcase_add_test(tc, json_traces_are_cut_as_written);
  tcase_add_test(tc, json_traces_are_cut_for_grpc);
  tcase_add_test(tc, a_stopped_gateway_loses_nothing);
  tcase_add_test(tc, dns_resolver_finds_the_gateway);
  tcase_add_test(tc, dns_without_backends_says_data_is_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
