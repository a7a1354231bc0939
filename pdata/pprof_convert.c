/* pprof_convert.c - a decoded pprof Profile -> OTLP profiles, interned by
 * the batch builder (docs/pprof.md has the field mapping).
 *
 * One idea: pprof's tables already are a dictionary, so the conversion
 * builds an OTLP request whose tables mirror pprof's one for one (string i
 * is pprof's string i, function i + 1 is pprof's function i, and so on,
 * entry 0 being OTLP's zero entry), adds what pprof keeps elsewhere
 * (attributes for labels, build ids and flags; one stack per sample), and
 * hands that request to the batch builder, whose content interning makes
 * the one dictionary of the result: equal stacks, attributes and strings
 * collapse, and nothing unreferenced is copied. The request built on the
 * way lives in a scratch arena and views the pprof bytes.
 *
 * OTLP gives each profile one sample type, so a pprof profile with K sample
 * types becomes K profiles over the same samples, each sample with one
 * value. pprof defines aggregating samples as summing their values, and
 * OTLP asks that samples with the same identity (stack, attributes, link)
 * be combined; samples with equal location ids and labels are therefore
 * summed first, once for all K profiles.
 *
 * What profcheck (the Profiles SIG's conformance checker) requires of the
 * output and pprof does not promise is made to hold here: mapping ranges
 * are empty or start < limit (another range is dropped: both set to 0),
 * line numbers, columns and start lines are not negative (clamped to 0),
 * attribute keys are unique per attribute list (repeated label keys become
 * one array attribute), strings are UTF-8 (invalid bytes become U+FFFD). */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pprof.h"
#include "wire_read.h"

/* Attribute keys, from the semantic conventions' registry (pprof.* and
 * process.executable.*), appended to the string table after pprof's own. */
enum {
  KEY_BUILD_ID,
  KEY_HAS_FUNCTIONS,
  KEY_HAS_FILENAMES,
  KEY_HAS_LINE_NUMBERS,
  KEY_HAS_INLINE_FRAMES,
  KEY_IS_FOLDED,
  KEY_DROP_FRAMES,
  KEY_KEEP_FRAMES,
  KEY_DOC_URL,
  KEY_COMMENT,
  KEY_COUNT
};
static const char *const key_names[KEY_COUNT] = {
    "process.executable.build_id.gnu", "pprof.mapping.has_functions",
    "pprof.mapping.has_filenames",     "pprof.mapping.has_line_numbers",
    "pprof.mapping.has_inline_frames", "pprof.location.is_folded",
    "pprof.profile.drop_frames",       "pprof.profile.keep_frames",
    "pprof.profile.doc_url",           "pprof.profile.comment",
};

typedef struct {
  const pc_pprof_t *p;
  pc_arena_t *a;
  pc_err_t *err;
  pc_dictionary_t *d;
  uint32_t attr_cap;
  int32_t key0;        /* string index of key_names[0] */
  pc_str_t *sane;      /* pprof's strings, UTF-8 repaired where needed */
} cctx_t;

static int oom(cctx_t *x) {
  return pc_err_set(x->err, PC_ENOMEM, "out of memory converting the profile (%zu bytes)",
                    pc_arena_used(x->a));
}

/* ALLOC zeroes; RAW does not, for the large arrays that are written
 * whole right after (zeroing them was a tenth of a conversion). */
#define ALLOC_(x, ptr, count, zero)                                              \
  do {                                                                          \
    size_t n_ = (count);                                                        \
    (ptr) = !n_   ? NULL                                                        \
            : zero ? pc_arena_calloc((x)->a, n_, sizeof *(ptr))                 \
                   : (n_ <= SIZE_MAX / sizeof *(ptr)                            \
                          ? pc_arena_alloc((x)->a, n_ * sizeof *(ptr))          \
                          : NULL);                                              \
    if (n_ && !(ptr)) return oom(x);                                            \
  } while (0)
