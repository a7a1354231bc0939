/* test_k8s.c - the Kubernetes client and k8s_attributes (processor/k8s*.c):
 *
 *   k8s_stream      the splitter: lists cut into items, watch streams into
 *                   events, however the bytes arrive; every malformed shape
 *   k8s_cache       pods, replicasets and namespaces from API objects: the
 *                   indexes, hostNetwork, IP reuse, deletion with grace, a
 *                   new list dropping what it lacks, the per-pod bound,
 *                   label/annotation rules, image and replicaset names
 *   k8s_api         a service account directory and kubeconfigs
 *   k8s_attributes  every config key's errors, exactly; then the processor
 *                   against the stand-in API server (tests/k8s/apiserver.py)
 *                   on a real loop: association by connection, resource
 *                   attributes and sample attributes (splitting), pass-through
 *                   before sync, wait_for_metadata, 410 Gone, cut watches, the
 *                   server down and back, and resource_detection's k8s_api
 *                   detector. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../core/log.h"
#include "../../core/metrics.h"
#include "../../processor/k8s.h"
#include "../k8s/standin.h"
#include "common.h"

/* ---- k8s_stream ---------------------------------------------------------------------------- */

typedef struct {
  char got[16][512];
  int n;
} pieces_t;

static int collect(void *arg, const char *key, const uint8_t *p, size_t n) {
  pieces_t *c = arg;
  if (c->n < 16)
    snprintf(c->got[c->n++], sizeof c->got[0], "%s=%.*s", key ? key : "-", (int)n, (const char *)p);
  return 0;
}

/* Feed text in pieces of step bytes (0: whole); the pieces as "key=value|..". */
static const char *split_all(pc__k8s_split_mode_t mode, const char *text, size_t step, size_t max,
                             int *rc, char *why) {
  static char out[4096];
  pieces_t c = {0};
  pc__k8s_split_t s;
  pc__k8s_split_init(&s, mode, max, collect, &c);
  size_t n = strlen(text);
  *rc = 0;
  why[0] = 0;
  for (size_t i = 0; i < n && !*rc; i += step ? step : n)
    *rc = pc__k8s_split_feed(&s, (const uint8_t *)text + i, step && n - i > step ? step : n - i,
                             why, 300);
  if (!*rc) *rc = pc__k8s_split_end(&s, why, 300);
  pc__k8s_split_free(&s);
  size_t o = 0;
  out[0] = 0;
  for (int i = 0; i < c.n; i++) o += (size_t)snprintf(out + o, sizeof out - o, "%s|", c.got[i]);
  return out;
}

START_TEST(k8s_stream_cuts_lists_and_events_however_bytes_arrive) {
  const char *list =
      " {\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"57\","
      "\"continue\":\"eyJ9\"},\"items\":[ {\"a\":\"}{\\\"]\"} , {\"b\":[1,{\"c\":[]}]},\n"
      "{\"d\":\"\\\\\"}],\"n\":-1.5e3,\"t\":true}\r\n";
  const char *want = "kind=\"PodList\"|apiVersion=\"v1\"|metadata={\"resourceVersion\":\"57\","
                     "\"continue\":\"eyJ9\"}|items={\"a\":\"}{\\\"]\"}|items={\"b\":[1,{\"c\":[]}]}|"
                     "items={\"d\":\"\\\\\"}|n=-1.5e3|t=true|";
  int rc;
  char why[300];
  for (size_t step = 0; step <= 7; step++) { /* whole, then every split point */
    ck_assert_str_eq(split_all(PC__K8S_SPLIT_LIST, list, step, 4096, &rc, why), want);
    ck_assert_msg(rc == 0, "step %zu: %s", step, why);
  }
  ck_assert_str_eq(split_all(PC__K8S_SPLIT_LIST, "{\"items\":[]}", 1, 64, &rc, why), "");
  ck_assert_int_eq(rc, 0);
  ck_assert_str_eq(split_all(PC__K8S_SPLIT_LIST, "{}", 0, 64, &rc, why), "");
  ck_assert_int_eq(rc, 0);
  const char *events = "{\"type\":\"ADDED\",\"object\":{\"s\":\"a\\\"}b\"}}\n"
                       "{\"type\":\"BOOKMARK\",\"object\":{}}\n\n";
  for (size_t step = 0; step <= 3; step++) {
    ck_assert_str_eq(split_all(PC__K8S_SPLIT_EVENTS, events, step, 4096, &rc, why),
                     "-={\"type\":\"ADDED\",\"object\":{\"s\":\"a\\\"}b\"}}|"
                     "-={\"type\":\"BOOKMARK\",\"object\":{}}|");
    ck_assert_int_eq(rc, 0);
  }
}
END_TEST

START_TEST(k8s_stream_refuses_what_is_not_the_shape_it_expects) {
  static const struct {
    pc__k8s_split_mode_t mode;
    const char *text;
    int rc;
    const char *why;
  } bad[] = {
      {PC__K8S_SPLIT_LIST, "[1]", PC_EDECODE, "expected a list object, got '[' at byte 0 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"items\":[{\"a\":1}", PC_EDECODE,
       "the answer ended inside the list at byte 17 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"items\":[{\"a\":1}", PC_EDECODE,
       "the answer ended inside the list at byte 17 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"items\":[{\"a\":\"cut", PC_EDECODE,
       "the answer ended inside an object at byte 19 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"items\":[,]}", PC_EDECODE,
       "expected an item, got ',' at byte 10 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"a\" 1}", PC_EDECODE, "expected ':', got '1' at byte 5 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"a\":1 \"b\":2}", PC_EDECODE,
       "expected ',' or '}', got '\"' at byte 7 of the list"},
      {PC__K8S_SPLIT_LIST, "{1:2}", PC_EDECODE, "expected a member name, got '1' at byte 1 of the list"},
      {PC__K8S_SPLIT_LIST, "{} {}", PC_EDECODE, "'{' after the list's end at byte 3 of the list"},
      {PC__K8S_SPLIT_LIST, "{\"items\":[{\"x\":\"0123456789012345678901234567890123456789\"}]}",
       PC_ELIMIT, "an object over 32 bytes at byte 42 of the list"},
      {PC__K8S_SPLIT_EVENTS, "{\"type\":\"ADDED\"}\nnull\n", PC_EDECODE,
       "expected an event object, got 'n' at byte 17 of the watch stream"},
      {PC__K8S_SPLIT_EVENTS, "{\"type\":\"ADD", PC_EDECODE,
       "the answer ended inside an object at byte 12 of the watch stream"},
      {PC__K8S_SPLIT_EVENTS, "\x01", PC_EDECODE,
       "expected an event object, got 0x01 at byte 0 of the watch stream"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc;
    char why[300];
    split_all(bad[i].mode, bad[i].text, 0, 32, &rc, why);
    ck_assert_msg(rc == bad[i].rc, "%s: rc %d", bad[i].text, rc);
    ck_assert_str_eq(why, bad[i].why);
    /* The same, fed a byte at a time (the offsets are of the answer). */
    split_all(bad[i].mode, bad[i].text, 1, 32, &rc, why);
    ck_assert_msg(rc == bad[i].rc, "%s bytewise: rc %d", bad[i].text, rc);
  }
}
END_TEST

/* ---- k8s_cache ------------------------------------------------------------------------------ */

/* A Pod object as the API gives it (the fields the cache reads, and some it must skip). */
static json_t *pod_json(const char *ns, const char *name, const char *uid, const char *ip,
                        const char *created, const char *cid, bool host_network) {
  json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, "
                        "s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:b}], s:[{s:s}]}, "
                        "s:{s:s, s:b, s:[{s:s, s:s}, {s:s, s:s}]}, "
                        "s:{s:s, s:s, s:[{s:s}], s:[{s:s, s:s, s:i, s:{s:{s:s}}}]}}",
                        "kind", "Pod", "apiVersion", "v1", "metadata", "name", name, "namespace",
                        ns, "uid", uid, "creationTimestamp", created, "labels", "app", name,
                        "app.kubernetes.io/name", "shop", "team", "perf", "annotations",
                        "git.sha", "c0ffee", "note", "x", "resource.opentelemetry.io/service.name",
                        "from-annotation", "ownerReferences", "kind", "ReplicaSet", "name",
                        "web-7d4f8b9c5c", "uid", "rs-uid-1", "controller", 1, "managedFields",
                        "manager", "kubelet", "spec", "nodeName", "node-1", "hostNetwork",
                        host_network, "containers", "name", "app", "image", "nginx:1.25", "name",
                        "side", "image", "quay.io/org/envoy@sha256:abcd", "status", "phase",
                        "Running", "podIP", ip, "podIPs", "ip", ip, "containerStatuses", "name",
                        "app", "containerID", cid, "restartCount", 1, "lastState", "terminated",
                        "containerID", "containerd://old-one");
  ck_assert_ptr_nonnull(o);
  return o;
}

static pc__k8s_rules_t cache_rules(void) {
  static pc__regex_t *re;
  static pc__k8s_rule_t r[3];
  if (!re) {
    pc_cfg_node_t n = {.type = PC_CFG_SCALAR, .text = "app\\.kubernetes\\.io/(?P<what>.+)"};
    pc_err_t err;
    re = pc__regex_compile_whole(&n, &err);
    r[0] = (pc__k8s_rule_t){.tag_name = "team", .key = "team"};
    r[1] = (pc__k8s_rule_t){.tag_name = "k.$what.${1}$$", .key_regex = re};
    r[2] = (pc__k8s_rule_t){.key = "git.sha", .annotation = true};
  }
  return (pc__k8s_rules_t){.metadata = ~0u, .rules = r, .n_rules = 3, .otel_annotations = true};
}

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

