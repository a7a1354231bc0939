/* traces_split.c - one ExportTraceServiceRequest into several, by an owner
 * per span, for the load_balancing exporter (spans of one trace to one
 * backend). profcol forwards spans as the bytes they came in (traces.h), so
 * this splits those bytes rather than re-encoding a model: every part keeps
 * each resource's and each scope's own fields exactly as they came (unknown
 * fields too), followed by only its spans, each span copied verbatim.
 *
 * Protobuf: a walk over the wire (the request was validated when decoded,
 * so the walk only re-finds field boundaries), sizes computed first so that
 * each part is written once with canonical length prefixes. OTLP-JSON: one
 * walk over the text with the decoder's lexer, no document built (memory:
 * the parts and a few flags per part; the request's budget was spent when
 * it was decoded), each part the same text with the span arrays cut down.
 *
 * Owners come in tree order, the order the decoders fill the model in, and
 * the walk checks that it meets exactly as many spans as the model has. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
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

/* One pass over the text the decoder accepted, no document built: each part
 * gets, in text order, the members of every object it has spans under,
 * copied as they came (keys as spelled, escapes and all), with the arrays
 * that hold spans cut down to its own. Which parts have spans under an
 * object is known when the object opens, from the model: the decoder fills
 * it in text order (an array met twice appends), so resource i's and scope
 * j's spans are the next n_spans owners. A key that holds spans appears in
 * a part only where it holds some of the part's, once per time it appears
 * in the request (a request without duplicate keys gives parts without). */

/* Per part: whether it has spans under the object being walked at each
 * level, whether that object's copy has a member yet, and whether the
 * array holding spans is open in it. */
typedef struct {
  bool in[3];    /* 0: the request, 1: the resource, 2: the scope */
  bool first[3]; /* no member written yet in that object's copy */
  bool open[3];  /* its resourceSpans / scopeSpans / spans array is open */
  bool elem_first[3]; /* no element written yet in that array */
} jpart_t;

typedef struct {
  const uint8_t *p, *end;
  const pc_traces_t *tr;
  const uint16_t *owner;
  uint64_t n_owner, span; /* spans walked */
  uint32_t resource;      /* the ResourceSpans being walked */
  size_t n_parts;
  pc_buf_t *parts;
  jpart_t *st;
} jw_t;

static void ws(jw_t *w) {
  while (w->p < w->end && (*w->p == ' ' || *w->p == '\n' || *w->p == '\r' || *w->p == '\t'))
    w->p++;
}

static bool eat(jw_t *w, char c) {
  ws(w);
  if (w->p >= w->end || *w->p != c) return false;
  w->p++;
  ws(w);
  return true;
}

static void put_c(pc_buf_t *b, char c) { put_raw(b, (const uint8_t *)&c, 1); }

static void comma(pc_buf_t *b, bool *first) {
  if (!*first) put_c(b, ',');
  *first = false;
}

/* Mark in st[].in[lvl] the parts that own spans [from, from + n). */
static int mark(jw_t *w, int lvl, uint64_t from, uint64_t n) {
  if (n > w->n_owner - from) return PC_EDECODE;
  for (size_t k = 0; k < w->n_parts; k++) w->st[k].in[lvl] = false;
  for (uint64_t i = from; i < from + n; i++) w->st[w->owner[i]].in[lvl] = true;
  return 0;
}

typedef int (*elem_fn)(jw_t *w, int lvl, const uint8_t *key, size_t key_n, uint32_t i);

/* The object at w->p at level lvl (0 request, 1 ResourceSpans, 2
 * ScopeSpans): parts with spans under it (st[].in[lvl]) get '{', each member
 * whose key is not sub_names' copied, the array under sub_names walked
 * element by element with elem (null: not set, skipped), and '}'. *count
 * is the number of elements walked. The request's other members are not
 * copied, as the protobuf walk drops its other fields: the request has no
 * other field, and a large unknown member (a JSON bomb beside one span)
 * must not be copied into every part. */
static int walk_object(jw_t *w, int lvl, const char *const sub_names[2], elem_fn elem,
                       uint32_t *count) {
  if (!eat(w, '{')) return PC_EDECODE;
  for (size_t k = 0; k < w->n_parts; k++)
    if (w->st[k].in[lvl]) {
      put_c(&w->parts[k], '{');
      w->st[k].first[lvl] = true;
      w->st[k].open[lvl] = false;
    }
  *count = 0;
  bool any = false;
  while (w->p < w->end && *w->p != '}') {
    if (any && !eat(w, ',')) return PC_EDECODE;
    any = true;
    const uint8_t *kp = w->p, *after;
    uint8_t buf[32];
    pc_str_t key;
    if (!pc__json_key(w->p, w->end, buf, sizeof buf, &key, &after)) return PC_EDECODE;
    w->p = after;
    size_t key_n = (size_t)(after - kp);
    if (!eat(w, ':')) return PC_EDECODE;
    bool sub = false;
    for (int v = 0; v < 2 && sub_names[v]; v++)
      sub = sub || (key.n == strlen(sub_names[v]) && !memcmp(key.p, sub_names[v], key.n));
    if (sub && w->end - w->p >= 4 && !memcmp(w->p, "null", 4)) {
      w->p += 4; /* not set */
    } else if (sub) {
      if (!eat(w, '[')) return PC_EDECODE;
      bool first = true;
      while (w->p < w->end && *w->p != ']') {
        if (!first && !eat(w, ',')) return PC_EDECODE;
        first = false;
        int rc = elem(w, lvl, kp, key_n, (*count)++);
        if (rc) return rc;
        ws(w);
      }
      if (!eat(w, ']')) return PC_EDECODE;
      for (size_t k = 0; k < w->n_parts; k++)
        if (w->st[k].in[lvl] && w->st[k].open[lvl]) {
          put_c(&w->parts[k], ']');
          w->st[k].open[lvl] = false;
        }
    } else {
      const uint8_t *v_end = pc__json_skip_value(w->p, w->end);
      if (!v_end) return PC_EDECODE;
      for (size_t k = 0; lvl > 0 && k < w->n_parts; k++)
        if (w->st[k].in[lvl]) {
          comma(&w->parts[k], &w->st[k].first[lvl]);
          put_raw(&w->parts[k], kp, (size_t)(v_end - kp));
        }
      w->p = v_end;
    }
    ws(w);
  }
  if (!eat(w, '}')) return PC_EDECODE;
  for (size_t k = 0; k < w->n_parts; k++)
    if (w->st[k].in[lvl]) put_c(&w->parts[k], '}');
  return 0;
}

