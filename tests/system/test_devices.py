"""Each device on its own, through its port interface (and the PIC lines it raises)."""

from __future__ import annotations

import time

import pytest

from appvirt.system.cli import open_disk
from appvirt.system.devices.bus import Device, PortBus
from appvirt.system.devices.chipset import Chipset
from appvirt.system.devices.cmos import Cmos
from appvirt.system.devices.debugport import DebugPort
from appvirt.system.devices.disk import AtaDisk
from appvirt.system.devices.pic import PicPair
from appvirt.system.devices.pit import FREQ_HZ, Pit8254
from appvirt.system.devices.uart import Uart16550


class Line:
    def __init__(self) -> None:
        self.level = False
        self.edges = 0

    def __call__(self, level: bool) -> None:
        if level and not self.level:
            self.edges += 1
        self.level = level


# -- bus -------------------------------------------------------------------------------------------
def test_bus_routes_ports_and_unclaimed_ports_float_high() -> None:
    bus = PortBus()
    out = bytearray()
    bus.attach(DebugPort(out.extend))
    bus.write(0xE9, 1, ord("x"))
    assert out == b"x"
    assert bus.read(0xE9, 1) == 0xE9
    assert bus.read(0x1234, 2) == 0xFFFF
    bus.write(0x1234, 1, 0)
    assert bus.unclaimed[0x1234] == 2


def test_bus_refuses_two_devices_on_one_port() -> None:
    bus = PortBus()
    bus.attach(DebugPort(lambda b: None))
    with pytest.raises(ValueError):
        bus.attach(DebugPort(lambda b: None))


def test_device_base_reads_all_ones() -> None:
    assert Device().read(0, 2) == 0xFFFF


# -- UART ------------------------------------------------------------------------------------------
def test_uart_transmits_and_reports_empty_transmitter() -> None:
    out = bytearray()
    uart = Uart16550(out.extend)
    for b in b"hi":
        uart.write(0x3F8, 1, b)
    assert out == b"hi"
    assert uart.read(0x3FD, 1) & 0x60 == 0x60
    assert uart.read(0x3FD, 1) & 1 == 0


def test_uart_divisor_latch() -> None:
    uart = Uart16550(lambda b: None)
    uart.write(0x3FB, 1, 0x80)
    uart.write(0x3F8, 1, 0x01)
    uart.write(0x3F9, 1, 0x00)
    assert uart.read(0x3F8, 1) == 1
    uart.write(0x3FB, 1, 0x03)
    assert uart.divisor == 1
    assert uart.read(0x3FB, 1) == 3


def test_uart_receive_interrupt_needs_ier_and_out2() -> None:
    line = Line()
    uart = Uart16550(lambda b: None, irq=line)
    uart.feed(b"k")
    assert not line.level
    uart.write(0x3F9, 1, 0x01)  # IER: received data
    assert not line.level  # OUT2 still clear
    uart.write(0x3FC, 1, 0x08)
    assert line.level
    assert uart.read(0x3FA, 1) & 0x0F == 0x04
    assert uart.read(0x3FD, 1) & 1
    assert uart.read(0x3F8, 1) == ord("k")
    assert not line.level


def test_uart_thr_empty_interrupt_acknowledged_by_iir() -> None:
    line = Line()
    uart = Uart16550(lambda b: None, irq=line)
    uart.write(0x3FC, 1, 0x08)
    uart.write(0x3F9, 1, 0x02)
    assert line.level
    assert uart.read(0x3FA, 1) & 0x0F == 0x02
    assert not line.level
    assert uart.read(0x3FA, 1) & 0x0F == 0x01


def test_uart_loopback_feeds_itself() -> None:
    out = bytearray()
    uart = Uart16550(out.extend)
    uart.write(0x3FC, 1, 0x10)
    uart.write(0x3F8, 1, 0x55)
    assert out == b""
    assert uart.read(0x3F8, 1) == 0x55


# -- PIC -------------------------------------------------------------------------------------------
def init_pics(pic: PicPair, master: int = 0x20, slave: int = 0x28) -> None:
    for port, value in ((0x20, 0x11), (0xA0, 0x11), (0x21, master), (0xA1, slave)):
        pic.write(port, 1, value)
    for port, value in ((0x21, 4), (0xA1, 2), (0x21, 1), (0xA1, 1), (0x21, 0), (0xA1, 0)):
        pic.write(port, 1, value)


