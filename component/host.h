/* host.h - what a component asks of the service it runs in: the extensions
 * its config names, by id and role (the Collector's component.Host).
 *
 * A role is a contract an extension may offer: a server authenticator that
 * receivers check requests with, client headers that exporters add to what
 * they send, a storage that persistent queues live in. An extension offers
 * a role through its component's `role` hook, which returns the role's
 * interface (one of the structs below) or NULL. Roles are an open set: a new
 * one is a new constant, its interface struct and a row in host.c's name
 * table; neither the host nor the service changes.
 *
 * When: the service creates extensions first, then every other component,
 * and then calls each component's `resolve` hook with the host, in `profcol
 * validate` as in a run, so that a name that is not there, not started or
 * of the wrong kind is a config error with the file:line:col of the key
 * that names it, before anything starts. What resolve gets stays valid until
 * the component is destroyed: extensions are destroyed last.
 *
 * Threads: the host is read-only once built; the interfaces are read-only
 * after their extension's create, and callable from any thread. */
#ifndef PC_HOST_H
#define PC_HOST_H

#include <stdbool.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../pdata/traces.h"

typedef enum {
  PC_ROLE_SERVER_AUTH = 1, /* pc_server_auth_t */
  PC_ROLE_CLIENT_AUTH,     /* pc_client_auth_t */
  PC_ROLE_STORAGE,         /* pc_storage_t */
  PC_ROLE_SPAN_STORE,      /* pc_span_store_t */
} pc_role_t;

/* "a server authenticator (bearertokenauth)", ..., for messages. */
const char *pc_role_name(pc_role_t role);

/* ---- the roles' interfaces ---------------------------------------------------- */

/* Checks a request's credentials (receivers: 401 / UNAUTHENTICATED without). */
typedef struct pc_server_auth {
  const char *header; /* the header that carries them ("Authorization"), at most 32 bytes */
  const char *scheme; /* what a 401's WWW-Authenticate names ("Bearer"; "" for none) */
  /* Whether a received header value passes (constant time in the secrets). */
  bool (*check)(const struct pc_server_auth *self, pc_str_t value);
} pc_server_auth_t;

/* "Name: value" header lines, each malloc'd, as libcurl takes them. */
typedef struct {
  char **v;
  size_t n, cap;
} pc_headers_t;

void pc_headers_add(pc_headers_t *h, const char *name, size_t name_n, const char *value,
                    size_t value_n);
/* Index of the line named name (any case), or h->n. */
size_t pc_headers_find(const pc_headers_t *h, const char *name);
void pc_headers_remove(pc_headers_t *h, size_t i);
void pc_headers_free(pc_headers_t *h);

/* Sets headers on what an exporter sends. */
typedef struct pc_client_auth {
  /* apply reads the batch's client metadata: the exporter then keeps it with
   * each batch (in the persistent queue too) and applies per try. When
   * false, apply is called once at start with md NULL. */
  bool uses_metadata;
  /* Edit h (the exporter's own headers) for a batch with client metadata md
   * (may be NULL). PC_EINVAL with err filled when md cannot make them. */
  int (*apply)(const struct pc_client_auth *self, const pc_metadata_t *md, pc_headers_t *h,
               pc_err_t *err);
} pc_client_auth_t;

/* Where persistent queues live. */
typedef struct pc_storage {
  const char *directory; /* exists and is writable once the extension started */
  bool fsync;            /* fdatasync each record before it is acknowledged */
} pc_storage_t;

/* The span store of trace linking (extension span_store): recent spans by
 * (trace_id, span_id), and recent profile samples linked to them, shared by
 * every component of the process that names it. Spans come from the
 * traces pipelines (the trace_link processor calls add_spans); the
 * trace_link processor of a profiles pipeline reads them to enrich and link
 * samples and hands the linked samples to add_profiles, which the query API
 * answers from. Everything is bounded by the extension's window (by arrival
 * at profcol) and memory caps: the oldest go first.
 *
 * Threads: one store serves the process (the extension is per_process,
 * component.h): every worker's trace_link calls it from that worker's
 * loop thread; the query API and the sweep of expired data run on worker
 * 0's. Every call may come from any thread at any time between the
 * extension's create and destroy (also after its shutdown: other workers
 * may still drain once worker 0 closed the query API), never blocks on
 * I/O, holds no lock when it returns, and returns copies. Locks: the spans
 * are kept in stripes by trace id (16), each with its own mutex: add_spans
 * takes the stripes its spans fall in, one at a time; find takes one (a
 * trace's spans, so a span's parents, are in one stripe); on_thread each in
 * turn. add_profiles counts a request's samples and takes its bytes first
 * (by reference when the receiver lends them, else a copy), then takes the
 * mutex of the calling thread's shard of the window for the index updates
 * (one per distinct link); queries take each shard's in turn. A
 * caller looks up each distinct link of a request once, not each sample
 * (trace_link does). Time is the store's: a call that read the clock
 * before another thread's later call took the lock counts as that one. */

