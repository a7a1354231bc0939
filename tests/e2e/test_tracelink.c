/* test_tracelink.c - trace linking end to end (issue 15): the real binary
 * with the otlp receiver feeding a traces and a profiles pipeline through
 * trace_link, a span_store extension and a file exporter, spoken to over
 * real HTTP and gRPC (python3-grpcio): spans before and after the profile
 * (with and without delay), the samples coming out enriched, the query API
 * answering exactly a trace's and a span's samples, the listing, auth,
 * eviction by window, bad traces answered 400, link_by_thread and the
 * span's service over HTTP and gRPC. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../certs.h"
#include "../exporter/httpsrv.h"
#include "../spans.h"
#include "e2e.h"

#define PROTO "application/x-protobuf"
#define JSON "application/json"

static const char yaml_fmt[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http: {endpoint: 127.0.0.1:0}\n"
    "      grpc: {endpoint: 127.0.0.1:%d}\n"
    "processors:\n"
    "  trace_link: {delay: %s}\n"
    "exporters:\n"
    "  file: {path: %s/out.binpb, format: proto}\n"
    "  nop:\n"
    "%s"
    "extensions:\n"
    "  bearertokenauth: {token: s3cret}\n"
    "  span_store:\n"
    "    endpoint: 127.0.0.1:0\n"
    "    window: %s\n"
    "%s"
    "service:\n"
    "  telemetry: {metrics: {address: 127.0.0.1:0}}\n"
    "  extensions: [bearertokenauth, span_store]\n"
    "  pipelines:\n"
    "    traces: {receivers: [otlp], processors: [trace_link], exporters: [%s]}\n"
    "    profiles: {receivers: [otlp], processors: [trace_link], exporters: [file]}\n";

typedef struct {
  pc_e2e_proc_t p;
  char dir[64];
  int http, grpc, query, metrics;
} fx_t;

/* profcol with trace_link's delay, span_store's window and more keys of
 * it; exporters: more exporters, traces: the traces pipeline's. */
