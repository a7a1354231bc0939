/* test_pprof.c - end to end, the pprof receiver: the real profcol binary
 * scrapes a loopback server (tests/e2e/pprof_server.py) that serves Go's
 * /debug/pprof/profile and /debug/pprof/heap as the committed real Go
 * profiles (tests/data/pprof), takes pushed profiles (/v1/pprof and
 * Pyroscope's /ingest) and reads files by glob, into the file exporter;
 * every request written is checked sample by sample against protoc's
 * decoding of the same pprof (tests/pdata/pprofcheck.h), an
 * implementation independent of pdata/, and so are its profiles (sample
 * and period types, period, time, duration) and the mappings its samples
 * reach (range, file, build id); each request passes profcheck. Targets that are down, slow past
 * the timeout, or serve garbage, a 500 or a gzip bomb are logged, counted
 * by reason, retried on the next interval, and do not hold up the good
 * ones. Bad configs get their exact errors with file:line:col. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../pdata/materialize.h"
#include "../pdata/pprofcheck.h"
#include "../pdata/testdata.h"
#include "../pdata/textpb.h"
#include "e2e.h"

extern char **environ;

#define PROFILE_PROTO "perftools/profiles/profile.proto"
#define PROFILE_TYPE "perftools.profiles.Profile"

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* ---- the loopback pprof server ------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int port;
  char dir[64];
} server_t;

static void server_start(server_t *s) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_ptr_nonnull(root);
  snprintf(s->dir, sizeof s->dir, "/tmp/profcol-pprofsrv-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(s->dir));
  char script[1024], data[1024], port_file[128];
  snprintf(script, sizeof script, "%s/tests/e2e/pprof_server.py", root);
  snprintf(data, sizeof data, "%s/tests/data/pprof", root);
  snprintf(port_file, sizeof port_file, "%s/port", s->dir);
  const char *argv[] = {"/usr/bin/python3", script, "--dir", data, "--port-file", port_file,
                        "--slow", "3", NULL};
  ck_assert_int_eq(posix_spawn(&s->pid, argv[0], NULL, NULL, (char *const *)argv, environ), 0);
  for (long until = now_ms() + 10000; now_ms() < until; usleep(20000)) {
    FILE *f = fopen(port_file, "r");
    if (f && fscanf(f, "%d", &s->port) == 1) {
      fclose(f);
      return;
    }
    if (f) fclose(f);
  }
  ck_abort_msg("pprof_server.py did not start");
}

static void server_stop(server_t *s) {
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  char path[128];
  snprintf(path, sizeof path, "%s/port", s->dir);
  unlink(path);
  rmdir(s->dir);
}

/* Requests the server got for path so far. */
static int server_count(const server_t *s, const char *path) {
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(s->port, "/stats", &r), 200);
  pc_buf_append(&r.body, "", 1);
  char key[256];
  snprintf(key, sizeof key, "\"%s\": ", path); /* json.dumps' separators */
  const char *at = strstr((const char *)r.body.p, key);
  int n = at ? atoi(at + strlen(key)) : 0;
  pc_buf_free(&r.body);
  return n;
}

/* ---- oracles -------------------------------------------------------------------------- */

/* What every profile converted from one pprof carries beside its samples,
 * as sorted lines: per sample type "profile TYPE:UNIT period PTYPE:PUNIT
 * N time T duration D", and per mapping the samples reach "mapping
 * START-LIMIT+OFFSET FILE build=ID" (docs/pprof.md: build_id becomes the
 * mapping's process.executable.build_id.gnu). */
static void push(pc_mat_t *m, pc_buf_t *b) {
  pc_buf_append(b, "", 1);
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 16;
    m->v = realloc(m->v, m->cap * sizeof *m->v);
    ck_assert_ptr_nonnull(m->v);
  }
  m->v[m->n++] = (char *)b->p;
  *b = (pc_buf_t){0};
}

static const char *tpb_str(const pc_tpb_t *t, int64_t i) {
  const pc_tpb_field_t *f = pc_tpb_get(t, "string_table", (size_t)i);
  ck_assert_ptr_nonnull(f);
  return f->text;
}

static const pc_tpb_t *tpb_by_id(const pc_tpb_t *t, const char *table, int64_t id) {
  for (size_t i = 0; i < pc_tpb_count(t, table); i++) {
    const pc_tpb_t *m = pc_tpb_get(t, table, i)->msg;
    if (pc_tpb_int(m, "id", 0) == id) return m;
  }
  return NULL;
}

static void oracle_profile_lines(const pc_tpb_t *t, pc_mat_t *out) {
  const pc_tpb_t *pt = pc_tpb_msg(t, "period_type");
  for (size_t k = 0; k < pc_tpb_count(t, "sample_type"); k++) {
    const pc_tpb_t *st = pc_tpb_get(t, "sample_type", k)->msg;
    pc_buf_t b = {0};
    pc_buf_printf(&b, "profile %s:%s period %s:%s %lld time %llu duration %llu",
                  tpb_str(t, pc_tpb_int(st, "type", 0)), tpb_str(t, pc_tpb_int(st, "unit", 0)),
                  pt ? tpb_str(t, pc_tpb_int(pt, "type", 0)) : "",
                  pt ? tpb_str(t, pc_tpb_int(pt, "unit", 0)) : "",
                  (long long)pc_tpb_int(t, "period", 0),
                  (unsigned long long)pc_tpb_int(t, "time_nanos", 0),
                  (unsigned long long)pc_tpb_int(t, "duration_nanos", 0));
    push(out, &b);
  }
  /* The mappings of the locations the samples use, each once. */
  int64_t seen[64];
  size_t n_seen = 0;
  for (size_t i = 0; i < pc_tpb_count(t, "sample"); i++) {
    const pc_tpb_t *s = pc_tpb_get(t, "sample", i)->msg;
    for (size_t k = 0; k < pc_tpb_count(s, "location_id"); k++) {
      const pc_tpb_t *l = tpb_by_id(t, "location", pc_tpb_int_at(s, "location_id", k));
      int64_t mid = l ? pc_tpb_int(l, "mapping_id", 0) : 0;
      bool dup = mid == 0;
      for (size_t q = 0; q < n_seen && !dup; q++) dup = seen[q] == mid;
      if (dup) continue;
      ck_assert_uint_lt(n_seen, 64);
      seen[n_seen++] = mid;
      const pc_tpb_t *m = tpb_by_id(t, "mapping", mid);
      ck_assert_ptr_nonnull(m);
      pc_buf_t b = {0};
      pc_buf_printf(&b, "mapping %llx-%llx+%llx %s build=%s",
                    (unsigned long long)pc_tpb_int(m, "memory_start", 0),
                    (unsigned long long)pc_tpb_int(m, "memory_limit", 0),
                    (unsigned long long)pc_tpb_int(m, "file_offset", 0),
                    tpb_str(t, pc_tpb_int(m, "filename", 0)),
                    tpb_str(t, pc_tpb_int(m, "build_id", 0)));
      push(out, &b);
    }
  }
  pc_mat_sort(out);
}

