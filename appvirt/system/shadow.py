"""Shadow page tables for binary translation: the tables the CPU really walks while the guest's
own tables only describe what it wants.

Under ``bt`` the guest's CR3 is virtual. When the guest loads CR3 (or turns paging on), the
hypervisor walks the guest's tables (32-bit or PAE) and builds PAE tables of its own in an arena of
hypervisor memory that no guest-physical address reaches: every present guest mapping becomes the
same mapping (same frame, same R/W and U/S) in the shadow, a 4 MiB guest page two 2 MiB pages. The
guest's table pages are then write-watched, so a store to one of its entries updates the shadow
entry at once, as real shadow paging does by write-protecting guest page tables. ``invlpg`` and a
CR3 reload resynchronise; a page fault the guest's own tables would not raise is fixed up and
retried, never delivered. Frames inside the arena are never mapped, which keeps the shadow tables
themselves out of the guest's reach.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unicorn import UC_PROT_READ, UC_PROT_WRITE
from unicorn import x86_const as x86

from ..core.pagetables import LARGE, NX, PRESENT, USER, WRITABLE, PageFault, Paging
from .exits import Exit
from .mmu import PAGE
from .vcpu import CR0_PE, CR0_PG, CR4_PAE, CR4_PSE

if TYPE_CHECKING:
    from .hypervisor import Hypervisor

_ZERO = bytes(PAGE)
LEAF_KEEP = PRESENT | WRITABLE | USER  # what a shadow leaf copies from the guest entry
ACCESSED_DIRTY = 0x60


@dataclass(slots=True)
class ShadowStats:
    rebuilds: int = 0
    entries_synced: int = 0
    table_writes: int = 0
    hidden_faults: int = 0
    invlpg: int = 0


@dataclass(slots=True)
class GuestTable:
    """A page of the guest's tables and the linear range each of its entries covers."""

    level: int  # 0: the 32-bit PD or a PAE PD; 1: a page table
    bases: set[int] = field(default_factory=set)  # linear address of entry 0, per use


