/* test_stacks.c - selection by trace and span, the default sample type,
 * folded stacks and the flame graph tree (pdata/stacks.c), by the rules of
 * shared/spec/OTLP-PROFILES.md section 6. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdata/intern.h"
#include "../../pdata/pprof.h"
#include "../../pdata/stacks.h"
#include "testdata.h"

/* A string view usable in static initializers. */
#define S(x) {(const uint8_t *)(x), sizeof(x) - 1}

static const uint8_t trace_a[16] = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t trace_b[16] = {0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t span_1[8] = {0x51, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t span_2[8] = {0x52, 2, 2, 2, 2, 2, 2, 2};
static const uint8_t span_3[8] = {0x53, 3, 3, 3, 3, 3, 3, 3};
static const uint8_t zeros[16];

/* One request: main -> work -> leaf (stack 1), main -> work -> an unnamed
 * libc frame (stack 2), main -> [leaf inlined into work] (stack 3, the same
 * names as stack 1); samples linked to trace A (spans 1, 2) and B (span 3)
 * in two profiles, samples:count (4 samples, one with timestamps only) and
 * cpu:nanoseconds (2 samples, one with values and timestamps). */
static void build_request(pc_arena_t *a, pc_request_t *req) {
  static pc_str_t strings[] = {S(""),     S("samples"), S("count"),     S("cpu"),
                               S("nanoseconds"), S("main"), S("work"), S("leaf"),
                               S("/src/a.go"),   S("/lib/x86_64-linux-gnu/libc.so.6")};
  static pc_function_t functions[] = {{0}, {5, 0, 8, 1}, {6, 0, 8, 15}, {7, 0, 8, 28}};
  static pc_mapping_t mappings[] = {{0}, {.memory_start = 0x7f00, .memory_limit = 0x9f00,
                                          .filename_strindex = 9}};
  static pc_line_t l_main[] = {{1, 10, 0}}, l_work[] = {{2, 20, 0}}, l_leaf[] = {{3, 30, 0}},
                   l_inl[] = {{3, 31, 0}, {2, 21, 0}};
  static pc_location_t locations[] = {
      {0},
      {.lines = l_main, .n_lines = 1},
      {.lines = l_work, .n_lines = 1},
      {.lines = l_leaf, .n_lines = 1},
      {.mapping_index = 1, .address = 0x1f2a3},
      {.lines = l_inl, .n_lines = 2},
  };
  static int32_t st1[] = {3, 2, 1}, st2[] = {4, 2, 1}, st3[] = {5, 1};
  static pc_stack_t stacks[] = {{{0}}, {{st1, 3}}, {{st2, 3}}, {{st3, 2}}};
  static pc_link_t links[] = {{{zeros, 16}, {zeros, 8}},
                              {{trace_a, 16}, {span_1, 8}},
                              {{trace_a, 16}, {span_2, 8}},
                              {{trace_b, 16}, {span_3, 8}}};
  static int64_t v3[] = {3}, v2[] = {2}, v5[] = {5}, v100[] = {100}, v50[] = {50, 50};
  static uint64_t ts[] = {1000, 2000};
  static pc_sample_t count_samples[] = {
      {.stack_index = 1, .link_index = 1, .values = v3, .n_values = 1},
      {.stack_index = 2, .link_index = 2, .values = v2, .n_values = 1},
      {.stack_index = 3, .link_index = 3, .values = v5, .n_values = 1},
      {.stack_index = 1, .timestamps_unix_nano = ts, .n_timestamps = 2},
  };
  static pc_sample_t cpu_samples[] = {
      {.stack_index = 1, .link_index = 1, .values = v100, .n_values = 1},
      {.stack_index = 3, .link_index = 2, .values = v50, .n_values = 2,
       .timestamps_unix_nano = ts, .n_timestamps = 2},
  };
  static pc_profile_t profiles[] = {
      {.has_sample_type = true, .sample_type = {1, 2}, .samples = count_samples,
       .n_samples = 4, .time_unix_nano = 500, .duration_nano = 5000},
      {.has_sample_type = true, .sample_type = {3, 4}, .samples = cpu_samples,
       .n_samples = 2, .time_unix_nano = 500, .duration_nano = 5000},
  };
  static pc_scope_profiles_t scopes[] = {{.profiles = profiles, .n_profiles = 2}};
  static pc_resource_profiles_t resources[] = {{.scopes = scopes, .n_scopes = 1}};
  *req = (pc_request_t){.arena = a, .has_dictionary = true, .resources = resources,
                        .n_resources = 1};
  req->dict = (pc_dictionary_t){.mappings = mappings, .n_mappings = 2,
                                .locations = locations, .n_locations = 6,
                                .functions = functions, .n_functions = 4,
                                .links = links, .n_links = 4,
                                .strings = strings, .n_strings = 10,
                                .stacks = stacks, .n_stacks = 4};
  pc_err_t err = {0};
  ck_assert_msg(pc_pdata_validate(req, &err) == 0, "%s", err.msg);
}

/* Another request, its own dictionary in another order: leaf <- work <-
 * main, 7 samples:count, unlinked. */
static void build_other(pc_arena_t *a, pc_request_t *req) {
  static pc_str_t strings[] = {S(""), S("leaf"), S("work"), S("main"), S("count"), S("samples")};
  static pc_function_t functions[] = {{0}, {1, 0, 0, 0}, {2, 0, 0, 0}, {3, 0, 0, 0}};
  static pc_line_t l1[] = {{1, 0, 0}}, l2[] = {{2, 0, 0}}, l3[] = {{3, 0, 0}};
  static pc_location_t locations[] = {{0}, {.lines = l1, .n_lines = 1},
                                      {.lines = l2, .n_lines = 1}, {.lines = l3, .n_lines = 1}};
  static int32_t st[] = {1, 2, 3};
  static pc_stack_t stacks[] = {{{0}}, {{st, 3}}};
  static int64_t v7[] = {7};
  static pc_sample_t samples[] = {{.stack_index = 1, .values = v7, .n_values = 1}};
  static pc_profile_t profiles[] = {{.has_sample_type = true, .sample_type = {5, 4},
                                     .samples = samples, .n_samples = 1}};
  static pc_scope_profiles_t scopes[] = {{.profiles = profiles, .n_profiles = 1}};
  static pc_resource_profiles_t resources[] = {{.scopes = scopes, .n_scopes = 1}};
  *req = (pc_request_t){.arena = a, .has_dictionary = true, .resources = resources,
                        .n_resources = 1};
  req->dict = (pc_dictionary_t){.locations = locations, .n_locations = 4,
                                .functions = functions, .n_functions = 4,
                                .strings = strings, .n_strings = 6,
                                .stacks = stacks, .n_stacks = 2};
  pc_err_t err = {0};
  ck_assert_msg(pc_pdata_validate(req, &err) == 0, "%s", err.msg);
}

static bool str_is(pc_str_t s, const char *want) {
  return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

/* Select with f and compare the folded text; returns the selection. */
static pc_stacks_t *expect_folded(const pc_request_t *const *reqs, size_t n,
                                  const pc_stacks_filter_t *f, const char *want) {
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_msg(pc_stacks_select(reqs, n, f, &s, &err) == 0, "%s", err.msg);
  pc_buf_t out = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &out), 0);
  ck_assert_msg(out.n == strlen(want) && (!out.n || memcmp(out.p, want, out.n) == 0),
                "folded:\n%.*s\nwanted:\n%s", (int)out.n, (const char *)out.p, want);
  pc_buf_free(&out);
  return s;
}

START_TEST(default_type_is_the_one_with_most_samples) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  build_request(a, &req);
  const pc_request_t *reqs[] = {&req};
  /* samples:count has 4 samples, cpu 2; stacks 1 and 3 fold the same; the
   * sample with only timestamps counts 2 */
  pc_stacks_t *s = expect_folded(reqs, 1, NULL,
                                 "main;work;leaf 10\nmain;work;libc.so.6+0x1f2a3 2\n");
  const pc_stacks_info_t *in = pc_stacks_info(s);
  ck_assert(str_is(in->type, "samples") && str_is(in->unit, "count"));
  ck_assert(in->by_default);
  ck_assert_uint_eq(in->samples, 4);
  ck_assert_int_eq(in->total, 12);
  ck_assert_uint_eq(in->stacks, 2);
  ck_assert_uint_eq(in->n_types, 2);
  ck_assert(str_is(in->types[0].type, "cpu") && in->types[0].samples == 2);
  ck_assert(str_is(in->types[1].type, "samples") && in->types[1].samples == 4);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

START_TEST(filter_by_trace_and_span) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  build_request(a, &req);
  const pc_request_t *reqs[] = {&req};
  pc_stacks_filter_t f = {.has_trace_id = true};
  memcpy(f.trace_id, trace_a, 16);
  /* trace A: 2 samples of each type: a tie, broken by "cpu:nanoseconds" <
   * "samples:count"; the values-and-timestamps sample sums its values */
  pc_stacks_t *s = expect_folded(reqs, 1, &f, "main;work;leaf 200\n");
  ck_assert(str_is(pc_stacks_info(s)->type, "cpu") && pc_stacks_info(s)->by_default);
  ck_assert_uint_eq(pc_stacks_info(s)->samples, 2);
  pc_stacks_free(s);
  f.sample_type = PC_STR_LIT("samples");
  s = expect_folded(reqs, 1, &f, "main;work;leaf 3\nmain;work;libc.so.6+0x1f2a3 2\n");
  ck_assert(!pc_stacks_info(s)->by_default);
  pc_stacks_free(s);
  f.has_span_id = true;
  memcpy(f.span_id, span_2, 8);
  s = expect_folded(reqs, 1, &f, "main;work;libc.so.6+0x1f2a3 2\n");
  pc_stacks_free(s);
  f.sample_type = (pc_str_t){0};
  s = expect_folded(reqs, 1, &f, "main;work;leaf 100\n");
  pc_stacks_free(s);
  memcpy(f.trace_id, trace_b, 16);
  memcpy(f.span_id, span_3, 8);
  s = expect_folded(reqs, 1, &f, "main;work;leaf 5\n");
  pc_stacks_free(s);
  /* a span of another trace: nothing */
  memcpy(f.span_id, span_1, 8);
  s = expect_folded(reqs, 1, &f, "");
  ck_assert_uint_eq(pc_stacks_info(s)->samples, 0);
  ck_assert_uint_eq(pc_stacks_info(s)->type.n, 0);
  pc_buf_t tree = {0};
  ck_assert_int_eq(pc_stacks_tree_json(s, &tree), 0);
  ck_assert_uint_eq(tree.n, strlen("{\"name\":\"root\",\"value\":0}"));
  ck_assert(memcmp(tree.p, "{\"name\":\"root\",\"value\":0}", tree.n) == 0);
  pc_buf_free(&tree);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

START_TEST(sample_type_by_name_or_name_and_unit) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  build_request(a, &req);
  const pc_request_t *reqs[] = {&req};
  pc_stacks_filter_t f = {.sample_type = PC_STR_LIT("cpu")};
  pc_stacks_t *s = expect_folded(reqs, 1, &f, "main;work;leaf 200\n");
  pc_stacks_free(s);
  f.sample_type = PC_STR_LIT("cpu:nanoseconds");
  s = expect_folded(reqs, 1, &f, "main;work;leaf 200\n");
  ck_assert(str_is(pc_stacks_info(s)->unit, "nanoseconds"));
  pc_stacks_free(s);
  pc_err_t err = {0};
  f.sample_type = PC_STR_LIT("cpu:seconds");
  ck_assert_int_eq(pc_stacks_select(reqs, 1, &f, &s, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "\"cpu:seconds\"") &&
                    strstr(err.msg, "cpu:nanoseconds, samples:count"),
                "%s", err.msg);
  pc_arena_free(a);
}
END_TEST

