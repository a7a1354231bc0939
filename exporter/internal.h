/* internal.h - what the files of exporter/ share and nobody else sees:
 * ref-counted request bodies, the sending queue (in memory or persistent on
 * disk), the decoder of backends' small answers, gRPC's wire conventions,
 * the OTLP exporters' client settings (on libcurl's multi interface of
 * component/curl.h), compression in the thread pool, the send module both
 * OTLP exporters are built on, and the load_balancing exporter's hash ring.
 *
 * Threading: an exporter instance lives on one worker's loop; its queue and
 * bodies are touched from that thread only, except body reference counts,
 * which are atomic so that one body can be shared by exporters of different
 * workers later without a change here. */
#ifndef PC_EXPORTER_INTERNAL_H
#define PC_EXPORTER_INTERNAL_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../component/component.h"
#include "../component/curl.h"
#include "../core/core.h"
#include "../core/log.h"
#include "exporter.h"

/* ---- bodies -----------------------------------------------------------------
 * What the queue holds: shared, reference-counted bytes (core.h's pc_bytes_t,
 * by the names queue.c uses): a compressed variant of a finished body, a
 * framed view of one for gRPC, or a record read back from disk. The last
 * unref frees them. Retrying or fanning out never copies the bytes. */
typedef pc_bytes_t pc__body_t;
#define pc__body_from_buf_take pc_bytes_from_buf_take
#define pc__body_copy pc_bytes_copy
#define pc__body_ref pc_bytes_ref
#define pc__body_unref pc_bytes_unref

/* ---- the sending queue --------------------------------------------------------
 * A FIFO of finished bodies with what is needed to send each (signal,
 * content type, content encoding). Bounded by a count of batches and a byte
 * cap: "held" items are the waiting ones plus those popped and not yet done,
 * so the caps bound memory truthfully while requests are in flight.
 *
 * Persistent variant (dir set): each pushed batch is appended to a segment
 * file as one record, [magic "PCQ1", len, meta, profiles, crc32] + bytes, and
 * fdatasync'd (when fsync is set) BEFORE push returns 0; an item that is done
 * appends its offset to the segment's .ack file (not fsync'd: a lost ack only
 * means the batch is sent once more after a crash - at least once, never
 * lost). A segment whose records are all done is deleted. Opening replays
 * every record not acked, oldest first. A damaged segment (bad CRC, bad
 * header, truncated tail) is logged, its intact records are copied into a new
 * segment and it is renamed *.corrupt; opening never fails because of it.
 *
 * All file I/O runs synchronously on the caller's thread (the loop): a push
 * writes one batch (KBs to a few MB) and one fdatasync. Moving it to
 * uv_queue_work would let the loop run during fsync, at the price of
 * acknowledging later; see the commit that introduced this file. */

typedef struct {
  uint8_t signal;   /* PC_SIGNAL_PROFILES or PC_SIGNAL_TRACES */
  uint8_t json;     /* body is OTLP-JSON (else protobuf) */
  uint8_t encoding; /* pc_encoding_t of the body (Content-Encoding) */
  uint32_t profiles; /* profiles in the batch (0 for traces), for counters */
  /* The batch's client metadata in pc_md_encode form (headers_setter reads
   * it at each try), or NULL; never empty. A queued item holds its own
   * reference; a persistent record stores the bytes before the body. */
  pc__body_t *md;
} pc__item_meta_t;

typedef struct pc__queue pc__queue_t;
typedef struct pc__qseg pc__qseg_t;

typedef struct pc__qitem {
  struct pc__qitem *next;
  pc__body_t *body;
  pc__item_meta_t meta;
  pc__qseg_t *seg; /* persistent: the segment holding the record, else NULL */
  uint64_t off;    /* persistent: the record's offset in it */
} pc__qitem_t;

typedef struct {
  const char *log_id;  /* "exporter:otlphttp/x", for logs (copied) */
  uint64_t max_items;  /* held batches (0: unbounded) */
  uint64_t max_bytes;  /* held body bytes (0: unbounded) */
  const char *dir;     /* persistent: this queue's own directory (created 0700 if
                          missing; its parent must exist); NULL: in memory */
  bool fsync;          /* persistent: fdatasync each push */
  uint64_t segment_bytes; /* persistent: start a new segment past this (0: 8 MiB) */
} pc__queue_opts_t;

