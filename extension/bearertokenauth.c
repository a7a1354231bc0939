/* bearertokenauth.c - the `bearertokenauth` extension: a shared secret in a
 * request header, as the Collector's contrib extension of that name.
 *
 * Receivers name it in protocols.http.auth.authenticator (and grpc's) and
 * refuse requests without "<scheme> <token>" in its header: HTTP 401, gRPC
 * UNAUTHENTICATED. Exporters name it in auth.authenticator and send that
 * header with every request. One instance serves both sides, so a chain of
 * profcols (agent sidecar -> gateway) shares one config block.
 *
 * Components find an instance through the host in two roles: server
 * authenticator (receivers) and client headers (exporters). The token comes
 * from `token`, `tokens` (the receiving side takes any of them; a client
 * sends the first) or `filename`, read once at create (a reload reads it
 * again). Tokens are compared in constant time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../httpd/httpd.h"
#include "extension.h"

#define MAX_TOKEN_FILE (64 * 1024)

typedef struct {
  char *scheme;
  char *token;
  const pc_cfg_node_t *tokens;
  char *filename;
  char *header;
} bt_cfg_t;

static const pc_opt_t bt_opts[] = {
    PC_OPT_STR("scheme", "Bearer", bt_cfg_t, scheme,
               "word before the token in the header (\"\": the token alone)"),
    PC_OPT_STR("token", NULL, bt_cfg_t, token, "the secret (or tokens, or filename)"),
    PC_OPT_ANY("tokens", bt_cfg_t, tokens,
               "list of secrets a receiver takes; an exporter sends the first"),
    PC_OPT_STR("filename", NULL, bt_cfg_t, filename,
               "file holding the secret (read at start and at a reload)"),
    PC_OPT_STR("header", "Authorization", bt_cfg_t, header, "the header that carries it"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc_server_auth_t server; /* the roles it offers */
  pc_client_auth_t client;
  char *header;
  char *scheme;  /* "Bearer"; "" for none */
  char **values; /* "<scheme> <token>" for each token */
  size_t n_values;
  char log_id[160]; /* "extension:bearertokenauth/name" */
} bearer_t;

/* Equal bytes, in a time that depends on the lengths only. */
static bool same_secret(const char *want, pc_str_t got) {
  size_t n = strlen(want);
  unsigned diff = n != got.n;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)want[i] ^ (i < got.n ? got.p[i] : 0);
  return diff == 0;
}

static bool bt_check(const pc_server_auth_t *self, pc_str_t value) {
  const bearer_t *b = container_of(self, bearer_t, server);
  bool ok = false;
  for (size_t i = 0; i < b->n_values; i++) ok |= same_secret(b->values[i], value);
  return ok;
}

/* An exporter's own header of the same name is replaced where it stands:
 * the authenticator has the last word, as in the Collector. */
static int bt_apply(const pc_client_auth_t *self, const pc_metadata_t *md, pc_headers_t *h,
                    pc_err_t *err) {
  (void)md;
  (void)err;
  const bearer_t *b = container_of(self, bearer_t, client);
  size_t at = pc_headers_find(h, b->header), n = h->n;
  pc_headers_add(h, b->header, strlen(b->header), b->values[0], strlen(b->values[0]));
  if (at < n) { /* the new line takes the old one's place */
    free(h->v[at]);
    h->v[at] = h->v[n];
    h->n--;
  }
  return 0;
}

static const void *bt_role(void *self, pc_role_t role) {
  bearer_t *b = self;
  return role == PC_ROLE_SERVER_AUTH ? (const void *)&b->server
         : role == PC_ROLE_CLIENT_AUTH ? (const void *)&b->client : NULL;
}

/* ---- create ------------------------------------------------------------------- */

static void bt_free(bearer_t *b) {
  for (size_t i = 0; i < b->n_values; i++) free(b->values[i]);
  free(b->values);
  free(b->header);
  free(b->scheme);
  free(b);
}

