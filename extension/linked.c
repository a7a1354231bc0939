/* linked.c - the window of recent linked profiles (internal.h): the samples
 * that carry a link to a span, kept for the query API, bounded by a window
 * (by arrival) and by bytes; plus an index from trace id to where its
 * samples are.
 *
 * The one idea: the window is a FIFO of immutable encoded requests
 * (chunks), and a query decodes the chunks its trace touches (views into
 * them, no copy) and hands them to the aggregation (pdata/stacks.h);
 * expiry and the memory cap drop whole chunks, oldest first, and a query
 * keeps the chunks it reads alive by reference while the window moves on.
 *
 * A chunk is one of two things. A request a receiver decoded comes with its
 * bytes (pc_request_t.encoded): they make a chunk of their own as they
 * are, unlinked samples included (a query skips them), kept by reference
 * when the receiver lends its buffer (pc_request_t.encoded_lender: the
 * body as received, or as decompressed; protobuf or OTLP-JSON), else
 * copied. Copying 200 KB was about half of trace_link's own cost
 * (bench/bench_tracelink); merging the linked samples instead would cost
 * about what merging the request into a batch costs - as much as the rest
 * of the pipeline - while keeping the bytes makes a window of the same
 * memory cover 3 to 5 times less time. A request without
 * bytes (a batch's output, or one whose links were changed) has its linked
 * samples merged into a batch builder (pdata/intern.h: one dictionary,
 * each entry once) until the builder holds chunk_bytes or has been open
 * for a slice of the window; then it is sealed into its protobuf encoding.
 *
 * The index: one entry per trace with linked samples in the window: how
 * many, when they last arrived, a span they are linked to, the service of
 * the first profile, and per chunk how many it holds (oldest first). A
 * chunk lists the entries it touched, so dropping it updates exactly those;
 * an entry without chunks is deleted. Entries are also in a list by last
 * arrival, newest first, which the trace listing walks.
 *
 * Shards: the window is all of the above once per shard, each under a
 * mutex of its own, and a thread adds to its own shard (threads are
 * numbered as they first add), so workers adding at once do not wait for
 * each other (one window's lock, held 36-50 us of a ~950 us request, would
 * cap a process at 20-25 workers busy). A query asks each shard in turn
 * and merges: a trace's chunks from every shard in arrival order, the
 * listing as a merge of the shards' lists by last arrival. The memory cap
 * is the window's: past it, the oldest chunk of any shard goes.
 *
 * Granularity: a chunk is dropped once its newest sample is older than the
 * window, so a sample may be answered up to one slice (window / 32) longer
 * than the window; it is never dropped early except for the memory cap. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../pdata/intern.h"
#include "internal.h"

#define SLICES 32 /* a chunk is open for at most window / SLICES */
#define CHUNK_MIN ((size_t)64 << 10)
#define CHUNK_MAX ((size_t)4 << 20)
/* Shards by default: one per usable CPU, up to this many (a worker per
 * CPU is the most service.workers makes sense with). A shard costs about
 * 100 KiB however little it holds (an empty builder, index arrays), so
 * each has at least SHARD_MIN_BYTES of max_bytes: a small window is one
 * shard. */
#define SHARDS_MAX 64
#define SHARD_MIN_BYTES ((uint64_t)4 << 20)

typedef struct chunk {
  atomic_uint refs; /* the window's, and each query's reading it */
  uint64_t seq;
  uint64_t last_ms; /* newest sample's arrival */
  uint64_t samples;
  bool json;        /* p holds a request's OTLP-JSON as it came, not protobuf */
  const uint8_t *p; /* an ExportProfilesServiceRequest, n bytes */
  size_t n;
  size_t cap;       /* the memory they take */
  pc_buf_t own;     /* p's buffer when the window made it (a copy, or sealed) */
  pc_bytes_t *kept; /* else a receiver's buffer, by reference */
  uint32_t *entries; /* index entries it holds samples of */
  uint32_t n_entries, cap_entries;
} chunk_t;

typedef struct {
  uint64_t seq;
  uint64_t samples;
} ref_t;

/* What adding touches comes first (the first two cache lines, which
 * index_add prefetches); the listing's fields last. */
typedef struct {
  uint8_t trace[16];
  uint32_t hash;
  uint32_t newer, older; /* by last arrival (entry ids; 0: none) */
  uint32_t n_refs;       /* refs[r0 .. r0 + n_refs), oldest first */
  uint64_t last_seq;     /* the newest ref's seq: read here, not at the end of refs */
  uint64_t last_ms;
  uint64_t samples;
  ref_t *refs;
  uint32_t r0, cap_refs; /* dropping the oldest ref moves r0, not the others */
  bool used;
  uint8_t service_n;
  uint8_t span[8];
  uint64_t first_ms;
  char service[PC_LINKED_SERVICE_MAX];
} entry_t;

