"""Standard streams of a guest process: host descriptors, byte buffers, Python file objects.

These are what the process VM installs as fds 0, 1 and 2. None of them exposes a host path: ``path``
(the readlink of /proc/self/fd/N) is ``/dev/pts/0`` for a terminal, ``pipe:[N]``/``socket:[N]`` for
pipes and sockets, and a neutral name otherwise.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from typing import IO

from .types import FileKind, OpenFile, Stat, fail


def _kind_of(mode: int, tty: bool) -> FileKind:
    if tty or stat.S_ISCHR(mode):
        return FileKind.CHR
    if stat.S_ISFIFO(mode):
        return FileKind.FIFO
    if stat.S_ISSOCK(mode):
        return FileKind.SOCK
    return FileKind.REG


class HostFdStream(OpenFile):
    """Reads and writes passed through to a host descriptor the caller owns (not closed here unless
    ``owned``). Reads may block if the host fd is blocking; ``read_ready`` polls without blocking."""

    def __init__(self, fd: int, readable: bool, writable: bool, *, owned: bool = False) -> None:
        self._fd = fd
        self._owned = owned
        self.readable = readable
        self.writable = writable
        self.flags = 2 if readable and writable else (1 if writable else 0)
        self._tty = os.isatty(fd)
        hst = os.fstat(fd)
        self.kind = _kind_of(hst.st_mode, self._tty)
        if self._tty:
            self.path = "/dev/pts/0"
        elif self.kind is FileKind.FIFO:
            self.path = f"pipe:[{hst.st_ino}]"
        elif self.kind is FileKind.SOCK:
            self.path = f"socket:[{hst.st_ino}]"
        elif self.kind is FileKind.CHR:
            self.path = "/dev/null" if hst.st_rdev == os.makedev(1, 3) else "/dev/char"
        else:
            self.path = "/dev/stdio"

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        return os.read(self._fd, size)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        return os.write(self._fd, data)

    def pread(self, size: int, offset: int) -> bytes:
        if self.kind is not FileKind.REG:
            raise fail(errno.ESPIPE, self.path)
        return os.pread(self._fd, size, offset)

    def pwrite(self, data: bytes, offset: int) -> int:
        if self.kind is not FileKind.REG:
            raise fail(errno.ESPIPE, self.path)
        return os.pwrite(self._fd, data, offset)

    def seek(self, offset: int, whence: int) -> int:
        if self.kind is not FileKind.REG:
            raise fail(errno.ESPIPE, self.path)
        self.position = os.lseek(self._fd, offset, whence)
        return self.position

    def stat(self) -> Stat:
        hst = os.fstat(self._fd)
        st = Stat.of_host(hst, hst.st_blksize)
        st.mode = int(self.kind) | (hst.st_mode & 0o7777)
        if self.kind is not FileKind.REG:
            st.size = 0
        return st

    def fsync(self) -> None:
        if self.kind is FileKind.REG:
            os.fsync(self._fd)

    def isatty(self) -> bool:
        return self._tty

    def host_fd(self) -> int | None:
        return self._fd

    def _poll(self, want_write: bool) -> bool:
        try:
            r, w, _ = select.select(
                [] if want_write else [self._fd], [self._fd] if want_write else [], [], 0
            )
        except (OSError, ValueError):
            return True
        return bool(w if want_write else r)

    def read_ready(self) -> bool:
        return self._poll(False)

    def write_ready(self) -> bool:
        return self._poll(True)

    def release(self) -> None:
        if self._owned:
            os.close(self._fd)


class BufferStream(OpenFile):
    """Reads from given bytes (then EOF) and collects writes into a bytearray."""

    kind = FileKind.FIFO

    def __init__(
        self,
        data: bytes = b"",
        sink: bytearray | None = None,
        *,
        readable: bool = True,
        writable: bool = True,
    ) -> None:
        self._data = bytes(data)
        self.sink = sink if sink is not None else bytearray()
        self.readable = readable
        self.writable = writable
        self.flags = 2 if readable and writable else (1 if writable else 0)
        self.path = f"pipe:[{id(self) & 0xFFFFFF}]"

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        if size < 0:
            raise fail(errno.EINVAL, self.path)
        out = self._data[self.position : self.position + size]
        self.position += len(out)
        return out

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        self.sink += data
        return len(data)

    def getvalue(self) -> bytes:
        return bytes(self.sink)

    def stat(self) -> Stat:
        return Stat(mode=int(FileKind.FIFO) | 0o600, ino=id(self) & 0xFFFFFF, dev=0xC)


class PyFileStream(OpenFile):
    """A Python binary file object (``sys.stdout.buffer``, ``io.BytesIO``, an open file)."""

    kind = FileKind.FIFO

    def __init__(self, fileobj: IO[bytes], *, flush: bool = True) -> None:
        self._file = fileobj
        self._flush = flush
        self.readable = _ask(fileobj, "readable")
        self.writable = _ask(fileobj, "writable")
        self.flags = 2 if self.readable and self.writable else (1 if self.writable else 0)
        self.path = f"pipe:[{id(self) & 0xFFFFFF}]"

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        reader = getattr(self._file, "read1", None) or self._file.read
        data = reader(size)
        if data is None:
            raise BlockingIOError(errno.EAGAIN, "no data")
        return bytes(data)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        n = self._file.write(data)
        if self._flush:
            self._file.flush()
        return len(data) if n is None else n

    def fsync(self) -> None:
        if self.writable:
            self._file.flush()

    def isatty(self) -> bool:
        return _ask(self._file, "isatty")

    def stat(self) -> Stat:
        return Stat(mode=int(FileKind.FIFO) | 0o600, ino=id(self) & 0xFFFFFF, dev=0xC)


def _ask(fileobj: object, method: str) -> bool:
    try:
        return bool(getattr(fileobj, method)())
    except (AttributeError, OSError, ValueError):
        return False
