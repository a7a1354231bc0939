/* budget.c - one memory budget for request data across the process (core.h).
 *
 * The one idea: the memory a client's request makes the process hold - its
 * body as received, the body decompressed, the arena its decoded request
 * lives in - is taken from one counter before it is allocated and given back
 * when it is freed. A request whose next allocation would pass the limit is
 * refused (503 with Retry-After, gRPC UNAVAILABLE) instead, so no mix of
 * clients, however large or slow, makes the process hold more request data
 * than the limit, whatever the receivers, connections and streams.
 *
 * The counter is atomic: decode jobs take from it in libuv's thread pool,
 * receivers on their loops. It counts what the holders say they hold (buffer
 * capacities, arena blocks), not malloc's overhead. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "core.h"
#include "log.h"

#define MIB ((uint64_t)1 << 20)

bool pc_budget_take(pc_budget_t *b, uint64_t n) {
  if (!b || n == 0) return true;
  uint64_t limit = atomic_load_explicit(&b->limit, memory_order_relaxed);
  uint64_t held = atomic_load_explicit(&b->held, memory_order_relaxed);
  do {
    if (limit && (n > limit || held > limit - n)) return false;
  } while (!atomic_compare_exchange_weak_explicit(&b->held, &held, held + n,
                                                  memory_order_relaxed, memory_order_relaxed));
  return true;
}

void pc_budget_give(pc_budget_t *b, uint64_t n) {
  if (b && n) atomic_fetch_sub_explicit(&b->held, n, memory_order_relaxed);
}

bool pc_budget_fits(const pc_budget_t *b, uint64_t n) {
  if (!b) return true;
  uint64_t limit = atomic_load_explicit(&b->limit, memory_order_relaxed);
  uint64_t held = atomic_load_explicit(&b->held, memory_order_relaxed);
  return !limit || (n <= limit && held <= limit - n);
}

uint64_t pc_budget_held(const pc_budget_t *b) {
  return atomic_load_explicit(&b->held, memory_order_relaxed);
}

uint64_t pc_budget_limit(const pc_budget_t *b) {
  return atomic_load_explicit(&b->limit, memory_order_relaxed);
}

void pc_budget_set_limit(pc_budget_t *b, uint64_t limit) {
  atomic_store_explicit(&b->limit, limit, memory_order_relaxed);
}

/* Logging is rare (a refusal) and may come from any loop: a lock is fine. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void pc_budget_refused(pc_budget_t *b, uint64_t n, const char *who) {
  if (!b) return;
  atomic_fetch_add_explicit(&b->refusals, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->refused_bytes, n, memory_order_relaxed);
  uint64_t skipped;
  pthread_mutex_lock(&log_mu);
  bool say = pc_ratelimit(&b->rl, 10000, &skipped);
  pthread_mutex_unlock(&log_mu);
  if (!say) return;
  char sup[48];
  pc_log(who, PC_LOG_WARN,
         "request memory is at its limit: refused a request that needed %" PRIu64
         " more bytes (%" PRIu64 " of %" PRIu64 " bytes held, %s)%s", n, pc_budget_held(b),
         pc_budget_limit(b), b->key ? b->key : "the limit", pc_suppressed(skipped, sup));
}

uint64_t pc_budget_default(uint64_t soft_limit) {
  if (soft_limit) return soft_limit / 2;
  int64_t total = pc_memory_total();
  if (total <= 0) return PC_BUDGET_DEFAULT_MAX;
  uint64_t quarter = (uint64_t)total / 4;
  return quarter < 64 * MIB ? 64 * MIB : quarter > PC_BUDGET_DEFAULT_MAX ? PC_BUDGET_DEFAULT_MAX
                                                                         : quarter;
}

static pc_budget_t request_budget = {.key = PC_REQUEST_BUDGET_KEY};
static pthread_once_t request_once = PTHREAD_ONCE_INIT;

static void request_budget_init(void) {
  pc_budget_set_limit(&request_budget, pc_budget_default(0));
}

pc_budget_t *pc_request_budget(void) {
  pthread_once(&request_once, request_budget_init);
  return &request_budget;
}
