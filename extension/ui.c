/* ui.c - the flame graph page's files (ui/assets.h), served under /ui/ on
 * the span_store's query API server when its ui.enabled is on.
 *
 * The one idea: the page is a few static files baked into the binary, so
 * serving is a table lookup. They are kept gzip'd (that is the page's
 * weight in the binary) and sent as they are to a client that accepts
 * gzip, as every browser does; one that does not (curl without
 * --compressed) gets them inflated, bounded by the file's known size.
 *
 * The files hold no data: every datum the page shows comes from the query
 * API, with the token the user gives the page. So the files are served
 * without the bearer token a browser cannot send by itself, and the page
 * asks for it when the API answers 401. Every answer carries a Content
 * Security Policy that lets the page run only its own scripts and talk only
 * to its own server: frame names come from profiled programs and must
 * never become code. */
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "../ui/assets.h"
#include "internal.h"

#define UI "/ui"

/* d3-flame-graph sets inline styles (and injects its stylesheet), hence
 * 'unsafe-inline' for styles only; the exports are downloaded from blob:
 * URLs the page makes. */
#define CSP                                                                             \
  "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' "    \
  "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "         \
  "form-action 'none'; frame-ancestors 'none'\r\n"

bool pc__ui_available(void) { return pc_ui_n_assets > 0; }

size_t pc__ui_bytes(void) { return pc_ui_bytes; }

bool pc__ui_path(pc_str_t path) {
  /* "/" too: a browser opened on the endpoint itself is sent to the page
   * rather than given the query API's 404. */
  if (path.n == 1 && path.p[0] == '/') return true;
  return path.n >= sizeof UI - 1 && memcmp(path.p, UI, sizeof UI - 1) == 0 &&
         (path.n == sizeof UI - 1 || path.p[sizeof UI - 1] == '/');
}

/* Whether the client takes gzip: listed with a q above 0, or not listed and
 * "*" is (RFC 9110 section 12.5.3). */
static bool accepts_gzip(const pc_http_request_t *r) {
  double q = pc_http_header_q(r, "accept-encoding", "gzip");
  if (q < 0) q = pc_http_header_q(r, "accept-encoding", "*");
  return q > 0;
}

static void plain(pc_http_response_t *resp, int status, const char *msg) {
  pc_buf_free(&resp->body);
  resp->status = status;
  resp->content_type = "text/plain; charset=utf-8";
  snprintf(resp->reason, sizeof resp->reason, "%s", msg);
  if (pc_buf_printf(&resp->body, "%s\n", msg)) pc_oom();
}

void pc__ui_answer(const pc_http_request_t *r, pc_http_response_t *resp) {
  if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
    plain(resp, 405, "the flame graph page takes GET only");
    resp->allow = "GET, HEAD";
    return;
  }
  if (r->path.n == sizeof UI - 1 || r->path.n == 1) { /* "/ui" (relative links need the
                                                         * slash) or "/" */
    resp->status = 308;
    resp->content_type = "text/plain; charset=utf-8";
    if (pc_buf_printf(&resp->headers, "Location: " UI "/\r\n") ||
        pc_buf_printf(&resp->body, "the flame graph page is at " UI "/\n"))
      pc_oom();
    return;
  }
  const pc_ui_asset_t *a = NULL;
  for (size_t i = 0; i < pc_ui_n_assets && !a; i++)
    if (strlen(pc_ui_assets[i].path) == r->path.n &&
        memcmp(pc_ui_assets[i].path, r->path.p, r->path.n) == 0)
      a = &pc_ui_assets[i];
  if (!a) {
    plain(resp, 404, "no such file of the flame graph page (it is at " UI "/)");
    return;
  }
  resp->status = 200;
  resp->content_type = a->content_type;
  /* The files change only with the binary: a browser asks again each time
   * (no-cache) and the page is small. */
  if (pc_buf_printf(&resp->headers, CSP "X-Content-Type-Options: nosniff\r\n"
                    "Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n"
                    "Vary: Accept-Encoding\r\n"))
    pc_oom();
  if (accepts_gzip(r)) {
    if (pc_buf_printf(&resp->headers, "Content-Encoding: gzip\r\n") ||
        pc_buf_append(&resp->body, a->gz, a->gz_n))
      pc_oom();
    return;
  }
  pc_err_t err = {0};
  if (pc_decompress(PC_ENC_GZIP, a->gz, a->gz_n, a->n, &resp->body, &err)) {
    /* Cannot happen with the build's own gzip output, but say so if it does. */
    pc_buf_free(&resp->headers);
    plain(resp, 500, "the embedded page is damaged");
  }
}
