/* attributes.c - the `attributes` processor: the Collector's attribute
 * actions on the attributes of every sample, with include/exclude.
 *
 *   processors:
 *     attributes:
 *       include: {match_type: strict, services: [checkout]}
 *       actions:
 *         - {key: deployment.environment, value: prod, action: upsert}
 *         - {key: thread.name, pattern: ^(?P<pool>[a-z]+)-\d+$, action: extract}
 *         - {key: process.command_args, action: delete}
 *
 * The actions and include/exclude are attraction.c's and match.c's; this
 * file is their storage for sample attributes, which live in the request's
 * dictionary: a sample holds a list of indices into the attribute table,
 * whose entries (KeyValueAndUnit) name their key by an index into the string
 * table. Many samples share one set of attributes (the same process, the
 * same thread), so the work is per distinct set, not per sample:
 *
 *   1. A sample's index list is looked up by content in a per-request cache;
 *      samples with the same list get the same answer, the same edited list.
 *      Every sample pays this lookup, so a short list of small indices (the
 *      usual one) is packed into one word and compared as one.
 *   2. A new list is loaded into a pc__amap_t, matched against include and
 *      exclude, and edited by the actions.
 *   3. Storing it back: an entry left alone keeps its table index; a set or
 *      added one is interned: looked up by content (key, unit, value) in the
 *      attribute table and taken from there when it exists, else appended
 *      once, its key interned into the string table the same way. So samples
 *      that had one set share one new entry after an edit, an edit that
 *      changes nothing adds nothing, and a list equal to the old one is the
 *      old one.
 *   4. At the end of the request the new strings and entries are appended to
 *      the tables in one copy each (from the request's arena).
 * Entries are never edited in place: locations, mappings and other samples
 * may share them. Unreferenced entries left behind are dropped by the
 * batch processor (or dedup) downstream, as any unused entry is.
 *
 * An entry can only equal one with the same key string index, so the
 * content hash set holds only the entries whose key an edit has interned
 * this request: the first intern of a key scans the table's keys once (an
 * integer compare per entry) and hashes the few entries that have it, so a
 * request the actions do not change costs the cache lookups and nothing
 * more, and one they do change does not hash the whole table. An entry
 * with a string value is first looked for by where its value is (the sets
 * of a request mostly add the same values), then by content. Keys are
 * found by a scan of the attribute table's keys once per distinct key per
 * request (intern_string). Edited lists may be shared by several samples
 * (read-only, like everything a consumer passes on). New values keep
 * strings inline (string_value); keys go through the string table.
 *
 * The Collector's attributes processor has no profiles support (its drafts
 * edited a profile's own attributes and were closed); sample attributes are
 * where the eBPF profiler puts per-process and per-thread data, so that is
 * what profcol's edits. Like the Collector's, it does not merge samples that
 * an edit made identical (its "identity conflict" warning). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "internal.h"
#include "processor.h"

/* A cached answer: an input list (a view into the request) and its output.
 * A short list of small indices is also packed into key (list_key), which
 * the lookup compares instead of the list. */
typedef struct {
  uint32_t gen; /* == the processor's gen: in use this request */
  uint32_t hash;
  uint32_t flags; /* what the match depended on (exclude's scope part) */
  uint64_t key;   /* list_key of in and flags; NO_KEY: compare in itself */
  pc_i32s_t in, out;
} cached_t;

/* A key interned this request and its string index. */
typedef struct {
  pc_str_t s;
  int32_t idx;
} key_index_t;

/* An entry interned this request, by where its string value is: the
 * distinct sets of a request mostly add the same values (an upsert's
 * constant, a pool extracted from a shared thread.name), and an entry
 * with the same key, unit and value bytes is the same entry. */
typedef struct {
  uint32_t gen; /* == the processor's gen: valid this request */
  int32_t key, unit, idx;
  pc_str_t value;
} interned_t;
#define INTERNED_SLOTS 32

