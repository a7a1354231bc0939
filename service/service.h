/* service.h - the service: components from config, pipelines between them,
 * and their lifecycle on one libuv loop (internal to service/).
 *
 * Building a service validates the whole config first and reports every
 * problem at once (pc_errlist_t), like `otelcol validate`; nothing is started
 * until the config is known good. */
#ifndef PC_SERVICE_H
#define PC_SERVICE_H

#include "../component/component.h"

/* The registry: every component type profcol knows, by kind. find takes the
 * current name or the deprecated alias (the Collector's names before its
 * lower_snake_case renames). */
const pc_component_t *pc_registry_find(pc_kind_t kind, const char *type);
/* Every name of one kind, current names and aliases, for did-you-mean
 * hints; returns how many were written (at most cap). */
size_t pc_registry_names(pc_kind_t kind, const char **names, size_t cap);
/* NULL-terminated list of the types of one kind. */
const pc_component_t *const *pc_registry_list(pc_kind_t kind);
const char *pc_kind_name(pc_kind_t kind); /* "receiver", ... */
const char *pc_kind_section(pc_kind_t kind); /* "receivers", ... */

typedef struct pc_service pc_service_t;

/* Validate root and create every component (no I/O yet). NULL with errs
 * filled when the config has problems. */
pc_service_t *pc_service_create(const pc_cfg_node_t *root, pc_errlist_t *errs);
/* Another copy of a config pc_service_create took as primary, for another
 * worker: the same, without repeating its warnings, with instances of its
 * own except the per_process extensions (component.h), which it borrows
 * from primary (worker 0's copy) and holds until it is destroyed. */
pc_service_t *pc_service_create_replica(const pc_cfg_node_t *root, const pc_service_t *primary,
                                        pc_errlist_t *errs);
/* service.workers as resolved (auto: pc_cpus_usable()); 1 by default. */
uint32_t pc_service_workers(const pc_service_t *s);

/* The other workers' metrics for worker 0's endpoint: add them to m, on
 * worker 0's loop, then call done(ctx) once (maybe later). */
typedef void (*pc_service_gather_cb)(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx);
/* Before start: s runs as worker index (workers.c). Only worker 0 serves
 * the metrics endpoint; with gather set, it adds the other workers'
 * metrics to its page (summed: pc_metrics_merge). */
void pc_service_set_worker(pc_service_t *s, uint32_t index, pc_service_gather_cb gather,
                           void *arg);
/* Append every component's metrics to m, on s's loop (a scrape). */
void pc_service_collect(pc_service_t *s, pc_metrics_t *m);
/* Start exporters, then processors, then receivers on loop. */
int pc_service_start(pc_service_t *s, uv_loop_t *loop, pc_err_t *err);
/* Stop receivers first, then flush processors and drain exporters, within
 * deadline_ms; calls done once. */
void pc_service_shutdown(pc_service_t *s, uint64_t deadline_ms, pc_done_cb done, void *arg);
/* A reloaded config runs beside s and takes its place: components hear
 * PC_STATUS_REPLACED (health_check closes its listener) and the metrics
 * endpoint closes, so clients of the shared ports reach the new config.
 * Call before pc_service_shutdown(s, ...). */
void pc_service_replaced(pc_service_t *s);
void pc_service_destroy(pc_service_t *s);

/* service.shutdown_timeout in ms (default 30 s). */
uint64_t pc_service_shutdown_timeout_ms(const pc_service_t *s);

/* Memory given back when the process goes quiet after a burst (quiet.c):
 * on loop, trim(arg) is called at the end of each burst, then
 * malloc_trim(0). Stop (on the loop) closes and frees it. */
typedef struct pc_quiet pc_quiet_t;
typedef void (*pc_quiet_cb)(void *arg);
pc_quiet_t *pc_quiet_start(uv_loop_t *loop, pc_quiet_cb trim, void *arg);
void pc_quiet_stop(pc_quiet_t *q);

/* The built-in config used when no --config is given. */
extern const char pc_default_config[];

/* Commands, called from main.c's dispatch table. */
int pc_cmd_run(int argc, char **argv);
int pc_cmd_validate(int argc, char **argv);
int pc_cmd_components(int argc, char **argv);

#endif
