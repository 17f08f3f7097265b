"""CRT startup and exit: __getmainargs, _initterm, onexit tables, exit, locale basics, errno."""

from __future__ import annotations

import struct
from typing import Any

from ...process import ProcessExit
from ..decl import INT, PTR, STR, UINT, VOID, alias, winapi
from .state import crt, data_addr, flush_all

ABORT_MESSAGE = (b"\r\nThis application has requested the Runtime to terminate it in an unusual way.\r\n"
                 b"Please contact the application's support team for more information.\r\n")  # fmt: skip


@winapi("msvcrt", args=(PTR, PTR, PTR, INT, PTR), ret=INT)
def __getmainargs(proc: Any, argc: int, argv: int, envp: int, wildcard: int, startinfo: int) -> int:
    """argc, argv and the environment, already split when the process started."""
    c = crt(proc)
    proc.write_u32(argc, len(c.argv))
    proc.write_ptr(argv, c.argv_addr)
    proc.write_ptr(envp, c.env_addr)
    return 0


@winapi("msvcrt", args=(PTR, PTR, PTR, INT, PTR), ret=INT)
def __wgetmainargs(
    proc: Any, argc: int, argv: int, envp: int, wildcard: int, startinfo: int
) -> int:
    """The wide-character argv and environment."""
    c = crt(proc)
    proc.write_u32(argc, len(c.argv))
    proc.write_ptr(argv, c.wargv_addr)
    proc.write_ptr(envp, c.wenv_addr)
    return 0


@winapi("msvcrt", args=(INT,), ret=VOID)
def __set_app_type(proc: Any, kind: int) -> None:
    """Console or GUI: nothing changes for a sandboxed run."""


alias("msvcrt", "_set_app_type", "__set_app_type")


@winapi("msvcrt", args=(PTR,), ret=VOID)
def __setusermatherr(proc: Any, fn: int) -> None:
    """The math error hook is never called: math functions do not raise errors here."""


@winapi("msvcrt", args=(PTR, PTR), ret=VOID)
def _initterm(proc: Any, begin: int, end: int) -> None:
    """Call each non-null function pointer in [begin, end) (C++ constructors, CRT initialisers)."""
    addr = begin
    while addr < end:
        fn = proc.read_ptr(addr)
        if fn:
            proc.call(fn)
        addr += proc.word


@winapi("msvcrt", args=(PTR, PTR), ret=INT)
def _initterm_e(proc: Any, begin: int, end: int) -> int:
    """Like _initterm, stopping at the first initialiser that returns non-zero."""
    addr = begin
    while addr < end:
        fn = proc.read_ptr(addr)
        if fn:
            rc = proc.call(fn) & 0xFFFFFFFF
            if rc:
                return rc
        addr += proc.word
    return 0


def run_onexit(proc: Any) -> None:
    c = crt(proc)
    if c.atexit_done:
        return
    c.atexit_done = True
    while c.onexit:
        proc.call(c.onexit.pop())


def exit_process(proc: Any, code: int, run_handlers: bool = True) -> None:
    if run_handlers:
        run_onexit(proc)
    flush_all(proc)
    proc.exit_code = code & 0xFFFFFFFF
    raise ProcessExit(code)


@winapi("msvcrt", args=(INT,), ret=VOID)
def exit(proc: Any, code: int) -> None:  # noqa: A001 - the export's name
    """Run atexit/_onexit functions in reverse order, flush streams, end the process."""
    exit_process(proc, code)


@winapi("msvcrt", args=(INT,), ret=VOID)
def _exit(proc: Any, code: int) -> None:
    """End the process without running exit handlers."""
    exit_process(proc, code, run_handlers=False)


alias("msvcrt", "_Exit", "_exit")
alias("msvcrt", "quick_exit", "_exit")


@winapi("msvcrt", ret=VOID)
def _cexit(proc: Any) -> None:
    """Exit handlers and flushing, without ending the process (the caller exits next)."""
    run_onexit(proc)
    flush_all(proc)


