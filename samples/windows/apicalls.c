/*
 * apicalls: the cost of a trivial Windows API call (the Windows twin of
 * linux/syscalls.c, for benchmarks/run.py and the API-cost measurement).
 *
 * Calls GetCurrentProcessId N times (argv[1], default 100000) and
 * GetTickCount once per 1000 calls, then prints how many calls it made and
 * a checksum that does not depend on the machine.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    DWORD pid = GetCurrentProcessId();
    unsigned long same = 0, ticks = 0;

    for (long i = 0; i < n; i++) {
        same += GetCurrentProcessId() == pid;
        if (i % 1000 == 0)
            ticks += GetTickCount() != 0 || 1;
    }
    printf("calls=%ld same=%lu ticks=%lu\n", n, same, ticks);
    return same == (unsigned long)n ? 0 : 1;
}
