/* k8s_http.c - the Kubernetes client's transport (k8s.h): GETs to the API
 * server whose answers stream in, on libcurl's multi interface driven by
 * the loop (component/curl.h, shared with the exporters and the pprof
 * receiver).
 *
 * The one idea: each GET is an easy handle set up here and run by the
 * client's multi handle; body bytes go to the GET's owner from libcurl's
 * write callback, chunked transfer already undone. No blocking call (the
 * process's first GET waits for libcurl's load off the loop): a watch
 * that waits ten minutes for an event costs a socket and a poll handle. Connections are cached in the multi handle; over HTTP/2 (the
 * API server offers it) every watch of one client shares one connection.
 *
 * This file is the only one of processor/ that knows libcurl.
 *
 * Requests: Authorization: Bearer <token> (read again every minute from a
 * token file, k8s_api.c), Accept: application/json (or the metadata-only
 * form), the CA and client certificate of the auth config. A list (no
 * timeout given) is stopped when no byte came for a minute; a watch gets a
 * total timeout a little above the timeoutSeconds it asked the server for,
 * so a connection that died without a FIN is noticed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../component/curl.h"
#include "../core/log.h"
#include "k8s.h"

struct pc__k8s_http {
  pc_curl_t *curl; /* the multi handle, driven by the loop */
  pc__k8s_api_t *api;
  void (*closed)(void *arg);
  void *closed_arg;
};

int pc__k8s_http_open(uv_loop_t *loop, pc__k8s_api_t *api, pc__k8s_http_t **out, pc_err_t *err) {
  *out = NULL;
  pc_curl_t *c;
  /* A few idle connections: one per API server is the common case, and
   * over HTTP/2 every watch shares it. */
  int rc = pc_curl_open(loop, 4L, true, &c, err);
  if (rc) return rc;
  pc__k8s_http_t *h = pc_xcalloc(1, sizeof *h);
  h->curl = c;
  h->api = api;
  *out = h;
  return 0;
}

static void curl_closed(void *arg) {
  pc__k8s_http_t *h = arg;
  void (*cb)(void *) = h->closed;
  void *cb_arg = h->closed_arg;
  free(h);
  if (cb) cb(cb_arg);
}

void pc__k8s_http_close(pc__k8s_http_t *h, void (*closed)(void *arg), void *arg) {
  h->closed = closed;
  h->closed_arg = arg;
  pc_curl_close(h->curl, curl_closed, h);
}

