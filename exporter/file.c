/* file.c - the `file` exporter: writes each profiles request to a local file,
 * as OTLP-JSON (one request per line) or protobuf (each request preceded by
 * its length as 4 big-endian bytes), like the Collector's file exporter.
 *
 * Each consume encodes the request and write(2)s it before returning 0, on
 * the loop thread: a request is KBs to a few MB, and a synchronous write into
 * the page cache is what makes "acknowledged" mean "in the file" (it survives
 * a crash of profcol). flush_interval is how often the file is fdatasync'd,
 * for a power loss; 0 never syncs. A failed write is cut back off the file,
 * so the file stays readable, and the client is told to retry (PC_EAGAIN).
 *
 * Rotation (when a rotation section is present): before a request would take
 * the file past max_megabytes it is renamed NAME-<timestamp>.EXT (the
 * Collector's lumberjack naming) and a new file is started; backups beyond
 * max_backups, or older than max_days, are deleted. Files are created 0600:
 * profiles reveal code and hosts.
 *
 * Workers (service.workers > 1): every worker writes a file of its own, so
 * that no two loops append to, cut back or rotate one file: worker 0 the
 * configured path, worker i the path with ".w<i>" before its extension
 * (profiles.json, profiles.w1.json, ...). /dev/stdout, /dev/stderr and
 * other paths under /dev (a device such as /dev/null) are the process's
 * own streams or not files at all: every worker writes to the path as it
 * is, each record with one write(2) in O_APPEND mode (on a pipe, two
 * workers' records longer than PIPE_BUF can interleave: point the exporter
 * at a file where that matters). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../component/component.h"
#include "../core/log.h"
#include "exporter.h"
#include "internal.h"

#define STAMP_LEN 23 /* 2006-01-02T15-04-05.000 */

typedef struct {
  char *path, *format;
  int64_t max_megabytes, max_days, max_backups;
  bool localtime;
  uint64_t flush_ms;
} file_cfg_t;

static const pc_opt_t rotation_opts[] = {
    PC_OPT_INT_RANGE("max_megabytes", "100", file_cfg_t, max_megabytes, 1, 1048576,
                     "start a new file before this size (MiB)"),
    PC_OPT_INT_RANGE("max_days", "0", file_cfg_t, max_days, 0, 36500,
                     "delete backups older than this; 0: keep by count only"),
    PC_OPT_INT_RANGE("max_backups", "100", file_cfg_t, max_backups, 0, 100000,
                     "rotated files kept; 0: keep all"),
    PC_OPT_BOOLEAN("localtime", "false", file_cfg_t, localtime,
                   "backup names use local time instead of UTC"),
    PC_OPT_TABLE_END,
};

static const pc_opt_t file_opts[] = {
    PC_OPT_STR("path", NULL, file_cfg_t, path,
               "file to write (required; created 0600; not through a symbolic link)"),
    PC_OPT_STR("format", "json", file_cfg_t, format,
               "json (one OTLP-JSON request per line) or proto (4-byte big-endian length + "
               "protobuf, per request)"),
    PC_OPT_SECTION("rotation", rotation_opts, "rotate by size (only when this section is set)"),
    PC_OPT_DUR("flush_interval", "1s", file_cfg_t, flush_ms, 0, 86400000,
               "fdatasync the file this often (each request is written before it is "
               "acknowledged); 0: never"),
    PC_OPT_TABLE_END,
};

typedef enum { F_CREATED, F_RUNNING, F_CLOSING, F_STOPPED } fstate_t;

typedef struct {
  pc_consumer_t consumer; /* first: the consumer's container */
  char id[128];
  char *path;
  bool proto;
  bool rotate;
  uint64_t max_bytes;
  int64_t max_days, max_backups;
  bool localtime;
  uint64_t flush_ms;
  int fd;
  uint64_t size;
  bool dirty;
  fstate_t state;
  uv_timer_t flush_timer;
  pc_buf_t scratch;
  pc__ratelimit_t rl_err;
  pc_done_cb done;
  void *done_arg;
} file_exporter_t;

