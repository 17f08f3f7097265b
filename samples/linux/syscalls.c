/*
 * syscalls: the cost of a system call round trip.
 *
 * Exercises the syscall trap path: N (argv[1], default 1000000) raw
 * getpid calls made through syscall(SYS_getpid), so glibc cannot answer them
 * from a cache, plus every 1000th iteration an 8-byte write to /dev/null
 * opened once at the start. Prints how many calls and writes were made.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long count = 1000000;
    long writes = 0;
    long pid_changes = 0;
    long first_pid;
    int fd;

    if (argc > 1)
        count = strtol(argv[1], NULL, 0);

    fd = open("/dev/null", O_WRONLY);
    if (fd < 0) {
        perror("open /dev/null");
        return 1;
    }

    first_pid = syscall(SYS_getpid);
    for (long i = 0; i < count; i++) {
        if (syscall(SYS_getpid) != first_pid)
            pid_changes++;
        if (i % 1000 == 0) {
            if (write(fd, "appvirt\n", 8) != 8) {
                perror("write /dev/null");
                return 1;
            }
            writes++;
        }
    }
    close(fd);

    printf("getpid_calls=%ld\n", count);
    printf("writes=%ld\n", writes);
    printf("pid_changes=%ld\n", pid_changes);
    return 0;
}
