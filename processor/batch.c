/* batch.c - the `batch` processor: merge requests into one batch with one
 * dictionary and hand it on by size, by age and at shutdown.
 *
 * The one idea: a request is acknowledged (consume returns 0) only once all
 * of it sits in a builder this processor owns: the open batch, or sealed
 * batches waiting in `pending` for the next consumer. A request that does
 * not fit (send_batch_max_size samples, send_batch_max_bytes bytes) is split
 * across several builders before consume returns. When the next consumer
 * answers PC_EAGAIN the sealed batch stays in `pending`, the timer retries
 * it, and new requests are refused with PC_EAGAIN until the queue drains, so
 * a receiver answers 503 instead of profcol dropping what it acknowledged.
 *
 * Builders are reused: a flushed one is reset (tables and arena kept) and
 * parked in a small spare list.
 *
 * When the next consumer takes finished bodies (exporters that send
 * protobuf), a sealed batch is encoded and compressed for the encodings
 * they send - above FLUSH_INLINE_MAX bytes in libuv's thread pool
 * (hand_on.c), one batch at a time so they
 * go out in order, while the loop keeps merging into the open batch; the
 * batch is then handed on from the loop. Batches are capped, before
 * encoding, at the smallest body any exporter downstream takes
 * (pc_consumer_t.max_body), so no exporter ever splits or decodes one.
 * While MAX_SEALED sealed batches wait for the pool, sealing waits too: the
 * open batch keeps taking whole requests past send_batch_size (a trigger,
 * not a cap) up to WAIT_BATCHES (3) times send_batch_size samples (and its
 * byte cap), and is sealed when the pool takes the next one; only a
 * request that does not fit the open batch whole is refused with
 * PC_EAGAIN. That absorbs a pool that is briefly behind: it runs decodes
 * too, and a sample-heavy flush (a batch every two requests at the default
 * send_batch_size) queued behind a few of them made the batch refuse about
 * a third of the requests it had just paid to decode. It does not let the
 * open batch grow to its byte cap: when the pool is behind because
 * compression cannot keep up (gzip at level 6 costs about 6 times the
 * decode of a sample-heavy request), a batch of 8 MiB is a second of
 * compression that everything behind it waits for, in about 75 MB held.
 * Both refusals are known before a request comes (the consumer's full
 * hook), so receivers refuse at the headers instead of decoding what would
 * be refused; and as a request passed at its headers is merged only after
 * its body is read and decoded, while the pool is behind each one passed
 * reserves room for a request as big as the biggest so far (`admitted`),
 * so that a burst of requests let in at once does not fill the open batch
 * behind the hook's back and get refused after being decoded.
 *
 * metadata_keys (the Collector's): the instance becomes a router over
 * shards, one whole batch_t per distinct combination of those keys' values
 * in the request's client metadata, each with its own batch, timer and
 * pending list, so tenants never share a batch and flush independently.
 * Each shard's batches carry only those keys downstream. Shards live until
 * shutdown, as the Collector's do; metadata_cardinality_limit bounds them.
 *
 * Self-telemetry: the Collector's batch processor metrics (batch sizes as a
 * histogram of samples with its buckets, size and timeout triggers), plus
 * bytes handed on, batches held and samples dropped. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../pdata/intern.h"
#include "internal.h"
#include "processor.h"

typedef struct {
  int64_t send_batch_size;
  int64_t send_batch_max_size;
  uint64_t timeout_ms;
  uint64_t send_batch_max_bytes;
  const pc_cfg_node_t *metadata_keys;
  int64_t metadata_cardinality_limit;
} batch_cfg_t;

static const pc_opt_t batch_opts[] = {
    PC_OPT_INT_RANGE("send_batch_size", "8192", batch_cfg_t, send_batch_size, 0, INT32_MAX,
                     "samples that trigger a flush (a trigger, not a cap)"),
    PC_OPT_INT_RANGE("send_batch_max_size", "0", batch_cfg_t, send_batch_max_size, 0,
                     INT32_MAX,
                     "most samples in one batch, larger requests are split (0: no limit; "
                     "otherwise at least send_batch_size)"),
    PC_OPT_DUR("timeout", "200ms", batch_cfg_t, timeout_ms, 0, 86400000,
               "flush a batch this long after it got its first data (0: flush every request "
               "at once, only split by the max sizes)"),
    PC_OPT_BYTES("send_batch_max_bytes", "8MiB", batch_cfg_t, send_batch_max_bytes, 0,
                 (int64_t)1 << 40,
                 "most protobuf bytes in one batch (an upper estimate), larger requests are "
                 "split (0: no limit); keep it well under the receiving server's limit"),
    PC_OPT_ANY("metadata_keys", batch_cfg_t, metadata_keys,
               "list of client metadata keys (receiver include_metadata), e.g. "
               "[x-scope-orgid]: one batch per distinct combination of their values, "
               "flushed on its own and carrying those keys downstream; names match in any "
               "case, a missing key is a value of its own"),
    PC_OPT_INT_RANGE("metadata_cardinality_limit", "1000", batch_cfg_t,
                     metadata_cardinality_limit, 1, 1000000,
                     "most distinct combinations of metadata_keys values over the "
                     "processor's life; a request bringing one more is refused (503, "
                     "gRPC UNAVAILABLE)"),
    PC_OPT_TABLE_END,
};

enum { B_CREATED, B_RUNNING, B_STOPPING, B_STOPPED };

/* The Collector's bucket bounds for otelcol_processor_batch_batch_send_size. */
static const double size_bounds[] = {10,   25,   50,   75,   100,  250,   500,   750,
                                     1000, 2000, 3000, 4000, 5000, 6000,  7000,  8000,
                                     9000, 10000, 20000, 30000, 50000, 100000};
