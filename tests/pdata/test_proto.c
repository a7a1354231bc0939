/* test_proto.c - protobuf decode/encode: round trips, an independent
 * encoder (protoc), validation, and hostile input. */
#include <stdlib.h>
#include <string.h>

#include "testdata.h"

static pc_arena_t *arena;

static void setup(void) { arena = pc_arena_new(0); }
static void teardown(void) { pc_arena_free(arena); }

/* The fixture encoded by protoc at build time (tests/data/request.txtpb). */
static pc_buf_t protoc_bytes(void) {
  const char *path = getenv("PC_REQUEST_BINPB");
  ck_assert_msg(path != NULL, "PC_REQUEST_BINPB is not set (run through meson test)");
  pc_buf_t b = {0};
  pc_test_read_file(path, &b);
  return b;
}

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

#define ck_str_view(view, lit) \
  ck_assert_msg(pc_str_eq((view), S(lit)), "got \"%.*s\", want \"%s\"", PC_STR_FMT(view), lit)

/* Encode, decode, encode again: the two encodings are identical. */
START_TEST(rich_request_reencodes_identically) {
  pc_request_t req, back;
  pc_test_rich_request(arena, &req);
  pc_buf_t a = {0}, b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &a), 0);
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(arena, a.p, a.n, &back, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(back.rejected_profiles, 0);
  pc_test_assert_request_eq(&req, &back);
  ck_assert_int_eq(pc_proto_encode(&back, &b), 0);
  ck_assert_int_eq(a.n, b.n);
  ck_assert(memcmp(a.p, b.p, a.n) == 0);
  pc_buf_free(&a);
  pc_buf_free(&b);
}
END_TEST

