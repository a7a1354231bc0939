/* test_json.c - OTLP-JSON decode/encode: round trips (JSON alone and through
 * protobuf), the lenient input forms OTLP-JSON allows, the canonical output
 * form, and errors that name the JSON path of the bad value (TCase json);
 * memory and work bounded on hostile bodies (json_bounds, issue 14); the
 * proto field names read as keys and unknown top-level keys refused
 * (json_names, issue 12); syntax errors worded as jansson words them
 * (json_syntax). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "randreq.h"
#include "testdata.h"

static pc_arena_t *arena;

static void setup(void) { arena = pc_arena_new(0); }
static void teardown(void) { pc_arena_free(arena); }

#define ck_view_eq(view, lit)                                                         \
  ck_assert_msg(pc_str_eq((view), (pc_str_t){(const uint8_t *)(lit), sizeof(lit) - 1}), \
                "got \"%.*s\" (%zu bytes), want \"%s\"", PC_STR_FMT(view), (view).n, lit)

static void decode_ok(const char *json, pc_request_t *req) {
  pc_err_t err = {0};
  int rc = pc_json_decode(arena, (const uint8_t *)json, strlen(json), req, &err);
  ck_assert_msg(rc == 0, "decode failed (%s): %s\ninput: %s", pc_err_name(rc), err.msg, json);
  ck_assert_msg(req->rejected_profiles == 0, "profile rejected: %s", req->reject_msg);
}

/* Decoding json fails with code and exactly msg. */
static void decode_err(const char *json, int code, const char *msg) {
  pc_request_t req;
  pc_err_t err = {0};
  int rc = pc_json_decode(arena, (const uint8_t *)json, strlen(json), &req, &err);
  ck_assert_msg(rc == code, "got %s (%s), want %s for %s", pc_err_name(rc), err.msg,
                pc_err_name(code), json);
  ck_assert_int_eq(err.code, code);
  ck_assert_msg(strcmp(err.msg, msg) == 0, "message\n  got:  %s\n  want: %s", err.msg, msg);
}

/* JSON text of req, NUL-terminated, in b. */
static const char *encode(const pc_request_t *req, pc_buf_t *b) {
  ck_assert_int_eq(pc_json_encode(req, b), 0);
  ck_assert_int_eq(pc_buf_append(b, "", 1), 0);
  b->n--;
  return (const char *)b->p;
}

/* Decode json, encode it again: the canonical form must be want. */
static void canonical(const char *json, const char *want) {
  pc_request_t req;
  decode_ok(json, &req);
  pc_buf_t b = {0};
  const char *got = encode(&req, &b);
  ck_assert_msg(strcmp(got, want) == 0, "canonical form\n  got:  %s\n  want: %s", got, want);
  pc_buf_free(&b);
}

/* ---- round trips ----------------------------------------------------------- */

START_TEST(rich_request_roundtrips) {
  pc_request_t req, back, again;
  pc_test_rich_request(arena, &req);
  pc_buf_t a = {0}, b = {0};
  encode(&req, &a);
  pc_err_t err = {0};
  ck_assert_msg(pc_json_decode(arena, a.p, a.n, &back, &err) == 0, "%s", err.msg);
  pc_test_assert_request_eq(&req, &back);
  /* The encoding is canonical: encode(decode(x)) == x. */
  encode(&back, &b);
  ck_assert_int_eq(a.n, b.n);
  ck_assert(memcmp(a.p, b.p, a.n) == 0);
  ck_assert_msg(pc_json_decode(arena, b.p, b.n, &again, &err) == 0, "%s", err.msg);
  pc_test_assert_request_eq(&req, &again);
  pc_buf_free(&a);
  pc_buf_free(&b);
}
END_TEST

/* The wire forms OTLP-JSON prescribes, spot-checked in the rich request. */
START_TEST(rich_request_uses_otlp_json_forms) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_buf_t b = {0};
  const char *js = encode(&req, &b);
  static const char *const want[] = {
      "{\"resourceProfiles\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
      "\"value\":{\"stringValue\":\"checkout\"}},",
      "{\"key\":\"host.cpu.count\",\"value\":{\"intValue\":\"-42\"}}",
      "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.25}}",
      "{\"key\":\"blob\",\"value\":{\"bytesValue\":\"AQL/\"}}",
      "{\"arrayValue\":{\"values\":[{\"stringValue\":\"x\"},{\"intValue\":\"0\"},"
      "{\"stringValueStrindex\":3}]}}",
      "{\"kvlistValue\":{\"values\":[{\"value\":{\"boolValue\":false},\"keyStrindex\":4},"
      "{\"key\":\"empty\"}]}}",
      "\"droppedAttributesCount\":2,\"entityRefs\":[{\"schemaUrl\":",
      "\"idKeys\":[\"service.name\",\"service.namespace\"],\"descriptionKeys\":[\"service.name\"]",
      "\"sampleType\":{\"typeStrindex\":9,\"unitStrindex\":10}",
      "{\"stackIndex\":1,\"attributeIndices\":[1,2],\"linkIndex\":1,\"values\":[\"5\",\"-1\"],"
      "\"timestampsUnixNano\":[\"1700000000000000001\",\"18446744073709551615\"]}",
      "\"timeUnixNano\":\"1700000000123456789\",\"durationNano\":\"10000000000\"",
      "\"period\":\"50000000\",\"profileId\":\"ASNFZ4mrze8BI0VniavN7w==\"",
      "\"originalPayloadFormat\":\"pprof\",\"originalPayload\":\"H4sAAA==\"",
      "{}],\"schemaUrl\":\"https://example.com/scope\"}],"
      "\"schemaUrl\":\"https://opentelemetry.io/schemas/1.30.0\"},"
      "{\"scopeProfiles\":[{\"profiles\":[{\"sampleType\":{}}]}]}],\"dictionary\":"
      "{\"mappingTable\":[{},{\"memoryStart\":\"4194304\"",
      "\"linkTable\":[{},{\"traceId\":\"5b8efef8000102030405060708090a0b\","
      "\"spanId\":\"aabbccddeeff0011\"}]",
      "\"stringTable\":[\"\",\"main\",",
      "\"ünïcode ✓\"",
      "{\"keyStrindex\":13,\"value\":{\"intValue\":\"-9223372036854775808\"},\"unitStrindex\":13}",
      "\"stackTable\":[{},{\"locationIndices\":[1,2]},{\"locationIndices\":[2]}]}}",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(js, want[i]) != NULL, "missing %s\nin %s", want[i], js);
  ck_assert_ptr_null(strchr(js, '\n'));
  pc_buf_free(&b);
}
END_TEST

/* protobuf -> JSON -> protobuf keeps every field: the protoc-built fixture
 * and the rich request come back byte for byte. */
static void proto_json_proto(const uint8_t *pb, size_t n) {
  pc_request_t from_pb, from_json;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(arena, pb, n, &from_pb, &err) == 0, "%s", err.msg);
  pc_buf_t js = {0}, pb2 = {0};
  encode(&from_pb, &js);
  ck_assert_msg(pc_json_decode(arena, js.p, js.n, &from_json, &err) == 0, "%s", err.msg);
  pc_test_assert_request_eq(&from_pb, &from_json);
  ck_assert_int_eq(pc_proto_encode(&from_json, &pb2), 0);
  ck_assert_int_eq(pb2.n, n);
  ck_assert(memcmp(pb2.p, pb, n) == 0);
  pc_buf_free(&js);
  pc_buf_free(&pb2);
}

START_TEST(proto_json_proto_keeps_every_field) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &pb), 0);
  proto_json_proto(pb.p, pb.n);
  pc_buf_free(&pb);

  const char *path = getenv("PC_REQUEST_BINPB");
  ck_assert_msg(path != NULL, "PC_REQUEST_BINPB is not set (run through meson test)");
  pc_buf_t protoc = {0};
  pc_test_read_file(path, &protoc);
  proto_json_proto(protoc.p, protoc.n);
  pc_buf_free(&protoc);
}
END_TEST

/* Strings are copied: the input buffer may be freed right after decoding. */
START_TEST(decoded_strings_outlive_the_input) {
  const char *json =
      "{\"resourceProfiles\":[{\"schemaUrl\":\"https://x\",\"resource\":{\"attributes\":"
      "[{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}]}}],"
      "\"dictionary\":{\"stringTable\":[\"\",\"main\"]}}";
  size_t n = strlen(json);
  uint8_t *buf = malloc(n);
  memcpy(buf, json, n);
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_msg(pc_json_decode(arena, buf, n, &req, &err) == 0, "%s", err.msg);
  memset(buf, 'X', n);
  free(buf);
  ck_view_eq(req.resources[0].schema_url, "https://x");
  ck_view_eq(req.resources[0].resource.attributes.v[0].key, "k");
  ck_view_eq(req.resources[0].resource.attributes.v[0].value.u.s, "v");
  ck_view_eq(req.dict.strings[1], "main");
  ck_assert_ptr_eq(req.arena, arena);
}
END_TEST

