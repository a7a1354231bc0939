/* intern.c - the batch builder (intern.h): content-addressed dictionary
 * tables, index rewriting, resource and scope merging, all-or-nothing adds.
 *
 * The one idea: an input index is mapped to a builder index the first time
 * something needs it, and the answer is memoized for the rest of the add (one
 * int32 per input entry, -1 = not mapped yet). Mapping an entry maps its
 * children first, then hashes the entry in its builder form (children already
 * rewritten) with XXH3 and looks it up in an open-addressing set of the
 * builder's entries; two entries are therefore equal exactly when their
 * contents are, all the way down. Only what the tree reaches is ever mapped,
 * so unreferenced input entries are never copied.
 *
 * Samples are the bulk of a batch, so a merged profile keeps its samples as
 * their protobuf encoding, indices already rewritten: a flush can copy them
 * out as they are (pc_builder_encode), and they are decoded into pc_sample_t
 * arrays only when a consumer asks for the tree (pc_builder_request). A
 * sample attribute list that several samples share (processors that edit
 * sample attributes hand out one list per distinct set) is encoded once per
 * add and its bytes copied for the others (list_memo_t).
 *
 * Sets are sized before the walk from the incoming table lengths (at most
 * two thirds full), and the output tables are reserved then too, so nothing
 * grows in the middle of a walk except arena memory, encoded samples and
 * scratch buffers. Allocation failures inside the walk longjmp back to the
 * add, which rolls the builder back: table
 * lengths are restored and the sets rebuilt without the new entries; tree
 * counts changed in pre-existing resources and scopes are restored from an
 * undo list of touched resources. */
#include "intern.h"

#include <assert.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
/* Inlined, so that hashing an entry of a few bytes is not a call through
 * the PLT into a function that first dispatches on the length. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"
#include "wire.h"

/* Tables, children before the tables that refer to them. */
enum { T_STRING, T_FUNCTION, T_MAPPING, T_ATTR, T_LOCATION, T_STACK, T_LINK, T_COUNT };

/* A set slot: idx 0 is an empty slot (entry 0 is never in a set: zero
 * content is recognised before the lookup). hash is the low 32 bits of the
 * entry's XXH3, used for the bucket and as a tag before comparing. */
typedef struct {
  uint32_t hash;
  uint32_t idx;
} slot_t;

typedef struct {
  slot_t *v;
  uint32_t mask; /* capacity - 1; capacity is a power of two */
} hset_t;

/* A merged profile's samples, encoded, with the array sizes of their
 * pc_sample_t form (so decoding them is one pass). */
typedef struct {
  pc_str_t pb;
  size_t words; /* values and timestamps */
  size_t attrs; /* attribute indices */
} enc_samples_t;

/* Bookkeeping beside each output scope and resource: the identity hash, the
 * capacity of its arena-grown child array, and what an add changed. */
typedef struct {
  uint64_t hash;
  enc_samples_t *samples; /* parallel to the scope's profiles */
  uint32_t prof_cap;
  uint32_t gen; /* add that last touched it */
  uint32_t saved_n_profiles;
} scope_meta_t;

typedef struct {
  uint64_t hash;
  uint32_t scope_cap;
  uint32_t gen;
  uint32_t saved_n_scopes;
  scope_meta_t *scopes;
} res_meta_t;

typedef struct {
  uint32_t n[T_COUNT];
  uint32_t n_resources;
  uint32_t n_order;
  pc_builder_stats_t st;
} checkpoint_t;

/* Encoded samples live in chunks of their own, oldest first, so that
 * pc_builder_request can free each chunk as soon as it has decoded what the
 * chunk holds: the batch never holds both forms of all its samples. */
typedef struct chunk {
  struct chunk *next;
  size_t size, used;
  _Alignas(8) uint8_t data[];
} chunk_t;
enum { CHUNK_SIZE = 64 * 1024 };

/* A sample attribute list of the current add, known by its address: what
 * its packed indices take in the input and in the output, and where the
 * output bytes were first written (NULL: not yet). Processors that edit
 * sample attributes (attributes, k8s_attributes, trace_link) hand every
 * sample of one distinct set the same list, so a request of thousands of
 * samples has tens of lists: each is mapped, sized and encoded once, and
 * its other samples copy the bytes. An input is read-only during an add,
 * so an address names one content until the add ends (gen). */
typedef struct {
  const int32_t *v;
  uint32_t n, gen;
  uint32_t in_size, out_size; /* varint bytes of the indices, input and output */
  const uint8_t *enc;
} list_memo_t;
enum { LIST_MEMO = 256 }; /* direct-mapped by address: a miss costs a recompute */

/* A sample's sizes from samples_encode's sizing pass: its body, and of
 * that the bytes of its packed values and of its packed attribute indices
 * (so the writing pass need not size a list whose memo slot another list
 * took meanwhile: with one list per sample, as trace_link makes, most). */
typedef struct {
  uint32_t body, values, attrs;
} smp_size_t;

/* A merged profile with encoded samples: resource, scope, profile. */
typedef struct {
  uint32_t r, s, k;
} prof_ref_t;

struct pc_builder {
  pc_arena_t *arena;
  /* The batch: tables and resource array are malloc'd and owned here; out
   * is a copy handed to consumers, which may edit it (even swap a table for
   * an arena copy) without touching what the builder frees or grows. */
  pc_dictionary_t dict;
  pc_resource_profiles_t *res;
  uint32_t n_res;
  pc_request_t out;
  uint32_t cap[T_COUNT]; /* capacity of the output tables */
  hset_t sets[T_COUNT];
  /* res_meta is parallel to res, same capacity. */
  uint32_t res_cap;
  res_meta_t *res_meta;
  hset_t res_set; /* idx = resource index + 1 */
  uint32_t *undo; /* pre-existing resources touched by the current add */
  uint32_t n_undo, undo_cap;
  uint32_t gen;           /* number of the current add */
  uint32_t old_resources; /* resources before the current add */
  /* The current input and its index maps. */
  const pc_dictionary_t *in;
  int32_t *rm[T_COUNT];
  uint32_t rm_cap[T_COUNT];
  /* Scratch: the entry being hashed, in a canonical byte form; hashes of
   * a stack's locations (map_stack_locations). */
  uint8_t *key;
  size_t key_n, key_cap;
  uint64_t *loc_hash;
  uint32_t loc_hash_cap;
  /* Per sample of the profile being encoded, from the sizing pass for the
   * writing pass (samples_encode). */
  smp_size_t *smp_len;
  uint32_t smp_len_cap;
  /* Sample attribute lists met in the current add (list_memo). */
  list_memo_t lists[LIST_MEMO];
  jmp_buf oom;
  pc_builder_stats_t st;
  /* Encoded samples: chunks in allocation order, and the profiles that own
   * them in the same order (decoded from n_decoded on). */
  chunk_t *chunks, *chunk_tail;
  size_t chunk_bytes;
  prof_ref_t *order;
  uint32_t n_order, order_cap, n_decoded;
  /* Arena bytes handed out, and of them samples in pc_sample_t form
   * (pc_builder_mem_detail). */
  size_t arena_bytes, view_bytes;
};

static const uint8_t zero_id[16];

/* ---- allocation ------------------------------------------------------------ */

_Noreturn static void oom(pc_builder_t *b) { longjmp(b->oom, 1); }

static void *bal(pc_builder_t *b, size_t n) {
  void *p = pc_arena_alloc(b->arena, n);
  if (!p) oom(b);
  b->arena_bytes += n ? (n + 7) & ~(size_t)7 : 8; /* as the arena rounds */
  return p;
}

/* n bytes for encoded samples, from the newest chunk or a new one. */
static uint8_t *chunk_alloc(pc_builder_t *b, size_t n) {
  chunk_t *c = b->chunk_tail;
  if (!c || c->size - c->used < n) {
    size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
    if (!(c = malloc(sizeof *c + size))) oom(b);
    *c = (chunk_t){.size = size};
    if (b->chunk_tail)
      b->chunk_tail->next = c;
    else
      b->chunks = c;
    b->chunk_tail = c;
    b->chunk_bytes += size;
  }
  uint8_t *p = c->data + c->used;
  c->used += n;
  return p;
}

/* Free the oldest chunk. */
static void chunk_pop(pc_builder_t *b) {
  chunk_t *c = b->chunks;
  b->chunks = c->next;
  if (!b->chunks) b->chunk_tail = NULL;
  b->chunk_bytes -= c->size;
  free(c);
}

static pc_str_t bdup(pc_builder_t *b, pc_str_t s) {
  if (s.n == 0) return (pc_str_t){0};
  uint8_t *p = bal(b, s.n);
  memcpy(p, s.p, s.n);
  return (pc_str_t){p, s.n};
}

/* Grow a malloc'd array to hold at least need elements, in x1.25 steps:
 * the output tables are reserved for their length plus a whole input, so
 * they rarely grow, and slack here is memory the batch keeps. */
static void *grow(pc_builder_t *b, void *v, uint32_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return v;
  size_t nc = (size_t)*cap + *cap / 4;
  if (nc < need) nc = need;
  if (nc < 16) nc = 16;
  if (nc > UINT32_MAX) nc = UINT32_MAX;
  void *p = realloc(v, nc * elem);
  if (!p) oom(b);
  *cap = (uint32_t)nc;
  return p;
}

#define TABLE_RESERVE(b, arr, t, need)                                                   \
  ((b)->dict.arr = grow((b), (b)->dict.arr, &(b)->cap[t], (need),                \
                            sizeof *(b)->dict.arr))

/* ---- protobuf sizes ---------------------------------------------------------
 * Upper bounds of the canonical encoding, for stats.out_bytes and in_bytes.
 * Every field number in these messages is below 16: tags are one byte. */

/* 1 + floor(log2(v) / 7), by multiply and shift rather than a division
 * (log2 * 9 / 64 agrees with / 7 over 0..63): it runs per index per entry. */
static inline size_t vsz(uint64_t v) {
  return ((size_t)(63 - __builtin_clzll(v | 1)) * 9 + 73) / 64;
}
static inline size_t f_varint(uint64_t v) { return v ? 1 + vsz(v) : 0; }
static inline size_t f_i32(int32_t v) { return f_varint((uint64_t)(int64_t)v); }
static inline size_t f_len(size_t n) { return 1 + vsz(n) + n; }
static inline size_t f_bytes(pc_str_t s) { return s.n ? f_len(s.n) : 0; }
/* A message that keeps growing (resource, scope, profile, dictionary):
 * tag plus the longest length prefix we allow. */
enum { CONTAINER = 6 };

/* Bytes of int32 varints: 1 to 5, or 10 for a negative (sign-extended)
 * value. Written without branches or clz so that it vectorizes: stacks
 * run it over dozens of indices on every add. */
