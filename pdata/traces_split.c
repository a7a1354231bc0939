/* traces_split.c - one ExportTraceServiceRequest into several, by an owner
 * per span, for the load_balancing exporter (spans of one trace to one
 * backend). profcol forwards spans as the bytes they came in (traces.h), so
 * this splits those bytes rather than re-encoding a model: every part keeps
 * each resource's and each scope's own fields exactly as they came (unknown
 * fields too), followed by only its spans, each span copied verbatim.
 *
 * Protobuf: a walk over the wire (the request was validated when decoded,
 * so the walk only re-finds field boundaries), sizes computed first so that
 * each part is written once with canonical length prefixes. OTLP-JSON: the
 * document is parsed again with jansson and each part is the same document
 * with the span arrays cut down, the untouched objects shared.
 *
 * Owners come in tree order, the order the decoders fill the model in, and
 * the walk checks that it meets exactly as many spans as the model has. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "traces.h"

/* ---- protobuf ------------------------------------------------------------------- */

typedef struct {
  const uint8_t *p; /* the whole field: tag, length, payload */
  size_t n;
  const uint8_t *payload; /* LEN fields: the payload */
  size_t payload_n;
  uint32_t field;
} fld_t;

static bool rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && *pp < end; shift += 7) {
    uint8_t b = *(*pp)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false;
}

static bool skip_value(const uint8_t **pp, const uint8_t *end, uint64_t tag, int depth);

/* A group (wire types 3 and 4, deprecated but valid: the decoders skip
 * them in unknown fields, so they are kept here as any unknown field). */
static bool skip_group(const uint8_t **pp, const uint8_t *end, uint64_t field, int depth) {
  if (depth > 16) return false; /* as the decoders' limit */
  uint64_t tag;
  while (*pp < end) {
    if (!rd_varint(pp, end, &tag)) return false;
    if ((tag & 7) == 4) return (tag >> 3) == field;
    if (!skip_value(pp, end, tag, depth + 1)) return false;
  }
  return false;
}

static bool skip_value(const uint8_t **pp, const uint8_t *end, uint64_t tag, int depth) {
  uint64_t v;
  switch (tag & 7) {
  case 0: return rd_varint(pp, end, &v);
  case 1:
    if (end - *pp < 8) return false;
    *pp += 8;
    return true;
  case 2:
    if (!rd_varint(pp, end, &v) || v > (uint64_t)(end - *pp)) return false;
    *pp += v;
    return true;
  case 3: return skip_group(pp, end, tag >> 3, depth);
  case 5:
    if (end - *pp < 4) return false;
    *pp += 4;
    return true;
  default: return false;
  }
}

/* The next field of [*pp, end); false at the end or on bad wire data. */
static bool next_field(const uint8_t **pp, const uint8_t *end, fld_t *f, int *rc) {
  *rc = 0;
  if (*pp >= end) return false;
  const uint8_t *start = *pp;
  uint64_t tag, v;
  if (!rd_varint(pp, end, &tag)) goto bad;
  f->field = (uint32_t)(tag >> 3);
  f->payload = NULL;
  f->payload_n = 0;
  switch (tag & 7) {
  case 3:
    if (!skip_group(pp, end, tag >> 3, 0)) goto bad;
    break;
  case 0:
    if (!rd_varint(pp, end, &v)) goto bad;
    break;
  case 1:
    if (end - *pp < 8) goto bad;
    *pp += 8;
    break;
  case 2:
    if (!rd_varint(pp, end, &v) || v > (uint64_t)(end - *pp)) goto bad;
    f->payload = *pp;
    f->payload_n = (size_t)v;
    *pp += v;
    break;
  case 5:
    if (end - *pp < 4) goto bad;
    *pp += 4;
    break;
  default:
    goto bad;
  }
  f->p = start;
  f->n = (size_t)(*pp - start);
  return true;
bad:
  *rc = PC_EDECODE;
  return false;
}

/* Field 2 (ResourceSpans.scope_spans, ScopeSpans.spans) as a message: the
 * decoders skip it like an unknown field when its wire type is not LEN,
 * and so does this walk (it is copied as one of the "other" fields). */
static bool is_sub(const fld_t *f) { return f->field == 2 && f->payload; }

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static size_t len_field_size(size_t payload) { return 1 + varint_size(payload) + payload; }

