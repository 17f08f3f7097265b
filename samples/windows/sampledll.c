/*
 * sampledll: a DLL for the dll sample (built as sampledll32.dll and
 * sampledll64.dll).
 *
 * Exercises loading a guest DLL at run time: relocation to wherever it
 * lands, its own imports, its export table, and the DllMain call. Exports
 * add(a, b) and greet(); greet's text says whether DllMain ran with
 * DLL_PROCESS_ATTACH before the first call.
 */
#include <windows.h>

static const char *message = "sampledll: DllMain was not called";

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        message = "Hello from sampledll";
    return TRUE;
}

__declspec(dllexport) int add(int a, int b)
{
    return a + b;
}

__declspec(dllexport) const char *greet(void)
{
    return message;
}
