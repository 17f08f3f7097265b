/*
 * spinwait: threads that busy-wait on each other, with no API call in the loop.
 *
 * The main thread creates a worker and spins on a flag the worker sets
 * after Sleep(30); then the worker spins on a flag the main thread sets
 * after Sleep(30). A scheduler that lets a spinning thread run alone
 * forever (or never preempts code translated while it ran alone) hangs
 * here instead of printing the three lines.
 */
#include <windows.h>
#include <stdio.h>

static volatile LONG ready = 0, reply = 0;

static DWORD WINAPI worker(LPVOID arg)
{
    (void)arg;
    Sleep(30);
    ready = 1;
    while (!reply)
        ;
    return 7;
}

int main(void)
{
    DWORD code = 0;
    HANDLE t = CreateThread(NULL, 0, worker, NULL, 0, NULL);

    while (!ready)
        ;
    printf("main saw the worker's flag\n");
    Sleep(30);
    reply = 1;
    WaitForSingleObject(t, INFINITE);
    GetExitCodeThread(t, &code);
    printf("worker saw the main thread's flag\n");
    printf("worker exit code %lu\n", code);
    return 0;
}