/* An open-addressing set of table indices (index + 1; 0 is empty). */
typedef struct {
  uint32_t *v;
  uint32_t mask;
  uint32_t n;
} iset_t;

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  pc__actions_t *actions;
  pc__match_t *include, *exclude;
  pc__amap_t map;
  /* per request */
  pc_request_t *req;
  cached_t *cache;
  uint32_t cache_mask, cache_n, gen;
  iset_t attrs; /* the entries with a key in set_keys (intern_attr) */
  interned_t interned[INTERNED_SLOTS]; /* string entries interned this request */
  bool attrs_built;
  int32_t *set_keys; /* key string indices whose entries are in attrs */
  uint32_t n_set_keys, cap_set_keys;
  key_index_t *keys; /* keys interned this request */
  uint32_t n_keys, cap_keys;
  uint32_t base_strings, base_attrs; /* table lengths when the request came */
  pc_str_t *new_strings;
  uint32_t n_new_strings, cap_new_strings;
  pc_attr_t *new_attrs;
  uint32_t n_new_attrs, cap_new_attrs;
  int32_t *list; /* scratch: the list being stored */
  uint32_t list_cap;
  /* counters */
  uint64_t sets_edited, entries_added;
} attrs_t;

typedef struct {
  const pc_cfg_node_t *actions, *include, *exclude;
} attrs_cfg_t;

static const pc_opt_t attrs_opts[] = {
    PC_OPT_ANY("actions", attrs_cfg_t, actions, PC__ACTIONS_HELP),
    PC_OPT_ANY("include", attrs_cfg_t, include,
               "edit only samples that match: match_type (strict | regexp) and any of services "
               "(the resource's service.name), resources, libraries (the scope) and attributes "
               "(the sample's), lists that must all match"),
    PC_OPT_ANY("exclude", attrs_cfg_t, exclude,
               "leave samples that match alone: the same keys as include, checked after it"),
    PC_OPT_TABLE_END,
};

static attrs_t *attrs_of(pc_consumer_t *c) {
  return (attrs_t *)(void *)((char *)c - offsetof(attrs_t, consumer));
}

/* ---- the tables as they grow during a request -------------------------------------------- */

static const pc_attr_t *attr_at(const attrs_t *p, uint32_t i) {
  return i < p->base_attrs ? &p->req->dict.attrs[i] : &p->new_attrs[i - p->base_attrs];
}

/* An entry's content hash; lists, maps and bytes hash by type only (they
 * are compared as never equal, so they are simply appended). */
static uint32_t attr_hash(const attrs_t *p, const pc_attr_t *a) {
  pc_anyvalue_t v = a->has_value ? pc__value_resolved(&p->req->dict, a->value) : (pc_anyvalue_t){0};
  /* One-shot: the key, unit and type are the seed, the value the input
   * (the streaming state cost more than the few bytes it hashed). */
  uint64_t seed = ((uint64_t)(uint32_t)a->key_strindex << 32 | (uint32_t)a->unit_strindex) ^
                  (uint64_t)v.type * 0x9E3779B97F4A7C15ull;
  switch (v.type) {
  case PC_AV_STRING: return (uint32_t)XXH3_64bits_withSeed(v.u.s.p, v.u.s.n, seed);
  case PC_AV_BOOL: return (uint32_t)XXH3_64bits_withSeed(&v.u.b, sizeof v.u.b, seed);
  case PC_AV_INT: return (uint32_t)XXH3_64bits_withSeed(&v.u.i, sizeof v.u.i, seed);
  case PC_AV_DOUBLE: return (uint32_t)XXH3_64bits_withSeed(&v.u.d, sizeof v.u.d, seed);
  default: return (uint32_t)XXH3_64bits_withSeed(NULL, 0, seed);
  }
}

static bool attr_eq(const attrs_t *p, const pc_attr_t *a, const pc_attr_t *b) {
  if (a->key_strindex != b->key_strindex || a->unit_strindex != b->unit_strindex) return false;
  pc_anyvalue_t x = a->has_value ? pc__value_resolved(&p->req->dict, a->value) : (pc_anyvalue_t){0};
  pc_anyvalue_t y = b->has_value ? pc__value_resolved(&p->req->dict, b->value) : (pc_anyvalue_t){0};
  if (x.type != y.type) return false;
  switch (x.type) {
  case PC_AV_NONE: return true;
  case PC_AV_STRING: return pc_str_eq(x.u.s, y.u.s);
  case PC_AV_BOOL: return x.u.b == y.u.b;
  case PC_AV_INT: return x.u.i == y.u.i;
  case PC_AV_DOUBLE: return memcmp(&x.u.d, &y.u.d, sizeof x.u.d) == 0;
  default: return false;
  }
}

