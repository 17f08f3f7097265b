/* hello-dyn: the dynamically linked hello (ld.so, libc.so from the read-only system mount). */
#include <stdio.h>

int main(void)
{
    printf("Hello from a dynamic appvirt guest\n");
    return 0;
}
