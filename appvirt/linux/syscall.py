"""Declaring syscall handlers: one declaration drives argument decoding, dispatch and tracing.

A handler is a small function ``fn(task, *args) -> int`` registered by name with the kinds of its
arguments (``@syscall("openat", DIRFD, PATH, OFLAGS, MODE, ret=FD)``). ``tables.py`` maps the
numbers of both ABIs onto these names; the kinds tell the dispatcher which arguments are signed
and tell the tracer how to print them (QEMU's strace.list idea, kept beside the handler).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any


class Arg(enum.Enum):
    INT = "int"  # signed int
    LONG = "long"  # signed long
    UINT = "uint"
    HEX = "hex"
    PTR = "ptr"
    FD = "fd"
    DIRFD = "dirfd"
    PATH = "path"  # NUL-terminated string
    STR = "str"  # NUL-terminated string that is not a path
    INBUF = "inbuf"  # buffer the guest passes in; its length is the next argument
    OUTBUF = "outbuf"  # buffer the kernel fills; the result is its length
    SIZE = "size"
    OFF = "off"  # signed offset
    OFLAGS = "oflags"
    MODE = "mode"
    ATFLAGS = "atflags"
    PROT = "prot"
    MMAP = "mmapflags"
    SIG = "sig"
    WHENCE = "whence"
    IOCTL = "ioctl"
    FCNTL = "fcntl"
    CLOCK = "clock"
    STRV = "strv"  # NULL-terminated array of strings (argv, envp)
    FDFLAGS = "fdflags"  # 0 or O_CLOEXEC (dup3, pipe2)
    ACCESS = "access"  # F_OK or R_OK|W_OK|X_OK


SIGNED_INT = {Arg.INT, Arg.FD, Arg.DIRFD, Arg.SIG, Arg.CLOCK}  # C int: 32-bit on both ABIs
SIGNED_LONG = {Arg.LONG, Arg.OFF}  # C long: word-sized


class Ret(enum.Enum):
    INT = "int"
    FD = "fd"
    HEX = "hex"  # addresses (mmap, brk)
    NONE = "none"  # exit: never returns


class Handler:
    """One declared syscall (a plain slotted class: a frozen dataclass costs ~1 ms per launch)."""

    __slots__ = ("name", "fn", "args", "ret", "blocking")

    def __init__(self, name: str, fn: Callable[..., int], args: tuple[Arg, ...], ret: Ret,
                 blocking: bool = False) -> None:  # fmt: skip
        self.name = name
        self.fn = fn
        self.args = args
        self.ret = ret
        self.blocking = blocking

    def __repr__(self) -> str:
        return f"Handler({self.name!r})"


HANDLERS: dict[str, Handler] = {}


def syscall(
    name: str, *args: Arg, ret: Ret = Ret.INT, blocking: bool = False
) -> Callable[[Any], Any]:
    """Register the decorated function as the handler of syscall ``name``."""

    def register(fn: Callable[..., int]) -> Callable[..., int]:
        if name in HANDLERS:
            raise RuntimeError(f"syscall {name} declared twice")
        HANDLERS[name] = Handler(name, fn, tuple(args), ret, blocking)
        return fn

    return register


class SyscallError(Exception):
    """Raised by a handler to fail the call with ``-errno``."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno
