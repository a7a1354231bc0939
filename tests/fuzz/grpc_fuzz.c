/* grpc_fuzz.c - libFuzzer target over the OTLP/gRPC input path: bytes in
 * through a real socket (one end of a socketpair, adopted by the gRPC
 * server of receiver/grpc.c) -> nghttp2's server session (frames, HPACK,
 * flow control, stream limits) -> gRPC message framing -> limits ->
 * decompression -> protobuf decoding -> pipeline -> answer frames out.
 *
 * The input is what a client sends on one connection after the HTTP/2
 * preface (added here, so the fuzzer starts past it), then it half-closes.
 * Seeds in corpus/grpc are hand-built frames of real Export calls. Checked
 * beyond "no crash, no leak, no sanitizer report": the server ends every
 * connection once the client is done (else uv_run would not return and the
 * input times out), the consumer only ever sees non-empty requests, and the
 * request memory budget (small here, so message buffers and decodes hit it)
 * gets back everything but what spare jobs keep. The pipeline says it is
 * full (its full hook) for some inputs, so calls are also refused at their
 * HEADERS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../receiver/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static pc_grpc_server_t *srv;
static pc__rx_counters_t rx_counters;
static pc_http_counters_t http_counters;
static unsigned requests; /* picks the pipeline's answer */

/* Accept most requests; refuse some, as a full or broken pipeline would. */
static int fuzz_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  unsigned k = requests++;
  if (pc_request_profile_count(req) == 0) abort(); /* empty ones are not handed on */
  /* include_metadata: every view readable (ASan), no pseudo-header among them. */
  unsigned sum = 0;
  for (size_t i = 0; req->metadata && i < req->metadata->n; i++) {
    const pc_md_pair_t *h = &req->metadata->v[i];
    if (h->key.n == 0 || h->key.p[0] == ':') abort();
    for (size_t b = 0; b < h->key.n; b++) sum += h->key.p[b];
    for (size_t b = 0; b < h->value.n; b++) sum += h->value.p[b];
  }
  if (sum == 1) k++; /* keeps the reads */
  if (k % 5 == 3) return pc_err_set(err, PC_EAGAIN, "fuzz pipeline is full");
  if (k % 7 == 5) return pc_err_set(err, PC_EIO, "fuzz pipeline broke");
  return 0;
}

static int fuzz_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  (void)self;
  if (tr->json) abort(); /* gRPC is protobuf only */
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

/* A few messages of max_recv_msg_size_mib (1) and their decodes. */
#define FUZZ_BUDGET ((uint64_t)3 << 20)

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  if (uv_loop_init(&loop) != 0) abort();
  pc_budget_set_limit(pc_request_budget(), FUZZ_BUDGET);
  pc_grpc_settings_t s;
  pc_err_t err;
  if (pc__grpc_settings(NULL, &s, &err) != 0) abort();
  s.max_recv_msg_size_mib = 1; /* small enough to hit often */
  s.max_concurrent_streams = 8;
  s.include_metadata = true; /* the metadata reaches the consumer */
  srv = pc__grpc_new(&s, "receiver:otlp/fuzz", &consumer, &rx_counters, &http_counters, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!srv) setup();
  requests = 0;
  pipeline_full = size > 2 && data[size - 1] % 13 == 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
  /* Room for the whole input and the answers: nobody reads them. */
  int big = 4 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (pc__grpc_adopt(srv, &loop, sv[0]) != 0) abort();
  static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (send(sv[1], preface, sizeof preface - 1, MSG_NOSIGNAL) != (ssize_t)sizeof preface - 1)
    abort();
  size_t off = 0;
  while (off < size) {
    ssize_t w = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
    if (w <= 0) break; /* the server closed early: fine */
    off += (size_t)w;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  shutdown(sv[1], SHUT_WR);
  uv_run(&loop, UV_RUN_DEFAULT); /* returns once the connection is closed */
  close(sv[1]);
  /* Every stream and job is gone: what is still held is the spare jobs',
   * exactly. */
  uint64_t held = pc_budget_held(pc_request_budget()), spare = pc__grpc_spare_held(srv);
  if (held != spare || held > FUZZ_BUDGET) {
    fprintf(stderr, "request memory held after the input: %llu bytes, spare jobs %llu\n",
            (unsigned long long)held, (unsigned long long)spare);
    abort();
  }
  return 0;
}
