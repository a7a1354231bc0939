/* debug.c - the `debug` exporter: shows what flows through a pipeline.
 *
 * verbosity basic: one line per request (counts); normal: one line per
 * profile; detailed: every sample, then its resolved stack a frame per line,
 * leaf first. Lines go through the logger, like the Collector's debug
 * exporter. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../component/component.h"
#include "../core/log.h"
#include "exporter.h"

typedef struct {
  char *verbosity;
  int64_t sampling_initial;
  int64_t sampling_thereafter;
} debug_cfg_t;

static const pc_opt_t debug_opts[] = {
    PC_OPT_STR("verbosity", "basic", debug_cfg_t, verbosity,
               "basic (counts per request), normal (a line per profile) or detailed (every sample "
               "and its whole stack, a frame per line, leaf first)"),
    PC_OPT_INT_RANGE("sampling_initial", "2", debug_cfg_t, sampling_initial, 0, 1000000,
                     "accepted for Collector compatibility; every request is shown"),
    PC_OPT_INT_RANGE("sampling_thereafter", "1", debug_cfg_t, sampling_thereafter, 0, 1000000,
                     "accepted for Collector compatibility; every request is shown"),
    PC_OPT_TABLE_END,
};

typedef enum { V_BASIC, V_NORMAL, V_DETAILED } verbosity_t;

typedef struct {
  pc_consumer_t consumer; /* first: container of the consumer */
  char id[128];
  verbosity_t verbosity;
  uint64_t requests;
} debug_exporter_t;

static void print_profile(const debug_exporter_t *d, const pc_request_t *req,
                          const pc_resource_profiles_t *rp, const pc_profile_t *p) {
  const pc_dictionary_t *dict = &req->dict;
  pc_str_t type = pc_dict_string(dict, p->sample_type.type_strindex);
  pc_str_t unit = pc_dict_string(dict, p->sample_type.unit_strindex);
  int64_t total = 0;
  for (uint32_t i = 0; i < p->n_samples; i++) {
    const pc_sample_t *s = &p->samples[i];
    total += s->n_values ? 0 : (int64_t)s->n_timestamps;
    for (uint32_t k = 0; k < s->n_values; k++) total += s->values[k];
  }
  pc_str_t service = {0};
  for (uint32_t i = 0; i < rp->resource.attributes.n; i++) {
    const pc_keyvalue_t *kv = &rp->resource.attributes.v[i];
    pc_str_t key = kv->key.n ? kv->key : pc_dict_string(dict, kv->key_strindex);
    if (pc_str_eq(key, PC_STR_LIT("service.name")) && kv->value.type == PC_AV_STRING)
      service = kv->value.u.s;
  }
  pc_log(d->id, PC_LOG_INFO, "profile: service=%.*s type=%.*s:%.*s samples=%u total=%" PRId64
         " time_unix_nano=%" PRIu64 " duration_nano=%" PRIu64,
         PC_STR_FMT(service), PC_STR_FMT(type), PC_STR_FMT(unit), p->n_samples, total,
         p->time_unix_nano, p->duration_nano);
}

/* One frame: "func (file:line)" for a named one, else "file+0xaddr" or
 * "0xaddr" from its mapping. */
static void frame_text(const pc_dictionary_t *dict, const pc_location_t *loc, uint32_t line,
                       pc_buf_t *out) {
  if (line < loc->n_lines) {
    const pc_line_t *ln = &loc->lines[line];
    const pc_function_t *f = pc_dict_function(dict, ln->function_index);
    pc_str_t name = pc_dict_string(dict, f->name_strindex);
    if (name.n) {
      pc_buf_append(out, name.p, name.n);
      pc_str_t file = pc_dict_string(dict, f->filename_strindex);
      if (file.n && ln->line) pc_buf_printf(out, " (%.*s:%" PRId64 ")", PC_STR_FMT(file), ln->line);
      else if (file.n) pc_buf_printf(out, " (%.*s)", PC_STR_FMT(file));
      return;
    }
  }
  const pc_mapping_t *m = pc_dict_mapping(dict, loc->mapping_index);
  pc_str_t file = pc_dict_string(dict, m->filename_strindex);
  if (file.n) {
    const uint8_t *slash = memrchr(file.p, '/', file.n);
    if (slash) {
      file.n -= (size_t)(slash + 1 - file.p);
      file.p = slash + 1;
    }
    pc_buf_append(out, file.p, file.n);
    pc_buf_printf(out, "+0x%" PRIx64, loc->address);
  } else {
    pc_buf_printf(out, "0x%" PRIx64, loc->address);
  }
}

/* detailed: a line per sample, then its whole stack a frame per line, leaf
 * first as profilers and pprof show it (the stack is leaf first, and a
 * location's inlined lines callee first). The logger never cuts a line. */
