/* workers.c - run a config on N workers (workers.h): one libuv loop and one
 * copy of the pipelines per worker, signals, reload and drain.
 *
 * The one idea: a worker is the single-loop runner profcol always had (a
 * running service, on SIGHUP a retired one draining beside the new one, a
 * reaper that destroys the retired one at a safe point), and everything
 * between workers is a message in a mailbox: worker 0 (the main thread,
 * which takes the signals) tells the others to start, reload or stop, asks
 * them for their metrics, and hears when they have drained. A message is a
 * malloc'd node under the mailbox's mutex, then a uv_async_send; the
 * receiving worker handles it on its own loop. Nothing else crosses
 * threads, so each worker's components run exactly as with one worker.
 *
 * Lifetimes: a generation (one parsed config, its N services) is freed when
 * the last of its services is destroyed, by whichever worker that is. A
 * worker closes its mailbox before its loop ends; a message posted after
 * that is refused (the poster then counts that worker as answered). The
 * threads are joined by the main thread after worker 0's loop has ended,
 * which happens once every worker has drained. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "workers.h"

#define LOG "service"
/* How long a scrape waits for the other workers' metrics: a worker busy
 * for longer (a long callback) is left out of that page. */
#define SCRAPE_WAIT_MS 1000

typedef struct pc_workers workers_t;

/* One config as started: its services, one per worker. */
typedef struct {
  uint64_t id; /* 1, 2, ...: pc_worker_set's generation */
  pc_cfg_t *cfg;
  atomic_uint refs; /* services of it not yet destroyed */
} gen_t;

static gen_t *gen_new(uint64_t id, pc_cfg_t *cfg, uint32_t services) {
  gen_t *g = pc_xcalloc(1, sizeof *g);
  g->id = id;
  g->cfg = cfg;
  atomic_init(&g->refs, services);
  return g;
}

/* A service of g was destroyed (or never started and freed). */
static void gen_unref(gen_t *g) {
  if (g && atomic_fetch_sub(&g->refs, 1) == 1) {
    pc_cfg_free(g->cfg);
    free(g);
  }
}

/* A scrape of worker 0's metrics endpoint waiting for the others. Only
 * worker 0's thread touches it; the others only carry its pointer. */
typedef struct {
  pc_metrics_t *m; /* the page: worker 0's metrics, the others merged in */
  pc_done_cb done;
  void *ctx;
  uint32_t waiting; /* answers still to come */
  uint32_t refs;    /* answers in flight + the timer */
  bool finished;
  uv_timer_t timer;
} scrape_t;

typedef enum { MSG_START, MSG_RELOAD, MSG_STOP, MSG_SCRAPE, MSG_SCRAPED, MSG_DRAINED,
               MSG_RETIRED } msg_kind_t;

typedef struct msg {
  struct msg *next;
  msg_kind_t kind;
  gen_t *gen;            /* START, RELOAD */
  pc_service_t *service; /* START, RELOAD: this worker's copy */
  scrape_t *scrape;      /* SCRAPE, SCRAPED */
  pc_metrics_t *m;       /* SCRAPED */
} msg_t;

typedef struct {
  workers_t *all;
  uint32_t index;
  uv_loop_t own_loop; /* workers > 0 */
  uv_loop_t *loop;
  uv_thread_t thread;
  bool thread_started;
  uv_async_t wake;
  uv_timer_t reaper;
  uv_mutex_t mu;
  msg_t *head, *tail; /* under mu */
  bool closed;        /* under mu: the mailbox takes no more messages */
  pc_service_t *service;
  gen_t *gen;
  pc_service_t *retired;
  gen_t *retired_gen;
  bool stopping, drained, handles_closed;
  bool counted; /* worker 0: its own drain counted in all->drained */
  /* the first start's result, for the main thread (workers > 0) */
  uv_sem_t started;
  int start_rc;
  char start_msg[sizeof ((pc_err_t *)0)->msg];
} worker_t;

struct pc_workers {
  uv_loop_t *loop; /* worker 0's */
  uint32_t n;
  worker_t *w;
  pc_workers_build_cb build;
  void *build_arg;
  uint64_t last_gen;
  uv_signal_t sigint, sigterm, sighup;
  bool stopping;
  uint32_t drained;   /* workers drained (worker 0 counts them) */
  uint32_t reloading; /* workers still draining a replaced config */
};

/* ---- mailboxes -------------------------------------------------------------------------- */

