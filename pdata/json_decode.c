/* json_decode.c - OTLP-JSON -> pdata for ExportProfilesServiceRequest (and,
 * at the end, ExportTraceServiceRequest -> the traces model, traces.h).
 *
 * jansson parses the body into a DOM, which this file walks message by
 * message, looking each field up by its exact lowerCamelCase key; anything
 * else (unknown keys, proto snake_case names) is therefore ignored for free.
 * The DOM is freed before returning, so every string and bytes value is
 * copied into the request arena, and every array is carved from it at its
 * exact size.
 *
 * The OTLP-JSON rules (shared/spec/OTLP-PROFILES.md section 3): 64-bit
 * integers come as decimal strings or numbers, Link ids as hex, other bytes
 * as base64 (standard or URL-safe, padding optional), `null` means "not set".
 * A profileId of exactly 32 hex digits is read as hex, as the Collector
 * writes it. Errors name the JSON path of the bad value, e.g.
 * "resourceProfiles[0].scopeProfiles[1].profiles[2].samples[3].values[0]:
 * expected an integer, got \"abc\"", so a client can find it. */
#include "pdata.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "traces.h"

typedef struct {
  pc_arena_t *arena;
  pc_err_t *err;
  int depth;   /* AnyValues currently being decoded, outermost included */
  size_t plen; /* strlen(path) */
  char path[2048]; /* JSON path of the value being decoded */
} dec_t;

/* Decodes one JSON value into *dst (a pdata struct or scalar). */
typedef int (*dec_fn)(dec_t *d, json_t *v, void *dst);

/* ---- field path --------------------------------------------------------- */

/* Append n bytes to the path, truncating (never overrunning) a path that
 * would not fit. The path is built for every value decoded, so no printf. */
static void path_append(dec_t *d, const char *s, size_t n) {
  size_t room = sizeof d->path - 1 - d->plen;
  if (n > room) n = room;
  memcpy(d->path + d->plen, s, n);
  d->plen += n;
  d->path[d->plen] = '\0';
}

/* Append ".key" (or "key" at the top) to the path; returns the mark that
 * path_pop restores. */
static size_t path_key(dec_t *d, const char *key) {
  size_t mark = d->plen;
  if (d->plen) path_append(d, ".", 1);
  path_append(d, key, strlen(key));
  return mark;
}

/* Append "[i]". */
static size_t path_index(dec_t *d, size_t i) {
  size_t mark = d->plen;
  char digits[24], *p = digits + sizeof digits;
  *--p = ']';
  do *--p = (char)('0' + i % 10); while (i /= 10);
  *--p = '[';
  path_append(d, p, (size_t)(digits + sizeof digits - p));
  return mark;
}

static void path_pop(dec_t *d, size_t mark) {
  d->plen = mark;
  d->path[mark] = '\0';
}

/* ---- errors ------------------------------------------------------------- */

/* "<path>: <message>". A path too long for pc_err_t (deeply nested
 * AnyValues) keeps its start and its end, so the reason still shows. */
__attribute__((format(printf, 3, 4)))
static int fail(dec_t *d, int code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (d->plen == 0) return pc_err_set(d->err, code, "top level: %s", msg);
  if (d->plen <= 160) return pc_err_set(d->err, code, "%s: %s", d->path, msg);
  return pc_err_set(d->err, code, "%.60s...%s: %s", d->path, d->path + d->plen - 97, msg);
}

/* A short rendering of a JSON value for error messages. Strings are cut at
 * a UTF-8 character boundary, so the message stays valid UTF-8. */
static void describe(const json_t *v, char *buf, size_t n) {
  switch (json_typeof(v)) {
  case JSON_STRING: {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), cut = len;
    if (cut > 40) {
      cut = 40;
      while (cut > 0 && ((uint8_t)s[cut] & 0xc0) == 0x80) cut--;
    }
    snprintf(buf, n, "\"%.*s%s\"", (int)cut, s, cut < len ? "..." : "");
    return;
  }
  case JSON_INTEGER:
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return;
  case JSON_REAL: snprintf(buf, n, "%.17g", json_real_value(v)); return;
  case JSON_TRUE: snprintf(buf, n, "true"); return;
  case JSON_FALSE: snprintf(buf, n, "false"); return;
  case JSON_NULL: snprintf(buf, n, "null"); return;
  case JSON_OBJECT: snprintf(buf, n, "an object"); return;
  case JSON_ARRAY: snprintf(buf, n, "an array"); return;
  }
  snprintf(buf, n, "a JSON value");
}

