/* k8s_attributes.c - the `k8s_attributes` processor (deprecated alias
 * `k8sattributes`): the Collector's Kubernetes attributes processor for
 * profiles. It finds the pod each resource (and each sample) comes from and
 * adds that pod's metadata as resource attributes.
 *
 *   processors:
 *     k8s_attributes:
 *       auth_type: serviceAccount
 *       filter: {node_from_env_var: K8S_NODE_NAME}
 *       extract:
 *         metadata: [k8s.namespace.name, k8s.pod.name, k8s.deployment.name, service.name]
 *         labels: [{tag_name: team, key: team, from: namespace},
 *                  {tag_name: zone, key: topology.kubernetes.io/zone, from: node}]
 *       pod_association:
 *         - sources: [{from: resource_attribute, name: container.id}]
 *         - sources: [{from: connection}]
 *
 * The pods come from the API server (k8s.h: list and watch, never blocking
 * the loop; k8s_cache.c keeps only what the config writes). Association is
 * the Collector's: each pod_association rule is a list of up to four
 * sources that must all have a value (`connection`: the peer's IP, pc_request_t
 * client_addr; `resource_attribute`: an attribute of the resource); the
 * first rule whose sources all have values decides, found or not. Without
 * rules: k8s.pod.ip, then ip, then the connection, then host.name when it is
 * an IP. What is found is added with the Collector's rule: an attribute the
 * resource already has (with a non-empty value) stays.
 *
 * Samples. The OpenTelemetry eBPF profiler sees every process of a node and
 * puts container.id (and process.pid, thread.name) on each sample, not on
 * its resource: one resource holds the samples of every pod on the node. So
 * the rules are also applied to each sample's attributes (over its
 * resource's: a sample attribute a rule names replaces the resource's, the
 * connection is the request's), and where samples of one resource belong to
 * different pods (or containers), the resource is split: one resource
 * profile per pod and container, each with the original resource's
 * attributes plus that pod's, holding the scopes and profiles of the
 * original with only that pod's samples. Samples with no attribute the
 * rules name stay with the resource's own association. Why regroup rather
 * than add the pod's metadata as sample attributes: k8s.* and service.* are
 * resource attributes in the semantic conventions, and backends group,
 * filter and name applications by resource attributes (service.name picks
 * the application in Pyroscope and Grafana, k8s.namespace.name and
 * k8s.deployment.name are the usual filters); every processor after this
 * one (resource, batch's metadata_keys, a routing connector) also works on
 * resources. The cost is a new sample array per pod and request (a copy of
 * 40-byte structs; stacks, values and the dictionary are shared, not
 * copied), paid only when a resource really mixes pods. A split part of a
 * profile keeps the profile's type, times and attributes; the part that
 * stays first keeps its profile_id and original_payload, the others get an
 * id derived from it and the pod (so a backend that dedups by id keeps
 * them apart) and no payload (not duplicated).
 *
 * Until the pods are listed (the first seconds after start, or while the
 * API server is down at start) data passes through unchanged and is
 * counted (profcol_processor_k8s_attributes_unsynced_requests), unless
 * wait_for_metadata, which makes start wait (up to wait_for_metadata_timeout)
 * for the lists and fail without them, as the Collector's does. That wait
 * runs the client on a loop of its own inside start, then moves it to the
 * worker's loop. passthrough only sets k8s.pod.ip from the connection and
 * never talks to the API (an agent in front of a gateway).
 *
 * What pods' metadata depends on (replicasets for deployments, namespaces,
 * nodes) is waited for with one rule, the Collector's: it starts its pod
 * informer once the informers pods depend on have synced or 5 s have
 * passed (runInformerWithDependencies). Here each such watch holds the
 * data's pass-through at most DEPS_WAIT_MS after start; past it (no RBAC
 * for them, an API server slow with them) one warning per watch says what
 * is missing, why, and the ClusterRole rule it needs, and pods' metadata is
 * added without those values, which follow once the watch lists (their
 * arrival makes the memos stale).
 *
 * Nodes. A `from: node` rule (or k8s.node.uid) takes the node a pod runs on
 * (its spec.nodeName) from a watch of nodes, started only then: with
 * filter.node / node_from_env_var it selects that one node
 * (fieldSelector=metadata.name=<node>), as the Collector's node informer
 * does, else every node.
 *
 * Order. Pod, then namespace, then node, each with the Collector's
 * setResourceAttribute: a later source never replaces what an earlier one
 * set (a namespace label never replaces the pod's label of the same
 * tag_name). A resource no pod is found for still gets its namespace's
 * pairs and service.namespace when it names the namespace
 * (k8s.namespace.name), and its node's when it names the node
 * (k8s.node.name), as the Collector's processResource does without a pod. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "k8s.h"
#include "processor.h"

#define MAX_SOURCES 4  /* per rule, the Collector's PodIdentifierMaxLength */
#define MAX_KEYS 8     /* distinct attribute names the rules read */
#define GRACE_MS 120000 /* deleted pods stay findable (the Collector's 2 minutes) */
#define SWEEP_MS 30000
#define DEPS_WAIT_MS 5000 /* the Collector's wait for the informers pods depend on */

/* ---- config ---------------------------------------------------------------------------------- */

typedef struct {
  pc__k8s_api_cfg_t api;
  bool passthrough;
  bool wait_for_metadata;
  uint64_t wait_ms;
  char *f_node, *f_node_env;
  const pc_cfg_node_t *f_namespace, *f_fields, *f_labels;
  const pc_cfg_node_t *metadata, *labels, *annotations;
  bool otel_annotations, dep_from_rs;
  int64_t max_pods, max_nodes;
  const pc_cfg_node_t *pod_association, *exclude;
} k8sa_cfg_t;

