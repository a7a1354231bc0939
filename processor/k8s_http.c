/* k8s_http.c - the Kubernetes client's transport (k8s.h): GETs to the API
 * server whose answers stream in, on libcurl's multi interface driven by
 * the loop.
 *
 * The one idea: libcurl says which sockets to watch and when to wake it
 * (CURLMOPT_SOCKETFUNCTION -> a uv_poll_t per socket, CURLMOPT_TIMERFUNCTION
 * -> one uv_timer_t), the loop calls curl_multi_socket_action when one
 * fires, and body bytes go to the GET's owner from libcurl's write callback,
 * chunked transfer already undone. No thread, no blocking call: a watch
 * that waits ten minutes for an event costs a socket and a poll handle.
 * Connections are cached in the multi handle; over HTTP/2 (the API server
 * offers it) every watch of one client shares one connection.
 *
 * This file is the only one that knows libcurl. The exporters drive
 * libcurl on the loop the same way (exporter/); when that glue is shared
 * across modules, the driver half of this file becomes a call into it and
 * the GET half stays.
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

#include "../core/log.h"
#include "k8s.h"

typedef struct sock {
  uv_poll_t poll;
  pc__k8s_http_t *h;
  curl_socket_t fd;
  struct sock *next;
} sock_t;

struct pc__k8s_http {
  uv_loop_t *loop;
  CURLM *multi;
  pc__k8s_api_t *api;
  bool global;   /* curl_global_init succeeded */
  bool started;  /* the timer is on the loop */
  uv_timer_t timer;
  sock_t *socks;
  unsigned closing;
  bool ending;
  void (*closed)(void *arg);
  void *closed_arg;
};

/* ---- the driver: libcurl's multi interface on the loop --------------------------------- */

static void free_http(pc__k8s_http_t *h) {
  if (h->global) curl_global_cleanup();
  free(h);
}

static void one_closed(pc__k8s_http_t *h) {
  if (--h->closing || !h->ending) return;
  void (*cb)(void *) = h->closed;
  void *arg = h->closed_arg;
  free_http(h);
  if (cb) cb(arg);
}

static void sock_on_close(uv_handle_t *hd) {
  sock_t *sk = container_of(hd, sock_t, poll);
  pc__k8s_http_t *h = sk->h;
  free(sk);
  one_closed(h);
}

static void timer_on_close(uv_handle_t *hd) { one_closed(container_of(hd, pc__k8s_http_t, timer)); }

static void sock_forget(pc__k8s_http_t *h, sock_t *sk) {
  for (sock_t **pp = &h->socks; *pp; pp = &(*pp)->next)
    if (*pp == sk) {
      *pp = sk->next;
      break;
    }
  uv_poll_stop(&sk->poll);
  h->closing++;
  uv_close((uv_handle_t *)&sk->poll, sock_on_close);
}

static void get_finished(pc__k8s_get_t *g, CURLcode rc);

static void check_done(pc__k8s_http_t *h) {
  CURLMsg *m;
  int left;
  while (h->multi && (m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    CURLcode rc = m->data.result;
    curl_multi_remove_handle(h->multi, m->easy_handle);
    get_finished((pc__k8s_get_t *)(void *)priv, rc); /* may start another GET */
  }
}

static void sock_on_poll(uv_poll_t *p, int status, int events) {
  sock_t *sk = container_of(p, sock_t, poll);
  pc__k8s_http_t *h = sk->h;
  int flags = status < 0 ? CURL_CSELECT_ERR : 0;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(h->multi, sk->fd, flags, &running); /* may forget sk */
  check_done(h);
}

static int curl_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  pc__k8s_http_t *h = userp;
  sock_t *sk = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sk) {
      curl_multi_assign(h->multi, fd, NULL);
      sock_forget(h, sk);
    }
    return 0;
  }
  if (!sk) {
    sk = pc_xcalloc(1, sizeof *sk);
    sk->h = h;
    sk->fd = fd;
    if (uv_poll_init_socket(h->loop, &sk->poll, fd)) {
      free(sk);
      return -1;
    }
    sk->next = h->socks;
    h->socks = sk;
    curl_multi_assign(h->multi, fd, sk);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&sk->poll, ev, sock_on_poll);
  return 0;
}

static void timer_on_fire(uv_timer_t *t) {
  pc__k8s_http_t *h = container_of(t, pc__k8s_http_t, timer);
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

static int curl_on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  pc__k8s_http_t *h = userp;
  if (timeout_ms < 0) uv_timer_stop(&h->timer);
  else uv_timer_start(&h->timer, timer_on_fire, (uint64_t)timeout_ms, 0);
  return 0;
}

int pc__k8s_http_open(uv_loop_t *loop, pc__k8s_api_t *api, pc__k8s_http_t **out, pc_err_t *err) {
  pc__k8s_http_t *h = pc_xcalloc(1, sizeof *h);
  *out = NULL;
  h->loop = loop;
  h->api = api;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free_http(h);
    return pc_err_set(err, PC_EIO, "libcurl failed to initialise");
  }
  h->global = true;
  if (!(h->multi = curl_multi_init())) {
    free_http(h);
    return pc_err_set(err, PC_ENOMEM, "curl_multi_init failed");
  }
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_on_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 4L);
  *out = h;
  return 0;
}

void pc__k8s_http_close(pc__k8s_http_t *h, void (*closed)(void *arg), void *arg) {
  if (!h->started) {
    curl_multi_cleanup(h->multi);
    free_http(h);
    if (closed) closed(arg);
    return;
  }
  h->ending = true;
  h->closed = closed;
  h->closed_arg = arg;
  curl_multi_cleanup(h->multi); /* closes cached connections: sockets come back */
  h->multi = NULL;
  while (h->socks) sock_forget(h, h->socks);
  h->closing++;
  uv_close((uv_handle_t *)&h->timer, timer_on_close);
}

/* ---- GETs --------------------------------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  pc__k8s_get_t *g = ud;
  size_t n = size * nmemb;
  if (!g->status) curl_easy_getinfo(g->easy, CURLINFO_RESPONSE_CODE, &g->status);
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
  if (g->easy) curl_easy_cleanup(g->easy);
  g->easy = NULL;
  g->active = false;
}

static void get_finished(pc__k8s_get_t *g, CURLcode rc) {
  long status = 0;
  curl_easy_getinfo(g->easy, CURLINFO_RESPONSE_CODE, &status);
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

int pc__k8s_get_start(pc__k8s_http_t *h, pc__k8s_get_t *g, const char *path, const char *accept,
                      uint64_t timeout_ms, char *why, size_t cap) {
  pc__k8s_api_t *api = h->api;
  char terr[300] = "";
  const char *token = pc__k8s_api_token(api, pc_now_ms(), terr, sizeof terr);
  if (!token && api->token_file) {
    snprintf(why, cap, "%s", terr);
    return PC_EIO;
  }
  CURL *e = curl_easy_init();
  if (!e) {
    snprintf(why, cap, "curl_easy_init failed");
    return PC_ENOMEM;
  }
  g->easy = e;
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
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)g);
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
  if (!h->started) {
    uv_timer_init(h->loop, &h->timer);
    h->started = true;
  }
  CURLMcode mc = curl_multi_add_handle(h->multi, e);
  if (mc != CURLM_OK) {
    snprintf(why, cap, "%s", curl_multi_strerror(mc));
    get_release(g);
    return PC_ENOMEM;
  }
  g->active = true;
  return 0;
}

void pc__k8s_get_cancel(pc__k8s_get_t *g) {
  if (!g->active) return;
  curl_multi_remove_handle(g->h->multi, g->easy);
  get_release(g);
}
