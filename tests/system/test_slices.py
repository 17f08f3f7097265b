"""What the end of a slice must leave alone: guest state, and the hypercalls that follow.

Unicorn drops the translated code at its ``until`` address when ``emu_start`` returns; at
``until - 1`` = 0xFFFFFFFE under a guest's page tables that lookup can raise a page fault no hook
sees, which overwrites CR2 and leaves QEMU's "previous exception" set. Two such run ends made it
a double fault, and the guest's next exception (a ``vmcall``, i.e. every PV hypercall) a triple
fault: Unicorn stopped at once, without calling a hook, on every later slice. The System VM
therefore runs with Unicorn's exit list on and empty (core/sysmachine.py).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import assemble, boot, guest
from unicorn import x86_const as x86

from appvirt.core.cpustate import CpuContext
from appvirt.limits import Limits
from appvirt.system import hypervisor
from appvirt.system.hypervisor import Outcome

# Protected mode with paging: only the first 4 MiB mapped, so 0xFFFFFFFE is not; then spin.
PAGED_SPIN = """bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm
bits 32
pm:     mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov edi, 0x70000
        xor eax, eax
        mov ecx, 2048
        rep stosd
        mov dword [0x70000], 0x71003
        mov edi, 0x71000
        mov eax, 3
        mov ecx, 1024
fill:   stosd
        add eax, 0x1000
        loop fill
        mov eax, 0x70000
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
spin:   jmp spin
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
gdt_desc:
        dw 23
        dd gdt
"""


@pytest.mark.parametrize("technique", ["hw", "bt"])
def test_slice_ends_leave_cr2_and_the_fault_state_alone(technique: str, tmp_path: Path) -> None:
    run = boot(
        assemble(PAGED_SPIN, tmp_path),
        technique,
        limits=Limits(instructions=2_000_000, time=30),
        keep=True,
    )
    try:
        assert run.result.limit == "instructions"
        assert run.hv.machine.uc.reg_read(x86.UC_X86_REG_CR2) == 0  # the guest never faulted
        old_exception = struct.unpack_from("<i", CpuContext(run.hv.machine.uc).raw, 5536)[0]
        assert old_exception == -1
    finally:
        run.hv.close()


def test_pv_guest_finishes_when_every_slice_is_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few hundred instructions: many run ends between two interrupts."""
    monkeypatch.setattr(hypervisor, "INSN_SLICE", 300)
    run = boot(guest("minikernel-pv.bin"), "pv", limits=Limits(instructions=10**9, time=10))
    assert (run.result.outcome, run.result.status) == (Outcome.SHUTDOWN, 0)
    assert run.serial.endswith(b"minikernel: powering off\r\n")


def test_a_port_read_cut_short_by_a_stop_is_not_read_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stop inside every other ATA data read (as the watchdog's can land): the sector stays
    whole."""
    from appvirt.system.cli import open_disk

    real = hypervisor.Hypervisor._port_in
    reads = [0]

    def stopping(self: hypervisor.Hypervisor, port: int, size: int) -> int:
        value = real(self, port, size)
        if port == 0x1F0:
            reads[0] += 1
            if reads[0] % 2:
                self.machine.request_stop()
        return value

    monkeypatch.setattr(hypervisor.Hypervisor, "_port_in", stopping)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"the disk says hi\n".ljust(8192, b"\0"))
    vfs, medium = open_disk(str(disk), "ro")
    try:
        run = boot(guest("minikernel-pv.bin"), "pv", disk=medium)
    finally:
        medium.close()
        vfs.close()
    assert b"minikernel: disk sector 0: the disk says hi\r\n" in run.serial
    assert run.result.stats["port_reads_replayed"] > 0
