/* spans.c - spans and linked profiles for the trace-linking tests (spans.h). */
#include "spans.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pc_test_trace_id(uint32_t t, uint8_t out[16]) {
  for (int i = 0; i < 16; i++) out[i] = (uint8_t)(0x10 + i);
  memcpy(out + 12, &t, 4);
}

void pc_test_span_id(uint32_t s, uint8_t out[8]) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(0xa0 + i);
  memcpy(out + 4, &s, 4);
}

void pc_test_hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
  out[2 * n] = 0;
}

static bool same_resource(const pc_test_span_t *a, const pc_test_span_t *b) {
  bool sa = a->service != NULL, sb = b->service != NULL;
  return sa == sb && (!sa || strcmp(a->service, b->service) == 0) && a->pid == b->pid;
}

static bool zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

static pc_str_t str(const char *s) { return (pc_str_t){(const uint8_t *)s, s ? strlen(s) : 0}; }

static pc_str_t id(const uint8_t *p, size_t n, int id_len) {
  return (pc_str_t){p, id_len ? (size_t)id_len : n};
}

void pc_test_traces(pc_arena_t *arena, const pc_test_span_t *v, size_t n, pc_traces_t *out) {
  *out = (pc_traces_t){.arena = arena};
  size_t runs = 0;
  for (size_t i = 0; i < n; i++) runs += i == 0 || !same_resource(&v[i - 1], &v[i]);
  out->resources = pc_arena_calloc(arena, runs ? runs : 1, sizeof *out->resources);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && same_resource(&v[i], &v[j])) j++;
    pc_resource_spans_t *rs = &out->resources[out->n_resources++];
    pc_keyvalue_t *kv = pc_arena_calloc(arena, 2, sizeof *kv);
    uint32_t nkv = 0;
    if (v[i].service)
      kv[nkv++] = (pc_keyvalue_t){.key = str("service.name"), .has_value = true,
                                  .value = {.type = PC_AV_STRING, .u.s = str(v[i].service)}};
    if (v[i].pid >= 0)
      kv[nkv++] = (pc_keyvalue_t){.key = str("process.pid"), .has_value = true,
                                  .value = {.type = PC_AV_INT, .u.i = v[i].pid}};
    rs->has_resource = true;
    rs->resource.attributes = (pc_kvs_t){kv, nkv};
    rs->scopes = pc_arena_calloc(arena, 1, sizeof *rs->scopes);
    rs->n_scopes = 1;
    pc_scope_spans_t *ss = &rs->scopes[0];
    ss->spans = pc_arena_calloc(arena, j - i, sizeof *ss->spans);
    for (size_t k = i; k < j; k++) {
      const pc_test_span_t *t = &v[k];
      pc_span_t *sp = &ss->spans[ss->n_spans++];
      sp->trace_id = id(t->trace_id, 16, t->id_len);
      sp->span_id = id(t->span_id, 8, t->id_len);
      if (!zero(t->parent_span_id, 8)) sp->parent_span_id = id(t->parent_span_id, 8, t->id_len);
      sp->name = str(t->name);
      sp->start_time_unix_nano = t->start;
      sp->end_time_unix_nano = t->end;
      sp->flags = t->flags;
      sp->kind = t->kind;
      sp->has_status = t->status_code != 0;
      sp->status_code = t->status_code;
      if (t->tid >= 0) {
        pc_keyvalue_t *a = pc_arena_calloc(arena, 1, sizeof *a);
        *a = (pc_keyvalue_t){.key = str("thread.id"), .has_value = true,
                             .value = {.type = PC_AV_INT, .u.i = t->tid}};
        sp->attributes = (pc_kvs_t){a, 1};
      }
    }
    i = j;
  }
}

/* ---- protobuf, by hand ---------------------------------------------------------- */

static void put_varint(pc_buf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) tmp[n] |= 0x80;
    n++;
  } while (v);
  ck_assert_int_eq(pc_buf_append(b, tmp, n), 0);
}

static void put_tag(pc_buf_t *b, uint32_t field, uint32_t wt) { put_varint(b, field << 3 | wt); }

