/* internal.h - what the receiver's files share: the receiver's counters
 * and the OTLP receiver's settings (otlp.c), exposed so that tests and the
 * fuzz target can build a receiver without a YAML file. The HTTP/1.1 server
 * underneath is httpd/ (httpd.h).
 *
 * Not a public header: only receiver/, tests/ and tests/fuzz/ include it. */
#ifndef PC_RECEIVER_INTERNAL_H
#define PC_RECEIVER_INTERNAL_H

#include <llhttp.h>
#include <stdatomic.h>
#include <uv.h>

#include "../core/log.h"
#include "../httpd/httpd.h"
#include "receiver.h"

/* ---- counters --------------------------------------------------------------
 * What the receiver counts beyond its HTTP server (pc_http_counters_t).
 * Written on the receiver's loop, read from anywhere: relaxed atomics. */
typedef struct {
  _Atomic uint64_t profiles_accepted, profiles_refused;
  _Atomic uint64_t samples_accepted, samples_refused;
  _Atomic uint64_t spans_accepted, spans_refused; /* traces, after decode */
  _Atomic uint64_t bytes_decompressed;
  _Atomic uint64_t requests_refused_early; /* at the headers: the pipeline was full */
} pc__rx_counters_t;

#define PC__CNT_ADD(c, f, v) atomic_fetch_add_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)

/* ---- decode arenas ------------------------------------------------------------
 * Decoded pdata may take RX_ARENA_FACTOR times the decompressed bytes
 * (packed varints widen to 8 bytes; small messages gain struct padding), at
 * least RX_ARENA_MIN (a few bytes of empty messages). A
 * reused arena keeps RX_ARENA_KEEP bytes of blocks: mapping them afresh for
 * every large message cost 6-7% of the CPU in page faults at 200 KB
 * (bench/README.md), and a 200 KB request decodes into well under that. */
#define RX_ARENA_FACTOR 16
#define RX_ARENA_MIN ((size_t)16 << 20)
#define RX_ARENA_KEEP ((size_t)2 << 20)

/* ---- the decode job (decode.c) ------------------------------------------------
 * One request's payload decompressed (bounded) and decoded, on the loop when
 * small, in libuv's thread pool when large; shared by OTLP/HTTP and
 * OTLP/gRPC. Everything here is used on the pool's loop only, except that a
 * job, once run, belongs to the thread that works on it until done. */
typedef struct pc__rx_job pc__rx_job_t;

/* What failed, for the answer (rc and err say how). */
typedef enum {
  PC__RX_FAILED_NONE,
  PC__RX_FAILED_DECOMPRESS, /* PC_ELIMIT: over max_payload decompressed */
  PC__RX_FAILED_DECODE,     /* PC_ENOMEM: over the arena's limit; else a bad payload */
  /* The request memory budget could not give a step what it needed (need):
   * PC_EAGAIN, or PC_ELIMIT when that is more than the whole limit. */
  PC__RX_FAILED_BUDGET,
} pc__rx_failed_t;

/* One receiver side's jobs: the loop they finish on, the largest payload
 * they take, and finished jobs kept for reuse. */
typedef struct {
  uv_loop_t *loop;      /* set before the first run */
  uint64_t max_payload; /* decompressed bytes */
  pc_budget_t *budget;  /* what jobs hold counts here (NULL: nowhere) */
  const char *log_id;   /* for the budget's refusal warnings */
  pc__rx_job_t *spare; /* the most recently put back first: the warmest */
  unsigned n_spare;
  unsigned n_running; /* sent to the thread pool and not done: working or waiting */
  /* At most max_running jobs are in the thread pool at once (the usable
   * CPUs: pc_cpus_usable; 0 is no cap); the others wait, admitted, first in
   * first out, and each takes the warmest spare's memory when it starts
   * (decode.c). n_working <= max_running are in the pool. */
  unsigned max_running;
  unsigned n_working;
  pc__rx_job_t *wait_head, *wait_tail;
  /* Optional, on the loop: the budget may be short for the next job; free
   * what the receiver keeps for reuse besides the spare jobs (the HTTP
   * server's spare body buffers). */
  void (*make_room)(void *ud);
  void *make_room_ud;
} pc__rx_pool_t;

