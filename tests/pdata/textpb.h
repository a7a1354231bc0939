/* textpb.h - a small reader of protobuf text format, as `protoc --decode`
 * prints it, for test oracles: the tests decode pprof with protoc (an
 * implementation independent of pdata/) and read its output with this.
 *
 * A message is a list of fields in input order; a field has a name and
 * either a scalar (kept as text: numbers, true/false, enum names) or a
 * string (escapes undone, may hold any bytes) or a message. Malformed
 * input fails the running Check test with its line number. */
#ifndef PC_TEST_TEXTPB_H
#define PC_TEST_TEXTPB_H

#include <stddef.h>
#include <stdint.h>

typedef struct pc_tpb pc_tpb_t;

typedef struct {
  char *name;
  char *text;   /* scalar as written, or string bytes (NUL-terminated too) */
  size_t len;   /* bytes of text */
  pc_tpb_t *msg; /* a message field, else NULL */
} pc_tpb_field_t;

struct pc_tpb {
  pc_tpb_field_t *v;
  size_t n, cap;
};

/* Parse text[0..n); free with pc_tpb_free. */
pc_tpb_t *pc_tpb_parse(const char *text, size_t n);
void pc_tpb_free(pc_tpb_t *m);

/* The number of fields called name, and the i-th of them (NULL past the end). */
size_t pc_tpb_count(const pc_tpb_t *m, const char *name);
const pc_tpb_field_t *pc_tpb_get(const pc_tpb_t *m, const char *name, size_t i);
/* The first field called name as a number (unsigned values above INT64_MAX
 * wrap, as uint64 fields do), true as 1; def when absent. */
int64_t pc_tpb_int(const pc_tpb_t *m, const char *name, int64_t def);
/* The i-th field called name as a number. */
int64_t pc_tpb_int_at(const pc_tpb_t *m, const char *name, size_t i);
/* The first message field called name, or NULL. */
const pc_tpb_t *pc_tpb_msg(const pc_tpb_t *m, const char *name);

/* Run `protoc --decode=TYPE -I $PC_SOURCE_ROOT/proto PROTO` on bytes
 * (gunzipped first when they are gzip'd) and parse what it prints. */
pc_tpb_t *pc_tpb_protoc_decode(const char *type, const char *proto, const uint8_t *bytes,
                               size_t n);

#endif
