"""The data address of an access violation, which Unicorn does not report.

Windows gives a handler the address the instruction tried to read or write
(ExceptionInformation[1]); a memory fault here only says read or write at which PC. The faulting
instruction is decoded once (Capstone, only on this rare path) and its memory operand evaluated
from the registers: base + index * scale + displacement, RIP-relative, and FS/GS-based.
"""

from __future__ import annotations

from typing import Any

from unicorn import x86_const as x86


def data_address(proc: Any, pc: int, write: bool) -> int:
    """The address the instruction at ``pc`` accessed (0 when it cannot be worked out)."""
    try:
        import capstone
        from capstone import x86_const as cx

        md = capstone.Cs(
            capstone.CS_ARCH_X86, capstone.CS_MODE_64 if proc.is64 else capstone.CS_MODE_32
        )
        md.detail = True
        insn = next(md.disasm(proc.read(pc, 16), pc), None)
    except Exception:  # noqa: BLE001 - unreadable code or no decoder: the address stays unknown
        return 0
    if insn is None:
        return 0
    mems = [op for op in insn.operands if op.type == cx.X86_OP_MEM]
    if len(mems) > 1:
        wanted = capstone.CS_AC_WRITE if write else capstone.CS_AC_READ
        mems = [op for op in mems if op.access & wanted] or mems
    if not mems:
        return 0
    mem = mems[0].mem
    value = mem.disp
    if mem.base == cx.X86_REG_RIP:
        value += pc + insn.size
    elif mem.base:
        value += _reg(proc, insn.reg_name(mem.base))
    if mem.index:
        value += _reg(proc, insn.reg_name(mem.index)) * mem.scale
    if mem.segment in (cx.X86_REG_FS, cx.X86_REG_GS) and proc.is64:
        value += proc.uc.reg_read(
            x86.UC_X86_REG_GS_BASE if mem.segment == cx.X86_REG_GS else x86.UC_X86_REG_FS_BASE
        )
    return value & ((1 << (8 * proc.word)) - 1)


def _reg(proc: Any, name: str) -> int:
    reg = getattr(x86, f"UC_X86_REG_{name.upper()}", None)
    return int(proc.uc.reg_read(reg)) if reg is not None else 0
