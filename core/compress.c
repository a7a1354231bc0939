/* compress.c - gzip, deflate (zlib) and zstd, with a hard cap on output.
 *
 * Decompression streams into a growing buffer and stops the moment the
 * output would pass the caller's limit, so a decompression bomb costs at most
 * `limit` bytes of memory and the time to produce them.
 *
 * gzip, what the eBPF profiler and the Collector send, first tries
 * libdeflate, which inflates about 3 times as fast as zlib but only into a
 * buffer of known size: a gzip member states its size in its trailer.
 * Compression, always of a whole buffer, is libdeflate's too.
 *
 * Compressors are kept per thread (the loop's and each thread-pool thread's)
 * and reused, not made per call: a libdeflate compressor is 0.66 MB at level 6
 * (9 MB at 10 to 12) and a zstd context at level 3 1.3 MB for a 400 KB input,
 * each otherwise allocated (mmap'd: past malloc's threshold) and page-faulted
 * in afresh for every batch and body. They are made at a thread's first
 * compression, so an idle process holds none, and freed when the thread ends,
 * or by pc_compress_trim when the process goes quiet after a burst (a flooded
 * sidecar kept four of them, 1.7 MiB resident): each thread's are listed, and
 * locked while it compresses, so a trim from another thread frees only those
 * not in use. */
#include "core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libdeflate.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_estimateDStreamSize_fromFrame */
#include <zstd.h>

int pc_encoding_parse(pc_str_t name, pc_encoding_t *out) {
  static const struct {
    const char *name;
    pc_encoding_t enc;
  } names[] = {{"", PC_ENC_IDENTITY},        {"identity", PC_ENC_IDENTITY},
               {"gzip", PC_ENC_GZIP},        {"x-gzip", PC_ENC_GZIP},
               {"deflate", PC_ENC_DEFLATE},  {"zstd", PC_ENC_ZSTD}};
  /* Trim surrounding blanks: "Content-Encoding:  gzip " is still gzip. */
  while (name.n && (name.p[0] == ' ' || name.p[0] == '\t')) name.p++, name.n--;
  while (name.n && (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t'))
    name.n--;
  if (name.n == 0) { /* no header, or only blanks (p may be NULL) */
    *out = PC_ENC_IDENTITY;
    return 0;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i].name) == name.n &&
        strncasecmp(names[i].name, (const char *)name.p, name.n) == 0) {
      *out = names[i].enc;
      return 0;
    }
  }
  return PC_EENCODING;
}

const char *pc_encoding_name(pc_encoding_t enc) {
  switch (enc) {
  case PC_ENC_GZIP: return "gzip";
  case PC_ENC_DEFLATE: return "deflate";
  case PC_ENC_ZSTD: return "zstd";
  case PC_ENC_IDENTITY: break;
  }
  return "identity";
}

pc_encoding_t pc_encoding_sniff(const uint8_t *p, size_t n) {
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return PC_ENC_GZIP;
  if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
    return PC_ENC_ZSTD;
  return PC_ENC_IDENTITY;
}

uint64_t pc_announced_size(pc_encoding_t enc, const uint8_t *p, size_t n) {
  if (enc == PC_ENC_GZIP && n >= 18) /* 10-byte header + 8-byte trailer */
    return (uint64_t)p[n - 4] | (uint64_t)p[n - 3] << 8 | (uint64_t)p[n - 2] << 16 |
           (uint64_t)p[n - 1] << 24;
  if (enc == PC_ENC_ZSTD) {
    unsigned long long size = ZSTD_getFrameContentSize(p, n);
    if (size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR) return size;
  }
  return 0;
}

/* Room for the next chunk of output: at most one byte past the limit, which
 * is how overflow is noticed without producing more. The buffer grows by
 * doubling but never past start + limit + 1 bytes. */
static int out_room(pc_buf_t *out, size_t start, size_t limit, size_t *room) {
  size_t produced = out->n - start;
  size_t allowed = limit - produced + 1; /* produced <= limit here */
  if (out->cap == out->n) {
    size_t cap = out->cap < 64 * 1024 ? 64 * 1024 : out->cap * 2;
    if (cap - out->n > allowed) cap = out->n + allowed;
    uint8_t *p = realloc(out->p, cap);
    if (!p) return PC_ENOMEM;
    out->p = p;
    out->cap = cap;
  }
  *room = out->cap - out->n;
  if (*room > allowed) *room = allowed;
  return 0;
}

