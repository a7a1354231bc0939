/* k8s_cache.c - what k8s_attributes keeps of the cluster (k8s.h): pods,
 * and when its config needs them replicasets (a pod's deployment),
 * namespaces and nodes (their labels and annotations; a node's uid).
 *
 * The one idea: keep only what the config will write, packed. A Pod object
 * is 5-20 KiB of JSON (managedFields, the whole spec); what association and
 * extract.metadata need is its uid, name, namespace, IPs, owner, node,
 * container ids and images, plus the labels and annotations that the
 * extraction rules take - usually under 1 KiB. Each pod becomes one malloc
 * holding its struct, arrays and strings (built in two passes: gather views
 * into the JSON and a scratch arena, then copy once), so its memory is
 * known exactly (pc__k8s_pod_t.bytes) and freeing it is one free. A pod's
 * extracted labels and annotations are bounded by MAX_POD_BYTES: rules
 * like key_regex: (.*) on annotations (kubectl's last-applied-configuration
 * alone can be 100 KiB) must not make one pod cost megabytes; what is cut
 * is counted and logged.
 *
 * Indexes (open addressing, keys are views into the pods' own bytes): by
 * uid, by IP (not for hostNetwork pods, whose IP is the node's, as in the
 * Collector), by container id (the current one and the one before the
 * last restart, so late data of a restarted container still finds it), and
 * by "namespace/name". When two pods claim one IP (a new pod got a deleted
 * one's address), the one created later wins, as in the Collector.
 *
 * Deletion: a deleted pod stays findable for the grace period (the
 * Collector's 2 minutes), since profiles of its last seconds arrive after
 * the API said it is gone; k8s_attributes sweeps every 30 s. A new list
 * (after 410 Gone, or a reconnect that must list) marks what it did not
 * bring as deleted.
 *
 * Bound: at most rules->max_pods pods (k8s_attributes' max_pods), deleted
 * ones in their grace period included; a new pod past it is refused,
 * counted and logged, and updates of cached ones still apply. Nodes alike
 * (max_nodes); a namespace or node keeps at most MAX_POD_BYTES of pairs.
 *
 * Namespaces and nodes are one shape (named_t: a name, the pairs the rules
 * take, a node's uid), keyed by name: a pod finds its node by spec.nodeName,
 * as the Collector's does. Their change makes every pod's memo stale
 * (owner_gen), so an event that changes nothing the rules take (a node's
 * status heartbeat comes as a MODIFIED event even on a metadata-only watch)
 * only marks the entry as seen. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "k8s.h"

/* Extracted labels and annotations one pod may keep. */
#define MAX_POD_BYTES 65536

/* ---- a string -> pointer map -------------------------------------------------------------- */

typedef struct {
  const char *key; /* NULL: empty */
  uint32_t len, hash;
  void *val;
} kslot_t;

typedef struct {
  kslot_t *v;
  uint32_t cap, n; /* cap: a power of two, or 0 */
} kmap_t;

static uint32_t khash(pc_str_t k) { return (uint32_t)pc_hash64(k.p ? k.p : (const uint8_t *)"", k.n); }

static kslot_t *kmap_find(const kmap_t *m, pc_str_t k, uint32_t h) {
  if (!m->cap) return NULL;
  for (uint32_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    kslot_t *s = &m->v[i];
    if (!s->key) return NULL;
    if (s->hash == h && s->len == k.n && !memcmp(s->key, k.p, k.n)) return s;
  }
}

static void *kmap_get(const kmap_t *m, pc_str_t k) {
  kslot_t *s = kmap_find(m, k, khash(k));
  return s ? s->val : NULL;
}

static void kmap_grow(kmap_t *m) {
  uint32_t cap = m->cap ? m->cap * 2 : 64;
  kslot_t *v = pc_xcalloc(cap, sizeof *v);
  for (uint32_t i = 0; i < m->cap; i++) {
    if (!m->v[i].key) continue;
    uint32_t j = m->v[i].hash & (cap - 1);
    while (v[j].key) j = (j + 1) & (cap - 1);
    v[j] = m->v[i];
  }
  free(m->v);
  m->v = v;
  m->cap = cap;
}

/* key must stay valid as long as it is in the map (a view into val's bytes). */
static void kmap_put(kmap_t *m, pc_str_t k, void *val) {
  uint32_t h = khash(k);
  kslot_t *s = kmap_find(m, k, h);
  if (s) {
    s->key = (const char *)k.p; /* the new owner's bytes */
    s->val = val;
    return;
  }
  if ((m->n + 1) * 4 > m->cap * 3) kmap_grow(m);
  uint32_t i = h & (m->cap - 1);
  while (m->v[i].key) i = (i + 1) & (m->cap - 1);
  m->v[i] = (kslot_t){(const char *)k.p, (uint32_t)k.n, h, val};
  m->n++;
}

/* Remove k when it maps to val: backward-shift deletion, no tombstones. */
static void kmap_del(kmap_t *m, pc_str_t k, const void *val) {
  kslot_t *s = kmap_find(m, k, khash(k));
  if (!s || s->val != val) return;
  uint32_t mask = m->cap - 1, i = (uint32_t)(s - m->v);
  for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!m->v[j].key) break;
    uint32_t home = m->v[j].hash & mask;
    /* j's entry may move into the hole at i unless its home lies in (i, j]. */
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    m->v[i] = m->v[j];
    i = j;
  }
  m->v[i] = (kslot_t){0};
  m->n--;
}

static void kmap_free(kmap_t *m) {
  free(m->v);
  *m = (kmap_t){0};
}

static pc_str_t S(const char *s) { return (pc_str_t){(const uint8_t *)s, s ? strlen(s) : 0}; }

/* ---- the cache ------------------------------------------------------------------------------ */

typedef struct {
  const char *uid, *dep_name, *dep_uid;
  uint32_t gen;
} rs_t;

