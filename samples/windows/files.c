/*
 * files: Windows file APIs, one step per line.
 *
 * Exercises, in a scratch folder "files.d" made in the current directory:
 * CreateDirectoryA; the CRT's fopen/fprintf/fgets in text mode ("\n" is
 * stored as "\r\n" and read back as "\n"); CreateFileA/WriteFile/ReadFile/
 * GetFileSize; GetFileAttributesA on a folder, a file and a missing name;
 * FindFirstFileA/FindNextFileA (names sorted, "." and ".." left out);
 * GetFullPathNameA; WritePrivateProfileStringA/GetPrivateProfileStringA/
 * GetPrivateProfileIntA on an INI file (and its raw bytes); DeleteFileA,
 * MoveFileA and RemoveDirectoryA, including failures, which print the
 * GetLastError code. Leftovers of an interrupted run are removed first and
 * the folder is removed at the end, so the output is the same on every run.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_NAME "files.d"
#define MAX_NAMES 64

static void report(const char *step, BOOL ok)
{
    if (ok)
        printf("%s: ok\n", step);
    else
        printf("%s: error %lu\n", step, GetLastError());
}

static void print_escaped(const char *buf, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    putchar('"');
}

static void show_attributes(const char *step, const char *path)
{
    DWORD attributes = GetFileAttributesA(path);

    if (attributes == INVALID_FILE_ATTRIBUTES)
        printf("%s: error %lu\n", step, GetLastError());
    else
        printf("%s: ok %s\n", step,
               (attributes & FILE_ATTRIBUTE_DIRECTORY) ? "directory" : "file");
}

static void show_raw(const char *step, const char *path)
{
    char buf[512];
    DWORD got = 0;
    HANDLE file = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                              FILE_ATTRIBUTE_NORMAL, NULL);

    if (file == INVALID_HANDLE_VALUE) {
        report(step, FALSE);
        return;
    }
    if (!ReadFile(file, buf, sizeof buf, &got, NULL)) {
        report(step, FALSE);
        CloseHandle(file);
        return;
    }
    CloseHandle(file);
    printf("%s: ok %lu ", step, got);
    print_escaped(buf, got);
    putchar('\n');
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_folder(const char *step)
{
    WIN32_FIND_DATAA found;
    char *entries[MAX_NAMES];
    size_t count = 0;
    HANDLE search = FindFirstFileA(DIR_NAME "\\*", &found);

    if (search == INVALID_HANDLE_VALUE) {
        report(step, FALSE);
        return;
    }
    do {
        if (strcmp(found.cFileName, ".") == 0 || strcmp(found.cFileName, "..") == 0)
            continue;
        if (count == MAX_NAMES)
            break;
        /* "name/" for a folder, "name(size)" for a file: sorting keeps them together. */
        entries[count] = malloc(MAX_PATH + 32);
        if (found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
            snprintf(entries[count], MAX_PATH + 32, "%s/", found.cFileName);
        else
            snprintf(entries[count], MAX_PATH + 32, "%s(%lu)", found.cFileName,
                     found.nFileSizeLow);
        count++;
    } while (FindNextFileA(search, &found));
    printf("%s: FindNextFileA ended with error %lu\n", step, GetLastError());
    FindClose(search);

    qsort(entries, count, sizeof entries[0], compare_names);
    printf("%s: ok %u entries:", step, (unsigned)count);
    for (size_t i = 0; i < count; i++) {
        printf(" %s", entries[i]);
        free(entries[i]);
    }
    putchar('\n');
}

static void remove_leftovers(void)
{
    DeleteFileA(DIR_NAME "\\crt.txt");
    DeleteFileA(DIR_NAME "\\api.txt");
    DeleteFileA(DIR_NAME "\\moved.txt");
    DeleteFileA(DIR_NAME "\\settings.ini");
    RemoveDirectoryA(DIR_NAME "\\sub");
    RemoveDirectoryA(DIR_NAME);
}

