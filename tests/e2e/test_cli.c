/* test_cli.c - end-to-end tests of the profcol command line: the real built
 * binary ($PROFCOL_BIN), started with posix_spawn on files written to a
 * fresh temporary directory per test.
 *
 * Payloads come from the pdata API (pc_test_rich_request + pc_proto_encode),
 * so the canonical protobuf bytes are known and a round trip through the
 * binary can be compared byte for byte. Exit statuses are the CLI's
 * contract: 0 success, 1 bad input, 2 bad command line. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../pdata/intern.h"
#include "../../pdata/pprof.h"
#include "../../pdata/stacks.h"
#include "../pdata/testdata.h"
#include "e2e.h"

extern char **environ;

static char basedir[512]; /* one per TCase, made and removed by the runner */
static char tmpdir[600];  /* one per test, inside basedir */

/* ---- fixtures ----------------------------------------------------------------
 * The base directory is an unchecked fixture: the runner process removes
 * it even when a test fails (a failing test's own teardown does not run). */

static void make_basedir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(basedir, sizeof basedir, "%s/profcol-e2e-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(basedir)) {
    fprintf(stderr, "test_cli: mkdtemp %s: %s\n", basedir, strerror(errno));
    exit(EXIT_FAILURE);
  }
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void remove_basedir(void) { nftw(basedir, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/test-XXXXXX", basedir);
  ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp %s: %s", tmpdir, strerror(errno));
}

/* A path in the test's directory. The last 8 stay valid: enough for the
 * files one test names. */
static const char *tpath(const char *name) {
  static char ring[8][1024];
  static unsigned next;
  char *p = ring[next++ % 8];
  snprintf(p, sizeof ring[0], "%s/%s", tmpdir, name);
  return p;
}

static const char *write_file(const char *name, const void *data, size_t n) {
  const char *path = tpath(name);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "create %s: %s", path, strerror(errno));
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

/* The whole file, NUL-terminated (the NUL is not counted in n). */
static pc_buf_t slurp(const char *path) {
  pc_buf_t b = {0};
  pc_test_read_file(path, &b);
  ck_assert_int_eq(pc_buf_append(&b, "", 1), 0);
  b.n--;
  return b;
}

/* ---- running the binary -------------------------------------------------------- */

typedef struct {
  int status; /* exit status */
  pc_buf_t out, err;
} run_t;

static void run_free(run_t *r) {
  pc_buf_free(&r->out);
  pc_buf_free(&r->err);
}

/* Run profcol with args (NULL-terminated), stdin from stdin_path (NULL:
 * /dev/null), stdout and stderr captured. A crash fails the test. wrapper,
 * if not NULL, is a NULL-terminated command that execs its arguments (the
 * profcol command line follows it). */
static run_t run_wrapped(const char *const *wrapper, const char *stdin_path,
                         const char *const *args) {
  const char *bin = getenv("PROFCOL_BIN");
  ck_assert_msg(bin && *bin, "PROFCOL_BIN is not set (meson test sets it)");
  const char *argv[32];
  size_t argc = 0;
  for (; wrapper && wrapper[argc]; argc++) argv[argc] = wrapper[argc];
  argv[argc++] = bin;
  for (; *args; args++) {
    ck_assert_uint_lt(argc, 31);
    argv[argc++] = *args;
  }
  argv[argc] = NULL;
  char out_path[1024], err_path[1024];
  snprintf(out_path, sizeof out_path, "%s/.stdout", tmpdir);
  snprintf(err_path, sizeof err_path, "%s/.stderr", tmpdir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  ck_assert_msg(rc == 0, "spawn %s: %s", argv[0], strerror(rc));
  int ws;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  run_t r = {.out = slurp(out_path), .err = slurp(err_path)};
  ck_assert_msg(WIFEXITED(ws), "profcol was killed by signal %d; stderr:\n%s", WTERMSIG(ws),
                (char *)r.err.p);
  r.status = WEXITSTATUS(ws);
  return r;
}

static run_t run_argv(const char *stdin_path, const char *const *args) {
  return run_wrapped(NULL, stdin_path, args);
}
#define RUN(stdin_path, ...) run_argv(stdin_path, (const char *const[]){__VA_ARGS__, NULL})

static void assert_status(const run_t *r, int want) {
  ck_assert_msg(r->status == want, "exit status %d, want %d; stderr:\n%s", r->status, want,
                r->err.n ? (char *)r->err.p : "(empty)");
}

static void assert_bytes_eq(const pc_buf_t *got, const pc_buf_t *want, const char *what) {
  ck_assert_msg(got->n == want->n, "%s: %zu bytes, want %zu", what, got->n, want->n);
  ck_assert_msg(memcmp(got->p, want->p, want->n) == 0, "%s: same size, different bytes", what);
}

/* A failure is exactly one line on stderr, "profcol: CMD: FILE: ...", that
 * contains needle. */
static void assert_one_line_error(const run_t *r, const char *cmd, const char *file,
                                  const char *needle) {
  const char *e = (const char *)r->err.p;
  char prefix[1200];
  snprintf(prefix, sizeof prefix, "profcol: %s: %s: ", cmd, file);
  ck_assert_msg(strncmp(e, prefix, strlen(prefix)) == 0, "stderr \"%s\" does not start "
                "with \"%s\"", e, prefix);
  ck_assert_msg(strstr(e, needle) != NULL, "stderr \"%s\" lacks \"%s\"", e, needle);
  ck_assert_msg(r->err.n > 0 && e[r->err.n - 1] == '\n' && strchr(e, '\n') == e + r->err.n - 1,
                "stderr is not one line: \"%s\"", e);
}

/* ---- payloads ------------------------------------------------------------------ */

static pc_buf_t encode(const pc_request_t *req) {
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_proto_encode(req, &b), 0);
  ck_assert_uint_gt(b.n, 0);
  return b;
}

/* The canonical protobuf encoding of the rich request. */
static pc_buf_t rich_proto(void) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t b = encode(&req);
  pc_arena_free(a);
  return b;
}

