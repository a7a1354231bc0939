/* dedup.c - the `dedup` processor: rebuild each request's dictionary so
 * that every entry appears once and nothing unreferenced travels on.
 *
 * For pipelines without `batch` (which does the same across requests).
 * It runs the request through a batch builder of its own (pdata/intern.h),
 * hands the rebuilt request to the next consumer and resets the builder,
 * which keeps its tables and arena for the next request. Equal resources
 * and scopes within the request are merged on the way. The next consumer's
 * answer, PC_EAGAIN included, is passed back unchanged. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "../pdata/intern.h"
#include "internal.h"
#include "processor.h"

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  pc_builder_t *b;
} dedup_t;

/* No keys: the table still rejects unknown ones. */
static const pc_opt_t dedup_opts[] = {
    PC_OPT_TABLE_END,
};

static int dedup_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  dedup_t *d = (dedup_t *)(void *)((char *)self - offsetof(dedup_t, consumer));
  int rc = pc_builder_add(d->b, req, err);
  /* The same client's data: its metadata goes on. */
  if (rc == 0) rc = pc__hand_on(d->b, req->metadata, d->next, err);
  pc_builder_reset(d->b);
  return rc;
}

static void *dedup_create(const pc_create_args_t *args, pc_err_t *err) {
  int unused;
  if (pc_cfg_apply(dedup_opts, args->cfg, &unused, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  dedup_t *d = pc_xcalloc(1, sizeof *d);
  d->consumer.consume_profiles = dedup_consume_profiles;
  d->consumer.retry_after_s = args->next->retry_after_s;
  d->next = args->next;
  d->b = pc_builder_new();
  snprintf(d->id, sizeof d->id, "processor:%s", args->id);
  return d;
}

static pc_consumer_t *dedup_consumer(void *self) { return &((dedup_t *)self)->consumer; }

static int dedup_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

/* Nothing is ever held between calls: done at once. */
static void dedup_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void dedup_destroy(void *self) {
  dedup_t *d = self;
  if (!d) return;
  pc_builder_free(d->b);
  free(d);
}

const pc_component_t pc_processor_dedup = {
    .type = "dedup",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .stability = "development",
    .options = dedup_opts,
    .create = dedup_create,
    .consumer = dedup_consumer,
    .start = dedup_start,
    .shutdown = dedup_shutdown,
    .destroy = dedup_destroy,
};
