"""The mount table: what each mounted subtree is backed by and how it may be changed.

A ``Mount`` is built from a profile's ``MountSpec`` once, when the VFS is created; nodes point at the
mount they belong to, so every operation finds its rules (read-only, copy-on-write, write-through,
memory) from the node or directory it touches.
"""

from __future__ import annotations

import errno
import os
import posixpath
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .types import MountMode, MountSpec, StatFs, fail

TMPFS_MAGIC = 0x01021994
PROC_MAGIC = 0x9FA0
EXT4_MAGIC = 0xEF53
ST_RDONLY = 1
ST_NOSUID = 2
ST_NODEV = 4


@dataclass(slots=True, eq=False)
class Mount:
    guest: str  # normalised absolute guest path of the mount point
    mode: MountMode
    host: str | None  # resolved host path of the mounted tree; None when memory-only
    dev: int  # st_dev of in-memory inodes on this mount
    fstype: str = "tmpfs"  # for /proc/mounts
    special: str = ""  # "proc" or "dev" for the VFS's own trees
    hidden: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    root_ref: weakref.ref[Any] | None = None  # the mount's root node (weak: nodes point here)

    def root(self) -> Any:
        return None if self.root_ref is None else self.root_ref()

    @property
    def in_memory(self) -> bool:
        return self.host is None

    def check_writable(self, what: str) -> None:
        """Raise the errno Linux gives for modifying something on this mount, if it may not be."""
        if self.special == "proc":
            raise fail(errno.EACCES, what)
        if self.mode is MountMode.RO:
            raise fail(errno.EROFS, what)

    def host_path(self, parts: Sequence[str]) -> str:
        assert self.host is not None
        return posixpath.join(self.host, *parts) if parts else self.host

    def statfs(self, used: int, limit: int | None) -> StatFs:
        if self.special == "proc":
            return StatFs(type=PROC_MAGIC, blocks=0, bfree=0, bavail=0, files=0, ffree=0)
        if self.host is not None and self.mode in (MountMode.RW, MountMode.RO):
            return _host_statfs(self)
        total = (limit if limit is not None else 1 << 32) // 4096
        free = max(0, total - (used + 4095) // 4096)
        return StatFs(type=TMPFS_MAGIC, blocks=total, bfree=free, bavail=free, fsid=(self.dev, 0))


def _host_statfs(mount: Mount) -> StatFs:
    assert mount.host is not None
    try:
        sv = os.statvfs(mount.host)
    except OSError:
        return StatFs(type=EXT4_MAGIC)
    flags = ST_RDONLY if mount.mode is MountMode.RO else 0
    return StatFs(
        type=EXT4_MAGIC,
        bsize=sv.f_bsize,
        blocks=sv.f_blocks,
        bfree=0 if flags else sv.f_bfree,
        bavail=0 if flags else sv.f_bavail,
        files=sv.f_files,
        ffree=sv.f_ffree,
        namelen=sv.f_namemax,
        frsize=sv.f_frsize,
        flags=flags,
        fsid=(mount.dev & 0xFFFFFFFF, 0),
    )


def normalise_guest(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"mount point {path!r} is not an absolute guest path")
    return posixpath.normpath(path).replace("//", "/")


def split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def covering(specs: Sequence[MountSpec], guest: str) -> MountSpec | None:
    """The spec whose mount point is the longest prefix of ``guest``."""
    best: MountSpec | None = None
    for spec in specs:
        g = normalise_guest(spec.guest)
        if guest == g or g == "/" or guest.startswith(g + "/"):
            if best is None or len(g) > len(normalise_guest(best.guest)):
                best = spec
    return best


def hidden_parts(spec: MountSpec) -> frozenset[tuple[str, ...]]:
    """Hidden guest paths as component tuples relative to the mount root."""
    root = normalise_guest(spec.guest)
    out = set()
    for h in spec.hidden:
        g = normalise_guest(h)
        if g == root:
            continue
        prefix = "" if root == "/" else root
        if not g.startswith(prefix + "/"):
            raise ValueError(f"hidden path {h!r} is not inside mount {spec.guest!r}")
        out.add(tuple(split(g[len(prefix) :])))
    return frozenset(out)


def symlinked_root(spec: MountSpec, specs: Sequence[MountSpec]) -> str | None:
    """For a mount whose host path is itself a host symlink (merged /usr: /bin -> usr/bin), the link
    text to show at the mount point, if the link lands in another mount of the same host tree."""
    assert spec.host is not None
    if not os.path.islink(spec.host):
        return None
    text = os.readlink(spec.host)
    guest = normalise_guest(spec.guest)
    lands = posixpath.normpath(posixpath.join(posixpath.dirname(guest), text))
    other = covering([s for s in specs if s is not spec and s.host is not None], lands)
    if other is None or other.host is None:
        return None
    og = normalise_guest(other.guest)
    rel = lands[len(og) :].lstrip("/") if og != "/" else lands.lstrip("/")
    expected = os.path.realpath(os.path.join(other.host, rel))
    return text if expected == os.path.realpath(spec.host) else None
