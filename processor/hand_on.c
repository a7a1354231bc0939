/* hand_on.c - a builder's output to the next consumer (internal.h). */
#include "internal.h"

int pc__hand_on(pc_builder_t *b, const pc_metadata_t *md, pc_consumer_t *next, pc_err_t *err) {
  if (!next->consume_encoded) {
    pc_request_t *out = pc_builder_request(b);
    out->metadata = md;
    return next->consume_profiles(next, out, err);
  }
  /* A fresh buffer each time: a processor holds no batch-sized memory
   * between hand-ons. */
  const pc_builder_stats_t *st = pc_builder_stats(b);
  pc_buf_t body = {0};
  if (pc_builder_encode(b, &body)) pc_oom();
  pc_encoded_request_t req = {.proto = body.p, .n = body.n, .profiles = st->profiles,
                              .samples = st->samples, .metadata = md};
  int rc = next->consume_encoded(next, &req, err);
  pc_buf_free(&body);
  return rc;
}
