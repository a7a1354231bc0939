/* testdata.c - fixtures shared by the pdata test cases. */
#include "testdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *alloc(pc_arena_t *a, size_t count, size_t size) {
  void *p = pc_arena_calloc(a, count, size);
  ck_assert_ptr_nonnull(p);
  return p;
}

static pc_str_t s(const char *c) { return (pc_str_t){(const uint8_t *)c, strlen(c)}; }
/* Bytes that may hold NULs: a string literal, all of it. */
#define BYTES(lit) ((pc_str_t){(const uint8_t *)(lit), sizeof(lit) - 1})

static pc_i32s_t i32s(pc_arena_t *a, int n, const int32_t *v) {
  int32_t *p = alloc(a, (size_t)n, sizeof *p);
  memcpy(p, v, (size_t)n * sizeof *p);
  return (pc_i32s_t){p, (uint32_t)n};
}

/* An AnyValue of each kind, nested, with inline and indexed strings. */
static pc_kvs_t rich_kvs(pc_arena_t *a) {
  pc_keyvalue_t *kv = alloc(a, 8, sizeof *kv);
  kv[0] = (pc_keyvalue_t){.key = s("service.name"), .has_value = true,
                          .value = {.type = PC_AV_STRING, .u.s = s("checkout")}};
  kv[1] = (pc_keyvalue_t){.key = s("host.cpu.count"), .has_value = true,
                          .value = {.type = PC_AV_INT, .u.i = -42}};
  kv[2] = (pc_keyvalue_t){.key = s("ratio"), .has_value = true,
                          .value = {.type = PC_AV_DOUBLE, .u.d = 0.25}};
  kv[3] = (pc_keyvalue_t){.key = s("enabled"), .has_value = true,
                          .value = {.type = PC_AV_BOOL, .u.b = true}};
  kv[4] = (pc_keyvalue_t){.key = s("blob"), .has_value = true,
                          .value = {.type = PC_AV_BYTES, .u.s = s("\x01\x02\xff")}};
  pc_anyvalue_t *arr = alloc(a, 3, sizeof *arr);
  arr[0] = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = s("x")};
  arr[1] = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = 0}; /* oneof zero is kept */
  arr[2] = (pc_anyvalue_t){.type = PC_AV_STRINDEX, .u.strindex = 3};
  kv[5] = (pc_keyvalue_t){.key = s("list"), .has_value = true,
                          .value = {.type = PC_AV_ARRAY, .u.array = {arr, 3}}};
  pc_keyvalue_t *inner = alloc(a, 2, sizeof *inner);
  inner[0] = (pc_keyvalue_t){.key_strindex = 4, .has_value = true,
                             .value = {.type = PC_AV_BOOL, .u.b = false}};
  inner[1] = (pc_keyvalue_t){.key = s("empty")}; /* no value at all */
  kv[6] = (pc_keyvalue_t){.key = s("map"), .has_value = true,
                          .value = {.type = PC_AV_KVLIST, .u.kvlist = {inner, 2}}};
  kv[7] = (pc_keyvalue_t){.key_strindex = 5, .has_value = true,
                          .value = {.type = PC_AV_STRINDEX, .u.strindex = 6}};
  return (pc_kvs_t){kv, 8};
}

