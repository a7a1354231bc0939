/* listen.c - listening sockets shared within the process, and what every
 * listener does when accepting runs into the descriptor limit (at the end).
 *
 * A reloaded config (SIGHUP) listens on the same addresses as the one it
 * replaces, and both run side by side while the old one drains. A second
 * socket on the same port (SO_REUSEPORT) would do, except that connections
 * already queued on the old socket are reset when it closes. So instead the
 * new listener gets a duplicate descriptor of the very same socket: queued
 * connections are accepted by whichever handle gets to them, and the
 * socket itself closes only when its last user releases it. Another process
 * on the same port still fails with EADDRINUSE, as with no sharing at all.
 *
 * The registry holds one descriptor per socket (the master) plus a count of
 * users; each user owns a dup of the master. Also here: the peer address of
 * a connection as logs show it.
 *
 * Workers (service.workers > 1, core/worker.c): each worker listens on
 * every address with a socket of its own, all bound with SO_REUSEPORT, and
 * the kernel spreads new connections over them (by a hash of the peer), so
 * no accept is shared and no loop wakes for another's connection. Entries
 * are per address and worker; a reload of worker i shares worker i's
 * socket as above. SO_REUSEPORT would also let another process of the same
 * user join the group unnoticed, so before the first socket of an address
 * is bound, a probe socket without it is bound and closed: EADDRINUSE from
 * the probe is EADDRINUSE, as with one worker. Port 0 means a fresh port,
 * but the same one in every worker of a config: worker 0 binds it and
 * records what it got under (generation, owner, address asked, n-th such
 * request of that owner); worker i's n-th request finds it there. Workers
 * start their listeners in the same order (the same config), worker 0
 * first. With one worker nothing of this applies: no SO_REUSEPORT, as
 * before. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "httpd.h"

typedef struct entry {
  struct entry *next;
  struct sockaddr_storage addr; /* as bound (port 0 resolved to the real port) */
  uint32_t worker;
  int master;
  ino_t ino;
  int users;
} entry_t;

/* What a port 0 became in worker 0, for the other workers of the config. */
typedef struct zero {
  struct zero *next;
  uint64_t generation;
  char owner[64];
  struct sockaddr_storage asked; /* port 0 */
  uint32_t nth;
  struct sockaddr_storage bound;
} zero_t;

static entry_t *entries;
static zero_t *zeros;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The calling thread's port-0 requests of the current generation, counted
 * per (owner, address asked), to find worker 0's record of the same one. */
typedef struct {
  char owner[64];
  struct sockaddr_storage asked;
  uint32_t n;
} zcount_t;
#define MAX_ZCOUNTS 32
static _Thread_local struct {
  uint64_t generation;
  zcount_t v[MAX_ZCOUNTS];
  uint32_t n;
} zcounts;

