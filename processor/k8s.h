/* k8s.h - the Kubernetes API client of the processors: k8s_attributes lists
 * and watches pods (with replicasets and namespaces when its config needs
 * them, and nodes for `from: node` rules), resource_detection's k8s_api
 * detector reads its node once.
 *
 * One layer per file, each usable and testable alone:
 *
 *   k8s_api.c     where the API server is and how to prove who we are: the
 *                 Collector's auth_type (serviceAccount: the pod's token and
 *                 CA; kubeConfig: a kubeconfig's context; none)
 *   k8s_http.c    the transport: GETs whose answers stream in, on libcurl's
 *                 multi interface driven by the loop (component/curl.h;
 *                 nothing blocks it)
 *   k8s_stream.c  answers cut into objects: a list's items and a watch's
 *                 events one at a time, each bounded, for jansson
 *   k8s_watch.c   list, then watch, one collection (client-go's reflector):
 *                 resourceVersion, bookmarks, 410 Gone -> list again,
 *                 reconnects with backoff
 *   k8s_cache.c   what k8s_attributes keeps of pods, replicasets,
 *                 namespaces and nodes: only the fields its config asks for, indexed
 *                 for association, deleted pods kept for a grace period
 *
 * Threading: everything here belongs to one loop (the worker's); nothing is
 * shared between threads. */
#ifndef PC_PROCESSOR_K8S_H
#define PC_PROCESSOR_K8S_H

#include <jansson.h>
#include <uv.h>

#include "../component/curl.h"
#include "../config/config.h"
#include "../core/core.h"
#include "internal.h"

/* ---- API access (k8s_api.c) ------------------------------------------------------------ */

/* Where a pod finds its service account (the kubelet mounts it there). */
#define PC__K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef enum {
  PC__K8S_AUTH_SERVICE_ACCOUNT,
  PC__K8S_AUTH_KUBECONFIG,
  PC__K8S_AUTH_NONE,
} pc__k8s_auth_t;

/* The Collector's APIConfig keys, inside a component's config struct. */
typedef struct {
  char *auth_type;
  char *context;
  char *kube_config_path;
} pc__k8s_api_cfg_t;

#define PC__K8S_API_OPTS(st, m)                                                                \
  PC_OPT_STR("auth_type", "serviceAccount", st, m.auth_type,                                  \
             "how to reach the Kubernetes API: serviceAccount (the pod's token and CA, "      \
             "KUBERNETES_SERVICE_HOST), kubeConfig (a kubeconfig file's context) or none "     \
             "(no token, the server's certificate not checked)"),                            \
      PC_OPT_STR("context", NULL, st, m.context,                                               \
                 "kubeConfig: the context to use (default: the file's current-context)"),     \
      PC_OPT_STR("kube_config_path", NULL, st, m.kube_config_path,                             \
                 "kubeConfig: the file (default: the first of $KUBECONFIG, else "             \
                 "~/.kube/config)")

/* Check the keys at create: auth_type names one of the three (err at its
 * value, with file:line:col), context and kube_config_path only with
 * kubeConfig. section is the component's config node (for positions). */
int pc__k8s_api_parse(const pc__k8s_api_cfg_t *cfg, const pc_cfg_node_t *section,
                      pc__k8s_auth_t *out, pc_err_t *err);

/* The API server and the credentials, resolved at start. Owned strings. */
typedef struct {
  pc__k8s_auth_t auth;
  char *server;     /* "https://10.96.0.1:443", no trailing slash */
  char *token;      /* a fixed bearer token (kubeconfig), or NULL */
  char *token_file; /* a file holding it, read again every minute (the kubelet
                     * rotates service account tokens), or NULL */
  char *ca_file;    /* CA bundle file, or NULL */
  pc_buf_t ca_pem;  /* or the CA inline (kubeconfig certificate-authority-data) */
  char *cert_file, *key_file; /* client certificate (kubeconfig), or NULL */
  pc_buf_t cert_pem, key_pem; /* or inline */
  bool insecure;    /* do not verify the server (auth_type none, or the kubeconfig says so) */
  char *proxy;      /* kubeconfig proxy-url; NULL: no proxy (the API is in the cluster) */
  char where[384];  /* for logs: "service account, https://10.96.0.1:443" */
  /* the token read from token_file and when */
  char *file_token;
  uint64_t file_token_ms;
} pc__k8s_api_t;

