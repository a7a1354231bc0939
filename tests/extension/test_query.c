/* test_query.c - the window of linked profiles (extension/linked.c), the
 * folding of its samples (fold.c) and the query API's answers
 * (trace_query.c), called as the extension's HTTP server calls them: the
 * profile of a trace holds exactly its samples (or its span's), named and
 * ordered as shared/spec/OTLP-PROFILES.md section 6 says, in text and JSON;
 * the listing; eviction by window and by memory. Over real HTTP: the e2e
 * suite. */
#include <check.h>
#include <jansson.h>
#include <llhttp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../extension/internal.h"
#include "../spans.h"
#include "test_extension.h"

#define WINDOW 10000

typedef struct {
  pc_spans_t *spans;
  pc_linked_t *linked;
  pc_arena_t *arena;
} fx_t;

static void fx_open(fx_t *f, uint64_t max_bytes) {
  pc_spans_cfg_t sc = {.window_ms = WINDOW, .max_bytes = 1 << 20, .stripes = 4};
  pc_linked_cfg_t lc = {.window_ms = WINDOW, .max_bytes = max_bytes, .shards = 4};
  f->spans = pc_spans_new(&sc);
  f->linked = pc_linked_new(&lc);
  f->arena = pc_arena_new(0);
}

static void fx_close(fx_t *f) {
  pc_spans_free(f->spans);
  pc_linked_free(f->linked);
  pc_arena_free(f->arena);
}

/* Trace 1 (a root in frontend, a child and a grandchild in checkout),
 * trace 2 (no spans known), in the span table. */
static void add_spans(fx_t *f, uint64_t now) {
  pc_test_span_t v[3] = {
      {.service = "frontend", .pid = -1, .name = "GET /checkout", .tid = -1, .start = 1000,
       .end = 5000},
      {.service = "checkout", .pid = -1, .name = "POST /pay", .tid = -1, .start = 2000,
       .end = 4000},
      {.service = "checkout", .pid = -1, .name = "db.query", .tid = -1, .start = 2500,
       .end = 3000},
  };
  for (uint32_t i = 0; i < 3; i++) {
    pc_test_trace_id(1, v[i].trace_id);
    pc_test_span_id(i + 1, v[i].span_id);
    if (i) pc_test_span_id(i, v[i].parent_span_id);
  }
  pc_traces_t tr;
  pc_test_traces(f->arena, v, 3, &tr);
  pc_spans_add(f->spans, &tr, now);
}

static const pc_test_sample_t P1[] = {
    {.frames = "main;handle>encode;work", .trace = 1, .span = 2, .type = "cpu:nanoseconds",
     .value = 100},
    {.frames = "main;@/lib/x86_64-linux-gnu/libc.so.6+0x1f2a3", .trace = 1, .span = 3,
     .type = "cpu:nanoseconds", .value = 50},
    {.frames = "main;handle>encode;work", .trace = 1, .span = 3, .type = "cpu:nanoseconds",
     .value = 25},
    {.frames = "main;other", .trace = 2, .span = 1, .type = "cpu:nanoseconds", .value = 1000},
    {.frames = "main;idle", .type = "cpu:nanoseconds", .value = 7},
    {.frames = "main;alloc", .trace = 1, .span = 2, .type = "alloc:bytes", .value = 4096},
    {.frames = "", .trace = 1, .span = 2, .type = "cpu:nanoseconds", .value = 5},
    {.frames = "main;tick", .trace = 1, .span = 2, .type = "cpu:nanoseconds", .n_timestamps = 3,
     .ts = 2600},
};

/* A receiver lending the buffer its request was decoded from
 * (pc_request_t.encoded_lender), as receiver/decode.c does: the bytes,
 * shared. */
typedef struct {
  pc_bytes_lender_t l;
  pc_bytes_t *b;
  int calls;
} lender_t;

static pc_bytes_t *lend(pc_bytes_lender_t *l) {
  lender_t *t = container_of(l, lender_t, l);
  t->calls++;
  return pc_bytes_ref(t->b);
}

/* How a request reaches the window: as a tree without bytes (merged into
 * chunks), or decoded from protobuf or OTLP-JSON, its bytes copied (1, 2)
 * or lent by the receiver and kept (3, 4). Set per test run by the loop
 * tests. */
static int mode;

static void add_req(fx_t *f, pc_request_t *req, uint64_t now) {
  if (mode) {
    bool json = mode % 2 == 0;
    pc_buf_t b = {0};
    ck_assert_int_eq(json ? pc_json_encode(req, &b) : pc_proto_encode(req, &b), 0);
    pc_bytes_t *bytes = pc_bytes_from_buf_take(&b);
    pc_err_t err = {0};
    ck_assert_int_eq((json ? pc_json_decode : pc_proto_decode)(f->arena, bytes->p, bytes->n, req,
                                                               &err), 0);
    ck_assert_uint_eq(req->encoded_n, bytes->n);
    lender_t t = {.l = {.keep = lend, .cap = bytes->cap}, .b = bytes};
    if (mode >= 3) req->encoded_lender = &t.l;
    pc_linked_stats_t before, after;
    pc_linked_stats(f->linked, &before);
    pc_linked_add(f->linked, req, now);
    pc_linked_stats(f->linked, &after);
    ck_assert_int_eq(t.calls, mode >= 3 && after.added_samples > before.added_samples);
    ck_assert_uint_eq(after.kept_bytes - before.kept_bytes, t.calls ? bytes->n : 0);
    if (mode < 3) ck_assert_uint_eq(after.kept_bytes, 0);
    else ck_assert_uint_eq(after.copied_bytes, 0);
    pc_bytes_unref(bytes); /* the window holds it alone now, if it kept it */
    return;
  }
  pc_linked_add(f->linked, req, now);
}

