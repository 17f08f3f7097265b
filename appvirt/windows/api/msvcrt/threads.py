"""The C runtime's threads and locks: _beginthread(ex), _endthread(ex), _lock/_unlock.

msvcrt's thread functions wrap CreateThread; here they start the thread directly (the routine
returns into the same exit path as a CreateThread routine). ``_lock(n)`` is the CRT's internal
recursive lock number n, which the MinGW runtime takes around its stdio: it really excludes other
threads.
"""

from __future__ import annotations

from typing import Any

from ...sync import take_or_wait
from ...threads import exit_current
from ..decl import INT, PTR, UINT, VOID, winapi
from ..kernel32.threads import start_thread
from .state import set_errno

EAGAIN = 11


@winapi("msvcrt", args=(PTR, UINT, PTR, PTR, UINT, PTR), ret=PTR)
def _beginthreadex(proc: Any, security: int, stack: int, fn: int, arg: int, flags: int,
                   tid: int) -> int:  # fmt: skip
    """A thread running the __stdcall ``fn(arg)``; its handle, or 0 with errno EAGAIN."""
    handle, thread = start_thread(proc, fn, arg, stack, bool(flags & 4))
    if thread is None:
        set_errno(proc, EAGAIN)
        return 0
    if tid:
        proc.write_u32(tid, thread.tid)
    return handle


@winapi("msvcrt", args=(PTR, UINT, PTR), ret=PTR)
def _beginthread(proc: Any, fn: int, stack: int, arg: int) -> int:
    """A thread running fn(arg); its handle closes by itself when the thread ends.

    Returns -1 on failure."""
    handle, thread = start_thread(proc, fn, arg, stack, False)
    if thread is None:
        set_errno(proc, EAGAIN)
        return (1 << (8 * proc.word)) - 1
    thread.close_handle_at_exit = handle
    thread.void_routine = True
    return handle


@winapi("msvcrt", args=(UINT,), ret=VOID)
def _endthreadex(proc: Any, code: int) -> None:
    exit_current(proc, code)


@winapi("msvcrt", ret=VOID)
def _endthread(proc: Any) -> None:
    exit_current(proc, 0)


def _crt_locks(proc: Any) -> dict[int, list[Any]]:
    return proc.state.setdefault("crt_locks", {})  # type: ignore[no-any-return]


def _try_lock(proc: Any, n: int) -> bool:
    held = _crt_locks(proc).get(n)
    if held is None or held[1] == 0:
        _crt_locks(proc)[n] = [proc.thread, 1]
        return True
    if held[0] is proc.thread:
        held[1] += 1
        return True
    return False


@winapi("msvcrt", args=(INT,), ret=VOID)
def _lock(proc: Any, n: int) -> None:
    """Take CRT lock ``n`` (recursive); another thread's lock makes the caller wait."""
    take_or_wait(lambda: _try_lock(proc, n), ("crtlock", proc, n))


@winapi("msvcrt", args=(INT,), ret=VOID)
def _unlock(proc: Any, n: int) -> None:
    held = _crt_locks(proc).get(n)
    if held is None or held[0] is not proc.thread or held[1] == 0:
        return
    held[1] -= 1
    if held[1] == 0:
        proc.sched.signal(("crtlock", proc, n))
