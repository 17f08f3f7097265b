"""Synchronisation a single-threaded process touches: critical sections, events, mutexes,
semaphores, interlocked operations, one-time initialisation, and waits that never block (a wait
on an unsignalled object times out at once rather than hanging the run)."""

from __future__ import annotations

import struct
from typing import Any

from ...handles import SyncObject
from ..decl import BOOL, HANDLE, INT, PTR, STR, UINT, VOID, WSTR, winapi

WAIT_OBJECT_0, WAIT_TIMEOUT, WAIT_FAILED = 0, 0x102, 0xFFFFFFFF


def _noop(proc: Any, cs: int) -> None:
    """Critical sections: one thread owns them all; entering never waits."""


for _name in ("InitializeCriticalSection", "EnterCriticalSection", "LeaveCriticalSection",
              "DeleteCriticalSection", "InitializeSRWLock", "AcquireSRWLockExclusive",
              "ReleaseSRWLockExclusive", "AcquireSRWLockShared", "ReleaseSRWLockShared",
              "InitializeConditionVariable", "WakeConditionVariable", "WakeAllConditionVariable"):  # fmt: skip
    winapi("kernel32", _name, args=(PTR,), ret=VOID)(_noop)


@winapi("kernel32", args=(PTR, UINT), ret=BOOL)
def InitializeCriticalSectionAndSpinCount(proc: Any, cs: int, spin: int) -> int:
    return 1


@winapi("kernel32", args=(PTR, UINT, UINT), ret=BOOL)
def InitializeCriticalSectionEx(proc: Any, cs: int, spin: int, flags: int) -> int:
    return 1


@winapi("kernel32", args=(PTR,), ret=BOOL)
def TryEnterCriticalSection(proc: Any, cs: int) -> int:
    return 1


@winapi("kernel32", args=(PTR,), ret=BOOL)
def TryAcquireSRWLockExclusive(proc: Any, lock: int) -> int:
    return 1


def _rw32(proc: Any, addr: int, fn: Any) -> int:
    (old,) = struct.unpack("<i", proc.read(addr, 4))
    new, ret = fn(old)
    proc.write(addr, struct.pack("<i", ((new + 0x80000000) & 0xFFFFFFFF) - 0x80000000))
    return int(ret)


@winapi("kernel32", args=(PTR,), ret=INT)
def InterlockedIncrement(proc: Any, addr: int) -> int:
    return _rw32(proc, addr, lambda v: (v + 1, v + 1))


@winapi("kernel32", args=(PTR,), ret=INT)
def InterlockedDecrement(proc: Any, addr: int) -> int:
    return _rw32(proc, addr, lambda v: (v - 1, v - 1))


@winapi("kernel32", args=(PTR, INT), ret=INT)
def InterlockedExchange(proc: Any, addr: int, value: int) -> int:
    return _rw32(proc, addr, lambda v: (value, v))


@winapi("kernel32", args=(PTR, INT, INT), ret=INT)
def InterlockedCompareExchange(proc: Any, addr: int, value: int, compare: int) -> int:
    return _rw32(proc, addr, lambda v: (value if v == compare else v, v))


@winapi("kernel32", args=(PTR, INT), ret=INT)
def InterlockedExchangeAdd(proc: Any, addr: int, value: int) -> int:
    return _rw32(proc, addr, lambda v: (v + value, v))


def _new(proc: Any, kind: str, signaled: bool, count: int = 0) -> int:
    return int(proc.handles.add(SyncObject(kind, signaled, count)))


@winapi("kernel32", args=(PTR, BOOL, BOOL, STR), ret=HANDLE)
def CreateEventA(proc: Any, sa: int, manual: int, initial: int, name: int) -> int:
    return _new(proc, "event" if manual else "auto-event", bool(initial))


@winapi("kernel32", args=(PTR, BOOL, BOOL, WSTR), ret=HANDLE)
def CreateEventW(proc: Any, sa: int, manual: int, initial: int, name: int) -> int:
    return _new(proc, "event" if manual else "auto-event", bool(initial))


@winapi("kernel32", args=(PTR, WSTR, UINT, UINT), ret=HANDLE)
def CreateEventExW(proc: Any, sa: int, name: int, flags: int, access: int) -> int:
    return _new(proc, "event" if flags & 1 else "auto-event", bool(flags & 2))


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def SetEvent(proc: Any, handle: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, SyncObject):
        proc.set_last_error(6)
        return 0
    obj.signaled = True
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def ResetEvent(proc: Any, handle: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, SyncObject):
        proc.set_last_error(6)
        return 0
    obj.signaled = False
    return 1


@winapi("kernel32", args=(PTR, BOOL, STR), ret=HANDLE)
def CreateMutexA(proc: Any, sa: int, owned: int, name: int) -> int:
    return _new(proc, "mutex", True)


@winapi("kernel32", args=(PTR, BOOL, WSTR), ret=HANDLE)
def CreateMutexW(proc: Any, sa: int, owned: int, name: int) -> int:
    return _new(proc, "mutex", True)


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def ReleaseMutex(proc: Any, handle: int) -> int:
    return 1


