/* grpc.c - OTLP/gRPC for the otlp receiver: an HTTP/2 server on the
 * receiver's libuv loop (libnghttp2's server session fed from uv_read, its
 * output drained with nghttp2_session_mem_send into one uv_write at a
 * time; with tls, both pass through httpd/tls.c and ALPN says h2),
 * serving the unary Export methods of ProfilesService and TraceService
 * (shared/spec/OTLP-PROFILES.md section 4).
 *
 * The one idea: memory follows the bytes that arrived, and three bounds
 * hold it. HTTP/2 flow control bounds a connection: a stream's window is
 * one message (max_recv_msg_size_mib plus its 5-byte prefix) and the
 * connection's window two of them; bytes are given back to the client
 * (WINDOW_UPDATE) only once the request holding them has been answered or
 * dropped, so reading never has to stop. The process's request memory
 * budget (core.h) bounds all connections and streams together: a message
 * buffer grows with the data received (never with what its prefix claims),
 * each growth taken from the budget first, and a stream the budget has no
 * room for is answered UNAVAILABLE and its memory returned. Time bounds a
 * stream: one that gets no data for keepalive.server_parameters.timeout is
 * reset (RST_STREAM CANCEL) and its memory returned, however lively the
 * rest of its connection; a connection that is silent altogether with a
 * request started is closed.
 *
 * A request is decided as in otlp.c, answered with gRPC statuses:
 *   OK                  taken (ExportProfilesServiceResponse; partial_success
 *                       when the decoder dropped profiles)
 *   INVALID_ARGUMENT    undecodable message or corrupt compression, bad framing
 *   RESOURCE_EXHAUSTED  a message over the limit, as sent or decompressed
 *   UNAVAILABLE         the pipeline is full (PC_EAGAIN; at HEADERS when known
 *                       full before the message comes), or request memory is:
 *                       retryable, with a google.rpc.RetryInfo in
 *                       grpc-status-details-bin (RESOURCE_EXHAUSTED when the
 *                       message could never fit the budget)
 *   UNIMPLEMENTED       unknown method or grpc-encoding
 *   DEADLINE_EXCEEDED   the call's grpc-timeout passed before the pipeline
 *                       took the request (it is not handed on)
 *   INTERNAL            a malformed grpc-timeout (as grpc-go answers), or any
 *                       other refusal of the pipeline
 * Errors are trailers-only answers; grpc-message is percent-encoded.
 *
 * When the last byte of a request arrives, the message is unframed on the
 * loop and handed to a decode job (decode.c, shared with OTLP/HTTP): small
 * ones are decoded on the loop, larger ones in libuv's thread pool, and the
 * pipeline is called back on the loop. */
#include <ctype.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grpc.h"

/* gRPC status codes (google.rpc.Code). */
enum {
  ST_OK = 0,
  ST_INVALID_ARGUMENT = 3,
  ST_DEADLINE_EXCEEDED = 4,
  ST_RESOURCE_EXHAUSTED = 8,
  ST_UNIMPLEMENTED = 12,
  ST_INTERNAL = 13,
  ST_UNAVAILABLE = 14,
  ST_UNAUTHENTICATED = 16,
};

#define MAX_CONNS 1024             /* fixed: accepted and closed beyond */
#define READ_BUF (64 * 1024)       /* one uv_read at a time per connection */
#define WRITE_CHUNK (64 * 1024)    /* gather frames up to this per uv_write */
#define MAX_HEADER_LIST (16 * 1024) /* SETTINGS_MAX_HEADER_LIST_SIZE */
#define MAX_METADATA (2 * MAX_HEADER_LIST) /* include_metadata, encoded: a guard behind it */
#define MAX_PING_STRIKES 2         /* grpc-go's maxPingStrikes */
#define FIRST_BODY_CAP (16 * 1024) /* a message buffer's first size; then it doubles */
#define ACCEPT_ENCODINGS "identity,gzip,deflate,zstd"

/* ---- options -------------------------------------------------------------- */

