"""Merging a host-backed directory into the namespace, lazily.

A host directory node starts empty. A lookup of one name probes the host for that name only (an
executable's start-up probes many paths; listing /usr/lib for each would be slow); a listing merges
the whole host directory once (``complete``). Names already in the namespace win (mount points,
entries the guest created), names the guest deleted from a cow directory stay deleted
(``whiteouts``), and hidden paths are never loaded.
"""

from __future__ import annotations

from . import hostfs
from .namespace import DirNode, Namespace, Node, attach
from .types import MountMode

MAX_ABSENT = 4096  # negative lookups remembered per directory (start-up probes many paths)


def _visible(d: DirNode, name: str) -> tuple[str, ...] | None:
    """The host origin of ``d/name`` if it may be loaded from the host, else None."""
    if d.origin is None or d.mount.host is None or name in d.whiteouts:
        return None
    origin = (*d.origin, name)
    if d.mount.hidden and origin in d.mount.hidden:
        return None
    return origin


def lookup(ns: Namespace, d: DirNode, name: str, what: str) -> Node | None:
    node = d.children.get(name)
    if node is not None:
        return node
    if d.dynamic:
        return d.child(name)
    static = d.mount.mode is not MountMode.RW  # ro/cow: the host tree is taken as unchanging
    if static and (d.complete or name in d.absent):
        return None
    origin = _visible(d, name)
    if origin is None:
        return None
    assert d.mount.host is not None
    found = hostfs.probe(d.mount.host, origin, what)
    if found is None:
        if static and len(d.absent) < MAX_ABSENT:
            d.absent.add(name)
        return None
    hst, target = found
    node = ns.from_host(name, hst, target, d.mount, origin)
    attach(d, name, node, count=False)
    return node


def complete(ns: Namespace, d: DirNode, what: str) -> None:
    """Merge the whole host listing of ``d`` into the namespace (once)."""
    if d.complete or d.dynamic:
        return
    mount = d.mount
    assert mount.host is not None and d.origin is not None
    entries = d.children
    for name, hst, target in hostfs.listing(mount.host, d.origin, what):
        if name in entries:
            continue
        origin = _visible(d, name)
        if origin is None:
            continue
        attach(d, name, ns.from_host(name, hst, target, mount, origin), count=False)
    d.complete = True


def refresh(ns: Namespace, d: DirNode, what: str) -> None:
    """rw directories: the host is the truth, so a listing re-reads it (entries created or removed
    on the host behind the guest's back appear or vanish)."""
    mount = d.mount
    assert mount.host is not None and d.origin is not None
    listed = {
        name: (hst, target) for name, hst, target in hostfs.listing(mount.host, d.origin, what)
    }
    for name, node in list(d.children.items()):
        if name not in listed and node.origin is not None and not node.mount_root:
            del d.children[name]
    for name, (hst, target) in listed.items():
        if name in d.children:
            continue
        origin = _visible(d, name)
        if origin is not None:
            attach(d, name, ns.from_host(name, hst, target, mount, origin), count=False)
    d.complete = True


def names(ns: Namespace, d: DirNode, what: str) -> list[str]:
    """The merged, sorted listing of ``d``."""
    if d.dynamic:
        return sorted(set(d.children) | set(d.names()))
    if d.mount.mode is MountMode.RW and d.origin is not None:
        refresh(ns, d, what)
    else:
        complete(ns, d, what)
    return sorted(d.children)
