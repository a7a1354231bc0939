/* pprof_scrape.c - the pprof receiver's remote mode: scrape pprof handlers
 * (Go's net/http/pprof, /debug/pprof/...) on a schedule, with libcurl on
 * the loop (component/curl.c), and hand each profile to a conversion job
 * (pprof.c).
 *
 * Schedule. Every target is scraped once per collection_interval, at an
 * offset in the interval taken from a hash of its URL (as Prometheus
 * spreads its scrapes), so a thousand targets are spread over the interval
 * instead of all scraping in the same second, and a target keeps its
 * offset across restarts. The targets are kept sorted by offset and one
 * timer walks them in that order: one handle however many targets, and
 * O(1) per scrape. A loop that stalled for more than an interval skips the
 * cycles it missed instead of firing them all at once.
 *
 * In flight. At most max_concurrent_scrapes targets are being scraped or
 * converted at once; a due target waits in FIFO order for one of them to
 * finish. A target due again while its previous scrape still runs or waits
 * is skipped (counted, and logged at most every 10 s): timeout is at most
 * the interval, so this only happens when the limit is too low for the
 * targets. Easy handles are kept for reuse (at most SPARE_SLOTS), their
 * connections in the multi handle's cache (max_concurrent_scrapes of them).
 *
 * Failures. A target that is down, slow past the timeout, answers another
 * status than 200, sends more than max_body_size or something that is not
 * a pprof profile fails that scrape only: it is counted by reason
 * (profcol_receiver_pprof_failures), its up gauge drops to 0, and it is
 * scraped again at its next offset like any other. The log says so once
 * when a target starts failing (or fails another way), again at most every
 * TARGET_LOG_MS while it keeps failing, and once when it succeeds again;
 * across targets at most PC__PRX_LOG_BURST such lines go out per 10 s, the
 * next one saying how many were held back (a network partition that takes
 * a thousand targets down gives a screenful, not a thousand lines).
 *
 * Memory per target: its URL twice (as configured and redacted for logs),
 * host and instance strings and 120 bytes of state; nothing else while it
 * is idle. A scrape in flight adds an easy handle and its body. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pprofrx.h"

#define SPARE_SLOTS 16
#define TARGET_LOG_MS (5 * 60 * 1000)
#define SKIP_LOG_MS 10000
/* Due targets started per timer callback; the rest on the next turn, so a
 * thousand targets due at once (initial_delay 0) do not hold the loop. */
#define FIRE_BUDGET 64
/* Connecting may take at most this long (and never more than timeout). */
#define CONNECT_TIMEOUT_MS 10000

#define SCOPE_NAME "profcol/receiver/pprof/remote"

typedef enum { T_IDLE, T_WAITING, T_RUNNING } tstate_t;

typedef struct target {
  char *url;      /* as configured */
  char *shown;    /* for logs and url.full: the password redacted */
  char *host;     /* server.address */
  char *instance; /* host:port, service.instance.id */
  int64_t port;
  uint64_t phase_ms; /* offset in the interval */
  uint32_t streak;   /* scrapes failed in a row */
  uint8_t state;     /* tstate_t */
  uint8_t last_reason;
  bool tried, up;
  pc_ratelimit_t rl; /* its failure lines */
  struct target *next_wait;
  pc__prx_scrape_t *s;
} target_t;

/* A scrape in flight: an easy handle and the body coming in. */
typedef struct slot {
  pc_curl_xfer_t xfer;
  pc__prx_scrape_t *s;
  target_t *t;
  pc_buf_t body;
  bool too_large;
  char errbuf[CURL_ERROR_SIZE];
  struct slot *prev, *next; /* busy list, or the free list (next only) */
} slot_t;

