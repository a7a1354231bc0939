/* stacks.c - select samples by span and sample type, sum them per stack,
 * render folded stacks and a flame graph tree (stacks.h; the rules are
 * shared/spec/OTLP-PROFILES.md section 6).
 *
 * One idea: let the batch builder do the hard part. Requests each have their
 * own dictionary; the selected samples of all of them are merged into one
 * builder (pdata/intern.h), whose content interning leaves one dictionary
 * in which equal stacks have equal indices. Summing is then an array
 * indexed by stack, and the pprof export (pprof_encode.c) reads the same
 * merged request.
 *
 * Folded lines are named by function names, so two stacks that differ only
 * in addresses or lines print the same line. Every frame name gets a rank
 * (its position in byte order among the distinct names), a stack becomes a
 * sequence of ranks, and sorting the sequences puts equal lines next to
 * each other (they are summed) and every path prefix in one run, so the
 * tree is built in one pass with a stack of open nodes. The same order,
 * frame by frame, is the order of the folded lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "stacks.h"
#include "traces.h"

typedef struct {
  pc_str_t name, file;
  int64_t line;
  uint32_t rank; /* of name among distinct names, byte order */
} frame_t;

typedef struct {
  const uint32_t *frames; /* root first; of the heaviest stack summed into it */
  uint32_t n;
  uint32_t stack; /* index in the merged request, to break ties in order */
  int64_t value;
  int64_t marked;    /* of value, the marked samples' */
  uint64_t heaviest; /* |value| of that stack */
} entry_t;

struct pc_stacks {
  pc_builder_t *b;
  const pc_request_t *r; /* the merged selection */
  pc_arena_t *arena;     /* frames, entries, copies of names */
  int64_t *values;       /* per stack of r */
  int64_t *marked;       /* per stack of r, when marking */
  pc_stacks_type_t *types;
  pc_str_t *services; /* distinct, byte order */
  size_t n_services, cap_services;
  pc_stacks_info_t info;
  frame_t *frames;
  entry_t *entries;
  uint32_t n_entries;
};

static int oom(pc_err_t *err) {
  return pc_err_set(err, PC_ENOMEM, "out of memory aggregating stacks");
}

static inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

/* ---- selection -------------------------------------------------------------------- */

/* Whether a sample's link carries this trace id (when asked) and span id
 * (when asked). */
static bool link_matches(const pc_dictionary_t *d, int32_t link_index, bool has_trace,
                         const uint8_t trace[16], bool has_span, const uint8_t span[8]) {
  if (!has_trace && !has_span) return true;
  if (link_index == 0) return false;
  const pc_link_t *l = pc_dict_link(d, link_index);
  if (has_trace && (l->trace_id.n != 16 || memcmp(l->trace_id.p, trace, 16))) return false;
  if (has_span && (l->span_id.n != 8 || memcmp(l->span_id.p, span, 8))) return false;
  return true;
}

static bool sample_selected(const pc_dictionary_t *d, const pc_sample_t *s,
                            const pc_stacks_filter_t *f) {
  if (!f) return true;
  if (f->linked_only) {
    const pc_link_t *l = s->link_index > 0 ? pc_dict_link(d, s->link_index) : NULL;
    if (!l || l->trace_id.n != 16 || l->span_id.n != 8) return false;
  }
  return link_matches(d, s->link_index, f->has_trace_id, f->trace_id, f->has_span_id,
                      f->span_id);
}

static pc_str_t resource_service(const pc_request_t *req, const pc_resource_profiles_t *rp) {
  return pc_profiles_kvs_string(req, &rp->resource.attributes, PC_STR_LIT("service.name"));
}

static bool resource_selected(const pc_request_t *req, const pc_resource_profiles_t *rp,
                              const pc_stacks_filter_t *f) {
  return !f || !f->service.n || pc_str_eq(resource_service(req, rp), f->service);
}

/* Note a service of selected samples (names point into the request until
 * pc_stacks_select copies them). */
static int note_service(pc_stacks_t *s, pc_str_t name) {
  if (!name.n) return 0;
  for (size_t i = 0; i < s->n_services; i++)
    if (pc_str_eq(s->services[i], name)) return 0;
  if (s->n_services == s->cap_services) {
    size_t cap = s->cap_services ? 2 * s->cap_services : 4;
    pc_str_t *n = realloc(s->services, cap * sizeof *n);
    if (!n) return PC_ENOMEM;
    s->services = n;
    s->cap_services = cap;
  }
  s->services[s->n_services++] = name;
  return 0;
}

