/* common.h - what the processor test cases in tests/processor/ share: a
 * processor created from inline YAML, its config refused with an exact
 * message, a consumer that checks what it is handed (validator, protobuf
 * round trip), and small hand-built requests whose sample attributes can be
 * read back as text. */
#ifndef PC_TEST_PROCESSOR_COMMON_H
#define PC_TEST_PROCESSOR_COMMON_H

#include <check.h>

#include "../../component/component.h"
#include "../../config/config.h"
#include "../../processor/internal.h"
#include "../../processor/processor.h"

/* Create type from yaml with id (NULL: the type) before next; NULL with err
 * filled when create refuses. *cfg is the loaded config (free it after). */
void *pt_create(const pc_component_t *type, const char *id, const char *yaml,
                pc_consumer_t *next, pc_cfg_t **cfg, pc_err_t *err);
/* type refuses yaml with PC_EINVAL and exactly the message want. */
void pt_refused_exactly(const pc_component_t *type, const char *yaml, const char *want);

/* A consumer that takes every request: it must pass pc_pdata_validate
 * without rejecting a profile and encode to protobuf that decodes again. */
typedef struct {
  pc_consumer_t c; /* first */
  int calls;
} pt_check_t;
void pt_check_init(pt_check_t *k);

/* A request built by hand: one resource, one scope, one profile; tables
 * with room for 64 entries each. */
typedef struct {
  pc_arena_t *arena;
  pc_request_t req;
  pc_str_t strings[64];
  pc_attr_t attrs[64];
  pc_sample_t samples[64];
  pc_resource_profiles_t rp[4];
  pc_scope_profiles_t sp[4];
  pc_profile_t prof[4];
  int64_t one;
} pt_req_t;

/* An empty request: string table [""], attribute table [{}], n_res
 * resources (1 to 4), each with one scope and one profile. */
void pt_req_init(pt_req_t *r, int n_res);
void pt_req_free(pt_req_t *r);
int32_t pt_str(pt_req_t *r, const char *s);
/* Attribute table entries: a string, an int, a string by string index. */
int32_t pt_attr_s(pt_req_t *r, const char *key, const char *value);
int32_t pt_attr_i(pt_req_t *r, const char *key, int64_t value);
int32_t pt_attr_strindex(pt_req_t *r, const char *key, const char *value);
/* Add a sample to resource res's profile with the given attribute indices
 * (n of them, the list copied into the arena). */
pc_sample_t *pt_sample(pt_req_t *r, int res, int n, const int32_t *attrs);
/* Set resource res's attributes: "k=v" pairs, NULL-terminated. */
void pt_resource(pt_req_t *r, int res, ...) __attribute__((sentinel));
/* A sample's attributes as "k=v,k2=i:3" in list order (v a string; i: int,
 * d: double, b: bool, -: no value). */
const char *pt_attrs_text(const pc_request_t *req, const pc_sample_t *s, char *out, size_t cap);
/* A resource's attributes the same way. */
const char *pt_res_text(const pc_request_t *req, const pc_resource_t *res, char *out, size_t cap);
/* Send req to the processor's consumer; returns its answer. */
int pt_send(void *inst, const pc_component_t *type, pc_request_t *req);

TCase *pc_test_attraction_tcase(void);
TCase *pc_test_regex_tcase(void);
TCase *pc_test_match_tcase(void);
TCase *pc_test_attributes_tcase(void);
TCase *pc_test_resource_detection_tcase(void);
TCase *pc_test_detectors_tcase(void);
TCase *pc_test_k8s_tcase(void);

#endif
