/* otlphttp.c - the `otlphttp` and `otlp` exporters: send batches to an
 * OTLP/HTTP or OTLP/gRPC backend with the Collector's keys and behaviour
 * (retries with backoff, Retry-After or RetryInfo, a sending queue that may
 * live on disk). Both are this one engine; `otlp` differs only in its wire
 * (see "gRPC" below), so the queue, retry and counter code exists once.
 *
 * The one idea: consume encodes and compresses a request once, pushes the
 * finished bodies into the sending queue and returns (0 = held, safe to
 * acknowledge; PC_EAGAIN = full, the receiver answers 503); up to
 * num_consumers "slots" pop bodies and POST them through libcurl's multi
 * interface, driven by the worker's libuv loop (CURLMOPT_SOCKETFUNCTION ->
 * uv_poll_t per socket, CURLMOPT_TIMERFUNCTION -> one uv_timer_t). Nothing
 * blocks the loop and there is no thread. Connections are kept alive in the
 * multi handle's cache and reused by every slot.
 *
 * A slot owns one queue item until it is done: 2xx (partial_success is
 * counted and logged, never retried), a permanent error (other 4xx/5xx:
 * dropped, counted and logged with the backend's google.rpc.Status message),
 * or retries exhausted (429/502/503/504 and transport errors back off
 * exponentially with jitter, at least Retry-After, until max_elapsed_time).
 *
 * Batches bigger than max_request_body_size (before compression) are split
 * by resource, then scope, then profile, each part carrying the request's
 * dictionary; the parts are pushed all or none.
 *
 * gRPC (`otlp`): the same requests over HTTP/2, cleartext with prior
 * knowledge one connection per call (libcurl 7.88 cannot start a second
 * stream on such a connection; see easy_setup), over TLS on kept
 * connections, as unary Export calls: content-type application/grpc, te: trailers,
 * grpc-encoding, each body prefixed with gRPC's 5 bytes when it is queued.
 * The outcome is grpc-status from the trailers (or a trailers-only answer),
 * read by the header callback; which codes are retried is in grpcwire.c,
 * and a RetryInfo delay plays the part of Retry-After. As in the Collector,
 * host:port means TLS (HTTP/2 by ALPN) unless tls.insecure: true. TLS, for
 * both, is libcurl's (OpenSSL) with the Collector's tls keys. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../component/component.h"
#include "../core/log.h"
#include "exporter.h"
#include "internal.h"

#define PROFILES_PATH "/v1development/profiles"
#define TRACES_PATH "/v1/traces"
#define GRPC_PROFILES_PATH "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define GRPC_TRACES_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define MAX_ANSWER_BYTES (64 * 1024) /* of a response body kept for its message */
#define LOG_EVERY_MS 5000

/* ---- config ------------------------------------------------------------------------ */

typedef struct {
  char *endpoint, *profiles_endpoint, *traces_endpoint;
  const pc_cfg_node_t *headers;
  char *compression, *encoding;
  uint64_t timeout_ms;
  uint64_t max_body;
  bool retry_enabled;
  uint64_t initial_ms, max_interval_ms, max_elapsed_ms;
  char *multiplier, *randomization;
  bool queue_enabled;
  int64_t num_consumers, queue_size;
  uint64_t queue_max_bytes;
  char *storage;
  bool tls_insecure; /* otlp */
  bool tls_skip_verify;
  char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_min_version;
  char *authenticator;
} otlphttp_cfg_t;

static const pc_opt_t auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, otlphttp_cfg_t, authenticator,
               "id of a headers_setter extension (headers set per batch from its client "
               "metadata, e.g. X-Scope-OrgID per tenant) or of a bearertokenauth (its token "
               "on every request)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t retry_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", otlphttp_cfg_t, retry_enabled,
                   "retry transient errors (HTTP 429, 502, 503, 504; gRPC UNAVAILABLE, "
                   "DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED with RetryInfo, ...) and lost "
                   "connections"),
    PC_OPT_DUR("initial_interval", "5s", otlphttp_cfg_t, initial_ms, 1, 3600000,
               "wait after the first failure"),
    PC_OPT_DUR("max_interval", "30s", otlphttp_cfg_t, max_interval_ms, 1, 86400000,
               "longest wait between two tries"),
    PC_OPT_DUR("max_elapsed_time", "300s", otlphttp_cfg_t, max_elapsed_ms, 0, 604800000,
               "give a batch up (dropped, counted, logged) after trying this long; 0: never"),
    PC_OPT_STR("multiplier", "1.5", otlphttp_cfg_t, multiplier,
               "each wait is the previous one times this (>= 1)"),
    PC_OPT_STR("randomization_factor", "0.5", otlphttp_cfg_t, randomization,
               "jitter: a wait is spread by +- this fraction (0 to 1)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t queue_opts[] = {
    PC_OPT_BOOLEAN("enabled", "true", otlphttp_cfg_t, queue_enabled,
                   "queue batches; false: hold only the num_consumers batches in flight"),
    PC_OPT_INT_RANGE("num_consumers", "10", otlphttp_cfg_t, num_consumers, 1, 1000,
                     "requests in flight at most"),
    PC_OPT_INT_RANGE("queue_size", "1000", otlphttp_cfg_t, queue_size, 1, 10000000,
                     "batches held (waiting and in flight); when full, receivers answer 503"),
    PC_OPT_BYTES("max_bytes", "256MiB", otlphttp_cfg_t, queue_max_bytes, 1024,
                 (int64_t)1 << 40, "profcol: compressed bytes held, the other bound"),
    PC_OPT_STR("storage", NULL, otlphttp_cfg_t, storage,
               "id of a file_storage extension: keep the queue on disk across restarts"),
    PC_OPT_TABLE_END,
};