#define N_BOUNDS (sizeof size_bounds / sizeof size_bounds[0])

/* Counters for the metrics hook; only the loop touches them. */
typedef struct {
  uint64_t size_triggers, timeout_triggers;
  uint64_t sizes[N_BOUNDS + 1]; /* batches handed on, by samples */
  uint64_t samples_sent, bytes_sent;
  uint64_t samples_dropped, requests_refused;
} batch_stats_t;
/* MAX_SEALED: sealed batches waiting to be encoded (the one in the pool
 * included) before sealing waits and the open batch grows instead: with
 * it, at 8 MiB batches and ~1.9 bytes of builder per encoded byte
 * (bench_merge), about 75 MB. */
enum { MAX_SPARE = 2, MIN_RETRY_MS = 50, MAX_RETRY_MS = 1000, MAX_SEALED = 4 };
enum { BUSY = 1 }; /* drain: waiting for the thread pool */
/* Batches up to this many protobuf bytes (an upper estimate) are encoded
 * and compressed on the loop, as exporters compress bodies up to it there
 * (core.h says why 128 KiB). */
#define FLUSH_INLINE_MAX ((uint64_t)PC_BODY_INLINE_MAX)
/* How far the open batch may grow while sealing waits for the pool when
 * neither send_batch_max_bytes nor the exporters set a cap. */
#define WAIT_MAX_BYTES ((uint64_t)8 << 20)
/* ... and in samples: this many times send_batch_size (send_batch_max_size
 * when smaller): the batch the open one would have been, and two more
 * batches' worth, so that requests of about half a batch (the sidecar's
 * sample-heavy shape: 4,661 samples against 8,192) still fit a few at a
 * time past the trigger. */
enum { WAIT_BATCHES = 3 };

typedef struct batch batch_t;

struct batch {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  batch_cfg_t cfg;
  pc_consumer_t *next;
  uv_loop_t *loop; /* NULL until start */
  uv_timer_t timer;
  int state;
  pc_builder_t *open;     /* the batch being filled */
  pc_builder_t **pending; /* sealed batches, oldest first */
  uint32_t n_pending, cap_pending;
  pc_builder_t *spare[MAX_SPARE];
  uint32_t n_spare;
  uint64_t max_bytes;      /* send_batch_max_bytes, or next->max_body when smaller */
  pc__flush_t flush;       /* pending[0] being encoded in the thread pool */
  bool flushing;
  pc_body_t *ready;        /* the oldest batch, encoded, not yet taken downstream */
  pc_builder_stats_t ready_st; /* ... what it held */
  /* Sealing waits for the pool (pool_behind): the trigger to count when
   * the open batch is sealed after all, or NULL; open_full: a request did
   * not fit it whole, so it takes none until sealed; biggest: the most
   * protobuf bytes and samples one request added, to tell full early. */
  uint64_t *deferred;
  bool open_full;
  uint64_t biggest_bytes, biggest_samples;
  /* Requests the full hook let in while the pool was behind and consume
   * has not seen yet: room reserved for them (open_has_room). Forgotten
   * when the pool is not behind at the hook, so one that never comes (a
   * client gone, a body that did not decode) holds nothing for long. */
  uint64_t admitted;
  /* shutdown */
  uint64_t deadline_ms;
  pc_done_cb done;
  void *done_arg;
  /* backpressure, for the pause/resume logs */
  bool paused;
  uint64_t retries, refused;
  batch_stats_t st;
  /* A shard: the metadata its batches carry (views into md_raw). */
  pc_buf_t md_raw;
  pc_metadata_t md;
  pc_bytes_t *md_bytes; /* md as its bodies carry it, or NULL */
  uint64_t md_hash;
  /* A router (metadata_keys set): its shards, and their shutdown. */
  pc_str_t *keys; /* lowercased; NULL: not a router */
  size_t n_keys;
  batch_t **shards;
  uint32_t n_shards, cap_shards;
  pc_buf_t scratch; /* the shard key of the request being routed */
  uint32_t shards_left;
  bool shards_stopped, warned_limit;
};

/* ---- builders ------------------------------------------------------------- */

static pc_builder_t *take_builder(batch_t *p) {
  return p->n_spare ? p->spare[--p->n_spare] : pc_builder_new();
}

static void give_builder(batch_t *p, pc_builder_t *b) {
  if (p->n_spare == MAX_SPARE) {
    pc_builder_free(b);
    return;
  }
  pc_builder_reset(b);
  p->spare[p->n_spare++] = b;
}

/* Move the open batch (when it holds anything) to the end of pending,
 * counting why in *trigger (may be NULL). */
