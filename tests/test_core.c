/* test_core.c - the core suite: errors, buffers, compression limits, the
 * Prometheus text writer, the request memory budget. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/log.h"
#include "../core/metrics.h"

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

/* An output buffer that already has exactly the room needed (a pooled
 * buffer, or gzip's sized path) still ends the stream cleanly. */
START_TEST(output_buffer_of_exact_size) {
  pc_encoding_t enc = all_encodings[_i];
  uint8_t in[5000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 13 % 7);
  pc_buf_t z = {0}, out = {0};
  ck_assert_int_eq(pc_compress(enc, 0, in, sizeof in, &z), 0);
  ck_assert_int_eq(pc_buf_reserve(&out, sizeof in), 0);
  out.cap = sizeof in; /* pc_buf_reserve may round up; the realloc'd block is larger */
  pc_err_t err = {0};
  ck_assert_msg(pc_decompress(enc, z.p, z.n, sizeof in, &out, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(out.n, sizeof in);
  ck_assert(memcmp(out.p, in, sizeof in) == 0);
  pc_buf_free(&z);
  pc_buf_free(&out);
}
END_TEST

/* A thread compressing again and again while another trims every thread's
 * kept compressors (the process went quiet, service/quiet.c): the trim
 * never frees one in use (ASan would see it), and every output still
 * inflates to its input. */
static atomic_int trim_rounds; /* compressions done by compress_again */

static void *compress_again(void *arg) {
  (void)arg;
  uint8_t in[50000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7 % 251);
  for (int rounds = 0; rounds < 100; rounds++) {
    pc_encoding_t enc = rounds % 2 ? PC_ENC_ZSTD : PC_ENC_GZIP;
    pc_buf_t z = {0}, out = {0};
    pc_err_t err = {0};
    ck_assert_int_eq(pc_compress(enc, 0, in, sizeof in, &z), 0);
    ck_assert_int_eq(pc_decompress(enc, z.p, z.n, sizeof in, &out, &err), 0);
    ck_assert(out.n == sizeof in && memcmp(out.p, in, sizeof in) == 0);
    pc_buf_free(&z);
    pc_buf_free(&out);
    atomic_fetch_add(&trim_rounds, 1);
  }
  return NULL;
}

START_TEST(compressors_trimmed_while_in_use) {
  atomic_store(&trim_rounds, 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, compress_again, NULL), 0);
  while (atomic_load(&trim_rounds) < 100) pc_compress_trim(); /* all the while */
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  compress_again(NULL); /* this thread's, made again after the trims */
  pc_compress_trim();
}
END_TEST

/* gzip's size trailer only decides how libdeflate's buffer is sized: several
 * members, a trailer that lies and trailing garbage all get the answer zlib's
 * streaming path gives. */
START_TEST(gzip_trailer_is_only_a_hint) {
  uint8_t in[3000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i % 17);
  pc_buf_t a = {0}, two = {0}, out = {0};
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 0, in, sizeof in, &a), 0);
  pc_err_t err = {0};
  /* Two members back to back: both inflated. */
  pc_buf_append(&two, a.p, a.n);
  pc_buf_append(&two, a.p, a.n);
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, two.p, two.n, 2 * sizeof in, &out, &err), 0);
  ck_assert_uint_eq(out.n, 2 * sizeof in);
  ck_assert(memcmp(out.p + sizeof in, in, sizeof in) == 0);
  /* A trailer one byte short or long, or claiming far more than deflate can
   * expand to: corrupt (zlib checks the length). */
  static const int32_t deltas[] = {-1, 1, 1 << 24};
  for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
    pc_buf_t bad = {0};
    pc_buf_append(&bad, a.p, a.n);
    uint32_t isize = (uint32_t)((int64_t)sizeof in + deltas[k]);
    for (int b = 0; b < 4; b++) bad.p[bad.n - 4 + b] = (uint8_t)(isize >> (8 * b));
    out.n = 0;
    ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, bad.p, bad.n, 64 << 20, &out, &err),
                     PC_ECORRUPT);
    ck_assert_uint_eq(out.n, 0);
    pc_buf_free(&bad);
  }
  /* Garbage after the member. */
  pc_buf_t tail = {0};
  pc_buf_append(&tail, a.p, a.n);
  pc_buf_append(&tail, "garbage!", 8);
  out.n = 0;
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, tail.p, tail.n, 64 << 20, &out, &err),
                   PC_ECORRUPT);
  pc_buf_free(&tail);
  pc_buf_free(&a);
  pc_buf_free(&two);
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

