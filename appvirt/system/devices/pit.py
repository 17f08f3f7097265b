"""The 8254 programmable interval timer: channel 0 drives IRQ 0, channel 2 is gated by port 0x61.

Counters run on the VM's virtual clock (``now_ns``) at 1.193182 MHz. Modes 0 (one shot), 2 (rate
generator) and 3 (square wave) are modelled; 1, 4 and 5 count like mode 0. The hypervisor calls
``advance`` between slices; periods that passed while the guest ran are coalesced into one IRQ 0
edge, as the PIC's request register would hold only one anyway. ``next_event_ns`` tells a halted
VM how far it may skip ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .bus import Device, Irq, no_irq

FREQ_HZ = 1_193_182
NS = 1_000_000_000


def ticks_to_ns(ticks: int) -> int:
    return ticks * NS // FREQ_HZ


@dataclass(slots=True)
class Channel:
    mode: int = 0
    access: int = 3  # 1 low byte, 2 high byte, 3 low then high
    reload: int = 0x10000
    start_ns: int = 0
    armed: bool = False
    gate: bool = True
    latch: int | None = None
    read_high: bool = False
    write_high: bool = False
    pending_low: int = 0
    fired_until_ns: int = 0  # the last period boundary already signalled

    def elapsed_ticks(self, now: int) -> int:
        return (now - self.start_ns) * FREQ_HZ // NS

    def count(self, now: int) -> int:
        if not self.armed:
            return self.reload & 0xFFFF
        t = self.elapsed_ticks(now)
        if self.mode in (2, 3):
            step = 2 if self.mode == 3 else 1
            return (self.reload - (t * step) % self.reload) & 0xFFFF
        return (self.reload - t) & 0xFFFF

    def out(self, now: int) -> bool:
        if not self.armed:
            return self.mode != 0
        t = self.elapsed_ticks(now)
        if self.mode == 3:
            return (t % self.reload) < (self.reload + 1) // 2
        if self.mode == 2:
            return (t % self.reload) != self.reload - 1
        return t >= self.reload

    def period_ns(self) -> int:
        return max(ticks_to_ns(self.reload), 1)


class Pit8254(Device):
    name = "pit"

    def __init__(self, now_ns: Callable[[], int], irq0: Irq = no_irq) -> None:
        super().__init__()
        self._now = now_ns
        self._irq0 = irq0
        self.channels = [Channel(), Channel(), Channel(gate=False)]
        self.port61 = 0
        self.interrupts = 0

    @property
    def ports(self) -> Iterable[int]:
        return (0x40, 0x41, 0x42, 0x43, 0x61)

    # -- time ------------------------------------------------------------------------------------
    def next_event_ns(self) -> int | None:
        ch = self.channels[0]
        if not ch.armed:
            return None
        if ch.mode in (2, 3):
            return ch.fired_until_ns + ch.period_ns()
        if ch.fired_until_ns:
            return None  # one shot already signalled
        return ch.start_ns + ch.period_ns()

    def advance(self) -> None:
        """Signal IRQ 0 if channel 0 reached a period boundary (or its terminal count)."""
        due = self.next_event_ns()
        if due is None:
            return
        now = self._now()
        if now < due:
            return
        ch = self.channels[0]
        if ch.mode in (2, 3):
            periods = (now - ch.fired_until_ns) // ch.period_ns()
            ch.fired_until_ns += periods * ch.period_ns()
        else:
            ch.fired_until_ns = due
        self.interrupts += 1
        self._irq0(True)
        self._irq0(False)

    # -- ports -----------------------------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        now = self._now()
        if port == 0x61:
            out2 = self.channels[2].out(now) if self.channels[2].gate else False
            refresh = (now // 15_000) & 1  # the DRAM refresh bit toggles every 15 us
            return (self.port61 & 0x0F) | (0x20 if out2 else 0) | (0x10 if refresh else 0)
        if port == 0x43:
            return 0xFF
        ch = self.channels[port - 0x40]
        value = ch.latch if ch.latch is not None else ch.count(now)
        if ch.access == 1:
            ch.latch = None
            return value & 0xFF
        if ch.access == 2:
            ch.latch = None
            return (value >> 8) & 0xFF
        if not ch.read_high:
            ch.read_high = True
            return value & 0xFF
        ch.read_high = False
        ch.latch = None
        return (value >> 8) & 0xFF

    def write(self, port: int, size: int, value: int) -> None:
        now = self._now()
        value &= 0xFF
        if port == 0x61:
            self.port61 = value & 0x0F
            self.channels[2].gate = bool(value & 1)
            return
        if port == 0x43:
            self._control(value, now)
            return
        ch = self.channels[port - 0x40]
        if ch.access == 1:
            self._load(ch, value, now)
        elif ch.access == 2:
            self._load(ch, value << 8, now)
        elif not ch.write_high:
            ch.pending_low = value
            ch.write_high = True
        else:
            ch.write_high = False
            self._load(ch, ch.pending_low | (value << 8), now)

    def _control(self, value: int, now: int) -> None:
        sel = value >> 6
        if sel == 3:  # read-back: latch the counts of the selected channels
            for i in range(3):
                if value & (2 << i) and not value & 0x20:
                    self.channels[i].latch = self.channels[i].count(now)
            return
        ch = self.channels[sel]
        access = (value >> 4) & 3
        if access == 0:
            ch.latch = ch.count(now)
            return
        ch.access = access
        ch.mode = (value >> 1) & 7
        if ch.mode > 5:
            ch.mode -= 4  # 6 and 7 are aliases of 2 and 3
        ch.read_high = ch.write_high = False
        ch.armed = False

    def _load(self, ch: Channel, count: int, now: int) -> None:
        ch.reload = count or 0x10000
        ch.start_ns = now
        ch.fired_until_ns = now if ch.mode in (2, 3) else 0
        ch.armed = True
        ch.latch = None

    def snapshot(self) -> dict[str, Any]:
        ch = self.channels[0]
        return {
            "mode": ch.mode,
            "reload": ch.reload,
            "armed": ch.armed,
            "hz": round(FREQ_HZ / ch.reload, 3) if ch.armed else 0,
            "interrupts": self.interrupts,
        }
