"""Files the loader must refuse, each with one clear line: not executables, foreign machines, object
files and core dumps, truncated and corrupt headers, absurd sizes; and nothing but
NotExecutableError (or ProgramNotFoundError for a missing path) may ever come out of load()."""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

import appvirt.loader as loader
from appvirt.errors import NotExecutableError, ProgramNotFoundError
from appvirt.loader import load, load_bytes

ELF64_PHDR = 64  # e_phoff of gcc's output
ELF64_PHENT = 56
ELF32_PHDR = 52
ELF32_PHENT = 32


def refuse(data: bytes, *words: str) -> str:
    """Load ``data``, expect NotExecutableError, check its message is one line naming ``words``."""
    with pytest.raises(NotExecutableError) as info:
        load_bytes(data, "prog")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("prog: ")
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    buffer = bytearray(data)
    struct.pack_into(fmt, buffer, offset, value)
    return bytes(buffer)


def load_phdrs(data: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """(index, p_type, offset, vaddr, filesz, memsz) of each program header of a 64-bit ELF."""
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    (phnum,) = struct.unpack_from("<H", data, 0x38)
    result = []
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * ELF64_PHENT
        )
        result.append((i, p_type, offset, vaddr, filesz, memsz))
    return result


@pytest.fixture(scope="module")
def elf64(static64: Path) -> bytes:
    return static64.read_bytes()


@pytest.fixture(scope="module")
def elf32(static32: Path) -> bytes:
    return static32.read_bytes()


@pytest.fixture(scope="module")
def pe64(win_exe: Callable[[str], Path]) -> bytes:
    return win_exe("x86_64").read_bytes()


def pe_offsets(data: bytes) -> tuple[int, int]:
    """(offset of the file header, offset of the optional header)."""
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    return lfanew + 4, lfanew + 24


# ---- not executables at all -------------------------------------------------------------------


def test_zero_length() -> None:
    refuse(b"", "empty", "not an ELF or PE executable")


def test_random_bytes() -> None:
    rng = random.Random(1234)
    for length in (1, 3, 16, 100, 4096):
        refuse(
            rng.randbytes(length).replace(b"\x7f", b"\0").replace(b"M", b"\0"), "not an ELF or PE"
        )


def test_script() -> None:
    refuse(b"#!/bin/sh\necho hi\n", "script")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(NotExecutableError, match="directory"):
        load(str(tmp_path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFoundError):
        load(str(tmp_path / "nope"))


def test_device_is_not_read() -> None:
    # /dev/zero never ends: the loader must refuse it before reading.
    with pytest.raises(NotExecutableError, match="not a regular file"):
        load("/dev/zero")


def test_oversized_file_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elf64: bytes
) -> None:
    path = tmp_path / "big"
    path.write_bytes(elf64)
    monkeypatch.setattr(loader, "MAX_FILE_SIZE", 1000)
    with pytest.raises(NotExecutableError, match="too large"):
        load(str(path))


def test_load_from_path_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(NotExecutableError) as info:
        load(str(path))
    assert str(info.value).startswith(str(path))
    assert info.value.exit_code == 126


# ---- ELF header ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "name"),
    [(40, "ARM"), (183, "AArch64"), (243, "RISC-V"), (8, "MIPS"), (9999, "9999")],
)
def test_elf_foreign_machine(elf64: bytes, machine: int, name: str) -> None:
    refuse(patched(elf64, 0x12, "<H", machine), "unsupported machine", name)


def test_elf_x32_class(elf64: bytes) -> None:
    refuse(patched(elf64, 4, "B", 1), "x32")


def test_elf_i386_with_64bit_class(elf32: bytes) -> None:
    refuse(patched(elf32, 4, "B", 2), "class")


def test_elf_invalid_class(elf64: bytes) -> None:
    refuse(patched(elf64, 4, "B", 7), "class")