/* "<path>: expected <what>, got <value>" */
static int type_error(dec_t *d, const char *what, const json_t *v) {
  char got[64];
  describe(v, got, sizeof got);
  return fail(d, PC_EDECODE, "expected %s, got %s", what, got);
}

static int oom(dec_t *d) {
  return fail(d, PC_ENOMEM, "out of memory (request arena holds %zu bytes)",
              pc_arena_used(d->arena));
}

/* ---- scalars ------------------------------------------------------------ */

enum { INT_OK, INT_NOT_INTEGER, INT_TOO_BIG };

/* Split an integer given as a JSON integer, an integral JSON real or a
 * decimal string ("-12") into sign and magnitude. */
static int int_parts(const json_t *v, bool *neg, uint64_t *mag) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    *neg = x < 0;
    *mag = *neg ? 0 - (uint64_t)x : (uint64_t)x;
    return INT_OK;
  }
  if (json_is_real(v)) {
    double x = json_real_value(v);
    if (!isfinite(x) || x != trunc(x)) return INT_NOT_INTEGER;
    if (fabs(x) >= 18446744073709551616.0) return INT_TOO_BIG;
    *neg = x < 0;
    *mag = (uint64_t)fabs(x);
    return INT_OK;
  }
  if (!json_is_string(v)) return INT_NOT_INTEGER;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  *neg = n > 0 && s[0] == '-';
  size_t i = *neg ? 1 : 0;
  if (i == n) return INT_NOT_INTEGER;
  uint64_t m = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return INT_NOT_INTEGER;
    unsigned digit = (unsigned)(s[i] - '0');
    if (m > (UINT64_MAX - digit) / 10) return INT_TOO_BIG;
    m = m * 10 + digit;
  }
  *mag = m;
  return INT_OK;
}

static int int_error(dec_t *d, int status, const char *kind, const json_t *v) {
  if (status == INT_NOT_INTEGER) return type_error(d, "an integer", v);
  char got[64];
  describe(v, got, sizeof got);
  return fail(d, PC_EDECODE, "value %s is out of range for %s", got, kind);
}

/* A signed integer in [min, max]; kind names the type for errors. */
static int read_signed(dec_t *d, const json_t *v, const char *kind, int64_t min,
                       int64_t max, int64_t *out) {
  bool neg;
  uint64_t mag;
  int st = int_parts(v, &neg, &mag);
  if (st == INT_OK) {
    uint64_t limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    if (mag > limit) st = INT_TOO_BIG;
  }
  if (st != INT_OK) return int_error(d, st, kind, v);
  /* -mag without overflow, INT64_MIN included */
  *out = neg && mag ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
  return 0;
}

/* An unsigned integer in [0, max] ("-0" is 0). */
static int read_unsigned(dec_t *d, const json_t *v, const char *kind, uint64_t max,
                         uint64_t *out) {
  bool neg;
  uint64_t mag;
  int st = int_parts(v, &neg, &mag);
  if (st == INT_OK && (mag > max || (neg && mag != 0))) st = INT_TOO_BIG;
  if (st != INT_OK) return int_error(d, st, kind, v);
  *out = mag;
  return 0;
}

static int el_i32(dec_t *d, json_t *v, void *dst) {
  int64_t x = 0;
  int rc = read_signed(d, v, "int32", INT32_MIN, INT32_MAX, &x);
  if (!rc) *(int32_t *)dst = (int32_t)x;
  return rc;
}

static int el_u32(dec_t *d, json_t *v, void *dst) {
  uint64_t x = 0;
  int rc = read_unsigned(d, v, "uint32", UINT32_MAX, &x);
  if (!rc) *(uint32_t *)dst = (uint32_t)x;
  return rc;
}

static int el_i64(dec_t *d, json_t *v, void *dst) {
  return read_signed(d, v, "int64", INT64_MIN, INT64_MAX, dst);
}

static int el_u64(dec_t *d, json_t *v, void *dst) {
  return read_unsigned(d, v, "uint64", UINT64_MAX, dst);
}

/* A double: any JSON number, or "NaN", "Infinity", "-Infinity". */
static int el_double(dec_t *d, json_t *v, void *dst) {
  double *out = dst;
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  const char *s = json_string_value(v);
  if (s && strcmp(s, "NaN") == 0) *out = NAN;
  else if (s && strcmp(s, "Infinity") == 0) *out = INFINITY;
  else if (s && strcmp(s, "-Infinity") == 0) *out = -INFINITY;
  else return type_error(d, "a number", v);
  return 0;
}

