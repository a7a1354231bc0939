/* otlpgrpc.c - the `otlp_grpc` exporter (deprecated alias `otlp`):
 * OTLP/gRPC's wire format and config, on the send module (send.c) and the
 * OTLP client (client.c); gRPC's conventions are in grpcwire.c.
 *
 * The one idea: a try is one unary Export call over HTTP/2 - content-type
 * application/grpc, te: trailers, grpc-encoding, grpc-timeout from the
 * timeout - whose body is the queued message behind its 5-byte prefix
 * (core/body.c writes every compressed variant behind its prefix, so the
 * bytes go out as they lie). The outcome is grpc-status from the trailers
 * or a trailers-only answer, read by the header callback (an HTTP status
 * without one is mapped as gRPC does); which codes are retried is
 * grpcwire.c's, and a RetryInfo delay plays the part of Retry-After.
 *
 * Connections: as in the Collector, host:port means TLS (HTTP/2 by ALPN)
 * unless tls.insecure: true; a scheme, when given, decides. Over TLS the
 * connections are kept and reused; cleartext h2c with prior knowledge gets
 * one connection per call, because libcurl 7.88 (Debian 12) cannot start a
 * second stream on such a connection (it fails with CURLE_HTTP2 or sends
 * nothing), and a handshake per call over TLS would cost more than the
 * call. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define PROFILES_PATH "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define TRACES_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

typedef struct {
  pc__send_cfg_t send;
  pc__client_cfg_t client;
  char *endpoint;
} otlpgrpc_cfg_t;

/* The Collector's otlp_grpc compresses zstd with configgrpc's own codec
 * (config/configgrpc/internal/grpccompression/zstd/zstd.go): klauspost's
 * encoder with its default level, SpeedDefault, "roughly zstd level 3", and
 * a 512 KiB window (a zstd level-3 frame of an OTLP batch asks no more).
 * configgrpc has no compression_params, so neither has otlp_grpc. gzip is
 * grpc-go's encoding/gzip at gzip.DefaultCompression, 6, as profcol's. */
#define GRPC_ZSTD_LEVEL 3