/* Resolve auth at start: serviceAccount reads KUBERNETES_SERVICE_HOST and
 * _PORT and the files in sa_dir (PC__K8S_SA_DIR; tests give another);
 * kubeConfig reads kube_config_path (or $KUBECONFIG, or ~/.kube/config)
 * and the context's cluster and user; none only the environment. 0, or
 * PC_EINVAL/PC_EIO with why filled ("KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT must be set: not running in a pod?"). */
int pc__k8s_api_load(pc__k8s_auth_t auth, const char *context, const char *kube_config_path,
                     const char *sa_dir, pc__k8s_api_t *out, char *why, size_t cap);
void pc__k8s_api_free(pc__k8s_api_t *a);
/* The bearer token to send now (NULL: none): the fixed one, or token_file's
 * first line, read when older than a minute (a file that cannot be read
 * keeps the last token, why says so). */
const char *pc__k8s_api_token(pc__k8s_api_t *a, uint64_t now_ms, char *why, size_t cap);

/* ---- resource_detection's k8s_api detector (detectors.c) ---------------------------------- */

/* The Node the environment variable names, read from the API (auth as
 * k8s_attributes'), bounded by timeout_ms. */
typedef struct {
  pc__k8s_auth_t auth;
  char *context, *kube_config_path;
  const char *sa_dir; /* PC__K8S_SA_DIR; tests give another */
  char node_env[128];
  bool node_name, node_uid;
} pc__k8s_node_cfg_t;
/* 0, or PC_EINVAL (the variable is unset), PC_EIO (the API) with why. */
int pc__detect_k8s_node(const pc__k8s_node_cfg_t *cfg, uint64_t timeout_ms, pc__detected_t *out,
                        char *why, size_t cap);

/* ---- the transport (k8s_http.c) ----------------------------------------------------------
 * GETs against the API server whose answers are handed over as they
 * arrive (a watch never ends by itself). Implemented on libcurl's multi
 * interface (component/curl.h), one per client, driven by the loop:
 * connections are reused (HTTP/2 multiplexes every watch of a client over
 * one when the server speaks it). This is the one place of processor/ that
 * sets up libcurl's transfers. */

typedef struct pc__k8s_http pc__k8s_http_t;
typedef struct pc__k8s_get pc__k8s_get_t;

struct pc__k8s_get {
  /* Set by the owner before pc__k8s_get_start. */
  /* Body bytes as they come; status is the HTTP status (known by then).
   * Return 0 to go on, anything else to stop the transfer (on_done then
   * follows with that code). */
  int (*on_body)(pc__k8s_get_t *g, long status, const uint8_t *p, size_t n);
  /* Once, on the loop, unless cancelled: rc 0 when the whole answer came
   * (status: its HTTP status), else PC_EIO with why (no connection, TLS,
   * timeout), or on_body's code when it stopped the transfer. g's
   * retry_after_s then holds the answer's Retry-After (0: none). */
  void (*on_done)(pc__k8s_get_t *g, int rc, long status, const char *why);
  void *ud;
  /* Private. */
  pc_curl_xfer_t xfer; /* its easy handle; xfer.added while it runs */
  struct curl_slist *hdrs;
  pc__k8s_http_t *h;
  bool stopped;
  int stop_rc;
  long status;
  uint32_t retry_after_s;
  char errbuf[256];
  /* While libcurl loads off the loop (component/curl.h): the GET
   * asked for, started once it has. */
  pc_curl_wait_t wait;
  char *path;
  const char *accept; /* a string constant */
  uint64_t timeout_ms;
};

/* A transport for api on loop; nothing of it is on the loop until a GET
 * starts. PC_EIO with err when libcurl cannot start. */
int pc__k8s_http_open(uv_loop_t *loop, pc__k8s_api_t *api, pc__k8s_http_t **out, pc_err_t *err);
/* Start g: GET server + path (path holds the query, escaped). accept: the
 * Accept header (NULL: application/json), a string constant. timeout_ms
 * bounds the whole transfer (0: none; a list instead stops when nothing
 * came for a minute). 0, or PC_EIO with why (the token file, libcurl). The
 * process's first GET waits for libcurl's load off the loop, and a
 * failed load then ends it through on_done. */
