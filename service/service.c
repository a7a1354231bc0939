/* service.c - build pipelines from config and run their lifecycle.
 *
 * As in the Collector: a receiver or exporter id is one instance however many
 * pipelines use it (one listener); processors are instantiated per pipeline.
 * Data flows receiver -> router (per signal, to every pipeline the receiver
 * feeds) -> processors in order -> fan-out to the pipeline's exporters.
 *
 * Start order is exporters, processors, receivers, so nothing is accepted
 * before it has somewhere to go; shutdown is the reverse: receivers stop
 * taking data, processors flush, exporters drain, each stage within the
 * deadline.
 *
 * With service.workers: N each worker runs a copy of the service (workers.c)
 * with instances of its own, except the per_process extensions
 * (component.h: the span store): worker 0's copy creates and runs those,
 * and the other copies borrow them (pc_service_create_replica), so their
 * components find the one instance through the host. A borrowed instance
 * is not resolved, started, shut down, asked for metrics or told the
 * status by the borrowing copy; it is destroyed by whichever copy holding
 * it is destroyed last.
 *
 * Around them the service keeps its own state for the status hook
 * (STARTING, READY once everything started, DRAINING or REPLACED before the
 * first shutdown) and the self-telemetry endpoint (telemetry.c): up before
 * the first component starts, closed after the last one drained. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../extension/extension.h"
#include "../processor/processor.h"
#include "service.h"
#include "telemetry.h"

#define LOG "service"

/* ---- errors ------------------------------------------------------------------ */

/* One message for the list, at node's value (or, with at_key, at its key). */
__attribute__((format(printf, 4, 0))) static void add_error_v(pc_errlist_t *l,
                                                              const pc_cfg_node_t *node,
                                                              bool at_key, const char *fmt,
                                                              va_list ap) {
  char msg[256];
  vsnprintf(msg, sizeof msg, fmt, ap);
  pc_err_t err = {0};
  if (node && at_key) pc_cfg_key_error(&err, node, PC_EINVAL, "%s", msg);
  else if (node) pc_cfg_error(&err, node, PC_EINVAL, "%s", msg);
  else snprintf(err.msg, sizeof err.msg, "%s", msg);
  pc_errlist_add(l, err.msg);
}

__attribute__((format(printf, 3, 4))) static void add_error(pc_errlist_t *l,
                                                            const pc_cfg_node_t *node,
                                                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_error_v(l, node, false, fmt, ap);
  va_end(ap);
}

/* An error about the key that holds node: an unknown name, not its value. */
__attribute__((format(printf, 3, 4))) static void add_key_error(pc_errlist_t *l,
                                                                const pc_cfg_node_t *node,
                                                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_error_v(l, node, true, fmt, ap);
  va_end(ap);
}

/* ---- fan-out: one consumer in front of many --------------------------------------- */

/* As the Collector's fan-out: targets that only read the data all get the
 * one request; a target that edits it in place (its component, or a
 * processor of its pipeline, declares mutates) must not let the others see
 * its edits. Readers go first, then the mutating targets, each but the last
 * on a copy of its own. The common cases (one pipeline, or no mutating
 * processor) copy nothing.
 *
 * Targets that take finished bodies (exporters that send protobuf, or
 * fan-outs in front of only such) share one: when two or more of them get
 * a tree, it is encoded here once (split to the smallest limit among them)
 * and each gets the same bodies, which they compress once per codec (in
 * the thread pool when large); a trace request likewise becomes one body
 * for all of them. A single such target gets the tree or the bytes, so it
 * can refuse (a full queue) before anything is encoded or copied. */
struct pipeline;

typedef struct {
  pc_consumer_t *consumer;
  bool mutates;
  struct pipeline *pipe; /* the pipeline consumer begins (receivers' fan-outs), or NULL */
} target_t;

typedef struct {
  pc_consumer_t consumer;
  target_t *profiles; /* where profiles go: readers first, then mutating ones */
  size_t n_profiles;
  size_t n_mutating;  /* the last n_mutating of profiles */
  size_t n_profile_bodies; /* profile targets that take bodies (consume_encoded) */
  uint64_t body_max;       /* ... the smallest max_body among them (0: none) */
  pc_consumer_t **traces; /* where traces go (read-only: no copies) */
  size_t n_traces;
  size_t n_trace_bodies; /* trace targets that take bodies (consume_traces_encoded) */
} fanout_t;

/* Hand target a copy of req, in an arena of its own freed after the call
 * (consumers copy what they keep). */
static int consume_copy(pc_consumer_t *target, const pc_request_t *req, pc_err_t *err) {
  pc_arena_t *arena = pc_arena_new(64 * 1024);
  pc_request_t copy;
  int rc = pc_request_clone(req, arena, &copy, err);
  if (!rc) rc = target->consume_profiles(target, &copy, err);
  pc_arena_free(arena);
  return rc;
}

/* The bodies of req for the targets that take them, made at the first
 * one's turn. */
typedef struct {
  pc_body_t **v;
  size_t n;
  bool made;
} bodies_t;

static int consume_bodies(const fanout_t *f, pc_consumer_t *c, const pc_request_t *req,
                          bodies_t *b, pc_err_t *err) {
  if (!b->made) {
    pc_bytes_t *md = pc_md_bytes(req->metadata);
    int rc = pc_request_bodies(req, false, f->body_max, 0, md, &b->v, &b->n, err);
    pc_bytes_unref(md);
    if (rc) return rc;
    b->made = true;
  }
  for (size_t i = 0; i < b->n; i++) {
    int rc = c->consume_encoded(c, b->v[i], err);
    if (rc) return rc;
  }
  return 0;
}

/* Every target must hold the data before the receiver acknowledges. A target
 * that refuses stops the loop: the client retries the whole request, so the
 * targets before it may see it twice (at-least-once, never lost). */