struct pc__prx_scrape {
  pc__prx_t *rx;
  target_t *targets; /* config order */
  target_t **order;  /* by phase */
  size_t n;
  uint64_t interval_ms, delay_ms, timeout_ms, max_body;
  unsigned max_concurrent;
  pc_headers_t headers; /* "Name: value" from the config */
  struct curl_slist *slist;
  char *ca_file, *cert_file, *key_file;
  bool skip_verify;
  long ssl_version;
  pc_ref_t auth_ref;
  const pc_client_auth_t *auth;
  uv_loop_t *loop;
  uv_timer_t timer;
  bool timer_open;
  pc_curl_t *curl;
  uint64_t cycle_start; /* loop time the current interval began */
  size_t cursor;        /* next target in order */
  target_t *wait_head, *wait_tail;
  unsigned running; /* targets scraping or converting */
  slot_t *busy, *free_slots;
  unsigned n_free_slots;
  pc__prx_counters_t cnt;
  pc__prx_gate_t gate;
  pc_ratelimit_t rl_skip;
  bool closing, curl_closing;
};

/* ---- targets ------------------------------------------------------------------------- */

static int by_phase(const void *a, const void *b) {
  const target_t *x = *(const target_t *const *)a, *y = *(const target_t *const *)b;
  return x->phase_ms < y->phase_ms ? -1 : x->phase_ms > y->phase_ms;
}

/* Host, port and the redacted form of a URL url_check already accepted. */
static void target_init(pc__prx_scrape_t *s, target_t *t, const char *url) {
  t->s = s;
  t->url = pc_xstrdup(url);
  char buf[2048];
  t->shown = pc_xstrdup(pc_redact_url(url, buf, sizeof buf));
  CURLU *u = curl_url();
  if (!u) pc_oom();
  char *host = NULL, *port = NULL;
  curl_url_set(u, CURLUPART_URL, url, 0);
  curl_url_get(u, CURLUPART_HOST, &host, 0);
  curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  t->host = pc_xstrdup(host ? host : "");
  t->port = port ? strtoll(port, NULL, 10) : 0;
  size_t n = strlen(t->host) + 16;
  t->instance = pc_xmalloc(n);
  snprintf(t->instance, n, "%s:%" PRId64, t->host, t->port);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  t->phase_ms = pc_hash64(url, strlen(url)) % s->interval_ms;
}

