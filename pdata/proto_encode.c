/* proto_encode.c - pdata -> canonical protobuf.
 *
 * One idea: write backwards. The buffer fills from its end towards its start,
 * each message's fields in reverse number order, so when a message is done
 * its length is known and is written in front of it: one pass, no size
 * pre-computation, no nested copies. The finished bytes are appended to the
 * caller's buffer once.
 *
 * Canonical means: fields in number order, proto3 defaults omitted (but a
 * present submessage is written even when empty, and an AnyValue's oneof
 * member even when zero), repeated scalars packed.
 *
 * Also ExportTraceServiceRequest, from the traces model of an OTLP-JSON
 * request (traces.h), for the gRPC exporter. */
#include "internal.h"
#include "pdata.h"
#include "traces.h"
#include "wire_write.h"

/* A profile's samples, pre-encoded by the batch builder (wr_t.user). */
typedef struct {
  pc__samples_pb_fn fn; /* NULL: every profile's samples from p->samples */
  void *ctx;
} samples_hook_t;

/* ---- common.v1 ---------------------------------------------------------------- */

static void enc_keyvalue(wr_t *w, const pc_keyvalue_t *kv);

static void enc_anyvalue(wr_t *w, const pc_anyvalue_t *v) {
  size_t mark;
  uint64_t bits;
  switch (v->type) {
  case PC_AV_NONE: break;
  case PC_AV_STRING: rep_string(w, 1, v->u.s); break;
  case PC_AV_BOOL:
    put_varint(w, v->u.b);
    put_tag(w, 2, WT_VARINT);
    break;
  case PC_AV_INT:
    put_varint(w, (uint64_t)v->u.i);
    put_tag(w, 3, WT_VARINT);
    break;
  case PC_AV_DOUBLE:
    memcpy(&bits, &v->u.d, 8);
    put_fixed64(w, bits);
    put_tag(w, 4, WT_I64);
    break;
  case PC_AV_ARRAY:
    mark = w->len;
    for (uint32_t i = v->u.array.n; i-- > 0;) {
      size_t m2 = w->len;
      enc_anyvalue(w, &v->u.array.v[i]);
      close_len(w, m2, 1);
    }
    close_len(w, mark, 5);
    break;
  case PC_AV_KVLIST:
    mark = w->len;
    for (uint32_t i = v->u.kvlist.n; i-- > 0;) {
      size_t m2 = w->len;
      enc_keyvalue(w, &v->u.kvlist.v[i]);
      close_len(w, m2, 1);
    }
    close_len(w, mark, 6);
    break;
  case PC_AV_BYTES: rep_string(w, 7, v->u.s); break;
  case PC_AV_STRINDEX:
    put_varint(w, (uint64_t)(int64_t)v->u.strindex);
    put_tag(w, 8, WT_VARINT);
    break;
  }
}

static void enc_keyvalue(wr_t *w, const pc_keyvalue_t *kv) {
  opt_i32(w, 3, kv->key_strindex);
  if (kv->has_value) {
    size_t mark = w->len;
    enc_anyvalue(w, &kv->value);
    close_len(w, mark, 2);
  }
  opt_bytes(w, 1, kv->key);
}

static void rep_keyvalues(wr_t *w, uint32_t field, pc_kvs_t kvs) {
  for (uint32_t i = kvs.n; i-- > 0;) {
    size_t mark = w->len;
    enc_keyvalue(w, &kvs.v[i]);
    close_len(w, mark, field);
  }
}

static void enc_scope(wr_t *w, const pc_scope_t *s) {
  opt_varint(w, 4, s->dropped_attributes_count);
  rep_keyvalues(w, 3, s->attributes);
  opt_bytes(w, 2, s->version);
  opt_bytes(w, 1, s->name);
}

static void enc_resource(wr_t *w, const pc_resource_t *r) {
  for (uint32_t i = r->n_entity_refs; i-- > 0;) {
    const pc_entity_ref_t *e = &r->entity_refs[i];
    size_t mark = w->len;
    for (uint32_t k = e->description_keys.n; k-- > 0;) rep_string(w, 4, e->description_keys.v[k]);
    for (uint32_t k = e->id_keys.n; k-- > 0;) rep_string(w, 3, e->id_keys.v[k]);
    opt_bytes(w, 2, e->type);
    opt_bytes(w, 1, e->schema_url);
    close_len(w, mark, 3);
  }
  opt_varint(w, 2, r->dropped_attributes_count);
  rep_keyvalues(w, 1, r->attributes);
}

/* A present scope or resource as field (written even when empty). */
static void opt_scope(wr_t *w, uint32_t field, bool has, const pc_scope_t *s) {
  if (!has) return;
  size_t mark = w->len;
  enc_scope(w, s);
  close_len(w, mark, field);
}

static void opt_resource(wr_t *w, uint32_t field, bool has, const pc_resource_t *r) {
  if (!has) return;
  size_t mark = w->len;
  enc_resource(w, r);
  close_len(w, mark, field);
}

/* ---- dictionary ------------------------------------------------------------------- */

