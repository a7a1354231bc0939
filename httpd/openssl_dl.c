/* openssl_dl.c - OpenSSL's functions, found with dlopen/dlsym at the first
 * use (openssl_dl.h says why).
 *
 * The one idea, as in component/curl_dl.c: one table of the functions
 * profcol calls, filled once by pc_openssl_load, and a definition of each
 * under OpenSSL's own name that calls through the table, so tls.c and the
 * hash action are unchanged (the macros of ssl.h and bio.h, such as
 * SSL_CTX_set_mode, expand to SSL_CTX_ctrl and BIO_ctrl, which are in the
 * table). The definitions are hidden: the executable does not export them,
 * so libcurl's OpenSSL, once loaded, never binds to them. The symbols are
 * looked up through libssl's handle, which also searches libcrypto, its
 * dependency.
 *
 * A call that reaches a definition before pc_openssl_load succeeded is a
 * path that skipped it: it loads the library then, or aborts saying why
 * (core/dl.h). The void functions are the exception: each takes an object
 * only OpenSSL can have made (or frees NULL), so before the load there is
 * nothing for them to do. */
#include <stddef.h>
#include <stdint.h>

#include "../core/dl.h"

#pragma GCC visibility push(hidden)
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "openssl_dl.h"

#if OPENSSL_VERSION_MAJOR != 3
#error "openssl_dl.c loads libssl.so.3: built against another OpenSSL major version"
#endif

/* X(return type, name, (parameters), (arguments)): the functions with a
 * result; the void ones in the second list (ISO C has no "return f();"). */
#define PC_OPENSSL_FUNCTIONS(X)                                                                 \
  X(long, BIO_ctrl, (BIO * b, int cmd, long larg, void *parg), (b, cmd, larg, parg))           \
  X(size_t, BIO_ctrl_pending, (BIO * b), (b))                                                   \
  X(int, BIO_free, (BIO * b), (b))                                                              \
  X(BIO *, BIO_new, (const BIO_METHOD *type), (type))                                           \
  X(int, BIO_read, (BIO * b, void *data, int len), (b, data, len))                              \
  X(const BIO_METHOD *, BIO_s_mem, (void), ())                                                  \
  X(int, BIO_write, (BIO * b, const void *data, int len), (b, data, len))                       \
  X(unsigned long, ERR_peek_error, (void), ())                                                  \
  X(const char *, ERR_reason_error_string, (unsigned long e), (e))                              \
  X(int, EVP_Digest,                                                                            \
    (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, \
     ENGINE *impl),                                                                             \
    (data, count, md, size, type, impl))                                                        \
  X(EVP_MD *, EVP_MD_fetch, (OSSL_LIB_CTX * ctx, const char *alg, const char *props),          \
    (ctx, alg, props))                                                                          \
  X(const char *, OpenSSL_version, (int type), (type))                                          \
  X(int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx))                                \
  X(long, SSL_CTX_ctrl, (SSL_CTX * ctx, int cmd, long larg, void *parg),                        \
    (ctx, cmd, larg, parg))                                                                     \
  X(int, SSL_CTX_load_verify_locations, (SSL_CTX * ctx, const char *file, const char *path),    \
    (ctx, file, path))                                                                          \
  X(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *meth), (meth))                                   \
  X(int, SSL_CTX_set_cipher_list, (SSL_CTX * ctx, const char *str), (ctx, str))                 \
  X(int, SSL_CTX_set_ciphersuites, (SSL_CTX * ctx, const char *str), (ctx, str))                \
  X(uint64_t, SSL_CTX_set_options, (SSL_CTX * ctx, uint64_t op), (ctx, op))                     \
  X(int, SSL_CTX_set_session_id_context,                                                        \
    (SSL_CTX * ctx, const unsigned char *sid, unsigned int sid_len), (ctx, sid, sid_len))       \
  X(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX * ctx, const char *file, int type),              \
    (ctx, file, type))                                                                          \
  X(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX * ctx, const char *file), (ctx, file))    \
  X(int, SSL_get_error, (const SSL *s, int ret), (s, ret))                                      \
  X(long, SSL_get_verify_result, (const SSL *s), (s))                                           \
  X(int, SSL_is_init_finished, (const SSL *s), (s))                                             \
  X(STACK_OF(X509_NAME) *, SSL_load_client_CA_file, (const char *file), (file))                 \
  X(SSL *, SSL_new, (SSL_CTX * ctx), (ctx))                                                     \
  X(int, SSL_read, (SSL * s, void *buf, int num), (s, buf, num))                                \
  X(int, SSL_select_next_proto,                                                                 \
    (unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen,   \
     const unsigned char *client, unsigned int client_len),                                     \
    (out, outlen, in, inlen, client, client_len))                                               \
  X(int, SSL_shutdown, (SSL * s), (s))                                                          \
  X(int, SSL_write, (SSL * s, const void *buf, int num), (s, buf, num))                         \
  X(const SSL_METHOD *, TLS_server_method, (void), ())                                          \
  X(const char *, X509_verify_cert_error_string, (long n), (n))

