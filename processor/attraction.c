/* attraction.c - the Collector's attribute actions, for every processor that
 * edits attributes (processor/internal.h): one implementation, as the
 * Collector shares internal/coreinternal/attraction between its resource
 * and attributes processors.
 *
 * The one idea: actions edit a pc__amap_t, a small array of key/value views
 * that a storage loaded from its own form (resource attributes, or a
 * sample's entries of the dictionary's attribute table) and writes back
 * afterwards, entry by entry, only where something changed. The actions
 * know nothing of where attributes live.
 *
 * Semantics, as the Collector's (checked against its attraction.go,
 * hasher.go and type_converter.go):
 *   insert   sets key when absent; update when present; upsert either. The
 *            value comes from `value` (its YAML type), `from_attribute`
 *            (another attribute of the same set, as it is at that point) or
 *            `from_context` (metadata.<key>: the request's client metadata,
 *            several values joined with ";"); when that source is absent,
 *            `default_value` if given, else nothing happens.
 *   delete   removes key, then every key `pattern` matches.
 *   hash     replaces the value of key (and of every key `pattern`
 *            matches) with the lowercase hex SHA-256 of its bytes: a
 *            string's bytes, a bool as one byte 0/1, an int or double as
 *            its 8 little-endian bytes (a double's IEEE bits); an empty
 *            string and other types (bytes, lists, maps) become "", as in
 *            the Collector. SHA-256,
 *            not SHA-1: the Collector's feature gate that switched it
 *            (coreinternal.attraction.hash.sha256) is stable and the code
 *            hashes with SHA-256 unconditionally.
 *   extract  matches `pattern` against key's value when it is a string and
 *            upserts each named group as a string attribute (a group that
 *            took no part gives ""); every group must be named.
 *   convert  converts key's value to converted_type: int (from double by
 *            truncation; bool 1/0; a decimal string, else unchanged),
 *            double (from int, bool, a Go float string), string (Go's
 *            AsString: shortest round-trip doubles, base64 bytes, JSON
 *            lists and maps). A value that does not convert is left as is.
 * Action names are case-insensitive, as in the Collector. Where the
 * Collector silently ignores a key that the action does not use
 * (from_context on delete), profcol refuses the config instead: a key that
 * does nothing is a mistake. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/log.h"
#include "../httpd/openssl_dl.h"
#include "internal.h"

typedef enum { A_INSERT, A_UPDATE, A_UPSERT, A_DELETE, A_HASH, A_EXTRACT, A_CONVERT } act_t;
typedef enum { CV_INT, CV_DOUBLE, CV_STRING } conv_t;

static const char *const act_names[] = {"insert", "update", "upsert", "delete",
                                        "hash",   "extract", "convert"};
#define N_ACTS (sizeof act_names / sizeof act_names[0])

/* Strings are owned copies: they are compared with every attribute of every
 * set, so they keep their lengths. */
typedef struct {
  act_t act;
  pc_str_t key; /* may be empty for delete and hash with a pattern */
  bool has_value, has_default;
  pc_anyvalue_t value, def; /* constants; strings point into text/def_text */
  char *text, *def_text;
  pc_str_t from_attribute; /* empty: none */
  pc_str_t from_context;   /* a metadata key, without "metadata."; empty: none */
  pc__regex_t *re;         /* pattern */
  pc_str_t *names;         /* extract: [1..groups] the attribute each group sets */
  conv_t conv;
} action_t;

struct pc__actions {
  action_t *v;
  size_t n;
  pc_str_t *groups; /* scratch for extract, room for the largest pattern */
  uint32_t n_groups;
  EVP_MD *sha256;   /* fetched once: an implicit fetch per hash costs a lock */
  uint64_t warned_hits, warned_at_ms; /* pc__actions_warn_limit */
};

/* ---- the map ------------------------------------------------------------------------ */

void pc__amap_clear(pc__amap_t *m) {
  m->n = 0;
  m->changed = false;
}

void pc__amap_push(pc__amap_t *m, pc_str_t key, pc_anyvalue_t value, int32_t src) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->v = pc_xrealloc(m->v, (size_t)m->cap * sizeof *m->v);
  }
  m->v[m->n++] = (pc__am_entry_t){.key = key, .value = value, .src = src};
}