/* A namespace or a node. */
typedef struct {
  const char *name;
  const char *uid; /* nodes with k8s.node.uid wanted, else NULL */
  pc__k8s_kv_t *kv;
  uint32_t n_kv;
  uint32_t gen;
  size_t bytes;
} named_t;

struct pc__k8s_cache {
  const pc__k8s_rules_t *rules;
  char *log_id;
  kmap_t by_uid, by_ip, by_cid, by_name;
  kmap_t rs, ns, nodes;
  uint32_t gen[4]; /* per kind: the list being read */
  bool node_of_pods; /* keep a pod's node name: k8s.node.name, node rules or uid */
  uint32_t owner_gen; /* pc__k8s_cache_owner_gen */
  pc_arena_t *scratch;
  pc__k8s_cache_stats_t st;
  pc_ratelimit_t rl_cut, rl_full, rl_nodes;
};

pc__k8s_cache_t *pc__k8s_cache_new(const pc__k8s_rules_t *rules, const char *log_id) {
  pc__k8s_cache_t *c = pc_xcalloc(1, sizeof *c);
  c->rules = rules;
  c->log_id = pc_xstrdup(log_id);
  c->scratch = pc_arena_new(16384);
  if (!c->scratch) pc_oom();
  c->node_of_pods = rules->metadata & (PC__K8S_M_NODE | PC__K8S_M_NODE_UID);
  for (size_t i = 0; i < rules->n_rules; i++)
    c->node_of_pods = c->node_of_pods || rules->rules[i].from == PC__K8S_FROM_NODE;
  return c;
}

static void pod_unindex(pc__k8s_cache_t *c, pc__k8s_pod_t *p);

void pc__k8s_cache_free(pc__k8s_cache_t *c) {
  if (!c) return;
  for (uint32_t i = 0; i < c->by_uid.cap; i++)
    if (c->by_uid.v[i].key) {
      free(((pc__k8s_pod_t *)c->by_uid.v[i].val)->memo);
      free(c->by_uid.v[i].val);
    }
  for (uint32_t i = 0; i < c->rs.cap; i++)
    if (c->rs.v[i].key) free(c->rs.v[i].val);
  for (uint32_t i = 0; i < c->ns.cap; i++)
    if (c->ns.v[i].key) free(c->ns.v[i].val);
  for (uint32_t i = 0; i < c->nodes.cap; i++)
    if (c->nodes.v[i].key) free(c->nodes.v[i].val);
  kmap_free(&c->nodes);
  kmap_free(&c->by_uid);
  kmap_free(&c->by_ip);
  kmap_free(&c->by_cid);
  kmap_free(&c->by_name);
  kmap_free(&c->rs);
  kmap_free(&c->ns);
  pc_arena_free(c->scratch);
  free(c->log_id);
  free(c);
}

pc__k8s_cache_stats_t pc__k8s_cache_stats(const pc__k8s_cache_t *c) {
  pc__k8s_cache_stats_t st = c->st;
  st.pods = c->by_uid.n;
  st.replicasets = c->rs.n;
  st.namespaces = c->ns.n;
  st.nodes = c->nodes.n;
  st.bytes = st.pod_bytes + (uint64_t)(c->by_uid.cap + c->by_ip.cap + c->by_cid.cap +
                                       c->by_name.cap + c->rs.cap + c->ns.cap + c->nodes.cap) *
                                sizeof(kslot_t);
  for (uint32_t i = 0; i < c->rs.cap; i++)
    if (c->rs.v[i].key) st.bytes += sizeof(rs_t) + 3 * 40; /* uids and a name */
  for (uint32_t i = 0; i < c->ns.cap; i++)
    if (c->ns.v[i].key) st.bytes += ((named_t *)c->ns.v[i].val)->bytes;
  st.node_bytes = (uint64_t)c->nodes.cap * sizeof(kslot_t);
  for (uint32_t i = 0; i < c->nodes.cap; i++)
    if (c->nodes.v[i].key) st.node_bytes += ((named_t *)c->nodes.v[i].val)->bytes;
  st.bytes += st.node_bytes + st.memo_bytes;
  return st;
}

uint32_t pc__k8s_cache_owner_gen(const pc__k8s_cache_t *c) { return c->owner_gen; }

void pc__k8s_pod_set_memo(pc__k8s_cache_t *c, const pc__k8s_pod_t *pod, void *memo, size_t bytes) {
  /* Lookups hand out const pods so that users cannot change what the
   * indexes hold; the memo is the one field that is theirs. */
  pc__k8s_pod_t *p = (pc__k8s_pod_t *)(uintptr_t)pod;
  c->st.memo_bytes -= p->memo_bytes;
  free(p->memo);
  p->memo = memo;
  p->memo_bytes = memo ? bytes : 0;
  c->st.memo_bytes += p->memo_bytes;
}

/* ---- images and owners ------------------------------------------------------------------- */

static bool tag_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '.' || ch == '-';
}

