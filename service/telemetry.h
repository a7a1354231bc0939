/* telemetry.h - service.telemetry.metrics: profcol's own counters as
 * Prometheus text at GET /metrics (internal to service/).
 *
 * The service owns one pc_telemetry_t: created (config checked) with the
 * service, started before any component, closed after every component has
 * drained, so the endpoint shows a drain to its end. What it serves comes
 * from the process (uptime, RSS, CPU) and from the collect callback, which
 * asks every component instance for its metrics. */
#ifndef PC_SERVICE_TELEMETRY_H
#define PC_SERVICE_TELEMETRY_H

#include "service.h"

typedef struct pc_telemetry pc_telemetry_t;

/* Append the components' metrics to m. */
typedef void (*pc_telemetry_collect_cb)(void *arg, pc_metrics_t *m);

/* Read service.telemetry (the node may be NULL: defaults). NULL with
 * errors added to errs when the metrics settings are wrong. */
pc_telemetry_t *pc_telemetry_create(const pc_cfg_node_t *telemetry, pc_errlist_t *errs);
/* Listen (unless level is none). A failure on the default address, which
 * the config did not ask for, is a warning (another process, such as a
 * second profcol or Collector on the host, may hold it); on an address set
 * in the config it is an error. */
int pc_telemetry_start(pc_telemetry_t *t, uv_loop_t *loop, pc_telemetry_collect_cb collect,
                       void *arg, pc_err_t *err);
/* service.workers: after the collect callback, a scrape hands m to gather,
 * which adds the other workers' metrics and calls done(ctx) once; the page
 * is answered then. NULL: answer at once. Before start. */
void pc_telemetry_set_gather(pc_telemetry_t *t,
                             void (*gather)(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx),
                             void *arg);
/* The running config's span_store serves the trace query API at
 * http(s)://host:port (host as configured: empty, 0.0.0.0 or :: for every
 * interface; port as bound): GET /api/v1/traces... here is redirected
 * there (307), as the spec places that API on this server. Without a call
 * such requests get a 404 that says where the API lives. The data is never
 * served here: this port has no auth. */
void pc_telemetry_set_query_api(pc_telemetry_t *t, bool tls, const char *host, int port);
/* Stop serving; done(arg) once the listener and connections are closed.
 * Safe before start and safe twice. */
void pc_telemetry_close(pc_telemetry_t *t, uint64_t deadline_ms, pc_done_cb done, void *arg);
void pc_telemetry_destroy(pc_telemetry_t *t);

#endif
