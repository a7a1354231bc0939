/* textpb.c - the protobuf text format reader of textpb.h. */
#include "textpb.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  const char *p, *end;
  int line;
} lex_t;

static void skip_blank(lex_t *l) {
  while (l->p < l->end) {
    char c = *l->p;
    if (c == '\n') l->line++;
    if (c == '#') {
      while (l->p < l->end && *l->p != '\n') l->p++;
      continue;
    }
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    l->p++;
  }
}

static void push_field(pc_tpb_t *m, pc_tpb_field_t f) {
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 16;
    m->v = realloc(m->v, m->cap * sizeof *m->v);
    ck_assert_ptr_nonnull(m->v);
  }
  m->v[m->n++] = f;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A quoted string (the opening quote at l->p), escapes undone. */
static char *read_string(lex_t *l, size_t *len) {
  char q = *l->p++;
  char *out = malloc((size_t)(l->end - l->p) + 1);
  size_t n = 0;
  while (l->p < l->end && *l->p != q) {
    char c = *l->p++;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    ck_assert_msg(l->p < l->end, "textpb line %d: escape at the end", l->line);
    c = *l->p++;
    switch (c) {
    case 'n': out[n++] = '\n'; break;
    case 'r': out[n++] = '\r'; break;
    case 't': out[n++] = '\t'; break;
    case 'a': out[n++] = '\a'; break;
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case 'v': out[n++] = '\v'; break;
    case 'x': {
      int v = 0, k = 0;
      while (k < 2 && l->p < l->end && hexval(*l->p) >= 0) v = v * 16 + hexval(*l->p++), k++;
      out[n++] = (char)v;
      break;
    }
    default:
      if (c >= '0' && c <= '7') {
        int v = c - '0', k = 1;
        while (k < 3 && l->p < l->end && *l->p >= '0' && *l->p <= '7')
          v = v * 8 + (*l->p++ - '0'), k++;
        out[n++] = (char)v;
      } else {
        out[n++] = c; /* \" \' \\ */
      }
    }
  }
  ck_assert_msg(l->p < l->end, "textpb line %d: unterminated string", l->line);
  l->p++;
  out[n] = 0;
  *len = n;
  return out;
}

static char *read_word(lex_t *l) {
  const char *s = l->p;
  while (l->p < l->end && (strchr("_.-+", *l->p) || (*l->p >= '0' && *l->p <= '9') ||
                           (*l->p >= 'a' && *l->p <= 'z') || (*l->p >= 'A' && *l->p <= 'Z')))
    l->p++;
  ck_assert_msg(l->p > s, "textpb line %d: unexpected '%c'", l->line, l->p < l->end ? *l->p : '$');
  return strndup(s, (size_t)(l->p - s));
}

static pc_tpb_t *parse_msg(lex_t *l, bool nested) {
  pc_tpb_t *m = calloc(1, sizeof *m);
  for (;;) {
    skip_blank(l);
    if (l->p >= l->end) {
      ck_assert_msg(!nested, "textpb line %d: missing '}'", l->line);
      return m;
    }
    if (*l->p == '}') {
      ck_assert_msg(nested, "textpb line %d: stray '}'", l->line);
      l->p++;
      return m;
    }
    pc_tpb_field_t f = {.name = read_word(l)};
    skip_blank(l);
    if (l->p < l->end && *l->p == ':') {
      l->p++;
      skip_blank(l);
    }
    ck_assert_msg(l->p < l->end, "textpb line %d: field %s has no value", l->line, f.name);
    if (*l->p == '{') {
      l->p++;
      f.msg = parse_msg(l, true);
    } else if (*l->p == '"' || *l->p == '\'') {
      f.text = read_string(l, &f.len);
      /* adjacent literals concatenate */
      for (skip_blank(l); l->p < l->end && (*l->p == '"' || *l->p == '\''); skip_blank(l)) {
        size_t n2;
        char *more = read_string(l, &n2);
        f.text = realloc(f.text, f.len + n2 + 1);
        memcpy(f.text + f.len, more, n2 + 1);
        f.len += n2;
        free(more);
      }
    } else {
      f.text = read_word(l);
      f.len = strlen(f.text);
    }
    push_field(m, f);
  }
}

