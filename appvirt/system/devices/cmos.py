"""CMOS RAM and the MC146818 real-time clock behind ports 0x70 (index) and 0x71 (data).

The clock reads the run's ``Clock`` (real, offset or frozen, as the profile says) in BCD or binary
and 12 or 24 hour format per status register B. Writes to the time registers are ignored (the guest
cannot set the host's time). The RAM holds what firmware asks a PC's CMOS for: base and extended
memory sizes, memory above 16 MiB and 4 GiB, the disk and equipment bytes, the CPU count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .bus import Device

REG_A = 0x0A
REG_B = 0x0B
REG_C = 0x0C
REG_D = 0x0D
B_24H = 0x02
B_BINARY = 0x04
_TIME_REGS = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32}


def _bcd(value: int) -> int:
    return ((value // 10) << 4) | (value % 10)


class Cmos(Device):
    name = "cmos"

    def __init__(
        self, realtime_ns: Callable[[], int], ram_bytes: int, has_disk: bool = False
    ) -> None:
        super().__init__()
        self._realtime_ns = realtime_ns
        self.index = 0
        self.nmi_disabled = False
        self.ram = bytearray(128)
        self.ram[REG_A] = 0x26
        self.ram[REG_B] = B_24H
        self.ram[REG_D] = 0x80
        self._set_memory(ram_bytes)
        self.ram[0x10] = 0x00  # no floppy drives
        self.ram[0x12] = 0xF0 if has_disk else 0x00
        self.ram[0x14] = 0x06  # math coprocessor, 80x25 colour... no floppy
        self.ram[0x3D] = 0x02 if has_disk else 0x00  # boot from hard disk first
        self.ram[0x5F] = 0  # one CPU

    def _set_memory(self, ram: int) -> None:
        self.ram[0x15], self.ram[0x16] = 640 & 0xFF, 640 >> 8
        ext_kb = min(max(ram - (1 << 20), 0) // 1024, 0xFFFF)
        self.ram[0x17], self.ram[0x18] = ext_kb & 0xFF, ext_kb >> 8
        self.ram[0x30], self.ram[0x31] = ext_kb & 0xFF, ext_kb >> 8
        above16 = min(max(ram - (16 << 20), 0) >> 16, 0xFFFF)
        self.ram[0x34], self.ram[0x35] = above16 & 0xFF, above16 >> 8

    @property
    def ports(self) -> Iterable[int]:
        return (0x70, 0x71)

    def _time_reg(self, reg: int) -> int:
        t = time.gmtime(self._realtime_ns() // 1_000_000_000)
        binary = bool(self.ram[REG_B] & B_BINARY)
        hour = t.tm_hour
        pm = 0
        if not self.ram[REG_B] & B_24H:
            pm = 0x80 if hour >= 12 else 0
            hour = hour % 12 or 12
        values = {
            0x00: t.tm_sec,
            0x02: t.tm_min,
            0x04: hour,
            0x06: (t.tm_wday + 1) % 7 + 1,
            0x07: t.tm_mday,
            0x08: t.tm_mon,
            0x09: t.tm_year % 100,
            0x32: t.tm_year // 100,
        }
        value = values[reg]
        out = value if binary else _bcd(value)
        return out | (pm if reg == 0x04 else 0)

    def read(self, port: int, size: int) -> int:
        if port == 0x70:
            return 0xFF
        reg = self.index
        if reg in _TIME_REGS:
            return self._time_reg(reg)
        if reg == REG_C:
            value = self.ram[REG_C]
            self.ram[REG_C] = 0
            return value
        return self.ram[reg]

    def write(self, port: int, size: int, value: int) -> None:
        if port == 0x70:
            self.index = value & 0x7F
            self.nmi_disabled = bool(value & 0x80)
            return
        reg = self.index
        if reg in _TIME_REGS or reg in (REG_C, REG_D):
            return
        if reg == REG_A:
            value &= 0x7F  # update-in-progress is read-only
        self.ram[reg] = value & 0xFF

    def snapshot(self) -> dict[str, Any]:
        return {"index": self.index, "status_b": self.ram[REG_B], "nmi_disabled": self.nmi_disabled}
