/* metrics.h - a small Prometheus text-exposition writer (format 0.0.4) for
 * profcol's self-telemetry.
 *
 * The one idea: whoever owns counters adds samples to a pc_metrics_t in any
 * order, and pc_metrics_render groups them into families (one # HELP and
 * one # TYPE per metric name, its samples together), which the format
 * requires and which lets several instances of a component report the same
 * metric name side by side.
 *
 * Labels are key/value pairs ending with NULL. A scope (pc_metrics_scope)
 * gives labels that every following sample gets first, so the service can
 * name the instance (receiver="otlp") and a component adds only its own
 * (transport="http"). Label values are escaped; names, keys and help texts
 * are the caller's string literals (kept by pointer, never escaped: they
 * must already be valid, [a-zA-Z_:][a-zA-Z0-9_:]* for names).
 *
 * Memory: everything added is owned by m until pc_metrics_free. Allocation
 * failures abort (pc_oom): a page of metrics is small. */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include "core.h"

typedef enum { PC_METRIC_COUNTER, PC_METRIC_GAUGE, PC_METRIC_HISTOGRAM } pc_metric_type_t;

typedef struct pc_metrics pc_metrics_t;

pc_metrics_t *pc_metrics_new(void);
void pc_metrics_free(pc_metrics_t *m);

/* Labels every following sample starts with (replacing the previous
 * scope); pc_metrics_scope(m, NULL) clears it. */
void pc_metrics_scope(pc_metrics_t *m, ...) __attribute__((sentinel));

/* A counter (only grows; resets only when the process or a reload does). */
void pc_metrics_counter(pc_metrics_t *m, const char *name, const char *help, double value, ...)
    __attribute__((sentinel));
/* A gauge (goes up and down). */
void pc_metrics_gauge(pc_metrics_t *m, const char *name, const char *help, double value, ...)
    __attribute__((sentinel));
/* A histogram: n ascending upper bounds, and n + 1 counts per bucket (not
 * cumulative; the last one is above every bound), and the sum of the
 * observed values. Rendered as name_bucket{le=...}, name_sum, name_count. */
void pc_metrics_histogram(pc_metrics_t *m, const char *name, const char *help,
                          const double *bounds, const uint64_t *counts, size_t n, double sum,
                          ...) __attribute__((sentinel));

/* Add src's samples to dst, for service.workers: a sample with the same
 * name and labels as one of dst's is added to it (counters and gauges alike:
 * queue sizes, open connections and the like are the process's when summed
 * over its workers), the others are appended. Names and help texts are kept
 * by pointer, as everywhere here. */
void pc_metrics_merge(pc_metrics_t *dst, const pc_metrics_t *src);

/* Append the exposition text (families in the order first added) to out.
 * PC_ENOMEM when out cannot grow. */
int pc_metrics_render(const pc_metrics_t *m, pc_buf_t *out);

/* The Content-Type of the rendered text. */
#define PC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
