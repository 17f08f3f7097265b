"""stdlib.h and time.h: the heap, number conversions, qsort/bsearch, the environment, time."""

from __future__ import annotations

import functools
import struct
import time as _time
from typing import Any

from ..decl import DOUBLE, INT, LONG64, PTR, SIZE, STR, UINT, VOID, WSTR, alias, winapi
from .state import crt, set_errno

ERANGE = 34


@winapi("msvcrt", args=(SIZE,), ret=PTR)
def malloc(proc: Any, size: int) -> int:
    """A block from the process heap (msvcrt shares it); NULL and ENOMEM when it is exhausted."""
    try:
        return int(proc.process_heap.alloc(size))
    except Exception:  # noqa: BLE001 - OutOfMemory, or a request larger than memory
        set_errno(proc, 12)
        return 0


@winapi("msvcrt", args=(SIZE, SIZE), ret=PTR)
def calloc(proc: Any, count: int, size: int) -> int:
    try:
        return int(proc.process_heap.alloc(count * size, zero=True))
    except Exception:  # noqa: BLE001
        set_errno(proc, 12)
        return 0


@winapi("msvcrt", args=(PTR, SIZE), ret=PTR)
def realloc(proc: Any, addr: int, size: int) -> int:
    if addr == 0:
        return malloc(proc, size)
    if size == 0:
        proc.process_heap.free(addr)
        return 0
    return int(proc.process_heap.realloc(addr, size))


@winapi("msvcrt", args=(PTR,), ret=VOID)
def free(proc: Any, addr: int) -> None:
    if addr:
        proc.process_heap.free(addr)


@winapi("msvcrt", args=(PTR,), ret=SIZE)
def _msize(proc: Any, addr: int) -> int:
    size = proc.process_heap.size(addr)
    return -1 if size is None else int(size)


@winapi("msvcrt", args=(SIZE, SIZE), ret=PTR)
def _aligned_malloc(proc: Any, size: int, align: int) -> int:
    return malloc(proc, size) if align <= 16 else 0


alias("msvcrt", "_aligned_free", "free")


def _parse_int(raw: bytes, base: int) -> tuple[int, int]:
    """(value, bytes consumed) the way strtol reads; consumed is 0 when nothing parsed."""
    i = 0
    n = len(raw)
    while i < n and raw[i] in b" \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and raw[i] in b"+-":
        neg = raw[i] == 0x2D
        i += 1
    if (
        base in (0, 16)
        and raw[i : i + 2].lower() == b"0x"
        and i + 2 < n
        and chr(raw[i + 2]) in "0123456789abcdefABCDEF"
    ):
        i += 2
        base = 16
    elif base == 0:
        base = 8 if raw[i : i + 1] == b"0" else 10
    start = i
    value = 0
    while i < n:
        ch = chr(raw[i]).lower()
        d = int(ch, 36) if ch.isalnum() else 99
        if d >= base:
            break
        value = value * base + d
        i += 1
    if i == start:
        return 0, 0
    return (-value if neg else value), i


def _clamp(proc: Any, value: int, lo: int, hi: int) -> int:
    if value < lo or value > hi:
        set_errno(proc, ERANGE)
        return lo if value < lo else hi
    return value


@winapi("msvcrt", args=(STR,), ret=INT)
def atoi(proc: Any, s: int) -> int:
    value, _used = _parse_int(proc.read_bytes0(s), 10)
    return _clamp(proc, value, -(1 << 31), (1 << 31) - 1)


alias("msvcrt", "atol", "atoi")


@winapi("msvcrt", args=(STR,), ret=LONG64)
def _atoi64(proc: Any, s: int) -> int:
    value, _used = _parse_int(proc.read_bytes0(s), 10)
    return _clamp(proc, value, -(1 << 63), (1 << 63) - 1) & 0xFFFFFFFFFFFFFFFF


alias("msvcrt", "atoll", "_atoi64")


@winapi("msvcrt", args=(STR, PTR, INT), ret=INT)
def strtol(proc: Any, s: int, end: int, base: int) -> int:
    value, used = _parse_int(proc.read_bytes0(s), base)
    if end:
        proc.write_ptr(end, s + used)
    return _clamp(proc, value, -(1 << 31), (1 << 31) - 1)


@winapi("msvcrt", args=(STR, PTR, INT), ret=UINT)
def strtoul(proc: Any, s: int, end: int, base: int) -> int:
    value, used = _parse_int(proc.read_bytes0(s), base)
    if end:
        proc.write_ptr(end, s + used)
    if value < 0 and -value <= 0xFFFFFFFF:
        return value & 0xFFFFFFFF  # strtoul negates in unsigned arithmetic
    return _clamp(proc, value, 0, 0xFFFFFFFF)


