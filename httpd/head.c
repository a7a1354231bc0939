/* head.c - strict line framing of request heads and trailer sections, run
 * before llhttp sees their bytes (internal.h says why: two parsers that
 * disagree on where a request ends are a request-smuggling hole).
 *
 * The one idea: a head is "request-line CRLF *(field-line CRLF) CRLF", and
 * every byte of it is one step of a small state machine that knows only
 * lines. It does not parse fields (llhttp does); it checks that lines end
 * in CRLF, that no line is folded, and that the request line names
 * HTTP/1.0 or HTTP/1.1. A trailer section is the same without the request
 * line. Cost: one pass over the head bytes, a few hundred per request. */
#include <string.h>

#include "internal.h"

enum {
  S_START,    /* before the request line: empty lines (CRLF) allowed */
  S_START_CR, /* ... a CR of such an empty line */
  S_LINE,     /* inside a line */
  S_CR,       /* a line's CR: LF must follow */
  S_BOL,      /* at the beginning of a line after the request line */
  S_END_CR,   /* the CR of the empty line that ends the head */
  S_DONE,
};

void pc__head_scan_begin(pc__head_scan_t *s, bool trailers) {
  *s = (pc__head_scan_t){.state = trailers ? S_BOL : S_START, .line = trailers ? 2 : 0};
}

bool pc__head_scan_done(const pc__head_scan_t *s) { return s->state == S_DONE; }

static const char BARE_LF[] =
    "a line of the request head ends in a bare LF; HTTP/1.1 lines end in CRLF (RFC 9112 2.2)";
static const char BARE_CR[] =
    "the request head holds a CR that is not followed by LF (RFC 9112 2.2)";

/* The request line is over: its last 9 bytes must be " HTTP/d.d". */
static int check_version(const pc__head_scan_t *s, const char **why) {
  const char *t = s->tail;
  bool shape = s->tail_n == sizeof s->tail && t[0] == ' ' && memcmp(t + 1, "HTTP/", 5) == 0 &&
               t[6] >= '0' && t[6] <= '9' && t[7] == '.' && t[8] >= '0' && t[8] <= '9';
  if (!shape) {
    *why = "the request line does not end in an HTTP version (method, target, HTTP/1.1)";
    return 400;
  }
  if (t[6] != '1' || (t[8] != '0' && t[8] != '1')) {
    *why = "only HTTP/1.0 and HTTP/1.1 are served here (HTTP/2 needs the gRPC listener)";
    return 505;
  }
  return 0;
}

/* Append the request line's bytes q[0..k) to the tail kept of it: the
 * last sizeof s->tail bytes, which may come in several reads. */
static void keep_tail(pc__head_scan_t *s, const uint8_t *q, size_t k) {
  size_t cap = sizeof s->tail;
  if (k >= cap) {
    memcpy(s->tail, q + k - cap, cap);
    s->tail_n = (uint8_t)cap;
    return;
  }
  size_t keep = s->tail_n + k > cap ? cap - k : s->tail_n;
  memmove(s->tail, s->tail + s->tail_n - keep, keep);
  memcpy(s->tail + keep, q, k);
  s->tail_n = (uint8_t)(keep + k);
}

ssize_t pc__head_scan(pc__head_scan_t *s, const uint8_t *p, size_t n, int *status,
                      const char **why) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    switch (s->state) {
    case S_START:
      if (b == '\r') {
        s->state = S_START_CR;
        break;
      }
      if (b == '\n') goto bare_lf;
      s->state = S_LINE;
      s->line = 1;
      continue; /* this byte starts the request line */
    case S_START_CR:
      if (b != '\n') goto bare_cr;
      s->state = S_START;
      break;
    case S_LINE: {
      /* Most bytes are here: jump to the line's CR (memchr is vectorised)
       * and check that no LF comes before it. */
      const uint8_t *cr = memchr(p + i, '\r', n - i);
      size_t end = cr ? (size_t)(cr - p) : n;
      if (memchr(p + i, '\n', end - i)) goto bare_lf;
      if (s->line == 1) keep_tail(s, p + i, end - i);
      if (!cr) return (ssize_t)n;
      i = end;
      if (s->line == 1 && (*status = check_version(s, why))) return -1;
      s->state = S_CR;
      break;
    }
    case S_CR:
      if (b != '\n') goto bare_cr;
      s->state = S_BOL;
      break;
    case S_BOL:
      if (b == '\r') {
        s->state = S_END_CR;
        break;
      }
      if (b == '\n') goto bare_lf;
      if (b == ' ' || b == '\t') {
        *status = 400;
        *why = s->line == 1
                   ? "whitespace between the request line and the first header (RFC 9112 2.2)"
                   : "obsolete line folding (a header line that starts with a space or tab) "
                     "is not accepted: send each header on one line (RFC 9112 5.2)";
        return -1;
      }
      s->state = S_LINE;
      s->line++;
      continue;
    case S_END_CR:
      if (b != '\n') goto bare_cr;
      s->state = S_DONE;
      return (ssize_t)(i + 1);
    case S_DONE:
      return (ssize_t)i;
    }
    i++;
  }
  return (ssize_t)n;
bare_lf:
  *status = 400;
  *why = BARE_LF;
  return -1;
bare_cr:
  *status = 400;
  *why = BARE_CR;
  return -1;
}
