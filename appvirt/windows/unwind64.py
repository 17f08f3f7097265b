"""x64 table-based unwinding: CONTEXT records, .pdata look-ups and RtlVirtualUnwind.

Every x64 function that allocates stack or calls another has a RUNTIME_FUNCTION in its image's
exception directory (.pdata: begin, end and UNWIND_INFO RVAs, sorted). The UNWIND_INFO (.xdata)
lists what the prolog did, last operation first, so undoing the codes in order turns the CONTEXT
of a frame into its caller's. This module does that the way Windows does, so that language
handlers (the C++ runtimes' personality routines, __C_specific_handler) see the same
DISPATCHER_CONTEXT values they would on Windows:

- a PC inside the prolog undoes only the operations already executed;
- a PC inside an epilog (``add rsp``/``lea rsp``, pops, ``ret`` or a tail ``jmp``) is unwound by
  running the rest of the epilog forwards, and reports no handler;
- chained UNWIND_INFO (UNW_FLAG_CHAININFO) continues with the parent entry's codes, and the
  handler comes from the end of the chain;
- the establisher frame is RSP, or the frame register minus its scaled offset once set.

A function without a table entry is a leaf: its return address is at [RSP].
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Sequence
from typing import Any

from unicorn import x86_const as x86

Reader = Callable[[int, int], bytes]

CONTEXT_SIZE = 0x4D0
CONTEXT_ALL = 0x10001F  # CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS | FLOATING_POINT | DEBUG
OFF_FLAGS, OFF_MXCSR, OFF_SEGS, OFF_EFLAGS = 0x30, 0x34, 0x38, 0x44
OFF_GPR, OFF_RIP, OFF_FLTSAVE, OFF_XMM = 0x78, 0xF8, 0x100, 0x1A0
RSP, RBP = 4, 5

UNW_FLAG_NHANDLER, UNW_FLAG_EHANDLER, UNW_FLAG_UHANDLER, UNW_FLAG_CHAININFO = 0, 1, 2, 4
(UWOP_PUSH_NONVOL, UWOP_ALLOC_LARGE, UWOP_ALLOC_SMALL, UWOP_SET_FPREG, UWOP_SAVE_NONVOL,
 UWOP_SAVE_NONVOL_FAR, UWOP_EPILOG, UWOP_SPARE_CODE, UWOP_SAVE_XMM128, UWOP_SAVE_XMM128_FAR,
 UWOP_PUSH_MACHFRAME) = range(11)  # fmt: skip
MAX_CHAIN = 32

# Unicorn ids in the CONTEXT's order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15), which is
# also the register numbering of unwind codes.
GPRS = (x86.UC_X86_REG_RAX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX, x86.UC_X86_REG_RBX,
        x86.UC_X86_REG_RSP, x86.UC_X86_REG_RBP, x86.UC_X86_REG_RSI, x86.UC_X86_REG_RDI,
        x86.UC_X86_REG_R8, x86.UC_X86_REG_R9, x86.UC_X86_REG_R10, x86.UC_X86_REG_R11,
        x86.UC_X86_REG_R12, x86.UC_X86_REG_R13, x86.UC_X86_REG_R14, x86.UC_X86_REG_R15)  # fmt: skip
XMMS = tuple(getattr(x86, f"UC_X86_REG_XMM{i}") for i in range(16))
SEGS = (x86.UC_X86_REG_CS, x86.UC_X86_REG_DS, x86.UC_X86_REG_ES, x86.UC_X86_REG_FS,
        x86.UC_X86_REG_GS, x86.UC_X86_REG_SS)  # fmt: skip


class Context64:
    """An x64 CONTEXT record kept in its Windows byte layout, so it moves to and from guest
    memory unchanged (handlers read and edit it there)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes | bytearray | None = None) -> None:
        self.raw = bytearray(raw if raw is not None else CONTEXT_SIZE)

    def copy(self) -> Context64:
        return Context64(self.raw)

    def gpr(self, index: int) -> int:
        return int(struct.unpack_from("<Q", self.raw, OFF_GPR + 8 * index)[0])

    def set_gpr(self, index: int, value: int) -> None:
        struct.pack_into("<Q", self.raw, OFF_GPR + 8 * index, value & 0xFFFFFFFFFFFFFFFF)

    def xmm(self, index: int) -> bytes:
        return bytes(self.raw[OFF_XMM + 16 * index : OFF_XMM + 16 * index + 16])

    def set_xmm(self, index: int, value: bytes) -> None:
        self.raw[OFF_XMM + 16 * index : OFF_XMM + 16 * index + 16] = value

    @property
    def rip(self) -> int:
        return int(struct.unpack_from("<Q", self.raw, OFF_RIP)[0])

    @rip.setter
    def rip(self, value: int) -> None:
        struct.pack_into("<Q", self.raw, OFF_RIP, value & 0xFFFFFFFFFFFFFFFF)

    @property
    def rsp(self) -> int:
        return self.gpr(RSP)

    @rsp.setter
    def rsp(self, value: int) -> None:
        self.set_gpr(RSP, value)


