/* base64.c - RFC 4648 base64: bytes fields of OTLP-JSON, and gRPC's
 * grpc-status-details-bin (unpadded). One decoder takes both alphabets,
 * padded or not, as the Collector's JSON unmarshaler does. */
#include "core.h"

static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pc_base64_encoded_len(size_t n, bool pad) {
  size_t full = n / 3 * 4, rest = n % 3;
  return full + (rest == 0 ? 0 : pad ? 4 : rest + 1);
}

size_t pc_base64_encode(const uint8_t *p, size_t n, bool pad, char *out) {
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = digits[v >> 18];
    *o++ = digits[v >> 12 & 63];
    *o++ = digits[v >> 6 & 63];
    *o++ = digits[v & 63];
  }
  if (i < n) { /* 1 or 2 bytes left: 2 or 3 digits, then padding */
    bool two = i + 1 < n;
    uint32_t v = (uint32_t)p[i] << 16 | (two ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = digits[v >> 18];
    *o++ = digits[v >> 12 & 63];
    if (two) *o++ = digits[v >> 6 & 63];
    if (pad) {
      if (!two) *o++ = '=';
      *o++ = '=';
    }
  }
  return (size_t)(o - out);
}

/* The 6-bit value of a digit of either alphabet, or -1. */
static int digit_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

long pc_base64_decode(const uint8_t *s, size_t n, uint8_t *out) {
  if (n % 4 == 0 && n > 0 && s[n - 1] == '=') n -= (s[n - 2] == '=') ? 2 : 1;
  if (n % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = digit_value(s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  return (long)o;
}