pc__am_entry_t *pc__amap_find(const pc__amap_t *m, pc_str_t key) {
  for (uint32_t i = 0; i < m->n; i++)
    if (pc_str_eq(m->v[i].key, key)) return &m->v[i];
  return NULL;
}

void pc__amap_free(pc__amap_t *m) {
  free(m->v);
  *m = (pc__amap_t){0};
}

static void put(pc__amap_t *m, pc_str_t key, pc_anyvalue_t v) {
  pc__am_entry_t *e = pc__amap_find(m, key);
  if (e) {
    e->value = v;
    e->set = true;
  } else {
    pc__amap_push(m, key, v, -1);
  }
  m->changed = true;
}

static void remove_at(pc__amap_t *m, uint32_t i) {
  memmove(&m->v[i], &m->v[i + 1], (size_t)(m->n - i - 1) * sizeof *m->v);
  m->n--;
  m->changed = true;
}

/* ---- values --------------------------------------------------------------------------- */

pc_anyvalue_t pc__value_resolved(const pc_dictionary_t *d, pc_anyvalue_t v) {
  if (v.type != PC_AV_STRINDEX) return v;
  pc_str_t s = d ? pc_dict_string(d, v.u.strindex) : (pc_str_t){0};
  return (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = s};
}

pc_str_t pc__kv_key(const pc_request_t *req, const pc_keyvalue_t *kv) {
  if (kv->key.n || kv->key_strindex <= 0 || !req->has_dictionary ||
      (uint32_t)kv->key_strindex >= req->dict.n_strings)
    return kv->key;
  return req->dict.strings[kv->key_strindex];
}

size_t pc__double_text(double f, bool fixed, char *buf, size_t cap) {
  if (isnan(f)) return (size_t)snprintf(buf, cap, fixed ? "NaN" : "json: unsupported value: NaN");
  if (isinf(f))
    return (size_t)snprintf(buf, cap, fixed ? "%sInf" : "json: unsupported value: %sInf",
                            f > 0 ? "+" : "-");
  char e[40];
  int p = 1;
  for (; p < 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, f);
    if (strtod(e, NULL) == f) break;
  }
  snprintf(e, sizeof e, "%.*e", p - 1, f);
  double a = fabs(f);
  if (!fixed && a != 0 && (a < 1e-6 || a >= 1e21)) {
    /* "d.ddde-07" -> "d.ddde-7"; positive exponents here have two or three digits. */
    char *x = strchr(e, 'e');
    int exp = atoi(x + 1);
    *x = 0;
    return (size_t)snprintf(buf, cap, "%se%c%0*d", e, exp < 0 ? '-' : '+',
                            exp < 0 ? 1 : 2, exp < 0 ? -exp : exp);
  }
  int exp = atoi(strchr(e, 'e') + 1);
  int decimals = p - 1 - exp;
  size_t n = (size_t)snprintf(buf, cap, "%.*f", decimals > 0 ? decimals : 0, f);
  return n < cap ? n : cap - 1;
}

static size_t double_text(double f, char *buf) { return pc__double_text(f, false, buf, 32); }

bool pc__value_text(const pc_anyvalue_t *v, char *buf, pc_str_t *out) {
  switch (v->type) {
  case PC_AV_STRING: *out = v->u.s; return true;
  case PC_AV_BOOL: *out = v->u.b ? PC_STR_LIT("true") : PC_STR_LIT("false"); return true;
  case PC_AV_INT:
    *out = (pc_str_t){(const uint8_t *)buf, (size_t)snprintf(buf, 32, "%" PRId64, v->u.i)};
    return true;
  case PC_AV_DOUBLE: *out = (pc_str_t){(const uint8_t *)buf, double_text(v->u.d, buf)}; return true;
  default: return false;
  }
}

static int arena_str(pc_arena_t *arena, const void *p, size_t n, pc_anyvalue_t *out) {
  pc_str_t s;
  if (pc_arena_dup(arena, p, n, &s)) return PC_ENOMEM;
  *out = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = s};
  return 0;
}

/* ---- hash ------------------------------------------------------------------------------ */

