/* stats.c - counts and dictionary health of one request: how big each table
 * is, how many entries repeat an earlier one, how many nothing uses.
 *
 * Duplicates are found by content, not by position: every entry is hashed
 * with XXH3 into an open-addressing set sized from the table length, and an
 * entry whose hash and content match an earlier one counts once as a
 * duplicate. Linear in the table size.
 *
 * "Unreferenced" means not reachable from the tree (resources, scopes,
 * profiles, samples): the walk starts at the tree and follows every
 * reference of OTLP-PROFILES.md section 1 down through the dictionary
 * (stacks -> locations -> mappings/functions -> attributes -> strings). An
 * entry used only by other unreferenced entries is unreferenced too, since
 * dropping the unreferenced entries would drop it as well. Entry 0 is the
 * "not set" value and is never counted.
 *
 * Works on unvalidated data as well: out-of-range indices are ignored. */
#include "pdata.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Table ids, in field-number order of ProfilesDictionary (= pc_stats_t). */
enum {
  T_MAPPING,
  T_LOCATION,
  T_FUNCTION,
  T_LINK,
  T_STRING,
  T_ATTR,
  T_STACK,
  T_COUNT
};
_Static_assert(T_COUNT == sizeof(((pc_stats_t *)0)->tables) /
                              sizeof(((pc_stats_t *)0)->tables[0]),
               "one pc_table_stats_t per dictionary table");

static const char *const table_names[T_COUNT] = {
    "mapping_table", "location_table",  "function_table", "link_table",
    "string_table",  "attribute_table", "stack_table"};

static uint32_t table_size(const pc_dictionary_t *d, int t) {
  switch (t) {
  case T_MAPPING: return d->n_mappings;
  case T_LOCATION: return d->n_locations;
  case T_FUNCTION: return d->n_functions;
  case T_LINK: return d->n_links;
  case T_STRING: return d->n_strings;
  case T_ATTR: return d->n_attrs;
  case T_STACK: return d->n_stacks;
  }
  return 0;
}

/* ---- hashing by content --------------------------------------------------
 * Each entry's fields are fed one after the other, the previous hash being
 * the seed of the next. Fields are copied into integers first, so struct
 * padding never reaches the hash. */

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  return XXH3_64bits_withSeed(n ? p : "", n, h);
}

static uint64_t mix_u64(uint64_t h, uint64_t v) { return mix(h, &v, sizeof v); }

static uint64_t mix_str(uint64_t h, pc_str_t s) {
  return mix(mix_u64(h, s.n), s.p, s.n);
}

static uint64_t mix_i32s(uint64_t h, pc_i32s_t a) {
  return mix(mix_u64(h, a.n), a.v, (size_t)a.n * sizeof *a.v);
}

static uint64_t hash_value(uint64_t h, const pc_anyvalue_t *v);

static uint64_t hash_kv(uint64_t h, const pc_keyvalue_t *kv) {
  h = mix_str(h, kv->key);
  h = mix_u64(h, (uint32_t)kv->key_strindex);
  h = mix_u64(h, kv->has_value);
  return kv->has_value ? hash_value(h, &kv->value) : h;
}

static uint64_t hash_value(uint64_t h, const pc_anyvalue_t *v) {
  h = mix_u64(h, (uint64_t)v->type);
  switch (v->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: return mix_str(h, v->u.s);
  case PC_AV_BOOL: return mix_u64(h, v->u.b);
  case PC_AV_INT: return mix_u64(h, (uint64_t)v->u.i);
  case PC_AV_DOUBLE: {
    uint64_t bits;
    memcpy(&bits, &v->u.d, sizeof bits);
    return mix_u64(h, bits);
  }
  case PC_AV_STRINDEX: return mix_u64(h, (uint32_t)v->u.strindex);
  case PC_AV_ARRAY:
    h = mix_u64(h, v->u.array.n);
    for (uint32_t i = 0; i < v->u.array.n; i++) h = hash_value(h, &v->u.array.v[i]);
    return h;
  case PC_AV_KVLIST:
    h = mix_u64(h, v->u.kvlist.n);
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) h = hash_kv(h, &v->u.kvlist.v[i]);
    return h;
  case PC_AV_NONE: break;
  }
  return h;
}

/* ---- equality by content ---------------------------------------------------
 * Doubles compare by bit pattern, like the hash: NaN equals the same NaN and
 * 0.0 differs from -0.0, as they would on the wire. */

static bool i32s_eq(pc_i32s_t a, pc_i32s_t b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.v, b.v, (size_t)a.n * sizeof *a.v) == 0);
}

static bool value_eq(const pc_anyvalue_t *a, const pc_anyvalue_t *b);

