/* k8s_watch.c - list, then watch, one collection of the Kubernetes API
 * (k8s.h): what client-go's reflector does for the Collector's informers.
 *
 * The one idea: the API's own protocol for keeping a copy current.
 *
 *   1. LIST  GET <path>?limit=500&resourceVersion=0 (served from the API
 *            server's watch cache, as client-go's first list is), then
 *            &continue=<token> while the answer has one. Every item goes to
 *            on_object(LISTED); on_list_begin before the first page and
 *            on_synced after the last, so the owner can drop what the new
 *            list no longer has. The list's metadata.resourceVersion is
 *            where the watch starts.
 *   2. WATCH GET <path>?watch=1&allowWatchBookmarks=true&resourceVersion=RV
 *            &timeoutSeconds=T (T random in 5-10 min, as client-go, so
 *            thousands of agents do not reconnect at once): a chunked
 *            stream of {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
 *            "object": ...} events. Each event's object carries its
 *            resourceVersion; a BOOKMARK carries only that (the server's
 *            way of moving RV forward when nothing of ours changed). When
 *            the server ends the watch, a new one starts at once from RV.
 *   3. GONE  An ERROR event (or an answer) with code 410: RV is older than
 *            what the server keeps (etcd compacted it). Only a new list can
 *            tell what changed meanwhile: back to 1, with the last RV
 *            (served from the cache, "not older than"); a list that is
 *            itself Gone (an expired continue token) starts over with no
 *            resourceVersion (the most recent state).
 *
 * Errors (no connection, TLS, 5xx, 401/403, a bad answer) never stop it:
 * it tries again after 0.8 s, doubling up to 30 s with full jitter
 * (client-go's backoff), honouring Retry-After; a watch error retries the
 * watch from RV, a list error the list. The first failure after a success
 * is logged at once with the server's own message (a 403 with the RBAC rule
 * it needs), repeats once a minute with a count, and the recovery too.
 *
 * Memory: one object at a time (k8s_stream.c), plus the last error body
 * (64 KiB at most). Work per loop turn: what one socket read brings
 * (libcurl hands at most 16 KiB per write callback). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "k8s.h"

#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define LIST_PAGE 500
#define ERROR_BODY_MAX 65536
#define LOG_EVERY_MS 60000

typedef enum { W_IDLE, W_LISTING, W_WATCHING, W_WAITING, W_STOPPING } phase_t;

struct pc__k8s_watch {
  pc__k8s_watch_spec_t spec; /* strings owned */
  uv_loop_t *loop;
  pc__k8s_http_t *h;
  uv_timer_t timer;
  bool timer_on; /* initialised on loop */
  pc__k8s_get_t get;
  pc__k8s_split_t split;
  phase_t phase;
  char rv[128];   /* the last resourceVersion seen */
  char *cont;     /* the list's continue token, or NULL */
  bool synced;    /* a list completed */
  bool need_list; /* the next GET lists */
  bool list_gone; /* the last list was Gone: list the most recent state */
  bool in_list;   /* on_list_begin called, on_synced not yet */
  bool relist;    /* set while reading: this answer asks for a list next */
  unsigned gone_streak; /* 410s since a watch last delivered something */
  char list_rv[128];
  uint64_t backoff_ms;
  uint64_t watch_start_ms;
  uint64_t watch_events; /* events of the running watch */
  pc_buf_t errbody;      /* a non-2xx answer's body */
  char last_error[300];
  char stop_why[300];    /* why reading an answer was stopped */
  uint64_t failures;     /* in a row */
  pc_ratelimit_t rl;
  pc__k8s_watch_stats_t st;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

static char *dup_or_null(const char *s) { return s ? pc_xstrdup(s) : NULL; }

static void do_list(pc__k8s_watch_t *w);
static void do_watch(pc__k8s_watch_t *w);
static int on_piece(void *arg, const char *key, const uint8_t *p, size_t n);