static pc_buf_t compress(pc_encoding_t enc, const pc_buf_t *in) {
  pc_buf_t z = {0};
  ck_assert_int_eq(pc_compress(enc, 0, in->p, in->n, &z), 0);
  return z;
}

/* ---- reading stats output ------------------------------------------------------ */

/* The value after "name" at the start of a line of text, or NULL. */
static const char *value_of(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
    if (strncmp(l, name, n) == 0 && l[n] == ' ') {
      l += n;
      while (*l == ' ') l++;
      return l;
    }
  }
  return NULL;
}

static void assert_count(const char *out, const char *name, unsigned long long want) {
  const char *v = value_of(out, name);
  ck_assert_msg(v != NULL, "no \"%s\" line in:\n%s", name, out);
  ck_assert_msg(strtoull(v, NULL, 10) == want, "%s: %.20s, want %llu", name, v, want);
}

static void assert_table(const char *out, const char *name, unsigned size, unsigned dups,
                         unsigned unref) {
  const char *v = value_of(out, name);
  ck_assert_msg(v != NULL, "no \"%s\" line in:\n%s", name, out);
  unsigned got[3];
  ck_assert_int_eq(sscanf(v, "%u %u %u", &got[0], &got[1], &got[2]), 3);
  ck_assert_msg(got[0] == size && got[1] == dups && got[2] == unref,
                "%s: %u %u %u, want %u %u %u", name, got[0], got[1], got[2], size, dups, unref);
}

/* ---- convert ---------------------------------------------------------------------- */

START_TEST(proto_json_proto_round_trip) {
  pc_buf_t proto = rich_proto();
  const char *bin = write_file("p.bin", proto.p, proto.n);
  const char *json_path = tpath("p.json"), *back_path = tpath("back.bin");

  run_t r = RUN(NULL, "convert", bin, "-o", json_path);
  assert_status(&r, 0);
  ck_assert_uint_eq(r.out.n, 0);
  ck_assert_uint_eq(r.err.n, 0);
  run_free(&r);
  pc_buf_t json = slurp(json_path);
  ck_assert_msg(json.n > 2 && json.p[0] == '{' && json.p[json.n - 1] == '\n',
                "not one JSON object line: %s", (char *)json.p);
  ck_assert_ptr_nonnull(strstr((char *)json.p, "\"resourceProfiles\""));

  r = RUN(NULL, "convert", json_path, "-o", back_path);
  assert_status(&r, 0);
  run_free(&r);
  pc_buf_t back = slurp(back_path);
  assert_bytes_eq(&back, &proto, "proto -> json -> proto");

  /* Without -o the output goes to stdout, the same bytes. */
  r = RUN(NULL, "convert", bin);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &json, "proto -> json on stdout");
  run_free(&r);

  /* "-" reads stdin; --to forces the encoding, even the input's own. */
  r = RUN(json_path, "convert", "-");
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &proto, "json from stdin -> proto");
  run_free(&r);
  r = RUN(NULL, "convert", "--to", "proto", bin);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &proto, "proto -> proto");
  run_free(&r);
  r = RUN(NULL, "convert", "--to=json", json_path);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &json, "json -> json");
  run_free(&r);

  pc_buf_free(&proto);
  pc_buf_free(&json);
  pc_buf_free(&back);
}
END_TEST

static const pc_encoding_t compressions[] = {PC_ENC_GZIP, PC_ENC_ZSTD};

/* gzip and zstd are found by their magic bytes, for both encodings. */
START_TEST(compressed_input_detected) {
  pc_encoding_t enc = compressions[_i];
  pc_buf_t proto = rich_proto();
  pc_buf_t z = compress(enc, &proto);
  const char *zpath = write_file("p.bin.z", z.p, z.n);

  run_t r = RUN(NULL, "convert", "--to", "proto", zpath);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &proto, pc_encoding_name(enc));
  run_free(&r);

  r = RUN(NULL, "convert", zpath);
  assert_status(&r, 0);
  pc_buf_t json = r.out;
  r.out = (pc_buf_t){0};
  run_free(&r);
  pc_buf_t zjson = compress(enc, &json);
  const char *zjson_path = write_file("p.json.z", zjson.p, zjson.n);
  r = RUN(NULL, "convert", zjson_path);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &proto, "compressed json -> proto");
  run_free(&r);

  /* --max-size bounds the decompressed size too. */
  char limit[32];
  snprintf(limit, sizeof limit, "%zu", proto.n - 1);
  r = RUN(NULL, "convert", "--max-size", limit, "--to", "proto", zpath);
  assert_status(&r, 1);
  ck_assert_uint_eq(r.out.n, 0);
  assert_one_line_error(&r, "convert", zpath, "--max-size");
  run_free(&r);

  pc_buf_free(&proto);
  pc_buf_free(&z);
  pc_buf_free(&json);
  pc_buf_free(&zjson);
}
END_TEST

/* --max-size bounds plain input too, from a file (size known up front) and
 * from a pipe (counted while reading); exactly the limit passes. */
