/* pprof_server.c - the pprof receiver's server mode: profiles pushed over
 * HTTP (httpd/), each handed to a conversion job (pprof.c) and answered
 * once the pipeline took it or refused it.
 *
 *   POST /v1/pprof        a pprof body (gzip'd or not; Content-Encoding
 *                         gzip, deflate or zstd too), as the Collector
 *                         contrib's server takes it: 204 when taken
 *   POST /ingest          the Pyroscope SDKs' push API (pyroscope.c):
 *   POST /pyroscope/ingest  the pprof in the body (format=pprof) or in the
 *                         "profile" part of a multipart form (what the Go
 *                         and .NET SDKs send); name{labels} becomes the
 *                         resource (service.name and one attribute per
 *                         label), from/until the profile's time and
 *                         duration and sampleRate its period where the
 *                         profile has none: 200 when taken, as the SDKs
 *                         check for
 *
 * Answers: 400 a bad query, form or pprof body (/v1/pprof; /ingest answers
 * a body that is not pprof with 422, as Pyroscope does), 401 without the
 * authenticator's token, 404 another path, 405 not POST, 413 a body past
 * max_request_body_size as sent or inflated, 415 an unknown encoding or a
 * Pyroscope format other than pprof, 503 with Retry-After when the
 * pipeline is full, 500 when it refuses otherwise. Bodies are text/plain.
 *
 * The body stays in the connection's buffer until the answer (httpd's
 * contract), so a job views it without a copy; everything decided from
 * the headers is decided before the body is read. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "pprofrx.h"

#define MAX_HEADER_BYTES (64 * 1024)
#define LINGER_MS 2000

typedef enum { ROUTE_PUSH, ROUTE_INGEST } route_t;

struct pc__prx_server {
  pc__prx_t *rx;
  char *endpoint;
  bool pyroscope, include_metadata;
  uint64_t max_body;
  pc_http_limits_t limits;
  pc_http_server_t http;
  pc_http_counters_t http_counters;
  pc_tls_ctx_t *tls;
  char *authenticator;
  pc_ref_t auth_ref;
  const pc_server_auth_t *auth;
  uv_loop_t *loop;
  pc__prx_counters_t cnt;
  pc_ratelimit_t rl_warn;
  bool closed;
};

static void answer(pc_http_response_t *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer(pc_http_response_t *resp, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_buf_free(&resp->body);
  resp->status = status;
  resp->content_type = "text/plain; charset=utf-8";
  snprintf(resp->reason, sizeof resp->reason, "%.255s", msg);
  if (pc_buf_append(&resp->body, msg, strlen(msg)) || pc_buf_append(&resp->body, "\n", 1))
    pc_oom();
}

/* Client text made safe for messages: printable ASCII, bounded. */
static void printable(char *dst, size_t n, pc_str_t s) {
  size_t o = 0, i = 0;
  for (; i < s.n && o + 4 < n; i++)
    dst[o++] = s.p[i] >= 0x20 && s.p[i] < 0x7f && s.p[i] != '"' ? (char)s.p[i] : '?';
  if (i < s.n) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = 0;
}

/* ---- routing: decided from the headers ----------------------------------------------- */

static bool path_is(pc_str_t p, const char *want) {
  return pc_str_eq(p, (pc_str_t){(const uint8_t *)want, strlen(want)});
}