def test_pic_remap_priority_and_eoi() -> None:
    pic = PicPair()
    init_pics(pic)
    pic.set_irq(4, True)
    pic.set_irq(0, True)
    assert pic.pending()
    assert pic.acknowledge() == 0x20  # IRQ 0 first
    assert pic.acknowledge() is None  # IRQ 4 waits: IRQ 0 is in service
    pic.write(0x20, 1, 0x20)  # non-specific EOI
    assert pic.acknowledge() == 0x24
    pic.write(0x20, 1, 0x0B)  # OCW3: read ISR
    assert pic.read(0x20, 1) == 0x10


def test_pic_mask_and_edge() -> None:
    pic = PicPair()
    init_pics(pic)
    pic.write(0x21, 1, 0x01)
    pic.set_irq(0, True)
    pic.set_irq(0, False)
    assert not pic.pending()
    pic.write(0x21, 1, 0x00)
    assert pic.acknowledge() == 0x20  # the edge was latched while masked


def test_pic_cascade_through_irq2() -> None:
    pic = PicPair()
    init_pics(pic)
    pic.set_irq(14, True)
    assert pic.pending()
    assert pic.acknowledge() == 0x2E
    pic.write(0xA0, 1, 0x20)
    pic.write(0x20, 1, 0x20)
    assert pic.snapshot()["slave"]["isr"] == 0


def test_pic_auto_eoi() -> None:
    pic = PicPair()
    for port, value in ((0x20, 0x11), (0x21, 0x40), (0x21, 4), (0x21, 3), (0x21, 0)):
        pic.write(port, 1, value)
    pic.set_irq(1, True)
    assert pic.acknowledge() == 0x41
    assert pic.master.isr == 0


# -- PIT -------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.ns = 1_000_000

    def __call__(self) -> int:
        return self.ns


def program(pit: Pit8254, mode: int, count: int, channel: int = 0) -> None:
    pit.write(0x43, 1, (channel << 6) | 0x30 | (mode << 1))
    pit.write(0x40 + channel, 1, count & 0xFF)
    pit.write(0x40 + channel, 1, count >> 8)


