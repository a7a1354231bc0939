/* workload.c - builds eBPF-profiler-like ExportProfilesServiceRequests of a
 * chosen encoded size from the synthetic world (world.c).
 *
 * One process is one ResourceProfiles with one scope and one CPU profile.
 * Its samples pick stacks of its service (hot stacks more often), a thread,
 * sometimes a trace link, and carry 1-10 events (values of 1 with
 * timestamps). World entries go into the request's dictionary the first time
 * a sample needs them, so the dictionary holds only what is used, once.
 *
 * The samples shape (PC_WORKLOAD_SAMPLES) draws each process's samples from
 * a small pool of its service's hot stacks over a few dozen threads (each
 * thread a thread.name and a thread.id attribute), links most samples of
 * traced services to spans (about three spans per trace), and plans many
 * more samples per process. The dictionary shape's draws are untouched by
 * it: its payloads stay byte-identical.
 *
 * Sizing: the encoded size is tracked exactly while building (the size
 * functions below mirror canonical protobuf). After each sample the total is
 * checked; a sample that passes the target is undone (table lengths restored
 * and the world-to-index maps cleared through an undo log). Later, cheaper
 * samples may still fit; the build stops after MAX_MISSES undone samples. */
#include "workload.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "world.h"

#define DEFAULT_TARGET 200000
#define DEFAULT_START 1795176000000000000u /* 2026-11-20T12:00:00Z */
#define WINDOW_NS 5000000000u               /* the agent reports every 5 s */
#define PERIOD_NS 50000000                  /* 20 Hz */
#define MAX_SAMPLES_PER_PROC 400
#define MAX_EVENTS 10
#define MAX_MISSES 64
/* The samples shape (a busy node): samples planned per process, its pool of
 * hot stacks and its threads, each a minimum and a random extra. */
#define BUSY_MIN_SAMPLES 800
#define BUSY_MORE_SAMPLES 2400
#define BUSY_MIN_POOL 40
#define BUSY_MORE_POOL 80
#define BUSY_HOT_STACKS 8 /* a pool's stacks are cuts of the service's first ones */
#define CUT_STRIDE 64      /* > the deepest world stack (60 frames) */
#define BUSY_MIN_THREADS 4
#define BUSY_MORE_THREADS 28
#define BUSY_MAX_EVENTS 4
#define BUSY_SAMPLES_PER_SPAN 12 /* planned samples per span: spans are several 50 ms long */

/* ---- canonical protobuf sizes --------------------------------------------- */
/* Every field number used here is below 16, so each tag is one byte. */

static size_t vsz(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* tag + length + payload of a length-delimited field */
static size_t ld(size_t n) { return 1 + vsz(n) + n; }
static size_t f_u64(uint64_t v) { return v ? 1 + vsz(v) : 0; }
static size_t f_i64(int64_t v) { return f_u64((uint64_t)v); }
static size_t f_i32(int32_t v) { return f_u64((uint64_t)(int64_t)v); }
static size_t f_bytes(pc_str_t s) { return s.n ? ld(s.n) : 0; }

static size_t f_packed_i32(pc_i32s_t l) {
  size_t n = 0;
  for (uint32_t i = 0; i < l.n; i++) n += vsz((uint64_t)(int64_t)l.v[i]);
  return l.n ? ld(n) : 0;
}

static size_t kv_size(const pc_keyvalue_t *kv);

/* AnyValue: the oneof member is written even when it holds its zero value. */
static size_t anyvalue_size(const pc_anyvalue_t *v) {
  size_t n = 0;
  switch (v->type) {
  case PC_AV_NONE: break;
  case PC_AV_STRING:
  case PC_AV_BYTES: n = ld(v->u.s.n); break;
  case PC_AV_BOOL: n = 2; break;
  case PC_AV_INT: n = 1 + vsz((uint64_t)v->u.i); break;
  case PC_AV_DOUBLE: n = 9; break;
  case PC_AV_STRINDEX: n = 1 + vsz((uint64_t)(int64_t)v->u.strindex); break;
  case PC_AV_ARRAY: {
    size_t body = 0;
    for (uint32_t i = 0; i < v->u.array.n; i++) body += ld(anyvalue_size(&v->u.array.v[i]));
    n = ld(body);
    break;
  }
  case PC_AV_KVLIST: {
    size_t body = 0;
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) body += ld(kv_size(&v->u.kvlist.v[i]));
    n = ld(body);
    break;
  }
  }
  return n;
}

static size_t kv_size(const pc_keyvalue_t *kv) {
  return f_bytes(kv->key) + (kv->has_value ? ld(anyvalue_size(&kv->value)) : 0) +
         f_i32(kv->key_strindex);
}

static size_t kvs_size(pc_kvs_t kvs) {
  size_t n = 0;
  for (uint32_t i = 0; i < kvs.n; i++) n += ld(kv_size(&kvs.v[i]));
  return n;
}

static size_t strs_size(pc_strs_t l) {
  size_t n = 0;
  for (uint32_t i = 0; i < l.n; i++) n += ld(l.v[i].n);
  return n;
}

static size_t resource_size(const pc_resource_t *r) {
  size_t n = kvs_size(r->attributes) + f_u64(r->dropped_attributes_count);
  for (uint32_t i = 0; i < r->n_entity_refs; i++) {
    const pc_entity_ref_t *e = &r->entity_refs[i];
    n += ld(f_bytes(e->schema_url) + f_bytes(e->type) + strs_size(e->id_keys) +
            strs_size(e->description_keys));
  }
  return n;
}

static size_t scope_size(const pc_scope_t *s) {
  return f_bytes(s->name) + f_bytes(s->version) + kvs_size(s->attributes) +
         f_u64(s->dropped_attributes_count);
}

