/* test_k8s.c - end to end: the real binary with k8s_attributes and
 * resource_detection's k8s_api detector against the stand-in Kubernetes
 * API server (tests/k8s/apiserver.py over HTTPS with a bearer token, driven
 * through tests/k8s/standin.h), through batch into a file exporter.
 *
 *   from_a_pod_ip        a payload sent from a pod's IP (127.0.0.1 is that
 *                        pod's status.podIP) comes out with the pod's
 *                        metadata, its deployment through its replicaset, a
 *                        namespace label, and the node from the detector; a
 *                        resource naming another pod's k8s.pod.uid gets
 *                        that pod's
 *   api_down_at_start    the server is down when profcol starts: data passes
 *                        unchanged (counted), then is enriched once the
 *                        server is back, without a restart
 *   samples_of_two_pods  one resource whose samples carry container.id (as
 *                        the eBPF profiler sends them) of two pods: it is
 *                        split into one resource per pod, each with that
 *                        pod's metadata and only its samples; a sample
 *                        without container.id stays on the resource
 *   ten_thousand_pods    10,000 pods listed at start: the cache size and the
 *                        memory per cached pod (printed), and association
 *                        by a k8s.pod.ip resource attribute among them
 *   node_labels          from: node rules: the label and annotation of the
 *                        pod's node (only that node watched) land on the
 *                        resources; a change of the node's label (a MODIFIED
 *                        event) shows in the next data
 *   nodes_forbidden      the service account may not read nodes (403): after
 *                        5 s the data gets the pods' metadata without the
 *                        node's pairs, and the log names the RBAC rule
 *   replicasets_and_namespaces_forbidden
 *                        the same rule for replicasets and namespaces: after
 *                        5 s the pods' metadata without deployment names and
 *                        namespace labels, a warning naming the ClusterRole
 *                        rule each needs; once allowed, their values follow
 *   namespace_without_pod
 *                        a resource no pod is found for that carries
 *                        k8s.namespace.name gets that namespace's label */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../k8s/standin.h"
#include "../pdata/testdata.h"
#include "e2e.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

static pc_str_t key_of(const pc_request_t *req, const pc_keyvalue_t *kv) {
  return kv->key.n ? kv->key : pc_dict_string(&req->dict, kv->key_strindex);
}

/* The string value of key in a, or NULL (into buf). */
static const char *res_get(const pc_request_t *req, const pc_kvs_t *a, const char *key, char *buf,
                           size_t cap) {
  for (uint32_t i = 0; i < a->n; i++) {
    if (!pc_str_eq(key_of(req, &a->v[i]), S(key))) continue;
    const pc_anyvalue_t *v = &a->v[i].value;
    if (v->type != PC_AV_STRING && v->type != PC_AV_STRINDEX) return NULL;
    pc_str_t s = v->type == PC_AV_STRINDEX ? pc_dict_string(&req->dict, v->u.strindex) : v->u.s;
    snprintf(buf, cap, "%.*s", (int)s.n, (const char *)s.p);
    return buf;
  }
  return NULL;
}

/* What came out: per pod name seen on a resource, how many resources; and
 * resources without one. want_* checks every resource of pod want_pod. */
typedef struct {
  const char *by;       /* the attribute that picks resources (NULL: k8s.pod.name) */
  const char *want_pod; /* its value */
  const char *const *want; /* "key=value" pairs every resource of want_pod must have */
  uint64_t of_pod, unnamed, other, missing, samples;
  char missing_what[256];
} seen_t;

static void tally(const pc_request_t *req, void *arg) {
  seen_t *s = arg;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    const pc_kvs_t *a = &rp->resource.attributes;
    for (uint32_t k = 0; k < rp->n_scopes; k++)
      for (uint32_t p = 0; p < rp->scopes[k].n_profiles; p++)
        s->samples += rp->scopes[k].profiles[p].n_samples;
    char pod[128];
    if (!res_get(req, a, s->by ? s->by : "k8s.pod.name", pod, sizeof pod)) {
      s->unnamed++;
      continue;
    }
    if (strcmp(pod, s->want_pod)) {
      s->other++;
      continue;
    }
    s->of_pod++;
    for (const char *const *w = s->want; w && *w; w++) {
      char key[128], val[256];
      const char *eq = strchr(*w, '=');
      snprintf(key, sizeof key, "%.*s", (int)(eq - *w), *w);
      const char *got = res_get(req, a, key, val, sizeof val);
      if (!got || strcmp(got, eq + 1)) {
        s->missing++;
        snprintf(s->missing_what, sizeof s->missing_what, "%s (got %s)", *w, got ? got : "none");
      }
    }
  }
}

