/* options.c - option tables (pc_opt_t) applied to config nodes: defaults,
 * typed values with bounds, unknown keys with a did-you-mean hint, and the
 * --help text, all from the one table each component declares.
 *
 * Every message names the form that is accepted and quotes what was given,
 * so an operator can fix the file without reading the source:
 *   cfg.yaml:12:14: exporters.otlphttp.timeout: expected a duration like "5s"
 *   or "100ms", got "five"
 * The parsers are strict (no trailing junk, no silent overflow): a config
 * that means something other than what was written is worse than an error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---- forms, for messages and help ----------------------------------------- */

static const char *form_of(pc_opt_type_t t) {
  switch (t) {
  case PC_OPT_STRING: return "text";
  case PC_OPT_BOOL: return "true or false";
  case PC_OPT_INT: return "an integer";
  case PC_OPT_SIZE: return "a size like \"64MiB\", \"512KiB\" or a number of bytes";
  case PC_OPT_DURATION: return "a duration like \"5s\" or \"100ms\"";
  case PC_OPT_ENDPOINT: return "host:port like \"localhost:4318\", \"[::1]:4318\" or \":4318\"";
  case PC_OPT_MAP: return "a map of options (key: value)";
  case PC_OPT_STRMAP: return "a map of names to text (name: value)";
  default: return "a value";
  }
}

static const char *type_name(pc_opt_type_t t) {
  switch (t) {
  case PC_OPT_STRING: return "string";
  case PC_OPT_BOOL: return "bool";
  case PC_OPT_INT: return "int";
  case PC_OPT_SIZE: return "size";
  case PC_OPT_DURATION: return "duration";
  case PC_OPT_ENDPOINT: return "host:port";
  case PC_OPT_MAP: return "section";
  case PC_OPT_STRMAP: return "map of strings";
  default: return "any";
  }
}

static const char *node_kind(const pc_cfg_node_t *n) {
  switch (n->type) {
  case PC_CFG_MAP: return "a map";
  case PC_CFG_SEQ: return "a list";
  case PC_CFG_NULL: return "nothing";
  default: return "a single value";
  }
}

static const struct unit {
  const char *name;
  uint64_t mult;
} size_units[] = {
    {"TiB", 1ull << 40}, {"GiB", 1ull << 30},        {"MiB", 1ull << 20},    {"KiB", 1ull << 10},
    {"TB", 1000000000000ull}, {"GB", 1000000000ull}, {"MB", 1000000ull},    {"KB", 1000ull},
    {"B", 1},           {"", 1},
};

static void format_size(char *buf, size_t n, uint64_t v) {
  for (size_t i = 0; size_units[i].mult > 1; i++) {
    if (v && v % size_units[i].mult == 0) {
      snprintf(buf, n, "%" PRIu64 "%s", v / size_units[i].mult, size_units[i].name);
      return;
    }
  }
  snprintf(buf, n, "%" PRIu64 "B", v);
}

/* 90000 -> "1m30s", 1500 -> "1s500ms": Go duration syntax, so it can be pasted back. */
static void format_duration(char *buf, size_t n, uint64_t ms) {
  static const struct unit parts[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  size_t o = 0;
  buf[0] = 0;
  if (ms == 0) snprintf(buf, n, "0s");
  for (size_t i = 0; i < 4 && ms; i++) {
    uint64_t q = ms / parts[i].mult;
    ms %= parts[i].mult;
    if (q && o < n) o += (size_t)snprintf(buf + o, n - o, "%" PRIu64 "%s", q, parts[i].name);
  }
}

static bool bounded(const pc_opt_t *row) { return row->min != 0 || row->max != 0; }

/* "an integer from 1 to 19", "a duration from 1ms to 1h", ... */
static void range_form(const pc_opt_t *row, char *buf, size_t n) {
  char lo[32], hi[32];
  uint64_t ulo = row->min > 0 ? (uint64_t)row->min : 0, uhi = row->max > 0 ? (uint64_t)row->max : 0;
  switch (row->type) {
  case PC_OPT_SIZE:
    format_size(lo, sizeof lo, ulo);
    format_size(hi, sizeof hi, uhi);
    snprintf(buf, n, "a size from %s to %s", lo, hi);
    break;
  case PC_OPT_DURATION:
    format_duration(lo, sizeof lo, ulo);
    format_duration(hi, sizeof hi, uhi);
    snprintf(buf, n, "a duration from %s to %s", lo, hi);
    break;
  default:
    snprintf(buf, n, "an integer from %" PRId64 " to %" PRId64, row->min, row->max);
  }
}

/* ---- scalar parsers ------------------------------------------------------------ */

typedef enum { PARSE_OK, PARSE_BAD, PARSE_RANGE } parse_rc;

/* Decimal digits at *s into v, all of them consumed; false on overflow.
 * *digits counts them. */
static bool take_digits(const char **s, uint64_t *v, size_t *digits) {
  bool fits = true;
  *v = 0;
  *digits = 0;
  for (; **s >= '0' && **s <= '9'; (*s)++, (*digits)++) {
    unsigned d = (unsigned)(**s - '0');
    if (*v > (UINT64_MAX - d) / 10) fits = false;
    else *v = *v * 10 + d;
  }
  return fits;
}

/* Fraction digits after '.', keeping at most 9 (finer is below a
 * nanosecond or a byte): value fp / scale. */
static size_t take_fraction(const char **s, uint64_t *fp, uint64_t *scale) {
  size_t digits = 0;
  *fp = 0;
  *scale = 1;
  for (; **s >= '0' && **s <= '9'; (*s)++, digits++) {
    if (digits < 9) {
      *fp = *fp * 10 + (uint64_t)(**s - '0');
      *scale *= 10;
    }
  }
  return digits;
}

/* fp / scale of unit, truncated; never overflows since fp < scale <= 1e9. */
static uint64_t fraction_of(uint64_t fp, uint64_t scale, uint64_t unit) {
  return fp * (unit / scale) + fp * (unit % scale) / scale;
}

static bool mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t *out) {
  if (b && a > (UINT64_MAX - c) / b) return false;
  *out = a * b + c;
  return true;
}

