/* span_store.c - the span_store extension: the state trace linking shares
 * across the process (component/host.h's span-store role), and the query
 * API over it.
 *
 *   extensions:
 *     span_store:
 *       window: 5m                  # spans and linked samples are kept this long
 *       max_memory: 64MiB           # for spans
 *       max_profiles_memory: 128MiB # for linked samples (the query API's data)
 *       endpoint: localhost:13134   # the query API
 *       tls: {cert_file: ..., key_file: ...}
 *       auth: {authenticator: bearertokenauth}
 *       ui: {enabled: true}         # the flame graph page at /ui/ (ui.c)
 *
 * It holds the table of recent spans (spans.c) that the trace_link
 * processor of a traces pipeline fills and the one of a profiles pipeline
 * reads, and the window of recent linked samples (linked.c) that the
 * latter fills. Both are bounded by the window (by arrival at profcol) and
 * their memory caps, oldest first, and are swept every second so memory
 * goes back without traffic. The query API (trace_query.c) is served on an
 * HTTP server of its own, on localhost by default: its answers show the
 * code and the timing of the services that were profiled, so it takes the
 * receivers' auth (bearertokenauth), which the metrics endpoint (Prometheus
 * scrapers send no tokens) could not.
 *
 * One per process (per_process, component.h): with service.workers: N,
 * worker 0's copy of the config creates and starts it (one query API
 * listener, one sweep timer, its metrics once) and every worker's
 * trace_link finds it through the host, so a trace's spans and samples
 * meet whichever workers took their connections, and the query API
 * answers for all of them. The role's calls lock what they touch
 * (component/host.h says which locks, from which threads).
 *
 * A reloaded config (SIGHUP) starts with an empty store: the new instance
 * fills from the traffic after the reload. */
#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../component/server.h"
#include "../core/log.h"
#include "extension.h"
#include "internal.h"

#define DEF_ENDPOINT "localhost:13134"
#define SWEEP_MS 1000

typedef struct {
  uint64_t window_ms;
  uint64_t max_memory;
  uint64_t max_profiles_memory;
  uint64_t max_query_bytes;
  char *endpoint;
  char *authenticator;
  pc_tls_files_t tls;
  bool ui_enabled;
} ss_cfg_t;