static int fanout_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  fanout_t *f = (fanout_t *)self;
  bodies_t b = {0};
  /* (A request without profiles makes no body: those go as they came.) */
  bool share = f->n_profile_bodies >= 2 && pc_request_profile_count(req) > 0;
  int rc = 0;
  for (size_t i = 0; i < f->n_profiles && !rc; i++) {
    pc_consumer_t *c = f->profiles[i].consumer;
    if (share && c->consume_encoded) rc = consume_bodies(f, c, req, &b, err);
    else if (f->profiles[i].mutates && i + 1 < f->n_profiles) rc = consume_copy(c, req, err);
    else rc = c->consume_profiles(c, req, err);
  }
  for (size_t i = 0; i < b.n; i++) pc_body_unref(b.v[i]);
  free(b.v);
  return rc;
}

static int fanout_encoded(pc_consumer_t *self, pc_body_t *req, pc_err_t *err) {
  fanout_t *f = (fanout_t *)self;
  for (size_t i = 0; i < f->n_profiles; i++) {
    pc_consumer_t *c = f->profiles[i].consumer;
    int rc = c->consume_encoded(c, req, err);
    if (rc) return rc;
  }
  return 0;
}

/* Set only when every trace target takes bodies (fanout_add): a body
 * carries the bytes, not the decoded request the others read. */
static int fanout_traces_encoded(pc_consumer_t *self, pc_body_t *body, pc_err_t *err) {
  fanout_t *f = (fanout_t *)self;
  for (size_t i = 0; i < f->n_traces; i++) {
    int rc = f->traces[i]->consume_traces_encoded(f->traces[i], body, err);
    if (rc) return rc;
  }
  return 0;
}

static int fanout_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  fanout_t *f = (fanout_t *)self;
  pc_body_t *body = NULL;
  /* One copy, one compression per codec for all of them; not for OTLP-JSON,
   * which a gRPC exporter must encode from the model as protobuf. */
  if (f->n_trace_bodies >= 2 && !tr->json) {
    pc_buf_t plain = {0};
    if (pc_buf_append(&plain, tr->encoded, tr->encoded_n)) pc_oom();
    body = pc_body_new(&plain, true, tr->json, 0, 0, NULL);
  }
  int rc = 0;
  for (size_t i = 0; i < f->n_traces; i++) {
    pc_consumer_t *c = f->traces[i];
    rc = body && c->consume_traces_encoded ? c->consume_traces_encoded(c, body, err)
                                           : c->consume_traces(c, tr, err);
    if (rc) break;
  }
  if (body) pc_body_unref(body);
  return rc;
}

static bool pipeline_full(struct pipeline *p, pc_err_t *err);

/* Known full (component.h): the fan-out refuses when any target refuses.
 * A target that begins a pipeline is asked stage by stage. */
static bool fanout_full(pc_consumer_t *self, pc_err_t *err) {
  fanout_t *f = (fanout_t *)self;
  for (size_t i = 0; i < f->n_profiles; i++) {
    const target_t *t = &f->profiles[i];
    pc_consumer_t *c = t->consumer;
    if (t->pipe ? pipeline_full(t->pipe, err) : c->full && c->full(c, err)) return true;
  }
  return false;
}

static void fanout_add(fanout_t *f, pc_signal_t signal, pc_consumer_t *c, bool mutates,
                       struct pipeline *pipe) {
  f->consumer.consume_profiles = fanout_profiles;
  f->consumer.full = fanout_full;
  f->consumer.consume_traces = fanout_traces;
  if (c->retry_after_s > f->consumer.retry_after_s) f->consumer.retry_after_s = c->retry_after_s;
  if (signal == PC_SIGNAL_PROFILES) {
    /* Encoded batches go through only when every target takes them. */
    bool encoded = c->consume_encoded && (f->n_profiles == 0 || f->consumer.consume_encoded);
    f->consumer.consume_encoded = encoded ? fanout_encoded : NULL;
    /* One body serves every target: it carries each one's encodings and
     * is no larger than the smallest limit. */
    f->consumer.encodings |= c->encodings;
    if (c->max_body && (!f->consumer.max_body || c->max_body < f->consumer.max_body))
      f->consumer.max_body = c->max_body;
    if (c->consume_encoded) {
      f->n_profile_bodies++;
      if (c->max_body && (!f->body_max || c->max_body < f->body_max)) f->body_max = c->max_body;
    }
    f->profiles = pc_xrealloc(f->profiles, (f->n_profiles + 1) * sizeof *f->profiles);
    /* Readers before the mutating targets; each group in config order. */
    size_t at = mutates ? f->n_profiles : f->n_profiles - f->n_mutating;
    memmove(&f->profiles[at + 1], &f->profiles[at], (f->n_profiles - at) * sizeof *f->profiles);
    f->profiles[at] = (target_t){.consumer = c, .mutates = mutates, .pipe = pipe};
    f->n_profiles++;
    f->n_mutating += mutates;
  } else {
    f->traces = pc_xrealloc(f->traces, (f->n_traces + 1) * sizeof *f->traces);
    f->traces[f->n_traces++] = c;
    /* Bodies are worth making upstream only for someone who takes them,
     * and can go through only when every target takes them. */
    if (c->consume_traces_encoded) f->n_trace_bodies++;
    f->consumer.consume_traces_encoded =
        f->n_trace_bodies == f->n_traces ? fanout_traces_encoded : NULL;
  }
}

static void fanout_free(fanout_t *f) {
  free(f->profiles);
  free(f->traces);
}

/* ---- the model --------------------------------------------------------------------- */

/* A per_process extension's instance and how many copies of the config
 * hold it (any thread drops its copy's hold). */
typedef struct {
  void *inst;
  const pc_component_t *comp;
  atomic_uint refs;
} shared_t;

static shared_t *shared_new(const pc_component_t *comp, void *inst) {
  shared_t *sh = pc_xcalloc(1, sizeof *sh);
  sh->inst = inst;
  sh->comp = comp;
  atomic_init(&sh->refs, 1);
  return sh;
}

static void shared_unref(shared_t *sh) {
  if (sh && atomic_fetch_sub(&sh->refs, 1) == 1) {
    sh->comp->destroy(sh->inst);
    free(sh);
  }
}

typedef struct {
  const pc_component_t *comp;
  char id[128];
  const pc_cfg_node_t *cfg;
  void *inst;
  bool used;
  pc_signal_t signals;
  fanout_t out; /* receivers: the pipelines they feed */
  shared_t *shared; /* per_process extensions: inst, held by every copy */
  bool borrowed;    /* ... run by worker 0's copy, not this one */
} instance_t;

