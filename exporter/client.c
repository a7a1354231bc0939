/* client.c - what both OTLP exporters are apart from their wire: the
 * Collector's confighttp and configgrpc client settings (extra headers, an
 * authenticator extension that edits them once or per batch from its client
 * metadata, the compression, the body limit, the tls keys applied to
 * libcurl and OpenSSL), one call per send slot made from them, and the
 * component's life around its sender (send.c) and its multi handle
 * (component/curl.c).
 *
 * The one idea: a try's header list is the configured headers (after the
 * authenticator's rules), then the protocol's own lines, which only the
 * wire knows (own()). Without a per-batch authenticator the list is the
 * same for every batch of an encoding and is built once; with one, each
 * try gets its own, from the metadata queued with its batch. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const pc_opt_t pc__client_auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, pc__client_cfg_t, authenticator,
               "id of a headers_setter extension (headers set per batch from its client "
               "metadata, e.g. X-Scope-OrgID per tenant) or of a bearertokenauth (its token "
               "on every request)"),
    PC_OPT_TABLE_END,
};

/* confighttp's compression_params (config/confighttp/client.go,
 * ClientConfig.CompressionParams; config/configcompression's
 * CompressionParams {level}). Its bounds depend on compression: checked in
 * compression_variant. */
const pc_opt_t pc__client_compression_params_opts[] = {
    PC_OPT_INT_RANGE("level", "0", pc__client_cfg_t, level, 0, 0,
                     "as the Collector's: gzip -2 (HuffmanOnly; profcol: 1, libdeflate has "
                     "none), -1 (default, 6), 1 (BestSpeed) to 9 (BestCompression); zstd any, "
                     "as the Collector maps it: below 3 level 1, 3-5 level 3, 6-9 level 7, "
                     "10 and up level 11; 0 or unset: the default (gzip 6, zstd 1)"),
    PC_OPT_TABLE_END,
};

/* The Collector's configtls client keys. */
const pc_opt_t pc__client_tls_opts[] = {
    PC_OPT_BOOLEAN("insecure", "false", pc__client_cfg_t, tls_insecure,
                   "otlp_grpc: speak cleartext HTTP/2 (h2c) to a host:port endpoint instead of "
                   "TLS (otlp_http: the URL's scheme decides)"),
    PC_OPT_BOOLEAN("insecure_skip_verify", "false", pc__client_cfg_t, tls_skip_verify,
                   "do not verify the server's certificate and name (tests only)"),
    PC_OPT_STR("ca_file", NULL, pc__client_cfg_t, tls_ca_file,
               "PEM file of the CAs that sign the server's certificate (default: the "
               "system's)"),
    PC_OPT_STR("cert_file", NULL, pc__client_cfg_t, tls_cert_file,
               "PEM client certificate, for mutual TLS (with key_file)"),
    PC_OPT_STR("key_file", NULL, pc__client_cfg_t, tls_key_file,
               "PEM private key of cert_file"),
    PC_OPT_STR("min_version", "1.2", pc__client_cfg_t, tls_min_version,
               "oldest TLS version accepted: 1.0, 1.1, 1.2 or 1.3"),
    PC_OPT_TABLE_END,
};

/* ---- config ---------------------------------------------------------------------------- */

static const pc_cfg_node_t *node_at(const pc_cfg_node_t *cfg, const char *section,
                                    const char *key) {
  const pc_cfg_node_t *n = section ? pc_cfg_get(cfg, section) : cfg;
  const pc_cfg_node_t *v = pc_cfg_get(n, key);
  return v ? v : n ? n : cfg;
}

static bool is_reserved(const char *name, const char *const *reserved) {
  for (; reserved && *reserved; reserved++) {
    size_t n = strlen(*reserved);
    bool prefix = n && (*reserved)[n - 1] == '-';
    if (prefix ? !strncasecmp(name, *reserved, n) : !strcasecmp(name, *reserved)) return true;
  }
  return false;
}

static int parse_headers(pc__client_t *c, const pc_cfg_node_t *h, const char *const *reserved,
                         const char *reserved_why, pc_err_t *err) {
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
    if (is_reserved(k, reserved))
      return pc_cfg_error(err, v ? v : h, PC_EINVAL, "header \"%s\" %s", k, reserved_why);
    pc_headers_add(&c->headers, k, strlen(k), val, strlen(val));
  }
  return 0;
}

