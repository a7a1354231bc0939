/* pprof_glob.c - the pprof receiver's file.include: glob(3) patterns plus
 * "**", the any-depth component the Collector's filelog and pprof receivers
 * take (doublestar), so a config written for them works here.
 *
 * The one idea: a pattern is matched one path component at a time. A
 * component that is exactly "**" matches zero or more directories; any other
 * is matched as glob(3) matches it (fnmatch(3) with FNM_PERIOD: '*', '?' and
 * '[...]' never match a leading '.', and "a**b" is "a*b"). A pattern without
 * a "**" component is handed to glob(3) itself, so what matched before
 * matches the same.
 *
 * "**" descends into directories only, never through a symbolic link (as
 * doublestar and bash's globstar): a link to a parent cannot make a pass
 * loop, and a tree is walked once. It skips directories whose name starts
 * with '.', as '*' does. A pattern ending in "**" matches everything below
 * (only regular files are read). Matches come sorted, each once ("**" /
 * "**" would find a file twice). */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pprofrx.h"

#define PATH_CAP 4096

typedef struct {
  char **v;
  size_t n, cap;
  int rc;     /* 0, GLOB_NOSPACE, GLOB_ABORTED (a directory could not be read) */
  int err_no; /* the first unreadable directory's errno */
  char path[PATH_CAP];
} acc_t;

static void add(acc_t *a, size_t len) {
  if (a->rc == GLOB_NOSPACE) return;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    char **v = realloc(a->v, cap * sizeof *v);
    if (!v) {
      a->rc = GLOB_NOSPACE;
      return;
    }
    a->v = v;
    a->cap = cap;
  }
  char *s = malloc(len + 1);
  if (!s) {
    a->rc = GLOB_NOSPACE;
    return;
  }
  memcpy(s, a->path, len);
  s[len] = '\0';
  a->v[a->n++] = s;
}

/* The directory a->path[0..len) names ("." when len is 0), or NULL: an
 * unreadable one is remembered (glob(3) goes on past those too, and the
 * pass says which); one that is not there or not a directory is no match. */
static DIR *open_dir(acc_t *a, size_t len) {
  a->path[len] = '\0';
  DIR *d = opendir(len ? a->path : ".");
  if (!d && errno != ENOENT && errno != ENOTDIR && !a->rc) {
    a->rc = GLOB_ABORTED;
    a->err_no = errno;
  }
  return d;
}

/* a->path[0..len) + name (+ '/' when slash): the new length, or 0 when it
 * would not fit. */
static size_t append(acc_t *a, size_t len, const char *name, size_t n, bool slash) {
  if (len + n + 2 > sizeof a->path) return 0;
  memcpy(a->path + len, name, n);
  len += n;
  if (slash) a->path[len++] = '/';
  a->path[len] = '\0';
  return len;
}

static bool has_magic(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\') return true;
  return false;
}

static bool is_globstar(const char *s, size_t n) { return n == 2 && s[0] == '*' && s[1] == '*'; }

/* The entry just appended to a->path, which "**" descends into: a
 * directory, not a link. */
