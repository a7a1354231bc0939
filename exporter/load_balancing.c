/* load_balancing.c - the `load_balancing` exporter (the Collector contrib's
 * `loadbalancing`): sends each trace's spans and profile samples to one
 * backend of a tier, chosen on a consistent-hash ring (ring.c), so that
 * trace linking and anything else that needs a whole trace works behind a
 * tier of gateways.
 *
 *   load_balancing:
 *     routing_key: traceID          # or service, resource
 *     protocol:
 *       otlp_grpc: {tls: {insecure: true}}   # or otlp_http: {...}
 *     resolver:
 *       static: {hostnames: [gw-1:4317, gw-2:4317]}
 *       # dns: {hostname: gateways.obs.svc.cluster.local, port: 4317, interval: 5s}
 *
 * The one idea: a backend is an ordinary otlp_grpc or otlp_http exporter
 * instance (on send.c: its own sending queue, retries, persistent queue,
 * counters), created from the protocol section with the backend's endpoint
 * put in; this file only decides who gets what. A request is cut by routing
 * key: a profile sample goes where its link's trace id points, an unlinked
 * sample where its resource's service.name points; each backend's part is
 * merged into a builder of its own (pdata/intern.h), so it carries only the
 * dictionary entries its samples use. A traces request is cut by its spans'
 * trace ids (pdata/traces_split.c), bytes kept as they came. A request
 * whose samples or spans all go to one backend is handed on whole.
 *
 * Resolvers: static, a fixed list; dns, uv_getaddrinfo on the loop every
 * interval (one lookup at a time, answers after timeout ignored), every
 * address one backend. A failed or empty lookup keeps the last list.
 *
 * A backend that leaves the list (dns) leaves the ring at once, so new data
 * goes to the keys' new owners; its exporter is retired, not stopped: each
 * batch it still holds is handed back here before its next try, decoded
 * and routed again over the new ring (send.c's pc__send_retire).
 * Re-routing, not draining to the old address, because a gateway leaves
 * the DNS answer when it is being stopped, and a stopping profcol closes
 * its receivers at once: what was queued for it would be retried against a
 * closed port until dropped. A batch that cannot be re-routed now (every
 * other queue full) stays and is offered again at its next try; one in
 * flight when the backend left finishes there if the backend answers. The
 * retired exporter is shut down once it holds nothing. A static backend
 * never leaves: while it is down its queue holds its keys' data and
 * retries, as the contrib does.
 *
 * Guarantee: at least once. A request cut across backends is refused
 * (PC_EAGAIN, the client retries) when a target's queue is full before
 * anything is queued; a part refused after others were queued makes the
 * client send those again. */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../component/component.h"
#include "../core/log.h"
#include "../pdata/intern.h"
#include "../pdata/traces.h"
#include "exporter.h"
#include "internal.h"

#define SWEEP_MS 1000          /* how often retired backends are checked for being empty */
#define MAX_BACKENDS 4096      /* owners are uint16_t; a tier is far smaller */
#define MAX_REROUTE_BYTES ((size_t)1 << 31)

/* ---- config ------------------------------------------------------------------------ */

typedef struct {
  const pc_cfg_node_t *protocol, *resolver;
  char *routing_key;
} lb_cfg_t;

typedef struct {
  char *hostname, *port;
  uint64_t interval_ms, timeout_ms;
} dns_cfg_t;

static const pc_opt_t dns_opts[] = {
    PC_OPT_STR("hostname", NULL, dns_cfg_t, hostname,
               "name whose addresses are the backends (a headless Service)"),
    PC_OPT_STR("port", NULL, dns_cfg_t, port,
               "port of every address (default 4317 for otlp_grpc, 4318 for otlp_http)"),
    PC_OPT_DUR("interval", "5s", dns_cfg_t, interval_ms, 100, 86400000, "resolve this often"),
    PC_OPT_DUR("timeout", "1s", dns_cfg_t, timeout_ms, 1, 3600000,
               "an answer later than this is ignored (the last list stays)"),
    PC_OPT_TABLE_END,
};

/* Only for the help text: the sections are read by hand (one of each). */
static const pc_opt_t lb_opts[] = {
    PC_OPT_STR("routing_key", "traceID", lb_cfg_t, routing_key,
               "traceID (spans by trace id; samples by their link's trace id, unlinked ones by "
               "service.name), service (by service.name) or resource (by all resource "
               "attributes)"),
    PC_OPT_ANY("protocol", lb_cfg_t, protocol,
               "otlp_grpc (alias otlp) or otlp_http (alias otlphttp): that exporter's config "
               "without endpoint, used for every backend"),
    PC_OPT_ANY("resolver", lb_cfg_t, resolver,
               "static: {hostnames: [host:port, ...]} or dns: {hostname, port, interval "
               "(5s), timeout (1s)}"),
    PC_OPT_TABLE_END,
};

typedef enum { KEY_TRACE, KEY_SERVICE, KEY_RESOURCE } routing_t;

/* ---- the instance ------------------------------------------------------------------ */

typedef struct lb lb_t;

typedef struct backend {
  struct backend *next; /* in lb->retiring */
  lb_t *lb;
  char *name;           /* the ring's name: host:port (a static entry as written) */
  char *id;             /* "load_balancing/x/host:port" */
  pc_cfg_node_t node;   /* the protocol section with this endpoint */
  pc_cfg_node_t ep;
  char *ep_text, *ep_path;
  void *inst;
  pc_consumer_t *c;
  pc_builder_t *b;
  bool started, retiring, stopping;
  uint64_t routed_samples, routed_spans, routed_requests;
} backend_t;

typedef enum { LB_CREATED, LB_RUNNING, LB_STOPPING, LB_STOPPED } lb_state_t;

struct lb {
  pc_consumer_t consumer; /* first: the consumer's container */
  char id[128];           /* "exporter:load_balancing/x" */
  char comp_id[128];
  const pc_component_t *proto; /* otlp_grpc or otlp_http */
  pc_cfg_node_t *proto_cfg;   /* a copy of the protocol's exporter section, or NULL */
  char *proto_key;
  pc_cfg_node_t *where; /* a copy of the resolver's node that names the backends */
  bool https;                 /* otlp_http: a tls section was given */
  routing_t key;
  pc_signal_t signals;
  pc_host_t *host; /* a copy of what resolve got, to resolve new backends with */
  /* resolver */
  bool dns;
  char **statics;
  size_t n_statics;
  char *dns_host, *dns_port;
  uint64_t interval_ms, timeout_ms;
  /* backends */
  backend_t **live; /* the ring's, in ring index order */
  size_t n_live;
  pc__ring_t *ring;
  backend_t *retiring;
  /* runtime */
  lb_state_t state;
  uv_loop_t *loop;
  uv_timer_t dns_timer, sweep_timer;
  uv_getaddrinfo_t *gai; /* the lookup in flight, or NULL */
  uint64_t gai_started_ms;
  pc_arena_t *scratch;
  uint16_t *owners;
  size_t owners_cap;
  unsigned pending;  /* shutdown: backends and handles still to finish */
  pc_done_cb done;
  void *done_arg;
  uint64_t deadline_ms;
  pc__ratelimit_t rl_dns;
  bool orphans_done; /* persistent queues of backends gone since the last run adopted */
  /* counters */
  uint64_t resolutions, resolution_failures, ring_changes, backends_added, backends_removed;
  uint64_t rerouted_batches, reroute_failures;
};

/* A deep copy of a config subtree: a component may not keep the loaded
 * tree past create, and backends are made later (at start, at each dns
 * answer) from the protocol section. */
