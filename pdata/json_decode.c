/* json_decode.c - OTLP-JSON -> pdata for ExportProfilesServiceRequest (and,
 * at the end, ExportTraceServiceRequest -> the traces model, traces.h).
 *
 * One idea: one pass over the text that writes straight into pdata; no
 * document is ever built. Each message is an object read key by key against
 * a table of its fields (below), so a value is parsed once, by the reader of
 * its field's type, and an unknown key's value is skipped without memory.
 *
 * Memory is bounded by the arena's limit (pc_arena_set_limit; receivers set
 * it to RX_ARENA_FACTOR times the body limit, as for protobuf). A JSON array
 * does not say its length up front, so the elements of the arrays still open
 * wait on a scratch stack (the innermost array on top); when an array
 * closes, its elements are copied into an arena array of exactly their count
 * and the stack shrinks back. The scratch is counted against the same limit
 * (pc_arena_charge), so arena and scratch together never pass it: a body
 * that would expand past it fails with PC_ENOMEM before the memory is taken
 * (the receiver answers 413). Work is one pass, linear in the input; nesting
 * is capped at MAX_DEPTH with an explicit stack (no recursion on input
 * depth), AnyValues at PC_MAX_ANYVALUE_DEPTH.
 *
 * Keys are the lowerCamelCase JSON names or the proto field names, as every
 * protobuf JSON parser and the Collector's reader accept. A field met twice
 * behaves as in the Collector's reader (pdata/internal/json): a repeated
 * field appends, a message merges, a scalar's last value wins. Unknown keys
 * are ignored, as there; but a request that decodes to no profile while its
 * top level held unknown keys is refused, naming them: the usual cause is a
 * misspelled or foreign key, and answering 200 would lose the data silently.
 *
 * The OTLP-JSON rules (shared/spec/OTLP-PROFILES.md section 3): 64-bit
 * integers come as decimal strings or numbers, Link ids as hex, other bytes
 * as base64 (standard or URL-safe, padding optional), `null` means "not set".
 * A profileId of exactly 32 hex digits is read as hex, as the Collector
 * writes it. Strings are checked to be UTF-8 and copied into the arena.
 *
 * Errors: syntax errors say "line L, column C: what near 'token'" in
 * jansson's words (the decoder this one replaced; clients and tests know
 * them), with line and column also in pc_err_t; errors in values name the
 * JSON path of the bad value, e.g. "resourceProfiles[0].scopeProfiles[1]
 * .profiles[2].samples[3].values[0]: expected an integer, got \"abc\"". */
#include "pdata.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "internal.h"
#include "traces.h"
#include "utf8.h"

#define MAX_DEPTH 2048 /* open arrays and objects: jansson's JSON_PARSER_MAX_DEPTH */
#define MAX_PATH 256   /* path frames kept; the schema nests 3 per AnyValue level */
#define MAX_UNKNOWN 4  /* unknown top-level keys named in an error */
#define SCRATCH_MIN 16384

/* ---- the field tables ------------------------------------------------------ */

typedef enum {
  K_I32, K_U32, K_I64, K_U64,
  K_STR, K_B64, K_TRACE_ID, K_SPAN_ID, K_PROFILE_ID,
  K_MSG,     /* a message: off is the struct, aux its has_ flag (NO_AUX: none) */
  K_ANY,     /* an AnyValue: off is the pc_anyvalue_t, aux its has_ flag */
  K_REP_MSG, /* off: the array pointer, aux: its uint32_t count */
  K_REP_I32, K_REP_I64, K_REP_U64, K_REP_STR,
} kind_t;

#define NO_AUX 0xffff

typedef struct dec dec_t;
typedef struct msg msg_t;

typedef struct {
  const char *name[2]; /* JSON name, proto name (NULL when the same) */
  uint8_t len[2];
  uint8_t kind;
  uint16_t off, aux;
  const msg_t *sub; /* K_MSG, K_REP_MSG */
} field_t;

struct msg {
  uint16_t size; /* of the struct, for arrays of it */
  uint8_t n;
  const field_t *f;
  int (*custom)(dec_t *d, uint8_t *obj); /* AnyValue's own reader */
};

/* F("jsonName", "proto_name", kind, struct, member, aux, sub) */
#define F2(js, pb, k, st, m, a, s) \
  {{js, pb}, {sizeof js - 1, sizeof pb - 1}, k, offsetof(st, m), a, s}
#define F1(js, k, st, m, a, s) {{js, NULL}, {sizeof js - 1, 0}, k, offsetof(st, m), a, s}
#define HAS(st, m) offsetof(st, m)
#define CNT(st, m) offsetof(st, m)
#define MSG(name, st, ...)                                                                  \
  static const field_t name##_f[] = {__VA_ARGS__};                                         \
  static const msg_t name = {sizeof(st), sizeof name##_f / sizeof name##_f[0], name##_f, NULL}

static const msg_t ANYVALUE, KEYVALUE;

MSG(VALUETYPE, pc_valuetype_t,
    F2("typeStrindex", "type_strindex", K_I32, pc_valuetype_t, type_strindex, NO_AUX, NULL),
    F2("unitStrindex", "unit_strindex", K_I32, pc_valuetype_t, unit_strindex, NO_AUX, NULL));

MSG(SAMPLE, pc_sample_t,
    F2("stackIndex", "stack_index", K_I32, pc_sample_t, stack_index, NO_AUX, NULL),
    F2("attributeIndices", "attribute_indices", K_REP_I32, pc_sample_t, attribute_indices.v,
       CNT(pc_sample_t, attribute_indices.n), NULL),
    F2("linkIndex", "link_index", K_I32, pc_sample_t, link_index, NO_AUX, NULL),
    F1("values", K_REP_I64, pc_sample_t, values, CNT(pc_sample_t, n_values), NULL),
    F2("timestampsUnixNano", "timestamps_unix_nano", K_REP_U64, pc_sample_t,
       timestamps_unix_nano, CNT(pc_sample_t, n_timestamps), NULL));

MSG(PROFILE, pc_profile_t,
    F2("sampleType", "sample_type", K_MSG, pc_profile_t, sample_type,
       HAS(pc_profile_t, has_sample_type), &VALUETYPE),
    F1("samples", K_REP_MSG, pc_profile_t, samples, CNT(pc_profile_t, n_samples), &SAMPLE),
    F2("timeUnixNano", "time_unix_nano", K_U64, pc_profile_t, time_unix_nano, NO_AUX, NULL),
    F2("durationNano", "duration_nano", K_U64, pc_profile_t, duration_nano, NO_AUX, NULL),
    F2("periodType", "period_type", K_MSG, pc_profile_t, period_type,
       HAS(pc_profile_t, has_period_type), &VALUETYPE),
    F1("period", K_I64, pc_profile_t, period, NO_AUX, NULL),
    F2("profileId", "profile_id", K_PROFILE_ID, pc_profile_t, profile_id, NO_AUX, NULL),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_profile_t,
       dropped_attributes_count, NO_AUX, NULL),
    F2("originalPayloadFormat", "original_payload_format", K_STR, pc_profile_t,
       original_payload_format, NO_AUX, NULL),
    F2("originalPayload", "original_payload", K_B64, pc_profile_t, original_payload, NO_AUX,
       NULL),
    F2("attributeIndices", "attribute_indices", K_REP_I32, pc_profile_t, attribute_indices.v,
       CNT(pc_profile_t, attribute_indices.n), NULL));

MSG(SCOPE, pc_scope_t,
    F1("name", K_STR, pc_scope_t, name, NO_AUX, NULL),
    F1("version", K_STR, pc_scope_t, version, NO_AUX, NULL),
    F1("attributes", K_REP_MSG, pc_scope_t, attributes.v, CNT(pc_scope_t, attributes.n),
       &KEYVALUE),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_scope_t,
       dropped_attributes_count, NO_AUX, NULL));

MSG(SCOPE_PROFILES, pc_scope_profiles_t,
    F1("scope", K_MSG, pc_scope_profiles_t, scope, HAS(pc_scope_profiles_t, has_scope), &SCOPE),
    F1("profiles", K_REP_MSG, pc_scope_profiles_t, profiles,
       CNT(pc_scope_profiles_t, n_profiles), &PROFILE),
    F2("schemaUrl", "schema_url", K_STR, pc_scope_profiles_t, schema_url, NO_AUX, NULL));

MSG(ENTITY_REF, pc_entity_ref_t,
    F2("schemaUrl", "schema_url", K_STR, pc_entity_ref_t, schema_url, NO_AUX, NULL),
    F1("type", K_STR, pc_entity_ref_t, type, NO_AUX, NULL),
    F2("idKeys", "id_keys", K_REP_STR, pc_entity_ref_t, id_keys.v, CNT(pc_entity_ref_t, id_keys.n),
       NULL),
    F2("descriptionKeys", "description_keys", K_REP_STR, pc_entity_ref_t, description_keys.v,
       CNT(pc_entity_ref_t, description_keys.n), NULL));

MSG(RESOURCE, pc_resource_t,
    F1("attributes", K_REP_MSG, pc_resource_t, attributes.v, CNT(pc_resource_t, attributes.n),
       &KEYVALUE),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_resource_t,
       dropped_attributes_count, NO_AUX, NULL),
    F2("entityRefs", "entity_refs", K_REP_MSG, pc_resource_t, entity_refs,
       CNT(pc_resource_t, n_entity_refs), &ENTITY_REF));

