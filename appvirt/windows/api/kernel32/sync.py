"""Waitable objects: events, mutexes, semaphores, the wait functions, and handle duplication.

The objects themselves and the wait rule live in appvirt/windows/sync.py; a wait that cannot be
satisfied at once parks the calling thread (sched.py) until another thread signals the object,
the object's owner ends, or the timeout passes. Named objects are shared by every process of the
run (the ``Global\\``/``Local\\`` prefix is ignored: one session).
"""

from __future__ import annotations

from typing import Any

from ...sync import (
    ERROR_ALREADY_EXISTS,
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    ERROR_NOT_OWNER,
    ERROR_TOO_MANY_POSTS,
    NEVER,
    WAIT_FAILED,
    WAIT_TIMEOUT,
    Event,
    KObject,
    Mutex,
    Semaphore,
    Wait,
    add_handle,
    deadline_after,
    drop_handle,
    try_wait,
)
from ..decl import BOOL, HANDLE, INT, PTR, STR, UINT, WSTR, winapi

MAXIMUM_WAIT_OBJECTS = 64
ALWAYS = KObject()  # what a wait on a file or console handle waits for: nothing
ERROR_FILE_NOT_FOUND = 2


def inherit_flag(proc: Any, sa: int) -> bool:
    """SECURITY_ATTRIBUTES.bInheritHandle (NULL attributes: not inheritable)."""
    if not sa:
        return False
    return bool(proc.read_u32(sa + (16 if proc.is64 else 8)))


def is_pseudo(proc: Any, handle: int, which: int) -> bool:
    """GetCurrentProcess() (-1) or GetCurrentThread() (-2) in either width."""
    return handle == (which & ((1 << (8 * proc.word)) - 1)) or handle == which & 0xFFFFFFFF


def lookup(proc: Any, handle: int) -> Any:
    """The object behind a handle, with the two pseudo-handles resolved; None when not open."""
    if is_pseudo(proc, handle, -1):
        return proc.thread.pobj
    if is_pseudo(proc, handle, -2):
        return proc.thread
    return proc.handles.get(handle)


def _object_name(proc: Any, name: int, wide: bool) -> str:
    if not name:
        return ""
    text = proc.read_wstr(name) if wide else proc.read_str(name)
    for prefix in ("Global\\", "Local\\", "Session\\"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def create_named(proc: Any, obj: KObject, name: str, inherit: bool) -> int:
    """A handle to a new object, or to the existing object of that name (ERROR_ALREADY_EXISTS)."""
    sched = proc.sched
    if name:
        existing = sched.names.get(name)
        if existing is not None:
            if existing.kind != obj.kind:
                proc.set_last_error(ERROR_INVALID_HANDLE)
                return 0
            handle = add_handle(proc, existing, inherit)
            proc.set_last_error(ERROR_ALREADY_EXISTS)
            return handle
        obj.name = name
        sched.names[name] = obj
    proc.set_last_error(0)
    return add_handle(proc, obj, inherit)


def open_named(proc: Any, name: str, kind: str, inherit: bool) -> int:
    existing = proc.sched.names.get(name) if name else None
    if existing is None or existing.kind != kind:
        proc.set_last_error(ERROR_FILE_NOT_FOUND if existing is None else ERROR_INVALID_HANDLE)
        return 0
    return add_handle(proc, existing, inherit)


# -- events ---------------------------------------------------------------------------------------
def _event(proc: Any, sa: int, manual: int, initial: int, name: str) -> int:
    return create_named(proc, Event(bool(manual), bool(initial)), name, inherit_flag(proc, sa))


@winapi("kernel32", args=(PTR, BOOL, BOOL, STR), ret=HANDLE)
def CreateEventA(proc: Any, sa: int, manual: int, initial: int, name: int) -> int:
    """A manual- or auto-reset event; a name shared by every process of the run."""
    return _event(proc, sa, manual, initial, _object_name(proc, name, False))


@winapi("kernel32", args=(PTR, BOOL, BOOL, WSTR), ret=HANDLE)
def CreateEventW(proc: Any, sa: int, manual: int, initial: int, name: int) -> int:
    return _event(proc, sa, manual, initial, _object_name(proc, name, True))


@winapi("kernel32", args=(PTR, STR, UINT, UINT), ret=HANDLE)
def CreateEventExA(proc: Any, sa: int, name: int, flags: int, access: int) -> int:
    return _event(proc, sa, flags & 1, flags & 2, _object_name(proc, name, False))


@winapi("kernel32", args=(PTR, WSTR, UINT, UINT), ret=HANDLE)
def CreateEventExW(proc: Any, sa: int, name: int, flags: int, access: int) -> int:
    return _event(proc, sa, flags & 1, flags & 2, _object_name(proc, name, True))


@winapi("kernel32", args=(UINT, BOOL, STR), ret=HANDLE)
def OpenEventA(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, False), "event", bool(inherit))


@winapi("kernel32", args=(UINT, BOOL, WSTR), ret=HANDLE)
def OpenEventW(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, True), "event", bool(inherit))