START_TEST(requests_with_their_own_dictionaries_add_up) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t r1, r2;
  build_request(a, &r1);
  build_other(a, &r2);
  const pc_request_t *reqs[] = {&r1, &r2};
  pc_stacks_t *s = expect_folded(reqs, 2, NULL,
                                 "main;work;leaf 17\nmain;work;libc.so.6+0x1f2a3 2\n");
  ck_assert_uint_eq(pc_stacks_info(s)->samples, 5);
  /* The selection is one request with one dictionary: r1's three stacks
   * and r2's, whose functions have no file, make four, and two "main" in
   * the string table would be one. The folded line sums stacks by name. */
  const pc_request_t *m = pc_stacks_request(s);
  ck_assert_uint_eq(m->dict.n_stacks, 1 + 4);
  uint32_t mains = 0;
  for (uint32_t i = 0; i < m->dict.n_strings; i++) mains += str_is(m->dict.strings[i], "main");
  ck_assert_uint_eq(mains, 1);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

START_TEST(tree_for_d3_flame_graph) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  build_request(a, &req);
  const pc_request_t *reqs[] = {&req};
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_stacks_select(reqs, 1, NULL, &s, &err), 0);
  pc_buf_t out = {0};
  ck_assert_int_eq(pc_stacks_tree_json(s, &out), 0);
  /* work's line is that of the heaviest line through it (main;work;leaf,
   * 10, where the first stack in order gives work line 20 and leaf 30) */
  const char *want =
      "{\"name\":\"root\",\"value\":12,\"children\":[{\"name\":\"main\",\"value\":12,"
      "\"file\":\"/src/a.go\",\"line\":10,\"children\":[{\"name\":\"work\",\"value\":12,"
      "\"file\":\"/src/a.go\",\"line\":20,\"children\":[{\"name\":\"leaf\",\"value\":10,"
      "\"file\":\"/src/a.go\",\"line\":30},{\"name\":\"libc.so.6+0x1f2a3\",\"value\":2}]}]}]}";
  ck_assert_msg(out.n == strlen(want) && memcmp(out.p, want, out.n) == 0, "tree:\n%.*s",
                (int)out.n, (const char *)out.p);
  json_error_t jerr;
  json_t *j = json_loadb((const char *)out.p, out.n, 0, &jerr);
  ck_assert_msg(j != NULL, "not JSON: %s", jerr.text);
  json_decref(j);
  pc_buf_free(&out);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