/* Post m to w; false (m freed) when w's mailbox is closed. Any thread. */
static bool post(worker_t *w, msg_t *m) {
  uv_mutex_lock(&w->mu);
  bool ok = !w->closed;
  if (ok) {
    if (w->tail) w->tail->next = m;
    else w->head = m;
    w->tail = m;
    uv_async_send(&w->wake);
  }
  uv_mutex_unlock(&w->mu);
  if (!ok) free(m);
  return ok;
}

static msg_t *msg(msg_kind_t kind) {
  msg_t *m = pc_xcalloc(1, sizeof *m);
  m->kind = kind;
  return m;
}

/* ---- one worker: start, reload, drain (on its own loop) ----------------------------------- */

static void worker_handle(worker_t *w, msg_t *m);
static void worker_maybe_close(worker_t *w);
static void worker_on_drained(void *arg);

static void handle_on_close(uv_handle_t *h) { (void)h; }

static uint64_t shutdown_timeout(const worker_t *w) {
  return pc_service_shutdown_timeout_ms(w->service);
}

static void gather(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx);

/* Make svc worker w's copy and start it on w's loop. */
static int worker_start_service(worker_t *w, pc_service_t *svc, gen_t *g, pc_err_t *err) {
  pc_worker_set(w->index, w->all->n, g->id);
  pc_service_set_worker(svc, w->index, w->index == 0 && w->all->n > 1 ? gather : NULL, w->all);
  /* The components' startup lines are worker 0's: the others start the
   * same ones on the same ports (one line below says so); their warnings
   * and errors still show. */
  pc_log_quiet(w->index > 0);
  int rc = pc_service_start(svc, w->loop, err);
  pc_log_quiet(false);
  return rc;
}

static void worker_on_reap(uv_timer_t *t) {
  worker_t *w = t->data;
  pc_service_destroy(w->retired);
  gen_unref(w->retired_gen);
  w->retired = NULL;
  w->retired_gen = NULL;
  if (w->index == 0) {
    w->all->reloading--;
    pc_log(LOG, PC_LOG_INFO, "the previous config's pipelines are drained and closed");
  } else {
    post(&w->all->w[0], msg(MSG_RETIRED));
  }
  worker_maybe_close(w);
}

static void worker_on_retired(void *arg) {
  worker_t *w = arg;
  uv_timer_start(&w->reaper, worker_on_reap, 0, 0);
}

/* Drain s behind the config that runs in its place (or, when the new
 * config failed to start, the old one that stays). */
static void worker_retire(worker_t *w, pc_service_t *s, gen_t *g) {
  w->retired = s;
  w->retired_gen = g;
  pc_service_replaced(s);
  uint64_t timeout = pc_service_shutdown_timeout_ms(s);
  pc_service_shutdown(s, uv_now(w->loop) + timeout, worker_on_retired, w);
}

/* Start the new copy beside the running one, then drain the old one. The
 * listeners share the running copy's sockets (httpd/listen.c), so there is
 * no moment without a listener and no queued connection is lost. */
static void worker_reload(worker_t *w, pc_service_t *next, gen_t *g) {
  if (w->stopping) { /* a drain has begun: the new config is not wanted */
    pc_service_destroy(next);
    gen_unref(g);
    if (w->index == 0) w->all->reloading--;
    else post(&w->all->w[0], msg(MSG_RETIRED));
    return;
  }
  pc_err_t err = {0};
  if (worker_start_service(w, next, g, &err)) {
    pc_log(LOG, PC_LOG_ERROR, "reload failed%s: cannot start the new config: %s; the running "
           "config stays in effect", w->all->n > 1 ? " in a worker" : "", err.msg);
    worker_retire(w, next, g);
    return;
  }
  pc_service_t *old = w->service;
  gen_t *old_gen = w->gen;
  w->service = next;
  w->gen = g;
  worker_retire(w, old, old_gen);
  if (w->index == 0)
    pc_log(LOG, PC_LOG_INFO, "config reloaded; draining the previous config's pipelines");
}

static void worker_stop(worker_t *w) {
  if (w->stopping) return;
  w->stopping = true;
  pc_service_shutdown(w->service, uv_now(w->loop) + shutdown_timeout(w), worker_on_drained, w);
}

static void workers_maybe_close(workers_t *ws);

static void worker_on_drained(void *arg) {
  worker_t *w = arg;
  w->drained = true;
  worker_maybe_close(w);
}

/* Once its pipelines and a replaced config have drained, a worker > 0
 * closes its mailbox and handles, which ends its loop (after telling worker
 * 0); worker 0 waits for every worker before it closes its own. */
