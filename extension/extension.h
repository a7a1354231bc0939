/* extension.h - profcol's extensions that are not tied to a pipeline stage
 * (file_storage lives with the exporters that keep queues in it).
 *
 * health_check: an HTTP endpoint (default localhost:13133, path "/") for
 *   load balancers and orchestrators, as the Collector's healthcheck
 *   extension: 200 with {"status":"Server available","upSince":...,
 *   "uptime":...} while the service is running, 503 with
 *   {"status":"Server not available",...} while it starts or drains. It
 *   learns the service's state through the component status hook. */
#ifndef PC_EXTENSION_H
#define PC_EXTENSION_H

#include "../component/component.h"

extern const pc_component_t pc_extension_health_check;

#endif