/* The rich test request as protobuf; with uid, its first resource also
 * carries key=value (k8s.pod.uid, k8s.pod.ip), as an SDK or an agent in
 * passthrough mode would send. Returns its samples. */
static uint64_t payload(pc_buf_t *out, const char *key, const char *value) {
  pc_arena_t *arena = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  if (key) {
    pc_kvs_t *a = &req.resources[0].resource.attributes;
    pc_keyvalue_t *v = pc_arena_calloc(arena, a->n + 1, sizeof *v);
    memcpy(v, a->v, a->n * sizeof *v);
    v[a->n] = (pc_keyvalue_t){.key = S(key), .has_value = true,
                              .value = {.type = PC_AV_STRING, .u.s = S(value)}};
    a->v = v;
    a->n++;
  }
  memset(out, 0, sizeof *out);
  ck_assert_int_eq(pc_proto_encode(&req, out), 0);
  uint64_t samples = pc_request_sample_count(&req);
  pc_arena_free(arena);
  return samples;
}

static void post(const pc_e2e_proc_t *p, const pc_buf_t *body) {
  pc_e2e_resp_t r;
  ck_assert_int_eq(pc_e2e_post(p->port, "/v1development/profiles", "application/x-protobuf", NULL,
                               body->p, body->n, &r), 200);
  pc_buf_free(&r.body);
}

/* A metric's value from the Prometheus endpoint (the first series of that
 * name), -1 when absent. */
static double metric(int port, const char *name) {
  pc_e2e_resp_t r;
  if (pc_e2e_get(port, "/metrics", &r) != 200) {
    pc_buf_free(&r.body);
    return -1;
  }
  pc_buf_append(&r.body, "", 1);
  double v = -1;
  char pat[200];
  snprintf(pat, sizeof pat, "\n%s{", name);
  const char *at = strstr((const char *)r.body.p, pat);
  if (at && (at = strstr(at, "} "))) v = strtod(at + 2, NULL);
  pc_buf_free(&r.body);
  return v;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kib;
}

static const char *PODS =
    "[{\"name\": \"web-1\", \"namespace\": \"shop\", \"ip\": \"127.0.0.1\", \"uid\": \"uid-web-1\","
    "  \"node\": \"node-1\","
    "  \"labels\": {\"app.kubernetes.io/name\": \"web\", \"app.kubernetes.io/version\": \"2.1\"},"
    "  \"owner\": {\"kind\": \"ReplicaSet\", \"name\": \"web-7d4f8b9c5c\", \"uid\": \"rs-web\"},"
    "  \"containers\": [{\"name\": \"app\", \"image\": \"shop/web:2.1\", \"id\": \"cid-web\"}]},"
    " {\"name\": \"db-0\", \"namespace\": \"shop\", \"ip\": \"10.1.0.7\", \"uid\": \"uid-db-0\","
    "  \"node\": \"node-1\", \"owner\": {\"kind\": \"StatefulSet\", \"name\": \"db\"},"
    "  \"containers\": [{\"name\": \"pg\", \"image\": \"postgres:16\", \"id\": \"cid-db\"}]},"
    " {\"name\": \"elsewhere\", \"namespace\": \"shop\", \"ip\": \"10.2.0.9\", \"uid\": \"uid-else\","
    "  \"node\": \"node-2\"}]";

/* k8s_attributes' extract blocks: pods' metadata and a namespace label;
 * from: node rules. */
static const char *EXTRACT =
    "    extract:\n"
    "      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.deployment.name,"
    " k8s.statefulset.name, k8s.container.name, service.version]\n"
    "      labels: [{tag_name: team, key: team, from: namespace}]\n";
static const char *EXTRACT_NODES =
    "    extract:\n"
    "      metadata: [k8s.pod.name, k8s.node.name]\n"
    "      labels:\n"
    "        - {tag_name: cloud.availability_zone, key: topology.kubernetes.io/zone,"
    " from: node}\n"
    "      annotations: [{key: team.example.com/owner, from: node}]\n";