/* ---- create ------------------------------------------------------------------------ */

static int file_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err);
static int file_consume_encoded(pc_consumer_t *self, pc_body_t *req, pc_err_t *err);

/* /dev/stdout and /dev/stderr are links to the process's own streams: the
 * one place the exporter follows a link (the Collector's users point the
 * file exporter at them to see what flows). */
static bool is_std_stream(const char *path) {
  return strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/stderr") == 0;
}

static void *file_create(const pc_create_args_t *args, pc_err_t *err) {
  file_cfg_t cfg = {0};
  if (pc_cfg_apply(file_opts, args->cfg, &cfg, err)) return NULL;
  if (!cfg.path || !cfg.path[0]) {
    pc_cfg_error(err, args->cfg, PC_EINVAL, "the file exporter needs a path");
    return NULL;
  }
  bool proto;
  if (!strcmp(cfg.format, "json")) proto = false;
  else if (!strcmp(cfg.format, "proto")) proto = true;
  else {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "format"), PC_EINVAL,
                 "expected json or proto, got \"%s\"", cfg.format);
    return NULL;
  }
  /* What start will open, checked now so that validate says it too. */
  char why[300];
  if (pc_path_check_file(cfg.path, is_std_stream(cfg.path), why, sizeof why)) {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "path"), PC_EINVAL, "%s", why);
    return NULL;
  }
  file_exporter_t *f = pc_xcalloc(1, sizeof *f);
  snprintf(f->id, sizeof f->id, "exporter:%s", args->id);
  f->path = strdup(cfg.path);
  if (!f->path) pc_oom();
  f->proto = proto;
  f->rotate = pc_cfg_get(args->cfg, "rotation") != NULL;
  f->max_bytes = (uint64_t)cfg.max_megabytes << 20;
  f->max_days = cfg.max_days;
  f->max_backups = cfg.max_backups;
  f->localtime = cfg.localtime;
  f->flush_ms = cfg.flush_ms;
  f->fd = -1;
  f->consumer.consume_profiles = file_consume_profiles;
  if (proto) f->consumer.consume_encoded = file_consume_encoded;
  f->consumer.retry_after_s = 5;
  return f;
}

static pc_consumer_t *file_consumer(void *self) { return &((file_exporter_t *)self)->consumer; }

/* ---- the file ------------------------------------------------------------------------ */

/* The file at path, never through a symbolic link: profcol often runs with
 * more rights than whoever can write to the directory, and a link planted
 * at the path would have it append profiles to (or create) a file of the
 * planter's choosing. O_NONBLOCK: a FIFO there fails at once rather than
 * blocking the loop until a reader comes (it is refused below anyway);
 * devices such as /dev/null are taken, and /dev/stdout or /dev/stderr
 * whatever they are (a pipe, under systemd or a container runtime). */
static int open_file(file_exporter_t *f, pc_err_t *err) {
  int nofollow = is_std_stream(f->path) ? 0 : O_NOFOLLOW;
  f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | nofollow | O_NONBLOCK, 0600);
  struct stat st;
  if (f->fd < 0 || fstat(f->fd, &st)) {
    int e = errno;
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (e == ELOOP)
      return pc_err_set(err, PC_EIO, "cannot open %s for writing: it is a symbolic link, which "
                        "the file exporter does not follow (set path to the file itself)",
                        f->path);
    return pc_err_set(err, PC_EIO, "cannot open %s for writing: %s", f->path, strerror(e));
  }
  if ((S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && !is_std_stream(f->path)) {
    close(f->fd);
    f->fd = -1;
    return pc_err_set(err, PC_EIO, "cannot write to %s: a %s is not a file to append to",
                      f->path, S_ISFIFO(st.st_mode) ? "FIFO" : "socket");
  }
  fcntl(f->fd, F_SETFL, O_APPEND); /* a device (/dev/null) blocks as usual */
  /* Created 0600 (profiles reveal code and hosts); a file that was there
   * keeps its mode, but say so when others may read it. */
  if (S_ISREG(st.st_mode) && (st.st_mode & 077))
    pc_log(f->id, PC_LOG_WARN, "%s is readable or writable by other users (mode %04o); "
           "profiles reveal code and hosts: chmod 600 it", f->path, (unsigned)(st.st_mode & 07777));
  f->size = (uint64_t)st.st_size;
  return 0;
}

