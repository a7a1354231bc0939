/* logs.c - service.telemetry.logs, as the Collector reads it, into the
 * settings of profcol's log writer (core/log.h).
 *
 * Honoured: level, encoding (console or json), output_paths,
 * error_output_paths, initial_fields, sampling (enabled, tick, initial,
 * thereafter; zap's meaning). disable_caller and disable_stacktrace: profcol's
 * lines never carry a caller or a stack trace (the component id says where),
 * so true is what it does anyway and false is refused. development: true and
 * processors (sending the logs over OTLP) are refused: profcol has neither.
 * Reading is free of side effects (validate runs it); the runner applies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "logs.h"

typedef struct {
  char *level, *encoding;
  const pc_cfg_node_t *output_paths, *error_output_paths, *initial_fields, *sampling,
      *processors;
  bool development, disable_caller, disable_stacktrace;
} logs_cfg_t;

static const pc_opt_t logs_opts[] = {
    PC_OPT_STR("level", "info", logs_cfg_t, level, "debug, info, warn or error"),
    PC_OPT_STR("encoding", "console", logs_cfg_t, encoding,
               "console (one line of text each) or json (one JSON object each)"),
    PC_OPT_ANY("output_paths", logs_cfg_t, output_paths,
               "list of where log lines go: stderr, stdout or file paths (appended to; created "
               "0600); default [stderr]"),
    PC_OPT_ANY("error_output_paths", logs_cfg_t, error_output_paths,
               "list of where the logger says it could not write a line; default [stderr]"),
    PC_OPT_ANY("initial_fields", logs_cfg_t, initial_fields,
               "map of fields added to every line (name: value)"),
    PC_OPT_ANY("sampling", logs_cfg_t, sampling,
               "enabled (default true when set), tick (10s), initial (10), thereafter (100): "
               "per message, the first initial lines of each tick, then every thereafter-th"),
    PC_OPT_BOOLEAN("development", "false", logs_cfg_t, development,
                   "accepted as false only: profcol has no development mode"),
    PC_OPT_BOOLEAN("disable_caller", "true", logs_cfg_t, disable_caller,
                   "accepted as true only: lines name the component, not a caller"),
    PC_OPT_BOOLEAN("disable_stacktrace", "true", logs_cfg_t, disable_stacktrace,
                   "accepted as true only: profcol logs no stack traces"),
    PC_OPT_ANY("processors", logs_cfg_t, processors,
               "refused: profcol does not send its own logs anywhere"),
    PC_OPT_TABLE_END,
};

typedef struct {
  bool enabled;
  uint64_t tick_ms;
  int64_t initial, thereafter;
} sampling_cfg_t;

static const pc_opt_t sampling_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", sampling_cfg_t, enabled, "sample repeated lines"),
    PC_OPT_DUR("tick", "10s", sampling_cfg_t, tick_ms, 1, 3600000, "sampling period"),
    PC_OPT_INT_RANGE("initial", "10", sampling_cfg_t, initial, 0, 1000000,
                     "lines of one message written per tick before sampling"),
    PC_OPT_INT_RANGE("thereafter", "100", sampling_cfg_t, thereafter, 0, 1000000,
                     "then every thereafter-th (0: no more)"),
    PC_OPT_TABLE_END,
};

void pc_logs_free(pc_logs_t *l) {
  free(l->outputs);
  free(l->error_outputs);
  free(l->keys);
  free(l->values);
  *l = (pc_logs_t){0};
}

/* A list of output paths, each checked writable (without creating it). */
static int read_paths(const pc_cfg_node_t *list, const char ***out, size_t *n, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL) return 0;
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "expected a list of paths (stderr, stdout or "
                        "files)");
  *out = pc_xcalloc(list->n_items ? list->n_items : 1, sizeof **out);
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *item = list->items[i];
    if (item->type != PC_CFG_SCALAR || !item->text[0])
      return pc_cfg_error(err, item, PC_EINVAL, "expected a path (stderr, stdout or a file)");
    char why[200];
    if (pc_log_check_path(item->text, why, sizeof why))
      return pc_cfg_error(err, item, PC_EINVAL, "%s", why);
    (*out)[(*n)++] = item->text;
  }
  return 0;
}