static const pc_opt_t server_params_opts[] = {
    PC_OPT_DUR("max_connection_idle", "0s", pc_grpc_settings_t, max_connection_idle, 0,
               86400000, "a connection without open streams this long gets GOAWAY (0: never)"),
    PC_OPT_DUR("max_connection_age", "0s", pc_grpc_settings_t, max_connection_age, 0,
               864000000, "a connection this old gets GOAWAY (0: never)"),
    PC_OPT_DUR("max_connection_age_grace", "0s", pc_grpc_settings_t, max_connection_age_grace,
               0, 864000000, "after a GOAWAY, streams get this long before the connection "
               "is closed (0: as long as they need)"),
    PC_OPT_DUR("time", "2h", pc_grpc_settings_t, keepalive_time, 0, 864000000,
               "a connection silent this long is sent a PING (0: never)"),
    PC_OPT_DUR("timeout", "20s", pc_grpc_settings_t, keepalive_timeout, 1, 86400000,
               "close when a PING, the HTTP/2 handshake or a started request gets no byte "
               "this long, or an answer is not taken by the client within it"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t enforcement_opts[] = {
    PC_OPT_DUR("min_time", "5m", pc_grpc_settings_t, min_time, 0, 864000000,
               "client PINGs closer together than this are strikes; after 2 strikes "
               "without an answer sent in between, GOAWAY ENHANCE_YOUR_CALM"),
    PC_OPT_BOOLEAN("permit_without_stream", "false", pc_grpc_settings_t,
                   permit_without_stream, "allow PINGs while no stream is open "
                   "(false: each one is a strike unless 2h apart)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t grpc_auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, pc_grpc_settings_t, authenticator,
               "id of a bearertokenauth extension: calls without its token get "
               "UNAUTHENTICATED"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t keepalive_opts[] = {
    PC_OPT_SECTION("server_parameters", server_params_opts, "keepalive of the server"),
    PC_OPT_SECTION("enforcement_policy", enforcement_opts, "what clients may do"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t tls_opts[] = {
    PC_SERVER_TLS_OPTS(pc_grpc_settings_t, tls),
    PC_OPT_TABLE_END,
};

const pc_opt_t pc__grpc_opts[] = {
    PC_OPT_ADDR("endpoint", "localhost:4317", pc_grpc_settings_t, endpoint,
                "host:port to listen on (\"0.0.0.0:4317\" for every interface)"),
    PC_OPT_STR("transport", "tcp", pc_grpc_settings_t, transport, "only \"tcp\""),
    PC_OPT_INT_RANGE("max_recv_msg_size_mib", "64", pc_grpc_settings_t, max_recv_msg_size_mib,
                     1, 2047, "largest message, both as sent and after decompression "
                     "(RESOURCE_EXHAUSTED beyond); also a stream's flow-control window"),
    PC_OPT_INT_RANGE("max_concurrent_streams", "100", pc_grpc_settings_t,
                     max_concurrent_streams, 1, 1000000,
                     "streams open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS)"),
    PC_OPT_BYTES("read_buffer_size", "512KiB", pc_grpc_settings_t, read_buffer_size, 0,
                 (int64_t)1 << 30, "accepted for Collector compatibility; reads are 64 KiB"),
    PC_OPT_BYTES("write_buffer_size", "0", pc_grpc_settings_t, write_buffer_size, 0,
                 (int64_t)1 << 30, "accepted for Collector compatibility; unused"),
    PC_OPT_BOOLEAN("include_metadata", "false", pc_grpc_settings_t, include_metadata,
                   "pass the call's metadata (keys lowercase, as gRPC has them) down the pipeline "
                   "as client metadata (the batch processor's metadata_keys read it)"),
    PC_OPT_SECTION("keepalive", keepalive_opts, "keepalive and its enforcement"),
    PC_OPT_SECTION("auth", grpc_auth_opts, "who may call"),
    PC_OPT_SECTION("tls", tls_opts, "serve gRPC over TLS (ALPN h2) instead of h2c"),
    PC_OPT_TABLE_END,
};

int pc__grpc_settings(const pc_cfg_node_t *node, pc_grpc_settings_t *s, pc_err_t *err) {
  const pc_cfg_node_t *auth = pc_cfg_get(pc_cfg_get(node, "auth"), "authenticator");
  *s = (pc_grpc_settings_t){0};
  if (node && node->type != PC_CFG_MAP && node->type != PC_CFG_NULL)
    return pc_cfg_error(err, node, PC_EINVAL, "must be a map of gRPC settings");
  if (pc_cfg_apply(pc__grpc_opts, node && node->type == PC_CFG_MAP ? node : NULL, s, err))
    return PC_EINVAL;
  if (strcmp(s->transport, "tcp") != 0)
    return pc_cfg_error(err, pc_cfg_get(node, "transport"), PC_EINVAL,
                        "transport \"%s\" is not supported: only \"tcp\"", s->transport);
  if (s->authenticator && !pc_id_has_type(s->authenticator, "bearertokenauth"))
    return pc_cfg_error(err, auth, PC_EINVAL, "\"%s\" is not a bearertokenauth extension, the "
                        "authenticator profcol's receivers take", s->authenticator);
  pc_ref_init(&s->auth_ref, s->authenticator, auth); /* found by resolve; the place is known now */
  return 0;
}

/* ---- types ------------------------------------------------------------------ */

typedef enum { ROUTE_NONE, ROUTE_PROFILES, ROUTE_TRACES } route_t;

typedef struct conn conn_t;
typedef struct stream stream_t;

struct stream {
  int32_t id;
  conn_t *c;
  stream_t *prev, *next; /* the connection's streams, freed with it */
  char path[160];        /* :path, truncated */
  size_t path_n;
  char enc[24];          /* grpc-encoding, truncated */
  size_t enc_n;
  char timeout[16];      /* grpc-timeout as sent, truncated (for messages) */
  size_t timeout_n;
  bool bad_timeout;      /* grpc-timeout present but malformed */
  bool has_deadline;     /* a well-formed grpc-timeout: */
  uint64_t deadline_ms;  /* uv_now at its HEADERS plus the timeout */
  bool post, grpc_ct, has_ct, long_header;
  bool authenticated;    /* the authenticator's header holds one of its tokens */
  bool auth_seen;        /* ... and was sent: a second value unauthenticates */
  pc_buf_t body;         /* the framed request, at most one message; its capacity
                          * is held in the request memory budget */
  size_t unconsumed;     /* received bytes not yet given back (WINDOW_UPDATE) */
  uint64_t last_data_ms; /* uv_now at its HEADERS or its last DATA */
  bool complete;         /* END_STREAM received */
  bool answered;         /* a response was submitted; later data is dropped */
  bool reset;            /* RST_STREAM submitted: it stalled */
  pc__rx_job_t *job;     /* in the thread pool, not yet answered */
  pc_buf_t out;          /* an OK answer's framed message */
  size_t out_off;
  pc_buf_t md;           /* include_metadata: the call's metadata (pc_md_encode form) */
  bool md_too_big;       /* ... passed MAX_METADATA: refused rather than cut */
};

typedef struct waiter {
  pc_done_cb done;
  void *arg;
  struct waiter *next;
} waiter_t;

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  pc_grpc_server_t *g;
  conn_t *prev, *next;
  pc_tls_t *tls; /* the server's TLS: this connection's session */
  nghttp2_session *ng;
  stream_t *streams;
  uint32_t n_streams, n_pending; /* open; open and not yet complete */
  pc_buf_t wbuf;                 /* bytes of the uv_write in flight */
  int handles;                   /* tcp + timer not yet closed */
  bool writing, closing, fatal, handshake, goaway, ping_out;
  int ping_strikes;
  uint64_t accepted_ms, last_read_ms, last_stream_ms, write_ms, ping_ms, goaway_ms,
      last_ping_recv_ms;
  char rbuf[READ_BUF];
};

struct pc_grpc_server {
  uv_tcp_t listener;
  uv_timer_t deadline;
  uv_loop_t *loop;
  pc_grpc_settings_t cfg; /* endpoint and authenticator owned */
  const pc_server_auth_t *auth; /* found by resolve; NULL: anyone may call */
  char auth_header[40];    /* its header, lowercase as HTTP/2 sends names */
  pc_tls_ctx_t *tls;      /* owned; NULL: cleartext (h2c) */
  char *log_id;
  pc_refusals_t refusals; /* calls answered other than OK, for the logs */
  pc_consumer_t *next;
  pc__rx_counters_t *rxc;
  pc_http_counters_t *hc;
  conn_t *conns;
  uint32_t n_conns;
  int port;
  int open_handles; /* listener and deadline timer not yet closed */
  bool listener_open, deadline_open, closing, closed;
  waiter_t *waiters;
  size_t max_msg;                /* bytes */
  uint32_t stream_win, conn_win; /* flow-control windows */
  uint64_t tick_ms;              /* connection timer period */
  pc__rx_pool_t jobs; /* decoding messages; closing waits for those in the pool */
};

static void conn_close(conn_t *c, const char *why);
static void conn_flush(conn_t *c);
static void server_maybe_closed(pc_grpc_server_t *g);
static void server_on_handle_close(uv_handle_t *h);

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* ---- answers ---------------------------------------------------------------- */

/* grpc-message: percent-encode everything outside printable ASCII and '%'. */
static size_t percent_encode(char *dst, size_t cap, const char *msg) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)msg; *p && o + 4 <= cap; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '%') {
      dst[o++] = (char)*p;
    } else {
      dst[o++] = '%';
      dst[o++] = hex[*p >> 4];
      dst[o++] = hex[*p & 15];
    }
  }
  return o;
}

static void put_varint(pc_buf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  if (pc_buf_append(b, tmp, n)) pc_oom();
}

static void put_field(pc_buf_t *b, uint32_t field, const void *p, size_t n) {
  put_varint(b, (uint64_t)field << 3 | 2);
  put_varint(b, n);
  if (pc_buf_append(b, p, n)) pc_oom();
}

/* google.rpc.Status {code, message, details: [Any(RetryInfo{retry_delay})]}
 * as grpc-status-details-bin (unpadded base64), for UNAVAILABLE. */
static void retry_details(int code, const char *msg, uint32_t delay_s, pc_buf_t *out) {
  pc_buf_t dur = {0}, info = {0}, any = {0}, st = {0};
  put_varint(&dur, 1 << 3 | 0); /* Duration.seconds */
  put_varint(&dur, delay_s);
  put_field(&info, 1, dur.p, dur.n); /* RetryInfo.retry_delay */
  static const char type[] = "type.googleapis.com/google.rpc.RetryInfo";
  put_field(&any, 1, type, sizeof type - 1);
  put_field(&any, 2, info.p, info.n);
  if (pc_encode_status(false, code, msg, &st)) pc_oom();
  put_field(&st, 3, any.p, any.n); /* Status.details: fields may be appended */
  if (pc_buf_reserve(out, pc_base64_encoded_len(st.n, false))) pc_oom();
  out->n += pc_base64_encode(st.p, st.n, false, (char *)out->p + out->n);
  pc_buf_free(&dur), pc_buf_free(&info), pc_buf_free(&any), pc_buf_free(&st);
}

#define NV(n, v, vl) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}

static void stream_answered(stream_t *st, int code) {
  conn_t *c = st->c;
  st->answered = true;
  c->ping_strikes = 0; /* as grpc-go: sending resets the strikes */
  PC__CNT_ADD(c->g->hc, requests, 1);
  if (code != ST_OK) PC__CNT_ADD(c->g->hc, requests_failed, 1);
}

static const char *status_name(int code) {
  switch (code) {
  case ST_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
  case ST_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
  case ST_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
  case ST_UNIMPLEMENTED: return "UNIMPLEMENTED";
  case ST_INTERNAL: return "INTERNAL";
  case ST_UNAVAILABLE: return "UNAVAILABLE";
  case ST_UNAUTHENTICATED: return "UNAUTHENTICATED";
  default: return "UNKNOWN";
  }
}

/* A trailers-only answer with grpc-status code and grpc-message. */
static void answer_error(stream_t *st, int code, uint32_t retry_s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void answer_error(stream_t *st, int code, uint32_t retry_s, const char *fmt, ...) {
  char msg[400], enc[1200], status[12];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t enc_n = percent_encode(enc, sizeof enc, msg);
  int status_n = snprintf(status, sizeof status, "%d", code);
  pc_buf_t details = {0};
  nghttp2_nv nva[] = {
      NV(":status", "200", 3),
      NV("content-type", "application/grpc", 16),
      NV("grpc-accept-encoding", ACCEPT_ENCODINGS, sizeof ACCEPT_ENCODINGS - 1),
      NV("grpc-status", status, (size_t)status_n),
      NV("grpc-message", enc, enc_n),
      NV("grpc-status-details-bin", "", 0),
  };
  size_t n = 5;
  if (retry_s) {
    retry_details(code, msg, retry_s, &details);
    nva[5].value = details.p;
    nva[5].valuelen = details.n;
    n = 6;
  }
  nghttp2_submit_response(st->c->ng, st->id, nva, n, NULL);
  pc_buf_free(&details);
  stream_answered(st, code);
  pc_grpc_server_t *g = st->c->g;
  char peer[80];
  pc_http_peer(&st->c->tcp, peer, sizeof peer);
  pc_refusals_note(&g->refusals, uv_now(g->loop), peer, status_name(code), msg);
}

/* An HTTP answer without gRPC (not POST, not application/grpc). */
static void answer_http(stream_t *st, const char *status) {
  nghttp2_nv nva[] = {NV(":status", status, strlen(status))};
  nghttp2_submit_response(st->c->ng, st->id, nva, 1, NULL);
  stream_answered(st, -1);
}

static ssize_t stream_on_read_out(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                                  uint32_t *flags, nghttp2_data_source *src, void *ud) {
  stream_t *st = src->ptr;
  size_t n = min_sz(len, st->out.n - st->out_off);
  memcpy(buf, st->out.p + st->out_off, n);
  st->out_off += n;
  if (st->out_off == st->out.n) {
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    nghttp2_nv trailers[] = {NV("grpc-status", "0", 1)};
    if (nghttp2_submit_trailer(ng, id, trailers, 1) != 0)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return (ssize_t)n;
}

/* OK with st->out (a framed message, possibly empty), then trailers. */
static void answer_ok(stream_t *st) {
  nghttp2_nv nva[] = {
      NV(":status", "200", 3),
      NV("content-type", "application/grpc", 16),
      NV("grpc-accept-encoding", ACCEPT_ENCODINGS, sizeof ACCEPT_ENCODINGS - 1),
  };
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = stream_on_read_out};
  nghttp2_submit_response(st->c->ng, st->id, nva, 3, &dp);
  stream_answered(st, ST_OK);
}

/* Free the message buffer and give its bytes back to the budget. */
static void stream_drop_body(stream_t *st) {
  pc_budget_give(st->c->g->jobs.budget, st->body.cap);
  pc_buf_free(&st->body);
}

/* Give the request's bytes back to the client's windows and drop them. */
static void stream_release(stream_t *st) {
  if (st->unconsumed) nghttp2_session_consume(st->c->ng, st->id, st->unconsumed);
  st->unconsumed = 0;
  stream_drop_body(st);
}

/* ---- the request ---------------------------------------------------------------- */

static route_t stream_route(const stream_t *st) {
  pc_str_t path = {(const uint8_t *)st->path, st->path_n};
  if (!st->long_header && pc_str_eq(path, PC_STR_LIT(PC_GRPC_PROFILES_PATH)))
    return ROUTE_PROFILES;
  if (!st->long_header && pc_str_eq(path, PC_STR_LIT(PC_GRPC_TRACES_PATH))) return ROUTE_TRACES;
  return ROUTE_NONE;
}

/* What the headers decide; true when the stream was answered. */
static bool stream_check_headers(stream_t *st, pc_encoding_t *enc) {
  pc_grpc_server_t *g = st->c->g;
  if (!st->post) {
    answer_http(st, "405");
    return true;
  }
  if (!st->grpc_ct) {
    answer_http(st, "415");
    return true;
  }
  route_t r = stream_route(st);
  if (r == ROUTE_NONE || (r == ROUTE_TRACES && !g->next->consume_traces)) {
    answer_error(st, ST_UNIMPLEMENTED, 0, "unknown method %.*s%s", (int)st->path_n, st->path,
                 r == ROUTE_TRACES ? " (no traces pipeline takes this receiver)" : "");
    return true;
  }
  *enc = PC_ENC_IDENTITY;
  pc_str_t name = {(const uint8_t *)st->enc, st->enc_n};
  bool known = pc_str_eq(name, PC_STR_LIT("identity")) || pc_str_eq(name, PC_STR_LIT("gzip")) ||
               pc_str_eq(name, PC_STR_LIT("deflate")) || pc_str_eq(name, PC_STR_LIT("zstd"));
  if (st->enc_n && (!known || pc_encoding_parse(name, enc) != 0)) {
    answer_error(st, ST_UNIMPLEMENTED, 0,
                 "grpc-encoding \"%.*s\" is not supported (supported: " ACCEPT_ENCODINGS ")",
                 (int)st->enc_n, st->enc);
    return true;
  }
  return false;
}

int pc__grpc_timeout_parse(const uint8_t *v, size_t n, uint64_t *ms) {
  if (n < 2 || n > 9) return PC_EINVAL;
  uint64_t x = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (v[i] < '0' || v[i] > '9') return PC_EINVAL;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  /* At most 99999999 hours: 3.6e14 ms, far from overflowing uv_now + ms.
   * Below a millisecond rounds up, so only a zero timeout is over at once. */
  switch (v[n - 1]) {
  case 'H': *ms = x * 3600000; return 0;
  case 'M': *ms = x * 60000; return 0;
  case 'S': *ms = x * 1000; return 0;
  case 'm': *ms = x; return 0;
  case 'u': *ms = (x + 999) / 1000; return 0;
  case 'n': *ms = (x + 999999) / 1000000; return 0;
  default: return PC_EINVAL;
  }
}

/* ---- the message ------------------------------------------------------------------- */

static size_t prefix_len(const uint8_t *b) {
  return (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
}

/* Seconds a client refused for now should wait (RetryInfo). */
static uint32_t retry_s(const pc_grpc_server_t *g) {
  return g->next->retry_after_s ? g->next->retry_after_s : 1;
}

/* The pipeline's refusal as a status. */
static void answer_refused(stream_t *st, int rc, const pc_err_t *err) {
  pc_grpc_server_t *g = st->c->g;
  const char *what = err->msg[0] ? err->msg : pc_strerror(rc);
  if (rc == PC_EAGAIN)
    answer_error(st, ST_UNAVAILABLE, retry_s(g), "pipeline is full, retry later: %s", what);
  else if (rc == PC_EDECODE || rc == PC_EINVAL)
    answer_error(st, ST_INVALID_ARGUMENT, 0, "%s", what);
  else
    answer_error(st, ST_INTERNAL, 0, "pipeline refused the request: %s", what);
}

static void frame_message(pc_buf_t *out, const pc_buf_t *msg) {
  uint8_t pre[5] = {0, (uint8_t)(msg->n >> 24), (uint8_t)(msg->n >> 16), (uint8_t)(msg->n >> 8),
                    (uint8_t)msg->n};
  if (pc_buf_append(out, pre, 5) || pc_buf_append(out, msg->p, msg->n)) pc_oom();
}

static void serve_traces(stream_t *st, pc_traces_t *tr) {
  pc_grpc_server_t *g = st->c->g;
  pc_err_t err = {0};
  pc_metadata_t md = {0}; /* views into st->md, which outlives the call */
  if (st->md.n && pc_md_decode(st->md.p, st->md.n, &md) == 0) tr->metadata = &md;
  uint64_t spans = pc_traces_span_count(tr);
  int rc = spans ? g->next->consume_traces(g->next, tr, &err) : 0;
  tr->metadata = NULL;
  free((void *)md.v);
  if (rc) PC__CNT_ADD(g->rxc, spans_refused, spans);
  else PC__CNT_ADD(g->rxc, spans_accepted, spans);
  if (rc) {
    answer_refused(st, rc, &err);
    return;
  }
  pc_buf_t empty = {0}; /* ExportTraceServiceResponse{} */
  frame_message(&st->out, &empty);
  answer_ok(st);
}

static void serve_profiles(stream_t *st, pc__rx_job_t *j) {
  pc_request_t *req = &j->req;
  pc_grpc_server_t *g = st->c->g;
  pc__rx_counters_t *cnt = g->rxc;
  uint64_t profiles = pc_request_profile_count(req), samples = pc_request_sample_count(req);
  pc_err_t err = {0};
  if (st->md_too_big) {
    answer_error(st, ST_RESOURCE_EXHAUSTED, 0, "request metadata exceeds %d KiB "
                 "(include_metadata keeps it all)", MAX_METADATA >> 10);
    return;
  }
  pc_metadata_t md = {0}; /* views into st->md, which outlives the call */
  if (st->md.n && pc_md_decode(st->md.p, st->md.n, &md) == 0) req->metadata = &md;
  char peer[64];
  req->client_addr = pc_http_peer_ip(&st->c->tcp, peer, sizeof peer);
  int rc = profiles ? pc__rx_job_consume(j, g->next, &err) : 0;
  req->metadata = NULL;
  req->client_addr = (pc_str_t){0};
  free((void *)md.v);
  if (rc) {
    PC__CNT_ADD(cnt, profiles_refused, profiles + req->rejected_profiles);
    PC__CNT_ADD(cnt, samples_refused, samples);
    answer_refused(st, rc, &err);
    return;
  }
  PC__CNT_ADD(cnt, profiles_accepted, profiles);
  PC__CNT_ADD(cnt, samples_accepted, samples);
  PC__CNT_ADD(cnt, profiles_refused, req->rejected_profiles);
  pc_buf_t msg = {0};
  if (pc_encode_export_response(false, (int64_t)req->rejected_profiles,
                                req->rejected_profiles ? req->reject_msg : NULL, &msg))
    pc_oom();
  frame_message(&st->out, &msg);
  pc_buf_free(&msg);
  answer_ok(st);
}

/* On the loop: the job's verdict, or the pipeline's, becomes the answer. */
static void job_finish(stream_t *st, pc__rx_job_t *j) {
  pc_grpc_server_t *g = st->c->g;
  const char *what = j->err.msg[0] ? j->err.msg : pc_strerror(j->rc);
  if (j->failed == PC__RX_FAILED_DECOMPRESS) {
    if (j->rc == PC_ELIMIT || j->rc == PC_ENOMEM)
      answer_error(st, ST_RESOURCE_EXHAUSTED, 0,
                   "message exceeds max_recv_msg_size_mib (%lld MiB) after %s decompression",
                   (long long)g->cfg.max_recv_msg_size_mib, pc_encoding_name(j->enc));
    else
      answer_error(st, ST_INVALID_ARGUMENT, 0, "cannot decompress the %s message: %s",
                   pc_encoding_name(j->enc), what);
    return;
  }
  if (j->failed == PC__RX_FAILED_BUDGET) {
    if (j->rc == PC_ELIMIT) /* retrying cannot help */
      answer_error(st, ST_RESOURCE_EXHAUSTED, 0, "message too large for this collector's "
                   "memory: %s", what);
    else
      answer_error(st, ST_UNAVAILABLE, retry_s(g), "too much request data in memory, retry "
                   "later: %s", what);
    return;
  }
  if (j->failed == PC__RX_FAILED_DECODE) {
    if (j->rc == PC_ENOMEM)
      answer_error(st, ST_RESOURCE_EXHAUSTED, 0, "%s: the decoded request needs more memory "
                   "than this receiver allows one message (%dx its decompressed size, at "
                   "least %zu MiB)", what, RX_ARENA_FACTOR, RX_ARENA_MIN >> 20);
    else
      answer_error(st, ST_INVALID_ARGUMENT, 0, "%s", what);
    return;
  }
  /* The client has stopped waiting and may be sending the data again:
   * taking it now would only make a duplicate downstream. */
  if (st->has_deadline && uv_now(g->loop) >= st->deadline_ms) {
    answer_error(st, ST_DEADLINE_EXCEEDED, 0,
                 "the call's deadline (grpc-timeout %.*s) passed before the request was taken",
                 (int)st->timeout_n, st->timeout);
    return;
  }
  PC__CNT_ADD(g->rxc, bytes_decompressed, j->payload_n);
  if (j->traces)
    serve_traces(st, &j->spans);
  else
    serve_profiles(st, j);
}

static void job_done(pc__rx_job_t *j, int status) {
  pc_grpc_server_t *g = container_of(j->pool, pc_grpc_server_t, jobs);
  stream_t *st = j->ud;
  if (st) {
    st->job = NULL;
    if (status < 0) /* cancelled: only when the loop is torn down */
      answer_error(st, ST_UNAVAILABLE, 1, "request cancelled while shutting down");
    else
      job_finish(st, j);
    stream_release(st);
    /* From the thread pool: write the answer now. On the loop this runs
     * inside nghttp2's callback, whose caller writes when it returns. */
    if (j->async) conn_flush(st->c);
  }
  pc__rx_job_put(j);
  server_maybe_closed(g);
}

/* The message's framing, checked on the loop: 0, or the stream was
 * answered. */
static int stream_unframe(stream_t *st, pc_encoding_t enc) {
  const uint8_t *b = st->body.p;
  size_t bn = st->body.n;
  if (bn < 5) {
    answer_error(st, ST_INVALID_ARGUMENT, 0, "%s", bn ? "truncated gRPC message prefix"
                                                      : "no request message");
    return -1;
  }
  size_t len = prefix_len(b);
  if (b[0] > 1 || bn != 5 + len) {
    answer_error(st, ST_INVALID_ARGUMENT, 0, "%s",
                 b[0] > 1 ? "bad gRPC compressed flag"
                 : bn < 5 + len ? "truncated gRPC message"
                                : "more than one message in a unary call");
    return -1;
  }
  if (b[0] == 1 && enc == PC_ENC_IDENTITY) {
    answer_error(st, ST_INTERNAL, 0, "compressed message without a grpc-encoding");
    return -1;
  }
  return 0;
}

/* END_STREAM: decide, and answer now or once the thread pool is done. */
static void stream_serve(stream_t *st) {
  pc_grpc_server_t *g = st->c->g;
  st->complete = true;
  st->c->n_pending--;
  pc_encoding_t enc;
  if (st->answered || stream_check_headers(st, &enc)) {
    stream_release(st);
    return;
  }
  /* At the request's end, like other answers not about the route: libcurl
   * 7.88 stalls when answered while it still sends. The body is dropped
   * undecoded. */
  if (g->auth && !st->authenticated) {
    answer_error(st, ST_UNAUTHENTICATED, 0, "unauthenticated: no, wrong or more than one %s "
                 "metadata value (auth.authenticator %s)", g->auth_header, g->cfg.authenticator);
    stream_release(st);
    return;
  }
  /* grpc-go refuses this at the HEADERS; here it waits for the request's
   * end, like every answer that is not about the route or the encoding:
   * answering while a client still sends trips some (libcurl 7.88 stalls). */
  if (st->bad_timeout) {
    answer_error(st, ST_INTERNAL, 0,
                 "malformed grpc-timeout \"%.*s\": want 1 to 8 digits and a unit (H, M, S, m, "
                 "u or n)", (int)st->timeout_n, st->timeout);
    stream_release(st);
    return;
  }
  if (stream_unframe(st, enc) != 0) {
    stream_release(st);
    return;
  }
  /* The body moves to the job with its share of the budget; its window is
   * given back once answered. */
  pc__rx_job_t *j = pc__rx_job_get(&g->jobs);
  pc__rx_job_own(j, &st->body);
  j->in = j->owned.p + 5;
  j->in_n = j->owned.n - 5;
  j->enc = j->owned.p[0] ? enc : PC_ENC_IDENTITY;
  j->traces = stream_route(st) == ROUTE_TRACES;
  j->ud = st;
  pc_metadata_t md = {0}; /* views into st->md, for the bodies' copy */
  if (st->md.n && !st->md_too_big && pc_md_decode(st->md.p, st->md.n, &md) == 0)
    pc__rx_job_bodies_for(j, g->next, &md);
  else
    pc__rx_job_bodies_for(j, g->next, NULL);
  free((void *)md.v);
  j->done = job_done;
  st->job = j;
  pc__rx_job_run(j);
}

/* At HEADERS: a pipeline known to be full would refuse the message after
 * it is received and decoded, so refuse the call now (an authenticated
 * one: others hear UNAUTHENTICATED at the end, and nothing about the
 * pipeline); true when answered. */
static bool stream_refuse_early(stream_t *st) {
  pc_grpc_server_t *g = st->c->g;
  pc_consumer_t *next = g->next;
  pc_err_t err = {0};
  if (stream_route(st) != ROUTE_PROFILES || (g->auth && !st->authenticated) || !next->full ||
      !next->full(next, &err))
    return false;
  PC__CNT_ADD(g->rxc, requests_refused_early, 1);
  answer_error(st, ST_UNAVAILABLE, retry_s(g), "pipeline is full, retry later: %s (refused at "
               "the headers, before the message was read)",
               err.msg[0] ? err.msg : pc_strerror(PC_EAGAIN));
  return true;
}

/* ---- nghttp2 callbacks ------------------------------------------------------------- */

static int ng_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  conn_t *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  stream_t *st = pc_xcalloc(1, sizeof *st);
  st->id = f->hd.stream_id;
  st->c = c;
  st->next = c->streams;
  if (c->streams) c->streams->prev = st;
  c->streams = st;
  c->n_streams++;
  c->n_pending++;
  st->last_data_ms = uv_now(c->g->loop);
  nghttp2_session_set_stream_user_data(ng, st->id, st);
  return 0;
}

static void copy_header(char *dst, size_t cap, size_t *n, const uint8_t *v, size_t vn,
                        bool *long_header) {
  if (vn > cap) *long_header = true;
  *n = min_sz(vn, cap);
  memcpy(dst, v, *n);
}

static bool starts_with(const uint8_t *v, size_t vn, const char *prefix) {
  size_t pn = strlen(prefix);
  return vn >= pn && memcmp(v, prefix, pn) == 0;
}

/* What gRPC servers hand applications as metadata: not the pseudo-headers
 * nor the transport's own (HTTP/2 names arrive lowercase). */
static bool is_metadata(pc_str_t k) {
  static const char *const transport[] = {"te", "content-type", "grpc-encoding",
                                          "grpc-accept-encoding", "grpc-timeout"};
  if (!k.n || k.p[0] == ':') return false;
  for (size_t i = 0; i < sizeof transport / sizeof transport[0]; i++)
    if (pc_str_eq(k, (pc_str_t){(const uint8_t *)transport[i], strlen(transport[i])}))
      return false;
  return true;
}

/* A metadata entry for the consumer. Cut metadata could name the wrong
 * tenant, so past the bound the call is refused instead. */
static void keep_metadata(stream_t *st, pc_str_t k, pc_str_t v) {
  if (st->md_too_big || st->md.n + 8 + k.n + v.n > MAX_METADATA) {
    st->md_too_big = true;
    return;
  }
  pc_md_pair_t pair = {k, v};
  if (pc_md_encode(&(pc_metadata_t){&pair, 1}, &st->md)) pc_oom();
}

static int ng_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                        size_t nn, const uint8_t *v, size_t vn, uint8_t flags, void *ud) {
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
  if (!st) return 0;
  pc_str_t k = {name, nn};
  if (pc_str_eq(k, PC_STR_LIT(":method"))) {
    st->post = pc_str_eq((pc_str_t){v, vn}, PC_STR_LIT("POST"));
  } else if (pc_str_eq(k, PC_STR_LIT(":path"))) {
    copy_header(st->path, sizeof st->path, &st->path_n, v, vn, &st->long_header);
  } else if (pc_str_eq(k, PC_STR_LIT("content-type"))) {
    /* application/grpc, application/grpc+proto, application/grpc;... */
    st->grpc_ct = starts_with(v, vn, "application/grpc") &&
                  (vn == 16 || v[16] == '+' || v[16] == ';');
  } else if (pc_str_eq(k, PC_STR_LIT("grpc-encoding"))) {
    bool ignored = false;
    copy_header(st->enc, sizeof st->enc, &st->enc_n, v, vn, &ignored);
    if (ignored) st->enc_n = sizeof st->enc; /* too long: surely unknown */
  } else if (pc_str_eq(k, PC_STR_LIT("grpc-timeout"))) {
    bool truncated = false;
    copy_header(st->timeout, sizeof st->timeout, &st->timeout_n, v, vn, &truncated);
    uint64_t ms = 0;
    st->bad_timeout = pc__grpc_timeout_parse(v, vn, &ms) != 0;
    st->has_deadline = !st->bad_timeout;
    st->deadline_ms = uv_now(st->c->g->loop) + ms;
  }
  pc_grpc_server_t *g = st->c->g;
  if (g->auth && pc_str_eq(k, (pc_str_t){(const uint8_t *)g->auth_header, strlen(g->auth_header)})) {
    /* One value: with two, neither is taken (HTTP answers 401 too). */
    st->authenticated = !st->auth_seen && g->auth->check(g->auth, (pc_str_t){v, vn});
    st->auth_seen = true;
  }
  if (g->cfg.include_metadata && is_metadata(k)) keep_metadata(st, k, (pc_str_t){v, vn});
  return 0;
}

/* The 5-byte prefix says the message is over a limit: say so at once
 * (true) and drop the rest of the stream as it comes. Past the request
 * memory budget's whole limit, the message could never be held, however
 * long the client waits: RESOURCE_EXHAUSTED too, not UNAVAILABLE. */
static bool stream_too_big(stream_t *st) {
  pc_grpc_server_t *g = st->c->g;
  if (st->body.n < 5) return false;
  size_t len = prefix_len(st->body.p);
  if (len > g->max_msg || st->body.n > 5 + g->max_msg) {
    answer_error(st, ST_RESOURCE_EXHAUSTED, 0, "message larger than max_recv_msg_size_mib "
                 "(%lld MiB)", (long long)g->cfg.max_recv_msg_size_mib);
    return true;
  }
  pc_budget_t *b = g->jobs.budget;
  uint64_t limit = b ? pc_budget_limit(b) : 0;
  if (limit && 5 + (uint64_t)len > limit) {
    pc_budget_refused(b, 5 + (uint64_t)len, g->log_id);
    answer_error(st, ST_RESOURCE_EXHAUSTED, 0, "a message of %zu bytes is more than this "
                 "collector holds of request data at once (%s: %llu bytes)", len,
                 b->key ? b->key : "its limit",
                 (unsigned long long)limit);
    return true;
  }
  return false;
}

/* Room for n more bytes of the message. The buffer grows with what
 * arrives: it doubles (from FIRST_BODY_CAP, so a large message costs a few
 * reallocs, not one per frame), but never past what its prefix says the
 * message holds, nor the limit; a prefix that claims much costs nothing
 * until the bytes come. Each growth is taken from the request memory
 * budget before it is allocated: false when the budget has no room. */
static bool body_room(stream_t *st, size_t n) {
  pc_grpc_server_t *g = st->c->g;
  pc_buf_t *b = &st->body;
  if (b->cap - b->n >= n) return true;
  size_t need = b->n + n, most = 5 + g->max_msg + 1;
  if (b->n >= 5 && 5 + prefix_len(b->p) < most) most = 5 + prefix_len(b->p);
  size_t cap = b->cap ? 2 * b->cap : FIRST_BODY_CAP;
  if (cap > most) cap = most;
  if (cap < need) cap = need;
  if (!pc_budget_take(g->jobs.budget, cap - b->cap)) {
    pc_budget_refused(g->jobs.budget, cap - b->cap, g->log_id);
    return false;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p) pc_oom();
  b->p = p;
  b->cap = cap;
  return true;
}

static int ng_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud) {
  stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
  if (st) st->last_data_ms = uv_now(st->c->g->loop);
  if (!st || st->answered) { /* dropped: give the window back at once */
    nghttp2_session_consume(ng, id, len);
    return 0;
  }
  pc_grpc_server_t *g = st->c->g;
  st->unconsumed += len;
  /* The stream window bounds it too; this keeps a lying client out. */
  size_t room = g->max_msg + 5 + 1 - min_sz(st->body.n, g->max_msg + 5 + 1);
  size_t take = min_sz(len, room);
  if (!body_room(st, take)) {
    pc_budget_t *b = g->jobs.budget;
    answer_error(st, ST_UNAVAILABLE, retry_s(g), "too much request data in memory, retry "
                 "later: %llu of %llu bytes held (%s)", (unsigned long long)pc_budget_held(b),
                 (unsigned long long)pc_budget_limit(b), b->key ? b->key : "its limit");
    stream_release(st);
    return 0;
  }
  memcpy(st->body.p + st->body.n, data, take);
  st->body.n += take;
  if (stream_too_big(st)) stream_release(st);
  return 0;
}

