"""Anonymous pipes and handle flags: CreatePipe, PeekNamedPipe, Set/GetHandleInformation.

A pipe is the VFS's pipe (appvirt/vfs/pipe.py) behind two file handles. ReadFile on an empty
pipe and WriteFile on a full one wait (sched.py) until the other end moves; a reader sees end of
file (ERROR_BROKEN_PIPE) once every handle of the write end, in every process, is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ....vfs.pipe import make_pipe
from ....vfs.types import FileKind
from ...handles import FileHandle
from ...sync import ERROR_INVALID_HANDLE, Wait, add_handle
from ..decl import BOOL, HANDLE, PTR, UINT, winapi
from .sync import inherit_flag

PIPE_KEY = "pipe"  # what a wait on any pipe end is woken by
MIN_CAPACITY = 1 << 20  # the C runtime writes to pipes from Python and cannot wait for room
HANDLE_FLAG_INHERIT, HANDLE_FLAG_PROTECT_FROM_CLOSE = 1, 2


def wait_pipe(ready: Callable[[], bool], retry: Callable[[], int]) -> Wait:
    """The Wait of a ReadFile/WriteFile that found the pipe empty or full: the call is made
    again once ``ready()``."""

    def poll(_wait: Wait, _timed_out: bool) -> int | None:
        return retry() if ready() else None

    return Wait(poll, None, (PIPE_KEY,))


def pipe_moved(proc: Any, fh: Any) -> None:
    """Data went into a pipe, or one of its ends closed: waiting readers and writers look."""
    if fh.file.kind is FileKind.FIFO and proc.sched is not None:
        proc.sched.signal(PIPE_KEY)


@winapi("kernel32", args=(PTR, PTR, PTR, UINT), ret=BOOL)
def CreatePipe(proc: Any, read_out: int, write_out: int, sa: int, size: int) -> int:
    """An anonymous pipe (read end, write end), inheritable when the attributes say so."""
    reader, writer = make_pipe(max(size, MIN_CAPACITY))
    inherit = inherit_flag(proc, sa)
    proc.write_ptr(read_out, add_handle(proc, FileHandle(reader, "pipe"), inherit))
    proc.write_ptr(write_out, add_handle(proc, FileHandle(writer, "pipe"), inherit))
    return 1


@winapi("kernel32", args=(HANDLE, PTR, UINT, PTR, PTR, PTR), ret=BOOL)
def PeekNamedPipe(proc: Any, handle: int, buf: int, size: int, got: int, avail: int,
                  left: int) -> int:  # fmt: skip
    """Bytes waiting in a pipe, without taking them (copied to ``buf`` when given)."""
    fh = proc.handles.get(handle)
    if not isinstance(fh, FileHandle) or not hasattr(fh.file, "available"):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    waiting = fh.file.available()
    if waiting == 0 and getattr(fh.file, "read_ready", lambda: False)():
        proc.set_last_error(109)  # ERROR_BROKEN_PIPE: every writer is gone
        return 0
    copied = 0
    if buf and size and waiting:
        pipe: Any = fh.file
        data = bytes(pipe._buf.data[:size])  # the pipe's buffer, read without consuming it
        proc.write(buf, data)
        copied = len(data)
    if got:
        proc.write_u32(got, copied)
    if avail:
        proc.write_u32(avail, waiting)
    if left:
        proc.write_u32(left, 0)
    return 1


@winapi("kernel32", args=(HANDLE, UINT, UINT), ret=BOOL)
def SetHandleInformation(proc: Any, handle: int, mask: int, flags: int) -> int:
    """HANDLE_FLAG_INHERIT decides whether a child started with inheritance gets the handle."""
    if proc.handles.get(handle) is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    if mask & HANDLE_FLAG_INHERIT:
        if flags & HANDLE_FLAG_INHERIT:
            proc.handles.inheritable.add(handle)
        else:
            proc.handles.inheritable.discard(handle)
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetHandleInformation(proc: Any, handle: int, out: int) -> int:
    if proc.handles.get(handle) is None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    proc.write_u32(out, HANDLE_FLAG_INHERIT if handle in proc.handles.inheritable else 0)
    return 1