static pc_cfg_node_t *node_copy(const pc_cfg_node_t *n) {
  if (!n) return NULL;
  pc_cfg_node_t *c = pc_xcalloc(1, sizeof *c);
  *c = *n;
  c->file = n->file ? pc_xstrdup(n->file) : NULL;
  c->path = n->path ? pc_xstrdup(n->path) : NULL;
  c->text = n->text ? pc_xstrdup(n->text) : NULL;
  c->entries = NULL;
  c->items = NULL;
  if (n->n_entries) {
    c->entries = pc_xcalloc(n->n_entries, sizeof *c->entries);
    for (size_t i = 0; i < n->n_entries; i++)
      c->entries[i] = (pc_cfg_entry_t){pc_xstrdup(n->entries[i].key),
                                       node_copy(n->entries[i].value)};
  }
  if (n->n_items) {
    c->items = pc_xcalloc(n->n_items, sizeof *c->items);
    for (size_t i = 0; i < n->n_items; i++) c->items[i] = node_copy(n->items[i]);
  }
  return c;
}

static void node_free(pc_cfg_node_t *n) {
  if (!n) return;
  for (size_t i = 0; i < n->n_entries; i++) {
    free((void *)n->entries[i].key);
    node_free(n->entries[i].value);
  }
  for (size_t i = 0; i < n->n_items; i++) node_free(n->items[i]);
  free(n->entries);
  free(n->items);
  free((void *)n->file);
  free((void *)n->path);
  free((void *)n->text);
  free(n);
}

static void backend_free(backend_t *be) {
  if (!be) return;
  if (be->inst) be->lb->proto->destroy(be->inst);
  if (be->b) pc_builder_free(be->b);
  free(be->node.entries);
  free(be->ep_text);
  free(be->ep_path);
  free(be->name);
  free(be->id);
  free(be);
}

/* "host:port" from a hostname as written (a default port added). */
static char *with_port(const char *h, const char *port) {
  const char *hp = strstr(h, "://");
  hp = hp ? hp + 3 : h;
  const char *colon = strrchr(hp, ':'), *bracket = strrchr(hp, ']');
  bool has_port = colon && (!bracket || colon > bracket);
  size_t n = strlen(h) + strlen(port) + 2;
  char *s = pc_xmalloc(n);
  snprintf(s, n, has_port ? "%s" : "%s:%s", h, port);
  return s;
}

/* A backend's exporter config: the protocol section, endpoint set to name
 * (with the scheme otlp_http needs). Errors in the section keep their
 * places; the endpoint's is the resolver's. */
static backend_t *backend_new(lb_t *lb, const char *name) {
  backend_t *be = pc_xcalloc(1, sizeof *be);
  be->lb = lb;
  be->name = pc_xstrdup(name);
  size_t n = strlen(lb->comp_id) + strlen(name) + 2;
  be->id = pc_xmalloc(n);
  snprintf(be->id, n, "%s/%s", lb->comp_id, name);
  bool scheme = strstr(name, "://") != NULL;
  n = strlen(name) + 16;
  be->ep_text = pc_xmalloc(n);
  snprintf(be->ep_text, n, "%s%s", scheme || lb->proto == &pc_exporter_otlp ? "" :
           lb->https ? "https://" : "http://", name);
  const pc_cfg_node_t *src = lb->proto_cfg;
  n = strlen(src && src->path ? src->path : "protocol") + 16;
  be->ep_path = pc_xmalloc(n);
  snprintf(be->ep_path, n, "%s.endpoint", src && src->path ? src->path : "protocol");
  be->ep = (pc_cfg_node_t){.type = PC_CFG_SCALAR, .file = lb->where->file,
                           .line = lb->where->line, .col = lb->where->col,
                           .path = be->ep_path, .text = be->ep_text, .quoted = true};
  be->node = (pc_cfg_node_t){.type = PC_CFG_MAP};
  size_t m = src && src->type == PC_CFG_MAP ? src->n_entries : 0;
  if (src) {
    be->node.file = src->file;
    be->node.line = src->line;
    be->node.col = src->col;
    be->node.key_line = src->key_line;
    be->node.key_col = src->key_col;
    be->node.path = src->path;
  } else {
    be->node.file = lb->where->file;
    be->node.line = lb->where->line;
    be->node.col = lb->where->col;
    be->node.path = "protocol";
  }
  be->node.entries = pc_xcalloc(m + 1, sizeof *be->node.entries);
  for (size_t i = 0; i < m; i++) be->node.entries[be->node.n_entries++] = src->entries[i];
  be->node.entries[be->node.n_entries++] = (pc_cfg_entry_t){"endpoint", &be->ep};
  return be;
}

/* Create (and when running, resolve and start) the exporter of be. */
static int backend_create(lb_t *lb, backend_t *be, pc_err_t *err) {
  pc_create_args_t args = {.id = be->id, .cfg = &be->node, .signals = lb->signals};
  if (!(be->inst = lb->proto->create(&args, err))) return err->code ? err->code : PC_EINVAL;
  be->c = lb->proto->consumer(be->inst);
  if (lb->host && lb->proto->resolve && lb->proto->resolve(be->inst, lb->host, err))
    return err->code;
  return 0;
}

static int backend_start(lb_t *lb, backend_t *be, pc_err_t *err) {
  int rc = lb->proto->start(be->inst, lb->loop, err);
  if (rc) return rc;
  be->started = true;
  be->b = pc_builder_new();
  return 0;
}

/* Retire be's exporter (cb: where its batches go instead) or, cb NULL,
 * take it back. Both OTLP exporters' instances begin with their client,
 * whose sender holds the batches. */
static void retire(backend_t *be, pc__handback_cb cb, void *arg) {
  pc__send_retire(((pc__client_t *)be->inst)->send, cb, arg);
}

/* ---- create -------------------------------------------------------------------------- */

static int parse_protocol(lb_t *lb, const pc_cfg_node_t *cfg, const pc_cfg_node_t *p,
                          pc_err_t *err) {
  static const struct {
    const char *key;
    const pc_component_t *comp;
  } protos[] = {{"otlp_grpc", &pc_exporter_otlp}, {"otlp", &pc_exporter_otlp},
                {"otlp_http", &pc_exporter_otlphttp}, {"otlphttp", &pc_exporter_otlphttp}};
  if (!p || p->type == PC_CFG_NULL)
    return pc_cfg_error(err, cfg, PC_EINVAL, "set protocol: {otlp_grpc: {...}} or protocol: "
                        "{otlp_http: {...}} (the exporter config used for every backend)");
  if (p->type != PC_CFG_MAP || p->n_entries != 1)
    return pc_cfg_error(err, p, PC_EINVAL, "protocol holds exactly one of otlp_grpc (alias "
                        "otlp) or otlp_http (alias otlphttp)");
  const char *k = p->entries[0].key;
  for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
    if (!strcmp(k, protos[i].key)) lb->proto = protos[i].comp;
  if (!lb->proto)
    return pc_cfg_key_error(err, p->entries[0].value ? p->entries[0].value : p, PC_EINVAL,
                            "unknown protocol \"%s\": otlp_grpc (alias otlp) or otlp_http "
                            "(alias otlphttp)", k);
  lb->proto_key = pc_xstrdup(k);
  const pc_cfg_node_t *pc = p->entries[0].value;
  if (pc && pc->type == PC_CFG_NULL) pc = NULL;
  if (pc && pc->type != PC_CFG_MAP)
    return pc_cfg_error(err, pc, PC_EINVAL, "expected a map of %s exporter settings", k);
  const pc_cfg_node_t *ep = pc_cfg_get(pc, "endpoint");
  if (ep)
    return pc_cfg_key_error(err, ep, PC_EINVAL, "the resolver names the backends: leave "
                            "endpoint out of the protocol section");
  lb->https = lb->proto == &pc_exporter_otlphttp && pc_cfg_get(pc, "tls");
  lb->proto_cfg = node_copy(pc);
  return 0;
}

