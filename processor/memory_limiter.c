/* memory_limiter.c - the `memory_limiter` processor: refuse data while the
 * process holds too much memory, as the Collector's processor of that name.
 *
 * The one idea: every check_interval the process's resident set size is
 * read (/proc/self/statm: what an orchestrator's OOM killer counts, where
 * the Collector reads Go's heap). At or above the soft limit (limit minus
 * spike limit) every request is refused with PC_EAGAIN, so receivers answer
 * 503 with Retry-After (gRPC UNAVAILABLE) and clients keep the data and
 * retry; nothing acknowledged is ever dropped here. Below it, data passes
 * untouched. At or above the hard limit the allocator is also asked to
 * hand freed memory back to the system (malloc_trim), the nearest thing C
 * has to the Collector's forced garbage collection.
 *
 * Keys and their checks as in the Collector: check_interval (required,
 * > 0), limit_mib or limit_percentage (of the memory the process may use:
 * its cgroup's limit, else the host's), spike_limit_mib or
 * spike_limit_percentage (default 20% of the limit), below the limit. */
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/log.h"
#include "processor.h"

#define MIB ((uint64_t)1 << 20)

typedef struct {
  uint64_t check_interval; /* ms */
  int64_t limit_mib, spike_limit_mib;
  int64_t limit_percentage, spike_limit_percentage;
} ml_cfg_t;

static const pc_opt_t ml_opts[] = {
    PC_OPT_DUR("check_interval", "0s", ml_cfg_t, check_interval, 0, 3600000,
               "how often memory is measured (required, e.g. 1s)"),
    PC_OPT_INT_RANGE("limit_mib", "0", ml_cfg_t, limit_mib, 0, 1 << 30,
                     "hard limit of the resident set size in MiB (or limit_percentage)"),
    PC_OPT_INT_RANGE("spike_limit_mib", "0", ml_cfg_t, spike_limit_mib, 0, 1 << 30,
                     "headroom below the limit: data is refused from limit - spike (default "
                     "20% of the limit)"),
    PC_OPT_INT_RANGE("limit_percentage", "0", ml_cfg_t, limit_percentage, 0, 100,
                     "hard limit as a percentage of the memory the process may use (its "
                     "cgroup's limit, else the host's)"),
    PC_OPT_INT_RANGE("spike_limit_percentage", "0", ml_cfg_t, spike_limit_percentage, 0, 100,
                     "headroom as a percentage of that memory"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  uint64_t interval_ms;
  uint64_t hard, soft; /* bytes */
  uv_timer_t timer;
  bool started, closing;
  /* The last measure, and what it decided. */
  uint64_t rss;
  bool refusing;
  uint64_t refused_requests, refusals; /* requests refused; times the soft limit was hit */
} ml_t;

static ml_t *ml_of(pc_consumer_t *c) {
  return (ml_t *)(void *)((char *)c - offsetof(ml_t, consumer));
}

static ml_t *ml_of_timer(uv_timer_t *t) {
  return (ml_t *)(void *)((char *)t - offsetof(ml_t, timer));
}

static int refuse(ml_t *m, pc_err_t *err) {
  m->refused_requests++;
  return pc_err_set(err, PC_EAGAIN, "data refused: memory use is above the soft limit (%" PRIu64
                    " MiB resident, soft limit %" PRIu64 " MiB)", m->rss / MIB, m->soft / MIB);
}

static int ml_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  ml_t *m = ml_of(self);
  return m->refusing ? refuse(m, err) : m->next->consume_profiles(m->next, req, err);
}

static int ml_consume_encoded(pc_consumer_t *self, pc_body_t *req, pc_err_t *err) {
  ml_t *m = ml_of(self);
  return m->refusing ? refuse(m, err) : m->next->consume_encoded(m->next, req, err);
}

static int ml_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  ml_t *m = ml_of(self);
  return m->refusing ? refuse(m, err) : m->next->consume_traces(m->next, tr, err);
}

/* Known full (component.h): while memory is above the soft limit every
 * request is refused, so receivers may refuse at the headers. */
static bool ml_full(pc_consumer_t *self, pc_err_t *err) {
  ml_t *m = ml_of(self);
  if (m->refusing) refuse(m, err);
  return m->refusing;
}

static int ml_consume_traces_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err) {
  ml_t *m = ml_of(self);
  return m->refusing ? refuse(m, err) : m->next->consume_traces_encoded(m->next, body, err);
}

/* ---- the check -------------------------------------------------------------------- */

static void measure(ml_t *m) {
  int64_t rss = pc_process_rss();
  if (rss < 0) return; /* unknown: keep the last decision */
  m->rss = (uint64_t)rss;
  if (m->rss >= m->hard) malloc_trim(0);
  bool above = m->rss >= m->soft;
  if (above && !m->refusing) {
    m->refusals++;
    pc_log(m->id, PC_LOG_WARN,
           "memory use is above the soft limit: refusing data (%" PRIu64 " MiB resident, "
           "soft limit %" PRIu64 " MiB, hard limit %" PRIu64 " MiB)",
           m->rss / MIB, m->soft / MIB, m->hard / MIB);
  } else if (!above && m->refusing) {
    pc_log(m->id, PC_LOG_INFO,
           "memory use is back below the soft limit: taking data again (%" PRIu64
           " MiB resident)", m->rss / MIB);
  }
  m->refusing = above;
}

static void ml_on_timer(uv_timer_t *t) { measure(ml_of_timer(t)); }

/* ---- lifecycle ---------------------------------------------------------------------- */