typedef struct {
  uint64_t held_items, held_bytes; /* waiting + popped, not done */
  uint64_t waiting;                /* not popped yet */
  uint64_t replayed;               /* records read back at open */
  uint64_t corrupt_files;          /* segments set aside at open */
  uint64_t refused;                /* pushes answered PC_EAGAIN */
  uint64_t disk_bytes;             /* bytes in live segment files */
} pc__queue_stats_t;

/* Open a queue. Persistent: takes an exclusive lock on the directory (a
 * second user fails with PC_EAGAIN and a message naming the directory),
 * then replays. Errors: PC_EIO (directory unusable), PC_EAGAIN (locked). */
int pc__queue_open(const pc__queue_opts_t *o, pc__queue_t **out, pc_err_t *err);
/* pc__queue_open for the calling thread's worker (core.h pc_worker_self):
 * worker 0 opens o->dir itself, worker i "<o->dir>@w<i>"; then it takes
 * over the directories "<o->dir>@w<j>" of former workers j >= the worker
 * count with j % count == i (pc__queue_adopt). In memory: pc__queue_open. */
int pc__queue_open_worker(const pc__queue_opts_t *o, pc__queue_t **out, pc_err_t *err);
/* Push n batches, all or none. On 0 the queue holds its own reference to each
 * body and, when persistent, every record is on disk (fsync'd if asked).
 * PC_EAGAIN: a cap would be passed, or the disk write failed (logged; the
 * caller's client retries later). PC_ELIMIT: one body is larger than the
 * byte cap and can never fit. */
int pc__queue_push(pc__queue_t *q, pc__body_t *const *bodies, const pc__item_meta_t *metas,
                   size_t n, pc_err_t *err);
/* PC_EAGAIN (counted and logged like a refused push) when the queue is at a
 * cap already, so a caller can refuse before encoding. */
int pc__queue_check_room(pc__queue_t *q, pc_err_t *err);
/* Take over every unsent record of the persistent queue in dir (a directory
 * of its own, not q's: a worker's that no longer runs after service.workers
 * went down), then remove dir. The records go after q's, past its caps as a
 * replay's do. 0, PC_EINVAL (q is in memory), or what opening dir or
 * writing to q gives (the records left stay in dir for the next try). */
int pc__queue_adopt(pc__queue_t *q, const char *dir, pc_err_t *err);
/* The oldest waiting item, or NULL. It stays held until done or release. */
pc__qitem_t *pc__queue_pop(pc__queue_t *q);
/* The item is finished with (delivered, or given up and counted): forget it,
 * on disk too. Frees it. */
void pc__queue_done(pc__queue_t *q, pc__qitem_t *it);
/* Stop trying the item without finishing it (shutdown): a persistent queue
 * keeps it on disk for the next start. Frees it. */
void pc__queue_release(pc__queue_t *q, pc__qitem_t *it);
void pc__queue_stats(const pc__queue_t *q, pc__queue_stats_t *st);
/* Close: waiting items are dropped from memory (a persistent queue keeps them
 * on disk; an in-memory one loses them, which the caller logs). Every popped
 * item must have been done or released. Returns how many waiting items were
 * dropped from memory. */
uint64_t pc__queue_close(pc__queue_t *q);

/* ---- backend answers -------------------------------------------------------------- */

/* Read partial_success from an Export*ServiceResponse (profiles: field
 * rejected_profiles; traces: rejected_spans, same field number) as protobuf
 * or JSON. An empty body is full success. PC_EDECODE when the body is not
 * such a message. msg gets error_message, truncated, NUL-terminated. */
int pc__parse_export_response(bool json, bool traces, const uint8_t *p, size_t n,
                              int64_t *rejected, char *msg, size_t msg_size);
/* Read google.rpc.Status.message (protobuf or JSON) into msg; PC_EDECODE when
 * the body is not a Status. Non-printable bytes become '?'. */