/* A tls file key: readable now, so a typo is a config error with its
 * place rather than a TLS failure on every try. */
static int tls_file(const pc_cfg_node_t *node, const char *key, const char *path, char **out,
                    pc_err_t *err) {
  if (!path || !path[0]) return 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return pc_cfg_error(err, node_at(node, "tls", key), PC_EINVAL, "cannot read %s: %s", path,
                        strerror(errno));
  fclose(f);
  *out = pc_xstrdup(path);
  return 0;
}

static int resolve_tls(pc__client_t *c, const pc__client_cfg_t *cfg, const pc_cfg_node_t *node,
                       pc_err_t *err) {
  static const struct {
    const char *name;
    long curl;
  } versions[] = {{"1.0", CURL_SSLVERSION_TLSv1_0}, {"1.1", CURL_SSLVERSION_TLSv1_1},
                  {"1.2", CURL_SSLVERSION_TLSv1_2}, {"1.3", CURL_SSLVERSION_TLSv1_3}};
  c->ssl_version = -1;
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
    if (!strcmp(cfg->tls_min_version, versions[i].name)) c->ssl_version = versions[i].curl;
  if (c->ssl_version < 0)
    return pc_cfg_error(err, node_at(node, "tls", "min_version"), PC_EINVAL,
                        "expected 1.0, 1.1, 1.2 or 1.3, got \"%s\"", cfg->tls_min_version);
  bool cert = cfg->tls_cert_file && cfg->tls_cert_file[0];
  bool key = cfg->tls_key_file && cfg->tls_key_file[0];
  if (cert != key)
    return pc_cfg_error(err, node_at(node, "tls", cert ? "cert_file" : "key_file"), PC_EINVAL,
                        "cert_file and key_file go together (mutual TLS)");
  c->skip_verify = cfg->tls_skip_verify;
  int rc = tls_file(node, "ca_file", cfg->tls_ca_file, &c->ca_file, err);
  if (!rc) rc = tls_file(node, "cert_file", cfg->tls_cert_file, &c->cert_file, err);
  if (!rc) rc = tls_file(node, "key_file", cfg->tls_key_file, &c->key_file, err);
  return rc;
}

/* auth.authenticator must name a headers_setter or a bearertokenauth. Whether
 * that one is defined and listed in service.extensions shows in resolve
 * (extensions are not built while a broken config is checked), so the
 * place resolve's error names is kept here, where the config node says
 * file:line:col. */
static int resolve_auth(pc__client_t *c, const pc__client_cfg_t *cfg, const pc_cfg_node_t *node,
                        pc_err_t *err) {
  const pc_cfg_node_t *n = node_at(node, "auth", "authenticator");
  if (!cfg->authenticator) return 0;
  const char *id = cfg->authenticator;
  if (!pc_id_has_type(id, "headers_setter") && !pc_id_has_type(id, "bearertokenauth"))
    return pc_cfg_error(err, n, PC_EINVAL, "\"%s\" is not an authenticator profcol has: "
                        "headers_setter or bearertokenauth (or either with /NAME)", id);
  pc_ref_init(&c->auth_ref, id, n);
  return 0;
}

/* The codec level the Collector would compress at for compression_params
 * level (0: unset), or -1 when it refuses the level. Validation as
 * configcompression's Type.ValidateParams (config/configcompression/
 * compressiontype.go): gzip, zlib and deflate take zlib.DefaultCompression
 * (-1), HuffmanOnly (-2), NoCompression (0) and BestSpeed..BestCompression
 * (1..9); zstd any level; an uncompressed client is not checked. Then
 * confighttp's ToClient turns 0 into -1 (client.go: "If the compression
 * level is not set, use the default level"), so NoCompression is never
 * used; gzip.NewWriterLevel makes -1 Go's 6; and its zstd writer takes
 * klauspost's EncoderLevelFromZstd (config/confighttp/compressor.go),
 * which has four speeds, roughly zstd's 1, 3, 7-8 and 11 by that
 * library's docs: a Collector config asking for 19 gets about 11's cost,
 * and so does profcol, rather than zstd's own 19, many times slower. */
