/* cpus.c - how many CPUs the process may use (core.h), for
 * service.workers: auto: one worker per CPU it can really run on.
 *
 * Two limits apply and the lower one wins: the CPUs the scheduler lets the
 * process run on (sched_getaffinity: taskset, cpusets, a Kubernetes pod with
 * the static CPU manager), and the CPU time its cgroup may use (a quota:
 * cgroup v2 cpu.max "QUOTA PERIOD", v1 cpu.cfs_quota_us / cpu.cfs_period_us;
 * a pod's CPU limit). A quota of 1.5 CPUs gives 2 workers: a worker that
 * gets half a core still serves its connections, one worker fewer would
 * leave the half unused. Only the process's own cgroup is read, from the
 * paths a container sees (the cgroup namespace's root), as pc_memory_total
 * does for memory. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* The quota in CPUs (rounded up), 0 when there is none or it is unknown. */
static uint32_t cgroup_quota_cpus(void) {
  long long quota = -1, period = 0;
  FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r"); /* v2: "max 100000" or "150000 100000" */
  if (f) {
    char q[32] = "";
    if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0) sscanf(q, "%lld", &quota);
    fclose(f);
  } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) { /* v1 */
    if (fscanf(f, "%lld", &quota) != 1) quota = -1;
    fclose(f);
    if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
      if (fscanf(f, "%lld", &period) != 1) period = 0;
      fclose(f);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  long long cpus = (quota + period - 1) / period;
  return cpus > 0 && cpus < 1 << 20 ? (uint32_t)cpus : 0;
}

uint32_t pc_cpus_usable(void) {
  uint32_t n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = (uint32_t)CPU_COUNT(&set);
  if (n == 0) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    n = online > 0 ? (uint32_t)online : 1;
  }
  uint32_t quota = cgroup_quota_cpus();
  return quota && quota < n ? quota : n;
}
