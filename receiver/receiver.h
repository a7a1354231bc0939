/* receiver.h - profcol's receivers: the OTLP/HTTP receiver (type "otlp").
 *
 * The receiver is a component (component/component.h): the service creates
 * it from its config node, starts it on a worker's loop, and it hands every
 * decoded request to the next consumer. This header adds what the service
 * needs beyond the component table: the listening port (for tests and logs,
 * since the endpoint may say port 0) and the counters for self-telemetry. */
#ifndef PC_RECEIVER_H
#define PC_RECEIVER_H

#include "../component/component.h"

extern const pc_component_t pc_receiver_otlp;
/* pprof profiles scraped, read from files or pushed (pprof.c). */
extern const pc_component_t pc_receiver_pprof;

/* Counters of one receiver instance, since it was created. Gauges are marked;
 * everything else only grows. */
#define PC_OTLP_STATS_MAP(X)                                                   \
  X(requests)            /* complete HTTP requests answered (any path/status) */ \
  X(requests_failed)     /* ... of which answered 4xx or 5xx */                 \
  X(profiles_accepted)   /* profiles taken by the pipeline (200) */             \
  X(profiles_refused)    /* profiles refused: partial success, 4xx/5xx after decode */ \
  X(samples_accepted)                                                           \
  X(samples_refused)                                                            \
  X(spans_accepted)      /* spans taken by the traces pipeline (200) */         \
  X(spans_refused)       /* spans of decoded traces requests it refused */      \
  X(bytes_in)            /* bytes read from sockets, headers included */       \
  X(bytes_decompressed)  /* request bodies after decompression */              \
  X(body_bytes_in_place) /* body bytes read straight into their buffer (no copy) */ \
  X(connections_open)    /* gauge */                                            \
  X(connections_total)   /* accepted and served */                              \
  X(connections_refused) /* closed at once: max_connections reached */       \
  X(tls_failed)          /* TLS: handshake failed or timed out, or bad records */ \
  X(requests_refused_early) /* refused at the headers: the pipeline was known full */

typedef struct {
#define PC_OTLP_STATS_FIELD(name) uint64_t name;
  PC_OTLP_STATS_MAP(PC_OTLP_STATS_FIELD)
#undef PC_OTLP_STATS_FIELD
} pc_otlp_stats_t;

/* A consistent-enough snapshot of the counters (each read is atomic; the set
 * is not). Safe from any thread while the instance exists. */
void pc_otlp_receiver_stats(void *self, pc_otlp_stats_t *out);

/* The TCP port the OTLP/HTTP listener is bound to after start (useful with
 * "endpoint: 127.0.0.1:0"), or 0 when it is not listening. */
int pc_otlp_receiver_port(void *self);

#endif
