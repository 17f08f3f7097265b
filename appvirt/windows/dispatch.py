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

import ctypes
import functools
import struct
from typing import Any

from unicorn import x86_const as x86

from ..core import uclib
from ..core.memory import GuestFault, OutOfMemory
from .api.decl import NARROW, SIGNED, STDCALL, T, VarArgs
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


MAX_STACK_SLOTS = 32  # stack arguments read into the preallocated buffer (more: the slow path)

# How a declaration's arguments are fetched (the ``mode`` of a plan).
NO_ARGS = 0  # no arguments at all
REGS = 1  # x64, at most four fixed arguments: straight from the register batch
STACK = 2  # fixed arguments whose stack part fits the buffer (i386: one slot each)
GENERAL = 3  # variadic, i386 64-bit arguments, unimplemented: ``read_args`` and friends

# How the result is written (the ``rkind`` of a plan).
RET_WORD, RET_EDX_EAX, RET_DOUBLE = 0, 1, 2

# (handler, mode, argument count, stack slots, fix-ups or None, declaration, result kind)
Plan = tuple[Any, int, int, int, Any, Any, int]


def install_traps(proc: Any) -> None:
    """Install the API trap, the CPU-exception and invalid-instruction hooks of ``proc``.

    The API trap is the hot path of every Windows guest, built like the Linux one
    (linux/dispatch.py): one closure whose locals hold everything a call touches, registered as
    the ctypes callback itself (no wrapper frame); a per-declaration plan computed on first use;
    registers read with one batch call and the result written with one raw call; a trivial call
    allocates nothing; calls are counted in a list slot per declaration (folded into the run's
    counts by name at the end, ``WinProcess.fold_calls``); tracing is decided once.
    """
    machine = proc.machine
    mem = machine.mem
    uc = machine.uc
    apis = proc.apis
    events = proc.events
    is64 = proc.is64
    tracing = proc.tracing
    if is64:
        regs = machine.batch([x86.UC_X86_REG_RAX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX,
                              x86.UC_X86_REG_R8, x86.UC_X86_REG_R9, x86.UC_X86_REG_RSP], 64)  # fmt: skip
        ret_reg = x86.UC_X86_REG_RAX
        mask = 0xFFFFFFFFFFFFFFFF
        stack_buf: Any = (ctypes.c_uint64 * MAX_STACK_SLOTS)()
        sp_at, stack_off, slot = 5, 0x28, 8
    else:
        regs = machine.batch([x86.UC_X86_REG_EAX, x86.UC_X86_REG_ESP], 32)
        ret_reg = x86.UC_X86_REG_EAX
        mask = 0xFFFFFFFF
        stack_buf = (ctypes.c_uint32 * MAX_STACK_SLOTS)()
        sp_at, stack_off, slot = 1, 4, 4
    read_regs, reg_h, reg_ids, reg_ptrs, vals, nregs = regs.raw_reader()
    reg = machine.reg
    ret_buf, write_reg, ret_ref = reg.raw_writer()
    mem_read_raw = uclib.mem_read_raw
    addr_buf = ctypes.c_uint64(0)
    mem_read = uc.mem_read
    fail = machine.fail
    no_args: list[Any] = []
    plans: list[Plan | None] = [None] * len(apis)
    counts: list[int] = [0] * len(apis)
    proc.api_counts = counts

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

    def prepare(index: int) -> Plan:
        """Per-declaration work done once: where the arguments come from, which to narrow, sign
        or turn into floats, and how the result is written."""
        api = apis[index]
        if len(plans) < len(apis):
            grow = len(apis) - len(plans)
            plans.extend([None] * grow)
            counts.extend([0] * grow)
        kinds = api.args
        n = len(kinds)
        narrow = tuple(i for i, k in enumerate(kinds) if k in NARROW)
        signed = tuple(i for i, k in enumerate(kinds) if k in SIGNED)
        wide = tuple(i for i, k in enumerate(kinds) if k is T.SSIZE)
        doubles = tuple(i for i, k in enumerate(kinds) if k is T.DOUBLE)
        fixes = (narrow, signed, wide, doubles) if narrow or signed or wide or doubles else None
        pairs = not is64 and any(k in (T.LONG64, T.DOUBLE) for k in kinds)
        extra = n - 4 if is64 else n
        if api.fn is None or api.variadic or pairs or extra > MAX_STACK_SLOTS:
            mode = GENERAL
        elif n == 0:
            mode = NO_ARGS
        elif is64 and n <= 4:
            mode = REGS
        else:
            mode = STACK
        if api.ret is T.DOUBLE:
            rkind = RET_DOUBLE
        elif api.ret is T.LONG64 and not is64:
            rkind = RET_EDX_EAX
        else:
            rkind = RET_WORD
        plan = (api.fn, mode, n, max(extra, 0) * slot, fixes, api, rkind)
        plans[index] = plan
        return plan

    word_sign = 1 << (8 * proc.word - 1)
    word_full = 1 << (8 * proc.word)

    def convert(words: list[Any], fixes: Any) -> None:
        narrow, signed, wide, doubles = fixes
        for i in narrow:
            words[i] &= 0xFFFFFFFF
        for i in signed:
            if words[i] & 0x80000000:
                words[i] -= 0x100000000
        for i in wide:
            if words[i] & word_sign:
                words[i] -= word_full
        for i in doubles:
            words[i] = struct.unpack("<d", struct.pack("<Q", words[i]))[0]

    def serve(_uc: int = 0, _user: int = 0) -> None:
        try:
            read_regs(reg_h, reg_ids, reg_ptrs, nregs)
            index = vals[0] & 0xFFFFFFFF
            try:
                plan = plans[index]
            except IndexError:
                plan = None
            if plan is None:
                plan = prepare(index)
            counts[index] += 1
            fn, mode, nargs, stack_bytes, fixes, api, rkind = plan
            va_addr = 0
            if mode == NO_ARGS:
                args: list[Any] = no_args
            elif mode == REGS:
                args = vals[1 : 1 + nargs]
            elif mode == STACK:
                addr_buf.value = vals[sp_at] + stack_off
                if mem_read_raw(reg_h, addr_buf, stack_buf, stack_bytes):
                    args = read_args(api, vals)[0]  # not mapped: fails as it always did
                elif is64:
                    args = vals[1:5]
                    args += stack_buf[: nargs - 4]
                else:
                    args = stack_buf[:nargs]
            else:
                args, va_addr = read_args(api, vals)
            if fixes is not None:
                convert(args, fixes)
            if fn is None:
                ret = _unimplemented(proc, api, args)
            else:
                if mode == GENERAL and api.variadic:
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
                    if tracing:
                        from .trace import format_call

                        events.line(format_call(proc, api, args, None))
                    raise
                if tracing:
                    from .trace import format_call

                    events.line(format_call(proc, api, args, ret))
            if rkind == RET_DOUBLE:
                _write_double(proc, float(ret or 0))
                return
            if ret.__class__ is not int:
                ret = 0 if ret is None else int(ret)  # True/False: 1/0
            if rkind == RET_EDX_EAX:
                reg.write(x86.UC_X86_REG_EDX, (ret >> 32) & 0xFFFFFFFF)
            ret_buf.value = ret & mask
            write_reg(reg_h, ret_reg, ret_ref)
        except BaseException as exc:  # noqa: BLE001 - re-raised from Machine.run
            fail(exc)

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

    # The hook leaves ``pc_bias`` at 0: inside it ``machine.pc`` is the SYSCALL instruction's own
    # address on x64 (seh64.py relies on it), and already past SYSENTER on i386.
    if is64:
        machine.on_syscall_raw(serve)
    else:
        machine.on_sysenter_raw(serve)
    machine.on_interrupt(interrupt)
    machine.on_invalid(invalid)


