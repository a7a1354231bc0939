/* regex.c - the Collector's regular expressions, with PCRE2 (processor/internal.h).
 *
 * The Collector's processors take Go regexp (RE2) syntax: `pattern` of the
 * attribute actions, `match_type: regexp` of include/exclude. Users copy
 * their patterns over, and those use what POSIX regcomp lacks: `\d`, `\w`,
 * `(?:...)`, lazy `*?`, `(?i)`, and named groups `(?P<name>...)` (extract
 * names the attributes it writes after them). PCRE2 (Debian's libpcre2)
 * reads all of RE2's syntax, named groups in both `(?P<name>...)` and
 * `(?<name>...)` forms natively, and compiles to machine code (JIT): so
 * PCRE2, not regcomp plus a hand-written group parser.
 *
 * Where the two differ, PCRE2 is set to behave as Go does: `$` matches only
 * at the very end (PCRE2_DOLLAR_ENDONLY; Go's `$` ignores a final newline
 * too), UTF-8 mode (the decoders validated every string, so no second check:
 * PCRE2_NO_UTF_CHECK), `\d`/`\w`/`\s` ASCII as in Go. Matching is
 * unanchored, as Go's MatchString and FindStringSubmatch are: anchor with ^
 * and $ to match a whole value.
 *
 * RE2 runs in linear time; PCRE2 backtracks, so a pattern such as (a+)+$
 * could spend exponential time on a hostile attribute value. Every match
 * runs with a match limit (PC__REGEX_MATCH_LIMIT steps, a few milliseconds
 * at worst): a match that hits it counts as no match, and the caller counts
 * and logs it. Patterns RE2 refuses (backreferences, lookaround) compile
 * here; that is a superset, not a difference a Collector config can see.
 *
 * Each instance is used from one loop thread (a worker owns its pipeline),
 * so the match data is kept with the pattern. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Backtracking steps one match may take. A legitimate pattern over an
 * attribute value (usually under 256 bytes) needs a few thousand; a
 * catastrophic one stops here after a few milliseconds. */
#define PC__REGEX_MATCH_LIMIT 200000

struct pc__regex {
  pcre2_code *code;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  uint32_t n_groups;
  char **names; /* [1..n_groups]: the group's name, NULL when unnamed */
  uint64_t limit_hits;
};

void pc__regex_free(pc__regex_t *re) {
  if (!re) return;
  if (re->names)
    for (uint32_t i = 0; i <= re->n_groups; i++) free(re->names[i]);
  free(re->names);
  pcre2_match_data_free(re->md);
  pcre2_match_context_free(re->mctx);
  pcre2_code_free(re->code);
  free(re);
}

static pc__regex_t *compile(const pc_cfg_node_t *node, bool anchored, pc_err_t *err) {
  if (!node || node->type != PC_CFG_SCALAR) {
    pc_cfg_error(err, node, PC_EINVAL, "must be a regular expression (Go RE2 syntax)");
    return NULL;
  }
  int ec;
  PCRE2_SIZE at;
  /* Anchored as the Collector anchors key_regex: "^(?:" + re + ")$". */
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)node->text, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY |
                                       (anchored ? PCRE2_ANCHORED | PCRE2_ENDANCHORED : 0),
                                   &ec, &at, NULL);
  if (!code) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(ec, msg, sizeof msg);
    pc_cfg_error(err, node, PC_EINVAL, "invalid regular expression \"%s\": %s at offset %zu",
                 node->text, (const char *)msg, (size_t)at);
    return NULL;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* a failure leaves the interpreter: still right */
  pc__regex_t *re = pc_xcalloc(1, sizeof *re);
  re->code = code;
  re->md = pcre2_match_data_create_from_pattern(code, NULL);
  re->mctx = pcre2_match_context_create(NULL);
  if (!re->md || !re->mctx) pc_oom();
  pcre2_set_match_limit(re->mctx, PC__REGEX_MATCH_LIMIT);
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->n_groups);
  re->names = pc_xcalloc((size_t)re->n_groups + 1, sizeof *re->names);
  uint32_t n_names = 0, entry = 0;
  PCRE2_SPTR table = NULL;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &n_names);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  /* Each entry: the group number (2 bytes, big-endian), then the name. */
  for (uint32_t i = 0; i < n_names; i++) {
    const uint8_t *e = table + (size_t)i * entry;
    uint32_t g = (uint32_t)e[0] << 8 | e[1];
    if (g <= re->n_groups && !re->names[g]) {
      re->names[g] = strdup((const char *)e + 2);
      if (!re->names[g]) pc_oom();
    }
  }
  return re;
}

pc__regex_t *pc__regex_compile(const pc_cfg_node_t *node, pc_err_t *err) {
  return compile(node, false, err);
}

pc__regex_t *pc__regex_compile_whole(const pc_cfg_node_t *node, pc_err_t *err) {
  return compile(node, true, err);
}

uint32_t pc__regex_groups(const pc__regex_t *re) { return re->n_groups; }

const char *pc__regex_group_name(const pc__regex_t *re, uint32_t i) {
  return i >= 1 && i <= re->n_groups ? re->names[i] : NULL;
}

uint64_t pc__regex_limit_hits(const pc__regex_t *re) { return re->limit_hits; }

int pc__regex_exec(pc__regex_t *re, pc_str_t s, pc_str_t *groups) {
  int rc = pcre2_match(re->code, s.n ? (PCRE2_SPTR)s.p : (PCRE2_SPTR) "", s.n, 0,
                       PCRE2_NO_UTF_CHECK, re->md, re->mctx);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    /* Match or depth limit, or UTF trouble: no match, counted. */
    re->limit_hits++;
    return 0;
  }
  if (groups) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    uint32_t pairs = pcre2_get_ovector_count(re->md);
    for (uint32_t i = 0; i <= re->n_groups; i++) {
      /* A group that took no part in the match is "", as in Go. */
      if (i < pairs && i < (uint32_t)rc && ov[2 * i] != PCRE2_UNSET)
        groups[i] = (pc_str_t){s.p + ov[2 * i], ov[2 * i + 1] - ov[2 * i]};
      else
        groups[i] = (pc_str_t){0};
    }
  }
  return 1;
}

bool pc__regex_match(pc__regex_t *re, pc_str_t s) { return pc__regex_exec(re, s, NULL) == 1; }