static int el_bool(dec_t *d, json_t *v, void *dst) {
  if (!json_is_boolean(v)) return type_error(d, "a boolean", v);
  *(bool *)dst = json_is_true(v);
  return 0;
}

/* A string, copied into the arena (jansson has checked it is UTF-8). */
static int el_string(dec_t *d, json_t *v, void *dst) {
  if (!json_is_string(v)) return type_error(d, "a string", v);
  if (pc_arena_dup(d->arena, json_string_value(v), json_string_length(v), dst))
    return oom(d);
  return 0;
}

/* ---- bytes: base64 and hex ------------------------------------------------ */

static int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool is_hex(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (hex_digit(s[i]) < 0) return false;
  return true;
}

/* Decode n hex digits (n even, all checked) into the arena. */
static int hex_to_arena(dec_t *d, const uint8_t *s, size_t n, pc_str_t *out) {
  if (n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *p = pc_arena_alloc(d->arena, n / 2);
  if (!p) return oom(d);
  for (size_t i = 0; i < n / 2; i++)
    p[i] = (uint8_t)(hex_digit(s[2 * i]) << 4 | hex_digit(s[2 * i + 1]));
  *out = (pc_str_t){p, n / 2};
  return 0;
}

static int el_base64(dec_t *d, json_t *v, void *dst) {
  if (!json_is_string(v)) return type_error(d, "a base64 string", v);
  const uint8_t *s = (const uint8_t *)json_string_value(v);
  size_t n = json_string_length(v);
  pc_str_t *out = dst;
  if (n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *p = pc_arena_alloc(d->arena, n / 4 * 3 + 3);
  if (!p) return oom(d);
  long len = pc_base64_decode(s, n, p);
  if (len < 0) return type_error(d, "base64", v);
  *out = (pc_str_t){len ? p : NULL, (size_t)len};
  return 0;
}

/* A Link id: hex of exactly size bytes (either case), or "". */
static int read_hex_id(dec_t *d, json_t *v, size_t size, pc_str_t *out) {
  if (!json_is_string(v)) return type_error(d, "a hex string", v);
  const uint8_t *s = (const uint8_t *)json_string_value(v);
  size_t n = json_string_length(v);
  if (n != 0 && (n != 2 * size || !is_hex(s, n))) {
    char what[48];
    snprintf(what, sizeof what, "%zu hex digits or \"\"", 2 * size);
    return type_error(d, what, v);
  }
  return hex_to_arena(d, s, n, out);
}

static int el_trace_id(dec_t *d, json_t *v, void *dst) { return read_hex_id(d, v, 16, dst); }
static int el_span_id(dec_t *d, json_t *v, void *dst) { return read_hex_id(d, v, 8, dst); }

/* profileId is base64 like other bytes, but the Collector writes it as 32
 * hex digits; 32 base64 digits would be 24 bytes, not a profile id. */
static int el_profile_id(dec_t *d, json_t *v, void *dst) {
  if (json_is_string(v) && json_string_length(v) == 32 &&
      is_hex((const uint8_t *)json_string_value(v), 32))
    return hex_to_arena(d, (const uint8_t *)json_string_value(v), 32, dst);
  return el_base64(d, v, dst);
}

/* ---- fields --------------------------------------------------------------- */

/* The value of key in obj; NULL when absent or null ("not set"). */
static json_t *member(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

/* Decode obj[key] with fn, unless it is not set. */
static int field(dec_t *d, json_t *obj, const char *key, dec_fn fn, void *dst) {
  json_t *v = member(obj, key);
  if (!v) return 0;
  size_t mark = path_key(d, key);
  int rc = fn(d, v, dst);
  path_pop(d, mark);
  return rc;
}

/* A message field: decode obj[key] with fn if it is an object, and record
 * its presence in *has (may be NULL). */
static int message(dec_t *d, json_t *obj, const char *key, bool *has, dec_fn fn,
                   void *dst) {
  json_t *v = member(obj, key);
  if (!v) return 0;
  size_t mark = path_key(d, key);
  int rc;
  if (!json_is_object(v)) {
    rc = type_error(d, "an object", v);
  } else {
    if (has) *has = true;
    rc = fn(d, v, dst);
  }
  path_pop(d, mark);
  return rc;
}

/* A repeated field: an array whose elements fn decodes into an arena array
 * of n elements of size bytes. objects: elements must be JSON objects. */
static int repeated(dec_t *d, json_t *obj, const char *key, size_t size, bool objects,
                    dec_fn fn, void **out, uint32_t *n) {
  json_t *v = member(obj, key);
  if (!v) return 0;
  size_t mark = path_key(d, key);
  int rc = 0;
  size_t count = json_array_size(v);
  uint8_t *arr = NULL;
  if (!json_is_array(v)) {
    rc = type_error(d, "an array", v);
  } else if (count > UINT32_MAX) {
    rc = fail(d, PC_EDECODE, "%zu elements are more than a field can hold", count);
  } else if (count && !(arr = pc_arena_calloc(d->arena, count, size))) {
    rc = oom(d);
  }
  for (size_t i = 0; !rc && i < count; i++) {
    json_t *el = json_array_get(v, i);
    size_t imark = path_index(d, i);
    rc = objects && !json_is_object(el) ? type_error(d, "an object", el)
                                        : fn(d, el, arr + i * size);
    path_pop(d, imark);
  }
  path_pop(d, mark);
  if (!rc) {
    *out = arr;
    *n = (uint32_t)count;
  }
  return rc;
}

static int field_i32s(dec_t *d, json_t *obj, const char *key, pc_i32s_t *out) {
  void *p = NULL;
  int rc = repeated(d, obj, key, sizeof(int32_t), false, el_i32, &p, &out->n);
  out->v = p;
  return rc;
}

static int field_strs(dec_t *d, json_t *obj, const char *key, pc_strs_t *out) {
  void *p = NULL;
  int rc = repeated(d, obj, key, sizeof(pc_str_t), false, el_string, &p, &out->n);
  out->v = p;
  return rc;
}

/* ---- common.v1 ------------------------------------------------------------ */

static int dec_keyvalue(dec_t *d, json_t *o, void *dst);

static int field_kvs(dec_t *d, json_t *obj, const char *key, pc_kvs_t *out) {
  void *p = NULL;
  int rc = repeated(d, obj, key, sizeof(pc_keyvalue_t), true, dec_keyvalue, &p, &out->n);
  out->v = p;
  return rc;
}

static int dec_anyvalue(dec_t *d, json_t *o, void *dst);

static int dec_array_value(dec_t *d, json_t *o, void *dst) {
  pc_anyvalue_t *av = dst;
  void *p = NULL;
  int rc = repeated(d, o, "values", sizeof(pc_anyvalue_t), true, dec_anyvalue, &p,
                    &av->u.array.n);
  av->u.array.v = p;
  return rc;
}

static int dec_kvlist_value(dec_t *d, json_t *o, void *dst) {
  pc_anyvalue_t *av = dst;
  pc_kvs_t kvs = {0};
  int rc = field_kvs(d, o, "values", &kvs);
  av->u.kvlist.v = kvs.v;
  av->u.kvlist.n = kvs.n;
  return rc;
}

/* AnyValue's oneof members in field-number order (index + 1 == type). */
static const char *const av_keys[] = {"stringValue", "boolValue", "intValue",
                                      "doubleValue", "arrayValue", "kvlistValue",
                                      "bytesValue", "stringValueStrindex"};

static int dec_anyvalue_member(dec_t *d, json_t *o, pc_anyvalue_t *av) {
  if (av->type == PC_AV_NONE) return 0;
  const char *key = av_keys[av->type - 1];
  switch (av->type) {
  case PC_AV_STRING: return field(d, o, key, el_string, &av->u.s);
  case PC_AV_BOOL: return field(d, o, key, el_bool, &av->u.b);
  case PC_AV_INT: return field(d, o, key, el_i64, &av->u.i);
  case PC_AV_DOUBLE: return field(d, o, key, el_double, &av->u.d);
  case PC_AV_ARRAY: return message(d, o, key, NULL, dec_array_value, av);
  case PC_AV_KVLIST: return message(d, o, key, NULL, dec_kvlist_value, av);
  case PC_AV_BYTES: return field(d, o, key, el_base64, &av->u.s);
  case PC_AV_STRINDEX: return field(d, o, key, el_i32, &av->u.strindex);
  case PC_AV_NONE: break;
  }
  return 0;
}

/* An AnyValue object: the kind is the one oneof key that is set; none
 * leaves PC_AV_NONE. Nesting is bounded by PC_MAX_ANYVALUE_DEPTH. */
static int dec_anyvalue(dec_t *d, json_t *o, void *dst) {
  pc_anyvalue_t *av = dst;
  if (d->depth >= PC_MAX_ANYVALUE_DEPTH)
    return fail(d, PC_EDECODE, "AnyValue nested deeper than %d levels",
                PC_MAX_ANYVALUE_DEPTH);
  for (int i = 0; i < 8; i++) {
    if (!member(o, av_keys[i])) continue;
    if (av->type != PC_AV_NONE)
      return fail(d, PC_EDECODE, "AnyValue sets both \"%s\" and \"%s\"",
                  av_keys[av->type - 1], av_keys[i]);
    av->type = (pc_av_type_t)(i + 1);
  }
  d->depth++;
  int rc = dec_anyvalue_member(d, o, av);
  d->depth--;
  return rc;
}

static int dec_keyvalue(dec_t *d, json_t *o, void *dst) {
  pc_keyvalue_t *kv = dst;
  int rc = field(d, o, "key", el_string, &kv->key);
  if (!rc) rc = message(d, o, "value", &kv->has_value, dec_anyvalue, &kv->value);
  if (!rc) rc = field(d, o, "keyStrindex", el_i32, &kv->key_strindex);
  return rc;
}

static int dec_entity_ref(dec_t *d, json_t *o, void *dst) {
  pc_entity_ref_t *er = dst;
  int rc = field(d, o, "schemaUrl", el_string, &er->schema_url);
  if (!rc) rc = field(d, o, "type", el_string, &er->type);
  if (!rc) rc = field_strs(d, o, "idKeys", &er->id_keys);
  if (!rc) rc = field_strs(d, o, "descriptionKeys", &er->description_keys);
  return rc;
}

static int dec_resource(dec_t *d, json_t *o, void *dst) {
  pc_resource_t *r = dst;
  void *refs = NULL;
  int rc = field_kvs(d, o, "attributes", &r->attributes);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &r->dropped_attributes_count);
  if (!rc)
    rc = repeated(d, o, "entityRefs", sizeof(pc_entity_ref_t), true, dec_entity_ref,
                  &refs, &r->n_entity_refs);
  r->entity_refs = refs;
  return rc;
}

static int dec_scope(dec_t *d, json_t *o, void *dst) {
  pc_scope_t *s = dst;
  int rc = field(d, o, "name", el_string, &s->name);
  if (!rc) rc = field(d, o, "version", el_string, &s->version);
  if (!rc) rc = field_kvs(d, o, "attributes", &s->attributes);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &s->dropped_attributes_count);
  return rc;
}

/* ---- profiles.v1development ----------------------------------------------- */

static int dec_valuetype(dec_t *d, json_t *o, void *dst) {
  pc_valuetype_t *vt = dst;
  int rc = field(d, o, "typeStrindex", el_i32, &vt->type_strindex);
  if (!rc) rc = field(d, o, "unitStrindex", el_i32, &vt->unit_strindex);
  return rc;
}

static int dec_sample(dec_t *d, json_t *o, void *dst) {
  pc_sample_t *s = dst;
  void *values = NULL, *ts = NULL;
  int rc = field(d, o, "stackIndex", el_i32, &s->stack_index);
  if (!rc) rc = field_i32s(d, o, "attributeIndices", &s->attribute_indices);
  if (!rc) rc = field(d, o, "linkIndex", el_i32, &s->link_index);
  if (!rc)
    rc = repeated(d, o, "values", sizeof(int64_t), false, el_i64, &values, &s->n_values);
  if (!rc)
    rc = repeated(d, o, "timestampsUnixNano", sizeof(uint64_t), false, el_u64, &ts,
                  &s->n_timestamps);
  s->values = values;
  s->timestamps_unix_nano = ts;
  return rc;
}

static int dec_profile(dec_t *d, json_t *o, void *dst) {
  pc_profile_t *p = dst;
  void *samples = NULL;
  int rc = message(d, o, "sampleType", &p->has_sample_type, dec_valuetype, &p->sample_type);
  if (!rc)
    rc = repeated(d, o, "samples", sizeof(pc_sample_t), true, dec_sample, &samples,
                  &p->n_samples);
  p->samples = samples;
  if (!rc) rc = field(d, o, "timeUnixNano", el_u64, &p->time_unix_nano);
  if (!rc) rc = field(d, o, "durationNano", el_u64, &p->duration_nano);
  if (!rc)
    rc = message(d, o, "periodType", &p->has_period_type, dec_valuetype, &p->period_type);
  if (!rc) rc = field(d, o, "period", el_i64, &p->period);
  if (!rc) rc = field(d, o, "profileId", el_profile_id, &p->profile_id);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &p->dropped_attributes_count);
  if (!rc) rc = field(d, o, "originalPayloadFormat", el_string, &p->original_payload_format);
  if (!rc) rc = field(d, o, "originalPayload", el_base64, &p->original_payload);
  if (!rc) rc = field_i32s(d, o, "attributeIndices", &p->attribute_indices);
  return rc;
}

