/* h2client.c - a small HTTP/2 client for tests (h2client.h): libnghttp2's
 * client session over a blocking loopback socket, with data providers that
 * can stop short of a stream's end on purpose. */
#include "h2client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 1024

typedef struct {
  int32_t id;
  const uint8_t *head; /* then zeros */
  size_t head_n, total, stall_after, sent;
  int grpc_status, http_status;
  uint32_t reset_code;
  bool closed, details;
  char extra_name[64], extra_value[256];
} call_t;

struct pc_h2 {
  int fd; /* non-blocking: several clients make progress side by side */
  nghttp2_session *ng;
  bool dead;
  uint8_t *out; /* serialized frames the socket did not take yet */
  size_t out_n, out_off, out_cap;
  call_t calls[MAX_STREAMS];
  unsigned n_calls, n_open;
};

static call_t *call_of(const pc_h2_t *h, int32_t id) {
  for (unsigned i = 0; i < h->n_calls; i++)
    if (h->calls[i].id == id) return (call_t *)&h->calls[i];
  return NULL;
}

static ssize_t on_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud) {
  (void)ng, (void)id, (void)ud;
  call_t *c = src->ptr;
  size_t upto = c->stall_after < c->total ? c->stall_after : c->total;
  if (c->sent >= upto && upto < c->total) return NGHTTP2_ERR_DEFERRED; /* for ever */
  size_t n = upto - c->sent < len ? upto - c->sent : len;
  size_t from_head = c->sent < c->head_n ? c->head_n - c->sent : 0;
  if (from_head > n) from_head = n;
  if (from_head) memcpy(buf, c->head + c->sent, from_head);
  memset(buf + from_head, 0, n - from_head);
  c->sent += n;
  if (c->sent == c->total) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nn,
                     const uint8_t *v, size_t vn, uint8_t flags, void *ud) {
  (void)ng, (void)flags;
  call_t *c = call_of(ud, f->hd.stream_id);
  if (!c) return 0;
  char val[32];
  snprintf(val, sizeof val, "%.*s", (int)(vn < 31 ? vn : 31), (const char *)v);
  if (nn == 11 && memcmp(name, "grpc-status", 11) == 0) c->grpc_status = atoi(val);
  if (nn == 7 && memcmp(name, ":status", 7) == 0) c->http_status = atoi(val);
  if (nn == 23 && memcmp(name, "grpc-status-details-bin", 23) == 0) c->details = vn > 0;
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  (void)ng;
  pc_h2_t *h = ud;
  call_t *c = call_of(h, id);
  if (c && !c->closed) {
    c->closed = true;
    c->reset_code = code;
    h->n_open--;
  }
  return 0;
}

pc_h2_t *pc_h2_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return NULL;
  }
  int one = 1; /* as gRPC clients: no Nagle delay between frames */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  pc_h2_t *h = calloc(1, sizeof *h);
  if (!h) abort();
  h->fd = fd;
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb)) abort();
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  if (nghttp2_session_client_new(&h->ng, cb, h)) abort();
  nghttp2_session_callbacks_del(cb);
  /* Answers are small; our windows need no care. */
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
  nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 1);
  return h;
}

void pc_h2_close(pc_h2_t *h) {
  if (!h) return;
  nghttp2_session_del(h->ng);
  close(h->fd);
  free(h->out);
  free(h);
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

int32_t pc_h2_call(pc_h2_t *h, const char *path, const uint8_t *head, size_t head_n,
                   size_t total, size_t stall_after, const char *extra) {
  if (h->n_calls == MAX_STREAMS) abort();
  call_t *c = &h->calls[h->n_calls];
  *c = (call_t){.head = head, .head_n = head_n, .total = total, .stall_after = stall_after,
                .grpc_status = -1};
  nghttp2_nv nva[6] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", path),
                       NV(":authority", "127.0.0.1"), NV("content-type", "application/grpc"),
                       NV("te", "trailers")};
  size_t n = 6;
  nghttp2_nv all[7];
  memcpy(all, nva, sizeof nva);
  if (extra) {
    const char *colon = strchr(extra, ':');
    snprintf(c->extra_name, sizeof c->extra_name, "%.*s", (int)(colon - extra), extra);
    snprintf(c->extra_value, sizeof c->extra_value, "%s", colon + 1 + (colon[1] == ' '));
    all[n++] = (nghttp2_nv)NV(c->extra_name, c->extra_value);
  }
  nghttp2_data_provider dp = {.source.ptr = c, .read_callback = on_read_body};
  int32_t id = nghttp2_submit_request(h->ng, NULL, all, n, total ? &dp : NULL, NULL);
  if (id < 0) abort();
  c->id = id;
  h->n_calls++;
  h->n_open++;
  return id;
}

