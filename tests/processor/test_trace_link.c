/* test_trace_link.c - the trace_link processor (processor/trace_link.c) on a
 * real libuv loop, with a span store of the test's own (the role's
 * interface, component/host.h) and a consumer that keeps what it got:
 * every normalization case, enrichment (names, upserts, interning, the
 * service only when it differs), linking by thread, the delay (spans that
 * arrive after the profile, a full next consumer, shutdown), traces passed
 * through into the store, config errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/metrics.h"
#include "../../processor/processor.h"
#include "../auth.h"
#include "../spans.h"
#include "test_trace_link.h"

/* ---- a span store of the test's own --------------------------------------------- */

typedef struct {
  pc_span_rec_t span, root;
} known_t;

typedef struct {
  pc_span_store_t iface;
  known_t known[8];
  size_t n_known;
  pc_thread_span_t on_thread[8];
  size_t n_on_thread;
  uint32_t thread_pid, thread_tid;
  uint64_t spans_added, profiles_added, linked_added, thread_calls;
} store_t;

static store_t *store_of(const pc_span_store_t *s) { return container_of((pc_span_store_t *)s, store_t, iface); }

static void st_add_spans(const pc_span_store_t *self, const pc_traces_t *tr) {
  store_of(self)->spans_added += pc_traces_span_count(tr);
}

static bool st_find(const pc_span_store_t *self, const uint8_t trace[16], const uint8_t span[8],
                    pc_span_rec_t *out, pc_span_rec_t *root, pc_span_rec_t *top) {
  store_t *s = store_of(self);
  for (size_t i = 0; i < s->n_known; i++)
    if (!memcmp(s->known[i].span.trace_id, trace, 16) && !memcmp(s->known[i].span.span_id, span, 8)) {
      *out = s->known[i].span;
      if (root) *root = s->known[i].root;
      if (top) *top = s->known[i].root;
      return true;
    }
  return false;
}

static void st_find_many(const pc_span_store_t *self, const pc_link_t *keys, size_t n,
                         pc_span_rec_t *out, pc_span_rec_t *roots, bool *found) {
  for (size_t i = 0; i < n; i++)
    found[i] = st_find(self, keys[i].trace_id.p, keys[i].span_id.p, &out[i],
                       roots ? &roots[i] : NULL, NULL);
}

static size_t st_on_thread(const pc_span_store_t *self, uint32_t pid, uint32_t tid,
                           uint64_t from, uint64_t to, pc_thread_span_t *out, size_t cap) {
  store_t *s = store_of(self);
  s->thread_calls++;
  if (pid != s->thread_pid || tid != s->thread_tid) return 0;
  size_t n = 0;
  for (size_t i = 0; i < s->n_on_thread && n < cap; i++)
    if (s->on_thread[i].start_unix_nano <= to && s->on_thread[i].end_unix_nano >= from)
      out[n++] = s->on_thread[i];
  return n;
}

static void st_add_profiles(const pc_span_store_t *self, const pc_request_t *req) {
  store_t *s = store_of(self);
  s->profiles_added++;
  for (uint32_t r = 0; r < req->n_resources; r++)
    for (uint32_t c = 0; c < req->resources[r].n_scopes; c++)
      for (uint32_t k = 0; k < req->resources[r].scopes[c].n_profiles; k++) {
        const pc_profile_t *p = &req->resources[r].scopes[c].profiles[k];
        for (uint32_t i = 0; i < p->n_samples; i++) s->linked_added += p->samples[i].link_index > 0;
      }
}

static const pc_component_t fake_store_comp;

static const void *fake_role(void *self, pc_role_t role) {
  return role == PC_ROLE_SPAN_STORE ? &((store_t *)self)->iface : NULL;
}

static const pc_component_t fake_store_comp = {.type = "span_store", .kind = PC_EXTENSION,
                                               .role = fake_role};

static void store_init(store_t *s) {
  memset(s, 0, sizeof *s);
  s->iface = (pc_span_store_t){.add_spans = st_add_spans, .find = st_find,
                               .find_many = st_find_many, .on_thread = st_on_thread,
                               .add_profiles = st_add_profiles};
}

static void store_know(store_t *s, uint32_t trace, uint32_t span, const char *name,
                       const char *root, const char *service) {
  known_t *k = &s->known[s->n_known++];
  memset(k, 0, sizeof *k);
  pc_test_trace_id(trace, k->span.trace_id);
  pc_test_span_id(span, k->span.span_id);
  k->span.name_n = (uint16_t)strlen(name);
  memcpy(k->span.name, name, k->span.name_n);
  k->span.service_n = (uint16_t)strlen(service);
  memcpy(k->span.service, service, k->span.service_n);
  k->root = k->span;
  k->root.name_n = (uint16_t)strlen(root);
  memcpy(k->root.name, root, k->root.name_n);
}