static int dec_scope_profiles(dec_t *d, json_t *o, void *dst) {
  pc_scope_profiles_t *sp = dst;
  void *profiles = NULL;
  int rc = message(d, o, "scope", &sp->has_scope, dec_scope, &sp->scope);
  if (!rc)
    rc = repeated(d, o, "profiles", sizeof(pc_profile_t), true, dec_profile, &profiles,
                  &sp->n_profiles);
  sp->profiles = profiles;
  if (!rc) rc = field(d, o, "schemaUrl", el_string, &sp->schema_url);
  return rc;
}

static int dec_resource_profiles(dec_t *d, json_t *o, void *dst) {
  pc_resource_profiles_t *rp = dst;
  void *scopes = NULL;
  int rc = message(d, o, "resource", &rp->has_resource, dec_resource, &rp->resource);
  if (!rc)
    rc = repeated(d, o, "scopeProfiles", sizeof(pc_scope_profiles_t), true,
                  dec_scope_profiles, &scopes, &rp->n_scopes);
  rp->scopes = scopes;
  if (!rc) rc = field(d, o, "schemaUrl", el_string, &rp->schema_url);
  return rc;
}

/* ---- dictionary ----------------------------------------------------------- */

static int dec_mapping(dec_t *d, json_t *o, void *dst) {
  pc_mapping_t *m = dst;
  int rc = field(d, o, "memoryStart", el_u64, &m->memory_start);
  if (!rc) rc = field(d, o, "memoryLimit", el_u64, &m->memory_limit);
  if (!rc) rc = field(d, o, "fileOffset", el_u64, &m->file_offset);
  if (!rc) rc = field(d, o, "filenameStrindex", el_i32, &m->filename_strindex);
  if (!rc) rc = field_i32s(d, o, "attributeIndices", &m->attribute_indices);
  return rc;
}