static int hash_value(const pc__actions_t *as, pc__amap_t *m, pc__am_entry_t *e,
                      pc_arena_t *arena) {
  uint8_t le[8];
  const uint8_t *p = le;
  size_t n = 0;
  switch (e->value.type) {
  case PC_AV_STRING: p = e->value.u.s.p; n = e->value.u.s.n; break;
  case PC_AV_BOOL: le[0] = e->value.u.b; n = 1; break;
  case PC_AV_INT:
  case PC_AV_DOUBLE: {
    uint64_t u;
    memcpy(&u, &e->value.u, 8); /* int64 or the double's bits */
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(u >> (8 * i));
    n = 8;
    break;
  }
  default: break; /* bytes, lists, maps, nothing: "" as in the Collector */
  }
  if (n == 0) { /* the Collector hashes only non-empty bytes: "" stays "" */
    e->value = (pc_anyvalue_t){.type = PC_AV_STRING};
    e->set = m->changed = true;
    return 0;
  }
  uint8_t md[32];
  unsigned int len = 0;
  if (!EVP_Digest(p, n, md, &len, as->sha256, NULL) || len != 32)
    pc_oom(); /* SHA-256 of memory only fails when OpenSSL cannot allocate */
  char hex[64];
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
  }
  if (arena_str(arena, hex, sizeof hex, &e->value)) return PC_ENOMEM;
  e->set = m->changed = true;
  return 0;
}

/* ---- convert ---------------------------------------------------------------------------- */