/* ---- the next consumer -------------------------------------------------------------- */

typedef struct {
  pc_consumer_t c;
  int eagain_left;
  int calls, taken;
  uint32_t spans_calls;
  pc_arena_t *arena;
  pc_request_t got[8]; /* deep copies */
  char md[8][64];      /* x-tenant of each, "-" when none */
  const int32_t *attr_v[16]; /* the first request's samples' attribute lists, as given */
} next_t;

static int next_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  next_t *n = (next_t *)self;
  n->calls++;
  if (n->eagain_left > 0) {
    n->eagain_left--;
    return pc_err_set(err, PC_EAGAIN, "next is full");
  }
  ck_assert_int_lt(n->taken, 8);
  pc_err_t verr = {0};
  ck_assert_msg(pc_pdata_validate(req, &verr) == 0 && req->rejected_profiles == 0,
                "the processor's output does not validate: %s %s", verr.msg, req->reject_msg);
  if (!n->taken && req->n_resources && req->resources[0].n_scopes &&
      req->resources[0].scopes[0].n_profiles) {
    const pc_profile_t *p = &req->resources[0].scopes[0].profiles[0];
    for (uint32_t i = 0; i < p->n_samples && i < 16; i++)
      n->attr_v[i] = p->samples[i].attribute_indices.v;
  }
  ck_assert_int_eq(pc_request_clone(req, n->arena, &n->got[n->taken], err), 0);
  pc_str_t v;
  bool has = pc_md_get(req->metadata, PC_STR_LIT("x-tenant"), 0, &v);
  snprintf(n->md[n->taken], sizeof n->md[0], "%.*s", has ? (int)v.n : 1,
           has ? (const char *)v.p : "-");
  n->taken++;
  return 0;
}

static int next_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  (void)tr;
  (void)err;
  ((next_t *)self)->spans_calls++;
  return 0;
}

/* ---- the processor under test --------------------------------------------------------- */

typedef struct {
  store_t store;
  next_t next;
  pc_cfg_t *cfg;
  void *inst;
  pc_consumer_t *in;
  uv_loop_t loop;
  int done;
} tl_fx_t;

static void on_done(void *arg) { (*(int *)arg)++; }

static void fx_open(tl_fx_t *f, const char *yaml, pc_signal_t signals) {
  memset(f, 0, sizeof *f);
  store_init(&f->store);
  f->next.c.consume_profiles = next_profiles;
  f->next.c.consume_traces = next_traces;
  f->next.c.retry_after_s = 3;
  f->next.arena = pc_arena_new(0);
  pc_err_t err = {0};
  f->cfg = pc_cfg_load_string("test.yaml", yaml, &err);
  ck_assert_msg(f->cfg, "%s", err.msg);
  pc_create_args_t args = {.id = "trace_link", .cfg = pc_cfg_root(f->cfg), .next = &f->next.c,
                           .signals = signals};
  f->inst = pc_processor_trace_link.create(&args, &err);
  ck_assert_msg(f->inst, "create: %s", err.msg);
  pc_test_host_add("span_store", &fake_store_comp, &f->store);
  ck_assert_msg(pc_test_resolve(&pc_processor_trace_link, f->inst, &err) == 0, "%s", err.msg);
  f->in = pc_processor_trace_link.consumer(f->inst);
  ck_assert_int_eq(uv_loop_init(&f->loop), 0);
  ck_assert_int_eq(pc_processor_trace_link.start(f->inst, &f->loop, &err), 0);
}

static void fx_close(tl_fx_t *f) {
  pc_processor_trace_link.shutdown(f->inst, uv_now(&f->loop) + 2000, on_done, &f->done);
  ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(f->done, 1);
  pc_processor_trace_link.destroy(f->inst);
  pc_test_host_remove(&f->store);
  ck_assert_int_eq(uv_loop_close(&f->loop), 0);
  pc_cfg_free(f->cfg);
  pc_arena_free(f->next.arena);
}

