/* pyroscope.c - the Pyroscope SDKs' push API, read: /ingest's query string
 * (name with its labels, from, until, sampleRate, spyName, format) and the
 * multipart/form-data body the SDKs send, whose "profile" part is a pprof.
 *
 * The one idea: everything here is a view into bytes the request already
 * holds (the query decodes into a scratch buffer the caller sizes to the
 * query), so parsing an untrusted request costs no allocation and cannot
 * run past what was received. The grammar is Grafana Pyroscope's
 * (pkg/og/storage/segment key parsing, pkg/og/convert/pprof's form fields):
 *
 *   name   APP or APP{key=value,key=value}; keys are letters, digits, '_',
 *          '.' and '-'; values run to the next ',' or '}'; blanks around
 *          either are trimmed
 *   from, until  unix time in s, ms, us or ns (newer Go SDKs send ns), or
 *          "now"
 *   body   multipart/form-data (boundary from Content-Type): parts named
 *          "profile" (the pprof), "prev_profile" (old SDKs' cumulative
 *          profiles: refused, as Pyroscope does) and "sample_type_config"
 *          (display hints: ignored) */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pprofrx.h"

/* ---- the query ----------------------------------------------------------------------- */

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decode s into dst (room for s.n), '+' as a blank as forms encode
 * it; a '%' not followed by two hex digits is kept as it is (Go's
 * url.QueryUnescape would refuse the whole query; being lenient costs
 * nothing here, every byte still ends up in a bounded view). */
static pc_str_t unescape(pc_str_t s, uint8_t *dst) {
  size_t o = 0;
  for (size_t i = 0; i < s.n; i++) {
    uint8_t c = s.p[i];
    if (c == '+') c = ' ';
    else if (c == '%' && i + 2 < s.n && hexval(s.p[i + 1]) >= 0 && hexval(s.p[i + 2]) >= 0) {
      c = (uint8_t)(hexval(s.p[i + 1]) << 4 | hexval(s.p[i + 2]));
      i += 2;
    }
    dst[o++] = c;
  }
  return (pc_str_t){dst, o};
}

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

static pc_str_t trim(pc_str_t s) {
  while (s.n && is_blank(s.p[0])) s.p++, s.n--;
  while (s.n && is_blank(s.p[s.n - 1])) s.n--;
  return s;
}

static bool is_key_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

/* Printable ASCII of s for a message, cut to fit. */
static void shown(char *dst, size_t cap, pc_str_t s) {
  size_t o = 0, i = 0;
  for (; i < s.n && o + 4 < cap; i++)
    dst[o++] = s.p[i] >= 0x20 && s.p[i] < 0x7f && s.p[i] != '"' ? (char)s.p[i] : '?';
  if (i < s.n && cap >= 4) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  if (cap) dst[o] = 0;
}

/* APP{k=v,...} (decoded) into out. */
static int parse_name(pc_str_t name, pc__pyro_query_t *out, char *why, size_t cap) {
  const uint8_t *brace = name.n ? memchr(name.p, '{', name.n) : NULL;
  out->app = trim((pc_str_t){name.p, brace ? (size_t)(brace - name.p) : name.n});
  if (!out->app.n) {
    snprintf(why, cap, "name: no application name before the labels");
    return PC_EINVAL;
  }
  if (!brace) return 0;
  if (name.p[name.n - 1] != '}') {
    snprintf(why, cap, "name: the labels after '{' do not end with '}'");
    return PC_EINVAL;
  }
  pc_str_t rest = {brace + 1, (size_t)(name.p + name.n - 1 - (brace + 1))};
  while (rest.n) {
    const uint8_t *comma = memchr(rest.p, ',', rest.n);
    pc_str_t pair = {rest.p, comma ? (size_t)(comma - rest.p) : rest.n};
    rest = comma ? (pc_str_t){comma + 1, rest.n - pair.n - 1} : (pc_str_t){rest.p + rest.n, 0};
    if (!trim(pair).n) continue; /* "{a=b,}" */
    const uint8_t *eq = memchr(pair.p, '=', pair.n);
    char s[64];
    shown(s, sizeof s, trim(pair));
    if (!eq) {
      snprintf(why, cap, "name: label \"%s\" has no '='", s);
      return PC_EINVAL;
    }
    pc_str_t key = trim((pc_str_t){pair.p, (size_t)(eq - pair.p)});
    pc_str_t value = trim((pc_str_t){eq + 1, pair.n - (size_t)(eq - pair.p) - 1});
    bool ok = key.n > 0;
    for (size_t i = 0; ok && i < key.n; i++) ok = is_key_char(key.p[i]);
    if (!ok || memchr(value.p, '}', value.n) || memchr(value.p, '{', value.n)) {
      snprintf(why, cap, "name: label \"%s\" is not key=value (keys: letters, digits, "
               "'_', '.' and '-')", s);
      return PC_EINVAL;
    }
    if (out->n_labels == PC__PYRO_MAX_LABELS) {
      snprintf(why, cap, "name: more than %d labels", PC__PYRO_MAX_LABELS);
      return PC_EINVAL;
    }
    out->keys[out->n_labels] = key;
    out->values[out->n_labels++] = value;
  }
  return 0;
}