/* The Collector's configtls client keys. */
static const pc_opt_t tls_opts[] = {
    PC_OPT_BOOLEAN("insecure", "false", otlphttp_cfg_t, tls_insecure,
                   "otlp_grpc: speak cleartext HTTP/2 (h2c) to a host:port endpoint instead of "
                   "TLS (otlp_http: the URL's scheme decides)"),
    PC_OPT_BOOLEAN("insecure_skip_verify", "false", otlphttp_cfg_t, tls_skip_verify,
                   "do not verify the server's certificate and name (tests only)"),
    PC_OPT_STR("ca_file", NULL, otlphttp_cfg_t, tls_ca_file,
               "PEM file of the CAs that sign the server's certificate (default: the "
               "system's)"),
    PC_OPT_STR("cert_file", NULL, otlphttp_cfg_t, tls_cert_file,
               "PEM client certificate, for mutual TLS (with key_file)"),
    PC_OPT_STR("key_file", NULL, otlphttp_cfg_t, tls_key_file,
               "PEM private key of cert_file"),
    PC_OPT_STR("min_version", "1.2", otlphttp_cfg_t, tls_min_version,
               "oldest TLS version accepted: 1.0, 1.1, 1.2 or 1.3"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t otlphttp_opts[] = {
    PC_OPT_STR("endpoint", NULL, otlphttp_cfg_t, endpoint,
               "base URL; " PROFILES_PATH " or " TRACES_PATH " is appended"),
    PC_OPT_STR("profiles_endpoint", NULL, otlphttp_cfg_t, profiles_endpoint,
               "URL for profiles, used as is (overrides endpoint)"),
    PC_OPT_STR("traces_endpoint", NULL, otlphttp_cfg_t, traces_endpoint,
               "URL for traces, used as is (overrides endpoint)"),
    PC_OPT_HEADERS("headers", otlphttp_cfg_t, headers, "extra HTTP headers on every request"),
    PC_OPT_SECTION("auth", auth_opts, "client authentication: headers from an extension"),
    PC_OPT_STR("compression", "gzip", otlphttp_cfg_t, compression, "gzip, zstd or none"),
    PC_OPT_STR("encoding", "proto", otlphttp_cfg_t, encoding, "proto or json"),
    PC_OPT_DUR("timeout", "30s", otlphttp_cfg_t, timeout_ms, 0, 3600000,
               "per request, connect to last byte; 0: none"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", otlphttp_cfg_t, max_body, 256,
                 (int64_t)1 << 31,
                 "profcol: split batches so no request body exceeds this before compression"),
    PC_OPT_SECTION("tls", tls_opts, "transport security for https:// endpoints"),
    PC_OPT_SECTION("retry_on_failure", retry_opts, "retries with exponential backoff"),
    PC_OPT_SECTION("sending_queue", queue_opts, "the queue between the pipeline and the backend"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t otlp_opts[] = {
    PC_OPT_STR("endpoint", NULL, otlphttp_cfg_t, endpoint,
               "host:port or http://host:port of the gRPC backend"),
    PC_OPT_HEADERS("headers", otlphttp_cfg_t, headers, "extra gRPC metadata on every call"),
    PC_OPT_SECTION("auth", auth_opts, "client authentication: metadata from an extension"),
    PC_OPT_STR("compression", "gzip", otlphttp_cfg_t, compression, "gzip, zstd or none"),
    PC_OPT_DUR("timeout", "5s", otlphttp_cfg_t, timeout_ms, 0, 3600000,
               "per call, connect to trailers (sent as grpc-timeout); 0: none"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", otlphttp_cfg_t, max_body, 256,
                 (int64_t)1 << 31,
                 "profcol: split batches so no message exceeds this before compression"),
    PC_OPT_SECTION("tls", tls_opts, "transport security (TLS unless insecure: true)"),
    PC_OPT_SECTION("retry_on_failure", retry_opts, "retries with exponential backoff"),
    PC_OPT_SECTION("sending_queue", queue_opts, "the queue between the pipeline and the backend"),
    PC_OPT_TABLE_END,
};

/* ---- the instance -------------------------------------------------------------------- */

typedef struct otlphttp otlphttp_t;

/* One request in flight (or waiting to retry), with its curl handle. */
typedef struct {
  otlphttp_t *x;
  CURL *easy;
  pc__qitem_t *item; /* NULL: idle */
  uv_timer_t backoff;
  uint64_t first_ms; /* loop time of the first try */
  uint32_t tries;
  bool in_curl;
  pc_buf_t answer;
  /* gRPC: what the answer's headers and trailers said (-1: no grpc-status) */
  int grpc_status;
  bool has_retry_info;
  uint64_t retry_delay_ms;
  pc_encoding_t grpc_enc; /* of the answer message */
  char grpc_msg[256];
  char errbuf[CURL_ERROR_SIZE];
  struct curl_slist *auth_hdrs; /* auth: this try's headers; curl reads them until the next */
} slot_t;

/* A socket curl asked us to watch. */
typedef struct sock {
  uv_poll_t poll;
  otlphttp_t *x;
  curl_socket_t fd;
  struct sock *next; /* open sockets, to close what curl leaves behind */
} sock_t;

typedef enum { ST_CREATED, ST_RUNNING, ST_DRAINING, ST_CLOSING, ST_STOPPED } state_t;

struct otlphttp {
  pc_consumer_t consumer; /* first: the consumer's container */
  char id[128];           /* "exporter:otlphttp/x", for logs */
  char comp_id[128];      /* "otlphttp/x" */
  /* settings */
  bool grpc; /* the otlp exporter */
  char *profiles_url, *traces_url;
  pc_headers_t headers; /* "Name: value" (with a static authenticator's applied at start) */
  pc_encoding_t enc;
  bool json;
  uint64_t timeout_ms, max_body;
  bool retry_enabled;
  uint64_t initial_ms, max_interval_ms, max_elapsed_ms;
  double multiplier, jitter;
  uint32_t num_consumers;
  uint64_t queue_items, queue_bytes;
  pc_ref_t storage_ref;        /* sending_queue.storage, or unset */
  const pc_storage_t *storage; /* ... found by resolve */
  /* tls: NULL or copies of the files; ssl_version a CURL_SSLVERSION_* */
  char *ca_file, *cert_file, *key_file;
  bool skip_verify;
  long ssl_version;
  pc_ref_t auth_ref;             /* auth.authenticator, or unset */
  const pc_client_auth_t *auth;  /* ... found by resolve */
  bool auth_per_batch;           /* it reads each batch's client metadata */
  /* runtime */
  state_t state;
  uv_loop_t *loop;
  CURLM *multi;
  bool curl_global;
  uv_timer_t curl_timer, stop_timer;
  slot_t *slots;
  uint32_t busy;
  bool pumping;
  sock_t *socks;
  struct curl_slist *hdrs[2][PC_ENC_ZSTD + 1]; /* [json][encoding], built on first use */
  pc__queue_t *q;
  bool persistent;
  pc_buf_t scratch; /* encoder output, reused */
  uint64_t rng;
  pc_otlphttp_stats_t st;
  pc__ratelimit_t rl_retry, rl_drop, rl_partial;
  pc__handback_cb handback; /* retired (load_balancing): offer batches here first */
  void *handback_arg;
  unsigned closing; /* close callbacks still to come */
  pc_done_cb done;
  void *done_arg;
};

/* ---- create ---------------------------------------------------------------------------- */

static bool is_http_url(const char *u) {
  return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* endpoint + path, without a doubled slash. */
static char *join_url(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n && base[n - 1] == '/') n--;
  char *u = pc_xmalloc(n + strlen(path) + 1);
  memcpy(u, base, n);
  strcpy(u + n, path);
  return u;
}

static const pc_cfg_node_t *node_at(const pc_cfg_node_t *cfg, const char *section,
                                    const char *key) {
  const pc_cfg_node_t *n = section ? pc_cfg_get(cfg, section) : cfg;
  const pc_cfg_node_t *v = pc_cfg_get(n, key);
  return v ? v : n ? n : cfg;
}

static int parse_fraction(const pc_cfg_node_t *cfg, const char *key, const char *text, double lo,
                          double hi, double *out, pc_err_t *err) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !isfinite(v) || v < lo || v > hi)
    return pc_cfg_error(err, node_at(cfg, "retry_on_failure", key), PC_EINVAL,
                        "expected a number from %g to %g, got \"%s\"", lo, hi, text);
  *out = v;
  return 0;
}

static int parse_headers(otlphttp_t *x, const pc_cfg_node_t *h, pc_err_t *err) {
  if (!h || h->type != PC_CFG_MAP) return 0;
  for (size_t i = 0; i < h->n_entries; i++) {
    const char *k = h->entries[i].key;
    const pc_cfg_node_t *v = h->entries[i].value;
    const char *val = v && v->text ? v->text : "";
    if (!k[0] || strpbrk(k, ":\r\n \t") || strpbrk(val, "\r\n"))
      return pc_cfg_error(err, v ? v : h, PC_EINVAL,
                          "header \"%s\": names cannot be empty or hold ':', spaces or line "
                          "breaks, and values cannot hold line breaks", k);
    if (!strcasecmp(k, "Content-Type") || !strcasecmp(k, "Content-Encoding") ||
        !strcasecmp(k, "Content-Length"))
      return pc_cfg_error(err, v ? v : h, PC_EINVAL,
                          "header \"%s\" is set by the exporter (see encoding and compression)",
                          k);
    if (x->grpc && (!strcasecmp(k, "te") || !strncasecmp(k, "grpc-", 5)))
      return pc_cfg_error(err, v ? v : h, PC_EINVAL,
                          "header \"%s\" is reserved by gRPC and set by the exporter", k);
    pc_headers_add(&x->headers, k, strlen(k), val, strlen(val));
  }
  return 0;
}

static int resolve_urls(otlphttp_t *x, const otlphttp_cfg_t *c, const pc_create_args_t *args,
                        pc_err_t *err) {
  static const struct {
    const char *key, *path;
    pc_signal_t signal;
  } sig[2] = {{"profiles_endpoint", PROFILES_PATH, PC_SIGNAL_PROFILES},
              {"traces_endpoint", TRACES_PATH, PC_SIGNAL_TRACES}};
  char *own[2] = {c->profiles_endpoint, c->traces_endpoint};
  char **dst[2] = {&x->profiles_url, &x->traces_url};
  char shown[512];
  if (c->endpoint && c->endpoint[0] && !is_http_url(c->endpoint))
    return pc_cfg_error(err, node_at(args->cfg, NULL, "endpoint"), PC_EINVAL,
                        "expected a URL starting with http:// or https://, got \"%s\"",
                        pc_redact_url(c->endpoint, shown, sizeof shown));
  for (int i = 0; i < 2; i++) {
    if (own[i] && own[i][0]) {
      if (!is_http_url(own[i]))
        return pc_cfg_error(err, node_at(args->cfg, NULL, sig[i].key), PC_EINVAL,
                            "expected a URL starting with http:// or https://, got \"%s\"",
                            pc_redact_url(own[i], shown, sizeof shown));
      *dst[i] = pc_xstrdup(own[i]);
    } else if (c->endpoint && c->endpoint[0]) {
      *dst[i] = join_url(c->endpoint, sig[i].path);
    } else if (args->signals & sig[i].signal) {
      return pc_cfg_error(err, args->cfg, PC_EINVAL,
                          "set endpoint (e.g. https://backend:4318) or %s", sig[i].key);
    }
  }
  return 0;
}

/* otlp: endpoint is host:port or http://host:port; both signals go there. */
static int resolve_grpc_urls(otlphttp_t *x, const otlphttp_cfg_t *c,
                             const pc_create_args_t *args, pc_err_t *err) {
  const pc_cfg_node_t *at = node_at(args->cfg, NULL, "endpoint");
  const char *ep = c->endpoint ? c->endpoint : "";
  if (!ep[0]) return pc_cfg_error(err, args->cfg, PC_EINVAL, "set endpoint (e.g. backend:4317)");
  /* As the Collector: host:port is TLS unless tls.insecure; a scheme, when
   * given, decides. */
  bool has_scheme = !strncmp(ep, "http://", 7) || !strncmp(ep, "https://", 8);
  char shown[512];
  if (!has_scheme && strstr(ep, "://"))
    return pc_cfg_error(err, at, PC_EINVAL,
                        "expected host:port, http://host:port or https://host:port, got \"%s\"",
                        pc_redact_url(ep, shown, sizeof shown));
  char base[1024];
  snprintf(base, sizeof base, "%s%s", has_scheme ? "" : c->tls_insecure ? "http://" : "https://",
           ep);
  x->profiles_url = join_url(base, GRPC_PROFILES_PATH);
  x->traces_url = join_url(base, GRPC_TRACES_PATH);
  return 0;
}

/* auth.authenticator must name a headers_setter or a bearertokenauth. Whether that one is defined
 * and listed in service.extensions shows only in start (extensions are not
 * built while a broken config is checked), so the error start gives is made
 * here, where the config node says file:line:col. */
static int resolve_auth(otlphttp_t *x, const otlphttp_cfg_t *c, const pc_create_args_t *args,
                        pc_err_t *err) {
  const pc_cfg_node_t *n = node_at(args->cfg, "auth", "authenticator");
  if (!c->authenticator) return 0;
  const char *id = c->authenticator;
  if (!pc_id_has_type(id, "headers_setter") && !pc_id_has_type(id, "bearertokenauth"))
    return pc_cfg_error(err, n, PC_EINVAL, "\"%s\" is not an authenticator profcol has: "
                        "headers_setter or bearertokenauth (or either with /NAME)", id);
  pc_ref_init(&x->auth_ref, id, n);
  return 0;
}

/* A tls file key: readable now, so a typo is a config error with its
 * place rather than a TLS failure on every try. */
static int tls_file(const pc_create_args_t *args, const char *key, const char *path,
                    char **out, pc_err_t *err) {
  if (!path || !path[0]) return 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return pc_cfg_error(err, node_at(args->cfg, "tls", key), PC_EINVAL, "cannot read %s: %s",
                        path, strerror(errno));
  fclose(f);
  *out = pc_xstrdup(path);
  return 0;
}

static int resolve_tls(otlphttp_t *x, const otlphttp_cfg_t *c, const pc_create_args_t *args,
                       pc_err_t *err) {
  static const struct {
    const char *name;
    long curl;
  } versions[] = {{"1.0", CURL_SSLVERSION_TLSv1_0}, {"1.1", CURL_SSLVERSION_TLSv1_1},
                  {"1.2", CURL_SSLVERSION_TLSv1_2}, {"1.3", CURL_SSLVERSION_TLSv1_3}};
  x->ssl_version = -1;
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
    if (!strcmp(c->tls_min_version, versions[i].name)) x->ssl_version = versions[i].curl;
  if (x->ssl_version < 0)
    return pc_cfg_error(err, node_at(args->cfg, "tls", "min_version"), PC_EINVAL,
                        "expected 1.0, 1.1, 1.2 or 1.3, got \"%s\"", c->tls_min_version);
  bool cert = c->tls_cert_file && c->tls_cert_file[0], key = c->tls_key_file && c->tls_key_file[0];
  if (cert != key)
    return pc_cfg_error(err, node_at(args->cfg, "tls", cert ? "cert_file" : "key_file"),
                        PC_EINVAL, "cert_file and key_file go together (mutual TLS)");
  x->skip_verify = c->tls_skip_verify;
  int rc = tls_file(args, "ca_file", c->tls_ca_file, &x->ca_file, err);
  if (!rc) rc = tls_file(args, "cert_file", c->tls_cert_file, &x->cert_file, err);
  if (!rc) rc = tls_file(args, "key_file", c->tls_key_file, &x->key_file, err);
  return rc;
}

static int resolve(otlphttp_t *x, const otlphttp_cfg_t *c, const pc_create_args_t *args,
                   pc_err_t *err) {
  int rc = x->grpc ? resolve_grpc_urls(x, c, args, err) : resolve_urls(x, c, args, err);
  if (!rc) rc = resolve_tls(x, c, args, err);
  if (rc) return rc;
  if (!strcmp(c->compression, "gzip")) x->enc = PC_ENC_GZIP;
  else if (!strcmp(c->compression, "zstd")) x->enc = PC_ENC_ZSTD;
  else if (!strcmp(c->compression, "none") || !c->compression[0]) x->enc = PC_ENC_IDENTITY;
  else
    return pc_cfg_error(err, node_at(args->cfg, NULL, "compression"), PC_EINVAL,
                        "expected gzip, zstd or none, got \"%s\"", c->compression);
  if (x->grpc) x->json = false;
  else if (!strcmp(c->encoding, "proto")) x->json = false;
  else if (!strcmp(c->encoding, "json")) x->json = true;
  else
    return pc_cfg_error(err, node_at(args->cfg, NULL, "encoding"), PC_EINVAL,
                        "expected proto or json, got \"%s\"", c->encoding);
  if ((rc = parse_fraction(args->cfg, "multiplier", c->multiplier, 1.0, 1000.0,
                           &x->multiplier, err)) ||
      (rc = parse_fraction(args->cfg, "randomization_factor", c->randomization, 0.0, 1.0,
                           &x->jitter, err)))
    return rc;
  if (c->storage && c->storage[0] && !c->queue_enabled)
    return pc_cfg_error(err, node_at(args->cfg, "sending_queue", "storage"), PC_EINVAL,
                        "storage needs the sending queue: set sending_queue.enabled: true");
  if ((rc = parse_headers(x, c->headers, err))) return rc;
  x->timeout_ms = c->timeout_ms;
  x->max_body = c->max_body;
  x->retry_enabled = c->retry_enabled;
  x->initial_ms = c->initial_ms;
  x->max_interval_ms = c->max_interval_ms < c->initial_ms ? c->initial_ms : c->max_interval_ms;
  x->max_elapsed_ms = c->max_elapsed_ms;
  x->num_consumers = (uint32_t)c->num_consumers;
  /* Without a queue only the batches in flight are held. */
  x->queue_items = c->queue_enabled ? (uint64_t)c->queue_size : x->num_consumers;
  x->queue_bytes = c->queue_max_bytes;
  if (c->storage && c->storage[0])
    pc_ref_init(&x->storage_ref, c->storage, node_at(args->cfg, "sending_queue", "storage"));
  return resolve_auth(x, c, args, err);
}

static int otlphttp_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
static int otlphttp_consume_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err);
static int otlphttp_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err);
static void otlphttp_destroy(void *self);

