/* cli_convert.c - `profcol convert` and `profcol stats`: offline tools on one
 * OTLP profiles request stored in a file.
 *
 * Both commands load the file the same way: read it whole (bounded by
 * --max-size), undo gzip or zstd found by magic bytes, tell OTLP-JSON from
 * protobuf by the first non-blank byte, and decode with the same decoders
 * the receiver uses, so what passes here passes there. convert then encodes
 * the request again; stats prints its counts and dictionary health.
 *
 * Every failure is one line on stderr naming the command and the file,
 * e.g. "profcol: convert: payload.bin: not a valid protobuf request: ...". */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pdata/pdata.h"
#include "cli.h"

#define DEFAULT_MAX_SIZE ((size_t)1 << 30) /* 1 GiB */

/* ---- messages -------------------------------------------------------------- */

static void print_usage(FILE *f, const pc_cli_command_t *cmd) {
  fprintf(f, "usage: profcol %s\n", cmd->usage);
}

/* A bad command line: what is wrong, then the usage. */
static int usage_error(const pc_cli_command_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const pc_cli_command_t *cmd, const char *fmt, ...) {
  fprintf(stderr, "profcol: %s: ", cmd->name);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  print_usage(stderr, cmd);
  return PC_EXIT_USAGE;
}

/* "profcol: CMD: FILE: message" on one line. */
static void file_error(const char *cmd, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void file_error(const char *cmd, const char *file, const char *fmt, ...) {
  fprintf(stderr, "profcol: %s: %s: ", cmd, file);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- options --------------------------------------------------------------- */

typedef struct {
  const char *input;  /* the FILE operand; "-" is stdin */
  const char *output; /* -o; NULL or "-" is stdout */
  size_t max_size;
  int to; /* -1: the other encoding; 0: proto; 1: json */
} cli_opts_t;

enum { OPT_TO = 256, OPT_MAX_SIZE };

/* "1048576", "64K", "512M", "2G" (binary multiples). */
static bool parse_size(const char *s, size_t *out) {
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return false;
  unsigned shift = 0;
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  default: break;
  }
  if (*end || v == 0 || v > (SIZE_MAX >> shift)) return false;
  *out = (size_t)v << shift;
  return true;
}

/* Parse argv (argv[0] is the command name) into o. Returns -1 to go on, or
 * the exit status (after --help or a usage error). with_output enables the
 * options only convert has. */
static int parse_opts(const pc_cli_command_t *cmd, bool with_output, int argc,
                      char **argv, cli_opts_t *o) {
  static const struct option all[] = {
      {"max-size", required_argument, NULL, OPT_MAX_SIZE},
      {"help", no_argument, NULL, 'h'},
      {"to", required_argument, NULL, OPT_TO},
      {"output", required_argument, NULL, 'o'},
      {NULL, 0, NULL, 0}};
  static const struct option common_only[] = {
      {"max-size", required_argument, NULL, OPT_MAX_SIZE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *o = (cli_opts_t){.max_size = DEFAULT_MAX_SIZE, .to = -1};
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* our messages, not getopt's */
  int c;
  while ((c = getopt_long(argc, argv, with_output ? ":ho:" : ":h",
                          with_output ? all : common_only, NULL)) != -1) {
    switch (c) {
    case 'h':
      print_usage(stdout, cmd);
      fputs(cmd->help, stdout);
      return PC_EXIT_OK;
    case 'o': o->output = optarg; break;
    case OPT_TO:
      if (strcmp(optarg, "json") == 0) o->to = 1;
      else if (strcmp(optarg, "proto") == 0 || strcmp(optarg, "protobuf") == 0) o->to = 0;
      else return usage_error(cmd, "--to must be json or proto, not \"%s\"", optarg);
      break;
    case OPT_MAX_SIZE:
      if (!parse_size(optarg, &o->max_size))
        return usage_error(cmd, "--max-size wants a positive number of bytes "
                                "(suffix K, M or G allowed), not \"%s\"", optarg);
      break;
    case ':': return usage_error(cmd, "option %s needs a value", argv[optind - 1]);
    default:
      if (optopt) return usage_error(cmd, "unknown option \"-%c\"", optopt);
      return usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
    }
  }
  if (optind >= argc) return usage_error(cmd, "missing FILE (use \"-\" for standard input)");
  if (argc - optind > 1)
    return usage_error(cmd, "one FILE at a time, got %d (\"%s\", \"%s\", ...)",
                       argc - optind, argv[optind], argv[optind + 1]);
  o->input = argv[optind];
  return -1;
}

/* ---- loading --------------------------------------------------------------- */

/* One request loaded from a file. The request's protobuf views point into
 * plain (or raw), so both live as long as req. */
typedef struct {
  const char *name; /* for messages: the path, or "<stdin>" */
  pc_buf_t raw;     /* the bytes as read */
  pc_buf_t plain;   /* decompressed bytes; empty when raw was not compressed */
  pc_encoding_t compression;
  bool json;
  pc_arena_t *arena;
  pc_request_t req;
} input_t;

static const pc_buf_t *input_bytes(const input_t *in) {
  return in->compression == PC_ENC_IDENTITY ? &in->raw : &in->plain;
}

static void input_free(input_t *in) {
  pc_buf_free(&in->raw);
  pc_buf_free(&in->plain);
  pc_arena_free(in->arena);
}

/* Read all of f into out, failing with PC_ELIMIT past limit bytes. */
static int read_all(FILE *f, size_t limit, pc_buf_t *out) {
  for (;;) {
    if (out->n == out->cap && pc_buf_reserve(out, 64 * 1024)) return PC_ENOMEM;
    size_t room = out->cap - out->n;
    size_t got = fread(out->p + out->n, 1, room, f);
    out->n += got;
    if (out->n > limit) return PC_ELIMIT;
    if (got < room) return ferror(f) ? PC_EIO : 0;
  }
}

static bool read_input(const char *cmd, const char *path, size_t limit, input_t *in) {
  bool is_stdin = strcmp(path, "-") == 0;
  in->name = is_stdin ? "<stdin>" : path;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    file_error(cmd, in->name, "cannot open: %s", strerror(errno));
    return false;
  }
  /* A regular file's size is known: refuse it before reading, or read it
   * into a buffer of exactly its size (+1 to see the end). */
  struct stat st;
  int rc = 0;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > limit) rc = PC_ELIMIT;
    else rc = pc_buf_reserve(&in->raw, (size_t)st.st_size + 1);
  }
  if (rc == 0) rc = read_all(f, limit, &in->raw);
  int saved = errno;
  if (!is_stdin) fclose(f);
  if (rc == PC_ELIMIT)
    file_error(cmd, in->name, "larger than the limit of %zu bytes (raise it with --max-size)",
               limit);
  else if (rc == PC_EIO)
    file_error(cmd, in->name, "read failed: %s", strerror(saved));
  else if (rc)
    file_error(cmd, in->name, "read failed: %s", pc_strerror(rc));
  return rc == 0;
}

