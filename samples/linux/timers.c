/*
 * timers: alarms and POSIX timers delivered to a program that spins.
 *
 * An interval timer (setitimer) and a one-shot POSIX timer (timer_create,
 * SIGEV_SIGNAL) each interrupt a busy loop that makes no system call; a
 * periodic POSIX timer ticks three times under sigsuspend; a SIGEV_NONE
 * timer only keeps time (timer_gettime); timer_delete of a deleted timer is
 * EINVAL. The output does not depend on timing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t alarms, usr1;

static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_usr1(int sig) { (void)sig; usr1++; }

static timer_t make(int notify, int sig)
{
    struct sigevent ev;
    timer_t id;

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = notify;
    ev.sigev_signo = sig;
    if (timer_create(CLOCK_MONOTONIC, &ev, &id) != 0)
        perror("timer_create");
    return id;
}

static void arm(timer_t id, long first_ms, long every_ms)
{
    struct itimerspec spec;

    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_nsec = first_ms * 1000000L;
    spec.it_interval.tv_nsec = every_ms * 1000000L;
    if (timer_settime(id, 0, &spec, NULL) != 0)
        perror("timer_settime");
}

int main(void)
{
    struct itimerval it = {{0, 0}, {0, 50000}};
    struct itimerspec left;
    sigset_t none, usr1_only;
    timer_t once, tick, quiet;

    signal(SIGALRM, on_alarm);
    signal(SIGUSR1, on_usr1);
    setitimer(ITIMER_REAL, &it, NULL);
    while (!alarms)
        ;
    printf("setitimer fired while spinning\n");

    once = make(SIGEV_SIGNAL, SIGUSR1);
    arm(once, 30, 0);
    while (!usr1)
        ;
    timer_gettime(once, &left);
    printf("posix timer fired while spinning; now %s\n",
           left.it_value.tv_sec || left.it_value.tv_nsec ? "armed" : "disarmed");

    sigemptyset(&usr1_only);
    sigaddset(&usr1_only, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1_only, NULL);
    sigemptyset(&none);
    usr1 = 0;
    tick = make(SIGEV_SIGNAL, SIGUSR1);
    arm(tick, 10, 10);
    while (usr1 < 3)
        sigsuspend(&none);
    arm(tick, 0, 0);
    printf("periodic timer ticked %d times\n", (int)usr1);

    quiet = make(SIGEV_NONE, 0);
    arm(quiet, 900, 0);
    timer_gettime(quiet, &left);
    printf("SIGEV_NONE timer: %s\n",
           left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 0 ? "counting down" : "wrong");

    printf("delete: %d", timer_delete(tick));
    printf(", again: %s\n", timer_delete(tick) == 0 ? "ok" : strerror(errno));
    return 0;
}