int pc__k8s_get_start(pc__k8s_http_t *h, pc__k8s_get_t *g, const char *path, const char *accept,
                      uint64_t timeout_ms, char *why, size_t cap);
/* Stop g if it runs; on_done is not called. Safe on a GET never started. */
void pc__k8s_get_cancel(pc__k8s_get_t *g);
/* Close: every GET must have been cancelled or done. closed(arg) follows
 * from the last close callback (at once when nothing was on the loop). */
void pc__k8s_http_close(pc__k8s_http_t *h, void (*closed)(void *arg), void *arg);

/* ---- cutting answers into objects (k8s_stream.c) ----------------------------------------
 * A watch answer is a run of JSON objects (one event each, newline after
 * each as the API server writes them, but only the JSON matters here); a
 * list answer is one object whose "items" array may hold thousands of
 * objects: each is handed over alone, so memory is one object, not the
 * list. The splitter only finds where values begin and end (strings,
 * escapes, nesting); jansson then reads each piece, bounded by max. */

typedef enum { PC__K8S_SPLIT_EVENTS, PC__K8S_SPLIT_LIST } pc__k8s_split_mode_t;

typedef struct {
  pc__k8s_split_mode_t mode;
  size_t max; /* most bytes of one value handed over */
  /* A value: events: each event object (key NULL); list: each element of
   * "items" (key "items"), and every other member of the top object whole
   * (key its name: "metadata", "kind", ...). Return 0 to go on, or a
   * negative code to stop (feed returns it). */
  int (*emit)(void *arg, const char *key, const uint8_t *p, size_t n);
  void *arg;
  /* Private. */
  int state;
  int depth;
  bool in_str, esc, done;
  pc_buf_t cur;
  char key[64];
  size_t key_n;
  uint64_t offset; /* bytes fed so far, for errors */
} pc__k8s_split_t;

void pc__k8s_split_init(pc__k8s_split_t *s, pc__k8s_split_mode_t mode, size_t max,
                        int (*emit)(void *, const char *, const uint8_t *, size_t), void *arg);
/* Reuse s for a new answer, keeping its buffer. */
void pc__k8s_split_reset(pc__k8s_split_t *s);
void pc__k8s_split_free(pc__k8s_split_t *s);
/* Feed bytes in any pieces. 0, PC_EDECODE (not the JSON shape expected:
 * why says what and at which byte), PC_ELIMIT (a value over max), or
 * emit's code. After an error the rest of the answer is to be dropped. */
int pc__k8s_split_feed(pc__k8s_split_t *s, const uint8_t *p, size_t n, char *why, size_t cap);
/* The answer ended: PC_EDECODE when it stopped inside a value (a list:
 * before its closing brace). */
int pc__k8s_split_end(pc__k8s_split_t *s, char *why, size_t cap);

/* The largest object accepted from the API server. etcd refuses objects
 * over 1.5 MiB by default (--max-request-bytes), so anything bigger is not
 * a Kubernetes object; a watch event wraps one object. */
#define PC__K8S_MAX_OBJECT ((size_t)3 << 20)

/* json helpers: the string at a path of object keys (NULL-terminated), or
 * NULL when absent or not a string. */
const char *pc__k8s_jstr(const json_t *o, ...) __attribute__((sentinel));
/* The object at a path, or NULL. */
json_t *pc__k8s_jobj(const json_t *o, ...) __attribute__((sentinel));

/* ---- list and watch (k8s_watch.c) ------------------------------------------------------- */

typedef enum {
  PC__K8S_LISTED,   /* an object of a list (a full view is being built) */
  PC__K8S_ADDED,
  PC__K8S_MODIFIED,
  PC__K8S_DELETED,
} pc__k8s_event_t;

typedef struct {
  const char *what;      /* for logs: "pods", "replicasets" */
  const char *path;      /* the collection: "/api/v1/pods", "/api/v1/namespaces/NS/pods" */
  const char *selectors; /* "fieldSelector=...&labelSelector=..." (escaped), or NULL */
  bool metadata_only;    /* ask for PartialObjectMetadata: names, labels, owners only */
  const char *log_id;    /* the component's log prefix */
  const char *rbac;      /* for a 403: the rule it needs, "pods: get, list, watch" */
  /* Every object of a list, then every change; obj is borrowed for the call. */
  void (*on_object)(void *arg, pc__k8s_event_t ev, json_t *obj);
  /* A list starts: what it does not bring again is gone at on_synced. */
  void (*on_list_begin)(void *arg);
  /* The list ended: the cache holds the whole collection. */
  void (*on_synced)(void *arg);
  void *arg;
} pc__k8s_watch_spec_t;

