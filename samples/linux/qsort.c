/*
 * qsort: memory-heavy library code.
 *
 * Exercises loads and stores across a 4 MB heap array and indirect calls to
 * a comparison function: fills 1,000,000 ints from a fixed-seed linear
 * congruential generator, sorts them with libc qsort, checks the order, and
 * prints a checksum of the sorted array.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT 1000000

static int compare_ints(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a;
    int32_t y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    int32_t *values = malloc(COUNT * sizeof *values);
    uint32_t state = 12345u;
    uint64_t checksum = 0;
    int sorted = 1;

    if (!values) {
        perror("malloc");
        return 1;
    }
    for (int i = 0; i < COUNT; i++) {
        state = state * 1664525u + 1013904223u;
        values[i] = (int32_t)state;
    }

    qsort(values, COUNT, sizeof *values, compare_ints);

    for (int i = 0; i < COUNT; i++) {
        if (i > 0 && values[i - 1] > values[i])
            sorted = 0;
        checksum = checksum * 31u + (uint32_t)values[i];
    }
    printf("count=%d\n", COUNT);
    printf("sorted=%s\n", sorted ? "yes" : "no");
    printf("min=%d max=%d\n", (int)values[0], (int)values[COUNT - 1]);
    printf("checksum=%016llx\n", (unsigned long long)checksum);
    free(values);
    return sorted ? 0 : 1;
}