pc__k8s_watch_t *pc__k8s_watch_new(const pc__k8s_watch_spec_t *spec) {
  pc__k8s_watch_t *w = pc_xcalloc(1, sizeof *w);
  w->spec = *spec;
  w->spec.what = pc_xstrdup(spec->what);
  w->spec.path = pc_xstrdup(spec->path);
  w->spec.selectors = dup_or_null(spec->selectors);
  w->spec.log_id = pc_xstrdup(spec->log_id);
  w->spec.rbac = dup_or_null(spec->rbac);
  w->need_list = true;
  pc__k8s_split_init(&w->split, PC__K8S_SPLIT_LIST, PC__K8S_MAX_OBJECT, on_piece, w);
  w->get.ud = w;
  return w;
}

void pc__k8s_watch_free(pc__k8s_watch_t *w) {
  if (!w) return;
  pc__k8s_get_cancel(&w->get);
  pc__k8s_split_free(&w->split);
  pc_buf_free(&w->errbody);
  free((char *)w->spec.what);
  free((char *)w->spec.path);
  free((char *)w->spec.selectors);
  free((char *)w->spec.log_id);
  free((char *)w->spec.rbac);
  free(w->cont);
  free(w);
}

bool pc__k8s_watch_synced(const pc__k8s_watch_t *w) { return w->synced; }
const pc__k8s_watch_stats_t *pc__k8s_watch_stats(const pc__k8s_watch_t *w) { return &w->st; }
const char *pc__k8s_watch_last_error(const pc__k8s_watch_t *w) { return w->last_error; }

/* ---- errors and backoff ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t) {
  pc__k8s_watch_t *w = container_of(t, pc__k8s_watch_t, timer);
  if (w->phase != W_WAITING) return;
  if (w->need_list) do_list(w);
  else do_watch(w);
}

/* A success: the next failure is logged at once, and says how long. */
static void succeeded(pc__k8s_watch_t *w) {
  if (w->failures)
    pc_log(w->spec.log_id, PC_LOG_INFO, "%s: the Kubernetes API answers again after %" PRIu64
           " failed attempts", w->spec.what, w->failures);
  w->failures = 0;
  w->backoff_ms = 0;
  w->last_error[0] = 0;
  w->rl = (pc_ratelimit_t){0};
}

/* Try again later (Retry-After when the server gave one). */
static void failed(pc__k8s_watch_t *w, uint32_t retry_after_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failed(pc__k8s_watch_t *w, uint32_t retry_after_s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->last_error, sizeof w->last_error, fmt, ap);
  va_end(ap);
  w->st.errors++;
  w->failures++;
  w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (w->backoff_ms > BACKOFF_MAX_MS) w->backoff_ms = BACKOFF_MAX_MS;
  /* Full jitter over the upper half: spread, never zero. */
  uint64_t wait = w->backoff_ms / 2 + (uint64_t)rand() % (w->backoff_ms / 2 + 1);
  if (retry_after_s && (uint64_t)retry_after_s * 1000 > wait) wait = (uint64_t)retry_after_s * 1000;
  uint64_t skipped;
  if (pc_ratelimit(&w->rl, LOG_EVERY_MS, &skipped))
    pc_log(w->spec.log_id, w->failures > 1 ? PC_LOG_ERROR : PC_LOG_WARN,
           "%s: %s; trying again in %.1f s%s%s", w->spec.what, w->last_error, (double)wait / 1000,
           w->failures > 1 ? " (failing since " : "", w->failures > 1 ? "the last success)" : "");
  w->phase = W_WAITING;
  uv_timer_start(&w->timer, on_timer, wait, 0);
}

