/* certs.c - test certificates with the openssl command (certs.h). */
#include "certs.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pc_test_cert(const char *dir, const char *name, const char *ca, char *cert, char *key,
                  size_t n) {
  snprintf(cert, n, "%s/%s.pem", dir, name);
  snprintf(key, n, "%s/%s.key", dir, name);
  char signer[1100] = "";
  if (ca) snprintf(signer, sizeof signer, "-CA %s/%s.pem -CAkey %s/%s.key", dir, ca, dir, ca);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 %s -newkey rsa:2048 -nodes -days 1 -subj /CN=%s "
           "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s -out %s "
           ">/dev/null 2>&1", signer, ca ? "localhost" : name, key, cert);
  ck_assert_msg(system(cmd) == 0, "openssl could not make a certificate (%s)", cmd);
}

char *pc_test_certdir(void) {
  const char *t = getenv("TMPDIR");
  char *dir;
  ck_assert_int_ge(asprintf(&dir, "%s/profcol-certs-XXXXXX", t ? t : "/tmp"), 0);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

void pc_test_certdir_rm(char *dir) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
  free(dir);
}
