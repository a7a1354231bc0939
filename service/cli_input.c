/* cli_input.c - what `profcol convert` and `profcol stats` share: reading a
 * file of profiles in every form profcol takes or writes, and the one-line
 * messages of both commands.
 *
 * A file is read whole (bounded by --max-size), gzip or zstd found by magic
 * bytes is undone (bounded the same way), and what is left is:
 * - OTLP-JSON when its first non-blank byte is '{': one request, or several
 *   JSON values one after another, as the file exporter's json format
 *   writes them one per line;
 * - OTLP protobuf otherwise: the file exporter's proto format (each request
 *   after its length as 4 big-endian bytes) when the file starts with a 0
 *   byte (no request does: field number 0 does not exist) or when such
 *   lengths tile the file exactly, else one request;
 * - pprof's profile.proto with --from pprof, converted to one request.
 * Every request is decoded with the receivers' decoders, so what passes
 * here passes there. A problem in a file of several requests names the
 * request and where it starts: "request 3 (at byte 81234): ...", with the
 * decoder's own offset turned into one in the file. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../pdata/pprof.h"
#include "cli.h"

/* ---- messages ------------------------------------------------------------------ */

int pc__cli_usage_error(const pc_cli_command_t *cmd, const char *fmt, ...) {
  fprintf(stderr, "profcol: %s: ", cmd->name);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: profcol %s\n", cmd->usage);
  return PC_EXIT_USAGE;
}

