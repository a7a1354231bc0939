/* fixture.h - what the exporter test cases share: a component created from
 * inline YAML and run on its own libuv loop, requests that carry an id, and
 * decoding of what an exporter wrote or sent. */
#ifndef PC_TEST_EXPORTER_FIXTURE_H
#define PC_TEST_EXPORTER_FIXTURE_H

#include <check.h>

#include <stddef.h>

#include "../../component/component.h"
#include "../../exporter/exporter.h"
#include "../../extension/extension.h"
#include "httpsrv.h"

/* Short intervals: a test waits milliseconds where production waits seconds. */
#define FX_RETRY_FAST                               \
  "retry_on_failure:\n"                             \
  "  initial_interval: 20ms\n"                      \
  "  max_interval: 100ms\n"                         \
  "  max_elapsed_time: 20s\n"

typedef struct {
  uv_loop_t loop;
  const pc_component_t *comp;
  void *inst;
  pc_consumer_t *c;
} fx_t;

/* Create comp from yaml (its own settings map; printf-style) with id, for
 * the given signals. Returns NULL with err filled when create refuses. */
void *fx_create(const pc_component_t *comp, const char *id, pc_signal_t signals, pc_err_t *err,
                const char *yaml_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Create and start on fx->loop; fails the test on any error. */
void fx_open(fx_t *fx, const pc_component_t *comp, const char *id, const char *yaml_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like fx_open, but returns start's code (err filled) and leaves a failed
 * instance for fx_close to shut down and destroy. */
int fx_try_open(fx_t *fx, const pc_component_t *comp, const char *id, pc_err_t *err,
                const char *yaml_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Run the loop until cond(arg) holds (checked every 5 ms) or timeout_ms
 * passes; returns whether cond held. */
bool fx_run_until(fx_t *fx, bool (*cond)(void *), void *arg, uint64_t timeout_ms);
void fx_run_for(fx_t *fx, uint64_t ms);
/* Shutdown with a deadline deadline_ms from now, run until done is called
 * (once, checked), destroy, and check the loop closes with no handle left.
 * Returns the milliseconds shutdown took. */
uint64_t fx_close(fx_t *fx, uint64_t deadline_ms);
/* The two halves of fx_close, to read counters in between. */
uint64_t fx_shutdown(fx_t *fx, uint64_t deadline_ms);
void fx_destroy(fx_t *fx);

/* A file_storage extension instance over dir, created and started. */
void *fx_storage(const char *id, const char *dir, bool fsync);
void fx_storage_free(void *st);

/* The rich test request (tests/pdata/testdata.c) with the first profile's
 * time_unix_nano set to id, so each batch can be told apart. */
void fx_request(pc_arena_t *a, pc_request_t *req, uint64_t id);
uint64_t fx_request_id(const pc_request_t *req);
/* Give req to the instance as a batch processor hands on batches to
 * exporters that take bodies: split before encoding to its max_body,
 * encoded, compressed for its encodings, through consume_encoded (which the
 * instance must have), one body at a time. Returns its first refusal. */
int fx_consume_encoded(fx_t *fx, const pc_request_t *req, pc_err_t *err);
/* ---- otlp_http and otlp_grpc instances (their send module) ---- */

/* The counters of the instance fx runs. */
pc_otlphttp_stats_t fx_stats(fx_t *fx);
/* Hand fx_request(first), ... fx_request(first + n - 1) to the instance
 * as trees; each must be held (consume 0). */
void fx_consume_ids(fx_t *fx, uint64_t first, int n);
/* Profiles in one fx_request. */
uint64_t fx_profiles_per_request(void);
/* Run fx's loop until the counter (a field of pc_otlphttp_stats_t:
 * sent_batches, dropped_batches, failed_attempts, ...) reaches n; fail the
 * test, naming the counters, when timeout_ms passes first. */
#define fx_wait_count(fx, counter, n, timeout_ms) \
  fx_wait_count_at(fx, offsetof(pc_otlphttp_stats_t, counter), #counter, n, timeout_ms)
void fx_wait_count_at(fx_t *fx, size_t offset, const char *name, uint64_t n,
                      uint64_t timeout_ms);
/* Request i as s received it decodes to exactly fx_request(want_id). */
void fx_check_sent(srv_t *s, size_t i, uint64_t want_id);
/* The id of request i as s received it. */
uint64_t fx_sent_id(srv_t *s, size_t i);

/* Decompress (by Content-Encoding) and decode (by Content-Type) a body. */
void fx_decode(const char *content_type, const char *content_encoding, const uint8_t *p,
               size_t n, pc_arena_t *a, pc_buf_t *plain, pc_request_t *out);

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the string. */
char *fx_tempdir(void);
void fx_rmtree(const char *dir);
/* Run argv (argv[0] a full path) and wait up to timeout_ms for it to write
 * its listening port to port_file; fails the test if it exits first or
 * never does. Returns the port; *pid gets the child. */
int fx_spawn_server(char *const argv[], const char *port_file, int timeout_ms, pid_t *pid);

#endif
