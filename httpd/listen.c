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
 * a connection as logs show it. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
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
  int master;
  ino_t ino;
  int users;
} entry_t;

static entry_t *entries;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

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

static int open_socket(const struct sockaddr *addr, int backlog, int *fd_out) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT only */
  if (bind(fd, addr, addr_len(addr)) != 0 || listen(fd, backlog) != 0) {
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

int pc_listen_acquire(const struct sockaddr *addr, int backlog, int *fd_out) {
  pthread_mutex_lock(&lock);
  entry_t *e = NULL;
  if (!port_is_zero(addr)) /* port 0 asks for a fresh port every time */
    for (e = entries; e && !same_addr((const struct sockaddr *)&e->addr, addr); e = e->next) {
    }
  int rc = 0;
  if (!e) {
    int master = -1;
    rc = open_socket(addr, backlog, &master);
    if (!rc) {
      e = pc_xcalloc(1, sizeof *e);
      socklen_t len = sizeof e->addr;
      if (getsockname(master, (struct sockaddr *)&e->addr, &len) != 0)
        memcpy(&e->addr, addr, addr_len(addr));
      e->master = master;
      e->ino = socket_ino(master);
      e->next = entries;
      entries = e;
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