static void worker_maybe_close(worker_t *w) {
  if (!w->drained || w->retired || w->handles_closed) return;
  if (w->index == 0) {
    if (!w->counted) {
      w->counted = true;
      w->all->drained++;
    }
    workers_maybe_close(w->all);
    return;
  }
  w->handles_closed = true;
  uv_mutex_lock(&w->mu);
  w->closed = true;
  msg_t *left = w->head;
  w->head = w->tail = NULL;
  uv_mutex_unlock(&w->mu);
  while (left) { /* scrapes in flight get their (empty) answer */
    msg_t *next = left->next;
    worker_handle(w, left);
    left = next;
  }
  post(&w->all->w[0], msg(MSG_DRAINED));
  uv_close((uv_handle_t *)&w->wake, handle_on_close);
  uv_close((uv_handle_t *)&w->reaper, handle_on_close);
}

/* ---- scrapes (worker 0's metrics endpoint) --------------------------------------------------- */

static void scrape_unref(scrape_t *sc) {
  if (--sc->refs == 0) free(sc);
}

static void scrape_on_timer_closed(uv_handle_t *h) { scrape_unref(h->data); }

static void scrape_finish(scrape_t *sc) {
  if (sc->finished) return;
  sc->finished = true;
  if (sc->waiting)
    pc_log(LOG, PC_LOG_DEBUG, "metrics page served without %" PRIu32 " worker(s) that did not "
           "answer within %d ms", sc->waiting, SCRAPE_WAIT_MS);
  sc->done(sc->ctx);
  uv_close((uv_handle_t *)&sc->timer, scrape_on_timer_closed);
}

static void scrape_on_timer(uv_timer_t *t) { scrape_finish(t->data); }

/* A worker's metrics came back (on worker 0's loop). */
static void scrape_answered(scrape_t *sc, pc_metrics_t *m) {
  if (!sc->finished) {
    if (m) pc_metrics_merge(sc->m, m);
    if (--sc->waiting == 0) scrape_finish(sc);
  }
  pc_metrics_free(m);
  scrape_unref(sc);
}

/* pc_service_gather_cb: ask every other worker for its metrics. */
static void gather(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx) {
  workers_t *ws = arg;
  scrape_t *sc = pc_xcalloc(1, sizeof *sc);
  *sc = (scrape_t){.m = m, .done = done, .ctx = ctx, .refs = 1};
  uv_timer_init(ws->loop, &sc->timer);
  sc->timer.data = sc;
  for (uint32_t i = 1; i < ws->n; i++) {
    msg_t *q = msg(MSG_SCRAPE);
    q->scrape = sc;
    sc->refs++;
    sc->waiting++;
    if (!post(&ws->w[i], q)) { /* that worker has ended: nothing to add */
      sc->refs--;
      sc->waiting--;
    }
  }
  if (!sc->waiting) scrape_finish(sc);
  else uv_timer_start(&sc->timer, scrape_on_timer, SCRAPE_WAIT_MS, 0);
}

/* ---- messages ------------------------------------------------------------------------------ */

static void worker_first_start(worker_t *w, pc_service_t *svc, gen_t *g) {
  pc_err_t err = {0};
  w->service = svc;
  w->gen = g;
  w->start_rc = worker_start_service(w, svc, g, &err);
  snprintf(w->start_msg, sizeof w->start_msg, "%s", err.msg);
  if (w->start_rc) { /* stop what did start; the main thread stops the rest */
    w->stopping = true;
    pc_service_shutdown(svc, uv_now(w->loop), worker_on_drained, w);
  }
  if (w->index > 0) uv_sem_post(&w->started);
}

static void worker_handle(worker_t *w, msg_t *m) {
  switch (m->kind) {
  case MSG_START: worker_first_start(w, m->service, m->gen); break;
  case MSG_RELOAD: worker_reload(w, m->service, m->gen); break;
  case MSG_STOP: worker_stop(w); break;
  case MSG_SCRAPE: {
    msg_t *r = msg(MSG_SCRAPED);
    r->scrape = m->scrape;
    if (w->service && !w->handles_closed) {
      r->m = pc_metrics_new();
      pc_service_collect(w->service, r->m);
    }
    pc_metrics_t *mm = r->m;
    if (!post(&w->all->w[0], r)) pc_metrics_free(mm); /* worker 0 has ended */
    break;
  }
  case MSG_SCRAPED: scrape_answered(m->scrape, m->m); break;
  case MSG_DRAINED:
    w->all->drained++;
    workers_maybe_close(w->all);
    break;
  case MSG_RETIRED: w->all->reloading--; break;
  }
  free(m);
}

