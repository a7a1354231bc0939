/* pprof.h - pprof's profile.proto in and out of pdata: decode a pprof
 * Profile, convert it into OTLP profiles, and encode a selection of OTLP
 * samples (pdata/stacks.h) as a pprof Profile.
 *
 * The field mapping in both directions, and what one format has that the
 * other cannot carry, is docs/pprof.md. The schema is
 * proto/perftools/profiles/profile.proto.
 *
 * Memory: the decoded profile lives in the caller's arena; strings are views
 * into the decoded buffer, which must outlive it. Conversion copies what it
 * keeps into the batch builder (pdata/intern.h), so the pprof bytes and the
 * arena can go once it returns.
 *
 * Errors: 0 or a negative PC_E* code with err filled: PC_EDECODE for a
 * malformed profile (the message gives the byte offset and the field path,
 * e.g. "at byte 912: sample[3].location_id[2]: no location has id 77"),
 * PC_ELIMIT for a gzip'd body that inflates past its limit, PC_ECORRUPT for
 * a damaged one, PC_ENOMEM. */
#ifndef PC_PPROF_H
#define PC_PPROF_H

#include "intern.h"
#include "pdata.h"

/* ---- the decoded Profile -----------------------------------------------------
 * Field for field the message of profile.proto, with every reference checked
 * and resolved once at decode: where pprof refers to a mapping, location or
 * function by id, the model also holds its position in the array. String
 * fields are indices into strings[], checked to be in range. */

typedef struct {
  int64_t type, unit; /* string indices */
} pc_pprof_valuetype_t;

typedef struct {
  int64_t key, str, num, num_unit; /* str, key, num_unit: string indices */
} pc_pprof_label_t;

typedef struct {
  uint32_t *locations; /* location_id resolved: positions in locations[], leaf first */
  uint32_t n_locations;
  int64_t *values; /* exactly n_sample_types */
  pc_pprof_label_t *labels;
  uint32_t n_labels;
} pc_pprof_sample_t;

typedef struct {
  uint64_t id;
  uint64_t memory_start, memory_limit, file_offset;
  int64_t filename, build_id;
  bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
} pc_pprof_mapping_t;

typedef struct {
  uint32_t function; /* function_id resolved: 1 + position in functions[], 0: none */
  int64_t line, column;
} pc_pprof_line_t;

typedef struct {
  uint64_t id;
  uint32_t mapping; /* mapping_id resolved: 1 + position in mappings[], 0: none */
  uint64_t address;
  pc_pprof_line_t *lines; /* inlined callee first, as in pprof and OTLP */
  uint32_t n_lines;
  bool is_folded;
} pc_pprof_location_t;

typedef struct {
  uint64_t id;
  int64_t name, system_name, filename, start_line;
} pc_pprof_function_t;

typedef struct {
  pc_pprof_valuetype_t *sample_types;
  uint32_t n_sample_types;
  pc_pprof_sample_t *samples;
  uint32_t n_samples;
  pc_pprof_mapping_t *mappings;
  uint32_t n_mappings;
  pc_pprof_location_t *locations;
  uint32_t n_locations;
  pc_pprof_function_t *functions;
  uint32_t n_functions;
  pc_str_t *strings; /* strings[0] is "" */
  uint32_t n_strings;
  int64_t drop_frames, keep_frames; /* string indices */
  int64_t time_nanos, duration_nanos;
  bool has_period_type;
  pc_pprof_valuetype_t period_type;
  int64_t period;
  int64_t *comments; /* string indices */
  uint32_t n_comments;
  int64_t default_sample_type, doc_url; /* string indices */
} pc_pprof_t;

/* Decode the serialized Profile buf[0..n) (not compressed: see
 * pc_pprof_unpack) into *out, arrays from arena. Checks what the format
 * requires: string_table[0] is "", every string index is in the table,
 * every sample has one value per sample type, ids are nonzero and unique
 * per table, and every referenced id exists. Unknown fields are skipped.
 * Strings are not checked to be UTF-8 (Go writes what it has); conversion
 * repairs them. */
int pc_pprof_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_pprof_t *out,
                    pc_err_t *err);

/* pprof files are gzip'd: when buf starts with gzip's magic bytes, inflate
 * it into scratch (appended; never past limit bytes: PC_ELIMIT) and point
 * *plain at the result; otherwise *plain is buf itself. */
int pc_pprof_unpack(const uint8_t *buf, size_t n, size_t limit, pc_buf_t *scratch,
                    pc_str_t *plain, pc_err_t *err);

/* ---- pprof -> OTLP -----------------------------------------------------------
 * Add p to the builder as one ResourceProfiles (no resource attributes) with
 * one ScopeProfiles holding one Profile per pprof sample type, in pprof's
 * order, each with every sample of p (one value each). Samples with the same
 * stack and labels are combined, their values summed, as pprof defines
 * aggregation. Labels become sample attributes, mapping build ids, pprof's
 * flags, comments, drop/keep frames, doc URL and default sample type become
 * the attributes semantic conventions name for them (docs/pprof.md).
 * scratch holds the request built on the way (reset by the caller after).
 * All or nothing: on failure the builder is as before the call. */
int pc_pprof_to_otlp(const pc_pprof_t *p, pc_arena_t *scratch, pc_builder_t *b,
                     pc_err_t *err);

/* The three steps at once: unpack (bounded by limit), decode, convert. */
int pc_pprof_convert(const uint8_t *buf, size_t n, size_t limit, pc_builder_t *b,
                     pc_err_t *err);

/* ---- OTLP -> pprof -----------------------------------------------------------
 * Encode an aggregated selection (pdata/stacks.h) as a pprof Profile: its
 * sample type (and the period of the profiles it came from), one sample per
 * distinct stack with the summed value, locations with addresses, mappings
 * (build ids from process.executable.build_id.*), functions and lines,
 * inlined frames kept. gzip: compress the result, as pprof files are. */
typedef struct pc_stacks pc_stacks_t;
int pc_pprof_encode(const pc_stacks_t *s, bool gzip, pc_buf_t *out);

#endif