static const pc_opt_t filter_opts[] = {
    PC_OPT_STR("node", NULL, k8sa_cfg_t, f_node, "only pods on this node"),
    PC_OPT_STR("node_from_env_var", NULL, k8sa_cfg_t, f_node_env,
               "only pods on the node this environment variable names (the downward API's "
               "spec.nodeName): what an agent on every node sets"),
    PC_OPT_ANY("namespace", k8sa_cfg_t, f_namespace,
               "only pods of this namespace (or list of namespaces)"),
    PC_OPT_ANY("fields", k8sa_cfg_t, f_fields,
               "list of {key, value, op}: field selectors (op equals or not-equals)"),
    PC_OPT_ANY("labels", k8sa_cfg_t, f_labels,
               "list of {key, value, op}: label selectors (op equals, not-equals, exists or "
               "does-not-exist)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t extract_opts[] = {
    PC_OPT_ANY("metadata", k8sa_cfg_t, metadata,
               "list of resource attributes to set: k8s.namespace.name, k8s.pod.name, "
               "k8s.pod.uid, k8s.pod.start_time, k8s.pod.ip, k8s.pod.hostname, "
               "k8s.deployment.name/uid, k8s.replicaset.name/uid, k8s.statefulset.name/uid, "
               "k8s.daemonset.name/uid, k8s.job.name/uid, k8s.cronjob.name, k8s.node.name, "
               "k8s.node.uid (watches nodes), "
               "k8s.container.name, container.id, container.image.name, container.image.tag, "
               "service.name, service.version, service.namespace, service.instance.id; default "
               "[k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, "
               "k8s.deployment.name, k8s.node.name]"),
    PC_OPT_ANY("labels", k8sa_cfg_t, labels,
               "list of {tag_name, key | key_regex, from: pod | namespace | node}: labels as "
               "attributes (default name k8s.pod.labels.<key>, k8s.namespace.labels.<key>, "
               "k8s.node.labels.<key>; with key_regex, tag_name may use $1, ${name}); from "
               "node: the node the pod runs on, from a watch of nodes"),
    PC_OPT_ANY("annotations", k8sa_cfg_t, annotations,
               "list of {tag_name, key | key_regex, from}: annotations, as labels (default name "
               "k8s.pod.annotations.<key>)"),
    PC_OPT_BOOLEAN("otel_annotations", "false", k8sa_cfg_t, otel_annotations,
                   "pod annotations resource.opentelemetry.io/<key> as attribute <key>"),
    PC_OPT_BOOLEAN("deployment_name_from_replicaset", "false", k8sa_cfg_t, dep_from_rs,
                   "k8s.deployment.name from the replicaset's name (its hash cut), without "
                   "watching replicasets"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t k8sa_opts[] = {
    PC__K8S_API_OPTS(k8sa_cfg_t, api),
    PC_OPT_BOOLEAN("passthrough", "false", k8sa_cfg_t, passthrough,
                   "only set k8s.pod.ip from the connection; no Kubernetes API (an agent in "
                   "front of a gateway)"),
    PC_OPT_SECTION("filter", filter_opts, "which pods to watch"),
    PC_OPT_SECTION("extract", extract_opts, "what to add"),
    PC_OPT_ANY("pod_association", k8sa_cfg_t, pod_association,
               "list of {sources: [{from: connection | resource_attribute, name}]} tried in "
               "order (names: k8s.pod.ip, k8s.pod.uid, container.id, host.name, k8s.pod.name "
               "with k8s.namespace.name); also applied to each sample's attributes"),
    PC_OPT_ANY("exclude", k8sa_cfg_t, exclude,
               "{pods: [{name}]}: pods (name patterns) never associated; default jaeger-agent, "
               "jaeger-collector"),
    PC_OPT_BOOLEAN("wait_for_metadata", "false", k8sa_cfg_t, wait_for_metadata,
                   "start only once the pods are listed (fail after wait_for_metadata_timeout); "
                   "false: data passes unchanged until then"),
    PC_OPT_DUR("wait_for_metadata_timeout", "10s", k8sa_cfg_t, wait_ms, 1, 3600000,
               "how long start waits for the lists"),
    PC_OPT_INT_RANGE("max_pods", "200000", k8sa_cfg_t, max_pods, 1, 10000000,
                     "pods the cache holds at most (about 1 KB each; recently deleted ones "
                     "included); past it new pods are refused and counted (the default is "
                     "above Kubernetes' 150,000 pods per cluster)"),
    PC_OPT_INT_RANGE("max_nodes", "10000", k8sa_cfg_t, max_nodes, 1, 1000000,
                     "nodes the cache holds at most when a from: node rule or k8s.node.uid "
                     "watches them (a few hundred bytes each; the default is above Kubernetes' "
                     "5,000 nodes per cluster); past it new nodes are refused and counted"),
    PC_OPT_TABLE_END,
};

/* The metadata names and their bits. */
static const struct {
  const char *name;
  uint32_t bit;
} md_names[] = {
    {"k8s.namespace.name", PC__K8S_M_NAMESPACE},
    {"k8s.pod.name", PC__K8S_M_POD_NAME},
    {"k8s.pod.uid", PC__K8S_M_POD_UID},
    {"k8s.pod.start_time", PC__K8S_M_POD_START},
    {"k8s.pod.ip", PC__K8S_M_POD_IP},
    {"k8s.pod.hostname", PC__K8S_M_POD_HOSTNAME},
    {"k8s.deployment.name", PC__K8S_M_DEPLOYMENT},
    {"k8s.deployment.uid", PC__K8S_M_DEPLOYMENT_UID},
    {"k8s.replicaset.name", PC__K8S_M_REPLICASET},
    {"k8s.replicaset.uid", PC__K8S_M_REPLICASET_UID},
    {"k8s.statefulset.name", PC__K8S_M_STATEFULSET},
    {"k8s.statefulset.uid", PC__K8S_M_STATEFULSET_UID},
    {"k8s.daemonset.name", PC__K8S_M_DAEMONSET},
    {"k8s.daemonset.uid", PC__K8S_M_DAEMONSET_UID},
    {"k8s.job.name", PC__K8S_M_JOB},
    {"k8s.job.uid", PC__K8S_M_JOB_UID},
    {"k8s.cronjob.name", PC__K8S_M_CRONJOB},
    {"k8s.node.name", PC__K8S_M_NODE},
    {"k8s.container.name", PC__K8S_M_CONTAINER_NAME},
    {"container.id", PC__K8S_M_CONTAINER_ID},
    {"container.image.name", PC__K8S_M_IMAGE_NAME},
    {"container.image.tag", PC__K8S_M_IMAGE_TAG},
    {"service.name", PC__K8S_M_SERVICE_NAME},
    {"service.version", PC__K8S_M_SERVICE_VERSION},
    {"service.namespace", PC__K8S_M_SERVICE_NAMESPACE},
    {"service.instance.id", PC__K8S_M_SERVICE_INSTANCE},
    {"k8s.node.uid", PC__K8S_M_NODE_UID},
};
#define N_MD (sizeof md_names / sizeof md_names[0])

/* The Collector's, which need objects profcol does not watch. */
static const struct {
  const char *name, *why;
} md_missing[] = {
    {"k8s.cluster.uid", "needs watching the kube-system namespace"},
    {"k8s.cronjob.uid", "needs watching jobs"},
    {"container.image.repo_digests", "is not provided"},
    {"container.image.tags", "is not provided (container.image.tag is)"},
};

#define DEFAULT_METADATA                                                                        \
  (PC__K8S_M_NAMESPACE | PC__K8S_M_POD_NAME | PC__K8S_M_POD_UID | PC__K8S_M_POD_START |          \
   PC__K8S_M_DEPLOYMENT | PC__K8S_M_NODE)

/* ---- the instance ----------------------------------------------------------------------------- */

typedef enum { SRC_CONNECTION, SRC_IP, SRC_HOSTNAME, SRC_UID, SRC_CID, SRC_POD, SRC_NS } src_kind_t;

typedef struct {
  src_kind_t kind;
  int key; /* index into keys (resource_attribute), -1 for connection */
} src_t;

typedef struct {
  src_t s[MAX_SOURCES];
  int n;
} rule_t;

/* Each watch's callbacks get one of these: the instance and the kind, and
 * for a watch pods depend on, what to say when it is not waited for. */
typedef struct k8sa k8sa_t;
typedef struct {
  k8sa_t *p;
  pc__k8s_kind_t kind;
  pc__k8s_watch_t *w;
  const char *what;    /* "replicasets" */
  const char *rbac;    /* the ClusterRole rule it needs (a literal) */
  const char *without; /* what pods' metadata lacks without it (a literal) */
  bool gave_up;        /* not listed within DEPS_WAIT_MS: pods went on without it */
} wctx_t;

/* One pod (and container) that samples or a resource belong to. */
typedef struct {
  const pc__k8s_pod_t *pod; /* NULL: none */
  int32_t ci;               /* the container, -1: not known */
} assoc_t;

/* A sample's identifying attributes (table indices per key, -1: none)
 * and the group it was put in; per resource. */
typedef struct {
  uint32_t gen;
  int32_t idx[MAX_KEYS];
  uint32_t group;
} tcache_t;

struct k8sa {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  pc__k8s_auth_t auth;
  char *context, *kube_config_path;
  bool passthrough, wait, no_rules;
  uint64_t wait_ms;
  pc__k8s_rules_t rules;
  rule_t assoc[32];
  int n_assoc;
  char *keys[MAX_KEYS]; /* attribute names the rules read */
  int n_keys;
  int key_ip, key_bare_ip, key_host, key_cname, key_cid; /* default rules and containers */
  /* the client */
  pc__k8s_cache_t *cache;
  pc__k8s_watch_t *watches[24];
  wctx_t wctx[24];
  int n_watches, stopping;
  pc__k8s_watch_t *node_watch; /* one of watches, or NULL */
  bool node_pairs;             /* a from: node rule or k8s.node.uid */
  bool ns_pairs;               /* a from: namespace rule or service.namespace */
  bool deps;                   /* a watch pods depend on (not pods) */
  uint64_t start_ms;           /* pc_now_ms at start: DEPS_WAIT_MS from here */
  bool synced_once;
  pc__k8s_api_t api;
  bool api_loaded;
  pc__k8s_http_t *http;
  uv_loop_t *loop;
  uv_timer_t sweep;
  bool sweep_on;
  unsigned closing;
  pc_done_cb done;
  void *done_arg;
  bool synced_logged;
  /* per request */
  pc__amap_t map;
  int8_t *marks; /* per attribute table entry: the key it is, -1: none */
  uint32_t marks_cap;
  bool any_marks;
  tcache_t *tc;
  uint32_t tc_mask, tc_gen, tc_n;
  struct {
    uint32_t stamp, group;
  } *one; /* per attribute table entry: the group of samples it alone marks */
  uint32_t one_stamp;
  assoc_t *groups;
  uint32_t n_groups, cap_groups;
  uint32_t *gid; /* per sample of a resource: its group */
  uint64_t gid_cap;
  pc_resource_profiles_t *out;
  uint32_t n_out, cap_out;
  struct {
    const char *k, *v;
  } pa[512]; /* a pod's attributes being built (memo_build) */
  uint32_t n_pa;
  char txt[4096]; /* text made for them (names cut from owners' names, ...) */
  size_t n_txt;
  /* counters */
  uint64_t unsynced, associated, unassociated, samples_moved, splits;
};

static k8sa_t *k8sa_of(pc_consumer_t *c) {
  return (k8sa_t *)(void *)((char *)c - offsetof(k8sa_t, consumer));
}

/* ---- a pod's attributes ---------------------------------------------------------------------- */

static void pa_set(k8sa_t *p, const char *k, const char *v) {
  if (!v) return;
  for (uint32_t i = 0; i < p->n_pa; i++)
    if (!strcmp(p->pa[i].k, k)) {
      p->pa[i].v = v;
      return;
    }
  if (p->n_pa < sizeof p->pa / sizeof p->pa[0]) p->pa[p->n_pa++].k = k, p->pa[p->n_pa - 1].v = v;
}

static void pa_set_absent(k8sa_t *p, const char *k, const char *v) {
  for (uint32_t i = 0; i < p->n_pa; i++)
    if (!strcmp(p->pa[i].k, k)) return;
  pa_set(p, k, v);
}

/* Text made for this pod (cronjob and deployment names, service.instance.id),
 * in p->txt until memo_build copies it into the memo. NULL (the attribute
 * left out) when it does not fit, which names of at most 253 bytes do. */
static const char *pa_text(k8sa_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pa_text(k8sa_t *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = sizeof p->txt - p->n_txt;
  int n = vsnprintf(p->txt + p->n_txt, room, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= room) return NULL;
  const char *t = p->txt + p->n_txt;
  p->n_txt += (size_t)n + 1;
  return t;
}

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, s ? strlen(s) : 0}; }

static bool want(const k8sa_t *p, uint32_t bits) { return (p->rules.metadata & bits) != 0; }

/* What the Collector sets for pod, in its order: a later value of a key
 * replaces an earlier one. */
static void pod_attrs(k8sa_t *p, const pc__k8s_pod_t *pod) {
  p->n_pa = 0;
  if (want(p, PC__K8S_M_POD_NAME)) pa_set(p, "k8s.pod.name", pod->name);
  if (want(p, PC__K8S_M_SERVICE_NAME)) pa_set(p, "service.name", pod->name);
  if (want(p, PC__K8S_M_POD_HOSTNAME) && pod->hostname && *pod->hostname)
    pa_set(p, "k8s.pod.hostname", pod->hostname);
  if (want(p, PC__K8S_M_POD_IP)) pa_set(p, "k8s.pod.ip", pod->ip);
  if (want(p, PC__K8S_M_NAMESPACE)) pa_set(p, "k8s.namespace.name", pod->ns);
  if (want(p, PC__K8S_M_SERVICE_NAMESPACE)) pa_set(p, "service.namespace", pod->ns);
  if (want(p, PC__K8S_M_POD_START)) pa_set(p, "k8s.pod.start_time", pod->created);
  if (want(p, PC__K8S_M_POD_UID)) pa_set(p, "k8s.pod.uid", pod->uid);
  const char *kind = pod->owner_kind ? pod->owner_kind : "";
  bool svc = want(p, PC__K8S_M_SERVICE_NAME);
  if (!strcmp(kind, "ReplicaSet")) {
    if (want(p, PC__K8S_M_REPLICASET_UID)) pa_set(p, "k8s.replicaset.uid", pod->owner_uid);
    if (want(p, PC__K8S_M_REPLICASET)) pa_set(p, "k8s.replicaset.name", pod->owner_name);
    if (svc) pa_set(p, "service.name", pod->owner_name);
    const char *dep = NULL, *dep_uid = NULL;
    if (want(p, PC__K8S_M_DEPLOYMENT | PC__K8S_M_SERVICE_NAME | PC__K8S_M_DEPLOYMENT_UID)) {
      char buf[256];
      if (p->rules.deployment_from_replicaset) {
        if (pod->owner_name && pc__k8s_deployment_of_replicaset(pod->owner_name, buf, sizeof buf))
          dep = pa_text(p, "%s", buf);
      } else {
        pc__k8s_replicaset_deployment(p->cache, pod->owner_uid, &dep, &dep_uid);
      }
    }
    if (dep && want(p, PC__K8S_M_DEPLOYMENT)) pa_set(p, "k8s.deployment.name", dep);
    if (dep && svc) pa_set(p, "service.name", dep); /* the deployment wins over the replicaset */
    if (dep_uid && *dep_uid && want(p, PC__K8S_M_DEPLOYMENT_UID))
      pa_set(p, "k8s.deployment.uid", dep_uid);
  } else if (!strcmp(kind, "DaemonSet")) {
    if (want(p, PC__K8S_M_DAEMONSET_UID)) pa_set(p, "k8s.daemonset.uid", pod->owner_uid);
    if (want(p, PC__K8S_M_DAEMONSET)) pa_set(p, "k8s.daemonset.name", pod->owner_name);
    if (svc) pa_set(p, "service.name", pod->owner_name);
  } else if (!strcmp(kind, "StatefulSet")) {
    if (want(p, PC__K8S_M_STATEFULSET_UID)) pa_set(p, "k8s.statefulset.uid", pod->owner_uid);
    if (want(p, PC__K8S_M_STATEFULSET)) pa_set(p, "k8s.statefulset.name", pod->owner_name);
    if (svc) pa_set(p, "service.name", pod->owner_name);
  } else if (!strcmp(kind, "Job")) {
    if (want(p, PC__K8S_M_JOB_UID)) pa_set(p, "k8s.job.uid", pod->owner_uid);
    if (want(p, PC__K8S_M_JOB)) pa_set(p, "k8s.job.name", pod->owner_name);
    if (svc) pa_set(p, "service.name", pod->owner_name);
    /* A CronJob names its jobs <cronjob>-<scheduled minute>. */
    const char *n = pod->owner_name ? pod->owner_name : "";
    const char *dash = strrchr(n, '-');
    bool digits = dash && dash[1] && dash > n;
    for (const char *q = dash ? dash + 1 : ""; digits && *q; q++) digits = *q >= '0' && *q <= '9';
    if (digits && want(p, PC__K8S_M_CRONJOB | PC__K8S_M_SERVICE_NAME)) {
      const char *cj = pa_text(p, "%.*s", (int)(dash - n), n);
      if (want(p, PC__K8S_M_CRONJOB)) pa_set(p, "k8s.cronjob.name", cj);
      if (svc) pa_set(p, "service.name", cj);
    }
  }
  if (want(p, PC__K8S_M_NODE)) pa_set(p, "k8s.node.name", pod->node);
  for (uint32_t i = 0; i < pod->n_label_kv; i++) pa_set(p, pod->extracted[i].key, pod->extracted[i].value);
  if (svc && pod->svc_name_label) pa_set(p, "service.name", pod->svc_name_label);
  if (want(p, PC__K8S_M_SERVICE_VERSION) && pod->svc_version_label)
    pa_set(p, "service.version", pod->svc_version_label);
  for (uint32_t i = pod->n_label_kv; i < pod->n_extracted; i++)
    pa_set(p, pod->extracted[i].key, pod->extracted[i].value);
  uint32_t n_ns = 0;
  const pc__k8s_kv_t *ns = pc__k8s_namespace_attrs(p->cache, (pc_str_t){(const uint8_t *)pod->ns,
                                                                       strlen(pod->ns)}, &n_ns);
  for (uint32_t i = 0; i < n_ns; i++) pa_set_absent(p, ns[i].key, ns[i].value);
  if (p->node_pairs && pod->node) {
    const pc__k8s_kv_t *kv;
    uint32_t n;
    const char *uid;
    if (pc__k8s_node(p->cache, S(pod->node), &kv, &n, &uid)) {
      for (uint32_t i = 0; i < n; i++) pa_set_absent(p, kv[i].key, kv[i].value);
      if (uid && want(p, PC__K8S_M_NODE_UID)) pa_set_absent(p, "k8s.node.uid", uid);
    }
  }
}

/* What container ci adds to its pod's: only keys the pod did not set. */
static void container_attrs(k8sa_t *p, const pc__k8s_pod_t *pod, uint32_t ci) {
  const pc__k8s_container_t *ct = &pod->containers[ci];
  if (want(p, PC__K8S_M_CONTAINER_NAME)) pa_set_absent(p, "k8s.container.name", ct->name);
  if (want(p, PC__K8S_M_IMAGE_NAME)) pa_set_absent(p, "container.image.name", ct->image_name);
  if (want(p, PC__K8S_M_IMAGE_TAG)) pa_set_absent(p, "container.image.tag", ct->image_tag);
  if (want(p, PC__K8S_M_SERVICE_INSTANCE))
    pa_set_absent(p, "service.instance.id", pa_text(p, "%s.%s.%s", pod->ns, pod->name, ct->name));
  if (want(p, PC__K8S_M_SERVICE_VERSION)) pa_set_absent(p, "service.version", ct->version);
  if (want(p, PC__K8S_M_CONTAINER_ID)) pa_set_absent(p, "container.id", ct->id);
}

/* ---- the memo: a pod's attributes, built once -------------------------------------------
 * What a pod adds depends on the pod, its replicaset and its namespace, not
 * on the request: so it is built on the pod's first use, into one block
 * the cache keeps with the pod (pc__k8s_pod_set_memo), and used as it is by
 * every resource and sample of that pod until the pod changes (a changed
 * pod is a new cache entry, without a memo) or a replicaset or namespace
 * does (pc__k8s_cache_owner_gen). The pod's own list comes first; each
 * container's additions follow it, so a resource of container ci merges
 * the pod's list and then ci's. Keys and values are views with their
 * lengths: into the pod, the config, static names, or the memo's own text. */

typedef struct {
  pc_str_t k, v;
} kv_t;

typedef struct {
  uint32_t gen;     /* pc__k8s_cache_owner_gen when built */
  uint32_t n_pod;   /* kv[0, n_pod): the pod's */
  uint32_t n_slots; /* the pod's containers */
  struct {
    uint32_t at, n; /* kv[at, at + n): container i's additions */
  } *slot;
  kv_t *kv;
} memo_t;

/* A value made in p->txt, moved into the memo's text at the same offset. */
static const char *moved(const k8sa_t *p, const char *txt, const char *v) {
  uintptr_t at = (uintptr_t)v, base = (uintptr_t)p->txt;
  return at >= base && at < base + p->n_txt ? txt + (at - base) : v;
}

static const memo_t *memo_build(k8sa_t *p, const pc__k8s_pod_t *pod) {
  p->n_txt = 0;
  pod_attrs(p, pod);
  uint32_t n_pod = p->n_pa, total = n_pod;
  uint32_t extra[64], n_ct = pod->n_containers < 64 ? pod->n_containers : 64;
  struct {
    const char *k, *v;
  } more[512];
  uint32_t n_more = 0;
  for (uint32_t ci = 0; ci < n_ct; ci++) {
    p->n_pa = n_pod;
    container_attrs(p, pod, ci);
    extra[ci] = 0;
    for (uint32_t i = n_pod; i < p->n_pa && n_more < 512; i++, extra[ci]++) {
      more[n_more].k = p->pa[i].k;
      more[n_more++].v = p->pa[i].v;
    }
    total += extra[ci];
  }
  memo_t *m;
  size_t bytes = sizeof *m + n_ct * sizeof *m->slot + total * sizeof(kv_t) + p->n_txt;
  char *blob = pc_xmalloc(bytes);
  m = (memo_t *)(void *)blob;
  m->gen = pc__k8s_cache_owner_gen(p->cache);
  m->n_pod = n_pod;
  m->n_slots = n_ct;
  m->slot = (void *)(blob + sizeof *m);
  m->kv = (kv_t *)(void *)(blob + sizeof *m + n_ct * sizeof *m->slot);
  char *txt = (char *)(m->kv + total);
  if (p->n_txt) memcpy(txt, p->txt, p->n_txt);
  for (uint32_t i = 0; i < n_pod; i++)
    m->kv[i] = (kv_t){S(p->pa[i].k), S(moved(p, txt, p->pa[i].v))};
  uint32_t at = n_pod, mi = 0;
  for (uint32_t ci = 0; ci < n_ct; ci++) {
    m->slot[ci].at = at;
    m->slot[ci].n = extra[ci];
    for (uint32_t i = 0; i < extra[ci]; i++, mi++)
      m->kv[at++] = (kv_t){S(more[mi].k), S(moved(p, txt, more[mi].v))};
  }
  pc__k8s_pod_set_memo(p->cache, pod, m, bytes);
  return m;
}

static const memo_t *memo_of(k8sa_t *p, const pc__k8s_pod_t *pod) {
  const memo_t *m = pod->memo;
  if (m && m->gen == pc__k8s_cache_owner_gen(p->cache)) return m;
  return memo_build(p, pod);
}

/* Merge kv into p->map: the Collector's setResourceAttribute, an attribute
 * the resource has with a non-empty value stays. */
static void merge_kv(k8sa_t *p, const kv_t *kv, uint32_t n) {
  pc__amap_t *m = &p->map;
  for (uint32_t i = 0; i < n; i++) {
    pc_anyvalue_t v = {.type = PC_AV_STRING, .u.s = kv[i].v};
    pc__am_entry_t *e = pc__amap_find(m, kv[i].k);
    if (!e) {
      pc__amap_push(m, kv[i].k, v, -1);
      m->changed = true;
    } else if (e->value.type == PC_AV_STRING && e->value.u.s.n == 0) {
      e->value = v;
      e->set = m->changed = true;
    }
  }
}

/* The attributes of pod and its container ci (-1: not known) into p->map. */
static void merge(k8sa_t *p, const pc__k8s_pod_t *pod, int32_t ci) {
  const memo_t *m = memo_of(p, pod);
  merge_kv(p, m->kv, m->n_pod);
  if (ci >= 0 && (uint32_t)ci < m->n_slots) merge_kv(p, m->kv + m->slot[ci].at, m->slot[ci].n);
}

/* ---- association ------------------------------------------------------------------------------ */

/* The identifying values of a resource or a sample. */
typedef struct {
  pc_str_t v[MAX_KEYS];
  pc_str_t conn;
} ids_t;

static bool is_ip(pc_str_t s) {
  char buf[64];
  unsigned char b[16];
  if (!s.n || s.n >= sizeof buf) return false;
  memcpy(buf, s.p, s.n);
  buf[s.n] = 0;
  return inet_pton(AF_INET, buf, b) == 1 || inet_pton(AF_INET6, buf, b) == 1;
}

static pc_str_t src_value(const ids_t *ids, const src_t *s) {
  return s->kind == SRC_CONNECTION ? ids->conn : ids->v[s->key];
}

static bool has_container(const pc__k8s_pod_t *pod, pc_str_t id, int32_t *ci) {
  for (uint32_t i = 0; i < pod->n_containers; i++) {
    const pc__k8s_container_t *ct = &pod->containers[i];
    if ((ct->id && pc_str_eq(S(ct->id), id)) || (ct->last_id && pc_str_eq(S(ct->last_id), id))) {
      *ci = (int32_t)i;
      return true;
    }
  }
  return false;
}

/* Does one source agree with pod? */
static bool agrees(const k8sa_t *p, const pc__k8s_pod_t *pod, const src_t *s, pc_str_t v,
                   int32_t *ci) {
  switch (s->kind) {
  case SRC_CONNECTION:
  case SRC_IP:
  case SRC_HOSTNAME:
    return pc__k8s_pod_by_ip(p->cache, v) == pod;
  case SRC_UID: return pc_str_eq(S(pod->uid), v);
  case SRC_CID: return has_container(pod, v, ci);
  case SRC_POD: return pc_str_eq(S(pod->name), v);
  case SRC_NS: return pc_str_eq(S(pod->ns), v);
  }
  return false;
}

/* The Collector's rules: the first whose sources all have a value decides.
 * *decided: a rule applied (found or not). */
static assoc_t find_pod(const k8sa_t *p, const ids_t *ids, bool *decided) {
  assoc_t r = {NULL, -1};
  *decided = false;
  for (int i = 0; i < p->n_assoc; i++) {
    const rule_t *rule = &p->assoc[i];
    bool all = true;
    for (int k = 0; all && k < rule->n; k++) {
      pc_str_t v = src_value(ids, &rule->s[k]);
      all = v.n > 0 && (rule->s[k].kind != SRC_HOSTNAME || is_ip(v));
    }
    if (!all) continue;
    *decided = true;
    /* The most telling source finds the candidate; the others must agree. */
    static const src_kind_t order[] = {SRC_UID, SRC_CID, SRC_CONNECTION, SRC_IP, SRC_HOSTNAME, SRC_POD};
    const pc__k8s_pod_t *cand = NULL;
    for (size_t o = 0; !cand && o < sizeof order / sizeof order[0]; o++)
      for (int k = 0; k < rule->n; k++) {
        if (rule->s[k].kind != order[o]) continue;
        pc_str_t v = src_value(ids, &rule->s[k]);
        switch (order[o]) {
        case SRC_UID: cand = pc__k8s_pod_by_uid(p->cache, v); break;
        case SRC_CID: {
          uint32_t c;
          cand = pc__k8s_pod_by_container(p->cache, v, &c);
          break;
        }
        case SRC_POD: {
          pc_str_t ns = {0};
          for (int j = 0; j < rule->n; j++)
            if (rule->s[j].kind == SRC_NS) ns = src_value(ids, &rule->s[j]);
          cand = pc__k8s_pod_by_name(p->cache, ns, v);
          break;
        }
        default: cand = pc__k8s_pod_by_ip(p->cache, v); break;
        }
        break;
      }
    for (int k = 0; cand && k < rule->n; k++)
      if (!agrees(p, cand, &rule->s[k], src_value(ids, &rule->s[k]), &r.ci)) cand = NULL;
    r.pod = cand;
    if (!cand) r.ci = -1;
    return r;
  }
  return r;
}

/* Without rules: k8s.pod.ip, ip, the connection, host.name as an IP. */
static pc_str_t default_ip(const k8sa_t *p, const ids_t *ids) {
  if (ids->v[p->key_ip].n) return ids->v[p->key_ip];
  if (ids->v[p->key_bare_ip].n) return ids->v[p->key_bare_ip];
  if (ids->conn.n) return ids->conn;
  if (is_ip(ids->v[p->key_host])) return ids->v[p->key_host];
  return (pc_str_t){0};
}

static assoc_t associate(const k8sa_t *p, const ids_t *ids, bool *decided) {
  if (!p->no_rules) return find_pod(p, ids, decided);
  pc_str_t ip = default_ip(p, ids);
  *decided = ip.n > 0;
  return (assoc_t){ip.n ? pc__k8s_pod_by_ip(p->cache, ip) : NULL, -1};
}

/* The container of a resource whose pod was found without one: by its
 * k8s.container.name or container.id, or the pod's only container. */
static int32_t container_of_resource(const k8sa_t *p, const pc__k8s_pod_t *pod, const ids_t *ids) {
  pc_str_t name = ids->v[p->key_cname], id = ids->v[p->key_cid];
  int32_t ci = -1;
  if (name.n) {
    for (uint32_t i = 0; i < pod->n_containers; i++)
      if (pc_str_eq(S(pod->containers[i].name), name)) return (int32_t)i;
    return -1;
  }
  if (id.n) return has_container(pod, id, &ci) ? ci : -1;
  return pod->n_containers == 1 ? 0 : -1;
}

static pc_str_t amap_str(const pc__amap_t *m, const char *key) {
  pc__am_entry_t *e = pc__amap_find(m, S(key));
  return e && e->value.type == PC_AV_STRING ? e->value.u.s : (pc_str_t){0};
}

static void merge_one(k8sa_t *p, const char *k, const char *v) {
  kv_t one = {S(k), S(v)};
  merge_kv(p, &one, 1);
}

/* A resource no pod was found for, as the Collector's processResource does
 * without a pod: the pairs of the namespace it names (k8s.namespace.name)
 * and service.namespace, then those of the node it names (k8s.node.name). */
static void merge_without_pod(k8sa_t *p) {
  if (p->ns_pairs) {
    pc_str_t ns = amap_str(&p->map, "k8s.namespace.name");
    if (ns.n) {
      uint32_t n = 0;
      const pc__k8s_kv_t *kv = pc__k8s_namespace_attrs(p->cache, ns, &n);
      for (uint32_t i = 0; i < n; i++) merge_one(p, kv[i].key, kv[i].value);
      if (want(p, PC__K8S_M_SERVICE_NAMESPACE)) {
        kv_t one = {S("service.namespace"), ns};
        merge_kv(p, &one, 1);
      }
    }
  }
  if (!p->node_pairs) return;
  const pc__k8s_kv_t *kv;
  uint32_t n;
  const char *uid;
  if (!pc__k8s_node(p->cache, amap_str(&p->map, "k8s.node.name"), &kv, &n, &uid)) return;
  for (uint32_t i = 0; i < n; i++) merge_one(p, kv[i].key, kv[i].value);
  if (uid && want(p, PC__K8S_M_NODE_UID)) merge_one(p, "k8s.node.uid", uid);
}

/* ---- samples ------------------------------------------------------------------------------------ */

/* Which attribute table entries carry a key the rules read. */
static void mark_table(k8sa_t *p, const pc_request_t *req) {
  p->any_marks = false;
  const pc_dictionary_t *d = &req->dict;
  if (p->passthrough || !d->n_attrs) return;
  if (d->n_attrs > p->marks_cap) {
    free(p->marks);
    free(p->one);
    p->marks_cap = d->n_attrs * 2;
    p->marks = pc_xmalloc(p->marks_cap);
    p->one = pc_xcalloc(p->marks_cap, sizeof *p->one);
    p->one_stamp = 0;
  }
  for (uint32_t i = 0; i < d->n_attrs; i++) {
    p->marks[i] = -1;
    pc_str_t k = pc_dict_string(d, d->attrs[i].key_strindex);
    for (int j = 0; j < p->n_keys; j++)
      if (k.n == strlen(p->keys[j]) && !memcmp(k.p, p->keys[j], k.n)) {
        pc_anyvalue_t v = pc__value_resolved(d, d->attrs[i].value);
        if (v.type == PC_AV_STRING && v.u.s.n) {
          p->marks[i] = (int8_t)j;
          p->any_marks = true;
        }
        break;
      }
  }
}

static uint32_t group_of(k8sa_t *p, assoc_t a) {
  for (uint32_t i = 0; i < p->n_groups; i++)
    if (p->groups[i].pod == a.pod && p->groups[i].ci == a.ci) return i;
  if (p->n_groups == p->cap_groups) {
    p->cap_groups = p->cap_groups ? p->cap_groups * 2 : 8;
    p->groups = pc_xrealloc(p->groups, p->cap_groups * sizeof *p->groups);
  }
  p->groups[p->n_groups] = a;
  return p->n_groups++;
}

/* Per resource: the groups found so far are forgotten (group ids are the
 * resource's). The table starts small and doubles when half full, so it
 * follows the distinct sets of identifying attributes (a few per pod), not
 * the samples: sized by samples, every probe missed the CPU's caches. */
static void tc_begin(k8sa_t *p) {
  if (!p->tc) {
    p->tc = pc_xcalloc(64, sizeof *p->tc);
    p->tc_mask = 63;
    p->tc_gen = 0;
  }
  if (++p->tc_gen == 0) {
    memset(p->tc, 0, (size_t)(p->tc_mask + 1) * sizeof *p->tc);
    p->tc_gen = 1;
  }
  p->tc_n = 0;
  if (++p->one_stamp == 0) {
    memset(p->one, 0, p->marks_cap * sizeof *p->one);
    p->one_stamp = 1;
  }
}

static uint32_t tc_hash(const k8sa_t *p, const int32_t *idx) {
  return (uint32_t)pc_hash64(idx, (size_t)p->n_keys * sizeof idx[0]);
}

static void tc_grow(k8sa_t *p) {
  tcache_t *old = p->tc;
  uint32_t cap = p->tc_mask + 1;
  p->tc = pc_xcalloc((size_t)cap * 2, sizeof *p->tc);
  p->tc_mask = cap * 2 - 1;
  for (uint32_t i = 0; i < cap; i++)
    if (old[i].gen == p->tc_gen) {
      uint32_t at = tc_hash(p, old[i].idx) & p->tc_mask;
      while (p->tc[at].gen == p->tc_gen) at = (at + 1) & p->tc_mask;
      p->tc[at] = old[i];
    }
  free(old);
}

/* The group of samples whose identifying attributes are idx (table
 * indices per key, -1: none), over the resource's. */
static uint32_t group_of_ids(k8sa_t *p, const pc_request_t *req, const int32_t *idx,
                             const ids_t *res_ids, uint32_t res_group) {
  ids_t ids = *res_ids;
  for (int j = 0; j < p->n_keys; j++)
    if (idx[j] >= 0) ids.v[j] = pc__value_resolved(&req->dict, req->dict.attrs[idx[j]].value).u.s;
  bool decided;
  assoc_t a = associate(p, &ids, &decided);
  if (a.pod && a.ci < 0) a.ci = container_of_resource(p, a.pod, &ids);
  return decided ? group_of(p, a) : res_group;
}

/* The group of one sample: by its marked attributes, over the resource's.
 * Association runs once per distinct set of them in a resource, not per
 * sample: a sample with one marked attribute (the eBPF profiler's
 * container.id) finds its group by that entry's index, one with several
 * by the set, hashed. */
static uint32_t sample_group(k8sa_t *p, const pc_request_t *req, const pc_sample_t *s,
                             const ids_t *res_ids, uint32_t res_group) {
  int32_t first = -1;
  uint32_t n_marked = 0;
  for (uint32_t k = 0; k < s->attribute_indices.n; k++) {
    int32_t a = s->attribute_indices.v[k];
    if ((uint32_t)a >= req->dict.n_attrs || p->marks[a] < 0) continue;
    if (!n_marked++) first = a;
  }
  if (!n_marked) return res_group;
  int32_t idx[MAX_KEYS];
  for (int j = 0; j < p->n_keys; j++) idx[j] = -1;
  if (n_marked == 1) {
    if (p->one[first].stamp == p->one_stamp) return p->one[first].group;
    idx[p->marks[first]] = first;
    uint32_t g = group_of_ids(p, req, idx, res_ids, res_group);
    p->one[first].stamp = p->one_stamp;
    p->one[first].group = g;
    return g;
  }
  for (uint32_t k = 0; k < s->attribute_indices.n; k++) {
    int32_t a = s->attribute_indices.v[k];
    if ((uint32_t)a >= req->dict.n_attrs || p->marks[a] < 0) continue;
    if (idx[p->marks[a]] < 0) idx[p->marks[a]] = a;
  }
  uint32_t at = tc_hash(p, idx) & p->tc_mask;
  for (;; at = (at + 1) & p->tc_mask) {
    tcache_t *e = &p->tc[at];
    if (e->gen != p->tc_gen) break;
    if (!memcmp(e->idx, idx, (size_t)p->n_keys * sizeof idx[0])) return e->group;
  }
  uint32_t g = group_of_ids(p, req, idx, res_ids, res_group);
  tcache_t *e = &p->tc[at]; /* group_of_ids does not touch the table */
  e->gen = p->tc_gen;
  memcpy(e->idx, idx, sizeof idx);
  e->group = g;
  if (++p->tc_n * 2 > p->tc_mask) tc_grow(p);
  return g;
}

/* ---- splitting a resource ----------------------------------------------------------------------- */

static void push_out(k8sa_t *p, const pc_resource_profiles_t *rp) {
  if (p->n_out == p->cap_out) {
    p->cap_out = p->cap_out ? p->cap_out * 2 : 16;
    p->out = pc_xrealloc(p->out, p->cap_out * sizeof *p->out);
  }
  p->out[p->n_out++] = *rp;
}

/* A profile id for the part of one pod: the original's, mixed with the pod. */
static pc_str_t part_id(pc_request_t *req, pc_str_t id, const assoc_t *a) {
  if (id.n != 16) return id;
  /* 128 bits from two XXH3s: of (id, the pod's uid hashed, the container),
   * and of that hash followed by the same bytes. */
  uint8_t in[8 + 16 + 8 + 4];
  uint64_t u = a->pod ? pc_hash64(a->pod->uid, strlen(a->pod->uid)) : 0;
  int32_t ci = a->ci;
  memcpy(in + 8, id.p, 16);
  memcpy(in + 24, &u, 8);
  memcpy(in + 32, &ci, 4);
  uint64_t lo = pc_hash64(in + 8, sizeof in - 8);
  memcpy(in, &lo, 8);
  uint64_t hi = pc_hash64(in, sizeof in);
  uint8_t *b = pc_arena_alloc(req->arena, 16);
  if (!b) return id;
  memcpy(b, &hi, 8);
  memcpy(b + 8, &lo, 8);
  return (pc_str_t){b, 16};
}

/* Apply group g's pod to a copy of orig's attributes, into rp. */
static int set_attrs(k8sa_t *p, pc_request_t *req, const pc_resource_profiles_t *orig,
                     pc_resource_profiles_t *rp, const assoc_t *a) {
  pc__resource_load(req, &orig->resource.attributes, &p->map);
  if (a->pod) merge(p, a->pod, a->ci);
  else merge_without_pod(p);
  return p->map.changed ? pc__resource_store(req, rp, &p->map) : 0;
}

static int split(k8sa_t *p, pc_request_t *req, const pc_resource_profiles_t *orig) {
  uint32_t G = p->n_groups;
  /* Per group, scopes and profiles shaped like the original's. */
  pc_resource_profiles_t *parts = pc_arena_calloc(req->arena, G, sizeof *parts);
  if (!parts) return PC_ENOMEM;
  for (uint32_t g = 0; g < G; g++) {
    parts[g] = *orig;
    parts[g].scopes = orig->n_scopes ? pc_arena_calloc(req->arena, orig->n_scopes,
                                                       sizeof *parts[g].scopes)
                                     : NULL;
    if (orig->n_scopes && !parts[g].scopes) return PC_ENOMEM;
    parts[g].n_scopes = 0;
  }
  uint32_t *count = pc_xcalloc(G, sizeof *count);
  /* The part that keeps the profiles' ids and payloads: the resource's own
   * when it keeps samples, else the first that has some. */
  uint64_t total = 0;
  for (uint32_t si = 0; si < orig->n_scopes; si++)
    for (uint32_t pi = 0; pi < orig->scopes[si].n_profiles; pi++)
      total += orig->scopes[si].profiles[pi].n_samples;
  uint32_t keeper = G;
  for (uint64_t i = 0; i < total && keeper; i++)
    if (p->gid[i] < keeper) keeper = p->gid[i];
  if (keeper == G) keeper = 0;
  uint64_t k = 0; /* sample cursor over the resource, as gid was filled */
  int rc = 0;
  for (uint32_t si = 0; si < orig->n_scopes && !rc; si++) {
    const pc_scope_profiles_t *sp = &orig->scopes[si];
    for (uint32_t g = 0; g < G; g++) {
      pc_scope_profiles_t *ps = &parts[g].scopes[parts[g].n_scopes];
      *ps = *sp;
      ps->profiles = sp->n_profiles ? pc_arena_alloc(req->arena, sp->n_profiles * sizeof *ps->profiles)
                                    : NULL;
      ps->n_profiles = 0;
      if (sp->n_profiles && !ps->profiles) rc = PC_ENOMEM;
    }
    for (uint32_t pi = 0; pi < sp->n_profiles && !rc; pi++) {
      const pc_profile_t *prof = &sp->profiles[pi];
      memset(count, 0, G * sizeof *count);
      for (uint32_t i = 0; i < prof->n_samples; i++) count[p->gid[k + i]]++;
      for (uint32_t g = 0; g < G && !rc; g++) {
        /* An empty profile stays with the keeper. */
        if (!count[g] && !(g == keeper && prof->n_samples == 0)) continue;
        pc_scope_profiles_t *ps = &parts[g].scopes[parts[g].n_scopes];
        pc_profile_t *np = &ps->profiles[ps->n_profiles++];
        *np = *prof;
        np->n_samples = 0;
        np->samples = count[g] ? pc_arena_alloc(req->arena, count[g] * sizeof *np->samples) : NULL;
        if (count[g] && !np->samples) rc = PC_ENOMEM;
        if (g != keeper) {
          np->profile_id = part_id(req, prof->profile_id, &p->groups[g]);
          np->original_payload = (pc_str_t){0};
          np->original_payload_format = (pc_str_t){0};
        }
      }
      if (rc) break;
      /* Deal the samples out; the profile of group g is its last one. */
      for (uint32_t i = 0; i < prof->n_samples; i++) {
        uint32_t g = p->gid[k + i];
        pc_scope_profiles_t *ps = &parts[g].scopes[parts[g].n_scopes];
        pc_profile_t *np = &ps->profiles[ps->n_profiles - 1];
        np->samples[np->n_samples++] = prof->samples[i];
      }
      k += prof->n_samples;
    }
    for (uint32_t g = 0; g < G; g++) /* keep the scope where it got profiles */
      if (parts[g].scopes[parts[g].n_scopes].n_profiles || (g == keeper && !sp->n_profiles))
        parts[g].n_scopes++;
  }
  free(count);
  for (uint32_t g = 0; g < G && !rc; g++) {
    if (!parts[g].n_scopes && !(g == keeper && !orig->n_scopes)) continue;
    rc = set_attrs(p, req, orig, &parts[g], &p->groups[g]);
    if (rc) break;
    push_out(p, &parts[g]);
    if (p->groups[g].pod) p->associated++;
    else p->unassociated++;
  }
  p->splits += G - 1;
  return rc;
}

/* ---- consume ------------------------------------------------------------------------------------- */

static void log_synced(k8sa_t *p);

/* The pods are listed, and every watch they depend on is, or DEPS_WAIT_MS
 * have passed since start: then each one not listed is given up on, once,
 * with a warning (its values come when it lists). */
static bool synced(k8sa_t *p) {
  if (p->synced_once) return true; /* a relist later never holds data again */
  bool deps_wait = false;
  for (int i = 0; i < p->n_watches; i++) {
    if (pc__k8s_watch_synced(p->watches[i])) continue;
    if (p->wctx[i].kind == PC__K8S_PODS) return false;
    deps_wait = true;
  }
  if (deps_wait && (!p->start_ms || pc_now_ms() - p->start_ms < DEPS_WAIT_MS)) return false;
  for (int i = 0; i < p->n_watches; i++) {
    wctx_t *w = &p->wctx[i];
    if (pc__k8s_watch_synced(w->w)) continue;
    w->gave_up = true;
    const char *why = pc__k8s_watch_last_error(w->w);
    /* A 403's error names the rule already: not twice in one line. */
    bool named = why[0] && strstr(why, w->rbac);
    pc_log(p->id, PC_LOG_WARN, "%s not listed within %d ms of start (%s): adding pod metadata "
           "without %s until they are%s%s", w->what, DEPS_WAIT_MS, why[0] ? why : "no answer yet",
           w->without, named ? "" : "; the service account's ClusterRole needs ",
           named ? "" : w->rbac);
  }
  p->synced_once = true;
  log_synced(p);
  return true;
}

static void ids_of_resource(const k8sa_t *p, const pc_request_t *req, ids_t *ids) {
  for (int j = 0; j < p->n_keys; j++) ids->v[j] = amap_str(&p->map, p->keys[j]);
  ids->conn = req->client_addr;
}

/* passthrough, or k8s.pod.ip asked for: the connection's IP as k8s.pod.ip,
 * when it is what identifies the resource. */
static void set_pod_ip(k8sa_t *p, const ids_t *ids) {
  pc_str_t ip = {0};
  if (p->no_rules) {
    ip = default_ip(p, ids);
  } else {
    for (int i = 0; i < p->n_assoc && !ip.n; i++) {
      const rule_t *r = &p->assoc[i];
      bool all = true;
      for (int k = 0; all && k < r->n; k++) all = src_value(ids, &r->s[k]).n > 0;
      if (!all) continue;
      for (int k = 0; k < r->n; k++)
        if (r->s[k].kind == SRC_CONNECTION) ip = ids->conn;
      break;
    }
  }
  if (!ip.n) return;
  pc_anyvalue_t v = {.type = PC_AV_STRING, .u.s = ip};
  pc__am_entry_t *e = pc__amap_find(&p->map, S("k8s.pod.ip"));
  if (!e) {
    pc__amap_push(&p->map, S("k8s.pod.ip"), v, -1);
    p->map.changed = true;
  } else if (e->value.type == PC_AV_STRING && !e->value.u.s.n) {
    e->value = v;
    e->set = p->map.changed = true;
  }
}

static int k8sa_consume(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  k8sa_t *p = k8sa_of(self);
  if (!req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow attributes in", p->id);
  if (p->passthrough) {
    for (uint32_t i = 0; i < req->n_resources; i++) {
      pc_resource_profiles_t *rp = &req->resources[i];
      pc__resource_load(req, &rp->resource.attributes, &p->map);
      ids_t ids = {0};
      ids_of_resource(p, req, &ids);
      set_pod_ip(p, &ids);
      if (p->map.changed && pc__resource_store(req, rp, &p->map))
        return pc_err_set(err, PC_ENOMEM, "%s: out of memory adding resource attributes", p->id);
    }
    return p->next->consume_profiles(p->next, req, err);
  }
  if (!synced(p)) { /* never hold the pipeline for the API */
    p->unsynced++;
    return p->next->consume_profiles(p->next, req, err);
  }
  mark_table(p, req);
  p->n_out = 0;
  bool any_split = false;
  int rc = 0;
  for (uint32_t i = 0; i < req->n_resources && !rc; i++) {
    pc_resource_profiles_t *rp = &req->resources[i];
    pc__resource_load(req, &rp->resource.attributes, &p->map);
    ids_t ids = {0};
    ids_of_resource(p, req, &ids);
    bool decided;
    assoc_t a = associate(p, &ids, &decided);
    if (a.pod && a.ci < 0) a.ci = container_of_resource(p, a.pod, &ids);
    p->n_groups = 0;
    uint32_t res_group = group_of(p, a);
    uint64_t n_samples = 0;
    if (p->any_marks) {
      for (uint32_t s = 0; s < rp->n_scopes; s++)
        for (uint32_t k = 0; k < rp->scopes[s].n_profiles; k++)
          n_samples += rp->scopes[s].profiles[k].n_samples;
      if (n_samples > p->gid_cap) {
        free(p->gid);
        p->gid_cap = n_samples * 2;
        p->gid = pc_xmalloc(p->gid_cap * sizeof *p->gid);
      }
      tc_begin(p);
      uint64_t at = 0;
      for (uint32_t s = 0; s < rp->n_scopes; s++)
        for (uint32_t k = 0; k < rp->scopes[s].n_profiles; k++) {
          const pc_profile_t *prof = &rp->scopes[s].profiles[k];
          for (uint32_t j = 0; j < prof->n_samples; j++)
            p->gid[at++] = sample_group(p, req, &prof->samples[j], &ids, res_group);
        }
      for (uint64_t j = 0; j < n_samples; j++) p->samples_moved += p->gid[j] != res_group;
    }
    if (p->n_groups > 1) { /* group 0 is the resource's own (res_group) */
      /* All samples of one pod (a profiler that sends a resource per
       * process): that pod's resource, the request's arrays as they are. */
      uint32_t only = n_samples ? p->gid[0] : 0;
      for (uint64_t j = 1; j < n_samples && only < p->n_groups; j++)
        if (p->gid[j] != only) only = p->n_groups;
      if (!n_samples || only == p->n_groups) {
        any_split = true;
        rc = split(p, req, rp);
        continue;
      }
      a = p->groups[only];
    }
    if (want(p, PC__K8S_M_POD_IP)) set_pod_ip(p, &ids);
    if (a.pod) {
      p->associated++;
      merge(p, a.pod, a.ci);
    } else {
      p->unassociated++;
      merge_without_pod(p);
    }
    if (p->map.changed) rc = pc__resource_store(req, rp, &p->map);
    push_out(p, rp);
  }
  if (rc) return pc_err_set(err, PC_ENOMEM, "%s: out of memory adding pod attributes", p->id);
  if (any_split) {
    pc_resource_profiles_t *v = pc_arena_alloc(req->arena, p->n_out * sizeof *v);
    if (!v) return pc_err_set(err, PC_ENOMEM, "%s: out of memory splitting resources", p->id);
    memcpy(v, p->out, p->n_out * sizeof *v);
    req->resources = v;
    req->n_resources = p->n_out;
  }
  return p->next->consume_profiles(p->next, req, err);
}

/* ---- config ------------------------------------------------------------------------------------ */

static const pc_cfg_node_t *at(const pc_cfg_node_t *root, const char *a, const char *b) {
  const pc_cfg_node_t *n = pc_cfg_get(root, a);
  return b ? pc_cfg_get(n, b) : n;
}

static int parse_metadata(k8sa_t *p, const pc_cfg_node_t *list, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL) {
    p->rules.metadata = DEFAULT_METADATA;
    return 0;
  }
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of attribute names");
  const char *names[N_MD];
  for (size_t i = 0; i < N_MD; i++) names[i] = md_names[i].name;
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *it = list->items[i];
    const char *t = it->type == PC_CFG_SCALAR ? it->text : "";
    size_t k = 0;
    while (k < N_MD && strcmp(t, md_names[k].name)) k++;
    if (k < N_MD) {
      p->rules.metadata |= md_names[k].bit;
      continue;
    }
    for (size_t m = 0; m < sizeof md_missing / sizeof md_missing[0]; m++)
      if (!strcmp(t, md_missing[m].name))
        return pc_cfg_error(err, it, PC_EINVAL, "%s %s", t, md_missing[m].why);
    const char *hint = pc_cfg_did_you_mean(t, names, N_MD);
    return pc_cfg_error(err, it, PC_EINVAL, "\"%s\" is not a supported metadata field%s%s%s", t,
                        hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
  }
  return 0;
}

typedef struct {
  char *tag_name, *key, *key_regex, *from, *regex;
} rule_cfg_t;

static const pc_opt_t rule_opts[] = {
    PC_OPT_STR("tag_name", NULL, rule_cfg_t, tag_name, "attribute name"),
    PC_OPT_STR("key", NULL, rule_cfg_t, key, "label or annotation key"),
    PC_OPT_STR("key_regex", NULL, rule_cfg_t, key_regex, "pattern of keys"),
    PC_OPT_STR("from", NULL, rule_cfg_t, from, "pod, namespace or node"),
    PC_OPT_STR("regex", NULL, rule_cfg_t, regex, "removed from the Collector"),
    PC_OPT_TABLE_END,
};

static int parse_rules(k8sa_t *p, const pc_cfg_node_t *list, bool annotation, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL) return 0;
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of {tag_name, key | key_regex, from}");
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *it = list->items[i];
    if (it->type != PC_CFG_MAP)
      return pc_cfg_error(err, it, PC_EINVAL, "must be a map: {tag_name, key | key_regex, from}");
    rule_cfg_t rc = {0};
    if (pc_cfg_apply(rule_opts, it, &rc, err)) return PC_EINVAL;
    if (rc.regex)
      return pc_cfg_error(err, pc_cfg_get(it, "regex"), PC_EINVAL, "regex is no longer "
                          "supported (the Collector removed it): use key_regex with tag_name, or "
                          "the attributes processor's extract action");
    if (rc.key && rc.key_regex)
      return pc_cfg_error(err, pc_cfg_get(it, "key_regex"), PC_EINVAL,
                          "give key or key_regex, not both");
    if ((!rc.key || !*rc.key) && (!rc.key_regex || !*rc.key_regex))
      return pc_cfg_error(err, it, PC_EINVAL, "needs key or key_regex");
    pc__k8s_from_t from = PC__K8S_FROM_POD;
    if (rc.from && strcmp(rc.from, "pod")) {
      if (!strcmp(rc.from, "namespace")) {
        from = PC__K8S_FROM_NAMESPACE;
      } else if (!strcmp(rc.from, "node")) {
        from = PC__K8S_FROM_NODE;
      } else {
        bool collector = !strcmp(rc.from, "deployment") || !strcmp(rc.from, "statefulset") ||
                         !strcmp(rc.from, "daemonset") || !strcmp(rc.from, "job");
        return pc_cfg_error(err, pc_cfg_get(it, "from"), PC_EINVAL,
                            collector ? "from: %s is the Collector's but not provided: profcol "
                                        "reads labels and annotations of pods, namespaces and "
                                        "nodes"
                                      : "%s is not a valid choice for from: want pod, namespace "
                                        "or node",
                            rc.from);
      }
    }
    p->rules.rules = pc_xrealloc(p->rules.rules, (p->rules.n_rules + 1) * sizeof *p->rules.rules);
    pc__k8s_rule_t *r = &p->rules.rules[p->rules.n_rules];
    *r = (pc__k8s_rule_t){.from = from, .annotation = annotation};
    if (rc.key_regex) {
      r->key_regex = pc__regex_compile_whole(pc_cfg_get(it, "key_regex"), err);
      if (!r->key_regex) return PC_EINVAL;
      if (pc__regex_groups(r->key_regex) > 32) {
        pc__regex_free(r->key_regex);
        return pc_cfg_error(err, pc_cfg_get(it, "key_regex"), PC_EINVAL,
                            "has more than 32 groups");
      }
    } else {
      r->key = pc_xstrdup(rc.key);
    }
    r->tag_name = rc.tag_name && *rc.tag_name ? pc_xstrdup(rc.tag_name) : NULL;
    p->rules.n_rules++;
  }
  return 0;
}