/* One shard of the window (see the top): what one mutex guards. */
typedef struct shard {
  pthread_mutex_t mu;
  /* Read by other threads without mu (enforce_cap), written under it
   * (shard_unlock): mem() and the oldest sealed chunk's last_ms. */
  _Atomic uint64_t held;
  _Atomic uint64_t oldest_ms; /* UINT64_MAX: no sealed chunk */
  uint64_t window_ms, slice_ms;
  size_t chunk_bytes;
  uint64_t clock_ms; /* the latest now_ms seen (now_at) */
  /* the open chunk */
  pc_builder_t *b;
  chunk_t *open; /* its seq, arrival and entries; no bytes yet */
  uint64_t open_first_ms;
  uint64_t next_seq; /* of the next chunk opened */
  /* sealed chunks, oldest first */
  chunk_t **sealed;
  size_t n_sealed, cap_sealed;
  size_t sealed_bytes;
  /* the index */
  entry_t *e; /* e[0] unused */
  uint32_t n_e, cap_e;
  uint32_t *free_e;
  uint32_t n_free, cap_free;
  uint32_t *set; /* entry ids by trace hash; 0: empty */
  uint32_t set_mask;
  uint32_t live;
  uint32_t newest, oldest; /* the arrival list */
  size_t refs_bytes;
  pc_arena_t *scratch; /* the filtered view of a request being added */
  pc_linked_stats_t st;
} shard_t;

struct pc_linked {
  shard_t *s;
  uint32_t n;
  uint64_t max_bytes; /* of all shards together */
};

/* ---- chunks ------------------------------------------------------------------ */

static chunk_t *chunk_new(uint64_t seq) {
  chunk_t *c = pc_xcalloc(1, sizeof *c);
  atomic_init(&c->refs, 1);
  c->seq = seq;
  return c;
}

static void chunk_unref(chunk_t *c) {
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
  /* Its buffer goes to the spares (core.h), for the next body a receiver
   * reads or the next copy: memory already touched, rather than a fresh
   * allocation whose pages fault one by one (bench_tracelink: on a VM,
   * more than the copy itself). */
  pc_spare_give(&c->own);
  pc_buf_t b;
  if (pc_bytes_unref_keep(c->kept, &b)) pc_spare_give(&b);
  free(c->entries);
  free(c);
}

static void chunk_note(chunk_t *c, uint32_t id) {
  if (c->n_entries == c->cap_entries) {
    c->cap_entries = c->cap_entries ? 2 * c->cap_entries : 64;
    c->entries = pc_xrealloc(c->entries, c->cap_entries * sizeof *c->entries);
  }
  c->entries[c->n_entries++] = id;
}

/* ---- the index ------------------------------------------------------------------ */

static uint32_t trace_hash(const uint8_t t[16]) { return (uint32_t)pc_hash64(t, 16); }

static void set_put(shard_t *w, uint32_t id) {
  uint32_t i = w->e[id].hash & w->set_mask;
  while (w->set[i]) i = (i + 1) & w->set_mask;
  w->set[i] = id;
}

static void set_grow(shard_t *w) {
  uint32_t cap = w->set_mask ? 2 * (w->set_mask + 1) : 256;
  free(w->set);
  w->set = pc_xcalloc(cap, sizeof *w->set);
  w->set_mask = cap - 1;
  for (uint32_t id = 1; id < w->n_e; id++)
    if (w->e[id].used) set_put(w, id);
}

static uint32_t entry_find_h(const shard_t *w, const uint8_t trace[16], uint32_t h) {
  if (!w->set_mask) return 0;
  for (uint32_t i = h & w->set_mask; w->set[i]; i = (i + 1) & w->set_mask) {
    const entry_t *e = &w->e[w->set[i]];
    if (e->hash == h && memcmp(e->trace, trace, 16) == 0) return w->set[i];
  }
  return 0;
}

static uint32_t entry_find(const shard_t *w, const uint8_t trace[16]) {
  return entry_find_h(w, trace, trace_hash(trace));
}

static void list_unlink(shard_t *w, uint32_t id) {
  entry_t *e = &w->e[id];
  if (e->newer) w->e[e->newer].older = e->older;
  else w->newest = e->older;
  if (e->older) w->e[e->older].newer = e->newer;
  else w->oldest = e->newer;
  e->newer = e->older = 0;
}

static void list_push_newest(shard_t *w, uint32_t id) {
  entry_t *e = &w->e[id];
  e->older = w->newest;
  e->newer = 0;
  if (w->newest) w->e[w->newest].newer = id;
  else w->oldest = id;
  w->newest = id;
}

/* trace's entry (h: its trace_hash), made if there is none. */
static uint32_t entry_get(shard_t *w, const uint8_t trace[16], uint32_t h, uint64_t now_ms) {
  uint32_t id = entry_find_h(w, trace, h);
  if (id) return id;
  if (!w->set_mask || (w->live + 1) * 3 > (w->set_mask + 1) * 2) set_grow(w);
  if (w->n_free) {
    id = w->free_e[--w->n_free];
  } else {
    if (w->n_e == 0) w->n_e = 1;
    if (w->n_e >= w->cap_e) {
      w->cap_e = w->cap_e ? 2 * w->cap_e : 256;
      w->e = pc_xrealloc(w->e, w->cap_e * sizeof *w->e);
    }
    id = w->n_e++;
  }
  entry_t *e = &w->e[id];
  *e = (entry_t){.used = true, .hash = h, .first_ms = now_ms};
  memcpy(e->trace, trace, 16);
  set_put(w, id);
  w->live++;
  list_push_newest(w, id);
  return id;
}

