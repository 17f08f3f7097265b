"""The event stream of a run: counters for the report, trace lines, and embedding callbacks.

Handlers report what happened here and never print; the CLI decides where trace lines go. Counters
are bounded (one integer per call name), so a long run never grows memory by recording calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import IO


class Events:
    """A plain slotted class (a dataclass costs ~1 ms of every launch to create)."""

    __slots__ = ("trace", "calls", "unknown", "files_read", "files_written", "denied", "listeners",
                 "max_recorded")  # fmt: skip

    def __init__(self, trace: IO[str] | None = None, max_recorded: int = 10_000) -> None:
        self.trace = trace  # strace-style lines go here when tracing
        self.calls: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.files_read: set[str] = set()
        self.files_written: set[str] = set()
        self.denied: list[str] = []
        self.listeners: list[Callable[[str, dict[str, object]], None]] = []
        self.max_recorded = max_recorded

    def line(self, text: str) -> None:
        if self.trace is not None:
            self.trace.write(text + "\n")

    def emit(self, kind: str, **data: object) -> None:
        for listener in self.listeners:
            listener(kind, data)

    def note_path(self, path: str, write: bool) -> None:
        target = self.files_written if write else self.files_read
        if len(target) < self.max_recorded:
            target.add(path)

    def deny(self, what: str) -> None:
        if len(self.denied) < self.max_recorded:
            self.denied.append(what)
        self.emit("denied", what=what)
