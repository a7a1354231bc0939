/* internal.h - what the span_store extension's files share (spans.c, the
 * table of recent spans; linked.c, the window of linked profiles;
 * trace_query.c, the query API), exposed to tests and bench/ as well.
 *
 * Not a public header: only extension/, tests/ and bench/ include it. */
#ifndef PC_EXTENSION_INTERNAL_H
#define PC_EXTENSION_INTERNAL_H

#include "../component/component.h"

/* ---- recent spans (spans.c) ------------------------------------------------------
 * The table behind pc_span_store_t's span calls: spans by (trace_id,
 * span_id) and by (process, thread), kept in arrival order and evicted
 * oldest first once older than window_ms (by arrival) or when the table's
 * memory would pass max_bytes. The table is striped by trace id: each stripe
 * has its own lock, ring, indices and strings, and a max_bytes / stripes
 * share of the memory, so writers and readers of different traces do not
 * wait for each other, and every span of a trace is in one stripe (a walk
 * up its parents takes one lock).
 *
 * Memory per span: 80 bytes in its stripe's ring plus a 4-byte bucket in
 * each of two hash indices (the ring is grown by doubling, up to what the
 * budget allows), plus its name and service, interned per stripe (one copy
 * per distinct string, with a reference count). Lookups are O(1) expected.
 *
 * Clock: every call takes now_ms, a monotonic millisecond clock of the
 * caller's (uv_now, pc_now_ms); tests pass their own. Spans are expired by it
 * in the calls that touch a stripe, and by pc_spans_expire. */
typedef struct pc_spans pc_spans_t;

typedef struct {
  uint64_t window_ms; /* 1 ms .. 24 h */
  uint64_t max_bytes; /* every byte the table holds, strings included */
  unsigned stripes;   /* a power of two, 1 .. 256; 0: 16 */
} pc_spans_cfg_t;

typedef struct {
  uint64_t spans;          /* held now */
  uint64_t bytes;          /* memory held now: rings, indices, strings */
  uint64_t string_bytes;   /* of which names and services */
  uint64_t added;          /* spans recorded */
  uint64_t skipped;        /* spans without a usable trace_id and span_id */
  uint64_t evicted_window; /* dropped for being older than the window */
  uint64_t evicted_memory; /* dropped early, to stay under max_bytes */
  uint64_t lookups, found; /* find calls, and those that found the span */
} pc_spans_stats_t;

pc_spans_t *pc_spans_new(const pc_spans_cfg_t *cfg);
void pc_spans_free(pc_spans_t *s);
/* Record the spans of tr (pc_span_store_t.add_spans). */
void pc_spans_add(pc_spans_t *s, const pc_traces_t *tr, uint64_t now_ms);
/* pc_span_store_t.find. */
bool pc_spans_find(pc_spans_t *s, const uint8_t trace_id[16], const uint8_t span_id[8],
                   uint64_t now_ms, pc_span_rec_t *span, pc_span_rec_t *local_root,
                   pc_span_rec_t *top);
/* pc_span_store_t.on_thread. A thread's spans are looked for among the
 * SPANS_THREAD_WALK most recently received of its index bucket per stripe:
 * enough for a busy thread's last minutes, and a bound on the work. */
#define SPANS_THREAD_WALK 4096
size_t pc_spans_on_thread(pc_spans_t *s, uint32_t pid, uint32_t tid, uint64_t from_unix_nano,
                          uint64_t to_unix_nano, uint64_t now_ms, pc_thread_span_t *out,
                          size_t cap);
/* Drop what is older than the window (a timer calls it, so memory is given
 * back without traffic). */
void pc_spans_expire(pc_spans_t *s, uint64_t now_ms);
void pc_spans_stats(pc_spans_t *s, pc_spans_stats_t *st);

#endif
