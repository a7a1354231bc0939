/* attributes_fuzz.c - libFuzzer target for the attribute actions on
 * untrusted sample and resource attributes.
 *
 * The input is a protobuf ExportProfilesServiceRequest (seed it with the
 * proto_decode corpus). What decodes goes through resource (every action on
 * resource attributes) and attributes (every action on sample attributes,
 * patterns that extract and match, convert to each type, include/exclude).
 * Properties beyond "no crash": the edited request passes the validator
 * without losing a profile, keeps its sample count, and encodes to protobuf
 * that decodes again. */
#include <stdio.h>
#include <stdlib.h>

#include "../../config/config.h"
#include "../../processor/processor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char attributes_yaml[] =
    "include: {match_type: regexp, libraries: [{name: \".*\"}]}\n"
    "exclude: {match_type: strict, services: [excluded]}\n"
    "actions:\n"
    "  - {key: env, value: prod, action: upsert}\n"
    "  - {key: copy, from_attribute: thread.name, default_value: none, action: insert}\n"
    "  - {key: thread.name, pattern: \"^(?P<pool>[a-z]+)-?(?P<n>\\\\d*)$\", action: extract}\n"
    "  - {key: process.pid, action: convert, converted_type: string}\n"
    "  - {key: n, action: convert, converted_type: int}\n"
    "  - {key: copy, action: convert, converted_type: double}\n"
    "  - {pattern: \"^k|(a|aa)+$\", action: hash}\n"
    "  - {pattern: \"^tmp\", action: delete}\n";

static const char resource_yaml[] =
    "attributes:\n"
    "  - {key: service.name, pattern: \"^(?P<svc>.*)$\", action: extract}\n"
    "  - {key: host.name, action: hash}\n"
    "  - {key: pid, from_attribute: process.pid, action: upsert}\n"
    "  - {key: pid, action: convert, converted_type: string}\n"
    "  - {pattern: \"^container\", action: delete}\n";

typedef struct {
  pc_consumer_t c;
} check_t;

static int check(pc_consumer_t *self, pc_request_t *req, pc_err_t *err) {
  (void)self;
  uint64_t profiles = pc_request_profile_count(req);
  req->rejected_profiles = 0;
  if (pc_pdata_validate(req, err) != 0 || req->rejected_profiles != 0) abort();
  if (pc_request_profile_count(req) != profiles) abort();
  pc_buf_t pb = {0};
  if (pc_proto_encode(req, &pb) != 0) abort();
  pc_arena_t *a = pc_arena_new(0);
  pc_request_t back;
  pc_err_t derr = {0};
  if (pc_proto_decode(a, pb.p, pb.n, &back, &derr) != 0) abort();
  pc_arena_free(a);
  pc_buf_free(&pb);
  return 0;
}

/* Configs and instances live for the process, reachable from here (so the
 * leak checker does not count them). */
static pc_cfg_t *cfgs[2];
static void *insts[2];

static void *make(int i, const pc_component_t *type, const char *yaml, pc_consumer_t *next) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = cfgs[i] = pc_cfg_load_string("fuzz.yaml", yaml, &err);
  pc_create_args_t args = {.id = type->type, .cfg = cfg ? pc_cfg_root(cfg) : NULL, .next = next,
                           .signals = PC_SIGNAL_PROFILES};
  void *inst = cfg ? type->create(&args, &err) : NULL;
  if (!inst) {
    fprintf(stderr, "attributes_fuzz: %s\n", err.msg);
    abort();
  }
  return insts[i] = inst;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_arena_t *arena;
  static check_t sink = {{.consume_profiles = check}};
  static pc_consumer_t *first;
  if (!arena) {
    arena = pc_arena_new(0);
    void *attrs = make(0, &pc_processor_attributes, attributes_yaml, &sink.c);
    void *res = make(1, &pc_processor_resource, resource_yaml,
                     pc_processor_attributes.consumer(attrs));
    first = pc_processor_resource.consumer(res);
  }
  pc_arena_reset(arena);
  pc_request_t req;
  pc_err_t err = {0};
  if (pc_proto_decode(arena, data, size, &req, &err) != 0) return 0;
  uint64_t samples = pc_request_sample_count(&req);
  if (first->consume_profiles(first, &req, &err) != 0) abort();
  if (pc_request_sample_count(&req) != samples) abort();
  return 0;
}
