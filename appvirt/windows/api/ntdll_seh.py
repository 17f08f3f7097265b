"""ntdll's exception APIs (kernel32 exports them too): raising, x64 unwinding, vectored handlers.

The work is in seh64.py (dispatch, RtlUnwindEx), unwind64.py (.pdata and RtlVirtualUnwind) and
seh32.py (the i386 fs:[0] chain). The calls that resume the thread somewhere else (RtlUnwindEx,
RtlRestoreContext, RaiseException when a handler continues) are declared returning ``ptr``: the
value is RAX/EAX of the context resumed, which the trap then leaves in place.
"""

from __future__ import annotations

import struct
from typing import Any

from .decl import APIS, PTR, UINT, VOID, Api, winapi

STATUS_ACCESS_VIOLATION = 0xC0000005


def _x64() -> Any:
    from .. import seh64

    return seh64


@winapi("ntdll", args=(PTR, PTR, PTR), ret=PTR)
def RtlLookupFunctionEntry(proc: Any, pc: int, base_out: int, history: int) -> int:
    """The RUNTIME_FUNCTION in .pdata that covers ``pc`` (NULL for leaf functions)."""
    from ..unwind64 import lookup

    found = lookup(proc, pc) if proc.is64 else None
    if found is None:
        return 0
    if base_out:
        proc.write_ptr(base_out, found[0])
    return found[1]


@winapi("ntdll", args=(UINT, PTR, PTR, PTR, PTR, PTR, PTR, PTR), ret=PTR)
def RtlVirtualUnwind(proc: Any, kind: int, base: int, pc: int, entry: int, context: int,
                     data_out: int, frame_out: int, pointers: int) -> int:  # fmt: skip
    """Unwind a CONTEXT by one frame; returns the frame's handler of the kind asked for.

    The handler is NULL when the frame has none of that kind (UNW_FLAG_EHANDLER/UHANDLER) or
    ``pc`` is in its prolog or an epilog."""
    from ..unwind64 import CONTEXT_SIZE, Context64, Pointers, Unwinder

    if not proc.is64:
        return 0
    ctx = Context64(proc.read(context, CONTEXT_SIZE))
    ptrs = Pointers() if pointers else None
    fields = struct.unpack("<III", proc.read(entry, 12))
    handler, data, frame = Unwinder(proc.read).unwind(kind, base, pc, fields, ctx, ptrs)
    proc.write(context, bytes(ctx.raw))
    if frame_out:
        proc.write_ptr(frame_out, frame)
    if data_out:
        proc.write_ptr(data_out, data)
    if ptrs is not None:
        for reg, addr in ptrs.xmm.items():
            proc.write_ptr(pointers + 8 * reg, addr)
        for reg, addr in ptrs.gpr.items():
            proc.write_ptr(pointers + 0x80 + 8 * reg, addr)
    return handler


@winapi("ntdll", args=(PTR,), ret=VOID)
def RtlCaptureContext(proc: Any, context: int) -> None:
    """The caller's registers, RIP and RSP as they are after the call returns."""
    if proc.is64:
        proc.write(context, bytes(_x64().caller_context(proc).raw))
        return
    from ..seh32 import CONTEXT_SIZE, _context_bytes

    esp = proc.machine.sp
    raw = bytearray(_context_bytes(proc, proc.read_u32(esp)))
    struct.pack_into("<I", raw, 0xC4, esp + 8)  # the stdcall return pops the argument too
    proc.write(context, bytes(raw[:CONTEXT_SIZE]))


@winapi("ntdll", args=(PTR, PTR, PTR, PTR, PTR, PTR), ret=PTR)
def RtlUnwindEx(proc: Any, frame: int, ip: int, record: int, value: int, context: int,
                history: int) -> int:  # fmt: skip
    """x64: run the termination handlers up to ``frame``, then resume at ``ip`` there.

    RAX is ``value`` at ``ip``; i386 programs use RtlUnwind."""
    if not proc.is64:
        return 0
    seh64 = _x64()
    start = seh64.caller_context(proc)
    jumped = seh64.guarded(proc, True, lambda: seh64.unwind(proc, start, frame, ip, record,
                                                            value, context, history))  # fmt: skip
    return jumped.gpr(0)  # type: ignore[no-any-return]


