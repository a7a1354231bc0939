/* fold.c - the samples of a trace as folded stacks (internal.h), by the
 * rules of shared/spec/OTLP-PROFILES.md section 6: one sample type (asked
 * for, or the one with the most selected samples; ties: the first in byte
 * order of "TYPE:UNIT"); a line per distinct sequence of frame names, root
 * first, inlined frames caller first, each frame named by its function's
 * name (its system name when the name is empty), an unnamed frame by the
 * base name of its mapping's file and its address ("libc.so.6+0x1f2a3"), a
 * stack without locations "[unknown]"; ';' in names becomes ':' and line
 * breaks spaces, so a line always parses back; VALUE is the sum of the
 * samples' values, a sample with only timestamps counting 1 per timestamp;
 * lines in frame-by-frame byte order, those summing to 0 left out.
 *
 * The one idea: a line is keyed by the stack it came from. Each selected
 * sample's stack (an index into its request's table) is named once per
 * request, and equal name sequences from different stacks or requests are
 * merged by sorting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
  pc_str_t *frames; /* root first */
  uint32_t n;
  int64_t value;
} line_t;

typedef struct {
  pc_str_t type, unit;
  uint64_t samples;
} type_t;

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

static bool selected(const pc_dictionary_t *d, const pc_sample_t *s, const pc__fold_filter_t *f) {
  if (s->link_index <= 0 || (uint32_t)s->link_index >= d->n_links) return false;
  const pc_link_t *l = &d->links[s->link_index];
  if (l->trace_id.n != 16 || memcmp(l->trace_id.p, f->trace_id, 16)) return false;
  return !f->has_span_id || (l->span_id.n == 8 && memcmp(l->span_id.p, f->span_id, 8) == 0);
}

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

/* Byte order of "t1:u1" against "t2:u2". */
static int cat_cmp(pc_str_t t1, pc_str_t u1, pc_str_t t2, pc_str_t u2) {
  size_t n1 = t1.n + 1 + u1.n, n2 = t2.n + 1 + u2.n;
  for (size_t i = 0; i < n1 && i < n2; i++) {
    uint8_t a = i < t1.n ? t1.p[i] : i == t1.n ? ':' : u1.p[i - t1.n - 1];
    uint8_t b = i < t2.n ? t2.p[i] : i == t2.n ? ':' : u2.p[i - t2.n - 1];
    if (a != b) return a < b ? -1 : 1;
  }
  return n1 < n2 ? -1 : n1 > n2;
}

