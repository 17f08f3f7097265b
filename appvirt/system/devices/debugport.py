"""The Bochs/QEMU debug console ports 0xE9 and 0x402: bytes written go to the host's stderr.

Reading either port returns 0xE9, which is how firmware (SeaBIOS) detects that the port exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .bus import Device

READBACK = 0xE9


class DebugPort(Device):
    name = "debugport"

    def __init__(
        self, sink: Callable[[bytes], None], ports: tuple[int, ...] = (0xE9, 0x402)
    ) -> None:
        super().__init__()
        self._ports = ports
        self._sink = sink
        self.written = bytearray()  # the last 64 KiB, for tests and --stats
        self.total = 0

    @property
    def ports(self) -> Iterable[int]:
        return self._ports

    def read(self, port: int, size: int) -> int:
        return READBACK

    def write(self, port: int, size: int, value: int) -> None:
        data = bytes([value & 0xFF])
        self.total += 1
        self.written += data
        if len(self.written) > 65536:
            del self.written[:-65536]
        self._sink(data)

    def snapshot(self) -> dict[str, Any]:
        return {"bytes": self.total}
