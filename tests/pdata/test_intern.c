/* test_intern.c - the batch builder (pdata/intern.c) against the
 * materialized-samples oracle (materialize.c): merging never changes what
 * any sample resolves to, and the merged dictionary holds every referenced
 * entry exactly once, with the zero entry at index 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdata/intern.h"
#include "materialize.h"
#include "randreq.h"
#include "testdata.h"

/* ---- helpers ------------------------------------------------------------------- */

static pc_str_t lit(const char *c) { return (pc_str_t){(const uint8_t *)c, strlen(c)}; }

static void assert_mat_eq(const pc_mat_t *want, const pc_mat_t *got, const char *ctx) {
  char why[400];
  if (!pc_mat_eq(want, got, why, sizeof why)) ck_abort_msg("%s: %s", ctx, why);
}

static void assert_clean_batch(const pc_request_t *req, const char *ctx) {
  char why[300];
  int problems = pc_mat_check_batch(req, why, sizeof why);
  if (problems) ck_abort_msg("%s: %d problems, first: %s", ctx, problems, why);
  /* The zero Link in its preferred form: 16 and 8 zero bytes. */
  static const uint8_t zeros[16];
  ck_assert_uint_ge(req->dict.n_links, 1);
  ck_assert_uint_eq(req->dict.links[0].trace_id.n, 16);
  ck_assert_uint_eq(req->dict.links[0].span_id.n, 8);
  ck_assert_int_eq(memcmp(req->dict.links[0].trace_id.p, zeros, 16), 0);
  ck_assert_int_eq(memcmp(req->dict.links[0].span_id.p, zeros, 8), 0);
}

/* pc_builder_encode, from the encoded samples, writes exactly what
 * pc_proto_encode writes for the tree pc_builder_request hands out, into an
 * empty buffer (which adopts the encoder's) and after existing bytes. */
static void assert_encode_same(pc_builder_t *b) {
  pc_buf_t direct = {0}, after = {0}, tree = {0};
  ck_assert_int_eq(pc_builder_encode(b, &direct), 0);
  ck_assert_int_eq(pc_buf_append(&after, "xyz", 3), 0);
  ck_assert_int_eq(pc_builder_encode(b, &after), 0);
  ck_assert_int_eq(pc_proto_encode(pc_builder_request(b), &tree), 0);
  ck_assert_uint_eq(direct.n, tree.n);
  ck_assert_uint_eq(after.n, tree.n + 3);
  ck_assert(tree.n == 0 || memcmp(direct.p, tree.p, tree.n) == 0);
  ck_assert(memcmp(after.p, "xyz", 3) == 0);
  ck_assert(tree.n == 0 || memcmp(after.p + 3, tree.p, tree.n) == 0);
  pc_buf_free(&direct);
  pc_buf_free(&after);
  pc_buf_free(&tree);
}

/* The merged request passes validation, encodes within the builder's size
 * bound, and decodes back to the same samples. */
static void assert_roundtrip(pc_builder_t *b, const pc_mat_t *want, const char *ctx) {
  assert_encode_same(b);
  pc_request_t *out = pc_builder_request(b);
  pc_request_t copy = *out; /* validation may drop profiles: check a copy */
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pdata_validate(&copy, &err), 0);
  ck_assert_uint_eq(copy.rejected_profiles, 0);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(out, &pb), 0);
  ck_assert_uint_le(pb.n, pc_builder_stats(b)->out_bytes);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t dec;
  if (pc_proto_decode(a, pb.p, pb.n, &dec, &err)) ck_abort_msg("%s: decode: %s", ctx, err.msg);
  pc_mat_t got = pc_mat_of(&dec);
  assert_mat_eq(want, &got, ctx);
  pc_mat_free(&got);
  pc_arena_free(a);
  pc_buf_free(&pb);
}

static uint64_t samples_of(const pc_request_t *req) {
  uint64_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++)
      for (uint32_t p = 0; p < req->resources[r].scopes[s].n_profiles; p++)
        n += req->resources[r].scopes[s].profiles[p].n_samples;
  return n;
}

