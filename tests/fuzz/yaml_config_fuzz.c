/* yaml_config_fuzz.c - libFuzzer target for config loading (libyaml events,
 * ${env:} substitution, limits) and option tables.
 *
 * Properties checked beyond "no crash, no leak": a failure always says why;
 * a loaded tree is well formed (every node has a file, a 1-based position
 * and a path that is its parent's path plus its key or index; map keys are
 * unique; nesting stays within PC_CFG_MAX_DEPTH); applying a table either
 * succeeds with values of the promised form or fails with a message.
 *
 * An input holding a form feed (which YAML itself refuses) is two files
 * merged in order: every value of the second must then be in the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  char *s;
  bool b;
  int64_t i;
  uint64_t z, d;
  char *e;
  const pc_cfg_node_t *h, *n;
  bool sub_on;
  uint64_t sub_wait;
} sample_t;

static const pc_opt_t sub_opts[] = {
    PC_OPT_BOOLEAN("on", "true", sample_t, sub_on, ""),
    PC_OPT_DUR("wait", "1s", sample_t, sub_wait, 0, 0, ""),
    PC_OPT_TABLE_END,
};

static const pc_opt_t opts[] = {
    PC_OPT_STR("s", "x", sample_t, s, ""),
    PC_OPT_BOOLEAN("b", "false", sample_t, b, ""),
    PC_OPT_INT_RANGE("i", "0", sample_t, i, -100, 100, ""),
    PC_OPT_BYTES("z", "1MiB", sample_t, z, 1, 1ll << 40, ""),
    PC_OPT_DUR("d", "5s", sample_t, d, 1, 3600000, ""),
    PC_OPT_ADDR("e", ":4318", sample_t, e, ""),
    PC_OPT_HEADERS("h", sample_t, h, ""),
    PC_OPT_ANY("n", sample_t, n, ""),
    PC_OPT_SECTION("m", sub_opts, ""),
    PC_OPT_TABLE_END,
};

static void check_path(const pc_cfg_node_t *child, const pc_cfg_node_t *parent,
                       const char *key, size_t index) {
  size_t plen = strlen(parent->path);
  if (strncmp(child->path, parent->path, plen) != 0) abort();
  const char *rest = child->path + plen;
  if (key) {
    if (plen && *rest++ != '.') abort();
    if (strcmp(rest, key) != 0) abort();
  } else {
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", index);
    if (strcmp(rest, idx) != 0) abort();
  }
}

static void check_apply(const pc_cfg_node_t *map) {
  sample_t out = {0};
  pc_err_t err = {0};
  if (pc_cfg_apply(opts, map, &out, &err) != 0) {
    if (err.msg[0] == 0 || err.code >= 0) abort();
    return;
  }
  if (!out.s || !out.e || !strchr(out.e, ':')) abort();
  if (out.i < -100 || out.i > 100 || out.d < 1 || out.d > 3600000) abort();
  if (out.h && out.h->type != PC_CFG_MAP) abort();
}

static void check_node(const pc_cfg_node_t *n, int depth) {
  if (!n || !n->file || !n->path || n->line < 1 || n->col < 1) abort();
  /* PC_CFG_MAX_DEPTH counts maps and lists; a scalar may sit inside the
   * deepest one. */
  bool collection = n->type == PC_CFG_MAP || n->type == PC_CFG_SEQ;
  if (depth > PC_CFG_MAX_DEPTH + !collection || strlen(n->path) > PC_CFG_MAX_PATH) abort();
  switch (n->type) {
  case PC_CFG_NULL:
    if (n->text) abort();
    break;
  case PC_CFG_SCALAR:
    if (!n->text) abort();
    break;
  case PC_CFG_MAP:
    for (size_t i = 0; i < n->n_entries; i++) {
      const pc_cfg_entry_t *e = &n->entries[i];
      if (!e->key || !e->key[0] || pc_cfg_get(n, e->key) != e->value) abort(); /* unique */
      check_path(e->value, n, e->key, 0);
      check_node(e->value, depth + 1);
    }
    check_apply(n);
    break;
  case PC_CFG_SEQ:
    for (size_t i = 0; i < n->n_items; i++) {
      check_path(n->items[i], n, NULL, i);
      check_node(n->items[i], depth + 1);
    }
    break;
  default:
    abort();
  }
}

/* What the later file b says must be what the merge says. */
static void check_merged(const pc_cfg_node_t *merged, const pc_cfg_node_t *b) {
  if (!merged) abort();
  if (b->type == PC_CFG_MAP) {
    if (merged->type != PC_CFG_MAP || merged->n_entries < b->n_entries) abort();
    for (size_t i = 0; i < b->n_entries; i++)
      check_merged(pc_cfg_get(merged, b->entries[i].key), b->entries[i].value);
    return;
  }
  if (merged->type != b->type || strcmp(merged->path, b->path) != 0) abort();
  if (b->type == PC_CFG_SCALAR && strcmp(merged->text, b->text) != 0) abort();
  if (b->type == PC_CFG_SEQ && merged->n_items != b->n_items) abort();
}

static pc_cfg_t *must_say_why(pc_cfg_t *cfg, const pc_err_t *err) {
  if (!cfg && (err->msg[0] == 0 || err->code >= 0)) abort(); /* every failure says why */
  return cfg;
}

static void write_file(const char *path, const char *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) abort();
}

static char dir[64], fa[80], fb[80];

static void remove_files(void) {
  unlink(fa);
  unlink(fb);
  rmdir(dir);
}

/* Load a and b as two files (the result must match b where b says
 * something, see check_merged). */
static pc_cfg_t *load_two(const char *a, size_t na, const char *b, pc_err_t *err) {
  if (!dir[0]) {
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/pc_cfg_fuzz_XXXXXX", tmp);
    if (!mkdtemp(dir)) abort();
    snprintf(fa, sizeof fa, "%s/a.yaml", dir);
    snprintf(fb, sizeof fb, "%s/b.yaml", dir);
    atexit(remove_files);
  }
  write_file(fa, a, na);
  write_file(fb, b, strlen(b));
  const char *files[] = {fa, fb};
  pc_cfg_t *cfg = must_say_why(pc_cfg_load(files, 2, err), err);
  pc_err_t e2;
  pc_cfg_t *only_b = must_say_why(pc_cfg_load_string(fb, b, &e2), &e2);
  if (cfg && !only_b) abort();
  if (cfg) check_merged(pc_cfg_root(cfg), pc_cfg_root(only_b));
  pc_cfg_free(only_b);
  return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool env_set;
  if (!env_set) { /* references in seeds resolve: ${env:FUZZ_A}, ${FUZZ_EMPTY} */
    setenv("FUZZ_A", "localhost:4318", 1);
    setenv("FUZZ_EMPTY", "", 1);
    unsetenv("FUZZ_UNSET");
    env_set = true;
  }
  char *text = malloc(size + 1);
  if (!text) return 0;
  if (size) memcpy(text, data, size);
  text[size] = 0;
  pc_err_t err = {0};
  char *ff = memchr(text, '\f', size);
  pc_cfg_t *cfg = ff ? load_two(text, (size_t)(ff - text), ff + 1, &err)
                     : must_say_why(pc_cfg_load_string("fuzz.yaml", text, &err), &err);
  free(text);
  if (!cfg) return 0;
  const pc_cfg_node_t *root = pc_cfg_root(cfg);
  if (!root || root->type != PC_CFG_MAP || root->path[0]) abort();
  check_node(root, 1);
  pc_cfg_free(cfg);
  return 0;
}