START_TEST(max_size_bounds_plain_input) {
  pc_buf_t proto = rich_proto();
  const char *path = write_file("p.bin", proto.p, proto.n);
  char exact[32], under[32], want[96];
  snprintf(exact, sizeof exact, "%zu", proto.n);
  snprintf(under, sizeof under, "%zu", proto.n - 1);
  snprintf(want, sizeof want, "larger than the limit of %zu bytes", proto.n - 1);

  run_t r = RUN(NULL, "convert", "--to", "proto", "--max-size", exact, path);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &proto, "at the limit");
  run_free(&r);
  r = RUN(NULL, "convert", "--max-size", under, path);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", path, want);
  run_free(&r);
  r = RUN(path, "stats", "--max-size", under, "-");
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", "<stdin>", want);
  run_free(&r);
  char pipe_cmd[1200];
  snprintf(pipe_cmd, sizeof pipe_cmd, "cat '%s' | \"$0\" \"$@\"", path);
  const char *const through_pipe[] = {"/bin/sh", "-c", pipe_cmd, NULL};
  r = run_wrapped(through_pipe, NULL, (const char *const[]){"stats", "--max-size", under, "-", NULL});
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", "<stdin>", want);
  run_free(&r);
  r = run_wrapped(through_pipe, NULL, (const char *const[]){"stats", "--max-size", exact, "-", NULL});
  assert_status(&r, 0);
  assert_count((const char *)r.out.p, "samples", 3);
  run_free(&r);
  pc_buf_free(&proto);
}
END_TEST

/* ---- stats ------------------------------------------------------------------------- */

/* The rich request plus a duplicate and an unused string, and a duplicate
 * function nothing uses. */
static pc_buf_t stats_payload(void) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_dictionary_t *d = &req.dict;
  pc_str_t *strings = pc_arena_calloc(a, d->n_strings + 2, sizeof *strings);
  ck_assert_ptr_nonnull(strings);
  memcpy(strings, d->strings, d->n_strings * sizeof *strings);
  strings[d->n_strings++] = d->strings[1]; /* "main" again */
  strings[d->n_strings++] = PC_STR_LIT("orphan");
  d->strings = strings;
  pc_function_t *fns = pc_arena_calloc(a, d->n_functions + 1, sizeof *fns);
  ck_assert_ptr_nonnull(fns);
  memcpy(fns, d->functions, d->n_functions * sizeof *fns);
  fns[d->n_functions++] = d->functions[1];
  d->functions = fns;
  pc_buf_t b = encode(&req);
  pc_arena_free(a);
  return b;
}

START_TEST(stats_counts) {
  pc_buf_t proto = stats_payload();
  const char *path = write_file("stats.bin", proto.p, proto.n);
  run_t r = RUN(NULL, "stats", path);
  assert_status(&r, 0);
  ck_assert_uint_eq(r.err.n, 0);
  const char *out = (const char *)r.out.p;
  ck_assert_ptr_nonnull(value_of(out, "encoding"));
  ck_assert_msg(strncmp(value_of(out, "encoding"), "protobuf\n", 9) == 0, "%s", out);
  assert_count(out, "size", proto.n);
  assert_count(out, "resources", 2);
  assert_count(out, "scopes", 2);
  assert_count(out, "profiles", 3);
  assert_count(out, "samples", 3);
  /* The rich request leaves string 12 unused; "orphan" and the second
   * "main" add two more; the duplicate function is unused, and the strings
   * it names are used elsewhere. */
  assert_table(out, "mapping_table", 2, 0, 0);
  assert_table(out, "location_table", 3, 0, 0);
  assert_table(out, "function_table", 4, 1, 1);
  assert_table(out, "link_table", 2, 0, 0);
  assert_table(out, "string_table", 16, 1, 3);
  assert_table(out, "attribute_table", 3, 0, 0);
  assert_table(out, "stack_table", 3, 0, 0);
  run_free(&r);

  /* Compressed input: the same numbers, and the compression is named. */
  pc_buf_t z = compress(PC_ENC_ZSTD, &proto);
  const char *zpath = write_file("stats.bin.zst", z.p, z.n);
  r = RUN(NULL, "stats", zpath);
  assert_status(&r, 0);
  out = (const char *)r.out.p;
  ck_assert_ptr_nonnull(value_of(out, "encoding"));
  ck_assert_msg(strncmp(value_of(out, "encoding"), "protobuf, zstd-compressed\n", 26) == 0,
                "%s", out);
  assert_count(out, "size", proto.n);
  assert_table(out, "string_table", 16, 1, 3);
  run_free(&r);
  pc_buf_free(&z);
  pc_buf_free(&proto);
}
END_TEST

/* Issue 12: OTLP-JSON with the proto's field names (resource_profiles,
 * sample_type, ...) was read as an empty request: stats said 0 samples and
 * exited 0. Now every sample is there, and convert gives back the very
 * protobuf; a body whose top-level keys are all unknown is refused. */
START_TEST(issue_12_json_with_proto_names) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  pc_buf_t proto = encode(&req), js = {0}, snake = {0};
  ck_assert_int_eq(pc_json_encode(&req, &js), 0);
  pc_test_to_proto_names(&js, false, &snake);
  ck_assert_ptr_nonnull(strstr((const char *)snake.p, "\"resource_profiles\":"));
  const char *path = write_file("snake.json", snake.p, snake.n);
  run_t r = RUN(NULL, "stats", path);
  assert_status(&r, 0);
  const char *out = (const char *)r.out.p;
  assert_count(out, "profiles", pc_request_profile_count(&req));
  assert_count(out, "samples", pc_request_sample_count(&req));
  ck_assert_uint_gt(pc_request_sample_count(&req), 0);
  run_free(&r);

  const char *pb = tpath("snake.pb");
  r = RUN(NULL, "convert", "--to", "proto", "-o", pb, path);
  assert_status(&r, 0);
  run_free(&r);
  pc_buf_t back = slurp(pb);
  assert_bytes_eq(&back, &proto, "protobuf converted from proto-named JSON");

  const char *typo = write_file("typo.json", "{\"resourceProfile\":[{}]}", 24);
  r = RUN(NULL, "stats", typo);
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", typo, "unknown key \"resourceProfile\"");
  run_free(&r);
  pc_buf_free(&back);
  pc_buf_free(&proto);
  pc_buf_free(&js);
  pc_buf_free(&snake);
  pc_arena_free(a);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *needle; /* expected in the message */
} bad_case_t;

