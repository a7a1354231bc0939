/* worker.c - which worker the calling thread is (core.h), for the few
 * places below the service that must tell workers apart.
 *
 * With service.workers: N, the service runs N copies of the pipelines, each
 * on a libuv loop of its own in a thread of its own (service/workers.c).
 * Components are the same code in every worker and share nothing; two
 * things still depend on which worker runs them, and both sit where no
 * config or host reaches: the listening-socket registry (httpd/listen.c:
 * each worker listens on every address with a socket of its own,
 * SO_REUSEPORT, and a port 0 must resolve to the same port in all of them)
 * and a persistent queue's directory (one per worker). So a worker's
 * identity is a property of its thread: the service sets it before anything
 * of the worker's starts, and it stays for the thread's life. A thread that
 * never set it (tests, tools, the single-worker default) is worker 0 of 1,
 * generation 0. */
#include "core.h"

static _Thread_local pc_worker_t self = {.index = 0, .count = 1, .generation = 0};

void pc_worker_set(uint32_t index, uint32_t count, uint64_t generation) {
  self = (pc_worker_t){.index = index, .count = count ? count : 1, .generation = generation};
}

pc_worker_t pc_worker_self(void) { return self; }