def test_pit_rate_generator_raises_irq0_each_period() -> None:
    clock, line = FakeClock(), Line()
    pit = Pit8254(clock, line)
    program(pit, 2, FREQ_HZ // 100)
    assert pit.next_event_ns() is not None
    clock.ns += 5_000_000
    pit.advance()
    assert line.edges == 0
    clock.ns += 5_100_000
    pit.advance()
    assert line.edges == 1
    clock.ns += 35_000_000  # three periods missed: one coalesced edge
    pit.advance()
    assert line.edges == 2
    assert pit.snapshot()["hz"] == pytest.approx(100, rel=0.01)


def test_pit_latch_reads_a_stable_count() -> None:
    clock = FakeClock()
    pit = Pit8254(clock)
    program(pit, 2, 1000)
    clock.ns += 100_000  # ~119 ticks
    pit.write(0x43, 1, 0x00)  # latch channel 0
    clock.ns += 100_000
    low, high = pit.read(0x40, 1), pit.read(0x40, 1)
    assert (high << 8 | low) == 1000 - 119


def test_pit_channel2_gate_and_out2_on_port61() -> None:
    clock = FakeClock()
    pit = Pit8254(clock)
    pit.write(0x61, 1, 0x01)
    program(pit, 0, 100, channel=2)
    assert pit.read(0x61, 1) & 0x20 == 0
    clock.ns += 200_000
    assert pit.read(0x61, 1) & 0x20


# -- CMOS ------------------------------------------------------------------------------------------
def test_cmos_clock_bcd_and_binary() -> None:
    when = time.mktime((2024, 3, 9, 13, 45, 56, 0, 0, 0)) - time.timezone
    cmos = Cmos(lambda: int(when * 1e9), 32 << 20)

    def reg(n: int) -> int:
        cmos.write(0x70, 1, n)
        return cmos.read(0x71, 1)

    assert (reg(4), reg(2), reg(0)) == (0x13, 0x45, 0x56)
    assert (reg(9), reg(8), reg(7), reg(0x32)) == (0x24, 0x03, 0x09, 0x20)
    cmos.write(0x70, 1, 0x0B)
    cmos.write(0x71, 1, 0x06)  # binary, 24 h
    assert reg(4) == 13


def test_cmos_memory_size_and_nmi_bit() -> None:
    cmos = Cmos(lambda: 0, 64 << 20)

    def reg(n: int) -> int:
        cmos.write(0x70, 1, n | 0x80)
        return cmos.read(0x71, 1)

    assert reg(0x30) | reg(0x31) << 8 == (63 << 20) // 1024
    assert reg(0x34) | reg(0x35) << 8 == (48 << 20) >> 16
    assert cmos.nmi_disabled
    cmos.write(0x70, 1, 0x0C)  # status C clears on read
    cmos.ram[0x0C] = 0x80
    assert cmos.read(0x71, 1) == 0x80
    assert cmos.read(0x71, 1) == 0


def test_debug_port_sink_and_readback() -> None:
    out = bytearray()
    dev = DebugPort(out.extend)
    dev.write(0x402, 1, ord("S"))
    dev.write(0xE9, 1, ord("B"))
    assert out == b"SB"
    assert dev.read(0x402, 1) == 0xE9


# -- ATA disk --------------------------------------------------------------------------------------
@pytest.fixture
def make_disk(tmp_path):  # noqa: ANN001, ANN201
    """An AtaDisk on a 4-sector image opened through a VFS, as ``--disk`` does."""
    opened = []

    def make(writable: bool = True):  # noqa: ANN202
        image = bytearray(4 * 512)
        image[0:12] = b"first sector"
        image[512:525] = b"second sector"
        path = tmp_path / "disk.img"
        path.write_bytes(bytes(image))
        vfs, medium = open_disk(str(path), "cow" if writable else "ro")
        opened.append((vfs, medium))
        line = Line()
        return AtaDisk(medium, line), medium, line

    yield make
    for vfs, medium in opened:
        medium.close()
        vfs.close()


def command(disk: AtaDisk, cmd: int, lba: int = 0, count: int = 1) -> None:
    disk.write(0x1F6, 1, 0xE0 | (lba >> 24))
    disk.write(0x1F2, 1, count)
    disk.write(0x1F3, 1, lba & 0xFF)
    disk.write(0x1F4, 1, (lba >> 8) & 0xFF)
    disk.write(0x1F5, 1, (lba >> 16) & 0xFF)
    disk.write(0x1F7, 1, cmd)


def read_words(disk: AtaDisk, n: int) -> bytes:
    return b"".join(disk.read(0x1F0, 2).to_bytes(2, "little") for _ in range(n))


def test_ata_identify_reports_capacity_and_model(make_disk) -> None:  # noqa: ANN001
    disk, _medium, line = make_disk()
    command(disk, 0xEC)
    assert line.level
    data = read_words(disk, 256)
    assert int.from_bytes(data[120:124], "little") == 4
    model = data[54:94]
    assert bytes(model[i ^ 1] for i in range(40)).startswith(b"APPVIRT VIRTUAL DISK")
    assert disk.read(0x1F7, 1) & 0x08 == 0
    assert not line.level


def test_ata_read_two_sectors(make_disk) -> None:  # noqa: ANN001
    disk, _medium, _line = make_disk()
    command(disk, 0x20, lba=0, count=2)
    data = read_words(disk, 512)
    assert data[:12] == b"first sector"
    assert data[512:525] == b"second sector"
    assert disk.sectors_read == 2


def test_ata_write_sector_and_read_back(make_disk) -> None:  # noqa: ANN001
    disk, medium, _line = make_disk()
    command(disk, 0x30, lba=3)
    payload = b"written by the guest".ljust(512, b".")
    for i in range(0, 512, 2):
        disk.write(0x1F0, 2, int.from_bytes(payload[i : i + 2], "little"))
    assert disk.sectors_written == 1
    assert medium.pread(512, 3 * 512) == payload


def test_ata_read_only_medium_aborts_writes_and_out_of_range_reads(make_disk) -> None:  # noqa: ANN001
    disk, _medium, _line = make_disk(writable=False)
    command(disk, 0x30)
    assert disk.read(0x1F7, 1) & 0x01
    assert disk.read(0x1F1, 1) == 0x04
    command(disk, 0x20, lba=100)
    assert disk.read(0x1F7, 1) & 0x01
    assert disk.read(0x1F1, 1) == 0x10
    command(disk, 0x99)
    assert disk.read(0x1F1, 1) == 0x04


def test_ata_without_medium_and_slave(make_disk) -> None:  # noqa: ANN001
    assert AtaDisk(None).read(0x1F7, 1) == 0
    disk, _m, _l = make_disk()
    disk.write(0x1F6, 1, 0xF0)
    assert disk.read(0x1F7, 1) == 0


# -- chipset ---------------------------------------------------------------------------------------
def test_chipset_power_off_and_resets() -> None:
    events: list[str] = []
    chip = Chipset(lambda: events.append("off"), lambda: events.append("reset"))
    chip.write(0x604, 2, 0x2000)
    chip.write(0xCF9, 1, 0x06)
    chip.write(0x64, 1, 0xFE)
    chip.write(0x92, 1, 0x01)
    assert events == ["off", "reset", "reset", "reset"]
    assert chip.read(0x64, 1) & 0x03 == 0
