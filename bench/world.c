/* world.c - builds the synthetic world (world.h) from the catalogue
 * (world_data.c) and a seed.
 *
 * Symbol tables: the fixed symbols of a binary, then generated ones in groups
 * that share a source file and a class, namespace or package, named in the
 * binary's style. Functions are interned by content, so the Go runtime linked
 * into five executables is five mappings' worth of locations but one set of
 * functions, as an agent would report it.
 *
 * Stacks: each service grows a tree. A new stack usually copies a prefix of
 * an earlier one (roots and middles are shared), then adds middle frames from
 * the service's own code and a new tail that ends in a library and often in
 * the kernel. Hot functions are picked more often (skewed indices), and a
 * middle frame is often a neighbour of its caller in the symbol table. */
#include "world.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define STACKS_PER_SVC 1200
#define MAX_DEPTH 60
#define MIN_DEPTH 20
#define FANOUT 3 /* callees per function */
#define KERNEL_POOL 6
#define GO_RT_ROOTS 11 /* wl_go_runtime[0..10] start chains (goexit .. gcDrain) */ /* kernel_syms[0..5] start syscall and page-fault tails */

void *wl__vec_grow(void *v, uint32_t *cap, uint32_t need, size_t elem) {
  uint32_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  *cap = c;
  return pc_xrealloc(v, (size_t)c * elem);
}

/* ---- interning ------------------------------------------------------------ */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3u;
  return h;
}

static uint64_t hash_u64(uint64_t h, uint64_t v) { return hash_bytes(&v, sizeof v, h); }

#define HASH_SEED 0xcbf29ce484222325u

/* An open-addressing table of ids (0 = empty slot) whose keys live in the
 * vectors; grows at half load. */
typedef uint64_t (*id_hash_fn)(const wl_world_t *w, uint32_t id);

static void slots_grow(const wl_world_t *w, uint32_t **slots, uint32_t *cap,
                       uint32_t n_ids, id_hash_fn hash) {
  uint32_t ncap = *cap ? *cap * 2 : 1024;
  uint32_t *ns = pc_xcalloc(ncap, sizeof *ns);
  for (uint32_t id = 1; id < n_ids; id++) {
    uint32_t i = (uint32_t)hash(w, id) & (ncap - 1);
    while (ns[i]) i = (i + 1) & (ncap - 1);
    ns[i] = id;
  }
  free(*slots);
  *slots = ns;
  *cap = ncap;
}

static uint64_t str_hash(const wl_world_t *w, uint32_t id) {
  return hash_bytes(w->strs.v[id].p, w->strs.v[id].n, HASH_SEED);
}

/* The id of a string (0 for ""), adding it when new. */
static uint32_t str_intern(wl_world_t *w, const char *p, size_t n) {
  if (n == 0) return 0;
  if ((w->strs.n + 1) * 2 > w->str_cap)
    slots_grow(w, &w->str_slots, &w->str_cap, w->strs.n, str_hash);
  pc_str_t key = {(const uint8_t *)p, n};
  uint32_t mask = w->str_cap - 1;
  for (uint32_t i = (uint32_t)hash_bytes(p, n, HASH_SEED) & mask;; i = (i + 1) & mask) {
    uint32_t id = w->str_slots[i];
    if (id && pc_str_eq(w->strs.v[id], key)) return id;
    if (id) continue;
    pc_str_t *s = WL_PUSH(w->strs);
    if (pc_arena_dup(w->arena, p, n, s) != 0) pc_oom();
    w->str_slots[i] = w->strs.n - 1;
    return w->strs.n - 1;
  }
}

static uint32_t str_of(wl_world_t *w, const char *s) { return str_intern(w, s, strlen(s)); }