START_TEST(k8s_cache_indexes_pods_by_uid_ip_container_and_name) {
  pc__k8s_rules_t rules = cache_rules();
  pc__k8s_cache_t *c = pc__k8s_cache_new(&rules, "test");
  json_t *a = pod_json("shop", "web-1", "uid-a", "10.1.0.5", "2026-01-01T00:00:00Z",
                       "containerd://cid-a", false);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, a, 1000);
  const pc__k8s_pod_t *p = pc__k8s_pod_by_uid(c, S("uid-a"));
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_eq(pc__k8s_pod_by_ip(c, S("10.1.0.5")), p);
  uint32_t ci = 9;
  ck_assert_ptr_eq(pc__k8s_pod_by_container(c, S("cid-a"), &ci), p);
  ck_assert_uint_eq(ci, 0);
  ck_assert_ptr_eq(pc__k8s_pod_by_container(c, S("old-one"), &ci), p); /* before its restart */
  ck_assert_ptr_eq(pc__k8s_pod_by_name(c, S("shop"), S("web-1")), p);
  ck_assert_ptr_null(pc__k8s_pod_by_name(c, S("other"), S("web-1")));
  ck_assert_str_eq(p->owner_kind, "ReplicaSet");
  ck_assert_str_eq(p->owner_name, "web-7d4f8b9c5c");
  ck_assert_str_eq(p->node, "node-1");
  ck_assert_str_eq(p->created, "2026-01-01T00:00:00Z");
  ck_assert_str_eq(p->svc_name_label, "shop");
  ck_assert_uint_eq(p->n_containers, 2);
  ck_assert_str_eq(p->containers[0].image_name, "docker.io/library/nginx");
  ck_assert_str_eq(p->containers[0].image_tag, "1.25");
  ck_assert_str_eq(p->containers[1].image_name, "quay.io/org/envoy");
  ck_assert_ptr_null(p->containers[1].image_tag);
  ck_assert_str_eq(p->containers[1].version, "sha256:abcd");
  /* Rules: the label by key, the regex rule with its expansion ($what,
   * ${1}, $$), the annotation with its default name, the OTel annotation. */
  char kv[512] = "";
  for (uint32_t i = 0; i < p->n_extracted; i++)
    snprintf(kv + strlen(kv), sizeof kv - strlen(kv), "%s=%s;", p->extracted[i].key,
             p->extracted[i].value);
  ck_assert_str_eq(kv, "team=perf;k.name.name$=shop;k8s.pod.annotations.git.sha=c0ffee;"
                       "service.name=from-annotation;");
  ck_assert_uint_eq(p->n_label_kv, 2);

  /* A newer pod takes the IP; an update of the old one does not take it back. */
  json_t *b = pod_json("shop", "web-2", "uid-b", "10.1.0.5", "2026-01-02T00:00:00Z",
                       "containerd://cid-b", false);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, b, 1000);
  ck_assert_str_eq(pc__k8s_pod_by_ip(c, S("10.1.0.5"))->uid, "uid-b");
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_MODIFIED, a, 1000);
  ck_assert_str_eq(pc__k8s_pod_by_ip(c, S("10.1.0.5"))->uid, "uid-b");
  ck_assert_str_eq(pc__k8s_pod_by_uid(c, S("uid-a"))->uid, "uid-a");

  /* hostNetwork pods have the node's IP: never found by it. */
  json_t *h = pod_json("kube-system", "proxy", "uid-h", "10.0.0.1", "2026-01-03T00:00:00Z",
                       "containerd://cid-h", true);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, h, 1000);
  ck_assert_ptr_null(pc__k8s_pod_by_ip(c, S("10.0.0.1")));
  ck_assert_ptr_nonnull(pc__k8s_pod_by_container(c, S("cid-h"), NULL));

  /* Deleted: still found within the grace period, gone after it. */
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_DELETED, b, 5000);
  ck_assert_ptr_nonnull(pc__k8s_pod_by_uid(c, S("uid-b")));
  pc__k8s_cache_sweep(c, 5000 + 119999, 120000);
  ck_assert_ptr_nonnull(pc__k8s_pod_by_ip(c, S("10.1.0.5")));
  pc__k8s_cache_sweep(c, 5000 + 120000, 120000);
  ck_assert_ptr_null(pc__k8s_pod_by_uid(c, S("uid-b")));
  ck_assert_ptr_null(pc__k8s_pod_by_ip(c, S("10.1.0.5"))); /* uid-a lost it to b */
  ck_assert_ptr_null(pc__k8s_pod_by_container(c, S("cid-b"), NULL));
  pc__k8s_cache_stats_t st = pc__k8s_cache_stats(c);
  ck_assert_uint_eq(st.pods, 2);
  ck_assert_uint_eq(st.added, 3);
  ck_assert_uint_eq(st.updated, 1);
  ck_assert_uint_eq(st.deleted, 1);
  ck_assert_uint_eq(st.evicted, 1);

  /* A new list without pod a: a is deleted then (kept for the grace). */
  pc__k8s_cache_list_begin(c, PC__K8S_PODS);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_LISTED, h, 9000);
  pc__k8s_cache_list_end(c, PC__K8S_PODS, 9000);
  ck_assert_ptr_nonnull(pc__k8s_pod_by_uid(c, S("uid-a")));
  pc__k8s_cache_sweep(c, 9000 + 120000, 120000);
  ck_assert_ptr_null(pc__k8s_pod_by_uid(c, S("uid-a")));
  ck_assert_ptr_nonnull(pc__k8s_pod_by_uid(c, S("uid-h")));

  /* Bounded: with max_pods 2 (h, and a added again), a third new pod is
   * refused and counted; an update of a cached one still applies. */
  rules.max_pods = 2;
  json_t *b2 = pod_json("shop", "web-3", "uid-c", "10.1.0.8", "2026-01-04T00:00:00Z",
                        "containerd://cid-c", false);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, a, 9500);
  ck_assert_uint_eq(pc__k8s_cache_stats(c).pods, 2);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, b2, 9500);
  ck_assert_ptr_null(pc__k8s_pod_by_uid(c, S("uid-c")));
  ck_assert_uint_eq(pc__k8s_cache_stats(c).refused, 1);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_MODIFIED, h, 9500);
  ck_assert_ptr_nonnull(pc__k8s_pod_by_uid(c, S("uid-h")));
  ck_assert_uint_eq(pc__k8s_cache_stats(c).refused, 1);
  rules.max_pods = 0;
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, b2, 9500);
  ck_assert_ptr_nonnull(pc__k8s_pod_by_uid(c, S("uid-c")));
  json_decref(b2);

  /* Objects without uid or name are counted and ignored. */
  json_t *junk = json_pack("{s:{s:s}}", "metadata", "name", "x");
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, junk, 1);
  ck_assert_uint_eq(pc__k8s_cache_stats(c).bad, 1);
  json_decref(junk);
  json_decref(a);
  json_decref(b);
  json_decref(h);
  pc__k8s_cache_free(c);
}
END_TEST

START_TEST(k8s_cache_bounds_a_pod_and_keeps_replicasets_and_namespaces) {
  pc_cfg_node_t n = {.type = PC_CFG_SCALAR, .text = ".*"};
  pc_err_t err;
  pc__regex_t *all = pc__regex_compile_whole(&n, &err);
  pc__k8s_rule_t r[2] = {{.key_regex = all, .annotation = true},
                         {.tag_name = "ns.team", .key = "team", .from = PC__K8S_FROM_NAMESPACE}};
  pc__k8s_rules_t rules = {.metadata = PC__K8S_M_POD_NAME, .rules = r, .n_rules = 2};
  pc__k8s_cache_t *c = pc__k8s_cache_new(&rules, "test");
  json_t *pod = pod_json("shop", "big", "uid-big", "10.9.9.9", "2026-01-01T00:00:00Z", "c", false);
  json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
  char key[32], *val = malloc(5000);
  memset(val, 'v', 4999);
  val[4999] = 0;
  for (int i = 0; i < 40; i++) { /* 200 KB of annotations: more than a pod may keep */
    snprintf(key, sizeof key, "big-%02d", i);
    json_object_set_new(ann, key, json_string(val));
  }
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, pod, 1);
  const pc__k8s_pod_t *p = pc__k8s_pod_by_uid(c, S("uid-big"));
  ck_assert_ptr_nonnull(p);
  ck_assert_uint_lt(p->bytes, 70000);
  ck_assert_uint_gt(p->n_extracted, 5);
  ck_assert_uint_eq(pc__k8s_cache_stats(c).dropped_fields, 1);
  free(val);
  json_decref(pod);

  json_t *rs = json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}", "metadata", "name", "web-abc",
                         "uid", "rs-1", "ownerReferences", "kind", "Deployment", "name", "web",
                         "uid", "dep-1");
  pc__k8s_cache_object(c, PC__K8S_REPLICASETS, PC__K8S_ADDED, rs, 1);
  const char *dn, *du;
  ck_assert(pc__k8s_replicaset_deployment(c, "rs-1", &dn, &du));
  ck_assert_str_eq(dn, "web");
  ck_assert_str_eq(du, "dep-1");
  pc__k8s_cache_list_begin(c, PC__K8S_REPLICASETS); /* a list without it: gone */
  pc__k8s_cache_list_end(c, PC__K8S_REPLICASETS, 2);
  ck_assert(!pc__k8s_replicaset_deployment(c, "rs-1", &dn, &du));
  json_decref(rs);

  json_t *ns = json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", "shop", "labels", "team", "perf");
  pc__k8s_cache_object(c, PC__K8S_NAMESPACES, PC__K8S_ADDED, ns, 1);
  uint32_t nkv;
  const pc__k8s_kv_t *kv = pc__k8s_namespace_attrs(c, S("shop"), &nkv);
  ck_assert_uint_eq(nkv, 1);
  ck_assert_str_eq(kv[0].key, "ns.team");
  ck_assert_str_eq(kv[0].value, "perf");
  pc__k8s_cache_object(c, PC__K8S_NAMESPACES, PC__K8S_DELETED, ns, 1);
  ck_assert_ptr_null(pc__k8s_namespace_attrs(c, S("shop"), &nkv));
  json_decref(ns);
  pc__k8s_cache_free(c);
  pc__regex_free(all);
}
END_TEST

/* A Node as a metadata-only watch gives it. */
static json_t *node_json(const char *name, const char *uid, const char *zone, const char *owner) {
  json_t *o = json_pack("{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}}}", "kind",
                        "PartialObjectMetadata", "metadata", "name", name, "uid", uid,
                        "resourceVersion", "1", "labels", "kubernetes.io/hostname", name,
                        "topology.kubernetes.io/zone", zone, "kubernetes.io/arch", "amd64",
                        "annotations", "team.example.com/owner", owner,
                        "node.alpha.kubernetes.io/ttl", "0");
  ck_assert_ptr_nonnull(o);
  return o;
}

static const char *node_text(const pc__k8s_cache_t *c, const char *name) {
  static char out[512];
  const pc__k8s_kv_t *kv;
  uint32_t n;
  const char *uid;
  if (!pc__k8s_node(c, S(name), &kv, &n, &uid)) return "(none)";
  snprintf(out, sizeof out, "uid=%s;", uid ? uid : "-");
  for (uint32_t i = 0; i < n; i++)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s=%s;", kv[i].key, kv[i].value);
  return out;
}

/* Nodes: the pairs the from: node rules take and the uid, keyed by name; a
 * change of them makes memos stale (owner_gen), an event that changes
 * nothing they take (a status heartbeat) does not; bounded in count and in
 * bytes per node. Prints the memory per cached node. */
