/* match.c - include/exclude for the attributes processor (processor/internal.h):
 * the Collector's filterconfig match properties, applied to the samples of
 * a profiles request.
 *
 *   include:                # and/or exclude:, same keys
 *     match_type: strict    # or regexp (Go RE2 syntax, unanchored)
 *     services: [checkout]  # the resource's service.name matches one of them
 *     resources: [{key: k8s.namespace.name, value: prod}]   # all must match
 *     libraries: [{name: ebpf-profiler, version: v1}]       # all must match
 *     attributes: [{key: thread.name, value: "gc.*"}]       # the sample's, all must match
 *
 * The Collector's attributes processor has no profiles support to copy
 * (its drafts, PRs 36106 and 38964, were closed): profcol takes the
 * properties that mean something for a sample, with the Collector's
 * semantics for each. services is the spans' one (a missing service.name
 * is "<nil-service-name>"), since a profile's resource names its service as
 * a span's does; resources and libraries are the resource and scope the
 * sample belongs to; attributes are the sample's own. span_names,
 * span_kinds, log_bodies, log_severity_texts, log_severity_number and
 * metric_names describe other signals and are config errors. Within one
 * include or exclude every given property must match; a sample is edited
 * when it matches include (if given) and does not match exclude (if
 * given), include checked first.
 *
 * A value given for an attribute or resource key must equal the
 * attribute's with match_type strict (same type and value: 200 is not
 * "200"), or be a pattern with regexp that matches the value's text (bool,
 * int, double as Go writes them; lists, maps and bytes never match). A key
 * without a value only needs to be present.
 *
 * The regexp section's cacheenabled and cachemaxnumentries are accepted and
 * have nothing to do: the processor decides once per distinct attribute set
 * of a request, and once per resource and scope, which is the cache. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
  char *key;
  pc_str_t k;
  bool has_value;
  pc_anyvalue_t value; /* strict */
  char *text;
  pc__regex_t *re; /* regexp */
} kv_match_t;

typedef struct {
  pc_str_t name, version;
  char *name_text, *version_text;
  bool has_version;
  pc__regex_t *name_re, *version_re;
} lib_match_t;

struct pc__match {
  bool regexp;
  pc_str_t *services; /* strict */
  char **service_texts;
  pc__regex_t **service_re;
  size_t n_services;
  kv_match_t *resources, *attributes;
  size_t n_resources, n_attributes;
  lib_match_t *libraries;
  size_t n_libraries;
};

typedef struct {
  const pc_cfg_node_t *match_type, *regexp, *services, *resources, *libraries, *attributes;
  const pc_cfg_node_t *other[6];
} match_cfg_t;

static const pc_opt_t regexp_opts[] = {
    PC_OPT_ANY("cacheenabled", match_cfg_t, other[0],
               "accepted for Collector configs; profcol decides once per distinct attribute set"),
    PC_OPT_ANY("cachemaxnumentries", match_cfg_t, other[1], "accepted for Collector configs"),
    PC_OPT_TABLE_END,
};

/* The keys of include and exclude; those of other signals are listed so
 * that they get a message of their own. */
static const pc_opt_t match_opts[] = {
    PC_OPT_ANY("match_type", match_cfg_t, match_type, "strict or regexp (required)"),
    PC_OPT_ANY("regexp", match_cfg_t, regexp, "cacheenabled, cachemaxnumentries: accepted"),
    PC_OPT_ANY("services", match_cfg_t, services, "list: the resource's service.name matches one"),
    PC_OPT_ANY("resources", match_cfg_t, resources, "list of {key, value}: all match the resource"),
    PC_OPT_ANY("libraries", match_cfg_t, libraries, "list of {name, version}: all match the scope"),
    PC_OPT_ANY("attributes", match_cfg_t, attributes,
               "list of {key, value}: all match the sample's attributes"),
    PC_OPT_ANY("span_names", match_cfg_t, other[0], "spans only"),
    PC_OPT_ANY("span_kinds", match_cfg_t, other[1], "spans only"),
    PC_OPT_ANY("log_bodies", match_cfg_t, other[2], "logs only"),
    PC_OPT_ANY("log_severity_texts", match_cfg_t, other[3], "logs only"),
    PC_OPT_ANY("log_severity_number", match_cfg_t, other[4], "logs only"),
    PC_OPT_ANY("metric_names", match_cfg_t, other[5], "metrics only"),
    PC_OPT_TABLE_END,
};

