/* http_server.c - a small, defensive HTTP/1.1 server on libuv + llhttp
 * (httpd.h), enough for OTLP/HTTP (POST bodies in, one short answer out)
 * and for the health and metrics endpoints (GET in, a short page out).
 *
 * The one idea: a connection is a state machine that holds at most one
 * request at a time.
 *
 *   IDLE -> HEADERS -> BODY -> BUSY (handler) -> WRITING -> IDLE ...
 *                                                   \-> LINGER -> closed
 *
 * When llhttp completes a message the callback pauses the parser and reading
 * stops; bytes already read (pipelined requests) wait in the read buffer
 * until the answer is written, then parsing resumes. So answers go out in
 * request order, and a slow pipeline slows the client down through TCP
 * instead of growing a queue here.
 *
 * Limits, all from pc_http_limits_t: header bytes (431), body bytes as sent
 * (413 from Content-Length before reading, or as soon as a chunked body
 * passes it), one timer per connection whose meaning follows the state
 * (idle, header deadline, body minimum rate, write deadline, linger), and a
 * maximum number of connections (beyond it, accepted and closed at once).
 *
 * A body with a Content-Length is read once: the kernel copies it from the
 * socket (or OpenSSL decrypts it) straight into the body buffer, sized from
 * Content-Length up to FIRST_BODY_MAX and doubled past it, and llhttp then
 * reads it in place (conn_direct_room). Only the bytes that came in one
 * read with the head pass through rbuf. Large body buffers are kept for
 * the next requests, a few per server (spare_bodies), not per connection.
 *
 * A connection that ends with an answer (error, Connection: close, HTTP/1.0)
 * shuts down its write side and reads and drops input for a short while
 * before closing, so the client sees the answer rather than a reset.
 *
 * Framing is strict, so that no proxy in front reads a request's end
 * elsewhere than here (request smuggling): head.c checks the lines of each
 * head and trailer section before llhttp (built in its strict mode) reads
 * them, and on_headers_complete wants exactly one Host (HTTP/1.1) and no
 * Transfer-Encoding in HTTP/1.0. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "../core/log.h"
#include "httpd.h"
#include "internal.h"

#define CNT_ADD(c, f, v) atomic_fetch_add_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)
#define CNT_SUB(c, f, v) atomic_fetch_sub_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)

#define RBUF_SIZE (64 * 1024)
/* A body buffer this small is kept for the connection's next request (idle
 * connections hold little). The first buffer is sized from Content-Length,
 * up to FIRST_BODY_MAX: one allocation for typical requests, and a client
 * that announces much and sends little gets little. Past it the buffer
 * doubles, never beyond Content-Length. */
#define KEEP_BODY_CAP (16 * 1024)
#define FIRST_BODY_CAP (16 * 1024)
#define FIRST_BODY_MAX (256 * 1024)
/* A larger first buffer is rounded up to this (within FIRST_BODY_MAX), so
 * that a spare one fits the next request of about the same size. */
#define FIRST_BODY_ROUND (64 * 1024)
/* Larger body buffers are freed, not kept as the server's spares; and the
 * spares hold at most SPARE_BODIES_MAX bytes (enough for a few dozen
 * connections sending 200 KB each at once: with fewer spares than bodies
 * in flight, every fresh buffer is a new mapping whose pages all fault). */
#define SPARE_BODY_MAX (1024 * 1024)
#define SPARE_BODIES_MAX (4 * 1024 * 1024)
#define HVAL_MAX 256

typedef enum {
  CONN_IDLE,    /* between requests, or before the first one */
  CONN_HEADERS, /* request line and headers */
  CONN_BODY,    /* the body (kept, or dropped when the request was refused) */
  CONN_BUSY,    /* the handler holds the request */
  CONN_WRITING, /* the answer is being written */
  CONN_LINGER,  /* last answer sent, write side shut: dropping input */
  CONN_CLOSING, /* uv_close called */
} conn_state_t;

typedef enum {
  HDR_NONE,
  HDR_CONTENT_TYPE,
  HDR_CONTENT_ENCODING,
  HDR_EXPECT,
  HDR_ORIGIN,
  HDR_ACR_METHOD,
  HDR_ACR_HEADERS,
  HDR_AUTH, /* the handler's auth_header, into auth */
} hdr_t;

typedef struct {
  char v[HVAL_MAX];
  size_t n;
} hval_t;

struct pc_http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t continue_req;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  llhttp_t parser;
  pc_http_server_t *srv;
  pc_tls_t *tls; /* the server's TLS: this connection's session */
  pc_http_conn_t *prev, *next;
  conn_state_t state;
  int open_handles;    /* tcp and timer: freed when both are closed */
  bool reading;
  bool direct;         /* the read being made goes into body, not rbuf */
  bool close_after;    /* the answer being written is the last one */
  bool close_on_answer; /* asked to close while BUSY */
  uint32_t served;     /* answers written on this connection */

  /* Bytes [roff, rlen) of rbuf are read but not parsed yet. */
  uint8_t *rbuf;
  size_t roff, rlen;

  /* The request being parsed. */
  pc__head_scan_t scan; /* strict line framing of its head (head.c) */
  bool scan_on;         /* the bytes ahead belong to a head or trailers */
  bool at_trailers;     /* llhttp paused where the trailer section starts */
  uint8_t n_host;       /* Host header lines, up to 2 */
  pc_buf_t url;
  char hname[32];
  size_t hname_n; /* > sizeof hname: a name too long to be one we want */
  hdr_t hcur;
  bool in_trailers;
  hval_t ctype, cenc, expect;
  hval_t origin, acr_method, acr_headers; /* for the handler's CORS answers */
  pc_buf_t auth; /* the handler's auth_header (tokens can be long: a buffer of its own) */
  uint8_t auth_n; /* its lines, up to 2 */
  /* keep_headers: names and values in hraw, and where each one is (offsets,
   * as hraw may move while it grows); views are made once, in conn_request. */
  pc_buf_t hraw;
  struct hpos { size_t k, kn, v, vn; } *hpos;
  pc_md_pair_t *hviews;
  size_t n_h, cap_h;
  bool hname_open; /* the last callback was a name piece */
  uint64_t header_bytes;
  bool has_length;
  uint64_t content_length;
  pc_buf_t body;
  uint64_t discarded;
  uint64_t window_bytes; /* body bytes in the current rate window */
  uint64_t deadline_ms;  /* uv_now at which request_timeout ends this request; 0: none */
  bool discard;          /* refused at the headers: drop the body, then answer */
  bool expect_continue;
  bool head_method; /* HEAD: the answer goes without its body */
  bool keep_alive;
  bool msg_done;
  bool abort;               /* a callback prepared reply and stopped the parser */
  pc_http_response_t reply; /* the answer prepared at the headers (discard, abort) */
  pc_http_request_t req;    /* what the handler holds while BUSY */

  /* The answer being written. */
  char head[512];
  pc_buf_t out_headers; /* the handler's extra header lines, CRLF ended */
  pc_buf_t out;
};

static const llhttp_settings_t parser_settings;

/* ---- small helpers -------------------------------------------------------- */

const char *pc_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 204: return "No Content";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

/* The config key that sets max_body, for 413 messages. */
static const char *body_key(const pc_http_server_t *srv) {
  return srv->limits.max_body_key ? srv->limits.max_body_key : "max_request_body_size";
}

static pc_str_t str_of(const void *p, size_t n) {
  return (pc_str_t){n ? p : NULL, n};
}

static bool conn_parsing(const pc_http_conn_t *c) {
  return c->state == CONN_IDLE || c->state == CONN_HEADERS || c->state == CONN_BODY;
}

void pc_http_conn_peer(pc_http_conn_t *c, char *buf, size_t n) { pc_http_peer(&c->tcp, buf, n); }

pc_str_t pc_http_conn_peer_ip(pc_http_conn_t *c, char *buf, size_t n) {
  return pc_http_peer_ip(&c->tcp, buf, n);
}


