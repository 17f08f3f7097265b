/*
 * survive: a program that lives through CPU exceptions.
 *
 * A vectored exception handler (AddVectoredExceptionHandler) sees an
 * access violation first: it prints what Windows tells it (code, read or
 * write, the address accessed, where) and resumes after the faulting
 * instruction with a result of its choosing. A division by zero goes past
 * the vectored handler (it declines) to the unhandled-exception filter
 * (SetUnhandledExceptionFilter), which resumes the same way. RaiseException
 * with parameters reaches both, in that order. The faulting instructions
 * are 2-byte inline assembly, so the handlers know how far to skip.
 */
#include <windows.h>
#include <stdio.h>

#ifdef _WIN64
#define PC(ctx) ((ctx)->Rip)
#define RESULT(ctx) ((ctx)->Rax)
#else
#define PC(ctx) ((ctx)->Eip)
#define RESULT(ctx) ((ctx)->Eax)
#endif

#define APP_EXCEPTION 0xE0000042u

static LONG CALLBACK vectored(EXCEPTION_POINTERS *info)
{
    EXCEPTION_RECORD *rec = info->ExceptionRecord;
    CONTEXT *ctx = info->ContextRecord;
    if (rec->ExceptionCode == EXCEPTION_ACCESS_VIOLATION) {
        printf("vectored: access violation (%lx), %s of %#lx, at the faulting pc: %d\n",
               rec->ExceptionCode, rec->ExceptionInformation[0] ? "write" : "read",
               (unsigned long)rec->ExceptionInformation[1],
               (void *)PC(ctx) == rec->ExceptionAddress);
        PC(ctx) += 2;
        RESULT(ctx) = 42;
        return EXCEPTION_CONTINUE_EXECUTION;
    }
    printf("vectored: %lx, searching on\n", rec->ExceptionCode);
    return EXCEPTION_CONTINUE_SEARCH;
}

static LONG WINAPI last_chance(EXCEPTION_POINTERS *info)
{
    EXCEPTION_RECORD *rec = info->ExceptionRecord;
    CONTEXT *ctx = info->ContextRecord;
    if (rec->ExceptionCode == EXCEPTION_INT_DIVIDE_BY_ZERO) {
        printf("filter: integer divide by zero (%lx)\n", rec->ExceptionCode);
        PC(ctx) += 2;
        RESULT(ctx) = 7;
        return EXCEPTION_CONTINUE_EXECUTION;
    }
    if (rec->ExceptionCode == APP_EXCEPTION) {
        printf("filter: %lx with %lu parameters: %lu %lu, noncontinuable: %d\n",
               rec->ExceptionCode, rec->NumberParameters,
               (unsigned long)rec->ExceptionInformation[0],
               (unsigned long)rec->ExceptionInformation[1],
               (int)(rec->ExceptionFlags & EXCEPTION_NONCONTINUABLE));
        return EXCEPTION_CONTINUE_EXECUTION;
    }
    return EXCEPTION_CONTINUE_SEARCH;
}

static int load(int *p)
{
    int v;
    __asm__ volatile("movl (%1), %0" : "=a"(v) : "c"(p) : "memory");
    return v;
}

static int store(int *p)
{
    int v = 1;
    __asm__ volatile("movl %%eax, (%1)" : "+a"(v) : "c"(p) : "memory");
    return v;
}

static int divide(int a, int b)
{
    int q;
    __asm__ volatile("cltd\n\tidivl %%ecx" : "=a"(q) : "a"(a), "c"(b) : "edx");
    return q;
}

int main(void)
{
    PVOID handle = AddVectoredExceptionHandler(1, vectored);
    printf("handler added: %d\n", handle != NULL);
    SetUnhandledExceptionFilter(last_chance);
    printf("load from 0x10 = %d\n", load((int *)0x10));
    printf("store to 0x20 = %d\n", store((int *)0x20));
    printf("100 / 0 = %d\n", divide(100, 0));
    ULONG_PTR params[2] = {1, 2};
    RaiseException(APP_EXCEPTION, 0, 2, params);
    printf("after RaiseException\n");
    printf("removed: %lu\n", RemoveVectoredExceptionHandler(handle));
    printf("removed again: %lu\n", RemoveVectoredExceptionHandler(handle));
    printf("100 / 0 = %d\n", divide(100, 0));
    printf("done\n");
    return 0;
}
