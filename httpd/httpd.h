/* httpd.h - a small, defensive HTTP/1.1 server on libuv + llhttp, shared by
 * everything in profcol that listens for HTTP: the OTLP/HTTP receiver, the
 * health_check extension and the self-telemetry (Prometheus) endpoint.
 *
 * One request at a time per connection: after a request is complete the
 * parser pauses and reading stops until its answer is written, so pipelined
 * requests are answered in order and a slow handler pushes back on the
 * client through TCP. Every limit (header bytes, body bytes, buffered bytes
 * over all connections, timeouts, connections) is in pc_http_limits_t.
 *
 * Threads: a server lives on one loop; every function here and every
 * handler callback runs on that loop's thread. The counters may be read
 * from any thread (relaxed atomics). */
#ifndef PC_HTTPD_H
#define PC_HTTPD_H

#include <stdatomic.h>
#include <uv.h>

#include "../core/core.h"
#include "../core/log.h"

typedef struct {
  uint64_t max_body;          /* body bytes as sent (and chunked, de-chunked) */
  uint64_t max_buffered;      /* body buffers of this server's connections (503 beyond) */
  uint64_t max_header_bytes;  /* request line + headers + trailers + chunk extensions */
  uint64_t idle_timeout_ms;   /* keep-alive: wait for the next request */
  uint64_t header_timeout_ms; /* first byte of a request (or accept) -> end of headers */
  uint64_t body_timeout_ms;   /* body rate window; 0: no body timeout */
  uint64_t min_body_rate;     /* bytes/s over each window (at least 1 byte per window) */
  uint64_t request_timeout_ms; /* first byte of a request -> its last byte; 0: none */
  uint64_t write_timeout_ms;  /* an answer must be taken by the client within this */
  uint64_t linger_ms;         /* after a closing answer: drain input before close */
  uint32_t max_connections;
  bool no_keep_alive; /* close the connection after every answer */
  /* The process's request memory budget (core.h): body buffers count in it
   * besides max_buffered, and a body that would pass it is refused with 503
   * (at the headers when Content-Length says so). NULL: max_buffered only. */
  pc_budget_t *budget;
  /* Admin endpoints (health, metrics) may take the descriptors receivers
   * leave free (core.h, pc_fd_reserve); others close a connection that
   * would eat into them. */
  bool use_fd_reserve;
  /* The config keys named in 413/503 messages; NULL: the OTLP receiver's
   * "max_request_body_size" and "max_buffered_bytes". */
  const char *max_body_key;
  const char *max_buffered_key;
} pc_http_limits_t;

/* Limits for a small admin endpoint (health check, metrics scrape): small
 * GETs from a few checkers, max_connections at most. The two keys name the
 * body and buffer limits in messages; they must be static strings. */
pc_http_limits_t pc_http_admin_limits(uint32_t max_connections, const char *max_body_key,
                                      const char *max_buffered_key);

/* What the server counts, since init. Gauges are marked. */
typedef struct {
  _Atomic uint64_t requests;            /* complete requests answered (any status) */
  _Atomic uint64_t requests_failed;     /* ... of which answered 4xx or 5xx */
  _Atomic uint64_t bytes_in;            /* bytes read from sockets, headers included */
  _Atomic uint64_t connections_open;    /* gauge */
  _Atomic uint64_t connections_total;   /* accepted and served */
  _Atomic uint64_t connections_refused; /* closed at once: max_connections reached */
  _Atomic uint64_t tls_failed;          /* TLS: handshake failed or timed out, bad records */
  _Atomic uint64_t body_bytes_in_place; /* body bytes read from the socket straight into
                                         * their buffer (no copy; a part of bytes_in) */
} pc_http_counters_t;

/* A parsed request. Views are valid until the answer is given. */
typedef struct {
  uint8_t method; /* llhttp_method_t */
  uint8_t http_major, http_minor;
  pc_str_t url;  /* as sent */
  pc_str_t path; /* url up to '?' */
  pc_str_t content_type;
  pc_str_t content_encoding; /* repeated headers joined with ", " */
  /* For CORS (empty when absent; a value over 256 bytes is cut there). */
  pc_str_t origin;
  pc_str_t ac_request_method;  /* Access-Control-Request-Method */
  pc_str_t ac_request_headers; /* Access-Control-Request-Headers */
  pc_str_t auth; /* the handler's auth_header (repeated: joined with ", ") */
  uint8_t auth_n; /* lines of the auth_header: 0, 1, or 2 for two or more */
  bool has_length;
  uint64_t content_length;
  const uint8_t *body; /* de-chunked */
  size_t body_n;
  /* Every header in the order sent, names as sent (keep_headers only; else
   * empty). Trailers are not included. */
  pc_metadata_t headers;
} pc_http_request_t;

