/* ring.c - the consistent-hash ring of the load_balancing exporter, the
 * Collector contrib's: each backend gets 100 points at crc32(endpoint ||
 * byte i) mod 36000, a key goes to the backend of the first point at or
 * after crc32(key) mod 36000, wrapping around. Adding or removing a backend
 * only moves the keys between its points and the points before them (about
 * 1/n of all keys), and none between the backends that stay.
 *
 * The same function as the contrib's, on purpose: a tier that mixes
 * Collector and profcol balancers in front of the same gateways sends a
 * trace to the same gateway from either. Points at the same position are
 * ordered by endpoint, so the ring does not depend on the order the
 * resolver listed them in. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

#define POSITIONS 36000u
#define POINTS 100u

struct pc__ring {
  struct point {
    uint32_t pos;
    uint32_t backend;
  } *v;
  size_t n;
  const char *const *names; /* for ordering equal positions */
};

static int point_cmp(const void *a, const void *b, void *names) {
  const struct point *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return strcmp(((const char *const *)names)[x->backend], ((const char *const *)names)[y->backend]);
}

uint32_t pc__ring_position(const void *key, size_t n) {
  return (uint32_t)(crc32(0L, key, (uInt)n) % POSITIONS);
}

pc__ring_t *pc__ring_new(const char *const *endpoints, size_t n) {
  pc__ring_t *r = pc_xcalloc(1, sizeof *r);
  r->n = n * POINTS;
  r->v = pc_xcalloc(r->n ? r->n : 1, sizeof *r->v);
  for (size_t b = 0; b < n; b++) {
    size_t len = strlen(endpoints[b]);
    uLong base = crc32(0L, (const Bytef *)endpoints[b], (uInt)len);
    for (uint32_t i = 0; i < POINTS; i++) {
      uint8_t byte = (uint8_t)i;
      r->v[b * POINTS + i] = (struct point){(uint32_t)(crc32(base, &byte, 1) % POSITIONS),
                                            (uint32_t)b};
    }
  }
  qsort_r(r->v, r->n, sizeof *r->v, point_cmp, (void *)endpoints);
  return r;
}

void pc__ring_free(pc__ring_t *r) {
  if (!r) return;
  free(r->v);
  free(r);
}

size_t pc__ring_find(const pc__ring_t *r, uint32_t pos) {
  if (!r->n) return SIZE_MAX;
  size_t lo = 0, hi = r->n; /* the first point with pos >= the key's */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->v[mid].pos < pos) lo = mid + 1;
    else hi = mid;
  }
  return r->v[lo == r->n ? 0 : lo].backend;
}
