/* pdata.h - the in-memory model of an OTLP ExportProfilesServiceRequest and
 * its codecs (protobuf and OTLP-JSON).
 *
 * The model mirrors the wire format (shared/spec/otlp-profiles-fields.md):
 * one request-wide dictionary of tables, and a resource -> scope -> profile
 * -> sample tree whose cross-references are int32 indices into the tables.
 *
 * Memory: everything of one request lives in one pc_arena_t. Strings and
 * bytes are views (pc_str_t) into the decoded buffer for protobuf, or into the
 * arena for JSON; arrays are carved from the arena. The caller keeps the
 * input buffer alive as long as the request. There is no malloc per sample.
 *
 * Validation happens once, in the decoders (pc_pdata_validate): after a
 * successful decode every index refers to an existing table entry, or is 0
 * (index 0 is "not set" and is valid even when the table is empty; use the
 * pc_dict_* accessors, which return the zero entry then). Nothing downstream
 * needs to re-check indices.
 *
 * Errors: decoders return 0 or a negative PC_E* code and fill pc_err_t with
 * a message that names what was wrong and where (field path and byte offset
 * for protobuf, line:col or field path for JSON). */
#ifndef PC_PDATA_H
#define PC_PDATA_H

#include "../core/core.h"

/* ---- arena --------------------------------------------------------------
 * A bump allocator: many small allocations, one release. Reset keeps the
 * first block (and up to pc_arena_set_keep bytes of others) for reuse. */
typedef struct pc_arena pc_arena_t;

pc_arena_t *pc_arena_new(size_t block_size);
/* 8-byte aligned, uninitialised memory; NULL when the arena's limit would be
 * passed or memory is exhausted. */
void *pc_arena_alloc(pc_arena_t *a, size_t n);
/* Like pc_arena_alloc but zeroed; count*size is overflow-checked. */
void *pc_arena_calloc(pc_arena_t *a, size_t count, size_t size);
/* Copy bytes into the arena; returns a view of the copy (n == 0: empty). */
int pc_arena_dup(pc_arena_t *a, const void *p, size_t n, pc_str_t *out);
/* Cap the total bytes this arena may hold (0: no cap). */
void pc_arena_set_limit(pc_arena_t *a, size_t limit);
/* Cap the size blocks double up to (default 64 x block_size): a long-lived
 * arena keeps less slack in its last block. Larger allocations still get a
 * block of their own. */
void pc_arena_set_max_block(pc_arena_t *a, size_t max);
/* Let reset keep up to keep bytes of blocks besides the first (default 0)
 * and hand them out again before allocating new ones: a reused arena then
 * costs no malloc, free or first touch of fresh pages per use. Kept blocks
 * count in pc_arena_used. */
void pc_arena_set_keep(pc_arena_t *a, size_t keep);
size_t pc_arena_used(const pc_arena_t *a);
/* The cap set by pc_arena_set_limit (0: none). */
size_t pc_arena_limit(const pc_arena_t *a);
/* Count n bytes that the caller holds outside the arena on the arena's behalf
 * (a decoder's scratch space) as used, so that they and the arena's blocks
 * together stay under its limit: PC_ENOMEM, and nothing counted, when they
 * would pass it. pc_arena_uncharge gives them back; reset forgets them. */
int pc_arena_charge(pc_arena_t *a, size_t n);
void pc_arena_uncharge(pc_arena_t *a, size_t n);
void pc_arena_reset(pc_arena_t *a);
void pc_arena_free(pc_arena_t *a);

/* ---- common.v1 ---------------------------------------------------------- */

/* AnyValue's oneof; the values are the proto field numbers. */
typedef enum {
  PC_AV_NONE = 0,
  PC_AV_STRING = 1,
  PC_AV_BOOL = 2,
  PC_AV_INT = 3,
  PC_AV_DOUBLE = 4,
  PC_AV_ARRAY = 5,
  PC_AV_KVLIST = 6,
  PC_AV_BYTES = 7,
  PC_AV_STRINDEX = 8,
} pc_av_type_t;

typedef struct pc_anyvalue pc_anyvalue_t;
typedef struct pc_keyvalue pc_keyvalue_t;

