"""The persistent upper layer: which guest writes outlive a run, and putting them back next time.

A sandbox folder keeps what the guest changed in the places where a change is the sandbox's own:
copy-on-write host mounts (the host stays untouched, the sandbox remembers) and the in-memory root
(Windows' ``C:\\Users``, skeleton folders). tmpfs mounts (``/tmp`` included) are scratch space by
definition, rw mounts already wrote through to the host, ro mounts cannot change.

``collect`` lists those changes (``changes.Change``, parents first); ``apply`` replays stored ones
into a freshly built namespace before the program starts, working on nodes directly: the guest's
permission checks and read-only rules are for the guest, not for restoring its own state. An entry
whose path lies in no persisted area of this run (the profile changed, or the program is run from
another folder) is not applied; the caller keeps it in the layer untouched.
"""

from __future__ import annotations

import errno
import posixpath

from . import layers
from .changes import Change, ChangeKind, _Walk
from .changes import collect as collect_cow
from .files import Space
from .mounts import Mount
from .namespace import DirNode, FileNode, Namespace, Node, attach, detach, is_dir, is_link
from .types import FileKind, MountMode, fail


def persisted(mount: Mount, root: Mount) -> bool:
    """Whether changes made on ``mount`` belong in the sandbox's upper layer."""
    if mount.mode is MountMode.COW and mount.host is not None:
        return True
    return mount is root and mount.host is None


def mount_of(mounts: list[Mount], path: str) -> Mount:
    """The mount a guest path falls in by mount points (the deepest one containing it)."""
    best = mounts[0]
    for m in mounts:
        prefix = m.guest.rstrip("/") + "/"
        if (path == m.guest or path.startswith(prefix)) and len(m.guest) > len(best.guest):
            best = m
    return best


def host_path(mounts: list[Mount], path: str) -> tuple[str, str] | None:
    """Where a guest path of a cow host mount lives on the host, and the mount's host folder (for
    committing); None for paths of no cow mount."""
    m = mount_of(mounts, path)
    if m.host is None or m.mode is not MountMode.COW:
        return None
    rest = path[len(m.guest) :].lstrip("/")
    return (posixpath.join(m.host, rest) if rest else m.host), m.host


def collect(ns: Namespace, mounts: list[Mount]) -> list[Change]:
    """Every persisted change: cow mounts against the host, then what the in-memory root holds."""
    out = collect_cow(ns, mounts)
    root_mount = mounts[0]
    if root_mount.host is None:
        walk = _Walk(ns, root_mount, out)
        root = ns.root
        for name in sorted(root.children):
            child = root.children[name]
            if child.mount is root_mount and not child.mount_root:
                walk.added(child, "/" + name)
    return out


class Applier:
    """Replays stored changes into one namespace (see the module docstring)."""

    def __init__(self, ns: Namespace, mounts: list[Mount], space: Space) -> None:
        self.ns = ns
        self.mounts = mounts
        self.space = space

    def applies(self, path: str) -> bool:
        return persisted(mount_of(self.mounts, path), self.mounts[0])

    def apply(self, change: Change) -> bool:
        """Put one change back; False when its path is outside this run's persisted areas."""
        path = posixpath.normpath(change.path)
        if path == "/" or not path.startswith("/") or not self.applies(path):
            return False
        parent = self._parent(path)
        if parent is None:
            return False
        name = posixpath.basename(path)
        existing = layers.lookup(self.ns, parent, name, path)
        if change.kind is ChangeKind.DELETED:
            if existing is not None and not existing.mount_root:
                self._drop(parent, name, existing)
            elif existing is None and parent.origin is not None:
                parent.whiteouts.add(name)
            return True
        if change.kind is ChangeKind.MODIFIED and existing is not None:
            if file_kind_matches(existing, change.file_kind):
                if change.content and isinstance(existing, FileNode):
                    self._fill(existing, change, path)
                self._meta(existing, change)
                existing.meta_changed = True
                return True
        if existing is not None:
            if existing.mount_root:
                return False
            if isinstance(existing, DirNode) and change.file_kind is FileKind.DIR:
                existing.skeleton = False  # the guest made it: kept as a change from now on
                self._meta(existing, change)
                return True
            self._drop(parent, name, existing)
        node = self._new(name, change, parent.mount, path)
        if node is None:
            return False
        attach(parent, name, node)
        return True

    def _parent(self, path: str) -> DirNode | None:
        """The directory that holds ``path``, creating missing ones; never follows a symlink."""
        cur = self.ns.root
        for name in [p for p in posixpath.dirname(path).split("/") if p]:
            child = layers.lookup(self.ns, cur, name, path)
            if child is None:  # only holds stored entries: not a change of its own
                child = self.ns.new_dir(name, 0o755, cur.mount)
                child.skeleton = True
                attach(cur, name, child)
            if not isinstance(child, DirNode) or is_link(child):
                return None
            cur = child
        return cur

    def _drop(self, parent: DirNode, name: str, node: Node) -> None:
        detach(parent, name)
        if isinstance(node, FileNode) and node.data is not None:
            self.space.used -= len(node.data)

    def _fill(self, node: FileNode, change: Change, path: str) -> None:
        data = bytearray(change.read())
        if node.data is not None:
            self.space.used -= len(node.data)
        node.data = data
        self.space.used += len(data)  # over a disk limit is kept: the guest's next write fails
        node.stat_result.st_size = len(data)

    def _new(self, name: str, change: Change, mount: Mount, path: str) -> Node | None:
        if change.file_kind is FileKind.DIR:
            return self._meta(self.ns.new_dir(name, change.mode, mount), change)
        if change.file_kind is FileKind.LNK:
            if change.target is None:
                raise fail(errno.EINVAL, path)
            return self._meta(self.ns.new_symlink(name, change.target, mount), change)
        if change.file_kind is FileKind.REG:
            node = self.ns.new_file(name, change.mode, mount)
            self._fill(node, change, path)
            return self._meta(node, change)
        return None  # FIFOs, sockets and device nodes are not kept between runs

    @staticmethod
    def _meta(node: Node, change: Change) -> Node:
        sr = node.stat_result
        sr.st_mode = (int(sr.st_mode) & 0o170000) | (change.mode & 0o7777)
        sr.st_uid = change.uid
        sr.st_gid = change.gid
        if change.mtime_ns:
            sr.st_mtime_ns = change.mtime_ns
        return node


def file_kind_matches(node: Node, kind: FileKind) -> bool:
    if kind is FileKind.DIR:
        return is_dir(node)
    return not is_dir(node) and int(node.stat_result.st_mode) & 0o170000 == kind.value