/* protoc's output is canonical: pdata must give back the very same bytes. */
START_TEST(protoc_bytes_roundtrip_identically) {
  pc_buf_t in = protoc_bytes(), out = {0};
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(arena, in.p, in.n, &req, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(pc_proto_encode(&req, &out), 0);
  ck_assert_int_eq(out.n, in.n);
  ck_assert(memcmp(out.p, in.p, in.n) == 0);
  pc_buf_free(&in);
  pc_buf_free(&out);
}
END_TEST

/* The values written in request.txtpb come out of the decoder. */
START_TEST(protoc_bytes_decode_to_expected_values) {
  pc_buf_t in = protoc_bytes();
  pc_request_t req;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(arena, in.p, in.n, &req, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(req.n_resources, 2);
  const pc_resource_profiles_t *rp = &req.resources[0];
  ck_assert(rp->has_resource);
  ck_str_view(rp->schema_url, "https://opentelemetry.io/schemas/1.30.0");
  const pc_kvs_t attrs = rp->resource.attributes;
  ck_assert_int_eq(attrs.n, 8);
  ck_str_view(attrs.v[0].key, "service.name");
  ck_assert_int_eq(attrs.v[0].value.type, PC_AV_STRING);
  ck_str_view(attrs.v[0].value.u.s, "checkout");
  ck_assert_int_eq(attrs.v[1].value.type, PC_AV_INT);
  ck_assert_int_eq(attrs.v[1].value.u.i, -42);
  ck_assert_int_eq(attrs.v[2].value.type, PC_AV_DOUBLE);
  ck_assert(attrs.v[2].value.u.d == 0.25);
  ck_assert_int_eq(attrs.v[3].value.type, PC_AV_BOOL);
  ck_assert(attrs.v[3].value.u.b);
  ck_assert_int_eq(attrs.v[4].value.type, PC_AV_BYTES);
  ck_assert(pc_str_eq(attrs.v[4].value.u.s, (pc_str_t){(const uint8_t *)"\x01\x02\xff", 3}));
  ck_assert_int_eq(attrs.v[5].value.type, PC_AV_ARRAY);
  ck_assert_int_eq(attrs.v[5].value.u.array.n, 3);
  ck_assert_int_eq(attrs.v[5].value.u.array.v[1].type, PC_AV_INT); /* zero, but set */
  ck_assert_int_eq(attrs.v[5].value.u.array.v[2].type, PC_AV_STRINDEX);
  ck_assert_int_eq(attrs.v[5].value.u.array.v[2].u.strindex, 3);
  ck_assert_int_eq(attrs.v[6].value.type, PC_AV_KVLIST);
  ck_assert_int_eq(attrs.v[6].value.u.kvlist.v[0].key_strindex, 4);
  ck_assert_int_eq(attrs.v[7].key_strindex, 5);
  ck_assert_int_eq(rp->resource.dropped_attributes_count, 2);
  ck_assert_int_eq(rp->resource.n_entity_refs, 1);
  ck_assert_int_eq(rp->resource.entity_refs[0].id_keys.n, 2);
  ck_str_view(rp->resource.entity_refs[0].id_keys.v[1], "service.namespace");
  ck_str_view(rp->resource.entity_refs[0].description_keys.v[0], "service.version");

  const pc_scope_profiles_t *sp = &rp->scopes[0];
  ck_assert(sp->has_scope);
  ck_str_view(sp->scope.name, "otel-ebpf-profiler");
  ck_str_view(sp->scope.version, "v0.0.1");
  ck_assert_int_eq(sp->scope.dropped_attributes_count, 1);
  ck_assert_int_eq(sp->n_profiles, 2);
  const pc_profile_t *p = &sp->profiles[0];
  ck_assert(p->has_sample_type && p->has_period_type);
  ck_assert_int_eq(p->sample_type.type_strindex, 9);
  ck_assert_int_eq(p->period_type.unit_strindex, 8);
  ck_assert_int_eq(p->period, 50000000);
  ck_assert_uint_eq(p->time_unix_nano, 1700000000123456789ULL);
  ck_assert_uint_eq(p->duration_nano, 10000000000ULL);
  ck_assert_int_eq(p->profile_id.n, 16);
  ck_assert_int_eq(p->profile_id.p[15], 0xef);
  ck_assert_int_eq(p->dropped_attributes_count, 3);
  ck_str_view(p->original_payload_format, "pprof");
  ck_assert_int_eq(p->original_payload.n, 4);
  ck_assert_int_eq(p->attribute_indices.n, 1);
  ck_assert_int_eq(p->n_samples, 3);
  const pc_sample_t *s = &p->samples[0];
  ck_assert_int_eq(s->stack_index, 1);
  ck_assert_int_eq(s->link_index, 1);
  ck_assert_int_eq(s->attribute_indices.n, 2);
  ck_assert_int_eq(s->attribute_indices.v[1], 2);
  ck_assert_int_eq(s->n_values, 2);
  ck_assert_int_eq(s->values[1], -1);
  ck_assert_int_eq(s->n_timestamps, 2);
  ck_assert_uint_eq(s->timestamps_unix_nano[1], UINT64_MAX);
  ck_assert_int_eq(p->samples[2].n_values, 0);
  ck_assert_uint_eq(p->samples[2].timestamps_unix_nano[0], 1700000000000000002ULL);
  ck_assert(!sp->profiles[1].has_sample_type);
  ck_assert(req.resources[1].scopes[0].profiles[0].has_sample_type);
  ck_assert(!req.resources[1].has_resource);

  const pc_dictionary_t *d = &req.dict;
  ck_assert(req.has_dictionary);
  ck_assert_int_eq(d->n_mappings, 2);
  ck_assert_uint_eq(d->mappings[1].memory_limit, 140737488355327ULL);
  ck_assert_int_eq(d->n_locations, 3);
  ck_assert_int_eq(d->locations[1].n_lines, 2);
  ck_assert_int_eq(d->locations[1].lines[0].column, 3);
  ck_assert_uint_eq(d->locations[2].address, UINT64_MAX);
  ck_assert_int_eq(d->functions[2].start_line, -1);
  ck_assert_int_eq(d->links[1].trace_id.n, 16);
  ck_assert_int_eq(d->links[1].span_id.n, 8);
  ck_assert_int_eq(d->n_strings, 14);
  ck_str_view(d->strings[12], "ünïcode ✓");
  ck_assert_int_eq(d->attrs[2].value.u.i, INT64_MIN);
  ck_assert_int_eq(d->attrs[2].unit_strindex, 13);
  ck_assert_int_eq(d->stacks[1].location_indices.n, 2);
  /* Views point into the input: no copies. */
  ck_assert(d->strings[1].p >= in.p && d->strings[1].p < in.p + in.n);
  pc_buf_free(&in);
}
END_TEST

/* Every prefix of a valid payload either decodes or fails with a message;
 * none crashes or reads past its end (ASan run). */
START_TEST(every_truncation_fails_cleanly) {
  pc_buf_t in = protoc_bytes();
  int failures = 0;
  for (size_t n = 0; n < in.n; n++) {
    uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees overreads */
    memcpy(copy, in.p, n);
    pc_request_t req;
    pc_err_t err = {0};
    int rc = pc_proto_decode(arena, copy, n, &req, &err);
    if (rc) {
      ck_assert_int_eq(rc, PC_EDECODE);
      ck_assert_msg(strstr(err.msg, "at byte ") == err.msg, "message: %s", err.msg);
      failures++;
    }
    free(copy);
    pc_arena_reset(arena);
  }
  ck_assert_int_gt(failures, (int)in.n / 2);
  pc_buf_free(&in);
}
END_TEST

/* Flipping each byte never crashes (results vary). */
START_TEST(every_byte_flip_is_survived) {
  pc_buf_t in = protoc_bytes();
  for (size_t i = 0; i < in.n; i++) {
    uint8_t *copy = malloc(in.n);
    memcpy(copy, in.p, in.n);
    copy[i] ^= 0xff;
    pc_request_t req;
    pc_err_t err = {0};
    int rc = pc_proto_decode(arena, copy, in.n, &req, &err);
    ck_assert(rc == 0 || rc == PC_EDECODE);
    free(copy);
    pc_arena_reset(arena);
  }
  pc_buf_free(&in);
}
END_TEST

static int decode_bytes(const void *p, size_t n, pc_request_t *req, pc_err_t *err) {
  memset(err, 0, sizeof *err);
  return pc_proto_decode(arena, p, n, req, err);
}

#define EXPECT_DECODE_ERROR(bytes, needle)                                          \
  do {                                                                              \
    pc_request_t r_;                                                                \
    pc_err_t e_;                                                                    \
    ck_assert_int_eq(decode_bytes(bytes, sizeof(bytes) - 1, &r_, &e_), PC_EDECODE); \
    ck_assert_msg(strstr(e_.msg, needle) != NULL, "message \"%s\" lacks \"%s\"",   \
                  e_.msg, needle);                                                  \
  } while (0)

START_TEST(hostile_lengths_and_tags) {
  /* resource_profiles with a length of 2^63. */
  EXPECT_DECODE_ERROR("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "runs past the end");
  /* A varint of 11 bytes. */
  EXPECT_DECODE_ERROR("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "truncated");
  /* Field number 0 and wire types 6/7. */
  EXPECT_DECODE_ERROR("\x00\x01", "invalid field number");
  EXPECT_DECODE_ERROR("\x0e", "invalid wire type 6");
  EXPECT_DECODE_ERROR("\x0f", "invalid wire type 7");
  /* A group that never ends. */
  EXPECT_DECODE_ERROR("\x1b\x08\x01", "unterminated group");
  /* Nested: dictionary.string_table[0] truncated inside its parent. */
  EXPECT_DECODE_ERROR("\x12\x03\x2a\x05\x61", "at byte 3: dictionary: length 5 runs past");
}
END_TEST

START_TEST(invalid_utf8_is_rejected_with_its_place) {
  /* dictionary { string_table: "" string_table: "\xc3\x28" } */
  EXPECT_DECODE_ERROR("\x12\x06\x2a\x00\x2a\x02\xc3\x28",
                      "dictionary.string_table[1]: string is not valid UTF-8");
  /* Overlong encoding of '/' and a UTF-16 surrogate. */
  EXPECT_DECODE_ERROR("\x12\x04\x2a\x02\xc0\xaf", "not valid UTF-8");
  EXPECT_DECODE_ERROR("\x12\x05\x2a\x03\xed\xa0\x80", "not valid UTF-8");
  /* resource attribute key. */
  EXPECT_DECODE_ERROR("\x0a\x07\x0a\x05\x0a\x03\x0a\x01\xff",
                      "resource_profiles[0].resource.attributes[0]: key: string is not valid");
}
END_TEST

/* Every string length up to 40 with a bad byte, or a good two-byte
 * character, at every place: the ASCII check reads 8 bytes at a time with an
 * overlapping last load, so each place is a different case. */
START_TEST(utf8_checked_at_every_length_and_place) {
  for (size_t len = 1; len <= 40; len++) {
    for (size_t at = 0; at < len; at++) {
      for (int good = 0; good < 2; good++) {
        if (good && at + 1 >= len) continue; /* the character needs two bytes */
        /* dictionary { string_table: s } */
        uint8_t msg[64] = {0x12, (uint8_t)(len + 2), 0x2a, (uint8_t)len};
        memset(msg + 4, 'a', len);
        if (good) msg[4 + at] = 0xc3, msg[5 + at] = 0xa9; /* U+00E9 */
        else msg[4 + at] = 0xff;
        pc_request_t r;
        pc_err_t e;
        int rc = decode_bytes((const char *)msg, len + 4, &r, &e);
        ck_assert_msg(rc == (good ? 0 : PC_EDECODE), "len %zu, %s byte at %zu: rc %d (%s)",
                      len, good ? "good" : "bad", at, rc, e.msg);
      }
    }
  }
}
END_TEST

/* AnyValue arrays nested 40 deep: refused with a clear message. */
START_TEST(deep_nesting_is_rejected) {
  /* Build from the inside out: AnyValue{array_value{values: inner}}. */
  uint8_t inner[512];
  size_t in_n = 0;
  for (int i = 0; i < 40; i++) {
    /* array_value = field 5, len; values = field 1, len */
    uint8_t tmp[512];
    size_t t = 0;
    tmp[t++] = 0x2a;
    tmp[t++] = (uint8_t)(in_n + 2);
    tmp[t++] = 0x0a;
    tmp[t++] = (uint8_t)in_n;
    memcpy(tmp + t, inner, in_n);
    t += in_n;
    memcpy(inner, tmp, t);
    in_n = t;
    if (in_n > 100) break; /* keep single-byte lengths */
  }
  /* dictionary { attribute_table { value: inner } } */
  uint8_t msg[600];
  size_t m = 0;
  msg[m++] = 0x12;
  msg[m++] = (uint8_t)(in_n + 4);
  msg[m++] = 0x32;
  msg[m++] = (uint8_t)(in_n + 2);
  msg[m++] = 0x12;
  msg[m++] = (uint8_t)in_n;
  memcpy(msg + m, inner, in_n);
  m += in_n;
  pc_request_t req;
  pc_err_t err;
  /* About 25 levels: under the limit, accepted. */
  ck_assert_msg(decode_bytes(msg, m, &req, &err) == 0, "%s", err.msg);

  /* Now 200 levels with multi-byte lengths. */
  size_t cap = 1 << 16;
  uint8_t *a = malloc(cap), *b = malloc(cap);
  size_t an = 0;
  for (int i = 0; i < 200; i++) {
    size_t t = 0;
    b[t++] = 0x2a;
    size_t l1 = an + 1 + (an < 128 ? 1 : 2);
    b[t++] = (uint8_t)(l1 < 128 ? l1 : (l1 & 0x7f) | 0x80);
    if (l1 >= 128) b[t++] = (uint8_t)(l1 >> 7);
    b[t++] = 0x0a;
    b[t++] = (uint8_t)(an < 128 ? an : (an & 0x7f) | 0x80);
    if (an >= 128) b[t++] = (uint8_t)(an >> 7);
    memcpy(b + t, a, an);
    t += an;
    uint8_t *x = a;
    a = b;
    b = x;
    an = t;
  }
  /* A KeyValue{value: ...} inside resource attributes. */
  size_t t = 0;
  uint8_t *w = malloc(an + 64);
  uint8_t hdr[32];
  size_t h = 0;
  size_t kv = an + 3; /* 0x12 len(2 bytes) */
  size_t res = kv + 3;
  size_t rp = res + 3;
  hdr[h++] = 0x0a;
  hdr[h++] = (uint8_t)((rp & 0x7f) | 0x80);
  hdr[h++] = (uint8_t)(rp >> 7);
  hdr[h++] = 0x0a;
  hdr[h++] = (uint8_t)((res & 0x7f) | 0x80);
  hdr[h++] = (uint8_t)(res >> 7);
  hdr[h++] = 0x0a;
  hdr[h++] = (uint8_t)((kv & 0x7f) | 0x80);
  hdr[h++] = (uint8_t)(kv >> 7);
  hdr[h++] = 0x12;
  hdr[h++] = (uint8_t)((an & 0x7f) | 0x80);
  hdr[h++] = (uint8_t)(an >> 7);
  memcpy(w, hdr, h);
  t = h;
  memcpy(w + t, a, an);
  t += an;
  ck_assert_int_eq(decode_bytes(w, t, &req, &err), PC_EDECODE);
  ck_assert_msg(strstr(err.msg, "nested deeper than 32 levels") != NULL, "%s", err.msg);
  free(a);
  free(b);
  free(w);
}
END_TEST

/* Unknown fields of every wire type, at several levels, are skipped. */
START_TEST(unknown_fields_are_skipped) {
  static const uint8_t unknown[] = {
      0xf8, 0x01, 0x05,                               /* field 31 varint */
      0xf9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,             /* field 31 fixed64 */
      0xfd, 0x01, 1, 2, 3, 4,                         /* field 31 fixed32 */
      0xfa, 0x01, 0x02, 0xaa, 0xbb,                   /* field 31 bytes */
      0xfb, 0x01, 0x08, 0x01, 0xfc, 0x01,             /* field 31 group */
  };
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_buf_t plain = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &plain), 0);
  /* Top level: unknown fields before and after. */
  pc_buf_t noisy = {0};
  pc_buf_append(&noisy, unknown, sizeof unknown);
  pc_buf_append(&noisy, plain.p, plain.n);
  pc_buf_append(&noisy, unknown, sizeof unknown);
  pc_request_t back;
  pc_err_t err;
  ck_assert_msg(decode_bytes(noisy.p, noisy.n, &back, &err) == 0, "%s", err.msg);
  pc_test_assert_request_eq(&req, &back);
  /* Inside a sample: samples { unknown..., stack_index: 1 }. */
  uint8_t sample[64];
  size_t n = 0;
  memcpy(sample, unknown, sizeof unknown);
  n = sizeof unknown;
  sample[n++] = 0x08;
  sample[n++] = 0x01;
  uint8_t msg[128];
  size_t m = 0;
  /* resource_profiles { scope_profiles { profiles { samples { ... } } } } */
  size_t prof = n + 2, scope = prof + 2, rp = scope + 2;
  msg[m++] = 0x0a; msg[m++] = (uint8_t)rp;
  msg[m++] = 0x12; msg[m++] = (uint8_t)scope;
  msg[m++] = 0x12; msg[m++] = (uint8_t)prof;
  msg[m++] = 0x12; msg[m++] = (uint8_t)n;
  memcpy(msg + m, sample, n);
  m += n;
  /* ... and a stack table so index 1 is valid: dictionary { stack_table {} x2 } */
  static const uint8_t dict[] = {0x12, 0x04, 0x3a, 0x00, 0x3a, 0x00};
  memcpy(msg + m, dict, sizeof dict);
  m += sizeof dict;
  ck_assert_msg(decode_bytes(msg, m, &back, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(back.resources[0].scopes[0].profiles[0].samples[0].stack_index, 1);
  pc_buf_free(&plain);
  pc_buf_free(&noisy);
}
END_TEST

/* Locations take a one-pass path when they hold few lines and attribute
 * indices, and the two-pass one otherwise: both give the same data, for
 * every count on either side of the limits, packed or unpacked, with or
 * without an unknown field at the end. */
START_TEST(locations_of_every_shape_decode) {
  enum { MAX_LINES = 11, MAX_ATTRS = 7 };
  pc_request_t req = {.arena = arena, .has_dictionary = true};
  pc_dictionary_t *d = &req.dict;
  d->n_functions = 2;
  d->functions = pc_arena_calloc(arena, 2, sizeof *d->functions);
  d->n_attrs = 2;
  d->attrs = pc_arena_calloc(arena, 2, sizeof *d->attrs);
  d->n_locations = MAX_LINES * MAX_ATTRS;
  d->locations = pc_arena_calloc(arena, d->n_locations, sizeof *d->locations);
  for (uint32_t i = 0; i < d->n_locations; i++) {
    pc_location_t *l = &d->locations[i];
    l->address = (uint64_t)i << 40 | 0x1234;
    l->mapping_index = 0;
    l->n_lines = i / MAX_ATTRS;
    l->lines = pc_arena_calloc(arena, MAX_LINES, sizeof *l->lines);
    for (uint32_t k = 0; k < l->n_lines; k++)
      l->lines[k] = (pc_line_t){.function_index = (int32_t)(k % 2), .line = k + 1000,
                                .column = k};
    l->attribute_indices.n = i % MAX_ATTRS;
    l->attribute_indices.v = pc_arena_calloc(arena, MAX_ATTRS, sizeof(int32_t));
    for (uint32_t k = 0; k < l->attribute_indices.n; k++)
      l->attribute_indices.v[k] = (int32_t)((k + i) % 2);
  }
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_request_t back;
  pc_err_t err;
  ck_assert_msg(decode_bytes(b.p, b.n, &back, &err) == 0, "%s", err.msg);
  pc_test_assert_request_eq(&req, &back);

  /* dictionary { location_table { address: 7, attribute_indices: 1 (unpacked) x2,
   * lines { function_index: 1 }, field 9 fixed64 } function_table {} x2
   * attribute_table {} x2 } */
  static const uint8_t loc[] = {0x10, 0x07, 0x20, 0x01, 0x20, 0x01, 0x1a, 0x02, 0x08, 0x01,
                                0x49, 1,    2,    3,    4,    5,    6,    7,    8};
  uint8_t msg[64];
  size_t m = 0;
  msg[m++] = 0x12;
  msg[m++] = (uint8_t)(2 + sizeof loc + 8);
  msg[m++] = 0x12;
  msg[m++] = (uint8_t)sizeof loc;
  memcpy(msg + m, loc, sizeof loc);
  m += sizeof loc;
  static const uint8_t tables[] = {0x1a, 0x00, 0x1a, 0x00, 0x32, 0x00, 0x32, 0x00};
  memcpy(msg + m, tables, sizeof tables);
  m += sizeof tables;
  ck_assert_msg(decode_bytes(msg, m, &back, &err) == 0, "%s", err.msg);
  const pc_location_t *l = &back.dict.locations[0];
  ck_assert_uint_eq(l->address, 7);
  ck_assert_uint_eq(l->n_lines, 1);
  ck_assert_int_eq(l->lines[0].function_index, 1);
  ck_assert_uint_eq(l->attribute_indices.n, 2);
  ck_assert_int_eq(l->attribute_indices.v[1], 1);
  pc_buf_free(&b);
}
END_TEST

/* Samples take a one-pass path when each repeated field comes once,
 * packed, with at most 16 elements, and no other field; the two-pass one
 * otherwise. Both give the same data: 16 and 17 packed values, values in
 * two packed runs, and an unknown field. */
START_TEST(samples_of_every_shape_decode) {
  uint8_t smp[4][24];
  size_t len[4];
  /* values 1..16, then 1..17 */
  for (int k = 0; k < 2; k++) {
    size_t n = 16 + (size_t)k;
    smp[k][0] = 0x22;
    smp[k][1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) smp[k][2 + i] = (uint8_t)(i + 1);
    len[k] = 2 + n;
  }
  static const uint8_t split[] = {0x22, 2, 1, 2, 0x10, 0x00, 0x22, 1, 3};
  static const uint8_t unknown[] = {0x08, 0x00, 0x22, 0x01, 0x07, 0x30, 0x01};
  memcpy(smp[2], split, sizeof split);
  len[2] = sizeof split;
  memcpy(smp[3], unknown, sizeof unknown);
  len[3] = sizeof unknown;
  size_t prof = 0;
  for (int k = 0; k < 4; k++) prof += 2 + len[k];
  uint8_t msg[128];
  size_t m = 0, scope = prof + 2, rp = scope + 2;
  msg[m++] = 0x0a; msg[m++] = (uint8_t)rp;
  msg[m++] = 0x12; msg[m++] = (uint8_t)scope;
  msg[m++] = 0x12; msg[m++] = (uint8_t)prof;
  for (int k = 0; k < 4; k++) {
    msg[m++] = 0x12;
    msg[m++] = (uint8_t)len[k];
    memcpy(msg + m, smp[k], len[k]);
    m += len[k];
  }
  pc_request_t req;
  pc_err_t err;
  ck_assert_msg(decode_bytes(msg, m, &req, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(req.resources[0].scopes[0].n_profiles, 1);
  const pc_profile_t *pr = &req.resources[0].scopes[0].profiles[0];
  ck_assert_uint_eq(pr->n_samples, 4);
  for (int k = 0; k < 2; k++) {
    const pc_sample_t *s = &pr->samples[k];
    ck_assert_uint_eq(s->n_values, 16 + (uint32_t)k);
    for (uint32_t i = 0; i < s->n_values; i++) ck_assert_int_eq(s->values[i], i + 1);
    ck_assert_uint_eq(s->attribute_indices.n, 0);
    ck_assert_uint_eq(s->n_timestamps, 0);
  }
  ck_assert_uint_eq(pr->samples[2].n_values, 3);
  ck_assert_int_eq(pr->samples[2].values[2], 3);
  ck_assert_uint_eq(pr->samples[2].attribute_indices.n, 1);
  ck_assert_uint_eq(pr->samples[3].n_values, 1);
  ck_assert_int_eq(pr->samples[3].values[0], 7);
  /* A truncated packed run is refused as before, by the two-pass reader. */
  msg[m - len[3] + 3] = 0x05; /* values: 5 bytes, 3 left */
  ck_assert_int_ne(decode_bytes(msg, m, &req, &err), 0);
  ck_assert_msg(strstr(err.msg, "samples[3]") && strstr(err.msg, "runs past the end"), "%s",
                err.msg);
}
END_TEST

/* Repeated scalars may arrive unpacked; the encoder writes them packed. */
START_TEST(unpacked_repeated_scalars_are_accepted) {
  /* samples { values: 3 values: 4 timestamps(fixed64): 9 attribute_indices: 0 } */
  static const uint8_t sample[] = {0x20, 0x03, 0x20, 0x04, 0x29, 9, 0, 0, 0, 0, 0, 0, 0,
                                   0x10, 0x00};
  uint8_t msg[64];
  size_t m = 0, n = sizeof sample;
  size_t prof = n + 2, scope = prof + 2, rp = scope + 2;
  msg[m++] = 0x0a; msg[m++] = (uint8_t)rp;
  msg[m++] = 0x12; msg[m++] = (uint8_t)scope;
  msg[m++] = 0x12; msg[m++] = (uint8_t)prof;
  msg[m++] = 0x12; msg[m++] = (uint8_t)n;
  memcpy(msg + m, sample, n);
  m += n;
  pc_request_t req;
  pc_err_t err;
  ck_assert_int_eq(decode_bytes(msg, m, &req, &err), 0);
  /* 2 values but 1 timestamp: the profile is rejected, not the request. */
  ck_assert_int_eq(req.rejected_profiles, 1);
  ck_assert_msg(strstr(req.reject_msg, "samples[0]: 2 values but 1 timestamps") != NULL, "%s",
                req.reject_msg);
  ck_assert_int_eq(req.resources[0].scopes[0].n_profiles, 0);
  /* With the timestamp removed the values come through. */
  static const uint8_t sample2[] = {0x20, 0x03, 0x20, 0x04, 0x10, 0x00};
  m = 0;
  n = sizeof sample2;
  prof = n + 2, scope = prof + 2, rp = scope + 2;
  msg[m++] = 0x0a; msg[m++] = (uint8_t)rp;
  msg[m++] = 0x12; msg[m++] = (uint8_t)scope;
  msg[m++] = 0x12; msg[m++] = (uint8_t)prof;
  msg[m++] = 0x12; msg[m++] = (uint8_t)n;
  memcpy(msg + m, sample2, n);
  m += n;
  ck_assert_int_eq(decode_bytes(msg, m, &req, &err), 0);
  const pc_sample_t *s = &req.resources[0].scopes[0].profiles[0].samples[0];
  ck_assert_int_eq(s->n_values, 2);
  ck_assert_int_eq(s->values[1], 4);
  ck_assert_int_eq(s->attribute_indices.n, 1);
}
END_TEST

/* An index into the shared dictionary that is out of range fails the
 * whole request, naming the field and the index. */
START_TEST(bad_dictionary_index_fails_request) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  req.dict.locations[1].mapping_index = 17;
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_request_t back;
  pc_err_t err;
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), PC_EDECODE);
  ck_assert_str_eq(err.msg, "dictionary.location_table[1].mapping_index: index 17 out of "
                            "range (mapping_table has 2 entries)");

  pc_test_rich_request(arena, &req);
  req.dict.links[1].span_id.n = 7;
  b.n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), PC_EDECODE);
  ck_assert_str_eq(err.msg, "dictionary.link_table[1]: trace_id must be 16 bytes and span_id 8 "
                            "bytes (or empty), got 16 and 7");

  pc_test_rich_request(arena, &req);
  req.dict.stacks[2].location_indices.v[0] = -1;
  b.n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), PC_EDECODE);
  ck_assert_str_eq(err.msg, "dictionary.stack_table[2].location_indices[0]: index -1 out of "
                            "range (location_table has 3 entries)");
  pc_buf_free(&b);
}
END_TEST

