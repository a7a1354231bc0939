/* test_attributes.c - the attributes TCase: processor/attributes.c, the
 * attribute actions on sample attributes in the dictionary: every action
 * through the processor, interning (samples that shared a set share the
 * edited one; nothing grows when nothing changes), include/exclude, a
 * request without a dictionary, entries other owners share, random requests
 * through the validator, and the config errors. Every request handed on is
 * checked by pt_check_t (validator, protobuf round trip). */
#include <stdio.h>
#include <string.h>

#include "../pdata/randreq.h"
#include "common.h"

typedef struct {
  pt_check_t next;
  pc_cfg_t *cfg;
  void *inst;
} ap_t;

static void ap_open(ap_t *p, const char *yaml) {
  pt_check_init(&p->next);
  pc_err_t err = {0};
  p->inst = pt_create(&pc_processor_attributes, NULL, yaml, &p->next.c, &p->cfg, &err);
  ck_assert_msg(p->inst != NULL, "%s", err.msg);
}

static void ap_close(ap_t *p) {
  pc_processor_attributes.destroy(p->inst);
  pc_cfg_free(p->cfg);
}

static const char *txt(pt_req_t *r, int res, int i) {
  static char out[8][512];
  static int turn;
  turn = (turn + 1) % 8;
  return pt_attrs_text(&r->req, &r->prof[res].samples[i], out[turn], sizeof out[0]);
}

/* Two samples share a set (in two separate arrays), one has another set,
 * one has none: every action once; the tables grow by exactly the entries
 * the edits need, once each. */