static int dec_line(dec_t *d, json_t *o, void *dst) {
  pc_line_t *l = dst;
  int rc = field(d, o, "functionIndex", el_i32, &l->function_index);
  if (!rc) rc = field(d, o, "line", el_i64, &l->line);
  if (!rc) rc = field(d, o, "column", el_i64, &l->column);
  return rc;
}

static int dec_location(dec_t *d, json_t *o, void *dst) {
  pc_location_t *l = dst;
  void *lines = NULL;
  int rc = field(d, o, "mappingIndex", el_i32, &l->mapping_index);
  if (!rc) rc = field(d, o, "address", el_u64, &l->address);
  if (!rc)
    rc = repeated(d, o, "lines", sizeof(pc_line_t), true, dec_line, &lines, &l->n_lines);
  l->lines = lines;
  if (!rc) rc = field_i32s(d, o, "attributeIndices", &l->attribute_indices);
  return rc;
}

static int dec_function(dec_t *d, json_t *o, void *dst) {
  pc_function_t *f = dst;
  int rc = field(d, o, "nameStrindex", el_i32, &f->name_strindex);
  if (!rc) rc = field(d, o, "systemNameStrindex", el_i32, &f->system_name_strindex);
  if (!rc) rc = field(d, o, "filenameStrindex", el_i32, &f->filename_strindex);
  if (!rc) rc = field(d, o, "startLine", el_i64, &f->start_line);
  return rc;
}

