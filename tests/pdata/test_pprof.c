/* test_pprof.c - pprof in and out (pdata/pprof_*.c): real Go profiles and a
 * hand-written one checked sample by sample against protoc's decoding,
 * what the conversion adds (attributes, combined samples, repairs), the
 * Profiles SIG's conformance rules, decoding errors, and the export read
 * back by protoc. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdata/intern.h"
#include "../../pdata/pprof.h"
#include "../../pdata/stacks.h"
#include "pprofcheck.h"
#include "testdata.h"

#define PROFILE_PROTO "perftools/profiles/profile.proto"
#define PROFILE_TYPE "perftools.profiles.Profile"

/* The hand-written Profile, encoded by protoc at build time. */
static void read_features(pc_buf_t *out) {
  const char *p = getenv("PC_PPROF_FEATURES");
  ck_assert_msg(p != NULL, "PC_PPROF_FEATURES is not set");
  pc_test_read_file(p, out);
}

static pc_tpb_t *features_text(void) {
  pc_buf_t t = {0};
  pc_test_read_file("tests/data/pprof/features.txtpb", &t);
  pc_tpb_t *m = pc_tpb_parse((const char *)t.p, t.n);
  pc_buf_free(&t);
  return m;
}

/* protoc's decoding of a (possibly gzip'd) pprof file. */
static pc_tpb_t *protoc_text(const pc_buf_t *bytes) {
  return pc_tpb_protoc_decode(PROFILE_TYPE, PROFILE_PROTO, bytes->p, bytes->n);
}

/* Convert bytes into a new builder; fails the test on error. */
static pc_builder_t *convert(const pc_buf_t *bytes) {
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  int rc = pc_pprof_convert(bytes->p, bytes->n, 64 << 20, b, &err);
  ck_assert_msg(rc == 0, "convert: %s (%s)", err.msg, pc_strerror(rc));
  return b;
}

/* Every sample of the converted request equals protoc's, and the request
 * is well-formed by pdata's validator and the SIG's profcheck rules. */
