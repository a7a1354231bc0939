/* sources.c - where config text comes from, as the Collector's --config
 * takes it: a path, file:PATH, env:VAR (the variable holds YAML) or
 * yaml:TEXT (inline; "::" in a key nests). Each source is parsed on its own
 * and merged over the ones before it (merge.c), so a later --config or
 * --set overrides an earlier one key by key. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int source_error(pc_err_t *err, const char *name, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "name: what", for a source as a whole (no line). */
static int source_error(pc_err_t *err, const char *name, int code, const char *fmt, ...) {
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  pc_err_set(err, code, "%s: %s", name, what);
  if (err) err->file = name;
  return code;
}

/* Read all of path into out, refusing more than PC_CFG_MAX_FILE_SIZE bytes
 * (checked while reading, so pipes and /dev/stdin are bounded too). */
static int read_file(const char *path, const char *name, pc_buf_t *out, pc_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return source_error(err, name, PC_EIO, "cannot open the config file: %s", strerror(errno));
  pc_warn_unsafe_file(fileno(f), path, "config file", "config");
  int rc = 0;
  for (;;) {
    if (out->n > PC_CFG_MAX_FILE_SIZE) {
      rc = source_error(err, name, PC_ELIMIT, "the config file is larger than the %zu MiB limit",
                        PC_CFG_MAX_FILE_SIZE >> 20);
      break;
    }
    if ((rc = pc_buf_reserve(out, 64 * 1024))) {
      rc = source_error(err, name, PC_ENOMEM, "out of memory reading the config file");
      break;
    }
    size_t got = fread(out->p + out->n, 1, out->cap - out->n, f);
    out->n += got;
    if (got == 0) {
      if (ferror(f))
        rc = source_error(err, name, PC_EIO, "cannot read the config file: %s", strerror(errno));
      break;
    }
  }
  fclose(f);
  return rc;
}

/* The URI's scheme as the Collector recognises one: a letter, then at least
 * one more of letters, digits, '+', '-' or '.', then ':'. Its length, or 0
 * for a plain path ("./my.yaml", "/etc/profcol/config.yaml"). */
static size_t scheme_len(const char *uri) {
  if (!isalpha((unsigned char)uri[0])) return 0;
  size_t n = 1;
  while (isalnum((unsigned char)uri[n]) || uri[n] == '+' || uri[n] == '-' || uri[n] == '.') n++;
  return n >= 2 && uri[n] == ':' ? n : 0;
}

static bool env_name_ok(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
  return true;
}

/* env:VAR or env:VAR:-default: the variable's text (YAML) into out. */
static int read_env(const char *spec, const char *name, pc_buf_t *out, pc_err_t *err) {
  const char *dflt = strstr(spec, ":-");
  size_t n = dflt ? (size_t)(dflt - spec) : strlen(spec);
  if (!env_name_ok(spec, n))
    return source_error(err, name, PC_EINVAL, "invalid environment variable name \"%.*s\" "
                        "(letters, digits and _, not starting with a digit)", (int)n, spec);
  char var[256];
  if (n >= sizeof var)
    return source_error(err, name, PC_EINVAL, "environment variable name too long");
  memcpy(var, spec, n);
  var[n] = 0;
  const char *value = getenv(var);
  if (!value && !dflt)
    return source_error(err, name, PC_EINVAL, "the environment variable %s is not set (give a "
                        "default with env:%s:-...)", var, var);
  if (!value) value = dflt + 2;
  if (strlen(value) > PC_CFG_MAX_FILE_SIZE)
    return source_error(err, name, PC_ELIMIT, "larger than the %zu MiB limit",
                        PC_CFG_MAX_FILE_SIZE >> 20);
  return pc_buf_append(out, value, strlen(value));
}

/* The text of one source into out. */
static int read_source(const pc_cfg_source_t *src, const char *name, pc_buf_t *out,
                       pc_err_t *err) {
  const char *uri = src->uri;
  size_t k = scheme_len(uri);
  if (k == 0) return read_file(uri, name, out, err);
  const char *rest = uri + k + 1;
  if (k == 4 && strncmp(uri, "file", 4) == 0) return read_file(rest, name, out, err);
  if (k == 3 && strncmp(uri, "env", 3) == 0) return read_env(rest, name, out, err);
  if (k == 4 && strncmp(uri, "yaml", 4) == 0) {
    if (strlen(rest) > PC_CFG_MAX_FILE_SIZE)
      return source_error(err, name, PC_ELIMIT, "larger than the %zu MiB limit",
                          PC_CFG_MAX_FILE_SIZE >> 20);
    return pc_buf_append(out, rest, strlen(rest));
  }
  return source_error(err, name, PC_EINVAL, "unsupported config URI scheme \"%.*s\": profcol "
                      "reads a path, file:PATH, env:VAR and yaml:TEXT", (int)k, uri);
}

/* What messages call a source: its given name, else the path of a file
 * (file:PATH as PATH, so editors find it), else the URI. */
static const char *source_name(const pc_cfg_source_t *src) {
  if (src->name) return src->name;
  size_t k = scheme_len(src->uri);
  return k == 4 && strncmp(src->uri, "file", 4) == 0 ? src->uri + 5 : src->uri;
}

pc_cfg_t *pc_cfg_load_sources(const pc_cfg_source_t *sources, size_t n, pc_err_t *err) {
  if (n == 0) {
    pc_err_set(err, PC_EINVAL, "no config file given");
    return NULL;
  }
  pc_cfg_t *cfg = pc_xcalloc(1, sizeof *cfg);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const char *name = source_name(&sources[i]);
    pc_buf_t text = {0};
    pc_cfg_node_t *root = NULL;
    rc = read_source(&sources[i], name, &text, err);
    if (!rc) rc = pc__cfg_parse(cfg, name, (const char *)text.p, text.n, &root, err);
    pc_buf_free(&text);
    if (!rc && (pc__cfg_expand_keys(cfg, &root) ||
                (i == 0 ? (cfg->root = root, 0) : pc__cfg_merge(cfg, &cfg->root, root))))
      rc = source_error(err, name, PC_ELIMIT, "the config needs more than %zu MiB of memory "
                        "once loaded; it is too large to be a real configuration",
                        PC_CFG_MAX_MEMORY >> 20);
  }
  if (rc) {
    pc_cfg_free(cfg);
    return NULL;
  }
  return cfg;
}

pc_cfg_t *pc_cfg_load(const char *const *files, size_t n_files, pc_err_t *err) {
  pc_cfg_source_t sources[64];
  if (n_files > sizeof sources / sizeof sources[0]) {
    pc_err_set(err, PC_EINVAL, "at most %zu config sources", sizeof sources / sizeof sources[0]);
    return NULL;
  }
  for (size_t i = 0; i < n_files; i++) sources[i] = (pc_cfg_source_t){.uri = files[i]};
  return pc_cfg_load_sources(sources, n_files, err);
}