static size_t i32s_varint_size(const int32_t *v, uint32_t n) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)v[i];
    sum += 1u + (u > 0x7f) + (u > 0x3fff) + (u > 0x1fffff) + (u > 0xfffffff) + 5u * (v[i] < 0);
  }
  return sum;
}

static size_t f_packed(pc_i32s_t l) { return l.n ? f_len(i32s_varint_size(l.v, l.n)) : 0; }

static size_t kv_size(const pc_keyvalue_t *kv);

static size_t anyvalue_size(const pc_anyvalue_t *v) {
  size_t n = 0;
  switch (v->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: return f_len(v->u.s.n);
  case PC_AV_BOOL: return 2;
  case PC_AV_INT: return 1 + vsz((uint64_t)v->u.i);
  case PC_AV_DOUBLE: return 9;
  case PC_AV_STRINDEX: return 1 + vsz((uint64_t)(int64_t)v->u.strindex);
  case PC_AV_ARRAY:
    for (uint32_t i = 0; i < v->u.array.n; i++) n += f_len(anyvalue_size(&v->u.array.v[i]));
    return f_len(n);
  case PC_AV_KVLIST:
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) n += f_len(kv_size(&v->u.kvlist.v[i]));
    return f_len(n);
  case PC_AV_NONE: break;
  }
  return 0;
}

static size_t kv_size(const pc_keyvalue_t *kv) {
  return f_bytes(kv->key) + f_i32(kv->key_strindex) +
         (kv->has_value ? f_len(anyvalue_size(&kv->value)) : 0);
}

static size_t kvs_size(pc_kvs_t kvs) {
  size_t n = 0;
  for (uint32_t i = 0; i < kvs.n; i++) n += f_len(kv_size(&kvs.v[i]));
  return n;
}

static size_t strs_size(pc_strs_t l) {
  size_t n = 0;
  for (uint32_t i = 0; i < l.n; i++) n += f_len(l.v[i].n);
  return n;
}

static size_t resource_size(const pc_resource_profiles_t *rp) {
  size_t n = kvs_size(rp->resource.attributes) +
             f_varint(rp->resource.dropped_attributes_count);
  for (uint32_t i = 0; i < rp->resource.n_entity_refs; i++) {
    const pc_entity_ref_t *e = &rp->resource.entity_refs[i];
    n += f_len(f_bytes(e->schema_url) + f_bytes(e->type) + strs_size(e->id_keys) +
               strs_size(e->description_keys));
  }
  return CONTAINER + f_len(n) + f_bytes(rp->schema_url);
}

static size_t scope_size(const pc_scope_profiles_t *sp) {
  const pc_scope_t *s = &sp->scope;
  size_t n = f_bytes(s->name) + f_bytes(s->version) + kvs_size(s->attributes) +
             f_varint(s->dropped_attributes_count);
  return CONTAINER + f_len(n) + f_bytes(sp->schema_url);
}

static size_t valuetype_size(pc_valuetype_t vt) {
  return f_len(f_i32(vt.type_strindex) + f_i32(vt.unit_strindex));
}

static size_t profile_header_size(const pc_profile_t *p) {
  return CONTAINER + (p->has_sample_type ? valuetype_size(p->sample_type) : 0) +
         (p->time_unix_nano ? 9 : 0) + f_varint(p->duration_nano) +
         (p->has_period_type ? valuetype_size(p->period_type) : 0) +
         f_varint((uint64_t)p->period) + f_bytes(p->profile_id) +
         f_varint(p->dropped_attributes_count) + f_bytes(p->original_payload_format) +
         f_bytes(p->original_payload) + f_packed(p->attribute_indices);
}

/* Bytes of a sample's values as packed varints. */
static size_t values_varint_size(const pc_sample_t *s) {
  size_t v = 0;
  for (uint32_t i = 0; i < s->n_values; i++) v += vsz((uint64_t)s->values[i]);
  return v;
}

/* The parts of a sample that interning does not change, given
 * values_varint_size. */
static size_t sample_payload_size(const pc_sample_t *s, size_t values) {
  return (s->n_values ? f_len(values) : 0) +
         (s->n_timestamps ? f_len((size_t)s->n_timestamps * 8) : 0);
}

static size_t function_size(const pc_function_t *f) {
  return f_len(f_i32(f->name_strindex) + f_i32(f->system_name_strindex) +
               f_i32(f->filename_strindex) + f_varint((uint64_t)f->start_line));
}

static size_t mapping_size(const pc_mapping_t *m) {
  return f_len(f_varint(m->memory_start) + f_varint(m->memory_limit) +
               f_varint(m->file_offset) + f_i32(m->filename_strindex) +
               f_packed(m->attribute_indices));
}

static size_t location_size(const pc_location_t *l) {
  size_t n = f_i32(l->mapping_index) + f_varint(l->address) + f_packed(l->attribute_indices);
  for (uint32_t i = 0; i < l->n_lines; i++) {
    const pc_line_t *ln = &l->lines[i];
    n += f_len(f_i32(ln->function_index) + f_varint((uint64_t)ln->line) +
               f_varint((uint64_t)ln->column));
  }
  return f_len(n);
}

static size_t stack_size(const pc_stack_t *s) { return f_len(f_packed(s->location_indices)); }

static size_t link_size(const pc_link_t *l) {
  return f_len(f_bytes(l->trace_id) + f_bytes(l->span_id));
}

static size_t attr_size(const pc_attr_t *a) {
  return f_len(f_i32(a->key_strindex) + f_i32(a->unit_strindex) +
               (a->has_value ? f_len(anyvalue_size(&a->value)) : 0));
}

/* ---- hash sets -------------------------------------------------------------- */

static void hset_insert_slot(hset_t *h, slot_t s) {
  uint32_t k = s.hash & h->mask;
  while (h->v[k].idx) k = (k + 1) & h->mask;
  h->v[k] = s;
}

/* Make room for `entries` entries at a load of at most two thirds (linear
 * probing stays short; entries is an upper bound, the real load is lower). */
static void hset_reserve(pc_builder_t *b, hset_t *h, size_t entries) {
  size_t cap = 16;
  while (cap < entries + entries / 2) cap <<= 1;
  if (h->v && cap <= (size_t)h->mask + 1) return;
  if (cap > ((size_t)1 << 32)) oom(b);
  slot_t *nv = calloc(cap, sizeof *nv);
  if (!nv) oom(b);
  hset_t old = *h;
  *h = (hset_t){nv, (uint32_t)(cap - 1)};
  if (old.v) {
    for (size_t i = 0; i <= old.mask; i++)
      if (old.v[i].idx) hset_insert_slot(h, old.v[i]);
    free(old.v);
  }
}

/* Drop the slots of entries >= keep (rollback; rare): rebuild in place of a
 * fresh array of the same size. Aborts on allocation failure, because a
 * half-rolled-back builder would be worse. */
static void hset_truncate(hset_t *h, uint32_t keep) {
  if (!h->v) return;
  size_t cap = (size_t)h->mask + 1;
  slot_t *old = h->v;
  h->v = pc_xcalloc(cap, sizeof *h->v);
  for (size_t i = 0; i < cap; i++)
    if (old[i].idx && old[i].idx < keep) hset_insert_slot(h, old[i]);
  free(old);
}

static size_t hset_bytes(const hset_t *h) {
  return h->v ? ((size_t)h->mask + 1) * sizeof(slot_t) : 0;
}

typedef bool (*eq_fn)(pc_builder_t *b, uint32_t idx, const void *cand);

/* The slot holding an entry equal to cand, or the empty slot where it goes.
 * Inlined into each caller so that eq is a direct call. */
static inline __attribute__((always_inline)) slot_t *
hset_find(pc_builder_t *b, hset_t *h, uint32_t hash, eq_fn eq, const void *cand) {
  uint32_t k = hash & h->mask;
  for (;;) {
    slot_t *s = &h->v[k];
    if (!s->idx || (s->hash == hash && eq(b, s->idx, cand))) return s;
    k = (k + 1) & h->mask;
  }
}

/* ---- the key buffer: an entry in canonical bytes, to hash ------------------- */

static uint8_t *key_room(pc_builder_t *b, size_t n) {
  if (b->key_cap - b->key_n < n) {
    size_t nc = b->key_cap * 2;
    while (nc - b->key_n < n) nc *= 2;
    uint8_t *p = realloc(b->key, nc);
    if (!p) oom(b);
    b->key = p;
    b->key_cap = nc;
  }
  uint8_t *p = b->key + b->key_n;
  b->key_n += n;
  return p;
}

static void key_put(pc_builder_t *b, const void *p, size_t n) {
  if (n) memcpy(key_room(b, n), p, n);
}
static void key_u8(pc_builder_t *b, uint8_t v) { *key_room(b, 1) = v; }
static void key_u32(pc_builder_t *b, uint32_t v) { key_put(b, &v, sizeof v); }
static void key_u64(pc_builder_t *b, uint64_t v) { key_put(b, &v, sizeof v); }
static void key_str(pc_builder_t *b, pc_str_t s) {
  key_u32(b, (uint32_t)s.n);
  key_put(b, s.p, s.n);
}
static uint64_t key_hash64(const pc_builder_t *b) { return XXH3_64bits(b->key, b->key_n); }
static uint32_t key_hash(const pc_builder_t *b) { return (uint32_t)key_hash64(b); }

/* ---- index maps ------------------------------------------------------------ */

static int32_t first_string(pc_builder_t *b, int32_t i);
static int32_t first_function(pc_builder_t *b, int32_t i);
static int32_t first_mapping(pc_builder_t *b, int32_t i);
static int32_t first_attr(pc_builder_t *b, int32_t i);
static int32_t first_stack(pc_builder_t *b, int32_t i);
static int32_t first_link(pc_builder_t *b, int32_t i);

/* map_x(b, i): the builder index of input entry i of table x, interning it
 * (and its children) on first use. rm[t][0] is always 0. */
#define DEFINE_MAP(name, t)                                                   \
  static inline int32_t map_##name(pc_builder_t *b, int32_t i) {              \
    int32_t o = b->rm[t][i];                                                  \
    if (o >= 0) return o;                                                     \
    o = first_##name(b, i);                                                   \
    b->rm[t][i] = o;                                                          \
    return o;                                                                 \
  }
DEFINE_MAP(string, T_STRING)
DEFINE_MAP(function, T_FUNCTION)
DEFINE_MAP(mapping, T_MAPPING)
DEFINE_MAP(attr, T_ATTR)
/* Locations are mapped in bulk, a stack at a time (map_stack_locations). */
DEFINE_MAP(stack, T_STACK)
DEFINE_MAP(link, T_LINK)
#undef DEFINE_MAP

static void map_attrs(pc_builder_t *b, pc_i32s_t l) {
  for (uint32_t i = 0; i < l.n; i++) map_attr(b, l.v[i]);
}