static void entry_delete(shard_t *w, uint32_t id) {
  entry_t *e = &w->e[id];
  uint32_t i = e->hash & w->set_mask;
  while (w->set[i] != id) i = (i + 1) & w->set_mask;
  for (uint32_t j = (i + 1) & w->set_mask; w->set[j]; j = (j + 1) & w->set_mask) {
    uint32_t home = w->e[w->set[j]].hash & w->set_mask;
    if (((j - home) & w->set_mask) >= ((j - i) & w->set_mask)) {
      w->set[i] = w->set[j];
      i = j;
    }
  }
  w->set[i] = 0;
  list_unlink(w, id);
  w->refs_bytes -= (size_t)e->cap_refs * sizeof *e->refs;
  free(e->refs);
  *e = (entry_t){0};
  w->live--;
  if (w->n_free == w->cap_free) {
    w->cap_free = w->cap_free ? 2 * w->cap_free : 256;
    w->free_e = pc_xrealloc(w->free_e, w->cap_free * sizeof *w->free_e);
  }
  w->free_e[w->n_free++] = id;
}

/* Forget the samples chunk c held (c is the oldest chunk of each entry). */
static void drop_chunk_refs(shard_t *w, const chunk_t *c) {
  for (uint32_t i = 0; i < c->n_entries; i++) {
    uint32_t id = c->entries[i];
    entry_t *e = &w->e[id];
    if (!e->used || !e->n_refs || e->refs[e->r0].seq != c->seq) continue; /* cannot happen */
    e->samples -= e->refs[e->r0].samples;
    w->st.samples -= e->refs[e->r0].samples;
    e->r0++;
    if (--e->n_refs == 0) entry_delete(w, id);
  }
}

/* ---- sealing and dropping ------------------------------------------------------ */

/* Forget the samples the open chunk c held (c is the newest chunk of each
 * entry), when they cannot be kept. */
static void drop_open_refs(shard_t *w, chunk_t *c) {
  for (uint32_t i = 0; i < c->n_entries; i++) {
    uint32_t id = c->entries[i];
    entry_t *e = &w->e[id];
    if (!e->used || !e->n_refs || e->last_seq != c->seq) continue;
    const ref_t *last = &e->refs[e->r0 + e->n_refs - 1];
    e->samples -= last->samples;
    w->st.samples -= last->samples;
    if (--e->n_refs == 0) entry_delete(w, id);
    else e->last_seq = last[-1].seq;
  }
  c->n_entries = 0;
}

/* c, the open chunk, is done: into the FIFO, and a new one opens. */
static void push_sealed(shard_t *w, chunk_t *c) {
  if (w->n_sealed == w->cap_sealed) {
    w->cap_sealed = w->cap_sealed ? 2 * w->cap_sealed : 64;
    w->sealed = pc_xrealloc(w->sealed, w->cap_sealed * sizeof *w->sealed);
  }
  w->sealed[w->n_sealed++] = c;
  w->sealed_bytes += c->cap;
  w->open = chunk_new(w->next_seq++);
}

static void seal(shard_t *w) {
  if (pc_builder_empty(w->b)) return;
  chunk_t *c = w->open;
  int rc = pc_builder_encode(w->b, &c->own);
  pc_builder_reset(w->b);
  w->open_first_ms = 0;
  if (rc) { /* out of memory: these samples are lost to queries */
    pc_buf_free(&c->own);
    drop_open_refs(w, c);
    w->st.dropped_samples += c->samples;
    c->samples = 0;
    return;
  }
  if (c->own.cap > c->own.n) { /* the encoder reserved an upper bound */
    uint8_t *p = realloc(c->own.p, c->own.n ? c->own.n : 1);
    if (p) c->own.p = p, c->own.cap = c->own.n;
  }
  c->p = c->own.p;
  c->n = c->own.n;
  c->cap = c->own.cap;
  push_sealed(w, c);
}

/* The sealed chunk seq, or NULL (sealed chunks are in seq order). */
static chunk_t *sealed_find(const shard_t *w, uint64_t seq) {
  size_t lo = 0, hi = w->n_sealed;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w->sealed[mid]->seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo < w->n_sealed && w->sealed[lo]->seq == seq ? w->sealed[lo] : NULL;
}

static void drop_oldest(shard_t *w) {
  chunk_t *c = w->sealed[0];
  drop_chunk_refs(w, c);
  w->sealed_bytes -= c->cap;
  memmove(w->sealed, w->sealed + 1, (w->n_sealed - 1) * sizeof *w->sealed);
  w->n_sealed--;
  chunk_unref(c);
}

/* What the window holds (the spares it gave back are core's). */
static size_t mem(const shard_t *w) {
  return w->sealed_bytes + pc_builder_mem(w->b) + (size_t)w->cap_e * sizeof(entry_t) +
         ((size_t)w->set_mask + 1) * sizeof *w->set + w->refs_bytes;
}

/* now_ms as the window counts it, under mu. Callers on several threads
 * (every worker's trace_link, the query API) read the clock before they
 * take the lock: one older than a now_ms seen already counts as that one,
 * or the newest chunks would look a window old (now - last_ms wrapping
 * around) and be dropped, and arrival order would go backwards. */
static uint64_t now_at(shard_t *w, uint64_t now_ms) {
  if (now_ms < w->clock_ms) return w->clock_ms;
  return w->clock_ms = now_ms;
}

