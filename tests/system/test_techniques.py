"""The sample kernel under the three techniques: one transcript, three exit profiles."""

from __future__ import annotations

import pytest
from conftest import boot, guest

from appvirt.system.cli import open_disk
from appvirt.system.hypervisor import Outcome

TRANSCRIPT = b"""minikernel: real mode, switching to protected mode\r
minikernel: protected mode\r
minikernel: cpu GenuineIntel, hypervisor appvirtHV\r
minikernel: paging on\r
minikernel: page mapped while paging is on: works\r
minikernel: idt and tss installed, timer at 100 Hz\r
minikernel: starting tasks A and B in ring 3\r
task A: step 1\r
task B: step 1\r
task A: step 2\r
task B: step 2\r
task A: step 3\r
task B: step 3\r
minikernel: both tasks exited\r
minikernel: disk sector 0: appvirt test disk\r
minikernel: powering off\r
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    disk_path = tmp_path_factory.mktemp("disk") / "disk.img"
    disk_path.write_bytes(b"appvirt test disk\n".ljust(16 * 512, b"\0"))
    out = {}
    for technique, image in (
        ("hw", "minikernel.bin"),
        ("bt", "minikernel.bin"),
        ("pv", "minikernel-pv.bin"),
    ):
        vfs, medium = open_disk(str(disk_path), "ro")
        try:
            out[technique] = boot(guest(image), technique, disk=medium)
        finally:
            medium.close()
            vfs.close()
    return out


@pytest.mark.parametrize("technique", ["hw", "bt", "pv"])
def test_same_transcript_under_every_technique(runs: dict, technique: str) -> None:  # type: ignore[type-arg]
    run = runs[technique]
    assert run.serial == TRANSCRIPT
    assert run.result.outcome in (Outcome.POWER_OFF, Outcome.SHUTDOWN)
    assert run.result.status == 0


def test_hw_profile(runs: dict) -> None:  # type: ignore[type-arg]
    exits = runs["hw"].result.exits
    assert exits["port I/O"] > 1000  # the UART, byte by byte
    assert exits["software interrupt (int n)"] == 8  # the tasks' system calls
    assert "hypercall" not in exits
    assert "privileged/sensitive instruction" not in exits
    assert "translator" not in runs["hw"].result.stats


def test_pv_profile(runs: dict) -> None:  # type: ignore[type-arg]
    result = runs["pv"].result
    calls = result.exit_detail["hypercall"]
    assert set(calls) == {"CONSOLE_WRITE", "TIMER_SET", "PT_UPDATE", "YIELD", "SHUTDOWN"}
    assert result.exits["port I/O"] < 300  # only the disk is still port I/O
    assert "in 0x3fd" not in result.exit_detail["port I/O"]
    assert "HLT" not in result.exits


def test_bt_profile(runs: dict) -> None:  # type: ignore[type-arg]
    result = runs["bt"].result
    sensitive = result.exit_detail["privileged/sensitive instruction"]
    for mnemonic in ("cli", "sti", "iretd", "pushfd", "popfd", "mov", "lgdt", "lidt", "int"):
        assert sensitive.get(mnemonic), mnemonic
    assert result.exits["code page scan (bt)"] >= 3
    assert result.exits["guest page-table write (bt)"] == 1  # the late mapping
    mmu = result.stats["mmu"]
    assert mmu["shadow_rebuilds"] >= 1
    assert mmu["shadow_invlpg"] == 1
    assert result.stats["translator"]["pages_scanned"] >= 3