/* The metric line "name{labels} value" of the processor, as a number. */
static double metric(tl_fx_t *f, const char *series) {
  pc_metrics_t *m = pc_metrics_new();
  pc_processor_trace_link.metrics(f->inst, m);
  pc_buf_t b = {0};
  ck_assert_int_eq(pc_metrics_render(m, &b), 0);
  ck_assert_int_eq(pc_buf_append(&b, "", 1), 0);
  char line[256];
  snprintf(line, sizeof line, "\n%s ", series); /* a sample line, not # HELP */
  const char *at = strstr((const char *)b.p, line);
  ck_assert_msg(at, "no %s in:\n%s", series, (const char *)b.p);
  at++;
  double v = strtod(at + strlen(series) + 1, NULL);
  pc_buf_free(&b);
  pc_metrics_free(m);
  return v;
}

static const pc_sample_t *sample(const pc_request_t *r, uint32_t i) {
  return &r->resources[0].scopes[0].profiles[0].samples[i];
}

/* The value of sample attribute key, "" when absent; and how many it has. */
static const char *attr(const pc_request_t *r, const pc_sample_t *s, const char *key, int *count) {
  static char out[128];
  out[0] = 0;
  int n = 0;
  for (uint32_t i = 0; i < s->attribute_indices.n; i++) {
    const pc_attr_t *a = pc_dict_attr(&r->dict, s->attribute_indices.v[i]);
    pc_str_t k = pc_dict_string(&r->dict, a->key_strindex);
    if (!pc_str_eq(k, (pc_str_t){(const uint8_t *)key, strlen(key)})) continue;
    n++;
    pc_str_t v = a->value.type == PC_AV_STRINDEX ? pc_dict_string(&r->dict, a->value.u.strindex)
                                                 : a->value.u.s;
    snprintf(out, sizeof out, "%.*s", PC_STR_FMT(v));
  }
  if (count) *count = n;
  return out;
}

static bool link_is(const pc_request_t *r, int32_t li, uint32_t trace, uint32_t span) {
  uint8_t t[16], s[8];
  pc_test_trace_id(trace, t);
  pc_test_span_id(span, s);
  const pc_link_t *l = pc_dict_link(&r->dict, li);
  return l->trace_id.n == 16 && !memcmp(l->trace_id.p, t, 16) && l->span_id.n == 8 &&
         !memcmp(l->span_id.p, s, 8);
}

/* ---- normalization -------------------------------------------------------------------- */

START_TEST(normalizes_every_case) {
  tl_fx_t f;
  fx_open(&f, "span_store: span_store\n", PC_SIGNAL_PROFILES);
  pc_arena_t *a = pc_arena_new(0);
  /* Links 1 (A) and 2 (B) valid; the table is then edited by hand. */
  pc_test_sample_t v[11];
  for (int i = 0; i < 11; i++) v[i] = (pc_test_sample_t){.frames = "main", .value = i + 1};
  v[0].trace = 1, v[0].span = 1;
  v[1].trace = 1, v[1].span = 2;
  pc_request_t req;
  pc_test_profiles(a, "svc", -1, v, 11, &req);
  pc_dictionary_t *d = &req.dict;
  ck_assert_uint_eq(d->n_links, 3);
  static const uint8_t zeros[16], trace15[15] = {1}, span9[9] = {1};
  pc_link_t *links = pc_arena_calloc(a, 9, sizeof *links);
  uint8_t nz[16];
  pc_test_trace_id(7, nz);
  links[0] = d->links[1];                        /* entry 0 not the zero link: read as zero */
  links[1] = d->links[1];                        /* A */
  links[2] = d->links[1];                        /* duplicate of A */
  links[3] = (pc_link_t){{zeros, 16}, d->links[1].span_id}; /* all-zero trace id */
  links[4] = (pc_link_t){{nz, 16}, {zeros, 8}};  /* all-zero span id */
  links[5] = (pc_link_t){{trace15, 15}, d->links[1].span_id}; /* wrong sizes */
  links[6] = (pc_link_t){d->links[1].trace_id, {span9, 9}};
  links[7] = (pc_link_t){{0}, {0}};              /* empty: the zero link */
  links[8] = d->links[2];                        /* B */
  d->links = links;
  d->n_links = 9;
  static const int32_t idx[11] = {1, 2, 3, 4, 5, 6, 7, 8, -1, 99, 0};
  for (uint32_t i = 0; i < 11; i++) ((pc_sample_t *)sample(&req, i))->link_index = idx[i];
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  ck_assert_int_eq(f.next.taken, 1);
  const pc_request_t *out = &f.next.got[0];
  ck_assert_uint_eq(out->dict.n_links, 3); /* zero, A, B */
  ck_assert(link_is(out, 1, 1, 1));
  ck_assert(link_is(out, 2, 1, 2));
  static const int32_t want[11] = {1, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0};
  for (uint32_t i = 0; i < 11; i++)
    ck_assert_msg(sample(out, i)->link_index == want[i], "sample %u: link %d, want %d", i,
                  sample(out, i)->link_index, want[i]);
  ck_assert(pc_dict_link(&out->dict, 0)->trace_id.n == 16 &&
            !memcmp(pc_dict_link(&out->dict, 0)->trace_id.p, zeros, 16));
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_dropped_links{reason=\"duplicate\"}"), 1);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_dropped_links{reason=\"zero_id\"}"), 3);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_dropped_links{reason=\"bad_size\"}"), 2);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_unlinked_samples{reason=\"dropped_link\"}"), 5);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_unlinked_samples{reason=\"out_of_range\"}"), 2);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_linked_samples"), 3);
  /* The window got the normalized request. */
  ck_assert_uint_eq(f.store.profiles_added, 1);
  ck_assert_uint_eq(f.store.linked_added, 3);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* ---- enrichment ------------------------------------------------------------------------ */

