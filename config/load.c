/* load.c - YAML text to a pc_cfg_node_t tree, one node per value, each
 * remembering its file, line, column and key path for error messages.
 *
 * libyaml's event API drives a small recursive descent (recursion is bounded
 * by PC_CFG_MAX_DEPTH); every node, string and array lives in the tree's
 * arena (arena.c), so a hostile file ends in an error and one pc_cfg_free
 * releases everything. libyaml marks are 0-based; the
 * tree and every message are 1-based. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

const pc_cfg_node_t *pc_cfg_root(const pc_cfg_t *cfg) { return cfg ? cfg->root : NULL; }

/* ---- lookups and errors --------------------------------------------------- */

const pc_cfg_node_t *pc_cfg_get(const pc_cfg_node_t *map, const char *key) {
  if (!map || map->type != PC_CFG_MAP || !key) return NULL;
  for (size_t i = 0; i < map->n_entries; i++)
    if (strcmp(map->entries[i].key, key) == 0) return map->entries[i].value;
  return NULL;
}

/* The list pc_cfg_collect_begin set on this thread, or NULL. */
static _Thread_local pc_errlist_t *collected;

void pc_cfg_collect_begin(pc_errlist_t *list) { collected = list; }
void pc_cfg_collect_end(void) { collected = NULL; }
bool pc_cfg_collecting(void) { return collected != NULL; }

/* "file:line:col: path: what". A path longer than fits keeps its tail,
 * the most specific part. */
__attribute__((format(printf, 7, 0))) static int vset_error(pc_err_t *err, const char *file,
                                                            int line, int col, const char *path,
                                                            int code, const char *fmt,
                                                            va_list ap) {
  if (!err) return code;
  char what[256], where[160] = "";
  vsnprintf(what, sizeof what, fmt, ap);
  if (file && line > 0) snprintf(where, sizeof where, "%s:%d:%d: ", file, line, col);
  else if (file) snprintf(where, sizeof where, "%s: ", file);
  size_t plen = path ? strlen(path) : 0;
  const char *dots = "";
  if (plen > 80) { /* keep the tail, from the start of a key or index */
    path += plen - 77;
    const char *cut = path + strcspn(path, ".[");
    if (*cut) path = cut + (*cut == '.');
    dots = "...";
    plen = strlen(path);
  }
  *err = (pc_err_t){.code = code, .file = file, .line = line, .col = col};
  int len = snprintf(err->msg, sizeof err->msg, "%s%s%s%s%s", where, dots, plen ? path : "",
                     plen ? ": " : "", what);
  if (len >= (int)sizeof err->msg) /* say that it was cut */
    memcpy(err->msg + sizeof err->msg - 4, "...", 4);
  if (collected && code) pc_errlist_add(collected, err->msg);
  return code;
}

/* An error about a whole file (no line): "file: what". */
__attribute__((format(printf, 4, 5))) static int file_error(pc_err_t *err, const char *file,
                                                            int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vset_error(err, file, 0, 0, NULL, code, fmt, ap);
  va_end(ap);
  return code;
}

int pc_cfg_error(pc_err_t *err, const pc_cfg_node_t *node, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (node) vset_error(err, node->file, node->line, node->col, node->path, code, fmt, ap);
  else vset_error(err, NULL, 0, 0, NULL, code, fmt, ap);
  va_end(ap);
  return code;
}

int pc_cfg_error_for_later(pc_err_t *err, const pc_cfg_node_t *node, int code,
                           const char *fmt, ...) {
  pc_errlist_t *saved = collected;
  collected = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (node) vset_error(err, node->file, node->line, node->col, node->path, code, fmt, ap);
  else vset_error(err, NULL, 0, 0, NULL, code, fmt, ap);
  va_end(ap);
  collected = saved;
  return code;
}

int pc_cfg_key_error(pc_err_t *err, const pc_cfg_node_t *node, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (node && node->key_line > 0)
    vset_error(err, node->file, node->key_line, node->key_col, node->path, code, fmt, ap);
  else if (node) vset_error(err, node->file, node->line, node->col, node->path, code, fmt, ap);
  else vset_error(err, NULL, 0, 0, NULL, code, fmt, ap);
  va_end(ap);
  return code;
}