typedef struct pipeline {
  char name[128];
  pc_signal_t signal;
  instance_t **receivers;
  size_t n_receivers;
  instance_t *processors; /* owned: one instance per pipeline */
  size_t n_processors;
  instance_t **exporters;
  size_t n_exporters;
  fanout_t to_exporters;
  pc_consumer_t *first; /* the first processor, or the exporters */
  bool mutates;         /* some processor edits the data in place */
} pipeline_t;

/* Whether p would refuse a request now: each processor in turn (one that
 * holds what it takes speaks for the rest), then the exporters. */
static bool pipeline_full(pipeline_t *p, pc_err_t *err) {
  for (size_t k = 0; k < p->n_processors; k++) {
    if (!p->processors[k].inst) return false;
    pc_consumer_t *c = p->processors[k].comp->consumer(p->processors[k].inst);
    if (c->full && c->full(c, err)) return true;
    if (c->holds) return false;
  }
  return fanout_full(&p->to_exporters.consumer, err);
}

typedef struct {
  instance_t *items;
  size_t n;
  const char **broken; /* ids defined with an unknown type (already reported) */
  size_t n_broken;
} section_t;

struct pc_service {
  section_t sections[4]; /* by pc_kind_t */
  pipeline_t *pipelines;
  size_t n_pipelines;
  uint64_t shutdown_timeout_ms;
  uint64_t request_memory; /* the request budget's limit, applied at start */
  const char *request_memory_from; /* where it comes from, for the log */
  uint32_t fd_reserve;
  uint32_t workers; /* service.workers, resolved ("auto": the CPUs it may use) */
  uint32_t worker;  /* which of them this copy is (pc_service_set_worker) */
  pc_telemetry_t *telemetry;
  pc_host_t *host; /* the extensions, for the components' resolve */
  pc_status_t status;
  pc_quiet_t *quiet; /* running: the spares' trim at the end of a burst */
  /* shutdown state */
  int stage;
  size_t pending;
  uint64_t deadline_ms;
  pc_done_cb done;
  void *done_arg;
};

uint64_t pc_service_shutdown_timeout_ms(const pc_service_t *s) { return s->shutdown_timeout_ms; }
uint32_t pc_service_workers(const pc_service_t *s) { return s->workers; }

static instance_t *section_find(section_t *sec, const char *id) {
  for (size_t i = 0; i < sec->n; i++)
    if (strcmp(sec->items[i].id, id) == 0) return &sec->items[i];
  return NULL;
}

/* "otlp" or "otlp/name": the type is what comes before the first '/'. */
static bool section_is_broken(const section_t *sec, const char *id) {
  for (size_t i = 0; i < sec->n_broken; i++)
    if (strcmp(sec->broken[i], id) == 0) return true;
  return false;
}

static bool split_id(const char *id, char *type, size_t cap) {
  const char *slash = strchr(id, '/');
  size_t n = slash ? (size_t)(slash - id) : strlen(id);
  if (n == 0 || n >= cap || (slash && slash[1] == 0)) return false;
  memcpy(type, id, n);
  type[n] = 0;
  return true;
}

static void list_types(pc_kind_t kind, char *out, size_t cap) {
  const pc_component_t *const *all = pc_registry_list(kind);
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; all[i] && n < cap; i++) {
    int w = snprintf(out + n, cap - n, "%s%s", i ? ", " : "", all[i]->type);
    if (w < 0) break;
    n += (size_t)w;
  }
  if (!out[0]) snprintf(out, cap, "(none yet)");
}

static void report_unknown_type(pc_kind_t kind, const char *type, const pc_cfg_node_t *cfg,
                                pc_errlist_t *errs) {
  char known[256];
  list_types(kind, known, sizeof known);
  const char *names[64];
  size_t n = pc_registry_names(kind, names, 64);
  const char *hint = pc_cfg_did_you_mean(type, names, n);
  char h[96] = "";
  if (hint) snprintf(h, sizeof h, "did you mean \"%s\"? ", hint);
  add_key_error(errs, cfg, "unknown %s type \"%s\"; %sknown types: %s", pc_kind_name(kind),
                type, h, known);
}

/* The Collector logs a deprecated type name once per process: so do we. */
static void warn_deprecated_alias(const pc_component_t *comp, const pc_cfg_node_t *cfg) {
  static const pc_component_t *warned[16];
  static size_t n_warned;
  for (size_t i = 0; i < n_warned; i++)
    if (warned[i] == comp) return;
  if (n_warned < sizeof warned / sizeof warned[0]) warned[n_warned++] = comp;
  pc_err_t where = {0};
  pc_cfg_key_error(&where, cfg, 0, "\"%s\" is a deprecated name for the %s type \"%s\" (the "
                   "Collector's lower_snake_case rename); it still works, but use \"%s\"",
                   comp->deprecated_alias, pc_kind_name(comp->kind), comp->type, comp->type);
  pc_log(LOG, PC_LOG_WARN, "%s", where.msg);
}

/* Read one of receivers/processors/exporters/extensions into sec. */
static void load_section(const pc_cfg_node_t *root, pc_kind_t kind, section_t *sec,
                         pc_errlist_t *errs) {
  const pc_cfg_node_t *map = pc_cfg_get(root, pc_kind_section(kind));
  if (!map || map->type == PC_CFG_NULL) return;
  if (map->type != PC_CFG_MAP) {
    add_error(errs, map, "expected a map of component ids to their settings");
    return;
  }
  sec->items = pc_xcalloc(map->n_entries ? map->n_entries : 1, sizeof *sec->items);
  for (size_t i = 0; i < map->n_entries; i++) {
    const char *id = map->entries[i].key;
    const pc_cfg_node_t *cfg = map->entries[i].value;
    char type[64];
    if (!split_id(id, type, sizeof type)) {
      add_key_error(errs, cfg, "invalid component id \"%s\": expected \"type\" or \"type/name\"",
                    id);
      continue;
    }
    const pc_component_t *comp = pc_registry_find(kind, type);
    if (!comp) {
      report_unknown_type(kind, type, cfg, errs);
      sec->broken = pc_xrealloc(sec->broken, (sec->n_broken + 1) * sizeof *sec->broken);
      sec->broken[sec->n_broken++] = id;
      continue;
    }
    if (strcmp(comp->type, type) != 0) warn_deprecated_alias(comp, cfg);
    instance_t *it = &sec->items[sec->n++];
    it->comp = comp;
    it->cfg = cfg && cfg->type == PC_CFG_NULL ? NULL : cfg;
    snprintf(it->id, sizeof it->id, "%s", id);
  }
}