static const pc_opt_t auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, ss_cfg_t, authenticator,
               "id of a bearertokenauth extension: queries without its token get 401"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t ui_opts[] = {
    PC_OPT_BOOLEAN("enabled", "false", ss_cfg_t, ui_enabled,
                   "serve the flame graph page at /ui/ (its files need no token; the data "
                   "it shows comes from the query API, with auth's token)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t tls_opts[] = {
    PC_SERVER_TLS_OPTS(ss_cfg_t, tls),
    PC_OPT_TABLE_END,
};

static const pc_opt_t ss_opts[] = {
    PC_OPT_DUR("window", "5m", ss_cfg_t, window_ms, 1000, 86400000,
               "how long spans and linked profile samples are kept after they arrive"),
    PC_OPT_BYTES("max_memory", "64MiB", ss_cfg_t, max_memory, (int64_t)1 << 20,
                 (int64_t)1 << 40, "memory for spans (about 100 bytes each, plus their "
                 "names); the oldest go first beyond it"),
    PC_OPT_BYTES("max_profiles_memory", "128MiB", ss_cfg_t, max_profiles_memory, 0,
                 (int64_t)1 << 40, "memory for the linked profile samples the query API "
                 "answers from; the oldest go first beyond it (0: keep none)"),
    PC_OPT_BYTES("max_query_bytes", "32MiB", ss_cfg_t, max_query_bytes, (int64_t)1 << 16,
                 (int64_t)1 << 40, "most of the window (encoded bytes, newest first) one "
                 "GET /api/v1/services/{service}/profile reads; it says partialWindow when "
                 "older samples were left out"),
    PC_OPT_ADDR("endpoint", DEF_ENDPOINT, ss_cfg_t, endpoint,
                "host:port of the query API (GET /api/v1/traces...; \"0.0.0.0:13134\" for "
                "every interface)"),
    PC_OPT_SECTION("tls", tls_opts, "serve the query API over HTTPS, as the otlp receiver"),
    PC_OPT_SECTION("auth", auth_opts, "who may query"),
    PC_OPT_SECTION("ui", ui_opts, "the flame graph page, served with the query API"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc_span_store_t iface; /* the role; container_of gives the instance */
  char log_id[160];
  char *endpoint;
  char *authenticator;
  uint64_t window_ms;
  uint64_t max_query_bytes;
  bool ui;
  pc_spans_t *spans;
  pc_linked_t *linked; /* NULL when max_profiles_memory is 0 */
  pc_ref_t auth_ref;
  const pc_server_auth_t *auth;
  pc_tls_ctx_t *tls; /* NULL: cleartext */
  uv_loop_t *loop;
  pc_http_server_t http;
  pc_http_counters_t counters;
  uv_timer_t sweep;
  bool started, sweep_open, http_open;
  int closing; /* handles not closed yet at shutdown */
  pc_done_cb done;
  void *done_arg;
} ss_t;

static ss_t *ss_of(const pc_span_store_t *iface) {
  return container_of((pc_span_store_t *)iface, ss_t, iface);
}

/* ---- the role ---------------------------------------------------------------------- */

static void ss_add_spans(const pc_span_store_t *self, const pc_traces_t *tr) {
  pc_spans_add(ss_of(self)->spans, tr, pc_now_ms());
}

static bool ss_find(const pc_span_store_t *self, const uint8_t trace_id[16],
                    const uint8_t span_id[8], pc_span_rec_t *span, pc_span_rec_t *local_root,
                    pc_span_rec_t *top) {
  return pc_spans_find(ss_of(self)->spans, trace_id, span_id, pc_now_ms(), span, local_root,
                       top);
}

static void ss_find_many(const pc_span_store_t *self, const pc_link_t *keys, size_t n,
                         pc_span_rec_t *spans, pc_span_rec_t *local_roots, bool *found) {
  pc_spans_find_many(ss_of(self)->spans, keys, n, pc_now_ms(), spans, local_roots, found);
}

static size_t ss_on_thread(const pc_span_store_t *self, uint32_t pid, uint32_t tid,
                           uint64_t from, uint64_t to, pc_thread_span_t *out, size_t cap) {
  return pc_spans_on_thread(ss_of(self)->spans, pid, tid, from, to, pc_now_ms(), out, cap);
}

static void ss_add_profiles(const pc_span_store_t *self, const pc_request_t *req) {
  ss_t *s = ss_of(self);
  if (s->linked) pc_linked_add(s->linked, req, pc_now_ms());
}

/* ---- the query API's server ----------------------------------------------------------- */

static bool authorized(ss_t *s, const pc_http_request_t *r, pc_http_response_t *resp) {
  if (!s->auth || s->auth->check(s->auth, r->auth)) return true;
  resp->status = 401;
  resp->content_type = "text/plain; charset=utf-8";
  snprintf(resp->reason, sizeof resp->reason, "unauthenticated: %s %s header "
           "(auth.authenticator %s)", r->auth.n ? "wrong" : "no", s->auth->header,
           s->authenticator);
  if (pc_buf_printf(&resp->body, "%s\n", resp->reason)) pc_oom();
  if (s->auth->scheme[0] && pc_buf_printf(&resp->headers, "WWW-Authenticate: %s\r\n",
                                          s->auth->scheme))
    pc_oom();
  return false;
}

static int ss_on_headers(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  ss_t *s = ud;
  if (s->ui && pc__ui_path(r->path)) return 0; /* the page's files: no token (ui.c) */
  if (!authorized(s, r, resp)) return 401;
  return pc__query_route(r, resp);
}

static void ss_on_request(void *ud, pc_http_conn_t *conn, const pc_http_request_t *r) {
  ss_t *s = ud;
  pc_http_response_t resp = {0};
  if (s->ui && pc__ui_path(r->path)) {
    pc__ui_answer(r, &resp);
  } else if (authorized(s, r, &resp)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pc__query_t qy = {.spans = s->spans, .linked = s->linked, .window_ms = s->window_ms,
                      .now_ms = pc_now_ms(), .max_query_bytes = s->max_query_bytes,
                      .wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000};
    if (s->linked) {
      pc__query_answer(&qy, r, &resp);
    } else if (!pc__query_route(r, &resp)) {
      resp.status = 404;
      resp.content_type = "text/plain; charset=utf-8";
      snprintf(resp.reason, sizeof resp.reason, "this span_store keeps no profile samples "
               "(max_profiles_memory: 0)");
      if (pc_buf_printf(&resp.body, "%s\n", resp.reason)) pc_oom();
    }
  }
  pc_http_respond(conn, &resp);
}

static void ss_error_body(void *ud, const pc_http_request_t *r, const char *msg,
                          pc_http_response_t *resp) {
  (void)ud;
  (void)r;
  pc_buf_free(&resp->body);
  resp->content_type = "text/plain; charset=utf-8";
  if (pc_buf_printf(&resp->body, "%s\n", msg)) pc_oom();
}

static void ss_on_sweep(uv_timer_t *t) {
  ss_t *s = container_of(t, ss_t, sweep);
  uint64_t now = pc_now_ms();
  pc_spans_expire(s->spans, now);
  if (s->linked) pc_linked_expire(s->linked, now);
}

/* ---- component ------------------------------------------------------------------------ */

static void ss_destroy(void *self);

static void *ss_create(const pc_create_args_t *args, pc_err_t *err) {
  ss_cfg_t c = {0};
  if (pc_cfg_apply(ss_opts, args->cfg, &c, err)) return NULL;
  const pc_cfg_node_t *auth_node = pc_cfg_get(pc_cfg_get(args->cfg, "auth"), "authenticator");
  if (c.authenticator && !pc_id_has_type(c.authenticator, "bearertokenauth")) {
    pc_cfg_error(err, auth_node, PC_EINVAL, "\"%s\" is not a bearertokenauth extension, the "
                 "authenticator the query API takes", c.authenticator);
    return NULL;
  }
  if (c.ui_enabled && !pc__ui_available()) {
    pc_cfg_error(err, pc_cfg_get(pc_cfg_get(args->cfg, "ui"), "enabled"), PC_EINVAL,
                 "this profcol was built without the flame graph page (meson -Dui=disabled)");
    return NULL;
  }
  pc_tls_ctx_t *tls = NULL;
  if (pc_server_tls_ctx(&c.tls, pc_cfg_get(args->cfg, "tls"), "http/1.1", &tls, err))
    return NULL;
  ss_t *s = pc_xcalloc(1, sizeof *s);
  s->tls = tls;
  snprintf(s->log_id, sizeof s->log_id, "extension:%s", args->id);
  s->endpoint = pc_xstrdup(c.endpoint);
  s->authenticator = c.authenticator ? pc_xstrdup(c.authenticator) : NULL;
  s->window_ms = c.window_ms;
  s->max_query_bytes = c.max_query_bytes;
  s->ui = c.ui_enabled;
  pc_ref_init(&s->auth_ref, c.authenticator, auth_node);
  pc_spans_cfg_t sc = {.window_ms = c.window_ms, .max_bytes = c.max_memory};
  s->spans = pc_spans_new(&sc);
  if (c.max_profiles_memory) {
    pc_linked_cfg_t lc = {.window_ms = c.window_ms, .max_bytes = c.max_profiles_memory};
    s->linked = pc_linked_new(&lc);
  }
  s->iface = (pc_span_store_t){.add_spans = ss_add_spans, .find = ss_find,
                               .find_many = ss_find_many, .on_thread = ss_on_thread, .add_profiles = ss_add_profiles};
  return s;
}

static int ss_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  ss_t *s = self;
  if (pc_ref_set(&s->auth_ref) &&
      !(s->auth = pc_host_find(host, &s->auth_ref, PC_ROLE_SERVER_AUTH, err)))
    return PC_EINVAL;
  return 0;
}

static const void *ss_role(void *self, pc_role_t role) {
  return role == PC_ROLE_SPAN_STORE ? &((ss_t *)self)->iface : NULL;
}

static int ss_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  ss_t *s = self;
  if (pc_ref_set(&s->auth_ref) && !s->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &s->auth_ref, PC_ROLE_SERVER_AUTH, err);
    return err->code;
  }
  s->loop = loop;
  /* Queries are small GETs from a few people and scripts. */
  pc_http_limits_t limits = pc_http_admin_limits(64, "the query API's body limit",
                                                 "the query API's buffer limit");
  pc_http_handler_t handler = {.ud = s, .on_headers = ss_on_headers, .on_request = ss_on_request,
                               .error_body = ss_error_body, .keep_headers = true,
                               .auth_header = s->auth ? s->auth->header : NULL};
  pc_http_server_init(&s->http, loop, s->log_id, &limits, &handler, &s->counters);
  s->http.tls = s->tls;
  s->started = s->http_open = true;
  uv_timer_init(loop, &s->sweep);
  s->sweep_open = true;
  uv_timer_start(&s->sweep, ss_on_sweep, SWEEP_MS, SWEEP_MS);
  struct sockaddr_storage ss;
  int rc = pc_http_endpoint_addr(loop, s->log_id, s->endpoint, &ss, err);
  if (!rc) rc = pc_http_server_listen(&s->http, (struct sockaddr *)&ss, s->endpoint, err);
  if (rc) return rc;
  char win[32];
  snprintf(win, sizeof win, "%" PRIu64 "s", s->window_ms / 1000);
  pc_log(s->log_id, PC_LOG_INFO, "query API listening on %s (port %d)%s: GET /api/v1/traces, "
         "/api/v1/traces/{trace_id}/profile and /api/v1/services/{service}/profile; keeping "
         "spans and %s for %s%s", s->endpoint,
         s->http.port, s->tls ? " with TLS" : "", s->linked ? "linked samples" : "no samples",
         win, s->auth ? ", queries need a bearer token" : "");
  if (s->ui) { /* the address a browser goes to, with the port bound */
    const char *colon = strrchr(s->endpoint, ':');
    int host_n = colon ? (int)(colon - s->endpoint) : (int)strlen(s->endpoint);
    pc_log(s->log_id, PC_LOG_INFO, "flame graph page at http%s://%.*s:%d/ui/ (%zu bytes "
           "embedded)", s->tls ? "s" : "", host_n, s->endpoint, s->http.port, pc__ui_bytes());
  }
  return 0;
}

