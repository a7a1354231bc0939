/* log.h - one-line logs for people reading them at 3 a.m.
 *
 * pc_log checks the level before formatting. Each line carries a UTC time,
 * the level and the component id: "2026-11-25T18:40:01.123Z info
 * [receiver:otlp] listening on 127.0.0.1:4318". With the json encoding, each
 * line is one JSON object ({"ts":...,"level":...,"component":...,"msg":...}).
 * Logs go to stderr. Never log payload bytes. */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { PC_LOG_DEBUG, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR } pc_log_level_t;

extern pc_log_level_t pc_log_min_level;

/* "debug", "info", "warn", "error" (case-insensitive); -1 when unknown. */
int pc_log_level_parse(const char *name);
void pc_log_set_level(pc_log_level_t level);
void pc_log_set_json(bool json);

void pc__log(const char *component, pc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* At most one line per interval for a repeated event; the next line that
 * goes out says how many were left out (STYLE: rate-limit repeats and count
 * what was suppressed). Not thread-safe: one per thread or per loop. */
typedef struct {
  uint64_t next_ms;    /* monotonic ms before which lines are suppressed */
  uint64_t suppressed; /* since the last line */
} pc_ratelimit_t;

/* True when a line may be logged now; *skipped gets the count suppressed
 * since the last line (then reset). */
bool pc_ratelimit(pc_ratelimit_t *rl, uint64_t interval_ms, uint64_t *skipped);
/* " (N similar suppressed)" when n > 0, else "": the tail of a rate-limited
 * line. buf needs 48 bytes. */
const char *pc_log_suppressed(uint64_t n, char *buf);

#define pc_log(component, level, ...)                            \
  do {                                                           \
    if ((level) >= pc_log_min_level) pc__log((component), (level), __VA_ARGS__); \
  } while (0)

#endif
