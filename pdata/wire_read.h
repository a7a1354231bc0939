/* wire_read.h - the protobuf reader shared by pdata's decoders (OTLP in
 * proto_decode.c, pprof in pprof_decode.c); internal to pdata/.
 *
 * A decoder keeps a dctx_t: the start of the input (errors give byte
 * offsets), the arena arrays are carved from, the error to fill, and the path
 * of fields being decoded (errors name it: "at byte 812:
 * resource_profiles[0].profiles[3].samples[7].values: truncated packed
 * field"). Messages are read in two passes: count_fields counts the elements
 * of the repeated fields a table of kinds names (and checks the message is
 * well-formed at its level), ALLOC_ARRAY carves arrays of exactly that size,
 * and the second pass fills them with the rd_* readers. Strings and bytes are
 * views into the input.
 *
 * Everything here is static: each decoder gets its own inlined copy, which
 * is what the hot path wants (see READER). The few out-of-line helpers are
 * cold or rare (errors, skipping unknown fields, slow varints). */
#ifndef PC_PDATA_WIRE_READ_H
#define PC_PDATA_WIRE_READ_H

#include <stdarg.h>
#include <stdio.h>

#include "pdata.h"
#include "utf8.h"
#include "wire.h"

#define MAX_PATH 48 /* deeper than any valid profiles message nests */

/* The primitive readers are called for every field of every message. GCC
 * at -O2 kept several of them out of line (rd_u64, rd_rep_i32, rd_len...),
 * and the calls alone were some 15% of a decode: forcing them inline made
 * pc_proto_decode 1.18x faster on the 200 KB workload payload. */
#define READER static inline __attribute__((always_inline))

typedef struct {
  const uint8_t *base; /* start of the input, for byte offsets */
  pc_arena_t *arena;
  pc_err_t *err;
  int depth;
  struct {
    const char *name;
    int64_t index; /* -1: not an element of a repeated field */
  } path[MAX_PATH];
} dctx_t;

/* ---- errors ---------------------------------------------------------------- */

__attribute__((unused)) static void format_path(const dctx_t *c, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  for (int i = 0; i < c->depth && i < MAX_PATH && n < cap; i++) {
    int w = c->path[i].index >= 0
                ? snprintf(out + n, cap - n, "%s%s[%lld]", i ? "." : "", c->path[i].name,
                           (long long)c->path[i].index)
                : snprintf(out + n, cap - n, "%s%s", i ? "." : "", c->path[i].name);
    if (w < 0) break;
    n += (size_t)w;
  }
}

__attribute__((format(printf, 3, 4), noinline, cold, unused)) static int
fail(dctx_t *c, const uint8_t *at, const char *fmt, ...) {
  char what[160], path[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  format_path(c, path, sizeof path);
  return pc_err_set(c->err, PC_EDECODE, "at byte %zu: %s%s%s", (size_t)(at - c->base),
                    path, path[0] ? ": " : "", what);
}

__attribute__((noinline, cold, unused)) static int fail_oom(dctx_t *c) {
  return pc_err_set(c->err, PC_ENOMEM, "out of memory decoding the request (%zu bytes in use)",
                    pc_arena_used(c->arena));
}

static inline bool push(dctx_t *c, const char *name, int64_t index) {
  if (c->depth >= MAX_PATH) return false;
  c->path[c->depth].name = name;
  c->path[c->depth].index = index;
  c->depth++;
  return true;
}

static inline void pop(dctx_t *c) { c->depth--; }

/* ---- primitives -------------------------------------------------------------- */

/* Gather the 7-bit groups of a varint whose bytes (continuation bits
 * included) are the low bytes of w: pairs, then quads, then all eight. */
static inline uint64_t varint_gather(uint64_t w) {
  w &= 0x7f7f7f7f7f7f7f7fULL;
  w = (w & 0x007f007f007f007fULL) | (w & 0x7f007f007f007f00ULL) >> 1;
  w = (w & 0x00003fff00003fffULL) | (w & 0x3fff00003fff0000ULL) >> 2;
  return (w & 0x000000000fffffffULL) | (w & 0x0fffffff00000000ULL) >> 4;
}

/* Varints of 3 bytes or more (addresses, sizes, timestamps), and those near
 * the end of the input. */
__attribute__((noinline, unused)) static bool varint_slow(const uint8_t **pp,
                                                          const uint8_t *end,
                                                          uint64_t *out) {
  const uint8_t *p = *pp;
  if (end - p >= 8) { /* up to 8 bytes in one load */
    uint64_t w = wire_load64(p);
    uint64_t stops = ~w & 0x8080808080808080ULL;
    if (stops) {
      unsigned bits = (unsigned)__builtin_ctzll(stops) + 1; /* 8 x the length */
      *out = varint_gather(bits == 64 ? w : w & ((1ULL << bits) - 1));
      *pp = p + bits / 8;
      return true;
    }
  }
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      *pp = p;
      return true;
    }
  }
  return false; /* more than 10 bytes */
}