static int dec_link(dec_t *d, json_t *o, void *dst) {
  pc_link_t *l = dst;
  int rc = field(d, o, "traceId", el_trace_id, &l->trace_id);
  if (!rc) rc = field(d, o, "spanId", el_span_id, &l->span_id);
  return rc;
}

static int dec_attr(dec_t *d, json_t *o, void *dst) {
  pc_attr_t *a = dst;
  int rc = field(d, o, "keyStrindex", el_i32, &a->key_strindex);
  if (!rc) rc = message(d, o, "value", &a->has_value, dec_anyvalue, &a->value);
  if (!rc) rc = field(d, o, "unitStrindex", el_i32, &a->unit_strindex);
  return rc;
}

static int dec_stack(dec_t *d, json_t *o, void *dst) {
  pc_stack_t *s = dst;
  return field_i32s(d, o, "locationIndices", &s->location_indices);
}

static int dec_dictionary(dec_t *d, json_t *o, void *dst) {
  pc_dictionary_t *t = dst;
  void *p[7] = {0};
  int rc = repeated(d, o, "mappingTable", sizeof(pc_mapping_t), true, dec_mapping, &p[0],
                    &t->n_mappings);
  if (!rc)
    rc = repeated(d, o, "locationTable", sizeof(pc_location_t), true, dec_location, &p[1],
                  &t->n_locations);
  if (!rc)
    rc = repeated(d, o, "functionTable", sizeof(pc_function_t), true, dec_function, &p[2],
                  &t->n_functions);
  if (!rc)
    rc = repeated(d, o, "linkTable", sizeof(pc_link_t), true, dec_link, &p[3], &t->n_links);
  if (!rc)
    rc = repeated(d, o, "stringTable", sizeof(pc_str_t), false, el_string, &p[4],
                  &t->n_strings);
  if (!rc)
    rc = repeated(d, o, "attributeTable", sizeof(pc_attr_t), true, dec_attr, &p[5],
                  &t->n_attrs);
  if (!rc)
    rc = repeated(d, o, "stackTable", sizeof(pc_stack_t), true, dec_stack, &p[6],
                  &t->n_stacks);
  t->mappings = p[0];
  t->locations = p[1];
  t->functions = p[2];
  t->links = p[3];
  t->strings = p[4];
  t->attrs = p[5];
  t->stacks = p[6];
  return rc;
}

