/* log.c - the log line writer and its rate limiter (see log.h).
 *
 * The one idea: a line is formatted once into a buffer, then written whole
 * to each output under one lock, so lines from the loop and from thread-pool
 * jobs never interleave, and a change of settings (a reload) never meets a
 * half-written line. A failed write is reported to the error outputs once
 * per output until a write there works again, so a full disk does not turn
 * into a second flood. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

pc_log_level_t pc_log_min_level = PC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

typedef struct {
  FILE *f;
  char *path;
  bool owned;  /* opened here: closed when replaced */
  bool failed; /* the last write failed (reported once) */
} output_t;

enum { MAX_OUTPUTS = 8, SAMPLE_SLOTS = 256 };

typedef struct {
  output_t out[MAX_OUTPUTS], err[MAX_OUTPUTS];
  size_t n_out, n_err;
  bool json;
  char *console_fields; /* " {\"k\":\"v\"}" or "" */
  char *json_fields;    /* ",\"k\":\"v\"" or "" */
  bool sampling;
  uint64_t tick_ms, initial, thereafter;
} sink_t;

/* Counts per (message, level) in the current tick, for sampling. */
typedef struct {
  const char *fmt;
  pc_log_level_t level;
  uint64_t tick, count;
} sample_slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sink_t sink = {.out = {{.path = (char *)"stderr"}}, .n_out = 1,
                      .err = {{.path = (char *)"stderr"}}, .n_err = 1,
                      .console_fields = (char *)"", .json_fields = (char *)""};
static sample_slot_t samples[SAMPLE_SLOTS];

int pc_log_level_parse(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  if (strcasecmp(name, "warning") == 0) return PC_LOG_WARN;
  return -1;
}

void pc_log_set_level(pc_log_level_t level) { pc_log_min_level = level; }

void pc_log_set_json(bool json) {
  pthread_mutex_lock(&lock);
  sink.json = json;
  pthread_mutex_unlock(&lock);
}

/* ---- settings ------------------------------------------------------------------------ */

static FILE *std_stream(const char *path) {
  if (strcmp(path, "stderr") == 0) return stderr;
  if (strcmp(path, "stdout") == 0) return stdout;
  return NULL;
}

int pc_log_check_path(const char *path, char *why, size_t why_size) {
  if (std_stream(path)) return 0;
  return pc_path_check_file(path, false, why, why_size); /* opened with O_NOFOLLOW */
}

static void close_outputs(output_t *o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (o[i].owned) fclose(o[i].f);
    free(o[i].path);
  }
}

/* Open paths into o (0600 for files this creates: logs may name hosts and
 * tenants). Nothing stays open on failure. */
static int open_outputs(const char *const *paths, size_t n, output_t *o, size_t *n_out,
                        char *why, size_t why_size) {
  static const char *const std_err[] = {"stderr"};
  if (n == 0) {
    paths = std_err;
    n = 1;
  }
  if (n > MAX_OUTPUTS) {
    snprintf(why, why_size, "at most %d output paths", MAX_OUTPUTS);
    return -EINVAL;
  }
  *n_out = 0;
  for (size_t i = 0; i < n; i++) {
    FILE *f = std_stream(paths[i]);
    bool owned = false;
    if (!f) {
      int fd = open(paths[i], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      f = fd >= 0 ? fdopen(fd, "a") : NULL;
      if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        snprintf(why, why_size, "cannot open %s for the logs: %s", paths[i], strerror(e));
        close_outputs(o, *n_out);
        *n_out = 0;
        return -e;
      }
      setvbuf(f, NULL, _IOLBF, 0);
      owned = true;
    }
    o[(*n_out)++] = (output_t){.f = f, .path = strdup(paths[i]), .owned = owned};
    if (!o[*n_out - 1].path) pc_oom();
  }
  return 0;
}

