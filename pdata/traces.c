/* traces.c - reading the traces model (traces.h): counts and attribute
 * lookups shared by the decoders and the span store. */
#include "traces.h"

#include <string.h>

uint64_t pc_traces_span_count(const pc_traces_t *tr) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < tr->n_resources; i++)
    for (uint32_t k = 0; k < tr->resources[i].n_scopes; k++)
      n += tr->resources[i].scopes[k].n_spans;
  return n;
}

/* Spans carry inline keys; of a repeated key the first wins, as the
 * Collector's pcommon.Map.Get answers. */
const pc_anyvalue_t *pc_kvs_get(const pc_kvs_t *kvs, pc_str_t key) {
  for (uint32_t i = 0; i < kvs->n; i++)
    if (kvs->v[i].has_value && pc_str_eq(kvs->v[i].key, key)) return &kvs->v[i].value;
  return NULL;
}

pc_str_t pc_profiles_kv_key(const pc_request_t *req, const pc_keyvalue_t *kv) {
  return kv->key.n ? kv->key : pc_dict_string(&req->dict, kv->key_strindex);
}

static pc_str_t string_value(const pc_dictionary_t *d, const pc_anyvalue_t *v) {
  if (v->type == PC_AV_STRING) return v->u.s;
  if (v->type == PC_AV_STRINDEX && d) return pc_dict_string(d, v->u.strindex);
  return (pc_str_t){0};
}

pc_str_t pc_profiles_kvs_string(const pc_request_t *req, const pc_kvs_t *kvs, pc_str_t key) {
  for (uint32_t i = 0; i < kvs->n; i++)
    if (kvs->v[i].has_value && pc_str_eq(pc_profiles_kv_key(req, &kvs->v[i]), key))
      return string_value(&req->dict, &kvs->v[i].value);
  return (pc_str_t){0};
}

const pc_attr_t *pc_profiles_attr_find(const pc_request_t *req, pc_i32s_t indices,
                                       pc_str_t key) {
  for (uint32_t i = 0; i < indices.n; i++) {
    const pc_attr_t *a = pc_dict_attr(&req->dict, indices.v[i]);
    if (pc_str_eq(pc_dict_string(&req->dict, a->key_strindex), key)) return a;
  }
  return NULL;
}

bool pc_anyvalue_u32(const pc_dictionary_t *d, const pc_anyvalue_t *v, uint32_t *out) {
  if (v->type == PC_AV_INT) {
    if (v->u.i < 0 || v->u.i > (int64_t)UINT32_MAX) return false;
    *out = (uint32_t)v->u.i;
    return true;
  }
  pc_str_t s = string_value(d, v);
  if (s.n == 0 || s.n > 10) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return false;
    x = x * 10 + (uint64_t)(s.p[i] - '0');
  }
  if (x > UINT32_MAX) return false;
  *out = (uint32_t)x;
  return true;
}