static uint64_t profiles_of(const pc_request_t *req) {
  uint64_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++)
      n += req->resources[r].scopes[s].n_profiles;
  return n;
}

/* Merge reqs[0..n) into b and check everything the builder promises. */
static void merge_and_check(pc_builder_t *b, const pc_request_t *const *reqs, size_t n,
                            const char *ctx) {
  pc_mat_t want = {0}, want_profiles = {0}, want_nodes = {0};
  uint64_t samples = 0, profiles = 0;
  for (size_t i = 0; i < n; i++) {
    pc_err_t err = {0};
    if (pc_builder_add(b, reqs[i], &err)) ck_abort_msg("%s: add %zu: %s", ctx, i, err.msg);
    pc_mat_add(&want, reqs[i]);
    pc_mat_add_profiles(&want_profiles, reqs[i]);
    pc_mat_add_nodes(&want_nodes, reqs[i]);
    samples += samples_of(reqs[i]);
    profiles += profiles_of(reqs[i]);
  }
  pc_mat_sort(&want);
  const pc_request_t *out = pc_builder_request(b);
  pc_builder_mem_t mem;
  pc_builder_mem_detail(b, &mem); /* the tree replaced the encoded samples */
  ck_assert_uint_eq(mem.samples, 0);
  ck_assert_uint_eq(mem.total, pc_builder_mem(b));
  pc_mat_t got = pc_mat_of(out);
  assert_mat_eq(&want, &got, ctx);
  assert_clean_batch(out, ctx);
  assert_roundtrip(b, &want, ctx);
  ck_assert_uint_eq(pc_builder_stats(b)->samples, samples);
  ck_assert_uint_eq(pc_builder_stats(b)->profiles, profiles);
  ck_assert_uint_eq(pc_builder_stats(b)->resources, out->n_resources);
  ck_assert_uint_eq(pc_builder_stats(b)->adds, n);
  pc_mat_free(&got);
  pc_mat_free(&want);
  /* Every profile once, empty ones too; every resource and scope kept. */
  pc_mat_sort(&want_profiles);
  pc_mat_add_profiles(&got, out);
  pc_mat_sort(&got);
  assert_mat_eq(&want_profiles, &got, ctx);
  pc_mat_free(&got);
  pc_mat_uniq(&want_nodes);
  pc_mat_add_nodes(&got, out);
  pc_mat_uniq(&got);
  assert_mat_eq(&want_nodes, &got, ctx);
  pc_mat_free(&got);
  pc_mat_free(&want_profiles);
  pc_mat_free(&want_nodes);
}

static void table_sizes(const pc_request_t *req, uint32_t out[7]) {
  const pc_dictionary_t *d = &req->dict;
  uint32_t v[7] = {d->n_strings, d->n_functions, d->n_mappings, d->n_attrs,
                   d->n_locations, d->n_stacks, d->n_links};
  memcpy(out, v, sizeof v);
}

/* ---- tests --------------------------------------------------------------------- */

/* pc_arena_set_keep: reset keeps blocks up to the byte budget and hands them
 * out again before allocating; what they held is rewritten, not leaked. */
START_TEST(arena_keeps_blocks_for_reuse) {
  pc_arena_t *a = pc_arena_new(1024);
  pc_arena_set_max_block(a, 1024);
  pc_arena_set_keep(a, 4096);
  for (int i = 0; i < 10; i++) memset(pc_arena_alloc(a, 1000), i, 1000);
  ck_assert_uint_eq(pc_arena_used(a), 10 * 1024);
  pc_arena_reset(a);
  ck_assert_uint_eq(pc_arena_used(a), 1024 + 4096); /* the first + 4 kept */
  for (int i = 0; i < 5; i++) memset(pc_arena_alloc(a, 1000), 0xee, 1000);
  ck_assert_uint_eq(pc_arena_used(a), 1024 + 4096); /* all from kept blocks */
  memset(pc_arena_alloc(a, 1000), 0xee, 1000);
  ck_assert_uint_eq(pc_arena_used(a), 6 * 1024); /* then a new one */
  memset(pc_arena_alloc(a, 3000), 1, 3000); /* larger than a block: its own */
  pc_arena_reset(a);
  ck_assert_uint_le(pc_arena_used(a), 1024 + 4096);
  pc_arena_free(a);
}
END_TEST