static void fx_start_with(fx_t *f, const char *delay, const char *window, const char *more,
                          const char *exporters, const char *traces) {
  snprintf(f->dir, sizeof f->dir, "/tmp/profcol-tracelink-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
  f->grpc = pc_e2e_free_port();
  char yaml[4096];
  snprintf(yaml, sizeof yaml, yaml_fmt, f->grpc, delay, f->dir, exporters, window, more, traces);
  bool started = pc_e2e_start(&f->p, yaml);
  char *log = pc_e2e_log(&f->p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  f->http = f->p.port; /* OTLP/HTTP's */
  f->query = pc_e2e_port_of(&f->p, "extension:span_store");
  ck_assert_int_gt(f->query, 0);
  f->metrics = pc_e2e_port_of(&f->p, "service:telemetry");
  ck_assert_int_gt(f->metrics, 0);
}

static void fx_start(fx_t *f, const char *delay, const char *window, const char *more) {
  fx_start_with(f, delay, window, more, "", "nop");
}

static void fx_stop(fx_t *f) {
  ck_assert_int_eq(pc_e2e_stop(&f->p, 20), 0);
  pc_e2e_cleanup(&f->p);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* ---- what is sent ------------------------------------------------------------------------ */

/* Trace 1: GET /checkout (frontend) -> POST /pay (checkout, remote parent)
 * -> db.query (checkout). */
static void spans(pc_test_span_t v[3]) {
  static const char *const names[] = {"GET /checkout", "POST /pay", "db.query"};
  for (uint32_t i = 0; i < 3; i++) {
    v[i] = (pc_test_span_t){.service = i ? "checkout" : "frontend", .pid = -1, .name = names[i],
                            .tid = -1, .start = 1000 + 100 * i, .end = 5000 - 100 * i};
    pc_test_trace_id(1, v[i].trace_id);
    pc_test_span_id(i + 1, v[i].span_id);
    if (i) pc_test_span_id(i, v[i].parent_span_id);
  }
  v[1].flags = PC_SPAN_FLAGS_HAS_IS_REMOTE | PC_SPAN_FLAGS_IS_REMOTE;
}

static const pc_test_sample_t SAMPLES[] = {
    {.frames = "main;handle>encode;work", .trace = 1, .span = 2, .type = "cpu:nanoseconds",
     .value = 100},
    {.frames = "main;@/usr/lib/libc.so.6+0x1f2a3", .trace = 1, .span = 3,
     .type = "cpu:nanoseconds", .value = 50},
    {.frames = "main;handle>encode;work", .trace = 1, .span = 3, .type = "cpu:nanoseconds",
     .value = 25},
    {.frames = "main;other", .trace = 2, .span = 1, .type = "cpu:nanoseconds", .value = 1000},
    {.frames = "main;idle", .type = "cpu:nanoseconds", .value = 7},
};
#define N_SAMPLES (sizeof SAMPLES / sizeof SAMPLES[0])

static void profile(bool json, pc_buf_t *out) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, SAMPLES, N_SAMPLES, &req);
  ck_assert_int_eq(json ? pc_json_encode(&req, out) : pc_proto_encode(&req, out), 0);
  pc_arena_free(a);
}

static void post(fx_t *f, const char *path, bool json, const pc_buf_t *body, int want) {
  pc_e2e_resp_t r;
  int status = pc_e2e_post(f->http, path, json ? JSON : PROTO, NULL, body->p, body->n, &r);
  ck_assert_msg(status == want, "POST %s: %d, want %d: %.*s", path, status, want,
                (int)r.body.n, (const char *)r.body.p);
  pc_buf_free(&r.body);
}

static void post_spans(fx_t *f, bool json) {
  pc_test_span_t v[3];
  spans(v);
  pc_buf_t b = {0};
  if (json) pc_test_traces_json(v, 3, &b);
  else pc_test_traces_proto(v, 3, &b);
  post(f, "/v1/traces", json, &b, 200);
  pc_buf_free(&b);
}

static void post_profile(fx_t *f, bool json) {
  pc_buf_t b = {0};
  profile(json, &b);
  post(f, "/v1development/profiles", json, &b, 200);
  pc_buf_free(&b);
}

/* ---- what comes out ------------------------------------------------------------------------ */

typedef struct {
  char line[N_SAMPLES][400]; /* per sample, by its value's place in SAMPLES */
  int n;
} out_t;

static const char *sattr(const pc_request_t *r, const pc_sample_t *s, const char *key) {
  static char buf[128];
  buf[0] = 0;
  for (uint32_t i = 0; i < s->attribute_indices.n; i++) {
    const pc_attr_t *a = pc_dict_attr(&r->dict, s->attribute_indices.v[i]);
    if (!pc_str_eq(pc_dict_string(&r->dict, a->key_strindex), (pc_str_t){(const uint8_t *)key, strlen(key)}))
      continue;
    pc_str_t v = a->value.type == PC_AV_STRINDEX ? pc_dict_string(&r->dict, a->value.u.strindex)
                                                 : a->value.u.s;
    snprintf(buf, sizeof buf, "%.*s", PC_STR_FMT(v));
  }
  return buf;
}

static void collect(const pc_request_t *r, void *arg) {
  out_t *o = arg;
  const pc_profile_t *p = &r->resources[0].scopes[0].profiles[0];
  for (uint32_t i = 0; i < p->n_samples; i++) {
    const pc_sample_t *s = &p->samples[i];
    size_t k = 0;
    while (k < N_SAMPLES && SAMPLES[k].value != s->values[0]) k++;
    ck_assert_uint_lt(k, N_SAMPLES);
    char name[128], root[128];
    snprintf(name, sizeof name, "%s", sattr(r, s, "span.name"));
    snprintf(root, sizeof root, "%s", sattr(r, s, "span.local_root.name"));
    snprintf(o->line[k], sizeof o->line[k], "%s|%s|%s", name, root,
             sattr(r, s, "span.service.name"));
    o->n++;
  }
}

static out_t read_out(fx_t *f) {
  char path[128];
  snprintf(path, sizeof path, "%s/out.binpb", f->dir);
  out_t o = {0};
  pc_e2e_read_proto_file(path, collect, &o);
  return o;
}

/* ---- the query API ---------------------------------------------------------------------------- */

static char url[256];

static const char *profile_url(uint32_t trace, uint32_t span, const char *more) {
  uint8_t id[16], sid[8];
  char hex[33], shex[17];
  pc_test_trace_id(trace, id);
  pc_test_hex(id, 16, hex);
  pc_test_span_id(span, sid);
  pc_test_hex(sid, 8, shex);
  snprintf(url, sizeof url, "/api/v1/traces/%s/profile%s%s%s", hex, span ? "?span_id=" : "",
           span ? shex : "", more);
  return url;
}

#define AUTH "Authorization: Bearer s3cret\r\n"

static void get(fx_t *f, const char *path, const char *headers, int want, pc_e2e_resp_t *r) {
  int status = pc_e2e_get_headers(f->query, path, headers, r);
  ck_assert_msg(status == want, "GET %s: %d, want %d: %.*s", path, status, want,
                (int)r->body.n, (const char *)r->body.p);
  pc_buf_append(&r->body, "", 1);
}

static const char FOLDED_T1[] = "main;handle;encode;work 125\nmain;libc.so.6+0x1f2a3 50\n";

/* The profile of trace 1 is exactly its samples, of span 3 exactly its. */
static void check_queries(fx_t *f) {
  pc_e2e_resp_t r;
  get(f, profile_url(1, 0, ""), AUTH, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, FOLDED_T1);
  ck_assert_msg(strstr(r.headers, "X-Profcol-Sample-Type: cpu:nanoseconds"), "%s", r.headers);
  ck_assert_msg(strstr(r.headers, "Content-Type: text/plain"), "%s", r.headers);
  pc_buf_free(&r.body);
  get(f, profile_url(1, 3, ""), AUTH, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "main;handle;encode;work 25\nmain;libc.so.6+0x1f2a3 50\n");
  pc_buf_free(&r.body);
  get(f, profile_url(1, 2, ""), AUTH "Accept: application/json\r\n", 200, &r);
  ck_assert_msg(strstr((const char *)r.body.p, "\"stacks\":[{\"frames\":[\"main\",\"handle\","
                       "\"encode\",\"work\"],\"value\":100}]"), "%s", (const char *)r.body.p);
  ck_assert_msg(strstr((const char *)r.body.p, "\"sampleType\":\"cpu\",\"unit\":\"nanoseconds\""),
                "%s", (const char *)r.body.p);
  pc_buf_free(&r.body);
  get(f, profile_url(2, 0, ""), AUTH, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "main;other 1000\n");
  pc_buf_free(&r.body);
  get(f, profile_url(3, 0, ""), AUTH, 404, &r);
  pc_buf_free(&r.body);
  /* The listing: trace 1 with its root, newest first. */
  get(f, "/api/v1/traces?service=frontend", AUTH, 200, &r);
  uint8_t id[16];
  char hex[33], want[256];
  pc_test_trace_id(1, id);
  pc_test_hex(id, 16, hex);
  snprintf(want, sizeof want, "{\"traces\":[{\"traceId\":\"%s\",\"rootSpanName\":\"GET "
           "/checkout\",\"isTraceRoot\":true,\"service\":\"frontend\",\"durationNano\":4000,"
           "\"sampleCount\":3,", hex);
  ck_assert_msg(strstr((const char *)r.body.p, want), "%s\nwant %s", (const char *)r.body.p, want);
  pc_buf_free(&r.body);
}

static double metric(fx_t *f, const char *series);
/* What the window took of received requests: kept by reference, copied. */
#define KEPT "profcol_span_store_linked_request_bytes{extension=\"span_store\",how=\"kept\"}"
#define COPIED "profcol_span_store_linked_request_bytes{extension=\"span_store\",how=\"copied\"}"

/* ---- tests -------------------------------------------------------------------------------------- */

/* Spans first, then the profile: enriched on the way out, answered by the
 * query API; over HTTP with protobuf. */
START_TEST(spans_before_the_profile_http) {
  fx_t f;
  fx_start(&f, "0s", "5m", "    auth: {authenticator: bearertokenauth}\n");
  post_spans(&f, false);
  post_profile(&f, false);
  out_t o = read_out(&f);
  ck_assert_int_eq(o.n, (int)N_SAMPLES);
  ck_assert_str_eq(o.line[0], "POST /pay|POST /pay|");
  ck_assert_str_eq(o.line[1], "db.query|POST /pay|");
  ck_assert_str_eq(o.line[3], "||"); /* trace 2: no spans known */
  ck_assert_str_eq(o.line[4], "||"); /* not linked */
  check_queries(&f);
  /* Without the token: 401. */
  pc_e2e_resp_t r;
  get(&f, profile_url(1, 0, ""), NULL, 401, &r);
  ck_assert_msg(strstr(r.headers, "WWW-Authenticate: Bearer"), "%s", r.headers);
  ck_assert_msg(strncmp(r.headers, "HTTP/1.1 401 Unauthorized\r\n", 26) == 0, "%s", r.headers);
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* The profile first, spans after: without delay the samples go out as
 * they came (the query API still names the root, from the spans it has
 * when asked); with delay the late spans enrich them. Over OTLP-JSON. */
START_TEST(spans_after_the_profile) {
  for (int delayed = 0; delayed < 2; delayed++) {
    fx_t f;
    fx_start(&f, delayed ? "1500ms" : "0s", "5m", "");
    post_profile(&f, true);
    post_spans(&f, true);
    out_t o = {0};
    for (int i = 0; i < 100 && o.n < (int)N_SAMPLES; i++) {
      usleep(50000);
      o = read_out(&f);
    }
    ck_assert_int_eq(o.n, (int)N_SAMPLES);
    ck_assert_str_eq(o.line[0], delayed ? "POST /pay|POST /pay|" : "||");
    ck_assert_str_eq(o.line[1], delayed ? "db.query|POST /pay|" : "||");
    check_queries(&f);
    fx_stop(&f);
  }
}
END_TEST

static double metric(fx_t *f, const char *series);

/* The same over OTLP/gRPC: TraceService and ProfilesService. */
START_TEST(spans_and_profile_over_grpc) {
  fx_t f;
  fx_start(&f, "0s", "5m", "");
  char traces[128], payloads[128], body[160];
  snprintf(traces, sizeof traces, "%s/spans.pb", f.dir);
  snprintf(payloads, sizeof payloads, "%s/payloads", f.dir);
  snprintf(body, sizeof body, "%s/profile.binpb", payloads);
  ck_assert_int_eq(mkdir(payloads, 0700), 0);
  pc_test_span_t v[3];
  spans(v);
  pc_buf_t b = {0};
  pc_test_traces_proto(v, 3, &b);
  FILE *fp = fopen(traces, "wb");
  ck_assert_uint_eq(fwrite(b.p, 1, b.n, fp), b.n);
  fclose(fp);
  b.n = 0;
  profile(false, &b);
  fp = fopen(body, "wb");
  ck_assert_uint_eq(fwrite(b.p, 1, b.n, fp), b.n);
  fclose(fp);
  pc_buf_free(&b);

  ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"--traces-file", traces,
                                                                   "raw_traces", NULL}), 0);
  ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"--payload-dir", payloads,
                                                                   "payloads", NULL}), 0);
  ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"traces_invalid", NULL}), 0);
  out_t o = read_out(&f);
  ck_assert_int_eq(o.n, (int)N_SAMPLES);
  ck_assert_str_eq(o.line[2], "db.query|POST /pay|");
  check_queries(&f);
  /* The receiver counts the spans it took as the Collector's does; the
   * invalid request, refused at decode, has none to count. */
  ck_assert_double_eq(metric(&f, "otelcol_receiver_accepted_spans{receiver=\"otlp\","
                                 "transport=\"grpc\"}"), 3);
  ck_assert_double_eq(metric(&f, "otelcol_receiver_refused_spans{receiver=\"otlp\","
                                 "transport=\"grpc\"}"), 0);
  fx_stop(&f);
}
END_TEST

