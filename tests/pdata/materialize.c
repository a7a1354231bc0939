/* materialize.c - the test oracle of materialize.h: samples as resolved text
 * lines, and the shape checks of a merged request.
 *
 * Everything is rendered to text with the same few helpers, in one of two
 * modes: SEM (what a sample means: sets sorted, string_value and
 * string_value_strindex alike) for materialized samples and resources, and
 * REP (what an entry holds: lists in order, representations apart) for
 * dictionary entries, where "duplicate" means "same content in the same
 * form". Slow and simple on purpose: tests only. */
#include "materialize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SEM, REP } mode_t_;

/* ---- text ------------------------------------------------------------------ */

static void must(int rc) {
  if (rc) {
    fprintf(stderr, "materialize: out of memory\n");
    abort();
  }
}

static void put(pc_buf_t *b, const char *s) { must(pc_buf_append(b, s, strlen(s))); }

__attribute__((format(printf, 2, 3))) static void putf(pc_buf_t *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) abort();
  must(pc_buf_append(b, tmp, (size_t)n));
}

/* Text with the separators of this format escaped, so lines stay unambiguous. */
static void put_esc(pc_buf_t *b, pc_str_t s) {
  for (size_t i = 0; i < s.n; i++) {
    uint8_t c = s.p[i];
    if (c < 0x21 || c > 0x7e || strchr("\\;,=[]{}|()<>:@/", c))
      putf(b, "\\x%02x", c);
    else
      must(pc_buf_append(b, &c, 1));
  }
}

static void put_hex(pc_buf_t *b, pc_str_t s) {
  for (size_t i = 0; i < s.n; i++) putf(b, "%02x", s.p[i]);
}

/* Take the buffer's text as a malloc'd C string and empty the buffer. */
static char *take(pc_buf_t *b) {
  must(pc_buf_append(b, "", 1));
  char *s = (char *)b->p;
  *b = (pc_buf_t){0};
  return s;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A list of rendered items, joined sorted (sets) or in order (lists). */
typedef struct {
  char **v;
  size_t n;
} items_t;

static void items_push(items_t *it, pc_buf_t *b) {
  it->v = realloc(it->v, (it->n + 1) * sizeof *it->v);
  if (!it->v) abort();
  it->v[it->n++] = take(b);
}

static void items_join(pc_buf_t *b, items_t *it, bool sorted) {
  if (sorted && it->n) qsort(it->v, it->n, sizeof *it->v, cmp_str);
  put(b, "[");
  for (size_t i = 0; i < it->n; i++) {
    if (i) put(b, ",");
    put(b, it->v[i]);
    free(it->v[i]);
  }
  put(b, "]");
  free(it->v);
  *it = (items_t){0};
}

/* ---- resolution ------------------------------------------------------------- */

static pc_str_t str(const pc_dictionary_t *d, int32_t i) {
  return i > 0 && (uint32_t)i < d->n_strings ? d->strings[i] : (pc_str_t){0};
}

#define GET(name, type, arr, n)                                                 \
  static const type *get_##name(const pc_dictionary_t *d, int32_t i) {          \
    static const type zero;                                                     \
    return i > 0 && (uint32_t)i < d->n ? &d->arr[i] : &zero;                    \
  }
GET(function, pc_function_t, functions, n_functions)
GET(mapping, pc_mapping_t, mappings, n_mappings)
GET(location, pc_location_t, locations, n_locations)
GET(stack, pc_stack_t, stacks, n_stacks)
GET(link, pc_link_t, links, n_links)
GET(attr, pc_attr_t, attrs, n_attrs)
#undef GET

/* ---- values and attributes ----------------------------------------------------- */

static void put_kv(pc_buf_t *b, const pc_dictionary_t *d, const pc_keyvalue_t *kv, mode_t_ m);