static int collector_level(pc_encoding_t enc, int64_t level) {
  switch (enc) {
  case PC_ENC_GZIP:
  case PC_ENC_DEFLATE:
    if (level < -2 || level > 9) return -1;
    return level == -2 ? 1 : level <= 0 ? 6 : (int)level; /* libdeflate has no Huffman-only mode */
  case PC_ENC_ZSTD:
    return level == 0 ? PC_BODY_ZSTD_LEVEL : level < 3 ? 1 : level < 6 ? 3 : level < 10 ? 7 : 11;
  case PC_ENC_IDENTITY:
    break;
  }
  return 0;
}

/* c->variant: the body variant of c->enc at level (compression_params.level;
 * 0: the wire's default), checked as the Collector checks it. */
static int compression_variant(pc__client_t *c, const pc__wire_t *w, int64_t level,
                               const pc_cfg_node_t *node, pc_err_t *err) {
  const pc_cfg_node_t *at = node_at(node, "compression_params", "level");
  int codec = !level && c->enc == PC_ENC_ZSTD && w->zstd_level ? w->zstd_level
                                                                : collector_level(c->enc, level);
  if (codec < 0)
    return pc_cfg_error(err, at, PC_EINVAL,
                        "%" PRId64 " is not a %s level: -2 "
                        "(HuffmanOnly), -1 (default), 0 (unset: default) or 1 (BestSpeed) "
                        "to 9 (BestCompression), as the Collector's configcompression takes",
                        level, pc_encoding_name(c->enc));
  int rc = pc_body_variant(c->enc, codec, &c->variant);
  if (rc)
    return pc_cfg_error(err, at, rc,
                        "compression_params.level: more than %d different compressions "
                        "(encoding and level) across exporters; use fewer distinct levels",
                        PC_BODY_VARIANTS - 1);
  return 0;
}

int pc__client_init(pc__client_t *c, const pc__wire_t *w, const pc__client_cfg_t *cfg,
                    const pc__send_cfg_t *send_cfg, const pc_create_args_t *args,
                    pc_err_t *err) {
  const pc_cfg_node_t *node = args->cfg;
  c->wire = w;
  c->signals = args->signals ? args->signals : PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES;
  c->max_body = cfg->max_body;
  int rc = resolve_tls(c, cfg, node, err);
  if (rc) return rc;
  if (!strcmp(cfg->compression, "gzip")) c->enc = PC_ENC_GZIP;
  else if (!strcmp(cfg->compression, "zstd")) c->enc = PC_ENC_ZSTD;
  else if (!strcmp(cfg->compression, "none") || !cfg->compression[0]) c->enc = PC_ENC_IDENTITY;
  else
    return pc_cfg_error(err, node_at(node, NULL, "compression"), PC_EINVAL,
                        "expected gzip, zstd or none, got \"%s\"", cfg->compression);
  if ((rc = compression_variant(c, w, cfg->level, node, err))) return rc;
  if ((rc = parse_headers(c, cfg->headers, w->reserved, w->reserved_why, err)) ||
      (rc = resolve_auth(c, cfg, node, err)))
    return rc;
  pc__send_args_t sa = {.comp_id = args->id, .ops = w->ops, .wire = c, .enc = c->enc,
                        .variant = c->variant, .json = w->json, .max_body = c->max_body};
  return (c->send = pc__send_new(send_cfg, node, &sa, err)) ? 0 : err->code;
}