/* The ids in pipeline.<key>: a list of strings that must name defined components. */
static instance_t **resolve_ids(pc_service_t *s, const pc_cfg_node_t *pl, const char *key,
                                pc_kind_t kind, pc_signal_t signal, size_t *n,
                                pc_errlist_t *errs) {
  const pc_cfg_node_t *list = pc_cfg_get(pl, key);
  *n = 0;
  if (!list || list->type == PC_CFG_NULL) return NULL;
  if (list->type != PC_CFG_SEQ) {
    add_error(errs, list, "expected a list of %s ids", pc_kind_name(kind));
    return NULL;
  }
  instance_t **out = pc_xcalloc(list->n_items ? list->n_items : 1, sizeof *out);
  for (size_t i = 0; i < list->n_items; i++) {
    const pc_cfg_node_t *item = list->items[i];
    if (item->type != PC_CFG_SCALAR) {
      add_error(errs, item, "expected a %s id", pc_kind_name(kind));
      continue;
    }
    instance_t *it = section_find(&s->sections[kind], item->text);
    if (!it && section_is_broken(&s->sections[kind], item->text)) continue;
    if (!it) {
      add_error(errs, item, "%s \"%s\" is not defined in the %s section", pc_kind_name(kind),
                item->text, pc_kind_section(kind));
      continue;
    }
    if (!(it->comp->signals & signal)) {
      add_error(errs, item, "%s \"%s\" does not support the %s signal", pc_kind_name(kind),
                item->text, signal == PC_SIGNAL_PROFILES ? "profiles" : "traces");
      continue;
    }
    it->used = true;
    it->signals |= signal;
    out[(*n)++] = it;
  }
  return out;
}

static void load_pipelines(pc_service_t *s, const pc_cfg_node_t *pipelines, pc_errlist_t *errs) {
  if (!pipelines || pipelines->type != PC_CFG_MAP || pipelines->n_entries == 0) {
    add_error(errs, pipelines, "service.pipelines must define at least one pipeline "
                               "(profiles, profiles/NAME, traces or traces/NAME)");
    return;
  }
  s->pipelines = pc_xcalloc(pipelines->n_entries, sizeof *s->pipelines);
  for (size_t i = 0; i < pipelines->n_entries; i++) {
    const char *name = pipelines->entries[i].key;
    const pc_cfg_node_t *pl = pipelines->entries[i].value;
    char type[64];
    pc_signal_t signal;
    if (!split_id(name, type, sizeof type) ||
        (strcmp(type, "profiles") != 0 && strcmp(type, "traces") != 0)) {
      add_key_error(errs, pl, "unknown pipeline \"%s\": profcol runs profiles and traces "
                          "pipelines (\"profiles\", \"profiles/NAME\", \"traces\", "
                          "\"traces/NAME\")", name);
      continue;
    }
    signal = type[0] == 'p' ? PC_SIGNAL_PROFILES : PC_SIGNAL_TRACES;
    static const char *const keys[] = {"receivers", "processors", "exporters"};
    if (pl && pl->type == PC_CFG_MAP) {
      for (size_t k = 0; k < pl->n_entries; k++) {
        const char *key = pl->entries[k].key;
        if (strcmp(key, keys[0]) && strcmp(key, keys[1]) && strcmp(key, keys[2])) {
          const char *hint = pc_cfg_did_you_mean(key, keys, 3);
          char h[64] = "";
          if (hint) snprintf(h, sizeof h, "; did you mean \"%s\"?", hint);
          add_key_error(errs, pl->entries[k].value, "unknown key \"%s\"%s", key, h);
        }
      }
    } else {
      add_error(errs, pl, "expected a map with receivers, processors and exporters");
      continue;
    }
    pipeline_t *p = &s->pipelines[s->n_pipelines++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->signal = signal;
    p->receivers = resolve_ids(s, pl, "receivers", PC_RECEIVER, signal, &p->n_receivers, errs);
    p->exporters = resolve_ids(s, pl, "exporters", PC_EXPORTER, signal, &p->n_exporters, errs);
    size_t n_proc;
    instance_t **procs = resolve_ids(s, pl, "processors", PC_PROCESSOR, signal, &n_proc, errs);
    /* Processors get an instance of their own per pipeline. */
    p->processors = pc_xcalloc(n_proc ? n_proc : 1, sizeof *p->processors);
    for (size_t k = 0; k < n_proc; k++) {
      p->processors[k] = *procs[k];
      p->processors[k].signals = signal;
    }
    p->n_processors = n_proc;
    free(procs);
    const pc_cfg_node_t *rl = pc_cfg_get(pl, "receivers"), *el = pc_cfg_get(pl, "exporters");
    if (!rl || rl->type != PC_CFG_SEQ || rl->n_items == 0)
      add_error(errs, pl, "pipeline \"%s\" needs at least one receiver", name);
    if (!el || el->type != PC_CFG_SEQ || el->n_items == 0)
      add_error(errs, pl, "pipeline \"%s\" needs at least one exporter", name);
  }
}

static void check_top_level(const pc_cfg_node_t *root, pc_errlist_t *errs) {
  static const char *const keys[] = {"receivers", "processors", "exporters",
                                     "extensions", "service",   "connectors"};
  for (size_t i = 0; i < root->n_entries; i++) {
    const char *key = root->entries[i].key;
    bool known = false;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) known |= strcmp(key, keys[k]) == 0;
    if (known) continue;
    const char *hint = pc_cfg_did_you_mean(key, keys, sizeof keys / sizeof keys[0]);
    char h[64] = "";
    if (hint) snprintf(h, sizeof h, "; did you mean \"%s\"?", hint);
    add_key_error(errs, root->entries[i].value, "unknown top-level key \"%s\"%s", key, h);
  }
  const pc_cfg_node_t *conn = pc_cfg_get(root, "connectors");
  if (conn && conn->type == PC_CFG_MAP && conn->n_entries)
    add_error(errs, conn, "connectors are not supported by profcol");
}

