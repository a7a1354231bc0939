/* pprofcheck.c - the oracles of pprofcheck.h. */
#include "pprofcheck.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------- */

static void push_line(pc_mat_t *m, char *line) {
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->v = realloc(m->v, m->cap * sizeof *m->v);
    ck_assert_ptr_nonnull(m->v);
  }
  m->v[m->n++] = line;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every run of non-ASCII bytes as one '?'. */
static void put_norm(pc_buf_t *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] < 0x80) {
      pc_buf_append(b, &p[i], 1);
      continue;
    }
    pc_buf_append(b, "?", 1);
    while (i + 1 < n && p[i + 1] >= 0x80) i++;
  }
}

static char *buf_take(pc_buf_t *b) {
  pc_buf_append(b, "", 1);
  char *s = (char *)b->p;
  *b = (pc_buf_t){0};
  return s;
}

/* ---- the decoded pprof text, indexed ------------------------------------------- */

typedef struct {
  const pc_tpb_t *p;
  const pc_tpb_field_t **str;
  size_t n_str;
  const pc_tpb_t **fn, **loc, **map, **types;
  size_t n_fn, n_loc, n_map, n_types;
} pidx_t;

static void pidx_build(const pc_tpb_t *p, pidx_t *x) {
  *x = (pidx_t){.p = p};
  x->str = calloc(p->n + 1, sizeof *x->str);
  x->fn = calloc(p->n + 1, sizeof *x->fn);
  x->loc = calloc(p->n + 1, sizeof *x->loc);
  x->map = calloc(p->n + 1, sizeof *x->map);
  x->types = calloc(p->n + 1, sizeof *x->types);
  for (size_t i = 0; i < p->n; i++) {
    const pc_tpb_field_t *f = &p->v[i];
    if (!strcmp(f->name, "string_table")) x->str[x->n_str++] = f;
    else if (!strcmp(f->name, "function")) x->fn[x->n_fn++] = f->msg;
    else if (!strcmp(f->name, "location")) x->loc[x->n_loc++] = f->msg;
    else if (!strcmp(f->name, "mapping")) x->map[x->n_map++] = f->msg;
    else if (!strcmp(f->name, "sample_type")) x->types[x->n_types++] = f->msg;
  }
}

static void pidx_free(pidx_t *x) {
  free(x->str);
  free(x->fn);
  free(x->loc);
  free(x->map);
  free(x->types);
}

static pc_str_t pstr(const pidx_t *x, int64_t i) {
  ck_assert_msg(i >= 0 && (size_t)i < x->n_str, "string index %lld", (long long)i);
  return (pc_str_t){(const uint8_t *)x->str[i]->text, x->str[i]->len};
}

static const pc_tpb_t *by_id(const pc_tpb_t *const *v, size_t n, int64_t id) {
  for (size_t i = 0; i < n; i++)
    if (pc_tpb_int(v[i], "id", 0) == id) return v[i];
  return NULL;
}

static int64_t clamp0(int64_t v) { return v < 0 ? 0 : v; }

/* ---- converted samples ---------------------------------------------------------- */

static void put_line_text(pc_buf_t *b, pc_str_t name, pc_str_t sys, pc_str_t file, int64_t line,
                          int64_t col) {
  put_norm(b, name.p, name.n);
  pc_buf_append(b, "/", 1);
  put_norm(b, sys.p, sys.n);
  pc_buf_append(b, "@", 1);
  put_norm(b, file.p, file.n);
  pc_buf_printf(b, ":%lld:%lld,", (long long)line, (long long)col);
}