def test_elf_big_endian(elf64: bytes) -> None:
    refuse(patched(elf64, 5, "B", 2), "big-endian")


def test_elf_object_file(object_file: Path) -> None:
    refuse(object_file.read_bytes(), "ET_REL", "object")


def test_elf_core_dump(elf64: bytes) -> None:
    refuse(patched(elf64, 0x10, "<H", 4), "core")


def test_elf_unknown_type(elf64: bytes) -> None:
    refuse(patched(elf64, 0x10, "<H", 0xFE00), "not executable")


def test_elf_wrong_phentsize(elf64: bytes) -> None:
    refuse(patched(elf64, 0x36, "<H", 40), "entry size")


def test_elf_no_program_headers(elf64: bytes) -> None:
    refuse(patched(elf64, 0x38, "<H", 0), "no program headers")


def test_elf_program_headers_outside_file(elf64: bytes) -> None:
    refuse(patched(elf64, 0x20, "<Q", len(elf64) - 10), "outside the file")
    refuse(patched(elf64, 0x38, "<H", 0xFFFF), "program header")


# ---- ELF segments -------------------------------------------------------------------------------


def _first_load(data: bytes, nth: int = 0) -> int:
    """Offset of the nth PT_LOAD program header in a 64-bit ELF."""
    loads = [i for i, p_type, *_ in load_phdrs(data) if p_type == 1]
    return ELF64_PHDR + loads[nth] * ELF64_PHENT


def test_elf_segment_outside_file(elf64: bytes) -> None:
    phdr = _first_load(elf64, 1)
    refuse(patched(elf64, phdr + 8, "<Q", len(elf64) + 0x1000), "outside the file")
    refuse(patched(elf64, phdr + 32, "<Q", 1 << 40), "outside the file")


def test_elf_filesz_larger_than_memsz(elf64: bytes) -> None:
    phdr = _first_load(elf64, 1)
    (filesz,) = struct.unpack_from("<Q", elf64, phdr + 32)
    refuse(patched(elf64, phdr + 40, "<Q", filesz - 1), "exceeds memory size")


def test_elf_absurd_memsz_x86_64(elf64: bytes) -> None:
    phdr = _first_load(elf64, 3)
    refuse(patched(elf64, phdr + 40, "<Q", 65 << 30), "absurdly large")


def test_elf_absurd_memsz_i386(elf32: bytes) -> None:
    (phoff,) = struct.unpack_from("<I", elf32, 0x1C)
    (phnum,) = struct.unpack_from("<H", elf32, 0x2C)
    loads = [
        phoff + i * ELF32_PHENT
        for i in range(phnum)
        if struct.unpack_from("<I", elf32, phoff + i * ELF32_PHENT)[0] == 1
    ]
    # p_memsz is 32 bits in ELF32: the largest value already reaches past 4 GiB with the address.
    refuse(patched(elf32, loads[-1] + 20, "<I", 0xFFFFF000), "address space")


def test_elf_segment_beyond_user_space(elf64: bytes) -> None:
    phdr = _first_load(elf64, 3)
    (vaddr,) = struct.unpack_from("<Q", elf64, phdr + 16)
    moved = patched(elf64, phdr + 16, "<Q", (1 << 47) - 0x1000 + (vaddr & 0xFFF))
    refuse(moved, "address space")


def test_elf_overlapping_segments(elf64: bytes) -> None:
    first = _first_load(elf64, 0)
    second = _first_load(elf64, 1)
    (vaddr,) = struct.unpack_from("<Q", elf64, first + 16)
    (offset,) = struct.unpack_from("<Q", elf64, second + 8)
    # Move the second segment onto the first (keeping vaddr and offset congruent).
    refuse(patched(elf64, second + 16, "<Q", vaddr + offset % 0x1000), "overlapping")


def test_elf_static_entry_outside_code(elf64: bytes) -> None:
    refuse(patched(elf64, 0x18, "<Q", 0x10), "entry point", "executable segment")


