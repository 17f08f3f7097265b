/*
 * threads: Win32 threads and synchronisation, with output that does not
 * depend on how the threads interleave.
 *
 * Without arguments it runs every part in order and prints one line per
 * check: critical sections under real contention (the workers block while
 * the main thread holds the lock), a manual-reset start event, exit codes
 * joined with WaitForMultipleObjects, auto-reset events in ping-pong, mutexes
 * (recursive, abandoned), wait-any and timeouts, a producer/consumer over a
 * semaphore and a condition variable, SRW locks, per-thread TLS slots,
 * InitOnceExecuteOnce and _beginthreadex.
 *
 * Other modes, for tests: "lastthread" (main calls ExitThread; the process
 * ends with the exit code of its last thread), "exitprocess" (a worker calls
 * ExitProcess while main waits), "deadlock" (two threads take two critical
 * sections in opposite orders), "many N" (try to start N threads that wait,
 * and report how many CreateThread calls succeeded).
 */
#define _WIN32_WINNT 0x0601
#include <windows.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define ROUNDS 2000
#define ITEMS 50
#define PRODUCERS 2
#define SLOTS 4

static CRITICAL_SECTION sum_lock;
static HANDLE go_event;
static volatile LONG arrived;
static volatile LONG inside;
static long long total;

static DWORD WINAPI adder(void *arg)
{
    int id = (int)(INT_PTR)arg;

    WaitForSingleObject(go_event, INFINITE);
    InterlockedIncrement(&arrived);
    for (int i = 1; i <= ROUNDS; i++) {
        EnterCriticalSection(&sum_lock);
        InterlockedIncrement(&inside);
        long long before = total;
        for (volatile int spin = 0; spin < 20; spin++)
            ;
        total = before + i * id;
        LeaveCriticalSection(&sum_lock);
    }
    return 100 + id;
}

static int part_critical_section(void)
{
    HANDLE threads[WORKERS];
    DWORD code;
    long long expected = 0;

    InitializeCriticalSection(&sum_lock);
    go_event = CreateEventA(NULL, TRUE, FALSE, NULL);
    EnterCriticalSection(&sum_lock);
    for (int i = 0; i < WORKERS; i++) {
        threads[i] = CreateThread(NULL, 0, adder, (void *)(INT_PTR)(i + 1), 0, NULL);
        if (!threads[i]) {
            printf("CreateThread failed: %lu\n", GetLastError());
            return 1;
        }
    }
    GetExitCodeThread(threads[0], &code);
    printf("exit code while running: %lu\n", code);
    SetEvent(go_event);
    while (arrived < WORKERS)
        Sleep(1);
    Sleep(20);
    printf("workers arrived: %ld, inside while main holds the lock: %ld\n", arrived, inside);
    LeaveCriticalSection(&sum_lock);
    DWORD r = WaitForMultipleObjects(WORKERS, threads, TRUE, INFINITE);
    printf("WaitForMultipleObjects(all): %lu\n", r);
    for (int id = 1; id <= WORKERS; id++)
        expected += (long long)id * ROUNDS * (ROUNDS + 1) / 2;
    printf("total %lld (expected %lld), entries %ld\n", total, expected, inside);
    for (int i = 0; i < WORKERS; i++) {
        GetExitCodeThread(threads[i], &code);
        printf("worker %d exit code %lu\n", i + 1, code);
        CloseHandle(threads[i]);
    }
    CloseHandle(go_event);
    DeleteCriticalSection(&sum_lock);
    return 0;
}

/* Ping-pong over two auto-reset events: the log is strictly alternating. */
static HANDLE ping, pong;
static char pp_log[64];
static volatile LONG pp_len;

static DWORD WINAPI ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        WaitForSingleObject(ping, INFINITE);
        pp_log[pp_len++] = 'o';
        SetEvent(pong);
    }
    return 0;
}

static void part_events(void)
{
    HANDLE t;

    ping = CreateEventA(NULL, FALSE, FALSE, NULL);
    pong = CreateEventA(NULL, FALSE, FALSE, NULL);
    t = CreateThread(NULL, 0, ponger, NULL, 0, NULL);
    for (int i = 0; i < 5; i++) {
        pp_log[pp_len++] = 'i';
        SetEvent(ping);
        WaitForSingleObject(pong, INFINITE);
    }
    WaitForSingleObject(t, INFINITE);
    pp_log[pp_len] = 0;
    printf("ping-pong: %s\n", pp_log);
    printf("auto-reset event after the wait: %lu\n", WaitForSingleObject(ping, 0));
    CloseHandle(t);
    CloseHandle(ping);
    CloseHandle(pong);
}

static HANDLE mutex;

static DWORD WINAPI mutex_leaver(void *arg)
{
    (void)arg;
    WaitForSingleObject(mutex, INFINITE);
    return 9; /* ends while owning the mutex: it becomes abandoned */
}