static int str_order(const void *a, const void *b) {
  const pc_str_t *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = n ? memcmp(x->p, y->p, n) : 0;
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* A sample's contribution: its values summed, or one per timestamp. */
static int64_t sample_value(const pc_sample_t *s) {
  if (!s->n_values) return (int64_t)s->n_timestamps;
  int64_t v = 0;
  for (uint32_t i = 0; i < s->n_values; i++) v = sat_add(v, s->values[i]);
  return v;
}

static void profile_type(const pc_dictionary_t *d, const pc_profile_t *p, pc_str_t *type,
                         pc_str_t *unit) {
  *type = p->has_sample_type ? pc_dict_string(d, p->sample_type.type_strindex) : (pc_str_t){0};
  *unit = p->has_sample_type ? pc_dict_string(d, p->sample_type.unit_strindex) : (pc_str_t){0};
}

/* Byte order of "t1:u1" against "t2:u2", without building them. */
static int cat_cmp(pc_str_t t1, pc_str_t u1, pc_str_t t2, pc_str_t u2) {
  size_t n1 = t1.n + 1 + u1.n, n2 = t2.n + 1 + u2.n;
  for (size_t i = 0; i < n1 && i < n2; i++) {
    uint8_t a = i < t1.n ? t1.p[i] : i == t1.n ? ':' : u1.p[i - t1.n - 1];
    uint8_t b = i < t2.n ? t2.p[i] : i == t2.n ? ':' : u2.p[i - t2.n - 1];
    if (a != b) return a < b ? -1 : 1;
  }
  return n1 < n2 ? -1 : n1 > n2;
}

static int type_order(const void *a, const void *b) {
  const pc_stacks_type_t *x = a, *y = b;
  return cat_cmp(x->type, x->unit, y->type, y->unit);
}

/* Count the selected samples per sample type (pass 1). */
static int count_types(pc_stacks_t *s, const pc_request_t *const *reqs, size_t n,
                       const pc_stacks_filter_t *f, pc_err_t *err) {
  uint32_t cap = 0;
  for (size_t q = 0; q < n; q++) {
    const pc_request_t *req = reqs[q];
    for (uint32_t r = 0; r < req->n_resources; r++) {
      if (!resource_selected(req, &req->resources[r], f)) continue;
      bool noted = false;
      for (uint32_t sc = 0; sc < req->resources[r].n_scopes; sc++) {
        const pc_scope_profiles_t *sp = &req->resources[r].scopes[sc];
        for (uint32_t k = 0; k < sp->n_profiles; k++) {
          const pc_profile_t *p = &sp->profiles[k];
          uint64_t count = 0;
          for (uint32_t i = 0; i < p->n_samples; i++)
            count += sample_selected(&req->dict, &p->samples[i], f);
          if (!count) continue;
          if (!noted && note_service(s, resource_service(req, &req->resources[r])))
            return oom(err);
          noted = true;
          pc_str_t type, unit;
          profile_type(&req->dict, p, &type, &unit);
          uint32_t t = 0;
          while (t < s->info.n_types &&
                 !(pc_str_eq(s->types[t].type, type) && pc_str_eq(s->types[t].unit, unit)))
            t++;
          if (t == s->info.n_types) {
            if (t == cap) {
              cap = cap ? 2 * cap : 8;
              pc_stacks_type_t *nt = realloc(s->types, cap * sizeof *nt);
              if (!nt) return oom(err);
              s->types = nt;
            }
            s->types[s->info.n_types++] = (pc_stacks_type_t){type, unit, 0};
          }
          s->types[t].samples += count;
        }
      }
    }
  }
  if (s->n_services) qsort(s->services, s->n_services, sizeof *s->services, str_order);
  if (s->info.n_types)
    qsort(s->types, s->info.n_types, sizeof *s->types, type_order);
  s->info.types = s->types;
  return 0;
}

/* The type asked for, or the default; -1 when nothing was selected. */
static int choose_type(pc_stacks_t *s, const pc_stacks_filter_t *f, pc_err_t *err) {
  pc_str_t want = f ? f->sample_type : (pc_str_t){0};
  int best = -1;
  for (uint32_t t = 0; t < s->info.n_types && want.n; t++) {
    const pc_stacks_type_t *ty = &s->types[t];
    if (ty->type.n + 1 + ty->unit.n == want.n &&
        memcmp(want.p, ty->type.p, ty->type.n) == 0 && want.p[ty->type.n] == ':' &&
        memcmp(want.p + ty->type.n + 1, ty->unit.p, ty->unit.n) == 0)
      return (int)t;
  }
  for (uint32_t t = 0; t < s->info.n_types; t++) {
    const pc_stacks_type_t *ty = &s->types[t];
    if (want.n && !pc_str_eq(ty->type, want)) continue;
    if (best < 0 || ty->samples > s->types[best].samples) best = (int)t;
  }
  if (best >= 0 || !want.n) {
    s->info.by_default = !want.n;
    return best;
  }
  char list[160] = "";
  size_t len = 0;
  for (uint32_t t = 0; t < s->info.n_types && len < sizeof list; t++) {
    int w = snprintf(list + len, sizeof list - len, "%s%.*s:%.*s", t ? ", " : "",
                     PC_STR_FMT(s->types[t].type), PC_STR_FMT(s->types[t].unit));
    if (w < 0) break;
    len += (size_t)w;
  }
  pc_err_set(err, PC_EINVAL, "no selected sample has sample type \"%.*s\" (%s%s)",
             PC_STR_FMT(want), s->info.n_types ? "there are: " : "no sample was selected",
             list);
  return -2;
}

/* Merge the selected samples of the chosen type into the builder (pass 2):
 * each request through a view that holds only those. */
static int merge_selection(pc_stacks_t *s, const pc_request_t *const *reqs, size_t n,
                           const pc_stacks_filter_t *f, pc_err_t *err) {
  pc_arena_t *scratch = pc_arena_new(0);
  int rc = 0;
  for (size_t q = 0; q < n && !rc; q++) {
    const pc_request_t *req = reqs[q];
    pc_request_t v = *req;
    v.metadata = NULL;
    v.resources = pc_arena_calloc(scratch, req->n_resources, sizeof *v.resources);
    if (req->n_resources && !v.resources) goto nomem;
    uint64_t kept = 0;
    for (uint32_t r = 0; r < req->n_resources; r++) {
      pc_resource_profiles_t *vr = &v.resources[r];
      *vr = req->resources[r];
      vr->scopes = pc_arena_calloc(scratch, vr->n_scopes, sizeof *vr->scopes);
      if (vr->n_scopes && !vr->scopes) goto nomem;
      for (uint32_t sc = 0; sc < vr->n_scopes; sc++) {
        const pc_scope_profiles_t *sp = &req->resources[r].scopes[sc];
        pc_scope_profiles_t *vs = &vr->scopes[sc];
        *vs = *sp;
        vs->n_profiles = 0;
        if (!resource_selected(req, &req->resources[r], f)) continue;
        vs->profiles = pc_arena_calloc(scratch, sp->n_profiles, sizeof *vs->profiles);
        if (sp->n_profiles && !vs->profiles) goto nomem;
        for (uint32_t k = 0; k < sp->n_profiles; k++) {
          const pc_profile_t *p = &sp->profiles[k];
          pc_str_t type, unit;
          profile_type(&req->dict, p, &type, &unit);
          if (!pc_str_eq(type, s->info.type) || !pc_str_eq(unit, s->info.unit)) continue;
          pc_profile_t *vp = &vs->profiles[vs->n_profiles];
          *vp = *p;
          vp->n_samples = 0;
          vp->samples = pc_arena_alloc(scratch, (size_t)p->n_samples * sizeof *vp->samples);
          if (p->n_samples && !vp->samples) goto nomem;
          for (uint32_t i = 0; i < p->n_samples; i++)
            if (sample_selected(&req->dict, &p->samples[i], f))
              vp->samples[vp->n_samples++] = p->samples[i];
          if (vp->n_samples) vs->n_profiles++, kept += vp->n_samples;
        }
      }
    }
    if (kept) rc = pc_builder_add(s->b, &v, err);
    pc_arena_reset(scratch);
  }
  pc_arena_free(scratch);
  return rc;
nomem:
  pc_arena_free(scratch);
  return oom(err);
}

/* ---- frames ----------------------------------------------------------------------- */

/* name with ';' as ':' and line breaks as spaces (copied only if needed). */
static int fold_safe(pc_arena_t *a, pc_str_t name, pc_str_t *out) {
  *out = name;
  size_t i = 0;
  while (i < name.n && name.p[i] != ';' && name.p[i] != '\n' && name.p[i] != '\r') i++;
  if (i == name.n) return 0;
  uint8_t *c = pc_arena_alloc(a, name.n);
  if (!c) return PC_ENOMEM;
  for (i = 0; i < name.n; i++) {
    uint8_t ch = name.p[i];
    c[i] = ch == ';' ? ':' : (ch == '\n' || ch == '\r') ? ' ' : ch;
  }
  *out = (pc_str_t){c, name.n};
  return 0;
}

/* "libc.so.6+0x1f2a3": the base name of the location's mapping file. */
static int unnamed(pc_arena_t *a, const pc_dictionary_t *d, const pc_location_t *l,
                   pc_str_t *out) {
  pc_str_t file = pc_dict_string(d, pc_dict_mapping(d, l->mapping_index)->filename_strindex);
  size_t base = file.n;
  while (base > 0 && file.p[base - 1] != '/') base--;
  file = file.n ? (pc_str_t){file.p + base, file.n - base} : (pc_str_t){(const uint8_t *)"", 0};
  char *c = pc_arena_alloc(a, file.n + 24);
  if (!c) return PC_ENOMEM;
  int n = snprintf(c, file.n + 24, "%.*s%s0x%llx", PC_STR_FMT(file), file.n ? "+" : "",
                   (unsigned long long)l->address);
  *out = (pc_str_t){(const uint8_t *)c, (size_t)n};
  return fold_safe(a, *out, out);
}

static int by_name(const void *a, const void *b, void *frames) {
  const frame_t *x = &((const frame_t *)frames)[*(const uint32_t *)a];
  const frame_t *y = &((const frame_t *)frames)[*(const uint32_t *)b];
  size_t n = x->name.n < y->name.n ? x->name.n : y->name.n;
  int c = n ? memcmp(x->name.p, y->name.p, n) : 0;
  return c ? c : (x->name.n > y->name.n) - (x->name.n < y->name.n);
}

/* Frames of every location of r (frames of location l start at first[l],
 * caller first, first[l + 1] - first[l] of them), named and ranked. Frame 0
 * is "[unknown]", for stacks without locations. */
static int build_frames(pc_stacks_t *s, uint32_t **first_out) {
  const pc_dictionary_t *d = &s->r->dict;
  uint32_t *first = pc_arena_alloc(s->arena, ((size_t)d->n_locations + 1) * sizeof *first);
  if (!first) return PC_ENOMEM;
  size_t n = 1;
  for (uint32_t l = 0; l < d->n_locations; l++) {
    first[l] = (uint32_t)n;
    n += d->locations[l].n_lines ? d->locations[l].n_lines : 1;
  }
  first[d->n_locations] = (uint32_t)n;
  if (n > UINT32_MAX) return PC_ELIMIT;
  frame_t *fr = pc_arena_alloc(s->arena, n * sizeof *fr);
  uint32_t *order = malloc(n * sizeof *order);
  if (!fr || !order) {
    free(order);
    return PC_ENOMEM;
  }
  fr[0] = (frame_t){.name = PC_STR_LIT("[unknown]")};
  for (uint32_t l = 0; l < d->n_locations; l++) {
    const pc_location_t *loc = &d->locations[l];
    frame_t *f = &fr[first[l]];
    int rc = 0;
    if (!loc->n_lines) {
      *f = (frame_t){0};
      rc = unnamed(s->arena, d, loc, &f->name);
    }
    for (uint32_t k = 0; k < loc->n_lines && !rc; k++) {
      /* lines are callee first; frames caller first */
      const pc_line_t *ln = &loc->lines[loc->n_lines - 1 - k];
      const pc_function_t *fn = pc_dict_function(d, ln->function_index);
      pc_str_t name = pc_dict_string(d, fn->name_strindex);
      if (!name.n) name = pc_dict_string(d, fn->system_name_strindex);
      f[k] = (frame_t){.file = pc_dict_string(d, fn->filename_strindex), .line = ln->line};
      rc = name.n ? fold_safe(s->arena, name, &f[k].name) : unnamed(s->arena, d, loc, &f[k].name);
    }
    if (rc) {
      free(order);
      return rc;
    }
  }
  for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  qsort_r(order, n, sizeof *order, by_name, fr);
  uint32_t rank = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && by_name(&order[i - 1], &order[i], fr)) rank++;
    fr[order[i]].rank = rank;
  }
  free(order);
  s->frames = fr;
  *first_out = first;
  return 0;
}