static void *create(const pc_create_args_t *args, bool grpc, pc_err_t *err) {
  otlphttp_cfg_t cfg = {0};
  if (pc_cfg_apply(grpc ? otlp_opts : otlphttp_opts, args->cfg, &cfg, err)) return NULL;
  otlphttp_t *x = pc_xcalloc(1, sizeof *x);
  x->grpc = grpc;
  snprintf(x->id, sizeof x->id, "exporter:%s", args->id);
  snprintf(x->comp_id, sizeof x->comp_id, "%s", args->id);
  if (resolve(x, &cfg, args, err)) {
    otlphttp_destroy(x);
    return NULL;
  }
  x->consumer.consume_profiles = otlphttp_consume_profiles;
  x->consumer.consume_traces = otlphttp_consume_traces;
  if (!x->json) x->consumer.consume_encoded = otlphttp_consume_encoded;
  x->consumer.encodings = 1u << x->enc; /* what a producer of bodies should make */
  x->consumer.max_body = x->max_body;
  uint64_t ra = x->initial_ms / 1000;
  x->consumer.retry_after_s = ra < 1 ? 1 : ra > 30 ? 30 : (uint32_t)ra;
  x->rng = (uint64_t)(uintptr_t)x ^ pc__now_ms() ^ 0x9e3779b97f4a7c15ull;
  return x;
}

static void *otlphttp_create(const pc_create_args_t *args, pc_err_t *err) {
  return create(args, false, err);
}

static void *otlp_create(const pc_create_args_t *args, pc_err_t *err) {
  return create(args, true, err);
}

static pc_consumer_t *otlphttp_consumer(void *self) { return &((otlphttp_t *)self)->consumer; }

/* ---- closing handles ------------------------------------------------------------------ */

static void finish_stop(otlphttp_t *x) {
  x->state = ST_STOPPED;
  pc_done_cb done = x->done;
  x->done = NULL;
  if (done) done(x->done_arg);
}

static void handle_on_close(uv_handle_t *h) {
  otlphttp_t *x = h->data;
  if (--x->closing == 0 && x->state == ST_CLOSING) finish_stop(x);
}

static void sock_on_close(uv_handle_t *h) {
  sock_t *sk = container_of(h, sock_t, poll);
  otlphttp_t *x = sk->x;
  free(sk);
  if (--x->closing == 0 && x->state == ST_CLOSING) finish_stop(x);
}

static void close_handle(otlphttp_t *x, uv_handle_t *h, uv_close_cb cb) {
  h->data = x;
  x->closing++;
  uv_close(h, cb);
}

/* ---- libcurl on the loop ---------------------------------------------------------------- */

static void check_done_transfers(otlphttp_t *x);

static void sock_on_poll(uv_poll_t *p, int status, int events) {
  sock_t *sk = container_of(p, sock_t, poll);
  otlphttp_t *x = sk->x;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(x->multi, sk->fd, flags, &running); /* may close sk */
  check_done_transfers(x);
}