static int key_slot(k8sa_t *p, const char *name) {
  for (int i = 0; i < p->n_keys; i++)
    if (!strcmp(p->keys[i], name)) return i;
  if (p->n_keys == MAX_KEYS) return -1;
  p->keys[p->n_keys] = pc_xstrdup(name);
  return p->n_keys++;
}

static int parse_association(k8sa_t *p, const pc_cfg_node_t *list, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL || (list->type == PC_CFG_SEQ && !list->n_items)) {
    p->no_rules = true;
    return 0;
  }
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of {sources: [...]}");
  if (list->n_items > sizeof p->assoc / sizeof p->assoc[0])
    return pc_cfg_error(err, list, PC_EINVAL, "has %zu rules; at most %zu", list->n_items,
                        sizeof p->assoc / sizeof p->assoc[0]);
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *it = list->items[i];
    const pc_cfg_node_t *srcs = pc_cfg_get(it, "sources");
    if (it->type != PC_CFG_MAP)
      return pc_cfg_error(err, it, PC_EINVAL, "must be a map: {sources: [...]}");
    for (size_t e = 0; e < it->n_entries; e++)
      if (strcmp(it->entries[e].key, "sources")) {
        static const char *const keys[] = {"sources"};
        const char *hint = pc_cfg_did_you_mean(it->entries[e].key, keys, 1);
        return pc_cfg_key_error(err, it->entries[e].value, PC_EINVAL, "unknown key \"%s\"%s",
                                it->entries[e].key, hint ? "; did you mean \"sources\"?" : "");
      }
    if (!srcs || srcs->type != PC_CFG_SEQ || !srcs->n_items)
      return pc_cfg_error(err, srcs ? srcs : it, PC_EINVAL,
                          "sources must be a list of {from, name}");
    if (srcs->n_items > MAX_SOURCES)
      return pc_cfg_error(err, srcs, PC_EINVAL, "too many association sources. limit is %d",
                          MAX_SOURCES);
    rule_t *r = &p->assoc[p->n_assoc];
    memset(r, 0, sizeof *r);
    bool finds = false, pod = false, ns = false;
    for (size_t k = 0; k < srcs->n_items; k++) {
      const pc_cfg_node_t *s = srcs->items[k];
      typedef struct {
        char *from, *name;
      } src_cfg_t;
      static const pc_opt_t src_opts[] = {
          PC_OPT_STR("from", NULL, src_cfg_t, from, "connection or resource_attribute"),
          PC_OPT_STR("name", NULL, src_cfg_t, name, "the attribute"),
          PC_OPT_TABLE_END,
      };
      src_cfg_t sc = {0};
      if (s->type != PC_CFG_MAP)
        return pc_cfg_error(err, s, PC_EINVAL, "must be a map: {from, name}");
      if (pc_cfg_apply(src_opts, s, &sc, err)) return PC_EINVAL;
      if (!sc.from)
        return pc_cfg_error(err, s, PC_EINVAL, "needs from: connection or resource_attribute");
      if (!strcmp(sc.from, "connection")) {
        r->s[k] = (src_t){SRC_CONNECTION, -1};
        finds = true;
      } else if (!strcmp(sc.from, "resource_attribute")) {
        if (!sc.name || !*sc.name)
          return pc_cfg_error(err, s, PC_EINVAL, "from: resource_attribute needs name");
        static const struct {
          const char *name;
          src_kind_t kind;
        } known[] = {{"k8s.pod.ip", SRC_IP},   {"host.name", SRC_HOSTNAME}, {"k8s.pod.uid", SRC_UID},
                     {"container.id", SRC_CID}, {"k8s.pod.name", SRC_POD},   {"k8s.namespace.name", SRC_NS}};
        size_t m = 0;
        while (m < 6 && strcmp(sc.name, known[m].name)) m++;
        if (m == 6)
          return pc_cfg_error(err, pc_cfg_get(s, "name"), PC_EINVAL,
                              "profcol associates by k8s.pod.ip, k8s.pod.uid, container.id, "
                              "host.name (an IP) and k8s.pod.name with k8s.namespace.name, not "
                              "by \"%s\"", sc.name);
        int slot = key_slot(p, sc.name);
        if (slot < 0)
          return pc_cfg_error(err, s, PC_EINVAL, "the rules read more than %d attributes",
                              MAX_KEYS);
        r->s[k] = (src_t){known[m].kind, slot};
        finds = finds || (known[m].kind != SRC_POD && known[m].kind != SRC_NS);
        pod = pod || known[m].kind == SRC_POD;
        ns = ns || known[m].kind == SRC_NS;
      } else {
        return pc_cfg_error(err, pc_cfg_get(s, "from"), PC_EINVAL,
                            "%s is not a valid choice for from: want connection or "
                            "resource_attribute", sc.from);
      }
      r->n++;
    }
    if (!finds && !(pod && ns))
      return pc_cfg_error(err, srcs, PC_EINVAL, "this rule cannot find a pod: it needs "
                          "connection, k8s.pod.ip, k8s.pod.uid, container.id or host.name, or "
                          "k8s.pod.name together with k8s.namespace.name");
    p->n_assoc++;
  }
  return 0;
}

