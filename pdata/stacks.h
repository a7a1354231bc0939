/* stacks.h - what a flame graph shows: the samples of one sample type,
 * selected from one or more requests by the span they are linked to, summed
 * per distinct stack; rendered as folded stacks, as a JSON tree for
 * d3-flame-graph, or (pdata/pprof.h) as a pprof profile.
 *
 * The rules are those of shared/spec/OTLP-PROFILES.md section 6, which the
 * query API (issue 15), the flame graph page (issue 16) and `profcol
 * convert --to folded|pprof` all follow through this one implementation:
 * - a sample type is a profile's sample_type, named "TYPE:UNIT"; asked for
 *   as "TYPE:UNIT" or "TYPE"; by default the one with the most selected
 *   samples (ties: the first in byte order of "TYPE:UNIT"), and the choice
 *   is reported (pc_stacks_info);
 * - a sample's value is the sum of its values, or its number of timestamps
 *   when it has only timestamps;
 * - a folded line is `root;...;leaf VALUE`: frames root first, inlined
 *   frames expanded caller first, each named by its function's name (its
 *   system name when the name is empty); a frame without one is named by
 *   its mapping's file name and the location's address, "libc.so.6+0x1f2a3"
 *   ("0x1f2a3" without a mapping file; "[unknown]" for a stack without
 *   locations). ';' in names becomes ':' and line breaks become spaces, so
 *   a line always parses back. Lines are in frame-by-frame byte order, one
 *   per distinct sequence of names; sequences that sum to 0 are left out.
 *
 * Memory: pc_stacks_select copies what it keeps (the selected samples are
 * merged into one dictionary by the batch builder), so the requests may go
 * once it returns; the result is freed with pc_stacks_free.
 *
 * Errors: PC_EINVAL with err filled when an asked-for sample type is not
 * among the selected samples' (the message lists those there are),
 * PC_ENOMEM. Selecting nothing is not an error: info.samples is 0. */
#ifndef PC_STACKS_H
#define PC_STACKS_H

#include "pdata.h"

typedef struct pc_stacks pc_stacks_t;

typedef struct {
  pc_str_t sample_type; /* "TYPE" or "TYPE:UNIT"; empty: the default */
  bool has_trace_id;    /* keep only samples linked to this trace */
  uint8_t trace_id[16];
  bool has_span_id; /* ... and to this span */
  uint8_t span_id[8];
  pc_str_t service; /* keep only samples of resources with this service.name */
  bool linked_only; /* keep only samples linked to a span (16- and 8-byte ids) */
  /* Mark without selecting: of the selected samples, those linked to this
   * trace (and span) are also summed apart (info.marked, "marked" in the
   * tree), so a flame graph of a whole service can show one trace's share. */
  bool has_mark_trace_id;
  uint8_t mark_trace_id[16];
  bool has_mark_span_id;
  uint8_t mark_span_id[8];
} pc_stacks_filter_t;

/* A sample type among the selected samples. */
typedef struct {
  pc_str_t type, unit;
  uint64_t samples; /* selected Sample messages of this type */
} pc_stacks_type_t;

typedef struct {
  pc_str_t type, unit; /* the sample type chosen (empty when nothing was selected) */
  bool by_default;     /* chosen as the one with the most samples */
  uint64_t samples;    /* selected samples of that type */
  int64_t total;       /* the sum of their values */
  bool marking;        /* the filter asked to mark */
  uint64_t marked_samples; /* of the selected samples, those marked */
  int64_t marked;          /* the sum of their values */
  uint32_t stacks;     /* distinct folded lines */
  const pc_stacks_type_t *types; /* every type among the selected samples, */
  uint32_t n_types;              /* in byte order of "TYPE:UNIT" */
} pc_stacks_info_t;

/* Select and aggregate from reqs[0..n) (validated requests, e.g. as
 * decoded). f may be NULL: every sample, the default type. */
int pc_stacks_select(const pc_request_t *const *reqs, size_t n, const pc_stacks_filter_t *f,
                     pc_stacks_t **out, pc_err_t *err);
void pc_stacks_free(pc_stacks_t *s);

const pc_stacks_info_t *pc_stacks_info(const pc_stacks_t *s);

/* Append the folded stacks, one "root;...;leaf VALUE\n" line each. */
int pc_stacks_folded(const pc_stacks_t *s, pc_buf_t *out);

/* Append the same data as one JSON tree, d3-flame-graph's shape:
 * {"name":"root","value":TOTAL,"children":[{"name":"main","value":N,
 *  "file":"/src/main.go","line":12,"children":[...]}, ...]}
 * Each node is a frame name on a path from the root, its value the sum of
 * the folded lines through it (children in the lines' order, "children"
 * left out when empty). When the filter marks, a node whose lines hold
 * marked samples also has "marked": the sum of their values through it.
 * "file" and "line" are the frame's function file and the source line
 * most of the node's value was taken at (the heaviest folded line's);
 * they are left out when unknown (0 or empty). */
int pc_stacks_tree_json(const pc_stacks_t *s, pc_buf_t *out);

/* The selected samples as one request: one dictionary, only profiles of
 * the chosen type, only selected samples. Valid until pc_stacks_free. */
const pc_request_t *pc_stacks_request(const pc_stacks_t *s);
/* The sum of the selected values per stack of that request, indexed by
 * stack_index (length: its stack table's). */
const int64_t *pc_stacks_values(const pc_stacks_t *s);
/* The distinct service.name values of the selected samples' resources (of
 * every sample type; empty names left out), in byte order. */
const pc_str_t *pc_stacks_services(const pc_stacks_t *s, size_t *n);

#endif