/* Fail with a reason, shown after the value in the message. */
static parse_rc bad(char *why, size_t wn, const char *reason) {
  snprintf(why, wn, "%s", reason);
  return PARSE_BAD;
}

static parse_rc parse_bool(const char *s, bool *out) {
  if (strcasecmp(s, "true") == 0) *out = true;
  else if (strcasecmp(s, "false") == 0) *out = false;
  else return PARSE_BAD;
  return PARSE_OK;
}

static parse_rc parse_int(const char *s, int64_t *out, char *why, size_t wn) {
  bool neg = *s == '-';
  if (*s == '-' || *s == '+') s++;
  uint64_t v;
  size_t digits;
  bool fits = take_digits(&s, &v, &digits);
  if (!digits || *s) return PARSE_BAD;
  if (!fits || v > (uint64_t)INT64_MAX + neg) return bad(why, wn, "too large");
  *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return PARSE_OK;
}

static parse_rc parse_size(const char *s, uint64_t *out, char *why, size_t wn) {
  uint64_t ip, fp = 0, scale = 1;
  size_t digits, frac_digits = 0;
  bool fits = take_digits(&s, &ip, &digits);
  if (*s == '.') {
    s++;
    if ((frac_digits = take_fraction(&s, &fp, &scale)) == 0) return PARSE_BAD;
  }
  if (!digits) return PARSE_BAD;
  while (*s == ' ') s++;
  const struct unit *u = size_units;
  while (u->name[0] && strcmp(u->name, s) != 0) u++;
  if (strcmp(u->name, s) != 0) {
    char unit[80];
    pc__cfg_quote(unit, sizeof unit, s);
    snprintf(why, wn, "unknown unit %s; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", unit);
    return PARSE_BAD;
  }
  if (u->mult == 1 && fp) return bad(why, wn, "a size in bytes must be a whole number");
  if (!fits || !mul_add(ip, u->mult, fraction_of(fp, scale, u->mult), out))
    return bad(why, wn, "too large");
  return PARSE_OK;
}

static const char MISSING_UNIT[] = "missing unit; use ns, us, ms, s, m or h";

static const struct unit duration_units[] = {
    {"ns", 1},          {"us", 1000},          {"\xC2\xB5s", 1000}, {"\xCE\xBCs", 1000},
    {"ms", 1000000},    {"s", 1000000000},     {"m", 60000000000},  {"h", 3600000000000},
    {NULL, 0},
};