/* An out-of-range index inside a profile rejects that profile only. */
START_TEST(bad_profile_index_rejects_profile) {
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  req.resources[0].scopes[0].profiles[0].samples[1].stack_index = 99;
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  pc_request_t back;
  pc_err_t err;
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), 0);
  ck_assert_int_eq(back.rejected_profiles, 1);
  ck_assert_str_eq(back.reject_msg,
                   "resource_profiles[0].scope_profiles[0].profiles[0].samples[1].stack_index: "
                   "index 99 out of range (stack_table has 3 entries)");
  ck_assert_int_eq(back.resources[0].scopes[0].n_profiles, 1); /* the empty one is kept */
  ck_assert_int_eq(pc_request_profile_count(&back), 2);

  /* A profile id that is not 16 bytes. */
  pc_test_rich_request(arena, &req);
  req.resources[0].scopes[0].profiles[0].profile_id.n = 3;
  b.n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), 0);
  ck_assert_int_eq(back.rejected_profiles, 1);
  ck_assert_str_eq(back.reject_msg, "resource_profiles[0].scope_profiles[0].profiles[0].profile_id: "
                                    "must be 16 bytes (or empty), got 3");

  /* A bad key_strindex in a resource attribute rejects the resource's profiles. */
  pc_test_rich_request(arena, &req);
  req.resources[0].resource.attributes.v[7].key_strindex = 1000;
  b.n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  ck_assert_int_eq(decode_bytes(b.p, b.n, &back, &err), 0);
  ck_assert_int_eq(back.rejected_profiles, 2);
  ck_assert(strstr(back.reject_msg, "resource_profiles[0].resource.attributes[7].key_strindex: "
                                    "index 1000 out of range") != NULL);
  pc_buf_free(&b);
}
END_TEST

