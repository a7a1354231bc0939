/* curl_dl.c - libcurl's functions, found with dlopen/dlsym at the first
 * use (curl_dl.h says why).
 *
 * The one idea: one table of the libcurl functions profcol calls, filled
 * once by pc_curl_load, and a definition of each under libcurl's own name
 * that calls through the table, so the rest of profcol (and curl's
 * compile-time type checks of curl_easy_setopt) is unchanged. The
 * definitions are hidden: the executable does not export them, so libcurl,
 * once loaded, binds to its own functions and never to these.
 *
 * A call that reaches a definition before pc_curl_load succeeded is a
 * missing pc_curl_load on that path: it loads the library then, or, when
 * that fails, says why on stderr and aborts rather than go on with a NULL
 * function (core/dl.h). The cleanup functions are the exception: before
 * the load there is nothing to clean up.
 *
 * Where the load runs: on a loop it takes about 21 ms of CPU (the dynamic
 * loader mapping and relocating libcurl and the 24 libraries it links, then
 * OpenSSL's set-up in curl_global_init), during which no request on any
 * connection would be served. So a loop never loads it itself:
 * pc_curl_load_start starts one thread for the load at the first transfer
 * that needs it, which wakes every waiter when it ends; the transfers wait
 * as for a slow connect. Measured (release, otlp receiver to otlp_http, 6
 * interleaved runs): the loop's CPU for the first send went from 23.7 ms
 * to 3.9 ms (1.0 ms for a later send).
 *
 * At the first use rather than right after the listeners are up: the load
 * maps 27 libraries, 7.6 MiB of RSS and 0.9 MiB of private dirty memory
 * that nothing needs before a send. Loaded at start, an idle sidecar would
 * hold them too: about 11.4 MiB RSS at least (12.2 to 12.5 MiB once it has
 * sent) against the 12 MiB target, instead of 3.8 MiB. A batch exporter
 * does not notice its first send waiting for the load. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "../core/core.h"
#include "../core/dl.h"

#pragma GCC visibility push(hidden)
#include <curl/curl.h>
#include "curl_dl.h"

/* libcurl 8 made curl_url_get's handle const; component/meson.build says
 * which one the headers have. */
#ifndef PC_CURL_URL_GET_CONST
#define PC_CURL_URL_GET_CONST
#endif

/* X(return type, name, (parameters), (arguments)): every function of
 * libcurl that profcol calls with a fixed argument list and a result; the
 * void ones in the second list (ISO C has no "return f();" for them); the
 * three variadic ones (setopt and getinfo) are written out below. */
#define PC_CURL_FUNCTIONS(X)                                                                  \
  X(CURLcode, curl_global_init, (long flags), (flags))                                        \
  X(curl_version_info_data *, curl_version_info, (CURLversion v), (v))                        \
  X(CURL *, curl_easy_init, (void), ())                                                       \
  X(const char *, curl_easy_strerror, (CURLcode rc), (rc))                                    \
  X(CURLM *, curl_multi_init, (void), ())                                                     \
  X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m))                                          \
  X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * e), (m, e))                          \
  X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * e), (m, e))                       \
  X(CURLMcode, curl_multi_assign, (CURLM * m, curl_socket_t fd, void *p), (m, fd, p))         \
  X(CURLMcode, curl_multi_socket_action, (CURLM * m, curl_socket_t fd, int ev, int *running), \
    (m, fd, ev, running))                                                                     \
  X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))                       \
  X(const char *, curl_multi_strerror, (CURLMcode rc), (rc))                                  \
  X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))   \
  X(CURLU *, curl_url, (void), ())                                                            \
  X(CURLUcode, curl_url_get, (PC_CURL_URL_GET_CONST CURLU * u, CURLUPart what, char **part,   \
                              unsigned int flags),                                           \
    (u, what, part, flags))                                                                   \
  X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart what, const char *part, unsigned int flags), \
    (u, what, part, flags))

#define PC_CURL_PROCEDURES(X) \
  X(curl_global_cleanup, (void), ()) \
  X(curl_easy_cleanup, (CURL * e), (e)) \
  X(curl_slist_free_all, (struct curl_slist * l), (l)) \
  X(curl_free, (void *p), (p)) \
  X(curl_url_cleanup, (CURLU * u), (u))

#define PC_CURL_VARIADIC(X) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_multi_setopt)

/* The variadic names are also curl.h's type-checking macros: their calls
 * through the table are written (fn.name)(...) so that no macro expands. */
typedef struct {
#define FIELD(ret, name, params, args) ret(*name) params;
#define PROC_FIELD(name, params, args) void(*name) params;
  PC_CURL_FUNCTIONS(FIELD)
  PC_CURL_PROCEDURES(PROC_FIELD)
#undef PROC_FIELD
#undef FIELD
  CURLcode (*curl_easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*curl_easy_getinfo)(CURL *, CURLINFO, ...);
  CURLMcode (*curl_multi_setopt)(CURLM *, CURLMoption, ...);
} table_t;

static table_t fn;

static const pc_dl_sym_t syms[] = {
#define SYM(name) {#name, offsetof(table_t, name)},
#define SYM_FIXED(ret, name, params, args) SYM(name)
#define SYM_PROC(name, params, args) SYM(name)
    PC_CURL_FUNCTIONS(SYM_FIXED) PC_CURL_PROCEDURES(SYM_PROC) PC_CURL_VARIADIC(SYM)
#undef SYM_PROC
#undef SYM_FIXED
#undef SYM
};

