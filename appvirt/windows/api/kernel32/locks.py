"""Locks that live in the program's own memory: critical sections, SRW locks, condition
variables, one-time initialisation, WaitOnAddress, and the exported Interlocked functions.

Their state is kept where Windows keeps it (a CRITICAL_SECTION's owner and recursion count, an
SRWLOCK word), so a program that peeks at them sees sensible values; who waits for them is kept
by the scheduler. Every lock is keyed by (process, address): the key is what a release signals.
"""

from __future__ import annotations

import struct
from typing import Any

from ...sync import ERROR_TIMEOUT, Wait, deadline_after, take_or_wait
from ..decl import BOOL, INT, PTR, SIZE, UINT, VOID, winapi

SRW_LOCKED, SRW_SHARED_ONE = 0x1, 0x10
INIT_ONCE_DONE, INIT_ONCE_BUSY = 2, 1
CONDITION_VARIABLE_LOCKMODE_SHARED = 1


# -- critical sections --------------------------------------------------------------------------
def _cs_fields(proc: Any, cs: int) -> tuple[int, int, int]:
    """(LockCount, RecursionCount, OwningThread) of a CRITICAL_SECTION."""
    p = proc.word
    lock, depth = struct.unpack("<ii", proc.read(cs + p, 8))
    return lock, depth, proc.read_ptr(cs + p + 8)


def _cs_store(proc: Any, cs: int, depth: int, owner: int) -> None:
    p = proc.word
    proc.write(cs + p, struct.pack("<ii", -2 if owner else -1, depth))
    proc.write_ptr(cs + p + 8, owner)


def cs_try(proc: Any, cs: int) -> bool:
    _lock, depth, owner = _cs_fields(proc, cs)
    if owner and owner != proc.tid and depth > 0:
        return False
    _cs_store(proc, cs, depth + 1 if owner == proc.tid else 1, proc.tid)
    return True


def cs_release_all(proc: Any, cs: int) -> int:
    """Leave a critical section whatever its recursion; returns the depth to restore later."""
    _lock, depth, _owner = _cs_fields(proc, cs)
    _cs_store(proc, cs, 0, 0)
    proc.sched.signal(("cs", proc, cs))
    return max(depth, 1)


def _cs_size(proc: Any) -> int:
    """RTL_CRITICAL_SECTION: DebugInfo, LockCount, RecursionCount, OwningThread, LockSemaphore,
    SpinCount (24 bytes on x86, 40 on x64)."""
    return int(4 * proc.word + 8)


def _cs_init(proc: Any, cs: int, spin: int = 0) -> None:
    proc.write(cs, bytes(_cs_size(proc)))
    _cs_store(proc, cs, 0, 0)
    proc.write_ptr(cs + _cs_size(proc) - proc.word, spin)


@winapi("kernel32", args=(PTR,), ret=VOID)
def InitializeCriticalSection(proc: Any, cs: int) -> None:
    """A free critical section: LockCount -1, no owner."""
    _cs_init(proc, cs)


@winapi("kernel32", args=(PTR, UINT), ret=BOOL)
def InitializeCriticalSectionAndSpinCount(proc: Any, cs: int, spin: int) -> int:
    _cs_init(proc, cs, spin)
    return 1


@winapi("kernel32", args=(PTR, UINT, UINT), ret=BOOL)
def InitializeCriticalSectionEx(proc: Any, cs: int, spin: int, flags: int) -> int:
    _cs_init(proc, cs, spin)
    return 1


@winapi("kernel32", args=(PTR, UINT), ret=UINT)
def SetCriticalSectionSpinCount(proc: Any, cs: int, spin: int) -> int:
    old = proc.read_ptr(cs + _cs_size(proc) - proc.word)
    proc.write_ptr(cs + _cs_size(proc) - proc.word, spin)
    return int(old) & 0xFFFFFFFF


@winapi("kernel32", args=(PTR,), ret=VOID)
def EnterCriticalSection(proc: Any, cs: int) -> None:
    """Take the lock (recursively for its owner); another thread's lock makes the caller wait."""
    take_or_wait(lambda: cs_try(proc, cs), ("cs", proc, cs))


@winapi("kernel32", args=(PTR,), ret=BOOL)
def TryEnterCriticalSection(proc: Any, cs: int) -> int:
    return int(cs_try(proc, cs))


@winapi("kernel32", args=(PTR,), ret=VOID)
def LeaveCriticalSection(proc: Any, cs: int) -> None:
    """Drop one level; the last one frees the lock and hands it to a waiting thread."""
    _lock, depth, owner = _cs_fields(proc, cs)
    if depth > 1:
        _cs_store(proc, cs, depth - 1, owner)
        return
    _cs_store(proc, cs, 0, 0)
    proc.sched.signal(("cs", proc, cs))


