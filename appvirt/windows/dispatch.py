"""The trap that serves every API call, and the one that turns CPU exceptions into crashes.

An export stub runs ``mov eax, ID`` then ``syscall`` (x64) or ``sysenter`` (i386); the hook reads
the ID and the stack pointer in one register batch, finds the declaration by index, reads the
arguments the declaration names (x64: RCX, RDX, R8, R9 then the stack above the shadow space;
i386: the stack), calls the handler, and writes EAX/RAX (and EDX for 64-bit results on i386). The
stub's own ``ret``/``ret N`` returns to the caller, so stdcall cleanup costs nothing here. A
handler that must wait raises ``sync.Wait``: the scheduler parks the thread after the trap and
writes the result when the wait is over.
"""

from __future__ import annotations

import struct
from typing import Any

from unicorn import x86_const as x86

from ..core.memory import GuestFault, OutOfMemory
from .api.decl import NARROW, SIGNED, T, VarArgs
from .process import GuestCrash, ProcessExit
from .seh64 import ContextJump
from .sync import Wait

ERROR_NOACCESS = 998
ERROR_NOT_ENOUGH_MEMORY = 8

EXCEPTION_STATUS = {
    0: 0xC0000094,  # #DE: STATUS_INTEGER_DIVIDE_BY_ZERO
    1: 0x80000004,  # single step
    3: 0x80000003,  # int3: STATUS_BREAKPOINT
    4: 0xC0000095,  # into: STATUS_INTEGER_OVERFLOW
    5: 0xC000008C,  # bound: STATUS_ARRAY_BOUNDS_EXCEEDED
    6: 0xC000001D,  # #UD: STATUS_ILLEGAL_INSTRUCTION
    13: 0xC0000005,  # #GP
    14: 0xC0000005,  # #PF
    16: 0xC0000090,  # x87: STATUS_FLOAT_INVALID_OPERATION
    19: 0xC00002B5,  # SIMD: STATUS_FLOAT_MULTIPLE_TRAPS
}


