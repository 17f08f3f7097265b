"""Growing Unicorn's software TLB when a process VM's mappings outgrow it.

Unicorn's CPU (QEMU's softmmu) translates guest addresses through a direct-mapped TLB that starts
with 256 entries (1 MiB of 4 KiB pages) and changes size only when it is flushed: a flush that
finds more than 70% of the entries in use doubles it, one that finds under 30% in use for 100 ms
halves it. In a whole-system guest the OS flushes at every context switch, so the TLB follows the
working set. A process VM's TLB is flushed only when the guest maps, unmaps or protects memory, so
a program that allocates 16 MiB once and then works on it keeps 256 entries and walks the page
tables on nearly every access (the 16 MiB sieve: ~2.3 M walks, a third of its run).

So when the mapped memory (the main stack's reservation left out) outgrows what the TLB covers at a
70% use rate, the Machine grows the TLB before its next run, the way those flushes would have: a
stub reads one byte from each page of a scratch window (every entry in use), then CR3 is rewritten
(a flush, which doubles the TLB), once per doubling. The window is a free stretch of guest-virtual
space whose page tables all point at one arena page holding the stub; it is unmapped again before
the guest runs, and nothing the guest can see changes. Growing to 8192 entries reads ~8,000 pages
(about 1 ms). QEMU's own rule still shrinks a TLB that later stays mostly unused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UcError
from unicorn import x86_const as x86

from .memory import OutOfMemory
from .pagetables import CHUNK, PAGE

if TYPE_CHECKING:
    from .machine import Machine

DEFAULT_ENTRIES = 256  # QEMU's CPU_TLB_DYN_DEFAULT_BITS
MAX_ENTRIES = 8192  # 32 MiB covered; a flush then clears 256 KiB of table
GROW_RATE = 0.7  # QEMU doubles a TLB flushed with more than 70% of its entries in use

# loop: mov al, [rdi/edi]; add rdi/edi, 0x1000; dec ecx; jnz loop
_STUB_64 = bytes.fromhex("8a07 4881c700100000 ffc9 75f3")
_STUB_32 = bytes.fromhex("8a07 81c700100000 ffc9 75f4")


def entries_for(pages: int) -> int:
    """The TLB size QEMU's rule settles on for ``pages`` in use (a power of two, at most MAX)."""
    size = DEFAULT_ENTRIES
    while size < MAX_ENTRIES and pages > size * GROW_RATE:
        size *= 2
    return size


class TlbSizer:
    """What one Machine's TLB is believed to hold, and the growing itself."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.entries = DEFAULT_ENTRIES
        self._frame = 0  # arena page with the stub (0: not made yet)
        self.grown = 0  # growth passes done (tests, tracing)
        self.window = (0, 0)  # the last pass's scratch window: start, length

    def wanted(self) -> int:
        """The size the current mappings call for (``entries`` when no growth is due)."""
        mem = self.machine.mem
        pages = max(mem.mapped_bytes - mem.layout.stack_size, 0) // PAGE
        if pages <= self.entries * GROW_RATE:
            return self.entries
        return entries_for(pages)

    def watermark(self) -> int:
        """Mapped bytes above which ``wanted`` exceeds the current size."""
        if self.entries >= MAX_ENTRIES:
            return 1 << 62
        return self.machine.mem.layout.stack_size + int(self.entries * GROW_RATE) * PAGE + PAGE

    def grow(self, target: int) -> bool:
        """Grow to ``target`` entries; False when a stop request cut the pass short."""
        machine = self.machine
        mem = machine.mem
        window_pages = target // 2
        span = -(-window_pages * PAGE // CHUNK) * CHUNK
        try:
            base = mem.find_free(span + CHUNK)
        except OutOfMemory:  # no room for the window: not worth a second try
            self.entries = target
            return True
        base = (base + CHUNK - 1) & ~(CHUNK - 1)
        self.window = (base, span)
        stub = _STUB_64 if machine.is64 else _STUB_32
        if not self._frame:
            self._frame = mem.tables.arena_page(stub)
        mem.tables.alias(base, base + span, self._frame)
        uc = machine.uc
        saved = uc.context_save()
        done = True
        try:
            end = base + len(stub)
            size = self.entries
            while size < target:
                uc.reg_write(x86.UC_X86_REG_RDI if machine.is64 else x86.UC_X86_REG_EDI, base)
                uc.reg_write(x86.UC_X86_REG_ECX, size)
                uc.emu_start(base, end)
                if uc.reg_read(machine.pc_reg) != end:  # the watchdog stopped it
                    done = False
                    break
                uc.reg_write(x86.UC_X86_REG_CR3, mem.tables.root)  # flush: the TLB doubles
                size *= 2
            self.entries = size
        except UcError:
            self.entries = target  # not worth a second try
        finally:
            mem.refresh(base, base + span)
            uc.context_restore(saved)
            if not done:
                mem.invalidate_tlb()  # window entries may still be cached
        self.grown += 1
        return done