/* Compare a builder list with an input list through the input's map. */
static bool list_eq_mapped(pc_i32s_t out, pc_i32s_t in, const int32_t *rm) {
  if (out.n != in.n) return false;
  for (uint32_t i = 0; i < in.n; i++)
    if (out.v[i] != rm[in.v[i]]) return false;
  return true;
}

static pc_i32s_t list_copy_mapped(pc_builder_t *b, pc_i32s_t in, const int32_t *rm) {
  if (!in.n) return (pc_i32s_t){0};
  int32_t *v = bal(b, (size_t)in.n * sizeof *v);
  for (uint32_t i = 0; i < in.n; i++) v[i] = rm[in.v[i]];
  return (pc_i32s_t){v, in.n};
}

static void key_list_mapped(pc_builder_t *b, pc_i32s_t in, const int32_t *rm) {
  key_u32(b, in.n);
  uint8_t *p = key_room(b, (size_t)in.n * sizeof(int32_t));
  for (uint32_t i = 0; i < in.n; i++) memcpy(p + (size_t)i * 4, &rm[in.v[i]], 4);
}

/* ---- strings ------------------------------------------------------------------ */

static bool string_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  return pc_str_eq(b->dict.strings[idx], *(const pc_str_t *)cand);
}

static uint32_t string_hash(pc_str_t s) { return (uint32_t)XXH3_64bits(s.p, s.n); }

/* s (not empty) with its string_hash h. */
static int32_t intern_string_h(pc_builder_t *b, pc_str_t s, uint32_t h) {
  slot_t *sl = hset_find(b, &b->sets[T_STRING], h, string_eq, &s);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_strings++;
  b->dict.strings[idx] = bdup(b, s);
  b->st.out_bytes += f_len(s.n);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

static int32_t intern_string(pc_builder_t *b, pc_str_t s) {
  return s.n ? intern_string_h(b, s, string_hash(s)) : 0;
}

static int32_t first_string(pc_builder_t *b, int32_t i) {
  pc_str_t s = b->in->strings[i];
  b->st.in_bytes += f_len(s.n);
  return intern_string(b, s);
}

/* Map the strings of input indices v[0..n): like map_string on each in
 * order, but every lookup's hash is computed and its slot prefetched
 * before the first lookup starts, so their cache misses overlap. */
static void map_strings(pc_builder_t *b, const int32_t *v, uint32_t n) {
  enum { MAX = 4 };
  uint32_t h[MAX] = {0};
  int32_t *rm = b->rm[T_STRING];
  const hset_t *set = &b->sets[T_STRING];
  for (uint32_t k = 0; k < n && k < MAX; k++) {
    pc_str_t s = b->in->strings[v[k]];
    if (rm[v[k]] >= 0 || !s.n) continue;
    h[k] = string_hash(s);
    __builtin_prefetch(&set->v[h[k] & set->mask]);
  }
  for (uint32_t k = 0; k < n && k < MAX; k++) {
    if (rm[v[k]] >= 0) continue;
    pc_str_t s = b->in->strings[v[k]];
    b->st.in_bytes += f_len(s.n);
    rm[v[k]] = s.n ? intern_string_h(b, s, h[k]) : 0;
  }
}

/* ---- functions ---------------------------------------------------------------- */

static bool function_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_function_t *x = &b->dict.functions[idx], *y = cand;
  return x->name_strindex == y->name_strindex &&
         x->system_name_strindex == y->system_name_strindex &&
         x->filename_strindex == y->filename_strindex && x->start_line == y->start_line;
}

static int32_t first_function(pc_builder_t *b, int32_t i) {
  const pc_function_t *f = &b->in->functions[i];
  b->st.in_bytes += function_size(f);
  const int32_t strs[3] = {f->name_strindex, f->system_name_strindex, f->filename_strindex};
  map_strings(b, strs, 3);
  const int32_t *rs = b->rm[T_STRING];
  int32_t name = rs[strs[0]], sys = rs[strs[1]], file = rs[strs[2]];
  if (!name && !sys && !file && !f->start_line) return 0;
  /* Fields packed by hand from the locals (struct padding must not reach
   * the hash, and a 64-bit load of two 32-bit fields just stored to the
   * struct stalls on store forwarding). */
  uint64_t k[3] = {(uint32_t)name | (uint64_t)(uint32_t)sys << 32, (uint32_t)file,
                   (uint64_t)f->start_line};
  uint32_t h = (uint32_t)XXH3_64bits(k, sizeof k);
  pc_function_t c = {.name_strindex = name, .system_name_strindex = sys,
                     .filename_strindex = file, .start_line = f->start_line};
  slot_t *sl = hset_find(b, &b->sets[T_FUNCTION], h, function_eq, &c);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_functions++;
  b->dict.functions[idx] = c;
  b->st.out_bytes += function_size(&c);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- mappings ----------------------------------------------------------------- */

static bool mapping_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_mapping_t *x = &b->dict.mappings[idx], *y = cand;
  return x->memory_start == y->memory_start && x->memory_limit == y->memory_limit &&
         x->file_offset == y->file_offset &&
         x->filename_strindex == b->rm[T_STRING][y->filename_strindex] &&
         list_eq_mapped(x->attribute_indices, y->attribute_indices, b->rm[T_ATTR]);
}

static int32_t first_mapping(pc_builder_t *b, int32_t i) {
  const pc_mapping_t *m = &b->in->mappings[i];
  b->st.in_bytes += mapping_size(m);
  int32_t file = map_string(b, m->filename_strindex);
  map_attrs(b, m->attribute_indices);
  if (!m->memory_start && !m->memory_limit && !m->file_offset && !file &&
      !m->attribute_indices.n)
    return 0;
  b->key_n = 0;
  key_u64(b, m->memory_start);
  key_u64(b, m->memory_limit);
  key_u64(b, m->file_offset);
  key_u32(b, (uint32_t)file);
  key_list_mapped(b, m->attribute_indices, b->rm[T_ATTR]);
  uint32_t h = key_hash(b);
  slot_t *sl = hset_find(b, &b->sets[T_MAPPING], h, mapping_eq, m);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_mappings++;
  pc_mapping_t *o = &b->dict.mappings[idx];
  *o = (pc_mapping_t){.memory_start = m->memory_start, .memory_limit = m->memory_limit,
                      .file_offset = m->file_offset, .filename_strindex = file,
                      .attribute_indices = list_copy_mapped(b, m->attribute_indices,
                                                            b->rm[T_ATTR])};
  b->st.out_bytes += mapping_size(o);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- AnyValues inside the dictionary (attribute values) ------------------------
 * Their string indices (string_value_strindex, nested key_strindex) are
 * rewritten like any other reference; everything else is copied. */

static void value_map_strings(pc_builder_t *b, const pc_anyvalue_t *v) {
  switch (v->type) {
  case PC_AV_STRINDEX: map_string(b, v->u.strindex); break;
  case PC_AV_ARRAY:
    for (uint32_t i = 0; i < v->u.array.n; i++) value_map_strings(b, &v->u.array.v[i]);
    break;
  case PC_AV_KVLIST:
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) {
      const pc_keyvalue_t *kv = &v->u.kvlist.v[i];
      map_string(b, kv->key_strindex);
      if (kv->has_value) value_map_strings(b, &kv->value);
    }
    break;
  default: break;
  }
}

static void key_value_mapped(pc_builder_t *b, const pc_anyvalue_t *v) {
  key_u8(b, (uint8_t)v->type);
  switch (v->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: key_str(b, v->u.s); break;
  case PC_AV_BOOL: key_u8(b, v->u.b); break;
  case PC_AV_INT: key_u64(b, (uint64_t)v->u.i); break;
  case PC_AV_DOUBLE: key_put(b, &v->u.d, sizeof v->u.d); break;
  case PC_AV_STRINDEX: key_u32(b, (uint32_t)b->rm[T_STRING][v->u.strindex]); break;
  case PC_AV_ARRAY:
    key_u32(b, v->u.array.n);
    for (uint32_t i = 0; i < v->u.array.n; i++) key_value_mapped(b, &v->u.array.v[i]);
    break;
  case PC_AV_KVLIST:
    key_u32(b, v->u.kvlist.n);
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) {
      const pc_keyvalue_t *kv = &v->u.kvlist.v[i];
      key_str(b, kv->key);
      key_u32(b, (uint32_t)b->rm[T_STRING][kv->key_strindex]);
      key_u8(b, kv->has_value);
      if (kv->has_value) key_value_mapped(b, &kv->value);
    }
    break;
  case PC_AV_NONE: break;
  }
}

/* Doubles compare by bit pattern, as they travel on the wire. */
static bool value_eq_mapped(const pc_builder_t *b, const pc_anyvalue_t *x,
                            const pc_anyvalue_t *y) {
  if (x->type != y->type) return false;
  switch (x->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: return pc_str_eq(x->u.s, y->u.s);
  case PC_AV_BOOL: return x->u.b == y->u.b;
  case PC_AV_INT: return x->u.i == y->u.i;
  case PC_AV_DOUBLE: return memcmp(&x->u.d, &y->u.d, sizeof x->u.d) == 0;
  case PC_AV_STRINDEX: return x->u.strindex == b->rm[T_STRING][y->u.strindex];
  case PC_AV_ARRAY:
    if (x->u.array.n != y->u.array.n) return false;
    for (uint32_t i = 0; i < x->u.array.n; i++)
      if (!value_eq_mapped(b, &x->u.array.v[i], &y->u.array.v[i])) return false;
    return true;
  case PC_AV_KVLIST:
    if (x->u.kvlist.n != y->u.kvlist.n) return false;
    for (uint32_t i = 0; i < x->u.kvlist.n; i++) {
      const pc_keyvalue_t *p = &x->u.kvlist.v[i], *q = &y->u.kvlist.v[i];
      if (!pc_str_eq(p->key, q->key) || p->key_strindex != b->rm[T_STRING][q->key_strindex] ||
          p->has_value != q->has_value ||
          (p->has_value && !value_eq_mapped(b, &p->value, &q->value)))
        return false;
    }
    return true;
  case PC_AV_NONE: break;
  }
  return true;
}

static pc_anyvalue_t value_copy_mapped(pc_builder_t *b, const pc_anyvalue_t *v);

static pc_kvs_t kvs_copy_mapped(pc_builder_t *b, pc_kvs_t in) {
  if (!in.n) return (pc_kvs_t){0};
  pc_keyvalue_t *o = bal(b, (size_t)in.n * sizeof *o);
  for (uint32_t i = 0; i < in.n; i++) {
    const pc_keyvalue_t *kv = &in.v[i];
    o[i] = (pc_keyvalue_t){.key = bdup(b, kv->key),
                           .key_strindex = map_string(b, kv->key_strindex),
                           .has_value = kv->has_value};
    if (kv->has_value) o[i].value = value_copy_mapped(b, &kv->value);
  }
  return (pc_kvs_t){o, in.n};
}

