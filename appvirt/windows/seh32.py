"""i386 SEH: walking the ``fs:[0]`` exception-registration chain, and unwinding it.

The TEB's first word heads a list of EXCEPTION_REGISTRATION_RECORDs ``{next, handler}`` that live
on the stack, ended by -1. For an exception, ``dispatch_x86`` does what ntdll's
RtlDispatchException does: it stores an EXCEPTION_RECORD and a CONTEXT of the faulting state on
the stack below ESP, offers it to the vectored handlers (AddVectoredExceptionHandler) with the
EXCEPTION_POINTERS, then calls each record's handler, innermost first, as
``handler(ExceptionRecord, EstablisherFrame, ContextRecord, DispatcherContext)``:

- ExceptionContinueExecution (0): the thread resumes at the CONTEXT, with the handler's edits;
- ExceptionContinueSearch (1), or a nested/collided disposition: the next record is asked;
- a handler that does not return (MSVC's ``__except`` handlers unwind and jump into the
  ``__except`` block) simply carries on running the program.

A record outside the stack (StackLimit..StackBase) or misaligned ends the walk, as Windows marks
such an exception EXCEPTION_STACK_INVALID; nobody taking the exception leaves the unhandled-
exception filter (SetUnhandledExceptionFilter) as the last word, then it is unhandled.

``unwind_x86`` is RtlUnwind: every handler above the target frame is called again with
EXCEPTION_UNWINDING (and EXCEPTION_EXIT_UNWIND when unwinding to the end) and unlinked.
"""

from __future__ import annotations

import struct
from typing import Any

from unicorn import x86_const as x86

from .seh import (
    EXCEPTION_CONTINUE_EXECUTION,
    EXCEPTION_EXIT_UNWIND,
    EXCEPTION_UNWINDING,
    FILTER_CONTINUE_EXECUTION,
    STATUS_UNWIND,
)

CHAIN_END = 0xFFFFFFFF
MAX_HANDLERS = 4096  # a longer chain is a loop

CONTEXT_SIZE = 0x2CC
CONTEXT_FULL = 0x10007  # CONTEXT_i386 | CONTROL | INTEGER | SEGMENTS
RECORD_SIZE = 0x50
# CONTEXT (i386) offsets of the registers a handler reads and edits, in the order stored.
REGISTERS = (
    (0x8C, x86.UC_X86_REG_GS),
    (0x90, x86.UC_X86_REG_FS),
    (0x94, x86.UC_X86_REG_ES),
    (0x98, x86.UC_X86_REG_DS),
    (0x9C, x86.UC_X86_REG_EDI),
    (0xA0, x86.UC_X86_REG_ESI),
    (0xA4, x86.UC_X86_REG_EBX),
    (0xA8, x86.UC_X86_REG_EDX),
    (0xAC, x86.UC_X86_REG_ECX),
    (0xB0, x86.UC_X86_REG_EAX),
    (0xB4, x86.UC_X86_REG_EBP),
    (0xB8, x86.UC_X86_REG_EIP),
    (0xBC, x86.UC_X86_REG_CS),
    (0xC0, x86.UC_X86_REG_EFLAGS),
    (0xC4, x86.UC_X86_REG_ESP),
    (0xC8, x86.UC_X86_REG_SS),
)
# What a handler may change to redirect the thread (segment registers stay as they are).
RESTORED = (
    (0x9C, x86.UC_X86_REG_EDI),
    (0xA0, x86.UC_X86_REG_ESI),
    (0xA4, x86.UC_X86_REG_EBX),
    (0xA8, x86.UC_X86_REG_EDX),
    (0xAC, x86.UC_X86_REG_ECX),
    (0xB0, x86.UC_X86_REG_EAX),
    (0xB4, x86.UC_X86_REG_EBP),
    (0xC0, x86.UC_X86_REG_EFLAGS),
    (0xC4, x86.UC_X86_REG_ESP),
)


def _context_bytes(proc: Any, eip: int) -> bytes:
    raw = bytearray(CONTEXT_SIZE)
    struct.pack_into("<I", raw, 0, CONTEXT_FULL)
    for offset, reg in REGISTERS:
        value = eip if reg == x86.UC_X86_REG_EIP else proc.uc.reg_read(reg)
        struct.pack_into("<I", raw, offset, value & 0xFFFFFFFF)
    return bytes(raw)


def _record_bytes(status: int, flags: int, address: int, params: list[int]) -> bytes:
    params = params[:15]
    raw = struct.pack("<IIIII", status, flags, 0, address & 0xFFFFFFFF, len(params))
    raw += b"".join(struct.pack("<I", p & 0xFFFFFFFF) for p in params)
    return raw.ljust(RECORD_SIZE, b"\0")