static void log_failure(pc__prx_scrape_t *s, target_t *t, pc__prx_reason_t reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One scrape of t failed for reason: count, mark down, log as the file's
 * opening comment says. */
static void log_failure(pc__prx_scrape_t *s, target_t *t, pc__prx_reason_t reason,
                        const char *fmt, ...) {
  s->cnt.failed[reason]++;
  bool changed = t->streak == 0 || t->last_reason != reason;
  t->streak++;
  t->last_reason = (uint8_t)reason;
  t->tried = true;
  t->up = false;
  if (changed) t->rl = (pc_ratelimit_t){0};
  uint64_t mine, others;
  if (!pc_ratelimit(&t->rl, TARGET_LOG_MS, &mine)) return;
  if (!pc__prx_gate(&s->gate, &others)) return;
  char why[512], every[32], again[64] = "", sup[48];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  uint64_t ms = s->interval_ms;
  if (ms % 60000 == 0) snprintf(every, sizeof every, "%" PRIu64 "m", ms / 60000);
  else if (ms % 1000 == 0) snprintf(every, sizeof every, "%" PRIu64 "s", ms / 1000);
  else snprintf(every, sizeof every, "%" PRIu64 "ms", ms);
  if (t->streak > 1)
    snprintf(again, sizeof again, "; %" PRIu32 " failed in a row", t->streak);
  pc_log(s->rx->log_id, PC_LOG_WARN, "scrape of %s failed (%s): %s%s; next scrape in %s%s",
         t->shown, pc__prx_reason_name(reason), why, again, every, pc_suppressed(others, sup));
}

static void scrape_ok(pc__prx_scrape_t *s, target_t *t) {
  uint64_t skipped;
  if (t->streak && pc__prx_gate(&s->gate, &skipped)) {
    char sup[48];
    pc_log(s->rx->log_id, PC_LOG_INFO, "scrape of %s succeeds again after %" PRIu32
           " failed%s", t->shown, t->streak, pc_suppressed(skipped, sup));
  }
  t->streak = 0;
  t->tried = t->up = true;
  t->rl = (pc_ratelimit_t){0};
}

/* ---- slots (easy handles) ------------------------------------------------------------ */

static size_t slot_on_body(char *p, size_t size, size_t n, void *ud) {
  slot_t *sl = ud;
  size_t len = size * n;
  if (sl->body.n + len > sl->s->max_body) {
    sl->too_large = true;
    return 0; /* libcurl stops: CURLE_WRITE_ERROR */
  }
  if (pc_buf_append(&sl->body, p, len) != 0) return 0;
  return len;
}

static void slot_on_done(pc_curl_xfer_t *x, CURLcode rc);

static slot_t *slot_get(pc__prx_scrape_t *s) {
  slot_t *sl = s->free_slots;
  if (sl) {
    s->free_slots = sl->next;
    s->n_free_slots--;
  } else {
    sl = pc_xcalloc(1, sizeof *sl);
    sl->s = s;
    char why[128]; /* fails only out of memory: libcurl's set-up is OpenSSL's allocations */
    if (!(sl->xfer.easy = pc_curl_easy(s->curl, why, sizeof why))) pc_oom();
    sl->xfer.done = slot_on_done;
    CURL *e = sl->xfer.easy;
    /* What every scrape of this receiver shares, set once per handle. */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, slot_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sl);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->timeout_ms < CONNECT_TIMEOUT_MS ? s->timeout_ms
                                                               : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "profcol");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* A Content-Length above the limit fails before a byte is read. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max_body);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, s->ssl_version);
    if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (s->cert_file) {
      curl_easy_setopt(e, CURLOPT_SSLCERT, s->cert_file);
      curl_easy_setopt(e, CURLOPT_SSLKEY, s->key_file);
    }
    if (s->skip_verify) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (s->slist) curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->slist);
  }
  sl->prev = NULL;
  sl->next = s->busy;
  if (s->busy) s->busy->prev = sl;
  s->busy = sl;
  return sl;
}

static void slot_free(slot_t *sl) {
  curl_easy_cleanup(sl->xfer.easy);
  pc_buf_free(&sl->body);
  free(sl);
}

static void slot_put(pc__prx_scrape_t *s, slot_t *sl) {
  if (sl->prev) sl->prev->next = sl->next;
  else s->busy = sl->next;
  if (sl->next) sl->next->prev = sl->prev;
  sl->t = NULL;
  sl->too_large = false;
  sl->errbuf[0] = 0;
  sl->body.n = 0;
  if (sl->body.cap > ((size_t)1 << 20)) pc_buf_free(&sl->body);
  if (s->n_free_slots >= SPARE_SLOTS || s->closing) {
    slot_free(sl);
    return;
  }
  sl->next = s->free_slots;
  s->free_slots = sl;
  s->n_free_slots++;
}

/* ---- scraping ------------------------------------------------------------------------ */

static void scrape_start(pc__prx_scrape_t *s, target_t *t);
static void check_closed(pc__prx_scrape_t *s);

/* t is done (scraped and converted, failed, or cancelled): the next waiting
 * target may go. */
static void target_idle(pc__prx_scrape_t *s, target_t *t) {
  t->state = T_IDLE;
  s->running--;
  if (s->closing) {
    check_closed(s);
    return;
  }
  while (s->wait_head && s->running < s->max_concurrent) {
    target_t *w = s->wait_head;
    s->wait_head = w->next_wait;
    if (!s->wait_head) s->wait_tail = NULL;
    w->next_wait = NULL;
    scrape_start(s, w);
  }
}

