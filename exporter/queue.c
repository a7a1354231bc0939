/* queue.c - the exporters' sending queue: a bounded FIFO of finished request
 * bodies, kept in memory or, with a file_storage, also on disk so that a
 * batch acknowledged to a client survives kill -9 and (with fsync) a power
 * loss.
 *
 * On disk, a queue is a directory of its own (one per exporter id) holding:
 *   lock                 flock'd while open: one user per directory
 *   <id:016x>.seg        "PCQSEG1\n", then records appended in push order
 *   <id:016x>.ack        12-byte entries: record offset (LE64) + its crc32
 *   <id:016x>.seg.corrupt  a damaged segment set aside at open
 * A record is a 20-byte header - magic "PCQ1", payload length, meta (signal,
 * json, encoding, and bit 24: has metadata), profile count, crc32 of the
 * three fields and the payload - then the payload: the body, or with
 * metadata [u32 length][client metadata, pc_md_encode form] then the body.
 * All integers are little-endian. Records without metadata are as they were
 * before metadata existed, so older queue directories replay unchanged.
 *
 * fsync policy: a push writes its records and calls fdatasync on the segment
 * before returning 0 (when fsync is on), so an acknowledged batch is on
 * stable storage; a new segment also fsyncs the directory so its name
 * survives. Acks are appended without fsync: losing one after a power cut
 * sends that batch again (at least once), which is the Collector's guarantee
 * too. With fsync off, a push survives a process crash (the page cache
 * holds it) but not a power loss.
 *
 * The I/O is synchronous on the caller's (loop) thread: a batch is KBs to a
 * few MB and the dominant cost is the fdatasync, measured by
 * bench/bench_export.c. Replay reads every unsent record into memory at
 * open; the same caps bound that memory as bound the in-memory queue. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../component/component.h"
#include "../core/log.h"
#include "internal.h"

#define SEG_MAGIC "PCQSEG1\n"
#define SEG_HDR 8
#define REC_MAGIC 0x31514350u /* "PCQ1" as little-endian bytes */
#define REC_HDR 20
#define ACK_ENTRY 12
#define DEFAULT_SEGMENT_BYTES ((uint64_t)8 << 20)

struct pc__qseg {
  pc__qseg_t *next;
  uint64_t id;
  uint64_t live; /* records written and not done */
  uint64_t size; /* bytes in the file */
  bool active;   /* being appended to */
  bool damaged;  /* could not be salvaged: set aside instead of deleted */
  int ack_fd;    /* -1 until the first ack */
};

struct pc__queue {
  char *log_id;
  uint64_t max_items, max_bytes;
  pc__qitem_t *head, *tail;
  uint64_t held_items, held_bytes, waiting;
  uint64_t replayed, corrupt_files, refused;
  pc__ratelimit_t rl_full, rl_io;
  /* persistent only */
  char *dir;
  int dir_fd, lock_fd, seg_fd;
  bool fsync;
  uint64_t segment_bytes;
  pc__qseg_t *segs; /* oldest first */
  pc__qseg_t *active;
  uint64_t next_id;
  uint64_t disk_bytes;
};

/* ---- encoding helpers ---------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

#define META_HAS_MD (1u << 24)

static uint32_t meta_pack(const pc__item_meta_t *m) {
  return (uint32_t)m->signal | (uint32_t)m->json << 8 | (uint32_t)m->encoding << 16 |
         (m->md ? META_HAS_MD : 0);
}
/* m->md stays NULL: *has_md says whether the payload starts with it. */
static bool meta_unpack(uint32_t v, uint32_t profiles, pc__item_meta_t *m, bool *has_md) {
  *m = (pc__item_meta_t){.signal = (uint8_t)v, .json = (uint8_t)(v >> 8),
                         .encoding = (uint8_t)(v >> 16), .profiles = profiles};
  *has_md = (v & META_HAS_MD) != 0;
  return (m->signal == PC_SIGNAL_PROFILES || m->signal == PC_SIGNAL_TRACES) && m->json <= 1 &&
         m->encoding <= PC_ENC_ZSTD && (v >> 24) <= 1;
}

/* Bytes a record's payload holds before the body: [u32 length][metadata]. */
static size_t md_prefix_len(const pc__item_meta_t *m) { return m->md ? 4 + m->md->n : 0; }

/* crc32 of the header's length, meta and profiles fields, then the payload. */
static uint32_t record_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len) {
  uLong crc = crc32(0L, hdr + 4, 12);
  return (uint32_t)crc32(crc, payload, len);
}

/* The header, and in pre the metadata length that starts the payload (when
 * m->md is set); the crc runs over the payload as it lies on disk. */
