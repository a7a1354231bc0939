/* decode.c - the work on one request's payload, shared by OTLP/HTTP
 * (otlp.c) and OTLP/gRPC (grpc.c): decompress it (bounded), then decode it
 * into a per-request arena (protobuf or OTLP-JSON, profiles or spans), and,
 * when the next consumer takes finished bodies (exporters with no batch
 * processor before them), make those too: encoded and compressed for what
 * it sends, one body for all its exporters, as the batch processor's flush
 * makes a batch's. The loop then only hands them on, and a persistent
 * queue behind finds them compressed.
 *
 * The one idea: a payload of at most INLINE_MAX bytes, as sent and as its
 * compression announces it decompressed, is done on the loop, because a
 * thread-pool round trip costs about as much as decoding 10 KB; anything
 * larger goes to libuv's thread pool, so one large request does not stall
 * the loop's other connections. A payload that inflates past INLINE_MAX on
 * the loop (its compression did not say, or lied) is started again in a
 * thread. Either way the caller hears of it once, on the loop.
 *
 * Memory: everything a job holds counts against the process's request
 * memory budget (core.h), taken before it is allocated: the buffer the
 * payload decompresses into (as much as its compression announces, or the
 * limit when it does not say; a body that lies is started again with the
 * limit), the decompressor's own scratch while it works, and the arena. An
 * arena may take up to RX_ARENA_FACTOR times the decompressed payload (at
 * least RX_ARENA_MIN), but real payloads decode into about 2.5 times their
 * size (bench: 200 KB to 60 MB of profcol-gen protobuf), so the first try
 * takes ARENA_FIRST_FACTOR times; a payload that needs more is decoded
 * again with the whole allowance. When the budget cannot give what a step
 * needs, the job fails with PC__RX_FAILED_BUDGET before allocating it.
 *
 * Admission: a job takes what its first try will need (job_first_need) in
 * one step, on the loop, before it is queued or worked on, and holds at
 * least that until it is put back. The budget also holds the bodies that
 * are waiting for their decode; if each job asked only at each step, in the
 * thread pool, a burst of bodies that filled the budget would leave room
 * for no decode, and every job would fail at once before any refused body
 * was freed: everything refused though a few requests fit. Deciding on the
 * loop, one job at a time, a job refused there is answered at once and its
 * body freed before the next job is decided, so room comes back and some
 * are taken; and a job admitted there decodes, unless its payload needs
 * more than a first try.
 *
 * Finished jobs keep their arena and decompression buffer for the next
 * request (at most SPARE_JOBS of them), still counted: mapping them afresh
 * for every large message cost more in page faults than the decode itself
 * saves (bench/README.md). When the budget is short, the spares go first. A
 * job touches only itself (and the budget's atomics) while it works, so it
 * may run on any thread; the pool is the loop's.
 *
 * Warm memory: at most max_running jobs (the usable CPUs) are in the thread
 * pool at once; more would only take turns on the same CPUs, each on its
 * own arena and buffer, so every decode would find its memory out of the
 * cache (the server's decode missed the cache 2.5 times as often per
 * request as bench_floor's, which reuses one arena). The others wait,
 * admitted (their memory is reserved as above), in arrival order. A job
 * that starts after waiting trades its arena and buffer for the most
 * recently put back spare's (the one that just finished, still in the
 * cache) when what it reserved covers them; the spares are a stack, and
 * when full the oldest goes. */
#include <stdlib.h>

#include "internal.h"

/* Payloads with at most this many bytes are decoded on the loop. */
#define INLINE_MAX ((size_t)128 << 10)
/* Finished jobs kept for reuse. */
#define SPARE_JOBS 8
/* A decompression buffer this small is kept with its job. */
#define SPARE_PLAIN_CAP ((size_t)1 << 20)
/* The first try at decoding gets this many times the payload, plus
 * ARENA_FIRST_MIN, of arena; real payloads need about 2.5 times. */
#define ARENA_FIRST_FACTOR 4
#define ARENA_FIRST_MIN ((size_t)256 << 10)

/* Bring what j holds of the budget to want bytes: false, and nothing
 * changed, when the budget cannot give the difference (then j->need says
 * how much more was asked). */
static bool job_hold(pc__rx_job_t *j, uint64_t want) {
  pc_budget_t *b = j->pool->budget;
  if (want < j->admitted) want = j->admitted; /* kept until the job is put back */
  if (want > j->held && !pc_budget_take(b, want - j->held)) {
    j->need = want - j->held;
    return false;
  }
  if (want < j->held) pc_budget_give(b, j->held - want);
  j->held = want;
  return true;
}