static const char *ASSOC = "    pod_association:\n"
                           "      - sources: [{from: resource_attribute, name: k8s.pod.uid}]\n"
                           "      - sources: [{from: resource_attribute, name: k8s.pod.ip}]\n"
                           "      - sources: [{from: connection}]\n";

/* The pipeline: k8s_attributes (watching node-1's pods; extract: its
 * extract block; more: further keys, or NULL) -> resource_detection
 * (k8s_api: the node, when detector) -> batch -> file. */
static void config_extract(char *yaml, size_t cap, const pc_standin_t *s, const char *out,
                           const char *extract, const char *more, bool detector) {
  char rd[1024] = "";
  if (detector)
    snprintf(rd, sizeof rd,
             "  resource_detection:\n"
             "    detectors: [k8s_api]\n"
             "    k8s_api: {auth_type: kubeConfig, kube_config_path: %s, node_from_env_var: "
             "PC_E2E_NODE}\n", s->kubeconfig);
  snprintf(yaml, cap,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "processors:\n"
           "  k8s_attributes:\n"
           "    auth_type: kubeConfig\n"
           "    kube_config_path: %s\n"
           "    filter: {node_from_env_var: PC_E2E_NODE}\n"
           "%s%s%s"
           "  batch: {timeout: 50ms}\n"
           "exporters:\n  file: {path: %s, format: proto}\n"
           "service:\n"
           "  telemetry: {metrics: {address: 127.0.0.1:0}}\n"
           "  pipelines:\n    profiles:\n      receivers: [otlp]\n"
           "      processors: [k8s_attributes,%s batch]\n"
           "      exporters: [file]\n",
           s->kubeconfig, extract, more ? more : "", rd, out,
           detector ? " resource_detection," : "");
}

/* EXTRACT with assoc (pod_association) and extra keys (or NULL). */
static void config_assoc(char *yaml, size_t cap, const pc_standin_t *s, const char *out,
                         const char *extra, bool detector, const char *assoc) {
  char more[2048];
  snprintf(more, sizeof more, "%s%s", assoc, extra ? extra : "");
  config_extract(yaml, cap, s, out, EXTRACT, more, detector);
}

static void config(char *yaml, size_t cap, const pc_standin_t *s, const char *out,
                   const char *extra, bool detector) {
  config_assoc(yaml, cap, s, out, extra, detector, ASSOC);
}

static void setup(pc_standin_t *s) {
  pc_standin_start(s, 0, 60);
  pc_standin_post(s, "/pods", PODS);
  pc_standin_post(s, "/replicasets", "[{\"name\": \"web-7d4f8b9c5c\", \"namespace\": \"shop\","
                                     " \"uid\": \"rs-web\", \"deployment\": \"web\"}]");
  pc_standin_post(s, "/namespaces", "[{\"name\": \"shop\", \"labels\": {\"team\": \"perf\"}}]");
  pc_standin_post(s, "/nodes", "[{\"name\": \"node-1\", \"uid\": \"node-uid-1\"}]");
  setenv("PC_E2E_NODE", "node-1", 1);
}

/* Read the output until the resources whose attribute by (NULL:
 * k8s.pod.name) is pod reach n (or 20 s pass). */
static seen_t read_until_by(const char *path, const char *by, const char *pod,
                            const char *const *want, uint64_t n) {
  seen_t s;
  for (int i = 0; i < 400; i++) {
    memset(&s, 0, sizeof s);
    s.by = by;
    s.want_pod = pod;
    s.want = want;
    pc_e2e_read_proto_file(path, tally, &s);
    if (s.of_pod >= n) break;
    usleep(50000);
  }
  return s;
}

static seen_t read_until(const char *path, const char *pod, const char *const *want, uint64_t n) {
  return read_until_by(path, NULL, pod, want, n);
}

/* Post body until a resource of pod has want (one "k=v"), or 20 s pass. */
static bool post_until(const pc_e2e_proc_t *p, const pc_buf_t *body, const char *path,
                       const char *pod, const char *want) {
  const char *const w[] = {want, NULL};
  for (int i = 0; i < 100; i++) {
    post(p, body);
    seen_t seen = read_until(path, pod, w, 1);
    if (seen.of_pod > seen.missing) return true;
    usleep(200000);
  }
  return false;
}

/* Stop profcol (it must exit 0), remove its files, stop the stand-in. */
static void finish(pc_e2e_proc_t *p, pc_standin_t *s) {
  ck_assert_int_eq(pc_e2e_stop(p, 30), 0);
  pc_e2e_cleanup(p);
  pc_standin_free(s);
  unsetenv("PC_E2E_NODE");
}

