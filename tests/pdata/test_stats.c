/* test_stats.c - pc_pdata_stats and the request counters on requests built by
 * hand, with a known number of duplicate and unreferenced entries per table. */
#include <stdio.h>
#include <string.h>

#include "testdata.h"

/* Table positions in pc_stats_t.tables (ProfilesDictionary field order). */
enum { MAPPING, LOCATION, FUNCTION, LINK, STRING, ATTR, STACK };

static void *alloc(pc_arena_t *a, size_t count, size_t size) {
  void *p = pc_arena_calloc(a, count ? count : 1, size);
  ck_assert_ptr_nonnull(p);
  return p;
}

static pc_str_t str(const char *c) { return (pc_str_t){(const uint8_t *)c, strlen(c)}; }

/* A fresh copy each time, so equal content never means equal pointers. */
static pc_i32s_t i32s(pc_arena_t *a, uint32_t n, const int32_t *v) {
  int32_t *p = alloc(a, n, sizeof *p);
  memcpy(p, v, n * sizeof *p);
  return (pc_i32s_t){p, n};
}
#define I32S(a, ...) \
  i32s(a, sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t), (int32_t[]){__VA_ARGS__})

static pc_str_t *strings(pc_arena_t *a, uint32_t n, const char *const *v) {
  pc_str_t *p = alloc(a, n, sizeof *p);
  for (uint32_t i = 0; i < n; i++) p[i] = str(v[i]);
  return p;
}

static pc_line_t *line(pc_arena_t *a, int32_t function_index, int64_t ln, int64_t col) {
  pc_line_t *l = alloc(a, 1, sizeof *l);
  *l = (pc_line_t){function_index, ln, col};
  return l;
}

static pc_anyvalue_t *values(pc_arena_t *a, uint32_t n) { return alloc(a, n, sizeof(pc_anyvalue_t)); }
static pc_keyvalue_t *kvs(pc_arena_t *a, uint32_t n) { return alloc(a, n, sizeof(pc_keyvalue_t)); }

/* {key "k": 1, key_strindex 2: [0.5 (or d), strindex 3]} built anew each call. */
static pc_anyvalue_t deep_value(pc_arena_t *a, double d) {
  pc_anyvalue_t *arr = values(a, 2);
  arr[0] = (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = d};
  arr[1] = (pc_anyvalue_t){.type = PC_AV_STRINDEX, .u.strindex = 3};
  pc_keyvalue_t *kv = kvs(a, 2);
  kv[0] = (pc_keyvalue_t){.key = str("k"), .has_value = true,
                          .value = {.type = PC_AV_INT, .u.i = 1}};
  kv[1] = (pc_keyvalue_t){.key_strindex = 2, .has_value = true,
                          .value = {.type = PC_AV_ARRAY, .u.array = {arr, 2}}};
  return (pc_anyvalue_t){.type = PC_AV_KVLIST, .u.kvlist = {kv, 2}};
}

static pc_stats_t stats_of(const pc_request_t *req) {
  pc_stats_t st;
  ck_assert_int_eq(pc_pdata_stats(req, &st), 0);
  return st;
}

static void assert_table(const pc_stats_t *st, int t, const char *name, uint32_t size,
                         uint32_t duplicates, uint32_t unreferenced) {
  const pc_table_stats_t *ts = &st->tables[t];
  ck_assert_str_eq(ts->name, name);
  ck_assert_msg(ts->size == size, "%s: size %u, want %u", name, ts->size, size);
  ck_assert_msg(ts->duplicates == duplicates, "%s: duplicates %u, want %u", name,
                ts->duplicates, duplicates);
  ck_assert_msg(ts->unreferenced == unreferenced, "%s: unreferenced %u, want %u", name,
                ts->unreferenced, unreferenced);
}

