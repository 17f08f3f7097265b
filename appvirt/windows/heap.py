"""Guest heaps: HeapAlloc, malloc and LocalAlloc all end here.

Blocks live in guest memory; their bookkeeping lives in Python (address -> size), so a guest that
scribbles past a block cannot corrupt the allocator. Small blocks come from 1 MiB arenas with
free lists per 16-byte size class; large blocks get a mapping of their own.
"""

from __future__ import annotations

from ..core.memory import OutOfMemory, page_up
from ..loader.image import Perm

ARENA = 1 << 20
LARGE = 256 << 10
ALIGN = 16


class Heap:
    """One Windows heap (a HANDLE): the process heap, msvcrt's heap, or one from HeapCreate."""

    def __init__(self, mem: object, handle: int = 0, name: str = "[heap]") -> None:
        self.mem = mem
        self.handle = handle
        self.name = name
        self.sizes: dict[int, int] = {}  # live block -> requested size
        self._free: dict[int, list[int]] = {}  # rounded size -> free blocks
        self._rounded: dict[int, int] = {}  # live block -> rounded size
        self._large: set[int] = set()
        self._next = 0
        self._end = 0
        self._arenas: list[int] = []

    def alloc(self, size: int, zero: bool = False) -> int:
        """A block of ``size`` bytes (0 gives a unique block); raises OutOfMemory."""
        rounded = max(ALIGN, (size + ALIGN - 1) & ~(ALIGN - 1))
        mem = self.mem
        if rounded >= LARGE:
            span = page_up(rounded)
            addr = mem.map(mem.find_free(span), span, Perm.RW, self.name)  # type: ignore[attr-defined]
            self._large.add(addr)
        else:
            free = self._free.get(rounded)
            if free:
                addr = free.pop()
                if zero:
                    mem.poke(addr, bytes(rounded))  # type: ignore[attr-defined]
            else:
                if self._next + rounded > self._end:
                    start = mem.find_free(ARENA)  # type: ignore[attr-defined]
                    mem.map(start, ARENA, Perm.RW, self.name)  # type: ignore[attr-defined]
                    self._arenas.append(start)
                    self._next, self._end = start, start + ARENA
                addr = self._next
                self._next += rounded
        self.sizes[addr] = size
        self._rounded[addr] = rounded
        return addr

    def free(self, addr: int) -> bool:
        rounded = self._rounded.pop(addr, None)
        if rounded is None:
            return False
        del self.sizes[addr]
        if addr in self._large:
            self._large.discard(addr)
            self.mem.unmap(addr, page_up(rounded))  # type: ignore[attr-defined]
        else:
            self._free.setdefault(rounded, []).append(addr)
        return True

    def realloc(self, addr: int, size: int) -> int:
        """Grow or shrink a block, moving it when it does not fit (0 when out of memory)."""
        old = self.sizes.get(addr)
        if old is None:
            return 0
        if size <= self._rounded[addr]:
            self.sizes[addr] = size
            return addr
        try:
            new = self.alloc(size)
        except OutOfMemory:
            return 0
        mem = self.mem
        mem.poke(new, mem.uc.mem_read(addr, min(old, size)))  # type: ignore[attr-defined]
        self.free(addr)
        return new

    def size(self, addr: int) -> int | None:
        return self.sizes.get(addr)

    def owns(self, addr: int) -> bool:
        return addr in self.sizes

    def destroy(self) -> None:
        for addr in list(self._large):
            self.free(addr)
        for start in self._arenas:
            self.mem.unmap(start, ARENA)  # type: ignore[attr-defined]
        self._arenas.clear()
        self.sizes.clear()
        self._rounded.clear()
        self._free.clear()
