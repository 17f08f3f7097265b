"""Everything else: randomness, system information, and the network (off in the sandbox)."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..syscall import Arg, SyscallError, syscall

if TYPE_CHECKING:
    from ..kernel import Task


@syscall("getrandom", Arg.PTR, Arg.SIZE, Arg.HEX)
def sys_getrandom(t: Task, buf: int, size: int, flags: int) -> int:
    size = min(size, 1 << 25)
    t.proc.mem.write(buf, t.proc.kernel.random_bytes(size))
    return size


@syscall("sysinfo", Arg.PTR)
def sys_sysinfo(t: Task, ptr: int) -> int:
    abi = t.proc.abi
    kernel = t.proc.kernel
    total = kernel.memory_limit or (4 << 30)
    free = max(total - t.proc.mem.mapped_bytes, 0)
    uptime = kernel.clock.monotonic_ns() // 1_000_000_000
    words = [uptime, 0, 0, 0, total, free, 0, 0, 0, 0]
    body = abi.pack_words(*words) + struct.pack("<HH", len(kernel.processes), 0)
    if abi.is64:
        body += bytes(4)
    body += abi.pack_words(0, 0) + struct.pack("<I", 1)
    size = 112 if abi.is64 else 64
    t.proc.mem.write(ptr, body.ljust(size, b"\0")[:size])
    return 0


def _denied(t: Task, what: str) -> int:
    t.proc.kernel.events.deny(what)
    raise SyscallError(errno.EACCES)


@syscall("socket", Arg.INT, Arg.INT, Arg.INT)
def sys_socket(t: Task, domain: int, kind: int, proto: int) -> int:
    return _denied(t, f"socket(domain={domain})")


@syscall("socketpair", Arg.INT, Arg.INT, Arg.INT, Arg.PTR)
def sys_socketpair(t: Task, domain: int, kind: int, proto: int, sv: int) -> int:
    return _denied(t, f"socketpair(domain={domain})")


@syscall("socketcall", Arg.INT, Arg.PTR)
def sys_socketcall(t: Task, call: int, args: int) -> int:
    return _denied(t, f"socketcall({call})")


for _name in (
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
):
    syscall(_name, Arg.FD, Arg.PTR, Arg.HEX)(lambda t, fd, *a: -errno.ENOTSOCK)


@syscall("ptrace", Arg.INT, Arg.INT, Arg.PTR, Arg.PTR)
def sys_ptrace(t: Task, req: int, pid: int, addr: int, data: int) -> int:
    raise SyscallError(errno.EPERM)
