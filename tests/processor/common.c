/* common.c - helpers of the processor test cases (common.h). */
#include "common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *pt_create(const pc_component_t *type, const char *id, const char *yaml,
                pc_consumer_t *next, pc_cfg_t **cfg, pc_err_t *err) {
  *cfg = pc_cfg_load_string("test.yaml", yaml, err);
  ck_assert_msg(*cfg != NULL, "yaml: %s", err->msg);
  pc_create_args_t args = {.id = id ? id : type->type, .cfg = pc_cfg_root(*cfg), .next = next,
                           .signals = PC_SIGNAL_PROFILES};
  return type->create(&args, err);
}

void pt_refused_exactly(const pc_component_t *type, const char *yaml, const char *want) {
  pt_check_t k;
  pt_check_init(&k);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = pt_create(type, NULL, yaml, &k.c, &cfg, &err);
  if (inst) type->destroy(inst);
  ck_assert_msg(inst == NULL, "accepted: %s", yaml);
  ck_assert_msg(!strcmp(err.msg, want), "%s\n got: %s\nwant: %s", yaml, err.msg, want);
  ck_assert_int_eq(err.code, PC_EINVAL);
  pc_cfg_free(cfg);
}

static int check_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  pt_check_t *k = (pt_check_t *)self;
  k->calls++;
  req->rejected_profiles = 0;
  uint64_t profiles = pc_request_profile_count(req);
  pc_err_t verr = {0};
  ck_assert_msg(pc_pdata_validate(req, &verr) == 0, "validate: %s", verr.msg);
  ck_assert_msg(req->rejected_profiles == 0, "validator rejected: %s", req->reject_msg);
  ck_assert_uint_eq(pc_request_profile_count(req), profiles);
  pc_buf_t pb = {0};
  ck_assert_int_eq(pc_proto_encode(req, &pb), 0);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t back;
  ck_assert_msg(pc_proto_decode(a, pb.p, pb.n, &back, &verr) == 0, "decode: %s", verr.msg);
  ck_assert_uint_eq(pc_request_sample_count(&back), pc_request_sample_count(req));
  pc_arena_free(a);
  pc_buf_free(&pb);
  (void)err;
  return 0;
}

void pt_check_init(pt_check_t *k) {
  memset(k, 0, sizeof *k);
  k->c.consume_profiles = check_consume;
  k->c.retry_after_s = 1;
}

static pc_str_t sdup(pt_req_t *r, const char *s) {
  pc_str_t v;
  ck_assert_int_eq(pc_arena_dup(r->arena, s, strlen(s), &v), 0);
  return v;
}

void pt_req_init(pt_req_t *r, int n_res) {
  memset(r, 0, sizeof *r);
  r->arena = pc_arena_new(0);
  r->one = 1;
  r->req.arena = r->arena;
  r->req.has_dictionary = true;
  r->req.dict.strings = r->strings;
  r->req.dict.n_strings = 1;
  r->req.dict.attrs = r->attrs;
  r->req.dict.n_attrs = 1;
  r->req.resources = r->rp;
  r->req.n_resources = (uint32_t)n_res;
  for (int i = 0; i < n_res; i++) {
    r->rp[i].scopes = &r->sp[i];
    r->rp[i].n_scopes = 1;
    r->sp[i].profiles = &r->prof[i];
    r->sp[i].n_profiles = 1;
  }
}

void pt_req_free(pt_req_t *r) { pc_arena_free(r->arena); }

int32_t pt_str(pt_req_t *r, const char *s) {
  for (uint32_t i = 0; i < r->req.dict.n_strings; i++)
    if (pc_str_eq(r->req.dict.strings[i], (pc_str_t){(const uint8_t *)s, strlen(s)})) return (int32_t)i;
  ck_assert_uint_lt(r->req.dict.n_strings, 64);
  r->strings[r->req.dict.n_strings] = sdup(r, s);
  return (int32_t)r->req.dict.n_strings++;
}

static int32_t add_attr(pt_req_t *r, pc_attr_t a) {
  ck_assert_uint_lt(r->req.dict.n_attrs, 64);
  r->attrs[r->req.dict.n_attrs] = a;
  return (int32_t)r->req.dict.n_attrs++;
}

int32_t pt_attr_s(pt_req_t *r, const char *key, const char *value) {
  return add_attr(r, (pc_attr_t){.key_strindex = pt_str(r, key), .has_value = true,
                                 .value = {.type = PC_AV_STRING, .u.s = sdup(r, value)}});
}

int32_t pt_attr_i(pt_req_t *r, const char *key, int64_t value) {
  return add_attr(r, (pc_attr_t){.key_strindex = pt_str(r, key), .has_value = true,
                                 .value = {.type = PC_AV_INT, .u.i = value}});
}

