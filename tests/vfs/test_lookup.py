"""``VFS.lookup``: the existence check of the xattr calls fails exactly as ``stat`` does."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from appvirt.vfs import VFS

PATHS = ["/data/file.txt", "/data/dir", "/data/link_rel", "/data/dangling", "/data/loop_a",
         "/data/missing", "/data/file.txt/x", "/data/link_dir/inner.txt", "/proc/self/exe",
         "/dev/null", "/nowhere/at/all"]  # fmt: skip


def _errno(fn: Callable[[], object]) -> int:
    try:
        fn()
    except OSError as err:
        return err.errno or -1
    return 0


@pytest.mark.parametrize("follow", [True, False])
def test_lookup_agrees_with_stat(make_vfs: Callable[..., VFS], follow: bool) -> None:
    vfs = make_vfs()
    for path in PATHS:
        want = _errno(lambda p=path: vfs.stat(p, "/", follow=follow))
        got = _errno(lambda p=path: vfs.lookup(p, "/", follow=follow))
        assert got == want, path
    assert _errno(lambda: vfs.lookup("/data/dangling", "/", follow=True)) == errno.ENOENT
    assert _errno(lambda: vfs.lookup("/data/dangling", "/", follow=False)) == 0
