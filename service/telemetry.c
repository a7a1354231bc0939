/* telemetry.c - service.telemetry.metrics: a Prometheus endpoint (GET
 * /metrics) on the shared HTTP server (httpd/), with the process's uptime,
 * RSS and CPU time plus whatever the components report (telemetry.h).
 *
 * Config, as in the Collector: `level` (none turns the endpoint off; basic,
 * normal and detailed serve the same set here) and `address` (default
 * localhost:8888), or the newer `readers` form with one pull reader whose
 * exporter is prometheus {host, port}. Push readers are refused: profcol
 * does not send its metrics anywhere.
 *
 * Each scrape builds the page from scratch on the loop: a few hundred
 * lines, no state kept between scrapes.
 *
 * The spec (OTLP-PROFILES.md section 6) puts the trace query API on this
 * server; profcol serves it from the span_store extension's own endpoint,
 * which has TLS and bearer-token auth this one lacks. So its paths are
 * answered here with a redirect there (or a 404 that says where it is),
 * never with the data. */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../core/log.h"
#include "../httpd/httpd.h"
#include "telemetry.h"

#define LOG "service:telemetry"
#define DEF_ADDRESS "localhost:8888"
#define METRICS_PATH "/metrics"
#define QUERY_API_HELP                                                                    \
  "the trace query API is served by span_store's endpoint (extensions.span_store.endpoint, " \
  "default localhost:13134), not by this metrics endpoint"

typedef struct {
  char *level;
  char *address;
  const pc_cfg_node_t *readers;
} metrics_cfg_t;

static const pc_opt_t metrics_opts[] = {
    PC_OPT_STR("level", "normal", metrics_cfg_t, level,
               "none (no endpoint), basic, normal or detailed (the last three serve the "
               "same metrics in profcol)"),
    PC_OPT_ADDR("address", DEF_ADDRESS, metrics_cfg_t, address,
                "host:port of the Prometheus endpoint (GET /metrics)"),
    PC_OPT_ANY("readers", metrics_cfg_t, readers,
               "instead of address: one pull reader, exporter.prometheus {host, port}"),
    PC_OPT_TABLE_END,
};

typedef struct {
  char *host;
  int64_t port;
} prom_cfg_t;

static const pc_opt_t prom_opts[] = {
    PC_OPT_STR("host", "localhost", prom_cfg_t, host, "address to listen on"),
    PC_OPT_INT_RANGE("port", "8888", prom_cfg_t, port, 0, 65535, "port to listen on"),
    PC_OPT_TABLE_END,
};

struct pc_telemetry {
  bool enabled;
  bool explicit_address; /* set in the config: failing to listen is an error */
  char endpoint[300];
  pc_http_server_t http;
  pc_http_counters_t counters;
  pc_telemetry_collect_cb collect;
  void *collect_arg;
  void (*gather)(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx);
  void *gather_arg;
  struct scrape *scrapes; /* waiting for gather, answered at close at the latest */
  struct {
    bool set, tls;
    char host[256]; /* as configured, no brackets */
    int port;       /* as bound */
  } query;          /* pc_telemetry_set_query_api */
  bool destroyed;         /* freed when the last scrape is done */
};

static uint64_t process_start_ns; /* the first telemetry created: about the process start */

/* ---- config ---------------------------------------------------------------------- */

static const pc_cfg_node_t *non_null(const pc_cfg_node_t *n) {
  return n && n->type != PC_CFG_NULL ? n : NULL;
}

/* A map that must hold exactly the key want (the readers form nests). */
static int expect_only(const pc_cfg_node_t *map, const char *want, const char *hint,
                       pc_err_t *err) {
  if (map && map->type == PC_CFG_MAP && map->n_entries == 1 && pc_cfg_get(map, want)) return 0;
  return pc_cfg_error(err, map, PC_EINVAL, "expected %s: %s", want, hint);
}