START_TEST(rich_request_merged_three_times) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t rich;
  pc_test_rich_request(a, &rich);
  pc_builder_t *b = pc_builder_new();
  const pc_request_t *reqs[] = {&rich, &rich, &rich};
  merge_and_check(b, reqs, 3, "rich x3");
  const pc_request_t *out = pc_builder_request(b);
  /* Its two resources differ (one has no Resource message), and each merges
   * with its copies: 2 resources, 1 scope each, the profiles appended. */
  ck_assert_uint_eq(out->n_resources, 2);
  ck_assert_uint_eq(out->resources[0].n_scopes, 1);
  ck_assert_uint_eq(out->resources[0].scopes[0].n_profiles, 6);
  ck_assert_uint_eq(out->resources[1].scopes[0].n_profiles, 3);
  pc_builder_free(b);
  pc_arena_free(a);
}
END_TEST

/* Shuffled, duplicated and padded dictionaries mean the same: the oracle
 * says so, and merging them gives the dictionary of the original alone. */
START_TEST(rewritten_dictionaries_merge_to_the_same_tables) {
  pc_rng_t rng = {42};
  for (int round = 0; round < 300; round++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t q, v[3];
    if (round == 0)
      pc_test_rich_request(a, &q);
    else
      pc_rand_request(&rng, a, &q);
    pc_mat_t want = pc_mat_of(&q);
    for (int k = 0; k < 3; k++) {
      pc_rewrite_request(&rng, a, &q, (pc_rewrite_t)k, &v[k]);
      pc_mat_t got = pc_mat_of(&v[k]);
      assert_mat_eq(&want, &got, "rewrite keeps meaning");
      pc_mat_free(&got);
    }
    pc_builder_t *alone = pc_builder_new(), *all = pc_builder_new();
    const pc_request_t *one[] = {&q};
    merge_and_check(alone, one, 1, "original alone");
    const pc_request_t *four[] = {&v[2], &q, &v[0], &v[1]};
    merge_and_check(all, four, 4, "original and rewrites");
    uint32_t s1[7], s4[7];
    table_sizes(pc_builder_request(alone), s1);
    table_sizes(pc_builder_request(all), s4);
    for (int t = 0; t < 7; t++)
      ck_assert_msg(s1[t] == s4[t], "round %d table %d: %u alone, %u merged", round, t,
                    s1[t], s4[t]);
    ck_assert_uint_eq(pc_builder_request(alone)->n_resources,
                      pc_builder_request(all)->n_resources);
    pc_builder_free(alone);
    pc_builder_free(all);
    pc_mat_free(&want);
    pc_arena_free(a);
  }
}
END_TEST

/* The property test: thousands of random merges, one reused builder. */
START_TEST(random_merges_keep_every_sample) {
  pc_rng_t rng = {0x5eedf00d};
  pc_builder_t *b = pc_builder_new();
  for (int round = 0; round < 3000; round++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t reqs[5];
    const pc_request_t *ptrs[5];
    size_t n = 1 + pc_rng_below(&rng, 5);
    for (size_t i = 0; i < n; i++) {
      pc_request_t base;
      pc_rand_request(&rng, a, &base);
      uint32_t how = pc_rng_below(&rng, 5);
      if (how < 3)
        pc_rewrite_request(&rng, a, &base, (pc_rewrite_t)how, &reqs[i]);
      else
        reqs[i] = base;
      ptrs[i] = &reqs[i];
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "round %d (%zu requests)", round, n);
    merge_and_check(b, ptrs, n, ctx);
    pc_builder_reset(b);
    pc_arena_free(a);
  }
  pc_builder_free(b);
}
END_TEST