def test_elf_misaligned_segment(elf64: bytes) -> None:
    phdr = _first_load(elf64, 1)
    (vaddr,) = struct.unpack_from("<Q", elf64, phdr + 16)
    refuse(patched(elf64, phdr + 16, "<Q", vaddr + 8), "page")


def test_elf_no_loadable_segment(elf64: bytes) -> None:
    data = bytearray(elf64)
    for i, p_type, *_ in load_phdrs(elf64):
        if p_type == 1:
            struct.pack_into("<I", data, ELF64_PHDR + i * ELF64_PHENT, 4)  # PT_NOTE
    refuse(bytes(data), "no loadable")


def test_elf_bad_interpreter(elf_binary: Callable[[str], Path]) -> None:
    data = elf_binary("pie64").read_bytes()
    interp = next(i for i, p_type, *_ in load_phdrs(data) if p_type == 3)
    phdr = ELF64_PHDR + interp * ELF64_PHENT
    (offset,) = struct.unpack_from("<Q", data, phdr + 8)
    (filesz,) = struct.unpack_from("<Q", data, phdr + 32)
    refuse(patched(data, phdr + 32, "<Q", 10000), "PT_INTERP")
    refuse(patched(data, offset + filesz - 1, "B", ord("x")), "NUL")


def test_elf_truncated_prefixes(elf64: bytes) -> None:
    """Every prefix that cuts into a segment is refused; every longer one loads the same image."""
    needed = max(
        offset + filesz for _, p_type, offset, _v, filesz, _m in load_phdrs(elf64) if p_type == 1
    )
    full = load_bytes(elf64, "prog")
    rng = random.Random(7)
    lengths = set(range(0, 200)) | {rng.randrange(len(elf64)) for _ in range(300)}
    lengths |= {needed - 1, needed, needed + 1, len(elf64) - 1}
    for length in sorted(lengths):
        prefix = elf64[:length]
        if length < needed:
            with pytest.raises(NotExecutableError) as info:
                load_bytes(prefix, "prog")
            assert "\n" not in str(info.value)
        else:
            assert load_bytes(prefix, "prog").segments == full.segments


# ---- PE headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "name"),
    [(0xAA64, "ARM64"), (0x1C4, "ARMv7"), (0x200, "IA-64"), (0x5064, "RISC-V"), (0x1234, "0x1234")],
)
def test_pe_foreign_machine(pe64: bytes, machine: int, name: str) -> None:
    file_header, _ = pe_offsets(pe64)
    refuse(patched(pe64, file_header, "<H", machine), "unsupported PE machine", name)


def test_pe_machine_and_magic_disagree(pe64: bytes) -> None:
    file_header, _ = pe_offsets(pe64)
    refuse(patched(pe64, file_header, "<H", 0x14C), "magic")


def test_pe_no_sections(pe64: bytes) -> None:
    file_header, _ = pe_offsets(pe64)
    refuse(patched(pe64, file_header + 2, "<H", 0), "no sections")


def test_pe_not_executable_image(pe64: bytes) -> None:
    file_header, _ = pe_offsets(pe64)
    (characteristics,) = struct.unpack_from("<H", pe64, file_header + 18)
    refuse(patched(pe64, file_header + 18, "<H", characteristics & ~2), "not marked")


def test_dos_program() -> None:
    dos = bytearray(b"MZ" + b"\0" * 200)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    refuse(bytes(dos), "PE signature")
    struct.pack_into("<I", dos, 0x3C, 0x10000)
    refuse(bytes(dos), "without a PE header")
    dos[0x80:0x82] = b"NE"
    struct.pack_into("<I", dos, 0x3C, 0x80)
    refuse(bytes(dos), "NE executable")


def test_pe_truncated_dos_header() -> None:
    refuse(b"MZ\x90\0", "truncated")