struct pc_anyvalue {
  pc_av_type_t type;
  union {
    pc_str_t s;        /* STRING, BYTES */
    bool b;            /* BOOL */
    int64_t i;         /* INT */
    double d;          /* DOUBLE */
    int32_t strindex;  /* STRINDEX */
    struct {
      pc_anyvalue_t *v;
      uint32_t n;
    } array;           /* ARRAY */
    struct {
      pc_keyvalue_t *v;
      uint32_t n;
    } kvlist;          /* KVLIST */
  } u;
};

/* KeyValue: key is inline (key) or a string-table index (key_strindex). */
struct pc_keyvalue {
  pc_str_t key;
  int32_t key_strindex;
  bool has_value;
  pc_anyvalue_t value;
};

typedef struct {
  pc_keyvalue_t *v;
  uint32_t n;
} pc_kvs_t;

typedef struct {
  int32_t *v;
  uint32_t n;
} pc_i32s_t;

typedef struct {
  pc_str_t *v;
  uint32_t n;
} pc_strs_t;

typedef struct {
  pc_str_t schema_url;
  pc_str_t type;
  pc_strs_t id_keys;
  pc_strs_t description_keys;
} pc_entity_ref_t;

typedef struct {
  pc_kvs_t attributes;
  uint32_t dropped_attributes_count;
  pc_entity_ref_t *entity_refs;
  uint32_t n_entity_refs;
} pc_resource_t;

typedef struct {
  pc_str_t name;
  pc_str_t version;
  pc_kvs_t attributes;
  uint32_t dropped_attributes_count;
} pc_scope_t;

/* ---- profiles.v1development: dictionary ---------------------------------- */

typedef struct {
  uint64_t memory_start;
  uint64_t memory_limit;
  uint64_t file_offset;
  int32_t filename_strindex;
  pc_i32s_t attribute_indices;
} pc_mapping_t;

typedef struct {
  int32_t function_index;
  int64_t line;
  int64_t column;
} pc_line_t;

typedef struct {
  int32_t mapping_index;
  uint64_t address;
  pc_line_t *lines; /* inlined frames: callee first */
  uint32_t n_lines;
  pc_i32s_t attribute_indices;
} pc_location_t;

typedef struct {
  int32_t name_strindex;
  int32_t system_name_strindex;
  int32_t filename_strindex;
  int64_t start_line;
} pc_function_t;

typedef struct {
  pc_str_t trace_id; /* 16 bytes when set */
  pc_str_t span_id;  /* 8 bytes when set */
} pc_link_t;

/* KeyValueAndUnit */
typedef struct {
  int32_t key_strindex;
  bool has_value;
  pc_anyvalue_t value;
  int32_t unit_strindex;
} pc_attr_t;

typedef struct {
  pc_i32s_t location_indices; /* leaf first */
} pc_stack_t;

typedef struct {
  pc_mapping_t *mappings;
  uint32_t n_mappings;
  pc_location_t *locations;
  uint32_t n_locations;
  pc_function_t *functions;
  uint32_t n_functions;
  pc_link_t *links;
  uint32_t n_links;
  pc_str_t *strings;
  uint32_t n_strings;
  pc_attr_t *attrs;
  uint32_t n_attrs;
  pc_stack_t *stacks;
  uint32_t n_stacks;
} pc_dictionary_t;

/* Zero entries, returned by the accessors for index 0 of an empty table. */
extern const pc_mapping_t pc_zero_mapping;
extern const pc_location_t pc_zero_location;
extern const pc_function_t pc_zero_function;
extern const pc_link_t pc_zero_link;
extern const pc_attr_t pc_zero_attr;
extern const pc_stack_t pc_zero_stack;

/* Table lookups for validated data: idx is in range, or 0 with an empty table. */
static inline pc_str_t pc_dict_string(const pc_dictionary_t *d, int32_t i) {
  return (uint32_t)i < d->n_strings ? d->strings[i] : (pc_str_t){0};
}
#define PC__DICT_GET(name, type, arr, n)                                   \
  static inline const type *pc_dict_##name(const pc_dictionary_t *d,       \
                                           int32_t i) {                    \
    return (uint32_t)i < d->n ? &d->arr[i] : &pc_zero_##name;              \
  }
PC__DICT_GET(mapping, pc_mapping_t, mappings, n_mappings)
PC__DICT_GET(location, pc_location_t, locations, n_locations)
PC__DICT_GET(function, pc_function_t, functions, n_functions)
PC__DICT_GET(link, pc_link_t, links, n_links)
PC__DICT_GET(attr, pc_attr_t, attrs, n_attrs)
PC__DICT_GET(stack, pc_stack_t, stacks, n_stacks)
#undef PC__DICT_GET

