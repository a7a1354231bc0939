/* host.c - the host a service hands its components (host.h): a list of the
 * config's extensions, looked up by id, asked for a role. Also the header
 * list the client-headers role edits. */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "component.h"

/* The roles' names for messages, with the extensions that offer them. */
static const struct {
  pc_role_t role;
  const char *name;
} role_names[] = {
    {PC_ROLE_SERVER_AUTH, "a server authenticator (bearertokenauth)"},
    {PC_ROLE_CLIENT_AUTH, "a client authenticator (headers_setter or bearertokenauth)"},
    {PC_ROLE_STORAGE, "a storage (file_storage)"},
    {PC_ROLE_SPAN_STORE, "a span store (span_store)"},
};

const char *pc_role_name(pc_role_t role) {
  for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
    if (role_names[i].role == role) return role_names[i].name;
  return "an extension of an unknown role";
}

/* ---- headers ---------------------------------------------------------------------- */

void pc_headers_add(pc_headers_t *h, const char *name, size_t name_n, const char *value,
                    size_t value_n) {
  if (h->n == h->cap) {
    h->cap = h->cap ? 2 * h->cap : 8;
    h->v = pc_xrealloc(h->v, h->cap * sizeof *h->v);
  }
  char *line = pc_xmalloc(name_n + 2 + value_n + 1);
  if (name_n) memcpy(line, name, name_n);
  memcpy(line + name_n, ": ", 2);
  if (value_n) memcpy(line + name_n + 2, value, value_n);
  line[name_n + 2 + value_n] = 0;
  h->v[h->n++] = line;
}

size_t pc_headers_find(const pc_headers_t *h, const char *name) {
  size_t kn = strlen(name);
  for (size_t i = 0; i < h->n; i++)
    if (strncasecmp(h->v[i], name, kn) == 0 && h->v[i][kn] == ':') return i;
  return h->n;
}

void pc_headers_remove(pc_headers_t *h, size_t i) {
  free(h->v[i]);
  memmove(h->v + i, h->v + i + 1, (h->n - i - 1) * sizeof *h->v);
  h->n--;
}

void pc_headers_free(pc_headers_t *h) {
  for (size_t i = 0; i < h->n; i++) free(h->v[i]);
  free(h->v);
  *h = (pc_headers_t){0};
}

/* ---- references --------------------------------------------------------------------- */

void pc_ref_init(pc_ref_t *r, const char *id, const pc_cfg_node_t *node) {
  *r = (pc_ref_t){0};
  if (!id || !id[0]) return;
  snprintf(r->id, sizeof r->id, "%s", id);
  if (!node) return;
  pc_err_t e = {0};
  pc_cfg_error_for_later(&e, node, PC_EINVAL, "%s", ""); /* "file:line:col: path: " */
  size_t n = strlen(e.msg);
  while (n && (e.msg[n - 1] == ' ' || e.msg[n - 1] == ':')) n--;
  snprintf(r->place, sizeof r->place, "%.*s", (int)n, e.msg);
}

/* ---- the host ------------------------------------------------------------------------- */

typedef struct {
  const char *id;
  const pc_component_t *comp;
  void *inst;
  bool failed; /* pc_host_add_failed */
} ext_t;

struct pc_host {
  ext_t *v;
  size_t n;
  bool own_ids; /* a copy: the ids are its own */
};

pc_host_t *pc_host_new(void) { return pc_xcalloc(1, sizeof(pc_host_t)); }

pc_host_t *pc_host_copy(const pc_host_t *h) {
  pc_host_t *c = pc_host_new();
  c->own_ids = true;
  for (size_t i = 0; h && i < h->n; i++) {
    pc_host_add(c, pc_xstrdup(h->v[i].id), h->v[i].comp, h->v[i].inst);
    c->v[c->n - 1].failed = h->v[i].failed;
  }
  return c;
}

void pc_host_free(pc_host_t *h) {
  if (!h) return;
  for (size_t i = 0; h->own_ids && i < h->n; i++) free((void *)h->v[i].id);
  free(h->v);
  free(h);
}

void pc_host_add(pc_host_t *h, const char *id, const pc_component_t *comp, void *inst) {
  h->v = pc_xrealloc(h->v, (h->n + 1) * sizeof *h->v);
  h->v[h->n++] = (ext_t){id, comp, inst, false};
}

void pc_host_add_failed(pc_host_t *h, const char *id, const struct pc_component *comp) {
  pc_host_add(h, id, comp, NULL);
  h->v[h->n - 1].failed = true;
}

__attribute__((format(printf, 4, 5))) static const void *fail(const pc_ref_t *r, pc_err_t *err,
                                                              int code, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_err_set(err, code, "%s%s%s", r->place, r->place[0] ? ": " : "", msg);
  return NULL;
}

const void *pc_host_find(const pc_host_t *h, const pc_ref_t *r, pc_role_t role, pc_err_t *err) {
  const ext_t *e = NULL;
  for (size_t i = 0; h && i < h->n && !e; i++)
    if (strcmp(h->v[i].id, r->id) == 0) e = &h->v[i];
  if (!e)
    return fail(r, err, PC_EINVAL, "\"%s\" is not defined in extensions and listed in "
                "service.extensions", r->id);
  if (e->failed) { /* its own error says what is wrong: "not listed" would mislead */
    pc_err_set(err, PC_EREPORTED, "%s", "");
    return NULL;
  }
  if (!e->inst)
    return fail(r, err, PC_EINVAL, "\"%s\" is defined in extensions but not listed in "
                "service.extensions, so it does not run", r->id);
  const void *iface = e->comp->role ? e->comp->role(e->inst, role) : NULL;
  if (!iface)
    return fail(r, err, PC_EINVAL, "\"%s\" is a %s extension, which is not %s", r->id,
                e->comp->type, pc_role_name(role));
  return iface;
}