/* Index 0 is "not set": valid even when the table is empty or absent. */
START_TEST(index_zero_is_valid_without_tables) {
  /* resource_profiles { scope_profiles { profiles { samples { values: 1 } } } } */
  static const uint8_t msg[] = {0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x12, 0x02, 0x20, 0x01};
  pc_request_t req;
  pc_err_t err;
  ck_assert_int_eq(decode_bytes(msg, sizeof msg, &req, &err), 0);
  ck_assert_int_eq(req.rejected_profiles, 0);
  ck_assert(!req.has_dictionary);
  const pc_sample_t *s = &req.resources[0].scopes[0].profiles[0].samples[0];
  ck_assert_ptr_eq(pc_dict_stack(&req.dict, s->stack_index), &pc_zero_stack);
  ck_assert_int_eq(pc_dict_string(&req.dict, 0).n, 0);
}
END_TEST

START_TEST(empty_request_is_valid) {
  pc_request_t req;
  pc_err_t err;
  ck_assert_int_eq(decode_bytes("", 0, &req, &err), 0);
  ck_assert_int_eq(req.n_resources, 0);
  ck_assert_int_eq(decode_bytes(NULL, 0, &req, &err), 0); /* found by fuzzing */
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &b), 0);
  ck_assert_int_eq(b.n, 0);
  pc_buf_free(&b);
}
END_TEST