static void add_profile(fx_t *f, const char *service, const pc_test_sample_t *v, size_t n,
                        uint64_t now) {
  pc_request_t req;
  pc_test_profiles(f->arena, service, -1, v, n, &req);
  add_req(f, &req, now);
}

typedef struct {
  int status;
  char ctype[64];
  char headers[512];
  char body[8192];
} ans_t;

static uint64_t max_query_bytes = 32 << 20;

static ans_t query(fx_t *f, const char *url, bool json, uint64_t now) {
  pc_md_pair_t accept = {PC_STR_LIT("Accept"), PC_STR_LIT("text/html, application/json;q=0.9")};
  pc_http_request_t r = {.method = HTTP_GET,
                         .url = {(const uint8_t *)url, strlen(url)},
                         .headers = {json ? &accept : NULL, json ? 1 : 0}};
  const char *q = strchr(url, '?');
  r.path = (pc_str_t){(const uint8_t *)url, q ? (size_t)(q - url) : strlen(url)};
  pc__query_t qy = {.spans = f->spans, .linked = f->linked, .window_ms = WINDOW, .now_ms = now,
                    .wall_ms = 1700000000000ull, .max_query_bytes = max_query_bytes};
  pc_http_response_t resp = {0};
  pc__query_answer(&qy, &r, &resp);
  ans_t a = {.status = resp.status};
  snprintf(a.ctype, sizeof a.ctype, "%s", resp.content_type ? resp.content_type : "");
  snprintf(a.headers, sizeof a.headers, "%.*s", (int)resp.headers.n, (const char *)resp.headers.p);
  snprintf(a.body, sizeof a.body, "%.*s", (int)resp.body.n, (const char *)resp.body.p);
  pc_buf_free(&resp.body);
  pc_buf_free(&resp.headers);
  return a;
}

static char trace_url[128];

static const char *profile_url(uint32_t trace, const char *params) {
  uint8_t id[16];
  char hex[33];
  pc_test_trace_id(trace, id);
  pc_test_hex(id, 16, hex);
  snprintf(trace_url, sizeof trace_url, "/api/v1/traces/%s/profile%s", hex, params);
  return trace_url;
}

static const char *span_hex(uint32_t span) {
  static char hex[17];
  uint8_t id[8];
  pc_test_span_id(span, id);
  pc_test_hex(id, 8, hex);
  return hex;
}

START_TEST(profile_of_a_trace) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  /* The default type is the one with the most samples (cpu: 5, alloc: 1). */
  ans_t a = query(&f, profile_url(1, ""), false, 200);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.ctype, "text/plain; charset=utf-8");
  ck_assert_str_eq(a.headers, "X-Profcol-Sample-Type: cpu:nanoseconds\r\n");
  ck_assert_str_eq(a.body, "[unknown] 5\n"
                           "main;handle;encode;work 125\n"
                           "main;libc.so.6+0x1f2a3 50\n"
                           "main;tick 3\n");
  /* Only span 3's samples. */
  char params[64];
  snprintf(params, sizeof params, "?span_id=%s", span_hex(3));
  a = query(&f, profile_url(1, params), false, 200);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.body, "main;handle;encode;work 25\nmain;libc.so.6+0x1f2a3 50\n");
  /* Another sample type, by type or type:unit. */
  a = query(&f, profile_url(1, "?sample_type=alloc"), false, 200);
  ck_assert_str_eq(a.headers, "X-Profcol-Sample-Type: alloc:bytes\r\n");
  ck_assert_str_eq(a.body, "main;alloc 4096\n");
  a = query(&f, profile_url(1, "?sample_type=alloc%3Abytes"), false, 200);
  ck_assert_str_eq(a.body, "main;alloc 4096\n");
  a = query(&f, profile_url(1, "?sample_type=wall"), false, 200);
  ck_assert_int_eq(a.status, 404);
  ck_assert_msg(strstr(a.body, "there are: alloc:bytes, cpu:nanoseconds"), "%s", a.body);
  /* Trace 2 has only its own sample. */
  a = query(&f, profile_url(2, ""), false, 200);
  ck_assert_str_eq(a.body, "main;other 1000\n");
  fx_close(&f);
}
END_TEST

START_TEST(profile_as_json) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  char params[64];
  snprintf(params, sizeof params, "?span_id=%s", span_hex(3));
  ans_t a = query(&f, profile_url(1, params), true, 200);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.ctype, "application/json");
  ck_assert_str_eq(a.headers, "X-Profcol-Sample-Type: cpu:nanoseconds\r\n");
  json_error_t je;
  json_t *j = json_loads(a.body, 0, &je);
  ck_assert_msg(j, "%s: %s", je.text, a.body);
  uint8_t id[16];
  char hex[33];
  pc_test_trace_id(1, id);
  pc_test_hex(id, 16, hex);
  ck_assert_str_eq(json_string_value(json_object_get(j, "traceId")), hex);
  ck_assert_str_eq(json_string_value(json_object_get(j, "spanId")), span_hex(3));
  ck_assert_str_eq(json_string_value(json_object_get(j, "sampleType")), "cpu");
  ck_assert_str_eq(json_string_value(json_object_get(j, "unit")), "nanoseconds");
  ck_assert(json_is_true(json_object_get(j, "chosenByDefault")));
  ck_assert_int_eq(json_integer_value(json_object_get(j, "samples")), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 75);
  json_t *st = json_object_get(j, "stacks");
  ck_assert_uint_eq(json_array_size(st), 2);
  json_t *frames = json_object_get(json_array_get(st, 0), "frames");
  ck_assert_uint_eq(json_array_size(frames), 4);
  ck_assert_str_eq(json_string_value(json_array_get(frames, 0)), "main");
  ck_assert_str_eq(json_string_value(json_array_get(frames, 3)), "work");
  ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(st, 0), "value")), 25);
  ck_assert_str_eq(json_string_value(json_array_get(
                       json_object_get(json_array_get(st, 1), "frames"), 1)),
                   "libc.so.6+0x1f2a3");
  /* The same as a flame graph tree (d3-flame-graph's shape). */
  json_t *fg = json_object_get(j, "flamegraph");
  ck_assert_str_eq(json_string_value(json_object_get(fg, "name")), "root");
  ck_assert_int_eq(json_integer_value(json_object_get(fg, "value")), 75);
  json_t *mainf = json_array_get(json_object_get(fg, "children"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(mainf, "name")), "main");
  ck_assert_uint_eq(json_array_size(json_object_get(mainf, "children")), 2);
  json_decref(j);
  /* Errors are JSON too for a client that asked for it. */
  a = query(&f, profile_url(9, ""), true, 200);
  ck_assert_int_eq(a.status, 404);
  ck_assert_str_eq(a.ctype, "application/json");
  ck_assert_msg(strstr(a.body, "{\"error\":\"no profile samples linked to trace"), "%s", a.body);
  fx_close(&f);
}
END_TEST