static void put_bytes(pc_buf_t *b, uint32_t field, const void *p, size_t n) {
  put_tag(b, field, 2);
  put_varint(b, n);
  if (n) ck_assert_int_eq(pc_buf_append(b, p, n), 0);
}

static void put_msg(pc_buf_t *b, uint32_t field, pc_buf_t *m) {
  put_bytes(b, field, m->p, m->n);
  pc_buf_free(m);
}

static void put_fixed(pc_buf_t *b, uint32_t field, uint64_t v, int size) {
  put_tag(b, field, size == 8 ? 1 : 5);
  uint8_t le[8];
  for (int i = 0; i < size; i++) le[i] = (uint8_t)(v >> (8 * i));
  ck_assert_int_eq(pc_buf_append(b, le, (size_t)size), 0);
}

static void put_kv_str(pc_buf_t *b, uint32_t field, const char *key, const char *val) {
  pc_buf_t kv = {0}, av = {0};
  put_bytes(&kv, 1, key, strlen(key));
  put_bytes(&av, 1, val, strlen(val));
  put_msg(&kv, 2, &av);
  put_msg(b, field, &kv);
}

static void put_kv_int(pc_buf_t *b, uint32_t field, const char *key, int64_t val) {
  pc_buf_t kv = {0}, av = {0};
  put_bytes(&kv, 1, key, strlen(key));
  put_tag(&av, 3, 0);
  put_varint(&av, (uint64_t)val);
  put_msg(&kv, 2, &av);
  put_msg(b, field, &kv);
}

void pc_test_traces_proto(const pc_test_span_t *v, size_t n, pc_buf_t *out) {
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && same_resource(&v[i], &v[j])) j++;
    pc_buf_t rs = {0}, res = {0}, ss = {0};
    if (v[i].service) put_kv_str(&res, 1, "service.name", v[i].service);
    if (v[i].pid >= 0) put_kv_int(&res, 1, "process.pid", v[i].pid);
    put_msg(&rs, 1, &res);
    for (size_t k = i; k < j; k++) {
      const pc_test_span_t *t = &v[k];
      pc_buf_t sp = {0};
      put_bytes(&sp, 1, t->trace_id, t->id_len ? (size_t)t->id_len : 16);
      put_bytes(&sp, 2, t->span_id, t->id_len ? (size_t)t->id_len : 8);
      if (!zero(t->parent_span_id, 8))
        put_bytes(&sp, 4, t->parent_span_id, t->id_len ? (size_t)t->id_len : 8);
      if (t->name) put_bytes(&sp, 5, t->name, strlen(t->name));
      if (t->kind) {
        put_tag(&sp, 6, 0);
        put_varint(&sp, (uint64_t)t->kind);
      }
      put_fixed(&sp, 7, t->start, 8);
      put_fixed(&sp, 8, t->end, 8);
      if (t->tid >= 0) put_kv_int(&sp, 9, "thread.id", t->tid);
      if (t->status_code) {
        pc_buf_t st = {0};
        put_tag(&st, 3, 0);
        put_varint(&st, (uint64_t)t->status_code);
        put_msg(&sp, 15, &st);
      }
      if (t->flags) put_fixed(&sp, 16, t->flags, 4);
      put_msg(&ss, 2, &sp);
    }
    put_msg(&rs, 2, &ss);
    put_msg(out, 1, &rs);
    i = j;
  }
}

/* ---- OTLP-JSON -------------------------------------------------------------------- */

static void hex_field(pc_buf_t *b, const char *key, const uint8_t *p, size_t n) {
  char h[80];
  pc_test_hex(p, n, h);
  ck_assert_int_eq(pc_buf_printf(b, ",\"%s\":\"%s\"", key, h), 0);
}

