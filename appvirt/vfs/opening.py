"""Opening guest paths: the kind of open file each node gets, creation, copy-up, O_PATH, O_TMPFILE."""

from __future__ import annotations

import errno
import os

from . import devices, hostfs, perms
from .core import VFSCore
from .files import BytesFile, DirFile, HostFile, NodeFile, PathFile, resize
from .flags import (
    O_ACCMODE,
    O_APPEND,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
)
from .namespace import (
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    DirNode,
    FileNode,
    Node,
    attach,
    kind_of,
    node_stat,
    touch,
)
from .proc import ProcFile
from .resolve import Resolved
from .types import MountMode, OpenFile, fail


class Opening(VFSCore):
    """open() and the open file description each kind of node gets."""

    def open(self, path: str, flags: int, mode: int = 0o666, cwd: str = "/") -> OpenFile:
        """Open a guest path with Linux O_* flags; returns a new open file description."""
        if flags & O_TMPFILE == O_TMPFILE:
            return self._open_tmpfile(path, flags, mode, cwd)
        if flags & O_PATH:
            return self._open_path(path, flags, cwd)
        if flags & O_ACCMODE == O_ACCMODE:
            raise fail(errno.EINVAL, path)
        creat = bool(flags & O_CREAT)
        excl = creat and bool(flags & O_EXCL)
        r = self._resolve(path, cwd, follow=not (flags & O_NOFOLLOW) and not excl)
        if r.magic is not None:
            if excl:
                raise fail(errno.EEXIST, path)
            r.magic.ref()
            return r.magic
        if r.node is None:
            if not creat:
                raise fail(errno.ENOENT, path)
            if r.slash:
                raise fail(errno.EISDIR, path)
            if flags & O_DIRECTORY:
                raise fail(errno.EINVAL, path)  # Linux >= 6.4
            return self._create(r, flags, mode)
        if excl:
            raise fail(errno.EEXIST, path)
        return self._open_node(r.node, r.path, flags)

    def _open_node(self, node: Node, path: str, flags: int) -> OpenFile:
        kind = kind_of(node)
        acc = flags & O_ACCMODE
        writing = acc != O_RDONLY or bool(flags & O_TRUNC)
        if kind == S_IFLNK:
            raise fail(errno.ELOOP, path)
        if flags & O_DIRECTORY and kind != S_IFDIR:
            raise fail(errno.ENOTDIR, path)
        if isinstance(node, DirNode):
            if acc != O_RDONLY or flags & O_CREAT:
                raise fail(errno.EISDIR, path)
            self._check(node, perms.R, path)
            return DirFile(node, path, flags, self._dir_entries, self._stat_node)
        self._check(node, (perms.R if acc != O_WRONLY else 0) | (perms.W if writing else 0), path)
        if node.device:
            return devices.open_device(node, path, flags, tty=self._tty, source=self._random)
        if isinstance(node, ProcFile):
            if writing:
                raise fail(errno.EACCES, path)
            return BytesFile(node.produce(), path, flags, node_stat(node))
        if kind != S_IFREG:
            raise fail(errno.EACCES, path)  # a host FIFO, socket or device
        if writing:
            node.mount.check_writable(path)
        host = self._host(node)
        if host is not None:
            hflags = acc | (os.O_APPEND if flags & O_APPEND else 0)
            hflags |= os.O_TRUNC if flags & O_TRUNC else 0
            hfd, _ = hostfs.open_file(host[0], host[1], hflags, path)
            return HostFile(node, path, flags, hfd)
        if writing and node.data is None:
            self._copy_up(node, path, truncate=bool(flags & O_TRUNC))
        elif flags & O_TRUNC and node.data:
            resize(node, 0, self._space, path)
        fd: int | None = self._open_host(node, path) if node.data is None else None
        return NodeFile(node, path, flags, self._space, fd)

    def _create(self, r: Resolved, flags: int, mode: int) -> OpenFile:
        parent = r.parent
        assert parent is not None
        parent.mount.check_writable(r.path)
        if parent.dynamic:
            raise fail(errno.EACCES, r.path)
        self._check_parent(parent, None, r.path)
        host = self._host_child(parent, r.name, r.path)
        if host is not None:
            hflags = (flags & O_ACCMODE) | os.O_CREAT
            hflags |= os.O_APPEND if flags & O_APPEND else 0
            hflags |= os.O_TRUNC if flags & O_TRUNC else 0
            fd, _ = hostfs.open_file(host[0], host[1], hflags, r.path, mode & 0o7777)
            try:
                node = self._adopt(parent, r.name, host, r.path)
            except OSError:
                os.close(fd)
                raise
            assert isinstance(node, FileNode)
            return HostFile(node, r.path, flags, fd)
        node = self._ns.new_file(r.name, mode, parent.mount, self.uid, self.gid)
        attach(parent, r.name, node)
        touch(parent)
        return NodeFile(node, r.path, flags, self._space)

    def _open_path(self, path: str, flags: int, cwd: str) -> OpenFile:
        r = self._resolve(path, cwd, follow=not flags & O_NOFOLLOW)
        if r.magic is not None:
            r.magic.ref()
            return r.magic
        node = self._need(r)
        if flags & O_DIRECTORY and not isinstance(node, DirNode):
            raise fail(errno.ENOTDIR, path)
        return PathFile(node, r.path, flags, self._stat_node)

    def _open_tmpfile(self, path: str, flags: int, mode: int, cwd: str) -> OpenFile:
        if flags & O_ACCMODE == O_RDONLY:
            raise fail(errno.EINVAL, path)
        r = self._resolve(path, cwd, follow=True)
        d = self._need(r)
        if not isinstance(d, DirNode):
            raise fail(errno.ENOTDIR, path)
        d.mount.check_writable(path)
        if d.mount.mode is MountMode.RW or d.dynamic:
            raise fail(errno.EOPNOTSUPP, path)
        self._check(d, perms.W | perms.X, path)
        node = self._ns.new_file("", mode, d.mount, self.uid, self.gid)
        name = f"#{node.stat_result.st_ino}"
        return NodeFile(node, f"{r.path.rstrip('/')}/{name} (deleted)", flags, self._space)
