/* fixture.c - helpers of the exporter suite (see fixture.h). */
#include "fixture.h"

#include <dirent.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../extension/extension.h"
#include "../auth.h"
#include "../pdata/testdata.h"

static void *create_v(const pc_component_t *comp, const char *id, pc_signal_t signals,
                      pc_err_t *err, const char *fmt, va_list ap) {
  char yaml[8192];
  vsnprintf(yaml, sizeof yaml, fmt, ap);
  pc_cfg_t *cfg = pc_cfg_load_string("test.yaml", yaml, err);
  ck_assert_msg(cfg != NULL, "test YAML does not load: %s", err->msg);
  const pc_cfg_node_t *root = pc_cfg_root(cfg);
  pc_create_args_t args = {.id = id, .cfg = root && root->type == PC_CFG_MAP ? root : NULL,
                           .signals = signals};
  void *inst = comp->create(&args, err);
  pc_cfg_free(cfg); /* components copy what they keep */
  return inst;
}

void *fx_create(const pc_component_t *comp, const char *id, pc_signal_t signals, pc_err_t *err,
                const char *yaml_fmt, ...) {
  va_list ap;
  va_start(ap, yaml_fmt);
  void *inst = create_v(comp, id, signals, err, yaml_fmt, ap);
  va_end(ap);
  return inst;
}

static int open_v(fx_t *fx, const pc_component_t *comp, const char *id, pc_err_t *err,
                  const char *fmt, va_list ap) {
  memset(fx, 0, sizeof *fx);
  ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
  fx->comp = comp;
  fx->inst = create_v(comp, id, comp->signals, err, fmt, ap);
  ck_assert_msg(fx->inst != NULL, "create %s: %s", id, err->msg);
  fx->c = comp->consumer ? comp->consumer(fx->inst) : NULL;
  int rc = pc_test_resolve(comp, fx->inst, err); /* as the service does before start */
  return rc ? rc : comp->start(fx->inst, &fx->loop, err);
}

void fx_open(fx_t *fx, const pc_component_t *comp, const char *id, const char *yaml_fmt, ...) {
  pc_err_t err = {0};
  va_list ap;
  va_start(ap, yaml_fmt);
  int rc = open_v(fx, comp, id, &err, yaml_fmt, ap);
  va_end(ap);
  ck_assert_msg(rc == 0, "start %s: %s", id, err.msg);
}

int fx_try_open(fx_t *fx, const pc_component_t *comp, const char *id, pc_err_t *err,
                const char *yaml_fmt, ...) {
  va_list ap;
  va_start(ap, yaml_fmt);
  int rc = open_v(fx, comp, id, err, yaml_fmt, ap);
  va_end(ap);
  return rc;
}

typedef struct {
  uv_timer_t t;
  bool (*cond)(void *);
  void *arg;
  uint64_t deadline;
  bool ok;
} waiter_t;

static void waiter_tick(uv_timer_t *t) {
  waiter_t *w = (waiter_t *)t;
  if (w->cond && w->cond(w->arg)) w->ok = true;
  if (w->ok || uv_now(t->loop) >= w->deadline) uv_stop(t->loop);
}

bool fx_run_until(fx_t *fx, bool (*cond)(void *), void *arg, uint64_t timeout_ms) {
  waiter_t w = {.cond = cond, .arg = arg};
  uv_update_time(&fx->loop);
  w.deadline = uv_now(&fx->loop) + timeout_ms;
  if (cond && cond(arg)) return true;
  uv_timer_init(&fx->loop, &w.t);
  uv_timer_start(&w.t, waiter_tick, 5, 5);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&w.t, NULL);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  return w.ok;
}

void fx_run_for(fx_t *fx, uint64_t ms) { fx_run_until(fx, NULL, NULL, ms); }

static void on_done(void *arg) { (*(int *)arg)++; }

static bool done_called(void *arg) { return *(int *)arg > 0; }