static void expire(shard_t *w, uint64_t now_ms) {
  if (!pc_builder_empty(w->b) && now_ms - w->open_first_ms >= w->slice_ms) seal(w);
  while (w->n_sealed && now_ms - w->sealed[0]->last_ms >= w->window_ms) {
    drop_oldest(w);
    w->st.evicted_window++;
  }
}

/* Publish what enforce_cap reads of w (under its lock). */
static void publish(shard_t *w) {
  uint64_t oldest = w->n_sealed                ? w->sealed[0]->last_ms
                    : !pc_builder_empty(w->b) ? w->open->last_ms
                                              : UINT64_MAX;
  atomic_store_explicit(&w->held, mem(w), memory_order_relaxed);
  atomic_store_explicit(&w->oldest_ms, oldest, memory_order_relaxed);
}

/* Let go of w's lock, publishing what enforce_cap reads of it. */
static void shard_unlock(shard_t *w) {
  publish(w);
  pthread_mutex_unlock(&w->mu);
}

/* Under max_bytes: the oldest chunk of any shard goes first, one at a
 * time, each under its shard's lock alone (no thread holds two: a thread
 * that adds has let go of its own). A shard whose only chunk is its open
 * one has it sealed first (with one shard, the cap is far above one open
 * chunk; with many, their open chunks together may not be). What the
 * shards hold is read without their locks, so another thread's add may
 * pass the cap for as long as it takes that thread to come here. */
static void enforce_cap(pc_linked_t *L) {
  for (;;) {
    uint64_t total = 0, oldest = UINT64_MAX;
    shard_t *victim = NULL;
    for (uint32_t i = 0; i < L->n; i++) {
      shard_t *s = &L->s[i];
      total += atomic_load_explicit(&s->held, memory_order_relaxed);
      uint64_t o = atomic_load_explicit(&s->oldest_ms, memory_order_relaxed);
      if (o < oldest) oldest = o, victim = s;
    }
    if (total <= L->max_bytes || !victim) return;
    pthread_mutex_lock(&victim->mu);
    if (!victim->n_sealed) seal(victim);
    if (victim->n_sealed) { /* else another thread dropped it: look again */
      drop_oldest(victim);
      victim->st.evicted_memory++;
    }
    shard_unlock(victim);
  }
}

/* ---- adding ----------------------------------------------------------------------- */

static bool link_ok(const pc_link_t *l) {
  return l->trace_id.n == 16 && l->span_id.n == 8;
}

/* A copy of req's tree holding only linked samples (dictionary shared), in
 * the scratch arena; per link, how many samples and the first service. */
static bool filtered(shard_t *w, const pc_request_t *req, pc_request_t *out,
                     uint64_t *per_link, pc_str_t *service) {
  pc_arena_t *a = w->scratch;
  const pc_dictionary_t *d = &req->dict;
  *out = (pc_request_t){.arena = a, .has_dictionary = req->has_dictionary, .dict = req->dict};
  out->resources = pc_arena_calloc(a, req->n_resources, sizeof *out->resources);
  if (req->n_resources && !out->resources) return false;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    pc_resource_profiles_t *orp = &out->resources[out->n_resources];
    *orp = *rp;
    orp->n_scopes = 0;
    orp->scopes = pc_arena_calloc(a, rp->n_scopes, sizeof *orp->scopes);
    if (rp->n_scopes && !orp->scopes) return false;
    pc_str_t svc = pc_profiles_kvs_string(req, &rp->resource.attributes,
                                          PC_STR_LIT("service.name"));
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      const pc_scope_profiles_t *sp = &rp->scopes[s];
      pc_scope_profiles_t *osp = &orp->scopes[orp->n_scopes];
      *osp = *sp;
      osp->n_profiles = 0;
      osp->profiles = pc_arena_calloc(a, sp->n_profiles, sizeof *osp->profiles);
      if (sp->n_profiles && !osp->profiles) return false;
      for (uint32_t k = 0; k < sp->n_profiles; k++) {
        const pc_profile_t *p = &sp->profiles[k];
        uint32_t n = 0;
        for (uint32_t i = 0; i < p->n_samples; i++) {
          int32_t l = p->samples[i].link_index;
          n += l > 0 && (uint32_t)l < d->n_links && link_ok(&d->links[l]);
        }
        if (!n) continue;
        pc_profile_t *op = &osp->profiles[osp->n_profiles++];
        *op = *p;
        op->samples = pc_arena_alloc(a, (size_t)n * sizeof *op->samples);
        if (!op->samples) return false;
        op->n_samples = 0;
        for (uint32_t i = 0; i < p->n_samples; i++) {
          int32_t l = p->samples[i].link_index;
          if (l <= 0 || (uint32_t)l >= d->n_links || !link_ok(&d->links[l])) continue;
          op->samples[op->n_samples++] = p->samples[i];
          if (per_link[l]++ == 0) service[l] = svc;
        }
      }
      if (osp->n_profiles) orp->n_scopes++;
    }
    if (orp->n_scopes) out->n_resources++;
  }
  return true;
}

