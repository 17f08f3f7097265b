"""futex: the one primitive glibc builds mutexes, condition variables and thread joins on."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from ..syscall import Arg, SyscallError, syscall
from ..task import Block

if TYPE_CHECKING:
    from ...core.machine import Machine
    from ..kernel import Kernel
    from ..task import Task

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_REQUEUE = 3
FUTEX_CMP_REQUEUE = 4
FUTEX_WAKE_OP = 5
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_PRIVATE = 128
FUTEX_CLOCK_REALTIME = 256
BITSET_ANY = 0xFFFFFFFF


def _waiters(kernel: Kernel, machine: Machine, addr: int) -> list[Task]:
    return [
        t
        for t in kernel.tasks
        if t.proc.machine is machine and t.restart.get("futex") == addr and not t.futex_woken
    ]


def wake(kernel: Kernel, machine: Machine, addr: int, count: int, bitset: int = BITSET_ANY) -> int:
    woken = 0
    for t in _waiters(kernel, machine, addr):
        if woken >= count:
            break
        if t.restart.get("bitset", BITSET_ANY) & bitset:
            t.futex_woken = True
            woken += 1
    if woken:
        kernel.resched = True
    return woken


def _timeout(t: Task, ptr: int, absolute: bool, realtime: bool) -> int | None:
    if not ptr:
        return None
    sec, nsec = struct.unpack(
        "<qq" if t.proc.abi.is64 else "<ii", t.proc.mem.read(ptr, 2 * t.proc.abi.word)
    )
    ns = sec * 1_000_000_000 + nsec
    clock = t.proc.kernel.clock
    if absolute:
        return ns - (clock.realtime_ns() - clock.monotonic_ns()) if realtime else ns
    return clock.monotonic_ns() + ns


def _wait(
    t: Task, addr: int, val: int, timeout: int, bitset: int, absolute: bool, realtime: bool
) -> int:
    if t.futex_woken and t.restart.get("futex") == addr:
        t.futex_woken = False
        return 0
    if "futex" in t.restart:
        deadline = t.restart.get("deadline")
        if deadline is not None and t.proc.kernel.now_ns() >= deadline:
            raise SyscallError(errno.ETIMEDOUT)
        if t.restart.get("interrupted"):
            raise SyscallError(errno.EINTR)
        raise Block(ready=lambda: t.futex_woken, deadline=deadline)
    (current,) = struct.unpack("<I", t.proc.mem.read(addr, 4))
    if current != val & 0xFFFFFFFF:
        raise SyscallError(errno.EAGAIN)
    deadline = _timeout(t, timeout, absolute, realtime)
    t.restart["futex"] = addr
    t.restart["deadline"] = deadline
    t.restart["bitset"] = bitset
    t.futex_woken = False
    raise Block(ready=lambda: t.futex_woken, deadline=deadline)


def _wake_op(t: Task, addr: int, count: int, count2: int, addr2: int, op: int) -> int:
    kind = (op >> 28) & 0xF
    cmp = (op >> 24) & 0xF
    oparg = (op >> 12) & 0xFFF
    cmparg = op & 0xFFF
    if kind & 8:
        oparg = 1 << oparg
        kind &= 7
    mem = t.proc.mem
    (old,) = struct.unpack("<I", mem.read(addr2, 4))
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(kind, old)
    mem.write(addr2, struct.pack("<I", new & 0xFFFFFFFF))
    machine = t.proc.machine
    kernel = t.proc.kernel
    woken = wake(kernel, machine, addr, count)
    ok = {
        0: old == cmparg,
        1: old != cmparg,
        2: old < cmparg,
        3: old <= cmparg,
        4: old > cmparg,
        5: old >= cmparg,
    }
    if ok.get(cmp, False):
        woken += wake(kernel, machine, addr2, count2)
    return woken


def _requeue(t: Task, addr: int, count: int, count2: int, addr2: int, expect: Any) -> int:
    kernel = t.proc.kernel
    machine = t.proc.machine
    if expect is not None:
        (current,) = struct.unpack("<I", t.proc.mem.read(addr, 4))
        if current != expect & 0xFFFFFFFF:
            raise SyscallError(errno.EAGAIN)
    woken = wake(kernel, machine, addr, count)
    moved = 0
    for w in _waiters(kernel, machine, addr):
        if moved >= count2:
            break
        w.restart["futex"] = addr2
        moved += 1
    return woken + moved


@syscall("futex", Arg.PTR, Arg.INT, Arg.UINT, Arg.PTR, Arg.PTR, Arg.UINT, blocking=True)
def sys_futex(t: Task, addr: int, op: int, val: int, timeout: int, addr2: int, val3: int) -> int:
    cmd = op & ~(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME)
    realtime = bool(op & FUTEX_CLOCK_REALTIME)
    if cmd == FUTEX_WAIT:
        return _wait(t, addr, val, timeout, BITSET_ANY, False, False)
    if cmd == FUTEX_WAIT_BITSET:
        return _wait(t, addr, val, timeout, val3 or BITSET_ANY, True, realtime)
    if cmd == FUTEX_WAKE:
        return wake(t.proc.kernel, t.proc.machine, addr, val)
    if cmd == FUTEX_WAKE_BITSET:
        return wake(t.proc.kernel, t.proc.machine, addr, val, val3 or BITSET_ANY)
    if cmd == FUTEX_REQUEUE:
        return _requeue(t, addr, val, timeout, addr2, None)
    if cmd == FUTEX_CMP_REQUEUE:
        return _requeue(t, addr, val, timeout, addr2, val3)
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(t, addr, val, timeout, addr2, val3)
    raise SyscallError(errno.ENOSYS)


@syscall("futex_time64", Arg.PTR, Arg.INT, Arg.UINT, Arg.PTR, Arg.PTR, Arg.UINT, blocking=True)
def sys_futex_time64(
    t: Task, addr: int, op: int, val: int, timeout: int, addr2: int, val3: int
) -> int:
    cmd = op & ~(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET) and timeout:
        sec, nsec = struct.unpack("<qq", t.proc.mem.read(timeout, 16))
        # Re-express as the native timespec of this ABI for the shared path.
        if "futex" not in t.restart:
            clock = t.proc.kernel.clock
            ns = sec * 1_000_000_000 + nsec
            absolute = cmd == FUTEX_WAIT_BITSET
            if absolute and op & FUTEX_CLOCK_REALTIME:
                ns -= clock.realtime_ns() - clock.monotonic_ns()
            deadline = ns if absolute else clock.monotonic_ns() + ns
            return _wait_deadline(
                t, addr, val, deadline, val3 if cmd == FUTEX_WAIT_BITSET else BITSET_ANY
            )
    return sys_futex(t, addr, op, val, timeout, addr2, val3)


def _wait_deadline(t: Task, addr: int, val: int, deadline: int, bitset: int) -> int:
    (current,) = struct.unpack("<I", t.proc.mem.read(addr, 4))
    if current != val & 0xFFFFFFFF:
        raise SyscallError(errno.EAGAIN)
    t.restart["futex"] = addr
    t.restart["deadline"] = deadline
    t.restart["bitset"] = bitset or BITSET_ANY
    t.futex_woken = False
    raise Block(ready=lambda: t.futex_woken, deadline=deadline)
