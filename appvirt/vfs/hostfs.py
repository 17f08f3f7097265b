"""Host file access confined to a mounted tree.

Every host path is reached from the mount's root by opening one component at a time with
``O_NOFOLLOW`` (``O_PATH|O_DIRECTORY`` for directories) and doing the final operation relative to
the parent's descriptor. A host symlink, or a directory swapped for one after it was listed, is
therefore never followed on the host: the walk fails with ELOOP/ENOTDIR instead of leaving the
mount. Files are opened ``O_NOFOLLOW|O_NONBLOCK`` (a FIFO swapped in cannot block the emulator) and
checked with ``fstat`` before use. Errors are re-raised with the guest path, never a host path.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .types import fail

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY

Parts = Sequence[str]


def _reraise(e: OSError, what: str) -> OSError:
    return fail(e.errno or errno.EIO, what)


def open_dir(root: str, parts: Parts, flags: int = _DIR) -> int:
    """A descriptor for the directory ``root/parts`` reached without following host symlinks."""
    fd = os.open(root, flags if not parts else _DIR)
    try:
        last = len(parts) - 1
        for i, part in enumerate(parts):
            nfd = os.open(part, flags if i == last else _DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def parent_of(root: str, parts: Parts, what: str) -> Iterator[tuple[int, str]]:
    """``(dir_fd, name)`` for the entry ``root/parts`` (which must not be the root itself)."""
    if not parts:
        raise fail(errno.EBUSY, what)
    try:
        fd = open_dir(root, parts[:-1])
    except OSError as e:
        raise _reraise(e, what) from None
    try:
        yield fd, parts[-1]
    except OSError as e:
        raise _reraise(e, what) from None
    finally:
        os.close(fd)


def probe(root: str, parts: Parts, what: str) -> tuple[os.stat_result, str | None] | None:
    """lstat of a host entry (and its link text), or None when it does not exist."""
    try:
        if not parts:
            hst = os.lstat(root)
            return hst, (os.readlink(root) if stat.S_ISLNK(hst.st_mode) else None)
        with parent_of(root, parts, what) as (fd, name):
            hst = os.stat(name, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(hst.st_mode) else None
            return hst, target
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise _reraise(e, what) from None


def listing(root: str, parts: Parts, what: str) -> list[tuple[str, os.stat_result, str | None]]:
    """Every entry of a host directory with its lstat result and link text."""
    try:
        fd = open_dir(root, parts, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise _reraise(e, what) from None
    out = []
    try:
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    hst = entry.stat(follow_symlinks=False)
                    target = os.readlink(entry.name, dir_fd=fd) if entry.is_symlink() else None
                except OSError:
                    continue  # vanished while listing
                out.append((entry.name, hst, target))
    except OSError as e:
        raise _reraise(e, what) from None
    finally:
        os.close(fd)
    return out


def open_file(
    root: str, parts: Parts, flags: int, what: str, mode: int = 0o666
) -> tuple[int, os.stat_result]:
    """Open a host regular file (and fstat it); anything else (symlink, FIFO, device) fails."""
    try:
        if not parts:
            fd = os.open(root, flags | _FILE, mode)
        else:
            with parent_of(root, parts, what) as (dfd, name):
                fd = os.open(name, flags | _FILE, mode, dir_fd=dfd)
    except OSError as e:
        raise _reraise(e, what) from None
    try:
        hst = os.fstat(fd)
    except OSError as e:
        os.close(fd)
        raise _reraise(e, what) from None
    if not stat.S_ISREG(hst.st_mode):
        os.close(fd)
        raise fail(errno.EACCES, what)
    return fd, hst


def read_all(fd: int) -> bytearray:
    out = bytearray()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return out
        out += chunk


def mkdir(root: str, parts: Parts, mode: int, what: str) -> None:
    with parent_of(root, parts, what) as (fd, name):
        os.mkdir(name, mode, dir_fd=fd)


def rmdir(root: str, parts: Parts, what: str) -> None:
    with parent_of(root, parts, what) as (fd, name):
        os.rmdir(name, dir_fd=fd)


def unlink(root: str, parts: Parts, what: str) -> None:
    with parent_of(root, parts, what) as (fd, name):
        os.unlink(name, dir_fd=fd)


def symlink(root: str, parts: Parts, target: str, what: str) -> None:
    with parent_of(root, parts, what) as (fd, name):
        os.symlink(target, name, dir_fd=fd)


def rename(root: str, old: Parts, new: Parts, what: str) -> None:
    with parent_of(root, old, what) as (ofd, oname), parent_of(root, new, what) as (nfd, nname):
        os.rename(oname, nname, src_dir_fd=ofd, dst_dir_fd=nfd)


def link(root: str, old: Parts, new: Parts, what: str) -> None:
    with parent_of(root, old, what) as (ofd, oname), parent_of(root, new, what) as (nfd, nname):
        os.link(oname, nname, src_dir_fd=ofd, dst_dir_fd=nfd, follow_symlinks=False)


@contextmanager
def entry(root: str, parts: Parts, what: str) -> Iterator[tuple[int | None, str]]:
    """``(dir_fd, name)`` for a metadata call on ``root/parts``; ``(None, root)`` for the root
    itself (the configured mount source, which is trusted)."""
    if not parts:
        try:
            yield None, root
        except OSError as e:
            raise _reraise(e, what) from None
        return
    with parent_of(root, parts, what) as (fd, name):
        yield fd, name


def chown(root: str, parts: Parts, uid: int, gid: int, what: str) -> None:
    with entry(root, parts, what) as (fd, name):
        os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)


def utime(root: str, parts: Parts, times: tuple[int, int], what: str) -> None:
    with entry(root, parts, what) as (fd, name):
        os.utime(name, ns=times, dir_fd=fd, follow_symlinks=False)


def chmod(root: str, parts: Parts, mode: int, what: str) -> None:
    """chmod without following a final host symlink: through an O_PATH descriptor of the entry."""
    with entry(root, parts, what) as (fd, name):
        pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            if stat.S_ISLNK(os.fstat(pfd).st_mode):
                raise fail(errno.EOPNOTSUPP, what)
            os.chmod(f"/proc/self/fd/{pfd}", mode)
        finally:
            os.close(pfd)


def truncate(root: str, parts: Parts, length: int, what: str) -> None:
    fd, _ = open_file(root, parts, os.O_WRONLY, what)
    try:
        os.ftruncate(fd, length)
    except OSError as e:
        raise _reraise(e, what) from None
    finally:
        os.close(fd)