typedef struct {
  const pc_cfg_node_t *extensions;
  const pc_cfg_node_t *pipelines;
  const pc_cfg_node_t *telemetry;
  uint64_t shutdown_timeout_ms;
  uint64_t max_request_memory; /* 0: derived (request_memory_limit) */
  int64_t fd_reserve;
  const pc_cfg_node_t *workers;
} service_cfg_t;

/* The most workers: libuv's thread pool, which they share, has 1024 threads. */
#define MAX_WORKERS 1024

static const pc_opt_t service_opts[] = {
    PC_OPT_ANY("extensions", service_cfg_t, extensions, "extension ids to start"),
    PC_OPT_ANY("pipelines", service_cfg_t, pipelines,
               "profiles[/NAME] and traces[/NAME] pipelines: receivers, processors, exporters"),
    PC_OPT_ANY("telemetry", service_cfg_t, telemetry, "logs (level, encoding) and metrics"),
    PC_OPT_DUR("shutdown_timeout", "30s", service_cfg_t, shutdown_timeout_ms, 0, 3600000,
               "how long SIGTERM waits for batches and queues to drain"),
    /* profcol's own, process-wide: the Collector has no such key. Here,
     * not on a receiver, because one limit spans every receiver, listener,
     * connection and stream of the process (and the configs of a reload). */
    PC_OPT_BYTES("max_request_memory", NULL, service_cfg_t, max_request_memory, (int64_t)1 << 20,
                 (int64_t)1 << 50,
                 "request data held in memory at once over every receiver (bodies as "
                 "received, decompressed and decoded); a request that would pass it is "
                 "refused with 503 and Retry-After (gRPC UNAVAILABLE). Default: half of "
                 "memory_limiter's soft limit, else a quarter of the memory the process may "
                 "use, at least 64MiB and at most 512MiB (a 64 MiB request fits, a "
                 "decompression bomb asking 16 times its size is refused with 413)"),
    PC_OPT_INT_RANGE("fd_reserve", "64", service_cfg_t, fd_reserve, 0, 1000000,
                     "file descriptors receivers leave free for health checks, metrics, "
                     "exporters and files: a connection that would take one is closed at once "
                     "(0: none)"),
    PC_OPT_ANY("workers", service_cfg_t, workers,
               "profcol: event loops, each a thread with its own listeners (SO_REUSEPORT), "
               "pipelines, batches and queues: 1 (default; a sidecar), N, or auto (the CPUs "
               "the process may use: its affinity and its cgroup's cpu.max)"),
    PC_OPT_TABLE_END,
};

/* service.workers: a number from 1 to MAX_WORKERS, or auto. */
static uint32_t parse_workers(const pc_cfg_node_t *n, pc_errlist_t *errs) {
  if (!n || n->type == PC_CFG_NULL) return 1;
  if (n->type == PC_CFG_SCALAR && n->text && strcmp(n->text, "auto") == 0) {
    uint32_t cpus = pc_cpus_usable();
    return cpus > MAX_WORKERS ? MAX_WORKERS : cpus;
  }
  char *end = NULL;
  long long v = n->type == PC_CFG_SCALAR && n->text ? strtoll(n->text, &end, 10) : 0;
  if (!end || end == n->text || *end || v < 1 || v > MAX_WORKERS) {
    add_error(errs, n, "expected a number of workers from 1 to %d, or auto, got \"%s\"",
              MAX_WORKERS, n->type == PC_CFG_SCALAR && n->text ? n->text : "(not a scalar)");
    return 1;
  }
  return (uint32_t)v;
}

/* A consumer that takes nothing: what a component is created with when the
 * one after it could not be (only to check its settings), or when the
 * pipelines are broken. */
static int refuse_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  (void)req;
  return pc_err_set(err, PC_EINVAL, "not running");
}
static pc_consumer_t refuse_all = {.consume_profiles = refuse_profiles};

/* Create one instance; false (errors added: every problem the component's
 * option tables found, not only the first) when it fails. */
static bool create_instance(instance_t *it, pc_consumer_t *next, pc_errlist_t *errs) {
  pc_err_t err = {0};
  pc_create_args_t args = {.id = it->id, .cfg = it->cfg, .next = next, .signals = it->signals};
  pc_cfg_collect_begin(errs);
  it->inst = it->comp->create(&args, &err);
  pc_cfg_collect_end();
  if (!it->inst) {
    pc_errlist_add(errs, err.msg[0] ? err.msg : "component could not be created");
    return false;
  }
  return true;
}

/* The extensions section's instances (those listed in service.extensions
 * are created, the others are named but not there) as a host. */
static pc_host_t *host_of(section_t *xt) {
  pc_host_t *h = pc_host_new();
  for (size_t i = 0; i < xt->n; i++) {
    const instance_t *it = &xt->items[i];
    if (it->used && !it->inst) /* listed, and its create reported why it is not there */
      pc_host_add_failed(h, it->id, it->comp);
    else
      pc_host_add(h, it->id, it->comp, it->inst);
  }
  return h;
}

/* Let inst find the extensions its config names; errors go to errs. */
static void resolve_instance(const instance_t *it, const pc_host_t *host, pc_errlist_t *errs) {
  pc_err_t err = {0};
  if (it->inst && it->comp->resolve && it->comp->resolve(it->inst, host, &err) &&
      err.code != PC_EREPORTED) /* an extension that failed its own check: said already */
    pc_errlist_add(errs, err.msg[0] ? err.msg : "component could not find its extensions");
}

typedef struct {
  const pc_host_t *host;
  pc_errlist_t *errs;
} resolve_ctx_t;

static void resolve_one(void *ctx, instance_t *it) {
  resolve_ctx_t *c = ctx;
  resolve_instance(it, c->host, c->errs);
}

static void each_in_stage(pc_service_t *s, int stage, void (*fn)(void *, instance_t *),
                          void *ctx);

static pc_consumer_t *consumer_of(const instance_t *it) {
  return it->inst ? it->comp->consumer(it->inst) : &refuse_all;
}