/* An answer. The server adds Content-Length, Connection and the status line. */
typedef struct {
  int status;
  const char *content_type; /* static string; NULL: "text/plain" */
  pc_buf_t body;            /* owned by the server once passed to it */
  uint32_t retry_after_s;   /* > 0: Retry-After header */
  const char *allow;        /* non-NULL: Allow header (405) */
  pc_buf_t headers;         /* more header lines, each "Name: value\r\n" (owned
                             * by the server once passed to it) */
  bool close;               /* close the connection after this answer */
  char reason[256];         /* 4xx/5xx: why, for the logs (the message the body holds) */
} pc_http_response_t;

typedef struct pc_http_conn pc_http_conn_t;

typedef struct {
  void *ud;
  /* Headers are complete: return 0 to read the body, or fill resp with a
   * final answer (4xx) and return its status. The body is then discarded
   * (within max_body) and the answer sent once it is over, or, with
   * "Expect: 100-continue", sent at once and the connection closed. */
  int (*on_headers)(void *ud, const pc_http_request_t *req, pc_http_response_t *resp);
  /* A whole request: answer now or later, exactly once, with
   * pc_http_respond. req stays valid until then. */
  void (*on_request)(void *ud, pc_http_conn_t *conn, const pc_http_request_t *req);
  /* Fill resp's body and content type for an error the server found itself
   * (bad HTTP, too large, timeout). req may be partly parsed. */
  void (*error_body)(void *ud, const pc_http_request_t *req, const char *msg,
                     pc_http_response_t *resp);
  /* Optional: add header lines (resp->headers) to every answer, those the
   * server makes itself included (CORS). req may be partly parsed. */
  void (*decorate)(void *ud, const pc_http_request_t *req, pc_http_response_t *resp);
  /* Keep every header for req->headers (the receiver's include_metadata);
   * off, the server keeps only the few it reads itself and copies nothing. */
  bool keep_headers;
  /* One more header to read into req->auth, for an authenticator; at most
   * 32 characters. NULL: none. */
  const char *auth_header;
} pc_http_handler_t;

/* Refused requests, for the logs (refusals.c): each one at debug, and at
 * info the first of a quiet spell plus a count per status of the rest every
 * 10 s. Owned by a server (HTTP or gRPC); on the loop thread only. */
typedef struct {
  const char *id; /* log prefix */
  uint64_t spell_started_ms; /* 0: quiet */
  uint64_t n_counted;
  struct {
    char status[24]; /* "400", "INVALID_ARGUMENT" */
    uint64_t count;
  } kinds[8];
  size_t n_kinds;
  uint64_t other; /* of statuses past the eight kept */
} pc_refusals_t;

/* A request from peer was answered status ("413", "UNAVAILABLE") because of
 * reason (the message the client got). */
void pc_refusals_note(pc_refusals_t *r, uint64_t now_ms, const char *peer, const char *status,
                      const char *reason);
/* Log what is counted and not yet said (at close). */
void pc_refusals_flush(pc_refusals_t *r);

typedef struct pc_http_waiter pc_http_waiter_t;
typedef struct pc_tls_ctx pc_tls_ctx_t;

/* Called once a closed server let go of every handle (pc_done_cb's shape). */
typedef void (*pc_http_done_cb)(void *arg);

/* Body buffers a server keeps for its next requests (http_server.c): at
 * most this many, and at most 4 MiB of them. */
#define PC_HTTP_SPARE_BODIES 16

