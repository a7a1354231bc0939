/* internal.h - what the processors share, not part of processor.h: handing a
 * builder on, regular expressions, the attribute actions and include/exclude. */
#ifndef PC_PROCESSOR_INTERNAL_H
#define PC_PROCESSOR_INTERNAL_H

#include "../component/component.h"
#include "../pdata/intern.h"

/* Hand what builder b holds to next, with client metadata md, now (on the
 * loop): as a finished body when next takes them (consume_encoded:
 * encoded from the builder's own samples and compressed for
 * next->encodings, without a tree), else as the tree of pc_builder_request.
 * For request-sized builders (dedup); a batch uses pc__flush. Returns
 * next's answer. */
int pc__hand_on(pc_builder_t *b, const pc_metadata_t *md, pc_consumer_t *next, pc_err_t *err);

/* ---- a batch's body, made in the thread pool ----------------------------------
 * Encoding a sealed builder and compressing the result take milliseconds
 * per MiB (hundreds for an 8 MiB gzip batch): on the loop, every
 * connection of the process would wait behind them. A flush job does both
 * in libuv's thread pool while the loop goes on filling the next batch; the
 * builder is only read there (pc_builder_encode), and the loop must leave
 * it alone until done runs. */
typedef struct pc__flush pc__flush_t;
struct pc__flush {
  uv_work_t work;
  pc_builder_t *b;    /* in: sealed; untouched by the loop until done */
  unsigned encodings; /* in: variants to make */
  pc_bytes_t *md;     /* in: client metadata for the body (reference taken), or NULL */
  pc_body_t *body;    /* out: one reference, or NULL when rc */
  int rc;             /* out: 0, PC_ENOMEM, or the codec's error */
  void (*done)(pc__flush_t *f); /* on the loop, once */
};

/* Start f (its in fields set) on loop; done(f) follows on the loop. */
void pc__flush_start(uv_loop_t *loop, pc__flush_t *f);

/* ---- regular expressions (regex.c) ---------------------------------------------------
 * Go RE2 syntax compiled with PCRE2; matching is unanchored, as Go's. A
 * pattern is used from one thread (it keeps its match data). */
typedef struct pc__regex pc__regex_t;

/* Compile node's text; NULL with a config error at node (PCRE2's reason and
 * the offset in the pattern) when it is not a valid expression. */
pc__regex_t *pc__regex_compile(const pc_cfg_node_t *node, pc_err_t *err);
/* The same, matching only whole strings (k8s_attributes' key_regex and
 * exclude names, anchored at both ends as the Collector anchors them). */
pc__regex_t *pc__regex_compile_whole(const pc_cfg_node_t *node, pc_err_t *err);
void pc__regex_free(pc__regex_t *re);
/* Capture groups, and the name of group i (1-based; NULL: unnamed). */
uint32_t pc__regex_groups(const pc__regex_t *re);
const char *pc__regex_group_name(const pc__regex_t *re, uint32_t i);
/* 1 when re matches somewhere in s, else 0; groups (NULL, or room for
 * pc__regex_groups + 1 views) gets the whole match and each group, views
 * into s ("" for a group that took no part). A match that runs past the
 * backtracking limit counts as no match and in pc__regex_limit_hits. */
int pc__regex_exec(pc__regex_t *re, pc_str_t s, pc_str_t *groups);
bool pc__regex_match(pc__regex_t *re, pc_str_t s);
uint64_t pc__regex_limit_hits(const pc__regex_t *re);

/* ---- attribute actions (attraction.c) --------------------------------------------------
 * The Collector's attribute actions (its internal/coreinternal/attraction),
 * shared by the resource processor (resource attributes) and the attributes
 * processor (sample attributes in the dictionary). Each storage loads one
 * set of attributes into a pc__amap_t, the actions edit the map, and the
 * storage writes back only what changed. */

/* One attribute of a set being edited. key and value are views valid for
 * the consume call: into the request, the request's arena, or the
 * processor's config. A string value kept by index (STRINDEX) is loaded as
 * the string it names. */
typedef struct {
  pc_str_t key;
  pc_anyvalue_t value; /* PC_AV_NONE: no value */
  int32_t src;         /* the storage's own slot it was loaded from; -1: added */
  bool set;            /* value replaced since loading */
} pc__am_entry_t;

typedef struct {
  pc__am_entry_t *v;
  uint32_t n, cap;
  bool changed; /* an entry was added, removed or set */
} pc__amap_t;

/* Empty m for the next set, keeping its memory. */
void pc__amap_clear(pc__amap_t *m);
void pc__amap_push(pc__amap_t *m, pc_str_t key, pc_anyvalue_t value, int32_t src);
pc__am_entry_t *pc__amap_find(const pc__amap_t *m, pc_str_t key);
void pc__amap_free(pc__amap_t *m);

/* A value with its STRINDEX resolved through the dictionary (d may be NULL). */
pc_anyvalue_t pc__value_resolved(const pc_dictionary_t *d, pc_anyvalue_t v);
/* A resource or scope attribute's key: inline, or through the string table. */
pc_str_t pc__kv_key(const pc_request_t *req, const pc_keyvalue_t *kv);
/* A double as Go writes it: the shortest digits that read back the same,
 * in fixed notation (fixed: strconv.FormatFloat(f, 'f', -1, 64), up to 330
 * bytes), or as pcommon's AsString (fixed from 1e-6 up to 1e21, else
 * "1e+21", "1.5e-7"; 32 bytes). Returns the length written into buf. */