START_TEST(zero_content_maps_to_index_zero) {
  pc_arena_t *a = pc_arena_new(0);
  static const uint8_t zeros[16];
  pc_str_t strings[] = {lit(""), lit("main"), lit(""), lit("x")};
  pc_function_t functions[] = {{0}, {.name_strindex = 2}, {.name_strindex = 1}};
  pc_line_t line = {.function_index = 1, .line = 0};
  pc_location_t locations[] = {{0}, {.lines = &line, .n_lines = 1}, {.mapping_index = 0}};
  int32_t locs[] = {1, 2};
  pc_stack_t stacks[] = {{{NULL, 0}}, {{NULL, 0}}, {{locs, 2}}};
  pc_link_t links[] = {{{0}, {0}}, {{0}, {0}}, {{zeros, 16}, {zeros, 8}},
                       {lit("0123456789abcdef"), lit("01234567")}};
  pc_attr_t attrs[] = {{0}, {.key_strindex = 2}};
  int32_t sattrs[] = {1};
  int64_t one = 1;
  pc_sample_t samples[] = {
      {.stack_index = 1, .link_index = 1, .values = &one, .n_values = 1,
       .attribute_indices = {sattrs, 1}},
      {.stack_index = 2, .link_index = 2, .values = &one, .n_values = 1},
      {.stack_index = 2, .link_index = 3, .values = &one, .n_values = 1}};
  pc_profile_t profile = {.has_sample_type = true, .sample_type = {2, 1},
                          .samples = samples, .n_samples = 3};
  pc_scope_profiles_t scope = {.profiles = &profile, .n_profiles = 1};
  pc_resource_profiles_t res = {.scopes = &scope, .n_scopes = 1};
  pc_request_t req = {.arena = a, .has_dictionary = true, .resources = &res, .n_resources = 1,
                      .dict = {.strings = strings, .n_strings = 4,
                               .functions = functions, .n_functions = 3,
                               .locations = locations, .n_locations = 3,
                               .stacks = stacks, .n_stacks = 3,
                               .links = links, .n_links = 4,
                               .attrs = attrs, .n_attrs = 2}};
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pdata_validate(&req, &err), 0);
  pc_builder_t *b = pc_builder_new();
  const pc_request_t *reqs[] = {&req};
  merge_and_check(b, reqs, 1, "zero content");
  const pc_request_t *out = pc_builder_request(b);
  const pc_sample_t *s = out->resources[0].scopes[0].profiles[0].samples;
  ck_assert_int_eq(s[0].stack_index, 0);  /* empty stack */
  ck_assert_int_eq(s[0].link_index, 0);   /* empty ids */
  ck_assert_int_eq(s[1].link_index, 0);   /* zero ids */
  ck_assert_int_ne(s[2].link_index, 0);
  ck_assert_int_eq(s[0].attribute_indices.v[0], 0); /* key "" and no value */
  ck_assert_int_eq(out->resources[0].scopes[0].profiles[0].sample_type.type_strindex, 0);
  /* "main", one function, one location with a line, one stack, one link. */
  uint32_t sizes[7];
  table_sizes(out, sizes);
  uint32_t want[7] = {2, 1, 1, 1, 2, 2, 2};
  for (int t = 0; t < 7; t++) ck_assert_msg(sizes[t] == want[t], "table %d: %u", t, sizes[t]);
  ck_assert_int_eq(out->dict.locations[1].lines[0].function_index, 0);

  /* A request whose tables are all empty: every index is 0. */
  pc_builder_reset(b);
  pc_request_t bare = {.arena = a, .resources = &res, .n_resources = 1};
  pc_sample_t bare_sample = {.values = &one, .n_values = 1};
  pc_profile_t bare_profile = {.samples = &bare_sample, .n_samples = 1};
  pc_scope_profiles_t bare_scope = {.profiles = &bare_profile, .n_profiles = 1};
  res.scopes = &bare_scope;
  const pc_request_t *bare_reqs[] = {&bare};
  merge_and_check(b, bare_reqs, 1, "empty tables");
  table_sizes(pc_builder_request(b), sizes);
  for (int t = 0; t < 7; t++) ck_assert_uint_eq(sizes[t], 1);
  pc_builder_free(b);
  pc_arena_free(a);
}
END_TEST