/* The fuzzing seeds are valid requests and survive a round trip. */
START_TEST(fuzz_seeds_decode) {
  static const char *const seeds[] = {"empty", "agent", "lenient", "nested", "rich"};
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "tests/fuzz/corpus/json/%s.json", seeds[i]);
    pc_buf_t in = {0}, out = {0};
    pc_test_read_file(path, &in);
    pc_request_t req, back;
    pc_err_t err = {0};
    ck_assert_msg(pc_json_decode(arena, in.p, in.n, &req, &err) == 0, "%s: %s", path, err.msg);
    ck_assert_msg(req.rejected_profiles == 0, "%s: %s", path, req.reject_msg);
    encode(&req, &out);
    ck_assert_msg(pc_json_decode(arena, out.p, out.n, &back, &err) == 0, "%s: %s", path, err.msg);
    pc_test_assert_request_eq(&req, &back);
    pc_buf_free(&in);
    pc_buf_free(&out);
  }
}
END_TEST

/* ---- lenient input ----------------------------------------------------------- */

/* A dictionary that makes every index used below valid. */
#define DICT                                                                     \
  "\"dictionary\":{\"stringTable\":[\"\",\"cpu\",\"ns\"],\"stackTable\":[{},{},{}]," \
  "\"linkTable\":[{},{}],\"attributeTable\":[{},{\"keyStrindex\":1}]}"

START_TEST(integers_as_strings_and_numbers) {
  pc_request_t req;
  decode_ok("{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{"
            "\"samples\":[{\"stackIndex\":\"2\",\"linkIndex\":1,\"attributeIndices\":[\"1\"],"
            "\"values\":[\"5\",6,\"-7\",8.0,\"-9223372036854775808\",9223372036854775807]},"
            "{\"timestampsUnixNano\":[\"18446744073709551615\",1,\"0\",1e3]}],"
            "\"timeUnixNano\":1700000000123456789,\"durationNano\":\"10\","
            "\"period\":-3,\"droppedAttributesCount\":\"4\","
            "\"sampleType\":{\"typeStrindex\":\"1\",\"unitStrindex\":2.0}}]}]}]," DICT "}",
            &req);
  const pc_profile_t *p = &req.resources[0].scopes[0].profiles[0];
  const pc_sample_t *s = &p->samples[0];
  ck_assert_int_eq(s->stack_index, 2);
  ck_assert_int_eq(s->link_index, 1);
  ck_assert_int_eq(s->attribute_indices.n, 1);
  ck_assert_int_eq(s->attribute_indices.v[0], 1);
  static const int64_t values[] = {5, 6, -7, 8, INT64_MIN, INT64_MAX};
  ck_assert_int_eq(s->n_values, 6);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(s->values[i], values[i]);
  s = &p->samples[1];
  ck_assert_int_eq(s->n_timestamps, 4);
  ck_assert_uint_eq(s->timestamps_unix_nano[0], UINT64_MAX);
  ck_assert_uint_eq(s->timestamps_unix_nano[1], 1);
  ck_assert_uint_eq(s->timestamps_unix_nano[2], 0);
  ck_assert_uint_eq(s->timestamps_unix_nano[3], 1000);
  ck_assert_uint_eq(p->time_unix_nano, 1700000000123456789ULL);
  ck_assert_uint_eq(p->duration_nano, 10);
  ck_assert_int_eq(p->period, -3);
  ck_assert_uint_eq(p->dropped_attributes_count, 4);
  ck_assert(p->has_sample_type);
  ck_assert_int_eq(p->sample_type.type_strindex, 1);
  ck_assert_int_eq(p->sample_type.unit_strindex, 2);
}
END_TEST

START_TEST(hex_ids_in_either_case) {
  pc_request_t req;
  decode_ok("{\"dictionary\":{\"linkTable\":[{\"traceId\":\"\",\"spanId\":\"\"},"
            "{\"traceId\":\"5B8EFEF8000102030405060708090A0B\",\"spanId\":\"AABBCCDDEEFF0011\"},"
            "{\"traceId\":\"5b8efef8000102030405060708090a0b\",\"spanId\":\"aAbBcCdDeEfF0011\"}]}}",
            &req);
  ck_assert_int_eq(req.dict.n_links, 3);
  ck_assert_int_eq(req.dict.links[0].trace_id.n, 0);
  ck_assert_int_eq(req.dict.links[0].span_id.n, 0);
  for (int i = 1; i <= 2; i++) {
    ck_view_eq(req.dict.links[i].trace_id,
               "\x5b\x8e\xfe\xf8\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b");
    ck_view_eq(req.dict.links[i].span_id, "\xaa\xbb\xcc\xdd\xee\xff\x00\x11");
  }
}
END_TEST

