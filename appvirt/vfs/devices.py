"""/dev: the device nodes the VFS provides itself, and their open files.

Nothing here touches the host's /dev: /dev/null, zero, full, random, urandom and tty are served in
Python; stdin/stdout/stderr/fd are symlinks into /proc/self/fd; /dev/shm and /dev/pts are in-memory
directories of the /dev mount.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable

from .flags import O_ACCMODE, O_RDONLY, O_WRONLY
from .mounts import Mount
from .namespace import DirNode, FileNode, Namespace, attach, node_stat
from .types import FileKind, OpenFile, Stat, fail

S_IFCHR = 0o020000


def makedev(major: int, minor: int) -> int:
    """Linux's encoding of a device number (as glibc's makedev)."""
    return (
        ((major & 0xFFFFF000) << 32)
        | ((major & 0xFFF) << 8)
        | ((minor & 0xFFFFFF00) << 12)
        | (minor & 0xFF)
    )


# name: (major, minor)
DEVICES: dict[str, tuple[int, int]] = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}

LINKS = {
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "fd": "/proc/self/fd",
}


def build(ns: Namespace, mount: Mount) -> DirNode:
    """The /dev directory (the root of its own in-memory mount)."""
    dev = ns.new_dir("dev", 0o755, mount)
    dev.mount_root = True
    for name, (major, minor) in DEVICES.items():
        node = ns.new_special(name, S_IFCHR | 0o666, mount, name, makedev(major, minor))
        attach(dev, name, node)
    for name, target in LINKS.items():
        attach(dev, name, ns.new_symlink(name, target, mount))
    attach(dev, "shm", ns.new_dir("shm", 0o1777, mount))
    attach(dev, "pts", ns.new_dir("pts", 0o755, mount))
    return dev


def random_source(seed: int | None) -> Callable[[int], bytes]:
    """os.urandom, or a deterministic generator when the run asked for a seed."""
    if seed is None:
        return os.urandom
    return random.Random(seed).randbytes


class DeviceFile(OpenFile):
    kind = FileKind.CHR

    def __init__(self, node: FileNode, path: str, flags: int) -> None:
        acc = flags & O_ACCMODE
        self.flags = flags
        self.readable = acc != O_WRONLY
        self.writable = acc != O_RDONLY
        self.node = node
        self.path = path

    def _produce(self, size: int) -> bytes:
        return b""

    def _consume(self, data: bytes) -> int:
        return len(data)

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise fail(errno.EBADF, self.path)
        if size < 0:
            raise fail(errno.EINVAL, self.path)
        return self._produce(size)

    def pread(self, size: int, offset: int) -> bytes:
        return self.read(size)

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise fail(errno.EBADF, self.path)
        return self._consume(data)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self.write(data)

    def seek(self, offset: int, whence: int) -> int:
        return 0

    def truncate(self, length: int) -> None:
        return None  # O_TRUNC on a device is ignored; so is ftruncate's effect

    def stat(self) -> Stat:
        return node_stat(self.node)


class NullDevice(DeviceFile):
    pass


class ZeroDevice(DeviceFile):
    def _produce(self, size: int) -> bytes:
        return bytes(size)


class FullDevice(DeviceFile):
    def _produce(self, size: int) -> bytes:
        return bytes(size)

    def _consume(self, data: bytes) -> int:
        raise fail(errno.ENOSPC, self.path)


class RandomDevice(DeviceFile):
    def __init__(
        self, node: FileNode, path: str, flags: int, source: Callable[[int], bytes]
    ) -> None:
        super().__init__(node, path, flags)
        self._source = source

    def _produce(self, size: int) -> bytes:
        return self._source(size)


def open_device(
    node: FileNode,
    path: str,
    flags: int,
    *,
    tty: OpenFile | None,
    source: Callable[[int], bytes],
) -> OpenFile:
    name = node.device
    if name == "tty":
        if tty is None:
            raise fail(errno.ENXIO, path)
        tty.ref()
        return tty
    if name == "null":
        return NullDevice(node, path, flags)
    if name == "zero":
        return ZeroDevice(node, path, flags)
    if name == "full":
        return FullDevice(node, path, flags)
    if name in ("random", "urandom"):
        return RandomDevice(node, path, flags, source)
    raise fail(errno.ENXIO, path)
