/* auth.c - see auth.h. */
#include "auth.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../extension/extension.h"

typedef struct {
  char id[128];
  const pc_component_t *comp;
  void *inst;
} kept_t;

static kept_t kept[16];
static size_t n_kept;

void pc_test_host_add(const char *id, const pc_component_t *comp, void *inst) {
  ck_assert_uint_lt(n_kept, sizeof kept / sizeof kept[0]);
  kept_t *k = &kept[n_kept++];
  snprintf(k->id, sizeof k->id, "%s", id);
  k->comp = comp;
  k->inst = inst;
}

void pc_test_host_remove(void *inst) {
  for (size_t i = 0; i < n_kept; i++)
    if (kept[i].inst == inst) {
      memmove(kept + i, kept + i + 1, (n_kept - i - 1) * sizeof *kept);
      n_kept--;
      return;
    }
}

int pc_test_resolve(const pc_component_t *comp, void *inst, pc_err_t *err) {
  if (!comp->resolve) return 0;
  pc_host_t *h = pc_host_new();
  for (size_t i = 0; i < n_kept; i++) pc_host_add(h, kept[i].id, kept[i].comp, kept[i].inst);
  int rc = comp->resolve(inst, h, err);
  pc_host_free(h);
  return rc;
}

void *pc_test_bearer_new(const char *id, const char *yaml) {
  pc_err_t err = {0};
  pc_cfg_t *cfg = pc_cfg_load_string("auth.yaml", yaml, &err);
  ck_assert_msg(cfg != NULL, "%s", err.msg);
  pc_create_args_t args = {.id = id, .cfg = pc_cfg_root(cfg)};
  void *inst = pc_extension_bearertokenauth.create(&args, &err);
  ck_assert_msg(inst != NULL, "%s", err.msg);
  pc_cfg_free(cfg); /* the instance keeps copies */
  pc_test_host_add(id, &pc_extension_bearertokenauth, inst);
  return inst;
}

void pc_test_bearer_free(void *inst) {
  pc_test_host_remove(inst);
  pc_extension_bearertokenauth.destroy(inst);
}
