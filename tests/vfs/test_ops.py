"""Namespace operations per mount mode: mkdir, rmdir, unlink, rename, link, symlink, metadata."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from appvirt.vfs import UTIME_OMIT, VFS, MountMode, MountSpec
from appvirt.vfs.flags import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, RENAME_NOREPLACE, W_OK

MakeVFS = Callable[..., VFS]
WRITABLE = [MountMode.COW, MountMode.RW, MountMode.TMPFS]


def errno_of(fn: Callable[[], object]) -> int:
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno is not None
    return info.value.errno


def write(vfs: VFS, path: str, data: bytes) -> None:
    f = vfs.open(path, O_CREAT | O_WRONLY | 0o1000, 0o644)
    f.write(data)
    f.close()


@pytest.mark.parametrize("mode", WRITABLE)
def test_directory_operations(make_vfs: MakeVFS, mode: MountMode) -> None:
    vfs = make_vfs(mode)
    if mode is MountMode.TMPFS:
        vfs.symlink("nowhere", "/data/dangling")
    vfs.mkdir("/data/d1", 0o750)
    st = vfs.stat("/data/d1")
    assert st.kind == 0o040000 and st.mode & 0o777 == 0o750 and st.nlink >= 2
    assert errno_of(lambda: vfs.mkdir("/data/d1")) == errno.EEXIST
    assert errno_of(lambda: vfs.mkdir("/data/dangling")) == errno.EEXIST
    assert errno_of(lambda: vfs.mkdir("/data/no/such")) == errno.ENOENT
    write(vfs, "/data/d1/f", b"x")
    assert errno_of(lambda: vfs.rmdir("/data/d1")) == errno.ENOTEMPTY
    assert errno_of(lambda: vfs.rmdir("/data/d1/f")) == errno.ENOTDIR
    assert errno_of(lambda: vfs.rmdir("/data/d1/.")) == errno.EINVAL
    assert errno_of(lambda: vfs.unlink("/data/d1")) == errno.EISDIR
    vfs.unlink("/data/d1/f")
    vfs.rmdir("/data/d1")
    assert errno_of(lambda: vfs.stat("/data/d1")) == errno.ENOENT
    assert errno_of(lambda: vfs.rmdir("/data")) == errno.EBUSY
    assert errno_of(lambda: vfs.rmdir("/")) == errno.EBUSY


@pytest.mark.parametrize("mode", [MountMode.COW, MountMode.RW])
def test_host_entries_can_be_removed(make_vfs: MakeVFS, tree: Path, mode: MountMode) -> None:
    vfs = make_vfs(mode)
    vfs.unlink("/data/file.txt")
    vfs.unlink("/data/link_rel")
    vfs.unlink("/data/dir/sub/deep.txt")
    vfs.rmdir("/data/dir/sub")
    listing = vfs.listdir("/data")
    assert "file.txt" not in listing and "link_rel" not in listing
    assert vfs.listdir("/data/dir") == ["inner.txt"]
    assert errno_of(lambda: vfs.stat("/data/file.txt")) == errno.ENOENT
    assert (tree / "file.txt").exists() is (mode is MountMode.COW)


@pytest.mark.parametrize("mode", WRITABLE)
def test_rename(make_vfs: MakeVFS, mode: MountMode) -> None:
    vfs = make_vfs(mode)
    write(vfs, "/data/a", b"A")
    write(vfs, "/data/b", b"B")
    vfs.mkdir("/data/d")
    vfs.rename("/data/a", "/data/d/a2")
    assert vfs.read_bytes("/data/d/a2") == b"A"
    assert errno_of(lambda: vfs.stat("/data/a")) == errno.ENOENT
    assert (
        errno_of(lambda: vfs.rename("/data/b", "/data/d/a2", flags=RENAME_NOREPLACE))
        == errno.EEXIST
    )
    vfs.rename("/data/b", "/data/d/a2")
    assert vfs.read_bytes("/data/d/a2") == b"B"
    assert errno_of(lambda: vfs.rename("/data/d", "/data/d/sub")) == errno.EINVAL
    vfs.mkdir("/data/e")
    write(vfs, "/data/e/x", b"")
    assert errno_of(lambda: vfs.rename("/data/d", "/data/e")) == errno.ENOTEMPTY
    assert errno_of(lambda: vfs.rename("/data/d/a2", "/data/e")) == errno.EISDIR
    assert errno_of(lambda: vfs.rename("/data/e", "/data/d/a2")) == errno.ENOTDIR
    vfs.rename("/data/d", "/data/d_moved")
    assert vfs.read_bytes("/data/d_moved/a2") == b"B"
    assert errno_of(lambda: vfs.rename("/data/d_moved/a2", "/tmp/a2")) == errno.EXDEV
    assert errno_of(lambda: vfs.rename("/data", "/data2")) == errno.EBUSY
    assert errno_of(lambda: vfs.rename("/data/missing", "/data/x")) == errno.ENOENT


def test_rename_of_a_host_directory_in_cow_keeps_loading_its_children(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    vfs.rename("/data/dir", "/data/moved")
    assert vfs.read_bytes("/data/moved/sub/deep.txt") == b"deep"
    assert vfs.listdir("/data/moved") == ["inner.txt", "sub"]
    assert errno_of(lambda: vfs.stat("/data/dir")) == errno.ENOENT
    assert errno_of(lambda: vfs.stat("/data/link_dir/inner.txt")) == errno.ENOENT


def test_rename_in_rw_moves_host_entries(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.RW)
    vfs.stat("/data/dir/sub/deep.txt")
    vfs.rename("/data/dir", "/data/moved")
    assert (tree / "moved" / "sub" / "deep.txt").read_bytes() == b"deep"
    write(vfs, "/data/moved/sub/new", b"n")  # uses the moved host path
    assert (tree / "moved" / "sub" / "new").read_bytes() == b"n"
    assert vfs.read_bytes("/data/moved/sub/deep.txt") == b"deep"


@pytest.mark.parametrize("mode", WRITABLE)
def test_links(make_vfs: MakeVFS, mode: MountMode) -> None:
    vfs = make_vfs(mode)
    write(vfs, "/data/orig", b"one")
    vfs.link("/data/orig", "/data/hard")
    assert vfs.stat("/data/orig").nlink == 2
    assert vfs.stat("/data/hard").ino == vfs.stat("/data/orig").ino
    f = vfs.open("/data/hard", O_RDWR)
    f.write(b"TWO")
    f.close()
    assert vfs.read_bytes("/data/orig") == b"TWO"
    vfs.unlink("/data/orig")
    assert vfs.read_bytes("/data/hard") == b"TWO" and vfs.stat("/data/hard").nlink == 1
    vfs.mkdir("/data/adir")
    assert errno_of(lambda: vfs.link("/data/adir", "/data/adir2")) == errno.EPERM
    write(vfs, "/data/other", b"")
    assert errno_of(lambda: vfs.link("/data/hard", "/data/other")) == errno.EEXIST
    assert errno_of(lambda: vfs.link("/data/hard", "/tmp/x")) == errno.EXDEV
    vfs.symlink("hard", "/data/sym")
    assert vfs.readlink("/data/sym") == "hard" and vfs.read_bytes("/data/sym") == b"TWO"
    assert errno_of(lambda: vfs.symlink("x", "/data/sym")) == errno.EEXIST
    assert errno_of(lambda: vfs.symlink("", "/data/empty")) == errno.ENOENT


@pytest.mark.parametrize("mode", WRITABLE)
def test_metadata(make_vfs: MakeVFS, mode: MountMode) -> None:
    vfs = make_vfs(mode)
    write(vfs, "/data/m", b"12345")
    vfs.chmod("/data/m", 0o4711)
    assert vfs.stat("/data/m").mode & 0o7777 == 0o4711
    vfs.utimens("/data/m", 1_000_000_000, 2_000_000_000)
    st = vfs.stat("/data/m")
    assert (st.atime_ns, st.mtime_ns) == (1_000_000_000, 2_000_000_000)
    vfs.utimens("/data/m", UTIME_OMIT, 3_000_000_000)
    assert vfs.stat("/data/m").atime_ns == 1_000_000_000
    vfs.utimens("/data/m", None, None)
    assert vfs.stat("/data/m").mtime_ns > 3_000_000_000
    vfs.truncate("/data/m", 2)
    assert vfs.read_bytes("/data/m") == b"12"
    vfs.truncate("/data/m", 4)
    assert vfs.read_bytes("/data/m") == b"12\0\0"
    assert errno_of(lambda: vfs.truncate("/data/m", -1)) == errno.EINVAL
    assert errno_of(lambda: vfs.truncate("/data", 0)) == errno.EISDIR
    vfs.symlink("m", "/data/lm")
    assert errno_of(lambda: vfs.chmod("/data/lm", 0o600, follow=False)) == errno.EOPNOTSUPP
    if mode is not MountMode.RW or os.getuid() == 0:
        vfs.chown("/data/m", 123, 456)
        st = vfs.stat("/data/m")
        assert (st.uid, st.gid) == (123, 456)
        assert st.mode & 0o6000 == 0  # set-id bits dropped
        vfs.chown("/data/lm", 7, 8, follow=False)
        assert vfs.stat("/data/lm", follow=False).uid == 7
        assert vfs.stat("/data/m").uid == 123


def test_ro_refuses_every_modification(
    make_vfs: MakeVFS, tree: Path, tree_digest: Callable[[Path], str]
) -> None:
    vfs = make_vfs(MountMode.RO)
    before = tree_digest(tree)
    ops: list[Callable[[], object]] = [
        lambda: vfs.mkdir("/data/x"),
        lambda: vfs.rmdir("/data/dir/sub"),
        lambda: vfs.unlink("/data/file.txt"),
        lambda: vfs.rename("/data/file.txt", "/data/y"),
        lambda: vfs.link("/data/file.txt", "/data/y"),
        lambda: vfs.symlink("file.txt", "/data/y"),
        lambda: vfs.chmod("/data/file.txt", 0o777),
        lambda: vfs.chown("/data/file.txt", 1, 1),
        lambda: vfs.utimens("/data/file.txt", None, None),
        lambda: vfs.truncate("/data/file.txt", 0),
        lambda: vfs.open("/data/file.txt", O_WRONLY),
        lambda: vfs.access("/data/file.txt", W_OK),
    ]
    for op in ops:
        assert errno_of(op) == errno.EROFS
    vfs.access("/data/file.txt", 0)
    assert vfs.statfs("/data").flags & 1
    assert tree_digest(tree) == before


def test_cow_leaves_the_host_byte_identical(
    make_vfs: MakeVFS, tree: Path, tree_digest: Callable[[Path], str]
) -> None:
    before = tree_digest(tree)
    vfs = make_vfs(MountMode.COW)
    write(vfs, "/data/file.txt", b"changed")
    write(vfs, "/data/dir/new", b"new")
    vfs.mkdir("/data/newdir")
    vfs.unlink("/data/dir/inner.txt")
    vfs.rename("/data/dir/sub", "/data/sub2")
    vfs.chmod("/data/exe.sh", 0o600)
    vfs.utimens("/data/dir", 5, 5)
    vfs.truncate("/data/link_rel", 2)
    vfs.symlink("/x", "/data/sl")
    vfs.link("/data/exe.sh", "/data/exe2")
    f = vfs.open("/data/exe2", O_RDWR)
    f.pwrite(b"#", 100)
    f.close()
    assert vfs.read_bytes("/data/file.txt") == b"ch"
    assert vfs.listdir("/data/dir") == ["new"]
    assert tree_digest(tree) == before


def test_hidden_paths_are_absent(make_vfs: MakeVFS, tree: Path) -> None:
    for mode in (MountMode.RO, MountMode.COW, MountMode.RW):
        vfs = make_vfs(mode, hidden=("/data/secret", "/data/dir/inner.txt"))
        assert "secret" not in vfs.listdir("/data")
        assert vfs.listdir("/data/dir") == ["sub"]
        assert errno_of(lambda v=vfs: v.stat("/data/secret/key")) == errno.ENOENT  # type: ignore[misc]
        assert errno_of(lambda v=vfs: v.read_bytes("/data/dir/inner.txt")) == errno.ENOENT  # type: ignore[misc]
        assert errno_of(lambda v=vfs: v.stat("/data/link_dir/inner.txt")) == errno.ENOENT  # type: ignore[misc]
        if mode is MountMode.RW:
            assert errno_of(lambda v=vfs: v.mkdir("/data/secret")) == errno.EACCES  # type: ignore[misc]
    assert (tree / "secret" / "key").read_bytes() == b"private"


def test_merged_usr_symlinks_stay_symlinks(tmp_path: Path) -> None:
    usr = tmp_path / "usr"
    (usr / "bin").mkdir(parents=True)
    (usr / "bin" / "tool").write_bytes(b"TOOL")
    os.symlink("usr/bin", tmp_path / "bin")
    os.symlink("usr/lib", tmp_path / "lib")  # dangling: target not in a mount
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_bytes(b"X")
    os.symlink(str(tmp_path / "other"), tmp_path / "elsewhere")
    vfs = VFS(
        [
            MountSpec("/usr", MountMode.RO, str(usr)),
            MountSpec("/bin", MountMode.RO, str(tmp_path / "bin")),
            MountSpec("/opt/else", MountMode.RO, str(tmp_path / "elsewhere")),
        ]
    )
    assert vfs.readlink("/bin") == "usr/bin"
    assert vfs.realpath("/bin/tool") == "/usr/bin/tool"
    assert vfs.read_bytes("/bin/tool") == b"TOOL"
    assert errno_of(lambda: vfs.unlink("/bin")) == errno.EBUSY
    # a symlinked mount whose target is not mounted is mounted at the resolved directory
    assert vfs.stat("/opt/else", follow=False).kind == 0o040000
    assert vfs.read_bytes("/opt/else/x") == b"X"
    assert vfs.listdir("/opt") == ["else"]


def test_nested_mounts_and_file_mounts(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    (outer / "a" / "b").mkdir(parents=True)
    (outer / "a" / "b" / "hostfile").write_bytes(b"shadowed")
    (outer / "a" / "keep").write_bytes(b"keep")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "in").write_bytes(b"IN")
    single = tmp_path / "resolv.conf"
    single.write_bytes(b"nameserver 10.0.0.1\n")
    vfs = VFS(
        [
            MountSpec("/", MountMode.COW, str(outer)),
            MountSpec("/a/b", MountMode.RO, str(inner)),
            MountSpec("/x/y/z", MountMode.TMPFS),
            MountSpec("/etc/resolv.conf", MountMode.RO, str(single)),
        ]
    )
    assert vfs.listdir("/a/b") == ["in"]
    assert vfs.read_bytes("/a/keep") == b"keep"
    assert sorted(vfs.listdir("/")) == ["a", "dev", "etc", "proc", "tmp", "x"]
    assert vfs.read_bytes("/etc/resolv.conf") == b"nameserver 10.0.0.1\n"
    assert errno_of(lambda: vfs.open("/etc/resolv.conf", O_WRONLY)) == errno.EROFS
    assert errno_of(lambda: vfs.unlink("/etc/resolv.conf")) == errno.EBUSY
    assert errno_of(lambda: vfs.rename("/a/b/in", "/a/in")) == errno.EXDEV
    write(vfs, "/x/y/z/t", b"t")
    assert vfs.stat("/x/y/z").mode & 0o7777 == 0o1777
    assert vfs.stat("/tmp").mode & 0o7777 == 0o1777
    mounts = vfs.read_bytes("/proc/mounts").decode()
    assert " /a/b ext4 ro" in mounts and " /x/y/z tmpfs " in mounts
    assert vfs.host_path("/a/b/in") == str(inner / "in")
    assert vfs.host_path("/x/y/z/t") is None
    assert vfs.statfs("/x/y/z").type == 0x01021994


def test_open_directory_fd_and_read_bytes_of_dirs(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    assert errno_of(lambda: vfs.read_bytes("/data/dir")) == errno.EISDIR
    d = vfs.open("/data/dir", O_RDONLY)
    write(vfs, "/data/dir/late", b"")
    d.seek(0, 0)
    assert "late" in [e.name for e in d.getdents()]
    assert d.stat().kind == 0o040000
    assert vfs.is_dir("/data/link_dir") and not vfs.is_dir("/data/file.txt")
    assert not vfs.is_dir("/data/missing")


def test_rw_directory_listing_follows_the_host(make_vfs: MakeVFS, tree: Path) -> None:
    vfs = make_vfs(MountMode.RW)
    assert "late" not in vfs.listdir("/data/dir")
    (tree / "dir" / "late").write_bytes(b"L")
    os.unlink(tree / "dir" / "inner.txt")
    assert vfs.listdir("/data/dir") == ["late", "sub"]
    assert vfs.read_bytes("/data/dir/late") == b"L"
    vfs.stat("/data/file.txt")
    os.chmod(tree / "file.txt", 0o600)
    assert vfs.stat("/data/file.txt").mode & 0o777 == 0o600
    vfs.open("/data/file.txt", O_RDONLY).close()


def test_rw_mount_root_metadata(tmp_path: Path) -> None:
    vfs = VFS([MountSpec("/m", MountMode.RW, str(tmp_path))])
    vfs.chmod("/m", 0o750)
    vfs.utimens("/m", 10**9, 2 * 10**9)
    assert os.stat(tmp_path).st_mode & 0o777 == 0o750
    assert os.stat(tmp_path).st_mtime_ns == 2 * 10**9
    assert vfs.stat("/m").mode & 0o777 == 0o750


def test_mount_specs_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        VFS([MountSpec("/a", MountMode.TMPFS), MountSpec("/a/", MountMode.TMPFS)])
    with pytest.raises(ValueError):
        VFS([MountSpec("relative", MountMode.TMPFS)])
    with pytest.raises(ValueError):
        VFS([MountSpec("/a", MountMode.RO)])  # no host path
    with pytest.raises(ValueError):
        VFS([MountSpec("/a", MountMode.RO, str(tmp_path), hidden=("/elsewhere",))])


def test_create_with_o_directory_is_invalid(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS)
    assert errno_of(lambda: vfs.open("/data/x", O_CREAT | O_RDONLY | 0o200000)) == errno.EINVAL


def test_sticky_directory(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.TMPFS)
    vfs.open("/data/owned_by_root", O_CREAT | O_WRONLY).close()
    vfs.uid = vfs.gid = 1000
    assert errno_of(lambda: vfs.unlink("/data/owned_by_root")) == errno.EPERM
    vfs.open("/data/mine", O_CREAT | O_WRONLY).close()
    assert vfs.stat("/data/mine").uid == 1000
    vfs.unlink("/data/mine")


def test_trailing_slash_on_a_symlink_does_not_remove_its_target(make_vfs: MakeVFS) -> None:
    vfs = make_vfs(MountMode.COW)
    vfs.mkdir("/data/empty")
    vfs.symlink("empty", "/data/to_empty")
    assert errno_of(lambda: vfs.rmdir("/data/to_empty/")) == errno.ENOTDIR
    assert errno_of(lambda: vfs.rename("/data/to_empty/", "/data/x")) == errno.ENOTDIR
    assert vfs.is_dir("/data/empty")
    assert vfs.stat("/data/to_empty/", follow=False).kind == 0o040000
    vfs.unlink("/data/to_empty")
    vfs.rmdir("/data/empty/")
