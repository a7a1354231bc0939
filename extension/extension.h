/* extension.h - profcol's extensions. Components reach them only through
 * the host (component/host.h), by id and role; nothing here is looked up
 * by name.
 *
 * health_check: an HTTP endpoint (default localhost:13133, path "/") for
 *   load balancers and orchestrators, as the Collector's healthcheck
 *   extension: 200 with {"status":"Server available","upSince":...,
 *   "uptime":...} while the service is running, 503 with
 *   {"status":"Server not available",...} while it starts or drains. It
 *   learns the service's state through the component status hook.
 *
 * bearertokenauth: a shared secret in a request header ("Authorization:
 *   Bearer <token>" by default); a server authenticator for receivers and
 *   client headers for exporters (bearertokenauth.c).
 *
 * headers_setter: client headers set per batch from its client metadata
 *   (headers_setter.c), for exporters' auth.authenticator.
 *
 * file_storage: a directory where exporters keep persistent sending queues
 *   (file_storage.c), for sending_queue.storage.
 *
 * span_store: recent spans and the profile samples linked to them, for the
 *   trace_link processor (the span-store role), with a query API: the
 *   profile of a trace as folded stacks or JSON (span_store.c). */
#ifndef PC_EXTENSION_H
#define PC_EXTENSION_H

#include "../component/component.h"

extern const pc_component_t pc_extension_health_check;
extern const pc_component_t pc_extension_bearertokenauth;
extern const pc_component_t pc_extension_headers_setter;
extern const pc_component_t pc_extension_file_storage;
extern const pc_component_t pc_extension_span_store;

/* Where a started span_store instance serves its query API: whether over
 * TLS, the host as configured (empty for every interface; no brackets) and
 * the port it bound. For the metrics endpoint's redirect to it
 * (service/telemetry.c). */
void pc_span_store_query_endpoint(const void *self, bool *tls, char *host, size_t host_n,
                                  int *port);

#endif
