"""Code pages and locale: MultiByteToWideChar, WideCharToMultiByte, LCMapString, CompareString,
GetStringType, GetLocaleInfo. The ANSI code page is 1252 and the OEM one 437 (en-US Windows);
the user locale is en-US (0x409) and comparisons are case-folding ordinal ones."""

from __future__ import annotations

import struct
from typing import Any

from ..decl import BOOL, INT, PTR, STR, UINT, WSTR, winapi

CP_ACP, CP_OEMCP, CP_THREAD_ACP, CP_UTF8, CP_UTF7 = 0, 1, 3, 65001, 65000
ANSI_CP, OEM_CP = 1252, 437
LOCALE = 0x409
ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, ERROR_NO_UNICODE_TRANSLATION = 122, 87, 1113
MB_ERR_INVALID_CHARS = 8


def codec(cp: int) -> str | None:
    if cp in (CP_ACP, CP_THREAD_ACP, ANSI_CP):
        return "cp1252"
    if cp in (CP_OEMCP, OEM_CP):
        return "cp437"
    if cp == CP_UTF8:
        return "utf-8"
    if cp == CP_UTF7:
        return "utf-7"
    try:
        import codecs

        return codecs.lookup(f"cp{cp}").name
    except LookupError:
        return None


@winapi("kernel32", ret=UINT)
def GetACP(proc: Any) -> int:
    """The ANSI code page: 1252."""
    return ANSI_CP


@winapi("kernel32", ret=UINT)
def GetOEMCP(proc: Any) -> int:
    return OEM_CP


@winapi("kernel32", args=(UINT,), ret=BOOL)
def IsValidCodePage(proc: Any, cp: int) -> int:
    return int(codec(cp) is not None)


@winapi("kernel32", args=(UINT, PTR), ret=BOOL)
def GetCPInfo(proc: Any, cp: int, out: int) -> int:
    """CPINFO: single-byte code pages (UTF-8 reports a maximum of 4 bytes)."""
    if codec(cp) is None:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    proc.write(out, struct.pack("<I2s12s", 4 if cp == CP_UTF8 else 1, b"?\0", bytes(12)))
    return 1


@winapi("kernel32", args=(UINT, UINT, PTR), ret=BOOL)
def GetCPInfoExW(proc: Any, cp: int, flags: int, out: int) -> int:
    if not GetCPInfo(proc, cp, out):
        return 0
    proc.write(out + 18, struct.pack("<HI", 0x3F, cp or ANSI_CP) + bytes(520))
    return 1


@winapi("kernel32", args=(UINT, UINT), ret=BOOL)
def IsDBCSLeadByteEx(proc: Any, cp: int, byte: int) -> int:
    """No lead bytes: the code pages served here are single-byte (or UTF-8)."""
    return 0


@winapi("kernel32", args=(UINT,), ret=BOOL)
def IsDBCSLeadByte(proc: Any, byte: int) -> int:
    return 0


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR, INT), ret=INT)
def MultiByteToWideChar(
    proc: Any, cp: int, flags: int, src: int, srclen: int, dst: int, dstlen: int
) -> int:
    """Decode bytes to UTF-16; a length of -1 includes the terminating NUL."""
    name = codec(cp)
    if name is None or not src or dstlen < 0:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    raw = proc.read_bytes0(src) + b"\0" if srclen == -1 else proc.read(src, srclen)
    try:
        text = raw.decode(name, "strict" if flags & MB_ERR_INVALID_CHARS else "replace")
    except UnicodeDecodeError:
        proc.set_last_error(ERROR_NO_UNICODE_TRANSLATION)
        return 0
    out = text.encode("utf-16-le", "surrogatepass")
    units = len(out) // 2
    if dstlen == 0:
        return units
    if units > dstlen:
        proc.write(dst, out[: 2 * dstlen])
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(dst, out)
    return units


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR, INT, PTR, PTR), ret=INT)
def WideCharToMultiByte(proc: Any, cp: int, flags: int, src: int, srclen: int, dst: int, dstlen: int,
                        default: int, used: int) -> int:  # fmt: skip
    """Encode UTF-16 to bytes, replacing what the code page lacks with "?"."""
    name = codec(cp)
    if name is None or not src or dstlen < 0:
        proc.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    text = proc.read_wstr(src) + "\0" if srclen == -1 else proc.read_wstr_n(src, srclen)
    lost = False
    try:
        out = text.encode(name, "surrogatepass" if name == "utf-8" else "strict")
    except UnicodeEncodeError:
        lost = True
        fill = proc.read(default, 1) if default else b"?"
        out = b"".join(ch.encode(name, "ignore") or fill for ch in text)
    if used:
        proc.write_u32(used, int(lost))
    if dstlen == 0:
        return len(out)
    if len(out) > dstlen:
        proc.write(dst, out[:dstlen])
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(dst, out)
    return len(out)