/* ---- the loader ------------------------------------------------------------ */

typedef struct {
  yaml_parser_t parser;
  pc_cfg_t *cfg;
  const char *file;     /* arena copy of the name, for the nodes */
  const char *err_file; /* the caller's string, which outlives a failed load */
  const char *input;
  size_t n;
  pc_err_t *err;
  int depth;
} loader_t;

static const char TOO_BIG[] = "the config needs more than %zu MiB of memory once loaded; "
                              "it is too large to be a real configuration";

__attribute__((format(printf, 5, 6))) static int fail_at(loader_t *l, yaml_mark_t mark,
                                                         const char *path, int code,
                                                         const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vset_error(l->err, l->err_file, (int)mark.line + 1, (int)mark.column + 1, path, code, fmt, ap);
  va_end(ap);
  return code;
}

static int out_of_memory(loader_t *l, yaml_mark_t mark) {
  return fail_at(l, mark, NULL, PC_ELIMIT, TOO_BIG, PC_CFG_MAX_MEMORY >> 20);
}

/* libyaml's reader reports a byte offset, not a mark: count lines and
 * characters (not UTF-8 continuation bytes) up to it. */
static yaml_mark_t mark_of_offset(const loader_t *l, size_t off) {
  yaml_mark_t m = {0};
  for (size_t i = 0; i < off && i < l->n; i++) {
    unsigned char c = (unsigned char)l->input[i];
    if (c == '\n') {
      m.line++;
      m.column = 0;
    } else if ((c & 0xC0) != 0x80) {
      m.column++;
    }
  }
  return m;
}

/* The input byte at a mark (lines and characters), or 0 past the end. */
static char byte_at(const loader_t *l, yaml_mark_t mark) {
  size_t i = 0, line = 0, col = 0;
  for (; i < l->n && line < mark.line; i++) line += l->input[i] == '\n';
  for (; i < l->n && l->input[i] != '\n'; i++) {
    if (((unsigned char)l->input[i] & 0xC0) == 0x80) continue;
    if (col++ == mark.column) return l->input[i];
  }
  return 0;
}

/* libyaml's contexts ("while scanning a quoted scalar"), named for people.
 * For a construct that holds the mistake (an unclosed quote or bracket),
 * its start is where to look, more than where the parser noticed (often the
 * end of the file): that start comes first. For a block map or list, the
 * place noticed is the one to look at, and the block's start is added. */
static const struct {
  const char *context, *name;
  bool start_first;
} contexts[] = {
    {"quoted scalar", "the quoted string", true},
    {"flow sequence", "the list in [ ]", true},
    {"flow mapping", "the map in { }", true},
    {"block scalar", "the block text (| or >)", true},
    {"anchor", "the anchor", true},
    {"tag", "the tag", true},
    {"block mapping", "the map", false},
    {"block collection", "the list", false},
    {"simple key", "the key", false},
};

static int contextual_error(loader_t *l, const char *problem) {
  const yaml_parser_t *p = &l->parser;
  const char *name = NULL;
  bool start_first = false;
  for (size_t i = 0; i < sizeof contexts / sizeof contexts[0] && !name; i++)
    if (strstr(p->context, contexts[i].context)) {
      name = contexts[i].name;
      start_first = contexts[i].start_first;
    }
  size_t sl = p->context_mark.line + 1, sc = p->context_mark.column + 1;
  size_t nl = p->problem_mark.line + 1, nc = p->problem_mark.column + 1;
  if (name && start_first)
    return fail_at(l, p->context_mark, NULL, PC_EINVAL, "%s that starts here is %s: %s at line "
                   "%zu, column %zu", name, strstr(problem, "end of stream") ? "not closed" :
                   "broken", problem, nl, nc);
  if (name)
    return fail_at(l, p->problem_mark, NULL, PC_EINVAL, "%s (in %s that starts at line %zu, "
                   "column %zu)", problem, name, sl, sc);
  return fail_at(l, p->problem_mark, NULL, PC_EINVAL, "%s (%s at line %zu, column %zu)", problem,
                 p->context, sl, sc);
}

