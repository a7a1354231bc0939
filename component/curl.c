/* curl.c - libcurl's multi interface driven by a libuv loop (curl.h), for
 * every component that is an HTTP client: the exporters that send over HTTP
 * (exporter/otlphttp.c, otlpgrpc.c), the pprof receiver's scrapes
 * (receiver/pprof_scrape.c) and the Kubernetes API client
 * (processor/k8s_http.c).
 *
 * The one idea: libcurl says which sockets to watch and when to wake it
 * (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket,
 * CURLMOPT_TIMERFUNCTION -> one uv_timer_t), and the loop calls
 * curl_multi_socket_action when either fires. Nothing blocks the loop:
 * libcurl itself is loaded in a thread of its own at the first use,
 * and owners wait for it with pc_curl_wait (curl_dl.c). Connections stay
 * alive in the multi handle's cache, so every transfer of one component
 * reuses them.
 *
 * A transfer is a pc_curl_xfer_t embedded in its owner (the send
 * module's slot, a scrape slot, a Kubernetes GET); its done callback runs on the loop once the transfer
 * ends, unless it was removed first. Closing removes what is still added,
 * lets libcurl close its connections and closes every handle; the closed
 * callback comes from the last close callback, as libuv requires. */
#include <stdio.h>
#include <stdlib.h>

#include "curl.h"
#include "curl_dl.h"

#include "../core/log.h"

/* A socket libcurl asked us to watch. */
typedef struct sock {
  uv_poll_t poll;
  pc_curl_t *c;
  curl_socket_t fd;
  struct sock *next; /* open sockets, to close what libcurl leaves behind */
} sock_t;

struct pc_curl {
  uv_loop_t *loop;
  CURLM *multi; /* NULL until the first easy handle (ready) */
  long max_connects;
  bool multiplex;
  bool started; /* its timer is on the loop */
  /* While libcurl loads off the loop (curl_dl.h): its owners'
   * waits, in order, and the loader's wake-up on this loop. */
  pc_curl_wait_t *waits, **waits_tail;
  pc_curl_waiter_t loading; /* listed with the loader */
  bool listed;
  bool ended; /* the load ended (wake may still be closing): ask pc_curl_load */
  uv_async_t wake;
  bool wake_open;
  bool wake_held; /* closing waits for it: counted in closing already */
  uv_timer_t timer;
  sock_t *socks;
  unsigned closing; /* close callbacks still to come */
  bool ending;      /* pc_curl_close was called: the last close frees it */
  void (*closed)(void *arg);
  void *closed_arg;
};

/* ---- closing ------------------------------------------------------------------------ */

/* libcurl's global set-up is the loader's, once for the process
 * (curl_dl.c): nothing of it to undo per handle. */
static void free_curl(pc_curl_t *c) { free(c); }

static void one_closed(pc_curl_t *c) {
  if (--c->closing || !c->ending) return; /* a socket libcurl was done with, while running */
  void (*cb)(void *) = c->closed;
  void *arg = c->closed_arg;
  free_curl(c);
  if (cb) cb(arg);
}

static void sock_on_close(uv_handle_t *h) {
  sock_t *sk = container_of(h, sock_t, poll);
  pc_curl_t *c = sk->c;
  free(sk);
  one_closed(c);
}

static void timer_on_close(uv_handle_t *h) { one_closed(container_of(h, pc_curl_t, timer)); }

static void wake_on_close(uv_handle_t *h) { one_closed(container_of(h, pc_curl_t, wake)); }

/* Off the loader's list and its wake-up closed: the load ended, or c goes. */
static void stop_waiting(pc_curl_t *c) {
  if (c->listed) pc_curl_load_forget(&c->loading);
  c->listed = false;
  if (!c->wake_open) return;
  c->wake_open = false;
  if (!c->wake_held) c->closing++;
  c->wake_held = false;
  uv_close((uv_handle_t *)&c->wake, wake_on_close);
}

