/* traces_decode_fuzz.c - libFuzzer target for the traces decoders
 * (pdata/traces.h: the ends of proto_decode.c and json_decode.c) and for
 * the span store's table reading what they decode (extension/spans.c).
 *
 * Each input is decoded as protobuf and as OTLP-JSON. Properties checked
 * beyond "no crash": a failure says why; what decodes keeps the encoded
 * bytes it came from and holds only ids of the sizes validation promises;
 * every span with usable ids that the table records is then found, its
 * name no longer than PC_SPAN_NAME_MAX; what decodes from OTLP-JSON is
 * encoded as protobuf (for gRPC exporters), which must decode again with
 * as many spans, events and links. */
#include <stdlib.h>
#include <string.h>

#include "../../extension/internal.h"
#include "../../pdata/traces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool usable(pc_str_t id, size_t n) {
  if (id.n != n) return false;
  for (size_t i = 0; i < n; i++)
    if (id.p[i]) return true;
  return false;
}

static void check(const pc_traces_t *tr, const uint8_t *data, size_t size) {
  if (tr->encoded != data || tr->encoded_n != size) abort();
  static pc_spans_t *table;
  if (!table) {
    pc_spans_cfg_t cfg = {.window_ms = 60000, .max_bytes = 64 << 20, .stripes = 4};
    table = pc_spans_new(&cfg);
  }
  static uint64_t now;
  now += 1000000; /* every input in a window of its own: earlier ones expire */
  pc_spans_add(table, tr, now);
  for (uint32_t r = 0; r < tr->n_resources; r++)
    for (uint32_t s = 0; s < tr->resources[r].n_scopes; s++)
      for (uint32_t i = 0; i < tr->resources[r].scopes[s].n_spans; i++) {
        const pc_span_t *sp = &tr->resources[r].scopes[s].spans[i];
        if ((sp->trace_id.n != 0 && sp->trace_id.n != 16) ||
            (sp->span_id.n != 0 && sp->span_id.n != 8) ||
            (sp->parent_span_id.n != 0 && sp->parent_span_id.n != 8))
          abort();
        if (!usable(sp->trace_id, 16) || !usable(sp->span_id, 8)) continue;
        pc_span_rec_t rec, root, top;
        if (!pc_spans_find(table, sp->trace_id.p, sp->span_id.p, now, &rec, &root, &top))
          abort();
        if (rec.name_n > PC_SPAN_NAME_MAX || memcmp(rec.trace_id, sp->trace_id.p, 16)) abort();
      }
}

static void totals(const pc_traces_t *tr, uint64_t out[3]) {
  out[0] = out[1] = out[2] = 0;
  for (uint32_t r = 0; r < tr->n_resources; r++)
    for (uint32_t s = 0; s < tr->resources[r].n_scopes; s++)
      for (uint32_t i = 0; i < tr->resources[r].scopes[s].n_spans; i++) {
        out[0]++;
        out[1] += tr->resources[r].scopes[s].spans[i].n_events;
        out[2] += tr->resources[r].scopes[s].spans[i].n_links;
      }
}

static void check_reencoded(const pc_traces_t *tr) {
  static pc_arena_t *again;
  if (!again) again = pc_arena_new(0);
  pc_arena_reset(again);
  pc_buf_t pb = {0};
  if (pc_traces_proto_encode(tr, &pb)) abort();
  pc_traces_t back;
  pc_err_t err = {0};
  if (pc_traces_proto_decode(again, pb.p, pb.n, &back, &err)) abort();
  uint64_t a[3], b[3];
  totals(tr, a);
  totals(&back, b);
  if (memcmp(a, b, sizeof a)) abort();
  pc_buf_free(&pb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_arena_t *arena;
  if (!arena) arena = pc_arena_new(0);
  for (int json = 0; json < 2; json++) {
    pc_arena_reset(arena);
    pc_traces_t tr;
    pc_err_t err = {0};
    int rc = json ? pc_traces_json_decode(arena, data, size, &tr, &err)
                  : pc_traces_proto_decode(arena, data, size, &tr, &err);
    if (rc) {
      if (err.msg[0] == 0) abort(); /* every failure says why */
      continue;
    }
    check(&tr, data, size);
    if (json) check_reencoded(&tr);
  }
  return 0;
}