/* ---- entries: one per folded line ---------------------------------------------- */

static int by_ranks(const void *a, const void *b, void *frames) {
  const entry_t *x = a, *y = b;
  const frame_t *fr = frames;
  for (uint32_t i = 0; i < x->n && i < y->n; i++) {
    uint32_t rx = fr[x->frames[i]].rank, ry = fr[y->frames[i]].rank;
    if (rx != ry) return rx < ry ? -1 : 1;
  }
  return (x->n > y->n) - (x->n < y->n);
}

/* by_ranks, then by stack: qsort is not stable, and which of two equal
 * lines gives the tree its files and lines must not depend on it. */
static int by_ranks_then_stack(const void *a, const void *b, void *frames) {
  int c = by_ranks(a, b, frames);
  if (c) return c;
  const entry_t *x = a, *y = b;
  return (x->stack > y->stack) - (x->stack < y->stack);
}

static inline uint64_t magnitude(int64_t v) {
  return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int build_entries(pc_stacks_t *s) {
  const pc_dictionary_t *d = &s->r->dict;
  uint32_t *first;
  int rc = build_frames(s, &first);
  if (rc) return rc;
  entry_t *e = malloc(((size_t)d->n_stacks + 1) * sizeof *e);
  if (!e) return PC_ENOMEM;
  uint32_t n = 0;
  for (uint32_t st = 0; st < d->n_stacks; st++) {
    if (!s->values[st]) continue;
    const pc_i32s_t *locs = &pc_dict_stack(d, (int32_t)st)->location_indices;
    size_t nf = 0;
    for (uint32_t i = 0; i < locs->n; i++)
      nf += first[locs->v[i] + 1] - first[locs->v[i]];
    uint32_t *f = pc_arena_alloc(s->arena, (nf ? nf : 1) * sizeof *f);
    if (!f) {
      free(e);
      return PC_ENOMEM;
    }
    size_t k = 0;
    for (uint32_t i = locs->n; i-- > 0;) /* leaf first -> root first */
      for (uint32_t j = first[locs->v[i]]; j < first[locs->v[i] + 1]; j++) f[k++] = j;
    if (!nf) f[k++] = 0; /* "[unknown]" */
    e[n++] = (entry_t){f, (uint32_t)k, st, s->values[st], s->marked ? s->marked[st] : 0,
                       magnitude(s->values[st])};
  }
  qsort_r(e, n, sizeof *e, by_ranks_then_stack, s->frames);
  /* Sum equal lines, keeping the frames (files, lines) of the heaviest. */
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (m && by_ranks(&e[m - 1], &e[i], s->frames) == 0) {
      entry_t *t = &e[m - 1];
      if (e[i].heaviest > t->heaviest) t->frames = e[i].frames, t->heaviest = e[i].heaviest;
      t->value = sat_add(t->value, e[i].value);
      t->marked = sat_add(t->marked, e[i].marked);
      continue;
    }
    e[m++] = e[i];
  }
  /* Lines that summed to 0 are left out, as stacks that did. */
  uint32_t kept = 0;
  for (uint32_t i = 0; i < m; i++)
    if (e[i].value) e[kept++] = e[i];
  s->entries = e;
  s->n_entries = kept;
  s->info.stacks = kept;
  return 0;
}

