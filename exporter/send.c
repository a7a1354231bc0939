/* send.c - the send module of the OTLP exporters, in the spirit of the
 * Collector's exporterhelper: the consumer the pipeline hands data to, the
 * sending queue (queue.c, in memory or persistent), num_consumers requests
 * in flight, retries with exponential backoff and jitter that honour the
 * backend's own wait (Retry-After, RetryInfo) until max_elapsed_time, the
 * timeout of one try, shutdown's drain and the counters. otlphttp.c and
 * otlpgrpc.c are wires on top of it: how one try goes out and what its
 * answer means (pc__wire_ops_t).
 *
 * The one idea: consume turns what it gets into finished bodies (core.h)
 * and queues, by reference, the variant the wire sends (0 = held, safe to
 * acknowledge; PC_EAGAIN = full, the receiver answers 503). Up to
 * num_consumers slots pop items and hand them to the wire; a slot owns its
 * item until it is done: sent (partial_success is counted and logged, never
 * retried), a permanent error (dropped, counted and logged), or retries
 * exhausted.
 *
 * A body that arrives without its variant (trace requests, trees encoded
 * here or by the fan-out) is compressed: up to PC_BODY_INLINE_MAX bytes at
 * once, larger ones in the thread pool (bodyjob.c) while the body waits in
 * `staged`, in order, counted against the queue's caps, and is queued when
 * its variant exists; whatever comes behind it waits behind it, so batches
 * still leave in the order they came. A persistent queue never stages: it
 * acknowledges only what is on disk, so it compresses on the loop, where it
 * writes and fsyncs anyway (queue.c). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LOG_EVERY_MS 5000

const pc_opt_t pc__send_retry_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", pc__send_cfg_t, retry_enabled,
                   "retry transient errors (HTTP 429, 502, 503, 504; gRPC UNAVAILABLE, "
                   "DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED with RetryInfo, ...) and lost "
                   "connections"),
    PC_OPT_DUR("initial_interval", "5s", pc__send_cfg_t, initial_ms, 1, 3600000,
               "wait after the first failure"),
    PC_OPT_DUR("max_interval", "30s", pc__send_cfg_t, max_interval_ms, 1, 86400000,
               "longest wait between two tries"),
    PC_OPT_DUR("max_elapsed_time", "300s", pc__send_cfg_t, max_elapsed_ms, 0, 604800000,
               "give a batch up (dropped, counted, logged) after trying this long; 0: never"),
    PC_OPT_STR("multiplier", "1.5", pc__send_cfg_t, multiplier,
               "each wait is the previous one times this (>= 1)"),
    PC_OPT_STR("randomization_factor", "0.5", pc__send_cfg_t, randomization,
               "jitter: a wait is spread by +- this fraction (0 to 1)"),
    PC_OPT_TABLE_END,
};

const pc_opt_t pc__send_queue_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", pc__send_cfg_t, queue_enabled,
                   "queue batches; false: hold only the num_consumers batches in flight"),
    PC_OPT_INT_RANGE("num_consumers", "10", pc__send_cfg_t, num_consumers, 1, 1000,
                     "requests in flight at most"),
    PC_OPT_INT_RANGE("queue_size", "1000", pc__send_cfg_t, queue_size, 1, 10000000,
                     "batches held (waiting and in flight); when full, receivers answer 503"),
    PC_OPT_BYTES("max_bytes", "256MiB", pc__send_cfg_t, queue_max_bytes, 1024,
                 (int64_t)1 << 40, "profcol: compressed bytes held, the other bound"),
    PC_OPT_STR("storage", NULL, pc__send_cfg_t, storage,
               "id of a file_storage extension: keep the queue on disk across restarts"),
    PC_OPT_TABLE_END,
};

typedef enum { ST_CREATED, ST_RUNNING, ST_DRAINING, ST_CLOSING, ST_STOPPED } state_t;

/* A body waiting for its compression in the thread pool (or behind one
 * that is), before it goes into the queue. */
typedef struct stage {
  struct stage *next;
  pc__zwait_t wait;
  pc__send_t *s;
  pc_body_t *body; /* a reference */
  pc__item_meta_t meta;
  uint64_t reserved; /* bytes counted against max_bytes until it is queued */
  bool ready;        /* its variant exists, or could not be made (rc) */
  int rc;
} stage_t;

struct pc__send {
  pc_consumer_t consumer; /* first: the consumer is the sender */
  char id[128];           /* "exporter:otlp_http/x", for logs */
  char comp_id[128];      /* "otlp_http/x" */
  const pc__wire_ops_t *ops;
  void *wire;
  /* settings */
  pc_encoding_t enc;
  unsigned variant; /* the body's variant sent: enc at the exporter's level */
  bool json;
  uint64_t max_body, timeout_ms;
  bool retry_enabled;
  uint64_t initial_ms, max_interval_ms, max_elapsed_ms;
  double multiplier, jitter;
  uint32_t num_consumers;
  uint64_t queue_items, queue_bytes;
  pc_ref_t storage_ref;        /* sending_queue.storage, or unset */
  const pc_storage_t *storage; /* ... found by resolve */
  bool keep_md;
  /* runtime */
  state_t state;
  uv_loop_t *loop;
  pc__slot_t *slots;
  uv_timer_t *backoff; /* one per slot */
  uint32_t busy;
  bool pumping;
  pc__queue_t *q;
  bool persistent;
  stage_t *staged, **staged_tail;
  uint64_t staged_items, staged_bytes;
  uv_timer_t stop_timer;
  uint64_t rng;
  pc_otlphttp_stats_t st;
  pc__ratelimit_t rl_retry, rl_drop, rl_partial, rl_full;
  pc__handback_cb handback; /* retired (load_balancing): offer batches here first */
  void *handback_arg;
  unsigned closing; /* close callbacks still to come */
  pc_done_cb done;
  void *done_arg;
};

