/* trace_link.c - the `trace_link` processor: makes the links from profile
 * samples to spans trustworthy and useful (issue 15).
 *
 *   processors:
 *     trace_link:
 *       span_store: span_store      # the extension that keeps recent spans
 *       attributes: {span_name: span.name, local_root_name: span.local_root.name,
 *                    service_name: span.service.name}
 *       link_by_thread: false
 *       delay: 0s
 *
 * In a traces pipeline it records every span it sees in the span store
 * (component/host.h) and passes the traces on untouched. In a profiles
 * pipeline, on each request, in place:
 *
 * 1. Normalize links. A link whose trace_id is not 16 bytes or whose
 *    span_id is not 8, or whose ids are all zero, is dropped; equal links
 *    become one; the link table is compacted to the links that remain (the
 *    zero link first) and every sample's link_index rewritten; a sample
 *    whose link_index points outside the table, or at a dropped link, is
 *    unlinked (0). Each is counted by reason. (The receivers' decoders
 *    already refuse wrongly sized ids and out-of-range indices; data from
 *    other producers is normalized all the same.)
 * 2. Link by thread (link_by_thread, off by default): a sample without a
 *    link, with a thread.id attribute, a process.pid (sample, profile or
 *    resource attribute) and timestamps, is linked to the innermost span
 *    the store has for that process and thread that holds all of its
 *    timestamps. Process and thread ids repeat across hosts: turn this on
 *    where one profcol sees one host's spans and profiles (an agent or a
 *    sidecar), not on a gateway.
 * 3. Enrich: a linked sample whose span is in the store gets sample
 *    attributes (names configurable; "" leaves one out): the span's name,
 *    its local root's name (the entry point in its service, e.g. GET
 *    /checkout: a flame graph per endpoint), and the span's service.name
 *    when it differs from the profile resource's. An attribute with the
 *    same key already on the sample is replaced. New strings and attribute
 *    entries are interned (one entry per distinct key and value); the
 *    enlarged tables are copies in the request's arena.
 * 4. Keep the linked samples in the span store's window for the query API.
 *
 * Delay: spans are exported when they end, often seconds after the samples
 * taken inside them. With delay > 0 the processor holds each request
 * (a copy, with its client metadata) for that long before doing the above
 * and handing it on, the way the batch processor holds a batch: the client
 * is answered once the copy is held, and when the next consumer is full
 * new requests are refused (503) until it takes the held ones, so nothing
 * acknowledged is dropped. delay_max_bytes bounds the copies held. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../pdata/traces.h"
#include "processor.h"

#define RETRY_MS 200         /* a held request the next consumer refused: try again */
#define THREAD_SPANS_MAX 256 /* spans fetched per thread of a request */
#define FIND_BATCH 16        /* links looked up at once (two span records each on the stack) */

/* ---- config --------------------------------------------------------------------- */

typedef struct {
  char *span_store;
  char *span_name;
  char *root_name;
  char *service_name;
  bool link_by_thread;
  bool query_window;
  uint64_t delay_ms;
  uint64_t delay_max_bytes;
} tl_cfg_t;

static const pc_opt_t attr_opts[] = {
    PC_OPT_STR("span_name", "span.name", tl_cfg_t, span_name,
               "sample attribute for the linked span's name (\"\": none)"),
    PC_OPT_STR("local_root_name", "span.local_root.name", tl_cfg_t, root_name,
               "sample attribute for the name of the span's local root, the entry point "
               "of its service such as GET /checkout (\"\": none)"),
    PC_OPT_STR("service_name", "span.service.name", tl_cfg_t, service_name,
               "sample attribute for the span's service.name, set when it differs from "
               "the profile's (\"\": none)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t tl_opts[] = {
    PC_OPT_STR("span_store", "span_store", tl_cfg_t, span_store,
               "id of the span_store extension that keeps recent spans (listed in "
               "service.extensions)"),
    PC_OPT_SECTION("attributes", attr_opts, "names of the sample attributes a linked "
                   "sample gets from its span"),
    PC_OPT_BOOLEAN("link_by_thread", "false", tl_cfg_t, link_by_thread,
                   "link an unlinked sample to the span recorded for its process and thread "
                   "(process.pid, thread.id) at its timestamps; only where one profcol sees "
                   "one host"),
    PC_OPT_BOOLEAN("query_window", "true", tl_cfg_t, query_window,
                   "keep linked samples in the span store's window for its query API"),
    PC_OPT_DUR("delay", "0s", tl_cfg_t, delay_ms, 0, 60000,
               "hold each request this long first, so spans that end just after its "
               "samples are in the store (the client is answered once it is held)"),
    PC_OPT_BYTES("delay_max_bytes", "64MiB", tl_cfg_t, delay_max_bytes, 1, (int64_t)1 << 40,
                 "memory of the requests held for delay; more are refused (503) until "
                 "some are handed on"),
    PC_OPT_TABLE_END,
};

/* ---- instance ------------------------------------------------------------------- */

typedef struct held {
  struct held *next;
  pc_arena_t *arena;
  pc_request_t req;
  pc_bytes_t *md; /* client metadata, pc_md_encode form, or NULL */
  uint64_t due_ms;
  size_t bytes;
  uint64_t samples;
} held_t;

typedef struct {
  uint64_t links_bad_size, links_zero, links_duplicate;
  uint64_t unlinked_out_of_range, unlinked_dropped;
  uint64_t linked_samples, enriched_samples, thread_linked_samples;
  uint64_t spans_missing, spans_recorded;
  uint64_t held_dropped_samples;
} tl_stats_t;

typedef struct {
  pc_consumer_t consumer; /* first */
  char id[160];
  pc_consumer_t *next;
  tl_cfg_t cfg; /* strings owned */
  pc_str_t keys[3]; /* span name, root name, service: views of cfg's strings */
  pc_ref_t store_ref;
  const pc_span_store_t *store;
  uv_loop_t *loop;
  uv_timer_t timer;
  bool timer_open, stopping;
  held_t *head, *tail;
  size_t held_bytes;
  uint64_t held_requests;
  bool blocked; /* the head was refused with PC_EAGAIN: new data waits */
  uint64_t deadline_ms;
  pc_done_cb done;
  void *done_arg;
  pc_ratelimit_t rl;
  tl_stats_t st;
} tl_t;

enum { K_SPAN, K_ROOT, K_SERVICE };

static tl_t *tl_of(pc_consumer_t *c) { return container_of(c, tl_t, consumer); }

/* ---- 1. normalizing links --------------------------------------------------------- */

static const uint8_t zeros[16];

static bool all_zero(pc_str_t id) {
  for (size_t i = 0; i < id.n; i++)
    if (id.p[i]) return false;
  return true;
}

/* A small open-addressing map from (trace_id, span_id) to a link index, in
 * the request's arena; the links of a request are few (one per span). */
typedef struct {
  int32_t *slot; /* link index; 0: empty */
  uint32_t mask;
  const pc_link_t *links; /* what the indices refer to */
} linkmap_t;

static uint32_t link_hash(pc_str_t trace, pc_str_t span) {
  uint64_t a, b, c;
  memcpy(&a, trace.p, 8);
  memcpy(&b, trace.p + 8, 8);
  memcpy(&c, span.p, 8);
  uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (c * 0xC2B2AE3D27D4EB4FULL));
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return (uint32_t)(h ^ (h >> 32));
}

