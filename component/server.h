/* server.h - the settings a component that listens takes from its config
 * as the Collector's confighttp/configgrpc servers do: their configtls
 * server keys (the otlp receiver's HTTP and gRPC listeners, the span_store
 * extension's query API).
 *
 * The keys are rows of the component's own option table (pc_opt_t), for a
 * struct st whose member f is a pc_tls_files_t (httpd.h); pc_server_tls_ctx
 * turns what they read into a TLS context, with config errors at the key
 * at fault. */
#ifndef PC_COMPONENT_SERVER_H
#define PC_COMPONENT_SERVER_H

#include "../config/config.h"
#include "../httpd/httpd.h"

#define PC_SERVER_TLS_OPTS(st, f)                                                         \
  PC_OPT_STR("cert_file", NULL, st, f.cert_file,                                        \
             "PEM certificate chain (leaf first) to serve TLS with; needs key_file"),    \
  PC_OPT_STR("key_file", NULL, st, f.key_file, "PEM private key of cert_file"),         \
  PC_OPT_STR("client_ca_file", NULL, st, f.client_ca_file,                              \
             "PEM CAs: when set, every client must present a certificate one of them "    \
             "signed (mutual TLS)"),                                                      \
  PC_OPT_STR("min_version", "1.2", st, f.min_version, "oldest TLS version accepted: 1.2 or 1.3"), \
  PC_OPT_STR("max_version", NULL, st, f.max_version,                                    \
             "newest TLS version accepted: 1.2 or 1.3 (default: 1.3)"),                  \
  PC_OPT_ANY("cipher_suites", st, f.cipher_suites_cfg,                                  \
             "list of cipher suites by the Collector's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, " \
             "TLS_AES_128_GCM_SHA256, ...); default: ECDHE with AES-GCM or ChaCha20-Poly1305 "  \
             "for TLS 1.2, and TLS 1.3's own")

/* The TLS context for files (NULL in *out when no key is set and there is no
 * tls node), offering alpn. Errors point at the key under tls_node (the
 * listener's "tls" map; NULL: no place) and name the file and OpenSSL's
 * reason. The caller owns *out. */
int pc_server_tls_ctx(const pc_tls_files_t *files, const pc_cfg_node_t *tls_node,
                      const char *alpn, pc_tls_ctx_t **out, pc_err_t *err);

#endif