static int syntax_error(loader_t *l) {
  const yaml_parser_t *p = &l->parser;
  const char *problem = p->problem ? p->problem : "invalid YAML";
  switch (p->error) {
  case YAML_MEMORY_ERROR:
    return fail_at(l, p->mark, NULL, PC_ENOMEM, "out of memory while parsing YAML");
  case YAML_READER_ERROR:
    if (p->problem_value != -1)
      return fail_at(l, mark_of_offset(l, p->problem_offset), NULL, PC_EINVAL,
                     "%s (byte 0x%02X)", problem, (unsigned)p->problem_value & 0xFF);
    return fail_at(l, mark_of_offset(l, p->problem_offset), NULL, PC_EINVAL, "%s", problem);
  default:
    if (byte_at(l, p->problem_mark) == '\t')
      return fail_at(l, p->problem_mark, NULL, PC_EINVAL,
                     "a tab character where YAML allows none; indent with spaces, not tabs");
    if (p->context) return contextual_error(l, problem);
    return fail_at(l, p->problem_mark, NULL, PC_EINVAL, "%s", problem);
  }
}

static int next_event(loader_t *l, yaml_event_t *ev) {
  if (yaml_parser_parse(&l->parser, ev)) return 0;
  return syntax_error(l);
}

static pc_cfg_node_t *new_node(loader_t *l, pc_cfg_type_t type, yaml_mark_t mark,
                               const char *path) {
  pc_cfg_node_t *node = pc__cfg_alloc(l->cfg, sizeof *node);
  if (!node) return NULL;
  *node = (pc_cfg_node_t){.type = type,
                          .file = l->file,
                          .line = (int)mark.line + 1,
                          .col = (int)mark.column + 1,
                          .path = path};
  return node;
}

/* Paths are checked against PC_CFG_MAX_PATH before they are built, so that
 * a NULL from these two means only that the arena is full. */
static int path_too_long(loader_t *l, yaml_mark_t mark, const char *parent, size_t extra) {
  if (strlen(parent) + extra <= PC_CFG_MAX_PATH) return 0;
  return fail_at(l, mark, parent, PC_ELIMIT, "key path longer than %d bytes", PC_CFG_MAX_PATH);
}

/* The path of a map's value: "a.b" + "c", or "c" under the root. */
static char *key_path(loader_t *l, const char *parent, const char *key, size_t klen) {
  size_t plen = strlen(parent), n = plen + (plen ? 1 : 0) + klen;
  char *p = pc__cfg_alloc(l->cfg, n + 1);
  if (!p) return NULL;
  if (plen) {
    memcpy(p, parent, plen);
    p[plen] = '.';
  }
  memcpy(p + n - klen, key, klen);
  p[n] = 0;
  return p;
}

/* "[12]" after the parent's path. */
static int index_suffix(char *buf, size_t n, size_t i) { return snprintf(buf, n, "[%zu]", i); }

static char *item_path(loader_t *l, const char *parent, size_t i) {
  char idx[32];
  size_t k = (size_t)index_suffix(idx, sizeof idx, i), plen = strlen(parent);
  char *p = pc__cfg_alloc(l->cfg, plen + k + 1);
  if (!p) return NULL;
  memcpy(p, parent, plen);
  memcpy(p + plen, idx, k + 1);
  return p;
}

static int refuse_anchor(loader_t *l, yaml_mark_t mark, const char *path,
                         const yaml_char_t *anchor) {
  return fail_at(l, mark, path, PC_EINVAL,
                 "anchor \"&%.40s\": anchors and aliases are not supported; write the value out "
                 "in full",
                 (const char *)anchor);
}

static int refuse_alias(loader_t *l, yaml_mark_t mark, const char *path,
                        const yaml_char_t *anchor) {
  return fail_at(l, mark, path, PC_EINVAL,
                 "alias \"*%.40s\": anchors and aliases are not supported; write the value out "
                 "in full",
                 (const char *)anchor);
}

