/*
 * notes: files a Windows program keeps between runs.
 *
 * Appends one line to %APPDATA%\appvirt-notes\notes.txt (creating the
 * folder) and to notes.txt in the current folder, then prints both files.
 * Run twice in one sandbox (appvirt run --sandbox DIR): both files have
 * two lines, and the host's current folder is unchanged.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

static int append_and_show(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "a");

    if (!f) {
        printf("cannot open %s\n", path);
        return 1;
    }
    fputs("a note\n", f);
    fclose(f);
    f = fopen(path, "r");
    if (!f)
        return 1;
    printf("== %s\n", path);
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return 0;
}

int main(void)
{
    char folder[MAX_PATH], path[MAX_PATH];
    const char *appdata = getenv("APPDATA");

    if (!appdata)
        return 2;
    snprintf(folder, sizeof folder, "%s\\appvirt-notes", appdata);
    CreateDirectoryA(folder, NULL);
    snprintf(path, sizeof path, "%s\\notes.txt", folder);
    return append_and_show(path) | append_and_show("notes.txt");
}