def capture(uc: Any, rip: int) -> Context64:
    """The CPU's registers as a full CONTEXT, with RIP given by the caller."""
    ctx = Context64()
    raw = ctx.raw
    struct.pack_into("<I", raw, OFF_FLAGS, CONTEXT_ALL)
    mxcsr = uc.reg_read(x86.UC_X86_REG_MXCSR) & 0xFFFFFFFF
    struct.pack_into("<I", raw, OFF_MXCSR, mxcsr)
    struct.pack_into("<6H", raw, OFF_SEGS, *(uc.reg_read(s) & 0xFFFF for s in SEGS))
    struct.pack_into("<I", raw, OFF_EFLAGS, uc.reg_read(x86.UC_X86_REG_EFLAGS) & 0xFFFFFFFF)
    for i, reg in enumerate(GPRS):
        ctx.set_gpr(i, uc.reg_read(reg))
    ctx.rip = rip
    struct.pack_into("<H", raw, OFF_FLTSAVE, 0x27F)  # x87 control word
    struct.pack_into("<I", raw, OFF_FLTSAVE + 0x18, mxcsr)
    struct.pack_into("<I", raw, OFF_FLTSAVE + 0x1C, 0xFFFF)  # MxCsr_Mask
    for i, reg in enumerate(XMMS):
        ctx.set_xmm(i, (uc.reg_read(reg) & ((1 << 128) - 1)).to_bytes(16, "little"))
    return ctx


def load_into_cpu(uc: Any, ctx: Context64) -> None:
    """Put a CONTEXT's integer, flag, MXCSR and XMM registers on the CPU (not RIP: the caller
    decides how the resume address is written)."""
    for i, reg in enumerate(GPRS):
        uc.reg_write(reg, ctx.gpr(i))
    eflags = struct.unpack_from("<I", ctx.raw, OFF_EFLAGS)[0]
    uc.reg_write(x86.UC_X86_REG_EFLAGS, (eflags & 0x3F7FD5) | 2)  # no TF/VM/IOPL changes
    uc.reg_write(x86.UC_X86_REG_MXCSR, struct.unpack_from("<I", ctx.raw, OFF_MXCSR)[0] & 0xFFFF)
    for i, reg in enumerate(XMMS):
        uc.reg_write(reg, int.from_bytes(ctx.xmm(i), "little"))


# -- function tables ------------------------------------------------------------------------------
class FunctionTable:
    """One module's sorted RUNTIME_FUNCTION array, read once from guest memory."""

    __slots__ = ("base", "end", "table", "begins", "entries")

    def __init__(self, base: int, size: int, table: int, raw: bytes) -> None:
        self.base = base
        self.end = base + size
        self.table = table
        count = len(raw) // 12
        self.entries = [struct.unpack_from("<III", raw, 12 * i) for i in range(count)]
        self.begins = [e[0] for e in self.entries]

    def find(self, pc: int) -> tuple[int, tuple[int, int, int]] | None:
        """(address of the RUNTIME_FUNCTION, its fields) covering ``pc``, or None."""
        rva = pc - self.base
        i = bisect.bisect_right(self.begins, rva) - 1
        if i < 0:
            return None
        entry = self.entries[i]
        if not entry[0] <= rva < entry[1]:
            return None
        return self.table + 12 * i, entry


