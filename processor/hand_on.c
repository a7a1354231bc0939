/* hand_on.c - a builder's output to the next consumer: now (dedup), or as a
 * body made in the thread pool (batch); see internal.h. */
#include <stdlib.h>

#include "internal.h"

int pc__hand_on(pc_builder_t *b, const pc_metadata_t *md, pc_consumer_t *next, pc_err_t *err) {
  if (!next->consume_encoded) {
    pc_request_t *out = pc_builder_request(b);
    out->metadata = md;
    return next->consume_profiles(next, out, err);
  }
  pc_bytes_t *mdb = pc_md_bytes(md);
  int rc;
  pc_body_t *body = pc_builder_body(b, next->encodings, mdb, &rc);
  pc_bytes_unref(mdb);
  if (!body) return pc_err_set(err, rc, "cannot encode or compress a batch: %s", pc_strerror(rc));
  rc = next->consume_encoded(next, body, err);
  pc_body_unref(body);
  return rc;
}

static void flush_run(uv_work_t *w) {
  pc__flush_t *f = container_of(w, pc__flush_t, work);
  f->body = pc_builder_body(f->b, f->encodings, f->md, &f->rc);
}

static void flush_done(uv_work_t *w, int status) {
  pc__flush_t *f = container_of(w, pc__flush_t, work);
  if (status < 0 && !f->rc) f->rc = status; /* cancelled: only when the loop is torn down */
  pc_bytes_unref(f->md);
  f->md = NULL;
  f->done(f);
}

void pc__flush_start(uv_loop_t *loop, pc__flush_t *f) {
  f->body = NULL;
  f->rc = 0;
  if (f->md) pc_bytes_ref(f->md);
  if (uv_queue_work(loop, &f->work, flush_run, flush_done) != 0) { /* bad arguments only */
    flush_run(&f->work);
    flush_done(&f->work, 0);
  }
}
