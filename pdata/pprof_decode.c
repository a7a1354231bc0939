/* pprof_decode.c - pprof's profile.proto -> pc_pprof_t (pprof.h), with
 * every reference checked and resolved once.
 *
 * One idea: pprof refers to mappings, locations and functions by id, and a
 * sample may come before the locations it names (Go writes fields in
 * number order: samples, then mappings, locations, functions). So the
 * top-level message is read in passes over its own bytes, each taking only
 * some fields: counts first (wire_read.h), then the string table (every
 * other message's string indices are checked against it), then sample
 * types, mappings, functions and scalars, then locations (whose mapping and
 * function ids can now be resolved), then samples (whose location ids can). A pass
 * skips the other fields by their length, which costs a tag and a varint
 * each. Ids map to positions through a table built per kind; when the ids
 * are 1, 2, 3... in order, as every Go profile has them, the map is the
 * identity and costs nothing.
 *
 * Errors give the byte offset and the path, as the OTLP decoder's do:
 * "at byte 912: sample[3].location_id[2]: no location has id 77".
 *
 * Hand-written on the OTLP decoder's reader rather than generated with
 * nanopb, for the reason wire.h gives: a profile is long runs of small
 * repeated messages (samples, locations, lines), which nanopb would decode
 * through a callback per element into fixed or separately grown arrays. */
#include <stdlib.h>
#include <string.h>

#include "pprof.h"
#include "wire_read.h"

/* Profile's repeated fields. */
enum {
  F_SAMPLE_TYPE = 1,
  F_SAMPLE = 2,
  F_MAPPING = 3,
  F_LOCATION = 4,
  F_FUNCTION = 5,
  F_STRING = 6,
  F_COMMENT = 13,
};

/* ---- id -> position ------------------------------------------------------------ */

/* Open addressing over (id, position + 1); slot pos 0 is empty. */
typedef struct {
  uint64_t *ids;
  uint32_t *pos;
  uint32_t mask;
  bool identity; /* ids are 1..n in order: position = id - 1 */
  uint32_t n;
} idmap_t;

static inline uint32_t id_hash(uint64_t id) {
  return (uint32_t)((id * 0x9e3779b97f4a7c15ULL) >> 32);
}

/* Position + 1 of id, 0 when no entry has it. */
static inline uint32_t idmap_get(const idmap_t *m, uint64_t id) {
  if (m->identity) return id >= 1 && id <= m->n ? (uint32_t)id : 0;
  if (!m->mask) return 0;
  for (uint32_t i = id_hash(id) & m->mask;; i = (i + 1) & m->mask) {
    if (!m->pos[i]) return 0;
    if (m->ids[i] == id) return m->pos[i];
  }
}

/* Build the map of n ids read by get(k); what names the table in errors. */
static int idmap_build(dctx_t *c, idmap_t *m, uint32_t n, const char *what,
                       uint64_t (*get)(const void *arr, uint32_t k), const void *arr) {
  *m = (idmap_t){.n = n, .identity = true};
  for (uint32_t k = 0; k < n && m->identity; k++) m->identity = get(arr, k) == (uint64_t)k + 1;
  if (m->identity || n == 0) return 0;
  uint32_t cap = 4;
  while (cap < 2 * (uint64_t)n) cap *= 2;
  m->mask = cap - 1;
  m->ids = pc_arena_alloc(c->arena, (size_t)cap * sizeof *m->ids);
  m->pos = pc_arena_calloc(c->arena, cap, sizeof *m->pos);
  if (!m->ids || !m->pos) return fail_oom(c);
  for (uint32_t k = 0; k < n; k++) {
    uint64_t id = get(arr, k);
    if (id == 0)
      return pc_err_set(c->err, PC_EDECODE, "%s[%u]: id 0 (ids must be nonzero)", what,
                        (unsigned)k);
    uint32_t i = id_hash(id) & m->mask;
    for (; m->pos[i]; i = (i + 1) & m->mask)
      if (m->ids[i] == id)
        return pc_err_set(c->err, PC_EDECODE, "%s[%u]: id %llu also used by %s[%u]", what,
                          (unsigned)k, (unsigned long long)id, what, (unsigned)(m->pos[i] - 1));
    m->ids[i] = id;
    m->pos[i] = k + 1;
  }
  return 0;
}

