/* validate.c - check every index once, right after decoding.
 *
 * After this pass nothing downstream re-checks an index: each is either 0
 * ("not set", valid even for an empty table) or inside its table.
 *
 * The dictionary is shared by every profile of the request, so a bad index
 * inside it makes the whole request untrustworthy: PC_EDECODE (the receiver
 * answers 400). A bad index inside one profile, or in the resource or scope
 * it belongs to, only removes the profiles concerned; they are counted in
 * req->rejected_profiles (the receiver answers 200 with partial_success). */
#include <stdarg.h>
#include <stdio.h>

#include "pdata.h"

const pc_mapping_t pc_zero_mapping;
const pc_location_t pc_zero_location;
const pc_function_t pc_zero_function;
const pc_link_t pc_zero_link;
const pc_attr_t pc_zero_attr;
const pc_stack_t pc_zero_stack;

static inline bool in_range(int32_t idx, uint32_t n) {
  return idx == 0 || (idx > 0 && (uint32_t)idx < n);
}

/* Tables by the names the wire format gives them, for messages. */
/* Checks run twice at most: fast (explain false: no text formatted, only
 * true/false) and, after a failure, again with explain true to describe
 * the problem. Formatting paths for every entry cost a quarter of decode
 * time before this. */
typedef struct {
  const pc_dictionary_t *d;
  bool explain;
  char *msg; /* where the first problem is described */
  size_t cap;
} vctx_t;

/* Format a location into at (only when explaining). */
__attribute__((format(printf, 4, 5))) static void where(const vctx_t *v, char *at, size_t cap,
                                                        const char *fmt, ...) {
  at[0] = 0;
  if (!v->explain) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(at, cap, fmt, ap);
  va_end(ap);
}

__attribute__((format(printf, 2, 3), cold)) static bool bad(vctx_t *v, const char *fmt, ...) {
  if (!v->explain) return false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->msg, v->cap, fmt, ap);
  va_end(ap);
  return false;
}

#define CHECK_INDEX(v, idx, n, table, ...)                                                 \
  (in_range((idx), (n)) ||                                                                 \
   bad_index((v), (idx), (n), (table), __VA_ARGS__))

