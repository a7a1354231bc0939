/* http_request_fuzz.c - libFuzzer target over the OTLP/HTTP receiver's
 * whole request path: bytes in through a real socket (one end of a
 * socketpair, adopted by the receiver's HTTP server) -> llhttp -> limits ->
 * decompression -> protobuf/JSON decoding -> pipeline -> answer bytes out.
 *
 * The input is what a client sends on one connection, which then
 * half-closes. Inputs of odd size go to a second receiver that requires a
 * bearer token ("Authorization: Bearer t0k3n") and adds response_headers;
 * inputs that start like a TLS record (0x16, a handshake) go to a third
 * that serves TLS, on a certificate the openssl command makes at start
 * (there the answers are TLS records: only the close is checked). Properties checked beyond "no crash, no leak":
 * - the server always ends the connection once the client is done;
 * - what comes back is a clean sequence of HTTP/1.1 responses (llhttp in
 *   response mode), each final one with Content-Type and Content-Length and
 *   a status the receiver is meant to give;
 * - strict framing (httpd/head.c, issue 14): a request that reaches the
 *   pipeline carries at most one Host header, and no header of it holds a
 *   CR or LF (what obs-fold or a bare CR would smuggle into a value);
 * - no connection stays open afterwards;
 * - the request memory budget (small here, so bodies and decodes hit it)
 *   gets back everything but what spare jobs keep, and never underflows.
 * The pipeline says it is full (its full hook) for some inputs, so requests
 * are also refused at their headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../extension/extension.h"
#include "../../receiver/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static void *rx, *rx_auth, *rx_tls;
static unsigned requests; /* in this input: picks the pipeline's answer */

/* Accept most requests; refuse some, as a full or broken pipeline would. */
static int fuzz_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  unsigned k = requests++;
  if (pc_request_profile_count(req) == 0) abort(); /* empty ones are not handed on */
  /* include_metadata: every header view must be readable (ASan) and named. */
  unsigned sum = 0, hosts = 0;
  for (size_t i = 0; req->metadata && i < req->metadata->n; i++) {
    const pc_md_pair_t *h = &req->metadata->v[i];
    if (h->key.n == 0) abort();
    if (h->key.n == 4 && strncasecmp((const char *)h->key.p, "host", 4) == 0) hosts++;
    if ((h->value.n && memchr(h->value.p, '\r', h->value.n)) ||
        (h->value.n && memchr(h->value.p, '\n', h->value.n)))
      abort();
    for (size_t b = 0; b < h->key.n; b++) sum += h->key.p[b];
    for (size_t b = 0; b < h->value.n; b++) sum += h->value.p[b];
  }
  if (hosts > 1) abort();
  if (sum == 1) k++; /* keeps the reads */
  if (k % 5 == 3) return pc_err_set(err, PC_EAGAIN, "fuzz pipeline is full");
  if (k % 7 == 5) return pc_err_set(err, PC_EIO, "fuzz pipeline broke");
  return 0;
}

static int fuzz_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  (void)self;
  return tr->encoded_n % 3 == 1 ? pc_err_set(err, PC_EDECODE, "bad spans") : 0;
}

static bool pipeline_full; /* what the full hook says during this input */

static bool fuzz_full(pc_consumer_t *self, pc_err_t *err) {
  (void)self;
  if (pipeline_full) pc_err_set(err, PC_EAGAIN, "fuzz pipeline is known full");
  return pipeline_full;
}

static pc_consumer_t consumer = {.consume_profiles = fuzz_consume,
                                 .consume_traces = fuzz_traces, .full = fuzz_full,
                                 .retry_after_s = 3};

/* Request memory: a few bodies and decodes of max_request_body_size. What
 * stays held between inputs: spare jobs (8 at most, each an arena's kept
 * blocks and a decompression buffer) and idle connections' small body
 * buffers. */
