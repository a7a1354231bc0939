/* rxthread.h - run a started receiver instance on a libuv loop in a thread
 * of its own, so a test can talk to it over real sockets (shared by the
 * receiver, grpc and exporter suites).
 *
 *   pc_rxthread_init(&th);                      // th.loop is ready
 *   pc_receiver_otlp.start(rx, &th.loop, &err); // the test starts it
 *   pc_rxthread_run(&th, rx);                   // the loop runs in a thread
 *   ...
 *   pc_rxthread_stop(&th);  // shutdown (3 s deadline), join, and check that
 *                           // every handle was closed (uv_loop_close == 0)
 * The caller destroys rx afterwards. */
#ifndef PC_TEST_RXTHREAD_H
#define PC_TEST_RXTHREAD_H

#include <pthread.h>
#include <uv.h>

typedef struct {
  uv_loop_t loop;
  uv_async_t stop;
  pthread_t thread;
  void *rx;
} pc_rxthread_t;

void pc_rxthread_init(pc_rxthread_t *t);
void pc_rxthread_run(pc_rxthread_t *t, void *rx);
void pc_rxthread_stop(pc_rxthread_t *t);

#endif