static uint64_t mapping_id(const void *a, uint32_t k) {
  return ((const pc_pprof_mapping_t *)a)[k].id;
}
static uint64_t location_id(const void *a, uint32_t k) {
  return ((const pc_pprof_location_t *)a)[k].id;
}
static uint64_t function_id(const void *a, uint32_t k) {
  return ((const pc_pprof_function_t *)a)[k].id;
}

/* ---- small messages -------------------------------------------------------------- */

typedef struct {
  dctx_t c;
  pc_pprof_t *p;
  idmap_t mappings, locations, functions;
} pctx_t;

/* A string index field: in range of the string table (decoded before any
 * message that holds one is checked). */
static inline int check_str(pctx_t *x, const uint8_t *at, int64_t idx, const char *field) {
  if (idx >= 0 && (uint64_t)idx < x->p->n_strings) return 0;
  return fail(&x->c, at, "%s: string index %lld out of range (string_table has %u entries)",
              field, (long long)idx, (unsigned)x->p->n_strings);
}

static inline int rd_i64(dctx_t *c, const uint8_t **pp, const uint8_t *end, int64_t *out) {
  uint64_t v;
  int rc = rd_u64(c, pp, end, &v);
  *out = (int64_t)v;
  return rc;
}

static int dec_valuetype(pctx_t *x, const uint8_t *p, const uint8_t *end,
                         pc_pprof_valuetype_t *vt) {
  dctx_t *c = &x->c;
  const uint8_t *start = p;
  memset(vt, 0, sizeof *vt);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &vt->type); break;
    case 2 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &vt->unit); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (!rc) rc = check_str(x, start, vt->type, "type");
  if (!rc) rc = check_str(x, start, vt->unit, "unit");
  return rc;
}

static int dec_mapping(pctx_t *x, const uint8_t *p, const uint8_t *end, pc_pprof_mapping_t *m) {
  dctx_t *c = &x->c;
  const uint8_t *start = p;
  memset(m, 0, sizeof *m);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    uint64_t v = 0;
    if (wt != WT_VARINT || f < 1 || f > 10) {
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
      continue;
    }
    if ((rc = rd_u64(c, &p, end, &v))) break;
    switch (f) {
    case 1: m->id = v; break;
    case 2: m->memory_start = v; break;
    case 3: m->memory_limit = v; break;
    case 4: m->file_offset = v; break;
    case 5: m->filename = (int64_t)v; break;
    case 6: m->build_id = (int64_t)v; break;
    case 7: m->has_functions = v != 0; break;
    case 8: m->has_filenames = v != 0; break;
    case 9: m->has_line_numbers = v != 0; break;
    default: m->has_inline_frames = v != 0; break;
    }
  }
  if (!rc) rc = check_str(x, start, m->filename, "filename");
  if (!rc) rc = check_str(x, start, m->build_id, "build_id");
  return rc;
}

static int dec_function(pctx_t *x, const uint8_t *p, const uint8_t *end,
                        pc_pprof_function_t *fn) {
  dctx_t *c = &x->c;
  const uint8_t *start = p;
  memset(fn, 0, sizeof *fn);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &fn->id); break;
    case 2 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &fn->name); break;
    case 3 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &fn->system_name); break;
    case 4 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &fn->filename); break;
    case 5 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &fn->start_line); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (!rc) rc = check_str(x, start, fn->name, "name");
  if (!rc) rc = check_str(x, start, fn->system_name, "system_name");
  if (!rc) rc = check_str(x, start, fn->filename, "filename");
  return rc;
}

static int dec_line(pctx_t *x, const uint8_t *p, const uint8_t *end, pc_pprof_line_t *l) {
  dctx_t *c = &x->c;
  const uint8_t *start = p;
  uint64_t fid = 0;
  memset(l, 0, sizeof *l);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &fid); break;
    case 2 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &l->line); break;
    case 3 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &l->column); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (rc || fid == 0) return rc; /* 0: no function, as pprof reads it */
  if (!(l->function = idmap_get(&x->functions, fid)))
    return fail(c, start, "function_id: no function has id %llu", (unsigned long long)fid);
  return 0;
}