static int linkmap_init(linkmap_t *m, pc_arena_t *a, uint32_t n) {
  uint32_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  m->slot = pc_arena_calloc(a, cap, sizeof *m->slot);
  m->mask = cap - 1;
  return m->slot ? 0 : PC_ENOMEM;
}

/* The index of the link equal to (trace, span), or where it goes: *slot. */
static int32_t linkmap_find(const linkmap_t *m, pc_str_t trace, pc_str_t span, uint32_t *at) {
  uint32_t i = link_hash(trace, span) & m->mask;
  for (; m->slot[i]; i = (i + 1) & m->mask) {
    const pc_link_t *l = &m->links[m->slot[i]];
    if (memcmp(l->trace_id.p, trace.p, 16) == 0 && memcmp(l->span_id.p, span.p, 8) == 0)
      return m->slot[i];
  }
  *at = i;
  return 0;
}

/* Step 1; leaves in *lm the map of the remaining links (for step 2). */
static int normalize(tl_t *p, pc_request_t *req, linkmap_t *lm) {
  pc_dictionary_t *d = &req->dict;
  uint32_t n = d->n_links;
  int32_t *map = n ? pc_arena_alloc(req->arena, n * sizeof *map) : NULL;
  if ((n && !map) || linkmap_init(lm, req->arena, n + 1)) return PC_ENOMEM;
  lm->links = d->links;
  uint32_t kept = n ? 1 : 0;
  if (n) {
    map[0] = 0;
    d->links[0] = (pc_link_t){{zeros, 16}, {zeros, 8}}; /* index 0 is "not set" */
  }
  for (uint32_t i = 1; i < n; i++) {
    pc_link_t l = d->links[i];
    map[i] = 0;
    if (l.trace_id.n == 0 && l.span_id.n == 0) {
      p->st.links_zero++;
      continue;
    }
    if (l.trace_id.n != 16 || l.span_id.n != 8) {
      p->st.links_bad_size++;
      continue;
    }
    if (all_zero(l.trace_id) || all_zero(l.span_id)) {
      p->st.links_zero++;
      continue;
    }
    uint32_t at;
    int32_t same = linkmap_find(lm, l.trace_id, l.span_id, &at);
    if (same) {
      map[i] = same;
      p->st.links_duplicate++;
      continue;
    }
    d->links[kept] = l; /* kept <= i: compacting in place */
    lm->slot[at] = (int32_t)kept;
    map[i] = (int32_t)kept++;
  }
  d->n_links = kept;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++) {
      pc_scope_profiles_t *sp = &req->resources[r].scopes[s];
      for (uint32_t k = 0; k < sp->n_profiles; k++)
        for (uint32_t i = 0; i < sp->profiles[k].n_samples; i++) {
          pc_sample_t *smp = &sp->profiles[k].samples[i];
          int32_t li = smp->link_index;
          if (li == 0) continue;
          if (li < 0 || (uint32_t)li >= n) {
            smp->link_index = 0;
            p->st.unlinked_out_of_range++;
            continue;
          }
          smp->link_index = map[li];
          if (map[li]) p->st.linked_samples++;
          else p->st.unlinked_dropped++;
        }
    }
  return 0;
}

/* ---- growing the dictionary --------------------------------------------------------- */

/* New strings and attribute entries, interned among themselves (a hash
 * set each: a request can link to hundreds of spans), appended to the
 * tables once every one is known (one copy per table). */
typedef struct {
  uint32_t *slot; /* index + 1 into the new entries; 0: empty */
  uint32_t mask;
} iset_t;

typedef struct {
  pc_request_t *req;
  pc_str_t *strs; /* new strings, from index base_strs on */
  uint32_t n_strs, cap_strs;
  pc_attr_t *attrs;
  uint32_t n_attrs, cap_attrs;
  uint32_t base_strs, base_attrs;
  iset_t str_set, attr_set;
  int32_t key_str[3]; /* string index of each attribute key, once interned (0: not yet) */
} grow_t;

