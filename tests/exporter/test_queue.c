/* test_queue.c - exporter/queue.c: caps, FIFO order, shared bodies, and the
 * persistent variant: replay after close and after SIGKILL, acks, segment
 * deletion, damaged files set aside, one user per directory. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../component/component.h"
#include "../../exporter/internal.h"
#include "fixture.h"

/* A body whose bytes encode its number, of a given size. No Check calls:
 * forked children use it too (see persistent_survives_sigkill). */
static pc__body_t *numbered_body(uint32_t i, size_t n) {
  pc_buf_t b = {0};
  if (pc_buf_reserve(&b, n)) abort();
  for (size_t k = 0; k < n; k++) b.p[k] = (uint8_t)(k < 4 ? i >> (8 * k) : i * 31 + k);
  b.n = n;
  return pc__body_from_buf_take(&b);
}

static uint32_t body_number(const pc__body_t *b) {
  return (uint32_t)b->p[0] | (uint32_t)b->p[1] << 8 | (uint32_t)b->p[2] << 16 |
         (uint32_t)b->p[3] << 24;
}

static bool body_intact(const pc__body_t *b, size_t n) {
  pc__body_t *want = numbered_body(body_number(b), n);
  bool ok = b->n == n && memcmp(b->p, want->p, n) == 0;
  pc__body_unref(want);
  return ok;
}

static const pc__item_meta_t meta = {.signal = PC_SIGNAL_PROFILES, .json = 0,
                                     .encoding = PC_ENC_GZIP, .profiles = 3};

static int push_one(pc__queue_t *q, uint32_t i, size_t n) {
  pc__body_t *b = numbered_body(i, n);
  pc_err_t err = {0};
  pc__item_meta_t m = meta;
  m.profiles = i;
  int rc = pc__queue_push(q, &b, &m, 1, &err);
  pc__body_unref(b);
  return rc;
}

static pc__queue_t *open_q(const char *dir, uint64_t max_items, uint64_t max_bytes,
                           uint64_t seg_bytes) {
  pc__queue_opts_t o = {.log_id = "test", .max_items = max_items, .max_bytes = max_bytes,
                        .dir = dir, .fsync = true, .segment_bytes = seg_bytes};
  pc__queue_t *q = NULL;
  pc_err_t err = {0};
  ck_assert_msg(pc__queue_open(&o, &q, &err) == 0, "open: %s", err.msg);
  return q;
}

static int count_files(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name), ls = strlen(suffix);
    if (l > ls && !strcmp(e->d_name + l - ls, suffix)) n++;
  }
  closedir(d);
  return n;
}

/* The path of the only file with that suffix. */
static char *only_file(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  char *path = NULL;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name), ls = strlen(suffix);
    if (l > ls && !strcmp(e->d_name + l - ls, suffix)) {
      ck_assert_ptr_null(path);
      ck_assert_int_ge(asprintf(&path, "%s/%s", dir, e->d_name), 0);
    }
  }
  closedir(d);
  ck_assert_ptr_nonnull(path);
  return path;
}

START_TEST(memory_fifo_caps_and_shared_bodies) {
  pc__queue_t *q = open_q(NULL, 3, 1000, 0);
  pc_err_t err = {0};
  pc__body_t *b = numbered_body(7, 100);
  pc__item_meta_t m = meta;
  ck_assert_int_eq(pc__queue_push(q, &b, &m, 1, &err), 0);
  ck_assert_uint_eq(atomic_load(&b->refs), 2); /* the queue shares the body, no copy */
  ck_assert_int_eq(push_one(q, 8, 100), 0);
  ck_assert_int_eq(push_one(q, 9, 100), 0);
  ck_assert_int_eq(push_one(q, 10, 100), PC_EAGAIN); /* 3 batches held */
  ck_assert_int_eq(pc__queue_check_room(q, &err), PC_EAGAIN);
  pc__qitem_t *it = pc__queue_pop(q);
  ck_assert_ptr_eq(it->body, b);
  ck_assert_int_eq(push_one(q, 10, 100), PC_EAGAIN); /* popped is still held */
  pc__queue_done(q, it);
  ck_assert_uint_eq(atomic_load(&b->refs), 1);
  pc__body_unref(b);
  ck_assert_int_eq(push_one(q, 10, 100), 0);
  for (uint32_t want = 8; want <= 10; want++) {
    it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), want);
    ck_assert_uint_eq(it->meta.profiles, want);
    pc__queue_done(q, it);
  }
  ck_assert_ptr_null(pc__queue_pop(q));
  pc__queue_stats_t st;
  pc__queue_stats(q, &st);
  ck_assert_uint_eq(st.held_items, 0);
  ck_assert_uint_eq(st.held_bytes, 0);
  ck_assert_uint_eq(st.refused, 3);
  ck_assert_uint_eq(pc__queue_close(q), 0);
}
END_TEST