static void sock_forget(otlphttp_t *x, sock_t *sk) {
  for (sock_t **pp = &x->socks; *pp; pp = &(*pp)->next)
    if (*pp == sk) {
      *pp = sk->next;
      break;
    }
  uv_poll_stop(&sk->poll);
  close_handle(x, (uv_handle_t *)&sk->poll, sock_on_close);
}

static int curl_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  otlphttp_t *x = userp;
  sock_t *sk = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sk) {
      curl_multi_assign(x->multi, fd, NULL);
      sock_forget(x, sk);
    }
    return 0;
  }
  if (!sk) {
    sk = pc_xcalloc(1, sizeof *sk);
    sk->x = x;
    sk->fd = fd;
    if (uv_poll_init_socket(x->loop, &sk->poll, fd)) {
      free(sk);
      return -1;
    }
    sk->next = x->socks;
    x->socks = sk;
    curl_multi_assign(x->multi, fd, sk);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&sk->poll, ev, sock_on_poll);
  return 0;
}

static void curl_timer_on_fire(uv_timer_t *t) {
  otlphttp_t *x = container_of(t, otlphttp_t, curl_timer);
  int running;
  curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done_transfers(x);
}

static int curl_on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  otlphttp_t *x = userp;
  if (timeout_ms < 0) uv_timer_stop(&x->curl_timer);
  else uv_timer_start(&x->curl_timer, curl_timer_on_fire, (uint64_t)timeout_ms, 0);
  return 0;
}

static size_t curl_on_answer(char *p, size_t size, size_t nmemb, void *userdata) {
  slot_t *s = userdata;
  size_t n = size * nmemb;
  size_t room = s->answer.n < MAX_ANSWER_BYTES ? MAX_ANSWER_BYTES - s->answer.n : 0;
  if (room && pc_buf_append(&s->answer, p, n < room ? n : room)) return 0;
  return n;
}

/* "name: value\r\n" -> whether it is name, with the trimmed value. */
static bool header_is(const char *line, size_t n, const char *name, const char **v, size_t *vn) {
  size_t k = strlen(name);
  if (n <= k || line[k] != ':' || strncasecmp(line, name, k)) return false;
  size_t i = k + 1;
  while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
  while (n > i && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ')) n--;
  *v = line + i;
  *vn = n - i;
  return true;
}

/* gRPC: libcurl hands response headers and HTTP/2 trailers alike to this. */
static size_t curl_on_header(char *p, size_t size, size_t nitems, void *userdata) {
  slot_t *s = userdata;
  size_t n = size * nitems;
  const char *v;
  size_t vn;
  if (header_is(p, n, "grpc-status", &v, &vn)) {
    char num[8] = "";
    memcpy(num, v, vn < sizeof num - 1 ? vn : sizeof num - 1);
    char *end;
    long code = strtol(num, &end, 10);
    s->grpc_status = end != num && !*end && code >= 0 && code < 100 ? (int)code
                                                                    : PC_GRPC_UNKNOWN;
  } else if (header_is(p, n, "grpc-message", &v, &vn)) {
    pc__grpc_message_decode(v, vn, s->grpc_msg, sizeof s->grpc_msg);
  } else if (header_is(p, n, "grpc-status-details-bin", &v, &vn)) {
    s->has_retry_info = pc__grpc_retry_info(v, vn, &s->retry_delay_ms);
  } else if (header_is(p, n, "grpc-encoding", &v, &vn)) {
    if (pc_encoding_parse((pc_str_t){(const uint8_t *)v, vn}, &s->grpc_enc))
      s->grpc_enc = PC_ENC_IDENTITY; /* unknown: the message is not read */
  }
  return n;
}

/* ---- sending ---------------------------------------------------------------------------- */

static struct curl_slist *append(struct curl_slist *l, const char *line) {
  if (!(l = curl_slist_append(l, line))) pc_oom();
  return l;
}

/* gRPC's request headers (HTTP/2 lowercases the names). */
static struct curl_slist *grpc_headers(otlphttp_t *x, struct curl_slist *l, pc_encoding_t enc) {
  char line[64];
  l = append(l, "Content-Type: application/grpc");
  l = append(l, "TE: trailers");
  l = append(l, "grpc-accept-encoding: identity,gzip,deflate,zstd");
  if (enc != PC_ENC_IDENTITY) {
    snprintf(line, sizeof line, "grpc-encoding: %s", pc_encoding_name(enc));
    l = append(l, line);
  }
  if (x->timeout_ms) { /* at most 3600000 (1h): within gRPC's 8 digits */
    snprintf(line, sizeof line, "grpc-timeout: %" PRIu64 "m", x->timeout_ms);
    l = append(l, line);
  }
  return l;
}

/* A new list: lines (the configured headers, or those after auth), then the
 * protocol's own. */
static struct curl_slist *header_list(otlphttp_t *x, char *const *lines, size_t n, bool json,
                                      pc_encoding_t enc) {
  struct curl_slist *l = NULL;
  for (size_t i = 0; i < n; i++)
    if (!(l = curl_slist_append(l, lines[i]))) pc_oom();
  if (x->grpc) return grpc_headers(x, l, enc);
  if (!(l = curl_slist_append(l, json ? "Content-Type: application/json"
                                      : "Content-Type: application/x-protobuf")))
    pc_oom();
  if (enc != PC_ENC_IDENTITY) {
    char line[64];
    snprintf(line, sizeof line, "Content-Encoding: %s", pc_encoding_name(enc));
    if (!(l = curl_slist_append(l, line))) pc_oom();
  }
  /* No "Expect: 100-continue" round trip before big bodies. */
  if (!(l = curl_slist_append(l, "Expect:"))) pc_oom();
  return l;
}

static struct curl_slist *headers_for(otlphttp_t *x, bool json, pc_encoding_t enc) {
  struct curl_slist **h = &x->hdrs[json][enc];
  if (!*h) *h = header_list(x, x->headers.v, x->headers.n, json, enc);
  return *h;
}

/* The configured headers after the authenticator's rules for the batch's
 * metadata (md: pc_md_encode form, or NULL). */
static int auth_headers(otlphttp_t *x, const pc__body_t *md, pc_headers_t *out, pc_err_t *err) {
  *out = (pc_headers_t){0};
  for (size_t i = 0; i < x->headers.n; i++) { /* "Name: value" as parse_headers made them */
    const char *line = x->headers.v[i], *colon = strchr(line, ':');
    pc_headers_add(out, line, (size_t)(colon - line), colon + 2, strlen(colon + 2));
  }
  pc_metadata_t m = {0};
  if (md && pc_md_decode(md->p, md->n, &m))
    return pc_err_set(err, PC_EINVAL, "the batch's client metadata is damaged");
  int rc = x->auth->apply(x->auth, &m, out, err);
  free((void *)m.v);
  return rc;
}

/* This try's headers: the shared list, or with auth one of its own. false
 * when auth cannot make them (then why says it). */
static bool try_headers(slot_t *s, char *why, size_t cap) {
  otlphttp_t *x = s->x;
  const pc__item_meta_t *m = &s->item->meta;
  if (!x->auth_per_batch) {
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER,
                     headers_for(x, m->json, (pc_encoding_t)m->encoding));
    return true;
  }
  pc_headers_t h;
  pc_err_t err = {0};
  int rc = auth_headers(x, m->md, &h, &err);
  if (!rc) {
    curl_slist_free_all(s->auth_hdrs); /* the previous try is over */
    s->auth_hdrs = header_list(x, h.v, h.n, m->json, (pc_encoding_t)m->encoding);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->auth_hdrs);
  }
  pc_headers_free(&h);
  if (rc) snprintf(why, cap, "%s", err.msg);
  return rc == 0;
}

static const char *signal_name(const pc__item_meta_t *m) {
  return m->signal == PC_SIGNAL_TRACES ? "traces" : "profiles";
}

static void slot_finish(slot_t *s, bool delivered_or_given_up);

static bool retry_later(slot_t *s, uint64_t min_delay_ms, const char *why);
static void drop(slot_t *s, const char *why, bool retryable);