static int dec_location(pctx_t *x, const uint8_t *p, const uint8_t *end,
                        pc_pprof_location_t *l) {
  dctx_t *c = &x->c;
  static const uint8_t kinds[5] = {[4] = K_LEN};
  uint32_t counts[5] = {0};
  int rc = count_fields(c, p, end, kinds, 5, counts);
  if (rc) return rc;
  const uint8_t *start = p;
  uint64_t mid = 0;
  memset(l, 0, sizeof *l);
  ALLOC_ARRAY(c, l->lines, counts[4]);
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    uint64_t v;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &l->id); break;
    case 2 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &mid); break;
    case 3 << 3 | WT_VARINT: rc = rd_u64(c, &p, end, &l->address); break;
    case 4 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "line", l->n_lines);
      rc = dec_line(x, s, e, &l->lines[l->n_lines++]);
      if (!rc) pop(c);
      break;
    case 5 << 3 | WT_VARINT:
      rc = rd_u64(c, &p, end, &v);
      l->is_folded = v != 0;
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (rc || mid == 0) return rc;
  if (!(l->mapping = idmap_get(&x->mappings, mid)))
    return fail(c, start, "mapping_id: no mapping has id %llu", (unsigned long long)mid);
  return 0;
}

static int dec_label(pctx_t *x, const uint8_t *p, const uint8_t *end, pc_pprof_label_t *lb) {
  dctx_t *c = &x->c;
  const uint8_t *start = p;
  memset(lb, 0, sizeof *lb);
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &lb->key); break;
    case 2 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &lb->str); break;
    case 3 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &lb->num); break;
    case 4 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &lb->num_unit); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (!rc) rc = check_str(x, start, lb->key, "key");
  if (!rc) rc = check_str(x, start, lb->str, "str");
  if (!rc) rc = check_str(x, start, lb->num_unit, "num_unit");
  return rc;
}

/* One location id of a sample, resolved into *out. */
static inline int resolve_location(pctx_t *x, const uint8_t *at, uint64_t id, uint32_t k,
                                   uint32_t *out) {
  uint32_t pos = idmap_get(&x->locations, id);
  if (pos) {
    *out = pos - 1;
    return 0;
  }
  push(&x->c, "location_id", k);
  return fail(&x->c, at, "no location has id %llu", (unsigned long long)id);
}

static int dec_sample(pctx_t *x, const uint8_t *p, const uint8_t *end, pc_pprof_sample_t *s) {
  dctx_t *c = &x->c;
  static const uint8_t kinds[4] = {[1] = K_VARINT, [2] = K_VARINT, [3] = K_LEN};
  uint32_t counts[4] = {0};
  const uint8_t *start = p;
  int rc = count_fields(c, p, end, kinds, 4, counts);
  if (rc) return rc;
  memset(s, 0, sizeof *s);
  ALLOC_ARRAY(c, s->locations, counts[1]);
  ALLOC_ARRAY(c, s->values, counts[2]);
  ALLOC_ARRAY(c, s->labels, counts[3]);
  uint32_t n_values = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *sub = NULL, *e = NULL, *at = p;
    uint64_t id;
    switch (f << 3 | wt) {
    case 1 << 3 | WT_VARINT:
      if (!(rc = rd_u64(c, &p, end, &id)))
        rc = resolve_location(x, at, id, s->n_locations, &s->locations[s->n_locations]);
      s->n_locations++;
      break;
    case 1 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &sub, &e))) break;
      while (!rc && sub < e) {
        at = sub;
        if (!(rc = rd_u64(c, &sub, e, &id)))
          rc = resolve_location(x, at, id, s->n_locations, &s->locations[s->n_locations]);
        s->n_locations++;
      }
      break;
    case 2 << 3 | WT_VARINT:
    case 2 << 3 | WT_LEN:
      rc = rd_rep_i64(c, &p, end, wt, s->values, &n_values);
      break;
    case 3 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &sub, &e))) break;
      push(c, "label", s->n_labels);
      rc = dec_label(x, sub, e, &s->labels[s->n_labels++]);
      if (!rc) pop(c);
      break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  if (rc) return rc;
  if (n_values != x->p->n_sample_types)
    return fail(c, start, "value: %u values, but the profile has %u sample types",
                (unsigned)n_values, (unsigned)x->p->n_sample_types);
  return 0;
}

