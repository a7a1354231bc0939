/* profcol-gen.c - write one generated OTLP profiles payload (protobuf or
 * OTLP-JSON) to a file or stdout: for tests, fuzz seeds and manual runs
 * against a receiver, e.g.
 *
 *   profcol-gen --size 200k -o p.pb
 *   curl -H 'Content-Type: application/x-protobuf' --data-binary @p.pb \
 *        http://localhost:4318/v1development/profiles
 *
 * The payload is deterministic from --seed and --size (see workload.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: profcol-gen [--size BYTES] [--seed N] [--hosts N] [--first-host N]\n"
          "                   [--processes N] [--shape dictionary|samples] [--json]\n"
          "                   [-o FILE] [-v]\n"
          "  --size BYTES     target size of the protobuf encoding (default 200k);\n"
          "                   suffixes k, m (x1000) and ki, mi (x1024)\n"
          "  --shape S        dictionary (default: a quiet node, ~230 samples per\n"
          "                   200 KB, most bytes in the dictionary) or samples (a\n"
          "                   busy node, ~5000 samples per 200 KB over a few hundred\n"
          "                   stacks, with timestamps, links and thread attributes)\n"
          "  --seed N         world and processes (default 1)\n"
          "  --hosts N        spread processes over N hosts (default 1)\n"
          "  --first-host N   number of the first host (default 0)\n"
          "  --processes N    exactly N processes; --size is ignored\n"
          "  --json           write OTLP-JSON instead of protobuf (same request)\n"
          "  -o FILE          output file (default stdout)\n"
          "  -v               print what was generated to stderr\n");
}

/* A number with an optional k/m/ki/mi suffix; false when malformed. */
static bool parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return false;
  uint64_t mul = 1;
  if (*end == 'k' || *end == 'K') mul = 1000;
  if (*end == 'm' || *end == 'M') mul = 1000000;
  if (mul > 1 && (end[1] == 'i' || end[1] == 'I')) {
    mul = mul == 1000 ? 1024 : 1024 * 1024;
    end++;
  }
  if (mul > 1) end++;
  if (*end || v > UINT64_MAX / mul) return false;
  *out = v * mul;
  return true;
}

typedef struct {
  pc_workload_opts_t wo;
  bool json, verbose;
  const char *out;
} opts_t;

static bool parse_u32(const char *s, uint32_t *out) {
  uint64_t v;
  if (!parse_size(s, &v) || v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

/* One option that takes a value; false when the name or value is bad. */
static bool parse_opt(opts_t *o, const char *name, const char *v) {
  uint64_t n;
  if (strcmp(name, "--size") == 0) {
    if (!parse_size(v, &n) || n > PC_WORKLOAD_MAX_BYTES) return false;
    o->wo.target_bytes = (size_t)n;
    return true;
  }
  if (strcmp(name, "--seed") == 0) return parse_size(v, &o->wo.seed);
  if (strcmp(name, "--hosts") == 0) return parse_u32(v, &o->wo.hosts);
  if (strcmp(name, "--first-host") == 0) return parse_u32(v, &o->wo.first_host);
  if (strcmp(name, "--processes") == 0) return parse_u32(v, &o->wo.processes);
  if (strcmp(name, "--shape") == 0) {
    if (strcmp(v, "dictionary") == 0) o->wo.shape = PC_WORKLOAD_DICTIONARY;
    else if (strcmp(v, "samples") == 0) o->wo.shape = PC_WORKLOAD_SAMPLES;
    else return false;
    return true;
  }
  if (strcmp(name, "-o") == 0) {
    o->out = v;
    return true;
  }
  return false;
}

/* 0 on success, 2 on a usage error (message printed). */
static int parse_args(int argc, char **argv, opts_t *o) {
  o->wo.seed = 1;
  o->wo.target_bytes = 200000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) {
      o->json = true;
    } else if (strcmp(a, "-v") == 0) {
      o->verbose = true;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    } else {
      const char *v = i + 1 < argc ? argv[++i] : NULL;
      if (!v || !parse_opt(o, a, v)) {
        fprintf(stderr, "profcol-gen: bad argument %s %s\n", a, v ? v : "(missing value)");
        usage(stderr);
        return 2;
      }
    }
  }
  return 0;
}

static void print_summary(const pc_request_t *req, size_t encoded, bool json) {
  const pc_dictionary_t *d = &req->dict;
  fprintf(stderr,
          "profcol-gen: %zu bytes of %s, %" PRIu32 " resources, %" PRIu64 " samples\n"
          "  tables: mapping %" PRIu32 ", location %" PRIu32 ", function %" PRIu32
          ", link %" PRIu32 ", string %" PRIu32 ", attribute %" PRIu32 ", stack %" PRIu32
          "\n",
          encoded, json ? "OTLP-JSON" : "protobuf", req->n_resources,
          pc_request_sample_count(req), d->n_mappings, d->n_locations, d->n_functions,
          d->n_links, d->n_strings, d->n_attrs, d->n_stacks);
}

static int write_all(const char *path, const pc_buf_t *b) {
  FILE *f = path ? fopen(path, "wb") : stdout;
  if (!f) {
    fprintf(stderr, "profcol-gen: %s: %s\n", path, strerror(errno));
    return 1;
  }
  bool ok = fwrite(b->p, 1, b->n, f) == b->n;
  ok = (path ? fclose(f) : fflush(f)) == 0 && ok;
  if (!ok) fprintf(stderr, "profcol-gen: write %s: %s\n", path ? path : "stdout", strerror(errno));
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  opts_t o = {0};
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  if (!o.out && !o.json && isatty(STDOUT_FILENO)) {
    fprintf(stderr, "profcol-gen: not writing protobuf to a terminal; use -o FILE or redirect\n");
    return 2;
  }
  pc_arena_t *a = pc_arena_new(1 << 20);
  pc_request_t req;
  pc_buf_t out = {0};
  rc = pc_workload_build(a, &o.wo, &req);
  if (rc) {
    fprintf(stderr, "profcol-gen: generate: %s\n", pc_strerror(rc));
  } else {
    rc = o.json ? pc_json_encode(&req, &out) : pc_proto_encode(&req, &out);
    if (rc) fprintf(stderr, "profcol-gen: %s encode: %s\n", o.json ? "JSON" : "protobuf",
                    pc_strerror(rc));
  }
  if (!rc && o.verbose) print_summary(&req, out.n, o.json);
  if (!rc) rc = write_all(o.out, &out);
  pc_buf_free(&out);
  pc_arena_free(a);
  return rc ? 1 : 0;
}