uint64_t fx_shutdown(fx_t *fx, uint64_t deadline_ms) {
  int done = 0;
  uv_update_time(&fx->loop);
  uint64_t t0 = uv_now(&fx->loop);
  fx->comp->shutdown(fx->inst, t0 + deadline_ms, on_done, &done);
  ck_assert_msg(fx_run_until(fx, done_called, &done, deadline_ms + 10000),
                "shutdown did not call done");
  uint64_t took = uv_now(&fx->loop) - t0;
  fx_run_for(fx, 10); /* nothing may call done twice */
  ck_assert_int_eq(done, 1);
  fx->comp->shutdown(fx->inst, t0, on_done, &done); /* safe twice */
  ck_assert_int_eq(done, 2);
  return took;
}

void fx_destroy(fx_t *fx) {
  fx->comp->destroy(fx->inst);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(uv_loop_close(&fx->loop), 0);
}

uint64_t fx_close(fx_t *fx, uint64_t deadline_ms) {
  uint64_t took = fx_shutdown(fx, deadline_ms);
  fx_destroy(fx);
  return took;
}

void *fx_storage(const char *id, const char *dir, bool fsync) {
  pc_err_t err = {0};
  void *st = fx_create(&pc_extension_file_storage, id, 0, &err, "directory: %s\nfsync: %s\n", dir,
                       fsync ? "true" : "false");
  ck_assert_msg(st != NULL, "file_storage: %s", err.msg);
  ck_assert_int_eq(pc_extension_file_storage.start(st, NULL, &err), 0);
  pc_test_host_add(id, &pc_extension_file_storage, st);
  return st;
}

void fx_storage_free(void *st) {
  pc_test_host_remove(st);
  pc_extension_file_storage.destroy(st);
}

void fx_request(pc_arena_t *a, pc_request_t *req, uint64_t id) {
  pc_test_rich_request(a, req);
  req->resources[0].scopes[0].profiles[0].time_unix_nano = id;
}

int fx_consume_encoded(fx_t *fx, const pc_request_t *req, pc_err_t *err) {
  ck_assert(fx->c->consume_encoded != NULL);
  /* As the batch processor: split before encoding to the consumer's limit,
   * compressed for what it sends, each batch handed on by itself. */
  pc_bytes_t *md = pc_md_bytes(req->metadata);
  pc_body_t **bodies;
  size_t n;
  int rc = pc_request_bodies(req, false, fx->c->max_body, fx->c->encodings, md, &bodies, &n, err);
  pc_bytes_unref(md);
  for (size_t i = 0; i < n; i++) {
    if (!rc) rc = fx->c->consume_encoded(fx->c, bodies[i], err);
    pc_body_unref(bodies[i]);
  }
  free(bodies);
  return rc;
}

pc_otlphttp_stats_t fx_stats(fx_t *fx) {
  pc_otlphttp_stats_t st;
  ck_assert_int_eq(pc_otlphttp_stats(fx->inst, &st), 0);
  return st;
}

void fx_consume_ids(fx_t *fx, uint64_t first, int n) {
  for (int i = 0; i < n; i++) {
    pc_arena_t *a = pc_arena_new(4096);
    pc_request_t req;
    fx_request(a, &req, first + (uint64_t)i);
    pc_err_t err = {0};
    int rc = fx->c->consume_profiles(fx->c, &req, &err);
    ck_assert_msg(rc == 0, "consume %d: %s (%s)", i, pc_err_name(rc), err.msg);
    pc_arena_free(a);
  }
}

uint64_t fx_profiles_per_request(void) {
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 1);
  uint64_t n = pc_request_profile_count(&req);
  pc_arena_free(a);
  return n;
}

typedef struct {
  fx_t *fx;
  size_t offset;
  uint64_t n;
} count_wait_t;

static bool count_reached(void *arg) {
  count_wait_t *w = arg;
  pc_otlphttp_stats_t st = fx_stats(w->fx);
  uint64_t v;
  memcpy(&v, (const char *)&st + w->offset, sizeof v);
  return v >= w->n;
}

