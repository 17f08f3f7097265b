"""Random operation sequences: cow and rw mounts against the host kernel doing the same thing.

Each sequence runs on three copies of one tree: directly on the host with ``os`` (the reference),
through a VFS cow mount and through a VFS rw mount. Every operation must fail with the same errno
or succeed everywhere; the final trees must match, the cow host copy must be untouched, and
replaying ``changes()`` onto a fresh copy must reproduce the reference.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appvirt.vfs import VFS, ChangeKind, FileKind, MountMode, MountSpec
from appvirt.vfs.flags import O_CREAT, O_RDWR, O_TRUNC, O_WRONLY

_name = st.sampled_from(["a", "b", "c"])
_path = st.lists(_name, min_size=1, max_size=3).map("/".join)
_op = st.one_of(
    st.tuples(st.just("write"), _path, st.binary(max_size=8)),
    st.tuples(st.just("mkdir"), _path),
    st.tuples(st.just("unlink"), _path),
    st.tuples(st.just("rmdir"), _path),
    st.tuples(st.just("rename"), _path, _path),
    st.tuples(st.just("symlink"), _name, _path),
    st.tuples(st.just("link"), _path, _path),
    st.tuples(st.just("patch"), _path, st.integers(0, 9), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), _path, st.integers(0, 9)),
    st.tuples(st.just("chmod"), _path, st.sampled_from([0o600, 0o755, 0o640])),
)


def _seed(root: str) -> None:
    os.makedirs(os.path.join(root, "a", "b"))
    with open(os.path.join(root, "a", "c"), "wb") as fh:
        fh.write(b"host-ac")
    with open(os.path.join(root, "b"), "wb") as fh:
        fh.write(b"host-b")
    os.symlink("a", os.path.join(root, "c"))


def _host_op(root: str, op: tuple) -> None:  # type: ignore[type-arg]
    kind, *args = op
    p = [os.path.join(root, a) if isinstance(a, str) else a for a in args]
    if kind == "write":
        fd = os.open(p[0], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        os.write(fd, args[1])
        os.close(fd)
    elif kind == "mkdir":
        os.mkdir(p[0], 0o755)
    elif kind == "unlink":
        os.unlink(p[0])
    elif kind == "rmdir":
        os.rmdir(p[0])
    elif kind == "rename":
        os.rename(p[0], p[1])
    elif kind == "symlink":
        os.symlink(args[0], os.path.join(root, args[1]))
    elif kind == "link":
        os.link(p[0], p[1], follow_symlinks=False)
    elif kind == "patch":
        fd = os.open(p[0], os.O_RDWR)
        os.pwrite(fd, args[2], args[1])
        os.close(fd)
    elif kind == "truncate":
        os.truncate(p[0], args[1])
    elif kind == "chmod":
        os.chmod(p[0], args[1])


def _vfs_op(vfs: VFS, op: tuple) -> None:  # type: ignore[type-arg]
    kind, *args = op
    g = ["/m/" + a if isinstance(a, str) else a for a in args]
    if kind == "write":
        f = vfs.open(g[0], O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        f.write(args[1])
        f.close()
    elif kind == "mkdir":
        vfs.mkdir(g[0], 0o755)
    elif kind == "unlink":
        vfs.unlink(g[0])
    elif kind == "rmdir":
        vfs.rmdir(g[0])
    elif kind == "rename":
        vfs.rename(g[0], g[1])
    elif kind == "symlink":
        vfs.symlink(args[0], g[1])
    elif kind == "link":
        vfs.link(g[0], g[1])
    elif kind == "patch":
        f = vfs.open(g[0], O_RDWR)
        f.pwrite(args[2], args[1])
        f.close()
    elif kind == "truncate":
        vfs.truncate(g[0], args[1])
    elif kind == "chmod":
        vfs.chmod(g[0], args[1])


def _outcome(fn: Callable[[], None]) -> int:
    try:
        fn()
    except OSError as e:
        return e.errno or -1
    return 0


def _host_view(root: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st_ = os.lstat(full)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", st_.st_mode & 0o7777)
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", st_.st_mode & 0o7777, fh.read())
    return out


def _vfs_view(vfs: VFS, base: str = "/m") -> dict[str, object]:
    out: dict[str, object] = {}
    for name in vfs.listdir(base):
        full = f"{base}/{name}"
        rel = full[len("/m/") :]
        st_ = vfs.stat(full, follow=False)
        if st_.kind == int(FileKind.LNK):
            out[rel] = ("link", vfs.readlink(full))
        elif st_.kind == int(FileKind.DIR):
            out[rel] = ("dir", st_.mode & 0o7777)
            out.update(_vfs_view(vfs, full))
        else:
            out[rel] = ("file", st_.mode & 0o7777, vfs.read_bytes(full))
    return out


def _replay(vfs: VFS, root: str) -> None:
    """What the persistence layer will do: apply changes() to a copy of the host tree."""
    for c in vfs.changes():
        target = os.path.join(root, c.path[len("/m/") :])
        if c.kind is ChangeKind.DELETED:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.unlink(target)
            continue
        if c.file_kind is FileKind.DIR:
            os.makedirs(target, exist_ok=True)
            os.chmod(target, c.mode)
        elif c.file_kind is FileKind.LNK:
            if os.path.lexists(target):
                os.unlink(target)
            assert c.target is not None
            os.symlink(c.target, target)
        else:
            if os.path.lexists(target):
                os.unlink(target)
            with open(target, "wb") as fh:
                fh.write(c.read())
            os.chmod(target, c.mode)


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=st.lists(_op, max_size=14))
def test_cow_and_rw_behave_like_the_host(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    base = tempfile.mkdtemp()
    umask = os.umask(0o022)  # the host applies it; the VFS takes modes as given
    try:
        ref, cow, rw, replay = (os.path.join(base, n) for n in ("ref", "cow", "rw", "replay"))
        for root in (ref, cow, rw, replay):
            os.mkdir(root)
            _seed(root)
        pristine = _host_view(cow)
        vcow = VFS([MountSpec("/m", MountMode.COW, cow)])
        vrw = VFS([MountSpec("/m", MountMode.RW, rw)])
        for op in ops:
            expected = _outcome(lambda op=op: _host_op(ref, op))  # type: ignore[misc]
            assert _outcome(lambda op=op: _vfs_op(vcow, op)) == expected, op  # type: ignore[misc]
            assert _outcome(lambda op=op: _vfs_op(vrw, op)) == expected, op  # type: ignore[misc]
        reference = _host_view(ref)
        assert _vfs_view(vcow) == reference
        assert _vfs_view(vrw) == reference
        assert _host_view(rw) == reference
        assert _host_view(cow) == pristine
        _replay(vcow, replay)
        assert _host_view(replay) == reference
        vcow.close()
        vrw.close()
    finally:
        os.umask(umask)
        shutil.rmtree(base)