/* ---- select ------------------------------------------------------------------------- */

int pc_stacks_select(const pc_request_t *const *reqs, size_t n, const pc_stacks_filter_t *f,
                     pc_stacks_t **out, pc_err_t *err) {
  *out = NULL;
  pc_stacks_t *s = calloc(1, sizeof *s);
  if (!s) return oom(err);
  s->arena = pc_arena_new(0);
  s->b = pc_builder_new();
  int rc = count_types(s, reqs, n, f, err);
  if (rc) goto fail;
  int t = choose_type(s, f, err);
  if (t == -2) {
    rc = PC_EINVAL;
    goto fail;
  }
  if (t >= 0) {
    s->info.type = s->types[t].type;
    s->info.unit = s->types[t].unit;
    if ((rc = merge_selection(s, reqs, n, f, err))) goto fail;
  }
  s->r = pc_builder_request(s->b);
  const pc_dictionary_t *d = &s->r->dict;
  s->values = calloc((size_t)d->n_stacks + 1, sizeof *s->values);
  if (!s->values) goto nomem;
  s->info.marking = f && (f->has_mark_trace_id || f->has_mark_span_id);
  if (s->info.marking && !(s->marked = calloc((size_t)d->n_stacks + 1, sizeof *s->marked)))
    goto nomem;
  for (uint32_t r = 0; r < s->r->n_resources; r++)
    for (uint32_t sc = 0; sc < s->r->resources[r].n_scopes; sc++) {
      const pc_scope_profiles_t *sp = &s->r->resources[r].scopes[sc];
      for (uint32_t k = 0; k < sp->n_profiles; k++) {
        const pc_profile_t *p = &sp->profiles[k];
        for (uint32_t i = 0; i < p->n_samples; i++) {
          int64_t v = sample_value(&p->samples[i]);
          int32_t st = p->samples[i].stack_index;
          s->values[st] = sat_add(s->values[st], v);
          s->info.total = sat_add(s->info.total, v);
          s->info.samples++;
          if (s->marked && link_matches(d, p->samples[i].link_index, f->has_mark_trace_id,
                                        f->mark_trace_id, f->has_mark_span_id,
                                        f->mark_span_id)) {
            s->marked[st] = sat_add(s->marked[st], v);
            s->info.marked = sat_add(s->info.marked, v);
            s->info.marked_samples++;
          }
        }
      }
    }
  /* Type and service names point into the requests, which may go after
   * this call. */
  for (uint32_t i = 0; i < s->info.n_types; i++) {
    pc_str_t *parts[2] = {&s->types[i].type, &s->types[i].unit};
    for (int j = 0; j < 2; j++)
      if (pc_arena_dup(s->arena, parts[j]->p, parts[j]->n, parts[j])) goto nomem;
  }
  for (size_t i = 0; i < s->n_services; i++)
    if (pc_arena_dup(s->arena, s->services[i].p, s->services[i].n, &s->services[i])) goto nomem;
  if (t >= 0) s->info.type = s->types[t].type, s->info.unit = s->types[t].unit;
  if ((rc = build_entries(s))) {
    pc_err_set(err, rc, "cannot aggregate stacks: %s", pc_strerror(rc));
    goto fail;
  }
  *out = s;
  return 0;
nomem:
  rc = oom(err);
fail:
  pc_stacks_free(s);
  return rc;
}