static void seal(batch_t *p, uint64_t *trigger) {
  if (pc_builder_empty(p->open)) return;
  if (trigger) (*trigger)++;
  if (p->n_pending == p->cap_pending) {
    p->cap_pending = p->cap_pending ? p->cap_pending * 2 : 4;
    p->pending = pc_xrealloc(p->pending, p->cap_pending * sizeof *p->pending);
  }
  p->pending[p->n_pending++] = p->open;
  p->open = take_builder(p);
  p->deferred = NULL;
  p->open_full = false;
}

/* MAX_SEALED batches wait for the thread pool: sealing one more waits. */
static bool pool_behind(const batch_t *p) {
  return p->flushing && p->n_pending >= MAX_SEALED;
}

/* Seal for a trigger, or while the pool is behind note it for
 * batch_on_flushed, which seals the open batch as soon as there is room. */
static void seal_or_defer(batch_t *p, uint64_t *trigger) {
  if (pool_behind(p) && !pc_builder_empty(p->open)) {
    if (!p->deferred) p->deferred = trigger;
    return;
  }
  seal(p, trigger);
}

static void pop_pending(batch_t *p) {
  give_builder(p, p->pending[0]);
  memmove(p->pending, p->pending + 1, --p->n_pending * sizeof *p->pending);
}

/* ---- handing batches on ------------------------------------------------------ */

static void note_paused(batch_t *p, const pc_builder_stats_t *st, const char *why) {
  p->retries++;
  if (p->paused) return;
  p->paused = true;
  pc_log(p->id, PC_LOG_WARN,
         "paused: next consumer refused a batch of %" PRIu64 " samples (%" PRIu64
         " B): %s; holding %" PRIu32 " batches, refusing new data until it takes them",
         st->samples, st->out_bytes, why, p->n_pending);
}

/* A batch was handed on: into the size histogram. */
static void note_sent(batch_t *p, const pc_builder_stats_t *st) {
  size_t i = 0;
  while (i < N_BOUNDS && (double)st->samples > size_bounds[i]) i++;
  p->st.sizes[i]++;
  p->st.samples_sent += st->samples;
  p->st.bytes_sent += st->out_bytes;
}

static void note_resumed(batch_t *p) {
  if (!p->paused) return;
  p->paused = false;
  pc_log(p->id, PC_LOG_INFO,
         "resumed: next consumer took the held batches after %" PRIu64
         " tries; %" PRIu64 " requests were refused meanwhile",
         p->retries, p->refused);
  p->retries = p->refused = 0;
}

/* What the next consumer said to a batch it was handed (not PC_EAGAIN). */
static void handed(batch_t *p, const pc_builder_stats_t *st, int rc, const pc_err_t *err) {
  if (rc) {
    p->st.samples_dropped += st->samples;
    pc_log(p->id, PC_LOG_ERROR,
           "dropped a batch of %" PRIu64 " samples: next consumer refused it for good: %s",
           st->samples, err->msg[0] ? err->msg : pc_strerror(rc));
    return;
  }
  note_sent(p, st);
  pc_log(p->id, PC_LOG_DEBUG,
         "flushed %" PRIu64 " samples in %" PRIu64 " profiles, ~%" PRIu64
         " B (merged from ~%" PRIu64 " B)",
         st->samples, st->profiles, st->out_bytes, st->in_bytes);
}

static void batch_on_flushed(pc__flush_t *f);

/* Encode and compress pending[0] in the thread pool. */
static void start_flush(batch_t *p) {
  p->flushing = true;
  p->flush = (pc__flush_t){.b = p->pending[0], .encodings = p->next->encodings,
                           .md = p->md_bytes, .done = batch_on_flushed};
  pc__flush_start(p->loop, &p->flush);
}

/* Hand held batches to the next consumer, oldest first: the ready body,
 * then sealed batches (through the thread pool when it takes bodies).
 * Returns 0 when all went out, BUSY while the pool works on one, or
 * PC_EAGAIN at the first refusal (that batch is kept); a batch refused for
 * good is logged and dropped, as nothing can make the consumer take it. */
static int drain(batch_t *p) {
  for (;;) {
    pc_err_t err = {0};
    if (p->ready) {
      int rc = p->next->consume_encoded(p->next, p->ready, &err);
      if (rc == PC_EAGAIN) {
        note_paused(p, &p->ready_st, err.msg[0] ? err.msg : pc_strerror(rc));
        return PC_EAGAIN;
      }
      handed(p, &p->ready_st, rc, &err);
      pc_body_unref(p->ready);
      p->ready = NULL;
      continue;
    }
    if (!p->n_pending) break;
    if (p->flushing) return BUSY;
    if (p->next->consume_encoded && p->loop &&
        pc_builder_stats(p->pending[0])->out_bytes > FLUSH_INLINE_MAX) {
      start_flush(p);
      continue; /* done may have run already */
    }
    /* Small, a consumer of trees, or no loop (shutdown before start): now. */
    pc_builder_t *b = p->pending[0];
    const pc_builder_stats_t *st = pc_builder_stats(b);
    int rc = pc__hand_on(b, &p->md, p->next, &err); /* md: empty unless a shard */
    if (rc == PC_EAGAIN) {
      note_paused(p, st, err.msg[0] ? err.msg : pc_strerror(rc));
      return PC_EAGAIN;
    }
    handed(p, st, rc, &err);
    pop_pending(p);
  }
  note_resumed(p);
  return 0;
}