static size_t valuetype_size(pc_valuetype_t vt) {
  return f_i32(vt.type_strindex) + f_i32(vt.unit_strindex);
}

static size_t sample_size(const pc_sample_t *s) {
  size_t vals = 0;
  for (uint32_t i = 0; i < s->n_values; i++) vals += vsz((uint64_t)s->values[i]);
  return f_i32(s->stack_index) + f_packed_i32(s->attribute_indices) + f_i32(s->link_index) +
         (s->n_values ? ld(vals) : 0) + (s->n_timestamps ? ld(8 * (size_t)s->n_timestamps) : 0);
}

/* A profile without its samples. */
static size_t profile_fixed_size(const pc_profile_t *p) {
  return (p->has_sample_type ? ld(valuetype_size(p->sample_type)) : 0) +
         (p->time_unix_nano ? 9 : 0) + f_u64(p->duration_nano) +
         (p->has_period_type ? ld(valuetype_size(p->period_type)) : 0) + f_i64(p->period) +
         f_bytes(p->profile_id) + f_u64(p->dropped_attributes_count) +
         f_bytes(p->original_payload_format) + f_bytes(p->original_payload) +
         f_packed_i32(p->attribute_indices);
}

static size_t profile_size(const pc_profile_t *p) {
  size_t n = profile_fixed_size(p);
  for (uint32_t i = 0; i < p->n_samples; i++) n += ld(sample_size(&p->samples[i]));
  return n;
}

static size_t scope_profiles_size(const pc_scope_profiles_t *sp) {
  size_t n = (sp->has_scope ? ld(scope_size(&sp->scope)) : 0) + f_bytes(sp->schema_url);
  for (uint32_t i = 0; i < sp->n_profiles; i++) n += ld(profile_size(&sp->profiles[i]));
  return n;
}

static size_t resource_profiles_size(const pc_resource_profiles_t *rp) {
  size_t n = (rp->has_resource ? ld(resource_size(&rp->resource)) : 0) + f_bytes(rp->schema_url);
  for (uint32_t i = 0; i < rp->n_scopes; i++) n += ld(scope_profiles_size(&rp->scopes[i]));
  return n;
}

static size_t mapping_size(const pc_mapping_t *m) {
  return f_u64(m->memory_start) + f_u64(m->memory_limit) + f_u64(m->file_offset) +
         f_i32(m->filename_strindex) + f_packed_i32(m->attribute_indices);
}

static size_t location_size(const pc_location_t *l) {
  size_t n = f_i32(l->mapping_index) + f_u64(l->address) + f_packed_i32(l->attribute_indices);
  for (uint32_t i = 0; i < l->n_lines; i++) {
    const pc_line_t *ln = &l->lines[i];
    n += ld(f_i32(ln->function_index) + f_i64(ln->line) + f_i64(ln->column));
  }
  return n;
}

static size_t function_size(const pc_function_t *f) {
  return f_i32(f->name_strindex) + f_i32(f->system_name_strindex) +
         f_i32(f->filename_strindex) + f_i64(f->start_line);
}

static size_t link_size(const pc_link_t *l) { return f_bytes(l->trace_id) + f_bytes(l->span_id); }

static size_t attr_size(const pc_attr_t *a) {
  return f_i32(a->key_strindex) + (a->has_value ? ld(anyvalue_size(&a->value)) : 0) +
         f_i32(a->unit_strindex);
}

static size_t stack_size(const pc_stack_t *s) { return f_packed_i32(s->location_indices); }

static size_t dictionary_size(const pc_dictionary_t *d) {
  size_t n = 0;
  for (uint32_t i = 0; i < d->n_mappings; i++) n += ld(mapping_size(&d->mappings[i]));
  for (uint32_t i = 0; i < d->n_locations; i++) n += ld(location_size(&d->locations[i]));
  for (uint32_t i = 0; i < d->n_functions; i++) n += ld(function_size(&d->functions[i]));
  for (uint32_t i = 0; i < d->n_links; i++) n += ld(link_size(&d->links[i]));
  for (uint32_t i = 0; i < d->n_strings; i++) n += ld(d->strings[i].n);
  for (uint32_t i = 0; i < d->n_attrs; i++) n += ld(attr_size(&d->attrs[i]));
  for (uint32_t i = 0; i < d->n_stacks; i++) n += ld(stack_size(&d->stacks[i]));
  return n;
}

size_t pc_workload_encoded_size(const pc_request_t *req) {
  size_t n = req->has_dictionary ? ld(dictionary_size(&req->dict)) : 0;
  for (uint32_t i = 0; i < req->n_resources; i++)
    n += ld(resource_profiles_size(&req->resources[i]));
  return n;
}

/* ---- generator state ----------------------------------------------------------- */

typedef struct {
  uint8_t trace_id[16], span_id[8];
} span_t;

/* A stack of the samples shape: a world stack cut to its first depth frames
 * from the root (sampled while a caller of its leaf ran). */
typedef struct {
  uint32_t stack, depth;
} cut_t;

/* A thread of a process in the samples shape. */
typedef struct {
  uint32_t name; /* world attribute id of its thread.name, 0: none */
  int64_t tid;
  int32_t idx; /* attribute index of its thread.id, 0: not in the table yet */
} thread_t;

