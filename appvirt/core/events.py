"""The event stream of a run: counters for the report, trace lines, and embedding callbacks.

Handlers report what happened here and never print; the CLI decides where trace lines go. Counters
are bounded (one integer per call name), so a long run never grows memory by recording calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO


@dataclass(slots=True)
class Events:
    trace: IO[str] | None = None  # strace-style lines go here when tracing
    calls: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    files_read: set[str] = field(default_factory=set)
    files_written: set[str] = field(default_factory=set)
    denied: list[str] = field(default_factory=list)
    listeners: list[Callable[[str, dict[str, object]], None]] = field(default_factory=list)
    max_recorded: int = 10_000

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