static const char *const other_names[6] = {"span_names", "span_kinds", "log_bodies",
                                           "log_severity_texts", "log_severity_number",
                                           "metric_names"};

static pc_str_t view(const char *s) { return (pc_str_t){(const uint8_t *)s, strlen(s)}; }

static bool is_list(const pc_cfg_node_t *n) { return n && n->type == PC_CFG_SEQ && n->n_items; }

static int parse_kvs(pc__match_t *m, const pc_cfg_node_t *list, kv_match_t **out, size_t *n,
                     pc_err_t *err) {
  *out = pc_xcalloc(list->n_items, sizeof **out);
  for (size_t i = 0; i < list->n_items; i++) {
    *n = i + 1; /* counted before it holds anything: freed on every path */
    const pc_cfg_node_t *item = list->items[i];
    kv_match_t *k = &(*out)[i];
    if (item->type != PC_CFG_MAP)
      return pc_cfg_error(err, item, PC_EINVAL, "must be a map: {key: K, value: V}");
    for (size_t e = 0; e < item->n_entries; e++)
      if (strcmp(item->entries[e].key, "key") && strcmp(item->entries[e].key, "value"))
        return pc_cfg_key_error(err, item->entries[e].value, PC_EINVAL,
                                "unknown key \"%s\": want key and value", item->entries[e].key);
    const pc_cfg_node_t *key = pc_cfg_get(item, "key"), *value = pc_cfg_get(item, "value");
    if (!key || key->type != PC_CFG_SCALAR || !key->text[0])
      return pc_cfg_error(err, item, PC_EINVAL, "needs a non-empty key");
    k->key = pc_xstrdup(key->text);
    k->k = view(k->key);
    if (!value || value->type == PC_CFG_NULL) continue;
    if (value->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, value, PC_EINVAL, "must be a string, number or bool");
    k->has_value = true;
    if (!m->regexp) {
      k->value = pc__scalar_value(value, &k->text);
      continue;
    }
    pc_anyvalue_t typed = pc__scalar_value(value, &k->text);
    if (typed.type != PC_AV_STRING)
      return pc_cfg_error(err, value, PC_EINVAL, "match_type regexp takes patterns (strings) "
                          "as values; quote it to match the text \"%s\"", value->text);
    if (!(k->re = pc__regex_compile(value, err))) return PC_EINVAL;
  }
  return 0;
}

static int parse_libraries(pc__match_t *m, const pc_cfg_node_t *list, pc_err_t *err) {
  m->libraries = pc_xcalloc(list->n_items, sizeof *m->libraries);
  for (size_t i = 0; i < list->n_items; i++) {
    m->n_libraries = i + 1;
    const pc_cfg_node_t *item = list->items[i];
    lib_match_t *l = &m->libraries[i];
    if (item->type != PC_CFG_MAP)
      return pc_cfg_error(err, item, PC_EINVAL, "must be a map: {name: N, version: V}");
    for (size_t e = 0; e < item->n_entries; e++)
      if (strcmp(item->entries[e].key, "name") && strcmp(item->entries[e].key, "version"))
        return pc_cfg_key_error(err, item->entries[e].value, PC_EINVAL,
                                "unknown key \"%s\": want name and version",
                                item->entries[e].key);
    const pc_cfg_node_t *name = pc_cfg_get(item, "name"), *version = pc_cfg_get(item, "version");
    if (!name || name->type != PC_CFG_SCALAR)
      return pc_cfg_error(err, item, PC_EINVAL, "needs a name");
    l->name_text = pc_xstrdup(name->text);
    l->name = view(l->name_text);
    if (m->regexp && !(l->name_re = pc__regex_compile(name, err))) return PC_EINVAL;
    /* version absent: any version; "" only the empty one (the Collector's rule). */
    if (!version || version->type == PC_CFG_NULL) continue;
    if (version->type == PC_CFG_MAP || version->type == PC_CFG_SEQ)
      return pc_cfg_error(err, version, PC_EINVAL, "must be a string");
    l->has_version = true;
    l->version_text = pc_xstrdup(version->text);
    l->version = view(l->version_text);
    if (m->regexp && l->version.n && !(l->version_re = pc__regex_compile(version, err)))
      return PC_EINVAL;
  }
  return 0;
}

