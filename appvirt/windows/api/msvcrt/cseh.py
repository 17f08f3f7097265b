"""__C_specific_handler: the language handler of C functions with __try blocks (x64).

The frame's HandlerData is a SCOPE_TABLE: ``Count`` then {Begin, End, Handler, JumpTarget} RVAs,
innermost scope first. A scope with a JumpTarget is ``__try/__except``: Handler is its filter
(or 1, EXCEPTION_EXECUTE_HANDLER, as a constant); one without is ``__try/__finally``: Handler is
the termination handler. MinGW's startup code wraps main in such a scope, so every program that
faults goes through here.

First pass: the filters of the scopes covering the PC are called in order with the
EXCEPTION_POINTERS and the establisher frame; -1 continues execution, 1 unwinds to the frame and
runs the ``__except`` block with the exception code in EAX, 0 asks the next scope. Unwinding: the
``__finally`` blocks of the scopes covering the PC run (ScopeIndex records progress), up to the
``__except`` block being unwound to.
"""

from __future__ import annotations

import struct
from typing import Any

from ..decl import PTR, UINT, winapi

CONTINUE_EXECUTION, CONTINUE_SEARCH = 0, 1
EXCEPTION_UNWINDING, EXCEPTION_EXIT_UNWIND, EXCEPTION_TARGET_UNWIND = 0x02, 0x04, 0x20


@winapi("msvcrt", args=(PTR, PTR, PTR, PTR), ret=UINT)
def __C_specific_handler(proc: Any, record: int, frame: int, context: int, disp: int) -> int:
    """Run the __except filters (first pass) or __finally blocks (unwinding) of a C frame."""
    if not proc.is64:
        return CONTINUE_SEARCH
    from ... import seh64

    pc, base, _entry, _frame, target = struct.unpack("<5Q", proc.read(disp, 40))
    data, history = struct.unpack("<2Q", proc.read(disp + 0x38, 16))
    first = proc.read_u32(disp + 0x48)
    count = proc.read_u32(data)
    scopes = [struct.unpack("<4I", proc.read(data + 4 + 16 * i, 16)) for i in range(count)]
    rva = pc - base
    flags = proc.read_u32(record + 4)
    sp = (proc.machine.sp - 0x100) & ~0xF
    if flags & (EXCEPTION_UNWINDING | EXCEPTION_EXIT_UNWIND):
        for index in range(first, count):
            begin, end, handler, jump = scopes[index]
            if not begin <= rva < end:
                continue
            if flags & EXCEPTION_TARGET_UNWIND and jump and base + jump == target:
                break
            if not jump:
                proc.write_u32(disp + 0x48, index + 1)
                seh64.call_handler(proc, sp, context, True, base + handler, 1, frame)
        return CONTINUE_SEARCH
    pointers = sp + 0x20
    proc.write(pointers, struct.pack("<QQ", record, context))
    for index in range(first, count):
        begin, end, handler, jump = scopes[index]
        if not jump or not begin <= rva < end:
            continue
        verdict = (
            1
            if handler == 1
            else _signed(
                seh64.call_handler(proc, sp, context, False, base + handler, pointers, frame)
            )
        )
        if verdict < 0:
            return CONTINUE_EXECUTION
        if verdict > 0:
            code = proc.read_u32(record)
            start = seh64.caller_context(proc)
            seh64.unwind(proc, start, frame, base + jump, record, code, 0, history)
    return CONTINUE_SEARCH


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value