/* The process being added. */
typedef struct {
  uint32_t svc;
  wl_rng_t r;
  pc_resource_profiles_t rp; /* resource, scope and profile set; samples below */
  pc_scope_profiles_t *sp;
  pc_profile_t *prof;
  size_t resource_bytes, scope_bytes, profile_fixed_bytes;
  WL_VEC(pc_sample_t) samples;
  WL_VEC(uint32_t) sample_stacks; /* world stack of each sample */
  size_t samples_bytes;
  uint32_t n_planned;
  double p_link;
  WL_VEC(span_t) spans;
  WL_VEC(int32_t) span_idx; /* link index per span, 0: not in the table yet */
  uint64_t *keys;           /* sample identities taken (open addressing) */
  uint32_t key_cap;
  /* samples shape: the hot stacks (world ids) and threads it samples */
  int64_t pid;
  WL_VEC(cut_t) pool;
  WL_VEC(thread_t) threads;
} proc_t;

typedef struct {
  jmp_buf oom;
  pc_arena_t *a;
  const pc_workload_opts_t *o;
  wl_world_t w;
  /* the dictionary being built; entry 0 of each is the zero entry */
  WL_VEC(pc_mapping_t) maps;
  WL_VEC(pc_location_t) locs;
  WL_VEC(pc_function_t) funcs;
  WL_VEC(pc_link_t) links;
  WL_VEC(pc_str_t) strs;
  WL_VEC(pc_attr_t) attrs;
  WL_VEC(pc_stack_t) stacks;
  size_t dict_body;
  /* world id -> dictionary index, 0: not added yet */
  int32_t *str_idx, *func_idx, *map_idx, *loc_idx, *attr_idx, *stack_idx;
  int32_t *cut_idx; /* samples shape: by stack * CUT_STRIDE + depth */
  pc_str_t *str_copy; /* arena copies of world strings, made once */
  WL_VEC(int32_t *) undo; /* index slots set since the process began */
  WL_VEC(pc_resource_profiles_t) res;
  size_t res_bytes;
  proc_t cur;
  uint32_t misses;       /* samples that did not fit the target */
  uint32_t last_proc;    /* the last process added */
  bool extend;           /* second try: process extend_proc draws more */
  uint32_t extend_proc;
  /* string ids of fixed strings */
  uint32_t s_samples, s_count, s_cpu, s_nanoseconds, s_thread_id;
  bool busy; /* PC_WORKLOAD_SAMPLES */
} gen_t;

/* Table lengths and sizes to roll back to. */
typedef struct {
  uint32_t maps, locs, funcs, links, strs, attrs, stacks, undo, samples;
  size_t dict_body, samples_bytes;
} snap_t;

static snap_t snap_take(const gen_t *g) {
  return (snap_t){g->maps.n, g->locs.n, g->funcs.n, g->links.n, g->strs.n, g->attrs.n,
                  g->stacks.n, g->undo.n, g->cur.samples.n, g->dict_body,
                  g->cur.samples_bytes};
}

static void snap_restore(gen_t *g, const snap_t *s) {
  while (g->undo.n > s->undo) *g->undo.v[--g->undo.n] = 0;
  g->maps.n = s->maps;
  g->locs.n = s->locs;
  g->funcs.n = s->funcs;
  g->links.n = s->links;
  g->strs.n = s->strs;
  g->attrs.n = s->attrs;
  g->stacks.n = s->stacks;
  g->cur.samples.n = g->cur.sample_stacks.n = s->samples;
  g->dict_body = s->dict_body;
  g->cur.samples_bytes = s->samples_bytes;
}

/* Request memory: from the caller's arena; running out ends the build. */
static void *ralloc(gen_t *g, size_t count, size_t size) {
  void *p = pc_arena_calloc(g->a, count ? count : 1, size);
  if (!p) longjmp(g->oom, 1);
  return p;
}

static pc_str_t rdup(gen_t *g, const void *p, size_t n) {
  pc_str_t s;
  if (pc_arena_dup(g->a, p, n, &s) != 0) longjmp(g->oom, 1);
  return s;
}

static int32_t set_idx(gen_t *g, int32_t *slot, uint32_t idx) {
  *slot = (int32_t)idx;
  *WL_PUSH(g->undo) = slot;
  return (int32_t)idx;
}

/* ---- dictionary entries from world entries ------------------------------------- */

static pc_str_t world_str(gen_t *g, uint32_t sid) {
  if (sid && !g->str_copy[sid].n) {
    pc_str_t s = g->w.strs.v[sid];
    g->str_copy[sid] = rdup(g, s.p, s.n);
  }
  return g->str_copy[sid];
}

static int32_t add_str(gen_t *g, uint32_t sid) {
  if (!sid || g->str_idx[sid]) return g->str_idx[sid];
  pc_str_t *s = WL_PUSH(g->strs);
  *s = world_str(g, sid);
  g->dict_body += ld(s->n);
  return set_idx(g, &g->str_idx[sid], g->strs.n - 1);
}

static int32_t add_attr(gen_t *g, uint32_t aid) {
  if (!aid || g->attr_idx[aid]) return g->attr_idx[aid];
  const wl_attr_t *wa = &g->w.attrs.v[aid];
  int32_t key = add_str(g, wa->key);
  pc_attr_t *a = WL_PUSH(g->attrs);
  a->key_strindex = key;
  a->has_value = true;
  a->value = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = world_str(g, wa->value)};
  g->dict_body += ld(attr_size(a));
  return set_idx(g, &g->attr_idx[aid], g->attrs.n - 1);
}

static int32_t add_func(gen_t *g, uint32_t fid) {
  if (g->func_idx[fid]) return g->func_idx[fid];
  const wl_func_t *wf = &g->w.funcs.v[fid];
  pc_function_t f = {.start_line = wf->start_line};
  f.name_strindex = add_str(g, wf->name);
  f.system_name_strindex = add_str(g, wf->system_name);
  f.filename_strindex = add_str(g, wf->filename);
  *WL_PUSH(g->funcs) = f;
  g->dict_body += ld(function_size(&f));
  return set_idx(g, &g->func_idx[fid], g->funcs.n - 1);
}

