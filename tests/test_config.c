/* test_config.c - the config suite: one TCase per source file of config/
 * (load.c, merge.c, subst.c, options.c), plus the table of broken configs
 * and the exact message each one must produce, since those messages are what
 * an operator reads when profcol refuses to start. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../config/config.h"

/* ---- helpers ----------------------------------------------------------------- */

static pc_cfg_t *load(const char *yaml, pc_err_t *err) {
  *err = (pc_err_t){0};
  return pc_cfg_load_string("t.yaml", yaml, err);
}

static pc_cfg_t *load_ok(const char *yaml) {
  pc_err_t err;
  pc_cfg_t *cfg = load(yaml, &err);
  ck_assert_msg(cfg != NULL, "load failed: %s", err.msg);
  return cfg;
}

static void expect_load_error(const char *yaml, const char *msg) {
  pc_err_t err;
  pc_cfg_t *cfg = load(yaml, &err);
  ck_assert_msg(cfg == NULL, "loaded, expected: %s", msg);
  ck_assert_str_eq(err.msg, msg);
}

/* Follow a path of keys ("a", "b") from the root. */
static const pc_cfg_node_t *at(const pc_cfg_t *cfg, const char *const *keys, size_t n) {
  const pc_cfg_node_t *node = pc_cfg_root(cfg);
  for (size_t i = 0; i < n; i++) node = pc_cfg_get(node, keys[i]);
  return node;
}
#define AT(cfg, ...)                              \
  at(cfg, (const char *const[]){__VA_ARGS__},     \
     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static void assert_pos(const pc_cfg_node_t *n, int line, int col, const char *path) {
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(n->path, path);
  ck_assert_msg(n->line == line && n->col == col, "%s at %d:%d, expected %d:%d", path, n->line,
                n->col, line, col);
}

/* A scratch directory for config files, one per TCase. It is made and
 * removed outside the forked tests (an unchecked fixture), so a failing test
 * does not leave it behind. */
static char tmpdir[64];

static void tmp_setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pc_config_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    abort();
  }
}

