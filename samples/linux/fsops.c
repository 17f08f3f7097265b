/*
 * fsops: the file-system system calls, one step per line.
 *
 * Exercises, in a scratch directory "fsops.d" made in the current directory:
 * mkdir, open/creat, write, close, stat/lstat/fstat (size and type only,
 * never inode numbers or times), chmod, lseek, read, pread, ftruncate, dup2,
 * fcntl, rename, symlink, readlink, opendir/readdir (names sorted before
 * printing), access, chdir, getcwd (only whether it ends with the expected
 * leaf), unlink and rmdir, including the expected failures (EEXIST, ENOENT,
 * EISDIR, ENOTEMPTY, EBADF). Each step prints its result or the errno name
 * and strerror text. The scratch directory is removed at the end (and any
 * leftover from an interrupted run is removed silently at the start), so the
 * output is the same on every run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_NAME "fsops.d"

static const char *errno_name(int code)
{
    switch (code) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    default: return "E?";
    }
}

/* Print "step: ok" (or the value) for rc >= 0, or the errno for rc < 0. */
static long report(const char *step, long rc)
{
    if (rc < 0) {
        int saved = errno;
        printf("%s: error %s (%s)\n", step, errno_name(saved), strerror(saved));
        errno = saved;
    } else {
        printf("%s: ok %ld\n", step, rc);
    }
    return rc;
}

/* Like report(), but hides the descriptor number, which depends on what the
 * parent left open. */
static int report_fd(const char *step, int fd)
{
    if (fd < 0)
        report(step, fd);
    else
        printf("%s: ok fd\n", step);
    return fd;
}

static const char *type_name(mode_t mode)
{
    if (S_ISREG(mode)) return "regular";
    if (S_ISDIR(mode)) return "dir";
    if (S_ISLNK(mode)) return "symlink";
    if (S_ISFIFO(mode)) return "fifo";
    if (S_ISCHR(mode)) return "chardev";
    return "other";
}

static void show_stat(const char *step, const char *path, int follow)
{
    struct stat st;
    int rc = follow ? stat(path, &st) : lstat(path, &st);

    if (rc < 0) {
        report(step, rc);
        return;
    }
    if (S_ISDIR(st.st_mode))
        printf("%s: ok type=%s\n", step, type_name(st.st_mode));
    else
        printf("%s: ok type=%s size=%lld\n", step, type_name(st.st_mode),
               (long long)st.st_size);
}

static void show_fstat(const char *step, int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        report(step, -1);
        return;
    }
    printf("%s: ok type=%s size=%lld mode=%03o\n", step, type_name(st.st_mode),
           (long long)st.st_size, (unsigned)(st.st_mode & 0777));
}

