/* traces_split_fuzz.c - libFuzzer target for pdata/traces_split.c, the
 * load_balancing exporter's cut of a traces request by span owner.
 *
 * Each input is decoded as protobuf and as OTLP-JSON; what decodes is
 * split into three parts with owners taken from the span ids (so the cut
 * varies with the input). Properties beyond "no crash": a validated
 * request always splits; every part decodes again in the same encoding;
 * the parts hold exactly the request's spans, each where its owner says. */
#include <stdlib.h>
#include <string.h>

#include "../../pdata/traces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS 3

typedef int (*decode_fn)(pc_arena_t *, const uint8_t *, size_t, pc_traces_t *, pc_err_t *);

static uint16_t owner_of(const pc_span_t *sp) {
  return sp->span_id.n ? (uint16_t)(sp->span_id.p[0] % PARTS) : 0;
}

static void split_one(decode_fn decode, const uint8_t *data, size_t size) {
  pc_arena_t *a = pc_arena_new(0);
  pc_arena_set_limit(a, 64 << 20);
  pc_traces_t tr;
  pc_err_t err = {0};
  if (decode(a, data, size, &tr, &err) != 0) {
    pc_arena_free(a);
    return;
  }
  uint64_t n = pc_traces_span_count(&tr), per[PARTS] = {0};
  uint16_t *owner = calloc(n ? n : 1, sizeof *owner);
  size_t i = 0;
  for (uint32_t r = 0; r < tr.n_resources; r++)
    for (uint32_t s = 0; s < tr.resources[r].n_scopes; s++)
      for (uint32_t k = 0; k < tr.resources[r].scopes[s].n_spans; k++, i++) {
        owner[i] = owner_of(&tr.resources[r].scopes[s].spans[k]);
        per[owner[i]]++;
      }
  pc_buf_t parts[PARTS] = {{0}};
  if (pc_traces_split(&tr, owner, PARTS, parts, &err) != 0) abort();
  for (int p = 0; p < PARTS; p++) {
    if (!per[p]) {
      if (parts[p].n) abort();
      continue;
    }
    pc_arena_t *b = pc_arena_new(0);
    pc_traces_t got;
    if (decode(b, parts[p].p, parts[p].n, &got, &err) != 0) abort();
    if (pc_traces_span_count(&got) != per[p]) abort();
    for (uint32_t r = 0; r < got.n_resources; r++)
      for (uint32_t s = 0; s < got.resources[r].n_scopes; s++)
        for (uint32_t k = 0; k < got.resources[r].scopes[s].n_spans; k++)
          if (owner_of(&got.resources[r].scopes[s].spans[k]) != p) abort();
    pc_arena_free(b);
    pc_buf_free(&parts[p]);
  }
  free(owner);
  pc_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  split_one(pc_traces_proto_decode, data, size);
  split_one(pc_traces_json_decode, data, size);
  return 0;
}