/* The request as parsed so far (complete once the message is). */
static void conn_request(pc_http_conn_t *c, pc_http_request_t *r) {
  pc_str_t url = str_of(c->url.p, c->url.n);
  pc_str_t path = url;
  const uint8_t *q = url.n ? memchr(url.p, '?', url.n) : NULL;
  if (q) path.n = (size_t)(q - url.p);
  *r = (pc_http_request_t){
      .method = llhttp_get_method(&c->parser),
      .http_major = llhttp_get_http_major(&c->parser),
      .http_minor = llhttp_get_http_minor(&c->parser),
      .url = url,
      .path = path,
      .content_type = {(const uint8_t *)c->ctype.v, c->ctype.n}, /* never NULL */
      .content_encoding = {(const uint8_t *)c->cenc.v, c->cenc.n},
      .origin = {(const uint8_t *)c->origin.v, c->origin.n},
      .ac_request_method = {(const uint8_t *)c->acr_method.v, c->acr_method.n},
      .ac_request_headers = {(const uint8_t *)c->acr_headers.v, c->acr_headers.n},
      .auth = str_of(c->auth.p, c->auth.n),
      .auth_n = c->auth_n,
      .has_length = c->has_length,
      .content_length = c->content_length,
      .body = c->body.n ? c->body.p : NULL,
      .body_n = c->body.n,
  };
  /* hraw is still NULL when a header began but none of its bytes came. */
  const uint8_t *raw = c->hraw.p ? c->hraw.p : (const uint8_t *)"";
  for (size_t i = 0; i < c->n_h; i++) {
    const struct hpos *h = &c->hpos[i];
    c->hviews[i] = (pc_md_pair_t){str_of(raw + h->k, h->kn), str_of(raw + h->v, h->vn)};
  }
  r->headers = (pc_metadata_t){c->n_h ? c->hviews : NULL, c->n_h};
}

/* Body buffers count against limits.max_buffered (and the budget) while
 * they exist. */
static void body_buf_free(pc_http_server_t *srv, pc_buf_t *b) {
  srv->buffered -= b->cap;
  pc_budget_give(srv->limits.budget, b->cap);
  pc_buf_free(b);
}

static void spare_set_held(pc_http_server_t *srv) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < srv->n_spare_bodies; i++) n += srv->spare_bodies[i].cap;
  atomic_store_explicit(&srv->spare_held, n, memory_order_relaxed);
}

static void spares_free(pc_http_server_t *srv) {
  while (srv->n_spare_bodies) body_buf_free(srv, &srv->spare_bodies[--srv->n_spare_bodies]);
  spare_set_held(srv);
}

void pc_http_server_drop_spares(pc_http_server_t *srv) { spares_free(srv); }

uint64_t pc_http_server_spare_held(pc_http_server_t *srv) {
  return atomic_load_explicit(&srv->spare_held, memory_order_relaxed);
}

size_t pc_http_conn_body_cap(const pc_http_conn_t *c) { return c->body.cap; }

void pc_http_conn_take_body(pc_http_conn_t *c, pc_buf_t *out) {
  pc_http_server_t *srv = c->srv;
  *out = c->body;
  c->body = (pc_buf_t){0};
  srv->buffered -= out->cap;
  pc_budget_give(srv->limits.budget, out->cap);
}

/* The smallest spare of at least cap bytes into b (empty); false: none. */
static bool spare_take(pc_http_server_t *srv, size_t cap, pc_buf_t *b) {
  uint32_t best = srv->n_spare_bodies;
  for (uint32_t i = 0; i < srv->n_spare_bodies; i++)
    if (srv->spare_bodies[i].cap >= cap &&
        (best == srv->n_spare_bodies || srv->spare_bodies[i].cap < srv->spare_bodies[best].cap))
      best = i;
  if (best == srv->n_spare_bodies) return false;
  *b = srv->spare_bodies[best];
  b->n = 0;
  srv->spare_bodies[best] = srv->spare_bodies[--srv->n_spare_bodies];
  spare_set_held(srv);
  return true;
}

/* The request is over: keep its body buffer for the next one (the
 * connection a small one, the server a few large ones; a full set trades
 * smaller ones for a larger one), or free it. */
static void body_free(pc_http_conn_t *c) {
  pc_http_server_t *srv = c->srv;
  pc_buf_t *b = &c->body;
  if (b->cap > KEEP_BODY_CAP && b->cap <= SPARE_BODY_MAX && !srv->closing) {
    uint64_t held = atomic_load_explicit(&srv->spare_held, memory_order_relaxed);
    while (srv->n_spare_bodies == PC_HTTP_SPARE_BODIES || held + b->cap > SPARE_BODIES_MAX) {
      uint32_t small = 0;
      for (uint32_t k = 1; k < srv->n_spare_bodies; k++)
        if (srv->spare_bodies[k].cap < srv->spare_bodies[small].cap) small = k;
      if (srv->spare_bodies[small].cap >= b->cap) break; /* keep the larger ones */
      held -= srv->spare_bodies[small].cap;
      body_buf_free(srv, &srv->spare_bodies[small]);
      srv->spare_bodies[small] = srv->spare_bodies[--srv->n_spare_bodies];
    }
    if (srv->n_spare_bodies < PC_HTTP_SPARE_BODIES && held + b->cap <= SPARE_BODIES_MAX) {
      srv->spare_bodies[srv->n_spare_bodies++] = *b;
      *b = (pc_buf_t){0};
      spare_set_held(srv);
      return;
    }
    spare_set_held(srv);
  }
  body_buf_free(srv, b);
}

/* Forget the request just answered; keep small buffers for the next one. */
static void conn_request_reset(pc_http_conn_t *c) {
  pc__head_scan_begin(&c->scan, false);
  c->scan_on = true;
  c->at_trailers = false;
  c->n_host = 0;
  c->url.n = 0;
  c->hname_n = 0;
  c->hcur = HDR_NONE;
  c->in_trailers = false;
  c->ctype.n = c->cenc.n = c->expect.n = 0;
  c->origin.n = c->acr_method.n = c->acr_headers.n = 0;
  c->auth.n = 0;
  c->auth_n = 0;
  c->hraw.n = c->n_h = 0;
  c->hname_open = false;
  c->header_bytes = 0;
  c->has_length = false;
  c->content_length = 0;
  if (c->body.cap > KEEP_BODY_CAP) body_free(c);
  c->body.n = 0;
  c->discarded = c->window_bytes = 0;
  c->discard = c->expect_continue = c->head_method = c->msg_done = c->abort = false;
  pc_buf_free(&c->reply.body);
  pc_buf_free(&c->reply.headers);
  c->reply = (pc_http_response_t){0};
}

static void conn_timer(pc_http_conn_t *c, uint64_t ms);
static void conn_read_timer(pc_http_conn_t *c, uint64_t ms);
static void conn_close(pc_http_conn_t *c);
static void conn_send(pc_http_conn_t *c, pc_http_response_t *resp);
static void conn_feed(pc_http_conn_t *c);