static void oracle_stack(const pidx_t *x, const pc_tpb_t *s, pc_buf_t *b) {
  for (size_t i = 0; i < pc_tpb_count(s, "location_id"); i++) {
    const pc_tpb_t *l = by_id(x->loc, x->n_loc, pc_tpb_int_at(s, "location_id", i));
    ck_assert_ptr_nonnull(l);
    const pc_tpb_t *m = by_id(x->map, x->n_map, pc_tpb_int(l, "mapping_id", 0));
    pc_str_t mfile = m ? pstr(x, pc_tpb_int(m, "filename", 0)) : (pc_str_t){0};
    pc_buf_printf(b, "0x%llx[", (unsigned long long)pc_tpb_int(l, "address", 0));
    put_norm(b, mfile.p, mfile.n);
    pc_buf_append(b, "]{", 2);
    for (size_t k = 0; k < pc_tpb_count(l, "line"); k++) {
      const pc_tpb_t *ln = pc_tpb_get(l, "line", k)->msg;
      const pc_tpb_t *fn = by_id(x->fn, x->n_fn, pc_tpb_int(ln, "function_id", 0));
      put_line_text(b, fn ? pstr(x, pc_tpb_int(fn, "name", 0)) : (pc_str_t){0},
                    fn ? pstr(x, pc_tpb_int(fn, "system_name", 0)) : (pc_str_t){0},
                    fn ? pstr(x, pc_tpb_int(fn, "filename", 0)) : (pc_str_t){0},
                    clamp0(pc_tpb_int(ln, "line", 0)), clamp0(pc_tpb_int(ln, "column", 0)));
    }
    pc_buf_append(b, "};", 2);
  }
}

static void put_label_value(const pidx_t *x, const pc_tpb_t *l, pc_buf_t *b) {
  int64_t str = pc_tpb_int(l, "str", 0);
  if (str) {
    pc_str_t s = pstr(x, str);
    pc_buf_append(b, "s:", 2);
    put_norm(b, s.p, s.n);
  } else {
    pc_buf_printf(b, "i:%lld", (long long)pc_tpb_int(l, "num", 0));
  }
}

/* pprof's reader keeps a label with a key and a string, number or unit. */
static bool present(const pc_tpb_t *l) {
  return pc_tpb_int(l, "key", 0) &&
         (pc_tpb_int(l, "str", 0) || pc_tpb_int(l, "num", 0) || pc_tpb_int(l, "num_unit", 0));
}

/* Labels grouped by key as docs/pprof.md says, sorted, comma-joined. */
static void oracle_labels(const pidx_t *x, const pc_tpb_t *s, pc_buf_t *b) {
  size_t n = pc_tpb_count(s, "label");
  char **items = calloc(n + 1, sizeof *items);
  size_t n_items = 0;
  for (size_t i = 0; i < n; i++) {
    const pc_tpb_t *l = pc_tpb_get(s, "label", i)->msg;
    int64_t key = pc_tpb_int(l, "key", 0);
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) {
      const pc_tpb_t *o = pc_tpb_get(s, "label", j)->msg;
      seen = present(o) && pc_tpb_int(o, "key", 0) == key;
    }
    if (!present(l) || seen) continue;
    size_t same = 0;
    for (size_t j = i; j < n; j++) {
      const pc_tpb_t *o = pc_tpb_get(s, "label", j)->msg;
      same += present(o) && pc_tpb_int(o, "key", 0) == key;
    }
    int64_t unit = pc_tpb_int(l, "str", 0) ? 0 : pc_tpb_int(l, "num_unit", 0);
    pc_buf_t it = {0};
    pc_str_t k = pstr(x, key);
    put_norm(&it, k.p, k.n);
    pc_buf_append(&it, "=", 1);
    if (same == 1) {
      put_label_value(x, l, &it);
    } else {
      pc_buf_append(&it, "[", 1);
      for (size_t j = i, c = 0; j < n; j++) {
        const pc_tpb_t *m = pc_tpb_get(s, "label", j)->msg;
        if (!present(m) || pc_tpb_int(m, "key", 0) != key) continue;
        if (c++) pc_buf_append(&it, ",", 1);
        put_label_value(x, m, &it);
        if (!pc_tpb_int(m, "str", 0) && pc_tpb_int(m, "num_unit", 0) != unit) unit = -1;
      }
      pc_buf_append(&it, "]", 1);
    }
    if (unit > 0) {
      pc_str_t u = pstr(x, unit);
      pc_buf_append(&it, "(", 1);
      put_norm(&it, u.p, u.n);
      pc_buf_append(&it, ")", 1);
    }
    items[n_items++] = buf_take(&it);
  }
  qsort(items, n_items, sizeof *items, cmp_str);
  for (size_t i = 0; i < n_items; i++) {
    pc_buf_printf(b, "%s%s", i ? "," : "", items[i]);
    free(items[i]);
  }
  free(items);
}