static void client_easy(const pc__client_t *c, CURL *easy) {
  curl_easy_setopt(easy, CURLOPT_SSLVERSION, c->ssl_version);
  if (c->ca_file) curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
  if (c->cert_file) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, c->cert_file);
    curl_easy_setopt(easy, CURLOPT_SSLKEY, c->key_file);
  }
  if (c->skip_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

/* ---- headers ------------------------------------------------------------------------------- */

/* The configured headers after the authenticator's rules for the batch's
 * metadata (md: pc_md_encode form, or NULL). */
static int auth_headers(const pc__client_t *c, const pc_bytes_t *md, pc_headers_t *out,
                        pc_err_t *err) {
  *out = (pc_headers_t){0};
  for (size_t i = 0; i < c->headers.n; i++) { /* "Name: value" as parse_headers made them */
    const char *line = c->headers.v[i], *colon = strchr(line, ':');
    pc_headers_add(out, line, (size_t)(colon - line), colon + 2, strlen(colon + 2));
  }
  pc_metadata_t m = {0};
  if (md && pc_md_decode(md->p, md->n, &m))
    return pc_err_set(err, PC_EINVAL, "the batch's client metadata is damaged");
  int rc = c->auth->apply(c->auth, &m, out, err);
  free((void *)m.v);
  return rc;
}

int pc__client_check_md(const pc__client_t *c, const pc_bytes_t *md, pc_err_t *err) {
  if (!c->auth_per_batch) return 0;
  pc_headers_t h;
  int rc = auth_headers(c, md, &h, err);
  pc_headers_free(&h);
  return rc;
}

/* A new list: lines, then the protocol's own. */
static struct curl_slist *header_list(const pc__client_t *c, char *const *lines, size_t n,
                                      bool json, pc_encoding_t enc) {
  struct curl_slist *l = NULL;
  for (size_t i = 0; i < n; i++)
    if (!(l = curl_slist_append(l, lines[i]))) pc_oom();
  return c->wire->own(c, l, json, enc);
}

/* Set the headers of one try of a batch (json, enc, md as queued). false
 * with why when the authenticator cannot make them. */
static bool set_headers(pc__client_t *c, pc__call_t *call, const pc__item_meta_t *m, char *why,
                        size_t cap) {
  CURL *easy = call->xfer.easy;
  pc_encoding_t enc = (pc_encoding_t)m->encoding;
  if (!c->auth_per_batch) {
    struct curl_slist **l = &c->lists[m->json][enc];
    if (!*l) *l = header_list(c, c->headers.v, c->headers.n, m->json, enc);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *l);
    return true;
  }
  pc_headers_t h;
  pc_err_t err = {0};
  int rc = auth_headers(c, m->md, &h, &err);
  if (!rc) {
    curl_slist_free_all(call->try_list); /* the previous try is over */
    call->try_list = header_list(c, h.v, h.n, m->json, enc);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->try_list);
  }
  pc_headers_free(&h);
  if (rc) snprintf(why, cap, "%s", err.msg);
  return rc == 0;
}

/* ---- a slot's call --------------------------------------------------------------------------- */

static size_t call_on_answer(char *p, size_t size, size_t nmemb, void *userdata) {
  pc__call_t *call = userdata;
  size_t n = size * nmemb;
  size_t room = call->answer.n < PC__MAX_ANSWER_BYTES ? PC__MAX_ANSWER_BYTES - call->answer.n : 0;
  if (room && pc_buf_append(&call->answer, p, n < room ? n : room)) return 0;
  return n;
}

void pc__call_init(pc__client_t *c, pc__call_t *call, pc__slot_t *slot,
                   void (*done)(pc_curl_xfer_t *x, CURLcode rc),
                   void (*setup)(pc__call_t *call, CURL *easy)) {
  call->slot = slot;
  call->client = c;
  call->xfer.done = done;
  call->setup = setup;
}

/* The call's easy handle, at its first try, libcurl loaded. */
static int call_easy(pc__client_t *c, pc__call_t *call, char *why, size_t cap) {
  CURL *easy = call->xfer.easy = pc_curl_easy(c->curl, why, cap);
  if (!easy) return PC_ENOMEM;
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, call_on_answer);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->errbuf);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)pc__send_timeout_ms(c->send));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "profcol");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  client_easy(c, easy);
  if (call->setup) call->setup(call, easy);
  return 0;
}

void pc__call_free(pc__call_t *call) {
  if (call->wait.waiting) pc_curl_unwait(call->client->curl, &call->wait);
  if (call->xfer.easy) curl_easy_cleanup(call->xfer.easy);
  call->xfer.easy = NULL;
  curl_slist_free_all(call->try_list);
  call->try_list = NULL;
  pc_buf_free(&call->answer);
}

/* A first try that libcurl's load ended: libcurl failed to load, or the
 * try goes on where it waited. */
