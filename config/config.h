/* config.h - profcol's YAML configuration, in the OpenTelemetry Collector's
 * shape, with errors that say file:line:col and the key path.
 *
 * Loading gives a tree of nodes (pc_cfg_node_t), each remembering where it
 * came from. Several files merge in order, as the Collector merges several
 * --config files: maps merge key by key, anything else is replaced by the
 * later file. ${env:VAR}, ${VAR} and ${env:VAR:-default} in scalars are
 * substituted at load time (an unset variable without default is an error).
 *
 * Components read their part of the tree through option tables (pc_opt_t):
 * one row per key with type, default, offset and bounds. The table gives
 * parsing, defaults, unknown-key errors (with a did-you-mean hint) and help
 * text in one place.
 *
 * Ownership: pc_cfg_load returns a tree owned by the caller, freed with
 * pc_cfg_free; nodes and their strings live as long as the tree. */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef enum {
  PC_CFG_NULL,   /* "~", "null", or an empty value */
  PC_CFG_SCALAR, /* any scalar, kept as text */
  PC_CFG_MAP,
  PC_CFG_SEQ,
} pc_cfg_type_t;

typedef struct pc_cfg_node pc_cfg_node_t;

typedef struct {
  const char *key;
  pc_cfg_node_t *value;
} pc_cfg_entry_t;

struct pc_cfg_node {
  pc_cfg_type_t type;
  const char *file; /* the file it came from */
  int line, col;    /* 1-based position of the value */
  int key_line, key_col; /* a map's value: 1-based position of its key; else 0 */
  const char *path; /* key path from the root: "exporters.otlphttp.endpoint", "service.pipelines.profiles.receivers[0]" */
  const char *text; /* SCALAR: NUL-terminated text after substitution */
  bool quoted;      /* SCALAR: was written in quotes (so "1" is a string) */
  pc_cfg_entry_t *entries; /* MAP: in file order (after merging: first file's order) */
  size_t n_entries;
  pc_cfg_node_t **items; /* SEQ */
  size_t n_items;
};

typedef struct pc_cfg pc_cfg_t;

/* Limits against hostile or broken input; each one gives a clean error that
 * names the limit instead of exhausting memory or the stack. */
#define PC_CFG_MAX_FILE_SIZE ((size_t)16 << 20) /* bytes in one file or string */
#define PC_CFG_MAX_DEPTH 64                    /* maps and lists nested in each other */
#define PC_CFG_MAX_PATH 1024                   /* bytes in one key path */
#define PC_CFG_MAX_MEMORY ((size_t)256 << 20)  /* the loaded tree of all files */

/* YAML accepted: one document per file, whose top level is a map (an empty
 * file is an empty map). Keys are text and unique within their map.
 * Anchors (&a) and aliases (*a) are refused with an error: they are rare in
 * Collector configs and would let a few bytes expand into a huge tree.
 * Tags: !!str (and "!") make a scalar quoted, !!null makes it null, the other
 * standard tags are ignored and any other tag is an error. A scalar holding a
 * NUL character (a "\0" escape) is an error. Null nodes have text NULL.
 * ${...} substitution applies to values, not to keys, and expands once (the
 * result is not scanned again). */

/* Load and merge config sources in order. Each is a path or, as the
 * Collector's --config takes them, a URI: file:PATH, env:VAR (the variable
 * holds YAML; env:VAR:-default) or yaml:TEXT (inline YAML; "::" in a key
 * nests, as in yaml:processors::batch::timeout: 2s). Any other scheme is an
 * error. In every source a key holding "::" nests the same way. On error
 * returns NULL and fills err with "file:line:col: message" (err->file/line/
 * col set too). */
pc_cfg_t *pc_cfg_load(const char *const *files, size_t n_files, pc_err_t *err);

/* A source with the name its messages use instead of the URI (NULL: the
 * URI), for sources the command line built (--set k=v is yaml:k: v). */
typedef struct {
  const char *uri;
  const char *name;
} pc_cfg_source_t;

pc_cfg_t *pc_cfg_load_sources(const pc_cfg_source_t *sources, size_t n, pc_err_t *err);
/* Load from a string (for the built-in default config and tests); name is
 * used as the file name in messages. */
pc_cfg_t *pc_cfg_load_string(const char *name, const char *yaml, pc_err_t *err);
const pc_cfg_node_t *pc_cfg_root(const pc_cfg_t *cfg);
void pc_cfg_free(pc_cfg_t *cfg);

/* A map's value for key, or NULL (also NULL when map is NULL or not a map). */
const pc_cfg_node_t *pc_cfg_get(const pc_cfg_node_t *map, const char *key);

/* Fill err with "file:line:col: path: message" for node and return code.
 * The path part is left out for the root, and the location for a NULL node.
 * err->file then points into the tree: copy it to keep it past pc_cfg_free. */
