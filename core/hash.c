/* hash.c - the project's hash function (XXH3, as DESIGN.md asks) for the
 * places outside pdata/ that key a table by bytes: config key indexes,
 * batch shards by client metadata. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core.h"

uint64_t pc_hash64(const void *p, size_t n) { return XXH3_64bits(p, n); }
