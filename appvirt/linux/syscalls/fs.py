"""File-system syscalls: open/read/write/stat/directories/links, all served by the VFS."""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import TYPE_CHECKING

from ...vfs.types import FileKind, OpenFile
from ..abi import pack_dirent64, pack_statx
from ..syscall import Arg, Ret, SyscallError, syscall
from .common import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_NOFOLLOW,
    at,
    decode,
    encode,
    put_u32,
    read_path,
)
from .poll import must_wait, wait_io

if TYPE_CHECKING:
    from ..kernel import Task

O_ACCMODE = 3
O_CREAT = 0o100
O_CLOEXEC = 0o2000000
O_NONBLOCK = 0o4000
O_APPEND = 0o2000
MAX_IO = 0x7FFFF000


# -- open / close --------------------------------------------------------------------------------
def _open(t: Task, dirfd: int, ptr: int, flags: int, mode: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    proc = t.proc
    f = proc.kernel.vfs.open(path, flags, mode & ~proc.umask & 0o7777, cwd)
    proc.kernel.events.note_path(f.path or path, bool(flags & O_ACCMODE) or bool(flags & O_CREAT))
    try:
        return proc.fds.install(f, bool(flags & O_CLOEXEC))
    except SyscallError:
        f.close()
        raise


@syscall("open", Arg.PATH, Arg.OFLAGS, Arg.MODE, ret=Ret.FD)
def sys_open(t: Task, ptr: int, flags: int, mode: int) -> int:
    return _open(t, AT_FDCWD, ptr, flags, mode)


@syscall("openat", Arg.DIRFD, Arg.PATH, Arg.OFLAGS, Arg.MODE, ret=Ret.FD)
def sys_openat(t: Task, dirfd: int, ptr: int, flags: int, mode: int) -> int:
    return _open(t, dirfd, ptr, flags, mode)


@syscall("creat", Arg.PATH, Arg.MODE, ret=Ret.FD)
def sys_creat(t: Task, ptr: int, mode: int) -> int:
    return _open(t, AT_FDCWD, ptr, 0o1101, mode)


@syscall("close", Arg.FD)
def sys_close(t: Task, fd: int) -> int:
    t.proc.fds.close(fd)
    return 0


@syscall("close_range", Arg.UINT, Arg.UINT, Arg.HEX)
def sys_close_range(t: Task, first: int, last: int, flags: int) -> int:
    fds = t.proc.fds
    for fd in [fd for fd in fds.fds if first <= fd <= last]:
        if flags & 4:  # CLOSE_RANGE_CLOEXEC
            fds.fds[fd].cloexec = True
        else:
            fds.close(fd)
    return 0


# -- read / write --------------------------------------------------------------------------------
def _check_read(f: OpenFile) -> None:
    if not f.readable:
        raise SyscallError(errno.EBADF)


def _check_write(f: OpenFile) -> None:
    if not f.writable:
        raise SyscallError(errno.EBADF)


@syscall("read", Arg.FD, Arg.OUTBUF, Arg.SIZE, blocking=True)
def sys_read(t: Task, fd: int, buf: int, count: int) -> int:
    f = t.proc.fds.get(fd)
    _check_read(f)
    count = min(count, MAX_IO)
    mem = t.proc.mem
    mem.check(buf, count, True)
    data = _read_or_wait(t, f, count)
    if data:
        mem.write(buf, data)
    return len(data)


def _read_or_wait(t: Task, f: OpenFile, count: int) -> bytes:
    """Read, or put the task to sleep (restarting the call) while the stream has nothing yet."""
    if count and must_wait(t, f, False):
        if t.restart.get("interrupted"):
            raise SyscallError(errno.EINTR)
        raise wait_io(t, f, False)
    try:
        return f.read(count)
    except BlockingIOError:
        if f.nonblocking:
            raise SyscallError(errno.EAGAIN) from None
        raise wait_io(t, f, False) from None


@syscall("write", Arg.FD, Arg.INBUF, Arg.SIZE, blocking=True)
def sys_write(t: Task, fd: int, buf: int, count: int) -> int:
    f = t.proc.fds.get(fd)
    _check_write(f)
    data = t.proc.mem.read(buf, min(count, MAX_IO))
    return _write_all(t, f, data)


def _write_all(t: Task, f: OpenFile, data: bytes) -> int:
    try:
        return f.write(data)
    except BlockingIOError:
        if f.nonblocking:
            raise SyscallError(errno.EAGAIN) from None
        raise wait_io(t, f, True) from None
    except BrokenPipeError:
        t.proc.kernel.send_signal(t.proc, 13, t)  # SIGPIPE
        raise SyscallError(errno.EPIPE) from None
    except OSError as err:
        if err.errno == errno.EPIPE:
            t.proc.kernel.send_signal(t.proc, 13, t)
        raise


def _iovecs(t: Task, iov: int, count: int) -> list[tuple[int, int]]:
    if count < 0 or count > 1024:
        raise SyscallError(errno.EINVAL)
    abi = t.proc.abi
    words = abi.unpack_words(t.proc.mem.read(iov, count * 2 * abi.word)) if count else ()
    return [(words[2 * i], words[2 * i + 1]) for i in range(count)]


@syscall("readv", Arg.FD, Arg.PTR, Arg.INT, blocking=True)
def sys_readv(t: Task, fd: int, iov: int, count: int) -> int:
    f = t.proc.fds.get(fd)
    _check_read(f)
    total = 0
    for base, length in _iovecs(t, iov, count):
        if not length:
            continue
        t.proc.mem.check(base, length, True)
        data = _read_or_wait(t, f, length) if total == 0 else _read_nowait(f, length)
        t.proc.mem.write(base, data)
        total += len(data)
        if len(data) < length:
            break
    return total


@syscall("writev", Arg.FD, Arg.PTR, Arg.INT, blocking=True)
def sys_writev(t: Task, fd: int, iov: int, count: int) -> int:
    f = t.proc.fds.get(fd)
    _check_write(f)
    data = b"".join(t.proc.mem.read(base, length) for base, length in _iovecs(t, iov, count))
    return _write_all(t, f, data) if data else 0


def _read_nowait(f: OpenFile, length: int) -> bytes:
    try:
        return f.read(length)
    except BlockingIOError:
        return b""


def _off64(t: Task, lo: int, hi: int) -> int:
    """i386 passes 64-bit offsets as two registers."""
    return (hi << 32) | (lo & 0xFFFFFFFF)


@syscall("pread64", Arg.FD, Arg.OUTBUF, Arg.SIZE, Arg.OFF, Arg.OFF)
def sys_pread64(t: Task, fd: int, buf: int, count: int, off: int, off_hi: int) -> int:
    if not t.proc.abi.is64:
        off = _off64(t, off, off_hi)
    if off < 0:
        raise SyscallError(errno.EINVAL)
    f = t.proc.fds.get(fd)
    _check_read(f)
    t.proc.mem.check(buf, count, True)
    data = f.pread(min(count, MAX_IO), off)
    t.proc.mem.write(buf, data)
    return len(data)


@syscall("pwrite64", Arg.FD, Arg.INBUF, Arg.SIZE, Arg.OFF, Arg.OFF)
def sys_pwrite64(t: Task, fd: int, buf: int, count: int, off: int, off_hi: int) -> int:
    if not t.proc.abi.is64:
        off = _off64(t, off, off_hi)
    if off < 0:
        raise SyscallError(errno.EINVAL)
    f = t.proc.fds.get(fd)
    _check_write(f)
    return f.pwrite(t.proc.mem.read(buf, min(count, MAX_IO)), off)


@syscall("lseek", Arg.FD, Arg.OFF, Arg.WHENCE)
def sys_lseek(t: Task, fd: int, off: int, whence: int) -> int:
    if whence > 4:
        raise SyscallError(errno.EINVAL)
    return t.proc.fds.get(fd).seek(off, whence)


@syscall("_llseek", Arg.FD, Arg.UINT, Arg.UINT, Arg.PTR, Arg.WHENCE)
def sys_llseek(t: Task, fd: int, hi: int, lo: int, result: int, whence: int) -> int:
    off = (hi << 32) | lo
    if off >= 1 << 63:
        off -= 1 << 64
    pos = t.proc.fds.get(fd).seek(off, whence)
    t.proc.mem.write(result, struct.pack("<q", pos))
    return 0


@syscall("sendfile", Arg.FD, Arg.FD, Arg.PTR, Arg.SIZE)
def sys_sendfile(t: Task, out_fd: int, in_fd: int, offp: int, count: int) -> int:
    return _sendfile(t, out_fd, in_fd, offp, count, t.proc.abi.is64)


@syscall("sendfile64", Arg.FD, Arg.FD, Arg.PTR, Arg.SIZE)
def sys_sendfile64(t: Task, out_fd: int, in_fd: int, offp: int, count: int) -> int:
    return _sendfile(t, out_fd, in_fd, offp, count, True)


def _sendfile(t: Task, out_fd: int, in_fd: int, offp: int, count: int, wide_off: bool) -> int:
    """Copy from a file that can be mapped (not a pipe: EINVAL, as Linux) to any descriptor;
    ``wide_off``: the offset pointer holds a 64-bit loff_t (sendfile64, and x86-64's sendfile)."""
    src = t.proc.fds.get(in_fd)
    dst = t.proc.fds.get(out_fd)
    _check_read(src)
    _check_write(dst)
    if src.kind is FileKind.FIFO:
        raise SyscallError(errno.EINVAL)
    count = min(count, MAX_IO)
    if offp:
        fmt = "<q" if wide_off else "<i"
        (off,) = struct.unpack(fmt, t.proc.mem.read(offp, struct.calcsize(fmt)))
        data = src.pread(count, off)
        t.proc.mem.write(offp, struct.pack(fmt, off + len(data)))
    else:
        data = src.read(count)
    return _write_all(t, dst, data) if data else 0


@syscall("copy_file_range", Arg.FD, Arg.PTR, Arg.FD, Arg.PTR, Arg.SIZE, Arg.HEX)
def sys_copy_file_range(t: Task, *_args: int) -> int:
    raise SyscallError(errno.EXDEV)  # callers fall back to read/write


# -- stat family ---------------------------------------------------------------------------------
def _stat_at(t: Task, dirfd: int, ptr: int, flags: int):  # type: ignore[no-untyped-def]
    vfs = t.proc.kernel.vfs
    if flags & AT_EMPTY_PATH:
        path = read_path(t, ptr) if ptr else ""
        if not path:
            if dirfd == AT_FDCWD:
                return vfs.stat(t.proc.cwd)
            return t.proc.fds.get(dirfd).stat()
    path, cwd = at(t, dirfd, ptr)
    return vfs.stat(path, cwd, follow=not flags & AT_SYMLINK_NOFOLLOW)


@syscall("stat", Arg.PATH, Arg.PTR)
def sys_stat(t: Task, ptr: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat(_stat_at(t, AT_FDCWD, ptr, 0)))
    return 0


@syscall("lstat", Arg.PATH, Arg.PTR)
def sys_lstat(t: Task, ptr: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat(_stat_at(t, AT_FDCWD, ptr, AT_SYMLINK_NOFOLLOW)))
    return 0


@syscall("fstat", Arg.FD, Arg.PTR)
def sys_fstat(t: Task, fd: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat(t.proc.fds.get(fd).stat()))
    return 0


@syscall("newfstatat", Arg.DIRFD, Arg.PATH, Arg.PTR, Arg.ATFLAGS)
def sys_newfstatat(t: Task, dirfd: int, ptr: int, buf: int, flags: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat(_stat_at(t, dirfd, ptr, flags)))
    return 0


@syscall("stat64", Arg.PATH, Arg.PTR)
def sys_stat64(t: Task, ptr: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat64(_stat_at(t, AT_FDCWD, ptr, 0)))
    return 0


@syscall("lstat64", Arg.PATH, Arg.PTR)
def sys_lstat64(t: Task, ptr: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat64(_stat_at(t, AT_FDCWD, ptr, AT_SYMLINK_NOFOLLOW)))
    return 0


@syscall("fstat64", Arg.FD, Arg.PTR)
def sys_fstat64(t: Task, fd: int, buf: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat64(t.proc.fds.get(fd).stat()))
    return 0


@syscall("fstatat64", Arg.DIRFD, Arg.PATH, Arg.PTR, Arg.ATFLAGS)
def sys_fstatat64(t: Task, dirfd: int, ptr: int, buf: int, flags: int) -> int:
    t.proc.mem.write(buf, t.proc.abi.pack_stat64(_stat_at(t, dirfd, ptr, flags)))
    return 0


@syscall("statx", Arg.DIRFD, Arg.PATH, Arg.ATFLAGS, Arg.HEX, Arg.PTR)
def sys_statx(t: Task, dirfd: int, ptr: int, flags: int, mask: int, buf: int) -> int:
    t.proc.mem.write(buf, pack_statx(_stat_at(t, dirfd, ptr, flags)))
    return 0


@syscall("statfs", Arg.PATH, Arg.PTR)
def sys_statfs(t: Task, ptr: int, buf: int) -> int:
    from ..abi import pack_statfs32, pack_statfs64

    path, cwd = at(t, AT_FDCWD, ptr)
    sf = t.proc.kernel.vfs.statfs(path, cwd)
    abi = t.proc.abi
    t.proc.mem.write(buf, pack_statfs64(sf, abi.wfmt) if abi.is64 else pack_statfs32(sf))
    return 0


@syscall("fstatfs", Arg.FD, Arg.PTR)
def sys_fstatfs(t: Task, fd: int, buf: int) -> int:
    from ..abi import pack_statfs32, pack_statfs64

    f = t.proc.fds.get(fd)
    sf = t.proc.kernel.vfs.statfs(f.path or "/")
    abi = t.proc.abi
    t.proc.mem.write(buf, pack_statfs64(sf, abi.wfmt) if abi.is64 else pack_statfs32(sf))
    return 0


@syscall("statfs64", Arg.PATH, Arg.SIZE, Arg.PTR)
def sys_statfs64(t: Task, ptr: int, size: int, buf: int) -> int:
    from ..abi import pack_statfs64

    path, cwd = at(t, AT_FDCWD, ptr)
    sf = t.proc.kernel.vfs.statfs(path, cwd)
    t.proc.mem.write(buf, pack_statfs64(sf, "I")[:size])
    return 0


@syscall("fstatfs64", Arg.FD, Arg.SIZE, Arg.PTR)
def sys_fstatfs64(t: Task, fd: int, size: int, buf: int) -> int:
    from ..abi import pack_statfs64

    f = t.proc.fds.get(fd)
    sf = t.proc.kernel.vfs.statfs(f.path or "/")
    t.proc.mem.write(buf, pack_statfs64(sf, "I")[:size])
    return 0


# -- access / links / names ----------------------------------------------------------------------
@syscall("access", Arg.PATH, Arg.ACCESS)
def sys_access(t: Task, ptr: int, mode: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.access(path, mode, cwd)
    return 0


@syscall("faccessat", Arg.DIRFD, Arg.PATH, Arg.ACCESS)
def sys_faccessat(t: Task, dirfd: int, ptr: int, mode: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    t.proc.kernel.vfs.access(path, mode, cwd)
    return 0


@syscall("faccessat2", Arg.DIRFD, Arg.PATH, Arg.ACCESS, Arg.ATFLAGS)
def sys_faccessat2(t: Task, dirfd: int, ptr: int, mode: int, flags: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    t.proc.kernel.vfs.access(path, mode, cwd)
    return 0


def _readlink(t: Task, dirfd: int, ptr: int, buf: int, size: int) -> int:
    if size <= 0:
        raise SyscallError(errno.EINVAL)
    path, cwd = at(t, dirfd, ptr)
    target = encode(t.proc.kernel.vfs.readlink(path, cwd))[:size]
    t.proc.mem.write(buf, target)
    return len(target)


@syscall("readlink", Arg.PATH, Arg.PTR, Arg.SIZE)
def sys_readlink(t: Task, ptr: int, buf: int, size: int) -> int:
    return _readlink(t, AT_FDCWD, ptr, buf, size)


@syscall("readlinkat", Arg.DIRFD, Arg.PATH, Arg.PTR, Arg.SIZE)
def sys_readlinkat(t: Task, dirfd: int, ptr: int, buf: int, size: int) -> int:
    return _readlink(t, dirfd, ptr, buf, size)


@syscall("mkdir", Arg.PATH, Arg.MODE)
def sys_mkdir(t: Task, ptr: int, mode: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.mkdir(path, mode & ~t.proc.umask & 0o7777, cwd)
    return 0


@syscall("mkdirat", Arg.DIRFD, Arg.PATH, Arg.MODE)
def sys_mkdirat(t: Task, dirfd: int, ptr: int, mode: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    t.proc.kernel.vfs.mkdir(path, mode & ~t.proc.umask & 0o7777, cwd)
    return 0


@syscall("rmdir", Arg.PATH)
def sys_rmdir(t: Task, ptr: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.rmdir(path, cwd)
    return 0


@syscall("unlink", Arg.PATH)
def sys_unlink(t: Task, ptr: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.unlink(path, cwd)
    return 0


@syscall("unlinkat", Arg.DIRFD, Arg.PATH, Arg.ATFLAGS)
def sys_unlinkat(t: Task, dirfd: int, ptr: int, flags: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    if flags & AT_REMOVEDIR:
        t.proc.kernel.vfs.rmdir(path, cwd)
    else:
        t.proc.kernel.vfs.unlink(path, cwd)
    return 0


def _rename(t: Task, olddir: int, oldp: int, newdir: int, newp: int, flags: int) -> int:
    old, ocwd = at(t, olddir, oldp)
    new, ncwd = at(t, newdir, newp)
    if not old.startswith("/"):
        old = ocwd.rstrip("/") + "/" + old
    if not new.startswith("/"):
        new = ncwd.rstrip("/") + "/" + new
    t.proc.kernel.vfs.rename(old, new, "/", flags)
    return 0


@syscall("rename", Arg.PATH, Arg.PATH)
def sys_rename(t: Task, oldp: int, newp: int) -> int:
    return _rename(t, AT_FDCWD, oldp, AT_FDCWD, newp, 0)


@syscall("renameat", Arg.DIRFD, Arg.PATH, Arg.DIRFD, Arg.PATH)
def sys_renameat(t: Task, od: int, oldp: int, nd: int, newp: int) -> int:
    return _rename(t, od, oldp, nd, newp, 0)


@syscall("renameat2", Arg.DIRFD, Arg.PATH, Arg.DIRFD, Arg.PATH, Arg.HEX)
def sys_renameat2(t: Task, od: int, oldp: int, nd: int, newp: int, flags: int) -> int:
    return _rename(t, od, oldp, nd, newp, flags)


def _join(path: str, cwd: str) -> str:
    return path if path.startswith("/") else cwd.rstrip("/") + "/" + path


@syscall("link", Arg.PATH, Arg.PATH)
def sys_link(t: Task, oldp: int, newp: int) -> int:
    old, ocwd = at(t, AT_FDCWD, oldp)
    new, ncwd = at(t, AT_FDCWD, newp)
    t.proc.kernel.vfs.link(_join(old, ocwd), _join(new, ncwd))
    return 0


@syscall("linkat", Arg.DIRFD, Arg.PATH, Arg.DIRFD, Arg.PATH, Arg.ATFLAGS)
def sys_linkat(t: Task, od: int, oldp: int, nd: int, newp: int, flags: int) -> int:
    old, ocwd = at(t, od, oldp)
    new, ncwd = at(t, nd, newp)
    t.proc.kernel.vfs.link(_join(old, ocwd), _join(new, ncwd))
    return 0


@syscall("symlink", Arg.STR, Arg.PATH)
def sys_symlink(t: Task, targetp: int, linkp: int) -> int:
    target = read_path(t, targetp)
    path, cwd = at(t, AT_FDCWD, linkp)
    t.proc.kernel.vfs.symlink(target, path, cwd)
    return 0


@syscall("symlinkat", Arg.STR, Arg.DIRFD, Arg.PATH)
def sys_symlinkat(t: Task, targetp: int, dirfd: int, linkp: int) -> int:
    target = read_path(t, targetp)
    path, cwd = at(t, dirfd, linkp)
    t.proc.kernel.vfs.symlink(target, path, cwd)
    return 0


# -- attributes ----------------------------------------------------------------------------------
@syscall("chmod", Arg.PATH, Arg.MODE)
def sys_chmod(t: Task, ptr: int, mode: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.chmod(path, mode & 0o7777, cwd)
    return 0


@syscall("fchmodat", Arg.DIRFD, Arg.PATH, Arg.MODE)
def sys_fchmodat(t: Task, dirfd: int, ptr: int, mode: int) -> int:
    path, cwd = at(t, dirfd, ptr)
    t.proc.kernel.vfs.chmod(path, mode & 0o7777, cwd)
    return 0


@syscall("fchmod", Arg.FD, Arg.MODE)
def sys_fchmod(t: Task, fd: int, mode: int) -> int:
    f = t.proc.fds.get(fd)
    t.proc.kernel.vfs.chmod(f.path, mode & 0o7777)
    return 0


def _chown(t: Task, dirfd: int, ptr: int, uid: int, gid: int, flags: int) -> int:
    vfs = t.proc.kernel.vfs
    if flags & AT_EMPTY_PATH and dirfd != AT_FDCWD and not read_path(t, ptr):
        vfs.chown(t.proc.fds.get(dirfd).path, uid, gid)
        return 0
    path, cwd = at(t, dirfd, ptr)
    vfs.chown(path, uid, gid, cwd, follow=not flags & AT_SYMLINK_NOFOLLOW)
    return 0


@syscall("chown", Arg.PATH, Arg.INT, Arg.INT)
def sys_chown(t: Task, ptr: int, uid: int, gid: int) -> int:
    return _chown(t, AT_FDCWD, ptr, uid, gid, 0)


@syscall("lchown", Arg.PATH, Arg.INT, Arg.INT)
def sys_lchown(t: Task, ptr: int, uid: int, gid: int) -> int:
    return _chown(t, AT_FDCWD, ptr, uid, gid, AT_SYMLINK_NOFOLLOW)


@syscall("chown32", Arg.PATH, Arg.INT, Arg.INT)
def sys_chown32(t: Task, ptr: int, uid: int, gid: int) -> int:
    return _chown(t, AT_FDCWD, ptr, uid, gid, 0)


@syscall("lchown32", Arg.PATH, Arg.INT, Arg.INT)
def sys_lchown32(t: Task, ptr: int, uid: int, gid: int) -> int:
    return _chown(t, AT_FDCWD, ptr, uid, gid, AT_SYMLINK_NOFOLLOW)


@syscall("fchownat", Arg.DIRFD, Arg.PATH, Arg.INT, Arg.INT, Arg.ATFLAGS)
def sys_fchownat(t: Task, dirfd: int, ptr: int, uid: int, gid: int, flags: int) -> int:
    return _chown(t, dirfd, ptr, uid, gid, flags)


@syscall("fchown", Arg.FD, Arg.INT, Arg.INT)
def sys_fchown(t: Task, fd: int, uid: int, gid: int) -> int:
    t.proc.kernel.vfs.chown(t.proc.fds.get(fd).path, uid, gid)
    return 0


@syscall("fchown32", Arg.FD, Arg.INT, Arg.INT)
def sys_fchown32(t: Task, fd: int, uid: int, gid: int) -> int:
    return sys_fchown(t, fd, uid, gid)


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _utimens(
    t: Task, dirfd: int, ptr: int, times: tuple[int | None, int | None] | None, flags: int
) -> int:
    vfs = t.proc.kernel.vfs
    atime, mtime = times if times is not None else (None, None)
    if ptr == 0:
        path, cwd = t.proc.fds.get(dirfd).path, "/"
    else:
        path, cwd = at(t, dirfd, ptr)
    if times is not None and atime == -1 and mtime == -1:
        return 0
    vfs.utimens(path, atime, mtime, cwd, follow=not flags & AT_SYMLINK_NOFOLLOW)
    return 0


def _decode_times(raw: bytes, fmt: str, scale: int) -> tuple[int | None, int | None]:
    """Two (sec, frac) pairs; returns ns values, None for now, -1 for omit."""
    a_s, a_f, m_s, m_f = struct.unpack(fmt, raw)

    def one(sec: int, frac: int) -> int | None:
        if scale == 1 and frac == UTIME_NOW:
            return None
        if scale == 1 and frac == UTIME_OMIT:
            return -1
        return sec * 1_000_000_000 + frac * scale

    return one(a_s, a_f), one(m_s, m_f)


@syscall("utimensat", Arg.DIRFD, Arg.PATH, Arg.PTR, Arg.ATFLAGS)
def sys_utimensat(t: Task, dirfd: int, ptr: int, tp: int, flags: int) -> int:
    abi = t.proc.abi
    times = None
    if tp:
        times = _decode_times(t.proc.mem.read(tp, 4 * abi.word), "<4" + abi.sfmt, 1)
    return _utimens_checked(t, dirfd, ptr, times, flags)


@syscall("utimensat_time64", Arg.DIRFD, Arg.PATH, Arg.PTR, Arg.ATFLAGS)
def sys_utimensat_time64(t: Task, dirfd: int, ptr: int, tp: int, flags: int) -> int:
    times = _decode_times(t.proc.mem.read(tp, 32), "<4q", 1) if tp else None
    return _utimens_checked(t, dirfd, ptr, times, flags)


def _utimens_checked(
    t: Task, dirfd: int, ptr: int, times: tuple[int | None, int | None] | None, flags: int
) -> int:
    if times is not None:
        a, m = times
        vfs_times = (a, m)
        if a == -1 or m == -1:
            st = _stat_at(t, dirfd, ptr, flags) if ptr else t.proc.fds.get(dirfd).stat()
            vfs_times = (st.atime_ns if a == -1 else a, st.mtime_ns if m == -1 else m)
        return _utimens(t, dirfd, ptr, vfs_times, flags)
    return _utimens(t, dirfd, ptr, None, flags)


@syscall("utimes", Arg.PATH, Arg.PTR)
def sys_utimes(t: Task, ptr: int, tp: int) -> int:
    abi = t.proc.abi
    times = _decode_times(t.proc.mem.read(tp, 4 * abi.word), "<4" + abi.sfmt, 1000) if tp else None
    return _utimens(t, AT_FDCWD, ptr, times, 0)


@syscall("utime", Arg.PATH, Arg.PTR)
def sys_utime(t: Task, ptr: int, tp: int) -> int:
    abi = t.proc.abi
    times = None
    if tp:
        a, m = struct.unpack("<2" + abi.sfmt, t.proc.mem.read(tp, 2 * abi.word))
        times = (a * 1_000_000_000, m * 1_000_000_000)
    return _utimens(t, AT_FDCWD, ptr, times, 0)


@syscall("truncate", Arg.PATH, Arg.OFF)
def sys_truncate(t: Task, ptr: int, length: int) -> int:
    if length < 0:
        raise SyscallError(errno.EINVAL)
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.truncate(path, length, cwd)
    return 0


@syscall("ftruncate", Arg.FD, Arg.OFF)
def sys_ftruncate(t: Task, fd: int, length: int) -> int:
    if length < 0:
        raise SyscallError(errno.EINVAL)
    f = t.proc.fds.get(fd)
    if not f.writable:
        raise SyscallError(errno.EINVAL)
    f.truncate(length)
    return 0


@syscall("truncate64", Arg.PATH, Arg.UINT, Arg.UINT)
def sys_truncate64(t: Task, ptr: int, lo: int, hi: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.truncate(path, _off64(t, lo, hi), cwd)
    return 0


@syscall("ftruncate64", Arg.FD, Arg.UINT, Arg.UINT)
def sys_ftruncate64(t: Task, fd: int, lo: int, hi: int) -> int:
    f = t.proc.fds.get(fd)
    if not f.writable:
        raise SyscallError(errno.EINVAL)
    f.truncate(_off64(t, lo, hi))
    return 0


@syscall("fallocate", Arg.FD, Arg.INT, Arg.OFF, Arg.OFF)
def sys_fallocate(t: Task, fd: int, mode: int, off: int, length: int) -> int:
    f = t.proc.fds.get(fd)
    if mode:
        raise SyscallError(errno.EOPNOTSUPP)
    if f.stat().size < off + length:
        f.truncate(off + length)
    return 0


@syscall("fsync", Arg.FD)
def sys_fsync(t: Task, fd: int) -> int:
    t.proc.fds.get(fd).fsync()
    return 0


@syscall("fdatasync", Arg.FD)
def sys_fdatasync(t: Task, fd: int) -> int:
    t.proc.fds.get(fd).fsync()
    return 0


@syscall("sync")
def sys_sync(t: Task) -> int:
    return 0


@syscall("syncfs", Arg.FD)
def sys_syncfs(t: Task, fd: int) -> int:
    t.proc.fds.get(fd)
    return 0


@syscall("fadvise64", Arg.FD, Arg.OFF, Arg.OFF, Arg.INT)
def sys_fadvise64(t: Task, fd: int, *_rest: int) -> int:
    t.proc.fds.get(fd)
    return 0


@syscall("fadvise64_64", Arg.FD, Arg.OFF, Arg.OFF, Arg.OFF, Arg.OFF, Arg.INT)
def sys_fadvise64_64(t: Task, fd: int, *_rest: int) -> int:
    t.proc.fds.get(fd)
    return 0


@syscall("umask", Arg.MODE)
def sys_umask(t: Task, mask: int) -> int:
    old = t.proc.umask
    t.proc.umask = mask & 0o777
    return old


@syscall("mknod", Arg.PATH, Arg.MODE, Arg.HEX)
def sys_mknod(t: Task, ptr: int, mode: int, dev: int) -> int:
    return _mknod(t, AT_FDCWD, ptr, mode)


@syscall("mknodat", Arg.DIRFD, Arg.PATH, Arg.MODE, Arg.HEX)
def sys_mknodat(t: Task, dirfd: int, ptr: int, mode: int, dev: int) -> int:
    return _mknod(t, dirfd, ptr, mode)


def _mknod(t: Task, dirfd: int, ptr: int, mode: int) -> int:
    kind = mode & 0o170000
    path, cwd = at(t, dirfd, ptr)
    if kind in (0, FileKind.REG):
        f = t.proc.kernel.vfs.open(path, O_CREAT | 0o200 | 1, mode & 0o7777 & ~t.proc.umask, cwd)
        f.close()
        return 0
    raise SyscallError(errno.EPERM)


# -- directories ---------------------------------------------------------------------------------
def _getdents(t: Task, fd: int, buf: int, size: int, pack) -> int:  # type: ignore[no-untyped-def]
    f = t.proc.fds.get(fd)
    if f.kind != FileKind.DIR:
        raise SyscallError(errno.ENOTDIR)
    pending: deque = getattr(f, "_pending_dents", None) or deque()  # type: ignore[type-arg]
    if not pending:
        pending = deque(f.getdents())  # a deque: /usr/bin has over a thousand entries
    out = bytearray()
    while pending:
        ent = pending[0]
        rec = pack(ent, f.position + 1)
        if len(out) + len(rec) > size:
            break
        out += rec
        pending.popleft()
        f.position += 1
    f._pending_dents = pending  # type: ignore[attr-defined]
    if not out and pending:
        raise SyscallError(errno.EINVAL)
    t.proc.mem.write(buf, bytes(out))
    return len(out)


@syscall("getdents64", Arg.FD, Arg.PTR, Arg.SIZE)
def sys_getdents64(t: Task, fd: int, buf: int, size: int) -> int:
    return _getdents(t, fd, buf, size, pack_dirent64)


@syscall("getdents", Arg.FD, Arg.PTR, Arg.SIZE)
def sys_getdents(t: Task, fd: int, buf: int, size: int) -> int:
    return _getdents(t, fd, buf, size, t.proc.abi.pack_dirent)


@syscall("getcwd", Arg.PTR, Arg.SIZE)
def sys_getcwd(t: Task, buf: int, size: int) -> int:
    cwd = encode(t.proc.cwd) + b"\0"
    if len(cwd) > size:
        raise SyscallError(errno.ERANGE)
    t.proc.mem.write(buf, cwd)
    return len(cwd)


@syscall("chdir", Arg.PATH)
def sys_chdir(t: Task, ptr: int) -> int:
    path, cwd = at(t, AT_FDCWD, ptr)
    vfs = t.proc.kernel.vfs
    real = vfs.realpath(path, cwd)
    if not vfs.is_dir(real):
        raise SyscallError(errno.ENOTDIR)
    vfs.access(real, 1)
    t.proc.cwd = real
    return 0


@syscall("fchdir", Arg.FD)
def sys_fchdir(t: Task, fd: int) -> int:
    f = t.proc.fds.get(fd)
    if f.kind != FileKind.DIR:
        raise SyscallError(errno.ENOTDIR)
    t.proc.cwd = f.path
    return 0


@syscall("chroot", Arg.PATH)
def sys_chroot(t: Task, ptr: int) -> int:
    raise SyscallError(errno.EPERM)


# -- descriptors ---------------------------------------------------------------------------------
def _dup_to(t: Task, old: int, new: int, cloexec: bool) -> int:
    fds = t.proc.fds
    f = fds.get(old)
    if old == new:
        return new
    f.ref()
    fds.install_at(new, f, cloexec)
    return new


@syscall("dup", Arg.FD, ret=Ret.FD)
def sys_dup(t: Task, fd: int) -> int:
    f = t.proc.fds.get(fd)
    new = t.proc.fds.lowest_free()
    f.ref()
    t.proc.fds.install_at(new, f)
    return new


@syscall("dup2", Arg.FD, Arg.FD, ret=Ret.FD)
def sys_dup2(t: Task, old: int, new: int) -> int:
    return _dup_to(t, old, new, False)


@syscall("dup3", Arg.FD, Arg.FD, Arg.FDFLAGS, ret=Ret.FD)
def sys_dup3(t: Task, old: int, new: int, flags: int) -> int:
    if old == new or flags & ~O_CLOEXEC:
        raise SyscallError(errno.EINVAL)
    return _dup_to(t, old, new, bool(flags & O_CLOEXEC))


F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_DUPFD_CLOEXEC = 1030
F_GETPIPE_SZ = 1032


@syscall("fcntl", Arg.FD, Arg.FCNTL, Arg.HEX)
def sys_fcntl(t: Task, fd: int, cmd: int, arg: int) -> int:
    fds = t.proc.fds
    f = fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        new = fds.lowest_free(arg)
        f.ref()
        fds.install_at(new, f, cmd == F_DUPFD_CLOEXEC)
        return new
    if cmd == F_GETFD:
        return 1 if fds.fds[fd].cloexec else 0
    if cmd == F_SETFD:
        fds.fds[fd].cloexec = bool(arg & 1)
        return 0
    if cmd == F_GETFL:
        acc = 2 if f.readable and f.writable else (1 if f.writable else 0)
        return acc | (O_APPEND if f.append else 0) | (O_NONBLOCK if f.nonblocking else 0)
    if cmd == F_SETFL:
        f.append = bool(arg & O_APPEND)
        f.nonblocking = bool(arg & O_NONBLOCK)
        return 0
    if cmd in (F_GETLK, 12):  # F_GETLK64 on i386
        return 0
    if cmd in (
        F_SETLK,
        F_SETLKW,
        13,
        14,
        36,
        37,
        38,
    ):  # locks always granted: one writer per sandbox
        return 0
    if cmd == F_GETPIPE_SZ:
        return 65536
    raise SyscallError(errno.EINVAL)


@syscall("fcntl64", Arg.FD, Arg.FCNTL, Arg.HEX)
def sys_fcntl64(t: Task, fd: int, cmd: int, arg: int) -> int:
    return sys_fcntl(t, fd, cmd, arg)


@syscall("flock", Arg.FD, Arg.INT)
def sys_flock(t: Task, fd: int, op: int) -> int:
    t.proc.fds.get(fd)
    return 0


# -- terminals -----------------------------------------------------------------------------------
TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIOCLEX = 0x5451
FIONCLEX = 0x5450
TIOCGSID = 0x5429


@syscall("ioctl", Arg.FD, Arg.IOCTL, Arg.HEX)
def sys_ioctl(t: Task, fd: int, req: int, arg: int) -> int:
    from . import tty

    f = t.proc.fds.get(fd)
    req &= 0xFFFFFFFF
    if req == FIOCLEX:
        t.proc.fds.fds[fd].cloexec = True
        return 0
    if req == FIONCLEX:
        t.proc.fds.fds[fd].cloexec = False
        return 0
    if req == FIONBIO:
        (val,) = struct.unpack("<i", t.proc.mem.read(arg, 4))
        f.nonblocking = bool(val)
        return 0
    if req == FIONREAD:
        avail = getattr(f, "available", None)
        put_u32(t, arg, avail() if callable(avail) else 0)
        return 0
    if not f.isatty():
        raise SyscallError(errno.ENOTTY)
    return tty.terminal_ioctl(t, f, req, arg)


def path_of(t: Task, fd: int) -> str:
    return decode(encode(t.proc.fds.get(fd).path))


# -- extended attributes: the sandbox's files carry none ----------------------------------------
def _xattr_target(t: Task, ptr: int, follow: bool) -> None:
    path, cwd = at(t, AT_FDCWD, ptr)
    t.proc.kernel.vfs.lookup(path, cwd, follow=follow)


@syscall("getxattr", Arg.PATH, Arg.STR, Arg.PTR, Arg.SIZE)
def sys_getxattr(t: Task, ptr: int, name: int, value: int, size: int) -> int:
    _xattr_target(t, ptr, True)
    raise SyscallError(errno.ENODATA)


@syscall("lgetxattr", Arg.PATH, Arg.STR, Arg.PTR, Arg.SIZE)
def sys_lgetxattr(t: Task, ptr: int, name: int, value: int, size: int) -> int:
    _xattr_target(t, ptr, False)
    raise SyscallError(errno.ENODATA)


@syscall("fgetxattr", Arg.FD, Arg.STR, Arg.PTR, Arg.SIZE)
def sys_fgetxattr(t: Task, fd: int, name: int, value: int, size: int) -> int:
    t.proc.fds.get(fd)
    raise SyscallError(errno.ENODATA)


@syscall("listxattr", Arg.PATH, Arg.PTR, Arg.SIZE)
def sys_listxattr(t: Task, ptr: int, buf: int, size: int) -> int:
    _xattr_target(t, ptr, True)
    return 0


@syscall("llistxattr", Arg.PATH, Arg.PTR, Arg.SIZE)
def sys_llistxattr(t: Task, ptr: int, buf: int, size: int) -> int:
    _xattr_target(t, ptr, False)
    return 0


@syscall("flistxattr", Arg.FD, Arg.PTR, Arg.SIZE)
def sys_flistxattr(t: Task, fd: int, buf: int, size: int) -> int:
    t.proc.fds.get(fd)
    return 0


for _name, _kind in (("setxattr", Arg.PATH), ("lsetxattr", Arg.PATH), ("fsetxattr", Arg.FD)):
    syscall(_name, _kind, Arg.STR, Arg.PTR, Arg.SIZE, Arg.HEX)(lambda t, *a: -errno.EOPNOTSUPP)
for _name, _kind in (
    ("removexattr", Arg.PATH),
    ("lremovexattr", Arg.PATH),
    ("fremovexattr", Arg.FD),
):
    syscall(_name, _kind, Arg.STR)(lambda t, *a: -errno.ENODATA)