static pc_anyvalue_t value_copy_mapped(pc_builder_t *b, const pc_anyvalue_t *v) {
  pc_anyvalue_t o = *v;
  switch (v->type) {
  case PC_AV_STRING:
  case PC_AV_BYTES: o.u.s = bdup(b, v->u.s); break;
  case PC_AV_STRINDEX: o.u.strindex = map_string(b, v->u.strindex); break;
  case PC_AV_ARRAY:
    if (!v->u.array.n) {
      o.u.array.v = NULL;
      break;
    }
    o.u.array.v = bal(b, (size_t)v->u.array.n * sizeof *o.u.array.v);
    for (uint32_t i = 0; i < v->u.array.n; i++)
      o.u.array.v[i] = value_copy_mapped(b, &v->u.array.v[i]);
    break;
  case PC_AV_KVLIST: {
    pc_kvs_t kvs = kvs_copy_mapped(b, (pc_kvs_t){v->u.kvlist.v, v->u.kvlist.n});
    o.u.kvlist.v = kvs.v;
    break;
  }
  default: break;
  }
  return o;
}

/* ---- attributes (KeyValueAndUnit) ----------------------------------------------- */

static bool attr_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_attr_t *x = &b->dict.attrs[idx], *y = cand;
  return x->key_strindex == b->rm[T_STRING][y->key_strindex] &&
         x->unit_strindex == b->rm[T_STRING][y->unit_strindex] &&
         x->has_value == y->has_value &&
         (!x->has_value || value_eq_mapped(b, &x->value, &y->value));
}

static int32_t first_attr(pc_builder_t *b, int32_t i) {
  const pc_attr_t *a = &b->in->attrs[i];
  b->st.in_bytes += attr_size(a);
  int32_t key = map_string(b, a->key_strindex), unit = map_string(b, a->unit_strindex);
  if (a->has_value) value_map_strings(b, &a->value);
  if (!key && !unit && !a->has_value) return 0;
  b->key_n = 0;
  key_u32(b, (uint32_t)key);
  key_u32(b, (uint32_t)unit);
  key_u8(b, a->has_value);
  if (a->has_value) key_value_mapped(b, &a->value);
  uint32_t h = key_hash(b);
  slot_t *sl = hset_find(b, &b->sets[T_ATTR], h, attr_eq, a);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_attrs++;
  pc_attr_t *o = &b->dict.attrs[idx];
  *o = (pc_attr_t){.key_strindex = key, .unit_strindex = unit, .has_value = a->has_value};
  if (a->has_value) o->value = value_copy_mapped(b, &a->value);
  b->st.out_bytes += attr_size(o);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- locations ------------------------------------------------------------------- */

static bool location_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_location_t *x = &b->dict.locations[idx], *y = cand;
  if (x->address != y->address || x->n_lines != y->n_lines ||
      x->mapping_index != b->rm[T_MAPPING][y->mapping_index] ||
      !list_eq_mapped(x->attribute_indices, y->attribute_indices, b->rm[T_ATTR]))
    return false;
  const int32_t *rf = b->rm[T_FUNCTION];
  for (uint32_t k = 0; k < y->n_lines; k++) {
    const pc_line_t *p = &x->lines[k], *q = &y->lines[k];
    if (p->function_index != rf[q->function_index] || p->line != q->line ||
        p->column != q->column)
      return false;
  }
  return true;
}

/* The key: mapping, line count, address, each line (function, line,
 * column), then the attribute list. Sized first and written in one go:
 * locations are the most numerous keyed entries. */
static void location_key(pc_builder_t *b, const pc_location_t *l, int32_t mapping) {
  b->key_n = 0;
  size_t n = 16 + (size_t)l->n_lines * 24 + 4 + (size_t)l->attribute_indices.n * 4;
  uint8_t *p = key_room(b, n);
  uint32_t head[2] = {(uint32_t)mapping, l->n_lines};
  memcpy(p, head, 8);
  memcpy(p + 8, &l->address, 8);
  p += 16;
  const int32_t *rf = b->rm[T_FUNCTION];
  for (uint32_t k = 0; k < l->n_lines; k++, p += 24) {
    uint64_t f[3] = {(uint32_t)rf[l->lines[k].function_index], (uint64_t)l->lines[k].line,
                     (uint64_t)l->lines[k].column};
    memcpy(p, f, 24);
  }
  const pc_i32s_t a = l->attribute_indices;
  memcpy(p, &a.n, 4);
  for (uint32_t k = 0; k < a.n; k++) memcpy(p + 4 + (size_t)k * 4, &b->rm[T_ATTR][a.v[k]], 4);
}

/* First half of interning a location: map its children and hash its key.
 * False for the zero location, which maps to 0 without a lookup. */
static bool location_hash(pc_builder_t *b, int32_t i, uint32_t *h) {
  const pc_location_t *l = &b->in->locations[i];
  int32_t mapping = map_mapping(b, l->mapping_index);
  for (uint32_t k = 0; k < l->n_lines; k++) map_function(b, l->lines[k].function_index);
  map_attrs(b, l->attribute_indices);
  if (!mapping && !l->address && !l->n_lines && !l->attribute_indices.n) return false;
  location_key(b, l, mapping);
  *h = key_hash(b);
  return true;
}

/* Second half: the builder's index of input location i, added when new. */
static int32_t location_intern(pc_builder_t *b, int32_t i, bool nonzero, uint32_t h) {
  const pc_location_t *l = &b->in->locations[i];
  b->st.in_bytes += location_size(l);
  if (!nonzero) return 0;
  slot_t *sl = hset_find(b, &b->sets[T_LOCATION], h, location_eq, l);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_locations++;
  pc_location_t *o = &b->dict.locations[idx];
  *o = (pc_location_t){.mapping_index = b->rm[T_MAPPING][l->mapping_index],
                       .address = l->address, .n_lines = l->n_lines,
                       .attribute_indices = list_copy_mapped(b, l->attribute_indices,
                                                             b->rm[T_ATTR])};
  if (l->n_lines) {
    o->lines = bal(b, (size_t)l->n_lines * sizeof *o->lines);
    for (uint32_t k = 0; k < l->n_lines; k++) {
      o->lines[k] = l->lines[k];
      o->lines[k].function_index = b->rm[T_FUNCTION][l->lines[k].function_index];
    }
  }
  b->st.out_bytes += location_size(o);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- stacks ------------------------------------------------------------------------ */

/* Against the key, which holds the candidate's builder indices after its
 * count: one memcmp, no second pass through the index map. */
static bool stack_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_i32s_t *x = &b->dict.stacks[idx].location_indices, *y = cand;
  return x->n == y->n && memcmp(x->v, b->key + sizeof(uint32_t), (size_t)y->n * 4) == 0;
}

/* Map the locations of a stack. Each lookup would wait for its set slot
 * and then for the builder's entry before the next one starts, and a stack
 * holds dozens of locations that do not depend on each other. So: hash
 * every location not mapped yet (mapping its children) and prefetch its
 * slot; then prefetch the entry each slot points at; then look them up in
 * order, so that new locations are added in the same order as one by one. */
static void map_stack_locations(pc_builder_t *b, pc_i32s_t l) {
  int32_t *rm = b->rm[T_LOCATION];
  uint64_t *hs = b->loc_hash = grow(b, b->loc_hash, &b->loc_hash_cap, l.n, sizeof *hs);
  const hset_t *set = &b->sets[T_LOCATION];
  for (uint32_t j = 0; j < l.n; j++) {
    uint32_t h = 0;
    if (rm[l.v[j]] >= 0 || !location_hash(b, l.v[j], &h)) {
      hs[j] = 0;
      continue;
    }
    hs[j] = (uint64_t)1 << 32 | h; /* bit 32: a lookup is due */
    __builtin_prefetch(&set->v[h & set->mask]);
  }
  for (uint32_t j = 0; j < l.n; j++) {
    if (!hs[j]) continue;
    const slot_t *sl = &set->v[(uint32_t)hs[j] & set->mask];
    if (sl->idx && sl->hash == (uint32_t)hs[j]) __builtin_prefetch(&b->dict.locations[sl->idx]);
  }
  for (uint32_t j = 0; j < l.n; j++)
    if (rm[l.v[j]] < 0) rm[l.v[j]] = location_intern(b, l.v[j], hs[j] >> 32, (uint32_t)hs[j]);
}

/* The key is the count, then the builder's indices of the locations. */
static int32_t first_stack(pc_builder_t *b, int32_t i) {
  const pc_stack_t *s = &b->in->stacks[i];
  pc_i32s_t l = s->location_indices;
  if (!l.n) {
    b->st.in_bytes += stack_size(s);
    return 0;
  }
  map_stack_locations(b, l);
  b->key_n = 0;
  key_list_mapped(b, l, b->rm[T_LOCATION]);
  b->st.in_bytes += stack_size(s);
  uint32_t h = key_hash(b);
  slot_t *sl = hset_find(b, &b->sets[T_STACK], h, stack_eq, &l);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_stacks++;
  pc_stack_t *o = &b->dict.stacks[idx];
  int32_t *v = bal(b, (size_t)l.n * sizeof *v);
  memcpy(v, b->key + sizeof(uint32_t), (size_t)l.n * sizeof *v);
  o->location_indices = (pc_i32s_t){v, l.n};
  b->st.out_bytes += stack_size(o);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- links ------------------------------------------------------------------------- */

static bool all_zero(pc_str_t s) {
  for (size_t i = 0; i < s.n; i++)
    if (s.p[i]) return false;
  return true;
}

static bool link_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const pc_link_t *x = &b->dict.links[idx], *y = cand;
  return pc_str_eq(x->trace_id, y->trace_id) && pc_str_eq(x->span_id, y->span_id);
}

static int32_t first_link(pc_builder_t *b, int32_t i) {
  const pc_link_t *l = &b->in->links[i];
  b->st.in_bytes += link_size(l);
  if (all_zero(l->trace_id) && all_zero(l->span_id)) return 0;
  b->key_n = 0;
  key_str(b, l->trace_id);
  key_str(b, l->span_id);
  uint32_t h = key_hash(b);
  slot_t *sl = hset_find(b, &b->sets[T_LINK], h, link_eq, l);
  if (sl->idx) return (int32_t)sl->idx;
  uint32_t idx = b->dict.n_links++;
  pc_link_t *o = &b->dict.links[idx];
  *o = (pc_link_t){bdup(b, l->trace_id), bdup(b, l->span_id)};
  b->st.out_bytes += link_size(o);
  *sl = (slot_t){h, idx};
  return (int32_t)idx;
}