/* libcurl's global set-up, once with the load and never undone: it sets up
 * OpenSSL (reads openssl.cnf, loads its error strings and algorithm
 * names), the part of the load's CPU after the dynamic loader's, so it
 * runs where the load does, off the loop. Not yet published: through fn,
 * not through the forwarders (core/dl.h). */
static int global_init(char *why, size_t cap) {
  if ((fn.curl_global_init)(CURL_GLOBAL_DEFAULT) == CURLE_OK) return 0;
  snprintf(why, cap, "libcurl failed to initialise (out of memory?)");
  return PC_EIO;
}

static pc_dl_t lib = PC_DL_INIT(PC_CURL_SONAME, "libcurl4", syms, &fn, global_init);

int pc_curl_load(char *why, size_t cap) { return pc_dl_load(&lib, why, cap); }

bool pc_curl_loaded(void) { return pc_dl_loaded(&lib); }

/* ---- the load off the loop ------------------------------------------------------------- */

/* One thread for the process, made for the load and gone after it. Not a
 * job in libuv's pool: the pool may be full of decodes and compressions
 * (8 MiB batches), and the first send would wait behind them (the load
 * would also hold one of its threads for its 21 ms), and a job belongs to
 * the loop that queued it, which could then not close until the load
 * ended. Each waiter, on whichever loop (workers, a component's loop of
 * its own at start), is woken by its own uv_async_t. The table itself is
 * published by core/dl.c (release store of the handle, acquire loads by
 * every reader), so a woken loop sees it whole; wait_lock orders only the
 * list and the flags. */
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static bool started;               /* the thread is made, running or done */
static bool ended;                 /* done: pc_curl_load answers at once */
static pc_curl_waiter_t *waiters; /* to wake when it is */

static void *load_run(void *arg) {
  (void)arg;
  char why[sizeof lib.failure];
  (void)pc_dl_load(&lib, why, sizeof why); /* the result stays in lib for every later call */
  pthread_mutex_lock(&wait_lock);
  ended = true;
  for (pc_curl_waiter_t *x = waiters; x; x = x->next) uv_async_send(x->wake);
  waiters = NULL;
  pthread_mutex_unlock(&wait_lock);
  return NULL;
}

/* The thread, detached: nothing joins it. false when it cannot be made
 * (out of threads or memory). */
static bool start_thread(void) {
  pthread_attr_t at;
  pthread_t t;
  if (pthread_attr_init(&at)) return false;
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  bool ok = pthread_create(&t, &at, load_run, NULL) == 0;
  pthread_attr_destroy(&at);
  return ok;
}

int pc_curl_load_start(pc_curl_waiter_t *w, char *why, size_t cap) {
  if (pc_dl_loaded(&lib)) return 0;
  pthread_mutex_lock(&wait_lock);
  bool wait = !ended;
  if (wait) {
    w->next = waiters;
    waiters = w;
    /* After the thread nothing starts again: the first load's result,
     * loaded or not, is the process's (core/dl.c tries once). */
    if (!started) started = start_thread();
    if (!started) { /* no thread to be had: load here, on the caller's loop */
      waiters = w->next;
      wait = false;
    }
  }
  pthread_mutex_unlock(&wait_lock);
  return wait ? PC_EAGAIN : pc_dl_load(&lib, why, cap);
}

void pc_curl_load_forget(pc_curl_waiter_t *w) {
  pthread_mutex_lock(&wait_lock);
  for (pc_curl_waiter_t **pp = &waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  pthread_mutex_unlock(&wait_lock);
}

#define need() pc_dl_need(&lib)

/* The void ones all free or clean up (at the shutdown of an exporter that
 * never sent, with NULL): nothing to do before the load. */
#define FORWARD(ret, name, params, args) PC_DL_FORWARD(lib, fn, ret, name, params, args)
#define FORWARD_VOID(name, params, args) PC_DL_FORWARD_VOID(lib, fn, name, params, args)
PC_CURL_FUNCTIONS(FORWARD)
PC_CURL_PROCEDURES(FORWARD_VOID)

/* The option's number says the type of its argument, as in libcurl's own
 * setopt (CURLOPTTYPE_* in curl.h): read it as that type and pass it on as
 * that type. The same for the easy and the multi handle. */
typedef void (*any_fn)(void);
#define FORWARD_SETOPT(ret, name, handle_t, option_t)                           \
  ret(name)(handle_t * h, option_t opt, ...) {                                \
    need();                                                                   \
    va_list ap;                                                               \
    va_start(ap, opt);                                                        \
    ret rc;                                                                   \
    if (opt < CURLOPTTYPE_OBJECTPOINT)                                        \
      rc = (fn.name)(h, opt, va_arg(ap, long));                               \
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT || opt >= CURLOPTTYPE_BLOB)      \
      rc = (fn.name)(h, opt, va_arg(ap, void *));                             \
    else if (opt < CURLOPTTYPE_OFF_T)                                         \
      rc = (fn.name)(h, opt, va_arg(ap, any_fn));                             \
    else                                                                      \
      rc = (fn.name)(h, opt, va_arg(ap, curl_off_t));                         \
    va_end(ap);                                                               \
    return rc;                                                                \
  }
FORWARD_SETOPT(CURLcode, curl_easy_setopt, CURL, CURLoption)
FORWARD_SETOPT(CURLMcode, curl_multi_setopt, CURLM, CURLMoption)

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode(curl_easy_getinfo)(CURL *e, CURLINFO info, ...) {
  need();
  va_list ap;
  va_start(ap, info);
  void *out = va_arg(ap, void *);
  va_end(ap);
  return (fn.curl_easy_getinfo)(e, info, out);
}
#pragma GCC visibility pop
