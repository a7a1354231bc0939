/* rxthread.c - a receiver on a loop thread, for tests (see rxthread.h). */
#include "rxthread.h"

#include <check.h>

#include "../receiver/receiver.h"

static void *rxthread_main(void *arg) {
  pc_rxthread_t *t = arg;
  uv_run(&t->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void rxthread_on_shutdown(void *arg) {
  pc_rxthread_t *t = arg;
  uv_close((uv_handle_t *)&t->stop, NULL);
}

static void rxthread_on_stop(uv_async_t *a) {
  pc_rxthread_t *t = a->data;
  pc_receiver_otlp.shutdown(t->rx, uv_now(&t->loop) + 3000, rxthread_on_shutdown, t);
}

void pc_rxthread_init(pc_rxthread_t *t) {
  ck_assert_int_eq(uv_loop_init(&t->loop), 0);
  ck_assert_int_eq(uv_async_init(&t->loop, &t->stop, rxthread_on_stop), 0);
  t->stop.data = t;
}

void pc_rxthread_run(pc_rxthread_t *t, void *rx) {
  t->rx = rx;
  ck_assert_int_eq(pthread_create(&t->thread, NULL, rxthread_main, t), 0);
}

void pc_rxthread_stop(pc_rxthread_t *t) {
  ck_assert_int_eq(uv_async_send(&t->stop), 0);
  ck_assert_int_eq(pthread_join(t->thread, NULL), 0);
  ck_assert_int_eq(uv_loop_close(&t->loop), 0);
}
