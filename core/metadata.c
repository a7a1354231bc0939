/* metadata.c - client metadata (request headers / gRPC metadata) as views,
 * and the flat byte form in which a batch or a queue record keeps it.
 *
 * The byte form is a run of [u32 LE key length][key][u32 LE value length]
 * [value]: small, position-free (a queue file can hold it as is) and read
 * back as views without copying. */
#include <stdlib.h>
#include <strings.h>

#include "core.h"

static bool key_eq(pc_str_t a, pc_str_t b) {
  return a.n == b.n && (a.n == 0 || strncasecmp((const char *)a.p, (const char *)b.p, a.n) == 0);
}

bool pc_md_get(const pc_metadata_t *md, pc_str_t key, size_t i, pc_str_t *value) {
  for (size_t k = 0; md && k < md->n; k++) {
    if (!key_eq(md->v[k].key, key)) continue;
    if (i-- == 0) {
      *value = md->v[k].value;
      return true;
    }
  }
  return false;
}

static int put_str(pc_buf_t *out, pc_str_t s) {
  if (s.n > UINT32_MAX) return PC_ELIMIT;
  uint8_t len[4];
  for (int i = 0; i < 4; i++) len[i] = (uint8_t)(s.n >> (8 * i));
  int rc = pc_buf_append(out, len, sizeof len);
  return rc ? rc : pc_buf_append(out, s.p, s.n);
}

int pc_md_encode(const pc_metadata_t *md, pc_buf_t *out) {
  for (size_t i = 0; md && i < md->n; i++) {
    int rc = put_str(out, md->v[i].key);
    if (!rc) rc = put_str(out, md->v[i].value);
    if (rc) return rc;
  }
  return 0;
}

/* One length-prefixed string at *off; false when p runs out first. */
static bool get_str(const uint8_t *p, size_t n, size_t *off, pc_str_t *s) {
  if (n - *off < 4) return false;
  const uint8_t *l = p + *off;
  size_t len = (size_t)l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
  *off += 4;
  if (len > n - *off) return false;
  *s = (pc_str_t){len ? p + *off : NULL, len};
  *off += len;
  return true;
}

int pc_md_decode(const uint8_t *p, size_t n, pc_metadata_t *out) {
  *out = (pc_metadata_t){0};
  size_t count = 0;
  pc_str_t k, v;
  for (size_t off = 0; off < n; count++) /* count first: one exact allocation */
    if (!get_str(p, n, &off, &k) || !get_str(p, n, &off, &v)) return PC_EDECODE;
  if (!count) return 0;
  pc_md_pair_t *pairs = pc_xcalloc(count, sizeof *pairs);
  size_t off = 0;
  for (size_t i = 0; i < count; i++) {
    get_str(p, n, &off, &pairs[i].key);
    get_str(p, n, &off, &pairs[i].value);
  }
  *out = (pc_metadata_t){pairs, count};
  return 0;
}

pc_bytes_t *pc_md_bytes(const pc_metadata_t *md) {
  if (!md || !md->n) return NULL;
  pc_buf_t b = {0};
  if (pc_md_encode(md, &b)) pc_oom();
  return pc_bytes_from_buf_take(&b);
}