static void send_try(slot_t *s) {
  otlphttp_t *x = s->x;
  pc__qitem_t *it = s->item;
  const char *url = it->meta.signal == PC_SIGNAL_TRACES ? x->traces_url : x->profiles_url;
  if (!url) { /* a replayed batch of a signal this config no longer sends */
    x->st.dropped_batches++;
    x->st.dropped_profiles += it->meta.profiles;
    pc_log(x->id, PC_LOG_ERROR, "dropping a queued %s batch (%zu bytes): no %s_endpoint or "
           "endpoint is configured for it any more", signal_name(&it->meta), it->body->n,
           signal_name(&it->meta));
    slot_finish(s, true);
    return;
  }
  if (x->handback && x->handback(x->handback_arg, it->body, &it->meta, x->grpc) == 0) {
    x->st.rerouted_batches++;
    slot_finish(s, true);
    return;
  }
  s->answer.n = 0;
  s->errbuf[0] = 0;
  s->grpc_status = -1;
  s->has_retry_info = false;
  s->retry_delay_ms = 0;
  s->grpc_enc = PC_ENC_IDENTITY;
  s->grpc_msg[0] = 0;
  s->tries++;
  char hwhy[256];
  if (!try_headers(s, hwhy, sizeof hwhy)) {
    drop(s, hwhy, false);
    return;
  }
  curl_easy_setopt(s->easy, CURLOPT_URL, url);
  curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, it->body->p);
  curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->body->n);
  char shown[512];
  pc_log(x->id, PC_LOG_DEBUG, "POST %s: %zu bytes, %u profiles, try %u",
         pc_redact_url(url, shown, sizeof shown), it->body->n, it->meta.profiles, s->tries);
  CURLMcode mc = curl_multi_add_handle(x->multi, s->easy);
  if (mc != CURLM_OK) { /* out of memory, in practice: treat it as a failed try */
    char why[160];
    snprintf(why, sizeof why, "cannot start a request to %s: %s",
             pc_redact_url(url, shown, sizeof shown), curl_multi_strerror(mc));
    x->st.failed_attempts++;
    if (!(x->retry_enabled && retry_later(s, 0, why))) drop(s, why, true);
    return;
  }
  s->in_curl = true;
}

/* Give waiting batches to idle slots. A try can end at once (and free its
 * slot again), so loop until nothing moves; never re-entered. */
static void pump(otlphttp_t *x) {
  if (x->pumping) return;
  x->pumping = true;
  for (bool moved = true; moved;) {
    moved = false;
    for (uint32_t i = 0; i < x->num_consumers; i++) {
      slot_t *s = &x->slots[i];
      if (s->item) continue;
      if (x->state != ST_RUNNING && x->state != ST_DRAINING) break;
      pc__qitem_t *it = pc__queue_pop(x->q);
      if (!it) break;
      s->item = it;
      s->tries = 0;
      s->first_ms = uv_now(x->loop);
      x->busy++;
      moved = true;
      send_try(s);
    }
  }
  x->pumping = false;
}

static bool drained(otlphttp_t *x) {
  pc__queue_stats_t qs;
  pc__queue_stats(x->q, &qs);
  return x->busy == 0 && qs.waiting == 0;
}

static void stop_timer_on_fire(uv_timer_t *t);

/* Done with the slot's item: delivered or given up (done), or to be kept for
 * the next start (released). Then feed the slot again. */
static void slot_finish(slot_t *s, bool finished) {
  otlphttp_t *x = s->x;
  if (finished) pc__queue_done(x->q, s->item);
  else pc__queue_release(x->q, s->item);
  s->item = NULL;
  x->busy--;
  if (x->state == ST_DRAINING && drained(x))
    uv_timer_start(&x->stop_timer, stop_timer_on_fire, 0, 0); /* close at a safe point */
  else pump(x);
}

static bool answer_is_json(slot_t *s) {
  char *ct = NULL;
  curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ct);
  if (ct && strstr(ct, "json")) return true;
  if (ct && strstr(ct, "protobuf")) return false;
  return s->item->meta.json;
}

/* gRPC: the answer's message, without its prefix and decompressed into
 * plain when needed. PC_EDECODE (or the decompressor's error) when it is not
 * one well-formed message; an empty answer is an empty message. */
static int grpc_answer_message(slot_t *s, pc_buf_t *plain, const uint8_t **p, size_t *n) {
  *p = s->answer.p;
  *n = 0;
  if (!s->answer.n) return 0;
  bool compressed;
  int rc = pc__grpc_unprefix(s->answer.p, s->answer.n, &compressed, p, n);
  if (rc || !compressed) return rc;
  if (s->grpc_enc == PC_ENC_IDENTITY) return PC_EDECODE;
  pc_err_t err = {0};
  if ((rc = pc_decompress(s->grpc_enc, *p, *n, MAX_ANSWER_BYTES, plain, &err))) return rc;
  *p = plain->p;
  *n = plain->n;
  return 0;
}

/* Read partial_success out of the answer to a delivered batch. */
static int parse_success(slot_t *s, bool traces, int64_t *rejected, char *msg, size_t cap) {
  if (!s->x->grpc)
    return pc__parse_export_response(answer_is_json(s), traces, s->answer.p, s->answer.n,
                                     rejected, msg, cap);
  pc_buf_t plain = {0};
  const uint8_t *p;
  size_t n;
  int rc = grpc_answer_message(s, &plain, &p, &n);
  if (!rc) rc = pc__parse_export_response(false, traces, p, n, rejected, msg, cap);
  pc_buf_free(&plain);
  return rc;
}

static void on_delivered(slot_t *s) {
  otlphttp_t *x = s->x;
  const pc__qitem_t *it = s->item;
  bool traces = it->meta.signal == PC_SIGNAL_TRACES;
  int64_t rejected = 0;
  char msg[256];
  if (parse_success(s, traces, &rejected, msg, sizeof msg))
    pc_log(x->id, PC_LOG_DEBUG, "the backend's %zu-byte success answer is not an Export%s"
           "ServiceResponse; taken as full success", s->answer.n, traces ? "Trace" : "Profiles");
  x->st.sent_batches++;
  x->st.sent_bytes += it->body->n;
  if (!traces) x->st.sent_profiles += it->meta.profiles;
  if (rejected > 0) {
    uint64_t skipped;
    char sup[48];
    if (traces) x->st.rejected_spans += (uint64_t)rejected;
    else x->st.rejected_profiles += (uint64_t)rejected;
    if (pc__ratelimit(&x->rl_partial, LOG_EVERY_MS, &skipped))
      pc_log(x->id, PC_LOG_WARN, "the backend rejected %" PRId64 " %s of a batch (%u profiles):"
             " \"%s\"; not retried, as OTLP requires for a partial success%s", rejected,
             traces ? "spans" : "profiles", it->meta.profiles, msg,
             pc__suppressed(skipped, sup));
  }
  slot_finish(s, true);
}

static void drop(slot_t *s, const char *why, bool retryable) {
  otlphttp_t *x = s->x;
  const pc__qitem_t *it = s->item;
  x->st.dropped_batches++;
  x->st.dropped_profiles += it->meta.profiles;
  uint64_t skipped;
  char sup[48];
  if (pc__ratelimit(&x->rl_drop, LOG_EVERY_MS, &skipped)) {
    if (retryable)
      pc_log(x->id, PC_LOG_ERROR, "dropped a %s batch (%u profiles, %zu bytes) after %u tries "
             "over %" PRIu64 " ms: %s; retry_on_failure %s%s", signal_name(&it->meta),
             it->meta.profiles, it->body->n, s->tries, uv_now(x->loop) - s->first_ms, why,
             x->retry_enabled ? "gave up at max_elapsed_time" : "is disabled",
             pc__suppressed(skipped, sup));
    else
      pc_log(x->id, PC_LOG_ERROR, "dropped a %s batch (%u profiles, %zu bytes): %s; not "
             "retried because the error is permanent%s", signal_name(&it->meta),
             it->meta.profiles, it->body->n, why, pc__suppressed(skipped, sup));
  }
  slot_finish(s, true);
}

static double rand01(otlphttp_t *x) {
  x->rng ^= x->rng << 13;
  x->rng ^= x->rng >> 7;
  x->rng ^= x->rng << 17;
  return (double)(x->rng >> 11) / 9007199254740992.0;
}

/* Exponential backoff with jitter, as the Collector's (cenkalti/backoff):
 * initial * multiplier^(tries-1), capped at max_interval, then spread by
 * +- randomization_factor. */
static uint64_t backoff_ms(otlphttp_t *x, uint32_t tries) {
  double iv = (double)x->initial_ms;
  for (uint32_t i = 1; i < tries && iv < (double)x->max_interval_ms; i++) iv *= x->multiplier;
  if (iv > (double)x->max_interval_ms) iv = (double)x->max_interval_ms;
  double d = iv * (1.0 + x->jitter * (2.0 * rand01(x) - 1.0));
  return d < 1.0 ? 1 : (uint64_t)d;
}

static void backoff_on_fire(uv_timer_t *t) { send_try(container_of(t, slot_t, backoff)); }

/* Schedule the next try, or say no when max_elapsed_time would pass. */
static bool retry_later(slot_t *s, uint64_t min_delay_ms, const char *why) {
  otlphttp_t *x = s->x;
  uint64_t delay = backoff_ms(x, s->tries);
  if (delay < min_delay_ms) delay = min_delay_ms;
  uint64_t elapsed = uv_now(x->loop) - s->first_ms;
  if (x->max_elapsed_ms && elapsed + delay > x->max_elapsed_ms) return false;
  x->st.retries++;
  uint64_t skipped;
  char sup[48];
  if (pc__ratelimit(&x->rl_retry, LOG_EVERY_MS, &skipped))
    pc_log(x->id, PC_LOG_WARN, "sending a %s batch (%u profiles, %zu bytes) failed: %s; retry %u "
           "in %" PRIu64 " ms%s%s", signal_name(&s->item->meta), s->item->meta.profiles,
           s->item->body->n, why, s->tries, delay,
           min_delay_ms && delay == min_delay_ms
               ? s->x->grpc ? " (the backend's RetryInfo)" : " (the backend's Retry-After)"
               : "",
           pc__suppressed(skipped, sup));
  uv_timer_start(&s->backoff, backoff_on_fire, delay, 0);
  return true;
}