static bool decompress_input(const char *cmd, size_t limit, input_t *in) {
  in->compression = pc_encoding_sniff(in->raw.p, in->raw.n);
  if (in->compression == PC_ENC_IDENTITY) return true;
  pc_err_t err = {0};
  int rc = pc_decompress(in->compression, in->raw.p, in->raw.n, limit, &in->plain, &err);
  if (rc == PC_ELIMIT) {
    file_error(cmd, in->name, "decompresses to more than the limit of %zu bytes "
               "(raise it with --max-size)", limit);
  } else if (rc) {
    file_error(cmd, in->name, "cannot decompress (the file starts like %s): %s",
               pc_encoding_name(in->compression), err.msg[0] ? err.msg : pc_strerror(rc));
  }
  return rc == 0;
}

/* OTLP-JSON is an object, so it starts with '{' after blanks; everything
 * else is taken as protobuf. Returns false for no content at all. */
static bool detect_format(const pc_buf_t *b, bool *json) {
  for (size_t i = 0; i < b->n; i++) {
    uint8_t c = b->p[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    *json = c == '{';
    return true;
  }
  return false;
}

static void decode_error(const char *cmd, const input_t *in, int rc, const pc_err_t *err) {
  char where[64] = "";
  if (in->compression != PC_ENC_IDENTITY)
    snprintf(where, sizeof where, " (after %s decompression to %zu bytes)",
             pc_encoding_name(in->compression), input_bytes(in)->n);
  /* The decoders' messages already say where (pdata.h): byte offset and
   * field path, or line and column. */
  file_error(cmd, in->name, "not a valid %s request%s: %s", in->json ? "OTLP-JSON" : "protobuf",
             where, err->msg[0] ? err->msg : pc_strerror(rc));
}

/* Read, decompress, detect and decode path. Prints the reason and returns
 * false on failure. */
static bool load_input(const char *cmd, const char *path, size_t limit, input_t *in) {
  *in = (input_t){0};
  if (!read_input(cmd, path, limit, in) || !decompress_input(cmd, limit, in)) return false;
  const pc_buf_t *b = input_bytes(in);
  if (!detect_format(b, &in->json)) {
    if (in->compression != PC_ENC_IDENTITY)
      file_error(cmd, in->name, "%s data decompresses to nothing: no request to read",
                 pc_encoding_name(in->compression));
    else if (b->n == 0)
      file_error(cmd, in->name, "the file is empty (0 bytes): no request to read");
    else
      file_error(cmd, in->name, "the file holds only blanks (%zu bytes): no request to read",
                 b->n);
    return false;
  }
  in->arena = pc_arena_new(0);
  pc_err_t err = {0};
  int rc = in->json ? pc_json_decode(in->arena, b->p, b->n, &in->req, &err)
                    : pc_proto_decode(in->arena, b->p, b->n, &in->req, &err);
  if (rc) decode_error(cmd, in, rc, &err);
  return rc == 0;
}

/* Profiles the decoder dropped (bad indices or shapes) make the file
 * unclean: warn, and let the caller exit 1. */
static bool check_rejected(const char *cmd, const input_t *in) {
  if (in->req.rejected_profiles == 0) return true;
  file_error(cmd, in->name, "warning: %llu profile(s) rejected and left out; first "
             "reason: %s", (unsigned long long)in->req.rejected_profiles,
             in->req.reject_msg[0] ? in->req.reject_msg : "(none given)");
  return false;
}

/* ---- convert --------------------------------------------------------------- */

static bool write_all(FILE *f, const pc_buf_t *b) {
  return fwrite(b->p, 1, b->n, f) == b->n && fflush(f) == 0;
}

/* Write b to path ("-" or NULL: stdout). A regular file left half-written
 * by a failure is removed, so a failed convert never leaves a truncated
 * copy; anything else (-o /dev/full, a FIFO) is left alone. */
static bool write_output(const char *cmd, const char *path, const pc_buf_t *b) {
  if (!path || strcmp(path, "-") == 0) {
    if (write_all(stdout, b)) return true;
    file_error(cmd, "<stdout>", "write failed: %s", strerror(errno));
    return false;
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    file_error(cmd, path, "cannot create the output file: %s", strerror(errno));
    return false;
  }
  struct stat st;
  bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  bool ok = write_all(f, b);
  int saved = errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    file_error(cmd, path, "write failed: %s%s", strerror(saved),
               regular ? " (the partial output was removed)" : "");
    if (regular) remove(path);
  }
  return ok;
}

