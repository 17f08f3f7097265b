"""Changing the tree: directories, names, links and metadata, per mount mode (ro refuses, rw
changes the host first and mirrors it, cow and tmpfs change only the namespace)."""

from __future__ import annotations

import errno
import time

from . import hostfs, layers, perms
from .core import VFSCore
from .files import free_if_orphan, resize
from .flags import RENAME_NOREPLACE
from .namespace import (
    S_IFMT,
    S_IFREG,
    DirNode,
    FileNode,
    Node,
    attach,
    detach,
    is_link,
    kind_of,
    touch,
)
from .proc import ProcFile
from .types import UTIME_OMIT, fail


class Changing(VFSCore):
    """mkdir, rmdir, unlink, rename, link, symlink, chmod, chown, utimens, truncate."""

    def mkdir(self, path: str, mode: int = 0o777, cwd: str = "/") -> None:
        r = self._resolve(path, cwd, False)
        if r.node is not None or r.magic is not None:
            raise fail(errno.EEXIST, path)
        parent = r.parent
        assert parent is not None
        parent.mount.check_writable(path)
        if parent.dynamic:
            raise fail(errno.EACCES, path)
        self._check_parent(parent, None, path)
        host = self._host_child(parent, r.name, path)
        if host is not None:
            hostfs.mkdir(host[0], host[1], mode & 0o7777, path)
            self._adopt(parent, r.name, host, path)
            return
        attach(parent, r.name, self._ns.new_dir(r.name, mode, parent.mount, self.uid, self.gid))
        touch(parent)

    def rmdir(self, path: str, cwd: str = "/") -> None:
        r = self._resolve(path, cwd, False)
        if r.via_link:
            raise fail(errno.ENOTDIR, path)
        if r.name == ".":
            raise fail(errno.EINVAL, path)
        if r.name == "..":
            raise fail(errno.ENOTEMPTY, path)
        node = self._need(r)
        if not isinstance(node, DirNode):
            raise fail(errno.ENOTDIR, path)
        parent = r.parent
        if parent is None or node.mount_root or node.dynamic:
            raise fail(errno.EBUSY, path)
        parent.mount.check_writable(path)
        self._check_parent(parent, node, path)
        host = self._host(node)
        if host is not None:
            hostfs.rmdir(host[0], host[1], path)
        else:
            layers.complete(self._ns, node, path)
            if node.children:
                raise fail(errno.ENOTEMPTY, path)
        detach(parent, r.name)
        node.stat_result.st_nlink = 0
        touch(parent)

    def unlink(self, path: str, cwd: str = "/") -> None:
        r = self._resolve(path, cwd, False)
        if r.via_link:
            raise fail(errno.ENOTDIR, path)
        if r.dot:
            raise fail(errno.EISDIR, path)
        node = self._need(r)
        if isinstance(node, DirNode):
            raise fail(errno.EISDIR, path)
        parent = r.parent
        assert parent is not None
        if node.mount_root:
            raise fail(errno.EBUSY, path)
        parent.mount.check_writable(path)
        if parent.dynamic:
            raise fail(errno.EACCES, path)
        self._check_parent(parent, node, path)
        host = self._host(node)
        if host is not None:
            hostfs.unlink(host[0], host[1], path)
        detach(parent, r.name)
        touch(parent)
        touch(node, modify=False)
        free_if_orphan(node, self._space)

    def rename(self, old: str, new: str, cwd: str = "/", flags: int = 0) -> None:
        if flags & ~RENAME_NOREPLACE:
            raise fail(errno.EINVAL, old)
        ro = self._resolve(old, cwd, False)
        rn = self._resolve(new, cwd, False)
        if ro.via_link or rn.via_link:
            raise fail(errno.ENOTDIR, old)
        if ro.dot or rn.dot:
            raise fail(errno.EBUSY, old)
        src = self._need(ro)
        sp, dp = ro.parent, rn.parent
        assert sp is not None and dp is not None
        dst = rn.node
        # errno precedence as in Linux's renameat2
        if sp.mount is not dp.mount:
            raise fail(errno.EXDEV, old)
        sp.mount.check_writable(old)
        if dst is not None and flags & RENAME_NOREPLACE:
            raise fail(errno.EEXIST, new)
        if rn.slash and not isinstance(src, DirNode):
            raise fail(errno.ENOTDIR, new)
        if isinstance(src, DirNode) and _is_within(dp, src):
            raise fail(errno.EINVAL, new)  # into its own subtree
        if isinstance(dst, DirNode) and _is_within(sp, dst):
            raise fail(errno.ENOTEMPTY, new)  # onto one of its own ancestors
        if dst is src:
            return
        if sp.dynamic or dp.dynamic:
            raise fail(errno.EACCES, old)
        self._check_parent(sp, src, old)
        self._check_parent(dp, dst, new)
        if dst is not None:
            self._check_replace(src, dst, new)
        if src.mount_root or (dst is not None and dst.mount_root):
            raise fail(errno.EBUSY, old)
        host = self._host(src)
        new_host = self._host_child(dp, rn.name, new) if host is not None else None
        if host is not None and new_host is not None:
            hostfs.rename(host[0], host[1], new_host[1], old)
        if dst is not None:
            detach(dp, rn.name)
            if isinstance(dst, FileNode):
                free_if_orphan(dst, self._space)
            else:
                dst.stat_result.st_nlink = 0
        detach(sp, ro.name)
        attach(dp, rn.name, src)
        if new_host is not None:
            _reorigin(src, new_host[1])
        touch(sp)
        touch(dp)
        touch(src, modify=False)

    def _check_replace(self, src: Node, dst: Node, what: str) -> None:
        if isinstance(src, DirNode):
            if not isinstance(dst, DirNode):
                raise fail(errno.ENOTDIR, what)
            if self._host(dst) is None:
                layers.complete(self._ns, dst, what)
            if dst.children:
                raise fail(errno.ENOTEMPTY, what)
        elif isinstance(dst, DirNode):
            raise fail(errno.EISDIR, what)

    def link(self, old: str, new: str, cwd: str = "/") -> None:
        src = self._need(self._resolve(old, cwd, False))
        rn = self._resolve(new, cwd, False)
        # errno precedence as in Linux's linkat: EEXIST, EROFS, EXDEV, EACCES, EPERM
        if rn.node is not None or rn.dot or rn.magic is not None:
            raise fail(errno.EEXIST, new)
        dp = rn.parent
        assert dp is not None
        dp.mount.check_writable(new)
        if src.mount is not dp.mount:
            raise fail(errno.EXDEV, old)
        if dp.dynamic:
            raise fail(errno.EACCES, new)
        self._check_parent(dp, None, new)
        if isinstance(src, DirNode):
            raise fail(errno.EPERM, old)
        host, new_host = self._host(src), self._host_child(dp, rn.name, new)
        if host is not None and new_host is not None:
            hostfs.link(host[0], host[1], new_host[1], new)
            self._adopt(dp, rn.name, new_host, new)
            return
        attach(dp, rn.name, src)
        touch(dp)
        touch(src, modify=False)

    def symlink(self, target: str, linkpath: str, cwd: str = "/") -> None:
        r = self._resolve(linkpath, cwd, False)
        if r.node is not None or r.dot or r.magic is not None:
            raise fail(errno.EEXIST, linkpath)
        if not target:
            raise fail(errno.ENOENT, linkpath)
        parent = r.parent
        assert parent is not None
        parent.mount.check_writable(linkpath)
        if parent.dynamic:
            raise fail(errno.EACCES, linkpath)
        self._check_parent(parent, None, linkpath)
        host = self._host_child(parent, r.name, linkpath)
        if host is not None:
            hostfs.symlink(host[0], host[1], target, linkpath)
            self._adopt(parent, r.name, host, linkpath)
            return
        attach(
            parent, r.name, self._ns.new_symlink(r.name, target, parent.mount, self.uid, self.gid)
        )
        touch(parent)

    def _meta_target(self, path: str, cwd: str, follow: bool) -> Node | None:
        """The node a metadata change applies to (None: a stream, nothing to change)."""
        r = self._resolve(path, cwd, follow)
        if r.magic is not None:
            return None
        node = self._need(r)
        node.mount.check_writable(path)
        return node

    def chmod(self, path: str, mode: int, cwd: str = "/", follow: bool = True) -> None:
        node = self._meta_target(path, cwd, follow)
        if node is None:
            return
        if is_link(node):
            raise fail(errno.EOPNOTSUPP, path)
        if not perms.owner_or_root(node, self.uid):
            raise fail(errno.EPERM, path)
        host = self._host(node)
        if host is not None:
            hostfs.chmod(host[0], host[1], mode & 0o7777, path)
        sr = node.stat_result
        sr.st_mode = (int(sr.st_mode) & S_IFMT) | (mode & 0o7777)
        touch(node, modify=False)
        node.meta_changed = True

    def chown(self, path: str, uid: int, gid: int, cwd: str = "/", follow: bool = True) -> None:
        node = self._meta_target(path, cwd, follow)
        if node is None:
            return
        sr = node.stat_result
        new_uid = int(sr.st_uid) if uid in (-1, 0xFFFFFFFF) else uid
        new_gid = int(sr.st_gid) if gid in (-1, 0xFFFFFFFF) else gid
        if self.uid != 0 and (
            new_uid != sr.st_uid or sr.st_uid != self.uid or new_gid not in (sr.st_gid, self.gid)
        ):
            raise fail(errno.EPERM, path)
        host = self._host(node)
        if host is not None:
            hostfs.chown(host[0], host[1], new_uid, new_gid, path)
        sr.st_uid, sr.st_gid = new_uid, new_gid
        if kind_of(node) == S_IFREG and int(sr.st_mode) & 0o111:
            sr.st_mode = int(sr.st_mode) & ~0o6000  # chown drops set-id bits, as Linux does
        touch(node, modify=False)
        node.meta_changed = True

    def utimens(
        self,
        path: str,
        atime_ns: int | None,
        mtime_ns: int | None,
        cwd: str = "/",
        follow: bool = True,
    ) -> None:
        node = self._meta_target(path, cwd, follow)
        if node is None:
            return
        if not perms.owner_or_root(node, self.uid):
            if atime_ns is not None or mtime_ns is not None:
                raise fail(errno.EPERM, path)
            self._check(node, perms.W, path)
        host = self._host(node)
        if host is not None:
            self._stat_node(node)  # UTIME_OMIT keeps the host's current value
        sr = node.stat_result
        now = time.time_ns()
        a = _time(atime_ns, int(sr.st_atime_ns), now)
        m = _time(mtime_ns, int(sr.st_mtime_ns), now)
        if host is not None:
            hostfs.utime(host[0], host[1], (a, m), path)
        sr.st_atime_ns, sr.st_mtime_ns = a, m
        touch(node, modify=False)
        node.meta_changed = True

    def truncate(self, path: str, length: int, cwd: str = "/") -> None:
        r = self._resolve(path, cwd, True)
        if r.magic is not None:
            r.magic.truncate(length)
            return
        node = self._need(r)
        if isinstance(node, DirNode):
            raise fail(errno.EISDIR, path)
        if kind_of(node) != S_IFREG or node.device or isinstance(node, ProcFile):
            raise fail(errno.EINVAL, path)
        if length < 0:
            raise fail(errno.EINVAL, path)
        node.mount.check_writable(path)
        self._check(node, perms.W, path)
        host = self._host(node)
        if host is not None:
            hostfs.truncate(host[0], host[1], length, path)
            return
        if node.data is None:
            self._copy_up(node, path, truncate=length == 0)
        resize(node, length, self._space, path)


def _time(given: int | None, current: int, now: int) -> int:
    """A utimens argument: None is now, UTIME_OMIT keeps the current value."""
    if given is None:
        return now
    return current if given == UTIME_OMIT else given


def _is_within(node: DirNode, ancestor: DirNode) -> bool:
    """Whether ``node`` is ``ancestor`` or lies below it."""
    cur: DirNode | None = node
    while cur is not None:
        if cur is ancestor:
            return True
        parent = cur.parent_dir() if cur.parent_dir is not None else None
        cur = parent if isinstance(parent, DirNode) and parent is not cur else None
    return False


def _reorigin(node: Node, parts: tuple[str, ...]) -> None:
    """rw: after a rename the entry's host path is its new position (and so are its children's)."""
    node.origin = parts
    if isinstance(node, DirNode):
        for name, child in node.children.items():
            _reorigin(child, (*parts, name))  # type: ignore[arg-type]