static pc_i32s_t one_index(gen_t *g, int32_t idx) {
  int32_t *v = ralloc(g, 1, sizeof *v);
  *v = idx;
  return (pc_i32s_t){v, 1};
}

static int32_t add_mapping(gen_t *g, uint32_t bin) {
  const wl_bin_t *b = &g->w.bins.v[bin];
  if (!b->path || g->map_idx[bin]) return g->map_idx[bin];
  pc_mapping_t m = {b->memory_start, b->memory_limit, b->file_offset, 0, {NULL, 2}};
  m.filename_strindex = add_str(g, b->path);
  m.attribute_indices.v = ralloc(g, 2, sizeof(int32_t));
  m.attribute_indices.v[0] = add_attr(g, b->build_ids[0]);
  m.attribute_indices.v[1] = add_attr(g, b->build_ids[1]);
  *WL_PUSH(g->maps) = m;
  g->dict_body += ld(mapping_size(&m));
  return set_idx(g, &g->map_idx[bin], g->maps.n - 1);
}

static int32_t add_location(gen_t *g, uint32_t lid) {
  if (g->loc_idx[lid]) return g->loc_idx[lid];
  const wl_loc_t *wl = &g->w.locs.v[lid];
  pc_location_t l = {.mapping_index = add_mapping(g, wl->bin), .address = wl->address,
                     .n_lines = wl->n_lines};
  l.lines = ralloc(g, wl->n_lines, sizeof *l.lines);
  for (uint32_t i = 0; i < wl->n_lines; i++)
    l.lines[i] = (pc_line_t){add_func(g, wl->func[i]), wl->line[i], 0};
  l.attribute_indices = one_index(g, add_attr(g, g->w.bins.v[wl->bin].frame_type));
  *WL_PUSH(g->locs) = l;
  g->dict_body += ld(location_size(&l));
  return set_idx(g, &g->loc_idx[lid], g->locs.n - 1);
}

/* Stacks are stored root first in the world and leaf first on the wire:
 * the first n frames of world stack stid, into the index slot. */
static int32_t add_stack_frames(gen_t *g, uint32_t stid, uint32_t n, int32_t *slot) {
  if (*slot) return *slot;
  const wl_stack_t *ws = &g->w.stacks.v[stid];
  pc_stack_t s = {{ralloc(g, n, sizeof(int32_t)), n}};
  for (uint32_t i = 0; i < n; i++)
    s.location_indices.v[i] = add_location(g, g->w.frames.v[ws->off + n - 1 - i]);
  *WL_PUSH(g->stacks) = s;
  g->dict_body += ld(stack_size(&s));
  return set_idx(g, slot, g->stacks.n - 1);
}

static int32_t add_stack(gen_t *g, uint32_t stid) {
  return add_stack_frames(g, stid, g->w.stacks.v[stid].n, &g->stack_idx[stid]);
}

static int32_t add_cut(gen_t *g, cut_t c) {
  return add_stack_frames(g, c.stack, c.depth, &g->cut_idx[c.stack * CUT_STRIDE + c.depth]);
}

/* thread.id of a thread of the current process (samples shape). */
static int32_t add_tid(gen_t *g, thread_t *t) {
  if (t->idx) return t->idx;
  pc_attr_t *a = WL_PUSH(g->attrs);
  a->key_strindex = add_str(g, g->s_thread_id);
  a->has_value = true;
  a->value = (pc_anyvalue_t){.type = PC_AV_INT, .u.i = t->tid};
  g->dict_body += ld(attr_size(a));
  return set_idx(g, &t->idx, g->attrs.n - 1);
}

static int32_t add_link(gen_t *g, uint32_t span) {
  proc_t *p = &g->cur;
  if (p->span_idx.v[span]) return p->span_idx.v[span];
  pc_link_t l;
  l.trace_id = rdup(g, p->spans.v[span].trace_id, 16);
  l.span_id = rdup(g, p->spans.v[span].span_id, 8);
  *WL_PUSH(g->links) = l;
  g->dict_body += ld(link_size(&l));
  return set_idx(g, &p->span_idx.v[span], g->links.n - 1);
}

/* ---- processes ------------------------------------------------------------------ */

static pc_str_t rfmt_hex(gen_t *g, wl_rng_t *r, size_t n) {
  char buf[64];
  for (size_t i = 0; i < n; i++) buf[i] = "0123456789abcdef"[wl_rng_below(r, 16)];
  return rdup(g, buf, n);
}

static pc_keyvalue_t kv_str(const char *key, pc_str_t v) {
  return (pc_keyvalue_t){.key = {(const uint8_t *)key, strlen(key)}, .has_value = true,
                         .value = {.type = PC_AV_STRING, .u.s = v}};
}

/* host.name of host h: the same for every process on that host. */
static pc_str_t host_name(gen_t *g, uint32_t host) {
  wl_rng_t r = wl_rng_fork(g->o->seed, 0x4000000000u + host);
  uint32_t b = wl_rng_below(&r, 256), c = wl_rng_below(&r, 256), d = 1 + wl_rng_below(&r, 254);
  char buf[64];
  int n = snprintf(buf, sizeof buf, "ip-10-%u-%u-%u.eu-west-1.compute.internal", b, c, d);
  return rdup(g, buf, (size_t)n);
}

