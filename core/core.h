/* core.h - the few things every profcol module shares: byte views, error
 * codes with one name table, error details with a location, growable byte
 * buffers and (de)compression with hard output limits.
 *
 * Conventions (see shared/STYLE.md): functions return 0 or a negative PC_E*
 * code; details go into a caller-provided pc_err_t. A view (pc_str_t) never
 * owns its bytes and is never NUL-terminated. */
#ifndef PC_CORE_H
#define PC_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h" /* pc_ratelimit_t */

/* A view of bytes owned by someone else. */
typedef struct {
  const uint8_t *p;
  size_t n;
} pc_str_t;

/* The struct that holds member, from a pointer to that member (libuv's
 * handles live inside their owner; STYLE.md). */
#ifndef container_of
#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

#define PC_STR_LIT(s) ((pc_str_t){(const uint8_t *)(s), sizeof(s) - 1})
#define PC_STR_FMT(s) (int)(s).n, (const char *)(s).p

static inline bool pc_str_eq(pc_str_t a, pc_str_t b) {
  return a.n == b.n && (a.n == 0 || __builtin_memcmp(a.p, b.p, a.n) == 0);
}

/* Error codes: negated errno values, plus project codes from -4000. */
#define PC_ERRNO_MAP(X)                                                   \
  X(ENOMEM, -12, "out of memory")                                         \
  X(EINVAL, -22, "invalid argument")                                      \
  X(EIO, -5, "input/output error")                                        \
  X(EAGAIN, -11, "resource temporarily unavailable, retry later")         \
  X(ELIMIT, -4001, "limit exceeded")                                      \
  X(EDECODE, -4002, "bad payload")                                        \
  X(EENCODING, -4003, "unsupported encoding")                             \
  X(ECORRUPT, -4004, "corrupt compressed data")                          \
  X(EREPORTED, -4005, "failed, and already reported")

enum {
#define PC_ERR_ENUM(name, val, text) PC_##name = (val),
  PC_ERRNO_MAP(PC_ERR_ENUM)
#undef PC_ERR_ENUM
};

/* "ELIMIT", "EDECODE", ... for logs; "unknown" for codes not in the map. */
const char *pc_err_name(int code);
/* Human text for a code. */
const char *pc_strerror(int code);

/* Every problem found by a check that goes on after the first one (config
 * validation), in the order found; a message already in the list is not
 * added again. */
typedef struct {
  char **msgs;
  size_t n;
} pc_errlist_t;

void pc_errlist_add(pc_errlist_t *l, const char *msg);
void pc_errlist_free(pc_errlist_t *l);

/* Details of a failure: what and where. line/col are 1-based and 0 when
 * unknown; file is a static or caller-owned string (may be NULL). */
typedef struct {
  int code;
  const char *file;
  int line;
  int col;
  char msg[256];
} pc_err_t;