static void on_converted(pc__prx_job_t *j, void *origin) {
  target_t *t = origin;
  pc__prx_scrape_t *s = t->s;
  if (j->failed == PC__PRX_OK) {
    scrape_ok(s, t);
  } else if (j->failed == PC__PRX_FAILED_CONSUME) {
    log_failure(s, t, PC__PRX_REFUSED, "the pipeline refused its %" PRIu64 " profiles: %s",
                j->profiles, pc__prx_job_why(j));
  } else if (j->rc == PC_ELIMIT) {
    log_failure(s, t, PC__PRX_TOO_LARGE, "its gzip'd body inflates past max_body_size (%"
                PRIu64 " bytes)", s->max_body);
  } else {
    log_failure(s, t, PC__PRX_BAD_PAYLOAD, "the %zu bytes it answered are not a pprof "
                "profile: %s", j->in_n, pc__prx_job_why(j));
  }
  pc__prx_job_put(j);
  target_idle(s, t);
}

/* The transfer is over: a body to convert, or a failure. */
static void slot_on_done(pc_curl_xfer_t *x, CURLcode rc) {
  slot_t *sl = container_of(x, slot_t, xfer);
  pc__prx_scrape_t *s = sl->s;
  target_t *t = sl->t;
  long status = 0;
  curl_easy_getinfo(sl->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
  const char *why = sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(rc);
  char tmo[32];
  if (rc == CURLE_OK && status == 200) {
    pc__prx_job_t *j = pc__prx_job_get(s->rx);
    pc_buf_t spare = j->own; /* swap buffers: each side keeps a grown one */
    j->own = sl->body;
    sl->body = spare;
    sl->body.n = 0;
    j->in = j->own.p;
    j->in_n = j->own.n;
    j->limit = (size_t)s->max_body;
    j->scope_name = SCOPE_NAME;
    j->cnt = &s->cnt;
    j->done = on_converted;
    j->origin = t;
    pc__prx_job_attr_str(j, "service.instance.id",
                         (pc_str_t){(const uint8_t *)t->instance, strlen(t->instance)});
    pc__prx_job_attr_str(j, "server.address",
                         (pc_str_t){(const uint8_t *)t->host, strlen(t->host)});
    pc__prx_job_attr_int(j, "server.port", t->port);
    pc__prx_job_attr_str(j, "url.full", (pc_str_t){(const uint8_t *)t->shown, strlen(t->shown)});
    slot_put(s, sl);
    pc__prx_job_run(j);
    return;
  }
  if (rc == CURLE_OK)
    log_failure(s, t, PC__PRX_HTTP_STATUS, "answered %ld %s", status,
                pc_http_reason((int)status));
  else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY)
    log_failure(s, t, PC__PRX_DOWN, "%s", why);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    log_failure(s, t, PC__PRX_TIMEOUT, "no whole answer within timeout %s (%s)",
                s->timeout_ms % 1000 ? (snprintf(tmo, sizeof tmo, "%" PRIu64 "ms",
                                                 s->timeout_ms), tmo)
                                     : (snprintf(tmo, sizeof tmo, "%" PRIu64 "s",
                                                 s->timeout_ms / 1000), tmo), why);
  else if (sl->too_large || rc == CURLE_FILESIZE_EXCEEDED)
    log_failure(s, t, PC__PRX_TOO_LARGE, "its body passes max_body_size (%" PRIu64 " bytes)",
                s->max_body);
  else
    log_failure(s, t, PC__PRX_TRANSPORT, "%s", why);
  slot_put(s, sl);
  target_idle(s, t);
}

static void scrape_start(pc__prx_scrape_t *s, target_t *t) {
  t->state = T_RUNNING;
  s->running++;
  s->cnt.attempts++;
  slot_t *sl = slot_get(s);
  sl->t = t;
  curl_easy_setopt(sl->xfer.easy, CURLOPT_URL, t->url);
  char why[256];
  if (pc_curl_add(s->curl, &sl->xfer, why, sizeof why) != 0) {
    log_failure(s, t, PC__PRX_TRANSPORT, "libcurl could not start it: %s", why);
    slot_put(s, sl);
    target_idle(s, t);
  }
}