/* link_by_thread and the span's service end to end, over HTTP and over
 * gRPC: a sample linked to a span of another service than the profile's
 * gets span.service.name (one of the same service does not); an unlinked
 * sample of a thread inside a span recorded for its process and thread is
 * linked to it and enriched, and the query API answers it under that
 * trace; samples outside the span or of another thread stay unlinked. */
static const pc_test_sample_t THREAD_SAMPLES[] = {
    {.frames = "main;frontend_call", .trace = 1, .span = 1, .value = 11},
    {.frames = "main;db", .trace = 1, .span = 3, .value = 12},
    {.frames = "main;worker;hash", .n_timestamps = 1, .ts = 15000, .tid = 77},
    {.frames = "main;worker;late", .n_timestamps = 1, .ts = 30000, .tid = 77},
    {.frames = "main;other_thread", .n_timestamps = 1, .ts = 15001, .tid = 78},
};
#define N_THREAD_SAMPLES (sizeof THREAD_SAMPLES / sizeof THREAD_SAMPLES[0])

typedef struct {
  char line[N_THREAD_SAMPLES][400]; /* name|root|service|linked trace (1, 3 or 0) */
  int n;
} thread_out_t;

static void collect_thread(const pc_request_t *r, void *arg) {
  thread_out_t *o = arg;
  for (uint32_t sc = 0; sc < r->resources[0].n_scopes; sc++)
    for (uint32_t k = 0; k < r->resources[0].scopes[sc].n_profiles; k++) {
      const pc_profile_t *p = &r->resources[0].scopes[sc].profiles[k];
      for (uint32_t i = 0; i < p->n_samples; i++) {
        const pc_sample_t *s = &p->samples[i];
        size_t j = 0;
        while (j < N_THREAD_SAMPLES &&
               (s->n_values ? THREAD_SAMPLES[j].value != s->values[0]
                            : !s->n_timestamps || THREAD_SAMPLES[j].ts != s->timestamps_unix_nano[0]))
          j++;
        ck_assert_uint_lt(j, N_THREAD_SAMPLES);
        int trace = 0;
        if (s->link_index > 0) {
          uint8_t t1[16], t3[16];
          pc_test_trace_id(1, t1);
          pc_test_trace_id(3, t3);
          const pc_link_t *l = &r->dict.links[s->link_index];
          trace = !memcmp(l->trace_id.p, t1, 16) ? 1 : !memcmp(l->trace_id.p, t3, 16) ? 3 : -1;
        }
        char name[128], root[128];
        snprintf(name, sizeof name, "%s", sattr(r, s, "span.name"));
        snprintf(root, sizeof root, "%s", sattr(r, s, "span.local_root.name"));
        snprintf(o->line[j], sizeof o->line[j], "%s|%s|%s|%d", name, root,
                 sattr(r, s, "span.service.name"), trace);
        o->n++;
      }
    }
}

START_TEST(thread_and_service_end_to_end) {
  bool grpc = _i;
  fx_t f;
  fx_start(&f, "0s, link_by_thread: true", "5m", "");
  /* Trace 1 as above, and trace 3: a span on thread 77 of process 4242. */
  pc_test_span_t v[4];
  spans(v);
  v[3] = (pc_test_span_t){.service = "checkout", .pid = 4242, .name = "worker.run", .tid = 77,
                          .start = 10000, .end = 20000};
  pc_test_trace_id(3, v[3].trace_id);
  pc_test_span_id(1, v[3].span_id);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, "checkout", 4242, THREAD_SAMPLES, N_THREAD_SAMPLES, &req);
  pc_buf_t spans_pb = {0}, prof_pb = {0};
  pc_test_traces_proto(v, 4, &spans_pb);
  ck_assert_int_eq(pc_proto_encode(&req, &prof_pb), 0);
  pc_arena_free(a);
  if (grpc) {
    char traces[128], payloads[128], body[160];
    snprintf(traces, sizeof traces, "%s/spans.pb", f.dir);
    snprintf(payloads, sizeof payloads, "%s/payloads", f.dir);
    snprintf(body, sizeof body, "%s/profile.binpb", payloads);
    ck_assert_int_eq(mkdir(payloads, 0700), 0);
    FILE *fp = fopen(traces, "wb");
    ck_assert_uint_eq(fwrite(spans_pb.p, 1, spans_pb.n, fp), spans_pb.n);
    fclose(fp);
    fp = fopen(body, "wb");
    ck_assert_uint_eq(fwrite(prof_pb.p, 1, prof_pb.n, fp), prof_pb.n);
    fclose(fp);
    ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"--traces-file", traces,
                                                                     "raw_traces", NULL}), 0);
    ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"--payload-dir", payloads,
                                                                     "payloads", NULL}), 0);
  } else {
    post(&f, "/v1/traces", false, &spans_pb, 200);
    post(&f, "/v1development/profiles", false, &prof_pb, 200);
  }
  pc_buf_free(&spans_pb);
  pc_buf_free(&prof_pb);
  char path[128];
  snprintf(path, sizeof path, "%s/out.binpb", f.dir);
  thread_out_t o = {0};
  pc_e2e_read_proto_file(path, collect_thread, &o);
  ck_assert_int_eq(o.n, (int)N_THREAD_SAMPLES);
  ck_assert_str_eq(o.line[0], "GET /checkout|GET /checkout|frontend|1");
  ck_assert_str_eq(o.line[1], "db.query|POST /pay||1");
  ck_assert_str_eq(o.line[2], "worker.run|worker.run||3");
  ck_assert_str_eq(o.line[3], "|||0");
  ck_assert_str_eq(o.line[4], "|||0");
  pc_e2e_resp_t r;
  get(&f, profile_url(3, 0, ""), NULL, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "main;worker;hash 1\n");
  pc_buf_free(&r.body);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_thread_linked_samples{processor=\"trace_link\",pipeline=\"profiles\"}"), 1);
  fx_stop(&f);
}
END_TEST