void fx_wait_count_at(fx_t *fx, size_t offset, const char *name, uint64_t n,
                      uint64_t timeout_ms) {
  count_wait_t w = {.fx = fx, .offset = offset, .n = n};
  bool ok = fx_run_until(fx, count_reached, &w, timeout_ms);
  pc_otlphttp_stats_t st = fx_stats(fx);
  ck_assert_msg(ok, "waiting for %llu %s: sent %llu, dropped %llu, failed %llu",
                (unsigned long long)n, name, (unsigned long long)st.sent_batches,
                (unsigned long long)st.dropped_batches, (unsigned long long)st.failed_attempts);
}

void fx_check_sent(srv_t *s, size_t i, uint64_t want_id) {
  srv_request_t r = srv_request(s, i);
  pc_arena_t *a = pc_arena_new(4096), *b = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got, want;
  fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
  fx_request(b, &want, want_id);
  pc_test_assert_request_eq(&want, &got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  pc_arena_free(b);
}

uint64_t fx_sent_id(srv_t *s, size_t i) {
  srv_request_t r = srv_request(s, i);
  pc_arena_t *a = pc_arena_new(4096);
  pc_buf_t plain = {0};
  pc_request_t got;
  fx_decode(r.content_type, r.content_encoding, r.body, r.n, a, &plain, &got);
  uint64_t id = fx_request_id(&got);
  pc_buf_free(&plain);
  pc_arena_free(a);
  return id;
}

uint64_t fx_request_id(const pc_request_t *req) {
  return req->resources[0].scopes[0].profiles[0].time_unix_nano;
}

void fx_decode(const char *content_type, const char *content_encoding, const uint8_t *p,
               size_t n, pc_arena_t *a, pc_buf_t *plain, pc_request_t *out) {
  pc_encoding_t enc = PC_ENC_IDENTITY;
  ck_assert_int_eq(pc_encoding_parse((pc_str_t){(const uint8_t *)content_encoding,
                                                strlen(content_encoding)}, &enc), 0);
  pc_err_t err = {0};
  plain->n = 0;
  ck_assert_msg(pc_decompress(enc, p, n, (size_t)1 << 30, plain, &err) == 0,
                "body does not decompress as %s: %s", content_encoding, err.msg);
  bool json = strstr(content_type, "json") != NULL;
  int rc = json ? pc_json_decode(a, plain->p, plain->n, out, &err)
                : pc_proto_decode(a, plain->p, plain->n, out, &err);
  ck_assert_msg(rc == 0, "body does not decode: %s", err.msg);
}

char *fx_tempdir(void) {
  const char *tmp = getenv("TMPDIR");
  char *dir;
  ck_assert_int_ge(asprintf(&dir, "%s/profcol-exp-XXXXXX", tmp && *tmp ? tmp : "/tmp"), 0);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

void fx_rmtree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p;
    if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) continue;
    if (e->d_type == DT_DIR) fx_rmtree(p);
    else unlink(p);
    free(p);
  }
  closedir(d);
  rmdir(dir);
}

extern char **environ;

int fx_spawn_server(char *const argv[], const char *port_file, int timeout_ms, pid_t *pid) {
  int rc = posix_spawn(pid, argv[0], NULL, NULL, argv, environ);
  ck_assert_msg(rc == 0, "cannot run %s: %s", argv[0], strerror(rc));
  int port = 0;
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    FILE *f = fopen(port_file, "r");
    if (f) {
      ck_assert_int_eq(fscanf(f, "%d", &port), 1);
      fclose(f);
      return port;
    }
    int status;
    ck_assert_msg(waitpid(*pid, &status, WNOHANG) == 0, "%s exited early", argv[1]);
    usleep(50 * 1000);
  }
  ck_abort_msg("%s did not write its port in %d ms", argv[1], timeout_ms);
  return 0;
}