static socklen_t addr_len(const struct sockaddr *a) {
  return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
  return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static bool port_is_zero(const struct sockaddr *a) {
  return a->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port == 0
                                  : ((const struct sockaddr_in *)a)->sin_port == 0;
}

static int open_socket(const struct sockaddr *addr, int backlog, bool reuseport, int *fd_out) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT only */
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  if (bind(fd, addr, addr_len(addr)) != 0 || (backlog && listen(fd, backlog) != 0)) {
    int rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  *fd_out = fd;
  return 0;
}

static ino_t socket_ino(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* The entry of addr for worker (any worker: ANY), or NULL. */
#define ANY UINT32_MAX
static entry_t *find(const struct sockaddr *addr, uint32_t worker) {
  for (entry_t *e = entries; e; e = e->next)
    if (same_addr((const struct sockaddr *)&e->addr, addr) && (worker == ANY || e->worker == worker))
      return e;
  return NULL;
}

/* Which port-0 request of owner for asked this is in the calling thread's
 * generation (0, 1, ...). */
static uint32_t zero_nth(const char *owner, const struct sockaddr *asked, uint64_t generation) {
  if (zcounts.generation != generation) {
    zcounts.generation = generation;
    zcounts.n = 0;
  }
  for (uint32_t i = 0; i < zcounts.n; i++)
    if (strcmp(zcounts.v[i].owner, owner) == 0 &&
        same_addr((const struct sockaddr *)&zcounts.v[i].asked, asked))
      return zcounts.v[i].n++;
  if (zcounts.n == MAX_ZCOUNTS) return UINT32_MAX; /* a fresh port, as with one worker */
  zcount_t *z = &zcounts.v[zcounts.n++];
  snprintf(z->owner, sizeof z->owner, "%s", owner);
  memcpy(&z->asked, asked, addr_len(asked));
  z->n = 1;
  return 0;
}

static zero_t *zero_find(uint64_t generation, const char *owner, const struct sockaddr *asked,
                         uint32_t nth) {
  for (zero_t *z = zeros; z; z = z->next)
    if (z->generation == generation && z->nth == nth && strcmp(z->owner, owner) == 0 &&
        same_addr((const struct sockaddr *)&z->asked, asked))
      return z;
  return NULL;
}

/* Worker 0 got bound for asked: keep it for the other workers (and forget
 * what configs older than the one before this one recorded). */
static void zero_record(uint64_t generation, const char *owner, const struct sockaddr *asked,
                        uint32_t nth, const struct sockaddr_storage *bound) {
  for (zero_t **pp = &zeros; *pp;) {
    zero_t *z = *pp;
    if (z->generation + 1 < generation) {
      *pp = z->next;
      free(z);
    } else {
      pp = &z->next;
    }
  }
  zero_t *z = pc_xcalloc(1, sizeof *z);
  z->generation = generation;
  snprintf(z->owner, sizeof z->owner, "%s", owner);
  memcpy(&z->asked, asked, addr_len(asked));
  z->nth = nth;
  z->bound = *bound;
  z->next = zeros;
  zeros = z;
}

/* Nobody else holds addr: bind it once without SO_REUSEPORT. */
static int probe(const struct sockaddr *addr) {
  int fd = -1;
  int rc = open_socket(addr, 0, false, &fd);
  if (!rc) close(fd);
  return rc;
}

int pc_listen_acquire(const char *owner, const struct sockaddr *addr, int backlog, int *fd_out) {
  pc_worker_t w = pc_worker_self();
  bool many = w.count > 1;
  struct sockaddr_storage want;
  memcpy(&want, addr, addr_len(addr));
  pthread_mutex_lock(&lock);
  int rc = 0;
  uint32_t nth = UINT32_MAX;
  if (port_is_zero(addr) && many) {
    nth = zero_nth(owner, addr, w.generation);
    zero_t *z = w.index > 0 && nth != UINT32_MAX ? zero_find(w.generation, owner, addr, nth)
                                                 : NULL;
    if (z) want = z->bound; /* worker 0's port */
  }
  const struct sockaddr *at = (const struct sockaddr *)&want;
  entry_t *e = NULL;
  if (!port_is_zero(at)) /* port 0 asks for a fresh port every time */
    e = find(at, w.index);
  if (!e) {
    int master = -1;
    if (many && !port_is_zero(at) && !find(at, ANY)) rc = probe(at);
    if (!rc) rc = open_socket(at, backlog, many, &master);
    if (!rc) {
      e = pc_xcalloc(1, sizeof *e);
      socklen_t len = sizeof e->addr;
      if (getsockname(master, (struct sockaddr *)&e->addr, &len) != 0)
        memcpy(&e->addr, at, addr_len(at));
      e->worker = w.index;
      e->master = master;
      e->ino = socket_ino(master);
      e->next = entries;
      entries = e;
      if (many && w.index == 0 && nth != UINT32_MAX)
        zero_record(w.generation, owner, addr, nth, &e->addr);
    }
  }
  if (!rc) {
    int fd = fcntl(e->master, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      rc = uv_translate_sys_error(errno);
    } else {
      e->users++;
      *fd_out = fd;
    }
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

void pc_listen_release(int fd) {
  ino_t ino = socket_ino(fd);
  pthread_mutex_lock(&lock);
  for (entry_t **pp = &entries; *pp; pp = &(*pp)->next) {
    entry_t *e = *pp;
    if (e->ino != ino) continue;
    if (--e->users == 0) {
      *pp = e->next;
      close(e->master);
      free(e);
    }
    break;
  }
  pthread_mutex_unlock(&lock);
}

void pc_listen_close(uv_tcp_t *listener, uv_close_cb cb) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)listener, &fd) == 0) pc_listen_release(fd);
  uv_close((uv_handle_t *)listener, cb);
}