/* The message of a Status answer, or the body's start. */
static void status_text(const pc_buf_t *b, char *out, size_t cap) {
  json_error_t je;
  json_t *o = b->n ? json_loadb((const char *)b->p, b->n, 0, &je) : NULL;
  const char *msg = o ? pc__k8s_jstr(o, "message", NULL) : NULL;
  if (msg) snprintf(out, cap, "%s", msg);
  else snprintf(out, cap, "%.*s", (int)(b->n > 200 ? 200 : b->n), b->n ? (const char *)b->p : "");
  for (char *c = out; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
  json_decref(o);
}

static void http_failed(pc__k8s_watch_t *w, long status) {
  char msg[200];
  status_text(&w->errbody, msg, sizeof msg);
  const char *verb = w->phase == W_LISTING ? "list" : "watch";
  if (status == 401)
    failed(w, 0, "the API server refused our credentials (401: %s); a service account token "
           "that expired, or the wrong kubeconfig user", msg);
  else if (status == 403)
    failed(w, 0, "not allowed to %s them (403: %s); the service account's ClusterRole needs "
           "%s", verb, msg, w->spec.rbac ? w->spec.rbac : "get, list, watch on them");
  else
    failed(w, w->get.retry_after_s, "%s answered HTTP %ld: %s", verb, status, msg);
}

/* ---- the GETs ------------------------------------------------------------------------- */

static void path_join(char *out, size_t cap, const pc__k8s_watch_t *w, const char *rest) {
  snprintf(out, cap, "%s?%s%s%s", w->spec.path, w->spec.selectors ? w->spec.selectors : "",
           w->spec.selectors && *w->spec.selectors ? "&" : "", rest);
}

static const char *accept_of(const pc__k8s_watch_t *w) {
  return w->spec.metadata_only
             ? "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
             : "application/json";
}

static void on_done(pc__k8s_get_t *g, int rc, long status, const char *why);
static void succeeded(pc__k8s_watch_t *w);

static int on_body(pc__k8s_get_t *g, long status, const uint8_t *p, size_t n) {
  pc__k8s_watch_t *w = g->ud;
  if (status < 200 || status > 299) { /* a Status object: keep it for the log */
    size_t room = ERROR_BODY_MAX - w->errbody.n;
    if (room && pc_buf_append(&w->errbody, p, n < room ? n : room)) return PC_ENOMEM;
    return 0;
  }
  if (w->failures && w->phase == W_WATCHING) succeeded(w); /* a watch runs again */
  char why[300];
  int rc = pc__k8s_split_feed(&w->split, p, n, why, sizeof why);
  if (rc && !w->stop_why[0]) snprintf(w->stop_why, sizeof w->stop_why, "%s", why);
  return rc;
}

static void on_done(pc__k8s_get_t *g, int rc, long status, const char *why);

static void start_get(pc__k8s_watch_t *w, const char *path, uint64_t timeout_ms) {
  w->errbody.n = 0;
  w->relist = false;
  w->stop_why[0] = 0;
  w->get.on_body = on_body;
  w->get.on_done = on_done;
  char why[300];
  if (pc__k8s_get_start(w->h, &w->get, path, accept_of(w), timeout_ms, why, sizeof why))
    failed(w, 0, "%s", why);
}

static void do_list(pc__k8s_watch_t *w) {
  w->phase = W_LISTING;
  w->need_list = true;
  w->split.mode = PC__K8S_SPLIT_LIST;
  pc__k8s_split_reset(&w->split);
  w->list_rv[0] = 0;
  if (!w->cont && !w->in_list) {
    w->in_list = true;
    w->st.lists++;
    if (w->spec.on_list_begin) w->spec.on_list_begin(w->spec.arg);
  }
  char rest[1400], path[2048];
  if (w->cont)
    snprintf(rest, sizeof rest, "limit=%d&continue=%s", LIST_PAGE, w->cont);
  else if (w->list_gone)
    snprintf(rest, sizeof rest, "limit=%d", LIST_PAGE);
  else
    snprintf(rest, sizeof rest, "limit=%d&resourceVersion=%s", LIST_PAGE, w->rv[0] ? w->rv : "0");
  path_join(path, sizeof path, w, rest);
  start_get(w, path, 0);
}

static void do_watch(pc__k8s_watch_t *w) {
  w->phase = W_WATCHING;
  w->need_list = false;
  w->split.mode = PC__K8S_SPLIT_EVENTS;
  pc__k8s_split_reset(&w->split);
  unsigned t = 300 + (unsigned)rand() % 301;
  char rest[400], path[1200];
  snprintf(rest, sizeof rest, "watch=1&allowWatchBookmarks=true&resourceVersion=%s&"
           "timeoutSeconds=%u", w->rv, t);
  path_join(path, sizeof path, w, rest);
  w->watch_start_ms = uv_now(w->loop);
  w->watch_events = 0;
  w->st.watches++;
  start_get(w, path, ((uint64_t)t + 30) * 1000);
}

/* ---- what comes back ------------------------------------------------------------------------- */

static void take_rv(pc__k8s_watch_t *w, const json_t *obj) {
  const char *rv = pc__k8s_jstr(obj, "metadata", "resourceVersion", NULL);
  if (rv && *rv && strlen(rv) < sizeof w->rv) snprintf(w->rv, sizeof w->rv, "%s", rv);
}

static int on_event(pc__k8s_watch_t *w, json_t *ev) {
  const char *type = pc__k8s_jstr(ev, "type", NULL);
  json_t *obj = pc__k8s_jobj(ev, "object", NULL);
  if (!type || !obj) {
    w->st.bad_objects++;
    return 0;
  }
  w->watch_events++;
  if (strcmp(type, "ERROR")) w->gone_streak = 0; /* the watch got somewhere */
  if (!strcmp(type, "BOOKMARK")) {
    w->st.bookmarks++;
    take_rv(w, obj);
    return 0;
  }
  if (!strcmp(type, "ERROR")) {
    json_t *code = json_object_get(obj, "code");
    if (json_is_integer(code) && json_integer_value(code) == 410) {
      w->st.relists_gone++;
      w->relist = true;
      pc_log(w->spec.log_id, PC_LOG_INFO, "%s: resourceVersion %s is too old for the API "
             "server (410 Gone): listing them again", w->spec.what, w->rv);
      return PC_EAGAIN; /* stop reading: on_done lists */
    }
    const char *msg = pc__k8s_jstr(obj, "message", NULL);
    snprintf(w->stop_why, sizeof w->stop_why, "the watch sent an error: %s",
             msg ? msg : "(no message)");
    return PC_EIO;
  }
  pc__k8s_event_t e = !strcmp(type, "ADDED")      ? PC__K8S_ADDED
                      : !strcmp(type, "MODIFIED") ? PC__K8S_MODIFIED
                      : !strcmp(type, "DELETED")  ? PC__K8S_DELETED
                                                  : (pc__k8s_event_t)-1;
  if ((int)e < 0) {
    w->st.bad_objects++;
    return 0;
  }
  w->st.events++;
  take_rv(w, obj);
  w->spec.on_object(w->spec.arg, e, obj);
  return 0;
}

static int on_piece(void *arg, const char *key, const uint8_t *p, size_t n) {
  pc__k8s_watch_t *w = arg;
  bool item = key && !strcmp(key, "items");
  if (key && !item && strcmp(key, "metadata")) return 0; /* kind, apiVersion */
  json_error_t je;
  json_t *o = json_loadb((const char *)p, n, 0, &je);
  if (!json_is_object(o)) {
    json_decref(o);
    w->st.bad_objects++;
    if (w->phase == W_WATCHING) { /* the stream cannot be trusted past it */
      snprintf(w->stop_why, sizeof w->stop_why, "a watch event is not a JSON object (%s)",
               je.text);
      return PC_EDECODE;
    }
    return 0;
  }
  int rc = 0;
  if (w->phase == W_WATCHING) {
    rc = on_event(w, o);
  } else if (item) {
    w->spec.on_object(w->spec.arg, PC__K8S_LISTED, o);
  } else { /* the list's metadata */
    const char *rv = pc__k8s_jstr(o, "resourceVersion", NULL);
    const char *cont = pc__k8s_jstr(o, "continue", NULL);
    if (rv && strlen(rv) < sizeof w->list_rv) snprintf(w->list_rv, sizeof w->list_rv, "%s", rv);
    free(w->cont);
    w->cont = cont && *cont && strlen(cont) < 1024 ? pc_xstrdup(cont) : NULL;
  }
  json_decref(o);
  return rc;
}

static void on_done(pc__k8s_get_t *g, int rc, long status, const char *why) {
  pc__k8s_watch_t *w = g->ud;
  if (w->phase == W_STOPPING) return;
  bool listing = w->phase == W_LISTING;
  if (status == 410 || w->relist) { /* Gone: only a list can tell what changed */
    if (listing) {
      w->list_gone = true;
      free(w->cont);
      w->cont = NULL;
    } else if (status == 410) {
      w->st.relists_gone++;
    }
    w->need_list = true;
    /* At once the first time; a list that leads to Gone again backs off,
     * as client-go's relists do, rather than spin. */
    if (w->gone_streak++ == 0) do_list(w);
    else failed(w, 0, "%s is Gone (410) again right after a list", listing ? "the list" : "the watch");
    return;
  }
  if (rc == 0 && (status < 200 || status > 299)) {
    http_failed(w, status);
    return;
  }
  if (rc) {
    if (listing) {
      free(w->cont);
      w->cont = NULL;
    }
    failed(w, 0, "%s: %s", listing ? "list" : "watch",
           w->get.stopped && w->stop_why[0] ? w->stop_why : why);
    return;
  }
  char ewhy[300];
  if (pc__k8s_split_end(&w->split, ewhy, sizeof ewhy)) {
    if (listing) {
      free(w->cont);
      w->cont = NULL;
    }
    failed(w, 0, "%s", ewhy);
    return;
  }
  if (listing) {
    if (w->cont) { /* the next page */
      do_list(w);
      return;
    }
    w->list_gone = false;
    w->in_list = false;
    if (w->list_rv[0]) snprintf(w->rv, sizeof w->rv, "%s", w->list_rv);
    bool first = !w->synced;
    w->synced = true;
    succeeded(w);
    if (w->spec.on_synced) w->spec.on_synced(w->spec.arg);
    if (first)
      pc_log(w->spec.log_id, PC_LOG_DEBUG, "%s: listed, watching from resourceVersion %s",
             w->spec.what, w->rv);
    do_watch(w);
    return;
  }
  /* The server ended the watch (its timeoutSeconds): watch again. A watch
   * that ends at once without events, again and again, backs off. */
  if (w->watch_events || uv_now(w->loop) - w->watch_start_ms >= 1000) {
    w->gone_streak = 0;
    succeeded(w);
    do_watch(w);
  } else {
    failed(w, 0, "the watch ended at once without an event");
  }
}

/* ---- start and stop --------------------------------------------------------------------------- */

void pc__k8s_watch_start(pc__k8s_watch_t *w, uv_loop_t *loop, pc__k8s_http_t *h) {
  w->loop = loop;
  w->h = h;
  uv_timer_init(loop, &w->timer);
  w->timer_on = true;
  if (w->need_list || !w->synced) do_list(w);
  else do_watch(w);
}

static void timer_on_close(uv_handle_t *hd) {
  pc__k8s_watch_t *w = container_of(hd, pc__k8s_watch_t, timer);
  w->phase = W_IDLE;
  if (w->stopped) w->stopped(w->stopped_arg);
}

void pc__k8s_watch_stop(pc__k8s_watch_t *w, void (*stopped)(void *arg), void *arg) {
  pc__k8s_get_cancel(&w->get);
  /* A list cut short is listed again from its start next time. */
  if (w->phase == W_LISTING) {
    free(w->cont);
    w->cont = NULL;
    w->need_list = true;
  }
  w->stopped = stopped;
  w->stopped_arg = arg;
  if (!w->timer_on) {
    if (stopped) stopped(arg);
    return;
  }
  w->phase = W_STOPPING;
  w->timer_on = false;
  uv_close((uv_handle_t *)&w->timer, timer_on_close);
}