void pc_span_store_query_endpoint(const void *self, bool *tls, char *host, size_t host_n,
                                  int *port) {
  const ss_t *s = self;
  int configured;
  *tls = s->tls != NULL;
  *port = s->http.port;
  if (pc_http_split_endpoint(s->endpoint, host, host_n, &configured) != 0 && host_n)
    host[0] = 0; /* start checked it: cannot happen */
}

static void ss_on_closed(void *arg) {
  ss_t *s = arg;
  if (--s->closing) return;
  pc_done_cb done = s->done;
  s->done = NULL;
  if (done) done(s->done_arg);
}

static void ss_on_sweep_closed(uv_handle_t *h) {
  ss_on_closed(container_of((uv_timer_t *)h, ss_t, sweep));
}

static void ss_status(void *self, pc_status_t status) {
  ss_t *s = self;
  /* A reloaded config's span_store shares the port: let it answer. */
  if (status == PC_STATUS_REPLACED && s->http_open) pc_http_server_close(&s->http, 0, NULL, NULL);
}

static void ss_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  ss_t *s = self;
  if (!s->started) { /* never started, or shut down already */
    done(arg);
    return;
  }
  s->done = done;
  s->done_arg = arg;
  s->closing = 1; /* held while calling */
  if (s->sweep_open) {
    s->closing++;
    s->sweep_open = false;
    uv_close((uv_handle_t *)&s->sweep, ss_on_sweep_closed);
  }
  s->closing++;
  pc_http_server_close(&s->http, deadline_ms, ss_on_closed, s);
  s->started = false;
  ss_on_closed(s);
}

