/* materialize.h - a test oracle: a request as the multiset of its samples
 * with every reference resolved, and a health check of its dictionary.
 *
 * Written from shared/spec/OTLP-PROFILES.md, independently of pdata/intern.c,
 * so that merge tests compare what a backend would see rather than table
 * positions. A materialized sample is one canonical text line holding its
 * resource (attributes as a sorted set), scope, profile (types, period,
 * times, id, attributes), its stack resolved to frames (address, mapping
 * with file and attributes such as the build id, inlined lines with function
 * name, system name, file, start line, line, column), its attributes (sorted
 * set), its link (hex ids, "-" when unset or all zero), values and
 * timestamps. Index 0 always reads as the zero entry; a KeyValue's key is its
 * inline key when not empty, else its key_strindex; string_value and
 * string_value_strindex read the same. */
#ifndef PC_TEST_MATERIALIZE_H
#define PC_TEST_MATERIALIZE_H

#include "../../pdata/pdata.h"

/* A sorted list of NUL-terminated lines, each malloc'd. */
typedef struct {
  char **v;
  size_t n, cap;
} pc_mat_t;

/* Append the materialized samples of req to m (unsorted until sorted). */
void pc_mat_add(pc_mat_t *m, const pc_request_t *req);
void pc_mat_sort(pc_mat_t *m);
/* Append one line per profile ("resource|scope|profile", without samples),
 * so profiles, empty ones included, can be compared as a multiset. */
void pc_mat_add_profiles(pc_mat_t *m, const pc_request_t *req);
/* Append one line per resource, per scope and per profile: the tree's
 * nodes, to be compared as a set (after pc_mat_uniq) when nodes merge. */
void pc_mat_add_nodes(pc_mat_t *m, const pc_request_t *req);
/* Sort and drop repeated lines. */
void pc_mat_uniq(pc_mat_t *m);
/* Materialize req into a fresh, sorted list. */
pc_mat_t pc_mat_of(const pc_request_t *req);
void pc_mat_free(pc_mat_t *m);
/* Compare two sorted lists as multisets; on a difference, describe the first
 * one in why (which line is missing from which side). */
bool pc_mat_eq(const pc_mat_t *a, const pc_mat_t *b, char *why, size_t cap);

/* Check a merged request's shape: every table has entry 0 equal to the zero
 * entry and no other entry with zero content; no two entries of a table have
 * the same resolved content (representations kept: inline vs indexed keys
 * and string values differ); every entry other than 0 is reachable from the
 * tree; no two resources are equal, no two scopes of one resource are equal.
 * Returns the number of problems, the first described in why. */
int pc_mat_check_batch(const pc_request_t *req, char *why, size_t cap);

#endif
