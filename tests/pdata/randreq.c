/* randreq.c - random valid requests and meaning-preserving dictionary
 * rewrites (randreq.h), for the merge tests. */
#include "randreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t pc_rng_next(pc_rng_t *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint32_t pc_rng_below(pc_rng_t *r, uint32_t n) {
  return n ? (uint32_t)(pc_rng_next(r) % n) : 0;
}

static void *al(pc_arena_t *a, size_t n, size_t size) {
  void *p = pc_arena_calloc(a, n ? n : 1, size);
  if (!p) abort();
  return p;
}

static pc_str_t lit(const char *c) { return (pc_str_t){(const uint8_t *)c, strlen(c)}; }

/* ---- random requests ------------------------------------------------------- */

static const char *const words[] = {
    "",      "main",  "libc.so.6", "/usr/bin/app", "k",     "host.name", "h1",
    "h2",    "cpu",   "nanoseconds", "samples",   "count", "\xc3\xbc\xe2\x9c\x93", "a b",
    "process.executable.build_id.gnu", "deadbeef", "thread.name", "=;[]|"};
enum { N_WORDS = sizeof words / sizeof words[0] };

typedef struct {
  pc_rng_t *r;
  pc_arena_t *a;
  pc_dictionary_t *d;
} gen_t;

static uint32_t below(gen_t *g, uint32_t n) { return pc_rng_below(g->r, n); }
static pc_str_t word(gen_t *g) { return lit(words[below(g, N_WORDS)]); }
static int32_t sref(gen_t *g) { return (int32_t)below(g, g->d->n_strings); }

static pc_i32s_t refs(gen_t *g, uint32_t max_n, uint32_t table_n) {
  uint32_t n = table_n ? below(g, max_n + 1) : 0;
  if (!n) return (pc_i32s_t){0};
  int32_t *v = al(g->a, n, sizeof *v);
  for (uint32_t i = 0; i < n; i++) v[i] = (int32_t)below(g, table_n);
  return (pc_i32s_t){v, n};
}

static pc_anyvalue_t rand_value(gen_t *g, int depth);

static pc_keyvalue_t rand_kv(gen_t *g, int depth) {
  pc_keyvalue_t kv = {0};
  if (below(g, 2))
    kv.key = word(g);
  else
    kv.key_strindex = sref(g);
  kv.has_value = below(g, 5) != 0;
  if (kv.has_value) kv.value = rand_value(g, depth);
  return kv;
}

static pc_anyvalue_t rand_value(gen_t *g, int depth) {
  static const double doubles[] = {0.5, -0.0, 0.0, 1e300};
  pc_anyvalue_t v = {.type = (pc_av_type_t)below(g, depth < 2 ? 9 : 5)};
  if (depth >= 2 && v.type == PC_AV_NONE) v.type = PC_AV_STRINDEX;
  switch (v.type) {
  case PC_AV_STRING: v.u.s = word(g); break;
  case PC_AV_BYTES: v.u.s = below(g, 2) ? lit("\x01\x02") : (pc_str_t){0}; break;
  case PC_AV_BOOL: v.u.b = below(g, 2); break;
  case PC_AV_INT: v.u.i = (int64_t)below(g, 3) - 1; break;
  case PC_AV_DOUBLE: v.u.d = doubles[below(g, 4)]; break;
  case PC_AV_STRINDEX: v.u.strindex = sref(g); break;
  case PC_AV_ARRAY: {
    uint32_t n = below(g, 3);
    v.u.array.n = n;
    v.u.array.v = n ? al(g->a, n, sizeof *v.u.array.v) : NULL;
    for (uint32_t i = 0; i < n; i++) v.u.array.v[i] = rand_value(g, depth + 1);
    break;
  }
  case PC_AV_KVLIST: {
    uint32_t n = below(g, 3);
    v.u.kvlist.n = n;
    v.u.kvlist.v = n ? al(g->a, n, sizeof *v.u.kvlist.v) : NULL;
    for (uint32_t i = 0; i < n; i++) v.u.kvlist.v[i] = rand_kv(g, depth + 1);
    break;
  }
  default: break;
  }
  return v;
}

