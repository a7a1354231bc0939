/* curl.h - libcurl's multi interface driven by a component's libuv loop:
 * the one copy every component that speaks HTTP as a client uses (the
 * otlphttp and otlp_grpc exporters, the pprof receiver's scrapes, the
 * Kubernetes API client of k8s_attributes and resource_detection).
 *
 * One multi handle per component instance: sockets watched with uv_poll_t,
 * libcurl's timer as a uv_timer_t, idle connections kept in the multi
 * handle's cache so later transfers reuse them. No blocking call: libcurl
 * itself is loaded in a thread at the first use (pc_curl_wait). The
 * owner sets up each easy handle itself; this module only runs them. */
#ifndef PC_COMPONENT_CURL_H
#define PC_COMPONENT_CURL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "../core/core.h"

typedef struct pc_curl pc_curl_t;

/* A transfer: an easy handle and what to call when it ends; embedded in its
 * owner (container_of gets the owner back in done). */
typedef struct pc_curl_xfer {
  CURL *easy;
  /* On the loop, once per pc_curl_add that returned 0, unless
   * pc_curl_remove came first. rc is libcurl's transfer result. done may
   * add this transfer again (a retry) or another one. */
  void (*done)(struct pc_curl_xfer *x, CURLcode rc);
  bool added; /* in the multi handle now */
} pc_curl_xfer_t;

/* A multi handle for loop keeping at most max_connects idle connections;
 * multiplex: false forbids HTTP/2 multiplexing (see exporter/otlpgrpc.c).
 * Cannot fail today (0; err is for the contract): libcurl (with OpenSSL's
 * global state) is loaded at the first pc_curl_wait and the multi handle
 * made with the first pc_curl_easy or pc_curl_add, so that an owner that
 * never sends costs neither start-up time nor memory. Nothing of it is on
 * the loop until pc_curl_start. */
int pc_curl_open(uv_loop_t *loop, long max_connects, bool multiplex, pc_curl_t **out,
                 pc_err_t *err);
/* An owner's wait for libcurl, embedded in what waits (a send slot's call,
 * a Kubernetes GET). */
typedef struct pc_curl_wait {
  /* On the loop, once libcurl's load has ended: rc 0 (pc_curl_easy and
   * pc_curl_add now go on without blocking) or PC_EIO with why, which
   * names the package to install. */
  void (*ready)(struct pc_curl_wait *w, int rc, const char *why);
  struct pc_curl_wait *next;
  bool waiting; /* listed on its pc_curl_t */
} pc_curl_wait_t;

/* Before an owner's first pc_curl_easy: 0 when libcurl is loaded (go on),
 * PC_EIO with why when it cannot be (loaded and failed before), or
 * PC_EAGAIN: it is loading in a thread (the first call starts the
 * load; curl_dl.h) and w->ready follows on the loop, unless pc_curl_unwait
 * comes first. The loop serves everything else meanwhile. Starts c
 * (pc_curl_start). w->ready set by the owner; a second call for a waiting
 * w returns PC_EAGAIN and changes nothing. */
int pc_curl_wait(pc_curl_t *c, pc_curl_wait_t *w, char *why, size_t cap);
/* Stop waiting (nothing when w is not waiting): w->ready is not called. */
void pc_curl_unwait(pc_curl_t *c, pc_curl_wait_t *w);

/* A new easy handle for transfers on c (the owner cleans it up): every
 * owner makes its handles here, after libcurl's global set-up, never with
 * curl_easy_init alone (which would set libcurl up behind c's back, with a
 * reference nobody releases). NULL with why filled: libcurl cannot
 * initialise, or out of memory. */
CURL *pc_curl_easy(pc_curl_t *c, char *why, size_t cap);
/* Put its timer on the loop; cannot fail, and a second call does nothing
 * (an owner may start it lazily, before its first transfer). */
void pc_curl_start(pc_curl_t *c);
/* Start x (its easy handle set up; c started). PC_ENOMEM with why filled
 * when libcurl cannot take it (out of memory, in practice), PC_EIO when
 * libcurl cannot initialise. */
int pc_curl_add(pc_curl_t *c, pc_curl_xfer_t *x, char *why, size_t cap);
/* Stop x if it is running; its done is not called. */
void pc_curl_remove(pc_curl_t *c, pc_curl_xfer_t *x);
/* Close: every transfer must have been removed and every wait unwaited
 * (and its easy handle may be cleaned up already). While libcurl is still
 * loading for c, closed waits for the load to end. The cached connections close, every handle is
 * closed and c is freed; closed(arg) follows from the last close callback
 * (at once, from this call, when c was never started or is NULL). */
void pc_curl_close(pc_curl_t *c, void (*closed)(void *arg), void *arg);

#endif