MSG(RESOURCE_PROFILES, pc_resource_profiles_t,
    F1("resource", K_MSG, pc_resource_profiles_t, resource,
       HAS(pc_resource_profiles_t, has_resource), &RESOURCE),
    F2("scopeProfiles", "scope_profiles", K_REP_MSG, pc_resource_profiles_t, scopes,
       CNT(pc_resource_profiles_t, n_scopes), &SCOPE_PROFILES),
    F2("schemaUrl", "schema_url", K_STR, pc_resource_profiles_t, schema_url, NO_AUX, NULL));

MSG(MAPPING, pc_mapping_t,
    F2("memoryStart", "memory_start", K_U64, pc_mapping_t, memory_start, NO_AUX, NULL),
    F2("memoryLimit", "memory_limit", K_U64, pc_mapping_t, memory_limit, NO_AUX, NULL),
    F2("fileOffset", "file_offset", K_U64, pc_mapping_t, file_offset, NO_AUX, NULL),
    F2("filenameStrindex", "filename_strindex", K_I32, pc_mapping_t, filename_strindex, NO_AUX,
       NULL),
    F2("attributeIndices", "attribute_indices", K_REP_I32, pc_mapping_t, attribute_indices.v,
       CNT(pc_mapping_t, attribute_indices.n), NULL));

MSG(LINE, pc_line_t,
    F2("functionIndex", "function_index", K_I32, pc_line_t, function_index, NO_AUX, NULL),
    F1("line", K_I64, pc_line_t, line, NO_AUX, NULL),
    F1("column", K_I64, pc_line_t, column, NO_AUX, NULL));

MSG(LOCATION, pc_location_t,
    F2("mappingIndex", "mapping_index", K_I32, pc_location_t, mapping_index, NO_AUX, NULL),
    F1("address", K_U64, pc_location_t, address, NO_AUX, NULL),
    F1("lines", K_REP_MSG, pc_location_t, lines, CNT(pc_location_t, n_lines), &LINE),
    F2("attributeIndices", "attribute_indices", K_REP_I32, pc_location_t, attribute_indices.v,
       CNT(pc_location_t, attribute_indices.n), NULL));

MSG(FUNCTION, pc_function_t,
    F2("nameStrindex", "name_strindex", K_I32, pc_function_t, name_strindex, NO_AUX, NULL),
    F2("systemNameStrindex", "system_name_strindex", K_I32, pc_function_t,
       system_name_strindex, NO_AUX, NULL),
    F2("filenameStrindex", "filename_strindex", K_I32, pc_function_t, filename_strindex,
       NO_AUX, NULL),
    F2("startLine", "start_line", K_I64, pc_function_t, start_line, NO_AUX, NULL));

MSG(LINK, pc_link_t,
    F2("traceId", "trace_id", K_TRACE_ID, pc_link_t, trace_id, NO_AUX, NULL),
    F2("spanId", "span_id", K_SPAN_ID, pc_link_t, span_id, NO_AUX, NULL));

MSG(ATTR, pc_attr_t,
    F2("keyStrindex", "key_strindex", K_I32, pc_attr_t, key_strindex, NO_AUX, NULL),
    F1("value", K_ANY, pc_attr_t, value, HAS(pc_attr_t, has_value), NULL),
    F2("unitStrindex", "unit_strindex", K_I32, pc_attr_t, unit_strindex, NO_AUX, NULL));

MSG(STACK, pc_stack_t,
    F2("locationIndices", "location_indices", K_REP_I32, pc_stack_t, location_indices.v,
       CNT(pc_stack_t, location_indices.n), NULL));

MSG(DICTIONARY, pc_dictionary_t,
    F2("mappingTable", "mapping_table", K_REP_MSG, pc_dictionary_t, mappings,
       CNT(pc_dictionary_t, n_mappings), &MAPPING),
    F2("locationTable", "location_table", K_REP_MSG, pc_dictionary_t, locations,
       CNT(pc_dictionary_t, n_locations), &LOCATION),
    F2("functionTable", "function_table", K_REP_MSG, pc_dictionary_t, functions,
       CNT(pc_dictionary_t, n_functions), &FUNCTION),
    F2("linkTable", "link_table", K_REP_MSG, pc_dictionary_t, links,
       CNT(pc_dictionary_t, n_links), &LINK),
    F2("stringTable", "string_table", K_REP_STR, pc_dictionary_t, strings,
       CNT(pc_dictionary_t, n_strings), NULL),
    F2("attributeTable", "attribute_table", K_REP_MSG, pc_dictionary_t, attrs,
       CNT(pc_dictionary_t, n_attrs), &ATTR),
    F2("stackTable", "stack_table", K_REP_MSG, pc_dictionary_t, stacks,
       CNT(pc_dictionary_t, n_stacks), &STACK));

MSG(REQUEST, pc_request_t,
    F2("resourceProfiles", "resource_profiles", K_REP_MSG, pc_request_t, resources,
       CNT(pc_request_t, n_resources), &RESOURCE_PROFILES),
    F1("dictionary", K_MSG, pc_request_t, dict, HAS(pc_request_t, has_dictionary), &DICTIONARY));

/* KeyValue, and the two messages an AnyValue may hold, read into the
 * pc_anyvalue_t itself. */
MSG(KEYVALUE, pc_keyvalue_t,
    F1("key", K_STR, pc_keyvalue_t, key, NO_AUX, NULL),
    F1("value", K_ANY, pc_keyvalue_t, value, HAS(pc_keyvalue_t, has_value), NULL),
    F2("keyStrindex", "key_strindex", K_I32, pc_keyvalue_t, key_strindex, NO_AUX, NULL));

MSG(ARRAY_VALUE, pc_anyvalue_t,
    F1("values", K_REP_MSG, pc_anyvalue_t, u.array.v, CNT(pc_anyvalue_t, u.array.n),
       &ANYVALUE));

MSG(KVLIST_VALUE, pc_anyvalue_t,
    F1("values", K_REP_MSG, pc_anyvalue_t, u.kvlist.v, CNT(pc_anyvalue_t, u.kvlist.n),
       &KEYVALUE));

/* AnyValue's oneof members in field-number order (index + 1 == type); its
 * reader (dec_anyvalue) switches on the type, not on kind. */
static const field_t ANYVALUE_f[] = {
    F2("stringValue", "string_value", K_STR, pc_anyvalue_t, u.s, NO_AUX, NULL),
    F2("boolValue", "bool_value", K_STR, pc_anyvalue_t, u.b, NO_AUX, NULL),
    F2("intValue", "int_value", K_I64, pc_anyvalue_t, u.i, NO_AUX, NULL),
    F2("doubleValue", "double_value", K_STR, pc_anyvalue_t, u.d, NO_AUX, NULL),
    F2("arrayValue", "array_value", K_MSG, pc_anyvalue_t, u.array, NO_AUX, &ARRAY_VALUE),
    F2("kvlistValue", "kvlist_value", K_MSG, pc_anyvalue_t, u.kvlist, NO_AUX, &KVLIST_VALUE),
    F2("bytesValue", "bytes_value", K_B64, pc_anyvalue_t, u.s, NO_AUX, NULL),
    F2("stringValueStrindex", "string_value_strindex", K_I32, pc_anyvalue_t, u.strindex,
       NO_AUX, NULL),
};
static int dec_anyvalue(dec_t *d, uint8_t *obj);
static const msg_t ANYVALUE = {sizeof(pc_anyvalue_t), 8, ANYVALUE_f, dec_anyvalue};

/* ExportTraceServiceRequest: what traces.h keeps of a span. Events and
 * links are kept too, so that spans that came as JSON can be re-encoded as
 * protobuf for a gRPC exporter (pc_traces_proto_encode). A Status is read
 * into the span itself (status_message, status_code). */
MSG(SPAN_EVENT, pc_span_event_t,
    F2("timeUnixNano", "time_unix_nano", K_U64, pc_span_event_t, time_unix_nano, NO_AUX, NULL),
    F1("name", K_STR, pc_span_event_t, name, NO_AUX, NULL),
    F1("attributes", K_REP_MSG, pc_span_event_t, attributes.v,
       CNT(pc_span_event_t, attributes.n), &KEYVALUE),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_span_event_t,
       dropped_attributes_count, NO_AUX, NULL));

MSG(SPAN_LINK, pc_span_link_t,
    F2("traceId", "trace_id", K_TRACE_ID, pc_span_link_t, trace_id, NO_AUX, NULL),
    F2("spanId", "span_id", K_SPAN_ID, pc_span_link_t, span_id, NO_AUX, NULL),
    F2("traceState", "trace_state", K_STR, pc_span_link_t, trace_state, NO_AUX, NULL),
    F1("attributes", K_REP_MSG, pc_span_link_t, attributes.v,
       CNT(pc_span_link_t, attributes.n), &KEYVALUE),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_span_link_t,
       dropped_attributes_count, NO_AUX, NULL),
    F1("flags", K_U32, pc_span_link_t, flags, NO_AUX, NULL));

MSG(STATUS, pc_span_t,
    F1("message", K_STR, pc_span_t, status_message, NO_AUX, NULL),
    F1("code", K_I32, pc_span_t, status_code, NO_AUX, NULL));