/* ---- create ------------------------------------------------------------------------------- */

static int parse_fraction(const pc_cfg_node_t *cfg, const char *key, const char *text, double lo,
                          double hi, double *out, pc_err_t *err) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !isfinite(v) || v < lo || v > hi) {
    const pc_cfg_node_t *sec = pc_cfg_get(cfg, "retry_on_failure"), *at = pc_cfg_get(sec, key);
    return pc_cfg_error(err, at ? at : sec ? sec : cfg, PC_EINVAL,
                        "expected a number from %g to %g, got \"%s\"", lo, hi, text);
  }
  *out = v;
  return 0;
}

static int send_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
static int send_consume_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err);
static int send_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err);
static int send_consume_traces_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err);

pc__send_t *pc__send_new(const pc__send_cfg_t *c, const pc_cfg_node_t *node,
                         const pc__send_args_t *a, pc_err_t *err) {
  pc__send_t *s = pc_xcalloc(1, sizeof *s);
  snprintf(s->id, sizeof s->id, "exporter:%s", a->comp_id);
  snprintf(s->comp_id, sizeof s->comp_id, "%s", a->comp_id);
  s->ops = a->ops;
  s->wire = a->wire;
  s->enc = a->enc;
  s->variant = a->variant;
  s->json = a->json;
  s->max_body = a->max_body;
  if (parse_fraction(node, "multiplier", c->multiplier, 1.0, 1000.0, &s->multiplier, err) ||
      parse_fraction(node, "randomization_factor", c->randomization, 0.0, 1.0, &s->jitter,
                     err)) {
    free(s);
    return NULL;
  }
  const pc_cfg_node_t *sq = pc_cfg_get(node, "sending_queue");
  const pc_cfg_node_t *st_node = pc_cfg_get(sq, "storage");
  if (c->storage && c->storage[0] && !c->queue_enabled) {
    pc_cfg_error(err, st_node ? st_node : sq ? sq : node, PC_EINVAL,
                 "storage needs the sending queue: set sending_queue.enabled: true");
    free(s);
    return NULL;
  }
  s->timeout_ms = c->timeout_ms;
  s->retry_enabled = c->retry_enabled;
  s->initial_ms = c->initial_ms;
  s->max_interval_ms = c->max_interval_ms < c->initial_ms ? c->initial_ms : c->max_interval_ms;
  s->max_elapsed_ms = c->max_elapsed_ms;
  s->num_consumers = (uint32_t)c->num_consumers;
  /* Without a queue only the batches in flight are held. */
  s->queue_items = c->queue_enabled ? (uint64_t)c->queue_size : s->num_consumers;
  s->queue_bytes = c->queue_max_bytes;
  if (c->storage && c->storage[0])
    pc_ref_init(&s->storage_ref, c->storage, st_node ? st_node : sq);
  s->staged_tail = &s->staged;
  s->consumer.consume_profiles = send_consume_profiles;
  s->consumer.consume_traces = send_consume_traces;
  s->consumer.consume_traces_encoded = send_consume_traces_encoded;
  if (!s->json) s->consumer.consume_encoded = send_consume_encoded;
  s->consumer.encodings = 1u << s->variant; /* what a producer of bodies should make */
  s->consumer.max_body = s->max_body;
  uint64_t ra = s->initial_ms / 1000;
  s->consumer.retry_after_s = ra < 1 ? 1 : ra > 30 ? 30 : (uint32_t)ra;
  s->rng = (uint64_t)(uintptr_t)s ^ pc__now_ms() ^ 0x9e3779b97f4a7c15ull;
  return s;
}

pc_consumer_t *pc__send_consumer(pc__send_t *s) { return &s->consumer; }
uint64_t pc__send_timeout_ms(const pc__send_t *s) { return s->timeout_ms; }
const char *pc__send_log_id(const pc__send_t *s) { return s->id; }
const char *pc__send_comp_id(const pc__send_t *s) { return s->comp_id; }
uint32_t pc__send_consumers(const pc__send_t *s) { return s->num_consumers; }

int pc__send_resolve(pc__send_t *s, const pc_host_t *host, pc_err_t *err) {
  if (pc_ref_set(&s->storage_ref) &&
      !(s->storage = pc_host_find(host, &s->storage_ref, PC_ROLE_STORAGE, err)))
    return err->code;
  return 0;
}

/* ---- closing --------------------------------------------------------------------------------- */

static void finish_stop(pc__send_t *s) {
  s->state = ST_STOPPED;
  pc_done_cb done = s->done;
  s->done = NULL;
  if (done) done(s->done_arg);
}

/* Stopped once every handle is closed and no compression is outstanding. */
static void maybe_stopped(pc__send_t *s) {
  if (s->state == ST_CLOSING && !s->closing && !s->staged) finish_stop(s);
}

static void handle_on_close(uv_handle_t *h) {
  pc__send_t *s = h->data;
  s->closing--;
  maybe_stopped(s);
}

static void close_handle(pc__send_t *s, uv_handle_t *h) {
  h->data = s;
  s->closing++;
  uv_close(h, handle_on_close);
}

/* ---- the slots --------------------------------------------------------------------------------- */

