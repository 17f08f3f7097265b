"""Building the namespace from a profile's mounts.

The namespace starts with only ``/`` (a host tree if a mount is made at /, else an in-memory root),
``/dev``, ``/proc`` and ``/tmp`` (in memory unless a mount is made at /tmp itself: even a host-backed
root gets a private /tmp). Then each mount is placed at its mount point, shallowest first; missing
parents are created as empty "skeleton" directories. Nothing of the host outside a mount is
reachable.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import stat
import weakref
from collections.abc import Sequence
from functools import partial

from . import devices, layers, proc
from .mounts import Mount, hidden_parts, normalise_guest, split, symlinked_root
from .namespace import DirNode, Namespace, Node, attach, is_dir, is_link
from .resolve import Resolver
from .types import MountMode, MountSpec

RESERVED = ("/dev", "/proc")


def _validate(specs: Sequence[MountSpec]) -> list[MountSpec]:
    seen: set[str] = set()
    out = []
    for spec in specs:
        guest = normalise_guest(spec.guest)
        if guest in seen:
            raise ValueError(f"two mounts at {guest!r}")
        seen.add(guest)
        for reserved in RESERVED:
            if guest == reserved or guest.startswith(reserved + "/"):
                raise ValueError(
                    f"{guest!r}: {reserved} is provided by appvirt and cannot be mounted"
                )
        if spec.mode is MountMode.TMPFS:
            out.append(spec)
            continue
        if not spec.host:
            raise ValueError(f"mount {guest!r} ({spec.mode.value}) needs a host path")
        if not os.path.lexists(spec.host):
            raise ValueError(f"mount {guest!r}: host path {spec.host!r} does not exist")
        out.append(spec)
    return out


class Assembler:
    def __init__(self, ns: Namespace, mem_total: int) -> None:
        self.ns = ns
        self.mounts: list[Mount] = []
        self._devs = itertools.count(0x1E)
        self._lookup = partial(layers.lookup, ns)  # not a bound method: no reference cycle
        self._resolver = Resolver(ns, self._lookup)
        self.mem_total = mem_total

    def _memory_mount(self, guest: str, fstype: str = "tmpfs", special: str = "") -> Mount:
        dev = devices.makedev(0, next(self._devs))
        return Mount(guest, MountMode.TMPFS, None, dev, fstype=fstype, special=special)

    def _host_mount(self, spec: MountSpec, guest: str) -> tuple[Mount, Node]:
        assert spec.host is not None
        host = os.path.realpath(spec.host)
        hst = os.stat(host)
        if not (stat.S_ISDIR(hst.st_mode) or stat.S_ISREG(hst.st_mode)):
            raise ValueError(f"mount {guest!r}: {spec.host!r} is not a directory or a regular file")
        mount = Mount(guest, spec.mode, host, hst.st_dev, "ext4", hidden=hidden_parts(spec))
        node = self.ns.from_host(posixpath.basename(guest), hst, None, mount, ())
        return mount, node

    def build(self, specs: Sequence[MountSpec]) -> proc.ProcContext:
        specs = _validate(specs)
        by_guest = {normalise_guest(s.guest): s for s in specs}
        root_spec = by_guest.get("/")
        if root_spec is not None and root_spec.mode is not MountMode.TMPFS:
            mount, root = self._host_mount(root_spec, "/")
            assert isinstance(root, DirNode)
        else:
            mount = self._memory_mount("/")
            root = self.ns.new_dir("", 0o755, mount)
        root.mount_root = True
        mount.root_ref = weakref.ref(root)
        self.ns.set_root(root)
        self.mounts.append(mount)

        dev_mount = self._memory_mount("/dev", fstype="devtmpfs", special="dev")
        self._place(dev_mount, devices.build(self.ns, dev_mount))
        proc_mount = Mount("/proc", MountMode.RO, None, devices.makedev(0, next(self._devs)))
        proc_mount.fstype, proc_mount.special = "proc", "proc"
        ctx = proc.ProcContext(proc_mount, self.mounts, self.mem_total)
        self._place(proc_mount, proc.build(self.ns, ctx))
        if "/tmp" not in by_guest:  # a private /tmp even under a host-backed root
            tmp_mount = self._memory_mount("/tmp")
            self._place(tmp_mount, self.ns.new_dir("tmp", 0o1777, tmp_mount))

        rest = [s for g, s in by_guest.items() if g != "/"]
        rest.sort(key=lambda s: len(split(normalise_guest(s.guest))))
        for spec in rest:
            self._mount(spec, specs)
        return ctx

    def _mount(self, spec: MountSpec, specs: Sequence[MountSpec]) -> None:
        guest = normalise_guest(spec.guest)
        if spec.mode is MountMode.TMPFS:
            mount = self._memory_mount(guest)
            self._place(mount, self.ns.new_dir(posixpath.basename(guest), 0o1777, mount))
            return
        text = symlinked_root(spec, specs)
        if text is not None:
            self._place_link(guest, text)
            return
        mount, node = self._host_mount(spec, guest)
        self._place(mount, node)

    def _parent(self, guest: str) -> tuple[DirNode, str]:
        """The directory that will hold ``guest`` and its canonical path, creating empty skeleton
        directories on the way (a symlinked parent is followed inside the namespace)."""
        cur = self.ns.root
        walked: list[str] = []
        for name in split(posixpath.dirname(guest)):
            child = self._lookup(cur, name, guest)
            if child is not None and is_link(child):
                r = self._resolver.resolve("/" + "/".join([*walked, name]), "/", follow=True)
                child, walked = r.node, split(r.path)
            else:
                walked.append(name)
            if child is None:
                child = self.ns.new_dir(name, 0o755, cur.mount)
                child.skeleton = True
                attach(cur, name, child)
            if not isinstance(child, DirNode) or not is_dir(child):
                raise ValueError(f"mount point {guest!r}: {name!r} is not a directory")
            cur = child
        return cur, "/" + "/".join(walked)

    def _place(self, mount: Mount, node: Node) -> None:
        if mount.guest == "/":
            return
        parent, where = self._parent(mount.guest)
        name = posixpath.basename(mount.guest)
        old = parent.children.pop(name, None)
        attach(parent, name, node, count=False)
        if old is None and isinstance(node, DirNode):
            parent.stat_result.st_nlink += 1
        node.mount_root = True
        mount.guest = posixpath.join(where, name)
        mount.root_ref = weakref.ref(node)
        self.mounts.append(mount)

    def _place_link(self, guest: str, text: str) -> None:
        """Merged /usr: the mount point is the same symlink the host has."""
        parent, _ = self._parent(guest)
        name = posixpath.basename(guest)
        parent.children.pop(name, None)
        node = self.ns.new_symlink(name, text, parent.mount)
        node.mount_root = True
        attach(parent, name, node)
