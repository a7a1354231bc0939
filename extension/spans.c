/* spans.c - the table of recent spans behind the span store (internal.h):
 * by (trace_id, span_id) and by (process, thread), bounded by a window and
 * a memory cap.
 *
 * A stripe keeps its spans in a ring in arrival order, numbered by a
 * sequence number (seq); a span's slot is seq % cap. Evicting the oldest
 * span is advancing the ring's tail: expiry by window and by memory is O(1)
 * per span, oldest first.
 *
 * The id index is an open-addressing table (linear probing) of 8-byte
 * entries, the span's seq and a 32-bit tag of its (trace_id, span_id) hash;
 * the tag also gives the entry's home slot, so nothing else is read to
 * move entries. A lookup reads the probe run from the home slot, about one
 * cache line at the load kept here (at most 0.8), and then only the record
 * whose tag matches: two cache misses, not a chain of them, and both can be
 * prefetched for many keys at once (pc_spans_find_many). The table holds
 * exactly the live, undead spans: an evicted span's entry is removed
 * (backward-shift deletion, no tombstones), so it never fills (it has more
 * slots than the ring) and a probe always ends at an empty slot. The table's
 * size is not a power of two (slots = cap + cap/4 + 16): the home slot is
 * the tag scaled to the size (a multiply, no modulo), and probes wrap at
 * the end.
 *
 * The record a lookup reads is one aligned cache line (64 bytes: ids,
 * times, string ids, flags, arrival); process and thread ids and the
 * thread chain are in a parallel array of 12 bytes per span, read for
 * spans that have them and by the thread index. The thread index is a
 * chained hash table whose chains run from the newest span of a bucket to
 * older ones by seq (each link points strictly further back, which a walk
 * checks, so a number that wrapped around 2^32 cannot make a walk loop; a
 * seq outside [tail, head) ends a chain).
 *
 * Growing the ring copies each live span to its new slot and rebuilds both
 * indices, O(n) and amortized by doubling.
 *
 * Strings (names, services) are interned per stripe with a reference count
 * per span that holds them, and freed with the last one; they count in the
 * stripe's budget. A stripe's budget is max_bytes / stripes: when a span
 * would not fit, the ring grows if the budget allows, else the oldest span
 * goes first.
 *
 * A span received again is updated in place (put). */
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- one span ------------------------------------------------------------------- */

/* B_DEAD: a span received again with another thread, whose record stays in
 * the ring (and its thread chain) until evicted but is out of the id index. */
enum { B_PARENT = 1, B_REMOTE = 2, B_PID = 4, B_TID = 8, B_DEAD = 16 };

typedef struct {
  uint8_t trace[16];
  uint64_t span, parent; /* the 8-byte ids as loaded by memcpy (compared, never shown) */
  uint64_t start, end;
  uint32_t name, service; /* string ids; 0: "" */
  uint32_t arrived;       /* now_ms when recorded, modulo 2^32 (the window is < 2^31 ms) */
  uint8_t kind, status, bits;
  uint8_t pad;
} rec_t;

_Static_assert(sizeof(rec_t) == 64, "a span's record is one cache line");

/* What lookups by id do not read. */
typedef struct {
  uint32_t pid, tid; /* B_PID, B_TID */
  uint32_t tnext;    /* the next older span of its thread bucket (B_TID only) */
} cold_t;

/* An id index entry; tag 0: empty. */
typedef struct {
  uint32_t seq, tag;
} slot_t;

/* ---- interned strings ---------------------------------------------------------- */

typedef struct {
  uint32_t refs;
  uint32_t hash;
  uint16_t n;
  char s[];
} istr_t;

/* Strings by id (id 0 is "" and never stored), and an open-addressing set
 * of ids by content (slot 0: empty), deleted from by backward shift. */
typedef struct {
  istr_t **v;
  uint32_t n, cap; /* ids handed out (v[0] unused), array capacity */
  uint32_t *free_ids;
  uint32_t n_free, free_cap;
  uint32_t *set;
  uint32_t set_mask; /* capacity - 1, or 0 before the first string */
  uint32_t live;
  size_t bytes; /* the strings' allocations */
} strtab_t;

static size_t istr_size(size_t n) { return sizeof(istr_t) + n; }

static size_t strtab_mem(const strtab_t *t) {
  return t->bytes + (size_t)t->cap * sizeof *t->v + (size_t)t->free_cap * sizeof *t->free_ids +
         (t->set_mask ? ((size_t)t->set_mask + 1) * sizeof *t->set : 0);
}

