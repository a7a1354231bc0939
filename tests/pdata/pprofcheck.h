/* pprofcheck.h - test oracles for pprof and folded stacks, written from
 * proto/perftools/profiles/profile.proto, docs/pprof.md and
 * shared/spec/OTLP-PROFILES.md section 6, independently of pdata/pprof_*.c
 * and pdata/stacks.c. They read pprof as protoc decodes it (textpb.h).
 *
 * A converted sample is one canonical line, "TYPE:UNIT|STACK|LABELS|VALUE":
 * STACK the locations leaf first, each "0xADDR[mapping file]{line,...}",
 * a line "name/system name@file:line:column", callee first; LABELS the
 * sorted "key=value(unit)" attributes, an array as "key=[v,...]". Strings
 * are compared with every run of non-ASCII bytes read as '?', so a name
 * pprof holds as invalid UTF-8 and its repaired OTLP form compare equal
 * (their exact bytes are checked apart). */
#ifndef PC_TEST_PPROFCHECK_H
#define PC_TEST_PPROFCHECK_H

#include "../../pdata/pdata.h"
#include "materialize.h"
#include "textpb.h"

/* Expected lines of a pprof Profile (as decoded text): one per sample type
 * and distinct stack + label set, values summed (pprof's aggregation). */
void pc_pprof_oracle_lines(const pc_tpb_t *profile, pc_mat_t *out);
/* The same lines read from converted OTLP; fails the test when a sample has
 * other than one value, or timestamps. */
void pc_pprof_otlp_lines(const pc_request_t *req, pc_mat_t *out);

/* Folded stacks of a pprof Profile's sample type k, by section 6's rules,
 * as sorted "frames VALUE" lines (equal stacks summed, zero sums left
 * out). */
void pc_pprof_oracle_folded(const pc_tpb_t *profile, size_t k, pc_mat_t *out);
/* Split folded text into sorted lines. */
void pc_folded_lines(const char *text, size_t n, pc_mat_t *out);

/* The Profiles SIG's profcheck rules (open-telemetry/sig-profiling
 * profcheck/check.go) that a converted request must pass, with the
 * duplicate, sample-shape and orphan checks on. Returns the number of
 * problems, the first described in why. */
int pc_profcheck(const pc_request_t *req, char *why, size_t cap);

#endif
