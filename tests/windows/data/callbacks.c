/* Callbacks whose result matters: qsort and bsearch comparators (the value each returns reaches
 * msvcrt's qsort/bsearch, which appvirt serves).
 *
 * Build: i686-w64-mingw32-gcc -O1 -s -o callbacks32.exe callbacks.c
 *        x86_64-w64-mingw32-gcc -O1 -s -o callbacks64.exe callbacks.c
 */
#include <stdio.h>
#include <stdlib.h>

static int descending(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

int main(void)
{
    int values[] = {3, 9, 1, 7, 5, 2};
    int key = 7;
    size_t n = sizeof values / sizeof values[0];
    int *found;

    qsort(values, n, sizeof values[0], descending);
    for (size_t i = 0; i < n; i++)
        printf("%d%s", values[i], i + 1 < n ? " " : "\n");
    found = bsearch(&key, values, n, sizeof values[0], descending);
    printf("bsearch 7: %d\n", found ? (int)(found - values) : -1);
    return 0;
}