/* setup(s), and profcol started (waiting for metadata) with pod_association
 * by the resource attribute name only: the connection (web-1's IP) must
 * not associate. Its output file's path into path. */
static void start_associating_by(pc_standin_t *s, pc_e2e_proc_t *p, char *path, size_t cap,
                                 const char *name) {
  setup(s);
  snprintf(path, cap, "%s/out.pb", s->dir);
  char yaml[4096], assoc[256];
  snprintf(assoc, sizeof assoc,
           "    pod_association:\n      - sources: [{from: resource_attribute, name: %s}]\n",
           name);
  config_assoc(yaml, sizeof yaml, s, path, "    wait_for_metadata: true\n", false, assoc);
  ck_assert(pc_e2e_start(p, yaml));
}

/* ---- tests --------------------------------------------------------------------------------- */

START_TEST(from_a_pod_ip) {
  pc_standin_t s;
  setup(&s);
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  config(yaml, sizeof yaml, &s, path, "    wait_for_metadata: true\n", true);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "synced with the Kubernetes API: 2 pods"), "%s", log);
  free(log);

  /* From 127.0.0.1: web-1's IP. Every resource of the request is web-1's. */
  pc_buf_t body;
  uint64_t per_request = payload(&body, NULL, NULL);
  post(&p, &body);
  static const char *const web[] = {
      "k8s.pod.name=web-1", "k8s.namespace.name=shop", "k8s.pod.uid=uid-web-1",
      "k8s.deployment.name=web", "team=perf", "k8s.container.name=app", "service.version=2.1",
      "k8s.node.name=node-1", "k8s.node.uid=node-uid-1", NULL};
  seen_t seen = read_until(path, "web-1", web, 2);
  ck_assert_uint_eq(seen.of_pod, 2);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);
  ck_assert_uint_eq(seen.unnamed + seen.other, 0);
  pc_buf_free(&body);

  /* A resource that names db-0 by k8s.pod.uid gets db-0's metadata; the
   * other resource of the request still goes by the connection. */
  payload(&body, "k8s.pod.uid", "uid-db-0");
  post(&p, &body);
  static const char *const db[] = {"k8s.pod.name=db-0", "k8s.statefulset.name=db",
                                   "k8s.container.name=pg", "k8s.node.name=node-1", NULL};
  seen = read_until(path, "db-0", db, 1);
  ck_assert_uint_eq(seen.of_pod, 1);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);
  pc_buf_free(&body);

  /* A pod of another node is not watched (filter.node_from_env_var). */
  payload(&body, "k8s.pod.uid", "uid-else");
  post(&p, &body);
  int mport = pc_e2e_port_of(&p, "service:telemetry");
  ck_assert_int_gt(mport, 0);
  for (int i = 0; i < 200 && metric(mport, "profcol_processor_k8s_attributes_resources_unassociated") < 1; i++)
    usleep(50000);
  ck_assert_double_eq(metric(mport, "profcol_processor_k8s_attributes_resources_unassociated"), 1);
  ck_assert_double_eq(metric(mport, "otelcol_otelsvc_k8s_pod_table_size"), 2);
  pc_buf_free(&body);

  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  seen = read_until(path, "web-1", web, 0);
  ck_assert_uint_eq(seen.samples, 3 * per_request); /* every sample of the 3 requests */
  pc_e2e_cleanup(&p);
  pc_standin_free(&s);
  unsetenv("PC_E2E_NODE");
}
END_TEST