static void on_client_ping(conn_t *c) {
  pc_grpc_server_t *g = c->g;
  uint64_t now = uv_now(g->loop);
  uint64_t allowed = c->n_streams == 0 && !g->cfg.permit_without_stream
                         ? 2 * 3600 * 1000 /* grpc-go: 2h without streams */
                         : g->cfg.min_time;
  if (c->last_ping_recv_ms && now - c->last_ping_recv_ms < allowed) c->ping_strikes++;
  c->last_ping_recv_ms = now;
  if (c->ping_strikes > MAX_PING_STRIKES && !c->fatal) {
    static const char why[] = "too_many_pings";
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->ng),
                          NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)why, sizeof why - 1);
    c->fatal = true; /* closed once the GOAWAY is written */
    pc_log(g->log_id, PC_LOG_DEBUG, "gRPC client pings too often: GOAWAY ENHANCE_YOUR_CALM");
  }
}

static int ng_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  conn_t *c = ud;
  switch (f->hd.type) {
  case NGHTTP2_SETTINGS:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) c->handshake = true;
    return 0;
  case NGHTTP2_PING:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) on_client_ping(c);
    else c->ping_out = false;
    return 0;
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA: break;
  default: return 0;
  }
  stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
  if (!st || st->complete) return 0;
  pc_encoding_t enc;
  if (f->hd.type == NGHTTP2_HEADERS && !st->answered &&
      (stream_check_headers(st, &enc) || stream_refuse_early(st)))
    stream_release(st);
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) stream_serve(st);
  return 0;
}