/* The initial fields, pre-rendered: console ` {"k":"v"}`, json `,"k":"v"`. */
static void render_fields(const pc_log_settings_t *s, char **console, char **json) {
  pc_buf_t c = {0}, j = {0};
  for (size_t i = 0; i < s->n_fields; i++) {
    const uint8_t *k = (const uint8_t *)s->field_keys[i], *v = (const uint8_t *)s->field_values[i];
    pc_buf_append(&c, i ? "," : " {", i ? 1 : 2);
    pc_buf_json_string(&c, k, strlen((const char *)k));
    pc_buf_append(&c, ":", 1);
    pc_buf_json_string(&c, v, strlen((const char *)v));
    pc_buf_append(&j, ",", 1);
    pc_buf_json_string(&j, k, strlen((const char *)k));
    pc_buf_append(&j, ":", 1);
    pc_buf_json_string(&j, v, strlen((const char *)v));
  }
  if (s->n_fields) pc_buf_append(&c, "}", 1);
  pc_buf_append(&c, "", 1);
  pc_buf_append(&j, "", 1);
  if (!c.p || !j.p) pc_oom();
  *console = (char *)c.p;
  *json = (char *)j.p;
}

static void free_fields(sink_t *k) {
  if (k->console_fields[0] || k->json_fields[0]) {
    free(k->console_fields);
    free(k->json_fields);
  }
}

int pc_log_apply(const pc_log_settings_t *s, char *why, size_t why_size) {
  sink_t next = {.json = s->json, .sampling = s->sampling, .tick_ms = s->sampling_tick_ms,
                 .initial = s->sampling_initial, .thereafter = s->sampling_thereafter};
  int rc = open_outputs(s->outputs, s->n_outputs, next.out, &next.n_out, why, why_size);
  if (!rc) {
    rc = open_outputs(s->error_outputs, s->n_error_outputs, next.err, &next.n_err, why,
                      why_size);
    if (rc) close_outputs(next.out, next.n_out);
  }
  if (rc) return rc;
  if (s->n_fields) render_fields(s, &next.console_fields, &next.json_fields);
  else next.console_fields = next.json_fields = (char *)"";
  pthread_mutex_lock(&lock);
  sink_t old = sink;
  sink = next;
  memset(samples, 0, sizeof samples);
  pthread_mutex_unlock(&lock);
  /* The built-in sink before the first apply holds only static strings. */
  static bool applied_before;
  if (applied_before) {
    close_outputs(old.out, old.n_out);
    close_outputs(old.err, old.n_err);
    free_fields(&old);
  }
  applied_before = true;
  pc_log_min_level = s->level;
  return 0;
}

/* ---- writing ------------------------------------------------------------------------- */

/* Sampling, under the lock: whether this line is written. */
static bool sampled_in(const char *fmt, pc_log_level_t level) {
  if (!sink.sampling) return true;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t tick = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) /
                  (sink.tick_ms ? sink.tick_ms : 1);
  sample_slot_t *s = &samples[(((uintptr_t)fmt >> 3) ^ (uintptr_t)level) % SAMPLE_SLOTS];
  if (s->fmt != fmt || s->level != level || s->tick != tick)
    *s = (sample_slot_t){.fmt = fmt, .level = level, .tick = tick};
  uint64_t n = ++s->count;
  if (n <= sink.initial) return true;
  return sink.thereafter && (n - sink.initial) % sink.thereafter == 0;
}

/* An output's stream: the built-in sink's are NULL for stderr (which is no
 * constant to initialise a static with). */
static FILE *stream(const output_t *o) { return o->f ? o->f : stderr; }

/* Write the line to one output; report a failure to the error outputs once. */
static void write_line(output_t *o, const char *line, size_t n) {
  bool ok = fwrite(line, 1, n, stream(o)) == n && fflush(stream(o)) == 0;
  if (ok || o->failed) {
    o->failed = !ok;
    return;
  }
  int e = errno;
  o->failed = true;
  for (size_t i = 0; i < sink.n_err; i++)
    if (stream(&sink.err[i]) != stream(o))
      fprintf(stream(&sink.err[i]), "profcol: cannot write log lines to %s: %s (reported once until "
              "a write there works again)\n", o->path, strerror(e));
}

