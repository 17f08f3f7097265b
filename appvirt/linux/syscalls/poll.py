"""Pipes and waiting on descriptors: pipe, poll/ppoll, select/pselect6, and blocking I/O helpers."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...vfs.pipe import make_pipe
from ...vfs.types import OpenFile
from ..syscall import Arg, SyscallError, syscall
from ..task import Block

if TYPE_CHECKING:
    from ..kernel import Task

O_CLOEXEC = 0o2000000
O_NONBLOCK = 0o4000
POLLIN = 0x1
POLLPRI = 0x2
POLLOUT = 0x4
POLLERR = 0x8
POLLHUP = 0x10
POLLNVAL = 0x20


def wait_io(t: Task, f: OpenFile, write: bool) -> Block:
    """The Block for a task that must wait until ``f`` can be read (or written)."""
    host = f.host_fd()
    ready: Callable[[], bool] = f.write_ready if write else f.read_ready
    return Block(
        ready=ready,
        deadline=t.restart.get("deadline"),
        host_fds=(host,) if host is not None and not write else (),
    )


def must_wait(t: Task, f: OpenFile, write: bool) -> bool:
    """Would an I/O call on ``f`` block? Only ask streams that can: pipes, ttys, host pipes."""
    if f.nonblocking:
        return False
    ready = f.write_ready() if write else f.read_ready()
    if ready:
        return False
    # A host stream alone in the VM can simply block in the host read.
    if f.host_fd() is not None and len(t.proc.kernel.tasks) == 1:
        return False
    return True


@syscall("pipe", Arg.PTR)
def sys_pipe(t: Task, fds: int) -> int:
    return sys_pipe2(t, fds, 0)


@syscall("pipe2", Arg.PTR, Arg.FDFLAGS)
def sys_pipe2(t: Task, fds: int, flags: int) -> int:
    if flags & ~(O_CLOEXEC | O_NONBLOCK | 0o40000):
        raise SyscallError(errno.EINVAL)
    t.proc.mem.check(fds, 8, True)
    reader, writer = make_pipe()
    if flags & O_NONBLOCK:
        reader.nonblocking = writer.nonblocking = True
    table = t.proc.fds
    try:
        rfd = table.install(reader, bool(flags & O_CLOEXEC))
    except SyscallError:
        reader.close()
        writer.close()
        raise
    try:
        wfd = table.install(writer, bool(flags & O_CLOEXEC))
    except SyscallError:
        table.close(rfd)
        writer.close()
        raise
    t.proc.mem.write(fds, struct.pack("<ii", rfd, wfd))
    return 0


def _revents(t: Task, fd: int, events: int) -> int:
    entry = t.proc.fds.fds.get(fd)
    if entry is None:
        return POLLNVAL
    return file_revents(entry.file, events)


def file_revents(f: OpenFile, events: int) -> int:
    """poll's answer for one open file. A pipe's read end is readable only with data in it (at
    end of file it reports POLLHUP alone, as Linux's pipe_poll does); errors and hang-ups are
    reported whatever was asked."""
    pipe = getattr(f, "_buf", None)
    if pipe is not None:
        out = 0
        if f.readable:
            if events & (POLLIN | POLLPRI) and pipe.data:
                out |= POLLIN
            if pipe.writers == 0:
                out |= POLLHUP
        if f.writable:
            if events & POLLOUT and f.write_ready():
                out |= POLLOUT
            if pipe.readers == 0:
                out |= POLLERR
        return out
    out = 0
    if events & (POLLIN | POLLPRI) and f.read_ready():
        out |= POLLIN
    if events & POLLOUT and f.write_ready():
        out |= POLLOUT
    return out


def _deadline(t: Task, timeout_ns: int | None) -> int | None:
    if "deadline" in t.restart:
        return t.restart["deadline"]
    deadline = None if timeout_ns is None else t.proc.kernel.now_ns() + timeout_ns
    t.restart["deadline"] = deadline
    return deadline


def _host_fds(t: Task, fds: list[int]) -> tuple[int, ...]:
    out = []
    for fd in fds:
        entry = t.proc.fds.fds.get(fd)
        if entry is not None and entry.file.host_fd() is not None:
            out.append(entry.file.host_fd())
    return tuple(x for x in out if x is not None)


def _poll(t: Task, ptr: int, nfds: int, timeout_ns: int | None) -> int:
    if nfds < 0 or nfds > 65536:
        raise SyscallError(errno.EINVAL)
    raw = t.proc.mem.read(ptr, 8 * nfds) if nfds else b""
    items = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    results = [(_revents(t, fd, ev) if fd >= 0 else 0) for fd, ev, _ in items]
    ready = sum(1 for r in results if r)
    deadline = _deadline(t, timeout_ns)
    if ready or timeout_ns == 0 or (deadline is not None and t.proc.kernel.now_ns() >= deadline):
        out = b"".join(
            struct.pack("<ihh", fd, ev, r & 0xFFFF)
            for (fd, ev, _), r in zip(items, results, strict=True)
        )
        if out:
            t.proc.mem.write(ptr, out)
        return ready
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    fds = [fd for fd, _, _ in items]
    raise Block(
        ready=lambda: any(_revents(t, fd, ev) for fd, ev, _ in items if fd >= 0),
        deadline=deadline,
        host_fds=_host_fds(t, fds),
    )


@syscall("poll", Arg.PTR, Arg.UINT, Arg.INT, blocking=True)
def sys_poll(t: Task, ptr: int, nfds: int, timeout_ms: int) -> int:
    return _poll(t, ptr, nfds, None if timeout_ms < 0 else timeout_ms * 1_000_000)


def _timespec_ns(t: Task, ptr: int, time64: bool = False) -> int | None:
    if not ptr:
        return None
    abi = t.proc.abi
    if time64 or abi.is64:
        sec, nsec = struct.unpack("<qq", t.proc.mem.read(ptr, 16))
    else:
        sec, nsec = struct.unpack("<ii", t.proc.mem.read(ptr, 8))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise SyscallError(errno.EINVAL)
    return sec * 1_000_000_000 + nsec


@syscall("ppoll", Arg.PTR, Arg.UINT, Arg.PTR, Arg.PTR, Arg.SIZE, blocking=True)
def sys_ppoll(t: Task, ptr: int, nfds: int, tsp: int, sigmask: int, size: int) -> int:
    return _poll(t, ptr, nfds, _timespec_ns(t, tsp))


@syscall("ppoll_time64", Arg.PTR, Arg.UINT, Arg.PTR, Arg.PTR, Arg.SIZE, blocking=True)
def sys_ppoll_time64(t: Task, ptr: int, nfds: int, tsp: int, sigmask: int, size: int) -> int:
    return _poll(t, ptr, nfds, _timespec_ns(t, tsp, True))


def _select(t: Task, nfds: int, rp: int, wp: int, ep: int, timeout_ns: int | None) -> int:
    if nfds < 0 or nfds > 1024:
        raise SyscallError(errno.EINVAL)
    size = ((nfds + 63) // 64) * 8
    mem = t.proc.mem

    def bits(ptr: int) -> int:
        return int.from_bytes(mem.read(ptr, size), "little") if ptr and size else 0

    want_r, want_w, want_e = bits(rp), bits(wp), bits(ep)
    for fd in range(nfds):
        if (want_r | want_w | want_e) >> fd & 1 and fd not in t.proc.fds.fds:
            raise SyscallError(errno.EBADF)

    def scan() -> tuple[int, int]:
        got_r = got_w = 0
        for fd in range(nfds):
            bit = 1 << fd
            if want_r & bit and _revents(t, fd, POLLIN) & (POLLIN | POLLHUP):
                got_r |= bit
            if want_w & bit and _revents(t, fd, POLLOUT) & (POLLOUT | POLLERR):
                got_w |= bit
        return got_r, got_w

    got_r, got_w = scan()
    count = bin(got_r).count("1") + bin(got_w).count("1")
    deadline = _deadline(t, timeout_ns)
    if count or timeout_ns == 0 or (deadline is not None and t.proc.kernel.now_ns() >= deadline):
        for ptr, value in ((rp, got_r), (wp, got_w), (ep, 0)):
            if ptr and size:
                mem.write(ptr, value.to_bytes(size, "little"))
        return count
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    fds = [fd for fd in range(nfds) if (want_r | want_w) >> fd & 1]
    raise Block(ready=lambda: any(scan()), deadline=deadline, host_fds=_host_fds(t, fds))


def _timeval_ns(t: Task, ptr: int) -> int | None:
    if not ptr:
        return None
    abi = t.proc.abi
    sec, usec = struct.unpack("<2" + abi.sfmt, t.proc.mem.read(ptr, 2 * abi.word))
    if sec < 0 or usec < 0:
        raise SyscallError(errno.EINVAL)
    return sec * 1_000_000_000 + usec * 1000


@syscall("select", Arg.INT, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, blocking=True)
def sys_select(t: Task, nfds: int, rp: int, wp: int, ep: int, tvp: int) -> int:
    return _select(t, nfds, rp, wp, ep, _timeval_ns(t, tvp))


@syscall("_newselect", Arg.INT, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, blocking=True)
def sys_newselect(t: Task, nfds: int, rp: int, wp: int, ep: int, tvp: int) -> int:
    return _select(t, nfds, rp, wp, ep, _timeval_ns(t, tvp))


@syscall("pselect6", Arg.INT, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, blocking=True)
def sys_pselect6(t: Task, nfds: int, rp: int, wp: int, ep: int, tsp: int, sig: int) -> int:
    return _select(t, nfds, rp, wp, ep, _timespec_ns(t, tsp))


@syscall("pselect6_time64", Arg.INT, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, Arg.PTR, blocking=True)
def sys_pselect6_time64(t: Task, nfds: int, rp: int, wp: int, ep: int, tsp: int, sig: int) -> int:
    return _select(t, nfds, rp, wp, ep, _timespec_ns(t, tsp, True))
