/* headers_setter.c - the `headers_setter` extension: outgoing headers set per
 * request from the batch's client metadata, as the Collector's contrib
 * extension of that name (exporters name it in auth.authenticator).
 *
 * The use: a multi-tenant gateway receives with include_metadata, batches
 * by metadata_keys [x-scope-orgid] and sends each batch with
 * "X-Scope-OrgID: <the tenant>" (Grafana Pyroscope, Mimir, Loki, Tempo).
 *
 * Exporters find an instance through the host, in the client headers role
 * (it reads client metadata, so exporters keep a batch's metadata with it).
 * Rules are applied when a batch is sent (and checked when it is queued),
 * to the exporter's own `headers`: insert adds a header only when it is not there,
 * update replaces it only when it is, upsert does either, delete removes
 * it. Names compare in any case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extension.h"

typedef enum { HS_UPSERT, HS_INSERT, HS_UPDATE, HS_DELETE } hs_action_t;

typedef struct {
  char *key, *value, *from_context, *default_value, *action;
} rule_cfg_t;

static const pc_opt_t rule_opts[] = {
    PC_OPT_STR("key", NULL, rule_cfg_t, key, "header name (required)"),
    PC_OPT_STR("value", NULL, rule_cfg_t, value, "a fixed value"),
    PC_OPT_STR("from_context", NULL, rule_cfg_t, from_context,
               "the value of this client metadata key (the batch processor's metadata_keys "
               "must keep it)"),
    PC_OPT_STR("default_value", NULL, rule_cfg_t, default_value,
               "with from_context: the value when the key is missing (else no header)"),
    PC_OPT_STR("action", "upsert", rule_cfg_t, action, "insert, update, upsert or delete"),
    PC_OPT_TABLE_END,
};

typedef struct {
  const pc_cfg_node_t *headers;
} hs_cfg_t;

static const pc_opt_t hs_opts[] = {
    PC_OPT_ANY("headers", hs_cfg_t, headers,
               "list of {key, value | from_context, default_value, action}: headers set on "
               "each request of the exporters whose auth.authenticator names this"),
    PC_OPT_TABLE_END,
};

typedef struct {
  char *key;
  char *value;         /* fixed, or NULL */
  char *from_context;  /* metadata key, or NULL */
  char *default_value; /* NULL: none */
  hs_action_t action;
} rule_t;

typedef struct {
  pc_client_auth_t client; /* the role it offers */
  rule_t *rules;
  size_t n_rules;
} hs_t;

/* The value a rule sets: false when it sets none (from_context missing, no
 * default), with PC_EINVAL in *rc when the key has several values or one
 * that cannot be a header value. */
static bool rule_value(const rule_t *r, const pc_metadata_t *md, pc_str_t *out, int *rc,
                       pc_err_t *err) {
  *rc = 0;
  if (r->value) {
    *out = (pc_str_t){(const uint8_t *)r->value, strlen(r->value)};
    return true;
  }
  pc_str_t key = {(const uint8_t *)r->from_context, strlen(r->from_context)}, second;
  if (pc_md_get(md, key, 1, &second)) {
    *rc = pc_err_set(err, PC_EINVAL, "headers_setter: the batch's client metadata has several "
                     "values of \"%s\" and header %s can take only one", r->from_context,
                     r->key);
    return false;
  }
  if (pc_md_get(md, key, 0, out)) {
    /* Client bytes: a line break would smuggle a header of its own in. */
    for (size_t i = 0; i < out->n; i++)
      if (out->p[i] == '\r' || out->p[i] == '\n' || out->p[i] == 0) {
        *rc = pc_err_set(err, PC_EINVAL, "headers_setter: the client metadata \"%s\" holds a "
                         "line break or NUL, which header %s cannot carry", r->from_context,
                         r->key);
        return false;
      }
    return true;
  }
  if (!r->default_value) return false;
  *out = (pc_str_t){(const uint8_t *)r->default_value, strlen(r->default_value)};
  return true;
}

static int hs_apply(const pc_client_auth_t *self, const pc_metadata_t *md, pc_headers_t *h,
                    pc_err_t *err) {
  const hs_t *hs = container_of(self, hs_t, client);
  for (size_t i = 0; i < hs->n_rules; i++) {
    const rule_t *r = &hs->rules[i];
    size_t at = pc_headers_find(h, r->key);
    bool present = at < h->n;
    if (r->action == HS_DELETE) {
      if (present) pc_headers_remove(h, at);
      continue;
    }
    pc_str_t v;
    int rc;
    if (!rule_value(r, md, &v, &rc, err)) {
      if (rc) return rc;
      continue;
    }
    if ((r->action == HS_INSERT && present) || (r->action == HS_UPDATE && !present)) continue;
    if (present) pc_headers_remove(h, at);
    pc_headers_add(h, r->key, strlen(r->key), (const char *)v.p, v.n);
  }
  return 0;
}

