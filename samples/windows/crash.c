/*
 * crash: an access violation nobody handles.
 *
 * Writes through a null pointer with no handler anywhere: Windows ends the
 * process with the exception code as its exit code, STATUS_ACCESS_VIOLATION
 * (0xC0000005, which cmd.exe shows as -1073741819 and a POSIX shell as its
 * low 8 bits, 5). Nothing after the fault runs.
 */
#include <stdio.h>

int main(void)
{
    volatile int *nothing = NULL;
    printf("about to write through a null pointer\n");
    fflush(stdout);
    *nothing = 1;
    printf("not reached\n");
    return 0;
}