START_TEST(api_down_at_start) {
  pc_standin_t s;
  setup(&s);
  pc_standin_stop(&s); /* keeps its port, certificate and data dir */
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  /* resource_detection needs the node at start (a detector that fails
   * stops the start: the processor suite's), so only k8s_attributes here. */
  config(yaml, sizeof yaml, &s, path, NULL, false);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  int mport = pc_e2e_port_of(&p, "service:telemetry");
  pc_buf_t body;
  payload(&body, NULL, NULL);
  post(&p, &body);
  /* Passed through unchanged, and counted. */
  seen_t seen = read_until(path, "web-1", NULL, 0);
  for (int i = 0; i < 200 && seen.unnamed < 2; i++) {
    usleep(50000);
    seen = read_until(path, "web-1", NULL, 0);
  }
  ck_assert_uint_eq(seen.unnamed, 2);
  ck_assert_double_eq(metric(mport, "profcol_processor_k8s_attributes_unsynced_requests"), 1);
  ck_assert(pc_e2e_wait_log(&p, "Couldn't connect to server", 5000));

  /* The server comes back on its port: the client's retries find it. */
  pc_standin_restart(&s, 60);
  pc_standin_post(&s, "/pods", PODS);
  pc_standin_post(&s, "/replicasets", "[{\"name\": \"web-7d4f8b9c5c\", \"namespace\": \"shop\","
                                     " \"uid\": \"rs-web\", \"deployment\": \"web\"}]");
  pc_standin_post(&s, "/namespaces", "[{\"name\": \"shop\", \"labels\": {\"team\": \"perf\"}}]");
  ck_assert(pc_e2e_wait_log(&p, "synced with the Kubernetes API", 40000));
  post(&p, &body);
  static const char *const web[] = {"k8s.pod.name=web-1", "k8s.deployment.name=web", "team=perf",
                                    NULL};
  seen = read_until(path, "web-1", web, 2);
  ck_assert_uint_eq(seen.of_pod, 2);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);
  pc_buf_free(&body);
  finish(&p, &s);
}
END_TEST

/* The rich request with container.id on samples, as the eBPF profiler puts
 * it: on its first resource (which has none), sample i of every profile gets
 * cid-web when i % 3 == 0, cid-db when i % 3 == 1, nothing when i % 3 == 2
 * (one interned attribute entry per id). Counts what it gave each. */
static void payload_sample_cids(pc_buf_t *out, uint64_t *web, uint64_t *db, uint64_t *none) {
  pc_arena_t *arena = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(arena, &req);
  pc_dictionary_t *d = &req.dict;
  pc_str_t *strings = pc_arena_calloc(arena, d->n_strings + 1, sizeof *strings);
  memcpy(strings, d->strings, d->n_strings * sizeof *strings);
  strings[d->n_strings] = S("container.id");
  int32_t key = (int32_t)d->n_strings;
  d->strings = strings;
  d->n_strings++;
  pc_attr_t *attrs = pc_arena_calloc(arena, d->n_attrs + 2, sizeof *attrs);
  memcpy(attrs, d->attrs, d->n_attrs * sizeof *attrs);
  int32_t a_web = (int32_t)d->n_attrs, a_db = a_web + 1;
  attrs[a_web] = (pc_attr_t){.key_strindex = key, .has_value = true,
                             .value = {.type = PC_AV_STRING, .u.s = S("cid-web")}};
  attrs[a_db] = (pc_attr_t){.key_strindex = key, .has_value = true,
                            .value = {.type = PC_AV_STRING, .u.s = S("cid-db")}};
  d->attrs = attrs;
  d->n_attrs += 2;
  *web = *db = *none = 0;
  pc_resource_profiles_t *rp = &req.resources[0];
  for (uint32_t i = 0; i < rp->resource.attributes.n; i++)
    ck_assert(!pc_str_eq(key_of(&req, &rp->resource.attributes.v[i]), S("container.id")));
  for (uint32_t sc = 0; sc < rp->n_scopes; sc++)
    for (uint32_t k = 0; k < rp->scopes[sc].n_profiles; k++) {
      pc_profile_t *prof = &rp->scopes[sc].profiles[k];
      for (uint32_t i = 0; i < prof->n_samples; i++) {
        pc_sample_t *sm = &prof->samples[i];
        if (i % 3 == 2) {
          (*none)++;
          continue;
        }
        int32_t *v = pc_arena_calloc(arena, sm->attribute_indices.n + 1, sizeof *v);
        if (sm->attribute_indices.n)
          memcpy(v, sm->attribute_indices.v, sm->attribute_indices.n * sizeof *v);
        v[sm->attribute_indices.n] = i % 3 == 0 ? a_web : a_db;
        sm->attribute_indices = (pc_i32s_t){v, sm->attribute_indices.n + 1};
        if (i % 3 == 0) (*web)++;
        else (*db)++;
      }
    }
  memset(out, 0, sizeof *out);
  ck_assert_int_eq(pc_proto_encode(&req, out), 0);
  pc_arena_free(arena);
}

/* Samples per pod name over the output's resources, and whether every
 * resource of a pod had that pod's container and namespace and kept the
 * original resource's own attributes (service.name checkout). */
