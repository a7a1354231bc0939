/* pprof_encode.c - an aggregated selection (stacks.h) -> pprof's
 * profile.proto, gzip'd as pprof files are (docs/pprof.md).
 *
 * One idea: the selection is already one OTLP request with one interned
 * dictionary, and pprof's tables are the same tables keyed by id. So the
 * string table is the request's string table (index for index, plus the
 * few strings pprof needs that OTLP keeps inline, such as build ids),
 * function and mapping ids are their OTLP indices (0 means "none" in both),
 * location ids are index + 1 (OTLP's location 0 is a real, empty entry a
 * stack may name), and each stack with a nonzero sum is one sample. Written
 * backwards in one pass (wire_write.h), like the OTLP encoder. */
#include <string.h>

#include "pprof.h"
#include "stacks.h"
#include "wire_write.h"

/* Build id attribute keys, in the order they are preferred. */
static const char *const build_id_keys[] = {
    "process.executable.build_id.gnu", "process.executable.build_id.go",
    "process.executable.build_id.htlhash", "process.executable.build_id.profiling"};

typedef struct {
  const pc_dictionary_t *d;
  pc_str_t *extra; /* strings appended after the dictionary's */
  uint32_t n_extra, cap_extra;
} ectx_t;

static bool key_is(const pc_dictionary_t *d, const pc_attr_t *a, const char *key) {
  pc_str_t k = pc_dict_string(d, a->key_strindex);
  return k.n == strlen(key) && memcmp(k.p, key, k.n) == 0;
}

/* The attribute of list with this key, or NULL. */
static const pc_attr_t *find_attr(const pc_dictionary_t *d, pc_i32s_t list, const char *key) {
  for (uint32_t i = 0; i < list.n; i++) {
    const pc_attr_t *a = pc_dict_attr(d, list.v[i]);
    if (key_is(d, a, key)) return a;
  }
  return NULL;
}

static bool attr_true(const pc_dictionary_t *d, pc_i32s_t list, const char *key) {
  const pc_attr_t *a = find_attr(d, list, key);
  return a && a->has_value && a->value.type == PC_AV_BOOL && a->value.u.b;
}

/* The pprof string index of a string-valued attribute (0 when absent or not
 * a string): its string-table index, or a new extra string. */
static int64_t attr_string(ectx_t *x, const pc_attr_t *a) {
  if (!a || !a->has_value) return 0;
  if (a->value.type == PC_AV_STRINDEX) return a->value.u.strindex;
  if (a->value.type != PC_AV_STRING || !a->value.u.s.n) return 0;
  if (x->n_extra == x->cap_extra) {
    uint32_t cap = x->cap_extra ? 2 * x->cap_extra : 16;
    pc_str_t *e = realloc(x->extra, cap * sizeof *e);
    if (!e) return -1;
    x->extra = e, x->cap_extra = cap;
  }
  x->extra[x->n_extra] = a->value.u.s;
  return (int64_t)(x->d->n_strings + x->n_extra++);
}

static void opt_i64(wr_t *w, uint32_t field, int64_t v) { opt_varint(w, field, (uint64_t)v); }

static void enc_valuetype(wr_t *w, uint32_t field, int64_t type, int64_t unit) {
  size_t mark = w->len;
  opt_i64(w, 2, unit);
  opt_i64(w, 1, type);
  close_len(w, mark, field);
}

