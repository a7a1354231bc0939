/* test_spans.c - the span store's table (extension/spans.c): lookups, local
 * roots and trace roots, spans by thread, eviction by window and by memory,
 * interned strings given back, and many writers and readers at once (run
 * under ASan and UBSan by the asan build). */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../extension/internal.h"
#include "../spans.h"
#include "test_extension.h"

static pc_test_span_t span(const char *service, uint32_t trace, uint32_t id, uint32_t parent,
                           const char *name) {
  pc_test_span_t s = {.service = service, .pid = -1, .name = name, .tid = -1,
                      .start = 1000, .end = 2000};
  pc_test_trace_id(trace, s.trace_id);
  pc_test_span_id(id, s.span_id);
  if (parent) pc_test_span_id(parent, s.parent_span_id);
  return s;
}

static void add(pc_spans_t *s, const pc_test_span_t *v, size_t n, uint64_t now) {
  pc_arena_t *a = pc_arena_new(0);
  pc_traces_t tr;
  pc_test_traces(a, v, n, &tr);
  pc_spans_add(s, &tr, now);
  pc_arena_free(a);
}

static bool find(pc_spans_t *s, uint32_t trace, uint32_t id, uint64_t now, pc_span_rec_t *out,
                 pc_span_rec_t *root, pc_span_rec_t *top) {
  uint8_t t[16], sp[8];
  pc_test_trace_id(trace, t);
  pc_test_span_id(id, sp);
  return pc_spans_find(s, t, sp, now, out, root, top);
}

static void assert_name(const pc_span_rec_t *r, const char *want) {
  ck_assert_msg(r->name_n == strlen(want) && memcmp(r->name, want, r->name_n) == 0,
                "name \"%.*s\", want \"%s\"", r->name_n, r->name, want);
}

static void assert_service(const pc_span_rec_t *r, const char *want) {
  ck_assert_msg(r->service_n == strlen(want) && memcmp(r->service, want, r->service_n) == 0,
                "service \"%.*s\", want \"%s\"", r->service_n, r->service, want);
}

static pc_spans_t *table(uint64_t window_ms, uint64_t max_bytes, unsigned stripes) {
  pc_spans_cfg_t cfg = {.window_ms = window_ms, .max_bytes = max_bytes, .stripes = stripes};
  return pc_spans_new(&cfg);
}

START_TEST(find_local_root_and_top) {
  pc_spans_t *s = table(60000, 1 << 20, 4);
  /* frontend: GET /checkout (root) -> call; checkout: POST /pay (remote
   * parent: call) -> db.query -> encode */
  pc_test_span_t v[] = {
      span("frontend", 1, 1, 0, "GET /checkout"), span("frontend", 1, 2, 1, "call checkout"),
      span("checkout", 1, 3, 2, "POST /pay"),     span("checkout", 1, 4, 3, "db.query"),
      span("checkout", 1, 5, 4, "encode"),
  };
  v[2].flags = PC_SPAN_FLAGS_HAS_IS_REMOTE | PC_SPAN_FLAGS_IS_REMOTE;
  v[2].kind = PC_SPAN_KIND_SERVER;
  v[3].status_code = PC_STATUS_CODE_ERROR;
  v[4].start = 1500;
  v[4].end = 1600;
  /* Children usually arrive before their parents: add in reverse. */
  for (size_t i = 5; i-- > 0;) add(s, &v[i], 1, 10);
  pc_span_rec_t sp, root, top;
  ck_assert(find(s, 1, 5, 20, &sp, &root, &top));
  assert_name(&sp, "encode");
  assert_service(&sp, "checkout");
  ck_assert(sp.has_parent);
  ck_assert_uint_eq(sp.start_unix_nano, 1500);
  ck_assert_uint_eq(sp.end_unix_nano, 1600);
  assert_name(&root, "POST /pay");
  ck_assert_uint_eq(root.kind, PC_SPAN_KIND_SERVER);
  ck_assert(root.parent_is_remote);
  assert_name(&top, "GET /checkout");
  assert_service(&top, "frontend");
  ck_assert(!top.has_parent);
  ck_assert(find(s, 1, 4, 20, &sp, NULL, NULL));
  ck_assert_uint_eq(sp.status_code, PC_STATUS_CODE_ERROR);
  /* Without the remote flag a change of service ends the walk too. */
  ck_assert(find(s, 1, 2, 20, &sp, &root, NULL));
  assert_name(&root, "GET /checkout");
  /* Unknown span, unknown trace. */
  ck_assert(!find(s, 1, 9, 20, &sp, NULL, NULL));
  ck_assert(!find(s, 2, 1, 20, &sp, NULL, NULL));
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 5);
  ck_assert_uint_eq(st.added, 5);
  ck_assert_uint_eq(st.lookups, 5);
  ck_assert_uint_eq(st.found, 3);
  pc_spans_free(s);
}
END_TEST