START_TEST(responses_encode) {
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_encode_export_response(false, 0, NULL, &b), 0);
  ck_assert_int_eq(b.n, 0); /* full success: partial_success unset */
  ck_assert_int_eq(pc_encode_export_response(true, 0, NULL, &b), 0);
  ck_assert_int_eq(b.n, 2);
  b.n = 0;
  ck_assert_int_eq(pc_encode_export_response(false, 2, "bad", &b), 0);
  static const uint8_t want[] = {0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, 'b', 'a', 'd'};
  ck_assert_int_eq(b.n, sizeof want);
  ck_assert(memcmp(b.p, want, sizeof want) == 0);
  b.n = 0;
  ck_assert_int_eq(pc_encode_status(true, 3, "bad \"x\"", &b), 0);
  ck_assert_int_eq(b.n, strlen("{\"code\":3,\"message\":\"bad \\\"x\\\"\"}"));
  ck_assert(memcmp(b.p, "{\"code\":3,\"message\":\"bad \\\"x\\\"\"}", b.n) == 0);
  b.n = 0;
  ck_assert_int_eq(pc_encode_status(false, 0, "no", &b), 0);
  static const uint8_t want2[] = {0x12, 0x02, 'n', 'o'};
  ck_assert_int_eq(b.n, sizeof want2);
  ck_assert(memcmp(b.p, want2, sizeof want2) == 0);
  pc_buf_free(&b);
}
END_TEST