static int parse_exclude(k8sa_t *p, const pc_cfg_node_t *ex, pc_err_t *err) {
  static const char *const defaults[] = {"jaeger-agent", "jaeger-collector"};
  const pc_cfg_node_t *pods = NULL;
  if (ex && ex->type != PC_CFG_NULL) {
    if (ex->type != PC_CFG_MAP) return pc_cfg_error(err, ex, PC_EINVAL, "must be {pods: [{name}]}");
    for (size_t e = 0; e < ex->n_entries; e++)
      if (strcmp(ex->entries[e].key, "pods")) {
        static const char *const keys[] = {"pods"};
        const char *hint = pc_cfg_did_you_mean(ex->entries[e].key, keys, 1);
        return pc_cfg_key_error(err, ex->entries[e].value, PC_EINVAL, "unknown key \"%s\"%s",
                                ex->entries[e].key, hint ? "; did you mean \"pods\"?" : "");
      }
    pods = pc_cfg_get(ex, "pods");
    if (pods && pods->type != PC_CFG_SEQ && pods->type != PC_CFG_NULL)
      return pc_cfg_error(err, pods, PC_EINVAL, "must be a list of {name}");
  }
  if (!pods || pods->type == PC_CFG_NULL) {
    for (size_t i = 0; i < 2; i++) {
      pc_cfg_node_t n = {.type = PC_CFG_SCALAR, .text = defaults[i]};
      p->rules.exclude = pc_xrealloc(p->rules.exclude, (i + 1) * sizeof *p->rules.exclude);
      p->rules.exclude[i] = pc__regex_compile(&n, err);
      if (!p->rules.exclude[i]) return PC_EINVAL;
      p->rules.n_exclude++;
    }
    return 0;
  }
  for (size_t i = 0; i < pods->n_items; i++) {
    const pc_cfg_node_t *name = pc_cfg_get(pods->items[i], "name");
    if (pods->items[i]->type != PC_CFG_MAP || !name || name->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, pods->items[i], PC_EINVAL, "must be {name: pattern}");
    pc__regex_t *re = pc__regex_compile(name, err);
    if (!re) return PC_EINVAL;
    p->rules.exclude = pc_xrealloc(p->rules.exclude, (p->rules.n_exclude + 1) * sizeof *p->rules.exclude);
    p->rules.exclude[p->rules.n_exclude++] = re;
  }
  return 0;
}