/* A parent missing from the store: the highest one known is the local root
 * and the top, and says it has a parent. */
START_TEST(missing_parent) {
  pc_spans_t *s = table(60000, 1 << 20, 1);
  pc_test_span_t v[] = {span("a", 7, 2, 1, "child"), span("a", 7, 3, 2, "grandchild")};
  add(s, v, 2, 0);
  pc_span_rec_t sp, root, top;
  ck_assert(find(s, 7, 3, 0, &sp, &root, &top));
  assert_name(&root, "child");
  assert_name(&top, "child");
  ck_assert(top.has_parent);
  pc_spans_free(s);
}
END_TEST

/* Ids that cannot be linked to are not kept. */
START_TEST(skips_unusable_ids) {
  pc_spans_t *s = table(60000, 1 << 20, 2);
  pc_test_span_t v[] = {span("a", 1, 1, 0, "ok"), span("a", 1, 2, 0, "zero trace"),
                        span("a", 1, 3, 0, "zero span")};
  memset(v[1].trace_id, 0, 16);
  memset(v[2].span_id, 0, 8);
  add(s, v, 3, 0);
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 1);
  ck_assert_uint_eq(st.skipped, 2);
  pc_spans_free(s);
}
END_TEST

START_TEST(evict_by_window) {
  pc_spans_t *s = table(1000, 1 << 20, 4);
  pc_test_span_t a = span("svc", 1, 1, 0, "old"), b = span("svc", 2, 1, 0, "new");
  add(s, &a, 1, 5000);
  add(s, &b, 1, 5600);
  pc_span_rec_t sp;
  ck_assert(find(s, 1, 1, 5999, &sp, NULL, NULL)); /* 999 ms old: still there */
  ck_assert(!find(s, 1, 1, 6000, &sp, NULL, NULL)); /* 1000 ms: gone */
  ck_assert(find(s, 2, 1, 6000, &sp, NULL, NULL));
  pc_spans_expire(s, 6600);
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 0);
  ck_assert_uint_eq(st.evicted_window, 2);
  ck_assert_uint_eq(st.evicted_memory, 0);
  ck_assert_uint_eq(st.string_bytes, 0); /* "svc", "old", "new" given back */
  pc_spans_free(s);
}
END_TEST

/* Under a small cap the oldest go first, the newest stay, and the table
 * never holds more than the cap; a span costs about 100 bytes. */
START_TEST(evict_by_memory) {
  const uint64_t cap = 256 << 10;
  pc_spans_t *s = table(3600000, cap, 4);
  char name[32];
  const uint32_t n = 20000;
  for (uint32_t i = 1; i <= n; i++) {
    snprintf(name, sizeof name, "op-%u", i % 50);
    pc_test_span_t v = span("svc", i, i, 0, name);
    add(s, &v, 1, 0);
    pc_spans_stats_t st;
    pc_spans_stats(s, &st);
    ck_assert_uint_le(st.bytes, cap);
  }
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_gt(st.evicted_memory, 0);
  ck_assert_uint_eq(st.spans + st.evicted_memory, n);
  ck_assert_uint_gt(st.spans, cap / 120); /* most of the cap holds spans */
  pc_span_rec_t sp;
  ck_assert(!find(s, 1, 1, 0, &sp, NULL, NULL));
  ck_assert(find(s, n, n, 0, &sp, NULL, NULL));
  snprintf(name, sizeof name, "op-%u", n % 50);
  assert_name(&sp, name);
  /* What is held is the newest: every span of the last st.spans / 2. */
  for (uint32_t i = n - (uint32_t)st.spans / 2; i <= n; i++)
    ck_assert_msg(find(s, i, i, 0, &sp, NULL, NULL), "span %u of the newest is gone", i);
  pc_spans_free(s);
}
END_TEST