static void record_header(uint8_t hdr[REC_HDR], uint8_t pre[4], const pc__body_t *b,
                          const pc__item_meta_t *m) {
  put32(hdr, REC_MAGIC);
  put32(hdr + 4, (uint32_t)(md_prefix_len(m) + b->n));
  put32(hdr + 8, meta_pack(m));
  put32(hdr + 12, m->profiles);
  uLong crc = crc32(0L, hdr + 4, 12);
  if (m->md) {
    put32(pre, (uint32_t)m->md->n);
    crc = crc32(crc, pre, 4);
    crc = crc32(crc, m->md->p, (uInt)m->md->n);
  }
  put32(hdr + 16, (uint32_t)crc32(crc, b->p, (uInt)b->n));
}

static void ack_entry(uint8_t e[ACK_ENTRY], uint64_t off) {
  put64(e, off);
  put32(e + 8, (uint32_t)crc32(0L, e, 8));
}

static void seg_name(char *buf, size_t cap, uint64_t id, const char *ext) {
  snprintf(buf, cap, "%016" PRIx64 "%s", id, ext);
}

/* ---- file helpers ---------------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off) {
  while (n) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? -errno : -EIO;
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

/* The whole file into out; -errno on failure. */
static int read_file_at(int dir_fd, const char *name, pc_buf_t *out) {
  int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  int rc = fstat(fd, &st) ? -errno : pc_buf_reserve(out, (size_t)st.st_size + 1);
  while (!rc) {
    ssize_t r = read(fd, out->p + out->n, out->cap - out->n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = -errno;
    if (r <= 0) break;
    out->n += (size_t)r;
    if (out->n == out->cap) rc = pc_buf_reserve(out, out->cap);
  }
  close(fd);
  return rc;
}

static bool io_log_allowed(pc__queue_t *q, uint64_t *skipped) {
  return pc__ratelimit(&q->rl_io, 10000, skipped);
}

/* ---- segments ----------------------------------------------------------------------- */

static pc__qseg_t *seg_add(pc__queue_t *q, uint64_t id, uint64_t size) {
  pc__qseg_t *s = pc_xcalloc(1, sizeof *s);
  s->id = id;
  s->size = size;
  s->ack_fd = -1;
  pc__qseg_t **pp = &q->segs;
  while (*pp) pp = &(*pp)->next;
  *pp = s;
  q->disk_bytes += size;
  return s;
}

/* Every record of s is done (or s is damaged and drained): delete its files,
 * or set a damaged one aside, and forget it. */
static void seg_finish(pc__queue_t *q, pc__qseg_t *s) {
  char name[40], ack[40], corrupt[48];
  seg_name(name, sizeof name, s->id, ".seg");
  seg_name(ack, sizeof ack, s->id, ".ack");
  if (s->ack_fd >= 0) close(s->ack_fd);
  if (s->damaged) {
    seg_name(corrupt, sizeof corrupt, s->id, ".seg.corrupt");
    if (renameat(q->dir_fd, name, q->dir_fd, corrupt) == 0) q->corrupt_files++;
  } else if (unlinkat(q->dir_fd, name, 0) && errno != ENOENT) {
    pc_log(q->log_id, PC_LOG_WARN, "could not delete sent queue file %s/%s: %s", q->dir, name,
           strerror(errno));
  }
  unlinkat(q->dir_fd, ack, 0);
  q->disk_bytes -= s->size;
  for (pc__qseg_t **pp = &q->segs; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  free(s);
}

/* Make a new, empty active segment. */
static int seg_create(pc__queue_t *q) {
  char name[40];
  uint64_t id = q->next_id++;
  seg_name(name, sizeof name, id, ".seg");
  int fd = openat(q->dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  int rc = pwrite_all(fd, (const uint8_t *)SEG_MAGIC, SEG_HDR, 0);
  if (!rc && q->fsync && (fdatasync(fd) || fsync(q->dir_fd))) rc = -errno;
  if (rc) {
    close(fd);
    unlinkat(q->dir_fd, name, 0);
    return rc;
  }
  q->active = seg_add(q, id, SEG_HDR);
  q->active->active = true;
  q->seg_fd = fd;
  return 0;
}

/* Stop appending to the active segment; delete it when nothing in it is live. */
static void seg_roll(pc__queue_t *q) {
  pc__qseg_t *s = q->active;
  if (!s) return;
  close(q->seg_fd);
  q->seg_fd = -1;
  q->active = NULL;
  s->active = false;
  if (s->live == 0) seg_finish(q, s);
}

/* Append n records to the active segment and make them durable. offs gets
 * each record's offset. On failure the segment is cut back to where it was. */
static int write_records(pc__queue_t *q, pc__body_t *const *bodies, const pc__item_meta_t *metas,
                         size_t n, uint64_t *offs) {
  if (q->active && q->active->size >= q->segment_bytes) seg_roll(q);
  int rc = q->active ? 0 : seg_create(q);
  if (rc) return rc;
  pc__qseg_t *s = q->active;
  uint64_t off = s->size;
  for (size_t i = 0; i < n && !rc; i++) {
    uint8_t hdr[REC_HDR], pre[4];
    const pc__item_meta_t *m = &metas[i];
    record_header(hdr, pre, bodies[i], m);
    offs[i] = off;
    rc = pwrite_all(q->seg_fd, hdr, REC_HDR, off);
    off += REC_HDR;
    if (!rc && m->md) rc = pwrite_all(q->seg_fd, pre, 4, off);
    if (!rc && m->md) rc = pwrite_all(q->seg_fd, m->md->p, m->md->n, off + 4);
    off += md_prefix_len(m);
    if (!rc) rc = pwrite_all(q->seg_fd, bodies[i]->p, bodies[i]->n, off);
    off += bodies[i]->n;
  }
  if (!rc && q->fsync && fdatasync(q->seg_fd)) rc = -errno;
  if (rc) {
    /* Leave no half record behind, and stop appending to this segment: the
     * disk may be full (ENOSPC, EDQUOT, EFBIG), and an active segment is
     * never deleted, so its sent records would hold the space until a
     * restart. Rolled, it is deleted as soon as its last record is acked
     * (at once when none is live), and the next push starts a new one. */
    if (ftruncate(q->seg_fd, (off_t)s->size)) {}
    seg_roll(q);
    return rc;
  }
  q->disk_bytes += off - s->size;
  s->size = off;
  s->live += n;
  return 0;
}

static void ack_write(pc__queue_t *q, pc__qseg_t *s, uint64_t off) {
  char name[40];
  if (s->ack_fd < 0) {
    seg_name(name, sizeof name, s->id, ".ack");
    s->ack_fd = openat(q->dir_fd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  }
  uint8_t e[ACK_ENTRY];
  ack_entry(e, off);
  if (s->ack_fd >= 0 && write(s->ack_fd, e, sizeof e) == (ssize_t)sizeof e) return;
  uint64_t skipped;
  char sup[48];
  if (io_log_allowed(q, &skipped))
    pc_log(q->log_id, PC_LOG_WARN, "could not record in %s that a batch was sent (%s); it will "
           "be sent again after a restart%s", q->dir, strerror(errno),
           pc__suppressed(skipped, sup));
}

/* ---- replay ---------------------------------------------------------------------------- */

typedef enum { REC_OK, REC_TRUNCATED, REC_BAD_HEADER, REC_BAD_CRC } rec_check_t;

/* *md_n: the metadata bytes after the 4-byte length (has_md), else 0. */
static rec_check_t check_record(const uint8_t *buf, uint64_t size, uint64_t off, uint32_t *len,
                                pc__item_meta_t *meta, bool *has_md, uint32_t *md_n) {
  if (size - off < REC_HDR) return REC_TRUNCATED;
  const uint8_t *h = buf + off;
  if (get32(h) != REC_MAGIC) return REC_BAD_HEADER;
  *len = get32(h + 4);
  if (*len > size - off - REC_HDR) return REC_TRUNCATED;
  if (record_crc(h, h + REC_HDR, *len) != get32(h + 16)) return REC_BAD_CRC;
  if (!meta_unpack(get32(h + 8), get32(h + 12), meta, has_md)) return REC_BAD_HEADER;
  *md_n = *has_md && *len >= 4 ? get32(h + REC_HDR) : 0;
  if (*has_md && (*len < 4 || *md_n == 0 || *md_n > *len - 4)) return REC_BAD_HEADER;
  return REC_OK;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Offsets acked in <id>.ack, sorted; entries with a bad crc (a torn write)
 * are ignored, which at worst sends that batch again. */
static uint64_t *load_acks(pc__queue_t *q, uint64_t id, size_t *n) {
  char name[40];
  seg_name(name, sizeof name, id, ".ack");
  pc_buf_t b = {0};
  *n = 0;
  if (read_file_at(q->dir_fd, name, &b) || b.n < ACK_ENTRY) {
    pc_buf_free(&b);
    return NULL;
  }
  uint64_t *offs = pc_xmalloc(b.n / ACK_ENTRY * sizeof *offs);
  for (size_t i = 0; i + ACK_ENTRY <= b.n; i += ACK_ENTRY)
    if ((uint32_t)crc32(0L, b.p + i, 8) == get32(b.p + i + 8)) offs[(*n)++] = get64(b.p + i);
  pc_buf_free(&b);
  qsort(offs, *n, sizeof *offs, cmp_u64);
  return offs;
}

typedef struct {
  pc__qitem_t *head, *tail;
  uint64_t n, bytes;
  /* damage */
  unsigned regions;
  rec_check_t first_kind;
  uint64_t first_off, unreadable;
  bool tail_cut; /* the last damage runs to the end of the file */
} scan_t;

/* md_n: metadata bytes after a 4-byte length at the payload's start, or
 * (has_md false) none. */
static void scan_add(scan_t *sc, const uint8_t *payload, uint32_t len, const pc__item_meta_t *m,
                     bool has_md, uint32_t md_n, uint64_t off) {
  pc__qitem_t *it = pc_xcalloc(1, sizeof *it);
  it->meta = *m;
  if (has_md) {
    if (!(it->meta.md = pc__body_copy(payload + 4, md_n))) pc_oom();
    payload += 4 + md_n;
    len -= 4 + md_n;
  }
  it->body = pc__body_copy(payload, len);
  if (!it->body) pc_oom();
  it->off = off;
  if (sc->tail) sc->tail->next = it;
  else sc->head = it;
  sc->tail = it;
  sc->n++;
  sc->bytes += len;
}

/* Walk the records of a segment held in buf; after damage, look for the next
 * intact record (magic and crc) and go on from there. A damaged file header
 * is damage like any other: the records after it are found and checked one
 * by one, as after a damaged record. A file shorter than its header that
 * starts like one was cut short while being created (a crash, a full disk):
 * it holds nothing, and counts as sent. */
static void scan_segment(const uint8_t *buf, uint64_t size, const uint64_t *acks, size_t n_acks,
                         scan_t *sc) {
  uint64_t off = SEG_HDR;
  bool header_ok = size >= SEG_HDR && memcmp(buf, SEG_MAGIC, SEG_HDR) == 0;
  if (!header_ok && size < SEG_HDR && memcmp(buf, SEG_MAGIC, size) == 0)
    return; /* cut short at creation */
  if (!header_ok && size <= SEG_HDR) { /* no room for a record: all of it is damage */
    *sc = (scan_t){.regions = 1, .first_kind = REC_BAD_HEADER, .unreadable = size};
    return;
  }
  if (!header_ok) {
    uint32_t len, md_n;
    pc__item_meta_t meta;
    bool has_md;
    if (check_record(buf, size, SEG_HDR, &len, &meta, &has_md, &md_n) == REC_OK)
      *sc = (scan_t){.regions = 1, .first_kind = REC_BAD_HEADER, .unreadable = SEG_HDR};
    else
      off = 0; /* the damage runs on past the header: the loop finds where it ends */
  }
  while (off < size) {
    uint32_t len = 0, md_n = 0;
    pc__item_meta_t meta;
    bool has_md = false;
    rec_check_t rc = check_record(buf, size, off, &len, &meta, &has_md, &md_n);
    if (rc == REC_OK) {
      if (!n_acks || !bsearch(&off, acks, n_acks, sizeof *acks, cmp_u64))
        scan_add(sc, buf + off + REC_HDR, len, &meta, has_md, md_n, off);
      off += REC_HDR + (uint64_t)len;
      continue;
    }
    if (sc->regions++ == 0) {
      sc->first_kind = rc;
      sc->first_off = off;
    }
    uint64_t next = off + 1;
    for (; next + REC_HDR <= size; next++) {
      uint32_t l2;
      if (buf[next] == 'P' && check_record(buf, size, next, &l2, &meta, &has_md, &md_n) == REC_OK)
        break;
    }
    if (next + REC_HDR > size) next = size;
    sc->unreadable += next - off;
    sc->tail_cut = next == size;
    off = next;
  }
}

static const char *damage_text(const scan_t *sc) {
  switch (sc->first_kind) {
  case REC_TRUNCATED: return "a record cut short";
  case REC_BAD_CRC: return "a checksum mismatch";
  default: return "a bad record header";
  }
}

static void queue_append_list(pc__queue_t *q, pc__qitem_t *head, pc__qitem_t *tail, uint64_t n,
                              uint64_t bytes) {
  if (!head) return;
  if (q->tail) q->tail->next = head;
  else q->head = head;
  q->tail = tail;
  q->waiting += n;
  q->held_items += n;
  q->held_bytes += bytes;
}

/* Copy the intact unsent records of a damaged segment into the active one. */
static int salvage(pc__queue_t *q, scan_t *sc) {
  pc__body_t **bodies = pc_xmalloc(sc->n * sizeof *bodies);
  pc__item_meta_t *metas = pc_xmalloc(sc->n * sizeof *metas);
  uint64_t *offs = pc_xmalloc(sc->n * sizeof *offs);
  size_t i = 0;
  for (pc__qitem_t *it = sc->head; it; it = it->next, i++) {
    bodies[i] = it->body;
    metas[i] = it->meta;
  }
  int rc = write_records(q, bodies, metas, sc->n, offs);
  if (!rc) {
    i = 0;
    for (pc__qitem_t *it = sc->head; it; it = it->next, i++) {
      it->seg = q->active;
      it->off = offs[i];
    }
  }
  free(bodies);
  free(metas);
  free(offs);
  return rc;
}

static void replay_damaged(pc__queue_t *q, uint64_t id, uint64_t size, scan_t *sc) {
  char name[40], corrupt[48];
  seg_name(name, sizeof name, id, ".seg");
  seg_name(corrupt, sizeof corrupt, id, ".seg.corrupt");
  const char *cause = sc->tail_cut && sc->regions == 1 && sc->first_kind == REC_TRUNCATED
                          ? " (the last write was cut short, e.g. by a crash or a full disk; "
                            "that batch was never acknowledged)"
                          : "";
  int rc = sc->n ? salvage(q, sc) : 0;
  if (rc) {
    /* Keep the file: its intact records are still addressable by offset. */
    pc__qseg_t *s = seg_add(q, id, size);
    s->live = sc->n;
    s->damaged = true;
    for (pc__qitem_t *it = sc->head; it; it = it->next) it->seg = s;
    pc_log(q->log_id, PC_LOG_ERROR, "queue file %s/%s is damaged: %s at offset %" PRIu64
           "%s; %" PRIu64 " bytes unreadable in %u places; %" PRIu64 " intact unsent batches "
           "will be sent from it, but copying them to a new file failed (%s), so it is renamed "
           "%s only once they are sent", q->dir, name, damage_text(sc), sc->first_off, cause,
           sc->unreadable, sc->regions, sc->n, strerror(-rc), corrupt);
  } else {
    char ack[40];
    seg_name(ack, sizeof ack, id, ".ack");
    bool moved = renameat(q->dir_fd, name, q->dir_fd, corrupt) == 0;
    if (moved) q->corrupt_files++;
    unlinkat(q->dir_fd, ack, 0);
    pc_log(q->log_id, PC_LOG_ERROR, "queue file %s/%s is damaged: %s at offset %" PRIu64
           "%s; %" PRIu64 " bytes unreadable in %u places; %" PRIu64 " intact unsent batches "
           "recovered; the file is set aside as %s%s", q->dir, name, damage_text(sc),
           sc->first_off, cause, sc->unreadable, sc->regions, sc->n, corrupt,
           moved ? "" : " (rename failed; delete it by hand)");
  }
  queue_append_list(q, sc->head, sc->tail, sc->n, sc->bytes);
}

static void replay_segment(pc__queue_t *q, uint64_t id) {
  char name[40];
  seg_name(name, sizeof name, id, ".seg");
  pc_buf_t buf = {0};
  int rc = read_file_at(q->dir_fd, name, &buf);
  if (rc) {
    pc_log(q->log_id, PC_LOG_ERROR, "cannot read queue file %s/%s (%s); its batches stay on "
           "disk and are not sent until it can be read at a later start", q->dir, name,
           strerror(-rc));
    pc_buf_free(&buf);
    return;
  }
  size_t n_acks;
  uint64_t *acks = load_acks(q, id, &n_acks);
  scan_t sc = {0};
  uint64_t size = buf.n;
  scan_segment(buf.p, size, acks, n_acks, &sc);
  free(acks);
  pc_buf_free(&buf);
  q->replayed += sc.n;
  if (sc.regions) {
    replay_damaged(q, id, size, &sc);
    return;
  }
  if (sc.n == 0) { /* everything in it was sent */
    pc__qseg_t *s = seg_add(q, id, 0);
    seg_finish(q, s);
    return;
  }
  pc__qseg_t *s = seg_add(q, id, size);
  s->live = sc.n;
  for (pc__qitem_t *it = sc.head; it; it = it->next) it->seg = s;
  queue_append_list(q, sc.head, sc.tail, sc.n, sc.bytes);
}

/* Segment ids present in the directory, sorted; *max_id covers every file
 * named after an id (.corrupt ones too) so a new id never collides. */
static uint64_t *list_segments(pc__queue_t *q, size_t *n, uint64_t *max_id) {
  int fd = dup(q->dir_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  uint64_t *ids = NULL;
  size_t cap = 0;
  *n = 0;
  *max_id = 0;
  if (!d) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  rewinddir(d);
  for (struct dirent *e; (e = readdir(d));) {
    char *end;
    if (strlen(e->d_name) < 17 || e->d_name[16] != '.') continue;
    uint64_t id = strtoull(e->d_name, &end, 16);
    if (end != e->d_name + 16) continue;
    if (id > *max_id) *max_id = id;
    if (strcmp(end, ".seg") != 0) continue;
    if (*n == cap) ids = pc_xrealloc(ids, (cap = cap ? 2 * cap : 16) * sizeof *ids);
    ids[(*n)++] = id;
  }
  closedir(d);
  if (*n) qsort(ids, *n, sizeof *ids, cmp_u64);
  return ids;
}

static int open_dir(pc__queue_t *q, pc_err_t *err) {
  if (mkdir(q->dir, 0700) && errno != EEXIST)
    return pc_err_set(err, PC_EIO, "cannot create queue directory %s: %s", q->dir,
                      strerror(errno));
  q->dir_fd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (q->dir_fd < 0)
    return pc_err_set(err, PC_EIO, "cannot open queue directory %s: %s", q->dir, strerror(errno));
  q->lock_fd = openat(q->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (q->lock_fd < 0)
    return pc_err_set(err, PC_EIO, "cannot create %s/lock: %s", q->dir, strerror(errno));
  if (flock(q->lock_fd, LOCK_EX | LOCK_NB)) {
    if (errno == EWOULDBLOCK)
      return pc_err_set(err, PC_EAGAIN, "queue directory %s is in use by another profcol "
                        "process or another exporter with the same id (its lock is held)",
                        q->dir);
    return pc_err_set(err, PC_EIO, "cannot lock %s/lock: %s", q->dir, strerror(errno));
  }
  return 0;
}

static void replay(pc__queue_t *q) {
  size_t n;
  uint64_t max_id;
  uint64_t *ids = list_segments(q, &n, &max_id);
  q->next_id = max_id + 1;
  for (size_t i = 0; i < n; i++) replay_segment(q, ids[i]);
  free(ids);
  if (q->replayed)
    pc_log(q->log_id, PC_LOG_INFO, "replaying %" PRIu64 " unsent batches (%" PRIu64
           " bytes) from %s; they go out before new data", q->replayed, q->held_bytes, q->dir);
  if ((q->max_items && q->held_items > q->max_items) ||
      (q->max_bytes && q->held_bytes > q->max_bytes))
    pc_log(q->log_id, PC_LOG_WARN, "the replayed backlog (%" PRIu64 " batches, %" PRIu64
           " bytes) is above the limits (%" PRIu64 " batches, %" PRIu64 " bytes); new data is "
           "refused until it drains", q->held_items, q->held_bytes, q->max_items, q->max_bytes);
}

/* ---- the queue ------------------------------------------------------------------------------ */

int pc__queue_open(const pc__queue_opts_t *o, pc__queue_t **out, pc_err_t *err) {
  pc__queue_t *q = pc_xcalloc(1, sizeof *q);
  q->log_id = strdup(o->log_id ? o->log_id : "exporter");
  q->max_items = o->max_items;
  q->max_bytes = o->max_bytes;
  q->dir_fd = q->lock_fd = q->seg_fd = -1;
  *out = NULL;
  if (!q->log_id) pc_oom();
  if (o->dir) {
    q->dir = strdup(o->dir);
    if (!q->dir) pc_oom();
    q->fsync = o->fsync;
    q->segment_bytes = o->segment_bytes ? o->segment_bytes : DEFAULT_SEGMENT_BYTES;
    int rc = open_dir(q, err);
    if (rc) {
      pc__queue_close(q);
      return rc;
    }
    replay(q);
  }
  *out = q;
  return 0;
}

static int refuse(pc__queue_t *q, pc_err_t *err) {
  q->refused++;
  uint64_t skipped;
  char sup[48];
  if (pc__ratelimit(&q->rl_full, 5000, &skipped))
    pc_log(q->log_id, PC_LOG_WARN, "sending queue full: %" PRIu64 " batches / %" PRIu64
           " bytes held, limits %" PRIu64 " batches / %" PRIu64 " bytes; refusing new data so "
           "clients retry%s", q->held_items, q->held_bytes, q->max_items, q->max_bytes,
           pc__suppressed(skipped, sup));
  return pc_err_set(err, PC_EAGAIN, "the exporter's sending queue is full (%" PRIu64
                    " batches, %" PRIu64 " bytes held); retry later", q->held_items,
                    q->held_bytes);
}

int pc__queue_check_room(pc__queue_t *q, pc_err_t *err) {
  if ((q->max_items && q->held_items >= q->max_items) ||
      (q->max_bytes && q->held_bytes >= q->max_bytes))
    return refuse(q, err);
  return 0;
}

/* push's work; force (adopting a directory) passes the caps as a replay does. */
static int push(pc__queue_t *q, pc__body_t *const *bodies, const pc__item_meta_t *metas,
                size_t n, bool force, pc_err_t *err) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    bool too_big = (q->max_bytes && bodies[i]->n > q->max_bytes) ||
                   (q->dir && bodies[i]->n > UINT32_MAX);
    if (too_big)
      return pc_err_set(err, PC_ELIMIT, "a %zu-byte batch can never fit the sending queue "
                        "(max_bytes %" PRIu64 ")", bodies[i]->n, q->max_bytes);
    bytes += bodies[i]->n;
  }
  if (q->max_items && n > q->max_items && !force)
    return pc_err_set(err, PC_ELIMIT, "the request was split into %zu batches, more than the "
                      "sending queue holds (%" PRIu64 ")", n, q->max_items);
  if (!force && ((q->max_items && q->held_items + n > q->max_items) ||
                 (q->max_bytes && q->held_bytes + bytes > q->max_bytes)))
    return refuse(q, err);
  uint64_t offs_small[8];
  uint64_t *offs = n <= 8 ? offs_small : pc_xmalloc(n * sizeof *offs);
  if (q->dir) {
    int rc = write_records(q, bodies, metas, n, offs);
    if (rc) {
      uint64_t skipped;
      char sup[48];
      q->refused++;
      if (io_log_allowed(q, &skipped))
        pc_log(q->log_id, PC_LOG_ERROR, "cannot write to the persistent queue in %s: %s; "
               "refusing data so clients retry%s", q->dir, strerror(-rc),
               pc__suppressed(skipped, sup));
      if (offs != offs_small) free(offs);
      return pc_err_set(err, PC_EAGAIN, "the persistent queue cannot write to %s (%s)", q->dir,
                        strerror(-rc));
    }
  }
  pc__qitem_t *head = NULL, *tail = NULL;
  for (size_t i = 0; i < n; i++) {
    pc__qitem_t *it = pc_xcalloc(1, sizeof *it);
    it->body = pc__body_ref(bodies[i]);
    it->meta = metas[i];
    if (it->meta.md) pc__body_ref(it->meta.md);
    if (q->dir) {
      it->seg = q->active;
      it->off = offs[i];
    }
    if (tail) tail->next = it;
    else head = it;
    tail = it;
  }
  if (offs != offs_small) free(offs);
  queue_append_list(q, head, tail, n, bytes);
  return 0;
}

int pc__queue_push(pc__queue_t *q, pc__body_t *const *bodies, const pc__item_meta_t *metas,
                   size_t n, pc_err_t *err) {
  return push(q, bodies, metas, n, false, err);
}

/* Each record is written to q (fsync'd as q's pushes are) before it is
 * acknowledged in the old directory, so a crash half way sends some batches
 * twice, never none. The caps are passed as a replay passes them. */
int pc__queue_adopt(pc__queue_t *q, const char *dir, pc_err_t *err) {
  if (!q->dir) return pc_err_set(err, PC_EINVAL, "an in-memory queue cannot adopt %s", dir);
  pc__queue_opts_t o = {.log_id = q->log_id, .dir = dir, .fsync = q->fsync};
  pc__queue_t *old;
  int rc = pc__queue_open(&o, &old, err);
  if (rc) return rc;
  uint64_t moved = 0, bytes = 0;
  for (pc__qitem_t *it; (it = pc__queue_pop(old));) {
    rc = push(q, &it->body, &it->meta, 1, true, err);
    if (rc) {
      pc__queue_release(old, it); /* stays on disk there: adopted at the next start */
      break;
    }
    moved++;
    bytes += it->body->n;
    pc__queue_done(old, it);
  }
  pc__queue_close(old);
  if (moved)
    pc_log(q->log_id, PC_LOG_INFO, "took over %" PRIu64 " unsent batches (%" PRIu64
           " bytes) from %s, the directory of a worker that no longer runs", moved, bytes, dir);
  if (rc) return rc;
  /* Empty now: its segments were deleted as their last record was done. */
  char lock[4096];
  snprintf(lock, sizeof lock, "%s/lock", dir);
  unlink(lock);
  if (rmdir(dir) && errno != ENOENT)
    pc_log(q->log_id, PC_LOG_WARN, "could not remove %s after taking its batches over: %s", dir,
           strerror(errno));
  return 0;
}

pc__qitem_t *pc__queue_pop(pc__queue_t *q) {
  pc__qitem_t *it = q->head;
  if (!it) return NULL;
  q->head = it->next;
  if (!q->head) q->tail = NULL;
  it->next = NULL;
  q->waiting--;
  return it;
}

static void item_free(pc__queue_t *q, pc__qitem_t *it) {
  q->held_items--;
  q->held_bytes -= it->body->n;
  pc__body_unref(it->body);
  if (it->meta.md) pc__body_unref(it->meta.md);
  free(it);
}

void pc__queue_done(pc__queue_t *q, pc__qitem_t *it) {
  pc__qseg_t *s = it->seg;
  if (s) {
    ack_write(q, s, it->off);
    if (--s->live == 0 && !s->active) seg_finish(q, s);
  }
  item_free(q, it);
}

void pc__queue_release(pc__queue_t *q, pc__qitem_t *it) { item_free(q, it); }

void pc__queue_stats(const pc__queue_t *q, pc__queue_stats_t *st) {
  *st = (pc__queue_stats_t){.held_items = q->held_items, .held_bytes = q->held_bytes,
                            .waiting = q->waiting, .replayed = q->replayed,
                            .corrupt_files = q->corrupt_files, .refused = q->refused,
                            .disk_bytes = q->disk_bytes};
}

uint64_t pc__queue_close(pc__queue_t *q) {
  if (!q) return 0;
  uint64_t dropped = 0;
  for (pc__qitem_t *it; (it = pc__queue_pop(q)); dropped++) item_free(q, it);
  if (q->seg_fd >= 0) close(q->seg_fd);
  if (q->active) q->active->active = false;
  while (q->segs) {
    pc__qseg_t *s = q->segs;
    if (s->live == 0) {
      seg_finish(q, s);
      continue;
    }
    if (s->ack_fd >= 0) close(s->ack_fd);
    q->segs = s->next;
    free(s);
  }
  if (q->lock_fd >= 0) close(q->lock_fd); /* releases the flock */
  if (q->dir_fd >= 0) close(q->dir_fd);
  free(q->dir);
  free(q->log_id);
  free(q);
  return dropped;
}

/* ---- workers --------------------------------------------------------------------------------- */

/* With service.workers: N every worker has a queue directory of its own:
 * worker 0 the exporter's directory as with one worker (so a single-worker
 * queue replays unchanged), worker i > 0 "<dir>@w<i>" beside it ('@' is
 * never in an exporter's directory name: pc__id_to_filename maps it to '_',
 * so no other exporter's directory can look like a worker's). A
 * directory of a worker that no longer runs (N went down, say 4 -> 2) is
 * taken over by worker j % N, so every batch is replayed after all. */
int pc__queue_open_worker(const pc__queue_opts_t *o, pc__queue_t **out, pc_err_t *err) {
  pc_worker_t w = pc_worker_self();
  if (!o->dir) return pc__queue_open(o, out, err);
  char dir[4096];
  if (w.index == 0) snprintf(dir, sizeof dir, "%s", o->dir);
  else snprintf(dir, sizeof dir, "%s@w%" PRIu32, o->dir, w.index);
  pc__queue_opts_t mine = *o;
  mine.dir = dir;
  int rc = pc__queue_open(&mine, out, err);
  if (rc) return rc;
  /* Siblings "<base>@w<j>" in the parent directory. */
  const char *slash = strrchr(o->dir, '/');
  char parent[4096];
  snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - o->dir) : 1,
           slash ? o->dir : ".");
  if (!parent[0]) snprintf(parent, sizeof parent, "/");
  const char *base = slash ? slash + 1 : o->dir;
  size_t base_n = strlen(base);
  DIR *d = opendir(parent);
  if (!d) return 0; /* nothing to adopt that can be found */
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, base, base_n) != 0 || strncmp(e->d_name + base_n, "@w", 2) != 0)
      continue;
    char *end;
    errno = 0;
    unsigned long j = strtoul(e->d_name + base_n + 2, &end, 10);
    if (errno || *end || end == e->d_name + base_n + 2 || j < w.count || j % w.count != w.index)
      continue;
    char orphan[4096 + 256];
    snprintf(orphan, sizeof orphan, "%s/%s", parent, e->d_name);
    pc_err_t aerr = {0};
    if (pc__queue_adopt(*out, orphan, &aerr))
      pc_log(o->log_id, PC_LOG_WARN, "cannot take over the queue of a former worker in %s: %s; "
             "it stays there until the next start", orphan, aerr.msg);
  }
  closedir(d);
  return 0;
}
