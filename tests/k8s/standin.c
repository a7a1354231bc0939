/* standin.c - the stand-in API server from C tests (standin.h). */
#include "standin.h"

#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../certs.h"

static int read_port(const char *path) {
  FILE *f = fopen(path, "r");
  int port = 0;
  if (f) {
    if (fscanf(f, "%d", &port) != 1) port = 0;
    fclose(f);
  }
  return port;
}

static void launch(pc_standin_t *s, double bookmark_s) {
  char pf[700], cf[700], key[700], port[16], bm[32], script[1024];
  snprintf(pf, sizeof pf, "%s/port", s->dir);
  snprintf(cf, sizeof cf, "%s/cport", s->dir);
  snprintf(key, sizeof key, "%s/apiserver.key", s->dir);
  unlink(pf);
  unlink(cf);
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(bm, sizeof bm, "%g", bookmark_s > 0 ? bookmark_s : 60);
  const char *root = getenv("PC_SOURCE_ROOT");
  snprintf(script, sizeof script, "%s/tests/k8s/apiserver.py", root ? root : ".");
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    execl("/usr/bin/python3", "python3", script, "--cert", s->ca, "--key", key, "--token",
          s->token, "--port", port, "--port-file", pf, "--control-port-file", cf,
          "--bookmark-seconds", bm, (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 300; i++) { /* Python starts in well under 30 s */
    int p = read_port(pf), c = read_port(cf);
    if (p && c) {
      s->port = p;
      s->control = c;
      return;
    }
    int st;
    ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "apiserver.py exited at start");
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  ck_abort_msg("apiserver.py did not start");
}

void pc_standin_start(pc_standin_t *s, int port, double bookmark_s) {
  memset(s, 0, sizeof *s);
  s->dir = pc_test_certdir();
  char key[600];
  pc_test_cert(s->dir, "apiserver", NULL, s->ca, key, sizeof s->ca);
  snprintf(s->token, sizeof s->token, "t0k3n");
  s->port = port;
  launch(s, bookmark_s);
  pc_standin_kubeconfig(s, NULL);
}

void pc_standin_restart(pc_standin_t *s, double bookmark_s) { launch(s, bookmark_s); }

void pc_standin_stop(pc_standin_t *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  int st;
  for (int i = 0; i < 100 && waitpid(s->pid, &st, WNOHANG) == 0; i++) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
  }
  if (waitpid(s->pid, &st, WNOHANG) == 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
  }
  s->pid = 0;
}

void pc_standin_free(pc_standin_t *s) {
  pc_standin_stop(s);
  if (s->dir) pc_test_certdir_rm(s->dir);
  s->dir = NULL;
}

void pc_standin_kubeconfig(pc_standin_t *s, const char *token) {
  snprintf(s->kubeconfig, sizeof s->kubeconfig, "%s/kubeconfig", s->dir);
  FILE *f = fopen(s->kubeconfig, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "apiVersion: v1\nkind: Config\n"
          "clusters:\n- name: standin\n  cluster:\n    server: https://127.0.0.1:%d\n"
          "    certificate-authority: apiserver.pem\n"
          "contexts:\n- name: test\n  context: {cluster: standin, user: profcol}\n"
          "current-context: test\n"
          "users:\n- name: profcol\n  user: {token: %s}\n",
          s->port, token ? token : s->token);
  fclose(f);
}

typedef struct {
  char *out;
  size_t cap, n;
} sink_t;

static size_t sink(char *p, size_t size, size_t nmemb, void *ud) {
  sink_t *k = ud;
  size_t n = size * nmemb;
  if (k->out && k->n + n < k->cap) {
    memcpy(k->out + k->n, p, n);
    k->n += n;
    k->out[k->n] = 0;
  }
  return n;
}

static void control(const pc_standin_t *s, const char *method, const char *path,
                    const char *body, char *out, size_t cap) {
  CURL *e = curl_easy_init();
  ck_assert_ptr_nonnull(e);
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->control, path);
  sink_t k = {out, cap, 0};
  if (out && cap) out[0] = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
  if (!strcmp(method, "POST")) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "[]");
  CURLcode rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  ck_assert_msg(rc == CURLE_OK && status == 200, "stand-in control %s %s: %s (%ld)", method, path,
                curl_easy_strerror(rc), status);
}

void pc_standin_post(const pc_standin_t *s, const char *path, const char *body) {
  control(s, "POST", path, body, NULL, 0);
}

void pc_standin_stats(const pc_standin_t *s, char *out, size_t cap) {
  control(s, "GET", "/stats", NULL, out, cap);
}

long pc_standin_stat(const pc_standin_t *s, const char *key) {
  char buf[2048], pat[80];
  pc_standin_stats(s, buf, sizeof buf);
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *at = strstr(buf, pat);
  return at ? strtol(at + strlen(pat), NULL, 10) : -1;
}
