/* pprof.c - the pprof receiver (component type "pprof"): Go-style pprof
 * profiles into OTLP profiles, with the Collector contrib's pprofreceiver
 * config (modes remote, file, server; its self mode profiles a Go runtime,
 * which profcol does not have).
 *
 * This file holds the component (options, checks, lifecycle, counters) and
 * the one path every profile takes whatever brought it (pprofrx.h): a
 * conversion job. A job inflates its bytes (HTTP Content-Encoding, then the
 * pprof's own gzip, each bounded by the mode's size limit), decodes the
 * pprof and converts it into a batch builder (pdata/pprof.h: one dictionary
 * per request), then, on the loop, sets the resource attributes and scope
 * its origin asked for and hands the request to the pipeline. Input of at
 * most INLINE_MAX bytes, as received and as its gzip trailer announces it
 * inflated, is done on the loop; larger input in libuv's thread pool, so a
 * large heap profile does not stall the other targets and connections of
 * the loop, at most as many at once as the pool has threads (the others
 * wait in the receiver's queue). What a conversion works in (arena,
 * inflate buffers, builder) is a job's only while it converts, and is kept
 * for the next one (SPARE_JOBS of them), as the OTLP receiver keeps its
 * decode arenas.
 *
 * Workers (service.workers): the remote and file modes run in worker 0
 * only (pprof_start), the server mode in every worker.
 *
 * Shutdown: the modes stop taking work (timers stopped, scrapes in flight
 * cancelled, the server closed) and done is called once every mode is
 * closed and every job handed out came back: a job in the thread pool
 * cannot be stopped, and what it converts still goes to the pipeline,
 * which drains after the receivers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../component/curl_dl.h"
#include "internal.h"
#include "pprofrx.h"

/* Input this small (as received, and as its gzip trailer says it
 * inflates) is converted on the loop: a thread-pool round trip costs
 * about as much as converting 10 KB of pprof (bench/README.md:
 * conversion runs at 130-350 MB/CPU-s, so 32 KB is at most a quarter of a
 * millisecond). */
#define INLINE_MAX ((size_t)32 << 10)
#define INLINE_INFLATED_MAX ((size_t)128 << 10)
/* Finished jobs and conversion states kept for reuse, and what of theirs
 * is worth keeping. A spare conversion state holds megabytes (the arena's
 * and the builder's kept blocks, the inflate buffers), so only jobs that
 * convert hold one: jobs waiting for the thread pool (hundreds, when
 * scrapes arrive faster than the pool converts) hold their input alone. */
#define SPARE_JOBS 4
#define SPARE_BUF_CAP ((size_t)1 << 20)
#define SPARE_BUILDER_MEM ((size_t)8 << 20)
/* A decoded pprof takes up to this many times its bytes of arena (packed
 * ids and values widen to 8 bytes), at least ARENA_MIN. */
#define ARENA_FACTOR 16
#define ARENA_MIN ((size_t)16 << 20)
#define ARENA_KEEP ((size_t)1 << 20)

/* ---- options ------------------------------------------------------------------------- */

typedef struct {
  /* remote */
  char *r_endpoint;
  const pc_cfg_node_t *r_endpoints, *r_paths, *r_headers;
  uint64_t r_interval, r_delay, r_timeout, r_max_body;
  int64_t r_max_concurrent;
  bool r_skip_verify;
  char *r_ca_file, *r_cert_file, *r_key_file, *r_min_version;
  char *r_authenticator;
  /* file */
  char *f_include;
  uint64_t f_interval, f_delay, f_timeout, f_max_size;
  bool f_reread;
  /* server */
  char *s_endpoint;
  uint64_t s_max_body, s_max_buffered;
  bool s_include_metadata, s_pyroscope, s_keepalive;
  char *s_authenticator;
  pc_tls_files_t s_tls;
  uint64_t s_rht, s_idle, s_rbt, s_min_rate, s_rt, s_wt;
  int64_t s_max_conn;
  /* self */
  const pc_cfg_node_t *self;
} cfg_t;