/* Split path into directory ("." when none), stem and extension (".json"). */
static void path_parts(const char *path, char *dir, char *stem, char *ext, size_t cap) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (slash) snprintf(dir, cap, "%.*s", (int)(slash == path ? 1 : slash - path), path);
  else snprintf(dir, cap, ".");
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) dot = base + strlen(base);
  snprintf(stem, cap, "%.*s", (int)(dot - base), base);
  snprintf(ext, cap, "%s", dot);
}

static bool is_backup_name(const char *name, const char *stem, const char *ext) {
  size_t ls = strlen(stem), le = strlen(ext), n = strlen(name);
  if (n != ls + 1 + STAMP_LEN + le || strncmp(name, stem, ls) || name[ls] != '-' ||
      strcmp(name + n - le, ext))
    return false;
  const char *t = name + ls + 1; /* 2006-01-02T15-04-05.000 */
  for (int i = 0; i < STAMP_LEN; i++) {
    bool digit = t[i] >= '0' && t[i] <= '9';
    if (i == 4 || i == 7 || i == 13 || i == 16 ? t[i] != '-' : i == 10 ? t[i] != 'T'
        : i == 19 ? t[i] != '.' : !digit)
      return false;
  }
  return true;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Delete backups beyond max_backups (oldest first) and older than max_days. */
static void prune_backups(file_exporter_t *f) {
  char dir[4096], stem[4096], ext[4096];
  path_parts(f->path, dir, stem, ext, sizeof dir);
  DIR *d = opendir(dir);
  if (!d) return;
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!is_backup_name(e->d_name, stem, ext)) continue;
    if (n == cap) names = pc_xrealloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
    if (!(names[n++] = strdup(e->d_name))) pc_oom();
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_str); /* the stamp sorts by time */
  time_t now = time(NULL);
  for (size_t i = 0; i < n; i++) {
    char *full;
    if (asprintf(&full, "%s/%s", dir, names[i]) < 0) pc_oom();
    struct stat st;
    bool too_many = f->max_backups && n - i > (size_t)f->max_backups;
    bool too_old = f->max_days && !stat(full, &st) && now - st.st_mtime > f->max_days * 86400;
    if ((too_many || too_old) && unlink(full) && errno != ENOENT)
      pc_log(f->id, PC_LOG_WARN, "cannot delete old backup %s: %s", full, strerror(errno));
    free(full);
    free(names[i]);
  }
  free(names);
}

