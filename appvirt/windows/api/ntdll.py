"""ntdll.dll: the Rtl* helpers programs call directly, and x64 unwinding support.

RtlLookupFunctionEntry searches a module's .pdata (the exception directory the loader recorded);
RtlCaptureContext fills a CONTEXT from the caller's registers; RtlVirtualUnwind is declared but
reports no handler, which sends the MSVC CRT's fast-fail and exception paths to their ends.
"""

from __future__ import annotations

import struct
from typing import Any

from .decl import INT, NTSTATUS, PTR, UINT, VOID, winapi

STATUS_SUCCESS = 0


@winapi("ntdll", args=(PTR, PTR, PTR), ret=PTR)
def RtlLookupFunctionEntry(proc: Any, pc: int, base_out: int, table: int) -> int:
    """The RUNTIME_FUNCTION of the module holding ``pc`` that covers it (binary search)."""
    module = next((m for m in proc.modules if m.base <= pc < m.base + m.size and m.image), None)
    if module is None or not module.image.exception_dir[1]:
        return 0
    delta = module.base - module.image.base
    start, size = module.image.exception_dir
    start += delta
    count = size // 12
    rva = pc - module.base
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        begin, end, _unwind = struct.unpack("<III", proc.read(start + mid * 12, 12))
        if rva < begin:
            hi = mid
        elif rva >= end:
            lo = mid + 1
        else:
            if base_out:
                proc.write_ptr(base_out, module.base)
            return start + mid * 12
    return 0


@winapi("ntdll", args=(UINT, PTR, PTR, PTR, PTR, PTR, PTR, PTR), ret=PTR)
def RtlVirtualUnwind(proc: Any, kind: int, base: int, pc: int, entry: int, context: int, handler_data: int,
                     frame: int, pointers: int) -> int:  # fmt: skip
    """No language handler is reported (the caller stops searching)."""
    if frame:
        proc.write_ptr(frame, 0)
    return 0


@winapi("ntdll", args=(PTR,), ret=VOID)
def RtlCaptureContext(proc: Any, context: int) -> None:
    """The caller's registers, RIP and RSP as they are after the call returns."""
    from unicorn import x86_const as x86

    if not proc.is64:
        return
    reg = proc.machine.reg
    rsp = reg.read(x86.UC_X86_REG_RSP)
    ret = proc.read_ptr(rsp)
    names = [x86.UC_X86_REG_RAX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX, x86.UC_X86_REG_RBX]
    values = [reg.read(r) for r in names] + [rsp + 8, reg.read(x86.UC_X86_REG_RBP),
                                             reg.read(x86.UC_X86_REG_RSI), reg.read(x86.UC_X86_REG_RDI)]  # fmt: skip
    values += [reg.read(getattr(x86, f"UC_X86_REG_R{i}")) for i in range(8, 16)]
    proc.write(context + 0x30, struct.pack("<I", 0x10000B))
    proc.write(context + 0x78, struct.pack("<16Q", *values))
    proc.write(context + 0xF8, struct.pack("<Q", ret))


@winapi("ntdll", args=(UINT, UINT, UINT, PTR), ret=VOID)
def RaiseException(proc: Any, code: int, flags: int, nargs: int, args: int) -> None:
    """An exception nobody can catch here ends the process with its code."""
    from ..process import GuestCrash

    raise GuestCrash(code, proc.machine.pc)


@winapi("ntdll", args=(PTR, PTR, PTR, PTR), ret=VOID)
def RtlUnwind(proc: Any, target: int, ip: int, record: int, value: int) -> None:
    """i386: call every exception handler above ``target`` with EXCEPTION_UNWINDING and unlink it."""
    if not proc.is64:
        from ..seh32 import unwind_x86

        unwind_x86(proc, target, record)


@winapi("ntdll", args=(PTR, PTR, PTR, PTR, PTR, PTR), ret=VOID)
def RtlUnwindEx(
    proc: Any, target: int, ip: int, record: int, value: int, context: int, table: int
) -> None:
    """Declared for the MSVC CRT; x64 unwinding through it is not supported."""
    from ..process import GuestCrash

    raise GuestCrash(0xC0000027, proc.machine.pc)  # STATUS_UNWIND


@winapi("ntdll", args=(PTR,), ret=NTSTATUS)
def RtlGetVersion(proc: Any, out: int) -> int:
    size = proc.read_u32(out)
    proc.write(out, struct.pack("<IIIII", size, 10, 0, 19045, 2))
    return STATUS_SUCCESS


@winapi("ntdll", args=(INT,), ret=UINT)
def RtlNtStatusToDosError(proc: Any, status: int) -> int:
    return {0: 0, -1073741811: 87, -1073741809: 87, -1073741772: 2, -1073741766: 3}.get(status, 317)


@winapi("ntdll", args=(PTR, PTR, UINT), ret=VOID)
def RtlMoveMemory(proc: Any, dst: int, src: int, size: int) -> None:
    if size:
        proc.write(dst, proc.read(src, size))


@winapi("ntdll", args=(PTR, UINT), ret=VOID)
def RtlZeroMemory(proc: Any, dst: int, size: int) -> None:
    if size:
        proc.write(dst, bytes(size))


@winapi("ntdll", args=(PTR, PTR), ret=PTR)
def RtlPcToFileHeader(proc: Any, pc: int, base_out: int) -> int:
    module = next((m for m in proc.modules if m.base <= pc < m.base + m.size), None)
    base = module.base if module is not None else 0
    proc.write_ptr(base_out, base)
    return base


@winapi("ntdll", ret=UINT)
def RtlGetLastWin32Error(proc: Any) -> int:
    return int(proc.last_error())


@winapi("ntdll", ret=PTR)
def NtCurrentTeb(proc: Any) -> int:
    return int(proc.blocks.teb)


def _export_from_kernel32() -> None:
    """kernel32 exports these ntdll functions too (forwarders on Windows)."""
    from .decl import APIS, Api

    for name in ("RtlCaptureContext", "RtlLookupFunctionEntry", "RtlVirtualUnwind", "RtlUnwind",
                 "RtlUnwindEx", "RaiseException", "RtlPcToFileHeader", "RtlZeroMemory",
                 "RtlMoveMemory"):  # fmt: skip
        api = APIS[("ntdll", name.lower())]
        APIS[("kernel32", name.lower())] = Api("kernel32", api.name, api.args, api.ret, api.conv,
                                               api.fn, api.variadic, api.doc)  # fmt: skip


_export_from_kernel32()