/* Resource attributes from a tiny pool, so equal resources recur. */
static pc_kvs_t rand_resource_kvs(gen_t *g) {
  uint32_t n = below(g, 3);
  if (!n) return (pc_kvs_t){0};
  pc_keyvalue_t *kv = al(g->a, n, sizeof *kv);
  for (uint32_t i = 0; i < n; i++) {
    switch (below(g, 5)) {
    case 0: kv[i] = rand_kv(g, 1); break;
    case 1:
      kv[i] = (pc_keyvalue_t){.key = lit("host.name"), .has_value = true,
                              .value = {.type = PC_AV_STRINDEX, .u.strindex = sref(g)}};
      break;
    default:
      kv[i] = (pc_keyvalue_t){.key = lit(below(g, 2) ? "host.name" : "service.name"),
                              .has_value = true,
                              .value = {.type = PC_AV_STRING, .u.s = lit(below(g, 2) ? "h1" : "h2")}};
    }
  }
  return (pc_kvs_t){kv, n};
}

static void rand_dictionary(gen_t *g) {
  pc_dictionary_t *d = g->d;
  d->n_strings = 1 + below(g, 12);
  d->n_functions = below(g, 6);
  d->n_mappings = below(g, 4);
  d->n_attrs = below(g, 6);
  d->n_locations = below(g, 7);
  d->n_stacks = below(g, 7);
  d->n_links = below(g, 4);
  d->strings = al(g->a, d->n_strings, sizeof *d->strings);
  for (uint32_t i = 1; i < d->n_strings; i++) d->strings[i] = word(g);
  d->functions = al(g->a, d->n_functions, sizeof *d->functions);
  for (uint32_t i = 1; i < d->n_functions; i++)
    d->functions[i] = (pc_function_t){sref(g), below(g, 3) ? 0 : sref(g), sref(g), below(g, 2)};
  d->mappings = al(g->a, d->n_mappings, sizeof *d->mappings);
  for (uint32_t i = 1; i < d->n_mappings; i++)
    d->mappings[i] = (pc_mapping_t){.memory_start = below(g, 2) * 0x1000u,
                                    .memory_limit = below(g, 2) * 0x9000u,
                                    .file_offset = below(g, 2) * 0x100u,
                                    .filename_strindex = sref(g),
                                    .attribute_indices = refs(g, 2, d->n_attrs)};
  d->attrs = al(g->a, d->n_attrs, sizeof *d->attrs);
  for (uint32_t i = 1; i < d->n_attrs; i++) {
    pc_attr_t *at = &d->attrs[i];
    *at = (pc_attr_t){.key_strindex = sref(g), .unit_strindex = below(g, 3) ? 0 : sref(g),
                      .has_value = below(g, 6) != 0};
    if (at->has_value) at->value = rand_value(g, 0);
  }
  d->locations = al(g->a, d->n_locations, sizeof *d->locations);
  for (uint32_t i = 1; i < d->n_locations; i++) {
    pc_location_t *l = &d->locations[i];
    *l = (pc_location_t){.mapping_index = (int32_t)below(g, d->n_mappings),
                         .address = below(g, 3) * 0x10u,
                         .n_lines = d->n_functions ? below(g, 3) : 0,
                         .attribute_indices = refs(g, 1, d->n_attrs)};
    l->lines = l->n_lines ? al(g->a, l->n_lines, sizeof *l->lines) : NULL;
    for (uint32_t k = 0; k < l->n_lines; k++)
      l->lines[k] = (pc_line_t){(int32_t)below(g, d->n_functions), below(g, 3), below(g, 2)};
  }
  d->stacks = al(g->a, d->n_stacks, sizeof *d->stacks);
  for (uint32_t i = 1; i < d->n_stacks; i++) d->stacks[i].location_indices = refs(g, 4, d->n_locations);
  static const char trace[][17] = {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10",
                                   "\x11\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"};
  static const char span[][9] = {"\xaa\xbb\xcc\xdd\xee\xff\x00\x11", "\x01\x00\x00\x00\x00\x00\x00\x00"};
  static const uint8_t zeros[16];
  d->links = al(g->a, d->n_links, sizeof *d->links);
  for (uint32_t i = 1; i < d->n_links; i++) {
    uint32_t t = below(g, 4), s = below(g, 4);
    d->links[i].trace_id = t < 2 ? (pc_str_t){(const uint8_t *)trace[t], 16}
                                 : (pc_str_t){t == 2 ? zeros : NULL, t == 2 ? 16 : 0};
    d->links[i].span_id = s < 2 ? (pc_str_t){(const uint8_t *)span[s], 8}
                                : (pc_str_t){s == 2 ? zeros : NULL, s == 2 ? 8 : 0};
  }
}

