/* json_encode.c - placeholder until the OTLP-JSON encoder lands. */
#include "pdata.h"
int pc_json_encode(const pc_request_t *req, pc_buf_t *out) {
  (void)req; (void)out;
  return PC_EINVAL;
}