/* Normalization with the real receiver in front: what it lets through
 * (all-zero ids, equal links, a first entry that is not the zero link) is
 * cleaned up by trace_link and counted; what it refuses names the field:
 * ids of the wrong size (400), link indices outside the table (the profile
 * rejected, a partial success). */
static uint32_t norm_seen[4]; /* samples by link: 0, trace 1 span 1, trace 1 span 2, other */

static void collect_links(const pc_request_t *r, void *arg) {
  (void)arg;
  ck_assert_uint_eq(r->dict.n_links, 3); /* the zero link, A, B */
  const pc_profile_t *p = &r->resources[0].scopes[0].profiles[0];
  for (uint32_t i = 0; i < p->n_samples; i++) {
    int32_t li = p->samples[i].link_index;
    const pc_link_t *l = pc_dict_link(&r->dict, li);
    uint8_t t[16], s1[8], s2[8];
    pc_test_trace_id(1, t);
    pc_test_span_id(1, s1);
    pc_test_span_id(2, s2);
    bool is_t1 = l->trace_id.n == 16 && !memcmp(l->trace_id.p, t, 16) && l->span_id.n == 8;
    uint32_t k = li == 0 ? 0 : is_t1 && !memcmp(l->span_id.p, s1, 8) ? 1
                 : is_t1 && !memcmp(l->span_id.p, s2, 8) ? 2 : 3;
    norm_seen[k]++;
  }
}

START_TEST(links_normalized_end_to_end) {
  fx_t f;
  fx_start(&f, "0s", "5m", "");
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[8];
  for (int i = 0; i < 8; i++)
    v[i] = (pc_test_sample_t){.frames = "main;work", .type = "cpu:nanoseconds", .value = i + 1};
  v[0].trace = 1, v[0].span = 1;
  v[1].trace = 1, v[1].span = 2;
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, 8, &req);
  pc_dictionary_t *d = &req.dict;
  ck_assert_uint_eq(d->n_links, 3);
  static const uint8_t zeros[16];
  uint8_t nz[16];
  pc_test_trace_id(7, nz);
  pc_link_t *links = pc_arena_calloc(a, 7, sizeof *links);
  links[0] = d->links[1];                                   /* entry 0, not zero: read as zero */
  links[1] = d->links[1];                                   /* A */
  links[2] = d->links[1];                                   /* A again */
  links[3] = (pc_link_t){{zeros, 16}, d->links[1].span_id}; /* all-zero trace id */
  links[4] = (pc_link_t){{nz, 16}, {zeros, 8}};             /* all-zero span id */
  links[5] = (pc_link_t){{0}, {0}};                         /* empty */
  links[6] = d->links[2];                                   /* B */
  d->links = links;
  d->n_links = 7;
  static const int32_t idx[8] = {1, 2, 3, 4, 5, 6, 0, 0};
  pc_profile_t *p = &req.resources[0].scopes[0].profiles[0];
  for (uint32_t i = 0; i < 8; i++) p->samples[i].link_index = idx[i];
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  post(&f, "/v1development/profiles", false, &b, 200);
  b.n = 0;
  /* Refused by the receiver, before trace_link: a 15-byte trace id, and a
   * link index past the table. */
  static const uint8_t trace15[15] = {1};
  links[3] = (pc_link_t){{trace15, 15}, d->links[1].span_id};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1development/profiles", PROTO, NULL, b.p, b.n, &r), 400);
  ck_assert_msg(memmem(r.body.p, r.body.n, "link_table[3]: trace_id must be 16 bytes", 40), "%.*s",
                (int)r.body.n, (const char *)r.body.p);
  pc_buf_free(&r.body);
  links[3] = links[1];
  p->samples[7].link_index = 99;
  b.n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  /* (a bad profile alone is rejected as a partial success, as OTLP says) */
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1development/profiles", PROTO, NULL, b.p, b.n, &r), 200);
  ck_assert_msg(memmem(r.body.p, r.body.n, "link_index", 10), "%.*s", (int)r.body.n,
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
  pc_arena_free(a);
  /* Out: zero, A, B; A's sample and its duplicate's on A, B's on B, the rest unlinked. */
  char path[128];
  snprintf(path, sizeof path, "%s/out.binpb", f.dir);
  memset(norm_seen, 0, sizeof norm_seen);
  ck_assert_int_eq(pc_e2e_read_proto_file(path, collect_links, NULL), 1);
  ck_assert_uint_eq(norm_seen[1], 2);
  ck_assert_uint_eq(norm_seen[2], 1);
  ck_assert_uint_eq(norm_seen[3], 0);
  ck_assert_uint_eq(norm_seen[0], 5);
#define TL "processor=\"trace_link\",pipeline=\"profiles\""
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_dropped_links{" TL
                                 ",reason=\"duplicate\"}"), 1);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_dropped_links{" TL
                                 ",reason=\"zero_id\"}"), 3);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_unlinked_samples{" TL
                                 ",reason=\"dropped_link\"}"), 3);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_linked_samples{" TL "}"), 3);
  /* and the query API answers trace 1 from the normalized links */
  pc_e2e_resp_t q;
  get(&f, profile_url(1, 0, ""), NULL, 200, &q);
  ck_assert_str_eq((const char *)q.body.p, "main;work 9\n"); /* 1 + 2 on A, 6 on B */
  pc_buf_free(&q.body);
  fx_stop(&f);
}
END_TEST