static void set_put(strtab_t *t, uint32_t id) {
  uint32_t i = t->v[id]->hash & t->set_mask;
  while (t->set[i]) i = (i + 1) & t->set_mask;
  t->set[i] = id;
}

static void set_grow(strtab_t *t) {
  uint32_t cap = t->set_mask ? 2 * (t->set_mask + 1) : 64;
  free(t->set);
  t->set = pc_xcalloc(cap, sizeof *t->set);
  t->set_mask = cap - 1;
  for (uint32_t id = 1; id < t->n; id++)
    if (t->v[id]) set_put(t, id);
}

/* The id of s[0..n) with one more reference (0 for ""). */
static uint32_t str_ref(strtab_t *t, const uint8_t *s, size_t n) {
  if (n == 0) return 0;
  uint32_t h = (uint32_t)pc_hash64(s, n);
  for (uint32_t i = h & t->set_mask; t->set_mask && t->set[i]; i = (i + 1) & t->set_mask) {
    istr_t *e = t->v[t->set[i]];
    if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) {
      e->refs++;
      return t->set[i];
    }
  }
  if ((t->live + 1) * 3 > (t->set_mask + 1) * 2 || !t->set_mask) set_grow(t);
  uint32_t id;
  if (t->n_free) {
    id = t->free_ids[--t->n_free];
  } else {
    if (t->n == 0) t->n = 1; /* id 0 is "" */
    if (t->n >= t->cap) {
      t->cap = t->cap ? 2 * t->cap : 64;
      t->v = pc_xrealloc(t->v, t->cap * sizeof *t->v);
    }
    id = t->n++;
  }
  istr_t *e = pc_xmalloc(istr_size(n));
  *e = (istr_t){.refs = 1, .hash = h, .n = (uint16_t)n};
  memcpy(e->s, s, n);
  t->v[id] = e;
  t->bytes += istr_size(n);
  t->live++;
  set_put(t, id);
  return id;
}

static void str_unref(strtab_t *t, uint32_t id) {
  if (id == 0 || --t->v[id]->refs) return;
  istr_t *e = t->v[id];
  /* Backward-shift deletion: pull later members of the probe run into the
   * hole when their home slot allows it. */
  uint32_t i = e->hash & t->set_mask;
  while (t->set[i] != id) i = (i + 1) & t->set_mask;
  for (uint32_t j = (i + 1) & t->set_mask; t->set[j]; j = (j + 1) & t->set_mask) {
    uint32_t home = t->v[t->set[j]]->hash & t->set_mask;
    if (((j - home) & t->set_mask) >= ((j - i) & t->set_mask)) {
      t->set[i] = t->set[j];
      i = j;
    }
  }
  t->set[i] = 0;
  t->bytes -= istr_size(e->n);
  t->live--;
  free(e);
  t->v[id] = NULL;
  if (t->n_free == t->free_cap) {
    t->free_cap = t->free_cap ? 2 * t->free_cap : 64;
    t->free_ids = pc_xrealloc(t->free_ids, t->free_cap * sizeof *t->free_ids);
  }
  t->free_ids[t->n_free++] = id;
}

static pc_str_t str_get(const strtab_t *t, uint32_t id) {
  if (id == 0) return (pc_str_t){0};
  return (pc_str_t){(const uint8_t *)t->v[id]->s, t->v[id]->n};
}

static void strtab_free(strtab_t *t) {
  for (uint32_t id = 1; id < t->n; id++) free(t->v[id]);
  free(t->v);
  free(t->free_ids);
  free(t->set);
}

/* ---- a stripe ----------------------------------------------------------------- */

typedef struct {
  _Alignas(64) pthread_mutex_t mu;
  rec_t *ring;
  cold_t *cold;        /* parallel to ring */
  uint32_t cap;        /* slots */
  uint32_t head, tail; /* next seq to write; oldest live seq */
  uint32_t tail_slot;  /* the tail's slot (slots follow seqs modulo cap, but seqs wrap
                        * around 2^32, which cap need not divide) */
  slot_t *ids;         /* id index: n_ids entries */
  uint32_t n_ids;
  uint32_t *threads;   /* thread index: bucket -> newest seq */
  uint32_t tmask;      /* thread buckets - 1 */
  strtab_t strs;
  size_t budget;
  uint64_t clock_ms; /* the latest now_ms seen (expire) */
  uint32_t dead;     /* B_DEAD records in the ring */
  uint64_t added, skipped, duplicates, evicted_window, evicted_memory, lookups, found;
} stripe_t;

struct pc_spans {
  uint32_t window_ms;
  unsigned n_stripes;
  unsigned shift; /* 64 - log2(n_stripes) */
  stripe_t *stripes;
};

