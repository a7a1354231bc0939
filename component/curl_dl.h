/* curl_dl.h - libcurl loaded with dlopen at its first use, not by the
 * dynamic loader at exec (curl_dl.c).
 *
 * Debian's libcurl4 pulls in 24 libraries profcol never uses (LDAP, RTMP
 * and GnuTLS, GSS-API, SSH, PSL, IDN, brotli) plus OpenSSL: linked, they
 * were two thirds of a sidecar's start-up CPU and 3 MiB of its idle RSS,
 * before anything had been sent. profcol is compiled against <curl/curl.h>
 * as before and calls curl_* by their names; curl_dl.c defines those names
 * (hidden, so the library never binds to them) and forwards each call to
 * the function dlsym found in libcurl.so.4.
 *
 * Every path that reaches libcurl first calls pc_curl_load, so that a
 * missing or unusable libcurl is a clear error where it is met (the first
 * send, a pprof endpoint in the config, --version), never a crash. */
#ifndef PC_COMPONENT_CURL_DL_H
#define PC_COMPONENT_CURL_DL_H

#include <stddef.h>

/* The library's file name, the ABI profcol is built against. */
#define PC_CURL_SONAME "libcurl.so.4"

/* Load libcurl and look up every function profcol calls, once per process
 * (thread-safe: workers may call it at once). 0, or PC_EIO with why filled
 * ("cannot load libcurl.so.4: cannot open shared object file: No such file
 * or directory (install the libcurl4 package)") on every call after a
 * failure (core/dl.h). */
int pc_curl_load(char *why, size_t cap);

#endif
