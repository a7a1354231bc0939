/* spans.h - spans for the tests of trace linking: a list of plain span
 * descriptions turned into the traces model (as a decoder would fill it)
 * or into an ExportTraceServiceRequest, protobuf or OTLP-JSON, written
 * here by hand from the field table so that the decoders are checked
 * against an encoder that shares nothing with them. */
#ifndef PC_TEST_SPANS_H
#define PC_TEST_SPANS_H

#include "../pdata/traces.h"

typedef struct {
  const char *service; /* resource service.name; NULL: none */
  int64_t pid;         /* resource process.pid; -1: none */
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_span_id[8]; /* all zero: a root span */
  const char *name;
  uint64_t start, end;
  int64_t tid; /* span attribute thread.id; -1: none */
  uint32_t flags;
  int status_code;
  int kind;
  int id_len; /* 0: 16/8 as usual; else every id is this long (a bad request) */
} pc_test_span_t;

/* Ids from small numbers: trace t is 16 bytes 0x10 + t..., span s is 8 bytes. */
void pc_test_trace_id(uint32_t t, uint8_t out[16]);
void pc_test_span_id(uint32_t s, uint8_t out[8]);
/* "0a0b..." lowercase hex of n bytes into out (2n + 1 bytes). */
void pc_test_hex(const uint8_t *p, size_t n, char *out);

/* The model of v[0..n): one resource per run of spans with the same
 * service and pid, one scope each. Arrays come from arena. */
void pc_test_traces(pc_arena_t *arena, const pc_test_span_t *v, size_t n, pc_traces_t *out);
/* The same as an ExportTraceServiceRequest, appended to out. */
void pc_test_traces_proto(const pc_test_span_t *v, size_t n, pc_buf_t *out);
void pc_test_traces_json(const pc_test_span_t *v, size_t n, pc_buf_t *out);

#endif