static void tmp_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Write text to tmpdir/name; path receives the full name. */
static void write_file(const char *name, const char *text, char *path, size_t n) {
  snprintf(path, n, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
}

/* A component config with one option of each type, like an exporter's. */
typedef struct {
  char *endpoint;
  char *compression;
  uint64_t timeout_ms;
  uint64_t max_bytes;
  int64_t workers;
  int64_t offset;
  bool enabled;
  const pc_cfg_node_t *headers;
  const pc_cfg_node_t *extra;
  bool retry_enabled;
  uint64_t retry_initial_ms;
  uint64_t retry_max_elapsed_ms;
} exp_cfg_t;

static const pc_opt_t retry_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", exp_cfg_t, retry_enabled, "retry failed exports"),
    PC_OPT_DUR("initial_interval", "5s", exp_cfg_t, retry_initial_ms, 0, 0,
               "wait before the first retry"),
    PC_OPT_DUR("max_elapsed_time", "5m", exp_cfg_t, retry_max_elapsed_ms, 0, 0,
               "give up after this long"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t exp_opts[] = {
    PC_OPT_ADDR("endpoint", "localhost:4318", exp_cfg_t, endpoint, "where to send"),
    PC_OPT_STR("compression", "gzip", exp_cfg_t, compression, "gzip, zstd or none"),
    PC_OPT_DUR("timeout", "5s", exp_cfg_t, timeout_ms, 1, 3600000, "per request"),
    PC_OPT_BYTES("max_bytes", "4MiB", exp_cfg_t, max_bytes, 1024, 1 << 30, "body limit"),
    PC_OPT_INT_RANGE("workers", "1", exp_cfg_t, workers, 1, 64, "senders"),
    PC_OPT_INT_RANGE("offset", NULL, exp_cfg_t, offset, 0, 0, "any integer"),
    PC_OPT_BOOLEAN("enabled", "true", exp_cfg_t, enabled, "send at all"),
    PC_OPT_HEADERS("headers", exp_cfg_t, headers, "extra HTTP headers"),
    PC_OPT_ANY("extra", exp_cfg_t, extra, "anything"),
    PC_OPT_SECTION("retry_on_failure", retry_opts, "retries"),
    PC_OPT_TABLE_END,
};

/* Load yaml and apply exp_opts to exporters.otlphttp; 0 or the error. The
 * tree is left in *cfg (NULL when loading failed) for the caller to free,
 * since the strings in out and err->file point into it. */
static int apply_exp(const char *yaml, exp_cfg_t *out, pc_err_t *err, pc_cfg_t **cfg) {
  *out = (exp_cfg_t){0};
  *cfg = load(yaml, err);
  if (!*cfg) return err->code;
  return pc_cfg_apply(exp_opts, AT(*cfg, "exporters", "otlphttp"), out, err);
}

/* ---- broken configs and their exact messages ---------------------------------- */

#define EXP "exporters:\n  otlphttp:\n"

static const struct {
  const char *yaml;
  const char *msg;
} broken[] = {
    /* syntax */
    {EXP "    endpoint: \"a:1\n",
     /* issue 12: an unclosed quote is reported at the quote, with where it was noticed */
     "t.yaml:3:15: the quoted string that starts here is not closed: found unexpected end of "
     "stream at line 4, column 1"},
    {EXP "    endpoint: a:1\n   timeout: 5s\n",
     "t.yaml:4:4: did not find expected key (in the map that starts at line 2, column 3)"},
    {"a: [1, 2\nb: 1\n",
     "t.yaml:1:4: the list in [ ] that starts here is broken: did not find expected ',' or ']' "
     "at line 2, column 2"},
    {"a:\n\tb: 1\n",
     "t.yaml:2:1: a tab character where YAML allows none; indent with spaces, not tabs"},
    {"a: \xff\n", "t.yaml:1:4: invalid leading UTF-8 octet (byte 0xFF)"},
    /* structure */
    {EXP "    endpoint: a:1\n    endpoint: b:2\n",
     "t.yaml:4:5: exporters.otlphttp.endpoint: duplicate key \"endpoint\" (first set at line 3, "
     "column 5)"},
    {"- a\n- b\n",
     "t.yaml:1:1: the top level must be a map of sections (receivers:, exporters:, service:, "
     "...), not a list"},
    {"a: 1\n---\nb: 2\n",
     "t.yaml:2:1: a second YAML document (after \"---\"); a config file holds one document, give "
     "more files instead"},
    {EXP "    endpoint: &ep a:1\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: anchor \"&ep\": anchors and aliases are not "
     "supported; write the value out in full"},
    {"a: &x 1\nb: *x\n",
     "t.yaml:1:4: a: anchor \"&x\": anchors and aliases are not supported; write the value out "
     "in full"},
    {"a: &k b\n*k : 1\n",
     "t.yaml:1:4: a: anchor \"&k\": anchors and aliases are not supported; write the value out "
     "in full"},
    {"a:\n  *k : 1\n",
     "t.yaml:2:3: a: alias \"*k\": anchors and aliases are not supported; write the value out in "
     "full"},
    {"a: {&k b: 1}\n",
     "t.yaml:1:5: a: anchor \"&k\": anchors and aliases are not supported; write the value out "
     "in full"},
    {"a: 1\nb: *x\n",
     "t.yaml:2:4: b: alias \"*x\": anchors and aliases are not supported; write the value out in "
     "full"},
    {"a: !custom 1\n", "t.yaml:1:4: a: unsupported tag \"!custom\""},
    {"a: !!set {b: 1}\n", "t.yaml:1:4: a: unsupported tag \"!!set\" on a map"},
    {"a:\n  [1]: 2\n", "t.yaml:2:3: a: a key must be text, not a list"},
    {"a:\n  \"\": 2\n", "t.yaml:2:3: a: a key cannot be empty"},
    /* fuzz finding: "::" leaving an empty part made an empty key */
    {"a:\n  b::::c: 2\n",
     "t.yaml:2:3: a: a key cannot have an empty part between \"::\" (which nests keys)"},
    {"\"::b\": 1\n", "t.yaml:1:1: a key cannot have an empty part between \"::\" (which nests keys)"},
    {"b::: 1\n", "t.yaml:1:1: a key cannot have an empty part between \"::\" (which nests keys)"},
    {"a: \"x\\0y\"\n",
     "t.yaml:1:4: a: the value contains a NUL character (\\0), which cannot be used"},
    /* substitution */
    {EXP "    endpoint: ${env:PC_TEST_UNSET}\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: environment variable PC_TEST_UNSET is not set "
     "(used in \"${env:PC_TEST_UNSET}\"); set it or give a default: ${env:PC_TEST_UNSET:-value}"},
    {"a: x${PC_TEST_UNSET}y\n",
     "t.yaml:1:4: a: environment variable PC_TEST_UNSET is not set (used in "
     "\"${PC_TEST_UNSET}\"); set it or give a default: ${env:PC_TEST_UNSET:-value}"},
    {"a: ${env:PC-X}\n",
     "t.yaml:1:4: a: \"${env:PC-X}\": invalid environment variable name (use letters, digits and "
     "_, like ${env:MY_VAR})"},
    {"a: ${file:/etc/passwd}\n",
     "t.yaml:1:4: a: \"${file:/etc/passwd}\": only the env provider is supported (${env:NAME})"},
    {"a: \"${env:X\"\n",
     "t.yaml:1:4: a: a \"${\" without its closing \"}\" (write \"$$\" for a literal \"$\")"},
    /* options */
    {EXP "    endpiont: localhost:4318\n",
     "t.yaml:3:5: exporters.otlphttp.endpiont: unknown key \"endpiont\"; did you mean "
     "\"endpoint\"?"},
    {EXP "    colour: red\n",
     "t.yaml:3:5: exporters.otlphttp.colour: unknown key \"colour\"; valid keys: endpoint, "
     "compression, timeout, max_bytes, workers, offset, enabled, headers, extra, "
     "retry_on_failure"},
    {EXP "    retry_on_failure:\n      initial_intervl: 1s\n",
     "t.yaml:4:7: exporters.otlphttp.retry_on_failure.initial_intervl: unknown key "
     "\"initial_intervl\"; did you mean \"initial_interval\"?"},
    {EXP "    timeout: five\n",
     "t.yaml:3:14: exporters.otlphttp.timeout: expected a duration like \"5s\" or \"100ms\", got "
     "\"five\""},
    {EXP "    timeout: 5x\n",
     "t.yaml:3:14: exporters.otlphttp.timeout: expected a duration like \"5s\" or \"100ms\", got "
     "\"5x\" (unknown unit \"x\"; use ns, us, ms, s, m or h)"},
    {EXP "    timeout: \"5000\"\n",
     "t.yaml:3:14: exporters.otlphttp.timeout: expected a duration like \"5s\" or \"100ms\", got "
     "\"5000\" (missing unit; use ns, us, ms, s, m or h)"},
    {EXP "    timeout: -5s\n",
     "t.yaml:3:14: exporters.otlphttp.timeout: expected a duration like \"5s\" or \"100ms\", got "
     "\"-5s\" (negative)"},
    {EXP "    timeout: 2h\n",
     "t.yaml:3:14: exporters.otlphttp.timeout: expected a duration from 1ms to 1h, got \"2h\""},
    {EXP "    max_bytes: 64mb\n",
     "t.yaml:3:16: exporters.otlphttp.max_bytes: expected a size like \"64MiB\", \"512KiB\" or a "
     "number of bytes, got \"64mb\" (unknown unit \"mb\"; use B, KB, MB, GB, TB, KiB, MiB, GiB or "
     "TiB)"},
    {EXP "    max_bytes: 2GiB\n",
     "t.yaml:3:16: exporters.otlphttp.max_bytes: expected a size from 1KiB to 1GiB, got "
     "\"2GiB\""},
    {EXP "    max_bytes: 1.5\n",
     "t.yaml:3:16: exporters.otlphttp.max_bytes: expected a size like \"64MiB\", \"512KiB\" or a "
     "number of bytes, got \"1.5\" (a size in bytes must be a whole number)"},
    {EXP "    workers: 100\n",
     "t.yaml:3:14: exporters.otlphttp.workers: expected an integer from 1 to 64, got \"100\""},
    {EXP "    workers: 2.5\n",
     "t.yaml:3:14: exporters.otlphttp.workers: expected an integer, got \"2.5\""},
    {EXP "    offset: 9223372036854775808\n",
     "t.yaml:3:13: exporters.otlphttp.offset: expected an integer, got \"9223372036854775808\" "
     "(too large)"},
    {EXP "    workers: [1, 2]\n",
     "t.yaml:3:14: exporters.otlphttp.workers: expected an integer, got a list"},
    {EXP "    enabled: yes\n",
     "t.yaml:3:14: exporters.otlphttp.enabled: expected true or false, got \"yes\""},
    {EXP "    compression: {a: 1}\n",
     "t.yaml:3:18: exporters.otlphttp.compression: expected text, got a map"},
    {EXP "    endpoint: localhost\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: expected host:port like \"localhost:4318\", "
     "\"[::1]:4318\" or \":4318\", got \"localhost\" (missing :port)"},
    {EXP "    endpoint: http://localhost:4318\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: expected host:port like \"localhost:4318\", "
     "\"[::1]:4318\" or \":4318\", got \"http://localhost:4318\" (no scheme: write host:port)"},
    {EXP "    endpoint: \"::1:4318\"\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: expected host:port like \"localhost:4318\", "
     "\"[::1]:4318\" or \":4318\", got \"::1:4318\" (an IPv6 address needs brackets: "
     "[::1]:4318)"},
    {EXP "    endpoint: localhost:65536\n",
     "t.yaml:3:15: exporters.otlphttp.endpoint: expected host:port like \"localhost:4318\", "
     "\"[::1]:4318\" or \":4318\", got \"localhost:65536\" (the port must be a number from 0 to "
     "65535)"},
    {EXP "    headers: [a]\n",
     "t.yaml:3:14: exporters.otlphttp.headers: expected a map of names to text (name: value), got "
     "a list"},
    {EXP "    headers:\n      X-Empty:\n",
     "t.yaml:4:15: exporters.otlphttp.headers.X-Empty: expected text, got nothing (write \"\" "
     "for an empty value)"},
    {EXP "    retry_on_failure: 3\n",
     "t.yaml:3:23: exporters.otlphttp.retry_on_failure: expected a map of options (key: value), "
     "got a single value"},
    {"exporters:\n  otlphttp: [1]\n",
     "t.yaml:2:13: exporters.otlphttp: expected a map of options (key: value), got a list"},
};

START_TEST(broken_config_messages) {
  unsetenv("PC_TEST_UNSET");
  exp_cfg_t out;
  pc_err_t err;
  pc_cfg_t *cfg;
  int rc = apply_exp(broken[_i].yaml, &out, &err, &cfg);
  ck_assert_msg(rc != 0, "accepted: %s", broken[_i].yaml);
  ck_assert_str_eq(err.msg, broken[_i].msg);
  ck_assert_str_eq(err.file, "t.yaml");
  ck_assert_int_gt(err.line, 0);
  ck_assert_int_gt(err.col, 0);
  pc_cfg_free(cfg);
}
END_TEST

/* ---- load.c ------------------------------------------------------------------------ */

static const char positions_yaml[] =
    "# a comment\n"
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      http:\n"
    "        endpoint: \"0.0.0.0:4318\"\n"
    "service:\n"
    "  pipelines:\n"
    "    profiles:\n"
    "      receivers: [otlp, \"x\"]\n"
    "      exporters:\n"
    "        - debug\n"
    "        -   file\n"
    "  names: {é: ü, b: ~}\n"
    "  empty:\n"
    "  list:\n"
    "    - a: 1\n"
    "      b: 2\n";

START_TEST(load_positions_and_paths) {
  pc_cfg_t *cfg = load_ok(positions_yaml);
  const pc_cfg_node_t *root = pc_cfg_root(cfg);
  ck_assert_int_eq(root->type, PC_CFG_MAP);
  ck_assert_str_eq(root->path, "");
  ck_assert_str_eq(root->file, "t.yaml");
  assert_pos(AT(cfg, "receivers"), 3, 3, "receivers");
  const pc_cfg_node_t *ep = AT(cfg, "receivers", "otlp", "protocols", "http", "endpoint");
  assert_pos(ep, 6, 19, "receivers.otlp.protocols.http.endpoint");
  ck_assert_str_eq(ep->text, "0.0.0.0:4318");
  ck_assert(ep->quoted);
  const pc_cfg_node_t *recv = AT(cfg, "service", "pipelines", "profiles", "receivers");
  ck_assert_int_eq(recv->type, PC_CFG_SEQ);
  ck_assert_uint_eq(recv->n_items, 2);
  assert_pos(recv->items[0], 10, 19, "service.pipelines.profiles.receivers[0]");
  assert_pos(recv->items[1], 10, 25, "service.pipelines.profiles.receivers[1]");
  ck_assert(!recv->items[0]->quoted && recv->items[1]->quoted);
  const pc_cfg_node_t *exps = AT(cfg, "service", "pipelines", "profiles", "exporters");
  assert_pos(exps->items[0], 12, 11, "service.pipelines.profiles.exporters[0]");
  assert_pos(exps->items[1], 13, 13, "service.pipelines.profiles.exporters[1]");
  /* Columns count characters, not bytes: "é: " is 3 characters. */
  assert_pos(AT(cfg, "service", "names", "é"), 14, 14, "service.names.é");
  assert_pos(AT(cfg, "service", "names", "b"), 14, 20, "service.names.b");
  ck_assert_int_eq(AT(cfg, "service", "names", "b")->type, PC_CFG_NULL);
  ck_assert_ptr_null(AT(cfg, "service", "names", "b")->text);
  /* An empty value is null, placed on its key's line. */
  const pc_cfg_node_t *empty = AT(cfg, "service", "empty");
  ck_assert_int_eq(empty->type, PC_CFG_NULL);
  ck_assert_int_eq(empty->line, 15);
  const pc_cfg_node_t *list = AT(cfg, "service", "list");
  assert_pos(list->items[0], 17, 7, "service.list[0]");
  assert_pos(pc_cfg_get(list->items[0], "b"), 18, 10, "service.list[0].b");
  /* File order is kept. */
  ck_assert_str_eq(root->entries[0].key, "receivers");
  ck_assert_str_eq(root->entries[1].key, "service");
  ck_assert_ptr_null(pc_cfg_get(root, "nope"));
  ck_assert_ptr_null(pc_cfg_get(recv, "receivers")); /* not a map */
  ck_assert_ptr_null(pc_cfg_get(NULL, "x"));
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(load_scalars_and_nulls) {
  pc_cfg_t *cfg = load_ok("a: ~\nb: null\nc: NULL\nd: \"null\"\ne: !!str 5\nf: !!null x\n"
                          "g: 'it''s'\nh: |\n  line1\n  line2\ni: !!int 7\nj: \"\"\n");
  ck_assert_int_eq(AT(cfg, "a")->type, PC_CFG_NULL);
  ck_assert_int_eq(AT(cfg, "b")->type, PC_CFG_NULL);
  ck_assert_int_eq(AT(cfg, "c")->type, PC_CFG_NULL);
  ck_assert_int_eq(AT(cfg, "d")->type, PC_CFG_SCALAR);
  ck_assert_str_eq(AT(cfg, "d")->text, "null");
  ck_assert(AT(cfg, "e")->quoted);
  ck_assert_str_eq(AT(cfg, "e")->text, "5");
  ck_assert_int_eq(AT(cfg, "f")->type, PC_CFG_NULL);
  ck_assert_str_eq(AT(cfg, "g")->text, "it's");
  ck_assert_str_eq(AT(cfg, "h")->text, "line1\nline2\n");
  ck_assert_str_eq(AT(cfg, "i")->text, "7");
  ck_assert(!AT(cfg, "i")->quoted);
  ck_assert_int_eq(AT(cfg, "j")->type, PC_CFG_SCALAR);
  ck_assert_str_eq(AT(cfg, "j")->text, "");
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(load_empty_is_empty_map) {
  static const char *const empties[] = {"", "\n\n", "# only a comment\n", "---\n", "~\n",
                                        "---\n...\n"};
  for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
    pc_cfg_t *cfg = load_ok(empties[i]);
    ck_assert_int_eq(pc_cfg_root(cfg)->type, PC_CFG_MAP);
    ck_assert_uint_eq(pc_cfg_root(cfg)->n_entries, 0);
    pc_cfg_free(cfg);
  }
}
END_TEST

/* n nested flow lists: "[[[...]]]". */
static char *nested(size_t n) {
  char *s = malloc(2 * n + 8);
  ck_assert_ptr_nonnull(s);
  size_t o = 0;
  o += (size_t)sprintf(s, "a: ");
  for (size_t i = 0; i < n; i++) s[o++] = '[';
  for (size_t i = 0; i < n; i++) s[o++] = ']';
  s[o] = 0;
  return s;
}

START_TEST(load_depth_limit) {
  /* The root map is one level, so PC_CFG_MAX_DEPTH - 1 lists fit. */
  char *ok = nested(PC_CFG_MAX_DEPTH - 1), *deep = nested(PC_CFG_MAX_DEPTH);
  pc_cfg_free(load_ok(ok));
  /* The path (a and 63 [0]) is too long to show whole: its tail is kept. */
  expect_load_error(deep, "t.yaml:1:67: ...[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                          "[0][0][0][0][0][0][0][0]: more than 64 levels of nested maps and "
                          "lists");
  free(ok);
  free(deep);
  /* Far deeper input stops at the limit too, without using the stack. */
  char *hostile = nested(1000000);
  pc_err_t err;
  ck_assert_ptr_null(load(hostile, &err));
  ck_assert_int_eq(err.code, PC_ELIMIT);
  free(hostile);
}
END_TEST

START_TEST(load_size_limit) {
  size_t n = PC_CFG_MAX_FILE_SIZE + 1;
  char *big = malloc(n + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, '#', n);
  big[n] = 0;
  expect_load_error(big, "t.yaml: the config is larger than the 16 MiB limit");
  char path[128];
  write_file("big.yaml", big, path, sizeof path);
  pc_err_t err = {0};
  const char *files[] = {path};
  ck_assert_ptr_null(pc_cfg_load(files, 1, &err));
  char want[256];
  snprintf(want, sizeof want, "%s: the config file is larger than the 16 MiB limit", path);
  ck_assert_str_eq(err.msg, want);
  ck_assert_int_eq(err.code, PC_ELIMIT);
  /* Exactly at the limit is fine. */
  big[n - 1] = 0;
  pc_cfg_free(load_ok(big));
  free(big);
}
END_TEST

START_TEST(load_memory_limit) {
  /* 8 MiB of "0," is 4M tiny list items: well under the file limit, but
   * more tree than PC_CFG_MAX_MEMORY allows. */
  size_t items = 4u << 20;
  char *s = malloc(2 * items + 8);
  ck_assert_ptr_nonnull(s);
  size_t o = (size_t)sprintf(s, "a: [");
  for (size_t i = 0; i < items; i++) {
    s[o++] = '0';
    s[o++] = ',';
  }
  s[o++] = ']';
  s[o] = 0;
  pc_err_t err;
  ck_assert_ptr_null(load(s, &err));
  ck_assert_int_eq(err.code, PC_ELIMIT);
  ck_assert_msg(strstr(err.msg, "needs more than 256 MiB of memory once loaded") != NULL, "%s",
                err.msg);
  free(s);
}
END_TEST

START_TEST(load_path_limit) {
  /* libyaml limits a plain key to 1024 characters itself, so the path limit
   * shows under a parent: "p." + 1022 bytes is the most allowed. */
  char *s = malloc(PC_CFG_MAX_PATH + 32);
  ck_assert_ptr_nonnull(s);
  strcpy(s, "p:\n  ");
  memset(s + 5, 'k', PC_CFG_MAX_PATH - 2);
  strcpy(s + 5 + PC_CFG_MAX_PATH - 2, ": 1\n");
  pc_cfg_t *cfg = load_ok(s);
  ck_assert_uint_eq(strlen(pc_cfg_root(cfg)->entries[0].value->entries[0].value->path),
                    PC_CFG_MAX_PATH);
  pc_cfg_free(cfg);
  strcpy(s + 5 + PC_CFG_MAX_PATH - 2, "k: 1\n");
  pc_err_t err;
  ck_assert_ptr_null(load(s, &err));
  ck_assert_str_eq(err.msg, "t.yaml:2:3: p: key path longer than 1024 bytes");
  free(s);
}
END_TEST

/* Duplicates in a map large enough to use the hash index, found at the
 * second occurrence. */
START_TEST(load_duplicate_in_large_map) {
  pc_buf_t b = {0};
  for (int i = 0; i < 5000; i++) ck_assert_int_eq(pc_buf_printf(&b, "k%d: %d\n", i, i), 0);
  ck_assert_int_eq(pc_buf_printf(&b, "k1234: again\n"), 0);
  ck_assert_int_eq(pc_buf_append(&b, "", 1), 0);
  expect_load_error((const char *)b.p,
                    "t.yaml:5001:1: k1234: duplicate key \"k1234\" (first set at line 1235, "
                    "column 1)");
  b.n -= 14; /* drop the duplicate line and its NUL */
  ck_assert_int_eq(pc_buf_append(&b, "", 1), 0);
  pc_cfg_t *cfg = load_ok((const char *)b.p);
  ck_assert_uint_eq(pc_cfg_root(cfg)->n_entries, 5000);
  ck_assert_str_eq(AT(cfg, "k4999")->text, "4999");
  pc_cfg_free(cfg);
  pc_buf_free(&b);
}
END_TEST

START_TEST(load_missing_file) {
  pc_err_t err = {0};
  const char *files[] = {"/nonexistent/profcol.yaml"};
  ck_assert_ptr_null(pc_cfg_load(files, 1, &err));
  ck_assert_str_eq(err.msg,
                   "/nonexistent/profcol.yaml: cannot open the config file: No such file or "
                   "directory");
  ck_assert_str_eq(err.file, "/nonexistent/profcol.yaml");
  ck_assert_int_eq(err.line, 0);
  ck_assert_ptr_null(pc_cfg_load(files, 0, &err));
  ck_assert_str_eq(err.msg, "no config file given");
}
END_TEST

/* "::" in a key nests, as the Collector's confmap reads it, and merges with
 * the keys beside it; paths and key positions follow. */
START_TEST(double_colon_keys_nest) {
  pc_cfg_t *cfg = load_ok("a::b: 1\na:\n  c: 2\na::d::e: 3\n");
  ck_assert_str_eq(AT(cfg, "a", "b")->text, "1");
  ck_assert_str_eq(AT(cfg, "a", "c")->text, "2");
  const pc_cfg_node_t *e = AT(cfg, "a", "d", "e");
  ck_assert_str_eq(e->text, "3");
  ck_assert_str_eq(e->path, "a.d.e");
  ck_assert_str_eq(AT(cfg, "a", "d")->path, "a.d");
  ck_assert_int_eq(e->key_line, 4);
  ck_assert_int_eq(e->key_col, 1);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(cfg_error_format) {
  pc_cfg_t *cfg = load_ok("service:\n  pipelines: 3\n");
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_error(&err, AT(cfg, "service", "pipelines"), PC_EINVAL, "bad %d", 7),
                   PC_EINVAL);
  ck_assert_str_eq(err.msg, "t.yaml:2:14: service.pipelines: bad 7");
  ck_assert_int_eq(err.line, 2);
  ck_assert_int_eq(err.col, 14);
  ck_assert_int_eq(err.code, PC_EINVAL);
  pc_cfg_error(&err, pc_cfg_root(cfg), PC_EINVAL, "missing the service section");
  ck_assert_str_eq(err.msg, "t.yaml:1:1: missing the service section");
  pc_cfg_error(&err, NULL, PC_EINVAL, "no node");
  ck_assert_str_eq(err.msg, "no node");
  ck_assert_int_eq(pc_cfg_error(NULL, NULL, PC_EIO, "x"), PC_EIO);
  /* A long path keeps its end; a long message says it was cut. */
  char longmsg[400];
  memset(longmsg, 'x', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = 0;
  pc_cfg_error(&err, AT(cfg, "service", "pipelines"), PC_EINVAL, "%s", longmsg);
  ck_assert_uint_eq(strlen(err.msg), sizeof err.msg - 1);
  ck_assert_str_eq(err.msg + sizeof err.msg - 4, "...");
  pc_cfg_free(cfg);
}
END_TEST

/* A file, unlike a C string, can hold a NUL byte: libyaml refuses it. */
START_TEST(load_file_with_nul_byte) {
  char path[128];
  snprintf(path, sizeof path, "%s/nul.yaml", tmpdir);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite("a: 1\nb: x\0y\n", 1, 13, f), 13);
  ck_assert_int_eq(fclose(f), 0);
  const char *files[] = {path};
  pc_err_t err = {0};
  ck_assert_ptr_null(pc_cfg_load(files, 1, &err));
  char want[256];
  snprintf(want, sizeof want, "%s:2:5: control characters are not allowed (byte 0x00)", path);
  ck_assert_str_eq(err.msg, want);
}
END_TEST

static TCase *load_tcase(void) {
  TCase *tc = tcase_create("load");
  tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, load_positions_and_paths);
  tcase_add_test(tc, load_scalars_and_nulls);
  tcase_add_test(tc, load_empty_is_empty_map);
  tcase_add_test(tc, load_depth_limit);
  tcase_add_test(tc, load_size_limit);
  tcase_add_test(tc, load_memory_limit);
  tcase_add_test(tc, load_path_limit);
  tcase_add_test(tc, load_duplicate_in_large_map);
  tcase_add_test(tc, load_missing_file);
  tcase_add_test(tc, load_file_with_nul_byte);
  tcase_add_test(tc, cfg_error_format);
  tcase_add_test(tc, double_colon_keys_nest);
  tcase_add_loop_test(tc, broken_config_messages, 0, sizeof broken / sizeof *broken);
  return tc;
}

/* ---- merge.c ----------------------------------------------------------------------- */

static const char base_yaml[] = "receivers:\n"
                                "  otlp:\n"
                                "    protocols:\n"
                                "      http:\n"
                                "        endpoint: 0.0.0.0:4318\n"
                                "exporters:\n"
                                "  otlphttp:\n"
                                "    endpoint: a:1\n"
                                "    timeout: 5s\n"
                                "    headers: {x: 1}\n"
                                "service:\n"
                                "  pipelines:\n"
                                "    profiles:\n"
                                "      receivers: [otlp]\n"
                                "      exporters: [otlphttp, debug]\n";

static const char override_yaml[] = "exporters:\n"
                                    "  otlphttp:\n"
                                    "    timeout: 10s\n"
                                    "    headers: none\n"
                                    "  debug:\n"
                                    "service:\n"
                                    "  pipelines:\n"
                                    "    profiles:\n"
                                    "      exporters: [debug]\n"
                                    "receivers:\n"
                                    "  otlp: {protocols: {grpc: {endpoint: \":4317\"}}}\n";

START_TEST(merge_two_files) {
  char a[128], b[128];
  write_file("base.yaml", base_yaml, a, sizeof a);
  write_file("override.yaml", override_yaml, b, sizeof b);
  const char *files[] = {a, b};
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load(files, 2, &err);
  ck_assert_msg(cfg != NULL, "%s", err.msg);
  /* Maps merge: keys of both, the first file's order first. */
  const pc_cfg_node_t *root = pc_cfg_root(cfg);
  ck_assert_uint_eq(root->n_entries, 3);
  ck_assert_str_eq(root->entries[0].key, "receivers");
  ck_assert_str_eq(root->entries[1].key, "exporters");
  ck_assert_str_eq(root->entries[2].key, "service");
  const pc_cfg_node_t *exps = AT(cfg, "exporters");
  ck_assert_uint_eq(exps->n_entries, 2);
  ck_assert_str_eq(exps->entries[1].key, "debug");
  /* A value only in the first file keeps its file and place. */
  const pc_cfg_node_t *ep = AT(cfg, "exporters", "otlphttp", "endpoint");
  ck_assert_str_eq(ep->text, "a:1");
  ck_assert_str_eq(ep->file, a);
  ck_assert_int_eq(ep->line, 8);
  /* Scalars are replaced, and point at the later file. */
  const pc_cfg_node_t *timeout = AT(cfg, "exporters", "otlphttp", "timeout");
  ck_assert_str_eq(timeout->text, "10s");
  ck_assert_str_eq(timeout->file, b);
  ck_assert_int_eq(timeout->line, 3);
  /* A scalar replaces a map. */
  ck_assert_int_eq(AT(cfg, "exporters", "otlphttp", "headers")->type, PC_CFG_SCALAR);
  /* Lists are replaced, not appended to. */
  const pc_cfg_node_t *list = AT(cfg, "service", "pipelines", "profiles", "exporters");
  ck_assert_uint_eq(list->n_items, 1);
  ck_assert_str_eq(list->items[0]->text, "debug");
  ck_assert_str_eq(list->items[0]->file, b);
  ck_assert_str_eq(list->items[0]->path, "service.pipelines.profiles.exporters[0]");
  ck_assert_uint_eq(AT(cfg, "service", "pipelines", "profiles", "receivers")->n_items, 1);
  /* Deep merge through a flow map. */
  ck_assert_str_eq(AT(cfg, "receivers", "otlp", "protocols", "http", "endpoint")->text,
                   "0.0.0.0:4318");
  ck_assert_str_eq(AT(cfg, "receivers", "otlp", "protocols", "grpc", "endpoint")->text, ":4317");
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(merge_errors_name_the_right_file) {
  char a[128], b[128], c[128];
  write_file("a.yaml", "exporters:\n  otlphttp:\n    timeout: 5s\n", a, sizeof a);
  write_file("b.yaml", "# later\nexporters:\n  otlphttp:\n    timeout: five\n", b, sizeof b);
  write_file("c.yaml", "exporters:\n  otlphttp:\n    endpoint: x\n   bad: 1\n", c, sizeof c);
  pc_err_t err = {0};
  const char *ab[] = {a, b};
  pc_cfg_t *cfg = pc_cfg_load(ab, 2, &err);
  ck_assert_ptr_nonnull(cfg);
  exp_cfg_t out = {0};
  ck_assert_int_eq(pc_cfg_apply(exp_opts, AT(cfg, "exporters", "otlphttp"), &out, &err),
                   PC_EINVAL);
  char want[256];
  snprintf(want, sizeof want,
           "%s:4:14: exporters.otlphttp.timeout: expected a duration like \"5s\" or \"100ms\", "
           "got \"five\"",
           b);
  ck_assert_str_eq(err.msg, want);
  ck_assert_str_eq(err.file, b);
  pc_cfg_free(cfg);
  /* A syntax error in the second file names the second file. */
  const char *ac[] = {a, c};
  ck_assert_ptr_null(pc_cfg_load(ac, 2, &err));
  snprintf(want, sizeof want,
           "%s:4:4: did not find expected key (in the map that starts at line 2, column "
           "3)",
           c);
  ck_assert_str_eq(err.msg, want);
  ck_assert_ptr_eq(err.file, c);
}
END_TEST

START_TEST(merge_three_files_and_empty) {
  char a[128], b[128], c[128];
  write_file("a.yaml", "x: {a: 1, b: [1, 2]}\ny: 1\n", a, sizeof a);
  write_file("b.yaml", "", b, sizeof b);
  write_file("c.yaml", "x: {b: {c: 3}, d: 4}\ny: {z: 1}\n", c, sizeof c);
  const char *files[] = {a, b, c};
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load(files, 3, &err);
  ck_assert_msg(cfg != NULL, "%s", err.msg);
  ck_assert_str_eq(AT(cfg, "x", "a")->text, "1");
  ck_assert_str_eq(AT(cfg, "x", "b", "c")->text, "3"); /* a map replaces a list */
  ck_assert_str_eq(AT(cfg, "x", "d")->text, "4");
  ck_assert_str_eq(AT(cfg, "y", "z")->text, "1"); /* a map replaces a scalar */
  ck_assert_uint_eq(AT(cfg, "x")->n_entries, 3);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(merge_null_replaces) {
  char a[128], b[128];
  write_file("a.yaml", "processors:\n  batch: {timeout: 1s}\n", a, sizeof a);
  write_file("b.yaml", "processors:\n  batch:\n", b, sizeof b);
  const char *files[] = {a, b};
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load(files, 2, &err);
  ck_assert_ptr_nonnull(cfg);
  ck_assert_int_eq(AT(cfg, "processors", "batch")->type, PC_CFG_NULL);
  pc_cfg_free(cfg);
}
END_TEST

static TCase *merge_tcase(void) {
  TCase *tc = tcase_create("merge");
  tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
  tcase_add_test(tc, merge_two_files);
  tcase_add_test(tc, merge_errors_name_the_right_file);
  tcase_add_test(tc, merge_three_files_and_empty);
  tcase_add_test(tc, merge_null_replaces);
  return tc;
}

/* ---- subst.c ----------------------------------------------------------------------- */

static void subst_setup(void) {
  setenv("PC_T_HOST", "collector.local", 1);
  setenv("PC_T_PORT", "4318", 1);
  setenv("PC_T_EMPTY", "", 1);
  setenv("PC_T_REF", "${PC_T_HOST}", 1);
  setenv("PC_T_WORKERS", "12", 1);
  unsetenv("PC_T_UNSET");
}

static const struct {
  const char *in, *out;
} substs[] = {
    {"${env:PC_T_HOST}", "collector.local"},
    {"${PC_T_HOST}", "collector.local"},
    {"http://${env:PC_T_HOST}:${PC_T_PORT}/v1", "http://collector.local:4318/v1"},
    {"${env:PC_T_UNSET:-fallback}", "fallback"},
    {"${PC_T_UNSET:-a:b-c}", "a:b-c"},
    {"${env:PC_T_UNSET:-}", ""},
    {"${env:PC_T_HOST:-fallback}", "collector.local"},
    {"${env:PC_T_EMPTY:-fallback}", ""}, /* set but empty: not the default */
    {"a${env:PC_T_EMPTY}b", "ab"},
    {"cost $$5", "cost $5"},
    {"$${env:PC_T_HOST}", "${env:PC_T_HOST}"},
    {"$$$${PC_T_PORT}", "$${PC_T_PORT}"},
    {"$$$$${PC_T_PORT}", "$$4318"},
    {"$5 and $ alone$", "$5 and $ alone$"},
    {"${env:PC_T_REF}", "${PC_T_HOST}"}, /* expanded once, not again */
    {"${PC_T_PORT}${PC_T_PORT}", "43184318"},
};

START_TEST(subst_forms) {
  for (int quoted = 0; quoted < 2; quoted++) {
    char yaml[256];
    snprintf(yaml, sizeof yaml, quoted ? "v: '%s'\n" : "v: %s\n", substs[_i].in);
    pc_cfg_t *cfg = load_ok(yaml);
    const pc_cfg_node_t *v = AT(cfg, "v");
    ck_assert_int_eq(v->type, PC_CFG_SCALAR);
    ck_assert_str_eq(v->text, substs[_i].out);
    ck_assert_int_eq(v->quoted, quoted);
    pc_cfg_free(cfg);
  }
}
END_TEST

START_TEST(subst_keys_untouched_and_typed_values) {
  pc_cfg_t *cfg = load_ok("${PC_T_HOST}: 1\nexporters:\n  otlphttp:\n"
                          "    endpoint: ${env:PC_T_HOST}:${env:PC_T_PORT}\n"
                          "    workers: ${env:PC_T_WORKERS}\n");
  ck_assert_ptr_nonnull(pc_cfg_get(pc_cfg_root(cfg), "${PC_T_HOST}"));
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_apply(exp_opts, AT(cfg, "exporters", "otlphttp"), &out, &err), 0);
  ck_assert_str_eq(out.endpoint, "collector.local:4318");
  ck_assert_int_eq(out.workers, 12);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(subst_errors) {
  /* A value that substitution makes too long is refused, not truncated. */
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, 'x', n);
  big[n] = 0;
  setenv("PC_T_BIG", big, 1);
  free(big);
  pc_buf_t y = {0};
  ck_assert_int_eq(pc_buf_printf(&y, "v: \""), 0);
  for (int i = 0; i < 20; i++) ck_assert_int_eq(pc_buf_printf(&y, "${PC_T_BIG}"), 0);
  ck_assert_int_eq(pc_buf_printf(&y, "\"\n"), 0);
  ck_assert_int_eq(pc_buf_append(&y, "", 1), 0);
  expect_load_error((const char *)y.p,
                    "t.yaml:1:4: v: the value is longer than 16777216 bytes after ${...} "
                    "substitution");
  pc_buf_free(&y);
  unsetenv("PC_T_BIG");
  expect_load_error("v: ${}\n", "t.yaml:1:4: v: \"${}\": invalid environment variable name "
                                "(use letters, digits and _, like ${env:MY_VAR})");
  expect_load_error("v: ${1X}\n", "t.yaml:1:4: v: \"${1X}\": invalid environment variable name "
                                  "(use letters, digits and _, like ${env:MY_VAR})");
  expect_load_error("v:\n  - ok\n  - ${PC_T_UNSET}\n",
                    "t.yaml:3:5: v[1]: environment variable PC_T_UNSET is not set (used in "
                    "\"${PC_T_UNSET}\"); set it or give a default: ${env:PC_T_UNSET:-value}");
}
END_TEST

static TCase *subst_tcase(void) {
  TCase *tc = tcase_create("subst");
  tcase_add_checked_fixture(tc, subst_setup, NULL);
  tcase_add_loop_test(tc, subst_forms, 0, sizeof substs / sizeof *substs);
  tcase_add_test(tc, subst_keys_untouched_and_typed_values);
  tcase_add_test(tc, subst_errors);
  return tc;
}

/* ---- options.c --------------------------------------------------------------------- */

START_TEST(options_defaults) {
  exp_cfg_t out;
  pc_err_t err;
  const char *docs[] = {"exporters:\n  otlphttp:\n", "exporters:\n  otlphttp: {}\n",
                        "exporters:\n  otlphttp:\n    retry_on_failure:\n"};
  for (size_t i = 0; i < 3; i++) {
    pc_cfg_t *cfg;
    ck_assert_int_eq(apply_exp(docs[i], &out, &err, &cfg), 0);
    ck_assert_str_eq(out.endpoint, "localhost:4318");
    ck_assert_str_eq(out.compression, "gzip");
    ck_assert_uint_eq(out.timeout_ms, 5000);
    ck_assert_uint_eq(out.max_bytes, 4u << 20);
    ck_assert_int_eq(out.workers, 1);
    ck_assert_int_eq(out.offset, 0); /* no default: left as it was */
    ck_assert(out.enabled);
    ck_assert_ptr_null(out.headers);
    ck_assert_ptr_null(out.extra);
    ck_assert(out.retry_enabled);
    ck_assert_uint_eq(out.retry_initial_ms, 5000);
    ck_assert_uint_eq(out.retry_max_elapsed_ms, 300000);
    pc_cfg_free(cfg);
  }
  /* No node at all: defaults too. */
  out = (exp_cfg_t){.offset = 42};
  ck_assert_int_eq(pc_cfg_apply(exp_opts, NULL, &out, &err), 0);
  ck_assert_uint_eq(out.timeout_ms, 5000);
  ck_assert_int_eq(out.offset, 42);
}
END_TEST

START_TEST(options_values) {
  exp_cfg_t out;
  pc_err_t err;
  pc_cfg_t *cfg;
  int rc = apply_exp(EXP "    endpoint: \"[::1]:4317\"\n"
                         "    compression: \"1\"\n"
                         "    timeout: 1m30s\n"
                         "    max_bytes: 512KiB\n"
                         "    workers: 64\n"
                         "    offset: -9223372036854775808\n"
                         "    enabled: FALSE\n"
                         "    headers: {X-Key: secret, X-N: 5}\n"
                         "    extra: [1, {a: b}]\n"
                         "    retry_on_failure:\n"
                         "      enabled: False\n"
                         "      initial_interval: 250ms\n"
                         "      max_elapsed_time:\n",
                     &out, &err, &cfg);
  ck_assert_msg(rc == 0, "%s", err.msg);
  ck_assert_str_eq(out.endpoint, "[::1]:4317");
  ck_assert_str_eq(out.compression, "1");
  ck_assert_uint_eq(out.timeout_ms, 90000);
  ck_assert_uint_eq(out.max_bytes, 512 * 1024);
  ck_assert_int_eq(out.workers, 64);
  ck_assert_int_eq(out.offset, INT64_MIN);
  ck_assert(!out.enabled);
  ck_assert(!out.retry_enabled);
  ck_assert_uint_eq(out.retry_initial_ms, 250);
  ck_assert_uint_eq(out.retry_max_elapsed_ms, 300000); /* null keeps the default */
  ck_assert_str_eq(pc_cfg_get(out.headers, "X-N")->text, "5");
  ck_assert_uint_eq(out.extra->n_items, 2);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(options_node_pointers) {
  pc_cfg_t *cfg = load_ok(EXP "    headers: {X-Key: secret}\n    extra: [1, 2]\n");
  exp_cfg_t out = {0};
  pc_err_t err;
  const pc_cfg_node_t *node = AT(cfg, "exporters", "otlphttp");
  ck_assert_int_eq(pc_cfg_apply(exp_opts, node, &out, &err), 0);
  ck_assert_ptr_eq(out.headers, pc_cfg_get(node, "headers"));
  ck_assert_str_eq(pc_cfg_get(out.headers, "X-Key")->text, "secret");
  ck_assert_ptr_eq(out.extra, pc_cfg_get(node, "extra"));
  ck_assert_uint_eq(out.extra->n_items, 2);
  pc_cfg_free(cfg);
}
END_TEST

/* A section over a member struct (PC_OPT_SECTION_IN): a module shared by
 * several components keeps one table over its own struct, wherever that
 * struct sits in theirs; its defaults and values land in the member. */
typedef struct {
  bool on;
  uint64_t wait_ms;
} sub_cfg_t;

typedef struct {
  char *name;
  sub_cfg_t a, b; /* the same table twice, at two offsets */
} outer_cfg_t;

static const pc_opt_t sub_opts[] = {
    PC_OPT_BOOLEAN("on", "true", sub_cfg_t, on, "on"),
    PC_OPT_DUR("wait", "5s", sub_cfg_t, wait_ms, 0, 0, "wait"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t outer_opts[] = {
    PC_OPT_STR("name", "x", outer_cfg_t, name, "name"),
    PC_OPT_SECTION_IN("a", sub_opts, outer_cfg_t, a, "first"),
    PC_OPT_SECTION_IN("b", sub_opts, outer_cfg_t, b, "second"),
    PC_OPT_TABLE_END,
};

START_TEST(options_section_in_a_member) {
  pc_cfg_t *cfg = load_ok("x:\n  b:\n    on: false\n    wait: 250ms\n");
  outer_cfg_t out = {0};
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_apply(outer_opts, AT(cfg, "x"), &out, &err), 0);
  ck_assert_str_eq(out.name, "x");
  ck_assert(out.a.on);
  ck_assert_uint_eq(out.a.wait_ms, 5000);
  ck_assert(!out.b.on);
  ck_assert_uint_eq(out.b.wait_ms, 250);
  pc_cfg_free(cfg);
  /* An error inside names the key under the section, at its place. */
  cfg = load_ok("x:\n  a:\n    wait: soon\n");
  ck_assert_int_eq(pc_cfg_apply(outer_opts, AT(cfg, "x"), &out, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, ":3:11:") && strstr(err.msg, "x.a.wait"), "%s", err.msg);
  pc_cfg_free(cfg);
}
END_TEST

static const struct {
  const char *text;
  uint64_t bytes;
} sizes[] = {
    {"0", 0},          {"1048576", 1048576},       {"1KB", 1000},
    {"1KiB", 1024},    {"20MB", 20000000},          {"64MiB", 64u << 20},
    {"2GB", 2000000000}, {"1GiB", 1u << 30},        {"1.5GiB", 3u << 29},
    {"1.1KiB", 1126},  {"100 B", 100},              {"3TB", 3000000000000},
    {"1TiB", 1ull << 40}, {"18446744073709551615", UINT64_MAX},
};

START_TEST(options_sizes) {
  static const pc_opt_t t[] = {
      PC_OPT_BYTES("v", NULL, exp_cfg_t, max_bytes, 0, 0, ""), PC_OPT_TABLE_END};
  char yaml[96];
  snprintf(yaml, sizeof yaml, "v: %s\n", sizes[_i].text);
  pc_cfg_t *cfg = load_ok(yaml);
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_msg(pc_cfg_apply(t, pc_cfg_root(cfg), &out, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(out.max_bytes, sizes[_i].bytes);
  pc_cfg_free(cfg);
}
END_TEST

static const struct {
  const char *text;
  uint64_t ms;
} durations[] = {
    {"0", 0},        {"0s", 0},        {"100ms", 100},   {"5s", 5000},
    {"1m30s", 90000}, {"2h", 7200000}, {"1.5s", 1500},   {"1.001s", 1001},
    {".5s", 500},    {"1h1m1s1ms", 3661001}, {"1ns", 1}, {"1500us", 2},
    {"1000\xC2\xB5s", 1}, {"2000\xCE\xBCs", 2}, {"5000", 1}, /* bare: ns, rounded up */
    {"5000000000", 5000}, {"+3s", 3000},  {"1.0000000001s", 1000},
    {"2562047h", 9223369200000},
};

START_TEST(options_durations) {
  static const pc_opt_t t[] = {
      PC_OPT_DUR("v", NULL, exp_cfg_t, timeout_ms, 0, 0, ""), PC_OPT_TABLE_END};
  char yaml[96];
  snprintf(yaml, sizeof yaml, "v: %s\n", durations[_i].text);
  pc_cfg_t *cfg = load_ok(yaml);
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_msg(pc_cfg_apply(t, pc_cfg_root(cfg), &out, &err) == 0, "%s: %s", durations[_i].text,
                err.msg);
  ck_assert_uint_eq(out.timeout_ms, durations[_i].ms);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(options_bad_scalars) {
  static const pc_opt_t t[] = {
      PC_OPT_DUR("d", NULL, exp_cfg_t, timeout_ms, 0, 0, ""),
      PC_OPT_BYTES("z", NULL, exp_cfg_t, max_bytes, 0, 0, ""),
      PC_OPT_INT_RANGE("i", NULL, exp_cfg_t, offset, 0, 0, ""),
      PC_OPT_BOOLEAN("b", NULL, exp_cfg_t, enabled, ""),
      PC_OPT_ADDR("e", NULL, exp_cfg_t, endpoint, ""),
      PC_OPT_TABLE_END};
  static const struct {
    const char *yaml, *why;
  } bad[] = {
      {"d: 1.5sec", "(unknown unit \"sec\"; use ns, us, ms, s, m or h)"},
      {"d: 1.s5", "(missing unit; use ns, us, ms, s, m or h)"},
      {"d: s", "got \"s\""},
      {"d: \"1\"", "(missing unit; use ns, us, ms, s, m or h)"}, /* quoted: needs a unit */
      {"d: 5s3", "(missing unit; use ns, us, ms, s, m or h)"},
      {"d: \".\"", "got \".\""},
      {"d: 9999999999h", "(too large)"},
      {"d: 18446744073709551616", "(too large)"},
      {"d: 3000000h3000000h", "(too large)"},
      {"z: 18446744073709551616", "(too large)"},
      {"z: 17179869184GiB", "(too large)"},
      {"z: MiB", "got \"MiB\""},
      {"z: 1.MiB", "got \"1.MiB\""},
      {"z: -1", "got \"-1\""},
      {"i: 0x10", "got \"0x10\""},
      {"i: \" 5\"", "got \" 5\""},
      {"i: \"-\"", "got \"-\""},
      {"b: 1", "got \"1\""},
      {"b: on", "got \"on\""},
      {"e: \":\"", "(missing port number)"},
      {"e: \"[::1]\"", "(missing :port)"},
      {"e: \"[]:80\"", "(bad [address])"},
      {"e: \"a b:80\"", "(the host has a character that cannot be in one)"},
      {"e: host/x:80", "(the host has a character that cannot be in one)"},
      {"e: \"h:0x50\"", "(the port must be a number from 0 to 65535)"},
      {"e: \"h:000080\"", "(the port must be a number from 0 to 65535)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pc_cfg_t *cfg = load_ok(bad[i].yaml);
    exp_cfg_t out = {0};
    pc_err_t err = {0};
    ck_assert_msg(pc_cfg_apply(t, pc_cfg_root(cfg), &out, &err) == PC_EINVAL, "accepted %s",
                  bad[i].yaml);
    ck_assert_msg(strstr(err.msg, bad[i].why) != NULL, "%s: %s", bad[i].yaml, err.msg);
    pc_cfg_free(cfg);
  }
  /* A plain number is nanoseconds, as in the Collector, rounded up to 1ms. */
  pc_cfg_t *cfg = load_ok("d: 1\n");
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_apply(t, pc_cfg_root(cfg), &out, &err), 0);
  ck_assert_uint_eq(out.timeout_ms, 1);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(options_endpoints_ok) {
  static const pc_opt_t t[] = {PC_OPT_ADDR("e", NULL, exp_cfg_t, endpoint, ""),
                               PC_OPT_TABLE_END};
  static const char *const good[] = {"localhost:4318", "\"[::1]:4318\"", "\":4318\"",
                                     "0.0.0.0:0",      "my_host.local:65535",
                                     "\"[fe80::1%eth0]:80\""};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    char yaml[64];
    snprintf(yaml, sizeof yaml, "e: %s\n", good[i]);
    pc_cfg_t *cfg = load_ok(yaml);
    exp_cfg_t out = {0};
    pc_err_t err;
    ck_assert_msg(pc_cfg_apply(t, pc_cfg_root(cfg), &out, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(out.endpoint, AT(cfg, "e")->text);
    pc_cfg_free(cfg);
  }
}
END_TEST

START_TEST(options_bad_default_is_a_bug) {
  static const pc_opt_t t[] = {PC_OPT_DUR("wait", "soon", exp_cfg_t, timeout_ms, 0, 0, ""),
                               PC_OPT_TABLE_END};
  static const pc_opt_t range[] = {
      PC_OPT_INT_RANGE("n", "0", exp_cfg_t, workers, 1, 9, ""), PC_OPT_TABLE_END};
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_apply(t, NULL, &out, &err), PC_EINVAL);
  ck_assert_str_eq(err.msg, "bug: built-in default of option \"wait\": expected a duration like "
                            "\"5s\" or \"100ms\", got \"soon\"");
  ck_assert_int_eq(pc_cfg_apply(range, NULL, &out, &err), PC_EINVAL);
  ck_assert_str_eq(err.msg, "bug: built-in default of option \"n\": expected an integer from 1 "
                            "to 9, got \"0\"");
}
END_TEST

START_TEST(options_unknown_key_edge_cases) {
  static const pc_opt_t none[] = {PC_OPT_TABLE_END};
  pc_cfg_t *cfg = load_ok("a:\n  x: 1\nb:\n  \"bad\\tkey\": 1\n");
  exp_cfg_t out = {0};
  pc_err_t err;
  ck_assert_int_eq(pc_cfg_apply(none, AT(cfg, "a"), &out, &err), PC_EINVAL);
  ck_assert_str_eq(err.msg, "t.yaml:2:3: a.x: unknown key \"x\"; this takes no options");
  ck_assert_int_eq(pc_cfg_apply(exp_opts, AT(cfg, "b"), &out, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "unknown key \"bad\\x09key\"; valid keys: endpoint,") != NULL,
                "%s", err.msg);
  pc_cfg_free(cfg);
}
END_TEST

START_TEST(options_help_text) {
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  ck_assert_ptr_nonnull(f);
  pc_cfg_print_options(exp_opts, 2, f);
  ck_assert_int_eq(fclose(f), 0);
  ck_assert_str_eq(text,
                   "  endpoint (host:port, default \"localhost:4318\"): where to send\n"
                   "  compression (string, default \"gzip\"): gzip, zstd or none\n"
                   "  timeout (duration, 1ms to 1h, default 5s): per request\n"
                   "  max_bytes (size, 1KiB to 1GiB, default 4MiB): body limit\n"
                   "  workers (int, 1 to 64, default 1): senders\n"
                   "  offset (int): any integer\n"
                   "  enabled (bool, default true): send at all\n"
                   "  headers (map of strings): extra HTTP headers\n"
                   "  extra (any): anything\n"
                   "  retry_on_failure: retries\n"
                   "    enabled (bool, default true): retry failed exports\n"
                   "    initial_interval (duration, default 5s): wait before the first retry\n"
                   "    max_elapsed_time (duration, default 5m): give up after this long\n");
  free(text);
}
END_TEST

START_TEST(options_did_you_mean) {
  static const char *const keys[] = {"endpoint", "timeout", "headers", "compression",
                                     "sending_queue", "tls"};
  const size_t n = sizeof keys / sizeof *keys;
  ck_assert_str_eq(pc_cfg_did_you_mean("endpiont", keys, n), "endpoint");
  ck_assert_str_eq(pc_cfg_did_you_mean("Endpoint", keys, n), "endpoint");
  ck_assert_str_eq(pc_cfg_did_you_mean("timeot", keys, n), "timeout");
  ck_assert_str_eq(pc_cfg_did_you_mean("compresion", keys, n), "compression");
  ck_assert_str_eq(pc_cfg_did_you_mean("sendingqueue", keys, n), "sending_queue");
  ck_assert_str_eq(pc_cfg_did_you_mean("sending-queues", keys, n), "sending_queue");
  ck_assert_str_eq(pc_cfg_did_you_mean("tsl", keys, n), "tls");
  ck_assert_ptr_null(pc_cfg_did_you_mean("colour", keys, n));
  ck_assert_ptr_null(pc_cfg_did_you_mean("retry_on_failure", keys, n));
  ck_assert_ptr_null(pc_cfg_did_you_mean("ab", keys, n)); /* all letters changed */
  ck_assert_ptr_null(pc_cfg_did_you_mean("", keys, n));
  ck_assert_ptr_null(pc_cfg_did_you_mean("endpoint", keys, 0));
  /* The closest wins; on a tie, the first. */
  static const char *const close[] = {"abcd", "abce", "abcf"};
  ck_assert_str_eq(pc_cfg_did_you_mean("abcx", close, 3), "abcd");
  ck_assert_str_eq(pc_cfg_did_you_mean("abcf", close, 3), "abcf");
}
END_TEST

static TCase *options_tcase(void) {
  TCase *tc = tcase_create("options");
  tcase_add_test(tc, options_defaults);
  tcase_add_test(tc, options_values);
  tcase_add_test(tc, options_node_pointers);
  tcase_add_test(tc, options_section_in_a_member);
  tcase_add_loop_test(tc, options_sizes, 0, sizeof sizes / sizeof *sizes);
  tcase_add_loop_test(tc, options_durations, 0, sizeof durations / sizeof *durations);
  tcase_add_test(tc, options_bad_scalars);
  tcase_add_test(tc, options_endpoints_ok);
  tcase_add_test(tc, options_bad_default_is_a_bug);
  tcase_add_test(tc, options_unknown_key_edge_cases);
  tcase_add_test(tc, options_help_text);
  tcase_add_test(tc, options_did_you_mean);
  return tc;
}

/* ---- the suite --------------------------------------------------------------------- */

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  suite_add_tcase(s, load_tcase());
  suite_add_tcase(s, merge_tcase());
  suite_add_tcase(s, subst_tcase());
  suite_add_tcase(s, options_tcase());
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(config_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