/* "tag:yaml.org,2002:str" is written "!!str" in the file. */
static const char *yaml_std_tag(const char *tag) {
  static const char prefix[] = "tag:yaml.org,2002:";
  return strncmp(tag, prefix, sizeof prefix - 1) == 0 ? tag + sizeof prefix - 1 : NULL;
}

/* A tag as the file wrote it, roughly: "!!set" rather than the full URI. */
static void show_tag(char *buf, size_t n, const char *tag) {
  const char *std = yaml_std_tag(tag);
  snprintf(buf, n, "%s%.60s", std ? "!!" : "", std ? std : tag);
}

static int check_collection_tag(loader_t *l, yaml_mark_t mark, const char *path,
                                const yaml_char_t *tag, const char *expected) {
  if (!tag) return 0;
  const char *std = yaml_std_tag((const char *)tag);
  if (strcmp((const char *)tag, "!") == 0 || (std && strcmp(std, expected) == 0)) return 0;
  char shown[80];
  show_tag(shown, sizeof shown, (const char *)tag);
  return fail_at(l, mark, path, PC_EINVAL, "unsupported tag \"%s\" on a %s", shown,
                 strcmp(expected, "map") == 0 ? "map" : "list");
}

static bool is_null_text(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Classify a scalar by its tag and style: null, quoted text, or plain text. */
static int scalar_kind(loader_t *l, const yaml_event_t *ev, const char *path, bool *is_null,
                       bool *quoted) {
  const char *text = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  const char *std = tag ? yaml_std_tag(tag) : NULL;
  bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  *quoted = !plain;
  *is_null = plain && !tag && is_null_text(text, n);
  if (!tag) return 0;
  if (strcmp(tag, "!") == 0 || (std && strcmp(std, "str") == 0)) *quoted = true;
  else if (std && strcmp(std, "null") == 0) *is_null = true;
  else if (!std || (strcmp(std, "int") && strcmp(std, "bool") && strcmp(std, "float"))) {
    char shown[80];
    show_tag(shown, sizeof shown, tag);
    return fail_at(l, ev->start_mark, path, PC_EINVAL, "unsupported tag \"%s\"", shown);
  }
  return 0;
}

static int make_scalar(loader_t *l, const yaml_event_t *ev, const char *path,
                       pc_cfg_node_t **out) {
  const char *text = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  if (ev->data.scalar.anchor) return refuse_anchor(l, ev->start_mark, path, ev->data.scalar.anchor);
  if (memchr(text, 0, n))
    return fail_at(l, ev->start_mark, path, PC_EINVAL,
                   "the value contains a NUL character (\\0), which cannot be used");
  bool is_null, quoted;
  int rc = scalar_kind(l, ev, path, &is_null, &quoted);
  if (rc) return rc;
  pc_cfg_node_t *node = new_node(l, is_null ? PC_CFG_NULL : PC_CFG_SCALAR, ev->start_mark, path);
  if (!node) return out_of_memory(l, ev->start_mark);
  node->quoted = quoted;
  *out = node;
  if (is_null) return 0;
  pc_buf_t buf = {0};
  char why[200];
  rc = pc__cfg_subst(text, n, PC_CFG_MAX_FILE_SIZE, &buf, why, sizeof why);
  if (rc) {
    pc_buf_free(&buf);
    return fail_at(l, ev->start_mark, path, rc, "%s", why);
  }
  node->text = pc__cfg_strndup(l->cfg, (const char *)buf.p, buf.n);
  pc_buf_free(&buf);
  return node->text ? 0 : out_of_memory(l, ev->start_mark);
}

static int parse_node(loader_t *l, yaml_event_t *ev, const char *path, pc_cfg_node_t **out);

static int enter(loader_t *l, yaml_mark_t mark, const char *path) {
  if (++l->depth <= PC_CFG_MAX_DEPTH) return 0;
  return fail_at(l, mark, path, PC_ELIMIT, "more than %d levels of nested maps and lists",
                 PC_CFG_MAX_DEPTH);
}

/* A growable array of temporary items, copied to the arena once complete. */
typedef struct {
  void *p;
  size_t n, cap;
} vec_t;

static int vec_push(vec_t *v, const void *item, size_t size) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 8;
    void *p = realloc(v->p, cap * size);
    if (!p) return PC_ENOMEM;
    v->p = p;
    v->cap = cap;
  }
  memcpy((char *)v->p + v->n * size, item, size);
  v->n++;
  return 0;
}