static void worker_on_wake(uv_async_t *a) {
  worker_t *w = a->data;
  uv_mutex_lock(&w->mu);
  msg_t *m = w->head;
  w->head = w->tail = NULL;
  uv_mutex_unlock(&w->mu);
  while (m) {
    msg_t *next = m->next;
    worker_handle(w, m);
    m = next;
  }
}

static void worker_thread(void *arg) {
  worker_t *w = arg;
  uv_run(w->loop, UV_RUN_DEFAULT);
}

static void worker_init(workers_t *ws, uint32_t i, uv_loop_t *loop) {
  worker_t *w = &ws->w[i];
  w->all = ws;
  w->index = i;
  w->loop = loop;
  if (!loop) {
    if (uv_loop_init(&w->own_loop)) pc_oom();
    w->loop = &w->own_loop;
  }
  uv_mutex_init(&w->mu);
  uv_sem_init(&w->started, 0);
  uv_async_init(w->loop, &w->wake, worker_on_wake);
  w->wake.data = w;
  uv_timer_init(w->loop, &w->reaper);
  w->reaper.data = w;
}

/* ---- the process: signals, reload, stop ------------------------------------------------------- */

static void workers_maybe_close(workers_t *ws) {
  worker_t *w0 = &ws->w[0];
  if (ws->drained < ws->n || w0->handles_closed) return;
  w0->handles_closed = true;
  pc_log(LOG, PC_LOG_INFO, "shutdown complete");
  uv_mutex_lock(&w0->mu);
  w0->closed = true;
  msg_t *left = w0->head;
  w0->head = w0->tail = NULL;
  uv_mutex_unlock(&w0->mu);
  while (left) {
    msg_t *next = left->next;
    worker_handle(w0, left);
    left = next;
  }
  uv_close((uv_handle_t *)&ws->sigint, handle_on_close);
  uv_close((uv_handle_t *)&ws->sigterm, handle_on_close);
  uv_close((uv_handle_t *)&ws->sighup, handle_on_close);
  uv_close((uv_handle_t *)&w0->wake, handle_on_close);
  uv_close((uv_handle_t *)&w0->reaper, handle_on_close);
}

static void workers_stop(workers_t *ws) {
  ws->stopping = true;
  for (uint32_t i = 1; i < ws->n; i++) post(&ws->w[i], msg(MSG_STOP));
  worker_stop(&ws->w[0]);
}

/* SIGHUP: build the new config for every worker here, then each starts
 * its copy beside the running one. */
static void workers_reload(workers_t *ws) {
  if (ws->reloading) {
    pc_log(LOG, PC_LOG_WARN, "SIGHUP received while the previous reload is still draining; "
           "ignored, send it again once \"drained and closed\" is logged");
    return;
  }
  pc_log(LOG, PC_LOG_INFO, "SIGHUP received: reloading the config");
  pc_cfg_t *cfg = NULL;
  pc_service_t **svc = pc_xcalloc(ws->n, sizeof *svc);
  if (ws->build(ws->build_arg, ws->n, &cfg, svc)) {
    pc_log(LOG, PC_LOG_ERROR, "reload failed: the new config has errors (see above); "
           "the running config stays in effect");
    free(svc);
    return;
  }
  uint32_t want = pc_service_workers(svc[0]);
  if (want != ws->n)
    pc_log(LOG, PC_LOG_WARN, "service.workers is %" PRIu32 " in the new config; %" PRIu32
           " workers keep running it (the number of workers changes at a restart)", want, ws->n);
  gen_t *g = gen_new(++ws->last_gen, cfg, ws->n);
  ws->reloading = ws->n;
  for (uint32_t i = 1; i < ws->n; i++) {
    msg_t *m = msg(MSG_RELOAD);
    m->service = svc[i];
    m->gen = g;
    if (!post(&ws->w[i], m)) { /* ended: cannot happen before a stop, which refuses reloads */
      pc_service_destroy(svc[i]);
      gen_unref(g);
      ws->reloading--;
    }
  }
  worker_reload(&ws->w[0], svc[0], g);
  free(svc);
}