static char *render(const pc_metrics_t *m) {
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_metrics_render(m, &b), 0);
  pc_buf_append(&b, "", 1);
  return (char *)b.p;
}

/* Samples of one name from different instances end up in one family, with
 * one HELP and TYPE, in the order the names were first added. */
START_TEST(metrics_group_families) {
  pc_metrics_t *m = pc_metrics_new();
  pc_metrics_scope(m, "exporter", "otlphttp/a", NULL);
  pc_metrics_counter(m, "x_sent", "Sent.", 3, NULL);
  pc_metrics_gauge(m, "x_queue", "Held.", 2, "data_type", "profiles", NULL);
  pc_metrics_scope(m, "exporter", "otlphttp/b", NULL);
  pc_metrics_counter(m, "x_sent", "Sent.", 12345678901.0, NULL);
  pc_metrics_scope(m, NULL);
  pc_metrics_gauge(m, "x_up", "Up.", 0.25, NULL);
  char *t = render(m);
  ck_assert_str_eq(t, "# HELP x_sent Sent.\n# TYPE x_sent counter\n"
                      "x_sent{exporter=\"otlphttp/a\"} 3\n"
                      "x_sent{exporter=\"otlphttp/b\"} 12345678901\n"
                      "# HELP x_queue Held.\n# TYPE x_queue gauge\n"
                      "x_queue{exporter=\"otlphttp/a\",data_type=\"profiles\"} 2\n"
                      "# HELP x_up Up.\n# TYPE x_up gauge\nx_up 0.25\n");
  free(t);
  pc_metrics_free(m);
}
END_TEST

START_TEST(metrics_escape_label_values) {
  pc_metrics_t *m = pc_metrics_new();
  pc_metrics_counter(m, "y", "Y.", 1, "id", "a\"b\\c\nd", NULL);
  char *t = render(m);
  ck_assert_msg(strstr(t, "y{id=\"a\\\"b\\\\c\\nd\"} 1\n") != NULL, "%s", t);
  free(t);
  pc_metrics_free(m);
}
END_TEST

START_TEST(metrics_histogram_is_cumulative) {
  pc_metrics_t *m = pc_metrics_new();
  const double bounds[] = {10, 100};
  const uint64_t counts[] = {1, 0, 2};
  pc_metrics_histogram(m, "h", "H.", bounds, counts, 2, 1234, "p", "batch", NULL);
  char *t = render(m);
  ck_assert_str_eq(t, "# HELP h H.\n# TYPE h histogram\n"
                      "h_bucket{p=\"batch\",le=\"10\"} 1\n"
                      "h_bucket{p=\"batch\",le=\"100\"} 1\n"
                      "h_bucket{p=\"batch\",le=\"+Inf\"} 3\n"
                      "h_sum{p=\"batch\"} 1234\n"
                      "h_count{p=\"batch\"} 3\n");
  free(t);
  pc_metrics_free(m);
}
END_TEST

/* service.workers: two workers' pages are one: the same series add up
 * (histogram buckets too), a series only one has is kept, families stay
 * grouped with one HELP and TYPE. */