/* t is due. */
static void target_due(pc__prx_scrape_t *s, target_t *t) {
  if (t->state != T_IDLE) {
    s->cnt.skipped++;
    uint64_t skipped;
    if (pc_ratelimit(&s->rl_skip, SKIP_LOG_MS, &skipped)) {
      char sup[48];
      pc_log(s->rx->log_id, PC_LOG_WARN, "scrape of %s skipped: its previous scrape is "
             "still %s (%u of max_concurrent_scrapes %u in flight); raise "
             "max_concurrent_scrapes or collection_interval%s", t->shown,
             t->state == T_WAITING ? "waiting for a free slot" : "running", s->running,
             s->max_concurrent, pc_suppressed(skipped, sup));
    }
    return;
  }
  if (s->running < s->max_concurrent) {
    scrape_start(s, t);
    return;
  }
  t->state = T_WAITING;
  if (s->wait_tail) s->wait_tail->next_wait = t;
  else s->wait_head = t;
  s->wait_tail = t;
}

static void timer_on_tick(uv_timer_t *h);

static void timer_arm(pc__prx_scrape_t *s) {
  if (s->closing || s->n == 0) return;
  uint64_t now = uv_now(s->loop);
  uint64_t due = s->cycle_start + s->order[s->cursor]->phase_ms;
  uv_timer_start(&s->timer, timer_on_tick, due > now ? due - now : 0, 0);
}

