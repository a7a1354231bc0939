/* pprof_decode_fuzz.c - libFuzzer target for pprof in and out: gunzip
 * (bounded), decode, convert to OTLP, aggregate, export.
 *
 * Properties checked beyond "no crash": every failure says why; whatever
 * decodes converts (the decoder checked every reference, so conversion has
 * no reason to fail but memory); the converted request passes the
 * project's validator unchanged; its folded stacks and the folded stacks of
 * its pprof export, converted back, are the same text. Seeds:
 * corpus/pprof (the fixtures of tests/data/pprof, gunzipped). */
#include <stdlib.h>
#include <string.h>

#include "../../pdata/intern.h"
#include "../../pdata/pprof.h"
#include "../../pdata/stacks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Folded stacks of the builder's request (default sample type). */
static void folded(pc_builder_t *b, pc_buf_t *out, pc_stacks_t **keep) {
  const pc_request_t *req = pc_builder_request(b);
  pc_stacks_t *s;
  pc_err_t err = {0};
  if (pc_stacks_select(&req, 1, NULL, &s, &err) != 0) abort();
  if (pc_stacks_folded(s, out) != 0) abort();
  pc_buf_t tree = {0};
  if (pc_stacks_tree_json(s, &tree) != 0) abort();
  pc_buf_free(&tree);
  if (keep) *keep = s;
  else pc_stacks_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_arena_t *arena, *scratch;
  if (!arena) arena = pc_arena_new(0), scratch = pc_arena_new(0);
  pc_arena_reset(arena);
  pc_arena_reset(scratch);
  pc_buf_t inflated = {0};
  pc_str_t plain;
  pc_err_t err = {0};
  if (pc_pprof_unpack(data, size, 1 << 20, &inflated, &plain, &err) != 0) {
    if (!err.msg[0]) abort();
    pc_buf_free(&inflated);
    return 0;
  }
  pc_pprof_t p;
  if (pc_pprof_decode(arena, plain.p, plain.n, &p, &err) != 0) {
    if (!err.msg[0]) abort();
    pc_buf_free(&inflated);
    return 0;
  }
  pc_builder_t *b = pc_builder_new();
  if (pc_pprof_to_otlp(&p, scratch, b, &err) != 0) abort();
  pc_request_t *req = pc_builder_request(b);
  if (pc_pdata_validate(req, &err) != 0 || req->rejected_profiles) abort();

  pc_buf_t f1 = {0}, f2 = {0}, exported = {0};
  pc_stacks_t *s;
  folded(b, &f1, &s);
  if (pc_pprof_encode(s, false, &exported) != 0) abort();
  pc_builder_t *b2 = pc_builder_new();
  if (pc_pprof_convert(exported.p, exported.n, 1 << 30, b2, &err) != 0) abort();
  folded(b2, &f2, NULL);
  if (f1.n != f2.n || (f1.n && memcmp(f1.p, f2.p, f1.n) != 0)) abort();
  pc_stacks_free(s);
  pc_builder_free(b2);
  pc_builder_free(b);
  pc_buf_free(&f1);
  pc_buf_free(&f2);
  pc_buf_free(&exported);
  pc_buf_free(&inflated);
  return 0;
}