START_TEST(metrics_merge_sums_workers) {
  const double bounds[] = {10};
  pc_metrics_t *w0 = pc_metrics_new(), *w1 = pc_metrics_new();
  pc_metrics_counter(w0, "x_sent", "Sent.", 3, "exporter", "a", NULL);
  pc_metrics_histogram(w0, "h", "H.", bounds, (const uint64_t[]){1, 2}, 1, 50, NULL);
  pc_metrics_counter(w1, "x_sent", "Sent.", 4, "exporter", "a", NULL);
  pc_metrics_counter(w1, "x_sent", "Sent.", 7, "exporter", "b", NULL);
  pc_metrics_histogram(w1, "h", "H.", bounds, (const uint64_t[]){2, 0}, 1, 9, NULL);
  pc_metrics_merge(w0, w1);
  pc_metrics_free(w1);
  char *t = render(w0);
  ck_assert_str_eq(t, "# HELP x_sent Sent.\n# TYPE x_sent counter\n"
                      "x_sent{exporter=\"a\"} 7\n"
                      "x_sent{exporter=\"b\"} 7\n"
                      "# HELP h H.\n# TYPE h histogram\n"
                      "h_bucket{le=\"10\"} 3\n"
                      "h_bucket{le=\"+Inf\"} 5\n"
                      "h_sum 59\n"
                      "h_count 5\n");
  free(t);
  pc_metrics_free(w0);
}
END_TEST

/* service.workers: auto is at least one worker and never more than the
 * CPUs the process may run on. */
START_TEST(cpus_usable_within_affinity) {
  uint32_t n = pc_cpus_usable();
  ck_assert_uint_ge(n, 1);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  ck_assert_uint_le(n, online > 0 ? (uint32_t)online : 1);
}
END_TEST

/* RFC 4648 section 10's vectors, padded and not, and what is refused. */
START_TEST(base64_vectors) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
  for (size_t i = 0; i < 7; i++) {
    size_t n = strlen(plain[i]);
    char enc[16];
    size_t m = pc_base64_encode((const uint8_t *)plain[i], n, true, enc);
    ck_assert_uint_eq(m, pc_base64_encoded_len(n, true));
    ck_assert_str_eq((enc[m] = 0, enc), padded[i]);
    m = pc_base64_encode((const uint8_t *)plain[i], n, false, enc);
    enc[m] = 0;
    ck_assert_uint_eq(m, strlen(padded[i]) - (strchr(padded[i], '=') ? strlen(strchr(padded[i], '=')) : 0));
    uint8_t dec[16];
    for (int pad = 0; pad < 2; pad++) {
      const char *in = pad ? padded[i] : enc;
      long got = pc_base64_decode((const uint8_t *)in, strlen(in), dec);
      ck_assert_int_eq(got, (long)n);
      ck_assert(memcmp(dec, plain[i], n) == 0);
    }
  }
  uint8_t dec[16];
  ck_assert_int_eq(pc_base64_decode((const uint8_t *)"-_8", 3, dec), 2); /* URL-safe */
  ck_assert_int_eq(dec[0], 0xfb);
  ck_assert_int_eq(pc_base64_decode((const uint8_t *)"AA=A", 4, dec), -1);
  ck_assert_int_eq(pc_base64_decode((const uint8_t *)"abcde", 5, dec), -1);
  ck_assert_int_eq(pc_base64_decode((const uint8_t *)"ab!d", 4, dec), -1);
}
END_TEST

/* One line, then nothing until the interval passed; the next line hears
 * how many were held back. */
