"""The Windows side of the command line: refusals of malformed PE files, --trace lines, reg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

WIN = ROOT / "samples" / "bin" / "windows"


def appvirt(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "appvirt", *args], cwd=cwd, input=stdin,
                          capture_output=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("damage", ["truncated", "bad-signature", "bad-machine"])
def test_malformed_pe_exits_126_with_one_line(tmp_path: Path, damage: str) -> None:
    data = bytearray((WIN / "hello64.exe").read_bytes())
    if damage == "truncated":
        data = data[:0x100]
    elif damage == "bad-signature":
        lfanew = int.from_bytes(data[0x3C:0x40], "little")
        data[lfanew : lfanew + 4] = b"XX\0\0"
    else:
        lfanew = int.from_bytes(data[0x3C:0x40], "little")
        data[lfanew + 4 : lfanew + 6] = (0xAA64).to_bytes(2, "little")
    bad = tmp_path / "bad.exe"
    bad.write_bytes(bytes(data))
    proc = appvirt("run", str(bad), cwd=tmp_path)
    assert proc.returncode == 126
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("appvirt: error: ")


def test_trace_prints_one_line_per_api_call(tmp_path: Path) -> None:
    proc = appvirt("run", "--trace", str(WIN / "files64.exe"), cwd=tmp_path)
    assert proc.returncode == 0
    lines = proc.stderr.decode().splitlines()
    assert 'kernel32!CreateDirectoryA("files.d", NULL) = 1' in lines
    assert 'kernel32!CreateDirectoryA("files.d", NULL) = 0' in lines
    assert 'kernel32!GetFileAttributesA("files.d\\\\missing.txt") = 0xffffffff' in lines
    assert any(line.startswith("msvcrt!exit(0)") for line in lines)


def test_reg_import_export_and_the_program_see_the_same_registry(tmp_path: Path) -> None:
    box = tmp_path / "box"
    seed = tmp_path / "seed.reg"
    seed.write_bytes(
        b"REGEDIT4\r\n\r\n[HKEY_CURRENT_USER\\Software\\appvirt-sample\\settings]\r\n"
        b'"runs"=dword:00000029\r\n'
    )
    assert appvirt("reg", "import", "--sandbox", str(box), str(seed), cwd=tmp_path).returncode == 0
    run = appvirt("run", "--sandbox", str(box), str(WIN / "settings32.exe"), cwd=tmp_path)
    assert (run.returncode, run.stdout) == (0, b"run 42\r\n")
    query = appvirt("reg", "query", "--sandbox", str(box), "HKCU\\Software\\appvirt-sample\\settings",
                    "runs", cwd=tmp_path)  # fmt: skip
    assert b"REG_DWORD    0x2a" in query.stdout
    exported = appvirt("reg", "export", "--sandbox", str(box), cwd=tmp_path).stdout
    assert exported.startswith(
        b"\xff\xfe" + "Windows Registry Editor Version 5.00\r\n".encode("utf-16-le")
    )
    assert '"last"="run 42"'.encode("utf-16-le") in exported
