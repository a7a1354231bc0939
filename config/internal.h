/* internal.h - what the files of config/ share and nobody else sees: the
 * tree's memory (one arena per pc_cfg_t, capped so that hostile input ends in
 * a clean error), the hash index used for duplicate keys and merging, and
 * the ${env:VAR} expander. */
#ifndef PC_CONFIG_INTERNAL_H
#define PC_CONFIG_INTERNAL_H

#include "config.h"

typedef struct pc__cfg_chunk pc__cfg_chunk_t;

struct pc_cfg {
  pc_cfg_node_t *root;
  pc__cfg_chunk_t *chunks; /* every node, string and array of the tree */
  size_t used;             /* bytes taken from the system, checked against the cap */
};

/* n bytes from the tree's arena, aligned for any type, or NULL once the tree
 * would grow past PC_CFG_MAX_MEMORY (or malloc fails). Freed with the tree. */
void *pc__cfg_alloc(pc_cfg_t *cfg, size_t n);
/* A NUL-terminated copy of s[0..n) in the arena, or NULL as above. */
char *pc__cfg_strndup(pc_cfg_t *cfg, const char *s, size_t n);

/* An open-addressing index of a map's keys, so that duplicate checks and
 * merges stay linear for maps with many keys. Slots hold entry index + 1. */
typedef struct {
  uint32_t *slots;
  size_t cap; /* a power of two, or 0 */
} pc__cfg_keyidx_t;

/* Look key up among entries (indexed by idx); returns its entry index or -1.
 * With insert set and key absent, records entry n (which the caller then
 * fills with key) and still returns -1. PC_ENOMEM when the index cannot grow. */
int pc__cfg_keyidx_find(pc__cfg_keyidx_t *idx, const pc_cfg_entry_t *entries, size_t n,
                        const char *key, bool insert, long *found);
void pc__cfg_keyidx_free(pc__cfg_keyidx_t *idx);

/* Parse text (n bytes, any content) named name into a tree in cfg. */
int pc__cfg_parse(pc_cfg_t *cfg, const char *name, const char *text, size_t n,
                  pc_cfg_node_t **root, pc_err_t *err);

/* Nest every key that holds "::" ("a::b: 1" becomes "a: {b: 1}"), merging
 * with its siblings, throughout the tree under *node; paths follow. 0, or
 * PC_ELIMIT when the arena is full. */
int pc__cfg_expand_keys(pc_cfg_t *cfg, pc_cfg_node_t **node);

/* Merge src (a later file) into *dst, as the Collector merges --config
 * files: two maps merge key by key, anything else is replaced by src.
 * Merged maps get new entries arrays in cfg's arena; returns 0, or PC_ELIMIT
 * when the arena is full. */
int pc__cfg_merge(pc_cfg_t *cfg, pc_cfg_node_t **dst, pc_cfg_node_t *src);

/* Expand ${env:VAR}, ${VAR}, ${env:VAR:-default}, ${VAR:-default} and $$
 * (a literal $) in in[0..n). The result goes to out (NUL-terminated, caller
 * frees with pc_buf_free) and may not pass limit bytes. On error returns
 * PC_EINVAL or PC_ELIMIT with a message without location in why. A variable
 * that is set but empty expands to "" (the default is only for unset ones,
 * as in the Collector). */
int pc__cfg_subst(const char *in, size_t n, size_t limit, pc_buf_t *out, char *why,
                  size_t why_size);

/* Write text into dst (dst_size bytes, NUL-terminated) quoted for an error
 * message: "..." with control bytes escaped and long values cut short. */
void pc__cfg_quote(char *dst, size_t dst_size, const char *text);

#endif
