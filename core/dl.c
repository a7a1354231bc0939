/* dl.c - load a shared library at its first use and fill a table of its
 * functions (dl.h). The one idea: everything is found or nothing is; a
 * library that lacks a function is closed again and reported as too old,
 * so a table is either whole or unused. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "dl.h"

static void load(pc_dl_t *d) {
  /* RTLD_LOCAL: nothing but the table looks symbols up in the library. */
  void *h = dlopen(d->soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(d->failure, sizeof d->failure, "cannot load %s (install the %s package)",
             e ? e : d->soname, d->package);
    /* glibc keeps the message in a per-thread buffer until the next
     * dlerror(): free it now, since the loader may be a thread that ends
     * after the load (component/curl_dl.c). */
    (void)dlerror();
    return;
  }
  for (size_t i = 0; i < d->n_syms; i++) {
    void *sym = dlsym(h, d->syms[i].name);
    if (!sym) {
      snprintf(d->failure, sizeof d->failure,
               "%s has no %s: it is older than the one profcol was built with", d->soname,
               d->syms[i].name);
      (void)dlerror(); /* the message; the next call frees it (above) */
      (void)dlerror();
      dlclose(h);
      return;
    }
    /* memcpy: ISO C has no cast from an object pointer to a function one. */
    memcpy((char *)d->table + d->syms[i].offset, &sym, sizeof sym);
  }
  /* A failed set-up leaves the library mapped: it may have registered
   * handlers (atexit, thread keys) that closing it would leave dangling. */
  if (d->init && d->init(d->failure, sizeof d->failure)) return;
  __atomic_store_n(&d->handle, h, __ATOMIC_RELEASE);
}

int pc_dl_load(pc_dl_t *d, char *why, size_t cap) {
  if (__atomic_load_n(&d->handle, __ATOMIC_ACQUIRE)) return 0;
  pthread_mutex_lock(&d->lock);
  if (!d->tried) {
    d->tried = true;
    load(d);
  }
  pthread_mutex_unlock(&d->lock);
  if (__atomic_load_n(&d->handle, __ATOMIC_ACQUIRE)) return 0;
  snprintf(why, cap, "%s", d->failure);
  return PC_EIO;
}

bool pc_dl_loaded(pc_dl_t *d) { return __atomic_load_n(&d->handle, __ATOMIC_ACQUIRE) != NULL; }

void pc_dl_need(pc_dl_t *d) {
  if (__atomic_load_n(&d->handle, __ATOMIC_ACQUIRE)) return;
  char why[sizeof d->failure];
  if (pc_dl_load(d, why, sizeof why) == 0) return;
  fprintf(stderr, "profcol: %s\n", why);
  abort();
}