static void show_bytes(const char *step, long rc, const char *buf)
{
    if (rc < 0) {
        report(step, rc);
        return;
    }
    printf("%s: ok %ld \"", step, rc);
    for (long i = 0; i < rc; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"\n");
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *step, const char *path)
{
    char *names[64];
    size_t count = 0;
    struct dirent *entry;
    DIR *dir = opendir(path);

    if (!dir) {
        report(step, -1);
        return;
    }
    while ((entry = readdir(dir)) != NULL && count < 64)
        names[count++] = strdup(entry->d_name);
    closedir(dir);
    qsort(names, count, sizeof names[0], compare_names);
    printf("%s: ok %zu entries:", step, count);
    for (size_t i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void check_cwd(const char *step, const char *leaf)
{
    char buf[4096];
    size_t len, leaf_len = strlen(leaf);

    if (!getcwd(buf, sizeof buf)) {
        report(step, -1);
        return;
    }
    len = strlen(buf);
    printf("%s: ok absolute=%s ends_with_%s=%s\n", step,
           buf[0] == '/' ? "yes" : "no", leaf,
           len > leaf_len && buf[len - leaf_len - 1] == '/' &&
                   strcmp(buf + len - leaf_len, leaf) == 0
               ? "yes"
               : "no");
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        close(fd);
    }
}

/* Remove what an interrupted earlier run may have left behind. */
static void remove_leftovers(void)
{
    static const char *const files[] = {
        DIR_NAME "/a.txt", DIR_NAME "/b.txt", DIR_NAME "/c.txt", DIR_NAME "/link",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(DIR_NAME "/sub");
    rmdir(DIR_NAME);
}

int main(void)
{
    char buf[128];
    char cwd_before[4096];
    char cwd_after[4096];
    long rc;
    int fd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    remove_leftovers();

    /* Directories and the working directory. */
    report("mkdir " DIR_NAME, mkdir(DIR_NAME, 0755));
    report("mkdir " DIR_NAME " again", mkdir(DIR_NAME, 0755));
    show_stat("stat " DIR_NAME, DIR_NAME, 1);
    if (!getcwd(cwd_before, sizeof cwd_before))
        cwd_before[0] = '\0';
    report("chdir " DIR_NAME, chdir(DIR_NAME));
    check_cwd("getcwd inside", DIR_NAME);
    report("chdir ..", chdir(".."));
    if (!getcwd(cwd_after, sizeof cwd_after))
        cwd_after[0] = '\0';
    printf("getcwd back: ok same=%s\n", strcmp(cwd_before, cwd_after) == 0 ? "yes" : "no");

    /* Create, write, stat. */
    fd = report_fd("open a.txt O_CREAT|O_EXCL",
                   open(DIR_NAME "/a.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
    report("write a.txt", write(fd, "hello fsops\n", 12));
    report("close a.txt", close(fd));
    report_fd("open a.txt O_CREAT|O_EXCL again",
              open(DIR_NAME "/a.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
    show_stat("stat a.txt", DIR_NAME "/a.txt", 1);
    report("chmod a.txt 0600", chmod(DIR_NAME "/a.txt", 0600));
    report("access a.txt R_OK|W_OK", access(DIR_NAME "/a.txt", R_OK | W_OK));
    report("access missing F_OK", access(DIR_NAME "/missing", F_OK));

    /* Offsets: lseek, read, pread. */
    fd = report_fd("open a.txt O_RDWR", open(DIR_NAME "/a.txt", O_RDWR));
    show_fstat("fstat a.txt", fd);
    report("lseek SEEK_SET 6", lseek(fd, 6, SEEK_SET));
    rc = read(fd, buf, 5);
    show_bytes("read 5", rc, buf);
    rc = pread(fd, buf, 5, 0);
    show_bytes("pread 5 at 0", rc, buf);
    report("lseek SEEK_CUR 0 (pread keeps offset)", lseek(fd, 0, SEEK_CUR));
    report("lseek SEEK_END 0", lseek(fd, 0, SEEK_END));
    rc = read(fd, buf, sizeof buf);
    show_bytes("read at end", rc, buf);

    /* Truncation, in both directions. */
    report("ftruncate 5", ftruncate(fd, 5));
    show_fstat("fstat after shrink", fd);
    report("ftruncate 100", ftruncate(fd, 100));
    show_fstat("fstat after grow", fd);
    rc = pread(fd, buf, 4, 50);
    show_bytes("pread 4 at 50", rc, buf);

    /* dup2 shares the file offset. */
    report("dup2 fd -> 10", dup2(fd, 10));
    report("lseek fd SEEK_SET 0", lseek(fd, 0, SEEK_SET));
    report("write X via fd 10", write(10, "X", 1));
    report("lseek fd SEEK_CUR 0", lseek(fd, 0, SEEK_CUR));
    rc = pread(fd, buf, 5, 0);
    show_bytes("pread 5 at 0", rc, buf);
    report("close fd 10", close(10));
    report("fcntl F_GETFD on closed fd 10", fcntl(10, F_GETFD));
    report("close fd 10 again", close(10));
    report("close a.txt", close(fd));

    /* Rename, more entries, symlinks, listing. */
    report("rename a.txt -> b.txt", rename(DIR_NAME "/a.txt", DIR_NAME "/b.txt"));
    show_stat("stat a.txt after rename", DIR_NAME "/a.txt", 1);
    show_stat("stat b.txt", DIR_NAME "/b.txt", 1);
    write_file(DIR_NAME "/c.txt", "third\n");
    report("mkdir sub", mkdir(DIR_NAME "/sub", 0755));
    report("symlink link -> b.txt", symlink("b.txt", DIR_NAME "/link"));
    memset(buf, 0, sizeof buf);
    rc = readlink(DIR_NAME "/link", buf, sizeof buf - 1);
    show_bytes("readlink link", rc, buf);
    show_stat("lstat link", DIR_NAME "/link", 0);
    show_stat("stat link", DIR_NAME "/link", 1);
    report("readlink b.txt (not a link)", readlink(DIR_NAME "/b.txt", buf, sizeof buf));
    list_dir("readdir " DIR_NAME, DIR_NAME);
    report_fd("open missing", open(DIR_NAME "/missing", O_RDONLY));

    /* Removal, with the failures first. */
    report("unlink sub (a directory)", unlink(DIR_NAME "/sub"));
    report("rmdir " DIR_NAME " (not empty)", rmdir(DIR_NAME));
    report("rmdir b.txt (not a directory)", rmdir(DIR_NAME "/b.txt"));
    report("unlink link", unlink(DIR_NAME "/link"));
    show_stat("stat b.txt after unlink link", DIR_NAME "/b.txt", 1);
    report("unlink b.txt", unlink(DIR_NAME "/b.txt"));
    report("unlink c.txt", unlink(DIR_NAME "/c.txt"));
    report("unlink c.txt again", unlink(DIR_NAME "/c.txt"));
    report("rmdir sub", rmdir(DIR_NAME "/sub"));
    list_dir("readdir " DIR_NAME " empty", DIR_NAME);
    report("rmdir " DIR_NAME, rmdir(DIR_NAME));
    show_stat("stat " DIR_NAME " after rmdir", DIR_NAME, 1);
    printf("done\n");
    return 0;
}