/* readers: [{pull: {exporter: {prometheus: {host, port}}}}] -> "host:port". */
static int parse_readers(const pc_cfg_node_t *readers, char *endpoint, size_t n, pc_err_t *err) {
  static const char hint[] = "profcol serves its metrics for scraping only, so it takes one "
                             "reader: pull with exporter.prometheus (host, port)";
  if (readers->type != PC_CFG_SEQ || readers->n_items != 1)
    return pc_cfg_error(err, readers, PC_EINVAL, "expected a list of one reader; %s", hint);
  const pc_cfg_node_t *reader = readers->items[0];
  if (expect_only(reader, "pull", hint, err)) return PC_EINVAL;
  const pc_cfg_node_t *pull = pc_cfg_get(reader, "pull");
  if (expect_only(pull, "exporter", hint, err)) return PC_EINVAL;
  const pc_cfg_node_t *exporter = pc_cfg_get(pull, "exporter");
  if (expect_only(exporter, "prometheus", hint, err)) return PC_EINVAL;
  prom_cfg_t p = {0};
  if (pc_cfg_apply(prom_opts, non_null(pc_cfg_get(exporter, "prometheus")), &p, err))
    return PC_EINVAL;
  snprintf(endpoint, n, strchr(p.host, ':') ? "[%s]:%lld" : "%s:%lld", p.host,
           (long long)p.port);
  return 0;
}

static int check_level(const pc_cfg_node_t *node, const char *level, bool *enabled,
                       pc_err_t *err) {
  static const char *const levels[] = {"none", "basic", "normal", "detailed"};
  for (size_t i = 0; i < 4; i++)
    if (strcmp(level, levels[i]) == 0) {
      *enabled = i > 0;
      return 0;
    }
  return pc_cfg_error(err, pc_cfg_get(node, "level"), PC_EINVAL,
                      "expected none, basic, normal or detailed, got \"%s\"", level);
}

static int parse_metrics(pc_telemetry_t *t, const pc_cfg_node_t *node, pc_err_t *err) {
  metrics_cfg_t c = {0};
  if (pc_cfg_apply(metrics_opts, node, &c, err)) return PC_EINVAL;
  if (check_level(node, c.level, &t->enabled, err)) return PC_EINVAL;
  const pc_cfg_node_t *readers = non_null(c.readers);
  if (readers && pc_cfg_get(node, "address"))
    return pc_cfg_error(err, readers, PC_EINVAL,
                        "set either address or readers, not both (readers is the newer form)");
  t->explicit_address = readers || pc_cfg_get(node, "address");
  if (readers) return parse_readers(readers, t->endpoint, sizeof t->endpoint, err);
  snprintf(t->endpoint, sizeof t->endpoint, "%s", c.address);
  return 0;
}

/* service.telemetry's own keys: logs (service/logs.c reads them), metrics
 * (here); traces and resource are the Collector's too, but profcol emits
 * no traces and exports no telemetry that a resource would describe: they
 * are refused rather than ignored. */
typedef struct {
  const pc_cfg_node_t *logs, *metrics, *traces, *resource;
} telemetry_cfg_t;

static const pc_opt_t telemetry_opts[] = {
    PC_OPT_ANY("logs", telemetry_cfg_t, logs,
               "level, encoding, output_paths, error_output_paths, initial_fields, sampling"),
    PC_OPT_ANY("metrics", telemetry_cfg_t, metrics, "level and address (or readers)"),
    PC_OPT_ANY("traces", telemetry_cfg_t, traces, "refused unless level: none"),
    PC_OPT_ANY("resource", telemetry_cfg_t, resource, "refused"),
    PC_OPT_TABLE_END,
};

static int check_telemetry_keys(const pc_cfg_node_t *telemetry, pc_err_t *err) {
  telemetry_cfg_t c = {0};
  int rc = pc_cfg_apply(telemetry_opts, telemetry, &c, err) ? PC_EINVAL : 0;
  const pc_cfg_node_t *level = pc_cfg_get(c.traces, "level");
  bool traces_off = !non_null(c.traces) ||
                    (c.traces->type == PC_CFG_MAP && c.traces->n_entries == 1 && level &&
                     level->text && strcmp(level->text, "none") == 0);
  if (!traces_off)
    rc = pc_cfg_key_error(err, c.traces, PC_EINVAL,
                          "profcol emits no traces of its own: remove this section (or set "
                          "level: none)");
  if (non_null(c.resource))
    rc = pc_cfg_key_error(err, c.resource, PC_EINVAL,
                          "profcol exports no telemetry that a resource would describe: "
                          "remove it (logs.initial_fields adds fields to every log line)");
  return rc;
}

