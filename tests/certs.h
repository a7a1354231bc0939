/* certs.h - certificates for the TLS tests, made with the openssl command
 * (shared by the receiver, grpc and exporter suites). */
#ifndef PC_TEST_CERTS_H
#define PC_TEST_CERTS_H

#include <stddef.h>

/* Make dir/NAME.pem and dir/NAME.key: an RSA certificate for 127.0.0.1 and
 * localhost, valid for a day, self-signed when ca is NULL (it can then sign
 * others), else signed by dir/CA.pem with dir/CA.key. cert and key (n bytes
 * each) get the two paths. Fails the test when openssl fails. */
void pc_test_cert(const char *dir, const char *name, const char *ca, char *cert, char *key,
                  size_t n);
/* A fresh empty directory under $TMPDIR (or /tmp), and its removal with
 * the files in it (not recursive); both the caller's string. */
char *pc_test_certdir(void);
void pc_test_certdir_rm(char *dir);

#endif
