"""Identity page tables that appvirt builds for a process VM's guest.

Unicorn 2 sends every store through a slow path unless the TLB entry lacks EXEC, and without guest
paging every TLB entry is RWX (FACTS.md). So the process VM runs with paging on: these tables map
each guest page to the same physical address with its real permissions (data NX, code read-only,
PROT_NONE not present), and the CPU walks them in C on a TLB miss. The tables live in an arena of
physical memory that no guest virtual address maps, so the guest cannot see or change them.

Two formats: 4-level for x86-64 and PAE (3-level, with NX) for i386. Chunks of 2 MiB that one
mapping covers whole use a large page; the rest get a 4 KiB page table.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterable

from ..loader.image import Perm

PAGE = 0x1000
CHUNK = 0x200000
PRESENT = 1
WRITABLE = 2
USER = 4
ACCESSED = 0x20
DIRTY = 0x40
LARGE = 0x80
NX = 1 << 63
DIR_FLAGS = PRESENT | WRITABLE | USER | ACCESSED
_ZERO_TABLE = bytes(PAGE)


def _leaf_flags(perms: int) -> int:
    if not perms & (Perm.R | Perm.W | Perm.X):
        return 0
    flags = PRESENT | USER | ACCESSED | DIRTY
    if perms & Perm.W:
        flags |= WRITABLE
    if not perms & Perm.X:
        flags |= NX
    return flags


_LEAF_FLAGS = tuple(_leaf_flags(p) for p in range(8))  # IntFlag arithmetic is slow: look it up


def leaf_flags(perms: Perm) -> int:
    """Entry bits for a guest page with ``perms`` (0 means not present)."""
    return _LEAF_FLAGS[int(perms) & 7]


class PageTables:
    """Builds and updates identity tables inside a physical arena of the guest's Unicorn instance."""

    def __init__(
        self,
        write: Callable[[int, bytes], None],
        map_arena: Callable[[int, int], None],
        arena_base: int,
        pae32: bool,
    ) -> None:
        self._write = write
        self._map_arena = map_arena
        self._arena_next = arena_base
        self._arena_end = arena_base
        self.pae32 = pae32
        self._free: list[int] = []
        self.tables = 0
        self.root = self._alloc()
        self._pd: dict[int, int] = {}  # va >> 30 -> page directory
        self._pdpt: dict[int, int] = {}  # va >> 39 -> pdpt (4-level only)
        self._pt: dict[int, int] = {}  # va >> 21 -> page table
        self._alias_tables: dict[int, int] = {}  # frame -> the table of ``alias``
        if pae32:
            # PAE: the PDPT's four entries point at four page directories, present from the start.
            entries = []
            for i in range(4):
                pd = self._alloc()
                self._pd[i] = pd
                entries.append(pd | PRESENT)
            self._write(self.root, struct.pack("<4Q", *entries))

    def _alloc(self) -> int:
        if self._free:
            addr = self._free.pop()
            self._write(addr, _ZERO_TABLE)
            return addr
        if self._arena_next >= self._arena_end:
            grow = 0x100000
            self._map_arena(self._arena_end, grow)
            self._arena_end += grow
        addr = self._arena_next
        self._arena_next += PAGE
        self.tables += 1
        return addr

    def _directory(self, va: int) -> int:
        """The page directory covering ``va``, created on demand (4-level)."""
        key = va >> 30
        pd = self._pd.get(key)
        if pd is not None:
            return pd
        top = va >> 39
        pdpt = self._pdpt.get(top)
        if pdpt is None:
            pdpt = self._alloc()
            self._pdpt[top] = pdpt
            self._write(self.root + (top & 511) * 8, struct.pack("<Q", pdpt | DIR_FLAGS))
        pd = self._alloc()
        self._pd[key] = pd
        self._write(pdpt + (key & 511) * 8, struct.pack("<Q", pd | DIR_FLAGS))
        return pd

    def update(
        self, start: int, end: int, pieces: Callable[[int, int], Iterable[tuple[int, int, int]]]
    ) -> None:
        """Rewrite the entries of every 2 MiB chunk touching [start, end).

        ``pieces(chunk_start, chunk_end)`` yields (start, end, leaf flags) of mapped ranges in the
        chunk, sorted and clipped to it; flags 0 means not present.
        """
        chunk = start & ~(CHUNK - 1)
        while chunk < end:
            self._update_chunk(chunk, list(pieces(chunk, chunk + CHUNK)))
            chunk += CHUNK

    def _pde(self, chunk: int) -> int:
        """The address of the page-directory entry that maps the 2 MiB chunk at ``chunk``."""
        return self._directory(chunk) + ((chunk >> 21) & 511) * 8

    def arena_page(self, data: bytes) -> int:
        """A page of the arena (which no guest address maps) holding ``data``."""
        page = self._alloc()
        self._write(page, data)
        return page

    def alias(self, start: int, end: int, frame: int) -> None:
        """Map every 4 KiB page of the whole chunks [start, end) to the arena page ``frame``,
        read-only and executable, through one page table they share; ``update`` over the range
        takes the aliases away again (that table is not one of ``update``'s)."""
        table = self._alias_tables.get(frame)
        if table is None:
            table = self._alloc()
            self._write(table, struct.pack("<Q", frame | PRESENT | USER | ACCESSED) * 512)
            self._alias_tables[frame] = table
        for chunk in range(start, end, CHUNK):
            self._write(self._pde(chunk), struct.pack("<Q", table | DIR_FLAGS))

    def _update_chunk(self, chunk: int, parts: list[tuple[int, int, int]]) -> None:
        slot = self._pde(chunk)
        key = chunk >> 21
        old_pt = self._pt.get(key)
        if len(parts) == 1 and parts[0][0] == chunk and parts[0][1] == chunk + CHUNK:
            flags = parts[0][2]
            entry = (chunk | flags | LARGE) if flags else 0
            self._write(slot, struct.pack("<Q", entry))
            if old_pt is not None:
                del self._pt[key]
                self._free.append(old_pt)
            return
        parts = [p for p in parts if p[2]]
        if not parts:
            self._write(slot, struct.pack("<Q", 0))
            if old_pt is not None:
                del self._pt[key]
                self._free.append(old_pt)
            return
        entries = [0] * 512
        for lo, hi, flags in parts:
            # Flags sit outside the address bits, so consecutive entries differ by one page.
            first = lo | flags
            entries[(lo - chunk) >> 12 : (hi - chunk) >> 12] = range(first, first + hi - lo, PAGE)
        pt = old_pt if old_pt is not None else self._alloc()
        self._pt[key] = pt
        self._write(pt, struct.pack("<512Q", *entries))
        if old_pt is None:
            self._write(slot, struct.pack("<Q", pt | DIR_FLAGS))


