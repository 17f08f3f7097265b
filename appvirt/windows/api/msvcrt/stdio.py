"""stdio.h and io.h: FILE streams with msvcrt's text mode and buffering, printf and friends.

Streams are kept in Python (``state.CFile``); the FILE structure in guest memory only identifies
the stream. Text mode writes ``\\n`` as ``\\r\\n`` and reads ``\\r\\n`` as ``\\n`` (stopping at
Ctrl-Z), as msvcrt does, stdout to a console is line-buffered and otherwise fully buffered, and
stderr is unbuffered. Everything a stream writes reaches the same open file a kernel32 handle
writes, in order.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ... import paths
from ...handles import FileHandle
from ...printf import format_bytes, from_va_list
from ..decl import INT, PTR, SIZE, STR, UINT, VOID, WSTR, alias, winapi
from .state import (
    _IOFBF,
    _IOLBF,
    _IONBF,
    BUFSIZ,
    CFile,
    crt,
    flush_stream,
    set_errno,
    write_file_struct,
)

EOF = -1
O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_TRUNC, O_EXCL = 0, 1, 2, 8, 0x100, 0x200, 0x400
O_TEXT, O_BINARY = 0x4000, 0x8000


def stream_of(proc: Any, addr: int) -> CFile | None:
    return crt(proc).files.get(addr)  # type: ignore[no-any-return]


def stream_write(proc: Any, s: CFile, raw: bytes) -> bool:
    if not s.writable:
        s.error = True
        set_errno(proc, _errno.EBADF)
        return False
    if s.text:
        raw = raw.replace(b"\n", b"\r\n")
    s.wbuf += raw
    if s.bufmode == _IONBF or (s.bufmode == _IOLBF and b"\n" in raw) or len(s.wbuf) >= BUFSIZ:
        return flush_stream(proc, s)
    return True


def _fill(proc: Any, s: CFile) -> bool:
    """Read more raw bytes into the stream's buffer (False at end of file)."""
    if s.fh is None or s.eof:
        return False
    if s.fd == 0 or s.fh.std >= 0:
        from .state import flush_all

        flush_all(proc)  # a prompt written before reading input must be visible
    try:
        chunk = s.fh.file.read(BUFSIZ)
    except OSError:
        s.error = True
        return False
    if not chunk:
        return False
    s.rbuf += chunk
    return True


def stream_read(proc: Any, s: CFile, size: int, line: bool = False) -> bytes:
    """Up to ``size`` bytes (to the first newline when ``line``), text-translated."""
    if not s.readable:
        s.error = True
        return b""
    flush_stream(proc, s)
    out = bytearray()
    while s.pushback and len(out) < size:
        out.append(s.pushback.pop())
        if line and out[-1] == 0x0A:
            return bytes(out)
    while len(out) < size:
        if not s.rbuf and not _fill(proc, s):
            s.eof = True
            break
        buf = s.rbuf
        if s.text:
            if buf[0] == 0x1A:  # Ctrl-Z ends a text stream
                s.eof = True
                break
            if buf[0] == 0x0D:
                if len(buf) == 1 and _fill(proc, s):
                    buf = s.rbuf
                if len(buf) > 1 and buf[1] == 0x0A:
                    del buf[0]
            out.append(buf[0])
            del buf[0]
        else:
            take = size - len(out)
            if line:
                nl = buf.find(b"\n", 0, take)
                if nl >= 0:
                    take = nl + 1
            out += buf[:take]
            del buf[:take]
        if line and out and out[-1] == 0x0A:
            break
    return bytes(out)