START_TEST(ratelimit_counts_what_it_holds_back) {
  pc_ratelimit_t rl = {0};
  uint64_t skipped = 99;
  ck_assert(pc_ratelimit(&rl, 60000, &skipped));
  ck_assert_uint_eq(skipped, 0);
  ck_assert(!pc_ratelimit(&rl, 60000, &skipped));
  ck_assert(!pc_ratelimit(&rl, 60000, &skipped));
  rl.next_ms = pc_now_ms(); /* as if the interval passed */
  ck_assert(pc_ratelimit(&rl, 60000, &skipped));
  ck_assert_uint_eq(skipped, 2);
  char buf[48];
  ck_assert_str_eq(pc_suppressed(2, buf), " (2 similar suppressed)");
  ck_assert_str_eq(pc_suppressed(0, buf), "");
  ck_assert_str_eq(pc_fmt_bytes(0, buf), "0 bytes");
  ck_assert_str_eq(pc_fmt_bytes(1023, buf), "1023 bytes");
  ck_assert_str_eq(pc_fmt_bytes(1024, buf), "1 KiB");
  ck_assert_str_eq(pc_fmt_bytes(67108864, buf), "64 MiB");
  ck_assert_str_eq(pc_fmt_bytes(268435456, buf), "256 MiB");
  ck_assert_str_eq(pc_fmt_bytes(3ull << 29, buf), "1.5 GiB");
  ck_assert_str_eq(pc_fmt_bytes(1ull << 40, buf), "1 TiB");
  ck_assert_str_eq(pc_fmt_bytes(UINT64_MAX, buf), "16.0 EiB");
  ck_assert_str_eq(pc_fmt_ms(0, buf), "0 ms");
  ck_assert_str_eq(pc_fmt_ms(1500, buf), "1500 ms");
  ck_assert_str_eq(pc_fmt_ms(30000, buf), "30 s");
  ck_assert_str_eq(pc_fmt_ms(300000, buf), "5 min");
  ck_assert_str_eq(pc_fmt_ms(90000, buf), "90 s");
  ck_assert_str_eq(pc_fmt_ms(7200000, buf), "2 h");
  ck_assert_uint_eq(pc_hash64("abc", 3), pc_hash64("abc", 3));
  ck_assert_uint_ne(pc_hash64("abc", 3), pc_hash64("abd", 3));
}
END_TEST

/* ---- the request memory budget (budget.c) ------------------------------------ */

/* Takes fit under the limit or take nothing; gives make room again; a
 * refusal is counted with its bytes; NULL takes everything. */
START_TEST(budget_take_give) {
  pc_budget_t b = {.key = "test.limit"};
  pc_budget_set_limit(&b, 1000);
  ck_assert(pc_budget_take(&b, 600));
  ck_assert(pc_budget_fits(&b, 400));
  ck_assert(!pc_budget_fits(&b, 401));
  ck_assert(!pc_budget_take(&b, 401));
  ck_assert_uint_eq(pc_budget_held(&b), 600);
  ck_assert(pc_budget_take(&b, 400));
  ck_assert(!pc_budget_take(&b, 1));
  ck_assert(!pc_budget_take(&b, UINT64_MAX)); /* no overflow */
  pc_budget_give(&b, 1000);
  ck_assert_uint_eq(pc_budget_held(&b), 0);
  ck_assert(!pc_budget_take(&b, 1001)); /* more than the whole limit */
  pc_budget_refused(&b, 1001, "test");
  pc_budget_refused(&b, 5, "test");
  ck_assert_uint_eq(atomic_load(&b.refusals), 2);
  ck_assert_uint_eq(atomic_load(&b.refused_bytes), 1006);
  pc_budget_set_limit(&b, 0); /* no limit */
  ck_assert(pc_budget_take(&b, (uint64_t)1 << 50));
  ck_assert(pc_budget_take(NULL, 5));
  ck_assert(pc_budget_fits(NULL, UINT64_MAX));
  /* Defaults: half of memory_limiter's soft limit; else from the machine. */
  ck_assert_uint_eq(pc_budget_default(800u << 20), 400u << 20);
  ck_assert_uint_ge(pc_budget_default(0), (uint64_t)64 << 20);
  /* At most 512 MiB whatever the machine: a 64 MiB decompression bomb
   * asking for 16 times its size is refused (bench/attacks.sh). */
  ck_assert_uint_le(pc_budget_default(0), PC_BUDGET_DEFAULT_MAX);
  ck_assert_uint_eq(PC_BUDGET_DEFAULT_MAX, (uint64_t)512 << 20);
  if (pc_memory_total() >= (int64_t)2 << 30)
    ck_assert_uint_eq(pc_budget_default(0), PC_BUDGET_DEFAULT_MAX);
  pc_budget_t *r = pc_request_budget();
  ck_assert_ptr_eq(r, pc_request_budget());
  ck_assert_str_eq(r->key, PC_REQUEST_BUDGET_KEY);
  ck_assert_uint_eq(pc_budget_limit(r), pc_budget_default(0));
}
END_TEST

