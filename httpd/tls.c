/* tls.c - server-side TLS for profcol's listeners (httpd.h, "TLS"): OpenSSL
 * sessions on memory BIOs, so the HTTP server and the gRPC receiver keep
 * their own libuv reads, writes, timers and limits and only pass bytes
 * through here.
 *
 * The one idea: the session never touches the socket. Ciphertext read from
 * the socket goes into the read BIO (pc_tls_feed), plaintext comes out of
 * SSL_read into the caller's buffer (pc_tls_read); whatever OpenSSL puts in
 * the write BIO (handshake messages, alerts, encrypted answers) is moved
 * into a heap chunk and written with its own uv_write. So the caller's read
 * path decides when to read, as without TLS, and a client that never
 * finishes its handshake is simply a client that sends no request: the
 * caller's timers close it.
 *
 * Bounded memory: the read BIO holds at most what one uv_read brought plus a
 * partial record, because the callers read from the socket only after
 * pc_tls_read has drained it. Write chunks live until their write completes;
 * the callers have at most one answer in flight per connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../core/log.h"
#include "httpd.h"
#include "openssl_dl.h"

#define LOG_EVERY_MS 10000

struct pc_tls_ctx {
  SSL_CTX *ssl;
  unsigned char alpn[32]; /* wire form: length byte, then the name */
  unsigned alpn_n;
  pc_ratelimit_t rl; /* of pc_tls_log_failure */
};

struct pc_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  bool ready;       /* handshake over */
  char why[160];    /* the failure, for logs */
};

/* One write of TLS records; freed when libuv is done with it. */
typedef struct {
  uv_write_t req;
  uv_write_t *user; /* the caller's request, handed to cb */
  uv_write_cb cb;
  size_t n;
  char data[];
} chunk_t;

/* ---- context ----------------------------------------------------------------- */

/* The first (root cause) OpenSSL error's reason ("no start line"), and
 * clear the queue. */
static const char *ssl_reason(void) {
  unsigned long e = ERR_peek_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  return r ? r : "unknown OpenSSL error";
}

/* A file OpenSSL is about to read: readable, or an error with errno's text
 * (clearer than OpenSSL's "system lib"). */
