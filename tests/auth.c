/* auth.c - see auth.h. */
#include "auth.h"

#include <check.h>

#include "../extension/extension.h"

void *pc_test_bearer_new(const char *id, const char *yaml) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load_string("auth.yaml", yaml, &err);
  ck_assert_msg(cfg != NULL, "%s", err.msg);
  pc_create_args_t args = {.id = id, .cfg = pc_cfg_root(cfg)};
  void *inst = pc_extension_bearertokenauth.create(&args, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  pc_cfg_free(cfg); /* the instance keeps copies */
  return inst;
}

void pc_test_bearer_free(void *inst) { pc_extension_bearertokenauth.destroy(inst); }