/* ---- the watches --------------------------------------------------------------------------------- */

/* Escape a selector for a query. */
static void qappend(pc_buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '_' || c == '.' || c == '~')
      pc_buf_append(b, s, 1);
    else
      pc_buf_printf(b, "%%%02X", c);
  }
}

typedef struct {
  char *key, *value, *op;
} sel_cfg_t;

static const pc_opt_t sel_opts[] = {
    PC_OPT_STR("key", NULL, sel_cfg_t, key, "field or label"),
    PC_OPT_STR("value", NULL, sel_cfg_t, value, "value"),
    PC_OPT_STR("op", NULL, sel_cfg_t, op, "operation"),
    PC_OPT_TABLE_END,
};

static int selectors(const pc_cfg_node_t *list, bool labels, pc_buf_t *sel, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL) return 0;
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of {key, value, op}");
  for (size_t i = 0; i < list->n_items; i++) {
    sel_cfg_t f = {0};
    if (list->items[i]->type != PC_CFG_MAP)
      return pc_cfg_error(err, list->items[i], PC_EINVAL, "must be a map: {key, value, op}");
    if (pc_cfg_apply(sel_opts, list->items[i], &f, err)) return PC_EINVAL;
    if (!f.key || !*f.key) return pc_cfg_error(err, list->items[i], PC_EINVAL, "needs key");
    const char *op = f.op && *f.op ? f.op : "equals", *v = f.value ? f.value : "";
    char one[600];
    if (!strcmp(op, "equals")) snprintf(one, sizeof one, "%s=%s", f.key, v);
    else if (!strcmp(op, "not-equals")) snprintf(one, sizeof one, "%s!=%s", f.key, v);
    else if (labels && !strcmp(op, "exists")) snprintf(one, sizeof one, "%s", f.key);
    else if (labels && !strcmp(op, "does-not-exist")) snprintf(one, sizeof one, "!%s", f.key);
    else
      return pc_cfg_error(err, pc_cfg_get(list->items[i], "op"), PC_EINVAL,
                          "'%s' is not a valid %s filter operation: want equals, not-equals%s", op,
                          labels ? "label" : "field", labels ? ", exists or does-not-exist" : "");
    if (sel->n) pc_buf_append(sel, ",", 1);
    pc_buf_append(sel, one, strlen(one));
  }
  return 0;
}

