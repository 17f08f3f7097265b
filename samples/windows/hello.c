/*
 * hello: the smallest useful Windows guest.
 *
 * Exercises PE loading, the MinGW CRT startup against msvcrt.dll and
 * kernel32.dll imports (TEB/PEB, heap, __getmainargs), one printf to a
 * console stdout and a normal exit with status 0.
 */
#include <stdio.h>

int main(void)
{
    printf("Hello from appvirt guest\n");
    return 0;
}