struct pc__rx_job {
  uv_work_t work;
  /* Filled by the caller before pc__rx_job_run: the payload as sent (kept
   * valid by the caller until the job is put back, or owned by the job in
   * `owned`), how it is compressed and what it holds. */
  const uint8_t *in;
  size_t in_n;
  pc_buf_t owned; /* a buffer the job frees with itself (pc__rx_job_own) */
  /* Optional, when in lies in a buffer the caller could give up (the HTTP
   * server's body buffer): its size, and a call, on the loop during the
   * consume call, that moves it into *out, out of the caller's and the
   * budget's counts; false when it cannot. So a consumer that keeps the
   * request's bytes takes that buffer rather than a copy (kept below). */
  size_t in_cap;
  bool (*take_in)(pc__rx_job_t *j, pc_buf_t *out);
  pc_encoding_t enc;
  bool json;   /* OTLP-JSON, else protobuf */
  bool traces; /* an ExportTraceServiceRequest (decoded into spans), else profiles */
  pc_metadata_t md; /* client metadata for the request (the caller's views) */
  void *ud;         /* the caller's */
  /* Profiles for a next consumer that takes finished bodies (its
   * consume_encoded): the job also encodes them, split to body_max, and
   * compresses them for body_encodings (its max_body and encodings), with
   * body_md (a reference the job lets go of; pc_md_encode form, or NULL) -
   * in the thread pool when the payload is large, as the batch processor
   * makes its batches - so the loop only hands them on
   * (pc__rx_job_consume). */
  bool make_bodies;
  unsigned body_encodings;
  uint64_t body_max;
  pc_bytes_t *body_md;
  /* Called once on the loop when the work is over: status is 0, or negative
   * when libuv cancelled the work (the loop is being torn down). The job
   * stays the caller's until it puts it back. */
  void (*done)(pc__rx_job_t *j, int status);
  /* The outcome: payload is the decompressed bytes (in, when not
   * compressed); req (profiles) or spans (traces) is decoded into the job's
   * arena. rc is 0,
   * or the error of the stage that failed, with err's message. */
  const uint8_t *payload;
  size_t payload_n;
  pc_request_t req;
  pc_traces_t spans; /* traces: the decoded request, views into payload */
  int rc;
  pc__rx_failed_t failed;
  pc_err_t err;
  uint64_t need; /* PC__RX_FAILED_BUDGET: the bytes the budget could not give */
  /* make_bodies: the bodies of req (one reference each), or why there are
   * none (bodies_rc, bodies_err: what consume would have answered). */
  pc_body_t **bodies;
  size_t n_bodies;
  int bodies_rc;
  pc_err_t bodies_err;
  /* req.encoded_lender while req is consumed: the buffer holding payload
   * (plain, owned or the caller's in) becomes `kept` when a consumer asks
   * for it; the job lets go of its reference when put back, and does not
   * reuse that buffer. */
  pc_bytes_lender_t lender;
  pc_bytes_t *kept;
  /* the pool's */
  uint64_t held;     /* bytes of the budget this job holds */
  uint64_t admitted; /* held at least this until put back (decode.c, admission) */
  bool async; /* done comes from the loop after the thread pool, not from run */
  pc__rx_pool_t *pool;
  pc_arena_t *arena;
  pc_buf_t plain;
  pc__rx_job_t *next_spare; /* also the next waiting for the pool */
};

void pc__rx_pool_init(pc__rx_pool_t *p, uint64_t max_payload, pc_budget_t *budget,
                      const char *log_id);
/* Free the spare jobs: at destroy, and when the process goes quiet (jobs
 * in flight are not spares; on the loop). */