/* What j holds between the steps of its work: the buffers and blocks it
 * has. */
static uint64_t job_resting(const pc__rx_job_t *j) {
  return (uint64_t)j->owned.cap + j->plain.cap + pc_arena_used(j->arena);
}

/* The budget could not give a step what it needs: the job fails, and the
 * refusal is counted. */
static void job_refused(pc__rx_job_t *j, const char *step) {
  pc_budget_t *b = j->pool->budget;
  j->failed = PC__RX_FAILED_BUDGET;
  /* More than the whole limit cannot fit later either. */
  j->rc = b && j->held + j->need > pc_budget_limit(b) ? PC_ELIMIT : PC_EAGAIN;
  pc_err_set(&j->err, j->rc, "%s would need %llu more bytes of request memory, %llu of %llu "
             "held (%s)", step, (unsigned long long)j->need,
             (unsigned long long)(b ? pc_budget_held(b) : 0),
             (unsigned long long)(b ? pc_budget_limit(b) : 0),
             b && b->key ? b->key : "the limit");
  pc_budget_refused(b, j->need, j->pool->log_id);
}

void pc__rx_pool_init(pc__rx_pool_t *p, uint64_t max_payload, pc_budget_t *budget,
                      const char *log_id) {
  *p = (pc__rx_pool_t){.max_payload = max_payload, .budget = budget, .log_id = log_id,
                       .max_running = pc_cpus_usable()};
}