/* The same lines read from a converted request. */
static void otlp_profile_lines(const pc_request_t *req, pc_mat_t *out) {
  const pc_dictionary_t *d = &req->dict;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t sc = 0; sc < req->resources[r].n_scopes; sc++)
      for (uint32_t k = 0; k < req->resources[r].scopes[sc].n_profiles; k++) {
        const pc_profile_t *p = &req->resources[r].scopes[sc].profiles[k];
        pc_buf_t b = {0};
        pc_str_t t = pc_dict_string(d, p->sample_type.type_strindex),
                 u = pc_dict_string(d, p->sample_type.unit_strindex),
                 pt = pc_dict_string(d, p->period_type.type_strindex),
                 pu = pc_dict_string(d, p->period_type.unit_strindex);
        pc_buf_printf(&b, "profile %.*s:%.*s period %.*s:%.*s %lld time %llu duration %llu",
                      PC_STR_FMT(t), PC_STR_FMT(u), PC_STR_FMT(pt), PC_STR_FMT(pu),
                      (long long)p->period, (unsigned long long)p->time_unix_nano,
                      (unsigned long long)p->duration_nano);
        push(out, &b);
      }
  for (uint32_t i = 1; i < d->n_mappings; i++) {
    const pc_mapping_t *m = pc_dict_mapping(d, (int32_t)i);
    pc_str_t build = {0};
    for (uint32_t a = 0; a < m->attribute_indices.n; a++) {
      const pc_attr_t *at = pc_dict_attr(d, m->attribute_indices.v[a]);
      if (pc_str_eq(pc_dict_string(d, at->key_strindex),
                    PC_STR_LIT("process.executable.build_id.gnu")))
        build = at->value.type == PC_AV_STRINDEX ? pc_dict_string(d, at->value.u.strindex)
                                                 : at->value.u.s;
    }
    pc_str_t file = pc_dict_string(d, m->filename_strindex);
    pc_buf_t b = {0};
    pc_buf_printf(&b, "mapping %llx-%llx+%llx %.*s build=%.*s",
                  (unsigned long long)m->memory_start, (unsigned long long)m->memory_limit,
                  (unsigned long long)m->file_offset, PC_STR_FMT(file), PC_STR_FMT(build));
    push(out, &b);
  }
  pc_mat_sort(out);
}

/* protoc's decoding of a pprof file, as expected sample lines, and the
 * profile lines (prof may be NULL). */
static void oracle_of(const uint8_t *p, size_t n, pc_mat_t *out, pc_mat_t *prof) {
  pc_tpb_t *t = pc_tpb_protoc_decode(PROFILE_TYPE, PROFILE_PROTO, p, n);
  pc_pprof_oracle_lines(t, out);
  if (prof) oracle_profile_lines(t, prof);
  pc_tpb_free(t);
}

static void oracle_of_file(const char *rel, pc_mat_t *out, pc_mat_t *prof, pc_buf_t *bytes) {
  pc_test_read_file(rel, bytes);
  oracle_of(bytes->p, bytes->n, out, prof);
}

/* What one request of the file exporter's output must be. */
typedef struct {
  const pc_mat_t *want[4]; /* the oracles a request may equal */
  const pc_mat_t *want_prof[4]; /* and the profile lines of each, when set */
  const char *want_attr[4];     /* and a resource attribute of each, when set */
  int seen[4];             /* requests equal to each */
  /* resource attributes every request must carry ("key=value"), and the
   * scope name */
  const char *attrs[8];
  const char *scope;
  int64_t time_ns, duration_ns, period; /* >= 0: every profile has these */
  int requests;
} check_t;

static bool has_attr(const pc_kvs_t *kv, const char *want) {
  const char *eq = strchr(want, '=');
  size_t kn = (size_t)(eq - want);
  for (uint32_t i = 0; i < kv->n; i++) {
    const pc_keyvalue_t *a = &kv->v[i];
    if (a->key.n != kn || memcmp(a->key.p, want, kn)) continue;
    char val[512];
    if (a->value.type == PC_AV_STRING)
      snprintf(val, sizeof val, "%.*s", PC_STR_FMT(a->value.u.s));
    else if (a->value.type == PC_AV_INT)
      snprintf(val, sizeof val, "%lld", (long long)a->value.u.i);
    else
      return false;
    return strcmp(val, eq + 1) == 0;
  }
  return false;
}

static void check_request(const pc_request_t *req, void *arg) {
  check_t *c = arg;
  c->requests++;
  pc_mat_t got = {0};
  pc_pprof_otlp_lines(req, &got);
  char why[512];
  ck_assert_msg(pc_profcheck(req, why, sizeof why) == 0, "profcheck: %s", why);
  ck_assert_int_eq(req->n_resources, 1);
  const pc_resource_profiles_t *rp = &req->resources[0];
  for (int i = 0; i < 8 && c->attrs[i]; i++)
    ck_assert_msg(has_attr(&rp->resource.attributes, c->attrs[i]),
                  "request %d: no resource attribute %s", c->requests, c->attrs[i]);
  ck_assert_int_eq(rp->n_scopes, 1);
  if (c->scope)
    ck_assert_msg(pc_str_eq(rp->scopes[0].scope.name,
                            (pc_str_t){(const uint8_t *)c->scope, strlen(c->scope)}),
                  "scope %.*s, not %s", PC_STR_FMT(rp->scopes[0].scope.name), c->scope);
  for (uint32_t k = 0; k < rp->scopes[0].n_profiles; k++) {
    const pc_profile_t *pr = &rp->scopes[0].profiles[k];
    if (c->time_ns >= 0) ck_assert_uint_eq(pr->time_unix_nano, (uint64_t)c->time_ns);
    if (c->duration_ns >= 0) ck_assert_uint_eq(pr->duration_nano, (uint64_t)c->duration_ns);
    if (c->period >= 0) ck_assert_int_eq(pr->period, c->period);
  }
  int match = -1;
  for (int i = 0; i < 4 && c->want[i]; i++)
    if (pc_mat_eq(c->want[i], &got, why, sizeof why)) match = i;
  ck_assert_msg(match >= 0, "request %d equals none of the pprof files protoc decoded: %s",
                c->requests, why);
  c->seen[match]++;
  pc_mat_free(&got);
  if (c->want_attr[match])
    ck_assert_msg(has_attr(&rp->resource.attributes, c->want_attr[match]),
                  "request %d: no resource attribute %s", c->requests, c->want_attr[match]);
  if (c->want_prof[match]) {
    pc_mat_t prof = {0};
    otlp_profile_lines(req, &prof);
    ck_assert_msg(pc_mat_eq(c->want_prof[match], &prof, why, sizeof why),
                  "request %d: its profiles or mappings differ from the pprof's: %s",
                  c->requests, why);
    pc_mat_free(&prof);
  }
}

static check_t check_new(void) {
  return (check_t){.time_ns = -1, .duration_ns = -1, .period = -1};
}

/* Requests in the output file, checked. */
static int read_output(const char *path, check_t *c) {
  return pc_e2e_read_proto_file(path, check_request, c);
}

/* The two test profiles, tests/data/pprof/cpu.pb.gz and heap.pb.gz, with
 * their oracles (oracle_of_file). */
typedef struct {
  pc_mat_t cpu, heap, cpu_p, heap_p;
  pc_buf_t cpu_b, heap_b;
} cpu_heap_t;

static void cpu_heap_load(cpu_heap_t *o) {
  memset(o, 0, sizeof *o);
  oracle_of_file("tests/data/pprof/cpu.pb.gz", &o->cpu, &o->cpu_p, &o->cpu_b);
  oracle_of_file("tests/data/pprof/heap.pb.gz", &o->heap, &o->heap_p, &o->heap_b);
}

static void cpu_heap_free(cpu_heap_t *o) {
  pc_buf_free(&o->cpu_b);
  pc_buf_free(&o->heap_b);
  pc_mat_free(&o->cpu);
  pc_mat_free(&o->heap);
  pc_mat_free(&o->cpu_p);
  pc_mat_free(&o->heap_p);
}

/* A check whose requests must each equal one of o's profiles: want 0 is
 * cpu, 1 heap (o must outlive it). */
static check_t cpu_heap_check(const cpu_heap_t *o) {
  check_t c = check_new();
  c.want[0] = &o->cpu;
  c.want[1] = &o->heap;
  c.want_prof[0] = &o->cpu_p;
  c.want_prof[1] = &o->heap_p;
  return c;
}

/* out holds o's two profiles, once each, under scope, each resource with
 * its attribute ("key=value"; NULL: not checked). */
static void check_cpu_and_heap(const char *out, const cpu_heap_t *o, const char *cpu_attr,
                               const char *heap_attr, const char *scope) {
  check_t c = cpu_heap_check(o);
  c.want_attr[0] = cpu_attr;
  c.want_attr[1] = heap_attr;
  c.scope = scope;
  ck_assert_int_eq(read_output(out, &c), 2);
  ck_assert_int_eq(c.seen[0], 1);
  ck_assert_int_eq(c.seen[1], 1);
}

/* Wait until the output holds at least n requests (the file exporter
 * flushes every 100 ms here). */
static void wait_requests(const char *path, int n, int timeout_ms) {
  for (long until = now_ms() + timeout_ms; now_ms() < until; usleep(50000)) {
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    int count = 0;
    uint8_t hdr[4];
    while (fread(hdr, 1, 4, f) == 4) {
      uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
                     hdr[3];
      if (fseek(f, len, SEEK_CUR) != 0) break;
      count++;
    }
    fclose(f);
    if (count >= n) return;
  }
}

/* ---- profcol ----------------------------------------------------------------------------- */

static void start(pc_e2e_proc_t *p, const char *yaml) {
  bool ok = pc_e2e_start(p, yaml);
  char *log = pc_e2e_log(p);
  ck_assert_msg(ok, "profcol did not start:\n%s", log);
  free(log);
}

/* The value of one series of the self-telemetry endpoint, -1 when absent. */
static double metric(int port, const char *series) {
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_get(port, "/metrics", &r), 200);
  pc_buf_append(&r.body, "", 1);
  char key[512];
  snprintf(key, sizeof key, "\n%s ", series);
  const char *at = strstr((const char *)r.body.p, key);
  double v = at ? atof(at + strlen(key)) : -1;
  pc_buf_free(&r.body);
  return v;
}

#define OUTPUT_YAML(dir)                                                                     \
  "exporters:\n"                                                                             \
  "  file:\n"                                                                                \
  "    path: " dir "/out.binpb\n"                                                            \
  "    format: proto\n"                                                                      \
  "    flush_interval: 100ms\n"                                                              \
  "service:\n"                                                                               \
  "  telemetry:\n"                                                                           \
  "    metrics:\n"                                                                           \
  "      address: 127.0.0.1:0\n"                                                             \
  "  pipelines:\n"                                                                           \
  "    profiles:\n"                                                                          \
  "      receivers: [pprof]\n"                                                               \
  "      exporters: [file]\n"

/* ---- remote ----------------------------------------------------------------------------- */

START_TEST(scrapes_go_handlers_sample_by_sample) {
  server_t srv;
  server_start(&srv);
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    remote:\n"
           "      endpoint: http://127.0.0.1:%d\n"
           "      paths: [/debug/pprof/profile?seconds=1, /debug/pprof/heap]\n"
           "      collection_interval: 1500ms\n"
           "      initial_delay: 0s\n"
           "      timeout: 1500ms\n"
           OUTPUT_YAML("%s"),
           srv.port, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  wait_requests(out, 5, 15000);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);

  cpu_heap_t o;
  cpu_heap_load(&o);
  char instance[64], port_attr[64], cpu_url[128];
  snprintf(instance, sizeof instance, "service.instance.id=127.0.0.1:%d", srv.port);
  snprintf(port_attr, sizeof port_attr, "server.port=%d", srv.port);
  snprintf(cpu_url, sizeof cpu_url, "http://127.0.0.1:%d/debug/pprof/", srv.port);
  check_t c = cpu_heap_check(&o);
  c.attrs[0] = instance;
  c.attrs[1] = "server.address=127.0.0.1";
  c.attrs[2] = port_attr;
  c.scope = "profcol/receiver/pprof/remote";
  int n = read_output(out, &c);
  ck_assert_int_ge(n, 5);
  /* Both handlers, each scraped again every interval. */
  ck_assert_int_ge(c.seen[0], 2);
  ck_assert_int_ge(c.seen[1], 2);
  ck_assert_int_eq(c.seen[0] + c.seen[1], n);
  ck_assert_int_ge(server_count(&srv, "/debug/pprof/profile"), 2);
  cpu_heap_free(&o);
  unlink(out);
  pc_e2e_cleanup(&p);
  rmdir(dir);
  server_stop(&srv);
}
END_TEST

START_TEST(failing_targets_are_logged_counted_and_retried) {
  server_t srv;
  server_start(&srv);
  int down = pc_e2e_free_port(); /* nothing listens there */
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    remote:\n"
           "      endpoints: [http://127.0.0.1:%d, http://127.0.0.1:%d]\n"
           "      paths: [/debug/pprof/heap, /garbage, /slow, /bomb, /fail]\n"
           "      collection_interval: 1s\n"
           "      initial_delay: 0s\n"
           "      timeout: 800ms\n"
           "      max_body_size: 1MiB\n"
           OUTPUT_YAML("%s"),
           srv.port, down, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  int mport = pc_e2e_port_of(&p, "service:telemetry");
  ck_assert_int_gt(mport, 0);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  /* Three intervals: every target fails at least twice. */
  usleep(3600 * 1000);
  char series[256];
  static const char *const reasons[] = {"down", "timeout", "http_status", "too_large",
                                        "bad_payload"};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
    snprintf(series, sizeof series, "profcol_receiver_pprof_failures{receiver=\"pprof\","
             "transport=\"remote\",reason=\"%s\"}", reasons[i]);
    double v = metric(mport, series);
    /* down: five paths on the closed port */
    ck_assert_msg(v >= (i == 0 ? 10 : 2), "%s = %g", series, v);
  }
  snprintf(series, sizeof series, "profcol_receiver_pprof_target_up{receiver=\"pprof\","
           "target=\"http://127.0.0.1:%d/debug/pprof/heap\"}", srv.port);
  ck_assert_double_eq(metric(mport, series), 1);
  snprintf(series, sizeof series, "profcol_receiver_pprof_target_up{receiver=\"pprof\","
           "target=\"http://127.0.0.1:%d/garbage\"}", srv.port);
  ck_assert_double_eq(metric(mport, series), 0);
  ck_assert_double_eq(metric(mport, "profcol_receiver_pprof_targets_up{receiver=\"pprof\"}"),
                      1);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);

  /* Retried on the next interval, the server saw it. */
  ck_assert_int_ge(server_count(&srv, "/garbage"), 2);
  ck_assert_int_ge(server_count(&srv, "/slow"), 2);
  ck_assert_int_ge(server_count(&srv, "/bomb"), 2);
  /* Each target's failure said once (then at most every 5 minutes). */
  char line[256];
  snprintf(line, sizeof line, "scrape of http://127.0.0.1:%d/garbage failed (bad_payload): "
           "the 40 bytes it answered are not a pprof profile", srv.port);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  snprintf(line, sizeof line, "scrape of http://127.0.0.1:%d/slow failed (timeout): no whole "
           "answer within timeout 800ms", srv.port);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  snprintf(line, sizeof line, "scrape of http://127.0.0.1:%d/fail failed (http_status): "
           "answered 500 Internal Server Error", srv.port);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  snprintf(line, sizeof line, "scrape of http://127.0.0.1:%d/bomb failed (too_large): its "
           "gzip'd body inflates past max_body_size (1048576 bytes)", srv.port);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  snprintf(line, sizeof line, "scrape of http://127.0.0.1:%d/debug/pprof/heap failed (down): ",
           down);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  /* The good target went on: a heap profile every interval, all whole. */
  pc_mat_t heap = {0}, heap_p = {0};
  pc_buf_t heap_b = {0};
  oracle_of_file("tests/data/pprof/heap.pb.gz", &heap, &heap_p, &heap_b);
  check_t c = check_new();
  c.want[0] = &heap;
  c.want_prof[0] = &heap_p;
  int n = read_output(out, &c);
  ck_assert_int_ge(n, 3);
  ck_assert_int_eq(c.seen[0], n);
  pc_mat_free(&heap);
  pc_mat_free(&heap_p);
  pc_buf_free(&heap_b);
  unlink(out);
  pc_e2e_cleanup(&p);
  rmdir(dir);
  server_stop(&srv);
}
END_TEST