static bool port_ok(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  return *s && !*end && v > 0 && v <= 65535;
}

static int parse_resolver(lb_t *lb, const pc_cfg_node_t *cfg, const pc_cfg_node_t *r,
                          pc_err_t *err) {
  if (!r || r->type != PC_CFG_MAP || r->n_entries != 1)
    return pc_cfg_error(err, r ? r : cfg, PC_EINVAL, "resolver holds exactly one of static: "
                        "{hostnames: [...]} or dns: {hostname: ...}");
  const char *k = r->entries[0].key;
  const pc_cfg_node_t *v = r->entries[0].value;
  const char *def_port = lb->proto == &pc_exporter_otlphttp ? "4318" : "4317";
  if (!strcmp(k, "static")) {
    const pc_cfg_node_t *h = pc_cfg_get(v, "hostnames");
    if (v && v->type == PC_CFG_MAP)
      for (size_t i = 0; i < v->n_entries; i++)
        if (strcmp(v->entries[i].key, "hostnames"))
          return pc_cfg_key_error(err, v->entries[i].value ? v->entries[i].value : v,
                                  PC_EINVAL, "unknown key \"%s\" (static has hostnames)",
                                  v->entries[i].key);
    if (!h || h->type != PC_CFG_SEQ || !h->n_items)
      return pc_cfg_error(err, h ? h : v ? v : r, PC_EINVAL,
                          "expected hostnames: a list of host:port, at least one");
    if (h->n_items > MAX_BACKENDS)
      return pc_cfg_error(err, h, PC_EINVAL, "%zu backends; at most %d", h->n_items,
                          MAX_BACKENDS);
    lb->where = node_copy(h);
    lb->statics = pc_xcalloc(h->n_items, sizeof *lb->statics);
    for (size_t i = 0; i < h->n_items; i++) {
      const pc_cfg_node_t *it = h->items[i];
      if (!it || it->type != PC_CFG_SCALAR || !it->text[0] || strpbrk(it->text, " \t"))
        return pc_cfg_error(err, it ? it : h, PC_EINVAL, "expected host:port (or host, "
                            "port %s), got %s", def_port,
                            it && it->text ? it->text : "no value");
      char *name = with_port(it->text, def_port);
      for (size_t j = 0; j < lb->n_statics; j++)
        if (!strcmp(lb->statics[j], name)) {
          free(name);
          return pc_cfg_error(err, it, PC_EINVAL, "\"%s\" is listed twice", it->text);
        }
      lb->statics[lb->n_statics++] = name;
    }
    return 0;
  }
  if (!strcmp(k, "dns")) {
    dns_cfg_t d = {0};
    if (pc_cfg_apply(dns_opts, v, &d, err)) return err->code;
    if (!d.hostname || !d.hostname[0])
      return pc_cfg_error(err, v ? v : r, PC_EINVAL, "set hostname (e.g. the headless "
                          "Service gateways.observability.svc.cluster.local)");
    if (d.port && !port_ok(d.port))
      return pc_cfg_error(err, pc_cfg_get(v, "port"), PC_EINVAL,
                          "expected a port from 1 to 65535, got \"%s\"", d.port);
    lb->dns = true;
    lb->where = node_copy(pc_cfg_get(v, "hostname"));
    lb->dns_host = pc_xstrdup(d.hostname);
    lb->dns_port = pc_xstrdup(d.port ? d.port : def_port);
    lb->interval_ms = d.interval_ms;
    lb->timeout_ms = d.timeout_ms;
    return 0;
  }
  if (!strcmp(k, "k8s") || !strcmp(k, "aws_cloud_map"))
    return pc_cfg_key_error(err, v ? v : r, PC_EINVAL, "profcol has no %s resolver: use dns "
                            "with a headless Service (its name resolves to every ready pod)",
                            k);
  return pc_cfg_key_error(err, v ? v : r, PC_EINVAL, "unknown resolver \"%s\": static or dns",
                          k);
}

static int lb_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
static int lb_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err);
static void lb_destroy(void *self);

static void *lb_create(const pc_create_args_t *args, pc_err_t *err) {
  lb_cfg_t c = {0};
  if (pc_cfg_apply(lb_opts, args->cfg, &c, err)) return NULL;
  lb_t *lb = pc_xcalloc(1, sizeof *lb);
  snprintf(lb->id, sizeof lb->id, "exporter:%s", args->id);
  snprintf(lb->comp_id, sizeof lb->comp_id, "%s", args->id);
  lb->signals = args->signals;
  const pc_cfg_node_t *rk = pc_cfg_get(args->cfg, "routing_key");
  int rc = 0;
  if (!strcmp(c.routing_key, "traceID")) lb->key = KEY_TRACE;
  else if (!strcmp(c.routing_key, "service")) lb->key = KEY_SERVICE;
  else if (!strcmp(c.routing_key, "resource")) lb->key = KEY_RESOURCE;
  else
    rc = pc_cfg_error(err, rk, PC_EINVAL, "routing_key \"%s\" is not one profcol routes "
                      "profiles and spans by: traceID, service or resource%s", c.routing_key,
                      !strcmp(c.routing_key, "metric") || !strcmp(c.routing_key, "streamID")
                          ? " (metric and streamID are for metrics)" : "");
  /* Each part is checked even when another is wrong: validate reports all. */
  int prc = parse_protocol(lb, args->cfg, c.protocol, err);
  int rrc = parse_resolver(lb, args->cfg, c.resolver, err);
  if (!rc) rc = prc ? prc : rrc;
  if (!prc && !rrc) { /* the protocol section's own errors, with their places, now */
    backend_t *probe = backend_new(lb, "localhost");
    int crc = backend_create(lb, probe, err);
    if (!rc) rc = crc;
    if (!crc) {
      lb->consumer.max_body = probe->c->max_body;
      lb->consumer.retry_after_s = probe->c->retry_after_s;
    }
    backend_free(probe);
  }
  if (rc) {
    lb_destroy(lb);
    return NULL;
  }
  lb->consumer.consume_profiles = lb_consume_profiles;
  lb->consumer.consume_traces = lb_consume_traces;
  lb->scratch = pc_arena_new(0);
  return lb;
}

static pc_consumer_t *lb_consumer(void *self) { return &((lb_t *)self)->consumer; }

static int lb_resolve(void *self, const pc_host_t *host, pc_err_t *err) {
  lb_t *lb = self;
  pc_host_free(lb->host);
  lb->host = pc_host_copy(host);
  /* What the protocol section names (auth, storage) is checked once, now. */
  backend_t *probe = backend_new(lb, "localhost");
  int rc = backend_create(lb, probe, err);
  backend_free(probe);
  return rc;
}

/* ---- routing ----------------------------------------------------------------------- */

static const pc_str_t SERVICE_NAME = {(const uint8_t *)"service.name", 12};

static size_t owner_of(const lb_t *lb, const void *key, size_t n) {
  return pc__ring_find(lb->ring, pc__ring_position(key, n));
}

/* The position of a resource's key (service or resource routing, and
 * unlinked samples). */
