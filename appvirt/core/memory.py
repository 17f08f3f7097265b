"""A guest address space: mappings with real permissions, placement, brk, and accounting.

The list of mappings (``Vma``) is the truth. Unicorn memory is only the backing store (mapped
RWX, lazily backed by the host), and the guest sees permissions through the identity page tables
of ``pagetables.py``, so mprotect never splits Unicorn regions. Syscall handlers read and write guest
memory through ``read``/``write``, which check the mappings and raise ``GuestFault`` (EFAULT).
"""

from __future__ import annotations

import bisect
import ctypes
from collections.abc import Callable, Iterator

from unicorn import UC_PROT_ALL, Uc, UcError

from ..loader.image import Perm
from . import uclib
from .pagetables import PageTables, leaf_flags

PAGE = 0x1000
MAX_MAPPINGS = 65530
_FORK_WINDOW = 0x100000
_FORK_PIECE = 0x10000
_ZERO_PIECE = bytes(_FORK_PIECE)


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


class Vma:
    """One mapping. A plain slotted class: dataclass creation costs ~1 ms of every launch."""

    __slots__ = ("start", "end", "perms", "name", "offset", "inode", "shared")

    def __init__(self, start: int, end: int, perms: Perm, name: str = "", offset: int = 0,
                 inode: int = 0, shared: bool = False) -> None:  # fmt: skip
        self.start = start
        self.end = end
        self.perms = perms
        self.name = name  # path, "[heap]", "[stack]", "[vdso]" ...
        self.offset = offset
        self.inode = inode
        self.shared = shared

    def __repr__(self) -> str:
        return f"Vma({self.start:#x}-{self.end:#x} {self.perms!r} {self.name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vma):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in Vma.__slots__)

    __hash__ = None  # type: ignore[assignment]

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