def install_traps(proc: Any) -> None:
    machine = proc.machine
    mem = machine.mem
    uc = machine.uc
    apis = proc.apis
    events = proc.events
    calls = events.calls
    is64 = proc.is64
    if is64:
        regs = machine.batch([x86.UC_X86_REG_RAX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX,
                              x86.UC_X86_REG_R8, x86.UC_X86_REG_R9, x86.UC_X86_REG_RSP])  # fmt: skip
        ret_reg = x86.UC_X86_REG_RAX
        mask = 0xFFFFFFFFFFFFFFFF
    else:
        regs = machine.batch([x86.UC_X86_REG_EAX, x86.UC_X86_REG_ESP])
        ret_reg = x86.UC_X86_REG_EAX
        mask = 0xFFFFFFFF
    reg = machine.reg
    mem_read = uc.mem_read

    def read_args(api: Any, v: Any) -> tuple[list[int], int]:
        """Raw argument words and the address of the first variadic slot."""
        kinds = api.args
        n = len(kinds)
        if is64:
            sp = v[5]
            words = [v[1], v[2], v[3], v[4]][:n]
            if n > 4:
                raw = bytes(mem_read(sp + 0x28, 8 * (n - 4)))
                words += struct.unpack(f"<{n - 4}Q", raw)
            if api.variadic:
                # Spill the register arguments into the shadow space: then every argument,
                # fixed or variadic, sits in one array of 8-byte slots, as va_start expects.
                mem.poke(sp + 8, struct.pack("<4Q", v[1], v[2], v[3], v[4]))
            return words, sp + 8 + 8 * n
        sp = v[1]
        slots = api.slots32()
        words = (
            list(struct.unpack(f"<{slots}I", bytes(mem_read(sp + 4, 4 * slots)))) if slots else []
        )
        if slots != n:
            merged = []
            it = iter(words)
            for kind in kinds:
                w = next(it)
                if kind in (T.LONG64, T.DOUBLE):
                    w |= next(it) << 32
                merged.append(w)
            words = merged
        return words, sp + 4 + 4 * slots

    prepared: dict[int, tuple[Any, tuple[int, ...], tuple[int, ...], bool]] = {}

    def prepare(index: int) -> tuple[Any, tuple[int, ...], tuple[int, ...], bool]:
        """Per-declaration work done once: which arguments to narrow and sign, and whether the
        arguments can be taken straight from the register batch (x64, at most four, fixed)."""
        api = apis[index]
        kinds = api.args
        narrow = tuple(i for i, k in enumerate(kinds) if k in NARROW)
        signed = tuple(i for i, k in enumerate(kinds) if k in SIGNED or k is T.SSIZE)
        special = any(k in (T.DOUBLE, T.LONG64, T.SSIZE) for k in kinds)
        direct = is64 and len(kinds) <= 4 and not api.variadic and not special
        entry = (api, narrow, signed, direct)
        prepared[index] = entry
        return entry

    sign_bits = {4: 0x80000000, 8: 1 << 63}
    word_bits = 8 * proc.word

    def convert(
        api: Any, words: list[int], narrow: tuple[int, ...], signed: tuple[int, ...]
    ) -> list[Any]:
        for i in narrow:
            words[i] &= 0xFFFFFFFF
        for i in signed:
            wide = api.args[i] is T.SSIZE
            top = sign_bits[proc.word] if wide else 0x80000000
            if words[i] & top:
                words[i] -= 1 << (word_bits if wide else 32)
        for i, kind in enumerate(api.args):
            if kind is T.DOUBLE:
                words[i] = struct.unpack("<d", struct.pack("<Q", words[i]))[0]
        return words

    def serve() -> None:
        v = regs.read()
        index = v[0] & 0xFFFFFFFF
        api, narrow, signed, direct = prepared.get(index) or prepare(index)
        if direct:
            args: list[Any] = [v[1], v[2], v[3], v[4]][: len(api.args)]
            va_addr = 0
        else:
            args, va_addr = read_args(api, v)
        if narrow or signed or not direct:
            args = convert(api, args, narrow, signed)
        calls[api.name] += 1
        fn = api.fn
        if fn is None:
            ret = _unimplemented(proc, api, args)
        else:
            if api.variadic:
                args.append(VarArgs(proc.read, va_addr, proc.word))
            try:
                ret = fn(proc, *args)
            except Wait as wait:
                ret = proc.sched.block(proc, api, args, wait)
                if ret is None:
                    return  # the thread sleeps; the scheduler writes its result (sched.py)
            except GuestFault:
                proc.set_last_error(ERROR_NOACCESS)
                ret = api.failure()
            except OutOfMemory:
                proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
                ret = api.failure()
            except (ProcessExit, GuestCrash, ContextJump):
                if proc.tracing:
                    from .trace import format_call

                    events.line(format_call(proc, api, args, None))
                raise
            if proc.tracing:
                from .trace import format_call

                events.line(format_call(proc, api, args, ret))
        if ret is None:
            ret = 0
        elif ret is True:
            ret = 1
        elif ret is False:
            ret = 0
        if api.ret is T.LONG64 and not is64:
            reg.write(x86.UC_X86_REG_EDX, (ret >> 32) & 0xFFFFFFFF)
        elif api.ret is T.DOUBLE:
            _write_double(proc, float(ret))
            return
        reg.write(ret_reg, int(ret) & mask)

    def interrupt(intno: int) -> None:
        status = EXCEPTION_STATUS.get(intno, 0xC0000005)
        from .seh import dispatch_exception

        if dispatch_exception(proc, status, machine.pc):
            return
        proc.crash = GuestCrash(status, machine.pc)
        machine.request_stop()

    def invalid() -> bool:
        from .seh import dispatch_exception

        if dispatch_exception(proc, 0xC000001D, machine.pc):
            return True
        proc.crash = GuestCrash(0xC000001D, machine.pc)
        machine.request_stop()
        return True

    if is64:
        machine.on_syscall(serve)
    else:
        machine.on_sysenter(serve)
    machine.on_interrupt(interrupt)
    machine.on_invalid(invalid)


def _unimplemented(proc: Any, api: Any, args: list[Any]) -> int:
    events = proc.events
    events.unknown[f"{api.dll}!{api.name}"] += 1
    events.emit("unimplemented_api", dll=api.dll, name=api.name)
    if proc.tracing:
        from .trace import format_call

        events.line(format_call(proc, api, args, api.failure()) + " (not implemented)")
    proc.set_last_error(120)  # ERROR_CALL_NOT_IMPLEMENTED
    return api.failure()


def _write_double(proc: Any, value: float) -> None:
    """A double result: XMM0 on x64, st(0) on i386."""
    if proc.is64:
        raw = struct.unpack("<Q", struct.pack("<d", value))[0]
        proc.uc.reg_write(x86.UC_X86_REG_XMM0, raw)
        return
    proc.mem.poke(proc.builder.scratch, struct.pack("<d", value))