/* Each case writes its file and returns its path. */
static const char *bad_file(int i) {
  pc_buf_t proto = rich_proto();
  const char *path = NULL;
  switch (i) {
  case 0: path = write_file("garbage.bin", "\xff\xff\xff\xff\xff\xff\xff\xff", 8); break;
  case 1: path = write_file("truncated.bin", proto.p, proto.n - 1); break;
  case 2: path = write_file("empty.bin", "", 0); break;
  case 3: path = write_file("blank.json", " \n\t\n", 4); break;
  case 4: path = write_file("cut.json", "{\"resourceProfiles\": [", 22); break;
  case 5: {
    pc_buf_t z = compress(PC_ENC_GZIP, &proto);
    path = write_file("truncated.gz", z.p, z.n / 2);
    pc_buf_free(&z);
    break;
  }
  }
  pc_buf_free(&proto);
  return path;
}

static const bad_case_t bad_cases[] = {
    {"garbage", "not a valid protobuf request"},
    {"truncated", "not a valid protobuf request"},
    {"empty", "the file is empty (0 bytes): no request to read"},
    {"blanks only", "only blanks (4 bytes): no request to read"},
    {"cut JSON", "not a valid OTLP-JSON request"},
    {"truncated gzip", "cannot decompress"},
};

START_TEST(bad_input_fails_with_one_line) {
  const bad_case_t *c = &bad_cases[_i];
  const char *path = bad_file(_i);
  const char *out_path = tpath("out");
  run_t r = RUN(NULL, "convert", "-o", out_path, path);
  ck_assert_msg(r.status == 1, "%s: exit %d, want 1", c->name, r.status);
  assert_one_line_error(&r, "convert", path, c->needle);
  ck_assert_msg(access(out_path, F_OK) != 0, "%s: output file created anyway", c->name);
  run_free(&r);

  r = RUN(NULL, "stats", path);
  ck_assert_msg(r.status == 1, "%s: stats exit %d, want 1", c->name, r.status);
  ck_assert_uint_eq(r.out.n, 0);
  assert_one_line_error(&r, "stats", path, c->needle);
  run_free(&r);
}
END_TEST

START_TEST(missing_file) {
  const char *path = tpath("does-not-exist.bin");
  run_t r = RUN(NULL, "convert", path);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", path, strerror(ENOENT));
  run_free(&r);
  r = RUN(NULL, "stats", path);
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", path, strerror(ENOENT));
  run_free(&r);
}
END_TEST

START_TEST(unwritable_output) {
  pc_buf_t proto = rich_proto();
  const char *in = write_file("p.bin", proto.p, proto.n);
  const char *out = tpath("no-such-dir/p.json");
  run_t r = RUN(NULL, "convert", "-o", out, in);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", out, "cannot create the output file");
  run_free(&r);
  /* A device that refuses writes: reported, and not removed. Reached
   * through a symlink, so that a regression removes the link, not the
   * device (the tests may run as root). */
  const char *full = tpath("full");
  ck_assert_int_eq(symlink("/dev/full", full), 0);
  r = RUN(NULL, "convert", "-o", full, in);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", full, strerror(ENOSPC));
  run_free(&r);
  struct stat st;
  ck_assert_msg(lstat(full, &st) == 0, "the output device was removed");

  /* A regular file that cannot be finished: a file size limit of one
   * 512-byte block, set for profcol only (a shell sets it, then execs), is
   * far below the JSON's size and above the one-line message. The partial
   * output is removed. */
  out = tpath("partial.json");
  signal(SIGXFSZ, SIG_IGN); /* inherited: write fails with EFBIG, no kill */
  static const char *const fsize_1_block[] = {
      "/bin/sh", "-c", "ulimit -f 1 && exec \"$0\" \"$@\"", NULL};
  r = run_wrapped(fsize_1_block, NULL, (const char *const[]){"convert", "-o", out, in, NULL});
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", out, strerror(EFBIG));
  ck_assert_ptr_nonnull(strstr((char *)r.err.p, "partial output was removed"));
  ck_assert_msg(access(out, F_OK) != 0, "partial output left behind");
  run_free(&r);
  pc_buf_free(&proto);
}
END_TEST

/* A profile whose sample points past the stack table is dropped by the
 * decoder: the rest is converted, and the exit status says it was not
 * clean. */
START_TEST(rejected_profiles_warn_and_fail) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  req.resources[0].scopes[0].profiles[0].samples[0].stack_index = 99;
  pc_buf_t proto = encode(&req);
  pc_arena_free(a);
  const char *path = write_file("rejected.bin", proto.p, proto.n);
  run_t r = RUN(NULL, "convert", path);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", path, "1 profile(s) rejected");
  ck_assert_msg(r.out.n > 0 && r.out.p[0] == '{', "the valid rest is not written");
  run_free(&r);

  r = RUN(NULL, "stats", path);
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", path, "1 profile(s) rejected");
  assert_count((const char *)r.out.p, "profiles", 2);
  assert_count((const char *)r.out.p, "rejected", 1);
  run_free(&r);
  pc_buf_free(&proto);
}
END_TEST

/* ---- pprof and folded stacks --------------------------------------------------- */

/* What the library makes of the same input, to compare the binary with. */
static pc_buf_t api_folded(const pc_request_t *const *reqs, size_t n, const char *type) {
  pc_stacks_filter_t f = {0};
  if (type) f.sample_type = (pc_str_t){(const uint8_t *)type, strlen(type)};
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_msg(pc_stacks_select(reqs, n, &f, &s, &err) == 0, "%s", err.msg);
  pc_buf_t out = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &out), 0);
  pc_stacks_free(s);
  return out;
}

