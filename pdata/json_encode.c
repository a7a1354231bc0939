/* json_encode.c - pdata -> OTLP-JSON for ExportProfilesServiceRequest.
 *
 * Written by hand straight into a pc_buf_t (no DOM): compact, one line, keys
 * in field-number order. Fields at their default (0, "", empty array, false)
 * are left out, except where presence carries meaning: a message field whose
 * has_* flag is set is written even when empty ({}), and an AnyValue always
 * writes its oneof member ({"intValue":"0"}). Per OTLP-JSON, 64-bit integers
 * are decimal strings, Link ids lowercase hex, other bytes padded standard
 * base64, and non-finite doubles the strings "NaN", "Infinity", "-Infinity".
 *
 * Strings in pdata are valid UTF-8 (the decoders check), so they are copied
 * with JSON escaping only. Write errors are sticky in enc_t and checked once
 * at the end; on failure the output is truncated back to where it started. */
#include "pdata.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  pc_buf_t *out;
  int rc;     /* first error; later writes are skipped */
  bool first; /* no member written yet in the innermost object or array */
  int depth;  /* AnyValues being written, outermost included */
} enc_t;

/* Writes the message at p (a pdata struct) as a JSON object. */
typedef void (*enc_fn)(enc_t *e, const void *p);

/* ---- output --------------------------------------------------------------- */

static void put(enc_t *e, const void *s, size_t n) {
  if (!e->rc) e->rc = pc_buf_append(e->out, s, n);
}

static void put_c(enc_t *e, const char *s) { put(e, s, strlen(s)); }

/* A comma before every member but the first. */
static void sep(enc_t *e) {
  if (!e->first) put(e, ",", 1);
  e->first = false;
}

static void begin(enc_t *e, char c) {
  put(e, &c, 1);
  e->first = true;
}

/* Ending a container completes one member of its parent. */
static void end(enc_t *e, char c) {
  put(e, &c, 1);
  e->first = false;
}

static void key(enc_t *e, const char *k) {
  sep(e);
  put(e, "\"", 1);
  put_c(e, k);
  put(e, "\":", 2);
}

static void put_u64(enc_t *e, uint64_t v, bool quoted) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, quoted ? "\"%" PRIu64 "\"" : "%" PRIu64, v);
  put(e, tmp, (size_t)n);
}

static void put_i64(enc_t *e, int64_t v, bool quoted) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, quoted ? "\"%" PRId64 "\"" : "%" PRId64, v);
  put(e, tmp, (size_t)n);
}

static void put_string(enc_t *e, pc_str_t s) {
  if (!e->rc) e->rc = pc_buf_json_string(e->out, s.p, s.n);
}

/* The shortest %.*g text that reads back as the same double; -0 keeps its
 * sign as "-0.0" (a bare "-0" is an integer to most parsers). */
