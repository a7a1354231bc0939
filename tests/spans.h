/* spans.h - spans and linked profiles for the tests of trace linking.
 *
 * Spans: a list of plain span descriptions turned into the traces model
 * (as a decoder would fill it) or into an ExportTraceServiceRequest,
 * protobuf or OTLP-JSON, written here by hand from the field table so that
 * the decoders are checked against an encoder that shares nothing with
 * them. Profiles: samples described by their stacks as text and their
 * links, built into a request. */
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

/* One sample of a linked profile. frames is its stack, root first, frames
 * separated by ';': "name" is a location with one line of function name;
 * "caller>callee" one location whose lines are inlined (callee first on the
 * wire); "@file+0xADDR" a location without lines in mapping file at
 * address ADDR (an unnamed frame); "" a stack without locations. */
typedef struct {
  const char *frames;
  uint32_t trace, span; /* the link: pc_test_trace_id/pc_test_span_id; 0: none */
  const char *type;     /* "TYPE:UNIT" of its profile; NULL: "samples:count" */
  int64_t value;        /* its one value; 0: instead n_timestamps timestamps, no value */
  uint32_t n_timestamps;
  uint64_t ts;          /* the first timestamp (the others 1 ns apart) */
  int64_t tid;          /* attribute thread.id; -1: none (also when 0 in a literal) */
} pc_test_sample_t;

/* A request of one resource (service.name service unless NULL, process.pid
 * pid unless < 0) with one profile per distinct type, in the order types
 * first appear; one dictionary. Arrays from arena. */
void pc_test_profiles(pc_arena_t *arena, const char *service, int64_t pid,
                      const pc_test_sample_t *v, size_t n, pc_request_t *out);

#endif
