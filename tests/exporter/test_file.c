/* test_file.c - exporter/file.c (both formats read back and decoded, 0600,
 * rotation by size with max_backups, a failing disk refused with EAGAIN),
 * exporter/file_storage.c (directory checks) and exporter/debug.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pdata/testdata.h"
#include "fixture.h"

/* Requests with ids first..first+n-1; with encoded, every other one goes
 * through consume_encoded, as from a batch processor. */
static void consume_ids_as(fx_t *fx, uint64_t first, int n, bool encoded) {
  for (int i = 0; i < n; i++) {
    pc_arena_t *a = pc_arena_new(4096);
    pc_request_t req;
    fx_request(a, &req, first + (uint64_t)i);
    pc_err_t err = {0};
    int rc = encoded && i % 2 == 0 ? fx_consume_encoded(fx, &req, &err)
                                   : fx->c->consume_profiles(fx->c, &req, &err);
    ck_assert_msg(rc == 0, "consume %d: %s", i, err.msg);
    pc_arena_free(a);
  }
}

static void consume_ids(fx_t *fx, uint64_t first, int n) { consume_ids_as(fx, first, n, false); }

static void check_decoded(const uint8_t *p, size_t n, bool json, uint64_t want_id) {
  pc_arena_t *a = pc_arena_new(4096), *b = pc_arena_new(4096);
  pc_request_t got, want;
  pc_err_t err = {0};
  int rc = json ? pc_json_decode(a, p, n, &got, &err) : pc_proto_decode(a, p, n, &got, &err);
  ck_assert_msg(rc == 0, "record does not decode: %s", err.msg);
  fx_request(b, &want, want_id);
  pc_test_assert_request_eq(&want, &got);
  pc_arena_free(a);
  pc_arena_free(b);
}

/* Ids of every record in a file, checking each decodes to its request. */
static size_t read_records(const char *path, bool json, uint64_t *ids, size_t cap) {
  pc_buf_t f = {0};
  pc_test_read_file(path, &f);
  size_t n = 0, off = 0;
  while (off < f.n) {
    size_t len;
    const uint8_t *rec;
    if (json) {
      const uint8_t *nl = memchr(f.p + off, '\n', f.n - off);
      ck_assert_msg(nl != NULL, "%s: last line has no newline", path);
      rec = f.p + off;
      len = (size_t)(nl - rec);
      off += len + 1;
    } else {
      ck_assert_uint_ge(f.n - off, 4);
      len = (size_t)f.p[off] << 24 | (size_t)f.p[off + 1] << 16 | (size_t)f.p[off + 2] << 8 |
            f.p[off + 3];
      ck_assert_uint_le(len, f.n - off - 4);
      rec = f.p + off + 4;
      off += 4 + len;
    }
    pc_arena_t *a = pc_arena_new(4096);
    pc_request_t got;
    pc_err_t err = {0};
    int rc = json ? pc_json_decode(a, rec, len, &got, &err)
                  : pc_proto_decode(a, rec, len, &got, &err);
    ck_assert_msg(rc == 0, "%s record %zu: %s", path, n, err.msg);
    ck_assert_uint_lt(n, cap);
    ids[n++] = fx_request_id(&got);
    pc_arena_free(a);
  }
  pc_buf_free(&f);
  return n;
}

static const char *const formats[] = {"json", "proto"};

START_TEST(both_formats_read_back) {
  bool json = _i == 0;
  char *dir = fx_tempdir(), *path;
  ck_assert_int_ge(asprintf(&path, "%s/out.%s", dir, formats[_i]), 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_file, "file", "path: %s\nformat: %s\n", path, formats[_i]);
  consume_ids(&fx, 1, 3);
  fx_close(&fx, 1000);

  pc_buf_t f = {0};
  pc_test_read_file(path, &f);
  size_t off = 0;
  for (uint64_t id = 1; id <= 3; id++) {
    size_t len;
    if (json) {
      const uint8_t *nl = memchr(f.p + off, '\n', f.n - off);
      ck_assert_ptr_nonnull(nl);
      len = (size_t)(nl - (f.p + off));
      check_decoded(f.p + off, len, true, id);
      off += len + 1;
    } else {
      len = (size_t)f.p[off] << 24 | (size_t)f.p[off + 1] << 16 | (size_t)f.p[off + 2] << 8 |
            f.p[off + 3];
      check_decoded(f.p + off + 4, len, false, id);
      off += 4 + len;
    }
  }
  ck_assert_uint_eq(off, f.n); /* nothing else in the file */
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  pc_buf_free(&f);
  fx_rmtree(dir);
  free(path);
  free(dir);
}
END_TEST

