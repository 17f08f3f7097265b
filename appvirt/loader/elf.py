"""ELF executables (i386 and x86-64) to ``Image``: header checks, PT_LOAD segments, interpreter, TLS.

The ELF header is checked by hand first, the way Linux's binfmt_elf does, so that every refusal
names its reason (wrong machine, wrong class, object file, core dump) and LIEF only ever sees a
plausible header. LIEF then reads the program headers; every value it returns is checked against
the file before it is used, because LIEF accepts segments that point past the end of the file and
silently stops reading a table it cannot fit.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from appvirt.errors import NotExecutableError
from appvirt.loader import _lief
from appvirt.loader._common import (
    PAGE_SIZE,
    align_down,
    align_up,
    check_ranges,
    check_span,
    is_power_of_two,
)
from appvirt.loader.image import Arch, Format, Image, Perm, Segment, TlsInfo

ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4

EM_386 = 3
EM_X86_64 = 62

PT_LOAD = 1
PT_INTERP = 3
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551

PF_X = 1
PF_W = 2
PF_R = 4

PATH_MAX = 4096

# e_machine values people actually meet, so that a refusal can say what the file is for.
MACHINE_NAMES = {
    2: "SPARC",
    3: "Intel 80386",
    4: "Motorola 68000",
    8: "MIPS",
    15: "PA-RISC",
    18: "SPARC32PLUS",
    20: "PowerPC",
    21: "PowerPC64",
    22: "IBM S/390",
    40: "ARM",
    42: "SuperH",
    43: "SPARC V9",
    50: "IA-64",
    62: "x86-64",
    83: "AVR",
    92: "OpenRISC",
    94: "Xtensa",
    164: "Qualcomm Hexagon",
    183: "AArch64",
    243: "RISC-V",
    247: "BPF",
    258: "LoongArch",
}

_TYPE_NAMES = {
    0: "ET_NONE",
    ET_REL: "ET_REL",
    ET_EXEC: "ET_EXEC",
    ET_DYN: "ET_DYN",
    ET_CORE: "ET_CORE",
}

# (ident class, struct format of the header after e_ident, expected e_phentsize)
_LAYOUT = {
    ELFCLASS32: ("<HHIIIIIHHHHHH", 32),
    ELFCLASS64: ("<HHIQQQIHHHHHH", 56),
}


@dataclass(slots=True, frozen=True)
class ElfHeader:
    """The fields of the ELF header the loader uses, read without LIEF."""

    arch: Arch
    machine_name: str
    e_type: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int


@dataclass(slots=True, frozen=True)
class _Phdr:
    p_type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


def machine_name(e_machine: int) -> str:
    name = MACHINE_NAMES.get(e_machine)
    return f"{name} (e_machine {e_machine})" if name else f"unknown machine (e_machine {e_machine})"


def read_header(data: bytes) -> ElfHeader:
    """Check the ELF header the way the kernel would; raise NotExecutableError naming the problem."""
    if len(data) < 16:
        raise NotExecutableError("truncated ELF header")
    elf_class, encoding = data[4], data[5]
    if encoding == ELFDATA2MSB:
        raise NotExecutableError("big-endian ELF file; only little-endian x86 is supported")
    if encoding != ELFDATA2LSB:
        raise NotExecutableError(f"corrupt ELF header: invalid data encoding {encoding}")
    layout = _LAYOUT.get(elf_class)
    if layout is None:
        raise NotExecutableError(f"corrupt ELF header: invalid ELF class {elf_class}")
    fmt, phentsize_expected = layout
    if len(data) < 16 + struct.calcsize(fmt):
        raise NotExecutableError("truncated ELF header")
    (e_type, e_machine, _version, entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum, *_) = (
        struct.unpack_from(fmt, data, 16)
    )
    _check_type(e_type)
    arch = _check_machine(e_machine, elf_class)
    if phentsize != phentsize_expected:
        raise NotExecutableError(
            f"corrupt ELF header: program header entry size {phentsize}, expected {phentsize_expected}"
        )
    if phnum == 0:
        raise NotExecutableError("ELF file has no program headers")
    if phnum * phentsize > 65536:
        raise NotExecutableError(f"corrupt ELF header: too many program headers ({phnum})")
    if phoff + phnum * phentsize > len(data):
        raise NotExecutableError(
            f"program header table at {phoff:#x} ({phnum} entries) lies outside the file "
            f"({len(data)} bytes)"
        )
    return ElfHeader(
        arch=arch,
        machine_name=MACHINE_NAMES[e_machine],
        e_type=e_type,
        entry=entry,
        phoff=phoff,
        phentsize=phentsize,
        phnum=phnum,
    )


def _check_type(e_type: int) -> None:
    if e_type in (ET_EXEC, ET_DYN):
        return
    if e_type == ET_REL:
        raise NotExecutableError("ELF relocatable object file (ET_REL), not an executable: link it")
    if e_type == ET_CORE:
        raise NotExecutableError("ELF core dump (ET_CORE), not an executable")
    raise NotExecutableError(
        f"ELF file of type {_TYPE_NAMES.get(e_type, e_type)} is not executable"
    )


def _check_machine(e_machine: int, elf_class: int) -> Arch:
    if e_machine == EM_X86_64:
        if elf_class != ELFCLASS64:
            raise NotExecutableError("32-bit ELF for x86-64 (the x32 ABI) is not supported")
        return Arch.X86_64
    if e_machine == EM_386:
        if elf_class != ELFCLASS32:
            raise NotExecutableError("corrupt ELF header: 64-bit ELF class for an i386 machine")
        return Arch.I386
    raise NotExecutableError(
        f"unsupported machine: {machine_name(e_machine)}; only i386 and x86-64 run here"
    )


def parse(data: bytes, path: str) -> Image:
    """Build the Image for the ELF file ``data`` (already known to start with the ELF magic)."""
    header = read_header(data)
    with _lief.quiet():
        binary = _lief.parse_elf(data)
        if binary is None:
            raise NotExecutableError("corrupt ELF file: the ELF parser rejected it")
        phdrs = [
            _Phdr(
                p_type=int(seg.type),
                flags=int(seg.flags),
                offset=int(seg.file_offset),
                vaddr=int(seg.virtual_address),
                filesz=int(seg.physical_size),
                memsz=int(seg.virtual_size),
                align=int(seg.alignment),
            )
            for seg in binary.segments
        ]
    if len(phdrs) != header.phnum:
        raise NotExecutableError(
            f"corrupt program header table: {len(phdrs)} of {header.phnum} entries readable"
        )
    return _build(data, path, header, phdrs)


def _build(data: bytes, path: str, header: ElfHeader, phdrs: list[_Phdr]) -> Image:
    arch = header.arch
    loads = [p for p in phdrs if p.p_type == PT_LOAD]
    for index, phdr in enumerate(loads):
        _check_load(data, index, phdr)
    segments = [
        Segment(
            vaddr=p.vaddr,
            memsz=p.memsz,
            data=data[p.offset : p.offset + p.filesz],
            perms=_perms(p.flags),
            file_offset=p.offset,
        )
        for p in loads
        if p.memsz > 0
    ]
    if not segments:
        raise NotExecutableError("ELF file has no loadable segments")
    check_ranges(arch, segments, "segment")
    base = align_down(min(s.vaddr for s in segments), PAGE_SIZE)
    size = align_up(max(s.vaddr + s.memsz for s in segments), PAGE_SIZE) - base
    check_span(arch, base, size)

    interpreter = _interpreter(data, phdrs)
    static = interpreter is None
    if static and not _in_executable(segments, header.entry):
        raise NotExecutableError(
            f"entry point {header.entry:#x} is not inside an executable segment "
            "(a shared library, or a corrupt header)"
        )
    stack = [p for p in phdrs if p.p_type == PT_GNU_STACK]
    # Without PT_GNU_STACK the kernel gives i386 programs an executable stack (READ_IMPLIES_EXEC);
    # x86-64 programs get a non-executable one.
    stack_exec = bool(stack[0].flags & PF_X) if stack else arch is Arch.I386
    return Image(
        path=path,
        format=Format.ELF,
        arch=arch,
        entry=header.entry,
        base=base,
        size=size,
        segments=segments,
        relocatable=header.e_type == ET_DYN,
        static=static,
        interpreter=interpreter,
        phdr_vaddr=_phdr_vaddr(header, phdrs, loads),
        phentsize=header.phentsize,
        phnum=header.phnum,
        tls=_tls(phdrs, segments),
        stack_exec=stack_exec,
        machine_name=header.machine_name,
    )


def _check_load(data: bytes, index: int, phdr: _Phdr) -> None:
    if phdr.filesz and phdr.offset + phdr.filesz > len(data):
        raise NotExecutableError(
            f"segment {index} (file range {phdr.offset:#x}+{phdr.filesz:#x}) lies outside the "
            f"file ({len(data)} bytes): truncated or corrupt"
        )
    if phdr.filesz > phdr.memsz:
        raise NotExecutableError(
            f"corrupt segment {index}: file size {phdr.filesz:#x} exceeds memory size {phdr.memsz:#x}"
        )
    if (phdr.vaddr - phdr.offset) % PAGE_SIZE:
        raise NotExecutableError(
            f"corrupt segment {index}: address {phdr.vaddr:#x} and file offset {phdr.offset:#x} "
            "differ by a non-page-aligned amount"
        )


def _perms(p_flags: int) -> Perm:
    perms = Perm.NONE
    if p_flags & PF_R:
        perms |= Perm.R
    if p_flags & PF_W:
        perms |= Perm.W
    if p_flags & PF_X:
        perms |= Perm.X
    return perms


def _in_executable(segments: list[Segment], address: int) -> bool:
    return any(s.perms & Perm.X and s.vaddr <= address < s.vaddr + s.memsz for s in segments)


def _interpreter(data: bytes, phdrs: list[_Phdr]) -> str | None:
    interp = next((p for p in phdrs if p.p_type == PT_INTERP), None)
    if interp is None:
        return None
    # The kernel's own limits: at least one character plus NUL, at most PATH_MAX, NUL-terminated.
    if not 2 <= interp.filesz <= PATH_MAX:
        raise NotExecutableError(f"corrupt PT_INTERP: {interp.filesz} bytes long")
    if interp.offset + interp.filesz > len(data):
        raise NotExecutableError("PT_INTERP lies outside the file: truncated or corrupt")
    raw = data[interp.offset : interp.offset + interp.filesz]
    if raw[-1] != 0:
        raise NotExecutableError("corrupt PT_INTERP: the interpreter path is not NUL-terminated")
    path = raw[: raw.index(b"\0")]
    if not path:
        raise NotExecutableError("corrupt PT_INTERP: empty interpreter path")
    return os.fsdecode(path)


def _phdr_vaddr(header: ElfHeader, phdrs: list[_Phdr], loads: list[_Phdr]) -> int:
    explicit = next((p for p in phdrs if p.p_type == PT_PHDR), None)
    if explicit is not None:
        return explicit.vaddr
    table_end = header.phoff + header.phnum * header.phentsize
    for load in loads:
        if load.offset <= header.phoff and table_end <= load.offset + load.filesz:
            return load.vaddr - load.offset + header.phoff
    return 0


def _tls(phdrs: list[_Phdr], segments: list[Segment]) -> TlsInfo | None:
    tls = next((p for p in phdrs if p.p_type == PT_TLS), None)
    if tls is None:
        return None
    if tls.filesz > tls.memsz:
        raise NotExecutableError(
            f"corrupt PT_TLS: template size {tls.filesz:#x} exceeds its memory size {tls.memsz:#x}"
        )
    if tls.align > 1 and not is_power_of_two(tls.align):
        raise NotExecutableError(f"corrupt PT_TLS: alignment {tls.align:#x} is not a power of two")
    if tls.align > PAGE_SIZE * 16 or tls.memsz > 1 << 30:
        raise NotExecutableError(
            f"corrupt PT_TLS: absurd size {tls.memsz:#x} or alignment {tls.align:#x}"
        )
    if tls.filesz and not any(
        s.vaddr <= tls.vaddr and tls.vaddr + tls.filesz <= s.vaddr + s.memsz for s in segments
    ):
        raise NotExecutableError(
            f"corrupt PT_TLS: template at {tls.vaddr:#x} is not inside a loadable segment"
        )
    return TlsInfo(vaddr=tls.vaddr, filesz=tls.filesz, memsz=tls.memsz, align=tls.align)
