"""Hidden x86 CPU state that Unicorn's register API does not reach: segment caches, CPL, faults.

A real CPU loads a segment's hidden part (base, limit, access rights) from a descriptor when it
delivers an interrupt or executes ``iret``; Unicorn delivers neither, and its register writes only
load segments through the checks an ordinary ``mov sreg`` makes, so a hypervisor that injects an
event from ring 3 into ring 0 has to set that state itself. Unicorn also leaves the "previous
exception" of a fault that a hook handled in the CPU, which turns the next fault into #DF.

Both live in the CPU context that ``uc_context_save`` copies: QEMU's ``CPUX86State`` behind a 40-byte
header. The offsets below are those of Unicorn 2.1.4 (pinned in pyproject.toml); ``check_layout``
verifies them against register reads before a system VM first uses them.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from typing import Any

from unicorn import x86_const as x86

_HEADER = 40
_EIP = _HEADER + 128
_EFLAGS = _HEADER + 136
_HFLAGS = _HEADER + 176
_SEGS = _HEADER + 184  # ES CS SS DS FS GS, then LDT TR GDT IDT: 24 bytes each
_CR0 = _HEADER + 424
_ERROR_CODE = 5424
_OLD_EXCEPTION = 5536
_SEG = struct.Struct("<IxxxxQII")  # selector, base, limit, flags

ES, CS, SS, DS, FS, GS = range(6)

HF_CPL = 3
HF_CS32 = 1 << 4
HF_SS32 = 1 << 5
HF_ADDSEG = 1 << 6
HF_VM = 1 << 17
DESC_B = 1 << 22
EFLAGS_VM = 1 << 17


@dataclass(slots=True, frozen=True)
class Segment:
    """A segment register with its hidden part, as the CPU caches it (QEMU's flag layout)."""

    selector: int
    base: int
    limit: int
    flags: int  # descriptor bits 8..23 of the high word: type, S, DPL, P, AVL, L, D/B, G

    @property
    def dpl(self) -> int:
        return (self.flags >> 13) & 3

    @property
    def big(self) -> bool:
        return bool(self.flags & DESC_B)

    @classmethod
    def from_descriptor(cls, selector: int, raw: int) -> Segment:
        """The cache a CPU loads from an 8-byte descriptor (as one little-endian integer)."""
        lo, hi = raw & 0xFFFFFFFF, raw >> 32
        base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
        limit = (lo & 0xFFFF) | (hi & 0xF0000)
        if hi & (1 << 23):  # granularity: 4 KiB units
            limit = (limit << 12) | 0xFFF
        return cls(selector, base, limit, hi & 0x00F0FF00)

    @classmethod
    def real_mode(cls, selector: int, code: bool = False) -> Segment:
        return cls(selector, selector << 4, 0xFFFF, 0x9B00 if code else 0x9300)


class CpuContext:
    """One edit of the saved CPU context: read and change fields, then ``commit``."""

    __slots__ = ("_uc", "_ctx", "raw")

    def __init__(self, uc: Any) -> None:
        self._uc = uc
        self._ctx = uc.context_save()
        self.raw = bytearray(bytes(self._ctx))

    def segment(self, index: int) -> Segment:
        return Segment(*_SEG.unpack_from(self.raw, _SEGS + 24 * index))

    def set_segment(self, index: int, seg: Segment) -> None:
        _SEG.pack_into(self.raw, _SEGS + 24 * index, seg.selector, seg.base, seg.limit, seg.flags)
        self._recompute_hflags()

    @property
    def eip(self) -> int:
        return int(struct.unpack_from("<Q", self.raw, _EIP)[0])

    @eip.setter
    def eip(self, value: int) -> None:
        """Set EIP without ``uc_reg_write``: inside a hook other than a code hook, a register
        write of the PC leaves Unicorn's "skip PC sync on exit" flag set, and the next stop of
        that run then reports a stale EIP."""
        struct.pack_into("<Q", self.raw, _EIP, value & 0xFFFFFFFF)

    @property
    def hflags(self) -> int:
        return int(struct.unpack_from("<I", self.raw, _HFLAGS)[0])

    @property
    def cpl(self) -> int:
        return self.hflags & HF_CPL

    @property
    def error_code(self) -> int:
        return int(struct.unpack_from("<i", self.raw, _ERROR_CODE)[0]) & 0xFFFFFFFF

    def clear_exception(self) -> None:
        """Forget the fault a hook just handled, so the next one is not taken for a double fault."""
        struct.pack_into("<i", self.raw, _OLD_EXCEPTION, -1)

    def _recompute_hflags(self) -> None:
        """What QEMU derives from CS, SS, DS, ES and CR0 when it loads a segment."""
        hf = self.hflags
        cr0 = struct.unpack_from("<Q", self.raw, _CR0)[0]
        eflags = struct.unpack_from("<Q", self.raw, _EFLAGS)[0]
        cs, ss = self.segment(CS), self.segment(SS)
        protected = bool(cr0 & 1) and not eflags & EFLAGS_VM
        hf &= ~(HF_CPL | HF_CS32 | HF_SS32 | HF_ADDSEG)
        if protected:
            hf |= ss.dpl
            if cs.big:
                hf |= HF_CS32
        elif eflags & EFLAGS_VM:
            hf |= 3
        if ss.big:
            hf |= HF_SS32
        if not protected or not hf & HF_CS32:
            hf |= HF_ADDSEG
        elif self.segment(DS).base | self.segment(ES).base | ss.base:
            hf |= HF_ADDSEG
        struct.pack_into("<I", self.raw, _HFLAGS, hf)

    def commit(self) -> None:
        ctypes.memmove(self._ctx.context, bytes(self.raw), len(self.raw))
        self._uc.context_restore(self._ctx)


def check_layout(uc: Any) -> None:
    """Raise RuntimeError unless the offsets above match this Unicorn build."""
    ctx = CpuContext(uc)
    eip = struct.unpack_from("<Q", ctx.raw, _EIP)[0]
    cs = ctx.segment(CS)
    if eip != uc.reg_read(x86.UC_X86_REG_EIP) or cs.selector != uc.reg_read(x86.UC_X86_REG_CS):
        raise RuntimeError("unexpected Unicorn CPU context layout (is unicorn==2.1.4 installed?)")
    probe = Segment(0x1234, 0x12340, 0xFFFF, 0x9300)
    ctx.set_segment(GS, probe)
    ctx.commit()
    if uc.reg_read(x86.UC_X86_REG_GS) != 0x1234:
        raise RuntimeError("unexpected Unicorn CPU context layout (is unicorn==2.1.4 installed?)")
