/* cli.h - the subcommands of the profcol binary, internal to service/.
 *
 * A subcommand is one static pc_cli_command_t (name, usage, help, entry
 * point) defined next to its code; main.c lists them in one table, so a new
 * command is one file plus one table line. */
#ifndef PC_SERVICE_CLI_H
#define PC_SERVICE_CLI_H

#include <stdio.h>

#include "../pdata/intern.h"
#include "../pdata/pdata.h"

/* Exit statuses shared by every command. */
enum {
  PC_EXIT_OK = 0,
  PC_EXIT_FAIL = 1,  /* the command ran and failed: bad input, I/O error */
  PC_EXIT_USAGE = 2, /* the command line itself is wrong */
};

typedef struct {
  const char *name;    /* the word after "profcol" */
  const char *usage;   /* one line, after "usage: profcol " */
  const char *summary; /* one line for profcol --help */
  const char *help;    /* the rest of "profcol NAME --help" */
  /* argv[0] is the command name, as for main(); returns a PC_EXIT_* code. */
  int (*run)(int argc, char **argv);
} pc_cli_command_t;

/* profcol --version: version, commit and library versions (version.c). */
void pc__print_version(FILE *f);

/* ---- what convert and stats share (cli_input.c) ------------------------------ */

/* The bytes a FILE holds once decompressed. */
typedef enum {
  PC_CLI_FROM_OTLP,  /* OTLP protobuf or OTLP-JSON, one request or a stream */
  PC_CLI_FROM_PPROF, /* a pprof profile.proto */
} pc_cli_from_t;

/* How requests follow each other in the file. */
typedef enum {
  PC_CLI_ONE,    /* one protobuf request, or one JSON value */
  PC_CLI_LINES,  /* JSON values one after another (the file exporter's json) */
  PC_CLI_FRAMED, /* 4-byte big-endian length + protobuf, each (its proto) */
} pc_cli_framing_t;

/* One request of the file. */
typedef struct {
  size_t offset, len; /* its bytes in the decompressed file */
  unsigned line;      /* JSON: the line it starts on (1-based); 0 for protobuf */
  pc_request_t req;
} pc_cli_req_t;

typedef struct {
  const char *name; /* for messages: the path, or "<stdin>" */
  pc_buf_t raw;     /* the bytes as read */
  pc_buf_t plain;   /* decompressed bytes; empty when raw was not compressed */
  pc_encoding_t compression;
  pc_cli_from_t from;
  bool json;
  pc_cli_framing_t framing;
  pc_arena_t *arena;     /* every request's memory */
  pc_builder_t *builder; /* pprof input: the converted request lives here */
  pc_cli_req_t *reqs;
  size_t n_reqs;
  uint64_t rejected; /* profiles the decoders left out, over all requests */
  char reject_msg[400]; /* "request N (at byte M): " + the decoder's reason */
} pc_cli_input_t;

/* "profcol: CMD: message", then the usage: PC_EXIT_USAGE. */
int pc__cli_usage_error(const pc_cli_command_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "profcol: CMD: FILE: message" on one line. */
void pc__cli_file_error(const char *cmd, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "usage: profcol ..." then the help text, on stdout: PC_EXIT_OK. */
int pc__cli_print_help(const pc_cli_command_t *cmd);
/* "1048576", "64K", "512M", "2G" (binary multiples), not 0. */
bool pc__cli_parse_size(const char *s, size_t *out);

/* getopt_long codes of the options both commands take; a command's own
 * options are numbered from PC_CLI_OPT_OWN. */
enum { PC_CLI_OPT_MAX_SIZE = 256, PC_CLI_OPT_FROM, PC_CLI_OPT_OWN };
#define PC_CLI_COMMON_OPTIONS                                          \
  {"max-size", required_argument, NULL, PC_CLI_OPT_MAX_SIZE},          \
      {"from", required_argument, NULL, PC_CLI_OPT_FROM},              \
      {"help", no_argument, NULL, 'h'}
/* Handle getopt_long's answer c that is not a command's own option: the
 * options above, -h, a missing value, an unknown option. -1 when parsing
 * goes on, else the exit status to return now. */
int pc__cli_common_opt(const pc_cli_command_t *cmd, int c, char **argv, size_t *max_size,
                       pc_cli_from_t *from);
/* The one FILE operand after the options: -1 and *input set, or the exit
 * status of a usage error. */
int pc__cli_one_file(const pc_cli_command_t *cmd, int argc, char **argv, const char **input);
/* Read path ("-": stdin) whole (at most limit bytes, also decompressed),
 * find its requests and decode every one (pprof: convert it). Prints the
 * reason, naming the request and its byte offset when the file holds
 * several, and returns false on failure; free in with pc__cli_input_free
 * either way. */
bool pc__cli_load(const char *cmd, const char *path, size_t limit, pc_cli_from_t from,
                  pc_cli_input_t *in);
void pc__cli_input_free(pc_cli_input_t *in);
/* "protobuf", "OTLP-JSON", "pprof", with the framing and compression: the
 * encoding line of stats. */
void pc__cli_describe(const pc_cli_input_t *in, char *out, size_t cap);
/* Warn on stderr about profiles the decoders left out; false if any. */
bool pc__cli_check_rejected(const char *cmd, const pc_cli_input_t *in);
/* Write b to path ("-" or NULL: stdout); a regular file left half-written
 * is removed. */
bool pc__cli_write_output(const char *cmd, const char *path, const pc_buf_t *b);

extern const pc_cli_command_t pc__cli_validate_cmd;
extern const pc_cli_command_t pc__cli_components_cmd;
extern const pc_cli_command_t pc__cli_convert_cmd;
extern const pc_cli_command_t pc__cli_stats_cmd;

#endif