@winapi("ntdll", args=(PTR, PTR, PTR, PTR), ret=PTR)
def RtlUnwind(proc: Any, frame: int, ip: int, record: int, value: int) -> int:
    """x64: RtlUnwindEx; i386: call and unlink the fs:[0] handlers above ``frame``.

    The i386 handlers are called with EXCEPTION_UNWINDING."""
    if proc.is64:
        return int(RtlUnwindEx(proc, frame, ip, record, value, 0, 0))
    from ..seh32 import unwind_x86

    unwind_x86(proc, frame, record)
    return 0


@winapi("ntdll", args=(PTR, PTR), ret=PTR)
def RtlRestoreContext(proc: Any, context: int, record: int) -> int:
    """Resume at a CONTEXT (x64): all integer, flag and XMM registers, RSP and RIP."""
    from ..unwind64 import CONTEXT_SIZE, Context64

    if not proc.is64:
        return 0
    seh64 = _x64()
    ctx = Context64(proc.read(context, CONTEXT_SIZE))
    jumped = seh64.guarded(proc, True, lambda: seh64.restore(proc, ctx, record))
    return jumped.gpr(0)  # type: ignore[no-any-return]


@winapi("ntdll", args=(UINT, UINT, UINT, PTR), ret=PTR)
def RaiseException(proc: Any, code: int, flags: int, count: int, args: int) -> int:
    """Raise an exception; the process ends with ``code`` as its exit code if nobody takes it.

    Vectored handlers first, then the frames' handlers, then the unhandled-exception filter."""
    count = min(count, 15) if args else 0
    params = [proc.read_ptr(args + proc.word * i) for i in range(count)]
    return _raise(proc, code, flags, params)


def _raise(proc: Any, code: int, flags: int, params: list[int]) -> int:
    if not proc.is64:
        from unicorn import x86_const as x86

        from ..process import GuestCrash
        from ..seh32 import dispatch_x86

        address = proc.machine.pc
        if dispatch_x86(proc, code, address, params, flags & 1):
            return int(proc.uc.reg_read(x86.UC_X86_REG_EAX))
        raise GuestCrash(code, address)
    jumped = _x64().raise_from_api(proc, code, flags, params)
    return jumped.gpr(0)  # type: ignore[no-any-return]


@winapi("ntdll", args=(PTR,), ret=PTR)
def RtlRaiseException(proc: Any, record: int) -> int:
    """Raise the exception an EXCEPTION_RECORD describes (its first 15 parameters)."""
    code, flags = struct.unpack("<II", proc.read(record, 8))
    if proc.is64:
        count = min(proc.read_u32(record + 0x18), 15)
        params = list(struct.unpack(f"<{count}Q", proc.read(record + 0x20, 8 * count)))
    else:
        count = min(proc.read_u32(record + 0x10), 15)
        params = list(struct.unpack(f"<{count}I", proc.read(record + 0x14, 4 * count)))
    return _raise(proc, code, flags, params)


@winapi("ntdll", args=(UINT, PTR), ret=PTR)
def RtlAddVectoredExceptionHandler(proc: Any, first: int, handler: int) -> int:
    """Add a handler every exception is offered to before the frames' handlers (first or last)."""
    entry = proc.process_heap.alloc(16)
    proc.write_ptr(entry, handler)
    handlers = proc.state.setdefault("vectored_handlers", [])
    if first:
        handlers.insert(0, (entry, handler))
    else:
        handlers.append((entry, handler))
    return int(entry)


@winapi("ntdll", args=(PTR,), ret=UINT)
def RtlRemoveVectoredExceptionHandler(proc: Any, entry: int) -> int:
    """Remove a handler by the value its Add call returned; 0 when it is not registered."""
    handlers = proc.state.setdefault("vectored_handlers", [])
    for i, (handle, _fn) in enumerate(handlers):
        if handle == entry:
            del handlers[i]
            proc.process_heap.free(entry)
            return 1
    return 0


def _export(dll: str, name: str, target: str) -> None:
    api = APIS[("ntdll", target.lower())]
    APIS[(dll, name.lower())] = Api(dll, name, api.args, api.ret, api.conv, api.fn,
                                    api.variadic, api.doc)  # fmt: skip


# kernel32 forwards these to ntdll on Windows.
for _name in ("RtlLookupFunctionEntry", "RtlVirtualUnwind", "RtlCaptureContext", "RtlUnwindEx",
              "RtlUnwind", "RtlRestoreContext", "RaiseException"):  # fmt: skip
    _export("kernel32", _name, _name)
_export("kernel32", "AddVectoredExceptionHandler", "RtlAddVectoredExceptionHandler")
_export("kernel32", "RemoveVectoredExceptionHandler", "RtlRemoveVectoredExceptionHandler")
