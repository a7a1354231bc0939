/* refusals.c - telling an operator which requests a server refused, and
 * why, without a log line per request (shared by the HTTP server and the
 * gRPC receiver).
 *
 * The one idea: at debug every refusal is a line (peer, status, reason);
 * at info the first refusal of a quiet spell is a line, and the ones that
 * follow within SUMMARY_MS are counted per status and summarised in one
 * line when the next refusal comes after the spell, or when the server
 * closes. A flood of bad clients costs one line per 10 s, and the first
 * bad request after a quiet spell is always shown in full. */
#include <stdio.h>
#include <string.h>

#include "../core/log.h"
#include "httpd.h"

enum { SUMMARY_MS = 10000 };

static void log_summary(pc_refusals_t *r) {
  if (r->n_counted == 0) return;
  char text[400];
  size_t o = 0;
  for (size_t i = 0; i < r->n_kinds && o < sizeof text; i++)
    o += (size_t)snprintf(text + o, sizeof text - o, "%s%s x%llu", i ? ", " : "",
                          r->kinds[i].status, (unsigned long long)r->kinds[i].count);
  if (r->other && o < sizeof text)
    snprintf(text + o, sizeof text - o, ", other x%llu", (unsigned long long)r->other);
  pc_log(r->id, PC_LOG_INFO, "refused %llu more requests in the %llu s after that: %s",
         (unsigned long long)r->n_counted, (unsigned long long)SUMMARY_MS / 1000, text);
  r->n_counted = r->other = 0;
  r->n_kinds = 0;
}

static void count(pc_refusals_t *r, const char *status) {
  r->n_counted++;
  for (size_t i = 0; i < r->n_kinds; i++)
    if (strcmp(r->kinds[i].status, status) == 0) {
      r->kinds[i].count++;
      return;
    }
  if (r->n_kinds == sizeof r->kinds / sizeof r->kinds[0]) {
    r->other++;
    return;
  }
  snprintf(r->kinds[r->n_kinds].status, sizeof r->kinds[0].status, "%s", status);
  r->kinds[r->n_kinds++].count = 1;
}

void pc_refusals_note(pc_refusals_t *r, uint64_t now_ms, const char *peer, const char *status,
                      const char *reason) {
  pc_log(r->id, PC_LOG_DEBUG, "refused a request from %s: %s: %s", peer, status, reason);
  if (r->spell_started_ms && now_ms - r->spell_started_ms < SUMMARY_MS) {
    count(r, status);
    return;
  }
  log_summary(r);
  r->spell_started_ms = now_ms ? now_ms : 1;
  if (pc_log_min_level > PC_LOG_DEBUG) /* at debug the line above said it */
    pc_log(r->id, PC_LOG_INFO, "refused a request from %s: %s: %s (more refusals in the next "
           "%d s are summarised)", peer, status, reason, SUMMARY_MS / 1000);
}

void pc_refusals_flush(pc_refusals_t *r) { log_summary(r); }