/* An answer for an error found here, with the handler's body format. */
static void conn_error_reply(pc_http_conn_t *c, int status, pc_http_response_t *resp,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void conn_error_reply(pc_http_conn_t *c, int status, pc_http_response_t *resp,
                             const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_http_request_t r;
  conn_request(c, &r);
  *resp = (pc_http_response_t){.status = status};
  c->srv->handler.error_body(c->srv->handler.ud, &r, msg, resp);
  resp->status = status;
  snprintf(resp->reason, sizeof resp->reason, "%s", msg);
}

/* From a parser callback: answer with status and close; the callback then
 * returns an error so llhttp stops. The answer replaces one the handler may
 * have prepared at the headers (a 401 being discarded to, say, a trailer
 * over the header budget): free its body and header lines, or they leak. */
#define conn_abort(c, status, ...)                                 \
  do {                                                             \
    pc_buf_free(&(c)->reply.body);                                 \
    pc_buf_free(&(c)->reply.headers);                              \
    conn_error_reply((c), (status), &(c)->reply, __VA_ARGS__);     \
    (c)->reply.close = true;                                       \
    (c)->abort = true;                                             \
  } while (0)

/* ---- parser callbacks ------------------------------------------------------- */

static pc_http_conn_t *conn_of(llhttp_t *p) { return container_of(p, pc_http_conn_t, parser); }

static int header_budget(pc_http_conn_t *c, size_t n) {
  c->header_bytes += n;
  if (c->header_bytes <= c->srv->limits.max_header_bytes) return 0;
  conn_abort(c, 431, "request line and headers exceed %llu bytes",
             (unsigned long long)c->srv->limits.max_header_bytes);
  return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
  pc_http_conn_t *c = conn_of(p);
  const pc_http_limits_t *lim = &c->srv->limits;
  c->state = CONN_HEADERS;
  c->keep_alive = false;
  c->deadline_ms = lim->request_timeout_ms ? uv_now(c->srv->loop) + lim->request_timeout_ms : 0;
  conn_read_timer(c, lim->header_timeout_ms); /* a deadline from the first byte */
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  pc_http_conn_t *c = conn_of(p);
  if (header_budget(c, n)) return HPE_USER;
  if (pc_buf_append(&c->url, at, n)) {
    conn_abort(c, 503, "out of memory reading the request line");
    return HPE_USER;
  }
  return 0;
}

/* keep_headers: a new header starts at the end of hraw. The header budget
 * bounds hraw, so only malloc can fail here. */
static void hraw_open(pc_http_conn_t *c) {
  if (c->n_h == c->cap_h) {
    c->cap_h = c->cap_h ? 2 * c->cap_h : 16;
    c->hpos = pc_xrealloc(c->hpos, c->cap_h * sizeof *c->hpos);
    c->hviews = pc_xrealloc(c->hviews, c->cap_h * sizeof *c->hviews);
  }
  c->hpos[c->n_h++] = (struct hpos){.k = c->hraw.n, .v = c->hraw.n};
}

static int hraw_add(pc_http_conn_t *c, const char *at, size_t n, bool name) {
  if (pc_buf_append(&c->hraw, at, n)) {
    conn_abort(c, 503, "out of memory reading the headers");
    return HPE_USER;
  }
  struct hpos *h = &c->hpos[c->n_h - 1];
  if (name) {
    h->kn += n;
    h->v = c->hraw.n;
  } else {
    h->vn += n;
  }
  return 0;
}

static bool keeps_headers(const pc_http_conn_t *c) {
  return c->srv->handler.keep_headers && !c->in_trailers;
}

/* RFC 9110 field names are tokens. llhttp, built without its strict mode,
 * lets some other bytes through (a space: "Bad Header: x"); a Go server, the
 * Collector's, answers those 400, and so does profcol. */
bool pc_http_is_token(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          (ch && strchr("!#$%&'*+-.^_`|~", ch))))
      return false;
  }
  return true;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  pc_http_conn_t *c = conn_of(p);
  if (header_budget(c, n)) return HPE_USER;
  if (!pc_http_is_token(at, n)) {
    conn_abort(c, 400, "a header name holds a character HTTP does not allow in one");
    return HPE_USER;
  }
  if (c->hname_n + n <= sizeof c->hname) memcpy(c->hname + c->hname_n, at, n);
  c->hname_n += n;
  if (!keeps_headers(c)) return 0;
  if (!c->hname_open) hraw_open(c);
  c->hname_open = true;
  return hraw_add(c, at, n, true);
}

static hval_t *conn_hval(pc_http_conn_t *c, hdr_t h) {
  switch (h) {
  case HDR_CONTENT_TYPE: return &c->ctype;
  case HDR_CONTENT_ENCODING: return &c->cenc;
  case HDR_EXPECT: return &c->expect;
  case HDR_ORIGIN: return &c->origin;
  case HDR_ACR_METHOD: return &c->acr_method;
  case HDR_ACR_HEADERS: return &c->acr_headers;
  case HDR_AUTH:
  case HDR_NONE: break;
  }
  return NULL;
}

static void hval_append(hval_t *h, const char *at, size_t n) {
  /* Too long to be a value we accept: keep it too long (and thus refused)
   * rather than truncated into something valid. */
  if (n > HVAL_MAX - h->n) {
    h->n = HVAL_MAX;
    return;
  }
  memcpy(h->v + h->n, at, n);
  h->n += n;
}

static int auth_oom(pc_http_conn_t *c) {
  conn_abort(c, 503, "out of memory reading the request headers");
  return HPE_USER;
}

static int on_header_field_complete(llhttp_t *p) {
  pc_http_conn_t *c = conn_of(p);
  static const struct {
    const char *name;
    hdr_t h;
  } wanted[] = {{"content-type", HDR_CONTENT_TYPE},
                {"content-encoding", HDR_CONTENT_ENCODING},
                {"expect", HDR_EXPECT},
                {"origin", HDR_ORIGIN},
                {"access-control-request-method", HDR_ACR_METHOD},
                {"access-control-request-headers", HDR_ACR_HEADERS}};
  c->hcur = HDR_NONE;
  c->hname_open = false; /* the next name piece starts a new header */
  if (c->in_trailers) {
    /* Trailers cannot change how the body was read; one that tries is a
     * message no two parsers read alike (RFC 9110 6.5.1). */
    if ((c->hname_n == 14 && strncasecmp(c->hname, "content-length", 14) == 0) ||
        (c->hname_n == 17 && strncasecmp(c->hname, "transfer-encoding", 17) == 0)) {
      conn_abort(c, 400, "a trailer field names the message framing (%.*s)",
                 (int)c->hname_n, c->hname);
      return HPE_USER;
    }
    return 0;
  }
  if (c->hname_n == 4 && strncasecmp(c->hname, "host", 4) == 0 && c->n_host < 2) c->n_host++;
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
    if (c->hname_n == strlen(wanted[i].name) &&
        strncasecmp(c->hname, wanted[i].name, c->hname_n) == 0)
      c->hcur = wanted[i].h;
  const char *auth = c->srv->handler.auth_header;
  if (auth && c->hname_n == strlen(auth) && c->hname_n <= sizeof c->hname &&
      strncasecmp(c->hname, auth, c->hname_n) == 0) {
    c->hcur = HDR_AUTH;
    if (c->auth_n < 2) c->auth_n++;
    if (c->auth.n && pc_buf_append(&c->auth, ", ", 2)) return auth_oom(c);
  }
  hval_t *v = conn_hval(c, c->hcur);
  if (v && v->n) hval_append(v, ", ", 2); /* repeated header: a list */
  return 0;
}

/* llhttp lets a line such as "://Host: x" through as a header with an
 * empty name; HTTP has no such thing, and include_metadata would hand it on
 * (or, kept by nobody, its value would join the previous header's). */
static int refuse_empty_name(pc_http_conn_t *c) {
  conn_abort(c, 400, "a header line has an empty name");
  return HPE_USER;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  pc_http_conn_t *c = conn_of(p);
  if (c->hname_n == 0) return refuse_empty_name(c);
  if (header_budget(c, n)) return HPE_USER;
  hval_t *v = conn_hval(c, c->hcur);
  if (v) hval_append(v, at, n);
  if (c->hcur == HDR_AUTH && pc_buf_append(&c->auth, at, n)) return auth_oom(c);
  return keeps_headers(c) && c->n_h ? hraw_add(c, at, n, false) : 0;
}

static int on_header_value_complete(llhttp_t *p) {
  pc_http_conn_t *c = conn_of(p);
  if (c->hname_n == 0) return refuse_empty_name(c);
  c->hname_n = 0;
  c->hcur = HDR_NONE;
  return 0;
}

static int on_chunk_extension(llhttp_t *p, const char *at, size_t n) {
  (void)at;
  return header_budget(conn_of(p), n);
}

static bool hval_is(const hval_t *h, const char *want) {
  size_t a = 0, b = h->n;
  while (a < b && (h->v[a] == ' ' || h->v[a] == '\t')) a++;
  while (b > a && (h->v[b - 1] == ' ' || h->v[b - 1] == '\t')) b--;
  return b - a == strlen(want) && strncasecmp(h->v + a, want, b - a) == 0;
}