def test_pe_section_table_outside_file(pe64: bytes) -> None:
    file_header, _ = pe_offsets(pe64)
    refuse(patched(pe64, file_header + 2, "<H", 0xFFFF), "section table")


def test_pe_absurd_image_size(pe64: bytes) -> None:
    _, optional = pe_offsets(pe64)
    refuse(patched(pe64, optional + 56, "<I", 0), "SizeOfImage")


def test_pe_bad_alignment(pe64: bytes) -> None:
    _, optional = pe_offsets(pe64)
    refuse(patched(pe64, optional + 32, "<I", 0x1234), "SectionAlignment")


def test_pe_image_outside_address_space(pe64: bytes) -> None:
    _, optional = pe_offsets(pe64)
    refuse(patched(pe64, optional + 24, "<Q", 0xFFFF_8000_0000_0000), "address space")


def test_pe_entry_outside_image(pe64: bytes) -> None:
    _, optional = pe_offsets(pe64)
    refuse(patched(pe64, optional + 16, "<I", 0x7FFF0000), "entry point")


def test_pe_section_raw_data_outside_file(pe64: bytes) -> None:
    file_header, optional = pe_offsets(pe64)
    (opt_size,) = struct.unpack_from("<H", pe64, file_header + 16)
    first_section = optional + opt_size
    refuse(patched(pe64, first_section + 20, "<I", len(pe64) + 0x10000), "outside the file")


def test_pe_overlapping_sections(pe64: bytes) -> None:
    file_header, optional = pe_offsets(pe64)
    (opt_size,) = struct.unpack_from("<H", pe64, file_header + 16)
    second_section = optional + opt_size + 40
    refuse(patched(pe64, second_section + 12, "<I", 0x1000), "overlapping")


def test_pe_truncated_prefixes(pe64: bytes) -> None:
    rng = random.Random(11)
    file_header, optional = pe_offsets(pe64)
    headers_end = optional + 240
    lengths = set(range(0, headers_end + 8)) | {rng.randrange(len(pe64)) for _ in range(200)}
    for length in sorted(lengths):
        try:
            load_bytes(pe64[:length], "prog")
        except NotExecutableError as exc:
            assert "\n" not in str(exc)


# ---- nothing else ever escapes -------------------------------------------------------------------


def test_unexpected_parser_exception_is_wrapped(
    monkeypatch: pytest.MonkeyPatch, elf64: bytes
) -> None:
    from appvirt.loader import elf

    def explode(data: bytes, path: str) -> None:
        raise ValueError("boom\nwith a second line")

    monkeypatch.setattr(elf, "parse", explode)
    message = refuse(elf64, "corrupt", "boom")
    assert "ValueError" in message


def test_lief_returning_none_is_an_error(
    monkeypatch: pytest.MonkeyPatch, elf64: bytes, pe64: bytes
) -> None:
    from appvirt.loader import _lief

    monkeypatch.setattr(_lief, "parse_elf", lambda data: None)
    monkeypatch.setattr(_lief, "parse_pe", lambda data: None)
    refuse(elf64, "rejected")
    refuse(pe64, "rejected")


def test_warnings_as_errors_do_not_escape(elf64: bytes) -> None:
    # LIEF's enum bindings warn on unknown segment types; with -W error that must not surface.
    import warnings

    phdr = _first_load(elf64, 0)
    notes = [i for i, p_type, *_ in load_phdrs(elf64) if p_type == 4]
    data = patched(elf64, ELF64_PHDR + notes[0] * ELF64_PHENT, "<I", 0x12345) if notes else elf64
    assert phdr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_bytes(data, "prog")
    assert image.segments


def test_error_exit_code_and_one_line() -> None:
    with pytest.raises(NotExecutableError) as info:
        load_bytes(b"\x7fELF" + b"\xff" * 60, "x y\tz")
    assert info.value.one_line().startswith("appvirt: error: x y z")
    assert os.linesep not in info.value.one_line()