/* The real Go CPU profile: pprof -> OTLP -> folded and pprof, each step
 * equal to what the library gives for the same bytes. */
START_TEST(pprof_in_folded_and_pprof_out) {
  pc_buf_t raw = {0};
  pc_test_read_file("tests/data/pprof/cpu.pb.gz", &raw);
  const char *pprof = write_file("cpu.pb.gz", raw.p, raw.n);
  pc_builder_t *b = pc_builder_new();
  pc_err_t err = {0};
  ck_assert_int_eq(pc_pprof_convert(raw.p, raw.n, 1 << 30, b, &err), 0);
  const pc_request_t *req = pc_builder_request(b);
  pc_buf_t want = encode(req);

  const char *otlp = tpath("cpu.binpb");
  run_t r = RUN(NULL, "convert", "--from", "pprof", pprof, "-o", otlp);
  assert_status(&r, 0);
  ck_assert_uint_eq(r.err.n, 0);
  run_free(&r);
  pc_buf_t got = slurp(otlp);
  assert_bytes_eq(&got, &want, "pprof -> OTLP protobuf");
  pc_buf_free(&got);

  r = RUN(NULL, "stats", "--from", "pprof", pprof);
  assert_status(&r, 0);
  ck_assert_msg(strncmp(value_of((char *)r.out.p, "encoding"), "pprof, gzip-compressed\n", 23) == 0,
                "%s", (char *)r.out.p);
  assert_count((char *)r.out.p, "profiles", 2);
  assert_count((char *)r.out.p, "samples", pc_request_sample_count(req));
  run_free(&r);

  /* Folded, the default sample type named on stderr. */
  pc_buf_t folded = api_folded(&req, 1, NULL);
  r = RUN(NULL, "convert", "--to", "folded", otlp);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &folded, "folded");
  assert_one_line_error(&r, "convert", otlp, "sample type cpu:nanoseconds: the default");
  ck_assert_ptr_nonnull(strstr((char *)r.err.p, "samples:count (51)"));
  run_free(&r);
  pc_buf_free(&folded);
  folded = api_folded(&req, 1, "samples:count");
  r = RUN(NULL, "convert", "--to", "folded", "--sample-type", "samples:count", otlp);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &folded, "folded samples:count");
  ck_assert_uint_eq(r.err.n, 0);
  run_free(&r);

  /* pprof out: gzip'd, and it converts back to the same folded stacks. */
  const char *out = tpath("out.pb.gz");
  r = RUN(NULL, "convert", "--to", "pprof", "--sample-type", "samples", otlp, "-o", out);
  assert_status(&r, 0);
  run_free(&r);
  pc_buf_t back = slurp(out);
  ck_assert_int_eq(pc_encoding_sniff(back.p, back.n), PC_ENC_GZIP);
  pc_builder_t *b2 = pc_builder_new();
  ck_assert_int_eq(pc_pprof_convert(back.p, back.n, 1 << 30, b2, &err), 0);
  const pc_request_t *req2 = pc_builder_request(b2);
  pc_buf_t folded2 = api_folded(&req2, 1, NULL);
  assert_bytes_eq(&folded2, &folded, "pprof export, converted back, folded");
  pc_buf_free(&folded2);
  pc_builder_free(b2);
  pc_buf_free(&back);
  pc_buf_free(&folded);

  /* Nothing selected, or no such type: exit 1, one line saying so. */
  r = RUN(NULL, "convert", "--to", "folded", "--sample-type", "wall", otlp);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", otlp,
                        "no selected sample has sample type \"wall\" (there are: cpu:nanoseconds");
  ck_assert_uint_eq(r.out.n, 0);
  run_free(&r);
  r = RUN(NULL, "convert", "--to", "folded", "--trace-id", "0123456789abcdef0123456789ABCDEF",
          otlp);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", otlp, "no sample is linked to that trace");
  run_free(&r);
  /* OTLP given as pprof: a pprof decoding error. */
  r = RUN(NULL, "convert", "--from", "pprof", otlp);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", otlp, "not a valid pprof profile");
  run_free(&r);

  pc_buf_free(&want);
  pc_builder_free(b);
  pc_buf_free(&raw);
}
END_TEST

/* --trace-id and --span-id select the samples linked to them. */
START_TEST(folded_by_trace_and_span) {
  pc_buf_t proto = rich_proto();
  const char *path = write_file("p.bin", proto.p, proto.n);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t req;
  pc_test_rich_request(a, &req);
  const pc_request_t *reqs[] = {&req};
  pc_stacks_filter_t f = {.has_trace_id = true, .has_span_id = true};
  memcpy(f.trace_id, "\x5b\x8e\xfe\xf8\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b", 16);
  memcpy(f.span_id, "\xaa\xbb\xcc\xdd\xee\xff\x00\x11", 8);
  pc_stacks_t *s;
  pc_err_t err = {0};
  ck_assert_int_eq(pc_stacks_select(reqs, 1, &f, &s, &err), 0);
  ck_assert_uint_eq(pc_stacks_info(s)->samples, 1);
  pc_buf_t want = {0};
  ck_assert_int_eq(pc_stacks_folded(s, &want), 0);
  ck_assert_uint_gt(want.n, 0);
  pc_stacks_free(s);
  run_t r = RUN(NULL, "convert", "--to", "folded", "--trace-id",
                "5b8efef8000102030405060708090a0b", "--span-id", "AABBCCDDEEFF0011", path);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &want, "folded of one span");
  run_free(&r);
  r = RUN(NULL, "convert", "--to", "folded", "--trace-id",
          "5b8efef8000102030405060708090a0b", "--span-id", "aabbccddeeff0012", path);
  assert_status(&r, 1);
  run_free(&r);
  pc_buf_free(&want);
  pc_arena_free(a);
  pc_buf_free(&proto);
}
END_TEST