static uint64_t retry_ms(const batch_t *p) {
  uint64_t t = p->cfg.timeout_ms;
  return t < MIN_RETRY_MS ? MIN_RETRY_MS : t > MAX_RETRY_MS ? MAX_RETRY_MS : t;
}

static void batch_on_timer(uv_timer_t *t);

/* Keep the timer in step with the state: retrying while batches are held,
 * else counting down the open batch's timeout, else idle. */
static void arm(batch_t *p) {
  if (!p->loop || p->state != B_RUNNING) return;
  bool active = uv_is_active((uv_handle_t *)&p->timer);
  if (p->ready || (p->n_pending && !p->flushing)) {
    if (!active) uv_timer_start(&p->timer, batch_on_timer, retry_ms(p), 0);
  } else if (!pc_builder_empty(p->open)) {
    if (!active) uv_timer_start(&p->timer, batch_on_timer, p->cfg.timeout_ms, 0);
  } else if (active) {
    uv_timer_stop(&p->timer);
  }
}

/* ---- consume ----------------------------------------------------------------- */

/* pc_builder_add_range into the open batch, remembering the most one add
 * grew it by (open_has_room). */
static int add(batch_t *p, const pc_request_t *req, uint64_t first, uint64_t n, uint64_t cap,
               pc_err_t *err) {
  pc_builder_stats_t before = *pc_builder_stats(p->open);
  int rc = pc_builder_add_range(p->open, req, first, n, cap, err);
  if (rc) return rc;
  const pc_builder_stats_t *st = pc_builder_stats(p->open);
  if (st->out_bytes - before.out_bytes > p->biggest_bytes)
    p->biggest_bytes = st->out_bytes - before.out_bytes;
  if (st->samples - before.samples > p->biggest_samples)
    p->biggest_samples = st->samples - before.samples;
  return 0;
}

/* The open batch's caps while sealing waits for the pool: bytes, and
 * samples (0: none, when send_batch_size is 0 and send_batch_max_size
 * unset). */
static uint64_t wait_cap(const batch_t *p) {
  return p->max_bytes ? p->max_bytes : WAIT_MAX_BYTES;
}

static uint64_t wait_samples(const batch_t *p) {
  uint64_t max = (uint64_t)p->cfg.send_batch_max_size;
  uint64_t grow = WAIT_BATCHES * (uint64_t)p->cfg.send_batch_size;
  return max && (!grow || grow > max) ? max : grow;
}

/* While sealing waits: whether a request as big as the biggest so far
 * would still fit the open batch whole, after the requests already let in
 * at their headers (admitted). */
static bool open_has_room(const batch_t *p) {
  const pc_builder_stats_t *st = pc_builder_stats(p->open);
  uint64_t max = wait_samples(p), n = p->admitted + 1;
  return !p->open_full && st->out_bytes + n * p->biggest_bytes <= wait_cap(p) &&
         (!max || st->samples + n * p->biggest_samples <= max);
}

/* While sealing waits: all of req into the open batch, or nothing and
 * PC_ELIMIT (nothing can be sealed to make room). One failed try marks the
 * open batch full, so that refusing does not roll a big builder back
 * request after request. */
static int merge_whole(batch_t *p, const pc_request_t *req, pc_err_t *err) {
  uint64_t max = wait_samples(p);
  int rc = p->open_full ? PC_ELIMIT : 0;
  if (!rc && max && pc_builder_stats(p->open)->samples + pc_request_sample_count(req) > max)
    rc = PC_ELIMIT;
  if (!rc) rc = add(p, req, 0, UINT64_MAX, wait_cap(p), err);
  if (rc == PC_ELIMIT) p->open_full = true;
  return rc;
}

/* Merge all of req into builders, splitting it where a batch would pass
 * send_batch_max_size samples or send_batch_max_bytes bytes. Each part is
 * merged whole or not at all; when a part does not fit the byte cap in an
 * empty batch it is halved (one sample always fits). Only an allocation
 * failure can stop a split half way: the parts already merged stay and the
 * request is refused, so a client that retries it duplicates those parts
 * (never loses any). */
static int merge(batch_t *p, const pc_request_t *req, pc_err_t *err) {
  uint64_t total = pc_request_sample_count(req), first = 0, want = UINT64_MAX;
  uint64_t max = (uint64_t)p->cfg.send_batch_max_size;
  for (;;) {
    uint64_t have = pc_builder_stats(p->open)->samples;
    if (max && have >= max) {
      seal(p, &p->st.size_triggers);
      continue;
    }
    uint64_t n = total ? total - first : UINT64_MAX;
    if (max && n > max - have) n = max - have;
    if (n > want) n = want;
    int rc = add(p, req, first, n, p->max_bytes, err);
    if (rc == PC_ELIMIT && !pc_builder_empty(p->open)) {
      seal(p, &p->st.size_triggers);
      continue;
    }
    if (rc == PC_ELIMIT && n > 1) {
      want = n / 2;
      continue;
    }
    if (rc) return rc;
    first += n;
    if (!total || first >= total) return 0;
  }
}

static bool due(const batch_t *p) {
  return p->cfg.timeout_ms == 0 ||
         pc_builder_stats(p->open)->samples >= (uint64_t)p->cfg.send_batch_size;
}

static int route(batch_t *p, pc_request_t *req, pc_err_t *err);

