/* warm_malloc.c - glibc's malloc thresholds as a warm server has them, for
 * the benchmarks (warm_malloc.h).
 *
 * glibc serves a block above its mmap threshold (128 KiB at start) with a
 * mapping of its own, page-faulted in as it is touched and unmapped on
 * free; it raises the threshold (to the freed block's size, the trim
 * threshold to twice that) only when such a mapped block is freed. A
 * server frees mapped blocks from its first requests on (bodies, batch
 * bodies after their send): a sidecar of 235a10c sits at 1 MiB after a
 * second of load and stays there. A benchmark that reuses its buffers frees
 * none, and until the pool threads kept their compressors (235a10c), the
 * compressor freed after every batch (0.66 MB libdeflate, 1.3 MB zstd)
 * raised it by chance. Since, every block above 128 KiB in a benchmark is
 * mapped and faulted afresh, which no server does:
 *
 *   bench_floor --compress zstd, samples shape (/usr/bin/time %R):
 *     12,076 to 19,618 minor faults, encode 1,765 to 1,804 us;
 *     with the threshold at 1 MiB 786 faults, encode 784 to 1,114 us
 *   profcol itself (sidecar, samples shape, 200 KB requests): 3 to 28
 *     faults per request on 235a10c against 12 to 35 on f534514
 *
 * So the benchmarks start where a warm server is. The dynamic rule stays on
 * (as in the server), and MALLOC_* or GLIBC_TUNABLES settings, which turn it
 * off, are left to win. */
#include "warm_malloc.h"

#include <stdlib.h>

void pc_warm_malloc(void) {
#ifdef __GLIBC__
  /* volatile: a malloc freed unused may be optimised away */
  void *volatile block = malloc(PC_WARM_MALLOC_BLOCK);
  free(block);
#endif
}
