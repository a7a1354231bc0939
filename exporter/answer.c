/* answer.c - read what a backend answers to an export: the partial_success
 * of an Export*ServiceResponse (2xx) and the message of a google.rpc.Status
 * (4xx/5xx), in protobuf (nanopb: these messages are small and cold) or
 * OTLP-JSON (jansson). The exporter logs these texts for the operator, so
 * they are cut to size and stripped of control bytes. */
#include <jansson.h>
#include <pb_decode.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "profiles_service.pb.h"
#include "status.pb.h"

typedef struct {
  char *dst;
  size_t cap;
} text_out_t;

/* Keep printable ASCII and UTF-8 bytes; control bytes would break log lines. */
static void copy_text(text_out_t *t, const uint8_t *p, size_t n) {
  if (!t->cap) return;
  size_t k = n < t->cap - 1 ? n : t->cap - 1;
  for (size_t i = 0; i < k; i++) t->dst[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
  t->dst[k] = 0;
}

static bool read_text(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  text_out_t *t = *arg;
  uint8_t tmp[512];
  size_t n = s->bytes_left < sizeof tmp ? s->bytes_left : sizeof tmp;
  if (!pb_read(s, tmp, n)) return false;
  copy_text(t, tmp, n);
  return pb_read(s, NULL, s->bytes_left); /* skip what does not fit */
}

static json_t *json_parse(const uint8_t *p, size_t n) {
  json_error_t jerr;
  json_t *root = json_loadb((const char *)p, n, 0, &jerr);
  if (root && !json_is_object(root)) {
    json_decref(root);
    return NULL;
  }
  return root;
}

static void json_text(json_t *v, text_out_t *t) {
  if (json_is_string(v)) copy_text(t, (const uint8_t *)json_string_value(v), json_string_length(v));
}

/* OTLP-JSON writes int64 as a decimal string; numbers are accepted too. */
static bool json_int64(json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return true;
  }
  if (!json_is_string(v)) return v == NULL;
  char *end;
  *out = strtoll(json_string_value(v), &end, 10);
  return *end == 0;
}

int pc__parse_export_response(bool json, bool traces, const uint8_t *p, size_t n,
                              int64_t *rejected, char *msg, size_t msg_size) {
  text_out_t t = {msg, msg_size};
  *rejected = 0;
  if (msg_size) msg[0] = 0;
  if (n == 0) return 0;
  if (json) {
    json_t *root = json_parse(p, n);
    if (!root) return PC_EDECODE;
    json_t *ps = json_object_get(root, "partialSuccess");
    int rc = 0;
    if (ps) {
      json_t *count = json_object_get(ps, traces ? "rejectedSpans" : "rejectedProfiles");
      if (!json_is_object(ps) || !json_int64(count, rejected)) rc = PC_EDECODE;
      json_text(json_object_get(ps, "errorMessage"), &t);
    }
    json_decref(root);
    return rc;
  }
  /* ExportTracePartialSuccess has the same field numbers and types as the
   * profiles one (1: rejected count, 2: error_message), so one descriptor
   * reads both. */
  opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse r =
      opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse_init_zero;
  r.partial_success.error_message.funcs.decode = read_text;
  r.partial_success.error_message.arg = &t;
  pb_istream_t s = pb_istream_from_buffer(p, n);
  if (!pb_decode(&s,
                 opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse_fields,
                 &r))
    return PC_EDECODE;
  *rejected = r.partial_success.rejected_profiles;
  return 0;
}

int pc__parse_status(bool json, const uint8_t *p, size_t n, char *msg, size_t msg_size) {
  text_out_t t = {msg, msg_size};
  if (msg_size) msg[0] = 0;
  if (json) {
    json_t *root = json_parse(p, n);
    if (!root) return PC_EDECODE;
    json_t *m = json_object_get(root, "message");
    int rc = json_is_string(m) ? 0 : PC_EDECODE;
    json_text(m, &t);
    json_decref(root);
    return rc;
  }
  if (n == 0) return PC_EDECODE;
  google_rpc_Status st = google_rpc_Status_init_zero;
  st.message.funcs.decode = read_text;
  st.message.arg = &t;
  pb_istream_t s = pb_istream_from_buffer(p, n);
  return pb_decode(&s, google_rpc_Status_fields, &st) ? 0 : PC_EDECODE;
}
