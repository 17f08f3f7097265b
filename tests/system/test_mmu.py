"""The page-table walker on hand-built tables of each format, and guest-physical memory slots."""

from __future__ import annotations

import pytest

from appvirt.core.pagetables import (
    LARGE,
    NX,
    PF_FETCH,
    PF_PRESENT,
    PF_USER,
    PF_WRITE,
    PRESENT,
    USER,
    WRITABLE,
    PageFault,
    Paging,
    walk,
)
from appvirt.core.sysmachine import SystemMachine
from appvirt.system.mmu import GuestMemory, GuestMemoryError, MemorySlot

P, W, U = PRESENT, WRITABLE, USER


class Tables:
    """Sparse physical memory holding hand-written table entries."""

    def __init__(self) -> None:
        self.entries: dict[int, int] = {}

    def set(self, table: int, index: int, value: int, size: int) -> None:
        self.entries[table + index * size] = value

    def read(self, addr: int, size: int) -> int:
        return self.entries.get(addr, 0)


# -- 32-bit paging ---------------------------------------------------------------------------------
@pytest.fixture
def bits32() -> Tables:
    t = Tables()
    t.set(0x1000, 0, 0x2000 | P | W | U, 4)  # 0-4 MiB -> page table at 0x2000
    t.set(0x2000, 5, 0x55000 | P | U, 4)  # 0x5000 -> 0x55000, user read-only
    t.set(0x2000, 6, 0x66000 | P | W, 4)  # 0x6000 -> 0x66000, supervisor read/write
    t.set(0x1000, 2, 0x01400000 | P | W | LARGE, 4)  # 8 MiB: a 4 MiB page at 20 MiB
    return t


def test_bits32_small_and_large_pages(bits32: Tables) -> None:
    t = walk(bits32.read, Paging.BITS32, 0x1000, 0x5123)
    assert (t.phys, t.page_size, t.writable, t.user) == (0x55123, 0x1000, False, True)
    assert t.entries == (0x1000, 0x2014)
    big = walk(bits32.read, Paging.BITS32, 0x1000, 0x00812345)
    assert (big.phys, big.page_size) == (0x01412345, 0x400000)


def test_bits32_without_pse_treats_large_bit_as_table(bits32: Tables) -> None:
    with pytest.raises(PageFault):
        walk(bits32.read, Paging.BITS32, 0x1000, 0x00812345, pse=False)


def test_bits32_permission_checks(bits32: Tables) -> None:
    with pytest.raises(PageFault) as exc:
        walk(bits32.read, Paging.BITS32, 0x1000, 0x5000, write=True, user=True)
    assert exc.value.error_code == PF_PRESENT | PF_WRITE | PF_USER
    with pytest.raises(PageFault) as exc:
        walk(bits32.read, Paging.BITS32, 0x1000, 0x6000, user=True)
    assert exc.value.error_code == PF_PRESENT | PF_USER
    # a supervisor write to a read-only page faults only with CR0.WP
    with pytest.raises(PageFault):
        walk(bits32.read, Paging.BITS32, 0x1000, 0x5000, write=True)
    assert walk(bits32.read, Paging.BITS32, 0x1000, 0x5000, write=True, wp=False).phys == 0x55000


def test_bits32_not_present(bits32: Tables) -> None:
    with pytest.raises(PageFault) as exc:
        walk(bits32.read, Paging.BITS32, 0x1000, 0x7000, write=True)
    assert exc.value.error_code == PF_WRITE
    assert exc.value.va == 0x7000


# -- PAE ---------------------------------------------------------------------------------------------
@pytest.fixture
def pae() -> Tables:
    t = Tables()
    t.set(0x1000, 3, 0x2000 | P, 8)  # PDPT[3]: 3-4 GiB
    t.set(0x2000, 0, 0x3000 | P | W, 8)  # PD[0]: 0xC0000000 -> page table
    t.set(0x3000, 1, 0x123000 | P | W | NX, 8)  # 0xC0001000: data, no execute
    t.set(0x3000, 2, 0x124000 | P, 8)
    t.set(0x2000, 1, 0x00A00000 | P | W | LARGE, 8)  # 0xC0200000: 2 MiB page
    return t


def test_pae_small_large_and_nx(pae: Tables) -> None:
    t = walk(pae.read, Paging.PAE, 0x1000, 0xC0001010)
    assert (t.phys, t.executable, t.writable) == (0x123010, False, True)
    assert walk(pae.read, Paging.PAE, 0x1000, 0xC0002000, fetch=True).executable
    with pytest.raises(PageFault) as exc:
        walk(pae.read, Paging.PAE, 0x1000, 0xC0001000, fetch=True)
    assert exc.value.error_code == PF_PRESENT | PF_FETCH
    big = walk(pae.read, Paging.PAE, 0x1000, 0xC0234567)
    assert (big.phys, big.page_size) == (0xA34567, 0x200000)
    # with EFER.NXE clear the NX bit is ignored
    assert walk(pae.read, Paging.PAE, 0x1000, 0xC0001000, fetch=True, nxe=False).executable


def test_pae_not_present_pdpte(pae: Tables) -> None:
    with pytest.raises(PageFault):
        walk(pae.read, Paging.PAE, 0x1000, 0x40000000)