static void rand_sample(gen_t *g, pc_sample_t *s) {
  const pc_dictionary_t *d = g->d;
  *s = (pc_sample_t){.stack_index = (int32_t)below(g, d->n_stacks),
                     .attribute_indices = refs(g, 2, d->n_attrs),
                     .link_index = (int32_t)below(g, d->n_links)};
  s->n_values = below(g, 3);
  s->n_timestamps = s->n_values ? (below(g, 2) ? s->n_values : 0) : 1 + below(g, 2);
  s->values = s->n_values ? al(g->a, s->n_values, sizeof *s->values) : NULL;
  for (uint32_t i = 0; i < s->n_values; i++) s->values[i] = (int64_t)below(g, 4) - 1;
  s->timestamps_unix_nano = s->n_timestamps ? al(g->a, s->n_timestamps, 8) : NULL;
  for (uint32_t i = 0; i < s->n_timestamps; i++) s->timestamps_unix_nano[i] = 1000 + below(g, 3);
}

static void rand_profile(gen_t *g, pc_profile_t *p) {
  const pc_dictionary_t *d = g->d;
  *p = (pc_profile_t){.has_sample_type = below(g, 4) != 0,
                      .has_period_type = below(g, 2),
                      .sample_type = {sref(g), sref(g)},
                      .period_type = {sref(g), sref(g)},
                      .period = below(g, 2) * 50,
                      .time_unix_nano = below(g, 2) * 1000u,
                      .duration_nano = below(g, 2) * 5u,
                      .profile_id = below(g, 3) ? (pc_str_t){0} : lit("0123456789abcdef"),
                      .dropped_attributes_count = below(g, 2),
                      .original_payload_format = below(g, 4) ? (pc_str_t){0} : lit("pprof"),
                      .original_payload = below(g, 4) ? (pc_str_t){0} : lit("\x1f\x8b"),
                      .attribute_indices = refs(g, 2, d->n_attrs)};
  if (!p->has_sample_type) p->sample_type = (pc_valuetype_t){0};
  if (!p->has_period_type) p->period_type = (pc_valuetype_t){0};
  p->n_samples = below(g, 5);
  p->samples = p->n_samples ? al(g->a, p->n_samples, sizeof *p->samples) : NULL;
  for (uint32_t i = 0; i < p->n_samples; i++) rand_sample(g, &p->samples[i]);
}

static void rand_scope(gen_t *g, pc_scope_profiles_t *sp) {
  *sp = (pc_scope_profiles_t){.has_scope = below(g, 2),
                              .schema_url = below(g, 3) ? (pc_str_t){0} : lit("u")};
  if (sp->has_scope)
    sp->scope = (pc_scope_t){.name = below(g, 2) ? lit("ebpf") : (pc_str_t){0},
                             .version = below(g, 2) ? lit("1") : (pc_str_t){0},
                             .attributes = below(g, 3) ? (pc_kvs_t){0} : rand_resource_kvs(g),
                             .dropped_attributes_count = below(g, 4) == 0};
  sp->n_profiles = below(g, 3);
  sp->profiles = sp->n_profiles ? al(g->a, sp->n_profiles, sizeof *sp->profiles) : NULL;
  for (uint32_t i = 0; i < sp->n_profiles; i++) rand_profile(g, &sp->profiles[i]);
}