pc_telemetry_t *pc_telemetry_create(const pc_cfg_node_t *telemetry, pc_errlist_t *errs) {
  if (!process_start_ns) process_start_ns = uv_hrtime();
  pc_telemetry_t *t = pc_xcalloc(1, sizeof *t);
  pc_err_t err = {0};
  int rc = check_telemetry_keys(non_null(telemetry), &err);
  if (parse_metrics(t, non_null(pc_cfg_get(telemetry, "metrics")), &err)) rc = PC_EINVAL;
  if (rc) {
    pc_errlist_add(errs, err.msg);
    free(t);
    return NULL;
  }
  return t;
}

/* ---- the page ----------------------------------------------------------------------- */

static void process_metrics(pc_metrics_t *m) {
  pc_metrics_scope(m, NULL);
  pc_metrics_counter(m, "otelcol_process_uptime", "Uptime of the process in seconds.",
                     (double)(uv_hrtime() - process_start_ns) / 1e9, NULL);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    pc_metrics_counter(m, "otelcol_process_cpu_seconds",
                       "Total CPU user and system time in seconds.",
                       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
                       NULL);
  int64_t rss = pc_process_rss();
  if (rss >= 0)
    pc_metrics_gauge(m, "otelcol_process_memory_rss",
                     "Total physical memory (resident set size) in bytes.", (double)rss, NULL);
  pc_metrics_counter(m, "profcol_process_compressions",
                     "Request bodies compressed for exporters: one per encoding per batch, "
                     "however many exporters send it.", (double)pc_body_compressions(), NULL);
  /* The request memory budget (service.max_request_memory). */
  pc_budget_t *b = pc_request_budget();
  pc_metrics_gauge(m, "profcol_process_request_memory_bytes",
                   "Request data held now (bodies as received, decompressed, decoded), in "
                   "bytes.", (double)pc_budget_held(b), NULL);
  pc_metrics_gauge(m, "profcol_process_request_memory_limit_bytes",
                   "service.max_request_memory: request data held at most, in bytes.",
                   (double)pc_budget_limit(b), NULL);
  pc_metrics_counter(m, "profcol_process_request_memory_refused_requests",
                     "Requests refused (503, gRPC UNAVAILABLE) because their data would "
                     "pass service.max_request_memory.",
                     (double)atomic_load_explicit(&b->refusals, memory_order_relaxed), NULL);
  pc_metrics_counter(m, "profcol_process_request_memory_refused_bytes",
                     "Bytes those refused requests would have needed.",
                     (double)atomic_load_explicit(&b->refused_bytes, memory_order_relaxed),
                     NULL);
  int64_t fds = pc_fd_open_count();
  if (fds >= 0)
    pc_metrics_gauge(m, "profcol_process_open_fds", "File descriptors open now.", (double)fds,
                     NULL);
  pc_metrics_gauge(m, "profcol_process_max_fds", "The open file limit (soft RLIMIT_NOFILE).",
                   (double)pc_fd_limit(), NULL);
  pc_metrics_counter(m, "profcol_process_fd_exhausted",
                     "Connections closed at once because file descriptors ran short "
                     "(service.fd_reserve), and accepts that failed with EMFILE or ENFILE.",
                     (double)pc_fd_exhausted(), NULL);
}

static void answer_text(pc_http_response_t *resp, int status, const char *text) {
  pc_buf_free(&resp->body);
  resp->status = status;
  resp->content_type = "text/plain; charset=utf-8";
  if (pc_buf_append(&resp->body, text, strlen(text))) pc_oom();
}

static void render_page(const pc_metrics_t *m, pc_http_response_t *resp) {
  resp->status = 200;
  resp->content_type = PC_METRICS_CONTENT_TYPE;
  if (pc_metrics_render(m, &resp->body)) answer_text(resp, 503, "out of memory\n");
}

/* A scrape waiting for the other workers' metrics (on this loop, as
 * gather's done is). If the endpoint closes first, the page is answered
 * then with what it holds, and done only frees; t outlives its scrapes. */