/* Bad traces are 400 with the reason, and nothing reaches the store. */
START_TEST(bad_traces_answered_400) {
  fx_t f;
  fx_start(&f, "0s", "5m", "");
  pc_test_span_t v[3];
  spans(v);
  v[2].id_len = 4;
  pc_buf_t b = {0};
  pc_test_traces_proto(v, 3, &b);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1/traces", PROTO, NULL, b.p, b.n, &r), 400);
  ck_assert_msg(memmem(r.body.p, r.body.n, "must be 16 bytes", 16), "%.*s", (int)r.body.n,
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  b.n = 0;
  profile(false, &b);
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1/traces", PROTO, NULL, b.p, b.n, &r), 400);
  ck_assert_msg(memmem(r.body.p, r.body.n, "not an ExportTraceServiceRequest", 32), "%.*s",
                (int)r.body.n, (const char *)r.body.p);
  pc_buf_free(&r.body);
  pc_buf_free(&b);
  /* Nothing was recorded: the profile comes out without span names. */
  post_profile(&f, false);
  out_t o = read_out(&f);
  ck_assert_str_eq(o.line[0], "||");
  fx_stop(&f);
}
END_TEST

/* Samples are answered for window after they arrived, and then not. */
START_TEST(evicted_after_the_window) {
  fx_t f;
  fx_start(&f, "0s", "1s", "");
  post_spans(&f, false);
  post_profile(&f, false);
  pc_e2e_resp_t r;
  get(&f, profile_url(1, 0, ""), NULL, 200, &r);
  pc_buf_free(&r.body);
  usleep(2300 * 1000); /* the window and a sweep */
  get(&f, profile_url(1, 0, ""), NULL, 404, &r);
  ck_assert_msg(strstr((const char *)r.body.p, "in the last 1s"), "%s", (const char *)r.body.p);
  pc_buf_free(&r.body);
  get(&f, "/api/v1/traces", NULL, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "{\"traces\":[]}\n");
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

/* The memory caps hold: spans beyond max_memory and linked samples beyond
 * max_profiles_memory go oldest first, counted, and the query API no
 * longer has them. */
START_TEST(evicted_by_the_memory_caps) {
  fx_t f;
  fx_start(&f, "0s", "5m", "    max_memory: 1MiB\n    max_profiles_memory: 256KiB\n");
  post_spans(&f, false);
  post_profile(&f, false);
  pc_e2e_resp_t r;
  get(&f, "/api/v1/traces?service=frontend", NULL, 200, &r);
  ck_assert_msg(strstr((const char *)r.body.p, "\"rootSpanName\":\"GET /checkout\""), "%s",
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  /* 30,000 spans of other traces: well over 1 MiB at about 100 bytes each */
  enum { PER = 1000 };
  pc_test_span_t *many = calloc(PER, sizeof *many);
  ck_assert_ptr_nonnull(many);
  for (uint32_t k = 0; k < 30; k++) {
    for (uint32_t i = 0; i < PER; i++) {
      many[i] = (pc_test_span_t){.service = "load", .pid = -1, .tid = -1, .name = "work",
                                 .start = 1, .end = 2};
      pc_test_trace_id(1000 + k * PER + i, many[i].trace_id);
      pc_test_span_id(1, many[i].span_id);
    }
    pc_buf_t b = {0};
    pc_test_traces_proto(many, PER, &b);
    post(&f, "/v1/traces", false, &b, 200);
    pc_buf_free(&b);
  }
  free(many);
  ck_assert_double_gt(metric(&f, "profcol_span_store_evicted_spans{extension=\"span_store\","
                                 "reason=\"memory\"}"), 0);
  ck_assert_double_le(metric(&f, "profcol_span_store_spans_bytes{extension=\"span_store\"}"),
                      1 << 20);
  ck_assert_double_lt(metric(&f, "profcol_span_store_spans{extension=\"span_store\"}"), 30000);
  /* trace 1's samples are still kept, its spans are not: no root to name */
  get(&f, "/api/v1/traces?service=checkout", NULL, 200, &r);
  ck_assert_msg(strstr((const char *)r.body.p, "\"rootSpanName\":null"), "%s",
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  get(&f, profile_url(1, 0, ""), NULL, 200, &r);
  pc_buf_free(&r.body);
  /* linked samples of trace 3 until the window's cap pushes trace 1's out */
  pc_test_sample_t busy[100];
  for (size_t i = 0; i < 100; i++)
    busy[i] = (pc_test_sample_t){.frames = "main;busy", .trace = 3, .span = 1,
                                 .type = "cpu:nanoseconds", .value = (int64_t)i + 1};
  double evicted = 0;
  for (int k = 0; k < 400 && evicted <= 0; k++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t req;
    pc_test_profiles(a, "checkout", -1, busy, 100, &req);
    pc_buf_t b = {0};
    ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
    pc_arena_free(a);
    post(&f, "/v1development/profiles", false, &b, 200);
    pc_buf_free(&b);
    evicted = metric(&f, "profcol_span_store_evicted_chunks{extension=\"span_store\","
                         "reason=\"memory\"}");
  }
  ck_assert_double_gt(evicted, 0);
  ck_assert_double_le(metric(&f, "profcol_span_store_linked_bytes{extension=\"span_store\"}"),
                      256 << 10);
  get(&f, profile_url(1, 0, ""), NULL, 404, &r);
  pc_buf_free(&r.body);
  get(&f, profile_url(3, 0, ""), NULL, 200, &r);
  pc_buf_free(&r.body);
  fx_stop(&f);
}
END_TEST

static size_t curl_sink(char *p, size_t size, size_t n, void *ud) {
  pc_buf_append(ud, p, size * n);
  return size * n;
}

/* The query API over HTTPS with the receivers' tls keys; cleartext fails. */
START_TEST(query_api_over_tls) {
  char *certs = pc_test_certdir();
  char cert[512], key[512], tls[1200];
  pc_test_cert(certs, "server", NULL, cert, key, sizeof cert);
  snprintf(tls, sizeof tls, "    tls: {cert_file: %s, key_file: %s, min_version: \"1.3\"}\n",
           cert, key);
  fx_t f;
  fx_start(&f, "0s", "5m", tls);
  post_spans(&f, false);
  post_profile(&f, false);
  char u[512];
  snprintf(u, sizeof u, "https://localhost:%d%s", f.query, profile_url(1, 0, ""));
  CURL *h = curl_easy_init();
  pc_buf_t body = {0};
  curl_easy_setopt(h, CURLOPT_URL, u);
  curl_easy_setopt(h, CURLOPT_CAINFO, cert);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  ck_assert_int_eq(code, 200);
  pc_buf_append(&body, "", 1);
  ck_assert_str_eq((const char *)body.p, FOLDED_T1);
  curl_easy_cleanup(h);
  pc_buf_free(&body);
  pc_e2e_resp_t r;
  ck_assert_int_lt(pc_e2e_get(f.query, profile_url(1, 0, ""), &r), 200); /* no HTTP answer */
  pc_buf_free(&r.body);
  fx_stop(&f);
  pc_test_certdir_rm(certs);
}
END_TEST

/* ---- two workers, one store ------------------------------------------------------------------ */

#define WT 16 /* traces, each over connections of its own */

/* Trace t: GET /t<t> (frontend) -> work <t> (backend). */
static void worker_spans(uint32_t t, pc_test_span_t v[2], char names[2][32]) {
  snprintf(names[0], sizeof names[0], "GET /t%u", t);
  snprintf(names[1], sizeof names[1], "work %u", t);
  for (uint32_t i = 0; i < 2; i++) {
    v[i] = (pc_test_span_t){.service = i ? "backend" : "frontend", .pid = -1, .tid = -1,
                            .name = names[i], .start = 1000 + 100 * i, .end = 5000 - 100 * i};
    pc_test_trace_id(t, v[i].trace_id);
    pc_test_span_id(i + 1, v[i].span_id);
    if (i) pc_test_span_id(i, v[i].parent_span_id);
  }
}

/* What trace_link wrote: per trace, its samples seen and those named
 * after their span; and anything named wrong. */
typedef struct {
  uint32_t seen[WT + 1], named[WT + 1];
  int wrong;
} wout_t;

static void worker_collect(const pc_request_t *r, void *arg) {
  wout_t *o = arg;
  const pc_profile_t *p = &r->resources[0].scopes[0].profiles[0];
  for (uint32_t i = 0; i < p->n_samples; i++) {
    const pc_sample_t *s = &p->samples[i];
    ck_assert_int_gt(s->link_index, 0);
    const pc_link_t *l = &r->dict.links[s->link_index];
    uint32_t t = 0, sp = 0;
    for (uint32_t k = 1; k <= WT && !t; k++) {
      uint8_t id[16];
      pc_test_trace_id(k, id);
      if (l->trace_id.n == 16 && memcmp(l->trace_id.p, id, 16) == 0) t = k;
    }
    ck_assert_uint_gt(t, 0);
    uint8_t sid[8];
    pc_test_span_id(2, sid);
    sp = memcmp(l->span_id.p, sid, 8) == 0 ? 2 : 1;
    char want[32];
    if (sp == 2) snprintf(want, sizeof want, "work %u", t);
    else snprintf(want, sizeof want, "GET /t%u", t);
    o->seen[t]++;
    if (strcmp(sattr(r, s, "span.name"), want) == 0) o->named[t]++;
    else o->wrong++;
  }
}

/* service.workers: 2 with one span_store: each trace's spans and its
 * profile come over connections of their own (the kernel spreads them
 * over the workers, so for most traces spans and samples reach different
 * workers: all 16 on one worker each has odds of 2^-16), yet every sample
 * is named after its span, and the one query API answers every trace. The
 * file exporter writes a file per worker: both took profiles. */
START_TEST(two_workers_link_across_connections) {
  fx_t f = {0};
  snprintf(f.dir, sizeof f.dir, "/tmp/profcol-tracelink-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(f.dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  otlp:\n"
           "    protocols:\n"
           "      http: {endpoint: 127.0.0.1:0}\n"
           "processors:\n"
           "  trace_link:\n"
           "exporters:\n"
           "  file: {path: %s/out.binpb, format: proto}\n"
           "  nop:\n"
           "extensions:\n"
           "  span_store: {endpoint: 127.0.0.1:0}\n"
           "service:\n"
           "  workers: 2\n"
           "  extensions: [span_store]\n"
           "  pipelines:\n"
           "    traces: {receivers: [otlp], processors: [trace_link], exporters: [nop]}\n"
           "    profiles: {receivers: [otlp], processors: [trace_link], exporters: [file]}\n",
           f.dir);
  bool started = pc_e2e_start(&f.p, yaml);
  char *log = pc_e2e_log(&f.p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  ck_assert(pc_e2e_wait_log(&f.p, "2 workers (service.workers)", 5000));
  f.http = f.p.port;
  f.query = pc_e2e_port_of(&f.p, "extension:span_store");
  ck_assert_int_gt(f.query, 0);

  for (uint32_t t = 1; t <= WT; t++) {
    pc_test_span_t v[2];
    char names[2][32];
    worker_spans(t, v, names);
    pc_buf_t b = {0};
    pc_test_traces_proto(v, 2, &b);
    post(&f, "/v1/traces", false, &b, 200);
    pc_buf_free(&b);
  }
  for (uint32_t t = 1; t <= WT; t++) {
    char work[32], idle[32];
    snprintf(work, sizeof work, "main;work%u", t);
    snprintf(idle, sizeof idle, "main;idle%u", t);
    const pc_test_sample_t smp[] = {
        {.frames = work, .trace = t, .span = 2, .type = "cpu:nanoseconds", .value = 10 * t},
        {.frames = idle, .trace = t, .span = 1, .type = "cpu:nanoseconds", .value = t},
    };
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t req;
    pc_test_profiles(a, "backend", -1, smp, 2, &req);
    pc_buf_t b = {0};
    ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
    post(&f, "/v1development/profiles", false, &b, 200);
    pc_buf_free(&b);
    pc_arena_free(a);
  }

  /* The query API: every trace's samples, whichever worker took them. */
  for (uint32_t t = 1; t <= WT; t++) {
    pc_e2e_resp_t r;
    get(&f, profile_url(t, 0, ""), NULL, 200, &r);
    char want[64];
    snprintf(want, sizeof want, "main;work%u %u\n", t, 10 * t);
    ck_assert_msg(strstr((const char *)r.body.p, want), "trace %u: %s", t, (const char *)r.body.p);
    snprintf(want, sizeof want, "main;idle%u %u\n", t, t);
    ck_assert_msg(strstr((const char *)r.body.p, want), "trace %u: %s", t, (const char *)r.body.p);
    pc_buf_free(&r.body);
  }
  pc_e2e_resp_t r;
  get(&f, "/api/v1/traces?limit=100", NULL, 200, &r);
  for (uint32_t t = 1; t <= WT; t++) {
    uint8_t id[16];
    char hex[33], want[64];
    pc_test_trace_id(t, id);
    pc_test_hex(id, 16, hex);
    snprintf(want, sizeof want, "\"traceId\":\"%s\"", hex);
    ck_assert_msg(strstr((const char *)r.body.p, want), "trace %u not listed: %s", t,
                  (const char *)r.body.p);
  }
  pc_buf_free(&r.body);

  ck_assert_int_eq(pc_e2e_stop(&f.p, 20), 0);
  wout_t o = {0};
  char path[128];
  snprintf(path, sizeof path, "%s/out.binpb", f.dir);
  int w0 = pc_e2e_read_proto_file(path, worker_collect, &o);
  snprintf(path, sizeof path, "%s/out.w1.binpb", f.dir);
  int w1 = pc_e2e_read_proto_file(path, worker_collect, &o);
  ck_assert_msg(w0 > 0 && w1 > 0, "one worker took every profile: %d and %d", w0, w1);
  ck_assert_int_eq(o.wrong, 0);
  for (uint32_t t = 1; t <= WT; t++) {
    ck_assert_uint_eq(o.seen[t], 2);
    ck_assert_uint_eq(o.named[t], 2);
  }
  pc_e2e_cleanup(&f.p);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f.dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- the window keeps what the receivers received ------------------------------------- */

/* The window keeps each request's bytes by reference, not a copy: the
 * body as received (protobuf and OTLP-JSON) and as decompressed (gzip),
 * over OTLP/HTTP and OTLP/gRPC (large messages: a small one's first
 * buffer would hold it many times over, and is copied from). Two
 * requests pipelined on one connection: the first one's buffer, kept,
 * is not the second's, and the query answers each exactly. */
START_TEST(window_keeps_the_received_bytes) {
  fx_t f;
  fx_start(&f, "0s", "5m", "");
  post_spans(&f, false);
  pc_buf_t proto = {0}, json = {0}, gz = {0}, gzjson = {0}, other = {0};
  profile(false, &proto);
  profile(true, &json);
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, proto.p, proto.n, &gz), 0);
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, json.p, json.n, &gzjson), 0);
  /* Trace 5, as long as trace 1's request: it would land in the same buffer. */
  pc_test_sample_t v[N_SAMPLES];
  char frames[N_SAMPLES][32];
  for (size_t i = 0; i < N_SAMPLES; i++) {
    v[i] = SAMPLES[i];
    snprintf(frames[i], sizeof frames[i], "main;five%zu", i);
    v[i].frames = frames[i];
    if (v[i].trace) v[i].trace = 5;
  }
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, N_SAMPLES, &req);
  ck_assert_int_eq(pc_proto_encode(&req, &other), 0);
  pc_arena_free(a);
  pc_buf_t raw = {0}, ans = {0};
  ck_assert_int_eq(pc_buf_printf(&raw, "POST /v1development/profiles HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: " PROTO "\r\nContent-Length: %zu\r\n\r\n",
                                 proto.n), 0);
  ck_assert_int_eq(pc_buf_append(&raw, proto.p, proto.n), 0);
  ck_assert_int_eq(pc_buf_printf(&raw, "POST /v1development/profiles HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: " PROTO "\r\nConnection: close\r\n"
                                 "Content-Length: %zu\r\n\r\n", other.n), 0);
  ck_assert_int_eq(pc_buf_append(&raw, other.p, other.n), 0);
  ck_assert_int_eq(pc_e2e_raw(f.http, raw.p, raw.n, &ans), 0);
  ck_assert_int_eq(pc_buf_append(&ans, "", 1), 0);
  const char *second = strstr((const char *)ans.p + 1, "HTTP/1.1 ");
  ck_assert_msg(!strncmp((const char *)ans.p, "HTTP/1.1 200", 12) && second &&
                !strncmp(second, "HTTP/1.1 200", 12), "%s", (const char *)ans.p);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1development/profiles", PROTO, "gzip", gz.p, gz.n, &r),
                   200);
  pc_buf_free(&r.body);
  post(&f, "/v1development/profiles", true, &json, 200);
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1development/profiles", JSON, "gzip", gzjson.p,
                               gzjson.n, &r), 200);
  pc_buf_free(&r.body);
  /* Over OTLP/gRPC: traces 7 and 8 in large messages, as they are and
   * gzipped. */
  char payloads[128], body[160];
  snprintf(payloads, sizeof payloads, "%s/payloads", f.dir);
  ck_assert_int_eq(mkdir(payloads, 0700), 0);
  size_t big_n = 0;
  for (uint32_t t = 7; t <= 8; t++) {
    enum { BIG = 3000 };
    static pc_test_sample_t bv[BIG];
    static char bframes[BIG][24];
    for (uint32_t i = 0; i < BIG; i++) {
      snprintf(bframes[i], sizeof bframes[i], "main;big%u", i);
      bv[i] = (pc_test_sample_t){.frames = bframes[i], .trace = t, .span = 1, .value = 1};
    }
    pc_arena_t *ba = pc_arena_new(0);
    pc_test_profiles(ba, "checkout", -1, bv, BIG, &req);
    pc_buf_t big = {0};
    ck_assert_int_eq(pc_proto_encode(&req, &big), 0);
    pc_arena_free(ba);
    snprintf(body, sizeof body, "%s/big%u.binpb", payloads, t);
    FILE *fp = fopen(body, "wb");
    ck_assert_uint_eq(fwrite(big.p, 1, big.n, fp), big.n);
    fclose(fp);
    big_n += big.n;
    pc_buf_free(&big);
  }
  ck_assert_int_eq(pc_e2e_grpc_client(f.grpc, (const char *const[]){"--payload-dir", payloads,
                                                                   "payloads", NULL}), 0);
  get(&f, profile_url(8, 0, ""), NULL, 200, &r);
  ck_assert_msg(strstr((const char *)r.body.p, "\nmain;big2999 1\n"), "%.200s",
                (const char *)r.body.p);
  pc_buf_free(&r.body);
  /* Trace 1 four times over; trace 5 as sent. */
  get(&f, profile_url(1, 0, ""), NULL, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "main;handle;encode;work 500\nmain;libc.so.6+0x1f2a3 200\n");
  pc_buf_free(&r.body);
  get(&f, profile_url(5, 0, ""), NULL, 200, &r);
  ck_assert_str_eq((const char *)r.body.p, "main;five0 100\nmain;five1 50\nmain;five2 25\n"
                                           "main;five3 1000\n");
  pc_buf_free(&r.body);
  ck_assert_double_eq(metric(&f, KEPT), (double)(2 * proto.n + other.n + 2 * json.n + big_n));
  ck_assert_double_eq(metric(&f, COPIED), 0);
  fx_stop(&f);
  pc_buf_free(&proto);
  pc_buf_free(&json);
  pc_buf_free(&gz);
  pc_buf_free(&gzjson);
  pc_buf_free(&other);
  pc_buf_free(&raw);
  pc_buf_free(&ans);
}
END_TEST