START_TEST(enriches_linked_samples) {
  tl_fx_t f;
  fx_open(&f, "", PC_SIGNAL_PROFILES);
  store_know(&f.store, 1, 1, "db.query", "POST /pay", "checkout");
  store_know(&f.store, 1, 2, "render", "GET /", "frontend");
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 1},
      {.frames = "main;pay;db", .trace = 1, .span = 1, .value = 2},
      {.frames = "main;draw", .trace = 1, .span = 2, .value = 3},
      {.frames = "main;idle", .value = 4},
      {.frames = "main;x", .trace = 1, .span = 9, .value = 5}, /* span not in the store */
  };
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, 5, &req);
  /* Sample 1 already says span.name = "old" (an upstream profcol): replaced. */
  pc_dictionary_t *d = &req.dict;
  pc_str_t *strs = pc_arena_calloc(a, d->n_strings + 2, sizeof *strs);
  memcpy(strs, d->strings, d->n_strings * sizeof *strs);
  strs[d->n_strings] = PC_STR_LIT("span.name");
  strs[d->n_strings + 1] = PC_STR_LIT("old");
  pc_attr_t *attrs = pc_arena_calloc(a, d->n_attrs + 1, sizeof *attrs);
  memcpy(attrs, d->attrs, d->n_attrs * sizeof *attrs);
  attrs[d->n_attrs] = (pc_attr_t){.key_strindex = (int32_t)d->n_strings, .has_value = true,
                                  .value = {.type = PC_AV_STRINDEX,
                                            .u.strindex = (int32_t)d->n_strings + 1}};
  int32_t *ai = pc_arena_alloc(a, sizeof *ai);
  *ai = (int32_t)d->n_attrs;
  ((pc_sample_t *)sample(&req, 1))->attribute_indices = (pc_i32s_t){ai, 1};
  d->strings = strs, d->n_strings += 2, d->attrs = attrs, d->n_attrs++;
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  const pc_request_t *out = &f.next.got[0];
  int n;
  ck_assert_str_eq(attr(out, sample(out, 0), "span.name", &n), "db.query");
  ck_assert_str_eq(attr(out, sample(out, 0), "span.local_root.name", &n), "POST /pay");
  ck_assert_str_eq(attr(out, sample(out, 0), "span.service.name", &n), ""); /* same service */
  ck_assert_str_eq(attr(out, sample(out, 1), "span.name", &n), "db.query");
  ck_assert_int_eq(n, 1); /* "old" replaced, not added to */
  ck_assert_str_eq(attr(out, sample(out, 2), "span.name", &n), "render");
  ck_assert_str_eq(attr(out, sample(out, 2), "span.service.name", &n), "frontend");
  ck_assert_uint_eq(sample(out, 3)->attribute_indices.n, 0);
  ck_assert_uint_eq(sample(out, 4)->attribute_indices.n, 0);
  /* Interned: each new string and attribute once. */
  int db = 0;
  for (uint32_t i = 0; i < out->dict.n_strings; i++)
    db += pc_str_eq(out->dict.strings[i], PC_STR_LIT("db.query"));
  ck_assert_int_eq(db, 1);
  ck_assert_int_eq(sample(out, 0)->attribute_indices.v[0], sample(out, 1)->attribute_indices.v[0]);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_enriched_samples"), 3);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_missing_spans"), 1);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

