/* forkpipe: fork, pipe, dup2, execve of the program itself, waitpid with exit statuses and signals.
 * The parent writes lines into a pipe read by a child; a second child exits by signal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int child_reader(int fd)
{
    char buf[256];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    printf("child read %zu bytes\n", total);
    return (int)(total % 256);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        printf("exec'd child says %s\n", argc > 2 ? argv[2] : "nothing");
        return 7;
    }
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid_t reader = fork();
    if (reader == 0) {
        close(p[1]);
        exit(child_reader(p[0]));
    }
    close(p[0]);
    for (int i = 0; i < 1000; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "line %d\n", i);
        if (write(p[1], line, (size_t)len) != len) {
            perror("write");
            return 1;
        }
    }
    close(p[1]);
    int status;
    waitpid(reader, &status, 0);
    printf("reader exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));

    pid_t execer = fork();
    if (execer == 0) {
        char *args[] = {argv[0], "exec-child", "hello", NULL};
        execv("/proc/self/exe", args);
        perror("execv");
        _exit(127);
    }
    waitpid(execer, &status, 0);
    printf("exec child exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));

    pid_t victim = fork();
    if (victim == 0) {
        pause();
        _exit(0);
    }
    kill(victim, SIGTERM);
    waitpid(victim, &status, 0);
    printf("victim signaled=%d signal=%d\n", WIFSIGNALED(status), WTERMSIG(status));

    /* dup2 a pipe onto stdout of a child */
    if (pipe(p) != 0)
        return 1;
    fflush(stdout);
    pid_t talker = fork();
    if (talker == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        printf("through the pipe\n");
        fflush(stdout);
        _exit(0);
    }
    close(p[1]);
    char buf[64] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    waitpid(talker, &status, 0);
    printf("parent got %zd bytes: %s", n, buf);
    return 0;
}
