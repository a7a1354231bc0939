/* body.c - shared immutable bytes and finished request bodies (core.h).
 *
 * The one idea: a batch is encoded once and compressed once per encoding
 * that some exporter sends, and from then on only references move: each
 * exporter's queue, each retry, the persistent queue's writer hold the same
 * bytes. A compressed variant is written behind PC_BODY_HEADROOM bytes that
 * hold its gRPC message prefix, so the gRPC exporter sends it framed
 * without copying and the HTTP one sends it from the prefix's end. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

static atomic_uint_fast64_t compressions;

uint64_t pc_body_compressions(void) {
  return atomic_load_explicit(&compressions, memory_order_relaxed);
}

/* ---- bytes ---------------------------------------------------------------------- */

static pc_bytes_t *bytes_new(void) {
  pc_bytes_t *b = pc_xcalloc(1, sizeof *b);
  atomic_init(&b->refs, 1);
  return b;
}

pc_bytes_t *pc_bytes_from_buf_take(pc_buf_t *buf) {
  pc_bytes_t *b = bytes_new();
  b->alloc = buf->p;
  b->cap = buf->cap;
  b->p = buf->p;
  b->n = buf->n;
  *buf = (pc_buf_t){0};
  return b;
}

pc_bytes_t *pc_bytes_from_buf_part(pc_buf_t *buf, const uint8_t *p, size_t n) {
  pc_bytes_t *b = pc_bytes_from_buf_take(buf);
  b->p = p;
  b->n = n;
  return b;
}

pc_bytes_t *pc_bytes_copy(const uint8_t *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) return NULL;
  if (n) memcpy(copy, p, n);
  pc_buf_t buf = {.p = copy, .n = n, .cap = n ? n : 1};
  return pc_bytes_from_buf_take(&buf);
}

pc_bytes_t *pc_bytes_view(pc_bytes_t *owner, const uint8_t *p, size_t n) {
  pc_bytes_t *b = bytes_new();
  b->owner = pc_bytes_ref(owner);
  b->p = p;
  b->n = n;
  return b;
}

pc_bytes_t *pc_bytes_ref(pc_bytes_t *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void pc_bytes_unref(pc_bytes_t *b) {
  if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  pc_bytes_unref(b->owner);
  free(b->alloc);
  free(b);
}

unsigned pc_bytes_refs(const pc_bytes_t *b) {
  return atomic_load_explicit(&((pc_bytes_t *)b)->refs, memory_order_relaxed);
}

/* ---- bodies ----------------------------------------------------------------------- */

pc_body_t *pc_body_new(pc_buf_t *plain, bool traces, bool json, uint64_t profiles,
                       uint64_t samples, pc_bytes_t *md) {
  pc_body_t *b = pc_xcalloc(1, sizeof *b);
  atomic_init(&b->refs, 1);
  b->traces = traces;
  b->json = json;
  b->profiles = profiles;
  b->samples = samples;
  b->plain_n = plain->n;
  b->md = md ? pc_bytes_ref(md) : NULL;
  b->v[PC_ENC_IDENTITY] = pc_bytes_from_buf_take(plain);
  return b;
}

pc_body_t *pc_body_fork(const pc_body_t *b) {
  pc_body_t *f = pc_xcalloc(1, sizeof *f);
  atomic_init(&f->refs, 1);
  f->traces = b->traces;
  f->json = b->json;
  f->profiles = b->profiles;
  f->samples = b->samples;
  f->plain_n = b->plain_n;
  f->md = b->md ? pc_bytes_ref(b->md) : NULL;
  f->v[PC_ENC_IDENTITY] = pc_bytes_ref(b->v[PC_ENC_IDENTITY]);
  return f;
}

pc_body_t *pc_body_ref(pc_body_t *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void pc_body_unref(pc_body_t *b) {
  if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < sizeof b->v / sizeof b->v[0]; i++) pc_bytes_unref(b->v[i]);
  pc_bytes_unref(b->md);
  free(b);
}

int pc_body_compress(pc_body_t *b, unsigned encodings) {
  const pc_bytes_t *plain = b->v[PC_ENC_IDENTITY];
  for (pc_encoding_t e = PC_ENC_GZIP; e <= PC_ENC_ZSTD; e++) {
    if (!(encodings & 1u << e) || b->v[e]) continue;
    pc_buf_t z = {0};
    int rc = pc_buf_reserve(&z, PC_BODY_HEADROOM);
    if (!rc) {
      z.n = PC_BODY_HEADROOM;
      rc = pc_compress(e, 0, plain->p, plain->n, &z);
    }
    size_t n = z.n - (z.n >= PC_BODY_HEADROOM ? PC_BODY_HEADROOM : z.n);
    if (!rc && n > UINT32_MAX) rc = PC_ELIMIT; /* a gRPC message says its length in 32 bits */
    if (rc) {
      pc_buf_free(&z);
      return rc;
    }
    z.p[0] = 1; /* the prefix: compressed, big-endian length */
    z.p[1] = (uint8_t)(n >> 24), z.p[2] = (uint8_t)(n >> 16), z.p[3] = (uint8_t)(n >> 8);
    z.p[4] = (uint8_t)n;
    pc_bytes_t *v = pc_bytes_from_buf_take(&z);
    v->p += PC_BODY_HEADROOM;
    v->n = n;
    v->framed = true;
    b->v[e] = v;
    atomic_fetch_add_explicit(&compressions, 1, memory_order_relaxed);
  }
  return 0;
}
