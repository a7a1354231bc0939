/* k8s_stream_fuzz.c - libFuzzer target for what k8s_attributes reads from
 * the Kubernetes API server: the splitter that cuts list answers and watch
 * streams into objects (processor/k8s_stream.c), and the cache that keeps
 * what it needs of each Pod, ReplicaSet and Namespace (k8s_cache.c).
 *
 * The first byte picks the mode (list or watch stream) and the size of the
 * pieces the rest is fed in, as the network may cut it. Properties beyond
 * "no crash": the same objects come out, with the same result, whether the
 * bytes arrive whole or in pieces; a refusal always says why; every object
 * that parses as JSON goes into a cache as a pod, replicaset and namespace
 * without harm, and a pod found by uid has its uid. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../processor/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  pc_buf_t all; /* every piece: key, NUL, the value's length (a size_t), value */
  uint32_t n;
} seen_t;

static int collect(void *arg, const char *key, const uint8_t *p, size_t n) {
  seen_t *s = arg;
  pc_buf_append(&s->all, key ? key : "-", strlen(key ? key : "-") + 1);
  pc_buf_append(&s->all, &n, sizeof n);
  pc_buf_append(&s->all, p, n);
  s->n++;
  return 0;
}

static int split(pc__k8s_split_mode_t mode, const uint8_t *p, size_t n, size_t step, seen_t *s,
                 char *why) {
  pc__k8s_split_t sp;
  pc__k8s_split_init(&sp, mode, 4096, collect, s);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i += step)
    rc = pc__k8s_split_feed(&sp, p + i, n - i < step ? n - i : step, why, 256);
  if (!rc) rc = pc__k8s_split_end(&sp, why, 256);
  pc__k8s_split_free(&sp);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  pc__k8s_split_mode_t mode = data[0] & 1 ? PC__K8S_SPLIT_LIST : PC__K8S_SPLIT_EVENTS;
  size_t step = (data[0] >> 1) + 1;
  data++, size--;
  seen_t whole = {0}, cut = {0};
  char why1[256] = "", why2[256] = "";
  int rc1 = split(mode, data, size, size ? size : 1, &whole, why1);
  int rc2 = split(mode, data, size, step, &cut, why2);
  if (rc1 != rc2 || (rc1 && (!why1[0] || !why2[0]))) abort();
  if (!rc1 && (whole.n != cut.n || whole.all.n != cut.all.n ||
               (whole.all.n && memcmp(whole.all.p, cut.all.p, whole.all.n))))
    abort();

  static pc__regex_t *re;
  static pc__k8s_rule_t rules[3];
  if (!re) {
    pc_cfg_node_t n = {.type = PC_CFG_SCALAR, .text = "(.*)"};
    pc_err_t err;
    re = pc__regex_compile_whole(&n, &err);
    rules[0] = (pc__k8s_rule_t){.tag_name = "l.$1", .key_regex = re};
    rules[1] = (pc__k8s_rule_t){.key_regex = re, .annotation = true,
                                .from = PC__K8S_FROM_NAMESPACE};
    rules[2] = (pc__k8s_rule_t){.tag_name = "n.$1", .key_regex = re, .from = PC__K8S_FROM_NODE};
  }
  pc__k8s_rules_t r = {.metadata = ~0u, .rules = rules, .n_rules = 3, .otel_annotations = true,
                       .max_pods = 64, .max_nodes = 16};
  pc__k8s_cache_t *c = pc__k8s_cache_new(&r, "fuzz");
  const uint8_t *at = whole.all.p;
  for (uint32_t i = 0; i < whole.n; i++) {
    size_t vn;
    at += strlen((const char *)at) + 1;
    memcpy(&vn, at, sizeof vn);
    const uint8_t *v = at + sizeof vn;
    at = v + vn;
    json_t *o = json_loadb((const char *)v, vn, JSON_DECODE_ANY, NULL);
    if (!o) continue;
    json_t *obj = json_object_get(o, "object"); /* a watch event's, else the item */
    if (!obj) obj = o;
    pc__k8s_event_t ev = (pc__k8s_event_t)(i % 4);
    pc__k8s_cache_object(c, PC__K8S_PODS, ev, obj, 1000 + i);
    pc__k8s_cache_object(c, PC__K8S_REPLICASETS, ev, obj, 1000 + i);
    pc__k8s_cache_object(c, PC__K8S_NAMESPACES, ev, obj, 1000 + i);
    pc__k8s_cache_object(c, PC__K8S_NODES, ev, obj, 1000 + i);
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    if (uid) {
      const pc__k8s_pod_t *p = pc__k8s_pod_by_uid(c, (pc_str_t){(const uint8_t *)uid, strlen(uid)});
      if (p && strcmp(p->uid, uid)) abort();
    }
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    const pc__k8s_kv_t *kv;
    uint32_t nkv;
    const char *nuid;
    if (name && pc__k8s_node(c, (pc_str_t){(const uint8_t *)name, strlen(name)}, &kv, &nkv, &nuid))
      for (uint32_t k = 0; k < nkv; k++)
        if (!kv[k].key || !kv[k].value) abort();
    json_decref(o);
  }
  pc__k8s_cache_sweep(c, 1u << 30, 1);
  pc__k8s_cache_free(c);
  pc_buf_free(&whole.all);
  pc_buf_free(&cut.all);
  return 0;
}