START_TEST(k8s_cache_keeps_nodes_and_counts_their_changes) {
  pc_cfg_node_t n = {.type = PC_CFG_SCALAR, .text = "node\\.kubernetes\\.io/(.+)"};
  pc_err_t err;
  pc__regex_t *re = pc__regex_compile_whole(&n, &err);
  ck_assert_ptr_nonnull(re);
  pc__k8s_rule_t r[3] = {
      {.tag_name = "cloud.availability_zone", .key = "topology.kubernetes.io/zone",
       .from = PC__K8S_FROM_NODE},
      {.key = "team.example.com/owner", .annotation = true, .from = PC__K8S_FROM_NODE},
      {.tag_name = "node.$1", .key_regex = re, .from = PC__K8S_FROM_NODE}};
  pc__k8s_rules_t rules = {.metadata = PC__K8S_M_POD_NAME | PC__K8S_M_NODE_UID, .rules = r,
                           .n_rules = 3};
  pc__k8s_cache_t *c = pc__k8s_cache_new(&rules, "test");
  ck_assert_str_eq(node_text(c, "node-1"), "(none)");
  uint32_t g0 = pc__k8s_cache_owner_gen(c);
  json_t *a = node_json("node-1", "uid-n1", "eu-west-1a", "infra");
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_ADDED, a, 1);
  ck_assert_str_eq(node_text(c, "node-1"),
                   "uid=uid-n1;cloud.availability_zone=eu-west-1a;"
                   "k8s.node.annotations.team.example.com/owner=infra;");
  ck_assert_uint_ne(pc__k8s_cache_owner_gen(c), g0);
  /* A heartbeat: the object changed, nothing the rules take did. */
  uint32_t g1 = pc__k8s_cache_owner_gen(c);
  json_object_set_new(json_object_get(a, "metadata"), "resourceVersion", json_string("2"));
  json_object_set_new(json_object_get(json_object_get(a, "metadata"), "labels"),
                      "kubernetes.io/os", json_string("linux"));
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_MODIFIED, a, 1);
  ck_assert_uint_eq(pc__k8s_cache_owner_gen(c), g1);
  /* A label the rules take changed. */
  json_object_set_new(json_object_get(json_object_get(a, "metadata"), "labels"),
                      "topology.kubernetes.io/zone", json_string("eu-west-1b"));
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_MODIFIED, a, 1);
  ck_assert_uint_ne(pc__k8s_cache_owner_gen(c), g1);
  ck_assert(strstr(node_text(c, "node-1"), "cloud.availability_zone=eu-west-1b;"));
  /* The regex rule, with $1. */
  json_object_set_new(json_object_get(json_object_get(a, "metadata"), "labels"),
                      "node.kubernetes.io/pool", json_string("spot"));
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_MODIFIED, a, 1);
  ck_assert(strstr(node_text(c, "node-1"), "node.pool=spot;"));

  /* A pod keeps its node's name for the lookup though k8s.node.name is not
   * extracted: a from: node rule needs it. */
  json_t *pod = pod_json("shop", "web-1", "uid-a", "10.1.0.5", "2026-01-01T00:00:00Z", "c", false);
  pc__k8s_cache_object(c, PC__K8S_PODS, PC__K8S_ADDED, pod, 1);
  ck_assert_str_eq(pc__k8s_pod_by_uid(c, S("uid-a"))->node, "node-1");
  json_decref(pod);

  /* Bounded: max_nodes refuses a new node, an update of a cached one applies. */
  rules.max_nodes = 1;
  json_t *b = node_json("node-2", "uid-n2", "eu-west-1c", "infra");
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_ADDED, b, 1);
  ck_assert_str_eq(node_text(c, "node-2"), "(none)");
  ck_assert_uint_eq(pc__k8s_cache_stats(c).nodes_refused, 1);
  rules.max_nodes = 0;
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_ADDED, b, 1);
  ck_assert_uint_eq(pc__k8s_cache_stats(c).nodes, 2);
  /* Deleted, and dropped by a list that lacks it: gone, memos stale. */
  uint32_t g2 = pc__k8s_cache_owner_gen(c);
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_DELETED, b, 1);
  ck_assert_str_eq(node_text(c, "node-2"), "(none)");
  ck_assert_uint_ne(pc__k8s_cache_owner_gen(c), g2);
  uint32_t g3 = pc__k8s_cache_owner_gen(c);
  pc__k8s_cache_list_begin(c, PC__K8S_NODES);
  pc__k8s_cache_list_end(c, PC__K8S_NODES, 2);
  ck_assert_str_eq(node_text(c, "node-1"), "(none)");
  ck_assert_uint_ne(pc__k8s_cache_owner_gen(c), g3);
  ck_assert_uint_eq(pc__k8s_cache_stats(c).nodes, 0);
  json_decref(b);

  /* A node's pairs are bounded like a pod's (a key_regex: .* on annotations). */
  pc_cfg_node_t alln = {.type = PC_CFG_SCALAR, .text = ".*"};
  pc__regex_t *all = pc__regex_compile_whole(&alln, &err);
  r[2] = (pc__k8s_rule_t){.key_regex = all, .annotation = true, .from = PC__K8S_FROM_NODE};
  char *val = malloc(5000), key[32];
  memset(val, 'v', 4999);
  val[4999] = 0;
  json_t *ann = json_object_get(json_object_get(a, "metadata"), "annotations");
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "big-%02d", i);
    json_object_set_new(ann, key, json_string(val));
  }
  pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_ADDED, a, 1);
  pc__k8s_cache_stats_t st = pc__k8s_cache_stats(c);
  ck_assert_uint_eq(st.nodes, 1);
  ck_assert_uint_lt(st.node_bytes, 70000);
  ck_assert_uint_eq(st.dropped_fields, 1);
  free(val);
  json_decref(a);
  pc__k8s_cache_free(c);

  /* Memory per cached node: 5,000 nodes (Kubernetes' limit per cluster)
   * with a kubelet's labels and annotations, the three rules above. */
  r[2] = (pc__k8s_rule_t){.tag_name = "node.$1", .key_regex = re, .from = PC__K8S_FROM_NODE};
  c = pc__k8s_cache_new(&rules, "test");
  for (int i = 0; i < 5000; i++) {
    char name[64], uid[48];
    snprintf(name, sizeof name, "ip-10-0-%d-%d.eu-west-1.compute.internal", i / 256, i % 256);
    snprintf(uid, sizeof uid, "9a3c%04x-1b2c-4d5e-8f90-a1b2c3d4e5f6", i);
    json_t *x = node_json(name, uid, i % 3 ? "eu-west-1a" : "eu-west-1b", "infra");
    json_t *l = json_object_get(json_object_get(x, "metadata"), "labels");
    json_object_set_new(l, "node.kubernetes.io/instance-type", json_string("m5.large"));
    json_object_set_new(l, "kubernetes.io/os", json_string("linux"));
    pc__k8s_cache_object(c, PC__K8S_NODES, PC__K8S_LISTED, x, 1);
    json_decref(x);
  }
  st = pc__k8s_cache_stats(c);
  ck_assert_uint_eq(st.nodes, 5000);
  printf("5,000 nodes cached: %" PRIu64 " bytes (%" PRIu64 " per node, index included)\n",
         st.node_bytes, st.node_bytes / 5000);
  ck_assert_uint_lt(st.node_bytes / 5000, 1024);
  pc__k8s_cache_free(c);
  pc__regex_free(re);
  pc__regex_free(all);
}
END_TEST