/* ---- the file exporter's formats ------------------------------------------------ */

/* Three different requests: the rich one with its values scaled. */
static void three_requests(pc_arena_t *a, pc_request_t reqs[3]) {
  for (int k = 0; k < 3; k++) {
    pc_test_rich_request(a, &reqs[k]);
    pc_profile_t *p = &reqs[k].resources[0].scopes[0].profiles[0];
    int64_t *v = pc_arena_alloc(a, 2 * sizeof *v);
    v[0] = 5 * (k + 1), v[1] = -(k + 1);
    for (uint32_t i = 0; i < p->n_samples; i++)
      if (p->samples[i].n_values) p->samples[i].values = v;
  }
}

/* As the file exporter writes them: JSON lines, or length + protobuf. */
static pc_buf_t stream(const pc_request_t reqs[], int n, bool json) {
  pc_buf_t b = {0};
  for (int k = 0; k < n; k++) {
    size_t at = b.n;
    if (!json) ck_assert_int_eq(pc_buf_append(&b, "\0\0\0\0", 4), 0);
    ck_assert_int_eq(json ? pc_json_encode(&reqs[k], &b) : pc_proto_encode(&reqs[k], &b), 0);
    if (json) {
      ck_assert_int_eq(pc_buf_append(&b, "\n", 1), 0);
    } else {
      size_t len = b.n - at - 4;
      b.p[at] = (uint8_t)(len >> 24), b.p[at + 1] = (uint8_t)(len >> 16);
      b.p[at + 2] = (uint8_t)(len >> 8), b.p[at + 3] = (uint8_t)len;
    }
  }
  return b;
}

START_TEST(streams_of_requests) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t reqs[3];
  three_requests(a, reqs);
  pc_buf_t lines = stream(reqs, 3, true), framed = stream(reqs, 3, false);
  const char *lpath = write_file("out.json", lines.p, lines.n);
  const char *fpath = write_file("out.binpb", framed.p, framed.n);

  /* stats: every request counted, the framing named */
  run_t r = RUN(NULL, "stats", "--each", fpath);
  assert_status(&r, 0);
  const char *out = (const char *)r.out.p;
  ck_assert_msg(strncmp(value_of(out, "encoding"),
                        "protobuf, each request after its 4-byte length\n", 47) == 0, "%s", out);
  assert_count(out, "requests", 3);
  assert_count(out, "profiles", 9);
  assert_count(out, "samples", 9);
  ck_assert_ptr_nonnull(strstr(out, "\n3 "));
  run_free(&r);
  r = RUN(NULL, "stats", lpath);
  assert_status(&r, 0);
  ck_assert_msg(strncmp(value_of((char *)r.out.p, "encoding"), "OTLP-JSON, one request per line\n",
                        32) == 0, "%s", (char *)r.out.p);
  assert_count((char *)r.out.p, "requests", 3);
  assert_count((char *)r.out.p, "samples", 9);
  run_free(&r);

  /* convert keeps a stream a stream, both ways, byte for byte */
  r = RUN(NULL, "convert", fpath);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &lines, "framed proto -> JSON lines");
  run_free(&r);
  r = RUN(NULL, "convert", lpath, "-o", tpath("back.binpb"));
  assert_status(&r, 0);
  run_free(&r);
  pc_buf_t back = slurp(tpath("back.binpb"));
  assert_bytes_eq(&back, &framed, "JSON lines -> framed proto");
  pc_buf_free(&back);

  /* --merge: one request, one dictionary */
  r = RUN(NULL, "convert", "--merge", "--to", "proto", lpath, "-o", tpath("one.binpb"));
  assert_status(&r, 0);
  run_free(&r);
  r = RUN(NULL, "stats", tpath("one.binpb"));
  assert_status(&r, 0);
  assert_count((char *)r.out.p, "requests", 1);
  assert_count((char *)r.out.p, "samples", 9);
  assert_table((char *)r.out.p, "function_table", 3, 0, 0);
  run_free(&r);

  /* folded adds up every request */
  const pc_request_t *rp[] = {&reqs[0], &reqs[1], &reqs[2]};
  pc_buf_t want = api_folded(rp, 3, NULL);
  r = RUN(NULL, "convert", "--to", "folded", fpath);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &want, "folded over three requests");
  run_free(&r);
  r = RUN(NULL, "convert", "--to", "folded", lpath);
  assert_status(&r, 0);
  assert_bytes_eq(&r.out, &want, "folded over three JSON lines");
  run_free(&r);
  pc_buf_free(&want);
  pc_buf_free(&lines);
  pc_buf_free(&framed);
  pc_arena_free(a);
}
END_TEST