static size_t resource_owner(const lb_t *lb, const pc_request_t *req,
                             const pc_resource_t *res) {
  if (lb->key == KEY_RESOURCE) {
    /* Order-independent: the sum of a hash per key/value. */
    uint64_t h = 0;
    for (uint32_t i = 0; i < res->attributes.n; i++) {
      const pc_keyvalue_t *kv = &res->attributes.v[i];
      pc_str_t k = req ? pc_profiles_kv_key(req, kv) : kv->key;
      pc_str_t v = kv->value.type == PC_AV_STRING ? kv->value.u.s
                   : req && kv->value.type == PC_AV_STRINDEX
                       ? pc_dict_string(&req->dict, kv->value.u.strindex) : (pc_str_t){0};
      h += pc_hash64(k.p, k.n) * 31 + pc_hash64(v.p, v.n);
    }
    return owner_of(lb, &h, sizeof h);
  }
  pc_str_t s = {0};
  if (req) {
    s = pc_profiles_kvs_string(req, &res->attributes, SERVICE_NAME);
  } else {
    const pc_anyvalue_t *v = pc_kvs_get(&res->attributes, SERVICE_NAME);
    if (v && v->type == PC_AV_STRING) s = v->u.s;
  }
  return owner_of(lb, s.p, s.n);
}

static bool trace_id_set(pc_str_t id) {
  if (id.n != 16) return false;
  for (size_t i = 0; i < 16; i++)
    if (id.p[i]) return true;
  return false;
}

static uint16_t *owners(lb_t *lb, size_t n) {
  if (n > lb->owners_cap) {
    lb->owners_cap = n + n / 2 + 64;
    lb->owners = pc_xrealloc(lb->owners, lb->owners_cap * sizeof *lb->owners);
  }
  return lb->owners;
}

typedef struct {
  const uint16_t *owner;
  size_t i;
  uint16_t want;
} pick_t;

static bool pick_owner(void *arg, const pc_request_t *req, const pc_resource_profiles_t *rp,
                       const pc_profile_t *p, const pc_sample_t *s) {
  (void)req, (void)rp, (void)p, (void)s;
  pick_t *k = arg;
  return k->owner[k->i++] == k->want;
}

/* Refuse before anything is queued when a target's queue is full. Else
 * 0, with *only set to the one backend that gets everything, or to
 * SIZE_MAX when the request is cut among several. */
static int check_room(lb_t *lb, const uint64_t *count, size_t *only, pc_err_t *err) {
  size_t targets = 0;
  for (size_t k = 0; k < lb->n_live; k++) {
    if (!count[k]) continue;
    targets++;
    *only = k;
    pc_otlphttp_stats_t st;
    pc_otlphttp_stats(lb->live[k]->inst, &st);
    if (st.queue_batches >= st.queue_capacity_batches ||
        st.queue_bytes >= st.queue_capacity_bytes)
      return pc_err_set(err, PC_EAGAIN, "the sending queue of backend %s is full (%" PRIu64
                        " batches, %" PRIu64 " bytes)", lb->live[k]->name, st.queue_batches,
                        st.queue_bytes);
  }
  if (targets != 1) *only = SIZE_MAX;
  return 0;
}

/* One backend's part, merged into its builder and handed on as a body (or
 * as a tree when the body would pass its limit: its exporter splits it). */
static int hand_part(lb_t *lb, backend_t *be, const pc_request_t *req, size_t k,
                     const uint16_t *owner, pc_err_t *err) {
  pc_arena_reset(lb->scratch);
  pick_t pk = {owner, 0, (uint16_t)k};
  pc_request_t view;
  uint64_t kept;
  int rc = pc_request_view(req, lb->scratch, pick_owner, &pk, &view, &kept);
  if (rc) return pc_err_set(err, rc, "cannot cut the request for backend %s: %s", be->name,
                            pc_strerror(rc));
  pc_builder_reset(be->b);
  if ((rc = pc_builder_add(be->b, &view, err))) return rc;
  const pc_builder_stats_t *st = pc_builder_stats(be->b);
  be->routed_samples += st->samples;
  be->routed_requests++;
  if (!be->c->consume_encoded || (be->c->max_body && st->out_bytes > be->c->max_body)) {
    pc_request_t *out = pc_builder_request(be->b);
    out->metadata = req->metadata;
    rc = be->c->consume_profiles(be->c, out, err);
  } else {
    pc_bytes_t *md = pc_md_bytes(req->metadata);
    pc_body_t *body = pc_builder_body(be->b, be->c->encodings, md, &rc);
    pc_bytes_unref(md);
    if (!body)
      return pc_err_set(err, rc, "cannot encode a batch for backend %s: %s", be->name,
                        pc_strerror(rc));
    rc = be->c->consume_encoded(be->c, body, err);
    pc_body_unref(body);
  }
  pc_builder_reset(be->b);
  return rc;
}

static int no_backend(lb_t *lb, pc_err_t *err) {
  if (lb->state != LB_RUNNING)
    return pc_err_set(err, PC_EAGAIN, "exporter %s is %s", lb->comp_id,
                      lb->state == LB_CREATED ? "not started" : "shutting down");
  return pc_err_set(err, PC_EAGAIN, "exporter %s has no backend yet (%s%s resolved to no "
                    "address so far)", lb->comp_id, lb->dns ? "dns: " : "",
                    lb->dns ? lb->dns_host : "");
}

static int route_profiles(lb_t *lb, const pc_request_t *req, pc_err_t *err) {
  if (lb->state != LB_RUNNING || !lb->n_live) return no_backend(lb, err);
  if (pc_request_profile_count(req) == 0) return 0;
  /* One owner per sample (and per profile without samples), tree order. */
  size_t n = 0;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t s = 0; s < req->resources[r].n_scopes; s++)
      for (uint32_t p = 0; p < req->resources[r].scopes[s].n_profiles; p++) {
        uint32_t m = req->resources[r].scopes[s].profiles[p].n_samples;
        n += m ? m : 1;
      }
  uint16_t *own = owners(lb, n);
  /* Per link: the owner of its trace id, computed once (SIZE_MAX: unlinked). */
  size_t nl = req->dict.n_links;
  size_t *link_owner = NULL;
  if (lb->key == KEY_TRACE && nl) {
    pc_arena_reset(lb->scratch);
    link_owner = pc_arena_alloc(lb->scratch, nl * sizeof *link_owner);
    if (!link_owner) return pc_err_set(err, PC_ENOMEM, "no memory to route a request");
    for (size_t l = 0; l < nl; l++)
      link_owner[l] = trace_id_set(req->dict.links[l].trace_id)
                          ? owner_of(lb, req->dict.links[l].trace_id.p, 16) : SIZE_MAX;
  }
  uint64_t *count = pc_xcalloc(lb->n_live, sizeof *count);
  size_t i = 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    size_t res_owner = resource_owner(lb, req, &rp->resource);
    for (uint32_t s = 0; s < rp->n_scopes; s++)
      for (uint32_t p = 0; p < rp->scopes[s].n_profiles; p++) {
        const pc_profile_t *pf = &rp->scopes[s].profiles[p];
        if (!pf->n_samples) {
          own[i++] = (uint16_t)res_owner;
          count[res_owner]++;
          continue;
        }
        for (uint32_t k = 0; k < pf->n_samples; k++) {
          int32_t li = pf->samples[k].link_index;
          size_t o = link_owner && li > 0 && (size_t)li < nl && link_owner[li] != SIZE_MAX
                         ? link_owner[li] : res_owner;
          own[i++] = (uint16_t)o;
          count[o]++;
        }
      }
  }
  size_t only;
  int rc = check_room(lb, count, &only, err);
  if (!rc && only != SIZE_MAX) { /* all to one: hand the request on as it is */
    backend_t *be = lb->live[only];
    be->routed_samples += pc_request_sample_count(req);
    be->routed_requests++;
    rc = be->c->consume_profiles(be->c, (pc_request_t *)req, err);
  } else {
    for (size_t k = 0; !rc && k < lb->n_live; k++)
      if (count[k]) rc = hand_part(lb, lb->live[k], req, k, own, err);
  }
  free(count);
  return rc;
}

