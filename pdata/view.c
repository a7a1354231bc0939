/* view.c - a view of a request that holds only some of its samples, for a
 * consumer that sends different samples to different places (the
 * load_balancing exporter) and merges each part into a builder of its own,
 * which copies only the dictionary entries that part references.
 *
 * The view shares everything with req (dictionary, strings, samples) except
 * the arrays of the tree, which come from the caller's scratch arena, so
 * making one costs a copy of the sample structs kept and nothing else. */
#include "pdata.h"

int pc_request_view(const pc_request_t *req, pc_arena_t *scratch, pc_sample_pick_fn pick,
                    void *arg, pc_request_t *out, uint64_t *kept) {
  *out = *req;
  out->encoded = NULL; /* the bytes hold every sample, not these */
  out->encoded_n = 0;
  out->encoded_lender = NULL;
  out->n_resources = 0;
  *kept = 0;
  out->resources = pc_arena_calloc(scratch, req->n_resources, sizeof *out->resources);
  if (req->n_resources && !out->resources) return PC_ENOMEM;
  for (uint32_t r = 0; r < req->n_resources; r++) {
    const pc_resource_profiles_t *rp = &req->resources[r];
    pc_resource_profiles_t *vr = &out->resources[out->n_resources];
    *vr = *rp;
    vr->n_scopes = 0;
    vr->scopes = pc_arena_calloc(scratch, rp->n_scopes, sizeof *vr->scopes);
    if (rp->n_scopes && !vr->scopes) return PC_ENOMEM;
    for (uint32_t sc = 0; sc < rp->n_scopes; sc++) {
      const pc_scope_profiles_t *sp = &rp->scopes[sc];
      pc_scope_profiles_t *vs = &vr->scopes[vr->n_scopes];
      *vs = *sp;
      vs->n_profiles = 0;
      vs->profiles = pc_arena_calloc(scratch, sp->n_profiles, sizeof *vs->profiles);
      if (sp->n_profiles && !vs->profiles) return PC_ENOMEM;
      for (uint32_t k = 0; k < sp->n_profiles; k++) {
        const pc_profile_t *p = &sp->profiles[k];
        pc_profile_t *vp = &vs->profiles[vs->n_profiles];
        *vp = *p;
        if (!p->n_samples) { /* a profile without samples is asked about once */
          if (pick(arg, req, rp, p, NULL)) vs->n_profiles++;
          continue;
        }
        vp->n_samples = 0;
        vp->samples = pc_arena_alloc(scratch, (size_t)p->n_samples * sizeof *vp->samples);
        if (!vp->samples) return PC_ENOMEM;
        for (uint32_t i = 0; i < p->n_samples; i++)
          if (pick(arg, req, rp, p, &p->samples[i])) vp->samples[vp->n_samples++] = p->samples[i];
        if (vp->n_samples) vs->n_profiles++, *kept += vp->n_samples;
      }
      if (vs->n_profiles) vr->n_scopes++;
    }
    if (vr->n_scopes) out->n_resources++;
  }
  return 0;
}