static int read_fields(const pc_cfg_node_t *map, pc_logs_t *l, pc_err_t *err) {
  if (!map || map->type == PC_CFG_NULL) return 0;
  if (map->type != PC_CFG_MAP)
    return pc_cfg_error(err, map, PC_EINVAL, "expected a map of field names to values");
  l->keys = pc_xcalloc(map->n_entries ? map->n_entries : 1, sizeof *l->keys);
  l->values = pc_xcalloc(map->n_entries ? map->n_entries : 1, sizeof *l->values);
  for (size_t i = 0; i < map->n_entries; i++) {
    const pc_cfg_node_t *v = map->entries[i].value;
    if (v->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, v, PC_EINVAL, "expected a text value");
    l->keys[i] = map->entries[i].key;
    l->values[i] = v->text;
  }
  l->settings.n_fields = map->n_entries;
  return 0;
}

static int check_refused(const logs_cfg_t *c, const pc_cfg_node_t *node, pc_err_t *err) {
  int rc = 0;
  if (c->development)
    rc = pc_cfg_error(err, pc_cfg_get(node, "development"), PC_EINVAL,
                      "profcol has no development logging mode; remove the key or set false");
  if (!c->disable_caller)
    rc = pc_cfg_error(err, pc_cfg_get(node, "disable_caller"), PC_EINVAL,
                      "profcol's log lines name the component, never a caller: only true "
                      "(the default here) is possible");
  if (!c->disable_stacktrace)
    rc = pc_cfg_error(err, pc_cfg_get(node, "disable_stacktrace"), PC_EINVAL,
                      "profcol logs no stack traces: only true (the default here) is possible");
  if (c->processors && c->processors->type != PC_CFG_NULL)
    rc = pc_cfg_key_error(err, c->processors, PC_EINVAL,
                          "profcol does not send its own logs anywhere; it writes them to "
                          "output_paths");
  return rc;
}

/* Each check runs even after one failed, so that validate, which collects
 * every error (pc_cfg_collect_begin), reports them all. */
int pc_logs_read(const pc_cfg_node_t *node, pc_logs_t *l, pc_err_t *err) {
  *l = (pc_logs_t){0};
  logs_cfg_t c = {0};
  int rc = pc_cfg_apply(logs_opts, node, &c, err) ? PC_EINVAL : 0;
  int level = pc_log_level_parse(c.level);
  if (level < 0)
    rc = pc_cfg_error(err, pc_cfg_get(node, "level"), PC_EINVAL,
                      "expected debug, info, warn or error, got \"%s\"", c.level);
  l->settings.level = level < 0 ? PC_LOG_INFO : (pc_log_level_t)level;
  if (strcmp(c.encoding, "json") != 0 && strcmp(c.encoding, "console") != 0)
    rc = pc_cfg_error(err, pc_cfg_get(node, "encoding"), PC_EINVAL,
                      "expected console or json, got \"%s\"", c.encoding);
  l->settings.json = strcmp(c.encoding, "json") == 0;
  if (check_refused(&c, node, err)) rc = PC_EINVAL;
  if (read_paths(c.output_paths, &l->outputs, &l->settings.n_outputs, err)) rc = PC_EINVAL;
  if (read_paths(c.error_output_paths, &l->error_outputs, &l->settings.n_error_outputs, err))
    rc = PC_EINVAL;
  if (read_fields(c.initial_fields, l, err)) rc = PC_EINVAL;
  if (c.sampling && c.sampling->type != PC_CFG_NULL) {
    sampling_cfg_t sc = {0};
    if (pc_cfg_apply(sampling_opts, c.sampling, &sc, err)) rc = PC_EINVAL;
    l->settings.sampling = sc.enabled;
    l->settings.sampling_tick_ms = sc.tick_ms;
    l->settings.sampling_initial = (uint64_t)sc.initial;
    l->settings.sampling_thereafter = (uint64_t)sc.thereafter;
  }
  l->settings.outputs = l->outputs;
  l->settings.error_outputs = l->error_outputs;
  l->settings.field_keys = l->keys;
  l->settings.field_values = l->values;
  if (rc) pc_logs_free(l);
  return rc;
}
