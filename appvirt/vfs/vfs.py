"""The VFS: every guest file operation, on guest paths, against one namespace.

A VFS is built once per launch from the profile's mounts (see assemble.py). Each method resolves its
path(s) through resolve.py, checks the mount's rules (ro: EROFS; rw: the host operation is done first
and mirrored in the namespace; cow and tmpfs: only the namespace changes) and the permission bits
(only when the guest's uid is not 0), then acts. All failures are ``OSError`` with a Linux errno.

This module holds construction, look-ups and lifetime; opening is in opening.py, changes to the
tree in changing.py, the helpers they share in core.py.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from . import devices, layers, perms
from .assemble import Assembler
from .changing import Changing
from .files import Space
from .flags import O_RDONLY, R_OK, W_OK, X_OK
from .mounts import Mount
from .namespace import DirNode, FileNode, Namespace, attach, is_link
from .opening import Opening
from .proc import ProcProvider
from .resolve import Resolver
from .types import FileKind, MountSpec, OpenFile, Stat, StatFs, fail

if TYPE_CHECKING:
    from .changes import Change

DEFAULT_MEM_TOTAL = 2 << 30


class VFS(Opening, Changing):
    """The guest's filesystem namespace (see the package docstring for the model)."""

    def __init__(
        self,
        mounts: Sequence[MountSpec],
        *,
        disk_limit: int | None = None,
        uid: int = 0,
        gid: int = 0,
        random_seed: int | None = None,
        tty: OpenFile | None = None,
        mem_total: int = DEFAULT_MEM_TOTAL,
    ) -> None:
        self.uid = uid
        self.gid = gid
        self._tty = tty
        self._random = devices.random_source(random_seed)
        self._space = Space(disk_limit)
        self._ns = Namespace()
        assembler = Assembler(self._ns, mem_total)
        self._proc = assembler.build(mounts)
        self._mounts: list[Mount] = assembler.mounts
        self._lookup = partial(layers.lookup, self._ns)
        self._resolver = Resolver(self._ns, self._lookup)

    # -- state the kernel sets -------------------------------------------------------------

    @property
    def proc(self) -> ProcProvider | None:
        """The calling process's /proc view; the kernel sets it (None: /proc/self is empty)."""
        return self._proc.provider

    @proc.setter
    def proc(self, provider: ProcProvider | None) -> None:
        self._proc.provider = provider

    @property
    def disk_used(self) -> int:
        """Bytes held by in-memory files (tmpfs and the cow upper layer)."""
        return self._space.used

    @property
    def mounts(self) -> list[Mount]:
        return list(self._mounts)

    # -- looking things up -----------------------------------------------------------------

    def stat(self, path: str, cwd: str = "/", follow: bool = True) -> Stat:
        r = self._resolve(path, cwd, follow)
        if r.magic is not None:
            return r.magic.stat()
        return self._stat_node(self._need(r))

    def lookup(self, path: str, cwd: str = "/", follow: bool = True) -> None:
        """Fail as ``stat`` would when ``path`` is not there, without building a Stat (the xattr
        calls only need to know the file exists: ``ls -l`` makes two per file)."""
        r = self._resolve(path, cwd, follow)
        if r.magic is None:
            self._need(r)

    def access(self, path: str, mode: int, cwd: str = "/") -> None:
        r = self._resolve(path, cwd, True)
        if r.magic is not None:
            return
        node = self._need(r)
        if mode & W_OK and not (isinstance(node, FileNode) and node.device):
            node.mount.check_writable(r.path)
        want = (perms.R if mode & R_OK else 0) | (perms.W if mode & W_OK else 0)
        want |= perms.X if mode & X_OK else 0
        self._check(node, want, r.path)

    def readlink(self, path: str, cwd: str = "/") -> str:
        node = self._need(self._resolve(path, cwd, False))
        if not isinstance(node, FileNode) or not is_link(node):
            raise fail(errno.EINVAL, path)
        return node.target

    def realpath(self, path: str, cwd: str = "/") -> str:
        r = self._resolve(path, cwd, True)
        if r.magic is None:
            self._need(r)
        return r.path

    def is_dir(self, path: str, cwd: str = "/") -> bool:
        try:
            return isinstance(self._resolve(path, cwd, True).node, DirNode)
        except OSError:
            return False

    def statfs(self, path: str, cwd: str = "/") -> StatFs:
        r = self._resolve(path, cwd, True)
        if r.magic is not None:
            return StatFs()
        return self._need(r).mount.statfs(self._space.used, self._space.limit)

    def listdir(self, path: str, cwd: str = "/") -> list[str]:
        r = self._resolve(path, cwd, True)
        node = self._need(r)
        if not isinstance(node, DirNode):
            raise fail(errno.ENOTDIR, path)
        self._check(node, perms.R, path)
        return [e.name for e in self._dir_entries(node)[2:]]

    def read_bytes(self, path: str, cwd: str = "/") -> bytes:
        """The whole content of a regular file (loading executables); follows symlinks."""
        f = self.open(path, O_RDONLY, cwd=cwd)
        try:
            if f.kind is not FileKind.REG:
                raise fail(errno.EISDIR if f.kind is FileKind.DIR else errno.EACCES, path)
            chunks = []
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            f.close()

    def host_path(self, path: str) -> str | None:
        """The host path behind a guest path of a host-backed mount, for diagnostics."""
        try:
            node = self._resolve(path, "/", True).node
        except OSError:
            return None
        if node is None or node.origin is None or node.mount.host is None:
            return None
        if isinstance(node, FileNode) and node.data is not None:
            return None
        return node.mount.host_path(node.origin)

    # -- persistence and lifetime ----------------------------------------------------------

    # changes.py and upper.py are imported here: a run without a sandbox folder never needs them.
    def changes(self) -> list[Change]:
        """The cow upper layer against the host: what was added, modified and deleted."""
        from .changes import collect

        return collect(self._ns, self._mounts)

    def persisted_changes(self) -> list[Change]:
        """What a sandbox folder keeps of this run: cow mounts and the in-memory root."""
        from . import upper

        return upper.collect(self._ns, self._mounts)

    def apply_persisted(self, stored: Iterable[Change]) -> list[Change]:
        """Replay a sandbox's stored changes before the program starts; returns those whose paths
        are in no persisted area of this run (to be kept in the sandbox as they are)."""
        from . import upper

        applier = upper.Applier(self._ns, self._mounts, self._space)
        return [change for change in stored if not applier.apply(change)]

    def commit_path(self, guest: str) -> tuple[str, str] | None:
        """The host path a guest path of a cow mount stands for (where a commit writes it) and
        that mount's host folder."""
        from . import upper

        return upper.host_path(self._mounts, guest)

    def make_skeleton(self, path: str) -> None:
        """Create the directories of ``path`` as appvirt's own (not the guest's change, so not
        persisted unless the guest puts something in them): Windows' standard folders."""
        cur = self._ns.root
        for name in [p for p in path.split("/") if p]:
            child = self._lookup(cur, name, path)
            if child is None:
                child = self._ns.new_dir(name, 0o755, cur.mount, self.uid, self.gid)
                child.skeleton = True
                attach(cur, name, child)
            if not isinstance(child, DirNode):
                raise fail(errno.ENOTDIR, path)
            cur = child

    def close(self) -> None:
        """Drop the namespace and everything in memory; the VFS is empty afterwards."""
        empty = self._ns.new_dir("", 0o755, self._mounts[0])
        self._ns.set_root(empty)
        self._proc.provider = None
        self._tty = None
        self._space.used = 0
