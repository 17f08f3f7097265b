/*
 * hello: the smallest useful guest.
 *
 * Exercises program startup of a static glibc binary (auxv, TLS setup,
 * brk/mmap for stdio buffers), one buffered write to stdout through printf,
 * and a normal exit with status 0.
 */
#include <stdio.h>

int main(void)
{
    printf("Hello from appvirt guest\n");
    return 0;
}