/* A bad request in a stream is named by number and place in the file. */
START_TEST(stream_errors_name_the_request) {
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t reqs[3];
  three_requests(a, reqs);
  pc_buf_t framed = stream(reqs, 3, false), lines = stream(reqs, 3, true);
  size_t len1 = (size_t)framed.p[2] << 8 | framed.p[3];
  size_t second = 4 + len1 + 4; /* the second request's first byte */
  /* Its first byte becomes a tag of field 0. */
  uint8_t saved = framed.p[second];
  framed.p[second] = 0x00;
  const char *bad = write_file("bad.binpb", framed.p, framed.n);
  char want[160];
  snprintf(want, sizeof want,
           "request 2 (at byte %zu): not a valid protobuf request: at byte %zu of the file (0 "
           "of the request)", second, second);
  run_t r = RUN(NULL, "stats", bad);
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", bad, want);
  run_free(&r);
  r = RUN(NULL, "convert", bad);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", bad, want);
  run_free(&r);

  /* cut inside the third record */
  framed.p[second] = saved;
  const char *cut = write_file("cut.binpb", framed.p, framed.n - 3);
  size_t third = second + (((size_t)framed.p[second - 2] << 8) | framed.p[second - 1]);
  snprintf(want, sizeof want, "request 3 (at byte %zu): its length says", third);
  r = RUN(NULL, "stats", cut);
  assert_status(&r, 1);
  assert_one_line_error(&r, "stats", cut, want);
  ck_assert_ptr_nonnull(strstr((char *)r.err.p, "truncated?"));
  run_free(&r);

  /* JSON lines: the second line broken */
  char *nl = memchr(lines.p, '\n', lines.n);
  size_t at2 = (size_t)((uint8_t *)nl - lines.p) + 1;
  lines.p[at2 + 1] = '#';
  const char *badj = write_file("bad.json", lines.p, lines.n);
  snprintf(want, sizeof want, "request 2 (line 2, at byte %zu): not a valid OTLP-JSON request",
           at2);
  r = RUN(NULL, "convert", badj);
  assert_status(&r, 1);
  assert_one_line_error(&r, "convert", badj, want);
  run_free(&r);
  pc_buf_free(&framed);
  pc_buf_free(&lines);
  pc_arena_free(a);
}
END_TEST

/* What the file exporter itself wrote, in both formats, reads back. */
START_TEST(file_exporter_output_reads_back) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "receivers:\n"
           "  otlp:\n"
           "    protocols:\n"
           "      http:\n"
           "        endpoint: 127.0.0.1:0\n"
           "exporters:\n"
           "  file/json:\n"
           "    path: %s/out.json\n"
           "  file/proto:\n"
           "    path: %s/out.binpb\n"
           "    format: proto\n"
           "service:\n"
           "  pipelines:\n"
           "    profiles:\n"
           "      receivers: [otlp]\n"
           "      exporters: [file/json, file/proto]\n",
           tmpdir, tmpdir);
  pc_e2e_proc_t p;
  bool started = pc_e2e_start(&p, yaml);
  char *log = pc_e2e_log(&p);
  ck_assert_msg(started, "profcol did not start:\n%s", log);
  free(log);
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t reqs[3];
  three_requests(a, reqs);
  for (int k = 0; k < 3; k++) {
    pc_buf_t body = encode(&reqs[k]);
    pc_e2e_resp_t resp = {0};
    pc_e2e_post(p.port, "/v1development/profiles", "application/x-protobuf", NULL, body.p,
                body.n, &resp);
    ck_assert_int_eq(resp.status, 200);
    pc_buf_free(&resp.body);
    pc_buf_free(&body);
  }
  ck_assert_int_eq(pc_e2e_stop(&p, 30), 0);
  pc_e2e_cleanup(&p);

  const pc_request_t *rp[] = {&reqs[0], &reqs[1], &reqs[2]};
  pc_buf_t want = api_folded(rp, 3, NULL);
  const char *files[] = {tpath("out.json"), tpath("out.binpb")};
  for (int f = 0; f < 2; f++) {
    run_t r = RUN(NULL, "stats", files[f]);
    assert_status(&r, 0);
    assert_count((char *)r.out.p, "requests", 3);
    assert_count((char *)r.out.p, "samples", 9);
    run_free(&r);
    r = RUN(NULL, "convert", "--to", "folded", files[f]);
    assert_status(&r, 0);
    assert_bytes_eq(&r.out, &want, files[f]);
    run_free(&r);
  }
  pc_buf_free(&want);
  pc_arena_free(a);
}
END_TEST

/* ---- command line -------------------------------------------------------------- */

static const char *const usage_cases[][7] = {
    {"convert"},                                   /* no FILE */
    {"convert", "a.bin", "b.bin"},                 /* two FILEs */
    {"convert", "--to", "yaml", "a.bin"},          /* bad --to */
    {"convert", "--to"},                           /* --to without value */
    {"convert", "--bogus", "a.bin"},               /* unknown long option */
    {"convert", "-x", "a.bin"},                    /* unknown short option */
    {"convert", "--max-size", "0", "a.bin"},       /* zero limit */
    {"convert", "--max-size", "lots", "a.bin"},    /* not a number */
    {"stats", "-o", "out", "a.bin"},               /* convert-only option */
    {"convert", "--from", "perf", "a.bin"},        /* bad --from */
    {"convert", "--sample-type", "cpu", "a.bin"},  /* selection without pprof/folded */
    {"convert", "--to", "folded", "--trace-id", "abc", "a.bin"}, /* short trace id */
    {"convert", "--to", "pprof", "--span-id", "zz00000000000000", "a.bin"}, /* not hex */
    {"convert", "--to", "folded", "--merge", "a.bin"}, /* --merge with folded */
    {"stats"},                                     /* no FILE */
    {"frobnicate"},                                /* unknown command */
    {"--bogus"},                                   /* unknown global option */
};

START_TEST(bad_usage_exits_2) {
  const char *const *c = usage_cases[_i];
  run_t r = run_argv(NULL, c);
  ck_assert_msg(r.status == 2, "profcol %s %s: exit %d, want 2; stderr:\n%s", c[0],
                c[1] ? c[1] : "", r.status, (char *)r.err.p);
  ck_assert_msg(strncmp((char *)r.err.p, "profcol: ", 9) == 0, "stderr: %s", (char *)r.err.p);
  ck_assert_uint_eq(r.out.n, 0);
  run_free(&r);
}
END_TEST