static void put_varint(pc_buf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) tmp[n++] = (uint8_t)(v | 0x80), v >>= 7;
  tmp[n++] = (uint8_t)v;
  if (pc_buf_append(b, tmp, n)) pc_oom();
}

static void put_len_header(pc_buf_t *b, uint32_t field, size_t payload) {
  put_varint(b, (uint64_t)field << 3 | 2);
  put_varint(b, payload);
}

static void put_raw(pc_buf_t *b, const uint8_t *p, size_t n) {
  if (n && pc_buf_append(b, p, n)) pc_oom();
}

/* Bytes of a ScopeSpans' fields other than spans, and per part the bytes of
 * its spans (as fields); *span advances over the scope's spans. */
static int scope_sizes(const fld_t *scope, const uint16_t *owner, uint64_t n_owner,
                       uint64_t *span, size_t n_parts, size_t *other, size_t *per_part) {
  const uint8_t *p = scope->payload, *end = p + scope->payload_n;
  fld_t f;
  int rc;
  *other = 0;
  memset(per_part, 0, n_parts * sizeof *per_part);
  while (next_field(&p, end, &f, &rc)) {
    if (!is_sub(&f)) {
      *other += f.n;
      continue;
    }
    if (*span >= n_owner) return PC_EDECODE;
    per_part[owner[(*span)++]] += f.n;
  }
  return rc;
}

/* Write the part of one ResourceSpans (payload rs) that part k owns. */
static int write_resource(const fld_t *rs, const uint16_t *owner, uint64_t n_owner,
                          uint64_t first_span, size_t n_parts, pc_buf_t *parts, size_t *tmp) {
  /* Pass 1: the size of each part's ResourceSpans payload. */
  size_t *res = tmp, *per = tmp + n_parts, other_rs = 0;
  memset(res, 0, n_parts * sizeof *res);
  const uint8_t *p = rs->payload, *end = p + rs->payload_n;
  fld_t f;
  int rc;
  uint64_t span = first_span;
  while (next_field(&p, end, &f, &rc)) {
    if (!is_sub(&f)) {
      other_rs += f.n;
      continue;
    }
    size_t other;
    if ((rc = scope_sizes(&f, owner, n_owner, &span, n_parts, &other, per))) return rc;
    for (size_t k = 0; k < n_parts; k++)
      if (per[k]) res[k] += len_field_size(other + per[k]);
  }
  if (rc) return rc;
  /* Pass 2: each part that has spans here gets the resource's own fields,
   * then each scope it has spans in: the scope's own fields, its spans. */
  for (size_t k = 0; k < n_parts; k++) {
    if (!res[k]) continue;
    pc_buf_t *b = &parts[k];
    put_len_header(b, 1, other_rs + res[k]);
    span = first_span;
    p = rs->payload;
    while (next_field(&p, end, &f, &rc)) {
      if (!is_sub(&f)) {
        put_raw(b, f.p, f.n);
        continue;
      }
      uint64_t scope_first = span;
      size_t other;
      scope_sizes(&f, owner, n_owner, &span, n_parts, &other, per);
      if (!per[k]) continue;
      put_len_header(b, 2, other + per[k]);
      const uint8_t *q = f.payload, *qend = q + f.payload_n;
      fld_t g;
      uint64_t s = scope_first;
      while (next_field(&q, qend, &g, &rc)) {
        if (!is_sub(&g)) put_raw(b, g.p, g.n);
        else if (owner[s++] == k) put_raw(b, g.p, g.n);
      }
    }
  }
  return 0;
}

static int split_proto(const pc_traces_t *tr, const uint16_t *owner, uint64_t n_owner,
                       size_t n_parts, pc_buf_t *parts) {
  const uint8_t *p = tr->encoded, *end = p + tr->encoded_n;
  size_t *tmp = pc_xcalloc(2 * n_parts, sizeof *tmp);
  fld_t f;
  int rc = 0;
  uint64_t span = 0;
  while (!rc && next_field(&p, end, &f, &rc)) {
    if (f.field != 1 || !f.payload) continue; /* nothing else is at the top level */
    rc = write_resource(&f, owner, n_owner, span, n_parts, parts, tmp);
    /* count this resource's spans to find the next one's first */
    const uint8_t *q = f.payload, *qend = q + f.payload_n;
    fld_t g;
    int rc2;
    while (!rc && next_field(&q, qend, &g, &rc2)) {
      if (!is_sub(&g)) continue;
      const uint8_t *s = g.payload, *send = s + g.payload_n;
      fld_t h;
      while (next_field(&s, send, &h, &rc2))
        if (is_sub(&h)) span++;
    }
  }
  free(tmp);
  if (!rc && span != n_owner) rc = PC_EDECODE;
  return rc;
}