/* ---- request -------------------------------------------------------------- */

static int dec_request(dec_t *d, json_t *o, pc_request_t *req) {
  void *resources = NULL;
  int rc = repeated(d, o, "resourceProfiles", sizeof(pc_resource_profiles_t), true,
                    dec_resource_profiles, &resources, &req->n_resources);
  req->resources = resources;
  if (!rc) rc = message(d, o, "dictionary", &req->has_dictionary, dec_dictionary, &req->dict);
  return rc;
}

/* jansson's parse error, with its position in err->line/col. */
static int syntax_error(pc_err_t *err, const json_error_t *je) {
  int code = json_error_code(je) == json_error_out_of_memory ? PC_ENOMEM : PC_EDECODE;
  pc_err_set(err, code, "line %d, column %d: %s", je->line, je->column, je->text);
  if (err) {
    err->line = je->line;
    err->col = je->column;
  }
  return code;
}

int pc_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_request_t *req,
                   pc_err_t *err) {
  memset(req, 0, sizeof *req);
  req->arena = arena;
  req->encoded = buf;
  req->encoded_n = n;
  req->encoded_json = true;
  json_error_t je;
  json_t *root = json_loadb(buf ? (const char *)buf : "", buf ? n : 0,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!root) return syntax_error(err, &je);
  dec_t d = {.arena = arena, .err = err};
  int rc = json_is_object(root) ? dec_request(&d, root, req)
                                : type_error(&d, "an object", root);
  json_decref(root);
  if (rc) return rc;
  return pc_pdata_validate(req, err);
}

/* ---- traces: ExportTraceServiceRequest (traces.h) ---------------------------------
 * Spans for trace linking; ids are hex as in profiles' links. A span's
 * events and links are kept, for pc_traces_proto_encode. */

static int dec_event(dec_t *d, json_t *o, void *dst) {
  pc_span_event_t *e = dst;
  int rc = field(d, o, "timeUnixNano", el_u64, &e->time_unix_nano);
  if (!rc) rc = field(d, o, "name", el_string, &e->name);
  if (!rc) rc = field_kvs(d, o, "attributes", &e->attributes);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &e->dropped_attributes_count);
  return rc;
}

static int dec_span_link(dec_t *d, json_t *o, void *dst) {
  pc_span_link_t *l = dst;
  int rc = field(d, o, "traceId", el_trace_id, &l->trace_id);
  if (!rc) rc = field(d, o, "spanId", el_span_id, &l->span_id);
  if (!rc) rc = field(d, o, "traceState", el_string, &l->trace_state);
  if (!rc) rc = field_kvs(d, o, "attributes", &l->attributes);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &l->dropped_attributes_count);
  if (!rc) rc = field(d, o, "flags", el_u32, &l->flags);
  return rc;
}

static int dec_status(dec_t *d, json_t *o, void *dst) {
  pc_span_t *sp = dst;
  int rc = field(d, o, "message", el_string, &sp->status_message);
  if (!rc) rc = field(d, o, "code", el_i32, &sp->status_code);
  return rc;
}