/* strconv.ParseInt(s, 10, 64): an optional sign and decimal digits, nothing else. */
static bool parse_int(pc_str_t s, int64_t *out) {
  size_t i = 0;
  bool neg = false;
  if (s.n && (s.p[0] == '+' || s.p[0] == '-')) neg = s.p[i++] == '-';
  if (i == s.n) return false;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return false;
    unsigned d = s.p[i] - '0';
    if (v > (lim - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* strconv.ParseFloat(s, 64): decimal or hex floats, inf/infinity/nan; no
 * spaces; out of range is an error (underflow is not). */
static bool parse_double(pc_str_t s, double *out) {
  char buf[128];
  if (!s.n || s.n >= sizeof buf || memchr(s.p, 0, s.n) || memchr(s.p, '(', s.n)) return false;
  if (s.p[0] == ' ' || (s.p[0] >= '\t' && s.p[0] <= '\r')) return false;
  memcpy(buf, s.p, s.n);
  buf[s.n] = 0;
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (end != buf + s.n) return false;
  if (errno == ERANGE && isinf(d)) return false;
  *out = d;
  return true;
}

static void b64(pc_buf_t *b, pc_str_t s) {
  static const char dig[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < s.n; i += 3) {
    uint32_t w = (uint32_t)s.p[i] << 16 | (i + 1 < s.n ? (uint32_t)s.p[i + 1] << 8 : 0) |
                 (i + 2 < s.n ? s.p[i + 2] : 0);
    char q[4] = {dig[w >> 18], dig[(w >> 12) & 63], i + 1 < s.n ? dig[(w >> 6) & 63] : '=',
                 i + 2 < s.n ? dig[w & 63] : '='};
    pc_buf_append(b, q, 4);
  }
}

static int cmp_keys(const void *a, const void *b) {
  pc_str_t x = *(const pc_str_t *)a, y = *(const pc_str_t *)b;
  size_t n = x.n < y.n ? x.n : y.n;
  int c = n ? memcmp(x.p, y.p, n) : 0;
  return c ? c : (x.n > y.n) - (x.n < y.n);
}

/* A list or map as Go's json.Marshal writes the value's raw form (map keys
 * sorted); nested string indices are resolved through d. */
static void json_value(pc_buf_t *b, const pc_anyvalue_t *in, const pc_dictionary_t *d, int depth) {
  pc_anyvalue_t v = pc__value_resolved(d, *in);
  char num[40];
  pc_str_t t;
  switch (v.type) {
  case PC_AV_STRING: pc_buf_json_string(b, v.u.s.p, v.u.s.n); break;
  case PC_AV_BOOL:
  case PC_AV_INT:
    pc__value_text(&v, num, &t);
    pc_buf_append(b, t.p, t.n);
    break;
  case PC_AV_DOUBLE:
    if (isfinite(v.u.d)) {
      pc_buf_append(b, num, double_text(v.u.d, num));
    } else {
      pc_buf_append(b, "null", 4);
    }
    break;
  case PC_AV_BYTES:
    pc_buf_append(b, "\"", 1);
    b64(b, v.u.s);
    pc_buf_append(b, "\"", 1);
    break;
  case PC_AV_ARRAY:
    pc_buf_append(b, "[", 1);
    for (uint32_t i = 0; i < v.u.array.n && depth < PC_MAX_ANYVALUE_DEPTH; i++) {
      if (i) pc_buf_append(b, ",", 1);
      json_value(b, &v.u.array.v[i], d, depth + 1);
    }
    pc_buf_append(b, "]", 1);
    break;
  case PC_AV_KVLIST: {
    /* Sort (key, index) pairs by key: a key view followed by its index. */
    uint32_t n = v.u.kvlist.n;
    struct {
      pc_str_t k;
      uint32_t i;
    } *ord = n ? pc_xmalloc(n * sizeof *ord) : NULL;
    for (uint32_t i = 0; i < n; i++) {
      const pc_keyvalue_t *kv = &v.u.kvlist.v[i];
      ord[i].k = kv->key.n || !d ? kv->key : pc_dict_string(d, kv->key_strindex);
      ord[i].i = i;
    }
    if (n) qsort(ord, n, sizeof *ord, cmp_keys);
    pc_buf_append(b, "{", 1);
    for (uint32_t i = 0; i < n && depth < PC_MAX_ANYVALUE_DEPTH; i++) {
      if (i) pc_buf_append(b, ",", 1);
      pc_buf_json_string(b, ord[i].k.p, ord[i].k.n);
      pc_buf_append(b, ":", 1);
      const pc_keyvalue_t *kv = &v.u.kvlist.v[ord[i].i];
      if (kv->has_value) {
        json_value(b, &kv->value, d, depth + 1);
      } else {
        pc_buf_append(b, "null", 4);
      }
    }
    pc_buf_append(b, "}", 1);
    free(ord);
    break;
  }
  default: pc_buf_append(b, "null", 4); break;
  }
}

static int to_string(pc__am_entry_t *e, const pc_dictionary_t *d, pc_arena_t *arena) {
  char num[40];
  pc_str_t t;
  if (e->value.type == PC_AV_NONE) return arena_str(arena, "", 0, &e->value);
  if (pc__value_text(&e->value, num, &t)) return arena_str(arena, t.p, t.n, &e->value);
  pc_buf_t b = {0};
  if (e->value.type == PC_AV_BYTES) {
    b64(&b, e->value.u.s);
  } else {
    json_value(&b, &e->value, d, 0);
  }
  int rc = arena_str(arena, b.p, b.n, &e->value);
  pc_buf_free(&b);
  return rc;
}

/* int64(f) as Go on amd64 and arm64 alike for values in range; NaN and
 * values out of range (undefined in C) give INT64_MIN, as amd64 does. */
static int64_t trunc_int(double f) {
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return INT64_MIN;
  return (int64_t)f;
}

static int convert(const action_t *a, pc__amap_t *m, pc__am_entry_t *e, const pc_dictionary_t *d,
                   pc_arena_t *arena) {
  pc_anyvalue_t v = e->value;
  switch (a->conv) {
  case CV_STRING:
    if (v.type == PC_AV_STRING) return 0;
    if (to_string(e, d, arena)) return PC_ENOMEM;
    break;
  case CV_INT:
    if (v.type == PC_AV_DOUBLE) e->value = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = trunc_int(v.u.d)};
    else if (v.type == PC_AV_BOOL) e->value = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = v.u.b};
    else if (v.type == PC_AV_STRING && parse_int(v.u.s, &e->value.u.i)) e->value.type = PC_AV_INT;
    else return 0;
    break;
  case CV_DOUBLE:
    if (v.type == PC_AV_INT) e->value = (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = (double)v.u.i};
    else if (v.type == PC_AV_BOOL) e->value = (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = v.u.b};
    else if (v.type == PC_AV_STRING && parse_double(v.u.s, &e->value.u.d)) e->value.type = PC_AV_DOUBLE;
    else return 0;
    break;
  }
  e->set = m->changed = true;
  return 0;
}

/* ---- applying --------------------------------------------------------------------------- */

/* The client metadata values of key, joined with ";" as the Collector does
 * (one value: a view of it). False when there is none. */
static int from_context(pc_str_t key, const pc_metadata_t *md, pc_arena_t *arena,
                        pc_anyvalue_t *out, bool *found) {
  pc_str_t v;
  *found = false;
  if (!pc_md_get(md, key, 0, &v)) return 0;
  *found = true;
  *out = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = v};
  pc_str_t more;
  if (!pc_md_get(md, key, 1, &more)) return 0;
  size_t n = 0, k = 0;
  while (pc_md_get(md, key, k, &more)) n += more.n + (k++ ? 1 : 0);
  uint8_t *p = pc_arena_alloc(arena, n ? n : 1);
  if (!p) return PC_ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < k; i++) {
    pc_md_get(md, key, i, &more);
    if (i) p[o++] = ';';
    if (more.n) memcpy(p + o, more.p, more.n);
    o += more.n;
  }
  out->u.s = (pc_str_t){p, o};
  return 0;
}