static void on_object(void *arg, pc__k8s_event_t ev, json_t *obj);
static void on_list_begin(void *arg);
static void on_synced(void *arg);

/* What pods' metadata lacks while a watch they depend on has not listed. */
static const char *without_of(pc__k8s_kind_t kind) {
  switch (kind) {
  case PC__K8S_REPLICASETS: return "k8s.deployment.name and k8s.deployment.uid";
  case PC__K8S_NAMESPACES: return "the namespaces' labels and annotations";
  case PC__K8S_NODES: return "the nodes' labels, annotations and k8s.node.uid";
  case PC__K8S_PODS: break;
  }
  return "";
}

/* what and rbac: literals (kept for the warnings). */
static void add_watch(k8sa_t *p, pc__k8s_kind_t kind, const char *path, const char *sel,
                      bool meta, const char *what, const char *rbac) {
  wctx_t *w = &p->wctx[p->n_watches];
  *w = (wctx_t){p, kind, .what = what, .rbac = rbac, .without = without_of(kind)};
  pc__k8s_watch_spec_t spec = {.what = what, .path = path, .selectors = sel,
                               .metadata_only = meta, .log_id = p->id, .rbac = rbac,
                               .on_object = on_object, .on_list_begin = on_list_begin,
                               .on_synced = on_synced, .arg = w};
  w->w = p->watches[p->n_watches++] = pc__k8s_watch_new(&spec);
  p->deps = p->deps || kind != PC__K8S_PODS;
}