static int grow_push(pc_arena_t *a, void **v, uint32_t *n, uint32_t *cap, size_t size) {
  if (*n < *cap) return 0;
  uint32_t nc = *cap ? 2 * *cap : 16;
  void *nv = pc_arena_alloc(a, (size_t)nc * size);
  if (!nv) return PC_ENOMEM;
  if (*n) memcpy(nv, *v, (size_t)*n * size);
  *v = nv;
  *cap = nc;
  return 0;
}

/* Make room in set for one more of n entries (at most half full), rehashing
 * with hash_of(ctx, i) for entry i. */
static int iset_room(pc_arena_t *a, iset_t *set, uint32_t n, uint32_t (*hash_of)(const grow_t *, uint32_t),
                     const grow_t *g) {
  if (set->slot && (n + 1) * 2 <= set->mask + 1) return 0;
  uint32_t cap = set->slot ? 2 * (set->mask + 1) : 64;
  uint32_t *slot = pc_arena_calloc(a, cap, sizeof *slot);
  if (!slot) return PC_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t at = hash_of(g, i) & (cap - 1);
    while (slot[at]) at = (at + 1) & (cap - 1);
    slot[at] = i + 1;
  }
  set->slot = slot;
  set->mask = cap - 1;
  return 0;
}

static uint32_t str_hash(pc_str_t s) { return (uint32_t)pc_hash64(s.p, s.n); }
static uint32_t attr_hash(int32_t k, int32_t v) {
  uint64_t h = ((uint64_t)(uint32_t)k << 32 | (uint32_t)v) * 0x9E3779B97F4A7C15ULL;
  return (uint32_t)(h >> 32);
}
static uint32_t str_hash_of(const grow_t *g, uint32_t i) { return str_hash(g->strs[i]); }
static uint32_t attr_hash_of(const grow_t *g, uint32_t i) {
  return attr_hash(g->attrs[i].key_strindex, g->attrs[i].value.u.strindex);
}

/* The string index of s among the new strings (added when new). */
static int grow_string(grow_t *g, pc_str_t s, int32_t *out) {
  if (iset_room(g->req->arena, &g->str_set, g->n_strs, str_hash_of, g)) return PC_ENOMEM;
  uint32_t at = str_hash(s) & g->str_set.mask;
  for (; g->str_set.slot[at]; at = (at + 1) & g->str_set.mask)
    if (pc_str_eq(g->strs[g->str_set.slot[at] - 1], s)) {
      *out = (int32_t)(g->base_strs + g->str_set.slot[at] - 1);
      return 0;
    }
  if (grow_push(g->req->arena, (void **)&g->strs, &g->n_strs, &g->cap_strs, sizeof *g->strs))
    return PC_ENOMEM;
  /* The value lives in the store's copy on the stack: copy it. */
  pc_str_t copy;
  if (pc_arena_dup(g->req->arena, s.p, s.n, &copy)) return PC_ENOMEM;
  g->strs[g->n_strs] = copy;
  g->str_set.slot[at] = ++g->n_strs;
  *out = (int32_t)(g->base_strs + g->n_strs - 1);
  return 0;
}

/* The attribute keys[q] = value; each key is interned once a request, not
 * once a link. */
static int grow_attr(grow_t *g, const pc_str_t *keys, int q, pc_str_t value, int32_t *out) {
  int32_t k = g->key_str[q], v;
  if (!k && grow_string(g, keys[q], &k)) return PC_ENOMEM;
  g->key_str[q] = k;
  if (grow_string(g, value, &v)) return PC_ENOMEM;
  if (iset_room(g->req->arena, &g->attr_set, g->n_attrs, attr_hash_of, g)) return PC_ENOMEM;
  uint32_t at = attr_hash(k, v) & g->attr_set.mask;
  for (; g->attr_set.slot[at]; at = (at + 1) & g->attr_set.mask) {
    const pc_attr_t *a = &g->attrs[g->attr_set.slot[at] - 1];
    if (a->key_strindex == k && a->value.u.strindex == v) {
      *out = (int32_t)(g->base_attrs + g->attr_set.slot[at] - 1);
      return 0;
    }
  }
  if (grow_push(g->req->arena, (void **)&g->attrs, &g->n_attrs, &g->cap_attrs, sizeof *g->attrs))
    return PC_ENOMEM;
  g->attrs[g->n_attrs] = (pc_attr_t){.key_strindex = k, .has_value = true,
                                     .value = {.type = PC_AV_STRINDEX, .u.strindex = v}};
  g->attr_set.slot[at] = ++g->n_attrs;
  *out = (int32_t)(g->base_attrs + g->n_attrs - 1);
  return 0;
}

/* Replace table *v (n entries of size) by a copy with extra appended. */
static int append_table(pc_arena_t *a, void **v, uint32_t *n, const void *extra, uint32_t n_extra,
                        size_t size) {
  if (!n_extra) return 0;
  uint8_t *nv = pc_arena_alloc(a, ((size_t)*n + n_extra) * size);
  if (!nv) return PC_ENOMEM;
  if (*n) memcpy(nv, *v, (size_t)*n * size);
  memcpy(nv + (size_t)*n * size, extra, (size_t)n_extra * size);
  *v = nv;
  *n += n_extra;
  return 0;
}

static int grow_commit(grow_t *g) {
  pc_dictionary_t *d = &g->req->dict;
  if (g->n_strs && d->n_strings == 0) { /* entry 0 must be "" */
    pc_str_t empty = {0};
    if (append_table(g->req->arena, (void **)&d->strings, &d->n_strings, &empty, 1,
                     sizeof empty))
      return PC_ENOMEM;
  }
  if (g->n_attrs && d->n_attrs == 0) {
    pc_attr_t zero = {0};
    if (append_table(g->req->arena, (void **)&d->attrs, &d->n_attrs, &zero, 1, sizeof zero))
      return PC_ENOMEM;
  }
  if (append_table(g->req->arena, (void **)&d->strings, &d->n_strings, g->strs, g->n_strs,
                   sizeof *g->strs) ||
      append_table(g->req->arena, (void **)&d->attrs, &d->n_attrs, g->attrs, g->n_attrs,
                   sizeof *g->attrs))
    return PC_ENOMEM;
  g->req->has_dictionary = true;
  return 0;
}