/* Same resource said differently (inline key vs key_strindex, string_value
 * vs string_value_strindex, another order) merges; a different dropped count
 * or scope version does not. */
START_TEST(equal_resources_and_scopes_merge) {
  pc_arena_t *a = pc_arena_new(0);
  pc_str_t strings[] = {lit(""), lit("host.name"), lit("h1")};
  int64_t one = 1;
  pc_sample_t sample = {.values = &one, .n_values = 1};
  pc_profile_t profile = {.samples = &sample, .n_samples = 1};
  pc_keyvalue_t kv1[] = {
      {.key = lit("host.name"), .has_value = true, .value = {.type = PC_AV_STRING, .u.s = lit("h1")}},
      {.key = lit("service.name"), .has_value = true, .value = {.type = PC_AV_STRING, .u.s = lit("svc")}}};
  pc_keyvalue_t kv2[] = {
      {.key = lit("service.name"), .has_value = true, .value = {.type = PC_AV_STRING, .u.s = lit("svc")}},
      {.key_strindex = 1, .has_value = true, .value = {.type = PC_AV_STRINDEX, .u.strindex = 2}}};
  pc_scope_profiles_t sc1 = {.has_scope = true, .scope = {.name = lit("ebpf"), .version = lit("1")},
                             .profiles = &profile, .n_profiles = 1};
  pc_scope_profiles_t sc2 = sc1;
  sc2.scope.version = lit("2");
  pc_resource_profiles_t r1 = {.has_resource = true, .resource = {.attributes = {kv1, 2}},
                               .scopes = &sc1, .n_scopes = 1};
  pc_resource_profiles_t r2 = r1, r3 = r1, r4 = r1;
  r2.resource.attributes = (pc_kvs_t){kv2, 2};
  r3.resource.dropped_attributes_count = 1;
  r4.resource.attributes = (pc_kvs_t){kv2, 2};
  r4.scopes = &sc2;
  pc_request_t reqs[4];
  const pc_resource_profiles_t *rs[4] = {&r1, &r2, &r3, &r4};
  const pc_request_t *ptrs[4];
  for (int i = 0; i < 4; i++) {
    reqs[i] = (pc_request_t){.arena = a, .dict = {.strings = strings, .n_strings = 3},
                             .resources = (pc_resource_profiles_t *)rs[i], .n_resources = 1};
    ptrs[i] = &reqs[i];
  }
  pc_builder_t *b = pc_builder_new();
  merge_and_check(b, ptrs, 4, "resources");
  const pc_request_t *out = pc_builder_request(b);
  ck_assert_uint_eq(out->n_resources, 2);
  ck_assert_uint_eq(out->resources[0].n_scopes, 2);
  ck_assert_uint_eq(out->resources[0].scopes[0].n_profiles, 2);
  ck_assert_uint_eq(out->resources[0].scopes[1].n_profiles, 1);
  ck_assert_uint_eq(out->resources[1].resource.dropped_attributes_count, 1);
  pc_builder_free(b);
  pc_arena_free(a);
}
END_TEST

/* Parts of a request, each in its own builder, add up to the request; and
 * consecutive parts into one builder equal adding it whole. */
