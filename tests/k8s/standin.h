/* standin.h - tests/k8s/apiserver.py, the stand-in Kubernetes API server,
 * started and driven from a C test: an HTTPS API with a bearer token and a
 * certificate from certs.c, a kubeconfig that points at it, and its
 * control port for adding pods, compacting history, cutting watches and
 * going down. */
#ifndef PC_TEST_K8S_STANDIN_H
#define PC_TEST_K8S_STANDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int port, control;   /* the HTTPS API's port and the control port */
  char *dir;           /* certs.c's temp dir: certificate, kubeconfig, port files */
  char ca[512];        /* the server's certificate (self-signed: it is the CA) */
  char kubeconfig[600];
  char token[64];
} pc_standin_t;

/* Start it on port (0: any) with token "t0k3n"; waits until it listens.
 * bookmark_s: seconds between BOOKMARK events. */
void pc_standin_start(pc_standin_t *s, int port, double bookmark_s);
/* Start another process on the same port and directory (after a stop). */
void pc_standin_restart(pc_standin_t *s, double bookmark_s);
/* SIGTERM and wait; keeps dir (for a restart). */
void pc_standin_stop(pc_standin_t *s);
/* Stop if running and remove dir. */
void pc_standin_free(pc_standin_t *s);
/* POST body (JSON) to the control path ("/pods", "/delete", "/bulk?n=100",
 * "/compact", "/drop", "/down?ms=2000"); fails the test unless answered 200. */
void pc_standin_post(const pc_standin_t *s, const char *path, const char *body);
/* GET /stats into out (JSON text). */
void pc_standin_stats(const pc_standin_t *s, char *out, size_t cap);
/* One number of /stats ("lists", "watches", "gone", ...); -1 when absent. */
long pc_standin_stat(const pc_standin_t *s, const char *key);
/* Write a kubeconfig for s with token (NULL: the right one) to s->kubeconfig. */
void pc_standin_kubeconfig(pc_standin_t *s, const char *token);

#endif