static void grow_init(grow_t *g, pc_request_t *req) {
  *g = (grow_t){.req = req};
  /* Indices as they will be once committed (an empty table gets its zero
   * entry first). */
  g->base_strs = req->dict.n_strings ? req->dict.n_strings : 1;
  g->base_attrs = req->dict.n_attrs ? req->dict.n_attrs : 1;
}

/* ---- 2. linking by thread ------------------------------------------------------------ */

typedef struct {
  uint32_t pid, tid;
  uint64_t lo, hi; /* the timestamps of its samples */
  pc_thread_span_t *spans;
  size_t n_spans;
} thread_t;

#define KEY_PID PC_STR_LIT("process.pid")
#define KEY_TID PC_STR_LIT("thread.id")

static bool sample_thread(const pc_request_t *req, const pc_resource_profiles_t *rp,
                          const pc_profile_t *prof, const pc_sample_t *s, uint32_t *pid,
                          uint32_t *tid) {
  const pc_attr_t *t = pc_profiles_attr_find(req, s->attribute_indices, KEY_TID);
  if (!t || !t->has_value || !pc_anyvalue_u32(&req->dict, &t->value, tid)) return false;
  const pc_attr_t *a = pc_profiles_attr_find(req, s->attribute_indices, KEY_PID);
  if (!a) a = pc_profiles_attr_find(req, prof->attribute_indices, KEY_PID);
  if (a) return a->has_value && pc_anyvalue_u32(&req->dict, &a->value, pid);
  for (uint32_t i = 0; i < rp->resource.attributes.n; i++) {
    const pc_keyvalue_t *kv = &rp->resource.attributes.v[i];
    if (kv->has_value && pc_str_eq(pc_profiles_kv_key(req, kv), KEY_PID))
      return pc_anyvalue_u32(&req->dict, &kv->value, pid);
  }
  return false;
}

static thread_t *thread_of(thread_t *v, size_t n, uint32_t pid, uint32_t tid) {
  for (size_t i = 0; i < n; i++)
    if (v[i].pid == pid && v[i].tid == tid) return &v[i];
  return NULL;
}

/* The innermost span of th holding every timestamp of s, or NULL. */
static const pc_thread_span_t *span_at(const thread_t *th, const pc_sample_t *s) {
  const pc_thread_span_t *best = NULL;
  for (uint32_t k = 0; k < s->n_timestamps; k++) {
    uint64_t t = s->timestamps_unix_nano[k];
    const pc_thread_span_t *in = NULL;
    for (size_t i = 0; i < th->n_spans; i++) {
      const pc_thread_span_t *c = &th->spans[i];
      if (c->start_unix_nano <= t && t <= c->end_unix_nano &&
          (!in || c->start_unix_nano > in->start_unix_nano))
        in = c;
    }
    if (!in || (best && best != in)) return NULL;
    best = in;
  }
  return best;
}

/* Add a link (trace, span) to the table, or find it; its index. */
static int add_link(pc_request_t *req, linkmap_t *lm, pc_link_t **extra, uint32_t *n_extra,
                    uint32_t *cap_extra, const pc_thread_span_t *sp, int32_t *out) {
  pc_dictionary_t *d = &req->dict;
  pc_str_t trace = {sp->trace_id, 16}, span = {sp->span_id, 8};
  /* The map knows the table's links; the new ones are few: scan them. */
  uint32_t at;
  int32_t same = lm->slot ? linkmap_find(lm, trace, span, &at) : 0;
  if (same) {
    *out = same;
    return 0;
  }
  uint32_t base = d->n_links ? d->n_links : 1;
  for (uint32_t i = 0; i < *n_extra; i++)
    if (memcmp((*extra)[i].trace_id.p, sp->trace_id, 16) == 0 &&
        memcmp((*extra)[i].span_id.p, sp->span_id, 8) == 0) {
      *out = (int32_t)(base + i);
      return 0;
    }
  if (grow_push(req->arena, (void **)extra, n_extra, cap_extra, sizeof **extra)) return PC_ENOMEM;
  pc_str_t t, s;
  if (pc_arena_dup(req->arena, sp->trace_id, 16, &t) || pc_arena_dup(req->arena, sp->span_id, 8, &s))
    return PC_ENOMEM;
  (*extra)[*n_extra] = (pc_link_t){t, s};
  *out = (int32_t)(base + (*n_extra)++);
  return 0;
}