/* A service's samples only (the resource's service.name), and one trace's
 * share of them marked: in info, and per node of the tree. */
START_TEST(service_filter_and_marks) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req, other;
  build_request(a, &req);
  build_other(a, &other);
  /* req as service "checkout" (a copy of its resource with the attribute) */
  static pc_keyvalue_t svc[] = {{.key = S("service.name"), .has_value = true,
                                 .value = {.type = PC_AV_STRING, .u.s = S("checkout")}}};
  pc_resource_profiles_t rp = req.resources[0];
  rp.resource.attributes = (pc_kvs_t){svc, 1};
  req.resources = &rp;
  const pc_request_t *reqs[] = {&req, &other};
  pc_stacks_filter_t f = {.service = PC_STR_LIT("checkout")};
  /* other (unnamed service, 7 on main;work;leaf) is left out */
  pc_stacks_t *s = expect_folded(reqs, 2, &f, "main;work;leaf 10\nmain;work;libc.so.6+0x1f2a3 2\n");
  size_t n;
  const pc_str_t *names = pc_stacks_services(s, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert(str_is(names[0], "checkout"));
  ck_assert(!pc_stacks_info(s)->marking);
  pc_stacks_free(s);
  f.service = PC_STR_LIT("nope");
  s = expect_folded(reqs, 2, &f, "");
  ck_assert_uint_eq(pc_stacks_info(s)->samples, 0);
  pc_stacks_free(s);
  /* linked samples only: req's sample with timestamps and no link is left out */
  f = (pc_stacks_filter_t){.linked_only = true};
  s = expect_folded(reqs, 1, &f, "main;work;leaf 8\nmain;work;libc.so.6+0x1f2a3 2\n");
  pc_stacks_free(s);
  /* every service: other's 7 counts, and its service has no name */
  s = expect_folded(reqs, 2, NULL, "main;work;leaf 17\nmain;work;libc.so.6+0x1f2a3 2\n");
  pc_stacks_services(s, &n);
  ck_assert_uint_eq(n, 1);
  pc_stacks_free(s);

  /* mark trace A (samples 3 on leaf and 2 on libc) in checkout's samples */
  f = (pc_stacks_filter_t){.service = PC_STR_LIT("checkout"), .has_mark_trace_id = true};
  memcpy(f.mark_trace_id, trace_a, 16);
  s = expect_folded(reqs, 2, &f, "main;work;leaf 10\nmain;work;libc.so.6+0x1f2a3 2\n");
  const pc_stacks_info_t *info = pc_stacks_info(s);
  ck_assert(info->marking);
  ck_assert_int_eq(info->marked, 5);
  ck_assert_uint_eq(info->marked_samples, 2);
  pc_buf_t out = {0};
  ck_assert_int_eq(pc_stacks_tree_json(s, &out), 0);
  const char *want =
      "{\"name\":\"root\",\"value\":12,\"marked\":5,\"children\":[{\"name\":\"main\","
      "\"value\":12,\"marked\":5,\"file\":\"/src/a.go\",\"line\":10,\"children\":["
      "{\"name\":\"work\",\"value\":12,\"marked\":5,\"file\":\"/src/a.go\",\"line\":20,"
      "\"children\":[{\"name\":\"leaf\",\"value\":10,\"marked\":3,\"file\":\"/src/a.go\","
      "\"line\":30},{\"name\":\"libc.so.6+0x1f2a3\",\"value\":2,\"marked\":2}]}]}]}";
  ck_assert_msg(out.n == strlen(want) && memcmp(out.p, want, out.n) == 0, "tree:\n%.*s",
                (int)out.n, (const char *)out.p);
  pc_buf_free(&out);
  pc_stacks_free(s);
  /* marking span 3 of trace B: 5 on leaf (through the inlined frame) */
  f = (pc_stacks_filter_t){.has_mark_trace_id = true, .has_mark_span_id = true};
  memcpy(f.mark_trace_id, trace_b, 16);
  memcpy(f.mark_span_id, span_3, 8);
  ck_assert_int_eq(pc_stacks_select(reqs, 2, &f, &s, &(pc_err_t){0}), 0);
  ck_assert_int_eq(pc_stacks_info(s)->marked, 5);
  ck_assert_int_eq(pc_stacks_info(s)->total, 19);
  ck_assert_int_eq(pc_stacks_tree_json(s, &out), 0);
  ck_assert_int_eq(pc_buf_append(&out, "", 1), 0); /* for strstr */
  ck_assert_ptr_nonnull(strstr((const char *)out.p, "{\"name\":\"leaf\",\"value\":17,\"marked\":5"));
  ck_assert_ptr_null(strstr((const char *)out.p, "libc.so.6+0x1f2a3\",\"value\":2,\"marked"));
  pc_buf_free(&out);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

/* The hand-written pprof of tests/data/pprof: unnamed frames, system names,
 * inlined frames, ';' in a name, a stack without locations, a repaired
 * name, a sample of zeros left out. */
START_TEST(folded_frames_of_every_kind) {
  pc_buf_t raw = {0};
  const char *path = getenv("PC_PPROF_FEATURES");
  ck_assert_ptr_nonnull(path);
  pc_test_read_file(path, &raw);
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pprof_convert(raw.p, raw.n, 1 << 20, b, &err), 0);
  const pc_request_t *req = pc_builder_request(b);
  pc_stacks_filter_t f = {.sample_type = PC_STR_LIT("cpu")};
  pc_stacks_t *s =
      expect_folded(&req, 1, &f,
                    "0x1f2a3 5\n"
                    "[unknown] 1\n"
                    "main.caller;main.inlined;_Z6mangledv;libfoo.so+0x7f0000001234 40\n"
                    "main.caller;main.inlined;main.leaf 40\n"
                    "main.leaf;bad\xef\xbf\xbdname;main.semi:colon 2\n");
  ck_assert_int_eq(pc_stacks_info(s)->total, 88);
  pc_stacks_free(s);
  /* All three types have 7 samples: the first in byte order wins. */
  s = expect_folded(&req, 1, NULL,
                    "[unknown] 1\nmain.caller;main.inlined;main.leaf 300\n"
                    "main.leaf;bad\xef\xbf\xbdname;main.semi:colon 3\n");
  ck_assert(str_is(pc_stacks_info(s)->type, "alloc_space"));
  pc_stacks_free(s);
  pc_builder_free(b);
  pc_buf_free(&raw);
}
END_TEST

