/* dl.h - a shared library loaded with dlopen at its first use rather than
 * by the dynamic loader at exec (dl.c).
 *
 * For the libraries a sidecar does not need to start: libcurl (with the 24
 * libraries Debian's build links it with) until the first send
 * (component/curl_dl.c), OpenSSL until a TLS listener or a hash is
 * configured (httpd/openssl_dl.c). Linked, they were most of a sidecar's
 * start-up CPU and a third of its idle RSS. Each user keeps a table of
 * function pointers, filled once by pc_dl_load, and defines the library's
 * functions under their own names (hidden) to call through it, so the
 * callers are unchanged. */
#ifndef PC_CORE_DL_H
#define PC_CORE_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* One function: its name and where its pointer goes in the table. */
typedef struct {
  const char *name;
  size_t offset;
} pc_dl_sym_t;

typedef struct {
  const char *soname;  /* "libcurl.so.4" */
  const char *package; /* what to install: "libcurl4" */
  const pc_dl_sym_t *syms;
  size_t n_syms;
  void *table; /* receives each function's address at syms[i].offset */
  /* Run once the table is filled, before any other thread may call through
   * it (the library's global set-up); NULL for none. It must call through
   * the table itself, never the forwarders, whose guard waits for this
   * very load. Non-zero with why filled: the load fails with that why. */
  int (*init)(char *why, size_t cap);
  /* state: */
  pthread_mutex_t lock;
  bool tried;
  void *handle;       /* set (release) once every function is in the table */
  char failure[256];  /* why the load failed */
} pc_dl_t;

#define PC_DL_INIT(soname_, package_, syms_, table_, init_)                       \
  {.soname = (soname_), .package = (package_), .syms = (syms_),                  \
   .n_syms = sizeof(syms_) / sizeof((syms_)[0]), .table = (table_),              \
   .init = (init_), .lock = PTHREAD_MUTEX_INITIALIZER}

/* Load d's library and fill its table, once per process (thread-safe).
 * 0, or PC_EIO with why filled ("cannot load libcurl: libcurl.so.4: cannot
 * open shared object file: No such file or directory (install the
 * libcurl4 package)") on this and every later call. */
int pc_dl_load(pc_dl_t *d, char *why, size_t cap);
/* Whether d is loaded; never loads it. */
bool pc_dl_loaded(pc_dl_t *d);
/* The guard of each forwarding function: loads d, or, when it cannot be,
 * says why on stderr and aborts. Reaching it unloaded means a path that
 * skipped its pc_dl_load: a bug, but one that must not call through NULL. */
void pc_dl_need(pc_dl_t *d);

/* The forwarding definitions, for a user's X-macro lists: a function with
 * a result calls through table t after pc_dl_need(&d); a void one only
 * when d is loaded, because every void function a user lists frees or
 * sets up an object only the library can have made (or frees NULL), so
 * before the load there is nothing for it to do. The name is in
 * parentheses so that a function-like macro of the same name (curl.h's
 * type checks) does not expand. */
#define PC_DL_FORWARD(d, t, ret, name, params, args) \
  ret(name) params {                                  \
    pc_dl_need(&(d));                                 \
    return ((t).name) args;                           \
  }
#define PC_DL_FORWARD_VOID(d, t, name, params, args) \
  void(name) params {                                 \
    if (pc_dl_loaded(&(d))) ((t).name) args;          \
  }

#endif