START_TEST(memory_byte_cap_all_or_nothing) {
  pc__queue_t *q = open_q(NULL, 100, 1000, 0);
  pc_err_t err = {0};
  ck_assert_int_eq(push_one(q, 1, 600), 0);
  pc__body_t *two[2] = {numbered_body(2, 200), numbered_body(3, 300)};
  pc__item_meta_t metas[2] = {meta, meta};
  ck_assert_int_eq(pc__queue_push(q, two, metas, 2, &err), PC_EAGAIN); /* 1100 > 1000 */
  pc__queue_stats_t st;
  pc__queue_stats(q, &st);
  ck_assert_uint_eq(st.held_items, 1); /* neither of the two went in */
  ck_assert_int_eq(push_one(q, 4, 1001), PC_ELIMIT); /* can never fit */
  pc__body_unref(two[0]);
  pc__body_unref(two[1]);
  ck_assert_uint_eq(pc__queue_close(q), 1); /* one dropped from memory */
}
END_TEST

START_TEST(persistent_replays_unsent_in_order) {
  char *dir = fx_tempdir();
  char *qdir;
  ck_assert_int_ge(asprintf(&qdir, "%s/q", dir), 0);
  pc__queue_t *q = open_q(qdir, 100, 1 << 20, 0);
  for (uint32_t i = 0; i < 5; i++) ck_assert_int_eq(push_one(q, i, 1000 + i), 0);
  for (int k = 0; k < 2; k++) pc__queue_done(q, pc__queue_pop(q)); /* 0 and 1 sent */
  pc__qitem_t *inflight = pc__queue_pop(q);                       /* 2 in flight */
  pc__queue_release(q, inflight); /* shutdown while sending: kept */
  pc__queue_close(q);
  struct stat st;
  ck_assert_int_eq(stat(qdir, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);

  q = open_q(qdir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, 3);
  for (uint32_t want = 2; want < 5; want++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(body_number(it->body), want);
    ck_assert(body_intact(it->body, 1000 + want));
    ck_assert_uint_eq(it->meta.profiles, want);
    ck_assert_uint_eq(it->meta.encoding, PC_ENC_GZIP);
    pc__queue_done(q, it);
  }
  ck_assert_ptr_null(pc__queue_pop(q));
  pc__queue_close(q);
  /* Everything sent: no segment or ack file is left behind. */
  ck_assert_int_eq(count_files(qdir, ".seg"), 0);
  ck_assert_int_eq(count_files(qdir, ".ack"), 0);
  fx_rmtree(dir);
  free(qdir);
  free(dir);
}
END_TEST

START_TEST(persistent_segments_roll_and_are_deleted) {
  char *dir = fx_tempdir();
  /* A segment past 1000 bytes takes no more: one 1520-byte record each. */
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 1000);
  for (uint32_t i = 0; i < 6; i++) ck_assert_int_eq(push_one(q, i, 1500), 0);
  ck_assert_int_eq(count_files(dir, ".seg"), 6);
  for (int k = 0; k < 3; k++) pc__queue_done(q, pc__queue_pop(q));
  ck_assert_int_eq(count_files(dir, ".seg"), 3); /* fully sent segments are gone */
  pc__queue_close(q);
  q = open_q(dir, 100, 1 << 20, 1000);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, 3);
  for (uint32_t want = 3; want < 6; want++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), want);
    pc__queue_done(q, it);
  }
  pc__queue_close(q);
  ck_assert_int_eq(count_files(dir, ".seg"), 0);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

