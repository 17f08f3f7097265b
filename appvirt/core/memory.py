"""A guest address space: mappings with real permissions, placement, brk, and accounting.

The list of mappings (``Vma``) is the truth. Unicorn memory is only the backing store (mapped
RWX, lazily backed by the host), and the guest sees permissions through the identity page tables
of ``pagetables.py``, so mprotect never splits Unicorn regions. Syscall handlers read and write guest
memory through ``read``/``write``, which check the mappings and raise ``GuestFault`` (EFAULT).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from unicorn import UC_PROT_ALL, Uc, UcError

from ..loader.image import Perm
from .pagetables import PageTables, leaf_flags

PAGE = 0x1000
MAX_MAPPINGS = 65530


def page_down(x: int) -> int:
    return x & ~(PAGE - 1)


def page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


class GuestFault(Exception):
    """A guest pointer that does not reach mapped memory with the needed permission."""

    def __init__(self, addr: int, write: bool = False) -> None:
        super().__init__(f"bad guest address {addr:#x}")
        self.addr = addr
        self.write = write


class OutOfMemory(Exception):
    """No room for a mapping, or the memory limit would be exceeded (ENOMEM)."""


@dataclass(slots=True)
class Vma:
    start: int
    end: int
    perms: Perm
    name: str = ""  # path, "[heap]", "[stack]", "[vdso]" ...
    offset: int = 0
    inode: int = 0
    shared: bool = False

    def clone(self, start: int, end: int) -> Vma:
        return Vma(
            start,
            end,
            self.perms,
            self.name,
            self.offset + (start - self.start),
            self.inode,
            self.shared,
        )


@dataclass(slots=True, frozen=True)
class Layout:
    """Where things go in one architecture's address space."""

    task_size: int
    stack_top: int
    stack_size: int
    mmap_base: int
    mmap_min: int
    pie_base: int
    arena: int  # physical memory for page tables, never mapped in guest virtual space
    pae32: bool


LAYOUT_64 = Layout(
    task_size=0x80_0000_0000,
    stack_top=0x7F_FFFF_0000,
    stack_size=8 << 20,
    mmap_base=0x7F_F700_0000,
    mmap_min=0x10000,
    pie_base=0x55_5555_4000,
    arena=0xF0_0000_0000,
    pae32=False,
)
LAYOUT_32 = Layout(
    task_size=0xC000_0000,
    stack_top=0xBFFF_0000,
    stack_size=8 << 20,
    mmap_base=0xB770_0000,
    mmap_min=0x10000,
    pie_base=0x5655_5000,
    arena=0xF000_0000,
    pae32=True,
)