static bool real_dir(const acc_t *a, const struct dirent *e) {
#ifdef _DIRENT_HAVE_D_TYPE
  if (e->d_type != DT_UNKNOWN) return e->d_type == DT_DIR;
#else
  (void)e;
#endif
  struct stat st;
  return lstat(a->path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void walk(acc_t *a, size_t len, const char *pat);
static void walk_globstar(acc_t *a, size_t len, const char *rest);

/* The component pat[0..clen) with wildcards, then rest (NULL: it was the
 * last), over the entries of a->path[0..len). Apart from walk so that its
 * name buffer is not in the frames of "**"'s recursion. */
__attribute__((noinline)) static void walk_wild(acc_t *a, size_t len, const char *pat,
                                                size_t clen, const char *rest) {
  char comp[PATH_CAP];
  if (clen >= sizeof comp) return;
  memcpy(comp, pat, clen);
  comp[clen] = '\0';
  DIR *d = open_dir(a, len);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (fnmatch(comp, e->d_name, FNM_PERIOD) != 0) continue;
    size_t at = append(a, len, e->d_name, strlen(e->d_name), rest != NULL);
    if (!at) continue;
    if (rest) walk(a, at, rest);
    else add(a, at);
  }
  closedir(d);
}

/* "**" then rest (NULL: "**" was the last component) below a->path[0..len):
 * rest here, then in each directory below, depth first. */
static void walk_globstar(acc_t *a, size_t len, const char *rest) {
  if (rest) walk(a, len, rest); /* zero directories */
  DIR *d = open_dir(a, len);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue; /* ".", "..", hidden: as '*' */
    size_t at = append(a, len, e->d_name, strlen(e->d_name), false);
    if (!at) continue;
    if (!rest) add(a, at); /* a trailing "**" matches everything below */
    if (real_dir(a, e) && at + 2 < sizeof a->path) {
      a->path[at] = '/';
      walk_globstar(a, at + 1, rest); /* one directory more */
    }
  }
  closedir(d);
}

/* Match pat against what is below a->path[0..len) (empty, or ending in '/'). */
static void walk(acc_t *a, size_t len, const char *pat) {
  while (*pat == '/') pat++;
  if (a->rc == GLOB_NOSPACE) return;
  if (!*pat) { /* the pattern ended in '/': the directory itself */
    struct stat st;
    a->path[len] = '\0';
    if (len && stat(a->path, &st) == 0 && S_ISDIR(st.st_mode)) add(a, len > 1 ? len - 1 : len);
    return;
  }
  const char *slash = strchr(pat, '/');
  size_t clen = slash ? (size_t)(slash - pat) : strlen(pat);
  const char *rest = slash ? slash + 1 : NULL;
  if (is_globstar(pat, clen)) {
    walk_globstar(a, len, rest);
    return;
  }
  if (!has_magic(pat, clen)) {
    size_t at = append(a, len, pat, clen, rest != NULL);
    if (!at) return;
    if (rest) {
      walk(a, at, rest);
    } else {
      struct stat st;
      if (lstat(a->path, &st) == 0) add(a, at);
    }
    return;
  }
  walk_wild(a, len, pat, clen, rest);
}

static int by_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Whether pattern has a "**" component. */
static bool has_globstar(const char *pattern) {
  for (const char *p = pattern; (p = strstr(p, "**")); p += 2)
    if ((p == pattern || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return true;
  return false;
}

int pc__prx_glob(const char *pattern, char ***paths, size_t *n, int *err_no) {
  *paths = NULL;
  *n = 0;
  *err_no = 0;
  if (!has_globstar(pattern)) {
    glob_t g = {0};
    errno = 0;
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g);
    *err_no = errno;
    if (rc == GLOB_NOMATCH) rc = 0;
    char **v = g.gl_pathc ? calloc(g.gl_pathc, sizeof *v) : NULL;
    if (g.gl_pathc && !v) rc = GLOB_NOSPACE;
    for (size_t i = 0; v && i < g.gl_pathc; i++)
      if ((v[*n] = strdup(g.gl_pathv[i]))) (*n)++;
    globfree(&g);
    if (v) qsort(v, *n, sizeof *v, by_str);
    *paths = v;
    return rc;
  }
  acc_t *a = calloc(1, sizeof *a);
  if (!a) return GLOB_NOSPACE;
  size_t len = 0;
  if (pattern[0] == '/') a->path[len++] = '/';
  walk(a, len, pattern);
  if (a->n) qsort(a->v, a->n, sizeof *a->v, by_str);
  size_t k = 0; /* each path once */
  for (size_t i = 0; i < a->n; i++) {
    if (k && !strcmp(a->v[k - 1], a->v[i])) free(a->v[i]);
    else a->v[k++] = a->v[i];
  }
  *paths = a->v;
  *n = k;
  *err_no = a->err_no;
  int rc = a->rc;
  free(a);
  return rc;
}
