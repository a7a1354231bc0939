/* otlphttp.c - the `otlp_http` exporter (deprecated alias `otlphttp`):
 * OTLP/HTTP's wire format and config, on the send module (send.c) and the
 * OTLP client (client.c).
 *
 * The one idea: a try is one POST of the queued body to the signal's URL
 * (endpoint + /v1development/profiles or /v1/traces, or its own
 * profiles_endpoint / traces_endpoint) with Content-Type
 * application/x-protobuf or application/json and Content-Encoding, and the
 * answer's status decides: 2xx is delivered (its partial_success read),
 * 429, 502, 503 and 504 are retried no sooner than Retry-After (seconds or
 * an HTTP date), as are lost connections and timeouts; every other status
 * is permanent, logged with the backend's google.rpc.Status message or
 * the first bytes of whatever else it answered. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PROFILES_PATH "/v1development/profiles"
#define TRACES_PATH "/v1/traces"

typedef struct {
  pc__send_cfg_t send;
  pc__client_cfg_t client;
  char *endpoint, *profiles_endpoint, *traces_endpoint;
  char *encoding;
} otlphttp_cfg_t;

static const pc_opt_t otlphttp_opts[] = {
    PC_OPT_STR("endpoint", NULL, otlphttp_cfg_t, endpoint,
               "base URL; " PROFILES_PATH " or " TRACES_PATH " is appended"),
    PC_OPT_STR("profiles_endpoint", NULL, otlphttp_cfg_t, profiles_endpoint,
               "URL for profiles, used as is (overrides endpoint)"),
    PC_OPT_STR("traces_endpoint", NULL, otlphttp_cfg_t, traces_endpoint,
               "URL for traces, used as is (overrides endpoint)"),
    PC_OPT_HEADERS("headers", otlphttp_cfg_t, client.headers,
                   "extra HTTP headers on every request"),
    PC_OPT_SECTION_IN("auth", pc__client_auth_opts, otlphttp_cfg_t, client,
                      "client authentication: headers from an extension"),
    PC_OPT_STR("compression", "gzip", otlphttp_cfg_t, client.compression,
               "gzip (level 6), zstd (level 1, as the Collector's otlphttp) or none"),
    PC_OPT_SECTION_IN("compression_params", pc__client_compression_params_opts, otlphttp_cfg_t,
                      client, "confighttp's: the compression's level"),
    PC_OPT_STR("encoding", "proto", otlphttp_cfg_t, encoding, "proto or json"),
    PC_OPT_DUR("timeout", "30s", otlphttp_cfg_t, send.timeout_ms, 0, 3600000,
               "per request, connect to last byte; 0: none"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", otlphttp_cfg_t, client.max_body, 256,
                 (int64_t)1 << 31,
                 "profcol: split batches so no request body exceeds this before compression"),
    PC_OPT_SECTION_IN("tls", pc__client_tls_opts, otlphttp_cfg_t, client,
                      "transport security for https:// endpoints"),
    PC_OPT_SECTION_IN("retry_on_failure", pc__send_retry_opts, otlphttp_cfg_t, send,
                      "retries with exponential backoff"),
    PC_OPT_SECTION_IN("sending_queue", pc__send_queue_opts, otlphttp_cfg_t, send,
                      "the queue between the pipeline and the backend"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc__client_t c; /* first: the client's hooks take the instance */
} otlphttp_t;

_Static_assert(offsetof(otlphttp_t, c) == 0, "the client hooks read the instance as a client");

/* ---- config ------------------------------------------------------------------------------ */

