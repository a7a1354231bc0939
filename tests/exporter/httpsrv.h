/* httpsrv.h - a small real HTTP/1.1 server on 127.0.0.1 (or [::1]) for the exporter
 * tests: a thread with poll(2) over plain sockets, answering from a script
 * (503 then 200, Retry-After, 400 with a google.rpc.Status, close after the
 * answer, hang, delay) and recording every request it read in full. It can
 * be taken down (the port refuses connections) and brought back on the same
 * port. Not a general server: Content-Length bodies only, one request at a
 * time per connection (what libcurl sends). */
#ifndef PC_TEST_HTTPSRV_H
#define PC_TEST_HTTPSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int status;              /* 0: 200 */
  int retry_after_s;       /* > 0: a Retry-After header */
  bool retry_after_date;   /* ... as an HTTP date, now + retry_after_s */
  const char *content_type; /* of body (default application/x-protobuf) */
  uint8_t body[512];
  size_t body_n;
  bool close;        /* Connection: close, then close */
  bool hang;         /* never answer this request */
  uint32_t delay_ms; /* answer after this long */
} srv_answer_t;

typedef struct {
  uint64_t at_ms; /* monotonic time the request was read in full */
  char path[256];
  char content_type[128];
  char content_encoding[64];
  char headers[2048]; /* raw header block, for checks on custom headers */
  uint8_t *body;      /* owned by the server, valid until srv_stop */
  size_t n;
  int conn; /* which accepted connection (0, 1, ...) */
} srv_request_t;

typedef struct srv srv_t;

srv_t *srv_start(void);
/* The same on [::1]; NULL when the machine has no IPv6 loopback. */
srv_t *srv_start6(void);
uint16_t srv_port(srv_t *s);
/* "http://127.0.0.1:PORT" ("http://[::1]:PORT") */
const char *srv_url(srv_t *s);
/* The next n requests get these answers, in order; after that, the default. */
void srv_script(srv_t *s, const srv_answer_t *answers, size_t n);
void srv_set_default(srv_t *s, const srv_answer_t *a);
/* Down: stop listening and drop every connection (clients get "connection
 * refused"); up: listen again on the same port. */
void srv_down(srv_t *s, bool down);
size_t srv_count(srv_t *s);
/* A copy of request i (its body pointer stays owned by the server). */
srv_request_t srv_request(srv_t *s, size_t i);
int srv_connections(srv_t *s);
/* Most requests read and not yet answered at one time. */
int srv_max_pending(srv_t *s);
void srv_stop(srv_t *s);

/* Build answer bodies with pdata's encoders. */
void srv_answer_status(srv_answer_t *a, int status, const char *msg);
void srv_answer_partial(srv_answer_t *a, int64_t rejected, const char *msg);

uint64_t srv_now_ms(void);

#endif
