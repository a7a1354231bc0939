/* internal.h - what the span_store extension's files share (spans.c, the
 * table of recent spans; linked.c, the window of linked profiles;
 * trace_query.c, the query API), exposed to tests and bench/ as well.
 *
 * Not a public header: only extension/, tests/ and bench/ include it. */
#ifndef PC_EXTENSION_INTERNAL_H
#define PC_EXTENSION_INTERNAL_H

#include "../component/component.h"
#include "../httpd/httpd.h"

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
 * Memory per span: 76 bytes in its stripe's ring (a 64-byte record and 12
 * bytes of process, thread and thread chain), 10 bytes of id index (8-byte
 * entries, open addressing at a load of at most 0.8) and a 4-byte thread
 * bucket (the ring is grown by doubling, up to what the budget allows),
 * plus its name and service, interned per stripe (one copy per distinct
 * string, with a reference count). Lookups are O(1) expected: one probe
 * run of the id index and one record.
 * A span received again (same trace_id and span_id) is updated in place,
 * not stored twice.
 *
 * Clock: every call takes now_ms, a monotonic millisecond clock of the
 * caller's (uv_now, pc_now_ms); tests pass their own. Spans are expired by it
 * in the calls that touch a stripe, and by pc_spans_expire. A now_ms older
 * than the newest a stripe has seen counts as that one: callers on several
 * threads read the clock before they take a stripe's lock. */
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
  uint64_t duplicates;     /* spans received again: updated in place */
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
/* pc_span_store_t.find_many: keys are links with 16- and 8-byte ids. */
void pc_spans_find_many(pc_spans_t *s, const pc_link_t *keys, size_t n, uint64_t now_ms,
                        pc_span_rec_t *spans, pc_span_rec_t *local_roots, bool *found);
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

/* ---- recent linked profiles (linked.c) -------------------------------------------
 * The window behind pc_span_store_t.add_profiles: the samples linked to a
 * span, merged into chunks (one dictionary each) and sealed into their
 * protobuf encoding, dropped whole and oldest first once older than
 * window_ms or to stay under max_bytes; and an index by trace id. The
 * window is in shards (one per adding thread, up to cfg.shards), each with
 * its own mutex: pc_linked_add takes its thread's, any thread; a request
 * with its bytes has its samples counted and the bytes taken (by reference
 * when its receiver lends them, else a copy) before the lock, a tree
 * without bytes is merged under it; queries and expiry take each shard's
 * in turn (the listing all of them, in order), and merge what they find;
 * queries decode outside the lock, from chunks they hold by reference.
 * Clock: now_ms as for the spans; a now_ms older than the newest one the
 * window has seen counts as that one (threads read the clock before they
 * take the lock). */
typedef struct pc_linked pc_linked_t;

typedef struct {
  uint64_t window_ms;
  uint64_t max_bytes; /* chunks, the open chunks' builders, the indexes: all shards */
  uint32_t shards;    /* 0: one per usable CPU; at most 64, and one per 4 MiB of max_bytes */
} pc_linked_cfg_t;

typedef struct {
  uint64_t traces;          /* traces with linked samples held now (once per shard) */
  uint64_t samples;         /* linked samples held now */
  uint64_t chunks;          /* chunks held now, the open one included */
  uint64_t bytes;           /* memory held now */
  uint64_t added_samples;   /* linked samples taken */
  uint64_t dropped_samples; /* ... lost for lack of memory while merging */
  uint64_t evicted_window;  /* chunks dropped for age */
  uint64_t evicted_memory;  /* chunks dropped early, for max_bytes */
  uint64_t kept_bytes;      /* requests' bytes kept by reference (their receiver's buffer) */
  uint64_t copied_bytes;    /* requests' bytes copied (no buffer lent, or one much larger) */
} pc_linked_stats_t;

pc_linked_t *pc_linked_new(const pc_linked_cfg_t *cfg);
void pc_linked_free(pc_linked_t *w);
/* Keep the linked samples of req (validated; links of wrong sizes are
 * skipped). */
void pc_linked_add(pc_linked_t *w, const pc_request_t *req, uint64_t now_ms);
void pc_linked_expire(pc_linked_t *w, uint64_t now_ms);
void pc_linked_stats(pc_linked_t *w, pc_linked_stats_t *st);

