/* pprofrx.h - what the files of the pprof receiver (component type "pprof")
 * share; not a public header (receiver/, tests/ and tests/fuzz/ only).
 *
 * The receiver takes pprof profiles three ways, as the Collector contrib's
 * pprof receiver does, each a file of its own:
 *
 *   remote  pprof_scrape.c  GETs of /debug/pprof/... on targets, on a
 *                           schedule, with libcurl on the loop (component/curl.h)
 *   file    pprof_file.c    files matched by a glob, on a schedule
 *   server  pprof_server.c  POSTs of pprof bodies (the contrib's /v1/pprof,
 *                           and the Pyroscope SDKs' /ingest: pyroscope.c)
 *
 * and turns each profile into one OTLP request through one path (pprof.c):
 * a conversion job that inflates (bounded), decodes and converts the bytes
 * (pdata/pprof.h) on the loop when they are small and in libuv's thread
 * pool when not, then, on the loop, sets the resource attributes and the
 * scope its origin names and hands the request to the pipeline.
 *
 * Threads: everything runs on the receiver's loop except a job's work
 * (conversion; a file pass's globbing and reading), which touches only the
 * job. Counters are read by the metrics hook on the loop. */
#ifndef PC_RECEIVER_PPROFRX_H
#define PC_RECEIVER_PPROFRX_H

#include <curl/curl.h>
#include <uv.h>

#include "../component/curl.h"
#include "../core/log.h"
#include "../httpd/httpd.h"
#include "../pdata/intern.h"
#include "../pdata/pprof.h"
#include "receiver.h"

/* ---- the Pyroscope push API (pyroscope.c) ----------------------------------------------
 * POST /ingest?name=APP{k=v,...}&from=T&until=T&sampleRate=HZ&spyName=S
 * &format=pprof with a pprof body, or a multipart/form-data body whose
 * "profile" part is the pprof (what the SDKs send). Parsing reads only the
 * bytes given and never allocates; views point into the query scratch or
 * the body. */

#define PC__PYRO_MAX_LABELS 64

typedef struct {
  pc_str_t app;   /* the name before '{' (percent-decoded) */
  pc_str_t keys[PC__PYRO_MAX_LABELS], values[PC__PYRO_MAX_LABELS];
  uint32_t n_labels;
  int64_t from_ns, until_ns; /* 0: not given */
  uint32_t sample_rate;      /* Hz; 0: not given */
  pc_str_t spy_name;
  pc_str_t format; /* "" when not given */
} pc__pyro_query_t;

/* Parse the query string q (after '?') into out; decoded text goes to
 * scratch, which must have room for q.n bytes (views stay valid while it
 * lives and is not grown). now_ns stands for "now" in from/until. 0, or
 * PC_EINVAL with why filled ("name: ..."). */
int pc__pyro_parse_query(pc_str_t q, uint8_t *scratch, int64_t now_ns, pc__pyro_query_t *out,
                         char *why, size_t cap);
/* The "profile" part of a multipart/form-data body whose Content-Type is
 * content_type. 0 with *profile a view into body; PC_EDECODE with why
 * filled when the body is not such a form, has no profile part, or has a
 * prev_profile part (cumulative profiles of old SDKs, which Pyroscope
 * refuses too). */
int pc__pyro_multipart(pc_str_t content_type, pc_str_t body, pc_str_t *profile, char *why,
                       size_t cap);
/* Whether a Content-Type is multipart/form-data. */
bool pc__pyro_is_multipart(pc_str_t content_type);
/* A Pyroscope time value: unix seconds, milliseconds, microseconds or
 * nanoseconds (told apart by magnitude), or "now"; -1 when it is neither. */
int64_t pc__pyro_time_ns(pc_str_t s, int64_t now_ns);

/* ---- the instance --------------------------------------------------------------------- */

