/* placeholder */
#include "pdata.h"
int pc_proto_encode(const pc_request_t *req, pc_buf_t *out) { (void)req; (void)out; return PC_EINVAL; }