@winapi("msvcrt", ret=VOID)
def _c_exit(proc: Any) -> None:
    """Flush without exit handlers."""
    flush_all(proc)


@winapi("msvcrt", ret=VOID)
def abort(proc: Any) -> None:
    """msvcrt's abort: its message on stderr and exit status 3."""
    c = crt(proc)
    stream = c.fds.get(2)
    if stream is not None and stream.fh is not None:
        try:
            stream.fh.file.write(ABORT_MESSAGE)
        except OSError:
            pass
    exit_process(proc, 3, run_handlers=False)


@winapi("msvcrt", args=(INT,), ret=VOID)
def _amsg_exit(proc: Any, code: int) -> None:
    """A CRT runtime error: "runtime error R60nn" and exit status 255."""
    c = crt(proc)
    stream = c.fds.get(2)
    if stream is not None and stream.fh is not None:
        try:
            stream.fh.file.write(f"\r\nruntime error R60{code:02d}\r\n".encode())
        except OSError:
            pass
    exit_process(proc, 255, run_handlers=False)


@winapi("msvcrt", args=(PTR,), ret=PTR)
def _onexit(proc: Any, fn: int) -> int:
    """Register a function for exit(); returns it (NULL on failure)."""
    crt(proc).onexit.append(fn)
    return fn


@winapi("msvcrt", args=(PTR,), ret=INT)
def atexit(proc: Any, fn: int) -> int:
    """Register a function for exit(); 0 on success."""
    crt(proc).onexit.append(fn)
    return 0


alias("msvcrt", "_crt_atexit", "atexit")


@winapi("msvcrt", args=(PTR, PTR, PTR), ret=PTR)
def __dllonexit(proc: Any, fn: int, begin: int, end: int) -> int:
    """A DLL's onexit table: kept with the process's (DLLs are never unloaded before exit)."""
    crt(proc).onexit.append(fn)
    return fn


@winapi("msvcrt", args=(PTR,), ret=INT)
def _initialize_onexit_table(proc: Any, table: int) -> int:
    """UCRT onexit tables live in appvirt; the guest's table stays empty."""
    return 0


@winapi("msvcrt", args=(PTR, PTR), ret=INT)
def _register_onexit_function(proc: Any, table: int, fn: int) -> int:
    crt(proc).onexit.append(fn)
    return 0


@winapi("msvcrt", args=(PTR,), ret=INT)
def _execute_onexit_table(proc: Any, table: int) -> int:
    run_onexit(proc)
    return 0


def _var(name: str, doc: str) -> None:
    def getter(proc: Any) -> int:
        return data_addr(proc, name)

    getter.__doc__ = doc
    winapi("msvcrt", f"__p_{name}", ret=PTR)(getter)


for _name in ("_fmode", "_commode", "_acmdln", "_wcmdln", "__argc", "__argv", "__wargv",
              "_environ", "_wenviron", "__initenv", "__winitenv", "_pgmptr", "_wpgmptr",
              "_timezone", "_daylight", "_tzname", "_mbctype", "_pctype"):  # fmt: skip
    _var(_name, f"Address of the CRT variable {_name}.")


@winapi("msvcrt", ret=PTR)
def _get_initial_narrow_environment(proc: Any) -> int:
    return crt(proc).env_addr


@winapi("msvcrt", ret=PTR)
def _get_initial_wide_environment(proc: Any) -> int:
    return crt(proc).wenv_addr


@winapi("msvcrt", args=(INT,), ret=INT)
def _configure_narrow_argv(proc: Any, mode: int) -> int:
    return 0


alias("msvcrt", "_configure_wide_argv", "_configure_narrow_argv")


@winapi("msvcrt", ret=INT)
def _initialize_narrow_environment(proc: Any) -> int:
    return 0


alias("msvcrt", "_initialize_wide_environment", "_initialize_narrow_environment")


@winapi("msvcrt", ret=PTR)
def _errno(proc: Any) -> int:
    """Address of errno."""
    return crt(proc).errno_addr