START_TEST(appends_to_an_existing_file) {
  char *dir = fx_tempdir(), *path;
  ck_assert_int_ge(asprintf(&path, "%s/out.pb", dir), 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_file, "file", "path: %s\nformat: proto\n", path);
  consume_ids(&fx, 1, 2);
  fx_close(&fx, 1000);
  fx_open(&fx, &pc_exporter_file, "file", "path: %s\nformat: proto\n", path);
  consume_ids(&fx, 3, 1);
  fx_close(&fx, 1000);
  uint64_t ids[8];
  ck_assert_uint_eq(read_records(path, false, ids, 8), 3);
  for (int i = 0; i < 3; i++) ck_assert_uint_eq(ids[i], 1 + (uint64_t)i);
  fx_rmtree(dir);
  free(path);
  free(dir);
}
END_TEST

/* Issue 14: a symbolic link at the path is refused with a clear error,
 * and whatever it points at is left alone (created files stay 0600). */
static void count_done(void *arg) { (*(int *)arg)++; }

START_TEST(issue14_does_not_follow_a_symlink) {
  char *dir = fx_tempdir(), *path, *target, *fifo;
  ck_assert_int_ge(asprintf(&path, "%s/out.pb", dir), 0);
  ck_assert_int_ge(asprintf(&target, "%s/victim", dir), 0);
  ck_assert_int_ge(asprintf(&fifo, "%s/fifo", dir), 0);
  FILE *v = fopen(target, "w");
  fputs("keep", v);
  fclose(v);
  ck_assert_int_eq(symlink(target, path), 0);
  fx_t fx;
  pc_err_t err = {0};
  /* Refused at create, so validate says it, at the path key (issue 12). */
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "path: %s\nformat: proto\n", path));
  ck_assert_msg(strstr(err.msg, "test.yaml:1:7: path: ") && strstr(err.msg, path) &&
                    strstr(err.msg, "symbolic link"), "%s", err.msg);
  /* A link planted after validation is still refused at start. */
  ck_assert_int_eq(unlink(path), 0);
  void *inst = fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                         "path: %s\nformat: proto\n", path);
  ck_assert_ptr_nonnull(inst);
  ck_assert_int_eq(symlink(target, path), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ck_assert_int_eq(pc_exporter_file.start(inst, &loop, &err), PC_EIO);
  ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "symbolic link"), "%s", err.msg);
  int done = 0;
  pc_exporter_file.shutdown(inst, 0, count_done, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(done, 1);
  pc_exporter_file.destroy(inst);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  struct stat st;
  ck_assert_int_eq(stat(target, &st), 0);
  ck_assert_int_eq(st.st_size, 4); /* nothing appended */
  /* A dangling link would have created its target. */
  ck_assert_int_eq(unlink(target), 0);
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "path: %s\nformat: proto\n", path));
  ck_assert_int_eq(access(target, F_OK), -1);
  /* A FIFO is no file to append to, and must not block the start. */
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_int_eq(fx_try_open(&fx, &pc_exporter_file, "file", &err,
                               "path: %s\nformat: proto\n", fifo), PC_EIO);
  fx_close(&fx, 100);
  /* The link gone, the file is made 0600. */
  ck_assert_int_eq(unlink(path), 0);
  fx_open(&fx, &pc_exporter_file, "file", "path: %s\nformat: proto\n", path);
  consume_ids(&fx, 1, 1);
  fx_close(&fx, 1000);
  ck_assert_int_eq(lstat(path, &st), 0);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  fx_rmtree(dir);
  free(fifo);
  free(target);
  free(path);
  free(dir);
}
END_TEST

