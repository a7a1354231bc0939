/* merge.c - merging config files in order, as the OpenTelemetry Collector
 * merges several --config files, and the key index that keeps both merging
 * and duplicate-key checks linear.
 *
 * Rule: where both files have a map, the maps merge key by key (the first
 * file's keys keep their order, new keys follow in the later file's order);
 * anywhere else, the later file's value replaces the earlier one whole, so
 * a later list replaces a list instead of appending to it. Nodes keep the
 * file they came from, so errors point at the file that set the value. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t hash_key(const char *s) { return pc_hash64(s, strlen(s)); }

/* Make room for n + 1 keys at load factor <= 1/2, rehashing entries[0..n). */
static int keyidx_grow(pc__cfg_keyidx_t *idx, const pc_cfg_entry_t *entries, size_t n) {
  if (idx->cap && (n + 1) * 2 <= idx->cap) return 0;
  size_t cap = idx->cap ? idx->cap * 2 : 16;
  while ((n + 1) * 2 > cap) cap *= 2;
  if (n >= UINT32_MAX - 1) return PC_ENOMEM;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return PC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    size_t s = (size_t)hash_key(entries[i].key) & (cap - 1);
    while (slots[s]) s = (s + 1) & (cap - 1);
    slots[s] = (uint32_t)i + 1;
  }
  free(idx->slots);
  idx->slots = slots;
  idx->cap = cap;
  return 0;
}

int pc__cfg_keyidx_find(pc__cfg_keyidx_t *idx, const pc_cfg_entry_t *entries, size_t n,
                        const char *key, bool insert, long *found) {
  *found = -1;
  if (insert && keyidx_grow(idx, entries, n)) return PC_ENOMEM;
  if (!idx->cap) return 0;
  size_t s = (size_t)hash_key(key) & (idx->cap - 1);
  for (; idx->slots[s]; s = (s + 1) & (idx->cap - 1)) {
    size_t i = idx->slots[s] - 1;
    if (strcmp(entries[i].key, key) == 0) {
      *found = (long)i;
      return 0;
    }
  }
  if (insert) idx->slots[s] = (uint32_t)n + 1;
  return 0;
}

void pc__cfg_keyidx_free(pc__cfg_keyidx_t *idx) {
  free(idx->slots);
  *idx = (pc__cfg_keyidx_t){0};
}

static int merge_maps(pc_cfg_t *cfg, pc_cfg_node_t *dst, const pc_cfg_node_t *src) {
  size_t cap = dst->n_entries + src->n_entries, n = 0;
  pc_cfg_entry_t *entries = pc__cfg_alloc(cfg, (cap ? cap : 1) * sizeof *entries);
  if (!entries) return PC_ELIMIT;
  pc__cfg_keyidx_t idx = {0};
  long found;
  int rc = 0;
  for (size_t i = 0; i < dst->n_entries && !rc; i++) {
    rc = pc__cfg_keyidx_find(&idx, entries, n, dst->entries[i].key, true, &found);
    entries[n++] = dst->entries[i]; /* keys in one map are unique: found is -1 */
  }
  for (size_t i = 0; i < src->n_entries && !rc; i++) {
    rc = pc__cfg_keyidx_find(&idx, entries, n, src->entries[i].key, true, &found);
    if (rc) break;
    if (found < 0) entries[n++] = src->entries[i];
    else rc = pc__cfg_merge(cfg, &entries[found].value, src->entries[i].value);
  }
  pc__cfg_keyidx_free(&idx);
  if (rc) return PC_ELIMIT;
  dst->entries = entries;
  dst->n_entries = n;
  return 0;
}

int pc__cfg_merge(pc_cfg_t *cfg, pc_cfg_node_t **dst, pc_cfg_node_t *src) {
  if (*dst && (*dst)->type == PC_CFG_MAP && src->type == PC_CFG_MAP)
    return merge_maps(cfg, *dst, src);
  *dst = src;
  return 0;
}
