"""Clocks and sleeping. Guest time comes from the kernel's clock so profiles can offset or freeze it."""

from __future__ import annotations

import errno
import struct
import time as _time
from typing import TYPE_CHECKING

from ..abi import pack_timespec64, unpack_timespec64
from ..syscall import Arg, SyscallError, syscall
from ..task import Block

if TYPE_CHECKING:
    from ..kernel import Task

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7


def clock_ns(t: Task, clock: int) -> int:
    kernel = t.proc.kernel
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE, 8):
        return kernel.clock.realtime_ns()
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, 9):
        return kernel.clock.monotonic_ns()
    if clock in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID) or clock < 0:
        return _time.process_time_ns()
    raise SyscallError(errno.EINVAL)


@syscall("clock_gettime", Arg.CLOCK, Arg.PTR)
def sys_clock_gettime(t: Task, clock: int, ptr: int) -> int:
    t.proc.mem.write(ptr, t.proc.abi.pack_timespec(clock_ns(t, clock)))
    return 0


@syscall("clock_gettime64", Arg.CLOCK, Arg.PTR)
def sys_clock_gettime64(t: Task, clock: int, ptr: int) -> int:
    t.proc.mem.write(ptr, pack_timespec64(clock_ns(t, clock)))
    return 0


@syscall("clock_getres", Arg.CLOCK, Arg.PTR)
def sys_clock_getres(t: Task, clock: int, ptr: int) -> int:
    clock_ns(t, clock)
    if ptr:
        t.proc.mem.write(ptr, t.proc.abi.pack_timespec(1))
    return 0


@syscall("clock_getres_time64", Arg.CLOCK, Arg.PTR)
def sys_clock_getres_time64(t: Task, clock: int, ptr: int) -> int:
    clock_ns(t, clock)
    if ptr:
        t.proc.mem.write(ptr, pack_timespec64(1))
    return 0


@syscall("gettimeofday", Arg.PTR, Arg.PTR)
def sys_gettimeofday(t: Task, tv: int, tz: int) -> int:
    if tv:
        t.proc.mem.write(tv, t.proc.abi.pack_timeval(clock_ns(t, CLOCK_REALTIME)))
    if tz:
        t.proc.mem.write(tz, bytes(8))
    return 0


@syscall("time", Arg.PTR)
def sys_time(t: Task, ptr: int) -> int:
    now = clock_ns(t, CLOCK_REALTIME) // 1_000_000_000
    if ptr:
        t.proc.mem.write(ptr, t.proc.abi.pack_words(now))
    return now


@syscall("settimeofday", Arg.PTR, Arg.PTR)
def sys_settimeofday(t: Task, tv: int, tz: int) -> int:
    raise SyscallError(errno.EPERM)


@syscall("clock_settime", Arg.CLOCK, Arg.PTR)
def sys_clock_settime(t: Task, clock: int, ptr: int) -> int:
    raise SyscallError(errno.EPERM)


def _sleep_until(t: Task, deadline_ns: int) -> int:
    """Sleep the calling task until the monotonic deadline (restart-safe: the deadline is kept)."""
    kernel = t.proc.kernel
    deadline = t.restart.setdefault("deadline", deadline_ns)
    if kernel.now_ns() >= deadline:
        return 0
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    if kernel.clock.mode == "frozen":
        kernel.clock.sleep(deadline - kernel.now_ns())
        return 0
    raise Block(deadline=deadline)


@syscall("nanosleep", Arg.PTR, Arg.PTR, blocking=True)
def sys_nanosleep(t: Task, req: int, rem: int) -> int:
    abi = t.proc.abi
    ns = abi.unpack_timespec(t.proc.mem.read(req, abi.timespec_size))
    if ns < 0:
        raise SyscallError(errno.EINVAL)
    return _sleep_until(t, t.proc.kernel.now_ns() + ns)


def _clock_nanosleep(t: Task, clock: int, flags: int, ns: int) -> int:
    if ns < 0:
        raise SyscallError(errno.EINVAL)
    now = clock_ns(t, clock)
    left = max(ns - now, 0) if flags & 1 else ns  # TIMER_ABSTIME
    return _sleep_until(t, t.proc.kernel.now_ns() + left)


@syscall("clock_nanosleep", Arg.CLOCK, Arg.HEX, Arg.PTR, Arg.PTR, blocking=True)
def sys_clock_nanosleep(t: Task, clock: int, flags: int, req: int, rem: int) -> int:
    abi = t.proc.abi
    return _clock_nanosleep(
        t, clock, flags, abi.unpack_timespec(t.proc.mem.read(req, abi.timespec_size))
    )


@syscall("clock_nanosleep_time64", Arg.CLOCK, Arg.HEX, Arg.PTR, Arg.PTR, blocking=True)
def sys_clock_nanosleep_time64(t: Task, clock: int, flags: int, req: int, rem: int) -> int:
    return _clock_nanosleep(t, clock, flags, unpack_timespec64(t.proc.mem.read(req, 16)))


@syscall("times", Arg.PTR)
def sys_times(t: Task, ptr: int) -> int:
    ticks = _time.process_time_ns() // 10_000_000
    if ptr:
        t.proc.mem.write(ptr, t.proc.abi.pack_words(ticks, 0, 0, 0))
    return t.proc.kernel.clock.monotonic_ns() // 10_000_000


@syscall("getrusage", Arg.INT, Arg.PTR)
def sys_getrusage(t: Task, who: int, ptr: int) -> int:
    abi = t.proc.abi
    cpu = _time.process_time_ns() if who == 0 else 0
    body = abi.pack_timeval(cpu) + abi.pack_timeval(0) + bytes(14 * abi.word)
    t.proc.mem.write(ptr, body)
    return 0


@syscall("alarm", Arg.UINT)
def sys_alarm(t: Task, seconds: int) -> int:
    return t.proc.kernel.set_alarm(t.proc, seconds * 1_000_000_000) // 1_000_000_000


@syscall("setitimer", Arg.INT, Arg.PTR, Arg.PTR)
def sys_setitimer(t: Task, which: int, new: int, old: int) -> int:
    abi = t.proc.abi
    if which != 0:
        raise SyscallError(errno.EINVAL)
    size = 2 * abi.word
    interval_s, interval_us, value_s, value_us = struct.unpack(
        "<4" + abi.sfmt, t.proc.mem.read(new, 2 * size)
    )
    prev = t.proc.kernel.set_alarm(
        t.proc,
        value_s * 1_000_000_000 + value_us * 1000,
        interval_s * 1_000_000_000 + interval_us * 1000,
    )
    if old:
        t.proc.mem.write(old, abi.pack_timeval(0) + abi.pack_timeval(prev))
    return 0


@syscall("getitimer", Arg.INT, Arg.PTR)
def sys_getitimer(t: Task, which: int, ptr: int) -> int:
    abi = t.proc.abi
    t.proc.mem.write(ptr, abi.pack_timeval(0) + abi.pack_timeval(t.proc.kernel.alarm_left(t.proc)))
    return 0