static void *budget_hammer(void *arg) {
  pc_budget_t *b = arg;
  for (int i = 0; i < 50000; i++) {
    uint64_t n = (uint64_t)(i % 7) * 100 + 1;
    if (pc_budget_take(b, n)) {
      ck_assert_uint_le(pc_budget_held(b), pc_budget_limit(b));
      pc_budget_give(b, n);
    }
  }
  return NULL;
}

/* From several threads at once (decode jobs take in the thread pool): the
 * limit is never passed and everything given back adds up to zero. */
START_TEST(budget_threads) {
  pc_budget_t b = {0};
  pc_budget_set_limit(&b, 2000);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, budget_hammer, &b);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  ck_assert_uint_eq(pc_budget_held(&b), 0);
}
END_TEST

/* What a decompressor holds besides its output: zlib's state, zstd's
 * window (never more than about the output limit). */
START_TEST(decompress_scratch) {
  uint8_t in[1 << 16];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 13 % 7);
  pc_buf_t z = {0};
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 19, in, sizeof in, &z), 0);
  size_t s = pc_decompress_scratch(PC_ENC_ZSTD, z.p, z.n, 1 << 20);
  ck_assert_uint_gt(s, sizeof in / 2); /* the window, about the content size */
  ck_assert_uint_le(s, (1 << 20) + (256 << 10));
  ck_assert_uint_le(pc_decompress_scratch(PC_ENC_ZSTD, (const uint8_t *)"junk", 4, 1000),
                    1000 + (256 << 10));
  ck_assert_uint_eq(pc_decompress_scratch(PC_ENC_GZIP, z.p, z.n, 1 << 20), 64 * 1024);
  ck_assert_uint_eq(pc_decompress_scratch(PC_ENC_IDENTITY, z.p, z.n, 1 << 20), 0);
  pc_buf_free(&z);
}
END_TEST

/* An exporter's zstd body is made at the Collector's default level (1, see
 * PC_BODY_ZSTD_LEVEL), not zstd's own (3): the same bytes as a level-1
 * frame of the same input, on input where the two levels differ. */
START_TEST(body_zstd_at_the_collectors_level) {
  pc_buf_t plain = {0};
  uint32_t x = 12345;
  for (int i = 0; i < 20000; i++) { /* varints of skewed values, as profiles' samples */
    x = x * 1103515245u + 12345u;
    uint8_t rec[3] = {0x08, (uint8_t)(x >> 27), (uint8_t)(i % 7)};
    pc_buf_append(&plain, rec, sizeof rec);
  }
  pc_buf_t l1 = {0}, l3 = {0};
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 1, plain.p, plain.n, &l1), 0);
  ck_assert_int_eq(pc_compress(PC_ENC_ZSTD, 3, plain.p, plain.n, &l3), 0);
  ck_assert(l1.n != l3.n || memcmp(l1.p, l3.p, l1.n) != 0);
  pc_body_t *b = pc_body_new(&plain, false, false, 1, 1, NULL);
  ck_assert_int_eq(pc_body_compress(b, 1u << PC_ENC_ZSTD), 0);
  const pc_bytes_t *z = b->v[PC_ENC_ZSTD];
  ck_assert_uint_eq(z->n, l1.n);
  ck_assert_mem_eq(z->p, l1.p, l1.n);
  pc_body_unref(b);
  pc_buf_free(&l1);
  pc_buf_free(&l3);
}
END_TEST

/* A body's compressed variants are keyed by (encoding, level): two
 * exporters at different gzip levels get a frame each, made at its own
 * level; the same level asked for twice (or by its number, or 0 for the
 * default) is one variant, compressed once. */
