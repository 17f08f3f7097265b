"""Parsing sizes, durations and ``--limit KEY=VALUE,...`` lists, shared by the CLI and profiles."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from .errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?\s*$")
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Exit codes when a limit stops the run (documented in README and docs/profiles.md).
LIMIT_EXIT_CODES = {"time": 152, "instructions": 152, "output": 153, "memory": 137}


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"bad size {text!r}: use a number with K, M or G")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_duration(text: str | int | float) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    m = _TIME.match(text)
    if not m:
        raise UsageError(f"bad duration {text!r}: use a number with ms, s, m or h")
    return float(m.group(1)) * _SECONDS[m.group(2)]


@dataclass(slots=True)
class Limits:
    memory: int | None = None  # bytes of guest address space
    instructions: int | None = None
    time: float | None = None  # seconds of wall time
    processes: int | None = None
    files: int | None = None  # open files per process
    disk: int | None = None  # bytes written into the sandbox
    output: int | None = None  # bytes written to stdout + stderr

    def merged(self, other: Limits) -> Limits:
        out = Limits()
        for f in fields(Limits):
            value = getattr(other, f.name)
            setattr(out, f.name, value if value is not None else getattr(self, f.name))
        return out


def parse_limit_item(limits: Limits, key: str, value: str | int | float) -> None:
    key = key.strip()
    if key in ("memory", "disk", "output"):
        setattr(limits, key, parse_size(value))  # type: ignore[arg-type]
    elif key == "time":
        limits.time = parse_duration(value)
    elif key in ("instructions", "processes", "files"):
        try:
            setattr(limits, key, int(parse_size(value)))  # type: ignore[arg-type]
        except UsageError:
            raise UsageError(f"bad value for limit {key}: {value!r}") from None
    else:
        known = "memory, instructions, time, processes, files, disk, output"
        raise UsageError(f"unknown limit {key!r} (known: {known})")


def parse_limits(text: str, into: Limits | None = None) -> Limits:
    limits = into or Limits()
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise UsageError(f"bad limit {item!r}: use KEY=VALUE")
        key, value = item.split("=", 1)
        parse_limit_item(limits, key, value)
    return limits