/* The value an insert, update or upsert sets; found false when its source is
 * absent and there is no default_value. */
static int source(const action_t *a, const pc__amap_t *m, const pc_metadata_t *md,
                  pc_arena_t *arena, pc_anyvalue_t *out, bool *found) {
  *found = true;
  if (a->has_value) {
    *out = a->value;
    return 0;
  }
  *found = false;
  if (a->from_attribute.n) {
    const pc__am_entry_t *src = pc__amap_find(m, a->from_attribute);
    if (src && src->value.type != PC_AV_NONE) {
      *out = src->value;
      *found = true;
    }
  } else if (a->from_context.n) {
    int rc = from_context(a->from_context, md, arena, out, found);
    if (rc) return rc;
  }
  if (!*found && a->has_default) {
    *out = a->def;
    *found = true;
  }
  return 0;
}

/* delete and hash: key, then every key the pattern matches. */
static int each_target(const pc__actions_t *as, const action_t *a, pc__amap_t *m,
                       pc_arena_t *arena) {
  for (uint32_t i = 0; i < m->n;) {
    pc__am_entry_t *e = &m->v[i];
    bool hit = (a->key.n && pc_str_eq(e->key, a->key)) || (a->re && pc__regex_match(a->re, e->key));
    if (!hit) {
      i++;
    } else if (a->act == A_DELETE) {
      remove_at(m, i);
    } else {
      if (hash_value(as, m, e, arena)) return PC_ENOMEM;
      i++;
    }
  }
  return 0;
}

static int extract(const pc__actions_t *as, const action_t *a, pc__amap_t *m) {
  const pc__am_entry_t *e = pc__amap_find(m, a->key);
  if (!e || e->value.type != PC_AV_STRING) return 0;
  pc_str_t subject = e->value.u.s; /* stays valid: it is a view, not into m */
  if (!pc__regex_exec(a->re, subject, as->groups)) return 0;
  uint32_t n = pc__regex_groups(a->re);
  for (uint32_t g = 1; g <= n; g++)
    put(m, a->names[g], (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = as->groups[g]});
  return 0;
}

int pc__actions_apply(const pc__actions_t *as, pc__amap_t *m, const pc_metadata_t *md,
                      const pc_dictionary_t *d, pc_arena_t *arena) {
  for (size_t k = 0; k < as->n; k++) {
    const action_t *a = &as->v[k];
    int rc = 0;
    switch (a->act) {
    case A_INSERT:
    case A_UPDATE:
    case A_UPSERT: {
      pc_anyvalue_t v;
      bool found;
      if ((rc = source(a, m, md, arena, &v, &found)) || !found) break;
      pc__am_entry_t *at = pc__amap_find(m, a->key);
      if ((at && a->act == A_INSERT) || (!at && a->act == A_UPDATE)) break;
      put(m, a->key, v);
      break;
    }
    case A_DELETE:
    case A_HASH: rc = each_target(as, a, m, arena); break;
    case A_EXTRACT: rc = extract(as, a, m); break;
    case A_CONVERT: {
      pc__am_entry_t *e = pc__amap_find(m, a->key);
      if (e) rc = convert(a, m, e, d, arena);
      break;
    }
    }
    if (rc) return rc;
  }
  return 0;
}