/* Why a profile did not reach the pipeline (one counter and one log each). */
#define PC__PRX_REASONS(X)                                                            \
  X(DOWN, "down", "the target refused the connection or cannot be resolved")        \
  X(TIMEOUT, "timeout", "no whole answer within timeout")                            \
  X(HTTP_STATUS, "http_status", "answered with another status than 200")           \
  X(TOO_LARGE, "too_large", "the body passed max_body_size, as sent or inflated")    \
  X(TRANSPORT, "transport", "any other transport error (TLS, reset, bad HTTP)")      \
  X(BAD_PAYLOAD, "bad_payload", "not a pprof profile (decode or conversion failed)")  \
  X(REFUSED, "refused", "the pipeline refused it (full, or memory limit)")           \
  X(UNREADABLE, "unreadable", "a file that could not be read")

typedef enum {
#define PC__PRX_REASON_ENUM(e, name, help) PC__PRX_##e,
  PC__PRX_REASONS(PC__PRX_REASON_ENUM)
#undef PC__PRX_REASON_ENUM
  PC__PRX_N_REASONS
} pc__prx_reason_t;

const char *pc__prx_reason_name(pc__prx_reason_t r);

/* Failure lines of one mode: at most PC__PRX_LOG_BURST per
 * PC__PRX_LOG_WINDOW_MS, so a thousand targets failing at once give a
 * screenful, not a thousand lines; the first line let through after that
 * says how many were held back (*held). */
#define PC__PRX_LOG_BURST 10
#define PC__PRX_LOG_WINDOW_MS 10000
typedef struct {
  uint64_t window_start, held;
  uint32_t in_window;
} pc__prx_gate_t;

static inline bool pc__prx_gate(pc__prx_gate_t *g, uint64_t *held) {
  uint64_t now = pc_now_ms();
  if (!g->window_start || now - g->window_start >= PC__PRX_LOG_WINDOW_MS) {
    g->window_start = now;
    g->in_window = 0;
  }
  if (g->in_window >= PC__PRX_LOG_BURST) {
    g->held++;
    return false;
  }
  g->in_window++;
  *held = g->held;
  g->held = 0;
  return true;
}

/* Counters of one mode (remote, file, server), since create. Written and
 * read on the loop. */
typedef struct {
  uint64_t attempts; /* scrapes started, files read, requests taken */
  uint64_t failed[PC__PRX_N_REASONS];
  uint64_t skipped; /* a target due again while its last scrape still ran or waited */
  uint64_t bytes_in;           /* pprof bytes as received */
  uint64_t bytes_decompressed; /* after gunzip (and HTTP decompression) */
  uint64_t profiles_accepted, profiles_refused;
  uint64_t samples_accepted, samples_refused;
} pc__prx_counters_t;

typedef struct pc__prx_scrape pc__prx_scrape_t;
typedef struct pc__prx_files pc__prx_files_t;
typedef struct pc__prx_server pc__prx_server_t;
typedef struct pc__prx_job pc__prx_job_t;
typedef struct pc__prx_conv pc__prx_conv_t;

typedef struct pc__prx {
  char *id;     /* "pprof" or "pprof/name" */
  char *log_id; /* "receiver:pprof/name" */
  pc_consumer_t *next;
  uv_loop_t *loop;
  pc__prx_scrape_t *scrape; /* remote, or NULL */
  pc__prx_files_t *files;   /* file, or NULL */
  pc__prx_server_t *server; /* server, or NULL */
  pc__prx_job_t *free_jobs;
  unsigned n_free_jobs;
  unsigned jobs_out; /* handed out and not yet put back */
  pc__prx_conv_t *free_convs; /* spare conversion state (pprof.c) */
  unsigned n_free_convs;
  unsigned converting;     /* jobs in the thread pool */
  unsigned max_converting; /* at most: the pool's threads */
  pc__prx_job_t *wait_head, *wait_tail; /* jobs waiting for the thread pool */
  bool closing;
  /* shutdown: parts still closing, and what to call then */
  int closing_parts;
  pc_done_cb done;
  void *done_arg;
} pc__prx_t;

/* ---- conversion jobs (pprof.c) ---------------------------------------------------------- */

#define PC__PRX_MAX_ATTRS (PC__PYRO_MAX_LABELS + 8)