/* ---- resolved KeyValues: resource and scope identity ----------------------------------
 * Resources from different requests are compared by what their attributes
 * say, not how: keys and string values are resolved through each side's
 * string table, and attributes compare as a multiset. */

static pc_str_t str_at(const pc_dictionary_t *d, int32_t i) {
  return i > 0 ? d->strings[i] : (pc_str_t){0};
}

static pc_str_t kv_key(const pc_dictionary_t *d, const pc_keyvalue_t *kv) {
  return kv->key.n ? kv->key : str_at(d, kv->key_strindex);
}

static void key_resolved_kv(pc_builder_t *b, const pc_dictionary_t *d, const pc_keyvalue_t *kv);

static void key_resolved_value(pc_builder_t *b, const pc_dictionary_t *d,
                               const pc_anyvalue_t *v) {
  switch (v->type) {
  case PC_AV_STRINDEX:
    key_u8(b, PC_AV_STRING);
    key_str(b, str_at(d, v->u.strindex));
    return;
  case PC_AV_ARRAY:
    key_u8(b, PC_AV_ARRAY);
    key_u32(b, v->u.array.n);
    for (uint32_t i = 0; i < v->u.array.n; i++) key_resolved_value(b, d, &v->u.array.v[i]);
    return;
  case PC_AV_KVLIST:
    key_u8(b, PC_AV_KVLIST);
    key_u32(b, v->u.kvlist.n);
    for (uint32_t i = 0; i < v->u.kvlist.n; i++) key_resolved_kv(b, d, &v->u.kvlist.v[i]);
    return;
  default: key_value_mapped(b, v); /* scalars: no index inside */
  }
}

static void key_resolved_kv(pc_builder_t *b, const pc_dictionary_t *d, const pc_keyvalue_t *kv) {
  key_str(b, kv_key(d, kv));
  key_u8(b, kv->has_value);
  if (kv->has_value) key_resolved_value(b, d, &kv->value);
}

static bool resolved_kv_eq(const pc_dictionary_t *dx, const pc_keyvalue_t *x,
                           const pc_dictionary_t *dy, const pc_keyvalue_t *y);

static bool is_string(const pc_anyvalue_t *v) {
  return v->type == PC_AV_STRING || v->type == PC_AV_STRINDEX;
}

static pc_str_t value_str(const pc_dictionary_t *d, const pc_anyvalue_t *v) {
  return v->type == PC_AV_STRINDEX ? str_at(d, v->u.strindex) : v->u.s;
}

static bool resolved_value_eq(const pc_dictionary_t *dx, const pc_anyvalue_t *x,
                              const pc_dictionary_t *dy, const pc_anyvalue_t *y) {
  if (is_string(x) || is_string(y))
    return is_string(x) && is_string(y) && pc_str_eq(value_str(dx, x), value_str(dy, y));
  if (x->type != y->type) return false;
  switch (x->type) {
  case PC_AV_ARRAY:
    if (x->u.array.n != y->u.array.n) return false;
    for (uint32_t i = 0; i < x->u.array.n; i++)
      if (!resolved_value_eq(dx, &x->u.array.v[i], dy, &y->u.array.v[i])) return false;
    return true;
  case PC_AV_KVLIST:
    if (x->u.kvlist.n != y->u.kvlist.n) return false;
    for (uint32_t i = 0; i < x->u.kvlist.n; i++)
      if (!resolved_kv_eq(dx, &x->u.kvlist.v[i], dy, &y->u.kvlist.v[i])) return false;
    return true;
  case PC_AV_BYTES: return pc_str_eq(x->u.s, y->u.s);
  case PC_AV_BOOL: return x->u.b == y->u.b;
  case PC_AV_INT: return x->u.i == y->u.i;
  case PC_AV_DOUBLE: return memcmp(&x->u.d, &y->u.d, sizeof x->u.d) == 0;
  default: return true;
  }
}

static bool resolved_kv_eq(const pc_dictionary_t *dx, const pc_keyvalue_t *x,
                           const pc_dictionary_t *dy, const pc_keyvalue_t *y) {
  return pc_str_eq(kv_key(dx, x), kv_key(dy, y)) && x->has_value == y->has_value &&
         (!x->has_value || resolved_value_eq(dx, &x->value, dy, &y->value));
}

/* Order-independent: the sum of the hashes of the resolved pairs. */
static uint64_t kvs_set_hash(pc_builder_t *b, const pc_dictionary_t *d, pc_kvs_t kvs) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < kvs.n; i++) {
    b->key_n = 0;
    key_resolved_kv(b, d, &kvs.v[i]);
    sum += key_hash64(b);
  }
  return sum;
}

/* Multiset equality: the common case (same order) is one pass; otherwise
 * each pair of x is matched with an unused equal pair of y. */
static bool kvs_set_eq(pc_builder_t *b, const pc_dictionary_t *dx, pc_kvs_t x,
                       const pc_dictionary_t *dy, pc_kvs_t y) {
  if (x.n != y.n) return false;
  uint32_t same = 0;
  while (same < x.n && resolved_kv_eq(dx, &x.v[same], dy, &y.v[same])) same++;
  if (same == x.n) return true;
  b->key_n = 0;
  uint8_t *used = key_room(b, y.n);
  memset(used, 0, y.n);
  for (uint32_t i = same; i < x.n; i++) {
    uint32_t j = same;
    while (j < y.n && (used[j] || !resolved_kv_eq(dx, &x.v[i], dy, &y.v[j]))) j++;
    if (j == y.n) return false;
    used[j] = 1;
  }
  return true;
}

static void key_strs(pc_builder_t *b, pc_strs_t l) {
  key_u32(b, l.n);
  for (uint32_t i = 0; i < l.n; i++) key_str(b, l.v[i]);
}

static bool strs_eq(pc_strs_t x, pc_strs_t y) {
  if (x.n != y.n) return false;
  for (uint32_t i = 0; i < x.n; i++)
    if (!pc_str_eq(x.v[i], y.v[i])) return false;
  return true;
}

static bool entity_refs_eq(const pc_resource_t *x, const pc_resource_t *y) {
  if (x->n_entity_refs != y->n_entity_refs) return false;
  for (uint32_t i = 0; i < x->n_entity_refs; i++) {
    const pc_entity_ref_t *p = &x->entity_refs[i], *q = &y->entity_refs[i];
    if (!pc_str_eq(p->schema_url, q->schema_url) || !pc_str_eq(p->type, q->type) ||
        !strs_eq(p->id_keys, q->id_keys) || !strs_eq(p->description_keys, q->description_keys))
      return false;
  }
  return true;
}

static uint64_t resource_hash(pc_builder_t *b, const pc_resource_profiles_t *rp) {
  uint64_t set = kvs_set_hash(b, b->in, rp->resource.attributes);
  b->key_n = 0;
  key_u64(b, set);
  key_u8(b, rp->has_resource);
  key_u32(b, rp->resource.dropped_attributes_count);
  key_str(b, rp->schema_url);
  for (uint32_t i = 0; i < rp->resource.n_entity_refs; i++) {
    const pc_entity_ref_t *e = &rp->resource.entity_refs[i];
    key_str(b, e->schema_url);
    key_str(b, e->type);
    key_strs(b, e->id_keys);
    key_strs(b, e->description_keys);
  }
  return key_hash64(b);
}

typedef struct {
  const pc_resource_profiles_t *rp;
  uint64_t hash;
} resource_cand_t;

static bool resource_eq(pc_builder_t *b, uint32_t idx, const void *cand) {
  const resource_cand_t *c = cand;
  const pc_resource_profiles_t *x = &b->res[idx - 1], *y = c->rp;
  return b->res_meta[idx - 1].hash == c->hash && x->has_resource == y->has_resource &&
         x->resource.dropped_attributes_count == y->resource.dropped_attributes_count &&
         pc_str_eq(x->schema_url, y->schema_url) && entity_refs_eq(&x->resource, &y->resource) &&
         kvs_set_eq(b, &b->dict, x->resource.attributes, b->in, y->resource.attributes);
}

static uint64_t scope_hash(pc_builder_t *b, const pc_scope_profiles_t *sp) {
  uint64_t set = kvs_set_hash(b, b->in, sp->scope.attributes);
  b->key_n = 0;
  key_u64(b, set);
  key_u8(b, sp->has_scope);
  key_str(b, sp->scope.name);
  key_str(b, sp->scope.version);
  key_u32(b, sp->scope.dropped_attributes_count);
  key_str(b, sp->schema_url);
  return key_hash64(b);
}

static bool scope_eq(pc_builder_t *b, const pc_scope_profiles_t *x,
                     const pc_scope_profiles_t *y) {
  return x->has_scope == y->has_scope && pc_str_eq(x->scope.name, y->scope.name) &&
         pc_str_eq(x->scope.version, y->scope.version) &&
         x->scope.dropped_attributes_count == y->scope.dropped_attributes_count &&
         pc_str_eq(x->schema_url, y->schema_url) &&
         kvs_set_eq(b, &b->dict, x->scope.attributes, b->in, y->scope.attributes);
}

/* ---- the tree -------------------------------------------------------------------------- */

/* Grow an arena array of elem-sized items to hold need (x2 steps). */
static void *arena_grow(pc_builder_t *b, void *v, uint32_t n, uint32_t *cap, uint32_t need,
                        size_t elem) {
  if (need <= *cap) return v;
  uint32_t nc = *cap ? *cap * 2 : 4;
  if (nc < need) nc = need;
  void *p = bal(b, (size_t)nc * elem);
  if (n) memcpy(p, v, (size_t)n * elem);
  *cap = nc;
  return p;
}

/* Record what an add changes in a resource that existed before it. */
static void touch_resource(pc_builder_t *b, uint32_t r) {
  res_meta_t *m = &b->res_meta[r];
  if (r >= b->old_resources || m->gen == b->gen) return;
  m->gen = b->gen;
  m->saved_n_scopes = b->res[r].n_scopes;
  b->undo = grow(b, b->undo, &b->undo_cap, (size_t)b->n_undo + 1, sizeof *b->undo);
  b->undo[b->n_undo++] = r;
}

static void touch_scope(pc_builder_t *b, uint32_t r, uint32_t s) {
  res_meta_t *m = &b->res_meta[r];
  if (r >= b->old_resources || s >= m->saved_n_scopes || m->scopes[s].gen == b->gen) return;
  m->scopes[s].gen = b->gen;
  m->scopes[s].saved_n_profiles = b->res[r].scopes[s].n_profiles;
}

static pc_strs_t strs_copy(pc_builder_t *b, pc_strs_t in) {
  if (!in.n) return (pc_strs_t){0};
  pc_str_t *v = bal(b, (size_t)in.n * sizeof *v);
  for (uint32_t i = 0; i < in.n; i++) v[i] = bdup(b, in.v[i]);
  return (pc_strs_t){v, in.n};
}

