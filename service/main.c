/* main.c - the profcol binary's entry: global options and the dispatch to
 * subcommands.
 *
 * `profcol COMMAND ...` runs one entry of the commands table (cli.h); a new
 * command such as `validate` or `components` is one more line there.
 * `profcol` with no command, or with options only (`--config FILE`), is the
 * long-running service: pc_cmd_run() in run.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "service.h"


static const pc_cli_command_t *const commands[] = {
    &pc__cli_validate_cmd,
    &pc__cli_components_cmd,
    &pc__cli_convert_cmd,
    &pc__cli_stats_cmd,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const pc_cli_command_t *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}

/* "convert, stats" */
static void print_command_names(FILE *f) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "%s%s", i ? ", " : "", commands[i]->name);
}

static void print_help(FILE *f) {
  fprintf(f, "usage: profcol [--config URI]... [--set K=V]... [--feature-gates LIST]\n"
             "       profcol COMMAND [OPTIONS] [ARGS]\n"
             "       profcol --help | --version\n\n"
             "Without a command, profcol runs the pipeline until SIGTERM or SIGINT (SIGHUP\n"
             "reloads the config):\n"
             "  --config URI  a config file (a path or file:PATH), env:VAR (the variable holds\n"
             "                YAML) or yaml:TEXT; several merge in order, as in the Collector.\n"
             "                Without one: the built-in config, OTLP/gRPC on localhost:4317\n"
             "                and OTLP/HTTP on localhost:4318 into the debug exporter.\n"
             "  --set K=V     set one key after every --config: --set processors.batch.timeout=2s\n"
             "  --feature-gates LIST\n"
             "                the Collector's gates (gate, +gate, -gate, comma-separated);\n"
             "                profcol knows service.profilesSupport (always on)\n\n"
             "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-11s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(f, "\nRun 'profcol COMMAND --help' for the options of one command.\n"
             "Exit status: 0 success, 1 failure (bad input, I/O), 2 bad command line.\n");
}

int main(int argc, char **argv) {
  const char *first = argc > 1 ? argv[1] : NULL;
  if (first && (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0)) {
    print_help(stdout);
    return PC_EXIT_OK;
  }
  if (first && (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0)) {
    pc__print_version(stdout);
    return PC_EXIT_OK;
  }
  if (!first || first[0] == '-') return pc_cmd_run(argc - 1, argv + 1);
  const pc_cli_command_t *cmd = find_command(first);
  if (!cmd) {
    fprintf(stderr, "profcol: unknown command \"%s\"; the commands are: ", first);
    print_command_names(stderr);
    fprintf(stderr, " (see profcol --help)\n");
    return PC_EXIT_USAGE;
  }
  if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
    printf("usage: profcol %s\n%s", cmd->usage, cmd->help);
    return PC_EXIT_OK;
  }
  return cmd->run(argc - 1, argv + 1);
}