/* A per_process extension of a replica: the primary's instance, held
 * once more. false when the primary has none of that id (it was built from
 * the same config, so it has). */
static bool borrow_instance(instance_t *it, const pc_service_t *primary) {
  const section_t *sec = &primary->sections[PC_EXTENSION];
  for (size_t i = 0; i < sec->n; i++) {
    const instance_t *own = &sec->items[i];
    if (strcmp(own->id, it->id) == 0 && own->shared) {
      atomic_fetch_add(&own->shared->refs, 1);
      it->inst = own->inst;
      it->shared = own->shared;
      it->borrowed = true;
      return true;
    }
  }
  return false;
}

/* Create everything, going on past a component that fails so that every
 * component's problems are reported in one run. primary: the copy whose
 * per_process extensions this one borrows (NULL: create them). */
static bool create_all(pc_service_t *s, pc_errlist_t *errs, const pc_service_t *primary) {
  bool ok = true;
  /* Extensions first: the others find theirs in the host. */
  section_t *xt = &s->sections[PC_EXTENSION];
  for (size_t i = 0; i < xt->n; i++) {
    instance_t *it = &xt->items[i];
    if (!it->used) continue;
    if (it->comp->per_process && primary && borrow_instance(it, primary)) continue;
    ok &= create_instance(it, NULL, errs);
    if (it->inst && it->comp->per_process) it->shared = shared_new(it->comp, it->inst);
  }
  s->host = host_of(xt);
  section_t *ex = &s->sections[PC_EXPORTER];
  for (size_t i = 0; i < ex->n; i++)
    if (ex->items[i].used) ok &= create_instance(&ex->items[i], NULL, errs);
  for (size_t i = 0; i < s->n_pipelines; i++) {
    pipeline_t *p = &s->pipelines[i];
    for (size_t k = 0; k < p->n_exporters; k++)
      fanout_add(&p->to_exporters, p->signal, consumer_of(p->exporters[k]),
                 p->exporters[k]->comp->mutates, NULL);
    pc_consumer_t *next = &p->to_exporters.consumer;
    for (size_t k = p->n_processors; k-- > 0;) {
      ok &= create_instance(&p->processors[k], next, errs);
      next = consumer_of(&p->processors[k]);
      p->mutates |= p->processors[k].comp->mutates;
    }
    p->first = next;
  }
  section_t *rx = &s->sections[PC_RECEIVER];
  for (size_t i = 0; i < rx->n; i++) {
    instance_t *r = &rx->items[i];
    if (!r->used) continue;
    for (size_t k = 0; k < s->n_pipelines; k++)
      for (size_t j = 0; j < s->pipelines[k].n_receivers; j++)
        if (s->pipelines[k].receivers[j] == r)
          fanout_add(&r->out, s->pipelines[k].signal, s->pipelines[k].first,
                     s->pipelines[k].mutates, &s->pipelines[k]);
    ok &= create_instance(r, &r->out.consumer, errs);
  }
  /* Every component finds its extensions now, so validate reports a
   * reference to one that is missing or of the wrong kind. */
  size_t before = errs->n;
  resolve_ctx_t rc = {s->host, errs};
  for (int stage = 0; stage < 4; stage++) each_in_stage(s, stage, resolve_one, &rc);
  return ok && errs->n == before;
}

/* When the pipelines are broken nothing is built, but every component's own
 * settings are still checked, so one run of validate reports everything. */
static void check_settings(pc_service_t *s, pc_errlist_t *errs) {
  /* Extensions first, kept while the others are checked against them. */
  section_t xt = s->sections[PC_EXTENSION];
  instance_t *ext = pc_xcalloc(xt.n ? xt.n : 1, sizeof *ext);
  for (size_t i = 0; i < xt.n; i++) {
    ext[i] = xt.items[i];
    if (!create_instance(&ext[i], NULL, errs) || !ext[i].used) {
      if (ext[i].inst) ext[i].comp->destroy(ext[i].inst);
      ext[i].inst = NULL; /* failed (host_of says so when listed), or not listed: not there */
    }
  }
  xt.items = ext;
  pc_host_t *host = host_of(&xt);
  for (int kind = PC_RECEIVER; kind < PC_EXTENSION; kind++) {
    section_t *sec = &s->sections[kind];
    for (size_t i = 0; i < sec->n; i++) {
      instance_t probe = sec->items[i];
      if (!probe.signals) probe.signals = probe.comp->signals;
      if (!create_instance(&probe, &refuse_all, errs)) continue;
      resolve_instance(&probe, host, errs);
      probe.comp->destroy(probe.inst);
    }
  }
  pc_host_free(host);
  for (size_t i = 0; i < xt.n; i++)
    if (ext[i].inst) ext[i].comp->destroy(ext[i].inst);
  free(ext);
}

/* The request memory budget's limit: service.max_request_memory, else
 * half of the smallest memory_limiter soft limit, else from the machine
 * (pc_budget_default says why it is at most 512 MiB). */
static void request_memory_limit(pc_service_t *s, uint64_t configured) {
  uint64_t soft = 0;
  for (size_t i = 0; i < s->n_pipelines; i++)
    for (size_t k = 0; k < s->pipelines[i].n_processors; k++) {
      const instance_t *it = &s->pipelines[i].processors[k];
      if (it->inst && it->comp == &pc_processor_memory_limiter) {
        uint64_t v = pc_memory_limiter_soft_limit(it->inst);
        if (!soft || v < soft) soft = v;
      }
    }
  s->request_memory = configured ? configured : pc_budget_default(soft);
  s->request_memory_from = configured ? PC_REQUEST_BUDGET_KEY
                           : soft     ? "half of memory_limiter's soft limit"
                                      : "default: a quarter of the memory the process may use, "
                                        "at most 512 MiB; set " PC_REQUEST_BUDGET_KEY;
}

