/* stats.c - placeholder until table statistics land. */
#include "pdata.h"
int pc_pdata_stats(const pc_request_t *req, pc_stats_t *st) {
  (void)req; (void)st;
  return PC_EINVAL;
}