START_TEST(long_names_cut_at_a_character) {
  pc_spans_t *s = table(60000, 1 << 20, 1);
  char name[PC_SPAN_NAME_MAX + 8];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = 0;
  /* "é" (2 bytes) straddling the limit */
  name[PC_SPAN_NAME_MAX - 1] = (char)0xc3;
  name[PC_SPAN_NAME_MAX] = (char)0xa9;
  pc_test_span_t v = span("svc", 1, 1, 0, name);
  add(s, &v, 1, 0);
  pc_span_rec_t sp;
  ck_assert(find(s, 1, 1, 0, &sp, NULL, NULL));
  ck_assert_uint_eq(sp.name_n, PC_SPAN_NAME_MAX - 1);
  pc_spans_free(s);
}
END_TEST

START_TEST(spans_on_a_thread) {
  pc_spans_t *s = table(60000, 1 << 20, 8);
  pc_test_span_t v[] = {span("svc", 1, 1, 0, "a"), span("svc", 2, 1, 0, "b"),
                        span("svc", 3, 1, 0, "other thread"), span("svc", 4, 1, 0, "no thread")};
  for (int i = 0; i < 4; i++) v[i].pid = 42;
  v[0].tid = 7, v[0].start = 100, v[0].end = 200;
  v[1].tid = 7, v[1].start = 300, v[1].end = 400;
  v[2].tid = 8, v[2].start = 100, v[2].end = 400;
  add(s, v, 4, 0);
  pc_thread_span_t out[8];
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 150, 150, 0, out, 8), 1);
  uint8_t want[16];
  pc_test_trace_id(1, want);
  ck_assert(memcmp(out[0].trace_id, want, 16) == 0);
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 0, 1000, 0, out, 8), 2);
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 0, 1000, 0, out, 1), 1);
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 250, 260, 0, out, 8), 0);
  ck_assert_uint_eq(pc_spans_on_thread(s, 43, 7, 0, 1000, 0, out, 8), 0);
  pc_spans_free(s);
}
END_TEST

/* Workers read the clock before they take a stripe's lock: a call whose
 * now_ms is older than a span another thread just added (now - arrived
 * wrapping around) must not take that span for a window old. */
START_TEST(clock_read_before_the_lock) {
  pc_spans_t *s = table(1000, 1 << 20, 1);
  pc_test_span_t v[] = {span("svc", 1, 1, 0, "newer")};
  add(s, v, 1, 5000);
  pc_span_rec_t r;
  ck_assert(find(s, 1, 1, 4999, &r, NULL, NULL));
  assert_name(&r, "newer");
  pc_spans_expire(s, 4998);
  ck_assert(find(s, 1, 1, 5999, &r, NULL, NULL));
  ck_assert(!find(s, 1, 1, 6000, &r, NULL, NULL)); /* the window still ends */
  pc_spans_free(s);
}
END_TEST

/* A span received again (a client's retry) is one span, updated in place:
 * counted once, its new fields answered, its strings not leaked; one whose
 * thread changed is found on its new thread only. */
