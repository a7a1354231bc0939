/* fd.c - the process's file descriptors (core.h): the soft limit raised to
 * the hard one at start, a reserve receivers leave free, and a count of
 * connections refused for lack of descriptors.
 *
 * The reserve check costs nothing: POSIX hands out the lowest free
 * descriptor, so a connection that got number fd proves fd + 1 descriptors
 * are in use, and limit - fd - 1 at most are free. It can miss holes above
 * fd (a low descriptor closed while higher ones stay open): then it refuses
 * later than it could, never wrongly. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>

#include "core.h"

#define DEFAULT_RESERVE 64

static _Atomic uint64_t soft_limit;
static _Atomic uint32_t reserve = DEFAULT_RESERVE;
static _Atomic uint64_t exhausted;

static uint64_t read_limit(struct rlimit *rl) {
  if (getrlimit(RLIMIT_NOFILE, rl)) return 0;
  return rl->rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl->rlim_cur;
}

int pc_fd_limit_raise(uint64_t *before, uint64_t *after) {
  struct rlimit rl;
  *before = *after = read_limit(&rl);
  if (!*before) return -errno;
  rlim_t want = rl.rlim_max;
  if (want == RLIM_INFINITY) { /* Linux takes at most fs.nr_open */
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long n = 0;
    if (f && fscanf(f, "%llu", &n) == 1 && n > 0) want = (rlim_t)n;
    if (f) fclose(f);
  }
  int rc = 0;
  if (want != RLIM_INFINITY && want > rl.rlim_cur) {
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl)) rc = -errno;
  }
  *after = read_limit(&rl);
  atomic_store(&soft_limit, *after);
  return rc;
}

uint64_t pc_fd_limit(void) {
  uint64_t l = atomic_load_explicit(&soft_limit, memory_order_relaxed);
  if (!l) {
    struct rlimit rl;
    l = read_limit(&rl);
    atomic_store(&soft_limit, l);
  }
  return l;
}

void pc_fd_set_reserve(uint32_t n) { atomic_store(&reserve, n); }

uint32_t pc_fd_reserve(void) { return atomic_load_explicit(&reserve, memory_order_relaxed); }

bool pc_fd_short(int fd) {
  uint64_t limit = pc_fd_limit(), r = pc_fd_reserve();
  return fd >= 0 && r && limit != UINT64_MAX && (uint64_t)fd + 1 + r > limit;
}

void pc_fd_count_exhausted(void) {
  atomic_fetch_add_explicit(&exhausted, 1, memory_order_relaxed);
}

uint64_t pc_fd_exhausted(void) { return atomic_load_explicit(&exhausted, memory_order_relaxed); }

int64_t pc_fd_open_count(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int64_t n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}