static void put_value(pc_buf_t *b, const pc_dictionary_t *d, const pc_anyvalue_t *v,
                      mode_t_ m) {
  switch (v->type) {
  case PC_AV_NONE: put(b, "none"); break;
  case PC_AV_STRING:
    put(b, "s:");
    put_esc(b, v->u.s);
    break;
  case PC_AV_STRINDEX:
    put(b, m == REP ? "si:" : "s:");
    put_esc(b, str(d, v->u.strindex));
    break;
  case PC_AV_BYTES:
    put(b, "y:");
    put_hex(b, v->u.s);
    break;
  case PC_AV_BOOL: put(b, v->u.b ? "b:1" : "b:0"); break;
  case PC_AV_INT: putf(b, "i:%lld", (long long)v->u.i); break;
  case PC_AV_DOUBLE: {
    uint64_t bits;
    memcpy(&bits, &v->u.d, sizeof bits);
    putf(b, "d:%016llx", (unsigned long long)bits);
    break;
  }
  case PC_AV_ARRAY:
    put(b, "a:(");
    for (uint32_t i = 0; i < v->u.array.n; i++) {
      if (i) put(b, ";");
      put_value(b, d, &v->u.array.v[i], m);
    }
    put(b, ")");
    break;
  case PC_AV_KVLIST:
    put(b, "kv:(");
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) {
      if (i) put(b, ";");
      put_kv(b, d, &v->u.kvlist.v[i], m);
    }
    put(b, ")");
    break;
  }
}

static void put_kv(pc_buf_t *b, const pc_dictionary_t *d, const pc_keyvalue_t *kv, mode_t_ m) {
  if (m == REP) {
    put_esc(b, kv->key);
    put(b, "<");
    put_esc(b, str(d, kv->key_strindex));
    put(b, ">");
  } else {
    put_esc(b, kv->key.n ? kv->key : str(d, kv->key_strindex));
  }
  put(b, "=");
  if (kv->has_value)
    put_value(b, d, &kv->value, m);
  else
    put(b, "unset");
}

/* Resource and scope attributes: always a set. */
static void put_kvs(pc_buf_t *b, const pc_dictionary_t *d, pc_kvs_t kvs, mode_t_ m) {
  items_t it = {0};
  pc_buf_t one = {0};
  for (uint32_t i = 0; i < kvs.n; i++) {
    put_kv(&one, d, &kvs.v[i], m);
    items_push(&it, &one);
  }
  items_join(b, &it, true);
}

static void put_attr(pc_buf_t *b, const pc_dictionary_t *d, const pc_attr_t *a, mode_t_ m) {
  put_esc(b, str(d, a->key_strindex));
  put(b, "(");
  put_esc(b, str(d, a->unit_strindex));
  put(b, ")=");
  if (a->has_value)
    put_value(b, d, &a->value, m);
  else
    put(b, "unset");
}

/* attribute_indices: a set when materializing, a list in an entry's content. */
static void put_attrs(pc_buf_t *b, const pc_dictionary_t *d, pc_i32s_t l, mode_t_ m) {
  items_t it = {0};
  pc_buf_t one = {0};
  for (uint32_t i = 0; i < l.n; i++) {
    put_attr(&one, d, get_attr(d, l.v[i]), m);
    items_push(&it, &one);
  }
  items_join(b, &it, m == SEM);
}

/* ---- dictionary entries ---------------------------------------------------------- */

static void put_function(pc_buf_t *b, const pc_dictionary_t *d, const pc_function_t *f) {
  put(b, "fn(");
  put_esc(b, str(d, f->name_strindex));
  put(b, ";");
  put_esc(b, str(d, f->system_name_strindex));
  put(b, ";");
  put_esc(b, str(d, f->filename_strindex));
  putf(b, ";%lld)", (long long)f->start_line);
}

static void put_mapping(pc_buf_t *b, const pc_dictionary_t *d, const pc_mapping_t *mp,
                        mode_t_ m) {
  put(b, "map{");
  put_esc(b, str(d, mp->filename_strindex));
  putf(b, ";%llx-%llx;%llx;", (unsigned long long)mp->memory_start,
       (unsigned long long)mp->memory_limit, (unsigned long long)mp->file_offset);
  put_attrs(b, d, mp->attribute_indices, m);
  put(b, "}");
}

static void put_location(pc_buf_t *b, const pc_dictionary_t *d, const pc_location_t *l,
                         mode_t_ m) {
  putf(b, "0x%llx@", (unsigned long long)l->address);
  put_mapping(b, d, get_mapping(d, l->mapping_index), m);
  put(b, "{");
  for (uint32_t i = 0; i < l->n_lines; i++) {
    if (i) put(b, ">");
    put_function(b, d, get_function(d, l->lines[i].function_index));
    putf(b, ":%lld:%lld", (long long)l->lines[i].line, (long long)l->lines[i].column);
  }
  put(b, "}");
  put_attrs(b, d, l->attribute_indices, m);
}

