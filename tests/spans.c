/* spans.c - spans for the trace-linking tests (spans.h). */
#include "spans.h"

#include <check.h>
#include <stdio.h>
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
