/* json_decode_fuzz.c - libFuzzer target for the OTLP-JSON decoder.
 *
 * Property checked beyond "no crash": whatever decodes must re-encode, the
 * re-encoding must decode again, and encoding that gives the same text (the
 * canonical JSON form is a fixed point). A failure must always say why. */
#include <stdlib.h>
#include <string.h>

#include "../../pdata/pdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_arena_t *arena;
  if (!arena) arena = pc_arena_new(0);
  pc_arena_reset(arena);
  pc_request_t req;
  pc_err_t err = {0};
  if (pc_json_decode(arena, data, size, &req, &err) != 0) {
    if (err.msg[0] == 0) abort();
    return 0;
  }
  pc_buf_t a = {0}, b = {0};
  if (pc_json_encode(&req, &a) != 0) abort();
  pc_request_t again;
  if (pc_json_decode(arena, a.p, a.n, &again, &err) != 0) abort();
  if (again.rejected_profiles != 0) abort(); /* rejected ones were dropped */
  if (pc_json_encode(&again, &b) != 0) abort();
  if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) abort();
  pc_buf_free(&a);
  pc_buf_free(&b);
  return 0;
}