/* The shared rich request: everything used except string 12 ("ünïcode ✓"). */
START_TEST(rich_request_counts) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_stats_t st = stats_of(&req);
  ck_assert_uint_eq(st.resources, 2);
  ck_assert_uint_eq(st.scopes, 2);
  ck_assert_uint_eq(st.profiles, 3);
  ck_assert_uint_eq(st.samples, 3);
  ck_assert_uint_eq(pc_request_profile_count(&req), 3);
  ck_assert_uint_eq(pc_request_sample_count(&req), 3);
  assert_table(&st, MAPPING, "mapping_table", 2, 0, 0);
  assert_table(&st, LOCATION, "location_table", 3, 0, 0);
  assert_table(&st, FUNCTION, "function_table", 3, 0, 0);
  assert_table(&st, LINK, "link_table", 2, 0, 0);
  assert_table(&st, STRING, "string_table", 14, 0, 1);
  assert_table(&st, ATTR, "attribute_table", 3, 0, 0);
  assert_table(&st, STACK, "stack_table", 3, 0, 0);
  pc_arena_free(a);
}
END_TEST

START_TEST(empty_request) {
  pc_request_t req = {0};
  pc_stats_t st = stats_of(&req);
  ck_assert_uint_eq(st.resources + st.scopes + st.profiles + st.samples, 0);
  static const char *names[] = {"mapping_table", "location_table",  "function_table",
                                "link_table",    "string_table",    "attribute_table",
                                "stack_table"};
  for (int t = 0; t < 7; t++) assert_table(&st, t, names[t], 0, 0, 0);
}
END_TEST

/* Each table gets entries equal in content (built in separate memory) to an
 * earlier one, and near misses that differ in one field only. Nothing in the
 * tree refers to the dictionary, so every entry but 0 is unreferenced. */
START_TEST(duplicates_by_content) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req = {.arena = a, .has_dictionary = true};
  pc_dictionary_t *d = &req.dict;

  /* strings: 3 ("a", "", "b" again) */
  static const char *const s[] = {"", "a", "b", "a", "", "b", "c", "ab"};
  d->n_strings = 8;
  d->strings = strings(a, 8, s);

  /* functions: 2 (f3 == f1, f4 == f0); f2 differs in start_line only */
  d->n_functions = 5;
  d->functions = alloc(a, 5, sizeof *d->functions);
  d->functions[1] = (pc_function_t){1, 2, 3, 4};
  d->functions[2] = (pc_function_t){1, 2, 3, 5};
  d->functions[3] = (pc_function_t){1, 2, 3, 4};

  /* mappings: 1 (m2 == m1); m3 differs in its attribute list only */
  d->n_mappings = 4;
  d->mappings = alloc(a, 4, sizeof *d->mappings);
  d->mappings[1] = (pc_mapping_t){1, 2, 3, 1, I32S(a, 1)};
  d->mappings[2] = (pc_mapping_t){1, 2, 3, 1, I32S(a, 1)};
  d->mappings[3] = (pc_mapping_t){1, 2, 3, 1, I32S(a, 2)};

  /* locations: 2 (l3 == l1, l6 == l5); near misses in column, attributes,
   * and line order */
  d->n_locations = 8;
  d->locations = alloc(a, 8, sizeof *d->locations);
  for (int i = 1; i <= 4; i++)
    d->locations[i] = (pc_location_t){.mapping_index = 1, .address = 10,
                                      .lines = line(a, 1, 2, 3), .n_lines = 1,
                                      .attribute_indices = I32S(a, 1)};
  d->locations[2].lines[0].column = 4;
  d->locations[4].attribute_indices = I32S(a, 1, 2);
  for (int i = 5; i <= 7; i++) {
    pc_line_t *two = alloc(a, 2, sizeof *two);
    two[i == 7] = (pc_line_t){1, 2, 3};
    two[i != 7] = (pc_line_t){2, 2, 3};
    d->locations[i] = (pc_location_t){.mapping_index = 1, .lines = two, .n_lines = 2};
  }

  /* links: 1 (k3 == k1); k2 differs in the span id */
  d->n_links = 4;
  d->links = alloc(a, 4, sizeof *d->links);
  d->links[1] = (pc_link_t){str("0123456789abcdef"), str("ABCDEFGH")};
  d->links[2] = (pc_link_t){str("0123456789abcdef"), str("ABCDEFGX")};
  d->links[3] = (pc_link_t){str("0123456789abcdef"), str("ABCDEFGH")};

  /* attributes: 3 (a3 == a1, a5 == a4 with a whole nested tree, a10 == a0) */
  d->n_attrs = 11;
  d->attrs = alloc(a, 11, sizeof *d->attrs);
  pc_anyvalue_t x = {.type = PC_AV_STRING, .u.s = str("x")};
  d->attrs[1] = (pc_attr_t){.key_strindex = 1, .has_value = true, .value = x};
  d->attrs[2] = (pc_attr_t){.key_strindex = 1, .has_value = true, .value = x,
                            .unit_strindex = 2};                        /* unit */
  d->attrs[3] = (pc_attr_t){.key_strindex = 1, .has_value = true, .value = x};
  d->attrs[4] = (pc_attr_t){.key_strindex = 1, .has_value = true, .value = deep_value(a, 0.5)};
  d->attrs[5] = (pc_attr_t){.key_strindex = 1, .has_value = true, .value = deep_value(a, 0.5)};
  d->attrs[6] = (pc_attr_t){.key_strindex = 1, .has_value = true,
                            .value = deep_value(a, 0.25)};              /* deep leaf */
  d->attrs[7] = (pc_attr_t){.key_strindex = 1};                         /* no value */
  d->attrs[8] = (pc_attr_t){.key_strindex = 1, .has_value = true};      /* empty value */
  d->attrs[9] = (pc_attr_t){.key_strindex = 1, .has_value = true,
                            .value = {.type = PC_AV_BYTES, .u.s = str("x")}}; /* kind */

  /* stacks: 2 (s3 == s1, s4 == s0); s2 has the same frames reversed */
  d->n_stacks = 5;
  d->stacks = alloc(a, 5, sizeof *d->stacks);
  d->stacks[1].location_indices = I32S(a, 1, 2);
  d->stacks[2].location_indices = I32S(a, 2, 1);
  d->stacks[3].location_indices = I32S(a, 1, 2);

  pc_stats_t st = stats_of(&req);
  assert_table(&st, MAPPING, "mapping_table", 4, 1, 3);
  assert_table(&st, LOCATION, "location_table", 8, 2, 7);
  assert_table(&st, FUNCTION, "function_table", 5, 2, 4);
  assert_table(&st, LINK, "link_table", 4, 1, 3);
  assert_table(&st, STRING, "string_table", 8, 3, 7);
  assert_table(&st, ATTR, "attribute_table", 11, 3, 10);
  assert_table(&st, STACK, "stack_table", 5, 2, 4);
  pc_arena_free(a);
}
END_TEST