@winapi("kernel32", args=(PTR,), ret=VOID)
def DeleteCriticalSection(proc: Any, cs: int) -> None:
    proc.write(cs, bytes(_cs_size(proc)))


# -- slim reader/writer locks ---------------------------------------------------------------------
def srw_try(proc: Any, lock: int, shared: bool) -> bool:
    value = proc.read_ptr(lock)
    if shared:
        if value == SRW_LOCKED:  # held exclusively
            return False
        proc.write_ptr(lock, (value or SRW_LOCKED) + SRW_SHARED_ONE)
        return True
    if value:
        return False
    proc.write_ptr(lock, SRW_LOCKED)
    return True


def srw_release(proc: Any, lock: int, shared: bool) -> None:
    value = proc.read_ptr(lock)
    if shared and value > SRW_LOCKED + SRW_SHARED_ONE:
        proc.write_ptr(lock, value - SRW_SHARED_ONE)
        return
    proc.write_ptr(lock, 0)
    proc.sched.signal(("srw", proc, lock))


def _srw_acquire(proc: Any, lock: int, shared: bool) -> None:
    take_or_wait(lambda: srw_try(proc, lock, shared), ("srw", proc, lock))


@winapi("kernel32", args=(PTR,), ret=VOID)
def InitializeSRWLock(proc: Any, lock: int) -> None:
    proc.write_ptr(lock, 0)


@winapi("kernel32", args=(PTR,), ret=VOID)
def AcquireSRWLockExclusive(proc: Any, lock: int) -> None:
    """Take an SRW lock alone, waiting for its readers or writer to leave."""
    _srw_acquire(proc, lock, False)


@winapi("kernel32", args=(PTR,), ret=VOID)
def AcquireSRWLockShared(proc: Any, lock: int) -> None:
    """Take an SRW lock with other readers, waiting while a writer holds it."""
    _srw_acquire(proc, lock, True)


@winapi("kernel32", args=(PTR,), ret=VOID)
def ReleaseSRWLockExclusive(proc: Any, lock: int) -> None:
    srw_release(proc, lock, False)


@winapi("kernel32", args=(PTR,), ret=VOID)
def ReleaseSRWLockShared(proc: Any, lock: int) -> None:
    srw_release(proc, lock, True)


@winapi("kernel32", args=(PTR,), ret=BOOL)
def TryAcquireSRWLockExclusive(proc: Any, lock: int) -> int:
    return int(srw_try(proc, lock, False))


@winapi("kernel32", args=(PTR,), ret=BOOL)
def TryAcquireSRWLockShared(proc: Any, lock: int) -> int:
    return int(srw_try(proc, lock, True))


# -- condition variables --------------------------------------------------------------------------
def _sleeping(proc: Any) -> dict[Any, list[dict[str, bool]]]:
    """Condition-variable and address waiters of the run, oldest first, by key."""
    return proc.sched.sleepers  # type: ignore[no-any-return]


def _sleep_on(proc: Any, key: Any, ms: int, relock: Any, lock_key: Any) -> int:
    """Queue on ``key`` (the lock is already released), then re-take the lock with ``relock``."""
    token = {"woken": False}
    _sleeping(proc).setdefault(key, []).append(token)

    def poll(wait: Wait, timed_out: bool) -> int | None:
        if not token["woken"]:
            if not timed_out:
                return None
            token["woken"] = True
            token["timeout"] = True
            queue = _sleeping(proc).get(key, [])
            if token in queue:
                queue.remove(token)
            wait.deadline = None
        if not relock():
            return None
        if token.get("timeout"):
            proc.set_last_error(ERROR_TIMEOUT)
            return 0
        return 1

    wait = Wait(poll, deadline_after(proc, ms), (key, lock_key))
    result = poll(wait, ms == 0)
    if result is not None:
        return result
    raise wait


@winapi("kernel32", args=(PTR,), ret=VOID)
def InitializeConditionVariable(proc: Any, cv: int) -> None:
    proc.write_ptr(cv, 0)


@winapi("kernel32", args=(PTR, PTR, UINT), ret=BOOL)
def SleepConditionVariableCS(proc: Any, cv: int, cs: int, ms: int) -> int:
    """Leave the critical section, wait for a wake or the timeout, enter it again.

    A timeout returns FALSE with ERROR_TIMEOUT."""
    depth = cs_release_all(proc, cs)

    def relock() -> bool:
        if not cs_try(proc, cs):
            return False
        _cs_store(proc, cs, depth, proc.tid)
        return True

    return _sleep_on(proc, ("cv", proc, cv), ms, relock, ("cs", proc, cs))


