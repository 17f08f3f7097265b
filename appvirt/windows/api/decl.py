"""Declaring a Windows export once: its DLL, name, argument types, return type and convention.

Like Wine's ``.spec`` files, the declaration is the single source of truth: it decides how many
stack slots a stdcall stub pops on i386, how arguments are read from registers and stack, how the
result is written back, how the trace line prints, what an unimplemented export returns, and what
docs/windows.md lists. A handler is a plain function ``fn(proc, *args) -> int``.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Conv(enum.Enum):
    STDCALL = "stdcall"  # WINAPI: the callee pops its arguments (i386); the Win64 ABI on x64
    CDECL = "cdecl"  # the C runtime: the caller pops


STDCALL = Conv.STDCALL
CDECL = Conv.CDECL


class T(enum.Enum):
    """Argument and return kinds; each knows how wide it is and how it prints."""

    INT = "int"  # signed 32-bit
    UINT = "uint"  # unsigned 32-bit (DWORD, UINT, ULONG)
    BOOL = "bool"
    LONG64 = "long64"  # 64-bit by value (LARGE_INTEGER, QWORD): two stack slots on i386
    PTR = "ptr"  # pointer-sized, printed in hex (LPVOID, out-pointers, buffers)
    SIZE = "size"  # pointer-sized unsigned, printed in decimal (SIZE_T)
    SSIZE = "ssize"  # pointer-sized signed (LONG_PTR, INT_PTR, intptr_t)
    HANDLE = "handle"  # pointer-sized handle; fails as NULL
    HFILE = "hfile"  # pointer-sized handle; fails as INVALID_HANDLE_VALUE
    HKEY = "hkey"
    STR = "str"  # const char * (ANSI), printed as a string
    WSTR = "wstr"  # const wchar_t *, printed as a string
    LSTATUS = "lstatus"  # a Win32 error code returned directly (the registry)
    NTSTATUS = "ntstatus"
    VOID = "void"
    DOUBLE = "double"


# Kinds that are 32 bits wide even on x64 (the upper half of the register is garbage).
NARROW = frozenset({T.INT, T.UINT, T.BOOL, T.LSTATUS, T.NTSTATUS})
SIGNED = frozenset({T.INT, T.LSTATUS, T.NTSTATUS})

INT, UINT, BOOL, LONG64, PTR, SIZE, SSIZE = T.INT, T.UINT, T.BOOL, T.LONG64, T.PTR, T.SIZE, T.SSIZE
HANDLE, HFILE, HKEY, STR, WSTR = T.HANDLE, T.HFILE, T.HKEY, T.STR, T.WSTR
LSTATUS, NTSTATUS, VOID, DOUBLE = T.LSTATUS, T.NTSTATUS, T.VOID, T.DOUBLE
DWORD = UINT

ERROR_CALL_NOT_IMPLEMENTED = 120
STATUS_NOT_IMPLEMENTED = 0xC0000002


@dataclass(slots=True)
class Api:
    """One declared export. ``fn`` is None for a prototype that is declared but not implemented."""

    dll: str
    name: str
    args: tuple[T, ...]
    ret: T
    conv: Conv
    fn: Callable[..., Any] | None
    variadic: bool = False
    doc: str = ""
    undeclared: bool = False  # no prototype known (modules.unknown_api): argument count unknown

    def slots32(self) -> int:
        """Stack slots the arguments take on i386 (what a stdcall stub's ``ret N`` pops / 4)."""
        return sum(2 if a in (T.LONG64, T.DOUBLE) else 1 for a in self.args)

    def failure(self) -> int:
        """What an unimplemented export returns (the last error is ERROR_CALL_NOT_IMPLEMENTED)."""
        if self.ret is T.HFILE:
            return -1
        if self.ret is T.LSTATUS:
            return ERROR_CALL_NOT_IMPLEMENTED
        if self.ret is T.NTSTATUS:
            return STATUS_NOT_IMPLEMENTED
        return 0


@dataclass(slots=True)
class Data:
    """An exported variable (``_iob``, ``_fmode``): the import slot gets its address."""

    dll: str
    name: str
    size: int  # bytes; a callable of the pointer size is allowed through ``size64``
    size64: int


APIS: dict[tuple[str, str], Api] = {}
DATA: dict[tuple[str, str], Data] = {}

# DLL names that share one export set: the UCRT's API sets and ucrtbase are msvcrt here.
ALIASES: dict[str, str] = {"ucrtbase": "msvcrt", "kernelbase": "kernel32"}


def canonical_dll(name: str) -> str:
    """``KERNEL32.dll`` -> ``kernel32``; ``api-ms-win-crt-stdio-l1-1-0.dll`` -> ``msvcrt``."""
    base = name.lower().rsplit("\\", 1)[-1].rsplit("/", 1)[-1]
    if base.endswith(".dll"):
        base = base[:-4]
    if base.startswith("api-ms-win-crt-"):
        return "msvcrt"
    if base.startswith("api-ms-win-core-") or base.startswith("ext-ms-win-"):
        return "kernel32"
    return ALIASES.get(base, base)


def winapi(
    dll: str,
    name: str | None = None,
    args: tuple[T, ...] = (),
    ret: T = T.UINT,
    conv: Conv | None = None,
    variadic: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and implement an export: ``@winapi("kernel32", args=(STR,), ret=HANDLE)``.

    The default convention is CDECL for msvcrt and STDCALL elsewhere; variadic functions are
    always CDECL and receive a ``VarArgs`` reader as their last argument.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        export = name or fn.__name__
        cv = conv or (CDECL if dll == "msvcrt" or variadic else STDCALL)
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        APIS[(dll, export.lower())] = Api(dll, export, args, ret, cv, fn, variadic, doc)
        return fn

    return register


def declare(
    dll: str, name: str, args: tuple[T, ...], ret: T = T.UINT, conv: Conv | None = None
) -> None:
    """Declare a prototype without an implementation: calls fail as documented, never crash."""
    cv = conv or (CDECL if dll == "msvcrt" else STDCALL)
    APIS.setdefault((dll, name.lower()), Api(dll, name, args, ret, cv, None))


def data(dll: str, name: str, size32: int, size64: int | None = None) -> None:
    """Declare an exported variable of ``size32`` bytes on i386 (``size64`` on x64)."""
    DATA[(dll, name.lower())] = Data(dll, name, size32, size32 if size64 is None else size64)


def alias(dll: str, name: str, target: str) -> None:
    """Export ``name`` with the declaration of ``target`` (``_strdup`` and ``strdup``)."""
    api = APIS[(dll, target.lower())]
    APIS[(dll, name.lower())] = Api(
        dll, name, api.args, api.ret, api.conv, api.fn, api.variadic, api.doc
    )


def lookup(dll: str, name: str) -> Api | None:
    return APIS.get((dll, name.lower()))


class VarArgs:
    """Reads a variadic function's ``...`` (or a ``va_list``) from guest memory in order."""

    __slots__ = ("_read", "_addr", "_word")

    def __init__(self, read: Callable[[int, int], bytes], addr: int, word: int) -> None:
        self._read = read
        self._addr = addr
        self._word = word

    def int(self) -> builtins.int:
        raw = self._read(self._addr, self._word)
        self._addr += self._word
        return int.from_bytes(raw, "little")

    def int64(self) -> builtins.int:
        raw = self._read(self._addr, 8)
        self._addr += 8
        return int.from_bytes(raw, "little")

    def double(self) -> float:
        import struct

        raw = self._read(self._addr, 8)
        self._addr += 8
        return float(struct.unpack("<d", raw)[0])

    @property
    def word(self) -> builtins.int:
        return self._word
