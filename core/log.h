/* log.h - one-line logs for people reading them at 3 a.m.
 *
 * pc_log checks the level before formatting. Each line carries a UTC time,
 * the level and the component id: "2026-11-25T18:40:01.123Z info
 * [receiver:otlp] listening on 127.0.0.1:4318". With the json encoding, each
 * line is one JSON object ({"ts":...,"level":...,"component":...,"msg":...}).
 * Never log payload bytes.
 *
 * Where lines go, and what they carry besides, is the Collector's
 * service.telemetry.logs (service/logs.c reads it into pc_log_settings_t):
 * output paths (stderr by default, stdout, or files opened for appending),
 * error output paths (where the logger reports that it could not write a
 * line), initial fields added to every line, and sampling. The settings are
 * process-wide; they are set from the loop thread between runs of the
 * pipeline, lines may come from any thread. */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { PC_LOG_DEBUG, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR } pc_log_level_t;

extern pc_log_level_t pc_log_min_level;

/* "debug", "info", "warn", "error" (case-insensitive); -1 when unknown. */
int pc_log_level_parse(const char *name);
void pc_log_set_level(pc_log_level_t level);
void pc_log_set_json(bool json);

typedef struct {
  pc_log_level_t level;
  bool json;
  const char *const *outputs; /* "stderr", "stdout" or file paths; none: stderr */
  size_t n_outputs;
  const char *const *error_outputs; /* the same, for the logger's own errors; none: stderr */
  size_t n_error_outputs;
  const char *const *field_keys; /* initial fields: key/value pairs on every line */
  const char *const *field_values;
  size_t n_fields;
  /* Sampling, as zap's: per message and level, the first `initial` lines of
   * each tick are written, then every `thereafter`-th (0: none more). */
  bool sampling;
  uint64_t sampling_tick_ms;
  uint64_t sampling_initial, sampling_thereafter;
} pc_log_settings_t;

/* Whether path can be opened for appending (a file that exists and is
 * writable, or a writable directory to create it in), without creating
 * it: what validate checks. 0, or a negative errno with why filled. */
int pc_log_check_path(const char *path, char *why, size_t why_size);
/* Open the outputs and switch to s (files the previous settings opened are
 * closed). On failure nothing changes: 0, or a negative errno with why
 * filled ("cannot open /var/log/x: Permission denied"). */
int pc_log_apply(const pc_log_settings_t *s, char *why, size_t why_size);

/* The calling thread's scope, for lines that would otherwise repeat with
 * nothing to tell them apart. Quiet drops its debug and info lines (a
 * worker > 0 starting what worker 0's lines already described). A
 * pipeline (NULL: none) is named in its lines (a processor: one instance
 * per pipeline). Set before and cleared after the calls, on that thread. */
void pc_log_quiet(bool quiet);
void pc_log_pipeline(const char *pipeline);

void pc__log(const char *component, pc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pc_log(component, level, ...)                            \
  do {                                                           \
    if ((level) >= pc_log_min_level) pc__log((component), (level), __VA_ARGS__); \
  } while (0)

/* ---- rate-limited lines ----------------------------------------------------
 * A backend down for an hour, or a client retrying in a loop, should give a
 * line every few seconds with a count, not a line per event. */
typedef struct {
  uint64_t next_ms;    /* monotonic time before which lines are held back */
  uint64_t suppressed; /* held back since the last line */
} pc_ratelimit_t;

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t pc_now_ms(void);
/* True when a line may be logged now (then at most one more after
 * interval_ms); *skipped gets the count held back since the last line (and
 * the count restarts). False counts one more held back. */
bool pc_ratelimit(pc_ratelimit_t *rl, uint64_t interval_ms, uint64_t *skipped);
/* " (N similar suppressed)" when n > 0, else "": the tail of a rate-limited
 * line. buf needs 48 bytes. */
const char *pc_suppressed(uint64_t n, char *buf);

/* A size for people, in buf (24 bytes): "64 MiB" when a whole number of
 * the largest binary unit it reaches, else one decimal ("1.5 GiB"), and
 * "512 bytes" below 1 KiB. Returns buf. */
const char *pc_fmt_bytes(uint64_t n, char *buf);
/* A duration for people, in buf (24 bytes): "30 s", "5 min", "2 h" when
 * whole, else "1500 ms". Returns buf. */
const char *pc_fmt_ms(uint64_t ms, char *buf);

#endif
