"""What the guest changed in copy-on-write mounts: the upper layer described against the host.

There is no dirty log: the loaded part of each cow mount is walked. An entry whose ``origin`` is its
own position is the host's (modified if it has in-memory bytes or changed metadata); any other entry
is new here (added: created by the guest, or moved/linked from elsewhere). Host names the guest
removed are the directories' ``whiteouts``. Parents come before children and, within a directory,
deletions before additions, so applying the list in order reproduces the guest's view.
"""

from __future__ import annotations

import enum
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from . import hostfs, layers
from .mounts import Mount
from .namespace import DirNode, FileNode, Namespace, Node, file_kind, is_link, is_reg
from .types import FileKind, MountMode


class ChangeKind(enum.Enum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(slots=True, frozen=True)
class Change:
    kind: ChangeKind
    path: str  # guest path
    file_kind: FileKind
    mode: int = 0  # permission bits
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    target: str | None = None  # symlinks: the link text
    ino: int = 0  # equal for names of one inode (hard links)
    content: bool = True  # MODIFIED: False when only metadata changed
    reader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def read(self) -> bytes:
        """The file's bytes as the guest sees them now (b"" for anything but a regular file)."""
        return self.reader() if self.reader is not None else b""


def collect(ns: Namespace, mounts: list[Mount]) -> list[Change]:
    out: list[Change] = []
    for mount in mounts:
        if mount.mode is not MountMode.COW or mount.host is None:
            continue
        root = mount.root()
        if isinstance(root, DirNode):
            _Walk(ns, mount, out).host_dir(root, mount.guest)
        elif isinstance(root, FileNode) and (root.data is not None or root.meta_changed):
            out.append(_describe(ChangeKind.MODIFIED, root, mount.guest, root.data is not None))
    return out


def _reader(node: FileNode) -> Callable[[], bytes] | None:
    if not is_reg(node):
        return None
    if node.data is not None:
        data = node.data
        return lambda: bytes(data)
    mount, origin = node.mount, node.origin
    if mount.host is None or origin is None:
        return None
    root = mount.host

    def read_host() -> bytes:
        fd, _ = hostfs.open_file(root, origin, os.O_RDONLY, posixpath.join("/", *origin))
        try:
            return bytes(hostfs.read_all(fd))
        finally:
            os.close(fd)

    return read_host


def _describe(kind: ChangeKind, node: Node, path: str, content: bool = True) -> Change:
    sr = node.stat_result
    is_file = isinstance(node, FileNode)
    return Change(
        kind=kind,
        path=path,
        file_kind=file_kind(node),
        mode=int(sr.st_mode) & 0o7777,
        uid=int(sr.st_uid),
        gid=int(sr.st_gid),
        mtime_ns=int(sr.st_mtime_ns),
        target=node.target if is_file and is_link(node) else None,  # type: ignore[union-attr]
        ino=int(sr.st_ino or 0),
        content=content,
        reader=_reader(node) if isinstance(node, FileNode) else None,
    )


class _Walk:
    def __init__(self, ns: Namespace, mount: Mount, out: list[Change]) -> None:
        self.ns = ns
        self.mount = mount
        self.out = out

    def _mine(self, node: Node) -> bool:
        return node.mount is self.mount and not node.mount_root

    def host_dir(self, d: DirNode, path: str) -> None:
        """A directory still at its host position: report what differs inside it."""
        assert d.origin is not None
        if d.meta_changed:
            self.out.append(_describe(ChangeKind.MODIFIED, d, path, False))
        for name in sorted(d.whiteouts):
            child = d.children.get(name)
            if child is None or child.origin != (*d.origin, name):
                self.out.append(self._deleted(d, name, posixpath.join(path, name)))
        for name in sorted(d.children):
            child = d.children[name]
            if not self._mine(child):
                continue
            cpath = posixpath.join(path, name)
            if child.origin != (*d.origin, name):
                self.added(child, cpath)
            elif isinstance(child, DirNode):
                self.host_dir(child, cpath)
            elif child.data is not None or child.meta_changed:
                self.out.append(
                    _describe(ChangeKind.MODIFIED, child, cpath, child.data is not None)
                )

    def added(self, node: Node, path: str) -> None:
        """A new entry (created, or moved here): it and everything below it are added."""
        if isinstance(node, DirNode):
            if not node.skeleton:
                self.out.append(_describe(ChangeKind.ADDED, node, path))
            if not node.complete:
                layers.complete(self.ns, node, path)
            for name in sorted(node.children):
                child = node.children[name]
                if self._mine(child):
                    self.added(child, posixpath.join(path, name))
        else:
            self.out.append(_describe(ChangeKind.ADDED, node, path))

    def _deleted(self, d: DirNode, name: str, path: str) -> Change:
        assert self.mount.host is not None and d.origin is not None
        kind = FileKind.REG
        try:
            found = hostfs.probe(self.mount.host, (*d.origin, name), path)
        except OSError:
            found = None
        if found is not None:
            kind = FileKind(found[0].st_mode & 0o170000)
        return Change(ChangeKind.DELETED, path, kind)
