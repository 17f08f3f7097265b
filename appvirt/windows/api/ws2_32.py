"""ws2_32.dll (Winsock 2): the sandbox has no network, and says so the way Winsock does.

WSAStartup succeeds (a program that checks for Winsock still starts); creating a socket fails with
WSAEACCES (10013) and is recorded as denied (``--report``'s ``denied``, the trace); calls on a
socket that cannot exist fail with WSAENOTSOCK; name look-ups fail with WSAHOST_NOT_FOUND except
the sandbox's own computer name. The byte-order and address helpers are real.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from .decl import INT, PTR, STR, UINT, winapi

WSAEACCES = 10013
WSAEFAULT = 10014
WSAENOTSOCK = 10038
WSANOTINITIALISED = 10093
WSAHOST_NOT_FOUND = 11001
SOCKET_ERROR = -1
INVALID_SOCKET_32 = 0xFFFFFFFF
INVALID_SOCKET_64 = 0xFFFFFFFFFFFFFFFF


def _deny(proc: Any, what: str) -> int:
    proc.events.deny(what)
    proc.set_last_error(WSAEACCES)
    return INVALID_SOCKET_64 if proc.is64 else INVALID_SOCKET_32


def _not_a_socket(proc: Any) -> int:
    proc.set_last_error(WSAENOTSOCK)
    return SOCKET_ERROR


@winapi("ws2_32", args=(UINT, PTR), ret=INT)
def WSAStartup(proc: Any, version: int, data: int) -> int:
    """Succeeds with Winsock 2.2, whose description says the sandbox has no network."""
    if not data:
        return WSAEFAULT
    ver = version & 0xFFFF if (version & 0xFF) < 2 else 0x0202
    desc = b"appvirt sandbox (no network)".ljust(257, b"\0")
    status = b"Running".ljust(129, b"\0")
    if proc.is64:
        body = struct.pack("<HHHHQ", ver, 0x0202, 0, 0, 0) + desc + status
    else:
        body = struct.pack("<HH", ver, 0x0202) + desc + status + struct.pack("<HHI", 0, 0, 0)
    proc.write(data, body)
    return 0


@winapi("ws2_32", args=(), ret=INT)
def WSACleanup(proc: Any) -> int:
    return 0


@winapi("ws2_32", args=(), ret=INT)
def WSAGetLastError(proc: Any) -> int:
    return int(proc.last_error())


@winapi("ws2_32", args=(INT,), ret=INT)
def WSASetLastError(proc: Any, code: int) -> int:
    proc.set_last_error(code & 0xFFFFFFFF)
    return 0


@winapi("ws2_32", name="socket", args=(INT, INT, INT), ret=PTR)
def socket_(proc: Any, af: int, kind: int, protocol: int) -> int:
    """Fails: INVALID_SOCKET, WSAEACCES (network access is denied in the sandbox)."""
    return _deny(proc, f"socket(af={af}, type={kind})")


@winapi("ws2_32", args=(INT, INT, INT, PTR, UINT, UINT), ret=PTR)
def WSASocketA(
    proc: Any, af: int, kind: int, protocol: int, info: int, group: int, flags: int
) -> int:
    return _deny(proc, f"WSASocket(af={af}, type={kind})")


@winapi("ws2_32", args=(INT, INT, INT, PTR, UINT, UINT), ret=PTR)
def WSASocketW(
    proc: Any, af: int, kind: int, protocol: int, info: int, group: int, flags: int
) -> int:
    return _deny(proc, f"WSASocket(af={af}, type={kind})")


def _socket_call(name: str, nargs: int) -> None:
    def handler(proc: Any, *args: int) -> int:
        return _not_a_socket(proc)

    handler.__name__ = name
    handler.__doc__ = "Fails with WSAENOTSOCK: no socket exists in the sandbox."
    winapi("ws2_32", args=(PTR,) + (PTR,) * (nargs - 1), ret=INT)(handler)


for _name, _n in (("connect", 3), ("bind", 3), ("listen", 2), ("accept", 3), ("send", 4),
                  ("recv", 4), ("sendto", 6), ("recvfrom", 6), ("shutdown", 2),
                  ("closesocket", 1), ("ioctlsocket", 3), ("setsockopt", 5), ("getsockopt", 5),
                  ("getsockname", 3), ("getpeername", 3), ("select", 5)):  # fmt: skip
    _socket_call(_name, _n)


@winapi("ws2_32", args=(PTR, INT), ret=INT)
def gethostname(proc: Any, buf: int, size: int) -> int:
    """The sandbox's computer name (the profile's identity), not the host's."""
    from ..startup import computer_name

    name = computer_name(proc).lower().encode() + b"\0"
    if len(name) > size:
        proc.set_last_error(WSAEFAULT)
        return SOCKET_ERROR
    proc.write(buf, name)
    return 0


@winapi("ws2_32", args=(STR,), ret=PTR)
def gethostbyname(proc: Any, name: int) -> int:
    """Fails with WSAHOST_NOT_FOUND: there is no resolver in the sandbox."""
    proc.events.deny(f"gethostbyname({proc.read_str(name)!r})")
    proc.set_last_error(WSAHOST_NOT_FOUND)
    return 0


@winapi("ws2_32", args=(STR, STR, PTR, PTR), ret=INT)
def getaddrinfo(proc: Any, node: int, service: int, hints: int, res: int) -> int:
    """Fails with WSAHOST_NOT_FOUND (returned, as getaddrinfo does)."""
    proc.events.deny(f"getaddrinfo({proc.read_str(node) if node else ''!r})")
    if res:
        proc.write(res, bytes(8 if proc.is64 else 4))
    proc.set_last_error(WSAHOST_NOT_FOUND)
    return WSAHOST_NOT_FOUND


@winapi("ws2_32", args=(PTR,), ret=INT)
def freeaddrinfo(proc: Any, info: int) -> int:
    return 0


@winapi("ws2_32", args=(UINT,), ret=UINT)
def htonl(proc: Any, value: int) -> int:
    return socket.htonl(value & 0xFFFFFFFF)


@winapi("ws2_32", args=(UINT,), ret=UINT)
def ntohl(proc: Any, value: int) -> int:
    return socket.ntohl(value & 0xFFFFFFFF)


@winapi("ws2_32", args=(UINT,), ret=UINT)
def htons(proc: Any, value: int) -> int:
    return socket.htons(value & 0xFFFF)


@winapi("ws2_32", args=(UINT,), ret=UINT)
def ntohs(proc: Any, value: int) -> int:
    return socket.ntohs(value & 0xFFFF)


@winapi("ws2_32", args=(STR,), ret=UINT)
def inet_addr(proc: Any, text: int) -> int:
    """Dotted IPv4 text to a network-order address; INADDR_NONE when malformed."""
    try:
        return int(struct.unpack("<I", socket.inet_aton(proc.read_str(text)))[0])
    except OSError:
        return 0xFFFFFFFF