static void part_mutex(void)
{
    HANDLE t, events[3];
    DWORD code, first, again;

    mutex = CreateMutexA(NULL, TRUE, NULL);
    first = WaitForSingleObject(mutex, 0);
    again = WaitForSingleObject(mutex, 0);
    BOOL released[4];
    for (int i = 0; i < 4; i++)
        released[i] = ReleaseMutex(mutex);
    code = GetLastError();
    printf("recursive: %lu %lu release: %d %d %d %d error %lu\n", first, again, released[0],
           released[1], released[2], released[3], code);
    t = CreateThread(NULL, 0, mutex_leaver, NULL, 0, NULL);
    WaitForSingleObject(t, INFINITE);
    GetExitCodeThread(t, &code);
    first = WaitForSingleObject(mutex, INFINITE);
    again = WaitForSingleObject(mutex, 0);
    printf("owner exited with %lu; wait: 0x%lx; again: 0x%lx\n", code, first, again);
    ReleaseMutex(mutex);
    ReleaseMutex(mutex);
    CloseHandle(t);
    CloseHandle(mutex);

    for (int i = 0; i < 3; i++)
        events[i] = CreateEventA(NULL, TRUE, FALSE, NULL);
    printf("wait-any timeout: 0x%lx\n", WaitForMultipleObjects(3, events, FALSE, 30));
    printf("wait timeout: 0x%lx\n", WaitForSingleObject(events[0], 10));
    SetEvent(events[2]);
    SetEvent(events[1]);
    printf("wait-any: %lu\n", WaitForMultipleObjects(3, events, FALSE, INFINITE));
    printf("wait-all timeout: 0x%lx\n", WaitForMultipleObjects(3, events, TRUE, 10));
    for (int i = 0; i < 3; i++)
        CloseHandle(events[i]);
}

/* Producer/consumer: a semaphore counts free slots, a condition variable
 * wakes the consumer when an item arrives. */
static CRITICAL_SECTION q_lock;
static CONDITION_VARIABLE q_nonempty;
static HANDLE q_slots;
static int queue[SLOTS];
static int q_head, q_count, q_max;

static DWORD WINAPI producer(void *arg)
{
    int base = (int)(INT_PTR)arg;

    for (int i = 1; i <= ITEMS; i++) {
        WaitForSingleObject(q_slots, INFINITE);
        EnterCriticalSection(&q_lock);
        queue[(q_head + q_count) % SLOTS] = base + i;
        q_count++;
        if (q_count > q_max)
            q_max = q_count;
        LeaveCriticalSection(&q_lock);
        WakeConditionVariable(&q_nonempty);
    }
    return 0;
}

static void part_producer_consumer(void)
{
    HANDLE threads[PRODUCERS];
    long long sum = 0;
    int got = 0;
    LONG previous = -1;

    InitializeCriticalSection(&q_lock);
    InitializeConditionVariable(&q_nonempty);
    q_slots = CreateSemaphoreA(NULL, SLOTS, SLOTS, NULL);
    for (int p = 0; p < PRODUCERS; p++)
        threads[p] = CreateThread(NULL, 0, producer, (void *)(INT_PTR)(1000 * (p + 1)), 0, NULL);
    while (got < PRODUCERS * ITEMS) {
        EnterCriticalSection(&q_lock);
        while (q_count == 0)
            SleepConditionVariableCS(&q_nonempty, &q_lock, INFINITE);
        sum += queue[q_head];
        q_head = (q_head + 1) % SLOTS;
        q_count--;
        got++;
        LeaveCriticalSection(&q_lock);
        ReleaseSemaphore(q_slots, 1, NULL);
    }
    WaitForMultipleObjects(PRODUCERS, threads, TRUE, INFINITE);
    printf("consumed %d items, sum %lld, queue never above %d: %s\n", got, sum, SLOTS,
           q_max <= SLOTS ? "yes" : "no");
    BOOL over = ReleaseSemaphore(q_slots, 1, &previous);
    DWORD over_error = GetLastError();
    printf("semaphore over its maximum: %d error %lu\n", over, over_error);
    EnterCriticalSection(&q_lock);
    SetLastError(0);
    BOOL woke = SleepConditionVariableCS(&q_nonempty, &q_lock, 10);
    printf("condition wait timeout: %d error %lu\n", woke, GetLastError());
    LeaveCriticalSection(&q_lock);
    for (int p = 0; p < PRODUCERS; p++)
        CloseHandle(threads[p]);
    CloseHandle(q_slots);
    DeleteCriticalSection(&q_lock);
}

/* SRW lock: readers share it, a writer excludes them; TLS slots differ per thread. */
static SRWLOCK rw = SRWLOCK_INIT;
static CONDITION_VARIABLE rw_changed;
static int rw_value;
static DWORD tls_slot;
static volatile LONG tls_ok;

static DWORD WINAPI rw_worker(void *arg)
{
    int id = (int)(INT_PTR)arg;

    TlsSetValue(tls_slot, (void *)(INT_PTR)(id * 10));
    AcquireSRWLockExclusive(&rw);
    while (rw_value != id - 1)
        SleepConditionVariableSRW(&rw_changed, &rw, INFINITE, 0);
    rw_value = id;
    ReleaseSRWLockExclusive(&rw);
    WakeAllConditionVariable(&rw_changed);
    Sleep(1);
    if ((INT_PTR)TlsGetValue(tls_slot) == id * 10)
        InterlockedIncrement(&tls_ok);
    return 0;
}

