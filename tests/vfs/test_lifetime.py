"""A library user runs many programs in one process: VFS instances must not leak."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from appvirt.vfs import VFS, MountMode, MountSpec
from appvirt.vfs.flags import O_CREAT, O_RDONLY, O_RDWR


def one_run(tree: Path) -> None:
    vfs = VFS(
        [MountSpec("/data", MountMode.COW, str(tree)), MountSpec("/w", MountMode.TMPFS)],
        disk_limit=1 << 20,
    )
    f = vfs.open("/w/out", O_CREAT | O_RDWR)
    f.write(b"x" * 4096)
    f.close()
    g = vfs.open("/data/file.txt", O_RDONLY)
    g.read(5)
    g.close()
    vfs.listdir("/data/dir")
    vfs.read_bytes("/proc/meminfo")
    vfs.close()


def test_close_frees_everything(tree: Path) -> None:
    for _ in range(20):
        one_run(tree)  # warm caches (pyfakefs, imports)
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(1000):
        one_run(tree)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - base < 256 * 1024, after - base


def test_vfs_instances_are_collected_without_the_cycle_collector(tree: Path) -> None:
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(200):
            one_run(tree)
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        gc.enable()
    assert after - base < 256 * 1024, after - base


def test_closed_vfs_is_empty(tree: Path) -> None:
    vfs = VFS([MountSpec("/data", MountMode.RO, str(tree))])
    vfs.close()
    assert vfs.listdir("/") == []
    assert vfs.disk_used == 0