static uint32_t str_fmt(wl_world_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static uint32_t str_fmt(wl_world_t *w, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  return str_intern(w, buf, (size_t)n);
}

static uint64_t func_hash(const wl_world_t *w, uint32_t id) {
  const wl_func_t *f = &w->funcs.v[id];
  uint64_t h = hash_u64(HASH_SEED, f->name);
  h = hash_u64(h, f->system_name);
  h = hash_u64(h, f->filename);
  return hash_u64(h, (uint64_t)f->start_line);
}

/* The id of a function with this content, adding it when new. Its start
 * line is derived from its name and file, so equal symbols intern equal. */
static uint32_t func_intern(wl_world_t *w, uint32_t name, uint32_t sys, uint32_t file) {
  if ((w->funcs.n + 1) * 2 > w->func_cap)
    slots_grow(w, &w->func_slots, &w->func_cap, w->funcs.n, func_hash);
  pc_str_t ns = w->strs.v[name], fs = w->strs.v[file];
  int64_t start = 1 + (int64_t)(hash_bytes(fs.p, fs.n, hash_bytes(ns.p, ns.n, HASH_SEED)) % 3000);
  wl_func_t key = {name, sys, file, start, 0};
  uint32_t mask = w->func_cap - 1;
  wl_func_t *tmp = WL_PUSH(w->funcs); /* hash the candidate in place */
  *tmp = key;
  uint32_t cand = w->funcs.n - 1;
  for (uint32_t i = (uint32_t)func_hash(w, cand) & mask;; i = (i + 1) & mask) {
    uint32_t id = w->func_slots[i];
    if (!id) {
      w->func_slots[i] = cand;
      return cand;
    }
    const wl_func_t *f = &w->funcs.v[id];
    if (f->name == name && f->system_name == sys && f->filename == file &&
        f->start_line == start) {
      w->funcs.n--; /* drop the candidate */
      return id;
    }
  }
}

/* Attributes are few (threads, frame types, build ids): a linear search. */
static uint32_t attr_intern(wl_world_t *w, uint32_t key, uint32_t value) {
  for (uint32_t i = 1; i < w->attrs.n; i++)
    if (w->attrs.v[i].key == key && w->attrs.v[i].value == value) return i;
  wl_attr_t *a = WL_PUSH(w->attrs);
  a->key = key;
  a->value = value;
  return w->attrs.n - 1;
}

/* ---- small text helpers --------------------------------------------------- */

/* Append printf output to buf (of size cap), truncating. */
static void cat(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

/* word with its first letter upper-cased */
static void cat_pascal(char *buf, size_t cap, const char *word) {
  size_t len = strlen(buf);
  cat(buf, cap, "%s", word);
  if (buf[len] >= 'a' && buf[len] <= 'z') buf[len] = (char)(buf[len] - 'a' + 'A');
}

/* PascalCase to snake_case */
static void cat_snake(char *buf, size_t cap, const char *pascal) {
  for (const char *p = pascal; *p; p++) {
    if (*p >= 'A' && *p <= 'Z') {
      if (p != pascal) cat(buf, cap, "_");
      cat(buf, cap, "%c", *p - 'A' + 'a');
    } else {
      cat(buf, cap, "%c", *p);
    }
  }
}

static const char *noun(wl_rng_t *r) { return wl_nouns[wl_rng_below(r, wl_n_nouns)]; }
static const char *verb(wl_rng_t *r) { return wl_verbs[wl_rng_below(r, wl_n_verbs)]; }

/* The k-th '|'-separated field of list into out. */
static void field(const char *list, uint32_t k, char *out, size_t cap) {
  const char *p = list;
  while (k-- && (p = strchr(p, '|'))) p++;
  if (!p) p = "";
  size_t n = strcspn(p, "|");
  if (n >= cap) n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

static uint32_t count_fields(const char *list) {
  uint32_t n = 1;
  for (const char *p = list; (p = strchr(p, '|')); p++) n++;
  return n;
}

/* ---- generated symbol names ------------------------------------------------ */

/* A source file and the class or package its functions share. */
typedef struct {
  wl_style_t style;
  char unit[160];   /* namespace / package / module / C prefix */
  char dir[96];     /* C: directory of the unit */
  char cls[96];     /* class or type */
  char file[320];
  bool snake;       /* C++: snake_case methods; C: snake_case names */
} group_t;

static void group_file_c(group_t *g, const char *src, const char *n1) {
  char pre[64] = "";
  for (const char *p = g->unit; *p && strlen(pre) < sizeof pre - 2; p++)
    if (*p != '_') cat(pre, sizeof pre, "%c", (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
  cat(g->file, sizeof g->file, "%s%s%s/%s%s%s.c", src, *src ? "/" : "", g->dir, pre,
      *pre ? "_" : "", n1);
}

/* The module root of a Go unit: its first three path elements. */
static size_t go_module_len(const char *unit) {
  const char *p = unit;
  for (int i = 0; i < 3 && p; i++) p = strchr(p + (i ? 1 : 0), '/');
  return p ? (size_t)(p - unit) : strlen(unit);
}

static void group_file_go(group_t *g, const char *src, const char *own_unit,
                          const char *n1) {
  size_t first = strcspn(g->unit, "/");
  size_t ml = go_module_len(g->unit);
  if (!memchr(g->unit, '.', first))
    cat(g->file, sizeof g->file, "/usr/local/go/src/%s/%s.go", g->unit, n1);
  else if (*src && ml == go_module_len(own_unit) && strncmp(g->unit, own_unit, ml) == 0)
    cat(g->file, sizeof g->file, "%s%s/%s.go", src, g->unit + ml, n1);
  else
    cat(g->file, sizeof g->file, "/root/go/pkg/mod/%s/%s.go", g->unit, n1);
}

/* Start a group: pick a unit of the binary and name its file and class. */
static void group_start(group_t *g, wl_rng_t *r, wl_style_t style, const char *units,
                        const char *src) {
  memset(g, 0, sizeof *g);
  g->style = style;
  char u[256];
  field(units, wl_rng_below(r, count_fields(units)), u, sizeof u);
  char *colon = strchr(u, ':');
  if (colon) {
    *colon = '\0';
    cat(g->dir, sizeof g->dir, "%s", colon + 1);
  }
  cat(g->unit, sizeof g->unit, "%s", u);
  const char *n1 = noun(r), *n2 = noun(r);
  cat_pascal(g->cls, sizeof g->cls, n1);
  if (wl_rng_chance(r, 0.5)) cat_pascal(g->cls, sizeof g->cls, n2);
  cat(g->cls, sizeof g->cls, "%s", wl_class_suffixes[wl_rng_below(r, wl_n_class_suffixes)]);
  size_t ul = strlen(g->unit);
  switch (style) {
  case WL_C:
  case WL_KERNEL:
    g->snake = ul == 0 ? false : g->unit[ul - 1] == '_';
    group_file_c(g, src, n1);
    break;
  case WL_CPP: {
    g->snake = !(g->unit[0] >= 'A' && g->unit[0] <= 'Z');
    const char *last = strrchr(g->unit, ':');
    last = last ? last + 1 : (ul ? g->unit : n2);
    char lower[64] = "";
    cat_snake(lower, sizeof lower, last);
    cat(g->file, sizeof g->file, "%s/%s/", src, lower);
    cat_snake(g->file, sizeof g->file, g->cls);
    cat(g->file, sizeof g->file, ".cc");
    break;
  }
  case WL_GO: {
    char own[160];
    field(units, 0, own, sizeof own);
    group_file_go(g, src, own, n1);
    break;
  }
  case WL_JAVA: cat(g->file, sizeof g->file, "%s.java", g->cls); break;
  case WL_PY: cat(g->file, sizeof g->file, "%s/%s.py", src, g->unit); break;
  }
}

static void name_c(const group_t *g, wl_rng_t *r, char *name, size_t cap) {
  const char *v = verb(r), *n = noun(r);
  if (g->snake) {
    cat(name, cap, "%s%s_%s", g->unit, v, n);
    if (wl_rng_chance(r, 0.4)) cat(name, cap, "_%s", noun(r));
  } else {
    cat(name, cap, "%s", g->unit);
    if (g->unit[0]) cat_pascal(name, cap, v); else cat(name, cap, "%s", v);
    cat_pascal(name, cap, n);
  }
  static const char *const clones[] = {".isra.0", ".constprop.0", ".part.0", ".cold"};
  if (wl_rng_chance(r, 0.06)) cat(name, cap, "%s", clones[wl_rng_below(r, 4)]);
}

static void name_cpp(const group_t *g, wl_rng_t *r, char *name, size_t cap, char *sys,
                     size_t scap) {
  char method[64] = "";
  const char *v = verb(r), *n = noun(r);
  if (g->snake)
    cat(method, sizeof method, "%s_%s", v, n);
  else {
    cat(method, sizeof method, "%s", v);
    cat_pascal(method, sizeof method, n);
  }
  const wl_cpp_args_t *args = &wl_cpp_args[wl_rng_below(r, wl_n_cpp_args)];
  bool is_const = wl_rng_chance(r, 0.2);
  cat(name, cap, "%s%s%s::%s(%s)%s", g->unit, g->unit[0] ? "::" : "", g->cls, method,
      args->decl, is_const ? " const" : "");
  if (wl_rng_chance(r, 0.08)) {
    cat(name, cap, "::{lambda()#%u}::operator()() const", 1 + wl_rng_below(r, 3));
    return; /* no mangled name for lambdas here */
  }
  cat(sys, scap, "_ZN%s", is_const ? "K" : "");
  char comp[160] = "";
  cat(comp, sizeof comp, "%s", g->unit);
  for (char *c = comp; *c;) {
    char *end = strstr(c, "::");
    size_t l = end ? (size_t)(end - c) : strlen(c);
    cat(sys, scap, "%zu%.*s", l, (int)l, c);
    c += l + (end ? 2 : 0);
  }
  cat(sys, scap, "%zu%s%zu%sE%s", strlen(g->cls), g->cls, strlen(method), method,
      args->mangled);
}

static void name_go(const group_t *g, wl_rng_t *r, char *name, size_t cap) {
  char fn[64] = "";
  if (wl_rng_chance(r, 0.5)) /* exported */
    cat_pascal(fn, sizeof fn, verb(r));
  else
    cat(fn, sizeof fn, "%s", verb(r));
  cat_pascal(fn, sizeof fn, noun(r));
  double u = wl_rng_unit(r);
  if (u < 0.4)
    cat(name, cap, "%s.%s", g->unit, fn);
  else if (u < 0.9)
    cat(name, cap, "%s.(*%s).%s", g->unit, g->cls, fn);
  else
    cat(name, cap, "%s.%s.%s", g->unit, g->cls, fn);
  if (wl_rng_chance(r, 0.15)) cat(name, cap, ".func%u", 1 + wl_rng_below(r, 4));
}

static void name_java(const group_t *g, wl_rng_t *r, char *name, size_t cap) {
  cat(name, cap, "%s.%s", g->unit, g->cls);
  if (wl_rng_chance(r, 0.15)) {
    cat(name, cap, "$");
    cat_pascal(name, cap, noun(r));
  }
  char m[64] = "";
  cat(m, sizeof m, "%s", verb(r));
  cat_pascal(m, sizeof m, noun(r));
  if (wl_rng_chance(r, 0.1))
    cat(name, cap, ".lambda$%s$%u", m, wl_rng_below(r, 12));
  else
    cat(name, cap, ".%s", m);
}

static void name_py(const group_t *g, wl_rng_t *r, char *name, size_t cap) {
  if (wl_rng_chance(r, 0.5)) cat(name, cap, "%s.", g->cls);
  const char *under = wl_rng_chance(r, 0.2) ? "_" : "";
  const char *v = verb(r), *n = noun(r);
  cat(name, cap, "%s%s_%s", under, v, n);
}

/* Generate one function of group g; returns its interned id. */
static uint32_t gen_func(wl_world_t *w, wl_rng_t *r, const group_t *g) {
  char name[512] = "", sys[512] = "";
  switch (g->style) {
  case WL_C:
  case WL_KERNEL: name_c(g, r, name, sizeof name); break;
  case WL_CPP: name_cpp(g, r, name, sizeof name, sys, sizeof sys); break;
  case WL_GO: name_go(g, r, name, sizeof name); break;
  case WL_JAVA: name_java(g, r, name, sizeof name); break;
  case WL_PY: name_py(g, r, name, sizeof name); break;
  }
  uint32_t n = str_of(w, name), s = str_of(w, sys), f = str_of(w, g->file);
  return func_intern(w, n, s, f);
}

/* ---- binaries --------------------------------------------------------------- */

/* State of the binary being laid out. */
typedef struct {
  uint32_t bin;    /* index in w->bins (== WB_* index) */
  uint64_t cursor; /* next free address */
  bool inline_ok;  /* native code: some locations carry an inlined callee */
} layout_t;

/* Add func to the binary with 1-3 call-site locations; false when the binary
 * already has it. */
static bool bin_add_func(wl_world_t *w, wl_rng_t *r, layout_t *l, uint32_t func) {
  wl_func_t *f = &w->funcs.v[func];
  if (f->last_bin == l->bin + 1) return false;
  f->last_bin = l->bin + 1;
  wl_bin_t *b = &w->bins.v[l->bin];
  wl_bfn_t *bf = WL_PUSH(w->bfns);
  bf->func = func;
  bf->first_loc = w->locs.n;
  bf->n_locs = 1 + wl_rng_chance(r, 0.4);
  bf->n_locs += wl_rng_chance(r, 0.15);
  uint64_t size = 32 + wl_rng_below(r, 2048);
  uint64_t base = l->cursor;
  l->cursor = (l->cursor + size + 15) & ~(uint64_t)15;
  uint32_t own_bfns = w->bfns.n - 1 - b->first_bfn;
  for (uint32_t i = 0; i < bf->n_locs; i++) {
    wl_loc_t *loc = WL_PUSH(w->locs);
    loc->bin = l->bin;
    loc->bfn = w->bfns.n - 1;
    loc->address = l->inline_ok ? base + (size * i + wl_rng_below(r, (uint32_t)size)) / bf->n_locs
                                : wl_rng_below(r, 400) + i * 400; /* bytecode index */
    loc->n_lines = 1;
    loc->func[0] = func;
    loc->line[0] = f->start_line + 1 + wl_rng_below(r, 80);
    if (l->inline_ok && own_bfns > 0 && wl_rng_chance(r, 0.12)) {
      const wl_bfn_t *callee = &w->bfns.v[b->first_bfn + wl_rng_below(r, own_bfns)];
      loc->func[1] = loc->func[0];
      loc->line[1] = loc->line[0];
      loc->func[0] = callee->func;
      loc->line[0] = w->funcs.v[callee->func].start_line + 1 + wl_rng_below(r, 20);
      loc->n_lines = 2;
    }
  }
  return true;
}

static void bin_add_fixed(wl_world_t *w, wl_rng_t *r, layout_t *l, const wl_sym_t *syms) {
  for (; syms && syms->name; syms++) {
    uint32_t name = str_of(w, syms->name), file = str_of(w, syms->file);
    bin_add_func(w, r, l, func_intern(w, name, 0, file));
  }
}

/* n generated functions, in groups of 3-16 per file. */
static void bin_add_generated(wl_world_t *w, wl_rng_t *r, layout_t *l,
                              const wl_bin_def_t *d, uint32_t n) {
  group_t g;
  uint32_t left_in_group = 0;
  for (uint32_t added = 0, tries = 0; added < n && tries < n * 8; tries++) {
    if (left_in_group == 0) {
      group_start(&g, r, d->style, d->units, d->src);
      left_in_group = 3 + wl_rng_below(r, 14);
    }
    if (bin_add_func(w, r, l, gen_func(w, r, &g))) {
      added++;
      left_in_group--;
    }
  }
}

static uint32_t build_id_attr(wl_world_t *w, wl_rng_t *r, const char *key, int hexlen) {
  char hex[48] = "";
  for (int i = 0; i < hexlen; i++) cat(hex, sizeof hex, "%x", wl_rng_below(r, 16));
  uint32_t k = str_of(w, key);
  return attr_intern(w, k, str_of(w, hex));
}

/* The functions of the Go packages every Go executable links. */
typedef WL_VEC(uint32_t) ids_t;

static void go_shared_funcs(wl_world_t *w, ids_t *out) {
  wl_rng_t r = wl_rng_fork(w->seed, 0x60);
  const wl_bin_def_t d = {.style = WL_GO, .units = wl_go_shared_units, .src = ""};
  group_t g;
  uint32_t left_in_group = 0;
  for (uint32_t tries = 0; out->n < wl_go_shared_n && tries < wl_go_shared_n * 8; tries++) {
    if (left_in_group == 0) {
      group_start(&g, &r, d.style, d.units, d.src);
      left_in_group = 3 + wl_rng_below(&r, 14);
    }
    uint32_t f = gen_func(w, &r, &g);
    if (w->funcs.v[f].last_bin == UINT32_MAX) continue; /* already listed */
    w->funcs.v[f].last_bin = UINT32_MAX;
    *WL_PUSH(*out) = f;
    left_in_group--;
  }
  for (uint32_t i = 0; i < out->n; i++) w->funcs.v[out->v[i]].last_bin = 0;
}

static void bin_build(wl_world_t *w, uint32_t bi, const ids_t *go_shared,
                      uint32_t *go_rt_end) {
  const wl_bin_def_t *d = &wl_bin_defs[bi];
  wl_rng_t r = wl_rng_fork(w->seed, 0x100 + bi);
  wl_bin_t *b = WL_PUSH(w->bins);
  uint32_t frame_type_key = str_of(w, "profile.frame.type");
  b->frame_type = attr_intern(w, frame_type_key, str_of(w, d->frame_type));
  b->first_bfn = w->bfns.n;
  layout_t l = {.bin = bi, .inline_ok = d->path != NULL,
                .cursor = 0x1000 * (1 + wl_rng_below(&r, 64))};
  if (d->style == WL_KERNEL) l.cursor = 0;
  if (d->go) {
    bin_add_fixed(w, &r, &l, wl_go_runtime);
    *go_rt_end = w->bfns.n - b->first_bfn;
    uint32_t file = str_fmt(w, "%s/cmd/%s/main.go", d->src, strrchr(d->path, '/') + 1);
    uint32_t name = str_of(w, "main.main");
    bin_add_func(w, &r, &l, func_intern(w, name, 0, file));
    for (uint32_t i = 0; i < go_shared->n; i++) bin_add_func(w, &r, &l, go_shared->v[i]);
  }
  bin_add_fixed(w, &r, &l, d->fixed);
  bin_add_generated(w, &r, &l, d, d->n_gen);
  /* bins.v may have moved while functions were added */
  b = &w->bins.v[bi];
  b->n_bfns = w->bfns.n - b->first_bfn;
  if (!d->path) return;
  b->path = str_of(w, d->path);
  b->build_ids[0] = build_id_attr(w, &r, "process.executable.build_id.htlhash", 32);
  b->build_ids[1] = build_id_attr(w, &r, "process.executable.build_id.gnu", 40);
  uint64_t text = (l.cursor + 0xfff) & ~(uint64_t)0xfff;
  if (d->style == WL_KERNEL)
    b->memory_start = 0xffffffff81000000u;
  else if (d->go)
    b->memory_start = 0x400000;
  else if (strncmp(d->path, "/usr/lib/", 9) == 0 && strstr(d->path, ".so"))
    b->memory_start = 0x7f0000000000u + (uint64_t)wl_rng_below(&r, 0xffff) * 0x1000000;
  else
    b->memory_start = 0x555555554000u + (uint64_t)wl_rng_below(&r, 0x10000) * 0x1000;
  b->memory_limit = b->memory_start + text;
  b->file_offset = d->style == WL_KERNEL || d->go ? 0 : 0x1000 * (uint64_t)(1 + wl_rng_below(&r, 64));
}

/* ---- services and their stacks ---------------------------------------------- */

/* Where frames of one role come from: a range of a binary's functions. */
typedef struct {
  uint32_t bin, lo, hi; /* bfn indices relative to the binary */
} source_t;

typedef struct {
  uint32_t locs[16];
  uint32_t n;
  source_t mid[2];
  double p_mid0;
  uint32_t weight;
  uint32_t thread_lo, thread_hi; /* range in the service's threads */
} chain_t;

typedef struct {
  const wl_svc_def_t *def;
  const uint32_t *go_rt_end; /* per binary */
  chain_t chains[4];
  uint32_t n_chains, chain_weight;
  uint64_t *seen; /* hashes of the stacks made so far (open addressing) */
  uint32_t seen_cap;
} svc_build_t;

static source_t role_source(const wl_world_t *w, const svc_build_t *sb, char role) {
  uint32_t bin;
  switch (role) {
  case 'C': bin = WB_LIBC; break;
  case 'J': bin = WB_JVM; break;
  case 'D': bin = WB_JDK; break;
  case 'P': bin = WB_PYSTD; break;
  case 'A': bin = sb->def->app; break;
  default: bin = sb->def->exe; break; /* 'E', 'R' */
  }
  source_t s = {bin, 0, w->bins.v[bin].n_bfns};
  if (wl_bin_defs[bin].go && role == 'R') s.hi = sb->go_rt_end[bin];
  if (wl_bin_defs[bin].go && role == 'A') s.lo = sb->go_rt_end[bin];
  return s;
}

/* A location of a function picked from src. Programs have a static call
 * graph: usually (90%) the frame is one of the FANOUT callees of its caller
 * prev (fixed per caller; utility functions are callees of many), else any
 * function, hot ones more often. */
static uint32_t pick_loc(const wl_world_t *w, wl_rng_t *r, source_t src, uint32_t prev) {
  const wl_bin_t *b = &w->bins.v[src.bin];
  uint32_t n = src.hi - src.lo;
  const wl_loc_t *pl = prev != UINT32_MAX ? &w->locs.v[prev] : NULL;
  double u;
  if (pl && pl->bin == src.bin && pl->bfn >= b->first_bfn + src.lo &&
      pl->bfn < b->first_bfn + src.hi && wl_rng_chance(r, 0.9)) {
    uint64_t edge = (uint64_t)pl->bfn * FANOUT + wl_rng_below(r, FANOUT);
    wl_rng_t e = wl_rng_fork(w->seed, 0x5eed000000000000u + edge);
    u = wl_rng_unit(&e);
    u = u * u;
  } else {
    u = wl_rng_unit(r);
    u = u * u * u;
  }
  const wl_bfn_t *bf = &w->bfns.v[b->first_bfn + src.lo + (uint32_t)(u * n)];
  return bf->first_loc + wl_rng_below(r, bf->n_locs);
}

static uint32_t find_sym(const wl_world_t *w, source_t src, const char *name, size_t n) {
  const wl_bin_t *b = &w->bins.v[src.bin];
  pc_str_t want = {(const uint8_t *)name, n};
  for (uint32_t i = src.lo; i < src.hi; i++) {
    const wl_bfn_t *bf = &w->bfns.v[b->first_bfn + i];
    if (pc_str_eq(w->strs.v[w->funcs.v[bf->func].name], want)) return bf->first_loc;
  }
  fprintf(stderr, "world: no symbol %.*s in binary %u\n", (int)n, name, src.bin);
  abort();
}

static uint32_t add_threads(wl_world_t *w, wl_svc_t *s, const char *list) {
  uint32_t n = count_fields(list);
  for (uint32_t i = 0; i < n && s->n_threads < 24; i++) {
    char name[128];
    field(list, i, name, sizeof name);
    s->threads[s->n_threads++] = attr_intern(w, w->str_thread_name, str_of(w, name));
  }
  return s->n_threads;
}

static void chain_resolve(wl_world_t *w, wl_rng_t *r, svc_build_t *sb, wl_svc_t *s,
                          const wl_chain_def_t *cd, chain_t *c) {
  c->mid[0] = role_source(w, sb, cd->mid[0]);
  c->mid[1] = role_source(w, sb, cd->mid[1]);
  c->p_mid0 = cd->p_mid0;
  c->weight = cd->weight;
  c->thread_lo = cd->threads ? s->n_threads : 0;
  c->thread_hi = cd->threads ? add_threads(w, s, cd->threads) : sb->def->threads ? count_fields(sb->def->threads) : 0;
  for (const char *p = cd->frames; *p && c->n < 16;) {
    size_t len = strcspn(p, ";");
    const char *name = p + 2;
    size_t nl = len - 2;
    source_t src = role_source(w, sb, p[0]);
    if (nl == 1 && name[0] == '*')
      c->locs[c->n] = pick_loc(w, r, c->mid[0], c->n ? c->locs[c->n - 1] : UINT32_MAX);
    else
      c->locs[c->n] = find_sym(w, src, name, nl);
    c->n++;
    p += len + (p[len] == ';');
  }
}

/* Tail frames: 0-3 in a leaf library, then maybe the kernel. */
static uint32_t make_tail(const wl_world_t *w, wl_rng_t *r, const svc_build_t *sb,
                          uint32_t prev, uint32_t *out) {
  uint32_t n = 0, nleaves = 0;
  while (nleaves < 6 && sb->def->leaves[nleaves]) nleaves++;
  uint32_t lb = sb->def->leaves[wl_rng_below(r, nleaves)];
  bool in_lib = wl_rng_chance(r, 0.8);
  if (in_lib) {
    source_t src = {lb, 0, w->bins.v[lb].n_bfns};
    if (lb == sb->def->exe && wl_bin_defs[lb].go && wl_rng_chance(r, 0.6)) {
      src.lo = GO_RT_ROOTS; /* Go leaves: mostly the runtime, not its roots */
      src.hi = sb->go_rt_end[lb];
    }
    for (uint32_t k = 1 + wl_rng_below(r, 3); k; k--) {
      out[n] = pick_loc(w, r, src, n ? out[n - 1] : prev);
      n++;
    }
  }
  bool syscalls = in_lib && (lb == WB_LIBC || wl_bin_defs[lb].go);
  const wl_bin_t *k = &w->bins.v[WB_VMLINUX];
  source_t pool = {WB_VMLINUX, KERNEL_POOL, k->n_bfns};
  uint32_t extra = 0;
  if (syscalls && wl_rng_chance(r, 0.45)) {
    for (uint32_t i = 0; i < 2; i++) out[n++] = w->bfns.v[k->first_bfn + i].first_loc;
    extra = 1 + wl_rng_below(r, 6);
  } else if (wl_rng_chance(r, 0.04)) {
    for (uint32_t i = 2; i < KERNEL_POOL; i++) out[n++] = w->bfns.v[k->first_bfn + i].first_loc;
    extra = wl_rng_below(r, 4);
  }
  for (; extra; extra--) {
    out[n] = pick_loc(w, r, pool, out[n - 1]);
    n++;
  }
  return n;
}

static uint64_t frames_hash(const uint32_t *f, uint32_t n) {
  uint64_t h = hash_bytes(f, n * sizeof *f, HASH_SEED);
  return h ? h : 1;
}

/* Record h; false when it was there already. */
static bool seen_add(svc_build_t *sb, uint64_t h) {
  uint32_t mask = sb->seen_cap - 1;
  for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
    if (sb->seen[i] == h) return false;
    if (!sb->seen[i]) {
      sb->seen[i] = h;
      return true;
    }
  }
}

static const chain_t *pick_chain(wl_rng_t *r, const svc_build_t *sb, uint32_t *ci) {
  uint32_t x = wl_rng_below(r, sb->chain_weight);
  for (*ci = 0; *ci + 1 < sb->n_chains && x >= sb->chains[*ci].weight; (*ci)++)
    x -= sb->chains[*ci].weight;
  return &sb->chains[*ci];
}

/* One new stack of service s: true when it was distinct and got added. */
static bool stack_make(wl_world_t *w, wl_rng_t *r, svc_build_t *sb, wl_svc_t *s) {
  uint32_t f[MAX_DEPTH + 24], n = 0, root_len, ci, thread;
  uint32_t made = w->stacks.n - s->first_stack;
  const chain_t *c;
  if (made > 0 && wl_rng_chance(r, 0.9)) {
    const wl_stack_t *p = &w->stacks.v[s->first_stack + wl_rng_hot(r, made)];
    ci = p->chain;
    c = &sb->chains[ci];
    root_len = p->root_len;
    double u = 1 - wl_rng_unit(r);
    n = p->root_len + (uint32_t)((p->tail_at - p->root_len) * (1 - u * u * u));
    memcpy(f, &w->frames.v[p->off], n * sizeof *f);
    thread = wl_rng_chance(r, 0.7) ? p->thread : 0;
  } else {
    c = pick_chain(r, sb, &ci);
    memcpy(f, c->locs, c->n * sizeof *f);
    n = root_len = c->n;
    thread = 0;
  }
  if (!thread && c->thread_hi > c->thread_lo)
    thread = s->threads[c->thread_lo + wl_rng_below(r, c->thread_hi - c->thread_lo)];
  uint32_t tail[24];
  uint32_t depth = MIN_DEPTH + wl_rng_below(r, 21);
  depth += wl_rng_below(r, 21);
  uint32_t nt = make_tail(w, r, sb, n ? f[n - 1] : UINT32_MAX, tail);
  if (n + nt > MAX_DEPTH) n = MAX_DEPTH - nt > root_len ? MAX_DEPTH - nt : root_len;
  while (n + nt < depth) {
    source_t src = c->mid[wl_rng_chance(r, c->p_mid0) ? 0 : 1];
    f[n] = pick_loc(w, r, src, f[n - 1]);
    n++;
  }
  uint32_t tail_at = n;
  memcpy(&f[n], tail, nt * sizeof *f);
  n += nt;
  if (!seen_add(sb, frames_hash(f, n))) return false;
  wl_stack_t *st = WL_PUSH(w->stacks);
  *st = (wl_stack_t){.off = w->frames.n, .n = n, .root_len = root_len, .tail_at = tail_at,
                     .thread = thread, .chain = ci};
  for (uint32_t i = 0; i < n; i++) *WL_PUSH(w->frames) = f[i];
  return true;
}

static void svc_build(wl_world_t *w, uint32_t si, const uint32_t *go_rt_end) {
  const wl_svc_def_t *d = &wl_svc_defs[si];
  wl_rng_t r = wl_rng_fork(w->seed, 0x200 + si);
  wl_svc_t *s = WL_PUSH(w->svcs);
  s->name = str_of(w, d->name);
  s->exe_path = str_of(w, d->exe_path);
  s->exe_name = str_of(w, strrchr(d->exe_path, '/') + 1);
  s->k8s_namespace = d->k8s_namespace ? str_of(w, d->k8s_namespace) : 0;
  s->weight = d->weight;
  s->traced = d->traced;
  add_threads(w, s, d->threads);
  svc_build_t sb = {.def = d, .go_rt_end = go_rt_end, .seen_cap = 8192};
  sb.seen = pc_xcalloc(sb.seen_cap, sizeof *sb.seen);
  const wl_chain_def_t *cds = wl_chains_for(d->lang, &sb.n_chains);
  for (uint32_t i = 0; i < sb.n_chains; i++) {
    chain_resolve(w, &r, &sb, s, &cds[i], &sb.chains[i]);
    sb.chain_weight += sb.chains[i].weight;
  }
  s->first_stack = w->stacks.n;
  for (uint32_t tries = 0; w->stacks.n - s->first_stack < STACKS_PER_SVC &&
                           tries < 4 * STACKS_PER_SVC;
       tries++)
    stack_make(w, &r, &sb, s);
  s->n_stacks = w->stacks.n - s->first_stack;
  w->total_weight += s->weight;
  free(sb.seen);
}

/* ---- the world ----------------------------------------------------------------- */

void wl_world_build(wl_world_t *w, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->seed = seed;
  w->arena = pc_arena_new(256 * 1024);
  (void)WL_PUSH(w->strs);  /* id 0: "" */
  (void)WL_PUSH(w->funcs); /* id 0: unused, keeps 0 free as "empty slot" */
  (void)WL_PUSH(w->attrs); /* id 0: none */
  w->str_thread_name = str_of(w, "thread.name");
  ids_t go_shared = {0};
  go_shared_funcs(w, &go_shared);
  uint32_t go_rt_end[WB_COUNT] = {0};
  for (uint32_t bi = 0; bi < WB_COUNT; bi++) bin_build(w, bi, &go_shared, &go_rt_end[bi]);
  free(go_shared.v);
  for (uint32_t si = 0; si < wl_n_svc_defs; si++) svc_build(w, si, go_rt_end);
}

void wl_world_free(wl_world_t *w) {
  pc_arena_free(w->arena);
  free(w->strs.v);
  free(w->str_slots);
  free(w->funcs.v);
  free(w->func_slots);
  free(w->bfns.v);
  free(w->locs.v);
  free(w->attrs.v);
  free(w->bins.v);
  free(w->frames.v);
  free(w->stacks.v);
  free(w->svcs.v);
  memset(w, 0, sizeof *w);
}

uint32_t wl_world_str(wl_world_t *w, const char *s) { return str_of(w, s); }

uint32_t wl_world_pick_svc(const wl_world_t *w, wl_rng_t *r) {
  uint32_t x = wl_rng_below(r, w->total_weight), i = 0;
  while (i + 1 < w->svcs.n && x >= w->svcs.v[i].weight) x -= w->svcs.v[i++].weight;
  return i;
}