READER bool rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  if (p < end && *p < 0x80) {
    *out = *p;
    *pp = p + 1;
    return true;
  }
  if (end - p >= 2 && p[1] < 0x80) {
    *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
    *pp = p + 2;
    return true;
  }
  return varint_slow(pp, end, out);
}

/* A length-delimited field's payload: [*sub, *sub_end). */
READER int rd_len(dctx_t *c, const uint8_t **pp, const uint8_t *end,
                         const uint8_t **sub, const uint8_t **sub_end) {
  uint64_t n;
  const uint8_t *at = *pp;
  *sub = *sub_end = at;
  if (!rd_varint(pp, end, &n)) return fail(c, at, "truncated length");
  if (n > (uint64_t)(end - *pp))
    return fail(c, at, "length %llu runs past the end of its message (%zu bytes left)",
                (unsigned long long)n, (size_t)(end - *pp));
  *sub = *pp;
  *sub_end = *pp + n;
  *pp = *sub_end;
  return 0;
}

static int skip_field(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint64_t key,
                      int group_depth);

__attribute__((unused)) static int skip_group(dctx_t *c, const uint8_t **pp,
                                              const uint8_t *end, uint32_t field,
                                              int group_depth) {
  if (group_depth > 16) return fail(c, *pp, "groups nested too deeply");
  while (*pp < end) {
    const uint8_t *at = *pp;
    uint64_t key;
    if (!rd_varint(pp, end, &key)) return fail(c, at, "bad tag");
    if ((key & 7) == WT_EGROUP) {
      if ((key >> 3) != field) return fail(c, at, "mismatched end of group");
      return 0;
    }
    int rc = skip_field(c, pp, end, key, group_depth + 1);
    if (rc) return rc;
  }
  return fail(c, *pp, "unterminated group %u", field);
}

static int skip_field(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint64_t key,
                      int group_depth) {
  const uint8_t *at = *pp;
  uint64_t v;
  switch (key & 7) {
  case WT_VARINT:
    if (!rd_varint(pp, end, &v)) return fail(c, at, "truncated varint");
    return 0;
  case WT_I64:
    if (end - *pp < 8) return fail(c, at, "truncated 64-bit field");
    *pp += 8;
    return 0;
  case WT_I32:
    if (end - *pp < 4) return fail(c, at, "truncated 32-bit field");
    *pp += 4;
    return 0;
  case WT_LEN: {
    const uint8_t *s = NULL, *e = NULL;
    return rd_len(c, pp, end, &s, &e);
  }
  case WT_SGROUP:
    return skip_group(c, pp, end, (uint32_t)(key >> 3), group_depth);
  default:
    return fail(c, at, "invalid wire type %u in field %llu", (unsigned)(key & 7),
                (unsigned long long)(key >> 3));
  }
}