/* uv_write, through the TLS session when there is one. */
static int conn_write(pc_http_conn_t *c, uv_write_t *req, const uv_buf_t bufs[], unsigned n,
                      uv_write_cb cb) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  return c->tls ? pc_tls_write(c->tls, req, s, bufs, n, cb) : uv_write(req, s, bufs, n, cb);
}

static void conn_send_continue(pc_http_conn_t *c) {
  static char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  uv_buf_t b = uv_buf_init(line, sizeof line - 1);
  /* Writes complete in order, so this one is done before the next request's
   * 100 Continue can need continue_req again. */
  if (conn_write(c, &c->continue_req, &b, 1, NULL) != 0)
    conn_abort(c, 500, "cannot write 100 Continue");
}

/* Whether the budget has room for a body of n bytes, once the spare body
 * buffers are freed if that is what it takes. */
static bool body_fits(pc_http_server_t *srv, uint64_t n) {
  if (pc_budget_fits(srv->limits.budget, n)) return true;
  if (!srv->n_spare_bodies) return false;
  spares_free(srv);
  return pc_budget_fits(srv->limits.budget, n);
}

/* A body that the request memory budget has no room for: 503, retryable,
 * counted in the budget. */
static void budget_refused(pc_http_conn_t *c, uint64_t n) {
  pc_budget_t *b = c->srv->limits.budget;
  pc_budget_refused(b, n, c->srv->id);
  conn_abort(c, 503, "%s is busy: request data in memory would pass %s (%llu of %llu bytes "
             "held); retry later", c->srv->id, b->key ? b->key : "its limit",
             (unsigned long long)pc_budget_held(b), (unsigned long long)pc_budget_limit(b));
  c->reply.retry_after_s = 1;
}

static int on_headers_complete(llhttp_t *p) {
  pc_http_conn_t *c = conn_of(p);
  const pc_http_limits_t *lim = &c->srv->limits;
  c->in_trailers = true;
  c->head_method = p->method == HTTP_HEAD;
  c->has_length = (p->flags & F_CONTENT_LENGTH) != 0;
  c->content_length = c->has_length ? p->content_length : 0;
  /* An Upgrade request is answered as plain HTTP/1.1, then closed. */
  c->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p) && !c->srv->closing &&
                  !c->srv->limits.no_keep_alive;
  bool http11 = p->http_major == 1 && p->http_minor >= 1;
  /* RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without
   * Host, and to any request with more than one. */
  if (c->n_host > 1 || (http11 && c->n_host == 0)) {
    conn_abort(c, 400, c->n_host ? "more than one Host header (RFC 9112 3.2)"
                                 : "an HTTP/1.1 request must carry a Host header (RFC 9112 3.2)");
    return -1;
  }
  /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means faulty
   * framing (a 1.0 hop in front may have read it by Content-Length). */
  if (!http11 && (p->flags & F_TRANSFER_ENCODING)) {
    conn_abort(c, 400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)");
    return -1;
  }
  if (c->expect.n && http11) { /* HTTP/1.0 servers ignore Expect (RFC 9110) */
    if (!hval_is(&c->expect, "100-continue")) {
      conn_abort(c, 417, "unsupported Expect header; only 100-continue is supported");
      return -1;
    }
    c->expect_continue = true;
  }
  pc_http_request_t r;
  conn_request(c, &r);
  pc_http_response_t resp = {0};
  int status = c->srv->handler.on_headers(c->srv->handler.ud, &r, &resp);
  bool too_big = c->has_length && c->content_length > lim->max_body;
  if (status) {
    resp.status = status;
    c->reply = resp;
    if (c->expect_continue || too_big) { /* do not invite nor read the body */
      c->reply.close = true;
      c->abort = true;
      return -1;
    }
    c->discard = true;
  } else if (too_big) {
    conn_abort(c, 413, "request body of %llu bytes exceeds %s (%llu bytes)",
               (unsigned long long)c->content_length, body_key(c->srv),
               (unsigned long long)lim->max_body);
    return -1;
  } else if (c->has_length && !body_fits(c->srv, c->content_length)) {
    budget_refused(c, c->content_length); /* before a byte of it is read */
    return -1;
  } else if (c->expect_continue) {
    conn_send_continue(c);
    if (c->abort) return -1;
  }
  if ((p->flags & F_CHUNKED) || c->content_length > 0) {
    c->state = CONN_BODY;
    c->window_bytes = 0;
    conn_read_timer(c, lim->body_timeout_ms);
  }
  return 0;
}

/* Count grow more bytes of body buffers in max_buffered and the budget,
 * making room by freeing the spares when either is short. */
static int body_take(pc_http_server_t *srv, size_t grow) {
  for (;;) {
    bool fits = srv->buffered + grow <= srv->limits.max_buffered;
    if (fits && pc_budget_take(srv->limits.budget, grow)) return 0;
    if (!srv->n_spare_bodies) return fits ? PC_ELIMIT : PC_EAGAIN;
    spares_free(srv);
  }
}

/* Grow the body buffer for n more bytes, never past what Content-Length
 * announced (or the limit), but for rounding a first buffer up for reuse;
 * within the server's max_buffered (PC_EAGAIN beyond it) and the process's
 * request memory budget (PC_ELIMIT). A first buffer is a spare one when
 * one is large enough: the server's, or one of core's spares of that
 * size. */
static int body_reserve(pc_http_conn_t *c, size_t n) {
  pc_buf_t *b = &c->body;
  if (b->cap - b->n >= n) return 0;
  size_t cap = b->cap ? b->cap * 2 : FIRST_BODY_CAP;
  if (!b->cap && c->has_length && c->content_length > cap)
    cap = c->content_length < FIRST_BODY_MAX ? (size_t)c->content_length : FIRST_BODY_MAX;
  if (cap < b->n + n) cap = b->n + n;
  uint64_t most = c->has_length ? c->content_length : c->srv->limits.max_body;
  if (cap > most) cap = (size_t)most;
  pc_http_server_t *srv = c->srv;
  size_t want = cap;
  if (!b->cap && cap > KEEP_BODY_CAP) { /* a larger first buffer: a spare one, if any */
    if (spare_take(srv, cap, b)) return 0;
    size_t round = (cap + FIRST_BODY_ROUND - 1) / FIRST_BODY_ROUND * FIRST_BODY_ROUND;
    if (cap < FIRST_BODY_MAX) want = round < FIRST_BODY_MAX ? round : FIRST_BODY_MAX;
  }
  int rc = body_take(srv, want - b->cap);
  if (rc && want > cap) rc = body_take(srv, (want = cap) - b->cap); /* no room to round */
  if (rc) return rc;
  cap = want;
  pc_buf_t sp; /* a first buffer: one the span store's window let go of, if any (core.h) */
  if (!b->p && cap > KEEP_BODY_CAP && pc_spare_take(cap, cap, &sp)) {
    srv->buffered += cap;
    b->p = sp.p;
    b->cap = cap;
    return 0;
  }
  uint8_t *q = realloc(b->p, cap);
  if (!q) {
    pc_budget_give(srv->limits.budget, cap - b->cap);
    return PC_ENOMEM;
  }
  srv->buffered += cap - b->cap;
  b->p = q;
  b->cap = cap;
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  pc_http_conn_t *c = conn_of(p);
  uint64_t max = c->srv->limits.max_body;
  c->window_bytes += n;
  if (c->discard) {
    c->discarded += n;
    if (c->discarded <= max) return 0;
    c->reply.close = true; /* too much to drop: answer now and close */
    c->abort = true;
    return HPE_USER;
  }
  if (n > max - c->body.n) {
    conn_abort(c, 413, "request body exceeds %s (%llu bytes)", body_key(c->srv),
               (unsigned long long)max);
    return HPE_USER;
  }
  /* Read straight into the body buffer (conn_on_alloc): the bytes are in
   * place already, in the room reserved for them. */
  bool in_place = c->body.p && (const uint8_t *)at == c->body.p + c->body.n &&
                  n <= c->body.cap - c->body.n;
  int rc = in_place ? 0 : body_reserve(c, n);
  if (rc == PC_EAGAIN) {
    /* Refused up front rather than risking the process: retryable. */
    conn_abort(c, 503, "%s is busy: request bodies in memory would pass "
               "%s (%llu bytes); retry later", c->srv->id,
               c->srv->limits.max_buffered_key ? c->srv->limits.max_buffered_key
                                               : "max_buffered_bytes",
               (unsigned long long)c->srv->limits.max_buffered);
    c->reply.retry_after_s = 1;
    return HPE_USER;
  }
  if (rc == PC_ELIMIT) {
    budget_refused(c, n);
    return HPE_USER;
  }
  if (rc) {
    conn_abort(c, 503, "out of memory for a request body of %zu bytes", c->body.n + n);
    c->reply.retry_after_s = 1;
    return HPE_USER;
  }
  if (in_place)
    CNT_ADD(c->srv->counters, body_bytes_in_place, n);
  else
    memcpy(c->body.p + c->body.n, at, n);
  c->body.n += n;
  return 0;
}

