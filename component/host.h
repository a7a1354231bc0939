/* host.h - what a component asks of the service it runs in: the extensions
 * its config names, by id and role (the Collector's component.Host).
 *
 * A role is a contract an extension may offer: a server authenticator that
 * receivers check requests with, client headers that exporters add to what
 * they send, a storage that persistent queues live in. An extension offers
 * a role through its component's `role` hook, which returns the role's
 * interface (one of the structs below) or NULL. Roles are an open set: a new
 * one is a new constant, its interface struct and a row in host.c's name
 * table; neither the host nor the service changes.
 *
 * When: the service creates extensions first, then every other component,
 * and then calls each component's `resolve` hook with the host, in `profcol
 * validate` as in a run, so that a name that is not there, not started or
 * of the wrong kind is a config error with the file:line:col of the key
 * that names it, before anything starts. What resolve gets stays valid until
 * the component is destroyed: extensions are destroyed last.
 *
 * Threads: the host is read-only once built; the interfaces are read-only
 * after their extension's create, and callable from any thread. */
#ifndef PC_HOST_H
#define PC_HOST_H

#include <stdbool.h>

#include "../config/config.h"
#include "../core/core.h"

typedef enum {
  PC_ROLE_SERVER_AUTH = 1, /* pc_server_auth_t */
  PC_ROLE_CLIENT_AUTH,     /* pc_client_auth_t */
  PC_ROLE_STORAGE,         /* pc_storage_t */
  /* next: the span store of trace linking */
} pc_role_t;

/* "a server authenticator (bearertokenauth)", ..., for messages. */
const char *pc_role_name(pc_role_t role);

/* ---- the roles' interfaces ---------------------------------------------------- */

/* Checks a request's credentials (receivers: 401 / UNAUTHENTICATED without). */
typedef struct pc_server_auth {
  const char *header; /* the header that carries them ("Authorization"), at most 32 bytes */
  const char *scheme; /* what a 401's WWW-Authenticate names ("Bearer"; "" for none) */
  /* Whether a received header value passes (constant time in the secrets). */
  bool (*check)(const struct pc_server_auth *self, pc_str_t value);
} pc_server_auth_t;

/* "Name: value" header lines, each malloc'd, as libcurl takes them. */
typedef struct {
  char **v;
  size_t n, cap;
} pc_headers_t;

void pc_headers_add(pc_headers_t *h, const char *name, size_t name_n, const char *value,
                    size_t value_n);
/* Index of the line named name (any case), or h->n. */
size_t pc_headers_find(const pc_headers_t *h, const char *name);
void pc_headers_remove(pc_headers_t *h, size_t i);
void pc_headers_free(pc_headers_t *h);

/* Sets headers on what an exporter sends. */
typedef struct pc_client_auth {
  /* apply reads the batch's client metadata: the exporter then keeps it with
   * each batch (in the persistent queue too) and applies per try. When
   * false, apply is called once at start with md NULL. */
  bool uses_metadata;
  /* Edit h (the exporter's own headers) for a batch with client metadata md
   * (may be NULL). PC_EINVAL with err filled when md cannot make them. */
  int (*apply)(const struct pc_client_auth *self, const pc_metadata_t *md, pc_headers_t *h,
               pc_err_t *err);
} pc_client_auth_t;

/* Where persistent queues live. */
typedef struct pc_storage {
  const char *directory; /* exists and is writable once the extension started */
  bool fsync;            /* fdatasync each record before it is acknowledged */
} pc_storage_t;

/* ---- references and the host ---------------------------------------------------- */

/* One component's config naming an extension: its id and the place of the
 * key, "file:line:col: key.path", kept from create (while the config tree
 * exists) for resolve's messages. */
typedef struct {
  char id[128];
  char place[256];
} pc_ref_t;

/* Fill r from the key node that names id (node may be NULL: no place). */
void pc_ref_init(pc_ref_t *r, const char *id, const pc_cfg_node_t *node);
/* Whether r names anything. */
static inline bool pc_ref_set(const pc_ref_t *r) { return r->id[0] != 0; }

typedef struct pc_host pc_host_t;
struct pc_component;

pc_host_t *pc_host_new(void);
void pc_host_free(pc_host_t *h);
/* An extension defined in the config: inst is its instance, or NULL when it
 * was not created (not listed in service.extensions). comp and id must
 * outlive the host. */
void pc_host_add(pc_host_t *h, const char *id, const struct pc_component *comp, void *inst);
/* The interface the extension r names offers for role. NULL with err set
 * (PC_EINVAL, "<place>: ...") when no extension has that id, when it is not
 * listed in service.extensions, or when it does not offer the role. */
const void *pc_host_find(const pc_host_t *h, const pc_ref_t *r, pc_role_t role, pc_err_t *err);

#endif
