"""Nodes for host entries are built without pyfakefs's constructor (``Namespace.from_host``): they
must hold exactly what ``FileNode(...)`` plus ``set_host_stat`` would, and a read-only host file's
built-once ``Stat`` must equal the one ``node_stat`` computes from the node."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from appvirt.vfs import VFS, MountMode, MountSpec
from appvirt.vfs.mounts import Mount
from appvirt.vfs.namespace import FileNode, Namespace, node_stat, set_host_stat


def _entries(tmp_path: Path) -> list[tuple[str, str | None]]:
    (tmp_path / "file").write_bytes(b"twelve bytes")
    (tmp_path / "exe").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "exe").chmod(0o4755)
    os.symlink("file", tmp_path / "link")
    os.symlink("caf\udce9-\u00e9", tmp_path / "oddlink")  # undecodable and non-ASCII bytes
    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "sparse", "wb") as fh:
        fh.truncate(1 << 20)
    out = []
    for name in ("file", "exe", "link", "oddlink", "fifo", "sparse"):
        path = tmp_path / name
        out.append((name, os.readlink(path) if path.is_symlink() else None))
    return out


@pytest.mark.parametrize("mode", [MountMode.RO, MountMode.COW, MountMode.RW])
def test_fast_host_node_matches_pyfakefs_construction(tmp_path: Path, mode: MountMode) -> None:
    ns = Namespace()
    mount = Mount("/m", mode, str(tmp_path), 77)
    for name, target in _entries(tmp_path):
        hst = os.lstat(tmp_path / name)
        fast = ns.from_host(name, hst, target, mount, (name,))
        slow = FileNode(ns.fs, name, hst.st_mode, mount, target=target, origin=(name,))
        slow.rdev = hst.st_rdev
        set_host_stat(slow, hst)
        assert type(fast) is FileNode
        fast_vars, slow_vars = dict(vars(fast)), dict(vars(slow))
        fast_sr, slow_sr = fast_vars.pop("stat_result"), slow_vars.pop("stat_result")
        assert vars(fast_sr) == vars(slow_sr), name
        assert type(fast_sr) is type(slow_sr)
        hstat = fast_vars.pop("hstat")
        assert slow_vars.pop("hstat") is None
        assert fast_vars == slow_vars, name
        assert fast.target == slow.target and fast.st_size == slow.st_size
        # the Stat kept for read-only mounts is the one computed from the node
        assert (hstat is not None) == (mode is MountMode.RO)
        fast.hstat = None
        computed = node_stat(fast)
        assert computed == node_stat(slow)
        if hstat is not None:
            assert hstat == computed


def test_read_only_stat_matches_host(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    vfs = VFS([MountSpec(guest="/m", mode=MountMode.RO, host=str(tmp_path))])
    assert vfs.listdir("/m") == sorted(name for name, _ in entries)
    for name, target in entries:
        hst = os.lstat(tmp_path / name)
        got = vfs.stat(f"/m/{name}", follow=False)
        assert (got.mode, got.size, got.ino, got.dev, got.nlink, got.uid, got.gid) == (
            hst.st_mode, hst.st_size, hst.st_ino, hst.st_dev, hst.st_nlink, hst.st_uid, hst.st_gid)  # fmt: skip
        assert (got.blocks, got.atime_ns, got.mtime_ns, got.ctime_ns, got.rdev) == (
            hst.st_blocks, hst.st_atime_ns, hst.st_mtime_ns, hst.st_ctime_ns, hst.st_rdev)  # fmt: skip
        # nothing can change a read-only node, so the kept Stat stays right
        if target is None:
            with pytest.raises(OSError) as err:
                vfs.chmod(f"/m/{name}", 0o600)
            assert err.value.errno == errno.EROFS
        assert vfs.stat(f"/m/{name}", follow=False) == got


def test_cow_stat_follows_changes(tmp_path: Path) -> None:
    """cow host files keep no built Stat: chmod and writes show in stat at once."""
    _entries(tmp_path)
    vfs = VFS([MountSpec(guest="/m", mode=MountMode.COW, host=str(tmp_path))])
    before = vfs.stat("/m/file")
    vfs.chmod("/m/file", 0o600)
    assert vfs.stat("/m/file").mode & 0o7777 == 0o600
    f = vfs.open("/m/file", os.O_WRONLY | os.O_APPEND)
    try:
        f.write(b"!")
    finally:
        f.close()
    assert vfs.stat("/m/file").size == before.size + 1
    assert os.stat(tmp_path / "file").st_mode & 0o7777 != 0o600  # the host is untouched
