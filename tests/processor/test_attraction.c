/* test_attraction.c - the attraction TCase: processor/attraction.c, the
 * Collector's attribute actions on a pc__amap_t, value by value as the
 * Collector's attraction, hasher and type_converter define them (hash
 * vectors computed with Python's hashlib). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct {
  pc_cfg_t *cfg;
  pc__actions_t *as;
  pc__amap_t m;
  pc_arena_t *arena;
  char text[1024];
} ax_t;

static void ax_open(ax_t *x, const char *actions_yaml) {
  memset(x, 0, sizeof *x);
  char yaml[2048];
  snprintf(yaml, sizeof yaml, "a:\n%s", actions_yaml);
  pc_err_t err = {0};
  x->cfg = pc_cfg_load_string("test.yaml", yaml, &err);
  ck_assert_msg(x->cfg != NULL, "%s", err.msg);
  x->as = pc__actions_parse(pc_cfg_get(pc_cfg_root(x->cfg), "a"), &err);
  ck_assert_msg(x->as != NULL, "%s", err.msg);
  x->arena = pc_arena_new(0);
}

static void ax_close(ax_t *x) {
  pc__actions_free(x->as);
  pc__amap_free(&x->m);
  pc_cfg_free(x->cfg);
  pc_arena_free(x->arena);
}

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }
static void put_s(ax_t *x, const char *k, const char *v) {
  pc__amap_push(&x->m, S(k), (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = S(v)}, (int32_t)x->m.n);
}
static void put_v(ax_t *x, const char *k, pc_anyvalue_t v) {
  pc__amap_push(&x->m, S(k), v, (int32_t)x->m.n);
}

/* The map as "k=v" with types as common.c writes them (s: strings plain). */
static const char *text(ax_t *x) {
  size_t o = 0;
  x->text[0] = 0;
  for (uint32_t i = 0; i < x->m.n; i++) {
    const pc__am_entry_t *e = &x->m.v[i];
    o += (size_t)snprintf(x->text + o, sizeof x->text - o, "%s%.*s=", i ? "," : "",
                          (int)e->key.n, (const char *)e->key.p);
    char buf[64];
    pc_str_t t;
    if (e->value.type == PC_AV_STRING)
      o += (size_t)snprintf(x->text + o, sizeof x->text - o, "%.*s", (int)e->value.u.s.n,
                            (const char *)e->value.u.s.p);
    else if (pc__value_text(&e->value, buf, &t))
      o += (size_t)snprintf(x->text + o, sizeof x->text - o, "%c:%.*s",
                            e->value.type == PC_AV_INT ? 'i' : e->value.type == PC_AV_DOUBLE ? 'd' : 'b',
                            (int)t.n, (const char *)t.p);
    else
      o += (size_t)snprintf(x->text + o, sizeof x->text - o, "?%d", (int)e->value.type);
  }
  return x->text;
}

static void apply(ax_t *x, const pc_metadata_t *md) {
  ck_assert_int_eq(pc__actions_apply(x->as, &x->m, md, NULL, x->arena), 0);
}

START_TEST(attraction_sets_values_as_the_collector) {
  ax_t x;
  ax_open(&x, "  - {key: env, value: prod, action: insert}\n"
              "  - {key: env, value: dev, action: insert}\n"          /* present: no-op */
              "  - {key: missing, value: 1, action: update}\n"        /* absent: no-op */
              "  - {key: host, value: 42, action: UPDATE}\n"          /* any case */
              "  - {key: copy, from_attribute: env, action: upsert}\n"
              "  - {key: nope, from_attribute: absent, action: upsert}\n"
              "  - {key: region, from_attribute: absent, default_value: eu, action: insert}\n"
              "  - {key: tenant, from_context: metadata.x-tenant, action: upsert}\n"
              "  - {key: solo, from_context: metadata.x-one, action: upsert}\n"
              "  - {key: none, from_context: metadata.x-none, action: upsert}\n"
              "  - {key: dflt, default_value: 0.5, action: upsert}\n"
              "  - {key: on, value: true, action: upsert}\n"
              "  - {key: q, value: \"7\", action: upsert}\n"
              "  - {key: gone, action: delete}\n");
  put_s(&x, "host", "h1");
  put_s(&x, "gone", "x");
  pc_md_pair_t pairs[] = {{S("X-Tenant"), S("a")}, {S("x-tenant"), S("b")}, {S("x-one"), S("1")}};
  pc_metadata_t md = {pairs, 3};
  apply(&x, &md);
  ck_assert_str_eq(text(&x), "host=i:42,env=prod,copy=prod,region=eu,tenant=a;b,solo=1,"
                             "dflt=d:0.5,on=b:true,q=7");
  ck_assert(x.m.changed);
  /* Loaded entries keep their origin; set and added ones say so. */
  ck_assert_int_eq(x.m.v[0].src, 0);
  ck_assert(x.m.v[0].set);
  ck_assert_int_eq(x.m.v[1].src, -1);
  ax_close(&x);
}
END_TEST

