"""The guest namespace: a pyfakefs ``FakeFilesystem`` used as a library, holding the tree.

pyfakefs holds the names, the tree shape and the metadata (mode, uid, gid, times, nlink, inode and
device numbers, symlink targets as its link contents). appvirt's node subclasses add where a file's
bytes come from:

* ``origin``: the entry's path (a tuple of names) under its mount's host root, for entries loaded
  from the host. It never changes, so after a copy-on-write rename it still says where the host
  bytes are, and ``changes()`` compares it with the entry's position.
* ``data``: a ``bytearray`` with the content of an in-memory file (tmpfs, a new file, a cow file
  after copy-up). Every ``OpenFile`` of the inode reads and writes this one buffer, so a write
  through one fd is seen through the others and in ``stat``. A host-backed file that was never
  written has ``data is None`` and is streamed from the host with ``pread``.
* ``hstat``: the ``Stat`` of a file of a read-only host mount, built once from the host's lstat.
  Nothing can change such a node (every change fails with EROFS first), so ``stat`` returns it as
  it is, and ``ls -l`` of a large folder spends no time rebuilding it.
* directories: ``complete`` (the host listing has been merged in), ``whiteouts`` (host names the
  guest removed from a cow directory, so a later lookup does not find them on the host again),
  ``absent`` (names a ro/cow host directory was found not to have: start-up probes repeat).

pyfakefs's own file objects and ``add_entry``/``remove_entry`` are not used: they read whole host
files, check permissions against process-global ids and cost tens of microseconds per read; the tree
is linked here with ``attach``/``detach``. A node for a host file (a listing of /usr/bin makes over a
thousand) is built by ``Namespace.from_host`` without ``FakeFile.__init__``: the same attributes,
set in one step (tests/vfs/test_host_nodes.py checks they stay identical to pyfakefs's own).
"""

from __future__ import annotations

import itertools
import os
import stat as st
import time
import weakref
from typing import cast

from . import fakefs_lazy
from .fakefs_lazy import FakeDirectory, FakeFile, FakeFilesystem, FakeStatResult
from .mounts import Mount
from .types import FileKind, MountMode, OpenFile, Stat

fakefs_lazy.install()

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000

FIRST_MEMORY_INO = 0x8000_0000  # in-memory inodes: above typical host inode numbers, below 2**32