def _typed(proc: Any, handle: int, kind: type) -> Any:
    obj = proc.handles.get(handle)
    if not isinstance(obj, kind):
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return None
    return obj


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def SetEvent(proc: Any, handle: int) -> int:
    """Signal an event: an auto-reset event goes to one waiting thread, which takes it at once."""
    event = _typed(proc, handle, Event)
    if event is None:
        return 0
    event.state = True
    proc.sched.signal(event)
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def ResetEvent(proc: Any, handle: int) -> int:
    event = _typed(proc, handle, Event)
    if event is None:
        return 0
    event.state = False
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def PulseEvent(proc: Any, handle: int) -> int:
    """Release the threads waiting now (one for an auto-reset event), then reset."""
    event = _typed(proc, handle, Event)
    if event is None:
        return 0
    event.state = True
    proc.sched.signal(event)
    event.state = False
    return 1


# -- mutexes and semaphores ---------------------------------------------------------------------
def _mutex(proc: Any, sa: int, owned: bool, name: str) -> int:
    mutex = Mutex()
    handle = create_named(proc, mutex, name, inherit_flag(proc, sa))
    if handle and owned and proc.handles.get(handle) is mutex:
        mutex.acquire(proc.thread)
    return handle


@winapi("kernel32", args=(PTR, BOOL, STR), ret=HANDLE)
def CreateMutexA(proc: Any, sa: int, owned: int, name: int) -> int:
    """A mutex, owned by the caller when asked; ERROR_ALREADY_EXISTS for a name in use."""
    return _mutex(proc, sa, bool(owned), _object_name(proc, name, False))


@winapi("kernel32", args=(PTR, BOOL, WSTR), ret=HANDLE)
def CreateMutexW(proc: Any, sa: int, owned: int, name: int) -> int:
    return _mutex(proc, sa, bool(owned), _object_name(proc, name, True))


@winapi("kernel32", args=(PTR, STR, UINT, UINT), ret=HANDLE)
def CreateMutexExA(proc: Any, sa: int, name: int, flags: int, access: int) -> int:
    return _mutex(proc, sa, bool(flags & 1), _object_name(proc, name, False))


@winapi("kernel32", args=(PTR, WSTR, UINT, UINT), ret=HANDLE)
def CreateMutexExW(proc: Any, sa: int, name: int, flags: int, access: int) -> int:
    return _mutex(proc, sa, bool(flags & 1), _object_name(proc, name, True))


@winapi("kernel32", args=(UINT, BOOL, STR), ret=HANDLE)
def OpenMutexA(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, False), "mutex", bool(inherit))


@winapi("kernel32", args=(UINT, BOOL, WSTR), ret=HANDLE)
def OpenMutexW(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, True), "mutex", bool(inherit))


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def ReleaseMutex(proc: Any, handle: int) -> int:
    """Release one level of ownership; ERROR_NOT_OWNER when the caller does not own it."""
    mutex = _typed(proc, handle, Mutex)
    if mutex is None:
        return 0
    if not mutex.release(proc.thread):
        proc.set_last_error(ERROR_NOT_OWNER)
        return 0
    if mutex.owner is None:
        proc.sched.signal(mutex)
    return 1


def _semaphore(proc: Any, sa: int, initial: int, maximum: int, name: str) -> int:
    if maximum <= 0 or initial < 0 or initial > maximum:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    return create_named(proc, Semaphore(initial, maximum), name, inherit_flag(proc, sa))


@winapi("kernel32", args=(PTR, INT, INT, STR), ret=HANDLE)
def CreateSemaphoreA(proc: Any, sa: int, initial: int, maximum: int, name: int) -> int:
    """A counting semaphore (ERROR_INVALID_PARAMETER unless 0 <= initial <= maximum)."""
    return _semaphore(proc, sa, initial, maximum, _object_name(proc, name, False))


@winapi("kernel32", args=(PTR, INT, INT, WSTR), ret=HANDLE)
def CreateSemaphoreW(proc: Any, sa: int, initial: int, maximum: int, name: int) -> int:
    return _semaphore(proc, sa, initial, maximum, _object_name(proc, name, True))


@winapi("kernel32", args=(PTR, INT, INT, WSTR, UINT, UINT), ret=HANDLE)
def CreateSemaphoreExW(proc: Any, sa: int, initial: int, maximum: int, name: int, flags: int,
                       access: int) -> int:  # fmt: skip
    return _semaphore(proc, sa, initial, maximum, _object_name(proc, name, True))


@winapi("kernel32", args=(UINT, BOOL, STR), ret=HANDLE)
def OpenSemaphoreA(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, False), "semaphore", bool(inherit))


@winapi("kernel32", args=(UINT, BOOL, WSTR), ret=HANDLE)
def OpenSemaphoreW(proc: Any, access: int, inherit: int, name: int) -> int:
    return open_named(proc, _object_name(proc, name, True), "semaphore", bool(inherit))