void pc_stacks_free(pc_stacks_t *s) {
  if (!s) return;
  pc_builder_free(s->b);
  pc_arena_free(s->arena);
  free(s->values);
  free(s->marked);
  free(s->types);
  free(s->services);
  free(s->entries);
  free(s);
}

const pc_stacks_info_t *pc_stacks_info(const pc_stacks_t *s) { return &s->info; }
const pc_request_t *pc_stacks_request(const pc_stacks_t *s) { return s->r; }
const int64_t *pc_stacks_values(const pc_stacks_t *s) { return s->values; }

const pc_str_t *pc_stacks_services(const pc_stacks_t *s, size_t *n) {
  *n = s->n_services;
  return s->services;
}

/* ---- output ------------------------------------------------------------------------- */

int pc_stacks_folded(const pc_stacks_t *s, pc_buf_t *out) {
  for (uint32_t i = 0; i < s->n_entries; i++) {
    const entry_t *e = &s->entries[i];
    for (uint32_t k = 0; k < e->n; k++) {
      pc_str_t name = s->frames[e->frames[k]].name;
      if ((k && pc_buf_append(out, ";", 1)) || pc_buf_append(out, name.p, name.n))
        return PC_ENOMEM;
    }
    if (pc_buf_printf(out, " %lld\n", (long long)e->value)) return PC_ENOMEM;
  }
  return 0;
}