START_TEST(help_version_and_no_command) {
  run_t r = RUN(NULL, "--help");
  assert_status(&r, 0);
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "convert"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "stats"));
  run_free(&r);

  r = RUN(NULL, "--version");
  assert_status(&r, 0);
  ck_assert_msg(strncmp((char *)r.out.p, "profcol ", 8) == 0 && r.out.p[8] >= '0' &&
                    r.out.p[8] <= '9', "version: %s", (char *)r.out.p);
  run_free(&r);

  r = RUN(NULL, "convert", "--help");
  assert_status(&r, 0);
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "usage: profcol convert"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "--max-size"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "--to pprof"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "--sample-type T"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "--from otlp|pprof"));
  run_free(&r);

  r = RUN(NULL, "stats", "-h");
  assert_status(&r, 0);
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "usage: profcol stats"));
  ck_assert_ptr_nonnull(strstr((char *)r.out.p, "--each"));
  run_free(&r);

  /* No command runs the service; a bad option is a usage error (2). */
  r = RUN(NULL, "--bogus");
  assert_status(&r, 2);
  ck_assert_str_eq((char *)r.err.p, "profcol: unknown flag: --bogus (see profcol --help)\n");
  run_free(&r);
  /* Options of validate are named as validate's. */
  r = RUN(NULL, "validate", "--bogus");
  assert_status(&r, 2);
  ck_assert_str_eq((char *)r.err.p,
                   "profcol: validate: unknown flag: --bogus (see profcol validate --help)\n");
  run_free(&r);
  r = RUN(NULL, "--config");
  assert_status(&r, 2);
  ck_assert_str_eq((char *)r.err.p, "profcol: --config needs a value\n");
  run_free(&r);
}
END_TEST

/* Issue 14: a config file or token file others may change used to be read
 * silently; now each says so, as sshd's StrictModes would. */
START_TEST(issue14_writable_config_and_token_warn) {
  const char *token = write_file("token", "s3cret\n", 7);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n"
           "        auth: {authenticator: bearertokenauth}\n"
           "exporters:\n  nop:\n"
           "extensions:\n  bearertokenauth:\n    filename: %s\n"
           "service:\n  extensions: [bearertokenauth]\n"
           "  pipelines:\n    profiles:\n      receivers: [otlp]\n      exporters: [nop]\n",
           token);
  const char *cfg = write_file("profcol.yaml", yaml, strlen(yaml));
  char want_cfg[1200], want_token[1200];
  snprintf(want_cfg, sizeof want_cfg, "the config file %s is writable by every user", cfg);
  snprintf(want_token, sizeof want_token, "the token file %s is writable by every user", token);
  ck_assert_int_eq(chmod(cfg, 0600), 0);
  ck_assert_int_eq(chmod(token, 0600), 0);
  run_t r = RUN(NULL, "validate", "--config", cfg);
  assert_status(&r, 0);
  ck_assert_msg(!strstr((char *)r.err.p, "writable by every user"), "%s", (char *)r.err.p);
  run_free(&r);
  ck_assert_int_eq(chmod(cfg, 0666), 0);
  ck_assert_int_eq(chmod(token, 0666), 0);
  r = RUN(NULL, "validate", "--config", cfg);
  assert_status(&r, 0); /* a warning, not a refusal */
  ck_assert_msg(strstr((char *)r.err.p, want_cfg) && strstr((char *)r.err.p, want_token),
                "stderr:\n%s", (char *)r.err.p);
  run_free(&r);
  /* A directory anyone may write to lets anyone replace the files. */
  ck_assert_int_eq(chmod(cfg, 0600), 0);
  ck_assert_int_eq(chmod(token, 0600), 0);
  ck_assert_int_eq(chmod(tmpdir, 0777), 0);
  r = RUN(NULL, "validate", "--config", cfg);
  ck_assert_int_eq(chmod(tmpdir, 0700), 0);
  assert_status(&r, 0);
  char want_dir[1200];
  snprintf(want_dir, sizeof want_dir, "the directory %s, which holds the config file", tmpdir);
  ck_assert_msg(strstr((char *)r.err.p, want_dir), "stderr:\n%s", (char *)r.err.p);
  run_free(&r);
}
END_TEST

static Suite *cli_suite(void) {
  Suite *s = suite_create("e2e-cli");
  TCase *tc = tcase_create("convert");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_test(tc, proto_json_proto_round_trip);
  tcase_add_loop_test(tc, compressed_input_detected, 0, 2);
  tcase_add_test(tc, max_size_bounds_plain_input);
  tcase_add_test(tc, unwritable_output);
  tcase_add_test(tc, rejected_profiles_warn_and_fail);
  suite_add_tcase(s, tc);

  tc = tcase_create("pprof");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_test(tc, pprof_in_folded_and_pprof_out);
  tcase_add_test(tc, folded_by_trace_and_span);
  suite_add_tcase(s, tc);

  tc = tcase_create("streams");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_test(tc, streams_of_requests);
  tcase_add_test(tc, stream_errors_name_the_request);
  tcase_add_test(tc, file_exporter_output_reads_back);
  suite_add_tcase(s, tc);

  tc = tcase_create("stats");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_test(tc, stats_counts);
  tcase_add_test(tc, issue_12_json_with_proto_names);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_loop_test(tc, bad_input_fails_with_one_line, 0,
                      sizeof bad_cases / sizeof bad_cases[0]);
  tcase_add_test(tc, missing_file);
  tcase_add_loop_test(tc, bad_usage_exits_2, 0, sizeof usage_cases / sizeof usage_cases[0]);
  tcase_add_test(tc, help_version_and_no_command);
  suite_add_tcase(s, tc);

  tc = tcase_create("issue_14");
  tcase_add_unchecked_fixture(tc, make_basedir, remove_basedir);
  tcase_add_checked_fixture(tc, make_tmpdir, NULL);
  tcase_add_test(tc, issue14_writable_config_and_token_warn);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(cli_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
