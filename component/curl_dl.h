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
 * Every path that reaches libcurl first loads it, so that a missing or
 * unusable libcurl is a clear error where it is met (the first send, a
 * pprof endpoint in the config, --version), never a crash. On a loop that
 * serves requests it is loaded in a thread of its own (pc_curl_load_start,
 * which component/curl.c's pc_curl_wait wraps for every HTTP client): the
 * load is about 21 ms of CPU, and the loop keeps serving meanwhile. */
#ifndef PC_COMPONENT_CURL_DL_H
#define PC_COMPONENT_CURL_DL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* The library's file name, the ABI profcol is built against. */
#define PC_CURL_SONAME "libcurl.so.4"

/* Load libcurl, look up every function profcol calls and run its global
 * set-up (curl_global_init, which sets up OpenSSL), once per process
 * (thread-safe: workers may call it at once); blocks the caller for the
 * load. 0, or PC_EIO with why filled ("cannot load libcurl.so.4: cannot
 * open shared object file: No such file or directory (install the
 * libcurl4 package)") on every call after a failure (core/dl.h). For
 * config checks, --version and tests; a loop uses pc_curl_load_start. */
int pc_curl_load(char *why, size_t cap);
/* Whether libcurl is loaded and set up; never loads it. */
bool pc_curl_loaded(void);

/* One that waits for the load off the loop: *wake (a uv_async_t its owner
 * made on its own loop) is sent once, from the loading thread, when the
 * load has ended either way, unless pc_curl_load_forget came first. */
typedef struct pc_curl_waiter {
  uv_async_t *wake;
  struct pc_curl_waiter *next;
} pc_curl_waiter_t;

/* On w's loop: 0 when libcurl is loaded already, PC_EIO with why when
 * its load has failed (now or before), else PC_EAGAIN: w is listed and the
 * load runs in a thread (one for the whole process, however many loops
 * wait); once w's wake came, pc_curl_load gives its result without
 * blocking. Where no thread can be made, it loads here, on the loop. */
int pc_curl_load_start(pc_curl_waiter_t *w, char *why, size_t cap);
/* Unlist w (nothing when it is not listed): its wake is not sent after
 * this returns. */
void pc_curl_load_forget(pc_curl_waiter_t *w);

#endif
