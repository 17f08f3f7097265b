/*
 * crash: fatal signals and how their exit status is reported.
 *
 * Exercises the emulator's handling of faults with no guest handler
 * installed. argv[1] picks the fault: "segv" reads through a NULL pointer
 * (SIGSEGV), "abort" calls abort() (SIGABRT), "div" divides an integer by
 * zero (SIGFPE), "ill" executes ud2 (SIGILL), "kill" raises SIGTERM. The
 * default is "segv". One line naming the fault is printed and flushed first;
 * the process should then die by the signal (shell status 128+N).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "segv";

    printf("crash: %s\n", what);
    fflush(stdout);

    if (strcmp(what, "segv") == 0) {
        volatile int *volatile pointer = NULL;
        return *pointer;
    }
    if (strcmp(what, "abort") == 0) {
        abort();
    }
    if (strcmp(what, "div") == 0) {
        volatile int numerator = 42;
        volatile int denominator = 0;
        return numerator / denominator;
    }
    if (strcmp(what, "ill") == 0) {
        __asm__ volatile("ud2");
        return 1;
    }
    if (strcmp(what, "kill") == 0) {
        raise(SIGTERM);
        return 1;
    }

    fprintf(stderr, "crash: unknown fault '%s' (segv, abort, div, ill, kill)\n", what);
    return 2;
}