int pc__parse_status(bool json, const uint8_t *p, size_t n, char *msg, size_t msg_size);

/* ---- gRPC wire (grpcwire.c), for otlp_grpc (otlpgrpc.c) ------------------------------ */

enum {
  PC_GRPC_OK = 0,
  PC_GRPC_UNKNOWN = 2,
  PC_GRPC_INVALID_ARGUMENT = 3,
  PC_GRPC_DEADLINE_EXCEEDED = 4,
  PC_GRPC_PERMISSION_DENIED = 7,
  PC_GRPC_RESOURCE_EXHAUSTED = 8,
  PC_GRPC_ABORTED = 10,
  PC_GRPC_OUT_OF_RANGE = 11,
  PC_GRPC_UNIMPLEMENTED = 12,
  PC_GRPC_INTERNAL = 13,
  PC_GRPC_UNAVAILABLE = 14,
  PC_GRPC_DATA_LOSS = 15,
  PC_GRPC_UNAUTHENTICATED = 16,
};

/* The 5-byte prefix of a gRPC message: compressed flag, big-endian length. */
void pc__grpc_prefix(uint8_t out[5], bool compressed, uint32_t n);
/* The first message of p[0..n): PC_EDECODE when the prefix is short, bad or
 * announces more bytes than there are. msg points into p. */
int pc__grpc_unprefix(const uint8_t *p, size_t n, bool *compressed, const uint8_t **msg,
                      size_t *msg_n);
/* grpc-message (percent-encoded) into out, NUL-terminated, control bytes as '?'. */
void pc__grpc_message_decode(const char *in, size_t n, char *out, size_t cap);
/* Whether the grpc-status-details-bin value (base64 google.rpc.Status) holds a
 * google.rpc.RetryInfo; *delay_ms gets its retry_delay (0 when unset). */
bool pc__grpc_retry_info(const char *b64, size_t n, uint64_t *delay_ms);
const char *pc__grpc_code_name(int code);
/* The Collector's policy: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, DATA_LOSS; RESOURCE_EXHAUSTED only with a RetryInfo. */
bool pc__grpc_retryable(int code, bool has_retry_info);
/* The gRPC code for an HTTP answer without grpc-status. */
int pc__grpc_code_from_http(long status);

/* ---- the send module (send.c) -----------------------------------------------------------
 * What the Collector's exporterhelper is to its exporters: the consumer the
 * pipeline hands data to, the sending queue (in memory or persistent),
 * num_consumers requests in flight, retries with exponential backoff and
 * jitter that honour the backend's Retry-After or RetryInfo up to
 * max_elapsed_time, the timeout of a try, shutdown's drain, and the
 * counters. A wire (otlphttp.c, otlpgrpc.c) says only how one try goes out
 * and what its answer means. */

typedef struct {
  uint64_t timeout_ms; /* of one try (the wire applies it) */
  bool retry_enabled;
  uint64_t initial_ms, max_interval_ms, max_elapsed_ms;
  char *multiplier, *randomization;
  bool queue_enabled;
  int64_t num_consumers, queue_size;
  uint64_t queue_max_bytes;
  char *storage;
} pc__send_cfg_t;

/* retry_on_failure and sending_queue, over pc__send_cfg_t (PC_OPT_SECTION_IN);
 * the wire's own table has timeout, whose default and meaning it states. */
extern const pc_opt_t pc__send_retry_opts[];
extern const pc_opt_t pc__send_queue_opts[];

typedef struct pc__send pc__send_t;

/* One of num_consumers slots: a batch in flight or waiting to retry. */
typedef struct {
  pc__send_t *send;
  pc__qitem_t *item; /* NULL: idle */
  uint32_t tries;    /* of item, the current one included */
  uint64_t first_ms; /* loop time of item's first try */
  void *wire;        /* the wire's state for this slot (slot_new); NULL before its first try */
} pc__slot_t;

typedef enum { PC__SENT, PC__RETRYABLE, PC__PERMANENT } pc__verdict_t;