def _parse_mode(mode: bytes, fmode_binary: bool) -> tuple[int, bool, bool, bool, bool] | None:
    """(flags, text, readable, writable, append) for an fopen mode string."""
    if not mode or mode[:1] not in (b"r", b"w", b"a"):
        return None
    plus = b"+" in mode
    text = not fmode_binary
    if b"b" in mode:
        text = False
    elif b"t" in mode:
        text = True
    kind = mode[:1]
    if kind == b"r":
        return (O_RDWR if plus else O_RDONLY), text, True, plus, False
    if kind == b"w":
        return (O_RDWR if plus else O_WRONLY) | O_CREAT | O_TRUNC, text, plus, True, False
    return (O_RDWR if plus else O_WRONLY) | O_CREAT | O_APPEND, text, plus, True, True


def open_stream(proc: Any, path: str, mode: bytes) -> int:
    c = crt(proc)
    from .state import data_addr

    fmode = int.from_bytes(proc.read(data_addr(proc, "_fmode"), 4), "little")
    parsed = _parse_mode(mode.split(b",")[0].strip(), bool(fmode & O_BINARY))
    if parsed is None:
        set_errno(proc, _errno.EINVAL)
        return 0
    flags, text, readable, writable, append = parsed
    fh = open_file(proc, path, flags)
    if fh is None:
        return 0
    fd = _new_fd(c)
    s = CFile(fh, fd, text=text, readable=readable, writable=writable, append=append)
    s.addr = proc.process_heap.alloc(c.file_size, zero=True)
    c.files[s.addr] = s
    c.fds[fd] = s
    write_file_struct(proc, s)
    return s.addr


def _new_fd(c: Any) -> int:
    fd = 3
    while fd in c.fds:
        fd += 1
    return fd


def open_file(proc: Any, path: str, flags: int) -> FileHandle | None:
    """Open ``path`` for the CRT (errno set on failure) through the kernel32 file layer."""
    from ..kernel32 import files as kfiles

    access = {O_RDONLY: 0x80000000, O_WRONLY: 0x40000000, O_RDWR: 0xC0000000}[flags & 3]
    if flags & O_CREAT:
        disposition = (
            1 if flags & O_EXCL else 2 if flags & O_TRUNC else 4
        )  # CREATE_NEW/ALWAYS/OPEN_ALWAYS
    else:
        disposition = 5 if flags & O_TRUNC else 3  # TRUNCATE_EXISTING / OPEN_EXISTING
    result = kfiles.open_path(proc, path, access, disposition)
    if isinstance(result, int):
        set_errno(proc, _WIN_TO_ERRNO.get(result, _errno.EINVAL))
        return None
    result.append = bool(flags & O_APPEND)
    return result


_WIN_TO_ERRNO = {2: _errno.ENOENT, 3: _errno.ENOENT, 5: _errno.EACCES, 80: _errno.EEXIST,
                 183: _errno.EEXIST, 32: _errno.EACCES, 123: _errno.ENOENT, 19: _errno.EACCES}  # fmt: skip


def _format(proc: Any, fmt: int, va: Any) -> bytes:
    return format_bytes(proc.read_bytes0(fmt), va, proc.read_bytes0, proc.read_wstr)


def _wformat(proc: Any, fmt: int, va: Any) -> str:
    text = proc.read_wstr(fmt).encode("utf-8", "surrogatepass")
    out = format_bytes(text, va, proc.read_bytes0, proc.read_wstr, wide=True)
    return out.decode("utf-8", "surrogatepass")


def _to_stream(proc: Any, stream: int, raw: bytes) -> int:
    s = stream_of(proc, stream)
    if s is None:
        return -1
    return len(raw) if stream_write(proc, s, raw) else -1


def _stdout(proc: Any) -> int:
    return int(crt(proc).iob + crt(proc).file_size)


@winapi("msvcrt", args=(STR,), variadic=True, ret=INT)
def printf(proc: Any, fmt: int, va: Any) -> int:
    """Formatted output to stdout (msvcrt's conversions)."""
    return _to_stream(proc, _stdout(proc), _format(proc, fmt, va))


@winapi("msvcrt", args=(PTR, STR), variadic=True, ret=INT)
def fprintf(proc: Any, stream: int, fmt: int, va: Any) -> int:
    return _to_stream(proc, stream, _format(proc, fmt, va))


