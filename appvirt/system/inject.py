"""Event injection: delivering interrupts and exceptions through the guest's IVT or IDT.

Unicorn never uses the guest's interrupt table (FACTS.md), so the hypervisor does what the CPU's
microcode would: in real mode it pushes FLAGS, CS and IP and jumps through the IVT; in protected
mode it reads the gate, checks it, switches to the ring-0 stack named by the TSS when the handler
is more privileged, pushes the frame (and the error code), and loads CS:EIP, clearing IF for an
interrupt gate. A fault while delivering turns into #DF, and one while delivering #DF into a
triple fault, which ends the VM. ``iret`` (emulated under ``bt``) is the inverse.
"""

from __future__ import annotations

import struct

from unicorn import x86_const as x86

from ..core.cpustate import CS, DS, ES, FS, GS, SS, Segment
from ..core.pagetables import PageFault
from .vcpu import FLAG_AC, FLAG_IF, FLAG_NT, FLAG_RF, FLAG_TF, FLAG_VM, Vcpu

DE, DB, NMI, BP, OF, BR, UD, NM, DF = range(9)
TS, NP, SS_FAULT, GP, PF = range(10, 15)
WITH_ERROR_CODE = {DF, TS, NP, SS_FAULT, GP, PF, 17}
CONTRIBUTORY = {DE, TS, NP, SS_FAULT, GP}


class TripleFault(Exception):
    """The CPU would shut down: a fault while delivering a double fault."""


class DeliveryFault(Exception):
    """A fault raised while delivering an event (bad gate, unmapped stack, ...)."""

    def __init__(self, vector: int, error_code: int = 0, cr2: int | None = None) -> None:
        super().__init__(f"fault {vector} while delivering")
        self.vector = vector
        self.error_code = error_code
        self.cr2 = cr2


def deliver(
    vcpu: Vcpu,
    vector: int,
    *,
    error_code: int | None = None,
    software: bool = False,
    return_eip: int | None = None,
) -> None:
    """Deliver ``vector`` now; escalates to #DF and raises TripleFault like the CPU."""
    first = vector
    while True:
        try:
            _deliver_once(vcpu, vector, error_code, software, return_eip)
            return
        except DeliveryFault as fault:
            if vector == DF:
                raise TripleFault() from None
            if fault.cr2 is not None:
                vcpu.set(x86.UC_X86_REG_CR2, fault.cr2)
                if vcpu.owned:
                    vcpu.virt.cr2 = fault.cr2
            double = (first in CONTRIBUTORY and fault.vector in CONTRIBUTORY) or (
                first == PF and (fault.vector in CONTRIBUTORY or fault.vector == PF)
            )
            if double:
                vector, error_code = DF, 0
            else:
                vector, error_code = fault.vector, fault.error_code
            software = False
            first = vector