/* What a query reads: the chunks holding samples of one trace, decoded
 * (other traces' samples are in them too: select by link). */
typedef struct {
  const pc_request_t **reqs;
  size_t n_reqs;
  uint64_t samples; /* the trace's linked samples among them (select_all: all) */
  size_t skipped_chunks; /* select_all: older chunks left out for max_bytes */
  /* held until pc_linked_sel_free */
  void **chunks;
  size_t n_chunks;
  pc_arena_t *arena;
} pc_linked_sel_t;

/* Fill sel for trace_id (n_reqs 0: nothing recent). 0, or PC_ENOMEM when
 * decoding runs out of memory. Free sel in any case. */
int pc_linked_select(pc_linked_t *w, const uint8_t trace_id[16], uint64_t now_ms,
                     pc_linked_sel_t *sel, pc_err_t *err);
/* Fill sel with the whole window (every trace's samples): the newest
 * chunks whose encodings add up to at most max_bytes (at least the newest
 * one), so a query of a big window stays bounded; sel->skipped_chunks
 * says how many older ones were left out. 0 or PC_ENOMEM; free sel in any
 * case. */
int pc_linked_select_all(pc_linked_t *w, uint64_t now_ms, uint64_t max_bytes,
                         pc_linked_sel_t *sel, pc_err_t *err);
void pc_linked_sel_free(pc_linked_sel_t *sel);

#define PC_LINKED_SERVICE_MAX 64

/* One trace of the index, as the listing sees it. */
typedef struct {
  uint8_t trace_id[16];
  uint8_t span_id[8]; /* a span its samples are linked to (the first seen) */
  uint8_t service_n;
  char service[PC_LINKED_SERVICE_MAX]; /* service.name of its first profile's resource */
  uint64_t samples;
  uint64_t first_ms, last_ms; /* arrival of its first and last samples */
} pc_linked_trace_t;

/* Traces by last arrival, newest first: each is passed to keep (NULL:
 * keep all; called with the window locked, so it may not call back into
 * it) and those kept are written to out, at most limit. Returns how many. */
size_t pc_linked_list(pc_linked_t *w, uint64_t now_ms, size_t limit,
                      bool (*keep)(void *ud, const pc_linked_trace_t *t), void *ud,
                      pc_linked_trace_t *out);

/* ---- the query API (trace_query.c) -------------------------------------------------
 * GET /api/v1/traces/{trace_id}/profile and GET /api/v1/traces, answered
 * from the spans and the window (shared/spec/OTLP-PROFILES.md section 6);
 * the span_store extension serves them on its HTTP server. */
typedef struct {
  pc_spans_t *spans;
  pc_linked_t *linked;
  uint64_t window_ms; /* the linked profiles' window, for messages */
  uint64_t max_query_bytes; /* of the window one service query reads */
  uint64_t now_ms;    /* the monotonic clock of the tables */
  uint64_t wall_ms;   /* the same moment in unix milliseconds */
} pc__query_t;

/* At the headers: 0 when the path and method are the query API's, else the
 * status with resp filled (404, 405). */
int pc__query_route(const pc_http_request_t *r, pc_http_response_t *resp);
/* The answer to a whole request (the Accept header is read from
 * r->headers: serve with keep_headers). */
void pc__query_answer(const pc__query_t *qy, const pc_http_request_t *r,
                      pc_http_response_t *resp);

/* ---- the flame graph page (ui.c) ----------------------------------------------------
 * The page's embedded files (ui/assets.h) under /ui/, on the query API's
 * server when the span_store's ui.enabled is on. */

/* Whether this build embeds the page (not meson -Dui=disabled). */
bool pc__ui_available(void);
/* Its weight: gzip'd bytes embedded. */
size_t pc__ui_bytes(void);
/* Whether a path is the page's: "/ui" or under "/ui/". */
bool pc__ui_path(pc_str_t path);
/* The answer to a request for one of its files (GET or HEAD). */
void pc__ui_answer(const pc_http_request_t *r, pc_http_response_t *resp);

#endif