START_TEST(persistent_one_user_per_directory) {
  char *dir = fx_tempdir();
  pc__queue_t *q = open_q(dir, 10, 1 << 20, 0);
  pc__queue_opts_t o = {.log_id = "test", .max_items = 10, .dir = dir, .fsync = true};
  pc__queue_t *q2 = NULL;
  pc_err_t err = {0};
  ck_assert_int_eq(pc__queue_open(&o, &q2, &err), PC_EAGAIN);
  ck_assert_ptr_null(q2);
  ck_assert_ptr_nonnull(strstr(err.msg, "in use"));
  pc__queue_close(q);
  ck_assert_int_eq(pc__queue_open(&o, &q2, &err), 0);
  pc__queue_close(q2);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

/* A child pushes batches and reports each acknowledged one on a pipe; it is
 * killed with SIGKILL mid-stream. Every batch it reported must be replayed.
 * The child makes no Check call: in fork mode each assertion writes to
 * Check's message file, and a kill in the middle of that would corrupt it. */
START_TEST(persistent_survives_sigkill) {
  char *dir = fx_tempdir();
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    pc__queue_opts_t o = {.log_id = "child", .max_items = 100000, .max_bytes = (uint64_t)1 << 30,
                          .dir = dir, .fsync = true, .segment_bytes = 64 * 1024};
    pc__queue_t *q = NULL;
    pc_err_t err = {0};
    if (pc__queue_open(&o, &q, &err)) _exit(2);
    for (uint32_t i = 0;; i++) {
      if (push_one(q, i, 3000 + i % 500) != 0) _exit(3);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  close(fds[1]);
  uint32_t last = 0, got = 0;
  while (got < 200 && read(fds[0], &last, sizeof last) == sizeof last) got++;
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  int status;
  waitpid(pid, &status, 0);
  ck_assert(WIFSIGNALED(status));
  while (read(fds[0], &last, sizeof last) == sizeof last) got++; /* acks still in the pipe */
  close(fds[0]);
  ck_assert_uint_ge(got, 200);

  pc__queue_t *q = open_q(dir, 100000, (uint64_t)1 << 30, 64 * 1024);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  /* Acknowledged: every one. The child may have written one more that it
   * had no time to report; nothing else. */
  ck_assert_uint_ge(qs.replayed, got);
  ck_assert_uint_le(qs.replayed, got + 1);
  for (uint32_t want = 0; want < got; want++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), want);
    ck_assert(body_intact(it->body, 3000 + want % 500));
    pc__queue_done(q, it);
  }
  pc__queue_close(q);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

static void flip_byte(const char *path, long off) {
  int fd = open(path, O_RDWR);
  ck_assert_int_ge(fd, 0);
  uint8_t c;
  ck_assert_int_eq(pread(fd, &c, 1, off), 1);
  c ^= 0x5a;
  ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
  close(fd);
}

/* A reopened dir replays n batches and sets nothing aside. */
static void assert_healthy_replay(const char *dir, uint64_t n) {
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, n);
  ck_assert_uint_eq(qs.corrupt_files, 0);
  pc__queue_close(q);
}

START_TEST(damaged_record_is_set_aside) {
  char *dir = fx_tempdir();
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  for (uint32_t i = 0; i < 3; i++) ck_assert_int_eq(push_one(q, i, 1000), 0);
  pc__queue_close(q);
  char *seg = only_file(dir, ".seg");
  /* file header 8, record 0: 20 + 1000; a byte inside record 1's payload. */
  flip_byte(seg, 8 + 1020 + 20 + 500);

  q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.corrupt_files, 1);
  ck_assert_uint_eq(qs.replayed, 2);
  ck_assert_int_eq(count_files(dir, ".corrupt"), 1);
  ck_assert_int_eq(access(seg, F_OK), -1); /* renamed away */
  uint32_t want[] = {0, 2};
  for (int k = 0; k < 2; k++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), want[k]);
    ck_assert(body_intact(it->body, 1000));
    pc__queue_release(q, it); /* not sent: must survive another restart */
  }
  pc__queue_close(q);
  /* The intact batches were copied to a healthy segment. */
  assert_healthy_replay(dir, 2);
  free(seg);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

START_TEST(truncated_tail_is_set_aside) {
  char *dir = fx_tempdir();
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  for (uint32_t i = 0; i < 3; i++) ck_assert_int_eq(push_one(q, i, 1000), 0);
  pc__queue_close(q);
  char *seg = only_file(dir, ".seg");
  ck_assert_int_eq(truncate(seg, 8 + 3 * 1020 - 7), 0); /* a torn last write */
  q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, 2);
  ck_assert_uint_eq(qs.corrupt_files, 1);
  for (uint32_t want = 0; want < 2; want++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), want);
    pc__queue_done(q, it);
  }
  ck_assert_ptr_null(pc__queue_pop(q));
  pc__queue_close(q);
  ck_assert_int_eq(count_files(dir, ".corrupt"), 1);
  free(seg);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

START_TEST(garbage_file_does_not_stop_start) {
  char *dir = fx_tempdir();
  char *path;
  ck_assert_int_ge(asprintf(&path, "%s/00000000000000aa.seg", dir), 0);
  FILE *f = fopen(path, "w");
  fputs("this is not a queue segment at all", f);
  fclose(f);
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.corrupt_files, 1);
  ck_assert_uint_eq(qs.replayed, 0);
  /* New segments are numbered after it, never over the set-aside file. */
  ck_assert_int_eq(push_one(q, 1, 10), 0);
  pc__queue_close(q);
  ck_assert_int_eq(count_files(dir, ".corrupt"), 1);
  ck_assert_int_eq(count_files(dir, ".seg"), 1);
  free(path);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

