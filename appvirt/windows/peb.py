"""The TEB, PEB, loader lists and process parameters, laid out as Windows lays them out.

Compiled code reads these structures directly (``gs:[0x30]``, ``fs:[0x18]``, ``PEB->Ldr``,
``ProcessParameters->CommandLine``), so they are real memory with the offsets of Windows 10 (x86
and x64), not Python objects. appvirt keeps the copy of truth for what it owns (the last error is
read and written in the TEB itself).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..loader.image import Perm


@dataclass(frozen=True, slots=True)
class Offsets:
    """Field offsets that differ between the x86 and x64 layouts."""

    ptr: int
    teb_size: int
    teb_stack_base: int
    teb_stack_limit: int
    teb_self: int
    teb_client_id: int
    teb_tls_pointer: int
    teb_peb: int
    teb_last_error: int
    teb_tls_slots: int
    teb_tls_expansion: int
    teb_fls_data: int
    peb_image_base: int
    peb_ldr: int
    peb_params: int
    peb_heap: int
    peb_os_major: int
    peb_num_procs: int
    ldr_lists: int  # InLoadOrderModuleList in PEB_LDR_DATA
    entry_base: int  # DllBase in LDR_DATA_TABLE_ENTRY
    params_std: int  # StandardInput in RTL_USER_PROCESS_PARAMETERS
    params_cwd: int
    params_image: int
    params_cmdline: int
    params_env: int
    params_title: int
    params_window_flags: int


X64 = Offsets(ptr=8, teb_size=0x2000, teb_stack_base=0x08, teb_stack_limit=0x10, teb_self=0x30,
              teb_client_id=0x40, teb_tls_pointer=0x58, teb_peb=0x60, teb_last_error=0x68,
              teb_tls_slots=0x1480, teb_tls_expansion=0x1780, teb_fls_data=0x17C8,
              peb_image_base=0x10, peb_ldr=0x18, peb_params=0x20, peb_heap=0x30,
              peb_os_major=0x118, peb_num_procs=0xB8, ldr_lists=0x10, entry_base=0x30,
              params_std=0x20, params_cwd=0x38, params_image=0x60, params_cmdline=0x70,
              params_env=0x80, params_title=0xB0, params_window_flags=0xA4)  # fmt: skip
X86 = Offsets(ptr=4, teb_size=0x1000, teb_stack_base=0x04, teb_stack_limit=0x08, teb_self=0x18,
              teb_client_id=0x20, teb_tls_pointer=0x2C, teb_peb=0x30, teb_last_error=0x34,
              teb_tls_slots=0xE10, teb_tls_expansion=0xF94, teb_fls_data=0xFB4,
              peb_image_base=0x08, peb_ldr=0x0C, peb_params=0x10, peb_heap=0x18,
              peb_os_major=0xA4, peb_num_procs=0x64, ldr_lists=0x0C, entry_base=0x18,
              params_std=0x18, params_cwd=0x24, params_image=0x38, params_cmdline=0x40,
              params_env=0x48, params_title=0x70, params_window_flags=0x68)  # fmt: skip

TLS_SLOTS = 64
OS_VERSION = (10, 0, 19045)  # Windows 10 22H2


class Arena:
    """A bump allocator over one RW mapping, for structures that live as long as the process."""

    def __init__(self, mem: object, size: int = 0x40000) -> None:
        self.mem = mem
        self.start = mem.map(mem.find_free(size), size, Perm.RW, "[peb]")  # type: ignore[attr-defined]
        self.next = self.start
        self.end = self.start + size

    def alloc(self, size: int, align: int = 16) -> int:
        addr = (self.next + align - 1) & ~(align - 1)
        if addr + size > self.end:
            raise MemoryError("process block arena full")
        self.next = addr + size
        return addr


class ProcessBlocks:
    """Builds and updates the PEB-side structures of one process."""

    def __init__(self, mem: object, is64: bool) -> None:
        self.mem = mem
        self.is64 = is64
        self.off = X64 if is64 else X86
        self.arena = Arena(mem)
        ptr = self.off.ptr
        self.peb = self.arena.alloc(0x800)
        self.ldr = self.arena.alloc(0x58 if is64 else 0x30)
        self.params = self.arena.alloc(0x400)
        self.teb = mem.map(mem.find_free(self.off.teb_size), self.off.teb_size, Perm.RW, "[teb]")  # type: ignore[attr-defined]
        self._fmt = "<Q" if ptr == 8 else "<I"
        o = self.off
        self.put_ptr(self.teb + o.teb_self, self.teb)
        self.put_ptr(self.teb + o.teb_peb, self.peb)
        self.put_ptr(self.peb + o.peb_ldr, self.ldr)
        self.put_ptr(self.peb + o.peb_params, self.params)
        major, minor, build = OS_VERSION
        self.poke(self.peb + o.peb_os_major, struct.pack("<IIHHI", major, minor, build, 0, 2))
        self.poke(self.peb + o.peb_num_procs, struct.pack("<I", 1))
        self.poke(self.ldr, struct.pack("<IB", 0x58 if is64 else 0x30, 1))
        for i in range(3):  # the three module lists start empty: each head points at itself
            head = self.ldr + o.ldr_lists + i * 2 * ptr
            self.put_ptr(head, head)
            self.put_ptr(head + ptr, head)

    # -- memory helpers -----------------------------------------------------------------------
    def poke(self, addr: int, data: bytes) -> None:
        self.mem.poke(addr, data)  # type: ignore[attr-defined]

    def put_ptr(self, addr: int, value: int) -> None:
        self.poke(addr, struct.pack(self._fmt, value))

    def get_ptr(self, addr: int) -> int:
        raw = bytes(self.mem.uc.mem_read(addr, self.off.ptr))  # type: ignore[attr-defined]
        return int.from_bytes(raw, "little")

    def unicode_string(self, at: int, text: str, max_chars: int | None = None) -> int:
        """Fill the UNICODE_STRING at ``at`` with a new copy of ``text``; returns the buffer."""
        raw = text.encode("utf-16-le")
        cap = max(len(raw) + 2, 2 * (max_chars or 0))
        buf = self.arena.alloc(cap, 2)
        self.poke(buf, raw + b"\0\0")
        self.poke(at, struct.pack("<HH", len(raw), cap))
        self.put_ptr(at + self.off.ptr, buf)
        return buf

    # -- the thread -----------------------------------------------------------------------------
    def set_thread(self, stack_base: int, stack_limit: int, pid: int, tid: int) -> None:
        o = self.off
        self.put_ptr(self.teb + o.teb_stack_base, stack_base)
        self.put_ptr(self.teb + o.teb_stack_limit, stack_limit)
        self.put_ptr(self.teb + o.teb_client_id, pid)
        self.put_ptr(self.teb + o.teb_client_id + o.ptr, tid)
        if not self.is64:
            self.put_ptr(self.teb, 0xFFFFFFFF)  # an empty SEH chain ends with -1

    def set_tls_pointer(self, array: int) -> None:
        self.put_ptr(self.teb + self.off.teb_tls_pointer, array)

    # -- the process ----------------------------------------------------------------------------
    def set_image_base(self, base: int) -> None:
        self.put_ptr(self.peb + self.off.peb_image_base, base)

    def set_heap(self, heap: int) -> None:
        self.put_ptr(self.peb + self.off.peb_heap, heap)

    def set_params(self, image_path: str, cmdline: str, cwd: str, env_block: int,
                   std: tuple[int, int, int], title: str) -> None:  # fmt: skip
        o, p = self.off, self.params
        self.poke(p, struct.pack("<IIII", 0x400, 0x400, 1, 0))  # Flags: PARAMS_NORMALIZED
        for i, h in enumerate(std):
            self.put_ptr(p + o.params_std + i * o.ptr, h)
        self.unicode_string(p + o.params_cwd, cwd if cwd.endswith("\\") else cwd + "\\", 260)
        self.unicode_string(p + o.params_image, image_path)
        self.unicode_string(p + o.params_cmdline, cmdline)
        self.put_ptr(p + o.params_env, env_block)
        self.unicode_string(p + o.params_title, title)
        self.poke(p + o.params_window_flags, struct.pack("<I", 0))

    def set_cwd(self, cwd: str) -> None:
        self.unicode_string(
            self.params + self.off.params_cwd, cwd if cwd.endswith("\\") else cwd + "\\", 260
        )

    def add_module(self, base: int, entry: int, size: int, full: str, name: str) -> int:
        """Append an LDR_DATA_TABLE_ENTRY to the three loader lists; returns its address."""
        o = self.off
        ptr = o.ptr
        rec = self.arena.alloc(0x120 if self.is64 else 0xA8)
        self.put_ptr(rec + o.entry_base, base)
        self.put_ptr(rec + o.entry_base + ptr, entry)
        self.put_ptr(rec + o.entry_base + 2 * ptr, size)
        full_at = rec + o.entry_base + 3 * ptr
        us = 16 if self.is64 else 8
        self.unicode_string(full_at, full)
        self.unicode_string(full_at + us, name)
        self.poke(full_at + 2 * us, struct.pack("<IH", 0x80004, 0xFFFF))  # Flags, LoadCount
        for i in range(3):
            head = self.ldr + o.ldr_lists + i * 2 * ptr
            link = rec + i * 2 * ptr
            last = self.get_ptr(head + ptr)
            self.put_ptr(link, head)  # Flink
            self.put_ptr(link + ptr, last)  # Blink
            self.put_ptr(last, link)
            self.put_ptr(head + ptr, link)
        return rec