@winapi("msvcrt", args=(STR, PTR), ret=INT)
def vprintf(proc: Any, fmt: int, ap: int) -> int:
    return _to_stream(proc, _stdout(proc), _format(proc, fmt, from_va_list(proc, ap)))


@winapi("msvcrt", args=(PTR, STR, PTR), ret=INT)
def vfprintf(proc: Any, stream: int, fmt: int, ap: int) -> int:
    return _to_stream(proc, stream, _format(proc, fmt, from_va_list(proc, ap)))


@winapi("msvcrt", args=(PTR, STR), variadic=True, ret=INT)
def sprintf(proc: Any, buf: int, fmt: int, va: Any) -> int:
    raw = _format(proc, fmt, va)
    proc.write(buf, raw + b"\0")
    return len(raw)


@winapi("msvcrt", args=(PTR, STR, PTR), ret=INT)
def vsprintf(proc: Any, buf: int, fmt: int, ap: int) -> int:
    raw = _format(proc, fmt, from_va_list(proc, ap))
    proc.write(buf, raw + b"\0")
    return len(raw)


def _bounded(proc: Any, buf: int, count: int, raw: bytes, c99: bool) -> int:
    """msvcrt's _snprintf: -1 and no terminator when it does not fit; C99 snprintf: the length."""
    if len(raw) < count:
        proc.write(buf, raw + b"\0")
        return len(raw)
    if count > 0:
        if c99:
            proc.write(buf, raw[: count - 1] + b"\0")
        else:
            proc.write(buf, raw[:count])
    return len(raw) if c99 else -1


@winapi("msvcrt", args=(PTR, SIZE, STR), variadic=True, ret=INT)
def _snprintf(proc: Any, buf: int, count: int, fmt: int, va: Any) -> int:
    return _bounded(proc, buf, count, _format(proc, fmt, va), False)


@winapi("msvcrt", args=(PTR, SIZE, STR, PTR), ret=INT)
def _vsnprintf(proc: Any, buf: int, count: int, fmt: int, ap: int) -> int:
    return _bounded(proc, buf, count, _format(proc, fmt, from_va_list(proc, ap)), False)


@winapi("msvcrt", args=(PTR, SIZE, STR), variadic=True, ret=INT)
def snprintf(proc: Any, buf: int, count: int, fmt: int, va: Any) -> int:
    return _bounded(proc, buf, count, _format(proc, fmt, va), True)


@winapi("msvcrt", args=(PTR, SIZE, STR, PTR), ret=INT)
def vsnprintf(proc: Any, buf: int, count: int, fmt: int, ap: int) -> int:
    return _bounded(proc, buf, count, _format(proc, fmt, from_va_list(proc, ap)), True)


@winapi("msvcrt", args=(WSTR,), variadic=True, ret=INT)
def wprintf(proc: Any, fmt: int, va: Any) -> int:
    return _to_stream(proc, _stdout(proc), _wformat(proc, fmt, va).encode("cp1252", "replace"))


@winapi("msvcrt", args=(PTR, WSTR), variadic=True, ret=INT)
def fwprintf(proc: Any, stream: int, fmt: int, va: Any) -> int:
    return _to_stream(proc, stream, _wformat(proc, fmt, va).encode("cp1252", "replace"))


@winapi("msvcrt", args=(PTR, SIZE, WSTR), variadic=True, ret=INT)
def _snwprintf(proc: Any, buf: int, count: int, fmt: int, va: Any) -> int:
    text = _wformat(proc, fmt, va)
    raw = text.encode("utf-16-le", "surrogatepass")
    if len(text) < count:
        proc.write(buf, raw + b"\0\0")
        return len(text)
    if count > 0:
        proc.write(buf, raw[: 2 * count])
    return -1


