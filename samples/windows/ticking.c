/*
 * ticking: a busy loop while another thread wakes up every millisecond.
 *
 * The main thread runs a loop that makes no API call and stores to memory in
 * two basic blocks joined by a jump (assembly, so the compiler keeps them
 * apart); a second thread calls Sleep(1) over and over, so the main thread is
 * interrupted about once a millisecond. Every store must happen exactly once
 * however often the loop is interrupted and resumed: both counters printed at
 * the end equal the iteration count. argv[1] sets it (default 30000000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

static volatile size_t counters[2];
static volatile LONG done, naps;

#ifdef __x86_64__
#define INC "incq"
#define SECOND "8"
#else
#define INC "incl"
#define SECOND "4"
#endif

/* counters[0]++; jump; counters[1]++; loop n times. */
static void spin(volatile size_t *c, size_t n)
{
    __asm__ volatile("1: " INC " (%0)\n\t"
                     "jmp 2f\n"
                     "2: " INC " " SECOND "(%0)\n\t"
                     "dec %1\n\t"
                     "jnz 1b\n"
                     : "+r"(c), "+r"(n)
                     :
                     : "memory", "cc");
}

static DWORD WINAPI napper(LPVOID arg)
{
    (void)arg;
    while (!done) {
        Sleep(1);
        naps++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 0) : 30000000;
    HANDLE thread = CreateThread(NULL, 0, napper, NULL, 0, NULL);

    if (!thread)
        return 2;
    Sleep(5); /* let the napper start its naps */
    if (n)
        spin(counters, n);
    done = 1;
    WaitForSingleObject(thread, INFINITE);
    CloseHandle(thread);
    printf("first=%lu second=%lu napped=%s\n", (unsigned long)counters[0],
           (unsigned long)counters[1], naps ? "yes" : "no");
    return counters[0] == n && counters[1] == n ? 0 : 1;
}
