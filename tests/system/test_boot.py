"""Boot paths, end states and their exit statuses, limits, and the ``appvirt vm boot`` command."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import GUESTS, SEABIOS, assemble, boot, guest

from appvirt.cli import main
from appvirt.errors import LimitExceeded, NotExecutableError
from appvirt.limits import Limits
from appvirt.system.boot import ImageKind, classify
from appvirt.system.hypervisor import Outcome

SPIN = "bits 16\norg 0x7c00\nspin: jmp spin\n"


def test_boot_sector_greets_and_powers_off() -> None:
    run = boot(guest("bootsector.bin"))
    assert run.serial == b"appvirt boot sector: hello from real mode\r\npowering off\r\n"
    assert run.result.outcome is Outcome.POWER_OFF
    assert run.result.status == 0


def test_reset_state_is_a_real_cpu_s(tmp_path: Path) -> None:
    """Without --bios the stand-in firmware's reset vector jumps to 0:7C00 with DL = 0x80."""
    image = assemble("bits 16\norg 0x7c00\nmov al, dl\nout 0xe9, al\ncli\nhlt\n", tmp_path)
    run = boot(image, keep=True)
    assert run.debug == b"\x80"
    run.hv.close()


def test_halt_with_interrupts_disabled_ends_the_vm(tmp_path: Path) -> None:
    run = boot(assemble("bits 16\norg 0x7c00\ncli\nhlt\n", tmp_path))
    assert (run.result.outcome, run.result.status) == (Outcome.HALTED, 140)


@pytest.mark.parametrize("technique", ["hw", "bt"])
def test_triple_fault_ends_the_vm(technique: str, tmp_path: Path) -> None:
    source = """bits 16
org 0x7c00
        xor ax, ax
        mov ds, ax
        lidt [empty]        ; an IVT of limit 0: nothing can be delivered
        int 0x30
        jmp $
empty:  dw 0
        dd 0
"""
    run = boot(assemble(source, tmp_path), technique)
    assert (run.result.outcome, run.result.status) == (Outcome.TRIPLE_FAULT, 141)


def test_spinning_guest_hits_the_time_limit(tmp_path: Path) -> None:
    run = boot(assemble(SPIN, tmp_path), limits=Limits(time=0.3))
    assert run.result.outcome is Outcome.LIMIT
    assert (run.result.limit, run.result.status) == ("time", 152)


def test_spinning_guest_hits_the_instruction_limit(tmp_path: Path) -> None:
    run = boot(assemble(SPIN, tmp_path), limits=Limits(instructions=500_000, time=30))
    assert (run.result.limit, run.result.status) == ("instructions", 152)
    assert run.result.stats["instructions_charged"] >= 500_000


def test_memory_limit_refuses_a_bigger_vm(tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded) as exc:
        boot(assemble(SPIN, tmp_path), memory=64 << 20, limits=Limits(memory=32 << 20))
    assert exc.value.exit_code == 137


def multiboot_elf(code: bytes, load: int = 0x100000) -> bytes:
    header = struct.pack("<III", 0x1BADB002, 0, (-0x1BADB002) & 0xFFFFFFFF)
    body = header + code
    ehdr = struct.pack(
        "<4sBBBBB7xHHIIIIIHHHHHH",
        b"\x7fELF", 1, 1, 1, 0, 0, 2, 3, 1, load + 12, 52, 0, 0, 52, 32, 1, 40, 0, 0,
    )  # fmt: skip
    phdr = struct.pack("<8I", 1, 0x1000, load, load, len(body), len(body) + 0x1000, 5, 0x1000)
    return (ehdr + phdr).ljust(0x1000, b"\0") + body


def test_multiboot_kernel_entered_in_protected_mode(tmp_path: Path) -> None:
    code = assemble(
        """bits 32
org 0x10000c
        cmp eax, 0x2badb002
        jne bad
        mov al, 'M'
        out 0xe9, al
        mov eax, [ebx]          ; multiboot info flags: memory sizes present
        and al, 1
        add al, '0'
        out 0xe9, al
        mov eax, [ebx + 8]      ; mem_upper in KiB
        shr eax, 10
        out 0xe9, al            ; MiB above 1 MiB
        mov dx, 0x604
        mov ax, 0x2000
        out dx, ax
bad:    cli
        hlt
""",
        tmp_path,
    )
    image = multiboot_elf(code)
    assert classify(image) is ImageKind.MULTIBOOT
    for technique in ("hw", "bt"):
        run = boot(image, technique, memory=16 << 20)
        assert run.debug == b"M1\x0f", technique
        assert run.result.outcome is Outcome.POWER_OFF