# -- 4-level -----------------------------------------------------------------------------------------
def test_long_mode_4k_2m_1g() -> None:
    t = Tables()
    t.set(0x1000, 0, 0x2000 | P | W | U, 8)  # PML4[0]
    t.set(0x2000, 0, 0x3000 | P | W | U, 8)  # PDPT[0]
    t.set(0x3000, 0, 0x4000 | P | W | U, 8)  # PD[0] -> PT
    t.set(0x4000, 7, 0xABC000 | P | U, 8)
    t.set(0x3000, 1, 0x40000000 | P | W | LARGE, 8)  # 2 MiB at 2 MiB
    t.set(0x2000, 1, 0x80000000 | P | W | U | LARGE, 8)  # 1 GiB at 1 GiB
    t.set(0x1000, 1, 0x5000 | P | W | U | NX, 8)  # PML4[1] -> NX subtree
    t.set(0x5000, 0, 0x6000 | P | W | U, 8)
    t.set(0x6000, 0, 0x200000 | P | W | U | LARGE, 8)
    assert walk(t.read, Paging.LONG4, 0x1000, 0x7123).phys == 0xABC123
    assert walk(t.read, Paging.LONG4, 0x1000, 0x201000).phys == 0x40001000
    one_g = walk(t.read, Paging.LONG4, 0x1000, 0x40012345)
    assert (one_g.phys, one_g.page_size) == (0x80012345, 1 << 30)
    with pytest.raises(PageFault):
        walk(t.read, Paging.LONG4, 0x1000, 0x201000, user=True)
    with pytest.raises(PageFault):  # NX high in the tree forbids execution below it
        walk(t.read, Paging.LONG4, 0x1000, (1 << 39) + 0x1000, fetch=True)


def test_paging_off_is_identity() -> None:
    t = walk(lambda a, s: 0, Paging.OFF, 0, 0x12345678)
    assert t.phys == 0x12345678


# -- guest-physical memory ---------------------------------------------------------------------------
@pytest.fixture
def memory():  # noqa: ANN201
    machine = SystemMachine()
    mem = GuestMemory(machine)
    buf = mem.new_buffer(4 << 20)
    mem.add_slot(MemorySlot(0, 4 << 20, buf, 0, "ram"))
    yield mem
    machine.close()
    mem.close()


def test_slots_read_write_and_lazy_backing(memory: GuestMemory) -> None:
    before = memory.pages_backed()
    memory.write(0x123456, b"hello")
    assert memory.read(0x123456, 5) == b"hello"
    assert bytes(memory.uc.mem_read(0x123456, 5)) == b"hello"  # the guest sees the same bytes
    assert memory.pages_backed() >= before + 1
    assert memory.pages_backed() < (4 << 20) // 4096  # most of the slot was never touched
    with pytest.raises(GuestMemoryError):
        memory.read(8 << 20, 1)


def test_write_watch_and_dirty_log(memory: GuestMemory) -> None:
    seen: list[tuple[int, int, bytes]] = []
    memory.add_watcher("test", lambda page, addr, data: seen.append((page, addr, data)))
    memory.watch_writes(0x5000, "test")
    memory.write(0x5008, b"\x01\x02")
    assert seen == [(0x5000, 0x5008, b"\x01\x02")]
    memory.unwatch_writes(0x5000, "test")
    memory.write(0x5008, b"\x03")
    assert len(seen) == 1
    memory.start_dirty_log()
    assert memory.dirty_pages() == []
    memory.write(0x9000, b"x")
    assert memory.dirty_pages() == [0x9000]


def test_guest_store_to_watched_page_reaches_watcher(memory: GuestMemory) -> None:
    from unicorn import x86_const as x86

    seen: list[int] = []
    memory.add_watcher("test", lambda page, addr, data: seen.append(addr))
    memory.watch_writes(0x8000, "test")
    machine = memory.machine
    # 32-bit flat code: mov dword [0x8010], 0x11223344 ; hlt
    code = bytes([0xC7, 0x05, 0x10, 0x80, 0, 0, 0x44, 0x33, 0x22, 0x11, 0xF4])
    memory.load(0x1000, code)
    from appvirt.core.cpustate import CS, DS, Segment

    ctx = machine.context()
    machine.uc.reg_write(x86.UC_X86_REG_CR0, 0x11)
    ctx = machine.context()
    ctx.set_segment(CS, Segment(8, 0, 0xFFFFFFFF, 0xCF9B00))
    ctx.set_segment(DS, Segment(16, 0, 0xFFFFFFFF, 0xCF9300))
    ctx.commit()
    machine.pc = 0x1000
    machine.run(timeout_us=100_000)
    assert seen == [0x8010]
    assert memory.read(0x8010, 4) == bytes.fromhex("44332211")
    assert memory.stats.write_watch_hits == 1


def test_two_vms_share_nothing() -> None:
    a, b = SystemMachine(), SystemMachine()
    ma, mb = GuestMemory(a), GuestMemory(b)
    for mem in (ma, mb):
        mem.add_slot(MemorySlot(0, 1 << 20, mem.new_buffer(1 << 20), 0, "ram"))
    ma.write(0x1000, b"only in a")
    assert mb.read(0x1000, 9) == bytes(9)
    ma.start_dirty_log()
    assert mb._write_watch == {}
    for m in (a, b):
        m.close()
    ma.close()
    mb.close()