static int link_by_thread(tl_t *p, pc_request_t *req, linkmap_t *lm) {
  /* Pass 1: the threads of the unlinked samples, with their time ranges. */
  thread_t *threads = NULL;
  uint32_t n_threads = 0, cap_threads = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    for (uint32_t sc = 0; sc < rp->n_scopes; sc++)
      for (uint32_t k = 0; k < rp->scopes[sc].n_profiles; k++) {
        const pc_profile_t *prof = &rp->scopes[sc].profiles[k];
        for (uint32_t i = 0; i < prof->n_samples; i++) {
          const pc_sample_t *s = &prof->samples[i];
          uint32_t pid, tid;
          if (s->link_index || !s->n_timestamps || !sample_thread(req, rp, prof, s, &pid, &tid))
            continue;
          thread_t *th = thread_of(threads, n_threads, pid, tid);
          if (!th) {
            if (grow_push(req->arena, (void **)&threads, &n_threads, &cap_threads,
                          sizeof *threads))
              return PC_ENOMEM;
            th = &threads[n_threads++];
            *th = (thread_t){.pid = pid, .tid = tid, .lo = UINT64_MAX};
          }
          for (uint32_t t = 0; t < s->n_timestamps; t++) {
            if (s->timestamps_unix_nano[t] < th->lo) th->lo = s->timestamps_unix_nano[t];
            if (s->timestamps_unix_nano[t] > th->hi) th->hi = s->timestamps_unix_nano[t];
          }
        }
      }
  }
  if (!n_threads) return 0;
  /* Pass 2: the spans of each thread, one store call per thread. */
  for (uint32_t i = 0; i < n_threads; i++) {
    thread_t *th = &threads[i];
    th->spans = pc_arena_alloc(req->arena, THREAD_SPANS_MAX * sizeof *th->spans);
    if (!th->spans) return PC_ENOMEM;
    th->n_spans = p->store->on_thread(p->store, th->pid, th->tid, th->lo, th->hi, th->spans,
                                      THREAD_SPANS_MAX);
  }
  /* Pass 3: link. */
  pc_link_t *extra = NULL;
  uint32_t n_extra = 0, cap_extra = 0;
  uint64_t linked = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    for (uint32_t sc = 0; sc < rp->n_scopes; sc++)
      for (uint32_t k = 0; k < rp->scopes[sc].n_profiles; k++) {
        pc_profile_t *prof = &rp->scopes[sc].profiles[k];
        for (uint32_t i = 0; i < prof->n_samples; i++) {
          pc_sample_t *s = &prof->samples[i];
          uint32_t pid, tid;
          if (s->link_index || !s->n_timestamps || !sample_thread(req, rp, prof, s, &pid, &tid))
            continue;
          const pc_thread_span_t *sp = span_at(thread_of(threads, n_threads, pid, tid), s);
          if (!sp) continue;
          int32_t li;
          if (add_link(req, lm, &extra, &n_extra, &cap_extra, sp, &li)) return PC_ENOMEM;
          s->link_index = li;
          linked++;
        }
      }
  }
  pc_dictionary_t *d = &req->dict;
  if (n_extra && d->n_links == 0) {
    pc_link_t zero = {{zeros, 16}, {zeros, 8}};
    if (append_table(req->arena, (void **)&d->links, &d->n_links, &zero, 1, sizeof zero))
      return PC_ENOMEM;
  }
  if (append_table(req->arena, (void **)&d->links, &d->n_links, extra, n_extra, sizeof *extra))
    return PC_ENOMEM;
  if (n_extra) req->has_dictionary = true;
  if (linked) req->encoded_n = 0; /* the bytes no longer say what the samples link to */
  p->st.thread_linked_samples += linked;
  return 0;
}

/* ---- 3. enriching ----------------------------------------------------------------------- */

#define LIST_INLINE 6 /* the longest list before that a link's next sample can share */

typedef struct {
  bool found;
  int32_t attr[2];       /* span name, root name: attribute indices (0: none) */
  pc_str_t service;      /* the span's service (in the request's arena) */
  int32_t service_attr;  /* its attribute, made when first needed */
  uint32_t service_res;  /* resource + 1 that add was resolved for (0: none) */
  bool service_differs;  /* from that resource's service.name */
  /* What a sample of this link in that resource gets, resolved once per
   * (link, resource) rather than once per sample: attribute indices of the
   * request's grown dictionary, the service's last when service_differs. */
  int32_t add[3];
  uint8_t n_add;
  /* The new attribute list of its last sample (lists_get): */
  pc_i32s_t last;        /* the list (v NULL: none) */
  int32_t last_old[LIST_INLINE]; /* that sample's list before */
  uint8_t last_n;
  bool last_service;     /* whether the service attribute was added */
} link_info_t;

/* The samples' new attribute lists. */
typedef struct {
  pc_request_t *req;
  uint8_t *kind; /* per attribute of the request, before enriching: 0 not looked at,
                  * 1 one of ours (dropped from the list), 2 kept */
} lists_t;

/* Whether attribute a of the request has one of our keys: such an attribute
 * is replaced (or dropped when this sample gets no value for it). Looked up
 * once per attribute, not once per sample. */
static bool attr_ours(const tl_t *p, lists_t *ls, int32_t a) {
  const pc_dictionary_t *d = &ls->req->dict;
  if ((uint32_t)a >= d->n_attrs) return false; /* the zero attribute: no key */
  if (!ls->kind[a]) {
    pc_str_t key = pc_dict_string(d, d->attrs[a].key_strindex);
    bool ours = false;
    for (int q = 0; q < 3 && !ours; q++) ours = p->keys[q].n && pc_str_eq(key, p->keys[q]);
    ls->kind[a] = ours ? 1 : 2;
  }
  return ls->kind[a] == 1;
}

/* The new list of a sample of link li that had old and gets add (ours
 * replace any attribute of the same key; add ends with the service attribute
 * when service). A sample whose link and list before are those of the
 * link's previous sample shares that sample's new list (lists are never
 * edited in place; the attributes processor shares them too): samples taken
 * inside one span mostly ran on one thread, so one list, built once, serves
 * most of a span's samples. Only the link's last list is kept, inline: a
 * sample that does not match it costs a compare of a few integers at hand
 * (a hash set of all the pairs cost more than building the lists). */
