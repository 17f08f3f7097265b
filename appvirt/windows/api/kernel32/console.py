"""The console: standard handles, WriteConsole/ReadConsole, modes, code pages and titles.

The console is the run's stdio: WriteConsoleW encodes to UTF-8 for the host terminal or pipe, and
the modes a program sets are remembered and reported back without changing anything.
"""

from __future__ import annotations

from typing import Any

from ...handles import FileHandle
from ..decl import BOOL, HANDLE, INT, PTR, STR, UINT, WSTR, winapi

STD_INPUT, STD_OUTPUT, STD_ERROR = -10, -11, -12
ERROR_INVALID_HANDLE = 6


@winapi("kernel32", args=(INT,), ret=HANDLE)
def GetStdHandle(proc: Any, which: int) -> int:
    """The handle of stdin (-10), stdout (-11) or stderr (-12)."""
    index = {STD_INPUT: 0, STD_OUTPUT: 1, STD_ERROR: 2}.get(which)
    if index is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return -1
    return int(proc.std_handles[index])


@winapi("kernel32", args=(INT, HANDLE), ret=BOOL)
def SetStdHandle(proc: Any, which: int, handle: int) -> int:
    index = {STD_INPUT: 0, STD_OUTPUT: 1, STD_ERROR: 2}.get(which)
    if index is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    proc.std_handles[index] = handle
    return 1


def _console(proc: Any, handle: int) -> FileHandle | None:
    obj = proc.handles.get(handle)
    return obj if isinstance(obj, FileHandle) and obj.console else None


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetConsoleMode(proc: Any, handle: int, out: int) -> int:
    """Fails with ERROR_INVALID_HANDLE when the handle is a file or pipe, as on Windows."""
    if _console(proc, handle) is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    modes = proc.state.setdefault("console_modes", {})
    proc.write_u32(out, modes.get(handle, 0x3 if proc.std_handles.index(handle) > 0 else 0x1F7)
                   if handle in proc.std_handles else modes.get(handle, 3))  # fmt: skip
    return 1


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def SetConsoleMode(proc: Any, handle: int, mode: int) -> int:
    if _console(proc, handle) is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    proc.state.setdefault("console_modes", {})[handle] = mode
    return 1


def _write_console(proc: Any, handle: int, text: str, done: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, FileHandle):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    from ..msvcrt.state import flush_handle

    flush_handle(proc, obj)
    obj.file.write(text.encode("utf-8", "replace"))
    if done:
        proc.write_u32(done, len(text))
    return 1


@winapi("kernel32", args=(HANDLE, WSTR, UINT, PTR, PTR), ret=BOOL)
def WriteConsoleW(proc: Any, handle: int, buf: int, count: int, done: int, reserved: int) -> int:
    """Write UTF-16 text to the console (UTF-8 on the host side)."""
    return _write_console(proc, handle, proc.read_wstr_n(buf, count) if count else "", done)


@winapi("kernel32", args=(HANDLE, STR, UINT, PTR, PTR), ret=BOOL)
def WriteConsoleA(proc: Any, handle: int, buf: int, count: int, done: int, reserved: int) -> int:
    text = proc.read(buf, count).decode("cp437", "replace") if count else ""
    return _write_console(proc, handle, text, done)


@winapi("kernel32", args=(HANDLE, PTR, UINT, PTR, PTR), ret=BOOL)
def ReadConsoleW(proc: Any, handle: int, buf: int, count: int, got: int, control: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, FileHandle):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    raw = obj.file.read(count)
    text = raw.decode("utf-8", "replace")[:count]
    proc.write(buf, text.encode("utf-16-le"))
    if got:
        proc.write_u32(got, len(text))
    return 1


@winapi("kernel32", args=(HANDLE, PTR, UINT, PTR, PTR), ret=BOOL)
def ReadConsoleA(proc: Any, handle: int, buf: int, count: int, got: int, control: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, FileHandle):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    raw = obj.file.read(count)
    proc.write(buf, raw)
    if got:
        proc.write_u32(got, len(raw))
    return 1


def _cp(name: str, value: int) -> None:
    def fn(proc: Any) -> int:
        return proc.state.get(name, value)  # type: ignore[no-any-return]

    fn.__doc__ = (
        f"The console's {'output ' if 'Output' in name else ''}code page ({value} unless set)."
    )
    winapi("kernel32", name, ret=UINT)(fn)

    def setter(proc: Any, cp: int) -> int:
        proc.state[name] = cp
        return 1

    setter.__doc__ = "Remembered and reported back by the getter."
    winapi("kernel32", "Set" + name[3:], args=(UINT,), ret=BOOL)(setter)


_cp("GetConsoleCP", 437)
_cp("GetConsoleOutputCP", 437)


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetConsoleTitleA(proc: Any, buf: int, size: int) -> int:
    title = proc.state.get("title", proc.exe_path)
    raw = title.encode("cp1252", "replace")[: max(size - 1, 0)]
    if size:
        proc.write(buf, raw + b"\0")
    return len(raw)


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def GetConsoleTitleW(proc: Any, buf: int, size: int) -> int:
    title = proc.state.get("title", proc.exe_path)[: max(size - 1, 0)]
    if size:
        proc.write(buf, title.encode("utf-16-le") + b"\0\0")
    return len(title)


@winapi("kernel32", args=(STR,), ret=BOOL)
def SetConsoleTitleA(proc: Any, title: int) -> int:
    proc.state["title"] = proc.read_str(title)
    return 1


@winapi("kernel32", args=(WSTR,), ret=BOOL)
def SetConsoleTitleW(proc: Any, title: int) -> int:
    proc.state["title"] = proc.read_wstr(title)
    return 1


@winapi("kernel32", args=(PTR, BOOL), ret=BOOL)
def SetConsoleCtrlHandler(proc: Any, handler: int, add: int) -> int:
    """Recorded; Ctrl-C ends the run with STATUS_CONTROL_C_EXIT instead of calling it."""
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetConsoleScreenBufferInfo(proc: Any, handle: int, out: int) -> int:
    """An 80x25 screen for a console; fails for files and pipes."""
    if _console(proc, handle) is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    import struct

    proc.write(out, struct.pack("<hhhhHhhhhhh", 80, 25, 0, 0, 7, 0, 0, 79, 24, 80, 25))
    return 1


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def SetConsoleTextAttribute(proc: Any, handle: int, attrs: int) -> int:
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetNumberOfConsoleInputEvents(proc: Any, handle: int, out: int) -> int:
    proc.write_u32(out, 0)
    return 1


@winapi("kernel32", ret=BOOL)
def AllocConsole(proc: Any) -> int:
    proc.set_last_error(5)
    return 0


@winapi("kernel32", ret=BOOL)
def FreeConsole(proc: Any) -> int:
    return 1


@winapi("kernel32", ret=HANDLE)
def GetConsoleWindow(proc: Any) -> int:
    return 0