class AddressSpace:
    """Mappings of one guest process, kept in step with Unicorn and the page tables."""

    def __init__(self, uc: Uc, layout: Layout, memory_limit: int | None = None) -> None:
        self.uc = uc
        self.layout = layout
        self.memory_limit = memory_limit
        self.vmas: list[Vma] = []
        self._starts: list[int] = []
        self.mapped_bytes = 0
        self.peak_bytes = 0
        self.brk_start = 0
        self.brk = 0
        self.tables = PageTables(self._phys_write, self._map_arena, layout.arena, layout.pae32)
        self._tlb_dirty = False
        self._stale: list[tuple[int, int]] = []  # unmapped ranges whose Unicorn backing remains

    # -- backing and tables ---------------------------------------------------------------------
    def _phys_write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, data)

    def _map_arena(self, addr: int, size: int) -> None:
        self.uc.mem_map(addr, size, UC_PROT_ALL)

    def _pieces(self, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        i = bisect.bisect_right(self._starts, lo) - 1
        if i < 0:
            i = 0
        vmas = self.vmas
        while i < len(vmas):
            v = vmas[i]
            if v.start >= hi:
                break
            if v.end > lo:
                yield max(v.start, lo), min(v.end, hi), leaf_flags(v.perms)
            i += 1

    def _sync(self, start: int, end: int) -> None:
        self.tables.update(start, end, self._pieces)
        self._tlb_dirty = True
        self.flush_tlb()

    def flush_tlb(self) -> None:
        """Make page-table changes visible to the CPU (rewriting CR3 flushes QEMU's TLB)."""
        if self._tlb_dirty:
            from unicorn.x86_const import UC_X86_REG_CR3

            self.uc.reg_write(UC_X86_REG_CR3, self.tables.root)
            self._tlb_dirty = False

    # -- queries --------------------------------------------------------------------------------
    def find(self, addr: int) -> Vma | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.vmas[i].end > addr:
            return self.vmas[i]
        return None

    def is_free(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end) - 1
        return i < 0 or self.vmas[i].end <= start

    def _stale_overlaps(self, start: int, end: int) -> bool:
        return any(lo < end and start < hi for lo, hi in self._stale)

    def find_free(self, size: int, hint: int = 0) -> int:
        """Top-down placement below ``mmap_base`` as Linux does; a free ``hint`` wins."""
        lay = self.layout
        if (
            hint
            and hint >= lay.mmap_min
            and hint + size <= lay.task_size
            and self.is_free(hint, hint + size)
            and not self._stale_overlaps(hint, hint + size)
        ):
            return hint
        busy = [(v.start, v.end) for v in self.vmas if v.start < lay.mmap_base] + [
            r for r in self._stale if r[0] < lay.mmap_base
        ]
        busy.sort(reverse=True)
        top = lay.mmap_base
        for lo, hi in busy:
            if hi <= top - size:
                break
            top = min(top, lo)
        if top - size < lay.mmap_min:
            raise OutOfMemory()
        return top - size

    # -- changes --------------------------------------------------------------------------------
    def _account(self, delta: int) -> None:
        new = self.mapped_bytes + delta
        if delta > 0 and self.memory_limit is not None and new > self.memory_limit:
            raise OutOfMemory()
        self.mapped_bytes = new
        self.peak_bytes = max(self.peak_bytes, new)

    def map(self, start: int, size: int, perms: Perm, name: str = "", **info: object) -> int:
        """Map [start, start+size) zero-filled; any existing mapping there is replaced."""
        size = page_up(size)
        end = start + size
        if (
            start & (PAGE - 1)
            or start < self.layout.mmap_min
            or end > self.layout.task_size
            or size <= 0
        ):
            raise OutOfMemory()
        if len(self.vmas) >= MAX_MAPPINGS:
            raise OutOfMemory()
        if not self.is_free(start, end):
            self.unmap(start, size)
        self._account(size)
        try:
            self._back(start, end)
        except UcError:
            self.mapped_bytes -= size
            raise OutOfMemory() from None
        vma = Vma(start, end, perms, name)
        for key, value in info.items():
            setattr(vma, key, value)
        i = bisect.bisect_left(self._starts, start)
        self.vmas.insert(i, vma)
        self._starts.insert(i, start)
        self._sync(start, end)
        return start

    def _split_at(self, addr: int) -> None:
        v = self.find(addr)
        if v is None or v.start == addr:
            return
        i = bisect.bisect_right(self._starts, addr) - 1
        right = v.clone(addr, v.end)
        v.end = addr
        self.vmas.insert(i + 1, right)
        self._starts.insert(i + 1, addr)

    def _range(self, start: int, end: int) -> tuple[int, int]:
        """Split mappings at the edges and return the index range of those inside."""
        self._split_at(start)
        self._split_at(end)
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_left(self._starts, end)
        return lo, hi

    def unmap(self, start: int, size: int) -> None:
        end = start + page_up(size)
        lo, hi = self._range(start, end)
        if lo == hi:
            return
        gone = self.vmas[lo:hi]
        del self.vmas[lo:hi]
        del self._starts[lo:hi]
        self._sync(start, end)
        for v in gone:
            self.mapped_bytes -= v.end - v.start
            self._stale.append((v.start, v.end))

    def _back(self, start: int, end: int) -> None:
        """Give [start, end) Unicorn backing: reuse stale backing (zeroed), map the rest."""
        addr = start
        for lo, hi in sorted(r for r in self._stale if r[0] < end and start < r[1]):
            if addr < lo:
                self.uc.mem_map(addr, lo - addr, UC_PROT_ALL)
            a, b = max(lo, start), min(hi, end)
            for chunk in range(a, b, 0x100000):
                self.uc.mem_write(chunk, bytes(min(0x100000, b - chunk)))
            addr = max(addr, b)
        if addr < end:
            self.uc.mem_map(addr, end - addr, UC_PROT_ALL)
        kept: list[tuple[int, int]] = []
        for lo, hi in self._stale:
            if lo < end and start < hi:
                if lo < start:
                    kept.append((lo, start))
                if end < hi:
                    kept.append((end, hi))
            else:
                kept.append((lo, hi))
        self._stale = kept

    def release_stale(self) -> None:
        """Unmap backing of unmapped ranges. Only outside emulation: ``uc_mem_unmap`` called from a
        hook leaves a page fault pending in Unicorn 2.1.4's vCPU, delivered later as #PF or #DF."""
        for lo, hi in self._stale:
            self.uc.mem_unmap(lo, hi - lo)
        self._stale.clear()

    def protect(self, start: int, size: int, perms: Perm) -> None:
        """mprotect: ENOMEM (OutOfMemory) if part of the range is not mapped."""
        end = start + page_up(size)
        if not self.covered(start, end):
            raise OutOfMemory()
        lo, hi = self._range(start, end)
        for v in self.vmas[lo:hi]:
            v.perms = perms
        self._merge(lo - 1, hi + 1)
        self._sync(start, end)

    def _merge(self, lo: int, hi: int) -> None:
        lo = max(lo, 0)
        hi = min(hi, len(self.vmas))
        i = lo
        while i < hi - 1 and i < len(self.vmas) - 1:
            a, b = self.vmas[i], self.vmas[i + 1]
            if (
                a.end == b.start
                and a.perms == b.perms
                and a.name == b.name
                and a.shared == b.shared
                and (not a.inode or a.offset + (a.end - a.start) == b.offset)
            ):
                a.end = b.end
                del self.vmas[i + 1]
                del self._starts[i + 1]
                hi -= 1
            else:
                i += 1

    def covered(self, start: int, end: int) -> bool:
        addr = start
        while addr < end:
            v = self.find(addr)
            if v is None:
                return False
            addr = v.end
        return True

    # -- brk ------------------------------------------------------------------------------------
    def init_brk(self, addr: int) -> None:
        self.brk_start = self.brk = page_up(addr)

    def set_brk(self, new: int) -> int:
        """Linux brk semantics: returns the (possibly unchanged) break."""
        if new < self.brk_start:
            return self.brk
        old_top = page_up(self.brk)
        new_top = page_up(new)
        try:
            if new_top > old_top:
                if not self.is_free(old_top, new_top):
                    return self.brk
                self.map(old_top, new_top - old_top, Perm.RW, "[heap]")
                self._merge(
                    bisect.bisect_left(self._starts, old_top) - 1,
                    bisect.bisect_left(self._starts, old_top) + 1,
                )
            elif new_top < old_top:
                self.unmap(new_top, old_top - new_top)
        except OutOfMemory:
            return self.brk
        self.brk = new
        return new

    # -- guest memory access for handlers -------------------------------------------------------
    def check(self, addr: int, size: int, write: bool = False) -> None:
        if size <= 0:
            return
        end = addr + size
        need = Perm.W if write else Perm.R
        while addr < end:
            v = self.find(addr)
            if v is None or not (v.perms & need or (not write and v.perms & Perm.X)):
                raise GuestFault(addr, write)
            addr = v.end

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        self.check(addr, size)
        return bytes(self.uc.mem_read(addr, size))

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        self.check(addr, len(data), True)
        self.uc.mem_write(addr, data)

    def poke(self, addr: int, data: bytes) -> None:
        """Write ignoring guest permissions (loader, kernel-owned pages)."""
        self.uc.mem_write(addr, data)

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string, read page by page so it may end just before unmapped memory."""
        out = bytearray()
        while len(out) < limit:
            chunk_len = min(PAGE - (addr & (PAGE - 1)), limit - len(out))
            chunk = self.read(addr, chunk_len)
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
            addr += chunk_len
        raise GuestFault(addr)

    def maps_text(self) -> str:
        """Contents of /proc/self/maps."""
        lines = []
        for v in self.vmas:
            p = v.perms
            perm = (
                ("r" if p & Perm.R else "-")
                + ("w" if p & Perm.W else "-")
                + ("x" if p & Perm.X else "-")
            )
            perm += "s" if v.shared else "p"
            dev = "08:01" if v.inode else "00:00"
            head = f"{v.start:08x}-{v.end:08x} {perm} {v.offset:08x} {dev} {v.inode}"
            lines.append(f"{head:<72} {v.name}".rstrip() if v.name else head)
        return "\n".join(lines) + "\n"

    def release(self) -> None:
        self.vmas.clear()
        self._starts.clear()