size_t pc__double_text(double f, bool fixed, char *buf, size_t cap);
/* The Collector's Value.AsString for scalars (bool, int, double in Go's
 * shortest form, string); false for the other types. Doubles are written
 * into buf (32 bytes). */
bool pc__value_text(const pc_anyvalue_t *v, char *buf, pc_str_t *out);

typedef struct pc__actions pc__actions_t;

/* Parse a list of actions (the Collector's `actions` / `attributes` list)
 * from node; NULL with a config error naming the item and key. */
pc__actions_t *pc__actions_parse(const pc_cfg_node_t *node, pc_err_t *err);
void pc__actions_free(pc__actions_t *a);
/* Apply every action in order to m. md is the request's client metadata
 * (from_context); d (may be NULL) resolves string indices nested in lists
 * and maps that convert writes as JSON; new strings (hashes, conversions,
 * joined metadata values) come from arena. 0, or PC_ENOMEM when the arena
 * is full. */
int pc__actions_apply(const pc__actions_t *a, pc__amap_t *m, const pc_metadata_t *md,
                      const pc_dictionary_t *d, pc_arena_t *arena);
/* A config scalar as the Collector reads a value: quoted is a string; plain
 * true/false a bool, an integer an int, a number a double, else a string
 * (copied into *text, which the caller frees). */
pc_anyvalue_t pc__scalar_value(const pc_cfg_node_t *n, char **text);
/* Regular expression matches that hit the backtracking limit so far. */
uint64_t pc__actions_regex_limit_hits(const pc__actions_t *a);
/* After a request: when matches hit the limit since the last warning, log
 * one (at most every 10 s, with the count since then) as component id. */
void pc__actions_warn_limit(pc__actions_t *a, const char *id);
/* The help text of an actions list, for option tables. */
#define PC__ACTIONS_HELP                                                                       \
  "list of {key, action, ...} applied in order: insert, update, upsert (one of value, "       \
  "from_attribute, from_context: metadata.<key>; default_value when the source is absent), " \
  "delete and hash (key and/or pattern), extract (pattern with named groups), convert "       \
  "(converted_type: int, double or string)"

/* ---- include/exclude (match.c) -----------------------------------------------------------
 * The Collector's include/exclude properties (its filterconfig), for the
 * items of a profiles request. */
typedef struct pc__match pc__match_t;

/* Parse include or exclude (node: its map); NULL with a config error. */
pc__match_t *pc__match_parse(const pc_cfg_node_t *node, pc_err_t *err);
void pc__match_free(pc__match_t *m);
/* Whether services, resources and libraries match a resource and scope
 * (scope may be NULL: an absent scope). */
bool pc__match_scope(pc__match_t *m, const pc_request_t *req, const pc_resource_t *res,
                     const pc_scope_t *scope);
/* Whether the attributes part matches a set (true when it has none). */
bool pc__match_attrs(pc__match_t *m, const pc__amap_t *attrs);
bool pc__match_has_attrs(const pc__match_t *m);

/* ---- resource storage (resource.c) -------------------------------------------------------
 * A resource's attributes as a pc__amap_t, for every processor that edits
 * them: load resolves keys and string indices; store (when m->changed)
 * gives the resource a new array from the request's arena, entries left
 * alone copied as they were. 0 or PC_ENOMEM. */
void pc__resource_load(const pc_request_t *req, const pc_kvs_t *a, pc__amap_t *m);
int pc__resource_store(pc_request_t *req, pc_resource_profiles_t *rp, const pc__amap_t *m);

/* ---- host detection (detectors.c) ---------------------------------------------------------- */

/* Detected attributes, owned strings; the first detector to set a key wins. */
typedef struct {
  struct {
    char *key, *value;
  } *v;
  size_t n;
} pc__detected_t;

/* Add key=value unless key is there already; false when it was. */
bool pc__detected_add(pc__detected_t *d, const char *key, size_t kn, const char *value, size_t vn);
void pc__detected_free(pc__detected_t *d);
/* Parse OTEL_RESOURCE_ATTRIBUTES text into out: 0, or PC_EINVAL with why. */
int pc__parse_resource_attributes(const char *s, pc__detected_t *out, char *why, size_t cap);
/* The env detector: OTEL_RESOURCE_ATTRIBUTES (or OTEL_RESOURCE), then
 * OTEL_SERVICE_NAME; with has_allow, only the keys in allow[0..n_allow). */
int pc__detect_env(char *const *allow, size_t n_allow, bool has_allow, pc__detected_t *out,
                   char *why, size_t cap);

typedef enum { PC__HOST_DNS, PC__HOST_OS, PC__HOST_CNAME, PC__HOST_LOOKUP } pc__hostname_source_t;
typedef struct {
  pc__hostname_source_t sources[8];
  size_t n_sources;
  bool host_name, host_id, os_type, host_arch;
} pc__system_cfg_t;
/* The system detector, its name lookups bounded by timeout_ms: 0, or
 * PC_EIO with why when no hostname source answered. */
int pc__detect_system(const pc__system_cfg_t *cfg, uint64_t timeout_ms, pc__detected_t *out,
                      char *why, size_t cap);


#endif