MSG(SPAN, pc_span_t,
    F2("traceId", "trace_id", K_TRACE_ID, pc_span_t, trace_id, NO_AUX, NULL),
    F2("spanId", "span_id", K_SPAN_ID, pc_span_t, span_id, NO_AUX, NULL),
    F2("traceState", "trace_state", K_STR, pc_span_t, trace_state, NO_AUX, NULL),
    F2("parentSpanId", "parent_span_id", K_SPAN_ID, pc_span_t, parent_span_id, NO_AUX, NULL),
    F1("flags", K_U32, pc_span_t, flags, NO_AUX, NULL),
    F1("name", K_STR, pc_span_t, name, NO_AUX, NULL),
    F1("kind", K_I32, pc_span_t, kind, NO_AUX, NULL),
    F2("startTimeUnixNano", "start_time_unix_nano", K_U64, pc_span_t, start_time_unix_nano,
       NO_AUX, NULL),
    F2("endTimeUnixNano", "end_time_unix_nano", K_U64, pc_span_t, end_time_unix_nano, NO_AUX,
       NULL),
    F1("attributes", K_REP_MSG, pc_span_t, attributes.v, CNT(pc_span_t, attributes.n),
       &KEYVALUE),
    F2("droppedAttributesCount", "dropped_attributes_count", K_U32, pc_span_t,
       dropped_attributes_count, NO_AUX, NULL),
    F1("events", K_REP_MSG, pc_span_t, events, CNT(pc_span_t, n_events), &SPAN_EVENT),
    F2("droppedEventsCount", "dropped_events_count", K_U32, pc_span_t, dropped_events_count,
       NO_AUX, NULL),
    F1("links", K_REP_MSG, pc_span_t, links, CNT(pc_span_t, n_links), &SPAN_LINK),
    F2("droppedLinksCount", "dropped_links_count", K_U32, pc_span_t, dropped_links_count,
       NO_AUX, NULL),
    /* The Status message's fields live in the span: its "struct" is the
     * span itself, at offset 0. */
    {{"status", NULL}, {6, 0}, K_MSG, 0, HAS(pc_span_t, has_status), &STATUS});

MSG(SCOPE_SPANS, pc_scope_spans_t,
    F1("scope", K_MSG, pc_scope_spans_t, scope, HAS(pc_scope_spans_t, has_scope), &SCOPE),
    F1("spans", K_REP_MSG, pc_scope_spans_t, spans, CNT(pc_scope_spans_t, n_spans), &SPAN),
    F2("schemaUrl", "schema_url", K_STR, pc_scope_spans_t, schema_url, NO_AUX, NULL));

MSG(RESOURCE_SPANS, pc_resource_spans_t,
    F1("resource", K_MSG, pc_resource_spans_t, resource, HAS(pc_resource_spans_t, has_resource),
       &RESOURCE),
    F2("scopeSpans", "scope_spans", K_REP_MSG, pc_resource_spans_t, scopes,
       CNT(pc_resource_spans_t, n_scopes), &SCOPE_SPANS),
    F2("schemaUrl", "schema_url", K_STR, pc_resource_spans_t, schema_url, NO_AUX, NULL));

MSG(TRACES_REQUEST, pc_traces_t,
    F2("resourceSpans", "resource_spans", K_REP_MSG, pc_traces_t, resources,
       CNT(pc_traces_t, n_resources), &RESOURCE_SPANS));

/* Array elements are decoded into this before they go on the scratch stack. */
typedef union {
  pc_resource_profiles_t rp;
  pc_scope_profiles_t sp;
  pc_profile_t pr;
  pc_sample_t sa;
  pc_keyvalue_t kv;
  pc_entity_ref_t er;
  pc_anyvalue_t av;
  pc_mapping_t ma;
  pc_location_t lo;
  pc_line_t li;
  pc_function_t fn;
  pc_link_t lk;
  pc_attr_t at;
  pc_stack_t st;
  pc_resource_spans_t rs;
  pc_scope_spans_t ss;
  pc_span_t sn;
} elem_t;

/* ---- decoder state ------------------------------------------------------------ */

typedef struct {
  const char *name; /* the key as matched: a field table's JSON or proto name */
  uint32_t len;
  int64_t index; /* -1: not an element of a repeated field */
} frame_t;

struct dec {
  const uint8_t *p, *end, *base;
  pc_arena_t *arena;
  pc_err_t *err;
  int depth;    /* arrays and objects open */
  int av_depth; /* AnyValues being decoded, outermost included */
  int npath;    /* frames in path (only the first MAX_PATH are kept) */
  frame_t path[MAX_PATH];
  /* The scratch stack: elements of the open arrays, innermost on top. cap
   * bytes are charged to the arena. */
  uint8_t *stk;
  size_t top, cap;
  /* Unknown keys of the top-level object (views into the input). */
  unsigned n_unknown, n_unknown_kept;
  pc_str_t unknown[MAX_UNKNOWN];
};

static inline void push(dec_t *d, const char *name, uint32_t len) {
  if (d->npath < MAX_PATH) d->path[d->npath] = (frame_t){name, len, -1};
  d->npath++;
}

static inline void pop(dec_t *d) { d->npath--; }

static inline void set_index(dec_t *d, int64_t i) {
  if (d->npath <= MAX_PATH) d->path[d->npath - 1].index = i;
}

/* ---- errors ------------------------------------------------------------------- */

/* The JSON path of the value being decoded: "dictionary.stringTable[3]". */
static size_t format_path(const dec_t *d, char *out, size_t cap) {
  size_t n = 0;
  int frames = d->npath < MAX_PATH ? d->npath : MAX_PATH;
  out[0] = '\0';
  for (int i = 0; i < frames && n + 1 < cap; i++) {
    const frame_t *f = &d->path[i];
    int w = f->index >= 0
                ? snprintf(out + n, cap - n, "%s%.*s[%lld]", i ? "." : "", (int)f->len, f->name,
                           (long long)f->index)
                : snprintf(out + n, cap - n, "%s%.*s", i ? "." : "", (int)f->len, f->name);
    if (w < 0) break;
    n += (size_t)w;
  }
  return n < cap ? n : cap - 1;
}

/* "<path>: <message>". A path too long for pc_err_t (deeply nested
 * AnyValues) keeps its start and its end, so the reason still shows. */
__attribute__((format(printf, 3, 4), noinline, cold))
static int fail(dec_t *d, int code, const char *fmt, ...) {
  char msg[256], path[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t plen = format_path(d, path, sizeof path);
  if (plen == 0) return pc_err_set(d->err, code, "top level: %s", msg);
  if (plen <= 160) return pc_err_set(d->err, code, "%s: %s", path, msg);
  return pc_err_set(d->err, code, "%.60s...%s: %s", path, path + plen - 97, msg);
}

__attribute__((noinline, cold)) static int oom(dec_t *d, size_t more) {
  size_t limit = pc_arena_limit(d->arena), used = pc_arena_used(d->arena);
  if (limit && more > limit - (used < limit ? used : limit))
    return fail(d, PC_ENOMEM,
                "out of memory: the decoded request needs more than the %zu bytes allowed "
                "(%zu in use)", limit, used);
  return fail(d, PC_ENOMEM, "out of memory (request arena holds %zu bytes)", used);
}

/* A syntax error as jansson words it: "line L, column C: msg near 'text'",
 * where at is where reading stopped and [tok, at) the token read so far. The
 * column counts characters, not bytes. An empty token means the end of the
 * input (" near end of file"), except for bytes that are not UTF-8, which
 * have no context (eof_context false). */
__attribute__((format(printf, 5, 6), noinline, cold))
static int syntax(dec_t *d, const uint8_t *tok, const uint8_t *at, bool eof_context,
                  const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int line = 1, col = 0;
  for (const uint8_t *q = d->base; q < at; q++) {
    if (*q == '\n') line++, col = 0;
    else if ((*q & 0xc0) != 0x80) col++;
  }
  size_t n = (size_t)(at - tok);
  if (n > 0 && tok[0] == '\0') n = 0; /* jansson's text is a C string */
  if (n > 0 && n <= 20)
    pc_err_set(d->err, PC_EDECODE, "line %d, column %d: %s near '%.*s'", line, col, msg, (int)n,
               (const char *)tok);
  else if (n == 0 && eof_context)
    pc_err_set(d->err, PC_EDECODE, "line %d, column %d: %s near end of file", line, col, msg);
  else
    pc_err_set(d->err, PC_EDECODE, "line %d, column %d: %s", line, col, msg);
  if (d->err) {
    d->err->line = line;
    d->err->col = col;
  }
  return PC_EDECODE;
}

/* ---- lexing -------------------------------------------------------------------- */

static inline bool is_digit(int c) { return (unsigned)(c - '0') < 10; }
static inline bool is_alpha(int c) { return (unsigned)((c | 0x20) - 'a') < 26; }

static inline int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The byte at d->p, or -1 at the end of the input. */
static inline int cur(const dec_t *d) { return d->p < d->end ? *d->p : -1; }

/* Skip blanks; the next byte, or -1 at the end of the input. */
static inline int peek(dec_t *d) {
  const uint8_t *p = d->p, *end = d->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  d->p = p;
  return p < end ? *p : -1;
}

/* The number at p in jansson's grammar: 1 an integer, 2 with a fraction or
 * an exponent, 0 not a number; *stop is its end, or where jansson stops
 * reading a bad one (what it quotes in the error). */
static int lex_num(const uint8_t *p, const uint8_t *end, const uint8_t **stop) {
  const uint8_t *q = p;
  int kind = 1;
  if (*q == '-') q++;
  if (q < end && *q == '0') {
    q++;
    if (q < end && is_digit(*q)) goto bad;
  } else if (q < end && is_digit(*q)) {
    while (q < end && is_digit(*q)) q++;
  } else {
    goto bad;
  }
  if (q < end && *q == '.') {
    q++;
    if (q == end || !is_digit(*q)) goto bad;
    while (q < end && is_digit(*q)) q++;
    kind = 2;
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < end && (*q == '+' || *q == '-')) q++;
    if (q == end || !is_digit(*q)) goto bad;
    while (q < end && is_digit(*q)) q++;
    kind = 2;
  }
  *stop = q;
  return kind;
bad:
  *stop = q;
  return 0;
}