static void put_stack(pc_buf_t *b, const pc_dictionary_t *d, const pc_stack_t *s, mode_t_ m) {
  put(b, "[");
  for (uint32_t i = 0; i < s->location_indices.n; i++) {
    if (i) put(b, ";");
    put_location(b, d, get_location(d, s->location_indices.v[i]), m);
  }
  put(b, "]");
}

static bool zero_bytes(pc_str_t s) {
  for (size_t i = 0; i < s.n; i++)
    if (s.p[i]) return false;
  return true;
}

static void put_link(pc_buf_t *b, const pc_link_t *l) {
  if (zero_bytes(l->trace_id) && zero_bytes(l->span_id)) {
    put(b, "-");
    return;
  }
  put_hex(b, l->trace_id);
  put(b, "/");
  put_hex(b, l->span_id);
}

/* ---- the tree ---------------------------------------------------------------------- */

static void put_resource(pc_buf_t *b, const pc_dictionary_t *d,
                         const pc_resource_profiles_t *rp) {
  const pc_resource_t *r = &rp->resource;
  putf(b, "R{%d;", rp->has_resource);
  put_kvs(b, d, r->attributes, SEM);
  putf(b, ";%u;", r->dropped_attributes_count);
  for (uint32_t i = 0; i < r->n_entity_refs; i++) {
    const pc_entity_ref_t *e = &r->entity_refs[i];
    put(b, "E(");
    put_esc(b, e->schema_url);
    put(b, ";");
    put_esc(b, e->type);
    for (uint32_t k = 0; k < e->id_keys.n; k++) {
      put(b, ";id:");
      put_esc(b, e->id_keys.v[k]);
    }
    for (uint32_t k = 0; k < e->description_keys.n; k++) {
      put(b, ";desc:");
      put_esc(b, e->description_keys.v[k]);
    }
    put(b, ")");
  }
  put(b, ";");
  put_esc(b, rp->schema_url);
  put(b, "}");
}

static void put_scope(pc_buf_t *b, const pc_dictionary_t *d, const pc_scope_profiles_t *sp) {
  putf(b, "S{%d;", sp->has_scope);
  put_esc(b, sp->scope.name);
  put(b, ";");
  put_esc(b, sp->scope.version);
  put(b, ";");
  put_kvs(b, d, sp->scope.attributes, SEM);
  putf(b, ";%u;", sp->scope.dropped_attributes_count);
  put_esc(b, sp->schema_url);
  put(b, "}");
}

static void put_valuetype(pc_buf_t *b, const pc_dictionary_t *d, bool has, pc_valuetype_t vt) {
  if (!has) {
    put(b, "-");
    return;
  }
  put_esc(b, str(d, vt.type_strindex));
  put(b, "/");
  put_esc(b, str(d, vt.unit_strindex));
}

static void put_profile(pc_buf_t *b, const pc_dictionary_t *d, const pc_profile_t *p) {
  put(b, "P{");
  put_valuetype(b, d, p->has_sample_type, p->sample_type);
  put(b, ";");
  put_valuetype(b, d, p->has_period_type, p->period_type);
  putf(b, ";%lld;%llu;%llu;", (long long)p->period, (unsigned long long)p->time_unix_nano,
       (unsigned long long)p->duration_nano);
  put_hex(b, p->profile_id);
  putf(b, ";%u;", p->dropped_attributes_count);
  put_esc(b, p->original_payload_format);
  put(b, ";");
  put_hex(b, p->original_payload);
  put(b, ";");
  put_attrs(b, d, p->attribute_indices, SEM);
  put(b, "}");
}

static void put_sample(pc_buf_t *b, const pc_dictionary_t *d, const pc_sample_t *s) {
  put(b, "|stack=");
  put_stack(b, d, get_stack(d, s->stack_index), SEM);
  put(b, "|attrs=");
  put_attrs(b, d, s->attribute_indices, SEM);
  put(b, "|link=");
  put_link(b, get_link(d, s->link_index));
  put(b, "|v=");
  for (uint32_t i = 0; i < s->n_values; i++) putf(b, "%s%lld", i ? "," : "", (long long)s->values[i]);
  put(b, "|t=");
  for (uint32_t i = 0; i < s->n_timestamps; i++)
    putf(b, "%s%llu", i ? "," : "", (unsigned long long)s->timestamps_unix_nano[i]);
}

