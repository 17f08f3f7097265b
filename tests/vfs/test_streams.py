"""Standard-stream descriptions: host fds, byte buffers and Python file objects."""

from __future__ import annotations

import errno
import io
import os
import pty

import pytest

from appvirt.vfs import BufferStream, FileKind, HostFdStream, PyFileStream


def test_host_fd_stream_over_a_pipe() -> None:
    rfd, wfd = os.pipe()
    try:
        out = HostFdStream(wfd, readable=False, writable=True)
        inp = HostFdStream(rfd, readable=True, writable=False)
        assert out.kind is FileKind.FIFO and not out.isatty() and out.host_fd() == wfd
        assert out.path.startswith("pipe:[")
        assert not inp.read_ready() and out.write_ready()
        assert out.write(b"data") == 4
        assert inp.read_ready() and inp.read(10) == b"data"
        assert errno_of(lambda: inp.write(b"x")) == errno.EBADF
        assert errno_of(lambda: inp.seek(0, 0)) == errno.ESPIPE
        assert inp.stat().kind == int(FileKind.FIFO)
        out.close()
        os.fstat(wfd)  # not owned: still open
    finally:
        os.close(rfd)
        os.close(wfd)


def test_host_fd_stream_over_a_file_and_a_tty(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    s = HostFdStream(fd, readable=True, writable=True, owned=True)
    assert s.kind is FileKind.REG and str(tmp_path) not in s.path
    s.write(b"abc")
    assert s.seek(0, 0) == 0 and s.read(3) == b"abc" and s.stat().size == 3
    s.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # owned: closed with the description
    master, slave = pty.openpty()
    try:
        t = HostFdStream(slave, readable=True, writable=True)
        assert t.isatty() and t.kind is FileKind.CHR and t.path == "/dev/pts/0"
    finally:
        os.close(master)
        os.close(slave)


def test_buffer_stream() -> None:
    sink = bytearray()
    s = BufferStream(b"input", sink)
    assert s.read(2) == b"in" and s.read(10) == b"put" and s.read(1) == b""
    s.write(b"out")
    assert sink == b"out" and s.getvalue() == b"out"
    ro = BufferStream(b"", writable=False)
    assert errno_of(lambda: ro.write(b"x")) == errno.EBADF


def test_py_file_stream() -> None:
    buf = io.BytesIO()
    s = PyFileStream(buf)
    assert s.write(b"hello") == 5 and buf.getvalue() == b"hello"
    buf.seek(0)
    assert s.read(3) == b"hel"
    assert not s.isatty()
    s.fsync()


def errno_of(fn: object) -> int:
    with pytest.raises(OSError) as info:
        fn()  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno
