/* detectors.c - what the resource_detection processor finds out about the
 * host it runs on (processor/internal.h): the Collector's `env` and `system`
 * detectors.
 *
 * env: OTEL_RESOURCE_ATTRIBUTES (or the deprecated OTEL_RESOURCE when it is
 *   unset or blank), "k1=v1,k2=v2", as the Collector's env detector reads
 *   it: spaces around keys, values and commas are dropped, a key is 1 to
 *   256 ASCII characters, a value 0 to 256, values are URL-query-unescaped
 *   (%2C is a comma; '+' is a space, as Go's url.QueryUnescape has it), and
 *   any other text is an error that names it. Then OTEL_SERVICE_NAME, when
 *   set and not empty, sets service.name over the one above: the SDKs'
 *   rule (the Collector's detector reads only the first variable; the
 *   profiler's own process has both). allow_list keeps only the keys named.
 * system: host.name from the first of hostname_sources that answers (os:
 *   the kernel's hostname; dns: the canonical name of that hostname, from
 *   /etc/hosts or DNS as the C library resolves it; cname: the same lookup;
 *   lookup: the name a reverse lookup of its first address gives), host.id
 *   from /etc/machine-id or /var/lib/dbus/machine-id (what the OpenTelemetry
 *   SDK reads on Linux), os.type and host.arch from uname(2) in the
 *   semantic conventions' words (linux; amd64, arm64, x86, arm32, ppc64,
 *   s390x). The Collector's defaults: host.name and os.type on, host.id and
 *   host.arch off.
 *
 * Name lookups can block on a slow resolver: each runs on a thread of its
 * own, waited for until the deadline; one that does not answer in time
 * counts as a failed source (its thread finishes on its own and frees what
 * it holds), and the next source is tried, as the Collector's context
 * deadline makes its lookups fail.
 *
 * k8s_api (the Collector's k8snode): GET /api/v1/nodes/<name> with the
 * name from node_from_env_var (K8S_NODE_NAME by default, the downward
 * API's spec.nodeName), through the Kubernetes client k8s_attributes uses
 * (k8s.h), on a loop of its own for the length of the call: detection
 * belongs to start, which the Collector also lets wait for it, and the
 * request's timeout bounds the wait. It sets k8s.node.name and
 * k8s.node.uid from the object. */
#include <ctype.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "k8s.h"

static char *xstrndup(const char *s, size_t n) {
  char *d = strndup(s, n);
  if (!d) pc_oom();
  return d;
}

bool pc__detected_add(pc__detected_t *d, const char *key, size_t kn, const char *value, size_t vn) {
  for (size_t i = 0; i < d->n; i++)
    if (strlen(d->v[i].key) == kn && !memcmp(d->v[i].key, key, kn)) return false;
  d->v = pc_xrealloc(d->v, (d->n + 1) * sizeof *d->v);
  d->v[d->n].key = xstrndup(key, kn);
  d->v[d->n].value = xstrndup(value, vn);
  d->n++;
  return true;
}

static void set(pc__detected_t *d, const char *key, const char *value) {
  for (size_t i = 0; i < d->n; i++)
    if (!strcmp(d->v[i].key, key)) {
      free(d->v[i].value);
      d->v[i].value = xstrndup(value, strlen(value));
      return;
    }
  pc__detected_add(d, key, strlen(key), value, strlen(value));
}

void pc__detected_free(pc__detected_t *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].key);
    free(d->v[i].value);
  }
  free(d->v);
  *d = (pc__detected_t){0};
}

/* ---- env ------------------------------------------------------------------------------ */

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static bool ascii(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] > 127) return false;
  return true;
}

/* Go's url.QueryUnescape into out (room for n bytes); false on a bad escape. */
static bool unescape(const char *p, size_t n, char *out, size_t *on) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '+') {
      out[o++] = ' ';
    } else if (p[i] == '%') {
      if (i + 2 >= n) return false;
      int hi = hexval((unsigned char)p[i + 1]), lo = hexval((unsigned char)p[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = p[i];
    }
  }
  *on = o;
  return true;
}

int pc__parse_resource_attributes(const char *s, pc__detected_t *out, char *why, size_t cap) {
  size_t n = strlen(s);
  while (n && is_space(s[n - 1])) n--;
  while (n && is_space(*s)) s++, n--;
  if (!n) return 0;
  pc__detected_t got = {0};
  const char *p = s, *end = s + n;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *pair_end = comma ? comma : end;
    const char *eq = memchr(p, '=', (size_t)(pair_end - p));
    const char *k = p, *ke = eq ? eq : pair_end;
    while (k < ke && is_space(*k)) k++;
    while (ke > k && is_space(ke[-1])) ke--;
    const char *v = eq ? eq + 1 : pair_end, *ve = pair_end;
    while (v < ve && is_space(*v)) v++;
    while (ve > v && is_space(ve[-1])) ve--;
    if (!eq || ke == k || ke - k > 256 || ve - v > 256 || !ascii(k, (size_t)(ke - k)) ||
        !ascii(v, (size_t)(ve - v))) {
      snprintf(why, cap, "invalid text \"%.*s\": want key=value pairs separated by commas, "
               "keys of 1 to 256 and values of up to 256 ASCII characters",
               (int)(pair_end - p > 80 ? 80 : pair_end - p), p);
      pc__detected_free(&got);
      return PC_EINVAL;
    }
    char val[257];
    size_t vn;
    if (!unescape(v, (size_t)(ve - v), val, &vn)) {
      snprintf(why, cap, "invalid escape in \"%.*s\": %% must be followed by two hex digits",
               (int)(pair_end - p > 80 ? 80 : pair_end - p), p);
      pc__detected_free(&got);
      return PC_EINVAL;
    }
    /* A key given twice: the later one, as a Go map put. */
    char key[257];
    memcpy(key, k, (size_t)(ke - k));
    key[ke - k] = 0;
    val[vn] = 0;
    set(&got, key, val);
    p = comma ? comma + 1 : end; /* a trailing comma ends the list */
  }
  for (size_t i = 0; i < got.n; i++)
    pc__detected_add(out, got.v[i].key, strlen(got.v[i].key), got.v[i].value,
                     strlen(got.v[i].value));
  pc__detected_free(&got);
  return 0;
}

int pc__detect_env(char *const *allow, size_t n_allow, bool has_allow, pc__detected_t *out,
                  char *why, size_t cap) {
  pc__detected_t got = {0};
  const char *var = "OTEL_RESOURCE_ATTRIBUTES", *s = getenv(var);
  const char *t = s;
  while (t && is_space(*t)) t++;
  if (!t || !*t) {
    var = "OTEL_RESOURCE";
    s = getenv(var);
  }
  char sub[200];
  if (s && pc__parse_resource_attributes(s, &got, sub, sizeof sub)) {
    snprintf(why, cap, "%s: %s", var, sub);
    pc__detected_free(&got);
    return PC_EINVAL;
  }
  const char *svc = getenv("OTEL_SERVICE_NAME");
  if (svc && *svc) set(&got, "service.name", svc);
  for (size_t i = 0; i < got.n; i++) {
    bool keep = !has_allow;
    for (size_t k = 0; !keep && k < n_allow; k++) keep = !strcmp(allow[k], got.v[i].key);
    if (keep)
      pc__detected_add(out, got.v[i].key, strlen(got.v[i].key), got.v[i].value,
                       strlen(got.v[i].value));
  }
  pc__detected_free(&got);
  return 0;
}

/* ---- system ------------------------------------------------------------------------------- */

/* A lookup on a thread of its own; whoever lets go last frees it. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs;
  bool done, ok;
  pc__hostname_source_t source;
  char host[256];
  char result[NI_MAXHOST];
} lookup_t;

static void strip_dot(char *s) {
  size_t n = strlen(s);
  if (n > 1 && s[n - 1] == '.') s[n - 1] = 0;
}

static bool resolve(lookup_t *l) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_CANONNAME}, *res = NULL;
  if (getaddrinfo(l->host, NULL, &hints, &res) || !res) return false;
  bool ok = false;
  if (l->source == PC__HOST_LOOKUP) {
    for (struct addrinfo *a = res; a && !ok; a = a->ai_next)
      ok = !getnameinfo(a->ai_addr, a->ai_addrlen, l->result, sizeof l->result, NULL, 0,
                        NI_NAMEREQD);
  } else if (res->ai_canonname && res->ai_canonname[0]) {
    snprintf(l->result, sizeof l->result, "%s", res->ai_canonname);
    ok = true;
  }
  freeaddrinfo(res);
  if (ok) strip_dot(l->result);
  return ok && l->result[0];
}

static void lookup_release(lookup_t *l) {
  pthread_mutex_lock(&l->mu);
  bool last = --l->refs == 0;
  pthread_mutex_unlock(&l->mu);
  if (!last) return;
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void *lookup_main(void *arg) {
  lookup_t *l = arg;
  bool ok = resolve(l);
  pthread_mutex_lock(&l->mu);
  l->ok = ok;
  l->done = true;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  lookup_release(l);
  return NULL;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The hostname by a name lookup, waited for until deadline_ms (CLOCK_MONOTONIC). */
