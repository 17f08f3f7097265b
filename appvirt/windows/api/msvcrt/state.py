"""The C runtime's per-process state: streams, low-level fds, errno, exit handlers, argv."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ...handles import FileHandle
from ..decl import data

_IOFBF, _IOLBF, _IONBF = 0x0000, 0x0040, 0x0004
BUFSIZ = 4096
FILE_SIZE32, FILE_SIZE64 = 32, 48
_IOB_COUNT = 20

data("msvcrt", "_iob", FILE_SIZE32 * _IOB_COUNT, FILE_SIZE64 * _IOB_COUNT)
data("msvcrt", "_fmode", 4)
data("msvcrt", "_commode", 4)
data("msvcrt", "__mb_cur_max", 4)
data("msvcrt", "_acmdln", 4, 8)
data("msvcrt", "_wcmdln", 4, 8)
data("msvcrt", "__initenv", 4, 8)
data("msvcrt", "__winitenv", 4, 8)
data("msvcrt", "_environ", 4, 8)
data("msvcrt", "_wenviron", 4, 8)
data("msvcrt", "__argc", 4)
data("msvcrt", "__argv", 4, 8)
data("msvcrt", "__wargv", 4, 8)
data("msvcrt", "_osver", 4)
data("msvcrt", "_winver", 4)
data("msvcrt", "_winmajor", 4)
data("msvcrt", "_winminor", 4)
data("msvcrt", "_pgmptr", 4, 8)
data("msvcrt", "_wpgmptr", 4, 8)
data("msvcrt", "_timezone", 4)
data("msvcrt", "_daylight", 4)
data("msvcrt", "_tzname", 8, 16)
data("msvcrt", "_pctype", 4, 8)
data("msvcrt", "_mbctype", 260)
data("msvcrt", "__lc_codepage", 4)


@dataclass(slots=True, eq=False)
class CFile:
    """A FILE stream: a kernel32 file handle object plus the CRT's buffering and text mode."""

    fh: FileHandle | None
    fd: int
    text: bool = True
    readable: bool = True
    writable: bool = False
    append: bool = False
    bufmode: int = _IOFBF
    wbuf: bytearray = field(default_factory=bytearray)
    rbuf: bytearray = field(default_factory=bytearray)
    eof: bool = False
    error: bool = False
    pushback: list[int] = field(default_factory=list)
    addr: int = 0


@dataclass(slots=True)
class Crt:
    files: dict[int, CFile] = field(default_factory=dict)  # FILE* -> stream
    fds: dict[int, CFile] = field(default_factory=dict)  # low-level fd -> stream
    iob: int = 0
    file_size: int = 48
    errno_addr: int = 0
    doserrno_addr: int = 0
    onexit: list[int] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    argv_addr: int = 0
    wargv_addr: int = 0
    env_addr: int = 0
    wenv_addr: int = 0
    acmdln: int = 0
    wcmdln: int = 0
    rand_state: int = 1
    exiting: bool = False
    strtok: int = 0
    locale_name: bytes = b"C"
    lconv: int = 0
    ctype_table: int = 0
    scratch: dict[str, int] = field(default_factory=dict)
    atexit_done: bool = False


def crt(proc: Any) -> Crt:
    state = proc.state.get("crt")
    if state is None:
        state = Crt()
        proc.state["crt"] = state
    return state  # type: ignore[no-any-return]


def data_addr(proc: Any, name: str) -> int:
    module = next(m for m in proc.modules if m.fake and m.dll_key == "msvcrt")
    return int(module.exports[name.lower()])