def test_elf_without_multiboot_header_is_not_bootable() -> None:
    with pytest.raises(NotExecutableError):
        classify(b"\x7fELF" + bytes(100))


def test_two_vms_in_one_process_share_nothing(tmp_path: Path) -> None:
    first = boot(guest("bootsector.bin"), keep=True)
    second = boot(guest("minikernel.bin"), "pv", keep=True)
    assert first.serial != second.serial
    assert first.hv.mem.read(0x7C00, 16) != second.hv.mem.read(0x7C00, 16)
    assert first.hv.exits is not second.hv.exits
    first.hv.close()
    second.hv.close()


# -- the command -----------------------------------------------------------------------------------
# A guest that stops making progress must fail the test at this limit, not hang the suite.
GENEROUS = "time=30s"


def cli(*args: str) -> object:
    return CliRunner().invoke(main, ["vm", "boot", *args])


def test_cli_boot_sector_exit_status_and_stats() -> None:
    result = cli("--stats", "--limit", GENEROUS, str(GUESTS / "bootsector.bin"))
    assert result.exit_code == 0, result.output
    assert "hello from real mode" in result.output
    assert "exits by reason (technique hw)" in result.output
    assert "port I/O" in result.output


def test_cli_errors_have_documented_codes(tmp_path: Path) -> None:
    assert cli(str(tmp_path / "missing.bin")).exit_code == 127
    assert cli().exit_code == 125
    assert cli("--mem", "1M", str(GUESTS / "bootsector.bin")).exit_code == 125
    assert cli("--limit", "bogus=1", str(GUESTS / "bootsector.bin")).exit_code == 125
    assert (
        cli("--disk", str(tmp_path / "nope.img"), str(GUESTS / "bootsector.bin")).exit_code == 125
    )
    big = cli("--mem", "64M", "--limit", "memory=32M", str(GUESTS / "bootsector.bin"))
    assert big.exit_code == 137


def test_cli_limit_on_a_spinning_guest(tmp_path: Path) -> None:
    image = tmp_path / "spin.bin"
    image.write_bytes(assemble(SPIN, tmp_path))
    result = cli("--limit", "time=300ms", str(image))
    assert result.exit_code == 152
    assert "time limit reached" in result.output


def test_cli_disk_is_read_through_the_vfs_and_left_unchanged(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"the disk says hi\n".ljust(8192, b"\0"))
    before = disk.read_bytes()
    result = cli(
        "--technique",
        "pv",
        "--limit",
        GENEROUS,
        "--disk",
        str(disk),
        str(GUESTS / "minikernel-pv.bin"),
    )
    assert result.exit_code == 0, result.output
    assert "minikernel: disk sector 0: the disk says hi" in result.output
    assert disk.read_bytes() == before


def test_seabios_boots_to_its_banner_on_the_debug_port() -> None:
    if not SEABIOS.exists():
        pytest.fail("SeaBIOS is needed: apt-get install seabios (.ci/run installs it)")
    from appvirt.system.hypervisor import Console, Hypervisor, VmConfig
    from appvirt.system.vcpu import Technique

    for technique in (Technique.HW, Technique.BT):
        debug = bytearray()
        hv: list[Hypervisor] = []

        def sink(data: bytes, debug: bytearray = debug, hv: list[Hypervisor] = hv) -> None:
            debug.extend(data)
            if b"SeaBIOS (version" in debug and debug.endswith(b"\n"):
                hv[0].finish(Outcome.POWER_OFF, "banner seen")

        vm = Hypervisor(
            VmConfig(technique=technique, bios=SEABIOS.read_bytes(), limits=Limits(time=60)),
            Console(lambda b: None, sink),
        )
        hv.append(vm)
        result = vm.run()
        vm.close()
        assert result.detail == "banner seen", technique
        assert debug.startswith(b"SeaBIOS (version "), technique