void pc_test_traces_json(const pc_test_span_t *v, size_t n, pc_buf_t *out) {
  ck_assert_int_eq(pc_buf_printf(out, "{\"resourceSpans\":["), 0);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && same_resource(&v[i], &v[j])) j++;
    pc_buf_printf(out, "%s{\"resource\":{\"attributes\":[", i ? "," : "");
    if (v[i].service)
      pc_buf_printf(out, "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"%s\"}}",
                    v[i].service);
    if (v[i].pid >= 0)
      pc_buf_printf(out, "%s{\"key\":\"process.pid\",\"value\":{\"intValue\":\"%lld\"}}",
                    v[i].service ? "," : "", (long long)v[i].pid);
    pc_buf_printf(out, "]},\"scopeSpans\":[{\"spans\":[");
    for (size_t k = i; k < j; k++) {
      const pc_test_span_t *t = &v[k];
      pc_buf_printf(out, "%s{\"name\":\"%s\"", k > i ? "," : "", t->name ? t->name : "");
      hex_field(out, "traceId", t->trace_id, t->id_len ? (size_t)t->id_len : 16);
      hex_field(out, "spanId", t->span_id, t->id_len ? (size_t)t->id_len : 8);
      if (!zero(t->parent_span_id, 8))
        hex_field(out, "parentSpanId", t->parent_span_id, t->id_len ? (size_t)t->id_len : 8);
      pc_buf_printf(out, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":%llu",
                    t->kind, (unsigned long long)t->start, (unsigned long long)t->end);
      if (t->tid >= 0)
        pc_buf_printf(out, ",\"attributes\":[{\"key\":\"thread.id\",\"value\":{\"intValue\":%lld}}]",
                      (long long)t->tid);
      if (t->status_code) pc_buf_printf(out, ",\"status\":{\"code\":%d}", t->status_code);
      if (t->flags) pc_buf_printf(out, ",\"flags\":%u", (unsigned)t->flags);
      pc_buf_printf(out, "}");
    }
    pc_buf_printf(out, "]}]}");
    i = j;
  }
  pc_buf_printf(out, "]}");
}

/* ---- linked profiles ------------------------------------------------------------- */

typedef struct {
  pc_arena_t *a;
  pc_dictionary_t *d;
  uint32_t cap_s, cap_f, cap_m, cap_l, cap_st, cap_k, cap_at;
} build_t;

#define GROW(b, arr, n, cap)                                                      \
  do {                                                                            \
    if ((n) == (cap)) {                                                           \
      uint32_t nc_ = (cap) ? 2 * (cap) : 16;                                      \
      void *nv_ = pc_arena_calloc((b)->a, nc_, sizeof *(arr));                    \
      ck_assert_ptr_nonnull(nv_);                                                 \
      if (n) memcpy(nv_, (arr), (size_t)(n) * sizeof *(arr));                     \
      (arr) = nv_;                                                                \
      (cap) = nc_;                                                                \
    }                                                                             \
  } while (0)

static int32_t intern_str(build_t *b, const char *s, size_t n) {
  pc_dictionary_t *d = b->d;
  for (uint32_t i = 0; i < d->n_strings; i++)
    if (d->strings[i].n == n && (n == 0 || memcmp(d->strings[i].p, s, n) == 0)) return (int32_t)i;
  GROW(b, d->strings, d->n_strings, b->cap_s);
  pc_str_t copy = {0};
  if (n) ck_assert_int_eq(pc_arena_dup(b->a, s, n, &copy), 0);
  d->strings[d->n_strings] = copy;
  return (int32_t)d->n_strings++;
}

static int32_t intern_fn(build_t *b, const char *name, size_t n) {
  pc_dictionary_t *d = b->d;
  int32_t s = intern_str(b, name, n);
  for (uint32_t i = 1; i < d->n_functions; i++)
    if (d->functions[i].name_strindex == s) return (int32_t)i;
  GROW(b, d->functions, d->n_functions, b->cap_f);
  d->functions[d->n_functions] = (pc_function_t){.name_strindex = s};
  return (int32_t)d->n_functions++;
}