@winapi("msvcrt", args=(STR, PTR, INT), ret=LONG64)
def _strtoi64(proc: Any, s: int, end: int, base: int) -> int:
    value, used = _parse_int(proc.read_bytes0(s), base)
    if end:
        proc.write_ptr(end, s + used)
    return _clamp(proc, value, -(1 << 63), (1 << 63) - 1) & 0xFFFFFFFFFFFFFFFF


alias("msvcrt", "strtoll", "_strtoi64")


@winapi("msvcrt", args=(STR, PTR, INT), ret=LONG64)
def _strtoui64(proc: Any, s: int, end: int, base: int) -> int:
    value, used = _parse_int(proc.read_bytes0(s), base)
    if end:
        proc.write_ptr(end, s + used)
    return value & 0xFFFFFFFFFFFFFFFF


alias("msvcrt", "strtoull", "_strtoui64")


def _parse_float(raw: bytes) -> tuple[float, int]:
    import re

    m = re.match(
        rb"\s*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))", raw, re.I
    )
    if not m:
        return 0.0, 0
    return float(m.group(1)), m.end()


@winapi("msvcrt", args=(STR, PTR), ret=DOUBLE)
def strtod(proc: Any, s: int, end: int) -> float:
    value, used = _parse_float(proc.read_bytes0(s))
    if end:
        proc.write_ptr(end, s + used)
    return value


@winapi("msvcrt", args=(STR,), ret=DOUBLE)
def atof(proc: Any, s: int) -> float:
    return _parse_float(proc.read_bytes0(s))[0]


def _itoa_common(proc: Any, value: int, buf: int, radix: int, bits: int, signed: bool) -> int:
    value &= (1 << bits) - 1
    neg = signed and radix == 10 and value & (1 << (bits - 1))
    if neg:
        value = (1 << bits) - value
    digits = ""
    while True:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[value % radix] + digits
        value //= radix
        if not value:
            break
    proc.write(buf, (("-" if neg else "") + digits).encode() + b"\0")
    return buf


@winapi("msvcrt", args=(INT, PTR, INT), ret=PTR)
def _itoa(proc: Any, value: int, buf: int, radix: int) -> int:
    return _itoa_common(proc, value, buf, radix, 32, True)


alias("msvcrt", "_ltoa", "_itoa")
alias("msvcrt", "itoa", "_itoa")


@winapi("msvcrt", args=(UINT, PTR, INT), ret=PTR)
def _ultoa(proc: Any, value: int, buf: int, radix: int) -> int:
    return _itoa_common(proc, value, buf, radix, 32, False)


@winapi("msvcrt", args=(LONG64, PTR, INT), ret=PTR)
def _i64toa(proc: Any, value: int, buf: int, radix: int) -> int:
    return _itoa_common(proc, value, buf, radix, 64, True)


@winapi("msvcrt", args=(INT,), ret=INT)
def abs(proc: Any, v: int) -> int:  # noqa: A001 - the export's name
    return -v if v < 0 and v != -(1 << 31) else v


alias("msvcrt", "labs", "abs")


@winapi("msvcrt", args=(PTR, SIZE, SIZE, PTR), ret=VOID)
def qsort(proc: Any, base: int, count: int, size: int, compare: int) -> None:
    """Sort with the guest's comparator: elements are compared where they lie, then moved once."""
    if count < 2 or size == 0:
        return
    raw = proc.read(base, count * size)

    def cmp(i: int, j: int) -> int:
        r = proc.call(compare, base + i * size, base + j * size) & 0xFFFFFFFF
        return r - (1 << 32) if r & 0x80000000 else r

    order = sorted(range(count), key=functools.cmp_to_key(cmp))
    proc.write(base, b"".join(raw[i * size : (i + 1) * size] for i in order))


@winapi("msvcrt", args=(PTR, PTR, SIZE, SIZE, PTR), ret=PTR)
def bsearch(proc: Any, key: int, base: int, count: int, size: int, compare: int) -> int:
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        r = proc.call(compare, key, base + mid * size) & 0xFFFFFFFF
        r = r - (1 << 32) if r & 0x80000000 else r
        if r == 0:
            return base + mid * size
        if r < 0:
            hi = mid
        else:
            lo = mid + 1
    return 0


def _env_lookup(proc: Any, name: str) -> str | None:
    for key, value in proc.env.items():
        if key.upper() == name.upper():
            return str(value)
    return None


@winapi("msvcrt", args=(STR,), ret=PTR)
def getenv(proc: Any, name: int) -> int:
    """A variable's value in a buffer that stays valid (NULL when unset)."""
    value = _env_lookup(proc, proc.read_str(name))
    if value is None:
        return 0
    c = crt(proc)
    key = "env:" + value
    addr = c.scratch.get(key)
    if addr is None:
        raw = value.encode("cp1252", "replace") + b"\0"
        addr = proc.process_heap.alloc(len(raw))
        proc.write(addr, raw)
        c.scratch[key] = addr
    return int(addr)