#define ALLOC(x, ptr, count) ALLOC_(x, ptr, count, true)
#define RAW(x, ptr, count) ALLOC_(x, ptr, count, false)

/* ---- strings ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (p < end), 0 if none starts there. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end) {
  if (p[0] < 0x80) return 1;
  size_t need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
  return (size_t)(end - p) >= need && utf8_valid(p, need) ? need : 0;
}

/* s with every byte that starts no valid UTF-8 sequence replaced by U+FFFD. */
static int repair_utf8(cctx_t *x, pc_str_t s, pc_str_t *out) {
  if (utf8_valid(s.p, s.n)) {
    *out = s;
    return 0;
  }
  uint8_t *o = pc_arena_alloc(x->a, s.n * 3);
  if (!o) return oom(x);
  size_t n = 0;
  for (const uint8_t *p = s.p, *end = s.p + s.n; p < end;) {
    size_t k = utf8_seq(p, end);
    if (k) {
      memcpy(o + n, p, k);
      n += k, p += k;
    } else {
      memcpy(o + n, "\xef\xbf\xbd", 3);
      n += 3, p++;
    }
  }
  *out = (pc_str_t){o, n};
  return 0;
}

static inline pc_str_t str(const cctx_t *x, int64_t i) { return x->sane[i]; }

/* ---- attributes ------------------------------------------------------------------ */

static int32_t add_attr(cctx_t *x, int key, pc_anyvalue_t v, int32_t unit) {
  pc_dictionary_t *d = x->d;
  d->attrs[d->n_attrs] = (pc_attr_t){.key_strindex = x->key0 + key, .has_value = true,
                                     .value = v, .unit_strindex = unit};
  return (int32_t)d->n_attrs++;
}

static int32_t add_attr_strindex(cctx_t *x, int64_t key, pc_anyvalue_t v, int32_t unit) {
  pc_dictionary_t *d = x->d;
  d->attrs[d->n_attrs] = (pc_attr_t){.key_strindex = (int32_t)key, .has_value = true,
                                     .value = v, .unit_strindex = unit};
  return (int32_t)d->n_attrs++;
}

static pc_anyvalue_t av_str(pc_str_t s) {
  return (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = s};
}
static pc_anyvalue_t av_true(void) { return (pc_anyvalue_t){.type = PC_AV_BOOL, .u.b = true}; }

/* A label's value: its string, or its number. */
static pc_anyvalue_t label_value(const cctx_t *x, const pc_pprof_label_t *l) {
  if (l->str) return av_str(str(x, l->str));
  return (pc_anyvalue_t){.type = PC_AV_INT, .u.i = l->num};
}

/* Whether a label says anything: a key, and a string or a number or a
 * unit (pprof's reader drops a label with none of the three, so a numeric
 * 0 without a unit cannot be told from nothing). */
static bool label_present(const pc_pprof_label_t *l) {
  return l->key && (l->str || l->num || l->num_unit);
}

/* The attribute indices of a sample's labels: one attribute per distinct
 * key, in the order keys first appear. A key given once keeps its value and
 * unit; a key given several times (pprof discourages it, but allows it)
 * becomes an array of its values, with the unit of its numeric values when
 * they agree. */
static int label_attrs(cctx_t *x, const pc_pprof_sample_t *s, pc_i32s_t *out) {
  *out = (pc_i32s_t){0};
  if (!s->n_labels) return 0;
  ALLOC(x, out->v, s->n_labels);
  for (uint32_t i = 0; i < s->n_labels; i++) {
    const pc_pprof_label_t *l = &s->labels[i];
    if (!label_present(l)) continue;
    uint32_t same = 0, j;
    for (j = 0; j < i && !(label_present(&s->labels[j]) && s->labels[j].key == l->key); j++) {}
    if (j < i) continue; /* the key's first label made its attribute */
    for (j = i; j < s->n_labels; j++)
      same += label_present(&s->labels[j]) && s->labels[j].key == l->key;
    int32_t unit = l->str ? 0 : (int32_t)l->num_unit;
    if (same == 1) {
      out->v[out->n++] = add_attr_strindex(x, l->key, label_value(x, l), unit);
      continue;
    }
    pc_anyvalue_t arr = {.type = PC_AV_ARRAY};
    ALLOC(x, arr.u.array.v, same);
    bool units_agree = true;
    for (j = i; j < s->n_labels; j++) {
      const pc_pprof_label_t *m = &s->labels[j];
      if (!label_present(m) || m->key != l->key) continue;
      arr.u.array.v[arr.u.array.n++] = label_value(x, m);
      if (!m->str && (int32_t)m->num_unit != unit) units_agree = false;
    }
    out->v[out->n++] = add_attr_strindex(x, l->key, arr, units_agree ? unit : 0);
  }
  return 0;
}