void pc_h2_reset(pc_h2_t *h, int32_t id) {
  nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

void pc_h2_window_update(pc_h2_t *h) {
  nghttp2_submit_window_update(h->ng, NGHTTP2_FLAG_NONE, 0, 1);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send what the session has, as far as the socket takes it now; the rest
 * waits in h->out. */
static int flush_out(pc_h2_t *h) {
  for (;;) {
    if (h->out_off == h->out_n) {
      h->out_off = h->out_n = 0;
      while (h->out_n < (1 << 20)) { /* gather up to 1 MiB of frames */
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(h->ng, &p);
        if (n < 0) return -1;
        if (n == 0) break;
        if (h->out_n + (size_t)n > h->out_cap) {
          h->out_cap = (h->out_n + (size_t)n) * 2;
          h->out = realloc(h->out, h->out_cap);
          if (!h->out) abort();
        }
        memcpy(h->out + h->out_n, p, (size_t)n);
        h->out_n += (size_t)n;
      }
      if (h->out_n == 0) return 0;
    }
    ssize_t w = send(h->fd, h->out + h->out_off, h->out_n - h->out_off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (w <= 0) return -1;
    h->out_off += (size_t)w;
  }
}

int pc_h2_pump(pc_h2_t *h, int ms) {
  long until = now_ms() + ms;
  for (;;) {
    if (h->dead) return -1;
    if (flush_out(h) != 0) {
      h->dead = true;
      return -1;
    }
    long left = until - now_ms();
    if (left <= 0) return 0;
    bool pending = h->out_off < h->out_n || nghttp2_session_want_write(h->ng);
    if (h->n_open == 0 && !pending) return 0;
    struct pollfd p = {.fd = h->fd, .events = POLLIN | (h->out_off < h->out_n ? POLLOUT : 0)};
    int r = poll(&p, 1, (int)(left < 10 ? left : 10));
    if (r <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    uint8_t buf[65536];
    ssize_t got = recv(h->fd, buf, sizeof buf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0 || nghttp2_session_mem_recv(h->ng, buf, (size_t)got) < 0) {
      h->dead = true;
      return -1;
    }
  }
}

unsigned pc_h2_open_streams(const pc_h2_t *h) { return h->n_open; }

int pc_h2_status(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c ? c->grpc_status : -1;
}

int pc_h2_http_status(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c ? c->http_status : 0;
}

uint32_t pc_h2_reset_code(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c ? c->reset_code : 0;
}

bool pc_h2_closed(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c && c->closed;
}

size_t pc_h2_sent(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c ? c->sent : 0;
}

bool pc_h2_has_details(const pc_h2_t *h, int32_t id) {
  const call_t *c = call_of(h, id);
  return c && c->details;
}

void pc_h2_pump_all(pc_h2_t **h, int n, int ms, bool keepalive) {
  long t0 = now_ms(), last_update = -1000;
  for (long el = 0; el < ms; el = now_ms() - t0) {
    bool update = keepalive && el - last_update >= 300;
    if (update) last_update = el;
    for (int i = 0; i < n; i++) {
      if (update) pc_h2_window_update(h[i]);
      pc_h2_pump(h[i], 20);
    }
  }
}

bool pc_h2_all_sent_or_answered(pc_h2_t **h, int n, int32_t (*ids)[2], size_t want) {
  for (int c = 0; c < n; c++)
    for (int i = 0; i < 2; i++)
      if (pc_h2_sent(h[c], ids[c][i]) < want && pc_h2_status(h[c], ids[c][i]) < 0 &&
          !pc_h2_closed(h[c], ids[c][i]))
        return false;
  return true;
}

void pc_h2_prefix(uint8_t out[5], uint32_t n) {
  out[0] = 0;
  out[1] = (uint8_t)(n >> 24);
  out[2] = (uint8_t)(n >> 16);
  out[3] = (uint8_t)(n >> 8);
  out[4] = (uint8_t)n;
}
