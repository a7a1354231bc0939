/* internal.h - what pdata's files share and nothing outside pdata/ uses. */
#ifndef PC_PDATA_INTERNAL_H
#define PC_PDATA_INTERNAL_H

#include "pdata.h"

/* Pre-encoded samples of profile k of scope s of resource r: the bytes of
 * its `samples` fields as pc_proto_encode would write them (tag, length and
 * Sample message each), or an empty view to encode p->samples instead. */
typedef pc_str_t (*pc__samples_pb_fn)(void *ctx, uint32_t r, uint32_t s, uint32_t k);

/* pc_proto_encode with pre-encoded samples (samples_pb may be NULL) and an
 * expected size (0: unknown): the writer starts at exactly size_hint bytes,
 * so an upper bound costs no growth. Same output and errors. */
int pc__proto_encode_ex(const pc_request_t *req, pc__samples_pb_fn samples_pb, void *ctx,
                        size_t size_hint, pc_buf_t *out);

/* The OTLP-JSON decoder's lexer (json_decode.c), for code that walks text
 * the decoder accepted without building a document (traces_split.c). Both
 * check what they read and never allocate. */

/* The end of the JSON value that starts at p (no blanks before it), or NULL
 * when [p, end) does not start with one well-formed value. */
const uint8_t *pc__json_skip_value(const uint8_t *p, const uint8_t *end);
/* The object key at p (its opening quote) with its escapes resolved into
 * buf (a key longer than cap is cut, so it matches no field name), and in
 * *after the byte after its closing quote; false on a bad string. */
bool pc__json_key(const uint8_t *p, const uint8_t *end, uint8_t *buf, size_t cap,
                  pc_str_t *key, const uint8_t **after);

#endif