static pc_str_t pod_name(gen_t *g, wl_rng_t *r, pc_str_t svc) {
  static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
  char buf[96];
  int n = snprintf(buf, 64, "%.*s-", PC_STR_FMT(svc));
  if (n < 0 || n > 63) n = 63;
  for (int i = 0; i < 16; i++)
    buf[n++] = i == 10 ? '-' : alnum[wl_rng_below(r, sizeof alnum - 1)];
  return rdup(g, buf, (size_t)n);
}

static void proc_resource(gen_t *g, proc_t *p, uint32_t host) {
  const wl_svc_t *s = &g->w.svcs.v[p->svc];
  pc_keyvalue_t *kv = ralloc(g, 8, sizeof *kv);
  uint32_t n = 0;
  kv[n++] = kv_str("host.name", host_name(g, host));
  p->pid = 100 + (int64_t)wl_rng_below(&p->r, 3000000);
  kv[n++] = (pc_keyvalue_t){.key = PC_STR_LIT("process.pid"), .has_value = true,
                            .value = {.type = PC_AV_INT, .u.i = p->pid}};
  kv[n++] = kv_str("process.executable.name", world_str(g, s->exe_name));
  kv[n++] = kv_str("process.executable.path", world_str(g, s->exe_path));
  kv[n++] = kv_str("service.name", world_str(g, s->name));
  if (s->k8s_namespace) {
    kv[n++] = kv_str("container.id", rfmt_hex(g, &p->r, 64));
    kv[n++] = kv_str("k8s.namespace.name", world_str(g, s->k8s_namespace));
    kv[n++] = kv_str("k8s.pod.name", pod_name(g, &p->r, world_str(g, s->name)));
  }
  p->rp.has_resource = true;
  p->rp.resource.attributes = (pc_kvs_t){kv, n};
  p->rp.schema_url = PC_STR_LIT("https://opentelemetry.io/schemas/1.34.0");
  p->resource_bytes = resource_size(&p->rp.resource);
}

static void proc_profile(gen_t *g, proc_t *p) {
  p->sp = ralloc(g, 1, sizeof *p->sp);
  p->sp->has_scope = true;
  p->sp->scope.name = PC_STR_LIT("go.opentelemetry.io/ebpf-profiler");
  p->sp->scope.version = PC_STR_LIT("v0.0.202547");
  p->scope_bytes = scope_size(&p->sp->scope);
  p->prof = ralloc(g, 1, sizeof *p->prof);
  p->sp->profiles = p->prof;
  p->sp->n_profiles = 1;
  p->rp.scopes = p->sp;
  p->rp.n_scopes = 1;
  pc_profile_t *pr = p->prof;
  pr->has_sample_type = pr->has_period_type = true;
  pr->sample_type.type_strindex = add_str(g, g->s_samples);
  pr->sample_type.unit_strindex = add_str(g, g->s_count);
  pr->period_type.type_strindex = add_str(g, g->s_cpu);
  pr->period_type.unit_strindex = add_str(g, g->s_nanoseconds);
  pr->period = PERIOD_NS;
  pr->time_unix_nano = g->o->start_time_unix_nano ? g->o->start_time_unix_nano : DEFAULT_START;
  pr->duration_nano = WINDOW_NS;
  uint8_t id[16];
  for (int i = 0; i < 16; i++) id[i] = (uint8_t)wl_rng_next(&p->r);
  pr->profile_id = rdup(g, id, sizeof id);
  p->profile_fixed_bytes = profile_fixed_size(pr);
}

/* The samples shape's plan: many samples over a pool of hot stacks and a
 * few dozen threads; in traced services most samples are linked, and a
 * trace covers about three of the process's spans. */
static uint32_t proc_plan_busy(gen_t *g, proc_t *p, bool extend) {
  const wl_svc_t *s = &g->w.svcs.v[p->svc];
  double u = wl_rng_unit(&p->r);
  p->n_planned = BUSY_MIN_SAMPLES + (uint32_t)(BUSY_MORE_SAMPLES * u * u);
  if (extend) p->n_planned += BUSY_MIN_SAMPLES + BUSY_MORE_SAMPLES;
  p->p_link = s->traced ? 0.5 + 0.4 * wl_rng_unit(&p->r) : 0;
  p->pool.n = 0;
  uint32_t n_pool = BUSY_MIN_POOL + wl_rng_below(&p->r, BUSY_MORE_POOL);
  uint32_t hot = s->n_stacks < BUSY_HOT_STACKS ? s->n_stacks : BUSY_HOT_STACKS;
  for (uint32_t i = 0; i < n_pool; i++) {
    cut_t c = {.stack = s->first_stack + wl_rng_hot(&p->r, hot)};
    const wl_stack_t *ws = &g->w.stacks.v[c.stack];
    uint32_t lo = ws->n / 2 > ws->root_len ? ws->n / 2 : ws->root_len;
    c.depth = lo + wl_rng_below(&p->r, ws->n - lo + 1);
    /* Stacks share prefixes: name a cut by the first hot stack that has
     * the same frames, so that equal stacks are one dictionary entry. */
    for (uint32_t k = s->first_stack; k < c.stack; k++) {
      const wl_stack_t *wk = &g->w.stacks.v[k];
      if (wk->n >= c.depth &&
          memcmp(&g->w.frames.v[wk->off], &g->w.frames.v[ws->off], c.depth * sizeof(uint32_t)) == 0) {
        c.stack = k;
        break;
      }
    }
    bool dup = false;
    for (uint32_t k = 0; k < p->pool.n && !dup; k++)
      dup = p->pool.v[k].stack == c.stack && p->pool.v[k].depth == c.depth;
    if (!dup) *WL_PUSH(p->pool) = c;
  }
  p->threads.n = 0;
  uint32_t n_threads = BUSY_MIN_THREADS + wl_rng_below(&p->r, BUSY_MORE_THREADS);
  for (uint32_t i = 0; i < n_threads; i++) {
    thread_t *t = WL_PUSH(p->threads);
    t->name = s->n_threads ? s->threads[wl_rng_below(&p->r, s->n_threads)] : 0;
    t->tid = p->pid + 1 + (int64_t)wl_rng_below(&p->r, 64) + 64 * (int64_t)i;
  }
  return 1 + p->n_planned / BUSY_SAMPLES_PER_SPAN;
}

