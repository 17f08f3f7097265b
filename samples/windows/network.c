/*
 * network: what a Winsock program meets in a sandbox without network.
 *
 * WSAStartup (which must succeed), socket() (INVALID_SOCKET and the error
 * WSAGetLastError reports), connect() on that invalid socket, gethostname,
 * gethostbyname of a remote name, and the byte-order helpers.
 */
#include <winsock2.h>
#include <stdio.h>

int main(void)
{
    WSADATA wsa;
    SOCKET s;
    struct sockaddr_in addr;
    char host[256];
    int found;
    int rc = WSAStartup(MAKEWORD(2, 2), &wsa);

    printf("WSAStartup=%d version=%d.%d\n", rc, LOBYTE(wsa.wVersion), HIBYTE(wsa.wVersion));
    s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    printf("socket invalid=%d error=%d\n", s == INVALID_SOCKET, WSAGetLastError());
    addr.sin_family = AF_INET;
    addr.sin_port = htons(80);
    addr.sin_addr.s_addr = inet_addr("127.0.0.1");
    rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
    printf("connect=%d error=%d\n", rc, WSAGetLastError());
    printf("port=%u addr=%08lx\n", ntohs(addr.sin_port), (unsigned long)ntohl(addr.sin_addr.s_addr));
    printf("gethostname=%d\n", gethostname(host, sizeof host));
    found = gethostbyname("example.com") != NULL;
    printf("gethostbyname=%s error=%d\n", found ? "found" : "NULL", WSAGetLastError());
    WSACleanup();
    return 0;
}