START_TEST(ranges_split_a_request_exactly) {
  pc_rng_t rng = {7};
  for (int round = 0; round < 200; round++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t q;
    if (round == 0)
      pc_test_rich_request(a, &q);
    else
      pc_rand_request(&rng, a, &q);
    uint64_t total = samples_of(&q);
    pc_mat_t want = pc_mat_of(&q), want_nodes = {0};
    pc_mat_add_nodes(&want_nodes, &q);
    pc_mat_uniq(&want_nodes);
    for (uint64_t c = 1; c <= total + 1; c++) {
      pc_mat_t got = {0}, got_nodes = {0};
      pc_builder_t *whole = pc_builder_new(), *part = pc_builder_new();
      pc_err_t err = {0};
      for (uint64_t first = 0; first < total || (first == 0 && total == 0); first += c) {
        ck_assert_int_eq(pc_builder_add_range(part, &q, first, c, 0, &err), 0);
        ck_assert_int_eq(pc_builder_add_range(whole, &q, first, c, 0, &err), 0);
        if (first == 0) assert_encode_same(part); /* before its first request */
        ck_assert_uint_le(pc_builder_stats(part)->samples, c);
        assert_clean_batch(pc_builder_request(part), "part");
        pc_mat_add(&got, pc_builder_request(part));
        pc_mat_add_nodes(&got_nodes, pc_builder_request(part));
        pc_builder_reset(part);
      }
      pc_mat_sort(&got);
      assert_mat_eq(&want, &got, "parts");
      pc_mat_uniq(&got_nodes);
      assert_mat_eq(&want_nodes, &got_nodes, "nodes of the parts");
      pc_mat_free(&got_nodes);
      pc_mat_t w = pc_mat_of(pc_builder_request(whole));
      assert_mat_eq(&want, &w, "consecutive parts");
      assert_clean_batch(pc_builder_request(whole), "consecutive parts");
      pc_mat_free(&w);
      pc_mat_free(&got);
      pc_builder_free(whole);
      pc_builder_free(part);
    }
    pc_mat_free(&want);
    pc_mat_free(&want_nodes);
    pc_arena_free(a);
  }
}
END_TEST

/* A merge that would pass the byte cap leaves the builder as it was, even
 * when it appended to resources and scopes that were already there. */
START_TEST(byte_cap_rolls_back) {
  pc_rng_t rng = {99};
  int refused = 0;
  for (int round = 0; round < 300; round++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t q1, q2;
    pc_rand_request(&rng, a, &q1);
    pc_rewrite_request(&rng, a, &q1, PC_REWRITE_SHUFFLE, &q2);
    pc_builder_t *b = pc_builder_new();
    pc_err_t err = {0};
    ck_assert_int_eq(pc_builder_add(b, &q1, &err), 0);
    pc_builder_stats_t before = *pc_builder_stats(b);
    uint32_t sizes[7], after_sizes[7];
    table_sizes(pc_builder_request(b), sizes);
    pc_mat_t want = pc_mat_of(pc_builder_request(b));
    int rc = pc_builder_add_range(b, &q2, 0, UINT64_MAX, before.out_bytes, &err);
    if (profiles_of(&q2) > 0) {
      ck_assert_int_eq(rc, PC_ELIMIT);
      refused++;
      ck_assert_int_eq(memcmp(&before, pc_builder_stats(b), sizeof before), 0);
      table_sizes(pc_builder_request(b), after_sizes);
      ck_assert_int_eq(memcmp(sizes, after_sizes, sizeof sizes), 0);
      pc_mat_t got = pc_mat_of(pc_builder_request(b));
      assert_mat_eq(&want, &got, "after rollback");
      pc_mat_free(&got);
      assert_clean_batch(pc_builder_request(b), "after rollback");
      ck_assert_uint_eq(pc_builder_request(b)->n_resources, before.resources);
      assert_encode_same(b);
    }
    /* And the builder still works: the same request merges without a cap. */
    ck_assert_int_eq(pc_builder_add(b, &q2, &err), 0);
    pc_mat_add(&want, &q2);
    pc_mat_sort(&want);
    pc_mat_t got = pc_mat_of(pc_builder_request(b));
    assert_mat_eq(&want, &got, "after retry");
    assert_clean_batch(pc_builder_request(b), "after retry");
    assert_encode_same(b);
    pc_mat_free(&got);
    pc_mat_free(&want);
    pc_builder_free(b);
    pc_arena_free(a);
  }
  ck_assert_int_gt(refused, 100);
}
END_TEST

