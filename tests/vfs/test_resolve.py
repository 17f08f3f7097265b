"""Path resolution: symlinks, '..', limits and escapes, all inside the namespace."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appvirt.vfs import VFS, MountMode, MountSpec, OpenFile

MakeVFS = Callable[..., VFS]


def errno_of(fn: Callable[[], object]) -> int:
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno is not None
    return info.value.errno


def test_symlinks_resolve_inside_the_namespace(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    assert vfs.read_bytes("/data/link_rel") == b"hello world\n"
    assert vfs.realpath("/data/link_dir/sub/../inner.txt") == "/data/dir/inner.txt"
    assert vfs.read_bytes("/data/link_abs_inside") == b"hello world\n"
    assert vfs.readlink("/data/link_rel") == "file.txt"


def test_escapes_never_reach_unmounted_host_paths(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs()
    # the relative link climbs to /, then looks for /outside: not in the namespace
    assert errno_of(lambda: vfs.read_bytes("/data/link_escape_rel")) == errno.ENOENT
    # the absolute host path is looked up in the guest namespace, where it does not exist
    assert errno_of(lambda: vfs.read_bytes("/data/link_escape_abs")) == errno.ENOENT
    assert errno_of(lambda: vfs.stat(str(tree.parent / "outside" / "secret.txt"))) == errno.ENOENT
    # '..' at the root stays at the root
    assert vfs.realpath("/data/../../../../data/file.txt") == "/data/file.txt"
    assert vfs.realpath("/data/link_up") == "/"
    assert vfs.realpath("/data/link_up/data/link_up/proc/../data") == "/data"
    assert vfs.host_path("/data/link_up") is None
    assert vfs.listdir("/data/link_up") == vfs.listdir("/")


def test_nothing_of_the_host_outside_mounts_exists(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    assert sorted(vfs.listdir("/")) == ["data", "dev", "proc", "tmp"]
    for path in ("/etc/passwd", "/root", "/home", "/usr/bin/env", os.path.expanduser("~")):
        assert errno_of(lambda p=path: vfs.stat(p)) == errno.ENOENT  # type: ignore[misc]
    assert vfs.listdir("/tmp") == []


def test_errors(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    assert errno_of(lambda: vfs.stat("/data/loop_a")) == errno.ELOOP
    assert errno_of(lambda: vfs.stat("/data/file.txt/x")) == errno.ENOTDIR
    assert errno_of(lambda: vfs.stat("/data/file.txt/")) == errno.ENOTDIR
    assert errno_of(lambda: vfs.stat("/data/missing/x")) == errno.ENOENT
    assert errno_of(lambda: vfs.stat("/data/dangling")) == errno.ENOENT
    assert vfs.stat("/data/dangling", follow=False).kind == 0o120000
    assert errno_of(lambda: vfs.stat("")) == errno.ENOENT
    assert errno_of(lambda: vfs.stat("/data/" + "x" * 256)) == errno.ENAMETOOLONG
    assert errno_of(lambda: vfs.stat("/" + "a/" * 2048)) == errno.ENAMETOOLONG
    assert errno_of(lambda: vfs.readlink("/data/file.txt")) == errno.EINVAL


def test_symlink_hop_limit() -> None:
    vfs = VFS([MountSpec("/", MountMode.TMPFS)])
    vfs.mkdir("/c")
    vfs.symlink("/c", "/c/l0")
    for i in range(1, 45):
        vfs.symlink(f"l{i - 1}", f"/c/l{i}")
    assert vfs.realpath("/c/l39") == "/c"  # 40 links followed
    assert errno_of(lambda: vfs.realpath("/c/l40")) == errno.ELOOP


def test_relative_paths_use_cwd(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    assert vfs.read_bytes("inner.txt", cwd="/data/dir") == b"inner"
    assert vfs.realpath("../file.txt", cwd="/data/dir") == "/data/file.txt"
    assert vfs.realpath(".", cwd="/data/link_dir") == "/data/dir"
    assert errno_of(lambda: vfs.stat("x", cwd="/data/file.txt")) == errno.ENOTDIR


def test_trailing_slash_follows_a_final_symlink(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    assert vfs.stat("/data/link_dir", follow=False).kind == 0o120000
    assert vfs.stat("/data/link_dir/", follow=False).kind == 0o040000


def test_proc_self_root_is_the_namespace_root(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    vfs.proc = FakeProc()
    assert vfs.realpath("/proc/self/root/data/file.txt") == "/data/file.txt"
    assert errno_of(lambda: vfs.stat("/proc/self/root/etc/passwd")) == errno.ENOENT


class FakeProc:
    def pid(self) -> int:
        return 42

    def exe(self) -> str:
        return "/data/exe.sh"

    def cwd(self) -> str:
        return "/data/dir"

    def fds(self) -> dict[int, OpenFile]:
        return {}

    def maps(self) -> str:
        return ""

    def cmdline(self) -> bytes:
        return b""

    def environ(self) -> bytes:
        return b""

    def status(self) -> str:
        return ""


# -- resolution against the host kernel ------------------------------------------------------

NAMES = ["a", "b", "c"]
_name = st.sampled_from(NAMES)
_component = st.one_of(_name, _name, st.sampled_from([".", ".."]))
_rel = st.lists(_component, min_size=1, max_size=5).map("/".join)
_entry = st.tuples(
    st.lists(_name, min_size=1, max_size=2).map("/".join),  # where
    st.sampled_from(["dir", "file", "link"]),
    st.one_of(_rel, _rel.map(lambda p: "@/" + p)),  # link target: relative or absolute-in-tree
)


def _build(root: str, entries: list[tuple[str, str, str]]) -> None:
    for where, kind, target in entries:
        full = os.path.join(root, where)
        if os.path.lexists(full) or not os.path.isdir(os.path.dirname(full)):
            continue
        if os.path.realpath(os.path.dirname(full)) != os.path.dirname(full):
            continue  # the parent goes through a symlink: keep the tree simple
        if kind == "dir":
            os.mkdir(full)
        elif kind == "file":
            with open(full, "wb") as fh:
                fh.write(where.encode())
        else:
            os.symlink(target.replace("@", root, 1), full)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    entries=st.lists(_entry, min_size=2, max_size=20), probes=st.lists(_rel, min_size=1, max_size=8)
)
def test_resolution_matches_the_host_kernel(
    entries: list[tuple[str, str, str]], probes: list[str]
) -> None:
    """A tree of symlinks mounted rw at its own host path resolves, through the VFS, exactly as
    the host kernel resolves it (same inode, same canonical path, same errno)."""
    base = tempfile.mkdtemp()
    try:
        root = os.path.join(base, "t")
        os.mkdir(root)
        _build(root, entries)
        vfs = VFS([MountSpec(root, MountMode.RW, root)])
        try:
            for probe in probes:
                _compare(vfs, root, probe)
        finally:
            vfs.close()
    finally:
        shutil.rmtree(base)


def _compare(vfs: VFS, root: str, probe: str) -> None:
    host = os.path.join(root, probe)
    try:
        hst = os.stat(host)
    except OSError as e:
        real = os.path.realpath(host)
        if not (real == root or real.startswith(root + "/")) and e.errno == errno.ENOENT:
            return  # left the tree: the namespace has other things there
        with pytest.raises(OSError) as info:
            vfs.stat(host)
        assert info.value.errno == e.errno, probe
        return
    real = os.path.realpath(host)
    if not (real == root or real.startswith(root + "/")):
        # the host path leaves the tree; the guest may land on its own skeleton directories
        # above the mount point, never on a host entry outside the mount
        try:
            gst = vfs.stat(host)
        except OSError:
            return
        behind = vfs.host_path(host)
        assert behind is None or behind == root or behind.startswith(root + "/"), probe
        assert (gst.ino, gst.dev) != (hst.st_ino, hst.st_dev), probe
        return
    gst = vfs.stat(host)
    assert (gst.ino, gst.dev, gst.mode) == (hst.st_ino, hst.st_dev, hst.st_mode), probe
    assert vfs.realpath(host) == real, probe
    assert vfs.stat(probe, cwd=root).ino == hst.st_ino
