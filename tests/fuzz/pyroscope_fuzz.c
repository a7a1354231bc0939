/* pyroscope_fuzz.c - libFuzzer target for the Pyroscope push API's
 * parsers (receiver/pyroscope.c): the /ingest query string (name with its
 * labels, times, sampleRate) and the multipart/form-data body.
 *
 * Input: the query, a newline, the Content-Type, a newline, the body.
 * Properties beyond "no crash": every failure says why; every view the
 * parsers return lies inside the bytes they were given (the decoded query
 * inside its scratch, the profile inside the body); labels have keys.
 * Seeds: corpus/pyroscope (a Go SDK request, a format=pprof one). */
#include <stdlib.h>
#include <string.h>

#include "../../receiver/pprofrx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(pc_str_t v, const uint8_t *p, size_t n) {
  return v.n == 0 || (v.p >= p && v.p + v.n <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl1 = memchr(data, '\n', size);
  if (!nl1) return 0;
  const uint8_t *nl2 = memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data));
  if (!nl2) return 0;
  pc_str_t q = {data, (size_t)(nl1 - data)};
  pc_str_t ct = {nl1 + 1, (size_t)(nl2 - nl1 - 1)};
  pc_str_t body = {nl2 + 1, size - (size_t)(nl2 + 1 - data)};
  /* The query: its scratch exactly as large as the query, as the server
   * sizes it. */
  uint8_t *scratch = malloc(q.n + 1);
  pc__pyro_query_t pq;
  char why[256] = "";
  int rc = pc__pyro_parse_query(q, scratch, 1, &pq, why, sizeof why);
  if (rc && !why[0]) abort();
  if (!rc) {
    if (!pq.app.n || !inside(pq.app, scratch, q.n)) abort();
    if (!inside(pq.spy_name, scratch, q.n) || !inside(pq.format, scratch, q.n)) abort();
    if (pq.n_labels > PC__PYRO_MAX_LABELS) abort();
    for (uint32_t i = 0; i < pq.n_labels; i++)
      if (!pq.keys[i].n || !inside(pq.keys[i], scratch, q.n) ||
          !inside(pq.values[i], scratch, q.n))
        abort();
    if (pq.from_ns < 0 || pq.until_ns < 0) abort();
  }
  free(scratch);
  /* The form. */
  pc_str_t profile = {0};
  why[0] = 0;
  rc = pc__pyro_multipart(ct, body, &profile, why, sizeof why);
  if (rc && !why[0]) abort();
  if (!rc && !inside(profile, body.p, body.n)) abort();
  return 0;
}
