/* openssl_dl.h - OpenSSL (libssl.so.3, and libcrypto.so.3 under it) loaded
 * with dlopen at its first use, not by the dynamic loader at exec
 * (openssl_dl.c, on core/dl.h).
 *
 * libcrypto is the largest library profcol maps: 17,000 relative and 4,200
 * symbol relocations at exec, about a quarter of a plain sidecar's start-up
 * CPU once libcurl was loaded lazily too, for a process that may never
 * serve TLS or hash anything. The users are the receivers' TLS (tls.c),
 * the attributes processor's hash action and --version; each calls
 * pc_openssl_load where it first needs OpenSSL (a TLS listener's context,
 * a hash action in the config), so that a missing or too old libssl is a
 * config error there. Sending over HTTPS loads it as well, as a
 * dependency of libcurl (component/curl_dl.h). */
#ifndef PC_HTTPD_OPENSSL_DL_H
#define PC_HTTPD_OPENSSL_DL_H

#include <stddef.h>

/* The file name, the ABI profcol is built against (OpenSSL 3). */
#define PC_OPENSSL_SONAME "libssl.so.3"

/* Load OpenSSL and find every function profcol calls, once per process
 * (thread-safe). 0, or PC_EIO with why filled on every call after a
 * failure. */
int pc_openssl_load(char *why, size_t cap);

#endif
