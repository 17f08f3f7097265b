/*
 * ticking: a busy loop that an interval timer interrupts every millisecond.
 *
 * The loop makes no system call and stores to memory in two basic blocks
 * joined by a jump (written in assembly so that the compiler keeps them
 * apart); SIGALRM arrives about once a millisecond (setitimer). Every store
 * must happen exactly once however often the loop is interrupted and resumed,
 * so both counters printed at the end equal the iteration count. argv[1] sets
 * it (default 30000000). The output does not depend on timing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

static volatile unsigned long counters[2];
static volatile sig_atomic_t ticks;

#ifdef __x86_64__
#define INC "incq"
#define SECOND "8"
#else
#define INC "incl"
#define SECOND "4"
#endif

/* counters[0]++; jump; counters[1]++; loop n times. */
static void spin(volatile unsigned long *c, unsigned long n)
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

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 30000000UL;
    struct itimerval every_ms = {{0, 1000}, {0, 1000}};
    struct itimerval off = {{0, 0}, {0, 0}};

    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &every_ms, NULL);
    if (n)
        spin(counters, n);
    setitimer(ITIMER_REAL, &off, NULL);
    printf("first=%lu second=%lu interrupted=%s\n", counters[0], counters[1],
           ticks ? "yes" : "no");
    return counters[0] == n && counters[1] == n ? 0 : 1;
}