/* Span ids this process may link samples to, and the sample plan. */
static void proc_plan(gen_t *g, proc_t *p, bool extend) {
  const wl_svc_t *s = &g->w.svcs.v[p->svc];
  uint32_t n_spans;
  if (g->busy) {
    n_spans = proc_plan_busy(g, p, extend);
  } else {
    double u = wl_rng_unit(&p->r);
    p->n_planned = 1 + (uint32_t)((MAX_SAMPLES_PER_PROC - 1) * u * u * u * u);
    if (extend) p->n_planned += MAX_SAMPLES_PER_PROC;
    p->p_link = s->traced ? 0.10 + 0.10 * wl_rng_unit(&p->r) : 0;
    n_spans = 1 + p->n_planned / 6;
  }
  p->spans.n = p->span_idx.n = 0;
  for (uint32_t i = 0; i < n_spans; i++) {
    span_t *sp = WL_PUSH(p->spans);
    if (g->busy && i && !wl_rng_chance(&p->r, 1.0 / 3))
      memcpy(sp->trace_id, p->spans.v[i - 1].trace_id, 16); /* another span of that trace */
    else
      for (int k = 0; k < 16; k++) sp->trace_id[k] = (uint8_t)wl_rng_next(&p->r);
    for (int k = 0; k < 8; k++) sp->span_id[k] = (uint8_t)wl_rng_next(&p->r);
    *WL_PUSH(p->span_idx) = 0;
  }
  uint32_t cap = 16;
  while (cap < 2 * p->n_planned) cap *= 2;
  if (cap > p->key_cap) {
    free(p->keys);
    p->keys = pc_xcalloc(cap, sizeof *p->keys);
    p->key_cap = cap;
  }
  memset(p->keys, 0, p->key_cap * sizeof *p->keys);
}

/* Start process i: the i-th process of the whole fleet, on host
 * first_host + i % hosts, so one host's processes do not depend on how many
 * hosts share the payload. */
static void proc_begin(gen_t *g, uint32_t i) {
  uint32_t hosts = g->o->hosts ? g->o->hosts : 1;
  uint32_t host = g->o->first_host + i % hosts;
  proc_t *p = &g->cur;
  p->r = wl_rng_fork(g->o->seed ^ ((uint64_t)host << 40), 0x10000 + i / hosts);
  p->svc = wl_world_pick_svc(&g->w, &p->r);
  p->rp = (pc_resource_profiles_t){0};
  p->samples.n = p->sample_stacks.n = 0;
  p->samples_bytes = 0;
  proc_resource(g, p, host);
  proc_profile(g, p);
  proc_plan(g, p, g->extend && i == g->extend_proc);
}

/* Mark a sample identity taken; false when it was already. */
static bool key_take(proc_t *p, uint64_t key) {
  uint64_t h = (key + 1) * 0x9e3779b97f4a7c15u;
  uint32_t mask = p->key_cap - 1;
  for (uint32_t i = (uint32_t)(h >> 32) & mask;; i = (i + 1) & mask) {
    if (p->keys[i] == key + 1) return false;
    if (!p->keys[i]) {
      p->keys[i] = key + 1;
      return true;
    }
  }
}

typedef struct {
  uint32_t stack, thread, span; /* world ids; span is an index + 1, 0: no link */
  uint32_t events;
} plan_t;

/* Draw the next sample of the samples shape: a stack of the pool (pl.stack
 * is its index in p->pool) on a thread (pl.thread: its index + 1 in
 * p->threads). The pool has no duplicates, so identities are distinct. */
static bool sample_draw_busy(proc_t *p, plan_t *out) {
  for (int attempt = 0; attempt < 4; attempt++) {
    plan_t pl = {.stack = wl_rng_hot(&p->r, p->pool.n),
                 .thread = 1 + wl_rng_hot(&p->r, p->threads.n)};
    if (wl_rng_chance(&p->r, p->p_link)) pl.span = 1 + wl_rng_below(&p->r, p->spans.n);
    double u = wl_rng_unit(&p->r);
    pl.events = 1 + (uint32_t)(u * u * u * u * BUSY_MAX_EVENTS);
    if (key_take(p, (uint64_t)pl.stack << 32 | (uint64_t)pl.thread << 20 | pl.span)) {
      *out = pl;
      return true;
    }
  }
  return false;
}

/* Draw the next sample; false when no distinct identity was found. */
static bool sample_draw(gen_t *g, proc_t *p, plan_t *out) {
  if (g->busy) return sample_draw_busy(p, out);
  const wl_svc_t *s = &g->w.svcs.v[p->svc];
  for (int attempt = 0; attempt < 4; attempt++) {
    plan_t pl = {.stack = s->first_stack + wl_rng_hot(&p->r, s->n_stacks)};
    pl.thread = g->w.stacks.v[pl.stack].thread;
    /* Near the target, prefer cheap samples: a stack this process already
     * has, on another thread of the pool. */
    bool again = g->misses && p->sample_stacks.n && wl_rng_chance(&p->r, 0.5);
    if (again) pl.stack = p->sample_stacks.v[wl_rng_below(&p->r, p->sample_stacks.n)];
    if (s->n_threads && (again || !pl.thread || wl_rng_chance(&p->r, 0.2)))
      pl.thread = s->threads[wl_rng_below(&p->r, s->n_threads)];
    if (wl_rng_chance(&p->r, p->p_link)) pl.span = 1 + wl_rng_below(&p->r, p->spans.n);
    double u = wl_rng_unit(&p->r);
    pl.events = 1 + (uint32_t)(u * u * u * MAX_EVENTS);
    if (key_take(p, (uint64_t)pl.stack << 32 | (uint64_t)pl.thread << 16 | pl.span)) {
      *out = pl;
      return true;
    }
  }
  return false;
}