static void rand_resource(gen_t *g, pc_resource_profiles_t *rp) {
  *rp = (pc_resource_profiles_t){.has_resource = below(g, 4) != 0,
                                 .schema_url = below(g, 3) ? (pc_str_t){0} : lit("s")};
  if (rp->has_resource) {
    rp->resource.attributes = rand_resource_kvs(g);
    rp->resource.dropped_attributes_count = below(g, 5) == 0;
    if (below(g, 5) == 0) {
      pc_str_t *keys = al(g->a, 1, sizeof *keys);
      keys[0] = lit("service.name");
      rp->resource.n_entity_refs = 1;
      rp->resource.entity_refs = al(g->a, 1, sizeof *rp->resource.entity_refs);
      rp->resource.entity_refs[0] = (pc_entity_ref_t){.type = lit("service"),
                                                      .id_keys = {keys, 1}};
    }
  }
  rp->n_scopes = below(g, 3);
  rp->scopes = rp->n_scopes ? al(g->a, rp->n_scopes, sizeof *rp->scopes) : NULL;
  for (uint32_t i = 0; i < rp->n_scopes; i++) rand_scope(g, &rp->scopes[i]);
}

void pc_rand_request(pc_rng_t *r, pc_arena_t *a, pc_request_t *req) {
  memset(req, 0, sizeof *req);
  req->arena = a;
  req->has_dictionary = true;
  gen_t g = {r, a, &req->dict};
  rand_dictionary(&g);
  req->n_resources = below(&g, 3) + (below(&g, 4) != 0);
  req->resources = req->n_resources ? al(a, req->n_resources, sizeof *req->resources) : NULL;
  for (uint32_t i = 0; i < req->n_resources; i++) rand_resource(&g, &req->resources[i]);
}

/* ---- rewrites ---------------------------------------------------------------- */

enum { S, F, M, A, L, K, LK, N_T };

typedef struct {
  uint32_t n;        /* new length */
  int32_t *from;     /* new index -> old index it copies, -1 for padding */
  int32_t *copy[2];  /* old index -> new indices holding it, -1 for none */
} layout_t;

typedef struct {
  pc_rng_t *r;
  pc_arena_t *a;
  const pc_dictionary_t *in;
  layout_t lay[N_T];
} rw_t;

static uint32_t old_len(const pc_dictionary_t *d, int t) {
  const uint32_t n[N_T] = {d->n_strings, d->n_functions, d->n_mappings, d->n_attrs,
                           d->n_locations, d->n_stacks, d->n_links};
  return n[t];
}