pc_tpb_t *pc_tpb_parse(const char *text, size_t n) {
  lex_t l = {text, text + n, 1};
  return parse_msg(&l, false);
}

void pc_tpb_free(pc_tpb_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].name);
    free(m->v[i].text);
    pc_tpb_free(m->v[i].msg);
  }
  free(m->v);
  free(m);
}

size_t pc_tpb_count(const pc_tpb_t *m, const char *name) {
  size_t c = 0;
  for (size_t i = 0; m && i < m->n; i++) c += strcmp(m->v[i].name, name) == 0;
  return c;
}

const pc_tpb_field_t *pc_tpb_get(const pc_tpb_t *m, const char *name, size_t i) {
  for (size_t k = 0; m && k < m->n; k++)
    if (strcmp(m->v[k].name, name) == 0 && i-- == 0) return &m->v[k];
  return NULL;
}

static int64_t to_int(const pc_tpb_field_t *f) {
  ck_assert_msg(f->text && !f->msg, "field %s is not a scalar", f->name);
  if (strcmp(f->text, "true") == 0) return 1;
  if (strcmp(f->text, "false") == 0) return 0;
  errno = 0;
  char *end;
  int64_t v = f->text[0] == '-' ? strtoll(f->text, &end, 0)
                                : (int64_t)strtoull(f->text, &end, 0);
  ck_assert_msg(errno == 0 && *end == 0, "field %s: not a number: %s", f->name, f->text);
  return v;
}

int64_t pc_tpb_int(const pc_tpb_t *m, const char *name, int64_t def) {
  const pc_tpb_field_t *f = pc_tpb_get(m, name, 0);
  return f ? to_int(f) : def;
}

int64_t pc_tpb_int_at(const pc_tpb_t *m, const char *name, size_t i) {
  const pc_tpb_field_t *f = pc_tpb_get(m, name, i);
  ck_assert_msg(f != NULL, "no %s[%zu]", name, i);
  return to_int(f);
}

const pc_tpb_t *pc_tpb_msg(const pc_tpb_t *m, const char *name) {
  const pc_tpb_field_t *f = pc_tpb_get(m, name, 0);
  return f ? f->msg : NULL;
}

pc_tpb_t *pc_tpb_protoc_decode(const char *type, const char *proto, const uint8_t *bytes,
                               size_t n) {
  const char *root = getenv("PC_SOURCE_ROOT");
  ck_assert_msg(root != NULL, "PC_SOURCE_ROOT is not set");
  char in[] = "/tmp/profcol-tpb-in-XXXXXX", outp[] = "/tmp/profcol-tpb-out-XXXXXX";
  int fd = mkstemp(in), fo = mkstemp(outp);
  ck_assert(fd >= 0 && fo >= 0);
  ck_assert(write(fd, bytes, n) == (ssize_t)n);
  close(fd);
  close(fo);
  char cmd[2048];
  /* gzip -dcf passes bytes that are not gzip through unchanged */
  snprintf(cmd, sizeof cmd,
           "gzip -dcf <'%s' | protoc --decode=%s -I '%s/proto' '%s/proto/%s' >'%s'", in, type,
           root, root, proto, outp);
  int st = system(cmd);
  unlink(in);
  FILE *f = fopen(outp, "rb");
  ck_assert(f != NULL);
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 65536 > cap) text = realloc(text, cap = cap ? 2 * cap : 65536 * 2);
    size_t got = fread(text + len, 1, cap - len, f);
    len += got;
    if (!got) break;
  }
  fclose(f);
  unlink(outp);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "protoc --decode=%s failed (%d)", type, st);
  pc_tpb_t *m = pc_tpb_parse(text, len);
  free(text);
  return m;
}