/* ---- profiles.v1development: the tree ------------------------------------ */

typedef struct {
  int32_t type_strindex;
  int32_t unit_strindex;
} pc_valuetype_t;

typedef struct {
  int32_t stack_index;
  pc_i32s_t attribute_indices;
  int32_t link_index;
  int64_t *values;
  uint32_t n_values;
  uint32_t n_timestamps;
  uint64_t *timestamps_unix_nano;
} pc_sample_t;

typedef struct {
  bool has_sample_type;
  bool has_period_type;
  pc_valuetype_t sample_type;
  pc_valuetype_t period_type;
  pc_sample_t *samples;
  uint32_t n_samples;
  uint32_t dropped_attributes_count;
  uint64_t time_unix_nano;
  uint64_t duration_nano;
  int64_t period;
  pc_str_t profile_id;
  pc_str_t original_payload_format;
  pc_str_t original_payload;
  pc_i32s_t attribute_indices;
} pc_profile_t;

typedef struct {
  bool has_scope;
  pc_scope_t scope;
  pc_profile_t *profiles;
  uint32_t n_profiles;
  pc_str_t schema_url;
} pc_scope_profiles_t;

typedef struct {
  bool has_resource;
  pc_resource_t resource;
  pc_scope_profiles_t *scopes;
  uint32_t n_scopes;
  pc_str_t schema_url;
} pc_resource_profiles_t;

/* ExportProfilesServiceRequest (and ProfilesData, which has the same shape). */
typedef struct {
  pc_arena_t *arena; /* owns every array and copied string of the request */
  bool has_dictionary;
  pc_dictionary_t dict;
  pc_resource_profiles_t *resources;
  uint32_t n_resources;
  /* Filled by validation: profiles dropped for bad indices or shapes. */
  uint64_t rejected_profiles;
  char reject_msg[256]; /* why the first one was rejected */
  /* Client metadata (include_metadata) of the request, or of the batch (the
   * batch processor's metadata_keys); NULL when there is none. Not part of
   * the payload: codecs ignore it. Owned by whoever set it, valid during the
   * consume call. */
  const pc_metadata_t *metadata;
  /* The address the request came from, the Collector's client.Info.Addr:
   * the peer's IP as text ("10.1.2.3", "fd00::1"; an IPv4-mapped IPv6 peer
   * as its IPv4 address), set by receivers; empty when unknown and for
   * data that is not one client's (a batch). Not part of the payload:
   * codecs ignore it. Owned by whoever set it, valid during the consume
   * call. */
  pc_str_t client_addr;
  /* The bytes the decoder read (protobuf, or OTLP-JSON when encoded_json),
   * which the tree's views may point into; set by the decoders, valid as
   * long as the request. A consumer that keeps samples can copy them rather
   * than re-encode (the span store's window does). A processor that changes
   * which samples there are or what they link to sets encoded_n to 0; other
   * edits (attributes) leave them the samples' source. Empty for a request
   * built otherwise (a batch). */
  const uint8_t *encoded;
  size_t encoded_n;
  bool encoded_json;
  /* Set by a receiver whose buffer holds encoded (core.h): a consumer that
   * keeps the bytes past its consume call takes them by reference rather
   * than copying them; NULL: copy them. Meaningless once encoded_n is 0. */
  pc_bytes_lender_t *encoded_lender;
} pc_request_t;

/* ---- limits --------------------------------------------------------------- */

/* AnyValue arrays and kvlists nest; deeper input is rejected. */
#define PC_MAX_ANYVALUE_DEPTH 32

/* ---- codecs ---------------------------------------------------------------
 * Decoders fill *req (zeroed first) with data allocated from arena; req->arena
 * is set to arena. On failure req is left in an unspecified state: reset the
 * arena. Both decoders validate (see pc_pdata_validate). */

/* Protobuf. Views point into buf, which must outlive req. Unknown fields are
 * skipped; strings must be valid UTF-8. */
int pc_proto_decode(pc_arena_t *arena, const uint8_t *buf, size_t n,
                    pc_request_t *req, pc_err_t *err);
/* Append the canonical protobuf encoding of req to out (fields in number
 * order, defaults omitted, repeated scalars packed). */
int pc_proto_encode(const pc_request_t *req, pc_buf_t *out);

