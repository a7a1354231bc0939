/* bodies.c - a decoded request into finished bodies (pdata.h), for the
 * consumers that send bytes when what comes is a tree: encoded once,
 * split before encoding when one body would pass the consumer's limit,
 * compressed once per encoding. A batch processor's flush does the same
 * from its builder, in the thread pool (processor/hand_on.c). */
#include <inttypes.h>
#include <stdlib.h>

#include "intern.h"

typedef struct {
  bool json;
  uint64_t max;
  unsigned encodings;
  pc_bytes_t *md;
  pc_body_t **v;
  size_t n, cap;
} parts_t;

static int encode_split(parts_t *p, const pc_request_t *req, pc_err_t *err);

/* Two halves of req by resource, else scope, else profile. */
static int split_halves(parts_t *p, const pc_request_t *req, size_t encoded, pc_err_t *err) {
  pc_request_t a = *req, b = *req;
  pc_resource_profiles_t ra, rb;
  pc_scope_profiles_t sa, sb;
  if (req->n_resources >= 2) {
    a.n_resources = req->n_resources / 2;
    b.resources += a.n_resources;
    b.n_resources -= a.n_resources;
  } else if (req->n_resources == 1 && req->resources[0].n_scopes >= 2) {
    ra = rb = req->resources[0];
    ra.n_scopes /= 2;
    rb.scopes += ra.n_scopes;
    rb.n_scopes -= ra.n_scopes;
    a.resources = &ra;
    b.resources = &rb;
  } else if (req->n_resources == 1 && req->resources[0].n_scopes == 1 &&
             req->resources[0].scopes[0].n_profiles >= 2) {
    ra = rb = req->resources[0];
    sa = sb = ra.scopes[0];
    sa.n_profiles /= 2;
    sb.profiles += sa.n_profiles;
    sb.n_profiles -= sa.n_profiles;
    ra.scopes = &sa;
    rb.scopes = &sb;
    a.resources = &ra;
    b.resources = &rb;
  } else {
    return pc_err_set(err, PC_ELIMIT, "one profile with its dictionary encodes to %zu bytes, "
                      "above max_request_body_size (%" PRIu64 " bytes); it cannot be split",
                      encoded, p->max);
  }
  int rc = encode_split(p, &a, err);
  return rc ? rc : encode_split(p, &b, err);
}

static int encode_split(parts_t *p, const pc_request_t *req, pc_err_t *err) {
  uint64_t profiles = pc_request_profile_count(req);
  if (profiles == 0) return 0; /* a split can leave a resource without profiles */
  pc_buf_t plain = {0};
  int rc = p->json ? pc_json_encode(req, &plain) : pc_proto_encode(req, &plain);
  if (rc) {
    pc_buf_free(&plain);
    return pc_err_set(err, rc, "cannot encode the batch: %s", pc_strerror(rc));
  }
  if (p->max && plain.n > p->max) {
    size_t n = plain.n;
    pc_buf_free(&plain);
    return split_halves(p, req, n, err);
  }
  pc_body_t *b = pc_body_new(&plain, false, p->json, profiles, pc_request_sample_count(req),
                             p->md);
  if ((rc = pc_body_compress(b, p->encodings))) {
    pc_err_set(err, rc, "cannot compress a %zu-byte batch: %s", b->plain_n, pc_strerror(rc));
    pc_body_unref(b);
    return rc;
  }
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 4;
    p->v = pc_xrealloc(p->v, p->cap * sizeof *p->v);
  }
  p->v[p->n++] = b;
  return 0;
}

int pc_request_bodies(const pc_request_t *req, bool json, uint64_t max_body,
                      unsigned encodings, pc_bytes_t *md, pc_body_t ***out, size_t *n,
                      pc_err_t *err) {
  parts_t p = {.json = json, .max = max_body, .encodings = encodings, .md = md};
  int rc = encode_split(&p, req, err);
  if (rc) {
    for (size_t i = 0; i < p.n; i++) pc_body_unref(p.v[i]);
    free(p.v);
    p.v = NULL;
    p.n = 0;
  }
  *out = p.v;
  *n = p.n;
  return rc;
}

pc_body_t *pc_builder_body(pc_builder_t *b, unsigned encodings, pc_bytes_t *md, int *rc) {
  const pc_builder_stats_t *st = pc_builder_stats(b);
  pc_buf_t plain = {0};
  if ((*rc = pc_builder_encode(b, &plain))) {
    pc_buf_free(&plain);
    return NULL;
  }
  pc_body_t *body = pc_body_new(&plain, false, false, st->profiles, st->samples, md);
  if ((*rc = pc_body_compress(body, encodings))) {
    pc_body_unref(body);
    return NULL;
  }
  return body;
}