#define FUZZ_BUDGET ((uint64_t)3 << 20)

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  if (uv_loop_init(&loop) != 0) abort();
  pc_budget_set_limit(pc_request_budget(), FUZZ_BUDGET);
  pc_otlp_settings_t s;
  pc__otlp_defaults(&s);
  s.endpoint = "127.0.0.1:0";
  s.max_request_body_size = 256 * 1024; /* small enough to hit often */
  s.include_metadata = true;            /* the header views reach the consumer */
  /* CORS on, so preflights and Origin headers take their paths too. */
  pc_err_t err;
  pc_cfg_t *cors = pc_cfg_load_string("fuzz-cors.yaml",
                                      "origins: [https://a.example, \"https://*.b.example\"]\n"
                                      "headers: [x-scope-orgid]\n", &err);
  if (!cors) abort();
  s.cors_allowed_origins = pc_cfg_get(pc_cfg_root(cors), "origins");
  s.cors_allowed_headers = pc_cfg_get(pc_cfg_root(cors), "headers");
  s.cors_max_age = 60;
  rx = pc__otlp_new(&s, "otlp/fuzz", &consumer, &err);
  if (!rx || pc_receiver_otlp.start(rx, &loop, &err) != 0) {
    fprintf(stderr, "fuzz setup: %s\n", err.msg);
    abort();
  }
  pc_cfg_t *more = pc_cfg_load_string("fuzz-auth.yaml", "auth: {token: t0k3n}\n"
                                      "headers: {X-Fuzz: \"yes\"}\n", &err);
  if (!more) abort();
  pc_create_args_t args = {.id = "bearertokenauth",
                           .cfg = pc_cfg_get(pc_cfg_root(more), "auth")};
  void *bearer = pc_extension_bearertokenauth.create(&args, &err); /* lives as long as rx_auth */
  if (!bearer) abort();
  s.authenticator = "bearertokenauth";
  s.response_headers = pc_cfg_get(pc_cfg_root(more), "headers");
  rx_auth = pc__otlp_new(&s, "otlp/fuzz-auth", &consumer, &err);
  /* The receiver finds the extension through a host, as in the service. */
  pc_host_t *host = pc_host_new();
  pc_host_add(host, "bearertokenauth", &pc_extension_bearertokenauth, bearer);
  if (!rx_auth || pc_receiver_otlp.resolve(rx_auth, host, &err) != 0 ||
      pc_receiver_otlp.start(rx_auth, &loop, &err) != 0) {
    fprintf(stderr, "fuzz setup: %s\n", err.msg);
    abort();
  }
  /* The TLS receiver: a self-signed certificate made once per process. */
  char dir[] = "/tmp/profcol-fuzz-tls-XXXXXX", cmd[512], cert[300], key[300];
  if (!mkdtemp(dir)) abort();
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fuzz "
           "-keyout %s -out %s >/dev/null 2>&1", key, cert);
  if (system(cmd) != 0) {
    fprintf(stderr, "fuzz setup: the openssl command could not make a certificate\n");
    abort();
  }
  s.authenticator = NULL;
  s.response_headers = NULL;
  s.tls = (pc_tls_files_t){.cert_file = cert, .key_file = key};
  rx_tls = pc__otlp_new(&s, "otlp/fuzz-tls", &consumer, &err);
  if (!rx_tls || pc_receiver_otlp.start(rx_tls, &loop, &err) != 0) {
    fprintf(stderr, "fuzz setup: %s\n", err.msg);
    abort();
  }
  pc_host_free(host); /* resolve's answers live as long as the extension */
  remove(cert); /* loaded at create */
  remove(key);
  rmdir(dir);
  pc_cfg_free(cors); /* read at create */
  pc_cfg_free(more);
}

/* ---- the client end ----------------------------------------------------- */

typedef struct {
  uv_pipe_t pipe;
  uv_write_t write;
  uv_shutdown_t shutdown;
  pc_buf_t out; /* the server's answers */
  bool closed;
} client_t;

static void client_on_closed(uv_handle_t *h) {
  container_of(h, client_t, pipe)->closed = true;
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client_t *c = container_of(h, client_t, pipe);
  if (pc_buf_reserve(&c->out, suggested)) abort();
  *buf = uv_buf_init((char *)c->out.p + c->out.n, (unsigned)(c->out.cap - c->out.n));
}

static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  client_t *c = container_of(s, client_t, pipe);
  if (n > 0) c->out.n += (size_t)n;
  if (n < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, client_on_closed);
}

static void client_on_shutdown(uv_shutdown_t *req, int status) { (void)req, (void)status; }

static void client_on_write(uv_write_t *req, int status) {
  client_t *c = container_of(req, client_t, write);
  /* The server may close before taking everything (413, 400): fine. */
  if (status == 0) uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, client_on_shutdown);
}

/* ---- checking the answers -------------------------------------------------- */

typedef struct {
  llhttp_t p;
  char field[32];
  size_t field_n;
  bool has_type, has_length;
  bool in_answer;
  unsigned answers;
} check_t;

