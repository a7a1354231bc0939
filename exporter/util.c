/* util.c - small helpers of exporter/: file names made from component ids,
 * URLs made from an endpoint and a path. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

char *pc__join_url(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n && base[n - 1] == '/') n--;
  char *u = pc_xmalloc(n + strlen(path) + 1);
  memcpy(u, base, n);
  strcpy(u + n, path);
  return u;
}

void pc__id_to_filename(const char *id, char *out, size_t cap) {
  int n = snprintf(out, cap, "exporter_%s", id);
  if (n < 0) {
    if (cap) out[0] = 0;
    return;
  }
  size_t len = strlen(out);
  for (size_t i = sizeof "exporter_" - 1; i < len; i++) {
    char c = out[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) out[i] = '_';
  }
}