static int parse(pc__match_t *m, const pc_cfg_node_t *node, pc_err_t *err) {
  match_cfg_t c = {0};
  if (!node || node->type != PC_CFG_MAP)
    return pc_cfg_error(err, node, PC_EINVAL, "must be a map with match_type and at least one "
                        "of services, resources, libraries and attributes");
  if (pc_cfg_apply(match_opts, node, &c, err)) return PC_EINVAL;
  for (size_t i = 0; i < 6; i++)
    if (c.other[i] && c.other[i]->type != PC_CFG_NULL)
      return pc_cfg_key_error(err, c.other[i], PC_EINVAL, "%s %s; profiles take services, "
                              "resources, libraries and attributes", other_names[i],
                              i < 2 ? "is for spans" : i < 5 ? "is for logs" : "is for metrics");
  const char *mt = c.match_type && c.match_type->type == PC_CFG_SCALAR ? c.match_type->text : NULL;
  if (!mt) return pc_cfg_error(err, c.match_type ? c.match_type : node, PC_EINVAL,
                               "needs match_type: strict or regexp");
  if (strcmp(mt, "strict") && strcmp(mt, "regexp"))
    return pc_cfg_error(err, c.match_type, PC_EINVAL, "match_type \"%s\": want strict or regexp", mt);
  m->regexp = mt[0] == 'r';
  if (c.regexp && c.regexp->type != PC_CFG_NULL && pc_cfg_apply(regexp_opts, c.regexp, &c, err))
    return PC_EINVAL;
  const pc_cfg_node_t *lists[] = {c.services, c.resources, c.libraries, c.attributes};
  for (size_t i = 0; i < 4; i++)
    if (lists[i] && lists[i]->type != PC_CFG_NULL && lists[i]->type != PC_CFG_SEQ)
      return pc_cfg_error(err, lists[i], PC_EINVAL, "must be a list");
  if (!is_list(c.services) && !is_list(c.resources) && !is_list(c.libraries) &&
      !is_list(c.attributes))
    return pc_cfg_error(err, node, PC_EINVAL, "needs at least one of services, resources, "
                        "libraries and attributes (a non-empty list)");
  if (is_list(c.services)) {
    size_t n = c.services->n_items;
    m->services = pc_xcalloc(n, sizeof *m->services);
    m->service_texts = pc_xcalloc(n, sizeof *m->service_texts);
    m->service_re = pc_xcalloc(n, sizeof *m->service_re);
    for (size_t i = 0; i < n; i++) {
      m->n_services = i + 1;
      const pc_cfg_node_t *s = c.services->items[i];
      if (s->type != PC_CFG_SCALAR) return pc_cfg_error(err, s, PC_EINVAL, "must be a string");
      m->service_texts[i] = pc_xstrdup(s->text);
      m->services[i] = view(m->service_texts[i]);
      if (m->regexp && !(m->service_re[i] = pc__regex_compile(s, err))) return PC_EINVAL;
    }
  }
  if (is_list(c.resources) && parse_kvs(m, c.resources, &m->resources, &m->n_resources, err))
    return PC_EINVAL;
  if (is_list(c.attributes) && parse_kvs(m, c.attributes, &m->attributes, &m->n_attributes, err))
    return PC_EINVAL;
  if (is_list(c.libraries) && parse_libraries(m, c.libraries, err)) return PC_EINVAL;
  return 0;
}

pc__match_t *pc__match_parse(const pc_cfg_node_t *node, pc_err_t *err) {
  pc__match_t *m = pc_xcalloc(1, sizeof *m);
  if (parse(m, node, err)) {
    pc__match_free(m);
    return NULL;
  }
  return m;
}

static void free_kvs(kv_match_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].key);
    free(v[i].text);
    pc__regex_free(v[i].re);
  }
  free(v);
}

void pc__match_free(pc__match_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_services; i++) {
    free(m->service_texts[i]);
    pc__regex_free(m->service_re[i]);
  }
  free(m->services);
  free(m->service_texts);
  free(m->service_re);
  free_kvs(m->resources, m->n_resources);
  free_kvs(m->attributes, m->n_attributes);
  for (size_t i = 0; i < m->n_libraries; i++) {
    free(m->libraries[i].name_text);
    free(m->libraries[i].version_text);
    pc__regex_free(m->libraries[i].name_re);
    pc__regex_free(m->libraries[i].version_re);
  }
  free(m->libraries);
  free(m);
}