START_TEST(body_variants_keyed_by_level) {
  unsigned g6, g0, g9, g9b, z1, z3;
  ck_assert_int_eq(pc_body_variant(PC_ENC_GZIP, 6, &g6), 0);
  ck_assert_int_eq(pc_body_variant(PC_ENC_GZIP, 0, &g0), 0);
  ck_assert_int_eq(pc_body_variant(PC_ENC_ZSTD, PC_BODY_ZSTD_LEVEL, &z1), 0);
  ck_assert_uint_eq(g6, PC_ENC_GZIP); /* the defaults are the encodings' own variants */
  ck_assert_uint_eq(g0, PC_ENC_GZIP);
  ck_assert_uint_eq(z1, PC_ENC_ZSTD);
  ck_assert_int_eq(pc_body_variant(PC_ENC_GZIP, 9, &g9), 0);
  ck_assert_int_eq(pc_body_variant(PC_ENC_ZSTD, 3, &z3), 0);
  ck_assert_int_eq(pc_body_variant(PC_ENC_GZIP, 9, &g9b), 0);
  ck_assert_uint_eq(g9, g9b);
  ck_assert_uint_gt(g9, PC_ENC_ZSTD);
  ck_assert_uint_lt(g9, PC_BODY_VARIANTS);
  ck_assert_uint_ne(g9, z3);
  ck_assert_int_eq(pc_body_variant_encoding(g9), PC_ENC_GZIP);
  ck_assert_int_eq(pc_body_variant_encoding(z3), PC_ENC_ZSTD);

  pc_buf_t plain = {0}, want9 = {0}, want6 = {0}, back = {0};
  uint32_t x = 777;
  for (int i = 0; i < 30000; i++) { /* compressible, but not trivially: the levels differ */
    x = x * 1103515245u + 12345u;
    uint8_t rec[4] = {0x08, (uint8_t)(x >> 28), (uint8_t)(i % 13), (uint8_t)(i / 256)};
    pc_buf_append(&plain, rec, sizeof rec);
  }
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 9, plain.p, plain.n, &want9), 0);
  ck_assert_int_eq(pc_compress(PC_ENC_GZIP, 6, plain.p, plain.n, &want6), 0);
  ck_assert(want9.n != want6.n || memcmp(want9.p, want6.p, want6.n) != 0);
  size_t plain_n = plain.n;
  pc_buf_t copy = {0};
  pc_buf_append(&copy, plain.p, plain.n);
  pc_body_t *b = pc_body_new(&plain, false, false, 1, 1, NULL);
  uint64_t made = pc_body_compressions();
  /* Two exporters at 6 and one at 9 asking together: two compressions. */
  ck_assert_int_eq(pc_body_compress(b, 1u << g6 | 1u << g0 | 1u << g9), 0);
  ck_assert_uint_eq(pc_body_compressions(), made + 2);
  const pc_bytes_t *v6 = b->v[PC_ENC_GZIP], *v9 = b->v[g9];
  ck_assert_ptr_nonnull(v6);
  ck_assert_ptr_nonnull(v9);
  ck_assert_uint_eq(v6->n, want6.n);
  ck_assert_mem_eq(v6->p, want6.p, want6.n);
  ck_assert_uint_eq(v9->n, want9.n);
  ck_assert_mem_eq(v9->p, want9.p, want9.n);
  ck_assert(v9->framed && v9->p[-5] == 1); /* framed for gRPC like every variant */
  pc_err_t err = {0};
  ck_assert_int_eq(pc_decompress(PC_ENC_GZIP, v9->p, v9->n, plain_n, &back, &err), 0);
  ck_assert_uint_eq(back.n, copy.n);
  ck_assert_mem_eq(back.p, copy.p, copy.n);
  /* Asked again by the second level-9 exporter, or its queue's retry: nothing new. */
  ck_assert_int_eq(pc_body_compress(b, 1u << g9b), 0);
  ck_assert_uint_eq(pc_body_compressions(), made + 2);
  ck_assert_ptr_eq(b->v[g9], v9);
  ck_assert_ptr_null(b->v[z3]);
  pc_body_unref(b);
  /* The variants are few: past PC_BODY_VARIANTS, a clear PC_ELIMIT. */
  int rc = 0;
  unsigned got = 0;
  for (int level = 1; level <= 12 && !rc; level++) rc = pc_body_variant(PC_ENC_DEFLATE, level, &got);
  ck_assert_int_eq(rc, PC_ELIMIT);
  pc_buf_free(&want9);
  pc_buf_free(&want6);
  pc_buf_free(&back);
  pc_buf_free(&copy);
}
END_TEST