/* Part k of tr as a model, in a: the resources and scopes that hold spans
 * k owns (own[i]: span i's part, in tree order), those spans' structs
 * copied (their strings and ids stay views into tr's arena, valid while tr
 * is), and bytes as what it encodes to (pc_traces_split's part k). The
 * part is not decoded again: the request was decoded, validated and
 * charged to the request memory budget once, by its receiver. 0 or
 * PC_ENOMEM. */
static int part_model(const pc_traces_t *tr, const uint16_t *own, size_t k, pc_arena_t *a,
                      const pc_buf_t *bytes, pc_traces_t *out) {
  *out = (pc_traces_t){.arena = a, .encoded = bytes->p, .encoded_n = bytes->n,
                       .json = tr->json, .metadata = tr->metadata};
  uint32_t n_rs = 0;
  uint64_t i = 0;
  for (uint32_t r = 0; r < tr->n_resources; r++) { /* how many resources */
    bool has = false;
    const pc_resource_spans_t *rs = &tr->resources[r];
    for (uint32_t s = 0; s < rs->n_scopes; s++)
      for (uint32_t j = 0; j < rs->scopes[s].n_spans; j++) has |= own[i++] == k;
    n_rs += has;
  }
  out->resources = pc_arena_calloc(a, n_rs ? n_rs : 1, sizeof *out->resources);
  if (!out->resources) return PC_ENOMEM;
  i = 0;
  for (uint32_t r = 0; r < tr->n_resources; r++) {
    const pc_resource_spans_t *rs = &tr->resources[r];
    uint32_t n_ss = 0;
    uint64_t first = i;
    for (uint32_t s = 0; s < rs->n_scopes; s++) {
      bool has = false;
      for (uint32_t j = 0; j < rs->scopes[s].n_spans; j++) has |= own[i++] == k;
      n_ss += has;
    }
    if (!n_ss) continue;
    pc_resource_spans_t *ors = &out->resources[out->n_resources++];
    *ors = *rs;
    ors->n_scopes = 0;
    if (!(ors->scopes = pc_arena_calloc(a, n_ss, sizeof *ors->scopes))) return PC_ENOMEM;
    i = first;
    for (uint32_t s = 0; s < rs->n_scopes; s++) {
      const pc_scope_spans_t *ss = &rs->scopes[s];
      uint32_t n = 0;
      for (uint32_t j = 0; j < ss->n_spans; j++) n += own[i + j] == k;
      if (n) {
        pc_scope_spans_t *oss = &ors->scopes[ors->n_scopes++];
        *oss = *ss;
        oss->n_spans = 0;
        if (!(oss->spans = pc_arena_calloc(a, n, sizeof *oss->spans))) return PC_ENOMEM;
        for (uint32_t j = 0; j < ss->n_spans; j++)
          if (own[i + j] == k) oss->spans[oss->n_spans++] = ss->spans[j];
      }
      i += ss->n_spans;
    }
  }
  return 0;
}

static int route_traces(lb_t *lb, const pc_traces_t *tr, pc_err_t *err) {
  if (lb->state != LB_RUNNING || !lb->n_live) return no_backend(lb, err);
  uint64_t n = pc_traces_span_count(tr);
  if (!n) return 0;
  uint16_t *own = owners(lb, n);
  uint64_t *count = pc_xcalloc(lb->n_live, sizeof *count);
  size_t i = 0;
  for (uint32_t r = 0; r < tr->n_resources; r++) {
    const pc_resource_spans_t *rs = &tr->resources[r];
    size_t res_owner = lb->key == KEY_TRACE ? 0 : resource_owner(lb, NULL, &rs->resource);
    for (uint32_t s = 0; s < rs->n_scopes; s++)
      for (uint32_t k = 0; k < rs->scopes[s].n_spans; k++) {
        const pc_span_t *sp = &rs->scopes[s].spans[k];
        size_t o = lb->key != KEY_TRACE ? res_owner : owner_of(lb, sp->trace_id.p,
                                                                 sp->trace_id.n);
        own[i++] = (uint16_t)o;
        count[o]++;
      }
  }
  size_t only;
  int rc = check_room(lb, count, &only, err);
  if (!rc && only != SIZE_MAX) {
    lb->live[only]->routed_spans += n;
    lb->live[only]->routed_requests++;
    rc = lb->live[only]->c->consume_traces(lb->live[only]->c, tr, err);
  } else if (!rc) {
    pc_buf_t *parts = pc_xcalloc(lb->n_live, sizeof *parts);
    rc = pc_traces_split(tr, own, lb->n_live, parts, err);
    for (size_t k = 0; !rc && k < lb->n_live; k++) {
      if (!count[k]) continue;
      pc_arena_reset(lb->scratch);
      pc_traces_t part;
      if ((rc = part_model(tr, own, k, lb->scratch, &parts[k], &part))) {
        pc_err_set(err, rc, "out of memory cutting a traces request for backend %s",
                   lb->live[k]->name);
        break;
      }
      lb->live[k]->routed_spans += count[k];
      lb->live[k]->routed_requests++;
      rc = lb->live[k]->c->consume_traces(lb->live[k]->c, &part, err);
    }
    for (size_t k = 0; k < lb->n_live; k++) pc_buf_free(&parts[k]);
    free(parts);
  }
  free(count);
  return rc;
}

static int lb_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  return route_profiles((lb_t *)self, req, err);
}

static int lb_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  return route_traces((lb_t *)self, tr, err);
}

/* A batch a retired backend held, routed again over the current ring. */
static int reroute(void *arg, const pc__body_t *wire, const pc__item_meta_t *meta) {
  lb_t *lb = arg;
  bool grpc = lb->proto == &pc_exporter_otlp; /* its bytes are behind a message prefix */
  pc_err_t err = {0};
  const uint8_t *p = wire->p;
  size_t n = wire->n;
  bool compressed = meta->encoding != PC_ENC_IDENTITY;
  if (grpc && pc__grpc_unprefix(wire->p, wire->n, &compressed, &p, &n)) return PC_EDECODE;
  pc_buf_t plain = {0};
  int rc = 0;
  if (meta->encoding != PC_ENC_IDENTITY &&
      (rc = pc_decompress((pc_encoding_t)meta->encoding, p, n, MAX_REROUTE_BYTES, &plain, &err)))
    goto out;
  if (meta->encoding != PC_ENC_IDENTITY) p = plain.p, n = plain.n;
  pc_metadata_t md = {0};
  bool has_md = meta->md && !pc_md_decode(meta->md->p, meta->md->n, &md);
  pc_arena_t *a = pc_arena_new(0);
  if (meta->signal == PC_SIGNAL_TRACES) {
    pc_traces_t tr;
    rc = meta->json ? pc_traces_json_decode(a, p, n, &tr, &err)
                    : pc_traces_proto_decode(a, p, n, &tr, &err);
    tr.metadata = has_md ? &md : NULL;
    if (!rc) rc = route_traces(lb, &tr, &err);
  } else {
    pc_request_t req;
    rc = meta->json ? pc_json_decode(a, p, n, &req, &err) : pc_proto_decode(a, p, n, &req, &err);
    req.metadata = has_md ? &md : NULL;
    if (!rc) rc = route_profiles(lb, &req, &err);
  }
  pc_arena_free(a);
  if (has_md) free((void *)md.v);
out:
  pc_buf_free(&plain);
  if (rc) {
    lb->reroute_failures++;
    uint64_t skipped;
    char sup[48];
    if (pc__ratelimit(&lb->rl_dns, 5000, &skipped))
      pc_log(lb->id, PC_LOG_WARN, "cannot route a batch of a removed backend again yet: %s; "
             "it stays queued there and is offered again at its next try%s", err.msg,
             pc__suppressed(skipped, sup));
  } else {
    lb->rerouted_batches++;
  }
  return rc;
}