/* "a profiles batch (3 profiles, 1200 bytes)", "a traces batch (370
 * bytes)": spans are forwarded as bytes, uncounted, so a traces batch's
 * profile count (0) is no use to the reader of a log line. */
static const char *batch_text(const pc__item_meta_t *m, size_t bytes, char *buf, size_t n) {
  if (m->signal == PC_SIGNAL_TRACES) snprintf(buf, n, "a traces batch (%zu bytes)", bytes);
  else snprintf(buf, n, "a profiles batch (%u profiles, %zu bytes)", m->profiles, bytes);
  return buf;
}

static void slot_finish(pc__slot_t *sl, bool finished);

/* A retired sender first offers the batch back (pc__send_retire): taken,
 * it is done here without a try at this backend. */
static void try_now(pc__slot_t *sl) {
  pc__send_t *s = sl->send;
  if (s->handback && s->handback(s->handback_arg, sl->item->body, &sl->item->meta) == 0) {
    s->st.rerouted_batches++;
    slot_finish(sl, true);
    return;
  }
  sl->tries++;
  /* The wire's state of a slot is made at the slot's first try, not at
   * start, and the OTLP wires load libcurl (and OpenSSL) only then, in the
   * thread of its own (client.c): an exporter that has nothing to send yet costs
   * nothing, which is most of a sidecar's life and of its start-up time. */
  if (!sl->wire) {
    pc_err_t err = {0};
    if (!(sl->wire = s->ops->slot_new(s->wire, sl, &err))) {
      pc__outcome_t o = {.verdict = PC__RETRYABLE};
      snprintf(o.why, sizeof o.why, "cannot prepare a request: %s", err.msg);
      pc__send_outcome(sl, &o);
      return;
    }
  }
  s->ops->start(s->wire, sl);
}

/* Give waiting batches to idle slots. A try can end at once (and free its
 * slot again), so loop until nothing moves; never re-entered. */
static void pump(pc__send_t *s) {
  if (s->pumping) return;
  s->pumping = true;
  for (bool moved = true; moved;) {
    moved = false;
    for (uint32_t i = 0; i < s->num_consumers; i++) {
      pc__slot_t *sl = &s->slots[i];
      if (sl->item) continue;
      if (s->state != ST_RUNNING && s->state != ST_DRAINING) break;
      pc__qitem_t *it = pc__queue_pop(s->q);
      if (!it) break;
      sl->item = it;
      sl->tries = 0;
      sl->first_ms = uv_now(s->loop);
      s->busy++;
      moved = true;
      try_now(sl);
    }
  }
  s->pumping = false;
}

static bool drained(pc__send_t *s) {
  pc__queue_stats_t qs;
  pc__queue_stats(s->q, &qs);
  return s->busy == 0 && qs.waiting == 0 && !s->staged;
}

static void stop_timer_on_fire(uv_timer_t *t);

/* Done with the slot's item: delivered or given up (done), or to be kept for
 * the next start (released). Then feed the slot again. */
static void slot_finish(pc__slot_t *sl, bool finished) {
  pc__send_t *s = sl->send;
  if (finished) pc__queue_done(s->q, sl->item);
  else pc__queue_release(s->q, sl->item);
  sl->item = NULL;
  s->busy--;
  if (s->state == ST_DRAINING && drained(s))
    uv_timer_start(&s->stop_timer, stop_timer_on_fire, 0, 0); /* close at a safe point */
  else pump(s);
}

static void on_delivered(pc__slot_t *sl, const pc__outcome_t *o) {
  pc__send_t *s = sl->send;
  const pc__qitem_t *it = sl->item;
  bool traces = it->meta.signal == PC_SIGNAL_TRACES;
  s->st.sent_batches++;
  s->st.sent_bytes += it->body->n;
  if (!traces) s->st.sent_profiles += it->meta.profiles;
  if (o->rejected > 0) {
    uint64_t skipped;
    char sup[48], what[96];
    if (traces) s->st.rejected_spans += (uint64_t)o->rejected;
    else s->st.rejected_profiles += (uint64_t)o->rejected;
    if (pc__ratelimit(&s->rl_partial, LOG_EVERY_MS, &skipped))
      pc_log(s->id, PC_LOG_WARN, "the backend rejected %" PRId64 " %s of %s: \"%s\"; not "
             "retried, as OTLP requires for a partial success%s", o->rejected,
             traces ? "spans" : "profiles", batch_text(&it->meta, it->body->n, what, sizeof what),
             o->why, pc__suppressed(skipped, sup));
  }
  slot_finish(sl, true);
}

static void drop(pc__slot_t *sl, const char *why, bool retryable) {
  pc__send_t *s = sl->send;
  const pc__qitem_t *it = sl->item;
  s->st.dropped_batches++;
  s->st.dropped_profiles += it->meta.profiles;
  uint64_t skipped;
  char sup[48], what[96];
  if (pc__ratelimit(&s->rl_drop, LOG_EVERY_MS, &skipped)) {
    if (retryable)
      pc_log(s->id, PC_LOG_ERROR, "dropped %s after %u tries over %" PRIu64 " ms: %s; "
             "retry_on_failure %s%s", batch_text(&it->meta, it->body->n, what, sizeof what),
             sl->tries, uv_now(s->loop) - sl->first_ms, why,
             s->retry_enabled ? "gave up at max_elapsed_time" : "is disabled",
             pc__suppressed(skipped, sup));
    else
      pc_log(s->id, PC_LOG_ERROR, "dropped %s: %s; not retried because the error is "
             "permanent%s", batch_text(&it->meta, it->body->n, what, sizeof what), why,
             pc__suppressed(skipped, sup));
  }
  slot_finish(sl, true);
}