/* The last chunk's size line is read: the trailer section follows. Pause,
 * so that conn_feed scans its lines (head.c) before llhttp reads them. */
static int on_chunk_header(llhttp_t *p) {
  if (p->content_length != 0) return 0;
  conn_of(p)->at_trailers = true;
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p) {
  conn_of(p)->msg_done = true;
  return HPE_PAUSED; /* one request at a time: resumed once it is answered */
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension,
    .on_chunk_header = on_chunk_header,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
};

/* ---- connection life ----------------------------------------------------------- */

static void conn_on_timer(uv_timer_t *t);

static void conn_timer(pc_http_conn_t *c, uint64_t ms) {
  if (ms)
    uv_timer_start(&c->timer, conn_on_timer, ms, 0);
  else
    uv_timer_stop(&c->timer);
}

/* The timer of a phase of reading a request (headers, a body window): ms,
 * or sooner when request_timeout ends the whole request first. */
static void conn_read_timer(pc_http_conn_t *c, uint64_t ms) {
  if (c->deadline_ms) {
    uint64_t now = uv_now(c->srv->loop);
    uint64_t left = c->deadline_ms > now ? c->deadline_ms - now : 1;
    if (!ms || left < ms) ms = left;
  }
  conn_timer(c, ms);
}

static bool conn_past_deadline(const pc_http_conn_t *c) {
  return c->deadline_ms && uv_now(c->srv->loop) >= c->deadline_ms;
}

/* How many bytes of a body with a Content-Length may be read (or, with
 * TLS, decrypted) straight into the body buffer, after the bytes it holds:
 * its room (grown first when full), never past the body's end, so that the
 * read takes no byte of a pipelined request after it. 0: into rbuf, through
 * on_body, as for a chunked body or a body being dropped. When the room
 * cannot be had (max_buffered, the budget, malloc), rbuf takes the bytes
 * and on_body, trying again, gives the answer it always gives. */
static size_t conn_direct_room(pc_http_conn_t *c) {
  if (c->state != CONN_BODY || c->discard || !c->has_length || c->roff != c->rlen) return 0;
  uint64_t left = c->content_length - c->body.n;
  if (left == 0 || left > c->srv->limits.max_body - c->body.n) return 0;
  if (c->body.cap == c->body.n && body_reserve(c, 1) != 0) return 0;
  size_t room = c->body.cap - c->body.n;
  if (room > left) room = (size_t)left;
  return room > UINT32_MAX ? UINT32_MAX : room;
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  pc_http_conn_t *c = container_of(h, pc_http_conn_t, tcp);
  /* A body is read once, by the kernel into its place: no copy out of
   * rbuf (about 4% of all CPU in a profile of 200 KB requests under load,
   * with page faults on fresh buffers besides). */
  size_t room = c->tls ? 0 : conn_direct_room(c); /* TLS: the socket holds ciphertext */
  c->direct = room > 0;
  if (c->direct) {
    *buf = uv_buf_init((char *)c->body.p + c->body.n, (unsigned)room);
    return;
  }
  if (!c->rbuf) c->rbuf = malloc(RBUF_SIZE);
  /* Reading only happens once everything read before has been parsed. */
  *buf = c->rbuf ? uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(RBUF_SIZE - c->rlen))
                 : uv_buf_init(NULL, 0);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_reading(pc_http_conn_t *c, bool on) {
  if (on == c->reading) return;
  c->reading = on;
  if (!on) {
    uv_read_stop((uv_stream_t *)&c->tcp);
  } else if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) != 0) {
    c->reading = false;
    conn_close(c);
  }
}

static void srv_maybe_done(pc_http_server_t *srv);

static void conn_release(pc_http_conn_t *c) {
  if (--c->open_handles > 0) return;
  pc_http_server_t *srv = c->srv;
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_conns--;
  CNT_SUB(srv->counters, connections_open, 1);
  pc_tls_free(c->tls);
  free(c->rbuf);
  pc_buf_free(&c->url);
  body_free(c);
  pc_buf_free(&c->out);
  pc_buf_free(&c->out_headers);
  pc_buf_free(&c->reply.body);
  pc_buf_free(&c->reply.headers);
  pc_buf_free(&c->hraw);
  pc_buf_free(&c->auth);
  free(c->hpos);
  free(c->hviews);
  free(c);
  srv_maybe_done(srv);
}

static void conn_on_tcp_closed(uv_handle_t *h) {
  conn_release(container_of(h, pc_http_conn_t, tcp));
}

static void conn_on_timer_closed(uv_handle_t *h) {
  conn_release(container_of(h, pc_http_conn_t, timer));
}

/* Close now, or once the handler has answered (it holds views into c). */
static void conn_close(pc_http_conn_t *c) {
  if (c->state == CONN_CLOSING) return;
  if (c->state == CONN_BUSY) {
    c->close_on_answer = true;
    return;
  }
  c->state = CONN_CLOSING;
  c->reading = false;
  uv_close((uv_handle_t *)&c->tcp, conn_on_tcp_closed);
  uv_close((uv_handle_t *)&c->timer, conn_on_timer_closed);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status) {
  pc_http_conn_t *c = container_of(req, pc_http_conn_t, shutdown_req);
  if (status < 0) conn_close(c); /* also fine after UV_ECANCELED: idempotent */
}

/* The last answer is written: send FIN, drop input for linger_ms, close. */
static void conn_linger(pc_http_conn_t *c) {
  c->state = CONN_LINGER;
  if (c->tls) pc_tls_close_notify(c->tls, (uv_stream_t *)&c->tcp);
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  c->roff = c->rlen = 0;
  conn_timer(c, c->srv->limits.linger_ms);
  conn_reading(c, true);
}

/* The answer is written and the connection stays: on to the next request,
 * which may already be in the read buffer. */
static void conn_next_request(pc_http_conn_t *c) {
  conn_request_reset(c);
  c->served++;
  c->state = CONN_IDLE;
  conn_timer(c, c->srv->limits.idle_timeout_ms);
  llhttp_resume(&c->parser);
  conn_feed(c);
}

static void conn_on_write(uv_write_t *req, int status) {
  pc_http_conn_t *c = container_of(req, pc_http_conn_t, write_req);
  pc_buf_free(&c->out);
  pc_buf_free(&c->out_headers);
  if (status < 0 || c->state == CONN_CLOSING) {
    conn_close(c);
    return;
  }
  if (c->close_after)
    conn_linger(c);
  else
    conn_next_request(c);
}

/* A 4xx or 5xx answer, for the logs (refusals.c). */
static void conn_note_refusal(pc_http_conn_t *c, const pc_http_response_t *resp) {
  char peer[80], status[8];
  pc_http_conn_peer(c, peer, sizeof peer);
  snprintf(status, sizeof status, "%d", resp->status);
  pc_refusals_note(&c->srv->refusals, uv_now(c->srv->loop), peer, status,
                   resp->reason[0] ? resp->reason : pc_http_reason(resp->status));
}