START_TEST(base64_forms_and_hex_profile_id) {
  pc_request_t req;
  decode_ok("{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":["
            "{\"profileId\":\"ASNFZ4mrze8BI0VniavN7w==\",\"originalPayload\":\"H4sAAA==\"},"
            "{\"profileId\":\"ASNFZ4mrze8BI0VniavN7w\",\"originalPayload\":\"H4sAAA\"},"
            "{\"profileId\":\"0123456789ABCDEF0123456789abcdef\",\"originalPayload\":\"-_8=\"},"
            "{\"originalPayload\":\"+/8\"},"
            "{\"profileId\":\"\",\"originalPayload\":\"\"}]}]}]}",
            &req);
  const pc_profile_t *p = req.resources[0].scopes[0].profiles;
  for (int i = 0; i < 3; i++)
    ck_view_eq(p[i].profile_id,
               "\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef");
  ck_view_eq(p[0].original_payload, "\x1f\x8b\x00\x00");
  ck_view_eq(p[1].original_payload, "\x1f\x8b\x00\x00");
  ck_view_eq(p[2].original_payload, "\xfb\xff");
  ck_view_eq(p[3].original_payload, "\xfb\xff");
  ck_assert_int_eq(p[4].profile_id.n, 0);
  ck_assert_int_eq(p[4].original_payload.n, 0);
}
END_TEST

/* Unknown keys are ignored at every level; the proto field names are keys
 * like the JSON names (issue 12: they were ignored too, and their data lost).
 * A field given under both names is read as the Collector reads a field met
 * twice: the repeated one appends, the scalar's last value wins. */
START_TEST(unknown_keys_are_ignored_proto_names_are_read) {
  pc_request_t req;
  decode_ok("{\"resource_profiles\":[{\"schema_url\":\"x\"}],\"futureField\":{\"a\":[1,2]},"
            "\"resourceProfiles\":[{\"scope_profiles\":[{}],\"scopeProfiles\":[{\"profiles\":"
            "[{\"sample_type\":{\"type_strindex\":1},\"time_unix_nano\":\"5\","
            "\"extra\":[null,true,{\"x\":\"y\"}],\"samples\":[{\"stack_index\":1}],"
            "\"period\":1,\"period\":2}]}]}],"
            "\"dictionary\":{\"string_table\":[\"\",\"a\"],\"Dictionary\":1,"
            "\"stack_table\":[{},{\"location_indices\":[]}]}}",
            &req);
  ck_assert_int_eq(req.n_resources, 2);
  ck_view_eq(req.resources[0].schema_url, "x");
  ck_assert_int_eq(req.resources[0].n_scopes, 0);
  ck_assert_int_eq(req.resources[1].n_scopes, 2);
  ck_assert_int_eq(req.resources[1].scopes[0].n_profiles, 0);
  const pc_profile_t *p = &req.resources[1].scopes[1].profiles[0];
  ck_assert(p->has_sample_type);
  ck_assert_int_eq(p->sample_type.type_strindex, 1);
  ck_assert_uint_eq(p->time_unix_nano, 5);
  ck_assert_int_eq(p->period, 2);
  ck_assert_int_eq(p->n_samples, 1);
  ck_assert_int_eq(p->samples[0].stack_index, 1);
  ck_assert(req.has_dictionary);
  ck_assert_int_eq(req.dict.n_strings, 2);
  ck_view_eq(req.dict.strings[1], "a");
  ck_assert_int_eq(req.dict.n_stacks, 2);
}
END_TEST

START_TEST(null_means_not_set) {
  pc_request_t req;
  decode_ok("{\"resourceProfiles\":[{\"resource\":null,\"schemaUrl\":null,\"scopeProfiles\":"
            "[{\"scope\":null,\"profiles\":[{\"sampleType\":null,\"samples\":null,"
            "\"period\":null,\"profileId\":null}]}]},"
            "{\"resource\":{\"attributes\":[{\"key\":\"a\",\"value\":null},"
            "{\"key\":\"b\",\"value\":{\"stringValue\":null}}]}}],"
            "\"dictionary\":null}",
            &req);
  ck_assert(!req.has_dictionary);
  const pc_resource_profiles_t *rp = &req.resources[0];
  ck_assert(!rp->has_resource);
  ck_assert(!rp->scopes[0].has_scope);
  const pc_profile_t *p = &rp->scopes[0].profiles[0];
  ck_assert(!p->has_sample_type);
  ck_assert_int_eq(p->n_samples, 0);
  ck_assert_int_eq(p->period, 0);
  const pc_kvs_t kvs = req.resources[1].resource.attributes;
  ck_assert(!kvs.v[0].has_value);
  ck_assert(kvs.v[1].has_value);
  ck_assert_int_eq(kvs.v[1].value.type, PC_AV_NONE);
}
END_TEST

/* An empty object still counts as present. */
START_TEST(empty_objects_are_present) {
  pc_request_t req;
  decode_ok("{\"resourceProfiles\":[{\"resource\":{},\"scopeProfiles\":[{\"scope\":{},"
            "\"profiles\":[{\"sampleType\":{},\"periodType\":{}}]}]}],\"dictionary\":{}}",
            &req);
  ck_assert(req.has_dictionary);
  ck_assert(req.resources[0].has_resource);
  ck_assert(req.resources[0].scopes[0].has_scope);
  ck_assert(req.resources[0].scopes[0].profiles[0].has_sample_type);
  ck_assert(req.resources[0].scopes[0].profiles[0].has_period_type);
}
END_TEST

START_TEST(anyvalue_kinds) {
  pc_request_t req;
  decode_ok("{\"resourceProfiles\":[{\"resource\":{\"attributes\":["
            "{\"key\":\"s\",\"value\":{\"stringValue\":\"\"}},"
            "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
            "{\"key\":\"i\",\"value\":{\"intValue\":\"-12\"}},"
            "{\"key\":\"d\",\"value\":{\"doubleValue\":2}},"
            "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
            "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}},"
            "{\"key\":\"-inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
            "{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{},{\"intValue\":1}]}}},"
            "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"x\"}]}}},"
            "{\"key\":\"by\",\"value\":{\"bytesValue\":\"AA==\"}},"
            "{\"keyStrindex\":1,\"value\":{\"stringValueStrindex\":\"1\"}},"
            "{\"key\":\"none\",\"value\":{\"unknownValue\":1}},"
            "{\"key\":\"ea\",\"value\":{\"arrayValue\":{}}}"
            "]}}],\"dictionary\":{\"stringTable\":[\"\",\"k\"]}}",
            &req);
  const pc_keyvalue_t *kv = req.resources[0].resource.attributes.v;
  ck_assert_int_eq(req.resources[0].resource.attributes.n, 13);
  ck_assert_int_eq(kv[0].value.type, PC_AV_STRING);
  ck_assert_int_eq(kv[0].value.u.s.n, 0);
  ck_assert_int_eq(kv[1].value.type, PC_AV_BOOL);
  ck_assert(kv[1].value.u.b);
  ck_assert_int_eq(kv[2].value.type, PC_AV_INT);
  ck_assert_int_eq(kv[2].value.u.i, -12);
  ck_assert_int_eq(kv[3].value.type, PC_AV_DOUBLE);
  ck_assert(kv[3].value.u.d == 2.0);
  ck_assert(isnan(kv[4].value.u.d));
  ck_assert(isinf(kv[5].value.u.d) && kv[5].value.u.d > 0);
  ck_assert(isinf(kv[6].value.u.d) && kv[6].value.u.d < 0);
  ck_assert_int_eq(kv[7].value.type, PC_AV_ARRAY);
  ck_assert_int_eq(kv[7].value.u.array.n, 2);
  ck_assert_int_eq(kv[7].value.u.array.v[0].type, PC_AV_NONE);
  ck_assert_int_eq(kv[7].value.u.array.v[1].u.i, 1);
  ck_assert_int_eq(kv[8].value.type, PC_AV_KVLIST);
  ck_assert_int_eq(kv[8].value.u.kvlist.n, 1);
  ck_view_eq(kv[8].value.u.kvlist.v[0].key, "x");
  ck_assert(!kv[8].value.u.kvlist.v[0].has_value);
  ck_assert_int_eq(kv[9].value.type, PC_AV_BYTES);
  ck_view_eq(kv[9].value.u.s, "\0");
  ck_assert_int_eq(kv[10].key_strindex, 1);
  ck_assert_int_eq(kv[10].value.type, PC_AV_STRINDEX);
  ck_assert_int_eq(kv[10].value.u.strindex, 1);
  ck_assert(kv[11].has_value);
  ck_assert_int_eq(kv[11].value.type, PC_AV_NONE);
  ck_assert_int_eq(kv[12].value.type, PC_AV_ARRAY);
  ck_assert_int_eq(kv[12].value.u.array.n, 0);
}
END_TEST

/* Escapes and NULs in strings survive both ways. */
START_TEST(string_escapes_roundtrip) {
  canonical("{\"dictionary\":{\"stringTable\":[\"\",\"a\\u0000b\",\"q\\\"\\\\\\n\\t\\u0001\","
            "\"\\u00fc\\ud83d\\ude00\"]}}",
            "{\"dictionary\":{\"stringTable\":[\"\",\"a\\u0000b\",\"q\\\"\\\\\\n\\t\\u0001\","
            "\"ü😀\"]}}");
  pc_request_t req;
  decode_ok("{\"dictionary\":{\"stringTable\":[\"\",\"a\\u0000b\"]}}", &req);
  ck_view_eq(req.dict.strings[1], "a\0b");
}
END_TEST

/* ---- canonical output ---------------------------------------------------------- */

START_TEST(encoder_writes_canonical_form) {
  /* Defaults left out, presence kept, numbers normalised. */
  canonical("{}", "{}");
  canonical("{\"resourceProfiles\":[],\"dictionary\":{\"stringTable\":[]}}",
            "{\"dictionary\":{}}");
  canonical("{\"resourceProfiles\":[{\"resource\":{\"droppedAttributesCount\":0},"
            "\"schemaUrl\":\"\",\"scopeProfiles\":[{\"profiles\":[{\"period\":\"0\","
            "\"sampleType\":{\"typeStrindex\":0},\"samples\":[{\"values\":[0,\"00\"]}]}]}]}]}",
            "{\"resourceProfiles\":[{\"resource\":{},\"scopeProfiles\":[{\"profiles\":[{"
            "\"sampleType\":{},\"samples\":[{\"values\":[\"0\",\"0\"]}]}]}]}]}");
  /* The oneof member is written even at zero; doubles read back exactly. */
  canonical("{\"dictionary\":{\"attributeTable\":["
            "{\"value\":{\"intValue\":0}},{\"value\":{\"boolValue\":false}},"
            "{\"value\":{\"stringValue\":\"\"}},{\"value\":{\"bytesValue\":\"\"}},"
            "{\"value\":{\"stringValueStrindex\":0}},{\"value\":{\"doubleValue\":0}},"
            "{\"value\":{\"doubleValue\":-0.0}},{\"value\":{\"doubleValue\":0.1}},"
            "{\"value\":{\"doubleValue\":1e300}},{\"value\":{\"doubleValue\":\"NaN\"}},"
            "{\"value\":{\"doubleValue\":\"-Infinity\"}},{\"value\":{\"kvlistValue\":{}}},"
            "{\"value\":{}}]}}",
            "{\"dictionary\":{\"attributeTable\":["
            "{\"value\":{\"intValue\":\"0\"}},{\"value\":{\"boolValue\":false}},"
            "{\"value\":{\"stringValue\":\"\"}},{\"value\":{\"bytesValue\":\"\"}},"
            "{\"value\":{\"stringValueStrindex\":0}},{\"value\":{\"doubleValue\":0}},"
            "{\"value\":{\"doubleValue\":-0.0}},{\"value\":{\"doubleValue\":0.1}},"
            "{\"value\":{\"doubleValue\":1e+300}},{\"value\":{\"doubleValue\":\"NaN\"}},"
            "{\"value\":{\"doubleValue\":\"-Infinity\"}},{\"value\":{\"kvlistValue\":{}}},"
            "{\"value\":{}}]}}");
  /* Keys come out in field-number order whatever the input order. */
  canonical("{\"dictionary\":{\"stackTable\":[{}],\"stringTable\":[\"\"],"
            "\"mappingTable\":[{\"attributeIndices\":[0],\"memoryStart\":1}],"
            "\"linkTable\":[{\"spanId\":\"00000000000000FF\"}],"
            "\"locationTable\":[{\"lines\":[{\"column\":\"2\",\"line\":1}],\"address\":3}]},"
            "\"resourceProfiles\":[{\"schemaUrl\":\"u\",\"resource\":{}}]}",
            "{\"resourceProfiles\":[{\"resource\":{},\"schemaUrl\":\"u\"}],\"dictionary\":{"
            "\"mappingTable\":[{\"memoryStart\":\"1\",\"attributeIndices\":[0]}],"
            "\"locationTable\":[{\"address\":\"3\",\"lines\":[{\"line\":\"1\",\"column\":\"2\"}]}],"
            "\"linkTable\":[{\"spanId\":\"00000000000000ff\"}],"
            "\"stringTable\":[\"\"],\"stackTable\":[{}]}}");
}
END_TEST

/* -0.0 and NaN keep their meaning through a round trip. */
START_TEST(special_doubles_roundtrip) {
  pc_request_t req;
  decode_ok("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"doubleValue\":-0.0}},"
            "{\"value\":{\"doubleValue\":\"NaN\"}},{\"value\":{\"doubleValue\":5e-324}},"
            "{\"value\":{\"doubleValue\":1.7976931348623157e308}}]}}",
            &req);
  pc_buf_t b = {0};
  encode(&req, &b);
  pc_request_t back;
  pc_err_t err = {0};
  ck_assert_msg(pc_json_decode(arena, b.p, b.n, &back, &err) == 0, "%s", err.msg);
  ck_assert(signbit(back.dict.attrs[0].value.u.d) && back.dict.attrs[0].value.u.d == 0);
  ck_assert(isnan(back.dict.attrs[1].value.u.d));
  ck_assert(back.dict.attrs[2].value.u.d == 5e-324);
  ck_assert(back.dict.attrs[3].value.u.d == 1.7976931348623157e308);
  pc_test_assert_request_eq(&req, &back);
  pc_buf_free(&b);
}
END_TEST

/* A bad AnyValue kind (hand-built data) fails and leaves out unchanged. */
START_TEST(encode_failure_leaves_output_unchanged) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  req.dict.attrs[1].value.type = (pc_av_type_t)42;
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_buf_append(&b, "prefix", 6), 0);
  ck_assert_int_eq(pc_json_encode(&req, &b), PC_EINVAL);
  ck_assert_int_eq(b.n, 6);
  pc_buf_free(&b);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