static void iset_reset(iset_t *s, uint32_t want) {
  uint32_t cap = 16;
  while (cap < want * 2) cap *= 2;
  if (!s->v || s->mask + 1 < cap) {
    free(s->v);
    s->v = pc_xcalloc(cap, sizeof *s->v);
    s->mask = cap - 1;
  } else {
    memset(s->v, 0, (size_t)(s->mask + 1) * sizeof *s->v);
  }
  s->n = 0;
}

static void iset_grow(iset_t *s, uint32_t (*hash_of)(const attrs_t *, uint32_t), const attrs_t *p) {
  uint32_t *old = s->v, cap = s->mask + 1;
  s->v = pc_xcalloc((size_t)cap * 2, sizeof *s->v);
  s->mask = cap * 2 - 1;
  for (uint32_t i = 0; i < cap; i++)
    if (old[i]) {
      uint32_t at = hash_of(p, old[i] - 1) & s->mask;
      while (s->v[at]) at = (at + 1) & s->mask;
      s->v[at] = old[i];
    }
  free(old);
}

static uint32_t attr_hash_at(const attrs_t *p, uint32_t i) { return attr_hash(p, attr_at(p, i)); }

/* Put index add (hash h) into the attribute set unless an equal entry is
 * there (UINT32_MAX: only look): returns the index that holds the content. */
static uint32_t attr_slot(attrs_t *p, const pc_attr_t *a, uint32_t h, uint32_t add) {
  iset_t *set = &p->attrs;
  for (uint32_t at = h & set->mask;; at = (at + 1) & set->mask) {
    if (!set->v[at]) {
      if (add == UINT32_MAX) return UINT32_MAX;
      set->v[at] = add + 1;
      if (++set->n * 2 > set->mask) iset_grow(set, attr_hash_at, p);
      return add;
    }
    if (attr_eq(p, attr_at(p, set->v[at] - 1), a)) return set->v[at] - 1;
  }
}

/* A table that is empty gets its zero entry (index 0 means "not set") before
 * anything else. */
static void push_string(attrs_t *p, pc_str_t s) {
  if (p->n_new_strings == p->cap_new_strings) {
    p->cap_new_strings = p->cap_new_strings ? p->cap_new_strings * 2 : 16;
    p->new_strings = pc_xrealloc(p->new_strings, (size_t)p->cap_new_strings * sizeof *p->new_strings);
  }
  p->new_strings[p->n_new_strings++] = s;
}

static void push_attr(attrs_t *p, pc_attr_t a) {
  if (p->n_new_attrs == p->cap_new_attrs) {
    p->cap_new_attrs = p->cap_new_attrs ? p->cap_new_attrs * 2 : 16;
    p->new_attrs = pc_xrealloc(p->new_attrs, (size_t)p->cap_new_attrs * sizeof *p->new_attrs);
  }
  p->new_attrs[p->n_new_attrs++] = a;
}

/* Only keys are interned into the string table (values stay inline), and
 * the keys an edit can add are few and fixed by the config (action keys,
 * extract's group names): each is looked for once per request among the
 * keys of the attribute table (a key already in use there is the one to
 * share), then remembered. The string table itself (thousands of function
 * and file names) is not searched: a key that is only there as some other
 * string gets an entry of its own, a harmless duplicate the batch
 * processor merges. Hashing the string table into a set for a handful of
 * lookups cost a whole pipeline 12.8% more CPU per request, scanning it
 * 5.6%, this 3.4% (bench/bench_attrs, bench/README.md). */
static int32_t intern_string(attrs_t *p, pc_str_t s) {
  for (uint32_t i = 0; i < p->n_keys; i++)
    if (pc_str_eq(p->keys[i].s, s)) return p->keys[i].idx;
  int32_t idx = -1;
  const pc_dictionary_t *d = &p->req->dict;
  for (uint32_t i = 1; i < p->base_attrs && idx < 0; i++) {
    int32_t k = d->attrs[i].key_strindex;
    if ((uint32_t)k < p->base_strings && pc_str_eq(d->strings[k], s)) idx = k;
  }
  if (idx < 0) {
    if (p->base_strings == 0 && p->n_new_strings == 0) push_string(p, (pc_str_t){0});
    if (s.n == 0) {
      idx = 0;
    } else {
      idx = (int32_t)(p->base_strings + p->n_new_strings);
      push_string(p, s);
    }
  }
  if (p->n_keys == p->cap_keys) {
    p->cap_keys = p->cap_keys ? p->cap_keys * 2 : 8;
    p->keys = pc_xrealloc(p->keys, (size_t)p->cap_keys * sizeof *p->keys);
  }
  p->keys[p->n_keys++] = (key_index_t){s, idx};
  return idx;
}