/* ---- traces on to exporters, and the store in the self-telemetry -------------------------- */

/* The value of series ("name{labels}" as rendered) at the metrics
 * endpoint, -1 when absent. */
static double metric(fx_t *f, const char *series) {
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(f->metrics, "/metrics", &r), 200);
  pc_buf_append(&r.body, "", 1);
  const char *text = (const char *)r.body.p;
  size_t n = strlen(series);
  double v = -1;
  for (const char *p = text; (p = strstr(p, series)); p += n)
    if ((p == text || p[-1] == '\n') && p[n] == ' ') {
      v = strtod(p + n + 1, NULL);
      break;
    }
  pc_buf_free(&r.body);
  return v;
}

/* Spans reach a traces exporter as the bytes the client sent (after
 * decompression), protobuf and OTLP-JSON alike, with their own content
 * type, and are recorded in the store on the way (the profile of trace 1
 * is answered, named, and counted in the store's metrics). */
START_TEST(traces_pass_through_as_bytes) {
  srv_t *srv = srv_start();
  char exporters[256];
  snprintf(exporters, sizeof exporters,
           "  otlp_http/traces: {endpoint: \"%s\", compression: none, "
           "retry_on_failure: {initial_interval: 50ms}}\n", srv_url(srv));
  srv_script(srv, &(srv_answer_t){.status = 503}, 1); /* one retry, logged */
  fx_t f;
  fx_start_with(&f, "0s", "5m", "", exporters, "otlp_http/traces");
  pc_test_span_t v[3];
  spans(v);
  pc_buf_t proto = {0}, json = {0}, gz = {0};
  pc_test_traces_proto(v, 3, &proto);
  pc_test_traces_json(v, 3, &json);
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, proto.p, proto.n, &gz), 0);
  post(&f, "/v1/traces", false, &proto, 200);
  post(&f, "/v1/traces", true, &json, 200);
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(f.http, "/v1/traces", PROTO, "gzip", gz.p, gz.n, &r), 200);
  pc_buf_free(&r.body);
  for (int i = 0; i < 500 && srv_count(srv) < 4; i++) usleep(10000);
  ck_assert_uint_eq(srv_count(srv), 4);
  int as_proto = 0, as_json = 0;
  for (size_t i = 0; i < 4; i++) { /* up to 10 in flight: any order */
    srv_request_t got = srv_request(srv, i);
    ck_assert_str_eq(got.path, "/v1/traces");
    ck_assert_str_eq(got.content_encoding, "");
    bool is_json = strcmp(got.content_type, JSON) == 0;
    const pc_buf_t *want = is_json ? &json : &proto;
    ck_assert_msg(is_json || strcmp(got.content_type, PROTO) == 0, "%s", got.content_type);
    ck_assert_uint_eq(got.n, want->n);
    ck_assert_msg(memcmp(got.body, want->p, want->n) == 0, "request %zu: other bytes", i);
    if (is_json) as_json++;
    else as_proto++;
  }
  ck_assert_int_eq(as_proto + as_json, 4); /* the first one twice */
  ck_assert_int_ge(as_proto, 2);
  ck_assert_int_ge(as_json, 1);
  /* The exporter's start line names what it sends: traces only. */
  ck_assert(pc_e2e_wait_log(&f.p, "[exporter:otlp_http/traces] sending traces to http://", 100));
  /* A traces batch is named by its bytes, not as "0 profiles". */
  ck_assert(pc_e2e_wait_log(&f.p, "sending a traces batch (", 5000));
  char *log = pc_e2e_log(&f.p);
  ck_assert_msg(!strstr(log, "0 profiles"), "%s", log);
  free(log);
  post_profile(&f, false);
  check_queries(&f);
