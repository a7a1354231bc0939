/* test_traces.c - ExportTraceServiceRequest decoding (pdata/traces.h, the
 * traces parts of proto_decode.c and json_decode.c): what the span store
 * reads comes out of both encodings, written by an independent encoder
 * (tests/spans.c); and every way a request is refused, with a message that
 * says where. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdata/traces.h"
#include "../spans.h"
#include "testdata.h"
#include "textpb.h"

static pc_arena_t *arena;

static void setup(void) { arena = pc_arena_new(0); }
static void teardown(void) { pc_arena_free(arena); }

static pc_test_span_t sample_span(uint32_t trace, uint32_t id, const char *service,
                                  const char *name) {
  pc_test_span_t s = {.service = service, .pid = 4242, .name = name, .tid = 17,
                      .start = 1700000000000000001ull, .end = 1700000000500000002ull,
                      .flags = PC_SPAN_FLAGS_HAS_IS_REMOTE | PC_SPAN_FLAGS_IS_REMOTE | 1,
                      .status_code = PC_STATUS_CODE_ERROR, .kind = PC_SPAN_KIND_SERVER};
  pc_test_trace_id(trace, s.trace_id);
  pc_test_span_id(id, s.span_id);
  pc_test_span_id(id + 100, s.parent_span_id);
  return s;
}

typedef int (*decode_fn)(pc_arena_t *, const uint8_t *, size_t, pc_traces_t *, pc_err_t *);

static void check_decoded(const pc_traces_t *tr, const pc_test_span_t *v, size_t n) {
  ck_assert_uint_eq(pc_traces_span_count(tr), n);
  size_t k = 0;
  for (uint32_t r = 0; r < tr->n_resources; r++) {
    const pc_resource_spans_t *rs = &tr->resources[r];
    for (uint32_t s = 0; s < rs->n_scopes; s++)
      for (uint32_t i = 0; i < rs->scopes[s].n_spans; i++, k++) {
        const pc_span_t *sp = &rs->scopes[s].spans[i];
        const pc_test_span_t *want = &v[k];
        ck_assert_uint_eq(sp->trace_id.n, 16);
        ck_assert_mem_eq(sp->trace_id.p, want->trace_id, 16);
        ck_assert_uint_eq(sp->span_id.n, 8);
        ck_assert_mem_eq(sp->span_id.p, want->span_id, 8);
        ck_assert_mem_eq(sp->parent_span_id.p, want->parent_span_id, 8);
        ck_assert(pc_str_eq(sp->name, (pc_str_t){(const uint8_t *)want->name, strlen(want->name)}));
        ck_assert_uint_eq(sp->start_time_unix_nano, want->start);
        ck_assert_uint_eq(sp->end_time_unix_nano, want->end);
        ck_assert_uint_eq(sp->flags, want->flags);
        ck_assert_int_eq(sp->kind, want->kind);
        ck_assert(sp->has_status);
        ck_assert_int_eq(sp->status_code, want->status_code);
        const pc_anyvalue_t *tid = pc_kvs_get(&sp->attributes, PC_STR_LIT("thread.id"));
        ck_assert_ptr_nonnull(tid);
        ck_assert_int_eq(tid->u.i, want->tid);
        const pc_anyvalue_t *svc = pc_kvs_get(&rs->resource.attributes, PC_STR_LIT("service.name"));
        ck_assert_ptr_nonnull(svc);
        ck_assert(pc_str_eq(svc->u.s, (pc_str_t){(const uint8_t *)want->service,
                                                  strlen(want->service)}));
      }
  }
}

START_TEST(decode_both_encodings) {
  pc_test_span_t v[] = {sample_span(1, 1, "checkout", "GET /checkout"),
                        sample_span(1, 2, "checkout", "db.query"),
                        sample_span(2, 1, "frontend", "render \xc3\xa9")};
  for (int json = 0; json < 2; json++) {
    pc_buf_t b = {0};
    if (json) pc_test_traces_json(v, 3, &b);
    else pc_test_traces_proto(v, 3, &b);
    pc_traces_t tr;
    pc_err_t err = {0};
    decode_fn fn = json ? pc_traces_json_decode : pc_traces_proto_decode;
    ck_assert_msg(fn(arena, b.p, b.n, &tr, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(tr.n_resources, 2);
    ck_assert(tr.json == (json == 1));
    ck_assert_ptr_eq(tr.encoded, b.p);
    ck_assert_uint_eq(tr.encoded_n, b.n);
    check_decoded(&tr, v, 3);
    pc_buf_free(&b);
  }
}
END_TEST

START_TEST(empty_requests) {
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_traces_proto_decode(arena, NULL, 0, &tr, &err), 0);
  ck_assert_uint_eq(pc_traces_span_count(&tr), 0);
  ck_assert_int_eq(pc_traces_json_decode(arena, (const uint8_t *)"{}", 2, &tr, &err), 0);
  ck_assert_int_eq(pc_traces_json_decode(arena, (const uint8_t *)"{\"resourceSpans\":[]}", 20,
                                         &tr, &err), 0);
}
END_TEST

static void refused(decode_fn fn, const void *p, size_t n, const char *want) {
  pc_traces_t tr;
  pc_err_t err = {0};
  int rc = fn(arena, p, n, &tr, &err);
  ck_assert_msg(rc == PC_EDECODE, "got %s (%s), want EDECODE", pc_err_name(rc), err.msg);
  ck_assert_msg(strstr(err.msg, want), "message \"%s\" does not say \"%s\"", err.msg, want);
}

/* Every id of a span must be its size or empty, in both encodings. */
START_TEST(wrong_id_sizes) {
  pc_test_span_t v[] = {sample_span(1, 1, "a", "ok"), sample_span(1, 2, "a", "bad")};
  v[1].id_len = 7;
  pc_buf_t pb = {0}, js = {0};
  pc_test_traces_proto(v, 2, &pb);
  pc_test_traces_json(v, 2, &js);
  refused(pc_traces_proto_decode, pb.p, pb.n,
          "resource_spans[0].scope_spans[0].spans[1]: trace_id: must be 16 bytes (or empty), "
          "got 7");
  refused(pc_traces_json_decode, js.p, js.n, "resourceSpans[0].scopeSpans[0].spans[1].traceId");
  pc_buf_free(&pb);
  pc_buf_free(&js);
  /* span_id alone, and parent_span_id, by hand: span {trace_id 16, span_id 3} */
  uint8_t span[40] = {0x0a, 16};
  size_t n = 18;
  span[n++] = 0x12, span[n++] = 3, n += 3;
  uint8_t req[64] = {0x0a, (uint8_t)(n + 4), 0x12, (uint8_t)(n + 2), 0x12, (uint8_t)n};
  memcpy(req + 6, span, n);
  refused(pc_traces_proto_decode, req, 6 + n, "span_id: must be 8 bytes (or empty), got 3");
  span[18] = 0x22; /* the same 3 bytes as parent_span_id */
  memcpy(req + 6, span, n);
  refused(pc_traces_proto_decode, req, 6 + n, "parent_span_id: must be 8 bytes");
}
END_TEST