START_TEST(duplicate_spans_stored_once) {
  pc_spans_t *s = table(60000, 1 << 20, 2);
  pc_test_span_t a = span("svc", 1, 1, 0, "first"), b = span("svc", 1, 2, 1, "child");
  a.pid = 42, a.tid = 7;
  add(s, &a, 1, 0);
  add(s, &b, 1, 0);
  pc_spans_stats_t st0;
  pc_spans_stats(s, &st0);
  a.name = "again";
  a.end = 3000;
  add(s, &a, 1, 10);
  add(s, &a, 1, 20);
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 2);
  ck_assert_uint_eq(st.duplicates, 2);
  ck_assert_uint_eq(st.string_bytes, st0.string_bytes); /* "first" gone, "again" as long */
  pc_span_rec_t sp, root;
  ck_assert(find(s, 1, 2, 30, &sp, &root, NULL));
  assert_name(&root, "again");
  ck_assert(find(s, 1, 1, 30, &sp, NULL, NULL));
  ck_assert_uint_eq(sp.end_unix_nano, 3000);
  pc_thread_span_t out[8];
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 0, 5000, 30, out, 8), 1);
  /* Now on another thread: gone from the old one, found on the new. */
  a.tid = 8;
  add(s, &a, 1, 40);
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 7, 0, 5000, 50, out, 8), 0);
  ck_assert_uint_eq(pc_spans_on_thread(s, 42, 8, 0, 5000, 50, out, 8), 1);
  ck_assert(find(s, 1, 1, 50, &sp, NULL, NULL));
  ck_assert(sp.has_thread && sp.thread_id == 8);
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 2);
  /* Expired, everything is given back. */
  pc_spans_expire(s, 100000);
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.spans, 0);
  ck_assert_uint_eq(st.string_bytes, 0);
  pc_spans_free(s);
}
END_TEST

/* The id index against a model of the ring, over many adds to one small
 * stripe: new spans, spans received again on the same thread (updated in
 * place) and on another (the old record dead, out of the index), eviction
 * by memory (the ring grows to a size that is not a power of two) and then
 * by window. The index is open addressing, sized so probe runs wrap around
 * its end and entries are removed (backward shift) on every eviction;
 * after each add the evicted count says which of the model's records are
 * gone, and every span ever added must be found exactly when its newest
 * record is held, with its newest name and thread. */
#define MODEL_STEPS 12000
START_TEST(id_index_matches_a_model) {
  pc_spans_t *s = table(3000, 48 << 10, 1);
  typedef struct {
    uint32_t id, name;
    int64_t tid;
    bool dead;
  } mrec_t;
  mrec_t *ring = calloc(MODEL_STEPS, sizeof *ring);
  uint32_t *newest = calloc(MODEL_STEPS + 1, sizeof *newest); /* id -> ring index + 1 */
  uint32_t n_ring = 0, next_id = 1, dups = 0;
  uint64_t rng = 88172645463325252ull, now = 0, front = 0;
  char name[32];
  for (uint32_t step = 0; step < MODEL_STEPS; step++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    if (step >= MODEL_STEPS / 2) now += rng % 24; /* window eviction in the second half */
    uint32_t id = next_id;
    if (next_id > 1 && rng % 5 == 0) id = next_id - 1 - (uint32_t)(rng >> 8) % (next_id - 1 < 600 ? next_id - 1 : 600);
    else next_id++;
    int64_t tid = (int64_t)((rng >> 20) % 4) - 1; /* -1: none */
    uint32_t nm = (uint32_t)(rng >> 32) % 97;
    snprintf(name, sizeof name, "op-%u", nm);
    pc_test_span_t v = span("svc", id, id, 0, name);
    v.tid = tid;
    pc_spans_stats_t st;
    pc_spans_expire(s, now); /* what the add's expiry drops before it looks the span up */
    pc_spans_stats(s, &st);
    front = st.evicted_memory + st.evicted_window;
    add(s, &v, 1, now);
    uint32_t k = newest[id];
    if (k && k - 1 >= front && ring[k - 1].tid == tid) {
      ring[k - 1].name = nm; /* in place */
      dups++;
    } else {
      if (k && k - 1 >= front) ring[k - 1].dead = true, dups++;
      ring[n_ring] = (mrec_t){.id = id, .name = nm, .tid = tid};
      newest[id] = ++n_ring;
    }
    pc_spans_stats(s, &st);
    front = st.evicted_memory + st.evicted_window;
    ck_assert_uint_le(front, n_ring);
    uint64_t held = 0;
    for (uint64_t i = front; i < n_ring; i++) held += !ring[i].dead;
    ck_assert_uint_eq(st.spans, held);
    ck_assert_uint_eq(st.duplicates, dups);
    ck_assert_uint_le(st.bytes, 48 << 10);
    if (step % 1000 != 999) continue;
    for (uint32_t i = 1; i < next_id; i++) {
      pc_span_rec_t sp;
      bool want = newest[i] && newest[i] - 1 >= front;
      bool got = find(s, i, i, now, &sp, NULL, NULL);
      ck_assert_msg(got == want, "step %u: span %u found %d, want %d", step, i, got, want);
      if (!got) continue;
      const mrec_t *m = &ring[newest[i] - 1];
      snprintf(name, sizeof name, "op-%u", m->name);
      assert_name(&sp, name);
      ck_assert(sp.has_thread == (m->tid >= 0));
      if (m->tid >= 0) ck_assert_uint_eq(sp.thread_id, (uint64_t)m->tid);
    }
  }
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_gt(st.evicted_memory, 1000);
  ck_assert_uint_gt(st.evicted_window, 1000);
  free(ring);
  free(newest);
  pc_spans_free(s);
}
END_TEST