START_TEST(bad_requests) {
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  ans_t a = query(&f, "/api/v1/traces/1234/profile", false, 0);
  ck_assert_int_eq(a.status, 400);
  ck_assert_msg(strstr(a.body, "trace id must be 32 hex digits"), "%s", a.body);
  a = query(&f, profile_url(1, "?span_id=xyz"), false, 0);
  ck_assert_int_eq(a.status, 400);
  a = query(&f, "/api/v1/traces?limit=0", false, 0);
  ck_assert_int_eq(a.status, 400);
  /* A parameter that does not decode or fit is refused, not taken as
   * absent: a span_id ignored would answer for the whole trace. */
  const char *undecodable[] = {"?span_id=%zz", "?sample_type=cpu%4", "?format=%zz"};
  for (size_t i = 0; i < sizeof undecodable / sizeof *undecodable; i++) {
    a = query(&f, profile_url(1, undecodable[i]), false, 100);
    ck_assert_msg(a.status == 400, "%s: %d %s", undecodable[i], a.status, a.body);
    ck_assert_msg(strstr(a.body, "malformed percent-encoding"), "%s", a.body);
  }
  char long_span[512];
  snprintf(long_span, sizeof long_span, "%s?span_id=%0300d", profile_url(1, ""), 0);
  a = query(&f, long_span, false, 100);
  ck_assert_int_eq(a.status, 400);
  a = query(&f, "/api/v1/traces?limit=%zz", true, 100);
  ck_assert_int_eq(a.status, 400);
  ck_assert_str_eq(a.ctype, "application/json");
  a = query(&f, "/api/v1/traces?service=%zz", false, 100);
  ck_assert_int_eq(a.status, 400);
  a = query(&f, "/api/v1/nope", false, 0);
  ck_assert_int_eq(a.status, 404);
  a = query(&f, "/api/v1/traces/x/y/profile", false, 0);
  ck_assert_int_eq(a.status, 404);
  /* Unknown trace; known trace, span without samples. */
  a = query(&f, profile_url(3, ""), false, 200);
  ck_assert_int_eq(a.status, 404);
  char params[64];
  snprintf(params, sizeof params, "?span_id=%s", span_hex(9));
  a = query(&f, profile_url(1, params), false, 200);
  ck_assert_int_eq(a.status, 404);
  /* Ids in capitals are the same trace. */
  char upper[128];
  snprintf(upper, sizeof upper, "%s", profile_url(2, ""));
  for (char *c = upper + 15; *c && *c != '/'; c++)
    if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 32);
  a = query(&f, upper, false, 200);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.body, "main;other 1000\n");
  fx_close(&f);
}
END_TEST

/* The /api/v1/traces answer a, parsed (the caller frees it), which must list
 * three traces; hex gets the ids of test traces 1, 2 and 3 to compare with. */
static json_t *listing_of_three(const ans_t *a, char hex[3][33]) {
  json_error_t je;
  json_t *j = json_loads(a->body, 0, &je);
  ck_assert_msg(j, "%s: %s", je.text, a->body);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "traces")), 3);
  uint8_t id[16];
  for (uint32_t i = 0; i < 3; i++) {
    pc_test_trace_id(i + 1, id);
    pc_test_hex(id, 16, hex[i]);
  }
  return j;
}

START_TEST(listing) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_spans(&f, 50);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  static const pc_test_sample_t p2[] = {{.frames = "cart;add", .trace = 3, .span = 1,
                                         .value = 9}};
  add_profile(&f, "cart", p2, 1, 200);
  ans_t a = query(&f, "/api/v1/traces", false, 300);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.ctype, "application/json");
  char hex[3][33];
  json_t *j = listing_of_three(&a, hex);
  json_error_t je;
  json_t *t = json_object_get(j, "traces");
  /* Newest first: trace 3, then trace 2 and 1 of the same request. */
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 0), "traceId")), hex[2]);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 1), "traceId")), hex[1]);
  json_t *t1 = json_array_get(t, 2);
  ck_assert_str_eq(json_string_value(json_object_get(t1, "traceId")), hex[0]);
  ck_assert_str_eq(json_string_value(json_object_get(t1, "rootSpanName")), "GET /checkout");
  ck_assert(json_is_true(json_object_get(t1, "isTraceRoot")));
  ck_assert_str_eq(json_string_value(json_object_get(t1, "service")), "frontend");
  ck_assert_int_eq(json_integer_value(json_object_get(t1, "durationNano")), 4000);
  ck_assert_int_eq(json_integer_value(json_object_get(t1, "sampleCount")), 6);
  ck_assert_str_eq(json_string_value(json_object_get(t1, "lastReceived")),
                   "2023-11-14T22:13:19.800Z");
  json_t *t2 = json_array_get(t, 1);
  ck_assert(json_is_null(json_object_get(t2, "rootSpanName")));
  ck_assert(json_is_null(json_object_get(t2, "durationNano")));
  ck_assert_str_eq(json_string_value(json_object_get(t2, "service")), "checkout");
  json_decref(j);
  /* Filters: by a trace's profile service or its spans' services, and limit. */
  a = query(&f, "/api/v1/traces?service=frontend", false, 300);
  j = json_loads(a.body, 0, &je);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "traces")), 1);
  json_decref(j);
  a = query(&f, "/api/v1/traces?service=checkout", false, 300);
  j = json_loads(a.body, 0, &je);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "traces")), 2);
  json_decref(j);
  a = query(&f, "/api/v1/traces?limit=1", false, 300);
  j = json_loads(a.body, 0, &je);
  t = json_object_get(j, "traces");
  ck_assert_uint_eq(json_array_size(t), 1);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 0), "traceId")), hex[2]);
  json_decref(j);
  fx_close(&f);
}
END_TEST