void pc__rx_pool_free(pc__rx_pool_t *p);
/* Bytes of the budget the spare jobs hold (tests, fuzzing: with no request
 * in progress, all that a receiver side holds). */
uint64_t pc__rx_pool_held(const pc__rx_pool_t *p);
/* A cleared job, spare or new. */
pc__rx_job_t *pc__rx_job_get(pc__rx_pool_t *p);
/* Hand j the payload's buffer to free with itself, with the budget's bytes
 * for its capacity (the caller took them; buf is left empty). */
void pc__rx_job_own(pc__rx_job_t *j, pc_buf_t *buf);
/* Do j's work: done is called once, before this returns when the work was
 * done on the loop, else later from the loop. */
void pc__rx_job_run(pc__rx_job_t *j);
/* Give j back once its answer is made (frees `owned`; views into the job's
 * payload and request end here). */
void pc__rx_job_put(pc__rx_job_t *j);
/* Hand j's profiles to next, on the loop: the bodies the job made
 * (make_bodies), each through consume_encoded up to the first refusal,
 * or else the request through consume_profiles. Returns what next said. */
int pc__rx_job_consume(pc__rx_job_t *j, pc_consumer_t *next, pc_err_t *err);
/* Set j up to make bodies for next when next takes them (consume_encoded)
 * and the request holds profiles; md: the request's client metadata when
 * the receiver keeps it (include_metadata), else NULL. */
void pc__rx_job_bodies_for(pc__rx_job_t *j, const pc_consumer_t *next, const pc_metadata_t *md);

/* ---- TLS of a listener ----------------------------------------------------------
 * protocols.http.tls and protocols.grpc.tls: the Collector's configtls server
 * keys (component/server.h). */
#include "../component/server.h"

/* ---- the OTLP receiver without YAML ---------------------------------------- */

typedef struct {
  char *endpoint; /* "host:port" */
  uint64_t max_request_body_size;
  uint64_t max_buffered_bytes;
  bool include_metadata;
  char *profiles_url_path;
  char *traces_url_path;
  uint64_t idle_timeout;        /* ms */
  uint64_t read_header_timeout; /* ms */
  uint64_t read_body_timeout;   /* ms */
  uint64_t min_body_rate;       /* bytes per second */
  uint64_t write_timeout;       /* ms */
  uint64_t read_timeout;        /* ms, a whole request; 0: none */
  bool keepalives_enabled;
  int64_t max_connections;
  /* read into the receiver at create */
  const pc_cfg_node_t *response_headers;       /* map of name: value */
  const pc_cfg_node_t *compression_algorithms; /* list of Content-Encodings */
  char *authenticator; /* auth.authenticator: a bearertokenauth id, or NULL */
  /* protocols.http.cors (lists read into the receiver at create) */
  const pc_cfg_node_t *cors_allowed_origins;
  const pc_cfg_node_t *cors_allowed_headers;
  int64_t cors_max_age; /* seconds */
  pc_tls_files_t tls;        /* protocols.http.tls: TLS when cert_file is set */
  const pc_cfg_node_t *http; /* the protocols.http node, if any (error places) */
  const pc_cfg_node_t *grpc; /* the protocols.grpc node, if any */
} pc_otlp_settings_t;

/* Fill s with the defaults of the option table. */
void pc__otlp_defaults(pc_otlp_settings_t *s);
/* The receiver instance behind pc_receiver_otlp.create; strings in s are
 * copied. Returns NULL with err filled when a setting is invalid. */
void *pc__otlp_new(const pc_otlp_settings_t *s, const char *id, pc_consumer_t *next,
                   pc_err_t *err);
/* Its HTTP server (tests and fuzzing adopt sockets into it). */
pc_http_server_t *pc__otlp_server(void *self);
/* Request memory its spare decode jobs hold, gRPC's included (tests,
 * fuzzing). */
uint64_t pc__otlp_spare_held(void *self);

#endif
