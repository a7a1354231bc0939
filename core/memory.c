/* memory.c - how much memory the process holds and may hold (core.h), for
 * the self-telemetry gauge and the memory_limiter processor. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

int64_t pc_process_rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  unsigned long size, resident;
  int got = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  return got == 2 && page > 0 ? (int64_t)resident * page : -1;
}

/* The first number in a file (cgroup v2 memory.max holds "max" when there
 * is no limit: -1 then). */
static int64_t read_number(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long long v = -1;
  if (fscanf(f, "%lld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

static int64_t meminfo_total(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemTotal: %lld kB", &kib) == 1) break;
  fclose(f);
  return kib > 0 ? (int64_t)kib * 1024 : -1;
}

int64_t pc_memory_total(void) {
  int64_t total = meminfo_total();
  /* A container's limit, when lower: what the orchestrator enforces. */
  int64_t cg = read_number("/sys/fs/cgroup/memory.max");
  if (cg <= 0) cg = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes"); /* v1 */
  if (cg > 0 && (total < 0 || cg < total)) return cg;
  return total;
}