static void enc_dictionary(wr_t *w, const pc_dictionary_t *d) {
  for (uint32_t i = d->n_stacks; i-- > 0;) {
    size_t mark = w->len;
    packed_i32(w, 1, d->stacks[i].location_indices.v, d->stacks[i].location_indices.n);
    close_len(w, mark, 7);
  }
  for (uint32_t i = d->n_attrs; i-- > 0;) {
    const pc_attr_t *a = &d->attrs[i];
    size_t mark = w->len;
    opt_i32(w, 3, a->unit_strindex);
    if (a->has_value) {
      size_t m2 = w->len;
      enc_anyvalue(w, &a->value);
      close_len(w, m2, 2);
    }
    opt_i32(w, 1, a->key_strindex);
    close_len(w, mark, 6);
  }
  for (uint32_t i = d->n_strings; i-- > 0;) rep_string(w, 5, d->strings[i]);
  for (uint32_t i = d->n_links; i-- > 0;) {
    size_t mark = w->len;
    opt_bytes(w, 2, d->links[i].span_id);
    opt_bytes(w, 1, d->links[i].trace_id);
    close_len(w, mark, 4);
  }
  for (uint32_t i = d->n_functions; i-- > 0;) {
    const pc_function_t *f = &d->functions[i];
    size_t mark = w->len;
    opt_varint(w, 4, (uint64_t)f->start_line);
    opt_i32(w, 3, f->filename_strindex);
    opt_i32(w, 2, f->system_name_strindex);
    opt_i32(w, 1, f->name_strindex);
    close_len(w, mark, 3);
  }
  for (uint32_t i = d->n_locations; i-- > 0;) {
    const pc_location_t *l = &d->locations[i];
    size_t mark = w->len;
    packed_i32(w, 4, l->attribute_indices.v, l->attribute_indices.n);
    for (uint32_t k = l->n_lines; k-- > 0;) {
      size_t m2 = w->len;
      opt_varint(w, 3, (uint64_t)l->lines[k].column);
      opt_varint(w, 2, (uint64_t)l->lines[k].line);
      opt_i32(w, 1, l->lines[k].function_index);
      close_len(w, m2, 3);
    }
    opt_varint(w, 2, l->address);
    opt_i32(w, 1, l->mapping_index);
    close_len(w, mark, 2);
  }
  for (uint32_t i = d->n_mappings; i-- > 0;) {
    const pc_mapping_t *m = &d->mappings[i];
    size_t mark = w->len;
    packed_i32(w, 5, m->attribute_indices.v, m->attribute_indices.n);
    opt_i32(w, 4, m->filename_strindex);
    opt_varint(w, 3, m->file_offset);
    opt_varint(w, 2, m->memory_limit);
    opt_varint(w, 1, m->memory_start);
    close_len(w, mark, 1);
  }
}

/* ---- the tree ------------------------------------------------------------------------ */

static void enc_valuetype(wr_t *w, uint32_t field, const pc_valuetype_t *vt) {
  size_t mark = w->len;
  opt_i32(w, 2, vt->unit_strindex);
  opt_i32(w, 1, vt->type_strindex);
  close_len(w, mark, field);
}

/* A profile's samples fields: pre-encoded bytes when the hook has them. */
static void enc_samples(wr_t *w, const pc_profile_t *p, uint32_t r, uint32_t s, uint32_t k) {
  const samples_hook_t *h = w->user;
  pc_str_t pb = h->fn ? h->fn(h->ctx, r, s, k) : (pc_str_t){0};
  if (pb.n) {
    put_bytes(w, pb.p, pb.n);
    return;
  }
  for (uint32_t i = p->n_samples; i-- > 0;) {
    const pc_sample_t *sm = &p->samples[i];
    size_t mark = w->len;
    packed_fixed64(w, 5, sm->timestamps_unix_nano, sm->n_timestamps);
    packed_i64(w, 4, sm->values, sm->n_values);
    opt_i32(w, 3, sm->link_index);
    packed_i32(w, 2, sm->attribute_indices.v, sm->attribute_indices.n);
    opt_i32(w, 1, sm->stack_index);
    close_len(w, mark, 2);
  }
}

/* Profile k of scope s of resource r. */
static void enc_profile(wr_t *w, const pc_profile_t *p, uint32_t r, uint32_t s, uint32_t k) {
  packed_i32(w, 11, p->attribute_indices.v, p->attribute_indices.n);
  opt_bytes(w, 10, p->original_payload);
  opt_bytes(w, 9, p->original_payload_format);
  opt_varint(w, 8, p->dropped_attributes_count);
  opt_bytes(w, 7, p->profile_id);
  opt_varint(w, 6, (uint64_t)p->period);
  if (p->has_period_type) enc_valuetype(w, 5, &p->period_type);
  opt_varint(w, 4, p->duration_nano);
  opt_fixed64(w, 3, p->time_unix_nano);
  enc_samples(w, p, r, s, k);
  if (p->has_sample_type) enc_valuetype(w, 1, &p->sample_type);
}