static const pc_opt_t otlpgrpc_opts[] = {
    PC_OPT_STR("endpoint", NULL, otlpgrpc_cfg_t, endpoint,
               "host:port or http://host:port of the gRPC backend"),
    PC_OPT_HEADERS("headers", otlpgrpc_cfg_t, client.headers,
                   "extra gRPC metadata on every call"),
    PC_OPT_SECTION_IN("auth", pc__client_auth_opts, otlpgrpc_cfg_t, client,
                      "client authentication: metadata from an extension"),
    PC_OPT_STR("compression", "gzip", otlpgrpc_cfg_t, client.compression,
               "gzip (level 6) or zstd (level 3), as the Collector's configgrpc, or none"),
    PC_OPT_DUR("timeout", "5s", otlpgrpc_cfg_t, send.timeout_ms, 0, 3600000,
               "per call, connect to trailers (sent as grpc-timeout); 0: none"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", otlpgrpc_cfg_t, client.max_body, 256,
                 (int64_t)1 << 31,
                 "profcol: split batches so no message exceeds this before compression"),
    PC_OPT_SECTION_IN("tls", pc__client_tls_opts, otlpgrpc_cfg_t, client,
                      "transport security (TLS unless insecure: true)"),
    PC_OPT_SECTION_IN("retry_on_failure", pc__send_retry_opts, otlpgrpc_cfg_t, send,
                      "retries with exponential backoff"),
    PC_OPT_SECTION_IN("sending_queue", pc__send_queue_opts, otlpgrpc_cfg_t, send,
                      "the queue between the pipeline and the backend"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc__client_t c; /* first: the client's hooks take the instance */
  bool tls;
} otlpgrpc_t;

_Static_assert(offsetof(otlpgrpc_t, c) == 0, "the client hooks read the instance as a client");

/* One slot's call, and what this try's headers and trailers said. */
typedef struct {
  pc__call_t call;
  int status; /* grpc-status, -1: none */
  bool has_retry_info;
  uint64_t retry_delay_ms;
  pc_encoding_t enc; /* of the answer's message (grpc-encoding) */
  char msg[256];     /* grpc-message, decoded */
} grpc_call_t;

/* ---- config ------------------------------------------------------------------------------ */

/* endpoint is host:port or http(s)://host:port; both signals go there. */
static int resolve_urls(otlpgrpc_t *x, const otlpgrpc_cfg_t *c, const pc_create_args_t *args,
                        pc_err_t *err) {
  const pc_cfg_node_t *at = pc_cfg_get(args->cfg, "endpoint");
  const char *ep = c->endpoint ? c->endpoint : "";
  if (!ep[0]) return pc_cfg_error(err, args->cfg, PC_EINVAL, "set endpoint (e.g. backend:4317)");
  bool has_scheme = !strncmp(ep, "http://", 7) || !strncmp(ep, "https://", 8);
  char shown[512];
  if (!has_scheme && strstr(ep, "://"))
    return pc_cfg_error(err, at ? at : args->cfg, PC_EINVAL,
                        "expected host:port, http://host:port or https://host:port, got \"%s\"",
                        pc_redact_url(ep, shown, sizeof shown));
  char base[1024];
  snprintf(base, sizeof base, "%s%s",
           has_scheme ? "" : c->client.tls_insecure ? "http://" : "https://", ep);
  x->c.profiles_url = pc__join_url(base, PROFILES_PATH);
  x->c.traces_url = pc__join_url(base, TRACES_PATH);
  x->tls = !strncmp(base, "https://", 8);
  return 0;
}

/* ---- the wire -------------------------------------------------------------------------------- */

static struct curl_slist *append(struct curl_slist *l, const char *line) {
  if (!(l = curl_slist_append(l, line))) pc_oom();
  return l;
}

/* gRPC's request headers (HTTP/2 lowercases the names). */
static struct curl_slist *own_headers(const pc__client_t *c, struct curl_slist *l,
                                      bool json, pc_encoding_t enc) {
  (void)json; /* always protobuf */
  char line[64];
  l = append(l, "Content-Type: application/grpc");
  l = append(l, "TE: trailers");
  l = append(l, "grpc-accept-encoding: identity,gzip,deflate,zstd");
  if (enc != PC_ENC_IDENTITY) {
    snprintf(line, sizeof line, "grpc-encoding: %s", pc_encoding_name(enc));
    l = append(l, line);
  }
  uint64_t timeout_ms = pc__send_timeout_ms(c->send);
  if (timeout_ms) { /* at most 3600000 (1h): within gRPC's 8 digits */
    snprintf(line, sizeof line, "grpc-timeout: %" PRIu64 "m", timeout_ms);
    l = append(l, line);
  }
  return l;
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

/* libcurl hands response headers and HTTP/2 trailers alike to this. */
static size_t call_on_header(char *p, size_t size, size_t nitems, void *userdata) {
  grpc_call_t *g = userdata;
  size_t n = size * nitems;
  const char *v;
  size_t vn;
  if (header_is(p, n, "grpc-status", &v, &vn)) {
    char num[8] = "";
    memcpy(num, v, vn < sizeof num - 1 ? vn : sizeof num - 1);
    char *end;
    long code = strtol(num, &end, 10);
    g->status = end != num && !*end && code >= 0 && code < 100 ? (int)code : PC_GRPC_UNKNOWN;
  } else if (header_is(p, n, "grpc-message", &v, &vn)) {
    pc__grpc_message_decode(v, vn, g->msg, sizeof g->msg);
  } else if (header_is(p, n, "grpc-status-details-bin", &v, &vn)) {
    g->has_retry_info = pc__grpc_retry_info(v, vn, &g->retry_delay_ms);
  } else if (header_is(p, n, "grpc-encoding", &v, &vn)) {
    if (pc_encoding_parse((pc_str_t){(const uint8_t *)v, vn}, &g->enc))
      g->enc = PC_ENC_IDENTITY; /* unknown: the message is not read */
  }
  return n;
}

/* The answer's message, without its prefix and decompressed into plain
 * when needed. PC_EDECODE (or the decompressor's error) when it is not one
 * well-formed message; an empty answer is an empty message. */
static int answer_message(const grpc_call_t *g, pc_buf_t *plain, const uint8_t **p, size_t *n) {
  const pc_buf_t *a = &g->call.answer;
  *p = a->p;
  *n = 0;
  if (!a->n) return 0;
  bool compressed;
  int rc = pc__grpc_unprefix(a->p, a->n, &compressed, p, n);
  if (rc || !compressed) return rc;
  if (g->enc == PC_ENC_IDENTITY) return PC_EDECODE;
  pc_err_t err = {0};
  if ((rc = pc_decompress(g->enc, *p, *n, PC__MAX_ANSWER_BYTES, plain, &err))) return rc;
  *p = plain->p;
  *n = plain->n;
  return 0;
}

/* partial_success out of the answer to a delivered call. */
static void read_success(grpc_call_t *g, pc__outcome_t *o) {
  bool traces = g->call.slot->item->meta.signal == PC_SIGNAL_TRACES;
  pc_buf_t plain = {0};
  const uint8_t *p;
  size_t n;
  int rc = answer_message(g, &plain, &p, &n);
  if (!rc) rc = pc__parse_export_response(false, traces, p, n, &o->rejected, o->why,
                                          sizeof o->why);
  if (rc)
    pc_log(pc__send_log_id(g->call.slot->send), PC_LOG_DEBUG, "the backend's %zu-byte success "
           "answer is not an Export%sServiceResponse; taken as full success", g->call.answer.n,
           traces ? "Trace" : "Profiles");
  pc_buf_free(&plain);
}

/* The outcome is grpc-status, not the HTTP status. */
static void call_on_done(pc_curl_xfer_t *xf, CURLcode rc) {
  grpc_call_t *g = container_of(xf, grpc_call_t, call.xfer);
  pc__outcome_t o = {.verdict = PC__PERMANENT};
  long status = 0;
  curl_easy_getinfo(xf->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && g->status == PC_GRPC_OK) {
    o.verdict = PC__SENT;
    read_success(g, &o);
    pc__send_outcome(g->call.slot, &o);
    return;
  }
  bool retryable;
  if (rc != CURLE_OK) { /* lost or refused connection, reset stream, timeout */
    pc__call_transport_error(&g->call, rc, "gRPC call", o.why, sizeof o.why);
    retryable = !pc__curl_permanent(rc);
  } else {
    char *url = NULL, shown[512];
    curl_easy_getinfo(xf->easy, CURLINFO_EFFECTIVE_URL, &url);
    url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
    int code = g->status;
    if (code < 0) code = status == 200 ? PC_GRPC_INTERNAL : pc__grpc_code_from_http(status);
    snprintf(o.why, sizeof o.why, "gRPC status %s (%d) from %s%s: \"%s\"",
             pc__grpc_code_name(code), code, url ? url : "?",
             g->status < 0 ? " (no grpc-status; from the HTTP status)" : "",
             g->msg[0] ? g->msg : g->status < 0 ? "HTTP status without gRPC trailers" : "");
    retryable = pc__grpc_retryable(code, g->has_retry_info);
  }
  if (retryable) {
    o.verdict = PC__RETRYABLE;
    o.min_delay_ms = g->has_retry_info ? g->retry_delay_ms : 0;
  }
  pc__send_outcome(g->call.slot, &o);
}

/* h2c with prior knowledge; over TLS, HTTP/2 negotiated by ALPN. */
static void call_setup(pc__call_t *call, CURL *easy) {
  const otlpgrpc_t *x = container_of(call->client, otlpgrpc_t, c);
  grpc_call_t *g = container_of(call, grpc_call_t, call);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   (long)(x->tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
  if (!x->tls) curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L); /* see the top of the file */
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, call_on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, g);
}

static void *wire_slot_new(void *wire, pc__slot_t *slot, pc_err_t *err) {
  (void)err;
  otlpgrpc_t *x = wire;
  grpc_call_t *g = pc_xcalloc(1, sizeof *g);
  pc__call_init(&x->c, &g->call, slot, call_on_done, call_setup);
  return g;
}

static void wire_slot_free(void *wire, void *state) {
  (void)wire;
  grpc_call_t *g = state;
  pc__call_free(&g->call);
  free(g);
}

static void wire_start(void *wire, pc__slot_t *slot) {
  otlpgrpc_t *x = wire;
  grpc_call_t *g = slot->wire;
  g->status = -1;
  g->has_retry_info = false;
  g->retry_delay_ms = 0;
  g->enc = PC_ENC_IDENTITY;
  g->msg[0] = 0;
  pc__call_start(&x->c, &g->call,
                 slot->item->meta.signal == PC_SIGNAL_TRACES ? x->c.traces_url : x->c.profiles_url);
}

static void wire_cancel(void *wire, pc__slot_t *slot) {
  pc__call_cancel(&((otlpgrpc_t *)wire)->c, &((grpc_call_t *)slot->wire)->call);
}

static int wire_admit(void *wire, pc_signal_t signal, bool json, pc_err_t *err) {
  otlpgrpc_t *x = wire;
  if (json) /* send_consume_traces encodes JSON spans for it; a body cannot be */
    return pc_err_set(err, PC_EINVAL, "exporter %s sends %s over gRPC as protobuf only; "
                      "an OTLP-JSON %s request cannot be forwarded", pc__send_comp_id(x->c.send),
                      signal == PC_SIGNAL_TRACES ? "traces" : "profiles",
                      signal == PC_SIGNAL_TRACES ? "traces" : "profiles");
  return 0;
}

static int wire_check_md(void *wire, const pc_bytes_t *md, pc_err_t *err) {
  return pc__client_check_md(&((otlpgrpc_t *)wire)->c, md, err);
}

/* The variant behind its message prefix: core/body.c wrote it there for
 * every compressed variant; the identity one (compression: none, rare) is
 * copied behind one. */
static pc_bytes_t *wire_bytes(void *wire, pc_body_t *body, pc_err_t *err) {
  pc_bytes_t *v = body->v[((otlpgrpc_t *)wire)->c.variant];
  if (v->framed) return pc_bytes_view(v, v->p - PC_BODY_HEADROOM, v->n + PC_BODY_HEADROOM);
  if (v->n > UINT32_MAX)
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte message is above gRPC's 4 GiB", v->n), NULL;
  pc_buf_t f = {0};
  if (pc_buf_reserve(&f, v->n + 5)) pc_oom();
  pc__grpc_prefix(f.p, false, (uint32_t)v->n);
  memcpy(f.p + 5, v->p, v->n);
  f.n = v->n + 5;
  return pc_bytes_from_buf_take(&f);
}

static const pc__wire_ops_t grpc_ops = {
    .delay_name = "RetryInfo",
    .slot_new = wire_slot_new,
    .slot_free = wire_slot_free,
    .start = wire_start,
    .cancel = wire_cancel,
    .admit = wire_admit,
    .check_md = wire_check_md,
    .bytes = wire_bytes,
};

/* ---- the component ------------------------------------------------------------------------------- */

static void *otlpgrpc_create(const pc_create_args_t *args, pc_err_t *err) {
  static const char *const reserved[] = {"te", "grpc-", NULL};
  static const pc__wire_t wire = {.ops = &grpc_ops, .own = own_headers, .reserved = reserved,
                                  .reserved_why = "is reserved by gRPC and set by the exporter",
                                  .format = "gRPC", .multiplex = false /* see the top */,
                                  .zstd_level = GRPC_ZSTD_LEVEL};
  otlpgrpc_cfg_t cfg = {0};
  if (pc_cfg_apply(otlpgrpc_opts, args->cfg, &cfg, err)) return NULL;
  otlpgrpc_t *x = pc_xcalloc(1, sizeof *x);
  if (resolve_urls(x, &cfg, args, err) ||
      pc__client_init(&x->c, &wire, &cfg.client, &cfg.send, args, err)) {
    pc__client_destroy(x);
    return NULL;
  }
  return x;
}

const pc_component_t pc_exporter_otlp =
    PC__OTLP_COMPONENT("otlp_grpc", "otlp", otlpgrpc_opts, otlpgrpc_create);
