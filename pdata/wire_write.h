/* wire_write.h - the protobuf writer shared by pdata's encoders (OTLP in
 * proto_encode.c, pprof in pprof_encode.c); internal to pdata/.
 *
 * One idea: write backwards. The buffer fills from its end towards its start,
 * each message's fields in reverse number order, so when a message is done
 * its length is known and is written in front of it: one pass, no size
 * pre-computation, no nested copies. A failed allocation sets oom and turns
 * every later write into a no-op; finish() reports it once.
 *
 * Everything here is static, so each encoder gets its own inlined copy. */
#ifndef PC_PDATA_WIRE_WRITE_H
#define PC_PDATA_WIRE_WRITE_H

#include <stdlib.h>

#include "pdata.h"
#include "wire.h"

typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len; /* bytes written, at buf[cap - len .. cap) */
  bool oom;
  const void *user; /* the encoder's own context */
} wr_t;

__attribute__((noinline, unused)) static bool grow(wr_t *w, size_t need) {
  if (w->oom) return false;
  size_t cap = w->cap ? w->cap * 2 : 4096;
  while (cap - w->len < need) {
    if (cap > SIZE_MAX / 2) {
      w->oom = true;
      return false;
    }
    cap *= 2;
  }
  uint8_t *nb = malloc(cap);
  if (!nb) {
    w->oom = true;
    return false;
  }
  if (w->len) memcpy(nb + cap - w->len, w->buf + w->cap - w->len, w->len);
  free(w->buf);
  w->buf = nb;
  w->cap = cap;
  return true;
}

/* Room for n more bytes in front; returns where they start. */
static inline uint8_t *front(wr_t *w, size_t n) {
  if (w->cap - w->len < n && !grow(w, n)) return NULL;
  w->len += n;
  return w->buf + w->cap - w->len;
}

static inline void put_varint(wr_t *w, uint64_t v) {
  unsigned n = wire_varint_size(v);
  uint8_t *p = front(w, n);
  if (!p) return;
  for (unsigned i = 0; i + 1 < n; i++) {
    p[i] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n - 1] = (uint8_t)v;
}

static inline void put_tag(wr_t *w, uint32_t field, uint32_t wt) {
  put_varint(w, (uint64_t)field << 3 | wt);
}

static inline void put_fixed64(wr_t *w, uint64_t v) {
  uint8_t *p = front(w, 8);
  if (p) wire_store64(p, v);
}

static inline void put_bytes(wr_t *w, const uint8_t *s, size_t n) {
  if (n == 0) return; /* also keeps NULL + 0 out of front() */
  uint8_t *p = front(w, n);
  if (p) memcpy(p, s, n);
}

/* Close a length-delimited field whose payload started at mark. */
static inline void close_len(wr_t *w, size_t mark, uint32_t field) {
  put_varint(w, w->len - mark);
  put_tag(w, field, WT_LEN);
}

/* Optional scalars: written only when not the default. */
static inline void opt_varint(wr_t *w, uint32_t field, uint64_t v) {
  if (v) {
    put_varint(w, v);
    put_tag(w, field, WT_VARINT);
  }
}

static inline void opt_i32(wr_t *w, uint32_t field, int32_t v) {
  /* Negative int32 is sign-extended to 10 bytes, as protobuf does. */
  opt_varint(w, field, (uint64_t)(int64_t)v);
}

static inline void opt_fixed64(wr_t *w, uint32_t field, uint64_t v) {
  if (v) {
    put_fixed64(w, v);
    put_tag(w, field, WT_I64);
  }
}

static inline void opt_bytes(wr_t *w, uint32_t field, pc_str_t s) {
  if (s.n) {
    put_bytes(w, s.p, s.n);
    put_varint(w, s.n);
    put_tag(w, field, WT_LEN);
  }
}

static inline void rep_string(wr_t *w, uint32_t field, pc_str_t s) {
  put_bytes(w, s.p, s.n);
  put_varint(w, s.n);
  put_tag(w, field, WT_LEN);
}

__attribute__((unused))
static void packed_i32(wr_t *w, uint32_t field, const int32_t *v, uint32_t n) {
  if (!n) return;
  size_t mark = w->len;
  for (uint32_t i = n; i-- > 0;) put_varint(w, (uint64_t)(int64_t)v[i]);
  close_len(w, mark, field);
}

__attribute__((unused))
static void packed_i64(wr_t *w, uint32_t field, const int64_t *v, uint32_t n) {
  if (!n) return;
  size_t mark = w->len;
  for (uint32_t i = n; i-- > 0;) put_varint(w, (uint64_t)v[i]);
  close_len(w, mark, field);
}

__attribute__((unused))
static void packed_fixed64(wr_t *w, uint32_t field, const uint64_t *v, uint32_t n) {
  if (!n) return;
  uint8_t *p = front(w, (size_t)n * 8);
  if (!p) return;
  for (uint32_t i = 0; i < n; i++) wire_store64(p + (size_t)i * 8, v[i]);
  put_varint(w, (size_t)n * 8);
  put_tag(w, field, WT_LEN);
}

/* Hand the writer's bytes to out: moved to the front and adopted when out is
 * empty (no second buffer of the whole encoding), else appended. */
__attribute__((unused)) static int finish(wr_t *w, pc_buf_t *out) {
  if (w->oom) return PC_ENOMEM;
  if (!w->len) return 0;
  if (out->n == 0 && out->cap < w->cap) {
    memmove(w->buf, w->buf + w->cap - w->len, w->len);
    free(out->p);
    *out = (pc_buf_t){w->buf, w->len, w->cap};
    w->buf = NULL;
    return 0;
  }
  return pc_buf_append(out, w->buf + w->cap - w->len, w->len);
}

#endif
