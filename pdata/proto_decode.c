/* proto_decode.c - protobuf -> pdata, the hot path of every request (and,
 * at the end, ExportTraceServiceRequest -> the traces model, traces.h).
 *
 * One idea: every message is read in two passes over its own bytes. The
 * first pass only reads tags and skips values, counting the elements of each
 * repeated field (a packed run of varints counts its bytes below 0x80); then
 * arrays of exactly that size are carved from the arena, and the second pass
 * fills them. No realloc, no per-element allocation, strings and bytes are
 * views into the input.
 *
 * Unknown fields are skipped (groups included). A known field that arrives
 * with another wire type is treated as unknown, as protobuf's own parsers do,
 * except that repeated scalars are accepted packed and unpacked. Every string
 * field is checked to be UTF-8. Errors give the byte offset and the field
 * path: "at byte 812: resource_profiles[0].scope_profiles[0].profiles[3]
 * .samples[7].values: truncated packed field". */
#include "pdata.h"
#include "traces.h"
#include "wire_read.h"

/* Decode a repeated int32 field's elements into an exact-size array. */
static int i32_list(dctx_t *c, const uint8_t *p, const uint8_t *end, uint32_t field,
                    uint32_t count, pc_i32s_t *out);

/* ---- common.v1 ------------------------------------------------------------------ */

static int dec_keyvalue(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_keyvalue_t *kv,
                        int depth);

static int dec_anyvalue(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_anyvalue_t *v,
                        int depth) {
  if (depth > PC_MAX_ANYVALUE_DEPTH)
    return fail(c, p, "values nested deeper than %d levels", PC_MAX_ANYVALUE_DEPTH);
  memset(v, 0, sizeof *v);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      v->type = PC_AV_STRING;
      rc = rd_string(c, &p, end, &v->u.s, "string_value");
      break;
    case 2 << 3 | WT_VARINT:
      v->type = PC_AV_BOOL;
      rc = rd_u64(c, &p, end, &x);
      v->u.b = x != 0;
      break;
    case 3 << 3 | WT_VARINT:
      v->type = PC_AV_INT;
      rc = rd_u64(c, &p, end, &x);
      v->u.i = (int64_t)x;
      break;
    case 4 << 3 | WT_I64:
      v->type = PC_AV_DOUBLE;
      rc = rd_fixed64(c, &p, end, &x);
      memcpy(&v->u.d, &x, sizeof x);
      break;
    case 5 << 3 | WT_LEN:
    case 6 << 3 | WT_LEN: {
      /* ArrayValue / KeyValueList: field 1 repeated AnyValue / KeyValue. */
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      static const uint8_t kinds[2] = {K_NONE, K_LEN};
      uint32_t counts[2] = {0};
      if ((rc = count_fields(c, s, e, kinds, 2, counts))) break;
      uint32_t n = 0;
      bool is_array = f == 5;
      v->type = is_array ? PC_AV_ARRAY : PC_AV_KVLIST;
      if (is_array) ALLOC_ARRAY(c, v->u.array.v, counts[1]);
      else ALLOC_ARRAY(c, v->u.kvlist.v, counts[1]);
      if (!push(c, is_array ? "array_value" : "kvlist_value", -1))
        return fail(c, s, "nested too deeply");
      while (!rc && s < e) {
        uint32_t f2 = 0, wt2 = 0;
        if ((rc = rd_tag(c, &s, e, &f2, &wt2))) break;
        if (f2 != 1 || wt2 != WT_LEN) {
          rc = skip_field(c, &s, e, (uint64_t)f2 << 3 | wt2, 0);
          continue;
        }
        const uint8_t *s2 = NULL, *e2 = NULL;
        if ((rc = rd_len(c, &s, e, &s2, &e2))) break;
        if (is_array) rc = dec_anyvalue(c, s2, e2, &v->u.array.v[n++], depth + 1);
        else rc = dec_keyvalue(c, s2, e2, &v->u.kvlist.v[n++], depth + 1);
      }
      pop(c);
      if (is_array) v->u.array.n = n;
      else v->u.kvlist.n = n;
      break;
    }
    case 7 << 3 | WT_LEN:
      v->type = PC_AV_BYTES;
      rc = rd_bytes(c, &p, end, &v->u.s);
      break;
    case 8 << 3 | WT_VARINT:
      v->type = PC_AV_STRINDEX;
      rc = rd_i32(c, &p, end, &v->u.strindex);
      break;
    default:
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_keyvalue(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_keyvalue_t *kv,
                        int depth) {
  memset(kv, 0, sizeof *kv);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &kv->key, "key");
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      kv->has_value = true;
      rc = dec_anyvalue(c, s, e, &kv->value, depth);
      break;
    case 3 << 3 | WT_VARINT:
      rc = rd_i32(c, &p, end, &kv->key_strindex);
      break;
    default:
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

/* A repeated KeyValue field (number field) of the message [p, end). */
static int kv_list(dctx_t *c, const uint8_t *p, const uint8_t *end, uint32_t field,
                   uint32_t count, const char *name, pc_kvs_t *out) {
  ALLOC_ARRAY(c, out->v, count);
  out->n = 0;
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    if (f != field || wt != WT_LEN) {
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
      continue;
    }
    const uint8_t *s = NULL, *e = NULL;
    if ((rc = rd_len(c, &p, end, &s, &e))) break;
    if (!push(c, name, out->n)) return fail(c, s, "nested too deeply");
    rc = dec_keyvalue(c, s, e, &out->v[out->n++], 1);
    pop(c);
  }
  return rc;
}

