/* Escape attempts for appvirt's adversarial suite (tests/security/).
 *
 *   escape ATTEMPT [ARG...]
 *
 * Each attempt tries to reach something outside the sandbox and prints what it got on stdout
 * ("LEAK:" followed by any bytes it managed to read, or "denied: <errno name>"). The tests judge
 * the outcome from the host side; this program only tries. Static, no libc beyond syscalls.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, int fd) {
    char buf[256];
    if (fd < 0) {
        printf("%s: denied: %s\n", what, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        printf("%s: read failed: %s\n", what, strerror(errno));
    } else {
        buf[n] = 0;
        printf("%s: LEAK:%s\n", what, buf);
    }
    close(fd);
}

/* Read SECRET (a host path) every way a path can be spelled. */
static int read_secret(const char *secret) {
    char path[4096];
    /* as given (absolute) */
    report("absolute", open(secret, O_RDONLY));
    /* from the cwd through enough ".." to reach / */
    snprintf(path, sizeof path, "../../../../../../../../../../..%s", secret);
    report("dotdot", open(path, O_RDONLY));
    /* /proc/self/root */
    snprintf(path, sizeof path, "/proc/self/root%s", secret);
    report("proc-root", open(path, O_RDONLY));
    /* openat from a directory fd of the cwd, relative with ".." */
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "../../../../../../../../../..%s", secret);
    report("openat-dotdot", openat(dir, path, O_RDONLY));
    report("openat-abs", openat(dir, secret, O_RDONLY));
    /* a symlink it makes itself, in the (copy-on-write) cwd */
    unlink("escape-link");
    if (symlink(secret, "escape-link") == 0) {
        report("symlink", open("escape-link", O_RDONLY));
        report("symlink-openat", openat(dir, "escape-link", O_RDONLY));
    } else {
        printf("symlink: cannot create: %s\n", strerror(errno));
    }
    /* a symlink to the secret's folder, then the file through it */
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", secret);
    char *slash = strrchr(folder, '/');
    if (slash) {
        *slash = 0;
        unlink("escape-dir");
        symlink(folder[0] ? folder : "/", "escape-dir");
        snprintf(path, sizeof path, "escape-dir/%s", slash + 1);
        report("dir-symlink", open(path, O_RDONLY));
    }
    /* file-backed mmap of the hidden path */
    int fd = open(secret, O_RDONLY);
    if (fd < 0) {
        printf("mmap: denied: %s\n", strerror(errno));
    } else {
        char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            printf("mmap: failed: %s\n", strerror(errno));
        else
            printf("mmap: LEAK:%.64s\n", p);
    }
    /* stat and directory listing of its folder */
    struct stat st;
    printf("stat: %s\n", stat(secret, &st) == 0 ? "LEAK:exists" : strerror(errno));
    if (dir >= 0)
        close(dir);
    return 0;
}

/* Try to create or change host files outside the copy-on-write cwd. */
static int write_host(int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            printf("write %s: denied: %s\n", argv[i], strerror(errno));
            continue;
        }
        ssize_t n = write(fd, "ESCAPED\n", 8);
        printf("write %s: wrote %zd (inside the sandbox only, if at all)\n", argv[i], n);
        close(fd);
    }
    /* and through ".." from the cwd */
    int fd = open("../../../../../../../../../tmp/appvirt-escaped", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
        write(fd, "ESCAPED\n", 8);
        close(fd);
    }
    unlink("../outside-marker");
    rename("inside", "../moved-out");
    mkdir("../made-outside", 0755);
    return 0;
}

/* exec /bin/sh with a command that writes to the host. */
static int shell(int argc, char **argv) {
    if (argc < 3)
        return 2;
    char *args[] = {"/bin/sh", "-c", argv[2], NULL};
    execv("/bin/sh", args);
    printf("exec: %s\n", strerror(errno));
    return 1;
}

