/* traces.c - reading the traces model (traces.h): counts and attribute
 * lookups shared by the decoders and the span store. */
#include "traces.h"

#include <string.h>

uint64_t pc_traces_span_count(const pc_traces_t *tr) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < tr->n_resources; i++)
    for (uint32_t k = 0; k < tr->resources[i].n_scopes; k++)
      n += tr->resources[i].scopes[k].n_spans;
  return n;
}

/* Spans carry inline keys; of a repeated key the first wins, as the
 * Collector's pcommon.Map.Get answers. */
const pc_anyvalue_t *pc_kvs_get(const pc_kvs_t *kvs, pc_str_t key) {
  for (uint32_t i = 0; i < kvs->n; i++)
    if (kvs->v[i].has_value && pc_str_eq(kvs->v[i].key, key)) return &kvs->v[i].value;
  return NULL;
}