static int i32_list(dctx_t *c, const uint8_t *p, const uint8_t *end, uint32_t field,
                    uint32_t count, pc_i32s_t *out) {
  ALLOC_ARRAY(c, out->v, count);
  out->n = 0;
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    if (f == field && rep_scalar_wt(wt, WT_VARINT)) rc = rd_rep_i32(c, &p, end, wt, out->v, &out->n);
    else rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
  }
  return rc;
}

static int dec_scope(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_scope_t *sc) {
  static const uint8_t kinds[4] = {[3] = K_LEN};
  uint32_t counts[4] = {0};
  int rc = count_fields(c, p, end, kinds, 4, counts);
  if (rc) return rc;
  if ((rc = kv_list(c, p, end, 3, counts[3], "attributes", &sc->attributes))) return rc;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &sc->name, "name");
      break;
    case 2 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &sc->version, "version");
      break;
    case 4 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      sc->dropped_attributes_count = (uint32_t)x;
      break;
    default:
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_entity_ref(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_entity_ref_t *r) {
  static const uint8_t kinds[5] = {[3] = K_LEN, [4] = K_LEN};
  uint32_t counts[5] = {0};
  int rc = count_fields(c, p, end, kinds, 5, counts);
  if (rc) return rc;
  memset(r, 0, sizeof *r);
  ALLOC_ARRAY(c, r->id_keys.v, counts[3]);
  ALLOC_ARRAY(c, r->description_keys.v, counts[4]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &r->schema_url, "schema_url");
      break;
    case 2 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &r->type, "type");
      break;
    case 3 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &r->id_keys.v[r->id_keys.n++], "id_keys");
      break;
    case 4 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &r->description_keys.v[r->description_keys.n++],
                     "description_keys");
      break;
    default:
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_resource(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_resource_t *r) {
  static const uint8_t kinds[4] = {[1] = K_LEN, [3] = K_LEN};
  uint32_t counts[4] = {0};
  int rc = count_fields(c, p, end, kinds, 4, counts);
  if (rc) return rc;
  if ((rc = kv_list(c, p, end, 1, counts[1], "attributes", &r->attributes))) return rc;
  ALLOC_ARRAY(c, r->entity_refs, counts[3]);
  r->n_entity_refs = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 2 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      r->dropped_attributes_count = (uint32_t)x;
      break;
    case 3 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      if (!push(c, "entity_refs", r->n_entity_refs)) return fail(c, s, "nested too deeply");
      rc = dec_entity_ref(c, s, e, &r->entity_refs[r->n_entity_refs++]);
      pop(c);
      break;
    default:
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

/* ---- profiles: dictionary entries ----------------------------------------------- */

static int dec_mapping(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_mapping_t *m) {
  static const uint8_t kinds[6] = {[5] = K_VARINT};
  uint32_t counts[6] = {0};
  int rc = count_fields(c, p, end, kinds, 6, counts);
  if (rc) return rc;
  memset(m, 0, sizeof *m);
  ALLOC_ARRAY(c, m->attribute_indices.v, counts[5]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &m->memory_start); break;
    case 2 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &m->memory_limit); break;
    case 3 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &m->file_offset); break;
    case 4 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &m->filename_strindex); break;
    case 5 << 3 | WT_VARINT:
    case 5 << 3 | WT_LEN:
      rc = rd_rep_i32(c, &p, end, wt, m->attribute_indices.v, &m->attribute_indices.n);
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_line(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_line_t *l) {
  memset(l, 0, sizeof *l);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &l->function_index); break;
    case 2 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      l->line = (int64_t)x;
      break;
    case 3 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      l->column = (int64_t)x;
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

