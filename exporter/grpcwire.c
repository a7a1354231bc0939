/* grpcwire.c - the client side of gRPC's wire conventions for the `otlp`
 * exporter (otlpgrpc.c): the 5-byte message prefix, the
 * percent-encoded grpc-message, the RetryInfo delay inside
 * grpc-status-details-bin, the mapping of HTTP statuses without grpc-status
 * and which codes are worth a retry.
 *
 * The one idea: the retry policy is the Collector's (exporterhelper's
 * otlp exporter): UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE and
 * DATA_LOSS are transient; RESOURCE_EXHAUSTED only when the server said when
 * to come back (RetryInfo), since without it the limit is probably a
 * permanent one such as the message size. Everything else is permanent. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void pc__grpc_prefix(uint8_t out[5], bool compressed, uint32_t n) {
  out[0] = compressed ? 1 : 0;
  out[1] = (uint8_t)(n >> 24);
  out[2] = (uint8_t)(n >> 16);
  out[3] = (uint8_t)(n >> 8);
  out[4] = (uint8_t)n;
}

int pc__grpc_unprefix(const uint8_t *p, size_t n, bool *compressed, const uint8_t **msg,
                      size_t *msg_n) {
  if (n < 5 || p[0] > 1) return PC_EDECODE;
  size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
  if (len > n - 5) return PC_EDECODE;
  *compressed = p[0] == 1;
  *msg = p + 5;
  *msg_n = len;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void pc__grpc_message_decode(const char *in, size_t n, char *out, size_t cap) {
  if (!cap) return;
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    unsigned char c = (unsigned char)in[i];
    int hi, lo;
    if (c == '%' && i + 2 < n && (hi = hexval(in[i + 1])) >= 0 &&
        (lo = hexval(in[i + 2])) >= 0) {
      c = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c; /* keep log lines whole */
  }
  out[o] = 0;
}

/* ---- grpc-status-details-bin ------------------------------------------------ */

/* A protobuf reader just big enough for Status, Any, RetryInfo, Duration. */
typedef struct {
  const uint8_t *p, *end;
} pbr_t;

static bool pb_varint(pbr_t *r, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
    uint8_t b = *r->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* The next field: its number, wire type, and for varints the value, for
 * length-delimited fields the bytes. false at the end or on damage. */
static bool pb_next(pbr_t *r, uint32_t *field, uint64_t *v, pbr_t *sub) {
  uint64_t key;
  if (r->p >= r->end || !pb_varint(r, &key)) return false;
  *field = (uint32_t)(key >> 3);
  switch (key & 7) {
  case 0:
    return pb_varint(r, v);
  case 1:
  case 5: {
    size_t k = (key & 7) == 1 ? 8 : 4;
    if ((size_t)(r->end - r->p) < k) return false;
    r->p += k;
    *v = 0;
    return true;
  }
  case 2:
    if (!pb_varint(r, v) || *v > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + *v;
    r->p += *v;
    return true;
  default:
    return false;
  }
}

/* RetryInfo{retry_delay: Duration{seconds, nanos}} -> milliseconds. */
static bool retry_info_delay(pbr_t info, uint64_t *delay_ms) {
  uint32_t f;
  uint64_t v;
  pbr_t sub = {0};
  while (pb_next(&info, &f, &v, &sub)) {
    if (f != 1) continue;
    uint64_t s = 0, ns = 0;
    pbr_t d = sub;
    uint32_t df;
    pbr_t unused;
    while (pb_next(&d, &df, &v, &unused)) {
      if (df == 1) s = v;
      if (df == 2) ns = v;
    }
    if (s > 86400u * 7 || ns >= 1000000000u) s = 86400u * 7, ns = 0; /* clamp */
    *delay_ms = s * 1000u + ns / 1000000u;
    return true;
  }
  *delay_ms = 0; /* a RetryInfo without a delay: retry with our own backoff */
  return true;
}

static bool any_is_retry_info(pbr_t any, pbr_t *value) {
  static const char suffix[] = "/google.rpc.RetryInfo";
  const size_t sn = sizeof suffix - 1;
  bool typed = false, has_value = false;
  uint32_t f;
  uint64_t v;
  pbr_t sub = {0};
  while (pb_next(&any, &f, &v, &sub)) {
    size_t n = (size_t)(sub.end - sub.p);
    if (f == 1) typed = n >= sn && !memcmp(sub.p + n - sn, suffix, sn);
    if (f == 2) *value = sub, has_value = true;
  }
  return typed && has_value;
}

bool pc__grpc_retry_info(const char *b64, size_t n, uint64_t *delay_ms) {
  pc_buf_t st = {0};
  bool found = false;
  if (pc_buf_reserve(&st, n / 4 * 3 + 3)) pc_oom();
  long len = pc_base64_decode((const uint8_t *)b64, n, st.p);
  st.n = len > 0 ? (size_t)len : 0;
  if (st.n) {
    pbr_t r = {st.p, st.p + st.n}, sub = {0}, value = {0};
    uint32_t f;
    uint64_t v;
    while (!found && pb_next(&r, &f, &v, &sub))
      if (f == 3 && any_is_retry_info(sub, &value)) found = retry_info_delay(value, delay_ms);
  }
  pc_buf_free(&st);
  return found;
}

/* ---- codes ------------------------------------------------------------------- */

const char *pc__grpc_code_name(int code) {
  static const char *const names[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code] : "?";
}

bool pc__grpc_retryable(int code, bool has_retry_info) {
  switch (code) {
  case PC_GRPC_UNAVAILABLE:
  case PC_GRPC_DEADLINE_EXCEEDED:
  case PC_GRPC_ABORTED:
  case PC_GRPC_OUT_OF_RANGE:
  case PC_GRPC_DATA_LOSS:
    return true;
  case PC_GRPC_RESOURCE_EXHAUSTED:
    return has_retry_info;
  default:
    return false;
  }
}

/* gRPC's "HTTP to gRPC status code mapping", for answers (from a proxy,
 * typically) that carry no grpc-status. */
int pc__grpc_code_from_http(long status) {
  switch (status) {
  case 400: return PC_GRPC_INTERNAL;
  case 401: return PC_GRPC_UNAUTHENTICATED;
  case 403: return PC_GRPC_PERMISSION_DENIED;
  case 404: return PC_GRPC_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504: return PC_GRPC_UNAVAILABLE;
  default: return PC_GRPC_UNKNOWN;
  }
}
