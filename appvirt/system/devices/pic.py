"""The two cascaded 8259A interrupt controllers of a PC (IRQ 0-7 master, 8-15 slave on IRQ 2).

Edge-triggered, fully nested priority (IRQ 0 highest), ICW1-4 initialisation, IMR, specific and
non-specific EOI, auto-EOI, IRR/ISR reads through OCW3; the ELCR ports (0x4D0/0x4D1) are kept but
not used. The hypervisor asks ``pending()`` and, when the guest can take it, ``acknowledge()``
returns the vector to deliver (the INTA cycle).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .bus import Device


@dataclass(slots=True)
class Pic8259:
    base: int
    vector_base: int = 0x08
    imr: int = 0xFF
    irr: int = 0
    isr: int = 0
    lines: int = 0  # current input levels, for edge detection
    init_step: int = 0  # 0 = operational; 2..4 = waiting for ICW2..ICW4
    needs_icw4: bool = False
    single: bool = False
    auto_eoi: bool = False
    read_isr: bool = False

    def set_line(self, n: int, level: bool) -> None:
        bit = 1 << n
        if level and not self.lines & bit:
            self.irr |= bit
        if level:
            self.lines |= bit
        else:
            self.lines &= ~bit  # edge-triggered: a latched request stays until acknowledged

    def best(self) -> int | None:
        """The IRQ (0-7) this chip would signal now, if any."""
        ready = self.irr & ~self.imr
        if not ready:
            return None
        for n in range(8):
            if self.isr & (1 << n):
                return None  # something of higher priority is in service
            if ready & (1 << n):
                return n
        return None

    def take(self, n: int) -> int:
        bit = 1 << n
        self.irr &= ~bit
        if not self.auto_eoi:
            self.isr |= bit
        return self.vector_base + n

    def write_command(self, value: int) -> None:
        if value & 0x10:  # ICW1
            self.init_step = 2
            self.needs_icw4 = bool(value & 1)
            self.single = bool(value & 2)
            self.imr = 0
            self.isr = 0
            self.irr = 0
            self.auto_eoi = False
            self.read_isr = False
        elif value & 0x08:  # OCW3
            if value & 2:
                self.read_isr = bool(value & 1)
        else:  # OCW2
            cmd = value >> 5
            if cmd == 1 and self.isr:  # non-specific EOI
                self.isr &= self.isr - 1
            elif cmd == 3:  # specific EOI
                self.isr &= ~(1 << (value & 7))

    def write_data(self, value: int) -> None:
        if self.init_step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 4 if self.single else 3
            if self.single and not self.needs_icw4:
                self.init_step = 0
        elif self.init_step == 3:
            self.init_step = 4 if self.needs_icw4 else 0
        elif self.init_step == 4:
            self.auto_eoi = bool(value & 2)
            self.init_step = 0
        else:
            self.imr = value

    def read_command(self) -> int:
        return self.isr if self.read_isr else self.irr


class PicPair(Device):
    name = "pic"

    def __init__(self) -> None:
        super().__init__()
        self.master = Pic8259(0x20, vector_base=0x08)
        self.slave = Pic8259(0xA0, vector_base=0x70)
        self.elcr = [0, 0]

    @property
    def ports(self) -> Iterable[int]:
        return (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1)

    def line(self, irq: int):  # noqa: ANN201 - returns an Irq
        """The interrupt line ``irq`` (0-15) as a callable a device raises and lowers."""

        def set_level(level: bool) -> None:
            self.set_irq(irq, level)

        return set_level

    def set_irq(self, irq: int, level: bool) -> None:
        if irq < 8:
            self.master.set_line(irq, level)
        else:
            self.slave.set_line(irq - 8, level)
            self.master.set_line(2, self.slave.best() is not None)
        if level:
            self.metrics[f"irq{irq}"] += 1

    def pending(self) -> bool:
        self.master.set_line(2, self.slave.best() is not None)
        return self.master.best() is not None

    def acknowledge(self) -> int | None:
        """INTA: the vector of the highest-priority pending IRQ, now in service (None: spurious)."""
        self.master.set_line(2, self.slave.best() is not None)
        n = self.master.best()
        if n is None:
            return None
        if n == 2:
            s = self.slave.best()
            self.master.take(2)
            if s is None:
                return self.slave.vector_base + 7
            vector = self.slave.take(s)
            self.master.set_line(2, self.slave.best() is not None)
            return vector
        return self.master.take(n)

    def read(self, port: int, size: int) -> int:
        if port in (0x4D0, 0x4D1):
            return self.elcr[port - 0x4D0]
        chip = self.master if port < 0xA0 else self.slave
        return chip.read_command() if port & 1 == 0 else chip.imr

    def write(self, port: int, size: int, value: int) -> None:
        if port in (0x4D0, 0x4D1):
            self.elcr[port - 0x4D0] = value & 0xFF
            return
        chip = self.master if port < 0xA0 else self.slave
        if port & 1 == 0:
            chip.write_command(value & 0xFF)
        else:
            chip.write_data(value & 0xFF)

    def snapshot(self) -> dict[str, Any]:
        return {
            "master": {
                "base": self.master.vector_base,
                "imr": self.master.imr,
                "irr": self.master.irr,
                "isr": self.master.isr,
            },
            "slave": {
                "base": self.slave.vector_base,
                "imr": self.slave.imr,
                "irr": self.slave.irr,
                "isr": self.slave.isr,
            },
        }