static void check_against_protoc(const pc_tpb_t *oracle, pc_builder_t *b) {
  pc_request_t *req = pc_builder_request(b);
  pc_mat_t want = {0}, got = {0};
  pc_pprof_oracle_lines(oracle, &want);
  pc_pprof_otlp_lines(req, &got);
  ck_assert_uint_gt(want.n, 0);
  char why[512];
  ck_assert_msg(pc_mat_eq(&want, &got, why, sizeof why), "conversion differs: %s", why);
  ck_assert_msg(pc_profcheck(req, why, sizeof why) == 0, "profcheck: %s", why);
  ck_assert_msg(pc_mat_check_batch(req, why, sizeof why) == 0, "not interned: %s", why);
  /* The bytes it encodes to decode and validate as any received request. */
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(req, &pb), 0);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t back;
  pc_err_t err = {0};
  ck_assert_msg(pc_proto_decode(a, pb.p, pb.n, &back, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(back.rejected_profiles, 0);
  pc_mat_t again = {0};
  pc_pprof_otlp_lines(&back, &again);
  ck_assert_msg(pc_mat_eq(&got, &again, why, sizeof why), "after protobuf: %s", why);
  pc_mat_free(&again);
  pc_arena_free(a);
  pc_buf_free(&pb);
  pc_mat_free(&want);
  pc_mat_free(&got);
}

START_TEST(go_cpu_profile_sample_by_sample) {
  pc_buf_t raw = {0};
  pc_test_read_file("tests/data/pprof/cpu.pb.gz", &raw);
  pc_tpb_t *oracle = protoc_text(&raw);
  pc_builder_t *b = convert(&raw);
  check_against_protoc(oracle, b);
  /* Go's CPU profile: two sample types, labelled and inlined samples. */
  pc_request_t *req = pc_builder_request(b);
  ck_assert_uint_eq(req->resources[0].scopes[0].n_profiles, 2);
  bool labelled = false, inlined = false;
  for (uint32_t i = 0; i < req->dict.n_attrs; i++)
    labelled |= pc_str_eq(pc_dict_string(&req->dict, req->dict.attrs[i].key_strindex),
                          PC_STR_LIT("worker"));
  for (uint32_t i = 0; i < req->dict.n_locations; i++)
    inlined |= req->dict.locations[i].n_lines > 1;
  ck_assert(labelled && inlined);
  pc_builder_free(b);
  pc_tpb_free(oracle);
  pc_buf_free(&raw);
}
END_TEST

START_TEST(go_heap_profile_sample_by_sample) {
  pc_buf_t raw = {0};
  pc_test_read_file("tests/data/pprof/heap.pb.gz", &raw);
  pc_tpb_t *oracle = protoc_text(&raw);
  pc_builder_t *b = convert(&raw);
  check_against_protoc(oracle, b);
  ck_assert_uint_eq(pc_builder_request(b)->resources[0].scopes[0].n_profiles, 4);
  pc_builder_free(b);
  pc_tpb_free(oracle);
  pc_buf_free(&raw);
}
END_TEST

START_TEST(features_sample_by_sample) {
  pc_buf_t raw = {0};
  read_features(&raw);
  pc_tpb_t *oracle = features_text();
  pc_builder_t *b = convert(&raw);
  check_against_protoc(oracle, b);
  pc_builder_free(b);
  pc_tpb_free(oracle);
  pc_buf_free(&raw);
}
END_TEST

/* ---- what the conversion adds ------------------------------------------------- */

static const pc_attr_t *attr_by_key(const pc_dictionary_t *d, pc_i32s_t l, const char *key) {
  for (uint32_t i = 0; i < l.n; i++) {
    const pc_attr_t *a = pc_dict_attr(d, l.v[i]);
    pc_str_t k = pc_dict_string(d, a->key_strindex);
    if (k.n == strlen(key) && memcmp(k.p, key, k.n) == 0) return a;
  }
  return NULL;
}

static bool str_is(pc_str_t s, const char *want) {
  return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static const pc_keyvalue_t *kv_by_key(pc_kvs_t kvs, const char *key) {
  for (uint32_t i = 0; i < kvs.n; i++)
    if (str_is(kvs.v[i].key, key)) return &kvs.v[i];
  return NULL;
}

START_TEST(features_fields_and_attributes) {
  pc_buf_t raw = {0};
  read_features(&raw);
  pc_builder_t *b = convert(&raw);
  pc_request_t *req = pc_builder_request(b);
  const pc_dictionary_t *d = &req->dict;
  ck_assert_uint_eq(req->n_resources, 1);
  ck_assert_uint_eq(req->resources[0].n_scopes, 1);
  const pc_scope_profiles_t *sp = &req->resources[0].scopes[0];
  ck_assert_uint_eq(sp->n_profiles, 3);
  const char *types[3][2] = {{"samples", "count"}, {"cpu", "nanoseconds"},
                             {"alloc_space", "bytes"}};
  for (int k = 0; k < 3; k++) {
    const pc_profile_t *p = &sp->profiles[k];
    ck_assert(str_is(pc_dict_string(d, p->sample_type.type_strindex), types[k][0]));
    ck_assert(str_is(pc_dict_string(d, p->sample_type.unit_strindex), types[k][1]));
    ck_assert(p->has_period_type);
    ck_assert(str_is(pc_dict_string(d, p->period_type.type_strindex), "cpu"));
    ck_assert(str_is(pc_dict_string(d, p->period_type.unit_strindex), "nanoseconds"));
    ck_assert_int_eq(p->period, 10000000);
    ck_assert_uint_eq(p->time_unix_nano, 1700000000000000000ULL);
    ck_assert_uint_eq(p->duration_nano, 10000000000ULL);
    /* 8 samples, the first two combined */
    ck_assert_uint_eq(p->n_samples, 7);
    const pc_attr_t *a = attr_by_key(d, p->attribute_indices, "pprof.profile.comment");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->value.type, PC_AV_ARRAY);
    ck_assert_uint_eq(a->value.u.array.n, 2);
    ck_assert(str_is(a->value.u.array.v[1].u.s, "comment two"));
    a = attr_by_key(d, p->attribute_indices, "pprof.profile.drop_frames");
    ck_assert(a && str_is(a->value.u.s, "runtime\\..*"));
    a = attr_by_key(d, p->attribute_indices, "pprof.profile.keep_frames");
    ck_assert(a && str_is(a->value.u.s, "main\\..*"));
    a = attr_by_key(d, p->attribute_indices, "pprof.profile.doc_url");
    ck_assert(a && str_is(a->value.u.s, "https://example.com/doc"));
  }
  /* The combined sample: 1 + 2 in samples:count, 10 + 20, 100 + 200. */
  int64_t combined[3] = {0};
  for (int k = 0; k < 3; k++)
    for (uint32_t i = 0; i < sp->profiles[k].n_samples; i++) {
      const pc_sample_t *s = &sp->profiles[k].samples[i];
      if (s->attribute_indices.n == 2 && pc_dict_stack(d, s->stack_index)->location_indices.n == 2)
        combined[k] = s->values[0];
    }
  ck_assert_int_eq(combined[0], 3);
  ck_assert_int_eq(combined[1], 30);
  ck_assert_int_eq(combined[2], 300);
  /* Scope: pprof's default sample type and the order of the sample types. */
  const pc_keyvalue_t *kv = kv_by_key(sp->scope.attributes, "pprof.scope.default_sample_type");
  ck_assert(kv && kv->value.type == PC_AV_STRING && str_is(kv->value.u.s, "cpu"));
  kv = kv_by_key(sp->scope.attributes, "pprof.scope.sample_type_order");
  ck_assert(kv && kv->value.type == PC_AV_ARRAY && kv->value.u.array.n == 3);
  ck_assert_int_eq(kv->value.u.array.v[2].u.i, 2);
  /* Mappings: build id and flags as attributes; the inverted range dropped. */
  bool main_seen = false, lib_seen = false;
  for (uint32_t m = 1; m < d->n_mappings; m++) {
    const pc_mapping_t *mp = &d->mappings[m];
    pc_str_t file = pc_dict_string(d, mp->filename_strindex);
    if (str_is(file, "/bin/main")) {
      main_seen = true;
      ck_assert_uint_eq(mp->memory_start, 0x400000);
      ck_assert_uint_eq(mp->memory_limit, 0x500000);
      const pc_attr_t *a = attr_by_key(d, mp->attribute_indices,
                                       "process.executable.build_id.gnu");
      ck_assert(a && str_is(a->value.u.s, "0123456789abcdef"));
      const char *flags[] = {"pprof.mapping.has_functions", "pprof.mapping.has_filenames",
                             "pprof.mapping.has_line_numbers",
                             "pprof.mapping.has_inline_frames"};
      for (int f = 0; f < 4; f++) {
        a = attr_by_key(d, mp->attribute_indices, flags[f]);
        ck_assert(a && a->value.type == PC_AV_BOOL && a->value.u.b);
      }
    } else if (str_is(file, "/usr/lib/libfoo.so")) {
      lib_seen = true;
      ck_assert_uint_eq(mp->memory_start, 0);
      ck_assert_uint_eq(mp->memory_limit, 0);
      ck_assert_uint_eq(mp->file_offset, 4096);
      ck_assert_uint_eq(mp->attribute_indices.n, 0);
    }
  }
  ck_assert(main_seen && lib_seen);
  /* The folded location, the clamped start line, the repaired name. */
  bool folded = false, repaired = false, inlined_start = false;
  for (uint32_t l = 1; l < d->n_locations; l++) {
    const pc_attr_t *a = attr_by_key(d, d->locations[l].attribute_indices,
                                     "pprof.location.is_folded");
    if (a) folded = d->locations[l].address == 0x7f0000005678 && a->value.u.b;
  }
  for (uint32_t f = 1; f < d->n_functions; f++) {
    pc_str_t name = pc_dict_string(d, d->functions[f].name_strindex);
    if (str_is(name, "bad\xef\xbf\xbdname")) repaired = true;
    if (str_is(name, "main.inlined")) inlined_start = d->functions[f].start_line == 0;
  }
  ck_assert(folded && repaired && inlined_start);
  pc_builder_free(b);
  pc_buf_free(&raw);
}
END_TEST

/* ---- decoding errors --------------------------------------------------------------- */

static int decode_bytes(const uint8_t *p, size_t n, pc_err_t *err) {
  pc_arena_t *a = pc_arena_new(0);
  pc_pprof_t prof;
  int rc = pc_pprof_decode(a, p, n, &prof, err);
  pc_arena_free(a);
  return rc;
}

#define EXPECT_ERROR(text, ...)                                                       \
  do {                                                                                \
    static const uint8_t in_[] = {__VA_ARGS__};                                       \
    pc_err_t err_ = {0};                                                              \
    ck_assert_int_eq(decode_bytes(in_, sizeof in_, &err_), PC_EDECODE);               \
    ck_assert_msg(strstr(err_.msg, text) != NULL, "\"%s\" does not say \"%s\"",       \
                  err_.msg, text);                                                    \
  } while (0)

START_TEST(decode_errors_say_what_and_where) {
  pc_err_t err = {0};
  ck_assert_int_eq(decode_bytes(NULL, 0, &err), PC_EDECODE);
  ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
  /* string_table: ["x"] */
  EXPECT_ERROR("string_table[0] is \"x\"", 0x32, 0x01, 'x');
  /* no string table at all */
  EXPECT_ERROR("string_table is empty", 0x38, 0x00);
  /* sample_type {type: 5}, string_table [""] */
  EXPECT_ERROR("at byte 2: sample_type[0]: type: string index 5 out of range", 0x0a, 0x02, 0x08,
               0x05, 0x32, 0x00);
  /* sample {location_id: 9}, string_table [""] */
  EXPECT_ERROR("sample[0].location_id[0]: no location has id 9", 0x12, 0x02, 0x08, 0x09, 0x32,
               0x00);
  /* two locations with id 4 */
  EXPECT_ERROR("location[1]: id 4 also used by location[0]", 0x22, 0x02, 0x08, 0x04, 0x22, 0x02,
               0x08, 0x04, 0x32, 0x00);
  /* location {id: 1, mapping_id: 2} without mappings */
  EXPECT_ERROR("location[0]: mapping_id: no mapping has id 2", 0x22, 0x04, 0x08, 0x01, 0x10, 0x02,
               0x32, 0x00);
  /* location {id: 1, line {function_id: 3}} */
  EXPECT_ERROR("location[0].line[0]: function_id: no function has id 3", 0x22, 0x06, 0x08, 0x01,
               0x22, 0x02, 0x08, 0x03, 0x32, 0x00);
  /* mapping {id: 0} */
  EXPECT_ERROR("mapping[0]: id 0", 0x1a, 0x02, 0x10, 0x01, 0x32, 0x00);
  /* one sample type, a sample with two values */
  EXPECT_ERROR("sample[0]: value: 2 values, but the profile has 1 sample types", 0x0a, 0x00, 0x12,
               0x04, 0x10, 0x01, 0x10, 0x02, 0x32, 0x00);
  /* a truncated length */
  EXPECT_ERROR("runs past the end", 0x12, 0x05, 0x08);
  /* comment: [3] with one string */
  EXPECT_ERROR("comment[0]: comment: string index 3", 0x68, 0x03, 0x32, 0x00);
}
END_TEST

/* Every prefix and a byte flipped anywhere: an error or a profile, never a
 * crash (ASan and UBSan watch). */
START_TEST(damaged_input_is_an_error_not_a_crash) {
  pc_buf_t raw = {0};
  read_features(&raw);
  pc_arena_t *a = pc_arena_new(0);
  size_t ok = 0;
  for (size_t n = 0; n < raw.n; n++) {
    pc_pprof_t p;
    pc_err_t err = {0};
    ok += pc_pprof_decode(a, raw.p, n, &p, &err) == 0;
    pc_arena_reset(a);
  }
  ck_assert_uint_lt(ok, raw.n);
  pc_buf_t copy = {0};
  pc_buf_append(&copy, raw.p, raw.n);
  for (size_t i = 0; i < raw.n; i++) {
    copy.p[i] ^= 0x5a;
    pc_pprof_t p;
    pc_err_t err = {0};
    if (pc_pprof_decode(a, copy.p, copy.n, &p, &err) == 0) {
      pc_builder_t *b = pc_builder_new();
      pc_arena_t *s = pc_arena_new(0);
      pc_pprof_to_otlp(&p, s, b, &err);
      pc_arena_free(s);
      pc_builder_free(b);
    }
    pc_arena_reset(a);
    copy.p[i] ^= 0x5a;
  }
  pc_buf_free(&copy);
  pc_arena_free(a);
  pc_buf_free(&raw);
}
END_TEST

START_TEST(gzip_bomb_stops_at_the_limit) {
  /* 8 MiB of zeros gzip to a few KB; the limit is 1 MiB. */
  size_t n = 8 << 20;
  uint8_t *zeros = calloc(1, n);
  pc_buf_t gz = {0};
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 9, zeros, n, &gz), 0);
  free(zeros);
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pprof_convert(gz.p, gz.n, 1 << 20, b, &err), PC_ELIMIT);
  ck_assert_ptr_nonnull(strstr(err.msg, "more than 1048576 bytes"));
  ck_assert(pc_builder_empty(b));
  /* Garbage after the gzip magic is corrupt, not a profile. */
  static const uint8_t bad[] = {0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad};
  ck_assert_int_eq(pc_pprof_convert(bad, sizeof bad, 1 << 20, b, &err), PC_ECORRUPT);
  pc_builder_free(b);
  pc_buf_free(&gz);
}
END_TEST