static double rand01(pc__send_t *s) {
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 7;
  s->rng ^= s->rng << 17;
  return (double)(s->rng >> 11) / 9007199254740992.0;
}

/* Exponential backoff with jitter, as the Collector's (cenkalti/backoff):
 * initial * multiplier^(tries-1), capped at max_interval, then spread by
 * +- randomization_factor. */
static uint64_t backoff_ms(pc__send_t *s, uint32_t tries) {
  double iv = (double)s->initial_ms;
  for (uint32_t i = 1; i < tries && iv < (double)s->max_interval_ms; i++) iv *= s->multiplier;
  if (iv > (double)s->max_interval_ms) iv = (double)s->max_interval_ms;
  double d = iv * (1.0 + s->jitter * (2.0 * rand01(s) - 1.0));
  return d < 1.0 ? 1 : (uint64_t)d;
}

static void backoff_on_fire(uv_timer_t *t) {
  pc__slot_t *sl = t->data;
  try_now(sl);
}

/* Schedule the next try, or say no when max_elapsed_time would pass. */
static bool retry_later(pc__slot_t *sl, uint64_t min_delay_ms, const char *why) {
  pc__send_t *s = sl->send;
  uint64_t delay = backoff_ms(s, sl->tries);
  if (delay < min_delay_ms) delay = min_delay_ms;
  uint64_t elapsed = uv_now(s->loop) - sl->first_ms;
  if (s->max_elapsed_ms && elapsed + delay > s->max_elapsed_ms) return false;
  s->st.retries++;
  uint64_t skipped;
  char sup[48], from[48] = "", what[96];
  if (min_delay_ms && delay == min_delay_ms)
    snprintf(from, sizeof from, " (the backend's %s)", s->ops->delay_name);
  if (pc__ratelimit(&s->rl_retry, LOG_EVERY_MS, &skipped))
    pc_log(s->id, PC_LOG_WARN, "sending %s failed: %s; retry %u in %" PRIu64 " ms%s%s",
           batch_text(&sl->item->meta, sl->item->body->n, what, sizeof what), why, sl->tries,
           delay, from, pc__suppressed(skipped, sup));
  uv_timer_t *t = &s->backoff[sl - s->slots];
  t->data = sl;
  uv_timer_start(t, backoff_on_fire, delay, 0);
  return true;
}

void pc__send_outcome(pc__slot_t *sl, const pc__outcome_t *o) {
  pc__send_t *s = sl->send;
  if (o->verdict == PC__SENT) {
    on_delivered(sl, o);
    return;
  }
  s->st.failed_attempts++;
  bool retryable = o->verdict == PC__RETRYABLE;
  if (retryable && s->retry_enabled && retry_later(sl, o->min_delay_ms, o->why)) return;
  drop(sl, o->why, retryable);
}

/* ---- the queue's side of consume ------------------------------------------------------------ */

static int refuse_not_running(pc__send_t *s, pc_err_t *err) {
  return pc_err_set(err, PC_EAGAIN, "exporter %s is %s", s->comp_id,
                    s->state == ST_CREATED ? "not started" : "shutting down");
}

/* Bytes a compressed variant of plain_n bytes may take at most (gzip's
 * and zstd's worst case on incompressible input is well under this), so
 * a staged body always fits the room it reserved. */
static uint64_t reserve_for(size_t plain_n) { return plain_n + (plain_n >> 7) + 64; }

/* Room for n more batches, counting what is staged: what every consume
 * path checks before anything is encoded or compressed (bytes 0: room
 * while below the byte cap), and, with the bytes staging reserves, before
 * staging. A refusal counts n refused batches. */
static int check_room(pc__send_t *s, uint64_t n, uint64_t bytes, pc_err_t *err) {
  int rc = 0;
  if (!s->staged_items && !bytes) {
    rc = pc__queue_check_room(s->q, err);
  } else {
    pc__queue_stats_t qs;
    pc__queue_stats(s->q, &qs);
    uint64_t items = qs.held_items + s->staged_items, held = qs.held_bytes + s->staged_bytes;
    if ((s->queue_items && items + n > s->queue_items) ||
        (s->queue_bytes && (bytes ? held + bytes > s->queue_bytes : held >= s->queue_bytes))) {
      uint64_t skipped;
      char sup[48];
      if (pc__ratelimit(&s->rl_full, LOG_EVERY_MS, &skipped))
        pc_log(s->id, PC_LOG_WARN, "sending queue full: %" PRIu64 " batches / %" PRIu64
               " bytes held (%" PRIu64 " of them waiting for their compression), limits %"
               PRIu64 " batches / %" PRIu64 " bytes; refusing new data so clients retry%s",
               items, held, s->staged_items, s->queue_items, s->queue_bytes,
               pc__suppressed(skipped, sup));
      rc = pc_err_set(err, PC_EAGAIN, "the exporter's sending queue is full (%" PRIu64
                      " batches, %" PRIu64 " bytes held); retry later", items, held);
    }
  }
  if (rc) s->st.refused_batches += n;
  return rc;
}

static pc__item_meta_t meta_of(const pc__send_t *s, const pc_body_t *b) {
  return (pc__item_meta_t){
      .signal = b->traces ? PC_SIGNAL_TRACES : PC_SIGNAL_PROFILES, .json = b->json,
      .encoding = (uint8_t)s->enc, .md = s->keep_md ? b->md : NULL,
      .profiles = b->profiles > UINT32_MAX ? UINT32_MAX : (uint32_t)b->profiles};
}