/* One "1.5s" part of a Go duration at *s, added to *ns. */
static parse_rc duration_part(const char **s, uint64_t *ns, char *why, size_t wn) {
  uint64_t ip, fp = 0, scale = 1, v;
  size_t digits, frac_digits = 0;
  bool fits = take_digits(s, &ip, &digits);
  if (**s == '.') {
    (*s)++;
    frac_digits = take_fraction(s, &fp, &scale);
  }
  if (!digits && !frac_digits) return PARSE_BAD;
  size_t ulen = strcspn(*s, "0123456789.");
  const struct unit *u = duration_units;
  while (u->name && (strlen(u->name) != ulen || memcmp(u->name, *s, ulen) != 0)) u++;
  if (!u->name) {
    if (!ulen) return bad(why, wn, MISSING_UNIT);
    char unit[80], tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(ulen < 20 ? ulen : 20), *s);
    pc__cfg_quote(unit, sizeof unit, tmp);
    snprintf(why, wn, "unknown unit %s; use ns, us, ms, s, m or h", unit);
    return PARSE_BAD;
  }
  *s += ulen;
  if (!fits || !mul_add(ip, u->mult, fraction_of(fp, scale, u->mult), &v) ||
      v > UINT64_MAX - *ns)
    return bad(why, wn, "too large");
  *ns += v;
  return PARSE_OK;
}

/* Go's time.ParseDuration syntax; an unquoted bare integer is nanoseconds
 * (what the Collector's YAML decoding gives for a number). Milliseconds,
 * rounded up. */
static parse_rc parse_duration(const char *s, bool quoted, uint64_t *ms, char *why, size_t wn) {
  if (*s == '-') return bad(why, wn, "negative");
  if (*s == '+') s++;
  uint64_t ns = 0;
  if (s[0] && strspn(s, "0123456789") == strlen(s)) {
    const char *p = s;
    size_t digits;
    if (!take_digits(&p, &ns, &digits)) return bad(why, wn, "too large");
    if (quoted && ns) return bad(why, wn, MISSING_UNIT);
  } else {
    if (!*s) return PARSE_BAD;
    while (*s) {
      parse_rc rc = duration_part(&s, &ns, why, wn);
      if (rc) return rc;
    }
  }
  *ms = ns / 1000000 + (ns % 1000000 != 0);
  return PARSE_OK;
}

static bool is_host_char(char c, bool bracketed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  if (c == '.' || c == '-') return true;
  return bracketed ? (c == ':' || c == '%') : c == '_';
}

/* "host:port", "[::1]:port" or ":port"; the text is kept as it is. */
static parse_rc parse_endpoint(const char *s, char *why, size_t wn) {
  const char *host = s, *host_end, *port;
  bool bracketed = *s == '[';
  if (strstr(s, "://")) return bad(why, wn, "no scheme: write host:port");
  if (bracketed) {
    host = s + 1;
    host_end = strchr(host, ']');
    if (!host_end || host_end == host) return bad(why, wn, "bad [address]");
    if (host_end[1] != ':') return bad(why, wn, "missing :port");
    port = host_end + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon) return bad(why, wn, "missing :port");
    if (memchr(s, ':', (size_t)(colon - s)))
      return bad(why, wn, "an IPv6 address needs brackets: [::1]:4318");
    host_end = colon;
    port = colon + 1;
  }
  for (const char *c = host; c < host_end; c++)
    if (!is_host_char(*c, bracketed))
      return bad(why, wn, "the host has a character that cannot be in one");
  uint64_t v;
  size_t digits;
  const char *p = port;
  if (!*port) return bad(why, wn, "missing port number");
  if (!take_digits(&p, &v, &digits) || *p || digits > 5 || v > 65535)
    return bad(why, wn, "the port must be a number from 0 to 65535");
  return PARSE_OK;
}

static bool check_range(const pc_opt_t *row, uint64_t v) {
  if (!bounded(row)) return true;
  uint64_t lo = row->min > 0 ? (uint64_t)row->min : 0, hi = row->max > 0 ? (uint64_t)row->max : 0;
  return v >= lo && v <= hi;
}

static void store_ptr(void *field, const void *p) { memcpy(field, &p, sizeof p); }

/* Parse text for row and store it at field. why gets the reason, if any. */
static parse_rc parse_scalar(const pc_opt_t *row, const char *text, bool quoted, void *field,
                             char *why, size_t wn) {
  parse_rc rc = PARSE_OK;
  int64_t i;
  uint64_t u;
  bool b;
  switch (row->type) {
  case PC_OPT_STRING:
    store_ptr(field, text);
    break;
  case PC_OPT_BOOL:
    if (!(rc = parse_bool(text, &b))) *(bool *)field = b;
    break;
  case PC_OPT_INT:
    if ((rc = parse_int(text, &i, why, wn))) break;
    if (bounded(row) && (i < row->min || i > row->max)) return PARSE_RANGE;
    *(int64_t *)field = i;
    break;
  case PC_OPT_SIZE:
  case PC_OPT_DURATION:
    rc = row->type == PC_OPT_SIZE ? parse_size(text, &u, why, wn)
                                  : parse_duration(text, quoted, &u, why, wn);
    if (rc) break;
    if (!check_range(row, u)) return PARSE_RANGE;
    *(uint64_t *)field = u;
    break;
  case PC_OPT_ENDPOINT:
    if (!(rc = parse_endpoint(text, why, wn))) store_ptr(field, text);
    break;
  default: /* MAP, STRMAP and NODE take no text */
    rc = PARSE_BAD;
  }
  return rc;
}

