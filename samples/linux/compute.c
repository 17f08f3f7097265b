/*
 * compute: pure CPU work, no memory traffic in the hot loop.
 *
 * Exercises raw instruction throughput of the emulator: a long loop of
 * integer multiply/xor/shift/rotate on values kept in registers, with no
 * loads, stores or system calls inside it. argv[1] sets the iteration count
 * (default 200000000, about half a second natively). Prints the final hash,
 * which is the same on x86-64 and i386 because all arithmetic is 32-bit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

static uint32_t mix(uint32_t iterations)
{
    uint32_t a = 0x9e3779b9u;
    uint32_t b = 0x85ebca6bu;
    uint32_t i;

    for (i = 0; i < iterations; i++) {
        a ^= i;
        a *= 0x01000193u;
        a ^= a >> 13;
        a *= 0xc2b2ae35u;
        b += a ^ (a >> 15);
        b = (b << 7) | (b >> 25);
    }
    return a ^ b;
}

int main(int argc, char **argv)
{
    uint32_t iterations = 200000000u;

    if (argc > 1)
        iterations = (uint32_t)strtoul(argv[1], NULL, 0);
    printf("iterations=%u\n", iterations);
    printf("result=%08x\n", mix(iterations));
    return 0;
}