static int killer(int argc, char **argv) {
    int r = kill(-1, SIGKILL);
    printf("kill(-1): %d %s\n", r, r ? strerror(errno) : "");
    for (int i = 2; i < argc; i++) {
        pid_t pid = (pid_t)atoi(argv[i]);
        r = kill(pid, SIGKILL);
        printf("kill(%d): %d %s\n", pid, r, r ? strerror(errno) : "");
        r = kill(-pid, SIGKILL);
        printf("kill(-%d): %d %s\n", pid, r, r ? strerror(errno) : "");
    }
    return 0;
}

static int connector(int argc, char **argv) {
    int port = argc > 2 ? atoi(argv[2]) : 80;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        printf("socket: denied: %s\n", strerror(errno));
        return 0;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf("connect: %s\n", r == 0 ? "CONNECTED" : strerror(errno));
    return 0;
}

/* int 0x80 from 64-bit code: an i386 syscall (4 = write) must not be served. */
static int int80(void) {
    static const char msg[] = "INT80-WRITE\n";
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(4L), "b"(1L), "c"(msg), "d"((long)sizeof msg - 1)
                     : "memory");
    printf("int80 returned %ld\n", ret);
    return 0;
}

static int memory_hog(void) {
    const size_t chunk = 64UL << 20;
    size_t total = 0;
    for (int i = 0; i < 1024; i++) { /* up to 64 GiB */
        char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("mmap after %zu MiB: %s\n", total >> 20, strerror(errno));
            return 0;
        }
        for (size_t off = 0; off < chunk; off += 4096)
            p[off] = 1;
        total += chunk;
    }
    printf("mapped and touched %zu MiB\n", total >> 20);
    return 0;
}

static int fork_bomb(void) {
    int made = 0;
    for (int i = 0; i < 100000; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            if (made == 0 || getpid() == getpgrp())
                printf("fork: %s after %d\n", strerror(errno), made);
            break;
        }
        if (pid == 0) {
            made = 0;
            continue; /* the child bombs too */
        }
        made++;
    }
    if (getpid() == getpgrp()) {
        while (wait(NULL) > 0)
            ;
        printf("bomb over\n");
    }
    return 0;
}

static int disk_fill(void) {
    static char block[1 << 20];
    memset(block, 'x', sizeof block);
    int fd = open("fill.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open: %s\n", strerror(errno));
        return 1;
    }
    size_t total = 0;
    for (int i = 0; i < 3072; i++) { /* 3 GiB */
        ssize_t n = write(fd, block, sizeof block);
        if (n < 0) {
            printf("write after %zu MiB: %s\n", total >> 20, strerror(errno));
            return 0;
        }
        total += (size_t)n;
    }
    printf("wrote %zu MiB\n", total >> 20);
    return 0;
}

static int open_files(void) {
    for (int n = 0; n < 100000; n++) {
        if (open(".", O_RDONLY | O_DIRECTORY) < 0) {
            printf("open after %d: %s\n", n, strerror(errno));
            return 0;
        }
    }
    printf("opened 100000\n");
    return 0;
}

static int spin(void) {
    volatile unsigned long n = 0;
    for (;;)
        n++;
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: escape ATTEMPT [ARG...]\n");
        return 2;
    }
    const char *a = argv[1];
    if (!strcmp(a, "read") && argc > 2)
        return read_secret(argv[2]);
    if (!strcmp(a, "write"))
        return write_host(argc, argv);
    if (!strcmp(a, "shell"))
        return shell(argc, argv);
    if (!strcmp(a, "kill"))
        return killer(argc, argv);
    if (!strcmp(a, "connect"))
        return connector(argc, argv);
    if (!strcmp(a, "int80"))
        return int80();
    if (!strcmp(a, "memory"))
        return memory_hog();
    if (!strcmp(a, "fork"))
        return fork_bomb();
    if (!strcmp(a, "disk"))
        return disk_fill();
    if (!strcmp(a, "files"))
        return open_files();
    if (!strcmp(a, "spin"))
        return spin();
    fprintf(stderr, "escape: unknown attempt %s\n", a);
    return 2;
}