/* The proto format takes encoded batches as they are; json needs the tree. */
START_TEST(proto_format_takes_encoded_batches) {
  char *dir = fx_tempdir(), *path;
  ck_assert_int_ge(asprintf(&path, "%s/out.pb", dir), 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_file, "file", "path: %s/out.json\n", dir);
  ck_assert(fx.c->consume_encoded == NULL);
  fx_close(&fx, 1000);
  fx_open(&fx, &pc_exporter_file, "file", "path: %s\nformat: proto\n", path);
  consume_ids_as(&fx, 1, 5, true);
  fx_close(&fx, 1000);
  uint64_t ids[8];
  ck_assert_uint_eq(read_records(path, false, ids, 8), 5);
  for (int i = 0; i < 5; i++) ck_assert_uint_eq(ids[i], 1 + (uint64_t)i);
  fx_rmtree(dir);
  free(path);
  free(dir);
}
END_TEST

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(rotates_by_size_and_keeps_max_backups) {
  char *dir = fx_tempdir(), *path;
  ck_assert_int_ge(asprintf(&path, "%s/profiles.json", dir), 0);
  fx_t fx;
  fx_open(&fx, &pc_exporter_file, "file/rot", "path: %s\nrotation:\n  max_megabytes: 1\n"
          "  max_backups: 2\n", path);
  /* About 4.5 MiB of JSON lines: four rotations, two backups kept. */
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 0);
  pc_buf_t line = {0};
  ck_assert_int_eq(pc_json_encode(&req, &line), 0);
  int n = (int)((size_t)(4.5 * 1048576) / (line.n + 1)) + 1;
  pc_buf_free(&line);
  pc_arena_free(a);
  for (int i = 0; i < n; i++) {
    consume_ids(&fx, (uint64_t)i, 1);
    if (i % 500 == 0) usleep(2000); /* distinct backup stamps even on a fast disk */
  }
  fx_close(&fx, 1000);

  DIR *d = opendir(dir);
  char *names[16];
  int nb = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, "profiles-", 9)) {
      ck_assert_int_lt(nb, 16);
      names[nb++] = strdup(e->d_name);
    }
  closedir(d);
  ck_assert_int_eq(nb, 2);
  qsort(names, (size_t)nb, sizeof *names, cmp_name);
  /* Backups end in .json and hold whole records, older ids first, ending
   * right where the next file starts; the current file holds the newest. */
  static uint64_t ids[8192];
  uint64_t expect_next = UINT64_MAX;
  for (int k = 0; k <= nb; k++) {
    char *p;
    if (k < nb) ck_assert_int_ge(asprintf(&p, "%s/%s", dir, names[k]), 0);
    else p = strdup(path);
    size_t len = strlen(p);
    ck_assert_str_eq(p + len - 5, ".json");
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_le(st.st_size, 1048576);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    size_t cnt = read_records(p, true, ids, 8192);
    ck_assert_uint_gt(cnt, 0);
    if (expect_next != UINT64_MAX) ck_assert_uint_eq(ids[0], expect_next);
    for (size_t i = 1; i < cnt; i++) ck_assert_uint_eq(ids[i], ids[i - 1] + 1);
    expect_next = ids[cnt - 1] + 1;
    free(p);
    if (k < nb) free(names[k]);
  }
  ck_assert_uint_eq(expect_next, (uint64_t)n); /* the newest record is the last written */
  fx_rmtree(dir);
  free(path);
  free(dir);
}
END_TEST

/* /dev/full fails every write with ENOSPC: the client must be told to retry. */
START_TEST(write_failure_refuses_with_eagain) {
  fx_t fx;
  fx_open(&fx, &pc_exporter_file, "file", "path: /dev/full\n");
  pc_arena_t *a = pc_arena_new(4096);
  pc_request_t req;
  fx_request(a, &req, 1);
  pc_err_t err = {0};
  ck_assert_int_eq(fx.c->consume_profiles(fx.c, &req, &err), PC_EAGAIN);
  ck_assert_ptr_nonnull(strstr(err.msg, "/dev/full"));
  pc_arena_free(a);
  fx_close(&fx, 100);
}
END_TEST

START_TEST(file_config_errors) {
  pc_err_t err = {0};
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "path: /tmp/x\nformat: xml\n"));
  ck_assert_ptr_nonnull(strstr(err.msg, "json or proto"));
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "format: json\n"));
  ck_assert_ptr_nonnull(strstr(err.msg, "path"));
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "path: /tmp/x\nrotation:\n  max_megabytes: 0\n"));
  ck_assert_ptr_nonnull(strstr(err.msg, "max_megabytes"));
  /* An unwritable path is refused at create (so validate says it), naming
   * the path and its config place. */
  ck_assert_ptr_null(fx_create(&pc_exporter_file, "file", PC_SIGNAL_PROFILES, &err,
                               "path: /nonexistent-dir/out.json\n"));
  ck_assert_msg(strstr(err.msg, "test.yaml:1:7: path: cannot create /nonexistent-dir/out.json: "
                                "directory /nonexistent-dir: No such file or directory"),
                "%s", err.msg);
}
END_TEST