START_TEST(attraction_hashes_with_sha256_as_the_collector) {
  ax_t x;
  ax_open(&x, "  - {key: s, action: hash}\n"
              "  - {key: i, action: hash}\n"
              "  - {key: b, action: hash}\n"
              "  - {key: d, action: hash}\n"
              "  - {key: empty, action: hash}\n"
              "  - {key: absent, action: hash}\n"
              "  - {pattern: ^secret\\., action: hash}\n");
  put_s(&x, "s", "abc");
  put_v(&x, "i", (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 1});
  put_v(&x, "b", (pc_anyvalue_t){.type = PC_AV_BOOL, .u.b = true});
  put_v(&x, "d", (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = 1.5});
  put_s(&x, "empty", "");
  put_s(&x, "secret.a", "abc");
  put_s(&x, "not.secret.b", "abc");
  apply(&x, NULL);
  ck_assert_str_eq(text(&x),
                   "s=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,"
                   "i=7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8,"
                   "b=4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a,"
                   "d=e163f8cb0f7067a7fc78ca859a77f849aea3214f38fb75b884e4a16be725c905,"
                   "empty=,"
                   "secret.a=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,"
                   "not.secret.b=abc");
  ax_close(&x);
}
END_TEST

START_TEST(attraction_deletes_by_key_and_pattern) {
  ax_t x;
  ax_open(&x, "  - {key: a, pattern: ^tmp_, action: delete}\n");
  put_s(&x, "a", "1");
  put_s(&x, "tmp_x", "2");
  put_s(&x, "keep", "3");
  put_s(&x, "tmp_y", "4");
  put_s(&x, "x_tmp_", "5"); /* unanchored would match "tmp_" in it: ^ anchors */
  apply(&x, NULL);
  ck_assert_str_eq(text(&x), "keep=3,x_tmp_=5");
  ck_assert_int_eq(x.m.v[0].src, 2);
  ax_close(&x);
}
END_TEST

START_TEST(attraction_extracts_named_groups) {
  ax_t x;
  ax_open(&x, "  - key: url\n"
              "    pattern: ^(?P<scheme>[a-z]+)://(?<host>[^/:]+)(?::(?P<port>\\d+))?/\n"
              "    action: extract\n"
              "  - {key: n, pattern: (?P<digit>\\d), action: extract}\n");
  put_s(&x, "url", "https://example.com/path");
  put_s(&x, "host", "old"); /* overwritten, as the Collector's PutStr */
  put_v(&x, "n", (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 5}); /* not a string: left */
  apply(&x, NULL);
  ck_assert_str_eq(text(&x), "url=https://example.com/path,host=example.com,n=i:5,"
                             "scheme=https,port=");
  pc__amap_clear(&x.m);
  put_s(&x, "url", "not a url");
  apply(&x, NULL);
  ck_assert_str_eq(text(&x), "url=not a url");
  ck_assert(!x.m.changed);
  ax_close(&x);
}
END_TEST

static const char *convert_one(const char *type, pc_anyvalue_t v) {
  static char out[256];
  ax_t x;
  char yaml[128];
  snprintf(yaml, sizeof yaml, "  - {key: k, action: convert, converted_type: %s}\n", type);
  ax_open(&x, yaml);
  put_v(&x, "k", v);
  apply(&x, NULL);
  snprintf(out, sizeof out, "%s", text(&x) + 2);
  ax_close(&x);
  return out;
}