static void *vec_to_arena(loader_t *l, const vec_t *v, size_t size) {
  void *p = pc__cfg_alloc(l->cfg, v->n ? v->n * size : 1);
  if (p && v->n) memcpy(p, v->p, v->n * size);
  return p;
}

static int parse_seq(loader_t *l, pc_cfg_node_t *node) {
  vec_t items = {0};
  int rc = 0;
  for (;;) {
    yaml_event_t ev;
    if ((rc = next_event(l, &ev))) break;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    char idx[32];
    rc = path_too_long(l, ev.start_mark, node->path,
                       (size_t)index_suffix(idx, sizeof idx, items.n));
    char *path = rc ? NULL : item_path(l, node->path, items.n);
    pc_cfg_node_t *item = NULL;
    if (!path) {
      if (!rc) rc = out_of_memory(l, ev.start_mark);
      yaml_event_delete(&ev);
      break;
    }
    if ((rc = parse_node(l, &ev, path, &item))) break;
    if ((rc = vec_push(&items, &item, sizeof item))) {
      rc = out_of_memory(l, l->parser.mark);
      break;
    }
  }
  if (!rc) {
    node->n_items = items.n;
    node->items = vec_to_arena(l, &items, sizeof(pc_cfg_node_t *));
    if (!node->items) rc = out_of_memory(l, l->parser.mark);
  }
  free(items.p);
  return rc;
}

/* A key is plain text: not a map, list, alias, anchor, empty or with NUL. */
static int check_key(loader_t *l, const yaml_event_t *ev, const char *path) {
  if (ev->type == YAML_ALIAS_EVENT)
    return refuse_alias(l, ev->start_mark, path, ev->data.alias.anchor);
  if (ev->type != YAML_SCALAR_EVENT)
    return fail_at(l, ev->start_mark, path, PC_EINVAL, "a key must be text, not a %s",
                   ev->type == YAML_MAPPING_START_EVENT ? "map" : "list");
  if (ev->data.scalar.anchor) return refuse_anchor(l, ev->start_mark, path, ev->data.scalar.anchor);
  size_t n = ev->data.scalar.length;
  if (n == 0) return fail_at(l, ev->start_mark, path, PC_EINVAL, "a key cannot be empty");
  if (memchr(ev->data.scalar.value, 0, n))
    return fail_at(l, ev->start_mark, path, PC_EINVAL,
                   "a key contains a NUL character (\\0), which cannot be used");
  /* "::" nests (merge.c cuts the key at each one, left to right): a part
   * it leaves empty ("::a", "a::", "a::::b") would become an empty key
   * that the check above never saw. Found by the yaml_config fuzz target. */
  for (const char *k = (const char *)ev->data.scalar.value;;) {
    const char *sep = strstr(k, "::");
    if (sep == k || (!sep && !*k))
      return fail_at(l, ev->start_mark, path, PC_EINVAL,
                     "a key cannot have an empty part between \"::\" (which nests keys)");
    if (!sep) break;
    k = sep + 2;
  }
  return 0;
}

typedef struct {
  vec_t entries; /* pc_cfg_entry_t */
  vec_t marks;   /* yaml_mark_t of each key, for the duplicate message */
  pc__cfg_keyidx_t idx;
} map_builder_t;