START_TEST(k8s_image_and_replicaset_names_as_the_collector) {
  static const struct {
    const char *image, *name, *tag, *version;
  } ok[] = {
      {"nginx", "docker.io/library/nginx", "latest", ""},
      {"nginx:1.25", "docker.io/library/nginx", "1.25", "1.25"},
      {"org/app:v2", "docker.io/org/app", "v2", "v2"},
      {"registry.example.com:5000/team/svc:1.4", "registry.example.com:5000/team/svc", "1.4", "1.4"},
      {"localhost/app", "localhost/app", "latest", ""},
      {"index.docker.io/redis:7", "docker.io/library/redis", "7", "7"},
      {"ghcr.io/o/t:0.1@sha256:b2", "ghcr.io/o/t", "0.1", "0.1@sha256:b2"},
      {"quay.io/o/e@sha256:ab", "quay.io/o/e", "", "sha256:ab"},
      {"MyRegistry.io/app:1", "MyRegistry.io/app", "1", "1"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char name[256], tag[64], ver[128];
    ck_assert_msg(pc__k8s_parse_image(ok[i].image, name, sizeof name, tag, sizeof tag, ver, sizeof ver),
                  "%s", ok[i].image);
    ck_assert_str_eq(name, ok[i].name);
    ck_assert_str_eq(tag, ok[i].tag);
    ck_assert_str_eq(ver, ok[i].version);
  }
  static const char *const bad[] = {"", "Nginx", "nginx:", "a:b@", "app:t@x@y", "a b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char name[256], tag[64], ver[128];
    ck_assert_msg(!pc__k8s_parse_image(bad[i], name, sizeof name, tag, sizeof tag, ver, sizeof ver),
                  "took \"%s\"", bad[i]);
  }
  char dep[64];
  ck_assert(pc__k8s_deployment_of_replicaset("web-7d4f8b9c5c", dep, sizeof dep));
  ck_assert_str_eq(dep, "web");
  ck_assert(pc__k8s_deployment_of_replicaset("coredns-64897985d", dep, sizeof dep));
  ck_assert_str_eq(dep, "coredns");
  ck_assert(!pc__k8s_deployment_of_replicaset("web", dep, sizeof dep));
  ck_assert(!pc__k8s_deployment_of_replicaset("web-ABCDEF12", dep, sizeof dep));
  ck_assert(!pc__k8s_deployment_of_replicaset("web-12345678901", dep, sizeof dep));
}
END_TEST

/* ---- k8s_api -------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

START_TEST(k8s_api_reads_a_service_account_and_kubeconfigs) {
  char dir[] = "/tmp/profcol-k8sapi-XXXXXX", why[512];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  pc__k8s_api_t a;
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_SERVICE_ACCOUNT, NULL, NULL, dir, &a, why,
                                    sizeof why), PC_EINVAL);
  ck_assert(strstr(why, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"));
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_SERVICE_ACCOUNT, NULL, NULL, dir, &a, why,
                                    sizeof why), PC_EIO);
  ck_assert(strstr(why, "/token: No such file or directory (is the service account token "
                        "mounted? the pod needs automountServiceAccountToken)"));
  write_file(dir, "token", "eyJhbGciOi.first\n");
  write_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n");
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_SERVICE_ACCOUNT, NULL, NULL, dir, &a, why,
                                    sizeof why), 0);
  ck_assert_str_eq(a.server, "https://[fd00::1]:443");
  ck_assert(!a.insecure);
  ck_assert_str_eq(pc__k8s_api_token(&a, pc_now_ms(), why, sizeof why), "eyJhbGciOi.first");
  /* The kubelet rotates the token: read again after a minute. */
  write_file(dir, "token", "eyJhbGciOi.second");
  ck_assert_str_eq(pc__k8s_api_token(&a, pc_now_ms() + 1000, why, sizeof why), "eyJhbGciOi.first");
  ck_assert_str_eq(pc__k8s_api_token(&a, pc_now_ms() + 61000, why, sizeof why),
                   "eyJhbGciOi.second");
  pc__k8s_api_free(&a);
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_NONE, NULL, NULL, dir, &a, why, sizeof why), 0);
  ck_assert(a.insecure);
  ck_assert_ptr_null(pc__k8s_api_token(&a, 0, why, sizeof why));
  pc__k8s_api_free(&a);

  /* kubeconfig: inline CA, token file relative to the file, a context chosen. */
  write_file(dir, "kc", "apiVersion: v1\nclusters:\n- name: c1\n  cluster:\n"
                        "    server: https://10.0.0.1:6443/\n"
                        "    certificate-authority-data: LS0tLS1CRUdJTg==\n"
                        "    proxy-url: http://proxy:3128\n"
                        "- name: c2\n  cluster: {server: http://plain}\n"
                        "contexts:\n- name: a\n  context: {cluster: c1, user: u1}\n"
                        "- name: b\n  context: {cluster: c2, user: u1}\n"
                        "- name: e\n  context: {cluster: c1, user: u2}\n"
                        "current-context: a\n"
                        "users:\n- name: u1\n  user: {tokenFile: token}\n"
                        "- name: u2\n  user:\n    exec: {command: aws}\n");
  char kc[600];
  snprintf(kc, sizeof kc, "%s/kc", dir);
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_KUBECONFIG, NULL, kc, dir, &a, why, sizeof why), 0);
  ck_assert_str_eq(a.server, "https://10.0.0.1:6443");
  ck_assert_uint_eq(a.ca_pem.n, 10);
  ck_assert(!memcmp(a.ca_pem.p, "-----BEGIN", 10));
  ck_assert_str_eq(a.proxy, "http://proxy:3128");
  ck_assert_str_eq(pc__k8s_api_token(&a, pc_now_ms(), why, sizeof why), "eyJhbGciOi.second");
  pc__k8s_api_free(&a);
  static const struct {
    const char *context, *why;
  } bad[] = {
      {"b", "kubeconfig: %s:9:21: clusters[1].cluster.server: cluster \"c2\": server must be an "
            "https:// URL"},
      {"e", "kubeconfig: %s:23:11: users[1].user.exec: user \"u2\": exec is not supported "
            "(profcol runs no credential plugins): use a token, tokenFile or a client certificate"},
      {"zz", "kubeconfig %s has no context \"zz\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char want[512];
    snprintf(want, sizeof want, bad[i].why, kc);
    ck_assert_int_ne(pc__k8s_api_load(PC__K8S_AUTH_KUBECONFIG, bad[i].context, kc, dir, &a, why,
                                      sizeof why), 0);
    ck_assert_str_eq(why, want);
  }
  setenv("KUBECONFIG", "/nonexistent:", 1);
  ck_assert_int_eq(pc__k8s_api_load(PC__K8S_AUTH_KUBECONFIG, NULL, NULL, dir, &a, why, sizeof why),
                   PC_EIO);
  ck_assert_str_eq(why, "no file of $KUBECONFIG (/nonexistent:) can be read");
  unsetenv("KUBECONFIG");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- k8s_attributes: config -------------------------------------------------------------- */

START_TEST(k8s_attributes_config_errors_are_exact) {
  ck_assert_str_eq(pc_processor_k8s_attributes.deprecated_alias, "k8sattributes");
  unsetenv("PC_TEST_NO_SUCH_NODE_VAR");
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"auth_type: serviceaccount\n",
       "test.yaml:1:12: auth_type: auth_type \"serviceaccount\": want serviceAccount, kubeConfig or none; did you mean \"serviceAccount\"?"},
      {"auth_type: tls\n",
       "test.yaml:1:12: auth_type: auth_type \"tls\" is not provided: give the client certificate in a kubeconfig (auth_type: kubeConfig)"},
      {"context: kind\n",
       "test.yaml:1:10: context: context is read only with auth_type: kubeConfig (auth_type is serviceAccount)"},
      {"filter: {node_from_env_var: PC_TEST_NO_SUCH_NODE_VAR}\n",
       "test.yaml:1:29: filter.node_from_env_var: `node_from_env_var` is configured but envvar \"PC_TEST_NO_SUCH_NODE_VAR\" is not set"},
      {"filter: {namespace: {a: b}}\n",
       "test.yaml:1:21: filter.namespace: must be a namespace or a list of namespaces"},
      {"filter: {namespace: [a, \"\"]}\n",
       "test.yaml:1:25: filter.namespace[1]: must be a namespace name"},
      {"filter: {fields: [{key: status.phase, value: Running, op: exists}]}\n",
       "test.yaml:1:59: filter.fields[0].op: 'exists' is not a valid field filter operation: want equals, not-equals"},
      {"filter: {labels: [{key: app, op: in}]}\n",
       "test.yaml:1:34: filter.labels[0].op: 'in' is not a valid label filter operation: want equals, not-equals, exists or does-not-exist"},
      {"filter: {labels: [{value: x}]}\n",
       "test.yaml:1:19: filter.labels[0]: needs key"},
      {"filter: {labels: {key: app}}\n",
       "test.yaml:1:18: filter.labels: must be a list of {key, value, op}"},
      {"filter: {nodes: x}\n",
       "test.yaml:1:10: filter.nodes: unknown key \"nodes\"; did you mean \"node\"?"},
      {"extract: {metadata: [k8s.pod.name, k8s.pod.nmae]}\n",
       "test.yaml:1:36: extract.metadata[1]: \"k8s.pod.nmae\" is not a supported metadata field; did you mean \"k8s.pod.name\"?"},
      {"extract: {metadata: [k8s.cluster.uid]}\n",
       "test.yaml:1:22: extract.metadata[0]: k8s.cluster.uid needs watching the kube-system namespace"},
      {"extract: {metadata: k8s.pod.name}\n",
       "test.yaml:1:21: extract.metadata: must be a list of attribute names"},
      {"extract: {labels: [{tag_name: a, key: x, key_regex: y}]}\n",
       "test.yaml:1:53: extract.labels[0].key_regex: give key or key_regex, not both"},
      {"extract: {labels: [{tag_name: a}]}\n",
       "test.yaml:1:20: extract.labels[0]: needs key or key_regex"},
      {"extract: {labels: [{key: x, from: deployment}]}\n",
       "test.yaml:1:35: extract.labels[0].from: from: deployment is the Collector's but not provided: profcol reads labels and annotations of pods, namespaces and nodes"},
      {"extract: {labels: [{key: x, from: pods}]}\n",
       "test.yaml:1:35: extract.labels[0].from: pods is not a valid choice for from: want pod, namespace or node"},
      {"extract: {annotations: [{key: x, from: nodes}]}\n",
       "test.yaml:1:40: extract.annotations[0].from: nodes is not a valid choice for from: want pod, namespace or node"},
      {"extract: {labels: [{from: node}]}\n",
       "test.yaml:1:20: extract.labels[0]: needs key or key_regex"},
      {"extract: {annotations: [{key_regex: \"a(\"}]}\n",
       "test.yaml:1:37: extract.annotations[0].key_regex: invalid regular expression \"a(\": missing closing parenthesis at offset 2"},
      {"extract: {annotations: [{key: a, regex: \"(?P<value>.*)\"}]}\n",
       "test.yaml:1:41: extract.annotations[0].regex: regex is no longer supported (the Collector removed it): use key_regex with tag_name, or the attributes processor's extract action"},
      {"extract: {annotations: [{key: a, tagname: b}]}\n",
       "test.yaml:1:34: extract.annotations[0].tagname: unknown key \"tagname\"; did you mean \"tag_name\"?"},
      {"extract: {annotations: a}\n",
       "test.yaml:1:24: extract.annotations: must be a list of {tag_name, key | key_regex, from}"},
      {"extract: {otel_annotations: yes}\n",
       "test.yaml:1:29: extract.otel_annotations: expected true or false, got \"yes\""},
      {"pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.ip}, "
       "{from: connection}, {from: connection}, {from: connection}, {from: connection}]}]\n",
       "test.yaml:1:29: pod_association[0].sources: too many association sources. limit is 4"},
      {"pod_association: [{sources: [{from: resource_attribute}]}]\n",
       "test.yaml:1:30: pod_association[0].sources[0]: from: resource_attribute needs name"},
      {"pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.name}]}]\n",
       "test.yaml:1:29: pod_association[0].sources: this rule cannot find a pod: it needs connection, k8s.pod.ip, k8s.pod.uid, container.id or host.name, or k8s.pod.name together with k8s.namespace.name"},
      {"pod_association: [{sources: [{from: resource_attribute, name: service.name}]}]\n",
       "test.yaml:1:63: pod_association[0].sources[0].name: profcol associates by k8s.pod.ip, k8s.pod.uid, container.id, host.name (an IP) and k8s.pod.name with k8s.namespace.name, not by \"service.name\""},
      {"pod_association: [{sources: [{from: resource}]}]\n",
       "test.yaml:1:37: pod_association[0].sources[0].from: resource is not a valid choice for from: want connection or resource_attribute"},
      {"pod_association: [{source: [{from: connection}]}]\n",
       "test.yaml:1:20: pod_association[0].source: unknown key \"source\"; did you mean \"sources\"?"},
      {"pod_association: [{sources: []}]\n",
       "test.yaml:1:29: pod_association[0].sources: sources must be a list of {from, name}"},
      {"pod_association: {sources: [{from: connection}]}\n",
       "test.yaml:1:18: pod_association: must be a list of {sources: [...]}"},
      {"exclude: {pods: [{name: \"(\"}]}\n",
       "test.yaml:1:25: exclude.pods[0].name: invalid regular expression \"(\": missing closing parenthesis at offset 1"},
      {"exclude: {pod: []}\n",
       "test.yaml:1:11: exclude.pod: unknown key \"pod\"; did you mean \"pods\"?"},
      {"wait_for_metadata_timeout: 0s\n",
       "test.yaml:1:28: wait_for_metadata_timeout: expected a duration from 1ms to 1h, got \"0s\""},
      {"max_pods: 0\n",
       "test.yaml:1:11: max_pods: expected an integer from 1 to 10000000, got \"0\""},
      {"max_nodes: 0\n",
       "test.yaml:1:12: max_nodes: expected an integer from 1 to 1000000, got \"0\""},
      {"passthru: true\n",
       "test.yaml:1:1: passthru: unknown key \"passthru\"; valid keys: auth_type, context, kube_config_path, passthrough, filter, extract, pod_association, exclude, wait_for_metadata, wait_for_metadata_timeout, max_pods, ..."},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    pt_refused_exactly(&pc_processor_k8s_attributes, bad[i].yaml, bad[i].want);
}
END_TEST

/* ---- k8s_attributes against the stand-in ------------------------------------------------------- */

static void tick(uv_timer_t *t) { (void)t; }

