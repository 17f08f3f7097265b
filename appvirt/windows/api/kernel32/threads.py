"""Threads: creating, ending and inspecting them, sleeping and yielding, TLS and FLS slots.

A thread is a WinThread (appvirt/windows/threads.py) scheduled by sched.py. TLS slots live in
each thread's TEB (so ``TlsGetValue`` is the thread's own, and inline TEB reads agree); FLS
values are kept per thread in Python, and their callbacks run when a thread ends.
"""

from __future__ import annotations

import struct
from typing import Any

from ....core.memory import OutOfMemory
from ...sync import (
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    STILL_ACTIVE,
    Wait,
    add_handle,
    deadline_after,
)
from ...threads import TooManyThreads, WinThread, exit_current, spawn_thread
from ..decl import BOOL, HANDLE, INT, PTR, SIZE, UINT, VOID, WSTR, winapi
from .sync import inherit_flag, lookup

CREATE_SUSPENDED = 0x4
ERROR_NOT_ENOUGH_MEMORY = 8
TLS_SLOTS = 64
TLS_OUT_OF_INDEXES = 0xFFFFFFFF


def start_thread(proc: Any, start: int, param: int, stack: int, suspended: bool,
                 inherit: bool = False) -> tuple[int, WinThread | None]:  # fmt: skip
    """(handle, thread) of a new thread, or (0, None) with the last error set."""
    try:
        thread = spawn_thread(proc, start, param, stack, suspended)
    except (TooManyThreads, OutOfMemory):
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0, None
    return add_handle(proc, thread, inherit), thread


@winapi("kernel32", args=(PTR, SIZE, PTR, PTR, UINT, PTR), ret=HANDLE)
def CreateThread(proc: Any, sa: int, stack: int, fn: int, param: int, flags: int, tid: int) -> int:
    """A thread running fn(param) with its own stack, TEB and TLS, scheduled for real.

    The stack is the image's reserve unless asked; ERROR_NOT_ENOUGH_MEMORY beyond the sandbox's
    processes limit."""
    handle, thread = start_thread(proc, fn, param, stack, bool(flags & CREATE_SUSPENDED),
                                  inherit_flag(proc, sa))  # fmt: skip
    if thread is not None and tid:
        proc.write_u32(tid, thread.tid)
    return handle


@winapi("kernel32", args=(UINT,), ret=VOID)
def ExitThread(proc: Any, code: int) -> None:
    """End the calling thread; the last thread's end ends the process with ``code``."""
    exit_current(proc, code)


def _thread(proc: Any, handle: int) -> WinThread | None:
    obj = lookup(proc, handle)
    if not isinstance(obj, WinThread):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


@winapi("kernel32", args=(HANDLE, UINT), ret=BOOL)
def TerminateThread(proc: Any, handle: int, code: int) -> int:
    """End a thread at once (no DLL notifications); the caller itself ends as by ExitThread."""
    thread = _thread(proc, handle)
    if thread is None:
        return 0
    if thread is proc.thread:
        from ...threads import ThreadExit

        raise ThreadExit(code)
    proc.sched.end_thread(thread, code)
    return 1


@winapi("kernel32", args=(HANDLE, PTR), ret=BOOL)
def GetExitCodeThread(proc: Any, handle: int, out: int) -> int:
    """STILL_ACTIVE (259) while the thread runs, then the code it ended with."""
    thread = _thread(proc, handle)
    if thread is None:
        return 0
    proc.write_u32(out, thread.exit_code if not thread.alive else STILL_ACTIVE)
    return 1


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def ResumeThread(proc: Any, handle: int) -> int:
    """Decrement the suspend count; returns the previous count (-1 on failure)."""
    thread = _thread(proc, handle)
    if thread is None:
        return 0xFFFFFFFF
    previous = thread.suspended
    if previous:
        thread.suspended -= 1
        if not thread.suspended:
            proc.sched.signal()
            if proc.sched.running is not None:
                proc.machine.request_stop()
    return previous


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def SuspendThread(proc: Any, handle: int) -> int:
    """Increment the suspend count: the thread stops at its next scheduling point."""
    thread = _thread(proc, handle)
    if thread is None:
        return 0xFFFFFFFF
    previous = thread.suspended
    thread.suspended += 1
    if thread is proc.thread:
        proc.machine.request_stop()
    return previous


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def GetThreadId(proc: Any, handle: int) -> int:
    thread = _thread(proc, handle)
    return thread.tid if thread is not None else 0


