"""A process's file-descriptor table: numbers pointing at shared open file descriptions."""

from __future__ import annotations

import errno

from ..vfs.types import OpenFile
from .syscall import SyscallError


class Fd:
    """One descriptor (a plain slotted class: dataclasses cost launch time)."""

    __slots__ = ("file", "cloexec")

    def __init__(self, file: OpenFile, cloexec: bool = False) -> None:
        self.file = file
        self.cloexec = cloexec


class FdTable:
    def __init__(self, limit: int = 1024) -> None:
        self.fds: dict[int, Fd] = {}
        self.limit = limit

    def get(self, fd: int) -> OpenFile:
        entry = self.fds.get(fd)
        if entry is None:
            raise SyscallError(errno.EBADF)
        return entry.file

    def lowest_free(self, start: int = 0) -> int:
        fd = start
        while fd in self.fds:
            fd += 1
        if fd >= self.limit:
            raise SyscallError(errno.EMFILE)
        return fd

    def install(self, file: OpenFile, cloexec: bool = False, start: int = 0) -> int:
        fd = self.lowest_free(start)
        self.fds[fd] = Fd(file, cloexec)
        return fd

    def install_at(self, fd: int, file: OpenFile, cloexec: bool = False) -> None:
        if fd < 0 or fd >= self.limit:
            raise SyscallError(errno.EBADF)
        old = self.fds.get(fd)
        self.fds[fd] = Fd(file, cloexec)
        if old is not None:
            old.file.close()

    def close(self, fd: int) -> None:
        entry = self.fds.pop(fd, None)
        if entry is None:
            raise SyscallError(errno.EBADF)
        entry.file.close()

    def fork(self) -> FdTable:
        child = FdTable(self.limit)
        for fd, entry in self.fds.items():
            ref = getattr(entry.file, "ref", None)
            if ref is not None:
                ref()
            child.fds[fd] = Fd(entry.file, entry.cloexec)
        return child

    def close_on_exec(self) -> None:
        for fd in [fd for fd, e in self.fds.items() if e.cloexec]:
            self.close(fd)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)

    def paths(self) -> dict[int, OpenFile]:
        return {fd: e.file for fd, e in self.fds.items()}