START_TEST(type_errors_name_the_path) {
  decode_err("{\"resourceProfiles\":[{\"scopeProfiles\":[{},{\"profiles\":[{},{},{\"samples\":"
             "[{},{},{},{\"values\":[\"abc\"]}]}]}]}]}",
             PC_EDECODE,
             "resourceProfiles[0].scopeProfiles[1].profiles[2].samples[3].values[0]: "
             "expected an integer, got \"abc\"");
  decode_err("{\"resourceProfiles\":[{\"resource\":\"x\"}]}", PC_EDECODE,
             "resourceProfiles[0].resource: expected an object, got \"x\"");
  decode_err("{\"resourceProfiles\":{}}", PC_EDECODE,
             "resourceProfiles: expected an array, got an object");
  decode_err("{\"resourceProfiles\":[7]}", PC_EDECODE,
             "resourceProfiles[0]: expected an object, got 7");
  decode_err("{\"dictionary\":{\"stringTable\":[\"\",1]}}", PC_EDECODE,
             "dictionary.stringTable[1]: expected a string, got 1");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"boolValue\":\"true\"}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value.boolValue: expected a boolean, got \"true\"");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"doubleValue\":\"1.5\"}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value.doubleValue: expected a number, got \"1.5\"");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"arrayValue\":[]}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value.arrayValue: expected an object, got an array");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"intValue\":\"1\","
             "\"stringValue\":\"x\"}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value: AnyValue sets both \"stringValue\" and "
             "\"intValue\"");
  decode_err("{\"dictionary\":{\"functionTable\":[{\"startLine\":1.5}]}}", PC_EDECODE,
             "dictionary.functionTable[0].startLine: expected an integer, got 1.5");
  decode_err("{\"dictionary\":{\"functionTable\":[{\"nameStrindex\":\" 1\"}]}}", PC_EDECODE,
             "dictionary.functionTable[0].nameStrindex: expected an integer, got \" 1\"");
  decode_err("{\"dictionary\":{\"stackTable\":[{\"locationIndices\":[true]}]}}", PC_EDECODE,
             "dictionary.stackTable[0].locationIndices[0]: expected an integer, got true");
}
END_TEST

START_TEST(range_errors_name_the_path) {
  decode_err("{\"dictionary\":{\"functionTable\":[{\"nameStrindex\":3000000000}]}}", PC_EDECODE,
             "dictionary.functionTable[0].nameStrindex: value 3000000000 is out of range for "
             "int32");
  decode_err("{\"dictionary\":{\"functionTable\":[{\"nameStrindex\":\"-2147483649\"}]}}",
             PC_EDECODE,
             "dictionary.functionTable[0].nameStrindex: value \"-2147483649\" is out of range "
             "for int32");
  decode_err("{\"resourceProfiles\":[{\"resource\":{\"droppedAttributesCount\":-1}}]}",
             PC_EDECODE,
             "resourceProfiles[0].resource.droppedAttributesCount: value -1 is out of range "
             "for uint32");
  decode_err("{\"resourceProfiles\":[{\"resource\":{\"droppedAttributesCount\":4294967296}}]}",
             PC_EDECODE,
             "resourceProfiles[0].resource.droppedAttributesCount: value 4294967296 is out of "
             "range for uint32");
  decode_err("{\"dictionary\":{\"mappingTable\":[{\"memoryStart\":\"18446744073709551616\"}]}}",
             PC_EDECODE,
             "dictionary.mappingTable[0].memoryStart: value \"18446744073709551616\" is out of "
             "range for uint64");
  decode_err("{\"dictionary\":{\"mappingTable\":[{\"fileOffset\":\"-1\"}]}}", PC_EDECODE,
             "dictionary.mappingTable[0].fileOffset: value \"-1\" is out of range for uint64");
  decode_err("{\"dictionary\":{\"functionTable\":[{\"startLine\":\"9223372036854775808\"}]}}",
             PC_EDECODE,
             "dictionary.functionTable[0].startLine: value \"9223372036854775808\" is out of "
             "range for int64");
}
END_TEST

START_TEST(bad_bytes_name_the_path) {
  decode_err("{\"dictionary\":{\"linkTable\":[{},{\"traceId\":\"abcd\"}]}}", PC_EDECODE,
             "dictionary.linkTable[1].traceId: expected 32 hex digits or \"\", got \"abcd\"");
  decode_err("{\"dictionary\":{\"linkTable\":[{\"spanId\":\"aabbccddeeff001g\"}]}}", PC_EDECODE,
             "dictionary.linkTable[0].spanId: expected 16 hex digits or \"\", got "
             "\"aabbccddeeff001g\"");
  decode_err("{\"dictionary\":{\"linkTable\":[{\"traceId\":"
             "\"5b8efef8000102030405060708090a0b00\"}]}}",
             PC_EDECODE,
             "dictionary.linkTable[0].traceId: expected 32 hex digits or \"\", got "
             "\"5b8efef8000102030405060708090a0b00\"");
  decode_err("{\"dictionary\":{\"linkTable\":[{\"spanId\":12}]}}", PC_EDECODE,
             "dictionary.linkTable[0].spanId: expected a hex string, got 12");
  decode_err("{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{\"profileId\":"
             "\"a$b=\"}]}]}]}",
             PC_EDECODE,
             "resourceProfiles[0].scopeProfiles[0].profiles[0].profileId: expected base64, "
             "got \"a$b=\"");
  decode_err("{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{\"originalPayload\":"
             "\"abcde\"}]}]}]}",
             PC_EDECODE,
             "resourceProfiles[0].scopeProfiles[0].profiles[0].originalPayload: expected "
             "base64, got \"abcde\"");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"bytesValue\":\"AA=A\"}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value.bytesValue: expected base64, got \"AA=A\"");
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"bytesValue\":[1]}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value.bytesValue: expected a base64 string, got an "
             "array");
}
END_TEST

