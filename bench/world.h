/* world.h - internal to bench/: the synthetic machine park that the workload
 * generator (workload.c) samples profiles from.
 *
 * A world is built once from a seed: binaries with symbol tables (C, C++, Go,
 * Java, Python and kernel style names), locations inside them, services that
 * run those binaries, and per service a tree of call stacks. Everything is
 * identified by dense uint32 ids; id 0 of strings and attributes means "none".
 * Nothing here knows about pdata: workload.c turns the parts a payload uses
 * into dictionary entries. */
#ifndef PC_BENCH_WORLD_H
#define PC_BENCH_WORLD_H

#include <string.h>

#include "../pdata/pdata.h"

/* ---- deterministic random numbers (splitmix64) --------------------------- */

typedef struct {
  uint64_t s;
} wl_rng_t;

static inline uint64_t wl_rng_next(wl_rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* An independent stream for (seed, stream): the same pair gives the same
 * numbers whatever else was drawn before. */
static inline wl_rng_t wl_rng_fork(uint64_t seed, uint64_t stream) {
  wl_rng_t r = {seed ^ (stream * 0xd1342543de82ef95u)};
  (void)wl_rng_next(&r);
  return r;
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t wl_rng_below(wl_rng_t *r, uint32_t n) {
  return (uint32_t)(((wl_rng_next(r) >> 32) * n) >> 32);
}

/* Uniform in [0, 1). */
static inline double wl_rng_unit(wl_rng_t *r) {
  return (double)(wl_rng_next(r) >> 11) * 0x1p-53;
}

static inline bool wl_rng_chance(wl_rng_t *r, double p) {
  return wl_rng_unit(r) < p;
}

/* In [0, n), skewed towards 0 (index n*u^3): a few hot entries, a long tail. */
static inline uint32_t wl_rng_hot(wl_rng_t *r, uint32_t n) {
  double u = wl_rng_unit(r);
  return (uint32_t)(u * u * u * n);
}

/* ---- growable arrays of scratch memory (abort on OOM) ------------------- */

#define WL_VEC(T) \
  struct {        \
    T *v;         \
    uint32_t n;   \
    uint32_t cap; \
  }

void *wl__vec_grow(void *v, uint32_t *cap, uint32_t need, size_t elem);

/* Append one zeroed element and return a pointer to it. */
#define WL_PUSH(vec)                                                      \
  ((vec).n == (vec).cap                                                   \
       ? (void)((vec).v = wl__vec_grow((vec).v, &(vec).cap, (vec).n + 1,  \
                                       sizeof *(vec).v))                  \
       : (void)0,                                                         \
   memset(&(vec).v[(vec).n], 0, sizeof *(vec).v), &(vec).v[(vec).n++])

/* ---- the world ----------------------------------------------------------- */

typedef struct {
  uint32_t name, system_name, filename; /* string ids */
  int64_t start_line;
  uint32_t last_bin; /* while building: the binary that added it last, + 1 */
} wl_func_t;

/* A function as laid out in one binary, with its locations. */
typedef struct {
  uint32_t func;
  uint32_t first_loc;
  uint32_t n_locs;
} wl_bfn_t;

typedef struct {
  uint32_t bin;
  uint32_t bfn; /* index in wl_world_t.bfns */
  uint64_t address;
  uint32_t func[2]; /* lines: callee first when inlined */
  int64_t line[2];
  uint32_t n_lines;
} wl_loc_t;

typedef struct {
  uint32_t key, value; /* string ids; the value is a string */
} wl_attr_t;

typedef struct {
  uint32_t path; /* string id; 0: no mapping (JIT-compiled or interpreted) */
  uint64_t memory_start, memory_limit, file_offset;
  uint32_t build_ids[2]; /* attribute ids */
  uint32_t frame_type;   /* attribute id of profile.frame.type */
  uint32_t first_bfn, n_bfns;
} wl_bin_t;

/* A call stack, root first in wl_world_t.frames[off .. off+n). */
typedef struct {
  uint32_t off, n;
  uint32_t root_len, tail_at; /* frames before tail_at are shared material */
  uint32_t thread;            /* attribute id of the usual thread.name */
  uint32_t chain;
} wl_stack_t;

typedef struct {
  uint32_t name, exe_path, exe_name, k8s_namespace; /* string ids; ns 0: host */
  uint32_t weight;
  uint32_t first_stack, n_stacks;
  uint32_t threads[24]; /* attribute ids of its thread names */
  uint32_t n_threads;
  bool traced; /* takes part in distributed traces (has linked samples) */
} wl_svc_t;

typedef struct {
  uint64_t seed;
  pc_arena_t *arena; /* bytes of the strings */
  WL_VEC(pc_str_t) strs;
  uint32_t *str_slots; /* open addressing: string id, 0 empty */
  uint32_t str_cap;
  WL_VEC(wl_func_t) funcs;
  uint32_t *func_slots;
  uint32_t func_cap;
  WL_VEC(wl_bfn_t) bfns;
  WL_VEC(wl_loc_t) locs;
  WL_VEC(wl_attr_t) attrs;
  WL_VEC(wl_bin_t) bins;
  WL_VEC(uint32_t) frames;
  WL_VEC(wl_stack_t) stacks;
  WL_VEC(wl_svc_t) svcs;
  uint32_t total_weight;
  uint32_t str_thread_name; /* "thread.name" */
} wl_world_t;

/* Build the world for seed into w (zeroed first); aborts on OOM. */
void wl_world_build(wl_world_t *w, uint64_t seed);
void wl_world_free(wl_world_t *w);

/* The id of s, adding it when new. */
uint32_t wl_world_str(wl_world_t *w, const char *s);

/* Pick a service by weight. */
uint32_t wl_world_pick_svc(const wl_world_t *w, wl_rng_t *r);

/* ---- the catalogue (world_data.c) ----------------------------------------
 * Static descriptions the world is built from. Names marked "fixed" are real
 * symbols (roots of call chains refer to them by name); the rest of a symbol
 * table is generated from word lists in the binary's naming style. */

typedef enum { WL_C, WL_CPP, WL_GO, WL_JAVA, WL_PY, WL_KERNEL } wl_style_t;

typedef struct {
  const char *name, *file;
} wl_sym_t;

/* Binaries, in the order of wl_bin_defs[]. */
enum {
  WB_VMLINUX, WB_LIBC, WB_LD, WB_STDCXX, WB_GCC_S, WB_SSL, WB_CRYPTO, WB_Z,
  WB_ZSTD, WB_SYSTEMD, WB_JVM, WB_NGINX, WB_ENVOY, WB_MYSQLD, WB_REDIS,
  WB_POSTGRES, WB_SSHD, WB_JOURNALD, WB_CHECKOUT, WB_PAYMENT, WB_KUBELET,
  WB_CONTAINERD, WB_COREDNS, WB_PYTHON, WB_JDK, WB_KAFKA, WB_CART, WB_PYSTD,
  WB_PYAPP, WB_COUNT
};

typedef struct {
  const char *path; /* NULL: pseudo-binary whose frames have no mapping */
  wl_style_t style;
  const char *frame_type; /* value of profile.frame.type */
  const wl_sym_t *fixed;  /* ends with {NULL, NULL}; may be NULL */
  uint32_t n_gen;         /* generated symbols after the fixed ones */
  const char *units; /* '|'-separated: namespaces, packages, "prefix:dir" */
  const char *src;   /* source root of generated file names */
  bool go;           /* Go executable: Go runtime + shared packages first */
} wl_bin_def_t;

/* How stacks of one kind start. frames: ';'-separated "R:name", R a role
 * (E executable, C libc, J libjvm, D JDK, P Python stdlib, A the service's
 * application code, R the Go runtime of the executable) and name "*" for any
 * symbol of the chain's first middle role. mid: two roles the middle frames
 * come from, the first with probability p_mid0. */
typedef struct {
  const char *frames;
  const char *mid;
  double p_mid0;
  uint32_t weight;
  const char *threads; /* '|'-separated; NULL: the service's threads */
} wl_chain_def_t;

typedef struct {
  const char *name, *exe_path, *k8s_namespace; /* namespace NULL: host process */
  wl_style_t lang;
  uint32_t weight;     /* relative number of processes */
  uint32_t exe, app;   /* WB_*; app: JIT/interpreted code, or the exe */
  uint8_t leaves[6];   /* WB_* whose code ends stacks; 0-terminated */
  const char *threads; /* '|'-separated thread names */
  bool traced;
} wl_svc_def_t;

extern const wl_bin_def_t wl_bin_defs[WB_COUNT];
extern const wl_svc_def_t wl_svc_defs[];
extern const uint32_t wl_n_svc_defs;
extern const wl_sym_t wl_go_runtime[];
extern const char wl_go_shared_units[];
extern const uint32_t wl_go_shared_n;
/* Chains of a service language. */
const wl_chain_def_t *wl_chains_for(wl_style_t lang, uint32_t *n);

/* Word lists for generated names. */
extern const char *const wl_nouns[];
extern const uint32_t wl_n_nouns;
extern const char *const wl_verbs[];
extern const uint32_t wl_n_verbs;
extern const char *const wl_class_suffixes[];
extern const uint32_t wl_n_class_suffixes;
typedef struct {
  const char *decl, *mangled;
} wl_cpp_args_t;
extern const wl_cpp_args_t wl_cpp_args[];
extern const uint32_t wl_n_cpp_args;

#endif