static void call_on_loaded(pc_curl_wait_t *w, int rc, const char *why) {
  pc__call_t *call = container_of(w, pc__call_t, wait);
  if (!rc) {
    pc__call_start(call->client, call, call->url);
    return;
  }
  pc__outcome_t o = {.verdict = PC__RETRYABLE};
  snprintf(o.why, sizeof o.why, "cannot prepare a request: %s", why);
  pc__send_outcome(call->slot, &o);
}

void pc__call_start(pc__client_t *c, pc__call_t *call, const char *url) {
  pc__slot_t *sl = call->slot;
  pc__outcome_t o = {.verdict = PC__PERMANENT};
  if (!call->xfer.easy) {
    /* The slot's first try: libcurl is loaded in a thread of its own at the
     * process's first one (component/curl.h), and the try goes on from
     * call_on_loaded; a batch waits in its slot as it would on a slow
     * connect, and the loop serves every connection meanwhile. */
    char why[256]; /* room for dlerror's text when libcurl cannot be loaded */
    call->wait.ready = call_on_loaded;
    call->url = url;
    int rc = pc_curl_wait(c->curl, &call->wait, why, sizeof why);
    if (rc == PC_EAGAIN) return;
    if (!rc) rc = call_easy(c, call, why, sizeof why);
    if (rc) {
      o.verdict = PC__RETRYABLE;
      snprintf(o.why, sizeof o.why, "cannot prepare a request: %s", why);
      pc__send_outcome(sl, &o);
      return;
    }
  }
  const pc__qitem_t *it = sl->item;
  call->answer.n = 0;
  call->errbuf[0] = 0;
  if (!set_headers(c, call, &it->meta, o.why, sizeof o.why)) {
    pc__send_outcome(sl, &o);
    return;
  }
  CURL *easy = call->xfer.easy;
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, it->body->p);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->body->n);
  char shown[512];
  pc_log(pc__send_log_id(c->send), PC_LOG_DEBUG, "POST %s: %zu bytes, %u profiles, try %u",
         pc_redact_url(url, shown, sizeof shown), it->body->n, it->meta.profiles, sl->tries);
  char why[128];
  if (pc_curl_add(c->curl, &call->xfer, why, sizeof why)) { /* a failed try, in effect */
    o.verdict = PC__RETRYABLE;
    snprintf(o.why, sizeof o.why, "cannot start a request to %s: %s",
             pc_redact_url(url, shown, sizeof shown), why);
    pc__send_outcome(sl, &o);
  }
}

void pc__call_cancel(pc__client_t *c, pc__call_t *call) {
  pc_curl_unwait(c->curl, &call->wait);
  pc_curl_remove(c->curl, &call->xfer);
}

bool pc__call_answer_json(const pc__call_t *call) {
  char *ct = NULL;
  curl_easy_getinfo(call->xfer.easy, CURLINFO_CONTENT_TYPE, &ct);
  if (ct && strstr(ct, "json")) return true;
  if (ct && strstr(ct, "protobuf")) return false;
  return call->slot->item->meta.json;
}

void pc__call_transport_error(const pc__call_t *call, CURLcode rc, const char *verb, char *why,
                              size_t cap) {
  char *url = NULL, shown[512];
  curl_easy_getinfo(call->xfer.easy, CURLINFO_EFFECTIVE_URL, &url);
  url = url ? (char *)pc_redact_url(url, shown, sizeof shown) : NULL;
  /* errbuf has the details (host, port, errno text); the code's name otherwise. */
  snprintf(why, cap, "%s %s: %s", verb, url ? url : "?",
           call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc));
}

bool pc__curl_permanent(CURLcode rc) {
  return rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
         rc == CURLE_NOT_BUILT_IN || rc == CURLE_BAD_FUNCTION_ARGUMENT;
}

/* ---- the component's life ------------------------------------------------------------------- */

pc_consumer_t *pc__client_consumer(void *self) {
  return pc__send_consumer(((pc__client_t *)self)->send);
}

/* The extensions auth.authenticator and sending_queue.storage name. */
int pc__client_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  pc__client_t *c = self;
  if (pc_ref_set(&c->auth_ref) &&
      !(c->auth = pc_host_find(host, &c->auth_ref, PC_ROLE_CLIENT_AUTH, err)))
    return err->code;
  return pc__send_resolve(c->send, host, err);
}

