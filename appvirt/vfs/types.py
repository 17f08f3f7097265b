"""The contract between the virtual filesystem and the personalities that use it.

Personalities (Linux syscalls, Win32 file APIs) see only these types: guest paths go in, ``OpenFile``
objects and ``Stat`` records come out, and every failure is an ``OSError`` carrying a Linux errno.
"""

from __future__ import annotations

import enum
import errno
import os
from dataclasses import dataclass, field


class MountMode(enum.Enum):
    RO = "ro"  # host visible, writes fail with EROFS
    COW = "cow"  # host visible, writes land in the sandbox's upper layer
    RW = "rw"  # host written through (only where a user asked for it)
    TMPFS = "tmpfs"  # memory only, starts empty


@dataclass(slots=True, frozen=True)
class MountSpec:
    guest: str  # absolute guest path
    mode: MountMode
    host: str | None = None  # None for tmpfs
    hidden: tuple[str, ...] = ()  # guest paths inside the mount that do not exist for the guest


class FileKind(enum.IntEnum):
    """File types as the S_IFMT bits of st_mode."""

    FIFO = 0o010000
    CHR = 0o020000
    DIR = 0o040000
    BLK = 0o060000
    REG = 0o100000
    LNK = 0o120000
    SOCK = 0o140000


@dataclass(slots=True)
class Stat:
    mode: int  # S_IFMT | permission bits
    size: int = 0
    ino: int = 0
    dev: int = 0x801
    nlink: int = 1
    uid: int = 0
    gid: int = 0
    rdev: int = 0
    blksize: int = 4096
    blocks: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0

    @classmethod
    def of_host(cls, hst: os.stat_result, blksize: int = 4096) -> Stat:
        """A host ``lstat``/``fstat`` result as the guest sees it. ``blksize`` is the VFS's own
        unless the caller reports the host's (a file open on the host)."""
        return cls(
            mode=hst.st_mode,
            size=hst.st_size,
            ino=hst.st_ino,
            dev=hst.st_dev,
            nlink=hst.st_nlink,
            uid=hst.st_uid,
            gid=hst.st_gid,
            rdev=hst.st_rdev,
            blksize=blksize,
            blocks=hst.st_blocks,
            atime_ns=hst.st_atime_ns,
            mtime_ns=hst.st_mtime_ns,
            ctime_ns=hst.st_ctime_ns,
        )

    @property
    def kind(self) -> int:
        return self.mode & 0o170000


@dataclass(slots=True, frozen=True)
class DirEntry:
    name: str
    ino: int
    kind: FileKind


@dataclass(slots=True)
class StatFs:
    type: int = 0x01021994  # TMPFS_MAGIC
    bsize: int = 4096
    blocks: int = 1 << 20
    bfree: int = 1 << 19
    bavail: int = 1 << 19
    files: int = 1 << 16
    ffree: int = 1 << 15
    namelen: int = 255
    frsize: int = 4096
    flags: int = 0
    fsid: tuple[int, int] = field(default=(0, 0))


# utimens(): a time given as UTIME_OMIT is left unchanged (None means "now").
UTIME_OMIT = -(1 << 63)


def fail(code: int, what: str = "") -> OSError:
    """Build the OSError the VFS raises: ``raise fail(errno.ENOENT, path)``."""
    return OSError(code, errno.errorcode.get(code, "error"), what)


class OpenFile:
    """An open file description, shared by every fd that dup()/fork() made of it.

    Subclasses override what they support; the defaults fail the way Linux does for a file of a
    kind that cannot do the operation.

    Reference counting: a description starts with one reference (the fd that opened it). The fd
    layer calls ``ref()`` for every further fd made of it (dup, fork, ``/proc/self/fd/N`` re-open of
    a stream) and ``close()`` for every fd closed; ``release()`` runs once, when the count reaches 0.
    Subclasses free what they hold in ``release()``, not in ``close()``.
    """

    kind: FileKind = FileKind.REG
    path: str = ""  # guest path it was opened by (readlink of /proc/self/fd/N)
    readable: bool = True
    writable: bool = False
    append: bool = False
    nonblocking: bool = False
    position: int = 0
    flags: int = 0  # the O_* flags it was opened with (fcntl F_GETFL)
    refs: int = 1

    def read(self, size: int) -> bytes:
        raise fail(errno.EINVAL)

    def write(self, data: bytes) -> int:
        raise fail(errno.EINVAL)

    def pread(self, size: int, offset: int) -> bytes:
        raise fail(errno.ESPIPE)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise fail(errno.ESPIPE)

    def seek(self, offset: int, whence: int) -> int:
        raise fail(errno.ESPIPE)

    def stat(self) -> Stat:
        return Stat(mode=int(self.kind) | 0o600)

    def truncate(self, length: int) -> None:
        raise fail(errno.EINVAL)

    def getdents(self, max_entries: int | None = None) -> list[DirEntry]:
        """Entries not yet returned (``.`` and ``..`` first), at most ``max_entries``; a second call
        returns the rest (or []). ``seek(n, SEEK_SET)`` goes back to entry n (for a caller that could
        not fit every entry in the guest's buffer) and ``seek(0, SEEK_SET)`` rewinds and re-reads
        the directory."""
        raise fail(errno.ENOTDIR)

    def fsync(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def host_fd(self) -> int | None:
        """The host descriptor behind a passthrough stream (tty ioctls), else None."""
        return None

    def read_ready(self) -> bool:
        return True

    def write_ready(self) -> bool:
        return True

    def ref(self) -> None:
        """One more fd refers to this description."""
        self.refs += 1

    def close(self) -> None:
        """One fd referring to this description was closed."""
        if self.refs <= 0:
            return
        self.refs -= 1
        if self.refs == 0:
            self.release()

    @property
    def closed(self) -> bool:
        return self.refs <= 0

    def release(self) -> None:
        """Free what the description holds; runs once, when the last fd is closed."""
        return None
