"""Binary translation: find the guest's privileged and sensitive instructions before they run,
and emulate each against the hypervisor's virtual CPU state.

The translation cache is kept per guest page. Under ``bt`` guest memory is mapped without execute
permission, so the first fetch from a page stops the CPU (a fetch-protection fault); Capstone then
scans the page and the page becomes executable. The scan is a *superset* scan: it decodes at every
byte offset whose opcode could start a sensitive instruction (in 16- and 32-bit modes), so no
instruction can hide behind a misaligned start, and each hit gets a code hook at its linear
address, on every linear page that maps the frame. When the hook fires, the instruction is decoded
again in the CPU's current mode; a hit that is really something else simply runs. A scanned page
is write-watched: a store to it re-scans the bytes around the store and drops Unicorn's translated
blocks for them, which is how the cache is invalidated when the guest writes the page.

Why not ``UC_HOOK_EDGE_GENERATED`` alone: it reports a block only when it is reached by a direct
jump from a block already running, so a block entered through ``ret``, ``iret``, an indirect jump,
an injected interrupt or a fresh ``emu_start`` would escape the scan; the page fault never misses.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, CS_OP_IMM, CS_OP_MEM, CS_OP_REG, Cs
from unicorn import UC_ERR_FETCH_PROT
from unicorn import x86_const as x86

from ..core.cpustate import CS, DS, ES, FS, GS, SS
from ..core.pagetables import PageFault
from . import inject
from .exits import Exit
from .mmu import PAGE
from .vcpu import CR0_PE, CR0_PG, CR0_TS, CR4_PAE, CR4_PSE, EFER, FLAG_IF

if TYPE_CHECKING:
    from .hypervisor import Hypervisor

PREFIXES = frozenset({0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0xF0})
ONE_BYTE = frozenset(
    {0xFA, 0xFB, 0x9C, 0x9D, 0xF4, 0xCF, 0xCC, 0xCD, 0xCE}
    | set(range(0xE4, 0xE8))
    | set(range(0xEC, 0xF0))
    | set(range(0x6C, 0x70))
)
TWO_BYTE = frozenset({0x00, 0x01, 0x06, 0x20, 0x22, 0x30, 0x32})

# The mnemonics the translator emulates (Capstone's names), and which are privileged (#GP at CPL>0).
PRIVILEGED = frozenset(
    {"cli", "sti", "hlt", "lgdt", "lidt", "mov", "lmsw", "clts", "wrmsr", "rdmsr", "invlpg"}
)

_GPR32 = {
    "eax": x86.UC_X86_REG_EAX,
    "ecx": x86.UC_X86_REG_ECX,
    "edx": x86.UC_X86_REG_EDX,
    "ebx": x86.UC_X86_REG_EBX,
    "esp": x86.UC_X86_REG_ESP,
    "ebp": x86.UC_X86_REG_EBP,
    "esi": x86.UC_X86_REG_ESI,
    "edi": x86.UC_X86_REG_EDI,
}
_GPR16 = {r[1:]: v for r, v in _GPR32.items()}
_PORT_IO = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
_SEG_OF = {"cs": CS, "ds": DS, "es": ES, "ss": SS, "fs": FS, "gs": GS}


_LITE = (Cs(CS_ARCH_X86, CS_MODE_16), Cs(CS_ARCH_X86, CS_MODE_32))
_EMULATED = frozenset(
    {
        "cli", "sti", "pushf", "pushfd", "popf", "popfd", "hlt", "iret", "iretd", "int", "int3",
        "into", "in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd", "lgdt", "lidt",
        "sgdt", "sidt", "sldt", "str", "smsw", "lmsw", "clts", "wrmsr", "rdmsr", "invlpg",
    }
)  # fmt: skip


def is_sensitive(mnemonic: str, operands: str) -> bool:
    """Whether the translator emulates this instruction (Capstone's mnemonic and operand text)."""
    base = mnemonic.rsplit(" ", 1)[-1]  # "rep insw" is an insw
    return base in _EMULATED or (base == "mov" and "cr" in operands)


def scan_bytes(data: bytes, start: int = 0, end: int | None = None) -> set[int]:
    """Offsets in [start, end) of ``data`` where a sensitive instruction may begin, decoding at
    every offset whose opcode could start one, in 16- and 32-bit mode (a superset scan).
    ``data`` should run 15 bytes past ``end`` so an instruction crossing it still decodes."""
    end = len(data) if end is None else end
    padded = data + bytes(20)
    found = set()
    for off in range(start, end):
        i = off
        while i < off + 4 and padded[i] in PREFIXES:
            i += 1
        op = padded[i]
        if op in ONE_BYTE or (op == 0x0F and padded[i + 1] in TWO_BYTE):
            for cs in _LITE:
                hit = next(cs.disasm_lite(padded[off : off + 16], 0, 1), None)
                if hit is not None and is_sensitive(hit[2], hit[3]):
                    found.add(off)
                    break
    return found


@dataclass(slots=True)
class PageScan:
    """The translation cache entry of one guest frame: offsets that may start a sensitive insn."""

    offsets: set[int] = field(default_factory=set)
    linear: set[int] = field(default_factory=set)  # linear pages hooked for this frame


@dataclass(slots=True)
class TranslatorStats:
    pages_scanned: int = 0
    rescans: int = 0
    candidates: int = 0
    false_candidates: int = 0
    emulated: Counter[str] = field(default_factory=Counter)


class Translator:
    def __init__(self, hv: Hypervisor) -> None:
        self.hv = hv
        self.vcpu = hv.vcpu
        self.mem = hv.mem
        self.machine = hv.machine
        self._cs = {16: Cs(CS_ARCH_X86, CS_MODE_16), 32: Cs(CS_ARCH_X86, CS_MODE_32)}
        for cs in self._cs.values():
            cs.detail = True
        self.pages: dict[int, PageScan] = {}
        self._decoded: dict[tuple[int, int, bytes], Any] = {}
        self.stats_ = TranslatorStats()
        self.machine.on_code(self._on_code)
        self.mem.add_watcher("code", self._code_written)
        self.handlers: dict[str, Callable[[Any, int], None]] = {
            "cli": self._cli,
            "sti": self._sti,
            "pushf": self._pushf,
            "pushfd": self._pushf,
            "popf": self._popf,
            "popfd": self._popf,
            "hlt": self._hlt,
            "iret": self._iret,
            "iretd": self._iret,
            "int": self._int,
            "int3": self._int3,
            "into": self._into,
            "in": self._in,
            "out": self._out,
            "insb": self._ins,
            "insw": self._ins,
            "insd": self._ins,
            "outsb": self._outs,
            "outsw": self._outs,
            "outsd": self._outs,
            "mov": self._mov_cr,
            "lgdt": self._lgdt,
            "lidt": self._lidt,
            "sgdt": self._sgdt,
            "sidt": self._sidt,
            "sldt": self._sldt,
            "str": self._str,
            "smsw": self._smsw,
            "lmsw": self._lmsw,
            "clts": self._clts,
            "wrmsr": self._wrmsr,
            "rdmsr": self._rdmsr,
            "invlpg": self._invlpg,
        }

    # -- the translation cache --------------------------------------------------------------------
    def fetch_fault(self, errno: int) -> bool:
        """A fetch from a page not scanned yet: scan it and let the guest go on."""
        if errno != UC_ERR_FETCH_PROT:
            return False
        pc = self.vcpu.linear_pc()
        for linear in (pc & ~(PAGE - 1), (pc + 16) & ~(PAGE - 1)):
            try:
                frame = self.vcpu.translate(linear).phys & ~(PAGE - 1)
            except PageFault:
                continue
            if not self.mem.executable(frame):
                self.hv.exits.count(Exit.CODE_SCAN)
                self.scan(frame, linear)
                return True
        return False

    def scan(self, frame: int, linear: int) -> None:
        """Scan guest frame ``frame`` (first run from linear page ``linear``) and hook its hits."""
        entry = self.pages.get(frame)
        if entry is None:
            entry = PageScan(self._candidates(frame, 0, PAGE))
            self.pages[frame] = entry
            self.stats_.pages_scanned += 1
            self.stats_.candidates += len(entry.offsets)
            self.mem.watch_writes(frame, "code")
        self.mem.allow_exec(frame)
        pages = {linear}
        if self.hv.shadow is not None:
            pages |= self.hv.shadow.aliases.get(frame, set())
        for page in pages:
            self._hook(entry, page)

    def _hook(self, entry: PageScan, linear_page: int) -> None:
        entry.linear.add(linear_page)
        for off in entry.offsets:
            self.machine.hook_address(linear_page + off)

    def mapped(self, linear: int, frame: int) -> None:
        """The shadow maps ``linear`` -> ``frame``: hook it if the frame was scanned."""
        entry = self.pages.get(frame)
        if entry is not None and linear not in entry.linear:
            self._hook(entry, linear)

    def mapped_range(self, linear: int, frame: int, size: int) -> None:
        for off in range(0, size, PAGE):
            self.mapped(linear + off, frame + off)

    def _candidates(self, frame: int, start: int, end: int, data: bytes | None = None) -> set[int]:
        """Offsets in [start, end) of ``frame`` where a sensitive instruction may begin."""
        if data is None:
            data = self._frame_bytes(frame)
        return scan_bytes(data, max(start, 0), min(end, PAGE))

    def _frame_bytes(self, frame: int) -> bytes:
        """The frame and the first 16 bytes after it (an instruction may cross the edge)."""
        data = self.mem.read(frame, PAGE)
        try:
            data += self.mem.read(frame + PAGE, 16)
        except Exception:  # noqa: BLE001 - the next frame may not be memory
            data += bytes(16)
        return data

    def _code_written(self, frame: int, addr: int, data: bytes) -> None:
        """A store to a scanned frame, just before it lands: re-scan the bytes it changes.

        Only offsets from 15 bytes before the store to its end can start a different instruction
        afterwards, so only they are decoded again, against the frame as it will be. New hits are
        hooked at once and Unicorn's translated blocks over the store are dropped; the CPU stops
        (so the hooks apply before the new code can run) only when a new hit appeared.
        """
        entry = self.pages.get(frame)
        if entry is None:
            return
        self.hv.exits.count(Exit.CODE_WRITE)
        page = bytearray(self._frame_bytes(frame))
        off = addr - frame
        if page[off : off + len(data)] == data:
            return  # the store changes nothing
        page[off : off + len(data)] = data
        self.stats_.rescans += 1
        start, end = off - 15, off + len(data)
        found = self._candidates(frame, start, end, bytes(page))
        window = {o for o in entry.offsets if start <= o < end}
        added = found - window
        entry.offsets = (entry.offsets - window) | found
        self._decoded.clear()
        for linear in entry.linear:
            for o in added:
                self.machine.hook_address(linear + o)
            self.machine.forget_translations(linear + max(start, 0), linear + min(end, PAGE))
        if added:
            self.machine.request_stop()

    def settle(self) -> None:
        """Between slices: nothing is left pending (kept for the hypervisor's loop)."""

    # -- emulation ----------------------------------------------------------------------------------
    def _on_code(self, address: int) -> None:
        vcpu = self.vcpu
        cs = vcpu.code_segment()
        mode = 32 if cs.big else 16
        try:
            raw = vcpu.read_linear(address, 16)
        except PageFault:
            return
        key = (address, mode, raw)
        insn = self._decoded.get(key)
        if insn is None:
            insns = list(self._cs[mode].disasm(raw, address - cs.base, 1))
            if not insns:
                return
            insn = insns[0]
            if len(self._decoded) > 65536:
                self._decoded.clear()
            self._decoded[key] = insn
        mnemonic = insn.mnemonic.rsplit(" ", 1)[-1]
        handler = self.handlers.get(mnemonic)
        if handler is None or not is_sensitive(mnemonic, insn.op_str):
            self.stats_.false_candidates += 1
            return
        eip = (address - cs.base) & 0xFFFFFFFF
        next_eip = (eip + insn.size) & (0xFFFFFFFF if mode == 32 else 0xFFFF)
        cpl = vcpu.cpl
        if mnemonic in PRIVILEGED and cpl > 0:
            self._fault(inject.GP, 0)
            return
        self.stats_.emulated[mnemonic] += 1
        if mnemonic not in _PORT_IO:  # port I/O is counted per access by the hypervisor
            self.hv.exits.count(Exit.SENSITIVE, mnemonic)
        handler(insn, next_eip)

    def _fault(self, vector: int, error: int) -> None:
        self.hv.exits.count(Exit.EXCEPTION, f"#{vector}")
        self.hv.deliver(vector, error_code=error)
        self.vcpu.jump(self.vcpu.eip)

    def _done(self, next_eip: int) -> None:
        self.vcpu.jump(next_eip)

    # -- operands --------------------------------------------------------------------------------
    def _address(self, insn: Any, op: Any) -> int:
        """The linear address of a memory operand."""
        mem = op.mem
        seg = _SEG_OF.get(insn.reg_name(mem.segment) if mem.segment else "", None)
        if seg is None:
            base_name = insn.reg_name(mem.base) if mem.base else ""
            seg = SS if base_name in ("esp", "ebp", "sp", "bp") else DS
        value = mem.disp
        if mem.base:
            value += self._reg(insn.reg_name(mem.base))
        if mem.index:
            value += self._reg(insn.reg_name(mem.index)) * mem.scale
        mask = 0xFFFFFFFF if insn.addr_size == 4 else 0xFFFF
        return (self.vcpu.segment(seg).base + (value & mask)) & 0xFFFFFFFF

    def _reg(self, name: str) -> int:
        if name in _GPR32:
            return self.vcpu.get(_GPR32[name])
        if name in _GPR16:
            return self.vcpu.get(_GPR32["e" + name]) & 0xFFFF
        raise ValueError(f"register {name}")

    def _set_reg(self, name: str, value: int) -> None:
        if name in _GPR32:
            self.vcpu.set(_GPR32[name], value & 0xFFFFFFFF)
        elif name in _GPR16:
            reg = _GPR32["e" + name]
            self.vcpu.set(reg, (self.vcpu.get(reg) & ~0xFFFF) | (value & 0xFFFF))
        else:
            raise ValueError(f"register {name}")

    def _store(self, insn: Any, op: Any, value: int, size: int) -> None:
        if op.type == CS_OP_REG:
            self._set_reg(insn.reg_name(op.reg), value)
        else:
            self.vcpu.write_linear(self._address(insn, op), value.to_bytes(size, "little"))

    def _push(self, value: int, size: int) -> None:
        vcpu = self.vcpu
        ss = vcpu.stack_segment()
        esp = vcpu.get(x86.UC_X86_REG_ESP)
        mask = 0xFFFFFFFF if ss.big else 0xFFFF
        new = (esp - size) & mask
        vcpu.write_linear(ss.base + new, value.to_bytes(size, "little"))
        vcpu.set(x86.UC_X86_REG_ESP, (esp & ~mask) | new)

    def _pop(self, size: int) -> int:
        vcpu = self.vcpu
        ss = vcpu.stack_segment()
        esp = vcpu.get(x86.UC_X86_REG_ESP)
        mask = 0xFFFFFFFF if ss.big else 0xFFFF
        value = int.from_bytes(vcpu.read_linear(ss.base + (esp & mask), size), "little")
        vcpu.set(x86.UC_X86_REG_ESP, (esp & ~mask) | ((esp + size) & mask))
        return value

    # -- handlers: flags ----------------------------------------------------------------------------
    def _cli(self, insn: Any, next_eip: int) -> None:
        self.vcpu.virt.interrupts = False
        self._done(next_eip)

    def _sti(self, insn: Any, next_eip: int) -> None:
        self.vcpu.virt.interrupts = True
        self._done(next_eip)
        self.hv.request_window()

    def _pushf(self, insn: Any, next_eip: int) -> None:
        size = 4 if insn.mnemonic == "pushfd" else 2
        flags = self.vcpu.eflags & ~0x30000  # the pushed image has VM and RF clear
        self._push(flags & ((1 << (8 * size)) - 1), size)
        self._done(next_eip)

    def _popf(self, insn: Any, next_eip: int) -> None:
        size = 4 if insn.mnemonic == "popfd" else 2
        value = self._pop(size)
        old = self.vcpu.eflags
        if size == 2:
            value = (old & 0xFFFF0000) | value
        keep = 0x30000 | 0x1A0000  # VM, RF, VIF, VIP stay
        cpl = self.vcpu.cpl if self.vcpu.protected else 0
        if cpl > 0:
            keep |= 0x3000  # IOPL
            if cpl > (old >> 12) & 3:
                keep |= FLAG_IF
        self.vcpu.eflags = (value & ~keep) | (old & keep)
        self._done(next_eip)
        if self.vcpu.virt.interrupts:
            self.hv.request_window()

    def _hlt(self, insn: Any, next_eip: int) -> None:
        self.hv.exits.count(Exit.HLT)
        self._done(next_eip)
        self.hv.enter_halt()

    # -- handlers: interrupts --------------------------------------------------------------------
    def _iret(self, insn: Any, next_eip: int) -> None:
        wide = insn.mnemonic == "iretd"
        inject.iret(self.vcpu, wide)
        self._done(self.vcpu.eip)
        if self.vcpu.virt.interrupts:
            self.hv.request_window()

    def _software(self, vector: int, next_eip: int) -> None:
        vcpu = self.vcpu
        vcpu.eip = next_eip
        self.hv.deliver(vector, software=True)
        self._done(vcpu.eip)

    def _int(self, insn: Any, next_eip: int) -> None:
        self._software(insn.operands[0].imm & 0xFF, next_eip)

    def _int3(self, insn: Any, next_eip: int) -> None:
        self._software(inject.BP, next_eip)

    def _into(self, insn: Any, next_eip: int) -> None:
        if self.vcpu.eflags & 0x800:
            self._software(inject.OF, next_eip)
        else:
            self._done(next_eip)

    # -- handlers: port I/O -------------------------------------------------------------------------
    def _io_allowed(self) -> bool:
        vcpu = self.vcpu
        if not vcpu.protected:
            return True
        return vcpu.cpl <= (vcpu.eflags >> 12) & 3

    def _port_size(self, name: str) -> int:
        return 4 if name.startswith("e") else 2 if name.endswith("x") else 1

    def _in(self, insn: Any, next_eip: int) -> None:
        if not self._io_allowed():
            self._fault(inject.GP, 0)
            return
        dst, src = insn.operands
        name = insn.reg_name(dst.reg)
        size = self._port_size(name)
        port = src.imm if src.type == CS_OP_IMM else self.vcpu.get(x86.UC_X86_REG_DX) & 0xFFFF
        value = self.hv.port_in(port, size)
        if size == 1:
            reg = x86.UC_X86_REG_EAX
            self.vcpu.set(reg, (self.vcpu.get(reg) & ~0xFF) | (value & 0xFF))
        else:
            self._set_reg(name, value)
        self._done(next_eip)

    def _out(self, insn: Any, next_eip: int) -> None:
        if not self._io_allowed():
            self._fault(inject.GP, 0)
            return
        dst, src = insn.operands
        name = insn.reg_name(src.reg)
        size = self._port_size(name)
        port = dst.imm if dst.type == CS_OP_IMM else self.vcpu.get(x86.UC_X86_REG_DX) & 0xFFFF
        value = self.vcpu.get(x86.UC_X86_REG_EAX) & ((1 << (8 * size)) - 1)
        self._done(next_eip)
        self.hv.port_out(port, size, value)

    def _string_io(self, insn: Any, next_eip: int, out: bool) -> None:
        if not self._io_allowed():
            self._fault(inject.GP, 0)
            return
        vcpu = self.vcpu
        size = {"b": 1, "w": 2, "d": 4}[insn.mnemonic[-1]]
        port = vcpu.get(x86.UC_X86_REG_DX) & 0xFFFF
        wide = insn.addr_size == 4
        mask = 0xFFFFFFFF if wide else 0xFFFF
        rep = bool(set(insn.prefix) & {0xF2, 0xF3})
        count = vcpu.get(x86.UC_X86_REG_ECX) & mask if rep else 1
        step = -size if vcpu.eflags & 0x400 else size
        index_reg = x86.UC_X86_REG_ESI if out else x86.UC_X86_REG_EDI
        seg = vcpu.segment(DS if out else ES)
        index = vcpu.get(index_reg)
        for _ in range(count):
            addr = seg.base + (index & mask)
            if out:
                value = int.from_bytes(vcpu.read_linear(addr, size), "little")
                self.hv.port_out(port, size, value)
            else:
                vcpu.write_linear(addr, self.hv.port_in(port, size).to_bytes(size, "little"))
            index = (index & ~mask) | ((index + step) & mask)
        vcpu.set(index_reg, index)
        if rep:
            ecx = vcpu.get(x86.UC_X86_REG_ECX)
            vcpu.set(x86.UC_X86_REG_ECX, ecx & ~mask)
        self._done(next_eip)

    def _ins(self, insn: Any, next_eip: int) -> None:
        self._string_io(insn, next_eip, out=False)

    def _outs(self, insn: Any, next_eip: int) -> None:
        self._string_io(insn, next_eip, out=True)

    # -- handlers: control and descriptor-table registers ------------------------------------------
    def _mov_cr(self, insn: Any, next_eip: int) -> None:
        dst, src = insn.operands
        dst_name, src_name = insn.reg_name(dst.reg), insn.reg_name(src.reg)
        virt = self.vcpu.virt
        if dst_name.startswith("cr"):
            value = self._reg(src_name)
            n = int(dst_name[2:])
            if n == 0:
                virt.cr0 = value | 0x10
                self.hv.shadow.cr0_changed()
            elif n == 2:
                virt.cr2 = value
                self.vcpu.set(x86.UC_X86_REG_CR2, value)
            elif n == 3:
                virt.cr3 = value
                self.hv.shadow.cr3_loaded()
            elif n == 4:
                changed = (virt.cr4 ^ value) & (CR4_PAE | CR4_PSE)
                virt.cr4 = value
                if changed or not virt.cr0 & CR0_PG:
                    self.hv.shadow.cr0_changed()
        else:
            n = int(src_name[2:])
            value = {
                0: virt.cr0,
                2: self.vcpu.get(x86.UC_X86_REG_CR2),
                3: virt.cr3,
                4: virt.cr4,
            }.get(n, 0)
            self._set_reg(dst_name, value)
        self._done(next_eip)

    def _table_operand(self, insn: Any) -> int:
        return self._address(insn, insn.operands[0])

    def _read_table(self, insn: Any) -> tuple[int, int]:
        limit, base = struct.unpack("<HI", self.vcpu.read_linear(self._table_operand(insn), 6))
        op32 = self.vcpu.code_segment().big != (insn.prefix[2] == 0x66)
        return (base if op32 else base & 0xFFFFFF), limit

    def _lgdt(self, insn: Any, next_eip: int) -> None:
        base, limit = self._read_table(insn)
        self.vcpu.virt.gdtr = (base, limit)
        self.vcpu.uc.reg_write(x86.UC_X86_REG_GDTR, (0, base, limit, 0))
        self._done(next_eip)

    def _lidt(self, insn: Any, next_eip: int) -> None:
        self.vcpu.virt.idtr = self._read_table(insn)
        self._done(next_eip)

    def _store_table(self, insn: Any, table: tuple[int, int], next_eip: int) -> None:
        base, limit = table
        self.vcpu.write_linear(self._table_operand(insn), struct.pack("<HI", limit, base))
        self._done(next_eip)

    def _sgdt(self, insn: Any, next_eip: int) -> None:
        self._store_table(insn, self.vcpu.virt.gdtr, next_eip)

    def _sidt(self, insn: Any, next_eip: int) -> None:
        self._store_table(insn, self.vcpu.virt.idtr, next_eip)

    def _selector_store(self, insn: Any, reg: int, next_eip: int) -> None:
        value = self.vcpu.get(reg) & 0xFFFF
        op = insn.operands[0]
        self._store(insn, op, value, 2 if op.type == CS_OP_MEM else op.size)
        self._done(next_eip)

    def _sldt(self, insn: Any, next_eip: int) -> None:
        self._selector_store(insn, x86.UC_X86_REG_LDTR, next_eip)

    def _str(self, insn: Any, next_eip: int) -> None:
        self._selector_store(insn, x86.UC_X86_REG_TR, next_eip)

    def _smsw(self, insn: Any, next_eip: int) -> None:
        op = insn.operands[0]
        value = self.vcpu.virt.cr0 & (
            0xFFFF if op.type == CS_OP_MEM or op.size == 2 else 0xFFFFFFFF
        )
        self._store(insn, op, value, 2 if op.type == CS_OP_MEM else op.size)
        self._done(next_eip)

    def _lmsw(self, insn: Any, next_eip: int) -> None:
        op = insn.operands[0]
        if op.type == CS_OP_REG:
            value = self._reg(insn.reg_name(op.reg))
        else:
            value = int.from_bytes(self.vcpu.read_linear(self._address(insn, op), 2), "little")
        virt = self.vcpu.virt
        virt.cr0 = (virt.cr0 & ~0xE) | (value & 0xF) | (virt.cr0 & CR0_PE)
        self.hv.shadow.cr0_changed()
        self._done(next_eip)

    def _clts(self, insn: Any, next_eip: int) -> None:
        self.vcpu.virt.cr0 &= ~CR0_TS
        self.vcpu.set(x86.UC_X86_REG_CR0, self.vcpu.get(x86.UC_X86_REG_CR0) & ~CR0_TS)
        self._done(next_eip)

    def _wrmsr(self, insn: Any, next_eip: int) -> None:
        vcpu = self.vcpu
        index = vcpu.get(x86.UC_X86_REG_ECX)
        value = vcpu.get(x86.UC_X86_REG_EAX) | (vcpu.get(x86.UC_X86_REG_EDX) << 32)
        self.hv.exits.count(Exit.MSR, f"wrmsr {index:#x}")
        if index == EFER:
            vcpu.virt.efer = value & ~(1 << 10)
        else:
            vcpu.virt.msrs[index] = value
        self._done(next_eip)

    def _rdmsr(self, insn: Any, next_eip: int) -> None:
        vcpu = self.vcpu
        index = vcpu.get(x86.UC_X86_REG_ECX)
        self.hv.exits.count(Exit.MSR, f"rdmsr {index:#x}")
        value = vcpu.virt.efer if index == EFER else vcpu.virt.msrs.get(index, 0)
        vcpu.set(x86.UC_X86_REG_EAX, value & 0xFFFFFFFF)
        vcpu.set(x86.UC_X86_REG_EDX, value >> 32)
        self._done(next_eip)

    def _invlpg(self, insn: Any, next_eip: int) -> None:
        self.hv.shadow.invalidate(self._address(insn, insn.operands[0]))
        self._done(next_eip)

    # -- figures -----------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        s = self.stats_
        return {
            "pages_scanned": s.pages_scanned,
            "rescans": s.rescans,
            "candidate_sites": s.candidates,
            "hooks": self.machine.hooked_addresses,
            "false_candidates_hit": s.false_candidates,
            "emulated": dict(s.emulated.most_common()),
        }


__all__ = ["Translator", "CS_OP_MEM", "CS_OP_REG", "CS_OP_IMM", "CR0_PE", "CR4_PAE", "FLAG_IF"]