/* A request refused while held batches wait (drain said held): counted,
 * and err says why. */
static int refused(batch_t *p, int held, pc_err_t *err) {
  p->refused++;
  p->st.requests_refused++;
  if (held == BUSY)
    return pc_err_set(err, PC_EAGAIN, "%s: %" PRIu32 " batches wait to be encoded and "
                      "compressed, and the open batch is full (%" PRIu64 " samples, ~%" PRIu64
                      " B, %" PRIu64 " more requests on their way)", p->id, p->n_pending,
                      pc_builder_stats(p->open)->samples, pc_builder_stats(p->open)->out_bytes,
                      p->admitted);
  return pc_err_set(err, PC_EAGAIN, "%s: the next consumer is full (%" PRIu32
                    " batches held)", p->id, p->n_pending + (p->ready != NULL));
}

static int batch_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  batch_t *p = container_of(self, batch_t, consumer);
  if (p->state == B_STOPPING || p->state == B_STOPPED)
    return pc_err_set(err, PC_EAGAIN, "%s is shutting down", p->id);
  if (p->keys) return route(p, req, err);
  if (p->admitted) p->admitted--; /* here now: no longer reserved */
  int held = p->ready || p->n_pending ? drain(p) : 0;
  if (held == PC_EAGAIN) {
    arm(p);
    return refused(p, held, err);
  }
  int rc;
  if (pool_behind(p)) {
    if ((rc = merge_whole(p, req, err)) == PC_ELIMIT) {
      arm(p);
      return refused(p, BUSY, err);
    }
  } else {
    rc = merge(p, req, err);
  }
  if (due(p)) seal_or_defer(p, &p->st.size_triggers);
  drain(p); /* a refusal here is retried on the timer: req is held either way */
  arm(p);
  if (rc) /* the client hears of it; per request, so debug only */
    pc_log(p->id, PC_LOG_DEBUG, "could not batch a request of %" PRIu64 " samples: %s",
           pc_request_sample_count(req), err && err->msg[0] ? err->msg : pc_strerror(rc));
  return rc;
}

/* Known full (component.h): what consume would say to any request now,
 * after the same push of held batches; a request refused here counts as
 * refused. A router over metadata shards cannot tell without the
 * request's metadata: only while it stops. */
static bool batch_full(pc_consumer_t *self, pc_err_t *err) {
  batch_t *p = container_of(self, batch_t, consumer);
  if (p->state == B_STOPPING || p->state == B_STOPPED) {
    pc_err_set(err, PC_EAGAIN, "%s is shutting down", p->id);
    return true;
  }
  if (p->keys || (!p->ready && !p->n_pending)) {
    p->admitted = 0;
    return false;
  }
  int held = drain(p);
  arm(p);
  if (held != PC_EAGAIN && !pool_behind(p)) {
    p->admitted = 0; /* consume seals for room now: nothing to reserve */
    return false;
  }
  if (held != PC_EAGAIN && open_has_room(p)) {
    p->admitted++;
    return false;
  }
  refused(p, held == PC_EAGAIN ? held : BUSY, err);
  return true;
}

/* ---- timer and shutdown ----------------------------------------------------- */

static void batch_on_close(uv_handle_t *h) {
  batch_t *p = container_of(h, batch_t, timer);
  p->state = B_STOPPED;
  p->done(p->done_arg);
}

static void drop_pending(batch_t *p, const char *why) {
  uint64_t samples = p->ready ? p->ready_st.samples : 0;
  uint32_t n = p->n_pending + (p->ready != NULL);
  pc_body_unref(p->ready);
  p->ready = NULL;
  while (p->n_pending) {
    samples += pc_builder_stats(p->pending[0])->samples;
    pop_pending(p);
  }
  p->st.samples_dropped += samples;
  if (n)
    pc_log(p->id, PC_LOG_ERROR, "dropped %" PRIu32 " batches (%" PRIu64 " samples): %s", n,
           samples, why);
}

/* At shutdown: finish once everything went out or the deadline passed,
 * else try again on the timer. */
static void finish_or_wait(batch_t *p) {
  uint64_t now = uv_now(p->loop);
  if ((p->n_pending || p->ready) && now < p->deadline_ms) {
    if (p->flushing) return; /* batch_on_flushed comes back here */
    uint64_t wait = retry_ms(p);
    if (wait > p->deadline_ms - now) wait = p->deadline_ms - now;
    uv_timer_start(&p->timer, batch_on_timer, wait, 0);
    return;
  }
  if (p->flushing) return; /* a job in the pool cannot be stopped: wait for it */
  drop_pending(p, "the next consumer still refused them at the shutdown deadline");
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, batch_on_close);
}

static void batch_on_timer(uv_timer_t *t) {
  batch_t *p = container_of(t, batch_t, timer);
  if (p->state == B_STOPPING)
    seal(p, NULL);
  else
    seal_or_defer(p, &p->st.timeout_triggers);
  drain(p);
  if (p->state == B_STOPPING)
    finish_or_wait(p);
  else
    arm(p);
}

static bool shards_shutdown(batch_t *p, uint64_t deadline_ms, pc_done_cb done, void *arg);

/* The thread pool finished pending[0]: its builder goes back to the
 * spares, its body waits in ready for the next consumer. */