LCMAP_LOWERCASE, LCMAP_UPPERCASE, LCMAP_SORTKEY = 0x100, 0x200, 0x400


def _lcmap(text: str, flags: int) -> str:
    if flags & LCMAP_LOWERCASE:
        return text.lower()
    if flags & LCMAP_UPPERCASE:
        return text.upper()
    return text


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR, INT), ret=INT)
def LCMapStringW(
    proc: Any, lcid: int, flags: int, src: int, srclen: int, dst: int, dstlen: int
) -> int:
    """Case mapping (LCMAP_LOWERCASE/UPPERCASE); a sort key is the upper-cased UTF-16."""
    text = proc.read_wstr(src) + "\0" if srclen == -1 else proc.read_wstr_n(src, srclen)
    if flags & LCMAP_SORTKEY:
        out = text.upper().encode("utf-16-be") + b"\x01\x01\x01\x01\0"
        if dstlen == 0:
            return len(out)
        if len(out) > dstlen:
            proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        proc.write(dst, out)
        return len(out)
    mapped = _lcmap(text, flags)
    if dstlen == 0:
        return len(mapped)
    if len(mapped) > dstlen:
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(dst, mapped.encode("utf-16-le", "surrogatepass"))
    return len(mapped)


@winapi("kernel32", args=(WSTR, UINT, PTR, INT, PTR, INT, PTR, PTR, PTR), ret=INT)
def LCMapStringEx(proc: Any, name: int, flags: int, src: int, srclen: int, dst: int, dstlen: int,
                  info: int, reserved: int, param: int) -> int:  # fmt: skip
    return LCMapStringW(proc, LOCALE, flags, src, srclen, dst, dstlen)


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR, INT), ret=INT)
def LCMapStringA(
    proc: Any, lcid: int, flags: int, src: int, srclen: int, dst: int, dstlen: int
) -> int:
    raw = proc.read_bytes0(src) + b"\0" if srclen == -1 else proc.read(src, srclen)
    out = _lcmap(raw.decode("cp1252", "replace"), flags).encode("cp1252", "replace")
    if dstlen == 0:
        return len(out)
    if len(out) > dstlen:
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(dst, out)
    return len(out)


def _string_type(ch: str) -> int:
    c = ord(ch)
    bits = 0
    if ch.isupper():
        bits |= 0x001
    if ch.islower():
        bits |= 0x002
    if ch.isdigit():
        bits |= 0x004
    if ch.isspace():
        bits |= 0x008
    if (0x21 <= c <= 0x7E and not ch.isalnum()) or (
        c >= 0xA0 and not ch.isalnum() and not ch.isspace()
    ):
        bits |= 0x010
    if c < 0x20 or c == 0x7F:
        bits |= 0x020
    if ch in " \t":
        bits |= 0x040
    if ch in "0123456789abcdefABCDEF":
        bits |= 0x080
    if ch.isalpha():
        bits |= 0x100
    if c < 0x20 and not bits & 0x008 and False:
        bits |= 0
    return bits


@winapi("kernel32", args=(UINT, PTR, INT, PTR), ret=BOOL)
def GetStringTypeW(proc: Any, kind: int, src: int, count: int, out: int) -> int:
    """CT_CTYPE1 classification (C1_UPPER, C1_LOWER, ...) of each character."""
    text = proc.read_wstr(src) if count == -1 else proc.read_wstr_n(src, count)
    if kind != 1:
        proc.write(out, bytes(2 * len(text)))
        return 1
    proc.write(out, struct.pack(f"<{len(text)}H", *[_string_type(ch) for ch in text]))
    return 1


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR), ret=BOOL)
def GetStringTypeA(proc: Any, lcid: int, kind: int, src: int, count: int, out: int) -> int:
    raw = proc.read_bytes0(src) if count == -1 else proc.read(src, count)
    text = raw.decode("cp1252", "replace")
    proc.write(out, struct.pack(f"<{len(text)}H", *[_string_type(ch) for ch in text]))
    return 1


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR), ret=BOOL)
def GetStringTypeExW(proc: Any, lcid: int, kind: int, src: int, count: int, out: int) -> int:
    return GetStringTypeW(proc, kind, src, count, out)