/* Record the key of ev as the next entry; its value is parsed next. */
static int add_key(loader_t *l, map_builder_t *b, pc_cfg_node_t *map, const yaml_event_t *ev,
                   char **path) {
  const char *text = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  int rc = path_too_long(l, ev->start_mark, map->path, (map->path[0] ? 1 : 0) + n);
  if (rc) return rc;
  *path = key_path(l, map->path, text, n);
  if (!*path) return out_of_memory(l, ev->start_mark);
  const char *key = *path + strlen(*path) - n; /* the path ends with the key */
  long found;
  if (pc__cfg_keyidx_find(&b->idx, b->entries.p, b->entries.n, key, true, &found))
    return out_of_memory(l, ev->start_mark);
  if (found >= 0) {
    const yaml_mark_t *first = (const yaml_mark_t *)b->marks.p + found;
    char shown[80];
    pc__cfg_quote(shown, sizeof shown, key);
    return fail_at(l, ev->start_mark, *path, PC_EINVAL,
                   "duplicate key %s (first set at line %zu, column %zu)", shown,
                   first->line + 1, first->column + 1);
  }
  pc_cfg_entry_t e = {.key = key};
  if (vec_push(&b->entries, &e, sizeof e) || vec_push(&b->marks, &ev->start_mark,
                                                      sizeof ev->start_mark))
    return out_of_memory(l, ev->start_mark);
  return 0;
}

static int parse_map_entries(loader_t *l, map_builder_t *b, pc_cfg_node_t *map) {
  for (;;) {
    yaml_event_t ev;
    int rc = next_event(l, &ev);
    if (rc) return rc;
    if (ev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    char *path = NULL;
    rc = check_key(l, &ev, map->path);
    if (!rc) rc = add_key(l, b, map, &ev, &path);
    yaml_event_delete(&ev);
    if (rc) return rc;
    if ((rc = next_event(l, &ev))) return rc;
    pc_cfg_entry_t *e = (pc_cfg_entry_t *)b->entries.p + b->entries.n - 1;
    const yaml_mark_t *key_mark = (const yaml_mark_t *)b->marks.p + b->marks.n - 1;
    if ((rc = parse_node(l, &ev, path, &e->value))) return rc;
    e->value->key_line = (int)key_mark->line + 1;
    e->value->key_col = (int)key_mark->column + 1;
  }
}

static int parse_map(loader_t *l, pc_cfg_node_t *map) {
  map_builder_t b = {0};
  int rc = parse_map_entries(l, &b, map);
  if (!rc) {
    map->n_entries = b.entries.n;
    map->entries = vec_to_arena(l, &b.entries, sizeof(pc_cfg_entry_t));
    if (!map->entries) rc = out_of_memory(l, l->parser.mark);
  }
  free(b.entries.p);
  free(b.marks.p);
  pc__cfg_keyidx_free(&b.idx);
  return rc;
}

static int parse_collection(loader_t *l, yaml_event_t *ev, const char *path,
                            pc_cfg_node_t **out) {
  bool is_map = ev->type == YAML_MAPPING_START_EVENT;
  const yaml_char_t *anchor =
      is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
  if (anchor) return refuse_anchor(l, ev->start_mark, path, anchor);
  int rc = check_collection_tag(l, ev->start_mark, path, tag, is_map ? "map" : "seq");
  if (rc || (rc = enter(l, ev->start_mark, path))) return rc;
  pc_cfg_node_t *node = new_node(l, is_map ? PC_CFG_MAP : PC_CFG_SEQ, ev->start_mark, path);
  if (!node) return out_of_memory(l, ev->start_mark);
  *out = node;
  rc = is_map ? parse_map(l, node) : parse_seq(l, node);
  l->depth--;
  return rc;
}

/* Build the node that starts with ev (consumed here) and everything in it. */
static int parse_node(loader_t *l, yaml_event_t *ev, const char *path, pc_cfg_node_t **out) {
  int rc;
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    rc = make_scalar(l, ev, path, out);
    break;
  case YAML_MAPPING_START_EVENT:
  case YAML_SEQUENCE_START_EVENT:
    rc = parse_collection(l, ev, path, out);
    break;
  case YAML_ALIAS_EVENT:
    rc = refuse_alias(l, ev->start_mark, path, ev->data.alias.anchor);
    break;
  default: /* libyaml only gives the events above in a node's place */
    rc = fail_at(l, ev->start_mark, path, PC_EINVAL, "unexpected YAML event %d", (int)ev->type);
  }
  yaml_event_delete(ev);
  return rc;
}

