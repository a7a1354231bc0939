/* randreq.h - random, valid profiles requests and meaning-preserving
 * rewrites of their dictionaries, for merge and property tests.
 *
 * Random requests draw every value from small pools, so that duplicates,
 * zero-content entries at non-zero indices, equal resources and scopes
 * across requests, and empty tables happen often. Rewrites produce a request
 * that means the same (same materialized samples) with its dictionary
 * shuffled, every entry duplicated (references spread over the copies), or
 * padded with unreferenced entries. Everything is allocated from the given
 * arena; inputs are only read. */
#ifndef PC_TEST_RANDREQ_H
#define PC_TEST_RANDREQ_H

#include "../../pdata/pdata.h"

typedef struct {
  uint64_t s;
} pc_rng_t;

uint64_t pc_rng_next(pc_rng_t *r);
/* Uniform in [0, n); 0 when n is 0. */
uint32_t pc_rng_below(pc_rng_t *r, uint32_t n);

/* A random request that passes pc_pdata_validate with nothing rejected. */
void pc_rand_request(pc_rng_t *r, pc_arena_t *a, pc_request_t *req);

typedef enum {
  PC_REWRITE_SHUFFLE,   /* permute entries 1..n-1 of every table */
  PC_REWRITE_DUPLICATE, /* two copies of every entry, references spread */
  PC_REWRITE_PAD,       /* unreferenced entries (copies and new strings) */
} pc_rewrite_t;

void pc_rewrite_request(pc_rng_t *r, pc_arena_t *a, const pc_request_t *in,
                        pc_rewrite_t how, pc_request_t *out);

#endif
