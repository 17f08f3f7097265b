"""Signal syscalls: dispositions, masks, sending, waiting, and returning from handlers."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..sigframe import sigreturn
from ..signals import NSIG, Sig
from ..syscall import Arg, Ret, SyscallError, syscall
from ..task import Block, SigAction

if TYPE_CHECKING:
    from ..task import Process, Task

SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2
UNBLOCKABLE = (1 << (Sig.SIGKILL - 1)) | (1 << (Sig.SIGSTOP - 1))


@syscall("rt_sigaction", Arg.SIG, Arg.PTR, Arg.PTR, Arg.SIZE)
def sys_rt_sigaction(t: Task, sig: int, act: int, old: int, size: int) -> int:
    if sig < 1 or sig > NSIG or (act and sig in (Sig.SIGKILL, Sig.SIGSTOP)):
        raise SyscallError(errno.EINVAL)
    proc = t.proc
    abi = proc.abi
    fmt = "<" + abi.wfmt * 3 + "Q"  # handler, flags, restorer, mask
    current = proc.sigactions.get(sig, SigAction())
    new = None
    if act:
        handler, flags, restorer, mask = struct.unpack(
            fmt, proc.mem.read(act, struct.calcsize(fmt))
        )
        new = SigAction(handler, flags, restorer, mask & ~UNBLOCKABLE)
    if old:
        proc.mem.write(
            old, struct.pack(fmt, current.handler, current.flags, current.restorer, current.mask)
        )
    if new is not None:
        proc.sigactions[sig] = new
        if new.handler == 1:  # ignoring a signal discards it if pending
            bit = 1 << (sig - 1)
            proc.pending &= ~bit
            for task in proc.tasks:
                task.pending &= ~bit
    return 0


@syscall("sigaction", Arg.SIG, Arg.PTR, Arg.PTR)
def sys_sigaction(t: Task, sig: int, act: int, old: int) -> int:
    """i386 old sigaction: handler, 32-bit mask, flags, restorer."""
    if sig < 1 or sig > 31:
        raise SyscallError(errno.EINVAL)
    proc = t.proc
    current = proc.sigactions.get(sig, SigAction())
    if old:
        proc.mem.write(
            old,
            struct.pack(
                "<IIII", current.handler, current.mask & 0xFFFFFFFF, current.flags, current.restorer
            ),
        )
    if act:
        handler, mask, flags, restorer = struct.unpack("<IIII", proc.mem.read(act, 16))
        proc.sigactions[sig] = SigAction(handler, flags, restorer, mask)
    return 0


def _set_mask(t: Task, how: int, mask: int) -> None:
    if how == SIG_BLOCK:
        t.sigmask |= mask
    elif how == SIG_UNBLOCK:
        t.sigmask &= ~mask
    elif how == SIG_SETMASK:
        t.sigmask = mask
    else:
        raise SyscallError(errno.EINVAL)
    t.sigmask &= ~UNBLOCKABLE


@syscall("rt_sigprocmask", Arg.INT, Arg.PTR, Arg.PTR, Arg.SIZE)
def sys_rt_sigprocmask(t: Task, how: int, new: int, old: int, size: int) -> int:
    mask = None
    if new:
        (mask,) = struct.unpack("<Q", t.proc.mem.read(new, 8))
    if old:
        t.proc.mem.write(old, struct.pack("<Q", t.sigmask))
    if mask is not None:
        _set_mask(t, how, mask)
    return 0


@syscall("sigprocmask", Arg.INT, Arg.PTR, Arg.PTR)
def sys_sigprocmask(t: Task, how: int, new: int, old: int) -> int:
    mask = None
    if new:
        (mask,) = struct.unpack("<I", t.proc.mem.read(new, 4))
    if old:
        t.proc.mem.write(old, struct.pack("<I", t.sigmask & 0xFFFFFFFF))
    if mask is not None:
        _set_mask(t, how, mask | (t.sigmask & ~0xFFFFFFFF) if how == SIG_SETMASK else mask)
    return 0


@syscall("rt_sigreturn", ret=Ret.NONE)
def sys_rt_sigreturn(t: Task) -> None:
    sigreturn(t)


@syscall("sigreturn", ret=Ret.NONE)
def sys_sigreturn(t: Task) -> None:
    sigreturn(t)


@syscall("sigaltstack", Arg.PTR, Arg.PTR)
def sys_sigaltstack(t: Task, new: int, old: int) -> int:
    abi = t.proc.abi
    fmt = "<QiiQ" if abi.is64 else "<IiI"
    size = struct.calcsize(fmt)
    if old:
        sp, flags, ss_size = t.altstack
        out: tuple[int, ...] = (sp, flags, 0, ss_size) if abi.is64 else (sp, flags, ss_size)
        t.proc.mem.write(old, struct.pack(fmt, *out))
    if new:
        raw: tuple[int, ...] = struct.unpack(fmt, t.proc.mem.read(new, size))
        sp, flags, ss_size = (raw[0], raw[1], raw[3]) if abi.is64 else (raw[0], raw[1], raw[2])
        if flags & ~2:
            raise SyscallError(errno.EINVAL)
        t.altstack = (sp, flags, ss_size)
    return 0


@syscall("rt_sigpending", Arg.PTR, Arg.SIZE)
def sys_rt_sigpending(t: Task, ptr: int, size: int) -> int:
    t.proc.mem.write(ptr, struct.pack("<Q", (t.pending | t.proc.pending) & t.sigmask))
    return 0


@syscall("rt_sigsuspend", Arg.PTR, Arg.SIZE, blocking=True)
def sys_rt_sigsuspend(t: Task, ptr: int, size: int) -> int:
    if "suspend_mask" not in t.restart:
        (mask,) = struct.unpack("<Q", t.proc.mem.read(ptr, 8))
        t.restart["suspend_mask"] = t.sigmask
        t.restart["no_restart"] = True
        t.sigmask = mask & ~UNBLOCKABLE
    if t.restart.get("interrupted"):
        return -errno.EINTR
    raise Block(ready=lambda: bool((t.pending | t.proc.pending) & ~t.sigmask))


@syscall("pause", blocking=True)
def sys_pause(t: Task) -> int:
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    t.restart["pause"] = True
    t.restart["no_restart"] = True
    raise Block(ready=lambda: bool((t.pending | t.proc.pending) & ~t.sigmask))


def _targets(t: Task, pid: int) -> list[Process]:
    kernel = t.proc.kernel
    live = [p for p in kernel.processes.values() if p.alive]
    if pid > 0:  # a zombie can still be signalled (to no effect), as on Linux
        found = [p for p in kernel.processes.values() if p.pid == pid]
    elif pid == 0:
        found = [p for p in live if p.pgid == t.proc.pgid]
    elif pid == -1:
        found = [p for p in live if p is not t.proc]
    else:
        found = [p for p in live if p.pgid == -pid]
    if not found:
        raise SyscallError(errno.ESRCH)
    return found


def _check_sig(sig: int) -> None:
    if sig < 0 or sig > NSIG:
        raise SyscallError(errno.EINVAL)


@syscall("kill", Arg.INT, Arg.SIG)
def sys_kill(t: Task, pid: int, sig: int) -> int:
    _check_sig(sig)
    for proc in _targets(t, pid):
        t.proc.kernel.send_signal(proc, sig)
    return 0


def _task(t: Task, tid: int, tgid: int | None) -> Task:
    for task in t.proc.kernel.tasks:
        if task.tid == tid and (tgid is None or task.proc.pid == tgid):
            return task
    raise SyscallError(errno.ESRCH)


@syscall("tgkill", Arg.INT, Arg.INT, Arg.SIG)
def sys_tgkill(t: Task, tgid: int, tid: int, sig: int) -> int:
    _check_sig(sig)
    target = _task(t, tid, tgid)
    t.proc.kernel.send_signal(target.proc, sig, target)
    return 0


@syscall("tkill", Arg.INT, Arg.SIG)
def sys_tkill(t: Task, tid: int, sig: int) -> int:
    _check_sig(sig)
    target = _task(t, tid, None)
    t.proc.kernel.send_signal(target.proc, sig, target)
    return 0