static int convert_run(int argc, char **argv) {
  const pc_cli_command_t *cmd = &pc__cli_convert_cmd;
  cli_opts_t o;
  int rc = parse_opts(cmd, true, argc, argv, &o);
  if (rc >= 0) return rc;
  input_t in;
  if (!load_input(cmd->name, o.input, o.max_size, &in)) {
    input_free(&in);
    return PC_EXIT_FAIL;
  }
  bool json = o.to < 0 ? !in.json : o.to == 1;
  bool to_stdout = !o.output || strcmp(o.output, "-") == 0;
  int status = PC_EXIT_FAIL;
  pc_buf_t out = {0};
  if (!json && to_stdout && isatty(STDOUT_FILENO)) {
    file_error(cmd->name, in.name, "not writing binary protobuf to a terminal; use "
               "-o FILE, redirect the output, or --to json");
    goto done;
  }
  rc = json ? pc_json_encode(&in.req, &out) : pc_proto_encode(&in.req, &out);
  if (rc == 0 && json) rc = pc_buf_append(&out, "\n", 1); /* a text file ends in \n */
  if (rc) {
    file_error(cmd->name, in.name, "cannot encode as %s: %s", json ? "OTLP-JSON" : "protobuf",
               pc_strerror(rc));
    goto done;
  }
  if (!write_output(cmd->name, o.output, &out)) goto done;
  status = check_rejected(cmd->name, &in) ? PC_EXIT_OK : PC_EXIT_FAIL;
done:
  pc_buf_free(&out);
  input_free(&in);
  return status;
}