bool pc__k8s_parse_image(const char *image, char *name, size_t name_cap, char *tag,
                         size_t tag_cap, char *version, size_t version_cap) {
  size_t n = strlen(image);
  if (!n || n > 4096) return false;
  const char *at = strchr(image, '@');
  const char *digest = at ? at + 1 : NULL;
  size_t named = at ? (size_t)(at - image) : n;
  if (digest && (!strchr(digest, ':') || strchr(digest, '@'))) return false;
  /* A tag is after the last ':' that follows the last '/'. */
  const char *slash = NULL;
  for (size_t i = 0; i < named; i++)
    if (image[i] == '/') slash = image + i;
  const char *colon = NULL;
  for (const char *p = slash ? slash : image; p < image + named; p++)
    if (*p == ':') colon = p;
  size_t repo_n = colon ? (size_t)(colon - image) : named;
  const char *t = colon ? colon + 1 : NULL;
  size_t tn = colon ? named - repo_n - 1 : 0;
  if (!repo_n || (colon && (!tn || tn > 128))) return false;
  for (size_t i = 0; i < tn; i++)
    if (!tag_char(t[i])) return false;
  for (size_t i = 0; i < repo_n; i++) {
    char ch = image[i];
    if (ch >= 'A' && ch <= 'Z') {
      /* Upper case is allowed in a registry host only. */
      const char *first = memchr(image, '/', repo_n);
      if (!first || image + i > first) return false;
    } else if (!(tag_char(ch) || ch == '/' || ch == ':')) {
      return false;
    }
  }
  /* Normalise as the Docker reference parser: a first component without a
   * dot or port that is not localhost is a Docker Hub path. */
  const char *first = memchr(image, '/', repo_n);
  bool has_domain = first && (memchr(image, '.', (size_t)(first - image)) ||
                              memchr(image, ':', (size_t)(first - image)) ||
                              (first - image == 9 && !memcmp(image, "localhost", 9)));
  if (has_domain) {
    const char *rest = first;
    if (first - image == 15 && !memcmp(image, "index.docker.io", 15))
      snprintf(name, name_cap, "docker.io%.*s", (int)(repo_n - 15), rest);
    else
      snprintf(name, name_cap, "%.*s", (int)repo_n, image);
    if (!strncmp(name, "docker.io/", 10) && !strchr(name + 10, '/')) {
      char tmp[512];
      snprintf(tmp, sizeof tmp, "docker.io/library/%s", name + 10);
      snprintf(name, name_cap, "%s", tmp);
    }
  } else {
    snprintf(name, name_cap, "docker.io/%s%.*s", first ? "" : "library/", (int)repo_n, image);
  }
  if (t) snprintf(tag, tag_cap, "%.*s", (int)tn, t);
  else snprintf(tag, tag_cap, "%s", digest ? "" : "latest");
  if (t && digest) snprintf(version, version_cap, "%.*s@%s", (int)tn, t, digest);
  else if (digest) snprintf(version, version_cap, "%s", digest);
  else if (t) snprintf(version, version_cap, "%.*s", (int)tn, t);
  else version[0] = 0;
  return true;
}

bool pc__k8s_deployment_of_replicaset(const char *rs, char *out, size_t cap) {
  const char *dash = strrchr(rs, '-');
  if (!dash || dash == rs) return false;
  /* The pod-template-hash suffix: a 32-bit hash in [a-z0-9], 6 to 10
   * characters (the Collector's pattern takes exactly 10; shorter hashes
   * exist, e.g. 9 in many clusters). */
  size_t n = strlen(dash + 1);
  if (n < 6 || n > 10) return false;
  for (const char *p = dash + 1; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) return false;
  snprintf(out, cap, "%.*s", (int)(dash - rs), rs);
  return true;
}

/* ---- building a pod ------------------------------------------------------------------------ */

/* A pod being gathered: views into the JSON or the scratch arena. */
typedef struct {
  pc__k8s_pod_t p;
  pc__k8s_kv_t kv[256];
  uint32_t n_kv, n_label_kv;
  size_t kv_bytes;
  bool cut;
  pc__k8s_container_t ct[64];
  uint32_t n_ct;
} draft_t;

static const char *sdup(pc__k8s_cache_t *c, const char *s, size_t n) {
  char *z = pc_arena_alloc(c->scratch, n + 1);
  if (!z) pc_oom();
  memcpy(z, s, n);
  z[n] = 0;
  return z;
}

static void add_kv(draft_t *d, const char *k, const char *v) {
  size_t sz = strlen(k) + strlen(v) + 2;
  /* A later rule that names the same attribute replaces it (a Go map). */
  for (uint32_t i = 0; i < d->n_kv; i++)
    if (!strcmp(d->kv[i].key, k)) {
      d->kv_bytes += strlen(v) - strlen(d->kv[i].value);
      d->kv[i].value = v;
      return;
    }
  if (d->n_kv == sizeof d->kv / sizeof d->kv[0] || d->kv_bytes + sz > MAX_POD_BYTES) {
    d->cut = true;
    return;
  }
  d->kv[d->n_kv++] = (pc__k8s_kv_t){k, v};
  d->kv_bytes += sz;
}

/* Go's Regexp.ExpandString: $1, ${1}, $name, ${name}, $$. */
static const char *expand(pc__k8s_cache_t *c, const char *tmpl, pc__regex_t *re,
                          const pc_str_t *groups) {
  char out[512];
  size_t o = 0;
  uint32_t ng = pc__regex_groups(re);
  for (const char *p = tmpl; *p && o < sizeof out - 1;) {
    if (*p != '$') {
      out[o++] = *p++;
      continue;
    }
    p++;
    if (*p == '$') {
      out[o++] = '$';
      p++;
      continue;
    }
    bool brace = *p == '{';
    const char *s = p + brace, *e = s;
    while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
           *e == '_')
      e++;
    if (e == s || (brace && *e != '}')) { /* not a reference: kept as Go keeps it */
      out[o++] = '$';
      continue;
    }
    size_t nl = (size_t)(e - s);
    int idx = -1;
    bool digits = true;
    for (const char *q = s; q < e; q++) digits = digits && *q >= '0' && *q <= '9';
    if (digits) {
      idx = nl < 6 ? atoi(s) : -1;
    } else {
      for (uint32_t g = 1; g <= ng; g++) {
        const char *gn = pc__regex_group_name(re, g);
        if (gn && strlen(gn) == nl && !memcmp(gn, s, nl)) idx = (int)g;
      }
    }
    if (idx >= 0 && (uint32_t)idx <= ng) {
      size_t gl = groups[idx].n < sizeof out - 1 - o ? groups[idx].n : sizeof out - 1 - o;
      if (gl) memcpy(out + o, groups[idx].p, gl);
      o += gl;
    }
    p = e + brace;
  }
  return sdup(c, out, o);
}

