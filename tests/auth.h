/* auth.h - a bearertokenauth extension instance for the receiver, gRPC and
 * exporter suites (extension/bearertokenauth.c), created from YAML and
 * registered by id, as the service would create it before the components
 * that name it. */
#ifndef PC_TEST_AUTH_H
#define PC_TEST_AUTH_H

/* Create "bearertokenauth" or "bearertokenauth/NAME" from yaml (its keys);
 * fails the test when the config is refused. */
void *pc_test_bearer_new(const char *id, const char *yaml);
void pc_test_bearer_free(void *inst);

#endif