static int dec_span(dec_t *d, json_t *o, void *dst) {
  pc_span_t *sp = dst;
  int rc = field(d, o, "traceId", el_trace_id, &sp->trace_id);
  if (!rc) rc = field(d, o, "spanId", el_span_id, &sp->span_id);
  if (!rc) rc = field(d, o, "traceState", el_string, &sp->trace_state);
  if (!rc) rc = field(d, o, "parentSpanId", el_span_id, &sp->parent_span_id);
  if (!rc) rc = field(d, o, "flags", el_u32, &sp->flags);
  if (!rc) rc = field(d, o, "name", el_string, &sp->name);
  if (!rc) rc = field(d, o, "kind", el_i32, &sp->kind);
  if (!rc) rc = field(d, o, "startTimeUnixNano", el_u64, &sp->start_time_unix_nano);
  if (!rc) rc = field(d, o, "endTimeUnixNano", el_u64, &sp->end_time_unix_nano);
  if (!rc) rc = field_kvs(d, o, "attributes", &sp->attributes);
  if (!rc) rc = field(d, o, "droppedAttributesCount", el_u32, &sp->dropped_attributes_count);
  void *events = NULL, *links = NULL;
  if (!rc)
    rc = repeated(d, o, "events", sizeof(pc_span_event_t), true, dec_event, &events,
                  &sp->n_events);
  sp->events = events;
  if (!rc) rc = field(d, o, "droppedEventsCount", el_u32, &sp->dropped_events_count);
  if (!rc)
    rc = repeated(d, o, "links", sizeof(pc_span_link_t), true, dec_span_link, &links,
                  &sp->n_links);
  sp->links = links;
  if (!rc) rc = field(d, o, "droppedLinksCount", el_u32, &sp->dropped_links_count);
  if (!rc) rc = message(d, o, "status", &sp->has_status, dec_status, sp);
  return rc;
}

static int dec_scope_spans(dec_t *d, json_t *o, void *dst) {
  pc_scope_spans_t *ss = dst;
  void *spans = NULL;
  int rc = message(d, o, "scope", &ss->has_scope, dec_scope, &ss->scope);
  if (!rc)
    rc = repeated(d, o, "spans", sizeof(pc_span_t), true, dec_span, &spans, &ss->n_spans);
  ss->spans = spans;
  if (!rc) rc = field(d, o, "schemaUrl", el_string, &ss->schema_url);
  return rc;
}

static int dec_resource_spans(dec_t *d, json_t *o, void *dst) {
  pc_resource_spans_t *rs = dst;
  void *scopes = NULL;
  int rc = message(d, o, "resource", &rs->has_resource, dec_resource, &rs->resource);
  if (!rc)
    rc = repeated(d, o, "scopeSpans", sizeof(pc_scope_spans_t), true, dec_scope_spans,
                  &scopes, &rs->n_scopes);
  rs->scopes = scopes;
  if (!rc) rc = field(d, o, "schemaUrl", el_string, &rs->schema_url);
  return rc;
}

/* A body with no span whose top level holds other keys is not a traces
 * request (a profiles request, a misspelled key): refusing it beats
 * answering 200 and forwarding what nothing can read. */
static int unknown_top_level(dec_t *d, json_t *root) {
  char keys[160] = "";
  size_t n = 0;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "resourceSpans") == 0) continue;
    n += (size_t)snprintf(keys + n, n < sizeof keys ? sizeof keys - n : 0, "%s\"%.40s\"",
                          n ? ", " : "", key);
    if (n >= sizeof keys) break;
  }
  if (!keys[0]) return 0;
  bool profiles = json_object_get(root, "resourceProfiles") || json_object_get(root, "dictionary");
  return fail(d, PC_EDECODE, "no resourceSpans, and unknown top-level keys %s%s", keys,
              profiles ? ": this is an ExportProfilesServiceRequest (send profiles to the "
                         "profiles path)" : "");
}

int pc_traces_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_traces_t *tr,
                          pc_err_t *err) {
  memset(tr, 0, sizeof *tr);
  tr->arena = arena;
  tr->encoded = buf;
  tr->encoded_n = n;
  tr->json = true;
  json_error_t je;
  json_t *root = json_loadb(buf ? (const char *)buf : "", buf ? n : 0,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!root) return syntax_error(err, &je);
  dec_t d = {.arena = arena, .err = err};
  int rc = 0;
  if (!json_is_object(root)) {
    rc = type_error(&d, "an object", root);
  } else {
    void *resources = NULL;
    rc = repeated(&d, root, "resourceSpans", sizeof(pc_resource_spans_t), true,
                  dec_resource_spans, &resources, &tr->n_resources);
    tr->resources = resources;
    if (!rc && pc_traces_span_count(tr) == 0) rc = unknown_top_level(&d, root);
  }
  json_decref(root);
  return rc;
}
