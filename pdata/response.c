/* response.c - the small answers to clients: ExportProfilesServiceResponse
 * and google.rpc.Status, in protobuf (through nanopb) or OTLP-JSON. */
#include "pdata.h"

#include <pb_encode.h>
#include <string.h>

#include "profiles_service.pb.h"
#include "status.pb.h"

static bool write_cstring(pb_ostream_t *s, const pb_field_t *f, void *const *arg) {
  const char *str = *arg;
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_string(s, (const pb_byte_t *)str, strlen(str));
}

static bool buf_write(pb_ostream_t *s, const pb_byte_t *p, size_t n) {
  return pc_buf_append(s->state, p, n) == 0;
}

static int nanopb_encode(const pb_msgdesc_t *desc, const void *msg, pc_buf_t *out) {
  pb_ostream_t s = {.callback = buf_write, .state = out, .max_size = SIZE_MAX};
  return pb_encode(&s, desc, msg) ? 0 : PC_ENOMEM;
}

int pc_encode_export_response(bool json, int64_t rejected, const char *msg,
                              pc_buf_t *out) {
  bool partial = rejected > 0 || (msg && *msg);
  if (json) {
    if (!partial) return pc_buf_append(out, "{}", 2);
    int rc = pc_buf_printf(out, "{\"partialSuccess\":{\"rejectedProfiles\":\"%lld\"",
                           (long long)rejected);
    if (!rc && msg && *msg) {
      rc = pc_buf_append(out, ",\"errorMessage\":", 16);
      if (!rc) rc = pc_buf_json_string(out, (const uint8_t *)msg, strlen(msg));
    }
    if (!rc) rc = pc_buf_append(out, "}}", 2);
    return rc;
  }
  opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse r =
      opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse_init_zero;
  if (partial) {
    r.has_partial_success = true;
    r.partial_success.rejected_profiles = rejected;
    if (msg && *msg) {
      r.partial_success.error_message.funcs.encode = write_cstring;
      r.partial_success.error_message.arg = (void *)(uintptr_t)msg;
    }
  }
  return nanopb_encode(
      opentelemetry_proto_collector_profiles_v1development_ExportProfilesServiceResponse_fields,
      &r, out);
}

int pc_encode_status(bool json, int32_t code, const char *msg, pc_buf_t *out) {
  if (json) {
    int rc = code ? pc_buf_printf(out, "{\"code\":%d,\"message\":", (int)code)
                  : pc_buf_append(out, "{\"message\":", 11);
    if (!rc) rc = pc_buf_json_string(out, (const uint8_t *)msg, strlen(msg));
    if (!rc) rc = pc_buf_append(out, "}", 1);
    return rc;
  }
  google_rpc_Status st = google_rpc_Status_init_zero;
  st.code = code;
  st.message.funcs.encode = write_cstring;
  st.message.arg = (void *)(uintptr_t)msg;
  return nanopb_encode(google_rpc_Status_fields, &st, out);
}