static void batch_on_flushed(pc__flush_t *f) {
  batch_t *p = container_of(f, batch_t, flush);
  p->flushing = false;
  p->ready_st = *pc_builder_stats(p->pending[0]);
  pop_pending(p);
  if (p->deferred) seal(p, p->deferred); /* room again: what waited for it */
  if (f->body) {
    p->ready = f->body;
  } else {
    p->st.samples_dropped += p->ready_st.samples;
    pc_log(p->id, PC_LOG_ERROR, "dropped a batch of %" PRIu64 " samples: cannot encode or "
           "compress it: %s", p->ready_st.samples, pc_strerror(f->rc));
  }
  if (p->state == B_STOPPED) return; /* never started: shutdown ran without the pool */
  drain(p);
  if (p->state == B_STOPPING) finish_or_wait(p);
  else arm(p);
}

static void batch_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  batch_t *p = self;
  if (p->state == B_STOPPING || p->state == B_STOPPED) {
    done(arg);
    return;
  }
  if (shards_shutdown(p, deadline_ms, done, arg)) return; /* back here once they are done */
  bool started = p->state == B_RUNNING;
  p->state = B_STOPPING;
  p->deadline_ms = deadline_ms;
  p->done = done;
  p->done_arg = arg;
  seal(p, NULL);
  drain(p);
  if (started) {
    finish_or_wait(p);
    return;
  }
  /* Never started: there is no loop to wait on. */
  drop_pending(p, "the next consumer refused them and the processor was never started");
  p->state = B_STOPPED;
  done(arg);
}

/* ---- lifecycle ----------------------------------------------------------------- */

static batch_t *batch_new(const batch_cfg_t *cfg, pc_consumer_t *next, const char *id) {
  batch_t *p = pc_xcalloc(1, sizeof *p);
  p->consumer.consume_profiles = batch_consume_profiles;
  p->consumer.full = batch_full;
  p->consumer.holds = true; /* what is full after it stops here */
  p->consumer.retry_after_s = next->retry_after_s ? next->retry_after_s : 1;
  p->cfg = *cfg;
  p->next = next;
  /* Split before encoding: no batch above what the smallest consumer takes. */
  p->max_bytes = cfg->send_batch_max_bytes;
  if (next->max_body && (!p->max_bytes || next->max_body < p->max_bytes))
    p->max_bytes = next->max_body;
  p->open = pc_builder_new();
  snprintf(p->id, sizeof p->id, "%s", id);
  return p;
}

static int parse_keys(const pc_cfg_node_t *n, pc_str_t **keys, size_t *n_keys, pc_err_t *err);

static void *batch_create(const pc_create_args_t *args, pc_err_t *err) {
  batch_cfg_t cfg = {0};
  if (pc_cfg_apply(batch_opts, args->cfg, &cfg, err)) return NULL;
  if (cfg.send_batch_max_size && cfg.send_batch_max_size < cfg.send_batch_size) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "send_batch_max_size"), PC_EINVAL,
                 "send_batch_max_size (%" PRId64 ") must be 0 or at least send_batch_size (%"
                 PRId64 ")", cfg.send_batch_max_size, cfg.send_batch_size);
    return NULL;
  }
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  pc_str_t *keys = NULL;
  size_t n_keys = 0;
  if (parse_keys(cfg.metadata_keys, &keys, &n_keys, err)) return NULL;
  char id[128];
  snprintf(id, sizeof id, "processor:%s", args->id);
  batch_t *p = batch_new(&cfg, args->next, id);
  p->keys = keys;
  p->n_keys = n_keys;
  return p;
}

static pc_consumer_t *batch_consumer(void *self) { return &((batch_t *)self)->consumer; }

static int batch_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  batch_t *p = self;
  int rc = uv_timer_init(loop, &p->timer);
  if (rc) return pc_err_set(err, rc, "%s: timer: %s", p->id, uv_strerror(rc));
  p->loop = loop;
  p->state = B_RUNNING;
  arm(p);
  return 0;
}

static void batch_destroy(void *self) {
  batch_t *p = self;
  if (!p) return;
  pc_builder_free(p->open);
  pc_body_unref(p->ready);
  pc_bytes_unref(p->md_bytes);
  for (uint32_t i = 0; i < p->n_pending; i++) pc_builder_free(p->pending[i]);
  for (uint32_t i = 0; i < p->n_spare; i++) pc_builder_free(p->spare[i]);
  free(p->pending);
  for (uint32_t i = 0; i < p->n_shards; i++) batch_destroy(p->shards[i]);
  free(p->shards);
  for (size_t i = 0; i < p->n_keys; i++) free((void *)p->keys[i].p);
  free(p->keys);
  pc_buf_free(&p->scratch);
  pc_buf_free(&p->md_raw);
  free((void *)p->md.v);
  free(p);
}

/* A router reports the sums over its shards. */
static void totals(const batch_t *p, batch_stats_t *st, uint32_t *held) {
  *st = p->st;
  *held = p->n_pending;
  for (uint32_t i = 0; i < p->n_shards; i++) {
    const batch_stats_t *s = &p->shards[i]->st;
    st->size_triggers += s->size_triggers;
    st->timeout_triggers += s->timeout_triggers;
    for (size_t b = 0; b <= N_BOUNDS; b++) st->sizes[b] += s->sizes[b];
    st->samples_sent += s->samples_sent;
    st->bytes_sent += s->bytes_sent;
    st->samples_dropped += s->samples_dropped;
    st->requests_refused += s->requests_refused;
    *held += p->shards[i]->n_pending;
  }
}