/* ---- dictionary ------------------------------------------------------------------- */

static int build_strings(cctx_t *x) {
  const pc_pprof_t *p = x->p;
  pc_dictionary_t *d = x->d;
  if (p->n_strings > (uint32_t)INT32_MAX - KEY_COUNT)
    return pc_err_set(x->err, PC_ELIMIT, "%u strings: more than OTLP's int32 indices reach",
                      (unsigned)p->n_strings);
  RAW(x, x->sane, p->n_strings);
  RAW(x, d->strings, p->n_strings + KEY_COUNT);
  for (uint32_t i = 0; i < p->n_strings; i++) {
    int rc = repair_utf8(x, p->strings[i], &x->sane[i]);
    if (rc) return rc;
    d->strings[i] = x->sane[i];
  }
  x->key0 = (int32_t)p->n_strings;
  for (int k = 0; k < KEY_COUNT; k++)
    d->strings[p->n_strings + k] = (pc_str_t){(const uint8_t *)key_names[k],
                                              strlen(key_names[k])};
  d->n_strings = p->n_strings + KEY_COUNT;
  return 0;
}

static inline int64_t not_negative(int64_t v) { return v < 0 ? 0 : v; }

static int build_functions(cctx_t *x) {
  const pc_pprof_t *p = x->p;
  pc_dictionary_t *d = x->d;
  RAW(x, d->functions, p->n_functions + 1);
  d->n_functions = p->n_functions + 1;
  d->functions[0] = pc_zero_function;
  for (uint32_t i = 0; i < p->n_functions; i++) {
    const pc_pprof_function_t *f = &p->functions[i];
    d->functions[i + 1] = (pc_function_t){.name_strindex = (int32_t)f->name,
                                          .system_name_strindex = (int32_t)f->system_name,
                                          .filename_strindex = (int32_t)f->filename,
                                          .start_line = not_negative(f->start_line)};
  }
  return 0;
}

static int build_mappings(cctx_t *x) {
  const pc_pprof_t *p = x->p;
  pc_dictionary_t *d = x->d;
  RAW(x, d->mappings, p->n_mappings + 1);
  d->n_mappings = p->n_mappings + 1;
  d->mappings[0] = pc_zero_mapping;
  for (uint32_t i = 0; i < p->n_mappings; i++) {
    const pc_pprof_mapping_t *m = &p->mappings[i];
    pc_mapping_t *o = &d->mappings[i + 1];
    *o = (pc_mapping_t){.memory_start = m->memory_start, .memory_limit = m->memory_limit,
                        .file_offset = m->file_offset, .filename_strindex = (int32_t)m->filename};
    if ((o->memory_start || o->memory_limit) && o->memory_start >= o->memory_limit)
      o->memory_start = o->memory_limit = 0;
    int32_t *a;
    ALLOC(x, a, 5);
    uint32_t n = 0;
    if (m->build_id) a[n++] = add_attr(x, KEY_BUILD_ID, av_str(str(x, m->build_id)), 0);
    if (m->has_functions) a[n++] = add_attr(x, KEY_HAS_FUNCTIONS, av_true(), 0);
    if (m->has_filenames) a[n++] = add_attr(x, KEY_HAS_FILENAMES, av_true(), 0);
    if (m->has_line_numbers) a[n++] = add_attr(x, KEY_HAS_LINE_NUMBERS, av_true(), 0);
    if (m->has_inline_frames) a[n++] = add_attr(x, KEY_HAS_INLINE_FRAMES, av_true(), 0);
    o->attribute_indices = (pc_i32s_t){a, n};
  }
  return 0;
}