START_TEST(attribute_names_configurable) {
  tl_fx_t f;
  fx_open(&f, "attributes: {span_name: x.span, local_root_name: \"\"}\n", PC_SIGNAL_PROFILES);
  store_know(&f.store, 1, 1, "render", "GET /", "frontend");
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {{.frames = "main", .trace = 1, .span = 1, .value = 1}};
  pc_request_t req;
  pc_test_profiles(a, NULL, -1, v, 1, &req); /* no service.name: the span's differs */
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  const pc_request_t *out = &f.next.got[0];
  ck_assert_uint_eq(sample(out, 0)->attribute_indices.n, 2);
  ck_assert_str_eq(attr(out, sample(out, 0), "x.span", NULL), "render");
  ck_assert_str_eq(attr(out, sample(out, 0), "span.service.name", NULL), "frontend");
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* Samples of one link with the same attributes before share one new list (the
 * batch builder then merges it once); a sample of the same link on another
 * thread, or of another link, gets its own. */
START_TEST(shares_attribute_lists_within_a_link) {
  tl_fx_t f;
  fx_open(&f, "", PC_SIGNAL_PROFILES);
  store_know(&f.store, 1, 1, "db.query", "POST /pay", "payment");
  store_know(&f.store, 1, 2, "render", "GET /", "frontend");
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 1, .tid = 7},
      {.frames = "main;pay;db", .trace = 1, .span = 1, .value = 2, .tid = 7},
      {.frames = "main;pay;db", .trace = 1, .span = 1, .value = 3, .tid = 8},
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 4, .tid = 8},
      {.frames = "main;draw", .trace = 1, .span = 2, .value = 5, .tid = 8},
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 6},
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 7},
  };
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, 7, &req);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  const int32_t *const *lv = f.next.attr_v;
  ck_assert_ptr_eq(lv[0], lv[1]);
  ck_assert_ptr_eq(lv[2], lv[3]);
  ck_assert_ptr_ne(lv[0], lv[2]); /* thread 7, thread 8 */
  ck_assert_ptr_ne(lv[3], lv[4]); /* another span */
  ck_assert_ptr_ne(lv[4], lv[5]);
  ck_assert_ptr_eq(lv[5], lv[6]); /* no attributes before */
  /* And each says what it should. */
  const pc_request_t *out = &f.next.got[0];
  static const char *const name[] = {"db.query", "db.query", "db.query", "db.query", "render",
                                     "db.query", "db.query"};
  static const int64_t tid[] = {7, 7, 8, 8, 8, -1, -1};
  for (uint32_t i = 0; i < 7; i++) {
    int n;
    ck_assert_str_eq(attr(out, sample(out, i), "span.name", &n), name[i]);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(attr(out, sample(out, i), "span.service.name", &n),
                     i == 4 ? "frontend" : "payment");
    const pc_attr_t *t = pc_profiles_attr_find(out, sample(out, i)->attribute_indices,
                                               PC_STR_LIT("thread.id"));
    ck_assert_int_eq(t != NULL, tid[i] >= 0);
    if (t) ck_assert_int_eq(t->value.u.i, tid[i]);
    ck_assert_uint_eq(sample(out, i)->attribute_indices.n, tid[i] >= 0 ? 4 : 3);
  }
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_enriched_samples"), 7);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* Resource r of req as a copy of resource 0 whose service.name is service,
 * with samples of its own (the processor edits them in place). */
static void resource_like_first(pc_arena_t *a, pc_request_t *req, uint32_t r, const char *service) {
  pc_resource_profiles_t *rp = &req->resources[r];
  *rp = req->resources[0];
  pc_keyvalue_t *kv = pc_arena_calloc(a, 1, sizeof *kv);
  *kv = (pc_keyvalue_t){.key = PC_STR_LIT("service.name"), .has_value = true,
                        .value = {.type = PC_AV_STRING,
                                  .u.s = {(const uint8_t *)service, strlen(service)}}};
  rp->resource.attributes = (pc_kvs_t){kv, 1};
  rp->scopes = pc_arena_alloc(a, sizeof *rp->scopes);
  rp->scopes[0] = req->resources[0].scopes[0];
  pc_scope_profiles_t *sp = &rp->scopes[0];
  pc_profile_t *profs = pc_arena_alloc(a, sp->n_profiles * sizeof *profs);
  memcpy(profs, sp->profiles, sp->n_profiles * sizeof *profs);
  for (uint32_t k = 0; k < sp->n_profiles; k++) {
    pc_sample_t *smp = pc_arena_alloc(a, profs[k].n_samples * sizeof *smp);
    memcpy(smp, profs[k].samples, profs[k].n_samples * sizeof *smp);
    profs[k].samples = smp;
  }
  sp->profiles = profs;
}

/* What a link's samples get is resolved once per link and resource, not
 * once per link: the same span's samples in three resources whose services
 * are checkout, payment, checkout get the span's service (payment) in the
 * first and third only, and the same names in all. */
