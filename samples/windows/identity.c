/*
 * identity: who and where a Windows program thinks it runs.
 *
 * Prints GetUserNameA, GetComputerNameA, the USERNAME, COMPUTERNAME and
 * USERPROFILE variables and GetTempPathA: a sandbox profile's identity
 * (username, computer_name) decides all of them.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char user[64], computer[64], temp[MAX_PATH];
    DWORD user_len = sizeof user, computer_len = sizeof computer;

    if (!GetUserNameA(user, &user_len) || !GetComputerNameA(computer, &computer_len)) {
        fprintf(stderr, "identity: lookup failed: %lu\n", GetLastError());
        return 1;
    }
    if (!GetTempPathA(sizeof temp, temp))
        return 1;
    printf("user=%s (%lu)\n", user, user_len);
    printf("computer=%s (%lu)\n", computer, computer_len);
    printf("USERNAME=%s\n", getenv("USERNAME"));
    printf("COMPUTERNAME=%s\n", getenv("COMPUTERNAME"));
    printf("USERPROFILE=%s\n", getenv("USERPROFILE"));
    printf("temp=%s\n", temp);
    return 0;
}