void pc_test_rich_request(pc_arena_t *a, pc_request_t *req) {
  memset(req, 0, sizeof *req);
  req->arena = a;
  req->has_dictionary = true;
  pc_dictionary_t *d = &req->dict;

  static const char *strings[] = {"", "main", "libc.so.6", "/src/main.c", "k.inner",
                                  "thread.name", "worker-1", "cpu", "nanoseconds",
                                  "samples", "count", "_start", "ünïcode ✓", "bytes"};
  d->n_strings = sizeof strings / sizeof strings[0];
  d->strings = alloc(a, d->n_strings, sizeof *d->strings);
  for (uint32_t i = 0; i < d->n_strings; i++) d->strings[i] = s(strings[i]);

  d->n_mappings = 2;
  d->mappings = alloc(a, 2, sizeof *d->mappings);
  d->mappings[1] = (pc_mapping_t){.memory_start = 0x400000, .memory_limit = 0x7fffffffffffULL,
                                  .file_offset = 0x1000, .filename_strindex = 2,
                                  .attribute_indices = i32s(a, 1, (int32_t[]){1})};

  d->n_functions = 3;
  d->functions = alloc(a, 3, sizeof *d->functions);
  d->functions[1] = (pc_function_t){1, 1, 3, 10};
  d->functions[2] = (pc_function_t){11, 11, 0, -1};

  d->n_locations = 3;
  d->locations = alloc(a, 3, sizeof *d->locations);
  pc_line_t *lines = alloc(a, 2, sizeof *lines);
  lines[0] = (pc_line_t){2, 7, 3};
  lines[1] = (pc_line_t){1, 20, 0};
  d->locations[1] = (pc_location_t){.mapping_index = 1, .address = 0x401234,
                                    .lines = lines, .n_lines = 2,
                                    .attribute_indices = i32s(a, 2, (int32_t[]){1, 2})};
  d->locations[2] = (pc_location_t){.mapping_index = 1, .address = UINT64_MAX};

  d->n_links = 2;
  d->links = alloc(a, 2, sizeof *d->links);
  d->links[1] = (pc_link_t){
      BYTES("\x5b\x8e\xfe\xf8\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"),
      BYTES("\xaa\xbb\xcc\xdd\xee\xff\x00\x11")};

  d->n_attrs = 3;
  d->attrs = alloc(a, 3, sizeof *d->attrs);
  d->attrs[1] = (pc_attr_t){.key_strindex = 5, .has_value = true,
                            .value = {.type = PC_AV_STRING, .u.s = s("worker-1")}};
  d->attrs[2] = (pc_attr_t){.key_strindex = 13, .has_value = true, .unit_strindex = 13,
                            .value = {.type = PC_AV_INT, .u.i = INT64_MIN}};

  d->n_stacks = 3;
  d->stacks = alloc(a, 3, sizeof *d->stacks);
  d->stacks[1].location_indices = i32s(a, 2, (int32_t[]){1, 2});
  d->stacks[2].location_indices = i32s(a, 1, (int32_t[]){2});

  req->n_resources = 2;
  req->resources = alloc(a, 2, sizeof *req->resources);
  pc_resource_profiles_t *rp = &req->resources[0];
  rp->has_resource = true;
  rp->resource.attributes = rich_kvs(a);
  rp->resource.dropped_attributes_count = 2;
  rp->resource.n_entity_refs = 1;
  rp->resource.entity_refs = alloc(a, 1, sizeof *rp->resource.entity_refs);
  pc_str_t *keys = alloc(a, 2, sizeof *keys);
  keys[0] = s("service.name");
  keys[1] = s("service.namespace");
  rp->resource.entity_refs[0] = (pc_entity_ref_t){
      .schema_url = s("https://opentelemetry.io/schemas/1.30.0"), .type = s("service"),
      .id_keys = {keys, 2}, .description_keys = {keys, 1}};
  rp->schema_url = s("https://opentelemetry.io/schemas/1.30.0");

  rp->n_scopes = 1;
  rp->scopes = alloc(a, 1, sizeof *rp->scopes);
  pc_scope_profiles_t *sp = &rp->scopes[0];
  sp->has_scope = true;
  sp->scope = (pc_scope_t){.name = s("otel-ebpf-profiler"), .version = s("v0.0.1"),
                           .attributes = {rich_kvs(a).v, 2}, .dropped_attributes_count = 1};
  sp->schema_url = s("https://example.com/scope");

  sp->n_profiles = 2;
  sp->profiles = alloc(a, 2, sizeof *sp->profiles);
  pc_profile_t *p = &sp->profiles[0];
  p->has_sample_type = true;
  p->sample_type = (pc_valuetype_t){9, 10};
  p->has_period_type = true;
  p->period_type = (pc_valuetype_t){7, 8};
  p->period = 50000000;
  p->time_unix_nano = 1700000000123456789ULL;
  p->duration_nano = 10000000000ULL;
  p->profile_id = s("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef");
  p->dropped_attributes_count = 3;
  p->original_payload_format = s("pprof");
  p->original_payload = BYTES("\x1f\x8b\x00\x00");
  p->attribute_indices = i32s(a, 1, (int32_t[]){1});
  p->n_samples = 3;
  p->samples = alloc(a, 3, sizeof *p->samples);
  int64_t *v = alloc(a, 2, sizeof *v);
  v[0] = 5;
  v[1] = -1;
  uint64_t *ts = alloc(a, 2, sizeof *ts);
  ts[0] = 1700000000000000001ULL;
  ts[1] = UINT64_MAX;
  p->samples[0] = (pc_sample_t){.stack_index = 1, .attribute_indices = i32s(a, 2, (int32_t[]){1, 2}),
                                .link_index = 1, .values = v, .n_values = 2,
                                .timestamps_unix_nano = ts, .n_timestamps = 2};
  p->samples[1] = (pc_sample_t){.stack_index = 2, .values = v, .n_values = 1};
  p->samples[2] = (pc_sample_t){.stack_index = 0, .timestamps_unix_nano = ts, .n_timestamps = 1};
  /* An empty profile: every field at its default. */
  sp->profiles[1] = (pc_profile_t){0};

  /* A resource without resource or scope messages at all. */
  pc_resource_profiles_t *rp2 = &req->resources[1];
  rp2->n_scopes = 1;
  rp2->scopes = alloc(a, 1, sizeof *rp2->scopes);
  rp2->scopes[0].n_profiles = 1;
  rp2->scopes[0].profiles = alloc(a, 1, sizeof(pc_profile_t));
  rp2->scopes[0].profiles[0].has_sample_type = true; /* present but empty */
}

