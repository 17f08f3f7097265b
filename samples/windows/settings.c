/*
 * settings: a registry value that survives between runs.
 *
 * Exercises advapi32's registry: RegCreateKeyExA on
 * HKCU\Software\appvirt-sample\settings (created on the first run),
 * RegQueryValueExA of the REG_DWORD "runs" (0 when missing, and its size
 * and type checked), RegSetValueExA of the incremented count and of the
 * REG_SZ "last", which is read back, then RegCloseKey. Prints "run N",
 * where N counts the runs in this sandbox (or on this machine).
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#define KEY_PATH "Software\\appvirt-sample\\settings"

static int fail(const char *what, LONG code)
{
    fprintf(stderr, "settings: %s failed: %ld\n", what, code);
    return 1;
}

int main(void)
{
    HKEY key;
    DWORD disposition = 0;
    DWORD runs = 0;
    DWORD type = 0;
    DWORD size = sizeof runs;
    char last[64];
    char check[64];
    LONG rc;

    rc = RegCreateKeyExA(HKEY_CURRENT_USER, KEY_PATH, 0, NULL, REG_OPTION_NON_VOLATILE,
                         KEY_QUERY_VALUE | KEY_SET_VALUE, NULL, &key, &disposition);
    if (rc != ERROR_SUCCESS)
        return fail("RegCreateKeyExA", rc);

    rc = RegQueryValueExA(key, "runs", NULL, &type, (BYTE *)&runs, &size);
    if (rc == ERROR_FILE_NOT_FOUND) {
        runs = 0;
    } else if (rc != ERROR_SUCCESS) {
        RegCloseKey(key);
        return fail("RegQueryValueExA runs", rc);
    } else if (type != REG_DWORD || size != sizeof runs) {
        fprintf(stderr, "settings: \"runs\" has type %lu size %lu, starting over\n", type, size);
        runs = 0;
    }

    runs++;
    rc = RegSetValueExA(key, "runs", 0, REG_DWORD, (const BYTE *)&runs, sizeof runs);
    if (rc != ERROR_SUCCESS) {
        RegCloseKey(key);
        return fail("RegSetValueExA runs", rc);
    }

    snprintf(last, sizeof last, "run %lu", runs);
    rc = RegSetValueExA(key, "last", 0, REG_SZ, (const BYTE *)last, (DWORD)strlen(last) + 1);
    if (rc != ERROR_SUCCESS) {
        RegCloseKey(key);
        return fail("RegSetValueExA last", rc);
    }

    size = sizeof check;
    rc = RegQueryValueExA(key, "last", NULL, &type, (BYTE *)check, &size);
    RegCloseKey(key);
    if (rc != ERROR_SUCCESS)
        return fail("RegQueryValueExA last", rc);
    if (type != REG_SZ || strcmp(check, last) != 0) {
        fprintf(stderr, "settings: \"last\" read back wrong (type %lu)\n", type);
        return 1;
    }

    printf("%s\n", last);
    return 0;
}
