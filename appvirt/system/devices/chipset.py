"""What a PC's chipset gives a guest to power off or reset the machine.

ACPI PM1a control at 0x604 (QEMU's PIIX4 address: writing SLP_EN with sleep type 0 powers off),
the reset control register at 0xCF9, "fast A20 and reset" at 0x92 and the keyboard controller's
pulse-reset command (0xFE to port 0x64). The keyboard controller otherwise reports an empty buffer.
A20 is always on: Unicorn does not model the A20 gate, so bit 1 of port 0x92 only reads back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .bus import Device

PM1A_CNT = 0x604
SLP_EN = 1 << 13


class Chipset(Device):
    name = "chipset"

    def __init__(self, power_off: Callable[[], None], reset: Callable[[], None]) -> None:
        super().__init__()
        self._power_off = power_off
        self._reset = reset
        self.port92 = 0x02
        self.pm1a_cnt = 0
        self.kbc_command = 0

    @property
    def ports(self) -> Iterable[int]:
        return (0x60, 0x64, 0x92, 0xCF9, PM1A_CNT, PM1A_CNT + 1)

    def read(self, port: int, size: int) -> int:
        if port == 0x92:
            return self.port92
        if port == 0x64:
            return 0x1C  # input buffer empty, output buffer empty, system flag, command last
        if port == 0x60:
            return 0
        if port in (PM1A_CNT, PM1A_CNT + 1):
            return (self.pm1a_cnt >> (8 * (port - PM1A_CNT))) & ((1 << (8 * size)) - 1)
        return 0

    def write(self, port: int, size: int, value: int) -> None:
        if port == 0x92:
            self.port92 = value & 0x03
            if value & 1:
                self._reset()
        elif port == 0x64:
            self.kbc_command = value & 0xFF
            if value & 0xFF == 0xFE:
                self._reset()
        elif port == 0xCF9:
            if value & 0x04:
                self._reset()
        elif port in (PM1A_CNT, PM1A_CNT + 1):
            shift = 8 * (port - PM1A_CNT)
            self.pm1a_cnt = (
                value << shift if size > 1 or shift == 0 else (self.pm1a_cnt & 0xFF) | (value << 8)
            )
            if self.pm1a_cnt & SLP_EN:
                self._power_off()

    def snapshot(self) -> dict[str, Any]:
        return {"port92": self.port92, "pm1a_cnt": self.pm1a_cnt}