/* A service's profile asked of an empty window (nothing received yet, or
 * all of it expired): a 404, not a sort of no chunks (qsort and memmove on
 * a NULL array are undefined behaviour, which UBSan stops on). */
START_TEST(service_window_empty) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  ans_t a = query(&f, "/api/v1/services/checkout/profile", false, 100);
  ck_assert_int_eq(a.status, 404);
  fx_close(&f);
}
END_TEST

/* GET /api/v1/services/{service}/profile: every linked sample of one
 * service (by the profiles' resource; linked samples only, however the
 * request was kept), a trace's share marked; reading only the newest
 * max_query_bytes of the window. */
START_TEST(service_window) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  static const pc_test_sample_t P2[] = {
      {.frames = "main;cart", .trace = 3, .span = 1, .type = "cpu:nanoseconds", .value = 40},
  };
  add_profile(&f, "cart", P2, 1, 150);
  /* checkout's cpu, of every trace; not cart's, not unlinked samples */
  ans_t a = query(&f, "/api/v1/services/checkout/profile", false, 200);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.headers, "X-Profcol-Sample-Type: cpu:nanoseconds\r\n");
  ck_assert_str_eq(a.body, "[unknown] 5\n"
                           "main;handle;encode;work 125\n"
                           "main;libc.so.6+0x1f2a3 50\n"
                           "main;other 1000\n"
                           "main;tick 3\n");
  a = query(&f, "/api/v1/services/cart/profile", false, 200);
  ck_assert_str_eq(a.body, "main;cart 40\n");
  /* trace 1's span 3 marked: 75 of 1183, through main, work and libc */
  char url[200];
  uint8_t id[16];
  char hex[33];
  pc_test_trace_id(1, id);
  pc_test_hex(id, 16, hex);
  snprintf(url, sizeof url, "/api/v1/services/checkout/profile?trace_id=%s&span_id=%s", hex,
           span_hex(3));
  a = query(&f, url, true, 200);
  ck_assert_int_eq(a.status, 200);
  json_error_t je;
  json_t *j = json_loads(a.body, 0, &je);
  ck_assert_msg(j, "%s: %s", je.text, a.body);
  ck_assert_str_eq(json_string_value(json_object_get(j, "service")), "checkout");
  ck_assert_str_eq(json_string_value(json_object_get(j, "traceId")), hex);
  ck_assert_str_eq(json_string_value(json_object_get(j, "spanId")), span_hex(3));
  ck_assert(json_is_false(json_object_get(j, "partialWindow")));
  ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 1183);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "marked")), 75);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "markedSamples")), 2);
  json_t *main_node = json_array_get(json_object_get(json_object_get(j, "flamegraph"),
                                                     "children"), 1);
  ck_assert_str_eq(json_string_value(json_object_get(main_node, "name")), "main");
  ck_assert_int_eq(json_integer_value(json_object_get(main_node, "marked")), 75);
  json_t *kids = json_object_get(main_node, "children");
  for (size_t i = 0; i < json_array_size(kids); i++) {
    json_t *k = json_array_get(kids, i);
    const char *name = json_string_value(json_object_get(k, "name"));
    json_int_t want = !strcmp(name, "handle") ? 25 : !strcmp(name, "libc.so.6+0x1f2a3") ? 50 : 0;
    ck_assert_msg(json_integer_value(json_object_get(k, "marked")) == want, "%s", name);
  }
  json_t *svcs = json_object_get(j, "services");
  ck_assert_uint_eq(json_array_size(svcs), 1);
  ck_assert_str_eq(json_string_value(json_array_get(svcs, 0)), "checkout");
  json_decref(j);
  /* errors: an unknown service, a span without its trace, a bad format */
  a = query(&f, "/api/v1/services/frontend/profile", false, 200);
  ck_assert_int_eq(a.status, 404);
  snprintf(url, sizeof url, "/api/v1/services/checkout/profile?span_id=%s", span_hex(3));
  a = query(&f, url, false, 200);
  ck_assert_int_eq(a.status, 400);
  ck_assert_msg(strstr(a.body, "give both"), "%s", a.body);
  a = query(&f, "/api/v1/services/checkout/profile?format=svg", true, 200);
  ck_assert_int_eq(a.status, 400);
  ck_assert_str_eq(a.body, "{\"error\":\"format must be folded, json or pprof, got \\\"svg\\\"\"}\n");
  a = query(&f, "/api/v1/services//profile", false, 200);
  ck_assert_int_eq(a.status, 404);
  a = query(&f, "/api/v1/services/a%2/profile", false, 200);
  ck_assert_int_eq(a.status, 400);
  a = query(&f, "/api/v1/services/checkout", false, 200);
  ck_assert_int_eq(a.status, 404);
  /* A later chunk (a slice of the window later); with room for only the
   * newest chunk, the answer holds only its samples and says so. */
  add_profile(&f, "checkout", P2, 1, 100 + WINDOW / 32 + 1);
  max_query_bytes = 1;
  a = query(&f, "/api/v1/services/checkout/profile?format=json", false, 800);
  max_query_bytes = 32 << 20;
  ck_assert_int_eq(a.status, 200);
  ck_assert_msg(strstr(a.body, "\"partialWindow\":true"), "%s", a.body);
  ck_assert_msg(strstr(a.body, "\"stacks\":[{\"frames\":[\"main\",\"cart\"],\"value\":40}]"),
                "%s", a.body);
  a = query(&f, "/api/v1/services/checkout/profile", false, 800);
  ck_assert_str_eq(a.body, "[unknown] 5\n"
                           "main;cart 40\n"
                           "main;handle;encode;work 125\n"
                           "main;libc.so.6+0x1f2a3 50\n"
                           "main;other 1000\n"
                           "main;tick 3\n");
  fx_close(&f);
}
END_TEST