/* The limits in bytes from the config; 0, or PC_EINVAL with the place. */
static int resolve_limits(ml_t *m, const ml_cfg_t *c, const pc_cfg_node_t *cfg, pc_err_t *err) {
  const pc_cfg_node_t *interval = pc_cfg_get(cfg, "check_interval");
  if (c->check_interval == 0)
    return pc_cfg_error(err, interval ? interval : cfg, PC_EINVAL,
                        "check_interval must be greater than zero (e.g. 1s)");
  if ((c->limit_mib > 0) == (c->limit_percentage > 0))
    return pc_cfg_error(err, cfg, PC_EINVAL, "set one of limit_mib and limit_percentage");
  uint64_t total = 0;
  if (c->limit_percentage > 0 || c->spike_limit_percentage > 0) {
    int64_t t = pc_memory_total();
    if (t <= 0)
      return pc_cfg_error(err, cfg, PC_EINVAL, "the memory this process may use is unknown "
                          "(no /proc/meminfo): use limit_mib");
    total = (uint64_t)t;
  }
  m->hard = c->limit_mib > 0 ? (uint64_t)c->limit_mib * MIB
                             : total / 100 * (uint64_t)c->limit_percentage;
  uint64_t spike = c->spike_limit_mib > 0 ? (uint64_t)c->spike_limit_mib * MIB
                   : c->spike_limit_percentage > 0
                       ? total / 100 * (uint64_t)c->spike_limit_percentage
                       : m->hard / 5;
  if (spike >= m->hard)
    return pc_cfg_error(err, pc_cfg_get(cfg, c->spike_limit_mib > 0 ? "spike_limit_mib"
                                                                     : "spike_limit_percentage"),
                        PC_EINVAL, "the spike limit (%" PRIu64 " MiB) must be below the limit "
                        "(%" PRIu64 " MiB)", spike / MIB, m->hard / MIB);
  m->soft = m->hard - spike;
  return 0;
}

static void *ml_create(const pc_create_args_t *args, pc_err_t *err) {
  ml_cfg_t c = {0};
  if (pc_cfg_apply(ml_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  ml_t *m = pc_xcalloc(1, sizeof *m);
  if (resolve_limits(m, &c, args->cfg, err)) {
    free(m);
    return NULL;
  }
  snprintf(m->id, sizeof m->id, "processor:%s", args->id);
  m->next = args->next;
  m->interval_ms = c.check_interval;
  m->consumer.consume_profiles = ml_consume_profiles;
  m->consumer.full = ml_full;
  if (m->next->consume_encoded) m->consumer.consume_encoded = ml_consume_encoded;
  m->consumer.encodings = m->next->encodings; /* it passes bodies through as they are */
  m->consumer.max_body = m->next->max_body;
  if (m->next->consume_traces) m->consumer.consume_traces = ml_consume_traces;
  if (m->next->consume_traces_encoded)
    m->consumer.consume_traces_encoded = ml_consume_traces_encoded;
  /* A client should come back once memory has had time to go down. */
  uint64_t ra = (c.check_interval + 999) / 1000;
  uint32_t next_ra = m->next->retry_after_s;
  m->consumer.retry_after_s = ra > next_ra ? (uint32_t)(ra > 60 ? 60 : ra) : next_ra;
  return m;
}

static pc_consumer_t *ml_consumer(void *self) { return &((ml_t *)self)->consumer; }

static int ml_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)err;
  ml_t *m = self;
  uv_timer_init(loop, &m->timer);
  m->started = true;
  measure(m); /* decide before the first request */
  pc_log(m->id, PC_LOG_INFO,
         "refusing data at %" PRIu64 " MiB resident and above (hard limit %" PRIu64
         " MiB), checked every %" PRIu64 " ms; now %" PRIu64 " MiB",
         m->soft / MIB, m->hard / MIB, m->interval_ms, m->rss / MIB);
  return uv_timer_start(&m->timer, ml_on_timer, m->interval_ms, m->interval_ms) ? PC_EIO : 0;
}

typedef struct {
  pc_done_cb done;
  void *arg;
} closing_t;

static void on_timer_closed(uv_handle_t *h) {
  closing_t *c = h->data;
  c->done(c->arg);
  free(c);
}

/* Nothing is held here: stop measuring and be done. */
static void ml_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)deadline_ms;
  ml_t *m = self;
  if (!m->started || m->closing) {
    done(arg);
    return;
  }
  m->closing = true;
  closing_t *c = pc_xmalloc(sizeof *c);
  *c = (closing_t){done, arg};
  m->timer.data = c;
  uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}

static void ml_destroy(void *self) { free(self); }

static void ml_metrics(void *self, pc_metrics_t *m) {
  const ml_t *ml = self;
  pc_metrics_counter(m, "profcol_processor_memory_limiter_refused_requests",
                     "Requests refused (retry later) while memory use was above the soft "
                     "limit.", (double)ml->refused_requests, NULL);
  pc_metrics_counter(m, "profcol_processor_memory_limiter_soft_limit_hits",
                     "Times memory use rose above the soft limit.", (double)ml->refusals, NULL);
  pc_metrics_gauge(m, "profcol_processor_memory_limiter_refusing",
                   "1 while data is refused for memory, else 0.", ml->refusing ? 1 : 0, NULL);
}

uint64_t pc_memory_limiter_soft_limit(const void *self) { return ((const ml_t *)self)->soft; }

const pc_component_t pc_processor_memory_limiter = {
    .type = "memory_limiter",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = ml_opts,
    .create = ml_create,
    .consumer = ml_consumer,
    .start = ml_start,
    .shutdown = ml_shutdown,
    .destroy = ml_destroy,
    .metrics = ml_metrics,
};
