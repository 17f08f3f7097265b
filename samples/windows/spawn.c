/*
 * spawn: CreateProcess of another program in the same folder.
 *
 * Starts the "args" sample of the same bitness (args32.exe or args64.exe,
 * beside this program) with a command line that exercises the CRT's quoting
 * rules, its standard output redirected into an inheritable anonymous pipe,
 * inside a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE; prints what
 * the child wrote (each line prefixed with "| ") and its exit code. Then
 * starts it again sharing this program's console output, ends a child that
 * hangs with TerminateProcess, and tries a program that does not exist.
 *
 * "spawn hang" sleeps forever (the child that gets terminated). The exit
 * status is the first child's exit code.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

static char folder[MAX_PATH];
static char self[MAX_PATH];

static void sibling(char *out, const char *name)
{
    snprintf(out, MAX_PATH, "%s\\%s", folder, name);
}

static BOOL start(const char *cmdline, HANDLE out, PROCESS_INFORMATION *pi)
{
    STARTUPINFOA si;
    char line[1024];

    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (out) {
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
        si.hStdOutput = out;
        si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    }
    strcpy(line, cmdline); /* CreateProcessA may write into its command line */
    return CreateProcessA(NULL, line, NULL, NULL, out != NULL, 0, NULL, NULL, &si, pi);
}

static int piped_child(const char *args_exe)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    PROCESS_INFORMATION pi;
    HANDLE job, rd, wr;
    char cmdline[1024], buf[256], pending[1024];
    size_t used = 0;
    DWORD got, code, size;

    job = CreateJobObjectA(NULL, NULL);
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    printf("job: %s\n", job && SetInformationJobObject(job, JobObjectExtendedLimitInformation,
                                                         &info, sizeof info) ? "ok" : "failed");
    if (!CreatePipe(&rd, &wr, &sa, 0)) {
        printf("CreatePipe: error %lu\n", GetLastError());
        return 1;
    }
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    snprintf(cmdline, sizeof cmdline,
             "\"%s\" one \"two words\" \"q\\\"uote\" back\\\\slash \"end\\\\\\\\\" --exit 7",
             args_exe);
    if (!start(cmdline, wr, &pi)) {
        printf("CreateProcessA: error %lu\n", GetLastError());
        return 1;
    }
    printf("AssignProcessToJobObject: %d\n", AssignProcessToJobObject(job, pi.hProcess));
    CloseHandle(wr);
    CloseHandle(pi.hThread);
    while (ReadFile(rd, buf, sizeof buf, &got, NULL) && got) {
        for (DWORD i = 0; i < got; i++) {
            if (buf[i] == '\r')
                continue;
            if (buf[i] == '\n' || used == sizeof pending - 1) {
                pending[used] = 0;
                printf("| %s\n", pending);
                used = 0;
            } else {
                pending[used++] = buf[i];
            }
        }
    }
    printf("pipe closed: error %lu\n", GetLastError());
    printf("wait: %lu\n", WaitForSingleObject(pi.hProcess, INFINITE));
    GetExitCodeProcess(pi.hProcess, &code);
    printf("child exit code: %lu\n", code);
    memset(&info, 0, sizeof info);
    QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info, &size);
    printf("job limit flags: 0x%lx, size %s\n", info.BasicLimitInformation.LimitFlags,
           size == sizeof info ? "ok" : "wrong");
    CloseHandle(pi.hProcess);
    CloseHandle(rd);
    CloseHandle(job);
    return (int)code;
}

int main(int argc, char **argv)
{
    PROCESS_INFORMATION pi;
    char args_exe[MAX_PATH], cmdline[1024];
    DWORD code;
    int status;

    if (argc > 1 && strcmp(argv[1], "hang") == 0) {
        Sleep(INFINITE);
        return 1;
    }
    GetModuleFileNameA(NULL, self, sizeof self);
    strcpy(folder, self);
    *strrchr(folder, '\\') = 0;
    sibling(args_exe, sizeof(void *) == 8 ? "args64.exe" : "args32.exe");

    status = piped_child(args_exe);

    printf("second child shares the console:\n");
    fflush(stdout);
    snprintf(cmdline, sizeof cmdline, "\"%s\" --exit 3", args_exe);
    if (start(cmdline, NULL, &pi)) {
        WaitForSingleObject(pi.hProcess, INFINITE);
        GetExitCodeProcess(pi.hProcess, &code);
        printf("second child exit code: %lu\n", code);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    } else {
        printf("CreateProcessA: error %lu\n", GetLastError());
    }

    snprintf(cmdline, sizeof cmdline, "\"%s\" hang", self);
    if (start(cmdline, NULL, &pi)) {
        printf("hanging child, wait 50 ms: 0x%lx\n", WaitForSingleObject(pi.hProcess, 50));
        GetExitCodeProcess(pi.hProcess, &code);
        printf("still active: %lu\n", code);
        printf("TerminateProcess: %d\n", TerminateProcess(pi.hProcess, 42));
        WaitForSingleObject(pi.hProcess, INFINITE);
        GetExitCodeProcess(pi.hProcess, &code);
        printf("terminated child exit code: %lu\n", code);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    } else {
        printf("CreateProcessA: error %lu\n", GetLastError());
    }

    sibling(cmdline, "no-such-program.exe");
    BOOL started = start(cmdline, NULL, &pi);
    code = GetLastError();
    printf("missing program: %s error %lu\n", started ? "started" : "failed", code);
    return status;
}
