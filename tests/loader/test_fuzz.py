"""Fuzzing ``load_bytes`` with mutated headers of real binaries (hypothesis).

Each example takes a real ELF or PE file built by the fixtures, overwrites a few bytes, 16-, 32- or
64-bit fields of its headers (ELF header and program headers; DOS, PE, optional header, section
table; or the import, export, relocation and TLS data LIEF walks), sometimes truncates it, and loads
it. The loader must either return a self-consistent Image or raise NotExecutableError with a
one-line message: never any other exception, never a crash, and never take longer than
``TIME_BOUND`` seconds for one file.

CI runs a small number of examples per test (about 30 s in all). For a long campaign, raise the
count with the environment variable, and spread it over cores with pytest-xdist if you like::

    APPVIRT_FUZZ_EXAMPLES=20000 pytest tests/loader/test_fuzz.py -p no:randomly
    APPVIRT_FUZZ_EXAMPLES=20000 pytest tests/loader/test_fuzz.py -n 4

Setting ``APPVIRT_FUZZ_DB=1`` keeps hypothesis's example database (``.hypothesis/``) so a failure
found in a campaign is replayed first on the next run; it is off by default to keep the
repository clean.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appvirt.errors import NotExecutableError
from appvirt.loader import load_bytes
from appvirt.loader.image import Format, Image

EXAMPLES = int(os.environ.get("APPVIRT_FUZZ_EXAMPLES", "500"))
TIME_BOUND = 2.0

_CAMPAIGN_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # bounded explicitly below, after LIEF's import cost has been paid
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ_SETTINGS = (
    _CAMPAIGN_SETTINGS
    if os.environ.get("APPVIRT_FUZZ_DB") == "1"
    else settings(_CAMPAIGN_SETTINGS, database=None)
)

# Values that hit edge cases in size and offset arithmetic.
INTERESTING = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x1000,
    0x7FFF,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_FFFF_FFFF,
]

Mutation = tuple[int, str, int]

mutation = st.tuples(
    st.integers(min_value=0, max_value=1 << 20),  # position, reduced modulo the region
    st.sampled_from(["byte", "flip", "u16", "u32", "u64", "interesting32", "interesting64"]),
    st.integers(min_value=0, max_value=(1 << 64) - 1),
)
mutations = st.lists(mutation, min_size=1, max_size=12)
truncation = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))


def mutate(
    data: bytes, regions: list[tuple[int, int]], edits: list[Mutation], cut: float | None
) -> bytes:
    buffer = bytearray(data)
    spans = [(start, end) for start, end in regions if end > start]
    for position, how, value in edits:
        start, end = spans[position % len(spans)]
        at = start + position % (end - start)
        if how == "byte":
            buffer[at] = value & 0xFF
        elif how == "flip":
            buffer[at] ^= 1 << (value % 8)
        else:
            fmt, width = {
                "u16": ("<H", 2),
                "u32": ("<I", 4),
                "u64": ("<Q", 8),
                "interesting32": ("<I", 4),
                "interesting64": ("<Q", 8),
            }[how]
            if how.startswith("interesting"):
                value = INTERESTING[value % len(INTERESTING)]
            value &= (1 << (8 * width)) - 1
            at = min(at, len(buffer) - width)
            struct.pack_into(fmt, buffer, at, value)
    if cut is not None:
        del buffer[int(len(buffer) * cut) :]
    return bytes(buffer)


def check_consistent(image: Image) -> None:
    """What a returned Image promises the process VM."""
    end = image.base + image.size
    for seg in image.segments:
        assert len(seg.data) <= seg.memsz
        assert image.base <= seg.vaddr and seg.vaddr + seg.memsz <= end
    if image.format is Format.PE:
        ptr = image.arch.ptr_size
        for imp in image.imports:
            assert image.base <= imp.slot and imp.slot + ptr <= end
        for export in image.exports:
            assert export.forwarder is not None or image.base <= export.address < end
        for address, _kind in image.relocations:
            assert image.base <= address < end
        for callback in image.tls_callbacks:
            assert image.base <= callback < end


def load_within_bound(data: bytes) -> None:
    started = time.monotonic()
    try:
        image = load_bytes(data, "fuzzed")
    except NotExecutableError as exc:
        message = str(exc)
        assert message.startswith("fuzzed: ")
        assert "\n" not in message
    else:
        check_consistent(image)
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND, f"load took {elapsed:.2f} s"


# ---- the files and the regions to mutate ---------------------------------------------------------


def elf_regions(data: bytes) -> list[tuple[int, int]]:
    """The ELF header and the program header table."""
    if data[4] == 2:
        (phoff,) = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        header = 64
    else:
        (phoff,) = struct.unpack_from("<I", data, 0x1C)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
        header = 52
    return [(0, header), (phoff, phoff + phentsize * phnum)]


def pe_header_regions(data: bytes) -> list[tuple[int, int]]:
    """DOS header, PE signature, file and optional headers, section table."""
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    nsections, _t, _p, _n, opt_size = struct.unpack_from("<HIIIH", data, lfanew + 6)
    table_end = lfanew + 24 + opt_size + 40 * nsections
    return [(0, 0x40), (lfanew, table_end)]


def pe_directory_regions(data: bytes) -> list[tuple[int, int]]:
    """File ranges of the sections holding imports, exports, relocations and TLS."""
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    nsections, _t, _p, _n, opt_size = struct.unpack_from("<HIIIH", data, lfanew + 6)
    table = lfanew + 24 + opt_size
    regions = []
    for i in range(nsections):
        name, _vsize, _rva, raw_size, raw_ptr = struct.unpack_from("<8sIIII", data, table + 40 * i)
        if name.rstrip(b"\0") in (b".idata", b".edata", b".reloc", b".tls", b".rdata"):
            regions.append((raw_ptr, raw_ptr + raw_size))
    return regions


@pytest.fixture(scope="module")
def elf_files(elf_binary: Callable[[str], Path]) -> list[bytes]:
    files = [elf_binary(kind).read_bytes() for kind in ("static64", "static32", "pie64", "pie32")]
    load_bytes(files[0], "warm-up")  # pay LIEF's import once, outside the time bound
    return files


@pytest.fixture(scope="module")
def pe_files(win_exe: Callable[[str], Path], win_dll: Callable[[str], Path]) -> list[bytes]:
    files = [
        win_exe("x86_64").read_bytes(),
        win_exe("i386").read_bytes(),
        win_dll("x86_64").read_bytes(),
        win_dll("i386").read_bytes(),
    ]
    load_bytes(files[0], "warm-up")
    return files


@FUZZ_SETTINGS
@given(choice=st.integers(min_value=0, max_value=3), edits=mutations, cut=truncation)
def test_fuzz_elf_headers(
    elf_files: list[bytes], choice: int, edits: list[Mutation], cut: float | None
) -> None:
    data = elf_files[choice]
    load_within_bound(mutate(data, elf_regions(data), edits, cut))


@FUZZ_SETTINGS
@given(choice=st.integers(min_value=0, max_value=3), edits=mutations, cut=truncation)
def test_fuzz_pe_headers(
    pe_files: list[bytes], choice: int, edits: list[Mutation], cut: float | None
) -> None:
    data = pe_files[choice]
    load_within_bound(mutate(data, pe_header_regions(data), edits, cut))


@FUZZ_SETTINGS
@given(choice=st.integers(min_value=0, max_value=3), edits=mutations)
def test_fuzz_pe_directories(pe_files: list[bytes], choice: int, edits: list[Mutation]) -> None:
    data = pe_files[choice]
    load_within_bound(mutate(data, pe_directory_regions(data), edits, None))


@FUZZ_SETTINGS
@given(data=st.binary(min_size=0, max_size=512), magic=st.sampled_from([b"", b"\x7fELF", b"MZ"]))
def test_fuzz_garbage_with_magic(data: bytes, magic: bytes) -> None:
    load_within_bound(magic + data)