NORM_IGNORECASE = 0x1


def _compare(a: str, b: str, flags: int) -> int:
    if flags & (NORM_IGNORECASE | 0x10000000):
        a, b = a.lower(), b.lower()
    return 1 if a < b else 3 if a > b else 2


@winapi("kernel32", args=(UINT, UINT, PTR, INT, PTR, INT), ret=INT)
def CompareStringW(proc: Any, lcid: int, flags: int, s1: int, n1: int, s2: int, n2: int) -> int:
    """CSTR_LESS_THAN (1), CSTR_EQUAL (2) or CSTR_GREATER_THAN (3)."""
    a = proc.read_wstr(s1) if n1 < 0 else proc.read_wstr_n(s1, n1)
    b = proc.read_wstr(s2) if n2 < 0 else proc.read_wstr_n(s2, n2)
    return _compare(a, b, flags)


@winapi("kernel32", args=(UINT, UINT, STR, INT, STR, INT), ret=INT)
def CompareStringA(proc: Any, lcid: int, flags: int, s1: int, n1: int, s2: int, n2: int) -> int:
    a = (proc.read_bytes0(s1) if n1 < 0 else proc.read(s1, n1)).decode("cp1252", "replace")
    b = (proc.read_bytes0(s2) if n2 < 0 else proc.read(s2, n2)).decode("cp1252", "replace")
    return _compare(a, b, flags)


@winapi("kernel32", args=(WSTR, UINT, PTR, INT, PTR, INT, PTR, PTR, PTR), ret=INT)
def CompareStringEx(proc: Any, name: int, flags: int, s1: int, n1: int, s2: int, n2: int, v: int,
                    r: int, p: int) -> int:  # fmt: skip
    return CompareStringW(proc, LOCALE, flags, s1, n1, s2, n2)


@winapi("kernel32", args=(PTR, INT, PTR, INT, BOOL), ret=INT)
def CompareStringOrdinal(proc: Any, s1: int, n1: int, s2: int, n2: int, ignore_case: int) -> int:
    a = proc.read_wstr(s1) if n1 < 0 else proc.read_wstr_n(s1, n1)
    b = proc.read_wstr(s2) if n2 < 0 else proc.read_wstr_n(s2, n2)
    return _compare(a, b, NORM_IGNORECASE if ignore_case else 0)


_LOCALE_INFO = {0x1: "0409", 0x2: "English (United States)", 0x3: "ENU", 0x5: "1", 0x7: "USA",
                0xB: "437", 0x1004: "1252", 0xE: ".", 0xF: ",", 0x14: "$", 0x1D: "/", 0x1E: ":",
                0x1F: "M/d/yyyy", 0x20: "dddd, MMMM d, yyyy", 0x59: "en", 0x5A: "US",
                0x5C: "en-US", 0x1001: "English", 0x1002: "United States", 0x6: "United States",
                0x1003: "USA", 0x1001_0000 & 0: "", 0x1009: "1"}  # fmt: skip


def _locale_info(proc: Any, lctype: int, buf: int, size: int, wide: bool) -> int:
    value = _LOCALE_INFO.get(lctype & 0xFFFF)
    if lctype & 0x20000000 and value is not None:  # LOCALE_RETURN_NUMBER
        if size:
            proc.write_u32(buf, int(value) if value.isdigit() else 0)
        return 2 if wide else 4
    if value is None:
        proc.set_last_error(1004)  # ERROR_INVALID_FLAGS
        return 0
    text = value + "\0"
    if size == 0:
        return len(text)
    if len(text) > size:
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(buf, text.encode("utf-16-le") if wide else text.encode())
    return len(text)


