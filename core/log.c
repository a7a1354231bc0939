/* log.c - the log line writer (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core.h"

pc_log_level_t pc_log_min_level = PC_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int pc_log_level_parse(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  if (strcasecmp(name, "warning") == 0) return PC_LOG_WARN;
  return -1;
}

void pc_log_set_level(pc_log_level_t level) { pc_log_min_level = level; }

void pc_log_set_json(bool json) { log_json = json; }

void pc__log(const char *component, pc_log_level_t level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

  if (!log_json) {
    fprintf(stderr, "%s %-5s [%s] %s\n", when, level_names[level], component ? component : "profcol",
            msg);
    return;
  }
  pc_buf_t b = {0};
  pc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", when, level_names[level]);
  const char *comp = component ? component : "profcol";
  pc_buf_json_string(&b, (const uint8_t *)comp, strlen(comp));
  pc_buf_append(&b, ",\"msg\":", 7);
  pc_buf_json_string(&b, (const uint8_t *)msg, strlen(msg));
  pc_buf_append(&b, "}\n", 2);
  if (b.p) fwrite(b.p, 1, b.n, stderr);
  pc_buf_free(&b);
}

bool pc_ratelimit(pc_ratelimit_t *rl, uint64_t interval_ms, uint64_t *skipped) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  if (rl->next_ms && now < rl->next_ms) {
    rl->suppressed++;
    return false;
  }
  *skipped = rl->suppressed;
  rl->suppressed = 0;
  rl->next_ms = now + interval_ms;
  return true;
}

const char *pc_log_suppressed(uint64_t n, char *buf) {
  if (!n) return "";
  snprintf(buf, 48, " (%llu similar suppressed)", (unsigned long long)n);
  return buf;
}