/* ---- public: samples ----------------------------------------------------------------- */

static void mat_push(pc_mat_t *m, char *line) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->v = realloc(m->v, m->cap * sizeof *m->v);
    if (!m->v) abort();
  }
  m->v[m->n++] = line;
}

void pc_mat_add(pc_mat_t *m, const pc_request_t *req) {
  const pc_dictionary_t *d = &req->dict;
  pc_buf_t head = {0}, line = {0};
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      const pc_scope_profiles_t *sp = &rp->scopes[s];
      for (uint32_t p = 0; p < sp->n_profiles; p++) {
        head.n = 0;
        put_resource(&head, d, rp);
        put(&head, "|");
        put_scope(&head, d, sp);
        put(&head, "|");
        put_profile(&head, d, &sp->profiles[p]);
        for (uint32_t i = 0; i < sp->profiles[p].n_samples; i++) {
          must(pc_buf_append(&line, head.p, head.n));
          put_sample(&line, d, &sp->profiles[p].samples[i]);
          mat_push(m, take(&line));
        }
      }
    }
  }
  pc_buf_free(&head);
}

static void add_tree(pc_mat_t *m, const pc_request_t *req, bool nodes) {
  const pc_dictionary_t *d = &req->dict;
  pc_buf_t b = {0};
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    if (nodes) {
      put_resource(&b, d, rp);
      mat_push(m, take(&b));
    }
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      if (nodes) {
        put_resource(&b, d, rp);
        put(&b, "|");
        put_scope(&b, d, &rp->scopes[s]);
        mat_push(m, take(&b));
      }
      for (uint32_t p = 0; p < rp->scopes[s].n_profiles; p++) {
        put_resource(&b, d, rp);
        put(&b, "|");
        put_scope(&b, d, &rp->scopes[s]);
        put(&b, "|");
        put_profile(&b, d, &rp->scopes[s].profiles[p]);
        mat_push(m, take(&b));
      }
    }
  }
}

void pc_mat_add_profiles(pc_mat_t *m, const pc_request_t *req) { add_tree(m, req, false); }

void pc_mat_add_nodes(pc_mat_t *m, const pc_request_t *req) { add_tree(m, req, true); }

void pc_mat_uniq(pc_mat_t *m) {
  pc_mat_sort(m);
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++) {
    if (k && strcmp(m->v[k - 1], m->v[i]) == 0) {
      free(m->v[i]);
      continue;
    }
    m->v[k++] = m->v[i];
  }
  m->n = k;
}

void pc_mat_sort(pc_mat_t *m) {
  if (m->n) qsort(m->v, m->n, sizeof *m->v, cmp_str);
}

pc_mat_t pc_mat_of(const pc_request_t *req) {
  pc_mat_t m = {0};
  pc_mat_add(&m, req);
  pc_mat_sort(&m);
  return m;
}

void pc_mat_free(pc_mat_t *m) {
  for (size_t i = 0; i < m->n; i++) free(m->v[i]);
  free(m->v);
  *m = (pc_mat_t){0};
}

bool pc_mat_eq(const pc_mat_t *a, const pc_mat_t *b, char *why, size_t cap) {
  size_t i = 0, j = 0;
  while (i < a->n && j < b->n) {
    int c = strcmp(a->v[i], b->v[j]);
    if (c == 0) {
      i++, j++;
      continue;
    }
    snprintf(why, cap, "sample only in the %s list (sizes %zu, %zu): %.180s",
             c < 0 ? "first" : "second", a->n, b->n, c < 0 ? a->v[i] : b->v[j]);
    return false;
  }
  if (i < a->n || j < b->n) {
    snprintf(why, cap, "sample only in the %s list (sizes %zu, %zu): %.180s",
             i < a->n ? "first" : "second", a->n, b->n, i < a->n ? a->v[i] : b->v[j]);
    return false;
  }
  return true;
}

/* ---- public: shape checks ------------------------------------------------------------- */

enum { M_STRING, M_FUNCTION, M_MAPPING, M_ATTR, M_LOCATION, M_STACK, M_LINK, M_COUNT };
static const char *const table_names[M_COUNT] = {
    "string_table", "function_table", "mapping_table", "attribute_table",
    "location_table", "stack_table", "link_table"};

