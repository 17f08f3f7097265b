"""The virtual MMU: guest-physical memory slots, page watches, and guest-virtual translation.

Guest-physical memory is a set of ``MemorySlot``s, each a range of guest-physical addresses backed
by an anonymous host mapping (the host kernel backs a page only when it is first touched) that
Unicorn maps in place with ``mem_map_ptr``: the hypervisor and the guest see the same bytes, and
nothing outside the slots is host memory the guest can reach. Addresses that no slot or device
covers read as all-ones and ignore writes (an open bus), each access counted as an exit.

Pages can be *watched*: a write-watched page is mapped without write permission, so a guest store
reaches ``on_write`` (dirty logging, the translator's code pages, shadowed page tables), and in a
run that translates code, pages are mapped without execute permission until they were scanned.
Page-table walks use ``core.pagetables.walk``; the MMU counts what it did for ``--stats``.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable
from dataclasses import dataclass, field

from unicorn import UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, UcError

from ..core.pagetables import PageFault, Paging, Translation, walk
from ..core.sysmachine import SystemMachine

PAGE = 0x1000
OPEN_BUS = 0xFFFFFFFFFFFFFFFF

WriteWatcher = Callable[[int, int, bytes], None]


class GuestMemoryError(Exception):
    """The hypervisor was asked to touch guest-physical memory that no RAM slot holds."""


@dataclass(slots=True)
class MemorySlot:
    """Guest-physical [gpa, gpa + size) backed by ``size`` bytes of ``host`` from ``offset``."""

    gpa: int
    size: int
    host: mmap.mmap
    offset: int = 0
    name: str = ""
    rom: bool = False  # guest writes are dropped
    dirty: bytearray = field(default_factory=bytearray)  # one byte per page, 1 = written

    def __post_init__(self) -> None:
        self.dirty = bytearray(self.size // PAGE)

    def contains(self, gpa: int) -> bool:
        return self.gpa <= gpa < self.gpa + self.size

    @property
    def host_address(self) -> int:
        return ctypes.addressof(ctypes.c_char.from_buffer(self.host)) + self.offset


@dataclass(slots=True)
class MmuStats:
    translations: int = 0
    walk_faults: int = 0
    write_watch_hits: int = 0
    open_bus_reads: int = 0
    open_bus_writes: int = 0
    protection_changes: int = 0


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.mincore.restype = ctypes.c_int


def resident_pages(buf: mmap.mmap, offset: int, size: int) -> int:
    """How many host pages of ``buf[offset:offset+size]`` the host has actually backed."""
    host_page = mmap.PAGESIZE
    start = ctypes.addressof(ctypes.c_char.from_buffer(buf)) + offset
    aligned = start & ~(host_page - 1)
    length = size + (start - aligned)
    vec = (ctypes.c_ubyte * ((length + host_page - 1) // host_page))()
    if _libc.mincore(aligned, length, vec) != 0:
        return 0
    return sum(b & 1 for b in vec) * host_page // PAGE


class GuestMemory:
    """Every guest-physical address of one VM: RAM and ROM slots, watches, open bus."""

    def __init__(self, machine: SystemMachine, exec_needs_scan: bool = False) -> None:
        self.machine = machine
        self.uc = machine.uc
        self.slots: list[MemorySlot] = []
        self._buffers: list[mmap.mmap] = []
        self.stats = MmuStats()
        self.exec_needs_scan = exec_needs_scan  # pages run only after ``allow_exec``
        self._executable: set[int] = set()
        self._write_watch: dict[int, set[str]] = {}
        self._watchers: dict[str, WriteWatcher] = {}
        self._dirty_log = False
        self._pending_unwatch: set[int] = set()
        self.on_open_bus: Callable[[bool], None] | None = None  # (is_write) -> count an exit
        machine.on_write_protected(self._write_fault)

    # -- building the physical map ---------------------------------------------------------------
    def new_buffer(self, size: int) -> mmap.mmap:
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._buffers.append(buf)
        return buf

    def add_slot(self, slot: MemorySlot) -> MemorySlot:
        perms = UC_PROT_READ | (0 if self.exec_needs_scan else UC_PROT_EXEC)
        if not slot.rom:
            perms |= UC_PROT_WRITE
        self.uc.mem_map_ptr(slot.gpa, slot.size, perms, slot.host_address)
        self.slots.append(slot)
        self.slots.sort(key=lambda s: s.gpa)
        if slot.rom:
            for page in range(slot.gpa, slot.gpa + slot.size, PAGE):
                self._write_watch.setdefault(page, set()).add("rom")
        return slot

    def add_open_bus(self, start: int, end: int) -> None:
        """Guest-physical [start, end) answers like an empty bus: reads all ones, writes vanish."""
        if end <= start:
            return

        def read(_uc: object, _offset: int, size: int, _data: object) -> int:
            self.stats.open_bus_reads += 1
            if self.on_open_bus is not None:
                self.on_open_bus(False)
            return OPEN_BUS & ((1 << (8 * size)) - 1)

        def write(_uc: object, _offset: int, _size: int, _value: int, _data: object) -> None:
            self.stats.open_bus_writes += 1
            if self.on_open_bus is not None:
                self.on_open_bus(True)

        self.uc.mmio_map(start, end - start, read, None, write, None)

    def slot_of(self, gpa: int) -> MemorySlot | None:
        for slot in self.slots:
            if slot.contains(gpa):
                return slot
        return None

    @property
    def ram_bytes(self) -> int:
        return sum(s.size for s in self.slots if not s.rom)

    @property
    def ram_top(self) -> int:
        """The first guest-physical address above the highest RAM slot."""
        return max((s.gpa + s.size for s in self.slots if not s.rom), default=0)

    # -- hypervisor access -----------------------------------------------------------------------
    def read(self, gpa: int, size: int) -> bytes:
        """Guest-physical bytes; raises GuestMemoryError outside the slots."""
        out = bytearray()
        while size > 0:
            slot = self.slot_of(gpa)
            if slot is None:
                raise GuestMemoryError(f"guest-physical {gpa:#x} is not memory")
            off = gpa - slot.gpa
            n = min(size, slot.size - off)
            start = slot.offset + off
            out += slot.host[start : start + n]
            gpa += n
            size -= n
        return bytes(out)

    def write(self, gpa: int, data: bytes) -> None:
        """Store as the hypervisor (DMA, loader, event frames): watchers see it like a guest store."""
        pos = 0
        while pos < len(data):
            slot = self.slot_of(gpa + pos)
            if slot is None:
                raise GuestMemoryError(f"guest-physical {gpa + pos:#x} is not memory")
            off = gpa + pos - slot.gpa
            n = min(len(data) - pos, slot.size - off, PAGE - (off & (PAGE - 1)))
            page = gpa + pos & ~(PAGE - 1)
            self._notify(page, gpa + pos, data[pos : pos + n])
            start = slot.offset + off
            slot.host[start : start + n] = data[pos : pos + n]
            slot.dirty[off // PAGE] = 1
            pos += n

    def load(self, gpa: int, data: bytes) -> None:
        """Put an image into memory before the guest runs (ROM included, no watchers)."""
        pos = 0
        while pos < len(data):
            slot = self.slot_of(gpa + pos)
            if slot is None:
                raise GuestMemoryError(f"guest-physical {gpa + pos:#x} is not memory")
            off = gpa + pos - slot.gpa
            n = min(len(data) - pos, slot.size - off)
            slot.host[slot.offset + off : slot.offset + off + n] = data[pos : pos + n]
            pos += n

    def read_u(self, gpa: int, size: int) -> int:
        return int.from_bytes(self.read(gpa, size), "little")

    # -- translation -----------------------------------------------------------------------------
    def translate(
        self,
        paging: Paging,
        root: int,
        va: int,
        *,
        write: bool = False,
        user: bool = False,
        fetch: bool = False,
        wp: bool = True,
        nxe: bool = False,
        pse: bool = True,
    ) -> Translation:
        """Guest-virtual to guest-physical through the tables at ``root``; raises PageFault."""
        self.stats.translations += 1
        try:
            return walk(
                self._read_entry,
                paging,
                root,
                va,
                write=write,
                user=user,
                fetch=fetch,
                wp=wp,
                nxe=nxe,
                pse=pse,
            )
        except PageFault:
            self.stats.walk_faults += 1
            raise

    def _read_entry(self, gpa: int, size: int) -> int:
        try:
            return self.read_u(gpa, size)
        except GuestMemoryError:
            return 0  # a table outside memory reads as not present

    # -- watches ---------------------------------------------------------------------------------
    def add_watcher(self, reason: str, fn: WriteWatcher) -> None:
        """``fn(page, address, data bytes)`` runs before each store to a page watched for ``reason``."""
        self._watchers[reason] = fn

    def watch_writes(self, page: int, reason: str) -> None:
        reasons = self._write_watch.setdefault(page, set())
        if reason not in reasons:
            reasons.add(reason)
            if len(reasons) == 1:
                self._protect(page)

    def unwatch_writes(self, page: int, reason: str) -> None:
        reasons = self._write_watch.get(page)
        if reasons and reason in reasons:
            reasons.discard(reason)
            if not reasons:
                del self._write_watch[page]
                self._protect(page)

    def write_watched(self, page: int, reason: str) -> bool:
        return reason in self._write_watch.get(page, ())

    def allow_exec(self, page: int) -> None:
        if page not in self._executable:
            self._executable.add(page)
            self._protect(page)

    def forbid_exec(self, page: int) -> None:
        if page in self._executable:
            self._executable.discard(page)
            self._protect(page)

    def executable(self, page: int) -> bool:
        return not self.exec_needs_scan or page in self._executable

    def _protect(self, page: int) -> None:
        slot = self.slot_of(page)
        if slot is None:
            return
        perms = UC_PROT_READ
        if page not in self._write_watch:
            perms |= UC_PROT_WRITE
        if self.executable(page):
            perms |= UC_PROT_EXEC
        self.stats.protection_changes += 1
        try:
            self.uc.mem_protect(page, PAGE, perms)
        except UcError:
            return
        self.machine.flush_tlb()

    def _notify(self, page: int, addr: int, data: bytes) -> None:
        for reason in tuple(self._write_watch.get(page, ())):
            fn = self._watchers.get(reason)
            if fn is not None:
                fn(page, addr, data)

    def _write_fault(self, addr: int, size: int, value: int) -> bool:
        """A guest store to a write-watched page: tell the watchers, then store (unless ROM)."""
        self.stats.write_watch_hits += 1
        data = value.to_bytes(size, "little")
        end = addr + size
        pos = addr
        while pos < end:  # a store may straddle two pages
            page = pos & ~(PAGE - 1)
            n = min(end - pos, page + PAGE - pos)
            chunk = data[pos - addr : pos - addr + n]
            reasons = self._write_watch.get(page, ())
            if "rom" not in reasons:
                self._notify(page, pos, chunk)
                slot = self.slot_of(pos)
                if slot is not None:
                    off = pos - slot.gpa
                    slot.host[slot.offset + off : slot.offset + off + n] = chunk
                    slot.dirty[off // PAGE] = 1
            pos += n
        return True

    # -- dirty log -------------------------------------------------------------------------------
    def start_dirty_log(self) -> None:
        """Clear the dirty bits and watch every RAM page, so the next store to each is seen."""
        self._dirty_log = True
        self.add_watcher("dirty", self._dirtied)
        for slot in self.slots:
            if slot.rom:
                continue
            slot.dirty[:] = bytes(len(slot.dirty))
            for page in range(slot.gpa, slot.gpa + slot.size, PAGE):
                self.watch_writes(page, "dirty")

    def _dirtied(self, page: int, _addr: int, _data: bytes) -> None:
        slot = self.slot_of(page)
        if slot is not None:
            slot.dirty[(page - slot.gpa) // PAGE] = 1
        # Stop watching after the first store; the protection change waits for the next slice.
        self._pending_unwatch.add(page)

    def settle(self) -> None:
        """Between slices: apply watch changes that could not be made inside a hook."""
        if self._pending_unwatch:
            pages, self._pending_unwatch = self._pending_unwatch, set()
            for page in pages:
                self.unwatch_writes(page, "dirty")

    def dirty_pages(self) -> list[int]:
        out: list[int] = []
        for slot in self.slots:
            out.extend(slot.gpa + i * PAGE for i, d in enumerate(slot.dirty) if d)
        return out

    # -- figures ---------------------------------------------------------------------------------
    def pages_backed(self) -> int:
        """Guest pages the host has actually given memory to (lazily backed slots)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for slot in self.slots:
            key = (id(slot.host), slot.offset)
            if key in seen:
                continue
            seen.add(key)
            total += resident_pages(slot.host, slot.offset, slot.size)
        return total

    def close(self) -> None:
        for buf in self._buffers:
            try:
                buf.close()
            except BufferError:
                pass  # a ctypes view still points at it; the GC frees it with the view
        self._buffers.clear()
        self.slots.clear()
