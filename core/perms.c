/* perms.c - a warning when a file that steers profcol (a config file, a
 * bearer token file) may be changed by users other than its owner, as
 * sshd's StrictModes checks its files: whoever can write the config decides
 * where profiles go and which clients are let in. A warning, not a refusal:
 * a container may well mount its config 0666, and stopping would turn a
 * doubtful setup into an outage. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

void pc_warn_unsafe_file(int fd, const char *path, const char *what, const char *component) {
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) return; /* a pipe, /dev/stdin: nothing to say */
  if (st.st_mode & S_IWOTH)
    pc_log(component, PC_LOG_WARN, "the %s %s is writable by every user (mode %04o): anyone on "
           "this host can change what profcol does; chmod o-w it", what, path,
           (unsigned)(st.st_mode & 07777));
  else if (st.st_uid != 0 && st.st_uid != geteuid())
    pc_log(component, PC_LOG_WARN, "the %s %s belongs to another user (uid %u), who can change "
           "what profcol does", what, path, (unsigned)st.st_uid);
  /* A directory anyone may write to (without the sticky bit, as /tmp has)
   * lets anyone replace the file itself. */
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
  struct stat ds;
  if (stat(dir, &ds) == 0 && (ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX))
    pc_log(component, PC_LOG_WARN, "the directory %s, which holds the %s %s, is writable by "
           "every user: anyone on this host can replace the file; chmod o-w it", dir, what,
           path);
}
