/* otlp.c - the OTLP receiver (component type "otlp"): profiles and traces
 * over OTLP/HTTP, answered exactly as shared/spec/OTLP-PROFILES.md section 3
 * lays out, and over OTLP/gRPC (protocols.grpc: grpc.c, same pipeline
 * contract).
 *
 * The one idea: everything that can be decided from the headers (path,
 * method, media type, encoding, announced size) is decided before a byte of
 * the body is read; the work on the body (decompression into a buffer
 * bounded by max_request_body_size, protobuf or JSON decoding into a
 * per-request arena: decode.c, shared with gRPC) runs on the loop for small
 * requests and in libuv's thread pool for large ones, so one large request
 * does not stall the other connections of the loop; and the pipeline (the
 * next consumer) is called on the loop, where the answer is decided:
 *
 *   200  taken by the pipeline (partial_success when the decoder dropped
 *        profiles), or an empty request
 *   400  bad payload or corrupt compression (google.rpc.Status with the
 *        decoder's message), 404 unknown path, 405 not POST, 413 too large
 *        as sent or after decompression, 415 media type or encoding
 *   503  the pipeline is full (PC_EAGAIN; at the headers when it is known
 *        full before the body comes), or request memory is
 *        (service.max_request_memory), with Retry-After
 *   500  any other refusal of the pipeline
 *
 * Error bodies are google.rpc.Status in the request's encoding (protobuf
 * when the request's type is unknown). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc.h"
#include "internal.h"

/* Defaults, shared by the option table (text) and the checks below. */
#define DEF_ENDPOINT "localhost:4318"
#define DEF_PROFILES_PATH "/v1development/profiles"
#define DEF_TRACES_PATH "/v1/traces"

/* Fixed transport limits, not worth a knob. */
#define MAX_HEADER_BYTES (64 * 1024)
#define LINGER_MS 2000

/* ---- options -------------------------------------------------------------- */