@winapi("msvcrt", args=(PTR, WSTR), variadic=True, ret=INT)
def swprintf(proc: Any, buf: int, fmt: int, va: Any) -> int:
    text = _wformat(proc, fmt, va)
    proc.write(buf, text.encode("utf-16-le", "surrogatepass") + b"\0\0")
    return len(text)


@winapi("msvcrt", args=(INT, PTR), ret=INT)
def fputc(proc: Any, ch: int, stream: int) -> int:
    """One character to a stream; returns it, or EOF."""
    return ch & 0xFF if _to_stream(proc, stream, bytes([ch & 0xFF])) >= 0 else EOF


alias("msvcrt", "putc", "fputc")
alias("msvcrt", "_fputc_nolock", "fputc")


@winapi("msvcrt", args=(INT,), ret=INT)
def putchar(proc: Any, ch: int) -> int:
    return ch & 0xFF if _to_stream(proc, _stdout(proc), bytes([ch & 0xFF])) >= 0 else EOF


@winapi("msvcrt", args=(STR,), ret=INT)
def puts(proc: Any, text: int) -> int:
    return 0 if _to_stream(proc, _stdout(proc), proc.read_bytes0(text) + b"\n") >= 0 else EOF


@winapi("msvcrt", args=(STR, PTR), ret=INT)
def fputs(proc: Any, text: int, stream: int) -> int:
    return 0 if _to_stream(proc, stream, proc.read_bytes0(text)) >= 0 else EOF


@winapi("msvcrt", args=(PTR, SIZE, SIZE, PTR), ret=SIZE)
def fwrite(proc: Any, buf: int, size: int, count: int, stream: int) -> int:
    """Write ``count`` items of ``size`` bytes; returns the items written."""
    total = size * count
    if total == 0:
        return 0
    return count if _to_stream(proc, stream, proc.read(buf, total)) >= 0 else 0


@winapi("msvcrt", args=(PTR, SIZE, SIZE, PTR), ret=SIZE)
def fread(proc: Any, buf: int, size: int, count: int, stream: int) -> int:
    s = stream_of(proc, stream)
    if s is None or size == 0 or count == 0:
        return 0
    raw = stream_read(proc, s, size * count)
    proc.write(buf, raw)
    return len(raw) // size


@winapi("msvcrt", args=(PTR, INT, PTR), ret=PTR)
def fgets(proc: Any, buf: int, size: int, stream: int) -> int:
    """A line (with its newline) of at most size-1 bytes; NULL at end of file."""
    s = stream_of(proc, stream)
    if s is None or size <= 0:
        return 0
    raw = stream_read(proc, s, size - 1, line=True)
    if not raw:
        return 0
    proc.write(buf, raw + b"\0")
    return buf


@winapi("msvcrt", args=(PTR,), ret=INT)
def fgetc(proc: Any, stream: int) -> int:
    s = stream_of(proc, stream)
    if s is None:
        return EOF
    raw = stream_read(proc, s, 1)
    return raw[0] if raw else EOF


alias("msvcrt", "getc", "fgetc")


@winapi("msvcrt", ret=INT)
def getchar(proc: Any) -> int:
    s = crt(proc).fds.get(0)
    if s is None:
        return EOF
    raw = stream_read(proc, s, 1)
    return raw[0] if raw else EOF


@winapi("msvcrt", args=(INT, PTR), ret=INT)
def ungetc(proc: Any, ch: int, stream: int) -> int:
    s = stream_of(proc, stream)
    if s is None or ch == EOF or ch & 0xFFFFFFFF == 0xFFFFFFFF:
        return EOF
    s.pushback.append(ch & 0xFF)
    s.eof = False
    return ch & 0xFF


@winapi("msvcrt", args=(STR, STR), ret=PTR)
def fopen(proc: Any, path: int, mode: int) -> int:
    """Open a file as a stream ("r", "w", "a", "+", "b", "t"); NULL and errno on failure."""
    return open_stream(proc, proc.read_str(path), proc.read_bytes0(mode))