/* Fill err (if not NULL) and return code. The message is truncated to fit. */
int pc_err_set(pc_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Abort with file:line after a failed small, fixed-size allocation. */
_Noreturn void pc__oom(const char *file, int line);
#define pc_oom() pc__oom(__FILE__, __LINE__)

/* malloc/realloc/calloc that abort on failure: for small, bounded sizes. */
void *pc_xmalloc(size_t n);
void *pc_xcalloc(size_t count, size_t size);
void *pc_xrealloc(void *p, size_t n);
/* A malloc'd copy of s that aborts on failure. */
char *pc_xstrdup(const char *s);

/* A growable byte buffer. The creator frees with pc_buf_free. */
typedef struct {
  uint8_t *p;
  size_t n;
  size_t cap;
} pc_buf_t;

/* Make room for at least extra more bytes; returns PC_ENOMEM on failure. */
int pc_buf_reserve(pc_buf_t *b, size_t extra);
int pc_buf_append(pc_buf_t *b, const void *data, size_t n);
void pc_buf_free(pc_buf_t *b);

/* Append s as a JSON string literal (quotes included), escaping what JSON
 * requires. Bytes are copied as they are: callers pass valid UTF-8. */
int pc_buf_json_string(pc_buf_t *b, const uint8_t *s, size_t n);
/* Append formatted text. */
int pc_buf_printf(pc_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Content encodings, as named by HTTP's Content-Encoding. */
typedef enum {
  PC_ENC_IDENTITY = 0,
  PC_ENC_GZIP,
  PC_ENC_DEFLATE, /* zlib format (RFC 1950), as HTTP means it */
  PC_ENC_ZSTD,
} pc_encoding_t;

/* Parse a Content-Encoding token ("gzip", "x-gzip", "deflate", "zstd",
 * "identity", "" ignoring case); PC_EENCODING for anything else. */
int pc_encoding_parse(pc_str_t name, pc_encoding_t *out);
const char *pc_encoding_name(pc_encoding_t enc);
/* Guess an encoding from magic bytes (gzip 1f8b, zstd 28b52ffd). */
pc_encoding_t pc_encoding_sniff(const uint8_t *p, size_t n);
/* The decompressed size a compressed body announces (gzip's ISIZE trailer,
 * modulo 2^32; zstd's frame header), or 0 when it does not say. A hint only:
 * a body may lie, and decompression still stops at its limit. */
uint64_t pc_announced_size(pc_encoding_t enc, const uint8_t *p, size_t n);

/* Decompress in into out (appended), never letting out grow past limit bytes:
 * PC_ELIMIT as soon as the output would exceed it (a "bomb" is stopped after
 * at most limit bytes), PC_ECORRUPT for damaged or truncated input. */
int pc_decompress(pc_encoding_t enc, const uint8_t *in, size_t n, size_t limit,
                  pc_buf_t *out, pc_err_t *err);
/* Memory the decompressor itself may hold while decompressing in with
 * limit (zstd's window, zlib's state), besides its output: for a budget. */
size_t pc_decompress_scratch(pc_encoding_t enc, const uint8_t *in, size_t n, size_t limit);
/* Compress in into out (appended). level 0 picks the codec's default. The
 * calling thread's compressor is made at its first call and reused until
 * the thread ends (compress.c). */
int pc_compress(pc_encoding_t enc, int level, const uint8_t *in, size_t n,
                pc_buf_t *out);
/* Free every thread's kept compressors that are not compressing now (the
 * process went quiet: service/quiet.c); each is made again at its
 * thread's next compression. Any thread. */
void pc_compress_trim(void);

/* ---- shared bytes and finished bodies (body.c) -------------------------------
 * A finished request body is encoded once and compressed once per encoding
 * some consumer sends, then shared read-only by every exporter queue, every
 * retry and the persistent queue's writer, by reference (as h2o's shared
 * chunks). Reference counts are atomic: a body may be made in the thread
 * pool and released on any thread. */

/* Immutable bytes with a reference count; the last unref frees them. */
typedef struct pc_bytes {
  atomic_uint refs;
  size_t n;
  const uint8_t *p;
  struct pc_bytes *owner; /* a view: p lies in owner's bytes (held); else p is owned */
  uint8_t *alloc;         /* owned allocation (p - PC_BODY_HEADROOM or p); NULL for a view */
  size_t cap;             /* alloc's size (what holding the bytes costs); 0 for a view */
  bool framed;            /* the PC_BODY_HEADROOM bytes before p hold a gRPC message prefix */
} pc_bytes_t;

/* Bytes before each compressed variant: the 5-byte gRPC message prefix
 * (compressed flag, big-endian length), filled, so the gRPC exporter sends
 * a variant as it lies, without a copy. */
#define PC_BODY_HEADROOM 5

/* Take buf's bytes (buf is left empty); one reference. */
pc_bytes_t *pc_bytes_from_buf_take(pc_buf_t *buf);
/* Take buf's allocation, of which p[0..n) is a part, as bytes p[0..n)
 * (buf is left empty); one reference. */
pc_bytes_t *pc_bytes_from_buf_part(pc_buf_t *buf, const uint8_t *p, size_t n);
/* A copy of p[0..n), one reference; NULL when malloc fails. */
pc_bytes_t *pc_bytes_copy(const uint8_t *p, size_t n);
/* p[0..n), which lies in owner's bytes, sharing them (owner gets a reference). */
pc_bytes_t *pc_bytes_view(pc_bytes_t *owner, const uint8_t *p, size_t n);
pc_bytes_t *pc_bytes_ref(pc_bytes_t *b);
void pc_bytes_unref(pc_bytes_t *b); /* NULL is fine */
/* Let go of b: when this was its last reference and b owns its
 * allocation, *out gets that (n 0) rather than it being freed. */
bool pc_bytes_unref_keep(pc_bytes_t *b, pc_buf_t *out);

/* Spare buffers, process-wide: large buffers a keeper let go of (the span
 * store's window drops the receivers' bodies it kept), for the next body
 * a receiver reads: memory mapped and touched already, where a fresh
 * allocation of a few hundred KB faults its pages in one by one, which on
 * a VM costs more than the copy keeping the body saves (bench_tracelink).
 * At most PC_SPARES of them, PC_SPARES_BYTES in all, the newest kept;
 * they count in no budget until taken. Any thread. */
#define PC_SPARES 16
#define PC_SPARES_BYTES ((size_t)8 << 20)
void pc_spare_give(pc_buf_t *b); /* b is left empty */
/* A spare of at least min and at most max bytes into *out (empty): false
 * when there is none. */
bool pc_spare_take(size_t min, size_t max, pc_buf_t *out);
/* The references held now (tests). */
unsigned pc_bytes_refs(const pc_bytes_t *b);

/* Bytes a consumer may keep instead of copying them: a decoded request's
 * encoding lies in a buffer its receiver would reuse for the next request
 * (pc_request_t.encoded_lender). keep() makes that buffer shared bytes and
 * returns a reference to them (NULL when it cannot, e.g. out of memory:
 * copy then); the receiver then lets the buffer go instead of reusing it,
 * and stops counting it in its request memory: the keeper counts cap. Call
 * it during the consume call, on its thread; a second call gives another
 * reference to the same bytes. */
typedef struct pc_bytes_lender {
  pc_bytes_t *(*keep)(struct pc_bytes_lender *l);
  size_t cap; /* the buffer's size, what keeping it costs (it may exceed the bytes) */
} pc_bytes_lender_t;

/* A body's variants: its encoding and its compressions, each one
 * (encoding, level), so that two exporters sending at different levels
 * get their own and two at the same level share one. Variants 0 to
 * PC_ENC_ZSTD are the encodings at their default levels (gzip and deflate
 * 6, zstd PC_BODY_ZSTD_LEVEL), so a mask of 1 << pc_encoding_t still names
 * them; others are numbered by pc_body_variant, process-wide, as
 * configurations ask for them. 16: every pair an exporter's config
 * can ask for (gzip's eight other levels, zstd's three other speeds, see
 * exporter/client.c) with room to spare, at two pointers per variant per
 * body; past it pc_body_variant refuses (a config error). */
#define PC_BODY_VARIANTS 16

/* One finished, immutable request: its protobuf encoding (or OTLP-JSON for
 * traces that came so) and a compressed variant per encoding asked for. */
typedef struct pc_body {
  atomic_uint refs;
  bool traces;                     /* an ExportTraceServiceRequest, else profiles */
  bool json;                       /* OTLP-JSON, else protobuf */
  uint64_t profiles, samples;      /* what it holds (0 for traces) */
  size_t plain_n;                  /* bytes before compression */
  pc_bytes_t *md;                  /* client metadata (pc_md_encode form), or NULL */
  /* By variant (pc_body_variant): v[PC_ENC_IDENTITY] is the encoding; v[e]
   * for a pc_encoding_t e its default level's compression. */
  pc_bytes_t *v[PC_BODY_VARIANTS];
  /* The loop's compression of v[i] in the thread pool while it runs, else
   * NULL (exporter/bodyjob.c): only the loop thread reads or writes it, and
   * v[i] is read only once it is NULL again. */
  void *job[PC_BODY_VARIANTS];
} pc_body_t;

/* Bodies up to this many bytes are compressed on the loop; larger ones in
 * libuv's thread pool. A pool round trip costs about what 10 KB of work
 * does, and 128 KiB is the receivers' bound for work on the loop (INLINE_MAX
 * in receiver/otlp.c and grpc.c): a millisecond or two with gzip. */
#define PC_BODY_INLINE_MAX ((size_t)128 << 10)

/* A body of the encoding in plain (taken, plain is left empty), one
 * reference; md (pc_md_encode form, may be NULL) gets a reference. */
pc_body_t *pc_body_new(pc_buf_t *plain, bool traces, bool json, uint64_t profiles,
                       uint64_t samples, pc_bytes_t *md);
pc_body_t *pc_body_ref(pc_body_t *b);
void pc_body_unref(pc_body_t *b); /* NULL is fine */
/* A new body (one reference) sharing b's encoding and metadata but none of
 * its compressed variants: for a consumer that must compress now while
 * another compression of b runs in the thread pool. */
pc_body_t *pc_body_fork(const pc_body_t *b);
/* The zstd level of the exporters' bodies: the Collector's. Its
 * confighttp sets an unset compression_params.level to -1
 * (configcompression.DefaultCompressionLevel, zlib's "default") and hands
 * it to klauspost's zstd.EncoderLevelFromZstd, which maps every level
 * below 3 to SpeedFastest, that library's equivalent of zstd's level 1. On
 * a samples-heavy batch level 1 takes about 0.6 of level 3's CPU for a
 * 6 % larger output (bench/README.md, "zstd"). gzip stays at the codec's
 * default, 6, which is also Go's compress/gzip default. */
#define PC_BODY_ZSTD_LEVEL 1
/* The variant of bodies compressed with enc at level (the codec's own
 * level: libdeflate 1-12, zstd's; 0: the default, as variant enc), made
 * known the first time it is asked for: *variant gets its number. The
 * same (enc, level) always gets the same number, and level equal to the
 * default gets enc. PC_ELIMIT when PC_BODY_VARIANTS are taken. Any thread
 * (config load); a number, once given, never changes. */
int pc_body_variant(pc_encoding_t enc, int level, unsigned *variant);
/* The encoding of a variant (pc_body_variant's number). */
pc_encoding_t pc_body_variant_encoding(unsigned variant);
/* Make the variants of the mask (1 << variant each) not made yet. Until
 * the body is shared this may run on any thread (the thread pool).
 * PC_ENOMEM / PC_ELIMIT from the codec. */
int pc_body_compress(pc_body_t *b, unsigned variants);
/* Variants made by pc_body_compress in this process: one per variant per
 * body, however many exporters send it (self-telemetry). */
uint64_t pc_body_compressions(void);

/* ---- client metadata --------------------------------------------------------
 * What the Collector calls client.Info.Metadata: the headers (OTLP/HTTP) or
 * metadata (gRPC) of the request that brought the data, as key/value views.
 * A key may repeat (a repeated header): each occurrence is one pair, in the
 * order received. Keys match case-insensitively. Whoever builds one owns the
 * pairs and the bytes; a consumer that keeps metadata past its consume call
 * copies it (pc_md_encode). */
typedef struct {
  pc_str_t key, value;
} pc_md_pair_t;

typedef struct {
  const pc_md_pair_t *v;
  size_t n;
} pc_metadata_t;

/* The i-th value (0-based) of key, or false when there are fewer. */
bool pc_md_get(const pc_metadata_t *md, pc_str_t key, size_t i, pc_str_t *value);
/* Append md as bytes (u32 LE lengths before each key and value) to out: the
 * form in which batches and queues keep it. */
int pc_md_encode(const pc_metadata_t *md, pc_buf_t *out);
/* Views of the pairs encoded in p[0..n) (kept by the caller), in a malloc'd
 * array the caller frees (*out->v). PC_EDECODE when the bytes are not
 * pc_md_encode's output. */
int pc_md_decode(const uint8_t *p, size_t n, pc_metadata_t *out);
/* md in pc_md_encode form as shared bytes (body.c), or NULL when md is
 * NULL or empty. */
pc_bytes_t *pc_md_bytes(const pc_metadata_t *md);

/* ---- base64 (base64.c) ------------------------------------------------------
 * RFC 4648, for protobuf bytes in OTLP-JSON and gRPC's binary metadata. */

/* Characters pc_base64_encode writes for n bytes. */
size_t pc_base64_encoded_len(size_t n, bool pad);
/* Write the standard alphabet's encoding of p[0..n) to out (room for
 * pc_base64_encoded_len(n, pad) bytes), with '=' padding when pad (gRPC's
 * -bin metadata goes unpadded). Returns the characters written. */
size_t pc_base64_encode(const uint8_t *p, size_t n, bool pad, char *out);
/* Decode s[0..n), standard or URL-safe alphabet, padded or not, into out
 * (room for n / 4 * 3 + 2 bytes). Returns the bytes written, or -1 when s is
 * not base64 (a bad character, '=' but at the end, an impossible length). */
long pc_base64_decode(const uint8_t *s, size_t n, uint8_t *out);

/* ---- hashing (hash.c) -------------------------------------------------------- */

/* XXH3 of p[0..n): the one hash function of the project (DESIGN.md). */
uint64_t pc_hash64(const void *p, size_t n);

/* ---- the request memory budget (budget.c) -------------------------------------
 * One counter with a limit for the memory that clients' requests make the
 * process hold: bodies as received, decompressed, decoded. A holder takes
 * bytes before it allocates them and gives them back when it frees them; a
 * take that would pass the limit fails, and the holder refuses the request
 * (503 with Retry-After, gRPC UNAVAILABLE) instead of allocating. Thread-safe
 * (atomics); a NULL budget takes everything. */
typedef struct {
  _Atomic uint64_t held;  /* bytes taken and not given back */
  _Atomic uint64_t limit; /* 0: none */
  _Atomic uint64_t refusals, refused_bytes; /* requests refused, and what they needed */
  const char *key;        /* the config key that sets the limit, for messages */
  pc_ratelimit_t rl;      /* the refusal warnings */
} pc_budget_t;

/* Where the process's budget is configured (service/service.c). */
#define PC_REQUEST_BUDGET_KEY "service.max_request_memory"

/* The process's budget for request data, shared by every receiver. Its
 * limit starts at pc_budget_default(0); the service sets it from config. */
pc_budget_t *pc_request_budget(void);
/* Take n more bytes: false, and nothing taken, when held + n would pass the
 * limit. */
bool pc_budget_take(pc_budget_t *b, uint64_t n);
void pc_budget_give(pc_budget_t *b, uint64_t n);
/* Whether n more bytes would fit now (nothing is taken). */
bool pc_budget_fits(const pc_budget_t *b, uint64_t n);
uint64_t pc_budget_held(const pc_budget_t *b);
uint64_t pc_budget_limit(const pc_budget_t *b);
void pc_budget_set_limit(pc_budget_t *b, uint64_t limit);
/* A request that needed n more bytes was refused because of b: counted for
 * the self-telemetry, and logged (a warning with both numbers, at most one
 * per 10 s, saying how many more there were) with who as the log id. */
void pc_budget_refused(pc_budget_t *b, uint64_t n, const char *who);
/* A sane limit: half of soft_limit (memory_limiter's limit minus its spike
 * limit, so the budget refuses requests before memory_limiter refuses
 * everything) when it is not 0; else a quarter of what the process may use
 * (pc_memory_total), at least 64 MiB and at most PC_BUDGET_DEFAULT_MAX
 * (that, when the memory is unknown).
 *
 * Why at most 512 MiB: it holds a request of the receivers' default
 * max_request_body_size (64 MiB) as real payloads need it (64 MiB as
 * received, 64 MiB decompressed, the decoder's first try at 4 times that:
 * 384 MiB) with room for smaller ones beside it, but not the 16 times a
 * decompression bomb of that size asks for (1 GiB), which is refused with
 * 413 at once. A quarter of a large machine (6 GiB of 24) let one 2.7 KB
 * bomb take 584 MiB, and four of them 2.2 GiB. Gateways that take larger
 * requests, or many at once, set service.max_request_memory. */
#define PC_BUDGET_DEFAULT_MAX ((uint64_t)512 << 20)
uint64_t pc_budget_default(uint64_t soft_limit);

/* ---- memory (memory.c) ------------------------------------------------------ */

/* The process's resident set size in bytes (/proc/self/statm), -1 if unknown. */
int64_t pc_process_rss(void);
/* The memory the process may use in bytes: the cgroup's limit (v2
 * memory.max, v1 memory.limit_in_bytes) when there is one below the host's
 * MemTotal, else MemTotal; -1 if unknown. */
int64_t pc_memory_total(void);

/* ---- credentials in logs (redact.c) ------------------------------------------
 * Everything that prints a URL, a header or a client-metadata value passes
 * it through these first: an exporter's endpoint with user:password@, an
 * Authorization header, a batch shard named after metadata_keys values. */

#define PC_REDACTED "<redacted>"
#define PC_REDACTED_URL "xxxxx" /* as Go's url.URL.Redacted shows a password */

/* Whether a header or metadata name carries a credential: it holds auth,
 * token, secret, passw, pwd, apikey/api-key/api_key, cookie, credential,
 * session, signature, private or bearer, or ends in "-key" (any case). */
bool pc_redact_key(pc_str_t key);
/* value, or PC_REDACTED when key names a credential (and value is not empty). */
pc_str_t pc_redact_value(pc_str_t key, pc_str_t value);
/* url with its userinfo's password (or a user alone, often a token) and
 * the values of credential-named query parameters replaced, into out (cut
 * to cap); returns out. NULL gives "". */
const char *pc_redact_url(const char *url, char *out, size_t cap);

/* ---- where the config says to write, checked without writing (path.c) ------ */

/* Whether a file can be written at path: an existing file (not a
 * directory; not a symbolic link unless follow_links) that is writable, or
 * a writable directory to create it in. 0, or PC_EINVAL/PC_EIO with why
 * filled ("cannot create /x/y: directory /x: No such file or directory"). */
int pc_path_check_file(const char *path, bool follow_links, char *why, size_t why_size);
/* Whether path is a writable directory, or (with create) can be made: the
 * nearest existing parent is a writable directory. */
int pc_path_check_dir(const char *path, bool create, char *why, size_t why_size);

/* ---- files that steer the process (perms.c) -------------------------------- */

/* Log a warning (as component) when the file open on fd - a config file,
 * a token file: what says which - may be changed by others: writable by
 * every user, owned by another user than root or this one, or in a
 * directory every user may write to (without the sticky bit). */
void pc_warn_unsafe_file(int fd, const char *path, const char *what, const char *component);

/* ---- file descriptors (fd.c) ------------------------------------------------
 * A gateway's connections are descriptors, and so are what the process needs
 * to stay observable and do its job: the health and metrics endpoints'
 * connections, exporter sockets, queue and output files. Receivers leave a
 * reserve of descriptors free for those: a connection that would eat into
 * it is closed at once (counted and logged), so that a flood of clients
 * gets refusals while /metrics still answers. Thread-safe. */

/* Raise the soft RLIMIT_NOFILE to the hard limit, as Go's runtime does at
 * start (the common soft limit of 1024 is a relic of select()). *before and
 * *after get the soft limit; returns 0 or a negated errno. */
int pc_fd_limit_raise(uint64_t *before, uint64_t *after);
/* The soft limit now. */
uint64_t pc_fd_limit(void);
/* Descriptors receivers leave free (default 64; 0: none). */
void pc_fd_set_reserve(uint32_t n);
uint32_t pc_fd_reserve(void);
/* Whether fd, just handed out by accept(2) (the lowest free number, so all
 * below it are in use), leaves fewer than the reserve free. */
bool pc_fd_short(int fd);
/* Count one connection closed for lack of descriptors (or an EMFILE or
 * ENFILE from accept), and read the count, for self-telemetry. */
void pc_fd_count_exhausted(void);
uint64_t pc_fd_exhausted(void);
/* Descriptors open now (/proc/self/fd), -1 if unknown. */
int64_t pc_fd_open_count(void);

/* ---- CPUs (cpus.c) ------------------------------------------------------------ */

/* The CPUs the process may use, at least 1: those sched_getaffinity allows,
 * or fewer when its cgroup has a CPU quota (cpu.max; rounded up). */
uint32_t pc_cpus_usable(void);

/* ---- the worker a thread is (worker.c) ------------------------------------------ */

/* service.workers runs N copies of the pipelines, one per loop and thread.
 * generation numbers a config as started (1, 2, ... at each reload): the
 * workers of one generation listen on the same ports. */
typedef struct {
  uint32_t index; /* 0 .. count-1 */
  uint32_t count;
  uint64_t generation;
} pc_worker_t;

/* Set by the service on a worker's thread before the worker starts
 * anything, and again before each reload starts. */
void pc_worker_set(uint32_t index, uint32_t count, uint64_t generation);
/* The calling thread's: worker 0 of 1, generation 0, unless set. */
pc_worker_t pc_worker_self(void);

#endif
