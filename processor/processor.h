/* processor.h - profcol's processors, each one static pc_component_t.
 *
 * batch: merges requests into one batch per instance (one dictionary, each
 *   entry once; pdata/intern.h) and hands it on when it reaches
 *   send_batch_size samples, when timeout passes, and at shutdown. Keys and
 *   defaults as in the Collector's batch processor (send_batch_size 8192,
 *   send_batch_max_size 0 = no cap, timeout 200ms; sizes count samples) plus
 *   profcol's send_batch_max_bytes, default 8MiB: a cap on the batch's
 *   protobuf size (an upper estimate), well under the 64 MiB an OTLP server
 *   takes by default. While it fills, a batch's builder holds about 1.9x
 *   its encoding (bench/bench_merge). Handing it on to exporters that send
 *   protobuf (otlphttp and otlp without json, file in proto format, nop)
 *   gives them its encoding, 1.0x more: about 25 MB at the cap; any other
 *   next consumer gets a tree, which decodes the samples, about 1.7x
 *   more: about 30 MB at the cap. When
 *   the next consumer answers PC_EAGAIN the batch is kept and retried on
 *   the timer, and new data is refused with PC_EAGAIN meanwhile: nothing
 *   acknowledged is dropped.
 * dedup: rebuilds each request's dictionary (every entry once, unreferenced
 *   entries dropped) and passes it on, for pipelines without batch.
 * resource: the Collector's attribute actions (insert, update, upsert,
 *   delete, hash, extract, convert; attraction.c) on resource attributes.
 * attributes: the same actions on sample attributes (the dictionary's
 *   attribute table, edited by interning), with include/exclude.
 * resource_detection: adds what the env and system detectors found at start
 *   to every resource (override or only missing keys).
 * k8s_attributes: adds the metadata of the pod each resource (and each
 *   sample, splitting resources by pod) comes from, from a cache kept by
 *   listing and watching the Kubernetes API (k8s.h).
 * memory_limiter: refuses data (PC_EAGAIN: 503, UNAVAILABLE) while the
 *   process's resident set size is above limit - spike_limit, measured
 *   every check_interval; first in a pipeline, as in the Collector.
 * trace_link: in traces pipelines records spans in the span store (an
 *   extension found through the host); in profiles pipelines normalizes
 *   sample links, links samples by thread (optional), gives linked samples
 *   their span's names as attributes and keeps them for the query API
 *   (trace_link.c). */
#ifndef PC_PROCESSOR_H
#define PC_PROCESSOR_H

#include "../component/component.h"

extern const pc_component_t pc_processor_batch;
extern const pc_component_t pc_processor_dedup;
extern const pc_component_t pc_processor_memory_limiter;
extern const pc_component_t pc_processor_resource;
extern const pc_component_t pc_processor_attributes;
extern const pc_component_t pc_processor_resource_detection;
extern const pc_component_t pc_processor_k8s_attributes;
extern const pc_component_t pc_processor_trace_link;

/* A memory_limiter instance's soft limit in bytes (limit - spike limit):
 * the service derives its default request memory budget from it. */
uint64_t pc_memory_limiter_soft_limit(const void *self);

#endif