@winapi("kernel32", args=(HANDLE, INT, PTR), ret=BOOL)
def ReleaseSemaphore(proc: Any, handle: int, count: int, previous: int) -> int:
    """Add ``count``; ERROR_TOO_MANY_POSTS past the maximum (the count is then unchanged)."""
    sem = _typed(proc, handle, Semaphore)
    if sem is None:
        return 0
    if count <= 0 or sem.count + count > sem.maximum:
        proc.set_last_error(ERROR_TOO_MANY_POSTS if count > 0 else ERROR_INVALID_PARAMETER)
        return 0
    if previous:
        proc.write_u32(previous, sem.count)
    sem.count += count
    proc.sched.signal(sem)
    return 1


# -- waiting --------------------------------------------------------------------------------------
def wait_for(proc: Any, handles: list[int], wait_all: bool, ms: int) -> int:
    """Wait for one or all of ``handles``; WAIT_OBJECT_0 + i, WAIT_ABANDONED_0 + i, WAIT_TIMEOUT."""
    objects = []
    for handle in handles:
        obj = lookup(proc, handle)
        if obj is None:
            proc.set_last_error(ERROR_INVALID_HANDLE)
            return WAIT_FAILED
        if obj is proc.thread or obj is proc.thread.pobj:
            obj = NEVER
        objects.append(obj if isinstance(obj, KObject) else ALWAYS)
    thread = proc.thread

    def poll(_wait: Wait | None, timed_out: bool) -> int | None:
        result = try_wait(thread, objects, wait_all)
        if result is None and timed_out:
            return WAIT_TIMEOUT
        return result

    result = poll(None, ms == 0)
    if result is not None:
        return result
    raise Wait(poll, deadline_after(proc, ms), tuple(objects))


@winapi("kernel32", args=(HANDLE, UINT), ret=UINT)
def WaitForSingleObject(proc: Any, handle: int, timeout: int) -> int:
    """Wait for an object (event, mutex, semaphore, thread, process) with a timeout in ms."""
    return wait_for(proc, [handle], False, timeout)


@winapi("kernel32", args=(HANDLE, UINT, BOOL), ret=UINT)
def WaitForSingleObjectEx(proc: Any, handle: int, timeout: int, alertable: int) -> int:
    """As WaitForSingleObject (no APCs are ever queued, so alertable waits are plain waits)."""
    return wait_for(proc, [handle], False, timeout)


def _wait_many(proc: Any, count: int, array: int, wait_all: int, timeout: int) -> int:
    if count == 0 or count > MAXIMUM_WAIT_OBJECTS:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return WAIT_FAILED
    handles = [proc.read_ptr(array + i * proc.word) for i in range(count)]
    return wait_for(proc, handles, bool(wait_all), timeout)


@winapi("kernel32", args=(UINT, PTR, BOOL, UINT), ret=UINT)
def WaitForMultipleObjects(proc: Any, count: int, handles: int, wait_all: int, timeout: int) -> int:
    """Wait for any (lowest index first) or all of up to 64 objects, all taken at once."""
    return _wait_many(proc, count, handles, wait_all, timeout)


@winapi("kernel32", args=(UINT, PTR, BOOL, UINT, BOOL), ret=UINT)
def WaitForMultipleObjectsEx(proc: Any, count: int, handles: int, wait_all: int, timeout: int,
                             alertable: int) -> int:  # fmt: skip
    return _wait_many(proc, count, handles, wait_all, timeout)


@winapi("kernel32", args=(HANDLE, HANDLE, UINT, BOOL), ret=UINT)
def SignalObjectAndWait(proc: Any, signal: int, handle: int, timeout: int, alertable: int) -> int:
    """Signal an event, release a mutex or a semaphore, then wait for the other object."""
    obj = proc.handles.get(signal)
    ok = (
        SetEvent(proc, signal)
        if isinstance(obj, Event)
        else ReleaseMutex(proc, signal)
        if isinstance(obj, Mutex)
        else ReleaseSemaphore(proc, signal, 1, 0)
        if isinstance(obj, Semaphore)
        else 0
    )
    if not ok:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return WAIT_FAILED
    return wait_for(proc, [handle], False, timeout)


# -- handles --------------------------------------------------------------------------------------
@winapi("kernel32", args=(HANDLE, HANDLE, HANDLE, PTR, UINT, BOOL, UINT), ret=BOOL)
def DuplicateHandle(proc: Any, src_proc: int, handle: int, dst_proc: int, out: int, access: int,
                    inherit: int, options: int) -> int:  # fmt: skip
    """Another handle to the same object, in this or another process of the run."""
    from ...spawn import copy_handle_object

    source = lookup(proc, src_proc)
    target = lookup(proc, dst_proc)
    if getattr(source, "kind", "") != "process" or getattr(target, "kind", "") != "process":
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    src, dst = source.proc, target.proc
    obj = lookup(src, handle) if src is proc else src.handles.get(handle)
    if obj is None or source.exit_code is not None or target.exit_code is not None:
        proc.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    new = add_handle(dst, copy_handle_object(obj), bool(inherit))
    if out:
        proc.write_ptr(out, new)
    if options & 1:  # DUPLICATE_CLOSE_SOURCE
        from .files import CloseHandle

        if src is proc:
            CloseHandle(proc, handle)
        elif src.handles.get(handle) is not None:
            drop_handle(src, src.handles.close(handle))
    return 1