/* ---- OTLP-JSON ------------------------------------------------------------------- */

static json_t *member(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_array(v) ? v : NULL;
}

static int split_json(const pc_traces_t *tr, const uint16_t *owner, uint64_t n_owner,
                      size_t n_parts, pc_buf_t *parts) {
  json_t *root = json_loadb((const char *)tr->encoded, tr->encoded_n,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return PC_EDECODE;
  }
  json_t **out = pc_xcalloc(n_parts, sizeof *out);
  json_t *rss = member(root, "resourceSpans");
  uint64_t span = 0;
  int rc = 0;
  for (size_t i = 0; !rc && i < json_array_size(rss); i++) {
    json_t *rs = json_array_get(rss, i);
    json_t *sss = member(rs, "scopeSpans");
    json_t **rs_part = pc_xcalloc(n_parts, sizeof *rs_part);
    for (size_t j = 0; !rc && j < json_array_size(sss); j++) {
      json_t *ss = json_array_get(sss, j);
      json_t *spans = member(ss, "spans");
      json_t **ss_part = pc_xcalloc(n_parts, sizeof *ss_part);
      for (size_t s = 0; s < json_array_size(spans); s++, span++) {
        if (span >= n_owner) {
          rc = PC_EDECODE;
          break;
        }
        size_t k = owner[span];
        if (!ss_part[k]) {
          ss_part[k] = json_copy(ss); /* shallow: the other members are shared */
          json_object_set_new(ss_part[k], "spans", json_array());
        }
        json_array_append(json_object_get(ss_part[k], "spans"), json_array_get(spans, s));
      }
      for (size_t k = 0; k < n_parts; k++) {
        if (!ss_part[k]) continue;
        if (!rs_part[k]) {
          rs_part[k] = json_copy(rs);
          json_object_set_new(rs_part[k], "scopeSpans", json_array());
        }
        json_array_append_new(json_object_get(rs_part[k], "scopeSpans"), ss_part[k]);
      }
      free(ss_part);
    }
    for (size_t k = 0; k < n_parts; k++) {
      if (!rs_part[k]) continue;
      if (!out[k]) {
        out[k] = json_copy(root);
        json_object_set_new(out[k], "resourceSpans", json_array());
      }
      json_array_append_new(json_object_get(out[k], "resourceSpans"), rs_part[k]);
    }
    free(rs_part);
  }
  if (!rc && span != n_owner) rc = PC_EDECODE;
  for (size_t k = 0; k < n_parts; k++) {
    if (!rc && out[k]) {
      char *s = json_dumps(out[k], JSON_COMPACT);
      if (!s) pc_oom();
      put_raw(&parts[k], (const uint8_t *)s, strlen(s));
      free(s);
    }
    json_decref(out[k]);
  }
  free(out);
  json_decref(root);
  return rc;
}

int pc_traces_split(const pc_traces_t *tr, const uint16_t *owner, size_t n_parts,
                    pc_buf_t *parts, pc_err_t *err) {
  uint64_t n_owner = pc_traces_span_count(tr);
  for (uint64_t i = 0; i < n_owner; i++)
    if (owner[i] >= n_parts)
      return pc_err_set(err, PC_EINVAL, "span %" PRIu64 " has owner %u of %zu parts", i,
                        owner[i], n_parts);
  int rc = tr->json ? split_json(tr, owner, n_owner, n_parts, parts)
                    : split_proto(tr, owner, n_owner, n_parts, parts);
  if (rc)
    return pc_err_set(err, rc, "cannot split the %zu-byte %s traces request by span: its spans "
                      "are not where its model says", tr->encoded_n,
                      tr->json ? "OTLP-JSON" : "protobuf");
  return 0;
}