START_TEST(resolves_a_link_per_resource) {
  tl_fx_t f;
  fx_open(&f, "", PC_SIGNAL_PROFILES);
  store_know(&f.store, 1, 1, "db.query", "POST /pay", "payment");
  store_know(&f.store, 1, 2, "render", "GET /", "payment");
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 1, .tid = 7},
      {.frames = "main;draw", .trace = 1, .span = 2, .value = 2},
      {.frames = "main;pay", .trace = 1, .span = 1, .value = 3},
  };
  pc_request_t req;
  pc_test_profiles(a, "checkout", -1, v, 3, &req);
  pc_resource_profiles_t *res = pc_arena_calloc(a, 3, sizeof *res);
  res[0] = req.resources[0];
  req.resources = res;
  req.n_resources = 3;
  resource_like_first(a, &req, 1, "payment");
  resource_like_first(a, &req, 2, "checkout");
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  const pc_request_t *out = &f.next.got[0];
  ck_assert_uint_eq(out->n_resources, 3);
  for (uint32_t r = 0; r < 3; r++)
    for (uint32_t i = 0; i < 3; i++) {
      const pc_sample_t *s = &out->resources[r].scopes[0].profiles[0].samples[i];
      int n;
      ck_assert_str_eq(attr(out, s, "span.name", &n), i == 1 ? "render" : "db.query");
      ck_assert_int_eq(n, 1);
      ck_assert_str_eq(attr(out, s, "span.local_root.name", &n), i == 1 ? "GET /" : "POST /pay");
      ck_assert_str_eq(attr(out, s, "span.service.name", &n), r == 1 ? "" : "payment");
      ck_assert_int_eq(n, r == 1 ? 0 : 1);
      ck_assert_uint_eq(s->attribute_indices.n, (i == 0) + 2 + (r != 1));
    }
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_enriched_samples"), 9);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* ---- linking by thread ----------------------------------------------------------------- */

START_TEST(links_by_thread) {
  for (int on = 0; on < 2; on++) {
    tl_fx_t f;
    fx_open(&f, on ? "link_by_thread: true\n" : "", PC_SIGNAL_PROFILES);
    f.store.thread_pid = 42, f.store.thread_tid = 7;
    pc_thread_span_t outer = {.start_unix_nano = 100, .end_unix_nano = 200};
    pc_thread_span_t inner = {.start_unix_nano = 120, .end_unix_nano = 150};
    pc_test_trace_id(5, outer.trace_id);
    pc_test_span_id(1, outer.span_id);
    pc_test_trace_id(5, inner.trace_id);
    pc_test_span_id(2, inner.span_id);
    f.store.on_thread[0] = outer;
    f.store.on_thread[1] = inner;
    f.store.n_on_thread = 2;
    pc_arena_t *a = pc_arena_new(0);
    pc_test_sample_t v[] = {
        {.frames = "a", .n_timestamps = 1, .ts = 130, .tid = 7}, /* inner */
        {.frames = "b", .n_timestamps = 1, .ts = 110, .tid = 7}, /* outer */
        {.frames = "c", .n_timestamps = 2, .ts = 149, .tid = 7}, /* 149 inner, 150 inner */
        {.frames = "d", .value = 1, .n_timestamps = 1, .ts = 190, .tid = 7}, /* outer */
        {.frames = "e", .n_timestamps = 1, .ts = 130, .tid = 8}, /* another thread */
        {.frames = "f", .n_timestamps = 1, .ts = 300, .tid = 7}, /* after both */
        {.frames = "g", .value = 1, .tid = 7},                  /* no timestamps */
        {.frames = "h", .n_timestamps = 1, .ts = 130, .trace = 9, .span = 9}, /* linked */
    };
    pc_request_t req;
    pc_test_profiles(a, "svc", 42, v, 8, &req);
    /* c: two timestamps; the second one must stay in the same span. */
    pc_err_t err = {0};
    ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
    const pc_request_t *out = &f.next.got[0];
    if (!on) {
      for (uint32_t i = 0; i < 7; i++) ck_assert_int_eq(sample(out, i)->link_index, 0);
      ck_assert_uint_eq(f.store.thread_calls, 0);
    } else {
      ck_assert(link_is(out, sample(out, 0)->link_index, 5, 2));
      ck_assert(link_is(out, sample(out, 1)->link_index, 5, 1));
      ck_assert(link_is(out, sample(out, 2)->link_index, 5, 2));
      ck_assert(link_is(out, sample(out, 3)->link_index, 5, 1));
      ck_assert_int_eq(sample(out, 4)->link_index, 0);
      ck_assert_int_eq(sample(out, 5)->link_index, 0);
      ck_assert_int_eq(sample(out, 6)->link_index, 0);
      ck_assert(link_is(out, sample(out, 7)->link_index, 9, 9));
      ck_assert_uint_eq(out->dict.n_links, 4); /* zero, (9,9), (5,2), (5,1) */
      ck_assert_uint_eq(f.store.thread_calls, 2); /* one per thread of the request */
      ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_thread_linked_samples"), 4);
    }
    pc_arena_free(a);
    fx_close(&f);
  }
}
END_TEST