static bool variant_ready(const pc__send_t *s, const pc_body_t *b) {
  return !b->job[s->variant] && b->v[s->variant];
}

/* Queue bodies whose variants exist (all or none), each as the wire sends
 * it. */
static int queue_bodies(pc__send_t *s, pc_body_t *const *bodies, size_t n, pc_err_t *err) {
  pc__body_t **wire = pc_xcalloc(n, sizeof *wire);
  pc__item_meta_t *metas = pc_xcalloc(n, sizeof *metas);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    if (!(wire[i] = s->ops->bytes(s->wire, bodies[i], err))) rc = err->code;
    metas[i] = meta_of(s, bodies[i]);
  }
  if (!rc) rc = pc__queue_push(s->q, wire, metas, n, err);
  if (rc == PC_EAGAIN) s->st.refused_batches += n;
  for (size_t i = 0; i < n; i++) pc__body_unref(wire[i]);
  free(wire);
  free(metas);
  if (!rc) pump(s);
  return rc;
}

/* A staged body could not be queued after all: it was acknowledged, so
 * this is a loss, counted and said. */
static void drop_staged(pc__send_t *s, stage_t *e, const char *why) {
  s->st.dropped_batches++;
  s->st.dropped_profiles += e->meta.profiles;
  uint64_t skipped;
  char sup[48], what[96];
  if (pc__ratelimit(&s->rl_drop, LOG_EVERY_MS, &skipped))
    pc_log(s->id, PC_LOG_ERROR, "dropped %s before compression: %s%s",
           batch_text(&e->meta, e->body->plain_n, what, sizeof what), why,
           pc__suppressed(skipped, sup));
}

static void stage_free(pc__send_t *s, stage_t *e) {
  s->staged_items--;
  s->staged_bytes -= e->reserved;
  pc_body_unref(e->body);
  free(e);
}

/* Queue the staged bodies that are ready, oldest first, up to the first
 * that is not. */
static void stage_drain(pc__send_t *s) {
  while (s->staged && s->staged->ready) {
    stage_t *e = s->staged;
    if (!(s->staged = e->next)) s->staged_tail = &s->staged;
    if (s->state == ST_CLOSING) { /* counted as lost in close_all */
    } else if (e->rc) {
      char why[256];
      snprintf(why, sizeof why, "cannot compress it with %s: %s", pc_encoding_name(s->enc),
               pc_strerror(e->rc));
      drop_staged(s, e, why);
    } else {
      pc_err_t err = {0};
      /* It fits: its room was reserved (items, and bytes for the worst case). */
      if (queue_bodies(s, &e->body, 1, &err)) drop_staged(s, e, err.msg);
    }
    stage_free(s, e);
  }
  if (s->state == ST_DRAINING && drained(s))
    uv_timer_start(&s->stop_timer, stop_timer_on_fire, 0, 0);
  maybe_stopped(s);
}

static void stage_on_compressed(pc__zwait_t *w, int rc) {
  stage_t *e = container_of(w, stage_t, wait);
  e->ready = true;
  e->rc = rc;
  stage_drain(e->s);
}

/* Put bodies behind what is staged; each waits for its variant (in the
 * thread pool when it has none yet). */
static void stage(pc__send_t *s, pc_body_t *const *bodies, size_t n) {
  for (size_t i = 0; i < n; i++) {
    stage_t *e = pc_xcalloc(1, sizeof *e);
    e->s = s;
    e->body = pc_body_ref(bodies[i]);
    e->meta = meta_of(s, bodies[i]);
    e->reserved = reserve_for(bodies[i]->plain_n);
    s->staged_items++;
    s->staged_bytes += e->reserved;
    *s->staged_tail = e;
    s->staged_tail = &e->next;
    e->wait.done = stage_on_compressed;
    const pc_body_t *b = bodies[i];
    if (variant_ready(s, b)) {
      e->ready = true;
    } else if (!b->job[s->variant] && b->plain_n <= PC_BODY_INLINE_MAX) { /* small, behind a big one */
      e->rc = pc_body_compress(bodies[i], 1u << s->variant);
      e->ready = true;
    } else {
      pc__zwait(s->loop, bodies[i], s->variant, &e->wait);
    }
  }
  stage_drain(s); /* ready ones at the head go now */
}

/* Whether a body's variant should be made in the thread pool (or its
 * making there waited for). Not for a body that could never fit the byte
 * cap by its plain size: the queue judges it by its compressed size. */
static bool compress_later(const pc__send_t *s, const pc_body_t *b) {
  return !s->persistent && !variant_ready(s, b) &&
         (b->job[s->variant] || b->plain_n > PC_BODY_INLINE_MAX) &&
         (!s->queue_bytes || reserve_for(b->plain_n) <= s->queue_bytes);
}

/* Hold bodies of one request (all or none): queue them now when their
 * variants exist or are small enough to make here, else stage them. */
