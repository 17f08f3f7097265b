"""Host trees for the VFS tests: files, directories, symlinks pointing inside and outside, a FIFO."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appvirt.vfs import VFS, MountMode, MountSpec


def build_tree(base: Path) -> Path:
    """``base/root`` (to be mounted) next to ``base/outside`` (which must stay unreachable)."""
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"shadow\n")
    root = base / "root"
    root.mkdir()
    (root / "file.txt").write_bytes(b"hello world\n")
    (root / "exe.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "exe.sh").chmod(0o755)
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "inner.txt").write_bytes(b"inner")
    (root / "dir" / "sub" / "deep.txt").write_bytes(b"deep")
    (root / "secret").mkdir()
    (root / "secret" / "key").write_bytes(b"private")
    os.symlink("file.txt", root / "link_rel")
    os.symlink("dir", root / "link_dir")
    os.symlink("/data/file.txt", root / "link_abs_inside")
    os.symlink("../outside/secret.txt", root / "link_escape_rel")
    os.symlink(str(outside / "secret.txt"), root / "link_escape_abs")
    os.symlink("../../../../../../../../../..", root / "link_up")
    os.symlink("loop_b", root / "loop_a")
    os.symlink("loop_a", root / "loop_b")
    os.symlink("nowhere", root / "dangling")
    os.mkfifo(root / "fifo")
    return root


def digest(path: Path) -> str:
    """Every name, kind, mode, size, mtime, link text and content under ``path``."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            h.update(f"{rel}:{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode())
            if os.path.islink(full):
                h.update(os.readlink(full).encode())
            elif os.path.isfile(full):
                with open(full, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


@pytest.fixture
def tree_digest() -> Callable[[Path], str]:
    return digest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return build_tree(tmp_path)


@pytest.fixture
def make_vfs(tree: Path) -> Iterator[Callable[..., VFS]]:
    made: list[VFS] = []

    def make(mode: MountMode = MountMode.RO, guest: str = "/data", **kw: object) -> VFS:
        host = None if mode is MountMode.TMPFS else str(tree)
        hidden = kw.pop("hidden", ())
        vfs = VFS([MountSpec(guest, mode, host, hidden=hidden)], **kw)  # type: ignore[arg-type]
        made.append(vfs)
        return vfs

    yield make
    for vfs in made:
        vfs.close()