static void conn_send(pc_http_conn_t *c, pc_http_response_t *resp) {
  pc_http_server_t *srv = c->srv;
  if (resp->status >= 400) conn_note_refusal(c, resp);
  if (srv->handler.decorate) { /* every answer, the server's own errors too */
    pc_http_request_t r;
    conn_request(c, &r);
    srv->handler.decorate(srv->handler.ud, &r, resp);
  }
  bool close = resp->close || !c->keep_alive || srv->closing;
  bool http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
  int n;
  if (resp->status == 204) { /* no content, and no Content-Length either (RFC 9110) */
    resp->body.n = 0;
    n = snprintf(c->head, sizeof c->head, "HTTP/1.1 204 %s\r\n", pc_http_reason(204));
  } else {
    n = snprintf(c->head, sizeof c->head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                 resp->status, pc_http_reason(resp->status),
                 resp->content_type ? resp->content_type : "text/plain", resp->body.n);
  }
  if (resp->retry_after_s)
    n += snprintf(c->head + n, sizeof c->head - (size_t)n, "Retry-After: %u\r\n",
                  (unsigned)resp->retry_after_s);
  if (resp->allow)
    n += snprintf(c->head + n, sizeof c->head - (size_t)n, "Allow: %s\r\n", resp->allow);
  if (close)
    n += snprintf(c->head + n, sizeof c->head - (size_t)n, "Connection: close\r\n");
  else if (http10)
    n += snprintf(c->head + n, sizeof c->head - (size_t)n, "Connection: keep-alive\r\n");
  if (resp->headers.n) { /* the handler's own header lines, after ours */
    if (pc_buf_append(&resp->headers, "\r\n", 2)) pc_oom();
  } else {
    n += snprintf(c->head + n, sizeof c->head - (size_t)n, "\r\n");
  }

  /* The request is over: give its body's memory back now. */
  if (close || c->body.cap > KEEP_BODY_CAP) body_free(c);
  c->body.n = 0;

  CNT_ADD(srv->counters, requests, 1);
  if (resp->status >= 400) CNT_ADD(srv->counters, requests_failed, 1);
  pc_buf_free(&c->out);
  pc_buf_free(&c->out_headers);
  c->out = resp->body;
  c->out_headers = resp->headers;
  resp->body = resp->headers = (pc_buf_t){0};
  c->close_after = close;
  c->state = CONN_WRITING;
  conn_reading(c, false);
  conn_timer(c, srv->limits.write_timeout_ms);
  uv_buf_t bufs[3];
  unsigned nbufs = 0;
  bufs[nbufs++] = uv_buf_init(c->head, (unsigned)n);
  if (c->out_headers.n)
    bufs[nbufs++] = uv_buf_init((char *)c->out_headers.p, (unsigned)c->out_headers.n);
  if (c->out.n && !c->head_method) /* HEAD: headers only */
    bufs[nbufs++] = uv_buf_init((char *)c->out.p, (unsigned)c->out.n);
  if (conn_write(c, &c->write_req, bufs, nbufs, conn_on_write) != 0)
    conn_close(c);
}

void pc_http_respond(pc_http_conn_t *c, pc_http_response_t *resp) {
  c->state = CONN_WRITING; /* leaves BUSY: conn_close acts now */
  if (c->close_on_answer) {
    pc_buf_free(&resp->body);
    pc_buf_free(&resp->headers);
    conn_close(c);
    return;
  }
  conn_send(c, resp);
}

/* A complete request: the answer prepared at the headers, or the handler. */
static void conn_dispatch(pc_http_conn_t *c) {
  c->msg_done = false;
  uv_timer_stop(&c->timer);
  if (c->discard) {
    pc_http_response_t r = c->reply;
    c->reply = (pc_http_response_t){0};
    conn_send(c, &r);
    return;
  }
  c->state = CONN_BUSY;
  conn_reading(c, false);
  conn_request(c, &c->req);
  c->srv->handler.on_request(c->srv->handler.ud, c, &c->req);
}

static void conn_parse_error(pc_http_conn_t *c, llhttp_errno_t e) {
  pc_http_response_t r;
  if (c->abort) {
    r = c->reply;
    c->reply = (pc_http_response_t){0};
  } else {
    const char *why = llhttp_get_error_reason(&c->parser);
    /* llhttp's strict mode finds a bad header name before on_header_field
     * sees it; say it as that check does. */
    if (why && (!strcmp(why, "Invalid header token") || !strcmp(why, "Invalid header field char")))
      why = "a header name holds a character HTTP does not allow in one";
    conn_error_reply(c, 400, &r, "malformed HTTP request: %s (%s)",
                     why ? why : "parse error", llhttp_errno_name(e));
  }
  r.close = true;
  conn_send(c, &r);
}

/* TLS: the session failed (or timed out in its handshake): count, log
 * (rate limited), close. */
static void conn_tls_failed(pc_http_conn_t *c) {
  CNT_ADD(c->srv->counters, tls_failed, 1);
  pc_tls_log_failure(c->srv->tls, c->srv->id, &c->tcp, c->tls);
  conn_close(c);
}

/* TLS: everything read is parsed, so refill rbuf with the plaintext the
 * session has (none: read the socket again). false when the connection is
 * closing: the client ended the session, or it failed. */
static bool conn_decrypt(pc_http_conn_t *c) {
  c->roff = c->rlen = 0;
  if (!c->rbuf) return true; /* nothing read yet */
  ssize_t n = pc_tls_read(c->tls, (uv_stream_t *)&c->tcp, c->rbuf, RBUF_SIZE);
  if (n >= 0) {
    c->rlen = (size_t)n;
    return true;
  }
  if (n == UV_EOF) { /* close_notify: as a TCP EOF */
    conn_on_read((uv_stream_t *)&c->tcp, UV_EOF, NULL);
    return false;
  }
  conn_tls_failed(c);
  return false;
}

/* head.c refused the framing of a head: answer and close. */
static void conn_framing_error(pc_http_conn_t *c, int status, const char *why) {
  pc_http_response_t r;
  conn_error_reply(c, status, &r, "malformed HTTP request: %s", why);
  r.close = true;
  c->keep_alive = false;
  conn_send(c, &r);
}

/* Body bytes read or decrypted straight into the body buffer
 * (conn_direct_room): llhttp still reads them, so it alone decides where
 * the message ends, but its on_body finds them in place. They are the
 * body's and nothing else. false: the request was answered with an error. */
static bool conn_parse_in_place(pc_http_conn_t *c, const char *p, size_t n) {
  llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
  if (e == HPE_PAUSED && c->msg_done && llhttp_get_error_pos(&c->parser) == p + n) {
    conn_dispatch(c);
  } else if (e != HPE_OK) {
    conn_parse_error(c, e);
    return false;
  }
  return true;
}

/* TLS, everything read is parsed and a body is being read: decrypt into
 * the body buffer, as conn_on_alloc has the socket do without TLS. 1: bytes
 * were parsed; 0: the session needs more input; -1: stop (the request was
 * answered, or the connection is closing); 2: not now, use rbuf. */
static int conn_decrypt_in_place(pc_http_conn_t *c) {
  size_t room = conn_direct_room(c);
  if (!room) return 2;
  c->roff = c->rlen = 0;
  char *at = (char *)c->body.p + c->body.n;
  ssize_t n = pc_tls_read(c->tls, (uv_stream_t *)&c->tcp, at, room);
  if (n > 0) return conn_parse_in_place(c, at, (size_t)n) ? 1 : -1;
  if (n == 0) return 0;
  if (n == UV_EOF) /* close_notify: as a TCP EOF */
    conn_on_read((uv_stream_t *)&c->tcp, UV_EOF, NULL);
  else
    conn_tls_failed(c);
  return -1;
}