/* The end of the run of letters at p (jansson's identifiers). */
static const uint8_t *lex_word(const uint8_t *p, const uint8_t *end) {
  while (p < end && is_alpha(*p)) p++;
  return p;
}

/* jansson reads the character after a number or a word to see that it
 * ends there: a byte that is not UTF-8 is an error then, with the token
 * [tok, stop) as context. */
static int bad_stop(dec_t *d, const uint8_t *tok, const uint8_t *stop) {
  if (stop == d->end || *stop < 0x80 || pc__utf8_seq(stop, d->end)) return 0;
  return syntax(d, tok, stop, false, "unable to decode byte 0x%x", *stop);
}

/* The value of the 4 hex digits at p (checked). */
static uint32_t hex4(const uint8_t *p) {
  return (uint32_t)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 | hex_digit(p[2]) << 4 |
                    hex_digit(p[3]));
}

/* The byte that ends a run of plain string bytes: '"', '\\', a control
 * character or the start of a multi-byte character. */
static inline bool str_special(uint8_t c) { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80; }

/* The string at d->p (its opening quote): checked (escapes, \u surrogate
 * pairs, control characters, UTF-8) and skipped. *raw is what is between the
 * quotes, *esc whether it holds escapes (then see unescape). */
static int lex_string(dec_t *d, pc_str_t *raw, bool *esc) {
  const uint8_t *tok = d->p, *p = tok + 1, *end = d->end;
  bool escapes = false;
  char bad_unicode[40] = ""; /* jansson checks \u pairs once the string is read */
  for (;;) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20); /* signed: also catches >= 0x80 */
    while (end - p >= 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
      __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
      int mask = _mm_movemask_epi8(hit);
      if (mask) {
        p += __builtin_ctz((unsigned)mask);
        goto special;
      }
      p += 16;
    }
#endif
    while (p < end && !str_special(*p)) p++;
    if (p == end) return syntax(d, tok, end, true, "premature end of input");
#if defined(__SSE2__)
  special:
#endif
    if (*p == '"') break;
    if (*p == '\\') {
      escapes = true;
      const uint8_t *q = p + 1;
      if (q == end) return syntax(d, tok, end, true, "invalid escape");
      if (*q == 'u') {
        for (int i = 1; i <= 4; i++) {
          if (q + i == end) return syntax(d, tok, end, true, "invalid escape");
          if (hex_digit(q[i]) < 0) {
            size_t n = q[i] >= 0x80 ? pc__utf8_seq(q + i, end) : 1;
            if (n == 0) return syntax(d, tok, q + i, false, "unable to decode byte 0x%x", q[i]);
            return syntax(d, tok, q + i + n, true, "invalid escape");
          }
        }
        uint32_t cp = hex4(q + 1);
        p = q + 5;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex_digit(p[2]) >= 0 &&
              hex_digit(p[3]) >= 0 && hex_digit(p[4]) >= 0 && hex_digit(p[5]) >= 0) {
            uint32_t lo = hex4(p + 2);
            if ((lo < 0xdc00 || lo > 0xdfff) && !bad_unicode[0])
              snprintf(bad_unicode, sizeof bad_unicode, "invalid Unicode '\\u%04X\\u%04X'",
                       (unsigned)cp, (unsigned)lo);
            p += 6;
          } else if (!bad_unicode[0]) {
            snprintf(bad_unicode, sizeof bad_unicode, "invalid Unicode '\\u%04X'", (unsigned)cp);
          }
        } else if (cp >= 0xdc00 && cp <= 0xdfff && !bad_unicode[0]) {
          snprintf(bad_unicode, sizeof bad_unicode, "invalid Unicode '\\u%04X'", (unsigned)cp);
        }
        continue;
      }
      if (*q == '"' || *q == '\\' || *q == '/' || *q == 'b' || *q == 'f' || *q == 'n' ||
          *q == 'r' || *q == 't') {
        p = q + 1;
        continue;
      }
      size_t n = *q >= 0x80 ? pc__utf8_seq(q, end) : 1;
      if (n == 0) return syntax(d, tok, q, false, "unable to decode byte 0x%x", *q);
      return syntax(d, tok, q + n, true, "invalid escape");
    }
    if (*p < 0x20) {
      if (*p == '\n') return syntax(d, tok, p, true, "unexpected newline");
      return syntax(d, tok, p, true, "control character 0x%x", *p);
    }
    size_t n = pc__utf8_seq(p, end);
    if (n == 0) return syntax(d, tok, p, false, "unable to decode byte 0x%x", *p);
    p += n;
  }
  d->p = p + 1;
  if (bad_unicode[0]) return syntax(d, tok, d->p, true, "%s", bad_unicode);
  *raw = (pc_str_t){tok + 1, (size_t)(p - tok - 1)};
  *esc = escapes;
  return 0;
}

/* Write the UTF-8 of code point cp to out; returns its length. */
static size_t put_utf8(uint32_t cp, uint8_t *out) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xc0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xe0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (uint8_t)(0xf0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (uint8_t)(0x80 | (cp & 0x3f));
  return 4;
}

/* Unescape the checked string raw into out, writing at most cap bytes; the
 * result is never longer than raw. Returns the length written. */
static size_t unescape(pc_str_t raw, uint8_t *out, size_t cap) {
  const uint8_t *p = raw.p, *end = raw.p + raw.n;
  size_t o = 0;
  while (p < end && o < cap) {
    if (*p != '\\') {
      out[o++] = *p++;
      continue;
    }
    uint8_t c = p[1], tmp[4];
    p += 2;
    switch (c) {
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
      uint32_t cp = hex4(p);
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) { /* lex_string checked the pair */
        cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 2) - 0xdc00);
        p += 6;
      }
      size_t n = put_utf8(cp, tmp);
      for (size_t i = 0; i < n && o < cap; i++) out[o++] = tmp[i];
      continue;
    }
    default: break; /* '"', '\\', '/' stand for themselves */
    }
    out[o++] = c;
  }
  return o;
}

/* ---- the token at hand, for errors ------------------------------------------------ */

/* The end of the token at p (what jansson would quote), or p at the end of
 * the input. A string is lexed in full, and an error in it (*rc) is the one
 * to report. */
static const uint8_t *token_end(dec_t *d, const uint8_t *p, int *rc) {
  const uint8_t *end = d->end, *q;
  *rc = 0;
  if (p == end) return p;
  switch (*p) {
  case '{': case '}': case '[': case ']': case ':': case ',': return p + 1;
  case '"': {
    const uint8_t *save = d->p;
    pc_str_t raw;
    bool esc;
    d->p = p;
    *rc = lex_string(d, &raw, &esc);
    q = d->p;
    d->p = save;
    return q;
  }
  default: break;
  }
  if (*p == '-' || is_digit(*p) || is_alpha(*p)) {
    if (is_alpha(*p)) q = lex_word(p, end);
    else lex_num(p, end, &q);
    *rc = bad_stop(d, p, q);
    return q;
  }
  if (*p < 0x80) return p + 1;
  size_t n = pc__utf8_seq(p, end);
  if (n == 0) *rc = syntax(d, p, p, false, "unable to decode byte 0x%x", *p);
  return p + n;
}

/* "<msg> near '<the token at d->p>'". */
__attribute__((noinline, cold)) static int unexpected(dec_t *d, const char *msg) {
  int rc;
  const uint8_t *q = token_end(d, d->p, &rc);
  return rc ? rc : syntax(d, d->p, q, true, "%s", msg);
}

/* The token at d->p cannot start a value. */
__attribute__((noinline, cold)) static int bad_value(dec_t *d) {
  const uint8_t *p = d->p;
  bool punct = p == d->end || *p == '}' || *p == ']' || *p == ':' || *p == ',';
  return unexpected(d, punct ? "unexpected token" : "invalid token");
}

/* The literal (true, false, null) at d->p: 1, 0 or -1 (null) in *val. */
static int lex_literal(dec_t *d, int *val) {
  const uint8_t *p = d->p, *q = lex_word(p, d->end);
  size_t n = (size_t)(q - p);
  int rc = bad_stop(d, p, q);
  if (rc) return rc;
  if (n == 4 && memcmp(p, "true", 4) == 0) *val = 1;
  else if (n == 5 && memcmp(p, "false", 5) == 0) *val = 0;
  else if (n == 4 && memcmp(p, "null", 4) == 0) *val = -1;
  else return bad_value(d);
  d->p = q;
  return 0;
}

