/* placeholder */
#include "pdata.h"
int pc_pdata_validate(pc_request_t *req, pc_err_t *err) { (void)req; (void)err; return 0; }
