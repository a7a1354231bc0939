/* workers.h - running a config: signals, reload, drain, and service.workers
 * (internal to service/; workers.c).
 *
 * A process runs N workers (service.workers, default 1). Worker 0 runs on
 * the caller's loop, in the caller's thread, which also takes the signals;
 * workers 1..N-1 each run a loop of their own in a thread of their own.
 * Every worker runs its own copy of the config (pc_service_t: listeners,
 * pipelines, batches, exporter queues), built from the same parsed config
 * and started on its loop, so nothing on the hot path is shared: a request
 * is received, decoded, batched and sent by the worker whose socket the
 * kernel gave the connection to (SO_REUSEPORT, httpd/listen.c).
 *
 * What workers share, and only through these interfaces:
 *   - the parsed config of a generation (read-only; freed with its last
 *     service);
 *   - the listening-socket registry (httpd/listen.c, a mutex taken at start
 *     and reload only);
 *   - libuv's thread pool (big decodes, batch encodes and compression; its
 *     queue has one mutex, taken once per job of a few hundred us or more);
 *   - process-wide counters (atomics: body compressions) and the log (a
 *     mutex per line written; nothing is logged per request at info);
 *   - the metrics endpoint: worker 0's, which asks the others for their
 *     metrics on their own loops at each scrape and sums them
 *     (pc_metrics_merge), so no counter is read across threads;
 *   - this file's mailboxes: one mutex and one uv_async per worker, used
 *     for start, reload, stop and scrapes only;
 *   - the per_process extensions (component.h: the span store): worker 0's
 *     copy of the config creates and runs them, the others' borrow them
 *     (pc_service_create_replica), and their role interfaces lock what
 *     they touch (component/host.h says how, per role).
 *
 * Signals (worker 0's loop): SIGTERM and SIGINT drain every worker within
 * service.shutdown_timeout, each its own pipelines; the process exits once
 * all have drained. SIGHUP builds the new config once per worker (through
 * the build callback, on worker 0's thread) and each worker starts its copy
 * beside the running one and drains the old one, as with one worker; a
 * config that does not build leaves every worker as it is. service.workers
 * itself only changes at a restart. */
#ifndef PC_SERVICE_WORKERS_H
#define PC_SERVICE_WORKERS_H

#include "service.h"

/* Build n copies of the config to run (svc[0] with warnings, the others as
 * replicas). 0 with *cfg and svc[0..n) filled, or nonzero (errors printed). */
typedef int (*pc_workers_build_cb)(void *arg, uint32_t n, pc_cfg_t **cfg, pc_service_t **svc);

/* Run the config (cfg and the n services built from it, all taken) until a
 * signal has drained it: 0, or 1 when it could not start. */
int pc_workers_run(uv_loop_t *loop, pc_cfg_t *cfg, pc_service_t **svc, uint32_t n,
                   pc_workers_build_cb build, void *build_arg);

#endif