/* A metric's value in the instance's self-telemetry, -1 when absent. */
static double metric(void *inst, const char *name) {
  pc_metrics_t *m = pc_metrics_new();
  pc_processor_k8s_attributes.metrics(inst, m);
  pc_buf_t out = {0};
  pc_metrics_render(m, &out);
  pc_buf_append(&out, "", 1);
  double v = -1;
  char pat[160];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *at = strstr((const char *)out.p, pat);
  if (at) v = strtod(at + strlen(pat), NULL);
  pc_buf_free(&out);
  pc_metrics_free(m);
  return v;
}

typedef struct {
  uv_loop_t loop;
  pc_cfg_t *cfg;
  pt_check_t next;
  void *inst;
} fx_t;

static int fx_open(fx_t *f, const char *yaml, pc_err_t *err) {
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  pt_check_init(&f->next);
  f->inst = pt_create(&pc_processor_k8s_attributes, NULL, yaml, &f->next.c, &f->cfg, err);
  ck_assert_msg(f->inst != NULL, "create: %s", err->msg);
  return pc_processor_k8s_attributes.start(f->inst, &f->loop, err);
}

static void fx_done(void *arg) { *(bool *)arg = true; }

static void fx_close(fx_t *f) {
  bool done = false;
  pc_processor_k8s_attributes.shutdown(f->inst, 0, fx_done, &done);
  while (!done) uv_run(&f->loop, UV_RUN_ONCE);
  pc_processor_k8s_attributes.destroy(f->inst);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  pc_cfg_free(f->cfg);
}

/* Start k8s_attributes against s with cfg (its one %s: s's kubeconfig)
 * followed by more top-level keys (NULL: none). */
static void fx_start(fx_t *f, const pc_standin_t *s, const char *cfg, const char *more) {
  char fmt[3072], yaml[3584];
  snprintf(fmt, sizeof fmt, "%s%s", cfg, more ? more : "");
  snprintf(yaml, sizeof yaml, fmt, s->kubeconfig);
  pc_err_t err = {0};
  ck_assert_msg(fx_open(f, yaml, &err) == 0, "start: %s", err.msg);
}

/* Run the loop until cond (a metric above a floor) or 20 s pass. */
static bool run_until(fx_t *f, const char *name, double above) {
  uint64_t end = pc_now_ms() + 20000;
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  bool ok = false;
  while (pc_now_ms() < end && !(ok = metric(f->inst, name) > above)) {
    uv_timer_start(&t, tick, 20, 0);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  return ok;
}

/* Whether the processor is synced: a probe request is not counted as unsynced. */
static bool synced(fx_t *f) {
  pt_req_t r;
  pt_req_init(&r, 1);
  double before = metric(f->inst, "profcol_processor_k8s_attributes_unsynced_requests");
  pt_send(f->inst, &pc_processor_k8s_attributes, &r.req);
  pt_req_free(&r);
  return metric(f->inst, "profcol_processor_k8s_attributes_unsynced_requests") == before;
}

static bool run_until_synced(fx_t *f) {
  uint64_t end = pc_now_ms() + 20000;
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  bool ok = false;
  while (pc_now_ms() < end && !(ok = synced(f))) {
    uv_timer_start(&t, tick, 20, 0);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  return ok;
}

/* Let the loop run for ms. */
static void run_for(fx_t *f, uint64_t ms) {
  uint64_t end = pc_now_ms() + ms;
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  while (pc_now_ms() < end) {
    uv_timer_start(&t, tick, 10, 0);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

static const char *res_text(const pc_request_t *req, uint32_t i) {
  static char out[8][1024];
  return pt_res_text(req, &req->resources[i].resource, out[i & 7], sizeof out[0]);
}

static const char *PODS =
    "[{\"name\": \"web-1\", \"namespace\": \"shop\", \"ip\": \"127.0.0.1\", \"uid\": \"uid-web-1\","
    "  \"labels\": {\"app.kubernetes.io/name\": \"web\", \"app.kubernetes.io/version\": \"2.1\"},"
    "  \"owner\": {\"kind\": \"ReplicaSet\", \"name\": \"web-7d4f8b9c5c\", \"uid\": \"rs-web\"},"
    "  \"containers\": [{\"name\": \"app\", \"image\": \"shop/web:2.1\", \"id\": \"cid-web\"}]},"
    " {\"name\": \"db-0\", \"namespace\": \"shop\", \"ip\": \"10.1.0.7\", \"uid\": \"uid-db-0\","
    "  \"owner\": {\"kind\": \"StatefulSet\", \"name\": \"db\"},"
    "  \"containers\": [{\"name\": \"pg\", \"image\": \"postgres:16\", \"id\": \"cid-db\"},"
    "                  {\"name\": \"exporter\", \"image\": \"pgexp:1\", \"id\": \"cid-dbx\"}]},"
    " {\"name\": \"node-agent\", \"namespace\": \"kube-system\", \"ip\": \"10.0.0.1\","
    "  \"host_network\": true, \"owner\": {\"kind\": \"DaemonSet\", \"name\": \"agent\"},"
    "  \"containers\": [{\"name\": \"a\", \"image\": \"agent:1\", \"id\": \"cid-agent\"}]}]";

static const char *CFG =
    "auth_type: kubeConfig\n"
    "kube_config_path: %s\n"
    "extract:\n"
    "  metadata: [k8s.namespace.name, k8s.pod.name, k8s.deployment.name, k8s.statefulset.name,"
    " k8s.container.name, container.image.name, service.name, service.version]\n"
    "  labels: [{tag_name: team, key: team, from: namespace}]\n"
    "pod_association:\n"
    "  - sources: [{from: resource_attribute, name: k8s.pod.uid}]\n"
    "  - sources: [{from: resource_attribute, name: container.id}]\n"
    "  - sources: [{from: connection}]\n";

/* The stand-in with PODS, web-1's replicaset and the shop namespace. */
static void start_shop(pc_standin_t *s) {
  pc_standin_start(s, 0, 60);
  pc_standin_post(s, "/pods", PODS);
  pc_standin_post(s, "/replicasets", "[{\"name\": \"web-7d4f8b9c5c\", \"namespace\": \"shop\","
                                     " \"uid\": \"rs-web\", \"deployment\": \"web\"}]");
  pc_standin_post(s, "/namespaces", "[{\"name\": \"shop\", \"labels\": {\"team\": \"perf\"}}]");
}

/* start_shop, and k8s_attributes (CFG) started against it. */
static void open_shop(pc_standin_t *s, fx_t *f) {
  start_shop(s);
  fx_start(f, s, CFG, NULL);
}

START_TEST(k8s_attributes_associates_resources_and_samples) {
  pc_standin_t s;
  fx_t f;
  open_shop(&s, &f);

  /* Before the lists complete, data passes unchanged (and is counted). */
  pt_req_t r;
  pt_req_init(&r, 1);
  r.req.client_addr = S("127.0.0.1");
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0), "");
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_unsynced_requests"), 1);
  pt_req_free(&r);
  ck_assert(run_until_synced(&f));

  /* By the connection: the pod whose IP sent it; its only container. */
  pt_req_init(&r, 1);
  r.req.client_addr = S("127.0.0.1");
  pt_sample(&r, 0, 0, NULL);
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0),
                   "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                   "k8s.deployment.name=web,service.version=2.1,team=perf,"
                   "k8s.container.name=app,container.image.name=docker.io/shop/web");
  pt_req_free(&r);

  /* By k8s.pod.uid (first rule), over the connection; an attribute the
   * resource has keeps its value, an empty one is filled. */
  pt_req_init(&r, 2);
  r.req.client_addr = S("127.0.0.1");
  pt_resource(&r, 0, "k8s.pod.uid=uid-db-0", "service.name=mine", "k8s.pod.name=", NULL);
  pt_resource(&r, 1, "k8s.pod.uid=unknown", NULL); /* decided by rule 1: not found */
  pt_sample(&r, 0, 0, NULL);
  pt_sample(&r, 1, 0, NULL);
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0),
                   "k8s.pod.uid=uid-db-0,service.name=mine,k8s.pod.name=db-0,"
                   "k8s.namespace.name=shop,k8s.statefulset.name=db,team=perf");
  ck_assert_str_eq(res_text(&r.req, 1), "k8s.pod.uid=unknown");
  pt_req_free(&r);

  /* By container.id on samples, as the eBPF profiler sends: one resource
   * with the samples of three containers and of the host becomes four. */
  pt_req_init(&r, 1);
  r.req.client_addr = S("10.0.0.1"); /* the profiler on the host network: no pod */
  pt_resource(&r, 0, "host.name=node-1", NULL);
  int32_t web = pt_attr_s(&r, "container.id", "cid-web"), db = pt_attr_s(&r, "container.id", "cid-db");
  int32_t dbx = pt_attr_s(&r, "container.id", "cid-dbx"), th = pt_attr_s(&r, "thread.name", "w");
  int32_t gone = pt_attr_s(&r, "container.id", "cid-unknown");
  pt_sample(&r, 0, 2, (int32_t[]){web, th});
  pt_sample(&r, 0, 1, (int32_t[]){th}); /* a host process */
  pt_sample(&r, 0, 2, (int32_t[]){th, db});
  pt_sample(&r, 0, 1, (int32_t[]){web});
  pt_sample(&r, 0, 1, (int32_t[]){dbx});
  pt_sample(&r, 0, 1, (int32_t[]){gone}); /* a container not on this node */
  r.prof[0].profile_id = S("0123456789abcdef");
  r.prof[0].original_payload = S("pprof bytes");
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_uint_eq(r.req.n_resources, 4);
  ck_assert_str_eq(res_text(&r.req, 0), "host.name=node-1");
  ck_assert_str_eq(res_text(&r.req, 1),
                   "host.name=node-1,k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                   "k8s.deployment.name=web,service.version=2.1,team=perf,k8s.container.name=app,"
                   "container.image.name=docker.io/shop/web");
  ck_assert_str_eq(res_text(&r.req, 2),
                   "host.name=node-1,k8s.pod.name=db-0,service.name=db,k8s.namespace.name=shop,"
                   "k8s.statefulset.name=db,team=perf,k8s.container.name=pg,"
                   "container.image.name=docker.io/library/postgres,service.version=16");
  ck_assert(strstr(res_text(&r.req, 3), "k8s.container.name=exporter"));
  uint32_t per[4];
  char t[256];
  for (uint32_t i = 0; i < 4; i++) {
    const pc_profile_t *pp = &r.req.resources[i].scopes[0].profiles[0];
    per[i] = pp->n_samples;
    /* Only the part that stays first keeps the id and the payload. */
    ck_assert_uint_eq(pp->profile_id.n, 16);
    ck_assert(i == 0 ? pc_str_eq(pp->profile_id, S("0123456789abcdef"))
                     : !pc_str_eq(pp->profile_id, S("0123456789abcdef")));
    ck_assert_uint_eq(pp->original_payload.n, i == 0 ? 11 : 0);
  }
  ck_assert_uint_eq(per[0], 2); /* the host process and the unknown container */
  ck_assert_uint_eq(per[1], 2);
  ck_assert_uint_eq(per[2], 1);
  ck_assert_uint_eq(per[3], 1);
  ck_assert_str_eq(pt_attrs_text(&r.req, &r.req.resources[2].scopes[0].profiles[0].samples[0], t,
                                 sizeof t), "thread.name=w,container.id=cid-db");
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_resources_split"), 3);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_samples_regrouped"), 4);
  pt_req_free(&r);

  /* hostNetwork pods are not found by IP. */
  pt_req_init(&r, 1);
  r.req.client_addr = S("10.0.0.1");
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0), "");
  pt_req_free(&r);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