/* Consume a null at d->p (a field set to null is not set). */
static inline bool take_null(dec_t *d) {
  const uint8_t *p = d->p;
  if (d->end - p < 4 || memcmp(p, "null", 4) != 0 ||
      (d->end - p > 4 && (is_alpha(p[4]) || (p[4] >= 0x80 && !pc__utf8_seq(p + 4, d->end)))))
    return false; /* the reader of the field says what is wrong */
  d->p = p + 4;
  return true;
}

/* A short rendering of the value at d->p for error messages: a string is
 * cut at a UTF-8 character boundary, so the message stays valid UTF-8. A
 * value that is not valid JSON gives its syntax error instead. */
static int describe(dec_t *d, char *buf, size_t n) {
  const uint8_t *p = d->p, *q;
  int c = p < d->end ? *p : -1;
  if (c == '{') return snprintf(buf, n, "an object"), 0;
  if (c == '[') return snprintf(buf, n, "an array"), 0;
  if (c == '"') {
    pc_str_t raw;
    bool esc;
    int rc = lex_string(d, &raw, &esc);
    d->p = p;
    if (rc) return rc;
    uint8_t s[48];
    size_t len = esc ? unescape(raw, s, sizeof s) : (raw.n < sizeof s ? raw.n : sizeof s);
    if (!esc) memcpy(s, raw.p, len);
    size_t cut = len;
    if (cut > 40) {
      cut = 40;
      while (cut > 0 && (s[cut] & 0xc0) == 0x80) cut--;
    }
    snprintf(buf, n, "\"%.*s%s\"", (int)cut, (const char *)s, cut < len ? "..." : "");
    return 0;
  }
  if (c == '-' || is_digit(c)) {
    int kind = lex_num(p, d->end, &q), rc = bad_stop(d, p, q);
    if (rc) return rc;
    if (!kind) return bad_value(d);
    size_t len = (size_t)(q - p);
    snprintf(buf, n, "%.*s%s", (int)(len > 40 ? 40 : len), (const char *)p, len > 40 ? "..." : "");
    return 0;
  }
  int val;
  int rc = lex_literal(d, &val);
  d->p = p;
  if (rc) return rc;
  snprintf(buf, n, "%s", val > 0 ? "true" : val == 0 ? "false" : "null");
  return 0;
}

/* "<path>: expected <what>, got <the value at d->p>" */
__attribute__((noinline, cold)) static int type_error(dec_t *d, const char *what) {
  char got[64];
  int rc = describe(d, got, sizeof got);
  return rc ? rc : fail(d, PC_EDECODE, "expected %s, got %s", what, got);
}

/* ---- structure ---------------------------------------------------------------------- */

/* Enter the object or array at d->p. */
static inline int open_container(dec_t *d) {
  if (d->depth >= MAX_DEPTH) return unexpected(d, "maximum parsing depth reached");
  d->depth++;
  d->p++;
  return 0;
}

/* Past the separator to the next item of the array or object entered
 * (*first: none read yet; close: its closing bracket): 1 with d->p at the
 * item, 0 at the end of the container (consumed), or an error. */
static inline int next_item(dec_t *d, bool *first, int close) {
  int c = peek(d);
  if (*first) {
    *first = false;
    if (c != close) return 1;
  } else if (c == ',') {
    d->p++;
    peek(d);
    return 1;
  } else if (c != close) {
    return unexpected(d, close == ']' ? "']' expected" : "'}' expected");
  }
  d->p++;
  d->depth--;
  return 0;
}

/* The next element of the array entered: 1 with d->p at it, 0 at the end
 * (consumed), or an error. */
static inline int next_element(dec_t *d, bool *first) {
  int rc = next_item(d, first, ']');
  if (rc > 0 && d->p == d->end) return unexpected(d, "']' expected");
  return rc;
}

/* A key string then ':' (inside a skipped object). */
static int skip_key(dec_t *d) {
  pc_str_t raw;
  bool esc;
  if (peek(d) != '"') return unexpected(d, "string or '}' expected");
  int rc = lex_string(d, &raw, &esc);
  if (rc) return rc;
  if (peek(d) != ':') return unexpected(d, "':' expected");
  d->p++;
  peek(d);
  return 0;
}

/* Check and skip the value at d->p, whatever it holds, with no memory: the
 * kind (object or array) of each open level is one bit of a local stack. */
static int skip_value(dec_t *d) {
  uint64_t is_obj[MAX_DEPTH / 64];
  int base = d->depth, rc, val;
  for (;;) {
    int c = cur(d);
    if (d->depth >= MAX_DEPTH) return unexpected(d, "maximum parsing depth reached");
    if (c == '{' || c == '[') {
      unsigned lvl = (unsigned)(d->depth - base);
      uint64_t bit = 1ULL << (lvl % 64);
      is_obj[lvl / 64] = c == '{' ? is_obj[lvl / 64] | bit : is_obj[lvl / 64] & ~bit;
      d->p++;
      d->depth++;
      int next = peek(d);
      if (next == (c == '{' ? '}' : ']')) {
        d->p++;
        d->depth--;
      } else if (c == '{') {
        if ((rc = skip_key(d))) return rc;
        continue;
      } else {
        if (next < 0) return unexpected(d, "']' expected");
        continue;
      }
    } else if (c == '"') {
      pc_str_t raw;
      bool esc;
      if ((rc = lex_string(d, &raw, &esc))) return rc;
    } else if (c == '-' || is_digit(c)) {
      const uint8_t *stop;
      int kind = lex_num(d->p, d->end, &stop);
      if ((rc = bad_stop(d, d->p, stop))) return rc;
      if (!kind) return syntax(d, d->p, stop, true, "invalid token");
      d->p = stop;
    } else if ((rc = lex_literal(d, &val))) {
      return rc;
    }
    /* After a value: close what ends here, then on to the next value. */
    for (;;) {
      if (d->depth == base) return 0;
      unsigned lvl = (unsigned)(d->depth - base - 1);
      bool obj = is_obj[lvl / 64] >> (lvl % 64) & 1;
      c = peek(d);
      if (c == ',') {
        d->p++;
        if (obj) {
          if ((rc = skip_key(d))) return rc;
        } else if (peek(d) < 0) {
          return unexpected(d, "']' expected");
        }
        break;
      }
      if (c != (obj ? '}' : ']')) return unexpected(d, obj ? "'}' expected" : "']' expected");
      d->p++;
      d->depth--;
    }
  }
}

/* ---- the scratch stack ---------------------------------------------------------- */

/* Make room for n more bytes on the scratch stack, charging the growth to
 * the arena first. */
__attribute__((noinline)) static int grow(dec_t *d, size_t n) {
  if (n > SIZE_MAX / 4 - d->top) return oom(d, n);
  size_t want = d->top + n, cap = d->cap ? d->cap : SCRATCH_MIN;
  while (cap < want) cap *= 2;
  if (pc_arena_charge(d->arena, cap - d->cap)) {
    /* Near the limit: take the rest of the allowance at once. Growing by
     * only what each push needs made every later push a realloc, and a
     * long array near the limit cost seconds of memmove. */
    size_t limit = pc_arena_limit(d->arena), used = pc_arena_used(d->arena);
    size_t room = limit > used ? (limit - used) & ~(size_t)4095 : 0;
    if (room < want - d->cap) return oom(d, want - d->cap);
    cap = d->cap + room;
    if (pc_arena_charge(d->arena, cap - d->cap)) return oom(d, cap - d->cap);
  }
  uint8_t *p = realloc(d->stk, cap);
  if (!p) {
    pc_arena_uncharge(d->arena, cap - d->cap);
    return oom(d, cap - d->cap);
  }
  d->stk = p;
  d->cap = cap;
  return 0;
}

static inline int reserve(dec_t *d, size_t n) {
  return d->cap - d->top >= n ? 0 : grow(d, n);
}

/* Start an array at 8-byte alignment, holding first the n0 elements of size
 * bytes that an earlier occurrence of the same field decoded (a repeated
 * field met twice appends). Returns the mark array_end restores. */
static int array_begin(dec_t *d, const void *old, uint32_t n0, size_t size, size_t *mark,
                       size_t *base) {
  *mark = d->top;
  d->top = (d->top + 7) & ~(size_t)7;
  *base = d->top;
  if (n0 == 0) return 0;
  int rc = reserve(d, (size_t)n0 * size);
  if (rc) return rc;
  memcpy(d->stk + d->top, old, (size_t)n0 * size);
  d->top += (size_t)n0 * size;
  return 0;
}

/* Move the array on top of the scratch stack into the arena. */
static int array_end(dec_t *d, size_t mark, size_t base, size_t size, void *ptr_field,
                     uint32_t *count) {
  size_t bytes = d->top - base;
  void *arr = NULL;
  if (bytes) {
    if (bytes / size > UINT32_MAX)
      return fail(d, PC_EDECODE, "%zu elements are more than a field can hold", bytes / size);
    if (!(arr = pc_arena_alloc(d->arena, bytes))) return oom(d, bytes);
    memcpy(arr, d->stk + base, bytes);
  }
  memcpy(ptr_field, &arr, sizeof arr);
  *count = (uint32_t)(bytes / size);
  d->top = mark;
  return 0;
}

/* ---- scalars --------------------------------------------------------------------- */

enum { INT_OK, INT_NOT_INTEGER, INT_TOO_BIG };

/* Decimal digits [p, end) into *mag: INT_OK, INT_TOO_BIG past 2^64-1, or
 * INT_NOT_INTEGER for anything else (no digits included). */
