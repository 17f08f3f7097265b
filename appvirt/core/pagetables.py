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


def leaf_flags(perms: Perm) -> int:
    """Entry bits for a guest page with ``perms`` (0 means not present)."""
    if not perms & (Perm.R | Perm.W | Perm.X):
        return 0
    flags = PRESENT | USER | ACCESSED | DIRTY
    if perms & Perm.W:
        flags |= WRITABLE
    if not perms & Perm.X:
        flags |= NX
    return flags


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

    def _update_chunk(self, chunk: int, parts: list[tuple[int, int, int]]) -> None:
        pd = self._directory(chunk)
        slot = pd + ((chunk >> 21) & 511) * 8
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
            first = (lo - chunk) >> 12
            for i in range(first, first + ((hi - lo) >> 12)):
                entries[i] = (chunk + (i << 12)) | flags
        pt = old_pt if old_pt is not None else self._alloc()
        self._pt[key] = pt
        self._write(pt, struct.pack("<512Q", *entries))
        if old_pt is None:
            self._write(slot, struct.pack("<Q", pt | DIR_FLAGS))