typedef struct {
  uint32_t frame; /* UINT32_MAX: the root */
  int64_t value;
  int64_t marked;
  uint64_t heaviest;
  uint32_t line_frame; /* the frame of the heaviest line: file and line */
  uint32_t first_child, next_sibling, last_child; /* 0: none */
} node_t;

static int write_node_head(const pc_stacks_t *s, const node_t *n, pc_buf_t *out) {
  pc_str_t name = n->frame == UINT32_MAX ? PC_STR_LIT("root") : s->frames[n->frame].name;
  if (pc_buf_append(out, "{\"name\":", 8) || pc_buf_json_string(out, name.p, name.n) ||
      pc_buf_printf(out, ",\"value\":%lld", (long long)n->value))
    return PC_ENOMEM;
  if (n->marked && pc_buf_printf(out, ",\"marked\":%lld", (long long)n->marked))
    return PC_ENOMEM;
  if (n->frame != UINT32_MAX) {
    const frame_t *f = &s->frames[n->line_frame];
    if (f->file.n && (pc_buf_append(out, ",\"file\":", 8) ||
                      pc_buf_json_string(out, f->file.p, f->file.n)))
      return PC_ENOMEM;
    if (f->line && pc_buf_printf(out, ",\"line\":%lld", (long long)f->line)) return PC_ENOMEM;
  }
  return 0;
}