pc_buf_t pc_test_rich_body(uint64_t *samples) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t body = {0};
  ck_assert_int_eq(pc_proto_encode(&req, &body), 0);
  if (samples) *samples = pc_request_sample_count(&req);
  pc_arena_free(a);
  return body;
}

void pc_test_expansion_request(size_t n, pc_buf_t *out) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_sample_t *s = &req.resources[0].scopes[0].profiles[0].samples[0];
  s->values = malloc(n * sizeof *s->values);
  ck_assert_ptr_nonnull(s->values);
  for (size_t i = 0; i < n; i++) s->values[i] = 1;
  s->n_values = (uint32_t)n;
  s->n_timestamps = 0;
  out->n = 0;
  ck_assert_int_eq(pc_proto_encode(&req, out), 0);
  free(s->values);
  pc_arena_free(a);
}

void pc_test_read_file(const char *path, pc_buf_t *out) {
  char full[4096];
  const char *root = getenv("PC_SOURCE_ROOT");
  if (path[0] != '/' && root)
    snprintf(full, sizeof full, "%s/%s", root, path);
  else
    snprintf(full, sizeof full, "%s", path);
  FILE *f = fopen(full, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", full);
  uint8_t chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    ck_assert_int_eq(pc_buf_append(out, chunk, got), 0);
  fclose(f);
}

/* ---- deep equality ------------------------------------------------------ */

static void eq_str(pc_str_t a, pc_str_t b, const char *what) {
  ck_assert_msg(pc_str_eq(a, b), "%s: \"%.*s\" != \"%.*s\"", what, PC_STR_FMT(a), PC_STR_FMT(b));
}

static void eq_i32s(pc_i32s_t a, pc_i32s_t b, const char *what) {
  ck_assert_msg(a.n == b.n, "%s: %u != %u entries", what, a.n, b.n);
  for (uint32_t i = 0; i < a.n; i++)
    ck_assert_msg(a.v[i] == b.v[i], "%s[%u]: %d != %d", what, i, a.v[i], b.v[i]);
}

static void eq_kv(const pc_keyvalue_t *a, const pc_keyvalue_t *b);

static void eq_anyvalue(const pc_anyvalue_t *a, const pc_anyvalue_t *b) {
  ck_assert_int_eq(a->type, b->type);
  switch (a->type) {
  case PC_AV_NONE: break;
  case PC_AV_STRING:
  case PC_AV_BYTES: eq_str(a->u.s, b->u.s, "anyvalue"); break;
  case PC_AV_BOOL: ck_assert_int_eq(a->u.b, b->u.b); break;
  case PC_AV_INT: ck_assert_int_eq(a->u.i, b->u.i); break;
  case PC_AV_DOUBLE: ck_assert(memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0); break;
  case PC_AV_STRINDEX: ck_assert_int_eq(a->u.strindex, b->u.strindex); break;
  case PC_AV_ARRAY:
    ck_assert_uint_eq(a->u.array.n, b->u.array.n);
    for (uint32_t i = 0; i < a->u.array.n; i++) eq_anyvalue(&a->u.array.v[i], &b->u.array.v[i]);
    break;
  case PC_AV_KVLIST:
    ck_assert_uint_eq(a->u.kvlist.n, b->u.kvlist.n);
    for (uint32_t i = 0; i < a->u.kvlist.n; i++) eq_kv(&a->u.kvlist.v[i], &b->u.kvlist.v[i]);
    break;
  }
}

static void eq_kv(const pc_keyvalue_t *a, const pc_keyvalue_t *b) {
  eq_str(a->key, b->key, "key");
  ck_assert_int_eq(a->key_strindex, b->key_strindex);
  ck_assert_int_eq(a->has_value, b->has_value);
  if (a->has_value) eq_anyvalue(&a->value, &b->value);
}

static void eq_kvs(pc_kvs_t a, pc_kvs_t b) {
  ck_assert_uint_eq(a.n, b.n);
  for (uint32_t i = 0; i < a.n; i++) eq_kv(&a.v[i], &b.v[i]);
}

static void eq_strs(pc_strs_t a, pc_strs_t b, const char *what) {
  ck_assert_uint_eq(a.n, b.n);
  for (uint32_t i = 0; i < a.n; i++) eq_str(a.v[i], b.v[i], what);
}

static void eq_dictionary(const pc_dictionary_t *a, const pc_dictionary_t *b) {
  ck_assert_uint_eq(a->n_strings, b->n_strings);
  for (uint32_t i = 0; i < a->n_strings; i++) eq_str(a->strings[i], b->strings[i], "string");
  ck_assert_uint_eq(a->n_mappings, b->n_mappings);
  for (uint32_t i = 0; i < a->n_mappings; i++) {
    const pc_mapping_t *x = &a->mappings[i], *y = &b->mappings[i];
    ck_assert_uint_eq(x->memory_start, y->memory_start);
    ck_assert_uint_eq(x->memory_limit, y->memory_limit);
    ck_assert_uint_eq(x->file_offset, y->file_offset);
    ck_assert_int_eq(x->filename_strindex, y->filename_strindex);
    eq_i32s(x->attribute_indices, y->attribute_indices, "mapping.attribute_indices");
  }
  ck_assert_uint_eq(a->n_locations, b->n_locations);
  for (uint32_t i = 0; i < a->n_locations; i++) {
    const pc_location_t *x = &a->locations[i], *y = &b->locations[i];
    ck_assert_int_eq(x->mapping_index, y->mapping_index);
    ck_assert_uint_eq(x->address, y->address);
    ck_assert_uint_eq(x->n_lines, y->n_lines);
    for (uint32_t k = 0; k < x->n_lines; k++) {
      ck_assert_int_eq(x->lines[k].function_index, y->lines[k].function_index);
      ck_assert_int_eq(x->lines[k].line, y->lines[k].line);
      ck_assert_int_eq(x->lines[k].column, y->lines[k].column);
    }
    eq_i32s(x->attribute_indices, y->attribute_indices, "location.attribute_indices");
  }
  ck_assert_uint_eq(a->n_functions, b->n_functions);
  for (uint32_t i = 0; i < a->n_functions; i++)
    ck_assert(memcmp(&a->functions[i], &b->functions[i], sizeof(pc_function_t)) == 0);
  ck_assert_uint_eq(a->n_links, b->n_links);
  for (uint32_t i = 0; i < a->n_links; i++) {
    eq_str(a->links[i].trace_id, b->links[i].trace_id, "trace_id");
    eq_str(a->links[i].span_id, b->links[i].span_id, "span_id");
  }
  ck_assert_uint_eq(a->n_attrs, b->n_attrs);
  for (uint32_t i = 0; i < a->n_attrs; i++) {
    const pc_attr_t *x = &a->attrs[i], *y = &b->attrs[i];
    ck_assert_int_eq(x->key_strindex, y->key_strindex);
    ck_assert_int_eq(x->unit_strindex, y->unit_strindex);
    ck_assert_int_eq(x->has_value, y->has_value);
    if (x->has_value) eq_anyvalue(&x->value, &y->value);
  }
  ck_assert_uint_eq(a->n_stacks, b->n_stacks);
  for (uint32_t i = 0; i < a->n_stacks; i++)
    eq_i32s(a->stacks[i].location_indices, b->stacks[i].location_indices, "stack");
}

static void eq_profile(const pc_profile_t *a, const pc_profile_t *b) {
  ck_assert_int_eq(a->has_sample_type, b->has_sample_type);
  ck_assert_int_eq(a->has_period_type, b->has_period_type);
  ck_assert(memcmp(&a->sample_type, &b->sample_type, sizeof a->sample_type) == 0);
  ck_assert(memcmp(&a->period_type, &b->period_type, sizeof a->period_type) == 0);
  ck_assert_uint_eq(a->time_unix_nano, b->time_unix_nano);
  ck_assert_uint_eq(a->duration_nano, b->duration_nano);
  ck_assert_int_eq(a->period, b->period);
  ck_assert_uint_eq(a->dropped_attributes_count, b->dropped_attributes_count);
  eq_str(a->profile_id, b->profile_id, "profile_id");
  eq_str(a->original_payload_format, b->original_payload_format, "original_payload_format");
  eq_str(a->original_payload, b->original_payload, "original_payload");
  eq_i32s(a->attribute_indices, b->attribute_indices, "profile.attribute_indices");
  ck_assert_uint_eq(a->n_samples, b->n_samples);
  for (uint32_t i = 0; i < a->n_samples; i++) {
    const pc_sample_t *x = &a->samples[i], *y = &b->samples[i];
    ck_assert_int_eq(x->stack_index, y->stack_index);
    ck_assert_int_eq(x->link_index, y->link_index);
    eq_i32s(x->attribute_indices, y->attribute_indices, "sample.attribute_indices");
    ck_assert_uint_eq(x->n_values, y->n_values);
    for (uint32_t k = 0; k < x->n_values; k++) ck_assert_int_eq(x->values[k], y->values[k]);
    ck_assert_uint_eq(x->n_timestamps, y->n_timestamps);
    for (uint32_t k = 0; k < x->n_timestamps; k++)
      ck_assert_uint_eq(x->timestamps_unix_nano[k], y->timestamps_unix_nano[k]);
  }
}

void pc_test_assert_request_eq(const pc_request_t *a, const pc_request_t *b) {
  ck_assert_int_eq(a->has_dictionary, b->has_dictionary);
  eq_dictionary(&a->dict, &b->dict);
  ck_assert_uint_eq(a->n_resources, b->n_resources);
  for (uint32_t r = 0; r < a->n_resources; r++) {
    const pc_resource_profiles_t *x = &a->resources[r], *y = &b->resources[r];
    ck_assert_int_eq(x->has_resource, y->has_resource);
    eq_kvs(x->resource.attributes, y->resource.attributes);
    ck_assert_uint_eq(x->resource.dropped_attributes_count, y->resource.dropped_attributes_count);
    ck_assert_uint_eq(x->resource.n_entity_refs, y->resource.n_entity_refs);
    for (uint32_t i = 0; i < x->resource.n_entity_refs; i++) {
      const pc_entity_ref_t *e = &x->resource.entity_refs[i], *f = &y->resource.entity_refs[i];
      eq_str(e->schema_url, f->schema_url, "entity_ref.schema_url");
      eq_str(e->type, f->type, "entity_ref.type");
      eq_strs(e->id_keys, f->id_keys, "entity_ref.id_keys");
      eq_strs(e->description_keys, f->description_keys, "entity_ref.description_keys");
    }
    eq_str(x->schema_url, y->schema_url, "resource schema_url");
    ck_assert_uint_eq(x->n_scopes, y->n_scopes);
    for (uint32_t s = 0; s < x->n_scopes; s++) {
      const pc_scope_profiles_t *p = &x->scopes[s], *q = &y->scopes[s];
      ck_assert_int_eq(p->has_scope, q->has_scope);
      eq_str(p->scope.name, q->scope.name, "scope.name");
      eq_str(p->scope.version, q->scope.version, "scope.version");
      eq_kvs(p->scope.attributes, q->scope.attributes);
      ck_assert_uint_eq(p->scope.dropped_attributes_count, q->scope.dropped_attributes_count);
      eq_str(p->schema_url, q->schema_url, "scope schema_url");
      ck_assert_uint_eq(p->n_profiles, q->n_profiles);
      for (uint32_t k = 0; k < p->n_profiles; k++) eq_profile(&p->profiles[k], &q->profiles[k]);
    }
  }
}

/* The JSON text with its keys renamed to the proto's field names
 * (lowerCamelCase to lower_snake_case), every key or every other key. */
void pc_test_to_proto_names(const pc_buf_t *in, bool every_other, pc_buf_t *out) {
  /* One reservation (a key at most doubles) and no assertion per byte:
   * Check reports each assertion to its parent through a pipe. */
  out->n = 0;
  ck_assert_int_eq(pc_buf_reserve(out, 2 * in->n + 1), 0);
  uint8_t *o = out->p;
  size_t i = 0, keys = 0;
  while (i < in->n) {
    if (in->p[i] != '"') {
      *o++ = in->p[i++];
      continue;
    }
    size_t j = i + 1;
    while (in->p[j] != '"') j += in->p[j] == '\\' ? 2 : 1;
    bool key = j + 1 < in->n && in->p[j + 1] == ':' && !(every_other && keys++ % 2);
    for (size_t k = i; k <= j; k++) {
      uint8_t ch = in->p[k];
      if (key && ch >= 'A' && ch <= 'Z') {
        *o++ = '_';
        *o++ = (uint8_t)(ch - 'A' + 'a');
      } else {
        *o++ = ch;
      }
    }
    i = j + 1;
  }
  out->n = (size_t)(o - out->p);
  *o = '\0'; /* for strstr; not counted */
}
