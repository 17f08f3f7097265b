/*
 * sieve: byte stores over a large working set.
 *
 * Exercises a 16 MiB heap buffer written with strided byte stores (the
 * emulator's store path and TLB): a sieve of Eratosthenes over
 * 0 .. 16*1024*1024-1, printing how many primes it found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT (16u * 1024u * 1024u)

int main(void)
{
    unsigned char *composite = malloc(LIMIT);
    unsigned long primes = 0;

    if (!composite) {
        perror("malloc");
        return 1;
    }
    memset(composite, 0, LIMIT);
    composite[0] = composite[1] = 1;
    for (unsigned long i = 2; i * i < LIMIT; i++) {
        if (composite[i])
            continue;
        for (unsigned long j = i * i; j < LIMIT; j += i)
            composite[j] = 1;
    }
    for (unsigned long i = 0; i < LIMIT; i++)
        primes += !composite[i];

    printf("limit=%u\n", LIMIT);
    printf("primes=%lu\n", primes);
    free(composite);
    return 0;
}