typedef struct {
  uint64_t lists, relists_gone, watches, events, bookmarks, errors, bad_objects;
} pc__k8s_watch_stats_t;

typedef struct pc__k8s_watch pc__k8s_watch_t;

/* A reflector for spec (strings copied). Nothing runs until start. */
pc__k8s_watch_t *pc__k8s_watch_new(const pc__k8s_watch_spec_t *spec);
/* Run on loop through h: list (first time, or after 410 Gone), then watch
 * from the listed resourceVersion, again and again; errors back off from
 * 0.8 s to 30 s with jitter, as client-go's. Started again after a stop
 * (on another loop and transport), it goes on from where it was. */
void pc__k8s_watch_start(pc__k8s_watch_t *w, uv_loop_t *loop, pc__k8s_http_t *h);
/* Stop its GET and timer; stopped(arg) once its handles are closed. */
void pc__k8s_watch_stop(pc__k8s_watch_t *w, void (*stopped)(void *arg), void *arg);
void pc__k8s_watch_free(pc__k8s_watch_t *w);
/* Whether a list has completed (the collection is known). */
bool pc__k8s_watch_synced(const pc__k8s_watch_t *w);
const pc__k8s_watch_stats_t *pc__k8s_watch_stats(const pc__k8s_watch_t *w);
/* The last error, "" when none since the last success (for a start that
 * waits and gives up). */
const char *pc__k8s_watch_last_error(const pc__k8s_watch_t *w);

/* ---- what k8s_attributes keeps (k8s_cache.c) -------------------------------------------- */

/* A label or annotation extraction rule (extract.labels / .annotations). */
typedef enum { PC__K8S_FROM_POD, PC__K8S_FROM_NAMESPACE, PC__K8S_FROM_NODE } pc__k8s_from_t;
typedef struct {
  char *tag_name;          /* NULL: k8s.<from>.labels.<key> (or annotations); from node:
                            * k8s.node.labels.<key>, the Collector's name without its
                            * EmitV1K8sConventions gate, as for pods and namespaces */
  char *key;               /* the exact key, or NULL with */
  pc__regex_t *key_regex;  /* a pattern matched against the whole key */
  pc__k8s_from_t from;
  bool annotation;         /* else a label */
} pc__k8s_rule_t;

/* The metadata fields extract.metadata may name, as bits. */
enum {
  PC__K8S_M_NAMESPACE = 1u << 0,       /* k8s.namespace.name */
  PC__K8S_M_POD_NAME = 1u << 1,        /* k8s.pod.name */
  PC__K8S_M_POD_UID = 1u << 2,         /* k8s.pod.uid */
  PC__K8S_M_POD_START = 1u << 3,       /* k8s.pod.start_time */
  PC__K8S_M_POD_IP = 1u << 4,          /* k8s.pod.ip */
  PC__K8S_M_POD_HOSTNAME = 1u << 5,    /* k8s.pod.hostname */
  PC__K8S_M_DEPLOYMENT = 1u << 6,      /* k8s.deployment.name */
  PC__K8S_M_DEPLOYMENT_UID = 1u << 7,  /* k8s.deployment.uid */
  PC__K8S_M_REPLICASET = 1u << 8,      /* k8s.replicaset.name */
  PC__K8S_M_REPLICASET_UID = 1u << 9,  /* k8s.replicaset.uid */
  PC__K8S_M_STATEFULSET = 1u << 10,    /* k8s.statefulset.name */
  PC__K8S_M_STATEFULSET_UID = 1u << 11,
  PC__K8S_M_DAEMONSET = 1u << 12,      /* k8s.daemonset.name */
  PC__K8S_M_DAEMONSET_UID = 1u << 13,
  PC__K8S_M_JOB = 1u << 14,            /* k8s.job.name */
  PC__K8S_M_JOB_UID = 1u << 15,
  PC__K8S_M_CRONJOB = 1u << 16,        /* k8s.cronjob.name (from the job's name) */
  PC__K8S_M_NODE = 1u << 17,           /* k8s.node.name */
  PC__K8S_M_CONTAINER_NAME = 1u << 18, /* k8s.container.name */
  PC__K8S_M_CONTAINER_ID = 1u << 19,   /* container.id */
  PC__K8S_M_IMAGE_NAME = 1u << 20,     /* container.image.name */
  PC__K8S_M_IMAGE_TAG = 1u << 21,      /* container.image.tag */
  PC__K8S_M_SERVICE_NAME = 1u << 22,   /* service.name */
  PC__K8S_M_SERVICE_VERSION = 1u << 23,
  PC__K8S_M_SERVICE_NAMESPACE = 1u << 24,
  PC__K8S_M_SERVICE_INSTANCE = 1u << 25, /* service.instance.id */
  PC__K8S_M_NODE_UID = 1u << 26,       /* k8s.node.uid (from the watched node) */
};

