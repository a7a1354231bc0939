/* httpsrv.c - the loopback HTTP server of the exporter tests (see httpsrv.h).
 * One thread polls the listener and the connections every few milliseconds;
 * everything shared with the test thread sits behind one mutex. */
#include "httpsrv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../pdata/pdata.h"

#define MAX_CONNS 64
#define MAX_SCRIPT 64
#define MAX_REQUESTS 4096

typedef struct {
  int fd;
  int id;
  pc_buf_t in;
  bool waiting;      /* a request read, its answer not sent yet */
  srv_answer_t ans;  /* that answer */
  uint64_t due_ms;   /* when to send it */
} conn_t;

struct srv {
  pthread_t thread;
  pthread_mutex_t mu;
  bool stop, down, is_down;
  bool v6; /* on [::1] */
  int lfd;
  uint16_t port;
  char url[64];
  conn_t conns[MAX_CONNS];
  int n_accepted;
  srv_answer_t script[MAX_SCRIPT];
  size_t script_n, script_at;
  srv_answer_t dflt;
  srv_request_t reqs[MAX_REQUESTS];
  size_t n_reqs;
  int pending, max_pending;
};

uint64_t srv_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int listen_on(bool v6, uint16_t port) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int rc = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6)
              : bind(fd, (struct sockaddr *)&a, sizeof a);
  if (rc || listen(fd, 64)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void conn_close(srv_t *s, conn_t *c) {
  if (c->waiting) s->pending--;
  close(c->fd);
  pc_buf_free(&c->in);
  *c = (conn_t){.fd = -1};
}

static void header_value(const char *hdrs, const char *name, char *out, size_t cap) {
  out[0] = 0;
  size_t ln = strlen(name);
  for (const char *p = hdrs; p && *p; p = strstr(p, "\r\n")) {
    if (p[0] == '\r') p += 2;
    if (strncasecmp(p, name, ln) == 0 && p[ln] == ':') {
      p += ln + 1;
      while (*p == ' ') p++;
      const char *e = strstr(p, "\r\n");
      size_t n = e ? (size_t)(e - p) : strlen(p);
      snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
      return;
    }
  }
}

/* A whole request in c->in: record it and pick its answer. */
static bool take_request(srv_t *s, conn_t *c) {
  if (c->in.n == 0) return false;
  uint8_t *end = memmem(c->in.p, c->in.n, "\r\n\r\n", 4);
  if (!end) return false;
  size_t hlen = (size_t)(end - c->in.p) + 4;
  char hdrs[4096];
  snprintf(hdrs, sizeof hdrs, "%.*s", (int)(hlen < sizeof hdrs ? hlen : sizeof hdrs - 1),
           (const char *)c->in.p);
  char cl[32];
  header_value(hdrs, "Content-Length", cl, sizeof cl);
  size_t blen = (size_t)strtoull(cl, NULL, 10);
  if (c->in.n < hlen + blen) return false;
  if (s->n_reqs < MAX_REQUESTS) {
    srv_request_t *r = &s->reqs[s->n_reqs++];
    r->at_ms = srv_now_ms();
    sscanf(hdrs, "%*s %255s", r->path);
    header_value(hdrs, "Content-Type", r->content_type, sizeof r->content_type);
    header_value(hdrs, "Content-Encoding", r->content_encoding, sizeof r->content_encoding);
    size_t hl = strnlen(hdrs, sizeof r->headers - 1);
    memcpy(r->headers, hdrs, hl);
    r->headers[hl] = 0;
    r->body = malloc(blen ? blen : 1);
    memcpy(r->body, c->in.p + hlen, blen);
    r->n = blen;
    r->conn = c->id;
  }
  memmove(c->in.p, c->in.p + hlen + blen, c->in.n - hlen - blen);
  c->in.n -= hlen + blen;
  c->ans = s->script_at < s->script_n ? s->script[s->script_at++] : s->dflt;
  c->waiting = true;
  c->due_ms = srv_now_ms() + c->ans.delay_ms;
  if (++s->pending > s->max_pending) s->max_pending = s->pending;
  return true;
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 429: return "Too Many Requests";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

static void send_answer(srv_t *s, conn_t *c) {
  const srv_answer_t *a = &c->ans;
  int status = a->status ? a->status : 200;
  char head[512];
  int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                   status, reason(status), a->content_type ? a->content_type : "application/x-protobuf",
                   a->body_n);
  if (a->retry_after_s > 0 && a->retry_after_date) {
    time_t t = time(NULL) + a->retry_after_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    n += (int)strftime(head + n, sizeof head - (size_t)n, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  } else if (a->retry_after_s > 0) {
    n += snprintf(head + n, sizeof head - (size_t)n, "Retry-After: %d\r\n", a->retry_after_s);
  }
  n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n", a->close ? "Connection: close\r\n" : "");
  pc_buf_t out = {0};
  pc_buf_append(&out, head, (size_t)n);
  pc_buf_append(&out, a->body, a->body_n);
  size_t off = 0;
  while (off < out.n) {
    ssize_t w = send(c->fd, out.p + off, out.n - off, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {.fd = c->fd, .events = POLLOUT};
      poll(&p, 1, 100);
      continue;
    }
    if (w <= 0) break;
    off += (size_t)w;
  }
  pc_buf_free(&out);
  c->waiting = false;
  s->pending--;
  if (a->close) conn_close(s, c);
}

static void accept_all(srv_t *s) {
  for (;;) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    conn_t *c = NULL;
    for (int i = 0; i < MAX_CONNS && !c; i++)
      if (s->conns[i].fd < 0) c = &s->conns[i];
    if (!c) {
      close(fd);
      continue;
    }
    *c = (conn_t){.fd = fd, .id = s->n_accepted++};
  }
}

static void read_conn(srv_t *s, conn_t *c) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r > 0) {
      pc_buf_append(&c->in, buf, (size_t)r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
    conn_close(s, c); /* EOF or error */
    return;
  }
  if (!c->waiting) take_request(s, c);
}