int pc_pprof_encode(const pc_stacks_t *s, bool gzip, pc_buf_t *out) {
  const pc_request_t *r = pc_stacks_request(s);
  const int64_t *values = pc_stacks_values(s);
  const pc_dictionary_t *d = &r->dict;
  ectx_t x = {.d = d};
  int rc = PC_ENOMEM;
  int64_t *build_ids = calloc((size_t)d->n_mappings + 1, sizeof *build_ids);
  /* Per mapping, pprof's symbolization flags: 1 functions, 2 file names,
   * 4 line numbers, 8 inline frames. */
  uint8_t *flags = calloc((size_t)d->n_mappings + 1, 1);
  bool *from_pprof = calloc((size_t)d->n_mappings + 1, sizeof *from_pprof);
  wr_t w = {0};
  if (!build_ids || !flags || !from_pprof) goto done;

  /* What the profiles of the selection say: the first one's sample type,
   * period and pprof attributes; the time span of all of them. */
  const pc_profile_t *first = NULL;
  uint64_t t0 = 0, t1 = 0;
  for (uint32_t i = 0; i < r->n_resources; i++)
    for (uint32_t j = 0; j < r->resources[i].n_scopes; j++)
      for (uint32_t k = 0; k < r->resources[i].scopes[j].n_profiles; k++) {
        const pc_profile_t *p = &r->resources[i].scopes[j].profiles[k];
        if (!first) first = p;
        if (!p->time_unix_nano) continue;
        uint64_t end = p->time_unix_nano + p->duration_nano;
        if (!t0 || p->time_unix_nano < t0) t0 = p->time_unix_nano;
        if (end > t1) t1 = end;
      }

  for (uint32_t m = 1; m < d->n_mappings; m++) {
    pc_i32s_t attrs = d->mappings[m].attribute_indices;
    for (size_t k = 0; k < sizeof build_id_keys / sizeof build_id_keys[0] && !build_ids[m];
         k++)
      build_ids[m] = attr_string(&x, find_attr(d, attrs, build_id_keys[k]));
    if (build_ids[m] < 0) goto done;
    for (uint32_t i = 0; i < attrs.n && !from_pprof[m]; i++) {
      pc_str_t k = pc_dict_string(d, pc_dict_attr(d, attrs.v[i])->key_strindex);
      from_pprof[m] = k.n > 18 && memcmp(k.p, "pprof.mapping.has_", 18) == 0;
    }
    flags[m] = (uint8_t)(attr_true(d, attrs, "pprof.mapping.has_functions") |
                         attr_true(d, attrs, "pprof.mapping.has_filenames") << 1 |
                         attr_true(d, attrs, "pprof.mapping.has_line_numbers") << 2 |
                         attr_true(d, attrs, "pprof.mapping.has_inline_frames") << 3);
  }
  /* A mapping that came from pprof keeps its flags as they were; for the
   * others, say what their locations show. */
  for (uint32_t l = 0; l < d->n_locations; l++) {
    const pc_location_t *loc = &d->locations[l];
    uint32_t m = (uint32_t)loc->mapping_index;
    if (!m || m >= d->n_mappings || from_pprof[m]) continue;
    for (uint32_t k = 0; k < loc->n_lines; k++) {
      const pc_function_t *fn = pc_dict_function(d, loc->lines[k].function_index);
      flags[m] |= (fn->name_strindex ? 1 : 0) | (fn->filename_strindex ? 2 : 0) |
                  (loc->lines[k].line ? 4 : 0);
    }
    if (loc->n_lines > 1) flags[m] |= 8;
  }
  int64_t drop = 0, keep = 0, doc = 0;
  if (first) {
    drop = attr_string(&x, find_attr(d, first->attribute_indices, "pprof.profile.drop_frames"));
    keep = attr_string(&x, find_attr(d, first->attribute_indices, "pprof.profile.keep_frames"));
    doc = attr_string(&x, find_attr(d, first->attribute_indices, "pprof.profile.doc_url"));
    if (drop < 0 || keep < 0 || doc < 0) goto done;
  }

  /* Backwards: Profile fields 15 down to 1. */
  opt_i64(&w, 15, doc);
  if (first) opt_i64(&w, 14, first->sample_type.type_strindex);
  if (first) opt_i64(&w, 12, first->period);
  if (first && first->has_period_type)
    enc_valuetype(&w, 11, first->period_type.type_strindex, first->period_type.unit_strindex);
  opt_i64(&w, 10, (int64_t)(t1 - t0));
  opt_i64(&w, 9, (int64_t)t0);
  opt_i64(&w, 8, keep);
  opt_i64(&w, 7, drop);
  for (uint32_t i = x.n_extra; i-- > 0;) rep_string(&w, 6, x.extra[i]);
  for (uint32_t i = d->n_strings; i-- > 0;) rep_string(&w, 6, d->strings[i]);
  if (!d->n_strings) rep_string(&w, 6, (pc_str_t){0}); /* string_table[0] is "" */
  for (uint32_t f = d->n_functions; f-- > 1;) {
    const pc_function_t *fn = &d->functions[f];
    size_t mark = w.len;
    opt_i64(&w, 5, fn->start_line);
    opt_i64(&w, 4, fn->filename_strindex);
    opt_i64(&w, 3, fn->system_name_strindex);
    opt_i64(&w, 2, fn->name_strindex);
    opt_varint(&w, 1, f);
    close_len(&w, mark, 5);
  }
  for (uint32_t l = d->n_locations; l-- > 0;) {
    const pc_location_t *loc = &d->locations[l];
    size_t mark = w.len;
    if (attr_true(d, loc->attribute_indices, "pprof.location.is_folded")) opt_varint(&w, 5, 1);
    for (uint32_t k = loc->n_lines; k-- > 0;) {
      size_t m2 = w.len;
      opt_i64(&w, 3, loc->lines[k].column);
      opt_i64(&w, 2, loc->lines[k].line);
      opt_i64(&w, 1, loc->lines[k].function_index);
      close_len(&w, m2, 4);
    }
    opt_varint(&w, 3, loc->address);
    opt_i64(&w, 2, loc->mapping_index);
    opt_varint(&w, 1, (uint64_t)l + 1);
    close_len(&w, mark, 4);
  }
  for (uint32_t m = d->n_mappings; m-- > 1;) {
    const pc_mapping_t *mp = &d->mappings[m];
    size_t mark = w.len;
    for (uint32_t bit = 4; bit-- > 0;)
      if (flags[m] >> bit & 1) opt_varint(&w, 7 + bit, 1);
    opt_i64(&w, 6, build_ids[m]);
    opt_i64(&w, 5, mp->filename_strindex);
    opt_varint(&w, 4, mp->file_offset);
    opt_varint(&w, 3, mp->memory_limit);
    opt_varint(&w, 2, mp->memory_start);
    opt_varint(&w, 1, m);
    close_len(&w, mark, 3);
  }
  for (uint32_t st = d->n_stacks; st-- > 0;) {
    if (!values[st]) continue;
    const pc_i32s_t *locs = &pc_dict_stack(d, (int32_t)st)->location_indices;
    size_t mark = w.len;
    size_t m2 = w.len; /* value: one, packed */
    put_varint(&w, (uint64_t)values[st]);
    close_len(&w, m2, 2);
    if (locs->n) {
      m2 = w.len;
      for (uint32_t i = locs->n; i-- > 0;) put_varint(&w, (uint64_t)locs->v[i] + 1);
      close_len(&w, m2, 1);
    }
    close_len(&w, mark, 2);
  }
  if (first) enc_valuetype(&w, 1, first->sample_type.type_strindex,
                           first->sample_type.unit_strindex);

  if (!gzip) {
    rc = finish(&w, out);
  } else {
    rc = w.oom ? PC_ENOMEM
               : pc_compress(PC_ENC_GZIP, 0, w.buf + w.cap - w.len, w.len, out);
  }
done:
  free(w.buf);
  free(x.extra);
  free(build_ids);
  free(flags);
  free(from_pprof);
  return rc;
}