/* ---- GETs --------------------------------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  pc__k8s_get_t *g = ud;
  size_t n = size * nmemb;
  if (!g->status) curl_easy_getinfo(g->xfer.easy, CURLINFO_RESPONSE_CODE, &g->status);
  int rc = g->on_body(g, g->status, (const uint8_t *)p, n);
  if (rc) {
    g->stopped = true;
    g->stop_rc = rc;
    return CURL_WRITEFUNC_ERROR;
  }
  return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  pc__k8s_get_t *g = ud;
  size_t n = size * nmemb;
  static const char ra[] = "retry-after:";
  if (n > sizeof ra - 1 && !strncasecmp(p, ra, sizeof ra - 1)) {
    unsigned long v = strtoul(p + sizeof ra - 1, NULL, 10);
    g->retry_after_s = v > 3600 ? 3600 : (uint32_t)v;
  }
  return n;
}

static void get_release(pc__k8s_get_t *g) {
  curl_slist_free_all(g->hdrs);
  g->hdrs = NULL;
  if (g->xfer.easy) curl_easy_cleanup(g->xfer.easy);
  g->xfer.easy = NULL;
}

static void get_finished(pc_curl_xfer_t *x, CURLcode rc) {
  pc__k8s_get_t *g = container_of(x, pc__k8s_get_t, xfer);
  long status = 0;
  curl_easy_getinfo(g->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
  char why[320] = "";
  int code = 0;
  if (g->stopped) {
    code = g->stop_rc;
    snprintf(why, sizeof why, "stopped reading the answer");
  } else if (rc != CURLE_OK) {
    code = PC_EIO;
    snprintf(why, sizeof why, "%s%s%s", curl_easy_strerror(rc), g->errbuf[0] ? ": " : "",
             g->errbuf);
  }
  get_release(g);
  g->on_done(g, code, status, why);
}

static int get_begin(pc__k8s_http_t *h, pc__k8s_get_t *g, const char *path, const char *accept,
                     uint64_t timeout_ms, char *why, size_t cap) {
  pc__k8s_api_t *api = h->api;
  char terr[300] = "";
  const char *token = pc__k8s_api_token(api, pc_now_ms(), terr, sizeof terr);
  if (!token && api->token_file) {
    snprintf(why, cap, "%s", terr);
    return PC_EIO;
  }
  CURL *e = pc_curl_easy(h->curl, why, cap);
  if (!e) return PC_ENOMEM;
  g->xfer.easy = e;
  g->xfer.done = get_finished;
  g->h = h;
  g->status = 0;
  g->retry_after_s = 0;
  g->stopped = false;
  g->stop_rc = 0;
  g->errbuf[0] = 0;
  size_t ul = strlen(api->server) + strlen(path) + 1;
  char *url = pc_xmalloc(ul);
  snprintf(url, ul, "%s%s", api->server, path);
  curl_easy_setopt(e, CURLOPT_URL, url);
  free(url); /* libcurl copies it */
  char hdr[160];
  snprintf(hdr, sizeof hdr, "Accept: %s", accept ? accept : "application/json");
  g->hdrs = curl_slist_append(NULL, hdr);
  if (token) {
    size_t tl = strlen(token) + 32;
    char *auth = pc_xmalloc(tl);
    snprintf(auth, tl, "Authorization: Bearer %s", token);
    g->hdrs = curl_slist_append(g->hdrs, auth);
    free(auth);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->hdrs);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, g);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, g);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, g->errbuf);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "profcol");
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the server offers it */
  curl_easy_setopt(e, CURLOPT_PROXY, api->proxy ? api->proxy : "");
  if (!api->proxy) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  if (timeout_ms) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  } else {
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
  }
  if (api->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, api->ca_file);
  if (api->ca_pem.n) {
    struct curl_blob b = {api->ca_pem.p, api->ca_pem.n, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
  }
  if (api->cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, api->cert_file);
  if (api->key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, api->key_file);
  if (api->cert_pem.n) {
    struct curl_blob b = {api->cert_pem.p, api->cert_pem.n, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (api->key_pem.n) {
    struct curl_blob b = {api->key_pem.p, api->key_pem.n, CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (api->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  pc_curl_start(h->curl); /* on the loop from the first GET on */
  int rc = pc_curl_add(h->curl, &g->xfer, why, cap);
  if (rc) get_release(g);
  return rc;
}

/* libcurl's load ended: the GET starts, or ends with why it cannot. */
static void get_on_loaded(pc_curl_wait_t *w, int rc, const char *why) {
  pc__k8s_get_t *g = container_of(w, pc__k8s_get_t, wait);
  char *path = g->path;
  g->path = NULL;
  char text[320];
  snprintf(text, sizeof text, "%s", rc ? why : "");
  if (!rc) rc = get_begin(g->h, g, path, g->accept, g->timeout_ms, text, sizeof text);
  free(path);
  if (rc) g->on_done(g, rc, 0, text);
}

int pc__k8s_get_start(pc__k8s_http_t *h, pc__k8s_get_t *g, const char *path, const char *accept,
                      uint64_t timeout_ms, char *why, size_t cap) {
  g->h = h;
  g->wait.ready = get_on_loaded;
  int rc = pc_curl_wait(h->curl, &g->wait, why, cap);
  if (rc != PC_EAGAIN)
    return rc ? rc : get_begin(h, g, path, accept, timeout_ms, why, cap);
  g->path = pc_xstrdup(path);
  g->accept = accept;
  g->timeout_ms = timeout_ms;
  return 0;
}

void pc__k8s_get_cancel(pc__k8s_get_t *g) {
  if (g->wait.waiting) {
    pc_curl_unwait(g->h->curl, &g->wait);
    free(g->path);
    g->path = NULL;
    return;
  }
  if (!g->xfer.added) return;
  pc_curl_remove(g->h->curl, &g->xfer);
  get_release(g);
}