/* ?format=pprof, or Accept: a pprof file (gzip'd profile.proto) to save. */
START_TEST(pprof_format) {
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 100);
  pc_md_pair_t accept = {PC_STR_LIT("Accept"), PC_STR_LIT("application/vnd.google.protobuf")};
  const char *url = profile_url(1, "");
  pc_http_request_t r = {.method = HTTP_GET, .url = {(const uint8_t *)url, strlen(url)},
                         .path = {(const uint8_t *)url, strlen(url)}, .headers = {&accept, 1}};
  pc__query_t qy = {.spans = f.spans, .linked = f.linked, .window_ms = WINDOW, .now_ms = 200,
                    .max_query_bytes = max_query_bytes};
  pc_http_response_t resp = {0};
  pc__query_answer(&qy, &r, &resp);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_str_eq(resp.content_type, "application/vnd.google.protobuf+gzip");
  ck_assert_int_eq(pc_encoding_sniff(resp.body.p, resp.body.n), PC_ENC_GZIP);
  pc_buf_append(&resp.headers, "", 1);
  ck_assert_msg(strstr((const char *)resp.headers.p, "Content-Disposition: attachment; "
                       "filename=\"trace-101112131415161718191a1b01000000.pb.gz\""),
                "%s", (const char *)resp.headers.p);
  pc_buf_free(&resp.body);
  pc_buf_free(&resp.headers);
  /* ?format= wins over Accept */
  ans_t a = query(&f, profile_url(1, "?format=folded"), true, 200);
  ck_assert_str_eq(a.ctype, "text/plain; charset=utf-8");
  fx_close(&f);
}
END_TEST

/* A sample is answered while it arrived less than the window ago (by
 * arrival, whatever its timestamps say), and not after. */
START_TEST(evict_by_window) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 1000);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 1000 + WINDOW - 1).status, 200);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 1000 + WINDOW).status, 404);
  pc_linked_stats_t st;
  pc_linked_stats(f.linked, &st);
  ck_assert_uint_eq(st.traces, 0);
  ck_assert_uint_eq(st.samples, 0);
  ck_assert_uint_eq(st.evicted_window, 1);
  ck_assert(strstr(query(&f, "/api/v1/traces", false, 1000 + WINDOW).body, "{\"traces\":[]}"));
  fx_close(&f);
}
END_TEST

/* Under the memory cap the oldest chunks go first, with their traces. */
START_TEST(evict_by_memory) {
  mode = _i == 2 ? 3 : _i;
  const uint64_t cap = 2 << 20;
  fx_t f;
  fx_open(&f, cap);
  char frames[64][64];
  pc_test_sample_t v[64];
  uint32_t trace = 0;
  for (int req = 0; req < 400; req++) {
    for (int i = 0; i < 64; i++) {
      snprintf(frames[i], sizeof frames[i], "main;fn%d;leaf%d", i, req);
      v[i] = (pc_test_sample_t){.frames = frames[i], .trace = ++trace, .span = 1, .value = 1 + i};
    }
    pc_request_t r;
    pc_test_profiles(f.arena, "svc", -1, v, 64, &r);
    add_req(&f, &r, (uint64_t)req);
    pc_arena_reset(f.arena);
    pc_linked_stats_t st;
    pc_linked_stats(f.linked, &st);
    ck_assert_msg(st.bytes <= cap, "%llu bytes held under a cap of %llu",
                  (unsigned long long)st.bytes, (unsigned long long)cap);
  }
  pc_linked_stats_t st;
  pc_linked_stats(f.linked, &st);
  ck_assert_uint_gt(st.evicted_memory, 0);
  ck_assert_uint_eq(st.evicted_window, 0);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 400).status, 404);
  ans_t a = query(&f, profile_url(trace, ""), false, 400);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.body, "main;fn63;leaf399 64\n");
  ck_assert_uint_eq(st.traces, st.samples);
  fx_close(&f);
}
END_TEST

/* A trace in many chunks, which leave the window one at a time while new
 * ones come (the index keeps a trace's chunks oldest first, dropping the
 * oldest by moving its start, and moves them down or grows when full):
 * its profile is exactly the samples of the chunks still held, and its
 * count in the listing theirs. Each request also links one new trace
 * from more spans than the index looks up at a time (INDEX_BATCH), which
 * must make one entry of them, not one per batch. */