/* The rules of from over labels (or annotations) obj into d. */
static void extract(pc__k8s_cache_t *c, draft_t *d, const json_t *map, bool annotation,
                    pc__k8s_from_t from) {
  if (!json_is_object(map)) return;
  static const char *const fmts[][2] = {
      [PC__K8S_FROM_POD] = {"k8s.pod.labels.%s", "k8s.pod.annotations.%s"},
      [PC__K8S_FROM_NAMESPACE] = {"k8s.namespace.labels.%s", "k8s.namespace.annotations.%s"},
      [PC__K8S_FROM_NODE] = {"k8s.node.labels.%s", "k8s.node.annotations.%s"},
  };
  const char *fmt = fmts[from][annotation];
  for (size_t r = 0; r < c->rules->n_rules; r++) {
    const pc__k8s_rule_t *rule = &c->rules->rules[r];
    if (rule->annotation != annotation || rule->from != from) continue;
    if (rule->key) {
      const char *v = json_string_value(json_object_get(map, rule->key));
      if (!v) continue;
      char name[600];
      if (rule->tag_name) snprintf(name, sizeof name, "%s", rule->tag_name);
      else snprintf(name, sizeof name, fmt, rule->key);
      add_kv(d, sdup(c, name, strlen(name)), v);
      continue;
    }
    const char *k;
    json_t *jv;
    json_object_foreach((json_t *)map, k, jv) {
      const char *v = json_string_value(jv);
      if (!v || !*v) continue;
      pc_str_t groups[33];
      if (pc__regex_groups(rule->key_regex) > 32) continue;
      if (pc__regex_exec(rule->key_regex, S(k), groups) != 1) continue;
      const char *name;
      if (rule->tag_name && strchr(rule->tag_name, '$')) {
        name = expand(c, rule->tag_name, rule->key_regex, groups);
      } else {
        char buf[600];
        snprintf(buf, sizeof buf, fmt, k);
        name = sdup(c, buf, strlen(buf));
      }
      add_kv(d, name, v);
    }
  }
}

static bool want(const pc__k8s_cache_t *c, uint32_t bits) { return (c->rules->metadata & bits) != 0; }

static const char *strip_runtime(const char *id) {
  const char *sep = id ? strstr(id, "://") : NULL;
  return sep ? sep + 3 : id;
}

static pc__k8s_container_t *container_named(draft_t *d, const char *name) {
  for (uint32_t i = 0; i < d->n_ct; i++)
    if (!strcmp(d->ct[i].name, name)) return &d->ct[i];
  if (d->n_ct == sizeof d->ct / sizeof d->ct[0]) return NULL;
  d->ct[d->n_ct] = (pc__k8s_container_t){.name = name};
  return &d->ct[d->n_ct++];
}

static void take_specs(pc__k8s_cache_t *c, draft_t *d, const json_t *list) {
  bool images = want(c, PC__K8S_M_IMAGE_NAME | PC__K8S_M_IMAGE_TAG | PC__K8S_M_SERVICE_VERSION);
  for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
    const json_t *s = json_array_get(list, i);
    const char *name = pc__k8s_jstr(s, "name", NULL), *image = pc__k8s_jstr(s, "image", NULL);
    pc__k8s_container_t *ct = name ? container_named(d, name) : NULL;
    if (!ct || !images || !image) continue;
    char nm[512], tag[160], ver[300];
    if (!pc__k8s_parse_image(image, nm, sizeof nm, tag, sizeof tag, ver, sizeof ver)) continue;
    if (want(c, PC__K8S_M_IMAGE_NAME)) ct->image_name = sdup(c, nm, strlen(nm));
    if (want(c, PC__K8S_M_IMAGE_TAG) && tag[0]) ct->image_tag = sdup(c, tag, strlen(tag));
    if (want(c, PC__K8S_M_SERVICE_VERSION) && ver[0]) ct->version = sdup(c, ver, strlen(ver));
  }
}

static void take_statuses(draft_t *d, const json_t *list) {
  for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
    const json_t *s = json_array_get(list, i);
    const char *name = pc__k8s_jstr(s, "name", NULL);
    pc__k8s_container_t *ct = name ? container_named(d, name) : NULL;
    if (!ct) continue;
    const char *id = strip_runtime(pc__k8s_jstr(s, "containerID", NULL));
    const char *last = strip_runtime(pc__k8s_jstr(s, "lastState", "terminated", "containerID", NULL));
    if (id && *id) ct->id = id;
    if (last && *last && (!id || strcmp(last, id))) ct->last_id = last;
  }
}

/* An IP in its canonical text ("fd00:0::1" -> "fd00::1"), for exact
 * lookups; NULL when s is not an address. */
static const char *canon_ip(pc__k8s_cache_t *c, const char *s, size_t n) {
  char in[64], out[64];
  if (!s || !n || n >= sizeof in) return NULL;
  memcpy(in, s, n);
  in[n] = 0;
  unsigned char b[16];
  if (inet_pton(AF_INET, in, b) == 1) return sdup(c, in, n);
  if (inet_pton(AF_INET6, in, b) != 1 || !inet_ntop(AF_INET6, b, out, sizeof out)) return NULL;
  return sdup(c, out, strlen(out));
}

static bool owner_kind_wanted(const char *k) {
  return k && (!strcmp(k, "ReplicaSet") || !strcmp(k, "DaemonSet") || !strcmp(k, "StatefulSet") ||
               !strcmp(k, "Job"));
}

