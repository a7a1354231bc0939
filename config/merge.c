/* merge.c - merging config files in order, as the OpenTelemetry Collector
 * merges several --config files, and the key index that keeps both merging
 * and duplicate-key checks linear.
 *
 * Rule: where both files have a map, the maps merge key by key (the first
 * file's keys keep their order, new keys follow in the later file's order);
 * anywhere else, the later file's value replaces the earlier one whole, so
 * a later list replaces a list instead of appending to it. Nodes keep the
 * file they came from, so errors point at the file that set the value.
 *
 * Keys with "::" nest, as the Collector's confmap reads its key delimiter:
 * "processors::batch::timeout: 2s" is processors: {batch: {timeout: 2s}},
 * which is what --set and yaml: sources are made of. */
#include <stdio.h>
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

/* ---- "::" in keys ------------------------------------------------------------ */

/* "a::b.c[0]" -> "a.b.c[0]": a path as if the nested keys had been written. */
static const char *nested_path(pc_cfg_t *cfg, const char *path) {
  if (!strstr(path, "::")) return path;
  size_t n = strlen(path);
  char *p = pc__cfg_alloc(cfg, n + 1);
  if (!p) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (path[i] == ':' && path[i + 1] == ':') {
      p[o++] = '.';
      i++;
    } else {
      p[o++] = path[i];
    }
  }
  p[o] = 0;
  return p;
}

/* "parent.key" (or "key" under the root). */
static const char *join_path(pc_cfg_t *cfg, const char *parent, const char *key) {
  size_t np = strlen(parent), nk = strlen(key);
  char *p = pc__cfg_alloc(cfg, np + 1 + nk + 1);
  if (!p) return NULL;
  snprintf(p, np + 1 + nk + 1, "%s%s%s", parent, np ? "." : "", key);
  return p;
}

/* {key: value} under a map at path parent, with key cut at each "::" into
 * one map per part. */
static pc_cfg_node_t *nest(pc_cfg_t *cfg, const char *parent, const char *key,
                           pc_cfg_node_t *value) {
  pc_cfg_node_t *map = pc__cfg_alloc(cfg, sizeof *map);
  pc_cfg_entry_t *e = pc__cfg_alloc(cfg, sizeof *e);
  if (!map || !e) return NULL;
  *map = (pc_cfg_node_t){.type = PC_CFG_MAP, .file = value->file, .line = value->line,
                         .col = value->col, .path = parent, .entries = e, .n_entries = 1};
  const char *sep = strstr(key, "::");
  if (!sep) {
    *e = (pc_cfg_entry_t){.key = key, .value = value};
    return map;
  }
  size_t n = (size_t)(sep - key);
  char *head = pc__cfg_alloc(cfg, n + 1);
  if (!head) return NULL;
  memcpy(head, key, n);
  head[n] = 0;
  const char *path = join_path(cfg, parent, head);
  pc_cfg_node_t *inner = path ? nest(cfg, path, sep + 2, value) : NULL;
  if (!inner) return NULL;
  inner->key_line = value->key_line;
  inner->key_col = value->key_col;
  *e = (pc_cfg_entry_t){.key = head, .value = inner};
  return map;
}

int pc__cfg_expand_keys(pc_cfg_t *cfg, pc_cfg_node_t **node) {
  pc_cfg_node_t *n = *node;
  if (!n) return 0;
  if (!(n->path = nested_path(cfg, n->path))) return PC_ELIMIT;
  if (n->type == PC_CFG_SEQ) {
    for (size_t i = 0; i < n->n_items; i++)
      if (pc__cfg_expand_keys(cfg, &n->items[i])) return PC_ELIMIT;
    return 0;
  }
  if (n->type != PC_CFG_MAP) return 0;
  bool nested = false;
  for (size_t i = 0; i < n->n_entries; i++) {
    if (pc__cfg_expand_keys(cfg, &n->entries[i].value)) return PC_ELIMIT;
    nested |= strstr(n->entries[i].key, "::") != NULL;
  }
  if (!nested) return 0;
  /* Rebuild the map entry by entry, so that a::b and a::c share one a. */
  pc_cfg_node_t *out = pc__cfg_alloc(cfg, sizeof *out);
  if (!out) return PC_ELIMIT;
  *out = *n;
  out->entries = NULL;
  out->n_entries = 0;
  for (size_t i = 0; i < n->n_entries; i++) {
    pc_cfg_node_t *one = nest(cfg, n->path, n->entries[i].key, n->entries[i].value);
    if (!one || pc__cfg_merge(cfg, &out, one)) return PC_ELIMIT;
  }
  *node = out;
  return 0;
}
