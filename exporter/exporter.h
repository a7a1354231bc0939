/* exporter.h - the exporter components, for the registry in service/, plus
 * the counters an exporter exposes for self-telemetry. */
#ifndef PC_EXPORTER_H
#define PC_EXPORTER_H

#include "../component/component.h"

extern const pc_component_t pc_exporter_debug;
extern const pc_component_t pc_exporter_otlphttp;
extern const pc_component_t pc_exporter_otlp; /* otlp_grpc */
extern const pc_component_t pc_exporter_file;
extern const pc_component_t pc_exporter_nop;
extern const pc_component_t pc_exporter_load_balancing;

/* Counters of one otlp_http or otlp_grpc instance (its send module) since it
 * was created. A batch is one request body; bytes are compressed bytes as
 * sent. */
typedef struct {
  uint64_t sent_batches, sent_profiles, sent_bytes; /* answered 2xx */
  uint64_t rejected_profiles, rejected_spans;      /* partial_success: refused by the backend */
  uint64_t failed_attempts;                        /* tries answered with an error or cut off */
  uint64_t retries;                                /* tries scheduled after a failure */
  uint64_t dropped_batches, dropped_profiles;      /* permanent error or retries exhausted */
  uint64_t refused_batches;                        /* consume said PC_EAGAIN (queue full) */
  uint64_t lost_batches, lost_profiles;            /* in-memory queue: undelivered at shutdown */
  uint64_t queue_batches, queue_bytes;             /* held now: waiting plus in flight */
  uint64_t queue_capacity_batches;                 /* sending_queue.queue_size (or num_consumers
                                                    * without a queue) */
  uint64_t queue_capacity_bytes;                   /* sending_queue.max_bytes */
  uint64_t queue_disk_bytes;                       /* persistent queue: bytes in its files */
  uint64_t in_flight;                              /* requests being sent or waiting to retry */
  uint64_t replayed_batches;                       /* read back from disk at start */
  uint64_t corrupt_files;                          /* damaged queue files set aside */
  uint64_t rerouted_batches;                       /* retired (load_balancing): handed back
                                                    * and routed to another backend */
} pc_otlphttp_stats_t;

/* Fill out from an otlp_http or otlp_grpc instance (what its create returned). The counters
 * are plain integers owned by the instance's loop: call this on that thread. */
int pc_otlphttp_stats(const void *instance, pc_otlphttp_stats_t *out);

#endif