static void stream_free(conn_t *c, stream_t *st) {
  if (st->prev) st->prev->next = st->next;
  else c->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  c->n_streams--;
  if (!st->complete) c->n_pending--;
  if (st->job) st->job->ud = NULL; /* its answer has nowhere to go */
  stream_drop_body(st);
  pc_buf_free(&st->out);
  pc_buf_free(&st->md);
  free(st);
}

static int ng_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  conn_t *c = ud;
  stream_t *st = nghttp2_session_get_stream_user_data(ng, id);
  if (!st) return 0;
  /* Reset before it was answered: the connection window still counts it. */
  if (st->unconsumed) nghttp2_session_consume_connection(ng, st->unconsumed);
  nghttp2_session_set_stream_user_data(ng, id, NULL);
  stream_free(c, st);
  c->last_stream_ms = uv_now(c->g->loop);
  return 0;
}

/* ---- connections ------------------------------------------------------------------------ */

/* Callbacks and options are shared by every session of every loop: set
 * once, then only read. */
static nghttp2_session_callbacks *ng_cbs;
static nghttp2_option *ng_opt;
static pthread_once_t ng_once = PTHREAD_ONCE_INIT;

static void ng_init(void) {
  if (nghttp2_session_callbacks_new(&ng_cbs) || nghttp2_option_new(&ng_opt)) pc_oom();
  nghttp2_session_callbacks_set_on_begin_headers_callback(ng_cbs, ng_on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(ng_cbs, ng_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(ng_cbs, ng_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(ng_cbs, ng_on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(ng_cbs, ng_on_stream_close);
  nghttp2_option_set_no_auto_window_update(ng_opt, 1);
}

static nghttp2_session *session_new(conn_t *c) {
  pthread_once(&ng_once, ng_init);
  nghttp2_session *ng;
  if (nghttp2_session_server_new2(&ng, ng_cbs, c, ng_opt)) pc_oom();
  pc_grpc_server_t *g = c->g;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)g->cfg.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, g->stream_win},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
  };
  if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 3) ||
      nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, (int32_t)g->conn_win))
    pc_oom();
  return ng;
}