void pc__cli_file_error(const char *cmd, const char *file, const char *fmt, ...) {
  fprintf(stderr, "profcol: %s: %s: ", cmd, file);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int pc__cli_print_help(const pc_cli_command_t *cmd) {
  printf("usage: profcol %s\n", cmd->usage);
  fputs(cmd->help, stdout);
  return PC_EXIT_OK;
}

bool pc__cli_parse_size(const char *s, size_t *out) {
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

int pc__cli_common_opt(const pc_cli_command_t *cmd, int c, char **argv, size_t *max_size,
                       pc_cli_from_t *from) {
  switch (c) {
  case 'h': return pc__cli_print_help(cmd);
  case PC_CLI_OPT_MAX_SIZE:
    if (!pc__cli_parse_size(optarg, max_size))
      return pc__cli_usage_error(cmd, "--max-size wants a positive number of bytes "
                                      "(suffix K, M or G allowed), not \"%s\"", optarg);
    return -1;
  case PC_CLI_OPT_FROM:
    if (!strcmp(optarg, "otlp") || !strcmp(optarg, "auto")) *from = PC_CLI_FROM_OTLP;
    else if (!strcmp(optarg, "pprof")) *from = PC_CLI_FROM_PPROF;
    else return pc__cli_usage_error(cmd, "--from must be otlp or pprof, not \"%s\"", optarg);
    return -1;
  case ':': return pc__cli_usage_error(cmd, "option %s needs a value", argv[optind - 1]);
  default: /* '?' */
    if (optopt) return pc__cli_usage_error(cmd, "unknown option \"-%c\"", optopt);
    return pc__cli_usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
  }
}

int pc__cli_one_file(const pc_cli_command_t *cmd, int argc, char **argv, const char **input) {
  if (optind >= argc)
    return pc__cli_usage_error(cmd, "missing FILE (use \"-\" for standard input)");
  if (argc - optind > 1)
    return pc__cli_usage_error(cmd, "one FILE at a time, got %d (\"%s\", \"%s\", ...)",
                               argc - optind, argv[optind], argv[optind + 1]);
  *input = argv[optind];
  return -1;
}

/* ---- reading ---------------------------------------------------------------------- */

static const pc_buf_t *plain_bytes(const pc_cli_input_t *in) {
  return in->compression == PC_ENC_IDENTITY ? &in->raw : &in->plain;
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

static bool read_input(const char *cmd, const char *path, size_t limit, pc_cli_input_t *in) {
  bool is_stdin = strcmp(path, "-") == 0;
  in->name = is_stdin ? "<stdin>" : path;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    pc__cli_file_error(cmd, in->name, "cannot open: %s", strerror(errno));
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
    pc__cli_file_error(cmd, in->name,
                       "larger than the limit of %zu bytes (raise it with --max-size)", limit);
  else if (rc == PC_EIO)
    pc__cli_file_error(cmd, in->name, "read failed: %s", strerror(saved));
  else if (rc)
    pc__cli_file_error(cmd, in->name, "read failed: %s", pc_strerror(rc));
  return rc == 0;
}

static bool decompress_input(const char *cmd, size_t limit, pc_cli_input_t *in) {
  in->compression = pc_encoding_sniff(in->raw.p, in->raw.n);
  if (in->compression == PC_ENC_IDENTITY) return true;
  pc_err_t err = {0};
  int rc = pc_decompress(in->compression, in->raw.p, in->raw.n, limit, &in->plain, &err);
  if (rc == PC_ELIMIT) {
    pc__cli_file_error(cmd, in->name, "decompresses to more than the limit of %zu bytes "
                                      "(raise it with --max-size)", limit);
  } else if (rc) {
    pc__cli_file_error(cmd, in->name, "cannot decompress (the file starts like %s): %s",
                       pc_encoding_name(in->compression), err.msg[0] ? err.msg : pc_strerror(rc));
  }
  return rc == 0;
}

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Room for one more request. */
static pc_cli_req_t *add_req(pc_cli_input_t *in, size_t *cap) {
  if (in->n_reqs == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    pc_cli_req_t *r = realloc(in->reqs, *cap * sizeof *r);
    if (!r) pc_oom();
    in->reqs = r;
  }
  pc_cli_req_t *r = &in->reqs[in->n_reqs++];
  *r = (pc_cli_req_t){0};
  return r;
}

/* The end of the JSON value that starts at p[i] (a '{'): one past its
 * closing brace, or n when it does not close (the decoder then says why). */
static size_t json_value_end(const uint8_t *p, size_t i, size_t n) {
  int depth = 0;
  bool in_string = false;
  for (; i < n; i++) {
    uint8_t c = p[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return n;
}

static void split_json(pc_cli_input_t *in) {
  const pc_buf_t *b = plain_bytes(in);
  size_t cap = 0;
  unsigned line = 1;
  for (size_t i = 0; i < b->n;) {
    if (is_blank(b->p[i])) {
      line += b->p[i++] == '\n';
      continue;
    }
    /* a value, or whatever else is there (its decoding then fails) */
    size_t end = b->p[i] == '{' ? json_value_end(b->p, i, b->n) : b->n;
    pc_cli_req_t *r = add_req(in, &cap);
    r->offset = i, r->len = end - i, r->line = line;
    for (size_t k = i; k < end; k++) line += b->p[k] == '\n';
    i = end;
  }
  in->framing = in->n_reqs > 1 ? PC_CLI_LINES : PC_CLI_ONE;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether 4-byte big-endian lengths tile b exactly. */
static bool frames_tile(const pc_buf_t *b) {
  size_t i = 0;
  while (b->n - i >= 4) {
    uint64_t len = be32(b->p + i);
    if (len > b->n - i - 4) return false;
    i += 4 + len;
  }
  return i == b->n && b->n > 0;
}

/* Split the file exporter's proto format; false (with the message printed)
 * when it ends inside a record. */
static bool split_framed(const char *cmd, pc_cli_input_t *in) {
  const pc_buf_t *b = plain_bytes(in);
  size_t cap = 0;
  in->framing = PC_CLI_FRAMED;
  for (size_t i = 0; i < b->n;) {
    if (b->n - i < 4) {
      pc__cli_file_error(cmd, in->name, "request %zu (at byte %zu): the file ends inside "
                         "its 4-byte length (%zu bytes left): truncated?", in->n_reqs + 1, i,
                         b->n - i);
      return false;
    }
    uint64_t len = be32(b->p + i);
    if (len > b->n - i - 4) {
      pc__cli_file_error(cmd, in->name, "request %zu (at byte %zu): its length says %llu "
                         "bytes, the file has %zu more: truncated?", in->n_reqs + 1, i,
                         (unsigned long long)len, b->n - i - 4);
      return false;
    }
    pc_cli_req_t *r = add_req(in, &cap);
    r->offset = i + 4, r->len = (size_t)len;
    i += 4 + len;
  }
  return true;
}

/* "request 3 (at byte 812)" or "request 3 (line 3, at byte 812)" for a file
 * of several requests, "" for one. */
static void where(const pc_cli_input_t *in, size_t k, char *out, size_t cap) {
  out[0] = 0;
  if (in->framing == PC_CLI_ONE) return;
  const pc_cli_req_t *r = &in->reqs[k];
  if (r->line)
    snprintf(out, cap, "request %zu (line %u, at byte %zu): ", k + 1, r->line, r->offset);
  else
    snprintf(out, cap, "request %zu (at byte %zu): ", k + 1, r->offset);
}

/* The decoder's message, its "at byte N:" made an offset in the file. */
static void file_offsets(const pc_cli_input_t *in, size_t k, const char *msg, char *out,
                         size_t cap) {
  size_t at;
  int used = 0;
  if (in->framing != PC_CLI_ONE && sscanf(msg, "at byte %zu: %n", &at, &used) == 1 && used)
    snprintf(out, cap, "at byte %zu of the file (%zu of the request): %s",
             in->reqs[k].offset + at, at, msg + used);
  else
    snprintf(out, cap, "%s", msg);
}

static bool decode_requests(const char *cmd, pc_cli_input_t *in) {
  const pc_buf_t *b = plain_bytes(in);
  for (size_t k = 0; k < in->n_reqs; k++) {
    pc_cli_req_t *r = &in->reqs[k];
    pc_err_t err = {0};
    const uint8_t *p = b->p + r->offset;
    int rc = in->json ? pc_json_decode(in->arena, p, r->len, &r->req, &err)
                      : pc_proto_decode(in->arena, p, r->len, &r->req, &err);
    if (rc) {
      char at[96], msg[400], unpacked[80] = "";
      where(in, k, at, sizeof at);
      file_offsets(in, k, err.msg[0] ? err.msg : pc_strerror(rc), msg, sizeof msg);
      if (in->compression != PC_ENC_IDENTITY)
        snprintf(unpacked, sizeof unpacked, " (after %s decompression to %zu bytes)",
                 pc_encoding_name(in->compression), b->n);
      pc__cli_file_error(cmd, in->name, "%snot a valid %s request%s: %s", at,
                         in->json ? "OTLP-JSON" : "protobuf", unpacked, msg);
      return false;
    }
    if (r->req.rejected_profiles && !in->rejected) {
      char at[96];
      where(in, k, at, sizeof at);
      snprintf(in->reject_msg, sizeof in->reject_msg, "%s%s", at,
               r->req.reject_msg[0] ? r->req.reject_msg : "(none given)");
    }
    in->rejected += r->req.rejected_profiles;
  }
  return true;
}

static bool load_pprof(const char *cmd, pc_cli_input_t *in) {
  const pc_buf_t *b = plain_bytes(in);
  pc_pprof_t p;
  pc_err_t err = {0};
  int rc = pc_pprof_decode(in->arena, b->p, b->n, &p, &err);
  if (!rc) {
    in->builder = pc_builder_new();
    pc_arena_t *scratch = pc_arena_new(0);
    rc = pc_pprof_to_otlp(&p, scratch, in->builder, &err);
    pc_arena_free(scratch);
  }
  if (rc) {
    pc__cli_file_error(cmd, in->name, "not a valid pprof profile%s: %s",
                       in->compression != PC_ENC_IDENTITY ? " (after decompression)" : "",
                       err.msg[0] ? err.msg : pc_strerror(rc));
    return false;
  }
  size_t cap = 0;
  pc_cli_req_t *r = add_req(in, &cap);
  r->len = b->n;
  r->req = *pc_builder_request(in->builder);
  in->framing = PC_CLI_ONE;
  return true;
}

bool pc__cli_load(const char *cmd, const char *path, size_t limit, pc_cli_from_t from,
                  pc_cli_input_t *in) {
  *in = (pc_cli_input_t){.from = from};
  if (!read_input(cmd, path, limit, in) || !decompress_input(cmd, limit, in)) return false;
  const pc_buf_t *b = plain_bytes(in);
  size_t first = 0;
  while (first < b->n && is_blank(b->p[first])) first++;
  if (first == b->n) {
    if (in->compression != PC_ENC_IDENTITY)
      pc__cli_file_error(cmd, in->name, "%s data decompresses to nothing: no request to read",
                         pc_encoding_name(in->compression));
    else if (b->n == 0)
      pc__cli_file_error(cmd, in->name, "the file is empty (0 bytes): no request to read");
    else
      pc__cli_file_error(cmd, in->name,
                         "the file holds only blanks (%zu bytes): no request to read", b->n);
    return false;
  }
  in->arena = pc_arena_new(0);
  if (from == PC_CLI_FROM_PPROF) return load_pprof(cmd, in);
  in->json = b->p[first] == '{';
  if (in->json) {
    split_json(in);
  } else if (b->p[0] == 0 || frames_tile(b)) {
    if (!split_framed(cmd, in)) return false;
  } else {
    size_t cap = 0;
    pc_cli_req_t *r = add_req(in, &cap);
    r->len = b->n;
    in->framing = PC_CLI_ONE;
  }
  return decode_requests(cmd, in);
}

void pc__cli_input_free(pc_cli_input_t *in) {
  pc_buf_free(&in->raw);
  pc_buf_free(&in->plain);
  pc_arena_free(in->arena);
  pc_builder_free(in->builder);
  free(in->reqs);
}

void pc__cli_describe(const pc_cli_input_t *in, char *out, size_t cap) {
  const char *format = in->from == PC_CLI_FROM_PPROF ? "pprof"
                       : in->json                    ? "OTLP-JSON"
                                                     : "protobuf";
  const char *framing = in->framing == PC_CLI_LINES    ? ", one request per line"
                        : in->framing == PC_CLI_FRAMED ? ", each request after its 4-byte length"
                                                       : "";
  if (in->compression == PC_ENC_IDENTITY)
    snprintf(out, cap, "%s%s", format, framing);
  else
    snprintf(out, cap, "%s%s, %s-compressed", format, framing, pc_encoding_name(in->compression));
}

bool pc__cli_check_rejected(const char *cmd, const pc_cli_input_t *in) {
  if (in->rejected == 0) return true;
  pc__cli_file_error(cmd, in->name, "warning: %llu profile(s) rejected and left out; first "
                     "reason: %s", (unsigned long long)in->rejected, in->reject_msg);
  return false;
}

/* ---- writing ------------------------------------------------------------------------ */

static bool write_all(FILE *f, const pc_buf_t *b) {
  return fwrite(b->p, 1, b->n, f) == b->n && fflush(f) == 0;
}

bool pc__cli_write_output(const char *cmd, const char *path, const pc_buf_t *b) {
  if (!path || strcmp(path, "-") == 0) {
    if (write_all(stdout, b)) return true;
    pc__cli_file_error(cmd, "<stdout>", "write failed: %s", strerror(errno));
    return false;
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    pc__cli_file_error(cmd, path, "cannot create the output file: %s", strerror(errno));
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
    pc__cli_file_error(cmd, path, "write failed: %s%s", strerror(saved),
                       regular ? " (the partial output was removed)" : "");
    if (regular) remove(path);
  }
  return ok;
}