/* Put the entries with key string index key into the attribute set, once
 * per key per request: an entry with another key can never be equal. */
static void attrs_add_key(attrs_t *p, int32_t key) {
  for (uint32_t i = 0; i < p->n_set_keys; i++)
    if (p->set_keys[i] == key) return;
  if (p->n_set_keys == p->cap_set_keys) {
    p->cap_set_keys = p->cap_set_keys ? p->cap_set_keys * 2 : 8;
    p->set_keys = pc_xrealloc(p->set_keys, (size_t)p->cap_set_keys * sizeof *p->set_keys);
  }
  p->set_keys[p->n_set_keys++] = key;
  uint32_t n = p->base_attrs + p->n_new_attrs;
  for (uint32_t i = 0; i < n; i++) {
    const pc_attr_t *a = attr_at(p, i);
    if (a->key_strindex == key) attr_slot(p, a, attr_hash(p, a), i);
  }
}

static int32_t intern_attr_set(attrs_t *p, pc_attr_t a);

/* intern_attr_set, remembered by the string value's address. */
static int32_t intern_attr(attrs_t *p, pc_attr_t a) {
  if (a.value.type != PC_AV_STRING || !a.value.u.s.p) return intern_attr_set(p, a);
  uintptr_t h = ((uintptr_t)a.value.u.s.p >> 3) ^ ((uintptr_t)(uint32_t)a.key_strindex * 0x9E3779B1u);
  interned_t *m = &p->interned[(h ^ h >> 7) % INTERNED_SLOTS];
  if (m->gen == p->gen && m->key == a.key_strindex && m->unit == a.unit_strindex &&
      m->value.p == a.value.u.s.p && m->value.n == a.value.u.s.n)
    return m->idx;
  int32_t idx = intern_attr_set(p, a);
  *m = (interned_t){.gen = p->gen, .key = a.key_strindex, .unit = a.unit_strindex, .idx = idx,
                    .value = a.value.u.s};
  return idx;
}

static int32_t intern_attr_set(attrs_t *p, pc_attr_t a) {
  if (!p->attrs_built) {
    p->attrs_built = true;
    if (p->base_attrs == 0) push_attr(p, (pc_attr_t){0});
    iset_reset(&p->attrs, 16);
    p->n_set_keys = 0;
  }
  bool scalar = a.value.type != PC_AV_ARRAY && a.value.type != PC_AV_KVLIST &&
                a.value.type != PC_AV_BYTES;
  if (scalar) attrs_add_key(p, a.key_strindex);
  /* Pushed before it goes into the set: a set that grows on its insert
   * rehashes every index in it, this one too. Taken back if an equal
   * entry is there. */
  uint32_t next = p->base_attrs + p->n_new_attrs;
  push_attr(p, a);
  uint32_t at = scalar ? attr_slot(p, &a, attr_hash(p, &a), next) : next;
  if (at == next)
    p->entries_added++;
  else
    p->n_new_attrs--;
  return (int32_t)at;
}

/* Append what the request added to its tables, one copy each. */
static int commit(attrs_t *p) {
  pc_request_t *req = p->req;
  if (p->n_new_strings) {
    uint32_t n = p->base_strings + p->n_new_strings;
    pc_str_t *v = pc_arena_alloc(req->arena, (size_t)n * sizeof *v);
    if (!v) return PC_ENOMEM;
    if (p->base_strings) memcpy(v, req->dict.strings, (size_t)p->base_strings * sizeof *v);
    memcpy(v + p->base_strings, p->new_strings, (size_t)p->n_new_strings * sizeof *v);
    req->dict.strings = v;
    req->dict.n_strings = n;
  }
  if (p->n_new_attrs) {
    uint32_t n = p->base_attrs + p->n_new_attrs;
    pc_attr_t *v = pc_arena_alloc(req->arena, (size_t)n * sizeof *v);
    if (!v) return PC_ENOMEM;
    if (p->base_attrs) memcpy(v, req->dict.attrs, (size_t)p->base_attrs * sizeof *v);
    memcpy(v + p->base_attrs, p->new_attrs, (size_t)p->n_new_attrs * sizeof *v);
    req->dict.attrs = v;
    req->dict.n_attrs = n;
  }
  if (p->n_new_strings || p->n_new_attrs) req->has_dictionary = true;
  return 0;
}