static int build_locations(cctx_t *x, int32_t folded_attr) {
  const pc_pprof_t *p = x->p;
  pc_dictionary_t *d = x->d;
  RAW(x, d->locations, p->n_locations + 1);
  d->n_locations = p->n_locations + 1;
  d->locations[0] = pc_zero_location;
  for (uint32_t i = 0; i < p->n_locations; i++) {
    const pc_pprof_location_t *l = &p->locations[i];
    pc_location_t *o = &d->locations[i + 1];
    *o = (pc_location_t){.mapping_index = (int32_t)l->mapping, .address = l->address,
                         .n_lines = l->n_lines};
    RAW(x, o->lines, l->n_lines);
    for (uint32_t k = 0; k < l->n_lines; k++)
      o->lines[k] = (pc_line_t){.function_index = (int32_t)l->lines[k].function,
                                .line = not_negative(l->lines[k].line),
                                .column = not_negative(l->lines[k].column)};
    if (l->is_folded) {
      ALLOC(x, o->attribute_indices.v, 1);
      o->attribute_indices = (pc_i32s_t){o->attribute_indices.v, 1};
      o->attribute_indices.v[0] = folded_attr;
    }
  }
  return 0;
}

/* ---- samples ---------------------------------------------------------------------- */

static uint64_t sample_hash(const pc_pprof_sample_t *s) {
  uint64_t h = XXH3_64bits(s->locations, (size_t)s->n_locations * sizeof *s->locations);
  if (s->n_labels)
    h = XXH3_64bits_withSeed(s->labels, (size_t)s->n_labels * sizeof *s->labels, h);
  return h;
}

static bool sample_eq(const pc_pprof_sample_t *a, const pc_pprof_sample_t *b) {
  return a->n_locations == b->n_locations && a->n_labels == b->n_labels &&
         (!a->n_locations ||
          memcmp(a->locations, b->locations, (size_t)a->n_locations * sizeof *a->locations) == 0) &&
         (!a->n_labels ||
          memcmp(a->labels, b->labels, (size_t)a->n_labels * sizeof *a->labels) == 0);
}
_Static_assert(sizeof(pc_pprof_label_t) == 4 * sizeof(int64_t), "labels compare as bytes");

static inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

/* Combine samples with equal stacks and labels: uniq[u] is the first
 * sample of group u, sums[u * K + k] its summed k-th value. */
static int combine_samples(cctx_t *x, uint32_t **uniq_out, int64_t **sums_out,
                           uint32_t *n_uniq) {
  const pc_pprof_t *p = x->p;
  uint32_t K = p->n_sample_types, n = p->n_samples;
  uint32_t *uniq, *slots, cap = 4;
  int64_t *sums;
  while (cap < 2 * (uint64_t)n) cap *= 2;
  RAW(x, uniq, n);
  ALLOC(x, slots, cap); /* group + 1; 0: empty */
  ALLOC(x, sums, (size_t)n * K);
  uint32_t u = 0;
  for (uint32_t i = 0; i < n; i++) {
    const pc_pprof_sample_t *s = &p->samples[i];
    uint32_t slot = (uint32_t)sample_hash(s) & (cap - 1);
    for (; slots[slot]; slot = (slot + 1) & (cap - 1))
      if (sample_eq(&p->samples[uniq[slots[slot] - 1]], s)) break;
    uint32_t g = slots[slot];
    if (!g) {
      uniq[u] = i;
      slots[slot] = g = ++u;
    }
    for (uint32_t k = 0; k < K; k++)
      sums[(size_t)(g - 1) * K + k] = sat_add(sums[(size_t)(g - 1) * K + k], s->values[k]);
  }
  *uniq_out = uniq, *sums_out = sums, *n_uniq = u;
  return 0;
}