static bool kv_eq(const pc_keyvalue_t *a, const pc_keyvalue_t *b) {
  return pc_str_eq(a->key, b->key) && a->key_strindex == b->key_strindex &&
         a->has_value == b->has_value && (!a->has_value || value_eq(&a->value, &b->value));
}

static bool value_eq(const pc_anyvalue_t *a, const pc_anyvalue_t *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: return pc_str_eq(a->u.s, b->u.s);
  case PC_AV_BOOL: return a->u.b == b->u.b;
  case PC_AV_INT: return a->u.i == b->u.i;
  case PC_AV_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
  case PC_AV_STRINDEX: return a->u.strindex == b->u.strindex;
  case PC_AV_ARRAY:
    if (a->u.array.n != b->u.array.n) return false;
    for (uint32_t i = 0; i < a->u.array.n; i++)
      if (!value_eq(&a->u.array.v[i], &b->u.array.v[i])) return false;
    return true;
  case PC_AV_KVLIST:
    if (a->u.kvlist.n != b->u.kvlist.n) return false;
    for (uint32_t i = 0; i < a->u.kvlist.n; i++)
      if (!kv_eq(&a->u.kvlist.v[i], &b->u.kvlist.v[i])) return false;
    return true;
  case PC_AV_NONE: break;
  }
  return true;
}

/* ---- per-table hash and equality ------------------------------------------ */

static uint64_t mapping_hash(const pc_dictionary_t *d, uint32_t i) {
  const pc_mapping_t *m = &d->mappings[i];
  uint64_t f[4] = {m->memory_start, m->memory_limit, m->file_offset,
                   (uint32_t)m->filename_strindex};
  return mix_i32s(mix(0, f, sizeof f), m->attribute_indices);
}

static bool mapping_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  const pc_mapping_t *a = &d->mappings[i], *b = &d->mappings[j];
  return a->memory_start == b->memory_start && a->memory_limit == b->memory_limit &&
         a->file_offset == b->file_offset && a->filename_strindex == b->filename_strindex &&
         i32s_eq(a->attribute_indices, b->attribute_indices);
}

static uint64_t location_hash(const pc_dictionary_t *d, uint32_t i) {
  const pc_location_t *l = &d->locations[i];
  uint64_t f[3] = {(uint32_t)l->mapping_index, l->address, l->n_lines};
  uint64_t h = mix(0, f, sizeof f);
  for (uint32_t k = 0; k < l->n_lines; k++) {
    const pc_line_t *ln = &l->lines[k];
    uint64_t lf[3] = {(uint32_t)ln->function_index, (uint64_t)ln->line,
                      (uint64_t)ln->column};
    h = mix(h, lf, sizeof lf);
  }
  return mix_i32s(h, l->attribute_indices);
}

static bool location_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  const pc_location_t *a = &d->locations[i], *b = &d->locations[j];
  if (a->mapping_index != b->mapping_index || a->address != b->address ||
      a->n_lines != b->n_lines || !i32s_eq(a->attribute_indices, b->attribute_indices))
    return false;
  for (uint32_t k = 0; k < a->n_lines; k++) {
    const pc_line_t *x = &a->lines[k], *y = &b->lines[k];
    if (x->function_index != y->function_index || x->line != y->line ||
        x->column != y->column)
      return false;
  }
  return true;
}

static uint64_t function_hash(const pc_dictionary_t *d, uint32_t i) {
  const pc_function_t *f = &d->functions[i];
  uint64_t v[4] = {(uint32_t)f->name_strindex, (uint32_t)f->system_name_strindex,
                   (uint32_t)f->filename_strindex, (uint64_t)f->start_line};
  return mix(0, v, sizeof v);
}

static bool function_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  const pc_function_t *a = &d->functions[i], *b = &d->functions[j];
  return a->name_strindex == b->name_strindex &&
         a->system_name_strindex == b->system_name_strindex &&
         a->filename_strindex == b->filename_strindex && a->start_line == b->start_line;
}

static uint64_t link_hash(const pc_dictionary_t *d, uint32_t i) {
  return mix_str(mix_str(0, d->links[i].trace_id), d->links[i].span_id);
}

static bool link_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  return pc_str_eq(d->links[i].trace_id, d->links[j].trace_id) &&
         pc_str_eq(d->links[i].span_id, d->links[j].span_id);
}

static uint64_t string_hash(const pc_dictionary_t *d, uint32_t i) {
  return mix_str(0, d->strings[i]);
}

static bool string_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  return pc_str_eq(d->strings[i], d->strings[j]);
}

