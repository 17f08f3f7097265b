"""Guest path resolution: the one place a guest path becomes a namespace node.

The walk goes component by component inside the namespace. Symlink targets are spliced into the
remaining components (an absolute target restarts at the namespace root, never the host root), ``..``
pops the walked directory stack (and stays at the root), at most 40 links are followed (ELOOP). A
non-final component must be a directory (ENOTDIR); search permission is checked when the caller is
not root. ``/proc/self/fd/N`` links are "magic": following one lands on the open file's inode (or,
for a stream, on the ``OpenFile`` itself), as Linux does.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from . import perms
from .flags import NAME_MAX, PATH_MAX, SYMLOOP_MAX
from .namespace import (
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    DirNode,
    MagicLink,
    Namespace,
    Node,
    is_dir,
    name_of,
)
from .types import OpenFile, fail

Lookup = Callable[[DirNode, str, str], "Node | None"]


@dataclass(slots=True)
class Resolved:
    parent: DirNode | None  # directory holding the final entry (None for the root or a magic link)
    name: str  # final component: "" for the root, "." or ".." when the path ended so
    node: Node | None  # None when the final entry does not exist
    path: str  # canonical guest path of the final entry
    slash: bool = False  # the path ended with "/" (the entry must be a directory)
    magic: OpenFile | None = None  # a stream reached through /proc/self/fd/N
    via_link: bool = False  # the final entry was reached by following a final symlink

    @property
    def dot(self) -> bool:
        return self.name in (".", "..", "")


def _join(names: list[str], name: str | None = None) -> str:
    if name is not None:
        return "/" + "/".join([*names, name])
    return "/" + "/".join(names)


def _check_name(name: str, what: str) -> None:
    if len(name) > NAME_MAX // 4 and len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise fail(errno.ENAMETOOLONG, what)


class Resolver:
    def __init__(self, ns: Namespace, lookup: Lookup) -> None:
        self._ns = ns
        self._lookup = lookup

    def resolve(self, path: str, cwd: str, *, follow: bool, uid: int = 0, gid: int = 0) -> Resolved:
        if not path:
            raise fail(errno.ENOENT, path)
        if "\0" in path:
            raise fail(
                errno.EINVAL, path
            )  # only a Python caller can pass one; the host would choke
        if len(path) >= PATH_MAX // 4 and len(path.encode("utf-8", "surrogateescape")) >= PATH_MAX:
            raise fail(errno.ENAMETOOLONG, path)
        pending = _split(path)
        slash = path.endswith("/") and bool(pending)
        if path[0] != "/":
            # relative: walk the (absolute, canonical) base directory first, then the path
            pending = _split(cwd) + pending
            if not pending:
                return self._dot([self._ns.root], [], ".", slash)
        pending.reverse()
        return self._walk([self._ns.root], [], pending, follow, slash, uid, gid, path)

    def _walk(
        self,
        stack: list[DirNode],
        names: list[str],
        pending: list[str],
        follow: bool,
        slash: bool,
        uid: int,
        gid: int,
        what: str,
    ) -> Resolved:
        # The hot path of every path-taking call (``ls -l`` of /usr/bin resolves three paths per
        # entry), so the permission and type tests are inlined and each node's type read once.
        hops = 0
        lookup = self._lookup
        search = uid != 0  # root passes every search (x) check on directories
        short_name = NAME_MAX // 4  # no longer name can exceed NAME_MAX bytes
        ifmt, iflnk, ifdir = S_IFMT, S_IFLNK, S_IFDIR
        while pending:
            name = pending.pop()
            last = not pending
            cur = stack[-1]
            if name == ".":
                if last:
                    return self._dot(stack, names, ".", slash)
                continue
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                    names.pop()
                if last:
                    return self._dot(stack, names, "..", slash)
                continue
            if len(name) > short_name:
                _check_name(name, what)
            if search:  # perms.allowed(cur, perms.X, uid, gid)
                sr = cur.stat_result
                mode = sr.st_mode
                bits = mode >> 6 if sr.st_uid == uid else mode >> 3 if sr.st_gid == gid else mode
                if not bits & perms.X:
                    raise fail(errno.EACCES, what)
            # lookup() starts with the same dict look-up: entries already in the namespace
            node = cur.children.get(name)
            if node is None:
                node = lookup(cur, name, what)
            if node is None:
                if last:
                    return Resolved(cur, name, None, _join(names, name), slash)
                raise fail(errno.ENOENT, what)
            kind = node.stat_result.st_mode & ifmt
            link = kind == iflnk
            if link and last and slash and not follow:
                # "link/" names the directory behind the link even when links are not followed;
                # say so, so that rmdir/rename/unlink can refuse it (ENOTDIR) as Linux does
                r = self._walk(stack, names, [name], True, slash, uid, gid, what)
                r.via_link = True
                return r
            if link and (not last or follow):
                hops += 1
                if hops > SYMLOOP_MAX:
                    raise fail(errno.ELOOP, what)
                if isinstance(node, MagicLink):
                    done = self._magic(node, stack, names, pending, last, slash, what)
                    if done is not None:
                        return done
                    continue
                target = node.target
                if not target:
                    raise fail(errno.ENOENT, what)
                if target[0] == "/":
                    del stack[1:]
                    names.clear()
                parts = _split(target)
                if last and target.endswith("/"):
                    slash = True
                if not parts:  # the target was "/" (or "//")
                    if last:
                        return self._dot(stack, names, "", slash)
                    continue
                pending.extend(reversed(parts))
                continue
            if last:
                if slash and kind != ifdir:
                    raise fail(errno.ENOTDIR, what)
                return Resolved(cur, name, node, _join(names, name), slash)
            if not isinstance(node, DirNode):
                raise fail(errno.ENOTDIR, what)
            stack.append(node)
            names.append(name)
        return self._dot(stack, names, "", slash)

    def _dot(self, stack: list[DirNode], names: list[str], name: str, slash: bool) -> Resolved:
        parent = stack[-2] if len(stack) > 1 else None
        return Resolved(parent, name, stack[-1], _join(names), slash)

    def _magic(
        self,
        link: MagicLink,
        stack: list[DirNode],
        names: list[str],
        pending: list[str],
        last: bool,
        slash: bool,
        what: str,
    ) -> Resolved | None:
        """Follow /proc/self/fd/N: to the open inode when final, else on through its path."""
        file = link.file
        node = getattr(file, "node", None)
        if last:
            if node is None:
                return Resolved(None, name_of(link), None, file.path, slash, magic=file)
            if slash and not is_dir(node):
                raise fail(errno.ENOTDIR, what)
            return Resolved(None, name_of(link), node, file.path, slash)
        if node is None or not is_dir(node) or not file.path.startswith("/"):
            raise fail(errno.ENOTDIR, what)
        del stack[1:]
        names.clear()
        pending.extend(reversed(_split(file.path)))
        return None


def _split(path: str) -> list[str]:
    return list(filter(None, path.split("/")))