class FileNode(FakeFile):
    """Any non-directory entry: regular file, symlink, device, FIFO, socket, /proc file."""

    mount: Mount
    origin: tuple[str, ...] | None
    data: bytearray | None
    device: str  # name of a VFS device ("null", "zero", ...) for /dev nodes
    rdev: int
    blocks: int | None  # host st_blocks (sparse files), else computed
    opens: int  # OpenFiles of this inode still open (unlinked data lives until 0)
    mount_root: bool
    meta_changed: bool
    hstat: Stat | None = None  # read-only host file: its Stat, built once (module docstring)

    def __init__(
        self,
        fs: FakeFilesystem,
        name: str,
        mode: int,
        mount: Mount,
        *,
        target: str | None = None,
        origin: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(
            name,
            mode,
            contents=target,
            filesystem=fs,
            encoding="utf-8",
            errors="surrogateescape",
        )
        # straight into __dict__: FakeFile.__setattr__ is slow, and these are not stat fields
        vars(self).update(
            mount=mount,
            origin=origin,
            data=None,
            device="",
            rdev=0,
            blocks=None,
            opens=0,
            mount_root=False,
            meta_changed=False,
            hstat=None,
        )

    @property
    def target(self) -> str:
        return self.contents or ""


class DirNode(FakeDirectory):
    """A directory; host-backed ones are filled lazily (one name per lookup, all for a listing)."""

    dynamic = False  # /proc directories compute their children instead
    hstat: Stat | None = None  # only files keep a built Stat
    children: dict[str, Node]  # the pyfakefs entry dict itself (never rebound), typed
    absent: set[str]  # ro/cow: names the host was found not to have
    mount: Mount
    origin: tuple[str, ...] | None
    complete: bool  # the host listing has been merged in
    whiteouts: set[str]  # cow: host names the guest removed
    skeleton: bool  # created only to hold a mount point
    mount_root: bool
    meta_changed: bool

    def __init__(
        self,
        fs: FakeFilesystem,
        name: str,
        mode: int,
        mount: Mount,
        *,
        origin: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(name, mode & 0o7777, filesystem=fs)
        vars(self).update(
            children=cast("dict[str, Node]", self.entries),
            absent=set(),
            mount=mount,
            origin=origin,
            complete=origin is None,
            whiteouts=set(),
            skeleton=False,
            mount_root=False,
            meta_changed=False,
        )
        self.stat_result.st_nlink = 2

    def child(self, name: str) -> Node | None:
        """Dynamic directories: the entry called ``name``, built on demand."""
        return None

    def names(self) -> list[str]:
        """Dynamic directories: the names listed."""
        return []


Node = FileNode | DirNode


def name_of(node: FakeFile) -> str:
    return str(node.name)


def kind_of(node: FakeFile) -> int:
    return int(node.stat_result.st_mode) & S_IFMT


def is_dir(node: FakeFile) -> bool:
    return int(node.stat_result.st_mode) & S_IFMT == S_IFDIR


def is_link(node: FakeFile) -> bool:
    return int(node.stat_result.st_mode) & S_IFMT == S_IFLNK


def is_reg(node: FakeFile) -> bool:
    return int(node.stat_result.st_mode) & S_IFMT == S_IFREG


class Namespace:
    """The FakeFilesystem plus the factories for appvirt's nodes."""

    def __init__(self) -> None:
        self.fs = FakeFilesystem(path_separator="/")
        self._inos = itertools.count(FIRST_MEMORY_INO)
        self._fs_ref = weakref.ref(self.fs)
        self._windows_fs = self.fs.is_windows_fs  # a property: read once, not per node

    @property
    def root(self) -> DirNode:
        root = self.fs.root
        assert isinstance(root, DirNode)
        return root

    def set_root(self, node: DirNode) -> None:
        node.parent_dir = None
        self.fs.root = node

    def new_ino(self) -> int:
        return next(self._inos)

    def _own(self, node: FakeFile, mount: Mount, uid: int, gid: int) -> None:
        sr = node.stat_result
        sr.st_ino = self.new_ino()
        sr.st_dev = mount.dev
        sr.st_uid = uid
        sr.st_gid = gid
        now = time.time_ns()
        sr.st_atime_ns = sr.st_mtime_ns = sr.st_ctime_ns = now

    def new_dir(self, name: str, perm: int, mount: Mount, uid: int = 0, gid: int = 0) -> DirNode:
        node = DirNode(self.fs, name, perm, mount)
        self._own(node, mount, uid, gid)
        return node

    def new_file(self, name: str, perm: int, mount: Mount, uid: int = 0, gid: int = 0) -> FileNode:
        node = FileNode(self.fs, name, S_IFREG | (perm & 0o7777), mount)
        node.data = bytearray()
        self._own(node, mount, uid, gid)
        return node

    def new_symlink(
        self, name: str, target: str, mount: Mount, uid: int = 0, gid: int = 0
    ) -> FileNode:
        node = FileNode(self.fs, name, S_IFLNK | 0o777, mount, target=target)
        self._own(node, mount, uid, gid)
        return node

    def new_special(self, name: str, mode: int, mount: Mount, device: str, rdev: int) -> FileNode:
        node = FileNode(self.fs, name, mode, mount)
        node.device = device
        node.rdev = rdev
        self._own(node, mount, 0, 0)
        return node

    def from_host(
        self,
        name: str,
        hst: os.stat_result,
        target: str | None,
        mount: Mount,
        origin: tuple[str, ...],
    ) -> Node:
        """A node describing a host entry (lstat result ``hst``); content stays on the host."""
        mode = hst.st_mode
        if st.S_ISDIR(mode):
            node = DirNode(self.fs, name, mode, mount, origin=origin)
            set_host_stat(node, hst)
            return node
        # What FileNode(...) followed by set_host_stat would leave, without FakeFile.__init__ and
        # its attribute-by-attribute __setattr__ (about 15 us a node).
        sr = _new_stat_result(FakeStatResult)
        vars(sr).update(
            st_mode=mode,
            st_ino=hst.st_ino,
            st_dev=hst.st_dev,
            st_nlink=hst.st_nlink,
            st_uid=hst.st_uid,
            st_gid=hst.st_gid,
            _st_size=hst.st_size,
            is_windows=self._windows_fs,
            _st_atime_ns=hst.st_atime_ns,
            _st_mtime_ns=hst.st_mtime_ns,
            _st_ctime_ns=hst.st_ctime_ns,
        )
        file = _new_node(FileNode)
        vars(file).update(
            _filesystem=self._fs_ref,
            _side_effect=None,
            name=name,
            stat_result=sr,
            encoding="utf-8",
            errors="surrogateescape",
            _byte_contents=None if target is None else target.encode("utf-8", "surrogateescape"),
            epoch=0,
            parent_dir=None,
            xattr={},
            opened_as="",
            open_modes=None,
            mount=mount,
            origin=origin,
            data=None,
            device="",
            rdev=hst.st_rdev,
            blocks=hst.st_blocks,
            opens=0,
            mount_root=False,
            meta_changed=False,
            hstat=Stat.of_host(hst) if mount.mode is MountMode.RO else None,
        )
        return file


_new_node = object.__new__
_new_stat_result = object.__new__


def set_host_stat(node: FakeFile, hst: os.stat_result) -> None:
    sr = node.stat_result
    sr.set_from_stat_result(hst)
    sr.st_ino = hst.st_ino
    sr.st_dev = hst.st_dev
    sr.st_nlink = hst.st_nlink
    if isinstance(node, FileNode):
        node.blocks = hst.st_blocks
    else:
        node.host_blocks = hst.st_blocks  # type: ignore[attr-defined]


def attach(parent: DirNode, name: str, node: Node, *, count: bool = True) -> None:
    """Link ``node`` into ``parent`` as ``name`` (the name must be free)."""
    parent.entries[name] = node
    # straight into __dict__ (FakeFile.__setattr__ only forwards stat fields, and is slow)
    vars(node).update(name=name, parent_dir=weakref.ref(parent))
    if not count:
        return
    if isinstance(node, DirNode):
        parent.stat_result.st_nlink += 1
    else:
        node.stat_result.st_nlink += 1


def detach(parent: DirNode, name: str) -> Node:
    """Unlink ``name`` from ``parent``; remembers a removed host name of a cow directory."""
    node = parent.children.pop(name)
    if isinstance(node, DirNode):
        parent.stat_result.st_nlink -= 1
    else:
        node.stat_result.st_nlink = max(0, node.stat_result.st_nlink - 1)
    cow = parent.mount.mode is MountMode.COW
    if cow and parent.origin is not None and node.origin == (*parent.origin, name):
        parent.whiteouts.add(name)
    return node


def touch(node: FakeFile, *, modify: bool = True) -> None:
    now = time.time_ns()
    sr = node.stat_result
    if modify:
        sr.st_mtime_ns = now
    sr.st_ctime_ns = now


def size_of(node: FakeFile) -> int:
    if isinstance(node, FileNode) and node.data is not None:
        return len(node.data)
    if isinstance(node, DirNode):
        return 4096 if node.origin is None else int(node.stat_result.st_size)
    return int(node.stat_result.st_size)


def node_stat(node: FakeFile) -> Stat:
    """The node's ``Stat`` (the caller must not modify it: a read-only host file's is shared)."""
    cached = node.hstat if isinstance(node, FileNode) else None
    if cached is not None:
        return cached
    sr = node.stat_result
    size = size_of(node)
    blocks = node.blocks if isinstance(node, FileNode) and node.data is None else None
    if isinstance(node, DirNode) and node.origin is not None:
        blocks = getattr(node, "host_blocks", None)
    return Stat(
        mode=int(sr.st_mode),
        size=size,
        ino=int(sr.st_ino or 0),
        dev=int(sr.st_dev),
        nlink=int(sr.st_nlink),
        uid=int(sr.st_uid),
        gid=int(sr.st_gid),
        rdev=node.rdev if isinstance(node, FileNode) else 0,
        blocks=blocks if blocks is not None else (size + 511) // 512,
        atime_ns=int(sr.st_atime_ns),
        mtime_ns=int(sr.st_mtime_ns),
        ctime_ns=int(sr.st_ctime_ns),
    )


def file_kind(node: FakeFile) -> FileKind:
    return FileKind(kind_of(node))


class MagicLink(FileNode):
    """``/proc/self/fd/N``: reads as a symlink to the open file's path; following it lands on the
    open inode itself (or the stream), like Linux's magic links."""

    def __init__(self, fs: FakeFilesystem, name: str, mount: Mount, file: OpenFile) -> None:
        perm = (0o500 if file.readable else 0o100) | (0o200 if file.writable else 0)
        super().__init__(fs, name, S_IFLNK | perm, mount, target=file.path or "anon_inode:[file]")
        self.file = file