int main(void)
{
    char buf[512];
    char ini_path[MAX_PATH];
    DWORD done, len;
    HANDLE file;
    FILE *stream;

    setvbuf(stdout, NULL, _IONBF, 0);
    remove_leftovers();

    report("CreateDirectoryA " DIR_NAME, CreateDirectoryA(DIR_NAME, NULL));
    report("CreateDirectoryA " DIR_NAME " again", CreateDirectoryA(DIR_NAME, NULL));
    report("CreateDirectoryA sub", CreateDirectoryA(DIR_NAME "\\sub", NULL));
    show_attributes("GetFileAttributesA " DIR_NAME, DIR_NAME);

    /* CRT streams in text mode. */
    stream = fopen(DIR_NAME "\\crt.txt", "w");
    printf("fopen crt.txt w: %s\n", stream ? "ok" : "error");
    if (stream) {
        fprintf(stream, "line %d\n", 1);
        fprintf(stream, "line %d\n", 2);
        printf("fclose crt.txt: %d\n", fclose(stream));
    }
    show_raw("raw crt.txt", DIR_NAME "\\crt.txt");
    stream = fopen(DIR_NAME "\\crt.txt", "r");
    printf("fopen crt.txt r: %s\n", stream ? "ok" : "error");
    if (stream) {
        while (fgets(buf, sizeof buf, stream)) {
            printf("fgets: ");
            print_escaped(buf, strlen(buf));
            putchar('\n');
        }
        fclose(stream);
    }

    /* The same through kernel32 handles. */
    file = CreateFileA(DIR_NAME "\\api.txt", GENERIC_WRITE, 0, NULL, CREATE_NEW,
                       FILE_ATTRIBUTE_NORMAL, NULL);
    report("CreateFileA api.txt CREATE_NEW", file != INVALID_HANDLE_VALUE);
    if (file != INVALID_HANDLE_VALUE) {
        const char text[] = "written by WriteFile\r\n";
        BOOL ok = WriteFile(file, text, sizeof text - 1, &done, NULL);
        printf("WriteFile api.txt: %s %lu\n", ok ? "ok" : "error", done);
        report("CloseHandle api.txt", CloseHandle(file));
    }
    file = CreateFileA(DIR_NAME "\\api.txt", GENERIC_WRITE, 0, NULL, CREATE_NEW,
                       FILE_ATTRIBUTE_NORMAL, NULL);
    report("CreateFileA api.txt CREATE_NEW again", file != INVALID_HANDLE_VALUE);
    if (file != INVALID_HANDLE_VALUE)
        CloseHandle(file);
    file = CreateFileA(DIR_NAME "\\api.txt", GENERIC_READ, FILE_SHARE_READ, NULL,
                       OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    report("CreateFileA api.txt OPEN_EXISTING", file != INVALID_HANDLE_VALUE);
    if (file != INVALID_HANDLE_VALUE) {
        printf("GetFileSize api.txt: %lu\n", GetFileSize(file, NULL));
        SetFilePointer(file, 11, NULL, FILE_BEGIN);
        if (ReadFile(file, buf, 9, &done, NULL)) {
            printf("ReadFile 9 at 11: ok %lu ", done);
            print_escaped(buf, done);
            putchar('\n');
        } else {
            report("ReadFile 9 at 11", FALSE);
        }
        CloseHandle(file);
    }
    show_attributes("GetFileAttributesA api.txt", DIR_NAME "\\api.txt");
    show_attributes("GetFileAttributesA missing", DIR_NAME "\\missing.txt");
    report("MoveFileA api.txt -> moved.txt",
           MoveFileA(DIR_NAME "\\api.txt", DIR_NAME "\\moved.txt"));
    show_attributes("GetFileAttributesA api.txt after move", DIR_NAME "\\api.txt");

    /* INI files need a full path, or Windows looks in its own folder. */
    len = GetFullPathNameA(DIR_NAME "\\settings.ini", sizeof ini_path, ini_path, NULL);
    report("GetFullPathNameA settings.ini", len > 0 && len < sizeof ini_path);
    report("WritePrivateProfileStringA main.name",
           WritePrivateProfileStringA("main", "name", "appvirt", ini_path));
    report("WritePrivateProfileStringA main.count",
           WritePrivateProfileStringA("main", "count", "42", ini_path));
    report("WritePrivateProfileStringA other.flag",
           WritePrivateProfileStringA("other", "flag", "on", ini_path));
    len = GetPrivateProfileStringA("main", "name", "none", buf, sizeof buf, ini_path);
    printf("GetPrivateProfileStringA main.name: %lu \"%s\"\n", len, buf);
    len = GetPrivateProfileStringA("main", "missing", "fallback", buf, sizeof buf, ini_path);
    printf("GetPrivateProfileStringA main.missing: %lu \"%s\"\n", len, buf);
    printf("GetPrivateProfileIntA main.count: %u\n",
           GetPrivateProfileIntA("main", "count", -1, ini_path));
    show_raw("raw settings.ini", DIR_NAME "\\settings.ini");

    list_folder("FindFirstFileA " DIR_NAME "\\*");

    /* Removal, with the failures first. */
    report("RemoveDirectoryA " DIR_NAME " (not empty)", RemoveDirectoryA(DIR_NAME));
    report("DeleteFileA missing.txt", DeleteFileA(DIR_NAME "\\missing.txt"));
    report("DeleteFileA crt.txt", DeleteFileA(DIR_NAME "\\crt.txt"));
    report("DeleteFileA moved.txt", DeleteFileA(DIR_NAME "\\moved.txt"));
    report("DeleteFileA settings.ini", DeleteFileA(DIR_NAME "\\settings.ini"));
    report("RemoveDirectoryA sub", RemoveDirectoryA(DIR_NAME "\\sub"));
    report("RemoveDirectoryA " DIR_NAME, RemoveDirectoryA(DIR_NAME));
    show_attributes("GetFileAttributesA " DIR_NAME " after removal", DIR_NAME);
    printf("done\n");
    return 0;
}