/* Add "<scheme> <token>"; a token must be one line of visible text. */
static int add_token(bearer_t *b, const char *scheme, const char *token,
                     const pc_cfg_node_t *at, pc_err_t *err) {
  if (!token[0]) return pc_cfg_error(err, at, PC_EINVAL, "the token is empty");
  for (const char *p = token; *p; p++)
    if ((unsigned char)*p < 0x21 || *p == 0x7f)
      return pc_cfg_error(err, at, PC_EINVAL, "a token cannot hold spaces, line breaks or "
                          "control characters");
  size_t n = strlen(scheme) + 1 + strlen(token) + 1;
  b->values = pc_xrealloc(b->values, (b->n_values + 1) * sizeof *b->values);
  char *v = b->values[b->n_values++] = pc_xmalloc(n);
  snprintf(v, n, "%s%s%s", scheme, scheme[0] ? " " : "", token);
  return 0;
}

/* The token in filename: its text up to the end of the first line. */
static int read_token_file(bearer_t *b, const char *scheme, const char *path,
                           const pc_cfg_node_t *at, pc_err_t *err) {
  FILE *f = fopen(path, "r");
  if (!f) return pc_cfg_error(err, at, PC_EINVAL, "cannot read %s: %s", path, strerror(errno));
  pc_warn_unsafe_file(fileno(f), path, "token file", b->log_id);
  char *text = pc_xmalloc(MAX_TOKEN_FILE + 1);
  size_t n = fread(text, 1, MAX_TOKEN_FILE, f);
  fclose(f);
  text[n] = 0;
  text[strcspn(text, "\r\n")] = 0;
  int rc = add_token(b, scheme, text, at, err);
  if (rc && text[0]) snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
                              " (in %s)", path);
  free(text);
  return rc;
}

static int read_tokens(bearer_t *b, const bt_cfg_t *c, const pc_cfg_node_t *cfg,
                       pc_err_t *err) {
  int given = !!c->token + !!c->filename + !!(c->tokens && c->tokens->type != PC_CFG_NULL);
  if (given != 1)
    return pc_cfg_error(err, cfg, PC_EINVAL, "set exactly one of token, tokens and filename");
  if (c->token) return add_token(b, c->scheme, c->token, pc_cfg_get(cfg, "token"), err);
  if (c->filename)
    return read_token_file(b, c->scheme, c->filename, pc_cfg_get(cfg, "filename"), err);
  if (c->tokens->type != PC_CFG_SEQ || c->tokens->n_items == 0)
    return pc_cfg_error(err, c->tokens, PC_EINVAL, "must be a list of one or more tokens");
  for (size_t i = 0; i < c->tokens->n_items; i++) {
    const pc_cfg_node_t *it = c->tokens->items[i];
    if (it->type != PC_CFG_SCALAR) return pc_cfg_error(err, it, PC_EINVAL, "must be text");
    int rc = add_token(b, c->scheme, it->text, it, err);
    if (rc) return rc;
  }
  return 0;
}

static void *bt_create(const pc_create_args_t *args, pc_err_t *err) {
  bt_cfg_t c = {0};
  if (pc_cfg_apply(bt_opts, args->cfg, &c, err)) return NULL;
  if (!c.header[0] || strlen(c.header) > 32 || !pc_http_is_token(c.header, strlen(c.header))) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "header"), PC_EINVAL,
                 "\"%s\" is not a header name of at most 32 characters", c.header);
    return NULL;
  }
  if (!pc_http_is_token(c.scheme, strlen(c.scheme))) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "scheme"), PC_EINVAL,
                 "the scheme must be one word, like Bearer");
    return NULL;
  }
  bearer_t *b = pc_xcalloc(1, sizeof *b);
  snprintf(b->log_id, sizeof b->log_id, "extension:%s", args->id);
  b->header = pc_xstrdup(c.header);
  b->scheme = pc_xstrdup(c.scheme);
  if (read_tokens(b, &c, args->cfg, err)) {
    bt_free(b);
    return NULL;
  }
  b->server = (pc_server_auth_t){.header = b->header, .scheme = b->scheme, .check = bt_check};
  b->client = (pc_client_auth_t){.apply = bt_apply};
  return b;
}

static int bt_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

static void bt_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void bt_destroy(void *self) {
  bearer_t *b = self;
  if (!b) return;
  bt_free(b);
}

const pc_component_t pc_extension_bearertokenauth = {
    .type = "bearertokenauth",
    .kind = PC_EXTENSION,
    .stability = "alpha",
    .options = bt_opts,
    .create = bt_create,
    .start = bt_start,
    .shutdown = bt_shutdown,
    .destroy = bt_destroy,
    .role = bt_role,
};