/* Every kind of reference is exercised once: from resource and scope
 * attributes (nested), profile value types and attributes, samples, and
 * through the dictionary. Entries reachable only from unreferenced entries
 * (stack 2 -> location 2 -> mapping 2, function 2, attribute 3 -> strings)
 * are unreferenced too. */
START_TEST(unreferenced_by_reachability) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req = {.arena = a, .has_dictionary = true};
  pc_dictionary_t *d = &req.dict;

  static const char *const s[] = {
      "",          "res.key",    "res.nested", "scope.key",  "cpu",
      "ns",        "wall",       "fn",         "file.c",     "lib.so",
      "attr.key",  "attr.unit",  "attr.val",   "orphan",     "dead.fn",
      "map.attr",  "dead.attr",  "sample.attr", "prof.attr", "unused.attr",
      "dead.so"};
  d->n_strings = 21; /* unreferenced: 13, 14, 16, 19, 20 */
  d->strings = strings(a, 21, s);

  d->n_functions = 3; /* unreferenced: 2 (only location 2 uses it) */
  d->functions = alloc(a, 3, sizeof *d->functions);
  d->functions[1] = (pc_function_t){.name_strindex = 7, .filename_strindex = 8};
  d->functions[2] = (pc_function_t){.name_strindex = 14};

  d->n_mappings = 3; /* unreferenced: 2 */
  d->mappings = alloc(a, 3, sizeof *d->mappings);
  d->mappings[1] = (pc_mapping_t){.filename_strindex = 9, .attribute_indices = I32S(a, 2)};
  d->mappings[2] = (pc_mapping_t){.filename_strindex = 20};

  d->n_attrs = 7; /* unreferenced: 3 (dead location), 6 (nothing) */
  d->attrs = alloc(a, 7, sizeof *d->attrs);
  pc_anyvalue_t *arr = values(a, 1);
  arr[0] = (pc_anyvalue_t){.type = PC_AV_STRINDEX, .u.strindex = 12};
  pc_keyvalue_t *kv = kvs(a, 1);
  kv[0] = (pc_keyvalue_t){.key = str("k"), .has_value = true,
                          .value = {.type = PC_AV_ARRAY, .u.array = {arr, 1}}};
  d->attrs[1] = (pc_attr_t){.key_strindex = 10, .unit_strindex = 11, .has_value = true,
                            .value = {.type = PC_AV_KVLIST, .u.kvlist = {kv, 1}}};
  d->attrs[2] = (pc_attr_t){.key_strindex = 15};
  d->attrs[3] = (pc_attr_t){.key_strindex = 16};
  d->attrs[4] = (pc_attr_t){.key_strindex = 17};
  d->attrs[5] = (pc_attr_t){.key_strindex = 18};
  d->attrs[6] = (pc_attr_t){.key_strindex = 19};

  d->n_locations = 4; /* unreferenced: 2 (dead stack), 3 (nothing) */
  d->locations = alloc(a, 4, sizeof *d->locations);
  d->locations[1] = (pc_location_t){.mapping_index = 1, .lines = line(a, 1, 10, 0),
                                    .n_lines = 1, .attribute_indices = I32S(a, 1)};
  d->locations[2] = (pc_location_t){.mapping_index = 2, .lines = line(a, 2, 10, 0),
                                    .n_lines = 1, .attribute_indices = I32S(a, 3)};
  d->locations[3] = (pc_location_t){.address = 0x1234};

  d->n_stacks = 3; /* unreferenced: 2 */
  d->stacks = alloc(a, 3, sizeof *d->stacks);
  d->stacks[1].location_indices = I32S(a, 1);
  d->stacks[2].location_indices = I32S(a, 2);

  d->n_links = 3; /* unreferenced: 2 */
  d->links = alloc(a, 3, sizeof *d->links);
  d->links[1] = (pc_link_t){str("0123456789abcdef"), str("ABCDEFGH")};
  d->links[2] = (pc_link_t){str("fedcba9876543210"), str("ABCDEFGH")};

  /* The tree. */
  req.n_resources = 1;
  req.resources = alloc(a, 1, sizeof *req.resources);
  pc_resource_profiles_t *rp = &req.resources[0];
  pc_keyvalue_t *inner = kvs(a, 1);
  inner[0] = (pc_keyvalue_t){.key = str("x"), .has_value = true,
                             .value = {.type = PC_AV_STRINDEX, .u.strindex = 2}};
  pc_anyvalue_t *list = values(a, 1);
  list[0] = (pc_anyvalue_t){.type = PC_AV_KVLIST, .u.kvlist = {inner, 1}};
  pc_keyvalue_t *rkv = kvs(a, 1);
  rkv[0] = (pc_keyvalue_t){.key_strindex = 1, .has_value = true,
                           .value = {.type = PC_AV_ARRAY, .u.array = {list, 1}}};
  rp->has_resource = true;
  rp->resource.attributes = (pc_kvs_t){rkv, 1};
  rp->n_scopes = 1;
  rp->scopes = alloc(a, 1, sizeof *rp->scopes);
  pc_scope_profiles_t *sp = &rp->scopes[0];
  pc_keyvalue_t *skv = kvs(a, 1);
  skv[0] = (pc_keyvalue_t){.key_strindex = 3, .has_value = true,
                           .value = {.type = PC_AV_INT, .u.i = 7}};
  sp->has_scope = true;
  sp->scope.attributes = (pc_kvs_t){skv, 1};
  sp->n_profiles = 1;
  sp->profiles = alloc(a, 1, sizeof *sp->profiles);
  pc_profile_t *p = &sp->profiles[0];
  p->has_sample_type = p->has_period_type = true;
  p->sample_type = (pc_valuetype_t){4, 5};
  p->period_type = (pc_valuetype_t){6, 0};
  p->attribute_indices = I32S(a, 5);
  p->n_samples = 1;
  p->samples = alloc(a, 1, sizeof *p->samples);
  int64_t *v = alloc(a, 1, sizeof *v);
  *v = 1;
  p->samples[0] = (pc_sample_t){.stack_index = 1, .attribute_indices = I32S(a, 4),
                                .link_index = 1, .values = v, .n_values = 1};

  pc_stats_t st = stats_of(&req);
  ck_assert_uint_eq(st.resources, 1);
  ck_assert_uint_eq(st.scopes, 1);
  ck_assert_uint_eq(st.profiles, 1);
  ck_assert_uint_eq(st.samples, 1);
  assert_table(&st, MAPPING, "mapping_table", 3, 0, 1);
  assert_table(&st, LOCATION, "location_table", 4, 0, 2);
  assert_table(&st, FUNCTION, "function_table", 3, 0, 1);
  assert_table(&st, LINK, "link_table", 3, 0, 1);
  assert_table(&st, STRING, "string_table", 21, 0, 5);
  assert_table(&st, ATTR, "attribute_table", 7, 0, 2);
  assert_table(&st, STACK, "stack_table", 3, 0, 1);

  /* Unlinking the sample's stack makes the whole frame chain unreferenced:
   * stack 1, location 1, mapping 1, function 1, attributes 1 and 2, and
   * strings 7..12 and 15. */
  p->samples[0].stack_index = 0;
  st = stats_of(&req);
  assert_table(&st, STACK, "stack_table", 3, 0, 2);
  assert_table(&st, LOCATION, "location_table", 4, 0, 3);
  assert_table(&st, MAPPING, "mapping_table", 3, 0, 2);
  assert_table(&st, FUNCTION, "function_table", 3, 0, 2);
  assert_table(&st, ATTR, "attribute_table", 7, 0, 4);
  assert_table(&st, STRING, "string_table", 21, 0, 12);
  pc_arena_free(a);
}
END_TEST