START_TEST(scrapes_in_flight_stay_under_the_limit) {
  server_t srv;
  server_start(&srv);
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    remote:\n"
           "      endpoint: http://127.0.0.1:%d\n"
           "      paths: [/slow?s=0.6&t=1, /slow?s=0.6&t=2, /slow?s=0.6&t=3, /slow?s=0.6&t=4,\n"
           "              /slow?s=0.6&t=5, /slow?s=0.6&t=6]\n"
           "      collection_interval: 1s\n"
           "      initial_delay: 0s\n"
           "      max_concurrent_scrapes: 2\n"
           OUTPUT_YAML("%s"),
           srv.port, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  int mport = pc_e2e_port_of(&p, "service:telemetry");
  usleep(3500 * 1000);
  /* Six targets of 0.6 s each per second, two at a time: some wait, and
   * those due again while still waiting are skipped. */
  double skipped = metric(mport, "profcol_receiver_pprof_skipped_scrapes{receiver=\"pprof\","
                                 "transport=\"remote\"}");
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  ck_assert_msg(skipped >= 1, "skipped %g", skipped);
  ck_assert_int_le(server_count(&srv, "max_inflight"), 2);
  ck_assert_int_ge(server_count(&srv, "/slow"), 6);
  char line[128];
  snprintf(line, sizeof line, "(2 of max_concurrent_scrapes 2 in flight)");
  ck_assert_int_ge(pc_e2e_log_count(&p, line), 1);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  unlink(out);
  pc_e2e_cleanup(&p);
  rmdir(dir);
  server_stop(&srv);
}
END_TEST

/* ---- server ------------------------------------------------------------------------------- */

static int post(int port, const char *path, const char *ctype, const char *extra,
                const void *body, size_t n, pc_e2e_resp_t *r) {
  int status = pc_e2e_post_headers(port, path, ctype, extra, body, n, r);
  pc_buf_append(&r->body, "", 1);
  r->body.n--;
  return status;
}

START_TEST(server_takes_pushed_pprof) {
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    server:\n"
           "      endpoint: 127.0.0.1:0\n"
           "      max_request_body_size: 64KiB\n"
           OUTPUT_YAML("%s"),
           dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  int port = pc_e2e_port_of(&p, "receiver:pprof");
  ck_assert_int_gt(port, 0);
  cpu_heap_t o;
  cpu_heap_load(&o);
  pc_buf_t heap_gz = {0};
  pc_e2e_resp_t r;
  ck_assert_int_eq(post(port, "/v1/pprof", "application/octet-stream", NULL, o.cpu_b.p,
                        o.cpu_b.n, &r), 204);
  pc_buf_free(&r.body);
  /* gzip'd at the HTTP level too: inflated twice */
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, o.heap_b.p, o.heap_b.n, &heap_gz), 0);
  ck_assert_int_eq(post(port, "/v1/pprof", "application/octet-stream",
                        "Content-Encoding: gzip\r\n", heap_gz.p, heap_gz.n, &r), 204);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/v1/pprof", "text/plain", NULL, "hello", 5, &r), 400);
  ck_assert_msg(strstr((const char *)r.body.p, "not a pprof profile"), "%s", r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/v1/pprof", "application/octet-stream",
                        "Content-Encoding: br\r\n", "x", 1, &r), 415);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/v1/profiles", "application/octet-stream", NULL, "x", 1, &r),
                   404);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_get(port, "/v1/pprof", &r), 405);
  pc_buf_free(&r.body);
  /* A bomb: 1 MB of zeros in 1 KB, past the 64 KiB limit once inflated. */
  pc_buf_t zeros = {0}, bomb = {0};
  pc_buf_reserve(&zeros, 1 << 20);
  memset(zeros.p, 0, 1 << 20);
  zeros.n = 1 << 20;
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, zeros.p, zeros.n, &bomb), 0);
  ck_assert_int_eq(post(port, "/v1/pprof", "application/octet-stream", NULL, bomb.p, bomb.n,
                        &r), 413);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  check_cpu_and_heap(out, &o, NULL, NULL, "profcol/receiver/pprof/server");
  pc_buf_free(&zeros);
  pc_buf_free(&bomb);
  pc_buf_free(&heap_gz);
  cpu_heap_free(&o);
  unlink(out);
  pc_e2e_cleanup(&p);
  rmdir(dir);
}
END_TEST

/* A multipart form as Go's mime/multipart writes it for the Pyroscope SDK. */
static void form(pc_buf_t *out, const char *boundary, const char *name, const void *p,
                 size_t n, bool last) {
  pc_buf_printf(out, "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                "filename=\"%s.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                boundary, name, name);
  pc_buf_append(out, p, n);
  pc_buf_printf(out, "\r\n");
  if (last) pc_buf_printf(out, "--%s--\r\n", boundary);
}

/* A small pprof without time, duration or period, encoded by protoc. */
static void timeless_pprof(pc_buf_t *out) {
  const char *root = getenv("PC_SOURCE_ROOT");
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "printf '%%s' 'sample_type { type: 1 unit: 2 } sample { location_id: 1 value: 7 } "
           "location { id: 1 line { function_id: 1 line: 12 } } function { id: 1 name: 3 "
           "filename: 4 } string_table: \"\" string_table: \"samples\" string_table: \"count\" "
           "string_table: \"main.work\" string_table: \"main.go\"' | protoc --encode=%s -I "
           "'%s/proto' '%s/proto/%s'",
           PROFILE_TYPE, root, root, PROFILE_PROTO);
  FILE *f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  uint8_t buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) pc_buf_append(out, buf, got);
  ck_assert_int_eq(pclose(f), 0);
  ck_assert_uint_gt(out->n, 10);
}

/* Each /ingest request by the service it names. */
static void check_ingest(const pc_request_t *req, void *arg) {
  check_t **both = arg;
  bool bare = req->n_resources == 1 &&
              has_attr(&req->resources[0].resource.attributes, "service.name=svc");
  check_request(req, both[bare]);
}

