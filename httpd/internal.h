/* internal.h - what the files of httpd/ share and nothing outside uses. */
#ifndef PC_HTTPD_INTERNAL_H
#define PC_HTTPD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- strict framing of request heads (head.c) --------------------------------
 * llhttp 8.1 (Debian's node-llhttp) takes line endings and line folding
 * more loosely than a proxy in front of profcol may: "X-A: b\r\n
 * Content-Length: 5" folds the Content-Length into X-A (CVE-2024-27982's
 * pattern), a bare LF ends a line, a bare CR passes in places. Two parsers
 * that disagree on where a request ends are a request-smuggling hole, so
 * the server runs this scanner over the bytes of each request head (the
 * request line and the header lines) and of each chunked body's trailer
 * section *before* llhttp sees them, and refuses what RFC 9112 lets a
 * server refuse:
 *   - a line that does not end in CRLF (a bare LF), and a CR not followed by
 *     LF (RFC 9112 2.2);
 *   - obs-fold: a header line that starts with a space or a tab (5.2), and
 *     whitespace between the request line and the first header (2.2);
 *   - a request line that does not end in " HTTP/1.0" or " HTTP/1.1" (an
 *     HTTP/0.9, RTSP or ICE request line, which llhttp also takes); "HTTP/x.y"
 *     of another version is 505.
 * Where the scanner accepts, every line ends in CRLF and the head ends at
 * the first empty line: exactly where llhttp ends it, so the scanner can
 * stop there and leave the body to llhttp. */
typedef struct {
  uint8_t state;
  uint8_t tail_n;   /* bytes of the request line seen, up to sizeof tail */
  char tail[9];     /* the last 9 bytes of the request line: " HTTP/1.1" */
  uint32_t line;    /* lines begun: 1 while in the request line */
} pc__head_scan_t;

/* Start a request head (at the first byte a client sends for a request:
 * empty lines before the request line are allowed, CRLF only), or, with
 * trailers, a trailer section (right after the last chunk's size line). */
void pc__head_scan_begin(pc__head_scan_t *s, bool trailers);
/* Scan p[0..n). Returns how many bytes belong to the head: n when it goes
 * on past them, fewer when it ended inside them (pc__head_scan_done then
 * holds). On a violation returns -1 with *status (400 or 505) and *why (a
 * static sentence for the answer). */
ssize_t pc__head_scan(pc__head_scan_t *s, const uint8_t *p, size_t n, int *status,
                      const char **why);
bool pc__head_scan_done(const pc__head_scan_t *s);

#endif