static const pc_opt_t remote_tls_opts[] = {
    PC_OPT_BOOLEAN("insecure_skip_verify", "false", cfg_t, r_skip_verify,
                   "https targets: do not check the server's certificate"),
    PC_OPT_STR("ca_file", NULL, cfg_t, r_ca_file, "PEM CAs to check https targets with "
               "(default: the system's)"),
    PC_OPT_STR("cert_file", NULL, cfg_t, r_cert_file,
               "PEM client certificate for targets that ask for one; needs key_file"),
    PC_OPT_STR("key_file", NULL, cfg_t, r_key_file, "PEM private key of cert_file"),
    PC_OPT_STR("min_version", "1.2", cfg_t, r_min_version, "oldest TLS version: 1.2 or 1.3"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t remote_auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, cfg_t, r_authenticator,
               "id of an extension that sets client headers (headers_setter) for every "
               "scrape"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t remote_opts[] = {
    PC_OPT_STR("endpoint", NULL, cfg_t, r_endpoint,
               "URL of a pprof handler to scrape, e.g. "
               "http://host:6060/debug/pprof/profile?seconds=10"),
    PC_OPT_ANY("endpoints", cfg_t, r_endpoints,
               "profcol's own: list of more URLs to scrape alike (one target each, on the "
               "same schedule)"),
    PC_OPT_ANY("paths", cfg_t, r_paths,
               "profcol's own: list of paths, e.g. [/debug/pprof/profile?seconds=10, "
               "/debug/pprof/heap]; when set, each endpoint is a base URL and every path of "
               "it is a target"),
    PC_OPT_DUR("collection_interval", "1m", cfg_t, r_interval, 10, 86400000,
               "how often each target is scraped; targets are spread over the interval "
               "by a hash of their URL, so many do not scrape in the same second"),
    PC_OPT_DUR("initial_delay", "1s", cfg_t, r_delay, 0, 86400000,
               "wait this long after start before the first interval begins"),
    PC_OPT_DUR("timeout", "0s", cfg_t, r_timeout, 0, 86400000,
               "most a scrape may take, connect to last byte (0s: collection_interval); "
               "must be longer than a CPU profile's seconds"),
    PC_OPT_HEADERS("headers", cfg_t, r_headers, "HTTP headers sent with every scrape"),
    PC_OPT_SECTION("tls", remote_tls_opts, "TLS for https:// targets"),
    PC_OPT_SECTION("auth", remote_auth_opts, "client authentication: headers from an "
                   "extension"),
    PC_OPT_BYTES("max_body_size", "16MiB", cfg_t, r_max_body, 1, (int64_t)1 << 32,
                 "profcol's own: largest profile a target may answer, as sent and after "
                 "gunzip (a bigger one fails as too_large)"),
    PC_OPT_INT_RANGE("max_concurrent_scrapes", "256", cfg_t, r_max_concurrent, 1, 100000,
                     "profcol's own: scrapes in flight at once; a due target waits for a "
                     "free one, and is skipped when due again still waiting"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t file_opts[] = {
    PC_OPT_STR("include", NULL, cfg_t, f_include,
               "glob of pprof files to read, e.g. /tmp/pprof/*.pb.gz (glob(7): *, ?, "
               "[...]; a /**/ component matches any depth of directories, links not "
               "followed)"),
    PC_OPT_DUR("collection_interval", "1m", cfg_t, f_interval, 10, 86400000,
               "how often the glob is matched and files are read"),
    PC_OPT_DUR("initial_delay", "1s", cfg_t, f_delay, 0, 86400000,
               "wait this long after start before the first pass"),
    PC_OPT_DUR("timeout", "0s", cfg_t, f_timeout, 0, 86400000,
               "most a pass may take; files not read by then wait for the next pass "
               "(0s: no limit)"),
    PC_OPT_BYTES("max_file_size", "64MiB", cfg_t, f_max_size, 1, (int64_t)1 << 32,
                 "profcol's own: largest file, as stored and after gunzip (bigger ones "
                 "are skipped and counted)"),
    PC_OPT_BOOLEAN("reread_unchanged", "false", cfg_t, f_reread,
                   "profcol's own: true reads every match at every pass, as the "
                   "Collector contrib does; false only files new or changed (size, "
                   "mtime, inode) since they were last read"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t server_tls_opts[] = {
    PC_SERVER_TLS_OPTS(cfg_t, s_tls),
    PC_OPT_TABLE_END,
};

static const pc_opt_t server_auth_opts[] = {
    PC_OPT_STR("authenticator", NULL, cfg_t, s_authenticator,
               "id of a bearertokenauth extension: requests without its token get 401"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t server_opts[] = {
    PC_OPT_ADDR("endpoint", "localhost:4040", cfg_t, s_endpoint,
                "host:port to listen on (4040: Pyroscope's port, where its SDKs push)"),
    PC_OPT_SECTION("tls", server_tls_opts, "serve HTTPS instead of cleartext"),
    PC_OPT_SECTION("auth", server_auth_opts, "who may push"),
    PC_OPT_BYTES("max_request_body_size", "64MiB", cfg_t, s_max_body, 1, (int64_t)1 << 32,
                 "largest request body, as sent and after each decompression (413 "
                 "beyond)"),
    PC_OPT_BYTES("max_buffered_bytes", "512MiB", cfg_t, s_max_buffered, 1, (int64_t)1 << 40,
                 "request bodies held in memory at once over all connections; a body "
                 "that would pass it gets 503 and Retry-After"),
    PC_OPT_BOOLEAN("include_metadata", "false", cfg_t, s_include_metadata,
                   "pass the request's headers down the pipeline as client metadata "
                   "(X-Scope-OrgID for the batch processor's metadata_keys)"),
    PC_OPT_BOOLEAN("pyroscope_ingest", "true", cfg_t, s_pyroscope,
                   "profcol's own: also take the Pyroscope SDKs' push API, POST /ingest "
                   "(and /pyroscope/ingest) with pprof bodies"),
    PC_OPT_DUR("read_header_timeout", "10s", cfg_t, s_rht, 1, 86400000,
               "time from a connection or a request's first byte to the end of its "
               "headers"),
    PC_OPT_DUR("idle_timeout", "60s", cfg_t, s_idle, 1, 86400000,
               "how long a keep-alive connection may wait for its next request"),
    PC_OPT_DUR("read_body_timeout", "10s", cfg_t, s_rbt, 1, 86400000,
               "window over which min_body_rate is measured"),
    PC_OPT_BYTES("min_body_rate", "1KiB", cfg_t, s_min_rate, 0, (int64_t)1 << 40,
                 "bytes per second a request body must keep up"),
    PC_OPT_DUR("read_timeout", "0s", cfg_t, s_rt, 0, 86400000,
               "time from a request's first byte to its last (0s: none)"),
    PC_OPT_DUR("write_timeout", "30s", cfg_t, s_wt, 1, 86400000,
               "time a client has to take an answer"),
    PC_OPT_BOOLEAN("keepalives_enabled", "true", cfg_t, s_keepalive,
                   "keep connections open for more requests"),
    PC_OPT_INT_RANGE("max_connections", "1024", cfg_t, s_max_conn, 1, 1000000,
                     "open connections at most"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t pprof_opts[] = {
    PC_OPT_SECTION("remote", remote_opts,
                   "scrape pprof handlers (Go's net/http/pprof) on a schedule"),
    PC_OPT_SECTION("file", file_opts, "read pprof files matched by a glob on a schedule"),
    PC_OPT_SECTION("server", server_opts,
                   "take pushed profiles: POST /v1/pprof with a pprof body (204), and the "
                   "Pyroscope SDKs' /ingest (200)"),
    PC_OPT_ANY("self", cfg_t, self,
               "the Collector's self-profiling of its Go runtime: refused, profcol is not "
               "a Go program"),
    PC_OPT_TABLE_END,
};

/* ---- durations in messages ----------------------------------------------------------- */

/* "1m30s", "250ms", "2h": the config's own form. */
static const char *dur_text(uint64_t ms, char *buf, size_t cap) {
  if (ms == 0) {
    snprintf(buf, cap, "0s");
    return buf;
  }
  if (ms % 1000) {
    snprintf(buf, cap, ms < 1000 ? "%" PRIu64 "ms" : "%" PRIu64 ".%03" PRIu64 "s",
             ms < 1000 ? ms : ms / 1000, ms % 1000);
    return buf;
  }
  uint64_t s = ms / 1000, h = s / 3600, m = s / 60 % 60;
  size_t o = 0;
  if (h) o += (size_t)snprintf(buf + o, cap - o, "%" PRIu64 "h", h);
  if (m && o < cap) o += (size_t)snprintf(buf + o, cap - o, "%" PRIu64 "m", m);
  if ((s % 60 || !o) && o < cap) snprintf(buf + o, cap - o, "%" PRIu64 "s", s % 60);
  return buf;
}

/* ---- remote: the targets ------------------------------------------------------------- */

/* One URL checked with libcurl's own parser: http or https, a host, no
 * fragment. */
static int url_check(const char *url, const pc_cfg_node_t *at, pc_err_t *err) {
  char why[512];
  if (pc_curl_load(why, sizeof why)) return pc_cfg_error(err, at, PC_EIO, "%s", why);
  CURLU *u = curl_url();
  if (!u) pc_oom();
  char *scheme = NULL, *host = NULL;
  int rc = 0;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
    rc = pc_cfg_error(err, at, PC_EINVAL, "\"%s\" is not a URL with a host, e.g. "
                      "http://host:6060/debug/pprof/heap", url);
  else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
    rc = pc_cfg_error(err, at, PC_EINVAL, "\"%s\": the scheme must be http or https, not %s",
                      url, scheme);
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* The seconds a scrape of url takes at the target: Go's CPU profile
 * handler (/debug/pprof/profile) records for ?seconds=N, 30 without; the
 * other /debug/pprof/ handlers wait N seconds when asked for a delta. */
static uint64_t url_seconds(const char *url) {
  const char *q = strchr(url, '?');
  size_t path_n = q ? (size_t)(q - url) : strlen(url);
  const char *cpu = "/debug/pprof/profile";
  bool is_cpu = path_n >= strlen(cpu) && !strncmp(url + path_n - strlen(cpu), cpu, strlen(cpu));
  for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
    if (strncmp(p + 1, "seconds=", 8) == 0) {
      char *end;
      unsigned long long v = strtoull(p + 9, &end, 10);
      if (end != p + 9) return v;
    }
  }
  return is_cpu ? 30 : 0;
}

/* endpoint + endpoints (x paths) into urls; each checked where it was
 * written. */
static int remote_urls(const cfg_t *c, const pc_cfg_node_t *remote, pc__prx_remote_cfg_t *rc,
                       pc_err_t *err) {
  const pc_cfg_node_t *eps = c->r_endpoints, *paths = c->r_paths;
  if (eps && eps->type != PC_CFG_NULL && eps->type != PC_CFG_SEQ)
    return pc_cfg_error(err, eps, PC_EINVAL, "must be a list of URLs");
  if (paths && paths->type != PC_CFG_NULL && paths->type != PC_CFG_SEQ)
    return pc_cfg_error(err, paths, PC_EINVAL, "must be a list of paths, e.g. "
                        "[/debug/pprof/profile?seconds=10, /debug/pprof/heap]");
  size_t n_eps = (c->r_endpoint ? 1 : 0) + (eps && eps->type == PC_CFG_SEQ ? eps->n_items : 0);
  size_t n_paths = paths && paths->type == PC_CFG_SEQ ? paths->n_items : 0;
  if (n_eps == 0)
    return pc_cfg_error(err, remote, PC_EINVAL, "remote.endpoint must be specified: the URL "
                        "of a pprof handler, e.g. http://host:6060/debug/pprof/heap (or "
                        "profcol's endpoints: a list of them)");
  if (paths && paths->type == PC_CFG_SEQ && n_paths == 0)
    return pc_cfg_error(err, paths, PC_EINVAL, "an empty list scrapes nothing; leave paths "
                        "out to scrape each endpoint as it is");
  for (size_t k = 0; k < n_paths; k++) {
    const pc_cfg_node_t *p = paths->items[k];
    if (p->type != PC_CFG_SCALAR || p->text[0] != '/' || strpbrk(p->text, " #"))
      return pc_cfg_error(err, p, PC_EINVAL, "must be a path starting with '/', e.g. "
                          "/debug/pprof/heap (a query may follow; no blanks or '#')");
  }
  size_t total = n_eps * (n_paths ? n_paths : 1);
  rc->urls = pc_xcalloc(total, sizeof *rc->urls);
  for (size_t e = 0; e < n_eps; e++) {
    const pc_cfg_node_t *at = c->r_endpoint && e == 0
                                  ? pc_cfg_get(remote, "endpoint")
                                  : eps->items[e - (c->r_endpoint ? 1 : 0)];
    const char *ep = c->r_endpoint && e == 0 ? c->r_endpoint : at->text;
    if (at && at->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, at, PC_EINVAL, "must be a URL");
    int r = url_check(ep, at, err);
    if (r) return r;
    if (n_paths && (strchr(ep, '?') || strchr(ep, '#')))
      return pc_cfg_error(err, at, PC_EINVAL, "\"%s\": with paths, an endpoint is a base "
                          "URL (scheme, host, port, maybe a path prefix) without a query",
                          ep);
    for (size_t k = 0; k < (n_paths ? n_paths : 1); k++) {
      char *url;
      if (n_paths) {
        size_t n = strlen(ep);
        while (n && ep[n - 1] == '/') n--; /* "http://h:6060/" + "/debug/..." */
        const char *p = paths->items[k]->text;
        url = pc_xmalloc(n + strlen(p) + 1);
        memcpy(url, ep, n);
        strcpy(url + n, p);
        /* A base URL without a path ("http://h:6060") is one with "/". */
        if ((r = url_check(url, paths->items[k], err))) {
          free(url);
          return r;
        }
      } else {
        url = pc_xstrdup(ep);
      }
      for (size_t i = 0; i < rc->n_urls; i++)
        if (!strcmp(rc->urls[i], url)) {
          r = pc_cfg_error(err, at, PC_EINVAL, "\"%s\" is scraped twice: it is already a "
                           "target", url);
          free(url);
          return r;
        }
      rc->urls[rc->n_urls++] = url;
    }
  }
  /* A scrape must end before the target is due again, and leave room for
   * the seconds a profile takes at the target. */
  char a[32], b[32];
  uint64_t timeout = c->r_timeout ? c->r_timeout : c->r_interval;
  const pc_cfg_node_t *tnode = pc_cfg_get(remote, "timeout");
  if (timeout > c->r_interval)
    return pc_cfg_error(err, tnode, PC_EINVAL, "timeout %s is longer than "
                        "collection_interval %s: a scrape would still run when its target "
                        "is due again", dur_text(timeout, a, sizeof a),
                        dur_text(c->r_interval, b, sizeof b));
  const pc_cfg_node_t *inode = pc_cfg_get(remote, "collection_interval");
  for (size_t i = 0; i < rc->n_urls; i++) {
    uint64_t s = url_seconds(rc->urls[i]);
    if (s && timeout <= s * 1000)
      return pc_cfg_error(err, tnode ? tnode : inode ? inode : remote, PC_EINVAL,
                          "%s takes %" PRIu64 " s%s: timeout, %s%s, must be longer",
                          rc->urls[i], s,
                          strstr(rc->urls[i], "seconds=") ? "" : " (Go's default)",
                          dur_text(timeout, a, sizeof a),
                          c->r_timeout ? "" : " (collection_interval)");
  }
  rc->timeout_ms = timeout;
  return 0;
}

static void remote_cfg_free(pc__prx_remote_cfg_t *rc) {
  for (size_t i = 0; i < rc->n_urls; i++) free(rc->urls[i]);
  free(rc->urls);
}

/* ---- the component ------------------------------------------------------------------- */

static void pprof_destroy(void *self);
static unsigned pool_threads(void);

static int check_remote(pc__prx_t *rx, const cfg_t *c, const pc_cfg_node_t *remote,
                        pc_err_t *err) {
  pc__prx_remote_cfg_t rc = {
      .node = remote,
      .interval_ms = c->r_interval,
      .initial_delay_ms = c->r_delay,
      .max_body = c->r_max_body,
      .max_concurrent = c->r_max_concurrent,
      .headers = c->r_headers,
      .tls_skip_verify = c->r_skip_verify,
      .tls_ca_file = c->r_ca_file,
      .tls_cert_file = c->r_cert_file,
      .tls_key_file = c->r_key_file,
      .tls_min_version = c->r_min_version,
  };
  int r = remote_urls(c, remote, &rc, err);
  if (!r && c->r_authenticator)
    pc_ref_init(&rc.auth_ref, c->r_authenticator,
                pc_cfg_get(pc_cfg_get(remote, "auth"), "authenticator"));
  if (!r && !(rx->scrape = pc__prx_scrape_new(rx, &rc, err))) r = err->code ? err->code : PC_EINVAL;
  remote_cfg_free(&rc);
  return r;
}

static int check_file(pc__prx_t *rx, const cfg_t *c, const pc_cfg_node_t *file, pc_err_t *err) {
  if (!c->f_include || !c->f_include[0])
    return pc_cfg_error(err, file, PC_EINVAL, "file.include must be specified: a glob of "
                        "pprof files, e.g. /tmp/pprof/*.pb.gz");
  pc__prx_file_cfg_t fc = {
      .node = file,
      .include = c->f_include,
      .interval_ms = c->f_interval,
      .initial_delay_ms = c->f_delay,
      .timeout_ms = c->f_timeout,
      .max_size = c->f_max_size,
      .reread_unchanged = c->f_reread,
  };
  if (!(rx->files = pc__prx_files_new(rx, &fc, err))) return err->code ? err->code : PC_EINVAL;
  return 0;
}

static int check_server(pc__prx_t *rx, const cfg_t *c, const pc_cfg_node_t *server,
                        pc_err_t *err) {
  if (c->s_authenticator && !pc_id_has_type(c->s_authenticator, "bearertokenauth"))
    return pc_cfg_error(err, pc_cfg_get(pc_cfg_get(server, "auth"), "authenticator"),
                        PC_EINVAL, "\"%s\" is not a bearertokenauth extension, the "
                        "authenticator profcol's receivers take", c->s_authenticator);
  pc__prx_server_cfg_t sc = {
      .node = server,
      .endpoint = c->s_endpoint,
      .max_request_body_size = c->s_max_body,
      .max_buffered_bytes = c->s_max_buffered,
      .include_metadata = c->s_include_metadata,
      .pyroscope = c->s_pyroscope,
      .authenticator = c->s_authenticator,
      .tls = c->s_tls,
      .read_header_timeout = c->s_rht,
      .idle_timeout = c->s_idle,
      .read_body_timeout = c->s_rbt,
      .min_body_rate = c->s_min_rate,
      .read_timeout = c->s_rt,
      .write_timeout = c->s_wt,
      .keepalives_enabled = c->s_keepalive,
      .max_connections = c->s_max_conn,
  };
  if (!(rx->server = pc__prx_server_new(rx, &sc, err))) return err->code ? err->code : PC_EINVAL;
  return 0;
}

static void *pprof_create(const pc_create_args_t *args, pc_err_t *err) {
  cfg_t c = {0};
  if (pc_cfg_apply(pprof_opts, args->cfg, &c, err) != 0) return NULL;
  const pc_cfg_node_t *remote = pc_cfg_get(args->cfg, "remote");
  const pc_cfg_node_t *file = pc_cfg_get(args->cfg, "file");
  const pc_cfg_node_t *server = pc_cfg_get(args->cfg, "server");
  const pc_cfg_node_t *self = pc_cfg_get(args->cfg, "self");
  if (self) {
    pc_cfg_key_error(err, self, PC_EINVAL, "self profiles the Collector's own Go runtime; "
                     "profcol is not a Go program and has none (scrape Go programs with "
                     "remote instead)");
    return NULL;
  }
  if (!remote && !file && !server) {
    /* A receiver written without a map ("pprof:") has no node to point at. */
    if (args->cfg)
      pc_cfg_error(err, args->cfg, PC_EINVAL, "at least one of remote, file or server must be "
                   "configured");
    else
      pc_err_set(err, PC_EINVAL, "receivers.%s: at least one of remote, file or server must "
                 "be configured", args->id);
    return NULL;
  }
  if (!args->next || !args->next->consume_profiles) {
    pc_err_set(err, PC_EINVAL, "%s: no pipeline to send profiles to", args->id);
    return NULL;
  }
  pc__prx_t *rx = pc_xcalloc(1, sizeof *rx);
  rx->id = pc_xstrdup(args->id);
  size_t n = strlen(args->id) + sizeof "receiver:";
  rx->log_id = pc_xmalloc(n);
  snprintf(rx->log_id, n, "receiver:%s", args->id);
  rx->next = args->next;
  rx->max_converting = pool_threads();
  /* Every mode is checked, so that validate reports all their problems. */
  int bad = 0;
  if (remote && check_remote(rx, &c, remote, err)) bad = 1;
  if (file && (!bad || pc_cfg_collecting()) && check_file(rx, &c, file, err)) bad = 1;
  if (server && (!bad || pc_cfg_collecting()) && check_server(rx, &c, server, err)) bad = 1;
  if (bad) {
    pprof_destroy(rx);
    return NULL;
  }
  return rx;
}

static int pprof_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  pc__prx_t *rx = self;
  int rc = rx->scrape ? pc__prx_scrape_resolve(rx->scrape, host, err) : 0;
  if (!rc && rx->server) rc = pc__prx_server_resolve(rx->server, host, err);
  return rc;
}

static int pprof_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  pc__prx_t *rx = self;
  rx->loop = loop;
  /* The remote and file modes run on a schedule, not on what the kernel
   * hands a worker: in every worker each target would be scraped and each
   * file read service.workers times. They run in worker 0 alone; the
   * others drop them before they start (and so report no counters for
   * them: the summed metrics page counts each scrape once). The server
   * mode listens in every worker (SO_REUSEPORT), like any receiver. */
  pc_worker_t w = pc_worker_self();
  if (w.index != 0 && (rx->scrape || rx->files)) {
    pc__prx_scrape_free(rx->scrape);
    pc__prx_files_free(rx->files);
    rx->scrape = NULL;
    rx->files = NULL;
    pc_log(rx->log_id, PC_LOG_DEBUG, "worker %" PRIu32 " of %" PRIu32 ": the remote and file "
           "modes run in worker 0", w.index, w.count);
  }
  int rc = 0;
  if (rx->server) rc = pc__prx_server_start(rx->server, loop, err);
  if (!rc && rx->scrape) rc = pc__prx_scrape_start(rx->scrape, loop, err);
  if (!rc && rx->files) rc = pc__prx_files_start(rx->files, loop, err);
  if (rc) pc_log(rx->log_id, PC_LOG_ERROR, "%s", err->msg);
  return rc;
}

static void maybe_done(pc__prx_t *rx) {
  if (!rx->done || rx->closing_parts || rx->jobs_out) return;
  pc_done_cb done = rx->done;
  rx->done = NULL;
  done(rx->done_arg);
}

void pc__prx_part_closed(void *self) {
  pc__prx_t *rx = self;
  rx->closing_parts--;
  maybe_done(rx);
}

static void pprof_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  pc__prx_t *rx = self;
  if (rx->closing) { /* the second call waits for the same end */
    if (!rx->done) done(arg);
    return;
  }
  rx->closing = true;
  rx->done = done;
  rx->done_arg = arg;
  rx->closing_parts = 1; /* held while the parts are told, so none finishes it early */
  if (rx->scrape) {
    rx->closing_parts++;
    pc__prx_scrape_close(rx->scrape);
  }
  if (rx->files) {
    rx->closing_parts++;
    pc__prx_files_close(rx->files);
  }
  if (rx->server) {
    rx->closing_parts++;
    pc__prx_server_close(rx->server, deadline_ms);
  }
  pc__prx_part_closed(rx);
}

/* What a conversion works in: the inflate buffers, the decode arena and
 * the batch builder the OTLP request is made in. */
struct pc__prx_conv {
  pc_buf_t plain;    /* after HTTP decompression */
  pc_buf_t unpacked; /* after the pprof's gzip */
  pc_arena_t *arena;
  pc_builder_t *b;
  pc__prx_conv_t *next_free;
};

static void conv_free(pc__prx_conv_t *c) {
  pc_buf_free(&c->plain);
  pc_buf_free(&c->unpacked);
  pc_arena_free(c->arena);
  pc_builder_free(c->b);
  free(c);
}

static void job_free(pc__prx_job_t *j) {
  pc_buf_free(&j->own);
  pc_buf_free(&j->text);
  if (j->conv) conv_free(j->conv);
  free(j);
}

static void pprof_destroy(void *self) {
  pc__prx_t *rx = self;
  if (!rx) return;
  pc__prx_scrape_free(rx->scrape);
  pc__prx_files_free(rx->files);
  pc__prx_server_free(rx->server);
  while (rx->free_jobs) {
    pc__prx_job_t *j = rx->free_jobs;
    rx->free_jobs = j->next_free;
    job_free(j);
  }
  while (rx->free_convs) {
    pc__prx_conv_t *c = rx->free_convs;
    rx->free_convs = c->next_free;
    conv_free(c);
  }
  free(rx->log_id);
  free(rx->id);
  free(rx);
}

/* ---- counters ------------------------------------------------------------------------ */

const char *pc__prx_reason_name(pc__prx_reason_t r) {
  static const char *const names[] = {
#define PC__PRX_REASON_NAME(e, name, help) name,
      PC__PRX_REASONS(PC__PRX_REASON_NAME)
#undef PC__PRX_REASON_NAME
  };
  return (unsigned)r < PC__PRX_N_REASONS ? names[r] : "unknown";
}

void pc__prx_counters_metrics(const pc__prx_counters_t *c, const char *transport,
                              pc_metrics_t *m) {
#define C(name, help, v) \
  pc_metrics_counter(m, name, help, (double)(v), "transport", transport, NULL)
  C("otelcol_receiver_accepted_profiles",
    "Number of profiles successfully pushed into the pipeline.", c->profiles_accepted);
  C("otelcol_receiver_refused_profiles",
    "Number of profiles that could not be pushed into the pipeline.", c->profiles_refused);
  C("profcol_receiver_accepted_samples", "Samples of the accepted profiles.",
    c->samples_accepted);
  C("profcol_receiver_refused_samples", "Samples of the refused profiles.", c->samples_refused);
  C("profcol_receiver_pprof_attempts",
    "pprof profiles fetched or taken: scrapes started, files read, requests answered.",
    c->attempts);
  C("profcol_receiver_pprof_skipped_scrapes",
    "Scrapes skipped: the target was due while its previous scrape still ran or waited.",
    c->skipped);
  C("profcol_receiver_pprof_bytes", "pprof bytes as received.", c->bytes_in);
  C("profcol_receiver_decompressed_bytes", "pprof bytes after decompression.",
    c->bytes_decompressed);
#undef C
  static const char *const help =
      "pprof profiles that did not reach the pipeline, by reason: down, timeout, "
      "http_status, too_large, transport, bad_payload, refused, unreadable.";
  for (int r = 0; r < PC__PRX_N_REASONS; r++)
    pc_metrics_counter(m, "profcol_receiver_pprof_failures", help, (double)c->failed[r],
                       "transport", transport, "reason", pc__prx_reason_name(r), NULL);
}

static void pprof_metrics(void *self, pc_metrics_t *m) {
  pc__prx_t *rx = self;
  unsigned waiting = 0;
  for (const pc__prx_job_t *j = rx->wait_head; j; j = j->next_free) waiting++;
  static const char *const help = "Conversion jobs: in the thread pool (converting), "
                                  "waiting for it (waiting), handed out in all (out).";
  pc_metrics_gauge(m, "profcol_receiver_pprof_jobs", help, (double)rx->converting, "state",
                   "converting", NULL);
  pc_metrics_gauge(m, "profcol_receiver_pprof_jobs", help, (double)waiting, "state", "waiting",
                   NULL);
  pc_metrics_gauge(m, "profcol_receiver_pprof_jobs", help, (double)rx->jobs_out, "state", "out",
                   NULL);
  if (rx->scrape) pc__prx_scrape_metrics(rx->scrape, m);
  if (rx->files) pc__prx_files_metrics(rx->files, m);
  if (rx->server) pc__prx_server_metrics(rx->server, m);
}

/* ---- conversion jobs ----------------------------------------------------------------- */

pc__prx_job_t *pc__prx_job_get(pc__prx_t *rx) {
  pc__prx_job_t *j = rx->free_jobs;
  if (j) {
    rx->free_jobs = j->next_free;
    rx->n_free_jobs--;
    j->next_free = NULL;
  } else {
    j = pc_xcalloc(1, sizeof *j);
    j->rx = rx;
  }
  rx->jobs_out++;
  return j;
}

static void cap_bufs(pc_buf_t *const *bufs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (bufs[i]->cap > SPARE_BUF_CAP) pc_buf_free(bufs[i]);
    bufs[i]->n = 0;
  }
}

static void conv_give_back(pc__prx_job_t *j);

void pc__prx_job_put(pc__prx_job_t *j) {
  pc__prx_t *rx = j->rx;
  rx->jobs_out--;
  if (j->conv) conv_give_back(j); /* done gave it back already; stay safe */
  if (rx->n_free_jobs >= SPARE_JOBS || rx->closing) {
    job_free(j);
  } else {
    pc_buf_t *const bufs[] = {&j->own, &j->text};
    cap_bufs(bufs, 2);
    pc__prx_job_t keep_state = {.rx = rx, .own = j->own, .text = j->text,
                                .next_free = rx->free_jobs};
    *j = keep_state;
    rx->free_jobs = j;
    rx->n_free_jobs++;
  }
  maybe_done(rx);
}

/* A conversion state for j, spare or new; on the loop. */
static void conv_take(pc__prx_job_t *j) {
  pc__prx_t *rx = j->rx;
  pc__prx_conv_t *c = rx->free_convs;
  if (c) {
    rx->free_convs = c->next_free;
    rx->n_free_convs--;
    c->next_free = NULL;
  } else {
    c = pc_xcalloc(1, sizeof *c);
    c->arena = pc_arena_new(0);
    pc_arena_set_keep(c->arena, ARENA_KEEP);
    c->b = pc_builder_new();
  }
  j->conv = c;
}

/* j's conversion state back to the spares (or freed), once its request
 * went to the pipeline; on the loop. */
static void conv_give_back(pc__prx_job_t *j) {
  pc__prx_t *rx = j->rx;
  pc__prx_conv_t *c = j->conv;
  j->conv = NULL;
  if (rx->n_free_convs >= SPARE_JOBS || rx->closing ||
      pc_builder_mem(c->b) > SPARE_BUILDER_MEM) {
    conv_free(c);
    return;
  }
  pc_arena_reset(c->arena);
  pc_builder_reset(c->b);
  pc_buf_t *const bufs[] = {&c->plain, &c->unpacked};
  cap_bufs(bufs, 2);
  c->next_free = rx->free_convs;
  rx->free_convs = c;
  rx->n_free_convs++;
}

const char *pc__prx_job_why(const pc__prx_job_t *j) {
  return j->err.msg[0] ? j->err.msg : pc_strerror(j->rc);
}

void pc__prx_job_attr_str(pc__prx_job_t *j, const char *key, pc_str_t value) {
  if (j->n_attrs == PC__PRX_MAX_ATTRS) return;
  j->attrs[j->n_attrs++] = (pc_keyvalue_t){
      .key = {(const uint8_t *)key, strlen(key)},
      .has_value = true,
      .value = {.type = PC_AV_STRING, .u.s = value}};
}

void pc__prx_job_attr_int(pc__prx_job_t *j, const char *key, int64_t value) {
  if (j->n_attrs == PC__PRX_MAX_ATTRS) return;
  j->attrs[j->n_attrs++] = (pc_keyvalue_t){.key = {(const uint8_t *)key, strlen(key)},
                                           .has_value = true,
                                           .value = {.type = PC_AV_INT, .u.i = value}};
}

/* What Pyroscope's query says, where the profile says nothing. A period
 * from sampleRate is CPU time, as Pyroscope reads it: its type,
 * cpu/nanoseconds, is added to the string table (in arena). */
static void apply_fix(const pc__prx_fix_t *f, pc_arena_t *arena, pc_pprof_t *p) {
  /* Old Python, Ruby and Rust agents wrote microseconds or 0: what lies in
   * 1970 is no time (Pyroscope's own fixTime). */
  if (f->time_ns > 0 && p->time_nanos < 365LL * 86400 * 1000000000) p->time_nanos = f->time_ns;
  if (f->duration_ns > 0 && p->duration_nanos <= 0) p->duration_nanos = f->duration_ns;
  if (f->period_ns > 0 && p->period == 0 && !p->has_period_type) {
    pc_str_t *strings = pc_arena_alloc(arena, ((size_t)p->n_strings + 2) * sizeof *strings);
    if (!strings) return; /* the arena's limit: the profile goes without a period */
    memcpy(strings, p->strings, (size_t)p->n_strings * sizeof *strings);
    strings[p->n_strings] = PC_STR_LIT("cpu");
    strings[p->n_strings + 1] = PC_STR_LIT("nanoseconds");
    p->period_type = (pc_pprof_valuetype_t){p->n_strings, p->n_strings + 1};
    p->strings = strings;
    p->n_strings += 2;
    p->has_period_type = true;
    p->period = f->period_ns;
  }
}

/* Decompress (bounded), decode and convert; touches only the job. */
static void job_work(pc__prx_job_t *j) {
  pc__prx_conv_t *c = j->conv;
  const uint8_t *p = j->in;
  size_t n = j->in_n;
  if (j->enc != PC_ENC_IDENTITY) {
    j->rc = pc_decompress(j->enc, p, n, j->limit, &c->plain, &j->err);
    if (j->rc) {
      j->failed = PC__PRX_FAILED_DECOMPRESS;
      return;
    }
    p = c->plain.p, n = c->plain.n;
  }
  if (j->form_ct.n) {
    pc_str_t part;
    char why[256];
    if ((j->rc = pc__pyro_multipart(j->form_ct, (pc_str_t){p, n}, &part, why, sizeof why))) {
      pc_err_set(&j->err, j->rc, "%s", why);
      j->failed = PC__PRX_FAILED_FORM;
      return;
    }
    p = part.p, n = part.n;
  }
  pc_str_t plain;
  j->rc = pc_pprof_unpack(p, n, j->limit, &c->unpacked, &plain, &j->err);
  if (j->rc) {
    j->failed = PC__PRX_FAILED_UNPACK;
    return;
  }
  j->plain_n = plain.n;
  uint64_t lim = (uint64_t)plain.n * ARENA_FACTOR;
  pc_arena_set_limit(c->arena, lim < ARENA_MIN ? ARENA_MIN : (size_t)lim);
  pc_pprof_t prof;
  j->rc = pc_pprof_decode(c->arena, plain.p, plain.n, &prof, &j->err);
  if (!j->rc) {
    apply_fix(&j->fix, c->arena, &prof);
    j->rc = pc_pprof_to_otlp(&prof, c->arena, c->b, &j->err);
  }
  if (j->rc) j->failed = PC__PRX_FAILED_DECODE;
}

static void job_run_pool(uv_work_t *w) { job_work(container_of(w, pc__prx_job_t, work)); }

/* On the loop: the request, with its origin's resource and scope, to the
 * pipeline. */
static void job_finish(pc__prx_job_t *j) {
  pc__prx_counters_t *cnt = j->cnt;
  if (j->failed != PC__PRX_OK) return;
  cnt->bytes_decompressed += j->plain_n;
  pc_request_t *req = pc_builder_request(j->conv->b);
  for (uint32_t i = 0; i < req->n_resources; i++) {
    pc_resource_profiles_t *rp = &req->resources[i];
    rp->has_resource = j->n_attrs > 0;
    rp->resource.attributes = (pc_kvs_t){j->attrs, j->n_attrs};
    for (uint32_t k = 0; k < rp->n_scopes; k++)
      if (j->scope_name)
        rp->scopes[k].scope.name = (pc_str_t){(const uint8_t *)j->scope_name,
                                              strlen(j->scope_name)};
  }
  req->metadata = j->md;
  j->profiles = pc_request_profile_count(req);
  j->samples = pc_request_sample_count(req);
  pc__prx_t *rx = j->rx;
  j->rc = j->profiles ? rx->next->consume_profiles(rx->next, req, &j->err) : 0;
  if (j->rc) {
    j->failed = PC__PRX_FAILED_CONSUME;
    cnt->profiles_refused += j->profiles;
    cnt->samples_refused += j->samples;
  } else {
    cnt->profiles_accepted += j->profiles;
    cnt->samples_accepted += j->samples;
  }
}

static void job_start_pool(pc__prx_job_t *j);

static void job_done_pool(uv_work_t *w, int status) {
  pc__prx_job_t *j = container_of(w, pc__prx_job_t, work);
  pc__prx_t *rx = j->rx;
  rx->converting--;
  if (status < 0) { /* cancelled: only when the loop is torn down */
    j->rc = PC_EAGAIN;
    j->failed = PC__PRX_FAILED_DECODE;
    pc_err_set(&j->err, PC_EAGAIN, "conversion cancelled while shutting down");
  } else {
    job_finish(j);
  }
  conv_give_back(j);
  /* The next one starts with the state this one gave back, before this
   * one's origin runs. */
  if (rx->wait_head) {
    pc__prx_job_t *next = rx->wait_head;
    rx->wait_head = next->next_free;
    if (!rx->wait_head) rx->wait_tail = NULL;
    next->next_free = NULL;
    job_start_pool(next);
  }
  j->done(j, j->origin);
}

void pc__prx_job_run(pc__prx_job_t *j) {
  j->cnt->bytes_in += j->in_n;
  uint64_t announced = pc_announced_size(pc_encoding_sniff(j->in, j->in_n), j->in, j->in_n);
  if (j->enc == PC_ENC_IDENTITY && !j->form_ct.n && j->in_n <= INLINE_MAX &&
      announced <= INLINE_INFLATED_MAX) {
    conv_take(j);
    job_work(j);
    job_finish(j);
    conv_give_back(j);
    j->done(j, j->origin);
    return;
  }
  if (j->rx->converting >= j->rx->max_converting) {
    j->next_free = NULL; /* the queue's end (a pooled job still points into the pool) */
    if (j->rx->wait_tail) j->rx->wait_tail->next_free = j;
    else j->rx->wait_head = j;
    j->rx->wait_tail = j;
    return;
  }
  job_start_pool(j);
}

/* Jobs handed to the thread pool and not yet back on the loop
 * (rx->max_converting): as many as the pool has threads. A job holds a
 * conversion state (arena, builder: a few times the inflated pprof) from
 * when it is handed to the pool until its done callback ran on the loop,
 * and libuv's threads go on to the next queued job without waiting for
 * that callback, so without the bound a busy loop lets finished jobs pile
 * up holding theirs. The others wait in rx's queue holding their input
 * alone (bench/README.md: 1,000 targets of 73 KB profiles, about 250
 * waiting at a time on a loaded machine, in 21 MB). The pool's threads as
 * libuv reads them when it starts the pool (src/threadpool.c):
 * UV_THREADPOOL_SIZE, 4 when unset or 0, at most 1024. */
static unsigned pool_threads(void) {
  const char *v = getenv("UV_THREADPOOL_SIZE");
  unsigned long n = v ? strtoul(v, NULL, 10) : 0;
  return n == 0 ? 4 : n > 1024 ? 1024 : (unsigned)n;
}

static void job_start_pool(pc__prx_job_t *j) {
  j->rx->converting++;
  conv_take(j);
  if (uv_queue_work(j->rx->loop, &j->work, job_run_pool, job_done_pool) != 0) {
    job_work(j); /* cannot fail with valid arguments; stay correct anyway */
    job_done_pool(&j->work, 0);
  }
}

/* ---- the receiver table -------------------------------------------------------------- */

const pc_component_t pc_receiver_pprof = {
    .type = "pprof",
    .kind = PC_RECEIVER,
    .signals = PC_SIGNAL_PROFILES,
    .stability = "alpha",
    .options = pprof_opts,
    .create = pprof_create,
    .resolve = pprof_resolve,
    .start = pprof_start,
    .shutdown = pprof_shutdown,
    .destroy = pprof_destroy,
    .metrics = pprof_metrics,
};
