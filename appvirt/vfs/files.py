"""Open file descriptions of namespace entries: the data path.

* ``NodeFile``: a regular file of a ro/cow/tmpfs mount. Content in memory (``node.data``, shared by
  every description of the inode) is sliced directly; a host file nobody has written is streamed
  with ``os.pread`` on a host fd opened ``O_RDONLY|O_NOFOLLOW`` (never loaded whole). If another fd
  copies the file up later, reads switch to the in-memory copy.
* ``HostFile``: a regular file of an rw mount, passed through to a host fd.
* ``DirFile`` (getdents over the merged listing), ``PathFile`` (O_PATH), ``BytesFile`` (generated
  read-only text: /proc files).

A 4 KiB read or write costs a slice, a ``pread`` or a ``pwrite`` plus a few attribute lookups;
nothing on this path goes through pyfakefs.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from .flags import (
    O_ACCMODE,
    O_APPEND,
    O_NONBLOCK,
    O_RDONLY,
    O_WRONLY,
    SEEK_CUR,
    SEEK_DATA,
    SEEK_END,
    SEEK_HOLE,
    SEEK_SET,
)
from .namespace import DirNode, FileNode, Node, file_kind, node_stat, size_of, touch
from .types import DirEntry, FileKind, OpenFile, Stat, fail

MAX_MEMORY_FILE = 1 << 32  # an in-memory file larger than this fails with EFBIG


class Space:
    """Bytes held by in-memory files (tmpfs and the cow upper layer) against the disk limit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def grant(self, want: int) -> int:
        """How many of ``want`` more bytes fit (all of them without a limit)."""
        if self.limit is None:
            return want
        return max(0, min(want, self.limit - self.used))


def new_position(position: int, size: int, offset: int, whence: int) -> int:
    """lseek arithmetic for a file of ``size`` bytes without holes."""
    if whence == SEEK_SET:
        new = offset
    elif whence == SEEK_CUR:
        new = position + offset
    elif whence == SEEK_END:
        new = size + offset
    elif whence in (SEEK_DATA, SEEK_HOLE):
        if offset < 0 or offset >= size:
            raise fail(errno.ENXIO)
        new = offset if whence == SEEK_DATA else size
    else:
        raise fail(errno.EINVAL)
    if new < 0:
        raise fail(errno.EINVAL)
    return new


def resize(node: FileNode, length: int, space: Space, what: str) -> None:
    """Truncate or zero-extend an in-memory file."""
    buf = node.data
    assert buf is not None
    if length < 0:
        raise fail(errno.EINVAL, what)
    if length > MAX_MEMORY_FILE:
        raise fail(errno.EFBIG, what)
    size = len(buf)
    if length < size:
        del buf[length:]
        space.used -= size - length
    elif length > size:
        if space.grant(length - size) < length - size:
            raise fail(errno.ENOSPC, what)
        buf.extend(bytes(length - size))
        space.used += length - size
    touch(node)


def free_if_orphan(node: FileNode, space: Space) -> None:
    """Drop the content of an inode that has no name and no open description left."""
    if node.opens == 0 and node.stat_result.st_nlink == 0 and node.data is not None:
        space.used -= len(node.data)
        node.data = None


def _access(file: OpenFile, flags: int) -> None:
    acc = flags & O_ACCMODE
    file.flags = flags
    file.readable = acc != O_WRONLY
    file.writable = acc != O_RDONLY
    file.append = bool(flags & O_APPEND)
    file.nonblocking = bool(flags & O_NONBLOCK)


