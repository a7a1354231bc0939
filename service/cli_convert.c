/* cli_convert.c - `profcol convert`: profiles from a file into another
 * encoding: OTLP protobuf <-> OTLP-JSON, pprof -> OTLP, and OTLP -> pprof or
 * folded stacks for people and their tools (go tool pprof, flamegraph.pl,
 * speedscope).
 *
 * Input is whatever cli_input.c reads: one request, the file exporter's
 * output (every request of it), or a pprof profile (--from pprof). OTLP
 * output keeps the input's shape, so a stream stays a stream the file
 * exporter's way (JSON: one request per line; protobuf: each after its
 * 4-byte big-endian length) and one request stays one; --merge makes one
 * request of all of them. pprof and folded output add up the samples of
 * every request, selected and named as pdata/stacks.h says (the section 6
 * rules the query API follows too), and say on stderr which sample type
 * they chose when none was asked for. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pdata/pprof.h"
#include "../pdata/stacks.h"
#include "cli.h"

#define DEFAULT_MAX_SIZE ((size_t)1 << 30) /* 1 GiB */

typedef enum { TO_DEFAULT, TO_JSON, TO_PROTO, TO_PPROF, TO_FOLDED } to_t;

typedef struct {
  const char *input, *output;
  size_t max_size;
  pc_cli_from_t from;
  to_t to;
  bool merge;
  bool selecting; /* --sample-type, --trace-id or --span-id given */
  pc_stacks_filter_t filter;
} opts_t;

enum { OPT_TO = PC_CLI_OPT_OWN, OPT_SAMPLE_TYPE, OPT_TRACE_ID, OPT_SPAN_ID, OPT_MERGE };

/* n bytes from 2n hex digits (either case). */
static bool parse_hex(const char *s, uint8_t *out, size_t n) {
  if (strlen(s) != 2 * n) return false;
  for (size_t i = 0; i < 2 * n; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return false;
    out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
  }
  return true;
}

static int parse_opts(const pc_cli_command_t *cmd, int argc, char **argv, opts_t *o) {
  static const struct option longs[] = {
      PC_CLI_COMMON_OPTIONS,
      {"to", required_argument, NULL, OPT_TO},
      {"output", required_argument, NULL, 'o'},
      {"sample-type", required_argument, NULL, OPT_SAMPLE_TYPE},
      {"trace-id", required_argument, NULL, OPT_TRACE_ID},
      {"span-id", required_argument, NULL, OPT_SPAN_ID},
      {"merge", no_argument, NULL, OPT_MERGE},
      {NULL, 0, NULL, 0}};
  *o = (opts_t){.max_size = DEFAULT_MAX_SIZE};
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* our messages, not getopt's */
  int c;
  while ((c = getopt_long(argc, argv, ":ho:", longs, NULL)) != -1) {
    switch (c) {
    case 'o': o->output = optarg; break;
    case OPT_TO:
      if (!strcmp(optarg, "json")) o->to = TO_JSON;
      else if (!strcmp(optarg, "proto") || !strcmp(optarg, "protobuf")) o->to = TO_PROTO;
      else if (!strcmp(optarg, "pprof")) o->to = TO_PPROF;
      else if (!strcmp(optarg, "folded")) o->to = TO_FOLDED;
      else
        return pc__cli_usage_error(cmd, "--to must be json, proto, pprof or folded, not \"%s\"",
                                   optarg);
      break;
    case OPT_SAMPLE_TYPE:
      if (!*optarg) return pc__cli_usage_error(cmd, "--sample-type wants TYPE or TYPE:UNIT");
      o->filter.sample_type = (pc_str_t){(const uint8_t *)optarg, strlen(optarg)};
      o->selecting = true;
      break;
    case OPT_TRACE_ID:
      if (!parse_hex(optarg, o->filter.trace_id, 16))
        return pc__cli_usage_error(cmd, "--trace-id wants 32 hex digits, not \"%s\"", optarg);
      o->filter.has_trace_id = o->selecting = true;
      break;
    case OPT_SPAN_ID:
      if (!parse_hex(optarg, o->filter.span_id, 8))
        return pc__cli_usage_error(cmd, "--span-id wants 16 hex digits, not \"%s\"", optarg);
      o->filter.has_span_id = o->selecting = true;
      break;
    case OPT_MERGE: o->merge = true; break;
    default: {
      int rc = pc__cli_common_opt(cmd, c, argv, &o->max_size, &o->from);
      if (rc != -1) return rc;
    }
    }
  }
  int rc = pc__cli_one_file(cmd, argc, argv, &o->input);
  if (rc != -1) return rc;
  bool flame = o->to == TO_PPROF || o->to == TO_FOLDED;
  if (o->selecting && !flame)
    return pc__cli_usage_error(cmd, "--sample-type, --trace-id and --span-id select samples "
                                    "for --to pprof or --to folded");
  if (o->merge && flame)
    return pc__cli_usage_error(cmd, "--merge is for --to json or --to proto (pprof and folded "
                                    "output add up every request anyway)");
  return -1;
}