static int route(pc__prx_server_t *s, const pc_http_request_t *r, route_t *out,
                 pc_encoding_t *enc, pc_http_response_t *resp) {
  if (s->auth && (r->auth_n > 1 || !s->auth->check(s->auth, r->auth))) {
    answer(resp, 401, "unauthenticated: %s %s header (auth.authenticator %s)",
           r->auth_n > 1 ? "more than one" : r->auth.n ? "wrong" : "no", s->auth->header,
           s->authenticator);
    if (s->auth->scheme[0] &&
        pc_buf_printf(&resp->headers, "WWW-Authenticate: %s\r\n", s->auth->scheme))
      pc_oom();
    return 401;
  }
  if (path_is(r->path, PC__PRX_PUSH_PATH)) {
    *out = ROUTE_PUSH;
  } else if (s->pyroscope && (path_is(r->path, "/ingest") ||
                              path_is(r->path, "/pyroscope/ingest"))) {
    *out = ROUTE_INGEST;
  } else {
    char shown[128];
    printable(shown, sizeof shown, r->path);
    answer(resp, 404, "no pprof endpoint at \"%s\"; profiles are taken at POST %s%s", shown,
           PC__PRX_PUSH_PATH, s->pyroscope ? " and POST /ingest (Pyroscope SDKs)" : "");
    return 404;
  }
  if (r->method != HTTP_POST) {
    answer(resp, 405, "method %s is not allowed on %s; use POST",
           llhttp_method_name((llhttp_method_t)r->method),
           *out == ROUTE_PUSH ? PC__PRX_PUSH_PATH : "/ingest");
    resp->allow = "POST";
    return 405;
  }
  *enc = PC_ENC_IDENTITY;
  if (r->content_encoding.n && pc_encoding_parse(r->content_encoding, enc) != 0) {
    char shown[64];
    printable(shown, sizeof shown, r->content_encoding);
    answer(resp, 415, "unsupported Content-Encoding \"%s\"; use gzip, deflate, zstd or "
           "identity", shown);
    return 415;
  }
  return 0;
}

static int srv_on_headers(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  route_t rt;
  pc_encoding_t enc;
  return route(ud, r, &rt, &enc, resp);
}

static void srv_error_body(void *ud, const pc_http_request_t *r, const char *msg,
                           pc_http_response_t *resp) {
  (void)ud;
  (void)r;
  answer(resp, resp->status, "%s", msg);
}

/* ---- answers after the job ----------------------------------------------------------- */

