/* startup_time.c - how long a server takes from exec to accepting
 * connections on all of its listening ports, for bench/run.sh.
 *
 * Each run: note the monotonic clock, fork, exec the command in the child;
 * the parent tries a loopback connect to every port every 50 us (a connect
 * to a port nobody listens on fails at once with ECONNREFUSED) until all of
 * them accept, notes the clock again, sends SIGTERM and reaps the child
 * (SIGKILL after 10 s). The time includes fork and exec, and the dynamic
 * loader's work, as a user's "start" does. A child that exits before it
 * listens is an error, with its status.
 *
 *   startup-time [--runs N] --port P [--port P]... -- COMMAND [ARGS...]
 *
 * Prints the milliseconds of every run and their median, and the median CPU
 * time the command had used by then (all its threads, from
 * /proc/PID/task/\*\/schedstat, in ns): on a loaded machine the wall time is
 * mostly waiting for a CPU, the CPU time is what the start costs:
 *   startup runs=5 median_ms=4.21 cpu_ms=3.10 all_ms=4.50,4.21,...
 * The command's stdout and stderr go to /dev/null unless --log FILE. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 16
#define MAX_RUNS 100
#define GIVE_UP_S 30.0

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* CPU time used so far by every thread of pid, in seconds. */
static double cpu_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return 0;
  double sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[320];
    snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
    FILE *f = fopen(p, "r");
    unsigned long long ns = 0;
    if (f && fscanf(f, "%llu", &ns) == 1) sum += (double)ns * 1e-9;
    if (f) fclose(f);
  }
  closedir(d);
  return sum;
}

static void reap(pid_t pid) {
  kill(pid, SIGTERM);
  double until = now() + 10;
  int st;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return;
    }
    usleep(1000);
  }
}

/* Milliseconds to listening, or < 0 on failure (message printed); *cpu_ms:
 * the CPU time it had used by then. */
static double one_run(char **cmd, const int *ports, int n_ports, const char *log, double *cpu_ms) {
  for (int i = 0; i < n_ports; i++)
    if (accepts(ports[i])) {
      fprintf(stderr, "startup-time: port %d already accepts before the start\n", ports[i]);
      return -1;
    }
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execvp(cmd[0], cmd);
    _exit(127);
  }
  int ready = 0;
  while (ready < n_ports) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "startup-time: %s exited (status %d) before it listened\n", cmd[0],
              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      return -1;
    }
    if (accepts(ports[ready])) {
      ready++;
      continue;
    }
    if (now() - t0 > GIVE_UP_S) {
      fprintf(stderr, "startup-time: port %d did not accept within %.0f s\n", ports[ready],
              GIVE_UP_S);
      reap(pid);
      return -1;
    }
    usleep(50);
  }
  double ms = (now() - t0) * 1e3;
  *cpu_ms = cpu_of(pid) * 1e3;
  reap(pid);
  return ms;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[MAX_RUNS];
  memcpy(s, v, sizeof(double) * (size_t)n);
  qsort(s, (size_t)n, sizeof(double), cmp);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int ports[MAX_PORTS], n_ports = 0, runs = 5, i;
  const char *log = NULL;
  for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (i + 1 >= argc) goto usage;
    if (strcmp(argv[i], "--port") == 0 && n_ports < MAX_PORTS)
      ports[n_ports++] = atoi(argv[++i]);
    else if (strcmp(argv[i], "--runs") == 0)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--log") == 0)
      log = argv[++i];
    else
      goto usage;
  }
  if (i >= argc - 1 || n_ports == 0 || runs < 1 || runs > MAX_RUNS) goto usage;
  for (int p = 0; p < n_ports; p++)
    if (ports[p] <= 0 || ports[p] > 65535) goto usage;
  double ms[MAX_RUNS], cpu[MAX_RUNS];
  for (int r = 0; r < runs; r++) {
    ms[r] = one_run(&argv[i + 1], ports, n_ports, log, &cpu[r]);
    if (ms[r] < 0) return 1;
  }
  printf("startup runs=%d median_ms=%.2f cpu_ms=%.2f all_ms=", runs, median(ms, runs),
         median(cpu, runs));
  for (int r = 0; r < runs; r++) printf("%s%.2f", r ? "," : "", ms[r]);
  printf("\n");
  return 0;
usage:
  fprintf(stderr, "usage: startup-time [--runs N] [--log FILE] --port P [--port P]... -- COMMAND [ARGS...]\n");
  return 2;
}
