"""The ``appvirt inspect`` report: its text names what matters, its JSON is serialisable, and its
entry-point disassembly agrees with objdump on instruction boundaries and mnemonics."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from appvirt.loader import load
from appvirt.loader.image import Perm
from appvirt.loader.inspect import describe, describe_json, disassemble, kind, perm_string


def objdump_entry(path: Path, entry: int, count: int) -> list[tuple[int, str]]:
    out = subprocess.run(
        [
            "objdump",
            "-d",
            "-M",
            "intel",
            f"--start-address={entry:#x}",
            f"--stop-address={entry + 16 * count:#x}",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().endswith(":"):
            result.append((int(parts[0].strip()[:-1], 16), parts[2].split()[0]))
    return result[:count]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump not installed")
@pytest.mark.parametrize("kind_name", ["static64", "static32", "pie64"])
def test_disassembly_matches_objdump(elf_binary: Callable[[str], Path], kind_name: str) -> None:
    path = elf_binary(kind_name)
    image = load(str(path))
    ours = disassemble(image, 8)
    theirs = objdump_entry(path, image.entry, 8)
    assert len(ours) == 8
    assert [a for a, _m, _o in ours] == [a for a, _m in theirs]
    assert [m for _a, m, _o in ours] == [m for _a, m in theirs]


def test_elf_report(static64: Path) -> None:
    image = load(str(static64))
    text = describe(image)
    assert str(static64) in text
    assert "ELF" in text and "x86_64" in text
    assert "static executable" in text
    assert f"{image.entry:#x}" in text
    assert "TLS" in text
    assert "R-X" in text and "RW-" in text
    assert "entry point:" in text
    assert (
        len([line for line in text.splitlines() if line.startswith("  0x")])
        >= len(image.segments) + 8
    )


def test_dynamic_report_names_interpreter(elf_binary: Callable[[str], Path]) -> None:
    image = load(str(elf_binary("pie32")))
    text = describe(image, disasm_count=0)
    assert "dynamic PIE executable" in text
    assert image.interpreter is not None and image.interpreter in text
    assert "entry point:" not in text


def test_pe_report(win_exe: Callable[[str], Path], win_dll: Callable[[str], Path]) -> None:
    exe = load(str(win_exe("i386")))
    text = describe(exe)
    assert "PE" in text and "i386" in text and "Windows console" in text
    assert "kernel32.dll" in text
    assert "TLS callbacks:" in text
    assert "HIGHLOW" in text
    dll = load(str(win_dll("x86_64")))
    text = describe(dll)
    assert "DLL" in text
    for name in ("add", "mul", "shared_value"):
        assert f" {name} 0x" in text
    assert "exceptions" in text


def test_forwarder_and_ordinals_in_report(forwarding_dll: Path, ordinal_user: Path) -> None:
    assert "MyTick -> KERNEL32.GetTickCount" in describe(load(str(forwarding_dll)))
    assert "#7" in describe(load(str(ordinal_user)))


def test_json_is_serialisable(static64: Path, win_dll: Callable[[str], Path]) -> None:
    for path in (static64, win_dll("i386")):
        image = load(str(path))
        report = describe_json(image)
        decoded = json.loads(json.dumps(report))
        assert decoded["entry"] == image.entry
        assert len(decoded["segments"]) == len(image.segments)
        assert decoded["entry_disassembly"]
    elf = describe_json(load(str(static64)))
    assert elf["format"] == "elf" and elf["tls"]["memsz"] > 0 and elf["interpreter"] is None
    pe = describe_json(load(str(win_dll("i386"))))
    assert pe["format"] == "pe" and pe["is_dll"] is True
    assert {e["name"] for e in pe["exports"]} == {"add", "mul", "shared_value"}
    assert pe["relocations"]["count"] == sum(pe["relocations"]["kinds"].values())


def test_small_helpers() -> None:
    assert perm_string(Perm.RX) == "R-X"
    assert perm_string(Perm.NONE) == "---"
    assert perm_string(Perm.RWX) == "RWX"


def test_kind_names(static64: Path, elf_binary: Callable[[str], Path]) -> None:
    assert kind(load(str(static64))) == "static executable"
    assert kind(load(str(elf_binary("nopie64")))) == "dynamic executable"
    assert kind(load(str(elf_binary("pie64")))) == "dynamic PIE executable"
