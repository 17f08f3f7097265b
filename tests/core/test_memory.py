"""The address space: placement, splitting, permissions enforced by the identity page tables."""

from __future__ import annotations

import pytest
from unicorn import x86_const as x86

from appvirt.core.machine import Machine, Stop
from appvirt.core.memory import GuestFault, OutOfMemory
from appvirt.loader.image import Arch, Perm


@pytest.fixture(params=[Arch.X86_64, Arch.I386])
def machine(request: pytest.FixtureRequest) -> Machine:
    m = Machine(request.param)
    yield m
    m.close()


def test_map_find_unmap(machine: Machine) -> None:
    mem = machine.mem
    a = mem.find_free(0x3000)
    mem.map(a, 0x3000, Perm.RW, "x")
    assert mem.find(a + 0x1000) is not None
    mem.unmap(a + 0x1000, 0x1000)
    assert mem.find(a + 0x1000) is None
    assert mem.find(a) is not None and mem.find(a + 0x2000) is not None
    assert mem.mapped_bytes == 0x2000


def test_top_down_placement_does_not_overlap(machine: Machine) -> None:
    mem = machine.mem
    seen = []
    for _ in range(20):
        a = mem.find_free(0x5000)
        mem.map(a, 0x5000, Perm.RW)
        seen.append((a, a + 0x5000))
    seen.sort()
    for (_, end), (start, _) in zip(seen, seen[1:], strict=False):
        assert end <= start


def test_protect_splits_and_merges(machine: Machine) -> None:
    mem = machine.mem
    a = mem.find_free(0x4000)
    mem.map(a, 0x4000, Perm.RW)
    mem.protect(a + 0x1000, 0x1000, Perm.R)
    assert [v.perms for v in mem.vmas] == [Perm.RW, Perm.R, Perm.RW]
    mem.protect(a + 0x1000, 0x1000, Perm.RW)
    assert len(mem.vmas) == 1


def test_memory_limit(machine: Machine) -> None:
    m = Machine(machine.arch, memory_limit=1 << 20)
    try:
        with pytest.raises(OutOfMemory):
            m.mem.map(m.mem.find_free(2 << 20), 2 << 20, Perm.RW)
    finally:
        m.close()


def test_guest_fault_on_bad_pointer(machine: Machine) -> None:
    with pytest.raises(GuestFault):
        machine.mem.read(0x1234000, 4)
    a = machine.mem.map(machine.mem.find_free(0x1000), 0x1000, Perm.R)
    with pytest.raises(GuestFault):
        machine.mem.write(a, b"x")


def _run_code(machine: Machine, code: bytes) -> Stop:
    mem = machine.mem
    text = mem.map(mem.find_free(0x1000), 0x1000, Perm.RX, "code")
    mem.poke(text, code)
    machine.pc = text
    faults: list[int] = []
    machine.on_interrupt(lambda n: (faults.append(n), machine.request_stop()))
    stop = machine.run(1_000_000)
    machine.faults = faults  # type: ignore[attr-defined]
    return stop


def test_write_to_read_only_page_faults(machine: Machine) -> None:
    """The page tables enforce permissions: a store to an R page raises #PF (vector 14)."""
    mem = machine.mem
    ro = mem.map(mem.find_free(0x1000), 0x1000, Perm.R)
    ax = x86.UC_X86_REG_RAX if machine.is64 else x86.UC_X86_REG_EAX
    machine.reg.write(ax, ro)
    _run_code(machine, b"\xc6\x00\x01\xf4")  # mov byte [eax/rax], 1 ; hlt
    assert machine.faults == [14]  # type: ignore[attr-defined]


def test_execute_data_page_faults(machine: Machine) -> None:
    mem = machine.mem
    data = mem.map(mem.find_free(0x1000), 0x1000, Perm.RW)
    mem.poke(data, b"\x90\xf4")
    machine.pc = data
    faults: list[int] = []
    machine.on_interrupt(lambda n: (faults.append(n), machine.request_stop()))
    machine.run(1_000_000)
    assert faults == [14]


def test_writable_page_accepts_stores(machine: Machine) -> None:
    mem = machine.mem
    rw = mem.map(mem.find_free(0x1000), 0x1000, Perm.RW)
    ax = x86.UC_X86_REG_RAX if machine.is64 else x86.UC_X86_REG_EAX
    machine.reg.write(ax, rw)
    _run_code(machine, b"\xc6\x00\x2a\xf4")
    assert machine.faults == []  # type: ignore[attr-defined]
    assert mem.read(rw, 1) == b"\x2a"


def test_brk_grows_and_shrinks(machine: Machine) -> None:
    mem = machine.mem
    mem.init_brk(0x800000)
    assert mem.set_brk(0) == 0x800000
    assert mem.set_brk(0x823456) == 0x823456
    mem.write(0x823000, b"ok")
    assert mem.set_brk(0x801000) == 0x801000
    assert mem.find(0x823000) is None


def test_close_frees_many_machines() -> None:
    import tracemalloc

    tracemalloc.start()
    for _ in range(30):
        Machine(Arch.X86_64).close()
    first = tracemalloc.get_traced_memory()[0]
    for _ in range(100):
        Machine(Arch.X86_64).close()
    grown = tracemalloc.get_traced_memory()[0] - first
    tracemalloc.stop()
    assert grown < 2_000_000