START_TEST(trace_chunks_come_and_go) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  const uint64_t step = WINDOW / 25; /* a request's chunk stays for 25 requests */
  char frames[100][32];
  for (uint32_t i = 0; i < 100; i++) {
    pc_test_sample_t v[41];
    snprintf(frames[i], sizeof frames[i], "main;f%u", i);
    v[0] = (pc_test_sample_t){.frames = frames[i], .trace = 7, .span = 1 + i % 3, .value = 1};
    for (uint32_t k = 1; k < 41; k++)
      v[k] = (pc_test_sample_t){.frames = "main;other", .trace = 1000 + i, .span = k,
                                .value = 1};
    uint64_t now = 1000 + i * step;
    add_profile(&f, "svc", v, 41, now);
    pc_arena_reset(f.arena);
    uint32_t oldest = i < 24 ? 0 : i - 24; /* the requests held: oldest..i */
    ans_t a = query(&f, profile_url(7, ""), false, now);
    ck_assert_int_eq(a.status, 200);
    char want[4096] = "", line[64];
    uint32_t held[100], n = 0;
    for (uint32_t j = oldest; j <= i; j++) held[n++] = j;
    /* folded stacks sort by name: f10 before f9 */
    for (uint32_t x = 0; x < n; x++)
      for (uint32_t y = x + 1; y < n; y++) {
        char bx[16], by[16];
        snprintf(bx, sizeof bx, "f%u", held[x]);
        snprintf(by, sizeof by, "f%u", held[y]);
        if (strcmp(bx, by) > 0) {
          uint32_t t = held[x];
          held[x] = held[y], held[y] = t;
        }
      }
    for (uint32_t x = 0; x < n; x++) {
      snprintf(line, sizeof line, "main;f%u 1\n", held[x]);
      strcat(want, line);
    }
    ck_assert_str_eq(a.body, want);
    pc_linked_trace_t out[64];
    size_t listed = pc_linked_list(f.linked, now, 64, NULL, NULL, out);
    ck_assert_uint_eq(listed, 1 + (i - oldest + 1)); /* trace 7, and one per request */
    for (size_t k = 0; k < listed; k++) {
      uint8_t t7[16];
      pc_test_trace_id(7, t7);
      ck_assert_uint_eq(out[k].samples, memcmp(out[k].trace_id, t7, 16) ? 40 : i - oldest + 1);
    }
  }
  fx_close(&f);
}
END_TEST

/* Workers read the clock before they take the window's lock: a call whose
 * now_ms is older than samples another thread just added must not take
 * them for a window old (now - last_ms wrapping around), nor list them out
 * of order. */
START_TEST(clock_read_before_the_lock) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_profile(&f, "checkout", P1, sizeof P1 / sizeof P1[0], 5000);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 4999).status, 200);
  pc_linked_expire(f.linked, 4998);
  ck_assert_int_eq(query(&f, profile_url(2, ""), false, 4997).status, 200);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 5000 + WINDOW - 1).status, 200);
  ck_assert_int_eq(query(&f, profile_url(1, ""), false, 5000 + WINDOW).status, 404);
  fx_close(&f);
}
END_TEST

/* A request whose receiver lends its buffer is kept by reference: the
 * window holds the very bytes (a reference, no copy), counts their
 * buffer in its memory, answers from them, and lets go of them when they
 * leave the window. A buffer much larger than its bytes is copied
 * instead, so that it does not shrink the window. */
START_TEST(request_bytes_kept_not_copied) {
  fx_t f;
  fx_open(&f, 64 << 20);
  pc_request_t req;
  pc_test_profiles(f.arena, "checkout", -1, P1, sizeof P1 / sizeof P1[0], &req);
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  size_t n = b.n;
  pc_bytes_t *bytes = pc_bytes_from_buf_take(&b);
  pc_err_t err = {0};
  ck_assert_int_eq(pc_proto_decode(f.arena, bytes->p, bytes->n, &req, &err), 0);
  lender_t t = {.l = {.keep = lend, .cap = bytes->cap}, .b = bytes};
  req.encoded_lender = &t.l;
  pc_linked_add(f.linked, &req, 1000);
  ck_assert_int_eq(t.calls, 1);
  ck_assert_uint_eq(pc_bytes_refs(bytes), 2); /* ours and the window's */
  pc_linked_stats_t st;
  pc_linked_stats(f.linked, &st);
  ck_assert_uint_eq(st.kept_bytes, n);
  ck_assert_uint_eq(st.copied_bytes, 0);
  ck_assert_uint_ge(st.bytes, bytes->cap);
  /* A query decodes those bytes: the chunk's request is in them. */
  pc_linked_sel_t sel;
  uint8_t id[16];
  pc_test_trace_id(1, id);
  ck_assert_int_eq(pc_linked_select(f.linked, id, 1000, &sel, &err), 0);
  ck_assert_uint_eq(sel.n_reqs, 1);
  ck_assert_ptr_eq(sel.reqs[0]->encoded, bytes->p);
  ck_assert_uint_eq(pc_bytes_refs(bytes), 2); /* the query holds the chunk, not the bytes */
  pc_linked_sel_free(&sel);
  ck_assert_str_eq(query(&f, profile_url(2, ""), false, 1000).body, "main;other 1000\n");
  /* Much larger than its bytes: copied, the buffer left to its owner. */
  t.l.cap = 2 * n + 4097;
  pc_linked_add(f.linked, &req, 1001);
  ck_assert_int_eq(t.calls, 1);
  pc_linked_stats(f.linked, &st);
  ck_assert_uint_eq(st.kept_bytes, n);
  ck_assert_uint_eq(st.copied_bytes, n);
  /* Out of the window: the window lets go. */
  ck_assert_int_eq(query(&f, profile_url(2, ""), false, 1001 + WINDOW).status, 404);
  ck_assert_uint_eq(pc_bytes_refs(bytes), 1);
  pc_bytes_unref(bytes);
  fx_close(&f);
}
END_TEST