/* Parse what was read, up to the end of the next complete request. */
static void conn_feed(pc_http_conn_t *c) {
  for (;;) {
    if (c->tls && conn_parsing(c) && c->roff == c->rlen) {
      int k = conn_decrypt_in_place(c);
      if (k < 0) return;
      if (k == 1) continue;
      if (k == 2 && !conn_decrypt(c)) return;
    }
    if (!conn_parsing(c) || c->roff >= c->rlen) break;
    const char *p = (const char *)c->rbuf + c->roff;
    if (c->scan_on) { /* a head (or trailers) ahead: its lines first */
      int status;
      const char *why;
      if (pc__head_scan(&c->scan, (const uint8_t *)p, c->rlen - c->roff, &status, &why) < 0) {
        conn_framing_error(c, status, why);
        return;
      }
      c->scan_on = !pc__head_scan_done(&c->scan);
    }
    llhttp_errno_t e = llhttp_execute(&c->parser, p, c->rlen - c->roff);
    if (e == HPE_OK) {
      c->roff = c->rlen;
    } else if (e == HPE_PAUSED && c->at_trailers) {
      c->at_trailers = false;
      c->roff += (size_t)(llhttp_get_error_pos(&c->parser) - p);
      pc__head_scan_begin(&c->scan, true);
      c->scan_on = true;
      llhttp_resume(&c->parser);
    } else if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && c->msg_done) {
      c->roff += (size_t)(llhttp_get_error_pos(&c->parser) - p);
      conn_dispatch(c);
    } else {
      conn_parse_error(c, e);
      return;
    }
  }
  if (c->roff == c->rlen) c->roff = c->rlen = 0;
  if (c->state != CONN_CLOSING) conn_reading(c, conn_parsing(c));
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  pc_http_conn_t *c = container_of(s, pc_http_conn_t, tcp);
  bool direct = c->direct;
  c->direct = false;
  if (nread == 0) return; /* EAGAIN */
  if (nread < 0) {
    if (c->state == CONN_HEADERS || c->state == CONN_BODY) {
      char peer[80];
      pc_http_conn_peer(c, peer, sizeof peer);
      pc_log(c->srv->id, PC_LOG_DEBUG, "client %s went away in the middle of a request: %s",
             peer, uv_err_name((int)nread));
    }
    conn_close(c);
    return;
  }
  CNT_ADD(c->srv->counters, bytes_in, nread);
  if (c->state == CONN_LINGER) return; /* dropped */
  if (direct) {
    if (conn_parse_in_place(c, buf->base, (size_t)nread)) conn_feed(c);
    return;
  }
  if (c->tls) /* ciphertext, copied into the session; conn_feed decrypts */
    pc_tls_feed(c->tls, c->rbuf + c->rlen, (size_t)nread);
  else
    c->rlen += (size_t)nread;
  conn_feed(c);
}

/* An answer for a timeout, then close. */
static void conn_timeout(pc_http_conn_t *c, const char *what, uint64_t ms) {
  pc_http_response_t r;
  conn_error_reply(c, 408, &r, "%s within %llu ms", what, (unsigned long long)ms);
  r.close = true;
  conn_send(c, &r);
}

static void conn_on_timer(uv_timer_t *t) {
  pc_http_conn_t *c = container_of(t, pc_http_conn_t, timer);
  const pc_http_limits_t *lim = &c->srv->limits;
  switch (c->state) {
  case CONN_IDLE: /* nothing asked yet: close quietly */
    if (c->tls && !pc_tls_ready(c->tls)) { /* ... unless it never got as far as TLS */
      CNT_ADD(c->srv->counters, tls_failed, 1);
      char peer[80];
      pc_http_conn_peer(c, peer, sizeof peer);
      pc_log(c->srv->id, PC_LOG_DEBUG,
             "closing connection from %s: TLS handshake not done within "
             "read_header_timeout (%llu ms)", peer, (unsigned long long)lim->header_timeout_ms);
    }
    conn_close(c);
    break;
  case CONN_HEADERS:
    if (conn_past_deadline(c))
      conn_timeout(c, "request was not complete (read_timeout)", lim->request_timeout_ms);
    else
      conn_timeout(c, "request headers were not complete (read_header_timeout)",
                   lim->header_timeout_ms);
    break;
  case CONN_BODY: {
    if (conn_past_deadline(c)) {
      conn_timeout(c, "request was not complete (read_timeout)", lim->request_timeout_ms);
      break;
    }
    uint64_t need = lim->min_body_rate * lim->body_timeout_ms / 1000;
    if (need == 0) need = 1;
    if (c->window_bytes >= need) {
      c->window_bytes = 0;
      conn_read_timer(c, lim->body_timeout_ms);
      break;
    }
    char what[160];
    snprintf(what, sizeof what,
             "request body too slow: %llu bytes arrived, min_body_rate asks for %llu",
             (unsigned long long)c->window_bytes, (unsigned long long)need);
    conn_timeout(c, what, lim->body_timeout_ms);
    break;
  }
  case CONN_WRITING:
  case CONN_LINGER: {
    if (c->state == CONN_WRITING) {
      char peer[80];
      pc_http_conn_peer(c, peer, sizeof peer);
      pc_log(c->srv->id, PC_LOG_DEBUG,
             "closing connection from %s: answer not taken within write_timeout (%llu ms)",
             peer, (unsigned long long)lim->write_timeout_ms);
    }
    conn_close(c);
    break;
  }
  case CONN_BUSY:
  case CONN_CLOSING:
    break;
  }
}

/* ---- server ------------------------------------------------------------------------ */

struct pc_http_waiter {
  pc_http_done_cb done;
  void *arg;
  pc_http_waiter_t *next;
};

void pc_http_server_init(pc_http_server_t *srv, uv_loop_t *loop, const char *id,
                          const pc_http_limits_t *limits,
                          const pc_http_handler_t *handler,
                          pc_http_counters_t *counters) {
  *srv = (pc_http_server_t){.loop = loop, .id = id, .limits = *limits,
                            .handler = *handler, .counters = counters,
                            .refusals = {.id = id}};
}

/* A new connection object with its handles initialised; NULL on failure. */
static pc_http_conn_t *conn_new(pc_http_server_t *srv) {
  pc_http_conn_t *c = pc_xcalloc(1, sizeof *c);
  c->srv = srv;
  if (srv->tls && !(c->tls = pc_tls_new(srv->tls))) {
    free(c);
    return NULL;
  }
  if (uv_tcp_init(srv->loop, &c->tcp) != 0) {
    pc_tls_free(c->tls);
    free(c);
    return NULL;
  }
  uv_timer_init(srv->loop, &c->timer);
  c->open_handles = 2;
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  pc__head_scan_begin(&c->scan, false);
  c->scan_on = true;
  c->next = srv->conns;
  if (c->next) c->next->prev = c;
  srv->conns = c;
  srv->n_conns++;
  CNT_ADD(srv->counters, connections_open, 1);
  return c;
}

static void conn_begin(pc_http_conn_t *c) {
  CNT_ADD(c->srv->counters, connections_total, 1);
  uv_tcp_nodelay(&c->tcp, 1); /* answers are small and must not wait */
  c->state = CONN_IDLE;
  conn_timer(c, c->srv->limits.header_timeout_ms);
  conn_reading(c, true);
}

static void srv_on_refused_closed(uv_handle_t *h) {
  pc_http_server_t *srv = h->data;
  free(h);
  srv->open_handles--;
  srv_maybe_done(srv);
}

/* Over max_connections: accept and close at once (the client sees a reset
 * or EOF and retries, as OTLP clients do for lost connections). */
static void srv_refuse(pc_http_server_t *srv) {
  uv_tcp_t *t = pc_xmalloc(sizeof *t);
  if (uv_tcp_init(srv->loop, t) != 0) {
    free(t);
    return;
  }
  t->data = srv;
  srv->open_handles++;
  CNT_ADD(srv->counters, connections_refused, 1);
  uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, srv_on_refused_closed);
  uint64_t skipped;
  char sup[48];
  if (pc_ratelimit(&srv->rl_refused, 10000, &skipped))
    pc_log(srv->id, PC_LOG_WARN,
           "refused a connection: %u connections open, max_connections is %u%s",
           srv->n_conns, srv->limits.max_connections, pc_suppressed(skipped, sup));
}