typedef struct {
  uint64_t web, db, unnamed_first, resources_web, resources_db, wrong;
  char wrong_what[256];
} by_pod_t;

static void tally_by_pod(const pc_request_t *req, void *arg) {
  by_pod_t *t = arg;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    const pc_kvs_t *a = &rp->resource.attributes;
    uint64_t n = 0;
    for (uint32_t k = 0; k < rp->n_scopes; k++)
      for (uint32_t p = 0; p < rp->scopes[k].n_profiles; p++)
        n += rp->scopes[k].profiles[p].n_samples;
    char pod[128], ct[128], ns[128], svc[128];
    if (!res_get(req, a, "k8s.pod.name", pod, sizeof pod)) {
      t->unnamed_first += n;
      continue;
    }
    bool web = !strcmp(pod, "web-1");
    const char *want_ct = web ? "app" : "pg";
    const char *got_ct = res_get(req, a, "k8s.container.name", ct, sizeof ct);
    const char *got_ns = res_get(req, a, "k8s.namespace.name", ns, sizeof ns);
    const char *got_svc = res_get(req, a, "service.name", svc, sizeof svc);
    if (!got_ct || strcmp(got_ct, want_ct) || !got_ns || strcmp(got_ns, "shop") ||
        !got_svc || strcmp(got_svc, "checkout")) {
      t->wrong++;
      snprintf(t->wrong_what, sizeof t->wrong_what, "%s: container %s, namespace %s, "
               "service.name %s", pod, got_ct ? got_ct : "none", got_ns ? got_ns : "none",
               got_svc ? got_svc : "none");
    }
    if (web) t->web += n, t->resources_web++;
    else if (!strcmp(pod, "db-0")) t->db += n, t->resources_db++;
    else t->wrong++;
  }
}

START_TEST(samples_of_two_pods) {
  pc_standin_t s;
  pc_e2e_proc_t p;
  char path[700];
  start_associating_by(&s, &p, path, sizeof path, "container.id");
  pc_buf_t body;
  uint64_t web, db, none;
  payload_sample_cids(&body, &web, &db, &none);
  ck_assert_uint_gt(web, 0);
  ck_assert_uint_gt(db, 0);
  ck_assert_uint_gt(none, 0);
  post(&p, &body);
  pc_buf_free(&body);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  by_pod_t t = {0};
  pc_e2e_read_proto_file(path, tally_by_pod, &t);
  ck_assert_msg(t.wrong == 0, "%s", t.wrong_what);
  /* Each pod's samples went to a resource of that pod, and only they. */
  ck_assert_uint_eq(t.web, web);
  ck_assert_uint_eq(t.db, db);
  ck_assert_uint_eq(t.resources_web, 1);
  ck_assert_uint_eq(t.resources_db, 1);
  /* The rest (the first resource's samples without container.id, and the
   * request's other resource) stayed without pod metadata. */
  ck_assert_uint_ge(t.unnamed_first, none);
  pc_e2e_cleanup(&p);
  pc_standin_free(&s);
  unsetenv("PC_E2E_NODE");
}
END_TEST

START_TEST(ten_thousand_pods) {
  pc_standin_t s;
  setup(&s);
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  /* Not wait_for_metadata: listing 10,000 pods from the Python stand-in
   * on a loaded machine may take longer than the harness waits for ready. */
  config(yaml, sizeof yaml, &s, path, NULL, true);
  /* The same pipeline with 2 pods cached, for the baseline of memory. */
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  ck_assert(pc_e2e_wait_log(&p, "synced with the Kubernetes API: 2 pods", 20000));
  long rss_small = rss_kib(p.pid);
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);

  pc_standin_post(&s, "/bulk?n=10000&node=node-1", NULL);
  ck_assert(pc_e2e_start(&p, yaml));
  int mport = pc_e2e_port_of(&p, "service:telemetry");
  for (int i = 0; i < 1200 && metric(mport, "otelcol_otelsvc_k8s_pod_table_size") < 10002; i++)
    usleep(100000);
  ck_assert_double_eq(metric(mport, "otelcol_otelsvc_k8s_pod_table_size"), 10002);
  ck_assert(pc_e2e_wait_log(&p, "synced with the Kubernetes API: 10002 pods", 10000));
  double bytes = metric(mport, "profcol_processor_k8s_attributes_cache_bytes");
  long rss_big = rss_kib(p.pid);
  printf("10,000 pods cached: %.0f bytes of cache (%.0f per pod); RSS %ld KiB against %ld KiB "
         "with 2 pods (%.0f bytes per pod)\n", bytes, bytes / 10000, rss_big, rss_small,
         (double)(rss_big - rss_small) * 1024 / 10000);
  ck_assert_double_gt(bytes, 0);
  ck_assert_double_lt(bytes / 10000, 4096); /* the fields the config writes, not the objects */

  /* By k8s.pod.ip among them (bulk-00515 has 10.100.2.3). */
  pc_buf_t body;
  payload(&body, "k8s.pod.ip", "10.100.2.3");
  post(&p, &body);
  static const char *const bulk[] = {"k8s.namespace.name=ns-15", "k8s.node.name=node-1", NULL};
  seen_t seen = read_until(path, "bulk-00515", bulk, 1);
  ck_assert_uint_eq(seen.of_pod, 1);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);
  pc_buf_free(&body);
  finish(&p, &s);
}
END_TEST