START_TEST(attributes_edit_sample_sets_by_interning) {
  ap_t p;
  ap_open(&p, "actions:\n"
              "  - {key: deployment.environment, value: prod, action: upsert}\n"
              "  - {key: thread.name, pattern: \"^(?P<pool>[a-z]+)-\\\\d+$\", action: extract}\n"
              "  - {key: process.executable.name, action: hash}\n"
              "  - {key: process.pid, action: convert, converted_type: string}\n"
              "  - {key: tmp, action: delete}\n"
              "  - {key: host.name, value: ignored, action: update}\n"
              "  - {key: team, from_context: metadata.x-team, action: insert}\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t pid = pt_attr_i(&r, "process.pid", 7);
  int32_t th = pt_attr_s(&r, "thread.name", "gc-12");
  int32_t exe = pt_attr_strindex(&r, "process.executable.name", "java");
  int32_t tmp = pt_attr_s(&r, "tmp", "x");
  int32_t set1[] = {pid, th, tmp}, set2[] = {th, exe};
  pt_sample(&r, 0, 3, set1);
  pt_sample(&r, 0, 3, set1);
  pt_sample(&r, 0, 2, set2);
  pt_sample(&r, 0, 0, NULL);
  uint32_t strings = r.req.dict.n_strings, attrs = r.req.dict.n_attrs;
  pc_md_pair_t team = {{(const uint8_t *)"X-Team", 6}, {(const uint8_t *)"perf", 4}};
  pc_metadata_t md = {&team, 1};
  r.req.metadata = &md;
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_int_eq(p.next.calls, 1);
  ck_assert_str_eq(txt(&r, 0, 0), "process.pid=7,thread.name=gc-12,deployment.environment=prod,"
                                  "pool=gc,team=perf");
  ck_assert_str_eq(txt(&r, 0, 1), txt(&r, 0, 0));
  ck_assert_str_eq(txt(&r, 0, 2),
                   "thread.name=gc-12,process.executable.name="
                   "38a0963a6364b09ad867aa9a66c6d009673c21e182015461da236ec361877f77,"
                   "deployment.environment=prod,pool=gc,team=perf");
  ck_assert_str_eq(txt(&r, 0, 3), "deployment.environment=prod,team=perf");
  /* One edited list for the two samples of one set. */
  ck_assert_ptr_eq(r.prof[0].samples[0].attribute_indices.v, r.prof[0].samples[1].attribute_indices.v);
  /* Entries: pid "7", prod, pool gc, team perf, the hash: 5 new; the
   * unchanged thread.name entry is the old one. Strings: the three new keys. */
  ck_assert_uint_eq(r.req.dict.n_attrs, attrs + 5);
  ck_assert_uint_eq(r.req.dict.n_strings, strings + 3);
  ck_assert_int_eq(r.prof[0].samples[0].attribute_indices.v[1], th);
  ck_assert_int_eq(r.prof[0].samples[2].attribute_indices.v[0], th);
  /* The same new entry for prod in every set. */
  ck_assert_int_eq(r.prof[0].samples[0].attribute_indices.v[2],
                   r.prof[0].samples[3].attribute_indices.v[0]);
  ck_assert_int_eq(r.prof[0].samples[2].attribute_indices.v[2],
                   r.prof[0].samples[3].attribute_indices.v[0]);
  /* The old entries are as they were. */
  char buf[256];
  pc_sample_t old = {.attribute_indices = {set1, 3}};
  ck_assert_str_eq(pt_attrs_text(&r.req, &old, buf, sizeof buf), "process.pid=i:7,thread.name=gc-12,tmp=x");
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* Actions that change nothing leave the request as it was: same tables,
 * same lists; a value set to what it already is finds its own entry. */
START_TEST(attributes_change_nothing_grows_nothing) {
  ap_t p;
  ap_open(&p, "actions:\n"
              "  - {key: env, value: prod, action: upsert}\n"
              "  - {key: absent, value: x, action: update}\n"
              "  - {key: env, value: other, action: insert}\n"
              "  - {key: pid, action: convert, converted_type: int}\n"
              "  - {key: gone, action: delete}\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t env = pt_attr_s(&r, "env", "prod"), pid = pt_attr_i(&r, "pid", 3);
  int32_t set[] = {env, pid};
  pc_sample_t *s = pt_sample(&r, 0, 2, set);
  const int32_t *list = s->attribute_indices.v;
  const pc_str_t *strings = r.req.dict.strings;
  const pc_attr_t *attrs = r.req.dict.attrs;
  uint32_t ns = r.req.dict.n_strings, na = r.req.dict.n_attrs;
  for (int round = 0; round < 2; round++) {
    pt_send(p.inst, &pc_processor_attributes, &r.req);
    ck_assert_ptr_eq(s->attribute_indices.v, list);
    ck_assert_ptr_eq(r.req.dict.strings, strings);
    ck_assert_ptr_eq(r.req.dict.attrs, attrs);
    ck_assert_uint_eq(r.req.dict.n_strings, ns);
    ck_assert_uint_eq(r.req.dict.n_attrs, na);
  }
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* A key added to a set that other sets already use keeps their string
 * index: the string table does not grow. */
START_TEST(attributes_share_keys_in_use) {
  ap_t p;
  ap_open(&p, "actions: [{key: env, value: prod, action: insert}]\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t dev = pt_attr_s(&r, "env", "dev");
  pt_sample(&r, 0, 1, &dev);
  pt_sample(&r, 0, 0, NULL);
  uint32_t strings = r.req.dict.n_strings;
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_str_eq(txt(&r, 0, 0), "env=dev");
  ck_assert_str_eq(txt(&r, 0, 1), "env=prod");
  ck_assert_uint_eq(r.req.dict.n_strings, strings);
  const pc_attr_t *added = pc_dict_attr(&r.req.dict, r.prof[0].samples[1].attribute_indices.v[0]);
  ck_assert_int_eq(added->key_strindex, r.attrs[dev].key_strindex);
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* An entry that a location also uses is not edited in place: the samples
 * get a new one, the location keeps the old. */
START_TEST(attributes_leave_shared_entries_alone) {
  ap_t p;
  ap_open(&p, "actions: [{key: k, value: new, action: update}]\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t k = pt_attr_s(&r, "k", "old");
  pc_location_t *loc = pc_arena_calloc(r.arena, 2, sizeof *loc);
  int32_t *li = pc_arena_alloc(r.arena, sizeof *li);
  *li = k;
  loc[1].attribute_indices = (pc_i32s_t){li, 1};
  r.req.dict.locations = loc;
  r.req.dict.n_locations = 2;
  pt_sample(&r, 0, 1, &k);
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_str_eq(txt(&r, 0, 0), "k=new");
  const pc_attr_t *a = pc_dict_attr(&r.req.dict, r.req.dict.locations[1].attribute_indices.v[0]);
  ck_assert(pc_str_eq(a->value.u.s, PC_STR_LIT("old")));
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* A request without a dictionary (samples without attributes) gets one,
 * with its zero entries. */
START_TEST(attributes_build_a_dictionary_when_there_is_none) {
  ap_t p;
  ap_open(&p, "actions: [{key: env, value: prod, action: insert}]\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  r.req.has_dictionary = false;
  r.req.dict = (pc_dictionary_t){0};
  pt_sample(&r, 0, 0, NULL);
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert(r.req.has_dictionary);
  ck_assert_uint_eq(r.req.dict.n_strings, 2);
  ck_assert_uint_eq(r.req.dict.strings[0].n, 0);
  ck_assert_uint_eq(r.req.dict.n_attrs, 2);
  ck_assert_int_eq(r.req.dict.attrs[0].key_strindex, 0);
  ck_assert(!r.req.dict.attrs[0].has_value);
  ck_assert_str_eq(txt(&r, 0, 0), "env=prod");
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* include by service, exclude by a sample attribute: only the samples of
 * checkout that are not on the gc thread are edited. */
START_TEST(attributes_include_and_exclude) {
  ap_t p;
  ap_open(&p, "include: {match_type: strict, services: [checkout]}\n"
              "exclude: {match_type: regexp, attributes: [{key: thread.name, value: ^gc}]}\n"
              "actions: [{key: edited, value: true, action: upsert}]\n");
  pt_req_t r;
  pt_req_init(&r, 2);
  pt_resource(&r, 0, "service.name=checkout", NULL);
  pt_resource(&r, 1, "service.name=cart", NULL);
  int32_t gc = pt_attr_s(&r, "thread.name", "gc-1"), web = pt_attr_s(&r, "thread.name", "web-1");
  for (int res = 0; res < 2; res++) {
    pt_sample(&r, res, 1, &gc);
    pt_sample(&r, res, 1, &web);
  }
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_str_eq(txt(&r, 0, 0), "thread.name=gc-1");
  ck_assert_str_eq(txt(&r, 0, 1), "thread.name=web-1,edited=b:1");
  ck_assert_str_eq(txt(&r, 1, 0), "thread.name=gc-1");
  ck_assert_str_eq(txt(&r, 1, 1), "thread.name=web-1");
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* Random valid requests (every table shape, duplicates, strindex values)
 * through a chain of actions stay valid, keep their samples, and set what
 * they say on every sample. */
START_TEST(attributes_keep_random_requests_valid) {
  ap_t p;
  ap_open(&p, "actions:\n"
              "  - {key: added, value: 1, action: upsert}\n"
              "  - {pattern: ^k, action: hash}\n"
              "  - {key: added, action: convert, converted_type: double}\n");
  pc_rng_t rng = {77};
  for (int i = 0; i < 200; i++) {
    pc_arena_t *a = pc_arena_new(0);
    pc_request_t req;
    pc_rand_request(&rng, a, &req);
    uint64_t samples = pc_request_sample_count(&req);
    pt_send(p.inst, &pc_processor_attributes, &req);
    ck_assert_uint_eq(pc_request_sample_count(&req), samples);
    for (uint32_t r = 0; r < req.n_resources; r++)
      for (uint32_t s = 0; s < req.resources[r].n_scopes; s++)
        for (uint32_t k = 0; k < req.resources[r].scopes[s].n_profiles; k++) {
          const pc_profile_t *prof = &req.resources[r].scopes[s].profiles[k];
          for (uint32_t n = 0; n < prof->n_samples; n++) {
            char buf[2048];
            pt_attrs_text(&req, &prof->samples[n], buf, sizeof buf);
            ck_assert_msg(strstr(buf, "added=d:1"), "sample without the edit: %s", buf);
          }
        }
    pc_arena_free(a);
  }
  ck_assert_int_eq(p.next.calls, 200);
  ap_close(&p);
}
END_TEST

/* Short lists are looked up by a packed word (attributes.c list_key): lists
 * that would pack alike if an index past the packing's bits or a fifth
 * index were let in, each get their own answer. The table is grown to
 * 16,400 entries so that 16390 = 16384 + 6: packed without its bound,
 * [16390, 8] and [6, 9] are the same word. */
START_TEST(attributes_tell_short_lists_apart) {
  ap_t p;
  ap_open(&p, "actions: [{key: e, value: \"1\", action: insert}]\n");
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t ka = pt_str(&r, "a"), kb = pt_str(&r, "b"), kf = pt_str(&r, "fill");
  uint32_t n = 16400;
  pc_attr_t *t = pc_arena_calloc(r.arena, n, sizeof *t);
  ck_assert_ptr_nonnull(t);
#define ENTRY(k, v) ((pc_attr_t){.key_strindex = (k), .has_value = true, \
                                 .value = {.type = PC_AV_STRING, .u.s = PC_STR_LIT(v)}})
  for (uint32_t i = 1; i < n; i++) t[i] = ENTRY(kf, "x");
  t[6] = ENTRY(ka, "lo");
  t[16390] = ENTRY(ka, "hi");
  t[8] = ENTRY(kb, "even");
  t[9] = ENTRY(kb, "odd");
#undef ENTRY
  r.req.dict.attrs = t;
  r.req.dict.n_attrs = n;
  int32_t l0[] = {16390, 8}, l1[] = {6, 9}, l2[] = {6, 8, 9, 6}, l3[] = {6, 8, 9, 6, 8};
  pt_sample(&r, 0, 2, l0);
  pt_sample(&r, 0, 2, l1);
  pt_sample(&r, 0, 4, l2);
  pt_sample(&r, 0, 5, l3);
  pt_sample(&r, 0, 2, l1);
  pt_sample(&r, 0, 2, l0);
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_str_eq(txt(&r, 0, 0), "a=hi,b=even,e=1");
  ck_assert_str_eq(txt(&r, 0, 1), "a=lo,b=odd,e=1");
  ck_assert_str_eq(txt(&r, 0, 2), "a=lo,b=even,b=odd,a=lo,e=1");
  ck_assert_str_eq(txt(&r, 0, 3), "a=lo,b=even,b=odd,a=lo,b=even,e=1");
  ck_assert_str_eq(txt(&r, 0, 4), "a=lo,b=odd,e=1");
  ck_assert_str_eq(txt(&r, 0, 5), "a=hi,b=even,e=1");
  ck_assert_ptr_eq(r.prof[0].samples[1].attribute_indices.v, r.prof[0].samples[4].attribute_indices.v);
  ck_assert_ptr_eq(r.prof[0].samples[0].attribute_indices.v, r.prof[0].samples[5].attribute_indices.v);
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* One list in a scope whose exclude's scope part matches (its attributes
 * then decide) and in one where it does not: the same list, two answers. */
START_TEST(attributes_answer_one_list_per_exclude_scope) {
  ap_t p;
  ap_open(&p, "exclude: {match_type: strict, services: [a], attributes: [{key: t, value: x}]}\n"
              "actions: [{key: edited, value: yes, action: insert}]\n");
  pt_req_t r;
  pt_req_init(&r, 2);
  pt_resource(&r, 0, "service.name=a", NULL);
  pt_resource(&r, 1, "service.name=b", NULL);
  int32_t tx = pt_attr_s(&r, "t", "x");
  pt_sample(&r, 0, 1, &tx);
  pt_sample(&r, 1, 1, &tx);
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  ck_assert_str_eq(txt(&r, 0, 0), "t=x");
  ck_assert_str_eq(txt(&r, 1, 0), "t=x,edited=yes");
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

/* Edited entries are remembered by where their value is (intern_attr): one
 * value under many keys (40 copy a's, more than the memo's slots, so some
 * share a slot) or under one key with two units (update keeps each entry's
 * unit) is one entry per key and unit; one value in two sets is one. */
START_TEST(attributes_intern_one_value_by_key_and_unit) {
  ap_t p;
  char yaml[4096];
  int at = snprintf(yaml, sizeof yaml, "actions:\n"
                                       "  - {key: x, value: \"5\", action: update}\n"
                                       "  - {key: a, value: prod, action: upsert}\n");
  for (int i = 0; i < 40; i++)
    at += snprintf(yaml + at, sizeof yaml - (size_t)at,
                   "  - {key: b%d, from_attribute: a, action: upsert}\n", i);
  ap_open(&p, yaml);
  pt_req_t r;
  pt_req_init(&r, 1);
  int32_t ms = pt_str(&r, "ms"), sec = pt_str(&r, "s");
  int32_t x1 = pt_attr_s(&r, "x", "1"), x2 = pt_attr_s(&r, "x", "2");
  r.attrs[x1].unit_strindex = ms;
  r.attrs[x2].unit_strindex = sec;
  pt_sample(&r, 0, 1, &x1);
  pt_sample(&r, 0, 1, &x2);
  uint32_t before = r.req.dict.n_attrs;
  pt_send(p.inst, &pc_processor_attributes, &r.req);
  const pc_i32s_t l0 = r.prof[0].samples[0].attribute_indices;
  const pc_i32s_t l1 = r.prof[0].samples[1].attribute_indices;
  ck_assert_uint_eq(l0.n, 42);
  ck_assert_uint_eq(l1.n, 42);
  for (uint32_t i = 1; i < 42; i++) {
    char want[16];
    snprintf(want, sizeof want, i == 1 ? "a" : "b%u", i - 2);
    const pc_attr_t *e = &r.req.dict.attrs[l0.v[i]];
    pc_str_t k = pc_dict_string(&r.req.dict, e->key_strindex);
    ck_assert_msg(pc_str_eq(k, (pc_str_t){(const uint8_t *)want, strlen(want)}),
                  "entry %u has key %.*s, not %s", i, (int)k.n, (const char *)k.p, want);
    ck_assert_int_eq(l0.v[i], l1.v[i]); /* one entry per key in both sets */
  }
  ck_assert_int_ne(l0.v[0], l1.v[0]); /* x=5 in ms and in s: two entries */
  ck_assert_int_eq(r.req.dict.attrs[l0.v[0]].unit_strindex, ms);
  ck_assert_int_eq(r.req.dict.attrs[l1.v[0]].unit_strindex, sec);
  ck_assert_uint_eq(r.req.dict.n_attrs, before + 43);
  ap_close(&p);
  pt_req_free(&r);
}
END_TEST

START_TEST(attributes_config_errors_are_exact) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"include: {match_type: strict, services: [a]}\n",
       "test.yaml:1:1: needs actions: a list of one or more actions"},
      {"actions: []\n", "test.yaml:1:10: actions: must be a list of one or more actions"},
      {"actions: {key: a}\n", "test.yaml:1:10: actions: must be a list of one or more actions"},
      {"actions: [{key: a, action: upsert, value: 1}]\ninclude: [a]\n",
       "test.yaml:2:10: include: must be a map with match_type and at least one of services, "
       "resources, libraries and attributes"},
      {"action: [{key: a, action: upsert, value: 1}]\n",
       "test.yaml:1:1: action: unknown key \"action\"; did you mean \"actions\"?"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    pt_refused_exactly(&pc_processor_attributes, bad[i].yaml, bad[i].want);
}
END_TEST

TCase *pc_test_attributes_tcase(void) {
  TCase *tc = tcase_create("attributes");
  tcase_add_test(tc, attributes_edit_sample_sets_by_interning);
  tcase_add_test(tc, attributes_change_nothing_grows_nothing);
  tcase_add_test(tc, attributes_share_keys_in_use);
  tcase_add_test(tc, attributes_leave_shared_entries_alone);
  tcase_add_test(tc, attributes_build_a_dictionary_when_there_is_none);
  tcase_add_test(tc, attributes_include_and_exclude);
  tcase_add_test(tc, attributes_keep_random_requests_valid);
  tcase_add_test(tc, attributes_tell_short_lists_apart);
  tcase_add_test(tc, attributes_answer_one_list_per_exclude_scope);
  tcase_add_test(tc, attributes_intern_one_value_by_key_and_unit);
  tcase_add_test(tc, attributes_config_errors_are_exact);
  return tc;
}