typedef struct {
  char *key;
  int64_t value;
} kv_t;

static int cmp_kv(const void *a, const void *b) {
  return strcmp(((const kv_t *)a)->key, ((const kv_t *)b)->key);
}

/* Sum values of equal keys and push "key|value" lines (skipping zero sums
 * when skip_zero). sep is what joins key and value. */
static void sum_into(kv_t *v, size_t n, const char *sep, bool skip_zero, pc_mat_t *out) {
  qsort(v, n, sizeof *v, cmp_kv);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    int64_t sum = 0;
    for (; j < n && !strcmp(v[j].key, v[i].key); j++) sum += v[j].value;
    if (sum || !skip_zero) {
      char *line;
      ck_assert(asprintf(&line, "%s%s%lld", v[i].key, sep, (long long)sum) > 0);
      push_line(out, line);
    }
    for (; i < j; i++) free(v[i].key);
  }
  free(v);
}

void pc_pprof_oracle_lines(const pc_tpb_t *profile, pc_mat_t *out) {
  pidx_t x;
  pidx_build(profile, &x);
  size_t n = pc_tpb_count(profile, "sample");
  kv_t *v = calloc(n * x.n_types + 1, sizeof *v);
  size_t nv = 0;
  for (size_t i = 0; i < n; i++) {
    const pc_tpb_t *s = pc_tpb_get(profile, "sample", i)->msg;
    pc_buf_t rest = {0};
    pc_buf_append(&rest, "|", 1);
    oracle_stack(&x, s, &rest);
    pc_buf_append(&rest, "|", 1);
    oracle_labels(&x, s, &rest);
    char *tail = buf_take(&rest);
    for (size_t k = 0; k < x.n_types; k++) {
      pc_str_t t = pstr(&x, pc_tpb_int(x.types[k], "type", 0));
      pc_str_t u = pstr(&x, pc_tpb_int(x.types[k], "unit", 0));
      pc_buf_t key = {0};
      put_norm(&key, t.p, t.n);
      pc_buf_append(&key, ":", 1);
      put_norm(&key, u.p, u.n);
      pc_buf_printf(&key, "%s", tail);
      v[nv++] = (kv_t){buf_take(&key), pc_tpb_int_at(s, "value", k)};
    }
    free(tail);
  }
  sum_into(v, nv, "|", false, out);
  pidx_free(&x);
  pc_mat_sort(out);
}

static void put_value(const pc_dictionary_t *d, const pc_anyvalue_t *v, pc_buf_t *b) {
  pc_str_t s;
  switch (v->type) {
  case PC_AV_STRING: s = v->u.s; goto str;
  case PC_AV_STRINDEX: s = pc_dict_string(d, v->u.strindex); goto str;
  case PC_AV_INT: pc_buf_printf(b, "i:%lld", (long long)v->u.i); return;
  case PC_AV_BOOL: pc_buf_printf(b, "b:%d", v->u.b); return;
  case PC_AV_ARRAY:
    pc_buf_append(b, "[", 1);
    for (uint32_t i = 0; i < v->u.array.n; i++) {
      if (i) pc_buf_append(b, ",", 1);
      put_value(d, &v->u.array.v[i], b);
    }
    pc_buf_append(b, "]", 1);
    return;
  default: pc_buf_printf(b, "?%d", (int)v->type); return;
  }
str:
  pc_buf_append(b, "s:", 2);
  put_norm(b, s.p, s.n);
}

