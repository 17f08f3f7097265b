"""Signal syscalls: dispositions, masks, and sending. Handlers run in the multi-process issue."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..signals import NSIG, Sig
from ..syscall import Arg, SyscallError, syscall

if TYPE_CHECKING:
    from ..kernel import Task

SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2
UNBLOCKABLE = (1 << (Sig.SIGKILL - 1)) | (1 << (Sig.SIGSTOP - 1))


@syscall("rt_sigaction", Arg.SIG, Arg.PTR, Arg.PTR, Arg.SIZE)
def sys_rt_sigaction(t: Task, sig: int, act: int, old: int, size: int) -> int:
    from ..kernel import SigAction

    if sig < 1 or sig > NSIG or (act and sig in (Sig.SIGKILL, Sig.SIGSTOP)):
        raise SyscallError(errno.EINVAL)
    proc = t.proc
    abi = proc.abi
    fmt = "<" + abi.wfmt * 3 + "Q"  # handler, flags, restorer, mask
    current = proc.sigactions.get(sig, SigAction())
    if act:
        handler, flags, restorer, mask = struct.unpack(
            fmt, proc.mem.read(act, struct.calcsize(fmt))
        )
        new = SigAction(handler, flags, restorer, mask)
    if old:
        proc.mem.write(
            old, struct.pack(fmt, current.handler, current.flags, current.restorer, current.mask)
        )
    if act:
        proc.sigactions[sig] = new
    return 0


@syscall("rt_sigprocmask", Arg.INT, Arg.PTR, Arg.PTR, Arg.SIZE)
def sys_rt_sigprocmask(t: Task, how: int, new: int, old: int, size: int) -> int:
    if old:
        t.proc.mem.write(old, struct.pack("<Q", t.sigmask))
    if new:
        (mask,) = struct.unpack("<Q", t.proc.mem.read(new, 8))
        if how == SIG_BLOCK:
            t.sigmask |= mask
        elif how == SIG_UNBLOCK:
            t.sigmask &= ~mask
        elif how == SIG_SETMASK:
            t.sigmask = mask
        else:
            raise SyscallError(errno.EINVAL)
        t.sigmask &= ~UNBLOCKABLE
    return 0


@syscall("sigaltstack", Arg.PTR, Arg.PTR)
def sys_sigaltstack(t: Task, new: int, old: int) -> int:
    abi = t.proc.abi
    if old:
        t.proc.mem.write(old, abi.pack_words(0, 2, 0) if abi.is64 else struct.pack("<IiI", 0, 2, 0))
    return 0


@syscall("rt_sigpending", Arg.PTR, Arg.SIZE)
def sys_rt_sigpending(t: Task, ptr: int, size: int) -> int:
    t.proc.mem.write(ptr, bytes(8))
    return 0


def _kill_self(t: Task, sig: int) -> int:
    if sig < 0 or sig > NSIG:
        raise SyscallError(errno.EINVAL)
    t.proc.kernel.signal_process(t.proc, sig)
    return 0


@syscall("kill", Arg.INT, Arg.SIG)
def sys_kill(t: Task, pid: int, sig: int) -> int:
    proc = t.proc
    if pid in (proc.pid, 0) or pid == -proc.pgid:
        return _kill_self(t, sig)
    if pid == -1:
        # Every process the guest may signal: only its own in this sandbox.
        return _kill_self(t, sig)
    raise SyscallError(errno.ESRCH)


@syscall("tgkill", Arg.INT, Arg.INT, Arg.SIG)
def sys_tgkill(t: Task, tgid: int, tid: int, sig: int) -> int:
    if tgid != t.proc.pid or tid not in [x.tid for x in t.proc.tasks]:
        raise SyscallError(errno.ESRCH)
    return _kill_self(t, sig)


@syscall("tkill", Arg.INT, Arg.SIG)
def sys_tkill(t: Task, tid: int, sig: int) -> int:
    if tid not in [x.tid for x in t.proc.tasks]:
        raise SyscallError(errno.ESRCH)
    return _kill_self(t, sig)