#define INITIAL_CAP 64u
#define MAX_WALK 64 /* parents followed to a local root or the top */

static inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Trace ids are random (W3C) but not always: X-Ray puts a time in the first
 * bytes, some systems count. Mixing both halves serves either. */
static inline uint64_t trace_hash(const uint8_t t[16]) {
  return mix(load64(t) ^ mix(load64(t + 8)));
}

/* The id index tag of a span: never 0 (an empty slot). The stripe is chosen
 * by th's top bits; mixing again spreads the spans of a stripe. */
static inline uint32_t id_tag(uint64_t th, uint64_t span) {
  return (uint32_t)(mix(th ^ span) >> 32) | 1;
}

/* The home slot of a tag: the tag scaled to [0, n_ids). */
static inline uint32_t id_home(const stripe_t *st, uint32_t tag) {
  return (uint32_t)(((uint64_t)tag * st->n_ids) >> 32);
}

static inline uint32_t id_next(const stripe_t *st, uint32_t i) {
  return ++i == st->n_ids ? 0 : i;
}

static inline uint32_t thread_bucket(uint32_t pid, uint32_t tid) {
  return (uint32_t)mix((uint64_t)pid << 32 | tid);
}

static inline bool live(const stripe_t *st, uint32_t seq) {
  return (uint32_t)(seq - st->tail) < (uint32_t)(st->head - st->tail);
}

/* The slot of seq, live or the head. */
static inline size_t slot_of(const stripe_t *st, uint32_t seq) {
  size_t i = (size_t)st->tail_slot + (uint32_t)(seq - st->tail);
  return i >= st->cap ? i - st->cap : i;
}

static inline rec_t *at(const stripe_t *st, uint32_t seq) { return &st->ring[slot_of(st, seq)]; }
static inline cold_t *cold_at(const stripe_t *st, uint32_t seq) {
  return &st->cold[slot_of(st, seq)];
}

/* The seq of a live record. */
static inline uint32_t seq_of(const stripe_t *st, const rec_t *r) {
  size_t i = (size_t)(r - st->ring);
  return st->tail + (uint32_t)(i >= st->tail_slot ? i - st->tail_slot : i + st->cap - st->tail_slot);
}

/* Next link of a thread walk, or false at the end: the link must be live
 * and strictly older than where the walk is. */
static inline bool step(const stripe_t *st, uint32_t from, uint32_t to) {
  return live(st, to) && (uint32_t)(to - st->tail) < (uint32_t)(from - st->tail);
}

/* The ring and the indices of a big stripe are looked up at random: with
 * 4 KiB pages nearly every lookup also misses the TLB (a page walk that
 * misses the cache in its turn). Arrays of 2 MiB and more are therefore
 * asked of the kernel as huge pages where it allows (transparent huge pages
 * in madvise mode); a hint only, so nothing depends on it. Smaller arrays
 * are aligned to a cache line, so a record is one line. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *table_alloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, n < HUGE_PAGE ? 64 : HUGE_PAGE, n ? n : 64)) pc_oom();
#ifdef MADV_HUGEPAGE
  if (n >= HUGE_PAGE) madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
  return p;
}

static size_t buckets_for(uint32_t cap) {
  size_t b = 64;
  while (b < cap) b *= 2;
  return b;
}

/* Id index entries for a ring of cap spans: a load of at most 0.8, and
 * always more entries than spans, so a probe ends at an empty one. */
