/* resource.c - the `resource` processor: edit every resource's attributes,
 * as the Collector's processor of that name (its attributes list, with the
 * actions insert, update, upsert and delete).
 *
 *   processors:
 *     resource:
 *       attributes:
 *         - {key: deployment.environment, value: prod, action: upsert}
 *         - {key: k8s.cluster.name, from_attribute: cluster, action: insert}
 *         - {key: tenant, from_context: metadata.x-scope-orgid, action: upsert}
 *         - {key: cluster, action: delete}
 *
 * Actions run in order on each resource of each request, in place (the
 * pipeline lets a processor edit what it is given): insert adds the key when
 * it is absent, update sets it when present, upsert does either, delete
 * removes every attribute with that key. A value comes from `value` (its
 * YAML type: a quoted or plain string, an integer, a float, true/false),
 * `from_attribute` (another attribute of the same resource, as it is at
 * that point; nothing happens when it is absent) or `from_context`
 * (`metadata.<key>`: the request's client metadata, which needs the
 * receiver's include_metadata). Keys compare as the attribute's resolved
 * key (inline, or from the string table). New arrays come from the
 * request's arena; new strings point into this processor's copies, valid
 * for as long as the call. The Collector's hash, extract, convert and
 * pattern are not provided: a config error says so. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor.h"

typedef enum { A_INSERT, A_UPDATE, A_UPSERT, A_DELETE } action_t;

/* Names are owned copies, kept with their lengths: they are compared with
 * every attribute of every resource. */
typedef struct {
  pc_str_t key;
  action_t action;
  bool has_value;
  pc_anyvalue_t value;     /* a constant (its string, if any, in text) */
  char *text;              /* owned copy behind value.u.s */
  pc_str_t from_attribute; /* empty: none */
  pc_str_t from_context;   /* a metadata key, without "metadata."; empty: none */
} rule_t;

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  rule_t *rules;
  size_t n_rules;
} res_t;

typedef struct {
  const pc_cfg_node_t *attributes;
} res_cfg_t;

static const pc_opt_t res_opts[] = {
    PC_OPT_ANY("attributes", res_cfg_t, attributes,
               "list of {key, action: insert | update | upsert | delete, and for all but delete "
               "one of value, from_attribute, from_context (metadata.<key>)}, applied in order"),
    PC_OPT_TABLE_END,
};

static res_t *res_of(pc_consumer_t *c) {
  return (res_t *)(void *)((char *)c - offsetof(res_t, consumer));
}

/* ---- applying the rules ----------------------------------------------------------- */

static pc_str_t str_of(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

static pc_str_t key_of(const pc_request_t *req, const pc_keyvalue_t *kv) {
  if (kv->key.n || kv->key_strindex <= 0 || !req->has_dictionary ||
      (uint32_t)kv->key_strindex >= req->dict.n_strings)
    return kv->key;
  return req->dict.strings[kv->key_strindex];
}

static pc_keyvalue_t *find(const pc_request_t *req, pc_kvs_t *a, pc_str_t key) {
  for (uint32_t i = 0; i < a->n; i++)
    if (pc_str_eq(key_of(req, &a->v[i]), key)) return &a->v[i];
  return NULL;
}

/* The value a rule sets, or false when its source is absent. */
static bool rule_value(const rule_t *r, const pc_request_t *req, pc_kvs_t *a,
                       pc_anyvalue_t *out) {
  if (r->has_value) {
    *out = r->value;
    return true;
  }
  if (r->from_attribute.n) {
    const pc_keyvalue_t *src = find(req, a, r->from_attribute);
    if (!src || !src->has_value) return false;
    *out = src->value;
    return true;
  }
  pc_str_t v;
  if (!pc_md_get(req->metadata, r->from_context, 0, &v)) return false;
  *out = (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = v};
  return true;
}

static int append(pc_request_t *req, pc_kvs_t *a, pc_str_t key, pc_anyvalue_t v) {
  pc_keyvalue_t *grown = pc_arena_alloc(req->arena, ((size_t)a->n + 1) * sizeof *grown);
  if (!grown) return PC_ENOMEM;
  if (a->n) memcpy(grown, a->v, (size_t)a->n * sizeof *grown);
  grown[a->n] = (pc_keyvalue_t){.key = key, .has_value = true, .value = v};
  a->v = grown;
  a->n++;
  return 0;
}

static void delete_key(const pc_request_t *req, pc_kvs_t *a, pc_str_t key) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < a->n; i++)
    if (!pc_str_eq(key_of(req, &a->v[i]), key)) a->v[kept++] = a->v[i];
  a->n = kept;
}