/* OTLP-JSON, in one pass with no document built. Strings are copied into
 * the arena; buf may be freed after. Keys are the JSON (lowerCamelCase) or
 * the proto field names; other keys are skipped, but a request with no
 * profile and unknown top-level keys fails (PC_EDECODE naming them). Memory:
 * the arena, plus scratch space for the arrays being read that is counted
 * against the arena's limit (pc_arena_charge): PC_ENOMEM before the two
 * would pass it. */
int pc_json_decode(pc_arena_t *arena, const uint8_t *buf, size_t n,
                   pc_request_t *req, pc_err_t *err);
/* Append the OTLP-JSON encoding of req to out (compact, one line). */
int pc_json_encode(const pc_request_t *req, pc_buf_t *out);

/* A deep copy of src in arena (nothing shared with src but its metadata
 * pointer), for a consumer that edits data others also read. */
int pc_request_clone(const pc_request_t *src, pc_arena_t *arena, pc_request_t *out,
                     pc_err_t *err);

/* Check every index against its table and the value/timestamp shapes.
 * A bad index in the dictionary fails the whole request (PC_EDECODE with
 * the path, e.g. "dictionary.location_table[3].mapping_index: index 17 out
 * of range (mapping_table has 5 entries)"). A bad index in a profile (or
 * its resource or scope) removes that profile from the tree and counts it
 * in req->rejected_profiles, with the first reason in req->reject_msg.
 * Called by both decoders; exposed for data built by hand. */
int pc_pdata_validate(pc_request_t *req, pc_err_t *err);

/* Asked once per sample of req in tree order (s NULL: once for a profile
 * without samples): whether the view keeps it. */
typedef bool (*pc_sample_pick_fn)(void *arg, const pc_request_t *req,
                                  const pc_resource_profiles_t *rp, const pc_profile_t *p,
                                  const pc_sample_t *s);
/* A view of req with only the samples pick keeps (view.c); resources,
 * scopes and profiles left without any are left out. Everything but the
 * tree's arrays (from scratch) is shared with req, so the view is valid as
 * long as both are; it has no encoded bytes. *kept counts the samples.
 * PC_ENOMEM when scratch is full. */
int pc_request_view(const pc_request_t *req, pc_arena_t *scratch, pc_sample_pick_fn pick,
                    void *arg, pc_request_t *out, uint64_t *kept);

/* ---- small responses ------------------------------------------------------ */

/* Encode an ExportProfilesServiceResponse (partial_success set only when
 * rejected > 0 or msg is non-empty) as protobuf or JSON. */
int pc_encode_export_response(bool json, int64_t rejected, const char *msg,
                              pc_buf_t *out);
/* Encode a google.rpc.Status {code, message} as protobuf or JSON. */
int pc_encode_status(bool json, int32_t code, const char *msg, pc_buf_t *out);

/* ---- statistics ----------------------------------------------------------- */

typedef struct {
  const char *name; /* "string_table", ... */
  uint32_t size;
  uint32_t duplicates;   /* entries equal in content to an earlier one */
  uint32_t unreferenced; /* entries (other than 0) nothing refers to */
} pc_table_stats_t;

typedef struct {
  uint64_t resources, scopes, profiles, samples;
  pc_table_stats_t tables[7]; /* in field-number order of ProfilesDictionary */
} pc_stats_t;

int pc_pdata_stats(const pc_request_t *req, pc_stats_t *st);

/* Count resources, profiles and samples of a request. */
uint64_t pc_request_profile_count(const pc_request_t *req);
uint64_t pc_request_sample_count(const pc_request_t *req);

/* Finished bodies (core.h) of req, for a consumer that takes them when what
 * comes is a tree (bodies.c): protobuf, or OTLP-JSON when json, each at most
 * max_body bytes before compression (0: no limit), split before encoding
 * by resource, then scope, then profile (each part keeps the whole
 * dictionary: unused entries are allowed on the wire), compressed for
 * encodings (variants: 1 << pc_body_variant), with md (pc_md_encode form, or NULL).
 * Parts without profiles are left out. On 0, *out is a malloc'd array of
 * *n bodies, one reference each. PC_ELIMIT when one profile with the
 * dictionary is above max_body; the codec's error when compressing fails. */
int pc_request_bodies(const pc_request_t *req, bool json, uint64_t max_body,
                      unsigned encodings, pc_bytes_t *md, pc_body_t ***out, size_t *n,
                      pc_err_t *err);

#endif