/* A stack 20 000 frames deep: the tree is written without recursion. */
START_TEST(deep_stacks) {
  enum { DEPTH = 20000 };
  pc_arena_t *a = pc_arena_new(0);
  static pc_str_t strings[] = {S(""), S("samples"), S("count"), S("rec")};
  static pc_function_t functions[] = {{0}, {3, 0, 0, 0}};
  static pc_line_t line[] = {{1, 7, 0}};
  static pc_location_t locations[] = {{0}, {.lines = line, .n_lines = 1}};
  int32_t *locs = pc_arena_alloc(a, DEPTH * sizeof *locs);
  for (int i = 0; i < DEPTH; i++) locs[i] = 1;
  pc_stack_t stacks[] = {{{0}}, {{locs, DEPTH}}};
  int64_t v[] = {1};
  pc_sample_t samples[] = {{.stack_index = 1, .values = v, .n_values = 1}};
  pc_profile_t profiles[] = {{.has_sample_type = true, .sample_type = {1, 2},
                              .samples = samples, .n_samples = 1}};
  pc_scope_profiles_t scopes[] = {{.profiles = profiles, .n_profiles = 1}};
  pc_resource_profiles_t resources[] = {{.scopes = scopes, .n_scopes = 1}};
  pc_request_t req = {.arena = a, .has_dictionary = true, .resources = resources,
                      .n_resources = 1};
  req.dict = (pc_dictionary_t){.locations = locations, .n_locations = 2,
                               .functions = functions, .n_functions = 2,
                               .strings = strings, .n_strings = 4,
                               .stacks = stacks, .n_stacks = 2};
  const pc_request_t *reqs[] = {&req};
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_stacks_select(reqs, 1, NULL, &s, &err), 0);
  pc_buf_t out = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &out), 0);
  ck_assert_uint_eq(out.n, DEPTH * 4 - 1 + 3);
  pc_buf_free(&out);
  ck_assert_int_eq(pc_stacks_tree_json(s, &out), 0);
  size_t open = 0, close = 0;
  for (size_t i = 0; i < out.n; i++) open += out.p[i] == '{', close += out.p[i] == '}';
  ck_assert_uint_eq(open, DEPTH + 1);
  ck_assert_uint_eq(close, DEPTH + 1);
  pc_buf_free(&out);
  pc_stacks_free(s);
  pc_arena_free(a);
}
END_TEST

TCase *pc_test_stacks_tcase(void) {
  TCase *tc = tcase_create("stacks");
  tcase_add_test(tc, default_type_is_the_one_with_most_samples);
  tcase_add_test(tc, filter_by_trace_and_span);
  tcase_add_test(tc, sample_type_by_name_or_name_and_unit);
  tcase_add_test(tc, requests_with_their_own_dictionaries_add_up);
  tcase_add_test(tc, tree_for_d3_flame_graph);
  tcase_add_test(tc, service_filter_and_marks);
  tcase_add_test(tc, folded_frames_of_every_kind);
  tcase_add_test(tc, deep_stacks);
  return tc;
}