/* Two passes: count lines and attribute indices, then fill exact arrays. */
static int dec_location_counted(dctx_t *c, const uint8_t *p, const uint8_t *end,
                                pc_location_t *l) {
  static const uint8_t kinds[5] = {[3] = K_LEN, [4] = K_VARINT};
  uint32_t counts[5] = {0};
  int rc = count_fields(c, p, end, kinds, 5, counts);
  if (rc) return rc;
  memset(l, 0, sizeof *l);
  ALLOC_ARRAY(c, l->lines, counts[3]);
  ALLOC_ARRAY(c, l->attribute_indices.v, counts[4]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &l->mapping_index); break;
    case 2 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &l->address); break;
    case 3 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      rc = dec_line(c, s, e, &l->lines[l->n_lines++]);
      break;
    case 4 << 3 | WT_VARINT:
    case 4 << 3 | WT_LEN:
      rc = rd_rep_i32(c, &p, end, wt, l->attribute_indices.v, &l->attribute_indices.n);
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

/* Locations are the most numerous messages and nearly all are a mapping,
 * an address, a few lines and a frame-type attribute: read those in one
 * pass into small local arrays, and take the two-pass path for anything
 * else (many lines or attributes, other fields, malformed input, which it
 * then reports). */
#define LOCATION_FAST_LINES 8
#define LOCATION_FAST_ATTRS 4
static int dec_location(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_location_t *l) {
  const uint8_t *start = p;
  pc_line_t lines[LOCATION_FAST_LINES];
  int32_t attrs[LOCATION_FAST_ATTRS];
  uint32_t n_lines = 0, n_attrs = 0;
  memset(l, 0, sizeof *l);
  while (p < end) {
    uint64_t key, v;
    if (!rd_varint(&p, end, &key) || !rd_varint(&p, end, &v)) goto slow;
    if (key == (1 << 3 | WT_VARINT)) {
      l->mapping_index = (int32_t)(uint32_t)v;
    } else if (key == (2 << 3 | WT_VARINT)) {
      l->address = v;
    } else if (key == (3 << 3 | WT_LEN) && n_lines < LOCATION_FAST_LINES &&
               v <= (uint64_t)(end - p)) {
      int rc = dec_line(c, p, p + v, &lines[n_lines++]);
      if (rc) return rc;
      p += v;
    } else if (key == (4 << 3 | WT_VARINT) && n_attrs < LOCATION_FAST_ATTRS) {
      attrs[n_attrs++] = (int32_t)(uint32_t)v;
    } else if (key == (4 << 3 | WT_LEN) && v <= (uint64_t)(end - p) &&
               count_varint_ends(p, p + v) <= LOCATION_FAST_ATTRS - n_attrs) {
      const uint8_t *e = p + v;
      while (p < e && rd_varint(&p, e, &v)) attrs[n_attrs++] = (int32_t)(uint32_t)v;
      if (p != e) goto slow;
    } else {
      goto slow;
    }
  }
  ALLOC_ARRAY(c, l->lines, n_lines);
  ALLOC_ARRAY(c, l->attribute_indices.v, n_attrs);
  if (n_lines) memcpy(l->lines, lines, n_lines * sizeof *lines);
  if (n_attrs) memcpy(l->attribute_indices.v, attrs, n_attrs * sizeof *attrs);
  l->n_lines = n_lines;
  l->attribute_indices.n = n_attrs;
  return 0;
slow:
  return dec_location_counted(c, start, end, l);
}