static int push_bodies(pc__send_t *s, pc_body_t *const *bodies, size_t n, pc_err_t *err) {
  bool later = s->staged != NULL;
  uint64_t reserve = 0;
  for (size_t i = 0; i < n; i++) {
    const pc_body_t *b = bodies[i];
    if (!b->traces && b->plain_n > s->max_body)
      return pc_err_set(err, PC_ELIMIT, "a %zu-byte batch is above max_request_body_size (%"
                        PRIu64 " bytes)", b->plain_n, s->max_body);
    later = later || compress_later(s, b);
    reserve += reserve_for(b->plain_n);
  }
  if (n && s->keep_md && s->ops->check_md) {
    int rc = s->ops->check_md(s->wire, bodies[0]->md, err);
    if (rc) return rc;
  }
  if (later) {
    if (s->queue_items && n > s->queue_items)
      return pc_err_set(err, PC_ELIMIT, "the request was split into %zu batches, more than the "
                        "sending queue holds (%" PRIu64 ")", n, s->queue_items);
    int rc = check_room(s, n, reserve, err);
    if (!rc) stage(s, bodies, n);
    return rc;
  }
  /* Here, on the loop. A body another exporter is compressing in the pool
   * right now (a persistent queue beside an in-memory one) gets a variant
   * of its own: v[enc] is the pool thread's until that job is done. */
  pc_body_t **own = pc_xcalloc(n, sizeof *own);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    own[i] = bodies[i]->job[s->variant] ? pc_body_fork(bodies[i]) : pc_body_ref(bodies[i]);
    if (variant_ready(s, own[i])) continue;
    if ((rc = pc_body_compress(own[i], 1u << s->variant)))
      pc_err_set(err, rc, "cannot compress a %zu-byte batch with %s: %s", own[i]->plain_n,
                 pc_encoding_name(s->enc), pc_strerror(rc));
  }
  if (!rc) rc = queue_bodies(s, own, n, err);
  for (size_t i = 0; i < n; i++) pc_body_unref(own[i]);
  free(own);
  return rc;
}

/* ---- consume ------------------------------------------------------------------------------------ */

/* A tree (a pipeline without batch, or a consumer of trees beside this
 * one): encoded here, split before encoding to max_request_body_size. */
static int send_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  pc__send_t *s = (pc__send_t *)self;
  if (s->state != ST_RUNNING) return refuse_not_running(s, err);
  if (pc_request_profile_count(req) == 0) return 0;
  int rc = check_room(s, 1, 0, err);
  if (rc) return rc;
  pc_bytes_t *md = s->keep_md ? pc_md_bytes(req->metadata) : NULL;
  pc_body_t **bodies;
  size_t n;
  rc = pc_request_bodies(req, s->json, s->max_body, 0, md, &bodies, &n, err);
  pc_bytes_unref(md);
  if (!rc) rc = push_bodies(s, bodies, n, err);
  for (size_t i = 0; i < n; i++) pc_body_unref(bodies[i]);
  free(bodies);
  return rc;
}

/* A finished batch (protobuf): queued by reference; nothing is encoded or
 * decoded here, and it is compressed only when the producer did not. */
static int send_consume_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err) {
  pc__send_t *s = (pc__send_t *)self;
  if (s->state != ST_RUNNING) return refuse_not_running(s, err);
  if (body->profiles == 0) return 0;
  int rc = check_room(s, 1, 0, err);
  return rc ? rc : push_bodies(s, &body, 1, err);
}

/* Trace requests go out as they came (protobuf or JSON), compressed. There
 * is no traces model to split them with. */
static int send_consume_traces_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err) {
  pc__send_t *s = (pc__send_t *)self;
  if (s->state != ST_RUNNING) return refuse_not_running(s, err);
  int rc = s->ops->admit(s->wire, PC_SIGNAL_TRACES, body->json, err);
  if (rc) return rc;
  if (body->plain_n > s->max_body)
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte traces request is above "
                      "max_request_body_size (%" PRIu64 " bytes)", body->plain_n, s->max_body);
  rc = check_room(s, 1, 0, err);
  return rc ? rc : push_bodies(s, &body, 1, err);
}

/* The bytes the request came in go out, unless the wire takes protobuf
 * only (gRPC) and they are OTLP-JSON (a browser SDK's): then they are
 * encoded from the model, which the JSON decoder fills in full. */
static int send_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  pc__send_t *s = (pc__send_t *)self;
  if (s->state != ST_RUNNING) return refuse_not_running(s, err);
  pc_err_t json_err = {0};
  bool reencode = tr->json && s->ops->admit(s->wire, PC_SIGNAL_TRACES, true, &json_err);
  bool json = tr->json && !reencode;
  int rc = s->ops->admit(s->wire, PC_SIGNAL_TRACES, json, err);
  if (rc) return rc;
  if (!reencode && tr->encoded_n > s->max_body) /* before the copy */
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte traces request is above "
                      "max_request_body_size (%" PRIu64 " bytes)", tr->encoded_n, s->max_body);
  pc_buf_t copy = {0};
  if (reencode ? pc_traces_proto_encode(tr, &copy) : pc_buf_append(&copy, tr->encoded, tr->encoded_n))
    pc_oom();
  pc_body_t *body = pc_body_new(&copy, true, json, 0, 0, NULL);
  rc = send_consume_traces_encoded(self, body, err);
  pc_body_unref(body);
  return rc;
}

/* ---- start ---------------------------------------------------------------------------------------- */