@winapi("msvcrt", args=(WSTR, WSTR), ret=PTR)
def _wfopen(proc: Any, path: int, mode: int) -> int:
    return open_stream(
        proc, proc.read_wstr(path), proc.read_wstr(mode).encode("latin-1", "replace")
    )


@winapi("msvcrt", args=(STR, STR, PTR), ret=PTR)
def freopen(proc: Any, path: int, mode: int, stream: int) -> int:
    """Only the common case: close ``stream`` and open ``path`` in its place."""
    s = stream_of(proc, stream)
    if s is None:
        return 0
    _close_stream(proc, s)
    addr = open_stream(proc, proc.read_str(path), proc.read_bytes0(mode))
    if not addr:
        return 0
    c = crt(proc)
    new = c.files.pop(addr)
    c.fds.pop(new.fd, None)
    proc.process_heap.free(addr)
    new.addr = stream
    new.fd = s.fd
    c.files[stream] = new
    c.fds[new.fd] = new
    write_file_struct(proc, new)
    return stream


def _close_stream(proc: Any, s: CFile) -> bool:
    ok = flush_stream(proc, s)
    c = crt(proc)
    c.files.pop(s.addr, None)
    c.fds.pop(s.fd, None)
    if s.fh is not None and s.fh.std < 0:
        s.fh.file.close()
    return ok


@winapi("msvcrt", args=(PTR,), ret=INT)
def fclose(proc: Any, stream: int) -> int:
    """Flush and close a stream; 0, or EOF on failure."""
    s = stream_of(proc, stream)
    if s is None:
        set_errno(proc, _errno.EINVAL)
        return EOF
    ok = _close_stream(proc, s)
    if stream != crt(proc).iob and proc.process_heap.owns(stream):
        proc.process_heap.free(stream)
    return 0 if ok else EOF


@winapi("msvcrt", args=(PTR,), ret=INT)
def fflush(proc: Any, stream: int) -> int:
    if stream == 0:
        from .state import flush_all

        flush_all(proc)
        return 0
    s = stream_of(proc, stream)
    if s is None:
        return EOF
    return 0 if flush_stream(proc, s) else EOF


@winapi("msvcrt", args=(PTR, PTR, INT, SIZE), ret=INT)
def setvbuf(proc: Any, stream: int, buf: int, mode: int, size: int) -> int:
    """Buffering mode of a stream (the buffer itself stays appvirt's)."""
    s = stream_of(proc, stream)
    if s is None or mode not in (_IOFBF, _IOLBF, _IONBF):
        return -1
    flush_stream(proc, s)
    s.bufmode = mode
    return 0


@winapi("msvcrt", args=(PTR, PTR), ret=VOID)
def setbuf(proc: Any, stream: int, buf: int) -> None:
    s = stream_of(proc, stream)
    if s is not None:
        s.bufmode = _IOFBF if buf else _IONBF


def _tell(proc: Any, s: CFile) -> int:
    if s.fh is None:
        return -1
    try:
        pos = s.fh.file.seek(0, 1)
    except OSError:
        return -1
    return pos - len(s.rbuf) - len(s.pushback) + len(s.wbuf)


@winapi("msvcrt", args=(PTR, INT, INT), ret=INT)
def fseek(proc: Any, stream: int, offset: int, whence: int) -> int:
    s = stream_of(proc, stream)
    if s is None or s.fh is None or whence not in (0, 1, 2):
        return -1
    if whence == 1:
        offset += _tell(proc, s)
        whence = 0
    flush_stream(proc, s)
    s.rbuf.clear()
    s.pushback.clear()
    try:
        s.fh.file.seek(offset, whence)
    except OSError:
        set_errno(proc, _errno.EINVAL)
        return -1
    s.eof = False
    return 0


@winapi("msvcrt", args=(PTR,), ret=INT)
def ftell(proc: Any, stream: int) -> int:
    s = stream_of(proc, stream)
    return -1 if s is None else _tell(proc, s)