static int digits(const uint8_t *p, const uint8_t *end, uint64_t *mag) {
  uint64_t m = 0;
  int st = p < end ? INT_OK : INT_NOT_INTEGER;
  for (; p < end; p++) {
    unsigned dg = (unsigned)(*p - '0');
    if (dg > 9) return INT_NOT_INTEGER;
    if (m > (UINT64_MAX - dg) / 10) st = INT_TOO_BIG;
    else m = m * 10 + dg;
  }
  *mag = m;
  return st;
}

/* A number's text as a double (strtod wants it NUL-terminated). */
static int num_to_double(dec_t *d, const uint8_t *p, const uint8_t *q, double *out) {
  size_t n = (size_t)(q - p);
  char small[64], *s = small;
  if (n >= sizeof small) {
    int rc = reserve(d, n + 1);
    if (rc) return rc;
    s = (char *)d->stk + d->top;
  }
  memcpy(s, p, n);
  s[n] = '\0';
  *out = strtod(s, NULL);
  return 0;
}

/* Split the integer at d->p - a JSON integer, an integral JSON real or a
 * decimal string ("-12") - into sign and magnitude, and move past it. A
 * value that is not one (INT_NOT_INTEGER, INT_TOO_BIG) is left at d->p for
 * the error to show; < 0 is a syntax error. */
static int int_parts_slow(dec_t *d, bool *neg, uint64_t *mag) {
  const uint8_t *p = d->p, *end = d->end, *q;
  if (p < end && *p == '"') {
    q = p + 1;
    *neg = q < end && *q == '-';
    q += *neg;
    const uint8_t *s = q;
    while (q < end && is_digit(*q)) q++;
    if (q < end && *q == '"' && q > s) { /* plain digits: long ones, or near the end */
      int st = digits(s, q, mag);
      if (st == INT_OK) d->p = q + 1;
      return st;
    }
    pc_str_t raw;
    bool esc;
    int rc = lex_string(d, &raw, &esc);
    if (rc) return rc;
    d->p = p;
    if (esc) { /* "\u0031": unescape on top of the scratch stack */
      if ((rc = reserve(d, raw.n))) return rc;
      raw.n = unescape(raw, d->stk + d->top, raw.n);
      raw.p = d->stk + d->top;
    }
    *neg = raw.n > 0 && raw.p[0] == '-';
    int st = digits(raw.p + *neg, raw.p + raw.n, mag);
    if (st == INT_OK) lex_string(d, &raw, &esc);
    return st;
  }
  if (p < end && (*p == '-' || is_digit(*p))) {
    int kind = lex_num(p, end, &q), rc = bad_stop(d, p, q);
    if (rc) return rc;
    if (kind == 0) return syntax(d, p, q, true, "invalid token");
    if (kind == 1) {
      *neg = *p == '-';
      int st = digits(p + *neg, q, mag);
      if (st == INT_OK) d->p = q;
      return st;
    }
    double x;
    rc = num_to_double(d, p, q, &x);
    if (rc) return rc;
    if (!isfinite(x) || x != trunc(x)) return isfinite(x) ? INT_NOT_INTEGER : INT_TOO_BIG;
    if (fabs(x) >= 18446744073709551616.0) return INT_TOO_BIG;
    *neg = x < 0;
    *mag = (uint64_t)fabs(x);
    d->p = q;
    return INT_OK;
  }
  return INT_NOT_INTEGER;
}

/* int_parts: the common forms - up to 19 digits, as a JSON integer or in a
 * string, so no overflow is possible - in one scan; the rest by the above. */
static inline int int_parts(dec_t *d, bool *neg, uint64_t *mag) {
  const uint8_t *p = d->p, *end = d->end;
  if (end - p < 22) return int_parts_slow(d, neg, mag);
  bool quoted = *p == '"';
  const uint8_t *q = p + quoted;
  bool minus = *q == '-';
  q += minus;
  const uint8_t *s = q;
  uint64_t m = 0;
  for (unsigned dg; q - s < 19 && (dg = (unsigned)(*q - '0')) < 10; q++) m = m * 10 + dg;
  if (q == s || is_digit(*q) || *q >= 0x80) return int_parts_slow(d, neg, mag);
  if (quoted) {
    if (*q != '"') return int_parts_slow(d, neg, mag);
    q++;
  } else if (*q == '.' || *q == 'e' || *q == 'E' || (*s == '0' && q - s > 1)) {
    return int_parts_slow(d, neg, mag);
  }
  d->p = q;
  *neg = minus;
  *mag = m;
  return INT_OK;
}

__attribute__((noinline, cold)) static int int_error(dec_t *d, int st, const char *kind) {
  if (st < 0) return st;
  if (st == INT_NOT_INTEGER) return type_error(d, "an integer");
  char got[64];
  int rc = describe(d, got, sizeof got);
  return rc ? rc : fail(d, PC_EDECODE, "value %s is out of range for %s", got, kind);
}

/* A signed integer in [min, max]; kind names the type for errors. */
static inline int rd_signed(dec_t *d, const char *kind, int64_t min, int64_t max, int64_t *out) {
  const uint8_t *at = d->p;
  bool neg;
  uint64_t mag;
  int st = int_parts(d, &neg, &mag);
  if (st == INT_OK) {
    uint64_t limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    if (mag > limit) {
      d->p = at;
      st = INT_TOO_BIG;
    }
  }
  if (st != INT_OK) return int_error(d, st, kind);
  /* -mag without overflow, INT64_MIN included */
  *out = neg && mag ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
  return 0;
}

/* An unsigned integer in [0, max] ("-0" is 0). */
static inline int rd_unsigned(dec_t *d, const char *kind, uint64_t max, uint64_t *out) {
  const uint8_t *at = d->p;
  bool neg;
  uint64_t mag;
  int st = int_parts(d, &neg, &mag);
  if (st == INT_OK && (mag > max || (neg && mag != 0))) {
    d->p = at;
    st = INT_TOO_BIG;
  }
  if (st != INT_OK) return int_error(d, st, kind);
  *out = mag;
  return 0;
}

static inline int rd_i32(dec_t *d, int32_t *out) {
  int64_t x = 0;
  int rc = rd_signed(d, "int32", INT32_MIN, INT32_MAX, &x);
  if (!rc) *out = (int32_t)x;
  return rc;
}