static void otlp_labels(const pc_dictionary_t *d, pc_i32s_t attrs, pc_buf_t *b) {
  char **items = calloc(attrs.n + 1, sizeof *items);
  for (uint32_t i = 0; i < attrs.n; i++) {
    const pc_attr_t *a = pc_dict_attr(d, attrs.v[i]);
    pc_buf_t it = {0};
    pc_str_t k = pc_dict_string(d, a->key_strindex), u = pc_dict_string(d, a->unit_strindex);
    put_norm(&it, k.p, k.n);
    pc_buf_append(&it, "=", 1);
    put_value(d, &a->value, &it);
    if (u.n) {
      pc_buf_append(&it, "(", 1);
      put_norm(&it, u.p, u.n);
      pc_buf_append(&it, ")", 1);
    }
    items[i] = buf_take(&it);
  }
  qsort(items, attrs.n, sizeof *items, cmp_str);
  for (uint32_t i = 0; i < attrs.n; i++) {
    pc_buf_printf(b, "%s%s", i ? "," : "", items[i]);
    free(items[i]);
  }
  free(items);
}

void pc_pprof_otlp_lines(const pc_request_t *req, pc_mat_t *out) {
  const pc_dictionary_t *d = &req->dict;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t sc = 0; sc < req->resources[r].n_scopes; sc++)
      for (uint32_t k = 0; k < req->resources[r].scopes[sc].n_profiles; k++) {
        const pc_profile_t *p = &req->resources[r].scopes[sc].profiles[k];
        pc_str_t t = pc_dict_string(d, p->sample_type.type_strindex);
        pc_str_t u = pc_dict_string(d, p->sample_type.unit_strindex);
        for (uint32_t i = 0; i < p->n_samples; i++) {
          const pc_sample_t *s = &p->samples[i];
          ck_assert_uint_eq(s->n_values, 1);
          ck_assert_uint_eq(s->n_timestamps, 0);
          pc_buf_t b = {0};
          put_norm(&b, t.p, t.n);
          pc_buf_append(&b, ":", 1);
          put_norm(&b, u.p, u.n);
          pc_buf_append(&b, "|", 1);
          const pc_stack_t *st = pc_dict_stack(d, s->stack_index);
          for (uint32_t j = 0; j < st->location_indices.n; j++) {
            const pc_location_t *l = pc_dict_location(d, st->location_indices.v[j]);
            pc_str_t mfile =
                pc_dict_string(d, pc_dict_mapping(d, l->mapping_index)->filename_strindex);
            pc_buf_printf(&b, "0x%llx[", (unsigned long long)l->address);
            put_norm(&b, mfile.p, mfile.n);
            pc_buf_append(&b, "]{", 2);
            for (uint32_t q = 0; q < l->n_lines; q++) {
              const pc_function_t *fn = pc_dict_function(d, l->lines[q].function_index);
              put_line_text(&b, pc_dict_string(d, fn->name_strindex),
                            pc_dict_string(d, fn->system_name_strindex),
                            pc_dict_string(d, fn->filename_strindex), l->lines[q].line,
                            l->lines[q].column);
            }
            pc_buf_append(&b, "};", 2);
          }
          pc_buf_append(&b, "|", 1);
          otlp_labels(d, s->attribute_indices, &b);
          pc_buf_printf(&b, "|%lld", (long long)s->values[0]);
          push_line(out, buf_take(&b));
        }
      }
  pc_mat_sort(out);
}

/* ---- folded ------------------------------------------------------------------------ */

static void put_folded_name(pc_buf_t *b, pc_str_t s) {
  for (size_t i = 0; i < s.n; i++) {
    char c = (char)s.p[i];
    if (c == ';') c = ':';
    if (c == '\n' || c == '\r') c = ' ';
    if (s.p[i] >= 0x80) { /* compared as '?', as put_norm does */
      c = '?';
      while (i + 1 < s.n && s.p[i + 1] >= 0x80) i++;
    }
    pc_buf_append(b, &c, 1);
  }
}