/* Count per link the linked samples of req, and the first service. */
static uint64_t count_linked(const pc_request_t *req, uint64_t *per_link, pc_str_t *service) {
  const pc_dictionary_t *d = &req->dict;
  uint64_t total = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    bool svc_known = false;
    pc_str_t svc = {0};
    for (uint32_t s = 0; s < rp->n_scopes; s++)
      for (uint32_t k = 0; k < rp->scopes[s].n_profiles; k++) {
        const pc_profile_t *p = &rp->scopes[s].profiles[k];
        for (uint32_t i = 0; i < p->n_samples; i++) {
          int32_t l = p->samples[i].link_index;
          if (l <= 0 || (uint32_t)l >= d->n_links || !link_ok(&d->links[l])) continue;
          if (!svc_known) {
            svc = pc_profiles_kvs_string(req, &rp->resource.attributes, PC_STR_LIT("service.name"));
            svc_known = true;
          }
          if (per_link[l]++ == 0) service[l] = svc;
          total++;
        }
      }
  }
  return total;
}

/* Room at the end of e's refs for one more. */
static void refs_room(shard_t *w, entry_t *e) {
  if (e->r0 + e->n_refs < e->cap_refs) return;
  if (e->r0 && e->r0 >= e->n_refs) { /* half or more of refs is dropped ones: move down */
    memmove(e->refs, e->refs + e->r0, e->n_refs * sizeof *e->refs);
    e->r0 = 0;
    return;
  }
  w->refs_bytes -= (size_t)e->cap_refs * sizeof *e->refs;
  e->cap_refs = e->cap_refs ? 2 * e->cap_refs : 2;
  e->refs = pc_xrealloc(e->refs, e->cap_refs * sizeof *e->refs);
  w->refs_bytes += (size_t)e->cap_refs * sizeof *e->refs;
}

/* Links index_add looks up at a time: each stage's cache misses (the
 * set's slot, the entry, the end of its refs) are started for all of
 * them before the next stage needs any, rather than taken one after the
 * other per link (in bench_tracelink's samples shape, ~450 links a
 * request, the misses were most of the window's cost). */
#define INDEX_BATCH 16

/* Note in the index that chunk c holds per_link[l] samples of link l's trace. */
static void index_add(shard_t *w, const pc_request_t *req, const uint64_t *per_link,
                      const pc_str_t *service, chunk_t *c, uint64_t now_ms) {
  uint32_t nl = req->dict.n_links;
  for (uint32_t l = 1; l < nl;) {
    uint32_t ls[INDEX_BATCH], hs[INDEX_BATCH], ids[INDEX_BATCH], n = 0;
    for (; l < nl && n < INDEX_BATCH; l++) {
      if (!per_link[l]) continue;
      ls[n] = l;
      hs[n] = trace_hash(req->dict.links[l].trace_id.p);
      if (w->set_mask) __builtin_prefetch(&w->set[hs[n] & w->set_mask]);
      n++;
    }
    for (uint32_t k = 0; k < n && w->set_mask; k++) { /* the home slot's entry: most often it */
      uint32_t id = w->set[hs[k] & w->set_mask];
      if (id) __builtin_prefetch(&w->e[id]), __builtin_prefetch((char *)&w->e[id] + 64);
    }
    for (uint32_t k = 0; k < n; k++) {
      ids[k] = entry_find_h(w, req->dict.links[ls[k]].trace_id.p, hs[k]);
      if (!ids[k]) continue;
      const entry_t *e = &w->e[ids[k]];
      if (e->last_seq != c->seq && e->r0 + e->n_refs < e->cap_refs)
        __builtin_prefetch(&e->refs[e->r0 + e->n_refs], 1);
    }
    for (uint32_t k = 0; k < n; k++) {
      const pc_link_t *lk = &req->dict.links[ls[k]];
      /* Not found above: made now, unless an earlier link of this batch
       * (another span of the same trace) made it. */
      uint32_t id = ids[k] ? ids[k] : entry_get(w, lk->trace_id.p, hs[k], now_ms);
      entry_t *e = &w->e[id];
      if (e->n_refs == 0) memcpy(e->span, lk->span_id.p, 8);
      const pc_str_t *svc = &service[ls[k]];
      if (!e->service_n && svc->n) {
        size_t sn = svc->n < sizeof e->service ? svc->n : sizeof e->service;
        memcpy(e->service, svc->p, sn);
        e->service_n = (uint8_t)sn;
      }
      if (!e->n_refs || e->last_seq != c->seq) {
        refs_room(w, e);
        e->refs[e->r0 + e->n_refs++] = (ref_t){c->seq, 0};
        e->last_seq = c->seq;
        chunk_note(c, id);
      }
      e->refs[e->r0 + e->n_refs - 1].samples += per_link[ls[k]];
      e->samples += per_link[ls[k]];
      e->last_ms = now_ms;
      if (w->newest != id) {
        list_unlink(w, id);
        list_push_newest(w, id);
      }
    }
  }
}

/* req's bytes by reference, when its receiver lends the buffer and the
 * buffer is not much larger than the bytes (a copy may take up to twice
 * their size from the spares too); else NULL. */
static pc_bytes_t *keep_bytes(const pc_request_t *req) {
  pc_bytes_lender_t *l = req->encoded_lender;
  if (!l || l->cap > 2 * req->encoded_n + 4096) return NULL;
  pc_bytes_t *b = l->keep(l);
  if (b && (b->p != req->encoded || b->n != req->encoded_n)) { /* not req's bytes: a bug */
    pc_bytes_unref(b);
    b = NULL;
  }
  return b;
}

