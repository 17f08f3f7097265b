"""The msvcrt printf engine: format strings and ``va_list`` arguments to bytes, as msvcrt does.

msvcrt differs from C99 in ways programs see: ``%e`` has three exponent digits (``1.0e+000``),
infinities and NaNs print as ``1.#INF``/``1.#QNAN``, ``%p`` is zero-padded upper-case hex of the
pointer width, ``%I64d``/``%I32d``/``%Id`` select widths, ``%S``/``%C`` in narrow functions take
wide arguments (and the reverse in wide ones), and ``%n`` is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .api.decl import VarArgs

_FLAGS = b"-+ #0"


def format_bytes(fmt: bytes, va: VarArgs, read_str: Callable[[int], bytes],
                 read_wstr: Callable[[int], str], wide: bool = False) -> bytes:  # fmt: skip
    """Format like msvcrt's ``printf`` (narrow) or ``wprintf`` (``wide``: fmt is UTF-16-decoded
    text encoded as latin-1-safe UTF-8 bytes by the caller; strings come back the same way)."""
    out = bytearray()
    i = 0
    n = len(fmt)
    word = va.word
    while i < n:
        pct = fmt.find(b"%", i)
        if pct < 0:
            out += fmt[i:]
            break
        out += fmt[i:pct]
        i = pct + 1
        if i >= n:
            break
        if fmt[i] == 0x25:
            out += b"%"
            i += 1
            continue
        flags = bytearray()
        while i < n and fmt[i] in _FLAGS:
            flags.append(fmt[i])
            i += 1
        width: int | None = None
        if i < n and fmt[i] == 0x2A:  # '*'
            width = _signed32(va.int())
            if width < 0:
                flags.append(0x2D)
                width = -width
            i += 1
        else:
            start = i
            while i < n and 0x30 <= fmt[i] <= 0x39:
                i += 1
            if i > start:
                width = int(fmt[start:i])
        precision: int | None = None
        if i < n and fmt[i] == 0x2E:
            i += 1
            if i < n and fmt[i] == 0x2A:
                precision = _signed32(va.int())
                if precision < 0:
                    precision = None
                i += 1
            else:
                start = i
                while i < n and 0x30 <= fmt[i] <= 0x39:
                    i += 1
                precision = int(fmt[start:i] or b"0")
        size = ""
        while i < n:
            c = fmt[i : i + 1]
            if fmt.startswith(b"I64", i):
                size, i = "64", i + 3
            elif fmt.startswith(b"I32", i):
                size, i = "32", i + 3
            elif c == b"I":
                size, i = "ptr", i + 1
            elif fmt.startswith(b"ll", i):
                size, i = "64", i + 2
            elif c in (b"l", b"w"):
                size, i = "l" if c == b"l" else "w", i + 1
            elif c == b"h":
                size, i = "h", i + 1
            elif c in (b"z", b"t"):
                size, i = "ptr", i + 1
            elif c == b"j":
                size, i = "64", i + 1
            elif c == b"L":
                size, i = "L", i + 1
            else:
                break
        if i >= n:
            break
        conv = chr(fmt[i])
        i += 1
        body = _convert(conv, flags, precision, size, va, word, read_str, read_wstr, wide)
        if body is None:
            continue
        out += _pad(body, flags, width, conv)
    return bytes(out)


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _int_arg(size: str, va: VarArgs, word: int, signed: bool) -> int:
    if size == "64" or (size == "ptr" and word == 8):
        v = va.int64() if word == 4 else va.int()
        bits = 64
    else:
        v = va.int()
        bits = 32
        if size == "h":
            bits = 16
    v &= (1 << bits) - 1
    if signed and v & (1 << (bits - 1)):
        v -= 1 << bits
    return v


def _convert(conv: str, flags: bytearray, precision: int | None, size: str, va: VarArgs,
             word: int, read_str: Callable[[int], bytes], read_wstr: Callable[[int], str],
             wide: bool) -> bytes | None:  # fmt: skip
    if conv in "di":
        v = _int_arg(size, va, word, True)
        return _integer(abs(v), v < 0, flags, precision, 10, False)
    if conv in "uoxX":
        v = _int_arg(size, va, word, False)
        base = {"u": 10, "o": 8, "x": 16, "X": 16}[conv]
        body = _integer(v, False, flags, precision, base, conv == "X")
        if 0x23 in flags and v:
            body = (
                b"0x" if conv == "x" else b"0X" if conv == "X" else b"0" if conv == "o" else b""
            ) + body
        return body
    if conv == "p":
        v = va.int()
        return f"{v:0{2 * word}X}".encode()
    if conv in "cC":
        v = va.int() & 0xFFFF
        wide_char = (conv == "C") != wide if size not in ("l", "w", "h") else size in ("l", "w")
        if wide_char:
            return (
                chr(v).encode("cp1252", "replace")
                if not wide
                else chr(v).encode("utf-8", "surrogatepass")
            )
        return (
            bytes([v & 0xFF])
            if not wide
            else bytes([v & 0xFF]).decode("cp1252", "replace").encode()
        )
    if conv in "sS":
        ptr = va.int()
        wide_str = (conv == "S") != wide if size not in ("l", "w", "h") else size in ("l", "w")
        if ptr == 0:
            text = b"(null)"
        elif wide_str:
            s = read_wstr(ptr)
            if precision is not None:
                s = s[:precision]
            text = s.encode("utf-8", "surrogatepass") if wide else s.encode("cp1252", "replace")
            return text
        else:
            raw = read_str(ptr)
            if precision is not None:
                raw = raw[:precision]
            text = (
                raw
                if not wide
                else raw.decode("cp1252", "surrogateescape").encode("utf-8", "surrogateescape")
            )
            return text
        return text if precision is None else text[:precision]
    if conv in "eEfFgGaA":
        return _float(va.double(), conv, flags, precision)
    if conv == "n":
        va.int()
        return b""
    return conv.encode()


def _integer(v: int, negative: bool, flags: bytearray, precision: int | None, base: int,
             upper: bool) -> bytes:  # fmt: skip
    if base == 10:
        digits = str(v)
    elif base == 8:
        digits = format(v, "o")
    else:
        digits = format(v, "X" if upper else "x")
    if precision is not None:
        digits = "" if precision == 0 and v == 0 else digits.rjust(precision, "0")
    sign = "-" if negative else "+" if 0x2B in flags else " " if 0x20 in flags else ""
    return (sign + digits).encode()


def _float(v: float, conv: str, flags: bytearray, precision: int | None) -> bytes:
    prec = 6 if precision is None else precision
    sign = (
        "-" if math.copysign(1, v) < 0 else "+" if 0x2B in flags else " " if 0x20 in flags else ""
    )
    a = abs(v)
    if math.isinf(a) or math.isnan(a):
        special = (
            "1.#INF" if math.isinf(a) else "1.#QNAN" if not math.copysign(1, v) < 0 else "1.#IND"
        )
        if conv in "eEgG" or conv in "fF":
            body = special + ("0" * max(prec - (len(special) - 2), 0) if prec > 3 else "")
            body = _msvc_special(special, prec)
        return (sign + body).encode()
    alt = 0x23 in flags
    if conv in "fF":
        body = f"{a:.{prec}f}"
        if alt and prec == 0:
            body += "."
    elif conv in "eE":
        body = _exp(a, prec, conv == "E", alt)
    elif conv in "gG":
        p = prec or 1
        if a == 0:
            exp = 0
        else:
            exp = int(f"{a:.{p - 1}e}".split("e")[1])
        if exp < -4 or exp >= p:
            body = _exp(a, p - 1, conv == "G", alt)
            if not alt:
                mant, e = body.split("E" if conv == "G" else "e")
                if "." in mant:
                    mant = mant.rstrip("0").rstrip(".")
                body = mant + ("E" if conv == "G" else "e") + e
        else:
            body = f"{a:.{max(p - 1 - exp, 0)}f}"
            if not alt and "." in body:
                body = body.rstrip("0").rstrip(".")
    else:  # %a
        body = a.hex()
        if conv == "A":
            body = body.upper()
    return (sign + body).encode()


def _msvc_special(special: str, prec: int) -> str:
    # msvcrt prints "1.#INF00" for %f (precision 6): the digits after "1." are "#INF" padded.
    tail = special[2:]
    if prec <= len(tail):
        return "1." + tail[:prec] if prec else "1"
    return "1." + tail + "0" * (prec - len(tail))


def _exp(a: float, prec: int, upper: bool, alt: bool) -> str:
    text = f"{a:.{prec}e}"
    mant, exp = text.split("e")
    if alt and prec == 0:
        mant += "."
    sign = exp[0]
    digits = exp[1:].lstrip("0").rjust(3, "0")
    return f"{mant}{'E' if upper else 'e'}{sign}{digits}"


def _pad(body: bytes, flags: bytearray, width: int | None, conv: str) -> bytes:
    if width is None or len(body) >= width:
        return body
    fill = width - len(body)
    if 0x2D in flags:
        return body + b" " * fill
    if 0x30 in flags and conv not in "csSCp":
        sign = body[:1] if body[:1] in (b"-", b"+", b" ") else b""
        rest = body[len(sign) :]
        prefix = rest[:2] if rest[:2] in (b"0x", b"0X") else b""
        return sign + prefix + b"0" * fill + rest[len(prefix) :]
    return b" " * fill + body


def from_va_list(proc: Any, addr: int) -> VarArgs:
    """A reader over a ``va_list`` (a pointer to the first argument slot on x86 and x64)."""
    return VarArgs(proc.read, addr, proc.word)
