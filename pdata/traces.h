/* traces.h - an OTLP ExportTraceServiceRequest as profcol reads it: decoded
 * and validated once by the receivers, read by trace linking (the span
 * store), and forwarded to traces exporters as the bytes it came in.
 *
 * profcol does not edit or re-encode spans, so the model keeps what a reader
 * of spans needs and the encoded request it was decoded from: resources,
 * scopes, and per span its ids, name, kind, times, flags, attributes and
 * status. A span's events and links are validated (wire format, UTF-8, id
 * sizes) and counted; the OTLP-JSON decoder keeps them too, since a JSON
 * request bound for a gRPC exporter must be encoded as protobuf
 * (pc_traces_proto_encode), and protobuf requests are forwarded as they
 * came.
 *
 * Validation, as the Collector's pdata does it when it unmarshals: a
 * trace_id is 16 bytes and a span_id or parent_span_id 8 bytes, or empty;
 * strings are UTF-8; the wire format is well formed. Anything else fails the
 * whole request (PC_EDECODE, the receivers answer 400): spans are forwarded
 * as the bytes they came in, so none can be dropped alone. A span whose ids
 * are empty or all zero is valid on the wire and kept; it cannot be linked
 * to, and the span store skips it.
 *
 * Memory: as pdata.h, everything lives in one arena; strings and bytes are
 * views into the input for protobuf, copies in the arena for JSON. */
#ifndef PC_PDATA_TRACES_H
#define PC_PDATA_TRACES_H

#include "pdata.h"

/* Span.SpanKind and Status.StatusCode, as on the wire. */
enum { PC_SPAN_KIND_UNSPECIFIED, PC_SPAN_KIND_INTERNAL, PC_SPAN_KIND_SERVER,
       PC_SPAN_KIND_CLIENT, PC_SPAN_KIND_PRODUCER, PC_SPAN_KIND_CONSUMER };
enum { PC_STATUS_CODE_UNSET, PC_STATUS_CODE_OK, PC_STATUS_CODE_ERROR };
/* Span.flags: bits 0-7 are the W3C trace flags; these two say whether the
 * parent span context was remote (another process), when known. */
#define PC_SPAN_FLAGS_HAS_IS_REMOTE 0x100u
#define PC_SPAN_FLAGS_IS_REMOTE 0x200u

/* Span.Event and Span.Link (kept by the OTLP-JSON decoder only). */
typedef struct {
  uint64_t time_unix_nano;
  pc_str_t name;
  pc_kvs_t attributes;
  uint32_t dropped_attributes_count;
} pc_span_event_t;

typedef struct {
  pc_str_t trace_id; /* 16 bytes, or empty */
  pc_str_t span_id;  /* 8 bytes, or empty */
  pc_str_t trace_state;
  pc_kvs_t attributes;
  uint32_t dropped_attributes_count;
  uint32_t flags;
} pc_span_link_t;

typedef struct {
  pc_str_t trace_id;       /* 16 bytes, or empty */
  pc_str_t span_id;        /* 8 bytes, or empty */
  pc_str_t trace_state;
  pc_str_t parent_span_id; /* 8 bytes, or empty: a root span */
  uint32_t flags;
  pc_str_t name;
  int32_t kind;
  uint64_t start_time_unix_nano;
  uint64_t end_time_unix_nano;
  pc_kvs_t attributes;
  uint32_t dropped_attributes_count;
  pc_span_event_t *events; /* n_events of them from OTLP-JSON; NULL from protobuf */
  uint32_t n_events;
  uint32_t dropped_events_count;
  pc_span_link_t *links; /* the same */
  uint32_t n_links;
  uint32_t dropped_links_count;
  bool has_status;
  pc_str_t status_message;
  int32_t status_code;
} pc_span_t;

typedef struct {
  bool has_scope;
  pc_scope_t scope;
  pc_span_t *spans;
  uint32_t n_spans;
  pc_str_t schema_url;
} pc_scope_spans_t;