/* Two timestamps in different spans: which one is unknowable, no link. */
START_TEST(no_link_across_spans) {
  tl_fx_t f;
  fx_open(&f, "link_by_thread: true\n", PC_SIGNAL_PROFILES);
  f.store.thread_pid = 42, f.store.thread_tid = 7;
  pc_thread_span_t s1 = {.start_unix_nano = 100, .end_unix_nano = 110};
  pc_thread_span_t s2 = {.start_unix_nano = 111, .end_unix_nano = 120};
  pc_test_trace_id(5, s1.trace_id);
  pc_test_span_id(1, s1.span_id);
  pc_test_trace_id(6, s2.trace_id);
  pc_test_span_id(1, s2.span_id);
  f.store.on_thread[0] = s1, f.store.on_thread[1] = s2;
  f.store.n_on_thread = 2;
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {{.frames = "a", .n_timestamps = 2, .ts = 110, .tid = 7}};
  pc_request_t req;
  pc_test_profiles(a, "svc", 42, v, 1, &req);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  ck_assert_int_eq(sample(&f.next.got[0], 0)->link_index, 0);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* ---- delay ------------------------------------------------------------------------------- */

/* A span that reaches the store after its profile, within the delay, still
 * enriches it; the client's answer did not wait. */
START_TEST(delay_uses_late_spans) {
  tl_fx_t f;
  fx_open(&f, "delay: 60ms\n", PC_SIGNAL_PROFILES);
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {{.frames = "main", .trace = 1, .span = 1, .value = 1}};
  pc_request_t req;
  pc_test_profiles(a, "svc", -1, v, 1, &req);
  pc_md_pair_t md_pair = {PC_STR_LIT("x-tenant"), PC_STR_LIT("acme")};
  pc_metadata_t md = {&md_pair, 1};
  req.metadata = &md;
  pc_err_t err = {0};
  uint64_t t0 = uv_now(&f.loop);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0); /* answered at once */
  pc_arena_free(a); /* the processor holds a copy */
  ck_assert_int_eq(f.next.taken, 0);
  store_know(&f.store, 1, 1, "late span", "GET /late", "svc");
  while (f.next.taken == 0) uv_run(&f.loop, UV_RUN_ONCE);
  uv_update_time(&f.loop);
  ck_assert_uint_ge(uv_now(&f.loop) - t0, 60);
  ck_assert_str_eq(attr(&f.next.got[0], sample(&f.next.got[0], 0), "span.name", NULL), "late span");
  ck_assert_str_eq(f.next.md[0], "acme");
  fx_close(&f);
}
END_TEST

/* A full next consumer: the held request is retried, new ones are refused
 * meanwhile (retry later), nothing acknowledged is lost. */
START_TEST(delay_backpressure) {
  tl_fx_t f;
  fx_open(&f, "delay: 10ms\n", PC_SIGNAL_PROFILES);
  f.next.eagain_left = 2;
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {{.frames = "main", .value = 1}};
  pc_request_t req;
  pc_test_profiles(a, "svc", -1, v, 1, &req);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  while (f.next.calls == 0) uv_run(&f.loop, UV_RUN_ONCE);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), PC_EAGAIN);
  ck_assert_msg(strstr(err.msg, "not taken yet"), "%s", err.msg);
  while (f.next.taken == 0) uv_run(&f.loop, UV_RUN_ONCE);
  ck_assert_int_eq(f.next.calls, 3);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  pc_arena_free(a);
  fx_close(&f); /* shutdown hands on the second one at once */
  ck_assert_int_eq(f.next.taken, 2);
}
END_TEST