/* Part k gets an element of the array under key (the raw key, quotes
 * included) in the object at level lvl: the array is opened in its copy
 * when this is its first element there. */
static void open_elem(jw_t *w, size_t k, int lvl, const uint8_t *key, size_t key_n) {
  jpart_t *s = &w->st[k];
  pc_buf_t *b = &w->parts[k];
  if (!s->open[lvl]) {
    comma(b, &s->first[lvl]);
    put_raw(b, key, key_n);
    put_raw(b, (const uint8_t *)":[", 2);
    s->open[lvl] = true;
    s->elem_first[lvl] = true;
  }
  comma(b, &s->elem_first[lvl]);
}

/* A span: copied whole to its owner. */
static int span_elem(jw_t *w, int lvl, const uint8_t *key, size_t key_n, uint32_t i) {
  (void)i;
  if (w->span >= w->n_owner || w->p >= w->end || *w->p != '{') return PC_EDECODE;
  const uint8_t *v_end = pc__json_skip_value(w->p, w->end);
  if (!v_end) return PC_EDECODE;
  size_t k = w->owner[w->span++];
  open_elem(w, k, lvl, key, key_n);
  put_raw(&w->parts[k], w->p, (size_t)(v_end - w->p));
  w->p = v_end;
  return 0;
}

static const char *const SPANS[2] = {"spans", NULL};
static const char *const SCOPE_SPANS[2] = {"scopeSpans", "scope_spans"};
static const char *const RESOURCE_SPANS[2] = {"resourceSpans", "resource_spans"};

/* ScopeSpans j of the resource being walked. */
static int scope_elem(jw_t *w, int lvl, const uint8_t *key, size_t key_n, uint32_t j) {
  const pc_resource_spans_t *rs = &w->tr->resources[w->resource];
  if (j >= rs->n_scopes) return PC_EDECODE;
  uint64_t first = w->span, n = rs->scopes[j].n_spans;
  int rc = mark(w, 2, first, n);
  if (rc) return rc;
  for (size_t k = 0; k < w->n_parts; k++)
    if (w->st[k].in[2]) open_elem(w, k, lvl, key, key_n);
  uint32_t count;
  if ((rc = walk_object(w, 2, SPANS, span_elem, &count))) return rc;
  return w->span == first + n ? 0 : PC_EDECODE;
}

/* ResourceSpans i of the request. */
static int resource_elem(jw_t *w, int lvl, const uint8_t *key, size_t key_n, uint32_t i) {
  if (i >= w->tr->n_resources) return PC_EDECODE;
  const pc_resource_spans_t *rs = &w->tr->resources[i];
  uint64_t first = w->span, n = 0;
  for (uint32_t j = 0; j < rs->n_scopes; j++) n += rs->scopes[j].n_spans;
  int rc = mark(w, 1, first, n);
  if (rc) return rc;
  for (size_t k = 0; k < w->n_parts; k++)
    if (w->st[k].in[1]) open_elem(w, k, lvl, key, key_n);
  w->resource = i;
  uint32_t count;
  if ((rc = walk_object(w, 1, SCOPE_SPANS, scope_elem, &count))) return rc;
  return count == rs->n_scopes && w->span == first + n ? 0 : PC_EDECODE;
}

static int split_json(const pc_traces_t *tr, const uint16_t *owner, uint64_t n_owner,
                      size_t n_parts, pc_buf_t *parts) {
  jw_t w = {.p = tr->encoded, .end = tr->encoded + tr->encoded_n, .tr = tr, .owner = owner,
            .n_owner = n_owner, .n_parts = n_parts, .parts = parts,
            .st = pc_xcalloc(n_parts, sizeof *w.st)};
  int rc = mark(&w, 0, 0, n_owner);
  uint32_t count = 0;
  ws(&w);
  if (!rc) rc = walk_object(&w, 0, RESOURCE_SPANS, resource_elem, &count);
  ws(&w);
  if (!rc && (w.p != w.end || count != tr->n_resources || w.span != n_owner)) rc = PC_EDECODE;
  free(w.st);
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