static uint64_t attr_hash(const pc_dictionary_t *d, uint32_t i) {
  const pc_attr_t *a = &d->attrs[i];
  uint64_t f[3] = {(uint32_t)a->key_strindex, (uint32_t)a->unit_strindex, a->has_value};
  uint64_t h = mix(0, f, sizeof f);
  return a->has_value ? hash_value(h, &a->value) : h;
}

static bool attr_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  const pc_attr_t *a = &d->attrs[i], *b = &d->attrs[j];
  return a->key_strindex == b->key_strindex && a->unit_strindex == b->unit_strindex &&
         a->has_value == b->has_value && (!a->has_value || value_eq(&a->value, &b->value));
}

static uint64_t stack_hash(const pc_dictionary_t *d, uint32_t i) {
  return mix_i32s(0, d->stacks[i].location_indices);
}

static bool stack_eq(const pc_dictionary_t *d, uint32_t i, uint32_t j) {
  return i32s_eq(d->stacks[i].location_indices, d->stacks[j].location_indices);
}

typedef struct {
  uint64_t (*hash)(const pc_dictionary_t *d, uint32_t i);
  bool (*eq)(const pc_dictionary_t *d, uint32_t i, uint32_t j);
} table_ops_t;

static const table_ops_t table_ops[T_COUNT] = {
    [T_MAPPING] = {mapping_hash, mapping_eq},
    [T_LOCATION] = {location_hash, location_eq},
    [T_FUNCTION] = {function_hash, function_eq},
    [T_LINK] = {link_hash, link_eq},
    [T_STRING] = {string_hash, string_eq},
    [T_ATTR] = {attr_hash, attr_eq},
    [T_STACK] = {stack_hash, stack_eq},
};

/* ---- duplicates ------------------------------------------------------------ */

typedef struct {
  uint64_t hash;
  uint32_t index_plus_1; /* 0: empty slot */
} slot_t;

/* Count the entries of table t equal to an earlier entry. The set holds the
 * first entry of each distinct content; it is at most half full, so probes
 * stay short. */
static int count_duplicates(const pc_dictionary_t *d, int t, uint32_t *out) {
  uint32_t n = table_size(d, t);
  *out = 0;
  if (n < 2) return 0;
  size_t cap = 8;
  while (cap < (size_t)n * 2) cap <<= 1;
  slot_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return PC_ENOMEM;
  const table_ops_t *ops = &table_ops[t];
  for (uint32_t i = 0; i < n; i++) {
    uint64_t h = ops->hash(d, i);
    size_t k = (size_t)h & (cap - 1);
    for (;; k = (k + 1) & (cap - 1)) {
      slot_t *s = &slots[k];
      if (s->index_plus_1 == 0) {
        *s = (slot_t){h, i + 1};
        break;
      }
      if (s->hash == h && ops->eq(d, s->index_plus_1 - 1, i)) {
        (*out)++;
        break;
      }
    }
  }
  free(slots);
  return 0;
}

/* ---- reachability ---------------------------------------------------------- */

typedef struct {
  const pc_dictionary_t *d;
  uint32_t n[T_COUNT];
  uint8_t *used[T_COUNT]; /* used[t][i]: entry i of table t is reachable */
} marks_t;

static void mark(marks_t *m, int t, int32_t i) {
  if ((uint32_t)i < m->n[t]) m->used[t][i] = 1;
}

static void mark_all(marks_t *m, int t, pc_i32s_t a) {
  for (uint32_t k = 0; k < a.n; k++) mark(m, t, a.v[k]);
}

static void mark_kvs(marks_t *m, const pc_keyvalue_t *kv, uint32_t n);

static void mark_value(marks_t *m, const pc_anyvalue_t *v) {
  switch (v->type) {
  case PC_AV_STRINDEX: mark(m, T_STRING, v->u.strindex); break;
  case PC_AV_ARRAY:
    for (uint32_t k = 0; k < v->u.array.n; k++) mark_value(m, &v->u.array.v[k]);
    break;
  case PC_AV_KVLIST: mark_kvs(m, v->u.kvlist.v, v->u.kvlist.n); break;
  default: break;
  }
}

static void mark_kvs(marks_t *m, const pc_keyvalue_t *kv, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) {
    mark(m, T_STRING, kv[k].key_strindex);
    if (kv[k].has_value) mark_value(m, &kv[k].value);
  }
}

static void mark_profile(marks_t *m, const pc_profile_t *p) {
  mark(m, T_STRING, p->sample_type.type_strindex);
  mark(m, T_STRING, p->sample_type.unit_strindex);
  mark(m, T_STRING, p->period_type.type_strindex);
  mark(m, T_STRING, p->period_type.unit_strindex);
  mark_all(m, T_ATTR, p->attribute_indices);
  for (uint32_t k = 0; k < p->n_samples; k++) {
    const pc_sample_t *s = &p->samples[k];
    mark(m, T_STACK, s->stack_index);
    mark(m, T_LINK, s->link_index);
    mark_all(m, T_ATTR, s->attribute_indices);
  }
}

