"""Helpers for the System-VM tests: assemble small guests with NASM and run them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from appvirt.limits import Limits
from appvirt.system.hypervisor import Console, Hypervisor, VmConfig, VmResult
from appvirt.system.vcpu import Technique

ROOT = Path(__file__).resolve().parents[2]
GUESTS = ROOT / "samples" / "bin" / "guests"
SEABIOS = Path("/usr/share/seabios/bios.bin")


@dataclass
class Run:
    result: VmResult
    serial: bytes
    debug: bytes
    hv: Hypervisor


def assemble(source: str, tmp_path: Path, name: str = "guest") -> bytes:
    """Assemble NASM ``source`` into a flat binary (nasm is a CI dependency)."""
    if shutil.which("nasm") is None:
        pytest.fail("nasm is needed: apt-get install nasm (.ci/run installs it)")
    src = tmp_path / f"{name}.asm"
    out = tmp_path / f"{name}.bin"
    src.write_text(source)
    subprocess.run(["nasm", "-f", "bin", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def boot(
    image: bytes | None = None,
    technique: str = "hw",
    *,
    bios: bytes | None = None,
    disk: object = None,
    memory: int = 32 << 20,
    limits: Limits | None = None,
    keep: bool = False,
) -> Run:
    serial, debug = bytearray(), bytearray()
    config = VmConfig(
        technique=Technique(technique),
        memory=memory,
        image=image,
        bios=bios,
        disk=disk,  # type: ignore[arg-type]
        limits=limits or Limits(time=30),
    )
    hv = Hypervisor(config, Console(serial.extend, debug.extend))
    try:
        result = hv.run()
    finally:
        if not keep:
            hv.close()
    return Run(result, bytes(serial), bytes(debug), hv)


def guest(name: str) -> bytes:
    path = GUESTS / name
    if not path.exists():
        pytest.fail(f"guest {name} missing: run make -C samples guests")
    return path.read_bytes()
