"""The loader's output: a plain description of an executable, independent of any emulator.

An ``Image`` is pure data (picklable) so it can be cached and so ``core/`` and the personalities
never need LIEF at run time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Arch(enum.Enum):
    X86_64 = "x86_64"
    I386 = "i386"

    @property
    def bits(self) -> int:
        return 64 if self is Arch.X86_64 else 32

    @property
    def ptr_size(self) -> int:
        return 8 if self is Arch.X86_64 else 4


class Format(enum.Enum):
    ELF = "elf"
    PE = "pe"


class Perm(enum.IntFlag):
    """Page permissions; values equal Unicorn's UC_PROT_* and Linux's PROT_*."""

    NONE = 0
    R = 1
    W = 2
    X = 4
    RW = 3
    RX = 5
    RWX = 7


@dataclass(slots=True, frozen=True)
class Segment:
    """One loadable range: ``data`` holds the file bytes, the rest up to ``memsz`` is zero."""

    vaddr: int  # address at the image's preferred base (ELF: p_vaddr; PE: base + section RVA)
    memsz: int
    data: bytes
    perms: Perm
    file_offset: int = 0
    name: str = ""


@dataclass(slots=True, frozen=True)
class TlsInfo:
    vaddr: int
    filesz: int
    memsz: int
    align: int


@dataclass(slots=True, frozen=True)
class Import:
    """A PE import: ``slot`` is the IAT entry address at the preferred base."""

    dll: str
    name: str | None
    ordinal: int | None
    slot: int


@dataclass(slots=True, frozen=True)
class Export:
    name: str | None
    ordinal: int
    address: int  # at the preferred base; forwarders have address 0
    forwarder: str | None = None


@dataclass(slots=True)
class Image:
    """Everything a process VM needs to map and start a program."""

    path: str
    format: Format
    arch: Arch
    entry: int  # at the preferred base
    base: int  # preferred base: lowest mapped address for ELF, ImageBase for PE
    size: int  # span of the mapped image from ``base``
    segments: list[Segment]
    relocatable: bool = False  # ELF ET_DYN (PIE, ld.so) or PE with relocations
    static: bool = True
    interpreter: str | None = None  # ELF PT_INTERP
    phdr_vaddr: int = 0  # ELF: address of the program headers in memory (for AT_PHDR)
    phentsize: int = 0
    phnum: int = 0
    tls: TlsInfo | None = None
    stack_exec: bool = False
    # PE only
    is_dll: bool = False
    subsystem: int = 0
    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    relocations: list[tuple[int, int]] = field(default_factory=list)  # (address, kind)
    tls_callbacks: list[int] = field(default_factory=list)
    pe_tls_index_addr: int = 0
    pe_tls_raw: tuple[int, int] = (0, 0)  # (start, end) of the TLS template
    stack_reserve: int = 0
    stack_commit: int = 0
    heap_reserve: int = 0
    exception_dir: tuple[int, int] = (0, 0)  # (address, size) of .pdata, x64
    machine_name: str = ""
