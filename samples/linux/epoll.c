/*
 * epoll: waiting on several descriptors with epoll, against a forked writer.
 *
 * Registers two pipes (one with EPOLLONESHOT) and checks the error cases
 * (EEXIST, ENOENT, EPERM on a regular file, EINVAL on itself); a child
 * writes to each pipe in turn and closes them; the parent reports every
 * event (which pipe, in/hup) until both pipes hang up. Output is the same
 * on every run and natively.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *what, int rc)
{
    printf("%s: %s\n", what, rc == 0 ? "ok" : strerror(errno));
}

int main(int argc, char **argv)
{
    int a[2], b[2], ep, file, status;
    struct epoll_event ev, got[4];
    int open_pipes = 2, reports = 0;

    if (pipe(a) || pipe(b))
        return 1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.u64 = 0xA;
    check("add a", epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &ev));
    check("add a again", epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &ev));
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = 0xB;
    check("add b oneshot", epoll_ctl(ep, EPOLL_CTL_ADD, b[0], &ev));
    check("mod missing", epoll_ctl(ep, EPOLL_CTL_MOD, 99 > ep ? ep + 50 : 99, &ev));
    file = open(argc > 0 ? argv[0] : "/", O_RDONLY);
    check("add a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev));
    check("add itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    printf("nothing ready: %d\n", epoll_wait(ep, got, 4, 0));
    fflush(stdout);

    if (fork() == 0) {
        close(a[0]);
        close(b[0]);
        usleep(20000);
        write(a[1], "x", 1);
        usleep(20000);
        write(b[1], "y", 1);
        usleep(20000);
        close(a[1]);
        close(b[1]);
        _exit(0);
    }
    close(a[1]);
    close(b[1]);
    while (open_pipes > 0 && reports < 10) {
        int n = epoll_wait(ep, got, 4, 2000);
        if (n <= 0) {
            printf("epoll_wait: %d\n", n);
            break;
        }
        for (int i = 0; i < n; i++) {
            char c;
            int fd = got[i].data.u64 == 0xA ? a[0] : b[0];
            ssize_t r = (got[i].events & EPOLLIN) ? read(fd, &c, 1) : 0;
            printf("pipe %llX:%s%s read %zd\n", (unsigned long long)got[i].data.u64,
                   got[i].events & EPOLLIN ? " in" : "", got[i].events & EPOLLHUP ? " hup" : "", r);
            reports++;
            if (r == 0) {
                check("del", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));
                open_pipes--;
            } else if (got[i].data.u64 == 0xB) {
                ev.events = EPOLLIN | EPOLLONESHOT;
                ev.data.u64 = 0xB;
                check("rearm b", epoll_ctl(ep, EPOLL_CTL_MOD, b[0], &ev));
            }
        }
    }
    wait(&status);
    check("del again", epoll_ctl(ep, EPOLL_CTL_DEL, a[0], NULL));
    close(file);
    printf("done\n");
    return 0;
}