/* ---- the backend list ---------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rebuild_ring(lb_t *lb) {
  const char **names = pc_xcalloc(lb->n_live ? lb->n_live : 1, sizeof *names);
  for (size_t i = 0; i < lb->n_live; i++) names[i] = lb->live[i]->name;
  pc__ring_free(lb->ring);
  lb->ring = pc__ring_new(names, lb->n_live);
  free(names);
}

static void backend_retire(lb_t *lb, backend_t *be) {
  be->retiring = true;
  be->next = lb->retiring;
  lb->retiring = be;
  lb->backends_removed++;
  pc_log(lb->id, PC_LOG_INFO, "backend %s left the list; its keys moved to the others and what "
         "it still holds is routed again", be->name);
  retire(be, reroute, lb);
}

/* Make the live set equal to names (sorted, unique): new ones created and
 * started, gone ones retired, returning ones taken back from retirement. */
static void set_backends(lb_t *lb, char **names, size_t n) {
  backend_t **next = pc_xcalloc(n ? n : 1, sizeof *next);
  size_t nn = 0;
  bool changed = false;
  for (size_t i = 0; i < n; i++) {
    backend_t *be = NULL;
    for (size_t j = 0; j < lb->n_live && !be; j++)
      if (lb->live[j] && !strcmp(lb->live[j]->name, names[i])) {
        be = lb->live[j];
        lb->live[j] = NULL;
      }
    for (backend_t **pp = &lb->retiring; !be && *pp; pp = &(*pp)->next)
      if (!strcmp((*pp)->name, names[i]) && !(*pp)->stopping) {
        be = *pp;
        *pp = be->next;
        be->next = NULL;
        be->retiring = false;
        retire(be, NULL, NULL);
        pc_log(lb->id, PC_LOG_INFO, "backend %s is back", be->name);
        changed = true;
        break;
      }
    if (!be) {
      pc_err_t err = {0};
      be = backend_new(lb, names[i]);
      if (backend_create(lb, be, &err) || backend_start(lb, be, &err)) {
        pc_log(lb->id, PC_LOG_ERROR, "cannot start an exporter for backend %s: %s; it is left "
               "out of the ring", names[i], err.msg);
        if (be->started) { /* never happens: start is the last step */
          be->retiring = true;
          be->next = lb->retiring;
          lb->retiring = be;
        } else {
          backend_free(be);
        }
        continue;
      }
      lb->backends_added++;
      changed = true;
      pc_log(lb->id, PC_LOG_INFO, "backend %s joined the ring", be->name);
    }
    next[nn++] = be;
  }
  backend_t **old = lb->live;
  size_t n_old = lb->n_live;
  lb->live = next;
  lb->n_live = nn;
  for (size_t j = 0; j < n_old; j++)
    if (old[j]) changed = true;
  if (changed) {
    lb->ring_changes++;
    rebuild_ring(lb);
  }
  /* Retire after the ring no longer has them: their batches go elsewhere. */
  for (size_t j = 0; j < n_old; j++)
    if (old[j]) backend_retire(lb, old[j]);
  free(old);
}

void pc__lb_set_backends(void *instance, const char *const *names, size_t n) {
  char **v = pc_xcalloc(n ? n : 1, sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = (char *)names[i];
  qsort(v, n, sizeof *v, name_cmp);
  set_backends(instance, v, n);
  free(v);
}

/* pc__id_to_filename maps '[', ':' and ']' to '_', as every byte outside
 * [A-Za-z0-9._-]; existing queue directories are named so, so the mapping
 * stays and is read back here. "host_port" has one '_' (a host name has
 * none). "[addr]:port" becomes "_" addr "__" port with each ':' of addr a
 * '_', and addr's other bytes (hex digits, '.') kept: the one reading is
 * the '_' run inside with ':' put back, taken when it is an IPv6 address
 * (inet_pton), so the name is the one the backend was listed by. */
bool pc__lb_backend_of_dir(const char *rest, char *name, size_t cap) {
  size_t n = strlen(rest);
  const char *us = strrchr(rest, '_');
  if (!us || us == rest || !port_ok(us + 1) || n + 1 > cap) return false;
  if (rest[0] != '_') { /* host_port */
    if (strchr(rest, '_') != us) return false;
    snprintf(name, cap, "%.*s:%s", (int)(us - rest), rest, us + 1);
    return true;
  }
  /* "_" addr "__" port: addr is rest[1 .. us - 1) */
  if (us - rest < 3 || us[-1] != '_') return false;
  char addr[INET6_ADDRSTRLEN + 1];
  size_t an = (size_t)(us - 1 - (rest + 1));
  if (an == 0 || an >= sizeof addr) return false;
  for (size_t i = 0; i < an; i++) addr[i] = rest[1 + i] == '_' ? ':' : rest[1 + i];
  addr[an] = '\0';
  struct in6_addr a6;
  if (inet_pton(AF_INET6, addr, &a6) != 1) return false;
  snprintf(name, cap, "[%s]:%s", addr, us + 1);
  return true;
}

/* With a persistent queue (protocol's sending_queue.storage), a backend
 * that is not in the list any more when profcol starts (a gateway pod
 * that got a new address while profcol was down) left batches on disk
 * that no exporter would open again. Each such queue directory gets an
 * exporter that replays it and is retired at once, so its batches are
 * routed to the current backends. Directory names are exporter ids made
 * file-safe ("exporter_load_balancing_10.0.3.7_4317"), and the remainder
 * after this balancer's id is read back as a backend name by
 * pc__lb_backend_of_dir, which takes only what a backend name maps to (so
 * a balancer does not adopt the queues of one named load_balancing/x). */
static void adopt_orphans(lb_t *lb) {
  if (lb->orphans_done) return;
  lb->orphans_done = true;
  const pc_cfg_node_t *sn = pc_cfg_get(pc_cfg_get(lb->proto_cfg, "sending_queue"), "storage");
  if (!sn || !sn->text || !sn->text[0] || !lb->host) return;
  pc_ref_t ref;
  pc_ref_init(&ref, sn->text, sn);
  pc_err_t err = {0};
  const pc_storage_t *st = pc_host_find(lb->host, &ref, PC_ROLE_STORAGE, &err);
  if (!st || !st->directory) return;
  char prefix[200];
  size_t n = strlen(lb->comp_id);
  char id_slash[sizeof lb->comp_id + 1];
  memcpy(id_slash, lb->comp_id, n);
  memcpy(id_slash + n, "/", 2);
  pc__id_to_filename(id_slash, prefix, sizeof prefix);
  size_t pn = strlen(prefix);
  DIR *d = opendir(st->directory);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, pn) != 0) continue;
    char name[256];
    snprintf(name, sizeof name, "%s", e->d_name + pn);
    /* With service.workers, worker i > 0 keeps its queues in "<dir>@w<i>"
     * (queue.c pc__queue_open_worker): a worker adopts its own, and those of
     * former workers j with j % count == its index, through the backend's
     * exporter, which opens its own directory and takes theirs over. */
    char *at = strstr(name, "@w");
    uint32_t owner = 0;
    if (at) {
      char *end = NULL;
      unsigned long wi = strtoul(at + 2, &end, 10);
      if (end == at + 2 || *end || wi == 0 || wi > UINT32_MAX) continue;
      owner = (uint32_t)wi;
      *at = '\0';
    }
    pc_worker_t self = pc_worker_self();
    if (owner % self.count != self.index) continue; /* as queue.c shares a former worker's */
    char backend[sizeof name];
    if (!pc__lb_backend_of_dir(name, backend, sizeof backend)) continue;
    memcpy(name, backend, sizeof name);
    bool live = false;
    for (size_t i = 0; i < lb->n_live && !live; i++) live = !strcmp(lb->live[i]->name, name);
    for (backend_t *be = lb->retiring; be && !live; be = be->next) live = !strcmp(be->name, name);
    if (live) continue;
    /* Retired before it starts: its first try already offers each batch
     * here, none goes to an address that may now be another gateway's. */
    backend_t *be = backend_new(lb, name);
    int rc = backend_create(lb, be, &err);
    if (!rc) {
      retire(be, reroute, lb);
      be->retiring = true;
      rc = backend_start(lb, be, &err);
    }
    if (rc) {
      pc_log(lb->id, PC_LOG_ERROR, "cannot open the queue %s/%s left by backend %s: %s",
             st->directory, e->d_name, name, err.msg);
      backend_free(be);
      continue;
    }
    be->next = lb->retiring;
    lb->retiring = be;
    pc_otlphttp_stats_t qs;
    pc_otlphttp_stats(be->inst, &qs);
    if (qs.replayed_batches)
      pc_log(lb->id, PC_LOG_INFO, "backend %s is not in the list but left %" PRIu64 " batches "
             "in its persistent queue: routed to the current backends, %" PRIu64 " not yet",
             name, qs.replayed_batches, qs.queue_batches);
  }
  closedir(d);
}

