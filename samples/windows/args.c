/*
 * args: command line, environment and exit status on Windows.
 *
 * Exercises GetCommandLineA, the CRT's argv split, the process environment
 * block (GetEnvironmentStringsA) and getenv, and the exit status. Prints
 * argc, each argv[i] on its own line (argv[0] as its basename without
 * ".exe", so native and emulated runs agree), the command line after the
 * program name, then every environment variable whose name starts with
 * "APPVIRT_", sorted, each checked against getenv. An optional "--exit N"
 * argument sets the exit status to N.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PICKED 256

static void print_program_name(const char *path)
{
    const char *start = path;
    size_t len;

    for (const char *p = path; *p; p++)
        if (*p == '\\' || *p == '/' || *p == ':')
            start = p + 1;
    len = strlen(start);
    if (len > 4 && _stricmp(start + len - 4, ".exe") == 0)
        len -= 4;
    printf("argv[0]=%.*s\n", (int)len, start);
}

/* The command line minus its first token, parsed the way the CRT does. */
static const char *skip_program_name(const char *line)
{
    if (*line == '"') {
        line++;
        while (*line && *line != '"')
            line++;
        if (*line == '"')
            line++;
    } else {
        while (*line && *line != ' ' && *line != '\t')
            line++;
    }
    while (*line == ' ' || *line == '\t')
        line++;
    return line;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    const char *picked[MAX_PICKED];
    size_t count = 0;
    int status = 0;
    char *block;

    printf("argc=%d\n", argc);
    print_program_name(argv[0]);
    for (int i = 1; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc)
            status = atoi(argv[i + 1]);
    }
    printf("cmdline_tail=%s\n", skip_program_name(GetCommandLineA()));

    block = GetEnvironmentStringsA();
    if (!block) {
        fprintf(stderr, "GetEnvironmentStringsA failed: %lu\n", GetLastError());
        return 1;
    }
    for (const char *entry = block; *entry && count < MAX_PICKED; entry += strlen(entry) + 1)
        if (_strnicmp(entry, "APPVIRT_", 8) == 0)
            picked[count++] = entry;
    qsort(picked, count, sizeof picked[0], compare_strings);

    printf("env_count=%u\n", (unsigned)count);
    for (size_t i = 0; i < count; i++) {
        char name[256];
        const char *equals = strchr(picked[i], '=');
        size_t name_len = equals ? (size_t)(equals - picked[i]) : strlen(picked[i]);
        const char *value;

        if (name_len >= sizeof name)
            name_len = sizeof name - 1;
        memcpy(name, picked[i], name_len);
        name[name_len] = '\0';
        value = getenv(name);
        printf("env=%s getenv=%s\n", picked[i],
               value && equals && strcmp(value, equals + 1) == 0 ? "same" : "different");
    }
    FreeEnvironmentStringsA(block);

    printf("exit=%d\n", status);
    return status;
}