static pc_resource_t resource_copy(pc_builder_t *b, const pc_resource_t *in) {
  pc_resource_t o = {.attributes = kvs_copy_mapped(b, in->attributes),
                     .dropped_attributes_count = in->dropped_attributes_count,
                     .n_entity_refs = in->n_entity_refs};
  if (!in->n_entity_refs) return o;
  o.entity_refs = bal(b, (size_t)in->n_entity_refs * sizeof *o.entity_refs);
  for (uint32_t i = 0; i < in->n_entity_refs; i++) {
    const pc_entity_ref_t *e = &in->entity_refs[i];
    pc_entity_ref_t *c = &o.entity_refs[i];
    *c = (pc_entity_ref_t){.schema_url = bdup(b, e->schema_url),
                           .type = bdup(b, e->type),
                           .id_keys = strs_copy(b, e->id_keys),
                           .description_keys = strs_copy(b, e->description_keys)};
  }
  return o;
}

/* The output resource equal to rp, appended when there is none yet. */
static uint32_t resource_for(pc_builder_t *b, const pc_resource_profiles_t *rp) {
  resource_cand_t c = {rp, resource_hash(b, rp)};
  b->st.in_bytes += resource_size(rp);
  slot_t *sl = hset_find(b, &b->res_set, (uint32_t)c.hash, resource_eq, &c);
  if (sl->idx) {
    touch_resource(b, sl->idx - 1);
    return sl->idx - 1;
  }
  uint32_t r = b->n_res++;
  pc_resource_profiles_t *o = &b->res[r];
  *o = (pc_resource_profiles_t){.has_resource = rp->has_resource,
                                .resource = resource_copy(b, &rp->resource),
                                .schema_url = bdup(b, rp->schema_url)};
  b->res_meta[r] = (res_meta_t){.hash = c.hash, .gen = b->gen};
  *sl = (slot_t){(uint32_t)c.hash, r + 1};
  b->st.resources++;
  b->st.out_bytes += resource_size(o);
  return r;
}

/* The scope of output resource r equal to sp, appended when there is none. */
static uint32_t scope_for(pc_builder_t *b, uint32_t r, const pc_scope_profiles_t *sp) {
  uint64_t h = scope_hash(b, sp);
  b->st.in_bytes += scope_size(sp);
  pc_resource_profiles_t *rp = &b->res[r];
  res_meta_t *m = &b->res_meta[r];
  for (uint32_t s = 0; s < rp->n_scopes; s++) {
    if (m->scopes[s].hash == h && scope_eq(b, &rp->scopes[s], sp)) {
      touch_scope(b, r, s);
      return s;
    }
  }
  uint32_t n = rp->n_scopes, cap = m->scope_cap;
  rp->scopes = arena_grow(b, rp->scopes, n, &cap, n + 1, sizeof *rp->scopes);
  m->scopes = arena_grow(b, m->scopes, n, &m->scope_cap, n + 1, sizeof *m->scopes);
  pc_scope_profiles_t *o = &rp->scopes[n];
  *o = (pc_scope_profiles_t){
      .has_scope = sp->has_scope,
      .scope = {.name = bdup(b, sp->scope.name),
                .version = bdup(b, sp->scope.version),
                .attributes = kvs_copy_mapped(b, sp->scope.attributes),
                .dropped_attributes_count = sp->scope.dropped_attributes_count},
      .schema_url = bdup(b, sp->schema_url)};
  m->scopes[n] = (scope_meta_t){.hash = h, .gen = b->gen};
  rp->n_scopes = n + 1;
  b->st.scopes++;
  b->st.out_bytes += scope_size(o);
  return n;
}

static pc_valuetype_t valuetype_mapped(pc_builder_t *b, pc_valuetype_t vt) {
  return (pc_valuetype_t){map_string(b, vt.type_strindex), map_string(b, vt.unit_strindex)};
}

static void profile_header_copy(pc_builder_t *b, pc_profile_t *o, const pc_profile_t *p) {
  map_attrs(b, p->attribute_indices);
  *o = (pc_profile_t){
      .has_sample_type = p->has_sample_type,
      .has_period_type = p->has_period_type,
      .sample_type = valuetype_mapped(b, p->sample_type),
      .period_type = valuetype_mapped(b, p->period_type),
      .dropped_attributes_count = p->dropped_attributes_count,
      .time_unix_nano = p->time_unix_nano,
      .duration_nano = p->duration_nano,
      .period = p->period,
      .profile_id = bdup(b, p->profile_id),
      .original_payload_format = bdup(b, p->original_payload_format),
      .original_payload = bdup(b, p->original_payload),
      .attribute_indices = list_copy_mapped(b, p->attribute_indices, b->rm[T_ATTR])};
}

/* ---- samples, kept encoded ----------------------------------------------------------
 * A merged profile's samples are stored as the protobuf bytes of its
 * `samples` fields, indices already rewritten: about 40 bytes a sample where
 * pc_sample_t with its arrays takes 110 or more, and a flush can copy them
 * as they are (pc_builder_encode). pc_builder_request decodes them into
 * pc_sample_t arrays only when a consumer asks for the tree. */

enum { TAG_SAMPLE = 2 << 3 | 2, TAG_STACK = 1 << 3, TAG_ATTRS = 2 << 3 | 2,
       TAG_LINK = 3 << 3, TAG_VALUES = 4 << 3 | 2, TAG_TIMES = 5 << 3 | 2 };

static inline uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* int32 fields are sign-extended, as protobuf does (and f_i32 counts). */
static inline uint8_t *put_i32(uint8_t *p, uint8_t tag, int32_t v) {
  if (!v) return p;
  *p++ = tag;
  return put_varint(p, (uint64_t)(int64_t)v);
}

/* The memo of attribute list l (l.n > 0) for this add: mapped, with its
 * sizes, on the first meeting (one pass over the list); a slot another list
 * held is taken over. */
static list_memo_t *list_memo(pc_builder_t *b, pc_i32s_t l) {
  list_memo_t *m = &b->lists[((uintptr_t)l.v >> 3) % LIST_MEMO];
  if (m->v == l.v && m->n == l.n && m->gen == b->gen) return m;
  size_t in = 0, out = 0;
  for (uint32_t i = 0; i < l.n; i++) {
    in += vsz((uint64_t)(int64_t)l.v[i]);
    out += vsz((uint64_t)(int64_t)map_attr(b, l.v[i]));
  }
  *m = (list_memo_t){.v = l.v, .n = l.n, .gen = b->gen, .in_size = (uint32_t)in,
                     .out_size = (uint32_t)out};
  return m;
}

/* The Sample message's length, its references already mapped; attrs: the
 * varint bytes of its attribute indices. */
static size_t sample_body(const pc_builder_t *b, const pc_sample_t *s, size_t attrs,
                          size_t payload) {
  return f_i32(b->rm[T_STACK][s->stack_index]) +
         (s->attribute_indices.n ? f_len(attrs) : 0) + f_i32(b->rm[T_LINK][s->link_index]) +
         payload;
}

/* sz: the sizing pass's (sample_body, values_varint_size, the list's
 * out_size). A list whose memo holds its bytes (another sample wrote them
 * this add) is copied. */
static uint8_t *sample_put(pc_builder_t *b, uint8_t *w, const pc_sample_t *s, smp_size_t sz) {
  *w++ = TAG_SAMPLE;
  w = put_varint(w, sz.body);
  w = put_i32(w, TAG_STACK, b->rm[T_STACK][s->stack_index]);
  pc_i32s_t l = s->attribute_indices;
  if (l.n) {
    list_memo_t *m = &b->lists[((uintptr_t)l.v >> 3) % LIST_MEMO];
    bool known = m->v == l.v && m->n == l.n && m->gen == b->gen;
    size_t size = sz.attrs;
    *w++ = TAG_ATTRS;
    w = put_varint(w, size);
    if (known && m->enc) {
      memcpy(w, m->enc, size);
      w += size;
    } else {
      if (known) m->enc = w;
      b->st.attr_lists++;
      for (uint32_t a = 0; a < l.n; a++)
        w = put_varint(w, (uint64_t)(int64_t)b->rm[T_ATTR][l.v[a]]);
    }
  }
  w = put_i32(w, TAG_LINK, b->rm[T_LINK][s->link_index]);
  if (s->n_values) {
    *w++ = TAG_VALUES;
    w = put_varint(w, sz.values);
    for (uint32_t i = 0; i < s->n_values; i++) w = put_varint(w, (uint64_t)s->values[i]);
  }
  if (s->n_timestamps) {
    *w++ = TAG_TIMES;
    w = put_varint(w, (uint64_t)s->n_timestamps * 8);
    for (uint32_t i = 0; i < s->n_timestamps; i++, w += 8)
      wire_store64(w, s->timestamps_unix_nano[i]);
  }
  return w;
}


/* Samples lo..hi-1 of p as the encoded samples of output profile o: one
 * pass maps every reference (interning what is new) and sizes the bytes,
 * keeping each sample's sizes, the second writes them into one chunk
 * allocation of exactly that size without sizing anything again (that was
 * a quarter of a sample-heavy merge). */
static enc_samples_t samples_encode(pc_builder_t *b, pc_profile_t *o, const pc_profile_t *p,
                                    uint32_t lo, uint32_t hi) {
  o->n_samples = hi - lo;
  if (hi == lo) return (enc_samples_t){0};
  smp_size_t *len = b->smp_len = grow(b, b->smp_len, &b->smp_len_cap, hi - lo, sizeof *len);
  size_t total = 0, words = 0, attrs = 0, in = 0;
  for (uint32_t i = lo; i < hi; i++) {
    const pc_sample_t *s = &p->samples[i];
    words += (size_t)s->n_values + s->n_timestamps;
    attrs += s->attribute_indices.n;
    map_stack(b, s->stack_index);
    map_link(b, s->link_index);
    size_t a_in = 0, a_out = 0;
    if (s->attribute_indices.n) {
      const list_memo_t *m = list_memo(b, s->attribute_indices);
      a_in = f_len(m->in_size);
      a_out = m->out_size;
    }
    size_t values = values_varint_size(s), payload = sample_payload_size(s, values);
    in += f_len(f_i32(s->stack_index) + a_in + f_i32(s->link_index) + payload);
    size_t body = sample_body(b, s, a_out, payload);
    if (body > UINT32_MAX) oom(b); /* over protobuf's 2 GiB message limit anyway */
    len[i - lo] = (smp_size_t){(uint32_t)body, (uint32_t)values, (uint32_t)a_out}; /* <= body */
    total += f_len(body);
  }
  b->st.in_bytes += in;
  b->st.out_bytes += total;
  uint8_t *mem = chunk_alloc(b, total), *w = mem;
  for (uint32_t i = lo; i < hi; i++)
    w = sample_put(b, w, &p->samples[i], len[i - lo]);
  assert((size_t)(w - mem) == total);
  return (enc_samples_t){{mem, total}, words, attrs};
}