/* How a try ended, as the wire read the answer. */
typedef struct {
  pc__verdict_t verdict;
  uint64_t min_delay_ms; /* RETRYABLE: the backend's own wait (Retry-After, RetryInfo); 0: none */
  int64_t rejected;      /* SENT: what partial_success refused */
  char why[512];         /* SENT: partial_success's error_message; else what went wrong */
} pc__outcome_t;

typedef struct {
  const char *delay_name; /* "Retry-After" or "RetryInfo": what min_delay_ms is, for logs */
  /* The wire's state of a slot, made before the slot's first try (NULL with
   * err set makes that try a retryable failure) and freed when the sender
   * stops; a slot that never tried has none, and gets no cancel. */
  void *(*slot_new)(void *wire, pc__slot_t *slot, pc_err_t *err);
  void (*slot_free)(void *wire, void *state);
  /* One try of slot->item; the outcome comes exactly once through
   * pc__send_outcome, from this call or later, unless cancel comes first. */
  void (*start)(void *wire, pc__slot_t *slot);
  void (*cancel)(void *wire, pc__slot_t *slot);
  /* PC_EINVAL with err when the wire cannot send this signal in this form
   * at all (no endpoint for it, OTLP-JSON over gRPC). */
  int (*admit)(void *wire, pc_signal_t signal, bool json, pc_err_t *err);
  /* Optional: PC_EINVAL with err when a batch's client metadata (kept with
   * it) cannot make its headers, so it is refused rather than dropped. */
  int (*check_md)(void *wire, const pc_bytes_t *md, pc_err_t *err);
  /* What goes on the wire of body, whose variant for the sender
   * (pc__send_args_t.variant) exists: a new reference (gRPC frames it), or NULL with err. */
  pc_bytes_t *(*bytes)(void *wire, pc_body_t *body, pc_err_t *err);
} pc__wire_ops_t;

typedef struct {
  const char *comp_id; /* "otlp_http/x" */
  const pc__wire_ops_t *ops;
  void *wire;
  pc_encoding_t enc; /* what bodies are sent compressed with */
  unsigned variant;  /* ... at the exporter's level: the body's v[variant] (pc_body_variant) */
  bool json;         /* profiles as OTLP-JSON: takes trees only, never protobuf bodies */
  uint64_t max_body; /* max_request_body_size, before compression */
} pc__send_args_t;

/* Check cfg (errors at node's keys, with file:line:col) and make a sender;
 * NULL with err set. */
pc__send_t *pc__send_new(const pc__send_cfg_t *cfg, const pc_cfg_node_t *node,
                         const pc__send_args_t *a, pc_err_t *err);
/* What the pipeline hands data to: consume returns 0 once the data is held
 * (queued; or waiting for its compression in the thread pool, counted
 * against the queue's caps), PC_EAGAIN when the queue is full. */
pc_consumer_t *pc__send_consumer(pc__send_t *s);
/* sending_queue.storage's extension (host.h). */
int pc__send_resolve(pc__send_t *s, const pc_host_t *host, pc_err_t *err);
/* Open the queue (replaying a persistent one), make the slots and start
 * sending. keep_md: queue each batch's client metadata with it. */
int pc__send_start(pc__send_t *s, uv_loop_t *loop, bool keep_md, pc_err_t *err);
/* Refuse new data and drain until deadline_ms (uv_now based); then every
 * try is cancelled, what is left is kept on disk (persistent) or counted
 * lost, the wire's slots are freed and the handles closed; done(arg)
 * follows once. Safe before start (done at once) and twice. */
void pc__send_shutdown(pc__send_t *s, uint64_t deadline_ms, pc_done_cb done, void *arg);
/* Started and not stopped yet: its handles are on the loop. */
bool pc__send_busy(const pc__send_t *s);
void pc__send_free(pc__send_t *s);
/* A try of slot ended (the wire reports it once per start). */
void pc__send_outcome(pc__slot_t *slot, const pc__outcome_t *o);
uint64_t pc__send_timeout_ms(const pc__send_t *s);
const char *pc__send_log_id(const pc__send_t *s);  /* "exporter:otlp_http/x" */
const char *pc__send_comp_id(const pc__send_t *s); /* "otlp_http/x" */
uint32_t pc__send_consumers(const pc__send_t *s);  /* num_consumers */
/* "up to N requests in flight, queue of B batches / X bytes, in memory", for the start line. */
void pc__send_describe(const pc__send_t *s, char *out, size_t cap);
void pc__send_stats(const pc__send_t *s, pc_otlphttp_stats_t *out);
/* The Collector's exporter metrics where they mean the same, profcol_exporter_* else. */
void pc__send_metrics(const pc__send_t *s, pc_metrics_t *m);

