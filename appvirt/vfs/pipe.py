"""Pipes between guest processes: a 64 KiB buffer shared by a read end and a write end.

Neither end ever blocks: an empty pipe with a writer, or a full pipe with a reader, raises
``BlockingIOError`` (EAGAIN) and the kernel decides whether to put the task to sleep. Each end is
one open file description; ``ref()``/``close()`` count the fds that refer to it, and the other end
sees EOF (reads return b"") or EPIPE (writes fail) once the last fd of this end is closed.
"""

from __future__ import annotations

import errno
import itertools

from .types import FileKind, OpenFile, Stat, fail

PIPE_BUF = 4096  # writes up to this size are atomic: all or nothing
CAPACITY = 65536

_inos = itertools.count(0x2000_0000)


class PipeBuffer:
    __slots__ = ("data", "readers", "writers", "capacity", "ino")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.data = bytearray()
        self.readers = 0
        self.writers = 0
        self.capacity = capacity
        self.ino = next(_inos)


class _PipeEnd(OpenFile):
    kind = FileKind.FIFO

    def __init__(self, buf: PipeBuffer) -> None:
        self._buf = buf
        self.path = f"pipe:[{buf.ino}]"

    def stat(self) -> Stat:
        return Stat(mode=int(FileKind.FIFO) | 0o600, ino=self._buf.ino, dev=0xC, blksize=4096)

    def available(self) -> int:
        """Bytes waiting to be read (FIONREAD)."""
        return len(self._buf.data)


class PipeReader(_PipeEnd):
    readable = True
    writable = False

    def __init__(self, buf: PipeBuffer) -> None:
        super().__init__(buf)
        buf.readers += 1

    def read(self, size: int) -> bytes:
        buf = self._buf
        if size < 0:
            raise fail(errno.EINVAL, self.path)
        if buf.data:
            out = bytes(buf.data[:size])
            del buf.data[:size]
            return out
        if buf.writers == 0 or size == 0:
            return b""
        raise BlockingIOError(errno.EAGAIN, "pipe empty")

    def write(self, data: bytes) -> int:
        raise fail(errno.EBADF, self.path)

    def read_ready(self) -> bool:
        return bool(self._buf.data) or self._buf.writers == 0

    def write_ready(self) -> bool:
        return False

    def release(self) -> None:
        self._buf.readers -= 1


class PipeWriter(_PipeEnd):
    readable = False
    writable = True

    def __init__(self, buf: PipeBuffer) -> None:
        super().__init__(buf)
        buf.writers += 1

    def write(self, data: bytes) -> int:
        buf = self._buf
        if buf.readers == 0:
            raise fail(errno.EPIPE, self.path)
        if not data:
            return 0
        room = buf.capacity - len(buf.data)
        if room <= 0 or (len(data) <= PIPE_BUF and room < len(data)):
            raise BlockingIOError(errno.EAGAIN, "pipe full")
        n = min(room, len(data))
        buf.data += data[:n]
        return n

    def read(self, size: int) -> bytes:
        raise fail(errno.EBADF, self.path)

    def read_ready(self) -> bool:
        return False

    def write_ready(self) -> bool:
        buf = self._buf
        # like poll's POLLOUT: room for an atomic write
        return buf.readers == 0 or buf.capacity - len(buf.data) >= min(PIPE_BUF, buf.capacity)

    def release(self) -> None:
        self._buf.writers -= 1


def make_pipe(capacity: int = CAPACITY) -> tuple[OpenFile, OpenFile]:
    """(read end, write end) of a new pipe."""
    buf = PipeBuffer(capacity)
    return PipeReader(buf), PipeWriter(buf)