/* Reading back what sample_put wrote (trusted bytes: no checks). */
static inline uint64_t get_varint(const uint8_t **pp) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    uint8_t c = *p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
  }
  *pp = p;
  return v;
}

/* Decode one Sample body [p, e) into s, carving its arrays from *word and *attr. */
static void sample_get(const uint8_t *p, const uint8_t *e, pc_sample_t *s, uint64_t **word,
                       int32_t **attr) {
  *s = (pc_sample_t){0};
  while (p < e) {
    uint8_t tag = *p++;
    uint64_t v = get_varint(&p);
    const uint8_t *f = p + v;
    switch (tag) {
    case TAG_STACK: s->stack_index = (int32_t)v; continue;
    case TAG_LINK: s->link_index = (int32_t)v; continue;
    case TAG_ATTRS:
      s->attribute_indices.v = *attr;
      while (p < f) (*attr)[s->attribute_indices.n++] = (int32_t)get_varint(&p);
      *attr += s->attribute_indices.n;
      break;
    case TAG_VALUES:
      s->values = (int64_t *)(void *)*word;
      while (p < f) (*word)[s->n_values++] = get_varint(&p);
      *word += s->n_values;
      break;
    default: /* TAG_TIMES */
      s->timestamps_unix_nano = *word;
      s->n_timestamps = (uint32_t)(v / 8);
      for (uint32_t i = 0; i < s->n_timestamps; i++) (*word)[i] = wire_load64(p + 8 * i);
      *word += s->n_timestamps;
      break;
    }
    p = f;
  }
}

/* pc_sample_t arrays for o from its encoded samples, one arena allocation
 * laid out as: structs, 8-byte words (values, timestamps), attribute indices. */
static void samples_decode(pc_builder_t *b, pc_profile_t *o, const enc_samples_t *e) {
  size_t words = e->words, attrs = e->attrs;
  size_t bytes = (size_t)o->n_samples * sizeof(pc_sample_t) + words * 8 + attrs * 4;
  uint8_t *mem = bal(b, bytes);
  b->view_bytes += (bytes + 7) & ~(size_t)7;
  pc_sample_t *out = (pc_sample_t *)(void *)mem;
  uint64_t *word = (uint64_t *)(void *)(mem + (size_t)o->n_samples * sizeof(pc_sample_t));
  int32_t *attr = (int32_t *)(void *)(word + words);
  const uint8_t *p = e->pb.p;
  for (uint32_t i = 0; i < o->n_samples; i++) {
    p++; /* TAG_SAMPLE */
    size_t body = get_varint(&p);
    sample_get(p, p + body, &out[i], &word, &attr);
    p += body;
  }
  o->samples = out;
}

static void profile_append(pc_builder_t *b, uint32_t r, uint32_t s, const pc_profile_t *p,
                           uint32_t lo, uint32_t hi) {
  pc_scope_profiles_t *sp = &b->res[r].scopes[s];
  scope_meta_t *m = &b->res_meta[r].scopes[s];
  uint32_t n = sp->n_profiles, cap = m->prof_cap;
  sp->profiles = arena_grow(b, sp->profiles, n, &cap, n + 1, sizeof *sp->profiles);
  m->samples = arena_grow(b, m->samples, n, &m->prof_cap, n + 1, sizeof *m->samples);
  pc_profile_t *o = &sp->profiles[n];
  profile_header_copy(b, o, p);
  if (hi > lo) { /* room in the order list first: nothing can fail after the encode */
    b->order = grow(b, b->order, &b->order_cap, (size_t)b->n_order + 1, sizeof *b->order);
    b->order[b->n_order] = (prof_ref_t){r, s, n};
  }
  m->samples[n] = samples_encode(b, o, p, lo, hi);
  b->n_order += hi > lo;
  sp->n_profiles++;
  b->st.profiles++;
  b->st.samples += hi - lo;
  b->st.in_bytes += profile_header_size(p);
  b->st.out_bytes += profile_header_size(o);
}

/* ---- the walk ----------------------------------------------------------------------------- */

typedef struct {
  uint64_t first, end, total; /* the part: sample ordinals [first, end) */
  uint64_t ord;               /* ordinal of the next sample of the input */
} part_t;

/* Whether a node without samples, sitting at ordinal k, belongs to the part. */
static bool part_covers(const part_t *pt, uint64_t k) {
  return pt->first <= k && (k < pt->end || (k == pt->total && pt->end >= pt->total));
}

static void walk_scope(pc_builder_t *b, const pc_scope_profiles_t *sp, uint32_t r,
                       part_t *pt) {
  int64_t s = -1; /* output scope, found when first needed */
  if (!sp->n_profiles && part_covers(pt, pt->ord)) s = scope_for(b, r, sp);
  for (uint32_t i = 0; i < sp->n_profiles; i++) {
    const pc_profile_t *p = &sp->profiles[i];
    uint64_t lo = pt->ord > pt->first ? pt->ord : pt->first;
    uint64_t hi = pt->ord + p->n_samples < pt->end ? pt->ord + p->n_samples : pt->end;
    if (hi > lo || (!p->n_samples && part_covers(pt, pt->ord))) {
      if (s < 0) s = scope_for(b, r, sp);
      if (hi < lo) hi = lo;
      profile_append(b, r, (uint32_t)s, p, (uint32_t)(lo - pt->ord), (uint32_t)(hi - pt->ord));
    }
    pt->ord += p->n_samples;
  }
}

static uint64_t scope_samples(const pc_scope_profiles_t *sp) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < sp->n_profiles; i++) n += sp->profiles[i].n_samples;
  return n;
}

/* Whether anything of [ord, ord+n) (or the empty node at ord) is in the part. */
static bool part_touches(const part_t *pt, uint64_t ord, uint64_t n) {
  return n ? ord < pt->end && ord + n > pt->first : part_covers(pt, ord);
}

/* Whether the part takes anything of a scope starting at ordinal ord that
 * holds n samples: a sample, the scope itself when it has no profiles, or a
 * profile without samples at a covered ordinal. */
static bool scope_in_part(const part_t *pt, const pc_scope_profiles_t *sp, uint64_t ord,
                          uint64_t n) {
  if (part_touches(pt, ord, n)) return true;
  for (uint32_t k = 0; k < sp->n_profiles; k++) {
    if (!sp->profiles[k].n_samples && part_covers(pt, ord)) return true;
    ord += sp->profiles[k].n_samples;
  }
  return false;
}

static void walk_resource(pc_builder_t *b, const pc_resource_profiles_t *rp, part_t *pt) {
  int64_t r = -1;
  if (!rp->n_scopes && part_covers(pt, pt->ord)) r = resource_for(b, rp);
  for (uint32_t i = 0; i < rp->n_scopes; i++) {
    const pc_scope_profiles_t *sp = &rp->scopes[i];
    uint64_t n = scope_samples(sp);
    if (!scope_in_part(pt, sp, pt->ord, n)) {
      pt->ord += n;
      continue;
    }
    if (r < 0) r = resource_for(b, rp);
    walk_scope(b, sp, (uint32_t)r, pt);
  }
}

/* ---- checkpoint and rollback --------------------------------------------------------------- */

static uint32_t *out_len(pc_dictionary_t *d, int t) {
  switch (t) {
  case T_STRING: return &d->n_strings;
  case T_FUNCTION: return &d->n_functions;
  case T_MAPPING: return &d->n_mappings;
  case T_ATTR: return &d->n_attrs;
  case T_LOCATION: return &d->n_locations;
  case T_STACK: return &d->n_stacks;
  default: return &d->n_links;
  }
}

static uint32_t in_len(const pc_dictionary_t *d, int t) {
  return *out_len((pc_dictionary_t *)d, t);
}

static void checkpoint(pc_builder_t *b, checkpoint_t *cp) {
  for (int t = 0; t < T_COUNT; t++) cp->n[t] = *out_len(&b->dict, t);
  cp->n_resources = b->n_res;
  cp->n_order = b->n_order;
  cp->st = b->st;
}

static void rollback(pc_builder_t *b, const checkpoint_t *cp) {
  for (int t = 0; t < T_COUNT; t++) {
    uint32_t *n = out_len(&b->dict, t);
    if (*n != cp->n[t]) hset_truncate(&b->sets[t], cp->n[t]);
    *n = cp->n[t];
  }
  for (uint32_t i = 0; i < b->n_undo; i++) {
    uint32_t r = b->undo[i];
    res_meta_t *m = &b->res_meta[r];
    pc_resource_profiles_t *rp = &b->res[r];
    for (uint32_t s = 0; s < m->saved_n_scopes; s++)
      if (m->scopes[s].gen == b->gen) rp->scopes[s].n_profiles = m->scopes[s].saved_n_profiles;
    rp->n_scopes = m->saved_n_scopes;
  }
  if (b->n_res != cp->n_resources) hset_truncate(&b->res_set, cp->n_resources + 1);
  b->n_res = cp->n_resources;
  b->n_order = cp->n_order; /* their chunk bytes stay until decoded past or reset */
  b->st = cp->st;
}

/* ---- before the walk: maps, reserved tables and sets ---------------------------------------- */

static int32_t *map_reset(pc_builder_t *b, int t, uint32_t n) {
  b->rm[t] = grow(b, b->rm[t], &b->rm_cap[t], n ? n : 1, sizeof *b->rm[t]);
  memset(b->rm[t], 0xff, (size_t)n * sizeof *b->rm[t]);
  b->rm[t][0] = 0;
  return b->rm[t];
}

static int prepare(pc_builder_t *b, const pc_request_t *req, pc_err_t *err) {
  const pc_dictionary_t *in = &req->dict;
  b->in = in;
  b->old_resources = b->n_res;
  b->n_undo = 0; /* before anything can fail: rollback reads it */
  if (++b->gen == 0) { /* wrapped: no memo may survive from 2^32 adds ago */
    memset(b->lists, 0, sizeof b->lists);
    b->gen = 1;
  }
  pc_dictionary_t *d = &b->dict;
  for (int t = 0; t < T_COUNT; t++) {
    size_t need = (size_t)*out_len(d, t) + in_len(in, t);
    if (need > INT32_MAX)
      return pc_err_set(err, PC_ELIMIT, "batch dictionary would pass %d entries", INT32_MAX);
    map_reset(b, t, in_len(in, t));
    hset_reserve(b, &b->sets[t], need);
  }
  TABLE_RESERVE(b, strings, T_STRING, (size_t)d->n_strings + in->n_strings);
  TABLE_RESERVE(b, functions, T_FUNCTION, (size_t)d->n_functions + in->n_functions);
  TABLE_RESERVE(b, mappings, T_MAPPING, (size_t)d->n_mappings + in->n_mappings);
  TABLE_RESERVE(b, attrs, T_ATTR, (size_t)d->n_attrs + in->n_attrs);
  TABLE_RESERVE(b, locations, T_LOCATION, (size_t)d->n_locations + in->n_locations);
  TABLE_RESERVE(b, stacks, T_STACK, (size_t)d->n_stacks + in->n_stacks);
  TABLE_RESERVE(b, links, T_LINK, (size_t)d->n_links + in->n_links);
  size_t nr = (size_t)b->n_res + req->n_resources;
  if (nr >= UINT32_MAX) return pc_err_set(err, PC_ELIMIT, "too many resources in a batch");
  uint32_t cap = b->res_cap;
  b->res = grow(b, b->res, &cap, nr, sizeof *b->res);
  b->res_meta = grow(b, b->res_meta, &b->res_cap, nr, sizeof *b->res_meta);
  hset_reserve(b, &b->res_set, nr);
  return 0;
}