/* One trace whose samples came through two workers: the window is one
 * shard per worker (thread), and the query merges them. Half of P1 from
 * one thread, half (and trace 3) from another: the trace's profile, its
 * span's, the listing (once, samples summed, newest first) and the whole
 * window are as if one thread had added them. */
typedef struct {
  fx_t *f;
  const pc_test_sample_t *v;
  size_t n;
  const char *service;
  uint64_t now;
} part_t;

static void *add_part(void *arg) {
  part_t *p = arg;
  add_profile(p->f, p->service, p->v, p->n, p->now);
  return NULL;
}

START_TEST(one_trace_across_shards) {
  mode = _i;
  fx_t f;
  fx_open(&f, 64 << 20);
  add_spans(&f, 50);
  static const pc_test_sample_t p3[] = {{.frames = "cart;add", .trace = 3, .span = 1,
                                         .value = 9}};
  part_t parts[3] = {{&f, P1, 4, "checkout", 100}, {&f, P1 + 4, 4, "checkout", 150},
                     {&f, p3, 1, "cart", 200}};
  for (int i = 0; i < 3; i++) { /* one after the other: f's arena is not shared */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, add_part, &parts[i]), 0);
    pthread_join(th, NULL);
  }
  pc_linked_stats_t st;
  pc_linked_stats(f.linked, &st);
  ck_assert_uint_eq(st.traces, 4); /* trace 1 in two shards: counted in each */
  ck_assert_uint_eq(st.samples, 8);
  ans_t a = query(&f, profile_url(1, ""), false, 300);
  ck_assert_int_eq(a.status, 200);
  ck_assert_str_eq(a.body, "[unknown] 5\n"
                           "main;handle;encode;work 125\n"
                           "main;libc.so.6+0x1f2a3 50\n"
                           "main;tick 3\n");
  char params[64];
  snprintf(params, sizeof params, "?span_id=%s", span_hex(2));
  a = query(&f, profile_url(1, params), false, 300);
  ck_assert_str_eq(a.body, "[unknown] 5\nmain;handle;encode;work 100\nmain;tick 3\n");
  a = query(&f, "/api/v1/traces", false, 300);
  char hex[3][33];
  json_t *j = listing_of_three(&a, hex);
  json_error_t je;
  json_t *t = json_object_get(j, "traces");
  /* Trace 3, then trace 1 (its newest samples came at 150), then trace 2. */
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 0), "traceId")), hex[2]);
  json_t *t1 = json_array_get(t, 1);
  ck_assert_str_eq(json_string_value(json_object_get(t1, "traceId")), hex[0]);
  ck_assert_int_eq(json_integer_value(json_object_get(t1, "sampleCount")), 6);
  ck_assert_str_eq(json_string_value(json_object_get(t1, "service")), "frontend");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(t, 2), "traceId")), hex[1]);
  json_decref(j);
  a = query(&f, "/api/v1/traces?limit=2", false, 300);
  j = json_loads(a.body, 0, &je);
  ck_assert_uint_eq(json_array_size(json_object_get(j, "traces")), 2);
  json_decref(j);
  /* The whole window: every shard's chunks. */
  pc_linked_sel_t sel;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_linked_select_all(f.linked, 300, 64 << 20, &sel, &err), 0);
  ck_assert_uint_eq(sel.samples, 8); /* the linked ones of both shards */
  ck_assert_uint_ge(sel.n_reqs, 3);
  ck_assert_uint_eq(sel.skipped_chunks, 0);
  pc_linked_sel_free(&sel);
  fx_close(&f);
}
END_TEST

/* ---- many threads at once -------------------------------------------------------------- */

/* The span store is one per process: every worker's trace_link adds to
 * the window while the query API (worker 0) reads it. Writers add
 * requests of 8 traces each, alternately as bytes kept and as trees
 * merged; readers ask for what a writer added last, through the query API
 * as the extension answers it, and list, count and expire meanwhile. With
 * room for everything (_i 0) every trace a writer added must be answered
 * exactly; with a small cap (_i 1) eviction runs all along and a trace may
 * be gone (404), but what is answered is exact. Run it under
 * -Db_sanitize=thread as well as address. */
enum { QW_WRITERS = 4, QW_READERS = 3, QW_REQS = 250, QW_PER_REQ = 8 };

typedef struct {
  fx_t *f;
  uint32_t w;
  _Atomic uint32_t *progress; /* requests writer w has added */
  bool evicting;
  int problems, found;
  char why[400];
} qw_t;

static uint32_t qw_trace(uint32_t w, uint32_t req, uint32_t i) {
  return 1 + w * 100000 + req * QW_PER_REQ + i;
}

static void *qw_writer(void *arg) {
  qw_t *q = arg;
  pc_arena_t *a = pc_arena_new(0);
  char frames[QW_PER_REQ][48];
  for (uint32_t req = 0; req < QW_REQS; req++) {
    pc_test_sample_t v[QW_PER_REQ];
    for (uint32_t i = 0; i < QW_PER_REQ; i++) {
      snprintf(frames[i], sizeof frames[i], "main;w%ur%us%u", q->w, req, i);
      v[i] = (pc_test_sample_t){.frames = frames[i], .trace = qw_trace(q->w, req, i), .span = 1,
                                .type = "cpu:nanoseconds", .value = 1 + i};
    }
    pc_request_t r;
    pc_test_profiles(a, "svc", -1, v, QW_PER_REQ, &r);
    pc_buf_t b = {0};
    pc_bytes_t *bytes = NULL;
    lender_t t = {0};
    if (req % 3) { /* as a receiver hands it on: decoded, its bytes copied or kept */
      if (pc_proto_encode(&r, &b)) q->problems++;
      bytes = pc_bytes_from_buf_take(&b);
      pc_err_t err = {0};
      if (pc_proto_decode(a, bytes->p, bytes->n, &r, &err)) q->problems++;
      t = (lender_t){.l = {.keep = lend, .cap = bytes->cap}, .b = bytes};
      if (req % 3 == 2) r.encoded_lender = &t.l;
    }
    pc_linked_add(q->f->linked, &r, 1000 + req / 50);
    pc_bytes_unref(bytes); /* a kept one is freed by whichever thread lets go last */
    pc_arena_reset(a);
    atomic_store(q->progress, req + 1);
  }
  pc_arena_free(a);
  return NULL;
}

