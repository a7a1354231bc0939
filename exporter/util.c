/* util.c - small helpers of exporter/: a monotonic clock and file names
 * made from component ids. (The log rate limiter, which keeps a backend that
 * is down for an hour to a line every few seconds, is core's.) */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t pc__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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