static void batch_metrics(void *self, pc_metrics_t *m) {
  const batch_t *p = self;
  batch_stats_t sum;
  uint32_t held;
  totals(p, &sum, &held);
  const batch_stats_t *st = &sum;
  pc_metrics_histogram(m, "otelcol_processor_batch_batch_send_size",
                       "Number of units (samples) in the batch.", size_bounds, st->sizes,
                       N_BOUNDS, (double)st->samples_sent, NULL);
  pc_metrics_counter(m, "otelcol_processor_batch_batch_size_trigger_send",
                     "Number of times the batch was sent due to a size trigger.",
                     (double)st->size_triggers, NULL);
  pc_metrics_counter(m, "otelcol_processor_batch_timeout_trigger_send",
                     "Number of times the batch was sent due to a timeout trigger.",
                     (double)st->timeout_triggers, NULL);
  pc_metrics_counter(m, "profcol_processor_batch_sent_bytes",
                     "Protobuf bytes of the batches handed on (an upper estimate).",
                     (double)st->bytes_sent, NULL);
  pc_metrics_counter(m, "profcol_processor_batch_dropped_samples",
                     "Samples of batches the next consumer refused for good, or still "
                     "refused at the shutdown deadline.", (double)st->samples_dropped, NULL);
  pc_metrics_counter(m, "profcol_processor_batch_refused_requests",
                     "Requests refused (retry later) while the next consumer was full.",
                     (double)st->requests_refused, NULL);
  pc_metrics_gauge(m, "profcol_processor_batch_held_batches",
                   "Sealed batches waiting for the next consumer.", (double)held, NULL);
}

/* ---- metadata_keys: one shard per combination of values --------------------------- */

/* metadata_keys: a list of distinct non-empty names, kept lowercase (they
 * match in any case, as HTTP header names do). */
static int parse_keys(const pc_cfg_node_t *n, pc_str_t **keys, size_t *n_keys, pc_err_t *err) {
  *keys = NULL;
  *n_keys = 0;
  if (!n || n->type == PC_CFG_NULL) return 0;
  if (n->type != PC_CFG_SEQ)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a list of client metadata keys, "
                        "e.g. [x-scope-orgid]");
  pc_str_t *k = pc_xcalloc(n->n_items ? n->n_items : 1, sizeof *k);
  for (size_t i = 0; i < n->n_items; i++) {
    const pc_cfg_node_t *it = n->items[i];
    int rc = 0;
    if (it->type != PC_CFG_SCALAR || !it->text[0])
      rc = pc_cfg_error(err, it, PC_EINVAL, "must be a non-empty metadata key (a header name)");
    for (size_t j = 0; !rc && j < i; j++)
      if (strlen(it->text) == k[j].n && strncasecmp(it->text, (const char *)k[j].p, k[j].n) == 0)
        rc = pc_cfg_error(err, it, PC_EINVAL, "duplicate metadata key \"%s\" (keys match in "
                          "any case)", it->text);
    if (rc) {
      for (size_t j = 0; j < i; j++) free((void *)k[j].p);
      free(k);
      return rc;
    }
    size_t len = strlen(it->text);
    char *low = pc_xmalloc(len + 1);
    for (size_t c = 0; c <= len; c++) low[c] = (char)tolower((unsigned char)it->text[c]);
    k[i] = (pc_str_t){(const uint8_t *)low, len};
  }
  *keys = k;
  *n_keys = n->n_items;
  return 0;
}

/* The shard key of md: every value of every metadata key, in key order, in
 * pc_md_encode's form. A missing key adds nothing, which differs from any
 * value, even "". */
static void shard_key(batch_t *p, const pc_metadata_t *md, pc_buf_t *out) {
  out->n = 0;
  for (size_t i = 0; i < p->n_keys; i++) {
    pc_md_pair_t pair = {.key = p->keys[i]};
    for (size_t j = 0; pc_md_get(md, p->keys[i], j, &pair.value); j++)
      if (pc_md_encode(&(pc_metadata_t){&pair, 1}, out)) pc_oom();
  }
}