/* A decoded request's own bytes become a chunk of their own: kept by
 * reference, or copied, where merging its linked samples would cost about
 * what merging it into a batch does. Queries decode it whole (its unlinked
 * samples are skipped then).
 *
 * Several workers add at once (the span store is one per process), so the
 * work that reads only req is done before the window's lock: counting the
 * linked samples per link and taking or copying the bytes (the spares have
 * a lock of their own). Under the lock are only the index updates, one per
 * distinct link, and the FIFO: what two workers' requests must not do at
 * once. The bytes being added stand outside max_bytes until they are (at
 * most one request's bytes per thread adding). */
static void add_encoded(shard_t *w, const pc_request_t *req, uint64_t now_ms) {
  uint32_t nl = req->dict.n_links;
  uint64_t *per_link = calloc(nl, sizeof *per_link);
  pc_str_t *service = calloc(nl, sizeof *service);
  uint64_t samples = per_link && service ? count_linked(req, per_link, service) : 0;
  bool lost = !per_link || !service;
  pc_buf_t pb = {0};
  pc_bytes_t *kept = NULL;
  if (samples && !(kept = keep_bytes(req))) {
    pc_spare_take(req->encoded_n, 2 * req->encoded_n + 4096, &pb);
    if (pc_buf_append(&pb, req->encoded, req->encoded_n)) {
      pc_buf_free(&pb);
      lost = true;
    }
  }
  pthread_mutex_lock(&w->mu);
  now_ms = now_at(w, now_ms);
  expire(w, now_ms);
  if (lost) {
    w->st.dropped_samples += samples ? samples : pc_request_sample_count(req);
  } else if (samples) {
    seal(w); /* chunks stay in seq order: the open one goes first */
    chunk_t *c = w->open;
    if (kept) {
      c->kept = kept;
      c->p = kept->p;
      c->n = kept->n;
      c->cap = kept->cap ? kept->cap : kept->n;
      w->st.kept_bytes += kept->n;
    } else {
      c->own = pb;
      c->p = pb.p;
      c->n = pb.n;
      c->cap = pb.cap;
      w->st.copied_bytes += pb.n;
    }
    c->json = req->encoded_json;
    c->last_ms = now_ms;
    c->samples = samples;
    index_add(w, req, per_link, service, c, now_ms);
    push_sealed(w, c);
    w->st.added_samples += samples;
    w->st.samples += samples;
  }
  shard_unlock(w);
  free(per_link);
  free(service);
}

/* The shard of the calling thread: threads are numbered as they first
 * add (to any window), so that each worker's loop has a shard of its own
 * while there are no more workers than shards. */
static _Atomic uint32_t next_thread;
static _Thread_local uint32_t thread_no; /* 1 + this thread's number; 0: none yet */

static shard_t *my_shard(pc_linked_t *L) {
  if (!thread_no) thread_no = 1 + atomic_fetch_add_explicit(&next_thread, 1, memory_order_relaxed);
  return &L->s[(thread_no - 1) % L->n];
}

void pc_linked_add(pc_linked_t *L, const pc_request_t *req, uint64_t now_ms) {
  uint32_t nl = req->dict.n_links;
  if (nl < 2) return; /* only the zero link: nothing linked */
  shard_t *w = my_shard(L);
  if (req->encoded_n) {
    add_encoded(w, req, now_ms);
    enforce_cap(L);
    return;
  }
  /* Merging into the open chunk's builder: under the lock throughout. */
  pthread_mutex_lock(&w->mu);
  now_ms = now_at(w, now_ms);
  expire(w, now_ms);
  pc_arena_reset(w->scratch);
  uint64_t *per_link = pc_arena_calloc(w->scratch, nl, sizeof *per_link);
  pc_str_t *service = pc_arena_calloc(w->scratch, nl, sizeof *service);
  pc_request_t view;
  pc_err_t err = {0};
  uint64_t samples = 0;
  if (!per_link || !service) {
    w->st.dropped_samples += pc_request_sample_count(req);
    goto out;
  }
  if (!filtered(w, req, &view, per_link, service)) {
    w->st.dropped_samples += pc_request_sample_count(req);
    goto out;
  }
  samples = pc_request_sample_count(&view);
  if (!samples) goto out;
  if (pc_builder_add(w->b, &view, &err) != 0) {
    w->st.dropped_samples += samples;
    goto out;
  }
  if (!w->open_first_ms) w->open_first_ms = now_ms ? now_ms : 1;
  w->open->last_ms = now_ms;
  w->open->samples += samples;
  w->st.added_samples += samples;
  w->st.samples += samples;
  index_add(w, req, per_link, service, w->open, now_ms);
  if (pc_builder_stats(w->b)->out_bytes >= w->chunk_bytes ||
      now_ms - w->open_first_ms >= w->slice_ms)
    seal(w);
out:
  shard_unlock(w);
  enforce_cap(L);
}

/* ---- reading ---------------------------------------------------------------------- */

static int sel_decode(pc_linked_sel_t *sel, pc_err_t *err);

