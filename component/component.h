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
 * the call: a consumer copies what it keeps. Only a component that declares
 * mutates (below) may change req in place.
 *
 * Besides its payload a request carries who sent it, not part of the data:
 * req->metadata, the client metadata (the request's headers or gRPC
 * metadata when the receiver's include_metadata is on), and
 * req->client_addr, the peer's IP address as text, which receivers always
 * set (the Collector's client.Info.Addr; k8s_attributes' `connection`
 * association reads it). Both describe the one client of one request: a
 * component that merges requests (batch) hands on neither, so whatever
 * reads them comes before it in the pipeline.
 *
 * A consumer that knows it is full may say so before any data comes (full,
 * below), so a receiver refuses a request at its headers instead of
 * reading and decoding a body only to have it refused.
 *
 * The host (host.h) is how a component finds the extensions its config
 * names: the service hands it to the resolve hook.
 *
 * Two optional hooks connect a component to the service's own state:
 * status (the service says when it is ready or draining: health_check
 * answers by it) and metrics (the component appends its counters for the
 * self-telemetry endpoint, so a new component exposes counters without the
 * service knowing its stats). */
#ifndef PC_COMPONENT_H
#define PC_COMPONENT_H

#include <string.h>
#include <uv.h>

#include "../config/config.h"
#include "../core/metrics.h"
#include "../pdata/pdata.h"
#include "host.h"

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

/* Whether a component id ("type" or "type/name") is of the given type, as
 * a component naming another one (auth.authenticator) asks. */
static inline bool pc_id_has_type(const char *id, const char *type) {
  size_t n = strlen(type);
  return strncmp(id, type, n) == 0 && (id[n] == 0 || id[n] == '/');
}

typedef struct pc_consumer pc_consumer_t;

struct pc_consumer {
  /* Take one decoded profiles request. */
  int (*consume_profiles)(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
  /* Optional: take one profiles request as a finished body (core.h:
   * protobuf, with a compressed variant for each of `encodings`, or
   * without them - a fan-out's bodies of a tree - when the consumer makes
   * what it needs, once per body: exporter/bodyjob.c), same contract as
   * consume_profiles. The body is immutable and shared: a consumer that
   * keeps it (or a variant) takes a reference. A producer that holds its
   * output encoded (the batch processor) calls this instead when it is
   * set: one encode and one compression per encoding serve every consumer.
   * Set it only where the bytes are all the consumer needs (exporters that
   * send or write protobuf). */
  int (*consume_encoded)(pc_consumer_t *self, pc_body_t *body, pc_err_t *err);
  /* Take one ExportTraceServiceRequest, decoded and validated (pdata/
   * traces.h), with the bytes it came in (tr->encoded, protobuf or JSON):
   * read-only, forwarded as they came; NULL when the consumer does not take
   * traces. Same contract as consume_profiles. */
  int (*consume_traces)(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err);
  /* Optional: the request's bytes as a finished body (core.h: body->traces,
   * its encoding as it came, body->json), shared and immutable as for
   * consume_encoded. A fan-out makes one body of a trace request for every
   * target that has this, so exporters that compress it alike compress it
   * once. Set it only where the bytes are all the consumer needs; consumers
   * that have it have consume_traces too. */
  int (*consume_traces_encoded)(pc_consumer_t *self, pc_body_t *body, pc_err_t *err);
  /* Seconds a refused client should wait (Retry-After) after PC_EAGAIN. */
  uint32_t retry_after_s;
  /* For producers of bodies: the variants this consumer sends (1 <<
   * pc_body_variant each, 1 << pc_encoding_t at the default levels; the
   * body must carry those), and the
   * largest body it takes, protobuf bytes before compression (0: no
   * limit). A fan-out states the union and the smallest limit of its
   * consumers, so the batch is split before it is encoded. */
  unsigned encodings;
  uint64_t max_body;
  /* Optional: whether consume_profiles would now refuse any request with
   * PC_EAGAIN, known without the request. Receivers ask at a request's
   * headers (OTLP/HTTP before reading the body, gRPC at HEADERS) and
   * refuse it at once (503 with Retry-After, UNAVAILABLE with RetryInfo),
   * sparing the read and the decode of data that would be refused. true
   * means the request is refused: fill err as consume would (the client
   * hears why) and count it as consume would have. The consumer may use
   * the call to push held data on, as a consume does.
   * On the loop thread. NULL: never known in advance.
   * A consumer answers for itself, and, when it holds what it takes and
   * hands it on later (`holds`, batch), for everything after it, whose
   * fullness reaches it rather than the producer. For one that hands each
   * request on while consume runs, the consumers after it must be asked
   * too: the service's fan-out in front of each pipeline does that walk,
   * stage by stage up to the first that holds, so a receiver asks its own
   * next consumer only. */
  bool (*full)(pc_consumer_t *self, pc_err_t *err);
  bool holds;
};

/* What a component's create gets. */
typedef struct {
  const char *id;            /* "type" or "type/name" */
  const pc_cfg_node_t *cfg;  /* its config node (may be NULL: all defaults) */
  pc_consumer_t *next;       /* receivers and processors: where data goes */
  pc_signal_t signals;       /* signals of the pipelines it is in */
} pc_create_args_t;

typedef void (*pc_done_cb)(void *arg);

/* The state of the service a component runs in, as its status hook hears
 * it. A service starts in PC_STATUS_STARTING. */
typedef enum {
  PC_STATUS_STARTING, /* created; components are being started */
  PC_STATUS_READY,    /* every component started: data flows */
  PC_STATUS_DRAINING, /* stopping (SIGTERM, SIGINT): receivers closed, queues draining */
  PC_STATUS_REPLACED, /* a reloaded config (SIGHUP) runs beside it and took its place;
                       * it drains behind the new one. Listeners that both share
                       * (SO_REUSEPORT) should close now so clients reach the new one. */
} pc_status_t;

typedef struct pc_component {
  const char *type; /* the Collector's current name (lower_snake_case) */
  /* The name it had before the Collector's 2026 renames ("otlphttp" for
   * otlp_http), still accepted in configs with a deprecation warning, or
   * NULL. */
  const char *deprecated_alias;
  pc_kind_t kind;
  pc_signal_t signals; /* signals it supports */
  /* Edits the data it consumes in place (the Collector's MutatesData): the
   * fan-out then gives it a copy of its own when others read the same
   * request. Components that only read leave it false. */
  bool mutates;
  /* Extensions: one instance for the whole process however many workers
   * run (service.workers), for state that must be shared between them
   * (the span store). Worker 0's copy of the config creates, resolves,
   * starts, shuts down and reports (metrics, status) it, on worker 0's
   * loop; the other workers' copies only find it through the host, so its
   * role interfaces must be callable from any thread. It is destroyed with
   * the last copy of the config that holds it, on that copy's thread. */
  bool per_process;
  const char *stability;
  const pc_opt_t *options; /* its config keys, for --help and docs (may be NULL) */
  /* Allocate an instance from its config; report config errors in err with
   * the node's file:line:col. Returns NULL on error. */
  void *(*create)(const pc_create_args_t *args, pc_err_t *err);
  /* Processors and exporters: the consumer that feeds this instance. */
  pc_consumer_t *(*consumer)(void *self);
  /* Optional. Find the extensions the config names (host.h), after every
   * component was created and before any starts, in validate as in a run;
   * err says which key names what is missing or of the wrong role, with
   * its file:line:col. A component that was not resolved (tests, a failed
   * resolve) refuses to start when it names an extension. */
  int (*resolve)(void *self, const pc_host_t *host, pc_err_t *err);
  int (*start)(void *self, uv_loop_t *loop, pc_err_t *err);
  /* Stop taking new work and drain until deadline_ms (uv_now() based); call
   * done(arg) once all is flushed or given up. */
  void (*shutdown)(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg);
  void (*destroy)(void *self);
  /* Optional. The service's state changed (on the loop, between start and
   * destroy; READY comes after every start, DRAINING or REPLACED before any
   * shutdown). */
  void (*status)(void *self, pc_status_t status);
  /* Optional. Append this instance's counters to m (core/metrics.h) for the
   * self-telemetry endpoint. The service has set the scope that names the
   * instance (receiver="otlp"; processors also pipeline="profiles"): add
   * only labels of your own. On the loop thread, between create and
   * destroy (possibly before start: report zeros). Use the Collector's
   * metric names (otelcol_*) where one means the same, profcol_* else. */
  void (*metrics)(void *self, pc_metrics_t *m);
  /* Optional. The process went quiet after a burst (service/quiet.c): free
   * what is kept only to spare the next requests a malloc (spare buffers,
   * jobs, builders), which the burst sized to its largest requests. Nothing
   * held for data still in flight. On the loop thread, between start and
   * shutdown. */
  void (*trim)(void *self);
  /* Extensions, optional: the interface this instance offers in role
   * (host.h), or NULL. Valid from create to destroy. */
  const void *(*role)(void *self, pc_role_t role);
} pc_component_t;

#endif
