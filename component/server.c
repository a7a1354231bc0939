/* server.c - the TLS settings of a listening component (server.h). */
#include "server.h"

int pc_server_tls_ctx(const pc_tls_files_t *f, const pc_cfg_node_t *tls_node,
                      const char *alpn, pc_tls_ctx_t **out, pc_err_t *err) {
  *out = NULL;
  bool cert = f->cert_file && f->cert_file[0], key = f->key_file && f->key_file[0];
  if (!cert && !key)
    return tls_node ? pc_cfg_error(err, tls_node, PC_EINVAL,
                                   "serving TLS needs cert_file and key_file")
                    : 0;
  if (cert != key)
    return pc_cfg_error(err, pc_cfg_get(tls_node, cert ? "cert_file" : "key_file"), PC_EINVAL,
                        "%s is set but %s is not: serving TLS needs both",
                        cert ? "cert_file" : "key_file", cert ? "key_file" : "cert_file");
  /* cipher_suites: names checked here, where each has its file:line:col. */
  const pc_cfg_node_t *cs = f->cipher_suites_cfg;
  const char *names[32];
  pc_tls_files_t files = *f;
  if (cs && cs->type != PC_CFG_NULL) {
    if (cs->type != PC_CFG_SEQ || cs->n_items > 32)
      return pc_cfg_error(err, cs, PC_EINVAL, "must be a list of at most 32 cipher suite names");
    for (size_t i = 0; i < cs->n_items; i++) {
      const pc_cfg_node_t *it = cs->items[i];
      const char *why = "must be a cipher suite name";
      if (it->type != PC_CFG_SCALAR || pc_tls_suite_check(it->text, &why))
        return pc_cfg_error(err, it, PC_EINVAL, "cipher suite \"%s\" %s",
                            it->type == PC_CFG_SCALAR ? it->text : "?", why);
      names[i] = it->text;
    }
    files.cipher_suites = names;
    files.n_cipher_suites = cs->n_items;
  }
  const char *bad = NULL;
  pc_err_t e = {0};
  *out = pc_tls_ctx_new(&files, alpn, &bad, &e);
  if (*out) return 0;
  /* No key to blame (OpenSSL cannot be loaded): the tls section itself. */
  const pc_cfg_node_t *at = bad ? pc_cfg_get(tls_node, bad) : NULL;
  return pc_cfg_error(err, at ? at : tls_node, e.code, "%s", e.msg);
}
