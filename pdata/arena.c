/* arena.c - a bump allocator: one per request, one per batch.
 *
 * Blocks are chained; an allocation larger than a block gets a block of its
 * own. Reset frees all blocks but the first (and those pc_arena_set_keep lets
 * it keep) and rewinds it, so a reused arena costs no malloc for requests
 * that fit in what it kept. */
#include "pdata.h"

#include <stdlib.h>
#include <string.h>

typedef struct block {
  struct block *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  _Alignas(16) uint8_t data[];
} block_t;

struct pc_arena {
  block_t *head;  /* current block (allocations come from here) */
  block_t *first; /* kept across resets */
  size_t block_size;
  size_t max_block; /* blocks double up to this */
  block_t *spare;   /* blocks kept by reset for reuse (pc_arena_set_keep) */
  size_t keep;      /* bytes of blocks reset may keep besides the first */
  size_t total; /* bytes of all blocks, headers excluded, plus pc_arena_charge */
  size_t limit; /* 0: none */
};

static block_t *block_new(size_t size) {
  block_t *b = malloc(sizeof(block_t) + size);
  if (!b) return NULL;
  b->next = NULL;
  b->size = size;
  b->used = 0;
  return b;
}

pc_arena_t *pc_arena_new(size_t block_size) {
  pc_arena_t *a = pc_xcalloc(1, sizeof *a);
  a->block_size = block_size ? block_size : 64 * 1024;
  a->max_block = a->block_size * 64;
  return a;
}

void pc_arena_set_limit(pc_arena_t *a, size_t limit) { a->limit = limit; }

void pc_arena_set_max_block(pc_arena_t *a, size_t max) {
  a->max_block = max < a->block_size ? a->block_size : max;
}

void pc_arena_set_keep(pc_arena_t *a, size_t keep) { a->keep = keep; }

size_t pc_arena_used(const pc_arena_t *a) { return a->total; }

size_t pc_arena_limit(const pc_arena_t *a) { return a->limit; }

int pc_arena_charge(pc_arena_t *a, size_t n) {
  if (a->limit && (n > a->limit || a->total > a->limit - n)) return PC_ENOMEM;
  a->total += n;
  return 0;
}

void pc_arena_uncharge(pc_arena_t *a, size_t n) { a->total -= n < a->total ? n : a->total; }

void *pc_arena_alloc(pc_arena_t *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (n == 0) n = 8;
  block_t *b = a->head;
  if (b && b->size - b->used >= n) {
    void *p = b->data + b->used;
    b->used += n;
    return p;
  }
  /* Grow: blocks double up to max_block, and a large request gets a block
   * of exactly its size. */
  if (a->spare && a->spare->size >= n) { /* a block reset kept: already counted */
    block_t *nb = a->spare;
    a->spare = nb->next;
    nb->next = b;
    a->head = nb;
    nb->used = n;
    return nb->data;
  }
  size_t size = a->block_size;
  if (b && b->size * 2 > size) size = b->size * 2;
  if (size > a->max_block) size = a->max_block;
  if (n > size) size = n;
  if (a->limit && (size > a->limit || a->total > a->limit - size)) {
    if (n > a->limit || a->total > a->limit - n) return NULL;
    size = n;
  }
  block_t *nb = block_new(size);
  if (!nb) return NULL;
  a->total += size;
  if (b && size == n && b != a->first && b->size - b->used > 64) {
    /* A block of its own, full at once: chain it behind the current block,
     * which keeps taking small allocations instead of wasting its tail. */
    nb->next = b->next;
    b->next = nb;
    nb->used = n;
    return nb->data;
  }
  nb->next = b;
  a->head = nb;
  if (!a->first) a->first = nb;
  nb->used = n;
  return nb->data;
}

void *pc_arena_calloc(pc_arena_t *a, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = pc_arena_alloc(a, count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

int pc_arena_dup(pc_arena_t *a, const void *p, size_t n, pc_str_t *out) {
  if (n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *q = pc_arena_alloc(a, n);
  if (!q) return PC_ENOMEM;
  memcpy(q, p, n);
  *out = (pc_str_t){q, n};
  return 0;
}

void pc_arena_reset(pc_arena_t *a) {
  size_t kept = 0;
  for (block_t *s = a->spare; s; s = s->next) kept += s->size;
  block_t *b = a->head;
  while (b && b != a->first) {
    block_t *next = b->next;
    if (kept + b->size <= a->keep) { /* handed out again before new blocks */
      kept += b->size;
      b->next = a->spare;
      a->spare = b;
    } else {
      free(b);
    }
    b = next;
  }
  a->head = a->first;
  if (a->first) {
    a->first->used = 0;
    a->first->next = NULL;
    a->total = a->first->size + kept;
  } else {
    a->total = 0;
  }
}

static void free_chain(block_t *b) {
  while (b) {
    block_t *next = b->next;
    free(b);
    b = next;
  }
}

void pc_arena_free(pc_arena_t *a) {
  if (!a) return;
  free_chain(a->head);
  free_chain(a->spare);
  free(a);
}
