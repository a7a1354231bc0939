/* bodyjob.c - a shared body's compressed variant made in libuv's thread
 * pool, once per body and variant (encoding and level) however many
 * exporters wait for it.
 *
 * The one idea: the job in flight for (body, variant) hangs on the body
 * itself (body->job[variant], touched only on the loop), so the second exporter
 * that needs the same variant - another exporter of the same trace
 * request, or the same exporter in two pipelines - joins its waiters
 * instead of compressing again. The pool thread writes only v[variant], which
 * nobody reads until the job's done callback has run on the loop and
 * cleared job[variant]: libuv's hand-back orders the two. The job holds a
 * reference to the body, so a waiter that gives up its own (a failed
 * exporter) cannot free it under the pool thread. */
#include <stdlib.h>

#include "internal.h"

typedef struct {
  uv_work_t work;
  pc_body_t *body; /* a reference */
  unsigned variant;
  int rc;
  pc__zwait_t *waiters, **tail; /* in the order they came */
} job_t;

static void job_run(uv_work_t *w) {
  job_t *j = container_of(w, job_t, work);
  j->rc = pc_body_compress(j->body, 1u << j->variant);
}

static void job_done(uv_work_t *w, int status) {
  job_t *j = container_of(w, job_t, work);
  if (status < 0 && !j->rc) j->rc = status; /* cancelled: only when the loop is torn down */
  j->body->job[j->variant] = NULL;
  for (pc__zwait_t *wt = j->waiters, *next; wt; wt = next) {
    next = wt->next; /* done may free wt */
    wt->done(wt, j->rc);
  }
  pc_body_unref(j->body);
  free(j);
}

void pc__zwait(uv_loop_t *loop, pc_body_t *body, unsigned variant, pc__zwait_t *w) {
  w->next = NULL;
  job_t *j = body->job[variant];
  if (!j) {
    j = pc_xcalloc(1, sizeof *j);
    j->body = pc_body_ref(body);
    j->variant = variant;
    j->tail = &j->waiters;
    body->job[variant] = j;
    if (uv_queue_work(loop, &j->work, job_run, job_done) != 0)
      abort(); /* libuv refuses only a NULL work callback */
  }
  *j->tail = w;
  j->tail = &w->next;
}