START_TEST(pyroscope_sdks_push_to_ingest) {
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    server:\n"
           "      endpoint: 127.0.0.1:0\n"
           OUTPUT_YAML("%s"),
           dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  int port = pc_e2e_port_of(&p, "receiver:pprof");
  ck_assert_int_gt(port, 0);
  pc_mat_t cpu = {0}, timeless = {0}, cpu_p = {0};
  pc_buf_t cpu_b = {0}, t_b = {0}, body = {0};
  oracle_of_file("tests/data/pprof/cpu.pb.gz", &cpu, &cpu_p, &cpu_b);
  timeless_pprof(&t_b);
  oracle_of(t_b.p, t_b.n, &timeless, NULL);
  const char *b = "d8b1f2c3a4e5";
  char ctype[128];
  snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", b);
  /* The Go SDK: a form with the profile and its sample type config; from
   * and until in nanoseconds (older SDKs: seconds). */
  form(&body, b, "profile", cpu_b.p, cpu_b.n, false);
  form(&body, b, "sample_type_config", "{\"cpu\":{\"units\":\"samples\"}}", 28, true);
  pc_e2e_resp_t r;
  const char *q = "/ingest?name=my.app.cpu%7Benv%3Dstaging%2Cregion%3Dus-west-1%7D"
                  "&from=1796459720000000000&until=1796459730000000000&spyName=gospy"
                  "&sampleRate=100&units=samples&aggregationType=sum";
  ck_assert_int_eq(post(port, q, ctype, NULL, body.p, body.n, &r), 200);
  pc_buf_free(&r.body);
  /* format=pprof with the pprof as the whole body, times in seconds: the
   * profile has none of its own, so the query's are its time, duration
   * and (sampleRate) period. */
  ck_assert_int_eq(post(port, "/pyroscope/ingest?name=timeless{service_name=svc}&from="
                        "1700000000&until=1700000010&format=pprof&sampleRate=250",
                        "binary/octet-stream", NULL, t_b.p, t_b.n, &r), 200);
  pc_buf_free(&r.body);
  /* Refusals, each with why. */
  ck_assert_int_eq(post(port, "/ingest?name=a&format=folded", "text/plain", NULL, "a;b 1", 5,
                        &r), 415);
  ck_assert_msg(strstr((const char *)r.body.p, "format \"folded\" is not taken"), "%s",
                r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/ingest?from=1", ctype, NULL, body.p, body.n, &r), 400);
  ck_assert_msg(strstr((const char *)r.body.p, "name: missing"), "%s", r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/ingest?name=a{b}", ctype, NULL, body.p, body.n, &r), 400);
  pc_buf_free(&r.body);
  pc_buf_t old = {0};
  form(&old, b, "profile", cpu_b.p, cpu_b.n, false);
  form(&old, b, "prev_profile", cpu_b.p, cpu_b.n, true);
  ck_assert_int_eq(post(port, "/ingest?name=a", ctype, NULL, old.p, old.n, &r), 400);
  ck_assert_msg(strstr((const char *)r.body.p, "prev_profile"), "%s", r.body.p);
  pc_buf_free(&r.body);
  ck_assert_int_eq(post(port, "/ingest?name=a&format=pprof", "binary/octet-stream", NULL,
                        "garbage!", 8, &r), 422);
  pc_buf_free(&r.body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);

  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  check_t sdk = check_new(), bare = check_new();
  sdk.want[0] = &cpu;
  sdk.want_prof[0] = &cpu_p;
  sdk.attrs[0] = "service.name=my.app.cpu";
  sdk.attrs[1] = "env=staging";
  sdk.attrs[2] = "region=us-west-1";
  sdk.attrs[3] = "pyroscope.spy_name=gospy";
  sdk.scope = "profcol/receiver/pprof/ingest";
  bare.want[0] = &timeless;
  bare.attrs[0] = "service.name=svc";
  bare.time_ns = 1700000000000000000;
  bare.duration_ns = 10000000000;
  bare.period = 4000000;
  check_t *both[2] = {&sdk, &bare};
  ck_assert_int_eq(pc_e2e_read_proto_file(out, check_ingest, both), 2);
  ck_assert_int_eq(sdk.seen[0], 1);
  ck_assert_int_eq(bare.seen[0], 1);
  pc_buf_free(&old);
  pc_buf_free(&body);
  pc_buf_free(&cpu_b);
  pc_buf_free(&t_b);
  pc_mat_free(&cpu);
  pc_mat_free(&cpu_p);
  pc_mat_free(&timeless);
  unlink(out);
  pc_e2e_cleanup(&p);
  rmdir(dir);
}
END_TEST

/* ---- file --------------------------------------------------------------------------------- */

static void copy_file(const char *rel, const char *to) {
  pc_buf_t b = {0};
  pc_test_read_file(rel, &b);
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b.p, 1, b.n, f), b.n);
  fclose(f);
  pc_buf_free(&b);
}

START_TEST(file_mode_reads_new_and_changed_files) {
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char in[300], path[400];
  snprintf(in, sizeof in, "%s/in", dir);
  ck_assert_int_eq(mkdir(in, 0700), 0);
  snprintf(path, sizeof path, "%s/cpu.pb.gz", in);
  copy_file("tests/data/pprof/cpu.pb.gz", path);
  snprintf(path, sizeof path, "%s/heap.pb.gz", in);
  copy_file("tests/data/pprof/heap.pb.gz", path);
  snprintf(path, sizeof path, "%s/junk.pb.gz", in);
  FILE *f = fopen(path, "w");
  fputs("not a profile\n", f);
  fclose(f);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    file:\n"
           "      include: %s/*.pb.gz\n"
           "      collection_interval: 200ms\n"
           "      initial_delay: 0s\n"
           OUTPUT_YAML("%s"),
           in, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  wait_requests(out, 2, 10000);
  usleep(1000 * 1000); /* five more passes: unchanged files are not read again */
  cpu_heap_t o;
  cpu_heap_load(&o);
  char cpu_path[400], heap_path[400];
  snprintf(cpu_path, sizeof cpu_path, "file.path=%s/cpu.pb.gz", in);
  snprintf(heap_path, sizeof heap_path, "file.path=%s/heap.pb.gz", in);
  check_cpu_and_heap(out, &o, cpu_path, heap_path, "profcol/receiver/pprof/file");
  char line[512];
  snprintf(line, sizeof line, "%s/junk.pb.gz (14 bytes) is not a pprof profile", in);
  ck_assert_int_eq(pc_e2e_log_count(&p, line), 1);
  /* A changed file is read again: the heap profile written over cpu. */
  snprintf(path, sizeof path, "%s/cpu.pb.gz", in);
  copy_file("tests/data/pprof/heap.pb.gz", path);
  wait_requests(out, 3, 10000);
  usleep(600 * 1000);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  check_t c = cpu_heap_check(&o);
  ck_assert_int_eq(read_output(out, &c), 3);
  ck_assert_int_eq(c.seen[1], 2);
  ck_assert_int_eq(pc_e2e_log_count(&p, "is not a pprof profile"), 1);
  cpu_heap_free(&o);
  static const char *const names[] = {"in/cpu.pb.gz", "in/heap.pb.gz", "in/junk.pb.gz",
                                      "out.binpb", "in"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    remove(path);
  }
  pc_e2e_cleanup(&p);
  rmdir(dir);
}
END_TEST