@winapi("kernel32", args=(PTR, INT, INT, STR), ret=HANDLE)
def CreateSemaphoreA(proc: Any, sa: int, initial: int, maximum: int, name: int) -> int:
    return _new(proc, "semaphore", initial > 0, initial)


@winapi("kernel32", args=(PTR, INT, INT, WSTR), ret=HANDLE)
def CreateSemaphoreW(proc: Any, sa: int, initial: int, maximum: int, name: int) -> int:
    return _new(proc, "semaphore", initial > 0, initial)


@winapi("kernel32", args=(HANDLE, INT, PTR), ret=BOOL)
def ReleaseSemaphore(proc: Any, handle: int, count: int, previous: int) -> int:
    obj = proc.handles.get(handle)
    if not isinstance(obj, SyncObject):
        proc.set_last_error(6)
        return 0
    if previous:
        proc.write_u32(previous, obj.count)
    obj.count += count
    obj.signaled = obj.count > 0
    return 1


def _wait_one(proc: Any, handle: int, timeout: int) -> int:
    obj = proc.handles.get(handle)
    if handle in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFFFFFFFFFE):
        obj = SyncObject("self", False)
    if obj is None:
        proc.set_last_error(6)
        return WAIT_FAILED
    if isinstance(obj, SyncObject) and obj.signaled:
        if obj.kind == "auto-event":
            obj.signaled = False
        elif obj.kind == "semaphore":
            obj.count -= 1
            obj.signaled = obj.count > 0
        return WAIT_OBJECT_0
    if not isinstance(obj, SyncObject):
        return WAIT_OBJECT_0
    if timeout == 0xFFFFFFFF:
        from ...process import GuestCrash

        raise GuestCrash(0xC0000194, 0)  # STATUS_POSSIBLE_DEADLOCK: no other thread can signal
    proc.clock.sleep(min(timeout, 10_000) * 1_000_000)
    return WAIT_TIMEOUT


@winapi("kernel32", args=(HANDLE, UINT), ret=UINT)
def WaitForSingleObject(proc: Any, handle: int, timeout: int) -> int:
    return _wait_one(proc, handle, timeout)


@winapi("kernel32", args=(HANDLE, UINT, BOOL), ret=UINT)
def WaitForSingleObjectEx(proc: Any, handle: int, timeout: int, alertable: int) -> int:
    return _wait_one(proc, handle, timeout)


@winapi("kernel32", args=(UINT, PTR, BOOL, UINT), ret=UINT)
def WaitForMultipleObjects(proc: Any, count: int, handles: int, wait_all: int, timeout: int) -> int:
    for i in range(count):
        h = proc.read_ptr(handles + i * proc.word)
        obj = proc.handles.get(h)
        if isinstance(obj, SyncObject) and obj.signaled:
            return _wait_one(proc, h, 0) + i
    return _wait_one(proc, proc.read_ptr(handles), timeout) if count else WAIT_FAILED


@winapi("kernel32", args=(PTR, UINT, PTR, PTR), ret=BOOL)
def InitOnceExecuteOnce(proc: Any, once: int, fn: int, param: int, context: int) -> int:
    """Run the callback the first time; the INIT_ONCE word remembers it."""
    if proc.read_ptr(once) == 2:
        return 1
    ok = proc.call(fn, once, param, context) & 0xFFFFFFFF
    if ok:
        proc.write_ptr(once, 2)
    return 1 if ok else 0


@winapi("kernel32", args=(PTR, UINT, PTR, PTR), ret=BOOL)
def InitOnceBeginInitialize(proc: Any, once: int, flags: int, pending: int, context: int) -> int:
    done = proc.read_ptr(once) == 2
    if pending:
        proc.write_u32(pending, 0 if done else 1)
    return 1


@winapi("kernel32", args=(PTR, UINT, PTR), ret=BOOL)
def InitOnceComplete(proc: Any, once: int, flags: int, context: int) -> int:
    proc.write_ptr(once, 2)
    return 1


@winapi("kernel32", args=(PTR, PTR, UINT, PTR), ret=BOOL)
def SleepConditionVariableCS(proc: Any, cv: int, cs: int, ms: int, unused: int) -> int:
    proc.set_last_error(WAIT_TIMEOUT)
    return 0


@winapi("kernel32", ret=BOOL)
def SwitchToThread(proc: Any) -> int:
    return 0


@winapi("kernel32", args=(PTR, UINT, PTR, PTR, UINT, PTR), ret=HANDLE)
def CreateThread(proc: Any, sa: int, stack: int, fn: int, param: int, flags: int, tid: int) -> int:
    """Threads are not supported yet: ERROR_NOT_ENOUGH_MEMORY, as when none can be created."""
    proc.set_last_error(8)
    return 0


@winapi("kernel32", args=(HANDLE, HANDLE, HANDLE, PTR, UINT, BOOL, UINT), ret=BOOL)
def DuplicateHandle(proc: Any, src_proc: int, handle: int, dst_proc: int, out: int, access: int,
                    inherit: int, options: int) -> int:  # fmt: skip
    obj = proc.handles.get(handle)
    if obj is None:
        proc.set_last_error(6)
        return 0
    if out:
        proc.write_ptr(out, proc.handles.add(obj))
    return 1
