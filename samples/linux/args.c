/*
 * args: command line, environment and exit status.
 *
 * Exercises the initial stack the loader builds (argc, argv, envp) and the
 * exit status path. Prints argc, each argv[i] on its own line (argv[0] as its
 * basename only, so native and emulated runs agree), then every environment
 * variable whose name starts with "APPVIRT_", sorted. An optional "--exit N"
 * argument sets the exit status to N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    int status = 0;
    size_t count = 0;
    char **picked;

    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        const char *text = (i == 0) ? basename_of(argv[0]) : argv[i];
        printf("argv[%d]=%s\n", i, text);
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc)
            status = atoi(argv[i + 1]);
    }

    for (char **env = environ; *env; env++)
        count++;
    picked = malloc((count + 1) * sizeof *picked);
    if (!picked) {
        perror("malloc");
        return 1;
    }
    count = 0;
    for (char **env = environ; *env; env++)
        if (strncmp(*env, "APPVIRT_", 8) == 0)
            picked[count++] = *env;
    qsort(picked, count, sizeof *picked, compare_strings);

    printf("env_count=%zu\n", count);
    for (size_t i = 0; i < count; i++)
        printf("env=%s\n", picked[i]);
    free(picked);

    printf("exit=%d\n", status);
    return status;
}