static int open_queue(pc__send_t *s, pc_err_t *err) {
  char dir[4096] = "";
  bool fsync_each = false;
  if (pc_ref_set(&s->storage_ref)) {
    const pc_storage_t *st = s->storage;
    if (!st) { /* never resolved: as if nothing is there */
      pc_host_find(NULL, &s->storage_ref, PC_ROLE_STORAGE, err);
      return err->code;
    }
    char name[160];
    pc__id_to_filename(s->comp_id, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", st->directory, name);
    fsync_each = st->fsync;
    s->persistent = true;
  }
  pc__queue_opts_t o = {.log_id = s->id, .max_items = s->queue_items,
                        .max_bytes = s->queue_bytes, .dir = s->persistent ? dir : NULL,
                        .fsync = fsync_each};
  return pc__queue_open_worker(&o, &s->q, err);
}

static void free_slots(pc__send_t *s) {
  for (uint32_t i = 0; s->slots && i < s->num_consumers; i++) {
    if (s->slots[i].wire) s->ops->slot_free(s->wire, s->slots[i].wire);
    s->slots[i].wire = NULL;
  }
}

int pc__send_start(pc__send_t *s, uv_loop_t *loop, bool keep_md, pc_err_t *err) {
  if (s->state != ST_CREATED) return pc_err_set(err, PC_EINVAL, "started twice");
  s->loop = loop;
  s->keep_md = keep_md;
  int rc = open_queue(s, err);
  if (rc) return rc;
  s->slots = pc_xcalloc(s->num_consumers, sizeof *s->slots);
  for (uint32_t i = 0; i < s->num_consumers; i++) s->slots[i].send = s; /* wire: at first try */
  s->backoff = pc_xcalloc(s->num_consumers, sizeof *s->backoff);
  for (uint32_t i = 0; i < s->num_consumers; i++) uv_timer_init(loop, &s->backoff[i]);
  uv_timer_init(loop, &s->stop_timer);
  s->state = ST_RUNNING;
  pump(s);
  return 0;
}

/* ---- retiring (load_balancing) ------------------------------------------------------------ */

void pc__send_retire(pc__send_t *s, pc__handback_cb cb, void *arg) {
  s->handback = cb;
  s->handback_arg = arg;
  if (!cb || s->state != ST_RUNNING) return;
  pc__queue_stats_t qs;
  pc__queue_stats(s->q, &qs);
  pc_log(s->id, PC_LOG_INFO, "retired: the %" PRIu64 " batches it holds are offered to the "
         "other backends before each next try", qs.held_items + s->staged_items);
  /* Batches waiting for a retry are offered now rather than at their
   * backoff's end; those in a try when it ends. Staged ones when popped. */
  for (uint32_t i = 0; i < s->num_consumers; i++) {
    pc__slot_t *sl = &s->slots[i];
    if (!sl->item || !uv_is_active((uv_handle_t *)&s->backoff[i])) continue;
    uv_timer_stop(&s->backoff[i]);
    try_now(sl);
  }
  pump(s);
}

void pc__send_describe(const pc__send_t *s, char *out, size_t cap) {
  char bytes[24];
  snprintf(out, cap, "up to %u requests in flight, queue of %" PRIu64 " batches / %s%s",
           s->num_consumers, s->queue_items, pc_fmt_bytes(s->queue_bytes, bytes),
           s->persistent ? ", persistent" : ", in memory");
}

/* ---- shutdown -------------------------------------------------------------------------------------- */

/* Stop everything now: in-flight and waiting batches are released (kept on
 * disk by a persistent queue, lost and counted otherwise), the wire lets go
 * of its slots and every handle is closed; done is called once the last
 * close callback and the last compression in flight have come back. */
/* What close_all leaves behind, for its log line. */
typedef struct {
  uint64_t batches, profiles, traces; /* traces: batches of spans, which carry no count */
} left_t;

static void count_left(left_t *l, const pc__item_meta_t *m) {
  l->batches++;
  if (m->signal == PC_SIGNAL_TRACES) l->traces++;
  else l->profiles += m->profiles;
}

/* "3 batches (2 profiles)", "3 traces batches", "2 batches (5 profiles) and
 * 1 traces batch": a traces exporter's batches are not "0 profiles". */
static const char *left_text(const left_t *l, char *buf, size_t n) {
  uint64_t pb = l->batches - l->traces;
  int k = 0;
  if (pb)
    k = snprintf(buf, n, "%" PRIu64 " batch%s (%" PRIu64 " profiles)", pb, pb == 1 ? "" : "es",
                 l->profiles);
  if (l->traces)
    snprintf(buf + k, n - (size_t)k, "%s%" PRIu64 " traces batch%s", pb ? " and " : "", l->traces,
             l->traces == 1 ? "" : "es");
  return buf;
}

static void close_all(pc__send_t *s) {
  s->state = ST_CLOSING;
  left_t left = {0};
  for (uint32_t i = 0; i < s->num_consumers; i++) {
    pc__slot_t *sl = &s->slots[i];
    if (!sl->item) continue;
    if (sl->wire) s->ops->cancel(s->wire, sl); /* else it never got to a try */
    uv_timer_stop(&s->backoff[i]);
    count_left(&left, &sl->item->meta);
    pc__queue_release(s->q, sl->item);
    sl->item = NULL;
    s->busy--;
  }
  for (pc__qitem_t *it; (it = pc__queue_pop(s->q));) {
    count_left(&left, &it->meta);
    pc__queue_release(s->q, it);
  }
  /* Staged bodies (never with a persistent queue) are lost too; their
   * compressions cannot be stopped, so they are freed as they come back. */
  for (stage_t *e = s->staged; e; e = e->next) count_left(&left, &e->meta);
  char what[128];
  if (left.batches && s->persistent)
    pc_log(s->id, PC_LOG_INFO, "unsent: %s; they stay in the persistent queue and go out first "
           "at the next start", left_text(&left, what, sizeof what));
  else if (left.batches) {
    s->st.lost_batches += left.batches;
    s->st.lost_profiles += left.profiles;
    pc_log(s->id, PC_LOG_ERROR, "shutdown deadline reached with %s not delivered; they are lost "
           "(set sending_queue.storage to keep them across restarts)",
           left_text(&left, what, sizeof what));
  }
  pc__queue_stats_t qs;
  pc__queue_stats(s->q, &qs);
  s->st.replayed_batches = qs.replayed;
  s->st.corrupt_files = qs.corrupt_files;
  pc__queue_close(s->q);
  s->q = NULL;
  free_slots(s);
  close_handle(s, (uv_handle_t *)&s->stop_timer);
  for (uint32_t i = 0; i < s->num_consumers; i++) close_handle(s, (uv_handle_t *)&s->backoff[i]);
  stage_drain(s); /* frees what came back already */
}

static void stop_timer_on_fire(uv_timer_t *t) {
  pc__send_t *s = container_of(t, pc__send_t, stop_timer);
  if (s->state == ST_DRAINING) close_all(s);
}

void pc__send_shutdown(pc__send_t *s, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  if (s->state != ST_RUNNING) { /* never started, or already stopping: nothing to wait for */
    done(arg);
    return;
  }
  s->state = ST_DRAINING;
  s->done = done;
  s->done_arg = arg;
  uint64_t now = uv_now(s->loop);
  uint64_t wait = drained(s) ? 0 : deadline_ms > now ? deadline_ms - now : 0;
  if (wait) {
    pc__queue_stats_t qs;
    pc__queue_stats(s->q, &qs);
    pc_log(s->id, PC_LOG_INFO, "draining %" PRIu64 " batches (%" PRIu64 " bytes) for up to %"
           PRIu64 " ms", qs.held_items + s->staged_items, qs.held_bytes + s->staged_bytes, wait);
  }
  uv_timer_start(&s->stop_timer, stop_timer_on_fire, wait, 0);
}

bool pc__send_busy(const pc__send_t *s) {
  return s->state == ST_RUNNING || s->state == ST_DRAINING || s->state == ST_CLOSING;
}

void pc__send_free(pc__send_t *s) {
  if (!s) return;
  free_slots(s); /* a failed start's, or nothing */
  pc__queue_close(s->q);
  free(s->slots);
  free(s->backoff);
  free(s);
}

/* ---- counters -------------------------------------------------------------------------------------- */

void pc__send_stats(const pc__send_t *s, pc_otlphttp_stats_t *out) {
  *out = s->st;
  out->in_flight = s->busy;
  out->queue_capacity_batches = s->queue_items;
  out->queue_capacity_bytes = s->queue_bytes;
  out->queue_batches = s->staged_items;
  out->queue_bytes = s->staged_bytes;
  if (s->q) {
    pc__queue_stats_t qs;
    pc__queue_stats(s->q, &qs);
    out->queue_batches += qs.held_items;
    out->queue_bytes += qs.held_bytes;
    out->queue_disk_bytes = qs.disk_bytes;
    out->replayed_batches = qs.replayed;
    out->corrupt_files = qs.corrupt_files;
  }
}

void pc__send_metrics(const pc__send_t *s, pc_metrics_t *m) {
  pc_otlphttp_stats_t st;
  pc__send_stats(s, &st);
#define C(name, help, v) pc_metrics_counter(m, name, help, (double)(v), NULL)
#define G(name, help, v) pc_metrics_gauge(m, name, help, (double)(v), NULL)
  C("otelcol_exporter_sent_profiles", "Number of profiles successfully sent to destination.",
    st.sent_profiles);
  C("otelcol_exporter_send_failed_profiles",
    "Number of profiles in failed attempts to send to destination (dropped after a permanent "
    "error or the last retry).", st.dropped_profiles);
  G("otelcol_exporter_queue_size", "Current size of the retry queue (in batches).",
    st.queue_batches);
  G("otelcol_exporter_queue_capacity", "Fixed capacity of the retry queue (in batches).",
    st.queue_capacity_batches);
  C("profcol_exporter_sent_batches", "Batches (requests) answered 2xx.", st.sent_batches);
  C("profcol_exporter_sent_bytes", "Request bodies answered 2xx, in bytes as sent.",
    st.sent_bytes);
  C("profcol_exporter_rejected_profiles", "Profiles the backend refused in a partial success.",
    st.rejected_profiles);
  C("profcol_exporter_failed_attempts", "Tries answered with an error or cut off.",
    st.failed_attempts);
  C("profcol_exporter_retries", "Tries scheduled after a failure.", st.retries);
  C("profcol_exporter_dropped_batches", "Batches dropped: permanent error or retries exhausted.",
    st.dropped_batches);
  C("profcol_exporter_enqueue_failed_batches",
    "Batches refused because the sending queue was full.", st.refused_batches);
  C("profcol_exporter_lost_profiles",
    "Profiles of an in-memory queue still undelivered at shutdown.", st.lost_profiles);
  G("profcol_exporter_queue_bytes", "Bytes held by the sending queue now.", st.queue_bytes);
  G("profcol_exporter_queue_capacity_bytes", "The sending queue's byte limit (max_bytes).",
    st.queue_capacity_bytes);
  G("profcol_exporter_queue_disk_bytes", "Bytes in the persistent queue's files.",
    st.queue_disk_bytes);
  C("profcol_exporter_rerouted_batches",
    "Batches of a retired load_balancing backend routed to another backend instead.",
    st.rerouted_batches);
  G("profcol_exporter_in_flight", "Requests being sent or waiting to retry.", st.in_flight);
#undef C
#undef G
}