/* ---- one attribute set ------------------------------------------------------------------ */

static void load(attrs_t *p, pc_i32s_t in) {
  pc__amap_clear(&p->map);
  const pc_dictionary_t *d = &p->req->dict;
  for (uint32_t k = 0; k < in.n; k++) {
    const pc_attr_t *a = pc_dict_attr(d, in.v[k]);
    pc_anyvalue_t v = a->has_value ? pc__value_resolved(d, a->value) : (pc_anyvalue_t){0};
    pc__amap_push(&p->map, pc_dict_string(d, a->key_strindex), v, (int32_t)k);
  }
}

/* The edited set's list: the input itself when no index changed. */
static int store(attrs_t *p, pc_i32s_t in, pc_i32s_t *out) {
  const pc__amap_t *m = &p->map;
  *out = in;
  if (!m->changed) return 0;
  if (m->n > p->list_cap) {
    p->list_cap = m->n * 2;
    p->list = pc_xrealloc(p->list, (size_t)p->list_cap * sizeof *p->list);
  }
  const pc_dictionary_t *d = &p->req->dict;
  for (uint32_t i = 0; i < m->n; i++) {
    const pc__am_entry_t *e = &m->v[i];
    if (e->src >= 0 && !e->set) {
      p->list[i] = in.v[e->src];
      continue;
    }
    pc_attr_t a = {.has_value = e->value.type != PC_AV_NONE, .value = e->value};
    if (e->src >= 0) {
      /* The same key: keep its string index and unit. */
      const pc_attr_t *was = pc_dict_attr(d, in.v[e->src]);
      a.key_strindex = was->key_strindex;
      a.unit_strindex = was->unit_strindex;
    } else {
      a.key_strindex = intern_string(p, e->key);
    }
    p->list[i] = intern_attr(p, a);
  }
  if (m->n == in.n && (!m->n || !memcmp(p->list, in.v, (size_t)m->n * sizeof *p->list))) return 0;
  int32_t *v = m->n ? pc_arena_alloc(p->req->arena, (size_t)m->n * sizeof *v) : NULL;
  if (m->n && !v) return PC_ENOMEM;
  if (m->n) memcpy(v, p->list, (size_t)m->n * sizeof *v);
  *out = (pc_i32s_t){v, m->n};
  p->sets_edited++;
  return 0;
}

/* flags: bit 0 exclude's scope part matched (its attributes decide). */
static int edit_set(attrs_t *p, pc_i32s_t in, uint32_t flags, pc_i32s_t *out) {
  *out = in;
  bool check_include = p->include && pc__match_has_attrs(p->include);
  bool check_exclude = (flags & 1) != 0;
  load(p, in);
  if (check_include && !pc__match_attrs(p->include, &p->map)) return 0;
  if (check_exclude && pc__match_attrs(p->exclude, &p->map)) return 0;
  if (pc__actions_apply(p->actions, &p->map, p->req->metadata, &p->req->dict, p->req->arena))
    return PC_ENOMEM;
  return store(p, in, out);
}

/* ---- the per-request cache of sets ------------------------------------------------------ */

/* The cache is sized by the distinct sets it meets (it grows at half
 * full), not by samples: a request of thousands of samples has tens of
 * sets, and a table that fits in the first-level cache is what keeps the
 * lookup that every sample pays cheap. */
static void cache_begin(attrs_t *p) {
  if (!p->cache) {
    p->cache = pc_xcalloc(64, sizeof *p->cache);
    p->cache_mask = 63;
    p->gen = 0;
  }
  if (++p->gen == 0) { /* wrapped: clear for real */
    memset(p->cache, 0, (size_t)(p->cache_mask + 1) * sizeof *p->cache);
    memset(p->interned, 0, sizeof p->interned);
    p->gen = 1;
  }
  p->cache_n = 0;
}