/* Bytes of a span's name or service kept; longer ones are cut (at a UTF-8
 * character boundary). */
#define PC_SPAN_NAME_MAX 256

/* One span as the store keeps it. */
typedef struct {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_span_id[8]; /* zero when has_parent is false */
  bool has_parent;
  bool parent_is_remote;     /* the span's flags say its parent ran in another process */
  uint8_t kind;              /* PC_SPAN_KIND_* */
  uint8_t status_code;       /* PC_STATUS_CODE_* */
  uint64_t start_unix_nano, end_unix_nano;
  bool has_process, has_thread; /* process.pid (span or resource), thread.id (span) */
  uint32_t process_id, thread_id;
  uint16_t name_n, service_n;
  char name[PC_SPAN_NAME_MAX];    /* the span's name, name_n bytes, not NUL-terminated */
  char service[PC_SPAN_NAME_MAX]; /* its resource's service.name, service_n bytes */
} pc_span_rec_t;

/* A span recorded on a thread, for linking by thread (on_thread). */
typedef struct {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint64_t start_unix_nano, end_unix_nano;
} pc_thread_span_t;

typedef struct pc_span_store {
  /* Record the spans of tr that have a 16-byte trace_id and an 8-byte
   * span_id, not all zero (the others cannot be linked to). */
  void (*add_spans)(const struct pc_span_store *self, const pc_traces_t *tr);
  /* Find a span. true with *span filled when the store has it. When
   * local_root is not NULL it gets the span's local root: the entry point
   * of its service, found by following parents while they are in the store,
   * in the same service and not remote (the span itself when it is one).
   * When top is not NULL it gets the highest ancestor in the store, of any
   * service: the trace's root when top->has_parent is false. */
  bool (*find)(const struct pc_span_store *self, const uint8_t trace_id[16],
               const uint8_t span_id[8], pc_span_rec_t *span, pc_span_rec_t *local_root,
               pc_span_rec_t *top);
  /* find for n spans at once, each span's local root into local_roots[i]
   * (when not NULL) and found[i] set: the same answers as n find calls,
   * cheaper, as the lookups' memory accesses overlap. The keys' ids must be
   * 16 and 8 bytes (normalized links). */
  void (*find_many)(const struct pc_span_store *self, const pc_link_t *keys, size_t n,
                    pc_span_rec_t *spans, pc_span_rec_t *local_roots, bool *found);
  /* Spans recorded for thread tid of process pid that overlap [from, to]
   * (unix nanoseconds), at most cap of them, in no particular order.
   * Returns how many were written. */
  size_t (*on_thread)(const struct pc_span_store *self, uint32_t pid, uint32_t tid,
                      uint64_t from_unix_nano, uint64_t to_unix_nano, pc_thread_span_t *out,
                      size_t cap);
  /* Keep the samples of req that are linked to a span (link_index set),
   * for the query API. req must be validated and its links normalized
   * (valid ids, no duplicates); it is only read during the call. */
  void (*add_profiles)(const struct pc_span_store *self, const pc_request_t *req);
} pc_span_store_t;

/* ---- references and the host ---------------------------------------------------- */

/* One component's config naming an extension: its id and the place of the
 * key, "file:line:col: key.path", kept from create (while the config tree
 * exists) for resolve's messages. */
typedef struct {
  char id[128];
  char place[256];
} pc_ref_t;

/* Fill r from the key node that names id (node may be NULL: no place). */
void pc_ref_init(pc_ref_t *r, const char *id, const pc_cfg_node_t *node);
/* Whether r names anything. */
static inline bool pc_ref_set(const pc_ref_t *r) { return r->id[0] != 0; }

typedef struct pc_host pc_host_t;
struct pc_component;

pc_host_t *pc_host_new(void);
void pc_host_free(pc_host_t *h);
/* A copy of h (ids copied, extension instances shared) for a component
 * that resolves more of its own parts after its resolve call returned
 * (load_balancing's backends, made at each DNS answer): the host given to
 * resolve is only valid during the call. Valid while the extensions are,
 * that is until the component is destroyed. */
pc_host_t *pc_host_copy(const pc_host_t *h);
/* An extension defined in the config: inst is its instance, or NULL when it
 * was not created (not listed in service.extensions). comp and id must
 * outlive the host. */
void pc_host_add(pc_host_t *h, const char *id, const struct pc_component *comp, void *inst);
/* An extension listed in service.extensions that failed its own config
 * check, which was reported: whoever names it is told nothing more. */
void pc_host_add_failed(pc_host_t *h, const char *id, const struct pc_component *comp);
/* The interface the extension r names offers for role. NULL with err set
 * (PC_EINVAL, "<place>: ...") when no extension has that id, when it is not
 * listed in service.extensions, or when it does not offer the role; NULL
 * with err->code PC_EREPORTED (no message) for one added failed. */
const void *pc_host_find(const pc_host_t *h, const pc_ref_t *r, pc_role_t role, pc_err_t *err);

#endif
