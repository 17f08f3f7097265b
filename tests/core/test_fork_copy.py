"""fork's address-space copy (``AddressSpace.fork_from``) and the handlers' guest-memory readers."""

from __future__ import annotations

import pytest

from appvirt.core.machine import Machine
from appvirt.core.memory import GuestFault, OutOfMemory
from appvirt.loader.image import Arch, Perm


@pytest.fixture(params=[Arch.X86_64, Arch.I386])
def arch(request: pytest.FixtureRequest) -> Arch:
    return request.param


def _pair(arch: Arch, limit: int | None = None) -> tuple[Machine, Machine]:
    return Machine(arch), Machine(arch, memory_limit=limit)


def test_fork_copies_mappings_contents_and_brk(arch: Arch) -> None:
    parent, child = _pair(arch)
    try:
        mem = parent.mem
        base = mem.find_free(0x300000)
        # Adjacent mappings with different permissions (one Unicorn region in the child), bytes at
        # the edges of the 64 KiB pieces and 1 MiB windows the copy works in, and zero pieces.
        mem.map(base, 0x180000, Perm.RW, "a")
        mem.map(base + 0x180000, 0x80000, Perm.R, "b", offset=0x1000, inode=7)
        far = mem.find_free(0x2000)
        mem.map(far, 0x2000, Perm.RX, "c")
        marks = {base: b"\x01", base + 0xFFFF: b"\x02", base + 0x10000: b"\x03",
                 base + 0xFFFFF: b"\x04", base + 0x100000: b"\x05", base + 0x17FFFF: b"\x06",
                 base + 0x180000: b"\x07", base + 0x1FFFFF: b"\x08", far + 0x1FFF: b"\x09"}  # fmt: skip
        for addr, byte in marks.items():
            mem.poke(addr, byte)
        mem.init_brk(base + 0x300000)
        mem.set_brk(base + 0x305000)
        mem.poke(base + 0x300010, b"heap")
        child.copy_from(parent)
        cm = child.mem
        assert [(v.start, v.end, v.perms, v.name, v.offset, v.inode) for v in cm.vmas] == [
            (v.start, v.end, v.perms, v.name, v.offset, v.inode) for v in mem.vmas
        ]
        assert (cm.brk_start, cm.brk, cm.mapped_bytes) == (mem.brk_start, mem.brk, mem.mapped_bytes)
        for addr, byte in marks.items():
            assert cm.read(addr, 1) == byte
        assert cm.read(base + 0x300010, 4) == b"heap"
        assert cm.read(base + 0x20000, 0x1000) == bytes(0x1000)
        # Permissions reach the child's page tables and its guest-memory checks.
        with pytest.raises(GuestFault):
            cm.write(base + 0x180000, b"x")
        # The copies are independent.
        cm.write(base, b"C")
        mem.write(base + 1, b"P")
        assert mem.read(base, 2) == b"\x01P"
        assert cm.read(base, 2) == b"C\x00"
    finally:
        child.close()
        parent.close()


def test_fork_honours_the_memory_limit(arch: Arch) -> None:
    parent, child = _pair(arch, limit=0x10000)
    try:
        parent.mem.map(parent.mem.find_free(0x20000), 0x20000, Perm.RW)
        with pytest.raises(OutOfMemory):
            child.copy_from(parent)
    finally:
        child.close()
        parent.close()


def test_read_cstr_stops_at_nul_across_pages_and_before_unmapped_memory(arch: Arch) -> None:
    m = Machine(arch)
    try:
        mem = m.mem
        base = mem.find_free(0x2000)
        mem.map(base, 0x2000, Perm.RW)
        mem.poke(base + 0xFFC, b"abcdefgh\0zz")
        assert mem.read_cstr(base + 0xFFC) == b"abcdefgh"
        mem.poke(base + 0x1FFC, b"end\0")
        assert mem.read_cstr(base + 0x1FFC) == b"end"
        mem.poke(base + 0x1FFC, b"tail")  # no NUL before the unmapped page that follows
        with pytest.raises(GuestFault):
            mem.read_cstr(base + 0x1FFC)
        mem.poke(base, b"x" * 16)
        with pytest.raises(GuestFault):
            mem.read_cstr(base, limit=8)  # longer than the limit
        mem.poke(base + 0xFFF, b"a")  # a string that starts on a page's last byte
        mem.poke(base + 0x1000, b"bc\0")
        assert mem.read_cstr(base + 0xFFF) == b"abc"
    finally:
        m.close()