@winapi("msvcrt", args=(PTR,), ret=VOID)
def rewind(proc: Any, stream: int) -> None:
    fseek(proc, stream, 0, 0)
    s = stream_of(proc, stream)
    if s is not None:
        s.error = False


@winapi("msvcrt", args=(PTR,), ret=INT)
def feof(proc: Any, stream: int) -> int:
    s = stream_of(proc, stream)
    return int(s is not None and s.eof)


@winapi("msvcrt", args=(PTR,), ret=INT)
def ferror(proc: Any, stream: int) -> int:
    s = stream_of(proc, stream)
    return int(s is not None and s.error)


@winapi("msvcrt", args=(PTR,), ret=VOID)
def clearerr(proc: Any, stream: int) -> None:
    s = stream_of(proc, stream)
    if s is not None:
        s.eof = s.error = False


@winapi("msvcrt", args=(PTR,), ret=INT)
def _fileno(proc: Any, stream: int) -> int:
    s = stream_of(proc, stream)
    return -1 if s is None else s.fd


alias("msvcrt", "fileno", "_fileno")


@winapi("msvcrt", ret=PTR)
def __iob_func(proc: Any) -> int:
    """Address of _iob (stdin, stdout, stderr)."""
    return crt(proc).iob


@winapi("msvcrt", args=(UINT,), ret=PTR)
def __acrt_iob_func(proc: Any, index: int) -> int:
    c = crt(proc)
    return int(c.iob + index * c.file_size)


@winapi("msvcrt", args=(INT, INT), ret=INT)
def _setmode(proc: Any, fd: int, mode: int) -> int:
    """Text or binary mode of a low-level fd; returns the previous mode."""
    s = crt(proc).fds.get(fd)
    if s is None:
        set_errno(proc, _errno.EBADF)
        return -1
    old = O_TEXT if s.text else O_BINARY
    flush_stream(proc, s)
    s.text = bool(mode & O_TEXT)
    return old


@winapi("msvcrt", args=(INT,), ret=INT)
def _isatty(proc: Any, fd: int) -> int:
    s = crt(proc).fds.get(fd)
    return int(s is not None and s.fh is not None and s.fh.console)


alias("msvcrt", "isatty", "_isatty")


@winapi("msvcrt", args=(INT,), ret=PTR)
def _get_osfhandle(proc: Any, fd: int) -> int:
    s = crt(proc).fds.get(fd)
    if s is None or s.fh is None:
        return -1
    for handle in range(0x40, 0x40 + 4 * 4096, 4):
        if proc.handles.get(handle) is s.fh:
            return handle
    return -1


@winapi("msvcrt", args=(STR, INT), variadic=True, ret=INT)
def _open(proc: Any, path: int, flags: int, va: Any) -> int:
    """Low-level open: a file descriptor, or -1 with errno."""
    fh = open_file(proc, proc.read_str(path), flags & 0x70F)
    if fh is None:
        return -1
    c = crt(proc)
    fd = _new_fd(c)
    s = CFile(fh, fd, text=not flags & O_BINARY, readable=flags & 3 != O_WRONLY,
              writable=flags & 3 != O_RDONLY, append=bool(flags & O_APPEND), bufmode=_IONBF)  # fmt: skip
    c.fds[fd] = s
    return fd


alias("msvcrt", "open", "_open")


@winapi("msvcrt", args=(INT,), ret=INT)
def _close(proc: Any, fd: int) -> int:
    c = crt(proc)
    s = c.fds.get(fd)
    if s is None:
        set_errno(proc, _errno.EBADF)
        return -1
    _close_stream(proc, s)
    return 0


alias("msvcrt", "close", "_close")


@winapi("msvcrt", args=(INT, PTR, UINT), ret=INT)
def _write(proc: Any, fd: int, buf: int, count: int) -> int:
    s = crt(proc).fds.get(fd)
    if s is None:
        set_errno(proc, _errno.EBADF)
        return -1
    raw = proc.read(buf, count)
    if not stream_write(proc, s, raw) or not flush_stream(proc, s):
        return -1
    return count


