"""PE loading checked against binutils and against the section table read by hand.

``objdump -p`` (the MinGW build) gives an independent view of the optional header, the import
tables (DLL, IAT RVA, names and ordinals in order), the export table (ordinals, RVAs, forwarders)
and every base relocation; each is compared with what the loader produced.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appvirt.loader import load, load_bytes
from appvirt.loader.image import Arch, Format, Image, Perm

OBJDUMP = "x86_64-w64-mingw32-objdump"

pytestmark = pytest.mark.skipif(shutil.which(OBJDUMP) is None, reason=f"{OBJDUMP} not installed")

ARCHES = ["x86_64", "i386"]

_DESCRIPTOR = re.compile(
    r"^\s*[0-9a-f]{8}\s+[0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8} ([0-9a-f]{8})$"
)
_MEMBER = re.compile(r"^\t([0-9a-f]+)\t\s*(\d+)\s+(\S+)")
_EXPORT = re.compile(
    r"^\t\[\s*(\d+)\] \+base\[\s*(\d+)\] ([0-9a-f]+) (Export|Forwarder) RVA(?: -- (\S+))?"
)
_EXPORT_NAME = re.compile(r"^\t\[\s*(\d+)\] (\S+)$")
_RELOC = re.compile(r"^\treloc\s+\d+ offset\s+[0-9a-f]+ \[([0-9a-f]+)\] (\S+)")
_DIRECTORY = re.compile(r"^Entry ([0-9a-f]) ([0-9a-f]+) ([0-9a-f]+) ")

_RELOC_KINDS = {"HIGHLOW": 3, "DIR64": 10, "HIGH": 1, "LOW": 2}


@dataclass
class ObjdumpView:
    header: dict[str, int]
    directories: dict[int, tuple[int, int]]
    imports: list[tuple[str, int, list[tuple[str | None, int | None]]]]  # dll, IAT RVA, members
    exports: dict[int, tuple[int, str | None]] = field(default_factory=dict)  # ordinal: rva, fwd
    export_names: dict[int, str] = field(default_factory=dict)  # EAT index: name
    ordinal_base: int = 0
    relocations: list[tuple[int, int]] = field(default_factory=list)


def objdump(path: Path) -> ObjdumpView:
    out = subprocess.run([OBJDUMP, "-p", str(path)], capture_output=True, text=True, check=True)
    view = ObjdumpView(header={}, directories={}, imports=[])
    first_thunk = 0
    section = ""
    for line in out.stdout.splitlines():
        if "\t" in line and not line.startswith("\t") and re.match(r"^[A-Za-z]\w*\t", line):
            key, _, value = line.partition("\t")
            token = value.strip().split()[0] if value.strip() else ""
            if re.fullmatch(r"[0-9a-f]+", token):
                view.header[key] = int(token, 16)
        if line.startswith("The Import Tables"):
            section = "imports"
        elif line.startswith("The Export Tables"):
            section = "exports"
        elif line.startswith("PE File Base Relocations"):
            section = "relocs"
        elif line.startswith("The Function Table") or line.startswith("There is a debug"):
            section = ""
        if match := _DIRECTORY.match(line):
            view.directories[int(match[1], 16)] = (int(match[2], 16), int(match[3], 16))
        if section == "imports":
            if match := _DESCRIPTOR.match(line):
                first_thunk = int(match[1], 16)
            elif line.startswith("\tDLL Name: "):
                view.imports.append((line.split(": ", 1)[1].lower(), first_thunk, []))
            elif (match := _MEMBER.match(line)) and view.imports:
                if match[3] == "<none>":
                    view.imports[-1][2].append((None, int(match[2])))
                else:
                    view.imports[-1][2].append((match[3], None))
        elif section == "exports":
            if "Ordinal Base" in line and "--" in line:
                view.ordinal_base = int(line.rsplit(" ", 1)[1])
            if match := _EXPORT.match(line):
                view.exports[int(match[2])] = (int(match[3], 16), match[5])
            elif match := _EXPORT_NAME.match(line):
                view.export_names[int(match[1])] = match[2]
        elif section == "relocs":
            if (match := _RELOC.match(line)) and match[2] != "ABSOLUTE":
                view.relocations.append((int(match[1], 16), _RELOC_KINDS[match[2]]))
    return view


@dataclass
class RawSection:
    name: bytes
    vsize: int
    rva: int
    raw_size: int
    raw_ptr: int
    characteristics: int


def raw_sections(path: Path) -> list[RawSection]:
    """The section table, read with struct only (independent of the loader and of LIEF)."""
    data = path.read_bytes()
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    _machine, count, _t, _p, _n, opt_size, _c = struct.unpack_from("<HHIIIHH", data, lfanew + 4)
    table = lfanew + 24 + opt_size
    result = []
    for i in range(count):
        name, vsize, rva, raw_size, raw_ptr, *_rest, chars = struct.unpack_from(
            "<8sIIIIIIHHI", data, table + 40 * i
        )
        result.append(RawSection(name.rstrip(b"\0"), vsize, rva, raw_size, raw_ptr, chars))
    return result


def check_against_objdump(image: Image, path: Path) -> ObjdumpView:
    ref = objdump(path)
    base = ref.header["ImageBase"]
    assert image.format is Format.PE
    assert image.base == base
    assert image.size == ref.header["SizeOfImage"]
    entry_rva = ref.header["AddressOfEntryPoint"]
    assert image.entry == (base + entry_rva if entry_rva or not image.is_dll else 0)
    assert image.subsystem == ref.header["Subsystem"]
    assert image.stack_reserve == ref.header["SizeOfStackReserve"]
    assert image.stack_commit == ref.header["SizeOfStackCommit"]
    assert image.heap_reserve == ref.header["SizeOfHeapReserve"]

    exc_rva, exc_size = ref.directories.get(3, (0, 0))
    assert image.exception_dir == ((base + exc_rva, exc_size) if exc_size else (0, 0))

    ptr = image.arch.ptr_size
    expected_imports = [
        (dll, name, ordinal, base + iat + j * ptr)
        for dll, iat, members in ref.imports
        for j, (name, ordinal) in enumerate(members)
    ]
    got_imports = [(i.dll, i.name, i.ordinal, i.slot) for i in image.imports]
    assert got_imports == expected_imports

    expected_exports = {}
    for ordinal, (rva, forwarder) in ref.exports.items():
        name = ref.export_names.get(ordinal - ref.ordinal_base)
        address = 0 if forwarder else base + rva
        expected_exports[ordinal] = (name, address, forwarder)
    got_exports = {e.ordinal: (e.name, e.address, e.forwarder) for e in image.exports}
    assert got_exports == expected_exports

    assert image.relocations == [(base + rva, kind) for rva, kind in ref.relocations]
    assert image.relocatable == (ref.directories.get(5, (0, 0))[1] > 0)
    return ref


def check_sections(image: Image, path: Path) -> None:
    data = path.read_bytes()
    sections = raw_sections(path)
    align = 0x1000  # MinGW's SectionAlignment
    headers, *rest = image.segments
    assert headers.vaddr == image.base and headers.perms == Perm.R
    assert len(rest) == len(sections)
    for seg, raw in zip(rest, sections, strict=True):
        assert seg.vaddr == image.base + raw.rva
        assert seg.memsz == -(-max(raw.vsize, raw.raw_size) // align) * align
        assert seg.data == data[raw.raw_ptr : raw.raw_ptr + min(raw.raw_size, seg.memsz)]
        assert bool(seg.perms & Perm.X) == bool(raw.characteristics & 0x20000000)
        assert bool(seg.perms & Perm.W) == bool(raw.characteristics & 0x80000000)
        assert bool(seg.perms & Perm.R) == bool(raw.characteristics & 0x40000000)
        if not raw.name.startswith(b"/"):
            assert seg.name == raw.name.decode()


@pytest.mark.parametrize("arch", ARCHES)
def test_exe_matches_objdump(win_exe: Callable[[str], Path], arch: str) -> None:
    path = win_exe(arch)
    image = load(str(path))
    check_against_objdump(image, path)
    check_sections(image, path)
    assert image.arch is (Arch.X86_64 if arch == "x86_64" else Arch.I386)
    assert not image.is_dll
    names = {i.name for i in image.imports if i.dll == "kernel32.dll"}
    assert {"GetStdHandle", "WriteFile", "ExitProcess"} <= names
    assert image.relocations, "MinGW links with a base relocation table"
    assert image.relocatable
    kinds = {kind for _addr, kind in image.relocations}
    assert kinds == ({10} if arch == "x86_64" else {3})
    text = next(s for s in image.segments if s.name == ".text")
    assert text.vaddr <= image.entry < text.vaddr + text.memsz


@pytest.mark.parametrize("arch", ARCHES)
def test_exe_tls(win_exe: Callable[[str], Path], arch: str) -> None:
    image = load(str(win_exe(arch)))
    tls = next(s for s in image.segments if s.name == ".tls")
    start, end = image.pe_tls_raw
    assert tls.vaddr <= start < end <= tls.vaddr + tls.memsz
    assert image.base < image.pe_tls_index_addr < image.base + image.size
    assert image.tls_callbacks
    executable = [s for s in image.segments if s.perms & Perm.X]
    for callback in image.tls_callbacks:
        assert any(s.vaddr <= callback < s.vaddr + s.memsz for s in executable)


@pytest.mark.parametrize("arch", ARCHES)
def test_dll_exports(win_dll: Callable[[str], Path], arch: str) -> None:
    path = win_dll(arch)
    image = load(str(path))
    check_against_objdump(image, path)
    check_sections(image, path)
    assert image.is_dll
    by_name = {e.name: e for e in image.exports}
    assert set(by_name) == {"add", "mul", "shared_value"}
    text = next(s for s in image.segments if s.name == ".text")
    for name in ("add", "mul"):
        assert text.vaddr <= by_name[name].address < text.vaddr + text.memsz
    data_seg = next(
        s for s in image.segments if s.vaddr <= by_name["shared_value"].address < s.vaddr + s.memsz
    )
    assert data_seg.perms & Perm.W


def test_forwarder_and_noname_exports(forwarding_dll: Path) -> None:
    image = load(str(forwarding_dll))
    check_against_objdump(image, forwarding_dll)
    by_ordinal = {e.ordinal: e for e in image.exports}
    assert by_ordinal[5].name == "add" and by_ordinal[5].address > image.base
    assert by_ordinal[7].name is None and by_ordinal[7].address > image.base
    forwarded = [e for e in image.exports if e.forwarder]
    assert [(e.name, e.forwarder, e.address) for e in forwarded] == [
        ("MyTick", "KERNEL32.GetTickCount", 0)
    ]


def test_ordinal_import(ordinal_user: Path) -> None:
    image = load(str(ordinal_user))
    check_against_objdump(image, ordinal_user)
    fwd = [i for i in image.imports if i.dll == "fwd.dll"]
    assert [(i.name, i.ordinal) for i in fwd] == [("add", None), (None, 7)]
    assert fwd[1].slot == fwd[0].slot + 8


def test_headers_segment_holds_the_pe_header(win_exe: Callable[[str], Path]) -> None:
    image = load(str(win_exe("x86_64")))
    headers = image.segments[0]
    assert headers.name == "headers"
    assert headers.data[:2] == b"MZ"
    (lfanew,) = struct.unpack_from("<I", headers.data, 0x3C)
    assert headers.data[lfanew : lfanew + 4] == b"PE\0\0"
    assert image.machine_name.startswith("x86-64")


def test_relocs_stripped_flag_makes_image_fixed(win_exe: Callable[[str], Path]) -> None:
    data = bytearray(win_exe("i386").read_bytes())
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    (characteristics,) = struct.unpack_from("<H", data, lfanew + 22)
    struct.pack_into("<H", data, lfanew + 22, characteristics | 0x0001)
    image = load_bytes(bytes(data), "fixed.exe")
    assert not image.relocatable
    assert image.relocations  # still listed: the table is there, only the flag forbids rebasing