static int lists_get(const tl_t *p, lists_t *ls, link_info_t *li, pc_i32s_t old,
                     const int32_t *add, uint32_t n_add, bool service, pc_i32s_t *out) {
  if (li->last.v && li->last_n == old.n && li->last_service == service &&
      (!old.n || memcmp(li->last_old, old.v, old.n * sizeof *old.v) == 0)) {
    *out = li->last;
    return 0;
  }
  pc_arena_t *a = ls->req->arena;
  if (!ls->kind && ls->req->dict.n_attrs &&
      !(ls->kind = pc_arena_calloc(a, ls->req->dict.n_attrs, sizeof *ls->kind)))
    return PC_ENOMEM;
  int32_t *v = pc_arena_alloc(a, ((size_t)old.n + n_add) * sizeof *v);
  if (!v) return PC_ENOMEM;
  uint32_t n = 0;
  for (uint32_t i = 0; i < old.n; i++)
    if (!attr_ours(p, ls, old.v[i])) v[n++] = old.v[i];
  for (uint32_t i = 0; i < n_add; i++) v[n++] = add[i];
  /* Kept from the locals: *out may be old's own field, and reading it back
   * right after storing it halves stalls on store forwarding. */
  pc_i32s_t list = {v, n};
  *out = list;
  if (old.n <= LIST_INLINE) {
    li->last = list;
    li->last_n = (uint8_t)old.n;
    li->last_service = service;
    if (old.n) memcpy(li->last_old, old.v, old.n * sizeof *old.v);
  } else {
    li->last = (pc_i32s_t){0};
  }
  return 0;
}

/* li's add for the samples of resource r (whose service.name is
 * prof_service): the span and root name attributes, and the service's when
 * it differs from the profile's (interned when first needed). */
static int resolve_add(const tl_t *p, grow_t *g, link_info_t *li, uint32_t r,
                       pc_str_t prof_service) {
  li->service_res = r + 1;
  li->service_differs =
      p->keys[K_SERVICE].n && li->service.n && !pc_str_eq(li->service, prof_service);
  if (li->service_differs && !li->service_attr &&
      grow_attr(g, p->keys, K_SERVICE, li->service, &li->service_attr))
    return PC_ENOMEM;
  uint8_t n = 0;
  if (li->attr[0]) li->add[n++] = li->attr[0];
  if (li->attr[1]) li->add[n++] = li->attr[1];
  if (li->service_differs) li->add[n++] = li->service_attr;
  li->n_add = n;
  return 0;
}

static int enrich(tl_t *p, pc_request_t *req) {
  pc_dictionary_t *d = &req->dict;
  if (d->n_links < 2) return 0;
  link_info_t *info = pc_arena_calloc(req->arena, d->n_links, sizeof *info);
  if (!info) return PC_ENOMEM;
  grow_t g;
  grow_init(&g, req);
  bool any = false;
  /* The store looks up FIND_BATCH links at a time, overlapping their
   * cache misses (a million spans are about 100 MB). */
  pc_span_rec_t spans[FIND_BATCH], roots[FIND_BATCH];
  bool found[FIND_BATCH];
  for (uint32_t first = 1; first < d->n_links; first += FIND_BATCH) {
    uint32_t n = d->n_links - first < FIND_BATCH ? d->n_links - first : FIND_BATCH;
    p->store->find_many(p->store, &d->links[first], n, spans, p->keys[K_ROOT].n ? roots : NULL,
                        found);
    for (uint32_t k = 0; k < n; k++) {
      if (!found[k]) {
        p->st.spans_missing++;
        continue;
      }
      const pc_span_rec_t *span = &spans[k], *root = &roots[k];
      link_info_t *li = &info[first + k];
      li->found = any = true;
      if (p->keys[K_SPAN].n &&
          grow_attr(&g, p->keys, K_SPAN, (pc_str_t){(const uint8_t *)span->name, span->name_n},
                    &li->attr[0]))
        return PC_ENOMEM;
      if (p->keys[K_ROOT].n &&
          grow_attr(&g, p->keys, K_ROOT, (pc_str_t){(const uint8_t *)root->name, root->name_n},
                    &li->attr[1]))
        return PC_ENOMEM;
      if (pc_arena_dup(req->arena, span->service, span->service_n, &li->service))
        return PC_ENOMEM;
    }
  }
  if (!any) return 0;
  /* The samples: their new attribute lists come from the arena (lists_get). */
  lists_t ls = {.req = req};
  for (uint32_t r = 0; r < req->n_resources; r++) {
    pc_resource_profiles_t *rp = &req->resources[r];
    pc_str_t prof_service = pc_profiles_kvs_string(req, &rp->resource.attributes,
                                                   PC_STR_LIT("service.name"));
    for (uint32_t sc = 0; sc < rp->n_scopes; sc++)
      for (uint32_t k = 0; k < rp->scopes[sc].n_profiles; k++) {
        pc_profile_t *prof = &rp->scopes[sc].profiles[k];
        for (uint32_t i = 0; i < prof->n_samples; i++) {
          pc_sample_t *s = &prof->samples[i];
          if (s->link_index <= 0) continue;
          link_info_t *li = &info[s->link_index];
          if (!li->found) continue;
          if (li->service_res != r + 1 && resolve_add(p, &g, li, r, prof_service))
            return PC_ENOMEM;
          if (!li->n_add) continue;
          if (lists_get(p, &ls, li, s->attribute_indices, li->add, li->n_add,
                        li->service_differs, &s->attribute_indices))
            return PC_ENOMEM;
          p->st.enriched_samples++;
        }
      }
  }
  return grow_commit(&g);
}

/* ---- a request ---------------------------------------------------------------------- */