const pc_cli_command_t pc__cli_convert_cmd = {
    .name = "convert",
    .usage = "convert [--to json|proto] [-o FILE] [--max-size BYTES] FILE",
    .summary = "re-encode a profiles request: protobuf <-> OTLP-JSON",
    .help =
        "\n"
        "Read one OTLP ExportProfilesServiceRequest from FILE (\"-\": standard input),\n"
        "protobuf or OTLP-JSON (a first non-blank '{' means JSON), plain or gzip- or\n"
        "zstd-compressed, and write it in the other encoding.\n"
        "\n"
        "  --to json|proto    output encoding (default: the one the input is not)\n"
        "  -o, --output FILE  write to FILE instead of standard output\n"
        "  --max-size BYTES   refuse input larger than this, read or decompressed\n"
        "                     (default 1G; suffixes K, M, G)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 converted; 1 unreadable input, or profiles rejected (the\n"
        "valid rest is still written); 2 bad command line.\n",
    .run = convert_run,
};

/* ---- stats ----------------------------------------------------------------- */

static void print_encoding(const input_t *in) {
  const char *format = in->json ? "OTLP-JSON" : "protobuf";
  if (in->compression == PC_ENC_IDENTITY) {
    printf("%-14s%s\n", "encoding", format);
    printf("%-14s%zu bytes\n", "size", in->raw.n);
  } else {
    printf("%-14s%s, %s-compressed\n", "encoding", format,
           pc_encoding_name(in->compression));
    printf("%-14s%zu bytes (%zu compressed)\n", "size", in->plain.n, in->raw.n);
  }
}

static void print_stats(const input_t *in, const pc_stats_t *st) {
  printf("%-14s%s\n", "file", in->name);
  print_encoding(in);
  printf("%-14s%llu\n", "resources", (unsigned long long)st->resources);
  printf("%-14s%llu\n", "scopes", (unsigned long long)st->scopes);
  printf("%-14s%llu\n", "profiles", (unsigned long long)st->profiles);
  printf("%-14s%llu\n", "samples", (unsigned long long)st->samples);
  if (in->req.rejected_profiles)
    printf("%-14s%llu\n", "rejected", (unsigned long long)in->req.rejected_profiles);
  printf("\n%-16s %10s %12s %14s\n", "table", "size", "duplicates", "unreferenced");
  for (size_t t = 0; t < sizeof st->tables / sizeof st->tables[0]; t++) {
    const pc_table_stats_t *ts = &st->tables[t];
    printf("%-16s %10u %12u %14u\n", ts->name, ts->size, ts->duplicates, ts->unreferenced);
  }
}

static int stats_run(int argc, char **argv) {
  const pc_cli_command_t *cmd = &pc__cli_stats_cmd;
  cli_opts_t o;
  int rc = parse_opts(cmd, false, argc, argv, &o);
  if (rc >= 0) return rc;
  input_t in;
  int status = PC_EXIT_FAIL;
  if (load_input(cmd->name, o.input, o.max_size, &in)) {
    pc_stats_t st;
    rc = pc_pdata_stats(&in.req, &st);
    if (rc) {
      file_error(cmd->name, in.name, "cannot compute statistics: %s", pc_strerror(rc));
    } else {
      print_stats(&in, &st);
      if (fflush(stdout) != 0)
        file_error(cmd->name, "<stdout>", "write failed: %s", strerror(errno));
      else if (check_rejected(cmd->name, &in))
        status = PC_EXIT_OK;
    }
  }
  input_free(&in);
  return status;
}

const pc_cli_command_t pc__cli_stats_cmd = {
    .name = "stats",
    .usage = "stats [--max-size BYTES] FILE",
    .summary = "count resources, profiles, samples; table sizes, duplicates, unused",
    .help =
        "\n"
        "Read one OTLP ExportProfilesServiceRequest from FILE (\"-\": standard input),\n"
        "as convert does, and print its counts and, per dictionary table, its size,\n"
        "its entries equal in content to an earlier one (duplicates) and its entries\n"
        "other than 0 that no sample, profile, resource or scope reaches\n"
        "(unreferenced).\n"
        "\n"
        "  --max-size BYTES   refuse input larger than this, read or decompressed\n"
        "                     (default 1G; suffixes K, M, G)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 done; 1 unreadable input, or profiles rejected (the stats\n"
        "cover the rest); 2 bad command line.\n",
    .run = stats_run,
};
