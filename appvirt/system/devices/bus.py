"""The port I/O bus and the interface every device shares.

A device answers a set of I/O ports (``ports``), serves ``read``/``write`` on them, raises its
interrupt line through the ``Irq`` it was built with, reports its state as plain data
(``snapshot``) and counts what it did (``metrics``). Timers add ``next_event_ns``/``advance``.
Ports no device claims read as all ones and ignore writes, as on a PC's ISA bus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

Irq = Callable[[bool], None]  # set (True) or clear (False) one interrupt line


def no_irq(_level: bool) -> None:
    return None


class Device:
    """Base of every device: ports, I/O handlers, snapshot, metrics."""

    name = "device"

    def __init__(self) -> None:
        self.metrics: Counter[str] = Counter()

    @property
    def ports(self) -> Iterable[int]:
        return ()

    def read(self, port: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def write(self, port: int, size: int, value: int) -> None:
        return None

    def snapshot(self) -> dict[str, Any]:
        return {}


class PortBus:
    """Routes IN/OUT to the device that claims the port."""

    def __init__(self) -> None:
        self._by_port: dict[int, Device] = {}
        self.devices: list[Device] = []
        self.unclaimed: Counter[int] = Counter()

    def attach(self, device: Device) -> Device:
        for port in device.ports:
            if port in self._by_port:
                raise ValueError(
                    f"port {port:#x} claimed by {self._by_port[port].name} and {device.name}"
                )
            self._by_port[port] = device
        self.devices.append(device)
        return device

    def read(self, port: int, size: int) -> int:
        dev = self._by_port.get(port)
        if dev is None:
            if len(self.unclaimed) < 4096:
                self.unclaimed[port] += 1
            return (1 << (8 * size)) - 1
        dev.metrics["reads"] += 1
        return dev.read(port, size) & ((1 << (8 * size)) - 1)

    def write(self, port: int, size: int, value: int) -> None:
        dev = self._by_port.get(port)
        if dev is None:
            if len(self.unclaimed) < 4096:
                self.unclaimed[port] += 1
            return
        dev.metrics["writes"] += 1
        dev.write(port, size, value & ((1 << (8 * size)) - 1))

    def device(self, name: str) -> Device:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)