TCase *pc_test_proto_tcase(void) {
  TCase *tc = tcase_create("proto");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, rich_request_reencodes_identically);
  tcase_add_test(tc, protoc_bytes_roundtrip_identically);
  tcase_add_test(tc, protoc_bytes_decode_to_expected_values);
  tcase_add_test(tc, every_truncation_fails_cleanly);
  tcase_add_test(tc, every_byte_flip_is_survived);
  tcase_add_test(tc, hostile_lengths_and_tags);
  tcase_add_test(tc, invalid_utf8_is_rejected_with_its_place);
  tcase_add_test(tc, utf8_checked_at_every_length_and_place);
  tcase_add_test(tc, deep_nesting_is_rejected);
  tcase_add_test(tc, unknown_fields_are_skipped);
  tcase_add_test(tc, unpacked_repeated_scalars_are_accepted);
  tcase_add_test(tc, samples_of_every_shape_decode);
  tcase_add_test(tc, locations_of_every_shape_decode);
  tcase_add_test(tc, bad_dictionary_index_fails_request);
  tcase_add_test(tc, bad_profile_index_rejects_profile);
  tcase_add_test(tc, index_zero_is_valid_without_tables);
  tcase_add_test(tc, empty_request_is_valid);
  tcase_add_test(tc, responses_encode);
  return tc;
}