typedef struct scrape {
  struct scrape *next;
  pc_telemetry_t *t;
  pc_http_conn_t *conn; /* NULL once answered */
  pc_metrics_t *m;
} scrape_t;

static void scrape_answer(scrape_t *sc) {
  if (!sc->conn) return;
  pc_http_response_t resp = {0};
  render_page(sc->m, &resp);
  pc_http_respond(sc->conn, &resp);
  sc->conn = NULL;
}

static void scrape_on_gathered(void *ctx) {
  scrape_t *sc = ctx;
  pc_telemetry_t *t = sc->t;
  scrape_answer(sc);
  pc_metrics_free(sc->m); /* gather is done with it */
  for (scrape_t **pp = &t->scrapes; *pp; pp = &(*pp)->next)
    if (*pp == sc) {
      *pp = sc->next;
      break;
    }
  free(sc);
  if (t->destroyed && !t->scrapes) free(t);
}

/* Whether path is one of the query API's: /api/v1/traces[/...] or
 * /api/v1/services[/...] (trace_query.c). */
static bool is_query_path(pc_str_t path) {
  static const char *const prefixes[] = {"/api/v1/traces", "/api/v1/services"};
  for (size_t i = 0; i < 2; i++) {
    size_t n = strlen(prefixes[i]);
    if (path.n >= n && memcmp(path.p, prefixes[i], n) == 0 && (path.n == n || path.p[n] == '/'))
      return true;
  }
  return false;
}

/* The host a client reached this server by (the Host header without its
 * port), into out; "localhost" when there is none or it holds anything
 * but a name or an address (it goes into a Location header). */
static void request_host(const pc_http_request_t *r, char *out, size_t n) {
  pc_str_t v = {0};
  snprintf(out, n, "localhost");
  if (!pc_md_get(&r->headers, PC_STR_LIT("host"), 0, &v) || v.n == 0 || v.n >= n) return;
  size_t end = v.n;
  if (v.p[0] == '[') { /* [v6]:port */
    const uint8_t *close = memchr(v.p, ']', v.n);
    if (!close) return;
    end = (size_t)(close - v.p) + 1;
  } else {
    const uint8_t *colon = memchr(v.p, ':', v.n);
    if (colon) end = (size_t)(colon - v.p);
  }
  for (size_t i = 0; i < end; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", v.p[i]) ||
        !v.p[i])
      return;
  if (end) snprintf(out, n, "%.*s", (int)end, (const char *)v.p);
}

/* A query API request: 307 to the same path and query on span_store's
 * endpoint (a wildcard bind becomes the host the client used here), or
 * 404 when the config has no span_store. */
static int route_query(const pc_telemetry_t *t, const pc_http_request_t *r,
                       pc_http_response_t *resp) {
  if (!t->query.set) {
    answer_text(resp, 404, "not found: no span_store extension in this config: " QUERY_API_HELP
                           "\n");
    return 404;
  }
  if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
    answer_text(resp, 405, "method not allowed: the trace query API takes GET\n");
    resp->allow = "GET, HEAD";
    return 405;
  }
  const char *h = t->query.host;
  char seen[256];
  if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
    request_host(r, seen, sizeof seen);
    h = seen;
  }
  bool v6 = strchr(h, ':') && h[0] != '[';
  answer_text(resp, 307, "the trace query API is served by span_store's endpoint: see Location\n");
  if (pc_buf_printf(&resp->headers, "Location: http%s://%s%s%s:%d%.*s\r\n", t->query.tls ? "s" : "",
                    v6 ? "[" : "", h, v6 ? "]" : "", t->query.port, PC_STR_FMT(r->url)))
    pc_oom();
  return 307;
}

/* 0 for GET or HEAD /metrics, else the status with resp filled. */
static int route(const pc_telemetry_t *t, const pc_http_request_t *r, pc_http_response_t *resp) {
  if (is_query_path(r->path)) return route_query(t, r, resp);
  if (!pc_str_eq(r->path, PC_STR_LIT(METRICS_PATH))) {
    answer_text(resp, 404, "not found: profcol's metrics are at GET " METRICS_PATH "\n");
    return 404;
  }
  if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
    answer_text(resp, 405, "method not allowed: use GET " METRICS_PATH "\n");
    resp->allow = "GET, HEAD";
    return 405;
  }
  return 0;
}