static void server_maybe_closed(pc_grpc_server_t *g) {
  if (!g->closing || g->n_conns || g->jobs.n_running) return;
  if (g->deadline_open) {
    g->deadline_open = false;
    uv_close((uv_handle_t *)&g->deadline, server_on_handle_close);
  }
  if (g->open_handles || g->closed) return;
  g->closed = true;
  pc_refusals_flush(&g->refusals);
  while (g->waiters) {
    waiter_t *w = g->waiters;
    g->waiters = w->next;
    w->done(w->arg);
    free(w);
  }
}

static void conn_on_close(uv_handle_t *h) {
  conn_t *c = h->data;
  if (--c->handles) return;
  pc_grpc_server_t *g = c->g;
  while (c->streams) stream_free(c, c->streams);
  nghttp2_session_del(c->ng);
  pc_tls_free(c->tls);
  pc_buf_free(&c->wbuf);
  if (c->prev) c->prev->next = c->next;
  else g->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  g->n_conns--;
  atomic_fetch_sub_explicit(&g->hc->connections_open, 1, memory_order_relaxed);
  free(c);
  server_maybe_closed(g);
}

static void conn_close(conn_t *c, const char *why) {
  if (c->closing) return;
  c->closing = true;
  if (why) pc_log(c->g->log_id, PC_LOG_DEBUG, "closing a gRPC connection: %s", why);
  uv_close((uv_handle_t *)&c->tcp, conn_on_close);
  uv_close((uv_handle_t *)&c->timer, conn_on_close);
}