static void srv_on_connection(uv_stream_t *l, int status) {
  pc_http_server_t *srv = container_of(l, pc_http_server_t, listener);
  if (status < 0) {
    pc_accept_failed(srv->id, status);
    return;
  }
  if (srv->n_conns >= srv->limits.max_connections) {
    srv_refuse(srv);
    return;
  }
  pc_http_conn_t *c = conn_new(srv);
  if (!c) return;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
      (!srv->limits.use_fd_reserve && pc_accept_fd_short(srv->id, &c->tcp, srv->n_conns - 1))) {
    conn_close(c);
    return;
  }
  conn_begin(c);
}

int pc_http_server_adopt(pc_http_server_t *srv, uv_os_sock_t fd) {
  if (srv->closing || srv->n_conns >= srv->limits.max_connections) return PC_EAGAIN;
  pc_http_conn_t *c = conn_new(srv);
  if (!c) return PC_ENOMEM;
  int rc = uv_tcp_open(&c->tcp, fd);
  if (rc) {
    conn_close(c);
    return PC_EIO;
  }
  conn_begin(c);
  return 0;
}

static void srv_on_handle_closed(uv_handle_t *h) {
  pc_http_server_t *srv = h->data;
  srv->open_handles--;
  srv_maybe_done(srv);
}

int pc_http_server_listen(pc_http_server_t *srv, const struct sockaddr *addr,
                           const char *endpoint, pc_err_t *err) {
  int rc = uv_tcp_init(srv->loop, &srv->listener);
  if (rc)
    return pc_err_set(err, PC_EIO, "cannot listen on %s: %s (%s)", endpoint,
                      uv_strerror(rc), uv_err_name(rc));
  srv->listener.data = srv;
  srv->open_handles++;
  int fd = -1;
  rc = pc_listen_acquire(srv->id, addr, 511, &fd);
  if (!rc) {
    rc = uv_tcp_open(&srv->listener, fd);
    if (rc) {
      pc_listen_release(fd);
      close(fd);
    }
  }
  if (!rc) rc = uv_listen((uv_stream_t *)&srv->listener, 511, srv_on_connection);
  if (rc) {
    pc_listen_close(&srv->listener, srv_on_handle_closed);
    return pc_err_set(err, PC_EIO, "cannot listen on %s: %s (%s)", endpoint,
                      uv_strerror(rc), uv_err_name(rc));
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) == 0)
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
  srv->listening = true;
  return 0;
}

/* Every handle is closed: call the waiters (they may free srv). */
static void srv_maybe_done(pc_http_server_t *srv) {
  if (!srv->closing || srv->closed || srv->n_conns > 0) return;
  if (srv->drain_open) {
    srv->drain_open = false;
    uv_close((uv_handle_t *)&srv->drain_timer, srv_on_handle_closed);
    return;
  }
  if (srv->open_handles > 0) return;
  srv->closed = true;
  spares_free(srv);
  pc_refusals_flush(&srv->refusals);
  pc_http_waiter_t *w = srv->waiters;
  srv->waiters = NULL;
  while (w) {
    pc_http_waiter_t *next = w->next;
    pc_http_done_cb done = w->done;
    void *arg = w->arg;
    free(w);
    done(arg);
    w = next;
  }
}

static void srv_on_drain_deadline(uv_timer_t *t) {
  pc_http_server_t *srv = container_of(t, pc_http_server_t, drain_timer);
  if (srv->n_conns)
    pc_log(srv->id, PC_LOG_WARN, "shutdown deadline reached: closing %u connections", srv->n_conns);
  for (pc_http_conn_t *c = srv->conns; c; c = c->next) conn_close(c);
}

void pc_http_server_close(pc_http_server_t *srv, uint64_t deadline_ms, pc_http_done_cb done,
                           void *arg) {
  if (!srv->loop || srv->closed) { /* never started, or already shut down */
    if (done) done(arg);
    return;
  }
  if (done) {
    pc_http_waiter_t *w = pc_xmalloc(sizeof *w);
    *w = (pc_http_waiter_t){done, arg, srv->waiters};
    srv->waiters = w;
  }
  if (srv->closing) return;
  srv->closing = true;
  if (srv->listening) {
    srv->listening = false;
    pc_listen_close(&srv->listener, srv_on_handle_closed);
  }
  uv_timer_init(srv->loop, &srv->drain_timer);
  srv->drain_timer.data = srv;
  srv->drain_open = true;
  srv->open_handles++;
  uint64_t now = uv_now(srv->loop);
  uv_timer_start(&srv->drain_timer, srv_on_drain_deadline,
                 deadline_ms > now ? deadline_ms - now : 0, 0);
  /* Keep-alive connections waiting for their next request go now; requests
   * in progress finish (their answers say Connection: close) until the
   * deadline. A connection that has not sent its first request yet is not
   * idle but new: its client is sending right now (during a reload it was
   * accepted a moment before the listener closed), so it is served too, as
   * Go's http.Server.Shutdown does; the header timeout and the deadline
   * still bound it. */
  for (pc_http_conn_t *c = srv->conns; c; c = c->next)
    if (c->state == CONN_IDLE && c->served > 0) conn_close(c);
  srv_maybe_done(srv);
}

/* ---- endpoints ---------------------------------------------------------------------- */

int pc_http_split_endpoint(const char *ep, char *host, size_t hn, int *port) {
  const char *colon;
  if (ep[0] == '[') {
    const char *close = strchr(ep, ']');
    if (!close || close[1] != ':') return -1;
    colon = close + 1;
    if ((size_t)(close - ep - 1) >= hn) return -1;
    memcpy(host, ep + 1, (size_t)(close - ep - 1));
    host[close - ep - 1] = 0;
  } else {
    colon = strrchr(ep, ':');
    if (!colon || (size_t)(colon - ep) >= hn) return -1;
    memcpy(host, ep, (size_t)(colon - ep));
    host[colon - ep] = 0;
  }
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (colon[1] == 0 || *end != 0 || p < 0 || p > 65535) return -1;
  *port = (int)p;
  return 0;
}

int pc_http_endpoint_addr(uv_loop_t *loop, const char *id, const char *endpoint,
                          struct sockaddr_storage *ss, pc_err_t *err) {
  char host[256];
  int port;
  if (pc_http_split_endpoint(endpoint, host, sizeof host, &port) != 0)
    return pc_err_set(err, PC_EINVAL, "%s: endpoint \"%s\" is not host:port", id, endpoint);
  const char *h = host[0] ? host : "0.0.0.0";
  if (strcasecmp(h, "localhost") == 0) h = "127.0.0.1";
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(h, port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(h, port, (struct sockaddr_in6 *)ss) == 0) return 0;
  uv_getaddrinfo_t gai;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  int rc = uv_getaddrinfo(loop, &gai, NULL, h, NULL, &hints);
  if (rc)
    return pc_err_set(err, PC_EINVAL, "%s: cannot resolve the host of endpoint \"%s\": %s", id,
                      endpoint, uv_strerror(rc));
  memcpy(ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
  uv_freeaddrinfo(gai.addrinfo);
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  return 0;
}

pc_http_limits_t pc_http_admin_limits(uint32_t max_connections, const char *max_body_key,
                                      const char *max_buffered_key) {
  return (pc_http_limits_t){
      .max_body = 4096,
      .max_buffered = 64 * 1024,
      .max_header_bytes = 16 * 1024,
      .idle_timeout_ms = 60000,
      .header_timeout_ms = 10000,
      .body_timeout_ms = 10000,
      .min_body_rate = 0,
      .write_timeout_ms = 30000,
      .linger_ms = 500,
      .max_connections = max_connections,
      .use_fd_reserve = true,
      .max_body_key = max_body_key,
      .max_buffered_key = max_buffered_key,
  };
}