/* find_many answers as find does, key by key, across stripes and groups. */
START_TEST(find_many_as_find) {
  pc_spans_t *s = table(60000, 4 << 20, 4);
  char names[40][16];
  pc_test_span_t v[40];
  for (uint32_t i = 0; i < 40; i++) {
    snprintf(names[i], sizeof names[i], "span %u", i);
    /* traces of 4 spans: a root in "a", then children alternating services */
    v[i] = span(i % 4 < 2 ? "a" : "b", 1 + i / 4, 1 + i % 4, i % 4 ? i % 4 : 0, names[i]);
  }
  add(s, v, 40, 0);
  pc_link_t keys[45];
  uint8_t ids[45][24];
  for (uint32_t k = 0; k < 45; k++) { /* the last ones are not in the table */
    pc_test_trace_id(1 + k / 4, ids[k]);
    pc_test_span_id(1 + k % 4, ids[k] + 16);
    keys[k] = (pc_link_t){{ids[k], 16}, {ids[k] + 16, 8}};
  }
  static pc_span_rec_t sp[45], root[45], want, want_root;
  bool found[45];
  pc_spans_find_many(s, keys, 45, 10, sp, root, found);
  for (uint32_t k = 0; k < 45; k++) {
    bool f = pc_spans_find(s, ids[k], ids[k] + 16, 10, &want, &want_root, NULL);
    ck_assert_msg(found[k] == f, "key %u: found %d, find says %d", k, found[k], f);
    ck_assert_int_eq(f, k < 40);
    if (!f) continue;
    ck_assert_mem_eq(sp[k].span_id, want.span_id, 8);
    ck_assert_mem_eq(sp[k].trace_id, want.trace_id, 16);
    ck_assert_uint_eq(sp[k].name_n, want.name_n);
    ck_assert_mem_eq(sp[k].name, want.name, want.name_n);
    ck_assert_uint_eq(root[k].name_n, want_root.name_n);
    ck_assert_mem_eq(root[k].name, want_root.name, want_root.name_n);
  }
  /* Without local roots. */
  pc_spans_find_many(s, keys + 3, 5, 10, sp, NULL, found);
  for (uint32_t k = 0; k < 5; k++) ck_assert(found[k]);
  assert_name(&sp[0], "span 3");
  pc_spans_free(s);
}
END_TEST

/* ---- many threads at once ----------------------------------------------------------- */

typedef struct {
  pc_spans_t *s;
  uint32_t base;
  _Atomic uint32_t *progress; /* the writer's: spans it has added */
  int problems;
  uint64_t found;
} worker_t;

enum { PER_WRITER = 20000, WRITERS = 4, READERS = 4 };