START_TEST(one_sample_passes_the_cap_when_alone) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t rich;
  pc_test_rich_request(a, &rich);
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  ck_assert_int_eq(pc_builder_add_range(b, &rich, 0, 2, 1, &err), PC_ELIMIT);
  ck_assert(pc_builder_empty(b));
  ck_assert_int_eq(pc_builder_add_range(b, &rich, 0, 1, 1, &err), 0);
  ck_assert_uint_eq(pc_builder_stats(b)->samples, 1);
  ck_assert_int_eq(pc_builder_add_range(b, &rich, 1, 1, 1, &err), PC_ELIMIT);
  ck_assert_uint_eq(pc_builder_stats(b)->samples, 1);
  pc_builder_free(b);
  pc_arena_free(a);
}
END_TEST

/* Reset forgets the batch but keeps its memory. */
START_TEST(reset_reuses_memory) {
  pc_rng_t rng = {3};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t reqs[20];
  const pc_request_t *ptrs[20];
  for (int i = 0; i < 20; i++) {
    pc_rand_request(&rng, a, &reqs[i]);
    ptrs[i] = &reqs[i];
  }
  pc_builder_t *b = pc_builder_new(), *fresh = pc_builder_new();
  merge_and_check(b, ptrs, 20, "first batch");
  size_t mem1 = pc_builder_mem(b);
  pc_builder_reset(b);
  ck_assert(pc_builder_empty(b));
  ck_assert_uint_eq(pc_builder_stats(b)->samples, 0);
  merge_and_check(b, ptrs + 10, 10, "second batch");
  merge_and_check(fresh, ptrs + 10, 10, "fresh builder");
  uint32_t s1[7], s2[7];
  table_sizes(pc_builder_request(b), s1);
  table_sizes(pc_builder_request(fresh), s2);
  ck_assert_int_eq(memcmp(s1, s2, sizeof s1), 0);
  pc_builder_reset(b);
  merge_and_check(b, ptrs, 20, "third batch");
  ck_assert_uint_le(pc_builder_mem(b), mem1);
  pc_builder_free(b);
  pc_builder_free(fresh);
  pc_arena_free(a);
}
END_TEST

/* A consumer of the batch may swap its tables and tree for longer copies
 * from the request's arena (to add a string or a link, say): the builder
 * still frees and reuses only its own memory. */
START_TEST(consumers_may_replace_tables) {
  pc_rng_t rng = {11};
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t q;
  pc_rand_request(&rng, a, &q);
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  for (int round = 0; round < 3; round++) {
    ck_assert_int_eq(pc_builder_add(b, &q, &err), 0);
    pc_request_t *out = pc_builder_request(b);
    pc_dictionary_t *d = &out->dict;
    pc_str_t *strings = pc_arena_alloc(out->arena, (d->n_strings + 1) * sizeof *strings);
    memcpy(strings, d->strings, d->n_strings * sizeof *strings);
    strings[d->n_strings] = lit("added by a consumer");
    d->strings = strings;
    d->n_strings++;
    pc_link_t *links = pc_arena_alloc(out->arena, d->n_links * sizeof *links);
    memcpy(links, d->links, d->n_links * sizeof *links);
    d->links = links;
    pc_resource_profiles_t *res = pc_arena_alloc(out->arena, (out->n_resources + 1) * sizeof *res);
    memcpy(res, out->resources, out->n_resources * sizeof *res);
    out->resources = res;
    pc_builder_reset(b);
  }
  const pc_request_t *one[] = {&q};
  merge_and_check(b, one, 1, "after consumers edited earlier batches");
  pc_builder_free(b);
  pc_arena_free(a);
}
END_TEST

/* Samples that share one attribute list (as the attributes processor
 * hands every sample of a set the same list) have it encoded once per add
 * and copied after that; a list whose address comes back in a later add
 * with other indices (arena memory reused) is encoded again, never taken
 * from the earlier add. */