static bool is_http_url(const char *u) {
  return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static const pc_cfg_node_t *key_node(const pc_cfg_node_t *cfg, const char *key) {
  const pc_cfg_node_t *v = pc_cfg_get(cfg, key);
  return v ? v : cfg;
}

static int resolve_urls(otlphttp_t *x, const otlphttp_cfg_t *c, const pc_create_args_t *args,
                        pc_err_t *err) {
  static const struct {
    const char *key, *path;
    pc_signal_t signal;
  } sig[2] = {{"profiles_endpoint", PROFILES_PATH, PC_SIGNAL_PROFILES},
              {"traces_endpoint", TRACES_PATH, PC_SIGNAL_TRACES}};
  char *own[2] = {c->profiles_endpoint, c->traces_endpoint};
  char **dst[2] = {&x->c.profiles_url, &x->c.traces_url};
  char shown[512];
  if (c->endpoint && c->endpoint[0] && !is_http_url(c->endpoint))
    return pc_cfg_error(err, key_node(args->cfg, "endpoint"), PC_EINVAL,
                        "expected a URL starting with http:// or https://, got \"%s\"",
                        pc_redact_url(c->endpoint, shown, sizeof shown));
  for (int i = 0; i < 2; i++) {
    if (own[i] && own[i][0]) {
      if (!is_http_url(own[i]))
        return pc_cfg_error(err, key_node(args->cfg, sig[i].key), PC_EINVAL,
                            "expected a URL starting with http:// or https://, got \"%s\"",
                            pc_redact_url(own[i], shown, sizeof shown));
      *dst[i] = pc_xstrdup(own[i]);
    } else if (c->endpoint && c->endpoint[0]) {
      *dst[i] = pc__join_url(c->endpoint, sig[i].path);
    } else if (args->signals & sig[i].signal) {
      return pc_cfg_error(err, args->cfg, PC_EINVAL,
                          "set endpoint (e.g. https://backend:4318) or %s", sig[i].key);
    }
  }
  return 0;
}

/* ---- the wire -------------------------------------------------------------------------------- */

static struct curl_slist *own_headers(const pc__client_t *c, struct curl_slist *l,
                                      bool json, pc_encoding_t enc) {
  (void)c;
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

/* The first bytes of an answer that is not a google.rpc.Status (an HTML 502
 * page of a proxy, a plain-text error), so the log shows what the backend
 * said: printable ASCII, the rest escaped as \xNN, at most ~200 bytes. */
static const char *answer_start(const pc_buf_t *a, char *out, size_t cap) {
  size_t o = 0, i = 0;
  for (; i < a->n && o + 8 < cap; i++) {
    uint8_t c = a->p[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
  }
  if (i < a->n) memcpy(out + o, "...", 4);
  else out[o] = 0;
  return out;
}

/* "HTTP 400 from URL: <Status.message>" */
static void describe_status(const pc__call_t *call, long status, char *why, size_t cap) {
  char msg[200];
  char *url = NULL, shown[512];
  curl_easy_getinfo(call->xfer.easy, CURLINFO_EFFECTIVE_URL, &url);
  url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
  char *ct = NULL;
  curl_easy_getinfo(call->xfer.easy, CURLINFO_CONTENT_TYPE, &ct);
  bool typed = ct && (strstr(ct, "json") || strstr(ct, "protobuf"));
  const pc_buf_t *a = &call->answer;
  if (typed && !pc__parse_status(pc__call_answer_json(call), a->p, a->n, msg, sizeof msg))
    snprintf(why, cap, "HTTP %ld from %s: \"%s\"", status, url ? url : "?", msg);
  else
    snprintf(why, cap, "HTTP %ld from %s (%zu-byte %s answer, no google.rpc.Status)%s%s%s",
             status, url ? url : "?", a->n, ct ? ct : "untyped", a->n ? ": \"" : "",
             answer_start(a, msg, sizeof msg), a->n ? "\"" : "");
}

static void call_on_done(pc_curl_xfer_t *xf, CURLcode rc) {
  pc__call_t *call = container_of(xf, pc__call_t, xfer);
  pc__slot_t *sl = call->slot;
  pc__outcome_t o = {.verdict = PC__PERMANENT};
  long status = 0;
  curl_easy_getinfo(xf->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && status >= 200 && status < 300) {
    bool traces = sl->item->meta.signal == PC_SIGNAL_TRACES;
    o.verdict = PC__SENT;
    if (pc__parse_export_response(pc__call_answer_json(call), traces, call->answer.p,
                                  call->answer.n, &o.rejected, o.why, sizeof o.why))
      pc_log(pc__send_log_id(sl->send), PC_LOG_DEBUG, "the backend's %zu-byte success answer "
             "is not an Export%sServiceResponse; taken as full success", call->answer.n,
             traces ? "Trace" : "Profiles");
  } else if (rc != CURLE_OK) {
    pc__call_transport_error(call, rc, "POST", o.why, sizeof o.why);
    if (!pc__curl_permanent(rc)) o.verdict = PC__RETRYABLE;
  } else {
    describe_status(call, status, o.why, sizeof o.why);
    if (status == 429 || status == 502 || status == 503 || status == 504) {
      o.verdict = PC__RETRYABLE;
      curl_off_t ra = 0;
      if (curl_easy_getinfo(xf->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        o.min_delay_ms = (uint64_t)ra * 1000u;
    }
  }
  pc__send_outcome(sl, &o);
}

static void *wire_slot_new(void *wire, pc__slot_t *slot, pc_err_t *err) {
  otlphttp_t *x = wire;
  (void)err;
  pc__call_t *call = pc_xcalloc(1, sizeof *call);
  pc__call_init(&x->c, call, slot, call_on_done, NULL);
  return call;
}

static void wire_slot_free(void *wire, void *state) {
  (void)wire;
  pc__call_free(state);
  free(state);
}

static const char *signal_name(pc_signal_t s) {
  return s == PC_SIGNAL_TRACES ? "traces" : "profiles";
}

static void wire_start(void *wire, pc__slot_t *slot) {
  otlphttp_t *x = wire;
  const pc__item_meta_t *m = &slot->item->meta;
  const char *url = m->signal == PC_SIGNAL_TRACES ? x->c.traces_url : x->c.profiles_url;
  if (!url) { /* a replayed batch of a signal this config no longer sends */
    pc__outcome_t o = {.verdict = PC__PERMANENT};
    snprintf(o.why, sizeof o.why, "no %s_endpoint or endpoint is configured for it any more",
             signal_name(m->signal));
    pc__send_outcome(slot, &o);
    return;
  }
  pc__call_start(&x->c, slot->wire, url);
}

static void wire_cancel(void *wire, pc__slot_t *slot) {
  pc__call_cancel(&((otlphttp_t *)wire)->c, slot->wire);
}

static int wire_admit(void *wire, pc_signal_t signal, bool json, pc_err_t *err) {
  (void)json; /* both encodings go as they are */
  otlphttp_t *x = wire;
  if (signal == PC_SIGNAL_TRACES && !x->c.traces_url)
    return pc_err_set(err, PC_EINVAL, "exporter %s has no traces_endpoint",
                      pc__send_comp_id(x->c.send));
  return 0;
}

static int wire_check_md(void *wire, const pc_bytes_t *md, pc_err_t *err) {
  return pc__client_check_md(&((otlphttp_t *)wire)->c, md, err);
}

static pc_bytes_t *wire_bytes(void *wire, pc_body_t *body, pc_err_t *err) {
  (void)err;
  return pc_bytes_ref(body->v[((otlphttp_t *)wire)->c.variant]);
}

static const pc__wire_ops_t http_ops = {
    .delay_name = "Retry-After",
    .slot_new = wire_slot_new,
    .slot_free = wire_slot_free,
    .start = wire_start,
    .cancel = wire_cancel,
    .admit = wire_admit,
    .check_md = wire_check_md,
    .bytes = wire_bytes,
};

/* ---- the component ------------------------------------------------------------------------------- */

static void *otlphttp_create(const pc_create_args_t *args, pc_err_t *err) {
  static const pc__wire_t proto = {.ops = &http_ops, .own = own_headers, .format = "protobuf",
                                   .multiplex = true};
  static const pc__wire_t json = {.ops = &http_ops, .own = own_headers, .format = "json",
                                  .json = true, .multiplex = true};
  otlphttp_cfg_t cfg = {0};
  if (pc_cfg_apply(otlphttp_opts, args->cfg, &cfg, err)) return NULL;
  otlphttp_t *x = pc_xcalloc(1, sizeof *x);
  int rc = resolve_urls(x, &cfg, args, err);
  bool is_json = !strcmp(cfg.encoding, "json");
  if (!rc && !is_json && strcmp(cfg.encoding, "proto"))
    rc = pc_cfg_error(err, key_node(args->cfg, "encoding"), PC_EINVAL,
                      "expected proto or json, got \"%s\"", cfg.encoding);
  if (rc || pc__client_init(&x->c, is_json ? &json : &proto, &cfg.client, &cfg.send, args, err)) {
    pc__client_destroy(x);
    return NULL;
  }
  return x;
}

const pc_component_t pc_exporter_otlphttp =
    PC__OTLP_COMPONENT("otlp_http", "otlphttp", otlphttp_opts, otlphttp_create);
