"""The guest's clock: real time, real time with an offset, or frozen for reproducible runs."""

from __future__ import annotations

import time


class Clock:
    """A plain slotted class (a dataclass costs ~1 ms of every launch to create)."""

    __slots__ = ("mode", "offset_ns", "frozen_ns", "_virtual_ns", "_boot")

    def __init__(self, mode: str = "real", offset_ns: int = 0, frozen_ns: int = 0) -> None:
        self.mode = mode  # real | offset | frozen
        self.offset_ns = offset_ns
        self.frozen_ns = frozen_ns
        self._virtual_ns = 0  # time slept in frozen mode
        self._boot = time.monotonic_ns()

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