/* ---- OTLP output ------------------------------------------------------------------ */

static int encode_one(const pc_request_t *req, bool json, pc_buf_t *out) {
  int rc = json ? pc_json_encode(req, out) : pc_proto_encode(req, out);
  if (!rc && json) rc = pc_buf_append(out, "\n", 1); /* one request per line */
  return rc;
}

/* The requests in the input's shape: one, or a stream. */
static int encode_otlp(const pc_cli_input_t *in, const opts_t *o, bool json, pc_buf_t *out) {
  if (o->merge && in->n_reqs > 1) {
    pc_builder_t *b = pc_builder_new();
    pc_err_t err = {0};
    int rc = 0;
    for (size_t k = 0; k < in->n_reqs && !rc; k++) rc = pc_builder_add(b, &in->reqs[k].req, &err);
    if (!rc) rc = encode_one(pc_builder_request(b), json, out);
    pc_builder_free(b);
    return rc;
  }
  bool framed = !json && (in->framing != PC_CLI_ONE && !o->merge);
  for (size_t k = 0; k < in->n_reqs; k++) {
    size_t at = out->n;
    if (framed && pc_buf_append(out, "\0\0\0\0", 4)) return PC_ENOMEM;
    int rc = encode_one(&in->reqs[k].req, json, out);
    if (rc) return rc;
    if (framed) {
      size_t len = out->n - at - 4;
      if (len > UINT32_MAX) return PC_ELIMIT;
      uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                       (uint8_t)len};
      memcpy(out->p + at, be, 4);
    }
  }
  return 0;
}

/* ---- pprof and folded output ------------------------------------------------------ */

static void print_types(const pc_stacks_info_t *info, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  for (uint32_t t = 0; t < info->n_types && n < cap; t++) {
    const pc_stacks_type_t *ty = &info->types[t];
    int w = snprintf(out + n, cap - n, "%s%.*s:%.*s (%llu)", t ? ", " : "", PC_STR_FMT(ty->type),
                     PC_STR_FMT(ty->unit), (unsigned long long)ty->samples);
    if (w < 0) break;
    n += (size_t)w;
  }
}

static bool encode_flame(const char *cmd, const pc_cli_input_t *in, const opts_t *o,
                         pc_buf_t *out) {
  const pc_request_t **reqs = calloc(in->n_reqs ? in->n_reqs : 1, sizeof *reqs);
  if (!reqs) pc_oom();
  for (size_t k = 0; k < in->n_reqs; k++) reqs[k] = &in->reqs[k].req;
  pc_stacks_t *s = NULL;
  pc_err_t err = {0};
  int rc = pc_stacks_select(reqs, in->n_reqs, &o->filter, &s, &err);
  free(reqs);
  bool ok = false;
  if (rc) {
    pc__cli_file_error(cmd, in->name, "%s", err.msg[0] ? err.msg : pc_strerror(rc));
    goto done;
  }
  const pc_stacks_info_t *info = pc_stacks_info(s);
  char types[400];
  print_types(info, types, sizeof types);
  if (!info->samples) {
    pc__cli_file_error(cmd, in->name, "no sample %s", o->filter.has_trace_id
                           ? "is linked to that trace (and span)"
                           : "in the file");
    goto done;
  }
  if (info->by_default && info->n_types > 1)
    pc__cli_file_error(cmd, in->name, "sample type %.*s:%.*s: the default, the one with the "
                       "most samples, ties by name (--sample-type picks another of %s)",
                       PC_STR_FMT(info->type), PC_STR_FMT(info->unit), types);
  rc = o->to == TO_PPROF ? pc_pprof_encode(s, true, out) : pc_stacks_folded(s, out);
  if (rc) {
    pc__cli_file_error(cmd, in->name, "cannot encode: %s", pc_strerror(rc));
    goto done;
  }
  ok = true;
done:
  pc_stacks_free(s);
  return ok;
}