/* ---- dns --------------------------------------------------------------------------- */

static void dns_on_answer(uv_getaddrinfo_t *req, int status, struct addrinfo *res);

static void dns_lookup(lb_t *lb) {
  if (lb->gai) { /* the last one has not answered: it is late */
    uint64_t skipped;
    char sup[48];
    if (pc__ratelimit(&lb->rl_dns, 5000, &skipped))
      pc_log(lb->id, PC_LOG_WARN, "dns: %s has not answered after %" PRIu64 " ms; keeping %zu "
             "backends%s", lb->dns_host, uv_now(lb->loop) - lb->gai_started_ms, lb->n_live,
             pc__suppressed(skipped, sup));
    return;
  }
  lb->gai = pc_xcalloc(1, sizeof *lb->gai);
  lb->gai->data = lb;
  lb->gai_started_ms = uv_now(lb->loop);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  int rc = uv_getaddrinfo(lb->loop, lb->gai, dns_on_answer, lb->dns_host, NULL, &hints);
  if (rc) {
    free(lb->gai);
    lb->gai = NULL;
    lb->resolution_failures++;
    pc_log(lb->id, PC_LOG_WARN, "dns: cannot look %s up: %s", lb->dns_host, uv_strerror(rc));
  }
}

static void lb_shutdown_step(lb_t *lb);

static void dns_on_answer(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  lb_t *lb = req->data;
  free(req);
  lb->gai = NULL;
  if (lb->state != LB_RUNNING) {
    uv_freeaddrinfo(res);
    if (lb->state == LB_STOPPING) {
      lb->pending--;
      lb_shutdown_step(lb);
    }
    return;
  }
  uint64_t took = uv_now(lb->loop) - lb->gai_started_ms;
  lb->resolutions++;
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct addrinfo *a = status ? NULL : res; a; a = a->ai_next) {
    char ip[INET6_ADDRSTRLEN], name[INET6_ADDRSTRLEN + 16];
    if (a->ai_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip, sizeof ip);
    else if (a->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, ip, sizeof ip);
    else
      continue;
    snprintf(name, sizeof name, a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip,
             lb->dns_port);
    bool dup = false;
    for (size_t i = 0; i < n && !dup; i++) dup = !strcmp(names[i], name);
    if (dup || n >= MAX_BACKENDS) continue;
    if (n == cap) names = pc_xrealloc(names, (cap = cap ? 2 * cap : 8) * sizeof *names);
    names[n++] = pc_xstrdup(name);
  }
  uv_freeaddrinfo(res);
  if (status || !n || took > lb->timeout_ms) {
    lb->resolution_failures++;
    uint64_t skipped;
    char sup[48];
    /* With no backend yet, say what that means for the data: "keeping the
     * 0 backends there are" left the reader to guess. */
    char kept[224];
    if (lb->n_live)
      snprintf(kept, sizeof kept, "routing over the %zu backends it resolved to before",
               lb->n_live);
    else
      snprintf(kept, sizeof kept, "no backend yet: nothing is sent and data is refused with "
               "retry-later (HTTP 503, gRPC UNAVAILABLE) until it resolves; asking again every "
               "%" PRIu64 " ms",
               lb->interval_ms);
    if (pc__ratelimit(&lb->rl_dns, 5000, &skipped))
      pc_log(lb->id, n ? PC_LOG_WARN : lb->n_live ? PC_LOG_WARN : PC_LOG_ERROR,
             "dns: %s %s%s; %s%s", lb->dns_host,
             status ? "did not resolve: " : n ? "answered late, after the timeout" :
             "has no address", status ? uv_strerror(status) : "", kept,
             pc__suppressed(skipped, sup));
  } else {
    qsort(names, n, sizeof *names, name_cmp);
    set_backends(lb, names, n);
    if (lb->n_live) adopt_orphans(lb); /* once there is somewhere to route them */
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

static void dns_on_timer(uv_timer_t *t) { dns_lookup(container_of(t, lb_t, dns_timer)); }

/* Retired backends that hold nothing any more are shut down and freed. */
static void backend_on_stopped(void *arg) {
  backend_t *be = arg;
  lb_t *lb = be->lb;
  for (backend_t **pp = &lb->retiring; *pp; pp = &(*pp)->next)
    if (*pp == be) {
      *pp = be->next;
      break;
    }
  backend_free(be);
  if (lb->state == LB_STOPPING) {
    lb->pending--;
    lb_shutdown_step(lb);
  }
}

static void sweep_on_timer(uv_timer_t *t) {
  lb_t *lb = container_of(t, lb_t, sweep_timer);
  for (backend_t *be = lb->retiring, *next; be; be = next) {
    next = be->next;
    if (be->stopping) continue;
    pc_otlphttp_stats_t st;
    pc_otlphttp_stats(be->inst, &st);
    if (st.queue_batches || st.in_flight) continue;
    be->stopping = true;
    pc_log(lb->id, PC_LOG_INFO, "backend %s holds nothing any more; stopping its exporter",
           be->name);
    lb->proto->shutdown(be->inst, uv_now(lb->loop), backend_on_stopped, be);
  }
}

/* ---- start and shutdown ------------------------------------------------------------------ */

static int lb_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  lb_t *lb = self;
  if (lb->state != LB_CREATED) return pc_err_set(err, PC_EINVAL, "started twice");
  lb->loop = loop;
  uv_timer_init(loop, &lb->dns_timer);
  uv_timer_init(loop, &lb->sweep_timer);
  lb->state = LB_RUNNING;
  if (!lb->dns) {
    char **names = pc_xcalloc(lb->n_statics, sizeof *names);
    memcpy(names, lb->statics, lb->n_statics * sizeof *names);
    qsort(names, lb->n_statics, sizeof *names, name_cmp);
    set_backends(lb, names, lb->n_statics);
    free(names);
    adopt_orphans(lb);
    if (lb->n_live < lb->n_statics)
      return pc_err_set(err, PC_EINVAL, "%zu of the %zu backends could not start (see the "
                        "log)", lb->n_statics - lb->n_live, lb->n_statics);
  } else {
    dns_lookup(lb);
    uv_timer_start(&lb->dns_timer, dns_on_timer, lb->interval_ms, lb->interval_ms);
  }
  uv_timer_start(&lb->sweep_timer, sweep_on_timer, SWEEP_MS, SWEEP_MS);
  pc_log(lb->id, PC_LOG_INFO, "routing by %s over %s %s backends (%s)",
         lb->key == KEY_TRACE ? "trace id" : lb->key == KEY_SERVICE ? "service.name" :
         "resource", lb->dns ? "the dns-resolved" : "the static list of", lb->proto_key,
         lb->dns ? lb->dns_host : "static");
  return 0;
}