uint64_t pc__actions_regex_limit_hits(const pc__actions_t *as) {
  uint64_t n = 0;
  for (size_t i = 0; i < as->n; i++)
    if (as->v[i].re) n += pc__regex_limit_hits(as->v[i].re);
  return n;
}

void pc__actions_warn_limit(pc__actions_t *as, const char *id) {
  uint64_t hits = pc__actions_regex_limit_hits(as);
  if (hits == as->warned_hits) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  if (as->warned_at_ms && now - as->warned_at_ms < 10000) return;
  pc_log(id, PC_LOG_WARN, "%" PRIu64 " pattern matches stopped at the backtracking limit (%" PRIu64
         " in all), counted as no match: a pattern backtracks too much on some values; "
         "simplify it", hits - as->warned_hits, hits);
  as->warned_hits = hits;
  as->warned_at_ms = now;
}

/* ---- config ------------------------------------------------------------------------------ */

static pc_str_t owned(const char *s) { return (pc_str_t){(const uint8_t *)pc_xstrdup(s), strlen(s)}; }

/* A YAML scalar as the Collector reads it: quoted is a string; plain
 * true/false a bool, an integer an int, a number a double, else a string. */
pc_anyvalue_t pc__scalar_value(const pc_cfg_node_t *n, char **text) {
  const char *t = n->text;
  if (!n->quoted) {
    if (!strcmp(t, "true") || !strcmp(t, "false"))
      return (pc_anyvalue_t){.type = PC_AV_BOOL, .u.b = t[0] == 't'};
    char *end;
    errno = 0;
    long long i = strtoll(t, &end, 10);
    if (*t && !*end && !errno) return (pc_anyvalue_t){.type = PC_AV_INT, .u.i = i};
    double d = strtod(t, &end);
    if (*t && !*end && isfinite(d)) return (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = d};
  }
  *text = pc_xstrdup(t);
  return (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = {(const uint8_t *)*text, strlen(t)}};
}

static const char *scalar_text(const pc_cfg_node_t *n) {
  return n && n->type == PC_CFG_SCALAR ? n->text : NULL;
}