static void part_srw_and_tls(void)
{
    HANDLE threads[3];

    tls_slot = TlsAlloc();
    TlsSetValue(tls_slot, (void *)7);
    AcquireSRWLockShared(&rw);
    printf("second shared: %d, exclusive while shared: %d\n",
           TryAcquireSRWLockShared(&rw), TryAcquireSRWLockExclusive(&rw));
    ReleaseSRWLockShared(&rw);
    ReleaseSRWLockShared(&rw);
    InitializeConditionVariable(&rw_changed);
    for (int i = 3; i >= 1; i--)
        threads[i - 1] = CreateThread(NULL, 0, rw_worker, (void *)(INT_PTR)i, 0, NULL);
    WaitForMultipleObjects(3, threads, TRUE, INFINITE);
    printf("srw handoff reached %d; tls slots private: %ld/3, main keeps %d\n", rw_value, tls_ok,
           (int)(INT_PTR)TlsGetValue(tls_slot));
    for (int i = 0; i < 3; i++)
        CloseHandle(threads[i]);
    TlsFree(tls_slot);
}

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static volatile LONG once_calls;

static BOOL CALLBACK once_fn(PINIT_ONCE o, void *param, void **context)
{
    (void)o;
    (void)param;
    (void)context;
    InterlockedIncrement(&once_calls);
    return TRUE;
}

static unsigned __stdcall crt_thread(void *arg)
{
    InitOnceExecuteOnce(&once, once_fn, NULL, NULL);
    SwitchToThread();
    return (unsigned)(INT_PTR)arg;
}

static void part_once_and_crt(void)
{
    HANDLE threads[3];
    DWORD code, sum = 0;

    for (int i = 0; i < 3; i++)
        threads[i] = (HANDLE)_beginthreadex(NULL, 0, crt_thread, (void *)(INT_PTR)(i + 1), 0, NULL);
    WaitForMultipleObjects(3, threads, TRUE, INFINITE);
    for (int i = 0; i < 3; i++) {
        GetExitCodeThread(threads[i], &code);
        sum += code;
        CloseHandle(threads[i]);
    }
    InitOnceExecuteOnce(&once, once_fn, NULL, NULL);
    printf("_beginthreadex exit codes sum %lu, init-once callback ran %ld time(s)\n", sum,
           once_calls);
}

static DWORD WINAPI late_worker(void *arg)
{
    (void)arg;
    Sleep(30);
    printf("last thread ends the process\n");
    return 7;
}

static DWORD WINAPI exiting_worker(void *arg)
{
    (void)arg;
    Sleep(10);
    printf("worker calls ExitProcess(5)\n");
    fflush(stdout);
    ExitProcess(5);
}

static CRITICAL_SECTION lock_a, lock_b;

static DWORD WINAPI lock_b_then_a(void *arg)
{
    (void)arg;
    EnterCriticalSection(&lock_b);
    Sleep(10);
    EnterCriticalSection(&lock_a);
    return 0;
}

static DWORD WINAPI waiter(void *arg)
{
    WaitForSingleObject((HANDLE)arg, INFINITE);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "lastthread") == 0) {
        CloseHandle(CreateThread(NULL, 0, late_worker, NULL, 0, NULL));
        printf("main thread exits first\n");
        fflush(stdout);
        ExitThread(0);
    }
    if (argc > 1 && strcmp(argv[1], "exitprocess") == 0) {
        HANDLE t = CreateThread(NULL, 0, exiting_worker, NULL, 0, NULL);
        WaitForSingleObject(t, INFINITE);
        printf("not reached\n");
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "deadlock") == 0) {
        InitializeCriticalSection(&lock_a);
        InitializeCriticalSection(&lock_b);
        EnterCriticalSection(&lock_a);
        HANDLE t = CreateThread(NULL, 0, lock_b_then_a, NULL, 0, NULL);
        Sleep(5);
        EnterCriticalSection(&lock_b);
        WaitForSingleObject(t, INFINITE);
        printf("not reached\n");
        return 1;
    }
    if (argc > 2 && strcmp(argv[1], "many") == 0) {
        int wanted = atoi(argv[2]), made = 0;
        HANDLE never = CreateEventA(NULL, TRUE, FALSE, NULL);
        DWORD error = 0;

        for (int i = 0; i < wanted; i++) {
            if (!CreateThread(NULL, 0, waiter, never, 0, NULL)) {
                error = GetLastError();
                break;
            }
            made++;
        }
        printf("started %d of %d threads, last error %lu\n", made, wanted, error);
        return made;
    }
    if (part_critical_section())
        return 1;
    part_events();
    part_mutex();
    part_producer_consumer();
    part_srw_and_tls();
    part_once_and_crt();
    printf("done\n");
    return 0;
}