int64_t pc__pyro_time_ns(pc_str_t s, int64_t now_ns) {
  s = trim(s);
  if (s.n == 3 && memcmp(s.p, "now", 3) == 0) return now_ns;
  if (!s.n || s.n > 19) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return -1;
    v = v * 10 + (uint64_t)(s.p[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX) return -1;
  /* Ten digits are seconds (until the year 2286), thirteen milliseconds,
   * sixteen microseconds, more nanoseconds: the SDKs send s (old) or ns
   * (new). What would not fit in int64 nanoseconds is no time. */
  int64_t scale = v < 10000000000ull ? 1000000000 : v < 10000000000000ull ? 1000000
                  : v < 10000000000000000ull ? 1000 : 1;
  int64_t ns;
  return __builtin_mul_overflow((int64_t)v, scale, &ns) ? -1 : ns;
}

int pc__pyro_parse_query(pc_str_t q, uint8_t *scratch, int64_t now_ns, pc__pyro_query_t *out,
                         char *why, size_t cap) {
  *out = (pc__pyro_query_t){0};
  pc_str_t name = {0};
  bool has_name = false;
  size_t used = 0;
  while (q.n) {
    const uint8_t *amp = memchr(q.p, '&', q.n);
    pc_str_t kv = {q.p, amp ? (size_t)(amp - q.p) : q.n};
    q = amp ? (pc_str_t){amp + 1, q.n - kv.n - 1} : (pc_str_t){q.p + q.n, 0};
    if (!kv.n) continue;
    const uint8_t *eq = memchr(kv.p, '=', kv.n);
    pc_str_t k = {kv.p, eq ? (size_t)(eq - kv.p) : kv.n};
    pc_str_t raw = eq ? (pc_str_t){eq + 1, kv.n - k.n - 1} : (pc_str_t){kv.p + kv.n, 0};
    pc_str_t v = unescape(raw, scratch + used);
    used += v.n;
#define IS(lit) (k.n == sizeof(lit) - 1 && memcmp(k.p, lit, k.n) == 0)
    char s[48];
    if (IS("name")) {
      name = v;
      has_name = true;
    } else if (IS("from") || IS("until")) {
      int64_t t = pc__pyro_time_ns(v, now_ns);
      if (t < 0) {
        shown(s, sizeof s, v);
        snprintf(why, cap, "%s: \"%s\" is not a unix time (s, ms, us or ns) nor \"now\"",
                 IS("from") ? "from" : "until", s);
        return PC_EINVAL;
      }
      *(IS("from") ? &out->from_ns : &out->until_ns) = t;
    } else if (IS("sampleRate")) {
      uint64_t hz = 0;
      bool ok = v.n > 0 && v.n <= 9;
      for (size_t i = 0; ok && i < v.n; i++) {
        ok = v.p[i] >= '0' && v.p[i] <= '9';
        hz = hz * 10 + (uint64_t)(v.p[i] - '0');
      }
      /* Pyroscope falls back to its default (100 Hz) on a bad value and
       * logs; here the profile's own period stays, which is what a pprof
       * body says anyway. */
      out->sample_rate = ok ? (uint32_t)hz : 0;
    } else if (IS("spyName")) {
      out->spy_name = v;
    } else if (IS("format")) {
      out->format = v;
    } /* units, aggregationType: only for formats other than pprof */
#undef IS
  }
  if (!has_name || !name.n) {
    snprintf(why, cap, "name: missing (the application name, e.g. name=my.app{env=prod})");
    return PC_EINVAL;
  }
  return parse_name(name, out, why, cap);
}

/* ---- the multipart body -------------------------------------------------------------- */

bool pc__pyro_is_multipart(pc_str_t ct) {
  ct = trim(ct);
  return ct.n >= 19 && strncasecmp((const char *)ct.p, "multipart/form-data", 19) == 0 &&
         (ct.n == 19 || ct.p[19] == ';' || is_blank(ct.p[19]));
}

/* The boundary parameter of a Content-Type, quoted or not. */
static bool boundary_of(pc_str_t ct, pc_str_t *out) {
  for (size_t i = 0; i + 9 <= ct.n; i++) {
    if (strncasecmp((const char *)ct.p + i, "boundary=", 9) != 0) continue;
    if (i > 0 && !(ct.p[i - 1] == ';' || is_blank(ct.p[i - 1]))) continue;
    pc_str_t v = {ct.p + i + 9, ct.n - i - 9};
    if (v.n && v.p[0] == '"') {
      const uint8_t *end = memchr(v.p + 1, '"', v.n - 1);
      if (!end) return false;
      *out = (pc_str_t){v.p + 1, (size_t)(end - v.p - 1)};
    } else {
      size_t n = 0;
      while (n < v.n && v.p[n] != ';' && !is_blank(v.p[n])) n++;
      *out = (pc_str_t){v.p, n};
    }
    /* RFC 2046: 1 to 70 characters. */
    return out->n >= 1 && out->n <= 70;
  }
  return false;
}

/* First occurrence of needle in hay, or NULL. */
static const uint8_t *find(pc_str_t hay, const uint8_t *needle, size_t n) {
  if (n == 0 || hay.n < n) return NULL;
  return memmem(hay.p, hay.n, needle, n);
}

/* The form field name of a part's header block (Content-Disposition:
 * form-data; name="x"), or an empty view. */
static pc_str_t part_name(pc_str_t head) {
  while (head.n) {
    const uint8_t *eol = find(head, (const uint8_t *)"\r\n", 2);
    pc_str_t line = {head.p, eol ? (size_t)(eol - head.p) : head.n};
    head = eol ? (pc_str_t){eol + 2, head.n - line.n - 2} : (pc_str_t){head.p + head.n, 0};
    if (line.n < 20 || strncasecmp((const char *)line.p, "content-disposition:", 20) != 0)
      continue;
    for (size_t i = 20; i + 5 <= line.n; i++) {
      if (strncasecmp((const char *)line.p + i, "name=", 5) != 0) continue;
      if (!(line.p[i - 1] == ';' || is_blank(line.p[i - 1]))) continue; /* not filename= */
      pc_str_t v = {line.p + i + 5, line.n - i - 5};
      if (v.n && v.p[0] == '"') {
        const uint8_t *end = memchr(v.p + 1, '"', v.n - 1);
        return end ? (pc_str_t){v.p + 1, (size_t)(end - v.p - 1)} : (pc_str_t){0};
      }
      size_t n = 0;
      while (n < v.n && v.p[n] != ';' && !is_blank(v.p[n])) n++;
      return (pc_str_t){v.p, n};
    }
  }
  return (pc_str_t){0};
}

int pc__pyro_multipart(pc_str_t ct, pc_str_t body, pc_str_t *profile, char *why, size_t cap) {
  pc_str_t b;
  if (!pc__pyro_is_multipart(ct) || !boundary_of(ct, &b)) {
    snprintf(why, cap, "Content-Type is multipart/form-data without a usable boundary");
    return PC_EDECODE;
  }
  /* "\r\n--" + boundary: the delimiter; the body's first one may come
   * without the line break before it. */
  uint8_t delim[4 + 70];
  memcpy(delim, "\r\n--", 4);
  memcpy(delim + 4, b.p, b.n);
  size_t dn = 4 + b.n;
  const uint8_t *at;
  if (body.n >= dn - 2 && memcmp(body.p, delim + 2, dn - 2) == 0) {
    at = body.p + dn - 2;
  } else if ((at = find(body, delim, dn))) {
    at += dn;
  } else {
    snprintf(why, cap, "the multipart body has no part (no boundary line)");
    return PC_EDECODE;
  }
  bool found = false;
  for (;;) {
    pc_str_t rest = {at, (size_t)(body.p + body.n - at)};
    if (rest.n >= 2 && rest.p[0] == '-' && rest.p[1] == '-') break; /* the closing delimiter */
    /* Transport padding, then the line break that ends the delimiter line. */
    size_t i = 0;
    while (i < rest.n && is_blank(rest.p[i])) i++;
    if (rest.n - i < 2 || rest.p[i] != '\r' || rest.p[i + 1] != '\n') {
      snprintf(why, cap, "the multipart body is cut off or malformed after a boundary");
      return PC_EDECODE;
    }
    rest.p += i + 2, rest.n -= i + 2;
    const uint8_t *hend = rest.n >= 2 && rest.p[0] == '\r' && rest.p[1] == '\n'
                              ? rest.p /* no headers at all */
                              : find(rest, (const uint8_t *)"\r\n\r\n", 4);
    if (!hend) {
      snprintf(why, cap, "a multipart part's headers do not end");
      return PC_EDECODE;
    }
    bool no_headers = hend == rest.p;
    pc_str_t head = {rest.p, (size_t)(hend - rest.p)};
    const uint8_t *data = hend + (no_headers ? 2 : 4);
    pc_str_t tail = {data, (size_t)(body.p + body.n - data)};
    const uint8_t *end = find(tail, delim, dn);
    if (!end) {
      snprintf(why, cap, "a multipart part does not end with the boundary");
      return PC_EDECODE;
    }
    pc_str_t name = part_name(head);
    pc_str_t content = {data, (size_t)(end - data)};
    if (pc_str_eq(name, PC_STR_LIT("prev_profile"))) {
      snprintf(why, cap, "the form has a prev_profile part: cumulative profiles of old "
               "Pyroscope SDKs are not taken (update the SDK, as Pyroscope asks too)");
      return PC_EDECODE;
    }
    if (pc_str_eq(name, PC_STR_LIT("profile")) && !found) {
      *profile = content;
      found = true;
    }
    at = end + dn;
  }
  if (!found) {
    snprintf(why, cap, "the multipart form has no \"profile\" part");
    return PC_EDECODE;
  }
  return 0;
}