typedef enum {
  PC__PRX_OK,
  PC__PRX_FAILED_DECOMPRESS, /* the HTTP Content-Encoding (server) */
  PC__PRX_FAILED_FORM,       /* a multipart form without a usable "profile" part */
  PC__PRX_FAILED_UNPACK,     /* the pprof's own gzip */
  PC__PRX_FAILED_DECODE,     /* not a pprof profile, or it does not convert */
  PC__PRX_FAILED_CONSUME,    /* the pipeline refused it */
} pc__prx_stage_t;

/* What Pyroscope's query says about a profile that does not say it itself. */
typedef struct {
  int64_t time_ns;     /* > 0: time_nanos when the profile has none */
  int64_t duration_ns; /* > 0: duration_nanos when the profile has none */
  int64_t period_ns;   /* > 0: period (cpu/nanoseconds) when the profile has none */
} pc__prx_fix_t;

typedef void (*pc__prx_job_cb)(pc__prx_job_t *j, void *origin);

struct pc__prx_job {
  uv_work_t work;
  pc__prx_t *rx;
  /* In, set by the origin before pc__prx_job_run. */
  const uint8_t *in; /* the bytes: in own, or kept alive by the origin until done */
  size_t in_n;
  pc_buf_t own;       /* input the job owns (a scrape's body, a file) */
  pc_encoding_t enc;  /* HTTP Content-Encoding of in (identity but for the server) */
  pc_str_t form_ct;   /* a multipart/form-data Content-Type: the pprof is the form's
                       * "profile" part (Pyroscope's /ingest); empty: in is the pprof */
  size_t limit;       /* most bytes after each decompression step */
  pc__prx_fix_t fix;
  const char *scope_name;
  pc_keyvalue_t attrs[PC__PRX_MAX_ATTRS]; /* resource attributes, views the origin keeps */
  uint32_t n_attrs;
  pc_buf_t text; /* room for attribute text the origin makes (reserve before viewing) */
  const pc_metadata_t *md; /* client metadata (server's include_metadata), or NULL */
  pc__prx_counters_t *cnt; /* the origin's counters */
  pc__prx_job_cb done;
  void *origin;
  /* Out, for done. */
  int rc;
  pc__prx_stage_t failed;
  pc_err_t err;
  uint64_t profiles, samples; /* handed to the pipeline (accepted or refused) */
  /* Work state: held only while converting (a job waiting for the thread
   * pool holds its input alone), from the receiver's spares. */
  pc__prx_conv_t *conv;
  size_t plain_n; /* pprof bytes decoded */
  pc__prx_job_t *next_free; /* the pool, or the queue for the thread pool */
};

/* A cleared job of rx's pool (never NULL: aborts when memory is gone). */
pc__prx_job_t *pc__prx_job_get(pc__prx_t *rx);
/* Convert (on the loop for small input, else in the thread pool) and hand
 * to the pipeline; done(j, origin) follows on the loop exactly once,
 * possibly from within this call. */
void pc__prx_job_run(pc__prx_job_t *j);
/* Add a resource attribute (views). Past PC__PRX_MAX_ATTRS it is dropped. */
void pc__prx_job_attr_str(pc__prx_job_t *j, const char *key, pc_str_t value);
void pc__prx_job_attr_int(pc__prx_job_t *j, const char *key, int64_t value);
/* Back to the pool (from done, or instead of running it). */
void pc__prx_job_put(pc__prx_job_t *j);
/* The job's message: err's, or the code's text. */
const char *pc__prx_job_why(const pc__prx_job_t *j);

/* A part (scrape, files, server) finished closing: pprof.c calls the
 * shutdown's done when the last one did and no job is out. */
void pc__prx_part_closed(void *rx);

/* ---- remote: scraping targets (pprof_scrape.c) ---------------------------------------- */

typedef struct {
  const pc_cfg_node_t *node;      /* the remote map (error places) */
  char **urls;                    /* every target, in config order */
  size_t n_urls;
  uint64_t interval_ms, initial_delay_ms, timeout_ms;
  uint64_t max_body;
  int64_t max_concurrent;
  const pc_cfg_node_t *headers;   /* map of name: value, read at create */
  bool tls_skip_verify;
  const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_min_version, *tls_server_name;
  pc_ref_t auth_ref;              /* auth.authenticator: client headers */
} pc__prx_remote_cfg_t;