static int dec_function(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_function_t *fn) {
  memset(fn, 0, sizeof *fn);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &fn->name_strindex); break;
    case 2 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &fn->system_name_strindex); break;
    case 3 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &fn->filename_strindex); break;
    case 4 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      fn->start_line = (int64_t)x;
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_link(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_link_t *l) {
  memset(l, 0, sizeof *l);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN: rc = rd_bytes(c, &p, end, &l->trace_id); break;
    case 2 << 3 | WT_LEN: rc = rd_bytes(c, &p, end, &l->span_id); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_attr(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_attr_t *a) {
  memset(a, 0, sizeof *a);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &a->key_strindex); break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      a->has_value = true;
      rc = dec_anyvalue(c, s, e, &a->value, 1);
      break;
    case 3 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &a->unit_strindex); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_stack(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_stack_t *st) {
  static const uint8_t kinds[2] = {[1] = K_VARINT};
  uint32_t counts[2] = {0};
  int rc = count_fields(c, p, end, kinds, 2, counts);
  if (rc) return rc;
  return i32_list(c, p, end, 1, counts[1], &st->location_indices);
}

static int dec_dictionary(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_dictionary_t *d) {
  static const uint8_t kinds[8] = {K_NONE, K_LEN, K_LEN, K_LEN, K_LEN, K_LEN, K_LEN, K_LEN};
  uint32_t counts[8] = {0};
  int rc = count_fields(c, p, end, kinds, 8, counts);
  if (rc) return rc;
  ALLOC_ARRAY(c, d->mappings, counts[1]);
  ALLOC_ARRAY(c, d->locations, counts[2]);
  ALLOC_ARRAY(c, d->functions, counts[3]);
  ALLOC_ARRAY(c, d->links, counts[4]);
  ALLOC_ARRAY(c, d->strings, counts[5]);
  ALLOC_ARRAY(c, d->attrs, counts[6]);
  ALLOC_ARRAY(c, d->stacks, counts[7]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    if (wt != WT_LEN || f < 1 || f > 7) {
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
      continue;
    }
    if (f == 5) { /* the hottest table: no path push per string */
      const uint8_t *at = p;
      pc_str_t *str = &d->strings[d->n_strings];
      if ((rc = rd_bytes(c, &p, end, str))) break;
      if (!utf8_valid(str->p, str->n)) {
        push(c, "string_table", d->n_strings);
        return fail(c, at, "string is not valid UTF-8");
      }
      d->n_strings++;
      continue;
    }
    const uint8_t *s = NULL, *e = NULL;
    if ((rc = rd_len(c, &p, end, &s, &e))) break;
    switch (f) {
    case 1:
      push(c, "mapping_table", d->n_mappings);
      rc = dec_mapping(c, s, e, &d->mappings[d->n_mappings++]);
      break;
    case 2:
      push(c, "location_table", d->n_locations);
      rc = dec_location(c, s, e, &d->locations[d->n_locations++]);
      break;
    case 3:
      push(c, "function_table", d->n_functions);
      rc = dec_function(c, s, e, &d->functions[d->n_functions++]);
      break;
    case 4:
      push(c, "link_table", d->n_links);
      rc = dec_link(c, s, e, &d->links[d->n_links++]);
      break;
    case 6:
      push(c, "attribute_table", d->n_attrs);
      rc = dec_attr(c, s, e, &d->attrs[d->n_attrs++]);
      break;
    default: /* 7 */
      push(c, "stack_table", d->n_stacks);
      rc = dec_stack(c, s, e, &d->stacks[d->n_stacks++]);
      break;
    }
    if (!rc) pop(c);
  }
  return rc;
}

/* ---- profiles: the tree ------------------------------------------------------------ */

static int dec_valuetype(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_valuetype_t *vt) {
  memset(vt, 0, sizeof *vt);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &vt->type_strindex); break;
    case 2 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &vt->unit_strindex); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

/* Elements of each repeated field of a Sample that the one-pass reader
 * holds on the stack; a busy profiler's sample has one or two values and
 * timestamps and a few attributes. */
#define SAMPLE_FAST_MAX 16

/* One pass over a Sample of the usual shape: stack_index, link_index and
 * each repeated field at most once, packed, with at most SAMPLE_FAST_MAX
 * elements, no other field. It reads into the stack, then carves exactly
 * the arrays dec_sample's two passes would, in the same order, so arena
 * limits hold alike. Anything else - an error, an unknown or repeated
 * field, a long run - returns 1 having touched neither the arena nor the
 * error, and dec_sample reads the message again the general way, which
 * reports what it reported before. Counting the fields first was about a
 * sixth of a sample-heavy request's decode. */
