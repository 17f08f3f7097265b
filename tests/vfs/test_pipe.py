"""Pipes: non-blocking ends, EOF and EPIPE by reference count, atomic small writes."""

from __future__ import annotations

import errno

import pytest

from appvirt.vfs import FileKind, make_pipe
from appvirt.vfs.pipe import CAPACITY, PIPE_BUF


def test_data_flows_and_empty_pipe_would_block() -> None:
    r, w = make_pipe()
    assert r.kind is FileKind.FIFO and w.kind is FileKind.FIFO
    assert r.path == w.path and r.path.startswith("pipe:[")
    assert not r.read_ready() and w.write_ready()
    with pytest.raises(BlockingIOError) as info:
        r.read(10)
    assert info.value.errno == errno.EAGAIN
    assert w.write(b"hello") == 5
    assert r.read_ready()
    assert r.read(3) == b"hel" and r.read(10) == b"lo"
    assert errno_of(lambda: r.write(b"x")) == errno.EBADF
    assert errno_of(lambda: w.read(1)) == errno.EBADF
    assert errno_of(lambda: r.seek(0, 0)) == errno.ESPIPE


def test_full_pipe_would_block_and_small_writes_are_atomic() -> None:
    r, w = make_pipe()
    assert w.write(b"a" * (CAPACITY - 100)) == CAPACITY - 100
    with pytest.raises(BlockingIOError):
        w.write(b"b" * 200)  # <= PIPE_BUF: all or nothing
    assert w.write(b"c" * (PIPE_BUF + 1)) == 100  # larger writes may be partial
    with pytest.raises(BlockingIOError):
        w.write(b"d")
    assert not w.write_ready()
    r.read(CAPACITY)
    assert w.write_ready()


def test_eof_and_epipe_follow_the_reference_counts() -> None:
    r, w = make_pipe()
    w.ref()  # dup'd write end
    w.write(b"x")
    w.close()
    assert r.read(5) == b"x"
    with pytest.raises(BlockingIOError):
        r.read(5)  # one writer fd is still open
    w.close()
    assert r.read(5) == b"" and r.read_ready()
    r2, w2 = make_pipe()
    r2.close()
    assert r2.closed
    assert errno_of(lambda: w2.write(b"x")) == errno.EPIPE
    assert w2.write_ready()


def test_stat() -> None:
    r, w = make_pipe()
    st = r.stat()
    assert st.kind == int(FileKind.FIFO) and st.ino == w.stat().ino


def errno_of(fn: object) -> int:
    with pytest.raises(OSError) as info:
        fn()  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno
