"""Memory: heaps (Heap*, Local*, Global*) on heap.py, and Virtual* on the address space."""

from __future__ import annotations

import struct
from typing import Any

from ....core.memory import OutOfMemory, page_down, page_up
from ....loader.image import Perm
from ..decl import BOOL, HANDLE, PTR, SIZE, UINT, winapi

HEAP_ZERO_MEMORY = 0x08
HEAP_REALLOC_IN_PLACE_ONLY = 0x10
MEM_COMMIT, MEM_RESERVE, MEM_RELEASE, MEM_DECOMMIT = 0x1000, 0x2000, 0x8000, 0x4000
MEM_FREE, MEM_PRIVATE, MEM_IMAGE = 0x10000, 0x20000, 0x1000000
ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY, ERROR_INVALID_ADDRESS = 87, 8, 487
GRANULE = 0x10000

_PROTECT_TO_PERM = {0x01: Perm.NONE, 0x02: Perm.R, 0x04: Perm.RW, 0x08: Perm.RW, 0x10: Perm.X | Perm.R,
                    0x20: Perm.RX, 0x40: Perm.RWX, 0x80: Perm.RWX}  # fmt: skip


def perm_of(protect: int) -> Perm | None:
    return _PROTECT_TO_PERM.get(protect & 0xFF)


def protect_of(perms: Perm) -> int:
    if perms & Perm.X:
        return 0x40 if perms & Perm.W else 0x20
    if perms & Perm.W:
        return 0x04
    if perms & Perm.R:
        return 0x02
    return 0x01


def _heap(proc: Any, handle: int) -> Any:
    return proc.heaps.get(handle)


@winapi("kernel32", ret=HANDLE)
def GetProcessHeap(proc: Any) -> int:
    """The heap malloc and the PEB share."""
    return int(proc.process_heap.handle)


@winapi("kernel32", args=(UINT, PTR), ret=UINT)
def GetProcessHeaps(proc: Any, count: int, out: int) -> int:
    handles = list(proc.heaps)
    for i, h in enumerate(handles[:count]):
        proc.write_ptr(out + i * proc.word, h)
    return len(handles)


@winapi("kernel32", args=(UINT, SIZE, SIZE), ret=HANDLE)
def HeapCreate(proc: Any, options: int, initial: int, maximum: int) -> int:
    return int(proc.new_heap().handle)


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def HeapDestroy(proc: Any, handle: int) -> int:
    heap = proc.heaps.get(handle)
    if heap is None or heap is proc.process_heap:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    heap.destroy()
    del proc.heaps[handle]
    return 1


@winapi("kernel32", args=(HANDLE, UINT, SIZE), ret=PTR)
def HeapAlloc(proc: Any, handle: int, flags: int, size: int) -> int:
    """A block of ``size`` bytes (zeroed with HEAP_ZERO_MEMORY); NULL when out of memory."""
    heap = _heap(proc, handle) or proc.process_heap
    try:
        return int(heap.alloc(size, zero=bool(flags & HEAP_ZERO_MEMORY)))
    except OutOfMemory:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0


@winapi("kernel32", args=(HANDLE, UINT, PTR), ret=BOOL)
def HeapFree(proc: Any, handle: int, flags: int, addr: int) -> int:
    if addr == 0:
        return 1
    for heap in [_heap(proc, handle), *proc.heaps.values()]:
        if heap is not None and heap.free(addr):
            return 1
    proc.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


@winapi("kernel32", args=(HANDLE, UINT, PTR, SIZE), ret=PTR)
def HeapReAlloc(proc: Any, handle: int, flags: int, addr: int, size: int) -> int:
    heap = _heap(proc, handle) or proc.process_heap
    old = heap.size(addr)
    if old is None:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & HEAP_REALLOC_IN_PLACE_ONLY and size > old:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    new = heap.realloc(addr, size)
    if not new:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    if flags & HEAP_ZERO_MEMORY and size > old:
        proc.mem.poke(new + old, bytes(size - old))
    return int(new)


@winapi("kernel32", args=(HANDLE, UINT, PTR), ret=SIZE)
def HeapSize(proc: Any, handle: int, flags: int, addr: int) -> int:
    for heap in [_heap(proc, handle), *proc.heaps.values()]:
        if heap is not None and heap.size(addr) is not None:
            return int(heap.size(addr))
    return -1


@winapi("kernel32", args=(HANDLE, UINT, PTR), ret=BOOL)
def HeapValidate(proc: Any, handle: int, flags: int, addr: int) -> int:
    return 1


@winapi("kernel32", args=(HANDLE, UINT), ret=SIZE)
def HeapCompact(proc: Any, handle: int, flags: int) -> int:
    return 0x100000


@winapi("kernel32", args=(HANDLE, UINT, PTR, SIZE), ret=BOOL)
def HeapSetInformation(proc: Any, handle: int, cls: int, info: int, size: int) -> int:
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def HeapLock(proc: Any, handle: int) -> int:
    return 1


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def HeapUnlock(proc: Any, handle: int) -> int:
    return 1


# Local* and Global* are the same heap with movable memory treated as fixed.
@winapi("kernel32", args=(UINT, SIZE), ret=HANDLE)
def LocalAlloc(proc: Any, flags: int, size: int) -> int:
    """LMEM_ZEROINIT (0x40) zeroes; LMEM_MOVEABLE blocks are fixed (the handle is the pointer)."""
    try:
        return int(proc.process_heap.alloc(size, zero=bool(flags & 0x40)))
    except OutOfMemory:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0


@winapi("kernel32", args=(HANDLE,), ret=HANDLE)
def LocalFree(proc: Any, mem: int) -> int:
    if mem and not proc.process_heap.free(mem):
        proc.set_last_error(6)
        return mem
    return 0


@winapi("kernel32", args=(HANDLE, SIZE, UINT), ret=HANDLE)
def LocalReAlloc(proc: Any, mem: int, size: int, flags: int) -> int:
    new = proc.process_heap.realloc(mem, size)
    if not new:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
    return int(new)


@winapi("kernel32", args=(HANDLE,), ret=SIZE)
def LocalSize(proc: Any, mem: int) -> int:
    return int(proc.process_heap.size(mem) or 0)


@winapi("kernel32", args=(HANDLE,), ret=PTR)
def LocalLock(proc: Any, mem: int) -> int:
    return mem


@winapi("kernel32", args=(HANDLE,), ret=BOOL)
def LocalUnlock(proc: Any, mem: int) -> int:
    return 1


for _local, _global in (("LocalAlloc", "GlobalAlloc"), ("LocalFree", "GlobalFree"),
                        ("LocalReAlloc", "GlobalReAlloc"), ("LocalSize", "GlobalSize"),
                        ("LocalLock", "GlobalLock"), ("LocalUnlock", "GlobalUnlock")):  # fmt: skip
    from ..decl import alias as _alias

    _alias("kernel32", _global, _local)


@winapi("kernel32", args=(PTR, SIZE, UINT, UINT), ret=PTR)
def VirtualAlloc(proc: Any, addr: int, size: int, kind: int, protect: int) -> int:
    """Reserve and/or commit pages; reserved-only pages are inaccessible until committed."""
    perms = perm_of(protect)
    if perms is None or size == 0 or not kind & (MEM_COMMIT | MEM_RESERVE):
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mem = proc.mem
    commit = bool(kind & MEM_COMMIT)
    if addr and not kind & MEM_RESERVE:
        start, end = page_down(addr), page_up(addr + size)
        if not mem.covered(start, end):
            proc.set_last_error(ERROR_INVALID_ADDRESS)
            return 0
        mem.protect(start, end - start, perms)
        return start
    span = (size + GRANULE - 1) & ~(GRANULE - 1)
    try:
        if addr:
            start = addr & ~(GRANULE - 1)
            if not mem.is_free(start, start + span):
                proc.set_last_error(ERROR_INVALID_ADDRESS)
                return 0
        else:
            start = mem.find_free(span + GRANULE)
            start = (start + GRANULE - 1) & ~(GRANULE - 1)
        mem.map(start, span, perms if commit else Perm.NONE, "[virtual]")
    except OutOfMemory:
        proc.set_last_error(ERROR_NOT_ENOUGH_MEMORY)
        return 0
    proc.state.setdefault("virtual", {})[start] = (span, protect)
    return int(start)