class NodeFile(OpenFile):
    """A regular file of a ro, cow or tmpfs mount (see the module docstring)."""

    kind = FileKind.REG

    def __init__(
        self, node: FileNode, path: str, flags: int, space: Space, host_fd: int | None = None
    ) -> None:
        _access(self, flags)
        self.node = node
        self.path = path
        self._space = space
        self._fd = host_fd
        node.opens += 1

    def read(self, size: int) -> bytes:
        data = self.pread(size, self.position)
        self.position += len(data)
        return data

    def pread(self, size: int, offset: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        if offset < 0 or size < 0:
            raise fail(errno.EINVAL, self.path)
        buf = self.node.data
        if buf is not None:
            return bytes(buf[offset : offset + size])
        if self._fd is None:
            return b""
        return os.pread(self._fd, size, offset)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        buf = self.node.data
        assert buf is not None
        offset = len(buf) if self.append else self.position
        n = self._put(buf, data, offset)
        self.position = offset + n
        return n

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        if offset < 0:
            raise fail(errno.EINVAL, self.path)
        buf = self.node.data
        assert buf is not None
        # Linux: pwrite on an O_APPEND description appends, whatever the offset
        return self._put(buf, data, len(buf) if self.append else offset)

    def _put(self, buf: bytearray, data: bytes, offset: int) -> int:
        n = len(data)
        if n == 0:
            return 0
        end = offset + n
        size = len(buf)
        if end > size:
            if end > MAX_MEMORY_FILE:
                if offset >= MAX_MEMORY_FILE:
                    raise fail(errno.EFBIG, self.path)
                end = MAX_MEMORY_FILE
            grow = self._space.grant(end - size)
            if grow < end - size:
                end = size + grow
                if end <= offset:
                    raise fail(errno.ENOSPC, self.path)
            self._space.used += grow
            if offset > size:
                buf.extend(bytes(offset - size))
            if end - offset != n:
                n = end - offset
                data = data[:n]
        buf[offset:end] = data
        sr = self.node.stat_result
        sr.st_mtime_ns = sr.st_ctime_ns = time.time_ns()
        return n

    def seek(self, offset: int, whence: int) -> int:
        self.position = new_position(self.position, size_of(self.node), offset, whence)
        return self.position

    def stat(self) -> Stat:
        return node_stat(self.node)

    def truncate(self, length: int) -> None:
        if not self.writable:
            raise fail(errno.EINVAL, self.path)
        resize(self.node, length, self._space, self.path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.node.opens -= 1
        free_if_orphan(self.node, self._space)


class HostFile(OpenFile):
    """A regular file of an rw mount: every operation goes to the host fd."""

    kind = FileKind.REG

    def __init__(self, node: FileNode, path: str, flags: int, host_fd: int) -> None:
        _access(self, flags)
        self.node = node
        self.path = path
        self._fd = host_fd

    def _guard(self, e: OSError) -> OSError:
        return fail(e.errno or errno.EIO, self.path)

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        try:
            data = os.read(self._fd, size)
        except OSError as e:
            raise self._guard(e) from None
        self.position += len(data)
        return data

    def pread(self, size: int, offset: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        try:
            return os.pread(self._fd, size, offset)
        except OSError as e:
            raise self._guard(e) from None

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        try:
            n = os.write(self._fd, data)
            self.position = os.lseek(self._fd, 0, os.SEEK_CUR) if self.append else self.position + n
        except OSError as e:
            raise self._guard(e) from None
        return n

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        try:
            return os.pwrite(self._fd, data, offset)
        except OSError as e:
            raise self._guard(e) from None

    def seek(self, offset: int, whence: int) -> int:
        try:
            self.position = os.lseek(self._fd, offset, whence)
        except OSError as e:
            raise self._guard(e) from None
        return self.position

    def stat(self) -> Stat:
        hst = os.fstat(self._fd)
        return Stat.of_host(hst, hst.st_blksize)

    def truncate(self, length: int) -> None:
        if not self.writable:
            raise fail(errno.EINVAL, self.path)
        try:
            os.ftruncate(self._fd, length)
        except OSError as e:
            raise self._guard(e) from None

    def fsync(self) -> None:
        os.fsync(self._fd)

    def release(self) -> None:
        os.close(self._fd)


class DirFile(OpenFile):
    """An open directory: getdents over a snapshot of the merged listing, taken at the first call
    and again after a rewind. getdents advances its own cursor; ``position`` is the caller's
    offset bookkeeping (d_off, telldir), and ``seek`` sets both (0 rewinds)."""

    kind = FileKind.DIR

    def __init__(
        self,
        node: DirNode,
        path: str,
        flags: int,
        lister: Callable[[DirNode], list[DirEntry]],
        stater: Callable[[Node], Stat],
    ) -> None:
        self.flags = flags
        self.writable = False
        self.node = node
        self.path = path
        self._lister = lister
        self._stater = stater
        self._entries: list[DirEntry] | None = None
        self._next = 0

    def read(self, size: int) -> bytes:
        raise fail(errno.EISDIR, self.path)

    def pread(self, size: int, offset: int) -> bytes:
        raise fail(errno.EISDIR, self.path)

    def write(self, data: bytes) -> int:
        raise fail(errno.EBADF, self.path)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise fail(errno.EBADF, self.path)

    def getdents(self, max_entries: int | None = None) -> list[DirEntry]:
        if self._entries is None:
            self._entries = self._lister(self.node)
        start = self._next
        end = len(self._entries) if max_entries is None else start + max(0, max_entries)
        out = self._entries[start:end]
        self._next = start + len(out)
        return out

    def seek(self, offset: int, whence: int) -> int:
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.position + offset
        else:
            raise fail(errno.EINVAL, self.path)
        if new < 0:
            raise fail(errno.EINVAL, self.path)
        if new == 0:
            self._entries = None  # rewinddir: see changes made since
        self.position = self._next = new
        return new

    def stat(self) -> Stat:
        return self._stater(self.node)

    def truncate(self, length: int) -> None:
        raise fail(errno.EISDIR, self.path)


class PathFile(OpenFile):
    """An O_PATH descriptor: names a file (fstat, fchdir, *at base) but cannot do I/O."""

    def __init__(self, node: Node, path: str, flags: int, stater: Callable[[Node], Stat]) -> None:
        self.kind = file_kind(node)
        self.flags = flags
        self.readable = self.writable = False
        self.node = node
        self.path = path
        self._stater = stater

    def read(self, size: int) -> bytes:
        raise fail(errno.EBADF, self.path)

    def write(self, data: bytes) -> int:
        raise fail(errno.EBADF, self.path)

    def pread(self, size: int, offset: int) -> bytes:
        raise fail(errno.EBADF, self.path)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise fail(errno.EBADF, self.path)

    def seek(self, offset: int, whence: int) -> int:
        raise fail(errno.EBADF, self.path)

    def getdents(self, max_entries: int | None = None) -> list[DirEntry]:
        raise fail(errno.EBADF, self.path)

    def truncate(self, length: int) -> None:
        raise fail(errno.EBADF, self.path)

    def stat(self) -> Stat:
        return self._stater(self.node)


class BytesFile(OpenFile):
    """Read-only generated content (a /proc file), fixed when opened."""

    def __init__(self, data: bytes, path: str, flags: int, stat: Stat) -> None:
        self.flags = flags
        self.writable = False
        self.path = path
        self._data = data
        self._stat = stat

    def read(self, size: int) -> bytes:
        data = self.pread(size, self.position)
        self.position += len(data)
        return data

    def pread(self, size: int, offset: int) -> bytes:
        if offset < 0 or size < 0:
            raise fail(errno.EINVAL, self.path)
        return self._data[offset : offset + size]

    def write(self, data: bytes) -> int:
        raise fail(errno.EBADF, self.path)

    def seek(self, offset: int, whence: int) -> int:
        self.position = new_position(self.position, len(self._data), offset, whence)
        return self.position

    def stat(self) -> Stat:
        return self._stat