__attribute__((format(printf, 5, 6), cold)) static bool bad_index(vctx_t *v, int32_t idx,
                                                                  uint32_t n, const char *table,
                                                                  const char *fmt, ...) {
  if (!v->explain) return false;
  char at[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(at, sizeof at, fmt, ap);
  va_end(ap);
  return bad(v, "%s: index %d out of range (%s has %u entries)", at, (int)idx, table,
             (unsigned)n);
}

static bool check_list(vctx_t *v, pc_i32s_t list, uint32_t n, const char *table,
                       const char *path) {
  for (uint32_t i = 0; i < list.n; i++)
    if (!CHECK_INDEX(v, list.v[i], n, table, "%s[%u]", path, (unsigned)i)) return false;
  return true;
}

/* String indices inside an AnyValue tree (string_value_strindex, and the
 * key_strindex of nested KeyValues). */
static bool check_anyvalue(vctx_t *v, const pc_anyvalue_t *av, const char *path) {
  uint32_t ns = v->d->n_strings;
  switch (av->type) {
  case PC_AV_STRINDEX:
    return CHECK_INDEX(v, av->u.strindex, ns, "string_table", "%s.string_value_strindex", path);
  case PC_AV_ARRAY:
    for (uint32_t i = 0; i < av->u.array.n; i++)
      if (!check_anyvalue(v, &av->u.array.v[i], path)) return false;
    return true;
  case PC_AV_KVLIST:
    for (uint32_t i = 0; i < av->u.kvlist.n; i++) {
      const pc_keyvalue_t *kv = &av->u.kvlist.v[i];
      if (!CHECK_INDEX(v, kv->key_strindex, ns, "string_table", "%s.key_strindex", path) ||
          (kv->has_value && !check_anyvalue(v, &kv->value, path)))
        return false;
    }
    return true;
  default:
    return true;
  }
}

static bool check_keyvalues(vctx_t *v, pc_kvs_t kvs, const char *path) {
  for (uint32_t i = 0; i < kvs.n; i++) {
    char at[160];
    where(v, at, sizeof at, "%s.attributes[%u]", path, (unsigned)i);
    const pc_keyvalue_t *kv = &kvs.v[i];
    if (!CHECK_INDEX(v, kv->key_strindex, v->d->n_strings, "string_table", "%s.key_strindex", at) ||
        (kv->has_value && !check_anyvalue(v, &kv->value, at)))
      return false;
  }
  return true;
}

static bool check_dictionary(vctx_t *v) {
  const pc_dictionary_t *d = v->d;
  char at[96];
  for (uint32_t i = 0; i < d->n_mappings; i++) {
    const pc_mapping_t *m = &d->mappings[i];
    where(v, at, sizeof at, "dictionary.mapping_table[%u].attribute_indices", (unsigned)i);
    if (!CHECK_INDEX(v, m->filename_strindex, d->n_strings, "string_table",
                     "dictionary.mapping_table[%u].filename_strindex", (unsigned)i) ||
        !check_list(v, m->attribute_indices, d->n_attrs, "attribute_table", at))
      return false;
  }
  for (uint32_t i = 0; i < d->n_locations; i++) {
    const pc_location_t *l = &d->locations[i];
    if (!CHECK_INDEX(v, l->mapping_index, d->n_mappings, "mapping_table",
                     "dictionary.location_table[%u].mapping_index", (unsigned)i))
      return false;
    for (uint32_t k = 0; k < l->n_lines; k++)
      if (!CHECK_INDEX(v, l->lines[k].function_index, d->n_functions, "function_table",
                       "dictionary.location_table[%u].lines[%u].function_index", (unsigned)i,
                       (unsigned)k))
        return false;
    where(v, at, sizeof at, "dictionary.location_table[%u].attribute_indices", (unsigned)i);
    if (!check_list(v, l->attribute_indices, d->n_attrs, "attribute_table", at)) return false;
  }
  for (uint32_t i = 0; i < d->n_functions; i++) {
    const pc_function_t *f = &d->functions[i];
    if (!CHECK_INDEX(v, f->name_strindex, d->n_strings, "string_table",
                     "dictionary.function_table[%u].name_strindex", (unsigned)i) ||
        !CHECK_INDEX(v, f->system_name_strindex, d->n_strings, "string_table",
                     "dictionary.function_table[%u].system_name_strindex", (unsigned)i) ||
        !CHECK_INDEX(v, f->filename_strindex, d->n_strings, "string_table",
                     "dictionary.function_table[%u].filename_strindex", (unsigned)i))
      return false;
  }
  for (uint32_t i = 0; i < d->n_attrs; i++) {
    const pc_attr_t *a = &d->attrs[i];
    where(v, at, sizeof at, "dictionary.attribute_table[%u].value", (unsigned)i);
    if (!CHECK_INDEX(v, a->key_strindex, d->n_strings, "string_table",
                     "dictionary.attribute_table[%u].key_strindex", (unsigned)i) ||
        !CHECK_INDEX(v, a->unit_strindex, d->n_strings, "string_table",
                     "dictionary.attribute_table[%u].unit_strindex", (unsigned)i) ||
        (a->has_value && !check_anyvalue(v, &a->value, at)))
      return false;
  }
  for (uint32_t i = 0; i < d->n_links; i++) {
    /* Ids are fixed-size: 16-byte trace ids, 8-byte span ids (or unset). */
    const pc_link_t *l = &d->links[i];
    if ((l->trace_id.n != 0 && l->trace_id.n != 16) || (l->span_id.n != 0 && l->span_id.n != 8))
      return bad(v, "dictionary.link_table[%u]: trace_id must be 16 bytes and span_id 8 bytes "
                    "(or empty), got %zu and %zu", (unsigned)i, l->trace_id.n, l->span_id.n);
  }
  for (uint32_t i = 0; i < d->n_stacks; i++) {
    where(v, at, sizeof at, "dictionary.stack_table[%u].location_indices", (unsigned)i);
    if (!check_list(v, d->stacks[i].location_indices, d->n_locations, "location_table", at))
      return false;
  }
  return true;
}

static bool check_valuetype(vctx_t *v, const pc_valuetype_t *vt, const char *path) {
  return CHECK_INDEX(v, vt->type_strindex, v->d->n_strings, "string_table", "%s.type_strindex",
                     path) &&
         CHECK_INDEX(v, vt->unit_strindex, v->d->n_strings, "string_table", "%s.unit_strindex",
                     path);
}

static bool check_profile(vctx_t *v, const pc_profile_t *p, const char *path) {
  const pc_dictionary_t *d = v->d;
  char at[200];
  if (p->profile_id.n != 0 && p->profile_id.n != 16)
    return bad(v, "%s.profile_id: must be 16 bytes (or empty), got %zu", path, p->profile_id.n);
  where(v, at, sizeof at, "%s.sample_type", path);
  if (!check_valuetype(v, &p->sample_type, at)) return false;
  where(v, at, sizeof at, "%s.period_type", path);
  if (!check_valuetype(v, &p->period_type, at)) return false;
  where(v, at, sizeof at, "%s.attribute_indices", path);
  if (!check_list(v, p->attribute_indices, d->n_attrs, "attribute_table", at)) return false;
  for (uint32_t i = 0; i < p->n_samples; i++) {
    const pc_sample_t *s = &p->samples[i];
    /* The hot loop: plain range checks, the message only on failure. */
    bool ok = in_range(s->stack_index, d->n_stacks) && in_range(s->link_index, d->n_links) &&
              (s->n_values == s->n_timestamps || s->n_values == 0 || s->n_timestamps == 0);
    for (uint32_t k = 0; ok && k < s->attribute_indices.n; k++)
      ok = in_range(s->attribute_indices.v[k], d->n_attrs);
    if (ok) continue;
    where(v, at, sizeof at, "%s.samples[%u]", path, (unsigned)i);
    char list[220];
    where(v, list, sizeof list, "%s.attribute_indices", at);
    if (!CHECK_INDEX(v, s->stack_index, d->n_stacks, "stack_table", "%s.stack_index", at) ||
        !CHECK_INDEX(v, s->link_index, d->n_links, "link_table", "%s.link_index", at) ||
        !check_list(v, s->attribute_indices, d->n_attrs, "attribute_table", list))
      return false;
    return bad(v, "%s: %u values but %u timestamps (they must be equal when both are set)", at,
               (unsigned)s->n_values, (unsigned)s->n_timestamps);
  }
  return true;
}

/* Run check fast; when it fails, run it again explaining, to fill v->msg. */
#define CHECK_EXPLAINED(v, call) ((call) || ((v)->explain = true, (void)(call), (v)->explain = false))

/* Keep the first rejection's reason for partial_success. */
static void note_reject(pc_request_t *req, const vctx_t *v) {
  if (req->rejected_profiles == 0) snprintf(req->reject_msg, sizeof req->reject_msg, "%s", v->msg);
  req->rejected_profiles++;
}

/* Drop the profiles of one scope that fail (all of them, for the reason
 * already in v->msg, when scope_ok is false), compacting the array. */
static void filter_profiles(vctx_t *v, pc_scope_profiles_t *sp, bool scope_ok, uint32_t r,
                            uint32_t s, pc_request_t *req) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < sp->n_profiles; i++) {
    char at[160];
    if (scope_ok) {
      at[0] = 0;
      if (check_profile(v, &sp->profiles[i], at)) {
        sp->profiles[kept++] = sp->profiles[i];
        continue;
      }
      v->explain = true;
      where(v, at, sizeof at, "resource_profiles[%u].scope_profiles[%u].profiles[%u]",
            (unsigned)r, (unsigned)s, (unsigned)i);
      check_profile(v, &sp->profiles[i], at);
      v->explain = false;
    }
    note_reject(req, v);
  }
  sp->n_profiles = kept;
}