/* include with "**", as the Collector's receivers take it: profiles at any
 * depth below the directory, the directory itself included, are read;
 * others ("*.txt", a hidden directory's) are not. */
START_TEST(file_mode_include_any_depth) {
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  static const char *const dirs[] = {"in", "in/a", "in/a/b", "in/.cache"};
  char path[400];
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, dirs[i]);
    ck_assert_int_eq(mkdir(path, 0700), 0);
  }
  static const char *const files[][2] = {{"in/cpu.pb.gz", "cpu"},
                                         {"in/a/b/heap.pb.gz", "heap"},
                                         {"in/a/b/cpu.txt", "cpu"},
                                         {"in/.cache/cpu.pb.gz", "cpu"}};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char from[64];
    snprintf(from, sizeof from, "tests/data/pprof/%s.pb.gz", files[i][1]);
    snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
    copy_file(from, path);
  }
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof:\n"
           "    file:\n"
           "      include: %s/in/**/*.pb.gz\n"
           "      collection_interval: 200ms\n"
           "      initial_delay: 0s\n"
           OUTPUT_YAML("%s"),
           dir, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  char out[300];
  snprintf(out, sizeof out, "%s/out.binpb", dir);
  wait_requests(out, 2, 10000);
  usleep(600 * 1000); /* three more passes: nothing else is read */
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  cpu_heap_t o;
  cpu_heap_load(&o);
  char cpu_path[400], heap_path[400];
  snprintf(cpu_path, sizeof cpu_path, "file.path=%s/in/cpu.pb.gz", dir);
  snprintf(heap_path, sizeof heap_path, "file.path=%s/in/a/b/heap.pb.gz", dir);
  check_cpu_and_heap(out, &o, cpu_path, heap_path, "profcol/receiver/pprof/file");
  cpu_heap_free(&o);
  pc_e2e_cleanup(&p);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- workers -------------------------------------------------------------------------------- */

static void ignore_request(const pc_request_t *req, void *arg) {
  (void)req;
  (void)arg;
}

/* Requests in path and in worker 1's file beside it (the file exporter's
 * ".w1" copy). */
static int requests_of_both_workers(const char *dir, const char *name) {
  char p0[300], p1[300];
  snprintf(p0, sizeof p0, "%s/%s.binpb", dir, name);
  snprintf(p1, sizeof p1, "%s/%s.w1.binpb", dir, name);
  return pc_e2e_read_proto_file(p0, ignore_request, NULL) +
         pc_e2e_read_proto_file(p1, ignore_request, NULL);
}

/* With service.workers: 2 the remote and file modes run in worker 0 alone:
 * a target is scraped once per interval, not once per worker (two workers
 * would scrape the slow target at the same moment, from the same phase of
 * the interval: two requests in flight), and a file is read once. */
START_TEST(two_workers_scrape_and_read_once) {
  server_t srv;
  server_start(&srv);
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char in[300], path[400];
  snprintf(in, sizeof in, "%s/in", dir);
  ck_assert_int_eq(mkdir(in, 0700), 0);
  snprintf(path, sizeof path, "%s/cpu.pb.gz", in);
  copy_file("tests/data/pprof/cpu.pb.gz", path);
  char yaml[4096];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  pprof/remote:\n"
           "    remote:\n"
           "      endpoint: http://127.0.0.1:%d/slow?s=1\n"
           "      collection_interval: 2s\n"
           "      initial_delay: 0s\n"
           "      timeout: 1500ms\n"
           "  pprof/file:\n"
           "    file:\n"
           "      include: %s/*.pb.gz\n"
           "      collection_interval: 200ms\n"
           "      initial_delay: 0s\n"
           "exporters:\n"
           "  file/remote: {path: %s/remote.binpb, format: proto, flush_interval: 100ms}\n"
           "  file/file: {path: %s/file.binpb, format: proto, flush_interval: 100ms}\n"
           "service:\n"
           "  workers: 2\n"
           "  pipelines:\n"
           "    profiles/remote: {receivers: [pprof/remote], exporters: [file/remote]}\n"
           "    profiles/file: {receivers: [pprof/file], exporters: [file/file]}\n",
           srv.port, in, dir, dir);
  pc_e2e_proc_t p;
  start(&p, yaml);
  ck_assert(pc_e2e_wait_log(&p, "2 workers (service.workers)", 5000));
  /* Two scrapes: two intervals with one worker, one with two. */
  for (long until = now_ms() + 20000; server_count(&srv, "/slow") < 2 && now_ms() < until;)
    usleep(50000);
  ck_assert_int_ge(server_count(&srv, "/slow"), 2);
  ck_assert_int_eq(server_count(&srv, "max_inflight"), 1);
  /* The first file is read (by each worker that reads files), then a
   * second one: once it is out, every pass over the first is done too. */
  char out[300];
  snprintf(out, sizeof out, "%s/file.binpb", dir);
  wait_requests(out, 1, 10000);
  snprintf(path, sizeof path, "%s/heap.pb.gz", in);
  copy_file("tests/data/pprof/heap.pb.gz", path);
  wait_requests(out, 2, 10000);
  ck_assert_int_eq(requests_of_both_workers(dir, "file"), 2);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  /* (A scrape cut short by the stop is counted by the server, not out.) */
  int scraped = server_count(&srv, "/slow"), out_remote = requests_of_both_workers(dir, "remote");
  ck_assert_msg(out_remote >= 1 && out_remote >= scraped - 1 && out_remote <= scraped,
                "%d scrapes out of %d", out_remote, scraped);
  ck_assert_int_eq(requests_of_both_workers(dir, "file"), 2);
  pc_e2e_cleanup(&p);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
  server_stop(&srv);
}
END_TEST