/* "expected <form>, got "<text>" (<why>)". */
static void describe(const pc_opt_t *row, const char *text, parse_rc rc, const char *why,
                     char *buf, size_t n) {
  char form[96], got[80];
  if (rc == PARSE_RANGE) range_form(row, form, sizeof form);
  else snprintf(form, sizeof form, "%s", form_of(row->type));
  pc__cfg_quote(got, sizeof got, text);
  if (rc == PARSE_BAD && why[0]) snprintf(buf, n, "expected %s, got %s (%s)", form, got, why);
  else snprintf(buf, n, "expected %s, got %s", form, got);
}

/* ---- tables ------------------------------------------------------------------ */

static void *field_of(const pc_opt_t *row, void *out) { return (char *)out + row->offset; }

static int apply_defaults(const pc_opt_t *table, void *out, pc_err_t *err) {
  for (const pc_opt_t *row = table; row->key; row++) {
    if (row->type == PC_OPT_MAP) {
      int rc = apply_defaults(row->sub, field_of(row, out), err);
      if (rc) return rc;
      continue;
    }
    if (!row->def || row->type == PC_OPT_STRMAP || row->type == PC_OPT_NODE) continue;
    char why[160] = "", msg[224];
    parse_rc rc = parse_scalar(row, row->def, false, field_of(row, out), why, sizeof why);
    if (rc == PARSE_OK) continue;
    describe(row, row->def, rc, why, msg, sizeof msg);
    return pc_err_set(err, PC_EINVAL, "bug: built-in default of option \"%s\": %s", row->key, msg);
  }
  return 0;
}

static size_t count_rows(const pc_opt_t *table) {
  size_t n = 0;
  while (table[n].key) n++;
  return n;
}

static int unknown_key(const pc_opt_t *table, const char *key, const pc_cfg_node_t *v,
                       pc_err_t *err) {
  size_t n = count_rows(table);
  const char **keys = pc_xmalloc((n ? n : 1) * sizeof *keys);
  for (size_t i = 0; i < n; i++) keys[i] = table[i].key;
  const char *hint = pc_cfg_did_you_mean(key, keys, n);
  char k[80], list[160] = "";
  pc__cfg_quote(k, sizeof k, key);
  size_t o = 0;
  for (size_t i = 0; i < n && o < sizeof list; i++) {
    if (o + strlen(keys[i]) + 7 >= sizeof list) {
      snprintf(list + o, sizeof list - o, ", ...");
      break;
    }
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", keys[i]);
  }
  free(keys);
  if (hint)
    return pc_cfg_key_error(err, v, PC_EINVAL, "unknown key %s; did you mean \"%s\"?", k, hint);
  if (n == 0) return pc_cfg_key_error(err, v, PC_EINVAL, "unknown key %s; this takes no options", k);
  return pc_cfg_key_error(err, v, PC_EINVAL, "unknown key %s; valid keys: %s", k, list);
}

static int wrong_kind(const pc_opt_t *row, const pc_cfg_node_t *v, pc_err_t *err) {
  return pc_cfg_error(err, v, PC_EINVAL, "expected %s, got %s", form_of(row->type), node_kind(v));
}

/* Whether to go on to the next key after a problem: yes while every error
 * is being collected (pc_cfg_collect_begin), as validate does. */
static bool keep_going(const pc_err_t *err) { return err && pc_cfg_collecting(); }

static int apply_strmap(const pc_opt_t *row, const pc_cfg_node_t *v, void *out, pc_err_t *err) {
  if (v->type != PC_CFG_MAP) return wrong_kind(row, v, err);
  int first = 0;
  for (size_t i = 0; i < v->n_entries; i++) {
    const pc_cfg_node_t *item = v->entries[i].value;
    if (item->type == PC_CFG_SCALAR) continue;
    int rc = pc_cfg_error(err, item, PC_EINVAL, "expected text, got %s%s", node_kind(item),
                          item->type == PC_CFG_NULL ? " (write \"\" for an empty value)" : "");
    if (!keep_going(err)) return rc;
    if (!first) first = rc;
  }
  if (!first) store_ptr(field_of(row, out), v);
  return first;
}

static int apply_map(const pc_opt_t *table, const pc_cfg_node_t *node, void *out, pc_err_t *err);

