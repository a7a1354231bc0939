/* errlist.c - the list of config problems that building a service (and its
 * telemetry) fills, so one run of validate reports every problem at once. */
#include <stdlib.h>
#include <string.h>

#include "service.h"

void pc_errlist_add(pc_errlist_t *l, const char *msg) {
  l->msgs = pc_xrealloc(l->msgs, (l->n + 1) * sizeof *l->msgs);
  l->msgs[l->n++] = pc_xstrdup(msg);
}

void pc_errlist_free(pc_errlist_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->msgs[i]);
  free(l->msgs);
  *l = (pc_errlist_t){0};
}
