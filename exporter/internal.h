/* internal.h - what the files of exporter/ share and nobody else sees:
 * ref-counted request bodies, the sending queue (in memory or persistent on
 * disk), the decoder of backends' small answers,
 * and gRPC's wire conventions for the otlp exporter.
 *
 * Threading: an exporter instance lives on one worker's loop; its queue and
 * bodies are touched from that thread only, except body reference counts,
 * which are atomic so that one body can be shared by exporters of different
 * workers later without a change here. */
#ifndef PC_EXPORTER_INTERNAL_H
#define PC_EXPORTER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"
#include "../core/log.h"

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

/* ---- gRPC wire (grpcwire.c), for the otlp exporter ----------------------------------- */

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

/* ---- retiring an otlp_grpc / otlp_http instance (otlphttp.c) -------------------------
 * For the load_balancing exporter, when a backend leaves the list: from now
 * on every batch the instance holds is offered to cb before its next try
 * (those waiting at once, one in flight after its current try fails). cb
 * gets the bytes as queued (compressed with meta->encoding; for gRPC behind
 * the 5-byte message prefix) and returns 0 when it took the batch (routed
 * it elsewhere): the batch is then done here, counted in rerouted_batches.
 * Otherwise it is tried at this backend's address as before. cb NULL takes
 * the instance back into normal service. On the instance's loop. */
typedef int (*pc__handback_cb)(void *arg, const pc__body_t *wire, const pc__item_meta_t *meta,
                               bool grpc);
void pc__otlphttp_retire(void *instance, pc__handback_cb cb, void *arg);

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

/* ---- small helpers ------------------------------------------------------------------ */

/* The log rate limiter and clock of core/log.h, by the names this folder's
 * files (queue.c, file.c) use. */
typedef pc_ratelimit_t pc__ratelimit_t;
#define pc__ratelimit pc_ratelimit
#define pc__suppressed pc_suppressed
#define pc__now_ms pc_now_ms

/* The exporter id as a file name: "otlphttp/eu-1" -> "exporter_otlphttp_eu-1"
 * (bytes outside [A-Za-z0-9._-] become '_'). */
void pc__id_to_filename(const char *id, char *out, size_t cap);

#endif