int32_t pt_attr_strindex(pt_req_t *r, const char *key, const char *value) {
  int32_t k = pt_str(r, key), v = pt_str(r, value);
  return add_attr(r, (pc_attr_t){.key_strindex = k, .has_value = true,
                                 .value = {.type = PC_AV_STRINDEX, .u.strindex = v}});
}

pc_sample_t *pt_sample(pt_req_t *r, int res, int n, const int32_t *attrs) {
  pc_profile_t *p = &r->prof[res];
  if (!p->samples) {
    /* Each profile takes 16 of the 64 slots. */
    p->samples = &r->samples[res * 16];
  }
  ck_assert_uint_lt(p->n_samples, 16);
  pc_sample_t *s = &p->samples[p->n_samples++];
  memset(s, 0, sizeof *s);
  s->values = &r->one;
  s->n_values = 1;
  if (n) {
    int32_t *v = pc_arena_alloc(r->arena, (size_t)n * sizeof *v);
    memcpy(v, attrs, (size_t)n * sizeof *v);
    s->attribute_indices = (pc_i32s_t){v, (uint32_t)n};
  }
  return s;
}

void pt_resource(pt_req_t *r, int res, ...) {
  va_list ap;
  va_start(ap, res);
  pc_keyvalue_t *kv = pc_arena_calloc(r->arena, 16, sizeof *kv);
  uint32_t n = 0;
  for (const char *pair; (pair = va_arg(ap, const char *)) && n < 16; n++) {
    const char *eq = strchr(pair, '=');
    pc_str_t all = sdup(r, pair);
    kv[n].key = (pc_str_t){all.p, (size_t)(eq - pair)};
    kv[n].has_value = true;
    kv[n].value = (pc_anyvalue_t){.type = PC_AV_STRING,
                                  .u.s = {all.p + (eq - pair) + 1, strlen(eq + 1)}};
  }
  va_end(ap);
  r->rp[res].has_resource = true;
  r->rp[res].resource.attributes = (pc_kvs_t){kv, n};
}

static size_t value_text(const pc_dictionary_t *d, bool has, pc_anyvalue_t v, char *out, size_t cap) {
  v = pc__value_resolved(d, v);
  if (!has) return (size_t)snprintf(out, cap, "-");
  switch (v.type) {
  case PC_AV_STRING: return (size_t)snprintf(out, cap, "%.*s", (int)v.u.s.n, (const char *)v.u.s.p);
  case PC_AV_INT: return (size_t)snprintf(out, cap, "i:%" PRId64, v.u.i);
  case PC_AV_DOUBLE: return (size_t)snprintf(out, cap, "d:%g", v.u.d);
  case PC_AV_BOOL: return (size_t)snprintf(out, cap, "b:%d", (int)v.u.b);
  default: return (size_t)snprintf(out, cap, "?%d", (int)v.type);
  }
}

const char *pt_attrs_text(const pc_request_t *req, const pc_sample_t *s, char *out, size_t cap) {
  size_t o = 0;
  out[0] = 0;
  for (uint32_t i = 0; i < s->attribute_indices.n && o < cap; i++) {
    const pc_attr_t *a = pc_dict_attr(&req->dict, s->attribute_indices.v[i]);
    pc_str_t k = pc_dict_string(&req->dict, a->key_strindex);
    o += (size_t)snprintf(out + o, cap - o, "%s%.*s=", i ? "," : "", (int)k.n, (const char *)k.p);
    if (o < cap) o += value_text(&req->dict, a->has_value, a->value, out + o, cap - o);
  }
  return out;
}

const char *pt_res_text(const pc_request_t *req, const pc_resource_t *res, char *out, size_t cap) {
  size_t o = 0;
  out[0] = 0;
  for (uint32_t i = 0; i < res->attributes.n && o < cap; i++) {
    const pc_keyvalue_t *kv = &res->attributes.v[i];
    pc_str_t k = pc__kv_key(req, kv);
    o += (size_t)snprintf(out + o, cap - o, "%s%.*s=", i ? "," : "", (int)k.n, (const char *)k.p);
    if (o < cap) o += value_text(&req->dict, kv->has_value, kv->value, out + o, cap - o);
  }
  return out;
}

int pt_send(void *inst, const pc_component_t *type, pc_request_t *req) {
  pc_consumer_t *in = type->consumer(inst);
  pc_err_t err = {0};
  int rc = in->consume_profiles(in, req, &err);
  ck_assert_msg(rc == 0, "consume: %s", err.msg);
  return rc;
}