/* Send one request from 127.0.0.1 (web-1) until its resource reads want
 * (the watch brings a change in its own time), or 20 s pass. */
static bool run_until_text(fx_t *f, const char *want) {
  uint64_t end = pc_now_ms() + 20000;
  while (pc_now_ms() < end) {
    pt_req_t r;
    pt_req_init(&r, 1);
    r.req.client_addr = S("127.0.0.1");
    pt_send(f->inst, &pc_processor_k8s_attributes, &r.req);
    bool ok = !strcmp(res_text(&r.req, 0), want);
    pt_req_free(&r);
    if (ok) return true;
    run_for(f, 20);
  }
  return false;
}

/* A pod's attributes are built once and kept with it (the memo): a change
 * of the pod, of its namespace or of its replicaset must show in the next
 * requests, not the attributes built before it. */
START_TEST(k8s_attributes_sees_pod_namespace_and_replicaset_changes) {
  pc_standin_t s;
  fx_t f;
  open_shop(&s, &f);
  ck_assert(run_until_synced(&f));
  ck_assert(run_until_text(&f, "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                               "k8s.deployment.name=web,service.version=2.1,team=perf,"
                               "k8s.container.name=app,container.image.name=docker.io/shop/web"));
  /* The namespace's label. */
  pc_standin_post(&s, "/namespaces", "[{\"name\": \"shop\", \"labels\": {\"team\": \"speed\"}}]");
  ck_assert(run_until_text(&f, "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                               "k8s.deployment.name=web,service.version=2.1,team=speed,"
                               "k8s.container.name=app,container.image.name=docker.io/shop/web"));
  /* The pod itself: a new version label and image. */
  pc_standin_post(&s, "/pods",
                  "[{\"name\": \"web-1\", \"namespace\": \"shop\", \"ip\": \"127.0.0.1\","
                  "  \"uid\": \"uid-web-1\", \"labels\": {\"app.kubernetes.io/name\": \"web\","
                  "  \"app.kubernetes.io/version\": \"2.2\"}, \"owner\": {\"kind\": \"ReplicaSet\","
                  "  \"name\": \"web-7d4f8b9c5c\", \"uid\": \"rs-web\"}, \"containers\": [{\"name\":"
                  "  \"app\", \"image\": \"shop/web:2.2\", \"id\": \"cid-web\"}]}]");
  ck_assert(run_until_text(&f, "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                               "k8s.deployment.name=web,service.version=2.2,team=speed,"
                               "k8s.container.name=app,container.image.name=docker.io/shop/web"));
  /* The replicaset, now owned by another deployment. */
  pc_standin_post(&s, "/replicasets", "[{\"name\": \"web-7d4f8b9c5c\", \"namespace\": \"shop\","
                                      " \"uid\": \"rs-web\", \"deployment\": \"web-canary\"}]");
  ck_assert(run_until_text(&f, "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                               "k8s.deployment.name=web-canary,service.version=2.2,team=speed,"
                               "k8s.container.name=app,container.image.name=docker.io/shop/web"));
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

/* Send one request whose resource has attrs (a "k=v" list, NULL-ended) from
 * ip until the resource reads want, or 20 s pass; the last text in got. */
static bool run_until_res(fx_t *f, const char *ip, const char *attr, const char *want,
                          char *got, size_t cap) {
  uint64_t end = pc_now_ms() + 20000;
  while (pc_now_ms() < end) {
    pt_req_t r;
    pt_req_init(&r, 1);
    r.req.client_addr = S(ip);
    if (attr) pt_resource(&r, 0, attr, NULL);
    pt_send(f->inst, &pc_processor_k8s_attributes, &r.req);
    snprintf(got, cap, "%s", res_text(&r.req, 0));
    pt_req_free(&r);
    if (!strcmp(got, want)) return true;
    run_for(f, 20);
  }
  return false;
}

static const char *NODE_CFG =
    "auth_type: kubeConfig\n"
    "kube_config_path: %s\n"
    "extract:\n"
    "  metadata: [k8s.pod.name, k8s.node.name, k8s.node.uid]\n"
    "  labels:\n"
    "    - {tag_name: cloud.availability_zone, key: topology.kubernetes.io/zone, from: node}\n"
    "    - {key: node.kubernetes.io/pool, from: node}\n"
    "  annotations: [{key: team.example.com/owner, from: node}]\n"
    "pod_association:\n"
    "  - sources: [{from: resource_attribute, name: k8s.pod.uid}]\n"
    "  - sources: [{from: connection}]\n";

/* from: node: the pairs of the node each pod runs on (spec.nodeName), and
 * its uid; a node label change (a MODIFIED event) shows in the next data,
 * and one made while the watch was too old (410 Gone, a new list);
 * a pod whose node is not known gets its own metadata only; a resource of
 * no pod that names its node gets the node's. A config without node rules
 * never lists or watches nodes. */
START_TEST(k8s_attributes_adds_the_node_of_each_pod) {
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_post(&s, "/pods", PODS); /* all on node-1 */
  pc_standin_post(&s, "/pods", "[{\"name\": \"lost-1\", \"namespace\": \"shop\", \"uid\": \"uid-lost\","
                               " \"node\": \"node-9\"}]"); /* a node the API does not have */
  pc_standin_post(&s, "/nodes",
                  "[{\"name\": \"node-1\", \"uid\": \"uid-node-1\", \"labels\":"
                  " {\"topology.kubernetes.io/zone\": \"eu-west-1a\", \"node.kubernetes.io/pool\": \"spot\"},"
                  " \"annotations\": {\"team.example.com/owner\": \"infra\"}},"
                  " {\"name\": \"node-2\", \"uid\": \"uid-node-2\","
                  " \"labels\": {\"topology.kubernetes.io/zone\": \"eu-west-1c\"}}]");
  /* Pods only (CFG): no node list, no node watch. */
  fx_t f;
  fx_start(&f, &s, CFG, NULL);
  ck_assert(run_until_synced(&f));
  run_for(&f, 200);
  fx_close(&f);
  ck_assert_int_eq(pc_standin_stat(&s, "nodes_lists"), 0);
  ck_assert_int_eq(pc_standin_stat(&s, "nodes_watches"), 0);
  ck_assert_int_ge(pc_standin_stat(&s, "pods_watches"), 1);

  /* Every node (no node filter). */
  fx_start(&f, &s, NODE_CFG, NULL);
  ck_assert(run_until_synced(&f));
  char got[1024];
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL,
                              "k8s.pod.name=web-1,k8s.node.name=node-1,cloud.availability_zone="
                              "eu-west-1a,k8s.node.labels.node.kubernetes.io/pool=spot,"
                              "k8s.node.annotations.team.example.com/owner=infra,"
                              "k8s.node.uid=uid-node-1", got, sizeof got), "%s", got);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_nodes"), 2);
  ck_assert_int_ge(pc_standin_stat(&s, "nodes_lists"), 1);
  /* A pod on a node the API does not have: its own metadata, no node's. */
  ck_assert_msg(run_until_res(&f, "10.9.9.9", "k8s.pod.uid=uid-lost",
                              "k8s.pod.uid=uid-lost,k8s.pod.name=lost-1,k8s.node.name=node-9",
                              got, sizeof got), "%s", got);
  /* No pod, but the resource names its node. */
  ck_assert_msg(run_until_res(&f, "10.9.9.9", "k8s.node.name=node-2",
                              "k8s.node.name=node-2,cloud.availability_zone=eu-west-1c,"
                              "k8s.node.uid=uid-node-2", got, sizeof got), "%s", got);
  /* The zone label changes, the pool label goes: the next data shows it. */
  pc_standin_post(&s, "/nodes",
                  "[{\"name\": \"node-1\", \"uid\": \"uid-node-1\", \"labels\":"
                  " {\"topology.kubernetes.io/zone\": \"eu-west-1b\"},"
                  " \"annotations\": {\"team.example.com/owner\": \"infra\"}}]");
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL,
                              "k8s.pod.name=web-1,k8s.node.name=node-1,cloud.availability_zone="
                              "eu-west-1b,k8s.node.annotations.team.example.com/owner=infra,"
                              "k8s.node.uid=uid-node-1", got, sizeof got), "%s", got);
  /* The history compacted: the node watch's resourceVersion is Gone (410),
   * it lists again, and a change made meanwhile shows. */
  double gone = metric(f.inst, "profcol_processor_k8s_attributes_api_gone");
  pc_standin_post(&s, "/compact", NULL);
  pc_standin_post(&s, "/nodes",
                  "[{\"name\": \"node-1\", \"uid\": \"uid-node-1\", \"labels\":"
                  " {\"topology.kubernetes.io/zone\": \"eu-west-1c\"}}]");
  ck_assert(run_until(&f, "profcol_processor_k8s_attributes_api_gone", gone));
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL,
                              "k8s.pod.name=web-1,k8s.node.name=node-1,cloud.availability_zone="
                              "eu-west-1c,k8s.node.uid=uid-node-1", got, sizeof got), "%s", got);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_nodes"), 2);
  /* The node deleted: its pairs go from the next data, the pod's stay. */
  pc_standin_post(&s, "/delete?kind=nodes", "[\"node-1\"]");
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL, "k8s.pod.name=web-1,k8s.node.name=node-1",
                              got, sizeof got), "%s", got);
  fx_close(&f);

  /* An agent's filter: only its own node is listed and watched. */
  setenv("PC_TEST_NODE", "node-2", 1);
  fx_start(&f, &s, NODE_CFG, "filter: {node_from_env_var: PC_TEST_NODE}\n");
  ck_assert(run_until_synced(&f));
  ck_assert(run_until(&f, "profcol_processor_k8s_attributes_nodes", 0));
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_nodes"), 1);
  ck_assert_double_eq(metric(f.inst, "otelcol_otelsvc_k8s_pod_table_size"), 0);
  fx_close(&f);
  unsetenv("PC_TEST_NODE");
  pc_standin_free(&s);
}
END_TEST