#define SS "{extension=\"span_store\"}"
  /* The same spans three times are three spans: the second and third
   * sending update them in place, and are counted as duplicates. */
  ck_assert_double_eq(metric(&f, "profcol_span_store_added_spans" SS), 3);
  ck_assert_double_eq(metric(&f, "profcol_span_store_duplicate_spans" SS), 6);
  ck_assert_double_eq(metric(&f, "profcol_span_store_spans" SS), 3);
  ck_assert_double_eq(metric(&f, "profcol_span_store_added_linked_samples" SS), 4);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_recorded_spans{processor="
                                 "\"trace_link\",pipeline=\"traces\"}"), 9);
  ck_assert_double_eq(metric(&f, "otelcol_receiver_accepted_spans{receiver=\"otlp\","
                                 "transport=\"http\"}"), 9);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_enriched_samples{processor="
                                 "\"trace_link\",pipeline=\"profiles\"}"), 3);
  fx_stop(&f);
  srv_stop(srv);
  pc_buf_free(&proto);
  pc_buf_free(&json);
  pc_buf_free(&gz);
}
END_TEST

extern char **environ;

/* tests/grpc/grpc_server.py (python3-grpcio) recording every call in dir;
 * its port. */
static int grpc_backend_start(const char *dir, pid_t *pid) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(root != NULL, "PC_SOURCE_ROOT is not set (run through meson test)");
  char script[1024], protos[1024], port_file[1024];
  snprintf(script, sizeof script, "%s/tests/grpc/grpc_server.py", root);
  snprintf(protos, sizeof protos, "%s/proto", root);
  snprintf(port_file, sizeof port_file, "%s/port", dir);
  char *argv[] = {"/usr/bin/python3", script, "--proto-root", protos, "--out", (char *)dir,
                  "--port-file", port_file, "--lifetime", "120", NULL};
  ck_assert_int_eq(posix_spawn(pid, argv[0], NULL, NULL, argv, environ), 0);
  int port = 0;
  for (int i = 0; i < 600 && !port; i++) { /* protoc runs first */
    FILE *fp = fopen(port_file, "r");
    if (fp) {
      ck_assert_int_eq(fscanf(fp, "%d", &port), 1);
      fclose(fp);
    } else {
      ck_assert_msg(waitpid(*pid, NULL, WNOHANG) == 0, "grpc_server.py exited early");
      usleep(50 * 1000);
    }
  }
  ck_assert_msg(port > 0, "grpc_server.py did not write its port in 30 s");
  return port;
}

