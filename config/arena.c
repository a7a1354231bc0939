/* arena.c - the memory of a config tree: every node, string and array of a
 * pc_cfg_t in 64 KiB chunks, capped at PC_CFG_MAX_MEMORY so that hostile
 * input ends in a clean error, and released whole by pc_cfg_free. Both the
 * loader (load.c) and the merger (merge.c) allocate here. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pc__cfg_chunk {
  pc__cfg_chunk_t *next;
  size_t cap, used;
  max_align_t data[]; /* cap bytes */
};

enum { CHUNK_SIZE = 64 * 1024, ALIGN = _Alignof(max_align_t) };

void *pc__cfg_alloc(pc_cfg_t *cfg, size_t n) {
  if (n > PC_CFG_MAX_MEMORY) return NULL;
  n = (n + ALIGN - 1) / ALIGN * ALIGN;
  pc__cfg_chunk_t *c = cfg->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
    if (cfg->used + cap > PC_CFG_MAX_MEMORY) return NULL;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    *c = (pc__cfg_chunk_t){.next = cfg->chunks, .cap = cap};
    cfg->chunks = c;
    cfg->used += cap;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *pc__cfg_strndup(pc_cfg_t *cfg, const char *s, size_t n) {
  if (n == SIZE_MAX) return NULL;
  char *p = pc__cfg_alloc(cfg, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void pc_cfg_free(pc_cfg_t *cfg) {
  if (!cfg) return;
  for (pc__cfg_chunk_t *c = cfg->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(cfg);
}