/* ---- the tree ---------------------------------------------------------------------- */

static int build_scope(cctx_t *x, pc_scope_t *sc) {
  const pc_pprof_t *p = x->p;
  *sc = (pc_scope_t){0};
  ALLOC(x, sc->attributes.v, 2);
  pc_anyvalue_t order = {.type = PC_AV_ARRAY};
  ALLOC(x, order.u.array.v, p->n_sample_types);
  for (uint32_t k = 0; k < p->n_sample_types; k++)
    order.u.array.v[order.u.array.n++] = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = k};
  sc->attributes.v[sc->attributes.n++] =
      (pc_keyvalue_t){.key = PC_STR_LIT("pprof.scope.sample_type_order"), .has_value = true,
                      .value = order};
  if (p->default_sample_type)
    sc->attributes.v[sc->attributes.n++] =
        (pc_keyvalue_t){.key = PC_STR_LIT("pprof.scope.default_sample_type"),
                        .has_value = true, .value = av_str(str(x, p->default_sample_type))};
  return 0;
}

static int profile_attrs(cctx_t *x, pc_i32s_t *out) {
  const pc_pprof_t *p = x->p;
  ALLOC(x, out->v, 4);
  out->n = 0;
  if (p->drop_frames)
    out->v[out->n++] = add_attr(x, KEY_DROP_FRAMES, av_str(str(x, p->drop_frames)), 0);
  if (p->keep_frames)
    out->v[out->n++] = add_attr(x, KEY_KEEP_FRAMES, av_str(str(x, p->keep_frames)), 0);
  if (p->doc_url) out->v[out->n++] = add_attr(x, KEY_DOC_URL, av_str(str(x, p->doc_url)), 0);
  if (p->n_comments) {
    pc_anyvalue_t arr = {.type = PC_AV_ARRAY};
    ALLOC(x, arr.u.array.v, p->n_comments);
    for (uint32_t i = 0; i < p->n_comments; i++)
      arr.u.array.v[arr.u.array.n++] = av_str(str(x, p->comments[i]));
    out->v[out->n++] = add_attr(x, KEY_COMMENT, arr, 0);
  }
  return 0;
}

