/* i386 structured exception handling through the fs:[0] chain, without compiler support.
 *
 * Build: i686-w64-mingw32-gcc -O1 -s -o seh32.exe seh32.c
 *
 * Each mode registers EXCEPTION_REGISTRATION_RECORDs by hand (inline asm on fs:[0]) and then
 * reads address 0; the handlers print what they were given and decide.
 *   resume     one handler edits the CONTEXT (EAX, EIP past the 2-byte faulting load) and
 *              returns ExceptionContinueExecution
 *   search     the inner handler declines (ExceptionContinueSearch), the outer one resumes
 *   unwind     the outer handler calls RtlUnwind on its own frame (the inner handler is called
 *              again with EXCEPTION_UNWINDING and unlinked), then resumes
 *   unhandled  the only handler declines: the process ends with 0xC0000005
 *   divide     as resume, for a division by zero (divl %ecx is 2 bytes too)
 *   illegal    as resume, for an illegal instruction (ud2, 2 bytes)
 */
#include <stdio.h>
#include <string.h>
#include <windows.h>

typedef struct Registration {
    struct Registration *next;
    void *handler;
} Registration;

static void *outer_frame;

static Registration *chain_head(void)
{
    Registration *head;
    __asm__ volatile("movl %%fs:0, %0" : "=r"(head));
    return head;
}

static void set_chain_head(Registration *head)
{
    __asm__ volatile("movl %0, %%fs:0" : : "r"(head) : "memory");
}

static int resume(EXCEPTION_RECORD *rec, CONTEXT *ctx, const char *who)
{
    printf("%s: code=%08lx flags=%lu params=%lu read=%lu eip_is_fault=%d\n", who,
           rec->ExceptionCode, rec->ExceptionFlags, rec->NumberParameters,
           rec->ExceptionInformation[0], (DWORD)rec->ExceptionAddress == ctx->Eip);
    ctx->Eax = 42;
    ctx->Eip += 2; /* movl (%eax), %eax is 8b 00; divl %ecx f7 f1; ud2 0f 0b */
    return ExceptionContinueExecution;
}

static EXCEPTION_DISPOSITION __cdecl inner(EXCEPTION_RECORD *rec, void *frame, CONTEXT *ctx,
                                           void *dispatcher)
{
    printf("inner: flags=%lu\n", rec->ExceptionFlags);
    return ExceptionContinueSearch;
}

static EXCEPTION_DISPOSITION __cdecl outer(EXCEPTION_RECORD *rec, void *frame, CONTEXT *ctx,
                                           void *dispatcher)
{
    return resume(rec, ctx, "outer");
}

static EXCEPTION_DISPOSITION __cdecl unwinder(EXCEPTION_RECORD *rec, void *frame, CONTEXT *ctx,
                                              void *dispatcher)
{
    printf("unwinder: frame_is_outer=%d\n", frame == outer_frame);
    RtlUnwind(frame, NULL, rec, NULL);
    printf("unwinder: head_is_frame=%d\n", (void *)chain_head() == frame);
    return resume(rec, ctx, "unwinder");
}

static int fault(void)
{
    int value;
    __asm__ volatile("xorl %%eax, %%eax\n\tmovl (%%eax), %%eax" : "=a"(value) : : "memory");
    return value;
}

static int illegal(void)
{
    int value;
    __asm__ volatile("xorl %%eax, %%eax\n\tud2" : "=a"(value) : : "memory");
    return value;
}

static int divide(void)
{
    int value;
    __asm__ volatile("movl $7, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\tdivl %%ecx"
                     : "=a"(value) : : "ecx", "edx", "memory");
    return value;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "resume";
    Registration *saved = chain_head();
    Registration first, second;
    int value;

    printf("chain_end=%d\n", saved == (Registration *)-1);
    if (!strcmp(mode, "resume") || !strcmp(mode, "divide") || !strcmp(mode, "illegal")) {
        first.next = saved, first.handler = (void *)outer;
        set_chain_head(&first);
    } else if (!strcmp(mode, "search") || !strcmp(mode, "unwind")) {
        first.next = saved;
        first.handler = !strcmp(mode, "search") ? (void *)outer : (void *)unwinder;
        second.next = &first, second.handler = (void *)inner;
        outer_frame = &first;
        set_chain_head(&second);
    } else {
        first.next = saved, first.handler = (void *)inner;
        set_chain_head(&first);
    }
    if (!strcmp(mode, "divide"))
        value = divide();
    else if (!strcmp(mode, "illegal"))
        value = illegal();
    else
        value = fault();
    set_chain_head(saved);
    printf("resumed: value=%d\n", value);
    return 0;
}