int pc_cfg_error(pc_err_t *err, const pc_cfg_node_t *node, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Collect every config error, not only the first: between begin and end
 * (on this thread), pc_cfg_error and pc_cfg_key_error also add each message
 * to list, and pc_cfg_apply goes on past a bad key to check the others, so
 * that validate reports a file's problems in one run. The service wraps its
 * component create calls in it; calls do not nest. err still holds the
 * last message. */
void pc_cfg_collect_begin(pc_errlist_t *list);
void pc_cfg_collect_end(void);
/* Whether errors are being collected (pc_cfg_apply's "go on"). */
bool pc_cfg_collecting(void);

/* pc_cfg_error for a message kept to be reported later (a check that can
 * only be made at start): never collected. */
int pc_cfg_error_for_later(pc_err_t *err, const pc_cfg_node_t *node, int code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/* pc_cfg_error at the key that holds node (a map's value), for errors about
 * the key itself (unknown key, unknown component type): a value that is a
 * map starts on the next line, where the reader would not look. */
int pc_cfg_key_error(pc_err_t *err, const pc_cfg_node_t *node, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- option tables ---------------------------------------------------- */

typedef enum {
  PC_OPT_END = 0,
  PC_OPT_STRING,   /* char * (owned by the tree; valid while the config is) */
  PC_OPT_BOOL,     /* bool */
  PC_OPT_INT,      /* int64_t, within [min, max] */
  PC_OPT_SIZE,     /* uint64_t bytes: 1048576, "64MiB", "20MB", "512KiB" */
  PC_OPT_DURATION, /* uint64_t milliseconds: "5s", "100ms", "1m30s", "2h" */
  PC_OPT_ENDPOINT, /* char *: "host:port" (port 0-65535 required) */
  PC_OPT_MAP,      /* a nested table (sub), filling the same struct (at offset: a member
                    * struct, so a module shared by several components keeps its own
                    * table over its own struct) */
  PC_OPT_STRMAP,   /* const pc_cfg_node_t *: a map of string to string (headers) */
  PC_OPT_NODE,     /* const pc_cfg_node_t *: anything, checked by the component */
} pc_opt_type_t;

typedef struct pc_opt {
  const char *key;
  pc_opt_type_t type;
  const char *def; /* default as text, NULL for none (field left zero) */
  size_t offset;   /* offsetof the field in the component's config struct */
  int64_t min, max; /* INT/SIZE/DURATION bounds (both 0: unbounded) */
  const struct pc_opt *sub; /* PC_OPT_MAP */
  const char *help;
} pc_opt_t;

#define PC_OPT_STR(k, d, st, f, h) {k, PC_OPT_STRING, d, offsetof(st, f), 0, 0, NULL, h}
#define PC_OPT_BOOLEAN(k, d, st, f, h) {k, PC_OPT_BOOL, d, offsetof(st, f), 0, 0, NULL, h}
#define PC_OPT_INT_RANGE(k, d, st, f, lo, hi, h) {k, PC_OPT_INT, d, offsetof(st, f), lo, hi, NULL, h}
#define PC_OPT_BYTES(k, d, st, f, lo, hi, h) {k, PC_OPT_SIZE, d, offsetof(st, f), lo, hi, NULL, h}
#define PC_OPT_DUR(k, d, st, f, lo, hi, h) {k, PC_OPT_DURATION, d, offsetof(st, f), lo, hi, NULL, h}
#define PC_OPT_ADDR(k, d, st, f, h) {k, PC_OPT_ENDPOINT, d, offsetof(st, f), 0, 0, NULL, h}
#define PC_OPT_SECTION(k, sub_table, h) {k, PC_OPT_MAP, NULL, 0, 0, 0, sub_table, h}
/* A section whose table's offsets are within the member f of st. */
#define PC_OPT_SECTION_IN(k, sub_table, st, f, h) \
  {k, PC_OPT_MAP, NULL, offsetof(st, f), 0, 0, sub_table, h}
#define PC_OPT_HEADERS(k, st, f, h) {k, PC_OPT_STRMAP, NULL, offsetof(st, f), 0, 0, NULL, h}
#define PC_OPT_ANY(k, st, f, h) {k, PC_OPT_NODE, NULL, offsetof(st, f), 0, 0, NULL, h}
#define PC_OPT_TABLE_END {NULL, PC_OPT_END, NULL, 0, 0, 0, NULL, NULL}

/* Fill out (a struct) from node (a map, or NULL for all defaults) using the
 * table: defaults first, then the node's keys. An unknown key is an error
 * with a did-you-mean hint; a wrong type or a value out of bounds is an error
 * naming the accepted form. Returns 0 or PC_EINVAL with err filled.
 *
 * Forms: BOOL is true or false (any case; no yes/no/on/off). INT is decimal.
 * SIZE is a whole number of bytes or a number with a unit: B, KB, MB, GB, TB
 * (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), "1.5GiB" allowed
 * and rounded down to a byte. DURATION is Go's time.ParseDuration form
 * ("1m30s", "1.5s", "250ms"; units ns, us, ms, s, m, h), rounded up to a whole
 * millisecond so that a short non-zero timeout never becomes 0; an unquoted
 * bare integer is nanoseconds as in the Collector, a quoted one is an error.
 * ENDPOINT is "host:port", "[v6addr]:port" or ":port" with a port 0-65535,
 * without scheme or path. A null value (key with nothing after it) keeps the
 * default. Bounds apply unless min and max are both 0; a default outside
 * them, or unparsable, is reported as a bug in the table. */
int pc_cfg_apply(const pc_opt_t *table, const pc_cfg_node_t *node, void *out, pc_err_t *err);

/* Print the table as help text ("  key (type, default X): help"). */
void pc_cfg_print_options(const pc_opt_t *table, int indent, void *file /* FILE * */);

/* The closest of candidates to word by edit distance, or NULL when none is
 * close enough to be a likely typo. */
const char *pc_cfg_did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