#define PC_OPENSSL_PROCEDURES(X)                                                                 \
  X(ERR_clear_error, (void), ())                                                                 \
  X(EVP_MD_free, (EVP_MD * md), (md))                                                            \
  X(OPENSSL_sk_pop_free, (OPENSSL_STACK * st, void (*func)(void *)), (st, func))                 \
  X(SSL_CTX_free, (SSL_CTX * ctx), (ctx))                                                        \
  X(SSL_CTX_set_alpn_select_cb, (SSL_CTX * ctx, SSL_CTX_alpn_select_cb_func cb, void *arg),      \
    (ctx, cb, arg))                                                                              \
  X(SSL_CTX_set_client_CA_list, (SSL_CTX * ctx, STACK_OF(X509_NAME) * list), (ctx, list))       \
  X(SSL_CTX_set_verify, (SSL_CTX * ctx, int mode, SSL_verify_cb cb), (ctx, mode, cb))           \
  X(SSL_free, (SSL * s), (s))                                                                    \
  X(SSL_set_accept_state, (SSL * s), (s))                                                        \
  X(SSL_set_bio, (SSL * s, BIO * rbio, BIO * wbio), (s, rbio, wbio))                             \
  X(X509_NAME_free, (X509_NAME * n), (n))

typedef struct {
#define FIELD(ret, name, params, args) ret(*name) params;
#define PROC_FIELD(name, params, args) void(*name) params;
  PC_OPENSSL_FUNCTIONS(FIELD)
  PC_OPENSSL_PROCEDURES(PROC_FIELD)
#undef PROC_FIELD
#undef FIELD
} table_t;

static table_t fn;

static const pc_dl_sym_t syms[] = {
#define SYM(ret, name, params, args) {#name, offsetof(table_t, name)},
#define SYM_PROC(name, params, args) {#name, offsetof(table_t, name)},
    PC_OPENSSL_FUNCTIONS(SYM) PC_OPENSSL_PROCEDURES(SYM_PROC)
#undef SYM_PROC
#undef SYM
};

static pc_dl_t lib = PC_DL_INIT(PC_OPENSSL_SONAME, "libssl3", syms, &fn, NULL);

int pc_openssl_load(char *why, size_t cap) { return pc_dl_load(&lib, why, cap); }

#define FORWARD(ret, name, params, args) PC_DL_FORWARD(lib, fn, ret, name, params, args)
#define FORWARD_VOID(name, params, args) PC_DL_FORWARD_VOID(lib, fn, name, params, args)
PC_OPENSSL_FUNCTIONS(FORWARD)
PC_OPENSSL_PROCEDURES(FORWARD_VOID)
#pragma GCC visibility pop