/* The first bytes of an answer that is not a google.rpc.Status (an HTML 502
 * page of a proxy, a plain-text error), so the log shows what the backend
 * said: printable ASCII, the rest escaped as \xNN, at most ~200 bytes. */
static const char *answer_start(const slot_t *s, char *out, size_t cap) {
  size_t o = 0, i = 0;
  for (; i < s->answer.n && o + 8 < cap; i++) {
    uint8_t c = s->answer.p[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
  }
  if (i < s->answer.n) memcpy(out + o, "...", 4);
  else out[o] = 0;
  return out;
}

/* "HTTP 400 from URL: <Status.message>" */
static void describe_status(slot_t *s, long status, char *why, size_t cap) {
  char msg[200];
  char *url = NULL, shown[512];
  curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
  url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
  char *ct = NULL;
  curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ct);
  bool typed = ct && (strstr(ct, "json") || strstr(ct, "protobuf"));
  if (typed && !pc__parse_status(answer_is_json(s), s->answer.p, s->answer.n, msg, sizeof msg))
    snprintf(why, cap, "HTTP %ld from %s: \"%s\"", status, url ? url : "?", msg);
  else
    snprintf(why, cap, "HTTP %ld from %s (%zu-byte %s answer, no google.rpc.Status)%s%s%s",
             status, url ? url : "?", s->answer.n, ct ? ct : "untyped",
             s->answer.n ? ": \"" : "", answer_start(s, msg, sizeof msg),
             s->answer.n ? "\"" : "");
}

/* Transport errors that no retry can fix. */
static bool curl_permanent(CURLcode rc) {
  return rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
         rc == CURLE_NOT_BUILT_IN || rc == CURLE_BAD_FUNCTION_ARGUMENT;
}

/* gRPC: the outcome is grpc-status, not the HTTP status. */
static void on_grpc_done(slot_t *s, CURLcode rc) {
  otlphttp_t *x = s->x;
  long status = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && s->grpc_status == PC_GRPC_OK) {
    on_delivered(s);
    return;
  }
  x->st.failed_attempts++;
  char why[512];
  char *url = NULL, shown[512];
  curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
  url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
  bool retryable;
  if (rc != CURLE_OK) { /* lost or refused connection, reset stream, timeout */
    snprintf(why, sizeof why, "gRPC call %s: %s", url ? url : "?",
             s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
    retryable = !curl_permanent(rc);
  } else {
    int code = s->grpc_status;
    if (code < 0)
      code = status == 200 ? PC_GRPC_INTERNAL : pc__grpc_code_from_http(status);
    snprintf(why, sizeof why, "gRPC status %s (%d) from %s%s: \"%s\"", pc__grpc_code_name(code),
             code, url ? url : "?", s->grpc_status < 0 ? " (no grpc-status; from the HTTP "
             "status)" : "", s->grpc_msg[0] ? s->grpc_msg : s->grpc_status < 0 ?
             "HTTP status without gRPC trailers" : "");
    retryable = pc__grpc_retryable(code, s->has_retry_info);
  }
  uint64_t min_delay = retryable && s->has_retry_info ? s->retry_delay_ms : 0;
  if (retryable && x->retry_enabled && retry_later(s, min_delay, why)) return;
  drop(s, why, retryable);
}

static void on_transfer_done(slot_t *s, CURLcode rc) {
  otlphttp_t *x = s->x;
  if (x->grpc) {
    on_grpc_done(s, rc);
    return;
  }
  long status = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && status >= 200 && status < 300) {
    on_delivered(s);
    return;
  }
  x->st.failed_attempts++;
  char why[512];
  bool retryable;
  uint64_t min_delay = 0;
  if (rc != CURLE_OK) {
    char *url = NULL, shown[512];
    curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
    url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
    /* errbuf has the details (host, port, errno text); the code's name otherwise. */
    snprintf(why, sizeof why, "POST %s: %s", url ? url : "?",
             s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
    retryable = !curl_permanent(rc);
  } else {
    describe_status(s, status, why, sizeof why);
    retryable = status == 429 || status == 502 || status == 503 || status == 504;
    curl_off_t ra = 0;
    if (retryable && curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
      min_delay = (uint64_t)ra * 1000u;
  }
  if (retryable && x->retry_enabled && retry_later(s, min_delay, why)) return;
  drop(s, why, retryable);
}

static void check_done_transfers(otlphttp_t *x) {
  CURLMsg *m;
  int left;
  while (x->multi && (m = curl_multi_info_read(x->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    slot_t *s = (slot_t *)(void *)priv;
    curl_multi_remove_handle(x->multi, easy);
    s->in_curl = false;
    on_transfer_done(s, rc);
  }
}

/* ---- consume --------------------------------------------------------------------------- */

static int refuse_not_running(otlphttp_t *x, pc_err_t *err) {
  return pc_err_set(err, PC_EAGAIN, "exporter %s is %s", x->comp_id,
                    x->state == ST_CREATED ? "not started" : "shutting down");
}

/* What both consume paths check before anything is encoded or compressed:
 * room in the queue. */
static int check_room(otlphttp_t *x, pc_err_t *err) {
  int rc = pc__queue_check_room(x->q, err);
  if (rc) x->st.refused_batches++;
  return rc;
}

/* The bytes this exporter sends of body: its variant for the configured
 * encoding (made now when the producer did not), for gRPC behind the
 * message prefix. A new reference, or NULL with err set. */
static pc__body_t *wire_bytes(otlphttp_t *x, pc_body_t *body, pc_err_t *err) {
  int rc = pc_body_compress(body, 1u << x->enc);
  if (rc)
    return pc_err_set(err, rc, "cannot compress a %zu-byte batch with %s: %s", body->plain_n,
                      pc_encoding_name(x->enc), pc_strerror(rc)), NULL;
  pc_bytes_t *v = body->v[x->enc];
  if (!x->grpc) return pc_bytes_ref(v);
  if (v->framed) return pc_bytes_view(v, v->p - PC_BODY_HEADROOM, v->n + PC_BODY_HEADROOM);
  if (v->n > UINT32_MAX) /* identity: a framed copy (compression: none is rare) */
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte message is above gRPC's 4 GiB", v->n), NULL;
  pc_buf_t f = {0};
  if (pc_buf_reserve(&f, v->n + 5)) pc_oom();
  pc__grpc_prefix(f.p, false, (uint32_t)v->n);
  memcpy(f.p + 5, v->p, v->n);
  f.n = v->n + 5;
  return pc_bytes_from_buf_take(&f);
}

/* With a per-batch authenticator, the batch's metadata goes into the queue
 * with it (and into the persistent queue's records), so every try, after a
 * restart too, sets the headers it asks for. Its headers are made once
 * here, so a batch they cannot be made for is refused now, not dropped
 * later. */
static int check_metadata(otlphttp_t *x, pc__body_t *md, pc_err_t *err) {
  if (!x->auth_per_batch) return 0;
  pc_headers_t h;
  int rc = auth_headers(x, md, &h, err);
  pc_headers_free(&h);
  return rc;
}

/* Queue bodies (all or none), each as this exporter sends it. */
static int push_bodies(otlphttp_t *x, pc_body_t *const *bodies, size_t n, pc_err_t *err) {
  pc__body_t **wire = pc_xcalloc(n, sizeof *wire);
  pc__item_meta_t *metas = pc_xcalloc(n, sizeof *metas);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const pc_body_t *b = bodies[i];
    if (!b->traces && b->plain_n > x->max_body)
      rc = pc_err_set(err, PC_ELIMIT, "a %zu-byte batch is above max_request_body_size (%"
                      PRIu64 " bytes)", b->plain_n, x->max_body);
    else if (!(wire[i] = wire_bytes(x, bodies[i], err)))
      rc = err->code;
    metas[i] = (pc__item_meta_t){
        .signal = b->traces ? PC_SIGNAL_TRACES : PC_SIGNAL_PROFILES, .json = b->json,
        .encoding = (uint8_t)x->enc, .md = x->auth_per_batch ? b->md : NULL,
        .profiles = b->profiles > UINT32_MAX ? UINT32_MAX : (uint32_t)b->profiles};
  }
  if (!rc && n) rc = check_metadata(x, metas[0].md, err);
  if (!rc) rc = pc__queue_push(x->q, wire, metas, n, err);
  if (rc == PC_EAGAIN) x->st.refused_batches += n;
  for (size_t i = 0; i < n; i++) pc__body_unref(wire[i]);
  free(wire);
  free(metas);
  if (!rc) pump(x);
  return rc;
}

/* A tree (a pipeline without batch, or a consumer of trees beside this
 * one): encoded here, split before encoding to max_request_body_size. */
static int otlphttp_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  otlphttp_t *x = (otlphttp_t *)self;
  if (x->state != ST_RUNNING) return refuse_not_running(x, err);
  if (pc_request_profile_count(req) == 0) return 0;
  int rc = check_room(x, err);
  if (rc) return rc;
  pc_bytes_t *md = x->auth_per_batch ? pc_md_bytes(req->metadata) : NULL;
  pc_body_t **bodies;
  size_t n;
  rc = pc_request_bodies(req, x->json, x->max_body, 1u << x->enc, md, &bodies, &n, err);
  pc_bytes_unref(md);
  if (!rc) rc = push_bodies(x, bodies, n, err);
  for (size_t i = 0; i < n; i++) pc_body_unref(bodies[i]);
  free(bodies);
  return rc;
}

/* A finished batch (protobuf exporters only): its variant is queued by
 * reference; nothing is encoded, decoded or (normally) compressed here. */
static int otlphttp_consume_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err) {
  otlphttp_t *x = (otlphttp_t *)self;
  if (x->state != ST_RUNNING) return refuse_not_running(x, err);
  if (body->profiles == 0) return 0;
  int rc = check_room(x, err);
  return rc ? rc : push_bodies(x, &body, 1, err);
}