/* "ip:port" of a connection's peer, for logs. */
void pc_http_peer(const uv_tcp_t *tcp, char *buf, size_t n) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(buf, n, "?");
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return;
  char ip[64] = "?";
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(buf, n, "%s:%d", ip, ntohs(a->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(buf, n, "[%s]:%d", ip, ntohs(a->sin6_port));
  } else {
    snprintf(buf, n, "local socket");
  }
}

pc_str_t pc_http_peer_ip(const uv_tcp_t *tcp, char *buf, size_t n) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (n == 0 || uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return (pc_str_t){0};
  buf[0] = 0;
  if (ss.ss_family == AF_INET) {
    uv_ip4_name((const struct sockaddr_in *)&ss, buf, n);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) /* a dual-stack listener's IPv4 client */
      inet_ntop(AF_INET, a->sin6_addr.s6_addr + 12, buf, (socklen_t)n);
    else
      uv_ip6_name(a, buf, n);
  }
  return (pc_str_t){(const uint8_t *)buf, strlen(buf)};
}

/* ---- accepting near the descriptor limit ------------------------------------ */

/* One limit for the process: running out of descriptors is the process's
 * state, not a listener's, and one line per 10 s says it. */
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static pc_ratelimit_t rl;

static bool may_log(uint64_t *skipped) {
  pthread_mutex_lock(&rl_lock);
  bool ok = pc_ratelimit(&rl, 10000, skipped);
  pthread_mutex_unlock(&rl_lock);
  return ok;
}

static const char RAISE[] = "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or lower "
                            "max_connections";

/* EMFILE/ENFILE arrive here only when libuv could not shed the pending
 * connections itself: it keeps a spare descriptor to accept and close them,
 * silently, which is why receivers keep a reserve and say when they use it. */
void pc_accept_failed(const char *id, int status) {
  bool fds = status == UV_EMFILE || status == UV_ENFILE;
  if (fds) pc_fd_count_exhausted();
  uint64_t skipped;
  char sup[48];
  if (may_log(&skipped))
    pc_log(id, PC_LOG_WARN, "accepting a connection failed: %s (%s)%s%s%s", uv_strerror(status),
           uv_err_name(status), fds ? "; the process is out of file descriptors: " : "",
           fds ? RAISE : "", pc_suppressed(skipped, sup));
}

bool pc_accept_fd_short(const char *id, const uv_tcp_t *tcp, uint32_t n_open) {
  uv_os_fd_t fd;
  if (uv_fileno((const uv_handle_t *)tcp, &fd) || !pc_fd_short(fd)) return false;
  pc_fd_count_exhausted();
  uint64_t skipped;
  char sup[48];
  if (may_log(&skipped))
    pc_log(id, PC_LOG_WARN,
           "file descriptors are running out: a new connection got descriptor %d of the limit "
           "%llu, leaving fewer than the %u kept free for health checks, metrics, exporters and "
           "files (service.fd_reserve); closed it at once (%u connections open): %s%s",
           (int)fd, (unsigned long long)pc_fd_limit(), pc_fd_reserve(), n_open, RAISE,
           pc_suppressed(skipped, sup));
  return true;
}
