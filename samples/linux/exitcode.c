/*
 * exitcode: both ways a C program ends with a status.
 *
 * Exercises exit-status propagation: argv[1] is the status (default 3).
 * By default the program calls exit(status), which runs atexit handlers
 * and flushes stdio; with "return" as argv[2] (or as argv[1], then the
 * status is the default) it returns the status from main instead. Prints
 * which path it takes; the atexit handler prints a line on both paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_exit_handler(void)
{
    printf("atexit handler ran\n");
}

int main(int argc, char **argv)
{
    int status = 3;
    int use_return = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "return") == 0)
            use_return = 1;
        else
            status = atoi(argv[i]);
    }
    atexit(on_exit_handler);

    if (use_return) {
        printf("return %d\n", status);
        return status;
    }
    printf("exit %d\n", status);
    exit(status);
}
