/* extension.h - profcol's extensions that are not tied to a pipeline stage
 * (file_storage lives with the exporters that keep queues in it).
 *
 * health_check: an HTTP endpoint (default localhost:13133, path "/") for
 *   load balancers and orchestrators, as the Collector's healthcheck
 *   extension: 200 with {"status":"Server available","upSince":...,
 *   "uptime":...} while the service is running, 503 with
 *   {"status":"Server not available",...} while it starts or drains. It
 *   learns the service's state through the component status hook.
 *
 * bearertokenauth: a shared secret in a request header ("Authorization:
 *   Bearer <token>" by default) that receivers require and exporters send
 *   when their auth.authenticator names it (bearertokenauth.c). */
#ifndef PC_EXTENSION_H
#define PC_EXTENSION_H

#include "../component/component.h"

extern const pc_component_t pc_extension_health_check;
extern const pc_component_t pc_extension_bearertokenauth;

/* ---- bearertokenauth, for the components that name it ----------------------
 * An instance is registered from create to destroy; components look it up
 * in start (extensions are created and started first) and may keep the
 * pointer until they are destroyed (extensions are destroyed last). */
typedef struct pc_bearer pc_bearer_t;

/* Whether id names a bearertokenauth ("bearertokenauth" or "bearertokenauth/NAME"). */
bool pc_is_bearer_id(const char *id);
/* The most recently created instance with that id, or NULL. */
const pc_bearer_t *pc_bearer_find(const char *id);
/* The header that carries the token ("Authorization"). */
const char *pc_bearer_header(const pc_bearer_t *b);
/* Its scheme ("Bearer"; "" when the token goes alone). */
const char *pc_bearer_scheme(const pc_bearer_t *b);
/* What a client sends in it: "<scheme> <first token>". */
const char *pc_bearer_value(const pc_bearer_t *b);
/* Whether a received header value is "<scheme> <token>" for one of its
 * tokens (constant time in the secrets). */
bool pc_bearer_check(const pc_bearer_t *b, pc_str_t value);

#endif