/* ---- config errors --------------------------------------------------------------------------- */

START_TEST(invalid_configs_name_their_place) {
  char dir[] = "/tmp/profcol-pprof-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[300];
  snprintf(path, sizeof path, "%s/bad.yaml", dir);
  FILE *f = fopen(path, "w");
  fputs("receivers:\n"                                                       /* 1 */
        "  pprof:\n"                                                         /* 2 */
        "    remote:\n"                                                      /* 3 */
        "      endpoint: http://127.0.0.1:6060/debug/pprof/profile\n"        /* 4 */
        "      collection_interval: 10s\n"                                   /* 5 */
        "  pprof/nothing:\n"                                                 /* 6 */
        "    remote:\n"                                                      /* 7 */
        "      collection_interval: 1m\n"                                    /* 8 */
        "    file:\n"                                                        /* 9 */
        "      include: \"\"\n"                                           /* 10 */
        "  pprof/self:\n"                                                    /* 11 */
        "    self:\n"                                                        /* 12 */
        "      block_profile_fraction: 1\n"                                  /* 13 */
        "  pprof/urls:\n"                                                    /* 14 */
        "    remote:\n"                                                      /* 15 */
        "      endpoints: [ftp://h/x]\n"                                     /* 16 */
        "  pprof/paths:\n"                                                   /* 17 */
        "    remote:\n"                                                      /* 18 */
        "      endpoint: http://h:6060\n"                                    /* 19 */
        "      paths: [debug/pprof/heap]\n"                                  /* 20 */
        "  pprof/slow:\n"                                                    /* 21 */
        "    remote:\n"                                                      /* 22 */
        "      endpoint: http://h:6060/debug/pprof/heap\n"                   /* 23 */
        "      collection_interval: 30s\n"                                   /* 24 */
        "      timeout: 1m\n"                                                /* 25 */
        "  pprof/twice:\n"                                                   /* 26 */
        "    remote:\n"                                                      /* 27 */
        "      endpoint: http://h:6060/debug/pprof/heap\n"                   /* 28 */
        "      endpoints: [http://h:6060/debug/pprof/heap]\n"                /* 29 */
        "  pprof/empty:\n"                                                   /* 30 */
        "    server:\n"                                                      /* 31 */
        "      pyroscope_ingest: maybe\n"                                    /* 32 */
        "exporters:\n"
        "  debug:\n"
        "service:\n"
        "  pipelines:\n"
        "    profiles:\n"
        "      receivers: [pprof, pprof/nothing, pprof/self, pprof/urls, pprof/paths,\n"
        "                  pprof/slow, pprof/twice, pprof/empty]\n"
        "      exporters: [debug]\n",
        f);
  fclose(f);
  pc_buf_t out = {0};
  const char *args[] = {"validate", "--config", path, NULL};
  ck_assert_int_eq(pc_e2e_run(args, &out), 1);
  static const char *const want[] = {
      "5:28: receivers.pprof.remote.collection_interval: "
      "http://127.0.0.1:6060/debug/pprof/profile takes 30 s (Go's default): timeout, 10s "
      "(collection_interval), must be longer",
      "8:7: receivers.pprof/nothing.remote: remote.endpoint must be specified: the URL of a "
      "pprof handler, e.g. http://host:6060/debug/pprof/heap (or profcol's endpoints: a list "
      "of them)",
      "10:7: receivers.pprof/nothing.file: file.include must be specified: a glob of pprof "
      "files, e.g. /tmp/pprof/*.pb.gz",
      "12:5: receivers.pprof/self.self: self profiles the Collector's own Go runtime; profcol "
      "is not a Go program and has none (scrape Go programs with remote instead)",
      "16:19: receivers.pprof/urls.remote.endpoints[0]: \"ftp://h/x\": the scheme must be "
      "http or https, not ftp",
      "20:15: receivers.pprof/paths.remote.paths[0]: must be a path starting with '/', e.g. "
      "/debug/pprof/heap (a query may follow; no blanks or '#')",
      "25:16: receivers.pprof/slow.remote.timeout: timeout 1m is longer than "
      "collection_interval 30s: a scrape would still run when its target is due again",
      "29:19: receivers.pprof/twice.remote.endpoints[0]: \"http://h:6060/debug/pprof/heap\" "
      "is scraped twice: it is already a target",
      "32:25: receivers.pprof/empty.server.pyroscope_ingest:",
  };
  const char *text = (const char *)out.p;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char line[1024];
    snprintf(line, sizeof line, "profcol: config error: %s:%s", path, want[i]);
    ck_assert_msg(strstr(text, line), "missing \"%s\" in:\n%s", line, text);
  }
  unsigned lines = 0;
  for (const char *c = text; (c = strstr(c, "config error:")); c++) lines++;
  ck_assert_msg(lines == sizeof want / sizeof want[0], "%u errors:\n%s", lines, text);
  pc_buf_free(&out);
  unlink(path);
  rmdir(dir);
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("e2e-pprof");
  TCase *remote = tcase_create("remote");
  tcase_set_timeout(remote, 120);
  tcase_add_test(remote, scrapes_go_handlers_sample_by_sample);
  tcase_add_test(remote, failing_targets_are_logged_counted_and_retried);
  tcase_add_test(remote, scrapes_in_flight_stay_under_the_limit);
  tcase_add_test(remote, two_workers_scrape_and_read_once);
  suite_add_tcase(s, remote);
  TCase *server = tcase_create("server");
  tcase_set_timeout(server, 120);
  tcase_add_test(server, server_takes_pushed_pprof);
  tcase_add_test(server, pyroscope_sdks_push_to_ingest);
  suite_add_tcase(s, server);
  TCase *file = tcase_create("file");
  tcase_set_timeout(file, 120);
  tcase_add_test(file, file_mode_reads_new_and_changed_files);
  tcase_add_test(file, file_mode_include_any_depth);
  suite_add_tcase(s, file);
  TCase *cfg = tcase_create("config");
  tcase_add_test(cfg, invalid_configs_name_their_place);
  suite_add_tcase(s, cfg);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