/* Move the full file aside as NAME-<stamp>.EXT and start a new one. */
static int rotate(file_exporter_t *f) {
  char dir[4096], stem[4096], ext[4096], *backup;
  path_parts(f->path, dir, stem, ext, sizeof dir);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  if (f->localtime) localtime_r(&ts.tv_sec, &tm);
  else gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  size_t k = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
  snprintf(stamp + k, sizeof stamp - k, ".%03ld", ts.tv_nsec / 1000000);
  if (asprintf(&backup, "%s/%s-%s%s", dir, stem, stamp, ext) < 0) pc_oom();
  /* Two rotations within a millisecond: wait for the next stamp rather than
   * overwrite a backup. */
  struct stat st;
  int rc = 0;
  if (!stat(backup, &st)) rc = -EEXIST;
  if (!rc && f->dirty) fdatasync(f->fd);
  if (!rc && rename(f->path, backup)) rc = -errno;
  if (!rc) {
    close(f->fd);
    f->fd = -1;
    f->dirty = false;
    pc_err_t err = {0};
    rc = open_file(f, &err);
    pc_log(f->id, rc ? PC_LOG_ERROR : PC_LOG_INFO, "rotated %s to %s%s%s", f->path, backup,
           rc ? "; " : "", rc ? err.msg : "");
  }
  free(backup);
  if (!rc) prune_backups(f);
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? -errno : -EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The 4-byte big-endian length before a proto record's bytes, which follow
 * it in scratch. */
static int put_proto_length(file_exporter_t *f, pc_err_t *err) {
  size_t len = f->scratch.n - 4;
  if (len > UINT32_MAX)
    return pc_err_set(err, PC_ELIMIT, "a %zu-byte request does not fit the 4-byte length "
                      "prefix of the proto format", len);
  for (int i = 0; i < 4; i++) f->scratch.p[i] = (uint8_t)(len >> (24 - 8 * i));
  return 0;
}

/* One request as a record: proto "len(4, big-endian) + bytes", json "line\n". */
static int encode_record(file_exporter_t *f, const pc_request_t *req, pc_err_t *err) {
  f->scratch.n = 0;
  int rc;
  if (f->proto) {
    if ((rc = pc_buf_append(&f->scratch, "\0\0\0\0", 4)) || (rc = pc_proto_encode(req, &f->scratch)))
      return pc_err_set(err, rc, "cannot encode the request: %s", pc_strerror(rc));
    return put_proto_length(f, err);
  }
  if ((rc = pc_json_encode(req, &f->scratch)) || (rc = pc_buf_append(&f->scratch, "\n", 1)))
    return pc_err_set(err, rc, "cannot encode the request: %s", pc_strerror(rc));
  return 0;
}

/* A file to write to, or PC_EAGAIN. */
static int check_writable(file_exporter_t *f, pc_err_t *err) {
  if (f->state != F_RUNNING)
    return pc_err_set(err, PC_EAGAIN, "the file exporter is not running");
  /* A rotation whose reopen failed left no file: try again now. */
  if (f->fd < 0 && open_file(f, err)) {
    err->code = PC_EAGAIN;
    return PC_EAGAIN;
  }
  return 0;
}

static int write_record(file_exporter_t *f, pc_err_t *err);

static int file_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  file_exporter_t *f = (file_exporter_t *)self;
  int rc = check_writable(f, err);
  if (!rc) rc = encode_record(f, req, err);
  return rc ? rc : write_record(f, err);
}

/* Proto format only: the bytes are the record. */
static int file_consume_encoded(pc_consumer_t *self, pc_body_t *req, pc_err_t *err) {
  file_exporter_t *f = (file_exporter_t *)self;
  int rc = check_writable(f, err);
  if (rc) return rc;
  const pc_bytes_t *pb = req->v[PC_ENC_IDENTITY];
  f->scratch.n = 0;
  if (pc_buf_append(&f->scratch, "\0\0\0\0", 4) || pc_buf_append(&f->scratch, pb->p, pb->n))
    pc_oom();
  rc = put_proto_length(f, err);
  return rc ? rc : write_record(f, err);
}

/* Append the record in scratch to the file, rotating first when it would
 * pass max_megabytes. */
