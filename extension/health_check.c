/* health_check.c - the health_check extension: GET on endpoint + path
 * answers 200 while the service runs and 503 while it starts or drains,
 * with the Collector's JSON body (extension.h).
 *
 * The one idea: the answer is the service's state as the status hook last
 * told it, nothing else, so a load balancer stops sending as soon as a
 * SIGTERM starts the drain (receivers close first; this endpoint stays up
 * until everything else has drained, answering 503) and an orchestrator
 * sees 200 only once every component has started.
 *
 * As with Go's ServeMux in the Collector, a path ending in '/' matches
 * every path under it (the default "/" matches any path); any other path
 * matches exactly. */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/log.h"
#include "../httpd/httpd.h"
#include "extension.h"

#define DEF_ENDPOINT "localhost:13133"

typedef struct {
  char *endpoint;
  char *path;
} hc_cfg_t;

static const pc_opt_t hc_opts[] = {
    PC_OPT_ADDR("endpoint", DEF_ENDPOINT, hc_cfg_t, endpoint,
                "host:port to listen on (\"0.0.0.0:13133\" for every interface)"),
    PC_OPT_STR("path", "/", hc_cfg_t, path,
               "path of the health endpoint; ending in '/' it matches every path below"),
    PC_OPT_TABLE_END,
};

typedef struct {
  char log_id[160]; /* "extension:health_check/name" */
  char *endpoint;
  char *path;
  pc_status_t status;
  struct timespec up_since; /* wall clock at READY */
  uint64_t up_hr;           /* uv_hrtime at READY */
  pc_http_server_t http;
  pc_http_counters_t counters;
} hc_t;

/* ---- the answer ------------------------------------------------------------------ */

/* A fraction with up to digits digits, trailing zeros dropped: ".0224117". */
static void append_fraction(pc_buf_t *b, uint64_t frac, int digits) {
  char f[16];
  snprintf(f, sizeof f, ".%0*llu", digits, (unsigned long long)frac);
  size_t n = strlen(f);
  while (n > 1 && f[n - 1] == '0') n--;
  if (n > 1 && pc_buf_append(b, f, n)) pc_oom();
}

/* A duration as Go's time.Duration.String() writes it: "3.0224117s",
 * "1m0.5s", "2h3m4s", "150.5ms", "0s". */
static void append_go_duration(pc_buf_t *b, uint64_t ns) {
  if (ns < 1000000000) {
    static const struct {
      uint64_t unit;
      const char *name;
      int digits;
    } small[] = {{1000000, "ms", 6}, {1000, "\xc2\xb5s", 3}, {1, "ns", 0}};
    if (ns == 0) {
      pc_buf_printf(b, "0s");
      return;
    }
    for (size_t i = 0; i < 3; i++) {
      if (ns < small[i].unit) continue;
      pc_buf_printf(b, "%llu", (unsigned long long)(ns / small[i].unit));
      if (small[i].digits) append_fraction(b, ns % small[i].unit, small[i].digits);
      pc_buf_printf(b, "%s", small[i].name);
      return;
    }
  }
  uint64_t s = ns / 1000000000, h = s / 3600, m = s / 60 % 60;
  if (h) pc_buf_printf(b, "%lluh", (unsigned long long)h);
  if (h || m) pc_buf_printf(b, "%llum", (unsigned long long)m);
  pc_buf_printf(b, "%llu", (unsigned long long)(s % 60));
  append_fraction(b, ns % 1000000000, 9);
  pc_buf_printf(b, "s");
}

/* RFC 3339 in UTC with milliseconds. */
static void append_time(pc_buf_t *b, const struct timespec *ts) {
  struct tm tm;
  gmtime_r(&ts->tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts->tv_nsec / 1000000);
  pc_buf_printf(b, "%s", when);
}

/* The Collector's bodies; while not ready upSince is Go's zero time. */
static void answer_health(const hc_t *hc, pc_http_response_t *resp) {
  bool up = hc->status == PC_STATUS_READY;
  pc_buf_t *b = &resp->body;
  resp->status = up ? 200 : 503;
  resp->content_type = "application/json";
  if (!up) {
    pc_buf_printf(b, "{\"status\":\"Server not available\",\"upSince\":"
                     "\"0001-01-01T00:00:00Z\",\"uptime\":\"\"}");
    return;
  }
  pc_buf_printf(b, "{\"status\":\"Server available\",\"upSince\":\"");
  append_time(b, &hc->up_since);
  pc_buf_printf(b, "\",\"uptime\":\"");
  append_go_duration(b, uv_hrtime() - hc->up_hr);
  pc_buf_printf(b, "\"}");
}

