/* wire.h - protobuf wire-format primitives shared by the decoder and the
 * encoder (internal to pdata/).
 *
 * Why not nanopb for these messages: nanopb decodes repeated fields through
 * per-element callbacks or fixed-size arrays, which for profiles (hundreds of
 * thousands of small repeated messages) costs a function call and a bounds
 * dance per element. The hand reader below decodes in two passes per message
 * (count, then fill arrays of exact size carved from the arena), with views
 * into the input for strings and bytes. */
#ifndef PC_PDATA_WIRE_H
#define PC_PDATA_WIRE_H

#include <stdint.h>
#include <string.h>

enum {
  WT_VARINT = 0,
  WT_I64 = 1,
  WT_LEN = 2,
  WT_SGROUP = 3,
  WT_EGROUP = 4,
  WT_I32 = 5,
};

static inline uint64_t wire_load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline void wire_store64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
}

static inline unsigned wire_varint_size(uint64_t v) {
  /* 1 + floor(bits/7): bits is at least 1 so that 0 takes one byte. */
  unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
  return (bits + 6) / 7;
}

#endif