@winapi("kernel32", args=(HANDLE,), ret=UINT)
def GetProcessIdOfThread(proc: Any, handle: int) -> int:
    thread = _thread(proc, handle)
    return int(thread.proc.pid) if thread is not None else 0


@winapi("kernel32", args=(UINT, BOOL, UINT), ret=HANDLE)
def OpenThread(proc: Any, access: int, inherit: int, tid: int) -> int:
    """A handle to a running thread of any process of the run, by id."""
    for pobj in proc.sched.processes:
        for thread in pobj.threads:
            if thread.tid == tid and thread.alive:
                return add_handle(proc, thread, bool(inherit))
    proc.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


@winapi("kernel32", args=(HANDLE,), ret=INT)
def GetThreadPriority(proc: Any, handle: int) -> int:
    thread = _thread(proc, handle)
    return thread.priority if thread is not None else 0x7FFFFFFF


@winapi("kernel32", args=(HANDLE, INT), ret=BOOL)
def SetThreadPriority(proc: Any, handle: int, priority: int) -> int:
    """Recorded only: every runnable thread gets the same share of the CPU."""
    thread = _thread(proc, handle)
    if thread is None:
        return 0
    thread.priority = priority
    return 1


@winapi("kernel32", args=(HANDLE, SIZE), ret=SIZE)
def SetThreadAffinityMask(proc: Any, handle: int, mask: int) -> int:
    """One processor: the previous mask is 1."""
    return 1 if _thread(proc, handle) is not None and mask & 1 else 0


@winapi("kernel32", args=(HANDLE, WSTR), ret=UINT)
def SetThreadDescription(proc: Any, handle: int, text: int) -> int:
    return 0  # S_OK


@winapi("kernel32", args=(PTR, PTR), ret=VOID)
def GetCurrentThreadStackLimits(proc: Any, low: int, high: int) -> None:
    blocks = proc.blocks
    proc.write_ptr(low, blocks.get_ptr(blocks.teb + blocks.off.teb_stack_limit))
    proc.write_ptr(high, blocks.get_ptr(blocks.teb + blocks.off.teb_stack_base))


# -- sleeping and yielding ------------------------------------------------------------------------
def _sleep(proc: Any, ms: int) -> int:
    if ms == 0:
        return 0

    def poll(_wait: Wait, timed_out: bool) -> int | None:
        return 0 if timed_out else None

    raise Wait(poll, deadline_after(proc, ms))


@winapi("kernel32", args=(UINT,), ret=VOID)
def Sleep(proc: Any, ms: int) -> None:
    """Sleep on the run's clock (virtual in frozen mode) while other threads run; Sleep(0)
    gives the rest of the slice to another runnable thread."""
    if ms == 0:
        SwitchToThread(proc)
        return
    _sleep(proc, ms)


@winapi("kernel32", args=(UINT, BOOL), ret=UINT)
def SleepEx(proc: Any, ms: int, alertable: int) -> int:
    """As Sleep (no APCs are ever queued, so WAIT_IO_COMPLETION never comes)."""
    Sleep(proc, ms)
    return 0


@winapi("kernel32", ret=BOOL)
def SwitchToThread(proc: Any) -> int:
    """Let another runnable thread run first; FALSE when there is none."""
    sched = proc.sched
    others = any(t is not proc.thread and t.state.value == "runnable" and not t.suspended
                 for t in sched.threads)  # fmt: skip
    if not others or sched.running is not proc.thread:
        return 0

    def poll(_wait: Wait, _timed_out: bool) -> int | None:
        return 1

    raise Wait(poll)