@winapi("msvcrt", args=(WSTR,), ret=PTR)
def _wgetenv(proc: Any, name: int) -> int:
    value = _env_lookup(proc, proc.read_wstr(name))
    if value is None:
        return 0
    c = crt(proc)
    key = "wenv:" + value
    addr = c.scratch.get(key)
    if addr is None:
        raw = value.encode("utf-16-le", "surrogatepass") + b"\0\0"
        addr = proc.process_heap.alloc(len(raw))
        proc.write(addr, raw)
        c.scratch[key] = addr
    return int(addr)


@winapi("msvcrt", args=(STR,), ret=INT)
def _putenv(proc: Any, assignment: int) -> int:
    text = proc.read_str(assignment)
    if "=" not in text:
        return -1
    name, value = text.split("=", 1)
    existing = next((k for k in proc.env if k.upper() == name.upper()), name)
    if value:
        proc.env[existing] = value
    else:
        proc.env.pop(existing, None)
    return 0


alias("msvcrt", "putenv", "_putenv")


@winapi("msvcrt", ret=INT)
def rand(proc: Any) -> int:
    """msvcrt's linear congruential generator (the same sequence as on Windows)."""
    c = crt(proc)
    c.rand_state = (c.rand_state * 214013 + 2531011) & 0xFFFFFFFF
    return (c.rand_state >> 16) & 0x7FFF


@winapi("msvcrt", args=(UINT,), ret=VOID)
def srand(proc: Any, seed: int) -> None:
    crt(proc).rand_state = seed


def _now(proc: Any) -> int:
    return int(proc.clock.realtime_ns() // 1_000_000_000)


@winapi("msvcrt", args=(PTR,), ret=INT)
def _time32(proc: Any, out: int) -> int:
    now = _now(proc)
    if out:
        proc.write_u32(out, now)
    return now


@winapi("msvcrt", args=(PTR,), ret=LONG64)
def _time64(proc: Any, out: int) -> int:
    now = _now(proc)
    if out:
        proc.write(out, struct.pack("<q", now))
    return now


@winapi("msvcrt", args=(PTR,), ret=PTR)
def time(proc: Any, out: int) -> int:
    """msvcrt's time() is 64-bit on x64 and 32-bit on x86."""
    now = _now(proc)
    if out:
        proc.write(out, struct.pack("<q" if proc.is64 else "<i", now))
    return now


@winapi("msvcrt", ret=INT)
def clock(proc: Any) -> int:
    """Milliseconds since the process started (CLOCKS_PER_SEC is 1000)."""
    return int((_time.monotonic_ns() - proc.start_ns) // 1_000_000)


def _tm(proc: Any, t: int, local: bool) -> int:
    st = _time.gmtime(t)
    c = crt(proc)
    addr = c.scratch.get("tm")
    if addr is None:
        addr = proc.process_heap.alloc(36, zero=True)
        c.scratch["tm"] = addr
    proc.write(addr, struct.pack("<9i", st.tm_sec, st.tm_min, st.tm_hour, st.tm_mday,
                                 st.tm_mon - 1, st.tm_year - 1900, (st.tm_wday + 1) % 7,
                                 st.tm_yday - 1, 0))  # fmt: skip
    return int(addr)


def _read_time(proc: Any, ptr: int, wide: bool) -> int:
    raw = proc.read(ptr, 8 if wide else 4)
    return int(struct.unpack("<q" if wide else "<i", raw)[0])


@winapi("msvcrt", args=(PTR,), ret=PTR)
def localtime(proc: Any, ptr: int) -> int:
    """The sandbox's time zone is UTC."""
    return _tm(proc, _read_time(proc, ptr, proc.is64), True)


@winapi("msvcrt", args=(PTR,), ret=PTR)
def gmtime(proc: Any, ptr: int) -> int:
    return _tm(proc, _read_time(proc, ptr, proc.is64), False)


@winapi("msvcrt", args=(PTR,), ret=PTR)
def _localtime64(proc: Any, ptr: int) -> int:
    return _tm(proc, _read_time(proc, ptr, True), True)


alias("msvcrt", "_gmtime64", "_localtime64")


@winapi("msvcrt", args=(PTR,), ret=PTR)
def _localtime32(proc: Any, ptr: int) -> int:
    return _tm(proc, _read_time(proc, ptr, False), True)


alias("msvcrt", "_gmtime32", "_localtime32")


@winapi("msvcrt", args=(STR,), ret=INT)
def system(proc: Any, command: int) -> int:
    """No command interpreter inside the sandbox: -1 with ENOENT (system(NULL) says so with 0)."""
    if command == 0:
        return 0
    set_errno(proc, 2)
    return -1


@winapi("msvcrt", ret=INT)
def _getpid(proc: Any) -> int:
    return int(proc.pid)
