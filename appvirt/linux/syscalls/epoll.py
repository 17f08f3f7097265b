"""epoll: an interest list in a descriptor, waited on like poll.

An epoll instance is an ``OpenFile`` (readable, so it can itself be polled or put in another
epoll) holding, per registered descriptor number, the file description it named, the events asked
for and the 64-bit user data. ``epoll_wait`` reports the registrations whose descriptions are ready
(the same readiness poll uses), as level-triggered events; EPOLLONESHOT disarms a registration
after one report. EPOLLET is accepted and served level-triggered: a program written for edge
triggering reads until EAGAIN anyway, so it sees the same data (it may be woken once more).
A registration goes when its descriptor is closed (Linux keeps it while another descriptor of the
same description stays open; programs that rely on that are rare).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ...vfs.types import FileKind, OpenFile
from ..syscall import Arg, SyscallError, syscall
from ..task import Block
from .poll import POLLHUP, _deadline, _timespec_ns, file_revents

if TYPE_CHECKING:
    from ..kernel import Task

EPOLL_CLOEXEC = 0o2000000
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EVENT = struct.Struct("<IQ")  # struct epoll_event: packed on x86-64, 4-aligned on i386: 12 bytes
MAX_EVENTS = (1 << 31) // EVENT.size


class Registration:
    __slots__ = ("file", "events", "data", "armed")

    def __init__(self, file: OpenFile, events: int, data: int) -> None:
        self.file = file
        self.events = events
        self.data = data
        self.armed = True


class EpollFile(OpenFile):
    """An epoll instance (``anon_inode:[eventpoll]``)."""

    kind = FileKind.REG

    def __init__(self, t: Task) -> None:
        self.path = "anon_inode:[eventpoll]"
        self.readable = True
        self.writable = False
        self.flags = 0o2  # O_RDWR, as Linux reports it
        self.fds = t.proc.fds
        self.interest: dict[int, Registration] = {}

    def ready_events(self) -> list[tuple[int, int]]:
        """(fd, events now) for every armed registration with something to report."""
        out = []
        table = self.fds.fds
        for fd, reg in list(self.interest.items()):
            entry = table.get(fd)
            if entry is None or entry.file is not reg.file:
                del self.interest[fd]  # its descriptor was closed
                continue
            if reg.armed:
                got = revents(reg.file, reg.events)
                if got:
                    out.append((fd, got))
        return out

    def read_ready(self) -> bool:
        return bool(self.ready_events())

    def read(self, size: int) -> bytes:
        raise SyscallError(errno.EINVAL)


def revents(f: OpenFile, events: int) -> int:
    """What poll would report for ``f``, plus EPOLLRDHUP at a pipe's hang-up when asked."""
    out = file_revents(f, events)
    if out & POLLHUP:
        out |= events & EPOLLRDHUP
    return out


def _instance(t: Task, epfd: int) -> EpollFile:
    f = t.proc.fds.get(epfd)
    if not isinstance(f, EpollFile):
        raise SyscallError(errno.EINVAL)
    return f


@syscall("epoll_create", Arg.INT)
def sys_epoll_create(t: Task, size: int) -> int:
    if size <= 0:
        raise SyscallError(errno.EINVAL)
    return t.proc.fds.install(EpollFile(t))


@syscall("epoll_create1", Arg.HEX)
def sys_epoll_create1(t: Task, flags: int) -> int:
    if flags & ~EPOLL_CLOEXEC:
        raise SyscallError(errno.EINVAL)
    return t.proc.fds.install(EpollFile(t), cloexec=bool(flags & EPOLL_CLOEXEC))


@syscall("epoll_ctl", Arg.FD, Arg.INT, Arg.FD, Arg.PTR)
def sys_epoll_ctl(t: Task, epfd: int, op: int, fd: int, event: int) -> int:
    fds = t.proc.fds
    ep_file = fds.get(epfd)
    target = fds.get(fd)
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
        raise SyscallError(errno.EINVAL)
    if target.kind in (FileKind.REG, FileKind.DIR) and not isinstance(target, EpollFile):
        raise SyscallError(errno.EPERM)  # regular files and folders cannot be polled
    if not isinstance(ep_file, EpollFile) or target is ep_file:
        raise SyscallError(errno.EINVAL)
    ep = ep_file
    if op == EPOLL_CTL_DEL:
        if ep.interest.pop(fd, None) is None:
            raise SyscallError(errno.ENOENT)
        return 0
    events, data = EVENT.unpack(t.proc.mem.read(event, EVENT.size))
    if op == EPOLL_CTL_ADD:
        if fd in ep.interest:
            raise SyscallError(errno.EEXIST)
        ep.interest[fd] = Registration(target, events, data)
        return 0
    reg = ep.interest.get(fd)
    if reg is None:
        raise SyscallError(errno.ENOENT)
    if events & EPOLLEXCLUSIVE:
        raise SyscallError(errno.EINVAL)
    reg.events, reg.data, reg.armed = events, data, True
    return 0


def _wait(t: Task, epfd: int, events: int, maxevents: int, timeout_ns: int | None) -> int:
    ep = _instance(t, epfd)
    if maxevents <= 0 or maxevents > MAX_EVENTS:
        raise SyscallError(errno.EINVAL)
    ready = ep.ready_events()
    deadline = _deadline(t, timeout_ns)
    if ready or timeout_ns == 0 or (deadline is not None and t.proc.kernel.now_ns() >= deadline):
        out = bytearray()
        for fd, got in ready[:maxevents]:
            reg = ep.interest[fd]
            out += EVENT.pack(got, reg.data)
            if reg.events & EPOLLONESHOT:
                reg.armed = False
        if out:
            t.proc.mem.write(events, bytes(out))
        return len(out) // EVENT.size
    if t.restart.get("interrupted"):
        raise SyscallError(errno.EINTR)
    host = tuple(
        h for h in (reg.file.host_fd() for reg in ep.interest.values() if reg.armed)
        if h is not None
    )  # fmt: skip
    raise Block(ready=ep.read_ready, deadline=deadline, host_fds=host)


@syscall("epoll_wait", Arg.FD, Arg.PTR, Arg.INT, Arg.INT, blocking=True)
def sys_epoll_wait(t: Task, epfd: int, events: int, maxevents: int, timeout_ms: int) -> int:
    return _wait(t, epfd, events, maxevents, None if timeout_ms < 0 else timeout_ms * 1_000_000)


@syscall("epoll_pwait", Arg.FD, Arg.PTR, Arg.INT, Arg.INT, Arg.PTR, Arg.SIZE, blocking=True)
def sys_epoll_pwait(
    t: Task, epfd: int, events: int, maxevents: int, timeout_ms: int, sigmask: int, size: int
) -> int:
    return _wait(t, epfd, events, maxevents, None if timeout_ms < 0 else timeout_ms * 1_000_000)


@syscall("epoll_pwait2", Arg.FD, Arg.PTR, Arg.INT, Arg.PTR, Arg.PTR, Arg.SIZE, blocking=True)
def sys_epoll_pwait2(
    t: Task, epfd: int, events: int, maxevents: int, tsp: int, sigmask: int, size: int
) -> int:
    return _wait(t, epfd, events, maxevents, _timespec_ns(t, tsp, True))
