/* util.c - small helpers of exporter/: a monotonic clock, a log rate limiter
 * (so a backend that is down for an hour gives a line every few seconds with
 * a count, not a line per retry) and file names made from component ids. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t pc__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool pc__ratelimit(pc__ratelimit_t *rl, uint64_t interval_ms, uint64_t *skipped) {
  uint64_t now = pc__now_ms();
  if (rl->next_ms && now < rl->next_ms) {
    rl->suppressed++;
    return false;
  }
  *skipped = rl->suppressed;
  rl->suppressed = 0;
  rl->next_ms = now + interval_ms;
  return true;
}

const char *pc__suppressed(uint64_t n, char *buf) {
  if (!n) return "";
  snprintf(buf, 48, " (%llu similar suppressed)", (unsigned long long)n);
  return buf;
}

void pc__id_to_filename(const char *id, char *out, size_t cap) {
  int n = snprintf(out, cap, "exporter_%s", id);
  if (n < 0) {
    if (cap) out[0] = 0;
    return;
  }
  size_t len = strlen(out);
  for (size_t i = sizeof "exporter_" - 1; i < len; i++) {
    char c = out[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) out[i] = '_';
  }
}
