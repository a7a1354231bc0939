/* pprof_file.c - the pprof receiver's file mode: pprof files matched by a
 * glob (include), read on a schedule and handed to conversion jobs
 * (pprof.c), the way `go test -cpuprofile` or a cron'd curl leaves them.
 *
 * A pass: match the glob (pprof_glob.c: glob(3), and "**") and stat every
 * match (in libuv's thread pool: a directory on a slow disk must not stall
 * the loop), keep the regular files that are new or changed since they
 * were last read (device, inode, size and mtime; every match with
 * reread_unchanged, as the Collector contrib reads them), then read and
 * convert them one after the other (reading in the thread pool too,
 * bounded by max_file_size), so a pass holds one file
 * at a time however many match. The next pass starts at the next interval;
 * a pass still running then makes that one skip (counted). With a timeout,
 * a pass stops starting files once it is over; those wait for the next.
 *
 * A file that cannot be read, or is not a pprof profile, is logged and
 * counted once, and read again when it changes (a profile still being
 * written when the pass found it is read once it is whole). What is
 * remembered of files is only those the last glob matched, so a directory
 * whose files come and go does not grow it. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pprofrx.h"

#define SCOPE_NAME "profcol/receiver/pprof/file"

typedef struct {
  char *path;
  uint64_t dev, ino, size;
  int64_t mtime_ns;
  bool stat_ok, regular;
  bool todo; /* to read in this pass */
} entry_t;

struct pc__prx_files {
  pc__prx_t *rx;
  char *include;
  uint64_t interval_ms, delay_ms, timeout_ms, max_size;
  bool reread;
  uv_loop_t *loop;
  uv_timer_t timer;
  bool timer_open;
  /* what the last completed glob matched, sorted by path, with what was
   * read of each */
  entry_t *seen;
  size_t n_seen;
  /* the pass */
  bool pass_running;
  uv_work_t glob_work;
  entry_t *matched; /* the glob's matches with their stat, sorted */
  size_t n_matched;
  int glob_rc;
  int glob_errno;
  size_t cursor;
  uint64_t deadline; /* loop time; 0: none */
  size_t read_this_pass;
  /* the file being read */
  uv_work_t read_work;
  pc__prx_job_t *job;
  entry_t *cur;
  int read_errno;
  bool read_too_large;
  entry_t read_stat;
  pc__prx_counters_t cnt;
  uv_work_t *active; /* glob_work or read_work while submitted */
  pc__prx_gate_t gate;
  bool closing, closed;
};

static void entries_free(entry_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].path);
  free(v);
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->path, ((const entry_t *)b)->path);
}

static void stat_into(const struct stat *st, entry_t *e) {
  e->dev = (uint64_t)st->st_dev;
  e->ino = (uint64_t)st->st_ino;
  e->size = (uint64_t)st->st_size;
  e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  e->regular = S_ISREG(st->st_mode);
  e->stat_ok = true;
}