def function_table(proc: Any, pc: int) -> FunctionTable | None:
    """The table of the loaded image holding ``pc`` (None for fake DLLs and unmapped code)."""
    cache: dict[int, FunctionTable | None] = proc.state.setdefault("unwind_tables", {})
    for module in proc.modules:
        if not module.base <= pc < module.base + module.size:
            continue
        if module.base in cache:
            return cache[module.base]
        table = None
        image = module.image
        if image is not None and image.exception_dir[1]:
            start = image.exception_dir[0] + module.base - image.base
            size = image.exception_dir[1] - image.exception_dir[1] % 12
            table = FunctionTable(module.base, module.size, start, proc.read(start, size))
        cache[module.base] = table
        return table
    return None


def lookup(proc: Any, pc: int) -> tuple[int, int, tuple[int, int, int]] | None:
    """RtlLookupFunctionEntry: (image base, entry address, (begin, end, unwind RVA)) or None."""
    table = function_table(proc, pc)
    if table is None:
        return None
    found = table.find(pc)
    if found is None:
        return None
    return table.base, found[0], found[1]


# -- RtlVirtualUnwind -----------------------------------------------------------------------------
class UnwindInfo:
    """A parsed UNWIND_INFO: header fields, the codes as 16-bit slots, and what follows them."""

    __slots__ = ("version", "flags", "prolog", "frame_reg", "frame_off", "slots", "tail")

    def __init__(self, read: Reader, addr: int) -> None:
        head = read(addr, 4)
        self.version = head[0] & 7
        self.flags = head[0] >> 3
        self.prolog = head[1]
        count = head[2]
        self.frame_reg = head[3] & 0xF
        self.frame_off = (head[3] >> 4) * 16
        self.slots = struct.unpack(f"<{count}H", read(addr + 4, 2 * count)) if count else ()
        self.tail = addr + 4 + 2 * ((count + 1) & ~1)  # handler RVA or chained RUNTIME_FUNCTION

    def set_fpreg_offset(self) -> int | None:
        """Prolog offset after which the frame register holds the frame (None: never set)."""
        i = 0
        while i < len(self.slots):
            op, info = (self.slots[i] >> 8) & 0xF, self.slots[i] >> 12
            if op == UWOP_SET_FPREG:
                return self.slots[i] & 0xFF
            i += _slot_count(op, info)
        return None


def _operand(slots: Sequence[int], i: int, far: bool, scale: int) -> int:
    """The operand of the code in slot ``i``: the next slot times ``scale``, or (the far form) the
    next two slots as one unscaled 32-bit value."""
    return slots[i + 1] | slots[i + 2] << 16 if far else slots[i + 1] * scale


def _slot_count(op: int, info: int) -> int:
    if op == UWOP_ALLOC_LARGE:
        return 3 if info else 2
    if op in (UWOP_SAVE_NONVOL, UWOP_SAVE_XMM128, UWOP_EPILOG):
        return 2
    if op in (UWOP_SAVE_NONVOL_FAR, UWOP_SAVE_XMM128_FAR, UWOP_SPARE_CODE):
        return 3
    return 1


class Pointers:
    """Where each restored register was read from (KNONVOLATILE_CONTEXT_POINTERS)."""

    __slots__ = ("gpr", "xmm")

    def __init__(self) -> None:
        self.gpr: dict[int, int] = {}
        self.xmm: dict[int, int] = {}


