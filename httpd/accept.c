/* accept.c - the q value a client gives one item of a negotiation header
 * (Accept: "application/json;q=0.9, text/html"; Accept-Encoding:
 * "gzip;q=0, br"), for handlers that pick an answer's format or encoding
 * (the query API, the flame graph page). RFC 9110 section 12.4.2: an item
 * without q has q=1, q=0 means "not acceptable". */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

static bool ows(uint8_t c) { return c == ' ' || c == '\t'; }

/* The q parameter among an item's ";"-separated parameters p[0..n), 1 when
 * absent; a malformed one reads as 0 (refused rather than guessed). */
static double item_q(const uint8_t *p, size_t n) {
  const uint8_t *end = p + n;
  while (p < end) {
    const uint8_t *semi = memchr(p, ';', (size_t)(end - p));
    const uint8_t *e = semi ? semi : end;
    while (p < e && ows(*p)) p++;
    if (e - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      char num[16];
      size_t k = (size_t)(e - p - 2);
      while (k && ows(p[2 + k - 1])) k--;
      if (!k || k >= sizeof num) return 0;
      memcpy(num, p + 2, k);
      num[k] = 0;
      char *stop;
      double q = strtod(num, &stop);
      return *stop || q < 0 || q > 1 ? 0 : q;
    }
    p = e + 1;
  }
  return 1;
}

double pc_http_header_q(const pc_http_request_t *r, const char *header, const char *token) {
  size_t hn = strlen(header), tn = strlen(token);
  for (size_t i = 0; i < r->headers.n; i++) {
    const pc_md_pair_t *h = &r->headers.v[i];
    if (h->key.n != hn || strncasecmp((const char *)h->key.p, header, hn)) continue;
    const uint8_t *p = h->value.p, *end = p + h->value.n;
    while (p < end) {
      const uint8_t *comma = memchr(p, ',', (size_t)(end - p));
      const uint8_t *e = comma ? comma : end;
      while (p < e && ows(*p)) p++;
      const uint8_t *semi = p < e ? memchr(p, ';', (size_t)(e - p)) : NULL;
      const uint8_t *te = semi ? semi : e;
      while (te > p && ows(te[-1])) te--;
      if ((size_t)(te - p) == tn && strncasecmp((const char *)p, token, tn) == 0)
        return semi ? item_q(semi + 1, (size_t)(e - semi - 1)) : 1;
      p = e + 1;
    }
  }
  return -1;
}
