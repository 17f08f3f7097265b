"""Kernel objects a thread can wait for, and the waiting itself.

Events, mutexes, semaphores, threads, processes and jobs are Python objects shared by every
process that holds a handle to them (handles are per process, objects are not). A wait is tried
at once; when it cannot be satisfied the handler raises ``Wait``, and the scheduler (sched.py)
parks the thread and calls ``Wait.poll`` again whenever something the wait names in ``keys`` is
signalled, or its deadline passes. ``poll`` performs the acquisition itself (an auto-reset event
resets, a semaphore count drops, a mutex gets its owner) and returns the API's result, so a
waiter woken by SetEvent owns the signal before the thread that set it can take it back, as on
Windows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

WAIT_OBJECT_0, WAIT_ABANDONED_0, WAIT_TIMEOUT, WAIT_FAILED = 0, 0x80, 0x102, 0xFFFFFFFF
INFINITE = 0xFFFFFFFF
STILL_ACTIVE = 259
ERROR_INVALID_HANDLE, ERROR_TIMEOUT, ERROR_NOT_OWNER = 6, 1460, 288
ERROR_TOO_MANY_POSTS, ERROR_ALREADY_EXISTS, ERROR_INVALID_PARAMETER = 298, 183, 87


class Wait(Exception):
    """Raised by a handler whose thread must wait.

    ``poll(wait, timed_out)`` returns the call's result once the wait is over (None: keep
    waiting); it may clear ``deadline`` or change ``keys`` (a condition variable's waiter first
    waits for a wake, then for its lock). ``deadline`` is in the run clock's monotonic ns.
    """

    def __init__(
        self,
        poll: Callable[[Wait, bool], int | None],
        deadline: int | None = None,
        keys: tuple[Hashable, ...] = (),
    ) -> None:
        super().__init__("wait")
        self.poll = poll
        self.deadline = deadline
        self.keys = keys


def take_or_wait(take: Callable[[], bool], key: Hashable) -> None:
    """Take a lock now (``take()`` succeeds), or wait until a release signals ``key`` and
    ``take()`` succeeds then: critical sections, SRW locks, the CRT's locks."""
    if take():
        return

    def poll(_wait: Wait, _timed_out: bool) -> int | None:
        return 0 if take() else None

    raise Wait(poll, None, (key,))


def deadline_after(proc: Any, ms: int) -> int | None:
    """The deadline of a wait of ``ms`` milliseconds (None for INFINITE)."""
    if ms == INFINITE:
        return None
    return int(proc.clock.monotonic_ns()) + ms * 1_000_000


class KObject:
    """A waitable kernel object. ``handles`` counts the handles open on it in every process."""

    kind = "object"
    name = ""
    handles = 0

    def signaled(self, thread: Any) -> bool:
        return True

    def acquire(self, thread: Any) -> bool:
        """Take the signal for ``thread``; True when it was an abandoned mutex."""
        return False

    def last_handle_closed(self, sched: Any) -> None:
        """The last handle to the object went away (a job kills its processes, a name is freed)."""
        if self.name and sched is not None and sched.names.get(self.name) is self:
            del sched.names[self.name]


@dataclass(eq=False)
class Event(KObject):
    manual: bool
    state: bool
    kind = "event"

    def signaled(self, thread: Any) -> bool:
        return self.state

    def acquire(self, thread: Any) -> bool:
        if not self.manual:
            self.state = False
        return False


@dataclass(eq=False)
class Semaphore(KObject):
    count: int
    maximum: int
    kind = "semaphore"

    def signaled(self, thread: Any) -> bool:
        return self.count > 0

    def acquire(self, thread: Any) -> bool:
        self.count -= 1
        return False


@dataclass(eq=False)
class Mutex(KObject):
    """Owned by a thread, recursively; a thread that ends owning it leaves it abandoned."""

    owner: Any = None
    depth: int = 0
    abandoned: bool = False
    kind = "mutex"

    def signaled(self, thread: Any) -> bool:
        return self.owner is None or self.owner is thread

    def acquire(self, thread: Any) -> bool:
        if self.owner is None:
            self.owner = thread
            thread.mutexes.append(self)
        self.depth += 1
        was, self.abandoned = self.abandoned, False
        return was

    def release(self, thread: Any) -> bool:
        if self.owner is not thread:
            return False
        self.depth -= 1
        if self.depth == 0:
            self.owner = None
            thread.mutexes.remove(self)
        return True

    def abandon(self) -> None:
        self.owner = None
        self.depth = 0
        self.abandoned = True


@dataclass(eq=False)
class Job(KObject):
    """A job object: the processes assigned to it and the limit flags a launcher sets."""

    processes: list[Any] = field(default_factory=list)
    limit_flags: int = 0
    kind = "job"

    def signaled(self, thread: Any) -> bool:
        return False

    def last_handle_closed(self, sched: Any) -> None:
        super().last_handle_closed(sched)
        if self.limit_flags & JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and sched is not None:
            for pobj in list(self.processes):
                sched.end_process(pobj, 0)


JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000


def try_wait(thread: Any, objects: list[Any], wait_all: bool) -> int | None:
    """WaitForMultipleObjects' rule: the result when the wait is satisfied now, else None."""
    if wait_all:
        if not all(o.signaled(thread) for o in objects):
            return None
        abandoned = [o.acquire(thread) for o in objects]
        return WAIT_ABANDONED_0 if any(abandoned) else WAIT_OBJECT_0
    for i, obj in enumerate(objects):
        if obj.signaled(thread):
            return (WAIT_ABANDONED_0 if obj.acquire(thread) else WAIT_OBJECT_0) + i
    return None


class Never(KObject):
    """What a wait on the current process or thread pseudo-handle waits for: itself to end."""

    def signaled(self, thread: Any) -> bool:
        return False


NEVER = Never()


def add_handle(proc: Any, obj: Any, inherit: bool = False) -> int:
    """A new handle to ``obj`` in ``proc``'s table."""
    handle = int(proc.handles.add(obj))
    if isinstance(obj, KObject):
        obj.handles += 1
    if inherit:
        proc.handles.inheritable.add(handle)
    return handle


def drop_handle(proc: Any, obj: Any) -> None:
    """A handle to ``obj`` was closed (CloseHandle or the process ended)."""
    if isinstance(obj, KObject):
        obj.handles -= 1
        if obj.handles <= 0:
            obj.last_handle_closed(proc.sched)
