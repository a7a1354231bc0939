/* body.c - ref-counted request bodies: one encoded, compressed batch shared
 * by the queue and in-flight transfers without copying (like h2o's shared
 * memory chunks). The last unref frees the bytes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

pc__body_t *pc__body_from_buf_take(pc_buf_t *buf) {
  pc__body_t *b = pc_xmalloc(sizeof *b);
  atomic_init(&b->refs, 1);
  b->n = buf->n;
  b->p = buf->p;
  *buf = (pc_buf_t){0};
  return b;
}

pc__body_t *pc__body_copy(const uint8_t *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) return NULL;
  if (n) memcpy(copy, p, n);
  pc_buf_t buf = {.p = copy, .n = n, .cap = n ? n : 1};
  return pc__body_from_buf_take(&buf);
}

pc__body_t *pc__body_ref(pc__body_t *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void pc__body_unref(pc__body_t *b) {
  if (!b) return;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  free(b->p);
  free(b);
}