# -- walking page tables (System VM, and any caller that needs guest-virtual -> physical) ---------
class Paging(enum.Enum):
    """The page-table format the CPU is using (from CR0.PG, CR4.PAE and EFER.LMA)."""

    OFF = "off"
    BITS32 = "32-bit"
    PAE = "PAE"
    LONG4 = "4-level"


PF_PRESENT = 1
PF_WRITE = 2
PF_USER = 4
PF_FETCH = 16


class PageFault(Exception):
    """A translation the tables refuse; ``error_code`` is what a #PF pushes."""

    def __init__(self, va: int, error_code: int) -> None:
        super().__init__(f"page fault at {va:#x} (error {error_code:#x})")
        self.va = va
        self.error_code = error_code


class Translation:
    """One walk's result (a plain slotted class: dataclasses cost launch time)."""

    __slots__ = ("phys", "writable", "user", "executable", "page_size", "entries")

    def __init__(self, phys: int, writable: bool, user: bool, executable: bool, page_size: int,
                 entries: tuple[int, ...]) -> None:  # fmt: skip
        self.phys = phys
        self.writable = writable
        self.user = user
        self.executable = executable
        self.page_size = page_size
        self.entries = entries  # physical addresses of the entries read, root first

    def __repr__(self) -> str:
        return f"Translation(phys={self.phys:#x}, page_size={self.page_size:#x})"


