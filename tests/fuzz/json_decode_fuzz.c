/* json_decode_fuzz.c - libFuzzer target for the OTLP-JSON decoder.
 *
 * Properties checked beyond "no crash" (each failure aborts):
 * - a failure always says why;
 * - whatever decodes re-encodes, the re-encoding decodes again, and
 *   encoding that gives the same text (the canonical form is a fixed point);
 * - the same text with every key in the proto's field names decodes to the
 *   same request (issue 12);
 * - under an arena limit, the decode gives the same request or PC_ENOMEM,
 *   and the arena never holds more than the limit (issue 14);
 * - jansson, the decoder this one replaced, is the reference for syntax:
 *   what it accepts is never a syntax error here, and what it refuses is
 *   refused here too, with its very message, line and column when the
 *   refusal here is a syntax error (not an error in a value found first).
 *   jansson's own limits on numbers (integers past int64, reals past
 *   DBL_MAX) and NUL bytes in keys are not JSON's, so those are left out;
 *   so are its words and positions for raw NUL bytes (a NUL just after a
 *   number or a word is skipped, as if it were not there), and messages
 *   where it quotes part of a character (after a backslash): ours quote
 *   the whole character, so the message stays UTF-8. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pdata/pdata.h"
#include "../../pdata/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The JSON text with its keys in lower_snake_case, as the proto names
 * them (the canonical encoding has every key in lowerCamelCase). */
static void to_proto_names(const pc_buf_t *in, pc_buf_t *out) {
  size_t i = 0;
  while (i < in->n) {
    if (in->p[i] != '"') {
      if (pc_buf_append(out, in->p + i, 1)) abort();
      i++;
      continue;
    }
    size_t j = i + 1;
    while (in->p[j] != '"') j += in->p[j] == '\\' ? 2 : 1;
    bool key = j + 1 < in->n && in->p[j + 1] == ':';
    for (size_t k = i; k <= j; k++) {
      uint8_t c = in->p[k];
      if (key && c >= 'A' && c <= 'Z') {
        uint8_t low[2] = {'_', (uint8_t)(c - 'A' + 'a')};
        if (pc_buf_append(out, low, 2)) abort();
      } else if (pc_buf_append(out, &c, 1)) {
        abort();
      }
    }
    i = j + 1;
  }
}

static bool is_utf8(const char *s) {
  const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s);
  while (p < end) {
    size_t n = *p < 0x80 ? 1 : pc__utf8_seq(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

static void check_against_jansson(const uint8_t *data, size_t size, int rc,
                                  const pc_err_t *err) {
  json_error_t je;
  json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  bool nul = memchr(data, 0, size) != NULL;
  if (root) {
    json_decref(root);
    if (rc == PC_EDECODE && err->line != 0 && !nul) abort(); /* valid JSON, syntax error */
    return;
  }
  enum json_error_code code = json_error_code(&je);
  if (code == json_error_numeric_overflow || code == json_error_null_byte_in_key ||
      code == json_error_out_of_memory)
    return;
  if (rc == 0) abort(); /* invalid JSON accepted */
  if (rc != PC_EDECODE || err->line == 0 || nul) return; /* a value's error came first */
  char want[256];
  snprintf(want, sizeof want, "line %d, column %d: %s", je.line, je.column, je.text);
  if (!is_utf8(want)) return;
  if (strcmp(err->msg, want) != 0 || err->line != je.line || err->col != je.column) {
    fprintf(stderr, "syntax error differs from jansson's\n  got:  %s\n  want: %s\n", err->msg,
            want);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_arena_t *arena;
  if (!arena) arena = pc_arena_new(0);
  pc_arena_reset(arena);
  pc_request_t req;
  pc_err_t err = {0};
  int rc = pc_json_decode(arena, data, size, &req, &err);
  if (rc != 0 && err.msg[0] == 0) abort();
  check_against_jansson(data, size, rc, &err);
  if (rc != 0) return 0;

  pc_buf_t a = {0}, b = {0}, snake = {0};
  if (pc_json_encode(&req, &a) != 0) abort();
  pc_request_t again;
  if (pc_json_decode(arena, a.p, a.n, &again, &err) != 0) abort();
  if (again.rejected_profiles != 0) abort(); /* rejected ones were dropped */
  if (pc_json_encode(&again, &b) != 0) abort();
  if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) abort();

  to_proto_names(&a, &snake);
  b.n = 0;
  if (pc_json_decode(arena, snake.p, snake.n, &again, &err) != 0) abort();
  if (pc_json_encode(&again, &b) != 0) abort();
  if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) abort();

  /* A limit somewhere between nothing and what the decode needed. */
  size_t limit = 64 + (size_t)(data[0] | data[size - 1] << 8) % (4 * size + 4096);
  pc_arena_t *small = pc_arena_new(256);
  pc_arena_set_limit(small, limit);
  rc = pc_json_decode(small, data, size, &again, &err);
  if (pc_arena_used(small) > limit) abort();
  if (rc == 0) {
    b.n = 0;
    if (pc_json_encode(&again, &b) != 0) abort();
    if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) abort();
  } else if (rc != PC_ENOMEM) {
    abort();
  }
  pc_arena_free(small);
  pc_buf_free(&a);
  pc_buf_free(&b);
  pc_buf_free(&snake);
  return 0;
}
