/* internal.h - what the receiver's files share: a small HTTP/1.1 server on
 * libuv + llhttp (http_server.c), the receiver's counters,
 * and the OTLP receiver's settings (otlp.c), exposed so that tests and the
 * fuzz target can build a receiver without a YAML file.
 *
 * Not a public header: only receiver/, tests/ and tests/fuzz/ include it. */
#ifndef PC_RECEIVER_INTERNAL_H
#define PC_RECEIVER_INTERNAL_H

#include <llhttp.h>
#include <stdatomic.h>
#include <uv.h>

#include "../core/log.h"
#include "receiver.h"

#ifndef container_of
#define container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* ---- counters --------------------------------------------------------------
 * Written on the receiver's loop, read from anywhere: relaxed atomics. */
typedef struct {
#define PC__RX_COUNTER(name) _Atomic uint64_t name;
  PC_OTLP_STATS_MAP(PC__RX_COUNTER)
#undef PC__RX_COUNTER
} pc__rx_counters_t;

#define PC__CNT_ADD(c, f, v) atomic_fetch_add_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)
#define PC__CNT_SUB(c, f, v) atomic_fetch_sub_explicit(&(c)->f, (uint64_t)(v), memory_order_relaxed)

/* ---- HTTP/1.1 server -------------------------------------------------------
 * One request at a time per connection: after a request is complete the
 * parser pauses and reading stops until its answer is written, so pipelined
 * requests are answered in order and a slow pipeline pushes back on the
 * client through TCP. */

typedef struct {
  uint64_t max_body;          /* body bytes as sent (and chunked, de-chunked) */
  uint64_t max_buffered;      /* body buffers of all connections together (503 beyond) */
  uint64_t max_header_bytes;  /* request line + headers + trailers + chunk extensions */
  uint64_t idle_timeout_ms;   /* keep-alive: wait for the next request */
  uint64_t header_timeout_ms; /* first byte of a request (or accept) -> end of headers */
  uint64_t body_timeout_ms;   /* body rate window; 0: no body timeout */
  uint64_t min_body_rate;     /* bytes/s over each window (at least 1 byte per window) */
  uint64_t write_timeout_ms;  /* an answer must be taken by the client within this */
  uint64_t linger_ms;         /* after a closing answer: drain input before close */
  uint32_t max_connections;
} pc_http_limits_t;

/* A parsed request. Views are valid until the answer is given. */
typedef struct {
  uint8_t method; /* llhttp_method_t */
  uint8_t http_major, http_minor;
  pc_str_t url;  /* as sent */
  pc_str_t path; /* url up to '?' */
  pc_str_t content_type;
  pc_str_t content_encoding; /* repeated headers joined with ", " */
  bool has_length;
  uint64_t content_length;
  const uint8_t *body; /* de-chunked */
  size_t body_n;
} pc_http_request_t;

/* An answer. The server adds Content-Length, Connection and the status line. */
typedef struct {
  int status;
  const char *content_type; /* static string; NULL: "text/plain" */
  pc_buf_t body;            /* owned by the server once passed to it */
  uint32_t retry_after_s;   /* > 0: Retry-After header */
  const char *allow;        /* non-NULL: Allow header (405) */
  bool close;               /* close the connection after this answer */
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
   * pc__http_respond. req stays valid until then. */
  void (*on_request)(void *ud, pc_http_conn_t *conn, const pc_http_request_t *req);
  /* Fill resp's body and content type for an error the server found itself
   * (bad HTTP, too large, timeout). req may be partly parsed. */
  void (*error_body)(void *ud, const pc_http_request_t *req, const char *msg,
                     pc_http_response_t *resp);
} pc_http_handler_t;

typedef struct pc__shutdown_waiter pc__shutdown_waiter_t;

typedef struct {
  uv_tcp_t listener; /* initialised by pc__http_server_listen */
  uv_timer_t drain_timer;
  uv_loop_t *loop;
  const char *id; /* log prefix: "receiver:otlp" */
  pc_http_limits_t limits;
  pc_http_handler_t handler;
  pc__rx_counters_t *counters;
  pc_http_conn_t *conns; /* doubly linked, for shutdown */
  uint32_t n_conns;
  uint64_t buffered; /* bytes of body buffers held by all connections */
  int port;
  int open_handles; /* listener + drain timer not yet closed */
  bool listening;
  bool drain_open; /* drain_timer initialised and not yet being closed */
  bool closing;
  bool closed; /* every handle is closed: shutdown is over */
  pc__shutdown_waiter_t *waiters;
  uint64_t refused_logged_ms; /* rate limit for "max_connections reached" */
  uint64_t refused_suppressed;
} pc_http_server_t;

/* Set up a server on loop (no I/O yet). counters must outlive it. */
void pc__http_server_init(pc_http_server_t *srv, uv_loop_t *loop, const char *id,
                          const pc_http_limits_t *limits,
                          const pc_http_handler_t *handler,
                          pc__rx_counters_t *counters);
/* Bind and listen; fills err with the address and the reason on failure. */
int pc__http_server_listen(pc_http_server_t *srv, const struct sockaddr *addr,
                           const char *endpoint, pc_err_t *err);
/* Serve an already connected stream socket (tests, fuzzing: a socketpair). */
int pc__http_server_adopt(pc_http_server_t *srv, uv_os_sock_t fd);
/* Stop accepting, let requests in progress finish until deadline_ms
 * (uv_now based), then close everything; done(arg) once every handle is
 * closed. Safe before listen and safe twice (each done is called). */
void pc__http_server_close(pc_http_server_t *srv, uint64_t deadline_ms,
                           pc_done_cb done, void *arg);

/* Answer the request handed to on_request; takes resp->body. */
void pc__http_respond(pc_http_conn_t *conn, pc_http_response_t *resp);
/* "ip:port" of the client, for logs ("?" when unknown). */
void pc__http_conn_peer(pc_http_conn_t *conn, char *buf, size_t n);
/* The reason phrase of a status code ("Payload Too Large"). */
const char *pc__http_reason(int status);

/* ---- the OTLP receiver without YAML ---------------------------------------- */

typedef struct {
  char *endpoint; /* "host:port" */
  uint64_t max_request_body_size;
  uint64_t max_buffered_bytes;
  bool include_metadata;
  char *profiles_url_path;
  char *traces_url_path;
  uint64_t idle_timeout;        /* ms */
  uint64_t read_header_timeout; /* ms */
  uint64_t read_body_timeout;   /* ms */
  uint64_t min_body_rate;       /* bytes per second */
  uint64_t write_timeout;       /* ms */
  int64_t max_connections;
  const pc_cfg_node_t *http; /* the protocols.http node, if any */
  const pc_cfg_node_t *grpc; /* the protocols.grpc node, if any */
} pc_otlp_settings_t;

/* Fill s with the defaults of the option table. */
void pc__otlp_defaults(pc_otlp_settings_t *s);
/* The receiver instance behind pc_receiver_otlp.create; strings in s are
 * copied. Returns NULL with err filled when a setting is invalid. */
void *pc__otlp_new(const pc_otlp_settings_t *s, const char *id, pc_consumer_t *next,
                   pc_err_t *err);
/* Its HTTP server (tests and fuzzing adopt sockets into it). */
pc_http_server_t *pc__otlp_server(void *self);

#endif