static void workers_on_signal(uv_signal_t *sig, int signum) {
  workers_t *ws = sig->data;
  if (signum == SIGHUP) {
    if (!ws->stopping) workers_reload(ws);
    return;
  }
  if (ws->stopping) {
    pc_log(LOG, PC_LOG_WARN, "%s received again while draining; still waiting for the "
           "deadline", signum == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
  char deadline[24];
  pc_log(LOG, PC_LOG_INFO, "%s received: stopping receivers and draining%s (deadline %s)",
         signum == SIGINT ? "SIGINT" : "SIGTERM", ws->n > 1 ? " every worker" : "",
         pc_fmt_ms(shutdown_timeout(&ws->w[0]), deadline));
  workers_stop(ws);
}

/* Run every loop to its end and free what is left. */
static void workers_finish(workers_t *ws) {
  uv_run(ws->loop, UV_RUN_DEFAULT);
  for (uint32_t i = 0; i < ws->n; i++) {
    worker_t *w = &ws->w[i];
    if (i > 0 && w->thread_started) uv_thread_join(&w->thread);
    if (i > 0 && !w->thread_started) { /* never ran: close its handles here */
      uv_close((uv_handle_t *)&w->wake, handle_on_close);
      uv_close((uv_handle_t *)&w->reaper, handle_on_close);
      uv_run(w->loop, UV_RUN_DEFAULT);
      for (msg_t *m = w->head, *next; m; m = next) {
        next = m->next;
        pc_service_destroy(m->service);
        gen_unref(m->gen);
        free(m);
      }
    }
    pc_service_destroy(w->service);
    gen_unref(w->gen);
    if (i > 0) {
      int rc = uv_loop_close(w->loop);
      if (rc) pc_log(LOG, PC_LOG_WARN, "worker %" PRIu32 "'s loop closed with handles still "
                     "open (%s)", i, uv_err_name(rc));
    }
    uv_mutex_destroy(&w->mu);
    uv_sem_destroy(&w->started);
  }
  free(ws->w);
}

int pc_workers_run(uv_loop_t *loop, pc_cfg_t *cfg, pc_service_t **svc, uint32_t n,
                   pc_workers_build_cb build, void *build_arg) {
  workers_t ws = {.loop = loop, .n = n, .build = build, .build_arg = build_arg};
  ws.w = pc_xcalloc(n, sizeof *ws.w);
  for (uint32_t i = 0; i < n; i++) worker_init(&ws, i, i == 0 ? loop : NULL);
  gen_t *g = gen_new(++ws.last_gen, cfg, n);
  uv_signal_t *sigs[] = {&ws.sigint, &ws.sigterm, &ws.sighup};
  int nums[] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(loop, sigs[i]);
    sigs[i]->data = &ws;
  }
  /* Worker 0 first: the others' port-0 listeners take the ports it got. */
  worker_t *w0 = &ws.w[0];
  worker_first_start(w0, svc[0], g);
  int rc = w0->start_rc;
  if (rc) {
    pc_log(LOG, PC_LOG_ERROR, "cannot start: %s", w0->start_msg);
  } else {
    for (uint32_t i = 1; i < n; i++) {
      msg_t *m = msg(MSG_START);
      m->service = svc[i];
      m->gen = g;
      svc[i] = NULL;
      post(&ws.w[i], m);
      if (uv_thread_create(&ws.w[i].thread, worker_thread, &ws.w[i])) pc_oom();
      ws.w[i].thread_started = true;
      uv_sem_wait(&ws.w[i].started);
      if ((rc = ws.w[i].start_rc) != 0) {
        pc_log(LOG, PC_LOG_ERROR, "cannot start worker %" PRIu32 ": %s", i, ws.w[i].start_msg);
        break;
      }
    }
  }
  for (uint32_t i = 1; i < n; i++) /* not handed to a worker: never started */
    if (svc[i]) {
      pc_service_destroy(svc[i]);
      gen_unref(g);
    }
  for (int i = 0; i < 3; i++) uv_signal_start(sigs[i], workers_on_signal, nums[i]);
  if (rc) {
    /* Drain the workers that did start; the rest count as drained. */
    for (uint32_t i = 1; i < n; i++)
      if (!ws.w[i].thread_started) ws.drained++;
    workers_stop(&ws);
    workers_maybe_close(&ws);
  } else {
    pc_log(LOG, PC_LOG_INFO, "everything is ready; processing data%s",
           n > 1 ? " on every worker" : "");
    if (n > 1) pc_log(LOG, PC_LOG_INFO, "%" PRIu32 " workers (service.workers), each with its "
                      "own loop, listeners, pipelines and queues; the lines above are worker "
                      "0's: the other workers run the same components on the same ports", n);
  }
  workers_finish(&ws);
  return rc ? 1 : 0;
}
