/* clone.c - a deep copy of a request, for a consumer that edits data in
 * place while others read the same request (the service's fan-out).
 *
 * The one idea: the copy is the request's own protobuf encoding decoded
 * again into the target arena. Encoding is canonical and decoding
 * validates, so the copy holds exactly what the original does, by the same
 * code that every request already goes through; no second walker of the
 * tree to keep in step with the model. It costs an encode and a decode, and
 * runs only when a mutating pipeline shares a receiver with others. */
#include <string.h>

#include "pdata.h"

int pc_request_clone(const pc_request_t *src, pc_arena_t *arena, pc_request_t *out,
                     pc_err_t *err) {
  pc_buf_t enc = {0};
  int rc = pc_proto_encode(src, &enc);
  if (rc) {
    pc_buf_free(&enc);
    return pc_err_set(err, rc, "copying the request for a mutating pipeline: %s",
                      pc_strerror(rc));
  }
  /* The decoded views point into the bytes: they live in the arena too. */
  size_t n = enc.n;
  uint8_t *bytes = n ? pc_arena_alloc(arena, n) : NULL;
  if (n && !bytes) {
    pc_buf_free(&enc);
    return pc_err_set(err, PC_ENOMEM, "copying the request for a mutating pipeline: out of "
                      "memory");
  }
  if (n) memcpy(bytes, enc.p, n);
  pc_buf_free(&enc);
  rc = pc_proto_decode(arena, bytes, n, out, err);
  if (rc) return rc;
  out->metadata = src->metadata;
  out->client_addr = src->client_addr;
  return 0;
}