static void enc_resource_profiles(wr_t *w, const pc_resource_profiles_t *rp, uint32_t r) {
  opt_bytes(w, 3, rp->schema_url);
  for (uint32_t i = rp->n_scopes; i-- > 0;) {
    const pc_scope_profiles_t *sp = &rp->scopes[i];
    size_t mark = w->len;
    opt_bytes(w, 3, sp->schema_url);
    for (uint32_t k = sp->n_profiles; k-- > 0;) {
      size_t m2 = w->len;
      enc_profile(w, &sp->profiles[k], r, i, k);
      close_len(w, m2, 2);
    }
    opt_scope(w, 1, sp->has_scope, &sp->scope);
    close_len(w, mark, 2);
  }
  opt_resource(w, 1, rp->has_resource, &rp->resource);
}

int pc_proto_encode(const pc_request_t *req, pc_buf_t *out) {
  return pc__proto_encode_ex(req, NULL, NULL, 0, out);
}


int pc__proto_encode_ex(const pc_request_t *req, pc__samples_pb_fn samples_pb, void *ctx,
                        size_t size_hint, pc_buf_t *out) {
  samples_hook_t hook = {samples_pb, ctx};
  wr_t w = {.user = &hook};
  if (size_hint) { /* exact: no doubling slack when the hint holds */
    if (!(w.buf = malloc(size_hint))) return PC_ENOMEM;
    w.cap = size_hint;
  }
  if (req->has_dictionary) {
    enc_dictionary(&w, &req->dict);
    close_len(&w, 0, 2);
  }
  for (uint32_t i = req->n_resources; i-- > 0;) {
    size_t mark = w.len;
    enc_resource_profiles(&w, &req->resources[i], i);
    close_len(&w, mark, 1);
  }
  int rc = finish(&w, out);
  free(w.buf);
  return rc;
}

/* ---- traces (trace.proto) ------------------------------------------------------------ */

static void put_fixed32_field(wr_t *w, uint32_t field, uint32_t v) {
  if (!v) return;
  uint8_t *p = front(w, 4);
  if (p)
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
  put_tag(w, field, WT_I32);
}

static void enc_span(wr_t *w, const pc_span_t *sp) {
  put_fixed32_field(w, 16, sp->flags);
  if (sp->has_status) {
    size_t mark = w->len;
    opt_i32(w, 3, sp->status_code);
    opt_bytes(w, 2, sp->status_message);
    close_len(w, mark, 15);
  }
  opt_varint(w, 14, sp->dropped_links_count);
  for (uint32_t i = sp->n_links; i-- > 0;) {
    const pc_span_link_t *l = &sp->links[i];
    size_t mark = w->len;
    put_fixed32_field(w, 6, l->flags);
    opt_varint(w, 5, l->dropped_attributes_count);
    rep_keyvalues(w, 4, l->attributes);
    opt_bytes(w, 3, l->trace_state);
    opt_bytes(w, 2, l->span_id);
    opt_bytes(w, 1, l->trace_id);
    close_len(w, mark, 13);
  }
  opt_varint(w, 12, sp->dropped_events_count);
  for (uint32_t i = sp->n_events; i-- > 0;) {
    const pc_span_event_t *e = &sp->events[i];
    size_t mark = w->len;
    opt_varint(w, 4, e->dropped_attributes_count);
    rep_keyvalues(w, 3, e->attributes);
    opt_bytes(w, 2, e->name);
    opt_fixed64(w, 1, e->time_unix_nano);
    close_len(w, mark, 11);
  }
  opt_varint(w, 10, sp->dropped_attributes_count);
  rep_keyvalues(w, 9, sp->attributes);
  opt_fixed64(w, 8, sp->end_time_unix_nano);
  opt_fixed64(w, 7, sp->start_time_unix_nano);
  opt_i32(w, 6, sp->kind);
  opt_bytes(w, 5, sp->name);
  opt_bytes(w, 4, sp->parent_span_id);
  opt_bytes(w, 3, sp->trace_state);
  opt_bytes(w, 2, sp->span_id);
  opt_bytes(w, 1, sp->trace_id);
}

static void enc_resource_spans(wr_t *w, const pc_resource_spans_t *rs) {
  opt_bytes(w, 3, rs->schema_url);
  for (uint32_t i = rs->n_scopes; i-- > 0;) {
    const pc_scope_spans_t *ss = &rs->scopes[i];
    size_t mark = w->len;
    opt_bytes(w, 3, ss->schema_url);
    for (uint32_t k = ss->n_spans; k-- > 0;) {
      size_t smark = w->len;
      enc_span(w, &ss->spans[k]);
      close_len(w, smark, 2);
    }
    opt_scope(w, 1, ss->has_scope, &ss->scope);
    close_len(w, mark, 2);
  }
  opt_resource(w, 1, rs->has_resource, &rs->resource);
}

int pc_traces_proto_encode(const pc_traces_t *tr, pc_buf_t *out) {
  if (!tr->json) return PC_EINVAL; /* its events and links are not in the model */
  wr_t w = {0};
  for (uint32_t i = tr->n_resources; i-- > 0;) {
    size_t mark = w.len;
    enc_resource_spans(&w, &tr->resources[i]);
    close_len(&w, mark, 1);
  }
  int rc = finish(&w, out);
  free(w.buf);
  return rc;
}