static void sample_add(gen_t *g, proc_t *p, const plan_t *pl) {
  pc_sample_t s = {.stack_index = g->busy ? add_cut(g, p->pool.v[pl->stack])
                                          : add_stack(g, pl->stack)};
  if (g->busy) {
    thread_t *t = &p->threads.v[pl->thread - 1];
    int32_t *v = ralloc(g, 2, sizeof *v);
    uint32_t n = 0;
    if (t->name) v[n++] = add_attr(g, t->name);
    v[n++] = add_tid(g, t);
    s.attribute_indices = (pc_i32s_t){v, n};
  } else if (pl->thread) {
    s.attribute_indices = one_index(g, add_attr(g, pl->thread));
  }
  if (pl->span) s.link_index = add_link(g, pl->span - 1);
  s.n_values = s.n_timestamps = pl->events;
  s.values = ralloc(g, pl->events, sizeof *s.values);
  s.timestamps_unix_nano = ralloc(g, pl->events, sizeof *s.timestamps_unix_nano);
  uint64_t t0 = p->prof->time_unix_nano;
  for (uint32_t i = 0; i < pl->events; i++) {
    uint64_t t = t0 + wl_rng_next(&p->r) % WINDOW_NS, j = i;
    for (; j > 0 && s.timestamps_unix_nano[j - 1] > t; j--)
      s.timestamps_unix_nano[j] = s.timestamps_unix_nano[j - 1];
    s.timestamps_unix_nano[j] = t;
    s.values[i] = 1;
  }
  *WL_PUSH(p->samples) = s;
  *WL_PUSH(p->sample_stacks) = pl->stack; /* only the dictionary shape reads it */
  p->samples_bytes += ld(sample_size(&s));
}

/* Encoded size of the current process as it stands. */
static size_t proc_bytes(const proc_t *p) {
  size_t prof = p->profile_fixed_bytes + p->samples_bytes;
  size_t sp = ld(p->scope_bytes) + ld(prof);
  return ld(ld(p->resource_bytes) + ld(sp) + f_bytes(p->rp.schema_url));
}

static size_t total_bytes(const gen_t *g) {
  return g->res_bytes + (g->cur.samples.n ? proc_bytes(&g->cur) : 0) + ld(g->dict_body);
}

static void proc_commit(gen_t *g, proc_t *p) {
  p->prof->n_samples = p->samples.n;
  p->prof->samples = ralloc(g, p->samples.n, sizeof *p->prof->samples);
  memcpy(p->prof->samples, p->samples.v, p->samples.n * sizeof *p->samples.v);
  g->res_bytes += proc_bytes(p);
  *WL_PUSH(g->res) = p->rp;
  p->samples.n = p->sample_stacks.n = 0; /* counted in res_bytes now */
  p->samples_bytes = 0;
}

/* Add process i; false once the target is reached: MAX_MISSES samples in
 * all did not fit (cheaper ones, reusing what is in the tables, often still
 * do, so the size lands close below the target). */
static bool proc_run(gen_t *g, uint32_t i, size_t target) {
  proc_t *p = &g->cur;
  g->undo.n = 0;
  proc_begin(g, i);
  snap_t begin = snap_take(g); /* after the fixed strings the profile needs */
  for (uint32_t j = 0; j < p->n_planned && g->misses < MAX_MISSES; j++) {
    plan_t pl;
    if (!sample_draw(g, p, &pl)) continue;
    snap_t s = snap_take(g);
    sample_add(g, p, &pl);
    bool first = g->res.n == 0 && p->samples.n == 1;
    if (target && !first && total_bytes(g) > target) {
      snap_restore(g, &s);
      g->misses++;
    }
  }
  if (p->samples.n) {
    proc_commit(g, p);
    g->last_proc = i;
  } else {
    snap_restore(g, &begin);
  }
  return g->misses < MAX_MISSES;
}

/* ---- setup and result ------------------------------------------------------------ */

/* Entry 0 of every table; the zero link in its preferred form (zero bytes). */
static void dict_add_zero_entries(gen_t *g) {
  static const uint8_t zeros[16] = {0};
  (void)WL_PUSH(g->maps);
  (void)WL_PUSH(g->locs);
  (void)WL_PUSH(g->funcs);
  *WL_PUSH(g->links) = (pc_link_t){{zeros, 16}, {zeros, 8}};
  (void)WL_PUSH(g->strs);
  (void)WL_PUSH(g->attrs);
  (void)WL_PUSH(g->stacks);
  g->dict_body = 6 * ld(0) + ld(link_size(&g->links.v[0]));
}