static bool gather(pc__k8s_cache_t *c, const json_t *obj, draft_t *d) {
  memset(d, 0, offsetof(draft_t, kv));
  d->n_kv = d->n_label_kv = 0;
  d->kv_bytes = 0;
  d->cut = false;
  d->n_ct = 0;
  pc__k8s_pod_t *p = &d->p;
  const json_t *md = pc__k8s_jobj(obj, "metadata", NULL);
  p->uid = pc__k8s_jstr(md, "uid", NULL);
  p->name = pc__k8s_jstr(md, "name", NULL);
  p->ns = pc__k8s_jstr(md, "namespace", NULL);
  if (!p->uid || !*p->uid || !p->name || !*p->name) return false;
  if (!p->ns) p->ns = "";
  char nsn[600];
  snprintf(nsn, sizeof nsn, "%s/%s", p->ns, p->name);
  p->ns_name = sdup(c, nsn, strlen(nsn));
  const json_t *spec = pc__k8s_jobj(obj, "spec", NULL), *status = pc__k8s_jobj(obj, "status", NULL);
  /* k8s.pod.start_time, and the order of pods that share an IP. */
  p->created = pc__k8s_jstr(md, "creationTimestamp", NULL);
  if (c->node_of_pods) p->node = pc__k8s_jstr(spec, "nodeName", NULL);
  if (want(c, PC__K8S_M_POD_HOSTNAME)) p->hostname = pc__k8s_jstr(spec, "hostname", NULL);
  p->host_network = json_is_true(json_object_get(spec, "hostNetwork"));
  const char *ip = pc__k8s_jstr(status, "podIP", NULL);
  p->ip = ip ? canon_ip(c, ip, strlen(ip)) : NULL;
  const json_t *ips = json_object_get(status, "podIPs");
  for (size_t i = 0; json_is_array(ips) && i < json_array_size(ips); i++) {
    const char *x = pc__k8s_jstr(json_array_get(ips, i), "ip", NULL);
    const char *cx = x ? canon_ip(c, x, strlen(x)) : NULL;
    if (!cx) continue;
    if (!p->ip) p->ip = cx;
    else if (strcmp(cx, p->ip) && !p->ip2) p->ip2 = cx;
  }
  const json_t *owners = json_object_get(md, "ownerReferences");
  for (size_t i = 0; json_is_array(owners) && i < json_array_size(owners); i++) {
    const json_t *o = json_array_get(owners, i);
    const char *kind = pc__k8s_jstr(o, "kind", NULL);
    if (!owner_kind_wanted(kind)) continue;
    bool ctrl = json_is_true(json_object_get(o, "controller"));
    if (p->owner_kind && !ctrl) continue;
    p->owner_kind = kind;
    p->owner_name = pc__k8s_jstr(o, "name", NULL);
    p->owner_uid = pc__k8s_jstr(o, "uid", NULL);
    if (ctrl) break;
  }
  const json_t *labels = pc__k8s_jobj(md, "labels", NULL);
  const json_t *ann = pc__k8s_jobj(md, "annotations", NULL);
  if (want(c, PC__K8S_M_SERVICE_NAME)) {
    p->svc_name_label = pc__k8s_jstr(labels, "app.kubernetes.io/instance", NULL);
    if (!p->svc_name_label) p->svc_name_label = pc__k8s_jstr(labels, "app.kubernetes.io/name", NULL);
  }
  if (want(c, PC__K8S_M_SERVICE_VERSION))
    p->svc_version_label = pc__k8s_jstr(labels, "app.kubernetes.io/version", NULL);
  const char *ig = pc__k8s_jstr(ann, "opentelemetry.io/k8s-processor/ignore", NULL);
  if (ig) {
    while (*ig == ' ' || *ig == '\t') ig++;
    p->ignore = !strncasecmp(ig, "true", 4) && (!ig[4] || ig[4] == ' ' || ig[4] == '\t');
  }
  for (size_t i = 0; !p->ignore && i < c->rules->n_exclude; i++)
    p->ignore = pc__regex_match(c->rules->exclude[i], S(p->name));
  if (!p->ignore) {
    extract(c, d, labels, false, PC__K8S_FROM_POD);
    d->n_label_kv = d->n_kv;
    extract(c, d, ann, true, PC__K8S_FROM_POD);
    if (c->rules->otel_annotations && ann) {
      static const char pre[] = "resource.opentelemetry.io/";
      const char *k;
      json_t *jv;
      json_object_foreach((json_t *)ann, k, jv) {
        if (strncmp(k, pre, sizeof pre - 1) || !k[sizeof pre - 1] || !json_is_string(jv)) continue;
        add_kv(d, k + sizeof pre - 1, json_string_value(jv));
      }
    }
  }
  take_specs(c, d, json_object_get(spec, "containers"));
  take_specs(c, d, json_object_get(spec, "initContainers"));
  take_statuses(d, json_object_get(status, "containerStatuses"));
  take_statuses(d, json_object_get(status, "initContainerStatuses"));
  return true;
}