/* Chunks in arrival order (of their newest sample; within a shard, seq). */
static int chunk_cmp(const void *a, const void *b) {
  const chunk_t *x = *(chunk_t *const *)a, *y = *(chunk_t *const *)b;
  if (x->last_ms != y->last_ms) return x->last_ms < y->last_ms ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Add c to sel, which holds it (a reference) until pc_linked_sel_free. */
static void sel_take(pc_linked_sel_t *sel, size_t *cap, chunk_t *c) {
  if (sel->n_chunks == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    sel->chunks = pc_xrealloc(sel->chunks, *cap * sizeof *sel->chunks);
  }
  atomic_fetch_add(&c->refs, 1);
  sel->chunks[sel->n_chunks++] = c;
}

/* Each shard in turn: its chunks holding trace_id's samples. */
int pc_linked_select(pc_linked_t *L, const uint8_t trace_id[16], uint64_t now_ms,
                     pc_linked_sel_t *sel, pc_err_t *err) {
  *sel = (pc_linked_sel_t){0};
  size_t cap = 0;
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_lock(&w->mu);
    expire(w, now_at(w, now_ms));
    uint32_t id = entry_find(w, trace_id);
    if (id && w->e[id].last_seq == w->open->seq) {
      seal(w); /* a query reads sealed chunks */
      id = entry_find(w, trace_id); /* sealing may have failed and dropped it */
    }
    if (id) {
      const entry_t *e = &w->e[id];
      sel->samples += e->samples;
      for (uint32_t i = e->r0; i < e->r0 + e->n_refs; i++) {
        chunk_t *c = sealed_find(w, e->refs[i].seq);
        if (c) sel_take(sel, &cap, c); /* else cannot happen: refs go with their chunk */
      }
    }
    shard_unlock(w);
  }
  if (sel->n_chunks > 1) qsort(sel->chunks, sel->n_chunks, sizeof *sel->chunks, chunk_cmp);
  return sel_decode(sel, err);
}

/* Each shard's newest chunks within max_bytes, then the newest of those
 * within max_bytes (at least one), in arrival order. */
int pc_linked_select_all(pc_linked_t *L, uint64_t now_ms, uint64_t max_bytes,
                         pc_linked_sel_t *sel, pc_err_t *err) {
  *sel = (pc_linked_sel_t){0};
  size_t cap = 0, sealed = 0;
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_lock(&w->mu);
    expire(w, now_at(w, now_ms));
    seal(w); /* a query reads sealed chunks */
    size_t first = w->n_sealed, bytes = 0;
    while (first > 0 && (first == w->n_sealed || bytes + w->sealed[first - 1]->n <= max_bytes))
      bytes += w->sealed[--first]->n;
    for (size_t i = first; i < w->n_sealed; i++) sel_take(sel, &cap, w->sealed[i]);
    sealed += w->n_sealed;
    shard_unlock(w);
  }
  /* An empty window leaves chunks NULL: qsort and memmove must not see it. */
  if (sel->n_chunks > 1) qsort(sel->chunks, sel->n_chunks, sizeof *sel->chunks, chunk_cmp);
  size_t first = sel->n_chunks, bytes = 0;
  while (first > 0 &&
         (first == sel->n_chunks || bytes + ((chunk_t *)sel->chunks[first - 1])->n <= max_bytes))
    bytes += ((chunk_t *)sel->chunks[--first])->n;
  for (size_t i = 0; i < first; i++) chunk_unref(sel->chunks[i]);
  if (first)
    memmove(sel->chunks, sel->chunks + first, (sel->n_chunks - first) * sizeof *sel->chunks);
  sel->n_chunks -= first;
  sel->skipped_chunks = sealed - sel->n_chunks;
  for (size_t i = 0; i < sel->n_chunks; i++) sel->samples += ((chunk_t *)sel->chunks[i])->samples;
  return sel_decode(sel, err);
}

/* Decode the chunks sel holds, outside the locks: they are immutable. */
static int sel_decode(pc_linked_sel_t *sel, pc_err_t *err) {
  size_t total = 0;
  for (size_t i = 0; i < sel->n_chunks; i++) total += ((chunk_t *)sel->chunks[i])->n;
  sel->arena = pc_arena_new(0);
  pc_arena_set_limit(sel->arena, total * 16 + ((size_t)16 << 20));
  sel->reqs = pc_xcalloc(sel->n_chunks ? sel->n_chunks : 1, sizeof *sel->reqs);
  for (size_t i = 0; i < sel->n_chunks; i++) {
    const chunk_t *c = sel->chunks[i];
    pc_request_t *r = pc_arena_alloc(sel->arena, sizeof *r);
    if (!r) return pc_err_set(err, PC_ENOMEM, "out of memory reading the window");
    int rc = c->json ? pc_json_decode(sel->arena, c->p, c->n, r, err)
                     : pc_proto_decode(sel->arena, c->p, c->n, r, err);
    if (rc) return rc; /* bytes that decoded before: only for lack of memory */
    sel->reqs[sel->n_reqs++] = r;
  }
  return 0;
}

void pc_linked_sel_free(pc_linked_sel_t *sel) {
  for (size_t i = 0; i < sel->n_chunks; i++) chunk_unref(sel->chunks[i]);
  free(sel->chunks);
  free(sel->reqs);
  pc_arena_free(sel->arena);
  *sel = (pc_linked_sel_t){0};
}

/* Traces by last arrival over every shard, with every shard locked (in
 * order): a merge of the shards' lists, newest first (ties: the lower
 * shard). A trace whose samples came through several shards is met in
 * each; it is listed where it is met first - at its newest arrival - and
 * its figures are summed over the shards. */