static int inflate_zlib(pc_encoding_t enc, const uint8_t *in, size_t n,
                        size_t limit, pc_buf_t *out, pc_err_t *err) {
  int window = 15 + 16; /* gzip */
  if (enc == PC_ENC_DEFLATE) {
    /* HTTP's "deflate" is the zlib format, but some clients send raw
     * deflate; a zlib header is recognisable by its check bits. */
    bool zlib_header = n >= 2 && (in[0] & 0x0f) == 8 &&
                       ((unsigned)in[0] << 8 | in[1]) % 31 == 0;
    window = zlib_header ? 15 : -15;
  }
  z_stream zs = {0};
  if (inflateInit2(&zs, window) != Z_OK) return PC_ENOMEM;
  size_t start = out->n;
  int rc = 0;
  zs.next_in = (Bytef *)(uintptr_t)in;
  for (;;) {
    /* avail_in is 32-bit: feed large inputs in slices. */
    if (zs.avail_in == 0) {
      size_t left = n - (size_t)((const uint8_t *)zs.next_in - in);
      zs.avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
    }
    size_t room;
    if ((rc = out_room(out, start, limit, &room))) break;
    if (room > UINT32_MAX) room = UINT32_MAX;
    zs.next_out = out->p + out->n;
    zs.avail_out = (uInt)room;
    int zrc = inflate(&zs, Z_NO_FLUSH);
    out->n += room - zs.avail_out;
    if (out->n - start > limit) {
      rc = pc_err_set(err, PC_ELIMIT,
                      "decompressed body exceeds the limit of %zu bytes", limit);
      break;
    }
    size_t consumed = (size_t)((const uint8_t *)zs.next_in - in);
    if (zrc == Z_STREAM_END) {
      /* gzip allows several members back to back. */
      if (consumed < n && enc == PC_ENC_GZIP && n - consumed >= 2 &&
          in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      if (consumed < n)
        rc = pc_err_set(err, PC_ECORRUPT,
                        "%zu bytes of garbage after the %s stream", n - consumed,
                        pc_encoding_name(enc));
      break;
    }
    if (zrc == Z_OK) continue;
    if (zrc == Z_BUF_ERROR && consumed == n && zs.avail_out != 0) {
      rc = pc_err_set(err, PC_ECORRUPT, "truncated %s stream",
                      pc_encoding_name(enc));
      break;
    }
    if (zrc == Z_BUF_ERROR) continue; /* needs more room */
    if (zrc == Z_MEM_ERROR) {
      rc = pc_err_set(err, PC_ENOMEM, "out of memory inflating");
      break;
    }
    rc = pc_err_set(err, PC_ECORRUPT, "corrupt %s stream: %s",
                    pc_encoding_name(enc), zs.msg ? zs.msg : "bad data");
    break;
  }
  inflateEnd(&zs);
  if (rc) out->n = start;
  return rc;
}

/* Deflate cannot expand data by more than about 1032:1, so a trailer that
 * claims more describes no real stream: it is not trusted with memory. */
#define DEFLATE_MAX_RATIO 1032

/* A body that is one gzip member whose trailer states a size within the
 * limit, inflated by libdeflate into a buffer of exactly that size. Returns
 * 0 when done, 1 when it does not apply or the data disagrees (several
 * members, a lying trailer, corrupt data): the streaming path then decides,
 * with its precise errors. */
static int gunzip_sized(const uint8_t *in, size_t n, size_t limit, pc_buf_t *out) {
  uint64_t isize = pc_announced_size(PC_ENC_GZIP, in, n);
  if (isize == 0 || isize > limit || isize / DEFLATE_MAX_RATIO > n) return 1;
  if (out->cap - out->n < isize) { /* exactly, not pc_buf_reserve's doubling */
    uint8_t *p = realloc(out->p, out->n + isize);
    if (!p) return 1;
    out->p = p;
    out->cap = out->n + isize;
  }
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  if (!d) return 1;
  size_t used_in = 0, used_out = 0;
  enum libdeflate_result r =
      libdeflate_gzip_decompress_ex(d, in, n, out->p + out->n, isize, &used_in, &used_out);
  libdeflate_free_decompressor(d);
  if (r != LIBDEFLATE_SUCCESS || used_in != n || used_out != isize) return 1;
  out->n += isize;
  return 0;
}

static int decompress_zstd(const uint8_t *in, size_t n, size_t limit,
                           pc_buf_t *out, pc_err_t *err) {
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx) return PC_ENOMEM;
  /* Refuse frames that need a window larger than the output limit allows:
   * bounds the decoder's own memory too. */
  unsigned wlog = 10;
  while (wlog < 31 && ((size_t)1 << wlog) < limit) wlog++;
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, (int)(wlog < 27 ? 27 : wlog));
  size_t start = out->n;
  ZSTD_inBuffer ib = {in, n, 0};
  int rc = 0;
  size_t last = 1;
  for (;;) {
    size_t room;
    if ((rc = out_room(out, start, limit, &room))) break;
    ZSTD_outBuffer ob = {out->p + out->n, room, 0};
    last = ZSTD_decompressStream(dctx, &ob, &ib);
    out->n += ob.pos;
    if (ZSTD_isError(last)) {
      rc = pc_err_set(err, PC_ECORRUPT, "corrupt zstd stream: %s",
                      ZSTD_getErrorName(last));
      break;
    }
    if (out->n - start > limit) {
      rc = pc_err_set(err, PC_ELIMIT,
                      "decompressed body exceeds the limit of %zu bytes", limit);
      break;
    }
    /* A frame ended with all input read: done, even when the output filled
     * the room exactly (calling again would start reading a next frame). */
    if (last == 0 && ib.pos == ib.size) break;
    if (ib.pos == ib.size && ob.pos < ob.size) {
      /* All input consumed and the decoder did not fill the room it had. */
      if (last != 0)
        rc = pc_err_set(err, PC_ECORRUPT, "truncated zstd stream");
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  if (rc) out->n = start;
  return rc;
}

int pc_decompress(pc_encoding_t enc, const uint8_t *in, size_t n, size_t limit,
                  pc_buf_t *out, pc_err_t *err) {
  switch (enc) {
  case PC_ENC_IDENTITY:
    if (n > limit)
      return pc_err_set(err, PC_ELIMIT, "body of %zu bytes exceeds the limit of %zu bytes",
                        n, limit);
    return pc_buf_append(out, in, n);
  case PC_ENC_GZIP:
    if (gunzip_sized(in, n, limit, out) == 0) return 0;
    return inflate_zlib(enc, in, n, limit, out, err);
  case PC_ENC_DEFLATE:
    return inflate_zlib(enc, in, n, limit, out, err);
  case PC_ENC_ZSTD:
    return decompress_zstd(in, n, limit, out, err);
  }
  return pc_err_set(err, PC_EENCODING, "unsupported encoding");
}

size_t pc_decompress_scratch(pc_encoding_t enc, const uint8_t *in, size_t n, size_t limit) {
  /* zlib: a 32 KiB window and about 7 KiB of state; libdeflate about as
   * much. */
  if (enc == PC_ENC_GZIP || enc == PC_ENC_DEFLATE) return 64 * 1024;
  if (enc != PC_ENC_ZSTD) return 0;
  /* zstd's streaming decoder keeps a window of history, as large as the
   * frame asks for (bounded by windowLogMax) or its content size; its pages
   * are touched only as output is produced, so never more than about the
   * output bounds it. */
  size_t est = ZSTD_estimateDStreamSize_fromFrame(in, n);
  size_t most = limit + ((size_t)256 << 10);
  return ZSTD_isError(est) || est > most ? most : est;
}

/* ---- per-thread compressors -------------------------------------------------- */

typedef struct compressors {
  pthread_mutex_t mu; /* held while its thread compresses, or a trim frees */
  struct compressors *prev, *next; /* every thread's, under all_mu */
  /* By level (1 to 12): exporters at different gzip levels
   * (compression_params.level) take turns on one thread, and making a
   * compressor afresh per body would cost what keeping it saves. A thread
   * holds one per level it has used: as a rule one. */
  struct libdeflate_compressor *deflate[13];
  ZSTD_CCtx *zstd;
} compressors_t;

static pthread_key_t comp_key;
static pthread_once_t comp_once = PTHREAD_ONCE_INIT;
static bool comp_key_ok;
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static compressors_t *all;

static void compressors_free(void *p) {
  compressors_t *c = p;
  if (!c) return;
  pthread_mutex_lock(&all_mu);
  if (c->prev) c->prev->next = c->next;
  else all = c->next;
  if (c->next) c->next->prev = c->prev;
  pthread_mutex_unlock(&all_mu);
  for (size_t i = 0; i < sizeof c->deflate / sizeof c->deflate[0]; i++)
    libdeflate_free_compressor(c->deflate[i]);
  ZSTD_freeCCtx(c->zstd);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void pc_compress_trim(void) {
  pthread_mutex_lock(&all_mu);
  for (compressors_t *c = all; c; c = c->next) {
    if (pthread_mutex_trylock(&c->mu)) continue; /* compressing now: kept */
    for (size_t i = 0; i < sizeof c->deflate / sizeof c->deflate[0]; i++) {
      libdeflate_free_compressor(c->deflate[i]);
      c->deflate[i] = NULL;
    }
    ZSTD_freeCCtx(c->zstd);
    c->zstd = NULL;
    pthread_mutex_unlock(&c->mu);
  }
  pthread_mutex_unlock(&all_mu);
}

static void comp_key_init(void) {
  comp_key_ok = pthread_key_create(&comp_key, compressors_free) == 0;
}

/* This thread's compressors, or NULL (no key, or out of memory: callers
 * then make one for the call, as before). */
static compressors_t *thread_compressors(void) {
  pthread_once(&comp_once, comp_key_init);
  if (!comp_key_ok) return NULL;
  compressors_t *c = pthread_getspecific(comp_key);
  if (c) return c;
  if (!(c = calloc(1, sizeof *c))) return NULL;
  if (pthread_setspecific(comp_key, c) != 0) {
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_lock(&all_mu);
  c->next = all;
  if (all) all->prev = c;
  all = c;
  pthread_mutex_unlock(&all_mu);
  return c;
}

/* A libdeflate compressor at level: t's (locked), kept for the next call,
 * or without t one for the caller to free. */
static struct libdeflate_compressor *deflate_compressor(compressors_t *t, int level) {
  if (!t) return libdeflate_alloc_compressor(level);
  if (!t->deflate[level]) t->deflate[level] = libdeflate_alloc_compressor(level);
  return t->deflate[level];
}

/* gzip and zlib-wrapped deflate by libdeflate: whole buffers are all we
 * compress, and it makes the same format about 3 times as fast as zlib at
 * the same level with an output within 1% of zlib's size (an 8 MB batch
 * at level 6: 20 against 6.6 MB/s on the shared bench VM; a 10 KB body:
 * 0.17 against 3.3 ms, zlib's per-stream set-up dominating). */
static int compress_deflate(pc_encoding_t enc, int level, const uint8_t *in, size_t n,
                            pc_buf_t *out) {
  compressors_t *t = thread_compressors();
  if (t) pthread_mutex_lock(&t->mu); /* against a trim from another thread */
  struct libdeflate_compressor *c =
      deflate_compressor(t, level <= 0 ? 6 : level > 12 ? 12 : level);
  if (!c) {
    if (t) pthread_mutex_unlock(&t->mu);
    return PC_ENOMEM;
  }
  bool gzip = enc == PC_ENC_GZIP;
  size_t bound = gzip ? libdeflate_gzip_compress_bound(c, n) : libdeflate_zlib_compress_bound(c, n);
  int rc = pc_buf_reserve(out, bound);
  if (rc == 0) {
    size_t got = gzip ? libdeflate_gzip_compress(c, in, n, out->p + out->n, out->cap - out->n)
                      : libdeflate_zlib_compress(c, in, n, out->p + out->n, out->cap - out->n);
    if (got) out->n += got;
    else rc = PC_ENOMEM; /* cannot happen with the bound's room */
  }
  if (t) pthread_mutex_unlock(&t->mu);
  else libdeflate_free_compressor(c);
  return rc;
}

/* zstd with this thread's context, which keeps its workspace (sized for
 * the largest input so far) from call to call. */
static int compress_zstd(int level, const uint8_t *in, size_t n, pc_buf_t *out) {
  size_t bound = ZSTD_compressBound(n);
  int rc = pc_buf_reserve(out, bound);
  if (rc) return rc;
  compressors_t *t = thread_compressors();
  if (t) pthread_mutex_lock(&t->mu); /* against a trim from another thread */
  ZSTD_CCtx *cctx = t ? t->zstd : NULL;
  if (!cctx && !(cctx = ZSTD_createCCtx())) {
    if (t) pthread_mutex_unlock(&t->mu);
    return PC_ENOMEM;
  }
  if (t) t->zstd = cctx;
  size_t got = ZSTD_compressCCtx(cctx, out->p + out->n, bound, in, n, level ? level : 3);
  if (t) pthread_mutex_unlock(&t->mu);
  else ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(got)) return PC_ENOMEM;
  out->n += got;
  return 0;
}

int pc_compress(pc_encoding_t enc, int level, const uint8_t *in, size_t n,
                pc_buf_t *out) {
  switch (enc) {
  case PC_ENC_IDENTITY:
    return pc_buf_append(out, in, n);
  case PC_ENC_GZIP:
  case PC_ENC_DEFLATE:
    if (n > UINT32_MAX / 2) return PC_ELIMIT;
    return compress_deflate(enc, level, in, n, out);
  case PC_ENC_ZSTD:
    return compress_zstd(level, in, n, out);
  }
  return PC_EENCODING;
}