static _Thread_local struct {
  bool quiet;
  const char *pipeline;
} scope;

void pc_log_quiet(bool quiet) { scope.quiet = quiet; }
void pc_log_pipeline(const char *pipeline) { scope.pipeline = pipeline; }

void pc__log(const char *component, pc_log_level_t level, const char *fmt, ...) {
  if (scope.quiet && level < PC_LOG_WARN) return;
  /* A line is never cut: most fit the stack buffer, a longer one (a deep
   * C++ frame name) gets the heap. */
  char small[1024], *msg = small;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (len >= (int)sizeof small) {
    msg = malloc((size_t)len + 1);
    if (!msg) pc_oom();
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)len + 1, fmt, ap);
    va_end(ap);
  }

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
  const char *comp = component ? component : "profcol";

  pthread_mutex_lock(&lock);
  if (!sampled_in(fmt, level)) {
    pthread_mutex_unlock(&lock);
    if (msg != small) free(msg);
    return;
  }
  pc_buf_t b = {0};
  if (!sink.json) {
    pc_buf_printf(&b, "%s %-5s [%s%s%s] %s%s\n", when, level_names[level], comp,
                  scope.pipeline ? " in pipeline " : "", scope.pipeline ? scope.pipeline : "",
                  msg, sink.console_fields);
  } else {
    pc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", when, level_names[level]);
    pc_buf_json_string(&b, (const uint8_t *)comp, strlen(comp));
    if (scope.pipeline) {
      pc_buf_append(&b, ",\"pipeline\":", 12);
      pc_buf_json_string(&b, (const uint8_t *)scope.pipeline, strlen(scope.pipeline));
    }
    pc_buf_append(&b, ",\"msg\":", 7);
    pc_buf_json_string(&b, (const uint8_t *)msg, strlen(msg));
    pc_buf_printf(&b, "%s}\n", sink.json_fields);
  }
  if (b.p)
    for (size_t i = 0; i < sink.n_out; i++) write_line(&sink.out[i], (const char *)b.p, b.n);
  pthread_mutex_unlock(&lock);
  pc_buf_free(&b);
  if (msg != small) free(msg);
}

/* ---- rate-limited lines ------------------------------------------------------------- */

uint64_t pc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool pc_ratelimit(pc_ratelimit_t *rl, uint64_t interval_ms, uint64_t *skipped) {
  uint64_t now = pc_now_ms();
  if (rl->next_ms && now < rl->next_ms) {
    rl->suppressed++;
    return false;
  }
  *skipped = rl->suppressed;
  rl->suppressed = 0;
  rl->next_ms = now + interval_ms;
  return true;
}

const char *pc_suppressed(uint64_t n, char *buf) {
  if (!n) return "";
  snprintf(buf, 48, " (%llu similar suppressed)", (unsigned long long)n);
  return buf;
}

const char *pc_fmt_bytes(uint64_t n, char *buf) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) {
    snprintf(buf, 24, "%llu bytes", (unsigned long long)n);
    return buf;
  }
  int u = 0;
  while (u < 5 && n >= (uint64_t)1024 << (10 * (u + 1))) u++;
  uint64_t unit = (uint64_t)1 << (10 * (u + 1));
  if (n % unit == 0)
    snprintf(buf, 24, "%llu %s", (unsigned long long)(n / unit), units[u]);
  else
    snprintf(buf, 24, "%.1f %s", (double)n / (double)unit, units[u]);
  return buf;
}

const char *pc_fmt_ms(uint64_t ms, char *buf) {
  static const struct {
    uint64_t ms;
    const char *name;
  } units[] = {{3600000, "h"}, {60000, "min"}, {1000, "s"}};
  for (size_t i = 0; i < 3; i++)
    if (ms && ms % units[i].ms == 0) {
      snprintf(buf, 24, "%llu %s", (unsigned long long)(ms / units[i].ms), units[i].name);
      return buf;
    }
  snprintf(buf, 24, "%llu ms", (unsigned long long)ms);
  return buf;
}