/* Retiring a sender, for the load_balancing exporter when a backend leaves
 * the list: from now on every batch s holds is offered to cb before its
 * next try (those waiting for a retry at once, one in flight after its
 * current try fails). cb gets the bytes as queued (compressed with
 * meta->encoding; for otlp_grpc behind the 5-byte message prefix) and
 * returns 0 when it took the batch (routed it elsewhere): the batch is then
 * done here, counted in rerouted_batches. Otherwise it is tried at this
 * backend's address as before. cb NULL takes s back into normal service.
 * On the sender's loop. */
typedef int (*pc__handback_cb)(void *arg, const pc__body_t *wire, const pc__item_meta_t *meta);
void pc__send_retire(pc__send_t *s, pc__handback_cb cb, void *arg);

/* ---- the OTLP exporters' client (client.c) ----------------------------------------------
 * What both OTLP exporters are apart from their wire: the Collector's
 * confighttp/configgrpc client settings (headers, an authenticator
 * extension, compression, the body limit, the tls keys for libcurl and
 * OpenSSL), one call per send slot (an easy handle made from those
 * settings, started per try), and the component's life around its sender
 * and its libcurl multi handle. An exporter instance begins with its
 * pc__client_t, so the hooks below serve both component types. */

typedef struct {
  const pc_cfg_node_t *headers;
  char *compression;
  int64_t level;     /* compression_params.level (otlp_http); 0: unset */
  uint64_t max_body;
  bool tls_insecure; /* otlp_grpc only: h2c */
  bool tls_skip_verify;
  char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_min_version;
  char *authenticator;
} pc__client_cfg_t;

/* tls and auth, over pc__client_cfg_t (PC_OPT_SECTION_IN); compression_params,
 * confighttp's only (configgrpc has no such key). */
extern const pc_opt_t pc__client_tls_opts[];
extern const pc_opt_t pc__client_compression_params_opts[];
extern const pc_opt_t pc__client_auth_opts[];

/* The protocol's own header lines after the configured ones, for a batch of
 * that encoding (json: OTLP-JSON) sent with enc. */
struct pc__client;
typedef struct curl_slist *(*pc__own_headers_fn)(const struct pc__client *c,
                                                 struct curl_slist *l, bool json,
                                                 pc_encoding_t enc);

/* What a wire tells the client about itself. */
typedef struct {
  const pc__wire_ops_t *ops; /* its send module's side (its wire argument is the instance) */
  pc__own_headers_fn own;    /* its header lines */
  /* Configured headers may not be Content-Type, -Encoding or -Length, nor
   * a name in reserved (NULL-terminated; one ending in '-' is a prefix;
   * NULL: none), which reserved_why explains. */
  const char *const *reserved;
  const char *reserved_why;
  const char *format; /* "protobuf", "json", "gRPC": for the start line */
  bool json;          /* profiles as OTLP-JSON */
  bool multiplex;     /* HTTP/2 streams may share a connection (pc_curl_open) */
  /* zstd's codec level when compression_params.level is unset; 0:
   * confighttp's, PC_BODY_ZSTD_LEVEL. */
  int zstd_level;
} pc__wire_t;