static uint32_t table_len(const pc_dictionary_t *d, int t) {
  const uint32_t n[M_COUNT] = {d->n_strings, d->n_functions, d->n_mappings, d->n_attrs,
                               d->n_locations, d->n_stacks, d->n_links};
  return n[t];
}

/* An entry's content, in REP mode; i < 0 renders the zero entry. */
static char *render_entry(const pc_dictionary_t *d, int t, int32_t i) {
  pc_buf_t b = {0};
  bool z = i < 0;
  switch (t) {
  case M_STRING: put_esc(&b, z ? (pc_str_t){0} : d->strings[i]); break;
  case M_FUNCTION: put_function(&b, d, z ? get_function(d, 0) : &d->functions[i]); break;
  case M_MAPPING: put_mapping(&b, d, z ? get_mapping(d, 0) : &d->mappings[i], REP); break;
  case M_ATTR: put_attr(&b, d, z ? get_attr(d, 0) : &d->attrs[i], REP); break;
  case M_LOCATION: put_location(&b, d, z ? get_location(d, 0) : &d->locations[i], REP); break;
  case M_STACK: put_stack(&b, d, z ? get_stack(d, 0) : &d->stacks[i], REP); break;
  case M_LINK: put_link(&b, z ? get_link(d, 0) : &d->links[i]); break;
  }
  return take(&b);
}

typedef struct {
  int problems;
  char *why;
  size_t cap;
} report_t;

__attribute__((format(printf, 2, 3))) static void problem(report_t *r, const char *fmt, ...) {
  if (r->problems++) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why, r->cap, fmt, ap);
  va_end(ap);
}

static void check_table(report_t *rep, const pc_dictionary_t *d, int t) {
  uint32_t n = table_len(d, t);
  if (n == 0) {
    problem(rep, "%s is empty (entry 0 must be present)", table_names[t]);
    return;
  }
  char *zero = render_entry(d, t, -1);
  char **v = malloc(n * sizeof *v);
  if (!v) abort();
  for (uint32_t i = 0; i < n; i++) {
    v[i] = render_entry(d, t, (int32_t)i);
    bool is_zero = strcmp(v[i], zero) == 0;
    if (i == 0 && !is_zero) problem(rep, "%s[0] is not the zero entry: %.120s", table_names[t], v[i]);
    if (i > 0 && is_zero) problem(rep, "%s[%u] has zero content", table_names[t], i);
  }
  qsort(v, n, sizeof *v, cmp_str);
  for (uint32_t i = 1; i < n; i++)
    if (strcmp(v[i - 1], v[i]) == 0)
      problem(rep, "%s has a duplicate entry: %.120s", table_names[t], v[i]);
  for (uint32_t i = 0; i < n; i++) free(v[i]);
  free(v);
  free(zero);
}

/* ---- reachability ---- */

typedef struct {
  const pc_dictionary_t *d;
  uint8_t *used[M_COUNT];
} marks_t;

static void mark(marks_t *m, int t, int32_t i) {
  if (i >= 0 && (uint32_t)i < table_len(m->d, t)) m->used[t][i] = 1;
}

static void mark_list(marks_t *m, int t, pc_i32s_t l) {
  for (uint32_t i = 0; i < l.n; i++) mark(m, t, l.v[i]);
}

static void mark_value(marks_t *m, const pc_anyvalue_t *v) {
  if (v->type == PC_AV_STRINDEX) mark(m, M_STRING, v->u.strindex);
  if (v->type == PC_AV_ARRAY)
    for (uint32_t i = 0; i < v->u.array.n; i++) mark_value(m, &v->u.array.v[i]);
  if (v->type == PC_AV_KVLIST)
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) {
      mark(m, M_STRING, v->u.kvlist.v[i].key_strindex);
      if (v->u.kvlist.v[i].has_value) mark_value(m, &v->u.kvlist.v[i].value);
    }
}

static void mark_kvs(marks_t *m, pc_kvs_t kvs) {
  pc_anyvalue_t list = {.type = PC_AV_KVLIST, .u.kvlist = {kvs.v, kvs.n}};
  mark_value(m, &list);
}