/* Stats run on hand-built, unvalidated data too: bad indices are ignored. */
START_TEST(out_of_range_indices_are_ignored) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_sample_t *smp = &req.resources[0].scopes[0].profiles[0].samples[0];
  smp->stack_index = 99;
  smp->link_index = -1;
  smp->attribute_indices = I32S(a, 1000, INT32_MIN);
  pc_stats_t st = stats_of(&req);
  ck_assert_uint_eq(st.samples, 3);
  assert_table(&st, LINK, "link_table", 2, 0, 1);
  /* Stack 1 lost its only user; stack 2 (sample 1) still holds location 2. */
  assert_table(&st, STACK, "stack_table", 3, 0, 1);
  assert_table(&st, LOCATION, "location_table", 3, 0, 1);
  pc_arena_free(a);
}
END_TEST

/* Enough entries that a broken probe sequence or a full set would show:
 * 200000 strings over 150000 distinct values. */
START_TEST(many_duplicates) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req = {.arena = a, .has_dictionary = true};
  uint32_t n = 200000, distinct = 150000;
  req.dict.n_strings = n;
  req.dict.strings = alloc(a, n, sizeof(pc_str_t));
  for (uint32_t i = 1; i < n; i++) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "frame_%u", i % distinct);
    ck_assert_int_eq(pc_arena_dup(a, buf, (size_t)len, &req.dict.strings[i]), 0);
  }
  /* strings[0] is "", distinct from every "frame_N"; frame_0 first appears at
   * 150000, so the repeats are i in [150001, 200000): 49999 of them. */
  pc_stats_t st = stats_of(&req);
  assert_table(&st, STRING, "string_table", n, n - distinct - 1, n - 1);
  pc_arena_free(a);
}
END_TEST

TCase *pc_test_stats_tcase(void) {
  TCase *tc = tcase_create("stats");
  tcase_add_test(tc, rich_request_counts);
  tcase_add_test(tc, empty_request);
  tcase_add_test(tc, duplicates_by_content);
  tcase_add_test(tc, unreferenced_by_reachability);
  tcase_add_test(tc, out_of_range_indices_are_ignored);
  tcase_add_test(tc, many_duplicates);
  return tc;
}