#define STR(x) ((pc_anyvalue_t){.type = PC_AV_STRING, .u.s = {(const uint8_t *)(x), sizeof(x) - 1}})
#define INT(x) ((pc_anyvalue_t){.type = PC_AV_INT, .u.i = (x)})
#define DBL(x) ((pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = (x)})
#define BOOL(x) ((pc_anyvalue_t){.type = PC_AV_BOOL, .u.b = (x)})

START_TEST(attraction_converts_as_the_collector) {
  const struct {
    const char *to;
    pc_anyvalue_t v;
    const char *want;
  } cases[] = {
      {"int", STR("42"), "i:42"},
      {"int", STR("+7"), "i:7"},
      {"int", STR("-9223372036854775808"), "i:-9223372036854775808"},
      {"int", STR("9223372036854775808"), "9223372036854775808"}, /* out of range: kept */
      {"int", STR(" 1"), " 1"},                                   /* Go takes no spaces */
      {"int", STR("1.5"), "1.5"},
      {"int", DBL(3.9), "i:3"},
      {"int", DBL(-3.9), "i:-3"},
      {"int", DBL(NAN), "i:-9223372036854775808"},
      {"int", BOOL(true), "i:1"},
      {"double", STR("1e3"), "d:1000"},
      {"double", STR("0x1p-2"), "d:0.25"},
      {"double", STR("inf"), "d:json: unsupported value: +Inf"},
      {"double", STR("1e400"), "1e400"}, /* out of range: kept */
      {"double", STR("nan(1)"), "nan(1)"},
      {"double", INT(-2), "d:-2"},
      {"double", BOOL(false), "d:0"},
      {"string", DBL(0.1), "0.1"},
      {"string", DBL(1e21), "1e+21"},
      {"string", DBL(1e20), "100000000000000000000"},
      {"string", DBL(1e-7), "1e-7"},
      {"string", DBL(0.000001), "0.000001"},
      {"string", DBL(123456789.0), "123456789"},
      {"string", DBL(-0.0), "-0"},
      {"string", INT(42), "42"},
      {"string", BOOL(true), "true"},
      {"string", ((pc_anyvalue_t){.type = PC_AV_BYTES, .u.s = {(const uint8_t *)"\0\xff" "ab", 4}}),
       "AP9hYg=="},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = convert_one(cases[i].to, cases[i].v);
    ck_assert_msg(!strcmp(got, cases[i].want), "case %zu (%s): got %s, want %s", i,
                  cases[i].to, got, cases[i].want);
  }
}
END_TEST

START_TEST(attraction_converts_lists_and_maps_to_json) {
  pc_keyvalue_t kvs[2] = {
      {.key = S("z"), .has_value = true, .value = INT(1)},
      {.key = S("a"), .has_value = true, .value = STR("x\"y")},
  };
  pc_anyvalue_t items[3] = {BOOL(true), DBL(2.5), {.type = PC_AV_KVLIST, .u.kvlist = {kvs, 2}}};
  pc_anyvalue_t list = {.type = PC_AV_ARRAY, .u.array = {items, 3}};
  ck_assert_str_eq(convert_one("string", list), "[true,2.5,{\"a\":\"x\\\"y\",\"z\":1}]");
}
END_TEST

/* Every invalid action, through the resource processor (whose list is
 * `attributes`), with the exact message: file:line:col, path, what. */