static uint32_t ids_for(uint32_t cap) {
  uint64_t n = (uint64_t)cap + cap / 4 + 16;
  return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static size_t ring_mem(uint32_t cap) {
  return (size_t)cap * (sizeof(rec_t) + sizeof(cold_t)) + (size_t)ids_for(cap) * sizeof(slot_t) +
         buckets_for(cap) * sizeof(uint32_t);
}

static size_t stripe_mem(const stripe_t *st) { return ring_mem(st->cap) + strtab_mem(&st->strs); }

static void ids_put(stripe_t *st, uint32_t tag, uint32_t seq) {
  uint32_t i = id_home(st, tag);
  while (st->ids[i].tag) i = id_next(st, i);
  st->ids[i] = (slot_t){seq, tag};
}

/* Remove seq's entry: backward-shift deletion pulls each later entry of
 * the probe run into the hole when the hole is not before its home slot
 * (distances taken around the end of the table). */
static void ids_del(stripe_t *st, uint32_t tag, uint32_t seq) {
  uint32_t n = st->n_ids, i = id_home(st, tag);
  while (st->ids[i].seq != seq || st->ids[i].tag != tag) {
    if (!st->ids[i].tag) return; /* not there (cannot happen: every live span is) */
    i = id_next(st, i);
  }
  for (uint32_t j = id_next(st, i); st->ids[j].tag; j = id_next(st, j)) {
    uint32_t home = id_home(st, st->ids[j].tag);
    uint32_t from_home = j >= home ? j - home : j + n - home;
    uint32_t from_hole = j >= i ? j - i : j + n - i;
    if (from_home >= from_hole) {
      st->ids[i] = st->ids[j];
      i = j;
    }
  }
  st->ids[i] = (slot_t){0, 0};
}

static uint32_t rec_tag(const rec_t *r) { return id_tag(trace_hash(r->trace), r->span); }

static void index_put(stripe_t *st, uint32_t seq) {
  rec_t *r = at(st, seq);
  if (r->bits & B_DEAD) return; /* in no index */
  ids_put(st, rec_tag(r), seq);
  if (r->bits & B_TID) {
    cold_t *c = cold_at(st, seq);
    uint32_t t = thread_bucket(c->pid, c->tid) & st->tmask;
    c->tnext = st->threads[t];
    st->threads[t] = seq;
  }
}

/* Empty thread buckets hold tail - 1: not live until 2^32 more spans came. */
static void index_rebuild(stripe_t *st) {
  memset(st->ids, 0, (size_t)st->n_ids * sizeof *st->ids);
  for (uint32_t i = 0; i <= st->tmask; i++) st->threads[i] = st->tail - 1;
  for (uint32_t s = st->tail; s != st->head; s++) index_put(st, s);
}

static void alloc_tables(stripe_t *st, uint32_t cap) {
  st->cap = cap;
  st->ring = table_alloc((size_t)cap * sizeof(rec_t)); /* only live slots are read */
  st->cold = table_alloc((size_t)cap * sizeof(cold_t));
  st->n_ids = ids_for(cap);
  st->ids = table_alloc((size_t)st->n_ids * sizeof *st->ids);
  size_t nb = buckets_for(cap);
  st->tmask = (uint32_t)nb - 1;
  st->threads = table_alloc(nb * sizeof *st->threads);
}

static void free_tables(stripe_t *st) {
  free(st->ring);
  free(st->cold);
  free(st->ids);
  free(st->threads);
}

static void stripe_init(stripe_t *st, size_t budget) {
  memset(st, 0, sizeof *st);
  pthread_mutex_init(&st->mu, NULL);
  st->budget = budget;
  alloc_tables(st, INITIAL_CAP);
  index_rebuild(st);
}

static void evict_one(stripe_t *st) {
  rec_t *r = at(st, st->tail);
  if (r->bits & B_DEAD) st->dead--;
  else ids_del(st, rec_tag(r), st->tail);
  str_unref(&st->strs, r->name);
  str_unref(&st->strs, r->service);
  st->tail++;
  if (++st->tail_slot == st->cap) st->tail_slot = 0;
}

static void expire(stripe_t *st, uint32_t window_ms, uint64_t now_ms) {
  /* Callers on several threads (every worker's trace_link, the query API)
   * read the clock before they take the lock: a now_ms older than one seen
   * here already counts as that one, or the newest spans would look a
   * window old (now - arrived wrapping around) and be evicted. */
  if (now_ms < st->clock_ms) now_ms = st->clock_ms;
  else st->clock_ms = now_ms;
  while (st->head != st->tail && (uint32_t)((uint32_t)now_ms - at(st, st->tail)->arrived) >= window_ms) {
    evict_one(st);
    st->evicted_window++;
  }
}

/* Grow the ring, within the budget: false when it cannot by at least an
 * eighth (growing by less would copy the ring for a few spans each time). */
static bool grow(stripe_t *st) {
  size_t others = stripe_mem(st) - ring_mem(st->cap);
  size_t avail = st->budget > others ? st->budget - others : 0;
  /* At most what leaves the id index a free entry (ids_for). */
  const uint32_t most = UINT32_MAX / 5 * 4;
  uint32_t want = st->cap > most / 2 ? most : st->cap * 2;
  while (want > st->cap && ring_mem(want) > avail) want = st->cap + (want - st->cap) / 2;
  if (want < st->cap + st->cap / 8 + 1) return false;
  stripe_t old = *st;
  alloc_tables(st, want);
  st->tail_slot = 0;
  for (uint32_t s = st->tail; s != st->head; s++) {
    *at(st, s) = *at(&old, s);
    *cold_at(st, s) = *cold_at(&old, s);
  }
  free_tables(&old);
  index_rebuild(st); /* slots and buckets depend on the sizes */
  return true;
}

static rec_t *lookup(const stripe_t *st, const uint8_t trace[16], uint64_t th, uint64_t span) {
  uint32_t tag = id_tag(th, span);
  for (uint32_t i = id_home(st, tag); st->ids[i].tag; i = id_next(st, i)) {
    if (st->ids[i].tag != tag) continue;
    rec_t *r = at(st, st->ids[i].seq);
    if (r->span == span && memcmp(r->trace, trace, 16) == 0) return r;
  }
  return NULL;
}

/* ---- reading spans from a request ---------------------------------------------- */

static pc_str_t cut_utf8(pc_str_t s) {
  if (s.n <= PC_SPAN_NAME_MAX) return s;
  size_t n = PC_SPAN_NAME_MAX;
  while (n && (s.p[n] & 0xC0) == 0x80) n--; /* not inside a character */
  return (pc_str_t){s.p, n};
}

static bool id_set(pc_str_t id, size_t want) {
  if (id.n != want) return false;
  for (size_t i = 0; i < want; i++)
    if (id.p[i]) return true;
  return false;
}

/* An integer attribute (semantic conventions write thread.id and
 * process.pid as ints; some SDKs send strings of digits). */
static bool attr_u32(const pc_kvs_t *kvs, const char *key, uint32_t *out) {
  const pc_anyvalue_t *v = pc_kvs_get(kvs, (pc_str_t){(const uint8_t *)key, strlen(key)});
  return v && pc_anyvalue_u32(NULL, v, out);
}

static pc_str_t attr_str(const pc_kvs_t *kvs, const char *key) {
  const pc_anyvalue_t *v = pc_kvs_get(kvs, (pc_str_t){(const uint8_t *)key, strlen(key)});
  return v && v->type == PC_AV_STRING ? v->u.s : (pc_str_t){0};
}

/* The record of sp (everything but the thread chain and the arrival),
 * with references to its strings. */
static void fill(stripe_t *st, rec_t *r, cold_t *c, const pc_span_t *sp, pc_str_t service,
                 bool has_rpid, uint32_t rpid) {
  memset(r, 0, sizeof *r);
  memset(c, 0, sizeof *c);
  memcpy(r->trace, sp->trace_id.p, 16);
  r->span = load64(sp->span_id.p);
  if (sp->parent_span_id.n == 8 && load64(sp->parent_span_id.p)) {
    r->parent = load64(sp->parent_span_id.p);
    r->bits |= B_PARENT;
    if ((sp->flags & PC_SPAN_FLAGS_HAS_IS_REMOTE) && (sp->flags & PC_SPAN_FLAGS_IS_REMOTE))
      r->bits |= B_REMOTE;
  }
  r->start = sp->start_time_unix_nano;
  r->end = sp->end_time_unix_nano;
  r->kind = (uint8_t)(sp->kind >= 0 && sp->kind <= 5 ? sp->kind : 0);
  r->status = (uint8_t)(sp->has_status && sp->status_code >= 0 && sp->status_code <= 2
                            ? sp->status_code : 0);
  if (attr_u32(&sp->attributes, "process.pid", &c->pid)) r->bits |= B_PID;
  else if (has_rpid) c->pid = rpid, r->bits |= B_PID;
  if (attr_u32(&sp->attributes, "thread.id", &c->tid)) r->bits |= B_TID;
  pc_str_t name = cut_utf8(sp->name);
  r->name = str_ref(&st->strs, name.p, name.n);
  r->service = str_ref(&st->strs, service.p, service.n);
}

static bool same_thread(const rec_t *a, const cold_t *ac, const rec_t *b, const cold_t *bc) {
  return (a->bits & (B_PID | B_TID)) == (b->bits & (B_PID | B_TID)) && ac->pid == bc->pid &&
         ac->tid == bc->tid;
}

/* Strings may have taken the stripe past its share: the oldest go. */
static void trim(stripe_t *st) {
  while (stripe_mem(st) > st->budget && (uint32_t)(st->head - st->tail) > 1) {
    evict_one(st);
    st->evicted_memory++;
  }
}

/* Record one span in its stripe (locked by the caller). A span the stripe
 * already has (a client's retry, an exporter sending a batch again) is
 * updated in place: it keeps its place in the ring, so it expires with its
 * first arrival. When its process or thread changed, its thread chain would
 * be wrong: the old record is marked dead (and leaves the id index) instead
 * and the span recorded as new. */
static void put(pc_spans_t *s, stripe_t *st, const pc_span_t *sp, pc_str_t service,
                bool has_rpid, uint32_t rpid, uint64_t now_ms) {
  expire(st, s->window_ms, now_ms);
  rec_t *old = lookup(st, sp->trace_id.p, trace_hash(sp->trace_id.p), load64(sp->span_id.p));
  if (old) {
    rec_t r;
    cold_t c;
    fill(st, &r, &c, sp, service, has_rpid, rpid);
    str_unref(&st->strs, old->name);
    str_unref(&st->strs, old->service);
    st->duplicates++;
    cold_t *oc = &st->cold[old - st->ring];
    if (same_thread(old, oc, &r, &c)) {
      r.arrived = old->arrived;
      c.tnext = oc->tnext;
      *old = r;
      *oc = c;
      trim(st);
      return;
    }
    /* Its thread chain still passes through it; a dead record matches
     * nothing. */
    ids_del(st, rec_tag(old), seq_of(st, old));
    old->name = old->service = 0;
    old->bits = B_DEAD;
    st->dead++;
    str_unref(&st->strs, r.name);
    str_unref(&st->strs, r.service);
  }
  if ((uint32_t)(st->head - st->tail) == st->cap && !grow(st)) {
    evict_one(st);
    st->evicted_memory++;
  }
  uint32_t seq = st->head;
  fill(st, at(st, seq), cold_at(st, seq), sp, service, has_rpid, rpid);
  at(st, seq)->arrived = (uint32_t)now_ms;
  index_put(st, seq);
  st->head++;
  st->added++;
  trim(st);
}

void pc_spans_add(pc_spans_t *s, const pc_traces_t *tr, uint64_t now_ms) {
  for (uint32_t i = 0; i < tr->n_resources; i++) {
    const pc_resource_spans_t *rs = &tr->resources[i];
    pc_str_t service = cut_utf8(attr_str(&rs->resource.attributes, "service.name"));
    uint32_t rpid = 0;
    bool has_rpid = attr_u32(&rs->resource.attributes, "process.pid", &rpid);
    for (uint32_t k = 0; k < rs->n_scopes; k++)
      for (uint32_t j = 0; j < rs->scopes[k].n_spans; j++) {
        const pc_span_t *sp = &rs->scopes[k].spans[j];
        stripe_t *st = &s->stripes[0];
        bool ok = id_set(sp->trace_id, 16) && id_set(sp->span_id, 8);
        if (ok) st = &s->stripes[s->n_stripes > 1 ? trace_hash(sp->trace_id.p) >> s->shift : 0];
        pthread_mutex_lock(&st->mu);
        if (ok) put(s, st, sp, service, has_rpid, rpid, now_ms);
        else st->skipped++;
        pthread_mutex_unlock(&st->mu);
      }
  }
}

/* ---- lookups ------------------------------------------------------------------- */

static void copy_str(const strtab_t *t, uint32_t id, char *buf, uint16_t *n) {
  pc_str_t v = str_get(t, id);
  memcpy(buf, v.p ? (const char *)v.p : "", v.n);
  *n = (uint16_t)v.n;
}

static void copy_out(const stripe_t *st, const rec_t *r, pc_span_rec_t *out) {
  memcpy(out->trace_id, r->trace, 16);
  memcpy(out->span_id, &r->span, 8);
  memcpy(out->parent_span_id, &r->parent, 8);
  out->has_parent = r->bits & B_PARENT;
  out->parent_is_remote = r->bits & B_REMOTE;
  out->kind = r->kind;
  out->status_code = r->status;
  out->start_unix_nano = r->start;
  out->end_unix_nano = r->end;
  out->has_process = r->bits & B_PID;
  out->has_thread = r->bits & B_TID;
  out->process_id = out->thread_id = 0;
  if (r->bits & (B_PID | B_TID)) { /* the other array: read only when there is something */
    const cold_t *c = &st->cold[r - st->ring];
    out->process_id = c->pid;
    out->thread_id = c->tid;
  }
  copy_str(&st->strs, r->name, out->name, &out->name_n);
  copy_str(&st->strs, r->service, out->service, &out->service_n);
}

static stripe_t *stripe_of(pc_spans_t *s, uint64_t th) {
  return &s->stripes[s->n_stripes > 1 ? th >> s->shift : 0];
}

/* pc_spans_find with st locked and expired. */
static bool find_locked(stripe_t *st, const uint8_t trace_id[16], uint64_t th, uint64_t span_id,
                        pc_span_rec_t *span, pc_span_rec_t *local_root, pc_span_rec_t *top) {
  st->lookups++;
  const rec_t *r = lookup(st, trace_id, th, span_id);
  if (!r) return false;
  st->found++;
  copy_out(st, r, span);
  if (local_root) {
    const rec_t *cur = r;
    for (int i = 0; i < MAX_WALK && (cur->bits & (B_PARENT | B_REMOTE)) == B_PARENT; i++) {
      const rec_t *p = lookup(st, trace_id, th, cur->parent);
      if (!p || p->service != cur->service) break;
      cur = p;
    }
    copy_out(st, cur, local_root);
  }
  if (top) {
    const rec_t *cur = r;
    for (int i = 0; i < MAX_WALK && (cur->bits & B_PARENT); i++) {
      const rec_t *p = lookup(st, trace_id, th, cur->parent);
      if (!p) break;
      cur = p;
    }
    copy_out(st, cur, top);
  }
  return true;
}

bool pc_spans_find(pc_spans_t *s, const uint8_t trace_id[16], const uint8_t span_id[8],
                   uint64_t now_ms, pc_span_rec_t *span, pc_span_rec_t *local_root,
                   pc_span_rec_t *top) {
  uint64_t th = trace_hash(trace_id);
  stripe_t *st = stripe_of(s, th);
  pthread_mutex_lock(&st->mu);
  expire(st, s->window_ms, now_ms);
  bool found = find_locked(st, trace_id, th, load64(span_id), span, local_root, top);
  pthread_mutex_unlock(&st->mu);
  return found;
}

/* In a table of many megabytes a lookup is two cache misses, its index
 * entries and then its record, and a local root is another two: done one
 * key after the other they are most of what enriching a request costs.
 * Here, per group of keys, every key's home slot is prefetched, then every
 * matching record, then the same for the parents, so the misses overlap;
 * the last pass looks each key up as pc_spans_find does. The group's
 * stripes are locked together for all the passes: a lock is a full memory
 * barrier on x86, and taking one per key would wait for the previous key's
 * loads, making the misses one after the other again. Lock order:
 * ascending stripe index (nothing else holds two stripes' locks). */
#define FIND_GROUP 16

static void prefetch_home(const stripe_t *st, uint64_t th, uint64_t span) {
  __builtin_prefetch(&st->ids[id_home(st, id_tag(th, span))]);
}

/* Prefetch the records whose tag matches (the home slot's line is there,
 * or on its way: this waits for it). */
static void prefetch_records(const stripe_t *st, uint64_t th, uint64_t span) {
  uint32_t tag = id_tag(th, span);
  for (uint32_t i = id_home(st, tag); st->ids[i].tag; i = id_next(st, i))
    if (st->ids[i].tag == tag) __builtin_prefetch(at(st, st->ids[i].seq));
}

static void find_group(pc_spans_t *s, const pc_link_t *keys, size_t n, uint64_t now_ms,
                       pc_span_rec_t *spans, pc_span_rec_t *local_roots, bool *found) {
  uint64_t th[FIND_GROUP], span[FIND_GROUP];
  unsigned si[FIND_GROUP], order[FIND_GROUP], n_order = 0;
  for (size_t k = 0; k < n; k++) {
    th[k] = trace_hash(keys[k].trace_id.p);
    span[k] = load64(keys[k].span_id.p);
    si[k] = s->n_stripes > 1 ? (unsigned)(th[k] >> s->shift) : 0;
    unsigned at = n_order; /* insert into the sorted distinct stripes */
    while (at && order[at - 1] > si[k]) at--;
    if (at && order[at - 1] == si[k]) continue;
    memmove(&order[at + 1], &order[at], (n_order - at) * sizeof *order);
    order[at] = si[k];
    n_order++;
  }
  for (unsigned i = 0; i < n_order; i++) {
    pthread_mutex_lock(&s->stripes[order[i]].mu);
    expire(&s->stripes[order[i]], s->window_ms, now_ms);
  }
  for (size_t k = 0; k < n; k++) prefetch_home(&s->stripes[si[k]], th[k], span[k]);
  for (size_t k = 0; k < n; k++) prefetch_records(&s->stripes[si[k]], th[k], span[k]);
  uint64_t parent[FIND_GROUP];
  for (size_t k = 0; k < n; k++) {
    const stripe_t *st = &s->stripes[si[k]];
    const rec_t *r = lookup(st, keys[k].trace_id.p, th[k], span[k]);
    parent[k] = 0;
    if (!r) continue;
    if (r->bits & (B_PID | B_TID)) __builtin_prefetch(&st->cold[r - st->ring]);
    if (local_roots && (r->bits & (B_PARENT | B_REMOTE)) == B_PARENT) {
      parent[k] = r->parent;
      prefetch_home(st, th[k], parent[k]);
    }
  }
  for (size_t k = 0; k < n; k++)
    if (parent[k]) prefetch_records(&s->stripes[si[k]], th[k], parent[k]);
  for (size_t k = 0; k < n; k++)
    found[k] = find_locked(&s->stripes[si[k]], keys[k].trace_id.p, th[k], span[k], &spans[k],
                           local_roots ? &local_roots[k] : NULL, NULL);
  for (unsigned i = n_order; i-- > 0;) pthread_mutex_unlock(&s->stripes[order[i]].mu);
}

void pc_spans_find_many(pc_spans_t *s, const pc_link_t *keys, size_t n, uint64_t now_ms,
                        pc_span_rec_t *spans, pc_span_rec_t *local_roots, bool *found) {
  for (size_t g = 0; g < n; g += FIND_GROUP)
    find_group(s, keys + g, n - g < FIND_GROUP ? n - g : FIND_GROUP, now_ms, spans + g,
                  local_roots ? local_roots + g : NULL, found + g);
}

size_t pc_spans_on_thread(pc_spans_t *s, uint32_t pid, uint32_t tid, uint64_t from_unix_nano,
                          uint64_t to_unix_nano, uint64_t now_ms, pc_thread_span_t *out,
                          size_t cap) {
  size_t n = 0;
  uint32_t b = thread_bucket(pid, tid);
  for (unsigned i = 0; i < s->n_stripes && n < cap; i++) {
    stripe_t *st = &s->stripes[i];
    pthread_mutex_lock(&st->mu);
    expire(st, s->window_ms, now_ms);
    uint32_t seq = st->threads[b & st->tmask], from = st->head;
    for (int walked = 0; walked < SPANS_THREAD_WALK && n < cap && step(st, from, seq); walked++) {
      const rec_t *r = at(st, seq);
      const cold_t *c = cold_at(st, seq);
      if ((r->bits & (B_PID | B_TID)) == (B_PID | B_TID) && c->pid == pid && c->tid == tid &&
          r->start <= to_unix_nano && r->end >= from_unix_nano) {
        pc_thread_span_t *o = &out[n++];
        memcpy(o->trace_id, r->trace, 16);
        memcpy(o->span_id, &r->span, 8);
        o->start_unix_nano = r->start;
        o->end_unix_nano = r->end;
      }
      from = seq;
      seq = c->tnext;
    }
    pthread_mutex_unlock(&st->mu);
  }
  return n;
}

/* ---- the table ------------------------------------------------------------------ */

pc_spans_t *pc_spans_new(const pc_spans_cfg_t *cfg) {
  pc_spans_t *s = pc_xcalloc(1, sizeof *s);
  s->window_ms = (uint32_t)(cfg->window_ms ? cfg->window_ms : 1);
  s->n_stripes = cfg->stripes ? cfg->stripes : 16;
  unsigned log2 = 0;
  while ((1u << log2) < s->n_stripes) log2++;
  s->n_stripes = 1u << log2;
  s->shift = 64 - log2;
  s->stripes = aligned_alloc(64, s->n_stripes * sizeof(stripe_t));
  if (!s->stripes) pc_oom();
  for (unsigned i = 0; i < s->n_stripes; i++)
    stripe_init(&s->stripes[i], (size_t)(cfg->max_bytes / s->n_stripes));
  return s;
}

void pc_spans_free(pc_spans_t *s) {
  if (!s) return;
  for (unsigned i = 0; i < s->n_stripes; i++) {
    stripe_t *st = &s->stripes[i];
    pthread_mutex_destroy(&st->mu);
    free_tables(st);
    strtab_free(&st->strs);
  }
  free(s->stripes);
  free(s);
}

void pc_spans_expire(pc_spans_t *s, uint64_t now_ms) {
  for (unsigned i = 0; i < s->n_stripes; i++) {
    pthread_mutex_lock(&s->stripes[i].mu);
    expire(&s->stripes[i], s->window_ms, now_ms);
    pthread_mutex_unlock(&s->stripes[i].mu);
  }
}

void pc_spans_stats(pc_spans_t *s, pc_spans_stats_t *out) {
  *out = (pc_spans_stats_t){0};
  for (unsigned i = 0; i < s->n_stripes; i++) {
    stripe_t *st = &s->stripes[i];
    pthread_mutex_lock(&st->mu);
    out->spans += (uint32_t)(st->head - st->tail) - st->dead;
    out->duplicates += st->duplicates;
    out->bytes += stripe_mem(st);
    out->string_bytes += st->strs.bytes;
    out->added += st->added;
    out->skipped += st->skipped;
    out->evicted_window += st->evicted_window;
    out->evicted_memory += st->evicted_memory;
    out->lookups += st->lookups;
    out->found += st->found;
    pthread_mutex_unlock(&st->mu);
  }
}