static const pc_opt_t cors_opts[] = {
    PC_OPT_ANY("allowed_origins", pc_otlp_settings_t, cors_allowed_origins,
               "list of origins browsers may send from: \"*\", exact origins, or patterns "
               "with one '*' (\"https://*.example.com\"); empty: CORS off"),
    PC_OPT_ANY("allowed_headers", pc_otlp_settings_t, cors_allowed_headers,
               "list of request headers a preflight may ask for, besides Accept, "
               "Accept-Language, Content-Language and Content-Type (and X-Requested-With "
               "when empty); \"*\": any"),
    PC_OPT_INT_RANGE("max_age", "0", pc_otlp_settings_t, cors_max_age, 0, 86400 * 365,
                     "seconds browsers may cache a preflight's answer (0: not sent)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, pc_otlp_settings_t, authenticator,
               "id of a bearertokenauth extension: requests without its token get 401"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t http_tls_opts[] = {
    PC_SERVER_TLS_OPTS(pc_otlp_settings_t, tls),
    PC_OPT_TABLE_END,
};

static const pc_opt_t http_opts[] = {
    PC_OPT_ADDR("endpoint", DEF_ENDPOINT, pc_otlp_settings_t, endpoint,
                "host:port to listen on (\"0.0.0.0:4318\" for every interface)"),
    PC_OPT_SECTION("tls", http_tls_opts, "serve HTTPS (ALPN http/1.1) instead of cleartext"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", pc_otlp_settings_t, max_request_body_size,
                 1, (int64_t)1 << 32,
                 "largest request body, both as sent and after decompression (413 beyond)"),
    PC_OPT_BYTES("max_buffered_bytes", "512MiB", pc_otlp_settings_t, max_buffered_bytes, 1,
                 (int64_t)1 << 40,
                 "request bodies held in memory at once over this listener's connections, "
                 "as received; a body that would pass it is refused with 503 and "
                 "Retry-After (profcol's own; all request data of the process, decoded "
                 "too, is also bounded by service.max_request_memory)"),
    PC_OPT_SECTION("cors", cors_opts, "Cross-Origin Resource Sharing for browser clients"),
    PC_OPT_SECTION("auth", auth_opts, "who may send"),
    PC_OPT_BOOLEAN("include_metadata", "false", pc_otlp_settings_t, include_metadata,
                   "pass the request's headers down the pipeline as client metadata (the "
                   "batch processor's metadata_keys read it; names match in any case)"),
    PC_OPT_STR("profiles_url_path", DEF_PROFILES_PATH, pc_otlp_settings_t, profiles_url_path,
               "path that takes ExportProfilesServiceRequest"),
    PC_OPT_STR("traces_url_path", DEF_TRACES_PATH, pc_otlp_settings_t, traces_url_path,
               "path that takes ExportTraceServiceRequest (for trace linking)"),
    PC_OPT_DUR("read_header_timeout", "10s", pc_otlp_settings_t, read_header_timeout, 1,
               86400000, "time from a new connection or a request's first byte to the end "
               "of its headers (408 and close beyond: slow-loris clients)"),
    PC_OPT_DUR("idle_timeout", "60s", pc_otlp_settings_t, idle_timeout, 1, 86400000,
               "how long a keep-alive connection may wait for its next request"),
    PC_OPT_DUR("read_body_timeout", "10s", pc_otlp_settings_t, read_body_timeout, 1,
               86400000, "window over which min_body_rate is measured while a body "
               "arrives (408 and close when a window falls short)"),
    PC_OPT_BYTES("min_body_rate", "1KiB", pc_otlp_settings_t, min_body_rate, 0,
                 (int64_t)1 << 40, "bytes per second a request body must keep up "
                 "(0: only at least one byte per read_body_timeout)"),
    PC_OPT_DUR("read_timeout", "0s", pc_otlp_settings_t, read_timeout, 0, 86400000,
               "time from a request's first byte to its last (408 and close beyond); 0s: "
               "none, read_header_timeout and min_body_rate still apply"),
    PC_OPT_DUR("write_timeout", "30s", pc_otlp_settings_t, write_timeout, 1, 86400000,
               "time a client has to take an answer before the connection is closed"),
    PC_OPT_BOOLEAN("keepalives_enabled", "true", pc_otlp_settings_t, keepalives_enabled,
                   "keep connections open for more requests; false: close after each answer"),
    PC_OPT_HEADERS("response_headers", pc_otlp_settings_t, response_headers,
                   "headers added to every answer (name: value)"),
    PC_OPT_ANY("compression_algorithms", pc_otlp_settings_t, compression_algorithms,
               "list of request Content-Encodings to take, from \"\" (none), gzip, zstd, "
               "zlib and deflate (both mean zlib); empty: all of them; others get 415"),
    PC_OPT_INT_RANGE("max_connections", "1024", pc_otlp_settings_t, max_connections, 1,
                     1000000, "open connections at most; more are accepted and closed at "
                     "once (counted as connections_refused)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t protocols_opts[] = {
    PC_OPT_SECTION("http", http_opts, "OTLP/HTTP listener"),
    PC_OPT_ANY("grpc", pc_otlp_settings_t, grpc,
               "OTLP/gRPC listener (receiver/grpc.c): endpoint (localhost:4317), "
               "max_recv_msg_size_mib (64), max_concurrent_streams (100), "
               "keepalive.server_parameters, keepalive.enforcement_policy, tls (cert_file, "
               "key_file, client_ca_file, min_version, max_version, cipher_suites: as under "
               "http)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t otlp_opts[] = {
    PC_OPT_SECTION("protocols", protocols_opts, "protocols to serve"),
    PC_OPT_TABLE_END,
};

/* ---- instance --------------------------------------------------------------- */

typedef struct {
  bool traces;
  bool json;
  pc_encoding_t enc;
} route_t;

typedef struct rx {
  char *id;     /* "otlp" or "otlp/name" */
  char *log_id; /* "receiver:otlp/name" */
  pc_otlp_settings_t cfg;
  bool http_enabled;       /* protocols.http present, or no protocols at all */
  pc_grpc_server_t *grpc; /* protocols.grpc present */
  pc_consumer_t *next;
  uv_loop_t *loop;
  pc_http_server_t http;
  pc_tls_ctx_t *http_tls; /* protocols.http.tls, or NULL */
  pc_http_counters_t http_counters;
  pc__rx_counters_t counters;
  pc_http_counters_t grpc_http_counters; /* the gRPC side counts apart: */
  pc__rx_counters_t grpc_counters;       /* transport="grpc" in the metrics */
  pc__rx_pool_t jobs;      /* decompressing and decoding request bodies */
  pc_ratelimit_t rl_warn; /* per-request warnings */
  pc_cors_t cors;
  pc_buf_t resp_headers; /* response_headers as "Name: value\r\n" lines */
  unsigned encodings;    /* 1 << pc_encoding_t for each one compression_algorithms takes */
  pc_ref_t auth_ref;              /* auth.authenticator, or unset */
  const pc_server_auth_t *auth;   /* ... found by resolve; NULL: anyone may send */
} rx_t;

/* At most one per-request warning per 10 s, saying how many were held back. */
static void rx_warn(rx_t *rx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rx_warn(rx_t *rx, const char *fmt, ...) {
  uint64_t skipped;
  if (!pc_ratelimit(&rx->rl_warn, 10000, &skipped)) return;
  char msg[512], sup[48];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_log(rx->log_id, PC_LOG_WARN, "%s%s", msg, pc_suppressed(skipped, sup));
}

/* Client text (a path, a header) made safe for messages and logs: printable
 * ASCII only, bounded. */
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

/* google.rpc.Code for an HTTP status (the Collector's mapping). */
static int32_t grpc_code(int status) {
  switch (status) {
  case 400: return 3;  /* INVALID_ARGUMENT */
  case 401: return 16; /* UNAUTHENTICATED */
  case 404: return 5;  /* NOT_FOUND */
  case 405: return 12; /* UNIMPLEMENTED */
  case 408: return 4;  /* DEADLINE_EXCEEDED */
  case 413: return 8;  /* RESOURCE_EXHAUSTED */
  case 415: return 3;
  case 429: return 8;
  case 503: return 14; /* UNAVAILABLE */
  default: return status >= 500 ? 13 /* INTERNAL */ : 2 /* UNKNOWN */;
  }
}

static const char *content_type_of(bool json) {
  return json ? "application/json" : "application/x-protobuf";
}

/* Fill resp with status and a google.rpc.Status body. */
static void answer_status(pc_http_response_t *resp, int status, bool json, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void answer_status(pc_http_response_t *resp, int status, bool json, const char *fmt,
                          ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_buf_free(&resp->body);
  resp->status = status;
  resp->content_type = content_type_of(json);
  snprintf(resp->reason, sizeof resp->reason, "%.255s", msg);
  if (pc_encode_status(json, grpc_code(status), msg, &resp->body) != 0) pc_oom();
}

/* A body that failed to decode may simply be in the other encoding than its
 * Content-Type says (a client posting JSON as application/x-protobuf):
 * say so, or "" when nothing suggests it. JSON starts with '{' after
 * optional white space; an ExportProfilesServiceRequest in protobuf almost
 * always starts with field 1 or 2 (resource_profiles, dictionary), tag 0x0a
 * or 0x12. */
static const char *encoding_hint(bool json, const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
  bool looks_json = i < n && p[i] == '{';
  bool looks_proto = n > 0 && (p[0] == 0x0a || p[0] == 0x12);
  if (!json && looks_json)
    return " (the body looks like JSON but Content-Type is application/x-protobuf)";
  if (json && !looks_json && looks_proto)
    return " (the body looks like protobuf but Content-Type is application/json)";
  return "";
}

/* ---- routing: everything decided from the headers ----------------------------------- */

/* The media type of Content-Type without parameters; -1 when unsupported. */
static int parse_media_type(pc_str_t ct, bool *json) {
  if (ct.n == 0) return -1;
  size_t n = 0;
  while (n < ct.n && ct.p[n] != ';') n++;
  size_t a = 0;
  while (a < n && (ct.p[a] == ' ' || ct.p[a] == '\t')) a++;
  while (n > a && (ct.p[n - 1] == ' ' || ct.p[n - 1] == '\t')) n--;
  const char *t = (const char *)ct.p + a;
  size_t len = n - a;
  if (len == 22 && strncasecmp(t, "application/x-protobuf", len) == 0) {
    *json = false;
    return 0;
  }
  if (len == 16 && strncasecmp(t, "application/json", len) == 0) {
    *json = true;
    return 0;
  }
  return -1;
}

static bool path_is(pc_str_t path, const char *want) {
  return pc_str_eq(path, (pc_str_t){(const uint8_t *)want, strlen(want)});
}

/* 0 with out filled, or an answer's status with resp filled. */
static int rx_route(rx_t *rx, const pc_http_request_t *r, route_t *out,
                    pc_http_response_t *resp) {
  bool json = false;
  bool known_type = parse_media_type(r->content_type, &json) == 0;
  char shown[128];
  /* As the Collector's auth interceptor, before any routing; a CORS
   * preflight carries no credentials and is answered first. */
  /* One credential: of two, neither is taken (gRPC does the same). */
  if (rx->auth && !pc_cors_is_preflight(&rx->cors, r) &&
      (r->auth_n > 1 || !rx->auth->check(rx->auth, r->auth))) {
    answer_status(resp, 401, json, "unauthenticated: %s %s header (auth.authenticator %s)",
                  r->auth_n > 1 ? "more than one" : r->auth.n ? "wrong" : "no",
                  rx->auth->header, rx->cfg.authenticator);
    /* RFC 9110: a 401 names the scheme it wants. */
    const char *scheme = rx->auth->scheme;
    if (scheme[0] && pc_buf_printf(&resp->headers, "WWW-Authenticate: %s\r\n", scheme))
      pc_oom();
    return 401;
  }
  bool traces = path_is(r->path, rx->cfg.traces_url_path) && rx->next->consume_traces;
  if (!traces && path_is(r->path, rx->cfg.traces_url_path)) {
    answer_status(resp, 404, json,
                  "no traces are taken at %s: no pipeline that uses this receiver takes "
                  "traces", rx->cfg.traces_url_path);
    return 404;
  }
  if (!traces && !path_is(r->path, rx->cfg.profiles_url_path)) {
    printable(shown, sizeof shown, r->path);
    /* An SDK with OTEL_EXPORTER_OTLP_ENDPOINT set for every signal sends
     * metrics and logs here too: say what is taken, traces included. */
    bool takes_traces = rx->next->consume_traces;
    answer_status(resp, 404, json,
                  "no OTLP endpoint at \"%s\"; profiles are taken at POST %s%s%s (profcol "
                  "takes no metrics or logs)",
                  shown, rx->cfg.profiles_url_path, takes_traces ? ", traces at POST " : "",
                  takes_traces ? rx->cfg.traces_url_path : "");
    return 404;
  }
  if (pc_cors_is_preflight(&rx->cors, r)) { /* headers added by rx_decorate */
    resp->status = 204;
    return 204;
  }
  if (r->method != HTTP_POST) {
    answer_status(resp, 405, json, "method %s is not allowed on %s; use POST",
                  llhttp_method_name((llhttp_method_t)r->method), traces
                      ? rx->cfg.traces_url_path : rx->cfg.profiles_url_path);
    resp->allow = "POST";
    return 405;
  }
  if (!known_type) {
    printable(shown, sizeof shown, r->content_type);
    answer_status(resp, 415, false,
                  "unsupported Content-Type \"%s\"; use application/x-protobuf or "
                  "application/json", shown);
    return 415;
  }
  pc_encoding_t enc = PC_ENC_IDENTITY;
  if (r->content_encoding.n && pc_encoding_parse(r->content_encoding, &enc) != 0) {
    printable(shown, sizeof shown, r->content_encoding);
    answer_status(resp, 415, json,
                  "unsupported Content-Encoding \"%s\"; use gzip, deflate, zstd or identity",
                  shown);
    return 415;
  }
  if (!(rx->encodings & 1u << enc)) {
    char list[80] = "";
    for (pc_encoding_t e = PC_ENC_IDENTITY; e <= PC_ENC_ZSTD; e++)
      if (rx->encodings & 1u << e)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "",
                 pc_encoding_name(e));
    answer_status(resp, 415, json,
                  "Content-Encoding \"%s\" is not taken here (compression_algorithms); use %s",
                  pc_encoding_name(enc), list);
    return 415;
  }
  *out = (route_t){.traces = traces, .json = json, .enc = enc};
  return 0;
}

static const char *err_text(const pc_err_t *err, int rc);

static int rx_on_headers(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  rx_t *rx = ud;
  route_t route;
  int status = rx_route(rx, r, &route, resp);
  /* A pipeline known to be full would refuse the body after it is read and
   * decoded: refuse it now, before a byte of it is read. */
  bool body = !r->has_length || r->content_length > 0;
  pc_err_t err = {0};
  if (!status && body && !route.traces && rx->next->full && rx->next->full(rx->next, &err)) {
    answer_status(resp, 503, route.json, "pipeline is full, retry later: %s (refused at the "
                  "headers, before the body was read)", err_text(&err, PC_EAGAIN));
    resp->retry_after_s = rx->next->retry_after_s ? rx->next->retry_after_s : 1;
    PC__CNT_ADD(&rx->counters, requests_refused_early, 1);
    return 503;
  }
  return status;
}

static void rx_decorate(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  rx_t *rx = ud;
  pc_cors_decorate(&rx->cors, r, resp);
  if (rx->resp_headers.n && pc_buf_append(&resp->headers, rx->resp_headers.p, rx->resp_headers.n))
    pc_oom();
}

static void rx_error_body(void *ud, const pc_http_request_t *r, const char *msg,
                          pc_http_response_t *resp) {
  (void)ud;
  bool json = false;
  if (parse_media_type(r->content_type, &json) != 0) json = false;
  answer_status(resp, resp->status, json, "%s", msg);
}

/* ---- the body: decompressed and decoded by a job (decode.c) ----------------------------- */

static const char *err_text(const pc_err_t *err, int rc) {
  return err->msg[0] ? err->msg : pc_strerror(rc);
}

/* 200 with an empty or partial-success ExportProfilesServiceResponse, or an
 * empty ExportTraceServiceResponse. */
static void answer_ok(const route_t *route, uint64_t rejected, const char *msg,
                      pc_http_response_t *resp) {
  resp->status = 200;
  resp->content_type = content_type_of(route->json);
  int rc = route->traces ? (route->json ? pc_buf_append(&resp->body, "{}", 2) : 0)
                         : pc_encode_export_response(route->json, (int64_t)rejected,
                                                     rejected ? msg : NULL, &resp->body);
  if (rc) pc_oom();
}

static void answer_failed_body(rx_t *rx, pc__rx_job_t *j, pc_http_response_t *resp) {
  bool json = j->json;
  const char *what = err_text(&j->err, j->rc);
  if (j->failed == PC__RX_FAILED_BUDGET) {
    if (j->rc == PC_ELIMIT) { /* retrying cannot help */
      answer_status(resp, 413, json, "request too large for this collector's memory: %s", what);
      return;
    }
    answer_status(resp, 503, json, "too much request data in memory, retry later: %s", what);
    resp->retry_after_s = rx->next->retry_after_s ? rx->next->retry_after_s : 1;
    pc_http_server_drop_spares(&rx->http); /* room for the retry */
    return;
  }
  if (j->failed == PC__RX_FAILED_DECOMPRESS) {
    const char *enc = pc_encoding_name(j->enc);
    if (j->rc == PC_ELIMIT)
      answer_status(resp, 413, json,
                    "request body exceeds max_request_body_size (%llu bytes) after %s "
                    "decompression", (unsigned long long)rx->cfg.max_request_body_size, enc);
    else if (j->rc == PC_ENOMEM)
      answer_status(resp, 503, json, "out of memory decompressing the request; retry later");
    else
      answer_status(resp, 400, json, "cannot decompress the %s body: %s", enc, what);
    return;
  }
  if (j->rc == PC_ENOMEM)
    answer_status(resp, 413, json,
                  "%s: the decoded request needs more memory than this receiver allows one "
                  "request (%dx its decompressed size, at least %zu MiB)", what,
                  RX_ARENA_FACTOR, RX_ARENA_MIN >> 20);
  else
    answer_status(resp, 400, json, "%s%s", what, encoding_hint(json, j->payload, j->payload_n));
}

/* The pipeline's verdict on a decoded request. */
static void answer_consumed(rx_t *rx, pc__rx_job_t *j, int rc, const pc_err_t *err,
                            uint64_t profiles, uint64_t samples, pc_http_response_t *resp) {
  bool json = j->json;
  route_t route = {.traces = j->traces, .json = json, .enc = j->enc};
  pc__rx_counters_t *cnt = &rx->counters;
  if (rc == 0) {
    PC__CNT_ADD(cnt, profiles_accepted, profiles);
    PC__CNT_ADD(cnt, samples_accepted, samples);
    PC__CNT_ADD(cnt, profiles_refused, j->req.rejected_profiles);
    answer_ok(&route, j->req.rejected_profiles, j->req.reject_msg, resp);
    return;
  }
  PC__CNT_ADD(cnt, profiles_refused, profiles + j->req.rejected_profiles);
  PC__CNT_ADD(cnt, samples_refused, samples);
  const char *what = err_text(err, rc);
  if (rc == PC_EAGAIN) {
    answer_status(resp, 503, json, "pipeline is full, retry later: %s", what);
    resp->retry_after_s = rx->next->retry_after_s ? rx->next->retry_after_s : 1;
  } else if (rc == PC_EDECODE || rc == PC_EINVAL) {
    answer_status(resp, 400, json, "%s", what);
  } else {
    answer_status(resp, 500, json, "pipeline refused the request: %s", what);
    rx_warn(rx, "pipeline refused a request of %llu profiles: %s (%s)",
            (unsigned long long)profiles, what, pc_err_name(rc));
  }
}

static void job_finish(rx_t *rx, pc__rx_job_t *j, pc_http_response_t *resp) {
  if (j->failed != PC__RX_FAILED_NONE) {
    answer_failed_body(rx, j, resp);
    return;
  }
  PC__CNT_ADD(&rx->counters, bytes_decompressed, j->payload_n);
  pc_err_t err = {0};
  if (j->traces) {
    j->spans.metadata = rx->cfg.include_metadata ? &j->md : NULL;
    uint64_t spans = pc_traces_span_count(&j->spans);
    int rc = spans ? rx->next->consume_traces(rx->next, &j->spans, &err) : 0;
    if (rc) PC__CNT_ADD(&rx->counters, spans_refused, spans);
    else PC__CNT_ADD(&rx->counters, spans_accepted, spans);
    route_t route = {.traces = true, .json = j->json, .enc = j->enc};
    if (rc == 0)
      answer_ok(&route, 0, NULL, resp);
    else
      answer_consumed(rx, j, rc, &err, 0, 0, resp);
    return;
  }
  /* Count before the pipeline sees it: processors may change the request. */
  uint64_t profiles = pc_request_profile_count(&j->req);
  uint64_t samples = pc_request_sample_count(&j->req);
  j->req.metadata = rx->cfg.include_metadata ? &j->md : NULL; /* decoding zeroed it */
  char peer[64];
  j->req.client_addr = pc_http_conn_peer_ip((pc_http_conn_t *)j->ud, peer, sizeof peer);
  int rc = profiles ? pc__rx_job_consume(j, rx->next, &err) : 0;
  answer_consumed(rx, j, rc, &err, profiles, samples, resp);
}

static void job_done(pc__rx_job_t *j, int status) {
  rx_t *rx = container_of(j->pool, rx_t, jobs);
  pc_http_response_t resp = {0};
  if (status < 0)
    answer_status(&resp, 503, j->json, "request cancelled while shutting down");
  else
    job_finish(rx, j, &resp);
  pc_http_conn_t *conn = j->ud;
  pc__rx_job_put(j);
  pc_http_respond(conn, &resp);
}

/* The request's body buffer, for a consumer that keeps its bytes. */
static bool take_body(pc__rx_job_t *j, pc_buf_t *out) {
  pc_http_conn_take_body((pc_http_conn_t *)j->ud, out);
  return out->p != NULL;
}

static void rx_on_request(void *ud, pc_http_conn_t *conn, const pc_http_request_t *r) {
  rx_t *rx = ud;
  route_t route;
  pc_http_response_t resp = {0};
  if (rx_route(rx, r, &route, &resp) != 0) { /* decided at the headers already */
    pc_http_respond(conn, &resp);
    return;
  }
  if (r->body_n == 0) { /* no data: nothing to decode nor hand on */
    answer_ok(&route, 0, NULL, &resp);
    pc_http_respond(conn, &resp);
    return;
  }
  pc__rx_job_t *j = pc__rx_job_get(&rx->jobs);
  j->ud = conn;
  j->traces = route.traces;
  j->json = route.json;
  j->enc = route.enc;
  j->in = r->body;
  j->in_n = r->body_n;
  j->in_cap = pc_http_conn_body_cap(conn);
  j->take_in = take_body;
  j->md = r->headers; /* empty unless include_metadata: the server keeps them then */
  pc__rx_job_bodies_for(j, rx->next, rx->cfg.include_metadata ? &j->md : NULL);
  j->done = job_done;
  pc__rx_job_run(j);
}

/* ---- endpoint ---------------------------------------------------------------------------- */

/* The address to bind (httpd.h: "localhost" is the IPv4 loopback, an empty
 * host every interface; other names are resolved once, at start). */
static int endpoint_addr(rx_t *rx, struct sockaddr_storage *ss, pc_err_t *err) {
  return pc_http_endpoint_addr(rx->loop, rx->id, rx->cfg.endpoint, ss, err);
}

/* ---- component ---------------------------------------------------------------------------- */

void pc__otlp_defaults(pc_otlp_settings_t *s) {
  pc_err_t err;
  *s = (pc_otlp_settings_t){0};
  if (pc_cfg_apply(http_opts, NULL, s, &err) != 0) {
    fprintf(stderr, "profcol: bug in the otlp receiver's option table: %s\n", err.msg);
    abort();
  }
}

static int check_path(const char *id, const char *key, const char *path, pc_err_t *err) {
  if (path[0] == '/' && !strchr(path, '?') && !strchr(path, ' ')) return 0;
  return pc_err_set(err, PC_EINVAL,
                    "%s: protocols.http.%s \"%s\" must be a path starting with '/', "
                    "without query or spaces", id, key, path);
}

static void otlp_destroy(void *self);

/* A cors list: strings, each non-empty (file:line:col otherwise). */
static int cors_list(const pc_cfg_node_t *n, const char *what, pc_cors_t *c,
                     void (*add)(pc_cors_t *, const char *), pc_err_t *err) {
  if (!n || n->type == PC_CFG_NULL) return 0;
  if (n->type != PC_CFG_SEQ)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a list of %s", what);
  for (size_t i = 0; i < n->n_items; i++) {
    const pc_cfg_node_t *it = n->items[i];
    if (it->type != PC_CFG_SCALAR || !it->text[0])
      return pc_cfg_error(err, it, PC_EINVAL, "must be one of the %s, a non-empty string",
                          what);
    add(c, it->text);
  }
  return 0;
}

/* protocols.http.cors into c; its lists must be read now, while the config
 * tree exists. */
static int cors_read(const pc_otlp_settings_t *s, pc_cors_t *c, pc_err_t *err) {
  pc_cors_init(c, s->cors_max_age);
  int rc = cors_list(s->cors_allowed_origins, "allowed origins (e.g. https://app.example.com)",
                     c, pc_cors_add_origin, err);
  if (!rc)
    rc = cors_list(s->cors_allowed_headers, "allowed request header names", c,
                   pc_cors_add_header, err);
  for (size_t i = 0; !rc && i < c->n_origins; i++) {
    const char *star = strchr(c->origins[i], '*');
    if (star && strcmp(c->origins[i], "*") != 0 && strchr(star + 1, '*'))
      rc = pc_cfg_error(err, s->cors_allowed_origins->items[i], PC_EINVAL,
                        "an origin pattern may hold one '*' only");
  }
  return rc;
}

/* response_headers as header lines; names the server sets itself are
 * refused, so an answer never carries two of them. */
static int response_headers_read(const pc_cfg_node_t *h, pc_buf_t *out, pc_err_t *err) {
  static const char *const own[] = {"Content-Length", "Content-Type", "Transfer-Encoding",
                                    "Connection", "Retry-After", "Allow"};
  for (size_t i = 0; h && h->type == PC_CFG_MAP && i < h->n_entries; i++) {
    const char *k = h->entries[i].key;
    const pc_cfg_node_t *v = h->entries[i].value;
    if (!k[0] || !pc_http_is_token(k, strlen(k)))
      return pc_cfg_error(err, v, PC_EINVAL, "\"%s\" is not a header name (letters, digits "
                          "and !#$%%&'*+-.^_`|~ only)", k);
    if (strpbrk(v->text, "\r\n"))
      return pc_cfg_error(err, v, PC_EINVAL, "a header value cannot hold line breaks");
    for (size_t j = 0; j < sizeof own / sizeof own[0]; j++)
      if (strcasecmp(k, own[j]) == 0)
        return pc_cfg_error(err, v, PC_EINVAL, "%s is set by the receiver itself", own[j]);
    if (pc_buf_append(out, k, strlen(k)) || pc_buf_append(out, ": ", 2) ||
        pc_buf_append(out, v->text, strlen(v->text)) || pc_buf_append(out, "\r\n", 2))
      pc_oom();
  }
  return 0;
}

/* compression_algorithms as a set of pc_encoding_t bits, with the
 * Collector's names; empty or absent: every encoding profcol takes. */
static int encodings_read(const pc_cfg_node_t *n, unsigned *out, pc_err_t *err) {
  static const struct {
    const char *name;
    pc_encoding_t enc;
  } names[] = {{"", PC_ENC_IDENTITY},     {"none", PC_ENC_IDENTITY}, {"identity", PC_ENC_IDENTITY},
               {"gzip", PC_ENC_GZIP},     {"zstd", PC_ENC_ZSTD},     {"zlib", PC_ENC_DEFLATE},
               {"deflate", PC_ENC_DEFLATE}};
  *out = 0;
  if (n && n->type != PC_CFG_NULL && n->type != PC_CFG_SEQ)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a list, e.g. [\"\", gzip, zstd]");
  for (size_t i = 0; n && n->type == PC_CFG_SEQ && i < n->n_items; i++) {
    const pc_cfg_node_t *it = n->items[i];
    size_t j = 0;
    while (j < sizeof names / sizeof names[0] &&
           !(it->type == PC_CFG_SCALAR && strcmp(it->text, names[j].name) == 0))
      j++;
    if (j == sizeof names / sizeof names[0])
      return pc_cfg_error(err, it, PC_EINVAL, "profcol takes \"\" (none), gzip, zstd, zlib "
                          "and deflate%s", it->type == PC_CFG_SCALAR &&
                          (!strcmp(it->text, "snappy") || !strcmp(it->text, "lz4"))
                              ? "; it has no snappy or lz4" : "");
    *out |= 1u << names[j].enc;
  }
  if (!*out)
    *out = 1u << PC_ENC_IDENTITY | 1u << PC_ENC_GZIP | 1u << PC_ENC_DEFLATE | 1u << PC_ENC_ZSTD;
  return 0;
}

/* The decode jobs need room in the budget: the HTTP server's spare body
 * buffers go first. */
static void rx_make_room(void *ud) {
  rx_t *rx = ud;
  pc_http_server_drop_spares(&rx->http);
}

void *pc__otlp_new(const pc_otlp_settings_t *s, const char *id, pc_consumer_t *next,
                   pc_err_t *err) {
  char host[256];
  int port;
  if (pc_http_split_endpoint(s->endpoint, host, sizeof host, &port) != 0) {
    pc_err_set(err, PC_EINVAL, "%s: protocols.http.endpoint \"%s\" is not host:port", id,
               s->endpoint);
    return NULL;
  }
  if (check_path(id, "profiles_url_path", s->profiles_url_path, err) ||
      check_path(id, "traces_url_path", s->traces_url_path, err))
    return NULL;
  if (strcmp(s->profiles_url_path, s->traces_url_path) == 0) {
    pc_err_set(err, PC_EINVAL, "%s: profiles_url_path and traces_url_path are both \"%s\"", id,
               s->profiles_url_path);
    return NULL;
  }
  if (!next || !next->consume_profiles) {
    pc_err_set(err, PC_EINVAL, "%s: no pipeline to send profiles to", id);
    return NULL;
  }
  rx_t *rx = pc_xcalloc(1, sizeof *rx);
  rx->id = pc_xstrdup(id);
  size_t n = strlen(id) + sizeof "receiver:";
  rx->log_id = pc_xmalloc(n);
  snprintf(rx->log_id, n, "receiver:%s", id);
  rx->cfg = *s;
  rx->cfg.endpoint = pc_xstrdup(s->endpoint);
  rx->cfg.profiles_url_path = pc_xstrdup(s->profiles_url_path);
  rx->cfg.traces_url_path = pc_xstrdup(s->traces_url_path);
  rx->cfg.authenticator = s->authenticator ? pc_xstrdup(s->authenticator) : NULL;
  /* Whether the extension exists shows in resolve; the place is known now. */
  pc_ref_init(&rx->auth_ref, s->authenticator,
              pc_cfg_get(pc_cfg_get(s->http, "auth"), "authenticator"));
  if (cors_read(s, &rx->cors, err) != 0 ||
      response_headers_read(s->response_headers, &rx->resp_headers, err) != 0 ||
      encodings_read(s->compression_algorithms, &rx->encodings, err) != 0) {
    otlp_destroy(rx);
    return NULL;
  }
  /* The certificate and key are loaded now, so a bad file is a config
   * error with its place rather than a failure at every handshake. */
  if (pc_server_tls_ctx(&s->tls, pc_cfg_get(s->http, "tls"), "http/1.1", &rx->http_tls, err)) {
    otlp_destroy(rx);
    return NULL;
  }
  rx->cfg.cors_allowed_origins = rx->cfg.cors_allowed_headers = NULL;
  rx->cfg.response_headers = rx->cfg.compression_algorithms = NULL;
  rx->cfg.http = rx->cfg.grpc = NULL; /* the config tree may go away */
  rx->cfg.tls = (pc_tls_files_t){0};
  rx->http_enabled = true;
  rx->next = next;
  pc__rx_pool_init(&rx->jobs, s->max_request_body_size, pc_request_budget(), rx->log_id);
  rx->jobs.make_room = rx_make_room;
  rx->jobs.make_room_ud = rx;
  if (s->grpc) {
    pc_grpc_settings_t gs;
    pc_tls_ctx_t *gtls = NULL;
    if (pc__grpc_settings(s->grpc, &gs, err) != 0 ||
        pc_server_tls_ctx(&gs.tls, pc_cfg_get(s->grpc, "tls"), "h2", &gtls, err) != 0) {
      otlp_destroy(rx);
      return NULL;
    }
    rx->grpc = pc__grpc_new(&gs, rx->log_id, next, &rx->grpc_counters,
                            &rx->grpc_http_counters, gtls);
  }
  return rx;
}

pc_http_server_t *pc__otlp_server(void *self) { return &((rx_t *)self)->http; }

uint64_t pc__otlp_spare_held(void *self) {
  rx_t *rx = self;
  return pc__rx_pool_held(&rx->jobs) + pc_http_server_spare_held(&rx->http) +
         (rx->grpc ? pc__grpc_spare_held(rx->grpc) : 0);
}

static void *otlp_create(const pc_create_args_t *args, pc_err_t *err) {
  pc_otlp_settings_t s = {0};
  if (pc_cfg_apply(otlp_opts, args->cfg, &s, err) != 0) return NULL;
  const pc_cfg_node_t *protocols = pc_cfg_get(args->cfg, "protocols");
  /* As in the Collector, a protocol is served when its key is present; with
   * no protocols at all (no config) profcol serves HTTP on its defaults. */
  bool http = !protocols || protocols->type != PC_CFG_MAP || pc_cfg_get(protocols, "http");
  s.grpc = pc_cfg_get(protocols, "grpc"); /* present, even as a bare "grpc:" */
  s.http = pc_cfg_get(protocols, "http");
  if (!http && !s.grpc) {
    pc_cfg_error(err, protocols, PC_EINVAL,
                 "no protocol to serve: add \"http:\" and/or \"grpc:\" under protocols");
    return NULL;
  }
  if (s.authenticator && !pc_id_has_type(s.authenticator, "bearertokenauth")) {
    pc_cfg_error(err, pc_cfg_get(pc_cfg_get(s.http, "auth"), "authenticator"), PC_EINVAL, "\"%s\" is not a bearertokenauth extension, the "
                 "authenticator profcol's receivers take", s.authenticator);
    return NULL;
  }
  rx_t *rx = pc__otlp_new(&s, args->id, args->next, err);
  if (!rx) return NULL;
  rx->http_enabled = http;
  return rx;
}

/* The authenticators the HTTP and gRPC listeners name. */
static int otlp_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  rx_t *rx = self;
  if (pc_ref_set(&rx->auth_ref) &&
      !(rx->auth = pc_host_find(host, &rx->auth_ref, PC_ROLE_SERVER_AUTH, err)))
    return err->code;
  return rx->grpc ? pc__grpc_resolve(rx->grpc, host, err) : 0;
}

static pc_http_limits_t rx_limits(const pc_otlp_settings_t *c) {
  return (pc_http_limits_t){
      .max_body = c->max_request_body_size,
      .max_buffered = c->max_buffered_bytes,
      .budget = pc_request_budget(),
      .max_header_bytes = MAX_HEADER_BYTES,
      .idle_timeout_ms = c->idle_timeout,
      .header_timeout_ms = c->read_header_timeout,
      .body_timeout_ms = c->read_body_timeout,
      .min_body_rate = c->min_body_rate,
      .request_timeout_ms = c->read_timeout,
      .write_timeout_ms = c->write_timeout,
      .linger_ms = LINGER_MS,
      .max_connections = (uint32_t)c->max_connections,
      .no_keep_alive = !c->keepalives_enabled,
  };
}

static int otlp_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  rx_t *rx = self;
  rx->loop = loop;
  rx->jobs.loop = loop;
  if (pc_ref_set(&rx->auth_ref) && !rx->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &rx->auth_ref, PC_ROLE_SERVER_AUTH, err);
    pc_log(rx->log_id, PC_LOG_ERROR, "%s", err->msg);
    return err->code;
  }
  pc_http_limits_t limits = rx_limits(&rx->cfg);
  pc_http_handler_t handler = {.ud = rx, .on_headers = rx_on_headers,
                               .on_request = rx_on_request, .error_body = rx_error_body,
                               .decorate = pc_cors_enabled(&rx->cors) || rx->resp_headers.n
                                               ? rx_decorate : NULL,
                               .keep_headers = rx->cfg.include_metadata,
                               .auth_header = rx->auth ? rx->auth->header : NULL};
  pc_http_server_init(&rx->http, loop, rx->log_id, &limits, &handler, &rx->http_counters);
  rx->http.tls = rx->http_tls;
  int rc = rx->grpc ? pc__grpc_listen(rx->grpc, loop, err) : 0;
  if (rc || !rx->http_enabled) {
    if (rc) pc_log(rx->log_id, PC_LOG_ERROR, "%s", err->msg);
    return rc;
  }
  struct sockaddr_storage ss;
  rc = endpoint_addr(rx, &ss, err);
  if (!rc) rc = pc_http_server_listen(&rx->http, (struct sockaddr *)&ss, rx->cfg.endpoint, err);
  if (rc) {
    pc_log(rx->log_id, PC_LOG_ERROR, "%s", err->msg);
    return rc;
  }
  char body[24];
  pc_log(rx->log_id, PC_LOG_INFO,
         "listening for OTLP/HTTP on %s (port %d)%s: profiles at POST %s%s%s, "
         "max_request_body_size %s, max_connections %lld",
         rx->cfg.endpoint, rx->http.port, rx->http_tls ? " over TLS" : "", rx->cfg.profiles_url_path,
         rx->next->consume_traces ? ", traces at POST " : "",
         rx->next->consume_traces ? rx->cfg.traces_url_path : "",
         pc_fmt_bytes(rx->cfg.max_request_body_size, body), (long long)rx->cfg.max_connections);
  return 0;
}

/* Both listeners drain at once; done runs when the second is closed. */
typedef struct {
  int left;
  pc_done_cb done;
  void *arg;
} both_t;

static void otlp_on_one_closed(void *arg) {
  both_t *b = arg;
  if (--b->left) return;
  pc_done_cb done = b->done;
  void *done_arg = b->arg;
  free(b);
  done(done_arg);
}

static void otlp_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  rx_t *rx = self;
  if (!rx->grpc) {
    pc_http_server_close(&rx->http, deadline_ms, done, arg);
    return;
  }
  both_t *b = pc_xmalloc(sizeof *b);
  *b = (both_t){2, done, arg};
  pc__grpc_close(rx->grpc, deadline_ms, otlp_on_one_closed, b);
  pc_http_server_close(&rx->http, deadline_ms, otlp_on_one_closed, b);
}

static void otlp_destroy(void *self) {
  rx_t *rx = self;
  if (!rx) return;
  pc__rx_pool_free(&rx->jobs);
  pc__grpc_free(rx->grpc);
  pc_tls_ctx_free(rx->http_tls);
  pc_cors_free(&rx->cors);
  pc_buf_free(&rx->resp_headers);
  free(rx->cfg.endpoint);
  free(rx->cfg.profiles_url_path);
  free(rx->cfg.traces_url_path);
  free(rx->cfg.authenticator);
  free(rx->log_id);
  free(rx->id);
  free(rx);
}

/* Every field of pc_otlp_stats_t is added below: a new one must be too. */
_Static_assert(sizeof(pc_otlp_stats_t) == 16 * sizeof(uint64_t), "add every stats field");

/* Add one transport's counters to out. */
static void add_stats(const pc_http_counters_t *h, const pc__rx_counters_t *r,
                      pc_otlp_stats_t *out) {
#define ADD(from, name) out->name += atomic_load_explicit(&(from)->name, memory_order_relaxed)
  ADD(h, requests);
  ADD(h, requests_failed);
  ADD(h, bytes_in);
  ADD(h, connections_open);
  ADD(h, connections_total);
  ADD(h, connections_refused);
  ADD(h, tls_failed);
  ADD(h, body_bytes_in_place);
  ADD(r, profiles_accepted);
  ADD(r, profiles_refused);
  ADD(r, samples_accepted);
  ADD(r, samples_refused);
  ADD(r, spans_accepted);
  ADD(r, spans_refused);
  ADD(r, bytes_decompressed);
  ADD(r, requests_refused_early);
#undef ADD
}

void pc_otlp_receiver_stats(void *self, pc_otlp_stats_t *out) {
  rx_t *rx = self;
  *out = (pc_otlp_stats_t){0};
  add_stats(&rx->http_counters, &rx->counters, out);
  add_stats(&rx->grpc_http_counters, &rx->grpc_counters, out);
}

/* One transport's series: the Collector's receiver metrics where they
 * mean the same, profcol_receiver_* else. */
static void transport_metrics(const pc_otlp_stats_t *st, const char *transport,
                              pc_metrics_t *m) {
#define C(name, help, v) pc_metrics_counter(m, name, help, (double)(v), "transport", transport, NULL)
  C("otelcol_receiver_accepted_profiles",
    "Number of profiles successfully pushed into the pipeline.", st->profiles_accepted);
  C("otelcol_receiver_refused_profiles",
    "Number of profiles that could not be pushed into the pipeline.", st->profiles_refused);
  C("profcol_receiver_accepted_samples", "Samples of the accepted profiles.",
    st->samples_accepted);
  C("profcol_receiver_refused_samples", "Samples of the refused profiles.",
    st->samples_refused);
  C("otelcol_receiver_accepted_spans",
    "Number of spans successfully pushed into the pipeline.", st->spans_accepted);
  C("otelcol_receiver_refused_spans",
    "Number of spans that could not be pushed into the pipeline.", st->spans_refused);
  C("profcol_receiver_requests", "Requests (gRPC: calls) answered, any path and status.",
    st->requests);
  C("profcol_receiver_failed_requests",
    "Requests answered with 4xx or 5xx (gRPC: a status other than OK).", st->requests_failed);
  C("profcol_receiver_request_bytes", "Bytes read from clients, headers included.",
    st->bytes_in);
  C("profcol_receiver_decompressed_bytes", "Request bodies after decompression, in bytes.",
    st->bytes_decompressed);
  C("profcol_receiver_refused_early_requests",
    "Requests refused at their headers (503, gRPC UNAVAILABLE) because the pipeline was "
    "known to be full: not read nor decoded.", st->requests_refused_early);
  C("profcol_receiver_connections", "Connections accepted and served.", st->connections_total);
  C("profcol_receiver_refused_connections",
    "Connections closed at once because max_connections were open.", st->connections_refused);
  C("profcol_receiver_failed_tls",
    "TLS connections closed for a failed or unfinished handshake, or a bad record.",
    st->tls_failed);
#undef C
  pc_metrics_gauge(m, "profcol_receiver_open_connections", "Connections open now.",
                   (double)st->connections_open, "transport", transport, NULL);
}

/* Self-telemetry, per transport as the Collector's OTLP receiver labels
 * it (transport="http" or "grpc"). */
static void otlp_metrics(void *self, pc_metrics_t *m) {
  rx_t *rx = self;
  pc_otlp_stats_t st = {0};
  if (rx->http_enabled) {
    add_stats(&rx->http_counters, &rx->counters, &st);
    transport_metrics(&st, "http", m);
  }
  if (rx->grpc) {
    st = (pc_otlp_stats_t){0};
    add_stats(&rx->grpc_http_counters, &rx->grpc_counters, &st);
    transport_metrics(&st, "grpc", m);
  }
}

int pc__otlp_grpc_port(void *self) { return pc__grpc_port(((rx_t *)self)->grpc); }

int pc_otlp_receiver_port(void *self) {
  rx_t *rx = self;
  return rx->http.listening ? rx->http.port : 0;
}

/* The end of a burst (component.h): the spare decode jobs and body buffers,
 * sized by the burst's largest requests, go; the next request makes its
 * own. */
static void otlp_trim(void *self) {
  rx_t *rx = self;
  pc__rx_pool_free(&rx->jobs);
  pc_http_server_drop_spares(&rx->http);
  if (rx->grpc) pc__grpc_drop_spares(rx->grpc);
}

const pc_component_t pc_receiver_otlp = {
    .type = "otlp",
    .kind = PC_RECEIVER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = otlp_opts,
    .create = otlp_create,
    .resolve = otlp_resolve,
    .start = otlp_start,
    .shutdown = otlp_shutdown,
    .destroy = otlp_destroy,
    .metrics = otlp_metrics,
    .trim = otlp_trim,
};
