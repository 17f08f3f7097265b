"""ELF loading checked against binutils: every fact in the Image is compared with ``readelf``'s view
of the same file (entry, type, PT_LOAD segments, interpreter, program headers, TLS, stack)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from appvirt.loader import load, load_bytes
from appvirt.loader.image import Arch, Format, Image, Perm

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf not installed")

PAGE = 0x1000

_PHDR_LINE = re.compile(
    r"^\s*(?P<type>\S+)\s+(?P<offset>0x[0-9a-f]+)\s+(?P<vaddr>0x[0-9a-f]+)\s+0x[0-9a-f]+\s+"
    r"(?P<filesz>0x[0-9a-f]+)\s+(?P<memsz>0x[0-9a-f]+)\s+(?P<flags>[RWE ]{3})\s+"
    r"(?P<align>0x[0-9a-f]+)\s*$"
)


@dataclass
class Phdr:
    type: str
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: str
    align: int


@dataclass
class Readelf:
    entry: int
    file_type: str  # EXEC or DYN
    machine: str
    phdrs: list[Phdr]
    interpreter: str | None
    phoff: int


def readelf(path: Path | str) -> Readelf:
    env = dict(os.environ, LC_ALL="C")
    out = subprocess.run(
        ["readelf", "-hlW", str(path)], capture_output=True, text=True, check=True, env=env
    ).stdout
    fields = dict(
        (key.strip(), value.strip())
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    )
    phdrs = []
    for line in out.splitlines():
        match = _PHDR_LINE.match(line)
        if match:
            phdrs.append(
                Phdr(
                    type=match["type"],
                    offset=int(match["offset"], 16),
                    vaddr=int(match["vaddr"], 16),
                    filesz=int(match["filesz"], 16),
                    memsz=int(match["memsz"], 16),
                    flags=match["flags"],
                    align=int(match["align"], 16),
                )
            )
    interp = re.search(r"\[Requesting program interpreter: (.*)\]", out)
    return Readelf(
        entry=int(fields["Entry point address"], 16),
        file_type=fields["Type"].split()[0],
        machine=fields["Machine"],
        phdrs=phdrs,
        interpreter=interp.group(1) if interp else None,
        phoff=int(fields["Start of program headers"].split()[0]),
    )


def _perms(flags: str) -> Perm:
    perms = Perm.NONE
    for letter, perm in (("R", Perm.R), ("W", Perm.W), ("E", Perm.X)):
        if letter in flags:
            perms |= perm
    return perms


def check_against_readelf(image: Image, path: Path | str) -> Readelf:
    """Assert every ELF fact of ``image`` matches readelf; return readelf's view for more checks."""
    ref = readelf(path)
    data = Path(path).read_bytes()
    assert image.format is Format.ELF
    assert image.entry == ref.entry
    assert image.relocatable == (ref.file_type == "DYN")
    assert image.interpreter == ref.interpreter
    assert image.static == (ref.interpreter is None)
    assert image.arch is (Arch.X86_64 if "X86-64" in ref.machine else Arch.I386)

    loads = [p for p in ref.phdrs if p.type == "LOAD" and p.memsz]
    assert len(image.segments) == len(loads)
    for seg, phdr in zip(image.segments, loads, strict=True):
        assert seg.vaddr == phdr.vaddr
        assert seg.memsz == phdr.memsz
        assert len(seg.data) == phdr.filesz
        assert seg.file_offset == phdr.offset
        assert seg.perms == _perms(phdr.flags)
        assert seg.data == data[phdr.offset : phdr.offset + phdr.filesz]

    low = min(p.vaddr for p in loads) // PAGE * PAGE
    high = -(-max(p.vaddr + p.memsz for p in loads) // PAGE) * PAGE
    assert (image.base, image.size) == (low, high - low)

    assert image.phnum == len(ref.phdrs)
    assert image.phentsize == (56 if image.arch is Arch.X86_64 else 32)
    explicit = [p for p in ref.phdrs if p.type == "PHDR"]
    if explicit:
        assert image.phdr_vaddr == explicit[0].vaddr
    else:
        first = loads[0]
        assert image.phdr_vaddr == first.vaddr - first.offset + ref.phoff

    tls = [p for p in ref.phdrs if p.type == "TLS"]
    if tls:
        assert image.tls is not None
        assert (image.tls.vaddr, image.tls.filesz, image.tls.memsz, image.tls.align) == (
            tls[0].vaddr,
            tls[0].filesz,
            tls[0].memsz,
            tls[0].align,
        )
    else:
        assert image.tls is None

    stack = [p for p in ref.phdrs if p.type == "GNU_STACK"]
    if stack:
        assert image.stack_exec == ("E" in stack[0].flags)
    return ref


@pytest.mark.parametrize(
    "kind", ["static64", "static32", "pie64", "pie32", "nopie64", "static_pie64"]
)
def test_compiled_program_matches_readelf(elf_binary: Callable[[str], Path], kind: str) -> None:
    path = elf_binary(kind)
    image = load(str(path))
    ref = check_against_readelf(image, path)
    assert image.path == str(path)
    # The test program has __thread variables: every build carries a PT_TLS.
    assert image.tls is not None and image.tls.memsz >= 100 + 4
    if kind.startswith("static") and kind != "static_pie64":
        assert image.static and not image.relocatable
    if kind.startswith("pie"):
        assert not image.static and image.relocatable and image.base == 0
        assert ref.interpreter is not None and "ld-linux" in ref.interpreter
    assert image.arch is (Arch.I386 if kind.endswith("32") else Arch.X86_64)


@pytest.mark.parametrize("path", ["/bin/busybox", "/bin/ls"])
def test_host_binary_matches_readelf(path: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} not present")
    image = load(path)
    check_against_readelf(image, path)


def test_busybox_is_static_with_tls() -> None:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox not present")
    image = load("/bin/busybox")
    if not image.static:
        pytest.skip("this busybox is not the static build")
    assert image.interpreter is None
    assert image.tls is not None
    assert any(
        s.perms == Perm.RX and s.vaddr <= image.entry < s.vaddr + s.memsz for s in image.segments
    )


def test_ls_is_dynamic_pie() -> None:
    image = load("/bin/ls")
    assert not image.static
    assert image.interpreter is not None and image.interpreter.startswith("/lib")
    assert image.phdr_vaddr != 0


def test_static_i386_details(static32: Path) -> None:
    image = load(str(static32))
    assert image.arch is Arch.I386
    assert image.machine_name == "Intel 80386"
    assert image.phentsize == 32
    assert image.base == 0x08048000
    assert image.tls is not None


def test_stack_exec_follows_gnu_stack(static64: Path, execstack64: Path) -> None:
    assert load(str(static64)).stack_exec is False
    assert load(str(execstack64)).stack_exec is True


@pytest.mark.parametrize(("kind", "expected"), [("static64", False), ("static32", True)])
def test_missing_gnu_stack_follows_the_kernel(
    elf_binary: Callable[[str], Path], kind: str, expected: bool
) -> None:
    """Without PT_GNU_STACK Linux gives i386 programs an executable stack, x86-64 ones not."""
    data = bytearray(elf_binary(kind).read_bytes())
    is64 = data[4] == 2
    phoff = struct.unpack_from("<Q" if is64 else "<I", data, 0x20 if is64 else 0x1C)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36 if is64 else 0x2A)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct.unpack_from("<I", data, at)[0] == 0x6474E551:
            struct.pack_into("<I", data, at, 0)  # PT_NULL
    assert load_bytes(bytes(data), kind).stack_exec is expected


def test_rw_segment_has_bss_beyond_file_bytes(static64: Path) -> None:
    image = load(str(static64))
    writable = [s for s in image.segments if s.perms & Perm.W]
    assert writable and writable[-1].memsz > len(writable[-1].data)


def test_image_is_plain_data(static64: Path) -> None:
    import pickle

    image = load(str(static64))
    assert pickle.loads(pickle.dumps(image)) == image


def test_importing_loader_does_not_import_lief() -> None:
    code = "import sys, appvirt.loader, appvirt.loader.inspect; print('lief' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip() == "False"