static int tel_on_headers(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  return route(ud, r, resp);
}

static void tel_on_request(void *ud, pc_http_conn_t *conn, const pc_http_request_t *r) {
  pc_telemetry_t *t = ud;
  pc_http_response_t resp = {0};
  if (route(t, r, &resp) != 0) {
    pc_http_respond(conn, &resp);
    return;
  }
  pc_metrics_t *m = pc_metrics_new();
  process_metrics(m);
  if (t->collect) t->collect(t->collect_arg, m);
  if (!t->gather) {
    render_page(m, &resp);
    pc_metrics_free(m);
    pc_http_respond(conn, &resp);
    return;
  }
  scrape_t *sc = pc_xcalloc(1, sizeof *sc);
  *sc = (scrape_t){.next = t->scrapes, .t = t, .conn = conn, .m = m};
  t->scrapes = sc;
  t->gather(t->gather_arg, m, scrape_on_gathered, sc);
}

void pc_telemetry_set_query_api(pc_telemetry_t *t, bool tls, const char *host, int port) {
  t->query.set = true;
  t->query.tls = tls;
  t->query.port = port;
  snprintf(t->query.host, sizeof t->query.host, "%s", host);
}

void pc_telemetry_set_gather(pc_telemetry_t *t,
                             void (*gather)(void *arg, pc_metrics_t *m, pc_done_cb done, void *ctx),
                             void *arg) {
  t->gather = gather;
  t->gather_arg = arg;
}

static void tel_error_body(void *ud, const pc_http_request_t *r, const char *msg,
                           pc_http_response_t *resp) {
  (void)ud;
  (void)r;
  int status = resp->status;
  answer_text(resp, status, msg);
}

/* ---- lifecycle ------------------------------------------------------------------------ */


int pc_telemetry_start(pc_telemetry_t *t, uv_loop_t *loop, pc_telemetry_collect_cb collect,
                       void *arg, pc_err_t *err) {
  if (!t->enabled) return 0;
  t->collect = collect;
  t->collect_arg = arg;
  /* Health checks and scrapes are small GETs from a few clients. */
  pc_http_limits_t limits = pc_http_admin_limits(32, "the metrics endpoint's body limit",
                                                 "the metrics endpoint's buffer limit");
  pc_http_handler_t handler = {.ud = t, .on_headers = tel_on_headers,
                               .on_request = tel_on_request, .error_body = tel_error_body,
                               .keep_headers = true}; /* Host, for the query API's redirect */
  pc_http_server_init(&t->http, loop, LOG, &limits, &handler, &t->counters);
  struct sockaddr_storage ss;
  int rc = pc_http_endpoint_addr(loop, "service.telemetry.metrics", t->endpoint, &ss, err);
  if (!rc) rc = pc_http_server_listen(&t->http, (struct sockaddr *)&ss, t->endpoint, err);
  if (rc && !t->explicit_address) {
    pc_log(LOG, PC_LOG_WARN, "%s; self-telemetry is not served (set another port in "
           "service.telemetry.metrics.readers, or level: none)", err->msg);
    *err = (pc_err_t){0};
    return 0;
  }
  if (rc) {
    /* Say which listener: "cannot start: cannot listen on 0.0.0.0:8888"
     * alone left the reader to guess it was the metrics endpoint. */
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return pc_err_set(err, rc, "service.telemetry.metrics: %s", msg);
  }
  pc_log(LOG, PC_LOG_INFO, "serving Prometheus metrics at http://%s%s (port %d)", t->endpoint,
         METRICS_PATH, t->http.port);
  return 0;
}

void pc_telemetry_close(pc_telemetry_t *t, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  for (scrape_t *sc = t->scrapes; sc; sc = sc->next) scrape_answer(sc);
  pc_http_server_close(&t->http, deadline_ms, done, arg);
}

void pc_telemetry_destroy(pc_telemetry_t *t) {
  if (!t) return;
  t->destroyed = true;
  if (!t->scrapes) free(t);
}