static void answer_text(pc_http_response_t *resp, int status, const char *text) {
  pc_buf_free(&resp->body);
  resp->status = status;
  resp->content_type = "text/plain; charset=utf-8";
  if (pc_buf_append(&resp->body, text, strlen(text))) pc_oom();
}

static bool path_matches(const char *want, pc_str_t path) {
  size_t n = strlen(want);
  if (n && want[n - 1] == '/') return path.n >= n && memcmp(path.p, want, n) == 0;
  return path.n == n && memcmp(path.p, want, n) == 0;
}

/* 0 for GET or HEAD on the path, else the status with resp filled. */
static int route(const hc_t *hc, const pc_http_request_t *r, pc_http_response_t *resp) {
  if (!path_matches(hc->path, r->path)) {
    answer_text(resp, 404, "not found\n");
    return 404;
  }
  if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
    answer_text(resp, 405, "method not allowed: use GET\n");
    resp->allow = "GET, HEAD";
    return 405;
  }
  return 0;
}

static int hc_on_headers(void *ud, const pc_http_request_t *r, pc_http_response_t *resp) {
  return route(ud, r, resp);
}

static void hc_on_request(void *ud, pc_http_conn_t *conn, const pc_http_request_t *r) {
  pc_http_response_t resp = {0};
  if (route(ud, r, &resp) == 0) answer_health(ud, &resp);
  pc_http_respond(conn, &resp);
}

static void hc_error_body(void *ud, const pc_http_request_t *r, const char *msg,
                          pc_http_response_t *resp) {
  (void)ud;
  (void)r;
  answer_text(resp, resp->status, msg);
}

/* ---- component ----------------------------------------------------------------- */

static void *hc_create(const pc_create_args_t *args, pc_err_t *err) {
  hc_cfg_t c = {0};
  if (pc_cfg_apply(hc_opts, args->cfg, &c, err)) return NULL;
  if (c.path[0] != '/' || strpbrk(c.path, "? \t")) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "path"), PC_EINVAL,
                 "expected a path starting with '/', without query or spaces, got \"%s\"",
                 c.path);
    return NULL;
  }
  hc_t *hc = pc_xcalloc(1, sizeof *hc);
  snprintf(hc->log_id, sizeof hc->log_id, "extension:%s", args->id);
  hc->endpoint = pc_xstrdup(c.endpoint);
  hc->path = pc_xstrdup(c.path);
  return hc;
}


static int hc_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  hc_t *hc = self;
  /* Health checks and scrapes are small GETs from a few clients. */
  pc_http_limits_t limits = pc_http_admin_limits(64, "the health endpoint's body limit",
                                                 "the health endpoint's buffer limit");
  pc_http_handler_t handler = {.ud = hc, .on_headers = hc_on_headers,
                               .on_request = hc_on_request, .error_body = hc_error_body};
  pc_http_server_init(&hc->http, loop, hc->log_id, &limits, &handler, &hc->counters);
  struct sockaddr_storage ss;
  int rc = pc_http_endpoint_addr(loop, hc->log_id, hc->endpoint, &ss, err);
  if (!rc) rc = pc_http_server_listen(&hc->http, (struct sockaddr *)&ss, hc->endpoint, err);
  if (rc) return rc;
  pc_log(hc->log_id, PC_LOG_INFO, "listening on %s (port %d): GET %s answers 200 while "
         "running, 503 while starting or draining", hc->endpoint, hc->http.port, hc->path);
  return 0;
}

static void hc_status(void *self, pc_status_t status) {
  hc_t *hc = self;
  hc->status = status;
  if (status == PC_STATUS_READY) {
    clock_gettime(CLOCK_REALTIME, &hc->up_since);
    hc->up_hr = uv_hrtime();
  }
  /* A reloaded config's health_check shares the port: let it answer. */
  if (status == PC_STATUS_REPLACED) pc_http_server_close(&hc->http, 0, NULL, NULL);
}

static void hc_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  hc_t *hc = self;
  pc_http_server_close(&hc->http, deadline_ms, done, arg);
}

static void hc_destroy(void *self) {
  hc_t *hc = self;
  if (!hc) return;
  free(hc->endpoint);
  free(hc->path);
  free(hc);
}

const pc_component_t pc_extension_health_check = {
    .type = "health_check",
    .kind = PC_EXTENSION,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = hc_opts,
    .create = hc_create,
    .start = hc_start,
    .shutdown = hc_shutdown,
    .destroy = hc_destroy,
    .status = hc_status,
};