/* One key's value; a null value keeps the default. */
static int apply_value(const pc_opt_t *row, const pc_cfg_node_t *v, void *out, pc_err_t *err) {
  if (v->type == PC_CFG_NULL) return 0;
  switch (row->type) {
  case PC_OPT_MAP:
    return v->type == PC_CFG_MAP ? apply_map(row->sub, v, field_of(row, out), err)
                                 : wrong_kind(row, v, err);
  case PC_OPT_STRMAP:
    return apply_strmap(row, v, out, err);
  case PC_OPT_NODE:
    store_ptr(field_of(row, out), v);
    return 0;
  default:
    break;
  }
  if (v->type != PC_CFG_SCALAR) return wrong_kind(row, v, err);
  char why[160] = "", msg[224];
  parse_rc rc = parse_scalar(row, v->text, v->quoted, field_of(row, out), why, sizeof why);
  if (rc == PARSE_OK) return 0;
  describe(row, v->text, rc, why, msg, sizeof msg);
  return pc_cfg_error(err, v, PC_EINVAL, "%s", msg);
}

static int apply_map(const pc_opt_t *table, const pc_cfg_node_t *node, void *out, pc_err_t *err) {
  int first = 0;
  for (size_t i = 0; i < node->n_entries; i++) {
    const char *key = node->entries[i].key;
    const pc_cfg_node_t *v = node->entries[i].value;
    const pc_opt_t *row = table;
    while (row->key && strcmp(row->key, key) != 0) row++;
    int rc = row->key ? apply_value(row, v, out, err) : unknown_key(table, key, v, err);
    if (rc && !keep_going(err)) return rc;
    if (!first) first = rc;
  }
  return first;
}

int pc_cfg_apply(const pc_opt_t *table, const pc_cfg_node_t *node, void *out, pc_err_t *err) {
  int rc = apply_defaults(table, out, err);
  if (rc || !node || node->type == PC_CFG_NULL) return rc;
  if (node->type != PC_CFG_MAP)
    return pc_cfg_error(err, node, PC_EINVAL, "expected a map of options (key: value), got %s",
                        node_kind(node));
  return apply_map(table, node, out, err);
}

/* ---- help ------------------------------------------------------------------------ */

static void print_row(const pc_opt_t *row, int indent, FILE *f) {
  char bounds[96] = "", def[96] = "";
  if (bounded(row) && (row->type == PC_OPT_INT || row->type == PC_OPT_SIZE ||
                       row->type == PC_OPT_DURATION)) {
    char form[80];
    range_form(row, form, sizeof form);
    snprintf(bounds, sizeof bounds, ", %s", strstr(form, "from ") + 5); /* "1 to 19" */
  }
  if (row->def && (row->type == PC_OPT_STRING || row->type == PC_OPT_ENDPOINT))
    snprintf(def, sizeof def, ", default \"%s\"", row->def);
  else if (row->def)
    snprintf(def, sizeof def, ", default %s", row->def);
  fprintf(f, "%*s%s (%s%s%s): %s\n", indent, "", row->key, type_name(row->type), bounds, def,
          row->help ? row->help : "");
}

void pc_cfg_print_options(const pc_opt_t *table, int indent, void *file) {
  FILE *f = file;
  for (const pc_opt_t *row = table; row->key; row++) {
    if (row->type == PC_OPT_MAP) {
      fprintf(f, "%*s%s: %s\n", indent, "", row->key, row->help ? row->help : "");
      pc_cfg_print_options(row->sub, indent + 2, f);
    } else {
      print_row(row, indent, f);
    }
  }
}

/* ---- did you mean ----------------------------------------------------------------- */

enum { MAX_WORD = 255 };

/* Levenshtein distance with one row of the table; both lengths <= MAX_WORD. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb) {
  size_t row[MAX_WORD + 1];
  for (size_t j = 0; j <= nb; j++) row[j] = j;
  for (size_t i = 1; i <= na; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[nb];
}

const char *pc_cfg_did_you_mean(const char *word, const char *const *candidates, size_t n) {
  size_t nw = word ? strlen(word) : 0;
  if (nw == 0 || nw > MAX_WORD) return NULL;
  size_t threshold = nw / 3 > 2 ? nw / 3 : 2, best_d = SIZE_MAX;
  const char *best = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t nc = candidates[i] ? strlen(candidates[i]) : 0;
    if (nc == 0 || nc > MAX_WORD || (nc > nw ? nc - nw : nw - nc) > threshold) continue;
    size_t d = edit_distance(word, nw, candidates[i], nc);
    /* A distance as long as the word means nothing was kept: not a typo. */
    if (d <= threshold && d < nw && d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best;
}
