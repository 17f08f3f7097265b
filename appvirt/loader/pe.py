"""PE images (PE32 for i386, PE32+ for AMD64) to ``Image``: sections, imports, exports, relocations, TLS.

The DOS stub, PE signature, file header and optional-header magic are checked by hand first, so a
refusal names its reason (a DOS or NE program, an ARM64 image, a PE32+ header on an i386 machine)
and LIEF only ever parses a plausible header. Everything LIEF then reports is checked against the
image before it is used: a slot, relocation or callback outside the image is a corrupt file, not an
address the process VM should be asked to write.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import lief

from appvirt.errors import NotExecutableError
from appvirt.loader import _lief
from appvirt.loader._common import (
    ADDRESS_LIMIT,
    align_up,
    c_string,
    check_ranges,
    check_span,
    is_power_of_two,
)
from appvirt.loader.image import Arch, Export, Format, Image, Import, Perm, Segment

IMAGE_FILE_MACHINE_I386 = 0x14C
IMAGE_FILE_MACHINE_AMD64 = 0x8664

IMAGE_FILE_RELOCS_STRIPPED = 0x0001
IMAGE_FILE_EXECUTABLE_IMAGE = 0x0002
IMAGE_FILE_DLL = 0x2000

PE32_MAGIC = 0x10B
PE32PLUS_MAGIC = 0x20B

IMAGE_SCN_MEM_EXECUTE = 0x20000000
IMAGE_SCN_MEM_READ = 0x40000000
IMAGE_SCN_MEM_WRITE = 0x80000000

IMAGE_REL_BASED_ABSOLUTE = 0

SECTION_HEADER_SIZE = 40

# Machine values a refusal may name; the rest are printed as numbers.
MACHINE_NAMES = {
    0x14C: "Intel 80386",
    0x8664: "x86-64 (AMD64)",
    0x1C0: "ARM",
    0x1C2: "ARM Thumb",
    0x1C4: "ARMv7 (ARMNT)",
    0xAA64: "ARM64",
    0xA641: "ARM64EC",
    0xA64E: "ARM64X",
    0x200: "Itanium (IA-64)",
    0x166: "MIPS R4000",
    0x1F0: "PowerPC",
    0x5032: "RISC-V 32",
    0x5064: "RISC-V 64",
    0x6264: "LoongArch 64",
    0xEBC: "EFI byte code",
    0x184: "Alpha",
}

# Minimum optional-header sizes (without data directories) per magic.
_OPTIONAL_MIN = {PE32_MAGIC: 96, PE32PLUS_MAGIC: 112}


@dataclass(slots=True, frozen=True)
class PeHeader:
    """The fields of the DOS, file and optional headers checked before LIEF runs."""

    arch: Arch
    machine_name: str
    nsections: int
    characteristics: int


def read_header(data: bytes) -> PeHeader:
    """Check the PE headers up to the section table; raise NotExecutableError naming the problem."""
    if len(data) < 64:
        raise NotExecutableError("truncated DOS header")
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    signature = data[lfanew : lfanew + 4]
    if signature[:2] in (b"NE", b"LE", b"LX"):
        kind = signature[:2].decode()
        raise NotExecutableError(f"16-bit or OS/2 {kind} executable, not a PE image")
    if len(signature) < 4:
        raise NotExecutableError("MZ file without a PE header (a DOS program, or truncated)")
    if signature != b"PE\0\0":
        raise NotExecutableError("MZ file without a PE signature (a DOS program?)")
    file_header = lfanew + 4
    if file_header + 20 > len(data):
        raise NotExecutableError("truncated PE file header")
    machine, nsections, _time, _symptr, _nsyms, opt_size, characteristics = struct.unpack_from(
        "<HHIIIHH", data, file_header
    )
    arch = _check_machine(machine)
    if not characteristics & IMAGE_FILE_EXECUTABLE_IMAGE:
        raise NotExecutableError("PE file is not marked as an executable image (a linker error?)")
    if nsections == 0:
        raise NotExecutableError("PE image has no sections")
    optional = file_header + 20
    if optional + 2 > len(data):
        raise NotExecutableError("truncated PE optional header")
    (magic,) = struct.unpack_from("<H", data, optional)
    expected = PE32PLUS_MAGIC if arch is Arch.X86_64 else PE32_MAGIC
    if magic != expected:
        raise NotExecutableError(
            f"corrupt PE optional header: magic {magic:#x} for a {arch.value} image "
            f"(expected {expected:#x})"
        )
    if opt_size < _OPTIONAL_MIN[magic] or optional + opt_size > len(data):
        raise NotExecutableError(f"truncated or corrupt PE optional header ({opt_size} bytes)")
    table = optional + opt_size
    if table + nsections * SECTION_HEADER_SIZE > len(data):
        raise NotExecutableError(
            f"PE section table ({nsections} sections at {table:#x}) lies outside the file"
        )
    return PeHeader(
        arch=arch,
        machine_name=MACHINE_NAMES[machine] + (" PE32+" if arch is Arch.X86_64 else " PE32"),
        nsections=nsections,
        characteristics=characteristics,
    )


def _check_machine(machine: int) -> Arch:
    if machine == IMAGE_FILE_MACHINE_AMD64:
        return Arch.X86_64
    if machine == IMAGE_FILE_MACHINE_I386:
        return Arch.I386
    name = MACHINE_NAMES.get(machine, "unknown machine")
    raise NotExecutableError(
        f"unsupported PE machine: {name} ({machine:#06x}); only i386 and AMD64 run here"
    )


@dataclass(slots=True)
class _Layout:
    """Numbers from the optional header, checked once and shared by the builders below."""

    arch: Arch
    base: int
    size: int
    section_alignment: int
    file_alignment: int

    def contains(self, address: int, length: int = 1) -> bool:
        return self.base <= address and address + length <= self.base + self.size


def parse(data: bytes, path: str) -> Image:
    """Build the Image for the PE file ``data`` (already known to start with ``MZ``)."""
    header = read_header(data)
    with _lief.quiet():
        binary = _lief.parse_pe(data)
        if binary is None:
            raise NotExecutableError("corrupt PE file: the PE parser rejected it")
        return _build(data, path, header, binary)


def _build(data: bytes, path: str, header: PeHeader, binary: Any) -> Image:
    optional = binary.optional_header
    layout = _layout(header.arch, optional)
    segments = _segments(data, header, binary, layout)
    is_dll = bool(header.characteristics & IMAGE_FILE_DLL)
    entry_rva = int(optional.addressof_entrypoint)
    if entry_rva == 0 and is_dll:
        entry = 0
    else:
        entry = layout.base + entry_rva
        if not layout.contains(entry):
            raise NotExecutableError(f"entry point RVA {entry_rva:#x} lies outside the image")
    reloc_dir = _directory(binary, "BASE_RELOCATION_TABLE")
    relocatable = reloc_dir[1] > 0 and not header.characteristics & IMAGE_FILE_RELOCS_STRIPPED
    exc_rva, exc_size = _directory(binary, "EXCEPTION_TABLE")
    tls_callbacks, tls_index, tls_raw = _tls(binary, layout)
    return Image(
        path=path,
        format=Format.PE,
        arch=header.arch,
        entry=entry,
        base=layout.base,
        size=layout.size,
        segments=segments,
        relocatable=relocatable,
        static=True,
        is_dll=is_dll,
        subsystem=int(optional.subsystem),
        imports=_imports(binary, layout),
        exports=_exports(binary, layout, segments),
        relocations=_relocations(binary, layout),
        tls_callbacks=tls_callbacks,
        pe_tls_index_addr=tls_index,
        pe_tls_raw=tls_raw,
        stack_reserve=int(optional.sizeof_stack_reserve),
        stack_commit=int(optional.sizeof_stack_commit),
        heap_reserve=int(optional.sizeof_heap_reserve),
        exception_dir=(layout.base + exc_rva, exc_size) if exc_rva and exc_size else (0, 0),
        machine_name=header.machine_name,
    )


def _layout(arch: Arch, optional: Any) -> _Layout:
    base = int(optional.imagebase)
    section_alignment = int(optional.section_alignment)
    file_alignment = int(optional.file_alignment)
    if not is_power_of_two(section_alignment):
        raise NotExecutableError(f"corrupt PE header: SectionAlignment {section_alignment:#x}")
    if not is_power_of_two(file_alignment):
        raise NotExecutableError(f"corrupt PE header: FileAlignment {file_alignment:#x}")
    size = align_up(int(optional.sizeof_image), section_alignment)
    if size == 0:
        raise NotExecutableError("corrupt PE header: SizeOfImage is 0")
    check_span(arch, base, size)
    if base + size > ADDRESS_LIMIT[arch]:
        raise NotExecutableError(
            f"image at {base:#x} (+{size:#x}) lies outside the {arch.value} user address space"
        )
    return _Layout(arch, base, size, section_alignment, file_alignment)


def _segments(data: bytes, header: PeHeader, binary: Any, layout: _Layout) -> list[Segment]:
    sections = list(binary.sections)
    if len(sections) != header.nsections:
        raise NotExecutableError(
            f"corrupt PE section table: {len(sections)} of {header.nsections} sections readable"
        )
    alignment = layout.section_alignment
    headers_size = int(binary.optional_header.sizeof_headers)
    if headers_size == 0 or headers_size > len(data):
        raise NotExecutableError(f"corrupt PE header: SizeOfHeaders {headers_size:#x}")
    spans = []  # (rva, virtual memsz, memsz with raw data, section)
    for section in sections:
        rva = int(section.virtual_address)
        vsize = int(section.virtual_size)
        raw_size = int(section.sizeof_raw_data)
        memsz = align_up(max(vsize, raw_size), alignment)
        if memsz == 0:
            continue
        spans.append((rva, align_up(vsize or raw_size, alignment), memsz, section))
    spans.sort(key=lambda item: item[0])
    first_rva = spans[0][0] if spans else layout.size
    headers = Segment(
        vaddr=layout.base,
        memsz=min(align_up(headers_size, alignment), max(first_rva, headers_size)),
        data=data[:headers_size],
        perms=Perm.R,
        name="headers",
    )
    segments = [headers]
    for index, (rva, vmemsz, memsz, section) in enumerate(spans):
        # A raw size larger than the virtual size may reach into the next section; the loader
        # maps only up to it, so clip there rather than call the image overlapping.
        limit = spans[index + 1][0] if index + 1 < len(spans) else layout.size
        if memsz > limit - rva >= vmemsz:
            memsz = limit - rva
        name = _section_name(section)
        if rva + memsz > layout.size:
            raise NotExecutableError(f"section {name} extends past SizeOfImage")
        segments.append(
            Segment(
                vaddr=layout.base + rva,
                memsz=memsz,
                data=_raw_data(data, section, name, memsz, layout.file_alignment),
                perms=_perms(int(section.characteristics)),
                file_offset=int(section.pointerto_raw_data),
                name=name,
            )
        )
    check_ranges(layout.arch, segments, "section")
    return segments


def _section_name(section: Any) -> str:
    name = str(section.name)
    long_name = section.coff_string if name.startswith("/") else None
    if long_name is not None:  # "/4": an offset into the COFF string table (MinGW debug sections)
        name = str(long_name.string)
    return name if name.isprintable() else repr(name)


def _raw_data(data: bytes, section: Any, name: str, memsz: int, file_alignment: int) -> bytes:
    offset = int(section.pointerto_raw_data)
    length = min(int(section.sizeof_raw_data), memsz)
    if length == 0 or offset == 0:
        return b""
    end = offset + length
    # Linkers round the last section's raw size up to FileAlignment even when the file stops
    # short of it; tolerate that much and no more.
    if end > len(data) and (offset > len(data) or end - len(data) >= file_alignment):
        raise NotExecutableError(
            f"section {name} raw data ({offset:#x}+{length:#x}) lies outside the file "
            f"({len(data)} bytes): truncated or corrupt"
        )
    return data[offset:end]


def _perms(characteristics: int) -> Perm:
    perms = Perm.NONE
    if characteristics & IMAGE_SCN_MEM_READ:
        perms |= Perm.R
    if characteristics & IMAGE_SCN_MEM_WRITE:
        perms |= Perm.W
    if characteristics & IMAGE_SCN_MEM_EXECUTE:
        perms |= Perm.X
    return perms


def _directory(binary: Any, kind: str) -> tuple[int, int]:
    """(RVA, size) of a data directory, (0, 0) when absent."""
    directory = binary.data_directory(getattr(lief.PE.DataDirectory.TYPES, kind))
    if directory is None:
        return (0, 0)
    return (int(directory.rva), int(directory.size))


def _imports(binary: Any, layout: _Layout) -> list[Import]:
    ptr = layout.arch.ptr_size
    result = []
    for library in binary.imports:
        dll = str(library.name).lower()
        iat = int(library.import_address_table_rva)
        if iat == 0:
            raise NotExecutableError(f"corrupt import of {dll or '?'}: no import address table")
        for j, entry in enumerate(library.entries):
            slot = layout.base + iat + j * ptr
            if not layout.contains(slot, ptr):
                raise NotExecutableError(f"corrupt import of {dll}: IAT slot outside the image")
            if entry.is_ordinal:
                result.append(Import(dll=dll, name=None, ordinal=int(entry.ordinal), slot=slot))
            else:
                result.append(Import(dll=dll, name=str(entry.name), ordinal=None, slot=slot))
    return result


def _exports(binary: Any, layout: _Layout, segments: list[Segment]) -> list[Export]:
    if not binary.has_exports:
        return []
    dir_rva, dir_size = _directory(binary, "EXPORT_TABLE")
    result = []
    for entry in binary.get_export().entries:
        rva = int(entry.function_rva)
        if rva == 0:
            continue  # an unused slot in the export address table
        name = str(entry.name) or None
        if dir_rva <= rva < dir_rva + dir_size:
            target = _string_at(segments, layout.base + rva)
            if target is None:
                raise NotExecutableError(f"corrupt export {name or entry.ordinal}: bad forwarder")
            result.append(
                Export(name=name, ordinal=int(entry.ordinal), address=0, forwarder=target)
            )
            continue
        address = layout.base + rva
        if not layout.contains(address):
            raise NotExecutableError(f"corrupt export {name or entry.ordinal}: outside the image")
        result.append(Export(name=name, ordinal=int(entry.ordinal), address=address))
    return result


def _string_at(segments: list[Segment], address: int) -> str | None:
    for seg in segments:
        if seg.vaddr <= address < seg.vaddr + len(seg.data):
            raw = c_string(seg.data, address - seg.vaddr, 512)
            return raw.decode("latin-1") if raw else None
    return None


def _relocations(binary: Any, layout: _Layout) -> list[tuple[int, int]]:
    result = []
    for block in binary.relocations:
        for entry in block.entries:
            kind = int(entry.data) >> 12  # the raw IMAGE_REL_BASED_* type (LIEF remaps some)
            if kind == IMAGE_REL_BASED_ABSOLUTE:
                continue
            address = layout.base + int(entry.address)
            if not layout.contains(address):
                raise NotExecutableError(
                    f"corrupt base relocation at RVA {int(entry.address):#x}: outside the image"
                )
            result.append((address, kind))
    return result


def _tls(binary: Any, layout: _Layout) -> tuple[list[int], int, tuple[int, int]]:
    if not binary.has_tls:
        return [], 0, (0, 0)
    tls = binary.tls
    callbacks = [int(c) for c in tls.callbacks]
    for callback in callbacks:
        if not layout.contains(callback):
            raise NotExecutableError(f"corrupt TLS directory: callback {callback:#x} outside image")
    start, end = (int(v) for v in tls.addressof_raw_data)
    if start > end or end - start > layout.size:
        raise NotExecutableError(f"corrupt TLS directory: template {start:#x}-{end:#x}")
    return callbacks, int(tls.addressof_index), (start, end)
