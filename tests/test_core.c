/* test_core.c - the core suite: errors, buffers, compression limits. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"

START_TEST(err_names) {
  ck_assert_str_eq(pc_err_name(PC_ELIMIT), "ELIMIT");
  ck_assert_str_eq(pc_err_name(PC_ENOMEM), "ENOMEM");
  ck_assert_str_eq(pc_err_name(12345), "unknown");
  pc_err_t err = {0};
  ck_assert_int_eq(pc_err_set(&err, PC_EDECODE, "at %d", 7), PC_EDECODE);
  ck_assert_str_eq(err.msg, "at 7");
}
END_TEST

START_TEST(json_string_escapes) {
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_buf_json_string(&b, (const uint8_t *)"a\"b\\c\n\x01", 7), 0);
  ck_assert_int_eq(b.n, strlen("\"a\\\"b\\\\c\\n\\u0001\""));
  ck_assert(memcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\"", b.n) == 0);
  pc_buf_free(&b);
}
END_TEST

static const pc_encoding_t all_encodings[] = {PC_ENC_GZIP, PC_ENC_DEFLATE, PC_ENC_ZSTD,
                                              PC_ENC_IDENTITY};

START_TEST(compress_roundtrip) {
  pc_encoding_t enc = all_encodings[_i];
  uint8_t in[100000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7 % 251);
  pc_buf_t z = {0}, out = {0};
  ck_assert_int_eq(pc_compress(enc, 0, in, sizeof in, &z), 0);
  if (enc != PC_ENC_IDENTITY) ck_assert_int_eq(pc_encoding_sniff(z.p, z.n) == enc, enc != PC_ENC_DEFLATE);
  pc_err_t err = {0};
  ck_assert_int_eq(pc_decompress(enc, z.p, z.n, sizeof in, &out, &err), 0);
  ck_assert_int_eq(out.n, sizeof in);
  ck_assert(memcmp(out.p, in, sizeof in) == 0);
  /* One byte under the size: refused, and nothing left in out. */
  out.n = 0;
  ck_assert_int_eq(pc_decompress(enc, z.p, z.n, sizeof in - 1, &out, &err), PC_ELIMIT);
  ck_assert_int_eq(out.n, 0);
  /* Truncated input is corrupt, not a crash or a success. */
  if (enc != PC_ENC_IDENTITY)
    ck_assert_int_eq(pc_decompress(enc, z.p, z.n / 2, sizeof in, &out, &err), PC_ECORRUPT);
  pc_buf_free(&z);
  pc_buf_free(&out);
}
END_TEST

/* 1 GiB of zeros compresses to about 1 MiB; decompressing with a 1 MiB limit
 * must stop early and never hold more than about the limit. */
START_TEST(decompression_bomb_stops_at_limit) {
  pc_encoding_t enc = all_encodings[_i];
  size_t big = (size_t)64 << 20, limit = (size_t)1 << 20;
  uint8_t *zeros = calloc(1, big);
  ck_assert_ptr_nonnull(zeros);
  pc_buf_t z = {0}, out = {0};
  ck_assert_int_eq(pc_compress(enc, 1, zeros, big, &z), 0);
  free(zeros);
  pc_err_t err = {0};
  ck_assert_int_eq(pc_decompress(enc, z.p, z.n, limit, &out, &err), PC_ELIMIT);
  ck_assert_uint_le(out.cap, limit + 65536 + 1);
  ck_assert(strstr(err.msg, "exceeds the limit") != NULL);
  pc_buf_free(&z);
  pc_buf_free(&out);
}
END_TEST

START_TEST(corrupt_input) {
  pc_buf_t out = {0};
  pc_err_t err = {0};
  const uint8_t junk[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef};
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, junk, sizeof junk, 1000, &out, &err), PC_ECORRUPT);
  ck_assert_int_eq(pc_decompress(PC_ENC_ZSTD, junk, sizeof junk, 1000, &out, &err), PC_ECORRUPT);
  ck_assert_int_eq(pc_decompress(PC_ENC_DEFLATE, junk, sizeof junk, 1000, &out, &err), PC_ECORRUPT);
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, junk, 0, 1000, &out, &err), PC_ECORRUPT);
  pc_buf_free(&out);
}
END_TEST

START_TEST(encoding_names) {
  pc_encoding_t e;
  ck_assert_int_eq(pc_encoding_parse(PC_STR_LIT("GZip"), &e), 0);
  ck_assert_int_eq(e, PC_ENC_GZIP);
  ck_assert_int_eq(pc_encoding_parse(PC_STR_LIT(" zstd "), &e), 0);
  ck_assert_int_eq(e, PC_ENC_ZSTD);
  ck_assert_int_eq(pc_encoding_parse(PC_STR_LIT("br"), &e), PC_EENCODING);
  /* An empty view may have a NULL pointer (found by the receiver's fuzzing). */
  ck_assert_int_eq(pc_encoding_parse((pc_str_t){NULL, 0}, &e), 0);
  ck_assert_int_eq(e, PC_ENC_IDENTITY);
}
END_TEST

int main(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("err");
  tcase_add_test(tc, err_names);
  tcase_add_test(tc, json_string_escapes);
  suite_add_tcase(s, tc);
  tc = tcase_create("compress");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, compress_roundtrip, 0, 4);
  tcase_add_loop_test(tc, decompression_bomb_stops_at_limit, 0, 3);
  tcase_add_test(tc, corrupt_input);
  tcase_add_test(tc, encoding_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
