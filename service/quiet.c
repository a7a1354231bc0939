/* quiet.c - give memory back once the process goes quiet after a burst.
 *
 * A burst leaves memory behind that an idle process should not hold. A
 * sidecar flooded with 200 KB requests kept 37 MiB resident against 3.8
 * MiB before the flood (bench/README.md, "Memory after a flood"):
 * - about 15 MiB of it was memory already freed, which glibc keeps: free
 *   chunks below the top of the main heap, and the free space of the
 *   thread pool's arenas (each pool thread that mallocs gets its own), are
 *   given back only by malloc_trim;
 * - about 5 MiB were the spares kept on purpose so that the next requests
 *   cost no malloc and no page faults (decode jobs with their arenas, body
 *   buffers, batch builders), sized by the burst's largest requests, and
 *   the compressors each thread keeps (core/compress.c).
 *
 * The one idea: every QUIET_TICK_MS the process's CPU time (all threads) is
 * read. A tick that used at least QUIET_CPU_MS is busy; the first tick below it
 * after a busy one is the end of a burst: every component's trim hook
 * (component.h) frees its spares, the threads' idle compressors are freed, then
 * malloc_trim(0) hands what is free back to the system. Under load no tick is
 * quiet, so nothing changes there (the rejected alternative, lowering malloc's
 * thresholds at start, raised the flood's peak by 5-12 MiB); a light steady
 * load never makes a busy tick, and its memory is what one request at a time
 * needs. A load that hovers around the threshold trims every few seconds: a
 * spare job and builder made again and their pages faulted in, well under a
 * millisecond.
 *
 * The timer is unreferenced: it never keeps a loop alive. */
#include <malloc.h>
#include <stdlib.h>
#include <time.h>

#include "../core/core.h"
#include "service.h"

/* How often the CPU time is read. */
#define QUIET_TICK_MS 1000
/* CPU time in one tick below which the process is quiet: 1 % of a CPU (an
 * idle sidecar uses microseconds; one 200 KB request about 3 ms). */
#define QUIET_CPU_MS 10

struct pc_quiet {
  uv_timer_t timer;
  pc_quiet_cb trim;
  void *arg;
  uint64_t cpu_ns; /* at the last tick */
  bool busy;       /* a busy tick since the last trim */
};

static uint64_t cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void quiet_on_tick(uv_timer_t *t) {
  pc_quiet_t *q = t->data;
  uint64_t now = cpu_ns();
  bool quiet = now - q->cpu_ns < (uint64_t)QUIET_CPU_MS * 1000000u;
  q->cpu_ns = now;
  if (!quiet) {
    q->busy = true;
    return;
  }
  if (!q->busy) return;
  q->busy = false;
  q->trim(q->arg); /* the spares first: malloc_trim gives back what they held */
  pc_compress_trim();
  malloc_trim(0);
  q->cpu_ns = cpu_ns(); /* the trim's own work does not make the next tick busy */
}

pc_quiet_t *pc_quiet_start(uv_loop_t *loop, pc_quiet_cb trim, void *arg) {
  pc_quiet_t *q = pc_xcalloc(1, sizeof *q);
  q->trim = trim;
  q->arg = arg;
  q->cpu_ns = cpu_ns();
  uv_timer_init(loop, &q->timer);
  q->timer.data = q;
  uv_timer_start(&q->timer, quiet_on_tick, QUIET_TICK_MS, QUIET_TICK_MS);
  uv_unref((uv_handle_t *)&q->timer);
  return q;
}

static void quiet_on_closed(uv_handle_t *h) { free(h->data); }

void pc_quiet_stop(pc_quiet_t *q) {
  if (q) uv_close((uv_handle_t *)&q->timer, quiet_on_closed);
}