static int apply(const rule_t *r, pc_request_t *req, pc_resource_profiles_t *rp) {
  pc_kvs_t *a = &rp->resource.attributes;
  if (r->action == A_DELETE) {
    delete_key(req, a, r->key);
    return 0;
  }
  pc_keyvalue_t *at = find(req, a, r->key);
  if ((at && r->action == A_INSERT) || (!at && r->action == A_UPDATE)) return 0;
  pc_anyvalue_t v;
  if (!rule_value(r, req, a, &v)) return 0;
  if (at) {
    at->has_value = true;
    at->value = v;
    return 0;
  }
  rp->has_resource = true;
  return append(req, a, r->key, v);
}

static int res_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  res_t *p = res_of(self);
  if (!req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow attributes in",
                      p->id);
  for (uint32_t i = 0; i < req->n_resources; i++)
    for (size_t k = 0; k < p->n_rules; k++)
      if (apply(&p->rules[k], req, &req->resources[i]))
        return pc_err_set(err, PC_ENOMEM, "%s: out of memory adding resource attributes",
                          p->id);
  return p->next->consume_profiles(p->next, req, err);
}

/* ---- config --------------------------------------------------------------------- */

static pc_str_t owned(const char *s) { return str_of(pc_xstrdup(s)); }

/* A YAML scalar as the Collector reads it: quoted is a string; plain
 * true/false a bool, an integer an int, a number a double, else a string. */
static pc_anyvalue_t scalar_value(rule_t *r, const pc_cfg_node_t *n) {
  const char *t = n->text;
  if (!n->quoted) {
    if (!strcmp(t, "true") || !strcmp(t, "false"))
      return (pc_anyvalue_t){.type = PC_AV_BOOL, .u.b = t[0] == 't'};
    char *end;
    errno = 0;
    long long i = strtoll(t, &end, 10);
    if (*t && !*end && !errno) return (pc_anyvalue_t){.type = PC_AV_INT, .u.i = i};
    double d = strtod(t, &end);
    if (*t && !*end && isfinite(d)) return (pc_anyvalue_t){.type = PC_AV_DOUBLE, .u.d = d};
  }
  r->text = pc_xstrdup(t);
  return (pc_anyvalue_t){.type = PC_AV_STRING, .u.s = str_of(r->text)};
}

static int parse_action(const pc_cfg_node_t *n, action_t *out, pc_err_t *err) {
  static const char *const names[] = {"insert", "update", "upsert", "delete"};
  if (n->type != PC_CFG_SCALAR)
    return pc_cfg_error(err, n, PC_EINVAL, "needs an action: insert, update, upsert or delete");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(n->text, names[i])) {
      *out = (action_t)i;
      return 0;
    }
  bool collector = !strcmp(n->text, "hash") || !strcmp(n->text, "extract") ||
                   !strcmp(n->text, "convert");
  return pc_cfg_error(err, n, PC_EINVAL, "action \"%s\": %s", n->text,
                      collector ? "profcol's resource processor has insert, update, upsert "
                                  "and delete only"
                                : "want insert, update, upsert or delete");
}

static const char *scalar_text(const pc_cfg_node_t *n) {
  return n && n->type == PC_CFG_SCALAR ? n->text : NULL;
}