/* Read the next tag; 0 field numbers and wire types 6/7 are errors. */
READER int rd_tag(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint32_t *field,
                         uint32_t *wt) {
  const uint8_t *at = *pp;
  uint64_t key;
  if (!rd_varint(pp, end, &key)) return fail(c, at, "truncated tag");
  if ((key >> 3) == 0 || (key >> 3) > 536870911u) return fail(c, at, "invalid field number 0");
  *field = (uint32_t)(key >> 3);
  *wt = (uint32_t)(key & 7);
  return 0;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

__attribute__((unused)) static bool utf8_valid_slow(const uint8_t *p, const uint8_t *end) {
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t n = pc__utf8_seq(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

/* Whether n bytes are all ASCII: the high bits of every byte ORed together,
 * 8 bytes a load, the last load overlapping the one before it. Without an
 * early exit or a byte loop this is branch-light for the short strings that
 * fill a dictionary (about 45 bytes on average): the byte-at-a-time tail of
 * the loop it replaced was a tenth of a decode. */
static inline bool ascii_only(const uint8_t *p, size_t n) {
  uint64_t acc = 0;
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) acc |= wire_load64(p + i);
    acc |= wire_load64(p + n - 8);
  } else {
    for (size_t i = 0; i < n; i++) acc |= p[i];
  }
  return (acc & 0x8080808080808080ULL) == 0;
}

static inline bool utf8_valid(const uint8_t *p, size_t n) {
  return ascii_only(p, n) || utf8_valid_slow(p, p + n);
}

static inline int rd_string(dctx_t *c, const uint8_t **pp, const uint8_t *end, pc_str_t *out,
                            const char *name) {
  const uint8_t *s = NULL, *e = NULL, *at = *pp;
  int rc = rd_len(c, pp, end, &s, &e);
  if (rc) return rc;
  if (!utf8_valid(s, (size_t)(e - s)))
    return fail(c, at, "%s: string is not valid UTF-8", name);
  *out = (pc_str_t){s, (size_t)(e - s)};
  return 0;
}

READER int rd_bytes(dctx_t *c, const uint8_t **pp, const uint8_t *end, pc_str_t *out) {
  const uint8_t *s = NULL, *e = NULL;
  int rc = rd_len(c, pp, end, &s, &e);
  if (rc) return rc;
  *out = (pc_str_t){s, (size_t)(e - s)};
  return 0;
}

READER int rd_u64(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *at = *pp;
  *out = 0;
  if (!rd_varint(pp, end, out)) return fail(c, at, "truncated varint");
  return 0;
}

READER int rd_i32(dctx_t *c, const uint8_t **pp, const uint8_t *end, int32_t *out) {
  uint64_t v;
  int rc = rd_u64(c, pp, end, &v);
  *out = (int32_t)(uint32_t)v;
  return rc;
}

static inline int rd_fixed64(dctx_t *c, const uint8_t **pp, const uint8_t *end,
                             uint64_t *out) {
  *out = 0;
  if (end - *pp < 8) return fail(c, *pp, "truncated 64-bit field");
  *out = wire_load64(*pp);
  *pp += 8;
  return 0;
}

/* ---- repeated fields: counting and filling ------------------------------------- */

/* How a repeated field is counted in the first pass. */
enum { K_NONE = 0, K_LEN, K_VARINT, K_FIXED64 };

/* Varints in a packed run: one per byte without the continuation bit,
 * eight bytes at a time. */
static inline uint32_t count_varint_ends(const uint8_t *p, const uint8_t *end) {
  uint32_t n = 0;
  for (; end - p >= 8; p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    /* The continuation bits summed by one multiply: popcount is a libcall
     * on baseline x86-64. */
    uint64_t cont = (w & 0x8080808080808080ULL) >> 7;
    n += 8 - (uint32_t)((cont * 0x0101010101010101ULL) >> 56);
  }
  for (; p < end; p++) n += *p < 0x80;
  return n;
}

__attribute__((unused)) static int count_fields_generic(dctx_t *c, const uint8_t *p,
                                                        const uint8_t *end,
                                                        const uint8_t *kinds,
                                                        uint32_t nkinds, uint32_t *counts) {
  while (p < end) {
    uint32_t f = 0, wt = 0;
    int rc = rd_tag(c, &p, end, &f, &wt);
    if (rc) return rc;
    uint8_t k = f < nkinds ? kinds[f] : K_NONE;
    if (k != K_NONE && wt == WT_LEN) {
      const uint8_t *s = NULL, *e = NULL;
      const uint8_t *at = p;
      if ((rc = rd_len(c, &p, end, &s, &e))) return rc;
      if (k == K_LEN) {
        counts[f]++;
      } else if (k == K_VARINT) {
        uint32_t n = count_varint_ends(s, e);
        if (e > s && e[-1] >= 0x80) return fail(c, at, "truncated packed varints in field %u", f);
        counts[f] += n;
      } else {
        if ((e - s) % 8) return fail(c, at, "packed fixed64 field %u of %zu bytes", f,
                                     (size_t)(e - s));
        counts[f] += (uint32_t)((e - s) / 8);
      }
      continue;
    }
    if ((k == K_VARINT && wt == WT_VARINT) || (k == K_FIXED64 && wt == WT_I64)) counts[f]++;
    if ((rc = skip_field(c, &p, end, (uint64_t)f << 3 | wt, 0))) return rc;
  }
  return 0;
}

/* First pass over one message: counts[f] = number of elements of field f for
 * the fields whose kinds[f] is set. Also checks the message is well-formed at
 * this level, so the second pass can rely on it.
 *
 * The dictionary and the tree are long runs of length-delimited fields with
 * one-byte tags and lengths under 16 KiB; those are counted by the loop
 * below, and the first field of any other shape hands the rest of the
 * message to the general loop, which also reports errors. */
static inline int count_fields(dctx_t *c, const uint8_t *p, const uint8_t *end,
                               const uint8_t *kinds, uint32_t nkinds, uint32_t *counts) {
  while (end - p >= 3 && (p[0] & 0x87) == WT_LEN) {
    uint32_t f = p[0] >> 3;
    uint8_t k = f < nkinds ? kinds[f] : K_NONE;
    if (f == 0 || (k != K_NONE && k != K_LEN)) break;
    size_t n;
    const uint8_t *payload;
    if (p[1] < 0x80) {
      n = p[1];
      payload = p + 2;
    } else if (p[2] < 0x80) {
      n = (size_t)(p[1] & 0x7f) | (size_t)p[2] << 7;
      payload = p + 3;
    } else {
      break;
    }
    if (n > (size_t)(end - payload)) break;
    if (k == K_LEN) counts[f]++;
    p = payload + n;
  }
  return count_fields_generic(c, p, end, kinds, nkinds, counts);
}

#define ALLOC_ARRAY(c, ptr, count)                                                 \
  do {                                                                             \
    (ptr) = NULL;                                                                  \
    if (count) {                                                                   \
      (ptr) = pc_arena_alloc((c)->arena, (size_t)(count) * sizeof *(ptr));         \
      if (!(ptr)) return fail_oom(c);                                              \
    }                                                                              \
  } while (0)

/* Append the elements of a repeated int32 field (packed or one unpacked
 * element) at v[*n]. Capacity was counted in the first pass. */
READER int rd_rep_i32(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint32_t wt,
                             int32_t *v, uint32_t *n) {
  if (wt == WT_VARINT) return rd_i32(c, pp, end, &v[(*n)++]);
  const uint8_t *s = NULL, *e = NULL;
  int rc = rd_len(c, pp, end, &s, &e);
  while (!rc && s < e) rc = rd_i32(c, &s, e, &v[(*n)++]);
  return rc;
}

static inline int rd_rep_i64(dctx_t *c, const uint8_t **pp, const uint8_t *end, uint32_t wt,
                             int64_t *v, uint32_t *n) {
  uint64_t x;
  if (wt == WT_VARINT) {
    int rc = rd_u64(c, pp, end, &x);
    v[(*n)++] = (int64_t)x;
    return rc;
  }
  const uint8_t *s = NULL, *e = NULL;
  int rc = rd_len(c, pp, end, &s, &e);
  while (!rc && s < e) {
    rc = rd_u64(c, &s, e, &x);
    v[(*n)++] = (int64_t)x;
  }
  return rc;
}

static inline int rd_rep_fixed64(dctx_t *c, const uint8_t **pp, const uint8_t *end,
                                 uint32_t wt, uint64_t *v, uint32_t *n) {
  if (wt == WT_I64) return rd_fixed64(c, pp, end, &v[(*n)++]);
  const uint8_t *s = NULL, *e = NULL;
  int rc = rd_len(c, pp, end, &s, &e);
  for (; !rc && s < e; s += 8) v[(*n)++] = wire_load64(s);
  return rc;
}

/* Is a field of this wire type acceptable for a repeated scalar? */
static inline bool rep_scalar_wt(uint32_t wt, uint32_t scalar_wt) {
  return wt == scalar_wt || wt == WT_LEN;
}

#endif