/* The roots: everything outside the dictionary that refers into it. */
static void mark_tree(marks_t *m, const pc_request_t *req) {
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    mark_kvs(m, rp->resource.attributes.v, rp->resource.attributes.n);
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      const pc_scope_profiles_t *sp = &rp->scopes[s];
      mark_kvs(m, sp->scope.attributes.v, sp->scope.attributes.n);
      for (uint32_t p = 0; p < sp->n_profiles; p++) mark_profile(m, &sp->profiles[p]);
    }
  }
}

/* Follow the dictionary's own references, each table after every table that
 * can refer to it, so one pass over each table is enough. */
static void mark_dictionary(marks_t *m) {
  const pc_dictionary_t *d = m->d;
  for (uint32_t i = 0; i < d->n_stacks; i++)
    if (m->used[T_STACK][i]) mark_all(m, T_LOCATION, d->stacks[i].location_indices);
  for (uint32_t i = 0; i < d->n_locations; i++) {
    if (!m->used[T_LOCATION][i]) continue;
    const pc_location_t *l = &d->locations[i];
    mark(m, T_MAPPING, l->mapping_index);
    for (uint32_t k = 0; k < l->n_lines; k++) mark(m, T_FUNCTION, l->lines[k].function_index);
    mark_all(m, T_ATTR, l->attribute_indices);
  }
  for (uint32_t i = 0; i < d->n_mappings; i++) {
    if (!m->used[T_MAPPING][i]) continue;
    mark(m, T_STRING, d->mappings[i].filename_strindex);
    mark_all(m, T_ATTR, d->mappings[i].attribute_indices);
  }
  for (uint32_t i = 0; i < d->n_functions; i++) {
    if (!m->used[T_FUNCTION][i]) continue;
    mark(m, T_STRING, d->functions[i].name_strindex);
    mark(m, T_STRING, d->functions[i].system_name_strindex);
    mark(m, T_STRING, d->functions[i].filename_strindex);
  }
  for (uint32_t i = 0; i < d->n_attrs; i++) {
    if (!m->used[T_ATTR][i]) continue;
    mark(m, T_STRING, d->attrs[i].key_strindex);
    mark(m, T_STRING, d->attrs[i].unit_strindex);
    if (d->attrs[i].has_value) mark_value(m, &d->attrs[i].value);
  }
}

/* Fill st->tables[t].unreferenced for every table. */
static int count_unreferenced(const pc_request_t *req, pc_stats_t *st) {
  marks_t m = {.d = &req->dict};
  size_t total = 0;
  for (int t = 0; t < T_COUNT; t++) {
    m.n[t] = table_size(&req->dict, t);
    total += m.n[t];
  }
  uint8_t *used = calloc(total ? total : 1, 1);
  if (!used) return PC_ENOMEM;
  size_t off = 0;
  for (int t = 0; t < T_COUNT; t++) {
    m.used[t] = used + off;
    off += m.n[t];
  }
  mark_tree(&m, req);
  mark_dictionary(&m);
  for (int t = 0; t < T_COUNT; t++) {
    uint32_t unused = 0;
    for (uint32_t i = 1; i < m.n[t]; i++) unused += !m.used[t][i];
    st->tables[t].unreferenced = unused;
  }
  free(used);
  return 0;
}

/* ---- public ---------------------------------------------------------------- */

uint64_t pc_request_profile_count(const pc_request_t *req) {
  uint64_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++)
      n += req->resources[r].scopes[s].n_profiles;
  return n;
}

uint64_t pc_request_sample_count(const pc_request_t *req) {
  uint64_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    for (uint32_t s = 0; s < rp->n_scopes; s++)
      for (uint32_t p = 0; p < rp->scopes[s].n_profiles; p++)
        n += rp->scopes[s].profiles[p].n_samples;
  }
  return n;
}

int pc_pdata_stats(const pc_request_t *req, pc_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->resources = req->n_resources;
  for (uint32_t r = 0; r < req->n_resources; r++) st->scopes += req->resources[r].n_scopes;
  st->profiles = pc_request_profile_count(req);
  st->samples = pc_request_sample_count(req);
  for (int t = 0; t < T_COUNT; t++) {
    st->tables[t].name = table_names[t];
    st->tables[t].size = table_size(&req->dict, t);
    int rc = count_duplicates(&req->dict, t, &st->tables[t].duplicates);
    if (rc) return rc;
  }
  return count_unreferenced(req, st);
}
