/* k8s_api.c - where the Kubernetes API server is and how to authenticate
 * to it (k8s.h), as the Collector's k8sconfig reads its `auth_type`:
 *
 *   serviceAccount  in a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
 *                   the token and CA the kubelet mounts in
 *                   /var/run/secrets/kubernetes.io/serviceaccount (client-go's
 *                   InClusterConfig). The token is a bound service account
 *                   token the kubelet replaces before it expires (an hour
 *                   by default), so the file is read again every minute, as
 *                   client-go does, instead of once.
 *   kubeConfig      a kubeconfig file (kube_config_path, else the first file
 *                   of $KUBECONFIG, else ~/.kube/config) and a context (context,
 *                   else its current-context): the cluster's server, CA
 *                   (file or -data), insecure-skip-tls-verify and proxy-url;
 *                   the user's token, tokenFile or client certificate (file
 *                   or -data). exec and auth-provider plugins (the cloud
 *                   CLIs: aws, gcloud) run programs and are not supported:
 *                   a service account token in the kubeconfig does the same.
 *   none            the same address as serviceAccount, no credentials, the
 *                   server's certificate not checked (the Collector's
 *                   Insecure: true): for a proxy that adds them.
 *
 * The kubeconfig is read with profcol's own YAML loader (config/), so its
 * errors carry file:line:col too; like a profcol config, ${VAR} in it is
 * substituted and anchors are refused (kubeconfigs written by kubectl and
 * the cloud CLIs use neither). Proxies: none for in-cluster access (the
 * Collector turns HTTP_PROXY off for the API too), a kubeconfig's
 * proxy-url when it has one. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "k8s.h"

static char *xstrdup_or_null(const char *s) { return s ? pc_xstrdup(s) : NULL; }

int pc__k8s_api_parse(const pc__k8s_api_cfg_t *cfg, const pc_cfg_node_t *section,
                      pc__k8s_auth_t *out, pc_err_t *err) {
  static const char *const names[] = {"serviceAccount", "kubeConfig", "none"};
  const pc_cfg_node_t *at = pc_cfg_get(section, "auth_type");
  const char *t = cfg->auth_type ? cfg->auth_type : "serviceAccount";
  size_t k = 0;
  while (k < 3 && strcmp(t, names[k])) k++;
  if (k == 3) {
    if (!strcmp(t, "tls"))
      return pc_cfg_error(err, at, PC_EINVAL, "auth_type \"tls\" is not provided: give the "
                          "client certificate in a kubeconfig (auth_type: kubeConfig)");
    const char *hint = pc_cfg_did_you_mean(t, names, 3);
    return pc_cfg_error(err, at, PC_EINVAL, "auth_type \"%s\": want serviceAccount, kubeConfig "
                        "or none%s%s%s", t, hint ? "; did you mean \"" : "", hint ? hint : "",
                        hint ? "\"?" : "");
  }
  *out = (pc__k8s_auth_t)k;
  if (k != PC__K8S_AUTH_KUBECONFIG) {
    const char *key = cfg->context ? "context" : cfg->kube_config_path ? "kube_config_path" : NULL;
    if (key)
      return pc_cfg_error(err, pc_cfg_get(section, key), PC_EINVAL,
                          "%s is read only with auth_type: kubeConfig (auth_type is %s)", key, t);
  }
  return 0;
}

void pc__k8s_api_free(pc__k8s_api_t *a) {
  free(a->server);
  free(a->token);
  free(a->token_file);
  free(a->ca_file);
  free(a->cert_file);
  free(a->key_file);
  free(a->proxy);
  free(a->file_token);
  pc_buf_free(&a->ca_pem);
  pc_buf_free(&a->cert_pem);
  pc_buf_free(&a->key_pem);
  *a = (pc__k8s_api_t){0};
}

static int fail(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return code;
}

/* The first line of a token file, trimmed; NULL with why. Tokens are a few
 * KiB (a JWT); a file over 64 KiB is not one. */