typedef struct {
  bool has_resource;
  pc_resource_t resource;
  pc_scope_spans_t *scopes;
  uint32_t n_scopes;
  pc_str_t schema_url;
} pc_resource_spans_t;

/* ExportTraceServiceRequest (and TracesData, which has the same shape). */
typedef struct {
  pc_arena_t *arena;
  pc_resource_spans_t *resources;
  uint32_t n_resources;
  /* The request as it came (after decompression): protobuf, or OTLP-JSON
   * when json. What exporters forward, untouched. Owned by whoever decoded
   * it; valid as long as the model. */
  const uint8_t *encoded;
  size_t encoded_n;
  bool json;
  /* Client metadata of the request (include_metadata), or NULL. */
  const pc_metadata_t *metadata;
} pc_traces_t;

/* Decode and validate protobuf buf[0..n) into *tr (zeroed first), views
 * into buf; tr->encoded is set to buf. 0, or PC_EDECODE with err saying
 * what and where ("at byte 52: resource_spans[0].scope_spans[0].spans[3]
 * .span_id: must be 8 bytes (or empty), got 5"), or PC_ENOMEM when the
 * arena's limit is reached. */
int pc_traces_proto_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_traces_t *tr,
                           pc_err_t *err);
/* The same for OTLP-JSON (ids as hex, 64-bit integers as strings or
 * numbers); strings are copied into the arena, tr->encoded is buf. A body
 * that decodes to no span while its top level held unknown keys is refused,
 * naming them (a profiles request, or a misspelled key). */
int pc_traces_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_traces_t *tr,
                          pc_err_t *err);

/* Append tr as a canonical protobuf ExportTraceServiceRequest to out: what
 * a gRPC exporter sends for a request that came as OTLP-JSON (one from
 * protobuf is sent as tr->encoded; its events and links are not in the
 * model, so it is refused here with PC_EINVAL). 0 or PC_ENOMEM. */
int pc_traces_proto_encode(const pc_traces_t *tr, pc_buf_t *out);

uint64_t pc_traces_span_count(const pc_traces_t *tr);

/* Split tr's encoded bytes (traces_split.c) by owner[i] in [0, n_parts), one
 * per span in tree order: parts[k] gets appended the request of the spans k
 * owns, each resource's and scope's other fields as they came, each span
 * verbatim, in the encoding tr came in; a part without spans gets nothing.
 * 0, or PC_EINVAL (an owner out of range) / PC_EDECODE (the bytes do not
 * hold the spans the model has) with err filled. */
int pc_traces_split(const pc_traces_t *tr, const uint16_t *owner, size_t n_parts,
                    pc_buf_t *parts, pc_err_t *err);

/* The value of the attribute with this (inline) key in kvs, or NULL. */
const pc_anyvalue_t *pc_kvs_get(const pc_kvs_t *kvs, pc_str_t key);

/* The profiles side of trace linking reads a few attributes of profiles
 * requests, whose keys and string values may be inline or string-table
 * indices (the request must be validated). */

/* A KeyValue's key (inline, or from the string table). */
pc_str_t pc_profiles_kv_key(const pc_request_t *req, const pc_keyvalue_t *kv);
/* The string value of the first of kvs with key, or empty. */
pc_str_t pc_profiles_kvs_string(const pc_request_t *req, const pc_kvs_t *kvs, pc_str_t key);
/* The attribute table entry of attribute_indices with key, or NULL. */
const pc_attr_t *pc_profiles_attr_find(const pc_request_t *req, pc_i32s_t indices,
                                       pc_str_t key);
/* An integer attribute value (an int, or a string of at most 10 digits), in
 * 0 .. UINT32_MAX: process ids and thread ids. */
bool pc_anyvalue_u32(const pc_dictionary_t *d, const pc_anyvalue_t *v, uint32_t *out);

#endif