def walk(
    read_entry: Callable[[int, int], int],
    paging: Paging,
    root: int,
    va: int,
    *,
    write: bool = False,
    user: bool = False,
    fetch: bool = False,
    wp: bool = True,
    nxe: bool = True,
    pse: bool = True,
) -> Translation:
    """Translate ``va`` through the tables at ``root`` as the CPU would, checking the access.

    ``read_entry(physical address, size)`` returns one little-endian table entry (4 or 8 bytes).
    Raises ``PageFault`` with the error code the CPU would push. ``wp`` is CR0.WP (supervisor
    writes honour read-only pages), ``nxe`` EFER.NXE, ``pse`` CR4.PSE (32-bit 4 MiB pages).
    """
    if paging is Paging.OFF:
        return Translation(va & 0xFFFFFFFF, True, True, True, PAGE, ())
    access = (PF_WRITE if write else 0) | (PF_USER if user else 0) | (PF_FETCH if fetch else 0)
    if paging is Paging.BITS32:
        levels = [(22, 0x3FF, 4), (12, 0x3FF, 4)]
        table = root & 0xFFFFF000
        va &= 0xFFFFFFFF
    elif paging is Paging.PAE:
        levels = [(30, 0x3, 8), (21, 0x1FF, 8), (12, 0x1FF, 8)]
        table = root & 0xFFFFFFE0
        va &= 0xFFFFFFFF
    else:
        levels = [(39, 0x1FF, 8), (30, 0x1FF, 8), (21, 0x1FF, 8), (12, 0x1FF, 8)]
        table = root & 0x000FFFFFFFFFF000
    writable = user_ok = executable = True
    entries: list[int] = []
    for depth, (shift, mask, size) in enumerate(levels):
        slot = table + ((va >> shift) & mask) * size
        entries.append(slot)
        entry = read_entry(slot, size)
        if not entry & PRESENT:
            raise PageFault(va, access & ~PF_FETCH | (access & PF_FETCH if nxe else 0))
        pdpte = paging is Paging.PAE and depth == 0  # PAE PDPTEs carry no R/W, U/S or NX
        if not pdpte:
            writable &= bool(entry & WRITABLE)
            user_ok &= bool(entry & USER)
            if nxe and size == 8 and entry & NX:
                executable = False
        last = depth == len(levels) - 1
        large = not last and not pdpte and bool(entry & LARGE) and shift <= 30
        if paging is Paging.BITS32 and large and not pse:
            large = False
        if last or large:
            if size == 4 and large:  # 32-bit 4 MiB page: bits 13..20 hold physical bits 32..39
                frame = (entry & 0xFFC00000) | ((entry >> 13) & 0xFF) << 32
            else:
                frame = entry & 0x000FFFFFFFFFF000 & ~((1 << shift) - 1)
            page_size = 1 << shift
            _check(va, access, writable, user_ok, executable, wp)
            return Translation(
                frame | (va & (page_size - 1)),
                writable,
                user_ok,
                executable,
                page_size,
                tuple(entries),
            )
        table = entry & (0x000FFFFFFFFFF000 if size == 8 else 0xFFFFF000)
    raise AssertionError("unreachable")


def _check(va: int, access: int, writable: bool, user_ok: bool, executable: bool, wp: bool) -> None:
    user = bool(access & PF_USER)
    denied = (
        (user and not user_ok)
        or (access & PF_WRITE and not writable and (user or wp))
        or (access & PF_FETCH and not executable)
    )
    if denied:
        raise PageFault(va, access | PF_PRESENT)
