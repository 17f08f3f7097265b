/* signals: handlers with sigaction (SA_SIGINFO and plain), sigreturn back into the interrupted code,
 * signal masks, alarm() with pause(), SIGCHLD, raise(), and a SIGSEGV handler that exits cleanly. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_alrm, got_chld, info_signo;
static sigjmp_buf env;

static void on_usr1(int sig) { got_usr1 = sig; }
static void on_alrm(int sig) { (void)sig; got_alrm++; }
static void on_chld(int sig) { (void)sig; got_chld++; }
static void on_info(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    info_signo = info->si_signo == sig ? sig : -1;
}
static void on_segv(int sig) { siglongjmp(env, sig); }

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("usr1 handler ran: %d\n", got_usr1 == SIGUSR1);

    /* a blocked signal stays pending until unblocked */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    got_usr1 = 0;
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    printf("while blocked: %d\n", got_usr1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock: %d\n", got_usr1 == SIGUSR1);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    kill(getpid(), SIGUSR2);
    printf("siginfo handler: %d\n", info_signo == SIGUSR2);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    pause();
    printf("alarm fired: %d\n", (int)got_alrm);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(5);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    printf("child status %d, sigchld seen: %d\n", WEXITSTATUS(status), got_chld > 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    int sig = sigsetjmp(env, 1);
    if (sig == 0) {
        int *volatile bad = (int *)16;
        *bad = 1;
        printf("not reached\n");
    }
    printf("recovered from signal %d\n", sig);
    signal(SIGTERM, SIG_DFL);
    fflush(stdout);
    raise(SIGTERM);
    printf("not reached either\n");
    return 0;
}