def _stack_bounds(proc: Any) -> tuple[int, int]:
    teb, off = proc.blocks.teb, proc.blocks.off
    return proc.read_u32(teb + off.teb_stack_limit), proc.read_u32(teb + off.teb_stack_base)


def _valid_record(record: int, limit: int, base: int) -> bool:
    if record & 3:
        return False
    if limit and base and not (limit <= record and record + 8 <= base):
        return False
    return True


def _call_below(proc: Any, sp: int, fn: int, *args: int) -> int:
    """Call a handler with ESP lowered to ``sp`` first, so its frame stays below our records."""
    proc.machine.sp = sp
    return proc.call(fn, *args) & 0xFFFFFFFF


def dispatch_x86(proc: Any, status: int, address: int, params: list[int] | None = None,
                 flags: int = 0) -> bool:  # fmt: skip
    """Offer an exception raised at ``address`` to the vectored handlers, the fs:[0] chain and
    the unhandled-exception filter; True when one took it (the registers then hold the context
    to resume at)."""
    from .seh import access_params

    teb = proc.blocks.teb
    esp = proc.uc.reg_read(x86.UC_X86_REG_ESP)
    context = (esp - CONTEXT_SIZE - 0x40) & ~0xF
    record = (context - RECORD_SIZE) & ~0xF
    pointers = record - 0x10
    if params is None:
        params = access_params(proc, status, address)
    proc.write(context, _context_bytes(proc, address))
    proc.write(record, _record_bytes(status, flags, address, params))
    proc.write(pointers, struct.pack("<II", record, context))
    below = pointers - 0x10
    for _handle, fn in list(proc.state.get("vectored_handlers", [])):
        if _call_below(proc, below, fn, pointers) == FILTER_CONTINUE_EXECUTION:
            _resume(proc, context)
            return True
    limit, base = _stack_bounds(proc)
    frame, seen = proc.read_u32(teb), 0
    while frame not in (CHAIN_END, 0) and seen < MAX_HANDLERS:
        seen += 1
        if not _valid_record(frame, limit, base):
            break
        handler = proc.read_u32(frame + 4)
        disposition = _call_below(proc, below, handler, record, frame, context, 0)
        if disposition == EXCEPTION_CONTINUE_EXECUTION:
            _resume(proc, context)
            return True
        frame = proc.read_u32(frame)
    top = proc.state.get("unhandled_filter", 0)
    if top and _call_below(proc, below, top, pointers) == FILTER_CONTINUE_EXECUTION:
        _resume(proc, context)
        return True
    return False


def _resume(proc: Any, context: int) -> None:
    """Load the CONTEXT's registers; EIP goes through the saved CPU context, which also forgets
    the fault being handled (else Unicorn delivers the next one as a double fault)."""
    from ..core.cpustate import CpuContext

    raw = proc.read(context, CONTEXT_SIZE)
    for offset, reg in RESTORED:
        proc.uc.reg_write(reg, struct.unpack_from("<I", raw, offset)[0])
    saved = CpuContext(proc.uc)
    saved.eip = struct.unpack_from("<I", raw, 0xB8)[0]
    saved.clear_exception()
    saved.commit()


def unwind_x86(proc: Any, target: int, record: int) -> None:
    """RtlUnwind: call and unlink every handler above ``target`` (0: the whole chain)."""
    teb = proc.blocks.teb
    uc = proc.uc
    esp = uc.reg_read(x86.UC_X86_REG_ESP)
    saved = {reg: uc.reg_read(reg) for _off, reg in RESTORED}
    area = (esp - 0x200 - CONTEXT_SIZE - RECORD_SIZE - 0x40) & ~0xF
    context = area + RECORD_SIZE + 0x10
    flags = EXCEPTION_UNWINDING | (0 if target else EXCEPTION_EXIT_UNWIND)
    if record:
        old = proc.read_u32(record + 4)
        proc.write_u32(record + 4, old | flags)
    else:
        record = area
        proc.write(record, _record_bytes(STATUS_UNWIND, flags, proc.machine.pc, []))
    proc.write(context, _context_bytes(proc, proc.machine.pc))
    limit, base = _stack_bounds(proc)
    frame, seen = proc.read_u32(teb), 0
    try:
        while frame not in (CHAIN_END, target) and seen < MAX_HANDLERS:
            seen += 1
            if not _valid_record(frame, limit, base):
                break
            handler = proc.read_u32(frame + 4)
            following = proc.read_u32(frame)
            _call_below(proc, area - 0x10, handler, record, frame, context, 0)
            proc.write_u32(teb, following)
            frame = following
    finally:
        for reg, value in saved.items():
            uc.reg_write(reg, value)
    if target:
        proc.write_u32(teb, target)