/* ---- the Profile ---------------------------------------------------------------- */

/* Which fields a pass over the Profile decodes. */
enum { PASS_STRINGS, PASS_TABLES, PASS_LOCATIONS, PASS_SAMPLES };

static inline int field_pass(uint32_t f) {
  switch (f) {
  case F_STRING: return PASS_STRINGS;
  case F_LOCATION: return PASS_LOCATIONS;
  case F_SAMPLE: return PASS_SAMPLES;
  default: return PASS_TABLES;
  }
}

static int dec_pass(pctx_t *x, const uint8_t *p, const uint8_t *end, int pass) {
  dctx_t *c = &x->c;
  pc_pprof_t *pr = x->p;
  int rc = 0;
  while (!rc && p < end) {
    uint32_t f = 0, wt = 0;
    if ((rc = rd_tag(c, &p, end, &f, &wt))) break;
    const uint8_t *s = NULL, *e = NULL;
    if (field_pass(f) != pass) {
      rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
      continue;
    }
    switch (f << 3 | wt) {
    case F_SAMPLE_TYPE << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "sample_type", pr->n_sample_types);
      rc = dec_valuetype(x, s, e, &pr->sample_types[pr->n_sample_types++]);
      if (!rc) pop(c);
      break;
    case F_SAMPLE << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "sample", pr->n_samples);
      rc = dec_sample(x, s, e, &pr->samples[pr->n_samples++]);
      if (!rc) pop(c);
      break;
    case F_MAPPING << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "mapping", pr->n_mappings);
      rc = dec_mapping(x, s, e, &pr->mappings[pr->n_mappings++]);
      if (!rc) pop(c);
      break;
    case F_LOCATION << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "location", pr->n_locations);
      rc = dec_location(x, s, e, &pr->locations[pr->n_locations++]);
      if (!rc) pop(c);
      break;
    case F_FUNCTION << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "function", pr->n_functions);
      rc = dec_function(x, s, e, &pr->functions[pr->n_functions++]);
      if (!rc) pop(c);
      break;
    case F_STRING << 3 | WT_LEN: rc = rd_bytes(c, &p, end, &pr->strings[pr->n_strings++]); break;
    case 7 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->drop_frames); break;
    case 8 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->keep_frames); break;
    case 9 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->time_nanos); break;
    case 10 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->duration_nanos); break;
    case 11 << 3 | WT_LEN:
      if ((rc = rd_len(c, &p, end, &s, &e))) break;
      push(c, "period_type", -1);
      pr->has_period_type = true;
      rc = dec_valuetype(x, s, e, &pr->period_type);
      if (!rc) pop(c);
      break;
    case 12 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->period); break;
    case F_COMMENT << 3 | WT_VARINT:
    case F_COMMENT << 3 | WT_LEN:
      rc = rd_rep_i64(c, &p, end, wt, pr->comments, &pr->n_comments);
      break;
    case 14 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->default_sample_type); break;
    case 15 << 3 | WT_VARINT: rc = rd_i64(c, &p, end, &pr->doc_url); break;
    default: rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0);
    }
  }
  return rc;
}

static int check_string_table(const pc_pprof_t *p, pc_err_t *err) {
  if (p->n_strings == 0)
    return pc_err_set(err, PC_EDECODE, "string_table is empty (its entry 0 must be \"\")");
  if (p->strings[0].n)
    return pc_err_set(err, PC_EDECODE, "string_table[0] is \"%.*s\", not \"\"",
                      (int)(p->strings[0].n > 40 ? 40 : p->strings[0].n),
                      (const char *)p->strings[0].p);
  return 0;
}