def _deliver_once(
    vcpu: Vcpu, vector: int, error_code: int | None, software: bool, return_eip: int | None
) -> None:
    eip = vcpu.eip if return_eip is None else return_eip
    if not vcpu.protected:
        _deliver_real(vcpu, vector, eip)
        return
    base, limit = vcpu.idtr
    if vector * 8 + 7 > limit:
        raise DeliveryFault(GP, vector * 8 + 2)
    gate = _read(vcpu, base + vector * 8, 8)
    kind = (gate >> 40) & 0x1F
    present = gate >> 47 & 1
    gate_dpl = (gate >> 45) & 3
    cpl = vcpu.cpl
    if kind not in (0x06, 0x07, 0x0E, 0x0F):
        raise DeliveryFault(GP, vector * 8 + 2)  # task gates are not supported
    if software and gate_dpl < cpl:
        raise DeliveryFault(GP, vector * 8 + 2)
    if not present:
        raise DeliveryFault(NP, vector * 8 + 2)
    selector = (gate >> 16) & 0xFFFF
    offset = (gate & 0xFFFF) | ((gate >> 48) << 16 if kind & 0x08 else 0)
    code = _descriptor(vcpu, selector)
    if not code.flags & (1 << 15) or not code.flags & (1 << 11):
        raise DeliveryFault(GP, selector & 0xFFFC)
    conforming = bool(code.flags & (1 << 10))
    new_cpl = cpl if conforming else code.dpl
    if new_cpl > cpl:
        raise DeliveryFault(GP, selector & 0xFFFC)
    wide = bool(kind & 0x08)
    flags = vcpu.eflags
    old_cs = vcpu.get(x86.UC_X86_REG_CS)
    old_ss = vcpu.get(x86.UC_X86_REG_SS)
    old_esp = vcpu.get(x86.UC_X86_REG_ESP)
    ctx = vcpu.context()
    stack = ctx.segment(SS)
    frame: list[int] = []
    if new_cpl < cpl:
        ss_sel, esp = _ring_stack(vcpu, new_cpl)
        stack = _descriptor(vcpu, ss_sel)
        if stack.dpl != new_cpl or (ss_sel & 3) != new_cpl:
            raise DeliveryFault(TS, ss_sel & 0xFFFC)
        frame += [old_ss, old_esp]
    else:
        esp = old_esp
    frame += [flags, old_cs, eip]
    if error_code is not None:
        frame.append(error_code)
    size = 4 if wide else 2
    esp_mask = 0xFFFFFFFF if stack.big else 0xFFFF
    new_esp = (esp - size * len(frame)) & esp_mask
    if not stack.big:
        new_esp |= esp & ~0xFFFF
    packed = b"".join(v.to_bytes(4, "little")[:size] for v in reversed(frame))
    _write_stack(vcpu, stack.base + (new_esp & esp_mask), packed, new_cpl == 3)
    code = Segment((selector & 0xFFFC) | new_cpl, code.base, code.limit, code.flags)
    flags &= ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM)
    if not kind & 1:  # interrupt gate
        flags &= ~FLAG_IF
    vcpu.eflags = flags
    ctx = vcpu.context()
    ctx.set_segment(CS, code)
    ctx.set_segment(SS, stack)
    ctx.clear_exception()
    ctx.commit()
    vcpu.set(x86.UC_X86_REG_ESP, new_esp)
    vcpu.eip = offset


def _deliver_real(vcpu: Vcpu, vector: int, eip: int) -> None:
    base, limit = vcpu.idtr
    if vector * 4 + 3 > limit:
        raise DeliveryFault(GP, 0)
    ip, cs = struct.unpack("<HH", vcpu.read_linear(base + vector * 4, 4))
    flags = vcpu.eflags
    ss = vcpu.segment(SS)
    sp = vcpu.get(x86.UC_X86_REG_ESP)
    frame = struct.pack("<HHH", eip & 0xFFFF, vcpu.get(x86.UC_X86_REG_CS), flags & 0xFFFF)
    new_sp = (sp - 6) & 0xFFFF
    vcpu.write_linear(ss.base + new_sp, frame)
    vcpu.set(x86.UC_X86_REG_ESP, (sp & ~0xFFFF) | new_sp)
    vcpu.eflags = flags & ~(FLAG_IF | FLAG_TF | FLAG_AC)
    ctx = vcpu.context()
    ctx.set_segment(CS, Segment.real_mode(cs, code=True))
    ctx.clear_exception()
    ctx.commit()
    vcpu.eip = ip