static void warn_unused(pc_service_t *s) {
  for (int kind = PC_RECEIVER; kind <= PC_EXPORTER; kind++) {
    section_t *sec = &s->sections[kind];
    for (size_t i = 0; i < sec->n; i++)
      if (!sec->items[i].used)
        pc_log(LOG, PC_LOG_WARN, "%s:%d:%d: %s \"%s\" is defined but used in no pipeline; "
               "it is ignored", sec->items[i].cfg ? sec->items[i].cfg->file : "config",
               sec->items[i].cfg ? sec->items[i].cfg->line : 0,
               sec->items[i].cfg ? sec->items[i].cfg->col : 0, pc_kind_name((pc_kind_t)kind),
               sec->items[i].id);
  }
}

static pc_service_t *create(const pc_cfg_node_t *root, pc_errlist_t *errs,
                            const pc_service_t *primary) {
  pc_service_t *s = pc_xcalloc(1, sizeof *s);
  if (!root || root->type != PC_CFG_MAP) {
    add_error(errs, root, "the config must be a map with receivers, exporters and service");
    pc_service_destroy(s);
    return NULL;
  }
  check_top_level(root, errs);
  for (int kind = PC_RECEIVER; kind <= PC_EXTENSION; kind++)
    load_section(root, (pc_kind_t)kind, &s->sections[kind], errs);
  service_cfg_t scfg = {0};
  pc_err_t err = {0};
  const pc_cfg_node_t *service = pc_cfg_get(root, "service");
  if (!service) add_error(errs, root, "missing the service section (service.pipelines)");
  else if (pc_cfg_apply(service_opts, service, &scfg, &err)) pc_errlist_add(errs, err.msg);
  else load_pipelines(s, scfg.pipelines, errs);
  s->shutdown_timeout_ms = scfg.shutdown_timeout_ms;
  s->fd_reserve = (uint32_t)scfg.fd_reserve;
  s->workers = parse_workers(scfg.workers, errs);
  pc_cfg_collect_begin(errs);
  s->telemetry = pc_telemetry_create(scfg.telemetry, errs);
  pc_cfg_collect_end();
  if (scfg.extensions && scfg.extensions->type == PC_CFG_SEQ) {
    for (size_t i = 0; i < scfg.extensions->n_items; i++) {
      const pc_cfg_node_t *item = scfg.extensions->items[i];
      instance_t *it = item->text ? section_find(&s->sections[PC_EXTENSION], item->text) : NULL;
      if (!it) add_error(errs, item, "extension \"%s\" is not defined in the extensions section",
                         item->text ? item->text : "?");
      else it->used = true;
    }
  }
  if (errs->n == 0) create_all(s, errs, primary);
  else check_settings(s, errs);
  if (errs->n) {
    pc_service_destroy(s);
    return NULL;
  }
  if (!primary) warn_unused(s);
  request_memory_limit(s, scfg.max_request_memory);
  return s;
}

pc_service_t *pc_service_create(const pc_cfg_node_t *root, pc_errlist_t *errs) {
  return create(root, errs, NULL);
}

pc_service_t *pc_service_create_replica(const pc_cfg_node_t *root, const pc_service_t *primary,
                                        pc_errlist_t *errs) {
  return create(root, errs, primary);
}

