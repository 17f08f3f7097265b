"""user32.dll: what a console program calls (message boxes print to stderr; no windows exist)."""

from __future__ import annotations

from typing import Any

from .decl import HANDLE, INT, PTR, STR, UINT, WSTR, declare, winapi

IDOK = 1


def _message_box(proc: Any, text: str, caption: str) -> int:
    from ..handles import FileHandle

    err = proc.handles.get(proc.std_handles[2])
    if isinstance(err, FileHandle):
        from .msvcrt.state import flush_all

        flush_all(proc)
        err.file.write(f"[{caption}] {text}\n".encode("utf-8", "replace"))
    proc.events.emit("message_box", caption=caption, text=text)
    return IDOK


@winapi("user32", args=(HANDLE, STR, STR, UINT), ret=INT)
def MessageBoxA(proc: Any, owner: int, text: int, caption: int, kind: int) -> int:
    """No desktop: the message goes to stderr as "[caption] text" and the answer is IDOK."""
    return _message_box(
        proc, proc.read_str(text) if text else "", proc.read_str(caption) if caption else "Error"
    )


@winapi("user32", args=(HANDLE, WSTR, WSTR, UINT), ret=INT)
def MessageBoxW(proc: Any, owner: int, text: int, caption: int, kind: int) -> int:
    return _message_box(
        proc, proc.read_wstr(text) if text else "", proc.read_wstr(caption) if caption else "Error"
    )


@winapi("user32", args=(PTR, STR), variadic=True, ret=INT)
def wsprintfA(proc: Any, buf: int, fmt: int, va: Any) -> int:
    from ..printf import format_bytes

    raw = format_bytes(proc.read_bytes0(fmt), va, proc.read_bytes0, proc.read_wstr)[:1023]
    proc.write(buf, raw + b"\0")
    return len(raw)


@winapi("user32", args=(STR,), ret=PTR)
def CharUpperA(proc: Any, s: int) -> int:
    if s < 0x10000:
        return ord(chr(s).upper()[0]) if s < 256 else s
    proc.write(s, proc.read_bytes0(s).upper())
    return s


@winapi("user32", args=(STR,), ret=PTR)
def CharLowerA(proc: Any, s: int) -> int:
    if s < 0x10000:
        return ord(chr(s).lower()[0]) if s < 256 else s
    proc.write(s, proc.read_bytes0(s).lower())
    return s


@winapi("user32", args=(UINT,), ret=INT)
def GetSystemMetrics(proc: Any, index: int) -> int:
    return {0: 1024, 1: 768}.get(index, 0)


@winapi("user32", ret=HANDLE)
def GetDesktopWindow(proc: Any) -> int:
    return 0x10010


@winapi("user32", args=(HANDLE,), ret=HANDLE)
def GetProcessWindowStation(proc: Any, unused: int = 0) -> int:
    return 0x10020


for _name, _args in (("CreateWindowExA", 12), ("CreateWindowExW", 12), ("RegisterClassA", 1),
                     ("RegisterClassW", 1), ("RegisterClassExA", 1), ("RegisterClassExW", 1),
                     ("GetMessageA", 4), ("GetMessageW", 4), ("DispatchMessageA", 1),
                     ("DispatchMessageW", 1), ("ShowWindow", 2), ("UpdateWindow", 1)):  # fmt: skip
    declare("user32", _name, (PTR,) * _args, PTR)
