/* test_workload.c - the bench suite: the workload generator (bench/workload.c)
 * that every benchmark and the one benchmark command (bench/run.sh) run on.
 * Timings are never tested; what is: the generator's size model agrees with
 * the real encoder (it steers to the target with it), the output is
 * deterministic, the dictionary shape is byte-identical to what it always
 * was, and the samples shape is what it claims (thousands of samples over a
 * few hundred stacks, linked, with thread attributes). */
#include <check.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "../bench/warm_malloc.h"
#include "../bench/workload.h"
#include "../core/core.h"

typedef struct {
  pc_arena_t *a;
  pc_request_t req;
  pc_buf_t pb;
} built_t;

static void build(const pc_workload_opts_t *o, built_t *b) {
  b->a = pc_arena_new(1 << 20);
  ck_assert_int_eq(pc_workload_build(b->a, o, &b->req), 0);
  b->pb = (pc_buf_t){0};
  ck_assert_int_eq(pc_proto_encode(&b->req, &b->pb), 0);
}

static void built_free(built_t *b) {
  pc_buf_free(&b->pb);
  pc_arena_free(b->a);
}

static const size_t sizes[] = {10000, 50000, 200000, 1000000};

/* The model the generator steers by is the encoder's size, for both shapes,
 * every size and a few seeds; the payload decodes (and so validates) and
 * holds no duplicate or unreferenced dictionary entry. */
START_TEST(model_agrees_with_encoder) {
  pc_workload_shape_t shape = _i % 2 ? PC_WORKLOAD_SAMPLES : PC_WORKLOAD_DICTIONARY;
  size_t target = sizes[(_i / 2) % 4];
  for (uint64_t seed = 1; seed <= 3; seed++) {
    pc_workload_opts_t o = {.seed = seed, .target_bytes = target, .shape = shape};
    built_t b;
    build(&o, &b);
    ck_assert_uint_eq(pc_workload_encoded_size(&b.req), b.pb.n);
    ck_assert_uint_le(b.pb.n, target);
    ck_assert_uint_ge(b.pb.n, target - target / 20);
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t back;
    pc_err_t err = {0};
    ck_assert_msg(pc_proto_decode(a, b.pb.p, b.pb.n, &back, &err) == 0, "%s", err.msg);
    pc_stats_t st;
    ck_assert_int_eq(pc_pdata_stats(&b.req, &st), 0);
    for (int t = 0; t < 7; t++) {
      ck_assert_msg(st.tables[t].duplicates == 0, "%s: %u duplicates", st.tables[t].name,
                    st.tables[t].duplicates);
      ck_assert_msg(st.tables[t].unreferenced == 0, "%s: %u unreferenced", st.tables[t].name,
                    st.tables[t].unreferenced);
    }
    pc_arena_free(a);
    built_free(&b);
  }
}
END_TEST

START_TEST(deterministic) {
  pc_workload_opts_t o = {.seed = 7, .target_bytes = 200000, .hosts = 3,
                          .shape = _i ? PC_WORKLOAD_SAMPLES : PC_WORKLOAD_DICTIONARY};
  built_t x, y;
  build(&o, &x);
  build(&o, &y);
  ck_assert_uint_eq(x.pb.n, y.pb.n);
  ck_assert(memcmp(x.pb.p, y.pb.p, x.pb.n) == 0);
  built_free(&x);
  built_free(&y);
}
END_TEST

/* Payloads named by seed and size (fixtures, fuzz seeds, figures in
 * bench/README.md) must not change when the generator grows: the
 * dictionary shape's bytes are pinned. */
START_TEST(dictionary_shape_is_pinned) {
  static const struct {
    uint64_t seed;
    size_t size;
    size_t n;
    uint64_t hash;
  } pins[] = {
      {1, 10000, 9951, 0x7ce4b571ee9bead5u},
      {1, 200000, 199982, 0x7c687c85f60c3e09u},
      {2, 1000000, 999995, 0x26798e831f9bd1d9u},
  };
  for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
    pc_workload_opts_t o = {.seed = pins[i].seed, .target_bytes = pins[i].size};
    built_t b;
    build(&o, &b);
    uint64_t h = pc_hash64(b.pb.p, b.pb.n);
    ck_assert_msg(b.pb.n == pins[i].n && h == pins[i].hash,
                  "seed %llu size %zu: %zu bytes, hash 0x%016llx", (unsigned long long)pins[i].seed,
                  pins[i].size, b.pb.n, (unsigned long long)h);
    built_free(&b);
  }
}
END_TEST

