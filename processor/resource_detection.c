/* resource_detection.c - the `resource_detection` processor (deprecated
 * alias `resourcedetection`): add what the host says about itself to every
 * resource, as the Collector's processor of that name.
 *
 *   processors:
 *     resource_detection:
 *       detectors: [env, system]   # in order; the first to set a key wins
 *       override: true             # detected values replace the resource's
 *       timeout: 5s                # bound on detection (name lookups)
 *       system:
 *         hostname_sources: [dns, os]
 *         resource_attributes: {host.id: {enabled: true}}
 *
 * The one idea: detection runs once, at start (a reload starts a new
 * instance, so it runs again then), never per request; consume only merges
 * the detected attributes into each resource, through the resource storage
 * resource.c shares: with override an existing key takes the detected
 * value, without it the resource's own value stays. The detectors are
 * detectors.c's (env, system). A detector that fails stops the start with
 * its reason, as in the Collector ("the error will propagate and stop the
 * collector from starting").
 *
 * k8s_api (the Collector's k8snode, renamed; k8snode still works) reads the
 * Node object named by an environment variable (node_from_env_var, default
 * K8S_NODE_NAME: the downward API's spec.nodeName) from the API server with
 * the k8s_attributes processor's client (k8s.h), bounded by timeout: its
 * k8s.node.name and k8s.node.uid. The Collector's cloud detectors (ec2,
 * gcp, docker, ...) are refused by name. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "internal.h"
#include "k8s.h"
#include "processor.h"

typedef enum { D_ENV, D_SYSTEM, D_K8S } detector_t;

typedef struct {
  const pc_cfg_node_t *detectors;
  bool override;
  uint64_t timeout_ms;
  const pc_cfg_node_t *allow_list;
  const pc_cfg_node_t *hostname_sources;
  bool host_name, host_id, os_type, host_arch;
  pc__k8s_api_cfg_t k8s;
  char *node_env;
  bool node_name, node_uid;
} rd_cfg_t;

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  detector_t detectors[4];
  size_t n_detectors;
  bool override;
  uint64_t timeout_ms;
  char **allow; /* env.allow_list, owned copies */
  size_t n_allow;
  bool has_allow;
  pc__system_cfg_t system;
  pc__k8s_node_cfg_t k8s;
  pc__detected_t found; /* what start detected */
  pc__amap_t map;
} rd_t;

#define ENABLED(name, field, def)                                                     \
  static const pc_opt_t field##_opts[] = {                                            \
      PC_OPT_BOOLEAN("enabled", def, rd_cfg_t, field, "set " name),                   \
      PC_OPT_TABLE_END,                                                               \
  }
ENABLED("host.name", host_name, "true");
ENABLED("host.id", host_id, "false");
ENABLED("os.type", os_type, "true");
ENABLED("host.arch", host_arch, "false");