static void cache_grow(attrs_t *p) {
  cached_t *old = p->cache;
  uint32_t cap = p->cache_mask + 1;
  p->cache = pc_xcalloc((size_t)cap * 2, sizeof *p->cache);
  p->cache_mask = cap * 2 - 1;
  for (uint32_t i = 0; i < cap; i++)
    if (old[i].gen == p->gen) {
      uint32_t at = old[i].hash & p->cache_mask;
      while (p->cache[at].gen == p->gen) at = (at + 1) & p->cache_mask;
      p->cache[at] = old[i];
    }
  free(old);
}

/* A sample's index list and flags, hashed inline: lists are a few indices
 * long, and every sample pays this. */
static inline uint32_t list_hash(pc_i32s_t in, uint32_t flags) {
  uint64_t h = ((uint64_t)in.n << 1 | flags) * 0x9E3779B97F4A7C15ull;
  for (uint32_t i = 0; i < in.n; i++) h = (h ^ (uint32_t)in.v[i]) * 0xBF58476D1CE4E5B9ull;
  return (uint32_t)(h ^ h >> 31);
}

/* Most sample lists are short and index a small table (the eBPF
 * profiler's: thread.name, thread.id, container.id). Such a list and its
 * flags pack into one word: up to LIST_KEY_MAX indices of LIST_KEY_BITS
 * bits each, the length and the flag bit, so the per-sample lookup is one
 * multiply and one compare, not a hash loop and a walk of the cached list.
 * The packing is exact (a list maps to one word and back), so equal words
 * are equal lists. Anything else is NO_KEY and goes the general way. */
#define LIST_KEY_MAX 4
#define LIST_KEY_BITS 14
#define NO_KEY UINT64_MAX

static inline uint64_t list_key(pc_i32s_t in, uint32_t flags) {
  if (in.n > LIST_KEY_MAX || flags > 1) return NO_KEY; /* one flag bit has room */
  uint64_t k = (uint64_t)in.n << 1 | flags;
  for (uint32_t i = 0; i < in.n; i++) {
    if ((uint32_t)in.v[i] >= 1u << LIST_KEY_BITS) return NO_KEY; /* also negative */
    k |= (uint64_t)(uint32_t)in.v[i] << (4 + LIST_KEY_BITS * i);
  }
  return k;
}

static inline uint32_t key_hash(uint64_t k) {
  k *= 0x9E3779B97F4A7C15ull;
  return (uint32_t)(k >> 32);
}

static inline bool list_eq(pc_i32s_t x, pc_i32s_t y) {
  if (x.n != y.n) return false;
  for (uint32_t i = 0; i < x.n; i++)
    if (x.v[i] != y.v[i]) return false;
  return true;
}

static int edit_sample(attrs_t *p, pc_sample_t *s, uint32_t flags) {
  pc_i32s_t in = s->attribute_indices;
  uint64_t key = list_key(in, flags);
  uint32_t h, at;
  if (key != NO_KEY) {
    h = key_hash(key);
    for (at = h & p->cache_mask; p->cache[at].gen == p->gen; at = (at + 1) & p->cache_mask)
      if (p->cache[at].key == key) {
        s->attribute_indices = p->cache[at].out;
        return 0;
      }
  } else {
    h = list_hash(in, flags);
    for (at = h & p->cache_mask; p->cache[at].gen == p->gen; at = (at + 1) & p->cache_mask) {
      cached_t *c = &p->cache[at];
      if (c->key == NO_KEY && c->hash == h && c->flags == flags && list_eq(c->in, in)) {
        s->attribute_indices = c->out;
        return 0;
      }
    }
  }
  pc_i32s_t out;
  int rc = edit_set(p, in, flags, &out);
  if (rc) return rc;
  /* edit_set never touches the cache, so the slot found is still free. */
  p->cache[at] =
      (cached_t){.gen = p->gen, .hash = h, .flags = flags, .key = key, .in = in, .out = out};
  if (++p->cache_n * 2 > p->cache_mask) cache_grow(p);
  s->attribute_indices = out;
  return 0;
}