/* ---- issue 14 --------------------------------------------------------------------------- */

/* A damaged 8-byte file header used to drop every record of the segment at
 * start, intact records with good checksums included. Now they are
 * salvaged, as after a damaged record; the acked one stays sent. */
START_TEST(issue14_damaged_file_header_salvages_records) {
  for (int variant = 0; variant < 2; variant++) {
    char *dir = fx_tempdir();
    pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
    for (uint32_t i = 0; i < 4; i++) ck_assert_int_eq(push_one(q, i, 1000), 0);
    pc__qitem_t *first = pc__queue_pop(q);
    pc__queue_done(q, first); /* acked: must not come back */
    pc__queue_close(q);
    char *seg = only_file(dir, ".seg");
    if (variant == 0) {
      flip_byte(seg, 3); /* one bit of rot in "PCQSEG1\n" */
    } else {
      int fd = open(seg, O_RDWR);
      ck_assert_int_ge(fd, 0);
      ck_assert_int_eq(pwrite(fd, "\0\0\0\0\0\0\0\0", 8, 0), 8); /* a zeroed first block */
      close(fd);
    }
    q = open_q(dir, 100, 1 << 20, 0);
    pc__queue_stats_t qs;
    pc__queue_stats(q, &qs);
    ck_assert_uint_eq(qs.replayed, 3);
    ck_assert_uint_eq(qs.corrupt_files, 1); /* the file is set aside, its records copied */
    for (uint32_t want = 1; want < 4; want++) {
      pc__qitem_t *it = pc__queue_pop(q);
      ck_assert_ptr_nonnull(it);
      ck_assert_uint_eq(body_number(it->body), want);
      ck_assert(body_intact(it->body, 1000));
      pc__queue_release(q, it);
    }
    ck_assert_ptr_null(pc__queue_pop(q));
    pc__queue_close(q);
    assert_healthy_replay(dir, 3); /* the copies are healthy */
    free(seg);
    fx_rmtree(dir);
    free(dir);
  }
}
END_TEST

/* A segment cut short while it was created (a crash or a full disk before
 * its header was whole) holds nothing: removed quietly, not set aside. */
START_TEST(issue14_empty_segment_is_removed) {
  char *dir = fx_tempdir();
  const char *names[] = {"00000000000000a0.seg", "00000000000000a1.seg"};
  const char *texts[] = {"", "PCQ"};
  for (int i = 0; i < 2; i++) {
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, names[i]), 0);
    FILE *f = fopen(path, "w");
    fputs(texts[i], f);
    fclose(f);
    free(path);
  }
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.corrupt_files, 0);
  ck_assert_uint_eq(qs.replayed, 0);
  ck_assert_int_eq(count_files(dir, ".seg"), 0);
  ck_assert_int_eq(count_files(dir, ".corrupt"), 0);
  pc__queue_close(q);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

/* A full disk (here a file-size limit: EFBIG, as ENOSPC on a full one)
 * used to leave the segment it struck active: never deleted, so once its
 * records were sent their bytes still filled the disk and every later push
 * failed until a restart. Now the segment is rolled at the failure and
 * deleted with its last ack, and pushes succeed again. */
START_TEST(issue14_full_disk_space_comes_back) {
  signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG */
  char *dir = fx_tempdir();
  pc__queue_t *q = open_q(dir, 1000, 1 << 30, 0);
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
  struct rlimit small = {.rlim_cur = 8 + 10 * 1020 + 500, .rlim_max = rl.rlim_max};
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
  uint32_t accepted = 0;
  while (push_one(q, accepted, 1000) == 0) accepted++;
  ck_assert_uint_eq(accepted, 10);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.held_items, 10);
  /* The backend takes everything: each record is sent once. */
  for (uint32_t want = 0; want < accepted; want++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(body_number(it->body), want);
    pc__queue_done(q, it);
  }
  ck_assert_ptr_null(pc__queue_pop(q));
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.disk_bytes, 0); /* the sent segment is gone */
  ck_assert_int_eq(count_files(dir, ".seg"), 0);
  /* ... so the queue takes data again, under the same limit. */
  for (uint32_t i = 0; i < 5; i++) ck_assert_int_eq(push_one(q, 100 + i, 1000), 0);
  pc__queue_close(q);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
  q = open_q(dir, 1000, 1 << 30, 0); /* the new ones survive a restart, once each */
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, 5);
  pc__queue_close(q);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