static void ss_destroy(void *self) {
  ss_t *s = self;
  if (!s) return;
  pc_spans_free(s->spans);
  pc_linked_free(s->linked);
  pc_tls_ctx_free(s->tls); /* the server is closed: no session uses it */
  free(s->endpoint);
  free(s->authenticator);
  free(s);
}

static void ss_metrics(void *self, pc_metrics_t *m) {
  ss_t *s = self;
  pc_spans_stats_t sp;
  pc_spans_stats(s->spans, &sp);
  pc_metrics_gauge(m, "profcol_span_store_spans", "spans held", (double)sp.spans, NULL);
  pc_metrics_gauge(m, "profcol_span_store_spans_bytes", "memory the spans take (max_memory "
                   "bounds it)", (double)sp.bytes, NULL);
  pc_metrics_counter(m, "profcol_span_store_added_spans", "spans recorded (a span received "
                     "again is not: duplicate_spans)", (double)sp.added, NULL);
  pc_metrics_counter(m, "profcol_span_store_skipped_spans", "spans without a usable trace_id "
                     "and span_id, not recorded", (double)sp.skipped, NULL);
  pc_metrics_counter(m, "profcol_span_store_duplicate_spans", "spans received again, updated "
                     "in place rather than stored twice", (double)sp.duplicates, NULL);
  static const char ev[] = "spans dropped, by reason: older than window, or early for max_memory";
  pc_metrics_counter(m, "profcol_span_store_evicted_spans", ev, (double)sp.evicted_window,
                     "reason", "window", NULL);
  pc_metrics_counter(m, "profcol_span_store_evicted_spans", ev, (double)sp.evicted_memory,
                     "reason", "memory", NULL);
  pc_metrics_counter(m, "profcol_span_store_lookups", "span lookups, by whether the span was "
                     "there", (double)sp.found, "found", "true", NULL);
  pc_metrics_counter(m, "profcol_span_store_lookups", "span lookups, by whether the span was "
                     "there", (double)(sp.lookups - sp.found), "found", "false", NULL);
  if (s->linked) {
    pc_linked_stats_t ls;
    pc_linked_stats(s->linked, &ls);
    pc_metrics_gauge(m, "profcol_span_store_linked_samples", "linked profile samples held for "
                     "the query API", (double)ls.samples, NULL);
    pc_metrics_gauge(m, "profcol_span_store_linked_traces", "traces with linked samples held "
                     "(one whose samples came through several workers counts for each)",
                     (double)ls.traces, NULL);
    pc_metrics_gauge(m, "profcol_span_store_linked_bytes", "memory the linked samples take "
                     "(max_profiles_memory bounds it)", (double)ls.bytes, NULL);
    pc_metrics_counter(m, "profcol_span_store_added_linked_samples", "linked samples kept",
                       (double)ls.added_samples, NULL);
    pc_metrics_counter(m, "profcol_span_store_dropped_linked_samples", "linked samples not "
                       "kept for lack of memory", (double)ls.dropped_samples, NULL);
    static const char kb[] = "bytes of received requests the window holds linked samples "
                             "of, by how: kept (the receiver's buffer, by reference) or copied";
    pc_metrics_counter(m, "profcol_span_store_linked_request_bytes", kb, (double)ls.kept_bytes,
                       "how", "kept", NULL);
    pc_metrics_counter(m, "profcol_span_store_linked_request_bytes", kb,
                       (double)ls.copied_bytes, "how", "copied", NULL);
    static const char ec[] = "chunks of linked samples dropped, by reason";
    pc_metrics_counter(m, "profcol_span_store_evicted_chunks", ec, (double)ls.evicted_window,
                       "reason", "window", NULL);
    pc_metrics_counter(m, "profcol_span_store_evicted_chunks", ec, (double)ls.evicted_memory,
                       "reason", "memory", NULL);
  }
  pc_metrics_counter(m, "profcol_span_store_queries", "query API requests answered",
                     (double)atomic_load(&s->counters.requests), NULL);
  pc_metrics_counter(m, "profcol_span_store_failed_queries", "query API requests answered "
                     "4xx or 5xx", (double)atomic_load(&s->counters.requests_failed), NULL);
}

const pc_component_t pc_extension_span_store = {
    .type = "span_store",
    .kind = PC_EXTENSION,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .per_process = true, /* one store for every worker: a trace's spans and samples meet */
    .stability = "development",
    .options = ss_opts,
    .create = ss_create,
    .resolve = ss_resolve,
    .start = ss_start,
    .shutdown = ss_shutdown,
    .destroy = ss_destroy,
    .status = ss_status,
    .metrics = ss_metrics,
    .role = ss_role,
};