/* A location for one frame token. */
static int32_t location(build_t *b, const char *tok, size_t n) {
  pc_dictionary_t *d = b->d;
  GROW(b, d->locations, d->n_locations, b->cap_l);
  pc_location_t *l = &d->locations[d->n_locations];
  *l = (pc_location_t){0};
  if (tok[0] == '@') {
    const char *plus = memchr(tok, '+', n);
    ck_assert_ptr_nonnull(plus);
    GROW(b, d->mappings, d->n_mappings, b->cap_m);
    d->mappings[d->n_mappings] =
        (pc_mapping_t){.filename_strindex = intern_str(b, tok + 1, (size_t)(plus - tok - 1)),
                       .memory_start = 0x1000, .memory_limit = 0x100000};
    l->mapping_index = (int32_t)d->n_mappings++;
    l->address = strtoull(plus + 1, NULL, 16);
  } else {
    /* "a>b>c": caller a ... callee c; lines callee first */
    uint32_t parts = 1;
    for (size_t i = 0; i < n; i++) parts += tok[i] == '>';
    l->lines = pc_arena_calloc(b->a, parts, sizeof *l->lines);
    l->n_lines = parts;
    size_t start = 0;
    for (uint32_t k = 0; k < parts; k++) {
      size_t end = start;
      while (end < n && tok[end] != '>') end++;
      l->lines[parts - 1 - k] = (pc_line_t){.function_index = intern_fn(b, tok + start, end - start),
                                            .line = (int64_t)(10 + k)};
      start = end + 1;
    }
    l->address = 0x400000 + d->n_locations;
  }
  return (int32_t)d->n_locations++;
}

static int32_t stack_of(build_t *b, const char *frames) {
  pc_dictionary_t *d = b->d;
  size_t nf = 0, len = strlen(frames);
  for (size_t i = 0; i < len; i++) nf += frames[i] == ';';
  nf = len ? nf + 1 : 0;
  int32_t *locs = pc_arena_calloc(b->a, nf ? nf : 1, sizeof *locs);
  size_t start = 0;
  for (size_t k = 0; k < nf; k++) {
    size_t end = start;
    while (end < len && frames[end] != ';') end++;
    locs[nf - 1 - k] = location(b, frames + start, end - start); /* leaf first */
    start = end + 1;
  }
  GROW(b, d->stacks, d->n_stacks, b->cap_st);
  d->stacks[d->n_stacks] = (pc_stack_t){{locs, (uint32_t)nf}};
  return (int32_t)d->n_stacks++;
}

static int32_t link_of(build_t *b, uint32_t trace, uint32_t span) {
  pc_dictionary_t *d = b->d;
  if (!trace) return 0;
  uint8_t *t = pc_arena_alloc(b->a, 16), *s = pc_arena_alloc(b->a, 8);
  pc_test_trace_id(trace, t);
  pc_test_span_id(span, s);
  for (uint32_t i = 1; i < d->n_links; i++)
    if (!memcmp(d->links[i].trace_id.p, t, 16) && !memcmp(d->links[i].span_id.p, s, 8))
      return (int32_t)i;
  GROW(b, d->links, d->n_links, b->cap_k);
  d->links[d->n_links] = (pc_link_t){{t, 16}, {s, 8}};
  return (int32_t)d->n_links++;
}

static int32_t tid_attr(build_t *b, int64_t tid) {
  pc_dictionary_t *d = b->d;
  int32_t key = intern_str(b, "thread.id", 9);
  for (uint32_t i = 1; i < d->n_attrs; i++)
    if (d->attrs[i].key_strindex == key && d->attrs[i].value.u.i == tid) return (int32_t)i;
  GROW(b, d->attrs, d->n_attrs, b->cap_at);
  d->attrs[d->n_attrs] = (pc_attr_t){.key_strindex = key, .has_value = true,
                                     .value = {.type = PC_AV_INT, .u.i = tid}};
  return (int32_t)d->n_attrs++;
}

