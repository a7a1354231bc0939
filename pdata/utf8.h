/* utf8.h - UTF-8 validation shared by the protobuf and JSON decoders
 * (internal to pdata/).
 *
 * Valid is RFC 3629: no overlong forms, no encoded surrogates, nothing past
 * U+10FFFF (what jansson and the protobuf runtimes accept). */
#ifndef PC_PDATA_UTF8_H
#define PC_PDATA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (2-4) of the valid multi-byte sequence that starts at p, whose
 * first byte is >= 0x80; 0 when it is not one (or is cut by end). */
static inline size_t pc__utf8_seq(const uint8_t *p, const uint8_t *end) {
  uint8_t b = *p;
  size_t need;
  uint32_t cp;
  if (b >= 0xc2 && b <= 0xdf) need = 1, cp = b & 0x1f;
  else if (b >= 0xe0 && b <= 0xef) need = 2, cp = b & 0x0f;
  else if (b >= 0xf0 && b <= 0xf4) need = 3, cp = b & 0x07;
  else return 0;
  if ((size_t)(end - p) <= need) return 0;
  for (size_t i = 1; i <= need; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  /* Overlong forms, surrogates and values past U+10FFFF. */
  if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return need + 1;
}

#endif