/* Client text into a log id: printable ASCII only, leaving room for "]". */
static void id_append(char *id, size_t cap, size_t *o, pc_str_t s) {
  for (size_t c = 0; c < s.n && *o + 2 < cap; c++) {
    uint8_t ch = s.p[c];
    id[(*o)++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
}

/* "processor:batch[x-scope-orgid=acme]", bounded by cap; a credential's
 * value (metadata_keys: [authorization]) shows as <redacted>. */
static void shard_id(const batch_t *p, const pc_metadata_t *md, char *id, size_t cap) {
  int w = snprintf(id, cap, "%s[", p->id);
  size_t o = w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
  for (size_t i = 0; i < md->n; i++) {
    if (i) id_append(id, cap, &o, PC_STR_LIT(" "));
    id_append(id, cap, &o, md->v[i].key);
    id_append(id, cap, &o, PC_STR_LIT("="));
    id_append(id, cap, &o, pc_redact_value(md->v[i].key, md->v[i].value));
  }
  if (o + 1 < cap) id[o++] = ']';
  id[o] = 0;
}

/* A new, started shard for the key in p->scratch. */
static batch_t *shard_new(batch_t *p, uint64_t hash, pc_err_t *err) {
  pc_buf_t raw = {0};
  if (pc_buf_append(&raw, p->scratch.p, p->scratch.n)) pc_oom();
  pc_metadata_t md;
  if (pc_md_decode(raw.p, raw.n, &md)) pc_oom(); /* our own encoding: cannot fail */
  char id[128];
  shard_id(p, &md, id, sizeof id);
  batch_t *s = batch_new(&p->cfg, p->next, id);
  s->md_raw = raw;
  s->md = md;
  s->md_bytes = pc_md_bytes(&md);
  s->md_hash = hash;
  int rc = batch_start(s, p->loop, err);
  if (rc) {
    batch_destroy(s);
    return NULL;
  }
  if (p->n_shards == p->cap_shards) {
    p->cap_shards = p->cap_shards ? 2 * p->cap_shards : 8;
    p->shards = pc_xrealloc(p->shards, p->cap_shards * sizeof *p->shards);
  }
  p->shards[p->n_shards++] = s;
  pc_log(p->id, PC_LOG_DEBUG, "new batch shard %s (%" PRIu32 " of at most %" PRId64 ")", s->id,
         p->n_shards, p->cfg.metadata_cardinality_limit);
  return s;
}

static int refuse_over_limit(batch_t *p, pc_err_t *err) {
  p->st.requests_refused++;
  if (!p->warned_limit) /* once: every later refusal says the same */
    pc_log(p->id, PC_LOG_WARN, "metadata_cardinality_limit reached: %" PRIu32 " distinct "
           "combinations of metadata_keys values are batched; requests with another one are "
           "refused until restart", p->n_shards);
  p->warned_limit = true;
  return pc_err_set(err, PC_EAGAIN, "%s: too many batcher metadata-value combinations (%"
                    PRIu32 ", metadata_cardinality_limit)", p->id, p->n_shards);
}

/* Hand req to the shard of its metadata, making the shard if it is new. */
static int route(batch_t *p, pc_request_t *req, pc_err_t *err) {
  if (p->shards_left || p->shards_stopped) /* no new shard may miss the shutdown */
    return pc_err_set(err, PC_EAGAIN, "%s is shutting down", p->id);
  if (!p->loop) /* a shard needs the loop for its timer */
    return pc_err_set(err, PC_EAGAIN, "%s is not started", p->id);
  shard_key(p, req->metadata, &p->scratch);
  uint64_t h = pc_hash64(p->scratch.p, p->scratch.n);
  batch_t *s = NULL;
  for (uint32_t i = 0; i < p->n_shards && !s; i++) {
    batch_t *c = p->shards[i];
    if (c->md_hash == h && c->md_raw.n == p->scratch.n &&
        (!p->scratch.n || memcmp(c->md_raw.p, p->scratch.p, p->scratch.n) == 0))
      s = c;
  }
  if (!s && p->n_shards >= (uint64_t)p->cfg.metadata_cardinality_limit)
    return refuse_over_limit(p, err);
  if (!s && !(s = shard_new(p, h, err))) return PC_EAGAIN;
  return batch_consume_profiles(&s->consumer, req, err);
}

static void shard_on_done(void *arg) {
  batch_t *p = arg;
  if (--p->shards_left) return;
  p->shards_stopped = true;
  batch_shutdown(p, p->deadline_ms, p->done, p->done_arg); /* now the router itself */
}

/* A router stops its shards first (each flushes and drains on its own
 * until the deadline); true when that is under way and the router's own
 * shutdown follows from shard_on_done. */
static bool shards_shutdown(batch_t *p, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  if (p->shards_stopped || !p->n_shards) return false;
  if (p->shards_left) { /* called again while they stop: as a stopping batch answers */
    done(arg);
    return true;
  }
  p->deadline_ms = deadline_ms;
  p->done = done;
  p->done_arg = arg;
  p->shards_left = p->n_shards;
  for (uint32_t i = 0; i < p->n_shards; i++)
    batch_shutdown(p->shards[i], deadline_ms, shard_on_done, p);
  return true;
}

/* The end of a burst (component.h): the spare builders go, and an empty open
 * one is made again. A reset builder keeps its tables at the size of the
 * largest batch it held and up to 2 MiB of arena blocks, which spares the
 * next batches their mallocs under load and is megabytes held at idle. */
static void batch_trim(void *self) {
  batch_t *p = self;
  for (uint32_t i = 0; i < p->n_spare; i++) pc_builder_free(p->spare[i]);
  p->n_spare = 0;
  if (p->open && pc_builder_empty(p->open) && p->state == B_RUNNING) {
    pc_builder_free(p->open);
    p->open = pc_builder_new();
  }
  for (uint32_t i = 0; i < p->n_shards; i++) batch_trim(p->shards[i]);
}

const pc_component_t pc_processor_batch = {
    .type = "batch",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .stability = "development",
    .options = batch_opts,
    .create = batch_create,
    .consumer = batch_consumer,
    .start = batch_start,
    .shutdown = batch_shutdown,
    .destroy = batch_destroy,
    .metrics = batch_metrics,
    .trim = batch_trim,
};