def _unimplemented(proc: Any, api: Any, args: list[Any]) -> int:
    events = proc.events
    events.unknown[f"{api.dll}!{api.name}"] += 1
    events.emit("unimplemented_api", dll=api.dll, name=api.name)
    if api.undeclared and not proc.is64 and api.conv is STDCALL:
        pop_unknown_stdcall(proc)
    if proc.tracing:
        from .trace import format_call

        events.line(format_call(proc, api, args, api.failure()) + " (not implemented)")
    proc.set_last_error(120)  # ERROR_CALL_NOT_IMPLEMENTED
    return api.failure()


def pop_unknown_stdcall(proc: Any) -> int:
    """Pop the arguments of an i386 stdcall export nobody declared, as its ``ret N`` would.

    Without a prototype the count is unknown, but GCC's callers say it: with outgoing arguments
    stored into a preallocated area, a ``sub esp, N`` soon after a stdcall call re-reserves the N
    bytes the callee popped. The caller's next few instructions are decoded up to that ``sub``
    (stopping at anything else that uses ESP or leaves the block); other caller code (MSVC's
    pushes) gives no hint, and nothing is popped. Returns the bytes popped."""
    machine = proc.machine
    esp = machine.reg.read(x86.UC_X86_REG_ESP)
    try:
        ret_addr = struct.unpack("<I", bytes(proc.mem.read(esp, 4)))[0]
        code = bytes(proc.mem.read(ret_addr, 32))
    except Exception:  # noqa: BLE001 - unreadable: no hint
        return 0
    size = _reserved_after_call(code, ret_addr)
    if size <= 0 or size % 4 or size > 4 * 32:
        return 0
    proc.mem.poke(esp + size, struct.pack("<I", ret_addr))
    machine.reg.write(x86.UC_X86_REG_ESP, esp + size)
    return size


@functools.cache
def _disassembler() -> Any:
    """One Capstone i386 decoder for the run (made on the first undeclared call)."""
    from capstone import CS_ARCH_X86, CS_MODE_32, Cs

    return Cs(CS_ARCH_X86, CS_MODE_32)


def _reserved_after_call(code: bytes, addr: int) -> int:
    """N of the ``sub esp, N`` among the first instructions of ``code``, else 0."""
    for count, insn in enumerate(_disassembler().disasm(code, addr)):
        text = insn.op_str
        if insn.mnemonic == "sub" and text.startswith("esp, "):
            try:
                return int(text[5:], 0)
            except ValueError:
                return 0
        if (
            count >= 3
            or "esp" in text
            or "ebp" in text
            or insn.mnemonic in ("push", "pop", "call", "ret", "leave", "enter")
            or insn.mnemonic.startswith("j")
        ):
            return 0
    return 0


def _write_double(proc: Any, value: float) -> None:
    """A double result: XMM0 on x64, st(0) on i386."""
    if proc.is64:
        raw = struct.unpack("<Q", struct.pack("<d", value))[0]
        proc.uc.reg_write(x86.UC_X86_REG_XMM0, raw)
        return
    proc.mem.poke(proc.builder.scratch, struct.pack("<d", value))