/* The authenticator, now that extensions have started: one that does not
 * read client metadata (bearertokenauth) edits the headers once, here. */
static int start_authenticator(pc__client_t *c, pc_err_t *err) {
  if (!pc_ref_set(&c->auth_ref)) return 0;
  if (!c->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &c->auth_ref, PC_ROLE_CLIENT_AUTH, err);
    return err->code;
  }
  c->auth_per_batch = c->auth->uses_metadata;
  return c->auth_per_batch ? 0 : c->auth->apply(c->auth, NULL, &c->headers, err);
}

static void curl_closed(void *arg) {
  pc__client_t *c = arg;
  pc_done_cb done = c->done;
  c->curl = NULL;
  c->done = NULL;
  c->stopping = false;
  if (done) done(c->done_arg);
}

int pc__client_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  pc__client_t *c = self;
  if (c->curl || c->stopping) return pc_err_set(err, PC_EINVAL, "started twice");
  int rc = start_authenticator(c, err);
  /* Keep one idle connection per consumer for reuse. */
  if (!rc)
    rc = pc_curl_open(loop, pc__send_consumers(c->send), c->wire->multiplex, &c->curl, err);
  if (rc) return rc;
  pc_curl_start(c->curl); /* before the sender: it may send replayed batches at once */
  if ((rc = pc__send_start(c->send, loop, c->auth_per_batch, err))) {
    c->stopping = true; /* the shutdown that follows waits for this close */
    pc_curl_close(c->curl, curl_closed, c);
    return rc;
  }
  char how[160];
  pc__send_describe(c->send, how, sizeof how);
  /* Only the signals of its pipelines: an exporter on the traces pipeline
   * alone sends no profiles, whatever URL it would use for them. */
  char shown_p[512], shown_t[512];
  bool p = (c->signals & PC_SIGNAL_PROFILES) || !c->traces_url;
  bool t = (c->signals & PC_SIGNAL_TRACES) && c->traces_url;
  pc_log(pc__send_log_id(c->send), PC_LOG_INFO, "sending %s%s%s%s (%s, %s), %s",
         p ? "profiles to " : "",
         !p ? "" : c->profiles_url ? pc_redact_url(c->profiles_url, shown_p, sizeof shown_p)
                                   : "(none)",
         t ? p ? ", traces to " : "traces to " : "",
         t ? pc_redact_url(c->traces_url, shown_t, sizeof shown_t) : "",
         c->wire->format, pc_encoding_name(c->enc), how);
  return 0;
}

static void send_stopped(void *arg) {
  pc__client_t *c = arg;
  pc_curl_close(c->curl, curl_closed, c); /* every call was cancelled and freed */
}

void pc__client_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  pc__client_t *c = self;
  if (c->stopping && !c->done) { /* a failed start's close: done when it is */
    c->done = done;
    c->done_arg = arg;
    return;
  }
  if (!c->curl || c->stopping) { /* never started, stopped, or stopping already */
    done(arg);
    return;
  }
  c->stopping = true;
  c->done = done;
  c->done_arg = arg;
  pc__send_shutdown(c->send, deadline_ms, send_stopped, c);
}

void pc__client_metrics(void *self, pc_metrics_t *m) {
  pc__send_metrics(((pc__client_t *)self)->send, m);
}

void pc__client_destroy(void *self) {
  pc__client_t *c = self;
  if (!c) return;
  if (c->stopping || (c->send && pc__send_busy(c->send)) || c->curl) {
    /* Handles are still registered with the loop: freeing would corrupt it. */
    pc_log(pc__send_log_id(c->send), PC_LOG_ERROR, "destroyed before its shutdown finished; "
           "leaking it instead");
    return;
  }
  pc__send_free(c->send);
  for (int j = 0; j < 2; j++)
    for (int e = 0; e <= PC_ENC_ZSTD; e++) curl_slist_free_all(c->lists[j][e]);
  pc_headers_free(&c->headers);
  free(c->ca_file);
  free(c->cert_file);
  free(c->key_file);
  free(c->profiles_url);
  free(c->traces_url);
  free(self);
}

int pc_otlphttp_stats(const void *instance, pc_otlphttp_stats_t *out) {
  pc__send_stats(((const pc__client_t *)instance)->send, out);
  return 0;
}