@winapi("kernel32", args=(PTR, SIZE, UINT), ret=BOOL)
def VirtualFree(proc: Any, addr: int, size: int, kind: int) -> int:
    regions = proc.state.setdefault("virtual", {})
    if kind & MEM_RELEASE:
        if size != 0 or addr not in regions:
            proc.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        span, _protect = regions.pop(addr)
        proc.mem.unmap(addr, span)
        return 1
    if kind & MEM_DECOMMIT:
        start, end = page_down(addr), page_up(addr + size)
        if proc.mem.covered(start, end):
            proc.mem.protect(start, end - start, Perm.NONE)
            proc.mem.poke(start, bytes(end - start))
            return 1
    proc.set_last_error(ERROR_INVALID_PARAMETER)
    return 0


@winapi("kernel32", args=(PTR, SIZE, UINT, PTR), ret=BOOL)
def VirtualProtect(proc: Any, addr: int, size: int, protect: int, old: int) -> int:
    """Change page permissions; the previous protection of the first page goes to ``old``."""
    perms = perm_of(protect)
    start, end = page_down(addr), page_up(addr + max(size, 1))
    vma = proc.mem.find(start)
    if perms is None or vma is None or not proc.mem.covered(start, end):
        proc.set_last_error(ERROR_INVALID_ADDRESS if perms is not None else ERROR_INVALID_PARAMETER)
        return 0
    if old:
        proc.write_u32(old, protect_of(vma.perms))
    proc.mem.protect(start, end - start, perms)
    return 1


@winapi("kernel32", args=(PTR, PTR, SIZE), ret=SIZE)
def VirtualQuery(proc: Any, addr: int, out: int, size: int) -> int:
    """Describe the region holding ``addr`` (MEMORY_BASIC_INFORMATION)."""
    mem = proc.mem
    page = page_down(addr)
    vma = mem.find(page)
    if vma is None:
        nxt = next((v.start for v in mem.vmas if v.start > page), mem.layout.task_size)
        prev = max((v.end for v in mem.vmas if v.end <= page), default=0)
        base, region, state, protect, kind, alloc_base, alloc_protect = (
            prev,
            nxt - prev,
            MEM_FREE,
            1,
            0,
            0,
            0,
        )
    else:
        image = next((m for m in proc.modules if m.base <= page < m.base + m.size), None)
        base, region = page, vma.end - page
        state = MEM_COMMIT if vma.perms else MEM_RESERVE
        protect = protect_of(vma.perms) if vma.perms else 0
        kind = MEM_IMAGE if image is not None else MEM_PRIVATE
        alloc_base = image.base if image is not None else vma.start
        alloc_protect = 0x80 if image is not None else 0x04
    if proc.is64:
        need = 48
        raw = struct.pack(
            "<QQIIQIIII", base, alloc_base, alloc_protect, 0, region, state, protect, kind, 0
        )
    else:
        need = 28
        raw = struct.pack("<IIIIIII", base, alloc_base, alloc_protect, region, state, protect, kind)
    if size < need:
        proc.set_last_error(24)  # ERROR_BAD_LENGTH
        return 0
    proc.write(out, raw)
    return need


@winapi("kernel32", args=(PTR, SIZE), ret=BOOL)
def IsBadReadPtr(proc: Any, addr: int, size: int) -> int:
    try:
        proc.mem.check(addr, size)
        return 0
    except Exception:  # noqa: BLE001
        return 1


@winapi("kernel32", args=(PTR, SIZE), ret=BOOL)
def IsBadWritePtr(proc: Any, addr: int, size: int) -> int:
    try:
        proc.mem.check(addr, size, True)
        return 0
    except Exception:  # noqa: BLE001
        return 1


@winapi("kernel32", args=(PTR,), ret=BOOL)
def GlobalMemoryStatusEx(proc: Any, out: int) -> int:
    total = proc.profile.limits.memory or (2 << 30)
    used = proc.mem.mapped_bytes
    proc.write(out, struct.pack("<IIQQQQQQQ", 64, used * 100 // total, total, total - used, total * 2,
                                total * 2 - used, 1 << 47 if proc.is64 else 1 << 31,
                                (1 << 47 if proc.is64 else 1 << 31) - used, 0))  # fmt: skip
    return 1