typedef struct pc__client {
  pc__send_t *send; /* first: pc_otlphttp_stats reads it */
  pc_headers_t headers; /* "Name: value" (with a static authenticator's applied at start) */
  pc_encoding_t enc;
  unsigned variant; /* the body's variant sent: enc at compression_params.level */
  uint64_t max_body;
  char *ca_file, *cert_file, *key_file; /* NULL or copies */
  bool skip_verify;
  long ssl_version; /* CURL_SSLVERSION_* */
  pc_ref_t auth_ref;            /* auth.authenticator, or unset */
  const pc_client_auth_t *auth; /* ... found by resolve */
  bool auth_per_batch;          /* it reads each batch's client metadata */
  struct curl_slist *lists[2][PC_ENC_ZSTD + 1]; /* [json][enc], built on first use */
  char *profiles_url, *traces_url; /* where each signal goes (malloc'd by the wire), NULL: nowhere */
  pc_signal_t signals; /* of the pipelines it is in: what its start line names */
  const pc__wire_t *wire;
  /* runtime */
  pc_curl_t *curl;
  bool stopping; /* shutdown began: handles may still be on the loop */
  pc_done_cb done;
  void *done_arg;
} pc__client_t;

/* Check cfg and send_cfg (errors at args->cfg's keys, with file:line:col)
 * into the client c, which begins the instance of a wire w, and make its
 * sender. The wire has set the URLs already. On error the instance is for
 * pc__client_destroy. */
int pc__client_init(pc__client_t *c, const pc__wire_t *w, const pc__client_cfg_t *cfg,
                    const pc__send_cfg_t *send_cfg, const pc_create_args_t *args,
                    pc_err_t *err);
/* PC_EINVAL (err filled) when the authenticator cannot make headers from
 * a batch's client metadata md (pc_md_encode form, or NULL). */
int pc__client_check_md(const pc__client_t *c, const pc_bytes_t *md, pc_err_t *err);

/* Component hooks both OTLP exporters use as they are (self is a malloc'd
 * instance that begins with its pc__client_t). start: the authenticator (a
 * static one edits the headers now), the multi handle keeping an idle
 * connection per consumer, the sender. destroy frees the instance (or, with
 * handles still on the loop, leaks it and says so). */
pc_consumer_t *pc__client_consumer(void *self);
int pc__client_resolve(void *self, const pc_host_t *host, pc_err_t *err);
int pc__client_start(void *self, uv_loop_t *loop, pc_err_t *err);
void pc__client_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg);
void pc__client_destroy(void *self);
void pc__client_metrics(void *self, pc_metrics_t *m);

/* Bytes of an answer kept (and, for gRPC, of its message decompressed):
 * enough for any Status or partial_success. */
#define PC__MAX_ANSWER_BYTES (64 * 1024)

/* An OTLP exporter's component: every hook but create is the client's. */
#define PC__OTLP_COMPONENT(type_, alias_, options_, create_)                              \
  {                                                                                      \
    .type = type_, .deprecated_alias = alias_, .kind = PC_EXPORTER,                      \
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES, .stability = "alpha",              \
    .options = options_, .create = create_, .consumer = pc__client_consumer,             \
    .resolve = pc__client_resolve, .start = pc__client_start,                            \
    .shutdown = pc__client_shutdown, .destroy = pc__client_destroy,                      \
    .metrics = pc__client_metrics,                                                       \
  }

/* One slot's call: its easy handle and what one try's answer left. */
typedef struct pc__call {
  pc_curl_xfer_t xfer;
  pc__slot_t *slot;
  pc__client_t *client;
  /* The wire's own options on each new easy handle (NULL: none). */
  void (*setup)(struct pc__call *call, CURL *easy);
  pc_curl_wait_t wait; /* the first try, while libcurl loads */
  const char *url;     /* that try's */
  pc_buf_t answer; /* the body, up to PC__MAX_ANSWER_BYTES */
  char errbuf[CURL_ERROR_SIZE];
  struct curl_slist *try_list; /* per-batch headers: curl reads them until the next try */
} pc__call_t;

/* A call for slot; done ends each try. Its easy handle, with every option
 * that does not change per try (tls, timeout, keep-alive) and setup's, is
 * made at its first try, once libcurl is loaded (component/curl.h). */
void pc__call_init(pc__client_t *c, pc__call_t *call, pc__slot_t *slot,
                   void (*done)(pc_curl_xfer_t *x, CURLcode rc),
                   void (*setup)(pc__call_t *call, CURL *easy));