class Unwinder:
    """Undo one frame of a Context64 in place (RtlVirtualUnwind)."""

    def __init__(self, read: Reader) -> None:
        self.read = read

    def u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def _pop(self, ctx: Context64, reg: int, ptrs: Pointers | None) -> None:
        sp = ctx.rsp
        if ptrs is not None:
            ptrs.gpr[reg] = sp
        value = self.u64(sp)
        ctx.rsp = sp + 8
        ctx.set_gpr(reg, value)

    def _ret(self, ctx: Context64) -> None:
        sp = ctx.rsp
        ctx.rip = self.u64(sp)
        ctx.rsp = sp + 8

    def leaf(self, ctx: Context64) -> None:
        """A function without a table entry: the return address is at [RSP]."""
        self._ret(ctx)

    def unwind(self, handler_type: int, base: int, pc: int, entry: tuple[int, int, int],
               ctx: Context64, ptrs: Pointers | None = None) -> tuple[int, int, int]:  # fmt: skip
        """Turn ``ctx`` (stopped at ``pc`` in the function of ``entry``) into its caller's.

        Returns (handler address or 0, handler data address or 0, establisher frame)."""
        begin, end, unwind_rva = entry
        info = UnwindInfo(self.read, base + unwind_rva)
        offset = pc - (base + begin)
        in_prolog = offset < info.prolog
        frame = ctx.rsp
        if info.frame_reg:
            set_at = info.set_fpreg_offset()
            if not in_prolog or (set_at is not None and offset >= set_at):
                frame = ctx.gpr(info.frame_reg) - info.frame_off
        if not in_prolog and self._epilog(pc, base + begin, base + end, info, ctx, ptrs):
            return 0, 0, frame
        limit = offset if in_prolog else 0x100
        machframe = False
        for _ in range(MAX_CHAIN):
            machframe |= self._undo_codes(info, ctx, limit, ptrs)
            if not info.flags & UNW_FLAG_CHAININFO:
                break
            begin, end, unwind_rva = struct.unpack("<III", self.read(info.tail, 12))
            info = UnwindInfo(self.read, base + unwind_rva)
            limit = 0x100
        if not machframe:
            self._ret(ctx)
        if in_prolog or not info.flags & handler_type & (UNW_FLAG_EHANDLER | UNW_FLAG_UHANDLER):
            return 0, 0, frame
        handler = struct.unpack("<I", self.read(info.tail, 4))[0]
        return base + handler, info.tail + 4, frame

    def _undo_codes(self, info: UnwindInfo, ctx: Context64, limit: int,
                    ptrs: Pointers | None) -> bool:  # fmt: skip
        """Undo the prolog operations done before prolog offset ``limit``; True after a machine
        frame (which restores RIP and RSP itself)."""
        slots = info.slots
        frame = ctx.rsp
        if info.frame_reg and (info.set_fpreg_offset() or 0) <= limit:
            frame = ctx.gpr(info.frame_reg) - info.frame_off
        i = 0
        while i < len(slots):
            code_offset, op, opinfo = slots[i] & 0xFF, (slots[i] >> 8) & 0xF, slots[i] >> 12
            step = _slot_count(op, opinfo)
            if code_offset > limit and op not in (UWOP_EPILOG, UWOP_SPARE_CODE):
                i += step
                continue
            if op == UWOP_PUSH_NONVOL:
                self._pop(ctx, opinfo, ptrs)
            elif op == UWOP_ALLOC_LARGE:
                ctx.rsp += _operand(slots, i, opinfo != 0, 8)
            elif op == UWOP_ALLOC_SMALL:
                ctx.rsp += opinfo * 8 + 8
            elif op == UWOP_SET_FPREG:
                ctx.rsp = ctx.gpr(info.frame_reg) - info.frame_off
            elif op in (UWOP_SAVE_NONVOL, UWOP_SAVE_NONVOL_FAR):
                off = _operand(slots, i, op == UWOP_SAVE_NONVOL_FAR, 8)
                if ptrs is not None:
                    ptrs.gpr[opinfo] = frame + off
                ctx.set_gpr(opinfo, self.u64(frame + off))
            elif op in (UWOP_SAVE_XMM128, UWOP_SAVE_XMM128_FAR):
                off = _operand(slots, i, op == UWOP_SAVE_XMM128_FAR, 16)
                if ptrs is not None:
                    ptrs.xmm[opinfo] = frame + off
                ctx.set_xmm(opinfo, self.read(frame + off, 16))
            elif op == UWOP_PUSH_MACHFRAME:
                sp = ctx.rsp + (8 if opinfo else 0)
                ctx.rip = self.u64(sp)
                ctx.rsp = self.u64(sp + 24)
                return True
            i += step
        return False

    # -- epilogs ----------------------------------------------------------------------------------
    def _epilog(self, pc: int, begin: int, end: int, info: UnwindInfo, ctx: Context64,
                ptrs: Pointers | None) -> bool:  # fmt: skip
        """When ``pc`` is in an epilog, run the rest of it on ``ctx`` and return True."""
        try:
            code = self.read(pc, 64)
        except Exception:  # noqa: BLE001 - code near the end of a mapping: no epilog here
            return False
        new_sp: int | None = None
        i = 0
        rex = code[0]
        if rex == 0x48 and code[1] == 0x83 and code[2] == 0xC4:  # add rsp, imm8
            new_sp, i = ctx.rsp + struct.unpack_from("<b", code, 3)[0], 4
        elif rex == 0x48 and code[1] == 0x81 and code[2] == 0xC4:  # add rsp, imm32
            new_sp, i = ctx.rsp + struct.unpack_from("<i", code, 3)[0], 7
        elif rex in (0x48, 0x49) and code[1] == 0x8D and info.frame_reg:  # lea rsp, [fp+disp]
            lea = self._lea_rsp(code, info.frame_reg, ctx)
            if lea is None:
                return False
            new_sp, i = lea
        pops: list[int] = []
        while True:
            b = code[i]
            if 0x58 <= b <= 0x5F:
                pops.append(b - 0x58)
                i += 1
            elif b == 0x41 and 0x58 <= code[i + 1] <= 0x5F:
                pops.append(code[i + 1] - 0x58 + 8)
                i += 2
            else:
                break
        if not self._ends_function(code, i, pc + i, begin, end):
            return False
        if new_sp is not None:
            ctx.rsp = new_sp
        for reg in pops:
            self._pop(ctx, reg, ptrs)
        self._ret(ctx)
        return True

    @staticmethod
    def _lea_rsp(code: bytes, frame_reg: int, ctx: Context64) -> tuple[int, int] | None:
        modrm = code[2]
        mod, reg, rm = modrm >> 6, (modrm >> 3) & 7, modrm & 7
        if reg != 4 or mod not in (1, 2) or rm | (8 if code[0] & 1 else 0) != frame_reg:
            return None
        i = 3 + (1 if rm == 4 else 0)  # r12 needs a SIB byte
        if mod == 1:
            return ctx.gpr(frame_reg) + struct.unpack_from("<b", code, i)[0], i + 1
        return ctx.gpr(frame_reg) + struct.unpack_from("<i", code, i)[0], i + 4

    @staticmethod
    def _ends_function(code: bytes, i: int, at: int, begin: int, end: int) -> bool:
        """``ret``, or a ``jmp`` that leaves the function (a tail call)."""
        b = code[i]
        if b in (0xC3, 0xC2) or (b == 0xF3 and code[i + 1] == 0xC3):
            return True
        if b == 0xE9:
            target = at + 5 + struct.unpack_from("<i", code, i + 1)[0]
            return not begin <= target < end
        if b == 0xEB:
            target = at + 2 + struct.unpack_from("<b", code, i + 1)[0]
            return not begin <= target < end
        if b == 0xFF and code[i + 1] == 0x25:  # jmp [rip+disp32]
            return True
        if b in (0x48, 0x49) and code[i + 1] == 0xFF and (code[i + 2] >> 3) & 7 == 4:
            return True  # rex.w jmp r/m64
        return False
