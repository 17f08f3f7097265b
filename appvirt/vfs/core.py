"""State and helpers shared by the VFS's operations: resolution, permission checks, the rw host
mirror, stat of a node and the merged directory listing."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from . import hostfs, layers, perms
from .files import Space
from .namespace import (
    DirNode,
    FileNode,
    Namespace,
    Node,
    attach,
    file_kind,
    kind_of,
    name_of,
    node_stat,
    set_host_stat,
    touch,
)
from .resolve import Resolved, Resolver
from .types import DirEntry, FileKind, MountMode, OpenFile, Stat, fail

_KINDS = {int(kind): kind for kind in FileKind}


class VFSCore:
    """What every operation needs; ``VFS.__init__`` fills it in."""

    uid: int
    gid: int
    _ns: Namespace
    _resolver: Resolver
    _lookup: Callable[[DirNode, str, str], Node | None]
    _space: Space
    _tty: OpenFile | None
    _random: Callable[[int], bytes]

    def _resolve(self, path: str, cwd: str, follow: bool) -> Resolved:
        return self._resolver.resolve(path, cwd, follow=follow, uid=self.uid, gid=self.gid)

    @staticmethod
    def _need(r: Resolved) -> Node:
        if r.node is None:
            raise fail(errno.ENOENT, r.path)
        return r.node

    def _check(self, node: Node, want: int, what: str) -> None:
        if want and not perms.allowed(node, want, self.uid, self.gid):
            raise fail(errno.EACCES, what)

    def _check_parent(self, parent: DirNode, victim: Node | None, what: str) -> None:
        """Write+search on the directory, and the sticky-bit rule for removing ``victim``."""
        if self.uid == 0:
            return
        self._check(parent, perms.W | perms.X, what)
        if victim is not None and parent.stat_result.st_mode & 0o1000:
            if self.uid not in (victim.stat_result.st_uid, parent.stat_result.st_uid):
                raise fail(errno.EPERM, what)

    @staticmethod
    def _host(node: Node) -> tuple[str, tuple[str, ...]] | None:
        """(host root, parts) when ``node`` is written through to the host (rw mounts)."""
        mount = node.mount
        if mount.mode is MountMode.RW and mount.host is not None and node.origin is not None:
            return mount.host, node.origin
        return None

    @staticmethod
    def _host_child(parent: DirNode, name: str, what: str) -> tuple[str, tuple[str, ...]] | None:
        """(host root, parts) of a new entry ``name`` in an rw directory; hidden paths refuse."""
        mount = parent.mount
        if mount.mode is not MountMode.RW or mount.host is None or parent.origin is None:
            return None
        parts = (*parent.origin, name)
        if parts in mount.hidden:
            raise fail(errno.EACCES, what)
        return mount.host, parts

    def _adopt(
        self, parent: DirNode, name: str, host: tuple[str, tuple[str, ...]], what: str
    ) -> Node:
        """Mirror an entry just created on the host into the namespace."""
        root, parts = host
        found = hostfs.probe(root, parts, what)
        if found is None:
            raise fail(errno.ENOENT, what)
        hst, target = found
        parent.children.pop(name, None)
        node = self._ns.from_host(name, hst, target, parent.mount, parts)
        attach(parent, name, node, count=False)
        return node

    def _stat_node(self, node: Node) -> Stat:
        host = self._host(node)
        if host is not None:
            found = hostfs.probe(host[0], host[1], name_of(node))
            if found is not None and found[0].st_mode & 0o170000 == kind_of(node):
                set_host_stat(node, found[0])
        return node_stat(node)

    def _dir_entries(self, node: DirNode) -> list[DirEntry]:
        parent = node.parent_dir() if node.parent_dir is not None else None
        if parent is None or node is self._ns.root:
            parent = node
        out = [
            DirEntry(".", int(node.stat_result.st_ino or 0), FileKind.DIR),
            DirEntry("..", int(parent.stat_result.st_ino or 0), FileKind.DIR),
        ]
        children = node.children
        kinds = _KINDS
        for name in layers.names(self._ns, node, name_of(node)):
            child = children.get(name)
            if child is None:  # a dynamic directory's entry
                child = self._lookup(node, name, name)
                if child is None:
                    continue
            sr = child.stat_result
            kind = kinds.get(int(sr.st_mode) & 0o170000)
            if kind is None:
                kind = file_kind(child)  # raises as before for a mode with no file type
            out.append(DirEntry(name, int(sr.st_ino or 0), kind))
        return out

    def _open_host(self, node: FileNode, path: str) -> int:
        """A read-only host fd for a host-backed file, checked against what was listed."""
        mount = node.mount
        if mount.host is None or node.origin is None:
            raise fail(errno.EIO, path)
        fd, hst = hostfs.open_file(mount.host, node.origin, os.O_RDONLY, path)
        sr = node.stat_result
        if (hst.st_ino, hst.st_dev) != (sr.st_ino, sr.st_dev):
            os.close(fd)
            raise fail(errno.ESTALE, path)  # replaced on the host since it was listed
        return fd

    def _copy_up(self, node: FileNode, path: str, *, truncate: bool) -> None:
        """First write to a cow host file: its bytes move to memory (the upper layer)."""
        if truncate:
            data = bytearray()
            touch(node)
        else:
            size = int(node.stat_result.st_size)
            if self._space.grant(size) < size:
                raise fail(errno.ENOSPC, path)
            fd = self._open_host(node, path)
            try:
                data = hostfs.read_all(fd)
            finally:
                os.close(fd)
            if self._space.grant(len(data)) < len(data):
                raise fail(errno.ENOSPC, path)
        self._space.used += len(data)
        node.data = data