/* The string indices of the Profile's own scalar fields. */
static int check_profile_strings(pctx_t *x, const uint8_t *buf) {
  pc_pprof_t *p = x->p;
  dctx_t *c = &x->c;
  const struct {
    int64_t v;
    const char *name;
  } fields[] = {{p->drop_frames, "drop_frames"},
                {p->keep_frames, "keep_frames"},
                {p->default_sample_type, "default_sample_type"},
                {p->doc_url, "doc_url"}};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    int rc = check_str(x, buf, fields[i].v, fields[i].name);
    if (rc) return rc;
  }
  for (uint32_t i = 0; i < p->n_comments; i++) {
    push(c, "comment", i);
    int rc = check_str(x, buf, p->comments[i], "comment");
    if (rc) return rc;
    pop(c);
  }
  return 0;
}

int pc_pprof_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_pprof_t *out,
                    pc_err_t *err) {
  memset(out, 0, sizeof *out);
  if (n == 0) return pc_err_set(err, PC_EDECODE, "empty input: not a pprof profile");
  pctx_t x = {.c = {.base = buf, .arena = arena, .err = err}, .p = out};
  dctx_t *c = &x.c;
  const uint8_t *end = buf + n;
  static const uint8_t kinds[14] = {[F_SAMPLE_TYPE] = K_LEN, [F_SAMPLE] = K_LEN,
                                    [F_MAPPING] = K_LEN,     [F_LOCATION] = K_LEN,
                                    [F_FUNCTION] = K_LEN,    [F_STRING] = K_LEN,
                                    [F_COMMENT] = K_VARINT};
  uint32_t counts[14] = {0};
  int rc = count_fields(c, buf, end, kinds, 14, counts);
  if (rc) return rc;
  ALLOC_ARRAY(c, out->sample_types, counts[F_SAMPLE_TYPE]);
  ALLOC_ARRAY(c, out->samples, counts[F_SAMPLE]);
  ALLOC_ARRAY(c, out->mappings, counts[F_MAPPING]);
  ALLOC_ARRAY(c, out->locations, counts[F_LOCATION]);
  ALLOC_ARRAY(c, out->functions, counts[F_FUNCTION]);
  ALLOC_ARRAY(c, out->strings, counts[F_STRING]);
  ALLOC_ARRAY(c, out->comments, counts[F_COMMENT]);
  /* The string table comes first: every other message's indices are
   * checked against it as it is decoded. */
  if ((rc = dec_pass(&x, buf, end, PASS_STRINGS))) return rc;
  if ((rc = check_string_table(out, err))) return rc;
  if ((rc = dec_pass(&x, buf, end, PASS_TABLES))) return rc;
  if ((rc = check_profile_strings(&x, buf))) return rc;
  if ((rc = idmap_build(c, &x.mappings, out->n_mappings, "mapping", mapping_id, out->mappings)))
    return rc;
  if ((rc = idmap_build(c, &x.functions, out->n_functions, "function", function_id,
                        out->functions)))
    return rc;
  if ((rc = dec_pass(&x, buf, end, PASS_LOCATIONS))) return rc;
  if ((rc = idmap_build(c, &x.locations, out->n_locations, "location", location_id,
                        out->locations)))
    return rc;
  return dec_pass(&x, buf, end, PASS_SAMPLES);
}

int pc_pprof_unpack(const uint8_t *buf, size_t n, size_t limit, pc_buf_t *scratch,
                    pc_str_t *plain, pc_err_t *err) {
  *plain = (pc_str_t){buf, n};
  if (pc_encoding_sniff(buf, n) != PC_ENC_GZIP) return 0;
  size_t before = scratch->n;
  int rc = pc_decompress(PC_ENC_GZIP, buf, n, limit, scratch, err);
  if (rc == PC_ELIMIT)
    return pc_err_set(err, rc, "gzip'd profile inflates to more than %zu bytes", limit);
  if (rc) return err && err->msg[0] ? rc : pc_err_set(err, rc, "cannot gunzip the profile");
  *plain = (pc_str_t){scratch->p + before, scratch->n - before};
  return 0;
}