static void put_unnamed(const pidx_t *x, const pc_tpb_t *l, pc_buf_t *b) {
  const pc_tpb_t *m = by_id(x->map, x->n_map, pc_tpb_int(l, "mapping_id", 0));
  pc_str_t file = m ? pstr(x, pc_tpb_int(m, "filename", 0)) : (pc_str_t){0};
  const uint8_t *slash = file.n ? memrchr(file.p, '/', file.n) : NULL;
  if (slash) file = (pc_str_t){slash + 1, file.n - (size_t)(slash + 1 - file.p)};
  put_folded_name(b, file);
  pc_buf_printf(b, "%s0x%llx", file.n ? "+" : "",
                (unsigned long long)pc_tpb_int(l, "address", 0));
}

void pc_pprof_oracle_folded(const pc_tpb_t *profile, size_t k, pc_mat_t *out) {
  pidx_t x;
  pidx_build(profile, &x);
  size_t n = pc_tpb_count(profile, "sample");
  kv_t *v = calloc(n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++) {
    const pc_tpb_t *s = pc_tpb_get(profile, "sample", i)->msg;
    pc_buf_t b = {0};
    size_t nl = pc_tpb_count(s, "location_id");
    bool any = false;
    for (size_t j = nl; j-- > 0;) {
      const pc_tpb_t *l = by_id(x.loc, x.n_loc, pc_tpb_int_at(s, "location_id", j));
      size_t lines = pc_tpb_count(l, "line");
      for (size_t q = lines ? lines : 1; q-- > 0;) {
        if (any) pc_buf_append(&b, ";", 1);
        any = true;
        const pc_tpb_t *ln = lines ? pc_tpb_get(l, "line", q)->msg : NULL;
        const pc_tpb_t *fn = ln ? by_id(x.fn, x.n_fn, pc_tpb_int(ln, "function_id", 0)) : NULL;
        pc_str_t name = fn ? pstr(&x, pc_tpb_int(fn, "name", 0)) : (pc_str_t){0};
        if (!name.n && fn) name = pstr(&x, pc_tpb_int(fn, "system_name", 0));
        if (name.n) put_folded_name(&b, name);
        else put_unnamed(&x, l, &b);
      }
    }
    if (!any) pc_buf_append(&b, "[unknown]", 9);
    v[i] = (kv_t){buf_take(&b), pc_tpb_int_at(s, "value", k)};
  }
  sum_into(v, n, " ", true, out);
  pidx_free(&x);
  pc_mat_sort(out);
}

void pc_folded_lines(const char *text, size_t n, pc_mat_t *out) {
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && text[j] != '\n') j++;
    ck_assert_msg(j < n, "folded text does not end in a newline");
    pc_buf_t b = {0};
    put_norm(&b, (const uint8_t *)text + i, j - i);
    push_line(out, buf_take(&b));
    i = j + 1;
  }
  pc_mat_sort(out);
}

/* ---- profcheck --------------------------------------------------------------------- */

typedef struct {
  int problems;
  char *why;
  size_t cap;
} pcx_t;

__attribute__((format(printf, 2, 3))) static void problem(pcx_t *c, const char *fmt, ...) {
  if (c->problems++) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, c->cap, fmt, ap);
  va_end(ap);
}

static bool in(int32_t i, uint32_t n) { return i >= 0 && (uint32_t)i < n; }

static void check_attr_list(pcx_t *c, const pc_dictionary_t *d, pc_i32s_t l, const char *what) {
  for (uint32_t i = 0; i < l.n; i++) {
    if (!in(l.v[i], d->n_attrs)) {
      problem(c, "%s[%u]: attribute index %d out of range", what, i, l.v[i]);
      continue;
    }
    pc_str_t k = pc_dict_string(d, d->attrs[l.v[i]].key_strindex);
    for (uint32_t j = 0; j < i; j++)
      if (in(l.v[j], d->n_attrs) && pc_str_eq(pc_dict_string(d, d->attrs[l.v[j]].key_strindex), k))
        problem(c, "%s[%u]: duplicate key \"%.*s\"", what, i, PC_STR_FMT(k));
  }
}