alias("msvcrt", "write", "_write")


@winapi("msvcrt", args=(INT, PTR, UINT), ret=INT)
def _read(proc: Any, fd: int, buf: int, count: int) -> int:
    s = crt(proc).fds.get(fd)
    if s is None:
        set_errno(proc, _errno.EBADF)
        return -1
    raw = stream_read(proc, s, count)
    proc.write(buf, raw)
    return len(raw)


alias("msvcrt", "read", "_read")


@winapi("msvcrt", args=(INT, INT, INT), ret=INT)
def _lseek(proc: Any, fd: int, offset: int, whence: int) -> int:
    s = crt(proc).fds.get(fd)
    if s is None or s.fh is None:
        set_errno(proc, _errno.EBADF)
        return -1
    flush_stream(proc, s)
    s.rbuf.clear()
    try:
        return int(s.fh.file.seek(offset, whence))
    except OSError:
        set_errno(proc, _errno.EINVAL)
        return -1


alias("msvcrt", "lseek", "_lseek")


@winapi("msvcrt", args=(STR,), ret=INT)
def remove(proc: Any, path: int) -> int:
    from ..kernel32 import files as kfiles

    code = kfiles.delete_file(proc, proc.read_str(path))
    if code:
        set_errno(proc, _WIN_TO_ERRNO.get(code, _errno.EACCES))
        return -1
    return 0


alias("msvcrt", "_unlink", "remove")
alias("msvcrt", "unlink", "remove")


@winapi("msvcrt", args=(STR, STR), ret=INT)
def rename(proc: Any, old: int, new: int) -> int:
    from ..kernel32 import files as kfiles

    code = kfiles.move_file(proc, proc.read_str(old), proc.read_str(new), 0)
    if code:
        set_errno(proc, _WIN_TO_ERRNO.get(code, _errno.EACCES))
        return -1
    return 0


@winapi("msvcrt", args=(STR,), ret=INT)
def _mkdir(proc: Any, path: int) -> int:
    from ..kernel32 import files as kfiles

    code = kfiles.create_directory(proc, proc.read_str(path))
    if code:
        set_errno(proc, _WIN_TO_ERRNO.get(code, _errno.EACCES))
        return -1
    return 0


@winapi("msvcrt", args=(STR,), ret=INT)
def _rmdir(proc: Any, path: int) -> int:
    from ..kernel32 import files as kfiles

    code = kfiles.remove_directory(proc, proc.read_str(path))
    if code:
        set_errno(proc, _errno.ENOTEMPTY if code == 145 else _WIN_TO_ERRNO.get(code, _errno.EACCES))
        return -1
    return 0


@winapi("msvcrt", args=(PTR, INT), ret=PTR)
def _getcwd(proc: Any, buf: int, size: int) -> int:
    raw = proc.cwd.encode("cp1252", "replace")
    if not buf:
        buf = proc.process_heap.alloc(max(size, len(raw) + 1))
    elif len(raw) + 1 > size:
        set_errno(proc, _errno.ERANGE)
        return 0
    proc.write(buf, raw + b"\0")
    return buf


@winapi("msvcrt", args=(STR,), ret=INT)
def _chdir(proc: Any, path: int) -> int:
    from ..kernel32 import files as kfiles

    if kfiles.set_current_directory(proc, proc.read_str(path)):
        set_errno(proc, _errno.ENOENT)
        return -1
    return 0


@winapi("msvcrt", args=(STR, INT), ret=INT)
def _access(proc: Any, path: int, mode: int) -> int:
    try:
        vpath = paths.vfs_path(proc.read_str(path), proc.cwd, proc.vfs)
        proc.vfs.stat(vpath)
    except (OSError, paths.BadPath):
        set_errno(proc, _errno.ENOENT)
        return -1
    return 0


alias("msvcrt", "access", "_access")