static void *qw_reader(void *arg) {
  qw_t *q = arg;
  /* Until its writer is done, and at least QW_REQS * 2 queries: a slow
   * writer (a sanitizer, a loaded machine) still meets readers. */
  for (uint32_t k = 0;; k++) {
    uint32_t done;
    while (!(done = atomic_load(q->progress))) sched_yield();
    if (k >= QW_REQS * 2 && done == QW_REQS) break;
    uint32_t req = done - 1 - (k * 7u) % (done < 20 ? done : 20), i = k % QW_PER_REQ;
    uint8_t id[16];
    char hex[33], url[128], want[64];
    pc_test_trace_id(qw_trace(q->w, req, i), id);
    pc_test_hex(id, 16, hex);
    snprintf(url, sizeof url, "/api/v1/traces/%s/profile", hex);
    snprintf(want, sizeof want, "main;w%ur%us%u %u\n", q->w, req, i, i + 1);
    ans_t a = query(q->f, url, false, 1000 + req / 50);
    if (a.status == 200) {
      q->found++;
      if (strcmp(a.body, want) != 0 && !q->problems++)
        snprintf(q->why, sizeof q->why, "%s: \"%.60s\", want \"%s\"", url, a.body, want);
    } else if (a.status != 404 || !q->evicting) {
      if (!q->problems++) snprintf(q->why, sizeof q->why, "%s: %d", url, a.status);
    }
    if (k % 16 == 0) {
      if (query(q->f, "/api/v1/traces?limit=20", false, 1000).status != 200) q->problems++;
      pc_linked_stats_t st;
      pc_linked_stats(q->f->linked, &st);
      pc_linked_expire(q->f->linked, 1000 + req / 50);
    }
  }
  return NULL;
}

START_TEST(concurrent_writers_and_readers) {
  fx_t f;
  fx_open(&f, _i ? 256 << 10 : 256 << 20);
  pthread_t th[QW_WRITERS + QW_READERS];
  qw_t q[QW_WRITERS + QW_READERS];
  _Atomic uint32_t progress[QW_WRITERS] = {0};
  for (uint32_t i = 0; i < QW_WRITERS + QW_READERS; i++) {
    q[i] = (qw_t){.f = &f, .w = i % QW_WRITERS, .progress = &progress[i % QW_WRITERS],
                  .evicting = _i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, i < QW_WRITERS ? qw_writer : qw_reader, &q[i]),
                     0);
  }
  int found = 0;
  for (uint32_t i = 0; i < QW_WRITERS + QW_READERS; i++) {
    pthread_join(th[i], NULL);
    ck_assert_msg(q[i].problems == 0, "thread %u: %d problems; first: %s", i, q[i].problems,
                  q[i].why);
    found += q[i].found;
  }
  pc_linked_stats_t st;
  pc_linked_stats(f.linked, &st);
  const uint64_t total = (uint64_t)QW_WRITERS * QW_REQS * QW_PER_REQ;
  ck_assert_uint_eq(st.added_samples + st.dropped_samples, total);
  if (!_i) { /* room for all: every sample held, every trace answered */
    ck_assert_uint_eq(st.dropped_samples, 0);
    ck_assert_uint_eq(st.samples, total);
    ck_assert_uint_eq(st.traces, total);
    ck_assert_int_gt(found, 0);
    for (uint32_t w = 0; w < QW_WRITERS; w++) {
      uint8_t id[16];
      char hex[33], url[128];
      pc_test_trace_id(qw_trace(w, 0, 0), id);
      pc_test_hex(id, 16, hex);
      snprintf(url, sizeof url, "/api/v1/traces/%s/profile", hex);
      ck_assert_int_eq(query(&f, url, false, 1010).status, 200);
    }
  } else {
    ck_assert_uint_gt(st.evicted_memory, 0);
    ck_assert_uint_le(st.bytes, 256 << 10);
  }
  fx_close(&f);
}
END_TEST

TCase *pc_test_query_tcase(void) {
  TCase *tc = tcase_create("query");
  /* 0: merged; protobuf (1) and OTLP-JSON (2) bytes copied, or kept (3, 4) */
  tcase_add_loop_test(tc, profile_of_a_trace, 0, 5);
  tcase_add_loop_test(tc, profile_as_json, 0, 5);
  tcase_add_test(tc, bad_requests);
  tcase_add_loop_test(tc, listing, 0, 5);
  tcase_add_loop_test(tc, service_window, 0, 5);
  tcase_add_loop_test(tc, service_window_empty, 0, 5);
  tcase_add_test(tc, pprof_format);
  tcase_add_loop_test(tc, evict_by_window, 0, 5);
  tcase_add_loop_test(tc, evict_by_memory, 0, 3); /* 2: protobuf kept */
  tcase_add_loop_test(tc, clock_read_before_the_lock, 0, 5);
  tcase_add_loop_test(tc, trace_chunks_come_and_go, 0, 5);
  tcase_add_test(tc, request_bytes_kept_not_copied);
  tcase_add_loop_test(tc, one_trace_across_shards, 0, 5);
  tcase_add_loop_test(tc, concurrent_writers_and_readers, 0, 2);
  return tc;
}