/* A collection pods' metadata depends on that the service account may not
 * read (forbid: the stand-in's 403s): it holds the data at most 5 s after
 * start (the Collector's wait), then pods' metadata goes without its
 * values (data reads without), which come once the RBAC is fixed (with);
 * with wait_for_metadata, start waits those 5 s and succeeds. Without
 * wait_for_metadata, data passes unchanged for up to 5 s, then reads
 * without. s holds the objects; cfg starts k8s_attributes (fx_start). */
static void goes_on_without(pc_standin_t *s, const char *cfg, const char *forbid,
                            const char *without, const char *with) {
  pc_standin_post(s, "/forbid", forbid);
  fx_t f;
  uint64_t t0 = pc_now_ms();
  fx_start(&f, s, cfg, "wait_for_metadata: true\nwait_for_metadata_timeout: 15s\n");
  ck_assert_uint_ge(pc_now_ms() - t0, 4900);
  ck_assert_int_ge(pc_standin_stat(s, "forbidden"), 1);
  char got[1024];
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL, without, got, sizeof got), "%s", got);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_unsynced_requests"), 0);
  ck_assert_double_gt(metric(f.inst, "profcol_processor_k8s_attributes_api_errors"), 0);
  /* The ClusterRole fixed: the retries list them, their values follow. */
  pc_standin_post(s, "/forbid", "[]");
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL, with, got, sizeof got), "%s", got);
  fx_close(&f);

  pc_standin_post(s, "/forbid", forbid);
  fx_start(&f, s, cfg, NULL);
  t0 = pc_now_ms();
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL, without, got, sizeof got), "%s", got);
  ck_assert_uint_ge(pc_now_ms() - t0, 4000);
  ck_assert_double_gt(metric(f.inst, "profcol_processor_k8s_attributes_unsynced_requests"), 0);
  fx_close(&f);
}

START_TEST(k8s_attributes_goes_on_without_nodes_it_may_not_read) {
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_post(&s, "/pods", PODS);
  pc_standin_post(&s, "/nodes", "[{\"name\": \"node-1\", \"uid\": \"uid-node-1\", \"labels\":"
                                " {\"topology.kubernetes.io/zone\": \"eu-west-1a\"}}]");
  goes_on_without(&s, NODE_CFG, "[\"nodes\"]", "k8s.pod.name=web-1,k8s.node.name=node-1",
                  "k8s.pod.name=web-1,k8s.node.name=node-1,cloud.availability_zone=eu-west-1a,"
                  "k8s.node.uid=uid-node-1");
  pc_standin_free(&s);
}
END_TEST

/* Replicasets and namespaces as nodes: pods' metadata goes on without
 * deployment names and namespace labels; and a wait_for_metadata_timeout
 * under the 5 s names the collection still missing. */
START_TEST(k8s_attributes_goes_on_without_replicasets_or_namespaces_it_may_not_read) {
  pc_standin_t s;
  start_shop(&s);
  goes_on_without(&s, CFG, "[\"replicasets\", \"namespaces\"]",
                  "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                  "service.version=2.1,k8s.container.name=app,"
                  "container.image.name=docker.io/shop/web",
                  "k8s.pod.name=web-1,service.name=web,k8s.namespace.name=shop,"
                  "k8s.deployment.name=web,service.version=2.1,team=perf,"
                  "k8s.container.name=app,container.image.name=docker.io/shop/web");
  ck_assert_int_ge(pc_standin_stat(&s, "replicasets_lists"), 1);
  ck_assert_int_ge(pc_standin_stat(&s, "namespaces_lists"), 1);

  /* The pods are listed, the replicasets are not: start fails, says so. */
  pc_standin_post(&s, "/forbid", "[\"replicasets\"]");
  fx_t f;
  pc_err_t err = {0};
  char fmt[2048], yaml[2600];
  snprintf(fmt, sizeof fmt, "%swait_for_metadata: true\nwait_for_metadata_timeout: 2s\n", CFG);
  snprintf(yaml, sizeof yaml, fmt, s.kubeconfig);
  ck_assert_int_eq(fx_open(&f, yaml, &err), PC_EIO);
  ck_assert_msg(strstr(err.msg, "processor:k8s_attributes: failed to wait for caches to sync: "
                                "no replicasets list within wait_for_metadata_timeout (2000 ms): "
                                "not allowed to list them (403: replicasets is forbidden"),
                "%s", err.msg);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

static const char *NS_CFG =
    "auth_type: kubeConfig\n"
    "kube_config_path: %s\n"
    "extract:\n"
    "  metadata: [k8s.pod.name, service.namespace]\n"
    "  labels:\n"
    "    - {tag_name: team, key: team, from: pod}\n"
    "    - {tag_name: team, key: team, from: namespace}\n"
    "    - {key: tier, from: namespace}\n"
    "pod_association:\n"
    "  - sources: [{from: resource_attribute, name: container.id}]\n"
    "  - sources: [{from: connection}]\n";

/* The namespace's values: after the pod's (a namespace label never replaces
 * the pod's label of the same tag_name, it fills in), and for a resource
 * no pod is found for, from the k8s.namespace.name it carries, with
 * service.namespace, as the Collector's processResource does; also for
 * the part of a split resource that stays without a pod. */
START_TEST(k8s_attributes_adds_the_namespace_of_a_resource_without_pod) {
  pc_standin_t s;
  start_shop(&s);
  pc_standin_post(&s, "/namespaces",
                  "[{\"name\": \"shop\", \"labels\": {\"team\": \"perf\", \"tier\": \"gold\"}}]");
  pc_standin_post(&s, "/pods", "[{\"name\": \"api-1\", \"namespace\": \"shop\", \"ip\": \"10.1.0.8\","
                               " \"uid\": \"uid-api-1\", \"labels\": {\"team\": \"checkout\"}}]");
  fx_t f;
  fx_start(&f, &s, NS_CFG, NULL);
  ck_assert(run_until_synced(&f));
  char got[1024];
  /* The pod's label wins; the namespace fills in for a pod without it. */
  ck_assert_msg(run_until_res(&f, "10.1.0.8", NULL,
                              "k8s.pod.name=api-1,service.namespace=shop,team=checkout,"
                              "k8s.namespace.labels.tier=gold", got, sizeof got), "%s", got);
  ck_assert_msg(run_until_res(&f, "127.0.0.1", NULL,
                              "k8s.pod.name=web-1,service.namespace=shop,team=perf,"
                              "k8s.namespace.labels.tier=gold", got, sizeof got), "%s", got);

  /* No pod (10.9.9.9 is none's): the namespace the resource names. */
  double unassociated = metric(f.inst, "profcol_processor_k8s_attributes_resources_unassociated");
  pt_req_t r;
  pt_req_init(&r, 4);
  r.req.client_addr = S("10.9.9.9");
  pt_resource(&r, 0, "k8s.namespace.name=shop", NULL);
  pt_resource(&r, 1, "k8s.namespace.name=shop", "service.namespace=mine", "team=", NULL);
  pt_resource(&r, 2, "k8s.namespace.name=elsewhere", NULL); /* not in the API */
  pt_resource(&r, 3, "service.name=a", NULL);
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0), "k8s.namespace.name=shop,team=perf,"
                                        "k8s.namespace.labels.tier=gold,service.namespace=shop");
  ck_assert_str_eq(res_text(&r.req, 1), "k8s.namespace.name=shop,service.namespace=mine,"
                                        "team=perf,k8s.namespace.labels.tier=gold");
  ck_assert_str_eq(res_text(&r.req, 2), "k8s.namespace.name=elsewhere,service.namespace=elsewhere");
  ck_assert_str_eq(res_text(&r.req, 3), "service.name=a");
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_resources_unassociated"),
                      unassociated + 4);
  pt_req_free(&r);

  /* A resource whose samples are partly web-1's (container.id): the part
   * that stays without a pod gets the namespace too. */
  pt_req_init(&r, 1);
  r.req.client_addr = S("10.9.9.9");
  pt_resource(&r, 0, "k8s.namespace.name=shop", NULL);
  int32_t web = pt_attr_s(&r, "container.id", "cid-web");
  pt_sample(&r, 0, 1, (int32_t[]){web});
  pt_sample(&r, 0, 0, NULL);
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_uint_eq(r.req.n_resources, 2);
  ck_assert_str_eq(res_text(&r.req, 0), "k8s.namespace.name=shop,team=perf,"
                                        "k8s.namespace.labels.tier=gold,service.namespace=shop");
  ck_assert_str_eq(res_text(&r.req, 1), "k8s.namespace.name=shop,k8s.pod.name=web-1,"
                                        "service.namespace=shop,team=perf,"
                                        "k8s.namespace.labels.tier=gold");
  pt_req_free(&r);

  /* A namespace label change reaches the next data of a resource without pod. */
  pc_standin_post(&s, "/namespaces", "[{\"name\": \"shop\", \"labels\": {\"team\": \"speed\"}}]");
  ck_assert_msg(run_until_res(&f, "10.9.9.9", "k8s.namespace.name=shop",
                              "k8s.namespace.name=shop,team=speed,service.namespace=shop", got,
                              sizeof got), "%s", got);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