/* Trace requests go out as they came (protobuf or JSON), compressed; the
 * model has no encoder to split them with. */
static int otlphttp_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  otlphttp_t *x = (otlphttp_t *)self;
  const uint8_t *p = tr->encoded;
  size_t n = tr->encoded_n;
  bool json = tr->json;
  if (x->state != ST_RUNNING) return refuse_not_running(x, err);
  if (!x->traces_url)
    return pc_err_set(err, PC_EINVAL, "exporter %s has no traces_endpoint", x->comp_id);
  if (x->grpc && json) /* there is no traces model to re-encode them with */
    return pc_err_set(err, PC_EINVAL, "exporter %s sends traces over gRPC as protobuf only; "
                      "an OTLP-JSON traces request cannot be forwarded", x->comp_id);
  if (n > x->max_body)
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte traces request is above "
                      "max_request_body_size (%" PRIu64 " bytes)", n, x->max_body);
  int rc = check_room(x, err);
  if (rc) return rc;
  pc_buf_t copy = {0};
  if (pc_buf_append(&copy, p, n)) pc_oom();
  pc_body_t *body = pc_body_new(&copy, true, json, 0, 0, NULL);
  rc = push_bodies(x, &body, 1, err);
  pc_body_unref(body);
  return rc;
}

/* ---- start ------------------------------------------------------------------------------ */

static int open_queue(otlphttp_t *x, pc_err_t *err) {
  char dir[4096] = "";
  bool fsync_each = false;
  if (pc_ref_set(&x->storage_ref)) {
    const pc_storage_t *st = x->storage;
    if (!st) { /* never resolved: as if nothing is there */
      pc_host_find(NULL, &x->storage_ref, PC_ROLE_STORAGE, err);
      return err->code;
    }
    char name[160];
    pc__id_to_filename(x->comp_id, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", st->directory, name);
    fsync_each = st->fsync;
    x->persistent = true;
  }
  pc__queue_opts_t o = {.log_id = x->id, .max_items = x->queue_items,
                        .max_bytes = x->queue_bytes, .dir = x->persistent ? dir : NULL,
                        .fsync = fsync_each};
  return pc__queue_open(&o, &x->q, err);
}

/* A slot's easy handle with every option that does not change per try;
 * -1 when curl_easy_init fails. */
static int easy_setup(slot_t *s) {
  otlphttp_t *x = s->x;
  if (!(s->easy = curl_easy_init())) return -1;
  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (char *)s);
  curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, curl_on_answer);
  curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
  curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "profcol");
  curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(s->easy, CURLOPT_SSLVERSION, x->ssl_version);
  if (x->ca_file) curl_easy_setopt(s->easy, CURLOPT_CAINFO, x->ca_file);
  if (x->cert_file) {
    curl_easy_setopt(s->easy, CURLOPT_SSLCERT, x->cert_file);
    curl_easy_setopt(s->easy, CURLOPT_SSLKEY, x->key_file);
  }
  if (x->skip_verify) {
    curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (x->grpc) {
    /* h2c with prior knowledge; over TLS, HTTP/2 negotiated by ALPN. */
    bool tls = x->profiles_url && !strncmp(x->profiles_url, "https://", 8);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
                     (long)(tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    /* libcurl 7.88 (Debian 12) cannot start a second stream on a
     * prior-knowledge HTTP/2 connection (it fails with CURLE_HTTP2 or sends
     * nothing), so every h2c call gets its own connection. Over TLS the
     * connection is kept and reused: a handshake per call would cost more
     * than the call. */
    if (!tls) curl_easy_setopt(s->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, curl_on_header);
    curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
  }
  return 0;
}

static int setup_curl(otlphttp_t *x, pc_err_t *err) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return pc_err_set(err, PC_EIO, "libcurl failed to initialise");
  x->curl_global = true;
  if (!(x->multi = curl_multi_init())) return pc_err_set(err, PC_ENOMEM, "curl_multi_init failed");
  curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, curl_on_socket);
  curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
  curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, curl_on_timer);
  curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
  /* Keep one idle connection per consumer for reuse. */
  curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, (long)x->num_consumers);
  if (x->grpc) /* no multiplexing either: see easy_setup */
    curl_multi_setopt(x->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  x->slots = pc_xcalloc(x->num_consumers, sizeof *x->slots);
  for (uint32_t i = 0; i < x->num_consumers; i++) {
    x->slots[i].x = x;
    if (easy_setup(&x->slots[i])) return pc_err_set(err, PC_ENOMEM, "curl_easy_init failed");
  }
  return 0;
}

static void cleanup_curl(otlphttp_t *x) {
  for (uint32_t i = 0; x->slots && i < x->num_consumers; i++) {
    slot_t *s = &x->slots[i];
    if (s->in_curl) curl_multi_remove_handle(x->multi, s->easy);
    s->in_curl = false;
    if (s->easy) curl_easy_cleanup(s->easy);
    s->easy = NULL;
    curl_slist_free_all(s->auth_hdrs);
    s->auth_hdrs = NULL;
  }
  if (x->multi) curl_multi_cleanup(x->multi); /* closes cached connections */
  x->multi = NULL;
}

/* The extensions auth.authenticator and sending_queue.storage name. */
static int otlphttp_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  otlphttp_t *x = self;
  if (pc_ref_set(&x->auth_ref) &&
      !(x->auth = pc_host_find(host, &x->auth_ref, PC_ROLE_CLIENT_AUTH, err)))
    return err->code;
  if (pc_ref_set(&x->storage_ref) &&
      !(x->storage = pc_host_find(host, &x->storage_ref, PC_ROLE_STORAGE, err)))
    return err->code;
  return 0;
}

/* The authenticator, now that extensions have started: one that does not
 * read client metadata (bearertokenauth) edits the headers once, here. */
static int start_authenticator(otlphttp_t *x, pc_err_t *err) {
  if (!pc_ref_set(&x->auth_ref)) return 0;
  if (!x->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &x->auth_ref, PC_ROLE_CLIENT_AUTH, err);
    return err->code;
  }
  x->auth_per_batch = x->auth->uses_metadata;
  return x->auth_per_batch ? 0 : x->auth->apply(x->auth, NULL, &x->headers, err);
}

static int otlphttp_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  otlphttp_t *x = self;
  if (x->state != ST_CREATED) return pc_err_set(err, PC_EINVAL, "started twice");
  if (start_authenticator(x, err)) return err->code;
  x->loop = loop;
  int rc = open_queue(x, err);
  if (!rc && (rc = setup_curl(x, err))) {
    cleanup_curl(x);
    pc__queue_close(x->q);
    x->q = NULL;
  }
  if (rc) return rc;
  uv_timer_init(loop, &x->curl_timer);
  uv_timer_init(loop, &x->stop_timer);
  for (uint32_t i = 0; i < x->num_consumers; i++) uv_timer_init(loop, &x->slots[i].backoff);
  x->state = ST_RUNNING;
  char shown_p[512], shown_t[512];
  pc_log(x->id, PC_LOG_INFO, "sending profiles to %s%s%s (%s, %s), up to %u requests in flight, "
         "queue of %" PRIu64 " batches / %" PRIu64 " bytes%s", x->profiles_url ?
         pc_redact_url(x->profiles_url, shown_p, sizeof shown_p) : "(none)",
         x->traces_url ? ", traces to " : "",
         x->traces_url ? pc_redact_url(x->traces_url, shown_t, sizeof shown_t) : "",
         x->grpc ? "gRPC" : x->json ? "json" : "protobuf", pc_encoding_name(x->enc),
         x->num_consumers,
         x->queue_items, x->queue_bytes, x->persistent ? ", persistent" : ", in memory");
  pump(x);
  return 0;
}

/* ---- retiring (load_balancing) ------------------------------------------------------------ */