/* AnyValue nesting: PC_MAX_ANYVALUE_DEPTH levels pass, one more fails. */
static void nested_json(int arrays, pc_buf_t *b) {
  const char *head = "{\"resourceProfiles\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
                     "\"value\":";
  ck_assert_int_eq(pc_buf_append(b, head, strlen(head)), 0);
  for (int i = 0; i < arrays; i++) ck_assert_int_eq(pc_buf_printf(b, "{\"arrayValue\":{\"values\":["), 0);
  ck_assert_int_eq(pc_buf_printf(b, "{\"intValue\":\"1\"}"), 0);
  for (int i = 0; i < arrays; i++) ck_assert_int_eq(pc_buf_printf(b, "]}}"), 0);
  ck_assert_int_eq(pc_buf_printf(b, "}]}}]}%c", 0), 0);
}

START_TEST(too_deep_nesting_is_rejected) {
  pc_buf_t ok = {0}, deep = {0};
  nested_json(PC_MAX_ANYVALUE_DEPTH - 1, &ok);
  pc_request_t req;
  decode_ok((const char *)ok.p, &req);
  const pc_anyvalue_t *av = &req.resources[0].resource.attributes.v[0].value;
  for (int i = 0; i < PC_MAX_ANYVALUE_DEPTH - 1; i++) av = &av->u.array.v[0];
  ck_assert_int_eq(av->type, PC_AV_INT);
  /* The encoder writes what the decoder accepts. */
  pc_buf_t b = {0};
  encode(&req, &b);
  pc_buf_free(&b);

  nested_json(PC_MAX_ANYVALUE_DEPTH, &deep);
  pc_err_t err = {0};
  ck_assert_int_eq(pc_json_decode(arena, deep.p, deep.n - 1, &req, &err), PC_EDECODE);
  const char *start = "resourceProfiles[0].resource.attributes[0].value.arrayValue";
  const char *end = ".arrayValue.values[0]: AnyValue nested deeper than 32 levels";
  ck_assert_msg(strncmp(err.msg, start, strlen(start)) == 0, "%s", err.msg);
  ck_assert_msg(strlen(err.msg) > strlen(end) &&
                    strcmp(err.msg + strlen(err.msg) - strlen(end), end) == 0,
                "%s", err.msg);
  pc_buf_free(&ok);
  pc_buf_free(&deep);
}
END_TEST

START_TEST(syntax_errors_give_line_and_column) {
  pc_request_t req;
  pc_err_t err = {0};
  const char *json = "{\n  \"resourceProfiles\": [\n    {,\n";
  ck_assert_int_eq(pc_json_decode(arena, (const uint8_t *)json, strlen(json), &req, &err),
                   PC_EDECODE);
  ck_assert_str_eq(err.msg, "line 3, column 6: string or '}' expected near ','");
  ck_assert_int_eq(err.line, 3);
  ck_assert_int_eq(err.col, 6);
  decode_err("{\"a\":\"\xff\"}", PC_EDECODE, "line 1, column 6: unable to decode byte 0xff near '\"'");
  decode_err("{} x", PC_EDECODE, "line 1, column 4: end of file expected near 'x'");
  decode_err("", PC_EDECODE, "line 1, column 0: unexpected token near end of file");
  ck_assert_int_eq(pc_json_decode(arena, NULL, 0, &req, &err), PC_EDECODE);
}
END_TEST

START_TEST(top_level_must_be_an_object) {
  decode_err("[]", PC_EDECODE, "top level: expected an object, got an array");
  decode_err("42", PC_EDECODE, "top level: expected an object, got 42");
  decode_err("\"hi\"", PC_EDECODE, "top level: expected an object, got \"hi\"");
  decode_err("null", PC_EDECODE, "top level: expected an object, got null");
}
END_TEST

/* Validation runs after decoding: a bad dictionary index fails the request,
 * a bad profile index rejects that profile only. */
START_TEST(decoded_requests_are_validated) {
  decode_err("{\"dictionary\":{\"stackTable\":[{},{\"locationIndices\":[3]}]}}", PC_EDECODE,
             "dictionary.stack_table[1].location_indices[0]: index 3 out of range "
             "(location_table has 0 entries)");
  pc_request_t req;
  pc_err_t err = {0};
  const char *json = "{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":["
                     "{\"samples\":[{\"stackIndex\":5}]},{}]}]}]}";
  ck_assert_int_eq(pc_json_decode(arena, (const uint8_t *)json, strlen(json), &req, &err), 0);
  ck_assert_uint_eq(req.rejected_profiles, 1);
  ck_assert_int_eq(req.resources[0].scopes[0].n_profiles, 1);
}
END_TEST

/* The arena's limit is honoured: PC_ENOMEM, never a partial success. */
START_TEST(arena_limit_fails_cleanly) {
  pc_request_t rich;
  pc_test_rich_request(arena, &rich);
  pc_buf_t b = {0};
  encode(&rich, &b);
  pc_arena_t *small = pc_arena_new(256);
  pc_arena_set_limit(small, 512);
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_json_decode(small, b.p, b.n, &req, &err), PC_ENOMEM);
  ck_assert_msg(strstr(err.msg, "out of memory") != NULL, "%s", err.msg);
  pc_arena_free(small);
  pc_buf_free(&b);
}
END_TEST

/* ---- bounds (issue 14) ------------------------------------------------------------ */

#define BOMB_BYTES ((size_t)64 << 20)

/* The peak resident set since the last reset_peak_rss(), in bytes. */
static void reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_ge(fputs("5", f), 0);
  ck_assert_int_eq(fclose(f), 0);
}

static size_t status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  ck_assert_ptr_nonnull(f);
  char line[256];
  size_t kb = 0, n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) kb = strtoull(line + n, NULL, 10);
  fclose(f);
  ck_assert_uint_gt(kb, 0);
  return kb;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
         ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
}

/* Sanitizers add shadow memory and keep freed blocks in quarantine. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_SLACK_FACTOR 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_SLACK_FACTOR 3
#endif
#endif
#ifndef RSS_SLACK_FACTOR
#define RSS_SLACK_FACTOR 1
#endif

/* head, then filler until the body is BOMB_BYTES long, then tail. */
static uint8_t *bomb(const char *head, const char *filler, const char *tail, size_t *n) {
  size_t h = strlen(head), f = strlen(filler), t = strlen(tail);
  uint8_t *b = malloc(BOMB_BYTES);
  ck_assert_ptr_nonnull(b);
  memcpy(b, head, h);
  size_t i = h;
  while (i + f + t <= BOMB_BYTES) {
    memcpy(b + i, filler, f);
    i += f;
  }
  if (filler[f - 1] == ',') i--; /* no trailing comma */
  memcpy(b + i, tail, t);
  *n = i + t;
  return b;
}

typedef struct {
  int rc;
  double cpu_s;
  size_t peak_growth_kb; /* peak RSS during the decode over RSS before it */
  pc_err_t err;
} bomb_result_t;

static bomb_result_t decode_bomb(const uint8_t *b, size_t n, size_t limit) {
  pc_arena_t *a = pc_arena_new(0);
  pc_arena_set_limit(a, limit);
  bomb_result_t r = {0};
  pc_request_t req;
  reset_peak_rss();
  size_t before = status_kb("VmRSS:");
  double t0 = cpu_seconds();
  r.rc = pc_json_decode(a, b, n, &req, &r.err);
  r.cpu_s = cpu_seconds() - t0;
  size_t peak = status_kb("VmHWM:");
  r.peak_growth_kb = peak > before ? peak - before : 0;
  pc_arena_free(a);
  return r;
}

/* 64 MiB of {"x":[{},{},...]}: jansson took 20 s and 5 GB building it, then
 * the request was answered 200. Now its value is skipped with no memory,
 * in linear time, and the request refused: nothing in it is a profile. */
START_TEST(bomb_of_unknown_keys_takes_no_memory) {
  size_t n;
  uint8_t *b = bomb("{\"x\":[", "{},", "]}", &n);
  bomb_result_t r = decode_bomb(b, n, (size_t)1 << 30);
  ck_assert_msg(r.rc == PC_EDECODE, "%s: %s", pc_err_name(r.rc), r.err.msg);
  ck_assert_str_eq(r.err.msg, "top level: no profiles, and unknown key \"x\": an OTLP "
                              "profiles request has \"resourceProfiles\" and \"dictionary\"");
  ck_assert_msg(r.peak_growth_kb < 4096 * RSS_SLACK_FACTOR, "peak RSS grew by %zu KiB",
                r.peak_growth_kb);
  ck_assert_msg(r.cpu_s < 10, "%.1f s of CPU for 64 MiB", r.cpu_s);
  free(b);
}
END_TEST