static void sock_forget(pc_curl_t *c, sock_t *sk) {
  for (sock_t **pp = &c->socks; *pp; pp = &(*pp)->next)
    if (*pp == sk) {
      *pp = sk->next;
      break;
    }
  uv_poll_stop(&sk->poll);
  c->closing++;
  uv_close((uv_handle_t *)&sk->poll, sock_on_close);
}

/* ---- the loop's side ---------------------------------------------------------------- */

/* Hand every finished transfer to its owner. */
static void check_done(pc_curl_t *c) {
  CURLMsg *m;
  int left;
  while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    pc_curl_xfer_t *x = (pc_curl_xfer_t *)(void *)priv;
    curl_multi_remove_handle(c->multi, easy);
    x->added = false;
    x->done(x, rc); /* may add it again (a retry) or another one */
  }
}

static void sock_on_poll(uv_poll_t *p, int status, int events) {
  sock_t *sk = container_of(p, sock_t, poll);
  pc_curl_t *c = sk->c;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(c->multi, sk->fd, flags, &running); /* may close sk */
  check_done(c);
}

static int curl_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  pc_curl_t *c = userp;
  sock_t *sk = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sk) {
      curl_multi_assign(c->multi, fd, NULL);
      sock_forget(c, sk);
    }
    return 0;
  }
  if (!sk) {
    sk = pc_xcalloc(1, sizeof *sk);
    sk->c = c;
    sk->fd = fd;
    if (uv_poll_init_socket(c->loop, &sk->poll, fd)) {
      free(sk);
      return -1;
    }
    sk->next = c->socks;
    c->socks = sk;
    curl_multi_assign(c->multi, fd, sk);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&sk->poll, ev, sock_on_poll);
  return 0;
}

static void timer_on_fire(uv_timer_t *t) {
  pc_curl_t *c = container_of(t, pc_curl_t, timer);
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(c);
}

static int curl_on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  pc_curl_t *c = userp;
  if (timeout_ms < 0) uv_timer_stop(&c->timer);
  else /* 0 means "now": the next loop iteration, never from inside libcurl */
    uv_timer_start(&c->timer, timer_on_fire, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- the interface ----------------------------------------------------------------------- */

/* The multi handle, made with the first easy handle rather than at open:
 * a component that has not sent anything yet needs none. libcurl itself
 * is loaded by then: every owner waits for it with pc_curl_wait first, or
 * knows it loaded (the pprof receiver's config check loads it). Loading it
 * here is the fallback of a path that did neither, on the loop. */
static int ready(pc_curl_t *c, char *why, size_t cap) {
  if (c->multi) return 0;
  int rc = pc_curl_load(why, cap);
  if (rc) return rc;
  if (!(c->multi = curl_multi_init())) {
    snprintf(why, cap, "curl_multi_init failed");
    return PC_ENOMEM;
  }
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_on_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_connects);
  if (!c->multiplex) curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  return 0;
}

/* ---- waiting for the load ------------------------------------------------------------- */

/* The loader's wake-up: the load ended. Each wait in order, each told the
 * result; one may start transfers (libcurl is there) or, having failed,
 * wait again, which then answers at once. */
static void on_loaded(uv_async_t *a) {
  pc_curl_t *c = container_of(a, pc_curl_t, wake);
  stop_waiting(c);
  c->ended = true;
  char why[256];
  int rc = pc_curl_load(why, sizeof why); /* the load has ended: its result, at once */
  while (c->waits) {
    pc_curl_wait_t *w = c->waits;
    if (!(c->waits = w->next)) c->waits_tail = &c->waits;
    w->waiting = false;
    w->ready(w, rc, why);
  }
}