TCase *pc_test_queue_tcase(void);

/* ---- client metadata kept with each batch ---------------------------------------------- */

static pc__body_t *tenant_md(const char *tenant) {
  pc_md_pair_t pair = {PC_STR_LIT("x-scope-orgid"), {(const uint8_t *)tenant, strlen(tenant)}};
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_md_encode(&(pc_metadata_t){&pair, 1}, &b), 0);
  return pc__body_from_buf_take(&b);
}

static void push_with_md(pc__queue_t *q, uint32_t i, const char *tenant) {
  pc__body_t *b = numbered_body(i, 1000);
  pc__item_meta_t m = meta;
  m.profiles = i;
  m.md = tenant ? tenant_md(tenant) : NULL;
  pc_err_t err = {0};
  ck_assert_int_eq(pc__queue_push(q, &b, &m, 1, &err), 0);
  pc__body_unref(b);
  if (m.md) pc__body_unref(m.md); /* the queue holds its own */
}

/* The tenant an item's metadata names, or "-" without metadata. */
static void expect_tenant(const pc__qitem_t *it, const char *want) {
  if (!it->meta.md) {
    ck_assert_str_eq("-", want);
    return;
  }
  pc_metadata_t md;
  ck_assert_int_eq(pc_md_decode(it->meta.md->p, it->meta.md->n, &md), 0);
  pc_str_t v;
  ck_assert(pc_md_get(&md, PC_STR_LIT("X-Scope-OrgID"), 0, &v));
  ck_assert_int_eq((int)v.n, (int)strlen(want));
  ck_assert(!memcmp(v.p, want, v.n));
  free((void *)md.v);
}

/* Metadata survives a restart, and the copy of a damaged segment's intact
 * records; records without it stay as they were. */
START_TEST(persistent_keeps_each_batch_metadata) {
  char *dir = fx_tempdir();
  pc__queue_t *q = open_q(dir, 100, 1 << 20, 0);
  push_with_md(q, 0, "acme");
  push_with_md(q, 1, NULL);
  push_with_md(q, 2, "globex");
  push_with_md(q, 3, NULL);
  pc__queue_close(q);
  q = open_q(dir, 100, 1 << 20, 0);
  static const char *const want[] = {"acme", "-", "globex", "-"};
  for (uint32_t i = 0; i < 4; i++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), i);
    ck_assert(body_intact(it->body, 1000));
    expect_tenant(it, want[i]);
    pc__queue_release(q, it);
  }
  pc__queue_close(q);
  /* Damage record 1 (no metadata): file header 8, record 0 is 20 + 4 + 25 + 1000. */
  char *seg = only_file(dir, ".seg");
  flip_byte(seg, 8 + 1049 + 20 + 500);
  q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_close(q); /* the intact records went to a new segment */
  q = open_q(dir, 100, 1 << 20, 0);
  pc__queue_stats_t qs;
  pc__queue_stats(q, &qs);
  ck_assert_uint_eq(qs.replayed, 3);
  static const uint32_t left[] = {0, 2, 3};
  for (int k = 0; k < 3; k++) {
    pc__qitem_t *it = pc__queue_pop(q);
    ck_assert_uint_eq(body_number(it->body), left[k]);
    ck_assert(body_intact(it->body, 1000));
    expect_tenant(it, want[left[k]]);
    pc__queue_done(q, it);
  }
  pc__queue_close(q);
  free(seg);
  fx_rmtree(dir);
  free(dir);
}
END_TEST

TCase *pc_test_queue_tcase(void) {
  TCase *tc = tcase_create("queue");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, memory_fifo_caps_and_shared_bodies);
  tcase_add_test(tc, memory_byte_cap_all_or_nothing);
  tcase_add_test(tc, persistent_replays_unsent_in_order);
  tcase_add_test(tc, persistent_segments_roll_and_are_deleted);
  tcase_add_test(tc, persistent_one_user_per_directory);
  tcase_add_test(tc, persistent_survives_sigkill);
  tcase_add_test(tc, damaged_record_is_set_aside);
  tcase_add_test(tc, truncated_tail_is_set_aside);
  tcase_add_test(tc, garbage_file_does_not_stop_start);
  tcase_add_test(tc, persistent_keeps_each_batch_metadata);
  tcase_add_test(tc, issue14_damaged_file_header_salvages_records);
  tcase_add_test(tc, issue14_empty_segment_is_removed);
  tcase_add_test(tc, issue14_full_disk_space_comes_back);
  return tc;
}