/* A double: any JSON number, or "NaN", "Infinity", "-Infinity". */
static int rd_double(dec_t *d, double *out) {
  const uint8_t *p = d->p, *q;
  int c = p < d->end ? *p : -1;
  if (c == '-' || is_digit(c)) {
    int kind = lex_num(p, d->end, &q), rc = bad_stop(d, p, q);
    if (rc) return rc;
    if (!kind) return syntax(d, p, q, true, "invalid token");
    rc = num_to_double(d, p, q, out);
    if (rc) return rc;
    if (!isfinite(*out)) {
      char got[64];
      describe(d, got, sizeof got);
      return fail(d, PC_EDECODE, "value %s is out of range for double", got);
    }
    d->p = q;
    return 0;
  }
  if (c == '"') {
    static const struct {
      const char *s;
      double v;
    } words[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    pc_str_t raw;
    bool esc;
    int rc = lex_string(d, &raw, &esc);
    if (rc) return rc;
    uint8_t s[16];
    size_t n = esc ? unescape(raw, s, sizeof s) : raw.n;
    const uint8_t *t = esc ? s : raw.p;
    for (size_t i = 0; i < 3; i++) {
      if (n == strlen(words[i].s) && memcmp(t, words[i].s, n) == 0) {
        *out = words[i].v;
        return 0;
      }
    }
    d->p = p;
  }
  return type_error(d, "a number");
}

static int rd_bool(dec_t *d, bool *out) {
  int val;
  if (cur(d) == 't' || cur(d) == 'f') {
    int rc = lex_literal(d, &val);
    if (rc) return rc;
    *out = val == 1;
    return 0;
  }
  return type_error(d, "a boolean");
}

/* The string at d->p, checked; its bytes in *raw (escapes resolved, on top
 * of the scratch stack, when it has any: valid until the next push). */
static int rd_text(dec_t *d, const char *what, pc_str_t *raw) {
  if (cur(d) != '"') return type_error(d, what);
  bool esc;
  int rc = lex_string(d, raw, &esc);
  if (rc || !esc) return rc;
  if ((rc = reserve(d, raw->n))) return rc;
  raw->n = unescape(*raw, d->stk + d->top, raw->n);
  raw->p = d->stk + d->top;
  return 0;
}

/* A string, copied into the arena. */
static int rd_string(dec_t *d, pc_str_t *out) {
  pc_str_t s;
  int rc = rd_text(d, "a string", &s);
  if (rc) return rc;
  if (s.n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *p = pc_arena_alloc(d->arena, s.n);
  if (!p) return oom(d, s.n);
  memcpy(p, s.p, s.n);
  *out = (pc_str_t){p, s.n};
  return 0;
}

/* ---- bytes: base64 and hex ---------------------------------------------------------- */

static bool is_hex(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (hex_digit(s[i]) < 0) return false;
  return true;
}

/* Decode n hex digits (n even, all checked) into the arena. */
static int hex_to_arena(dec_t *d, const uint8_t *s, size_t n, pc_str_t *out) {
  if (n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *p = pc_arena_alloc(d->arena, n / 2);
  if (!p) return oom(d, n / 2);
  for (size_t i = 0; i < n / 2; i++)
    p[i] = (uint8_t)(hex_digit(s[2 * i]) << 4 | hex_digit(s[2 * i + 1]));
  *out = (pc_str_t){p, n / 2};
  return 0;
}

static int b64_to_arena(dec_t *d, const uint8_t *at, pc_str_t s, pc_str_t *out) {
  if (s.n == 0) {
    *out = (pc_str_t){0};
    return 0;
  }
  uint8_t *p = pc_arena_alloc(d->arena, s.n / 4 * 3 + 3);
  if (!p) return oom(d, s.n / 4 * 3 + 3);
  long len = pc_base64_decode(s.p, s.n, p);
  if (len < 0) {
    d->p = at;
    return type_error(d, "base64");
  }
  *out = (pc_str_t){len ? p : NULL, (size_t)len};
  return 0;
}

static int rd_base64(dec_t *d, pc_str_t *out) {
  const uint8_t *at = d->p;
  pc_str_t s;
  int rc = rd_text(d, "a base64 string", &s);
  return rc ? rc : b64_to_arena(d, at, s, out);
}

/* A Link id: hex of exactly size bytes (either case), or "". */
static int rd_hex_id(dec_t *d, size_t size, pc_str_t *out) {
  const uint8_t *at = d->p;
  pc_str_t s;
  int rc = rd_text(d, "a hex string", &s);
  if (rc) return rc;
  if (s.n != 0 && (s.n != 2 * size || !is_hex(s.p, s.n))) {
    char what[48];
    snprintf(what, sizeof what, "%zu hex digits or \"\"", 2 * size);
    d->p = at;
    return type_error(d, what);
  }
  return hex_to_arena(d, s.p, s.n, out);
}

/* profileId is base64 like other bytes, but the Collector writes it as 32
 * hex digits; 32 base64 digits would be 24 bytes, not a profile id. */
static int rd_profile_id(dec_t *d, pc_str_t *out) {
  const uint8_t *at = d->p;
  pc_str_t s;
  int rc = rd_text(d, "a base64 string", &s);
  if (rc) return rc;
  if (s.n == 32 && is_hex(s.p, 32)) return hex_to_arena(d, s.p, 32, out);
  return b64_to_arena(d, at, s, out);
}

/* ---- messages ------------------------------------------------------------------------ */

static int dec_msg(dec_t *d, const msg_t *m, uint8_t *obj);

/* The field of m whose JSON or proto name is key (escapes resolved), with
 * which of the two names matched in *variant; NULL for an unknown key. */
static const field_t *lookup(const msg_t *m, pc_str_t key, int *variant) {
  for (unsigned i = 0; i < m->n; i++) {
    const field_t *f = &m->f[i];
    for (int v = 0; v < 2; v++) {
      if (f->len[v] == key.n && f->name[v] && memcmp(f->name[v], key.p, key.n) == 0) {
        *variant = v;
        return f;
      }
    }
  }
  return NULL;
}

/* Resolve the escapes of a key (rare) into buf. A key cut at cap bytes
 * matches nothing: every field name is shorter. */
static pc_str_t key_text(pc_str_t raw, bool esc, uint8_t *buf, size_t cap) {
  if (!esc) return raw;
  return (pc_str_t){buf, unescape(raw, buf, cap)};
}

/* The next field of the object entered as message m (*first: no key read
 * yet): 1 with d->p at its value and the field in *fp (NULL for an unknown
 * key, then *raw is the key), with which of its names matched in *vp; 0 at
 * the end of the object (consumed); or an error. */
static inline int next_field(dec_t *d, const msg_t *m, bool *first, unsigned *hint,
                             const field_t **fp, int *vp, pc_str_t *raw) {
  int rc = next_item(d, first, '}');
  if (rc <= 0) return rc;
  if (cur(d) != '"') return unexpected(d, "string or '}' expected");
  /* Senders write the fields in one order, mostly the table's, and in one
   * style of names: when the key is the next field's name in that style
   * (letters and '_' only, then the quote), it needs no lexing and no
   * search. *hint is that field's index plus m->n for the proto style. */
  unsigned style = *hint / m->n;
  const field_t *f = &m->f[*hint % m->n];
  int v = style && f->name[1];
  const uint8_t *p = d->p + 1;
  size_t len = f->len[v];
  if ((size_t)(d->end - p) > len && p[len] == '"' && memcmp(p, f->name[v], len) == 0) {
    d->p = p + len + 1;
  } else {
    bool esc;
    if ((rc = lex_string(d, raw, &esc))) return rc;
    uint8_t buf[32];
    f = lookup(m, key_text(*raw, esc, buf, sizeof buf), &v);
  }
  if (f) {
    unsigned next = (unsigned)(f - m->f) + 1;
    if (f->name[1]) style = (unsigned)v;
    *hint = (next == m->n ? 0 : next) + style * m->n;
  }
  if (peek(d) != ':') return unexpected(d, "':' expected");
  d->p++;
  peek(d);
  *fp = f;
  *vp = v;
  return 1;
}

/* Remember an unknown top-level key, once. */
static void note_unknown(dec_t *d, pc_str_t key) {
  for (unsigned i = 0; i < d->n_unknown_kept; i++)
    if (pc_str_eq(d->unknown[i], key)) return;
  d->n_unknown++;
  if (d->n_unknown_kept < MAX_UNKNOWN) d->unknown[d->n_unknown_kept++] = key;
}

/* A repeated field: each element goes on the scratch stack, a message
 * after it is decoded into a zeroed elem_t; array_end moves them all into
 * the arena. */
static int rd_repeated(dec_t *d, const field_t *f, uint8_t *obj) {
  if (cur(d) != '[') return type_error(d, "an array");
  kind_t kind = (kind_t)f->kind;
  size_t size = kind == K_REP_MSG   ? f->sub->size
                : kind == K_REP_I32 ? sizeof(int32_t)
                : kind == K_REP_STR ? sizeof(pc_str_t)
                                    : sizeof(int64_t);
  void *old;
  uint32_t n0;
  memcpy(&old, obj + f->off, sizeof old);
  memcpy(&n0, obj + f->aux, sizeof n0);
  size_t mark, base;
  int rc = open_container(d);
  if (!rc) rc = array_begin(d, old, n0, size, &mark, &base);
  bool first = true;
  int64_t i = n0;
  while (!rc && (rc = next_element(d, &first)) > 0) {
    set_index(d, i++);
    union {
      elem_t m;
      int32_t i32;
      int64_t i64;
      uint64_t u64;
      pc_str_t s;
    } v;
    switch (kind) {
    case K_REP_MSG:
      if (cur(d) != '{') return type_error(d, "an object");
      memset(&v, 0, size);
      rc = dec_msg(d, f->sub, (uint8_t *)&v);
      break;
    case K_REP_I32: rc = rd_i32(d, &v.i32); break;
    case K_REP_I64: rc = rd_signed(d, "int64", INT64_MIN, INT64_MAX, &v.i64); break;
    case K_REP_U64: rc = rd_unsigned(d, "uint64", UINT64_MAX, &v.u64); break;
    default: rc = rd_string(d, &v.s); break;
    }
    if (rc || (rc = reserve(d, size))) break;
    memcpy(d->stk + d->top, &v, size);
    d->top += size;
  }
  if (rc) return rc;
  set_index(d, -1);
  return array_end(d, mark, base, size, obj + f->off, (uint32_t *)(void *)(obj + f->aux));
}

/* A message-typed field: its object merges into obj + f->off. */
static int rd_message(dec_t *d, const field_t *f, uint8_t *obj) {
  if (cur(d) != '{') return type_error(d, "an object");
  if (f->aux != NO_AUX) obj[f->aux] = true;
  return dec_msg(d, f->kind == K_ANY ? &ANYVALUE : f->sub, obj + f->off);
}

static int dec_field(dec_t *d, const field_t *f, uint8_t *obj) {
  void *dst = obj + f->off;
  int64_t x = 0;
  uint64_t u = 0;
  int rc;
  switch ((kind_t)f->kind) {
  case K_I32: return rd_i32(d, dst);
  case K_U32:
    if ((rc = rd_unsigned(d, "uint32", UINT32_MAX, &u))) return rc;
    *(uint32_t *)dst = (uint32_t)u;
    return 0;
  case K_I64:
    if ((rc = rd_signed(d, "int64", INT64_MIN, INT64_MAX, &x))) return rc;
    *(int64_t *)dst = x;
    return 0;
  case K_U64: return rd_unsigned(d, "uint64", UINT64_MAX, dst);
  case K_STR: return rd_string(d, dst);
  case K_B64: return rd_base64(d, dst);
  case K_TRACE_ID: return rd_hex_id(d, 16, dst);
  case K_SPAN_ID: return rd_hex_id(d, 8, dst);
  case K_PROFILE_ID: return rd_profile_id(d, dst);
  case K_MSG:
  case K_ANY: return rd_message(d, f, obj);
  case K_REP_MSG:
  case K_REP_I32:
  case K_REP_I64:
  case K_REP_U64:
  case K_REP_STR: return rd_repeated(d, f, obj);
  }
  return 0;
}

/* The object at d->p as message m, into obj. */
static int dec_msg(dec_t *d, const msg_t *m, uint8_t *obj) {
  if (m->custom) return m->custom(d, obj);
  int rc = open_container(d);
  if (rc) return rc;
  bool first = true;
  unsigned hint = 0;
  const field_t *f;
  int v;
  pc_str_t raw;
  while ((rc = next_field(d, m, &first, &hint, &f, &v, &raw)) > 0) {
    if (!f) {
      if (d->npath == 0) note_unknown(d, raw);
      if ((rc = skip_value(d))) return rc;
      continue;
    }
    if (take_null(d)) continue; /* not set */
    push(d, f->name[v], f->len[v]);
    rc = dec_field(d, f, obj);
    pop(d);
    if (rc) return rc;
  }
  return rc;
}

/* An AnyValue object: the kind is the oneof key that is set (none leaves
 * PC_AV_NONE); two different ones are an error. Nesting is bounded by
 * PC_MAX_ANYVALUE_DEPTH. */
static int dec_anyvalue(dec_t *d, uint8_t *obj) {
  pc_anyvalue_t *av = (pc_anyvalue_t *)(void *)obj;
  if (d->av_depth >= PC_MAX_ANYVALUE_DEPTH)
    return fail(d, PC_EDECODE, "AnyValue nested deeper than %d levels", PC_MAX_ANYVALUE_DEPTH);
  int rc = open_container(d);
  if (rc) return rc;
  d->av_depth++;
  bool first = true;
  unsigned hint = 0;
  int set_variant = 0, v;
  const field_t *f;
  pc_str_t raw;
  while ((rc = next_field(d, &ANYVALUE, &first, &hint, &f, &v, &raw)) > 0) {
    if (!f) {
      if ((rc = skip_value(d))) break;
      continue;
    }
    if (take_null(d)) continue;
    pc_av_type_t type = (pc_av_type_t)(f - ANYVALUE_f + 1);
    if (av->type != PC_AV_NONE && av->type != type) {
      const field_t *a = &ANYVALUE_f[(av->type < type ? av->type : type) - 1];
      const field_t *b = &ANYVALUE_f[(av->type < type ? type : av->type) - 1];
      int va = av->type < type ? set_variant : v, vb = av->type < type ? v : set_variant;
      rc = fail(d, PC_EDECODE, "AnyValue sets both \"%s\" and \"%s\"", a->name[va],
                b->name[vb]);
      break;
    }
    av->type = type;
    set_variant = v;
    push(d, f->name[v], f->len[v]);
    switch (type) {
    case PC_AV_STRING: rc = rd_string(d, &av->u.s); break;
    case PC_AV_BOOL: rc = rd_bool(d, &av->u.b); break;
    case PC_AV_INT: rc = rd_signed(d, "int64", INT64_MIN, INT64_MAX, &av->u.i); break;
    case PC_AV_DOUBLE: rc = rd_double(d, &av->u.d); break;
    case PC_AV_ARRAY:
    case PC_AV_KVLIST:
      if (cur(d) != '{') rc = type_error(d, "an object");
      else rc = dec_msg(d, f->sub, obj);
      break;
    case PC_AV_BYTES: rc = rd_base64(d, &av->u.s); break;
    case PC_AV_STRINDEX: rc = rd_i32(d, &av->u.strindex); break;
    case PC_AV_NONE: break;
    }
    pop(d);
    if (rc) break;
  }
  d->av_depth--;
  return rc;
}

/* ---- the lexer for other walkers (internal.h) --------------------------------------- */

/* A decoder on [p, end) for one lexing call: only the fields the lexer and
 * its errors read are set (the path frames are left alone: clearing them
 * for each of a million spans would cost more than the skip). */
static void lex_only(dec_t *d, const uint8_t *p, const uint8_t *end, pc_err_t *err) {
  d->p = d->base = p;
  d->end = end;
  d->arena = NULL;
  d->err = err;
  d->depth = d->av_depth = d->npath = 0;
}

const uint8_t *pc__json_skip_value(const uint8_t *p, const uint8_t *end) {
  dec_t d;
  pc_err_t err = {0};
  lex_only(&d, p, end, &err);
  if (p >= end || skip_value(&d)) return NULL;
  return d.p;
}

bool pc__json_key(const uint8_t *p, const uint8_t *end, uint8_t *buf, size_t cap,
                  pc_str_t *key, const uint8_t **after) {
  dec_t d;
  pc_err_t err = {0};
  lex_only(&d, p, end, &err);
  pc_str_t raw;
  bool esc;
  if (p >= end || *p != '"' || lex_string(&d, &raw, &esc)) return false;
  *key = key_text(raw, esc, buf, cap);
  *after = d.p;
  return true;
}

/* ---- requests ----------------------------------------------------------------------- */

/* Nothing decoded, and keys at the top that are not the request's: refuse
 * rather than answer 200 for data that went nowhere. Keys are cut at 24
 * bytes (on a character boundary) so that four of them, the rest and the
 * explanation fit pc_err_t whole. none says what is missing ("profiles",
 * "spans"), want what the request should have held. */
__attribute__((noinline, cold)) static int unknown_keys_error(dec_t *d, const char *none,
                                                              const char *want) {
  char names[128];
  size_t n = 0;
  names[0] = '\0';
  for (unsigned i = 0; i < d->n_unknown_kept && n < sizeof names; i++) {
    pc_str_t k = d->unknown[i];
    size_t cut = k.n;
    if (cut > 24) {
      cut = 24;
      while (cut > 0 && (k.p[cut] & 0xc0) == 0x80) cut--;
    }
    int w = snprintf(names + n, sizeof names - n, "%s\"%.*s%s\"", i ? ", " : "", (int)cut,
                     (const char *)k.p, cut < k.n ? "..." : "");
    if (w < 0) break;
    n += (size_t)w;
  }
  unsigned more = d->n_unknown - d->n_unknown_kept;
  char tail[32] = "";
  if (more) snprintf(tail, sizeof tail, " and %u more", more);
  return fail(d, PC_EDECODE, "no %s, and unknown key%s %s%s: %s", none,
              d->n_unknown > 1 ? "s" : "", names, tail, want);
}

/* Decode the object in buf[0..n) as message m into obj (zeroed). *out is
 * the decoder, for its unknown top-level keys (decode_done frees it);
 * *other_keys says whether those include the other signal's request's (a
 * profiles request's when m is the traces one, and the reverse): the
 * client sent to the wrong path, which the error can then say. */
static int decode_root(pc_arena_t *arena, const uint8_t *buf, size_t n, const msg_t *m,
                       void *obj, pc_err_t *err, bool *other_keys, dec_t **out) {
  if (!buf) buf = (const uint8_t *)"", n = 0;
  dec_t *d = malloc(sizeof *d);
  if (!d) return pc_err_set(err, PC_ENOMEM, "out of memory");
  *d = (dec_t){.p = buf, .end = buf + n, .base = buf, .arena = arena, .err = err};
  *out = d;
  int c = peek(d), rc;
  if (c == '{') rc = dec_msg(d, m, obj);
  else if (c < 0) rc = bad_value(d);
  else rc = type_error(d, "an object");
  if (!rc && peek(d) >= 0) rc = unexpected(d, "end of file expected");
  const msg_t *other = m == &REQUEST ? &TRACES_REQUEST : &REQUEST;
  *other_keys = false;
  for (unsigned i = 0; i < d->n_unknown_kept; i++)
    for (const field_t *f = other->f; f < other->f + other->n; f++)
      for (int v = 0; v < 2; v++)
        if (f->name[v] &&
            pc_str_eq(d->unknown[i], (pc_str_t){(const uint8_t *)f->name[v], f->len[v]}))
          *other_keys = true;
  return rc;
}

static void decode_done(pc_arena_t *arena, dec_t *d) {
  if (!d) return;
  free(d->stk);
  pc_arena_uncharge(arena, d->cap);
  free(d);
}

int pc_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_request_t *req,
                   pc_err_t *err) {
  memset(req, 0, sizeof *req);
  req->arena = arena;
  req->encoded = buf;
  req->encoded_n = n;
  req->encoded_json = true;
  dec_t *d = NULL;
  bool traces_keys;
  int rc = decode_root(arena, buf, n, &REQUEST, req, err, &traces_keys, &d);
  /* A traces request (or a misspelled key) where profiles belong. */
  if (!rc && d->n_unknown && pc_request_profile_count(req) == 0)
    rc = unknown_keys_error(d, "profiles",
                            traces_keys
                                ? "this is an ExportTraceServiceRequest, for the traces path"
                                : "an OTLP profiles request has \"resourceProfiles\" and "
                                  "\"dictionary\"");
  decode_done(arena, d);
  if (rc) return rc;
  return pc_pdata_validate(req, err);
}

int pc_traces_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n, pc_traces_t *tr,
                          pc_err_t *err) {
  memset(tr, 0, sizeof *tr);
  tr->arena = arena;
  tr->encoded = buf;
  tr->encoded_n = n;
  tr->json = true;
  dec_t *d = NULL;
  bool profiles_keys;
  int rc = decode_root(arena, buf, n, &TRACES_REQUEST, tr, err, &profiles_keys, &d);
  /* A profiles request (or a misspelled key) where spans belong. */
  if (!rc && d->n_unknown && pc_traces_span_count(tr) == 0)
    rc = unknown_keys_error(d, "spans",
                            profiles_keys
                                ? "this is an ExportProfilesServiceRequest, for the profiles path"
                                : "an OTLP traces request has \"resourceSpans\"");
  decode_done(arena, d);
  return rc;
}
