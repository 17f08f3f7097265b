/*
 * undeclared: calling Windows exports appvirt has no prototype for.
 *
 * Beep and GetProcessAffinityMask are stdcall functions appvirt does not
 * declare: they fail with ERROR_CALL_NOT_IMPLEMENTED (120), and on i386 the
 * stack must still be balanced afterwards (the callee pops its arguments).
 * The stack pointer before and after the calls shows that it is.
 */
#include <windows.h>
#include <stdio.h>

static __attribute__((noinline)) void *stack_pointer(void)
{
    return __builtin_frame_address(0);
}

static int __attribute__((noinline)) calls(int rounds)
{
    char *before = stack_pointer(), *after;
    int failed = 0;
    DWORD_PTR process_mask = 0, system_mask = 0;

    for (int i = 0; i < rounds; i++) {
        if (!Beep(440 + i, 1))
            failed++;
        if (!GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask))
            failed++;
    }
    after = stack_pointer();
    printf("last error %lu\n", GetLastError());
    printf("stack moved by %d bytes\n", (int)(before - after));
    return failed;
}

int main(void)
{
    int failed = calls(50);

    printf("failed calls %d of 100\n", failed);
    return failed == 100 ? 0 : 1;
}
