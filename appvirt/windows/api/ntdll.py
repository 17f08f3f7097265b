"""ntdll.dll: the Rtl* helpers programs call directly.

The exception and unwinding APIs (RaiseException, RtlUnwindEx, RtlVirtualUnwind, vectored
handlers ...) are in ntdll_seh.py.
"""

from __future__ import annotations

import struct
from typing import Any

from .decl import INT, NTSTATUS, PTR, UINT, VOID, winapi

STATUS_SUCCESS = 0


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

    for name in ("RtlPcToFileHeader", "RtlZeroMemory", "RtlMoveMemory"):
        api = APIS[("ntdll", name.lower())]
        APIS[("kernel32", name.lower())] = Api("kernel32", api.name, api.args, api.ret, api.conv,
                                               api.fn, api.variadic, api.doc)  # fmt: skip


_export_from_kernel32()