START_TEST(node_labels) {
  pc_standin_t s;
  setup(&s);
  pc_standin_post(&s, "/nodes", "[{\"name\": \"node-1\", \"uid\": \"node-uid-1\", \"labels\":"
                                " {\"topology.kubernetes.io/zone\": \"eu-west-1a\"}, \"annotations\":"
                                " {\"team.example.com/owner\": \"infra\"}},"
                                " {\"name\": \"node-2\", \"labels\":"
                                " {\"topology.kubernetes.io/zone\": \"eu-west-1c\"}}]");
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  config_extract(yaml, sizeof yaml, &s, path, EXTRACT_NODES, NULL, false);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  ck_assert(pc_e2e_wait_log(&p, "synced with the Kubernetes API: 2 pods", 20000));
  char *log = pc_e2e_log(&p);
  ck_assert_msg(strstr(log, "0 namespaces, 1 nodes"), "%s", log); /* node-1 only */
  free(log);
  ck_assert_int_ge(pc_standin_stat(&s, "nodes_lists"), 1);

  /* From web-1's IP: the pod's metadata and its node's label and annotation. */
  pc_buf_t body;
  payload(&body, NULL, NULL);
  post(&p, &body);
  static const char *const web[] = {
      "k8s.pod.name=web-1", "k8s.node.name=node-1", "cloud.availability_zone=eu-west-1a",
      "k8s.node.annotations.team.example.com/owner=infra", NULL};
  seen_t seen = read_until(path, "web-1", web, 2);
  ck_assert_uint_eq(seen.of_pod, 2);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);

  /* The node moves zone (a MODIFIED event on the node watch): the next
   * data carries the new value, without a restart. */
  pc_standin_post(&s, "/nodes", "[{\"name\": \"node-1\", \"uid\": \"node-uid-1\", \"labels\":"
                                " {\"topology.kubernetes.io/zone\": \"eu-west-1b\"}, \"annotations\":"
                                " {\"team.example.com/owner\": \"infra\"}}]");
  ck_assert(post_until(&p, &body, path, "web-1", "cloud.availability_zone=eu-west-1b"));
  pc_buf_free(&body);
  finish(&p, &s);
}
END_TEST

START_TEST(nodes_forbidden) {
  pc_standin_t s;
  setup(&s);
  pc_standin_post(&s, "/nodes", "[{\"name\": \"node-1\", \"labels\":"
                                " {\"topology.kubernetes.io/zone\": \"eu-west-1a\"}}]");
  pc_standin_post(&s, "/forbid", "[\"nodes\"]");
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  config_extract(yaml, sizeof yaml, &s, path, EXTRACT_NODES, NULL, false);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  ck_assert(pc_e2e_wait_log(&p, "nodes: not allowed to list them (403: nodes is forbidden", 20000));
  ck_assert(pc_e2e_wait_log(&p, "the service account's ClusterRole needs nodes: get, list, watch",
                            1000));
  ck_assert(pc_e2e_wait_log(&p, "nodes not listed within 5000 ms of start", 20000));
  /* Pod metadata goes on; the node's pairs are missing. */
  pc_buf_t body;
  payload(&body, NULL, NULL);
  ck_assert(post_until(&p, &body, path, "web-1", "k8s.node.name=node-1"));
  static const char *const zone[] = {"cloud.availability_zone=eu-west-1a", NULL};
  seen_t seen = read_until(path, "web-1", zone, 1);
  ck_assert_uint_ge(seen.of_pod, 1);
  ck_assert_uint_eq(seen.missing, seen.of_pod);
  pc_buf_free(&body);
  finish(&p, &s);
}
END_TEST

