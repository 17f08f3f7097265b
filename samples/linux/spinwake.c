/* spinwake: a task spins (no blocking call) while another one sleeps and, once awake, releases it.
 * Threads: for each way to sleep (nanosleep, clock_nanosleep, poll and select with a timeout, a
 * futex wait with a timeout through pthread_cond_timedwait), a pthread sleeps 50 ms, then sets a
 * volatile flag the main thread busy-waits on without any syscall.
 * Fork: a child sleeps 50 ms, then writes to a pipe; the parent spins on non-blocking reads.
 * argv[1]: "threads" or "fork" runs one part only (default: both). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_MS 50

static volatile int flag;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static void *sleeper(void *arg)
{
    const char *how = arg;
    struct timespec ts = {0, SLEEP_MS * 1000000L};
    int rc = 0;
    if (strcmp(how, "nanosleep") == 0) {
        rc = nanosleep(&ts, NULL);
    } else if (strcmp(how, "clock_nanosleep") == 0) {
        rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    } else if (strcmp(how, "poll") == 0) {
        rc = poll(NULL, 0, SLEEP_MS);
    } else if (strcmp(how, "select") == 0) {
        struct timeval tv = {0, SLEEP_MS * 1000L};
        rc = select(0, NULL, NULL, NULL, &tv);
    } else if (strcmp(how, "futex") == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SLEEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&lock);
        while ((rc = pthread_cond_timedwait(&never, &lock, &until)) == 0)
            ;
        pthread_mutex_unlock(&lock);
        rc = rc == ETIMEDOUT ? 0 : rc;
    }
    flag = 1;
    return (void *)(long)rc;
}

static int threads(void)
{
    static const char *const ways[] = {"nanosleep", "clock_nanosleep", "poll", "select", "futex"};
    int failed = 0;
    for (unsigned i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        pthread_t th;
        void *ret;
        flag = 0;
        if (pthread_create(&th, NULL, sleeper, (void *)ways[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
        unsigned long spins = 0;
        while (!flag)
            spins++;
        pthread_join(th, &ret);
        printf("thread %s: flag set, spun %s, sleep returned %ld\n", ways[i],
               spins ? "yes" : "no", (long)ret);
        failed |= ret != NULL;
    }
    return failed;
}

static int forked(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        struct timespec ts = {0, SLEEP_MS * 1000000L};
        close(fds[0]);
        nanosleep(&ts, NULL);
        if (write(fds[1], "ready", 5) != 5)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    char buf[16];
    ssize_t n;
    unsigned long again = 0;
    while ((n = read(fds[0], buf, sizeof buf - 1)) < 0 && errno == EAGAIN)
        again++;
    if (n < 0) {
        perror("read");
        return 1;
    }
    buf[n] = 0;
    int status;
    waitpid(pid, &status, 0);
    printf("fork: parent read \"%s\" after %s, child exited %d\n", buf,
           again ? "EAGAIN" : "no EAGAIN", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "all";
    int rc = 0;
    if (strcmp(part, "fork") != 0)
        rc |= threads();
    if (strcmp(part, "threads") != 0)
        rc |= forked();
    fflush(stdout);
    return rc;
}