START_TEST(file_storage_checks_its_directory) {
  char *dir = fx_tempdir(), *sub;
  ck_assert_int_ge(asprintf(&sub, "%s/queues", dir), 0);
  pc_err_t err = {0};
  /* A missing directory is refused at create, so validate says it too. */
  ck_assert_ptr_null(fx_create(&pc_extension_file_storage, "file_storage", 0, &err,
                               "directory: %s\n", sub));
  ck_assert_msg(strstr(err.msg, "test.yaml:1:12: directory: ") &&
                    strstr(err.msg, "create_directory"), "%s", err.msg);
  /* And at start, when it went away after validation. */
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  void *st = fx_create(&pc_extension_file_storage, "file_storage", 0, &err, "directory: %s\n", sub);
  ck_assert_ptr_nonnull(st);
  ck_assert_int_eq(rmdir(sub), 0);
  ck_assert_int_eq(pc_extension_file_storage.start(st, NULL, &err), PC_EIO);
  ck_assert_ptr_nonnull(strstr(err.msg, "create_directory"));
  pc_extension_file_storage.destroy(st);
  st = fx_create(&pc_extension_file_storage, "file_storage", 0, &err,
                 "directory: %s\ncreate_directory: true\n", sub);
  ck_assert_int_eq(pc_extension_file_storage.start(st, NULL, &err), 0);
  struct stat sb;
  ck_assert_int_eq(stat(sub, &sb), 0);
  ck_assert(S_ISDIR(sb.st_mode));
  ck_assert_int_eq(sb.st_mode & 0777, 0700);
  pc_extension_file_storage.destroy(st);
  /* Issue 14: with create_directory on, a directory that cannot be made
   * names the path at fault and the reason, not "set create_directory". */
  char *link, *under;
  ck_assert_int_ge(asprintf(&link, "%s/link", dir), 0);
  ck_assert_int_ge(asprintf(&under, "%s/link/queues", dir), 0);
  ck_assert_int_eq(symlink("/nonexistent-profcol-target", link), 0);
  st = fx_create(&pc_extension_file_storage, "file_storage", 0, &err,
                 "directory: %s\ncreate_directory: true\n", under);
  ck_assert_int_eq(pc_extension_file_storage.start(st, NULL, &err), PC_EIO);
  ck_assert_msg(strstr(err.msg, link) && strstr(err.msg, "not a directory") &&
                !strstr(err.msg, "set create_directory"), "%s", err.msg);
  pc_extension_file_storage.destroy(st);
  if (geteuid() != 0) { /* root may write anywhere */
    char *ro, *ro_sub;
    ck_assert_int_ge(asprintf(&ro, "%s/ro", dir), 0);
    ck_assert_int_ge(asprintf(&ro_sub, "%s/ro/queues", dir), 0);
    ck_assert_int_eq(mkdir(ro, 0500), 0);
    ck_assert_ptr_null(fx_create(&pc_extension_file_storage, "file_storage", 0, &err,
                                 "directory: %s\ncreate_directory: true\n", ro_sub));
    ck_assert_msg(strstr(err.msg, ro_sub) && strstr(err.msg, "not writable"), "%s", err.msg);
    chmod(ro, 0700);
    free(ro);
    free(ro_sub);
  }
  /* Parents are made too, as the Collector's os.MkdirAll makes them. */
  char *deep;
  ck_assert_int_ge(asprintf(&deep, "%s/a/b/queues", dir), 0);
  st = fx_create(&pc_extension_file_storage, "file_storage", 0, &err,
                 "directory: %s\ncreate_directory: true\n", deep);
  ck_assert_int_eq(pc_extension_file_storage.start(st, NULL, &err), 0);
  ck_assert_int_eq(stat(deep, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0700);
  pc_extension_file_storage.destroy(st);
  free(deep);
  free(link);
  free(under);
  ck_assert_ptr_null(fx_create(&pc_extension_file_storage, "file_storage", 0, &err, "fsync: true\n"));
  ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
  fx_rmtree(dir);
  free(sub);
  free(dir);
}
END_TEST

static const char *const verbosities[] = {"basic", "normal", "detailed"};

START_TEST(debug_prints_every_verbosity) {
  fx_t fx;
  fx_open(&fx, &pc_exporter_debug, "debug", "verbosity: %s\n", verbosities[_i]);
  consume_ids(&fx, 1, 2);
  fx_close(&fx, 100);
  pc_err_t err = {0};
  ck_assert_ptr_null(fx_create(&pc_exporter_debug, "debug", PC_SIGNAL_PROFILES, &err,
                               "verbosity: loud\n"));
  ck_assert_ptr_nonnull(strstr(err.msg, "basic, normal or detailed"));
}
END_TEST

TCase *pc_test_file_tcase(void);
TCase *pc_test_file_tcase(void) {
  TCase *tc = tcase_create("file");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, both_formats_read_back, 0, 2);
  tcase_add_test(tc, appends_to_an_existing_file);
  tcase_add_test(tc, issue14_does_not_follow_a_symlink);
  tcase_add_test(tc, proto_format_takes_encoded_batches);
  tcase_add_test(tc, rotates_by_size_and_keeps_max_backups);
  tcase_add_test(tc, write_failure_refuses_with_eagain);
  tcase_add_test(tc, file_config_errors);
  tcase_add_test(tc, file_storage_checks_its_directory);
  tcase_add_loop_test(tc, debug_prints_every_verbosity, 0, 3);
  return tc;
}
