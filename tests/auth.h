/* auth.h - extension instances for the receiver, gRPC and exporter suites
 * (a bearertokenauth from YAML, a file_storage, ...), kept in a test host,
 * as the service creates extensions first and hands its host to the
 * components that name them (component/host.h). */
#ifndef PC_TEST_AUTH_H
#define PC_TEST_AUTH_H

#include "../component/component.h"

/* Create "bearertokenauth" or "bearertokenauth/NAME" from yaml (its keys)
 * and keep it in the test host; fails the test when the config is refused. */
void *pc_test_bearer_new(const char *id, const char *yaml);
void pc_test_bearer_free(void *inst);

/* Keep an extension instance (comp's) in the test host under id, or forget it. */
void pc_test_host_add(const char *id, const pc_component_t *comp, void *inst);
void pc_test_host_remove(void *inst);
/* comp's resolve of inst against a host of the instances kept now, as the
 * service calls it before start; 0 when comp has no resolve hook. */
int pc_test_resolve(const pc_component_t *comp, void *inst, pc_err_t *err);

#endif