int pc_pdata_validate(pc_request_t *req, pc_err_t *err) {
  char msg[256] = "";
  vctx_t v = {.d = &req->dict, .msg = msg, .cap = sizeof msg};
  req->rejected_profiles = 0;
  req->reject_msg[0] = 0;
  if (!CHECK_EXPLAINED(&v, check_dictionary(&v))) return pc_err_set(err, PC_EDECODE, "%s", msg);
  for (uint32_t r = 0; r < req->n_resources; r++) {
    pc_resource_profiles_t *rp = &req->resources[r];
    char at[96] = "";
    bool resource_ok = check_keyvalues(&v, rp->resource.attributes, at);
    if (!resource_ok) {
      v.explain = true;
      where(&v, at, sizeof at, "resource_profiles[%u].resource", (unsigned)r);
      check_keyvalues(&v, rp->resource.attributes, at);
      v.explain = false;
    }
    for (uint32_t s = 0; s < rp->n_scopes; s++) {
      pc_scope_profiles_t *sp = &rp->scopes[s];
      bool scope_ok = resource_ok && check_keyvalues(&v, sp->scope.attributes, "");
      if (resource_ok && !scope_ok) {
        char scope_at[120];
        v.explain = true;
        where(&v, scope_at, sizeof scope_at, "resource_profiles[%u].scope_profiles[%u].scope",
              (unsigned)r, (unsigned)s);
        check_keyvalues(&v, sp->scope.attributes, scope_at);
        v.explain = false;
      }
      filter_profiles(&v, sp, scope_ok, r, s, req);
    }
  }
  return 0;
}
