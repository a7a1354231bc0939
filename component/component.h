/* component.h - the contract between profcol's components and the service.
 *
 * A component (receiver, processor, exporter, extension) is one static
 * pc_component_t of callbacks, registered in service/registry.c. Ids are
 * "type" or "type/name", as in the OpenTelemetry Collector.
 *
 * Lifecycle: create (parse + validate config, allocate; no I/O) -> start (on
 * the worker's loop) -> shutdown (stop taking work, drain until the deadline,
 * then call done exactly once) -> destroy (free). shutdown is safe without
 * start and safe twice.
 *
 * Data moves downstream through pc_consumer_t, synchronously: consume returns
 * 0 once the data is safely held (in a batch, a queue, or written out), so the
 * receiver may acknowledge; PC_EAGAIN when the consumer is full (the receiver
 * answers 503/429 with Retry-After); any other negative code is a permanent
 * refusal (the receiver answers 400/500 with err's message). The request, its
 * arena and its input buffer belong to the caller and are valid only during
 * the call: a consumer copies what it keeps. Mutating consumers (processors
 * that edit attributes) may change req in place. */
#ifndef PC_COMPONENT_H
#define PC_COMPONENT_H

#include <uv.h>

#include "../config/config.h"
#include "../pdata/pdata.h"

typedef enum {
  PC_RECEIVER,
  PC_PROCESSOR,
  PC_EXPORTER,
  PC_EXTENSION,
} pc_kind_t;

typedef enum {
  PC_SIGNAL_PROFILES = 1 << 0,
  PC_SIGNAL_TRACES = 1 << 1,
} pc_signal_t;

typedef struct pc_consumer pc_consumer_t;

struct pc_consumer {
  /* Take one decoded profiles request. */
  int (*consume_profiles)(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
  /* Take one ExportTraceServiceRequest, still encoded (protobuf, or JSON when
   * json is true); NULL when the consumer does not take traces. */
  int (*consume_traces)(pc_consumer_t *self, const uint8_t *body, size_t n, bool json,
                        pc_err_t *err);
  /* Seconds a refused client should wait (Retry-After) after PC_EAGAIN. */
  uint32_t retry_after_s;
};

/* What a component's create gets. */
typedef struct {
  const char *id;            /* "type" or "type/name" */
  const pc_cfg_node_t *cfg;  /* its config node (may be NULL: all defaults) */
  pc_consumer_t *next;       /* receivers and processors: where data goes */
  pc_signal_t signals;       /* signals of the pipelines it is in */
} pc_create_args_t;

typedef void (*pc_done_cb)(void *arg);

typedef struct pc_component {
  const char *type;
  pc_kind_t kind;
  pc_signal_t signals; /* signals it supports */
  const char *stability;
  const pc_opt_t *options; /* its config keys, for --help and docs (may be NULL) */
  /* Allocate an instance from its config; report config errors in err with
   * the node's file:line:col. Returns NULL on error. */
  void *(*create)(const pc_create_args_t *args, pc_err_t *err);
  /* Processors and exporters: the consumer that feeds this instance. */
  pc_consumer_t *(*consumer)(void *self);
  int (*start)(void *self, uv_loop_t *loop, pc_err_t *err);
  /* Stop taking new work and drain until deadline_ms (uv_now() based); call
   * done(arg) once all is flushed or given up. */
  void (*shutdown)(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg);
  void (*destroy)(void *self);
} pc_component_t;

#endif