static int parse_rule(const pc_cfg_node_t *n, rule_t *r, pc_err_t *err) {
  static const char *const known[] = {"key", "action", "value", "from_attribute",
                                      "from_context"};
  if (n->type != PC_CFG_MAP)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a map: {key: K, value: V, action: upsert}");
  for (size_t i = 0; i < n->n_entries; i++) {
    size_t k = 0;
    while (k < sizeof known / sizeof known[0] && strcmp(n->entries[i].key, known[k])) k++;
    if (k == sizeof known / sizeof known[0])
      return pc_cfg_error(err, n->entries[i].value, PC_EINVAL, "unknown key \"%s\"%s",
                          n->entries[i].key, !strcmp(n->entries[i].key, "pattern")
                              ? ": profcol matches keys exactly" : "");
  }
  const char *key = scalar_text(pc_cfg_get(n, "key"));
  if (!key || !key[0]) return pc_cfg_error(err, n, PC_EINVAL, "needs a non-empty key");
  r->key = owned(key);
  const pc_cfg_node_t *action = pc_cfg_get(n, "action");
  int rc = parse_action(action ? action : n, &r->action, err);
  if (rc) return rc;
  const pc_cfg_node_t *value = pc_cfg_get(n, "value"), *attr = pc_cfg_get(n, "from_attribute"),
                      *ctx = pc_cfg_get(n, "from_context");
  int sources = !!value + !!attr + !!ctx;
  if (r->action == A_DELETE && sources)
    return pc_cfg_error(err, n, PC_EINVAL, "delete takes no value, from_attribute or "
                        "from_context");
  if (r->action != A_DELETE && sources != 1)
    return pc_cfg_error(err, n, PC_EINVAL, "%s needs exactly one of value, from_attribute "
                        "and from_context", pc_cfg_get(n, "action")->text);
  if (value) {
    if (value->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, value, PC_EINVAL, "must be a string, number or bool");
    r->has_value = true;
    r->value = scalar_value(r, value);
  }
  if (attr) {
    if (!scalar_text(attr) || !attr->text[0])
      return pc_cfg_error(err, attr, PC_EINVAL, "must be an attribute key");
    r->from_attribute = owned(attr->text);
  }
  if (ctx) {
    const char *t = scalar_text(ctx);
    if (!t || strncmp(t, "metadata.", 9) != 0 || !t[9])
      return pc_cfg_error(err, ctx, PC_EINVAL, "must be metadata.<key>: a client metadata key "
                          "(the receiver's include_metadata)");
    r->from_context = owned(t + 9);
  }
  return 0;
}

static void res_destroy(void *self);

static void *res_create(const pc_create_args_t *args, pc_err_t *err) {
  res_cfg_t c = {0};
  if (pc_cfg_apply(res_opts, args->cfg, &c, err)) return NULL;
  if (!args->next) {
    pc_err_set(err, PC_EINVAL, "processor %s has no next consumer", args->id);
    return NULL;
  }
  const pc_cfg_node_t *list = c.attributes;
  if (!list || list->type != PC_CFG_SEQ || list->n_items == 0) {
    pc_cfg_error(err, list ? list : args->cfg, PC_EINVAL,
                 "attributes must be a list of one or more actions");
    return NULL;
  }
  res_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  p->rules = pc_xcalloc(list->n_items, sizeof *p->rules);
  for (size_t i = 0; i < list->n_items; i++, p->n_rules++)
    if (parse_rule(list->items[i], &p->rules[i], err)) {
      p->n_rules++; /* free what it holds */
      res_destroy(p);
      return NULL;
    }
  p->consumer.consume_profiles = res_consume_profiles;
  p->consumer.retry_after_s = p->next->retry_after_s;
  return p;
}

static pc_consumer_t *res_consumer(void *self) { return &((res_t *)self)->consumer; }

static int res_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

/* Nothing is held between calls: done at once. */
static void res_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void res_destroy(void *self) {
  res_t *p = self;
  if (!p) return;
  for (size_t i = 0; i < p->n_rules; i++) {
    free((void *)p->rules[i].key.p);
    free(p->rules[i].text);
    free((void *)p->rules[i].from_attribute.p);
    free((void *)p->rules[i].from_context.p);
  }
  free(p->rules);
  free(p);
}

const pc_component_t pc_processor_resource = {
    .type = "resource",
    .kind = PC_PROCESSOR,
    .signals = PC_SIGNAL_PROFILES,
    .mutates = true, /* edits resource attributes in place */
    .stability = "alpha",
    .options = res_opts,
    .create = res_create,
    .consumer = res_consumer,
    .start = res_start,
    .shutdown = res_shutdown,
    .destroy = res_destroy,
};