static int parse_action(const pc_cfg_node_t *item, const pc_cfg_node_t *n, act_t *out,
                        pc_err_t *err) {
  if (!n || n->type != PC_CFG_SCALAR)
    return pc_cfg_error(err, n ? n : item, PC_EINVAL,
                        "needs an action: insert, update, upsert, delete, hash, extract or "
                        "convert");
  for (size_t i = 0; i < N_ACTS; i++)
    if (!strcasecmp(n->text, act_names[i])) {
      *out = (act_t)i;
      return 0;
    }
  const char *hint = pc_cfg_did_you_mean(n->text, act_names, N_ACTS);
  return pc_cfg_error(err, n, PC_EINVAL,
                      "action \"%s\": want insert, update, upsert, delete, hash, extract or "
                      "convert%s%s%s",
                      n->text, hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
}

static int const_value(const pc_cfg_node_t *n, bool *has, pc_anyvalue_t *v, char **text,
                       pc_err_t *err) {
  if (!n || n->type == PC_CFG_NULL) return 0; /* no value, as the Collector's nil */
  if (n->type != PC_CFG_SCALAR)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a string, number or bool");
  *has = true;
  *v = pc__scalar_value(n, text);
  return 0;
}

/* Each key an action may carry: the actions that use it (a bit each). */
#define BIT(a) (1u << (a))
#define SETTERS (BIT(A_INSERT) | BIT(A_UPDATE) | BIT(A_UPSERT))
static const struct {
  const char *key;
  unsigned uses;
  const char *who; /* for the message when another action has it */
} item_keys[] = {
    {"key", ~0u, ""},
    {"action", ~0u, ""},
    {"value", SETTERS, "insert, update and upsert do"},
    {"default_value", SETTERS, "insert, update and upsert do"},
    {"from_attribute", SETTERS, "insert, update and upsert do"},
    {"from_context", SETTERS, "insert, update and upsert do"},
    {"pattern", BIT(A_DELETE) | BIT(A_HASH) | BIT(A_EXTRACT), "delete, hash and extract do"},
    {"converted_type", BIT(A_CONVERT), "convert does"},
};
#define N_ITEM_KEYS (sizeof item_keys / sizeof item_keys[0])

static int parse_item(pc__actions_t *as, const pc_cfg_node_t *n, action_t *a, pc_err_t *err) {
  if (n->type != PC_CFG_MAP)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a map: {key: K, value: V, action: upsert}");
  const char *names[N_ITEM_KEYS];
  for (size_t k = 0; k < N_ITEM_KEYS; k++) names[k] = item_keys[k].key;
  for (size_t i = 0; i < n->n_entries; i++) {
    size_t k = 0;
    while (k < N_ITEM_KEYS && strcmp(n->entries[i].key, item_keys[k].key)) k++;
    if (k == N_ITEM_KEYS) {
      const char *hint = pc_cfg_did_you_mean(n->entries[i].key, names, N_ITEM_KEYS);
      return pc_cfg_key_error(err, n->entries[i].value, PC_EINVAL, "unknown key \"%s\"%s%s%s",
                              n->entries[i].key, hint ? "; did you mean \"" : "",
                              hint ? hint : "", hint ? "\"?" : "");
    }
  }
  int rc = parse_action(n, pc_cfg_get(n, "action"), &a->act, err);
  if (rc) return rc;
  const char *act = act_names[a->act];
  /* A key the action does not use is refused where it is written. */
  for (size_t i = 0; i < n->n_entries; i++)
    for (size_t k = 0; k < N_ITEM_KEYS; k++)
      if (!strcmp(n->entries[i].key, item_keys[k].key) && !(item_keys[k].uses & BIT(a->act)) &&
          n->entries[i].value->type != PC_CFG_NULL)
        return pc_cfg_key_error(err, n->entries[i].value, PC_EINVAL, "%s takes no %s (%s)",
                                act, item_keys[k].key, item_keys[k].who);
  const pc_cfg_node_t *key = pc_cfg_get(n, "key"), *pattern = pc_cfg_get(n, "pattern");
  const char *kt = scalar_text(key);
  if (key && key->type != PC_CFG_NULL && !kt)
    return pc_cfg_error(err, key, PC_EINVAL, "must be an attribute key");
  /* An empty pattern is no pattern, as the Collector's "". */
  if (pattern && pattern->type != PC_CFG_NULL && !(pattern->type == PC_CFG_SCALAR && !pattern->text[0]) &&
      !(a->re = pc__regex_compile(pattern, err)))
    return PC_EINVAL;
  bool by_pattern = a->act == A_DELETE || a->act == A_HASH;
  if ((!kt || !kt[0]) && !(by_pattern && a->re)) {
    if (by_pattern) return pc_cfg_error(err, n, PC_EINVAL, "%s needs a key, a pattern or both", act);
    return pc_cfg_error(err, n, PC_EINVAL, "needs a non-empty key");
  }
  if (kt && kt[0]) a->key = owned(kt);

  switch (a->act) {
  case A_INSERT:
  case A_UPDATE:
  case A_UPSERT: {
    const pc_cfg_node_t *attr = pc_cfg_get(n, "from_attribute"), *ctx = pc_cfg_get(n, "from_context");
    if ((rc = const_value(pc_cfg_get(n, "value"), &a->has_value, &a->value, &a->text, err)) ||
        (rc = const_value(pc_cfg_get(n, "default_value"), &a->has_default, &a->def,
                          &a->def_text, err)))
      return rc;
    bool has_attr = attr && attr->type != PC_CFG_NULL, has_ctx = ctx && ctx->type != PC_CFG_NULL;
    int sources = a->has_value + has_attr + has_ctx;
    if (sources > 1 || (sources == 0 && !a->has_default))
      return pc_cfg_error(err, n, PC_EINVAL,
                          "%s needs exactly one of value, from_attribute and from_context "
                          "(or only a default_value)", act);
    if (has_attr) {
      if (!scalar_text(attr) || !attr->text[0])
        return pc_cfg_error(err, attr, PC_EINVAL, "must be an attribute key");
      a->from_attribute = owned(attr->text);
    }
    if (has_ctx) {
      const char *t = scalar_text(ctx);
      if (!t || strncmp(t, "metadata.", 9) != 0 || !t[9])
        return pc_cfg_error(err, ctx, PC_EINVAL, "must be metadata.<key>: a client metadata "
                            "key (the receiver's include_metadata)");
      a->from_context = owned(t + 9);
    }
    break;
  }
  case A_DELETE:
  case A_HASH: break;
  case A_EXTRACT: {
    if (!a->re)
      return pc_cfg_error(err, n, PC_EINVAL, "extract needs a pattern with named groups, "
                          "as (?P<name>...)");
    uint32_t groups = pc__regex_groups(a->re);
    if (groups == 0)
      return pc_cfg_error(err, pattern, PC_EINVAL, "pattern has no named groups: extract sets "
                          "one attribute per group, named as (?P<name>...)");
    a->names = pc_xcalloc((size_t)groups + 1, sizeof *a->names);
    for (uint32_t g = 1; g <= groups; g++) {
      const char *name = pc__regex_group_name(a->re, g);
      if (!name)
        return pc_cfg_error(err, pattern, PC_EINVAL, "group %u of the pattern has no name: "
                            "every group of an extract pattern names the attribute it sets "
                            "(group with (?:...) instead)", g);
      a->names[g] = owned(name);
    }
    break;
  }
  case A_CONVERT: {
    const pc_cfg_node_t *ct = pc_cfg_get(n, "converted_type");
    const char *t = scalar_text(ct);
    if (!t) return pc_cfg_error(err, ct ? ct : n, PC_EINVAL, "convert needs converted_type: "
                                "int, double or string");
    if (!strcmp(t, "int")) a->conv = CV_INT;
    else if (!strcmp(t, "double")) a->conv = CV_DOUBLE;
    else if (!strcmp(t, "string")) a->conv = CV_STRING;
    else return pc_cfg_error(err, ct, PC_EINVAL, "converted_type \"%s\": want int, double or "
                             "string", t);
    break;
  }
  }
  if (a->act == A_EXTRACT && pc__regex_groups(a->re) + 1 > as->n_groups) {
    as->n_groups = pc__regex_groups(a->re) + 1;
    as->groups = pc_xrealloc(as->groups, as->n_groups * sizeof *as->groups);
  }
  if (a->act == A_HASH && !as->sha256) {
    char why[256]; /* OpenSSL is loaded at its first use (httpd/openssl_dl.h) */
    if (pc_openssl_load(why, sizeof why)) return pc_cfg_error(err, n, PC_EIO, "hash: %s", why);
    if (!(as->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)))
      return pc_cfg_error(err, n, PC_EINVAL, "hash: OpenSSL has no SHA-256 here");
  }
  return 0;
}