/* Found by pprof_decode_fuzz: two samples without locations compared
 * their (empty, NULL) location arrays with memcmp. They combine. */
START_TEST(samples_without_locations_combine) {
  /* sample_type {}, sample {value: 1}, sample {value: 2}, string_table [""] */
  static const uint8_t in[] = {0x0a, 0x00, 0x12, 0x02, 0x10, 0x01, 0x12, 0x02, 0x10, 0x02,
                               0x32, 0x00};
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pprof_convert(in, sizeof in, 1 << 20, b, &err), 0);
  const pc_request_t *req = pc_builder_request(b);
  const pc_profile_t *p = &req->resources[0].scopes[0].profiles[0];
  ck_assert_uint_eq(p->n_samples, 1);
  ck_assert_int_eq(p->samples[0].stack_index, 0);
  ck_assert_int_eq(p->samples[0].values[0], 3);
  pc_builder_free(b);
}
END_TEST

/* ---- export ------------------------------------------------------------------------ */

/* Convert a fixture, select one sample type, export it as pprof; protoc
 * reads it back and its folded stacks equal pc_stacks_folded's. */
static void export_round_trip(const pc_buf_t *raw, const char *type, const char *unit,
                              size_t oracle_k, const pc_tpb_t *source) {
  pc_builder_t *b = convert(raw);
  const pc_request_t *req = pc_builder_request(b);
  pc_stacks_filter_t f = {.sample_type = {(const uint8_t *)type, strlen(type)}};
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_stacks_select(&req, 1, &f, &s, &err), 0);
  pc_buf_t folded = {0}, pprof = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &folded), 0);
  ck_assert_int_eq(pc_pprof_encode(s, true, &pprof), 0);
  ck_assert_int_eq(pc_encoding_sniff(pprof.p, pprof.n), PC_ENC_GZIP);
  pc_tpb_t *back = protoc_text(&pprof);
  /* one sample type, the one selected, and it is the default */
  ck_assert_uint_eq(pc_tpb_count(back, "sample_type"), 1);
  const pc_tpb_t *st = pc_tpb_msg(back, "sample_type");
  const pc_tpb_field_t *ts = pc_tpb_get(back, "string_table", (size_t)pc_tpb_int(st, "type", 0));
  const pc_tpb_field_t *us = pc_tpb_get(back, "string_table", (size_t)pc_tpb_int(st, "unit", 0));
  ck_assert_str_eq(ts->text, type);
  ck_assert_str_eq(us->text, unit);
  ck_assert_int_eq(pc_tpb_int(back, "default_sample_type", 0), pc_tpb_int(st, "type", 0));
  /* Mappings that came from pprof keep pprof's symbolization flags. */
  const char *flags[] = {"has_functions", "has_filenames", "has_line_numbers",
                         "has_inline_frames"};
  for (size_t i = 0; i < pc_tpb_count(source, "mapping"); i++) {
    const pc_tpb_t *m = pc_tpb_get(source, "mapping", i)->msg;
    const pc_tpb_t *e = NULL;
    for (size_t j = 0; j < pc_tpb_count(back, "mapping") && !e; j++)
      if (pc_tpb_int(pc_tpb_get(back, "mapping", j)->msg, "memory_start", 0) ==
          pc_tpb_int(m, "memory_start", 0))
        e = pc_tpb_get(back, "mapping", j)->msg;
    if (!e) continue; /* no sample of this type reached it */
    for (int k = 0; k < 4; k++)
      ck_assert_msg(pc_tpb_int(m, flags[k], 0) == pc_tpb_int(e, flags[k], 0), "mapping %zu: %s",
                    i, flags[k]);
  }
  pc_mat_t a = {0}, c = {0}, src = {0};
  pc_folded_lines((const char *)folded.p, folded.n, &a);
  pc_pprof_oracle_folded(back, 0, &c);
  char why[512];
  ck_assert_uint_gt(a.n, 0);
  ck_assert_msg(pc_mat_eq(&a, &c, why, sizeof why), "pprof export vs folded: %s", why);
  /* and both equal the folded stacks of the original pprof */
  pc_pprof_oracle_folded(source, oracle_k, &src);
  ck_assert_msg(pc_mat_eq(&a, &src, why, sizeof why), "folded vs source pprof: %s", why);
  pc_mat_free(&a);
  pc_mat_free(&c);
  pc_mat_free(&src);
  pc_tpb_free(back);
  pc_buf_free(&folded);
  pc_buf_free(&pprof);
  pc_stacks_free(s);
  pc_builder_free(b);
}