static int dec_sample_fast(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_sample_t *smp) {
  int32_t attrs[SAMPLE_FAST_MAX];
  int64_t values[SAMPLE_FAST_MAX];
  uint64_t stamps[SAMPLE_FAST_MAX];
  uint32_t n_attrs = 0, n_values = 0, n_stamps = 0, seen = 0;
  int32_t stack = 0, link = 0;
  while (p < end) {
    uint64_t key, x;
    if (!rd_varint(&p, end, &key)) return 1;
    if ((key & 7) == WT_VARINT) {
      if (!rd_varint(&p, end, &x)) return 1;
      if (key == (1 << 3 | WT_VARINT)) stack = (int32_t)(uint32_t)x;
      else if (key == (3 << 3 | WT_VARINT)) link = (int32_t)(uint32_t)x;
      else return 1;
      continue;
    }
    if ((key & 7) != WT_LEN || (key >> 3) < 2 || (key >> 3) > 5 || (key >> 3) == 3) return 1;
    uint32_t f = (uint32_t)(key >> 3);
    if (seen & (1u << f)) return 1;
    seen |= 1u << f;
    uint64_t n;
    if (!rd_varint(&p, end, &n) || n > (uint64_t)(end - p)) return 1;
    const uint8_t *s = p, *e = p + n;
    p = e;
    if (f == 5) {
      if (n % 8 || n / 8 > SAMPLE_FAST_MAX) return 1;
      for (; s < e; s += 8) stamps[n_stamps++] = wire_load64(s);
      continue;
    }
    while (s < e) {
      if ((f == 2 ? n_attrs : n_values) == SAMPLE_FAST_MAX || !rd_varint(&s, e, &x)) return 1;
      if (f == 2) attrs[n_attrs++] = (int32_t)(uint32_t)x;
      else values[n_values++] = (int64_t)x;
    }
  }
  memset(smp, 0, sizeof *smp);
  ALLOC_ARRAY(c, smp->attribute_indices.v, n_attrs);
  ALLOC_ARRAY(c, smp->values, n_values);
  ALLOC_ARRAY(c, smp->timestamps_unix_nano, n_stamps);
  if (n_attrs) memcpy(smp->attribute_indices.v, attrs, n_attrs * sizeof *attrs);
  if (n_values) memcpy(smp->values, values, n_values * sizeof *values);
  if (n_stamps) memcpy(smp->timestamps_unix_nano, stamps, n_stamps * sizeof *stamps);
  smp->attribute_indices.n = n_attrs;
  smp->n_values = n_values;
  smp->n_timestamps = n_stamps;
  smp->stack_index = stack;
  smp->link_index = link;
  return 0;
}