START_TEST(attraction_config_errors_are_exact) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"attributes:\n  - {key: a, value: 1, action: hsh}\n",
       "test.yaml:2:32: attributes[0].action: action \"hsh\": want insert, update, upsert, "
       "delete, hash, extract or convert; did you mean \"hash\"?"},
      {"attributes:\n  - {key: a, value: 1}\n",
       "test.yaml:2:5: attributes[0]: needs an action: insert, update, upsert, delete, hash, "
       "extract or convert"},
      {"attributes:\n  - {value: 1, action: insert}\n",
       "test.yaml:2:5: attributes[0]: needs a non-empty key"},
      {"attributes:\n  - {action: hash}\n",
       "test.yaml:2:5: attributes[0]: hash needs a key, a pattern or both"},
      {"attributes:\n  - {key: a, action: upsert}\n",
       "test.yaml:2:5: attributes[0]: upsert needs exactly one of value, from_attribute and "
       "from_context (or only a default_value)"},
      {"attributes:\n  - {key: a, value: 1, from_attribute: b, action: insert}\n",
       "test.yaml:2:5: attributes[0]: insert needs exactly one of value, from_attribute and "
       "from_context (or only a default_value)"},
      {"attributes:\n  - {key: a, value: 1, action: delete}\n",
       "test.yaml:2:14: attributes[0].value: delete takes no value (insert, update and upsert "
       "do)"},
      {"attributes:\n  - {key: a, from_context: metadata.x, action: hash}\n",
       "test.yaml:2:14: attributes[0].from_context: hash takes no from_context (insert, update "
       "and upsert do)"},
      {"attributes:\n  - {key: a, value: 1, pattern: x, action: insert}\n",
       "test.yaml:2:24: attributes[0].pattern: insert takes no pattern (delete, hash and extract "
       "do)"},
      {"attributes:\n  - {key: a, converted_type: int, action: upsert, value: 1}\n",
       "test.yaml:2:14: attributes[0].converted_type: upsert takes no converted_type (convert "
       "does)"},
      {"attributes:\n  - {key: a, from_context: x-tenant, action: insert}\n",
       "test.yaml:2:28: attributes[0].from_context: must be metadata.<key>: a client metadata "
       "key (the receiver's include_metadata)"},
      {"attributes:\n  - {key: a, value: [1], action: insert}\n",
       "test.yaml:2:21: attributes[0].value: must be a string, number or bool"},
      {"attributes:\n  - {key: a, action: extract}\n",
       "test.yaml:2:5: attributes[0]: extract needs a pattern with named groups, as "
       "(?P<name>...)"},
      {"attributes:\n  - {key: a, pattern: \"a+\", action: extract}\n",
       "test.yaml:2:23: attributes[0].pattern: pattern has no named groups: extract sets one "
       "attribute per group, named as (?P<name>...)"},
      {"attributes:\n  - {key: a, pattern: \"(?P<x>a)(b)\", action: extract}\n",
       "test.yaml:2:23: attributes[0].pattern: group 2 of the pattern has no name: every group "
       "of an extract pattern names the attribute it sets (group with (?:...) instead)"},
      {"attributes:\n  - {key: a, pattern: \"(?P<x>a\", action: extract}\n",
       "test.yaml:2:23: attributes[0].pattern: invalid regular expression \"(?P<x>a\": missing "
       "closing parenthesis at offset 7"},
      {"attributes:\n  - {key: a, action: convert}\n",
       "test.yaml:2:5: attributes[0]: convert needs converted_type: int, double or string"},
      {"attributes:\n  - {key: a, action: convert, converted_type: float}\n",
       "test.yaml:2:47: attributes[0].converted_type: converted_type \"float\": want int, "
       "double or string"},
      {"attributes:\n  - {key: a, vaule: 1, action: insert}\n",
       "test.yaml:2:14: attributes[0].vaule: unknown key \"vaule\"; did you mean \"value\"?"},
      {"attributes:\n  - just-a-key\n",
       "test.yaml:2:5: attributes[0]: must be a map: {key: K, value: V, action: upsert}"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    pt_refused_exactly(&pc_processor_resource, bad[i].yaml, bad[i].want);
}
END_TEST

TCase *pc_test_attraction_tcase(void) {
  TCase *tc = tcase_create("attraction");
  tcase_add_test(tc, attraction_sets_values_as_the_collector);
  tcase_add_test(tc, attraction_hashes_with_sha256_as_the_collector);
  tcase_add_test(tc, attraction_deletes_by_key_and_pattern);
  tcase_add_test(tc, attraction_extracts_named_groups);
  tcase_add_test(tc, attraction_converts_as_the_collector);
  tcase_add_test(tc, attraction_converts_lists_and_maps_to_json);
  tcase_add_test(tc, attraction_config_errors_are_exact);
  return tc;
}
