/* warm_malloc.h - put glibc's malloc where a warm profcol server has it,
 * before a benchmark measures (warm_malloc.c says why). */
#ifndef PC_WARM_MALLOC_H
#define PC_WARM_MALLOC_H

#include <stddef.h>

/* The block freed: a warm sidecar's mmap threshold, read with gdb from
 * glibc's mp_ after a second of 200 KB requests of the samples shape
 * (1,052,672 bytes; the receive config's: 331,776). */
#define PC_WARM_MALLOC_BLOCK ((size_t)1 << 20)

/* Free one mapped block of PC_WARM_MALLOC_BLOCK bytes, which raises
 * glibc's mmap threshold to that and its trim threshold to twice that, as
 * a server's first freed bodies do. Call first thing in main. Does nothing
 * where the environment fixed the thresholds (MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES: glibc then leaves them alone) or
 * malloc is not glibc's. */
void pc_warm_malloc(void);

#endif