static int build(cctx_t *x, pc_request_t *req) {
  const pc_pprof_t *p = x->p;
  pc_dictionary_t *d = &req->dict;
  x->d = d;
  req->has_dictionary = true;
  if (p->n_locations >= (uint32_t)INT32_MAX || p->n_functions >= (uint32_t)INT32_MAX ||
      p->n_mappings >= (uint32_t)INT32_MAX)
    return pc_err_set(x->err, PC_ELIMIT, "tables too large for OTLP's int32 indices");
  uint64_t labels = 0;
  for (uint32_t i = 0; i < p->n_samples; i++) labels += p->samples[i].n_labels;
  uint64_t attr_cap = 1 + 5 * (uint64_t)p->n_mappings + 1 + labels + 4;
  if (attr_cap >= (uint64_t)INT32_MAX)
    return pc_err_set(x->err, PC_ELIMIT, "too many labels for OTLP's int32 indices");
  RAW(x, d->attrs, attr_cap);
  d->attrs[0] = pc_zero_attr;
  d->n_attrs = 1;
  int rc;
  if ((rc = build_strings(x)) || (rc = build_functions(x)) || (rc = build_mappings(x)))
    return rc;
  int32_t folded = add_attr(x, KEY_IS_FOLDED, av_true(), 0);
  if ((rc = build_locations(x, folded))) return rc;

  uint32_t *uniq = NULL, n_uniq = 0;
  int64_t *sums = NULL;
  if ((rc = combine_samples(x, &uniq, &sums, &n_uniq))) return rc;
  RAW(x, d->stacks, (size_t)n_uniq + 1);
  d->n_stacks = n_uniq + 1;
  d->stacks[0] = pc_zero_stack;
  pc_i32s_t *sample_attrs;
  RAW(x, sample_attrs, n_uniq);
  for (uint32_t u = 0; u < n_uniq; u++) {
    const pc_pprof_sample_t *s = &p->samples[uniq[u]];
    pc_i32s_t *loc = &d->stacks[u + 1].location_indices;
    RAW(x, loc->v, s->n_locations);
    for (uint32_t i = 0; i < s->n_locations; i++) loc->v[i] = (int32_t)s->locations[i] + 1;
    loc->n = s->n_locations;
    if ((rc = label_attrs(x, s, &sample_attrs[u]))) return rc;
  }

  pc_i32s_t prof_attrs;
  if ((rc = profile_attrs(x, &prof_attrs))) return rc;
  ALLOC(x, req->resources, 1);
  req->n_resources = 1;
  pc_resource_profiles_t *rp = &req->resources[0];
  ALLOC(x, rp->scopes, 1);
  rp->n_scopes = 1;
  pc_scope_profiles_t *sp = &rp->scopes[0];
  sp->has_scope = true;
  if ((rc = build_scope(x, &sp->scope))) return rc;
  uint32_t K = p->n_sample_types;
  ALLOC(x, sp->profiles, K);
  sp->n_profiles = K;
  for (uint32_t k = 0; k < K; k++) {
    pc_profile_t *pr = &sp->profiles[k];
    pr->has_sample_type = true;
    pr->sample_type = (pc_valuetype_t){(int32_t)p->sample_types[k].type,
                                       (int32_t)p->sample_types[k].unit};
    if (p->has_period_type) {
      pr->has_period_type = true;
      pr->period_type = (pc_valuetype_t){(int32_t)p->period_type.type,
                                         (int32_t)p->period_type.unit};
    }
    pr->period = p->period;
    pr->time_unix_nano = (uint64_t)not_negative(p->time_nanos);
    pr->duration_nano = (uint64_t)not_negative(p->duration_nanos);
    pr->attribute_indices = prof_attrs;
    RAW(x, pr->samples, n_uniq);
    pr->n_samples = n_uniq;
    for (uint32_t u = 0; u < n_uniq; u++)
      pr->samples[u] = (pc_sample_t){.stack_index = (int32_t)u + 1,
                                     .attribute_indices = sample_attrs[u],
                                     .values = &sums[(size_t)u * K + k],
                                     .n_values = 1};
  }
  return 0;
}

int pc_pprof_to_otlp(const pc_pprof_t *p, pc_arena_t *scratch, pc_builder_t *b,
                     pc_err_t *err) {
  pc_request_t req = {.arena = scratch};
  cctx_t x = {.p = p, .a = scratch, .err = err};
  int rc = build(&x, &req);
  /* Built to be valid; checking costs little next to interning and keeps
   * a mistake here from reaching the builder, which trusts its input. */
  if (!rc) rc = pc_pdata_validate(&req, err);
  if (!rc && req.rejected_profiles)
    rc = pc_err_set(err, PC_EINVAL, "converted profile is invalid: %s", req.reject_msg);
  if (!rc) rc = pc_builder_add(b, &req, err);
  return rc;
}

int pc_pprof_convert(const uint8_t *buf, size_t n, size_t limit, pc_builder_t *b,
                     pc_err_t *err) {
  pc_buf_t scratch = {0};
  pc_str_t plain;
  int rc = pc_pprof_unpack(buf, n, limit, &scratch, &plain, err);
  if (rc) goto done;
  pc_arena_t *arena = pc_arena_new(0);
  pc_pprof_t p;
  rc = pc_pprof_decode(arena, plain.p, plain.n, &p, err);
  if (!rc) rc = pc_pprof_to_otlp(&p, arena, b, err);
  pc_arena_free(arena);
done:
  pc_buf_free(&scratch);
  return rc;
}