static int write_record(file_exporter_t *f, pc_err_t *err) {
  int rc;
  uint64_t skipped;
  char sup[48];
  if (f->rotate && f->size > 0 && f->size + f->scratch.n > f->max_bytes && (rc = rotate(f)) &&
      rc != -EEXIST && pc__ratelimit(&f->rl_err, 10000, &skipped))
    pc_log(f->id, PC_LOG_ERROR, "cannot rotate %s (%s)%s%s", f->path, strerror(-rc),
           f->fd >= 0 ? "; still writing to it" : "", pc__suppressed(skipped, sup));
  if (f->fd < 0) return pc_err_set(err, PC_EAGAIN, "%s could not be reopened", f->path);
  if ((rc = write_all(f->fd, f->scratch.p, f->scratch.n))) {
    /* Cut the partial record back off so every record in the file is whole. */
    if (ftruncate(f->fd, (off_t)f->size)) {}
    if (pc__ratelimit(&f->rl_err, 10000, &skipped))
      pc_log(f->id, PC_LOG_ERROR, "cannot write %zu bytes to %s: %s; refusing data so clients "
             "retry%s", f->scratch.n, f->path, strerror(-rc), pc__suppressed(skipped, sup));
    return pc_err_set(err, PC_EAGAIN, "cannot write to %s: %s", f->path, strerror(-rc));
  }
  f->size += f->scratch.n;
  f->dirty = true;
  return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void flush_on_tick(uv_timer_t *t) {
  file_exporter_t *f = container_of(t, file_exporter_t, flush_timer);
  if (f->dirty && f->fd >= 0 && fdatasync(f->fd) == 0) f->dirty = false;
}

/* The path for worker i > 0: ".w<i>" before the extension of the name. */
static void worker_path(file_exporter_t *f, uint32_t i) {
  const char *slash = strrchr(f->path, '/');
  const char *name = slash ? slash + 1 : f->path;
  const char *dot = strrchr(name, '.');
  size_t stem = dot && dot != name ? (size_t)(dot - f->path) : strlen(f->path);
  size_t n = strlen(f->path) + 16;
  char *p = pc_xmalloc(n);
  snprintf(p, n, "%.*s.w%" PRIu32 "%s", (int)stem, f->path, i, f->path + stem);
  free(f->path);
  f->path = p;
}

static int file_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  file_exporter_t *f = self;
  pc_worker_t w = pc_worker_self();
  if (w.index > 0 && strncmp(f->path, "/dev/", 5) != 0) worker_path(f, w.index);
  int rc = open_file(f, err);
  if (rc) return rc;
  uv_timer_init(loop, &f->flush_timer);
  if (f->flush_ms) uv_timer_start(&f->flush_timer, flush_on_tick, f->flush_ms, f->flush_ms);
  f->state = F_RUNNING;
  pc_log(f->id, PC_LOG_INFO, "writing %s to %s%s", f->proto ? "length-prefixed protobuf" : "JSON lines",
         f->path, f->rotate ? " with rotation" : "");
  return 0;
}

static void file_on_timer_close(uv_handle_t *h) {
  file_exporter_t *f = container_of((uv_timer_t *)h, file_exporter_t, flush_timer);
  f->state = F_STOPPED;
  if (f->done) f->done(f->done_arg);
}

static void file_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)deadline_ms;
  file_exporter_t *f = self;
  if (f->state != F_RUNNING) {
    done(arg);
    return;
  }
  if (f->dirty && fdatasync(f->fd) == 0) f->dirty = false;
  f->state = F_CLOSING;
  f->done = done;
  f->done_arg = arg;
  uv_close((uv_handle_t *)&f->flush_timer, file_on_timer_close);
}

static void file_destroy(void *self) {
  file_exporter_t *f = self;
  if (f->state == F_RUNNING || f->state == F_CLOSING) {
    pc_log(f->id, PC_LOG_ERROR, "destroyed before its shutdown finished; leaking it instead");
    return;
  }
  if (f->fd >= 0) close(f->fd);
  pc_buf_free(&f->scratch);
  free(f->path);
  free(f);
}

const pc_component_t pc_exporter_file = {
    .type = "file",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES,
    .stability = "alpha",
    .options = file_opts,
    .create = file_create,
    .consumer = file_consumer,
    .start = file_start,
    .shutdown = file_shutdown,
    .destroy = file_destroy,
};