/* One turn: the listener goes down or up as asked, answers fall due, and
 * whatever is readable is read. Called with the mutex held. */
static void turn(srv_t *s) {
  if (s->down && !s->is_down) {
    close(s->lfd);
    s->lfd = -1;
    for (int i = 0; i < MAX_CONNS; i++)
      if (s->conns[i].fd >= 0) conn_close(s, &s->conns[i]);
    s->is_down = true;
  } else if (!s->down && s->is_down) {
    s->lfd = listen_on(s->v6, s->port);
    s->is_down = s->lfd < 0;
  }
  uint64_t now = srv_now_ms();
  for (int i = 0; i < MAX_CONNS; i++) {
    conn_t *c = &s->conns[i];
    if (c->fd >= 0 && c->waiting && !c->ans.hang && now >= c->due_ms) send_answer(s, c);
    if (c->fd >= 0 && !c->waiting) take_request(s, c); /* one already buffered */
  }
}

static void *srv_main(void *arg) {
  srv_t *s = arg;
  for (;;) {
    struct pollfd p[MAX_CONNS + 1];
    int map[MAX_CONNS + 1], n = 0;
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    turn(s);
    if (s->lfd >= 0) {
      p[n] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
      map[n++] = -1;
    }
    for (int i = 0; i < MAX_CONNS; i++)
      if (s->conns[i].fd >= 0) {
        p[n] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        map[n++] = i;
      }
    pthread_mutex_unlock(&s->mu);
    if (poll(p, (nfds_t)n, 5) <= 0) continue;
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < n; k++) {
      if (!p[k].revents) continue;
      if (map[k] < 0 && s->lfd == p[k].fd) accept_all(s);
      else if (map[k] >= 0 && s->conns[map[k]].fd == p[k].fd) read_conn(s, &s->conns[map[k]]);
    }
    pthread_mutex_unlock(&s->mu);
  }
  return NULL;
}

static srv_t *start(bool v6) {
  srv_t *s = calloc(1, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  for (int i = 0; i < MAX_CONNS; i++) s->conns[i].fd = -1;
  s->v6 = v6;
  s->lfd = listen_on(v6, 0);
  if (s->lfd < 0) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  struct sockaddr_storage a;
  socklen_t al = sizeof a;
  getsockname(s->lfd, (struct sockaddr *)&a, &al);
  s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                     : ((struct sockaddr_in *)&a)->sin_port);
  snprintf(s->url, sizeof s->url, v6 ? "http://[::1]:%u" : "http://127.0.0.1:%u", s->port);
  pthread_create(&s->thread, NULL, srv_main, s);
  return s;
}

srv_t *srv_start(void) { return start(false); }
srv_t *srv_start6(void) { return start(true); }

uint16_t srv_port(srv_t *s) { return s->port; }
const char *srv_url(srv_t *s) { return s->url; }

void srv_script(srv_t *s, const srv_answer_t *answers, size_t n) {
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < n && i < MAX_SCRIPT; i++) s->script[i] = answers[i];
  s->script_n = n < MAX_SCRIPT ? n : MAX_SCRIPT;
  s->script_at = 0;
  pthread_mutex_unlock(&s->mu);
}

void srv_set_default(srv_t *s, const srv_answer_t *a) {
  pthread_mutex_lock(&s->mu);
  s->dflt = *a;
  pthread_mutex_unlock(&s->mu);
}

void srv_down(srv_t *s, bool down) {
  pthread_mutex_lock(&s->mu);
  s->down = down;
  turn(s);
  pthread_mutex_unlock(&s->mu);
}

size_t srv_count(srv_t *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n_reqs;
  pthread_mutex_unlock(&s->mu);
  return n;
}

srv_request_t srv_request(srv_t *s, size_t i) {
  pthread_mutex_lock(&s->mu);
  srv_request_t r = i < s->n_reqs ? s->reqs[i] : (srv_request_t){0};
  pthread_mutex_unlock(&s->mu);
  return r;
}

int srv_connections(srv_t *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->n_accepted;
  pthread_mutex_unlock(&s->mu);
  return n;
}

int srv_max_pending(srv_t *s) {
  pthread_mutex_lock(&s->mu);
  int n = s->max_pending;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void srv_stop(srv_t *s) {
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  for (int i = 0; i < MAX_CONNS; i++)
    if (s->conns[i].fd >= 0) conn_close(s, &s->conns[i]);
  if (s->lfd >= 0) close(s->lfd);
  for (size_t i = 0; i < s->n_reqs; i++) free(s->reqs[i].body);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void srv_answer_status(srv_answer_t *a, int status, const char *msg) {
  pc_buf_t b = {0};
  pc_encode_status(false, 3, msg, &b);
  *a = (srv_answer_t){.status = status, .body_n = b.n < sizeof a->body ? b.n : sizeof a->body};
  memcpy(a->body, b.p, a->body_n);
  pc_buf_free(&b);
}

void srv_answer_partial(srv_answer_t *a, int64_t rejected, const char *msg) {
  pc_buf_t b = {0};
  pc_encode_export_response(false, rejected, msg, &b);
  *a = (srv_answer_t){.status = 200, .body_n = b.n < sizeof a->body ? b.n : sizeof a->body};
  memcpy(a->body, b.p, a->body_n);
  pc_buf_free(&b);
}
