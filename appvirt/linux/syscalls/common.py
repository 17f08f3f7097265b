"""Small helpers every handler family uses: guest strings, *at() path bases, struct I/O."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ...vfs.types import FileKind
from ..syscall import SyscallError

if TYPE_CHECKING:
    from ..kernel import Task

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def read_path(t: Task, ptr: int) -> str:
    if ptr == 0:
        raise SyscallError(errno.EFAULT)
    raw = t.proc.mem.read_cstr(ptr, 4096)
    return decode(raw)


def base_dir(t: Task, dirfd: int, path: str) -> str:
    """The directory a relative ``path`` of an *at() call is resolved from."""
    if path.startswith("/"):
        return "/"
    if dirfd == AT_FDCWD:
        return t.proc.cwd
    f = t.proc.fds.get(dirfd)
    if f.kind != FileKind.DIR:
        raise SyscallError(errno.ENOTDIR)
    return f.path


def at(t: Task, dirfd: int, ptr: int) -> tuple[str, str]:
    """(path, cwd) for an *at() call's arguments."""
    path = read_path(t, ptr)
    if not path:
        raise SyscallError(errno.ENOENT)
    return path, base_dir(t, dirfd, path)


def put_u32(t: Task, ptr: int, value: int) -> None:
    t.proc.mem.write(ptr, struct.pack("<I", value & 0xFFFFFFFF))


def put_word(t: Task, ptr: int, value: int) -> None:
    t.proc.mem.write(ptr, t.proc.abi.pack_words(value))


def read_words(t: Task, ptr: int, count: int) -> tuple[int, ...]:
    abi = t.proc.abi
    return abi.unpack_words(t.proc.mem.read(ptr, count * abi.word))