static void conn_on_write(uv_write_t *w, int status) {
  conn_t *c = container_of(w, conn_t, wr);
  c->writing = false;
  c->wbuf.n = 0;
  if (c->wbuf.cap > 4 * WRITE_CHUNK) pc_buf_free(&c->wbuf);
  if (status < 0) {
    conn_close(c, uv_strerror(status));
    return;
  }
  conn_flush(c);
}

/* Write what nghttp2 has to say, one uv_write at a time; close the
 * connection when the session is over. With TLS, nothing before the TLS
 * handshake is over (our SETTINGS wait for it). */
static void conn_flush(conn_t *c) {
  if (c->closing || c->writing || (c->tls && !pc_tls_ready(c->tls))) return;
  while (c->wbuf.n < WRITE_CHUNK) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->ng, &data);
    if (n < 0) {
      conn_close(c, nghttp2_strerror((int)n));
      return;
    }
    if (n == 0) break;
    if (pc_buf_append(&c->wbuf, data, (size_t)n)) pc_oom();
  }
  if (c->wbuf.n) {
    uv_buf_t b = uv_buf_init((char *)c->wbuf.p, (unsigned)c->wbuf.n);
    c->write_ms = uv_now(c->g->loop);
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    int rc = c->tls ? pc_tls_write(c->tls, &c->wr, s, &b, 1, conn_on_write)
                    : uv_write(&c->wr, s, &b, 1, conn_on_write);
    if (rc) conn_close(c, uv_strerror(rc));
    else c->writing = true;
    return;
  }
  if (c->fatal) conn_close(c, "protocol error");
  else if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
    conn_close(c, NULL);
}

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