size_t pc_linked_list(pc_linked_t *L, uint64_t now_ms, size_t limit,
                      bool (*keep)(void *ud, const pc_linked_trace_t *t), void *ud,
                      pc_linked_trace_t *out) {
  size_t n = 0;
  uint32_t *at = pc_xcalloc(L->n, sizeof *at); /* each shard's next entry */
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_lock(&w->mu);
    expire(w, now_at(w, now_ms));
    at[k] = w->newest;
  }
  while (n < limit) {
    uint32_t best = L->n;
    for (uint32_t k = 0; k < L->n; k++)
      if (at[k] && (best == L->n || L->s[k].e[at[k]].last_ms > L->s[best].e[at[best]].last_ms))
        best = k;
    if (best == L->n) break;
    const entry_t *e = &L->s[best].e[at[best]];
    at[best] = e->older;
    pc_linked_trace_t *t = &out[n];
    *t = (pc_linked_trace_t){.samples = e->samples, .first_ms = e->first_ms,
                             .last_ms = e->last_ms};
    memcpy(t->trace_id, e->trace, 16);
    memcpy(t->span_id, e->span, 8);
    memcpy(t->service, e->service, e->service_n);
    t->service_n = e->service_n;
    bool listed = false; /* met before, in another shard */
    for (uint32_t k = 0; k < L->n && !listed; k++) {
      uint32_t id = k == best ? 0 : entry_find(&L->s[k], e->trace);
      if (!id) continue;
      const entry_t *o = &L->s[k].e[id];
      listed = o->last_ms > e->last_ms || (o->last_ms == e->last_ms && k < best);
      t->samples += o->samples;
      if (o->first_ms < t->first_ms) { /* the first span and service seen */
        t->first_ms = o->first_ms;
        memcpy(t->span_id, o->span, 8);
        if (o->service_n) {
          memcpy(t->service, o->service, o->service_n);
          t->service_n = o->service_n;
        }
      }
    }
    if (!listed && (!keep || keep(ud, t))) n++;
  }
  for (uint32_t k = L->n; k-- > 0;) shard_unlock(&L->s[k]);
  free(at);
  return n;
}

/* ---- the window ------------------------------------------------------------------- */

pc_linked_t *pc_linked_new(const pc_linked_cfg_t *cfg) {
  pc_linked_t *L = pc_xcalloc(1, sizeof *L);
  uint32_t n = cfg->shards ? cfg->shards : pc_cpus_usable();
  uint64_t most = cfg->max_bytes / SHARD_MIN_BYTES;
  n = n > SHARDS_MAX ? SHARDS_MAX : n;
  n = n > most ? (uint32_t)most : n;
  n = n < 1 ? 1 : n;
  L->n = n;
  L->max_bytes = cfg->max_bytes;
  L->s = pc_xcalloc(n, sizeof *L->s);
  uint64_t window_ms = cfg->window_ms ? cfg->window_ms : 1;
  size_t cb = (size_t)(cfg->max_bytes / SLICES);
  for (uint32_t k = 0; k < n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->held, 0);
    atomic_init(&w->oldest_ms, UINT64_MAX);
    w->window_ms = window_ms;
    w->slice_ms = window_ms / SLICES ? window_ms / SLICES : 1;
    w->chunk_bytes = cb < CHUNK_MIN ? CHUNK_MIN : cb > CHUNK_MAX ? CHUNK_MAX : cb;
    w->b = pc_builder_new();
    w->open = chunk_new(w->next_seq++);
    w->scratch = pc_arena_new(0);
    publish(w);
  }
  return L;
}

void pc_linked_free(pc_linked_t *L) {
  if (!L) return;
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    for (size_t i = 0; i < w->n_sealed; i++) chunk_unref(w->sealed[i]);
    free(w->sealed);
    chunk_unref(w->open);
    pc_builder_free(w->b);
    for (uint32_t id = 1; id < w->n_e; id++) free(w->e[id].refs);
    free(w->e);
    free(w->free_e);
    free(w->set);
    pc_arena_free(w->scratch);
    pthread_mutex_destroy(&w->mu);
  }
  free(L->s);
  free(L);
}

void pc_linked_expire(pc_linked_t *L, uint64_t now_ms) {
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_lock(&w->mu);
    expire(w, now_at(w, now_ms));
    shard_unlock(w);
  }
}

void pc_linked_stats(pc_linked_t *L, pc_linked_stats_t *out) {
  *out = (pc_linked_stats_t){0};
  for (uint32_t k = 0; k < L->n; k++) {
    shard_t *w = &L->s[k];
    pthread_mutex_lock(&w->mu);
    const pc_linked_stats_t *st = &w->st;
    out->traces += w->live;
    out->samples += st->samples;
    out->chunks += w->n_sealed + !pc_builder_empty(w->b);
    out->bytes += mem(w);
    out->added_samples += st->added_samples;
    out->dropped_samples += st->dropped_samples;
    out->evicted_window += st->evicted_window;
    out->evicted_memory += st->evicted_memory;
    out->kept_bytes += st->kept_bytes;
    out->copied_bytes += st->copied_bytes;
    pthread_mutex_unlock(&w->mu);
  }
}