static void timer_on_tick(uv_timer_t *h) {
  pc__prx_scrape_t *s = container_of(h, pc__prx_scrape_t, timer);
  uint64_t now = uv_now(s->loop);
  for (int budget = FIRE_BUDGET; budget > 0 && !s->closing; budget--) {
    uint64_t due = s->cycle_start + s->order[s->cursor]->phase_ms;
    if (due > now) break;
    if (now - due >= s->interval_ms) /* the loop stalled: skip the missed cycles */
      s->cycle_start += (now - due) / s->interval_ms * s->interval_ms;
    target_due(s, s->order[s->cursor]);
    if (++s->cursor == s->n) {
      s->cursor = 0;
      s->cycle_start += s->interval_ms;
    }
  }
  timer_arm(s);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

pc__prx_scrape_t *pc__prx_scrape_new(pc__prx_t *rx, const pc__prx_remote_cfg_t *cfg,
                                     pc_err_t *err) {
  const pc_cfg_node_t *tls = pc_cfg_get(cfg->node, "tls");
  long ssl = CURL_SSLVERSION_TLSv1_2;
  if (cfg->tls_min_version && !strcmp(cfg->tls_min_version, "1.3")) {
    ssl = CURL_SSLVERSION_TLSv1_3;
  } else if (cfg->tls_min_version && strcmp(cfg->tls_min_version, "1.2") != 0) {
    pc_cfg_error(err, pc_cfg_get(tls, "min_version"), PC_EINVAL, "must be 1.2 or 1.3");
    return NULL;
  }
  bool cert = cfg->tls_cert_file && cfg->tls_cert_file[0];
  bool key = cfg->tls_key_file && cfg->tls_key_file[0];
  if (cert != key) {
    pc_cfg_error(err, pc_cfg_get(tls, cert ? "cert_file" : "key_file"), PC_EINVAL,
                 "%s is set but %s is not: a client certificate needs both",
                 cert ? "cert_file" : "key_file", cert ? "key_file" : "cert_file");
    return NULL;
  }
  const pc_cfg_node_t *h = cfg->headers;
  for (size_t i = 0; h && h->type == PC_CFG_MAP && i < h->n_entries; i++) {
    const char *k = h->entries[i].key, *v = h->entries[i].value->text;
    if (!k[0] || !pc_http_is_token(k, strlen(k))) {
      pc_cfg_key_error(err, h->entries[i].value, PC_EINVAL, "\"%s\" is not a header name", k);
      return NULL;
    }
    if (v && strpbrk(v, "\r\n")) {
      pc_cfg_error(err, h->entries[i].value, PC_EINVAL, "a header value cannot hold line "
                   "breaks");
      return NULL;
    }
  }
  pc__prx_scrape_t *s = pc_xcalloc(1, sizeof *s);
  s->rx = rx;
  s->interval_ms = cfg->interval_ms;
  s->delay_ms = cfg->initial_delay_ms;
  s->timeout_ms = cfg->timeout_ms;
  s->max_body = cfg->max_body;
  s->max_concurrent = (unsigned)cfg->max_concurrent;
  s->skip_verify = cfg->tls_skip_verify;
  s->ssl_version = ssl;
  s->ca_file = cfg->tls_ca_file ? pc_xstrdup(cfg->tls_ca_file) : NULL;
  s->cert_file = cert ? pc_xstrdup(cfg->tls_cert_file) : NULL;
  s->key_file = key ? pc_xstrdup(cfg->tls_key_file) : NULL;
  s->auth_ref = cfg->auth_ref;
  for (size_t i = 0; h && h->type == PC_CFG_MAP && i < h->n_entries; i++) {
    const char *k = h->entries[i].key, *v = h->entries[i].value->text;
    pc_headers_add(&s->headers, k, strlen(k), v ? v : "", v ? strlen(v) : 0);
  }
  s->n = cfg->n_urls;
  s->targets = pc_xcalloc(s->n, sizeof *s->targets);
  s->order = pc_xcalloc(s->n, sizeof *s->order);
  for (size_t i = 0; i < s->n; i++) {
    target_init(s, &s->targets[i], cfg->urls[i]);
    s->order[i] = &s->targets[i];
  }
  qsort(s->order, s->n, sizeof *s->order, by_phase);
  return s;
}

int pc__prx_scrape_resolve(pc__prx_scrape_t *s, const pc_host_t *host, pc_err_t *err) {
  if (pc_ref_set(&s->auth_ref) &&
      !(s->auth = pc_host_find(host, &s->auth_ref, PC_ROLE_CLIENT_AUTH, err)))
    return err->code;
  return 0;
}

/* Headers every scrape sends: the config's, edited by the authenticator. */
static int build_headers(pc__prx_scrape_t *s, pc_err_t *err) {
  pc_headers_t h = {0};
  for (size_t i = 0; i < s->headers.n; i++) {
    const char *line = s->headers.v[i], *colon = strchr(line, ':');
    pc_headers_add(&h, line, (size_t)(colon - line), colon + 2, strlen(colon + 2));
  }
  if (s->auth && s->auth->apply(s->auth, NULL, &h, err) != 0) {
    pc_headers_free(&h);
    return err->code ? err->code : PC_EINVAL;
  }
  for (size_t i = 0; i < h.n; i++)
    if (!(s->slist = curl_slist_append(s->slist, h.v[i]))) pc_oom();
  pc_headers_free(&h);
  return 0;
}

int pc__prx_scrape_start(pc__prx_scrape_t *s, uv_loop_t *loop, pc_err_t *err) {
  s->loop = loop;
  if (pc_ref_set(&s->auth_ref) && !s->auth) { /* never resolved: as if nothing is there */
    pc_host_find(NULL, &s->auth_ref, PC_ROLE_CLIENT_AUTH, err);
    return err->code;
  }
  int rc = build_headers(s, err);
  if (rc) return rc;
  if ((rc = pc_curl_open(loop, (long)s->max_concurrent, true, &s->curl, err))) return rc;
  pc_curl_start(s->curl);
  uv_timer_init(loop, &s->timer);
  s->timer_open = true;
  s->cycle_start = uv_now(loop) + s->delay_ms;
  s->cursor = 0;
  timer_arm(s);
  char every[32] = "";
  uint64_t ms = s->interval_ms;
  snprintf(every, sizeof every, ms % 1000 ? "%" PRIu64 "ms" : "%" PRIu64 "s",
           ms % 1000 ? ms : ms / 1000);
  if (s->n == 1)
    pc_log(s->rx->log_id, PC_LOG_INFO, "scraping %s every %s (first in %" PRIu64 " ms)",
           s->targets[0].shown, every, s->delay_ms + s->targets[0].phase_ms);
  else
    pc_log(s->rx->log_id, PC_LOG_INFO, "scraping %zu targets every %s, spread over the "
           "interval; at most %u at once", s->n, every, s->max_concurrent);
  return 0;
}

static void on_curl_closed(void *arg) {
  pc__prx_scrape_t *s = arg;
  s->curl = NULL;
  pc__prx_part_closed(s->rx);
}

static void on_timer_closed(uv_handle_t *h) {
  pc__prx_scrape_t *s = container_of(h, pc__prx_scrape_t, timer);
  s->timer_open = false;
  check_closed(s);
}

/* Everything stopped: close libcurl's handles, then tell pprof.c. */
static void check_closed(pc__prx_scrape_t *s) {
  if (!s->closing || s->timer_open || s->running || s->curl_closing) return;
  s->curl_closing = true;
  while (s->free_slots) { /* before the multi handle goes */
    slot_t *sl = s->free_slots;
    s->free_slots = sl->next;
    slot_free(sl);
  }
  s->n_free_slots = 0;
  pc_curl_close(s->curl, on_curl_closed, s);
}

void pc__prx_scrape_close(pc__prx_scrape_t *s) {
  s->closing = true;
  /* Waiting targets never started: nothing to cancel. */
  for (target_t *w = s->wait_head, *nx; w; w = nx) {
    nx = w->next_wait;
    w->next_wait = NULL;
    w->state = T_IDLE;
  }
  s->wait_head = s->wait_tail = NULL;
  /* Transfers in flight are cancelled (a pull loses nothing: the target
   * keeps its profile for the next scrape); conversions finish. */
  while (s->busy) {
    slot_t *sl = s->busy;
    target_t *t = sl->t;
    pc_curl_remove(s->curl, &sl->xfer);
    slot_put(s, sl);
    if (t) target_idle(s, t);
  }
  if (s->timer_open) {
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
  } else {
    check_closed(s);
  }
}

void pc__prx_scrape_free(pc__prx_scrape_t *s) {
  if (!s) return;
  while (s->free_slots) {
    slot_t *sl = s->free_slots;
    s->free_slots = sl->next;
    slot_free(sl);
  }
  if (s->curl) pc_curl_close(s->curl, NULL, NULL); /* created, never started */
  for (size_t i = 0; i < s->n; i++) {
    target_t *t = &s->targets[i];
    free(t->url);
    free(t->shown);
    free(t->host);
    free(t->instance);
  }
  free(s->targets);
  free(s->order);
  pc_headers_free(&s->headers);
  curl_slist_free_all(s->slist);
  free(s->ca_file);
  free(s->cert_file);
  free(s->key_file);
  free(s);
}

uint64_t pc__prx_scrape_phase(const pc__prx_scrape_t *s, size_t i) {
  return s->targets[i].phase_ms;
}

const pc__prx_counters_t *pc__prx_scrape_counters(const pc__prx_scrape_t *s) {
  return &s->cnt;
}

void pc__prx_scrape_metrics(pc__prx_scrape_t *s, pc_metrics_t *m) {
  pc__prx_counters_metrics(&s->cnt, "remote", m);
  size_t up = 0;
  for (size_t i = 0; i < s->n; i++) up += s->targets[i].up;
  pc_metrics_gauge(m, "profcol_receiver_pprof_targets", "Scrape targets configured.",
                   (double)s->n, NULL);
  pc_metrics_gauge(m, "profcol_receiver_pprof_targets_up",
                   "Targets whose last scrape succeeded.", (double)up, NULL);
  pc_metrics_gauge(m, "profcol_receiver_pprof_scrapes_in_flight",
                   "Targets being scraped or converted now.", (double)s->running, NULL);
  for (size_t i = 0; i < s->n; i++) {
    const target_t *t = &s->targets[i];
    if (t->tried)
      pc_metrics_gauge(m, "profcol_receiver_pprof_target_up",
                       "1 when the target's last scrape succeeded, 0 when it failed "
                       "(absent before its first).", t->up ? 1 : 0, "target", t->shown, NULL);
  }
}