static int edit_request(attrs_t *p, pc_request_t *req) {
  p->req = req;
  p->base_strings = req->has_dictionary ? req->dict.n_strings : 0;
  p->base_attrs = req->has_dictionary ? req->dict.n_attrs : 0;
  if (!req->has_dictionary) req->dict = (pc_dictionary_t){0};
  p->n_new_strings = p->n_new_attrs = 0;
  p->attrs_built = false;
  p->n_keys = 0;
  cache_begin(p);
  for (uint32_t r = 0; r < req->n_resources; r++) {
    pc_resource_profiles_t *rp = &req->resources[r];
    const pc_resource_t *res = rp->has_resource ? &rp->resource : NULL;
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      pc_scope_profiles_t *sp = &rp->scopes[s];
      const pc_scope_t *scope = sp->has_scope ? &sp->scope : NULL;
      if (p->include && !pc__match_scope(p->include, req, res, scope)) continue;
      uint32_t flags = 0;
      if (p->exclude && pc__match_scope(p->exclude, req, res, scope)) {
        if (!pc__match_has_attrs(p->exclude)) continue; /* all of this scope is excluded */
        flags = 1;
      }
      for (uint32_t k = 0; k < sp->n_profiles; k++) {
        pc_profile_t *prof = &sp->profiles[k];
        for (uint32_t i = 0; i < prof->n_samples; i++) {
          int rc = edit_sample(p, &prof->samples[i], flags);
          if (rc) return rc;
        }
      }
    }
  }
  return commit(p);
}

static int attrs_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  attrs_t *p = attrs_of(self);
  if (!req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow tables in", p->id);
  if (edit_request(p, req))
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory editing sample attributes", p->id);
  pc__actions_warn_limit(p->actions, p->id);
  return p->next->consume_profiles(p->next, req, err);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void attrs_destroy(void *self);

static void *attrs_create(const pc_create_args_t *args, pc_err_t *err) {
  attrs_cfg_t c = {0};
  if (pc_cfg_apply(attrs_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  attrs_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  if (!c.actions) {
    pc_cfg_error(err, args->cfg, PC_EINVAL, "needs actions: a list of one or more actions");
    goto fail;
  }
  if (!(p->actions = pc__actions_parse(c.actions, err))) goto fail;
  if (c.include && c.include->type != PC_CFG_NULL && !(p->include = pc__match_parse(c.include, err)))
    goto fail;
  if (c.exclude && c.exclude->type != PC_CFG_NULL && !(p->exclude = pc__match_parse(c.exclude, err)))
    goto fail;
  p->consumer.consume_profiles = attrs_consume_profiles;
  p->consumer.retry_after_s = p->next->retry_after_s;
  return p;
fail:
  attrs_destroy(p);
  return NULL;
}

static pc_consumer_t *attrs_consumer(void *self) { return &((attrs_t *)self)->consumer; }

static int attrs_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

/* Nothing is held between calls: done at once. */
static void attrs_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void attrs_metrics(void *self, pc_metrics_t *m) {
  attrs_t *p = self;
  pc_metrics_counter(m, "profcol_processor_attributes_sets_edited",
                     "Distinct sample attribute sets that an action changed", p->sets_edited, NULL);
  pc_metrics_counter(m, "profcol_processor_attributes_entries_added",
                     "Attribute table entries added (an edit finds an equal entry first)",
                     p->entries_added, NULL);
  pc_metrics_counter(m, "profcol_processor_attributes_regex_limit_hits",
                     "Pattern matches stopped at the backtracking limit (counted as no match)",
                     pc__actions_regex_limit_hits(p->actions), NULL);
}

static void attrs_destroy(void *self) {
  attrs_t *p = self;
  if (!p) return;
  pc__actions_free(p->actions);
  pc__match_free(p->include);
  pc__match_free(p->exclude);
  pc__amap_free(&p->map);
  free(p->cache);
  free(p->attrs.v);
  free(p->keys);
  free(p->set_keys);
  free(p->new_strings);
  free(p->new_attrs);
  free(p->list);
  free(p);
}

const pc_component_t pc_processor_attributes = {
    .type = "attributes",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .mutates = true, /* edits sample attribute lists and grows the dictionary in place */
    .stability = "development",
    .options = attrs_opts,
    .create = attrs_create,
    .consumer = attrs_consumer,
    .start = attrs_start,
    .shutdown = attrs_shutdown,
    .destroy = attrs_destroy,
    .metrics = attrs_metrics,
};