static void job_free(pc__rx_job_t *j) {
  pc_budget_give(j->pool->budget, j->held);
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

uint64_t pc__rx_pool_held(const pc__rx_pool_t *p) {
  uint64_t n = 0;
  for (const pc__rx_job_t *j = p->spare; j; j = j->next_spare) n += j->held;
  return n;
}

pc__rx_job_t *pc__rx_job_get(pc__rx_pool_t *p) {
  pc__rx_job_t *j = p->spare;
  if (j) {
    p->spare = j->next_spare;
    p->n_spare--;
  } else {
    j = pc_xcalloc(1, sizeof *j);
    j->pool = p;
    j->arena = pc_arena_new(0);
    pc_arena_set_keep(j->arena, RX_ARENA_KEEP);
  }
  return j;
}

void pc__rx_job_own(pc__rx_job_t *j, pc_buf_t *buf) {
  j->owned = *buf;
  j->held += buf->cap;
  *buf = (pc_buf_t){0};
}

/* Forget the last request; keep the arena's blocks and a small buffer. */
static void job_clear(pc__rx_job_t *j) {
  pc_arena_reset(j->arena);
  if (j->plain.cap > SPARE_PLAIN_CAP) pc_buf_free(&j->plain);
  j->plain.n = 0;
  pc_buf_free(&j->owned);
  j->owned = (pc_buf_t){0};
  j->admitted = 0;
  job_hold(j, job_resting(j)); /* giving back cannot fail */
  pc_arena_t *arena = j->arena;
  pc_buf_t plain = j->plain;
  pc__rx_pool_t *p = j->pool;
  uint64_t held = j->held;
  *j = (pc__rx_job_t){.pool = p, .arena = arena, .plain = plain, .held = held};
}

/* Let go of the bodies and their metadata (they live on in the consumers
 * that took them). */
static void job_bodies_free(pc__rx_job_t *j) {
  for (size_t i = 0; i < j->n_bodies; i++) pc_body_unref(j->bodies[i]);
  free(j->bodies);
  pc_bytes_unref(j->body_md);
  j->bodies = NULL;
  j->n_bodies = 0;
  j->body_md = NULL;
}

void pc__rx_job_put(pc__rx_job_t *j) {
  pc__rx_pool_t *p = j->pool;
  job_bodies_free(j);
  pc_bytes_unref(j->kept); /* the consumer that kept it holds it now */
  j->kept = NULL;
  if (p->n_spare >= SPARE_JOBS) { /* the oldest, coldest spare goes */
    pc__rx_job_t **last = &p->spare;
    while ((*last)->next_spare) last = &(*last)->next_spare;
    job_free(*last);
    *last = NULL;
    p->n_spare--;
  }
  job_clear(j);
  j->next_spare = p->spare;
  p->spare = j;
  p->n_spare++;
}

/* Decompress in into plain, at most limit bytes, with the budget's leave:
 * 0, or the job failed. */
static int job_decompress(pc__rx_job_t *j, size_t limit) {
  /* As much as the compression announces (gzip's trailer, zstd's frame
   * header), when that is within the limit; a body that lies goes again
   * with the limit. */
  uint64_t said = pc_announced_size(j->enc, j->in, j->in_n);
  size_t want = said && said < limit ? (size_t)said : limit;
  for (;;) {
    size_t room = want + 1 > j->plain.cap ? want + 1 : j->plain.cap;
    uint64_t scratch = pc_decompress_scratch(j->enc, j->in, j->in_n, want);
    if (!job_hold(j, (uint64_t)j->owned.cap + room + scratch + pc_arena_used(j->arena))) {
      job_refused(j, "decompressing the body");
      return -1;
    }
    j->plain.n = 0;
    j->err = (pc_err_t){0};
    j->rc = pc_decompress(j->enc, j->in, j->in_n, want, &j->plain, &j->err);
    if (j->rc == PC_ELIMIT && want < limit) {
      want = limit;
      continue;
    }
    job_hold(j, job_resting(j)); /* the scratch and unused room go back */
    if (j->rc) {
      j->failed = PC__RX_FAILED_DECOMPRESS;
      return -1;
    }
    j->payload = j->plain.p;
    j->payload_n = j->plain.n;
    return 0;
  }
}

/* The arena a payload of payload_n bytes may take at most (the whole
 * allowance), and at the first try. */
static size_t arena_most(size_t payload_n) {
  return payload_n > RX_ARENA_MIN / RX_ARENA_FACTOR ? payload_n * RX_ARENA_FACTOR : RX_ARENA_MIN;
}

static size_t arena_first(size_t payload_n) {
  size_t first = payload_n * ARENA_FIRST_FACTOR + ARENA_FIRST_MIN, most = arena_most(payload_n);
  return first < most ? first : most;
}

/* Decode payload into the arena: first with ARENA_FIRST_FACTOR times the
 * payload, then, when that was not enough, with the whole allowance. */
static void job_decode(pc__rx_job_t *j) {
  size_t most = arena_most(j->payload_n);
  for (size_t allow = arena_first(j->payload_n);; allow = most) {
    size_t base = pc_arena_used(j->arena); /* blocks the arena kept */
    if (!job_hold(j, (uint64_t)j->owned.cap + j->plain.cap + base + allow)) {
      job_refused(j, "decoding the body");
      return;
    }
    pc_arena_set_limit(j->arena, base + allow);
    j->err = (pc_err_t){0};
    if (j->traces)
      j->rc = j->json ? pc_traces_json_decode(j->arena, j->payload, j->payload_n, &j->spans,
                                              &j->err)
                      : pc_traces_proto_decode(j->arena, j->payload, j->payload_n, &j->spans,
                                               &j->err);
    else
      j->rc = j->json ? pc_json_decode(j->arena, j->payload, j->payload_n, &j->req, &j->err)
                      : pc_proto_decode(j->arena, j->payload, j->payload_n, &j->req, &j->err);
    if (j->rc == PC_ENOMEM && allow < most) {
      pc_arena_reset(j->arena);
      continue;
    }
    if (j->rc) j->failed = PC__RX_FAILED_DECODE;
    return;
  }
}

/* The decoded profiles as finished bodies (make_bodies): what the
 * consumer's consume_profiles would have made of them on the loop. */
static void job_bodies(pc__rx_job_t *j) {
  if (!j->make_bodies || j->traces || j->failed != PC__RX_FAILED_NONE ||
      pc_request_profile_count(&j->req) == 0)
    return;
  j->bodies_err = (pc_err_t){0};
  j->bodies_rc = pc_request_bodies(&j->req, false, j->body_max, j->body_encodings, j->body_md,
                                   &j->bodies, &j->n_bodies, &j->bodies_err);
}

/* No outcome yet: the payload is the input, nothing failed. */
static void job_begin(pc__rx_job_t *j) {
  j->payload = j->in;
  j->payload_n = j->in_n;
  j->rc = 0;
  j->need = 0;
  j->failed = PC__RX_FAILED_NONE;
  j->err = (pc_err_t){0};
}

/* Decompress (output bounded by limit), decode, and make the bodies.
 * Touches only the job and the budget. */
static void job_work(pc__rx_job_t *j, size_t limit) {
  job_begin(j);
  if (j->enc != PC_ENC_IDENTITY && job_decompress(j, limit) != 0) return;
  job_decode(j);
  job_bodies(j);
}

void pc__rx_job_bodies_for(pc__rx_job_t *j, const pc_consumer_t *next, const pc_metadata_t *md) {
  if (j->traces || !next->consume_encoded) return;
  j->make_bodies = true;
  j->body_encodings = next->encodings;
  j->body_max = next->max_body;
  j->body_md = pc_md_bytes(md);
}

/* The job's buffer that holds the payload (decompressed into plain, or
 * gRPC's message in owned), or NULL: it is the caller's (in), if any. */
static pc_buf_t *payload_buf(pc__rx_job_t *j) {
  if (j->plain.p && j->payload == j->plain.p) return &j->plain;
  if (j->owned.p && j->payload >= j->owned.p &&
      j->payload + j->payload_n <= j->owned.p + j->owned.n)
    return &j->owned;
  return NULL;
}

/* The buffer holding the payload as shared bytes, for a consumer that
 * keeps the request's bytes (lender.keep): it leaves the job (or the
 * caller), and its share of the budget is given back: the keeper counts
 * it now. */
static pc_bytes_t *job_keep(pc_bytes_lender_t *l) {
  pc__rx_job_t *j = container_of(l, pc__rx_job_t, lender);
  if (j->kept) return pc_bytes_ref(j->kept);
  pc_buf_t *own = payload_buf(j), buf = {0};
  uint64_t share = 0;
  if (own) {
    buf = *own;
    *own = (pc_buf_t){0};
    share = buf.cap;
  } else if (!(j->payload == j->in && j->take_in && j->take_in(j, &buf))) {
    return NULL; /* take_in gives the budget back itself */
  }
  j->kept = pc_bytes_from_buf_part(&buf, j->payload, j->payload_n);
  job_hold(j, j->held - share); /* giving back cannot fail */
  return pc_bytes_ref(j->kept);
}

/* Let req's consumers keep its bytes by reference (req.encoded_lender)
 * when they are the payload, in a buffer the job can give up. */
static void job_lend(pc__rx_job_t *j) {
  pc_buf_t *own = payload_buf(j);
  if (j->req.encoded != j->payload || !j->req.encoded_n ||
      (!own && !(j->payload == j->in && j->take_in)))
    return;
  j->lender = (pc_bytes_lender_t){.keep = job_keep, .cap = own ? own->cap : j->in_cap};
  j->req.encoded_lender = &j->lender;
}

int pc__rx_job_consume(pc__rx_job_t *j, pc_consumer_t *next, pc_err_t *err) {
  if (!j->make_bodies) {
    job_lend(j);
    return next->consume_profiles(next, &j->req, err);
  }
  if (j->bodies_rc) {
    *err = j->bodies_err;
    return j->bodies_rc;
  }
  for (size_t i = 0; i < j->n_bodies; i++) {
    int rc = next->consume_encoded(next, j->bodies[i], err);
    if (rc) return rc;
  }
  return 0;
}

static void job_on_work(uv_work_t *w) {
  pc__rx_job_t *j = container_of(w, pc__rx_job_t, work);
  job_work(j, (size_t)j->pool->max_payload);
}

static void pool_start_waiting(pc__rx_pool_t *p, int status);

static void job_on_done(uv_work_t *w, int status) {
  pc__rx_job_t *j = container_of(w, pc__rx_job_t, work);
  pc__rx_pool_t *p = j->pool;
  p->n_running--;
  p->n_working--;
  j->done(j, status < 0 ? status : 0); /* cancelled: only when the loop is torn down */
  pool_start_waiting(p, status < 0 ? status : 0); /* j is a spare now, warm */
}

static void job_start(pc__rx_job_t *j) {
  pc__rx_pool_t *p = j->pool;
  p->n_working++;
  if (uv_queue_work(p->loop, &j->work, job_on_work, job_on_done) != 0) {
    job_on_work(&j->work); /* cannot happen with valid arguments; stay correct anyway */
    job_on_done(&j->work, 0);
  }
}

static void job_swap_memory(pc__rx_job_t *a, pc__rx_job_t *b) {
  pc_arena_t *arena = a->arena;
  pc_buf_t plain = a->plain;
  a->arena = b->arena;
  a->plain = b->plain;
  b->arena = arena;
  b->plain = plain;
}

static uint64_t job_first_need(const pc__rx_job_t *j, size_t limit);

/* j, admitted and about to start after waiting, takes the arena and
 * decompression buffer of the warmest spare (put back last, most likely
 * still in the cache), when what j reserved at admission covers its first
 * try with them; the spare takes j's, and its share of the budget moves
 * with them, so the budget only ever gets bytes back here. */
static void job_take_warm(pc__rx_job_t *j) {
  pc__rx_job_t *s = j->pool->spare;
  /* A spare holds exactly what it rests on (job_clear). */
  if (!s || s->held != (uint64_t)s->plain.cap + pc_arena_used(s->arena)) return;
  uint64_t mine = (uint64_t)j->plain.cap + pc_arena_used(j->arena);
  uint64_t total = j->held + s->held;
  job_swap_memory(j, s);
  uint64_t need = job_first_need(j, (size_t)j->pool->max_payload);
  if (total < mine || need > total - mine) {
    job_swap_memory(j, s); /* it would need more than it holds: keep its own */
    return;
  }
  s->held = mine; /* a spare holds what it rests on */
  j->held = total - mine;
  j->admitted = 0;
  job_hold(j, need); /* giving back cannot fail */
  j->admitted = need;
}

/* Start waiting jobs while the pool has room for them; when the loop is
 * being torn down (status < 0), answer them as cancelled instead. */
static void pool_start_waiting(pc__rx_pool_t *p, int status) {
  while (p->wait_head && (status < 0 || !p->max_running || p->n_working < p->max_running)) {
    pc__rx_job_t *j = p->wait_head;
    p->wait_head = j->next_spare;
    if (!p->wait_head) p->wait_tail = NULL;
    j->next_spare = NULL;
    if (status < 0) {
      p->n_running--;
      j->done(j, status);
      continue;
    }
    job_take_warm(j);
    job_start(j);
  }
}

/* Free the spare jobs, and what make_room frees, when the budget may not
 * have room for n more bytes: what they keep counts against it. */
static void pool_make_room(pc__rx_pool_t *p, uint64_t n) {
  if (pc_budget_fits(p->budget, n)) return;
  pc__rx_pool_free(p);
  if (p->make_room) p->make_room(p->make_room_ud);
}

/* What j will hold at the peak of its first try at the work with output
 * bounded by limit, as job_decompress and job_decode ask for it: the
 * decompression's buffer and scratch, then the arena's first allowance for
 * the payload. A compressed body that does not announce its size is
 * counted as decoding its own size: all that is known of it yet. */
static uint64_t job_first_need(const pc__rx_job_t *j, size_t limit) {
  if (j->enc == PC_ENC_IDENTITY) return job_resting(j) + arena_first(j->in_n);
  uint64_t rest = (uint64_t)j->owned.cap + pc_arena_used(j->arena); /* room replaces plain */
  uint64_t said = pc_announced_size(j->enc, j->in, j->in_n);
  size_t want = said && said < limit ? (size_t)said : limit;
  uint64_t room = want + 1 > j->plain.cap ? want + 1 : j->plain.cap;
  uint64_t unpack = room + pc_decompress_scratch(j->enc, j->in, j->in_n, want);
  uint64_t decode = room + arena_first(said && said < limit ? (size_t)said : j->in_n);
  return rest + (unpack > decode ? unpack : decode);
}

/* Take what j's first try needs in one step (admission, above): false, with
 * j failed with PC__RX_FAILED_BUDGET, when the budget has no room for it. */
static bool job_admit(pc__rx_job_t *j, size_t limit) {
  job_begin(j);
  uint64_t need = job_first_need(j, limit);
  pool_make_room(j->pool, need > j->held ? need - j->held : 0);
  if (!job_hold(j, need)) {
    job_refused(j, j->enc == PC_ENC_IDENTITY ? "decoding the body"
                                             : "decompressing and decoding the body");
    return false;
  }
  j->admitted = need;
  return true;
}

void pc__rx_job_run(pc__rx_job_t *j) {
  pc__rx_pool_t *p = j->pool;
  size_t inline_max = p->max_payload < INLINE_MAX ? (size_t)p->max_payload : INLINE_MAX;
  bool on_loop =
      j->in_n <= inline_max && pc_announced_size(j->enc, j->in, j->in_n) <= inline_max;
  if (!job_admit(j, on_loop ? inline_max : (size_t)p->max_payload)) {
    j->done(j, 0); /* answered now: its body is freed before the next job is decided */
    return;
  }
  if (on_loop) {
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
  if (p->max_running && p->n_working >= p->max_running) { /* waits its turn, admitted */
    j->next_spare = NULL;
    if (p->wait_tail)
      p->wait_tail->next_spare = j;
    else
      p->wait_head = j;
    p->wait_tail = j;
    return;
  }
  job_start(j);
}
