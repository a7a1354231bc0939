/* body.c - shared immutable bytes and finished request bodies (core.h).
 *
 * The one idea: a batch is encoded once and compressed once per encoding
 * that some exporter sends, and from then on only references move: each
 * exporter's queue, each retry, the persistent queue's writer hold the same
 * bytes. A compressed variant is written behind PC_BODY_HEADROOM bytes that
 * hold its gRPC message prefix, so the gRPC exporter sends it framed
 * without copying and the HTTP one sends it from the prefix's end. */
#include <pthread.h>
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

bool pc_bytes_unref_keep(pc_bytes_t *b, pc_buf_t *out) {
  *out = (pc_buf_t){0};
  if (!b) return false;
  if (b->owner || !b->alloc ||
      atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) {
    if (b->owner || !b->alloc) pc_bytes_unref(b);
    return false;
  }
  *out = (pc_buf_t){.p = b->alloc, .cap = b->cap};
  free(b);
  return out->cap > 0;
}

/* ---- spare buffers ------------------------------------------------------------------ */

static pthread_mutex_t spares_mu = PTHREAD_MUTEX_INITIALIZER;
static pc_buf_t spares[PC_SPARES]; /* oldest first */
static size_t n_spares, spares_bytes;

void pc_spare_give(pc_buf_t *b) {
  if (!b->p) return;
  pc_buf_t drop[PC_SPARES];
  size_t n_drop = 0;
  pthread_mutex_lock(&spares_mu);
  if (b->cap <= PC_SPARES_BYTES / 4) {
    while (n_spares && (n_spares == PC_SPARES || spares_bytes + b->cap > PC_SPARES_BYTES)) {
      drop[n_drop++] = spares[0]; /* the oldest go */
      spares_bytes -= spares[0].cap;
      memmove(spares, spares + 1, --n_spares * sizeof *spares);
    }
    spares[n_spares++] = (pc_buf_t){.p = b->p, .cap = b->cap};
    spares_bytes += b->cap;
    *b = (pc_buf_t){0};
  }
  pthread_mutex_unlock(&spares_mu);
  for (size_t i = 0; i < n_drop; i++) pc_buf_free(&drop[i]);
  pc_buf_free(b);
}

bool pc_spare_take(size_t min, size_t max, pc_buf_t *out) {
  *out = (pc_buf_t){0};
  pthread_mutex_lock(&spares_mu);
  for (size_t i = n_spares; i-- > 0;) /* the newest first: likelier in cache */
    if (spares[i].cap >= min && spares[i].cap <= max) {
      *out = spares[i];
      spares_bytes -= out->cap;
      memmove(spares + i, spares + i + 1, (--n_spares - i) * sizeof *spares);
      break;
    }
  pthread_mutex_unlock(&spares_mu);
  return out->p != NULL;
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

/* ---- variants ------------------------------------------------------------------------
 * (encoding, level) per variant number. Written under variants_mu, and a
 * number is published (n_variants, release) only after its entry, so
 * pc_body_compress reads an entry with no lock: it only ever sees numbers
 * handed out before, by a config load that happened before any body of
 * that exporter existed. */

typedef struct {
  pc_encoding_t enc;
  int level; /* the codec's; 0: its default */
} variant_t;

static pthread_mutex_t variants_mu = PTHREAD_MUTEX_INITIALIZER;
static variant_t variants[PC_BODY_VARIANTS] = {
    [PC_ENC_IDENTITY] = {PC_ENC_IDENTITY, 0},
    [PC_ENC_GZIP] = {PC_ENC_GZIP, 0},
    [PC_ENC_DEFLATE] = {PC_ENC_DEFLATE, 0},
    [PC_ENC_ZSTD] = {PC_ENC_ZSTD, PC_BODY_ZSTD_LEVEL},
};
static atomic_uint n_variants = PC_ENC_ZSTD + 1;

/* What level 0 means for enc's bodies (pc_compress's default for gzip and
 * deflate, 6; zstd's is the Collector's, not zstd's own). */
static int default_level(pc_encoding_t enc) {
  return enc == PC_ENC_ZSTD ? PC_BODY_ZSTD_LEVEL : enc == PC_ENC_IDENTITY ? 0 : 6;
}

int pc_body_variant(pc_encoding_t enc, int level, unsigned *variant) {
  if (enc == PC_ENC_IDENTITY || !level || level == default_level(enc)) {
    *variant = enc;
    return 0;
  }
  int rc = PC_ELIMIT;
  pthread_mutex_lock(&variants_mu);
  unsigned n = atomic_load_explicit(&n_variants, memory_order_relaxed);
  for (unsigned i = 0; i < n && rc; i++)
    if (variants[i].enc == enc && variants[i].level == level) *variant = i, rc = 0;
  if (rc && n < PC_BODY_VARIANTS) {
    variants[n] = (variant_t){enc, level};
    atomic_store_explicit(&n_variants, n + 1, memory_order_release);
    *variant = n, rc = 0;
  }
  pthread_mutex_unlock(&variants_mu);
  return rc;
}

pc_encoding_t pc_body_variant_encoding(unsigned variant) {
  return variant < PC_BODY_VARIANTS ? variants[variant].enc : PC_ENC_IDENTITY;
}

int pc_body_compress(pc_body_t *b, unsigned mask) {
  const pc_bytes_t *plain = b->v[PC_ENC_IDENTITY];
  unsigned n_known = atomic_load_explicit(&n_variants, memory_order_acquire);
  for (unsigned i = PC_ENC_GZIP; i < n_known; i++) {
    if (!(mask & 1u << i) || b->v[i]) continue;
    pc_encoding_t e = variants[i].enc;
    pc_buf_t z = {0};
    int rc = pc_buf_reserve(&z, PC_BODY_HEADROOM);
    if (!rc) {
      z.n = PC_BODY_HEADROOM;
      rc = pc_compress(e, variants[i].level, plain->p, plain->n, &z);
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
    b->v[i] = v;
    atomic_fetch_add_explicit(&compressions, 1, memory_order_relaxed);
  }
  return 0;
}