START_TEST(k8s_attributes_follows_churn_gone_cuts_and_a_server_down) {
  pc_standin_t s;
  pc_standin_start(&s, 0, 0.5);
  pc_standin_post(&s, "/pods", PODS);
  fx_t f;
  fx_start(&f, &s, CFG, NULL);
  ck_assert(run_until_synced(&f));
  /* A pod added, one modified, one deleted: the watch brings them. */
  pc_standin_post(&s, "/pods", "[{\"name\": \"new-1\", \"namespace\": \"shop\", \"ip\": \"10.1.0.9\","
                               " \"uid\": \"uid-new-1\"}]");
  pc_standin_post(&s, "/delete", "[\"shop/db-0\"]");
  ck_assert(run_until(&f, "otelcol_otelsvc_k8s_pod_deleted", 0));
  ck_assert(run_until(&f, "otelcol_otelsvc_k8s_pod_added", 3));
  pt_req_t r;
  pt_req_init(&r, 2);
  pt_resource(&r, 0, "k8s.pod.uid=uid-new-1", NULL);
  pt_resource(&r, 1, "k8s.pod.uid=uid-db-0", NULL); /* deleted: kept for the grace period */
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert(strstr(res_text(&r.req, 0), "k8s.pod.name=new-1"));
  ck_assert(strstr(res_text(&r.req, 1), "k8s.pod.name=db-0"));
  pt_req_free(&r);

  /* The history is compacted past the watch's resourceVersion: 410 Gone,
   * a new list, and a pod added meanwhile is known. */
  long lists = pc_standin_stat(&s, "lists");
  pc_standin_post(&s, "/compact", NULL);
  pc_standin_post(&s, "/pods", "[{\"name\": \"new-2\", \"namespace\": \"shop\", \"uid\": \"uid-new-2\"}]");
  ck_assert(run_until(&f, "profcol_processor_k8s_attributes_api_gone", 0));
  ck_assert(run_until(&f, "otelcol_otelsvc_k8s_pod_table_size", 4));
  ck_assert_int_gt(pc_standin_stat(&s, "lists"), lists);
  ck_assert_int_ge(pc_standin_stat(&s, "gone"), 1);

  /* Watches cut mid-stream: they come back from their resourceVersion
   * (no new list), and see what happened meanwhile. */
  lists = pc_standin_stat(&s, "lists");
  double errors = metric(f.inst, "profcol_processor_k8s_attributes_api_errors");
  pc_standin_post(&s, "/drop", NULL);
  pc_standin_post(&s, "/pods", "[{\"name\": \"new-3\", \"namespace\": \"shop\", \"uid\": \"uid-new-3\"}]");
  ck_assert(run_until(&f, "profcol_processor_k8s_attributes_api_errors", errors));
  ck_assert(run_until(&f, "otelcol_otelsvc_k8s_pod_table_size", 5));
  ck_assert_int_eq(pc_standin_stat(&s, "lists"), lists);

  /* The server down for 2 s: data keeps flowing with what is cached, and
   * once it is back the watches resume. */
  pc_standin_post(&s, "/down?ms=2000", NULL);
  uint64_t end = pc_now_ms() + 2500;
  while (pc_now_ms() < end) {
    pt_req_init(&r, 1);
    pt_resource(&r, 0, "k8s.pod.uid=uid-new-3", NULL);
    pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
    ck_assert(strstr(res_text(&r.req, 0), "k8s.pod.name=new-3"));
    pt_req_free(&r);
    run_for(&f, 50);
  }
  pc_standin_post(&s, "/pods", "[{\"name\": \"new-4\", \"namespace\": \"shop\", \"uid\": \"uid-new-4\"}]");
  ck_assert(run_until(&f, "otelcol_otelsvc_k8s_pod_table_size", 6));
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

START_TEST(k8s_attributes_waits_for_metadata_when_told) {
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_post(&s, "/pods", PODS);
  char yaml[2048];
  snprintf(yaml, sizeof yaml, "%swait_for_metadata: true\nwait_for_metadata_timeout: 1500ms\n", CFG);
  char y2[2600];
  snprintf(y2, sizeof y2, yaml, s.kubeconfig);
  fx_t f;
  pc_err_t err = {0};
  ck_assert_msg(fx_open(&f, y2, &err) == 0, "start: %s", err.msg);
  /* Synced at once: the first request is enriched. */
  pt_req_t r;
  pt_req_init(&r, 1);
  r.req.client_addr = S("127.0.0.1");
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert(strstr(res_text(&r.req, 0), "k8s.pod.name=web-1"));
  pt_req_free(&r);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_unsynced_requests"), 0);
  run_for(&f, 100); /* the watches go on on this loop */
  fx_close(&f);
  /* The server down: start fails after the timeout, naming why. */
  pc_standin_stop(&s);
  uint64_t t0 = pc_now_ms();
  ck_assert_int_eq(fx_open(&f, y2, &err), PC_EIO);
  uint64_t took = pc_now_ms() - t0;
  ck_assert_uint_ge(took, 1400);
  ck_assert_uint_lt(took, 5000);
  ck_assert_msg(strstr(err.msg, "processor:k8s_attributes: failed to wait for caches to sync: "
                                "no pod list within wait_for_metadata_timeout "
                                "(1500 ms): list: Couldn't connect to server"), "%s", err.msg);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

START_TEST(k8s_attributes_reports_a_wrong_token) {
  /* 4 s: the first answer must arrive within the wait, and a TLS handshake
   * with the Python stand-in under ASan on a loaded machine can take
   * seconds (500 ms was too short there). */
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_kubeconfig(&s, "wrong");
  char yaml[2048], y2[2600];
  snprintf(yaml, sizeof yaml, "%swait_for_metadata: true\nwait_for_metadata_timeout: 4s\n", CFG);
  snprintf(y2, sizeof y2, yaml, s.kubeconfig);
  fx_t f;
  pc_err_t err = {0};
  ck_assert_int_eq(fx_open(&f, y2, &err), PC_EIO);
  ck_assert_msg(strstr(err.msg, "the API server refused our credentials (401: Unauthorized); a "
                                "service account token that expired, or the wrong kubeconfig "
                                "user"), "%s", err.msg);
  ck_assert_int_ge(pc_standin_stat(&s, "unauthorized"), 1);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

START_TEST(k8s_attributes_passthrough_and_filters) {
  /* passthrough: no API server at all; the connection's IP becomes
   * k8s.pod.ip, unless the resource has one. */
  fx_t f;
  pc_err_t err = {0};
  ck_assert_msg(fx_open(&f, "passthrough: true\n", &err) == 0, "start: %s", err.msg);
  pt_req_t r;
  pt_req_init(&r, 2);
  r.req.client_addr = S("10.1.0.7");
  pt_resource(&r, 0, "service.name=a", NULL);
  pt_resource(&r, 1, "k8s.pod.ip=10.9.9.9", NULL);
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0), "service.name=a,k8s.pod.ip=10.1.0.7");
  ck_assert_str_eq(res_text(&r.req, 1), "k8s.pod.ip=10.9.9.9");
  pt_req_free(&r);
  ck_assert_double_eq(metric(f.inst, "profcol_processor_k8s_attributes_api_lists"), 0);
  fx_close(&f);

  /* filter.namespace and filter.labels go to the server as the path and a
   * label selector: only the pods they select are cached. */
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_post(&s, "/pods", PODS);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "auth_type: kubeConfig\nkube_config_path: %s\nwait_for_metadata: true\n"
           "filter:\n  namespace: shop\n"
           "  labels: [{key: app.kubernetes.io/name, value: web, op: equals}]\n",
           s.kubeconfig);
  ck_assert_msg(fx_open(&f, yaml, &err) == 0, "start: %s", err.msg);
  ck_assert_double_eq(metric(f.inst, "otelcol_otelsvc_k8s_pod_table_size"), 1);
  pt_req_init(&r, 1);
  r.req.client_addr = S("127.0.0.1");
  pt_send(f.inst, &pc_processor_k8s_attributes, &r.req);
  ck_assert(strstr(res_text(&r.req, 0), "k8s.pod.name=web-1"));
  pt_req_free(&r);
  fx_close(&f);
  pc_standin_free(&s);
}
END_TEST

START_TEST(resource_detection_reads_the_node_from_the_api) {
  pc_standin_t s;
  pc_standin_start(&s, 0, 60);
  pc_standin_post(&s, "/nodes", "[{\"name\": \"node-7\", \"uid\": \"node-uid-7\"}]");
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "detectors: [k8s_api]\nk8s_api:\n  auth_type: kubeConfig\n  kube_config_path: %s\n"
           "  node_from_env_var: PC_TEST_NODE\n", s.kubeconfig);
  pt_check_t k;
  pt_check_init(&k);
  pc_cfg_t *cfg;
  pc_err_t err = {0};
  void *inst = pt_create(&pc_processor_resource_detection, NULL, yaml, &k.c, &cfg, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  uv_loop_t loop;
  uv_loop_init(&loop);
  unsetenv("PC_TEST_NODE");
  ck_assert_int_eq(pc_processor_resource_detection.start(inst, &loop, &err), PC_EINVAL);
  ck_assert_str_eq(err.msg, "processor:resource_detection: k8s_api detector: the node's name is "
                            "not in $PC_TEST_NODE: set it from the downward API (env: [{name: "
                            "PC_TEST_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}])");
  setenv("PC_TEST_NODE", "node-8", 1);
  ck_assert_int_eq(pc_processor_resource_detection.start(inst, &loop, &err), PC_EIO);
  ck_assert_str_eq(err.msg, "processor:resource_detection: k8s_api detector: reading node "
                            "node-8: HTTP 404: nodes \"node-8\" not found (no node of that name)");
  setenv("PC_TEST_NODE", "node-7", 1);
  ck_assert_int_eq(pc_processor_resource_detection.start(inst, &loop, &err), 0);
  pt_req_t r;
  pt_req_init(&r, 1);
  pt_send(inst, &pc_processor_resource_detection, &r.req);
  ck_assert_str_eq(res_text(&r.req, 0), "k8s.node.name=node-7,k8s.node.uid=node-uid-7");
  pt_req_free(&r);
  pc_standin_stop(&s);
  ck_assert_int_eq(pc_processor_resource_detection.start(inst, &loop, &err), PC_EIO);
  ck_assert_msg(strstr(err.msg, "k8s_api detector: reading node node-7 from kubeconfig"), "%s",
                err.msg);
  bool done = false;
  pc_processor_resource_detection.shutdown(inst, 0, fx_done, &done);
  ck_assert(done);
  pc_processor_resource_detection.destroy(inst);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  pc_cfg_free(cfg);
  unsetenv("PC_TEST_NODE");
  pc_standin_free(&s);
}
END_TEST

TCase *pc_test_k8s_tcase(void) {
  TCase *tc = tcase_create("k8s");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, k8s_stream_cuts_lists_and_events_however_bytes_arrive);
  tcase_add_test(tc, k8s_stream_refuses_what_is_not_the_shape_it_expects);
  tcase_add_test(tc, k8s_cache_indexes_pods_by_uid_ip_container_and_name);
  tcase_add_test(tc, k8s_cache_bounds_a_pod_and_keeps_replicasets_and_namespaces);
  tcase_add_test(tc, k8s_cache_keeps_nodes_and_counts_their_changes);
  tcase_add_test(tc, k8s_image_and_replicaset_names_as_the_collector);
  tcase_add_test(tc, k8s_api_reads_a_service_account_and_kubeconfigs);
  tcase_add_test(tc, k8s_attributes_config_errors_are_exact);
  tcase_add_test(tc, k8s_attributes_associates_resources_and_samples);
  tcase_add_test(tc, k8s_attributes_sees_pod_namespace_and_replicaset_changes);
  tcase_add_test(tc, k8s_attributes_adds_the_node_of_each_pod);
  tcase_add_test(tc, k8s_attributes_goes_on_without_nodes_it_may_not_read);
  tcase_add_test(tc, k8s_attributes_goes_on_without_replicasets_or_namespaces_it_may_not_read);
  tcase_add_test(tc, k8s_attributes_adds_the_namespace_of_a_resource_without_pod);
  tcase_add_test(tc, k8s_attributes_follows_churn_gone_cuts_and_a_server_down);
  tcase_add_test(tc, k8s_attributes_waits_for_metadata_when_told);
  tcase_add_test(tc, k8s_attributes_reports_a_wrong_token);
  tcase_add_test(tc, k8s_attributes_passthrough_and_filters);
  tcase_add_test(tc, resource_detection_reads_the_node_from_the_api);
  return tc;
}