START_TEST(replicasets_and_namespaces_forbidden) {
  pc_standin_t s;
  setup(&s);
  pc_standin_post(&s, "/forbid", "[\"replicasets\", \"namespaces\"]");
  char yaml[4096], path[700];
  snprintf(path, sizeof path, "%s/out.pb", s.dir);
  config(yaml, sizeof yaml, &s, path, NULL, false);
  pc_e2e_proc_t p;
  ck_assert(pc_e2e_start(&p, yaml));
  /* One rule for every watch pods depend on: 5 s, then a warning each that
   * says why and names the ClusterRole rule. */
  ck_assert(pc_e2e_wait_log(&p, "replicasets not listed within 5000 ms of start (not allowed to "
                                "list them (403: replicasets is forbidden", 20000));
  ck_assert(pc_e2e_wait_log(&p, "the service account's ClusterRole needs replicasets (apiGroup "
                                "apps): get, list, watch): adding pod metadata without "
                                "k8s.deployment.name and k8s.deployment.uid until they are", 1000));
  ck_assert(pc_e2e_wait_log(&p, "namespaces not listed within 5000 ms of start (not allowed to "
                                "list them (403: namespaces is forbidden", 1000));
  ck_assert(pc_e2e_wait_log(&p, "the service account's ClusterRole needs namespaces: get, list, "
                                "watch): adding pod metadata without the namespaces' labels and "
                                "annotations until they are", 1000));
  /* Pod metadata goes on, without the deployment and the namespace label. */
  pc_buf_t body;
  payload(&body, NULL, NULL);
  ck_assert(post_until(&p, &body, path, "web-1", "k8s.pod.name=web-1"));
  static const char *const dep[] = {"k8s.deployment.name=web", "team=perf", NULL};
  seen_t seen = read_until(path, "web-1", dep, 1);
  ck_assert_uint_ge(seen.of_pod, 1);
  ck_assert_uint_eq(seen.missing, 2 * seen.of_pod);
  /* The ClusterRole fixed: the retries list them, their values follow. */
  pc_standin_post(&s, "/forbid", "[]");
  ck_assert(pc_e2e_wait_log(&p, "replicasets listed at last (1): adding k8s.deployment.name "
                                "and k8s.deployment.uid from now on", 60000));
  ck_assert(post_until(&p, &body, path, "web-1", "k8s.deployment.name=web"));
  ck_assert(post_until(&p, &body, path, "web-1", "team=perf"));
  pc_buf_free(&body);
  finish(&p, &s);
}
END_TEST

START_TEST(namespace_without_pod) {
  pc_standin_t s;
  pc_e2e_proc_t p;
  char path[700];
  start_associating_by(&s, &p, path, sizeof path, "k8s.pod.uid");
  pc_buf_t body;
  payload(&body, "k8s.namespace.name", "shop");
  post(&p, &body);
  pc_buf_free(&body);
  static const char *const team[] = {"team=perf", NULL};
  seen_t seen = read_until_by(path, "k8s.namespace.name", "shop", team, 1);
  ck_assert_uint_eq(seen.of_pod, 1);
  ck_assert_msg(seen.missing == 0, "missing %s", seen.missing_what);
  ck_assert_uint_eq(seen.unnamed, 1); /* the request's other resource names none */
  /* No pod was found for either resource. */
  seen = read_until(path, "web-1", NULL, 0);
  ck_assert_uint_eq(seen.of_pod + seen.other, 0);
  finish(&p, &s);
}
END_TEST

static Suite *k8s_suite(void) {
  Suite *s = suite_create("e2e-k8s");
  TCase *tc = tcase_create("k8s");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, from_a_pod_ip);
  tcase_add_test(tc, api_down_at_start);
  tcase_add_test(tc, samples_of_two_pods);
  tcase_add_test(tc, ten_thousand_pods);
  tcase_add_test(tc, node_labels);
  tcase_add_test(tc, nodes_forbidden);
  tcase_add_test(tc, replicasets_and_namespaces_forbidden);
  tcase_add_test(tc, namespace_without_pod);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  SRunner *sr = srunner_create(k8s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  curl_global_cleanup();
  return failed ? 1 : 0;
}
