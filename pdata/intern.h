/* intern.h - the batch builder: merges decoded requests into one request
 * with one dictionary, each table entry once.
 *
 * Every dictionary entry an input request references is interned by content
 * into the builder's own tables, children first (strings, functions,
 * mappings, attributes, locations, stacks, links), and every index of the
 * input is rewritten to the builder's. Entries nothing references are never
 * copied, so the output has neither duplicates nor unreferenced entries, and
 * entry 0 of every table is the zero entry (the zero Link is 16 + 8 zero
 * bytes). Resource profiles with equal resources, and scope profiles with
 * equal scopes, are merged; profiles are appended.
 *
 * Semantics (shared/spec/OTLP-PROFILES.md section 2): resolving the
 * references of any merged sample gives what resolving them in its input
 * gave. Index 0 means "not set" everywhere (an input whose entry 0 is not the
 * zero value is read as if it were); a KeyValue's key is its inline key when
 * that is not empty, else key_strindex. A Link whose ids are all zero bytes
 * (or empty) is the zero Link. Representations are kept: a string value stays
 * string_value or string_value_strindex, a key stays inline or indexed.
 * Resources compare as: has_resource, the attributes as a multiset of
 * resolved key/values, dropped count, entity refs, schema_url; scopes as:
 * has_scope, name, version, resolved attributes, dropped count, schema_url.
 *
 * Inputs must be validated (pc_pdata_validate; the decoders do it) and are
 * only read during the call: strings and bytes are copied into the builder's
 * arena. No allocation per sample: the samples of a merged profile are kept
 * as their protobuf encoding (indices already rewritten) in one allocation
 * from 64 KiB chunks, about 40% of what pc_sample_t arrays take;
 * pc_builder_encode copies them out as they are and pc_builder_request
 * decodes them.
 *
 * Ownership: the builder owns its arena, tables and output; the output of
 * pc_builder_request is valid until the next add, reset or free. Reset keeps
 * the allocated tables and the arena's first block for the next batch.
 *
 * Errors: an add either merges all of its part of the request or nothing
 * (on failure the builder is rolled back to its state before the call;
 * arena memory used by the failed call is only reclaimed by reset). */
#ifndef PC_INTERN_H
#define PC_INTERN_H

#include "pdata.h"

typedef struct pc_builder pc_builder_t;

typedef struct {
  uint64_t adds;      /* successful adds since reset */
  uint64_t resources; /* in the output */
  uint64_t scopes;
  uint64_t profiles;
  uint64_t samples;
  /* Estimated protobuf bytes of what was merged, counted on the inputs
   * (their referenced entries and their tree): what the batch stands for. */
  uint64_t in_bytes;
  /* Upper bound of the output's protobuf size (pc_proto_encode), kept up to
   * date entry by entry: what a flush will send. */
  uint64_t out_bytes;
  /* Sample attribute lists encoded index by index. Samples that share one
   * list (a processor that edits sample attributes hands every sample of a
   * set the same list) are encoded once per add and copied after that. */
  uint64_t attr_lists;
} pc_builder_stats_t;

/* A new, empty builder. Aborts (pc_oom) when memory is exhausted. */
pc_builder_t *pc_builder_new(void);
void pc_builder_free(pc_builder_t *b);

/* Merge all of req. 0, or PC_ENOMEM / PC_ELIMIT (tables would pass INT32_MAX
 * entries) with err filled and nothing merged. */
int pc_builder_add(pc_builder_t *b, const pc_request_t *req, pc_err_t *err);

/* Merge part of req: the samples with ordinals first .. first+n-1, counting
 * the samples of the request in tree order from 0 (n may run past the end).
 * A profile split this way appears in each part with its own samples.
 * Resources, scopes and profiles without samples go with the part that
 * covers the ordinal of the sample that would follow them (those at the very
 * end go with the part that reaches the end).
 *
 * max_out_bytes (0: none) caps stats.out_bytes: when the merge would pass
 * it, nothing is merged and PC_ELIMIT is returned - unless the builder was
 * empty and the part holds at most one sample, which is merged anyway (one
 * sample cannot be split). */
int pc_builder_add_range(pc_builder_t *b, const pc_request_t *req, uint64_t first,
                         uint64_t n, uint64_t max_out_bytes, pc_err_t *err);

/* The merged request (dictionary, tree, arena), valid until the next add,
 * reset or free. The builder keeps samples encoded; this call decodes those
 * not decoded yet into pc_sample_t arrays in its arena (about 2.5 times
 * their encoded size, kept until reset) and frees the encoded form chunk by
 * chunk as it goes; aborts with pc_oom when memory is exhausted. A flush
 * that only needs the protobuf bytes should call pc_builder_encode instead.
 * The caller may read the request and edit it (a consumer may mutate
 * what it is given, even swap a table for a longer copy from req->arena):
 * the builder keeps its own pointers. After an edit, only reset the builder;
 * adding to it would intern against edited entries. */
pc_request_t *pc_builder_request(pc_builder_t *b);

/* Append the protobuf encoding of the merged request to out: the same bytes
 * as pc_proto_encode(pc_builder_request(b)), written from the encoded
 * samples without decoding them (profiles that pc_builder_request decoded
 * already are encoded from their tree). Needs one buffer of about
 * stats.out_bytes (when out is empty that buffer becomes out's). 0 or
 * PC_ENOMEM. Not after a consumer edited the request. */
int pc_builder_encode(pc_builder_t *b, pc_buf_t *out);

/* The merged request as a finished body (core.h): pc_builder_encode, then
 * compressed for encodings (variants: 1 << pc_body_variant), with md (pc_md_encode
 * form, or NULL; the body takes a reference). NULL with *rc set when
 * encoding or compressing fails. What a batch flush and the load_balancing
 * exporter hand on (bodies.c). */
pc_body_t *pc_builder_body(pc_builder_t *b, unsigned encodings, pc_bytes_t *md, int *rc);

const pc_builder_stats_t *pc_builder_stats(const pc_builder_t *b);
/* True when nothing was merged since the last reset. */
bool pc_builder_empty(const pc_builder_t *b);
/* Bytes of memory the builder holds now: arena blocks, tables, hash sets and
 * scratch space. */
size_t pc_builder_mem(const pc_builder_t *b);

/* Where pc_builder_mem goes. "of which" parts are inside the one above. */
typedef struct {
  size_t total;         /* pc_builder_mem */
  size_t samples;       /* encoded samples (chunks, until pc_builder_request) */
  size_t arena;         /* arena blocks: copied strings, lists, the tree */
  size_t arena_view;    /*   of which samples decoded by pc_builder_request */
  size_t arena_free;    /*   of which not handed out (block tails) */
  size_t tables;        /* dictionary arrays, by capacity */
  size_t tables_free;   /*   of which past the tables' lengths */
  size_t sets;          /* hash sets of the tables */
  size_t sets_free;     /*   of which empty slots */
  size_t maps;          /* index maps (one int32 per entry of the largest input) */
  size_t other;         /* resource arrays and bookkeeping, scratch */
} pc_builder_mem_t;
void pc_builder_mem_detail(const pc_builder_t *b, pc_builder_mem_t *m);

/* Forget the batch, keep the memory (tables, hash sets, the arena's first
 * block) for the next one. */
void pc_builder_reset(pc_builder_t *b);

#endif
