"""Opening files and the data path: flags, sharing, streaming host files, speed, disk limit."""

from __future__ import annotations

import errno
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from appvirt.vfs import VFS, FileKind, MountMode, MountSpec
from appvirt.vfs.flags import (
    O_APPEND,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
    SEEK_CUR,
    SEEK_DATA,
    SEEK_END,
    SEEK_HOLE,
    SEEK_SET,
)

MakeVFS = Callable[..., VFS]


def errno_of(fn: Callable[[], object]) -> int:
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno is not None
    return info.value.errno


def test_read_and_seek_a_host_file(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    f = vfs.open("/data/file.txt", O_RDONLY)
    assert f.kind is FileKind.REG and f.readable and not f.writable
    assert f.read(5) == b"hello"
    assert f.read(100) == b" world\n"
    assert f.read(10) == b""
    assert f.seek(-6, SEEK_END) == 6
    assert f.read(5) == b"world"
    assert f.seek(-1, SEEK_CUR) == 10
    assert f.pread(4, 0) == b"hell" and f.position == 10
    assert f.seek(0, SEEK_DATA) == 0 and f.seek(3, SEEK_HOLE) == 12
    assert errno_of(lambda: f.seek(-100, SEEK_SET)) == errno.EINVAL
    assert errno_of(lambda: f.write(b"x")) == errno.EBADF
    assert f.stat().size == 12
    f.close()
    assert f.closed


def test_open_flags(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    assert errno_of(lambda: vfs.open("/data/missing", O_RDONLY)) == errno.ENOENT
    assert errno_of(lambda: vfs.open("/data/file.txt", O_CREAT | O_EXCL | O_WRONLY)) == errno.EEXIST
    assert errno_of(lambda: vfs.open("/data/dangling", O_CREAT | O_EXCL | O_WRONLY)) == errno.EEXIST
    assert errno_of(lambda: vfs.open("/data/file.txt", O_DIRECTORY)) == errno.ENOTDIR
    assert errno_of(lambda: vfs.open("/data/link_rel", O_NOFOLLOW)) == errno.ELOOP
    assert errno_of(lambda: vfs.open("/data/dir", O_WRONLY)) == errno.EISDIR
    assert errno_of(lambda: vfs.open("/data/dir", O_RDONLY | O_CREAT)) == errno.EISDIR
    assert errno_of(lambda: vfs.open("/data/nodir/x", O_CREAT | O_WRONLY)) == errno.ENOENT
    assert errno_of(lambda: vfs.open("/data/new/", O_CREAT | O_WRONLY)) == errno.EISDIR
    assert errno_of(lambda: vfs.open("/data/fifo", O_RDONLY)) == errno.EACCES
    assert vfs.stat("/data/fifo").kind == int(FileKind.FIFO)
    # O_CREAT through a dangling symlink creates its target
    vfs.open("/data/dangling", O_CREAT | O_WRONLY).close()
    assert vfs.stat("/data/nowhere").size == 0
    # O_PATH|O_NOFOLLOW names the link itself
    p = vfs.open("/data/link_rel", O_PATH | O_NOFOLLOW)
    assert p.kind is FileKind.LNK and errno_of(lambda: p.read(1)) == errno.EBADF
    assert vfs.open("/data/dir", O_PATH).stat().kind == 0o040000


def test_directories_open_read_only(make_vfs: MakeVFS) -> None:
    vfs = make_vfs()
    d = vfs.open("/data/dir", O_RDONLY | O_DIRECTORY)
    assert d.kind is FileKind.DIR
    assert errno_of(lambda: d.read(10)) == errno.EISDIR
    names = [e.name for e in d.getdents()]
    assert names == [".", "..", "inner.txt", "sub"]
    assert d.getdents() == []
    d.seek(0, SEEK_SET)
    assert [e.name for e in d.getdents(2)] == [".", ".."]
    assert [e.name for e in d.getdents(10)] == ["inner.txt", "sub"]
    kinds = {e.name: e.kind for e in vfs.open("/data", O_RDONLY).getdents()}
    assert kinds["link_rel"] is FileKind.LNK and kinds["fifo"] is FileKind.FIFO
    assert kinds["dir"] is FileKind.DIR and kinds["file.txt"] is FileKind.REG


def test_in_memory_files_share_one_buffer(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS)
    a = vfs.open("/data/f", O_CREAT | O_RDWR, 0o644)
    b = vfs.open("/data/f", O_RDONLY)
    assert a.write(b"abc") == 3
    assert b.read(10) == b"abc"
    assert vfs.stat("/data/f").size == 3
    assert a.pwrite(b"Z", 10) == 1  # a hole reads as zeros
    assert b.read(100) == b"\0" * 7 + b"Z"
    ap = vfs.open("/data/f", O_WRONLY | O_APPEND)
    ap.seek(0, SEEK_SET)
    ap.write(b"!")
    assert vfs.read_bytes("/data/f").endswith(b"Z!")
    t = vfs.open("/data/f", O_WRONLY | O_TRUNC)
    assert vfs.stat("/data/f").size == 0 and b.pread(5, 0) == b""
    t.write(b"x")
    a.truncate(4)
    assert vfs.read_bytes("/data/f") == b"x\0\0\0"
    assert errno_of(lambda: b.truncate(1)) == errno.EINVAL
    for f in (a, b, ap, t):
        f.close()


def test_unlinked_open_file_keeps_its_data(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS, disk_limit=1 << 20)
    f = vfs.open("/data/f", O_CREAT | O_RDWR)
    f.write(b"x" * 1000)
    vfs.unlink("/data/f")
    assert errno_of(lambda: vfs.stat("/data/f")) == errno.ENOENT
    assert f.pread(3, 0) == b"xxx"
    assert vfs.disk_used == 1000
    f.close()
    assert vfs.disk_used == 0


def test_tmpfile(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS)
    f = vfs.open("/data", O_TMPFILE | O_RDWR, 0o600)
    f.write(b"anon")
    assert f.pread(4, 0) == b"anon" and vfs.listdir("/data") == []
    assert f.stat().nlink == 0
    assert errno_of(lambda: vfs.open("/data", O_TMPFILE | O_RDONLY)) == errno.EINVAL


def test_disk_limit_allows_partial_writes(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW, disk_limit=100)
    f = vfs.open("/data/big", O_CREAT | O_WRONLY)
    assert f.write(b"a" * 60) == 60
    assert f.write(b"b" * 60) == 40
    assert errno_of(lambda: f.write(b"c")) == errno.ENOSPC
    f.seek(0, SEEK_SET)
    assert f.write(b"d" * 10) == 10  # overwriting needs no room
    assert errno_of(lambda: vfs.open("/data/file.txt", O_WRONLY)) == errno.ENOSPC  # copy-up
    vfs.unlink("/data/big")
    f.close()
    g = vfs.open("/data/file.txt", O_WRONLY)  # room again
    assert vfs.disk_used == 12
    g.close()
    sf = vfs.statfs("/data")
    assert sf.blocks == 0 and sf.bfree == 0  # 100 bytes: less than a block


def test_ro_mount_refuses_writes(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.RO)
    for flags in (O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC):
        assert errno_of(lambda fl=flags: vfs.open("/data/file.txt", fl)) == errno.EROFS  # type: ignore[misc]
    assert errno_of(lambda: vfs.open("/data/new", O_CREAT | O_WRONLY)) == errno.EROFS


def test_cow_copy_up_is_visible_to_earlier_readers(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.COW)
    r = vfs.open("/data/file.txt", O_RDONLY)
    assert r.read(5) == b"hello"
    w = vfs.open("/data/file.txt", O_WRONLY)
    w.write(b"HELLO")
    assert r.pread(12, 0) == b"HELLO world\n"
    assert (tree / "file.txt").read_bytes() == b"hello world\n"
    assert vfs.stat("/data/file.txt").ino == os.stat(tree / "file.txt").st_ino


def test_rw_writes_through(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.RW)
    f = vfs.open("/data/new.txt", O_CREAT | O_WRONLY, 0o640)
    f.write(b"through")
    f.close()
    assert (tree / "new.txt").read_bytes() == b"through"
    assert os.stat(tree / "new.txt").st_mode & 0o777 == 0o640
    a = vfs.open("/data/file.txt", O_WRONLY | O_APPEND)
    a.write(b"more\n")
    assert a.position == 17
    a.close()
    assert (tree / "file.txt").read_bytes() == b"hello world\nmore\n"
    assert vfs.stat("/data/file.txt").size == 17
    g = vfs.open("/data/file.txt", O_RDWR)
    g.truncate(5)
    assert g.stat().size == 5 and g.read(100) == b"hello"
    g.close()


def test_host_file_swapped_for_a_symlink_is_not_followed(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.RO)
    assert vfs.stat("/data/dir/inner.txt").size == 5  # listed as a regular file
    os.unlink(tree / "dir" / "inner.txt")
    os.symlink(str(tree.parent / "outside" / "secret.txt"), tree / "dir" / "inner.txt")
    assert errno_of(lambda: vfs.read_bytes("/data/dir/inner.txt")) == errno.ELOOP
    # a directory swapped for a symlink is not walked through either
    assert vfs.stat("/data/dir/sub").kind == 0o040000
    os.rename(tree / "dir" / "sub", tree / "sub_moved")
    os.symlink(str(tree.parent / "outside"), tree / "dir" / "sub")
    with pytest.raises(OSError):
        vfs.read_bytes("/data/dir/sub/secret.txt")


def test_replaced_host_file_is_refused(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.RO)
    assert vfs.stat("/data/file.txt").size == 12
    os.rename(tree / "file.txt", tree / "old.txt")
    (tree / "file.txt").write_bytes(b"impostor")
    assert errno_of(lambda: vfs.open("/data/file.txt", O_RDONLY)) == errno.ESTALE


def test_permissions_for_a_non_root_guest(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS, uid=1000, gid=1000)
    vfs.open("/data/mine", O_CREAT | O_WRONLY, 0o600).close()
    vfs.chmod("/data/mine", 0o000)
    assert errno_of(lambda: vfs.open("/data/mine", O_RDONLY)) == errno.EACCES
    vfs.chmod("/data/mine", 0o400)
    vfs.open("/data/mine", O_RDONLY).close()
    assert errno_of(lambda: vfs.open("/data/mine", O_WRONLY)) == errno.EACCES
    vfs.mkdir("/data/locked", 0o700)
    vfs.open("/data/locked/f", O_CREAT | O_WRONLY).close()
    vfs.chmod("/data/locked", 0o600)
    assert errno_of(lambda: vfs.stat("/data/locked/f")) == errno.EACCES
    assert errno_of(lambda: vfs.chown("/data/mine", 0, 0)) == errno.EPERM
    root_vfs = make_vfs(MountMode.RO)
    assert errno_of(lambda: root_vfs.access("/data/file.txt", 1)) == errno.EACCES
    root_vfs.access("/data/exe.sh", 1)


# -- the data path -----------------------------------------------------------------------------


def test_20_mib_through_4_kib_chunks_is_fast_and_holds_one_copy(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS)
    chunk = os.urandom(4096)
    n = (20 << 20) // 4096
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    f = vfs.open("/data/big", O_CREAT | O_RDWR)
    for _ in range(n):
        f.write(chunk)
    f.seek(0, SEEK_SET)
    total = 0
    while data := f.read(4096):
        total += len(data)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 20 << 20
    assert elapsed < 2.0, elapsed
    assert peak < 2 * (20 << 20), peak  # the file, plus bytearray growth slack
    f.close()


def test_sparse_host_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        fh.truncate(200 * 1000 * 1000)
        fh.seek(200 * 1000 * 1000 - 4096)
        fh.write(b"E" * 4096)
    vfs = VFS([MountSpec("/m", MountMode.COW, str(tmp_path))])
    gc.collect()
    tracemalloc.start()
    f = vfs.open("/m/big", O_RDONLY)
    end = vfs.stat("/m/big").size
    got = [f.pread(4096, end - 4096 * i) for i in range(1, 50)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert got[0] == b"E" * 4096 and got[1] == bytes(4096)
    assert peak < 2 << 20, peak
    f.close()
    vfs.close()


def test_host_reads_are_cheap(make_vfs: MakeVFS, tree: Path) -> None:
    (tree / "mid").write_bytes(os.urandom(1 << 20))
    vfs = make_vfs(MountMode.RO)
    f = vfs.open("/data/mid", O_RDONLY)
    start = time.perf_counter()
    for _ in range(4):
        f.seek(0, SEEK_SET)
        while f.read(4096):
            pass
    per_read = (time.perf_counter() - start) / (4 * 256)
    assert per_read < 50e-6, per_read  # a few microseconds; loose for slow CI machines
    f.close()