static int chk_field(llhttp_t *p, const char *at, size_t n) {
  check_t *c = container_of(p, check_t, p);
  if (c->field_n + n < sizeof c->field) memcpy(c->field + c->field_n, at, n);
  c->field_n += n;
  return 0;
}

static int chk_field_done(llhttp_t *p) {
  check_t *c = container_of(p, check_t, p);
  if (c->field_n < sizeof c->field) {
    c->field[c->field_n] = 0;
    if (strcasecmp(c->field, "content-type") == 0) c->has_type = true;
    if (strcasecmp(c->field, "content-length") == 0) c->has_length = true;
  }
  c->field_n = 0;
  return 0;
}

static int chk_headers_done(llhttp_t *p) {
  check_t *c = container_of(p, check_t, p);
  int st = p->status_code;
  static const int allowed[] = {100, 200, 204, 400, 401, 404, 405, 408,
                                413, 415, 417, 431, 500, 503, 505};
  bool ok = false;
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) ok |= st == allowed[i];
  if (!ok) {
    fprintf(stderr, "unexpected status %d\n", st);
    abort();
  }
  if (st != 100 && st != 204 && (!c->has_type || !c->has_length)) {
    fprintf(stderr, "answer %d without Content-Type or Content-Length\n", st);
    abort();
  }
  if (st == 204 && c->has_length) { /* a CORS preflight's answer */
    fprintf(stderr, "204 with a Content-Length\n");
    abort();
  }
  c->has_type = c->has_length = false;
  return 0;
}

static int chk_message_begin(llhttp_t *p) {
  container_of(p, check_t, p)->in_answer = true;
  return 0;
}

static int chk_message_done(llhttp_t *p) {
  check_t *c = container_of(p, check_t, p);
  c->in_answer = false;
  c->answers++;
  return 0;
}

static void check_answers(const pc_buf_t *out) {
  static const llhttp_settings_t settings = {
      .on_message_begin = chk_message_begin,
      .on_header_field = chk_field,
      .on_header_field_complete = chk_field_done,
      .on_headers_complete = chk_headers_done,
      .on_message_complete = chk_message_done,
  };
  check_t c = {0};
  llhttp_init(&c.p, HTTP_RESPONSE, &settings);
  llhttp_errno_t e = out->n ? llhttp_execute(&c.p, (const char *)out->p, out->n) : HPE_OK;
  if (e != HPE_OK) {
    fprintf(stderr, "answers do not parse: %s (%s)\n", llhttp_errno_name(e),
            llhttp_get_error_reason(&c.p));
    abort();
  }
  if (c.in_answer) { /* every answer is whole and framed by Content-Length */
    fprintf(stderr, "the last answer is cut short\n");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!rx) setup();
  requests = 0;
  pipeline_full = size > 2 && data[size - 1] % 13 == 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
  bool tls = size && data[0] == 0x16;
  void *target = tls ? rx_tls : size & 1 ? rx_auth : rx;
  if (pc_http_server_adopt(pc__otlp_server(target), sv[0]) != 0) abort();
  client_t c = {0};
  if (uv_pipe_init(&loop, &c.pipe, 0) || uv_pipe_open(&c.pipe, sv[1])) abort();
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, (unsigned)size);
  if (size && uv_write(&c.write, (uv_stream_t *)&c.pipe, &b, 1, client_on_write)) abort();
  if (!size) uv_shutdown(&c.shutdown, (uv_stream_t *)&c.pipe, client_on_shutdown);
  uv_read_start((uv_stream_t *)&c.pipe, client_alloc, client_on_read);
  pc_otlp_stats_t st;
  do {
    uv_run(&loop, UV_RUN_ONCE);
    pc_otlp_receiver_stats(target, &st);
  } while (!c.closed || st.connections_open != 0);
  if (!tls) check_answers(&c.out);
  pc_buf_free(&c.out);
  /* Decode jobs in the thread pool have finished (their connection is
   * closed only after they answer) and closed connections gave their body
   * buffers back: what is still held is the spare jobs', exactly. */
  uint64_t held = pc_budget_held(pc_request_budget());
  uint64_t spare = pc__otlp_spare_held(rx) + pc__otlp_spare_held(rx_auth) +
                   pc__otlp_spare_held(rx_tls);
  if (held != spare || held > FUZZ_BUDGET) {
    fprintf(stderr, "request memory held after the input: %llu bytes, spare jobs %llu\n",
            (unsigned long long)held, (unsigned long long)spare);
    abort();
  }
  return 0;
}
