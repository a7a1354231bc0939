/* testdata.h - fixtures shared by the pdata test cases. */
#ifndef PC_TESTDATA_H
#define PC_TESTDATA_H

#include <check.h>

#include "../../pdata/pdata.h"

/* A request that sets every field of every message at least once (nested
 * AnyValues, entity refs, links, inlined lines, timestamps, ...), with a
 * valid dictionary. Allocated from a. */
void pc_test_rich_request(pc_arena_t *a, pc_request_t *req);

/* The rich request, protobuf-encoded (the caller frees it); *samples, when
 * samples is not NULL, gets its sample count. */
pc_buf_t pc_test_rich_body(uint64_t *samples);

/* Into out (replaced): the rich request with its first sample's values
 * replaced by n values of 1, protobuf-encoded: n bytes of packed varints
 * that decode into 8n bytes (issue 14's protobuf expansion; compressed,
 * a few KB that hold a decoder's worth of memory). */
void pc_test_expansion_request(size_t n, pc_buf_t *out);

/* Assert that two requests are equal in every field, presence flags and
 * AnyValue trees included (table order matters; this is not a semantic
 * comparison). */
void pc_test_assert_request_eq(const pc_request_t *a, const pc_request_t *b);

/* Read a whole file into out; aborts the test on failure. Paths relative to
 * the source tree are resolved through $PC_SOURCE_ROOT. */
void pc_test_read_file(const char *path, pc_buf_t *out);

/* The OTLP-JSON text in with its keys renamed to the proto's field names
 * (lowerCamelCase to lower_snake_case): every key, or every other key.
 * out is overwritten and NUL-terminated (the NUL not counted). */
void pc_test_to_proto_names(const pc_buf_t *in, bool every_other, pc_buf_t *out);

/* The TCases of the pdata suite, one per source file. */
TCase *pc_test_proto_tcase(void);
TCase *pc_test_json_tcase(void);
TCase *pc_test_json_bounds_tcase(void);
TCase *pc_test_json_names_tcase(void);
TCase *pc_test_json_syntax_tcase(void);
TCase *pc_test_stats_tcase(void);
TCase *pc_test_intern_tcase(void);
TCase *pc_test_pprof_tcase(void);
TCase *pc_test_stacks_tcase(void);
TCase *pc_test_traces_tcase(void);

#endif