typedef struct {
  uv_tcp_t listener; /* initialised by pc_http_server_listen */
  uv_timer_t drain_timer;
  uv_loop_t *loop;
  const char *id; /* log prefix: "receiver:otlp" */
  pc_http_limits_t limits;
  pc_http_handler_t handler;
  pc_http_counters_t *counters;
  pc_http_conn_t *conns; /* doubly linked, for shutdown */
  uint32_t n_conns;
  uint64_t buffered; /* bytes of body buffers held by all connections, spares included */
  /* Body buffers of answered requests, for the next ones: a fresh one per
   * request cost a page fault on most of its pages (perf, 200 KB bodies
   * under load: about two thirds of the receive path's faults). Still
   * counted in buffered and the budget; they go when either is short, and
   * at close. Bounded per server, not per connection: an idle keep-alive
   * connection holds no large buffer. */
  pc_buf_t spare_bodies[PC_HTTP_SPARE_BODIES];
  uint32_t n_spare_bodies;
  _Atomic uint64_t spare_held; /* their bytes, readable from any thread */
  int port;
  int open_handles; /* listener + drain timer not yet closed */
  bool listening;
  bool drain_open; /* drain_timer initialised and not yet being closed */
  bool closing;
  bool closed; /* every handle is closed: shutdown is over */
  pc_http_waiter_t *waiters;
  pc_ratelimit_t rl_refused; /* "max_connections reached" lines */
  pc_refusals_t refusals;    /* requests answered 4xx or 5xx, for the logs */
  pc_tls_ctx_t *tls; /* NULL: cleartext; else every connection speaks TLS (not owned) */
} pc_http_server_t;

/* Set up a server on loop (no I/O yet). id, counters and the handler's ud
 * must outlive it. For HTTPS set srv->tls after this, before listening. */
void pc_http_server_init(pc_http_server_t *srv, uv_loop_t *loop, const char *id,
                         const pc_http_limits_t *limits, const pc_http_handler_t *handler,
                         pc_http_counters_t *counters);
/* Bind and listen; fills err with the address and the reason on failure.
 * srv->port is the bound port afterwards (useful with port 0). */
int pc_http_server_listen(pc_http_server_t *srv, const struct sockaddr *addr,
                          const char *endpoint, pc_err_t *err);
/* Bytes of the body buffers the server keeps for its next requests (they
 * count in the request memory budget). Any thread. */
uint64_t pc_http_server_spare_held(pc_http_server_t *srv);
/* Free those buffers now (others need room in the budget). Loop thread. */
void pc_http_server_drop_spares(pc_http_server_t *srv);
/* Serve an already connected stream socket (tests, fuzzing: a socketpair). */
int pc_http_server_adopt(pc_http_server_t *srv, uv_os_sock_t fd);
/* Stop accepting, let requests in progress finish until deadline_ms
 * (uv_now based), then close everything; done(arg) once every handle is
 * closed. Safe before listen and safe twice (each done is called). */
void pc_http_server_close(pc_http_server_t *srv, uint64_t deadline_ms, pc_http_done_cb done,
                          void *arg);

/* Listening sockets shared within the process (listen.c): a reloaded config
 * gets a duplicate of the running config's socket for the same address, so
 * no queued connection is lost and there is no moment without a listener.
 * acquire returns a descriptor the caller owns (for uv_tcp_open) or a
 * negative libuv error (UV_EADDRINUSE when another process holds the
 * address); port 0 always opens a fresh socket. pc_listen_close releases
 * the listener's share and closes the handle. With several workers
 * (core.h pc_worker_self) each worker gets a socket of its own on the
 * address (SO_REUSEPORT), and a port 0 is the same fresh port in every
 * worker of a config; owner names the listener ("receiver:otlp") so that
 * each port 0 is matched to its own. */
int pc_listen_acquire(const char *owner, const struct sockaddr *addr, int backlog, int *fd_out);
void pc_listen_release(int fd);
void pc_listen_close(uv_tcp_t *listener, uv_close_cb cb);

/* For every listener's connection callback (HTTP and gRPC), in listen.c:
 * an accept that failed is logged (rate-limited over the process), and
 * EMFILE/ENFILE counted (core.h, pc_fd_count_exhausted). */
void pc_accept_failed(const char *id, int status);
/* After uv_accept into tcp: whether its descriptor eats into the reserve
 * (core.h, pc_fd_short); then it is counted and logged, rate-limited, and
 * the caller closes it at once. n_open: the listener's other connections. */
bool pc_accept_fd_short(const char *id, const uv_tcp_t *tcp, uint32_t n_open);