class Layout:
    """Where things go in one architecture's address space (two constant instances)."""

    __slots__ = ("task_size", "stack_top", "stack_size", "mmap_base", "mmap_min", "pie_base",
                 "arena", "pae32")  # fmt: skip

    def __init__(self, task_size: int, stack_top: int, stack_size: int, mmap_base: int,
                 mmap_min: int, pie_base: int, arena: int, pae32: bool) -> None:  # fmt: skip
        self.task_size = task_size
        self.stack_top = stack_top
        self.stack_size = stack_size
        self.mmap_base = mmap_base
        self.mmap_min = mmap_min
        self.pie_base = pie_base
        self.arena = arena  # physical memory for page tables, never mapped in guest virtual space
        self.pae32 = pae32


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
        self.arg_start = self.arg_end = 0  # argv strings on the stack (/proc/<pid>/cmdline)
        self.tables = PageTables(self._phys_write, self._map_arena, layout.arena, layout.pae32)
        self._tlb_dirty = False
        self._stale: list[tuple[int, int]] = []  # unmapped ranges whose Unicorn backing remains
        self._uch = uclib.handle(uc)
        self._cstr_buf = ctypes.create_string_buffer(PAGE + 1)
        # Mapped bytes past which the CPU's TLB should grow (see tlbsize.py), and who to tell.
        self.tlb_watermark = 1 << 62
        self.on_outgrown: Callable[[], None] | None = None

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
        self.refresh(start, end)
        self.invalidate_tlb()

    def refresh(self, start: int, end: int) -> None:
        """Rewrite the page-table entries of [start, end) from the mappings (the caller flushes
        the TLB if entries for the range may be cached)."""
        self.tables.update(start, end, self._pieces)

    def invalidate_tlb(self) -> None:
        """Drop every cached translation now."""
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
        if new > self.tlb_watermark and self.on_outgrown is not None:
            self.on_outgrown()

    def map(
        self, start: int, size: int, perms: Perm, name: str = "", data: bytes = b"", **info: object
    ) -> int:
        """Map [start, start+size) zero-filled, or starting with ``data`` (a file mapping's bytes,
        written once, without zeroing reused backing first); existing mappings there go."""
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
        data = data[:size]
        try:
            self._back(start, end, start + len(data))
        except UcError:
            self.mapped_bytes -= size
            raise OutOfMemory() from None
        if data:
            self.poke(start, data)
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

    def _back(self, start: int, end: int, filled: int = 0) -> None:
        """Give [start, end) Unicorn backing: reuse stale backing (zeroed, except below ``filled``,
        which the caller overwrites at once), map the rest."""
        addr = start
        for lo, hi in sorted(r for r in self._stale if r[0] < end and start < r[1]):
            if addr < lo:
                self.uc.mem_map(addr, lo - addr, UC_PROT_ALL)
            a, b = max(lo, start, filled), min(hi, end)
            for chunk in range(a, b, 0x100000):
                self.uc.mem_write(chunk, bytes(min(0x100000, b - chunk)))
            addr = max(addr, min(hi, end))
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

    def fork_from(self, parent: AddressSpace) -> None:
        """Make this fresh address space a copy of ``parent`` (fork): mappings, contents, brk.

        Adjacent mappings share one Unicorn region and one page-table pass; contents move in 1 MiB
        windows through one reusable buffer, and 64 KiB pieces that are all zero (untouched stack,
        heap, bss) are skipped, since fresh backing is zero already.
        """
        if self.memory_limit is not None and parent.mapped_bytes > self.memory_limit:
            raise OutOfMemory()
        self.vmas = [v.clone(v.start, v.end) for v in parent.vmas]
        self._starts = list(parent._starts)
        self.mapped_bytes = parent.mapped_bytes
        self.peak_bytes = max(self.peak_bytes, parent.peak_bytes, self.mapped_bytes)
        self.brk_start, self.brk = parent.brk_start, parent.brk
        self.arg_start, self.arg_end = parent.arg_start, parent.arg_end
        runs: list[list[int]] = []
        for v in self.vmas:
            if runs and runs[-1][1] == v.start:
                runs[-1][1] = v.end
            else:
                runs.append([v.start, v.end])
        try:
            for lo, hi in runs:
                self.uc.mem_map(lo, hi - lo, UC_PROT_ALL)
        except UcError:
            raise OutOfMemory() from None
        for lo, hi in runs:
            self.tables.update(lo, hi, self._pieces)
        self._tlb_dirty = True
        src, dst = uclib.handle(parent.uc), uclib.handle(self.uc)
        window = bytearray(_FORK_WINDOW)
        view = (ctypes.c_char * _FORK_WINDOW).from_buffer(window)
        base = ctypes.addressof(view)
        for lo, hi in runs:
            for addr in range(lo, hi, _FORK_WINDOW):
                size = min(_FORK_WINDOW, hi - addr)
                if not uclib.mem_read_into(src, addr, view, size):
                    raise OutOfMemory()
                start = -1  # first offset of the pending run of non-zero pieces
                for off in range(0, size + _FORK_PIECE, _FORK_PIECE):
                    zero = (
                        off >= size
                        or window[off : off + _FORK_PIECE]
                        == _ZERO_PIECE[: min(_FORK_PIECE, size - off)]
                    )
                    if not zero and start < 0:
                        start = off
                    elif zero and start >= 0:
                        end = min(off, size)
                        uclib.mem_write_ptr(dst, addr + start, base + start, end - start)
                        start = -1
        del view

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
        """GuestFault unless [addr, addr+size) is mapped writable (or readable: R or X)."""
        if size <= 0:
            return
        end = addr + size
        need = 2 if write else 5  # plain ints: IntFlag arithmetic costs microseconds per call
        starts, vmas = self._starts, self.vmas
        while addr < end:
            i = bisect.bisect_right(starts, addr) - 1
            if i < 0:
                raise GuestFault(addr, write)
            v = vmas[i]
            if v.end <= addr or not int(v.perms) & need:
                raise GuestFault(addr, write)
            addr = v.end

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        self.check(addr, size)
        data = uclib.mem_read_bytes(self._uch, addr, size)
        if data is None:
            raise GuestFault(addr)
        return data

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        self.check(addr, len(data), True)
        self.poke(addr, data)

    def poke(self, addr: int, data: bytes) -> None:
        """Write ignoring guest permissions (loader, kernel-owned pages)."""
        if type(data) is bytes:
            if not uclib.mem_write_from(self._uch, addr, data):
                raise GuestFault(addr, True)
        else:
            self.uc.mem_write(addr, data)

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string, read page by page so it may end just before unmapped memory.

        Each page's piece is read into one reusable buffer whose ``value`` stops at the first NUL.
        """
        buf = self._cstr_buf
        out = b""
        while len(out) < limit:
            chunk_len = min(PAGE - (addr & (PAGE - 1)), limit - len(out))
            self.check(addr, chunk_len)
            buf[chunk_len] = b"\0"
            if not uclib.mem_read_into(self._uch, addr, buf, chunk_len):
                raise GuestFault(addr)
            piece = buf.value
            out += piece
            if len(piece) < chunk_len:
                return out
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