@winapi("kernel32", args=(PTR, PTR, UINT, UINT), ret=BOOL)
def SleepConditionVariableSRW(proc: Any, cv: int, lock: int, ms: int, flags: int) -> int:
    """As SleepConditionVariableCS for an SRW lock held shared (flags 1) or exclusively."""
    shared = bool(flags & CONDITION_VARIABLE_LOCKMODE_SHARED)
    srw_release(proc, lock, shared)
    return _sleep_on(proc, ("cv", proc, cv), ms, lambda: srw_try(proc, lock, shared),
                     ("srw", proc, lock))  # fmt: skip


def _wake(proc: Any, key: Any, everyone: bool) -> None:
    queue = _sleeping(proc).get(key)
    if not queue:
        return
    for token in queue[:] if everyone else queue[:1]:
        token["woken"] = True
        queue.remove(token)
    proc.sched.signal(key)


@winapi("kernel32", args=(PTR,), ret=VOID)
def WakeConditionVariable(proc: Any, cv: int) -> None:
    """Wake the longest-waiting thread (it then takes its lock back)."""
    _wake(proc, ("cv", proc, cv), False)


@winapi("kernel32", args=(PTR,), ret=VOID)
def WakeAllConditionVariable(proc: Any, cv: int) -> None:
    _wake(proc, ("cv", proc, cv), True)


# -- WaitOnAddress --------------------------------------------------------------------------------
@winapi("kernel32", args=(PTR, PTR, SIZE, UINT), ret=BOOL)
def WaitOnAddress(proc: Any, addr: int, compare: int, size: int, ms: int) -> int:
    """Sleep while the value at addr equals the one at compare (1, 2, 4 or 8 bytes).

    Until WakeByAddress* names the address, or the timeout passes (FALSE, ERROR_TIMEOUT)."""
    if size not in (1, 2, 4, 8):
        proc.set_last_error(87)
        return 0
    if proc.read(addr, size) != proc.read(compare, size):
        return 1
    return _sleep_on(proc, ("addr", proc, addr), ms, lambda: True, ("addr", proc, addr))


@winapi("kernel32", args=(PTR,), ret=VOID)
def WakeByAddressSingle(proc: Any, addr: int) -> None:
    _wake(proc, ("addr", proc, addr), False)


@winapi("kernel32", args=(PTR,), ret=VOID)
def WakeByAddressAll(proc: Any, addr: int) -> None:
    _wake(proc, ("addr", proc, addr), True)


# -- one-time initialisation --------------------------------------------------------------------
def _once_wait(proc: Any, once: int) -> None:
    """Another thread is initialising: wait until it completes (or gives up)."""

    def poll(_wait: Wait, _timed_out: bool) -> int | None:
        return None if proc.read_ptr(once) & 3 == INIT_ONCE_BUSY else 0

    raise Wait(poll, None, (("once", proc, once),))


@winapi("kernel32", args=(PTR,), ret=VOID)
def InitOnceInitialize(proc: Any, once: int) -> None:
    proc.write_ptr(once, 0)


@winapi("kernel32", args=(PTR, PTR, PTR, PTR), ret=BOOL)
def InitOnceExecuteOnce(proc: Any, once: int, fn: int, param: int, context: int) -> int:
    """Run the callback the first time; later callers see it done (the INIT_ONCE word keeps it)."""
    state = proc.read_ptr(once) & 3
    if state == INIT_ONCE_DONE:
        return 1
    if state == INIT_ONCE_BUSY:
        _once_wait(proc, once)
    proc.write_ptr(once, INIT_ONCE_BUSY)
    ok = 0
    try:
        ok = proc.call(fn, once, param, context) & 0xFFFFFFFF
    finally:
        proc.write_ptr(once, INIT_ONCE_DONE if ok else 0)
        proc.sched.signal(("once", proc, once))
    return 1 if ok else 0


@winapi("kernel32", args=(PTR, UINT, PTR, PTR), ret=BOOL)
def InitOnceBeginInitialize(proc: Any, once: int, flags: int, pending: int, context: int) -> int:
    """Start (pending TRUE) or find done (pending FALSE) a one-time initialisation."""
    state = proc.read_ptr(once) & 3
    if state == INIT_ONCE_BUSY and not flags & 1:
        _once_wait(proc, once)
    if state != INIT_ONCE_DONE and flags & 1:  # INIT_ONCE_CHECK_ONLY
        proc.set_last_error(31)  # ERROR_GEN_FAILURE
        return 0
    if state == 0:
        proc.write_ptr(once, INIT_ONCE_BUSY)
    if pending:
        proc.write_u32(pending, int(state != INIT_ONCE_DONE))
    return 1


@winapi("kernel32", args=(PTR, UINT, PTR), ret=BOOL)
def InitOnceComplete(proc: Any, once: int, flags: int, context: int) -> int:
    proc.write_ptr(once, 0 if flags & 4 else INIT_ONCE_DONE)  # INIT_ONCE_INIT_FAILED
    proc.sched.signal(("once", proc, once))
    return 1


# -- Interlocked (32-bit kernel32 exports; compilers usually inline them) -----------------------
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