void pc_test_profiles(pc_arena_t *arena, const char *service, int64_t pid,
                      const pc_test_sample_t *v, size_t n, pc_request_t *out) {
  *out = (pc_request_t){.arena = arena, .has_dictionary = true};
  build_t b = {.a = arena, .d = &out->dict};
  pc_dictionary_t *d = &out->dict;
  /* the zero entry of every table */
  intern_str(&b, "", 0);
  GROW(&b, d->functions, d->n_functions, b.cap_f);
  d->n_functions = 1;
  GROW(&b, d->mappings, d->n_mappings, b.cap_m);
  d->n_mappings = 1;
  GROW(&b, d->locations, d->n_locations, b.cap_l);
  d->n_locations = 1;
  GROW(&b, d->stacks, d->n_stacks, b.cap_st);
  d->n_stacks = 1;
  GROW(&b, d->attrs, d->n_attrs, b.cap_at);
  d->n_attrs = 1;
  static const uint8_t zeros[16];
  GROW(&b, d->links, d->n_links, b.cap_k);
  d->links[0] = (pc_link_t){{zeros, 16}, {zeros, 8}};
  d->n_links = 1;
  /* one resource, one scope, a profile per type */
  out->resources = pc_arena_calloc(arena, 1, sizeof *out->resources);
  out->n_resources = 1;
  pc_resource_profiles_t *rp = &out->resources[0];
  pc_keyvalue_t *kv = pc_arena_calloc(arena, 2, sizeof *kv);
  uint32_t nkv = 0;
  if (service)
    kv[nkv++] = (pc_keyvalue_t){.key = str("service.name"), .has_value = true,
                                .value = {.type = PC_AV_STRING, .u.s = str(service)}};
  if (pid >= 0)
    kv[nkv++] = (pc_keyvalue_t){.key = str("process.pid"), .has_value = true,
                                .value = {.type = PC_AV_INT, .u.i = pid}};
  rp->has_resource = true;
  rp->resource.attributes = (pc_kvs_t){kv, nkv};
  rp->scopes = pc_arena_calloc(arena, 1, sizeof *rp->scopes);
  rp->n_scopes = 1;
  pc_scope_profiles_t *sp = &rp->scopes[0];
  sp->profiles = pc_arena_calloc(arena, n ? n : 1, sizeof *sp->profiles);
  for (size_t i = 0; i < n; i++) {
    const char *type = v[i].type ? v[i].type : "samples:count";
    const char *colon = strchr(type, ':');
    ck_assert_ptr_nonnull(colon);
    int32_t ts = intern_str(&b, type, (size_t)(colon - type)), us = intern_str(&b, colon + 1, strlen(colon + 1));
    pc_profile_t *p = NULL;
    for (uint32_t k = 0; k < sp->n_profiles && !p; k++)
      if (sp->profiles[k].sample_type.type_strindex == ts &&
          sp->profiles[k].sample_type.unit_strindex == us)
        p = &sp->profiles[k];
    if (!p) {
      p = &sp->profiles[sp->n_profiles++];
      *p = (pc_profile_t){.has_sample_type = true, .sample_type = {ts, us},
                          .time_unix_nano = 1700000000000000000ull, .duration_nano = 1000000000,
                          .samples = pc_arena_calloc(arena, n, sizeof(pc_sample_t))};
    }
    pc_sample_t *s = &p->samples[p->n_samples++];
    *s = (pc_sample_t){.stack_index = stack_of(&b, v[i].frames),
                       .link_index = link_of(&b, v[i].trace, v[i].span)};
    if (v[i].value) {
      s->values = pc_arena_alloc(arena, sizeof *s->values);
      s->values[0] = v[i].value;
      s->n_values = 1;
    }
    /* With a value, at most one timestamp (the lists pair up). */
    uint32_t nts = v[i].value ? (v[i].n_timestamps ? 1 : 0) : v[i].n_timestamps;
    if (nts) {
      s->timestamps_unix_nano = pc_arena_alloc(arena, nts * sizeof(uint64_t));
      for (uint32_t k = 0; k < nts; k++) s->timestamps_unix_nano[k] = v[i].ts + k;
      s->n_timestamps = nts;
    }
    if (v[i].tid > 0) {
      s->attribute_indices.v = pc_arena_alloc(arena, sizeof(int32_t));
      s->attribute_indices.v[0] = tid_attr(&b, v[i].tid);
      s->attribute_indices.n = 1;
    }
  }
  pc_err_t err = {0};
  ck_assert_msg(pc_pdata_validate(out, &err) == 0, "%s", err.msg);
}
