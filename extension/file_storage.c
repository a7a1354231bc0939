/* file_storage.c - the `file_storage` extension: a directory where exporters
 * keep their persistent sending queues (sending_queue.storage names it), as
 * in the Collector's contrib extension of that name.
 *
 * Its whole job is to hand exporters a directory and an fsync policy, in
 * the storage role of the host (component/host.h); exporters find it when
 * the service resolves them and use it in start (extensions start first).
 *
 * profcol defaults fsync to true (the Collector's default is false): an
 * acknowledged batch must survive a power loss, not only a crash. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "extension.h"

typedef struct {
  char *directory;
  bool fsync;
  bool create_directory;
} storage_cfg_t;

static const pc_opt_t storage_opts[] = {
    PC_OPT_STR("directory", NULL, storage_cfg_t, directory,
               "where queues are kept (required; one subdirectory per exporter)"),
    PC_OPT_BOOLEAN("fsync", "true", storage_cfg_t, fsync,
                   "fdatasync every batch before it is acknowledged (false: survives a crash "
                   "of profcol but not a power loss)"),
    PC_OPT_BOOLEAN("create_directory", "false", storage_cfg_t, create_directory,
                   "create directory (mode 0700) when it does not exist"),
    PC_OPT_TABLE_END,
};

typedef struct {
  pc_storage_t storage; /* the role it offers */
  char log_id[140];
  char *directory;
  bool create_directory;
} file_storage_t;

static void *storage_create(const pc_create_args_t *args, pc_err_t *err) {
  storage_cfg_t cfg = {0};
  if (pc_cfg_apply(storage_opts, args->cfg, &cfg, err)) return NULL;
  if (!cfg.directory || !cfg.directory[0]) {
    pc_cfg_error(err, args->cfg, PC_EINVAL,
                 "file_storage needs a directory (directory: /var/lib/profcol)");
    return NULL;
  }
  /* What start will need, checked now so that validate says it too. */
  char why[300];
  if (pc_path_check_dir(cfg.directory, cfg.create_directory, why, sizeof why)) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "directory"), PC_EINVAL, "%s", why);
    return NULL;
  }
  file_storage_t *s = pc_xcalloc(1, sizeof *s);
  snprintf(s->log_id, sizeof s->log_id, "extension:%s", args->id);
  s->directory = pc_xstrdup(cfg.directory);
  s->storage = (pc_storage_t){.directory = s->directory, .fsync = cfg.fsync};
  s->create_directory = cfg.create_directory;
  return s;
}

/* mkdir -p, each new directory 0700, as the Collector's create_directory
 * (os.MkdirAll). On failure returns errno (or sets *why) with the path that
 * could not be made in failed. */
static int make_dirs(const char *path, char *failed, size_t cap, const char **why) {
  char buf[PATH_MAX];
  snprintf(failed, cap, "%s", path);
  if (strlen(path) >= sizeof buf) return ENAMETOOLONG;
  memcpy(buf, path, strlen(path) + 1);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != 0) continue;
    char c = *p;
    *p = 0;
    struct stat st;
    if (mkdir(buf, 0700) && errno != EEXIST) {
      snprintf(failed, cap, "%s", buf);
      return errno;
    }
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) { /* EEXIST: a file, or a dangling link */
      snprintf(failed, cap, "%s", buf);
      *why = "it exists and is not a directory";
      return 0;
    }
    *p = c;
    if (!c) return 0;
  }
}

/* The directory must exist (or be created) and be writable before any
 * exporter relies on it. */
static int storage_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)loop;
  file_storage_t *s = self;
  struct stat st;
  if (stat(s->directory, &st) && errno == ENOENT && s->create_directory) {
    char failed[PATH_MAX];
    const char *why = NULL;
    int e = make_dirs(s->directory, failed, sizeof failed, &why);
    if (e || why)
      return pc_err_set(err, PC_EIO, "cannot create %s%s%s (create_directory: true): %s",
                        failed, strcmp(failed, s->directory) ? " on the way to " : "",
                        strcmp(failed, s->directory) ? s->directory : "",
                        why ? why : strerror(e));
    pc_log(s->log_id, PC_LOG_INFO, "created directory %s", s->directory);
  }
  if (stat(s->directory, &st))
    return pc_err_set(err, PC_EIO, "directory %s: %s%s", s->directory, strerror(errno),
                      errno == ENOENT ? " (create it, or set create_directory: true)" : "");
  if (!S_ISDIR(st.st_mode))
    return pc_err_set(err, PC_EIO, "%s is not a directory", s->directory);
  if (access(s->directory, W_OK | X_OK))
    return pc_err_set(err, PC_EIO, "directory %s is not writable by this process: %s",
                      s->directory, strerror(errno));
  pc_log(s->log_id, PC_LOG_INFO, "queues are kept in %s (fsync %s)", s->directory,
         s->storage.fsync ? "on every batch" : "off: a power loss can lose acknowledged batches");
  return 0;
}

static void storage_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static const void *storage_role(void *self, pc_role_t role) {
  return role == PC_ROLE_STORAGE ? &((file_storage_t *)self)->storage : NULL;
}

static void storage_destroy(void *self) {
  file_storage_t *s = self;
  free(s->directory);
  free(s);
}

const pc_component_t pc_extension_file_storage = {
    .type = "file_storage",
    .kind = PC_EXTENSION,
    .stability = "alpha",
    .options = storage_opts,
    .create = storage_create,
    .start = storage_start,
    .shutdown = storage_shutdown,
    .destroy = storage_destroy,
    .role = storage_role,
};