static void dict_init(gen_t *g) {
  wl_world_t *w = &g->w;
  g->s_samples = wl_world_str(w, "samples");
  g->s_count = wl_world_str(w, "count");
  g->s_cpu = wl_world_str(w, "cpu");
  g->s_nanoseconds = wl_world_str(w, "nanoseconds");
  if (g->busy) g->s_thread_id = wl_world_str(w, "thread.id");
  g->str_idx = pc_xcalloc(w->strs.n, sizeof(int32_t));
  g->str_copy = pc_xcalloc(w->strs.n, sizeof(pc_str_t));
  g->func_idx = pc_xcalloc(w->funcs.n, sizeof(int32_t));
  g->map_idx = pc_xcalloc(w->bins.n, sizeof(int32_t));
  g->loc_idx = pc_xcalloc(w->locs.n, sizeof(int32_t));
  g->attr_idx = pc_xcalloc(w->attrs.n, sizeof(int32_t));
  g->stack_idx = pc_xcalloc(w->stacks.n, sizeof(int32_t));
  if (g->busy) g->cut_idx = pc_xcalloc((size_t)w->stacks.n * CUT_STRIDE, sizeof(int32_t));
  dict_add_zero_entries(g);
}

#define COPY_TABLE(g, dst, ndst, vec)                          \
  do {                                                         \
    (dst) = ralloc(g, (vec).n, sizeof *(vec).v);               \
    memcpy((dst), (vec).v, (size_t)(vec).n * sizeof *(vec).v); \
    (ndst) = (vec).n;                                          \
  } while (0)

static void finish(gen_t *g, pc_request_t *req) {
  pc_dictionary_t *d = &req->dict;
  req->has_dictionary = true;
  COPY_TABLE(g, d->mappings, d->n_mappings, g->maps);
  COPY_TABLE(g, d->locations, d->n_locations, g->locs);
  COPY_TABLE(g, d->functions, d->n_functions, g->funcs);
  COPY_TABLE(g, d->links, d->n_links, g->links);
  COPY_TABLE(g, d->strings, d->n_strings, g->strs);
  COPY_TABLE(g, d->attrs, d->n_attrs, g->attrs);
  COPY_TABLE(g, d->stacks, d->n_stacks, g->stacks);
  COPY_TABLE(g, req->resources, req->n_resources, g->res);
}

static void add_processes(gen_t *g, size_t target) {
  for (uint32_t i = 0; !g->o->processes || i < g->o->processes; i++) {
    if (!proc_run(g, i, target)) break;
  }
}

/* Forget the request built so far (the world stays; the arena keeps the
 * old request's memory until the caller resets it). */
static void dict_reset(gen_t *g) {
  const wl_world_t *w = &g->w;
  memset(g->str_idx, 0, w->strs.n * sizeof(int32_t));
  memset(g->func_idx, 0, w->funcs.n * sizeof(int32_t));
  memset(g->map_idx, 0, w->bins.n * sizeof(int32_t));
  memset(g->loc_idx, 0, w->locs.n * sizeof(int32_t));
  memset(g->attr_idx, 0, w->attrs.n * sizeof(int32_t));
  memset(g->stack_idx, 0, w->stacks.n * sizeof(int32_t));
  if (g->cut_idx) memset(g->cut_idx, 0, (size_t)w->stacks.n * CUT_STRIDE * sizeof(int32_t));
  g->maps.n = g->locs.n = g->funcs.n = g->links.n = g->strs.n = g->attrs.n = g->stacks.n = 0;
  g->res.n = 0;
  g->res_bytes = 0;
  g->misses = 0;
}

static void build(gen_t *g, pc_request_t *req) {
  wl_world_build(&g->w, g->o->seed);
  dict_init(g);
  size_t target = g->o->processes ? 0 : g->o->target_bytes ? g->o->target_bytes : DEFAULT_TARGET;
  add_processes(g, target);
  /* A small target, where one process is a big step: the last process
   * used up its samples 5% or more below the target and no next process
   * fits. Build again, letting that process draw more samples. */
  if (target && total_bytes(g) < target - target / 20) {
    dict_reset(g);
    dict_add_zero_entries(g);
    g->extend = true;
    g->extend_proc = g->last_proc;
    add_processes(g, target);
  }
  finish(g, req);
}

/* The only setjmp: an exhausted arena longjmps here from ralloc/rdup. */
static int build_guarded(gen_t *g, pc_request_t *req) {
  if (setjmp(g->oom)) return PC_ENOMEM;
  build(g, req);
  return 0;
}

static void gen_free(gen_t *g) {
  wl_world_free(&g->w);
  free(g->maps.v);
  free(g->locs.v);
  free(g->funcs.v);
  free(g->links.v);
  free(g->strs.v);
  free(g->attrs.v);
  free(g->stacks.v);
  free(g->str_idx);
  free(g->func_idx);
  free(g->map_idx);
  free(g->loc_idx);
  free(g->attr_idx);
  free(g->stack_idx);
  free(g->cut_idx);
  free(g->str_copy);
  free(g->undo.v);
  free(g->res.v);
  free(g->cur.samples.v);
  free(g->cur.sample_stacks.v);
  free(g->cur.spans.v);
  free(g->cur.span_idx.v);
  free(g->cur.keys);
  free(g->cur.pool.v);
  free(g->cur.threads.v);
  free(g);
}

int pc_workload_build(pc_arena_t *a, const pc_workload_opts_t *o, pc_request_t *req) {
  if (!a || !o || !req || o->target_bytes > PC_WORKLOAD_MAX_BYTES ||
      (o->shape != PC_WORKLOAD_DICTIONARY && o->shape != PC_WORKLOAD_SAMPLES))
    return PC_EINVAL;
  memset(req, 0, sizeof *req);
  req->arena = a;
  gen_t *g = pc_xcalloc(1, sizeof *g);
  g->a = a;
  g->o = o;
  g->busy = o->shape == PC_WORKLOAD_SAMPLES;
  int rc = build_guarded(g, req);
  gen_free(g);
  return rc;
}
