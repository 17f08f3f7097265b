"""Putting a guest into memory and the CPU into its start state: firmware, flat images, multiboot.

Three ways in, as the issue defines them:

- a BIOS image (SeaBIOS, say): mapped read-only at the top of 4 GiB, with its last 128 KiB copied
  into the writable shadow RAM below 1 MiB; the CPU starts at the reset vector as a real one does;
- a flat real-mode image of any size up to the 640 KiB of conventional memory, loaded at 0x7C00;
  without ``--bios`` a 64 KiB stand-in firmware answers the reset vector with a far jump to
  0000:7C00 (DL = 0x80, the boot drive) and points every IVT vector at an ``iret``;
- a multiboot ELF kernel: its PT_LOAD segments are loaded at their physical addresses and it is
  entered in flat 32-bit protected mode with EAX = 0x2BADB002 and EBX = the multiboot information.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from unicorn import x86_const as x86

from ..core.cpustate import CS, DS, ES, FS, GS, SS, Segment
from ..errors import NotExecutableError
from .mmu import GuestMemory
from .vcpu import Vcpu

BOOT_ADDR = 0x7C00
CONVENTIONAL_END = 0xA0000
MULTIBOOT_MAGIC = 0x1BADB002
MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002
MBI_ADDR = 0x9000
STUB_SIZE = 0x10000
IRET_STUB = 0xFF00  # offset in segment F000 of the stand-in firmware's iret


class ImageKind(enum.Enum):
    FLAT = "flat real-mode image"
    MULTIBOOT = "multiboot ELF kernel"


@dataclass(slots=True, frozen=True)
class Segment32:
    paddr: int
    data: bytes
    memsz: int


def classify(data: bytes) -> ImageKind:
    if data[:4] == b"\x7fELF":
        if _multiboot_header(data) is None:
            raise NotExecutableError("ELF image without a multiboot header: not a bootable kernel")
        return ImageKind.MULTIBOOT
    return ImageKind.FLAT


def _multiboot_header(data: bytes) -> int | None:
    for off in range(0, min(len(data), 8192) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if magic == MULTIBOOT_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return off
    return None


def elf_segments(data: bytes) -> tuple[int, list[Segment32]]:
    """Entry point and PT_LOAD segments of a 32-bit little-endian ELF file."""
    if len(data) < 52 or data[4] != 1 or data[5] != 1:
        raise NotExecutableError("multiboot kernel must be a 32-bit little-endian ELF file")
    entry, phoff = struct.unpack_from("<II", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    segments = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 32 > len(data):
            raise NotExecutableError("truncated ELF program headers")
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from("<6I", data, off)
        if p_type != 1:
            continue
        if p_offset + p_filesz > len(data):
            raise NotExecutableError("ELF segment beyond the end of the file")
        segments.append(Segment32(p_paddr, data[p_offset : p_offset + p_filesz], p_memsz))
    if not segments:
        raise NotExecutableError("ELF file without loadable segments")
    return entry, segments


def stub_firmware() -> bytes:
    """The stand-in firmware for runs without ``--bios``: reset vector and a catch-all iret."""
    rom = bytearray(b"\xff" * STUB_SIZE)
    rom[IRET_STUB] = 0xCF  # iret
    # Reset vector F000:FFF0: mov dl, 0x80 ; jmp 0000:7C00
    rom[0xFFF0:0xFFF7] = bytes([0xB2, 0x80, 0xEA, 0x00, 0x7C, 0x00, 0x00])
    return bytes(rom)


def load_firmware(mem: GuestMemory, rom: bytes) -> None:
    """Copy the firmware's last 128 KiB (or all of a smaller one) below 1 MiB; the ROM slot holds
    the whole image at the top of 4 GiB."""
    low = rom[-0x20000:]
    mem.load(0x100000 - len(low), low)
    mem.load((1 << 32) - len(rom), rom)


def load_flat(mem: GuestMemory, vcpu: Vcpu, data: bytes) -> None:
    if BOOT_ADDR + len(data) > CONVENTIONAL_END:
        raise NotExecutableError(
            f"flat image of {len(data)} bytes does not fit between 0x7C00 and 0xA0000"
        )
    mem.load(BOOT_ADDR, data)
    ivt = struct.pack("<HH", IRET_STUB, 0xF000) * 256
    mem.load(0, ivt)


def load_multiboot(mem: GuestMemory, vcpu: Vcpu, data: bytes, cmdline: str = "") -> None:
    entry, segments = elf_segments(data)
    ram = mem.ram_top
    for seg in segments:
        if seg.paddr < 0x100000 and seg.paddr + seg.memsz > CONVENTIONAL_END:
            raise NotExecutableError(f"ELF segment at {seg.paddr:#x} overlaps the legacy hole")
        if mem.slot_of(seg.paddr) is None or seg.paddr + seg.memsz > max(ram, 0x100000):
            raise NotExecutableError(f"ELF segment at {seg.paddr:#x} is outside guest memory")
        mem.load(seg.paddr, seg.data + bytes(seg.memsz - len(seg.data)))
    name_addr = MBI_ADDR + 0x100
    cmd_addr = MBI_ADDR + 0x200
    mem.load(name_addr, b"appvirt\0")
    mem.load(cmd_addr, cmdline.encode()[:255] + b"\0")
    mem_upper = max(ram - 0x100000, 0) // 1024
    flags = 0x1 | 0x4 | 0x200  # memory sizes, command line, boot loader name
    mbi = struct.pack("<IIIIII", flags, 639, mem_upper, 0, cmd_addr, 0)
    mbi = mbi.ljust(64, b"\0") + struct.pack("<I", name_addr)
    mem.load(MBI_ADDR, mbi)
    enter_protected_mode(vcpu, entry)
    vcpu.set(x86.UC_X86_REG_EAX, MULTIBOOT_BOOTLOADER_MAGIC)
    vcpu.set(x86.UC_X86_REG_EBX, MBI_ADDR)


def enter_protected_mode(vcpu: Vcpu, entry: int) -> None:
    """Flat 32-bit protected mode, as multiboot specifies: CS 0x08, data 0x10, IF clear."""
    cr0 = (vcpu.get(x86.UC_X86_REG_CR0) | 1) & ~0x60000000
    vcpu.set(x86.UC_X86_REG_CR0, cr0)
    if vcpu.owned:
        vcpu.virt.cr0 = cr0
    vcpu.set(x86.UC_X86_REG_EFLAGS, 0x2)
    vcpu.virt.interrupts = False
    ctx = vcpu.context()
    ctx.set_segment(CS, Segment(0x08, 0, 0xFFFFFFFF, 0xCF9B00))
    for seg in (SS, DS, ES, FS, GS):
        ctx.set_segment(seg, Segment(0x10, 0, 0xFFFFFFFF, 0xCF9300))
    ctx.commit()
    vcpu.eip = entry