typedef struct {
  uint32_t metadata;     /* PC__K8S_M_* */
  pc__k8s_rule_t *rules; /* labels and annotations, in config order (labels first) */
  size_t n_rules;
  bool otel_annotations;           /* resource.opentelemetry.io/<key> annotations */
  bool deployment_from_replicaset; /* deployment name by trimming the replicaset's */
  pc__regex_t **exclude;           /* exclude.pods names (anchored) */
  size_t n_exclude;
  uint64_t max_pods; /* pods the cache holds at most (deleted ones in their grace
                      * included); a new pod past it is refused; 0: no bound */
  uint64_t max_nodes; /* nodes the cache holds at most; a new node past it is
                       * refused (its pods get no node labels); 0: no bound */
} pc__k8s_rules_t;

/* A name/value pair a pod or namespace gives (an extracted label, ...). */
typedef struct {
  const char *key, *value;
} pc__k8s_kv_t;

typedef struct {
  const char *name;        /* spec and status name */
  const char *id;          /* current container id without the runtime:// prefix, or NULL */
  const char *last_id;     /* the one before the last restart, or NULL */
  const char *image_name;  /* repository, docker.io/library/ added as the Collector does */
  const char *image_tag;   /* "latest" when the image names neither tag nor digest */
  const char *version;     /* service.version from the image: tag, digest or tag@digest */
} pc__k8s_container_t;

typedef struct pc__k8s_pod {
  const char *uid, *name, *ns, *created, *hostname, *ip, *ip2;
  const char *node; /* spec.nodeName: kept for k8s.node.name and the node's pairs */
  const char *ns_name; /* "ns/name": the name index's key */
  const char *owner_kind, *owner_name, *owner_uid; /* the controller owner, or NULL */
  const char *svc_name_label;    /* app.kubernetes.io/instance, else /name */
  const char *svc_version_label; /* app.kubernetes.io/version */
  bool host_network, ignore;
  pc__k8s_kv_t *extracted; /* pod labels, then annotations, the rules take */
  uint32_t n_extracted;
  uint32_t n_label_kv;     /* how many of them come from labels */
  pc__k8s_container_t *containers;
  uint32_t n_containers;
  uint64_t deleted_ms; /* when it was deleted (kept for a grace period), 0: alive */
  uint32_t gen;        /* the list it was last seen in */
  size_t bytes;        /* what it takes in memory */
  /* The user's memo (k8s_attributes: the attributes this pod adds, built on
   * first use): one malloc'd block set by pc__k8s_pod_set_memo, freed with
   * the pod. A changed pod is a new pod (a new blob), so a memo never
   * outlives what it was built from; replicasets, namespaces and nodes are
   * covered by pc__k8s_cache_owner_gen. */
  void *memo;
  size_t memo_bytes;
} pc__k8s_pod_t;

typedef struct {
  uint64_t pods, pod_bytes, memo_bytes, namespaces, replicasets, nodes, node_bytes, bytes;
  uint64_t added, updated, deleted, evicted, dropped_fields, bad;
  uint64_t refused;       /* new pods not cached: max_pods reached */
  uint64_t nodes_refused; /* new nodes not cached: max_nodes reached */
} pc__k8s_cache_stats_t;

typedef struct pc__k8s_cache pc__k8s_cache_t;

/* A cache keeping what rules ask for (borrowed: the caller keeps rules
 * alive); log_id names it in warnings. */