/* Call i's message as grpc_server.py got it (after any grpc-encoding). */
static void grpc_call(const char *dir, int i, pc_buf_t *out) {
  char path[256];
  snprintf(path, sizeof path, "%s/%03d.bin", dir, i);
  for (int k = 0; k < 500 && access(path, F_OK) != 0; k++) usleep(10000);
  FILE *fp = fopen(path, "rb");
  ck_assert_msg(fp != NULL, "the backend got no call %d", i);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) pc_buf_append(out, chunk, n);
  fclose(fp);
}

/* Over gRPC an exporter can send protobuf only: spans that came as
 * OTLP-JSON (a browser SDK's) are encoded from the model, the same bytes
 * as the independent encoder's; spans that came as protobuf go as they
 * came. python3-grpcio parses both as ExportTraceServiceRequest. */
START_TEST(json_traces_to_a_grpc_exporter) {
  char bdir[] = "/tmp/profcol-tracelink-grpc-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(bdir));
  pid_t backend;
  int port = grpc_backend_start(bdir, &backend);
  char exporters[256];
  snprintf(exporters, sizeof exporters, "  otlp_grpc/traces: {endpoint: \"127.0.0.1:%d\", "
           "tls: {insecure: true}, compression: none}\n", port);
  fx_t f;
  fx_start_with(&f, "0s", "5m", "", exporters, "otlp_grpc/traces");
  pc_test_span_t v[3];
  spans(v);
  pc_buf_t proto = {0}, json = {0}, got = {0};
  pc_test_traces_proto(v, 3, &proto);
  pc_test_traces_json(v, 3, &json);
  for (int i = 0; i < 2; i++) { /* one at a time: the calls' order is known */
    post(&f, "/v1/traces", i == 0, i == 0 ? &json : &proto, 200);
    got.n = 0;
    grpc_call(bdir, i, &got);
    ck_assert_uint_eq(got.n, proto.n);
    ck_assert_msg(memcmp(got.p, proto.p, proto.n) == 0, "call %d: other bytes", i);
  }
  char log[256];
  snprintf(log, sizeof log, "grep -c ' OK [0-9]* parsed ' %s/calls.log | grep -qx 2", bdir);
  ck_assert_msg(system(log) == 0, "grpc_server.py did not parse both calls");
  post_profile(&f, false);
  check_queries(&f);
  fx_stop(&f);
  kill(backend, SIGTERM);
  waitpid(backend, NULL, 0);
  char rm[128];
  snprintf(rm, sizeof rm, "rm -rf %s", bdir);
  ck_assert_int_eq(system(rm), 0);
  pc_buf_free(&proto);
  pc_buf_free(&json);
  pc_buf_free(&got);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e-tracelink");
  TCase *tc = tcase_create("tracelink");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, spans_before_the_profile_http);
  tcase_add_test(tc, spans_after_the_profile);
  tcase_add_test(tc, spans_and_profile_over_grpc);
  tcase_add_loop_test(tc, thread_and_service_end_to_end, 0, 2);
  tcase_add_test(tc, bad_traces_answered_400);
  tcase_add_test(tc, links_normalized_end_to_end);
  tcase_add_test(tc, evicted_after_the_window);
  tcase_add_test(tc, evicted_by_the_memory_caps);
  tcase_add_test(tc, query_api_over_tls);
  tcase_add_test(tc, traces_pass_through_as_bytes);
  tcase_add_test(tc, json_traces_to_a_grpc_exporter);
  tcase_add_test(tc, two_workers_link_across_connections);
  tcase_add_test(tc, window_keeps_the_received_bytes);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