# -- thread-local and fiber-local storage ---------------------------------------------------------
def _tls_slot(proc: Any, teb: int, index: int) -> int:
    return int(teb + proc.blocks.off.teb_tls_slots + index * proc.word)


def _clear_slot(proc: Any, index: int) -> None:
    """TlsAlloc and TlsFree zero the slot in every thread of the process."""
    for thread in proc.thread.pobj.threads:
        if thread.alive:
            proc.mem.poke(_tls_slot(proc, thread.teb, index), bytes(proc.word))


@winapi("kernel32", ret=UINT)
def TlsAlloc(proc: Any) -> int:
    """A TLS slot of the TEB (64 of them), zero in every thread."""
    used = proc.state.setdefault("tls_used", set())
    for i in range(TLS_SLOTS):
        if i not in used:
            used.add(i)
            _clear_slot(proc, i)
            return i
    return TLS_OUT_OF_INDEXES


@winapi("kernel32", args=(UINT,), ret=PTR)
def TlsGetValue(proc: Any, index: int) -> int:
    """The calling thread's value of a slot (its own TEB)."""
    if index >= TLS_SLOTS:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.set_last_error(0)
    return int(proc.read_ptr(_tls_slot(proc, proc.blocks.teb, index)))


@winapi("kernel32", args=(UINT, PTR), ret=BOOL)
def TlsSetValue(proc: Any, index: int, value: int) -> int:
    if index >= TLS_SLOTS:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.write_ptr(_tls_slot(proc, proc.blocks.teb, index), value)
    return 1


@winapi("kernel32", args=(UINT,), ret=BOOL)
def TlsFree(proc: Any, index: int) -> int:
    used = proc.state.setdefault("tls_used", set())
    if index not in used:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    used.discard(index)
    _clear_slot(proc, index)
    return 1


@winapi("kernel32", args=(PTR,), ret=UINT)
def FlsAlloc(proc: Any, callback: int) -> int:
    """A fiber-local slot (one fiber per thread); its callback runs when a thread ends.

    It also runs on every thread's value when the slot is freed."""
    callbacks = proc.state.setdefault("fls_callbacks", {})
    index = next(i for i in range(len(callbacks) + 1) if i not in callbacks)
    callbacks[index] = callback
    for thread in proc.thread.pobj.threads:
        thread.fls.pop(index, None)
    return index


@winapi("kernel32", args=(UINT,), ret=PTR)
def FlsGetValue(proc: Any, index: int) -> int:
    if index not in proc.state.get("fls_callbacks", {}):
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.set_last_error(0)
    return int(proc.thread.fls.get(index, 0))


@winapi("kernel32", args=(UINT, PTR), ret=BOOL)
def FlsSetValue(proc: Any, index: int, value: int) -> int:
    if index not in proc.state.get("fls_callbacks", {}):
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.thread.fls[index] = value
    return 1


@winapi("kernel32", args=(UINT,), ret=BOOL)
def FlsFree(proc: Any, index: int) -> int:
    """Free a slot, running its callback on every thread's non-NULL value."""
    callbacks = proc.state.get("fls_callbacks", {})
    if index not in callbacks:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    callback = callbacks.pop(index)
    for thread in list(proc.thread.pobj.threads):
        value = thread.fls.pop(index, 0)
        if callback and value:
            proc.call(callback, value)
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def DisableThreadLibraryCalls(proc: Any, module: int) -> int:
    """The DLL's entry point gets no DLL_THREAD_ATTACH/DETACH calls from now on."""
    proc.state.setdefault("no_thread_calls", set()).add(module)
    return 1


@winapi("kernel32", args=(HANDLE, PTR, PTR, PTR, PTR), ret=BOOL)
def GetThreadTimes(proc: Any, handle: int, created: int, exited: int, kernel: int,
                   user: int) -> int:  # fmt: skip
    """Creation time now, no CPU time measured (appvirt does not count it per thread)."""
    from .time import now_filetime

    if _thread(proc, handle) is None:
        return 0
    proc.write(created, struct.pack("<Q", now_filetime(proc)))
    for ptr in (exited, kernel, user):
        proc.write(ptr, bytes(8))
    return 1