/* Plaintext to nghttp2; a protocol error makes the connection fatal. */
static void conn_recv(conn_t *c, const uint8_t *p, size_t n) {
  ssize_t rv = nghttp2_session_mem_recv(c->ng, p, n);
  if (rv < 0) {
    pc_log(c->g->log_id, PC_LOG_DEBUG, "bad HTTP/2 from a gRPC client: %s",
           nghttp2_strerror((int)rv));
    c->fatal = true; /* write what nghttp2 queued (GOAWAY), then close */
  }
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = container_of(s, conn_t, tcp);
  if (n < 0) {
    conn_close(c, n == UV_EOF ? NULL : uv_strerror((int)n));
    return;
  }
  if (n == 0 || c->fatal) return;
  c->last_read_ms = uv_now(c->g->loop);
  c->ping_out = false; /* any byte shows the peer is alive */
  PC__CNT_ADD(c->g->hc, bytes_in, n);
  if (!c->tls) {
    conn_recv(c, (const uint8_t *)buf->base, (size_t)n);
  } else {
    /* Ciphertext into the session, plaintext back into rbuf, to nghttp2. */
    pc_tls_feed(c->tls, buf->base, (size_t)n);
    while (!c->fatal && !c->closing) {
      ssize_t m = pc_tls_read(c->tls, s, c->rbuf, sizeof c->rbuf);
      if (m == 0) break;
      if (m == UV_EOF) {
        conn_close(c, NULL);
        return;
      }
      if (m < 0) {
        PC__CNT_ADD(c->g->hc, tls_failed, 1);
        pc_tls_log_failure(c->g->tls, c->g->log_id, &c->tcp, c->tls);
        conn_close(c, NULL);
        return;
      }
      conn_recv(c, (const uint8_t *)c->rbuf, (size_t)m);
    }
  }
  conn_flush(c);
}

static void conn_goaway(conn_t *c, const char *why) {
  if (c->goaway) return;
  c->goaway = true;
  c->goaway_ms = uv_now(c->g->loop);
  pc_log(c->g->log_id, PC_LOG_DEBUG, "GOAWAY to a gRPC client: %s", why);
  nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                        NGHTTP2_NO_ERROR, NULL, 0);
}

/* Why a connection must go now, or NULL. */
static const char *conn_expired(conn_t *c, uint64_t now) {
  const pc_grpc_settings_t *s = &c->g->cfg;
  uint64_t to = s->keepalive_timeout;
  if (c->writing && now - c->write_ms >= to) return "the client does not take its answers";
  if (!c->handshake && now - c->accepted_ms >= to)
    return c->tls && !pc_tls_ready(c->tls) ? "no TLS handshake in time"
                                           : "no HTTP/2 handshake in time";
  if (c->n_pending && now - c->last_read_ms >= to) return "a started request stalled";
  if (c->ping_out && now - c->ping_ms >= to) return "keepalive PING unanswered";
  if (c->goaway && s->max_connection_age_grace && now - c->goaway_ms >= s->max_connection_age_grace)
    return "max_connection_age_grace is over";
  return NULL;
}

/* Reset the streams that got no data for the timeout while the rest of the
 * connection kept it alive (a client that holds windows full and sends a
 * WINDOW_UPDATE now and then): their memory goes back at once, and their
 * slot too. A stream answered early whose client neither finishes nor
 * sends is reset the same way. */
static void conn_reset_stalled(conn_t *c, uint64_t now) {
  uint64_t to = c->g->cfg.keepalive_timeout;
  for (stream_t *st = c->streams; st; st = st->next) {
    if (st->complete || st->reset || now - st->last_data_ms < to) continue;
    st->reset = true;
    if (!st->answered) {
      pc_log(c->g->log_id, PC_LOG_DEBUG, "reset a gRPC stream that got no data for %llu ms "
             "(%zu bytes of its message held)", (unsigned long long)(now - st->last_data_ms),
             st->body.n);
      st->answered = true; /* later data is dropped */
      PC__CNT_ADD(c->g->hc, requests, 1);
      PC__CNT_ADD(c->g->hc, requests_failed, 1);
      stream_release(st);
    }
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  }
}

static void conn_on_tick(uv_timer_t *t) {
  conn_t *c = container_of(t, conn_t, timer);
  const pc_grpc_settings_t *s = &c->g->cfg;
  uint64_t now = uv_now(c->g->loop);
  const char *why = conn_expired(c, now);
  if (why) {
    if (c->tls && !pc_tls_ready(c->tls)) PC__CNT_ADD(c->g->hc, tls_failed, 1);
    conn_close(c, why);
    return;
  }
  if (c->n_pending) conn_reset_stalled(c, now);
  if (s->max_connection_idle && !c->n_streams && now - c->last_stream_ms >= s->max_connection_idle)
    conn_goaway(c, "max_connection_idle");
  if (s->max_connection_age && now - c->accepted_ms >= s->max_connection_age)
    conn_goaway(c, "max_connection_age");
  if (s->keepalive_time && !c->ping_out && now - c->last_read_ms >= s->keepalive_time) {
    nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL);
    c->ping_out = true;
    c->ping_ms = now;
  }
  conn_flush(c);
}

