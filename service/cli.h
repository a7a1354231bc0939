/* cli.h - the subcommands of the profcol binary, internal to service/.
 *
 * A subcommand is one static pc_cli_command_t (name, usage, help, entry
 * point) defined next to its code; main.c lists them in one table, so a new
 * command is one file plus one table line. */
#ifndef PC_SERVICE_CLI_H
#define PC_SERVICE_CLI_H

#include <stdio.h>

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

extern const pc_cli_command_t pc__cli_validate_cmd;
extern const pc_cli_command_t pc__cli_components_cmd;
extern const pc_cli_command_t pc__cli_convert_cmd;
extern const pc_cli_command_t pc__cli_stats_cmd;

#endif
