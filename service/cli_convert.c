/* placeholder */
#include "../pdata/pdata.h"
int pc__cli_placeholder(void);
int pc__cli_placeholder(void) { return 0; }