@winapi("kernel32", args=(UINT, UINT, PTR, INT), ret=INT)
def GetLocaleInfoW(proc: Any, lcid: int, lctype: int, buf: int, size: int) -> int:
    """en-US locale information."""
    return _locale_info(proc, lctype, buf, size, True)


@winapi("kernel32", args=(UINT, UINT, PTR, INT), ret=INT)
def GetLocaleInfoA(proc: Any, lcid: int, lctype: int, buf: int, size: int) -> int:
    return _locale_info(proc, lctype, buf, size, False)


@winapi("kernel32", args=(WSTR, UINT, PTR, INT), ret=INT)
def GetLocaleInfoEx(proc: Any, name: int, lctype: int, buf: int, size: int) -> int:
    return _locale_info(proc, lctype, buf, size, True)


def _lcid(proc: Any) -> int:
    return LOCALE


for _name in ("GetUserDefaultLCID", "GetSystemDefaultLCID", "GetThreadLocale", "GetUserDefaultLangID",
              "GetSystemDefaultLangID", "GetUserDefaultUILanguage", "GetSystemDefaultUILanguage"):  # fmt: skip
    winapi("kernel32", _name, ret=UINT)(_lcid)


@winapi("kernel32", args=(UINT, UINT), ret=BOOL)
def IsValidLocale(proc: Any, lcid: int, flags: int) -> int:
    return int(lcid & 0x3FF == 0x09 or lcid in (0, 0x400, 0x800))


@winapi("kernel32", args=(PTR, INT), ret=INT)
def GetUserDefaultLocaleName(proc: Any, buf: int, size: int) -> int:
    text = "en-US\0"
    if size < len(text):
        proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    proc.write(buf, text.encode("utf-16-le"))
    return len(text)


@winapi("kernel32", args=(WSTR, UINT), ret=UINT)
def LocaleNameToLCID(proc: Any, name: int, flags: int) -> int:
    return LOCALE


@winapi("kernel32", args=(PTR, UINT, PTR), ret=BOOL)
def EnumSystemLocalesW(proc: Any, fn: int, flags: int, param: int) -> int:
    return 1


@winapi("kernel32", args=(WSTR,), ret=PTR)
def CharUpperW(proc: Any, s: int) -> int:
    if s < 0x10000:
        return ord(chr(s).upper()[0])
    proc.write(s, proc.read_wstr(s).upper().encode("utf-16-le"))
    return s


@winapi("kernel32", args=(STR, STR), ret=INT)
def lstrcmpiA(proc: Any, a: int, b: int) -> int:
    x, y = proc.read_str(a).lower(), proc.read_str(b).lower()
    return (x > y) - (x < y)


@winapi("kernel32", args=(STR, STR), ret=INT)
def lstrcmpA(proc: Any, a: int, b: int) -> int:
    x, y = proc.read_str(a), proc.read_str(b)
    return (x > y) - (x < y)


@winapi("kernel32", args=(WSTR, WSTR), ret=INT)
def lstrcmpiW(proc: Any, a: int, b: int) -> int:
    x, y = proc.read_wstr(a).lower(), proc.read_wstr(b).lower()
    return (x > y) - (x < y)


@winapi("kernel32", args=(STR,), ret=INT)
def lstrlenA(proc: Any, s: int) -> int:
    return len(proc.read_bytes0(s)) if s else 0


@winapi("kernel32", args=(WSTR,), ret=INT)
def lstrlenW(proc: Any, s: int) -> int:
    return len(proc.read_wstr(s)) if s else 0


@winapi("kernel32", args=(PTR, STR), ret=PTR)
def lstrcpyA(proc: Any, dst: int, src: int) -> int:
    proc.write(dst, proc.read_bytes0(src) + b"\0")
    return dst


@winapi("kernel32", args=(PTR, WSTR), ret=PTR)
def lstrcpyW(proc: Any, dst: int, src: int) -> int:
    proc.write(dst, proc.read_wstr(src).encode("utf-16-le", "surrogatepass") + b"\0\0")
    return dst


@winapi("kernel32", args=(PTR, STR), ret=PTR)
def lstrcatA(proc: Any, dst: int, src: int) -> int:
    proc.write(dst + len(proc.read_bytes0(dst)), proc.read_bytes0(src) + b"\0")
    return dst