pc__actions_t *pc__actions_parse(const pc_cfg_node_t *node, pc_err_t *err) {
  if (!node || node->type != PC_CFG_SEQ || node->n_items == 0) {
    pc_cfg_error(err, node, PC_EINVAL, "must be a list of one or more actions");
    return NULL;
  }
  pc__actions_t *as = pc_xcalloc(1, sizeof *as);
  as->v = pc_xcalloc(node->n_items, sizeof *as->v);
  for (size_t i = 0; i < node->n_items; i++, as->n++)
    if (parse_item(as, node->items[i], &as->v[i], err)) {
      as->n++; /* free what it holds */
      pc__actions_free(as);
      return NULL;
    }
  return as;
}

void pc__actions_free(pc__actions_t *as) {
  if (!as) return;
  for (size_t i = 0; i < as->n; i++) {
    action_t *a = &as->v[i];
    free((void *)a->key.p);
    free(a->text);
    free(a->def_text);
    free((void *)a->from_attribute.p);
    free((void *)a->from_context.p);
    if (a->names)
      for (uint32_t g = 1; a->re && g <= pc__regex_groups(a->re); g++) free((void *)a->names[g].p);
    free(a->names);
    pc__regex_free(a->re);
  }
  free(as->v);
  free(as->groups);
  EVP_MD_free(as->sha256);
  free(as);
}