int pc_stacks_tree_json(const pc_stacks_t *s, pc_buf_t *out) {
  size_t total = 1;
  for (uint32_t i = 0; i < s->n_entries; i++) total += s->entries[i].n;
  node_t *nodes = calloc(total, sizeof *nodes);
  uint32_t *path = NULL;
  size_t depth_cap = 1;
  for (uint32_t i = 0; i < s->n_entries; i++)
    if (s->entries[i].n + 1 > depth_cap) depth_cap = s->entries[i].n + 1;
  path = malloc(depth_cap * sizeof *path);
  uint8_t *open_children = calloc(depth_cap, 1);
  int rc = PC_ENOMEM;
  if (!nodes || !path || !open_children) goto done;
  nodes[0].frame = UINT32_MAX;
  uint32_t n_nodes = 1;
  path[0] = 0;
  const entry_t *prev = NULL;
  for (uint32_t i = 0; i < s->n_entries; i++) {
    const entry_t *e = &s->entries[i];
    uint32_t common = 0;
    while (prev && common < prev->n && common < e->n &&
           s->frames[prev->frames[common]].rank == s->frames[e->frames[common]].rank)
      common++;
    for (uint32_t d = common; d < e->n; d++) {
      node_t *parent = &nodes[path[d]];
      uint32_t id = n_nodes++;
      nodes[id] = (node_t){.frame = e->frames[d]};
      if (parent->last_child) nodes[parent->last_child].next_sibling = id;
      else parent->first_child = id;
      parent->last_child = id;
      path[d + 1] = id;
    }
    for (uint32_t d = 0; d <= e->n; d++) {
      node_t *nd = &nodes[path[d]];
      nd->value = sat_add(nd->value, e->value);
      nd->marked = sat_add(nd->marked, e->marked);
      if (d && (magnitude(e->value) > nd->heaviest || nd->line_frame == 0)) {
        nd->heaviest = magnitude(e->value);
        nd->line_frame = e->frames[d - 1];
      }
    }
    prev = e;
  }
  /* Depth first, without recursion: stacks can be thousands of frames deep. */
  rc = write_node_head(s, &nodes[0], out);
  uint32_t depth = 0;
  for (bool ok = rc == 0; ok;) {
    node_t *cur = &nodes[path[depth]];
    uint32_t next;
    if (!open_children[depth] && cur->first_child) {
      open_children[depth] = 1;
      ok = !pc_buf_append(out, ",\"children\":[", 13);
      next = cur->first_child;
    } else {
      /* cur is done: close it, then on to its next sibling, or up */
      ok = !(open_children[depth] && pc_buf_append(out, "]", 1)) &&
           !pc_buf_append(out, "}", 1);
      open_children[depth] = 0;
      if (!ok || depth == 0) break;
      next = cur->next_sibling;
      depth--;
      if (!next) continue;
      ok = !pc_buf_append(out, ",", 1);
    }
    path[++depth] = next;
    open_children[depth] = 0;
    ok = ok && !write_node_head(s, &nodes[next], out);
    if (!ok) rc = PC_ENOMEM;
  }
done:
  free(nodes);
  free(path);
  free(open_children);
  return rc;
}
