"""strace-style lines for Linux guests, driven by each handler's declared argument kinds."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from .signals import signal_name
from .syscall import Arg, Handler, Ret

if TYPE_CHECKING:
    from .kernel import Process

_OFLAGS = [
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o100000, "O_LARGEFILE"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o1000000, "O_NOATIME"),
]
_ESCAPES = {
    0x0A: "\\n",
    0x09: "\\t",
    0x0D: "\\r",
    0x0B: "\\v",
    0x0C: "\\f",
    0x22: '\\"',
    0x5C: "\\\\",
}
_NO_ARG_FCNTL = {1, 3, 9, 1025, 1032}  # F_GETFD, F_GETFL, F_GETOWN, F_GETSIG-like, F_GETPIPE_SZ
_PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")]
_MMAP = [
    (0x01, "MAP_SHARED"),
    (0x02, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x20000, "MAP_STACK"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
]
_ATFLAGS = [
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x1000, "AT_EMPTY_PATH"),
]
_WHENCE = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
_CLOCKS = {
    0: "CLOCK_REALTIME",
    1: "CLOCK_MONOTONIC",
    2: "CLOCK_PROCESS_CPUTIME_ID",
    7: "CLOCK_BOOTTIME",
}
_IOCTL = {
    0x5401: "TCGETS",
    0x5402: "TCSETS",
    0x5413: "TIOCGWINSZ",
    0x540F: "TIOCGPGRP",
    0x541B: "FIONREAD",
}
_FCNTL = {
    0: "F_DUPFD",
    1: "F_GETFD",
    2: "F_SETFD",
    3: "F_GETFL",
    4: "F_SETFL",
    1030: "F_DUPFD_CLOEXEC",
}
STRING_MAX = 32


def _flags(value: int, names: list[tuple[int, str]], zero: str = "0") -> str:
    parts = []
    for bit, name in names:
        if value & bit:
            parts.append(name)
            value &= ~bit
    if value:
        parts.append(hex(value))
    return "|".join(parts) or zero


def quote(data: bytes, limit: int = STRING_MAX) -> str:
    """A C string literal as strace prints it (octal escapes padded before a digit)."""
    out = []
    shown = data[:limit]
    for i, b in enumerate(shown):
        esc = _ESCAPES.get(b)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            nxt = shown[i + 1] if i + 1 < len(shown) else None
            out.append(f"\\{b:03o}" if nxt is not None and 0x30 <= nxt <= 0x37 else f"\\{b:o}")
    tail = "..." if len(data) > limit else ""
    return '"' + "".join(out) + '"' + tail


def _string(proc: Process, ptr: int) -> str:
    if not ptr:
        return "NULL"
    try:
        return quote(proc.mem.read_cstr(ptr, 4096), 4096)
    except Exception:  # noqa: BLE001 - a bad pointer prints as an address
        return hex(ptr)


def _buffer(proc: Process, ptr: int, size: int) -> str:
    try:
        return quote(proc.mem.read(ptr, min(max(size, 0), STRING_MAX + 1)))
    except Exception:  # noqa: BLE001
        return hex(ptr)


def format_arg(proc: Process, kind: Arg, value: int, nxt: int | None, ret: int) -> str:
    if kind in (Arg.INT, Arg.LONG, Arg.FD, Arg.OFF, Arg.SIZE, Arg.UINT):
        return str(value)
    if kind is Arg.DIRFD:
        return "AT_FDCWD" if value == -100 else str(value)
    if kind in (Arg.PATH, Arg.STR):
        return _string(proc, value)
    if kind is Arg.INBUF:
        return _buffer(proc, value, nxt or 0)
    if kind is Arg.OUTBUF:
        return _buffer(proc, value, ret) if ret >= 0 else hex(value)
    if kind is Arg.OFLAGS:
        acc = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[value & 3]
        rest = _flags(value & ~3, _OFLAGS, "")
        return acc + ("|" + rest if rest else "")
    if kind is Arg.MODE:
        return f"0{value:o}"
    if kind is Arg.FDFLAGS:
        return _flags(value, [(0o2000000, "O_CLOEXEC"), (0o4000, "O_NONBLOCK")])
    if kind is Arg.ACCESS:
        return _flags(value, [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")], "F_OK")
    if kind is Arg.PROT:
        return _flags(value, _PROT, "PROT_NONE")
    if kind is Arg.MMAP:
        return _flags(value, _MMAP)
    if kind is Arg.ATFLAGS:
        return _flags(value, _ATFLAGS)
    if kind is Arg.SIG:
        return signal_name(value)
    if kind is Arg.WHENCE:
        return _WHENCE.get(value, str(value))
    if kind is Arg.CLOCK:
        return _CLOCKS.get(value, str(value))
    if kind is Arg.IOCTL:
        return _IOCTL.get(value & 0xFFFFFFFF, hex(value))
    if kind is Arg.FCNTL:
        return _FCNTL.get(value, str(value))
    if kind is Arg.PTR:
        return "NULL" if value == 0 else hex(value)
    return hex(value)


def format_result(handler: Handler, ret: int) -> str:
    if handler.ret is Ret.NONE:
        return "?"
    if -4096 < ret < 0:
        code = -ret
        name = errno.errorcode.get(code, str(code))
        return f"-1 {name} ({os.strerror(code)})"
    if handler.ret is Ret.HEX:
        return hex(ret)
    return str(ret)


def format_call(proc: Process, handler: Handler, args: list[int], ret: int) -> str:
    parts = []
    kinds = list(handler.args)
    if Arg.OFLAGS in kinds and Arg.MODE in kinds:  # open's mode is only meaningful with O_CREAT
        flags = args[kinds.index(Arg.OFLAGS)]
        if not flags & 0o20000100:
            kinds = kinds[: kinds.index(Arg.MODE)]
    if Arg.FCNTL in kinds and args[kinds.index(Arg.FCNTL)] in _NO_ARG_FCNTL:
        kinds = kinds[: kinds.index(Arg.FCNTL) + 1]
    for i, kind in enumerate(kinds):
        nxt = args[i + 1] if i + 1 < len(args) else None
        parts.append(format_arg(proc, kind, args[i], nxt, ret))
    prefix = f"[pid {proc.pid}] " if len(proc.kernel.processes) > 1 else ""
    return f"{prefix}{handler.name}({', '.join(parts)}) = {format_result(handler, ret)}"