def init_data(proc: Any, argv: list[str]) -> None:
    """Fill msvcrt's exported variables before the program's first instruction reads them."""
    c = crt(proc)
    c.file_size = FILE_SIZE64 if proc.is64 else FILE_SIZE32
    c.iob = data_addr(proc, "_iob")
    for fd in range(3):
        fh = proc.handles.get(proc.std_handles[fd])
        stream = CFile(fh, fd, text=True, readable=fd == 0, writable=fd > 0)
        if fd == 2 or (fh is not None and fh.console):
            stream.bufmode = _IONBF if fd == 2 else _IOLBF
        stream.addr = c.iob + fd * c.file_size
        c.files[stream.addr] = stream
        c.fds[fd] = stream
        _write_file_struct(proc, stream, c.file_size)
    heap = proc.process_heap
    c.errno_addr = heap.alloc(16, zero=True)
    c.doserrno_addr = c.errno_addr + 4
    c.argv = list(argv)
    c.argv[0] = proc.exe_path
    ptrs = []
    for arg in c.argv:
        raw = arg.encode("cp1252", "replace") + b"\0"
        addr = heap.alloc(len(raw))
        proc.mem.poke(addr, raw)
        ptrs.append(addr)
    c.argv_addr = _ptr_array(proc, ptrs)
    wptrs = []
    for arg in c.argv:
        raw = arg.encode("utf-16-le", "surrogatepass") + b"\0\0"
        addr = heap.alloc(len(raw))
        proc.mem.poke(addr, raw)
        wptrs.append(addr)
    c.wargv_addr = _ptr_array(proc, wptrs)
    env_ptrs, wenv_ptrs = [], []
    for key, value in proc.env.items():
        raw = f"{key}={value}".encode("cp1252", "replace") + b"\0"
        addr = heap.alloc(len(raw))
        proc.mem.poke(addr, raw)
        env_ptrs.append(addr)
        wraw = f"{key}={value}".encode("utf-16-le", "surrogatepass") + b"\0\0"
        waddr = heap.alloc(len(wraw))
        proc.mem.poke(waddr, wraw)
        wenv_ptrs.append(waddr)
    c.env_addr = _ptr_array(proc, env_ptrs)
    c.wenv_addr = _ptr_array(proc, wenv_ptrs)
    raw = proc.cmdline.encode("cp1252", "replace") + b"\0"
    c.acmdln = heap.alloc(len(raw))
    proc.mem.poke(c.acmdln, raw)
    wraw = proc.cmdline.encode("utf-16-le", "surrogatepass") + b"\0\0"
    c.wcmdln = heap.alloc(len(wraw))
    proc.mem.poke(c.wcmdln, wraw)
    fmt = "<Q" if proc.is64 else "<I"
    values = {
        "_acmdln": c.acmdln, "_wcmdln": c.wcmdln, "__initenv": c.env_addr, "__winitenv": c.wenv_addr,
        "_environ": c.env_addr, "_wenviron": c.wenv_addr, "__argv": c.argv_addr,
        "__wargv": c.wargv_addr, "_pgmptr": ptrs[0], "_wpgmptr": wptrs[0],
    }  # fmt: skip
    for name, value in values.items():
        proc.mem.poke(data_addr(proc, name), struct.pack(fmt, value))
    ints = {"__mb_cur_max": 1, "__argc": len(c.argv), "_osver": 19045, "_winver": 0x0A00,
            "_winmajor": 10, "_winminor": 0, "__lc_codepage": 0}  # fmt: skip
    for name, value in ints.items():
        proc.mem.poke(data_addr(proc, name), struct.pack("<I", value))
    from .string import init_ctype

    init_ctype(proc, c)


def _ptr_array(proc: Any, ptrs: list[int]) -> int:
    fmt = "<Q" if proc.is64 else "<I"
    blob = b"".join(struct.pack(fmt, p) for p in ptrs) + struct.pack(fmt, 0)
    addr = int(proc.process_heap.alloc(len(blob)))
    proc.mem.poke(addr, blob)
    return addr


def _write_file_struct(proc: Any, stream: CFile, size: int) -> None:
    """The FILE fields a program may peek at: ``_flag`` and ``_file``."""
    flag = (0x01 if stream.readable else 0) | (0x02 if stream.writable else 0)
    if proc.is64:
        raw = struct.pack("<QiQiii", 0, 0, 0, flag, stream.fd, 0)
    else:
        raw = struct.pack("<IiIiii", 0, 0, 0, flag, stream.fd, 0)
    proc.mem.poke(stream.addr, raw.ljust(size, b"\0"))


def write_file_struct(proc: Any, stream: CFile) -> None:
    _write_file_struct(proc, stream, crt(proc).file_size)


def flush_stream(proc: Any, stream: CFile) -> bool:
    if not stream.wbuf or stream.fh is None:
        stream.wbuf.clear()
        return True
    data_out = bytes(stream.wbuf)
    stream.wbuf.clear()
    try:
        f = stream.fh.file
        if stream.append:
            f.seek(0, 2)
        f.write(data_out)
    except OSError:
        stream.error = True
        return False
    return True


def flush_all(proc: Any) -> None:
    c = proc.state.get("crt")
    if c is None:
        return
    for stream in list(c.files.values()):
        flush_stream(proc, stream)


def flush_handle(proc: Any, fh: Any) -> None:
    """Before kernel32 writes to a handle, CRT data buffered for it goes first."""
    c = proc.state.get("crt")
    if c is None:
        return
    for stream in c.files.values():
        if stream.wbuf and (
            stream.fh is fh or (stream.fh is not None and stream.fh.file is fh.file)
        ):
            flush_stream(proc, stream)


def set_errno(proc: Any, value: int) -> None:
    c = crt(proc)
    if c.errno_addr:
        proc.mem.poke(c.errno_addr, struct.pack("<i", value))