/* Targets from cfg; copies what it keeps. NULL with err at the key at fault. */
pc__prx_scrape_t *pc__prx_scrape_new(pc__prx_t *rx, const pc__prx_remote_cfg_t *cfg,
                                     pc_err_t *err);
int pc__prx_scrape_resolve(pc__prx_scrape_t *s, const pc_host_t *host, pc_err_t *err);
int pc__prx_scrape_start(pc__prx_scrape_t *s, uv_loop_t *loop, pc_err_t *err);
/* Stop scheduling, cancel scrapes in flight (jobs already converting
 * finish), close; pc__prx_part_closed(rx) when over. */
void pc__prx_scrape_close(pc__prx_scrape_t *s);
void pc__prx_scrape_free(pc__prx_scrape_t *s);
void pc__prx_scrape_metrics(pc__prx_scrape_t *s, pc_metrics_t *m);
/* The scrape offsets, by target in config order (tests). */
uint64_t pc__prx_scrape_phase(const pc__prx_scrape_t *s, size_t i);
const pc__prx_counters_t *pc__prx_scrape_counters(const pc__prx_scrape_t *s);

/* ---- file: pprof files by glob (pprof_file.c) ---------------------------------------- */

typedef struct {
  const pc_cfg_node_t *node;
  const char *include;
  uint64_t interval_ms, initial_delay_ms, timeout_ms;
  uint64_t max_size;
  bool reread_unchanged;
} pc__prx_file_cfg_t;

/* pprof_glob.c: the paths file.include matches, sorted, each once:
 * glob(3) patterns, and "**" components (any depth of directories). *paths
 * (malloc'd strings in a malloc'd array, *n of them) holds what matched
 * even on failure; 0, GLOB_NOSPACE, or GLOB_ABORTED when a directory could
 * not be read (*err_no says why; the rest was still matched). */
int pc__prx_glob(const char *pattern, char ***paths, size_t *n, int *err_no);

pc__prx_files_t *pc__prx_files_new(pc__prx_t *rx, const pc__prx_file_cfg_t *cfg, pc_err_t *err);
int pc__prx_files_start(pc__prx_files_t *f, uv_loop_t *loop, pc_err_t *err);
void pc__prx_files_close(pc__prx_files_t *f);
void pc__prx_files_free(pc__prx_files_t *f);
void pc__prx_files_metrics(pc__prx_files_t *f, pc_metrics_t *m);

/* ---- server: pushed profiles (pprof_server.c) ----------------------------------------- */

typedef struct {
  const pc_cfg_node_t *node;
  const char *endpoint;
  uint64_t max_request_body_size, max_buffered_bytes;
  bool include_metadata;
  bool pyroscope; /* also POST /ingest and /pyroscope/ingest */
  const char *authenticator;
  pc_tls_files_t tls;
  uint64_t read_header_timeout, idle_timeout, read_body_timeout, min_body_rate;
  uint64_t read_timeout, write_timeout;
  bool keepalives_enabled;
  int64_t max_connections;
} pc__prx_server_cfg_t;

#define PC__PRX_PUSH_PATH "/v1/pprof" /* the Collector contrib's */

pc__prx_server_t *pc__prx_server_new(pc__prx_t *rx, const pc__prx_server_cfg_t *cfg,
                                     pc_err_t *err);
int pc__prx_server_resolve(pc__prx_server_t *s, const pc_host_t *host, pc_err_t *err);
int pc__prx_server_start(pc__prx_server_t *s, uv_loop_t *loop, pc_err_t *err);
void pc__prx_server_close(pc__prx_server_t *s, uint64_t deadline_ms);
void pc__prx_server_free(pc__prx_server_t *s);
void pc__prx_server_metrics(pc__prx_server_t *s, pc_metrics_t *m);
/* The bound port after start (tests, logs), 0 when not listening. */
int pc__prx_server_port(const pc__prx_server_t *s);

/* Counters as the metrics show them, with the mode's transport label. */
void pc__prx_counters_metrics(const pc__prx_counters_t *c, const char *transport,
                              pc_metrics_t *m);

#endif