static void print_samples(const debug_exporter_t *d, const pc_request_t *req,
                          const pc_profile_t *p) {
  const pc_dictionary_t *dict = &req->dict;
  pc_buf_t line = {0};
  for (uint32_t i = 0; i < p->n_samples; i++) {
    const pc_sample_t *s = &p->samples[i];
    const pc_stack_t *st = pc_dict_stack(dict, s->stack_index);
    line.n = 0;
    pc_buf_printf(&line, "  sample[%u] values=[", i);
    for (uint32_t k = 0; k < s->n_values; k++)
      pc_buf_printf(&line, "%s%" PRId64, k ? "," : "", s->values[k]);
    pc_buf_printf(&line, "] timestamps=%u", s->n_timestamps);
    /* link_table[0] means "no link", whatever ids a sender wrote there
     * (often 16 zero bytes): an unlinked sample shows no ids. */
    const pc_link_t *link = pc_dict_link(dict, s->link_index);
    if (s->link_index && link->trace_id.n) {
      pc_buf_append(&line, " trace_id=", 10);
      for (size_t k = 0; k < link->trace_id.n; k++) pc_buf_printf(&line, "%02x", link->trace_id.p[k]);
      pc_buf_append(&line, " span_id=", 9);
      for (size_t k = 0; k < link->span_id.n; k++) pc_buf_printf(&line, "%02x", link->span_id.p[k]);
    }
    pc_log(d->id, PC_LOG_INFO, "%.*s", (int)line.n, (const char *)line.p);
    uint32_t depth = 0;
    for (uint32_t k = 0; k < st->location_indices.n; k++) {
      const pc_location_t *loc = pc_dict_location(dict, st->location_indices.v[k]);
      uint32_t nl = loc->n_lines ? loc->n_lines : 1;
      for (uint32_t l = 0; l < nl; l++) {
        line.n = 0;
        pc_buf_printf(&line, "    #%u ", depth++);
        frame_text(dict, loc, l, &line);
        if (l + 1 < nl) pc_buf_append(&line, " [inlined]", 10);
        pc_log(d->id, PC_LOG_INFO, "%.*s", (int)line.n, (const char *)line.p);
      }
    }
  }
  pc_buf_free(&line);
}

static int debug_consume_profiles(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)err;
  debug_exporter_t *d = (debug_exporter_t *)self;
  d->requests++;
  pc_log(d->id, PC_LOG_INFO, "profiles: resources=%u profiles=%" PRIu64 " samples=%" PRIu64
         " strings=%u stacks=%u locations=%u functions=%u",
         req->n_resources, pc_request_profile_count(req), pc_request_sample_count(req),
         req->dict.n_strings, req->dict.n_stacks, req->dict.n_locations, req->dict.n_functions);
  if (d->verbosity == V_BASIC) return 0;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    for (uint32_t s = 0; s < rp->n_scopes; s++)
      for (uint32_t k = 0; k < rp->scopes[s].n_profiles; k++) {
        const pc_profile_t *p = &rp->scopes[s].profiles[k];
        print_profile(d, req, rp, p);
        if (d->verbosity == V_DETAILED) print_samples(d, req, p);
      }
  }
  return 0;
}

static int debug_consume_traces(pc_consumer_t *self, const pc_traces_t *tr, pc_err_t *err) {
  (void)err;
  debug_exporter_t *d = (debug_exporter_t *)self;
  pc_log(d->id, PC_LOG_INFO, "traces: %" PRIu64 " spans, %zu bytes of %s",
         pc_traces_span_count(tr), tr->encoded_n, tr->json ? "JSON" : "protobuf");
  return 0;
}

static void *debug_create(const pc_create_args_t *args, pc_err_t *err) {
  debug_cfg_t cfg = {0};
  if (pc_cfg_apply(debug_opts, args->cfg, &cfg, err)) return NULL;
  verbosity_t v;
  if (strcmp(cfg.verbosity, "basic") == 0) v = V_BASIC;
  else if (strcmp(cfg.verbosity, "normal") == 0) v = V_NORMAL;
  else if (strcmp(cfg.verbosity, "detailed") == 0) v = V_DETAILED;
  else {
    pc_cfg_error(err, pc_cfg_get(args->cfg, "verbosity"), PC_EINVAL,
                 "expected basic, normal or detailed, got \"%s\"", cfg.verbosity);
    return NULL;
  }
  debug_exporter_t *d = pc_xcalloc(1, sizeof *d);
  d->consumer.consume_profiles = debug_consume_profiles;
  d->consumer.consume_traces = debug_consume_traces;
  d->consumer.retry_after_s = 1;
  d->verbosity = v;
  snprintf(d->id, sizeof d->id, "exporter:%s", args->id);
  return d;
}

static pc_consumer_t *debug_consumer(void *self) { return &((debug_exporter_t *)self)->consumer; }

static int debug_start(void *self, uv_loop_t *loop, pc_err_t *err) {
  (void)self;
  (void)loop;
  (void)err;
  return 0;
}

static void debug_shutdown(void *self, uint64_t deadline_ms, pc_done_cb done, void *arg) {
  (void)self;
  (void)deadline_ms;
  done(arg);
}

static void debug_destroy(void *self) { free(self); }

const pc_component_t pc_exporter_debug = {
    .type = "debug",
    .kind = PC_EXPORTER,
    .signals = PC_SIGNAL_PROFILES | PC_SIGNAL_TRACES,
    .stability = "development",
    .options = debug_opts,
    .create = debug_create,
    .consumer = debug_consumer,
    .start = debug_start,
    .shutdown = debug_shutdown,
    .destroy = debug_destroy,
};