/* Answer the request handed to on_request; takes resp->body. */
void pc_http_respond(pc_http_conn_t *conn, pc_http_response_t *resp);
/* The size of the buffer the body of the request handed to on_request
 * lies in (req->body is its start), until pc_http_respond. */
size_t pc_http_conn_body_cap(const pc_http_conn_t *conn);
/* Give that buffer up to the caller, who keeps the body past the answer
 * (a consumer keeps the request's bytes): *out takes it, and it no longer
 * counts in max_buffered nor in the request memory budget, nor is it
 * reused. req->body stays valid as long as *out. Before pc_http_respond. */
void pc_http_conn_take_body(pc_http_conn_t *conn, pc_buf_t *out);
/* "ip:port" of the client, for logs ("?" when unknown). */
void pc_http_conn_peer(pc_http_conn_t *conn, char *buf, size_t n);
/* Its IP alone (pc_http_peer_ip). */
pc_str_t pc_http_conn_peer_ip(pc_http_conn_t *conn, char *buf, size_t n);
/* Whether s[0..n) is an RFC 9110 token, as header names must be. */
bool pc_http_is_token(const char *s, size_t n);
/* The same for any connected socket. */
void pc_http_peer(const uv_tcp_t *tcp, char *buf, size_t n);
/* The client's IP address alone, as text ("10.1.2.3", "fd00::1"; an
 * IPv4-mapped IPv6 peer as its IPv4 address), into buf (64 bytes are
 * enough): what receivers pass down as a request's client address
 * (pdata.h client_addr). A view of buf; empty when unknown (not a TCP
 * peer, or the socket is gone). */
pc_str_t pc_http_peer_ip(const uv_tcp_t *tcp, char *buf, size_t n);
/* The reason phrase of a status code ("Payload Too Large"). */
const char *pc_http_reason(int status);
/* The q value (0 to 1) a request gives token in header, a list of items
 * with parameters such as Accept ("application/json;q=0.9, text/html") or
 * Accept-Encoding ("gzip;q=0, br"), names and tokens matched in any case;
 * -1 when the token is not listed. 0 means refused; an item without q has
 * 1, a malformed q reads 0. Reads req->headers (keep_headers). (accept.c) */
double pc_http_header_q(const pc_http_request_t *r, const char *header, const char *token);

/* ---- CORS (cors.c) ---------------------------------------------------------
 * The Collector's confighttp cors block: allowed_origins, allowed_headers,
 * max_age. Off while no origin is allowed. A handler answers a preflight
 * (pc_cors_is_preflight) with 204, and its decorate hook calls
 * pc_cors_decorate for every answer. */
typedef struct {
  char **origins; /* lowercase; "*", or patterns with at most one '*' */
  size_t n_origins;
  char **headers; /* lowercase request header names a preflight may ask for */
  size_t n_headers;
  bool any_header; /* "*" among them */
  int64_t max_age_s; /* Access-Control-Max-Age; 0: not sent */
} pc_cors_t;

void pc_cors_init(pc_cors_t *c, int64_t max_age_s);
void pc_cors_add_origin(pc_cors_t *c, const char *origin);
void pc_cors_add_header(pc_cors_t *c, const char *header);
void pc_cors_free(pc_cors_t *c);
bool pc_cors_enabled(const pc_cors_t *c);
bool pc_cors_origin_allowed(const pc_cors_t *c, pc_str_t origin);
bool pc_cors_is_preflight(const pc_cors_t *c, const pc_http_request_t *req);
/* Vary, and for an allowed origin the Access-Control-Allow-* headers. */
void pc_cors_decorate(const pc_cors_t *c, const pc_http_request_t *req,
                      pc_http_response_t *resp);

/* ---- TLS (tls.c) -------------------------------------------------------------
 * Server-side TLS for the HTTP server and the gRPC receiver, OpenSSL with
 * memory BIOs driven by the servers' own libuv reads and writes:
 *
 *   socket bytes -> pc_tls_feed -> pc_tls_read -> plaintext to the protocol
 *   protocol output -> pc_tls_write -> TLS records -> uv_write
 *
 * The handshake happens inside pc_tls_read (its records are written from
 * there), so the protocol code sees only plaintext. A server without TLS
 * never calls any of this.
 *
 * pc_tls_ctx_t holds the certificate, the key, the client CAs and the ALPN
 * protocol of one listener; its creator frees it after the server is closed.
 * pc_tls_t is one connection's session: free it in the connection's close
 * callback (libuv has cancelled its pending writes by then). */