/* ---- config ------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? pc_xstrdup(s) : NULL; }

/* A header name curl would send as written: a token, nothing that breaks
 * the "Name: value" line. */
static bool is_token(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s <= ' ' || *s >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *s)) return false;
  return true;
}

static bool has_line_break(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

static int parse_rule(const pc_cfg_node_t *n, rule_t *r, pc_err_t *err) {
  if (n->type != PC_CFG_MAP)
    return pc_cfg_error(err, n, PC_EINVAL, "must be a map: {key: X-Scope-OrgID, "
                        "from_context: x-scope-orgid}");
  rule_cfg_t c = {0};
  if (pc_cfg_apply(rule_opts, n, &c, err)) return PC_EINVAL;
  static const char *const actions[] = {"upsert", "insert", "update", "delete"};
  size_t a = 0;
  while (a < 4 && strcmp(c.action, actions[a]) != 0) a++;
  if (a == 4)
    return pc_cfg_error(err, pc_cfg_get(n, "action"), PC_EINVAL, "unknown action \"%s\": "
                        "insert, update, upsert or delete", c.action);
  if (!c.key)
    return pc_cfg_error(err, n, PC_EINVAL, "needs a key (the header name)");
  if (!is_token(c.key))
    return pc_cfg_error(err, pc_cfg_get(n, "key"), PC_EINVAL, "\"%s\" is not a header name",
                        c.key);
  bool del = a == HS_DELETE;
  if (!del && !c.value == !c.from_context)
    return pc_cfg_error(err, c.value ? pc_cfg_get(n, "from_context") : n, PC_EINVAL,
                        "needs exactly one of value and from_context");
  if (del && (c.value || c.from_context || c.default_value))
    return pc_cfg_error(err, n, PC_EINVAL, "action delete takes no value, from_context or "
                        "default_value");
  if (c.default_value && !c.from_context)
    return pc_cfg_error(err, pc_cfg_get(n, "default_value"), PC_EINVAL,
                        "default_value needs from_context");
  if (has_line_break(c.value) || has_line_break(c.default_value))
    return pc_cfg_error(err, pc_cfg_get(n, has_line_break(c.value) ? "value" : "default_value"),
                        PC_EINVAL, "a header value cannot hold a line break");
  *r = (rule_t){.key = dup_or_null(c.key), .value = dup_or_null(c.value),
                .from_context = dup_or_null(c.from_context),
                .default_value = dup_or_null(c.default_value), .action = (hs_action_t)a};
  return 0;
}

static void rules_free(rule_t *rules, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(rules[i].key);
    free(rules[i].value);
    free(rules[i].from_context);
    free(rules[i].default_value);
  }
  free(rules);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void *hs_create(const pc_create_args_t *args, pc_err_t *err) {
  hs_cfg_t cfg = {0};
  if (pc_cfg_apply(hs_opts, args->cfg, &cfg, err)) return NULL;
  const pc_cfg_node_t *h = cfg.headers;
  if (!h || h->type != PC_CFG_SEQ || h->n_items == 0) {
    pc_cfg_error(err, h ? h : args->cfg, PC_EINVAL, "headers_setter needs headers: a list "
                 "like [{key: X-Scope-OrgID, from_context: x-scope-orgid}]");
    return NULL;
  }
  rule_t *rules = pc_xcalloc(h->n_items, sizeof *rules);
  for (size_t i = 0; i < h->n_items; i++)
    if (parse_rule(h->items[i], &rules[i], err)) {
      rules_free(rules, i);
      return NULL;
    }
  hs_t *s = pc_xcalloc(1, sizeof *s);
  s->client = (pc_client_auth_t){.uses_metadata = true, .apply = hs_apply};
  s->rules = rules;
  s->n_rules = h->n_items;
  return s;
}

static int hs_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

static void hs_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static const void *hs_role(void *self, pc_role_t role) {
  return role == PC_ROLE_CLIENT_AUTH ? &((hs_t *)self)->client : NULL;
}

static void hs_destroy(void *self) {
  hs_t *s = self;
  rules_free(s->rules, s->n_rules);
  free(s);
}

const pc_component_t pc_extension_headers_setter = {
    .type = "headers_setter",
    .kind = PC_EXTENSION,
    .stability = "alpha",
    .options = hs_opts,
    .create = hs_create,
    .start = hs_start,
    .shutdown = hs_shutdown,
    .destroy = hs_destroy,
    .role = hs_role,
};