static int dec_sample(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_sample_t *smp) {
  int fast = dec_sample_fast(c, p, end, smp);
  if (fast <= 0) return fast; /* read, or the arena refused (as it would below) */
  static const uint8_t kinds[6] = {[2] = K_VARINT, [4] = K_VARINT, [5] = K_FIXED64};
  uint32_t counts[6] = {0};
  int rc = count_fields(c, p, end, kinds, 6, counts);
  if (rc) return rc;
  memset(smp, 0, sizeof *smp);
  ALLOC_ARRAY(c, smp->attribute_indices.v, counts[2]);
  ALLOC_ARRAY(c, smp->values, counts[4]);
  ALLOC_ARRAY(c, smp->timestamps_unix_nano, counts[5]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &smp->stack_index); break;
    case 2 << 3 | WT_VARINT:
    case 2 << 3 | WT_LEN:
      rc = rd_rep_i32(c, &p, end, wt, smp->attribute_indices.v, &smp->attribute_indices.n);
      break;
    case 3 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &smp->link_index); break;
    case 4 << 3 | WT_VARINT:
    case 4 << 3 | WT_LEN:
      rc = rd_rep_i64(c, &p, end, wt, smp->values, &smp->n_values);
      break;
    case 5 << 3 | WT_I64:
    case 5 << 3 | WT_LEN:
      rc = rd_rep_fixed64(c, &p, end, wt, smp->timestamps_unix_nano, &smp->n_timestamps);
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_profile(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_profile_t *pr) {
  static const uint8_t kinds[12] = {[2] = K_LEN, [11] = K_VARINT};
  uint32_t counts[12] = {0};
  int rc = count_fields(c, p, end, kinds, 12, counts);
  if (rc) return rc;
  memset(pr, 0, sizeof *pr);
  ALLOC_ARRAY(c, pr->samples, counts[2]);
  ALLOC_ARRAY(c, pr->attribute_indices.v, counts[11]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    uint64_t x;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      pr->has_sample_type = true;
      rc = dec_valuetype(c, s, e, &pr->sample_type);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "samples", pr->n_samples);
      rc = dec_sample(c, s, e, &pr->samples[pr->n_samples++]);
      if (!rc) pop(c);
      break;
    case 3 << 3 | WT_I64: rc = rd_fixed64(c, &p, end, &pr->time_unix_nano); break;
    case 4 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &pr->duration_nano); break;
    case 5 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      pr->has_period_type = true;
      rc = dec_valuetype(c, s, e, &pr->period_type);
      break;
    case 6 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      pr->period = (int64_t)x;
      break;
    case 7 << 3 | WT_LEN: rc = rd_bytes(c, &p, end, &pr->profile_id); break;
    case 8 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      pr->dropped_attributes_count = (uint32_t)x;
      break;
    case 9 << 3 | WT_LEN:
      rc = rd_string(c, &p, end, &pr->original_payload_format, "original_payload_format");
      break;
    case 10 << 3 | WT_LEN: rc = rd_bytes(c, &p, end, &pr->original_payload); break;
    case 11 << 3 | WT_VARINT:
    case 11 << 3 | WT_LEN:
      rc = rd_rep_i32(c, &p, end, wt, pr->attribute_indices.v, &pr->attribute_indices.n);
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_scope_profiles(dctx_t *c, const uint8_t *p, const uint8_t *end,
                              pc_scope_profiles_t *sp) {
  static const uint8_t kinds[3] = {[2] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(c, p, end, kinds, 3, counts);
  if (rc) return rc;
  memset(sp, 0, sizeof *sp);
  ALLOC_ARRAY(c, sp->profiles, counts[2]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      sp->has_scope = true;
      push(c, "scope", -1);
      rc = dec_scope(c, s, e, &sp->scope);
      if (!rc) pop(c);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "profiles", sp->n_profiles);
      rc = dec_profile(c, s, e, &sp->profiles[sp->n_profiles++]);
      if (!rc) pop(c);
      break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &sp->schema_url, "schema_url"); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_resource_profiles(dctx_t *c, const uint8_t *p, const uint8_t *end,
                                 pc_resource_profiles_t *rp) {
  static const uint8_t kinds[3] = {[2] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(c, p, end, kinds, 3, counts);
  if (rc) return rc;
  memset(rp, 0, sizeof *rp);
  ALLOC_ARRAY(c, rp->scopes, counts[2]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      rp->has_resource = true;
      push(c, "resource", -1);
      rc = dec_resource(c, s, e, &rp->resource);
      if (!rc) pop(c);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "scope_profiles", rp->n_scopes);
      rc = dec_scope_profiles(c, s, e, &rp->scopes[rp->n_scopes++]);
      if (!rc) pop(c);
      break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &rp->schema_url, "schema_url"); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

int pc_proto_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_request_t *req,
                    pc_err_t *err) {
  memset(req, 0, sizeof *req);
  req->arena = arena;
  req->encoded = buf;
  req->encoded_n = n;
  if (n == 0) return 0; /* an empty request; buf may be NULL */
  dctx_t c = {.base = buf, .arena = arena, .err = err};
  const uint8_t *p = buf, *end = buf + n;
  static const uint8_t kinds[3] = {[1] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(&c, p, end, kinds, 3, counts);
  if (rc) return rc;
  ALLOC_ARRAY(&c, req->resources, counts[1]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(&c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(&c, &p, end, &s, &e))) break;
      push(&c, "resource_profiles", req->n_resources);
      rc = dec_resource_profiles(&c, s, e, &req->resources[req->n_resources++]);
      if (!rc) pop(&c);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(&c, &p, end, &s, &e))) break;
      /* A repeated occurrence of a message field merges into the first;
       * profcol keeps the last one's tables only when there is one, which
       * is what every real producer sends. */
      if (req->has_dictionary) return fail(&c, s, "dictionary given more than once");
      req->has_dictionary = true;
      push(&c, "dictionary", -1);
      rc = dec_dictionary(&c, s, e, &req->dict);
      if (!rc) pop(&c);
      break;
    default: rc = skip_field(&c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (rc) return rc;
  return pc_pdata_validate(req, err);
}

/* ---- traces: ExportTraceServiceRequest (traces.h) ----------------------------------
 * The same reader for spans, which trace linking reads and exporters forward
 * as the bytes they came in: ids are checked for size as the Collector's
 * pdata checks them when it unmarshals, strings for UTF-8; a span's events
 * and links are checked the same way and counted, not kept. */

/* A trace_id (16) or span_id (8) field: that many bytes, or none. */
static int rd_id(dctx_t *c, const uint8_t **pp, const uint8_t *end, size_t want,
                 const char *name, pc_str_t *out) {
  const uint8_t *at = *pp;
  int rc = rd_bytes(c, pp, end, out);
  if (!rc && out->n != 0 && out->n != want)
    return fail(c, at, "%s: must be %zu bytes (or empty), got %zu", name, want, out->n);
  return rc;
}

static int rd_fixed32(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint32_t *out) {
  *out = 0;
  if (end - *pp < 4) return fail(c, *pp, "truncated 32-bit field");
  *out = (uint32_t)(*pp)[0] | (uint32_t)(*pp)[1] << 8 | (uint32_t)(*pp)[2] << 16 |
         (uint32_t)(*pp)[3] << 24;
  *pp += 4;
  return 0;
}

/* A KeyValue that is checked and dropped (events' and links' attributes). */
static int check_keyvalue(dctx_t *c, const uint8_t **pp, const uint8_t *end, const char *name,
                          uint32_t i) {
  const uint8_t *s = NULL, *e = NULL;
  int rc = rd_len(c, pp, end, &s, &e);
  if (rc) return rc;
  if (!push(c, name, i)) return fail(c, s, "nested too deeply");
  pc_keyvalue_t kv;
  rc = dec_keyvalue(c, s, e, &kv, 1);
  if (!rc) pop(c);
  return rc;
}

static int check_span_event(dctx_t *c, const uint8_t *p, const uint8_t *end) {
  int rc = 0;
  uint32_t n_attrs = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    pc_str_t str;
    switch (f << 3 | wt) {
    case 2 << 3 | WT_LEN: rc = rd_string(c, &p, end, &str, "name"); break;
    case 3 << 3 | WT_LEN: rc = check_keyvalue(c, &p, end, "attributes", n_attrs++); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int check_span_link(dctx_t *c, const uint8_t *p, const uint8_t *end) {
  int rc = 0;
  uint32_t n_attrs = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    pc_str_t str;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN: rc = rd_id(c, &p, end, 16, "trace_id", &str); break;
    case 2 << 3 | WT_LEN: rc = rd_id(c, &p, end, 8, "span_id", &str); break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &str, "trace_state"); break;
    case 4 << 3 | WT_LEN: rc = check_keyvalue(c, &p, end, "attributes", n_attrs++); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_status(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_span_t *sp) {
  int rc = 0;
  sp->has_status = true;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 2 << 3 | WT_LEN: rc = rd_string(c, &p, end, &sp->status_message, "message"); break;
    case 3 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &sp->status_code); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_span(dctx_t *c, const uint8_t *p, const uint8_t *end, pc_span_t *sp) {
  static const uint8_t kinds[10] = {[9] = K_LEN};
  uint32_t counts[10] = {0};
  int rc = count_fields(c, p, end, kinds, 10, counts);
  if (rc) return rc;
  memset(sp, 0, sizeof *sp);
  if ((rc = kv_list(c, p, end, 9, counts[9], "attributes", &sp->attributes))) return rc;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t x;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN: rc = rd_id(c, &p, end, 16, "trace_id", &sp->trace_id); break;
    case 2 << 3 | WT_LEN: rc = rd_id(c, &p, end, 8, "span_id", &sp->span_id); break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &sp->trace_state, "trace_state"); break;
    case 4 << 3 | WT_LEN: rc = rd_id(c, &p, end, 8, "parent_span_id", &sp->parent_span_id); break;
    case 5 << 3 | WT_LEN: rc = rd_string(c, &p, end, &sp->name, "name"); break;
    case 6 << 3 | WT_VARINT: rc = rd_i32(c, &p, end, &sp->kind); break;
    case 7 << 3 | WT_I64: rc = rd_fixed64(c, &p, end, &sp->start_time_unix_nano); break;
    case 8 << 3 | WT_I64: rc = rd_fixed64(c, &p, end, &sp->end_time_unix_nano); break;
    case 10 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      sp->dropped_attributes_count = (uint32_t)x;
      break;
    case 11 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      if (!push(c, "events", sp->n_events)) return fail(c, s, "nested too deeply");
      rc = check_span_event(c, s, e);
      if (!rc) pop(c);
      sp->n_events++;
      break;
    case 12 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      sp->dropped_events_count = (uint32_t)x;
      break;
    case 13 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      if (!push(c, "links", sp->n_links)) return fail(c, s, "nested too deeply");
      rc = check_span_link(c, s, e);
      if (!rc) pop(c);
      sp->n_links++;
      break;
    case 14 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &x);
      sp->dropped_links_count = (uint32_t)x;
      break;
    case 15 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      if (!push(c, "status", -1)) return fail(c, s, "nested too deeply");
      rc = dec_status(c, s, e, sp);
      if (!rc) pop(c);
      break;
    case 16 << 3 | WT_I32: rc = rd_fixed32(c, &p, end, &sp->flags); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_scope_spans(dctx_t *c, const uint8_t *p, const uint8_t *end,
                           pc_scope_spans_t *ss) {
  static const uint8_t kinds[3] = {[2] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(c, p, end, kinds, 3, counts);
  if (rc) return rc;
  memset(ss, 0, sizeof *ss);
  ALLOC_ARRAY(c, ss->spans, counts[2]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      ss->has_scope = true;
      push(c, "scope", -1);
      rc = dec_scope(c, s, e, &ss->scope);
      if (!rc) pop(c);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "spans", ss->n_spans);
      rc = dec_span(c, s, e, &ss->spans[ss->n_spans++]);
      if (!rc) pop(c);
      break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &ss->schema_url, "schema_url"); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int dec_resource_spans(dctx_t *c, const uint8_t *p, const uint8_t *end,
                              pc_resource_spans_t *rs) {
  static const uint8_t kinds[3] = {[2] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(c, p, end, kinds, 3, counts);
  if (rc) return rc;
  memset(rs, 0, sizeof *rs);
  ALLOC_ARRAY(c, rs->scopes, counts[2]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      rs->has_resource = true;
      push(c, "resource", -1);
      rc = dec_resource(c, s, e, &rs->resource);
      if (!rc) pop(c);
      break;
    case 2 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "scope_spans", rs->n_scopes);
      rc = dec_scope_spans(c, s, e, &rs->scopes[rs->n_scopes++]);
      if (!rc) pop(c);
      break;
    case 3 << 3 | WT_LEN: rc = rd_string(c, &p, end, &rs->schema_url, "schema_url"); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

int pc_traces_proto_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_traces_t *tr,
                           pc_err_t *err) {
  memset(tr, 0, sizeof *tr);
  tr->arena = arena;
  tr->encoded = buf;
  tr->encoded_n = n;
  if (n == 0) return 0;
  dctx_t c = {.base = buf, .arena = arena, .err = err};
  const uint8_t *p = buf, *end = buf + n;
  /* Field 2 is an ExportProfilesServiceRequest's dictionary, which every
   * profiles request has: say so rather than read profiles as spans. */
  static const uint8_t kinds[3] = {[1] = K_LEN, [2] = K_LEN};
  uint32_t counts[3] = {0};
  int rc = count_fields(&c, p, end, kinds, 3, counts);
  if (rc) return rc;
  if (counts[2])
    return pc_err_set(err, PC_EDECODE, "this is not an ExportTraceServiceRequest: it has "
                      "field 2, the dictionary of an ExportProfilesServiceRequest (send "
                      "profiles to the profiles path)");
  ALLOC_ARRAY(&c, tr->resources, counts[1]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(&c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(&c, &p, end, &s, &e))) break;
      push(&c, "resource_spans", tr->n_resources);
      rc = dec_resource_spans(&c, s, e, &tr->resources[tr->n_resources++]);
      if (!rc) pop(&c);
      break;
    default: rc = skip_field(&c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}
