/* resource.c - the `resource` processor: edit every resource's attributes,
 * as the Collector's processor of that name (its `attributes` list of
 * actions: insert, update, upsert, delete, hash, extract, convert).
 *
 *   processors:
 *     resource:
 *       attributes:
 *         - {key: deployment.environment, value: prod, action: upsert}
 *         - {key: k8s.cluster.name, from_attribute: cluster, action: insert}
 *         - {key: tenant, from_context: metadata.x-scope-orgid, action: upsert}
 *         - {key: cluster, action: delete}
 *         - {pattern: ^secret\., action: hash}
 *
 * The actions are attraction.c's, shared with the attributes processor;
 * this file is their storage for resource attributes. Each resource's
 * attributes are loaded into a pc__amap_t (keys resolved, inline or from
 * the string table), the actions run in order, and when something changed
 * the resource gets a new attribute array from the request's arena: entries
 * left alone are copied as they were (an indexed key stays indexed), set
 * and added ones carry an inline key. Attributes keep their order; added
 * ones come last. New strings point into this processor's copies or the
 * request's arena, valid for as long as the request. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "processor.h"

typedef struct {
  pc_consumer_t consumer; /* first: the consumer is the instance */
  char id[128];
  pc_consumer_t *next;
  pc__actions_t *actions;
  pc__amap_t map; /* scratch, one resource at a time */
} res_t;

typedef struct {
  const pc_cfg_node_t *attributes;
} res_cfg_t;

static const pc_opt_t res_opts[] = {
    PC_OPT_ANY("attributes", res_cfg_t, attributes, PC__ACTIONS_HELP),
    PC_OPT_TABLE_END,
};

static res_t *res_of(pc_consumer_t *c) {
  return (res_t *)(void *)((char *)c - offsetof(res_t, consumer));
}

/* ---- the storage: a resource's attributes (internal.h; resource_detection uses it too) ---- */

void pc__resource_load(const pc_request_t *req, const pc_kvs_t *a, pc__amap_t *m) {
  pc__amap_clear(m);
  const pc_dictionary_t *d = req->has_dictionary ? &req->dict : NULL;
  for (uint32_t i = 0; i < a->n; i++) {
    const pc_keyvalue_t *kv = &a->v[i];
    pc_anyvalue_t v = kv->has_value ? pc__value_resolved(d, kv->value) : (pc_anyvalue_t){0};
    pc__amap_push(m, pc__kv_key(req, kv), v, (int32_t)i);
  }
}

int pc__resource_store(pc_request_t *req, pc_resource_profiles_t *rp, const pc__amap_t *m) {
  pc_kvs_t *a = &rp->resource.attributes;
  pc_keyvalue_t *out = m->n ? pc_arena_alloc(req->arena, (size_t)m->n * sizeof *out) : NULL;
  if (m->n && !out) return PC_ENOMEM;
  for (uint32_t i = 0; i < m->n; i++) {
    const pc__am_entry_t *e = &m->v[i];
    if (e->src >= 0 && !e->set)
      out[i] = a->v[e->src];
    else
      out[i] = (pc_keyvalue_t){.key = e->key, .has_value = e->value.type != PC_AV_NONE,
                               .value = e->value};
  }
  if (m->n) rp->has_resource = true; /* an absent resource that gained attributes */
  a->v = out;
  a->n = m->n;
  return 0;
}

static int res_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  res_t *p = res_of(self);
  if (!req->arena)
    return pc_err_set(err, PC_EINVAL, "%s: the request has no arena to grow attributes in",
                      p->id);
  const pc_dictionary_t *d = req->has_dictionary ? &req->dict : NULL;
  for (uint32_t i = 0; i < req->n_resources; i++) {
    pc_resource_profiles_t *rp = &req->resources[i];
    pc__resource_load(req, &rp->resource.attributes, &p->map);
    if (pc__actions_apply(p->actions, &p->map, req->metadata, d, req->arena) ||
        (p->map.changed && pc__resource_store(req, rp, &p->map)))
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory editing resource attributes", p->id);
  }
  pc__actions_warn_limit(p->actions, p->id);
  return p->next->consume_profiles(p->next, req, err);
}

/* ---- config --------------------------------------------------------------------- */

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
  pc__actions_t *actions = pc__actions_parse(c.attributes, err);
  if (!actions) return NULL;
  res_t *p = pc_xcalloc(1, sizeof *p);
  snprintf(p->id, sizeof p->id, "processor:%s", args->id);
  p->next = args->next;
  p->actions = actions;
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
  pc__actions_free(p->actions);
  pc__amap_free(&p->map);
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