START_TEST(delay_max_bytes) {
  tl_fx_t f;
  fx_open(&f, "delay: 10s\ndelay_max_bytes: 1B\n", PC_SIGNAL_PROFILES);
  pc_arena_t *a = pc_arena_new(0);
  pc_test_sample_t v[] = {{.frames = "main", .value = 1}};
  pc_request_t req;
  pc_test_profiles(a, "svc", -1, v, 1, &req);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), 0);
  ck_assert_int_eq(f.in->consume_profiles(f.in, &req, &err), PC_EAGAIN);
  ck_assert_msg(strstr(err.msg, "delay_max_bytes 1)"), "%s", err.msg);
  ck_assert_double_eq(metric(&f, "profcol_processor_trace_link_held_requests"), 1);
  pc_arena_free(a);
  fx_close(&f);
  ck_assert_int_eq(f.next.taken, 1);
}
END_TEST

/* ---- traces -------------------------------------------------------------------------------- */

START_TEST(records_spans_and_passes_traces_on) {
  tl_fx_t f;
  fx_open(&f, "", PC_SIGNAL_TRACES);
  ck_assert(f.in->consume_profiles == NULL); /* only in traces pipelines */
  pc_arena_t *a = pc_arena_new(0);
  pc_test_span_t v[2] = {{.service = "a", .pid = -1, .name = "x", .tid = -1},
                         {.service = "a", .pid = -1, .name = "y", .tid = -1}};
  pc_test_trace_id(1, v[0].trace_id), pc_test_span_id(1, v[0].span_id);
  pc_test_trace_id(1, v[1].trace_id), pc_test_span_id(2, v[1].span_id);
  pc_traces_t tr;
  pc_test_traces(a, v, 2, &tr);
  pc_err_t err = {0};
  ck_assert_int_eq(f.in->consume_traces(f.in, &tr, &err), 0);
  ck_assert_uint_eq(f.store.spans_added, 2);
  ck_assert_uint_eq(f.next.spans_calls, 1);
  pc_arena_free(a);
  fx_close(&f);
}
END_TEST

/* ---- config ---------------------------------------------------------------------------------- */

START_TEST(config_errors) {
  static const struct {
    const char *yaml, *want;
  } bad[] = {
      {"delay: 2m\n", "delay"},
      {"span_store: \"\"\n", "needs the id of a span_store extension"},
      {"link_by_thread: maybe\n", "expected true or false"},
      {"attributes: {span: x}\n", "unknown key \"span\""},
  };
  next_t next = {.c.consume_profiles = next_profiles};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pc_err_t err = {0};
    pc_cfg_t *cfg = pc_cfg_load_string("test.yaml", bad[i].yaml, &err);
    ck_assert_ptr_nonnull(cfg);
    pc_create_args_t args = {.id = "trace_link", .cfg = pc_cfg_root(cfg), .next = &next.c,
                             .signals = PC_SIGNAL_PROFILES};
    void *inst = pc_processor_trace_link.create(&args, &err);
    ck_assert_msg(!inst, "accepted %s", bad[i].yaml);
    ck_assert_msg(strstr(err.msg, bad[i].want) && strstr(err.msg, "test.yaml:1:"),
                  "%s: got \"%s\"", bad[i].yaml, err.msg);
    pc_cfg_free(cfg);
  }
  /* A span_store that is not there: the key's place in the message. */
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load_string("test.yaml", "span_store: span_store/missing\n", &err);
  pc_create_args_t args = {.id = "trace_link", .cfg = pc_cfg_root(cfg), .next = &next.c,
                           .signals = PC_SIGNAL_PROFILES};
  void *inst = pc_processor_trace_link.create(&args, &err);
  ck_assert_ptr_nonnull(inst);
  ck_assert_int_eq(pc_test_resolve(&pc_processor_trace_link, inst, &err), PC_EINVAL);
  ck_assert_msg(strstr(err.msg, "test.yaml:1:13: span_store: \"span_store/missing\" is not "
                "defined in extensions"), "%s", err.msg);
  pc_processor_trace_link.destroy(inst);
  pc_cfg_free(cfg);
}
END_TEST

TCase *pc_test_trace_link_tcase(void) {
  TCase *tc = tcase_create("trace_link");
  tcase_add_test(tc, normalizes_every_case);
  tcase_add_test(tc, enriches_linked_samples);
  tcase_add_test(tc, shares_attribute_lists_within_a_link);
  tcase_add_test(tc, resolves_a_link_per_resource);
  tcase_add_test(tc, attribute_names_configurable);
  tcase_add_test(tc, links_by_thread);
  tcase_add_test(tc, no_link_across_spans);
  tcase_add_test(tc, delay_uses_late_spans);
  tcase_add_test(tc, delay_backpressure);
  tcase_add_test(tc, delay_max_bytes);
  tcase_add_test(tc, records_spans_and_passes_traces_on);
  tcase_add_test(tc, config_errors);
  return tc;
}
