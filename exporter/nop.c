/* nop.c - the `nop` exporter: takes everything and keeps nothing, like the
 * Collector's nopexporter. For benchmarks and for pipelines that only feed
 * a processor's side effects. */
#include <stdlib.h>

#include "exporter.h"

static const pc_opt_t nop_opts[] = {PC_OPT_TABLE_END};

typedef struct {
  pc_consumer_t consumer;
} nop_exporter_t;

static int nop_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  (void)req;
  (void)err;
  return 0;
}

static int nop_consume_encoded(pc_consumer_t *self, pc_body_t *req, pc_err_t *err) {
  (void)self;
  (void)req;
  (void)err;
  return 0;
}

static int nop_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  (void)self;
  (void)tr;
  (void)err;
  return 0;
}

static void *nop_create(const pc_create_args_t *args, pc_err_t *err) {
  struct {
    int unused;
  } cfg;
  if (pc_cfg_apply(nop_opts, args->cfg, &cfg, err)) return NULL;
  nop_exporter_t *n = pc_xcalloc(1, sizeof *n);
  n->consumer.consume_profiles = nop_consume_profiles;
  n->consumer.consume_encoded = nop_consume_encoded;
  n->consumer.consume_traces = nop_consume_traces;
  n->consumer.retry_after_s = 1;
  return n;
}

static pc_consumer_t *nop_consumer(void *self) { return &((nop_exporter_t *)self)->consumer; }

static void nop_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void nop_destroy(void *self) { free(self); }

const pc_component_t pc_exporter_nop = {
    .type = "nop",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "development",
    .options = nop_opts,
    .create = nop_create,
    .consumer = nop_consumer,
    .shutdown = nop_shutdown,
    .destroy = nop_destroy,
};