static bool same_file(const entry_t *a, const entry_t *b) {
  return a->stat_ok && b->stat_ok && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static void warn(pc__prx_files_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(pc__prx_files_t *f, const char *fmt, ...) {
  uint64_t skipped;
  if (!pc__prx_gate(&f->gate, &skipped)) return;
  char msg[768], sup[48];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pc_log(f->rx->log_id, PC_LOG_WARN, "%s%s", msg, pc_suppressed(skipped, sup));
}

/* ---- a pass -------------------------------------------------------------------------- */

static void pass_next(pc__prx_files_t *f);
static void check_closed(pc__prx_files_t *f);

static void pass_end(pc__prx_files_t *f) {
  /* What was matched becomes what is remembered; files not read this pass
   * (timeout, shutdown) keep their old record, so they count as new. */
  for (size_t i = 0; i < f->n_matched; i++) {
    entry_t *m = &f->matched[i];
    if (!m->todo) continue; /* read (m holds what was read) or unchanged (m holds the old) */
    /* bsearch's array must not be NULL, even when empty (the first pass) */
    entry_t *old = f->n_seen ? bsearch(m, f->seen, f->n_seen, sizeof *m, by_path) : NULL;
    if (old) {
      m->dev = old->dev, m->ino = old->ino, m->size = old->size, m->mtime_ns = old->mtime_ns;
      m->stat_ok = old->stat_ok;
    } else {
      m->stat_ok = false;
    }
  }
  entries_free(f->seen, f->n_seen);
  f->seen = f->matched;
  f->n_seen = f->n_matched;
  f->matched = NULL;
  f->n_matched = 0;
  if (f->read_this_pass)
    pc_log(f->rx->log_id, PC_LOG_DEBUG, "pass over %s: %zu files read", f->include,
           f->read_this_pass);
  f->pass_running = false;
  check_closed(f);
}

/* Thread pool: glob and stat every match. */
static void glob_run(uv_work_t *w) {
  pc__prx_files_t *f = container_of(w, pc__prx_files_t, glob_work);
  char **paths;
  size_t n;
  f->glob_rc = pc__prx_glob(f->include, &paths, &n, &f->glob_errno);
  f->matched = NULL;
  f->n_matched = 0;
  if (n) {
    f->matched = calloc(n, sizeof *f->matched);
    if (!f->matched) f->glob_rc = GLOB_NOSPACE;
  }
  for (size_t i = 0; i < n; i++) {
    if (!f->matched) {
      free(paths[i]);
      continue;
    }
    entry_t *e = &f->matched[f->n_matched++];
    e->path = paths[i]; /* sorted by path: pc__prx_glob sorts */
    struct stat st;
    if (stat(e->path, &st) == 0) stat_into(&st, e);
  }
  free(paths);
}

static void glob_done(uv_work_t *w, int status) {
  pc__prx_files_t *f = container_of(w, pc__prx_files_t, glob_work);
  f->active = NULL;
  if (status < 0 || f->closing) {
    entries_free(f->matched, f->n_matched);
    f->matched = NULL;
    f->n_matched = 0;
    f->pass_running = false;
    check_closed(f);
    return;
  }
  if (f->glob_rc == GLOB_ABORTED)
    warn(f, "cannot read a directory of include \"%s\": %s; matching what can be read",
         f->include, strerror(f->glob_errno ? f->glob_errno : EIO));
  else if (f->glob_rc == GLOB_NOSPACE)
    warn(f, "out of memory matching include \"%s\"; trying again next pass", f->include);
  for (size_t i = 0; i < f->n_matched; i++) {
    entry_t *m = &f->matched[i];
    /* bsearch's array must not be NULL, even when empty (the first pass) */
    entry_t *old = f->n_seen ? bsearch(m, f->seen, f->n_seen, sizeof *m, by_path) : NULL;
    m->todo = m->stat_ok && m->regular && (f->reread || !old || !same_file(m, old));
  }
  f->cursor = 0;
  f->read_this_pass = 0;
  f->deadline = f->timeout_ms ? uv_now(f->loop) + f->timeout_ms : 0;
  pass_next(f);
}

/* Thread pool: read the current file into the job's buffer (bounded). */
static void read_run(uv_work_t *w) {
  pc__prx_files_t *f = container_of(w, pc__prx_files_t, read_work);
  pc__prx_job_t *j = f->job;
  f->read_errno = 0;
  f->read_too_large = false;
  int fd = open(f->cur->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    f->read_errno = errno;
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    f->read_errno = errno;
  } else if (!S_ISREG(st.st_mode)) {
    f->read_errno = EISDIR;
  } else {
    stat_into(&st, &f->read_stat);
    if ((uint64_t)st.st_size > f->max_size) f->read_too_large = true;
  }
  j->own.n = 0;
  while (!f->read_errno && !f->read_too_large) {
    if (j->own.cap - j->own.n < 65536 &&
        pc_buf_reserve(&j->own, j->own.n < 65536 ? 65536 : j->own.n) != 0) {
      f->read_errno = ENOMEM;
      break;
    }
    ssize_t r = read(fd, j->own.p + j->own.n, j->own.cap - j->own.n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) f->read_errno = errno;
    if (r <= 0) break;
    j->own.n += (size_t)r;
    if (j->own.n > f->max_size) f->read_too_large = true; /* it grew while read */
  }
  close(fd);
}

static void on_file_converted(pc__prx_job_t *j, void *origin) {
  pc__prx_files_t *f = origin;
  entry_t *e = f->cur;
  if (j->failed == PC__PRX_FAILED_CONSUME) {
    f->cnt.failed[PC__PRX_REFUSED]++;
    warn(f, "the pipeline refused the %" PRIu64 " profiles of %s: %s", j->profiles, e->path,
         pc__prx_job_why(j));
  } else if (j->failed != PC__PRX_OK && j->rc == PC_ELIMIT) {
    f->cnt.failed[PC__PRX_TOO_LARGE]++;
    warn(f, "%s inflates past max_file_size (%" PRIu64 " bytes): skipped until it changes",
         e->path, f->max_size);
  } else if (j->failed != PC__PRX_OK) {
    f->cnt.failed[PC__PRX_BAD_PAYLOAD]++;
    warn(f, "%s (%zu bytes) is not a pprof profile: %s; skipped until it changes", e->path,
         j->in_n, pc__prx_job_why(j));
  }
  pc__prx_job_put(j);
  f->job = NULL;
  pass_next(f);
}

static void read_done(uv_work_t *w, int status) {
  pc__prx_files_t *f = container_of(w, pc__prx_files_t, read_work);
  f->active = NULL;
  pc__prx_job_t *j = f->job;
  entry_t *e = f->cur;
  if (f->read_stat.stat_ok) { /* what was read is what is remembered */
    e->dev = f->read_stat.dev, e->ino = f->read_stat.ino, e->size = f->read_stat.size;
    e->mtime_ns = f->read_stat.mtime_ns;
    e->stat_ok = true;
  }
  e->todo = false;
  f->read_this_pass++;
  f->cnt.attempts++;
  if (status < 0 || f->read_errno || f->read_too_large) {
    if (status < 0) {
      /* cancelled at shutdown: not read after all */
      e->todo = true;
      f->cnt.attempts--;
    } else if (f->read_too_large) {
      f->cnt.failed[PC__PRX_TOO_LARGE]++;
      warn(f, "%s is larger than max_file_size (%" PRIu64 " bytes): skipped until it "
           "changes", e->path, f->max_size);
    } else {
      f->cnt.failed[PC__PRX_UNREADABLE]++;
      warn(f, "cannot read %s: %s; trying again when it changes", e->path,
           strerror(f->read_errno));
    }
    pc__prx_job_put(j);
    f->job = NULL;
    pass_next(f);
    return;
  }
  j->in = j->own.p;
  j->in_n = j->own.n;
  j->limit = (size_t)f->max_size;
  j->scope_name = SCOPE_NAME;
  /* Which file: profiles of several programs read by one glob stay apart
   * down the pipeline. e->path outlives the job (the pass waits for it). */
  pc__prx_job_attr_str(j, "file.path", (pc_str_t){(const uint8_t *)e->path, strlen(e->path)});
  j->cnt = &f->cnt;
  j->done = on_file_converted;
  j->origin = f;
  pc__prx_job_run(j);
}

/* The next file of the pass, or its end. */
static void pass_next(pc__prx_files_t *f) {
  while (f->cursor < f->n_matched && !f->matched[f->cursor].todo) f->cursor++;
  if (f->closing || f->cursor == f->n_matched) {
    pass_end(f);
    return;
  }
  if (f->deadline && uv_now(f->loop) >= f->deadline) {
    size_t left = 0;
    for (size_t i = f->cursor; i < f->n_matched; i++) left += f->matched[i].todo;
    pc_log(f->rx->log_id, PC_LOG_INFO, "pass over %s stopped at its timeout (%" PRIu64
           " ms): %zu files wait for the next pass", f->include, f->timeout_ms, left);
    pass_end(f);
    return;
  }
  f->cur = &f->matched[f->cursor++];
  f->job = pc__prx_job_get(f->rx);
  f->read_stat = (entry_t){0};
  f->active = &f->read_work;
  if (uv_queue_work(f->loop, &f->read_work, read_run, read_done) != 0) {
    read_run(&f->read_work);
    read_done(&f->read_work, 0);
  }
}

static void timer_on_tick(uv_timer_t *t) {
  pc__prx_files_t *f = container_of(t, pc__prx_files_t, timer);
  if (f->pass_running) {
    f->cnt.skipped++;
    warn(f, "pass over %s skipped: the previous one still runs (raise collection_interval, "
         "or set timeout)", f->include);
    return;
  }
  f->pass_running = true;
  f->active = &f->glob_work;
  if (uv_queue_work(f->loop, &f->glob_work, glob_run, glob_done) != 0) {
    glob_run(&f->glob_work);
    glob_done(&f->glob_work, 0);
  }
}

/* ---- lifecycle ----------------------------------------------------------------------- */

pc__prx_files_t *pc__prx_files_new(pc__prx_t *rx, const pc__prx_file_cfg_t *cfg, pc_err_t *err) {
  (void)err;
  pc__prx_files_t *f = pc_xcalloc(1, sizeof *f);
  f->rx = rx;
  f->include = pc_xstrdup(cfg->include);
  f->interval_ms = cfg->interval_ms;
  f->delay_ms = cfg->initial_delay_ms;
  f->timeout_ms = cfg->timeout_ms;
  f->max_size = cfg->max_size;
  f->reread = cfg->reread_unchanged;
  return f;
}

int pc__prx_files_start(pc__prx_files_t *f, uv_loop_t *loop, pc_err_t *err) {
  (void)err;
  f->loop = loop;
  uv_timer_init(loop, &f->timer);
  f->timer_open = true;
  uv_timer_start(&f->timer, timer_on_tick, f->delay_ms, f->interval_ms);
  pc_log(f->rx->log_id, PC_LOG_INFO, "reading pprof files matching %s every %" PRIu64 " ms "
         "(%s)", f->include, f->interval_ms,
         f->reread ? "every match each time" : "new and changed files");
  return 0;
}

static void on_timer_closed(uv_handle_t *h) {
  pc__prx_files_t *f = container_of(h, pc__prx_files_t, timer);
  f->timer_open = false;
  check_closed(f);
}

static void check_closed(pc__prx_files_t *f) {
  if (!f->closing || f->closed || f->timer_open || f->pass_running) return;
  f->closed = true;
  pc__prx_part_closed(f->rx);
}

void pc__prx_files_close(pc__prx_files_t *f) {
  f->closing = true;
  /* A glob or read queued and not started yet is dropped; one running
   * finishes, and its file's conversion too. */
  if (f->active) uv_cancel((uv_req_t *)f->active);
  if (f->timer_open) {
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
  } else {
    check_closed(f);
  }
}

void pc__prx_files_free(pc__prx_files_t *f) {
  if (!f) return;
  entries_free(f->seen, f->n_seen);
  entries_free(f->matched, f->n_matched);
  free(f->include);
  free(f);
}

void pc__prx_files_metrics(pc__prx_files_t *f, pc_metrics_t *m) {
  pc__prx_counters_metrics(&f->cnt, "file", m);
}