/* ---- public --------------------------------------------------------------------------------- */

/* Entry 0 of every table: the zero value (the zero Link in its preferred
 * form, 16 and 8 zero bytes), counted in out_bytes with the dictionary's
 * own overhead. */
static void init_tables(pc_builder_t *b) {
  pc_dictionary_t *d = &b->dict;
  d->strings[0] = (pc_str_t){0};
  d->functions[0] = pc_zero_function;
  d->mappings[0] = pc_zero_mapping;
  d->attrs[0] = pc_zero_attr;
  d->locations[0] = pc_zero_location;
  d->stacks[0] = pc_zero_stack;
  d->links[0] = (pc_link_t){{zero_id, 16}, {zero_id, 8}};
  for (int t = 0; t < T_COUNT; t++) *out_len(d, t) = 1;
  b->st = (pc_builder_stats_t){.out_bytes = CONTAINER + 6 * 2 + link_size(&d->links[0])};
}

pc_builder_t *pc_builder_new(void) {
  pc_builder_t *b = pc_xcalloc(1, sizeof *b);
  /* Blocks stop doubling at 128 KiB: a batch's last block is at most that
   * much slack (doubling to 4 MiB left megabytes unused in big batches). */
  b->arena = pc_arena_new(64 * 1024);
  pc_arena_set_max_block(b->arena, 128 * 1024);
  /* Reuse, don't free and malloc again (DESIGN.md): reset keeps 2 MiB of
   * blocks, a small batch's worth, so small batches cost no malloc. */
  pc_arena_set_keep(b->arena, 2 * 1024 * 1024);
  b->key_cap = 256;
  b->key = pc_xmalloc(b->key_cap);
  if (setjmp(b->oom)) pc_oom();
  TABLE_RESERVE(b, strings, T_STRING, 1);
  TABLE_RESERVE(b, functions, T_FUNCTION, 1);
  TABLE_RESERVE(b, mappings, T_MAPPING, 1);
  TABLE_RESERVE(b, attrs, T_ATTR, 1);
  TABLE_RESERVE(b, locations, T_LOCATION, 1);
  TABLE_RESERVE(b, stacks, T_STACK, 1);
  TABLE_RESERVE(b, links, T_LINK, 1);
  init_tables(b);
  return b;
}

void pc_builder_free(pc_builder_t *b) {
  if (!b) return;
  pc_dictionary_t *d = &b->dict;
  free(d->strings);
  free(d->functions);
  free(d->mappings);
  free(d->attrs);
  free(d->locations);
  free(d->stacks);
  free(d->links);
  for (int t = 0; t < T_COUNT; t++) {
    free(b->sets[t].v);
    free(b->rm[t]);
  }
  free(b->res_set.v);
  free(b->res);
  free(b->res_meta);
  free(b->undo);
  free(b->key);
  free(b->loc_hash);
  free(b->smp_len);
  while (b->chunks) chunk_pop(b);
  free(b->order);
  pc_arena_free(b->arena);
  free(b);
}

static uint64_t request_samples(const pc_request_t *req) {
  uint64_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++)
      n += scope_samples(&req->resources[r].scopes[s]);
  return n;
}

static void walk(pc_builder_t *b, const pc_request_t *req, part_t *pt) {
  for (uint32_t r = 0; r < req->n_resources; r++) walk_resource(b, &req->resources[r], pt);
}

/* prepare + walk, with allocation failures caught here. Nothing but the
 * return value is used after a longjmp, so no local can be clobbered. */
static int merge_guarded(pc_builder_t *b, const pc_request_t *req, part_t *pt, pc_err_t *err) {
  if (setjmp(b->oom)) return pc_err_set(err, PC_ENOMEM, "batch builder: out of memory");
  int rc = prepare(b, req, err);
  if (!rc) walk(b, req, pt);
  return rc;
}

int pc_builder_add_range(pc_builder_t *b, const pc_request_t *req, uint64_t first,
                         uint64_t n, uint64_t max_out_bytes, pc_err_t *err) {
  part_t pt = {.first = first, .end = n > UINT64_MAX - first ? UINT64_MAX : first + n,
               .total = request_samples(req)};
  uint64_t part = (pt.end < pt.total ? pt.end : pt.total);
  part = part > first ? part - first : 0;
  bool was_empty = pc_builder_empty(b);
  checkpoint_t cp;
  checkpoint(b, &cp);
  int rc = merge_guarded(b, req, &pt, err);
  if (rc) {
    rollback(b, &cp);
    return rc;
  }
  if (max_out_bytes && b->st.out_bytes > max_out_bytes && !(was_empty && part <= 1)) {
    uint64_t would = b->st.out_bytes;
    rollback(b, &cp);
    return pc_err_set(err, PC_ELIMIT, "batch would be %llu bytes, over the cap of %llu",
                      (unsigned long long)would, (unsigned long long)max_out_bytes);
  }
  b->st.adds++;
  return 0;
}

int pc_builder_add(pc_builder_t *b, const pc_request_t *req, pc_err_t *err) {
  return pc_builder_add_range(b, req, 0, UINT64_MAX, 0, err);
}

/* Give every profile its samples as pc_sample_t arrays, decoding them in
 * the order they were encoded and freeing each chunk once decoding has
 * moved past it. A decoded profile's encoded samples are gone: it is
 * encoded from its pc_sample_t arrays from then on. */
static void view_samples(pc_builder_t *b) {
  for (; b->n_decoded < b->n_order; b->n_decoded++) {
    prof_ref_t o = b->order[b->n_decoded];
    enc_samples_t *e = &b->res_meta[o.r].scopes[o.s].samples[o.k];
    while (b->chunks != b->chunk_tail &&
           !(e->pb.p >= b->chunks->data && e->pb.p < b->chunks->data + b->chunks->used))
      chunk_pop(b);
    samples_decode(b, &b->res[o.r].scopes[o.s].profiles[o.k], e);
    e->pb = (pc_str_t){0};
  }
  /* What is left was decoded, or belonged to adds that were rolled back. */
  while (b->chunks) chunk_pop(b);
}

pc_request_t *pc_builder_request(pc_builder_t *b) {
  if (setjmp(b->oom)) pc_oom();
  view_samples(b);
  b->out = (pc_request_t){.arena = b->arena, .has_dictionary = true, .dict = b->dict,
                          .resources = b->res, .n_resources = b->n_res};
  return &b->out;
}

static pc_str_t builder_samples_pb(void *ctx, uint32_t r, uint32_t s, uint32_t k) {
  const pc_builder_t *b = ctx;
  return b->res_meta[r].scopes[s].samples[k].pb;
}

int pc_builder_encode(pc_builder_t *b, pc_buf_t *out) {
  pc_request_t req = {.has_dictionary = true, .dict = b->dict, .resources = b->res,
                      .n_resources = b->n_res};
  return pc__proto_encode_ex(&req, builder_samples_pb, b, b->st.out_bytes, out);
}

const pc_builder_stats_t *pc_builder_stats(const pc_builder_t *b) { return &b->st; }

bool pc_builder_empty(const pc_builder_t *b) { return b->n_res == 0; }

static size_t set_used(const hset_t *h) {
  size_t n = 0;
  for (size_t i = 0; h->v && i <= h->mask; i++) n += h->v[i].idx != 0;
  return n * sizeof(slot_t);
}

void pc_builder_mem_detail(const pc_builder_t *b, pc_builder_mem_t *m) {
  const pc_dictionary_t *d = &b->dict;
  *m = (pc_builder_mem_t){.arena = pc_arena_used(b->arena),
                          .samples = b->chunk_bytes,
                          .arena_view = b->view_bytes};
  m->arena_free = m->arena - b->arena_bytes;
  static const size_t elem[T_COUNT] = {
      [T_STRING] = sizeof *d->strings,     [T_FUNCTION] = sizeof *d->functions,
      [T_MAPPING] = sizeof *d->mappings,   [T_ATTR] = sizeof *d->attrs,
      [T_LOCATION] = sizeof *d->locations, [T_STACK] = sizeof *d->stacks,
      [T_LINK] = sizeof *d->links};
  for (int t = 0; t < T_COUNT; t++) {
    m->tables += (size_t)b->cap[t] * elem[t];
    m->tables_free += (size_t)(b->cap[t] - in_len(d, t)) * elem[t];
    m->sets += hset_bytes(&b->sets[t]);
    m->sets_free += hset_bytes(&b->sets[t]) - set_used(&b->sets[t]);
    m->maps += (size_t)b->rm_cap[t] * sizeof *b->rm[t];
  }
  m->other = b->key_cap + (size_t)b->loc_hash_cap * sizeof *b->loc_hash +
             (size_t)b->smp_len_cap * sizeof *b->smp_len +
             (size_t)b->order_cap * sizeof *b->order +
             hset_bytes(&b->res_set) +
             (size_t)b->res_cap * (sizeof *b->res + sizeof *b->res_meta) +
             (size_t)b->undo_cap * sizeof *b->undo;
  m->total = m->samples + m->arena + m->tables + m->sets + m->maps + m->other;
}

size_t pc_builder_mem(const pc_builder_t *b) {
  pc_builder_mem_t m;
  pc_builder_mem_detail(b, &m);
  return m.total;
}

void pc_builder_reset(pc_builder_t *b) {
  pc_arena_reset(b->arena);
  b->arena_bytes = b->view_bytes = 0;
  while (b->chunks) chunk_pop(b);
  b->n_order = b->n_decoded = 0;
  for (int t = 0; t < T_COUNT; t++)
    if (b->sets[t].v) memset(b->sets[t].v, 0, hset_bytes(&b->sets[t]));
  if (b->res_set.v) memset(b->res_set.v, 0, hset_bytes(&b->res_set));
  b->n_res = 0;
  b->n_undo = 0;
  init_tables(b);
}