struct pc_cfg_node;

typedef struct {
  const char *cert_file;      /* PEM chain, leaf first */
  const char *key_file;       /* PEM private key of cert_file */
  const char *client_ca_file; /* NULL or "": no client certificates asked */
  const char *min_version;    /* "1.2" (NULL: the same) or "1.3" */
  const char *max_version;    /* NULL or "": the newest (1.3); "1.2" or "1.3" */
  /* The Collector's cipher_suites names (Go's crypto/tls), each known to
   * pc_tls_suite_check; none: forward-secret AEAD suites only (below). */
  const char *const *cipher_suites;
  size_t n_cipher_suites;
  /* Where a receiver's option table puts its cipher_suites list, for the
   * receiver to check and turn into the names above (httpd reads no config). */
  const struct pc_cfg_node *cipher_suites_cfg;
} pc_tls_files_t;

typedef struct pc_tls pc_tls_t;

/* 0 when name is a cipher suite the receivers offer, under the Collector's
 * configtls name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256,
 * ...). Else PC_EINVAL with why: a static sentence (unknown, or a suite
 * without forward secrecy that profcol does not offer at all). */
int pc_tls_suite_check(const char *name, const char **why);

/* Load files into a context that offers alpn ("h2", "http/1.1") to clients.
 * On failure returns NULL, fills err with the file and OpenSSL's reason, and
 * sets *bad_key to the key at fault ("cert_file", "min_version", ...). */
pc_tls_ctx_t *pc_tls_ctx_new(const pc_tls_files_t *files, const char *alpn,
                             const char **bad_key, pc_err_t *err);
void pc_tls_ctx_free(pc_tls_ctx_t *ctx);
/* Log that the session t on tcp failed (rate limited: one WARN line per
 * 10 s per context, saying how many more there were; the others at DEBUG). */
void pc_tls_log_failure(pc_tls_ctx_t *ctx, const char *id, const uv_tcp_t *tcp,
                        const pc_tls_t *t);

/* A server-side session; NULL when OpenSSL is out of memory. */
pc_tls_t *pc_tls_new(pc_tls_ctx_t *ctx);
void pc_tls_free(pc_tls_t *t);
/* Hand the session n bytes read from the socket (copied: buf may be reused
 * at once, even as pc_tls_read's output). */
void pc_tls_feed(pc_tls_t *t, const void *p, size_t n);
/* Decrypt up to cap bytes into buf, doing the handshake first; records the
 * session has to send (handshake, alerts) are written to s. Returns the byte
 * count, 0 when more input is needed, UV_EOF once the client sent
 * close_notify, or PC_EIO when the session failed (pc_tls_why says why). */
ssize_t pc_tls_read(pc_tls_t *t, uv_stream_t *s, void *buf, size_t cap);
/* The handshake is over: application data may be written. */
bool pc_tls_ready(const pc_tls_t *t);
/* Why the session failed, for logs ("" when it has not). */
const char *pc_tls_why(const pc_tls_t *t);
/* uv_write's contract for plaintext: encrypt bufs (they may be reused once
 * this returns) and write the records to s; cb(req, status) runs when they
 * are written or cancelled, as uv_write's would. Only once pc_tls_ready. */
int pc_tls_write(pc_tls_t *t, uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
                 unsigned nbufs, uv_write_cb cb);
/* Queue close_notify on s (before uv_shutdown). */
void pc_tls_close_notify(pc_tls_t *t, uv_stream_t *s);

/* ---- endpoints ------------------------------------------------------------ */

/* Split "host:port", "[v6]:port" or ":port" into host (may come out empty)
 * and port. 0, or -1 when ep has none of these forms or host does not fit. */
int pc_http_split_endpoint(const char *ep, char *host, size_t hn, int *port);
/* The address to bind for endpoint. "localhost" means the IPv4 loopback
 * only, and an empty host every interface, as in the Collector. Other names
 * are resolved synchronously on loop (call it at start, before the listener
 * exists). Messages in err start with "id: ". */
int pc_http_endpoint_addr(uv_loop_t *loop, const char *id, const char *endpoint,
                          struct sockaddr_storage *ss, pc_err_t *err);

#endif