START_TEST(export_go_profiles_read_back_by_protoc) {
  pc_buf_t raw = {0};
  pc_test_read_file("tests/data/pprof/cpu.pb.gz", &raw);
  pc_tpb_t *src = protoc_text(&raw);
  export_round_trip(&raw, "cpu", "nanoseconds", 1, src);
  export_round_trip(&raw, "samples", "count", 0, src);
  pc_tpb_free(src);
  pc_buf_free(&raw);
  pc_test_read_file("tests/data/pprof/heap.pb.gz", &raw);
  src = protoc_text(&raw);
  export_round_trip(&raw, "inuse_space", "bytes", 3, src);
  export_round_trip(&raw, "alloc_objects", "count", 0, src);
  pc_tpb_free(src);
  pc_buf_free(&raw);
}
END_TEST

START_TEST(export_features_keeps_mappings_and_attributes) {
  pc_buf_t raw = {0};
  read_features(&raw);
  pc_tpb_t *src = features_text();
  export_round_trip(&raw, "cpu", "nanoseconds", 1, src);
  /* What pprof gets back of the mapping, the folded location and times. */
  pc_builder_t *b = convert(&raw);
  const pc_request_t *req = pc_builder_request(b);
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_stacks_select(&req, 1, NULL, &s, &err), 0);
  pc_buf_t pprof = {0};
  ck_assert_int_eq(pc_pprof_encode(s, false, &pprof), 0);
  pc_tpb_t *back = protoc_text(&pprof);
  bool main_seen = false;
  for (size_t i = 0; i < pc_tpb_count(back, "mapping"); i++) {
    const pc_tpb_t *m = pc_tpb_get(back, "mapping", i)->msg;
    const pc_tpb_field_t *file =
        pc_tpb_get(back, "string_table", (size_t)pc_tpb_int(m, "filename", 0));
    if (strcmp(file->text, "/bin/main")) continue;
    main_seen = true;
    const pc_tpb_field_t *id =
        pc_tpb_get(back, "string_table", (size_t)pc_tpb_int(m, "build_id", 0));
    ck_assert_str_eq(id->text, "0123456789abcdef");
    ck_assert_int_eq(pc_tpb_int(m, "memory_start", 0), 0x400000);
    ck_assert_int_eq(pc_tpb_int(m, "has_functions", 0), 1);
    ck_assert_int_eq(pc_tpb_int(m, "has_inline_frames", 0), 1);
  }
  ck_assert(main_seen);
  size_t folded = 0;
  for (size_t i = 0; i < pc_tpb_count(back, "location"); i++)
    folded += pc_tpb_int(pc_tpb_get(back, "location", i)->msg, "is_folded", 0);
  ck_assert_uint_eq(folded, 1);
  ck_assert_int_eq(pc_tpb_int(back, "time_nanos", 0), 1700000000000000000LL);
  ck_assert_int_eq(pc_tpb_int(back, "duration_nanos", 0), 10000000000LL);
  ck_assert_int_eq(pc_tpb_int(back, "period", 0), 10000000);
  const pc_tpb_field_t *drop = pc_tpb_get(back, "string_table",
                                          (size_t)pc_tpb_int(back, "drop_frames", 0));
  ck_assert_str_eq(drop->text, "runtime\\..*");
  /* The export converts back to the same selection. */
  pc_builder_t *b2 = pc_builder_new();
  ck_assert_int_eq(pc_pprof_convert(pprof.p, pprof.n, 1 << 20, b2, &err), 0);
  const pc_request_t *req2 = pc_builder_request(b2);
  pc_stacks_t *s2;
  ck_assert_int_eq(pc_stacks_select(&req2, 1, NULL, &s2, &err), 0);
  pc_buf_t f1 = {0}, f2 = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &f1), 0);
  ck_assert_int_eq(pc_stacks_folded(s2, &f2), 0);
  ck_assert_uint_eq(f1.n, f2.n);
  ck_assert(memcmp(f1.p, f2.p, f1.n) == 0);
  pc_buf_free(&f1);
  pc_buf_free(&f2);
  pc_stacks_free(s2);
  pc_builder_free(b2);
  pc_tpb_free(back);
  pc_buf_free(&pprof);
  pc_stacks_free(s);
  pc_builder_free(b);
  pc_tpb_free(src);
  pc_buf_free(&raw);
}
END_TEST

TCase *pc_test_pprof_tcase(void) {
  TCase *tc = tcase_create("pprof");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, go_cpu_profile_sample_by_sample);
  tcase_add_test(tc, go_heap_profile_sample_by_sample);
  tcase_add_test(tc, features_sample_by_sample);
  tcase_add_test(tc, features_fields_and_attributes);
  tcase_add_test(tc, decode_errors_say_what_and_where);
  tcase_add_test(tc, damaged_input_is_an_error_not_a_crash);
  tcase_add_test(tc, gzip_bomb_stops_at_the_limit);
  tcase_add_test(tc, samples_without_locations_combine);
  tcase_add_test(tc, export_go_profiles_read_back_by_protoc);
  tcase_add_test(tc, export_features_keeps_mappings_and_attributes);
  return tc;
}