/* Copy the draft into one allocation. */
static size_t zlen(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *put(char **at, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  memcpy(*at, s, n);
  const char *r = *at;
  *at += n;
  return r;
}

static pc__k8s_pod_t *pack(const draft_t *d) {
  const pc__k8s_pod_t *p = &d->p;
  size_t strs = zlen(p->uid) + zlen(p->name) + zlen(p->ns) + zlen(p->ns_name) + zlen(p->node) +
                zlen(p->created) + zlen(p->hostname) + zlen(p->ip) + zlen(p->ip2) +
                zlen(p->owner_kind) + zlen(p->owner_name) + zlen(p->owner_uid) +
                zlen(p->svc_name_label) + zlen(p->svc_version_label);
  for (uint32_t i = 0; i < d->n_kv; i++) strs += zlen(d->kv[i].key) + zlen(d->kv[i].value);
  for (uint32_t i = 0; i < d->n_ct; i++) {
    const pc__k8s_container_t *ct = &d->ct[i];
    strs += zlen(ct->name) + zlen(ct->id) + zlen(ct->last_id) + zlen(ct->image_name) +
            zlen(ct->image_tag) + zlen(ct->version);
  }
  size_t head = sizeof *p + d->n_kv * sizeof(pc__k8s_kv_t) + d->n_ct * sizeof(pc__k8s_container_t);
  size_t total = head + strs;
  char *blob = malloc(total);
  if (!blob) pc_oom();
  pc__k8s_pod_t *q = (pc__k8s_pod_t *)(void *)blob;
  *q = *p;
  q->memo = NULL;
  q->memo_bytes = 0;
  q->extracted = (pc__k8s_kv_t *)(void *)(blob + sizeof *p);
  q->n_extracted = d->n_kv;
  q->n_label_kv = d->n_label_kv;
  q->containers = (pc__k8s_container_t *)(void *)(blob + sizeof *p + d->n_kv * sizeof(pc__k8s_kv_t));
  q->n_containers = d->n_ct;
  char *at = blob + head;
  q->uid = put(&at, p->uid);
  q->name = put(&at, p->name);
  q->ns = put(&at, p->ns);
  q->ns_name = put(&at, p->ns_name);
  q->node = put(&at, p->node);
  q->created = put(&at, p->created);
  q->hostname = put(&at, p->hostname);
  q->ip = put(&at, p->ip);
  q->ip2 = put(&at, p->ip2);
  q->owner_kind = put(&at, p->owner_kind);
  q->owner_name = put(&at, p->owner_name);
  q->owner_uid = put(&at, p->owner_uid);
  q->svc_name_label = put(&at, p->svc_name_label);
  q->svc_version_label = put(&at, p->svc_version_label);
  for (uint32_t i = 0; i < d->n_kv; i++) {
    q->extracted[i].key = put(&at, d->kv[i].key);
    q->extracted[i].value = put(&at, d->kv[i].value);
  }
  for (uint32_t i = 0; i < d->n_ct; i++) {
    const pc__k8s_container_t *ct = &d->ct[i];
    q->containers[i] = (pc__k8s_container_t){
        .name = put(&at, ct->name), .id = put(&at, ct->id), .last_id = put(&at, ct->last_id),
        .image_name = put(&at, ct->image_name), .image_tag = put(&at, ct->image_tag),
        .version = put(&at, ct->version)};
  }
  q->bytes = total;
  return q;
}

/* ---- pods in and out of the indexes --------------------------------------------------------- */

static void pod_unindex(pc__k8s_cache_t *c, pc__k8s_pod_t *p) {
  kmap_del(&c->by_uid, S(p->uid), p);
  if (p->ip) kmap_del(&c->by_ip, S(p->ip), p);
  if (p->ip2) kmap_del(&c->by_ip, S(p->ip2), p);
  kmap_del(&c->by_name, S(p->ns_name), p);
  for (uint32_t i = 0; i < p->n_containers; i++) {
    if (p->containers[i].id) kmap_del(&c->by_cid, S(p->containers[i].id), p);
    if (p->containers[i].last_id) kmap_del(&c->by_cid, S(p->containers[i].last_id), p);
  }
}

/* An IP's owner: the live pod created last wins over another live one. */
static void index_ip(pc__k8s_cache_t *c, pc__k8s_pod_t *p, const char *ip) {
  if (!ip || p->host_network) return;
  pc__k8s_pod_t *o = kmap_get(&c->by_ip, S(ip));
  if (o && o != p && !o->deleted_ms && o->created && p->created && strcmp(p->created, o->created) < 0)
    return;
  kmap_put(&c->by_ip, S(ip), p);
}

static void pod_index(pc__k8s_cache_t *c, pc__k8s_pod_t *p) {
  kmap_put(&c->by_uid, S(p->uid), p);
  index_ip(c, p, p->ip);
  index_ip(c, p, p->ip2);
  kmap_put(&c->by_name, S(p->ns_name), p);
  for (uint32_t i = 0; i < p->n_containers; i++) {
    if (p->containers[i].id) kmap_put(&c->by_cid, S(p->containers[i].id), p);
    if (p->containers[i].last_id) kmap_put(&c->by_cid, S(p->containers[i].last_id), p);
  }
}

static void pod_drop(pc__k8s_cache_t *c, pc__k8s_pod_t *p) {
  pod_unindex(c, p);
  c->st.pod_bytes -= p->bytes;
  c->st.memo_bytes -= p->memo_bytes;
  free(p->memo);
  free(p);
}

/* An object whose extracted pairs passed MAX_POD_BYTES: counted, logged. */
static void count_cut(pc__k8s_cache_t *c, const char *kind, const char *name) {
  c->st.dropped_fields++;
  uint64_t skipped;
  char sup[48];
  if (pc_ratelimit(&c->rl_cut, 60000, &skipped))
    pc_log(c->log_id, PC_LOG_WARN, "%s %s: its extracted labels and annotations pass %d bytes; "
           "the rest are left out (narrow extract.labels / annotations)%s", kind, name,
           MAX_POD_BYTES, pc_suppressed(skipped, sup));
}

static void on_pod(pc__k8s_cache_t *c, pc__k8s_event_t ev, const json_t *obj, uint64_t now_ms) {
  static _Thread_local draft_t d; /* 20 KiB: not on the loop's stack */
  pc_arena_reset(c->scratch);
  if (!gather(c, obj, &d)) {
    c->st.bad++;
    return;
  }
  pc__k8s_pod_t *old = kmap_get(&c->by_uid, S(d.p.uid));
  if (ev == PC__K8S_DELETED) {
    if (old && !old->deleted_ms) {
      old->deleted_ms = now_ms ? now_ms : 1;
      c->st.deleted++;
    }
    return;
  }
  if (d.cut) count_cut(c, "pod", d.p.ns_name);
  if (!old && c->rules->max_pods && c->by_uid.n >= c->rules->max_pods) {
    /* Full: the pods already cached keep their metadata; this one's data
     * goes through without it. Bounded memory beats a complete cache. */
    c->st.refused++;
    uint64_t skipped;
    char sup[48];
    if (pc_ratelimit(&c->rl_full, 60000, &skipped))
      pc_log(c->log_id, PC_LOG_WARN, "the cache holds max_pods (%" PRIu64 ") pods; pod %s/%s is "
             "not cached and its data gets no metadata: narrow filter (node_from_env_var, "
             "namespace, labels) or raise max_pods%s", c->rules->max_pods, d.p.ns, d.p.name,
             pc_suppressed(skipped, sup));
    return;
  }
  d.p.gen = c->gen[PC__K8S_PODS];
  pc__k8s_pod_t *p = pack(&d);
  if (old) {
    pod_drop(c, old);
    c->st.updated++;
  } else {
    c->st.added++;
  }
  c->st.pod_bytes += p->bytes;
  pod_index(c, p);
}

/* ---- replicasets and namespaces ------------------------------------------------------------- */

static void on_replicaset(pc__k8s_cache_t *c, pc__k8s_event_t ev, const json_t *obj) {
  const json_t *md = pc__k8s_jobj(obj, "metadata", NULL);
  const char *uid = pc__k8s_jstr(md, "uid", NULL);
  if (!uid || !*uid) {
    c->st.bad++;
    return;
  }
  rs_t *old = kmap_get(&c->rs, S(uid));
  c->owner_gen++;
  if (old) {
    kmap_del(&c->rs, S(uid), old);
    free(old);
  }
  if (ev == PC__K8S_DELETED) return;
  const char *dn = NULL, *du = NULL;
  const json_t *owners = json_object_get(md, "ownerReferences");
  for (size_t i = 0; json_is_array(owners) && i < json_array_size(owners); i++) {
    const json_t *o = json_array_get(owners, i);
    const char *kind = pc__k8s_jstr(o, "kind", NULL);
    if (kind && !strcmp(kind, "Deployment")) {
      dn = pc__k8s_jstr(o, "name", NULL);
      du = pc__k8s_jstr(o, "uid", NULL);
      break;
    }
  }
  if (!dn) return; /* a replicaset of its own: nothing a pod needs */
  size_t total = sizeof(rs_t) + zlen(uid) + zlen(dn) + zlen(du);
  char *blob = pc_xmalloc(total), *at = blob + sizeof(rs_t);
  rs_t *r = (rs_t *)(void *)blob;
  r->uid = put(&at, uid);
  r->dep_name = put(&at, dn);
  r->dep_uid = put(&at, du);
  r->gen = c->gen[PC__K8S_REPLICASETS];
  kmap_put(&c->rs, S(r->uid), r);
}

static bool same_pairs(const named_t *o, const draft_t *d, const char *uid) {
  if (o->n_kv != d->n_kv || (o->uid == NULL) != (uid == NULL) || (uid && strcmp(o->uid, uid)))
    return false;
  for (uint32_t i = 0; i < d->n_kv; i++)
    if (strcmp(o->kv[i].key, d->kv[i].key) || strcmp(o->kv[i].value, d->kv[i].value)) return false;
  return true;
}

/* A namespace or a node (kind), keyed by name. */
static void on_named(pc__k8s_cache_t *c, pc__k8s_kind_t kind, pc__k8s_event_t ev,
                     const json_t *obj) {
  bool node = kind == PC__K8S_NODES;
  kmap_t *m = node ? &c->nodes : &c->ns;
  pc__k8s_from_t from = node ? PC__K8S_FROM_NODE : PC__K8S_FROM_NAMESPACE;
  const json_t *md = pc__k8s_jobj(obj, "metadata", NULL);
  const char *name = pc__k8s_jstr(md, "name", NULL);
  if (!name || !*name) {
    c->st.bad++;
    return;
  }
  named_t *old = kmap_get(m, S(name));
  if (ev == PC__K8S_DELETED) {
    if (old) {
      kmap_del(m, S(name), old);
      free(old);
      c->owner_gen++;
    }
    return;
  }
  static _Thread_local draft_t d;
  pc_arena_reset(c->scratch);
  d.n_kv = 0;
  d.kv_bytes = 0;
  d.cut = false;
  extract(c, &d, pc__k8s_jobj(md, "labels", NULL), false, from);
  extract(c, &d, pc__k8s_jobj(md, "annotations", NULL), true, from);
  const char *uid = node && want(c, PC__K8S_M_NODE_UID) ? pc__k8s_jstr(md, "uid", NULL) : NULL;
  if (uid && !*uid) uid = NULL;
  if (old && same_pairs(old, &d, uid)) { /* seen in this list; memos stay valid */
    old->gen = c->gen[kind];
    return;
  }
  if (d.cut) count_cut(c, node ? "node" : "namespace", name);
  if (node && !old && c->rules->max_nodes && c->nodes.n >= c->rules->max_nodes) {
    c->st.nodes_refused++;
    uint64_t skipped;
    char sup[48];
    if (pc_ratelimit(&c->rl_nodes, 60000, &skipped))
      pc_log(c->log_id, PC_LOG_WARN, "the cache holds max_nodes (%" PRIu64 ") nodes; node %s "
             "is not cached and its pods get no node labels: set filter.node_from_env_var "
             "(an agent needs only its own node) or raise max_nodes%s", c->rules->max_nodes,
             name, pc_suppressed(skipped, sup));
    return;
  }
  c->owner_gen++;
  if (old) {
    kmap_del(m, S(name), old);
    free(old);
  }
  size_t total = sizeof(named_t) + d.n_kv * sizeof(pc__k8s_kv_t) + zlen(name) + zlen(uid);
  for (uint32_t i = 0; i < d.n_kv; i++) total += zlen(d.kv[i].key) + zlen(d.kv[i].value);
  char *blob = pc_xmalloc(total);
  named_t *n = (named_t *)(void *)blob;
  n->kv = (pc__k8s_kv_t *)(void *)(blob + sizeof(named_t));
  n->n_kv = d.n_kv;
  char *at = blob + sizeof(named_t) + d.n_kv * sizeof(pc__k8s_kv_t);
  n->name = put(&at, name);
  n->uid = put(&at, uid);
  for (uint32_t i = 0; i < d.n_kv; i++) {
    n->kv[i].key = put(&at, d.kv[i].key);
    n->kv[i].value = put(&at, d.kv[i].value);
  }
  n->gen = c->gen[kind];
  n->bytes = total;
  kmap_put(m, S(n->name), n);
}

void pc__k8s_cache_object(pc__k8s_cache_t *c, pc__k8s_kind_t kind, pc__k8s_event_t ev,
                          const json_t *obj, uint64_t now_ms) {
  switch (kind) {
  case PC__K8S_PODS: on_pod(c, ev, obj, now_ms); break;
  case PC__K8S_REPLICASETS: on_replicaset(c, ev, obj); break;
  case PC__K8S_NAMESPACES:
  case PC__K8S_NODES: on_named(c, kind, ev, obj); break;
  }
}

void pc__k8s_cache_list_begin(pc__k8s_cache_t *c, pc__k8s_kind_t kind) { c->gen[kind]++; }

void pc__k8s_cache_list_end(pc__k8s_cache_t *c, pc__k8s_kind_t kind, uint64_t now_ms) {
  uint32_t gen = c->gen[kind];
  if (kind == PC__K8S_PODS) {
    for (uint32_t i = 0; i < c->by_uid.cap; i++) {
      pc__k8s_pod_t *p = c->by_uid.v[i].key ? c->by_uid.v[i].val : NULL;
      if (p && p->gen != gen && !p->deleted_ms) {
        p->deleted_ms = now_ms ? now_ms : 1;
        c->st.deleted++;
      }
    }
    return;
  }
  kmap_t *m = kind == PC__K8S_REPLICASETS ? &c->rs : kind == PC__K8S_NODES ? &c->nodes : &c->ns;
  for (uint32_t i = 0; i < m->cap;) {
    void *v = m->v[i].key ? m->v[i].val : NULL;
    uint32_t g = !v ? gen : kind == PC__K8S_REPLICASETS ? ((rs_t *)v)->gen : ((named_t *)v)->gen;
    if (g == gen) {
      i++;
      continue;
    }
    /* Deleting shifts a later entry into slot i: look at i again. */
    kmap_del(m, (pc_str_t){(const uint8_t *)m->v[i].key, m->v[i].len}, v);
    free(v);
    c->owner_gen++;
  }
}

void pc__k8s_cache_sweep(pc__k8s_cache_t *c, uint64_t now_ms, uint64_t grace_ms) {
  pc__k8s_pod_t *gone[256];
  for (;;) { /* in rounds: the map must not change while it is walked */
    size_t n = 0;
    for (uint32_t i = 0; i < c->by_uid.cap && n < 256; i++) {
      pc__k8s_pod_t *p = c->by_uid.v[i].key ? c->by_uid.v[i].val : NULL;
      if (p && p->deleted_ms && now_ms - p->deleted_ms >= grace_ms) gone[n++] = p;
    }
    for (size_t i = 0; i < n; i++) pod_drop(c, gone[i]);
    c->st.evicted += n;
    if (n < 256) return;
  }
}

/* ---- lookups -------------------------------------------------------------------------------- */

static const pc__k8s_pod_t *live(const pc__k8s_pod_t *p) { return p && !p->ignore ? p : NULL; }

const pc__k8s_pod_t *pc__k8s_pod_by_uid(const pc__k8s_cache_t *c, pc_str_t uid) {
  return live(kmap_get(&c->by_uid, uid));
}

const pc__k8s_pod_t *pc__k8s_pod_by_ip(const pc__k8s_cache_t *c, pc_str_t ip) {
  const pc__k8s_pod_t *p = kmap_get(&c->by_ip, ip);
  if (!p && ip.n && ip.n < 64 && memchr(ip.p, ':', ip.n)) { /* IPv6 written another way */
    char in[64], out[64];
    unsigned char b[16];
    memcpy(in, ip.p, ip.n);
    in[ip.n] = 0;
    if (inet_pton(AF_INET6, in, b) == 1 && inet_ntop(AF_INET6, b, out, sizeof out))
      p = kmap_get(&c->by_ip, S(out));
  }
  return live(p);
}

const pc__k8s_pod_t *pc__k8s_pod_by_container(const pc__k8s_cache_t *c, pc_str_t id,
                                              uint32_t *ci) {
  const pc__k8s_pod_t *p = live(kmap_get(&c->by_cid, id));
  for (uint32_t i = 0; p && i < p->n_containers; i++) {
    const pc__k8s_container_t *ct = &p->containers[i];
    if ((ct->id && pc_str_eq(S(ct->id), id)) || (ct->last_id && pc_str_eq(S(ct->last_id), id))) {
      if (ci) *ci = i;
      return p;
    }
  }
  return NULL;
}

const pc__k8s_pod_t *pc__k8s_pod_by_name(const pc__k8s_cache_t *c, pc_str_t ns, pc_str_t name) {
  char key[600];
  if (ns.n + name.n + 2 > sizeof key) return NULL;
  memcpy(key, ns.p, ns.n);
  key[ns.n] = '/';
  memcpy(key + ns.n + 1, name.p, name.n);
  return live(kmap_get(&c->by_name, (pc_str_t){(const uint8_t *)key, ns.n + name.n + 1}));
}

bool pc__k8s_replicaset_deployment(const pc__k8s_cache_t *c, const char *rs_uid,
                                   const char **name, const char **uid) {
  const rs_t *r = rs_uid ? kmap_get(&c->rs, S(rs_uid)) : NULL;
  if (!r) return false;
  *name = r->dep_name;
  *uid = r->dep_uid;
  return true;
}

const pc__k8s_kv_t *pc__k8s_namespace_attrs(const pc__k8s_cache_t *c, pc_str_t ns, uint32_t *n) {
  const named_t *x = kmap_get(&c->ns, ns);
  *n = x ? x->n_kv : 0;
  return x ? x->kv : NULL;
}

bool pc__k8s_node(const pc__k8s_cache_t *c, pc_str_t name, const pc__k8s_kv_t **kv, uint32_t *n,
                  const char **uid) {
  const named_t *x = name.n ? kmap_get(&c->nodes, name) : NULL;
  *kv = x ? x->kv : NULL;
  *n = x ? x->n_kv : 0;
  *uid = x ? x->uid : NULL;
  return x != NULL;
}