static void warn(pc__prx_server_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(pc__prx_server_t *s, const char *fmt, ...) {
  uint64_t skipped;
  if (!pc_ratelimit(&s->rl_warn, 10000, &skipped)) return;
  char msg[512], sup[48];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_log(s->rx->log_id, PC_LOG_WARN, "%s%s", msg, pc_suppressed(skipped, sup));
}

/* A failed job's answer; bad_status is what a body that is not pprof gets. */
static void answer_failed(pc__prx_server_t *s, pc__prx_job_t *j, int bad_status,
                          pc_http_response_t *resp) {
  const char *why = pc__prx_job_why(j);
  switch (j->failed) {
  case PC__PRX_FAILED_DECOMPRESS:
  case PC__PRX_FAILED_UNPACK:
    s->cnt.failed[j->rc == PC_ELIMIT ? PC__PRX_TOO_LARGE : PC__PRX_BAD_PAYLOAD]++;
    if (j->rc == PC_ELIMIT)
      answer(resp, 413, "the profile exceeds max_request_body_size (%" PRIu64 " bytes) after "
             "decompression", s->max_body);
    else if (j->rc == PC_ENOMEM)
      answer(resp, 503, "out of memory decompressing the profile; retry later");
    else
      answer(resp, 400, "cannot decompress the body: %s", why);
    return;
  case PC__PRX_FAILED_FORM:
    s->cnt.failed[PC__PRX_BAD_PAYLOAD]++;
    answer(resp, 400, "bad multipart form: %s", why);
    return;
  case PC__PRX_FAILED_DECODE:
    s->cnt.failed[PC__PRX_BAD_PAYLOAD]++;
    answer(resp, j->rc == PC_ENOMEM ? 413 : bad_status, "not a pprof profile: %s", why);
    return;
  case PC__PRX_FAILED_CONSUME:
    s->cnt.failed[PC__PRX_REFUSED]++;
    if (j->rc == PC_EAGAIN) {
      answer(resp, 503, "pipeline is full, retry later: %s", why);
      resp->retry_after_s = s->rx->next->retry_after_s ? s->rx->next->retry_after_s : 1;
    } else if (j->rc == PC_EINVAL || j->rc == PC_EDECODE) {
      answer(resp, 400, "%s", why);
    } else {
      answer(resp, 500, "pipeline refused the profile: %s", why);
      warn(s, "pipeline refused a pushed profile of %" PRIu64 " profiles: %s (%s)",
           j->profiles, why, pc_err_name(j->rc));
    }
    return;
  case PC__PRX_OK: break;
  }
}

static void on_push_done(pc__prx_job_t *j, void *origin) {
  pc__prx_server_t *s = j->rx->server;
  pc_http_response_t resp = {0};
  if (j->failed == PC__PRX_OK) resp.status = 204; /* the contrib's answer */
  else answer_failed(s, j, 400, &resp);
  pc__prx_job_put(j);
  pc_http_respond(origin, &resp);
}

static void on_ingest_done(pc__prx_job_t *j, void *origin) {
  pc__prx_server_t *s = j->rx->server;
  pc_http_response_t resp = {0};
  if (j->failed == PC__PRX_OK) resp.status = 200; /* the SDKs want exactly 200 */
  else answer_failed(s, j, 422, &resp);
  pc__prx_job_put(j);
  pc_http_respond(origin, &resp);
}

/* ---- /ingest ------------------------------------------------------------------------- */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Set key (a view) to value, replacing an attribute of the same key. */
static void set_attr(pc__prx_job_t *j, pc_str_t key, pc_str_t value) {
  for (uint32_t i = 0; i < j->n_attrs; i++)
    if (pc_str_eq(j->attrs[i].key, key)) {
      j->attrs[i].value.u.s = value;
      return;
    }
  if (j->n_attrs == PC__PRX_MAX_ATTRS) return;
  j->attrs[j->n_attrs++] = (pc_keyvalue_t){
      .key = key, .has_value = true, .value = {.type = PC_AV_STRING, .u.s = value}};
}

/* The query and form of an /ingest request into j; 0, or an answer's
 * status with resp filled. */
static int ingest_prepare(pc__prx_server_t *s, const pc_http_request_t *r, pc__prx_job_t *j,
                          pc_http_response_t *resp) {
  const uint8_t *q = r->url.n ? memchr(r->url.p, '?', r->url.n) : NULL;
  pc_str_t query = q ? (pc_str_t){q + 1, (size_t)(r->url.p + r->url.n - q - 1)} : (pc_str_t){0};
  if (pc_buf_reserve(&j->text, query.n + 1) != 0) pc_oom();
  pc__pyro_query_t pq;
  char why[256];
  if (pc__pyro_parse_query(query, j->text.p, now_ns(), &pq, why, sizeof why) != 0) {
    answer(resp, 400, "bad /ingest query: %s", why);
    return 400;
  }
  if (pq.format.n && !pc_str_eq(pq.format, PC_STR_LIT("pprof"))) {
    char shown[48];
    printable(shown, sizeof shown, pq.format);
    answer(resp, 415, "format \"%s\" is not taken here: profcol takes pprof bodies "
           "(format=pprof, or a multipart form with a \"profile\" part, as the Go and .NET "
           "SDKs send)", shown);
    return 415;
  }
  pc_str_t app = pq.app;
  set_attr(j, PC_STR_LIT("service.name"), app);
  for (uint32_t i = 0; i < pq.n_labels; i++) {
    pc_str_t k = pq.keys[i];
    if (k.n >= 2 && k.p[0] == '_' && k.p[1] == '_') continue; /* Pyroscope's own */
    set_attr(j, pc_str_eq(k, PC_STR_LIT("service_name")) ? PC_STR_LIT("service.name") : k,
             pq.values[i]);
  }
  if (pq.spy_name.n) set_attr(j, PC_STR_LIT("pyroscope.spy_name"), pq.spy_name);
  j->fix.time_ns = pq.from_ns;
  if (pq.from_ns > 0 && pq.until_ns > pq.from_ns) j->fix.duration_ns = pq.until_ns - pq.from_ns;
  if (pq.sample_rate) j->fix.period_ns = 1000000000 / (int64_t)pq.sample_rate;
  if (pc__pyro_is_multipart(r->content_type)) j->form_ct = r->content_type;
  return 0;
}

/* ---- requests ------------------------------------------------------------------------ */

static void srv_on_request(void *ud, pc_http_conn_t *conn, const pc_http_request_t *r) {
  pc__prx_server_t *s = ud;
  pc_http_response_t resp = {0};
  route_t rt;
  pc_encoding_t enc;
  if (route(s, r, &rt, &enc, &resp) != 0) {
    pc_http_respond(conn, &resp);
    return;
  }
  pc__prx_job_t *j = pc__prx_job_get(s->rx);
  if (rt == ROUTE_INGEST && ingest_prepare(s, r, j, &resp) != 0) {
    pc__prx_job_put(j);
    pc_http_respond(conn, &resp);
    return;
  }
  if (r->body_n == 0 && !j->form_ct.n) {
    pc__prx_job_put(j);
    answer(&resp, 400, "the body is empty: POST a pprof profile");
    pc_http_respond(conn, &resp);
    return;
  }
  s->cnt.attempts++;
  j->in = r->body;
  j->in_n = r->body_n;
  j->enc = enc;
  j->limit = (size_t)s->max_body;
  j->scope_name = rt == ROUTE_PUSH ? "profcol/receiver/pprof/server"
                                   : "profcol/receiver/pprof/ingest";
  j->md = s->include_metadata ? &r->headers : NULL;
  j->cnt = &s->cnt;
  j->done = rt == ROUTE_PUSH ? on_push_done : on_ingest_done;
  j->origin = conn;
  pc__prx_job_run(j);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

pc__prx_server_t *pc__prx_server_new(pc__prx_t *rx, const pc__prx_server_cfg_t *cfg,
                                     pc_err_t *err) {
  char host[256];
  int port;
  if (pc_http_split_endpoint(cfg->endpoint, host, sizeof host, &port) != 0) {
    pc_cfg_error(err, pc_cfg_get(cfg->node, "endpoint"), PC_EINVAL, "\"%s\" is not host:port",
                 cfg->endpoint);
    return NULL;
  }
  pc_tls_ctx_t *tls = NULL;
  if (pc_server_tls_ctx(&cfg->tls, pc_cfg_get(cfg->node, "tls"), "http/1.1", &tls, err) != 0)
    return NULL;
  pc__prx_server_t *s = pc_xcalloc(1, sizeof *s);
  s->rx = rx;
  s->endpoint = pc_xstrdup(cfg->endpoint);
  s->pyroscope = cfg->pyroscope;
  s->include_metadata = cfg->include_metadata;
  s->max_body = cfg->max_request_body_size;
  s->tls = tls;
  s->authenticator = cfg->authenticator ? pc_xstrdup(cfg->authenticator) : NULL;
  pc_ref_init(&s->auth_ref, cfg->authenticator,
              pc_cfg_get(pc_cfg_get(cfg->node, "auth"), "authenticator"));
  s->limits = (pc_http_limits_t){
      .max_body = cfg->max_request_body_size,
      .max_buffered = cfg->max_buffered_bytes,
      .max_header_bytes = MAX_HEADER_BYTES,
      .idle_timeout_ms = cfg->idle_timeout,
      .header_timeout_ms = cfg->read_header_timeout,
      .body_timeout_ms = cfg->read_body_timeout,
      .min_body_rate = cfg->min_body_rate,
      .request_timeout_ms = cfg->read_timeout,
      .write_timeout_ms = cfg->write_timeout,
      .linger_ms = LINGER_MS,
      .max_connections = (uint32_t)cfg->max_connections,
      .no_keep_alive = !cfg->keepalives_enabled,
  };
  return s;
}

int pc__prx_server_resolve(pc__prx_server_t *s, const pc_host_t *host, pc_err_t *err) {
  if (pc_ref_set(&s->auth_ref) &&
      !(s->auth = pc_host_find(host, &s->auth_ref, PC_ROLE_SERVER_AUTH, err)))
    return err->code;
  return 0;
}

int pc__prx_server_start(pc__prx_server_t *s, uv_loop_t *loop, pc_err_t *err) {
  s->loop = loop;
  if (pc_ref_set(&s->auth_ref) && !s->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &s->auth_ref, PC_ROLE_SERVER_AUTH, err);
    return err->code;
  }
  pc_http_handler_t handler = {.ud = s, .on_headers = srv_on_headers,
                               .on_request = srv_on_request, .error_body = srv_error_body,
                               .keep_headers = s->include_metadata,
                               .auth_header = s->auth ? s->auth->header : NULL};
  pc_http_server_init(&s->http, loop, s->rx->log_id, &s->limits, &handler, &s->http_counters);
  s->http.tls = s->tls;
  struct sockaddr_storage ss;
  int rc = pc_http_endpoint_addr(loop, s->rx->id, s->endpoint, &ss, err);
  if (!rc) rc = pc_http_server_listen(&s->http, (struct sockaddr *)&ss, s->endpoint, err);
  if (rc) return rc;
  char body[24];
  pc_log(s->rx->log_id, PC_LOG_INFO, "listening for pprof on %s (port %d)%s: POST %s%s, "
         "max_request_body_size %s", s->endpoint, s->http.port, s->tls ? " over TLS" : "",
         PC__PRX_PUSH_PATH, s->pyroscope ? " and Pyroscope's POST /ingest" : "",
         pc_fmt_bytes(s->max_body, body));
  return 0;
}

static void on_http_closed(void *arg) {
  pc__prx_server_t *s = arg;
  if (s->closed) return;
  s->closed = true;
  pc__prx_part_closed(s->rx);
}

void pc__prx_server_close(pc__prx_server_t *s, uint64_t deadline_ms) {
  if (!s->loop) { /* never started */
    on_http_closed(s);
    return;
  }
  pc_http_server_close(&s->http, deadline_ms, on_http_closed, s);
}

void pc__prx_server_free(pc__prx_server_t *s) {
  if (!s) return;
  pc_tls_ctx_free(s->tls);
  free(s->endpoint);
  free(s->authenticator);
  free(s);
}

int pc__prx_server_port(const pc__prx_server_t *s) {
  return s && s->http.listening ? s->http.port : 0;
}

void pc__prx_server_metrics(pc__prx_server_t *s, pc_metrics_t *m) {
  pc__prx_counters_metrics(&s->cnt, "server", m);
  const pc_http_counters_t *h = &s->http_counters;
#define LOAD(f) (double)atomic_load_explicit(&h->f, memory_order_relaxed)
  pc_metrics_counter(m, "profcol_receiver_requests",
                     "Requests (gRPC: calls) answered, any path and status.", LOAD(requests),
                     "transport", "server", NULL);
  pc_metrics_counter(m, "profcol_receiver_failed_requests",
                     "Requests answered with 4xx or 5xx (gRPC: a status other than OK).",
                     LOAD(requests_failed), "transport", "server", NULL);
  pc_metrics_counter(m, "profcol_receiver_request_bytes",
                     "Bytes read from clients, headers included.", LOAD(bytes_in), "transport",
                     "server", NULL);
  pc_metrics_gauge(m, "profcol_receiver_open_connections", "Connections open now.",
                   LOAD(connections_open), "transport", "server", NULL);
#undef LOAD
}