static conn_t *conn_new(pc_grpc_server_t *g) {
  conn_t *c = pc_xcalloc(1, sizeof *c);
  c->g = g;
  uv_tcp_init(g->loop, &c->tcp);
  uv_timer_init(g->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  c->next = g->conns;
  if (g->conns) g->conns->prev = c;
  g->conns = c;
  g->n_conns++;
  atomic_fetch_add_explicit(&g->hc->connections_open, 1, memory_order_relaxed);
  c->accepted_ms = c->last_read_ms = c->last_stream_ms = uv_now(g->loop);
  c->ng = session_new(c);
  if (g->tls) c->tls = pc_tls_new(g->tls); /* NULL: closed in conn_serve */
  return c;
}

static void conn_serve(conn_t *c) {
  pc_grpc_server_t *g = c->g;
  PC__CNT_ADD(g->hc, connections_total, 1);
  if (g->tls && !c->tls) {
    conn_close(c, "out of memory for a TLS session");
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_start(&c->timer, conn_on_tick, g->tick_ms, g->tick_ms);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
  if (rc) {
    conn_close(c, uv_strerror(rc));
    return;
  }
  conn_flush(c); /* our SETTINGS */
}

static void server_on_connection(uv_stream_t *l, int status) {
  pc_grpc_server_t *g = container_of(l, pc_grpc_server_t, listener);
  if (status < 0) pc_accept_failed(g->log_id, status);
  if (status < 0 || g->closing) return;
  conn_t *c = conn_new(g);
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
      pc_accept_fd_short(g->log_id, &c->tcp, g->n_conns - 1)) {
    conn_close(c, NULL);
    return;
  }
  if (g->n_conns > MAX_CONNS) {
    PC__CNT_ADD(g->hc, connections_refused, 1);
    conn_close(c, "too many gRPC connections");
    return;
  }
  conn_serve(c);
}

/* ---- server ------------------------------------------------------------------------------- */

pc_grpc_server_t *pc__grpc_new(const pc_grpc_settings_t *s, const char *log_id,
                               pc_consumer_t *next, pc__rx_counters_t *rxc,
                               pc_http_counters_t *hc, pc_tls_ctx_t *tls) {
  pc_grpc_server_t *g = pc_xcalloc(1, sizeof *g);
  g->cfg = *s;
  g->cfg.tls = (pc_tls_files_t){0}; /* the config tree may go away */
  g->tls = tls;
  g->cfg.endpoint = pc_xstrdup(s->endpoint);
  g->cfg.authenticator = s->authenticator ? pc_xstrdup(s->authenticator) : NULL;
  g->cfg.transport = NULL;
  g->log_id = pc_xstrdup(log_id);
  g->refusals.id = g->log_id;
  g->next = next;
  g->rxc = rxc;
  g->hc = hc;
  g->max_msg = (size_t)s->max_recv_msg_size_mib << 20;
  g->stream_win = (uint32_t)(g->max_msg + 5);
  uint64_t cw = 2 * (uint64_t)g->stream_win;
  g->conn_win = cw > NGHTTP2_MAX_WINDOW_SIZE ? NGHTTP2_MAX_WINDOW_SIZE : (uint32_t)cw;
  /* The timer looks four times per shortest timeout, at most once a second. */
  uint64_t shortest = s->keepalive_timeout;
  uint64_t others[] = {s->max_connection_idle, s->max_connection_age,
                       s->max_connection_age_grace, s->keepalive_time};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    if (others[i] && others[i] < shortest) shortest = others[i];
  g->tick_ms = shortest / 4 < 10 ? 10 : shortest / 4 > 1000 ? 1000 : shortest / 4;
  pc__rx_pool_init(&g->jobs, g->max_msg, pc_request_budget(), g->log_id);
  return g;
}

int pc__grpc_resolve(pc_grpc_server_t *g, const pc_host_t *host, pc_err_t *err) {
  if (!pc_ref_set(&g->cfg.auth_ref)) return 0;
  if (!(g->auth = pc_host_find(host, &g->cfg.auth_ref, PC_ROLE_SERVER_AUTH, err)))
    return err->code;
  const char *h = g->auth->header;
  size_t i = 0;
  for (; h[i] && i + 1 < sizeof g->auth_header; i++)
    g->auth_header[i] = (char)tolower((unsigned char)h[i]);
  g->auth_header[i] = 0;
  return 0;
}

int pc__grpc_listen(pc_grpc_server_t *g, uv_loop_t *loop, pc_err_t *err) {
  g->loop = g->jobs.loop = loop;
  if (pc_ref_set(&g->cfg.auth_ref) && !g->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &g->cfg.auth_ref, PC_ROLE_SERVER_AUTH, err);
    return err->code;
  }
  struct sockaddr_storage ss;
  int rc = pc_http_endpoint_addr(loop, "protocols.grpc", g->cfg.endpoint, &ss, err);
  if (rc) return rc;
  uv_tcp_init(loop, &g->listener);
  g->listener_open = true;
  g->open_handles++;
  int fd = -1;
  rc = pc_listen_acquire(g->log_id, (struct sockaddr *)&ss, 511, &fd);
  if (!rc && (rc = uv_tcp_open(&g->listener, fd)) != 0) {
    pc_listen_release(fd);
    close(fd);
  }
  if (!rc) rc = uv_listen((uv_stream_t *)&g->listener, 511, server_on_connection);
  if (rc)
    return pc_err_set(err, PC_EIO, "cannot listen for OTLP/gRPC on %s: %s (%s)",
                      g->cfg.endpoint, uv_strerror(rc), uv_err_name(rc));
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&g->listener, (struct sockaddr *)&bound, &len);
  g->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
  pc_log(g->log_id, PC_LOG_INFO,
         "listening for OTLP/gRPC on %s (port %d)%s: max_recv_msg_size_mib %lld, "
         "max_concurrent_streams %lld", g->cfg.endpoint, g->port, g->tls ? " over TLS" : "",
         (long long)g->cfg.max_recv_msg_size_mib, (long long)g->cfg.max_concurrent_streams);
  return 0;
}

int pc__grpc_adopt(pc_grpc_server_t *g, uv_loop_t *loop, uv_os_sock_t fd) {
  g->loop = g->jobs.loop = loop;
  conn_t *c = conn_new(g);
  int rc = uv_tcp_open(&c->tcp, fd);
  if (rc) {
    conn_close(c, NULL);
    return rc;
  }
  conn_serve(c);
  return 0;
}

void pc__grpc_drop_spares(pc_grpc_server_t *g) { pc__rx_pool_free(&g->jobs); }

uint64_t pc__grpc_spare_held(const pc_grpc_server_t *g) { return pc__rx_pool_held(&g->jobs); }

int pc__grpc_port(const pc_grpc_server_t *g) {
  return g && g->listener_open && !g->closing ? g->port : 0;
}

static void server_on_handle_close(uv_handle_t *h) {
  pc_grpc_server_t *g = h->data;
  g->open_handles--;
  server_maybe_closed(g);
}

static void server_on_deadline(uv_timer_t *t) {
  pc_grpc_server_t *g = container_of(t, pc_grpc_server_t, deadline);
  for (conn_t *c = g->conns; c; c = c->next) conn_close(c, "shutdown deadline");
}

void pc__grpc_close(pc_grpc_server_t *g, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  if (g->closed || !g->loop) {
    g->closed = g->closing = true;
    done(arg);
    return;
  }
  waiter_t *w = pc_xmalloc(sizeof *w);
  *w = (waiter_t){done, arg, g->waiters};
  g->waiters = w;
  if (g->closing) return;
  g->closing = true;
  if (g->listener_open) {
    g->listener.data = g;
    pc_listen_close(&g->listener, server_on_handle_close);
  }
  if (g->n_conns) {
    uint64_t now = uv_now(g->loop);
    uv_timer_init(g->loop, &g->deadline);
    g->deadline.data = g;
    g->deadline_open = true;
    g->open_handles++;
    uv_timer_start(&g->deadline, server_on_deadline, deadline_ms > now ? deadline_ms - now : 0,
                   0);
  }
  for (conn_t *c = g->conns, *next; c; c = next) {
    next = c->next;
    conn_goaway(c, "shutdown");
    conn_flush(c);
  }
  server_maybe_closed(g);
}

void pc__grpc_free(pc_grpc_server_t *g) {
  if (!g) return;
  pc__rx_pool_free(&g->jobs);
  pc_tls_ctx_free(g->tls);
  free(g->cfg.endpoint);
  free(g->cfg.authenticator);
  free(g->log_id);
  free(g);
}