static void shuffle(pc_rng_t *r, int32_t *v, uint32_t n) {
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = pc_rng_below(r, i);
    int32_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* Entry 0 stays at 0; the rest is laid out as the rewrite says. */
static void make_layout(rw_t *w, int t, pc_rewrite_t how) {
  uint32_t n = old_len(w->in, t);
  layout_t *l = &w->lay[t];
  uint32_t rest = n ? n - 1 : 0, pads = how == PC_REWRITE_PAD ? 1 + pc_rng_below(w->r, 3) : 0;
  uint32_t copies = how == PC_REWRITE_DUPLICATE ? 2 : 1;
  l->n = (n || pads) ? 1 + rest * copies + pads : 0;
  l->from = al(w->a, l->n, sizeof *l->from);
  for (uint32_t i = 0, k = 1; i < copies; i++)
    for (uint32_t o = 1; o < n; o++) l->from[k++] = (int32_t)o;
  for (uint32_t i = 0; i < pads; i++) l->from[1 + rest * copies + i] = -1;
  if (l->n > 1) shuffle(w->r, l->from + 1, l->n - 1);
  for (int c = 0; c < 2; c++) {
    l->copy[c] = al(w->a, n, sizeof(int32_t));
    memset(l->copy[c], 0xff, (n ? n : 1) * sizeof(int32_t));
  }
  for (uint32_t i = 1; i < l->n; i++) {
    int32_t o = l->from[i];
    if (o > 0) l->copy[l->copy[0][o] >= 0][o] = (int32_t)i;
  }
}

static int32_t pick(rw_t *w, int t, int32_t old) {
  if (old <= 0) return 0;
  const layout_t *l = &w->lay[t];
  int32_t c1 = l->copy[1][old];
  return c1 >= 0 && pc_rng_below(w->r, 2) ? c1 : l->copy[0][old];
}

static pc_i32s_t pick_list(rw_t *w, int t, pc_i32s_t in) {
  if (!in.n) return (pc_i32s_t){0};
  int32_t *v = al(w->a, in.n, sizeof *v);
  for (uint32_t i = 0; i < in.n; i++) v[i] = pick(w, t, in.v[i]);
  return (pc_i32s_t){v, in.n};
}

static pc_anyvalue_t rw_value(rw_t *w, const pc_anyvalue_t *v);

static pc_kvs_t rw_kvs(rw_t *w, pc_kvs_t in) {
  if (!in.n) return (pc_kvs_t){0};
  pc_keyvalue_t *o = al(w->a, in.n, sizeof *o);
  for (uint32_t i = 0; i < in.n; i++) {
    o[i] = in.v[i];
    o[i].key_strindex = pick(w, S, in.v[i].key_strindex);
    if (o[i].has_value) o[i].value = rw_value(w, &in.v[i].value);
  }
  return (pc_kvs_t){o, in.n};
}

static pc_anyvalue_t rw_value(rw_t *w, const pc_anyvalue_t *v) {
  pc_anyvalue_t o = *v;
  if (v->type == PC_AV_STRINDEX) o.u.strindex = pick(w, S, v->u.strindex);
  if (v->type == PC_AV_ARRAY && v->u.array.n) {
    o.u.array.v = al(w->a, v->u.array.n, sizeof *o.u.array.v);
    for (uint32_t i = 0; i < v->u.array.n; i++) o.u.array.v[i] = rw_value(w, &v->u.array.v[i]);
  }
  if (v->type == PC_AV_KVLIST) {
    pc_kvs_t kvs = rw_kvs(w, (pc_kvs_t){v->u.kvlist.v, v->u.kvlist.n});
    o.u.kvlist.v = kvs.v;
  }
  return o;
}

/* The old entry a new slot copies: padding copies a random one (possibly
 * entry 0, i.e. zero content at a non-zero index). */
static int32_t source(rw_t *w, int t, uint32_t i) {
  int32_t o = w->lay[t].from[i];
  if (o >= 0) return o;
  uint32_t n = old_len(w->in, t);
  return (int32_t)pc_rng_below(w->r, n);
}

static void rw_dictionary(rw_t *w, pc_dictionary_t *d) {
  const pc_dictionary_t *in = w->in;
  d->n_strings = w->lay[S].n;
  d->strings = al(w->a, d->n_strings, sizeof *d->strings);
  for (uint32_t i = 0; i < d->n_strings; i++) {
    int32_t o = source(w, S, i);
    if (w->lay[S].from[i] < 0 && pc_rng_below(w->r, 2)) {
      char *t = al(w->a, 16, 1);
      snprintf(t, 16, "pad-%u", i);
      d->strings[i] = lit(t);
    } else {
      d->strings[i] = in->n_strings ? in->strings[o] : (pc_str_t){0};
    }
  }
  d->n_functions = w->lay[F].n;
  d->functions = al(w->a, d->n_functions, sizeof *d->functions);
  for (uint32_t i = 0; i < d->n_functions; i++) {
    if (!in->n_functions) continue;
    const pc_function_t *f = &in->functions[source(w, F, i)];
    d->functions[i] = (pc_function_t){pick(w, S, f->name_strindex),
                                      pick(w, S, f->system_name_strindex),
                                      pick(w, S, f->filename_strindex), f->start_line};
  }
  d->n_mappings = w->lay[M].n;
  d->mappings = al(w->a, d->n_mappings, sizeof *d->mappings);
  for (uint32_t i = 0; i < d->n_mappings; i++) {
    if (!in->n_mappings) continue;
    const pc_mapping_t *m = &in->mappings[source(w, M, i)];
    d->mappings[i] = *m;
    d->mappings[i].filename_strindex = pick(w, S, m->filename_strindex);
    d->mappings[i].attribute_indices = pick_list(w, A, m->attribute_indices);
  }
  d->n_attrs = w->lay[A].n;
  d->attrs = al(w->a, d->n_attrs, sizeof *d->attrs);
  for (uint32_t i = 0; i < d->n_attrs; i++) {
    if (!in->n_attrs) continue;
    const pc_attr_t *at = &in->attrs[source(w, A, i)];
    d->attrs[i] = *at;
    d->attrs[i].key_strindex = pick(w, S, at->key_strindex);
    d->attrs[i].unit_strindex = pick(w, S, at->unit_strindex);
    if (at->has_value) d->attrs[i].value = rw_value(w, &at->value);
  }
  d->n_locations = w->lay[L].n;
  d->locations = al(w->a, d->n_locations, sizeof *d->locations);
  for (uint32_t i = 0; i < d->n_locations; i++) {
    if (!in->n_locations) continue;
    const pc_location_t *l = &in->locations[source(w, L, i)];
    pc_location_t *o = &d->locations[i];
    *o = *l;
    o->mapping_index = pick(w, M, l->mapping_index);
    o->attribute_indices = pick_list(w, A, l->attribute_indices);
    o->lines = l->n_lines ? al(w->a, l->n_lines, sizeof *o->lines) : NULL;
    for (uint32_t k = 0; k < l->n_lines; k++) {
      o->lines[k] = l->lines[k];
      o->lines[k].function_index = pick(w, F, l->lines[k].function_index);
    }
  }
  d->n_stacks = w->lay[K].n;
  d->stacks = al(w->a, d->n_stacks, sizeof *d->stacks);
  for (uint32_t i = 0; i < d->n_stacks; i++) {
    if (!in->n_stacks) continue;
    d->stacks[i].location_indices =
        pick_list(w, L, in->stacks[source(w, K, i)].location_indices);
  }
  d->n_links = w->lay[LK].n;
  d->links = al(w->a, d->n_links, sizeof *d->links);
  for (uint32_t i = 0; i < d->n_links; i++)
    if (in->n_links) d->links[i] = in->links[source(w, LK, i)];
}

static void rw_tree(rw_t *w, const pc_request_t *in, pc_request_t *out) {
  out->n_resources = in->n_resources;
  out->resources = al(w->a, in->n_resources, sizeof *out->resources);
  for (uint32_t r = 0; r < in->n_resources; r++) {
    const pc_resource_profiles_t *rp = &in->resources[r];
    pc_resource_profiles_t *orp = &out->resources[r];
    *orp = *rp;
    orp->resource.attributes = rw_kvs(w, rp->resource.attributes);
    orp->scopes = al(w->a, rp->n_scopes, sizeof *orp->scopes);
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      const pc_scope_profiles_t *sp = &rp->scopes[s];
      pc_scope_profiles_t *osp = &orp->scopes[s];
      *osp = *sp;
      osp->scope.attributes = rw_kvs(w, sp->scope.attributes);
      osp->profiles = al(w->a, sp->n_profiles, sizeof *osp->profiles);
      for (uint32_t p = 0; p < sp->n_profiles; p++) {
        const pc_profile_t *pr = &sp->profiles[p];
        pc_profile_t *o = &osp->profiles[p];
        *o = *pr;
        o->sample_type = (pc_valuetype_t){pick(w, S, pr->sample_type.type_strindex),
                                          pick(w, S, pr->sample_type.unit_strindex)};
        o->period_type = (pc_valuetype_t){pick(w, S, pr->period_type.type_strindex),
                                          pick(w, S, pr->period_type.unit_strindex)};
        o->attribute_indices = pick_list(w, A, pr->attribute_indices);
        o->samples = al(w->a, pr->n_samples, sizeof *o->samples);
        for (uint32_t i = 0; i < pr->n_samples; i++) {
          const pc_sample_t *sm = &pr->samples[i];
          o->samples[i] = *sm;
          o->samples[i].stack_index = pick(w, K, sm->stack_index);
          o->samples[i].link_index = pick(w, LK, sm->link_index);
          o->samples[i].attribute_indices = pick_list(w, A, sm->attribute_indices);
        }
      }
    }
  }
}

void pc_rewrite_request(pc_rng_t *r, pc_arena_t *a, const pc_request_t *in,
                        pc_rewrite_t how, pc_request_t *out) {
  memset(out, 0, sizeof *out);
  out->arena = a;
  out->has_dictionary = true;
  rw_t w = {.r = r, .a = a, .in = &in->dict};
  for (int t = 0; t < N_T; t++) make_layout(&w, t, how);
  rw_dictionary(&w, &out->dict);
  rw_tree(&w, in, out);
}