static void *writer(void *arg) {
  worker_t *w = arg;
  char names[10][32];
  for (uint32_t i = 0; i < PER_WRITER; i += 10) {
    pc_test_span_t v[10];
    for (uint32_t k = 0; k < 10; k++) {
      uint32_t id = w->base + i + k;
      snprintf(names[k], sizeof names[k], "span-%u", id);
      v[k] = span(id % 3 ? "a" : "b", id, id, id > w->base ? id - 1 : 0, names[k]);
      v[k].pid = 1;
      v[k].tid = (int64_t)(id % 16);
    }
    add(w->s, v, 10, i / 100);
    atomic_store(w->progress, i + 10);
  }
  return NULL;
}

/* Whatever a reader finds must be the span it asked for, whole. Readers
 * ask for what their writer added last, so they meet the rings while they
 * grow, and the oldest spans while they are evicted and overwritten. */
static void *reader(void *arg) {
  worker_t *w = arg;
  char want[32];
  pc_thread_span_t ts[16];
  /* Start once the writer has: on a loaded machine the scheduler may run a
   * reader's whole loop before its writer adds a span, and then it finds
   * nothing (found == 0 below, seen under ASan). */
  while (atomic_load(w->progress) < 200) sched_yield();
  for (uint32_t i = 0; i < PER_WRITER * 2; i++) {
    uint32_t done = atomic_load(w->progress);
    uint32_t back = i % 2 ? 3000 : 200;
    uint32_t id = w->base + (done > back ? done - back : 0) + (i * 7919u) % back;
    pc_span_rec_t sp, root, top;
    if (find(w->s, id, id, i / 200, &sp, &root, &top)) {
      w->found++;
      snprintf(want, sizeof want, "span-%u", id);
      if (sp.name_n != strlen(want) || memcmp(sp.name, want, sp.name_n)) w->problems++;
      uint8_t span_id[8];
      pc_test_span_id(id, span_id);
      if (memcmp(sp.span_id, span_id, 8)) w->problems++;
    }
    if (i % 64 == 0) pc_spans_on_thread(w->s, 1, i % 16, 1000, 2000, i / 200, ts, 16);
  }
  return NULL;
}

START_TEST(concurrent_writers_and_readers) {
  /* Small enough that eviction runs all the time. */
  pc_spans_t *s = table(1000, 2 << 20, 8);
  pthread_t th[WRITERS + READERS];
  worker_t w[WRITERS + READERS];
  _Atomic uint32_t progress[WRITERS] = {0};
  for (int i = 0; i < WRITERS + READERS; i++) {
    w[i] = (worker_t){.s = s, .base = 1 + (uint32_t)(i % WRITERS) * PER_WRITER,
                      .progress = &progress[i % WRITERS]};
    ck_assert_int_eq(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &w[i]), 0);
  }
  uint64_t found = 0;
  for (int i = 0; i < WRITERS + READERS; i++) {
    pthread_join(th[i], NULL);
    ck_assert_int_eq(w[i].problems, 0);
    found += w[i].found;
  }
  pc_spans_stats_t st;
  pc_spans_stats(s, &st);
  ck_assert_uint_eq(st.added, WRITERS * PER_WRITER);
  ck_assert_uint_eq(st.spans + st.evicted_memory + st.evicted_window, st.added);
  ck_assert_uint_le(st.bytes, 2 << 20);
  ck_assert_uint_gt(found, 0);
  pc_spans_free(s);
}
END_TEST

TCase *pc_test_spans_tcase(void) {
  TCase *tc = tcase_create("spans");
  tcase_add_test(tc, find_local_root_and_top);
  tcase_add_test(tc, missing_parent);
  tcase_add_test(tc, skips_unusable_ids);
  tcase_add_test(tc, evict_by_window);
  tcase_add_test(tc, evict_by_memory);
  tcase_add_test(tc, long_names_cut_at_a_character);
  tcase_add_test(tc, spans_on_a_thread);
  tcase_add_test(tc, clock_read_before_the_lock);
  tcase_add_test(tc, duplicate_spans_stored_once);
  tcase_add_test(tc, id_index_matches_a_model);
  tcase_add_test(tc, find_many_as_find);
  tcase_add_test(tc, concurrent_writers_and_readers);
  return tc;
}
