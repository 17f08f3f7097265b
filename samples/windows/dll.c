/*
 * dll: run-time DLL loading.
 *
 * Exercises LoadLibraryA, GetProcAddress and FreeLibrary on the sample DLL
 * matching this program's bitness (sampledll32.dll or sampledll64.dll, found
 * next to the program or in the current folder), calls its add() and
 * greet() exports, and checks the failures: a missing export
 * (ERROR_PROC_NOT_FOUND, 127) and a missing DLL (ERROR_MOD_NOT_FOUND, 126).
 */
#include <windows.h>
#include <stdio.h>

typedef int (*add_fn)(int, int);
typedef const char *(*greet_fn)(void);

#define DLL_NAME (sizeof(void *) == 8 ? "sampledll64.dll" : "sampledll32.dll")

int main(void)
{
    HMODULE module;
    add_fn add;
    greet_fn greet;
    FARPROC missing;

    module = LoadLibraryA(DLL_NAME);
    if (!module) {
        printf("LoadLibraryA %s: error %lu\n", DLL_NAME, GetLastError());
        return 1;
    }
    printf("LoadLibraryA %s: ok\n", DLL_NAME);

    /* Going through void (*)(void) tells the compiler the cast is meant. */
    add = (add_fn)(void (*)(void))GetProcAddress(module, "add");
    greet = (greet_fn)(void (*)(void))GetProcAddress(module, "greet");
    if (!add || !greet) {
        printf("GetProcAddress: error %lu\n", GetLastError());
        return 1;
    }
    printf("add(2, 40) = %d\n", add(2, 40));
    printf("add(-7, 3) = %d\n", add(-7, 3));
    printf("greet() = %s\n", greet());

    SetLastError(0);
    missing = GetProcAddress(module, "no_such_export");
    printf("GetProcAddress no_such_export: %s error %lu\n", missing ? "found" : "null",
           GetLastError());
    printf("FreeLibrary: %s\n", FreeLibrary(module) ? "ok" : "error");

    module = LoadLibraryA("appvirt_no_such.dll");
    printf("LoadLibraryA appvirt_no_such.dll: %s error %lu\n", module ? "loaded" : "null",
           GetLastError());
    return 0;
}