static const pc_opt_t resource_attributes_opts[] = {
    PC_OPT_SECTION("host.name", host_name_opts, "the hostname, from hostname_sources"),
    PC_OPT_SECTION("host.id", host_id_opts, "/etc/machine-id (or /var/lib/dbus/machine-id)"),
    PC_OPT_SECTION("os.type", os_type_opts, "linux, from uname"),
    PC_OPT_SECTION("host.arch", host_arch_opts, "amd64, arm64, ... from uname"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t system_opts[] = {
    PC_OPT_ANY("hostname_sources", rd_cfg_t, hostname_sources,
               "list tried in order until one answers: dns (canonical name), os (the kernel's), "
               "cname, lookup (reverse lookup of its address); default [dns, os]"),
    PC_OPT_SECTION("resource_attributes", resource_attributes_opts, "what to set"),
    PC_OPT_TABLE_END,
};

ENABLED("k8s.node.name", node_name, "true");
ENABLED("k8s.node.uid", node_uid, "true");

static const pc_opt_t node_attributes_opts[] = {
    PC_OPT_SECTION("k8s.node.name", node_name_opts, "the node's name"),
    PC_OPT_SECTION("k8s.node.uid", node_uid_opts, "the node's uid"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t k8s_opts[] = {
    PC__K8S_API_OPTS(rd_cfg_t, k8s),
    PC_OPT_STR("node_from_env_var", "K8S_NODE_NAME", rd_cfg_t, node_env,
               "environment variable holding the node's name (the downward API's spec.nodeName)"),
    PC_OPT_SECTION("resource_attributes", node_attributes_opts, "what to set"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t env_opts[] = {
    PC_OPT_ANY("allow_list", rd_cfg_t, allow_list,
               "list of keys to take from the environment (default: all)"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t rd_opts[] = {
    PC_OPT_ANY("detectors", rd_cfg_t, detectors,
               "list run in order, the first to set a key wins: env (OTEL_RESOURCE_ATTRIBUTES, "
               "OTEL_SERVICE_NAME), system, k8s_api (the node from the Kubernetes API; "
               "k8snode, its old name, works too); default [env]"),
    PC_OPT_BOOLEAN("override", "true", rd_cfg_t, override,
                   "detected values replace the resource's own (false: only add missing keys)"),
    PC_OPT_DUR("timeout", "5s", rd_cfg_t, timeout_ms, 1, 3600000,
               "longest detection may take at start (name lookups of hostname_sources, the "
               "Kubernetes API)"),
    PC_OPT_SECTION("env", env_opts, "the env detector"),
    PC_OPT_SECTION("system", system_opts, "the system detector"),
    PC_OPT_SECTION("k8s_api", k8s_opts, "the k8s_api detector"),
    PC_OPT_SECTION("k8snode", k8s_opts, "the k8s_api detector by its old name (deprecated)"),
    PC_OPT_TABLE_END,
};

static rd_t *rd_of(pc_consumer_t *c) {
  return (rd_t *)(void *)((char *)c - offsetof(rd_t, consumer));
}

/* ---- consume: merge ------------------------------------------------------------------- */

static int rd_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  rd_t *p = rd_of(self);
  if (p->found.n && !req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow attributes in",
                      p->id);
  for (uint32_t i = 0; p->found.n && i < req->n_resources; i++) {
    pc_resource_profiles_t *rp = &req->resources[i];
    pc__resource_load(req, &rp->resource.attributes, &p->map);
    for (size_t k = 0; k < p->found.n; k++) {
      pc_str_t key = {(const uint8_t *)p->found.v[k].key, strlen(p->found.v[k].key)};
      pc_anyvalue_t v = {.type = PC_AV_STRING,
                         .u.s = {(const uint8_t *)p->found.v[k].value, strlen(p->found.v[k].value)}};
      pc__am_entry_t *e = pc__amap_find(&p->map, key);
      if (!e) {
        pc__amap_push(&p->map, key, v, -1);
        p->map.changed = true;
      } else if (p->override) {
        e->value = v;
        e->set = p->map.changed = true;
      }
    }
    if (p->map.changed && pc__resource_store(req, rp, &p->map))
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory adding resource attributes", p->id);
  }
  return p->next->consume_profiles(p->next, req, err);
}

/* ---- config ------------------------------------------------------------------------------ */

static const char *const known[] = {"env", "system", "k8s_api", "k8snode"};

/* The Collector's other detectors: refused by name, not as typos. */
static const char *const collector_only[] = {
    "gcp", "ec2", "ecs", "eks", "elastic_beanstalk", "elasticbeanstalk", "lambda", "azure",
    "aks", "azurecontainerapps", "heroku", "openshift", "dynatrace", "consul", "docker",
    "kubeadm", "hetzner", "akamai", "scaleway", "vultr", "oraclecloud", "digitalocean", "nova",
    "upcloud", "alibaba_ecs", "tencent_cvm", "ibmcloud_vpc", "ibmcloud_classic"};

static int parse_detectors(rd_t *p, const pc_cfg_node_t *list, pc_err_t *err) {
  if (!list || list->type == PC_CFG_NULL) {
    p->detectors[p->n_detectors++] = D_ENV; /* the Collector's default */
    return 0;
  }
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of detectors, e.g. [env, system]");
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *d = list->items[i];
    if (d->type != PC_CFG_SCALAR) return pc_cfg_error(err, d, PC_EINVAL, "must be a detector name");
    detector_t t;
    if (!strcmp(d->text, "env")) {
      t = D_ENV;
    } else if (!strcmp(d->text, "system")) {
      t = D_SYSTEM;
    } else if (!strcmp(d->text, "k8s_api") || !strcmp(d->text, "k8snode")) {
      t = D_K8S;
    } else {
      bool collector = false;
      for (size_t k = 0; k < sizeof collector_only / sizeof *collector_only; k++)
        collector = collector || !strcmp(d->text, collector_only[k]);
      const char *hint = collector ? NULL : pc_cfg_did_you_mean(d->text, known, 2);
      return pc_cfg_error(err, d, PC_EINVAL, "%s detector \"%s\": profcol has env, system and "
                          "k8s_api%s%s%s",
                          collector ? "the Collector's" : "unknown", d->text,
                          hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
    for (size_t k = 0; k < p->n_detectors; k++)
      if (p->detectors[k] == t)
        return pc_cfg_error(err, d, PC_EINVAL, "detector %s is listed twice", d->text);
    p->detectors[p->n_detectors++] = t;
  }
  return 0;
}

static int parse_sources(rd_t *p, const pc_cfg_node_t *list, pc_err_t *err) {
  static const char *const names[] = {"dns", "os", "cname", "lookup"};
  if (!list || list->type == PC_CFG_NULL || (list->type == PC_CFG_SEQ && !list->n_items)) {
    p->system.sources[0] = PC__HOST_DNS; /* the Collector's default */
    p->system.sources[1] = PC__HOST_OS;
    p->system.n_sources = 2;
    return 0;
  }
  if (list->type != PC_CFG_SEQ)
    return pc_cfg_error(err, list, PC_EINVAL, "must be a list of dns, os, cname and lookup");
  if (list->n_items > sizeof p->system.sources / sizeof p->system.sources[0])
    return pc_cfg_error(err, list, PC_EINVAL, "lists %zu sources; there are 4", list->n_items);
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *s = list->items[i];
    size_t k = 0;
    while (k < 4 && !(s->type == PC_CFG_SCALAR && !strcmp(s->text, names[k]))) k++;
    if (k == 4)
      return pc_cfg_error(err, s, PC_EINVAL, "hostname source \"%s\": want dns, os, cname or "
                          "lookup", s->type == PC_CFG_SCALAR ? s->text : "");
    p->system.sources[p->system.n_sources++] = (pc__hostname_source_t)k;
  }
  return 0;
}

static void rd_destroy(void *self);

static void *rd_create(const pc_create_args_t *args, pc_err_t *err) {
  rd_cfg_t c = {0};
  if (pc_cfg_apply(rd_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  rd_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  p->override = c.override;
  p->timeout_ms = c.timeout_ms;
  p->system.host_name = c.host_name;
  p->system.host_id = c.host_id;
  p->system.os_type = c.os_type;
  p->system.host_arch = c.host_arch;
  const pc_cfg_node_t *k8s = pc_cfg_get(args->cfg, "k8s_api");
  const pc_cfg_node_t *k8snode = pc_cfg_get(args->cfg, "k8snode");
  if (k8s && k8snode) {
    pc_cfg_key_error(err, k8snode, PC_EINVAL, "give k8s_api or k8snode (its old name), not both");
    goto fail;
  }
  if (parse_detectors(p, c.detectors, err) || parse_sources(p, c.hostname_sources, err) ||
      pc__k8s_api_parse(&c.k8s, k8s ? k8s : k8snode, &p->k8s.auth, err))
    goto fail;
  if (k8snode)
    pc_log(p->id, PC_LOG_WARN, "k8snode is deprecated: call the section k8s_api");
  snprintf(p->k8s.node_env, sizeof p->k8s.node_env, "%s", c.node_env ? c.node_env : "");
  p->k8s.node_name = c.node_name;
  p->k8s.node_uid = c.node_uid;
  p->k8s.context = c.k8s.context ? pc_xstrdup(c.k8s.context) : NULL;
  p->k8s.kube_config_path = c.k8s.kube_config_path ? pc_xstrdup(c.k8s.kube_config_path) : NULL;
  p->k8s.sa_dir = PC__K8S_SA_DIR;
  for (size_t i = 0; i < p->n_detectors; i++)
    if (p->detectors[i] == D_K8S && !c.node_env[0]) {
      pc_cfg_error(err, pc_cfg_get(k8s ? k8s : k8snode, "node_from_env_var"), PC_EINVAL,
                   "must name an environment variable");
      goto fail;
    }
  if (c.allow_list && c.allow_list->type != PC_CFG_NULL) {
    if (c.allow_list->type != PC_CFG_SEQ) {
      pc_cfg_error(err, c.allow_list, PC_EINVAL, "must be a list of attribute keys");
      goto fail;
    }
    p->has_allow = true;
    p->allow = pc_xcalloc(c.allow_list->n_items + 1, sizeof *p->allow);
    for (size_t i = 0; i < c.allow_list->n_items; i++, p->n_allow++) {
      const pc_cfg_node_t *k = c.allow_list->items[i];
      if (k->type != PC_CFG_SCALAR || !k->text[0]) {
        pc_cfg_error(err, k, PC_EINVAL, "must be an attribute key");
        goto fail;
      }
      if (!(p->allow[i] = strdup(k->text))) pc_oom();
    }
  }
  p->consumer.consume_profiles = rd_consume_profiles;
  p->consumer.retry_after_s = p->next->retry_after_s;
  return p;
fail:
  rd_destroy(p);
  return NULL;
}

static pc_consumer_t *rd_consumer(void *self) { return &((rd_t *)self)->consumer; }

/* ---- lifecycle: detection at start ----------------------------------------------------------- */

static int rd_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)loop;
  rd_t *p = self;
  pc__detected_free(&p->found);
  char why[300];
  for (size_t i = 0; i < p->n_detectors; i++) {
    static const char *const names[] = {"env", "system", "k8s_api"};
    int rc = p->detectors[i] == D_ENV
                 ? pc__detect_env(p->allow, p->n_allow, p->has_allow, &p->found, why, sizeof why)
             : p->detectors[i] == D_SYSTEM
                 ? pc__detect_system(&p->system, p->timeout_ms, &p->found, why, sizeof why)
                 : pc__detect_k8s_node(&p->k8s, p->timeout_ms, &p->found, why, sizeof why);
    if (rc) {
      pc__detected_free(&p->found);
      return pc_err_set(err, rc, "%s: %s detector: %s", p->id, names[p->detectors[i]], why);
    }
    if (p->detectors[i] == D_SYSTEM && p->system.host_id) {
      bool have = false;
      for (size_t k = 0; k < p->found.n; k++) have = have || !strcmp(p->found.v[k].key, "host.id");
      if (!have)
        pc_log(p->id, PC_LOG_WARN, "host.id is enabled but neither /etc/machine-id nor "
               "/var/lib/dbus/machine-id can be read: resources get no host.id");
    }
  }
  char list[512];
  size_t o = 0;
  list[0] = 0;
  for (size_t k = 0; k < p->found.n && o < sizeof list; k++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "", p->found.v[k].key);
  pc_log(p->id, PC_LOG_INFO, "detected %zu resource attributes (%s)%s", p->found.n,
         p->found.n ? list : "none", p->override ? "; they override the resources' own" : "");
  return 0;
}

/* Nothing is held between calls: done at once. */
static void rd_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void rd_destroy(void *self) {
  rd_t *p = self;
  if (!p) return;
  pc__detected_free(&p->found);
  pc__amap_free(&p->map);
  for (size_t i = 0; i < p->n_allow; i++) free(p->allow[i]);
  free(p->allow);
  free(p->k8s.context);
  free(p->k8s.kube_config_path);
  free(p);
}

const pc_component_t pc_processor_resource_detection = {
    .type = "resource_detection",
    .deprecated_alias = "resourcedetection",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .mutates = true, /* edits resource attributes in place */
    .stability = "development",
    .options = rd_opts,
    .create = rd_create,
    .consumer = rd_consumer,
    .start = rd_start,
    .shutdown = rd_shutdown,
    .destroy = rd_destroy,
};