static int process(tl_t *p, pc_request_t *req, pc_err_t *err) {
  if (!req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow tables in", p->id);
  linkmap_t lm = {0};
  int rc = normalize(p, req, &lm);
  if (!rc && p->cfg.link_by_thread) rc = link_by_thread(p, req, &lm);
  if (!rc) rc = enrich(p, req);
  if (rc) return pc_err_set(err, rc, "%s: out of memory linking samples to spans", p->id);
  if (p->cfg.query_window) p->store->add_profiles(p->store, req);
  return 0;
}

static int hand_on(tl_t *p, pc_request_t *req, pc_err_t *err) {
  int rc = process(p, req, err);
  return rc ? rc : p->next->consume_profiles(p->next, req, err);
}

/* ---- holding for delay ------------------------------------------------------------------- */

static void drain(tl_t *p);

static void held_free(held_t *h) {
  pc_arena_free(h->arena);
  pc_bytes_unref(h->md);
  free(h);
}

static void arm(tl_t *p, uint64_t now);

static void tl_on_timer(uv_timer_t *t) { drain(container_of(t, tl_t, timer)); }

/* Hand on every held request that is due (all of them once stopping). */
static void drain(tl_t *p) {
  uint64_t now = uv_now(p->loop);
  while (p->head && (p->stopping || p->head->due_ms <= now)) {
    held_t *h = p->head;
    pc_metadata_t md = {0};
    if (h->md && pc_md_decode(h->md->p, h->md->n, &md) == 0) h->req.metadata = &md;
    pc_err_t err = {0};
    int rc = hand_on(p, &h->req, &err);
    free((void *)md.v);
    h->req.metadata = NULL;
    if (rc == PC_EAGAIN) {
      if (!p->blocked)
        pc_log(p->id, PC_LOG_WARN, "the next consumer is full (%s); holding %" PRIu64
               " requests (%zu of %" PRIu64 " bytes) and refusing new ones until it takes them",
               err.msg, p->held_requests, p->held_bytes, p->cfg.delay_max_bytes);
      p->blocked = true;
      break;
    }
    if (p->blocked) pc_log(p->id, PC_LOG_INFO, "the next consumer takes data again");
    p->blocked = false;
    if (rc) {
      p->st.held_dropped_samples += h->samples;
      uint64_t skipped;
      if (pc_ratelimit(&p->rl, 10000, &skipped)) {
        char sup[48];
        pc_log(p->id, PC_LOG_ERROR, "dropped a held request of %" PRIu64 " samples: the next "
               "consumer refused it for good: %s%s", h->samples, err.msg, pc_suppressed(skipped, sup));
      }
    }
    p->head = h->next;
    if (!p->head) p->tail = NULL;
    p->held_bytes -= h->bytes;
    p->held_requests--;
    held_free(h);
  }
  arm(p, now);
}

static int hold(tl_t *p, const pc_request_t *req, pc_err_t *err) {
  if (p->stopping) return pc_err_set(err, PC_EAGAIN, "%s is shutting down", p->id);
  if (p->blocked)
    return pc_err_set(err, PC_EAGAIN, "%s holds %" PRIu64 " requests the next consumer has "
                      "not taken yet", p->id, p->held_requests);
  if (p->held_bytes >= p->cfg.delay_max_bytes)
    return pc_err_set(err, PC_EAGAIN, "%s holds %zu bytes for its delay (delay_max_bytes %"
                      PRIu64 ")", p->id, p->held_bytes, p->cfg.delay_max_bytes);
  held_t *h = pc_xcalloc(1, sizeof *h);
  h->arena = pc_arena_new(16 * 1024); /* grows by doubling to the request's size */
  int rc = pc_request_clone(req, h->arena, &h->req, err);
  if (rc) {
    held_free(h);
    return rc;
  }
  h->req.metadata = NULL;
  h->md = pc_md_bytes(req->metadata);
  h->bytes = pc_arena_used(h->arena) + (h->md ? h->md->n : 0);
  h->samples = pc_request_sample_count(req);
  h->due_ms = uv_now(p->loop) + p->cfg.delay_ms;
  if (p->tail) p->tail->next = h;
  else p->head = h;
  p->tail = h;
  p->held_bytes += h->bytes;
  p->held_requests++;
  if (p->head == h) arm(p, uv_now(p->loop));
  return 0;
}

static void tl_on_timer_closed(uv_handle_t *h) {
  tl_t *p = container_of((uv_timer_t *)h, tl_t, timer);
  pc_done_cb done = p->done;
  p->done = NULL;
  if (done) done(p->done_arg);
}

/* Shutdown's end: what is still held is dropped, said so, and the timer
 * closed; done follows from its close callback. */
static void finish(tl_t *p) {
  if (p->head) {
    uint64_t samples = 0, n = 0;
    for (held_t *h = p->head; h; h = h->next) samples += h->samples, n++;
    pc_log(p->id, PC_LOG_ERROR, "shutdown deadline passed: dropping %" PRIu64 " held requests "
           "(%" PRIu64 " samples) the next consumer did not take", n, samples);
    p->st.held_dropped_samples += samples;
    while (p->head) {
      held_t *h = p->head;
      p->head = h->next;
      held_free(h);
    }
    p->tail = NULL;
    p->held_bytes = 0;
    p->held_requests = 0;
  }
  if (!p->timer_open) return;
  p->timer_open = false;
  uv_close((uv_handle_t *)&p->timer, tl_on_timer_closed);
}

static void arm(tl_t *p, uint64_t now) {
  if (!p->timer_open) return;
  if (p->stopping) {
    if (!p->head || now >= p->deadline_ms) {
      finish(p);
      return;
    }
    uint64_t left = p->deadline_ms - now;
    uv_timer_start(&p->timer, tl_on_timer, left < RETRY_MS ? left : RETRY_MS, 0);
    return;
  }
  if (!p->head) {
    uv_timer_stop(&p->timer);
    return;
  }
  uint64_t wait = p->blocked ? RETRY_MS : p->head->due_ms > now ? p->head->due_ms - now : 0;
  uv_timer_start(&p->timer, tl_on_timer, wait, 0);
}

/* ---- consumers ------------------------------------------------------------------------ */

static int tl_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  tl_t *p = tl_of(self);
  if (!p->store)
    return pc_err_set(err, PC_EINVAL, "%s has no span store (not resolved)", p->id);
  if (p->cfg.delay_ms && p->loop) return hold(p, req, err);
  return hand_on(p, req, err);
}