static bool all_zero(pc_str_t s) {
  for (size_t i = 0; i < s.n; i++)
    if (s.p[i]) return false;
  return true;
}

int pc_profcheck(const pc_request_t *req, char *why, size_t cap) {
  pcx_t c = {0, why, cap};
  if (cap) why[0] = 0;
  const pc_dictionary_t *d = &req->dict;
  if (!req->n_resources) problem(&c, "resource profiles are empty");
  for (uint32_t r = 0; r < req->n_resources; r++) {
    if (!req->resources[r].n_scopes) problem(&c, "resource %u has no scope profiles", r);
    for (uint32_t sc = 0; sc < req->resources[r].n_scopes; sc++) {
      const pc_scope_profiles_t *sp = &req->resources[r].scopes[sc];
      if (!sp->n_profiles) problem(&c, "scope profiles %u has no profiles", sc);
      for (uint32_t k = 0; k < sp->n_profiles; k++) {
        const pc_profile_t *p = &sp->profiles[k];
        check_attr_list(&c, d, p->attribute_indices, "profile.attribute_indices");
        int shape = 0;
        for (uint32_t i = 0; i < p->n_samples; i++) {
          const pc_sample_t *s = &p->samples[i];
          if (!in(s->stack_index, d->n_stacks)) problem(&c, "sample %u: stack_index", i);
          if (!in(s->link_index, d->n_links)) problem(&c, "sample %u: link_index", i);
          check_attr_list(&c, d, s->attribute_indices, "sample.attribute_indices");
          for (uint32_t t = 0; t < s->n_timestamps; t++)
            if (s->timestamps_unix_nano[t] < p->time_unix_nano ||
                s->timestamps_unix_nano[t] >= p->time_unix_nano + p->duration_nano)
              problem(&c, "sample %u: timestamp outside the profile's time range", i);
          int sh = s->n_values && s->n_timestamps ? 3 : s->n_values ? 1 : s->n_timestamps ? 2 : 4;
          if (sh == 3 && s->n_values != s->n_timestamps) problem(&c, "sample %u: lengths", i);
          if (sh == 1 && s->n_values != 1)
            problem(&c, "sample %u: %u values without timestamps", i, s->n_values);
          if (sh == 4) problem(&c, "sample %u: neither values nor timestamps", i);
          if (!shape) shape = sh;
          else if (sh != shape) problem(&c, "sample %u: shape differs", i);
        }
      }
    }
  }
  /* Entry 0 of every table present and the zero value. profcheck compares
   * link_table[0] with Link{} (empty ids); profiles.proto says the form with
   * 16 and 8 zero bytes SHOULD be used there. Where the two disagree the
   * proto wins: both forms are accepted. */
  if (!d->n_mappings || d->mappings[0].memory_start || d->mappings[0].memory_limit ||
      d->mappings[0].file_offset || d->mappings[0].filename_strindex ||
      d->mappings[0].attribute_indices.n)
    problem(&c, "mapping_table[0] is missing or not zero");
  if (!d->n_locations || d->locations[0].mapping_index || d->locations[0].address ||
      d->locations[0].n_lines || d->locations[0].attribute_indices.n)
    problem(&c, "location_table[0] is missing or not zero");
  if (!d->n_functions || memcmp(&d->functions[0], &pc_zero_function, sizeof pc_zero_function))
    problem(&c, "function_table[0] is missing or not zero");
  if (!d->n_links || !all_zero(d->links[0].trace_id) || !all_zero(d->links[0].span_id) ||
      (d->links[0].trace_id.n && d->links[0].trace_id.n != 16) ||
      (d->links[0].span_id.n && d->links[0].span_id.n != 8))
    problem(&c, "link_table[0] is missing or not zero");
  if (!d->n_strings || d->strings[0].n) problem(&c, "string_table[0] is missing or not \"\"");
  if (!d->n_attrs || d->attrs[0].key_strindex || d->attrs[0].unit_strindex ||
      (d->attrs[0].has_value && d->attrs[0].value.type != PC_AV_NONE))
    problem(&c, "attribute_table[0] is missing or not zero");
  if (!d->n_stacks || d->stacks[0].location_indices.n)
    problem(&c, "stack_table[0] is missing or not zero");
  for (uint32_t m = 1; m < d->n_mappings; m++) {
    const pc_mapping_t *mp = &d->mappings[m];
    if (!in(mp->filename_strindex, d->n_strings)) problem(&c, "mapping %u: filename", m);
    check_attr_list(&c, d, mp->attribute_indices, "mapping.attribute_indices");
    if ((mp->memory_start || mp->memory_limit) && mp->memory_start >= mp->memory_limit)
      problem(&c, "mapping %u: memory_start %llx >= memory_limit %llx", m,
              (unsigned long long)mp->memory_start, (unsigned long long)mp->memory_limit);
    for (uint32_t o = 1; o < m; o++) {
      const pc_mapping_t *q = &d->mappings[o];
      if (q->memory_start == mp->memory_start && q->memory_limit == mp->memory_limit &&
          q->file_offset == mp->file_offset && q->filename_strindex == mp->filename_strindex &&
          q->attribute_indices.n == mp->attribute_indices.n &&
          !memcmp(q->attribute_indices.v, mp->attribute_indices.v,
                  mp->attribute_indices.n * sizeof(int32_t)))
        problem(&c, "mapping %u duplicates mapping %u", m, o);
    }
  }
  for (uint32_t l = 0; l < d->n_locations; l++) {
    const pc_location_t *loc = &d->locations[l];
    if (!in(loc->mapping_index, d->n_mappings)) problem(&c, "location %u: mapping_index", l);
    check_attr_list(&c, d, loc->attribute_indices, "location.attribute_indices");
    for (uint32_t k = 0; k < loc->n_lines; k++) {
      if (!in(loc->lines[k].function_index, d->n_functions))
        problem(&c, "location %u line %u: function_index", l, k);
      if (loc->lines[k].line < 0 || loc->lines[k].column < 0)
        problem(&c, "location %u line %u: negative line or column", l, k);
    }
  }
  for (uint32_t f = 0; f < d->n_functions; f++) {
    const pc_function_t *fn = &d->functions[f];
    if (!in(fn->name_strindex, d->n_strings) || !in(fn->system_name_strindex, d->n_strings) ||
        !in(fn->filename_strindex, d->n_strings))
      problem(&c, "function %u: string index out of range", f);
    if (fn->start_line < 0) problem(&c, "function %u: negative start_line", f);
  }
  for (uint32_t l = 1; l < d->n_links; l++)
    if (d->links[l].trace_id.n != 16 || d->links[l].span_id.n != 8)
      problem(&c, "link %u: ids of %zu and %zu bytes", l, d->links[l].trace_id.n,
              d->links[l].span_id.n);
  for (uint32_t a = 0; a < d->n_attrs; a++)
    if (!in(d->attrs[a].key_strindex, d->n_strings) || !in(d->attrs[a].unit_strindex, d->n_strings))
      problem(&c, "attribute %u: string index out of range", a);
  for (uint32_t s = 0; s < d->n_stacks; s++)
    for (uint32_t i = 0; i < d->stacks[s].location_indices.n; i++)
      if (!in(d->stacks[s].location_indices.v[i], d->n_locations))
        problem(&c, "stack %u: location index out of range", s);
  /* Duplicate strings and orphans of every table (the stats walk follows
   * the same references profcheck's orphan check does). */
  pc_stats_t st;
  ck_assert_int_eq(pc_pdata_stats(req, &st), 0);
  for (size_t t = 0; t < sizeof st.tables / sizeof st.tables[0]; t++) {
    if (st.tables[t].unreferenced)
      problem(&c, "%s: %u unreferenced entries", st.tables[t].name, st.tables[t].unreferenced);
    if (st.tables[t].duplicates)
      problem(&c, "%s: %u duplicate entries", st.tables[t].name, st.tables[t].duplicates);
  }
  return c.problems;
}
