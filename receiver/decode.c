/* decode.c - the work on one request's payload, shared by OTLP/HTTP
 * (otlp.c) and OTLP/gRPC (grpc.c): decompress it (bounded), then decode it
 * into a per-request arena (protobuf or OTLP-JSON; spans are handed on still
 * encoded).
 *
 * The one idea: a payload of at most INLINE_MAX bytes, as sent and as its
 * compression announces it decompressed, is done on the loop, because a
 * thread-pool round trip costs about as much as decoding 10 KB; anything
 * larger goes to libuv's thread pool, so one large request does not stall
 * the loop's other connections. A payload that inflates past INLINE_MAX on
 * the loop (its compression did not say, or lied) is started again in a
 * thread. Either way the caller hears of it once, on the loop.
 *
 * Finished jobs keep their arena and decompression buffer for the next
 * request (at most SPARE_JOBS of them): mapping them afresh for every large
 * message cost more in page faults than the decode itself saves
 * (bench/README.md). A job touches only itself while it works, so it may run
 * on any thread; the pool is the loop's. */
#include <stdlib.h>

#include "internal.h"

/* Payloads with at most this many bytes are decoded on the loop. */
#define INLINE_MAX ((size_t)128 << 10)
/* Finished jobs kept for reuse. */
#define SPARE_JOBS 8
/* A decompression buffer this small is kept with its job. */
#define SPARE_PLAIN_CAP ((size_t)1 << 20)

void pc__rx_pool_init(pc__rx_pool_t *p, uint64_t max_payload) {
  *p = (pc__rx_pool_t){.max_payload = max_payload};
}

static void job_free(pc__rx_job_t *j) {
  pc_arena_free(j->arena);
  pc_buf_free(&j->plain);
  pc_buf_free(&j->owned);
  free(j);
}

void pc__rx_pool_free(pc__rx_pool_t *p) {
  while (p->spare) {
    pc__rx_job_t *j = p->spare;
    p->spare = j->next_spare;
    job_free(j);
  }
  p->n_spare = 0;
}

pc__rx_job_t *pc__rx_job_get(pc__rx_pool_t *p) {
  pc__rx_job_t *j = p->spare;
  if (j) {
    p->spare = j->next_spare;
    p->n_spare--;
  } else {
    j = pc_xcalloc(1, sizeof *j);
    j->pool = p;
    j->arena = pc__rx_arena_new(p->max_payload);
  }
  return j;
}

/* Forget the last request; keep the arena's blocks and a small buffer. */
static void job_clear(pc__rx_job_t *j) {
  pc_arena_reset(j->arena);
  if (j->plain.cap > SPARE_PLAIN_CAP) pc_buf_free(&j->plain);
  j->plain.n = 0;
  pc_buf_free(&j->owned);
  pc_arena_t *arena = j->arena;
  pc_buf_t plain = j->plain;
  pc__rx_pool_t *p = j->pool;
  *j = (pc__rx_job_t){.pool = p, .arena = arena, .plain = plain};
}

void pc__rx_job_put(pc__rx_job_t *j) {
  pc__rx_pool_t *p = j->pool;
  if (p->n_spare >= SPARE_JOBS) {
    job_free(j);
    return;
  }
  job_clear(j);
  j->next_spare = p->spare;
  p->spare = j;
  p->n_spare++;
}

/* Decompress (output bounded by limit) and decode. Touches only the job. */
static void job_work(pc__rx_job_t *j, size_t limit) {
  j->payload = j->in;
  j->payload_n = j->in_n;
  j->rc = 0;
  j->failed = PC__RX_FAILED_NONE;
  j->err = (pc_err_t){0};
  if (j->enc != PC_ENC_IDENTITY) {
    j->plain.n = 0;
    j->rc = pc_decompress(j->enc, j->in, j->in_n, limit, &j->plain, &j->err);
    if (j->rc) {
      j->failed = PC__RX_FAILED_DECOMPRESS;
      return;
    }
    j->payload = j->plain.p;
    j->payload_n = j->plain.n;
  }
  if (j->traces) return; /* the consumer decodes spans */
  j->rc = j->json ? pc_json_decode(j->arena, j->payload, j->payload_n, &j->req, &j->err)
                  : pc_proto_decode(j->arena, j->payload, j->payload_n, &j->req, &j->err);
  if (j->rc) j->failed = PC__RX_FAILED_DECODE;
}

static void job_on_work(uv_work_t *w) {
  pc__rx_job_t *j = container_of(w, pc__rx_job_t, work);
  job_work(j, (size_t)j->pool->max_payload);
}

static void job_on_done(uv_work_t *w, int status) {
  pc__rx_job_t *j = container_of(w, pc__rx_job_t, work);
  j->pool->n_running--;
  j->done(j, status < 0 ? status : 0); /* cancelled: only when the loop is torn down */
}

void pc__rx_job_run(pc__rx_job_t *j) {
  pc__rx_pool_t *p = j->pool;
  size_t inline_max = p->max_payload < INLINE_MAX ? (size_t)p->max_payload : INLINE_MAX;
  if (j->in_n <= inline_max && pc_announced_size(j->enc, j->in, j->in_n) <= inline_max) {
    job_work(j, inline_max);
    bool bigger = j->failed == PC__RX_FAILED_DECOMPRESS && j->rc == PC_ELIMIT &&
                  inline_max < p->max_payload;
    if (!bigger) {
      j->done(j, 0);
      return;
    }
    pc_arena_reset(j->arena); /* inflates past INLINE_MAX: start again in a thread */
  }
  p->n_running++;
  j->async = true;
  if (uv_queue_work(p->loop, &j->work, job_on_work, job_on_done) != 0) {
    job_on_work(&j->work); /* cannot happen with valid arguments; stay correct anyway */
    job_on_done(&j->work, 0);
  }
}
