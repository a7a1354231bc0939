/* err.c - error names, error details and allocation helpers that abort. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pc_err_name(int code) {
  switch (code) {
#define PC_ERR_NAME(name, val, text) \
  case PC_##name:                    \
    return #name;
    PC_ERRNO_MAP(PC_ERR_NAME)
#undef PC_ERR_NAME
  default:
    return "unknown";
  }
}

const char *pc_strerror(int code) {
  switch (code) {
#define PC_ERR_TEXT(name, val, text) \
  case PC_##name:                    \
    return text;
    PC_ERRNO_MAP(PC_ERR_TEXT)
#undef PC_ERR_TEXT
  default:
    return "unknown error";
  }
}

int pc_err_set(pc_err_t *err, int code, const char *fmt, ...) {
  if (err) {
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void pc_errlist_add(pc_errlist_t *l, const char *msg) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->msgs[i], msg) == 0) return; /* e.g. one processor in two pipelines */
  l->msgs = pc_xrealloc(l->msgs, (l->n + 1) * sizeof *l->msgs);
  l->msgs[l->n] = strdup(msg);
  if (!l->msgs[l->n]) pc_oom();
  l->n++;
}

void pc_errlist_free(pc_errlist_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->msgs[i]);
  free(l->msgs);
  *l = (pc_errlist_t){0};
}

_Noreturn void pc__oom(const char *file, int line) {
  fprintf(stderr, "profcol: fatal: out of memory at %s:%d\n", file, line);
  abort();
}

void *pc_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) pc_oom();
  return p;
}

void *pc_xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) pc_oom();
  return p;
}

void *pc_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) pc_oom();
  return q;
}

int pc_buf_reserve(pc_buf_t *b, size_t extra) {
  if (extra <= b->cap - b->n) return 0;
  if (extra > SIZE_MAX / 2 - b->n) return PC_ENOMEM;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < extra) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return PC_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

int pc_buf_append(pc_buf_t *b, const void *data, size_t n) {
  int rc = pc_buf_reserve(b, n);
  if (rc) return rc;
  if (n) __builtin_memcpy(b->p + b->n, data, n);
  b->n += n;
  return 0;
}

void pc_buf_free(pc_buf_t *b) {
  free(b->p);
  *b = (pc_buf_t){0};
}

int pc_buf_printf(pc_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) return PC_EINVAL;
  int rc = pc_buf_reserve(b, (size_t)need + 1);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf((char *)b->p + b->n, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)need;
  return 0;
}

int pc_buf_json_string(pc_buf_t *b, const uint8_t *s, size_t n) {
  /* Worst case every byte becomes \u00XX. */
  if (n > (SIZE_MAX - 2) / 6) return PC_ENOMEM;
  int rc = pc_buf_reserve(b, n * 6 + 2);
  if (rc) return rc;
  static const char hex[] = "0123456789abcdef";
  uint8_t *o = b->p + b->n;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      *o++ = c;
      continue;
    }
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    default:
      *o++ = 'u'; *o++ = '0'; *o++ = '0';
      *o++ = (uint8_t)hex[c >> 4];
      *o++ = (uint8_t)hex[c & 15];
    }
  }
  *o++ = '"';
  b->n = (size_t)(o - b->p);
  return 0;
}

char *pc_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(pc_xmalloc(n), s, n);
}