/* ---- matching ------------------------------------------------------------------------------- */

static bool value_eq(const pc_anyvalue_t *a, const pc_anyvalue_t *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case PC_AV_STRING: return pc_str_eq(a->u.s, b->u.s);
  case PC_AV_BOOL: return a->u.b == b->u.b;
  case PC_AV_INT: return a->u.i == b->u.i;
  case PC_AV_DOUBLE: return a->u.d == b->u.d;
  default: return false; /* config values are scalars */
  }
}

static bool strings_match(pc__match_t *m, pc_str_t s, pc_str_t want, pc__regex_t *re) {
  return m->regexp ? pc__regex_match(re, s) : pc_str_eq(s, want);
}

/* One {key, value} against a present value (NULL: the key is absent). */
static bool kv_matches(pc__match_t *m, kv_match_t *k, const pc_anyvalue_t *v) {
  if (!v) return false;
  if (!k->has_value) return true;
  if (!m->regexp) return value_eq(&k->value, v);
  /* The filter's text of a value: doubles in fixed notation, as its
   * strconv.FormatFloat(f, 'f', -1, 64), unlike AsString. */
  char buf[400];
  pc_str_t text;
  if (v->type == PC_AV_DOUBLE)
    text = (pc_str_t){(const uint8_t *)buf, pc__double_text(v->u.d, true, buf, sizeof buf)};
  else if (!pc__value_text(v, buf, &text))
    return false;
  return pc__regex_match(k->re, text);
}

static const pc_keyvalue_t *resource_attr(const pc_request_t *req, const pc_resource_t *r,
                                          pc_str_t key) {
  for (uint32_t i = 0; r && i < r->attributes.n; i++)
    if (pc_str_eq(pc__kv_key(req, &r->attributes.v[i]), key)) return &r->attributes.v[i];
  return NULL;
}

bool pc__match_scope(pc__match_t *m, const pc_request_t *req, const pc_resource_t *res,
                     const pc_scope_t *scope) {
  const pc_dictionary_t *d = req->has_dictionary ? &req->dict : NULL;
  if (m->n_services) {
    const pc_keyvalue_t *kv = resource_attr(req, res, PC_STR_LIT("service.name"));
    pc_anyvalue_t v = kv && kv->has_value ? pc__value_resolved(d, kv->value) : (pc_anyvalue_t){0};
    char buf[40];
    pc_str_t name = PC_STR_LIT("<nil-service-name>");
    if (kv && !pc__value_text(&v, buf, &name)) name = (pc_str_t){0};
    bool any = false;
    for (size_t i = 0; !any && i < m->n_services; i++)
      any = strings_match(m, name, m->services[i], m->service_re[i]);
    if (!any) return false;
  }
  for (size_t i = 0; i < m->n_libraries; i++) {
    lib_match_t *l = &m->libraries[i];
    pc_str_t name = scope ? scope->name : (pc_str_t){0};
    pc_str_t version = scope ? scope->version : (pc_str_t){0};
    if (!strings_match(m, name, l->name, l->name_re)) return false;
    if (l->has_version && !(m->regexp && l->version.n ? pc__regex_match(l->version_re, version)
                                                      : pc_str_eq(version, l->version)))
      return false;
  }
  if (m->n_resources && (!res || res->attributes.n == 0)) return false;
  for (size_t i = 0; i < m->n_resources; i++) {
    const pc_keyvalue_t *kv = resource_attr(req, res, m->resources[i].k);
    pc_anyvalue_t v = kv && kv->has_value ? pc__value_resolved(d, kv->value) : (pc_anyvalue_t){0};
    if (!kv_matches(m, &m->resources[i], kv ? &v : NULL)) return false;
  }
  return true;
}

bool pc__match_has_attrs(const pc__match_t *m) { return m->n_attributes > 0; }

bool pc__match_attrs(pc__match_t *m, const pc__amap_t *attrs) {
  if (!m->n_attributes) return true;
  if (attrs->n == 0) return false;
  for (size_t i = 0; i < m->n_attributes; i++) {
    const pc__am_entry_t *e = pc__amap_find(attrs, m->attributes[i].k);
    if (!kv_matches(m, &m->attributes[i], e ? &e->value : NULL)) return false;
  }
  return true;
}
