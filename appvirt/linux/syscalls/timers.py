"""POSIX per-process timers: timer_create, timer_settime, timer_gettime, timer_getoverrun,
timer_delete.

A timer lives in its process (not inherited by fork, gone at exec) and fires on the guest's
monotonic clock, like ``alarm``: the kernel's timer pass (``Kernel._timers``) sends its signal
when it is due and re-arms it by its interval, counting overruns when it falls behind. Notification
SIGEV_SIGNAL and SIGEV_THREAD_ID send ``sigev_signo`` (to the process; a thread-directed timer goes
to its thread when that thread still exists), SIGEV_NONE only keeps time. The signal carries no
``si_value`` (handlers installed with SA_SIGINFO see the signal, not the cookie).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..syscall import Arg, SyscallError, syscall
from ..timerq import next_due, next_timer_ns  # noqa: F401 - re-exported for the kernel

if TYPE_CHECKING:
    from ..kernel import Task
    from ..task import Process

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
TIMER_ABSTIME = 1
CLOCK_REALTIME = 0
SUPPORTED_CLOCKS = {0, 1, 4, 5, 6, 7, 2, 3}  # realtime, monotonic, raw, *_coarse, boottime, cputime
SIGALRM = 14
MAX_TIMERS = 4096


class PosixTimer:
    __slots__ = ("clock", "signo", "notify", "tid", "due_ns", "interval_ns", "overrun")

    def __init__(self, clock: int, signo: int, notify: int, tid: int) -> None:
        self.clock = clock
        self.signo = signo
        self.notify = notify
        self.tid = tid
        self.due_ns = 0  # guest monotonic ns; 0: disarmed
        self.interval_ns = 0
        self.overrun = 0


def timers_of(proc: Process) -> dict[int, PosixTimer]:
    table = proc.posix_timers
    if table is None:
        table = proc.posix_timers = {}
    return table


def fire_due(proc: Process, now: int) -> list[tuple[int, int]]:
    """Advance ``proc``'s due timers; returns (signal, thread id or 0) for each to notify."""
    out = []
    for tm in (proc.posix_timers or {}).values():
        if not tm.due_ns or now < tm.due_ns:
            continue
        if tm.interval_ns:
            missed = (now - tm.due_ns) // tm.interval_ns
            tm.overrun = min(missed, 0x7FFFFFFF)
            tm.due_ns += (missed + 1) * tm.interval_ns
        else:
            tm.overrun = 0
            tm.due_ns = 0
        if tm.notify != SIGEV_NONE:
            out.append((tm.signo, tm.tid if tm.notify & SIGEV_THREAD_ID else 0))
    return out


def _timer(t: Task, timer_id: int) -> PosixTimer:
    tm = (t.proc.posix_timers or {}).get(timer_id)
    if tm is None:
        raise SyscallError(errno.EINVAL)
    return tm


@syscall("timer_create", Arg.CLOCK, Arg.PTR, Arg.PTR)
def sys_timer_create(t: Task, clock: int, sevp: int, idp: int) -> int:
    if clock not in SUPPORTED_CLOCKS:
        raise SyscallError(errno.EINVAL)
    signo, notify, tid = SIGALRM, SIGEV_SIGNAL, 0
    if sevp:
        word = t.proc.abi.word
        signo, notify, tid = struct.unpack_from("<iii", t.proc.mem.read(sevp + word, 12))
        if notify not in (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID):
            raise SyscallError(errno.EINVAL)  # SIGEV_THREAD is glibc's, built on THREAD_ID
        if notify != SIGEV_NONE and not 1 <= signo <= 64:
            raise SyscallError(errno.EINVAL)
        if notify == SIGEV_THREAD_ID and not any(x.tid == tid for x in t.proc.tasks):
            raise SyscallError(errno.EINVAL)
    table = timers_of(t.proc)
    if len(table) >= MAX_TIMERS:
        raise SyscallError(errno.EAGAIN)
    timer_id = next(i for i in range(len(table) + 1) if i not in table)
    table[timer_id] = PosixTimer(clock, signo, notify, tid)
    t.proc.mem.write(idp, struct.pack("<i", timer_id))
    return 0


def _settime(t: Task, timer_id: int, flags: int, new: int, old: int, wide: bool) -> int:
    tm = _timer(t, timer_id)
    abi = t.proc.abi
    size = 16 if wide else 2 * abi.word
    fmt = "<qq" if wide else "<2" + abi.sfmt
    interval_s, interval_ns, value_s, value_ns = struct.unpack(
        fmt + fmt[1:], t.proc.mem.read(new, 2 * size)
    )
    if not (0 <= interval_ns < 1_000_000_000 and 0 <= value_ns < 1_000_000_000):
        raise SyscallError(errno.EINVAL)
    if old:
        _write_spec(t, old, tm, wide)
    kernel = t.proc.kernel
    now = kernel.now_ns()
    value = value_s * 1_000_000_000 + value_ns
    tm.interval_ns = interval_s * 1_000_000_000 + interval_ns
    tm.overrun = 0
    if value <= 0 and not (flags & TIMER_ABSTIME and value_s | value_ns):
        tm.due_ns = 0
    elif flags & TIMER_ABSTIME:
        base = kernel.clock.realtime_ns() if tm.clock == CLOCK_REALTIME else now
        tm.due_ns = max(now + (value - base), now)
    else:
        tm.due_ns = now + value
    if tm.due_ns:
        kernel.timers_changed()
    return 0


def _write_spec(t: Task, ptr: int, tm: PosixTimer, wide: bool) -> None:
    left = max(tm.due_ns - t.proc.kernel.now_ns(), 1) if tm.due_ns else 0
    parts = []
    for ns in (tm.interval_ns, left):
        sec, rem = divmod(ns, 1_000_000_000)
        parts.append(struct.pack("<qq" if wide else "<2" + t.proc.abi.sfmt, sec, rem))
    t.proc.mem.write(ptr, b"".join(parts))


@syscall("timer_settime", Arg.INT, Arg.HEX, Arg.PTR, Arg.PTR)
def sys_timer_settime(t: Task, timer_id: int, flags: int, new: int, old: int) -> int:
    return _settime(t, timer_id, flags, new, old, t.proc.abi.is64)


@syscall("timer_settime64", Arg.INT, Arg.HEX, Arg.PTR, Arg.PTR)
def sys_timer_settime64(t: Task, timer_id: int, flags: int, new: int, old: int) -> int:
    return _settime(t, timer_id, flags, new, old, True)


@syscall("timer_gettime", Arg.INT, Arg.PTR)
def sys_timer_gettime(t: Task, timer_id: int, ptr: int) -> int:
    _write_spec(t, ptr, _timer(t, timer_id), t.proc.abi.is64)
    return 0


@syscall("timer_gettime64", Arg.INT, Arg.PTR)
def sys_timer_gettime64(t: Task, timer_id: int, ptr: int) -> int:
    _write_spec(t, ptr, _timer(t, timer_id), True)
    return 0


@syscall("timer_getoverrun", Arg.INT)
def sys_timer_getoverrun(t: Task, timer_id: int) -> int:
    return _timer(t, timer_id).overrun


@syscall("timer_delete", Arg.INT)
def sys_timer_delete(t: Task, timer_id: int) -> int:
    _timer(t, timer_id)
    del timers_of(t.proc)[timer_id]
    return 0
