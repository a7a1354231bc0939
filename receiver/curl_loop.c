/* curl_loop.c - libcurl's multi interface on a libuv loop, for the pprof
 * receiver's scrapes (pprof_scrape.c): HTTP(S) GETs that never block the
 * loop and need no thread.
 *
 * The one idea: libcurl decides which sockets to watch and when it wants to
 * be woken (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket;
 * CURLMOPT_TIMERFUNCTION: one uv_timer_t), and the loop calls
 * curl_multi_socket_action when either fires, then hands every finished
 * transfer to its owner. Idle connections stay in the multi handle's cache
 * (at most max_connects of them), so a target scraped again within its
 * keep-alive reuses its connection.
 *
 * The interface (pprofrx.h, pc__rxcurl_*) is the same shape as the
 * exporters' libcurl glue being split out on the send module's branch, so
 * that the receiver can switch to that one file once it is shared; until
 * then this is the receiver's own.
 *
 * Closing: every transfer is removed by its owner first; then the cache's
 * connections are closed (libcurl hands their sockets back through the
 * socket callback), every poll handle and the timer are closed, and the
 * closed callback runs from the last close callback, as libuv requires. */
#include <stdio.h>
#include <stdlib.h>

#include "pprofrx.h"

typedef struct sock {
  uv_poll_t poll;
  pc__rxcurl_t *c;
  curl_socket_t fd;
  struct sock *prev, *next; /* open sockets, for what libcurl leaves at close */
} sock_t;

struct pc__rxcurl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  bool timer_on_loop;
  sock_t *socks;
  unsigned pending_closes;
  bool closing;
  void (*closed)(void *arg);
  void *closed_arg;
};

/* ---- closing ------------------------------------------------------------------------- */

static void rxcurl_free(pc__rxcurl_t *c) {
  curl_global_cleanup();
  free(c);
}

static void rxcurl_one_closed(pc__rxcurl_t *c) {
  if (--c->pending_closes || !c->closing) return;
  void (*cb)(void *) = c->closed;
  void *arg = c->closed_arg;
  rxcurl_free(c);
  if (cb) cb(arg);
}

static void sock_on_close(uv_handle_t *h) {
  sock_t *s = container_of(h, sock_t, poll);
  pc__rxcurl_t *c = s->c;
  free(s);
  rxcurl_one_closed(c);
}

static void timer_on_close(uv_handle_t *h) {
  rxcurl_one_closed(container_of(h, pc__rxcurl_t, timer));
}

static void sock_drop(pc__rxcurl_t *c, sock_t *s) {
  if (s->prev) s->prev->next = s->next;
  else c->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  uv_poll_stop(&s->poll);
  c->pending_closes++;
  uv_close((uv_handle_t *)&s->poll, sock_on_close);
}

/* ---- driving libcurl ----------------------------------------------------------------- */

static void rxcurl_reap(pc__rxcurl_t *c) {
  CURLMsg *m;
  int left;
  while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    pc__rxcurl_xfer_t *x = (pc__rxcurl_xfer_t *)(void *)priv;
    curl_multi_remove_handle(c->multi, easy);
    x->added = false;
    x->done(x, rc); /* may start another transfer */
  }
}

static void sock_on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = container_of(p, sock_t, poll);
  pc__rxcurl_t *c = s->c;
  int flags = status < 0 ? CURL_CSELECT_ERR : 0;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(c->multi, s->fd, flags, &running); /* may drop s */
  rxcurl_reap(c);
}

static int rxcurl_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                            void *socketp) {
  (void)easy;
  pc__rxcurl_t *c = userp;
  sock_t *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      curl_multi_assign(c->multi, fd, NULL);
      sock_drop(c, s);
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return -1; /* libcurl fails the transfer: a scrape error, not a crash */
    s->c = c;
    s->fd = fd;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->next = c->socks;
    if (c->socks) c->socks->prev = s;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&s->poll, ev, sock_on_poll);
  return 0;
}

static void timer_on_fire(uv_timer_t *t) {
  pc__rxcurl_t *c = container_of(t, pc__rxcurl_t, timer);
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  rxcurl_reap(c);
}

static int rxcurl_on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  pc__rxcurl_t *c = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else /* 0 means "now": the next loop iteration, never from inside libcurl */
    uv_timer_start(&c->timer, timer_on_fire, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- the interface ------------------------------------------------------------------- */

int pc__rxcurl_open(uv_loop_t *loop, long max_connects, pc__rxcurl_t **out, pc_err_t *err) {
  *out = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return pc_err_set(err, PC_EIO, "libcurl failed to initialise");
  pc__rxcurl_t *c = pc_xcalloc(1, sizeof *c);
  c->loop = loop;
  if (!(c->multi = curl_multi_init())) {
    rxcurl_free(c);
    return pc_err_set(err, PC_ENOMEM, "curl_multi_init failed");
  }
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, rxcurl_on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, rxcurl_on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, max_connects);
  *out = c;
  return 0;
}

void pc__rxcurl_start(pc__rxcurl_t *c) {
  uv_timer_init(c->loop, &c->timer);
  c->timer_on_loop = true;
}

int pc__rxcurl_add(pc__rxcurl_t *c, pc__rxcurl_xfer_t *x, char *why, size_t cap) {
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
  CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);
  if (mc != CURLM_OK) {
    snprintf(why, cap, "%s", curl_multi_strerror(mc));
    return PC_ENOMEM;
  }
  x->added = true;
  return 0;
}

void pc__rxcurl_remove(pc__rxcurl_t *c, pc__rxcurl_xfer_t *x) {
  if (!x->added) return;
  curl_multi_remove_handle(c->multi, x->easy);
  x->added = false;
}

void pc__rxcurl_close(pc__rxcurl_t *c, void (*closed)(void *arg), void *arg) {
  if (!c) {
    if (closed) closed(arg);
    return;
  }
  if (!c->timer_on_loop) { /* never started: nothing of it is on the loop */
    curl_multi_cleanup(c->multi);
    rxcurl_free(c);
    if (closed) closed(arg);
    return;
  }
  c->closed = closed;
  c->closed_arg = arg;
  /* Closes the cached connections; their sockets come back through
   * rxcurl_on_socket while closing is still false, so those closes are
   * counted, not finished. */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  c->closing = true;
  while (c->socks) sock_drop(c, c->socks);
  c->pending_closes++;
  uv_close((uv_handle_t *)&c->timer, timer_on_close);
}