/* What the samples shape promises at 200 KB (seeds 1-5): about 5,000
 * samples over 100-200 stacks, most of the bytes in the samples, most
 * samples of traced services linked (several samples per trace), every
 * sample a timestamp per event and a thread.name + thread.id. */
START_TEST(samples_shape) {
  for (uint64_t seed = 1; seed <= 5; seed++) {
    pc_workload_opts_t o = {.seed = seed, .target_bytes = 200000, .shape = PC_WORKLOAD_SAMPLES};
    built_t b;
    build(&o, &b);
    const pc_dictionary_t *d = &b.req.dict;
    uint64_t samples = 0, linked = 0;
    for (uint32_t r = 0; r < b.req.n_resources; r++) {
      const pc_profile_t *p = &b.req.resources[r].scopes[0].profiles[0];
      for (uint32_t s = 0; s < p->n_samples; s++) {
        const pc_sample_t *sm = &p->samples[s];
        ck_assert_uint_ge(sm->n_timestamps, 1);
        ck_assert_uint_eq(sm->n_timestamps, sm->n_values);
        ck_assert_uint_ge(sm->attribute_indices.n, 1);
        const pc_attr_t *tid = &d->attrs[sm->attribute_indices.v[sm->attribute_indices.n - 1]];
        ck_assert(pc_str_eq(d->strings[tid->key_strindex], PC_STR_LIT("thread.id")));
        ck_assert_int_eq(tid->value.type, PC_AV_INT);
        linked += sm->link_index != 0;
      }
      samples += p->n_samples;
    }
    ck_assert_msg(samples >= 4000 && samples <= 6500, "seed %llu: %llu samples",
                  (unsigned long long)seed, (unsigned long long)samples);
    ck_assert_msg(d->n_stacks >= 80 && d->n_stacks <= 400, "seed %llu: %u stacks",
                  (unsigned long long)seed, d->n_stacks);
    ck_assert_uint_ge(linked, samples / 2);
    ck_assert_uint_lt(d->n_links, linked / 3); /* a span covers several samples */
    /* the samples' share: encode the request without its dictionary */
    pc_request_t tree = b.req;
    tree.has_dictionary = false;
    pc_buf_t t = {0};
    ck_assert_int_eq(pc_proto_encode(&tree, &t), 0);
    ck_assert_uint_gt(t.n, b.pb.n / 2);
    pc_buf_free(&t);
    built_free(&b);
  }
}
END_TEST

START_TEST(bad_options) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_workload_opts_t o = {.seed = 1, .shape = (pc_workload_shape_t)2};
  ck_assert_int_eq(pc_workload_build(a, &o, &req), PC_EINVAL);
  o = (pc_workload_opts_t){.seed = 1, .target_bytes = PC_WORKLOAD_MAX_BYTES + 1};
  ck_assert_int_eq(pc_workload_build(a, &o, &req), PC_EINVAL);
  pc_arena_free(a);
}
END_TEST

/* The benchmarks' malloc starts where a warm server's is (warm_malloc.c):
 * a block of 512 KiB comes from the heap, where glibc's start threshold of
 * 128 KiB would map it (and fault it in afresh at every use); a 64 MiB one
 * is still mapped. Under AddressSanitizer malloc is ASan's: nothing to
 * check. */
START_TEST(warm_malloc_keeps_mid_sized_blocks_in_the_heap) {
  pc_warm_malloc();
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  const char *tunables = getenv("GLIBC_TUNABLES");
  if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_") ||
      (tunables && strstr(tunables, "glibc.malloc.")))
    return; /* the environment's thresholds win, as intended */
  int mapped = mallinfo2().hblks; /* blocks mapped on their own */
  void *mid = malloc((size_t)512 << 10);
  ck_assert_ptr_nonnull(mid);
  ck_assert_int_eq(mallinfo2().hblks, mapped);
  void *big = malloc((size_t)64 << 20);
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(mallinfo2().hblks, mapped + 1);
  free(big);
  free(mid);
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("workload");
  TCase *tc = tcase_create("workload");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, model_agrees_with_encoder, 0, 8);
  tcase_add_loop_test(tc, deterministic, 0, 2);
  tcase_add_test(tc, dictionary_shape_is_pinned);
  tcase_add_test(tc, samples_shape);
  tcase_add_test(tc, bad_options);
  tcase_add_test(tc, warm_malloc_keeps_mid_sized_blocks_in_the_heap);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
