/* main.c - command dispatch (not yet complete). */
#include <stdio.h>
int main(void) { puts("epsync " EPSYNC_VERSION); return 0; }
