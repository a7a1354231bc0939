/* registry.c - every component type profcol knows. Adding a component is
 * one file in its folder and one line here. */
#include <string.h>

#include "../exporter/exporter.h"
#include "../extension/extension.h"
#include "../processor/processor.h"
#include "../receiver/receiver.h"
#include "service.h"

static const pc_component_t *const receivers[] = {
    &pc_receiver_otlp,
    &pc_receiver_pprof,
    NULL,
};
static const pc_component_t *const processors[] = {
    &pc_processor_batch,
    &pc_processor_dedup,
    &pc_processor_memory_limiter,
    &pc_processor_resource,
    &pc_processor_attributes,
    &pc_processor_resource_detection,
    &pc_processor_k8s_attributes,
    &pc_processor_trace_link,
    NULL,
};
static const pc_component_t *const exporters[] = {
    &pc_exporter_debug,
    &pc_exporter_file,
    &pc_exporter_otlphttp,
    &pc_exporter_otlp,
    &pc_exporter_nop,
    &pc_exporter_load_balancing,
    NULL,
};
static const pc_component_t *const extensions[] = {
    &pc_extension_bearertokenauth,
    &pc_extension_file_storage,
    &pc_extension_headers_setter,
    &pc_extension_health_check,
    &pc_extension_span_store,
    NULL,
};

const pc_component_t *const *pc_registry_list(pc_kind_t kind) {
  switch (kind) {
  case PC_RECEIVER: return receivers;
  case PC_PROCESSOR: return processors;
  case PC_EXPORTER: return exporters;
  case PC_EXTENSION: return extensions;
  }
  return extensions;
}

const pc_component_t *pc_registry_find(pc_kind_t kind, const char *type) {
  for (const pc_component_t *const *c = pc_registry_list(kind); *c; c++)
    if (strcmp((*c)->type, type) == 0 ||
        ((*c)->deprecated_alias && strcmp((*c)->deprecated_alias, type) == 0))
      return *c;
  return NULL;
}

size_t pc_registry_names(pc_kind_t kind, const char **names, size_t cap) {
  size_t n = 0;
  for (const pc_component_t *const *c = pc_registry_list(kind); *c; c++) {
    if (n < cap) names[n++] = (*c)->type;
    if ((*c)->deprecated_alias && n < cap) names[n++] = (*c)->deprecated_alias;
  }
  return n;
}

const char *pc_kind_name(pc_kind_t kind) {
  static const char *const names[] = {"receiver", "processor", "exporter", "extension"};
  return names[kind];
}

const char *pc_kind_section(pc_kind_t kind) {
  static const char *const names[] = {"receivers", "processors", "exporters", "extensions"};
  return names[kind];
}