/* Events and links of spans are checked too, though not kept. */
START_TEST(events_and_links_checked) {
  /* span { links { trace_id: 4 bytes } } */
  static const uint8_t bad_link[] = {0x0a, 10, 0x12, 8, 0x12, 6, 0x6a, 4, 0x0a, 2, 1, 2};
  refused(pc_traces_proto_decode, bad_link, sizeof bad_link, "links[0]: trace_id: must be 16");
  /* span { events { name: "\xff" } } */
  static const uint8_t bad_event[] = {0x0a, 9, 0x12, 7, 0x12, 5, 0x5a, 3, 0x12, 1, 0xff};
  refused(pc_traces_proto_decode, bad_event, sizeof bad_event, "events[0]: name: string is "
          "not valid UTF-8");
  /* a good event and link are counted */
  static const uint8_t ok[] = {0x0a, 12, 0x12, 10, 0x12, 8, 0x5a, 2, 0x12, 0, 0x6a, 2, 0x0a, 0};
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_msg(pc_traces_proto_decode(arena, ok, sizeof ok, &tr, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(tr.resources[0].scopes[0].spans[0].n_events, 1);
  ck_assert_uint_eq(tr.resources[0].scopes[0].spans[0].n_links, 1);
}
END_TEST

/* An OTLP-JSON request is encoded as protobuf for gRPC exporters: the same
 * bytes as the independent encoder's for plain spans, and, with events and
 * links, what protoc reads back from them is every field of the JSON. */
START_TEST(json_encoded_as_protobuf) {
  pc_test_span_t v[] = {sample_span(1, 1, "checkout", "GET /checkout"),
                        sample_span(1, 2, "checkout", "db.query"),
                        sample_span(2, 1, "frontend", "render \xc3\xa9")};
  pc_buf_t js = {0}, pb = {0}, out = {0};
  pc_test_traces_json(v, 3, &js);
  pc_test_traces_proto(v, 3, &pb);
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_msg(pc_traces_json_decode(arena, js.p, js.n, &tr, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(pc_traces_proto_encode(&tr, &out), 0);
  ck_assert_uint_eq(out.n, pb.n);
  ck_assert(memcmp(out.p, pb.p, pb.n) == 0);
  /* A protobuf request's model lacks its events and links: refused. */
  pc_traces_t from_pb;
  ck_assert_int_eq(pc_traces_proto_decode(arena, pb.p, pb.n, &from_pb, &err), 0);
  ck_assert_int_eq(pc_traces_proto_encode(&from_pb, &out), PC_EINVAL);
  pc_buf_free(&js);
  pc_buf_free(&pb);
  out.n = 0;

  static const char full[] =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
      "\"value\":{\"stringValue\":\"web\"}}],\"droppedAttributesCount\":1},"
      "\"schemaUrl\":\"https://s/r\",\"scopeSpans\":[{\"scope\":{\"name\":\"sdk\","
      "\"version\":\"1.2\"},\"schemaUrl\":\"https://s/s\",\"spans\":[{"
      "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
      "\"traceState\":\"k=v\",\"parentSpanId\":\"a1b2c3d4e5f60718\",\"flags\":769,"
      "\"name\":\"GET /\",\"kind\":2,\"startTimeUnixNano\":\"1700000000000000001\","
      "\"endTimeUnixNano\":1700000000000000999,\"attributes\":[{\"key\":\"n\",\"value\":"
      "{\"intValue\":\"-3\"}}],\"droppedAttributesCount\":2,\"events\":[{\"timeUnixNano\":"
      "\"1700000000000000500\",\"name\":\"exception\",\"attributes\":[{\"key\":\"e\","
      "\"value\":{\"boolValue\":true}}],\"droppedAttributesCount\":3},{\"name\":\"\"}],"
      "\"droppedEventsCount\":4,\"links\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
      "\"spanId\":\"0102030405060708\",\"traceState\":\"t=s\",\"attributes\":[{\"key\":"
      "\"l\",\"value\":{\"doubleValue\":1.5}}],\"droppedAttributesCount\":5,\"flags\":256}],"
      "\"droppedLinksCount\":6,\"status\":{\"message\":\"boom\",\"code\":2}}]}]}]}";
  ck_assert_msg(pc_traces_json_decode(arena, (const uint8_t *)full, strlen(full), &tr, &err) ==
                    0, "%s", err.msg);
  ck_assert_int_eq(pc_traces_proto_encode(&tr, &out), 0);
  pc_tpb_t *m = pc_tpb_protoc_decode("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
                                     "opentelemetry/proto/collector/trace/v1/trace_service.proto",
                                     out.p, out.n);
  const pc_tpb_t *rs = pc_tpb_msg(m, "resource_spans");
  ck_assert_ptr_nonnull(rs);
  ck_assert_str_eq(pc_tpb_get(rs, "schema_url", 0)->text, "https://s/r");
  const pc_tpb_t *res = pc_tpb_msg(rs, "resource");
  ck_assert_int_eq(pc_tpb_int(res, "dropped_attributes_count", 0), 1);
  ck_assert_str_eq(pc_tpb_get(pc_tpb_msg(res, "attributes"), "key", 0)->text, "service.name");
  const pc_tpb_t *ss = pc_tpb_msg(rs, "scope_spans");
  ck_assert_str_eq(pc_tpb_get(ss, "schema_url", 0)->text, "https://s/s");
  ck_assert_str_eq(pc_tpb_get(pc_tpb_msg(ss, "scope"), "version", 0)->text, "1.2");
  const pc_tpb_t *sp = pc_tpb_msg(ss, "spans");
  ck_assert_uint_eq(pc_tpb_get(sp, "trace_id", 0)->len, 16);
  ck_assert(memcmp(pc_tpb_get(sp, "trace_id", 0)->text, "\x5b\x8e\xff\xf7", 4) == 0);
  ck_assert(memcmp(pc_tpb_get(sp, "span_id", 0)->text, "\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8) == 0);
  ck_assert(memcmp(pc_tpb_get(sp, "parent_span_id", 0)->text, "\xa1\xb2", 2) == 0);
  ck_assert_str_eq(pc_tpb_get(sp, "trace_state", 0)->text, "k=v");
  ck_assert_int_eq(pc_tpb_int(sp, "flags", 0), 769);
  ck_assert_str_eq(pc_tpb_get(sp, "name", 0)->text, "GET /");
  ck_assert_str_eq(pc_tpb_get(sp, "kind", 0)->text, "SPAN_KIND_SERVER");
  ck_assert_int_eq(pc_tpb_int(sp, "start_time_unix_nano", 0), 1700000000000000001);
  ck_assert_int_eq(pc_tpb_int(sp, "end_time_unix_nano", 0), 1700000000000000999);
  ck_assert_int_eq(pc_tpb_int(pc_tpb_msg(pc_tpb_msg(sp, "attributes"), "value"), "int_value", 0),
                   -3);
  ck_assert_int_eq(pc_tpb_int(sp, "dropped_attributes_count", 0), 2);
  ck_assert_uint_eq(pc_tpb_count(sp, "events"), 2);
  const pc_tpb_t *ev = pc_tpb_msg(sp, "events");
  ck_assert_int_eq(pc_tpb_int(ev, "time_unix_nano", 0), 1700000000000000500);
  ck_assert_str_eq(pc_tpb_get(ev, "name", 0)->text, "exception");
  ck_assert_str_eq(pc_tpb_get(pc_tpb_msg(pc_tpb_msg(ev, "attributes"), "value"), "bool_value",
                              0)->text, "true");
  ck_assert_int_eq(pc_tpb_int(ev, "dropped_attributes_count", 0), 3);
  ck_assert_int_eq(pc_tpb_int(sp, "dropped_events_count", 0), 4);
  const pc_tpb_t *ln = pc_tpb_msg(sp, "links");
  ck_assert_uint_eq(pc_tpb_get(ln, "trace_id", 0)->len, 16);
  ck_assert_uint_eq(pc_tpb_get(ln, "span_id", 0)->len, 8);
  ck_assert_str_eq(pc_tpb_get(ln, "trace_state", 0)->text, "t=s");
  ck_assert_str_eq(pc_tpb_get(pc_tpb_msg(pc_tpb_msg(ln, "attributes"), "value"), "double_value",
                              0)->text, "1.5");
  ck_assert_int_eq(pc_tpb_int(ln, "dropped_attributes_count", 0), 5);
  ck_assert_int_eq(pc_tpb_int(ln, "flags", 0), 256);
  ck_assert_int_eq(pc_tpb_int(sp, "dropped_links_count", 0), 6);
  const pc_tpb_t *st = pc_tpb_msg(sp, "status");
  ck_assert_str_eq(pc_tpb_get(st, "message", 0)->text, "boom");
  ck_assert_str_eq(pc_tpb_get(st, "code", 0)->text, "STATUS_CODE_ERROR");
  pc_tpb_free(m);
  /* and the protobuf decoder takes it back */
  ck_assert_msg(pc_traces_proto_decode(arena, out.p, out.n, &tr, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(tr.resources[0].scopes[0].spans[0].n_events, 2);
  ck_assert_uint_eq(tr.resources[0].scopes[0].spans[0].n_links, 1);
  pc_buf_free(&out);
}
END_TEST

/* The OTLP-JSON decoder checks events and links as the protobuf one does. */
START_TEST(json_events_and_links_checked) {
  static const char bad_link[] =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"links\":[{\"traceId\":\"0102\"}]}]}]}]}";
  refused(pc_traces_json_decode, bad_link, strlen(bad_link),
          "resourceSpans[0].scopeSpans[0].spans[0].links[0].traceId");
  static const char bad_event[] =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"events\":[{\"name\":7}]}]}]}]}";
  refused(pc_traces_json_decode, bad_event, strlen(bad_event),
          "resourceSpans[0].scopeSpans[0].spans[0].events[0].name");
}
END_TEST

START_TEST(broken_wire_and_text) {
  static const uint8_t truncated[] = {0x0a, 0xff, 0xff, 0x03};
  refused(pc_traces_proto_decode, truncated, sizeof truncated, "at byte 1");
  static const uint8_t bad_name[] = {0x0a, 7, 0x12, 5, 0x12, 3, 0x2a, 1, 0xc3};
  refused(pc_traces_proto_decode, bad_name, sizeof bad_name, "name: string is not valid UTF-8");
  const char *js = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":"
                   "\"soon\"}]}]}]}";
  refused(pc_traces_json_decode, js, strlen(js),
          "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano");
  refused(pc_traces_json_decode, "{\"resourceSpans\":", 17, "line 1");
}
END_TEST

/* A profiles request where a traces request belongs is refused, not read
 * as spans: its dictionary (protobuf field 2), its keys (JSON). */
START_TEST(profiles_are_not_traces) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t pb = {0}, js = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &pb), 0);
  ck_assert_int_eq(pc_json_encode(&req, &js), 0);
  refused(pc_traces_proto_decode, pb.p, pb.n, "not an ExportTraceServiceRequest");
  refused(pc_traces_json_decode, js.p, js.n, "this is an ExportProfilesServiceRequest");
  refused(pc_traces_json_decode, "{\"resourceSpan\":[]}", 19,
          "no spans, and unknown key \"resourceSpan\"");
  pc_buf_free(&pb);
  pc_buf_free(&js);
  pc_arena_free(a);
}
END_TEST

/* OTLP-JSON with the proto's field names, as the Collector's reader and
 * every protobuf JSON parser take them (issue 12), and a span's Status. */
START_TEST(json_proto_names_and_status) {
  static const char js[] =
      "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{"
      "\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\",\"span_id\":\"1112131415161718\","
      "\"parent_span_id\":\"2122232425262728\",\"start_time_unix_nano\":\"5\","
      "\"end_time_unix_nano\":7,\"dropped_links_count\":3,"
      "\"status\":{\"message\":\"boom\",\"code\":2}}]}]}]}";
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_msg(pc_traces_json_decode(arena, (const uint8_t *)js, sizeof js - 1, &tr, &err) == 0,
                "%s", err.msg);
  ck_assert_uint_eq(pc_traces_span_count(&tr), 1);
  const pc_span_t *sp = &tr.resources[0].scopes[0].spans[0];
  ck_assert_uint_eq(sp->trace_id.n, 16);
  ck_assert_uint_eq(sp->trace_id.p[15], 0x10);
  ck_assert_uint_eq(sp->span_id.n, 8);
  ck_assert_uint_eq(sp->parent_span_id.p[0], 0x21);
  ck_assert_uint_eq(sp->start_time_unix_nano, 5);
  ck_assert_uint_eq(sp->end_time_unix_nano, 7);
  ck_assert_uint_eq(sp->dropped_links_count, 3);
  ck_assert(sp->has_status);
  ck_assert_int_eq(sp->status_code, PC_STATUS_CODE_ERROR);
  ck_assert(pc_str_eq(sp->status_message, (pc_str_t){(const uint8_t *)"boom", 4}));
}
END_TEST

/* Split by an owner per span (traces_split.c): each part decodes, holds
 * exactly its spans in order with their resource and scope, in both
 * encodings; parts without spans stay empty; a bad owner is refused. */
START_TEST(split_by_owner) {
  pc_test_span_t v[7];
  const char *svc[7] = {"a", "a", "a", "b", "b", "c", "c"};
  for (uint32_t i = 0; i < 7; i++) {
    char name[8];
    snprintf(name, sizeof name, "s%u", i);
    v[i] = sample_span(i % 3 + 1, i + 1, svc[i], strdup(name));
  }
  const uint16_t owner[7] = {0, 2, 0, 2, 2, 0, 2}; /* part 1 gets nothing */
  for (int json = 0; json < 2; json++) {
    pc_buf_t in = {0};
    if (json) pc_test_traces_json(v, 7, &in);
    else pc_test_traces_proto(v, 7, &in);
    pc_traces_t tr;
    pc_err_t err = {0};
    ck_assert_int_eq((json ? pc_traces_json_decode : pc_traces_proto_decode)(arena, in.p, in.n,
                                                                             &tr, &err), 0);
    pc_buf_t parts[3] = {{0}};
    ck_assert_int_eq(pc_traces_split(&tr, owner, 3, parts, &err), 0);
    ck_assert_uint_eq(parts[1].n, 0);
    for (int k = 0; k < 3; k += 2) {
      pc_traces_t got;
      ck_assert_msg((json ? pc_traces_json_decode : pc_traces_proto_decode)(
                        arena, parts[k].p, parts[k].n, &got, &err) == 0, "%s", err.msg);
      uint32_t seen = 0;
      for (uint32_t r = 0; r < got.n_resources; r++) {
        pc_str_t service = {0};
        const pc_anyvalue_t *sv = pc_kvs_get(&got.resources[r].resource.attributes,
                                             (pc_str_t){(const uint8_t *)"service.name", 12});
        if (sv) service = sv->u.s;
        for (uint32_t sc = 0; sc < got.resources[r].n_scopes; sc++)
          for (uint32_t i = 0; i < got.resources[r].scopes[sc].n_spans; i++) {
            const pc_span_t *sp = &got.resources[r].scopes[sc].spans[i];
            uint32_t want = 0;
            while (want < 7 && (owner[want] != k || (seen >> want) & 1)) want++;
            ck_assert_uint_lt(want, 7);
            seen |= 1u << want;
            char name[8];
            snprintf(name, sizeof name, "s%u", want);
            ck_assert_int_eq((int)sp->name.n, (int)strlen(name));
            ck_assert_mem_eq(sp->name.p, name, sp->name.n);
            ck_assert_mem_eq(sp->trace_id.p, v[want].trace_id, 16);
            ck_assert_int_eq((int)service.n, (int)strlen(svc[want]));
            ck_assert_mem_eq(service.p, svc[want], service.n);
          }
      }
      for (uint32_t i = 0; i < 7; i++) ck_assert_int_eq((seen >> i) & 1, owner[i] == k);
      pc_buf_free(&parts[k]);
    }
    const uint16_t bad[7] = {0, 0, 0, 3, 0, 0, 0};
    ck_assert_int_eq(pc_traces_split(&tr, bad, 3, parts, &err), PC_EINVAL);
    pc_buf_free(&in);
  }
  for (int i = 0; i < 7; i++) free((char *)v[i].name);
}
END_TEST

/* OTLP-JSON is split as written (traces_split.c): proto field names and an
 * escaped key are found as the decoder finds them, each part keeps every
 * other member of its resources and scopes byte for byte (whitespace, key
 * spelling, members after the span arrays), an array that holds spans
 * appears in a part only where it holds some of the part's (once per time
 * it appears in the request), a null one is dropped, and the request's
 * unknown members are not copied into the parts. */
START_TEST(split_json_as_written) {
#define S(n, t) "{\"trace_id\":\"" t "\",\"span_id\":\"000000000000000" #n "\",\"name\":\"s" #n "\"}"
#define T1 "01000000000000000000000000000001"
#define T2 "02000000000000000000000000000002"
#define RES "\"resource\" : {\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\"}}]}"
  static const char js[] =
      "{ \"resource_spans\" : [\n"
      "  {" RES ",\n"
      "   \"scope_spans\":[{\"scope\":{\"name\":\"s\"},\"spans\":[" S(1, T1) "," S(2, T2) "],"
      "\"x\":1,\"spans\":[" S(3, T1) "]}],\n"
      "   \"schema_url\":\"u\"},\n"
      "  {\"sc\\u006fpe_spans\":[{\"spans\":[" S(4, T2) "]}], \"scope_spans\": null}\n"
      " ], \"extra\": {\"big\":[1,2,3]} }\n";
  static const char want0[] =
      "{\"resource_spans\":[{" RES ",\"scope_spans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
      S(1, T1) "],\"x\":1,\"spans\":[" S(3, T1) "]}],\"schema_url\":\"u\"}]}";
  static const char want1[] =
      "{\"resource_spans\":[{" RES ",\"scope_spans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
      S(2, T2) "],\"x\":1}],\"schema_url\":\"u\"},{\"sc\\u006fpe_spans\":[{\"spans\":["
      S(4, T2) "]}]}]}";
#undef S
#undef T1
#undef T2
#undef RES
  pc_traces_t tr;
  pc_err_t err = {0};
  ck_assert_msg(pc_traces_json_decode(arena, (const uint8_t *)js, sizeof js - 1, &tr, &err) == 0,
                "%s", err.msg);
  ck_assert_uint_eq(pc_traces_span_count(&tr), 4);
  const uint16_t owner[4] = {0, 1, 0, 1};
  pc_buf_t parts[3] = {{0}};
  ck_assert_msg(pc_traces_split(&tr, owner, 3, parts, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(parts[2].n, 0);
  const char *want[2] = {want0, want1};
  for (int k = 0; k < 2; k++) {
    ck_assert_int_eq(pc_buf_append(&parts[k], "", 1), 0);
    ck_assert_str_eq((const char *)parts[k].p, want[k]);
    pc_traces_t got;
    ck_assert_msg(pc_traces_json_decode(arena, parts[k].p, parts[k].n - 1, &got, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(pc_traces_span_count(&got), 2);
    pc_buf_free(&parts[k]);
  }
  /* A model that does not match the text is refused, never a crash. */
  pc_traces_t other;
  ck_assert_int_eq(pc_traces_json_decode(arena, (const uint8_t *)js, sizeof js - 1, &other, &err),
                   0);
  other.resources[0].scopes[0].n_spans = 2;
  ck_assert_int_eq(pc_traces_split(&other, owner, 3, parts, &err), PC_EDECODE);
  for (int k = 0; k < 3; k++) pc_buf_free(&parts[k]);
}
END_TEST

TCase *pc_test_traces_tcase(void) {
  TCase *tc = tcase_create("traces");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, decode_both_encodings);
  tcase_add_test(tc, empty_requests);
  tcase_add_test(tc, wrong_id_sizes);
  tcase_add_test(tc, events_and_links_checked);
  tcase_add_test(tc, json_encoded_as_protobuf);
  tcase_add_test(tc, json_events_and_links_checked);
  tcase_add_test(tc, broken_wire_and_text);
  tcase_add_test(tc, profiles_are_not_traces);
  tcase_add_test(tc, json_proto_names_and_status);
  tcase_add_test(tc, split_by_owner);
  tcase_add_test(tc, split_json_as_written);
  return tc;
}