static int str_cmp(pc_str_t a, pc_str_t b) {
  size_t n = a.n < b.n ? a.n : b.n;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int line_cmp(const void *pa, const void *pb) {
  const line_t *a = pa, *b = pb;
  for (uint32_t i = 0; i < a->n && i < b->n; i++) {
    int c = str_cmp(a->frames[i], b->frames[i]);
    if (c) return c;
  }
  return (a->n > b->n) - (a->n < b->n);
}

/* name, with ';' as ':' and line breaks as spaces (copied only if needed). */
static int fold_safe(pc_arena_t *a, pc_str_t name, pc_str_t *out) {
  *out = name;
  if (!memchr(name.p, ';', name.n) && !memchr(name.p, '\n', name.n) &&
      !memchr(name.p, '\r', name.n))
    return 0;
  uint8_t *c = pc_arena_alloc(a, name.n);
  if (!c) return PC_ENOMEM;
  for (size_t i = 0; i < name.n; i++)
    c[i] = name.p[i] == ';' ? ':' : name.p[i] == '\n' || name.p[i] == '\r' ? ' ' : name.p[i];
  *out = (pc_str_t){c, name.n};
  return 0;
}

static int unnamed(pc_arena_t *a, const pc_dictionary_t *d, const pc_location_t *l,
                   pc_str_t *out) {
  pc_str_t file = pc_dict_string(d, pc_dict_mapping(d, l->mapping_index)->filename_strindex);
  size_t base = file.n;
  while (base > 0 && file.p[base - 1] != '/') base--;
  file = (pc_str_t){file.p + base, file.n - base};
  char *c = pc_arena_alloc(a, file.n + 24);
  if (!c) return PC_ENOMEM;
  int n = snprintf(c, file.n + 24, "%.*s%s0x%llx", (int)file.n, file.n ? (const char *)file.p : "",
                   file.n ? "+" : "", (unsigned long long)l->address);
  return fold_safe(a, (pc_str_t){(const uint8_t *)c, (size_t)n}, out);
}

/* The frames of stack st of d, root first, into a; *n of them. */
static int name_stack(pc_arena_t *a, const pc_dictionary_t *d, int32_t st, pc_str_t **out,
                      uint32_t *n) {
  const pc_i32s_t *locs = &pc_dict_stack(d, st)->location_indices;
  size_t nf = 0;
  for (uint32_t i = 0; i < locs->n; i++) {
    const pc_location_t *l = pc_dict_location(d, locs->v[i]);
    nf += l->n_lines ? l->n_lines : 1;
  }
  pc_str_t *f = pc_arena_alloc(a, (nf ? nf : 1) * sizeof *f);
  if (!f) return PC_ENOMEM;
  size_t k = 0;
  for (uint32_t i = locs->n; i-- > 0;) { /* locations leaf first: the root is last */
    const pc_location_t *l = pc_dict_location(d, locs->v[i]);
    if (!l->n_lines && unnamed(a, d, l, &f[k++])) return PC_ENOMEM;
    for (uint32_t j = l->n_lines; j-- > 0;) { /* lines callee first: the caller is last */
      const pc_function_t *fn = pc_dict_function(d, l->lines[j].function_index);
      pc_str_t name = pc_dict_string(d, fn->name_strindex);
      if (!name.n) name = pc_dict_string(d, fn->system_name_strindex);
      if (name.n ? fold_safe(a, name, &f[k]) : unnamed(a, d, l, &f[k])) return PC_ENOMEM;
      k++;
    }
  }
  if (!nf) f[k++] = PC_STR_LIT("[unknown]");
  *out = f;
  *n = (uint32_t)k;
  return 0;
}

/* Run the statements after f for every selected sample of reqs, with req,
 * prof and smp set. */
#define EACH_SELECTED(reqs, n, f, ...)                                                   \
  for (size_t q_ = 0; q_ < (n); q_++) {                                                  \
    const pc_request_t *req = (reqs)[q_];                                                \
    for (uint32_t r_ = 0; r_ < req->n_resources; r_++)                                   \
      for (uint32_t s_ = 0; s_ < req->resources[r_].n_scopes; s_++) {                    \
        const pc_scope_profiles_t *sp_ = &req->resources[r_].scopes[s_];                 \
        for (uint32_t k_ = 0; k_ < sp_->n_profiles; k_++) {                              \
          const pc_profile_t *prof = &sp_->profiles[k_];                                 \
          for (uint32_t i_ = 0; i_ < prof->n_samples; i_++) {                            \
            const pc_sample_t *smp = &prof->samples[i_];                                 \
            if (!selected(&req->dict, smp, (f))) continue;                               \
            __VA_ARGS__                                                                  \
          }                                                                              \
        }                                                                                \
      }                                                                                  \
  }

static int choose(type_t *types, uint32_t nt, pc_str_t want, pc__fold_info_t *info, pc_err_t *err) {
  int best = -1;
  info->by_default = !want.n;
  for (uint32_t t = 0; t < nt && want.n; t++) { /* "TYPE:UNIT" exactly */
    const type_t *ty = &types[t];
    if (ty->type.n + 1 + ty->unit.n == want.n && memcmp(want.p, ty->type.p, ty->type.n) == 0 &&
        want.p[ty->type.n] == ':' && memcmp(want.p + ty->type.n + 1, ty->unit.p, ty->unit.n) == 0)
      return (int)t;
  }
  /* "TYPE", or the default: the most samples; ties: the first in order */
  for (uint32_t t = 0; t < nt; t++) {
    if (want.n && !pc_str_eq(types[t].type, want)) continue;
    if (best < 0 || types[t].samples > types[best].samples) best = (int)t;
  }
  if (best >= 0 || !want.n) return best;
  char list[160] = "";
  size_t len = 0;
  for (uint32_t t = 0; t < nt && len < sizeof list; t++) {
    int w = snprintf(list + len, sizeof list - len, "%s%.*s:%.*s", t ? ", " : "",
                     (int)types[t].type.n, (const char *)types[t].type.p, (int)types[t].unit.n,
                     (const char *)types[t].unit.p);
    if (w < 0) break;
    len += (size_t)w;
  }
  pc_err_set(err, PC_EINVAL, "no selected sample has sample type \"%.*s\" (there are: %s)",
             (int)want.n, (const char *)want.p, list);
  return -2;
}

static int by_type(const void *a, const void *b) {
  const type_t *x = a, *y = b;
  return cat_cmp(x->type, x->unit, y->type, y->unit);
}

int pc__fold(const pc_request_t *const *reqs, size_t n, const pc__fold_filter_t *f,
             pc_buf_t *out, pc__fold_info_t *info, pc_err_t *err) {
  *info = (pc__fold_info_t){0};
  pc_arena_t *a = pc_arena_new(0);
  type_t *types = NULL;
  line_t *lines = NULL;
  uint32_t nt = 0, cap_t = 0;
  size_t nl = 0, cap_l = 0;
  int rc = 0;
  /* Pass 1: the sample types there are, with their selected samples. */
  EACH_SELECTED(reqs, n, f, {
    pc_str_t type, unit;
    profile_type(&req->dict, prof, &type, &unit);
    uint32_t t = 0;
    while (t < nt && !(pc_str_eq(types[t].type, type) && pc_str_eq(types[t].unit, unit))) t++;
    if (t == nt) {
      if (nt == cap_t) {
        cap_t = cap_t ? 2 * cap_t : 8;
        types = pc_xrealloc(types, cap_t * sizeof *types);
      }
      types[nt++] = (type_t){type, unit, 0};
    }
    types[t].samples++;
  })
  if (nt) qsort(types, nt, sizeof *types, by_type);
  int t = choose(types, nt, f->sample_type, info, err);
  if (t == -2) rc = PC_EINVAL;
  if (t < 0) goto done;
  if (pc_buf_printf(&info->type, "%.*s", (int)types[t].type.n, (const char *)types[t].type.p) ||
      pc_buf_printf(&info->unit, "%.*s", (int)types[t].unit.n, (const char *)types[t].unit.p))
    goto oom;
  info->samples = types[t].samples;
  /* Pass 2: a line per sample of that type (stacks named once per request). */
  for (size_t q = 0; q < n; q++) {
    const pc_request_t *one[1] = {reqs[q]};
    const pc_dictionary_t *d = &reqs[q]->dict;
    line_t *named = pc_arena_calloc(a, d->n_stacks ? d->n_stacks : 1, sizeof *named);
    if (!named) goto oom;
    EACH_SELECTED(one, 1, f, {
      pc_str_t type, unit;
      profile_type(d, prof, &type, &unit);
      if (!pc_str_eq(type, types[t].type) || !pc_str_eq(unit, types[t].unit)) continue;
      uint32_t st = (uint32_t)smp->stack_index < d->n_stacks ? (uint32_t)smp->stack_index : 0;
      line_t *ln = &named[st];
      if (!ln->frames && name_stack(a, d, (int32_t)st, &ln->frames, &ln->n)) goto oom;
      ln->value = sat_add(ln->value, sample_value(smp));
    })
    for (uint32_t st = 0; st < (d->n_stacks ? d->n_stacks : 1); st++) {
      if (!named[st].frames) continue;
      if (nl == cap_l) {
        cap_l = cap_l ? 2 * cap_l : 256;
        lines = pc_xrealloc(lines, cap_l * sizeof *lines);
      }
      lines[nl++] = named[st];
    }
  }
  if (nl) qsort(lines, nl, sizeof *lines, line_cmp);
  for (size_t i = 0; i < nl;) {
    size_t j = i + 1;
    int64_t v = lines[i].value;
    while (j < nl && line_cmp(&lines[i], &lines[j]) == 0) v = sat_add(v, lines[j++].value);
    if (v) {
      for (uint32_t k = 0; k < lines[i].n; k++)
        if (pc_buf_printf(out, "%s%.*s", k ? ";" : "", (int)lines[i].frames[k].n,
                          (const char *)lines[i].frames[k].p))
          goto oom;
      if (pc_buf_printf(out, " %lld\n", (long long)v)) goto oom;
      info->stacks++;
      info->total = sat_add(info->total, v);
    }
    i = j;
  }
  goto done;
oom:
  rc = pc_err_set(err, PC_ENOMEM, "out of memory folding stacks");
done:
  free(types);
  free(lines);
  pc_arena_free(a);
  return rc;
}

void pc__fold_info_free(pc__fold_info_t *info) {
  pc_buf_free(&info->type);
  pc_buf_free(&info->unit);
}
