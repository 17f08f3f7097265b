"""The guest CPU as the hypervisor sees it: control state, flags, segments and linear memory.

Under ``hw`` and ``pv`` the guest's privileged state lives in the CPU itself (as in a VMCS): CR0,
CR3, CR4, GDTR, IDTR and EFLAGS.IF are Unicorn's registers and this class reads them through.
Under ``bt`` the hypervisor owns that state (``VirtualRegs``): the translator emulates every
instruction that reads or writes it, while the real registers hold what the hypervisor chose
(shadow page tables in CR3, interrupts always off). Everything else (general registers, segment
caches, the stack) is shared by all three techniques.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from unicorn import x86_const as x86

from ..core.cpustate import CS, SS, CpuContext, Segment
from ..core.machine import CR0_PE, CR0_PG, CR0_WP, CR4_PAE, EFER, EFER_NXE
from ..core.pagetables import PageFault, Paging, Translation
from ..core.sysmachine import RESET_CR0, SystemMachine
from .mmu import PAGE, GuestMemory, GuestMemoryError

CR0_TS = 1 << 3
CR4_PSE = 1 << 4
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
FLAG_IF = 1 << 9
FLAG_TF = 1 << 8
FLAG_NT = 1 << 14
FLAG_RF = 1 << 16
FLAG_VM = 1 << 17
FLAG_AC = 1 << 18


class Technique(enum.Enum):
    HW = "hw"
    BT = "bt"
    PV = "pv"


@dataclass(slots=True)
class VirtualRegs:
    """Privileged state the hypervisor owns under binary translation."""

    cr0: int = RESET_CR0
    cr2: int = 0
    cr3: int = 0
    cr4: int = 0
    efer: int = 0
    gdtr: tuple[int, int] = (0, 0xFFFF)
    idtr: tuple[int, int] = (0, 0xFFFF)
    ldtr: int = 0
    tr: int = 0
    interrupts: bool = False  # the guest's EFLAGS.IF
    msrs: dict[int, int] = field(default_factory=dict)


class Vcpu:
    """Registers, control state and linear memory of the one guest CPU."""

    def __init__(self, machine: SystemMachine, mem: GuestMemory, technique: Technique) -> None:
        self.machine = machine
        self.mem = mem
        self.technique = technique
        self.owned = technique is Technique.BT
        self.virt = VirtualRegs()
        self.reg = machine.reg
        self.uc = machine.uc

    # -- general registers ------------------------------------------------------------------------
    def get(self, reg: int) -> int:
        return self.reg.read(reg)

    def set(self, reg: int, value: int) -> None:
        self.reg.write(reg, value)

    @property
    def eip(self) -> int:
        return self.reg.read(x86.UC_X86_REG_EIP)

    @eip.setter
    def eip(self, value: int) -> None:
        """Set EIP through the CPU context: safe inside any hook (see CpuContext.eip)."""
        ctx = self.machine.context()
        ctx.eip = value
        ctx.commit()

    def jump(self, value: int) -> None:
        """Set EIP from a code hook: the register write makes Unicorn leave the current block
        before the hooked instruction runs and resume at ``value``."""
        self.reg.write(x86.UC_X86_REG_EIP, value & 0xFFFFFFFF)

    # -- flags ------------------------------------------------------------------------------------
    @property
    def eflags(self) -> int:
        """EFLAGS as the guest sees it (IF virtual under bt)."""
        value = self.reg.read(x86.UC_X86_REG_EFLAGS)
        if self.owned:
            value = (value & ~FLAG_IF) | (FLAG_IF if self.virt.interrupts else 0)
        return value

    @eflags.setter
    def eflags(self, value: int) -> None:
        if self.owned:
            self.virt.interrupts = bool(value & FLAG_IF)
            value &= ~FLAG_IF
        self.reg.write(x86.UC_X86_REG_EFLAGS, value | 2)

    @property
    def interrupts(self) -> bool:
        return bool(self.eflags & FLAG_IF)

    # -- control state ----------------------------------------------------------------------------
    @property
    def cr0(self) -> int:
        return self.virt.cr0 if self.owned else self.reg.read(x86.UC_X86_REG_CR0)

    @property
    def cr3(self) -> int:
        return self.virt.cr3 if self.owned else self.reg.read(x86.UC_X86_REG_CR3)

    @property
    def cr4(self) -> int:
        return self.virt.cr4 if self.owned else self.reg.read(x86.UC_X86_REG_CR4)

    @property
    def efer(self) -> int:
        if self.owned:
            return self.virt.efer
        return int(self.uc.reg_read(x86.UC_X86_REG_MSR, EFER))

    def _table_reg(self, reg: int) -> tuple[int, int]:
        _sel, base, limit, _flags = self.uc.reg_read(reg)
        return int(base), int(limit)

    @property
    def gdtr(self) -> tuple[int, int]:
        return self.virt.gdtr if self.owned else self._table_reg(x86.UC_X86_REG_GDTR)

    @property
    def idtr(self) -> tuple[int, int]:
        return self.virt.idtr if self.owned else self._table_reg(x86.UC_X86_REG_IDTR)

    @property
    def tr_base(self) -> int:
        _sel, base, _limit, _flags = self.uc.reg_read(x86.UC_X86_REG_TR)
        return int(base)

    @property
    def protected(self) -> bool:
        return bool(self.cr0 & CR0_PE)

    def paging(self) -> Paging:
        """The page-table format the guest believes is in use."""
        if not self.cr0 & CR0_PG or not self.cr0 & CR0_PE:
            return Paging.OFF
        if self.efer & EFER_LMA:
            return Paging.LONG4
        return Paging.PAE if self.cr4 & CR4_PAE else Paging.BITS32

    # -- segments ---------------------------------------------------------------------------------
    def context(self) -> CpuContext:
        return self.machine.context()

    def segment(self, index: int) -> Segment:
        return self.context().segment(index)

    @property
    def cpl(self) -> int:
        if not self.protected:
            return 0
        return self.context().cpl

    def code_segment(self) -> Segment:
        return self.segment(CS)

    def stack_segment(self) -> Segment:
        return self.segment(SS)

    def linear_pc(self) -> int:
        return (self.code_segment().base + self.eip) & 0xFFFFFFFF

    # -- linear memory ----------------------------------------------------------------------------
    def translate(
        self, va: int, *, write: bool = False, user: bool = False, fetch: bool = False
    ) -> Translation:
        """Guest-linear to guest-physical through the guest's own tables; raises PageFault."""
        return self.mem.translate(
            self.paging(),
            self.cr3,
            va,
            write=write,
            user=user,
            fetch=fetch,
            wp=bool(self.cr0 & CR0_WP),
            nxe=bool(self.efer & EFER_NXE),
            pse=bool(self.cr4 & CR4_PSE),
        )

    def read_linear(self, va: int, size: int, *, user: bool = False) -> bytes:
        out = bytearray()
        while size > 0:
            n = min(size, PAGE - (va & (PAGE - 1)))
            phys = self.translate(va, user=user).phys
            try:
                out += self.mem.read(phys, n)
            except GuestMemoryError:
                out += b"\xff" * n  # open bus
            va += n
            size -= n
        return bytes(out)

    def write_linear(self, va: int, data: bytes, *, user: bool = False) -> None:
        """Store as the CPU would (checks the whole range first, so a fault stores nothing)."""
        pieces = []
        pos = 0
        while pos < len(data):
            n = min(len(data) - pos, PAGE - ((va + pos) & (PAGE - 1)))
            pieces.append((self.translate(va + pos, write=True, user=user).phys, pos, n))
            pos += n
        for phys, pos, n in pieces:
            try:
                self.mem.write(phys, data[pos : pos + n])
            except GuestMemoryError:
                pass  # stores to the open bus vanish

    def read_u(self, va: int, size: int) -> int:
        return int.from_bytes(self.read_linear(va, size), "little")


__all__ = ["PageFault", "Technique", "Vcpu", "VirtualRegs"]
