/* placeholder */
#include <stdio.h>
int main(void) { puts("profcol"); return 0; }