def iret(vcpu: Vcpu, operand32: bool) -> None:
    """Return from an interrupt as ``iret`` does (real mode, same ring, or to an outer ring)."""
    size = 4 if operand32 else 2
    ctx = vcpu.context()
    ss = ctx.segment(SS)
    esp = vcpu.get(x86.UC_X86_REG_ESP)
    mask = 0xFFFFFFFF if ss.big and vcpu.protected else 0xFFFF
    raw = vcpu.read_linear(ss.base + (esp & mask), 3 * size)
    eip, cs_sel, flags = (
        int.from_bytes(raw[i : i + size], "little") for i in range(0, 3 * size, size)
    )
    old = vcpu.eflags
    if not operand32:
        flags = (old & 0xFFFF0000) | flags
    if not vcpu.protected:
        vcpu.set(x86.UC_X86_REG_ESP, (esp & ~mask) | ((esp + 3 * size) & mask))
        vcpu.eflags = flags
        ctx = vcpu.context()
        ctx.set_segment(CS, Segment.real_mode(cs_sel, code=True))
        ctx.commit()
        vcpu.eip = eip
        return
    cpl = ctx.cpl
    if cpl > 0:  # IOPL and IF change only as privilege allows
        keep = 0x3000 | (FLAG_IF if cpl > (old >> 12) & 3 else 0)
        flags = (flags & ~keep) | (old & keep)
    new_cpl = cs_sel & 3
    code = _descriptor(vcpu, cs_sel)
    code = Segment(cs_sel, code.base, code.limit, code.flags)
    new_esp = (esp & ~mask) | ((esp + 3 * size) & mask)
    ctx = vcpu.context()
    if new_cpl > cpl:
        raw = vcpu.read_linear(ss.base + ((esp + 3 * size) & mask), 2 * size)
        new_esp = int.from_bytes(raw[:size], "little")
        ss_sel = int.from_bytes(raw[size:], "little") & 0xFFFF
        stack = _descriptor(vcpu, ss_sel)
        ctx.set_segment(CS, code)
        ctx.set_segment(SS, Segment(ss_sel, stack.base, stack.limit, stack.flags))
        for seg in (DS, ES, FS, GS):  # data segments more privileged than the new ring go null
            s = ctx.segment(seg)
            if s.selector & 0xFFFC and s.dpl < new_cpl and not (s.flags >> 10) & 3 == 3:
                ctx.set_segment(seg, Segment(0, 0, 0, 0))
    else:
        ctx.set_segment(CS, code)
    ctx.commit()
    vcpu.set(x86.UC_X86_REG_ESP, new_esp)
    vcpu.eflags = flags
    vcpu.eip = eip


# -- helpers ------------------------------------------------------------------------------------
def _read(vcpu: Vcpu, va: int, size: int) -> int:
    try:
        return vcpu.read_u(va, size)
    except PageFault as pf:
        raise DeliveryFault(PF, pf.error_code, pf.va) from None


def _write_stack(vcpu: Vcpu, va: int, data: bytes, user: bool) -> None:
    try:
        vcpu.write_linear(va, data, user=user)
    except PageFault as pf:
        raise DeliveryFault(PF, pf.error_code, pf.va) from None


def descriptor(vcpu: Vcpu, selector: int) -> Segment:
    """The segment ``selector`` names in the GDT or LDT, as the CPU would cache it."""
    return _descriptor(vcpu, selector)


def _descriptor(vcpu: Vcpu, selector: int) -> Segment:
    if not selector & 0xFFFC:
        raise DeliveryFault(GP, 0)
    if selector & 4:
        _sel, base, limit, _flags = vcpu.uc.reg_read(x86.UC_X86_REG_LDTR)
    else:
        base, limit = vcpu.gdtr
    index = selector & 0xFFF8
    if index + 7 > limit:
        raise DeliveryFault(GP, selector & 0xFFFC)
    raw = _read(vcpu, base + index, 8)
    return Segment.from_descriptor(selector, raw)


def _ring_stack(vcpu: Vcpu, ring: int) -> tuple[int, int]:
    """SS:ESP for ``ring`` from the 32-bit TSS."""
    tss = vcpu.tr_base
    esp = _read(vcpu, tss + 4 + ring * 8, 4)
    ss = _read(vcpu, tss + 8 + ring * 8, 2)
    return ss, esp