void pc__call_free(pc__call_t *call);
/* Start a try of call->slot's item to url: headers, the queued bytes as
 * the body. The slot's first try waits for libcurl's load in the thread
 * pool when it is not loaded yet. Ends through the outcome when it cannot
 * start (permanent when the headers cannot be made, retryable when libcurl
 * cannot be loaded or refuses). */
void pc__call_start(pc__client_t *c, pc__call_t *call, const char *url);
void pc__call_cancel(pc__client_t *c, pc__call_t *call);
/* The answer's content type says JSON (else protobuf; neither: as sent). */
bool pc__call_answer_json(const pc__call_t *call);
/* "POST URL: <curl's error>" for a transfer that failed (verb: "POST",
 * "gRPC call"). */
void pc__call_transport_error(const pc__call_t *call, CURLcode rc, const char *verb, char *why,
                              size_t cap);
/* Transport errors that no retry can fix. */
bool pc__curl_permanent(CURLcode rc);

/* ---- compression in the thread pool (bodyjob.c) --------------------------------------
 * A body that reaches an exporter without the variant it sends (a trace
 * request, a tree encoded on the loop) gets it here: up to
 * PC_BODY_INLINE_MAX bytes at once on the loop, larger ones in libuv's
 * thread pool, one job per body and encoding however many exporters wait
 * for it. */

typedef struct pc__zwait {
  struct pc__zwait *next;
  /* On the loop: body->v[variant] exists (rc 0), or could not be made. */
  void (*done)(struct pc__zwait *w, int rc);
} pc__zwait_t;

/* Have body's variant (pc_body_variant) made in the thread pool (joining
 * the job in flight for it, if any); w->done follows on loop, never from
 * this call. */
void pc__zwait(uv_loop_t *loop, pc_body_t *body, unsigned variant, pc__zwait_t *w);

/* ---- the load_balancing exporter's ring (ring.c) ------------------------------------- */

typedef struct pc__ring pc__ring_t;
/* A ring of n backends named by endpoint ("host:port"): the names decide
 * the points, so the same list in any order gives the same ring. The names
 * are read during the call only. n may be 0 (every find says SIZE_MAX). */
pc__ring_t *pc__ring_new(const char *const *endpoints, size_t n);
void pc__ring_free(pc__ring_t *r);
/* A key's position on the ring: crc32(key) mod 36000, as the contrib's. */
uint32_t pc__ring_position(const void *key, size_t n);
/* The index (in the list given to new) of the backend owning pos. */
size_t pc__ring_find(const pc__ring_t *r, uint32_t pos);

/* load_balancing.c: replace the backend list as the dns resolver does when
 * its answer changes (names: host:port, any order), for tests that take a
 * backend away without a DNS server. On the instance's loop. */
void pc__lb_set_backends(void *instance, const char *const *names, size_t n);
/* load_balancing.c: the backend whose persistent queue directory is named
 * by rest, what pc__id_to_filename leaves of "<lb id>/<backend>" after the
 * lb id's own prefix: "10.0.3.7_4317" -> "10.0.3.7:4317", "host_4317" ->
 * "host:4317", "___1__4317" -> "[::1]:4317". false (name untouched) for
 * anything else: another exporter's directory, or a name the mapping made
 * ambiguous (an IPv6 zone id, a host name with '_'). */
bool pc__lb_backend_of_dir(const char *rest, char *name, size_t cap);

/* ---- small helpers ------------------------------------------------------------------ */

/* The log rate limiter and clock of core/log.h, by the names this folder's
 * files (queue.c, file.c) use. */
typedef pc_ratelimit_t pc__ratelimit_t;
#define pc__ratelimit pc_ratelimit
#define pc__suppressed pc_suppressed
#define pc__now_ms pc_now_ms

/* base + path, without a doubled slash (malloc'd). */
char *pc__join_url(const char *base, const char *path);

/* The exporter id as a file name: "otlphttp/eu-1" -> "exporter_otlphttp_eu-1"
 * (bytes outside [A-Za-z0-9._-] become '_'). */
void pc__id_to_filename(const char *id, char *out, size_t cap);

#endif