static int plan_watches(k8sa_t *p, const k8sa_cfg_t *c, const pc_cfg_node_t *root, pc_err_t *err) {
  const char *node = c->f_node;
  if (c->f_node_env && *c->f_node_env) {
    node = getenv(c->f_node_env);
    if (!node)
      return pc_cfg_error(err, at(root, "filter", "node_from_env_var"), PC_EINVAL,
                          "`node_from_env_var` is configured but envvar \"%s\" is not set",
                          c->f_node_env);
  }
  pc_buf_t fsel = {0}, lsel = {0}, q = {0};
  int rc = selectors(c->f_fields, false, &fsel, err);
  if (!rc) rc = selectors(c->f_labels, true, &lsel, err);
  if (rc) goto out;
  if (node && *node) {
    if (fsel.n) pc_buf_append(&fsel, ",", 1);
    pc_buf_printf(&fsel, "spec.nodeName=%s", node);
  }
  if (fsel.n) {
    pc_buf_printf(&q, "fieldSelector=");
    pc_buf_append(&fsel, "", 1);
    qappend(&q, (const char *)fsel.p);
  }
  if (lsel.n) {
    pc_buf_printf(&q, "%slabelSelector=", q.n ? "&" : "");
    pc_buf_append(&lsel, "", 1);
    qappend(&q, (const char *)lsel.p);
  }
  pc_buf_append(&q, "", 1);
  /* Namespaces: none (all), one, or a list: a watch each. */
  const char *nss[8];
  size_t n_ns = 0;
  const pc_cfg_node_t *ns = c->f_namespace;
  if (ns && ns->type == PC_CFG_SCALAR && *ns->text) {
    nss[n_ns++] = ns->text;
  } else if (ns && ns->type == PC_CFG_SEQ) {
    if (ns->n_items > 8) {
      rc = pc_cfg_error(err, ns, PC_EINVAL, "lists %zu namespaces; at most 8", ns->n_items);
      goto out;
    }
    for (size_t i = 0; i < ns->n_items; i++) {
      if (ns->items[i]->type != PC_CFG_SCALAR || !*ns->items[i]->text) {
        rc = pc_cfg_error(err, ns->items[i], PC_EINVAL, "must be a namespace name");
        goto out;
      }
      nss[n_ns++] = ns->items[i]->text;
    }
  } else if (ns && ns->type != PC_CFG_NULL && !(ns->type == PC_CFG_SCALAR && !*ns->text)) {
    rc = pc_cfg_error(err, ns, PC_EINVAL, "must be a namespace or a list of namespaces");
    goto out;
  }
  bool rs = (want(p, PC__K8S_M_DEPLOYMENT) && !p->rules.deployment_from_replicaset) ||
            want(p, PC__K8S_M_DEPLOYMENT_UID);
  bool nsw = false;
  for (size_t i = 0; i < p->rules.n_rules; i++) nsw = nsw || p->rules.rules[i].from == PC__K8S_FROM_NAMESPACE;
  char path[512];
  for (size_t i = 0; i < (n_ns ? n_ns : 1); i++) {
    if (n_ns) snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", nss[i]);
    else snprintf(path, sizeof path, "/api/v1/pods");
    add_watch(p, PC__K8S_PODS, path, (const char *)q.p, false, "pods",
              "pods: get, list, watch");
    if (rs) {
      if (n_ns) snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/replicasets", nss[i]);
      else snprintf(path, sizeof path, "/apis/apps/v1/replicasets");
      add_watch(p, PC__K8S_REPLICASETS, path, NULL, true, "replicasets",
                "replicasets (apiGroup apps): get, list, watch");
    }
  }
  if (nsw)
    add_watch(p, PC__K8S_NAMESPACES, "/api/v1/namespaces", NULL, true, "namespaces",
              "namespaces: get, list, watch");
  if (p->node_pairs) {
    /* One node when the filter names it (an agent: its own), as the
     * Collector's node informer; metadata only: labels, annotations, uid. */
    pc_buf_t nq = {0};
    if (node && *node) {
      pc_buf_printf(&nq, "fieldSelector=");
      char one[400];
      snprintf(one, sizeof one, "metadata.name=%s", node);
      qappend(&nq, one);
    }
    pc_buf_append(&nq, "", 1);
    add_watch(p, PC__K8S_NODES, "/api/v1/nodes", nq.n > 1 ? (const char *)nq.p : NULL, true,
              "nodes", "nodes: get, list, watch");
    p->node_watch = p->watches[p->n_watches - 1];
    pc_buf_free(&nq);
  }
out:
  pc_buf_free(&fsel);
  pc_buf_free(&lsel);
  pc_buf_free(&q);
  return rc;
}

static void k8sa_destroy(void *self);