/* ---- redact.c ---------------------------------------------------------------- */

START_TEST(redact_urls) {
  static const char *const cases[][2] = {
      {"https://user:PASS@host:4318/v1", "https://user:xxxxx@host:4318/v1"},
      {"https://TOKEN@host/", "https://xxxxx@host/"},
      {"http://a:b@c@host", "http://a:xxxxx@host"},
      {"https://host:4318/v1development/profiles", "https://host:4318/v1development/profiles"},
      {"https://host/p?api_key=K1&tenant=t&access_token=T2#f",
       "https://host/p?api_key=xxxxx&tenant=t&access_token=xxxxx#f"},
      {"https://host/p@x", "https://host/p@x"}, /* an '@' in the path is no userinfo */
      {"user:pw@host:4317", "user:xxxxx@host:4317"},
      {"", ""},
  };
  char out[256];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    ck_assert_str_eq(pc_redact_url(cases[i][0], out, sizeof out), cases[i][1]);
  ck_assert_str_eq(pc_redact_url(NULL, out, sizeof out), "");
  /* Cut to the buffer, never past it, and never showing the secret. */
  char small[16];
  pc_redact_url("https://user:PASSWORD@host", small, sizeof small);
  ck_assert_str_eq(small, "https://user:xx");
}
END_TEST

START_TEST(redact_header_values) {
  static const char *const secret[] = {"Authorization", "proxy-authorization", "X-Auth-Token",
                                       "x-api-key", "Cookie", "x-honeycomb-team",
                                       "ocp-apim-subscription-key", "x-client-secret"};
  static const char *const plain[] = {"x-scope-orgid", "content-type", "x-tenant", "host"};
  pc_str_t v = PC_STR_LIT("Bearer s3cret");
  for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
    pc_str_t k = {(const uint8_t *)secret[i], strlen(secret[i])};
    ck_assert_msg(pc_redact_key(k), "%s", secret[i]);
    ck_assert(pc_str_eq(pc_redact_value(k, v), PC_STR_LIT(PC_REDACTED)));
  }
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    pc_str_t k = {(const uint8_t *)plain[i], strlen(plain[i])};
    ck_assert_msg(!pc_redact_key(k), "%s", plain[i]);
    ck_assert(pc_str_eq(pc_redact_value(k, v), v));
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("err");
  tcase_add_test(tc, err_names);
  tcase_add_test(tc, json_string_escapes);
  tcase_add_test(tc, base64_vectors);
  tcase_add_test(tc, ratelimit_counts_what_it_holds_back);
  suite_add_tcase(s, tc);
  tc = tcase_create("compress");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, compress_roundtrip, 0, 4);
  tcase_add_test(tc, compressors_trimmed_while_in_use);
  tcase_add_loop_test(tc, decompression_bomb_stops_at_limit, 0, 3);
  tcase_add_loop_test(tc, output_buffer_of_exact_size, 0, 4);
  tcase_add_test(tc, gzip_trailer_is_only_a_hint);
  tcase_add_test(tc, corrupt_input);
  tcase_add_test(tc, encoding_names);
  tcase_add_test(tc, decompress_scratch);
  tcase_add_test(tc, body_zstd_at_the_collectors_level);
  tcase_add_test(tc, body_variants_keyed_by_level);
  suite_add_tcase(s, tc);
  tc = tcase_create("budget");
  tcase_add_test(tc, budget_take_give);
  tcase_add_test(tc, budget_threads);
  suite_add_tcase(s, tc);
  tc = tcase_create("metrics");
  tcase_add_test(tc, metrics_group_families);
  tcase_add_test(tc, metrics_escape_label_values);
  tcase_add_test(tc, metrics_histogram_is_cumulative);
  tcase_add_test(tc, metrics_merge_sums_workers);
  tcase_add_test(tc, cpus_usable_within_affinity);
  suite_add_tcase(s, tc);
  tc = tcase_create("redact");
  tcase_add_test(tc, redact_urls);
  tcase_add_test(tc, redact_header_values);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