int pc_curl_wait(pc_curl_t *c, pc_curl_wait_t *w, char *why, size_t cap) {
  if (w->waiting) return PC_EAGAIN;
  if (c->ended) return pc_curl_load(why, cap); /* its result, at once */
  if (!c->listed) {
    if (pc_curl_loaded()) return 0;
    pc_curl_start(c); /* its close then waits for the wake-up's */
    if (!c->wake_open) { /* before the listing: the loader may wake it at once */
      uv_async_init(c->loop, &c->wake, on_loaded);
      c->wake_open = true;
    }
    c->loading.wake = &c->wake;
    int rc = pc_curl_load_start(&c->loading, why, cap);
    if (rc != PC_EAGAIN) { /* ended before: nothing to wait for */
      stop_waiting(c);
      c->ended = true;
      return rc;
    }
    c->listed = true;
  }
  w->waiting = true;
  w->next = NULL;
  if (!c->waits) c->waits_tail = &c->waits;
  *c->waits_tail = w;
  c->waits_tail = &w->next;
  return PC_EAGAIN;
}

void pc_curl_unwait(pc_curl_t *c, pc_curl_wait_t *w) {
  if (!w->waiting) return;
  for (pc_curl_wait_t **pp = &c->waits; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      if (c->waits_tail == &w->next) c->waits_tail = pp;
      break;
    }
  w->waiting = false;
}

/* ---- the interface ----------------------------------------------------------------------- */

int pc_curl_open(uv_loop_t *loop, long max_connects, bool multiplex, pc_curl_t **out,
                  pc_err_t *err) {
  (void)err;
  pc_curl_t *c = pc_xcalloc(1, sizeof *c);
  c->loop = loop;
  c->max_connects = max_connects;
  c->multiplex = multiplex;
  c->waits_tail = &c->waits;
  *out = c;
  return 0;
}

CURL *pc_curl_easy(pc_curl_t *c, char *why, size_t cap) {
  if (ready(c, why, cap)) return NULL;
  CURL *easy = curl_easy_init();
  if (!easy) snprintf(why, cap, "curl_easy_init failed");
  return easy;
}

void pc_curl_start(pc_curl_t *c) {
  if (c->started) return;
  uv_timer_init(c->loop, &c->timer);
  c->started = true;
}

int pc_curl_add(pc_curl_t *c, pc_curl_xfer_t *x, char *why, size_t cap) {
  int rc = ready(c, why, cap);
  if (rc) return rc;
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
  CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);
  if (mc != CURLM_OK) { /* out of memory, in practice */
    snprintf(why, cap, "%s", curl_multi_strerror(mc));
    return PC_ENOMEM;
  }
  x->added = true;
  return 0;
}

void pc_curl_remove(pc_curl_t *c, pc_curl_xfer_t *x) {
  if (!x->added) return;
  curl_multi_remove_handle(c->multi, x->easy);
  x->added = false;
}

void pc_curl_close(pc_curl_t *c, void (*closed)(void *arg), void *arg) {
  if (!c) {
    if (closed) closed(arg);
    return;
  }
  if (!c->started) { /* nothing of it is on the loop (a wake-up starts it) */
    if (c->multi) curl_multi_cleanup(c->multi);
    free_curl(c);
    if (closed) closed(arg);
    return;
  }
  c->ending = true;
  c->closed = closed;
  c->closed_arg = arg;
  /* Every wait was unwaited by its owner. A load still under way keeps
   * the wake-up open, and so the loop running, until it ends: a process
   * that went on to exit would run OpenSSL's atexit handlers beside the
   * loading thread. on_loaded then closes it. */
  if (!c->listed) {
    stop_waiting(c);
  } else if (c->wake_open && !c->wake_held) {
    c->wake_held = true;
    c->closing++;
  }
  /* Every transfer was removed by its owner; this closes the cached
   * connections, which may hand sockets back through curl_on_socket. */
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  while (c->socks) sock_forget(c, c->socks); /* any libcurl did not hand back */
  c->closing++;
  uv_close((uv_handle_t *)&c->timer, timer_on_close);
}