static void handle_on_close(uv_handle_t *h) {
  lb_t *lb = h->data;
  lb->pending--;
  lb_shutdown_step(lb);
}

static void live_on_stopped(void *arg) {
  backend_t *be = arg;
  be->stopping = false;
  be->started = false;
  lb_t *lb = be->lb;
  lb->pending--;
  lb_shutdown_step(lb);
}

/* Called as each piece finishes: when nothing is pending, close the timers,
 * and when they are closed, say done. */
static void lb_shutdown_step(lb_t *lb) {
  if (lb->pending || lb->state != LB_STOPPING) return;
  if (!uv_is_closing((uv_handle_t *)&lb->dns_timer)) {
    lb->pending = 2;
    lb->dns_timer.data = lb->sweep_timer.data = lb;
    uv_close((uv_handle_t *)&lb->dns_timer, handle_on_close);
    uv_close((uv_handle_t *)&lb->sweep_timer, handle_on_close);
    return;
  }
  lb->state = LB_STOPPED;
  lb->done(lb->done_arg);
}

static void lb_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  lb_t *lb = self;
  if (lb->state != LB_RUNNING) {
    done(arg);
    return;
  }
  lb->state = LB_STOPPING;
  lb->done = done;
  lb->done_arg = arg;
  lb->deadline_ms = deadline_ms;
  uv_timer_stop(&lb->dns_timer);
  uv_timer_stop(&lb->sweep_timer);
  lb->pending = 1; /* this call, so that nothing finishes under it */
  if (lb->gai) {
    lb->pending++;
    uv_cancel((uv_req_t *)lb->gai);
  }
  for (size_t i = 0; i < lb->n_live; i++) {
    lb->pending++;
    lb->live[i]->stopping = true;
    lb->proto->shutdown(lb->live[i]->inst, deadline_ms, live_on_stopped, lb->live[i]);
  }
  for (backend_t *be = lb->retiring, *next; be; be = next) {
    next = be->next;
    lb->pending++;
    if (be->stopping) continue; /* already told; its callback counts */
    be->stopping = true;
    lb->proto->shutdown(be->inst, deadline_ms, backend_on_stopped, be);
  }
  lb->pending--;
  lb_shutdown_step(lb);
}

static void lb_destroy(void *self) {
  lb_t *lb = self;
  if (!lb) return;
  if (lb->state == LB_RUNNING || lb->state == LB_STOPPING) {
    pc_log(lb->id, PC_LOG_ERROR, "destroyed before its shutdown finished; leaking it instead");
    return;
  }
  for (size_t i = 0; i < lb->n_live; i++) backend_free(lb->live[i]);
  free(lb->live);
  while (lb->retiring) {
    backend_t *be = lb->retiring;
    lb->retiring = be->next;
    backend_free(be);
  }
  pc__ring_free(lb->ring);
  pc_host_free(lb->host);
  node_free(lb->proto_cfg);
  node_free(lb->where);
  free(lb->proto_key);
  for (size_t i = 0; i < lb->n_statics; i++) free(lb->statics[i]);
  free(lb->statics);
  free(lb->dns_host);
  free(lb->dns_port);
  free(lb->owners);
  if (lb->scratch) pc_arena_free(lb->scratch);
  free(lb);
}

/* ---- self-telemetry ------------------------------------------------------------------- */

static void lb_metrics(void *self, pc_metrics_t *m) {
  lb_t *lb = self;
  size_t n_retiring = 0;
  for (backend_t *be = lb->retiring; be; be = be->next) n_retiring++;
  pc_metrics_gauge(m, "profcol_load_balancing_backends", "Backends in the ring.",
                   (double)lb->n_live, NULL);
  pc_metrics_gauge(m, "profcol_load_balancing_retiring_backends",
                   "Backends that left the list and still hold batches being routed again.",
                   (double)n_retiring, NULL);
  pc_metrics_counter(m, "profcol_load_balancing_ring_changes",
                     "Times the set of backends changed.", (double)lb->ring_changes, NULL);
  pc_metrics_counter(m, "profcol_load_balancing_resolutions", "DNS lookups answered.",
                     (double)lb->resolutions, NULL);
  pc_metrics_counter(m, "profcol_load_balancing_resolution_failures",
                     "DNS lookups that failed, came late or found no address (the last list "
                     "stayed).", (double)lb->resolution_failures, NULL);
  pc_metrics_counter(m, "profcol_load_balancing_rerouted_batches",
                     "Batches of removed backends routed again to the keys' new owners.",
                     (double)lb->rerouted_batches, NULL);
  pc_metrics_counter(m, "profcol_load_balancing_reroute_failures",
                     "Tries to route a removed backend's batch again that failed (it stays "
                     "queued and is offered again).", (double)lb->reroute_failures, NULL);
  /* Per backend: the balancer's counts, then its exporter's own metrics
   * with a backend label (the scope is set again, then put back). */
  for (size_t i = 0; i < lb->n_live; i++) {
    backend_t *be = lb->live[i];
    pc_metrics_scope(m, "exporter", lb->comp_id, "backend", be->name, NULL);
    pc_metrics_counter(m, "profcol_load_balancing_routed_samples",
                       "Profile samples routed to the backend.", (double)be->routed_samples,
                       NULL);
    pc_metrics_counter(m, "profcol_load_balancing_routed_spans", "Spans routed to the backend.",
                       (double)be->routed_spans, NULL);
    pc_metrics_counter(m, "profcol_load_balancing_routed_requests",
                       "Requests (or parts) handed to the backend's exporter.",
                       (double)be->routed_requests, NULL);
    lb->proto->metrics(be->inst, m);
  }
  for (backend_t *be = lb->retiring; be; be = be->next) {
    pc_metrics_scope(m, "exporter", lb->comp_id, "backend", be->name, NULL);
    lb->proto->metrics(be->inst, m);
  }
  pc_metrics_scope(m, "exporter", lb->comp_id, NULL);
}

const pc_component_t pc_exporter_load_balancing = {
    .type = "load_balancing",
    .deprecated_alias = "loadbalancing",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "alpha",
    .options = lb_opts,
    .create = lb_create,
    .consumer = lb_consumer,
    .resolve = lb_resolve,
    .start = lb_start,
    .shutdown = lb_shutdown,
    .destroy = lb_destroy,
    .metrics = lb_metrics,
};
