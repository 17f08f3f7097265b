"""Time: system time and FILETIME from the run's clock, tick counts, the performance counter
(Sleep is in threads.py). The sandbox's time zone is UTC."""

from __future__ import annotations

import datetime
import struct
from typing import Any

from ..decl import BOOL, LONG64, PTR, UINT, VOID, winapi

EPOCH_DIFF = 116444736000000000
PERF_FREQUENCY = 10_000_000


def now_filetime(proc: Any) -> int:
    return int(proc.clock.realtime_ns() // 100 + EPOCH_DIFF)


def _systemtime(ft: int) -> bytes:
    dt = datetime.datetime(1601, 1, 1) + datetime.timedelta(microseconds=ft // 10)
    return struct.pack("<8H", dt.year, dt.month, (dt.weekday() + 1) % 7, dt.day, dt.hour, dt.minute,
                       dt.second, dt.microsecond // 1000)  # fmt: skip


@winapi("kernel32", args=(PTR,), ret=VOID)
def GetSystemTimeAsFileTime(proc: Any, out: int) -> None:
    """Now, in 100 ns units since 1601 (UTC)."""
    proc.write(out, struct.pack("<Q", now_filetime(proc)))


from ..decl import alias as _alias  # noqa: E402

_alias("kernel32", "GetSystemTimePreciseAsFileTime", "GetSystemTimeAsFileTime")


@winapi("kernel32", args=(PTR,), ret=VOID)
def GetSystemTime(proc: Any, out: int) -> None:
    proc.write(out, _systemtime(now_filetime(proc)))


_alias("kernel32", "GetLocalTime", "GetSystemTime")


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def FileTimeToSystemTime(proc: Any, ft: int, out: int) -> int:
    (value,) = struct.unpack("<Q", proc.read(ft, 8))
    proc.write(out, _systemtime(value))
    return 1


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def SystemTimeToFileTime(proc: Any, st: int, out: int) -> int:
    y, mo, _dow, d, h, mi, s, ms = struct.unpack("<8H", proc.read(st, 16))
    try:
        dt = datetime.datetime(y, mo, d, h, mi, s, ms * 1000)
    except ValueError:
        proc.set_last_error(87)
        return 0
    delta = dt - datetime.datetime(1601, 1, 1)
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    proc.write(out, struct.pack("<Q", ticks))
    return 1


@winapi("kernel32", args=(PTR, PTR), ret=BOOL)
def FileTimeToLocalFileTime(proc: Any, ft: int, out: int) -> int:
    proc.write(out, proc.read(ft, 8))
    return 1


_alias("kernel32", "LocalFileTimeToFileTime", "FileTimeToLocalFileTime")


@winapi("kernel32", args=(PTR,), ret=UINT)
def GetTimeZoneInformation(proc: Any, out: int) -> int:
    """UTC, no daylight saving time (TIME_ZONE_ID_UNKNOWN)."""
    name = "Coordinated Universal Time".encode("utf-16-le").ljust(64, b"\0")
    proc.write(
        out,
        struct.pack("<i", 0)
        + name
        + bytes(16)
        + struct.pack("<i", 0)
        + name
        + bytes(16)
        + struct.pack("<i", 0),
    )
    return 0


def _ms(proc: Any) -> int:
    return int(proc.clock.monotonic_ns() // 1_000_000)


@winapi("kernel32", ret=UINT)
def GetTickCount(proc: Any) -> int:
    """Milliseconds of the run's monotonic clock (wraps at 2^32)."""
    return _ms(proc) & 0xFFFFFFFF


@winapi("kernel32", ret=LONG64)
def GetTickCount64(proc: Any) -> int:
    return _ms(proc)


@winapi("kernel32", args=(PTR,), ret=BOOL)
def QueryPerformanceCounter(proc: Any, out: int) -> int:
    """A 10 MHz counter on the run's monotonic clock."""
    proc.write(out, struct.pack("<q", proc.clock.monotonic_ns() // 100))
    return 1


@winapi("kernel32", args=(PTR,), ret=BOOL)
def QueryPerformanceFrequency(proc: Any, out: int) -> int:
    proc.write(out, struct.pack("<q", PERF_FREQUENCY))
    return 1


@winapi("kernel32", args=(PTR, PTR, PTR, PTR, PTR), ret=BOOL)
def GetProcessTimes(
    proc: Any, handle: int, created: int, exited: int, kernel: int, user: int
) -> int:
    proc.write(created, struct.pack("<Q", now_filetime(proc)))
    for ptr in (exited, kernel, user):
        proc.write(ptr, bytes(8))
    return 1