/* The same inside a field that is read: every element is real data, so it
 * is the limit that stops it, before the memory is taken. */
START_TEST(bomb_of_known_keys_stops_at_the_limit) {
  const size_t limit = (size_t)64 << 20;
  static const char *const heads[] = {
      "{\"resourceProfiles\":[",
      "{\"dictionary\":{\"stringTable\":[",
      "{\"dictionary\":{\"stackTable\":[{\"locationIndices\":[",
  };
  static const char *const fillers[] = {"{},", "\"\",", "0,"};
  static const char *const tails[] = {"]}", "]}}", "]}]}}"};
  for (int i = 0; i < 3; i++) {
    size_t n;
    uint8_t *b = bomb(heads[i], fillers[i], tails[i], &n);
    bomb_result_t r = decode_bomb(b, n, limit);
    ck_assert_msg(r.rc == PC_ENOMEM, "%s: %s: %s", heads[i], pc_err_name(r.rc), r.err.msg);
    ck_assert_msg(strstr(r.err.msg, "out of memory: the decoded request needs more than the "
                                    "67108864 bytes allowed") != NULL,
                  "%s", r.err.msg);
    ck_assert_msg(r.peak_growth_kb < (limit / 1024 + 8192) * RSS_SLACK_FACTOR,
                  "%s: peak RSS grew by %zu KiB, limit %zu KiB", heads[i], r.peak_growth_kb,
                  limit / 1024);
    ck_assert_msg(r.cpu_s < 10, "%s: %.1f s of CPU for 64 MiB", heads[i], r.cpu_s);
    free(b);
  }
}
END_TEST

/* 64 MiB of '[' or of {"a": under a key: refused at jansson's 2048 levels,
 * with no recursion and no memory. */
START_TEST(deep_nesting_is_refused) {
  static const char *const fillers[] = {"[", "{\"a\":"};
  for (int i = 0; i < 2; i++) {
    size_t n;
    uint8_t *b = bomb("{\"resourceProfiles\":[{\"x\":", fillers[i], "", &n);
    bomb_result_t r = decode_bomb(b, n, (size_t)1 << 30);
    ck_assert_int_eq(r.rc, PC_EDECODE);
    const char *want = i == 0 ? "line 1, column 2072: maximum parsing depth reached near '['"
                              : "line 1, column 10252: maximum parsing depth reached near '{'";
    ck_assert_str_eq(r.err.msg, want);
    ck_assert_msg(r.peak_growth_kb < 4096 * RSS_SLACK_FACTOR, "peak RSS grew by %zu KiB",
                  r.peak_growth_kb);
    free(b);
  }
}
END_TEST

/* The scratch space for the arrays being read counts against the arena's
 * limit: a table that fits the arena alone does not fit the limit when its
 * elements also wait on the scratch stack. */