@winapi("msvcrt", ret=PTR)
def __doserrno(proc: Any) -> int:
    return crt(proc).doserrno_addr


@winapi("msvcrt", args=(INT, PTR), ret=PTR)
def signal(proc: Any, sig: int, handler: int) -> int:
    """Handlers are recorded but never called (no console Ctrl-C or FP signals are raised)."""
    table = proc.state.setdefault("signals", {})
    old = table.get(sig, 0)
    table[sig] = handler
    return int(old)


def raise_(proc: Any, sig: int) -> int:
    """raise(): SIGABRT and default actions end the process with status 3."""
    handler = proc.state.get("signals", {}).get(sig, 0)
    if handler not in (0, 1):
        proc.call(handler, sig)
        return 0
    if handler == 1:
        return 0
    exit_process(proc, 3, run_handlers=False)
    return 0


winapi("msvcrt", "raise", args=(INT,), ret=INT)(raise_)


@winapi("msvcrt", args=(INT, STR), ret=PTR)
def setlocale(proc: Any, category: int, locale: int) -> int:
    """Only the "C" locale exists; asking for "" or "C" succeeds, anything else fails."""
    c = crt(proc)
    if locale:
        name = proc.read_bytes0(locale)
        if name not in (b"", b"C", b"POSIX"):
            return 0
    addr = c.scratch.get("locale")
    if addr is None:
        addr = proc.process_heap.alloc(8)
        proc.mem.poke(addr, b"C\0")
        c.scratch["locale"] = addr
    return int(addr)


alias("msvcrt", "_wsetlocale", "setlocale")


@winapi("msvcrt", ret=PTR)
def localeconv(proc: Any) -> int:
    """The "C" locale's struct lconv: "." as the decimal point, everything else empty."""
    c = crt(proc)
    if not c.lconv:
        heap = proc.process_heap
        dot = heap.alloc(4)
        proc.mem.poke(dot, b".\0\0\0")
        empty = dot + 2
        ptrs = [dot] + [empty] * 9
        fmt = "<Q" if proc.is64 else "<I"
        blob = b"".join(struct.pack(fmt, p) for p in ptrs) + bytes([127] * 8) + bytes(8)
        c.lconv = heap.alloc(len(blob))
        proc.mem.poke(c.lconv, blob)
    return c.lconv


@winapi("msvcrt", ret=UINT)
def ___lc_codepage_func(proc: Any) -> int:
    """The "C" locale's code page (0: ASCII semantics)."""
    return 0


@winapi("msvcrt", ret=INT)
def ___mb_cur_max_func(proc: Any) -> int:
    return 1


@winapi("msvcrt", ret=PTR)
def ___lc_handle_func(proc: Any) -> int:
    c = crt(proc)
    addr = c.scratch.get("lc_handle")
    if addr is None:
        addr = proc.process_heap.alloc(64, zero=True)
        c.scratch["lc_handle"] = addr
    return int(addr)


@winapi("msvcrt", args=(UINT, UINT), ret=UINT)
def _controlfp(proc: Any, new: int, mask: int) -> int:
    """The x87 control word as msvcrt reports it by default (no exceptions unmasked)."""
    return 0x9001F


alias("msvcrt", "_control87", "_controlfp")


@winapi("msvcrt", ret=VOID)
def _fpreset(proc: Any) -> None:
    """Nothing to reset: the FPU starts in its default state."""


@winapi("msvcrt", args=(UINT, PTR), ret=INT)
def _XcptFilter(proc: Any, code: int, pointers: int) -> int:
    """No CRT signal handler takes the exception: EXCEPTION_CONTINUE_SEARCH."""
    return 0


@winapi("msvcrt", args=(INT,), ret=INT)
def _set_error_mode(proc: Any, mode: int) -> int:
    return 0


@winapi("msvcrt", args=(PTR,), ret=INT)
def _set_new_mode(proc: Any, mode: int) -> int:
    return 0


@winapi("msvcrt", args=(PTR,), ret=VOID)
def __lconv_init(proc: Any, unused: int) -> None:
    """The lconv structure is built on first use."""
