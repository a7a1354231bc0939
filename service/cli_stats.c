/* cli_stats.c - `profcol stats`: what a file of profiles holds, and how
 * healthy its dictionaries are.
 *
 * Reads what convert reads (cli_input.c): one request, the file exporter's
 * output (every request of it) or, with --from pprof, a pprof profile as
 * converted. Prints the counts summed over the requests and, per dictionary
 * table, the sum of each request's size, duplicates and unreferenced
 * entries (each request has its own dictionary); --each adds one line per
 * request with where it starts in the file. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_MAX_SIZE ((size_t)1 << 30) /* 1 GiB */

enum { OPT_EACH = PC_CLI_OPT_OWN };

typedef struct {
  const char *input;
  size_t max_size;
  pc_cli_from_t from;
  bool each;
} opts_t;

static int parse_opts(const pc_cli_command_t *cmd, int argc, char **argv, opts_t *o) {
  static const struct option longs[] = {
      PC_CLI_COMMON_OPTIONS, {"each", no_argument, NULL, OPT_EACH}, {NULL, 0, NULL, 0}};
  *o = (opts_t){.max_size = DEFAULT_MAX_SIZE};
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* our messages, not getopt's */
  int c;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    if (c == OPT_EACH) {
      o->each = true;
      continue;
    }
    int rc = pc__cli_common_opt(cmd, c, argv, &o->max_size, &o->from);
    if (rc != -1) return rc;
  }
  return pc__cli_one_file(cmd, argc, argv, &o->input);
}

static void print_stats(const pc_cli_input_t *in, const pc_stats_t *st, bool each,
                        const pc_stats_t *per) {
  char enc[160];
  pc__cli_describe(in, enc, sizeof enc);
  printf("%-14s%s\n", "file", in->name);
  printf("%-14s%s\n", "encoding", enc);
  if (in->compression == PC_ENC_IDENTITY)
    printf("%-14s%zu bytes\n", "size", in->raw.n);
  else
    printf("%-14s%zu bytes (%zu compressed)\n", "size", in->plain.n, in->raw.n);
  printf("%-14s%zu\n", "requests", in->n_reqs);
  printf("%-14s%llu\n", "resources", (unsigned long long)st->resources);
  printf("%-14s%llu\n", "scopes", (unsigned long long)st->scopes);
  printf("%-14s%llu\n", "profiles", (unsigned long long)st->profiles);
  printf("%-14s%llu\n", "samples", (unsigned long long)st->samples);
  if (in->rejected) printf("%-14s%llu\n", "rejected", (unsigned long long)in->rejected);
  printf("\n%-16s %10s %12s %14s\n", "table", "size", "duplicates", "unreferenced");
  for (size_t t = 0; t < sizeof st->tables / sizeof st->tables[0]; t++) {
    const pc_table_stats_t *ts = &st->tables[t];
    printf("%-16s %10u %12u %14u\n", ts->name, ts->size, ts->duplicates, ts->unreferenced);
  }
  if (!each) return;
  printf("\n%-9s %12s %10s %10s %10s %10s\n", "request", "at byte", "bytes", "resources",
         "profiles", "samples");
  for (size_t k = 0; k < in->n_reqs; k++)
    printf("%-9zu %12zu %10zu %10llu %10llu %10llu\n", k + 1, in->reqs[k].offset,
           in->reqs[k].len, (unsigned long long)per[k].resources,
           (unsigned long long)per[k].profiles, (unsigned long long)per[k].samples);
}

static int stats_run(int argc, char **argv) {
  const pc_cli_command_t *cmd = &pc__cli_stats_cmd;
  opts_t o;
  int rc = parse_opts(cmd, argc, argv, &o);
  if (rc >= 0) return rc;
  pc_cli_input_t in;
  int status = PC_EXIT_FAIL;
  pc_stats_t *per = NULL;
  if (!pc__cli_load(cmd->name, o.input, o.max_size, o.from, &in)) goto done;
  per = calloc(in.n_reqs, sizeof *per);
  if (!per) pc_oom();
  pc_stats_t total = {0};
  for (size_t k = 0; k < in.n_reqs; k++) {
    if ((rc = pc_pdata_stats(&in.reqs[k].req, &per[k]))) {
      pc__cli_file_error(cmd->name, in.name, "cannot compute statistics: %s", pc_strerror(rc));
      goto done;
    }
    total.resources += per[k].resources;
    total.scopes += per[k].scopes;
    total.profiles += per[k].profiles;
    total.samples += per[k].samples;
    for (size_t t = 0; t < sizeof total.tables / sizeof total.tables[0]; t++) {
      total.tables[t].name = per[k].tables[t].name;
      total.tables[t].size += per[k].tables[t].size;
      total.tables[t].duplicates += per[k].tables[t].duplicates;
      total.tables[t].unreferenced += per[k].tables[t].unreferenced;
    }
  }
  print_stats(&in, &total, o.each, per);
  if (fflush(stdout) != 0)
    pc__cli_file_error(cmd->name, "<stdout>", "write failed: %s", strerror(errno));
  else if (pc__cli_check_rejected(cmd->name, &in))
    status = PC_EXIT_OK;
done:
  free(per);
  pc__cli_input_free(&in);
  return status;
}

const pc_cli_command_t pc__cli_stats_cmd = {
    .name = "stats",
    .usage = "stats [--from otlp|pprof] [--each] [--max-size BYTES] FILE",
    .summary = "count resources, profiles, samples; table sizes, duplicates, unused",
    .help =
        "\n"
        "Read FILE (\"-\": standard input) as convert does: one OTLP request, protobuf\n"
        "or OTLP-JSON, or the file exporter's output in either of its formats (every\n"
        "request of it), or a pprof profile (--from pprof, counted as converted to\n"
        "OTLP); plain or gzip- or zstd-compressed. Print the counts over all requests\n"
        "and, per dictionary table, its size, its entries equal in content to an\n"
        "earlier one (duplicates) and its entries other than 0 that no sample,\n"
        "profile, resource or scope reaches (unreferenced), summed over the requests\n"
        "(each has its own dictionary).\n"
        "\n"
        "  --from otlp|pprof   what FILE holds (default otlp)\n"
        "  --each              also one line per request: where it starts in the\n"
        "                      file, its size and counts\n"
        "  --max-size BYTES    refuse input larger than this, read or decompressed\n"
        "                      (default 1G; suffixes K, M, G)\n"
        "  -h, --help          this help\n"
        "\n"
        "Exit status: 0 done; 1 unreadable input, or profiles rejected (the stats\n"
        "cover the rest); 2 bad command line.\n",
    .run = stats_run,
};