class ShadowPager:
    def __init__(self, hv: Hypervisor, arena_base: int, arena_size: int) -> None:
        self.hv = hv
        self.vcpu = hv.vcpu
        self.mem = hv.mem
        self.uc = hv.machine.uc
        self.arena_base = arena_base
        self.arena_end = arena_base + arena_size
        self.uc.mem_map(arena_base, arena_size, UC_PROT_READ | UC_PROT_WRITE)
        self._next = arena_base
        self._free: list[int] = []
        self.root = 0
        self._pds: list[int] = []  # the four shadow page directories
        self._pts: dict[int, int] = {}  # linear >> 21 -> shadow page table
        self.tables: dict[int, GuestTable] = {}  # guest table page -> role
        self.aliases: dict[int, set[int]] = {}  # guest frame -> linear pages mapping it
        self.active = False
        self._overlay: tuple[int, bytes] | None = None
        self.stats_ = ShadowStats()
        self.mem.add_watcher("pagetable", self._table_written)

    # -- arena -----------------------------------------------------------------------------------
    def _alloc(self) -> int:
        if self._free:
            page = self._free.pop()
        else:
            if self._next >= self.arena_end:
                raise MemoryError("shadow page-table arena exhausted")
            page = self._next
            self._next += PAGE
        self.uc.mem_write(page, _ZERO)
        return page

    def _put(self, addr: int, value: int) -> None:
        self.uc.mem_write(addr, struct.pack("<Q", value))

    def pages_in_use(self) -> int:
        return (self._next - self.arena_base) // PAGE - len(self._free)

    # -- control-register changes ------------------------------------------------------------------
    def cr0_changed(self) -> None:
        """The guest changed CR0, CR3 or CR4: put the real CPU in the matching state."""
        v = self.vcpu.virt
        paging = bool(v.cr0 & CR0_PG) and bool(v.cr0 & CR0_PE)
        real_cr0 = v.cr0 & ~CR0_PG
        if paging:
            self.load(v.cr3)
            self.uc.reg_write(x86.UC_X86_REG_CR4, (v.cr4 & ~CR4_PSE) | CR4_PAE)
            self.uc.reg_write(x86.UC_X86_REG_CR3, self.root)
            self.uc.reg_write(x86.UC_X86_REG_CR0, real_cr0 | CR0_PG)
        else:
            self._drop()
            self.uc.reg_write(x86.UC_X86_REG_CR0, real_cr0)
            self.uc.reg_write(x86.UC_X86_REG_CR4, v.cr4 & ~(CR4_PAE | CR4_PSE))
        self.active = paging

    def cr3_loaded(self) -> None:
        if self.active:
            self.load(self.vcpu.virt.cr3)
            self.uc.reg_write(x86.UC_X86_REG_CR3, self.root)

    # -- building ----------------------------------------------------------------------------------
    def _drop(self) -> None:
        for page in self.tables:
            self.mem.unwatch_writes(page, "pagetable")
        self.tables.clear()
        self.aliases.clear()
        for page in (*self._pds, *self._pts.values()):
            self._free.append(page)
        if self.root:
            self._free.append(self.root)
        self.root = 0
        self._pds = []
        self._pts.clear()

    def load(self, cr3: int) -> None:
        """Rebuild the whole shadow from the guest tables at ``cr3``."""
        self._drop()
        self.stats_.rebuilds += 1
        self.root = self._alloc()
        self._pds = [self._alloc() for _ in range(4)]
        for i, pd in enumerate(self._pds):
            self._put(self.root + i * 8, pd | PRESENT)
        paging = self.vcpu.paging()
        if paging is Paging.BITS32:
            pd = cr3 & 0xFFFFF000
            self._watch(pd, 0, 0)
            for i in range(1024):
                self._sync_pde32(pd, i)
        elif paging is Paging.PAE:
            pdpt = cr3 & 0xFFFFFFE0
            for i in range(4):
                pdpte = self._read(pdpt + i * 8, 8)
                if pdpte & PRESENT:
                    pd = pdpte & 0x000FFFFFFFFFF000
                    self._watch(pd, 0, i << 30)
                    for j in range(512):
                        self._sync_pde_pae(pd, (i << 30) | (j << 21), j)
        # 4-level guests are not supported under bt (docs/system-vm.md).

    def _watch(self, page: int, level: int, base: int) -> None:
        table = self.tables.setdefault(page, GuestTable(level))
        table.bases.add(base)
        self.mem.watch_writes(page, "pagetable")

    def _read(self, gpa: int, size: int) -> int:
        if self._overlay is not None and self._overlay[0] <= gpa < self._overlay[0] + PAGE:
            page, data = self._overlay
            return int.from_bytes(data[gpa - page : gpa - page + size], "little")
        try:
            return self.mem.read_u(gpa, size)
        except Exception:  # noqa: BLE001 - a table outside memory reads as empty
            return 0

    def _shadow_pt(self, linear: int, create: bool) -> int | None:
        key = linear >> 21
        pt = self._pts.get(key)
        if pt is None and create:
            pt = self._alloc()
            self._pts[key] = pt
            pd = self._pds[(linear >> 30) & 3]
            self._put(pd + ((linear >> 21) & 511) * 8, pt | PRESENT | WRITABLE | USER)
        return pt

    def _clear_2m(self, linear: int) -> None:
        pd = self._pds[(linear >> 30) & 3]
        self._put(pd + ((linear >> 21) & 511) * 8, 0)
        pt = self._pts.pop(linear >> 21, None)
        if pt is not None:
            self._free.append(pt)

    def _allowed(self, frame: int) -> bool:
        return not self.arena_base <= frame < self.arena_end

    def _leaf(self, linear: int, frame: int, flags: int) -> None:
        """Shadow 4 KiB page ``linear`` -> ``frame`` with the guest's ``flags``."""
        pt = self._shadow_pt(linear, True)
        assert pt is not None
        slot = pt + ((linear >> 12) & 511) * 8
        if flags & PRESENT and self._allowed(frame):
            self._put(slot, frame | (flags & LEAF_KEEP) | ACCESSED_DIRTY)
            self.aliases.setdefault(frame, set()).add(linear)
            if self.hv.translator is not None:
                self.hv.translator.mapped(linear, frame)
        else:
            self._put(slot, 0)
        self.stats_.entries_synced += 1

    def _large(self, linear: int, frame: int, flags: int) -> None:
        """Shadow 2 MiB page at ``linear``."""
        self._clear_2m(linear)
        pd = self._pds[(linear >> 30) & 3]
        if flags & PRESENT and self._allowed(frame):
            value = frame | (flags & LEAF_KEEP) | ACCESSED_DIRTY | LARGE
            self._put(pd + ((linear >> 21) & 511) * 8, value)
            for off in range(0, 1 << 21, PAGE):
                self.aliases.setdefault(frame + off, set()).add(linear + off)
            if self.hv.translator is not None:
                self.hv.translator.mapped_range(linear, frame, 1 << 21)
        self.stats_.entries_synced += 1

    def _sync_pde32(self, pd: int, index: int) -> None:
        linear = index << 22
        pde = self._read(pd + index * 4, 4)
        for half in (0, 1):
            self._clear_2m(linear + (half << 21))
        if not pde & PRESENT:
            return
        if pde & LARGE and self.vcpu.cr4 & CR4_PSE:
            frame = (pde & 0xFFC00000) | ((pde >> 13) & 0xFF) << 32
            for half in (0, 1):
                self._large(linear + (half << 21), frame + (half << 21), pde)
            return
        pt = pde & 0xFFFFF000
        self._watch(pt, 1, linear)
        for i in range(1024):
            self._sync_pte32(pt, linear, i, pde)

    def _sync_pte32(self, pt: int, base: int, index: int, pde: int | None = None) -> None:
        pte = self._read(pt + index * 4, 4)
        flags = pte
        if pde is not None:
            flags = (pte & ~(WRITABLE | USER)) | (pte & pde & (WRITABLE | USER))
        self._leaf(base + (index << 12), pte & 0xFFFFF000, flags)

    def _sync_pde_pae(self, pd: int, linear: int, index: int) -> None:
        pde = self._read(pd + index * 8, 8)
        self._clear_2m(linear)
        if not pde & PRESENT:
            return
        if pde & LARGE:
            self._large(linear, pde & 0x000FFFFFFFE00000, pde & ~NX)
            return
        pt = pde & 0x000FFFFFFFFFF000
        self._watch(pt, 1, linear)
        for i in range(512):
            pte = self._read(pt + i * 8, 8)
            flags = (pte & ~(WRITABLE | USER)) | (pte & pde & (WRITABLE | USER))
            self._leaf(linear + (i << 12), pte & 0x000FFFFFFFFFF000, flags)

    # -- keeping in step ---------------------------------------------------------------------------
    def _table_written(self, page: int, addr: int, data: bytes) -> None:
        """A store to a guest table page (before it happens): apply it to the shadow."""
        table = self.tables.get(page)
        if table is None or not self.active:
            return
        self.stats_.table_writes += 1
        self.hv.exits.count(Exit.PAGE_TABLE_WRITE)
        old = bytearray(self.mem.read(page, PAGE))
        off = addr - page
        old[off : off + len(data)] = data
        new = bytes(old)
        width = 4 if self.vcpu.paging() is Paging.BITS32 else 8
        first = off // width
        last = (off + len(data) - 1) // width
        # The store has not happened yet: entries of this page are read from a copy with it.
        self._overlay = (page, new)
        try:
            for index in range(first, last + 1):
                for base in list(table.bases):
                    self._resync_entry(page, table, base, index, width)
        finally:
            self._overlay = None

    def _resync_entry(
        self, page: int, table: GuestTable, base: int, index: int, width: int
    ) -> None:
        if width == 4:
            if table.level == 0:
                self._sync_pde32(page, index)
            else:
                pde = self._pde_for(base)
                self._sync_pte32(page, base, index, pde)
        else:
            if table.level == 0:
                self._sync_pde_pae(page, base | (index << 21), index)
            else:
                pde = self._pde_for(base)
                pte = self._read(page + index * 8, 8)
                flags = (pte & ~(WRITABLE | USER)) | (pte & pde & (WRITABLE | USER))
                self._leaf(base + (index << 12), pte & 0x000FFFFFFFFFF000, flags)

    def _pde_for(self, linear: int) -> int:
        """The guest directory entry that covers ``linear`` (for its R/W and U/S bits)."""
        cr3 = self.vcpu.virt.cr3
        if self.vcpu.paging() is Paging.BITS32:
            return self._read((cr3 & 0xFFFFF000) + (linear >> 22) * 4, 4)
        pdpte = self._read((cr3 & 0xFFFFFFE0) + ((linear >> 30) & 3) * 8, 8)
        return self._read((pdpte & 0x000FFFFFFFFFF000) + ((linear >> 21) & 511) * 8, 8)

    def invalidate(self, linear: int) -> None:
        """``invlpg``: bring the shadow entry for ``linear`` back in step and flush the TLB."""
        self.stats_.invlpg += 1
        if self.active:
            self._resync_linear(linear)
        self.hv.machine.flush_tlb()

    def _resync_linear(self, linear: int) -> None:
        try:
            t = self.vcpu.translate(linear & ~(PAGE - 1))
        except PageFault:
            pt = self._shadow_pt(linear, False)
            if pt is not None:
                self._put(pt + ((linear >> 12) & 511) * 8, 0)
            return
        flags = PRESENT | (WRITABLE if t.writable else 0) | (USER if t.user else 0)
        if t.page_size == PAGE:
            self._leaf(linear & ~(PAGE - 1), t.phys & ~(PAGE - 1), flags)
        else:
            # a large guest page: shadow only the 4 KiB around the address (enough to go on)
            self._clear_2m(linear & ~((1 << 21) - 1))
            base = linear & ~((1 << 21) - 1)
            frame = t.phys - (linear - base)
            for off in range(0, 1 << 21, PAGE):
                self._leaf(base + off, frame + off, flags)

    def hidden_fault(self, cr2: int, error_code: int) -> bool:
        """A #PF under the shadow: True if the guest's own tables allow the access (fixed up)."""
        if not self.active:
            return False
        try:
            self.vcpu.translate(
                cr2,
                write=bool(error_code & 2),
                user=bool(error_code & 4),
                fetch=bool(error_code & 16),
            )
        except PageFault:
            self.vcpu.virt.cr2 = cr2
            return False
        self.stats_.hidden_faults += 1
        self._resync_linear(cr2)
        self.hv.machine.flush_tlb()
        return True

    def stats(self) -> dict[str, int]:
        s = self.stats_
        return {
            "shadow_rebuilds": s.rebuilds,
            "shadow_entries_synced": s.entries_synced,
            "shadow_table_writes": s.table_writes,
            "shadow_hidden_faults": s.hidden_faults,
            "shadow_invlpg": s.invlpg,
            "shadow_pages": self.pages_in_use(),
        }
