/* json_decode.c - placeholder until the OTLP-JSON decoder lands. */
#include "pdata.h"
int pc_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n,
                   pc_request_t *req, pc_err_t *err) {
  (void)arena; (void)buf; (void)n; (void)req;
  return pc_err_set(err, PC_EINVAL, "JSON decoding is not implemented yet");
}
