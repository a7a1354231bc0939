/* path.c - can profcol write where its config says, checked without
 * writing: what `profcol validate` runs for every file and directory the
 * components will use at start (the file exporter's path, file_storage's
 * directory, log output paths), so that a config that validates starts.
 * Nothing here creates, opens for writing or changes anything. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

/* The directory part of path ("." for a bare name), in buf. */
static const char *parent_of(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(buf, n, ".");
  else if (slash == path) snprintf(buf, n, "/");
  else snprintf(buf, n, "%.*s", (int)(slash - path), path);
  return buf;
}

int pc_path_check_file(const char *path, bool follow_links, char *why, size_t why_size) {
  struct stat st;
  if ((follow_links ? stat(path, &st) : lstat(path, &st)) == 0) {
    if (S_ISLNK(st.st_mode)) {
      snprintf(why, why_size, "%s is a symbolic link, which is not followed (name the file "
               "itself)", path);
      return PC_EINVAL;
    }
    if (S_ISDIR(st.st_mode)) {
      snprintf(why, why_size, "%s is a directory, not a file", path);
      return PC_EINVAL;
    }
    if (access(path, W_OK) == 0) return 0;
    snprintf(why, why_size, "cannot write to %s: %s", path, strerror(errno));
    return PC_EIO;
  }
  if (errno != ENOENT) {
    snprintf(why, why_size, "%s: %s", path, strerror(errno));
    return PC_EIO;
  }
  char dir[PATH_MAX];
  parent_of(path, dir, sizeof dir);
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0) return 0;
  snprintf(why, why_size, "cannot create %s: directory %s: %s", path, dir,
           errno ? strerror(errno) : "not a directory");
  return PC_EIO;
}

int pc_path_check_dir(const char *path, bool create, char *why, size_t why_size) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      snprintf(why, why_size, "%s is not a directory", path);
      return PC_EINVAL;
    }
    if (access(path, W_OK | X_OK) == 0) return 0;
    snprintf(why, why_size, "directory %s is not writable by this process: %s", path,
             strerror(errno));
    return PC_EIO;
  }
  if (errno != ENOENT || !create) {
    snprintf(why, why_size, "directory %s: %s%s", path, strerror(errno),
             errno == ENOENT ? " (create it, or set create_directory: true)" : "");
    return PC_EIO;
  }
  /* To be created with its missing parents: the nearest one that exists
   * must take a new entry. */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  for (;;) {
    char up[PATH_MAX];
    parent_of(dir, up, sizeof up);
    if (strcmp(up, dir) == 0) break;
    snprintf(dir, sizeof dir, "%s", up);
    if (stat(dir, &st) != 0) continue;
    if (S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0) return 0;
    snprintf(why, why_size, "cannot create %s (create_directory: true): %s %s", path, dir,
             S_ISDIR(st.st_mode) ? "is not writable by this process" : "is not a directory");
    return PC_EIO;
  }
  snprintf(why, why_size, "cannot create %s: no parent directory of it exists", path);
  return PC_EIO;
}
