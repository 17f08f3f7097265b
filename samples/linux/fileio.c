/*
 * fileio: sequential file I/O through small buffers.
 *
 * Exercises open/write/close/open/read/unlink with 4 KiB chunks: writes a
 * file of N MiB (argv[2], default 20) named argv[1] (default "fileio.dat")
 * filled with a deterministic pattern, reads it back, and prints a 64-bit
 * FNV-1a checksum of what was read and the byte count. The file is removed
 * at the end unless "--keep" is given (anywhere on the command line).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 4096

static void fill_chunk(unsigned char *buf, uint32_t chunk_index)
{
    uint32_t state = chunk_index * 2654435761u + 1u;

    for (int i = 0; i < CHUNK; i++) {
        state = state * 1103515245u + 12345u;
        buf[i] = (unsigned char)(state >> 16);
    }
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t done = write(fd, buf, len);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += done;
        len -= (size_t)done;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = "fileio.dat";
    long mib = 20;
    int keep = 0;
    int positional = 0;
    unsigned char buf[CHUNK];
    uint64_t hash = 0xcbf29ce484222325ull;
    uint64_t total = 0;
    uint32_t chunks;
    int fd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else if (positional++ == 0)
            name = argv[i];
        else
            mib = strtol(argv[i], NULL, 0);
    }
    if (mib < 0)
        mib = 0;
    chunks = (uint32_t)mib * (1024 * 1024 / CHUNK);

    fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "open %s for writing: %s\n", name, strerror(errno));
        return 1;
    }
    for (uint32_t c = 0; c < chunks; c++) {
        fill_chunk(buf, c);
        if (write_all(fd, buf, CHUNK) != 0) {
            fprintf(stderr, "write %s: %s\n", name, strerror(errno));
            return 1;
        }
    }
    if (close(fd) != 0) {
        fprintf(stderr, "close %s: %s\n", name, strerror(errno));
        return 1;
    }

    fd = open(name, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s for reading: %s\n", name, strerror(errno));
        return 1;
    }
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "read %s: %s\n", name, strerror(errno));
            return 1;
        }
        if (got == 0)
            break;
        for (ssize_t i = 0; i < got; i++) {
            hash ^= buf[i];
            hash *= 0x100000001b3ull;
        }
        total += (uint64_t)got;
    }
    close(fd);

    if (!keep && unlink(name) != 0) {
        fprintf(stderr, "unlink %s: %s\n", name, strerror(errno));
        return 1;
    }

    printf("bytes=%llu\n", (unsigned long long)total);
    printf("fnv1a64=%016llx\n", (unsigned long long)hash);
    printf("kept=%s\n", keep ? "yes" : "no");
    return total == (uint64_t)chunks * CHUNK ? 0 : 2;
}
