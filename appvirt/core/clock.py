"""The guest's clock: real time, real time with an offset, or frozen for reproducible runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Clock:
    mode: str = "real"  # real | offset | frozen
    offset_ns: int = 0
    frozen_ns: int = 0
    _virtual_ns: int = 0  # time slept in frozen mode
    _boot: int = field(default_factory=time.monotonic_ns)

    def realtime_ns(self) -> int:
        if self.mode == "frozen":
            return self.frozen_ns + self._virtual_ns
        return time.time_ns() + self.offset_ns

    def monotonic_ns(self) -> int:
        if self.mode == "frozen":
            return 1_000_000_000 + self._virtual_ns
        return time.monotonic_ns() - self._boot + 1_000_000_000

    def sleep(self, ns: int) -> None:
        if self.mode == "frozen":
            self._virtual_ns += ns
            return
        time.sleep(ns / 1e9)
