/* logs.h - service.telemetry.logs read into the log writer's settings
 * (internal to service/; see logs.c for what is honoured and refused). */
#ifndef PC_SERVICE_LOGS_H
#define PC_SERVICE_LOGS_H

#include "../config/config.h"
#include "../core/log.h"

/* The settings and the arrays they point to (strings point into the
 * config tree: keep it while the settings are used). */
typedef struct {
  pc_log_settings_t settings;
  const char **outputs, **error_outputs, **keys, **values;
} pc_logs_t;

/* Read node (service.telemetry.logs, may be NULL: defaults) and check it,
 * output paths included (writable, not created): 0 or PC_EINVAL with err
 * at the config place. */
int pc_logs_read(const pc_cfg_node_t *node, pc_logs_t *l, pc_err_t *err);
void pc_logs_free(pc_logs_t *l);

#endif