/* An empty document is an empty map; any other top level but a map is an error. */
static int check_root(loader_t *l, pc_cfg_node_t **root, yaml_mark_t mark) {
  if (!*root || (*root)->type == PC_CFG_NULL) {
    *root = new_node(l, PC_CFG_MAP, mark, "");
    return *root ? 0 : out_of_memory(l, mark);
  }
  if ((*root)->type == PC_CFG_MAP) return 0;
  yaml_mark_t at = {.line = (size_t)(*root)->line - 1, .column = (size_t)(*root)->col - 1};
  return fail_at(l, at, NULL, PC_EINVAL,
                 "the top level must be a map of sections (receivers:, exporters:, service:, "
                 "...), not a %s",
                 (*root)->type == PC_CFG_SEQ ? "list" : "single value");
}

/* STREAM-START, then nothing or one DOCUMENT holding one node, then STREAM-END. */
static int parse_stream(loader_t *l, pc_cfg_node_t **root) {
  yaml_event_t ev;
  int rc = next_event(l, &ev); /* STREAM-START */
  if (rc) return rc;
  yaml_mark_t start = ev.start_mark;
  yaml_event_delete(&ev);
  if ((rc = next_event(l, &ev))) return rc;
  if (ev.type == YAML_DOCUMENT_START_EVENT) {
    yaml_event_delete(&ev);
    if ((rc = next_event(l, &ev)) || (rc = parse_node(l, &ev, "", root))) return rc;
    if ((rc = next_event(l, &ev))) return rc; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if ((rc = next_event(l, &ev))) return rc;
  }
  bool more = ev.type != YAML_STREAM_END_EVENT;
  yaml_mark_t at = ev.start_mark;
  yaml_event_delete(&ev);
  if (more)
    return fail_at(l, at, NULL, PC_EINVAL,
                   "a second YAML document (after \"---\"); a config file holds one document, "
                   "give more files instead");
  return check_root(l, root, start);
}

int pc__cfg_parse(pc_cfg_t *cfg, const char *name, const char *text, size_t n,
                  pc_cfg_node_t **root, pc_err_t *err) {
  if (n > PC_CFG_MAX_FILE_SIZE)
    return file_error(err, name, PC_ELIMIT, "the config is larger than the %zu MiB limit",
                      PC_CFG_MAX_FILE_SIZE >> 20);
  loader_t l = {.cfg = cfg, .err_file = name, .input = text, .n = n, .err = err};
  l.file = pc__cfg_strndup(cfg, name, strlen(name));
  if (!l.file) return file_error(err, name, PC_ELIMIT, TOO_BIG, PC_CFG_MAX_MEMORY >> 20);
  if (!yaml_parser_initialize(&l.parser))
    return file_error(err, name, PC_ENOMEM, "out of memory starting the YAML parser");
  yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, n);
  *root = NULL;
  int rc = parse_stream(&l, root);
  yaml_parser_delete(&l.parser);
  return rc;
}

/* ---- strings ------------------------------------------------------------------ */

static pc_cfg_t *fail(pc_cfg_t *cfg) {
  pc_cfg_free(cfg);
  return NULL;
}

pc_cfg_t *pc_cfg_load_string(const char *name, const char *yaml, pc_err_t *err) {
  if (!yaml) {
    file_error(err, name, PC_EINVAL, "no config text given");
    return NULL;
  }
  pc_cfg_t *cfg = pc_xcalloc(1, sizeof *cfg);
  /* strnlen: a huge string is refused without reading all of it. */
  size_t n = strnlen(yaml, PC_CFG_MAX_FILE_SIZE + 1);
  if (!name) name = "<string>";
  if (pc__cfg_parse(cfg, name, yaml, n, &cfg->root, err)) return fail(cfg);
  if (pc__cfg_expand_keys(cfg, &cfg->root)) {
    file_error(err, name, PC_ELIMIT, TOO_BIG, PC_CFG_MAX_MEMORY >> 20);
    return fail(cfg);
  }
  return cfg;
}