static int readable(const char *key, const char *path, const char **bad_key, pc_err_t *err) {
  FILE *f = fopen(path, "r");
  if (f) {
    fclose(f);
    return 0;
  }
  *bad_key = key;
  return pc_err_set(err, PC_EINVAL, "cannot read %s %s: %s", key, path, strerror(errno));
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  pc_tls_ctx_t *ctx = arg;
  unsigned char *sel;
  if (inlen == 0 || /* never from OpenSSL, but the helper misreads it (CVE-2024-5535) */
      SSL_select_next_proto(&sel, outlen, ctx->alpn, ctx->alpn_n, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* the protocol's own checks answer such a client */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* ---- cipher suites -------------------------------------------------------------
 * OpenSSL's defaults for TLS 1.2 still offer RSA key exchange (no forward
 * secrecy: whoever gets the key later reads every recorded session) and
 * CBC with SHA-1 MACs. The receivers offer ECDHE with AEAD ciphers only,
 * unless cipher_suites says otherwise; TLS 1.3's suites are all forward
 * secret AEAD. Names are the Collector's (Go's crypto/tls CipherSuites()),
 * mapped to OpenSSL's. */
static const struct {
  const char *go, *ossl;
  bool tls13;
} SUITES[] = {
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", false},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", false},
    /* In Go's secure list, so the Collector takes them: forward secret,
     * but CBC with SHA-1. Offered only when named. */
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", false},
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", true},
    {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", true},
    {"TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", true},
};
#define N_SUITES (sizeof SUITES / sizeof SUITES[0])
/* The first six: ECDHE and AEAD. */
static const char DEFAULT_TLS12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int pc_tls_suite_check(const char *name, const char **why) {
  for (size_t i = 0; i < N_SUITES; i++)
    if (strcmp(name, SUITES[i].go) == 0) return 0;
  /* Go's InsecureCipherSuites(), which the Collector takes only with
   * include_insecure_cipher_suites: all RSA key exchange, RC4 or 3DES, or
   * CBC with SHA-256 (Lucky13). */
  if (strncmp(name, "TLS_RSA_WITH_", 13) == 0)
    *why = "has no forward secrecy (RSA key exchange); profcol's receivers do not offer it";
  else if (strstr(name, "RC4") || strstr(name, "3DES") || strstr(name, "CBC_SHA256"))
    *why = "is insecure (RC4, 3DES or CBC-SHA256); profcol's receivers do not offer it";
  else
    *why = "is unknown to profcol: use the Collector's names, e.g. "
           "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_AES_128_GCM_SHA256";
  return PC_EINVAL;
}

/* cipher_suites into OpenSSL's two lists (TLS 1.2 and TLS 1.3); a list
 * left empty keeps its default. */
static int set_suites(SSL_CTX *s, const pc_tls_files_t *f, pc_err_t *err) {
  char l12[1024] = "", l13[256] = "";
  for (size_t i = 0; i < f->n_cipher_suites; i++)
    for (size_t k = 0; k < N_SUITES; k++) {
      if (strcmp(f->cipher_suites[i], SUITES[k].go) != 0) continue;
      char *l = SUITES[k].tls13 ? l13 : l12;
      size_t cap = SUITES[k].tls13 ? sizeof l13 : sizeof l12, n = strlen(l);
      snprintf(l + n, cap - n, "%s%s", n ? ":" : "", SUITES[k].ossl);
    }
  if (SSL_CTX_set_cipher_list(s, l12[0] ? l12 : DEFAULT_TLS12) != 1 ||
      (l13[0] && SSL_CTX_set_ciphersuites(s, l13) != 1))
    return pc_err_set(err, PC_EINVAL, "cipher_suites: OpenSSL takes none of them: %s",
                      ssl_reason());
  return 0;
}

/* "1.2" or "1.3" (or empty: def) into *out; PC_EINVAL otherwise. */
static int parse_version(const char *key, const char *v, int def, int *out, const char **bad_key,
                         pc_err_t *err) {
  if (!v || !v[0]) *out = def;
  else if (strcmp(v, "1.2") == 0) *out = TLS1_2_VERSION;
  else if (strcmp(v, "1.3") == 0) *out = TLS1_3_VERSION;
  else {
    *bad_key = key;
    return pc_err_set(err, PC_EINVAL, "%s \"%s\": expected \"1.2\" or \"1.3\" (profcol's "
                      "receivers do not serve TLS 1.0 or 1.1)", key, v);
  }
  return 0;
}

pc_tls_ctx_t *pc_tls_ctx_new(const pc_tls_files_t *f, const char *alpn, const char **bad_key,
                             pc_err_t *err) {
  *bad_key = NULL;
  int version, max_version;
  if (parse_version("min_version", f->min_version, TLS1_2_VERSION, &version, bad_key, err) ||
      parse_version("max_version", f->max_version, TLS1_3_VERSION, &max_version, bad_key, err))
    return NULL;
  if (max_version < version) {
    *bad_key = "max_version";
    pc_err_set(err, PC_EINVAL, "max_version \"%s\" is below min_version \"%s\"",
               f->max_version, f->min_version ? f->min_version : "1.2");
    return NULL;
  }
  for (size_t i = 0; i < f->n_cipher_suites; i++) {
    const char *why;
    if (pc_tls_suite_check(f->cipher_suites[i], &why)) {
      *bad_key = "cipher_suites";
      pc_err_set(err, PC_EINVAL, "cipher suite \"%s\" %s", f->cipher_suites[i], why);
      return NULL;
    }
  }
  if (readable("cert_file", f->cert_file, bad_key, err) ||
      readable("key_file", f->key_file, bad_key, err) ||
      (f->client_ca_file && f->client_ca_file[0] &&
       readable("client_ca_file", f->client_ca_file, bad_key, err)))
    return NULL;
  size_t an = strlen(alpn);
  if (an == 0 || an >= sizeof ((pc_tls_ctx_t *)0)->alpn) {
    pc_err_set(err, PC_EINVAL, "bad ALPN protocol \"%s\"", alpn);
    return NULL;
  }
  char why[256]; /* OpenSSL itself, at the first TLS listener (openssl_dl.h) */
  if (pc_openssl_load(why, sizeof why)) {
    pc_err_set(err, PC_EIO, "%s", why);
    return NULL;
  }
  pc_tls_ctx_t *ctx = pc_xcalloc(1, sizeof *ctx);
  ctx->alpn[0] = (unsigned char)an;
  memcpy(ctx->alpn + 1, alpn, an);
  ctx->alpn_n = (unsigned)an + 1;
  ERR_clear_error();
  ctx->ssl = SSL_CTX_new(TLS_server_method());
  if (!ctx->ssl) pc_oom();
  SSL_CTX *s = ctx->ssl;
  SSL_CTX_set_min_proto_version(s, version);
  SSL_CTX_set_max_proto_version(s, max_version);
  if (set_suites(s, f, err)) {
    *bad_key = "cipher_suites";
    pc_tls_ctx_free(ctx);
    return NULL;
  }
  /* Renegotiation is a way to make the server work hard for nothing. */
  SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* Idle keep-alive connections give their record buffers back. */
  SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(s, on_alpn, ctx);
  static const unsigned char sid[] = "profcol";
  SSL_CTX_set_session_id_context(s, sid, sizeof sid - 1); /* resumption with client certs */
  const char *what = NULL, *path = NULL;
  if (SSL_CTX_use_certificate_chain_file(s, f->cert_file) != 1) {
    what = "cert_file", path = f->cert_file;
  } else if (SSL_CTX_use_PrivateKey_file(s, f->key_file, SSL_FILETYPE_PEM) != 1) {
    what = "key_file", path = f->key_file;
  } else if (SSL_CTX_check_private_key(s) != 1) {
    *bad_key = "key_file";
    pc_err_set(err, PC_EINVAL, "key_file %s is not the key of cert_file %s: %s", f->key_file,
               f->cert_file, ssl_reason());
    pc_tls_ctx_free(ctx);
    return NULL;
  } else if (f->client_ca_file && f->client_ca_file[0]) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->client_ca_file);
    if (!names || SSL_CTX_load_verify_locations(s, f->client_ca_file, NULL) != 1) {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      what = "client_ca_file", path = f->client_ca_file;
    } else {
      SSL_CTX_set_client_CA_list(s, names); /* takes names */
      SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
  }
  if (what) {
    *bad_key = what;
    pc_err_set(err, PC_EINVAL, "cannot load %s %s: %s", what, path, ssl_reason());
    pc_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

void pc_tls_ctx_free(pc_tls_ctx_t *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}

void pc_tls_log_failure(pc_tls_ctx_t *ctx, const char *id, const uv_tcp_t *tcp,
                        const pc_tls_t *t) {
  char peer[80], sup[48];
  pc_http_peer(tcp, peer, sizeof peer);
  uint64_t skipped;
  if (pc_ratelimit(&ctx->rl, LOG_EVERY_MS, &skipped))
    pc_log(id, PC_LOG_WARN, "TLS with %s failed, connection closed: %s%s", peer, pc_tls_why(t),
           pc_suppressed(skipped, sup));
  else
    pc_log(id, PC_LOG_DEBUG, "TLS with %s failed: %s", peer, pc_tls_why(t));
}

/* ---- sessions ------------------------------------------------------------------ */

pc_tls_t *pc_tls_new(pc_tls_ctx_t *ctx) {
  pc_tls_t *t = pc_xcalloc(1, sizeof *t);
  t->ssl = SSL_new(ctx->ssl);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  BIO_set_mem_eof_return(t->rbio, -1); /* empty means "more to come", not EOF */
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_accept_state(t->ssl);
  return t;
}

void pc_tls_free(pc_tls_t *t) {
  if (!t) return;
  SSL_free(t->ssl);
  free(t);
}

bool pc_tls_ready(const pc_tls_t *t) { return t->ready; }

const char *pc_tls_why(const pc_tls_t *t) { return t->why; }

void pc_tls_feed(pc_tls_t *t, const void *p, size_t n) {
  /* A memory BIO grows: this only fails without memory. */
  if (n && BIO_write(t->rbio, p, (int)n) != (int)n) pc_oom();
}

static void chunk_on_write(uv_write_t *req, int status) {
  chunk_t *ch = container_of(req, chunk_t, req);
  uv_write_t *user = ch->user;
  uv_write_cb cb = ch->cb;
  free(ch);
  if (cb) cb(user, status);
}

/* Write what the session has for the peer; with cb, always one write (its
 * completion is the caller's). */
static int send_records(pc_tls_t *t, uv_stream_t *s, uv_write_t *user, uv_write_cb cb) {
  size_t n = BIO_ctrl_pending(t->wbio);
  if (n == 0 && !cb) return 0;
  chunk_t *ch = pc_xmalloc(sizeof *ch + n);
  *ch = (chunk_t){.user = user, .cb = cb, .n = n};
  if (n && BIO_read(t->wbio, ch->data, (int)n) != (int)n) pc_oom();
  uv_buf_t b = uv_buf_init(ch->data, (unsigned)n);
  int rc = uv_write(&ch->req, s, &b, 1, chunk_on_write);
  if (rc) free(ch);
  return rc;
}

/* Why the session failed, from OpenSSL's queue and the certificate check. */
static void set_why(pc_tls_t *t, int ssl_error) {
  const char *r = ssl_error == SSL_ERROR_SSL ? ssl_reason() : "unexpected end of the session";
  ERR_clear_error();
  long v = SSL_get_verify_result(t->ssl);
  const char *hint = "";
  if (strstr(r, "http request") || strstr(r, "wrong version number"))
    hint = " (the client does not speak TLS?)";
  if (v != X509_V_OK)
    snprintf(t->why, sizeof t->why, "%s: client certificate: %s", r,
             X509_verify_cert_error_string(v));
  else
    snprintf(t->why, sizeof t->why, "%s%s", r, hint);
}

ssize_t pc_tls_read(pc_tls_t *t, uv_stream_t *s, void *buf, size_t cap) {
  /* SSL_get_error reads the thread's queue: nothing else may be left in it
   * (the loop thread runs other OpenSSL users, libcurl's exporters). */
  ERR_clear_error();
  int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  ssize_t rc = n;
  if (n <= 0) {
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
      rc = 0;
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      rc = UV_EOF;
    } else {
      set_why(t, e);
      rc = PC_EIO;
    }
  }
  if (!t->ready && SSL_is_init_finished(t->ssl)) t->ready = true;
  /* Handshake records, session tickets, the alert of a failure: sent now
   * (a write that fails shows up as a read error soon after). */
  send_records(t, s, NULL, NULL);
  return rc;
}

int pc_tls_write(pc_tls_t *t, uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
                 unsigned nbufs, uv_write_cb cb) {
  if (!t->ready) return UV_ENOTCONN;
  ERR_clear_error();
  for (unsigned i = 0; i < nbufs; i++) {
    if (!bufs[i].len) continue;
    /* Memory BIOs: a whole buffer goes in at once, or the session is broken. */
    if (SSL_write(t->ssl, bufs[i].base, (int)bufs[i].len) != (int)bufs[i].len) {
      set_why(t, SSL_ERROR_SSL);
      return UV_EPROTO;
    }
  }
  return send_records(t, s, req, cb);
}

void pc_tls_close_notify(pc_tls_t *t, uv_stream_t *s) {
  if (!t->ready) return;
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  send_records(t, s, NULL, NULL);
}