static char *read_token(const char *path, char *why, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fail(why, cap, PC_EIO, "cannot read the token %s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = pc_xmalloc(65536);
  size_t n = fread(buf, 1, 65535, f);
  bool more = !feof(f);
  fclose(f);
  buf[n] = 0;
  char *nl = strpbrk(buf, "\r\n");
  if (nl) *nl = 0;
  size_t len = strlen(buf);
  while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t')) buf[--len] = 0;
  if (more && !nl) {
    free(buf);
    fail(why, cap, PC_EIO, "the token %s is over 64 KiB: not a token", path);
    return NULL;
  }
  if (!len) {
    free(buf);
    fail(why, cap, PC_EIO, "the token %s is empty", path);
    return NULL;
  }
  return buf;
}

const char *pc__k8s_api_token(pc__k8s_api_t *a, uint64_t now_ms, char *why, size_t cap) {
  if (a->token) return a->token;
  if (!a->token_file) return NULL;
  if (!a->file_token || now_ms - a->file_token_ms >= 60000) {
    char *t = read_token(a->token_file, why, cap);
    if (t) {
      free(a->file_token);
      a->file_token = t;
    }
    a->file_token_ms = now_ms; /* a failure keeps the last token a minute more */
  }
  return a->file_token;
}

static int in_cluster_server(pc__k8s_api_t *out, char *why, size_t cap) {
  const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return fail(why, cap, PC_EINVAL, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
                "be set (they are in every pod): not running in Kubernetes? Elsewhere use "
                "auth_type: kubeConfig");
  char url[320];
  snprintf(url, sizeof url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
  out->server = pc_xstrdup(url);
  return 0;
}

static int load_service_account(const char *dir, pc__k8s_api_t *out, char *why, size_t cap) {
  int rc = in_cluster_server(out, why, cap);
  if (rc) return rc;
  char path[512];
  snprintf(path, sizeof path, "%s/token", dir);
  char sub[300];
  char *t = read_token(path, sub, sizeof sub);
  if (!t)
    return fail(why, cap, PC_EIO, "%s (is the service account token mounted? the pod needs "
                "automountServiceAccountToken)", sub);
  out->file_token = t;
  out->file_token_ms = pc_now_ms();
  out->token_file = pc_xstrdup(path);
  snprintf(path, sizeof path, "%s/ca.crt", dir);
  FILE *f = fopen(path, "r");
  if (!f) return fail(why, cap, PC_EIO, "cannot read the cluster's CA %s: %s", path, strerror(errno));
  fclose(f);
  out->ca_file = pc_xstrdup(path);
  snprintf(out->where, sizeof out->where, "service account, %s", out->server);
  return 0;
}

/* ---- kubeconfig ------------------------------------------------------------------------- */

static const char *scalar(const pc_cfg_node_t *map, const char *key) {
  const pc_cfg_node_t *n = pc_cfg_get(map, key);
  return n && n->type == PC_CFG_SCALAR ? n->text : NULL;
}

/* The item of list whose name is name: its value under key (a map). */
static const pc_cfg_node_t *named(const pc_cfg_node_t *list, const char *name, const char *key) {
  for (size_t i = 0; list && list->type == PC_CFG_SEQ && i < list->n_items; i++) {
    const char *nm = scalar(list->items[i], "name");
    if (nm && !strcmp(nm, name)) {
      const pc_cfg_node_t *v = pc_cfg_get(list->items[i], key);
      return v && v->type == PC_CFG_MAP ? v : list->items[i];
    }
  }
  return NULL;
}

/* A path in the kubeconfig, relative to its directory as kubectl reads it. */
static char *kc_path(const char *kc, const char *p) {
  if (p[0] == '/') return pc_xstrdup(p);
  const char *slash = strrchr(kc, '/');
  char buf[1024];
  snprintf(buf, sizeof buf, "%.*s%s", slash ? (int)(slash - kc + 1) : 0, kc, p);
  return pc_xstrdup(buf);
}

static int kc_data(const pc_cfg_node_t *map, const char *key, pc_buf_t *out, pc_err_t *err) {
  const pc_cfg_node_t *n = pc_cfg_get(map, key);
  if (!n || n->type == PC_CFG_NULL) return 0;
  size_t len = n->type == PC_CFG_SCALAR ? strlen(n->text) : 0;
  if (pc_buf_reserve(out, len / 4 * 3 + 3)) return pc_err_set(err, PC_ENOMEM, "out of memory");
  long got = len ? pc_base64_decode((const uint8_t *)n->text, len, out->p) : -1;
  if (got <= 0) return pc_cfg_error(err, n, PC_EINVAL, "not base64 PEM data");
  out->n = (size_t)got;
  return 0;
}

static int load_kubeconfig(const char *context, const char *path_cfg, pc__k8s_api_t *out,
                           char *why, size_t cap) {
  char path[1024] = "";
  if (path_cfg && *path_cfg) {
    snprintf(path, sizeof path, "%s", path_cfg);
  } else if (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) {
    /* kubectl merges the files of the list; profcol takes the first that
     * exists (one file with every context is the common case). */
    const char *list = getenv("KUBECONFIG");
    for (const char *p = list; *p && !path[0];) {
      const char *e = strchr(p, ':');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      snprintf(path, sizeof path, "%.*s", (int)n, p);
      FILE *f = n ? fopen(path, "r") : NULL;
      if (f) fclose(f);
      else path[0] = 0;
      p += n + (e != NULL);
    }
    if (!path[0])
      return fail(why, cap, PC_EIO, "no file of $KUBECONFIG (%s) can be read", list);
  } else if (getenv("HOME")) {
    snprintf(path, sizeof path, "%s/.kube/config", getenv("HOME"));
  } else {
    return fail(why, cap, PC_EINVAL, "no kube_config_path, $KUBECONFIG or $HOME to find a "
                "kubeconfig");
  }
  pc_err_t err = {0};
  const char *files[] = {path};
  pc_cfg_t *kc = pc_cfg_load(files, 1, &err);
  if (!kc) return fail(why, cap, PC_EINVAL, "kubeconfig: %s", err.msg);
  const pc_cfg_node_t *root = pc_cfg_root(kc);
  int rc = PC_EINVAL;
  const char *ctx_name = context && *context ? context : scalar(root, "current-context");
  if (!ctx_name || !*ctx_name) {
    fail(why, cap, rc, "kubeconfig %s has no current-context; set context", path);
    goto out;
  }
  const pc_cfg_node_t *ctx = named(pc_cfg_get(root, "contexts"), ctx_name, "context");
  if (!ctx) {
    fail(why, cap, rc, "kubeconfig %s has no context \"%s\"", path, ctx_name);
    goto out;
  }
  const char *cl_name = scalar(ctx, "cluster"), *user_name = scalar(ctx, "user");
  const pc_cfg_node_t *cl = cl_name ? named(pc_cfg_get(root, "clusters"), cl_name, "cluster") : NULL;
  if (!cl) {
    pc_cfg_error(&err, ctx, rc, "context \"%s\" names no cluster of the file (\"%s\")", ctx_name,
                 cl_name ? cl_name : "");
    fail(why, cap, rc, "kubeconfig: %s", err.msg);
    goto out;
  }
  const char *server = scalar(cl, "server");
  if (!server || strncmp(server, "https://", 8)) {
    pc_cfg_error(&err, pc_cfg_get(cl, "server") ? pc_cfg_get(cl, "server") : cl, rc,
                 "cluster \"%s\": server must be an https:// URL", cl_name);
    fail(why, cap, rc, "kubeconfig: %s", err.msg);
    goto out;
  }
  size_t sl = strlen(server);
  while (sl > 8 && server[sl - 1] == '/') sl--;
  out->server = pc_xstrdup(server);
  out->server[sl] = 0;
  const char *ca = scalar(cl, "certificate-authority");
  if (ca) out->ca_file = kc_path(path, ca);
  if (kc_data(cl, "certificate-authority-data", &out->ca_pem, &err)) {
    fail(why, cap, rc, "kubeconfig: %s", err.msg);
    goto out;
  }
  const char *insecure = scalar(cl, "insecure-skip-tls-verify");
  out->insecure = insecure && !strcmp(insecure, "true");
  out->proxy = xstrdup_or_null(scalar(cl, "proxy-url"));
  if (scalar(cl, "tls-server-name")) {
    pc_cfg_error(&err, pc_cfg_get(cl, "tls-server-name"), rc, "tls-server-name is not "
                 "supported: connect by a name the server's certificate holds");
    fail(why, cap, rc, "kubeconfig: %s", err.msg);
    goto out;
  }
  const pc_cfg_node_t *user = user_name ? named(pc_cfg_get(root, "users"), user_name, "user") : NULL;
  if (user) {
    static const char *const unsupported[] = {"exec", "auth-provider", "username", "password"};
    for (size_t i = 0; i < 4; i++)
      if (pc_cfg_get(user, unsupported[i])) {
        pc_cfg_error(&err, pc_cfg_get(user, unsupported[i]), rc, "user \"%s\": %s is not "
                     "supported (profcol runs no credential plugins): use a token, tokenFile "
                     "or a client certificate", user_name, unsupported[i]);
        fail(why, cap, rc, "kubeconfig: %s", err.msg);
        goto out;
      }
    out->token = xstrdup_or_null(scalar(user, "token"));
    const char *tf = scalar(user, "tokenFile");
    if (tf && !out->token) out->token_file = kc_path(path, tf);
    const char *cert = scalar(user, "client-certificate"), *key = scalar(user, "client-key");
    if (cert) out->cert_file = kc_path(path, cert);
    if (key) out->key_file = kc_path(path, key);
    if (kc_data(user, "client-certificate-data", &out->cert_pem, &err) ||
        kc_data(user, "client-key-data", &out->key_pem, &err)) {
      fail(why, cap, rc, "kubeconfig: %s", err.msg);
      goto out;
    }
  }
  if (out->token_file) {
    char sub[300];
    char *t = read_token(out->token_file, sub, sizeof sub);
    if (!t) {
      fail(why, cap, PC_EIO, "kubeconfig %s: %s", path, sub);
      goto out;
    }
    out->file_token = t;
    out->file_token_ms = pc_now_ms();
  }
  snprintf(out->where, sizeof out->where, "kubeconfig %.200s, context %.60s, %.100s", path,
           ctx_name, out->server);
  rc = 0;
out:
  pc_cfg_free(kc);
  return rc;
}

int pc__k8s_api_load(pc__k8s_auth_t auth, const char *context, const char *kube_config_path,
                     const char *sa_dir, pc__k8s_api_t *out, char *why, size_t cap) {
  *out = (pc__k8s_api_t){.auth = auth};
  int rc;
  switch (auth) {
  case PC__K8S_AUTH_SERVICE_ACCOUNT:
    rc = load_service_account(sa_dir, out, why, cap);
    break;
  case PC__K8S_AUTH_KUBECONFIG:
    rc = load_kubeconfig(context, kube_config_path, out, why, cap);
    break;
  default:
    rc = in_cluster_server(out, why, cap);
    out->insecure = true;
    snprintf(out->where, sizeof out->where, "no credentials, %s", out->server ? out->server : "");
    break;
  }
  if (rc) pc__k8s_api_free(out);
  return rc;
}