static int tl_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  tl_t *p = tl_of(self);
  if (!p->store)
    return pc_err_set(err, PC_EINVAL, "%s has no span store (not resolved)", p->id);
  p->store->add_spans(p->store, tr);
  p->st.spans_recorded += pc_traces_span_count(tr);
  return p->next->consume_traces(p->next, tr, err);
}

/* ---- component ------------------------------------------------------------------------ */

static char *dup_or_empty(const char *s) { return pc_xstrdup(s ? s : ""); }

static void tl_destroy(void *self);

static void *tl_create(const pc_create_args_t *args, pc_err_t *err) {
  tl_cfg_t c = {0};
  if (pc_cfg_apply(tl_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  if (!c.span_store || !c.span_store[0]) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "span_store"), PC_EINVAL,
                 "needs the id of a span_store extension");
    return NULL;
  }
  tl_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  p->cfg = c;
  p->cfg.span_store = pc_xstrdup(c.span_store);
  p->cfg.span_name = dup_or_empty(c.span_name);
  p->cfg.root_name = dup_or_empty(c.root_name);
  p->cfg.service_name = dup_or_empty(c.service_name);
  const char *keys[3] = {p->cfg.span_name, p->cfg.root_name, p->cfg.service_name};
  for (int i = 0; i < 3; i++) p->keys[i] = (pc_str_t){(const uint8_t *)keys[i], strlen(keys[i])};
  pc_ref_init(&p->store_ref, c.span_store,
              pc_cfg_get(args->cfg, "span_store") ? pc_cfg_get(args->cfg, "span_store")
                                                    : args->cfg);
  if (args->signals & PC_SIGNAL_PROFILES) p->consumer.consume_profiles = tl_consume_profiles;
  if ((args->signals & PC_SIGNAL_TRACES) && p->next->consume_traces)
    p->consumer.consume_traces = tl_consume_traces;
  p->consumer.retry_after_s = p->next->retry_after_s;
  return p;
}

static int tl_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  tl_t *p = self;
  p->store = pc_host_find(host, &p->store_ref, PC_ROLE_SPAN_STORE, err);
  return p->store ? 0 : PC_EINVAL;
}

static pc_consumer_t *tl_consumer(void *self) { return &((tl_t *)self)->consumer; }

static int tl_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  tl_t *p = self;
  if (!p->store)
    return pc_err_set(err, PC_EINVAL, "%s: span_store \"%s\" was not resolved", p->id,
                      p->cfg.span_store);
  p->loop = loop;
  uv_timer_init(loop, &p->timer);
  p->timer_open = true;
  return 0;
}

static void tl_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  tl_t *p = self;
  if (!p->timer_open) { /* never started, or already shut down */
    done(arg);
    return;
  }
  p->done = done;
  p->done_arg = arg;
  p->deadline_ms = deadline_ms;
  p->stopping = true;
  drain(p); /* hands on all that is held; arm() finishes when nothing is left */
}

static void tl_destroy(void *self) {
  tl_t *p = self;
  if (!p) return;
  while (p->head) {
    held_t *h = p->head;
    p->head = h->next;
    held_free(h);
  }
  free(p->cfg.span_store);
  free(p->cfg.span_name);
  free(p->cfg.root_name);
  free(p->cfg.service_name);
  free(p);
}

static void tl_metrics(void *self, pc_metrics_t *m) {
  tl_t *p = self;
  const tl_stats_t *st = &p->st;
#define C(name, help, v, ...) pc_metrics_counter(m, "profcol_processor_trace_link_" name, help, (double)(v), __VA_ARGS__)
  static const char dl[] = "links dropped from link tables, by reason";
  C("dropped_links", dl, st->links_bad_size, "reason", "bad_size", NULL);
  C("dropped_links", dl, st->links_zero, "reason", "zero_id", NULL);
  C("dropped_links", dl, st->links_duplicate, "reason", "duplicate", NULL);
  static const char ul[] = "samples whose link was removed, by reason";
  C("unlinked_samples", ul, st->unlinked_out_of_range, "reason", "out_of_range", NULL);
  C("unlinked_samples", ul, st->unlinked_dropped, "reason", "dropped_link", NULL);
  C("linked_samples", "samples linked to a span after normalizing", st->linked_samples, NULL);
  C("enriched_samples", "linked samples given their span's attributes", st->enriched_samples,
    NULL);
  C("thread_linked_samples", "samples linked by process and thread (link_by_thread)",
    st->thread_linked_samples, NULL);
  C("missing_spans", "links whose span was not in the span store", st->spans_missing, NULL);
  C("recorded_spans", "spans handed to the span store (traces pipelines)", st->spans_recorded,
    NULL);
  C("dropped_samples", "held samples the next consumer refused for good, or still held at the "
    "shutdown deadline", st->held_dropped_samples, NULL);
#undef C
  pc_metrics_gauge(m, "profcol_processor_trace_link_held_bytes",
                   "memory of the requests held for delay", (double)p->held_bytes, NULL);
  pc_metrics_gauge(m, "profcol_processor_trace_link_held_requests", "requests held for delay",
                   (double)p->held_requests, NULL);
}

const pc_component_t pc_processor_trace_link = {
    .type = "trace_link",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .mutates = true, /* normalizes links and adds sample attributes in place */
    .stability = "development",
    .options = tl_opts,
    .create = tl_create,
    .consumer = tl_consumer,
    .resolve = tl_resolve,
    .start = tl_start,
    .shutdown = tl_shutdown,
    .destroy = tl_destroy,
    .metrics = tl_metrics,
};