static bool lookup_until(const char *host, pc__hostname_source_t source, uint64_t deadline_ms,
                         char *out, size_t cap) {
  lookup_t *l = pc_xcalloc(1, sizeof *l);
  pthread_mutex_init(&l->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&l->cv, &ca);
  pthread_condattr_destroy(&ca);
  l->refs = 2;
  l->source = source;
  snprintf(l->host, sizeof l->host, "%s", host);
  pthread_t t;
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &ta, lookup_main, l)) {
    pthread_attr_destroy(&ta);
    l->refs = 1;
    lookup_release(l);
    return false;
  }
  pthread_attr_destroy(&ta);
  struct timespec until = {.tv_sec = (time_t)(deadline_ms / 1000),
                           .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
  pthread_mutex_lock(&l->mu);
  while (!l->done && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0) {
  }
  bool ok = l->done && l->ok;
  if (ok) snprintf(out, cap, "%s", l->result);
  pthread_mutex_unlock(&l->mu);
  lookup_release(l);
  return ok;
}

static const char *arch_of(const char *m) {
  static const struct {
    const char *machine, *arch;
  } map[] = {{"x86_64", "amd64"}, {"amd64", "amd64"}, {"aarch64", "arm64"}, {"arm64", "arm64"},
             {"i386", "x86"},     {"i486", "x86"},    {"i586", "x86"},      {"i686", "x86"},
             {"ppc64", "ppc64"},  {"ppc64le", "ppc64"}, {"ppc", "ppc32"},   {"s390x", "s390x"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(m, map[i].machine)) return map[i].arch;
  if (!strncmp(m, "arm", 3)) return "arm32";
  return m;
}

static bool read_id(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  bool ok = fgets(out, (int)cap, f) != NULL;
  fclose(f);
  if (!ok) return false;
  size_t n = strlen(out);
  while (n && is_space(out[n - 1])) out[--n] = 0;
  return n > 0;
}

int pc__detect_system(const pc__system_cfg_t *cfg, uint64_t timeout_ms, pc__detected_t *out,
                      char *why, size_t cap) {
  uint64_t deadline = now_ms() + timeout_ms;
  char os_host[256] = "", name[NI_MAXHOST] = "";
  if (gethostname(os_host, sizeof os_host - 1)) os_host[0] = 0;
  bool found = false;
  for (size_t i = 0; !found && i < cfg->n_sources; i++) {
    if (cfg->sources[i] == PC__HOST_OS) {
      found = os_host[0] != 0;
      if (found) snprintf(name, sizeof name, "%s", os_host);
    } else if (os_host[0]) {
      found = lookup_until(os_host, cfg->sources[i], deadline, name, sizeof name);
    }
  }
  if (!found) {
    snprintf(why, cap, "no hostname source answered (hostname_sources: %zu tried, within "
             "timeout)", cfg->n_sources);
    return PC_EIO;
  }
  struct utsname u;
  if (uname(&u)) {
    snprintf(why, cap, "uname failed");
    return PC_EIO;
  }
  if (cfg->host_name) pc__detected_add(out, "host.name", 9, name, strlen(name));
  char id[128];
  if (cfg->host_id && (read_id("/etc/machine-id", id, sizeof id) ||
                       read_id("/var/lib/dbus/machine-id", id, sizeof id)))
    pc__detected_add(out, "host.id", 7, id, strlen(id));
  if (cfg->os_type) {
    char os[sizeof u.sysname];
    size_t n = 0;
    for (; u.sysname[n] && n + 1 < sizeof os; n++) os[n] = (char)tolower((unsigned char)u.sysname[n]);
    os[n] = 0;
    pc__detected_add(out, "os.type", 7, os, n);
  }
  if (cfg->host_arch) {
    const char *a = arch_of(u.machine);
    pc__detected_add(out, "host.arch", 9, a, strlen(a));
  }
  return 0;
}

/* ---- k8s_api ---------------------------------------------------------------------------- */

typedef struct {
  pc__k8s_get_t get; /* first */
  pc_buf_t body;
  bool done;
  int rc;
  long status;
  char why[300];
} node_get_t;

static int node_on_body(pc__k8s_get_t *g, long status, const uint8_t *p, size_t n) {
  node_get_t *ng = (node_get_t *)g;
  (void)status;
  if (ng->body.n + n > PC__K8S_MAX_OBJECT) return PC_ELIMIT;
  return pc_buf_append(&ng->body, p, n);
}

static void node_on_done(pc__k8s_get_t *g, int rc, long status, const char *why) {
  node_get_t *ng = (node_get_t *)g;
  ng->done = true;
  ng->rc = rc;
  ng->status = status;
  snprintf(ng->why, sizeof ng->why, "%s", rc == PC_ELIMIT ? "the answer is too large" : why);
}

static void node_closed(void *arg) { *(bool *)arg = true; }

int pc__detect_k8s_node(const pc__k8s_node_cfg_t *cfg, uint64_t timeout_ms, pc__detected_t *out,
                        char *why, size_t cap) {
  const char *name = getenv(cfg->node_env);
  if (!name || !*name) {
    snprintf(why, cap, "the node's name is not in $%s: set it from the downward API "
             "(env: [{name: %s, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}])",
             cfg->node_env, cfg->node_env);
    return PC_EINVAL;
  }
  pc__k8s_api_t api;
  char sub[400];
  int rc = pc__k8s_api_load(cfg->auth, cfg->context, cfg->kube_config_path, cfg->sa_dir, &api,
                            sub, sizeof sub);
  if (rc) {
    snprintf(why, cap, "%s", sub);
    return rc;
  }
  char path[512];
  size_t o = (size_t)snprintf(path, sizeof path, "/api/v1/nodes/");
  for (const char *c = name; *c && o + 4 < sizeof path; c++) { /* a DNS name; escape the rest */
    bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '-' || *c == '.' || *c == '_';
    o += (size_t)snprintf(path + o, sizeof path - o, plain ? "%c" : "%%%02X",
                          plain ? *c : (unsigned char)*c);
  }
  uv_loop_t loop;
  if (uv_loop_init(&loop)) {
    pc__k8s_api_free(&api);
    snprintf(why, cap, "cannot make a loop");
    return PC_EIO;
  }
  pc__k8s_http_t *h = NULL;
  pc_err_t err = {0};
  node_get_t ng = {.get = {.on_body = node_on_body, .on_done = node_on_done}};
  rc = pc__k8s_http_open(&loop, &api, &h, &err);
  if (rc) {
    snprintf(why, cap, "%s", err.msg);
  } else {
    rc = pc__k8s_get_start(h, &ng.get, path, NULL, timeout_ms, why, cap);
    while (!rc && !ng.done) uv_run(&loop, UV_RUN_ONCE);
    bool closed = false;
    pc__k8s_get_cancel(&ng.get);
    pc__k8s_http_close(h, node_closed, &closed);
    while (!closed) uv_run(&loop, UV_RUN_ONCE);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (!rc && ng.rc) {
    snprintf(why, cap, "reading node %s from %s: %s", name, api.where, ng.why);
    rc = PC_EIO;
  } else if (!rc && ng.status != 200) {
    json_error_t je;
    json_t *st = json_loadb((const char *)ng.body.p, ng.body.n, 0, &je);
    const char *msg = pc__k8s_jstr(st, "message", NULL);
    snprintf(why, cap, "reading node %s: HTTP %ld%s%s%s", name, ng.status, msg ? ": " : "",
             msg ? msg : "",
             ng.status == 403 ? " (the service account's ClusterRole needs nodes: get)"
             : ng.status == 404 ? " (no node of that name)"
                                : "");
    json_decref(st);
    rc = PC_EIO;
  } else if (!rc) {
    json_error_t je;
    json_t *node = json_loadb((const char *)ng.body.p, ng.body.n, 0, &je);
    const char *nm = pc__k8s_jstr(node, "metadata", "name", NULL);
    const char *uid = pc__k8s_jstr(node, "metadata", "uid", NULL);
    if (!nm || !uid) {
      snprintf(why, cap, "reading node %s: the answer is not a Node object", name);
      rc = PC_EIO;
    } else {
      if (cfg->node_name) pc__detected_add(out, "k8s.node.name", 13, nm, strlen(nm));
      if (cfg->node_uid) pc__detected_add(out, "k8s.node.uid", 12, uid, strlen(uid));
    }
    json_decref(node);
  }
  pc_buf_free(&ng.body);
  pc__k8s_api_free(&api);
  return rc;
}