START_TEST(scratch_counts_against_the_limit) {
  enum { N = 100000 };
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_buf_printf(&b, "{\"dictionary\":{\"stringTable\":[\"\""), 0);
  int rc = 0;
  for (int i = 1; i < N; i++) rc |= pc_buf_append(&b, ",\"\"", 3);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(pc_buf_printf(&b, "]}}"), 0);
  const size_t table = (size_t)N * sizeof(pc_str_t), block = 4096;
  pc_request_t req;
  pc_err_t err = {0};
  /* The arena alone needs table bytes (the strings are empty). */
  pc_arena_t *a = pc_arena_new(block);
  pc_arena_set_limit(a, table + table / 2);
  ck_assert_int_eq(pc_json_decode(a, b.p, b.n, &req, &err), PC_ENOMEM);
  ck_assert_ptr_nonnull(strstr(err.msg, "out of memory"));
  pc_arena_free(a);
  /* Scratch (at most twice the table, it doubles) and table: enough. */
  a = pc_arena_new(block);
  pc_arena_set_limit(a, 3 * table + 2 * block);
  ck_assert_msg(pc_json_decode(a, b.p, b.n, &req, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(req.dict.n_strings, N);
  ck_assert_uint_le(pc_arena_used(a), 3 * table + 2 * block);
  /* The charge ends with the decode: what is used is the arena's own. */
  ck_assert_uint_lt(pc_arena_used(a), table + table / 2);
  pc_arena_free(a);
  pc_buf_free(&b);
}
END_TEST

/* A limit stops a decode cleanly wherever it falls: for every limit, the
 * rich request decodes whole or fails with PC_ENOMEM, never more used. */
START_TEST(every_limit_fails_cleanly_or_fits) {
  pc_request_t rich;
  pc_test_rich_request(arena, &rich);
  pc_buf_t b = {0};
  encode(&rich, &b);
  bool fitted = false;
  for (size_t limit = 256; limit <= 32768 && !fitted; limit += 64) {
    pc_arena_t *a = pc_arena_new(256);
    pc_arena_set_limit(a, limit);
    pc_request_t req;
    pc_err_t err = {0};
    int rc = pc_json_decode(a, b.p, b.n, &req, &err);
    ck_assert_msg(rc == 0 || rc == PC_ENOMEM, "limit %zu: %s", limit, err.msg);
    ck_assert_uint_le(pc_arena_used(a), limit);
    if (rc == 0) {
      pc_test_assert_request_eq(&rich, &req);
      fitted = true;
    }
    pc_arena_free(a);
  }
  ck_assert(fitted);
  pc_buf_free(&b);
}
END_TEST

/* ---- field names (issue 12) ---------------------------------------------------------- */

/* Decode req's JSON with every key, then every other key, in the proto's
 * names: the same request, every sample and every field. */
static void proto_names_roundtrip(const pc_request_t *req) {
  pc_buf_t js = {0}, snake = {0};
  encode(req, &js);
  for (int every_other = 0; every_other < 2; every_other++) {
    pc_test_to_proto_names(&js, every_other, &snake);
    ck_assert(every_other || strstr((const char *)snake.p, "Strindex") == NULL);
    pc_request_t back;
    pc_err_t err = {0};
    ck_assert_msg(pc_json_decode(arena, snake.p, snake.n, &back, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(back.rejected_profiles, 0);
    ck_assert_uint_eq(pc_request_sample_count(&back), pc_request_sample_count(req));
    pc_test_assert_request_eq(req, &back);
  }
  pc_buf_free(&js);
  pc_buf_free(&snake);
}

START_TEST(proto_names_roundtrip_every_field) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  proto_names_roundtrip(&req);
  pc_rng_t rng = {0x6a50f1e1d5};
  for (int i = 0; i < 200; i++) {
    pc_arena_reset(arena);
    pc_rand_request(&rng, arena, &req);
    proto_names_roundtrip(&req);
  }
}
END_TEST

/* The body of issue 12, as a user wrote it: it must bring its sample. */
START_TEST(proto_names_body_of_issue_12) {
  pc_request_t req;
  decode_ok("{\"resource_profiles\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
            "\"value\":{\"string_value\":\"api\"}}]},\"scope_profiles\":[{\"profiles\":[{"
            "\"sample_type\":{\"type_strindex\":1,\"unit_strindex\":2},\"samples\":[{"
            "\"stack_index\":1,\"values\":[\"7\"],\"timestamps_unix_nano\":[\"1700000000000000000\"]"
            "}],\"time_unix_nano\":\"1700000000000000000\",\"period_type\":{\"type_strindex\":1},"
            "\"profile_id\":\"0123456789abcdef0123456789abcdef\",\"original_payload_format\":\"x\","
            "\"attribute_indices\":[1]}],\"schema_url\":\"s\"}]}],"
            "\"dictionary\":{\"string_table\":[\"\",\"cpu\",\"nanoseconds\",\"main\"],"
            "\"function_table\":[{},{\"name_strindex\":3,\"system_name_strindex\":3,"
            "\"filename_strindex\":3,\"start_line\":\"4\"}],"
            "\"mapping_table\":[{},{\"memory_start\":\"4096\",\"memory_limit\":\"8192\","
            "\"file_offset\":\"0\",\"filename_strindex\":3}],"
            "\"location_table\":[{},{\"mapping_index\":1,\"address\":\"4100\",\"lines\":[{"
            "\"function_index\":1,\"line\":\"10\",\"column\":\"2\"}]}],"
            "\"link_table\":[{},{\"trace_id\":\"5b8efef8000102030405060708090a0b\","
            "\"span_id\":\"aabbccddeeff0011\"}],"
            "\"attribute_table\":[{},{\"key_strindex\":3,\"value\":{\"int_value\":\"1\"},"
            "\"unit_strindex\":2}],"
            "\"stack_table\":[{},{\"location_indices\":[1]}]}}",
            &req);
  ck_assert_uint_eq(pc_request_profile_count(&req), 1);
  ck_assert_uint_eq(pc_request_sample_count(&req), 1);
  const pc_profile_t *p = &req.resources[0].scopes[0].profiles[0];
  ck_assert_int_eq(p->samples[0].stack_index, 1);
  ck_assert_int_eq(p->samples[0].values[0], 7);
  ck_assert_uint_eq(p->samples[0].timestamps_unix_nano[0], 1700000000000000000ULL);
  ck_assert_int_eq(p->sample_type.unit_strindex, 2);
  ck_assert(p->has_period_type);
  ck_assert_int_eq(p->profile_id.n, 16);
  ck_assert_int_eq(p->attribute_indices.n, 1);
  ck_view_eq(req.resources[0].scopes[0].schema_url, "s");
  ck_view_eq(req.resources[0].resource.attributes.v[0].value.u.s, "api");
  ck_assert_int_eq(req.dict.functions[1].start_line, 4);
  ck_assert_uint_eq(req.dict.mappings[1].memory_limit, 8192);
  ck_assert_int_eq(req.dict.locations[1].lines[0].column, 2);
  ck_assert_int_eq(req.dict.links[1].span_id.n, 8);
  ck_assert_int_eq(req.dict.attrs[1].value.u.i, 1);
  ck_assert_int_eq(req.dict.stacks[1].location_indices.v[0], 1);
}
END_TEST

/* Unknown keys are ignored, except that a request with no profile whose
 * top level held some is refused, naming them: 200 {} would lose the data
 * of a misspelled key without a word. */
START_TEST(no_profiles_and_unknown_top_level_keys_are_refused) {
  decode_err("{\"resourceProfile\":[{\"scopeProfiles\":[{\"profiles\":[{}]}]}]}", PC_EDECODE,
             "top level: no profiles, and unknown key \"resourceProfile\": an OTLP profiles "
             "request has \"resourceProfiles\" and \"dictionary\"");
  decode_err("{\"a\":1,\"b\":2,\"a\":3,\"dictionary\":{},\"c\":[],\"d\":{},\"e\":null,"
             "\"resourceProfiles\":[{}]}",
             PC_EDECODE,
             "top level: no profiles, and unknown keys \"a\", \"b\", \"c\", \"d\" and 1 more: "
             "an OTLP profiles request has \"resourceProfiles\" and \"dictionary\"");
  decode_err("{\"ResourceProfiles\":[],\"x\\u0041\":1}", PC_EDECODE,
             "top level: no profiles, and unknown keys \"ResourceProfiles\", \"x\\u0041\": an "
             "OTLP profiles request has \"resourceProfiles\" and \"dictionary\"");
  /* Long keys are cut at 24 bytes, on a character boundary: the message
   * stays whole and UTF-8. */
  decode_err("{\"aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":1,\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":2,"
             "\"cccccccccccccccccccccccccccccccccccccc\":3,\"ddddddddddddddddddddddddddddddddd\":4,"
             "\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\":5}",
             PC_EDECODE,
             "top level: no profiles, and unknown keys \"aaaaaaaaaaaaaaaaaaaaaaa...\", "
             "\"bbbbbbbbbbbbbbbbbbbbbbbb...\", \"cccccccccccccccccccccccc...\", "
             "\"dddddddddddddddddddddddd...\" and 1 more: an OTLP profiles request has "
             "\"resourceProfiles\" and \"dictionary\"");
  /* No unknown key: an empty request is fine (200 {}). A profile: fine. */
  pc_request_t req;
  decode_ok("{}", &req);
  decode_ok("{\"resourceProfiles\":[],\"dictionary\":{}}", &req);
  decode_ok("{\"futureField\":1,\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{}]}]}]}",
            &req);
  ck_assert_uint_eq(pc_request_profile_count(&req), 1);
  /* Unknown keys below the top level are ignored, as the Collector does. */
  decode_ok("{\"resourceProfiles\":[{\"scopeProfile\":[{\"profiles\":[{}]}]}]}", &req);
  ck_assert_uint_eq(pc_request_profile_count(&req), 0);
}
END_TEST

/* A traces request sent to the profiles path says so, as the traces path
 * says it of a profiles request, rather than only "unknown key". */
START_TEST(traces_request_on_the_profiles_path_is_named) {
  decode_err("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"GET /\"}]}]}]}",
             PC_EDECODE,
             "top level: no profiles, and unknown key \"resourceSpans\": this is an "
             "ExportTraceServiceRequest, for the traces path");
  decode_err("{\"resource_spans\":[],\"x\":1}", PC_EDECODE,
             "top level: no profiles, and unknown keys \"resource_spans\", \"x\": this is an "
             "ExportTraceServiceRequest, for the traces path");
}
END_TEST

/* A field met twice, under one name or both: the repeated one appends, the
 * message merges, the scalar's last value wins (the Collector's reader). */
START_TEST(field_given_twice) {
  pc_request_t req;
  decode_ok("{\"dictionary\":{\"stringTable\":[\"\",\"a\"],\"string_table\":[\"b\"],"
            "\"stringTable\":[],\"stackTable\":[{\"locationIndices\":[0],"
            "\"location_indices\":[0,0]}]},"
            "\"resourceProfiles\":[{\"resource\":{\"droppedAttributesCount\":1},"
            "\"resource\":{\"dropped_attributes_count\":2,\"attributes\":[{\"key\":\"k\"}]},"
            "\"schemaUrl\":\"a\",\"schema_url\":\"b\"}]}",
            &req);
  ck_assert_int_eq(req.dict.n_strings, 3);
  ck_view_eq(req.dict.strings[2], "b");
  ck_assert_int_eq(req.dict.stacks[0].location_indices.n, 3);
  const pc_resource_profiles_t *rp = &req.resources[0];
  ck_assert_uint_eq(rp->resource.dropped_attributes_count, 2);
  ck_assert_int_eq(rp->resource.attributes.n, 1);
  ck_view_eq(rp->schema_url, "b");
  /* One AnyValue kind under both names is one kind; two kinds are not. */
  decode_ok("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"intValue\":1,\"int_value\":2}},"
            "{\"value\":{\"arrayValue\":{\"values\":[{}]},\"array_value\":{\"values\":[{}]}}}]}}",
            &req);
  ck_assert_int_eq(req.dict.attrs[0].value.u.i, 2);
  ck_assert_int_eq(req.dict.attrs[1].value.u.array.n, 2);
  decode_err("{\"dictionary\":{\"attributeTable\":[{\"value\":{\"int_value\":\"1\","
             "\"string_value\":\"x\"}}]}}",
             PC_EDECODE,
             "dictionary.attributeTable[0].value: AnyValue sets both \"string_value\" and "
             "\"int_value\"");
}
END_TEST

/* ---- syntax errors, in jansson's words ----------------------------------------------------- */

/* What jansson (the decoder before this one) said about json, in the form
 * pc_json_decode gives: "line L, column C: text". */
static void jansson_says(const char *json, size_t n, char *out, size_t cap, int *line, int *col) {
  json_error_t je;
  json_t *root = json_loadb(json, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  ck_assert_msg(root == NULL, "jansson accepts %s", json);
  snprintf(out, cap, "line %d, column %d: %s", je.line, je.column, je.text);
  *line = je.line;
  *col = je.column;
}

/* Every kind of syntax error is reported as jansson reported it: message,
 * line and column (which counts characters, not bytes). */
START_TEST(syntax_errors_match_jansson) {
  static const char *const cases[] = {
      "", " \n\t", "{", "}", "]", ":", ",", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}",
      "{\"a\":1 \"b\":2}", "{1:2}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":[,1]}", "{\"a\":[",
      "{\"a\":[1,", "{\"a\":[1", "{\"a\":{", "{\"a\":{\"b\"", "{\"a\":{\"b\":", "{\"a\":tru}",
      "{\"a\":nul}", "{\"a\":falsey}", "{\"a\":True}", "{\"a\":-}", "{\"a\":01}", "{\"a\":-01}",
      "{\"a\":1.}", "{\"a\":1.e5}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":.5}", "{\"a\":+1}",
      "{\"a\":1.5.2}", "{\"a\":\"x}", "{\"a\":\"x", "{\"a\":\"\\x\"}", "{\"a\":\"\\", "{\"a\":\"\\u12G4\"}",
      "{\"a\":\"\\u12\"}", "{\"a\":\"\\uD800\"}", "{\"a\":\"\\uDC00\"}", "{\"a\":\"\\uD800\\u0041\"}",
      "{\"a\":\"\\uD800\\n\"}", "{\"a\":\"\\uDBFF\\uDFFF\\uD800\"}", "{\"a\":\"line\nbreak\"}",
      "{\"a\":\"tab\there\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xc3(\"}",
      "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xc0\xaf\"}",
      "{\"a\":\"\xe0\x80\xaf\"}", "{\"a\":\"\xff\"}", "{\"a\":1}x", "{\"a\":1}}", "{\"a\":1} {}",
      "{\"a\":@}", "{\"a\":\xc3\xa9}", "{\xff}", "\xef\xbb\xbf{}", "{\"a\":'x'}",
      "{\n\"a\":\n[1,\n2,,3]}", "{\"\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\":[1 x]}",
      "{\"a\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" x}", "{\"a\" \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
      "{\"a\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xff\"}", "{\"a\":\"aaaaaaaaaaaaaaaa\x02\"}",
      "{\"resourceProfiles\":[{\"resource\":{,}}]}",
      "{\"dictionary\":{\"stringTable\":[\"a\" \"b\"]}}",
      "{\"dictionary\":{\"stringTable\":[\"a\",]}}",
      "{\"dictionary\":{\"stackTable\":[{\"locationIndices\":[1,2,}]}]}}",
      "{\"dictionary\":{\"mappingTable\":[{\"memoryStart\":1x}]}}",
      "{\"dictionary\":{\"attributeTable\":[{\"value\":{\"doubleValue\":1.}}]}}",
      "{\"dictionary\":{\"attributeTable\":[{\"value\":{\"boolValue\":tru}}]}}",
      "{\"dictionary\":{\"attributeTable\":[{\"value\":{\"stringValue\":\"\\q\"}}]}}",
      "{\"dictionary\":{\"linkTable\":[{\"traceId\":\"\\uDFFF\"}]}}",
      "{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{\"samples\":[{\"values\":"
      "[\"1\",-]}]}]}]}]}",
      "{\"resourceProfiles\":[{\"x\":[[[{\"y\":[1,2 3]}]]]}]}",
      "{\"resourceProfiles\":[{\"x\":{\"y\":{\"z\" 1}}}]}",
      "{\"resourceProfiles\":[{\"x\":[1,2,]}]}",
      /* Found by fuzzing: jansson reads the byte after a number or a word. */
      "{\"resourceProfiles\":[{\"resource\":attri\x9e}]}", "{\"a\":nul\xff}",
      "{\"a\":12\xff}", "{\"a\":null\xff}", "{\"a\":1.\xff}", "{\"a\":-\xff}", "{\"a\" x\xff}",
      "{\"dictionary\":null\xc3\xa9}", "{\"dictionary\":{\"stringTable\":[\"\"]}}x\xff",
      "{\"resourceProfiles\":[{\"resource\":{\"droppedAttributesCount\":12\xff}}]}",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char want[256];
    int line, col;
    jansson_says(cases[i], strlen(cases[i]), want, sizeof want, &line, &col);
    pc_request_t req;
    pc_err_t err = {0};
    int rc = pc_json_decode(arena, (const uint8_t *)cases[i], strlen(cases[i]), &req, &err);
    ck_assert_msg(rc == PC_EDECODE, "case %zu: %s", i, pc_err_name(rc));
    ck_assert_msg(strcmp(err.msg, want) == 0, "case %zu: %s\n  got:  %s\n  want: %s", i,
                  cases[i], err.msg, want);
    ck_assert_int_eq(err.line, line);
    ck_assert_int_eq(err.col, col);
  }
  /* Nesting past 2048 levels, in a key nothing reads. */
  pc_buf_t deep = {0};
  ck_assert_int_eq(pc_buf_printf(&deep, "{\"x\":"), 0);
  int rc = 0;
  for (int i = 0; i < 3000; i++) rc |= pc_buf_printf(&deep, i % 2 ? "[" : "{\"k\":");
  ck_assert_int_eq(rc, 0);
  char want[256];
  int line, col;
  jansson_says((const char *)deep.p, deep.n, want, sizeof want, &line, &col);
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_json_decode(arena, deep.p, deep.n, &req, &err), PC_EDECODE);
  ck_assert_str_eq(err.msg, want);
  pc_buf_free(&deep);
}
END_TEST

/* What jansson accepted, the decoder accepts as JSON (it may still refuse
 * what the JSON says): blanks, escapes, numbers, nesting under unknown keys. */
START_TEST(valid_json_is_accepted) {
  static const char *const cases[] = {
      " {\t\"resourceProfiles\" :\r\n [ ] , \"dictionary\" : { } } \n",
      "{\"x\":[1,-0,0.5,-1.5e-3,1E+2,2e10,true,false,null,\"\",{},[],[[]],{\"a\":{\"b\":[]}}]}",
      "{\"x\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u00e9\\uD83D\\uDE00\\uFFFF\"}",
      "{\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}",
      "{\"dictionary\":{\"stringTable\":[\"\\u00e9\",\"\xc3\xa9\",\"\\ud83d\\ude00\"]}}",
      "{\"\\u0064ictionary\":{\"string\\u005ftable\":[\"\",\"x\"]}}",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_error_t je;
    json_t *root = json_loadb(cases[i], strlen(cases[i]), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    ck_assert_msg(root != NULL, "case %zu: jansson: %s", i, je.text);
    json_decref(root);
    pc_request_t req;
    pc_err_t err = {0};
    int rc = pc_json_decode(arena, (const uint8_t *)cases[i], strlen(cases[i]), &req, &err);
    ck_assert_msg(rc == 0 || (rc == PC_EDECODE && err.line == 0), "case %zu: %s", i, err.msg);
  }
  pc_request_t req;
  decode_ok("{\"\\u0064ictionary\":{\"string\\u005ftable\":[\"\",\"\\ud83d\\ude00\"]}}", &req);
  ck_assert_int_eq(req.dict.n_strings, 2);
  ck_view_eq(req.dict.strings[1], "\xf0\x9f\x98\x80");
}
END_TEST

TCase *pc_test_json_tcase(void) {
  TCase *tc = tcase_create("json");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, rich_request_roundtrips);
  tcase_add_test(tc, rich_request_uses_otlp_json_forms);
  tcase_add_test(tc, proto_json_proto_keeps_every_field);
  tcase_add_test(tc, decoded_strings_outlive_the_input);
  tcase_add_test(tc, fuzz_seeds_decode);
  tcase_add_test(tc, integers_as_strings_and_numbers);
  tcase_add_test(tc, hex_ids_in_either_case);
  tcase_add_test(tc, base64_forms_and_hex_profile_id);
  tcase_add_test(tc, unknown_keys_are_ignored_proto_names_are_read);
  tcase_add_test(tc, null_means_not_set);
  tcase_add_test(tc, empty_objects_are_present);
  tcase_add_test(tc, anyvalue_kinds);
  tcase_add_test(tc, string_escapes_roundtrip);
  tcase_add_test(tc, encoder_writes_canonical_form);
  tcase_add_test(tc, special_doubles_roundtrip);
  tcase_add_test(tc, encode_failure_leaves_output_unchanged);
  tcase_add_test(tc, type_errors_name_the_path);
  tcase_add_test(tc, range_errors_name_the_path);
  tcase_add_test(tc, bad_bytes_name_the_path);
  tcase_add_test(tc, too_deep_nesting_is_rejected);
  tcase_add_test(tc, syntax_errors_give_line_and_column);
  tcase_add_test(tc, top_level_must_be_an_object);
  tcase_add_test(tc, decoded_requests_are_validated);
  tcase_add_test(tc, arena_limit_fails_cleanly);
  return tc;
}

TCase *pc_test_json_bounds_tcase(void) {
  TCase *tc = tcase_create("json_bounds");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, bomb_of_unknown_keys_takes_no_memory);
  tcase_add_test(tc, bomb_of_known_keys_stops_at_the_limit);
  tcase_add_test(tc, deep_nesting_is_refused);
  tcase_add_test(tc, scratch_counts_against_the_limit);
  tcase_add_test(tc, every_limit_fails_cleanly_or_fits);
  return tc;
}

TCase *pc_test_json_names_tcase(void) {
  TCase *tc = tcase_create("json_names");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, proto_names_roundtrip_every_field);
  tcase_add_test(tc, proto_names_body_of_issue_12);
  tcase_add_test(tc, no_profiles_and_unknown_top_level_keys_are_refused);
  tcase_add_test(tc, traces_request_on_the_profiles_path_is_named);
  tcase_add_test(tc, field_given_twice);
  return tc;
}

TCase *pc_test_json_syntax_tcase(void) {
  TCase *tc = tcase_create("json_syntax");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, syntax_errors_match_jansson);
  tcase_add_test(tc, valid_json_is_accepted);
  return tc;
}