void pc__otlphttp_retire(void *instance, pc__handback_cb cb, void *arg) {
  otlphttp_t *x = instance;
  x->handback = cb;
  x->handback_arg = arg;
  if (!cb || x->state != ST_RUNNING) return;
  pc__queue_stats_t qs;
  pc__queue_stats(x->q, &qs);
  pc_log(x->id, PC_LOG_INFO, "retired: the %" PRIu64 " batches it holds are offered to the "
         "other backends before each next try", qs.held_items);
  /* Batches waiting for a retry are offered now rather than at their
   * backoff's end; those in curl when their try ends. */
  for (uint32_t i = 0; i < x->num_consumers; i++) {
    slot_t *s = &x->slots[i];
    if (!s->item || s->in_curl) continue;
    uv_timer_stop(&s->backoff);
    send_try(s);
  }
  pump(x);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

/* Stop everything now: in-flight and waiting batches are released (kept on
 * disk by a persistent queue, lost and counted otherwise), curl lets go of
 * its sockets, and every handle is closed; done is called from the last
 * close callback. */
static void close_all(otlphttp_t *x) {
  x->state = ST_CLOSING;
  uint64_t left = 0, left_profiles = 0;
  for (uint32_t i = 0; i < x->num_consumers; i++) {
    slot_t *s = &x->slots[i];
    if (!s->item) continue;
    if (s->in_curl) curl_multi_remove_handle(x->multi, s->easy);
    s->in_curl = false;
    uv_timer_stop(&s->backoff);
    left++;
    left_profiles += s->item->meta.profiles;
    pc__queue_release(x->q, s->item);
    s->item = NULL;
    x->busy--;
  }
  for (pc__qitem_t *it; (it = pc__queue_pop(x->q)); left++) {
    left_profiles += it->meta.profiles;
    pc__queue_release(x->q, it);
  }
  if (left && x->persistent)
    pc_log(x->id, PC_LOG_INFO, "%" PRIu64 " unsent batches (%" PRIu64 " profiles) stay in the "
           "persistent queue and go out first at the next start", left, left_profiles);
  else if (left) {
    x->st.lost_batches += left;
    x->st.lost_profiles += left_profiles;
    pc_log(x->id, PC_LOG_ERROR, "shutdown deadline reached with %" PRIu64 " batches (%" PRIu64
           " profiles) not delivered; they are lost (set sending_queue.storage to keep them "
           "across restarts)", left, left_profiles);
  }
  pc__queue_stats_t qs;
  pc__queue_stats(x->q, &qs);
  x->st.replayed_batches = qs.replayed;
  x->st.corrupt_files = qs.corrupt_files;
  pc__queue_close(x->q);
  x->q = NULL;
  cleanup_curl(x);
  while (x->socks) sock_forget(x, x->socks); /* any curl did not hand back */
  close_handle(x, (uv_handle_t *)&x->curl_timer, handle_on_close);
  close_handle(x, (uv_handle_t *)&x->stop_timer, handle_on_close);
  for (uint32_t i = 0; i < x->num_consumers; i++)
    close_handle(x, (uv_handle_t *)&x->slots[i].backoff, handle_on_close);
}

static void stop_timer_on_fire(uv_timer_t *t) {
  otlphttp_t *x = container_of(t, otlphttp_t, stop_timer);
  if (x->state == ST_DRAINING) close_all(x);
}

static void otlphttp_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  otlphttp_t *x = self;
  if (x->state != ST_RUNNING) { /* never started, or already stopping: nothing to wait for */
    done(arg);
    return;
  }
  x->state = ST_DRAINING;
  x->done = done;
  x->done_arg = arg;
  uint64_t now = uv_now(x->loop);
  uint64_t wait = drained(x) ? 0 : deadline_ms > now ? deadline_ms - now : 0;
  if (wait) {
    pc__queue_stats_t qs;
    pc__queue_stats(x->q, &qs);
    pc_log(x->id, PC_LOG_INFO, "draining %" PRIu64 " batches (%" PRIu64 " bytes) for up to %"
           PRIu64 " ms", qs.held_items, qs.held_bytes, wait);
  }
  uv_timer_start(&x->stop_timer, stop_timer_on_fire, wait, 0);
}

static void otlphttp_destroy(void *self) {
  otlphttp_t *x = self;
  if (!x) return;
  if (x->state == ST_RUNNING || x->state == ST_DRAINING || x->state == ST_CLOSING) {
    /* Handles are still registered with the loop: freeing would corrupt it. */
    pc_log(x->id, PC_LOG_ERROR, "destroyed before its shutdown finished; leaking it instead");
    return;
  }
  cleanup_curl(x);
  pc__queue_close(x->q);
  for (int j = 0; j < 2; j++)
    for (int e = 0; e <= PC_ENC_ZSTD; e++) curl_slist_free_all(x->hdrs[j][e]);
  for (uint32_t i = 0; x->slots && i < x->num_consumers; i++) pc_buf_free(&x->slots[i].answer);
  free(x->slots);
  pc_headers_free(&x->headers);
  free(x->profiles_url);
  free(x->traces_url);
  free(x->ca_file);
  free(x->cert_file);
  free(x->key_file);
  pc_buf_free(&x->scratch);
  if (x->curl_global) curl_global_cleanup();
  free(x);
}

int pc_otlphttp_stats(const void *instance, pc_otlphttp_stats_t *out) {
  const otlphttp_t *x = instance;
  *out = x->st;
  out->in_flight = x->busy;
  out->queue_capacity_batches = x->queue_items;
  out->queue_capacity_bytes = x->queue_bytes;
  if (x->q) {
    pc__queue_stats_t qs;
    pc__queue_stats(x->q, &qs);
    out->queue_batches = qs.held_items;
    out->queue_bytes = qs.held_bytes;
    out->queue_disk_bytes = qs.disk_bytes;
    out->replayed_batches = qs.replayed;
    out->corrupt_files = qs.corrupt_files;
  }
  return 0;
}

/* Self-telemetry: the Collector's exporter metrics where they mean the same
 * (its queue counts batches, as here), profcol_exporter_* else. */
static void otlphttp_metrics(void *self, pc_metrics_t *m) {
  pc_otlphttp_stats_t st;
  pc_otlphttp_stats(self, &st);
#define C(name, help, v) pc_metrics_counter(m, name, help, (double)(v), NULL)
#define G(name, help, v) pc_metrics_gauge(m, name, help, (double)(v), NULL)
  C("otelcol_exporter_sent_profiles", "Number of profiles successfully sent to destination.",
    st.sent_profiles);
  C("otelcol_exporter_send_failed_profiles",
    "Number of profiles in failed attempts to send to destination (dropped after a permanent "
    "error or the last retry).", st.dropped_profiles);
  G("otelcol_exporter_queue_size", "Current size of the retry queue (in batches).",
    st.queue_batches);
  G("otelcol_exporter_queue_capacity", "Fixed capacity of the retry queue (in batches).",
    st.queue_capacity_batches);
  C("profcol_exporter_sent_batches", "Batches (requests) answered 2xx.", st.sent_batches);
  C("profcol_exporter_sent_bytes", "Request bodies answered 2xx, in bytes as sent.",
    st.sent_bytes);
  C("profcol_exporter_rejected_profiles", "Profiles the backend refused in a partial success.",
    st.rejected_profiles);
  C("profcol_exporter_failed_attempts", "Tries answered with an error or cut off.",
    st.failed_attempts);
  C("profcol_exporter_retries", "Tries scheduled after a failure.", st.retries);
  C("profcol_exporter_dropped_batches", "Batches dropped: permanent error or retries exhausted.",
    st.dropped_batches);
  C("profcol_exporter_enqueue_failed_batches",
    "Batches refused because the sending queue was full.", st.refused_batches);
  C("profcol_exporter_lost_profiles",
    "Profiles of an in-memory queue still undelivered at shutdown.", st.lost_profiles);
  G("profcol_exporter_queue_bytes", "Bytes held by the sending queue now.", st.queue_bytes);
  G("profcol_exporter_queue_capacity_bytes", "The sending queue's byte limit (max_bytes).",
    st.queue_capacity_bytes);
  G("profcol_exporter_queue_disk_bytes", "Bytes in the persistent queue's files.",
    st.queue_disk_bytes);
  C("profcol_exporter_rerouted_batches",
    "Batches of a retired load_balancing backend routed to another backend instead.",
    st.rerouted_batches);
  G("profcol_exporter_in_flight", "Requests being sent or waiting to retry.", st.in_flight);
#undef C
#undef G
}

/* The same engine speaking OTLP/gRPC (h2c); see the top of the file. */
const pc_component_t pc_exporter_otlp = {
    .type = "otlp_grpc",
    .deprecated_alias = "otlp",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = otlp_opts,
    .create = otlp_create,
    .consumer = otlphttp_consumer,
    .resolve = otlphttp_resolve,
    .start = otlphttp_start,
    .shutdown = otlphttp_shutdown,
    .destroy = otlphttp_destroy,
    .metrics = otlphttp_metrics,
};

const pc_component_t pc_exporter_otlphttp = {
    .type = "otlp_http",
    .deprecated_alias = "otlphttp",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = otlphttp_opts,
    .create = otlphttp_create,
    .consumer = otlphttp_consumer,
    .resolve = otlphttp_resolve,
    .start = otlphttp_start,
    .shutdown = otlphttp_shutdown,
    .destroy = otlphttp_destroy,
    .metrics = otlphttp_metrics,
};