pc__k8s_cache_t *pc__k8s_cache_new(const pc__k8s_rules_t *rules, const char *log_id);
void pc__k8s_cache_free(pc__k8s_cache_t *c);

typedef enum { PC__K8S_PODS, PC__K8S_REPLICASETS, PC__K8S_NAMESPACES, PC__K8S_NODES } pc__k8s_kind_t;

/* An object from the API (a reflector's on_object). now_ms dates deletions.
 * Objects that are not what they should be (no uid, no name) are counted
 * in bad and ignored. */
void pc__k8s_cache_object(pc__k8s_cache_t *c, pc__k8s_kind_t kind, pc__k8s_event_t ev,
                          const json_t *obj, uint64_t now_ms);
/* A list of kind starts / ended: what it did not bring is deleted (pods are
 * kept for the grace period like any deleted pod). */
void pc__k8s_cache_list_begin(pc__k8s_cache_t *c, pc__k8s_kind_t kind);
void pc__k8s_cache_list_end(pc__k8s_cache_t *c, pc__k8s_kind_t kind, uint64_t now_ms);
/* Forget pods deleted more than grace_ms ago. */
void pc__k8s_cache_sweep(pc__k8s_cache_t *c, uint64_t now_ms, uint64_t grace_ms);

/* Lookups (NULL when unknown). A deleted pod is found until it is swept,
 * so data that comes late still gets its metadata. ip and uid are exact;
 * by_container sets *ci to the container's index. */
const pc__k8s_pod_t *pc__k8s_pod_by_uid(const pc__k8s_cache_t *c, pc_str_t uid);
const pc__k8s_pod_t *pc__k8s_pod_by_ip(const pc__k8s_cache_t *c, pc_str_t ip);
const pc__k8s_pod_t *pc__k8s_pod_by_container(const pc__k8s_cache_t *c, pc_str_t id,
                                              uint32_t *ci);
const pc__k8s_pod_t *pc__k8s_pod_by_name(const pc__k8s_cache_t *c, pc_str_t ns, pc_str_t name);
/* The deployment a replicaset belongs to: name and uid, or false. */
bool pc__k8s_replicaset_deployment(const pc__k8s_cache_t *c, const char *rs_uid,
                                   const char **name, const char **uid);
/* A namespace's extracted pairs (n 0 when none or unknown). */
const pc__k8s_kv_t *pc__k8s_namespace_attrs(const pc__k8s_cache_t *c, pc_str_t ns, uint32_t *n);
/* A node's extracted pairs and uid: false (*kv NULL, *n 0, *uid NULL) when
 * the node is not cached (not listed yet, refused, or never watched). */
bool pc__k8s_node(const pc__k8s_cache_t *c, pc_str_t name, const pc__k8s_kv_t **kv, uint32_t *n,
                  const char **uid);
pc__k8s_cache_stats_t pc__k8s_cache_stats(const pc__k8s_cache_t *c);
/* Counts changes of replicasets, namespaces and nodes (what a pod's
 * metadata reads besides the pod): a memo built at another value is stale.
 * A namespace or node event that leaves its extracted pairs and uid as they
 * were (a node's status heartbeat) does not count. */
uint32_t pc__k8s_cache_owner_gen(const pc__k8s_cache_t *c);
/* Give pod (found by a lookup) memo, a malloc'd block of bytes, freeing the
 * one it had; the cache frees it with the pod and counts it in bytes. */
void pc__k8s_pod_set_memo(pc__k8s_cache_t *c, const pc__k8s_pod_t *pod, void *memo, size_t bytes);

/* The image's parts as the Collector's parser gives them ("nginx:1.25" ->
 * "docker.io/library/nginx", "1.25"; "latest" when neither tag nor digest
 * is named, "" for a digest alone) and service.version from it (tag,
 * digest or tag@digest; "" when neither): false for an image it refuses
 * (upper case, empty parts). */
bool pc__k8s_parse_image(const char *image, char *name, size_t name_cap, char *tag,
                         size_t tag_cap, char *version, size_t version_cap);
/* The deployment name a replicaset name implies (its last "-hash" cut, when
 * hash looks like one), into out; false when it does not. */
bool pc__k8s_deployment_of_replicaset(const char *rs, char *out, size_t cap);

#endif