static void put_double(enc_t *e, double v) {
  char tmp[32];
  if (isnan(v)) {
    snprintf(tmp, sizeof tmp, "\"NaN\"");
  } else if (isinf(v)) {
    snprintf(tmp, sizeof tmp, "%s", v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else if (v == 0 && signbit(v)) {
    snprintf(tmp, sizeof tmp, "-0.0");
  } else {
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(tmp, sizeof tmp, "%.*g", prec, v);
      if (strtod(tmp, NULL) == v) break;
    }
  }
  put_c(e, tmp);
}

static void put_base64(enc_t *e, pc_str_t s) {
  if (e->rc) return;
  if (s.n > SIZE_MAX / 4 * 3 - 3) {
    e->rc = PC_ENOMEM;
    return;
  }
  if ((e->rc = pc_buf_reserve(e->out, pc_base64_encoded_len(s.n, true) + 2))) return;
  uint8_t *o = e->out->p + e->out->n;
  *o++ = '"';
  o += pc_base64_encode(s.p, s.n, true, (char *)o);
  *o++ = '"';
  e->out->n = (size_t)(o - e->out->p);
}

static void put_hex(enc_t *e, pc_str_t s) {
  static const char digits[] = "0123456789abcdef";
  if (e->rc) return;
  if (s.n > SIZE_MAX / 2 - 2) {
    e->rc = PC_ENOMEM;
    return;
  }
  if ((e->rc = pc_buf_reserve(e->out, s.n * 2 + 2))) return;
  uint8_t *o = e->out->p + e->out->n;
  *o++ = '"';
  for (size_t i = 0; i < s.n; i++) {
    *o++ = (uint8_t)digits[s.p[i] >> 4];
    *o++ = (uint8_t)digits[s.p[i] & 15];
  }
  *o++ = '"';
  e->out->n = (size_t)(o - e->out->p);
}

/* ---- fields (each left out at its default) -------------------------------- */

static void f_i32(enc_t *e, const char *k, int32_t v) {
  if (!v) return;
  key(e, k);
  put_i64(e, v, false);
}

static void f_u32(enc_t *e, const char *k, uint32_t v) {
  if (!v) return;
  key(e, k);
  put_u64(e, v, false);
}

static void f_i64(enc_t *e, const char *k, int64_t v) {
  if (!v) return;
  key(e, k);
  put_i64(e, v, true);
}

static void f_u64(enc_t *e, const char *k, uint64_t v) {
  if (!v) return;
  key(e, k);
  put_u64(e, v, true);
}

static void f_str(enc_t *e, const char *k, pc_str_t s) {
  if (!s.n) return;
  key(e, k);
  put_string(e, s);
}

static void f_base64(enc_t *e, const char *k, pc_str_t s) {
  if (!s.n) return;
  key(e, k);
  put_base64(e, s);
}

static void f_hex(enc_t *e, const char *k, pc_str_t s) {
  if (!s.n) return;
  key(e, k);
  put_hex(e, s);
}

static void f_i32s(enc_t *e, const char *k, pc_i32s_t a) {
  if (!a.n) return;
  key(e, k);
  begin(e, '[');
  for (uint32_t i = 0; i < a.n; i++) {
    sep(e);
    put_i64(e, a.v[i], false);
  }
  end(e, ']');
}

static void f_i64s(enc_t *e, const char *k, const int64_t *v, uint32_t n) {
  if (!n) return;
  key(e, k);
  begin(e, '[');
  for (uint32_t i = 0; i < n; i++) {
    sep(e);
    put_i64(e, v[i], true);
  }
  end(e, ']');
}

static void f_u64s(enc_t *e, const char *k, const uint64_t *v, uint32_t n) {
  if (!n) return;
  key(e, k);
  begin(e, '[');
  for (uint32_t i = 0; i < n; i++) {
    sep(e);
    put_u64(e, v[i], true);
  }
  end(e, ']');
}

static void f_strs(enc_t *e, const char *k, const pc_str_t *v, uint32_t n) {
  if (!n) return;
  key(e, k);
  begin(e, '[');
  for (uint32_t i = 0; i < n; i++) {
    sep(e);
    put_string(e, v[i]);
  }
  end(e, ']');
}

/* A message field, written (possibly as {}) when has is set. */
static void f_message(enc_t *e, const char *k, bool has, enc_fn fn, const void *p) {
  if (!has) return;
  key(e, k);
  fn(e, p);
}

/* A repeated message field: n entries of size bytes at arr. */
static void f_messages(enc_t *e, const char *k, const void *arr, size_t size, uint32_t n,
                       enc_fn fn) {
  if (!n) return;
  key(e, k);
  begin(e, '[');
  for (uint32_t i = 0; i < n; i++) {
    sep(e);
    fn(e, (const uint8_t *)arr + i * size);
  }
  end(e, ']');
}

/* ---- common.v1 ------------------------------------------------------------ */

static void enc_keyvalue(enc_t *e, const void *p);
static void enc_anyvalue(enc_t *e, const void *p);

static void f_kvs(enc_t *e, const char *k, pc_kvs_t kvs) {
  f_messages(e, k, kvs.v, sizeof *kvs.v, kvs.n, enc_keyvalue);
}

/* ArrayValue and KeyValueList: {"values":[...]}, {} when empty. */
static void enc_array_value(enc_t *e, const pc_anyvalue_t *av) {
  begin(e, '{');
  f_messages(e, "values", av->u.array.v, sizeof *av->u.array.v, av->u.array.n,
             enc_anyvalue);
  end(e, '}');
}

static void enc_kvlist_value(enc_t *e, const pc_anyvalue_t *av) {
  begin(e, '{');
  f_messages(e, "values", av->u.kvlist.v, sizeof *av->u.kvlist.v, av->u.kvlist.n,
             enc_keyvalue);
  end(e, '}');
}

/* The oneof member is written even at its zero value: it is the kind. */
static void enc_anyvalue_member(enc_t *e, const pc_anyvalue_t *av) {
  static const char *const keys[] = {"stringValue", "boolValue", "intValue",
                                     "doubleValue", "arrayValue", "kvlistValue",
                                     "bytesValue", "stringValueStrindex"};
  if (av->type == PC_AV_NONE) return;
  if (av->type < PC_AV_STRING || av->type > PC_AV_STRINDEX) {
    if (!e->rc) e->rc = PC_EINVAL; /* not a pc_av_type_t */
    return;
  }
  key(e, keys[av->type - 1]);
  switch (av->type) {
  case PC_AV_STRING: put_string(e, av->u.s); break;
  case PC_AV_BOOL: put_c(e, av->u.b ? "true" : "false"); break;
  case PC_AV_INT: put_i64(e, av->u.i, true); break;
  case PC_AV_DOUBLE: put_double(e, av->u.d); break;
  case PC_AV_ARRAY: enc_array_value(e, av); break;
  case PC_AV_KVLIST: enc_kvlist_value(e, av); break;
  case PC_AV_BYTES: put_base64(e, av->u.s); break;
  case PC_AV_STRINDEX: put_i64(e, av->u.strindex, false); break;
  case PC_AV_NONE: break;
  }
}

/* Nesting is bounded as in the decoders, so hand-built data cannot recurse
 * without limit. */
static void enc_anyvalue(enc_t *e, const void *p) {
  if (++e->depth > PC_MAX_ANYVALUE_DEPTH && !e->rc) e->rc = PC_EINVAL;
  if (!e->rc) {
    begin(e, '{');
    enc_anyvalue_member(e, p);
    end(e, '}');
  }
  e->depth--;
}

static void enc_keyvalue(enc_t *e, const void *p) {
  const pc_keyvalue_t *kv = p;
  begin(e, '{');
  f_str(e, "key", kv->key);
  f_message(e, "value", kv->has_value, enc_anyvalue, &kv->value);
  f_i32(e, "keyStrindex", kv->key_strindex);
  end(e, '}');
}

static void enc_entity_ref(enc_t *e, const void *p) {
  const pc_entity_ref_t *er = p;
  begin(e, '{');
  f_str(e, "schemaUrl", er->schema_url);
  f_str(e, "type", er->type);
  f_strs(e, "idKeys", er->id_keys.v, er->id_keys.n);
  f_strs(e, "descriptionKeys", er->description_keys.v, er->description_keys.n);
  end(e, '}');
}

static void enc_resource(enc_t *e, const void *p) {
  const pc_resource_t *r = p;
  begin(e, '{');
  f_kvs(e, "attributes", r->attributes);
  f_u32(e, "droppedAttributesCount", r->dropped_attributes_count);
  f_messages(e, "entityRefs", r->entity_refs, sizeof *r->entity_refs, r->n_entity_refs,
             enc_entity_ref);
  end(e, '}');
}

static void enc_scope(enc_t *e, const void *p) {
  const pc_scope_t *s = p;
  begin(e, '{');
  f_str(e, "name", s->name);
  f_str(e, "version", s->version);
  f_kvs(e, "attributes", s->attributes);
  f_u32(e, "droppedAttributesCount", s->dropped_attributes_count);
  end(e, '}');
}

/* ---- profiles.v1development ----------------------------------------------- */

static void enc_valuetype(enc_t *e, const void *p) {
  const pc_valuetype_t *vt = p;
  begin(e, '{');
  f_i32(e, "typeStrindex", vt->type_strindex);
  f_i32(e, "unitStrindex", vt->unit_strindex);
  end(e, '}');
}

static void enc_sample(enc_t *e, const void *p) {
  const pc_sample_t *s = p;
  begin(e, '{');
  f_i32(e, "stackIndex", s->stack_index);
  f_i32s(e, "attributeIndices", s->attribute_indices);
  f_i32(e, "linkIndex", s->link_index);
  f_i64s(e, "values", s->values, s->n_values);
  f_u64s(e, "timestampsUnixNano", s->timestamps_unix_nano, s->n_timestamps);
  end(e, '}');
}

static void enc_profile(enc_t *e, const void *ptr) {
  const pc_profile_t *p = ptr;
  begin(e, '{');
  f_message(e, "sampleType", p->has_sample_type, enc_valuetype, &p->sample_type);
  f_messages(e, "samples", p->samples, sizeof *p->samples, p->n_samples, enc_sample);
  f_u64(e, "timeUnixNano", p->time_unix_nano);
  f_u64(e, "durationNano", p->duration_nano);
  f_message(e, "periodType", p->has_period_type, enc_valuetype, &p->period_type);
  f_i64(e, "period", p->period);
  f_base64(e, "profileId", p->profile_id);
  f_u32(e, "droppedAttributesCount", p->dropped_attributes_count);
  f_str(e, "originalPayloadFormat", p->original_payload_format);
  f_base64(e, "originalPayload", p->original_payload);
  f_i32s(e, "attributeIndices", p->attribute_indices);
  end(e, '}');
}

static void enc_scope_profiles(enc_t *e, const void *p) {
  const pc_scope_profiles_t *sp = p;
  begin(e, '{');
  f_message(e, "scope", sp->has_scope, enc_scope, &sp->scope);
  f_messages(e, "profiles", sp->profiles, sizeof *sp->profiles, sp->n_profiles,
             enc_profile);
  f_str(e, "schemaUrl", sp->schema_url);
  end(e, '}');
}

static void enc_resource_profiles(enc_t *e, const void *p) {
  const pc_resource_profiles_t *rp = p;
  begin(e, '{');
  f_message(e, "resource", rp->has_resource, enc_resource, &rp->resource);
  f_messages(e, "scopeProfiles", rp->scopes, sizeof *rp->scopes, rp->n_scopes,
             enc_scope_profiles);
  f_str(e, "schemaUrl", rp->schema_url);
  end(e, '}');
}

/* ---- dictionary ----------------------------------------------------------- */

static void enc_mapping(enc_t *e, const void *p) {
  const pc_mapping_t *m = p;
  begin(e, '{');
  f_u64(e, "memoryStart", m->memory_start);
  f_u64(e, "memoryLimit", m->memory_limit);
  f_u64(e, "fileOffset", m->file_offset);
  f_i32(e, "filenameStrindex", m->filename_strindex);
  f_i32s(e, "attributeIndices", m->attribute_indices);
  end(e, '}');
}

static void enc_line(enc_t *e, const void *p) {
  const pc_line_t *l = p;
  begin(e, '{');
  f_i32(e, "functionIndex", l->function_index);
  f_i64(e, "line", l->line);
  f_i64(e, "column", l->column);
  end(e, '}');
}

static void enc_location(enc_t *e, const void *p) {
  const pc_location_t *l = p;
  begin(e, '{');
  f_i32(e, "mappingIndex", l->mapping_index);
  f_u64(e, "address", l->address);
  f_messages(e, "lines", l->lines, sizeof *l->lines, l->n_lines, enc_line);
  f_i32s(e, "attributeIndices", l->attribute_indices);
  end(e, '}');
}

static void enc_function(enc_t *e, const void *p) {
  const pc_function_t *f = p;
  begin(e, '{');
  f_i32(e, "nameStrindex", f->name_strindex);
  f_i32(e, "systemNameStrindex", f->system_name_strindex);
  f_i32(e, "filenameStrindex", f->filename_strindex);
  f_i64(e, "startLine", f->start_line);
  end(e, '}');
}

static void enc_link(enc_t *e, const void *p) {
  const pc_link_t *l = p;
  begin(e, '{');
  f_hex(e, "traceId", l->trace_id);
  f_hex(e, "spanId", l->span_id);
  end(e, '}');
}

static void enc_attr(enc_t *e, const void *p) {
  const pc_attr_t *a = p;
  begin(e, '{');
  f_i32(e, "keyStrindex", a->key_strindex);
  f_message(e, "value", a->has_value, enc_anyvalue, &a->value);
  f_i32(e, "unitStrindex", a->unit_strindex);
  end(e, '}');
}

static void enc_stack(enc_t *e, const void *p) {
  const pc_stack_t *s = p;
  begin(e, '{');
  f_i32s(e, "locationIndices", s->location_indices);
  end(e, '}');
}

static void enc_dictionary(enc_t *e, const void *p) {
  const pc_dictionary_t *d = p;
  begin(e, '{');
  f_messages(e, "mappingTable", d->mappings, sizeof *d->mappings, d->n_mappings,
             enc_mapping);
  f_messages(e, "locationTable", d->locations, sizeof *d->locations, d->n_locations,
             enc_location);
  f_messages(e, "functionTable", d->functions, sizeof *d->functions, d->n_functions,
             enc_function);
  f_messages(e, "linkTable", d->links, sizeof *d->links, d->n_links, enc_link);
  f_strs(e, "stringTable", d->strings, d->n_strings);
  f_messages(e, "attributeTable", d->attrs, sizeof *d->attrs, d->n_attrs, enc_attr);
  f_messages(e, "stackTable", d->stacks, sizeof *d->stacks, d->n_stacks, enc_stack);
  end(e, '}');
}

/* ---- request -------------------------------------------------------------- */

int pc_json_encode(const pc_request_t *req, pc_buf_t *out) {
  size_t start = out->n;
  enc_t e = {.out = out, .first = true};
  begin(&e, '{');
  f_messages(&e, "resourceProfiles", req->resources, sizeof *req->resources,
             req->n_resources, enc_resource_profiles);
  f_message(&e, "dictionary", req->has_dictionary, enc_dictionary, &req->dict);
  end(&e, '}');
  if (e.rc) out->n = start;
  return e.rc;
}
