"""changes(): the cow upper layer described against the host tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appvirt.vfs import VFS, ChangeKind, FileKind, MountMode, MountSpec
from appvirt.vfs.flags import O_CREAT, O_RDWR, O_TRUNC, O_WRONLY

MakeVFS = Callable[..., VFS]


def write(vfs: VFS, path: str, data: bytes, flags: int = O_CREAT | O_WRONLY | O_TRUNC) -> None:
    f = vfs.open(path, flags, 0o644)
    f.write(data)
    f.close()


def summary(vfs: VFS) -> list[tuple[str, str]]:
    return [(c.kind.value, c.path) for c in vfs.changes()]


def test_untouched_mount_has_no_changes(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    vfs.listdir("/data/dir")
    vfs.read_bytes("/data/file.txt")
    assert vfs.changes() == []


def test_added_modified_deleted(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    write(vfs, "/data/file.txt", b"X", O_RDWR)
    write(vfs, "/data/dir/new.txt", b"new")
    vfs.mkdir("/data/nd")
    write(vfs, "/data/nd/f", b"f")
    vfs.symlink("file.txt", "/data/nd/l")
    vfs.unlink("/data/dir/inner.txt")
    vfs.chmod("/data/exe.sh", 0o700)
    changes = {c.path: c for c in vfs.changes()}
    assert summary(vfs) == [
        ("deleted", "/data/dir/inner.txt"),
        ("added", "/data/dir/new.txt"),
        ("modified", "/data/exe.sh"),
        ("modified", "/data/file.txt"),
        ("added", "/data/nd"),
        ("added", "/data/nd/f"),
        ("added", "/data/nd/l"),
    ]
    assert changes["/data/file.txt"].read() == b"Xello world\n"
    assert changes["/data/file.txt"].content
    assert not changes["/data/exe.sh"].content and changes["/data/exe.sh"].mode == 0o700
    assert changes["/data/dir/new.txt"].read() == b"new"
    assert changes["/data/nd"].file_kind is FileKind.DIR
    assert changes["/data/nd/l"].target == "file.txt"
    assert changes["/data/dir/inner.txt"].file_kind is FileKind.REG


def test_renames_are_a_deletion_and_an_addition(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    vfs.rename("/data/dir", "/data/moved")
    vfs.rename("/data/file.txt", "/data/exe.sh")
    s = summary(vfs)
    assert ("deleted", "/data/dir") in s and ("deleted", "/data/file.txt") in s
    assert s.index(("deleted", "/data/exe.sh")) < s.index(("added", "/data/exe.sh"))
    for p in (
        "/data/moved",
        "/data/moved/inner.txt",
        "/data/moved/sub",
        "/data/moved/sub/deep.txt",
    ):
        assert ("added", p) in s
    by_path = {c.path: c for c in vfs.changes() if c.kind is ChangeKind.ADDED}
    assert by_path["/data/exe.sh"].read() == b"hello world\n"  # streamed from the host origin
    assert by_path["/data/moved/sub/deep.txt"].read() == b"deep"


def test_replaced_file_and_recreated_name(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    vfs.unlink("/data/file.txt")
    write(vfs, "/data/file.txt", b"again")
    assert summary(vfs) == [("deleted", "/data/file.txt"), ("added", "/data/file.txt")]


def test_only_cow_mounts_are_reported(tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "rw"
    other.mkdir()
    vfs = VFS(
        [
            MountSpec("/cow", MountMode.COW, str(tree)),
            MountSpec("/rw", MountMode.RW, str(other)),
            MountSpec("/mem", MountMode.TMPFS),
            MountSpec("/cow/dir/nested", MountMode.TMPFS),
        ]
    )
    write(vfs, "/rw/f", b"")
    write(vfs, "/mem/f", b"")
    write(vfs, "/tmp/f", b"")
    write(vfs, "/cow/dir/nested/f", b"")
    assert vfs.changes() == []
    write(vfs, "/cow/dir/g", b"g")
    assert summary(vfs) == [("added", "/cow/dir/g")]