static int convert_run(int argc, char **argv) {
  const pc_cli_command_t *cmd = &pc__cli_convert_cmd;
  opts_t o;
  int rc = parse_opts(cmd, argc, argv, &o);
  if (rc >= 0) return rc;
  pc_cli_input_t in;
  int status = PC_EXIT_FAIL;
  pc_buf_t out = {0};
  if (!pc__cli_load(cmd->name, o.input, o.max_size, o.from, &in)) goto done;
  to_t to = o.to;
  if (to == TO_DEFAULT) to = o.from == PC_CLI_FROM_PPROF || in.json ? TO_PROTO : TO_JSON;
  bool binary = to == TO_PROTO || to == TO_PPROF;
  bool to_stdout = !o.output || strcmp(o.output, "-") == 0;
  if (binary && to_stdout && isatty(STDOUT_FILENO)) {
    pc__cli_file_error(cmd->name, in.name, "not writing binary %s to a terminal; use -o FILE, "
                       "redirect the output, or --to %s", to == TO_PPROF ? "pprof" : "protobuf",
                       to == TO_PPROF ? "folded" : "json");
    goto done;
  }
  if (to == TO_PPROF || to == TO_FOLDED) {
    if (!encode_flame(cmd->name, &in, &o, &out)) goto done;
  } else if ((rc = encode_otlp(&in, &o, to == TO_JSON, &out))) {
    pc__cli_file_error(cmd->name, in.name, "cannot encode as %s: %s",
                       to == TO_JSON ? "OTLP-JSON" : "protobuf", pc_strerror(rc));
    goto done;
  }
  if (!pc__cli_write_output(cmd->name, o.output, &out)) goto done;
  status = pc__cli_check_rejected(cmd->name, &in) ? PC_EXIT_OK : PC_EXIT_FAIL;
done:
  pc_buf_free(&out);
  pc__cli_input_free(&in);
  return status;
}

const pc_cli_command_t pc__cli_convert_cmd = {
    .name = "convert",
    .usage = "convert [--from otlp|pprof] [--to json|proto|pprof|folded] [--sample-type T]\n"
             "               [--trace-id HEX] [--span-id HEX] [--merge] [-o FILE]\n"
             "               [--max-size BYTES] FILE",
    .summary = "re-encode profiles: OTLP protobuf <-> JSON, pprof <-> OTLP, folded stacks",
    .help =
        "\n"
        "Read FILE (\"-\": standard input), plain or gzip- or zstd-compressed, and write\n"
        "its profiles in another form. FILE holds OTLP profiles (--from otlp, the\n"
        "default): one ExportProfilesServiceRequest, protobuf or OTLP-JSON (a first\n"
        "non-blank '{' means JSON), or the file exporter's output in either of its\n"
        "formats, every request of it; or a pprof profile (--from pprof), such as\n"
        "go tool pprof, runtime/pprof and /debug/pprof write.\n"
        "\n"
        "  --from otlp|pprof   what FILE holds (default otlp)\n"
        "  --to json|proto     OTLP-JSON or protobuf (default: the encoding the input\n"
        "                      is not; protobuf for pprof input). Several requests stay\n"
        "                      several: JSON one per line, protobuf each after its\n"
        "                      4-byte big-endian length, as the file exporter writes\n"
        "  --merge             with json or proto: one request of all of them, one\n"
        "                      dictionary\n"
        "  --to pprof          gzip'd pprof profile.proto of one sample type, for\n"
        "                      go tool pprof and other pprof readers\n"
        "  --to folded         folded stacks, one \"root;...;leaf VALUE\" line per stack\n"
        "                      (flamegraph.pl, inferno, speedscope)\n"
        "  --sample-type T     with pprof or folded: the sample type, TYPE or TYPE:UNIT\n"
        "                      (e.g. cpu, samples:count). Default: the one with the most\n"
        "                      samples (ties: the first of TYPE:UNIT in byte order),\n"
        "                      named on standard error when there are several\n"
        "  --trace-id HEX      with pprof or folded: only samples linked to this trace\n"
        "                      (32 hex digits)\n"
        "  --span-id HEX       ... and to this span (16 hex digits)\n"
        "  -o, --output FILE   write to FILE instead of standard output\n"
        "  --max-size BYTES    refuse input larger than this, read or decompressed\n"
        "                      (default 1G; suffixes K, M, G)\n"
        "  -h, --help          this help\n"
        "\n"
        "pprof and folded output add up the samples of every request. Frames are\n"
        "named by function; a frame without one by its mapping's file and address\n"
        "(libc.so.6+0x1f2a3); inlined frames are expanded caller first.\n"
        "\n"
        "Exit status: 0 converted; 1 unreadable input, no sample selected, or\n"
        "profiles rejected (the valid rest is still written); 2 bad command line.\n",
    .run = convert_run,
};