START_TEST(shared_attribute_lists_are_encoded_once_per_add) {
  pc_rng_t rng = {7};
  for (int round = 0; round < 50; round++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t q;
    pc_rand_request(&rng, a, &q);
    if (q.dict.n_attrs < 3) {
      pc_arena_free(a);
      continue;
    }
    /* Three lists, 32 bytes apart (each in its own memo slot), of valid
     * attribute indices; every sample takes one of them. */
    enum { K = 3, STRIDE = 8 };
    int32_t *lists = pc_arena_alloc(a, K * STRIDE * sizeof *lists);
    uint32_t n[K];
    for (uint32_t k = 0; k < K; k++) {
      n[k] = 1 + k;
      for (uint32_t i = 0; i < n[k]; i++)
        lists[k * STRIDE + i] = (int32_t)(1 + pc_rng_below(&rng, q.dict.n_attrs - 1));
    }
    uint64_t samples = 0;
    for (uint32_t r = 0; r < q.n_resources; r++)
      for (uint32_t s = 0; s < q.resources[r].n_scopes; s++)
        for (uint32_t p = 0; p < q.resources[r].scopes[s].n_profiles; p++) {
          pc_profile_t *prof = &q.resources[r].scopes[s].profiles[p];
          for (uint32_t i = 0; i < prof->n_samples; i++, samples++) {
            uint32_t k = (uint32_t)(samples % K);
            prof->samples[i].attribute_indices = (pc_i32s_t){&lists[k * STRIDE], n[k]};
          }
        }
    if (samples < 2 * K) {
      pc_arena_free(a);
      continue;
    }
    pc_builder_t *b = pc_builder_new();
    const pc_request_t *one[] = {&q};
    merge_and_check(b, one, 1, "shared lists");
    ck_assert_uint_eq(pc_builder_stats(b)->attr_lists, K);
    /* The same addresses with other indices, added to the same batch. */
    pc_mat_t want = pc_mat_of(&q);
    for (uint32_t k = 0; k < K; k++)
      for (uint32_t i = 0; i < n[k]; i++)
        lists[k * STRIDE + i] = lists[k * STRIDE + i] + 1 < (int32_t)q.dict.n_attrs
                                    ? lists[k * STRIDE + i] + 1
                                    : 1;
    pc_err_t err = {0};
    ck_assert_int_eq(pc_builder_add(b, &q, &err), 0);
    ck_assert_uint_eq(pc_builder_stats(b)->attr_lists, 2 * K);
    pc_mat_add(&want, &q);
    pc_mat_sort(&want);
    pc_mat_t got = pc_mat_of(pc_builder_request(b));
    assert_mat_eq(&want, &got, "the same addresses, other lists, next add");
    assert_roundtrip(b, &want, "the same addresses, other lists, next add");
    pc_mat_free(&got);
    pc_mat_free(&want);
    pc_builder_free(b);
    pc_arena_free(a);
  }
}
END_TEST

TCase *pc_test_intern_tcase(void) {
  TCase *tc = tcase_create("intern");
  tcase_add_test(tc, arena_keeps_blocks_for_reuse);
  tcase_add_test(tc, rich_request_merged_three_times);
  tcase_add_test(tc, rewritten_dictionaries_merge_to_the_same_tables);
  tcase_add_test(tc, random_merges_keep_every_sample);
  tcase_add_test(tc, zero_content_maps_to_index_zero);
  tcase_add_test(tc, equal_resources_and_scopes_merge);
  tcase_add_test(tc, ranges_split_a_request_exactly);
  tcase_add_test(tc, byte_cap_rolls_back);
  tcase_add_test(tc, one_sample_passes_the_cap_when_alone);
  tcase_add_test(tc, reset_reuses_memory);
  tcase_add_test(tc, consumers_may_replace_tables);
  tcase_add_test(tc, shared_attribute_lists_are_encoded_once_per_add);
  return tc;
}