void pc_service_set_worker(pc_service_t *s, uint32_t index, pc_service_gather_cb gather,
                           void *arg) {
  s->worker = index;
  pc_telemetry_set_gather(s->telemetry, gather, arg);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

/* Calls fn on every created instance of a stage: 0 receivers, 1 processors,
 * 2 exporters, 3 extensions; not on those borrowed from worker 0's copy,
 * which that copy resolves, starts, tells and stops. */
static void each_in_stage(pc_service_t *s, int stage, void (*fn)(void *, instance_t *),
                          void *ctx) {
  static const pc_kind_t order[] = {PC_RECEIVER, PC_PROCESSOR, PC_EXPORTER, PC_EXTENSION};
  if (order[stage] == PC_PROCESSOR) {
    /* One instance per pipeline: its lines say which. */
    for (size_t i = 0; i < s->n_pipelines; i++)
      for (size_t k = 0; k < s->pipelines[i].n_processors; k++)
        if (s->pipelines[i].processors[k].inst) {
          pc_log_pipeline(s->pipelines[i].name);
          fn(ctx, &s->pipelines[i].processors[k]);
          pc_log_pipeline(NULL);
        }
    return;
  }
  section_t *sec = &s->sections[order[stage]];
  for (size_t i = 0; i < sec->n; i++)
    if (sec->items[i].inst && !sec->items[i].borrowed) fn(ctx, &sec->items[i]);
}

typedef struct {
  uv_loop_t *loop;
  pc_err_t *err;
  int rc;
} start_ctx_t;

static void start_one(void *ctx, instance_t *it) {
  start_ctx_t *c = ctx;
  if (c->rc || !it->comp->start) return;
  c->rc = it->comp->start(it->inst, c->loop, c->err);
  if (c->rc) {
    /* Prefix the component id: "otlp: listen 127.0.0.1:4318: address in use". */
    char msg[sizeof c->err->msg + sizeof it->id + 2];
    snprintf(msg, sizeof msg, "%s: %s", it->id, c->err->msg);
    snprintf(c->err->msg, sizeof c->err->msg, "%.*s", (int)sizeof c->err->msg - 1, msg);
  }
}

static void status_one(void *ctx, instance_t *it) {
  if (it->comp->status) it->comp->status(it->inst, *(pc_status_t *)ctx);
}

/* Tell every instance with a status hook, once per change. */
static void set_status(pc_service_t *s, pc_status_t status) {
  if (s->status == status) return;
  s->status = status;
  for (int stage = 0; stage < 4; stage++) each_in_stage(s, stage, status_one, &status);
}

/* The scope that names an instance in the metrics: receiver="otlp", ... */
static void collect_one(pc_metrics_t *m, const instance_t *it, const char *pipeline) {
  /* A borrowed instance is counted once, by the copy that owns it: the
   * page sums the workers' metrics. */
  if (!it->inst || it->borrowed || !it->comp->metrics) return;
  pc_metrics_scope(m, pc_kind_name(it->comp->kind), it->id, pipeline ? "pipeline" : NULL,
                   pipeline, NULL);
  it->comp->metrics(it->inst, m);
}

void pc_service_collect(pc_service_t *s, pc_metrics_t *m) {
  for (int kind = PC_RECEIVER; kind <= PC_EXTENSION; kind++) {
    if (kind == PC_PROCESSOR) continue; /* one instance per pipeline: below */
    for (size_t i = 0; i < s->sections[kind].n; i++)
      collect_one(m, &s->sections[kind].items[i], NULL);
  }
  for (size_t i = 0; i < s->n_pipelines; i++)
    for (size_t k = 0; k < s->pipelines[i].n_processors; k++)
      collect_one(m, &s->pipelines[i].processors[k], s->pipelines[i].name);
  pc_metrics_scope(m, NULL);
}

static void collect_metrics(void *arg, pc_metrics_t *m) { pc_service_collect(arg, m); }

static void trim_one(void *ctx, instance_t *it) {
  (void)ctx;
  if (it->comp->trim) it->comp->trim(it->inst);
}

/* The end of a burst (quiet.c): every instance frees its spares. */
static void service_trim(void *arg) {
  for (int stage = 0; stage < 4; stage++) each_in_stage(arg, stage, trim_one, NULL);
}

static void quiet_stop(pc_service_t *s) {
  pc_quiet_stop(s->quiet);
  s->quiet = NULL;
}

/* The metrics endpoint redirects the trace query API's paths to the first
 * span_store's endpoint (worker 0's copy runs it). */
static void point_to_query_api(pc_service_t *s) {
  const section_t *xt = &s->sections[PC_EXTENSION];
  for (size_t i = 0; i < xt->n; i++) {
    const instance_t *it = &xt->items[i];
    if (!it->inst || it->borrowed || it->comp != &pc_extension_span_store) continue;
    bool tls;
    char host[256];
    int port;
    pc_span_store_query_endpoint(it->inst, &tls, host, sizeof host, &port);
    pc_telemetry_set_query_api(s->telemetry, tls, host, port);
    return;
  }
}

int pc_service_start(pc_service_t *s, uv_loop_t *loop, pc_err_t *err) {
  pc_fd_set_reserve(s->fd_reserve);
  /* One metrics endpoint per process: worker 0's, which gathers the rest. */
  int rc = s->worker ? 0 : pc_telemetry_start(s->telemetry, loop, collect_metrics, s, err);
  if (rc) return rc;
  start_ctx_t c = {.loop = loop, .err = err};
  for (int stage = 3; stage >= 0 && !c.rc; stage--) each_in_stage(s, stage, start_one, &c);
  if (c.rc) return c.rc;
  if (!s->worker) point_to_query_api(s);
  /* Process-wide: a reloaded config's limit replaces the running one's
   * once it runs (one that fails to start changes nothing). */
  pc_budget_set_limit(pc_request_budget(), s->request_memory);
  if (!s->worker) /* every worker sets the same limit; one line says so */
    pc_log(LOG, PC_LOG_INFO, "request memory: at most %llu MiB (%s)",
           (unsigned long long)(s->request_memory >> 20), s->request_memory_from);
  set_status(s, PC_STATUS_READY);
  s->quiet = pc_quiet_start(loop, service_trim, s);
  return 0;
}

void pc_service_replaced(pc_service_t *s) {
  set_status(s, PC_STATUS_REPLACED);
  quiet_stop(s); /* the new config's trims its own */
  /* The new config's endpoint shares the port: stop answering for the old. */
  pc_telemetry_close(s->telemetry, 0, NULL, NULL);
}

static void shutdown_stage(pc_service_t *s);

static void stage_component_done(void *arg) {
  pc_service_t *s = arg;
  if (--s->pending == 0) {
    s->stage++;
    shutdown_stage(s);
  }
}

static void count_one(void *ctx, instance_t *it) {
  (void)it;
  ((pc_service_t *)ctx)->pending++;
}

static void shutdown_one(void *ctx, instance_t *it) {
  pc_service_t *s = ctx;
  if (it->comp->shutdown) it->comp->shutdown(it->inst, s->deadline_ms, stage_component_done, s);
  else stage_component_done(s);
}

static void service_on_telemetry_closed(void *arg) {
  pc_service_t *s = arg;
  pc_done_cb done = s->done;
  s->done = NULL;
  if (done) done(s->done_arg);
}

static void shutdown_stage(pc_service_t *s) {
  while (s->stage < 4) {
    s->pending = 0;
    each_in_stage(s, s->stage, count_one, s);
    if (s->pending) {
      s->pending++; /* hold the stage open while calling */
      each_in_stage(s, s->stage, shutdown_one, s);
      stage_component_done(s);
      return;
    }
    s->stage++;
  }
  /* Last: the metrics endpoint, which showed the drain to its end. */
  pc_telemetry_close(s->telemetry, s->deadline_ms, service_on_telemetry_closed, s);
}

void pc_service_shutdown(pc_service_t *s, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  if (s->done) return; /* already shutting down */
  s->deadline_ms = deadline_ms;
  s->done = done;
  s->done_arg = arg;
  s->stage = 0;
  quiet_stop(s); /* components stop; nothing is trimmed under them */
  if (s->status != PC_STATUS_REPLACED) set_status(s, PC_STATUS_DRAINING);
  shutdown_stage(s);
}

void pc_service_destroy(pc_service_t *s) {
  if (!s) return;
  quiet_stop(s); /* started, never shut down */
  for (size_t i = 0; i < s->n_pipelines; i++) {
    pipeline_t *p = &s->pipelines[i];
    for (size_t k = 0; k < p->n_processors; k++)
      if (p->processors[k].inst) p->processors[k].comp->destroy(p->processors[k].inst);
    free(p->processors);
    free(p->receivers);
    free(p->exporters);
    fanout_free(&p->to_exporters);
  }
  free(s->pipelines);
  for (int kind = PC_RECEIVER; kind <= PC_EXTENSION; kind++) {
    section_t *sec = &s->sections[kind];
    for (size_t i = 0; i < sec->n; i++) {
      if (sec->items[i].shared) shared_unref(sec->items[i].shared);
      else if (sec->items[i].inst) sec->items[i].comp->destroy(sec->items[i].inst);
      fanout_free(&sec->items[i].out);
    }
    free(sec->items);
    free(sec->broken);
  }
  pc_telemetry_destroy(s->telemetry);
  pc_host_free(s->host);
  free(s);
}