static void mark_tree(marks_t *m, const pc_request_t *req) {
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    mark_kvs(m, rp->resource.attributes);
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      mark_kvs(m, rp->scopes[s].scope.attributes);
      for (uint32_t p = 0; p < rp->scopes[s].n_profiles; p++) {
        const pc_profile_t *pr = &rp->scopes[s].profiles[p];
        mark(m, M_STRING, pr->sample_type.type_strindex);
        mark(m, M_STRING, pr->sample_type.unit_strindex);
        mark(m, M_STRING, pr->period_type.type_strindex);
        mark(m, M_STRING, pr->period_type.unit_strindex);
        mark_list(m, M_ATTR, pr->attribute_indices);
        for (uint32_t i = 0; i < pr->n_samples; i++) {
          mark(m, M_STACK, pr->samples[i].stack_index);
          mark(m, M_LINK, pr->samples[i].link_index);
          mark_list(m, M_ATTR, pr->samples[i].attribute_indices);
        }
      }
    }
  }
}

/* Parents before children, so one pass per table suffices. */
static void mark_dictionary(marks_t *m) {
  const pc_dictionary_t *d = m->d;
  for (uint32_t i = 0; i < d->n_stacks; i++)
    if (m->used[M_STACK][i]) mark_list(m, M_LOCATION, d->stacks[i].location_indices);
  for (uint32_t i = 0; i < d->n_locations; i++) {
    if (!m->used[M_LOCATION][i]) continue;
    mark(m, M_MAPPING, d->locations[i].mapping_index);
    for (uint32_t k = 0; k < d->locations[i].n_lines; k++)
      mark(m, M_FUNCTION, d->locations[i].lines[k].function_index);
    mark_list(m, M_ATTR, d->locations[i].attribute_indices);
  }
  for (uint32_t i = 0; i < d->n_mappings; i++) {
    if (!m->used[M_MAPPING][i]) continue;
    mark(m, M_STRING, d->mappings[i].filename_strindex);
    mark_list(m, M_ATTR, d->mappings[i].attribute_indices);
  }
  for (uint32_t i = 0; i < d->n_attrs; i++) {
    if (!m->used[M_ATTR][i]) continue;
    mark(m, M_STRING, d->attrs[i].key_strindex);
    mark(m, M_STRING, d->attrs[i].unit_strindex);
    if (d->attrs[i].has_value) mark_value(m, &d->attrs[i].value);
  }
  for (uint32_t i = 0; i < d->n_functions; i++) {
    if (!m->used[M_FUNCTION][i]) continue;
    mark(m, M_STRING, d->functions[i].name_strindex);
    mark(m, M_STRING, d->functions[i].system_name_strindex);
    mark(m, M_STRING, d->functions[i].filename_strindex);
  }
}

static void check_reachable(report_t *rep, const pc_request_t *req) {
  marks_t m = {.d = &req->dict};
  for (int t = 0; t < M_COUNT; t++) {
    m.used[t] = calloc(table_len(m.d, t) + 1, 1);
    if (!m.used[t]) abort();
  }
  mark_tree(&m, req);
  mark_dictionary(&m);
  for (int t = 0; t < M_COUNT; t++) {
    for (uint32_t i = 1; i < table_len(m.d, t); i++)
      if (!m.used[t][i]) problem(rep, "%s[%u] is unreferenced", table_names[t], i);
    free(m.used[t]);
  }
}

/* ---- distinct resources and scopes ---- */

static void check_distinct(report_t *rep, items_t *it, const char *what) {
  if (it->n) qsort(it->v, it->n, sizeof *it->v, cmp_str);
  for (size_t i = 1; i < it->n; i++)
    if (strcmp(it->v[i - 1], it->v[i]) == 0) problem(rep, "two equal %s: %.120s", what, it->v[i]);
  for (size_t i = 0; i < it->n; i++) free(it->v[i]);
  free(it->v);
  *it = (items_t){0};
}

static void check_tree(report_t *rep, const pc_request_t *req) {
  items_t res = {0};
  pc_buf_t b = {0};
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    put_resource(&b, &req->dict, rp);
    items_push(&res, &b);
    items_t scopes = {0};
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      put_scope(&b, &req->dict, &rp->scopes[s]);
      items_push(&scopes, &b);
    }
    check_distinct(rep, &scopes, "scopes in one resource");
  }
  check_distinct(rep, &res, "resources");
}

int pc_mat_check_batch(const pc_request_t *req, char *why, size_t cap) {
  report_t rep = {.why = why, .cap = cap};
  if (cap) why[0] = 0;
  for (int t = 0; t < M_COUNT; t++) check_table(&rep, &req->dict, t);
  check_reachable(&rep, req);
  check_tree(&rep, req);
  return rep.problems;
}