static void *k8sa_create(const pc_create_args_t *args, pc_err_t *err) {
  k8sa_cfg_t c = {0};
  if (pc_cfg_apply(k8sa_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  k8sa_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  p->passthrough = c.passthrough;
  p->wait = c.wait_for_metadata;
  p->wait_ms = c.wait_ms;
  p->rules.otel_annotations = c.otel_annotations;
  p->rules.deployment_from_replicaset = c.dep_from_rs;
  p->rules.max_pods = (uint64_t)c.max_pods;
  p->rules.max_nodes = (uint64_t)c.max_nodes;
  const pc_cfg_node_t *root = args->cfg;
  if (pc__k8s_api_parse(&c.api, root, &p->auth, err) ||
      parse_metadata(p, at(root, "extract", "metadata"), err) ||
      parse_rules(p, at(root, "extract", "labels"), false, err) ||
      parse_rules(p, at(root, "extract", "annotations"), true, err) ||
      parse_association(p, c.pod_association, err) || parse_exclude(p, c.exclude, err))
    goto fail;
  p->node_pairs = want(p, PC__K8S_M_NODE_UID);
  p->ns_pairs = want(p, PC__K8S_M_SERVICE_NAMESPACE);
  for (size_t i = 0; i < p->rules.n_rules; i++) {
    p->node_pairs = p->node_pairs || p->rules.rules[i].from == PC__K8S_FROM_NODE;
    p->ns_pairs = p->ns_pairs || p->rules.rules[i].from == PC__K8S_FROM_NAMESPACE;
  }
  p->context = c.api.context ? pc_xstrdup(c.api.context) : NULL;
  p->kube_config_path = c.api.kube_config_path ? pc_xstrdup(c.api.kube_config_path) : NULL;
  /* Attributes read besides the rules': the default rules' and the container's. */
  p->key_ip = key_slot(p, "k8s.pod.ip");
  p->key_bare_ip = key_slot(p, "ip");
  p->key_host = key_slot(p, "host.name");
  p->key_cname = key_slot(p, "k8s.container.name");
  p->key_cid = key_slot(p, "container.id");
  if (p->key_ip < 0 || p->key_bare_ip < 0 || p->key_host < 0 || p->key_cname < 0 ||
      p->key_cid < 0) {
    pc_cfg_error(err, c.pod_association, PC_EINVAL, "the rules read too many attributes");
    goto fail;
  }
  if (!p->passthrough) {
    if (plan_watches(p, &c, root, err)) goto fail;
    p->cache = pc__k8s_cache_new(&p->rules, p->id);
  }
  p->consumer.consume_profiles = k8sa_consume;
  p->consumer.retry_after_s = p->next->retry_after_s;
  return p;
fail:
  k8sa_destroy(p);
  return NULL;
}

static pc_consumer_t *k8sa_consumer(void *self) { return &((k8sa_t *)self)->consumer; }

/* ---- the client's callbacks ----------------------------------------------------------------------- */

static void on_object(void *arg, pc__k8s_event_t ev, json_t *obj) {
  wctx_t *w = arg;
  uint64_t now = w->p->loop ? uv_now(w->p->loop) : 1;
  pc__k8s_cache_object(w->p->cache, w->kind, ev, obj, now ? now : 1);
}

static void on_list_begin(void *arg) {
  wctx_t *w = arg;
  pc__k8s_cache_list_begin(w->p->cache, w->kind);
}

static void on_synced(void *arg) {
  wctx_t *w = arg;
  k8sa_t *p = w->p;
  uint64_t now = p->loop ? uv_now(p->loop) : 1;
  pc__k8s_cache_list_end(p->cache, w->kind, now ? now : 1);
  if (w->gave_up) {
    w->gave_up = false;
    pc__k8s_cache_stats_t st = pc__k8s_cache_stats(p->cache);
    uint64_t n = w->kind == PC__K8S_REPLICASETS  ? st.replicasets
                 : w->kind == PC__K8S_NAMESPACES ? st.namespaces
                                                 : st.nodes;
    pc_log(p->id, PC_LOG_INFO, "%s listed at last (%" PRIu64 "): adding %s from now on",
           w->what, n, w->without);
  }
  synced(p);
}

static void log_synced(k8sa_t *p) {
  if (p->synced_logged) return;
  p->synced_logged = true;
  pc__k8s_cache_stats_t st = pc__k8s_cache_stats(p->cache);
  pc_log(p->id, PC_LOG_INFO, "synced with the Kubernetes API: %" PRIu64 " pods (%" PRIu64
         " KiB cached), %" PRIu64 " replicasets, %" PRIu64 " namespaces, %" PRIu64 " nodes; "
         "adding pod metadata from now on", st.pods, st.bytes >> 10, st.replicasets,
         st.namespaces, st.nodes);
}

static void on_sweep(uv_timer_t *t) {
  k8sa_t *p = container_of(t, k8sa_t, sweep);
  pc__k8s_cache_sweep(p->cache, uv_now(p->loop), GRACE_MS);
  synced(p);
}

/* ---- lifecycle ------------------------------------------------------------------------------------ */

typedef struct {
  unsigned left;
} countdown_t;

static void count_down(void *arg) { ((countdown_t *)arg)->left--; }
static void deadline_fired(uv_timer_t *t) { *(bool *)t->data = true; }
static void tmp_closed(uv_handle_t *h) { (void)h; }

/* wait_for_metadata: list everything on a loop of our own, bounded, then
 * hand the watches over (they go on from the listed resourceVersion). */
static int sync_now(k8sa_t *p, pc_err_t *err) {
  uv_loop_t tmp;
  if (uv_loop_init(&tmp)) return pc_err_set(err, PC_EIO, "%s: cannot make a loop", p->id);
  pc__k8s_http_t *h = NULL;
  int rc = pc__k8s_http_open(&tmp, &p->api, &h, err);
  if (rc) {
    uv_loop_close(&tmp);
    return rc;
  }
  for (int i = 0; i < p->n_watches; i++) pc__k8s_watch_start(p->watches[i], &tmp, h);
  bool expired = false, deps_over = false;
  uv_timer_t deadline, deps;
  uv_timer_init(&tmp, &deadline);
  deadline.data = &expired;
  uv_timer_start(&deadline, deadline_fired, p->wait_ms, 0);
  /* Wake when the wait for the watches pods depend on ends (a watch that
   * fails may back off past it). */
  uv_timer_init(&tmp, &deps);
  deps.data = &deps_over;
  uv_timer_start(&deps, deadline_fired, DEPS_WAIT_MS + 1, 0);
  while (!expired && !synced(p)) uv_run(&tmp, UV_RUN_ONCE);
  bool ok = synced(p);
  /* Why: the pods' error first; else (a timeout under DEPS_WAIT_MS) that of
   * the first watch pods still wait for. */
  int miss = -1;
  for (int i = 0; !ok && i < p->n_watches; i++)
    if (!pc__k8s_watch_synced(p->watches[i]) &&
        (miss < 0 || (p->wctx[i].kind == PC__K8S_PODS && p->wctx[miss].kind != PC__K8S_PODS)))
      miss = i;
  char why[400] = "";
  if (miss >= 0) {
    const char *e = pc__k8s_watch_last_error(p->watches[miss]);
    bool pods = p->wctx[miss].kind == PC__K8S_PODS;
    snprintf(why, sizeof why, "no %s list within wait_for_metadata_timeout (%" PRIu64 " ms)%s%s",
             pods ? "pod" : p->wctx[miss].what, p->wait_ms, e[0] ? ": " : "", e);
  }
  countdown_t cd = {.left = (unsigned)p->n_watches + 1};
  for (int i = 0; i < p->n_watches; i++) pc__k8s_watch_stop(p->watches[i], count_down, &cd);
  pc__k8s_http_close(h, count_down, &cd);
  uv_close((uv_handle_t *)&deadline, tmp_closed);
  uv_close((uv_handle_t *)&deps, tmp_closed);
  while (cd.left) uv_run(&tmp, UV_RUN_ONCE);
  uv_run(&tmp, UV_RUN_DEFAULT);
  uv_loop_close(&tmp);
  if (!ok) return pc_err_set(err, PC_EIO, "%s: failed to wait for caches to sync: %s", p->id, why);
  return 0;
}

static int k8sa_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  k8sa_t *p = self;
  p->loop = loop;
  if (p->passthrough) {
    pc_log(p->id, PC_LOG_INFO, "passthrough: adding k8s.pod.ip from the connection only");
    return 0;
  }
  char why[512];
  if (pc__k8s_api_load(p->auth, p->context, p->kube_config_path, PC__K8S_SA_DIR, &p->api, why,
                       sizeof why))
    return pc_err_set(err, PC_EINVAL, "%s: %s", p->id, why);
  p->api_loaded = true;
  p->start_ms = pc_now_ms();
  pc_log(p->id, PC_LOG_INFO, "watching %d collections of the Kubernetes API (%s)%s",
         p->n_watches, p->api.where,
         p->wait ? "" : "; data passes unchanged until the pods are listed");
  if (p->wait) {
    int rc = sync_now(p, err);
    if (rc) return rc;
  }
  int rc = pc__k8s_http_open(loop, &p->api, &p->http, err);
  if (rc) return rc;
  for (int i = 0; i < p->n_watches; i++) pc__k8s_watch_start(p->watches[i], loop, p->http);
  uv_timer_init(loop, &p->sweep);
  p->sweep_on = true;
  /* With watches pods depend on, its first turn comes when their wait
   * ends, so that giving up on them is logged then, not with the next data. */
  uv_update_time(loop);
  uv_timer_start(&p->sweep, on_sweep, p->deps ? DEPS_WAIT_MS + 20 : SWEEP_MS, SWEEP_MS);
  return 0;
}

static void one_closed(void *arg) {
  k8sa_t *p = arg;
  if (--p->closing) return;
  pc_done_cb done = p->done;
  p->done = NULL;
  if (done) done(p->done_arg);
}

/* Every watch stopped: their GETs are gone, the transport can close. */
static void watch_stopped(void *arg) {
  k8sa_t *p = arg;
  if (--p->stopping) return;
  pc__k8s_http_t *h = p->http;
  p->http = NULL;
  pc__k8s_http_close(h, one_closed, p);
}

static void sweep_closed(uv_handle_t *h) { one_closed(container_of(h, k8sa_t, sweep)); }

static void k8sa_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)deadline_ms;
  k8sa_t *p = self;
  if (!p->http && !p->sweep_on) { /* not started, or passthrough: nothing on the loop */
    done(arg);
    return;
  }
  p->done = done;
  p->done_arg = arg;
  p->closing = 1; /* held until everything below is under way */
  if (p->sweep_on) {
    p->sweep_on = false;
    p->closing++;
    uv_close((uv_handle_t *)&p->sweep, sweep_closed);
  }
  if (p->http) {
    p->closing++; /* the transport's close, after the watches */
    p->stopping = p->n_watches + 1;
    for (int i = 0; i < p->n_watches; i++) pc__k8s_watch_stop(p->watches[i], watch_stopped, p);
    watch_stopped(p);
  }
  one_closed(p);
}

static void k8sa_destroy(void *self) {
  k8sa_t *p = self;
  if (!p) return;
  for (int i = 0; i < p->n_watches; i++) pc__k8s_watch_free(p->watches[i]);
  pc__k8s_cache_free(p->cache);
  if (p->api_loaded) pc__k8s_api_free(&p->api);
  for (size_t i = 0; i < p->rules.n_rules; i++) {
    free(p->rules.rules[i].tag_name);
    free(p->rules.rules[i].key);
    pc__regex_free(p->rules.rules[i].key_regex);
  }
  free(p->rules.rules);
  for (size_t i = 0; i < p->rules.n_exclude; i++) pc__regex_free(p->rules.exclude[i]);
  free(p->rules.exclude);
  for (int i = 0; i < p->n_keys; i++) free(p->keys[i]);
  free(p->context);
  free(p->kube_config_path);
  pc__amap_free(&p->map);
  free(p->marks);
  free(p->tc);
  free(p->one);
  free(p->groups);
  free(p->gid);
  free(p->out);
  free(p);
}

/* ---- self-telemetry ----------------------------------------------------------------------------- */

static void k8sa_metrics(void *self, pc_metrics_t *m) {
  k8sa_t *p = self;
  pc__k8s_cache_stats_t st = p->cache ? pc__k8s_cache_stats(p->cache) : (pc__k8s_cache_stats_t){0};
  pc__k8s_watch_stats_t ws = {0};
  for (int i = 0; i < p->n_watches; i++) {
    const pc__k8s_watch_stats_t *s = pc__k8s_watch_stats(p->watches[i]);
    ws.lists += s->lists;
    ws.relists_gone += s->relists_gone;
    ws.watches += s->watches;
    ws.events += s->events;
    ws.errors += s->errors;
  }
  pc_metrics_counter(m, "otelcol_otelsvc_k8s_pod_added", "pods added to the cache",
                     (double)st.added, NULL);
  pc_metrics_counter(m, "otelcol_otelsvc_k8s_pod_updated", "pods updated in the cache",
                     (double)st.updated, NULL);
  pc_metrics_counter(m, "otelcol_otelsvc_k8s_pod_deleted", "pods deleted (kept 2 minutes more)",
                     (double)st.deleted, NULL);
  pc_metrics_gauge(m, "otelcol_otelsvc_k8s_pod_table_size", "pods in the cache",
                   (double)st.pods, NULL);
  pc_metrics_gauge(m, "profcol_processor_k8s_attributes_cache_bytes",
                   "memory the cached pods, replicasets, namespaces, nodes and their indexes take",
                   (double)st.bytes, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_pods_refused",
                     "new pods not cached because the cache held max_pods", (double)st.refused,
                     NULL);
  if (p->node_watch) {
    pc_metrics_gauge(m, "profcol_processor_k8s_attributes_nodes", "nodes in the cache",
                     (double)st.nodes, NULL);
    pc_metrics_gauge(m, "profcol_processor_k8s_attributes_node_bytes",
                     "memory the cached nodes and their index take", (double)st.node_bytes, NULL);
    pc_metrics_counter(m, "profcol_processor_k8s_attributes_nodes_refused",
                       "new nodes not cached because the cache held max_nodes",
                       (double)st.nodes_refused, NULL);
  }
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_resources_associated",
                     "resource profiles given a pod's metadata", (double)p->associated, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_resources_unassociated",
                     "resource profiles no pod was found for", (double)p->unassociated, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_samples_regrouped",
                     "samples moved to the resource of their own pod (by sample attributes)",
                     (double)p->samples_moved, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_resources_split",
                     "resource profiles added by splitting a resource by pod",
                     (double)p->splits, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_unsynced_requests",
                     "requests passed unchanged before the pods were listed",
                     (double)p->unsynced, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_api_lists",
                     "lists (first, and after 410 Gone)", (double)ws.lists, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_api_gone",
                     "watches too old for the API server (410 Gone), listed again",
                     (double)ws.relists_gone, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_api_watches", "watches started",
                     (double)ws.watches, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_api_events", "watch events read",
                     (double)ws.events, NULL);
  pc_metrics_counter(m, "profcol_processor_k8s_attributes_api_errors",
                     "failed lists and watches (retried with backoff)", (double)ws.errors, NULL);
}

const pc_component_t pc_processor_k8s_attributes = {
    .type = "k8s_attributes",
    .deprecated_alias = "k8sattributes",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .mutates = true, /* adds resource attributes, splits resources */
    .stability = "development",
    .options = k8sa_opts,
    .create = k8sa_create,
    .consumer = k8sa_consumer,
    .start = k8sa_start,
    .shutdown = k8sa_shutdown,
    .destroy = k8sa_destroy,
    .metrics = k8sa_metrics,
};
