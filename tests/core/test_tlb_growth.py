"""Growing Unicorn's TLB when the mappings outgrow it (core/tlbsize.py), invisibly to the guest."""

from __future__ import annotations

import pytest
from unicorn import UC_HOOK_CODE
from unicorn import x86_const as x86

from appvirt.core import uclib
from appvirt.core.machine import Machine, Stop
from appvirt.core.tlbsize import DEFAULT_ENTRIES, entries_for
from appvirt.loader.image import Arch, Perm

BIG = 24 << 20  # 6,144 pages: the TLB should grow to 8,192 entries
# int 0x80 (the trap maps BIG); mov eax, 42; hlt
CODE = bytes.fromhex("cd80 b82a000000 f4")


@pytest.fixture(params=[Arch.X86_64, Arch.I386])
def machine(request: pytest.FixtureRequest) -> Machine:
    m = Machine(request.param)
    yield m
    m.close()


def _regs(machine: Machine) -> tuple[int, int, int]:
    if machine.is64:
        return x86.UC_X86_REG_RAX, x86.UC_X86_REG_RDI, x86.UC_X86_REG_RCX
    return x86.UC_X86_REG_EAX, x86.UC_X86_REG_EDI, x86.UC_X86_REG_ECX


def _start(machine: Machine) -> list[int]:
    """Map the code, arrange for its trap to map BIG, and record the address each stub iteration
    reads (its RDI/EDI when it reaches the loop's first instruction, the window's first byte)."""
    mem = machine.mem
    text = mem.map(mem.find_free(0x1000), 0x1000, Perm.RX, "code")
    mem.poke(text, CODE)
    machine.pc = text
    machine.until = text + len(CODE)
    machine.on_interrupt(lambda n: mem.map(mem.find_free(BIG), BIG, Perm.RW, "big"))
    reads: list[int] = []
    _ax, di, cx = _regs(machine)

    def at_stub(_uc: object, addr: int, _size: int, _user: object) -> None:
        if addr == machine.tlb.window[0]:
            reads.append(machine.reg.read(di))

    machine.uc.hook_add(UC_HOOK_CODE, at_stub)
    machine.reg.write(di, 0x1234)
    machine.reg.write(cx, 0x5678)
    return reads


def test_a_trap_that_outgrows_the_tlb_ends_the_run_and_the_next_run_grows_it(
    machine: Machine,
) -> None:
    reads = _start(machine)
    ax, di, cx = _regs(machine)
    assert machine.run() is Stop.REQUESTED  # right after the trap, before `mov eax, 42`
    assert machine.tlb.entries == DEFAULT_ENTRIES
    assert machine.reg.read(ax) != 42

    machine.run()
    assert machine.reg.read(ax) == 42
    assert (machine.reg.read(di), machine.reg.read(cx)) == (0x1234, 0x5678)  # stub's registers
    pages = (machine.mem.mapped_bytes - machine.mem.layout.stack_size) // 0x1000
    target = entries_for(pages)
    assert target == 8192 and machine.tlb.entries == target

    # One read of every page of a window per doubling: 256 + 512 + ... + target/2.
    base, span = machine.tlb.window
    inside = [a for a in reads if base <= a < base + span]
    assert len(inside) == sum(DEFAULT_ENTRIES << k for k in range(5))
    assert len({a >> 12 for a in inside}) == target // 2
    assert machine.mem.is_free(base, base + span)


def test_the_window_is_gone_before_the_guest_runs(machine: Machine) -> None:
    _start(machine)
    machine.run()
    machine.run()
    base, _span = machine.tlb.window
    assert base
    # mov al, [abs32] (i386) / mov al, [abs64] (x86-64) from the window: a page fault.
    mem = machine.mem
    code = (
        b"\xa0" + base.to_bytes(8, "little")
        if machine.is64
        else b"\xa0" + base.to_bytes(4, "little")
    ) + b"\xf4"
    text = mem.map(mem.find_free(0x1000), 0x1000, Perm.RX, "probe")
    mem.poke(text, code)
    machine.pc = text
    machine.until = text + len(code)
    faults: list[int] = []
    machine.on_interrupt(lambda n: (faults.append(n), machine.request_stop()))
    machine.run()
    assert faults == [14]


def test_a_stop_during_growth_ends_the_run_and_loses_nothing(machine: Machine) -> None:
    reads = _start(machine)
    ax, di, cx = _regs(machine)
    machine.run()
    entries: list[int] = []

    def stop_on_second_round(_uc: object, addr: int, _size: int, _user: object) -> None:
        if addr == machine.tlb.window[0]:
            entries.append(addr)
            if len(entries) == 2:
                uclib.emu_stop(machine.uch)

    machine.uc.hook_add(UC_HOOK_CODE, stop_on_second_round)
    assert machine.run() is Stop.REQUESTED
    assert machine.reg.read(ax) != 42  # the guest did not run
    assert (machine.reg.read(di), machine.reg.read(cx)) == (0x1234, 0x5678)
    assert machine.tlb.entries < 8192
    machine.run()
    assert machine.reg.read(ax) == 42
    assert machine.tlb.entries == 8192
    assert reads
