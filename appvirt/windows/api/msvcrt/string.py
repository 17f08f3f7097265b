"""string.h, ctype.h and wchar.h functions, working on guest memory in the "C" locale."""

from __future__ import annotations

import struct
from typing import Any

from ..decl import INT, PTR, SIZE, STR, UINT, WSTR, alias, winapi

_UPPER, _LOWER, _DIGIT, _SPACE, _PUNCT, _CONTROL, _BLANK, _HEX = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80


def _ctype_bits(c: int) -> int:
    bits = 0
    ch = chr(c)
    if c < 0x80:
        if ch.isupper():
            bits |= _UPPER
        if ch.islower():
            bits |= _LOWER
        if ch.isdigit():
            bits |= _DIGIT
        if ch in " \t\n\v\f\r":
            bits |= _SPACE
        if 0x21 <= c <= 0x7E and not ch.isalnum():
            bits |= _PUNCT
        if c < 0x20 or c == 0x7F:
            bits |= _CONTROL
        if c == 0x20:
            bits |= _BLANK
        if ch in "0123456789abcdefABCDEF":
            bits |= _HEX
    return bits


def init_ctype(proc: Any, c: Any) -> None:
    """The classification table behind _pctype and the is* macros (index -1 is EOF)."""
    table = struct.pack("<257H", 0, *[_ctype_bits(i) for i in range(256)])
    addr = proc.process_heap.alloc(len(table))
    proc.mem.poke(addr, table)
    c.ctype_table = addr + 2
    from .state import data_addr

    proc.mem.poke(data_addr(proc, "_pctype"), c.ctype_table.to_bytes(proc.word, "little"))


def _bytes(proc: Any, addr: int) -> bytes:
    return proc.read_bytes0(addr)  # type: ignore[no-any-return]


@winapi("msvcrt", args=(STR,), ret=SIZE)
def strlen(proc: Any, s: int) -> int:
    return len(_bytes(proc, s))


@winapi("msvcrt", args=(STR, SIZE), ret=SIZE)
def strnlen(proc: Any, s: int, limit: int) -> int:
    return len(proc.mem.read_cstr(s, limit)) if limit else 0


def _cmp(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


@winapi("msvcrt", args=(STR, STR), ret=INT)
def strcmp(proc: Any, a: int, b: int) -> int:
    return _cmp(_bytes(proc, a), _bytes(proc, b))


@winapi("msvcrt", args=(STR, STR, SIZE), ret=INT)
def strncmp(proc: Any, a: int, b: int, n: int) -> int:
    return _cmp(_bytes(proc, a)[:n], _bytes(proc, b)[:n])


@winapi("msvcrt", args=(STR, STR), ret=INT)
def _stricmp(proc: Any, a: int, b: int) -> int:
    """Compare without case: msvcrt folds to lower case before comparing."""
    return _cmp(_bytes(proc, a).lower(), _bytes(proc, b).lower())


alias("msvcrt", "_strcmpi", "_stricmp")
alias("msvcrt", "stricmp", "_stricmp")
alias("msvcrt", "strcasecmp", "_stricmp")


@winapi("msvcrt", args=(STR, STR, SIZE), ret=INT)
def _strnicmp(proc: Any, a: int, b: int, n: int) -> int:
    return _cmp(_bytes(proc, a)[:n].lower(), _bytes(proc, b)[:n].lower())


alias("msvcrt", "strnicmp", "_strnicmp")
alias("msvcrt", "strncasecmp", "_strnicmp")


@winapi("msvcrt", args=(PTR, STR), ret=PTR)
def strcpy(proc: Any, dst: int, src: int) -> int:
    proc.write(dst, _bytes(proc, src) + b"\0")
    return dst


@winapi("msvcrt", args=(PTR, STR, SIZE), ret=PTR)
def strncpy(proc: Any, dst: int, src: int, n: int) -> int:
    raw = proc.mem.read_cstr(src, n) if n else b""
    proc.write(dst, raw + bytes(n - len(raw)))
    return dst


@winapi("msvcrt", args=(PTR, STR), ret=PTR)
def strcat(proc: Any, dst: int, src: int) -> int:
    proc.write(dst + len(_bytes(proc, dst)), _bytes(proc, src) + b"\0")
    return dst


@winapi("msvcrt", args=(PTR, STR, SIZE), ret=PTR)
def strncat(proc: Any, dst: int, src: int, n: int) -> int:
    proc.write(dst + len(_bytes(proc, dst)), _bytes(proc, src)[:n] + b"\0")
    return dst


@winapi("msvcrt", args=(STR, INT), ret=PTR)
def strchr(proc: Any, s: int, ch: int) -> int:
    raw = _bytes(proc, s)
    ch &= 0xFF
    if ch == 0:
        return s + len(raw)
    i = raw.find(bytes([ch]))
    return s + i if i >= 0 else 0


@winapi("msvcrt", args=(STR, INT), ret=PTR)
def strrchr(proc: Any, s: int, ch: int) -> int:
    raw = _bytes(proc, s)
    ch &= 0xFF
    if ch == 0:
        return s + len(raw)
    i = raw.rfind(bytes([ch]))
    return s + i if i >= 0 else 0


@winapi("msvcrt", args=(STR, STR), ret=PTR)
def strstr(proc: Any, s: int, sub: int) -> int:
    i = _bytes(proc, s).find(_bytes(proc, sub))
    return s + i if i >= 0 else 0


@winapi("msvcrt", args=(STR, STR), ret=SIZE)
def strspn(proc: Any, s: int, accept: int) -> int:
    raw, chars = _bytes(proc, s), set(_bytes(proc, accept))
    n = 0
    while n < len(raw) and raw[n] in chars:
        n += 1
    return n


@winapi("msvcrt", args=(STR, STR), ret=SIZE)
def strcspn(proc: Any, s: int, reject: int) -> int:
    raw, chars = _bytes(proc, s), set(_bytes(proc, reject))
    n = 0
    while n < len(raw) and raw[n] not in chars:
        n += 1
    return n


@winapi("msvcrt", args=(STR, STR), ret=PTR)
def strpbrk(proc: Any, s: int, accept: int) -> int:
    n = strcspn(proc, s, accept)
    return s + n if n < len(_bytes(proc, s)) else 0


@winapi("msvcrt", args=(PTR, STR), ret=PTR)
def strtok(proc: Any, s: int, delim: int) -> int:
    from .state import crt

    c = crt(proc)
    if s == 0:
        s = c.strtok
        if s == 0:
            return 0
    seps = set(_bytes(proc, delim))
    raw = _bytes(proc, s)
    i = 0
    while i < len(raw) and raw[i] in seps:
        i += 1
    if i == len(raw):
        c.strtok = 0
        return 0
    j = i
    while j < len(raw) and raw[j] not in seps:
        j += 1
    if j < len(raw):
        proc.write(s + j, b"\0")
        c.strtok = s + j + 1
    else:
        c.strtok = 0
    return s + i


@winapi("msvcrt", args=(STR,), ret=PTR)
def _strdup(proc: Any, s: int) -> int:
    raw = _bytes(proc, s) + b"\0"
    addr = proc.process_heap.alloc(len(raw))
    proc.write(addr, raw)
    return int(addr)


alias("msvcrt", "strdup", "_strdup")


@winapi("msvcrt", args=(PTR,), ret=PTR)
def _strlwr(proc: Any, s: int) -> int:
    proc.write(s, _bytes(proc, s).lower())
    return s


@winapi("msvcrt", args=(PTR,), ret=PTR)
def _strupr(proc: Any, s: int) -> int:
    proc.write(s, _bytes(proc, s).upper())
    return s


@winapi("msvcrt", args=(PTR, PTR, SIZE), ret=PTR)
def memcpy(proc: Any, dst: int, src: int, n: int) -> int:
    if n:
        proc.write(dst, proc.read(src, n))
    return dst


alias("msvcrt", "memmove", "memcpy")


@winapi("msvcrt", args=(PTR, INT, SIZE), ret=PTR)
def memset(proc: Any, dst: int, ch: int, n: int) -> int:
    if n:
        proc.write(dst, bytes([ch & 0xFF]) * n)
    return dst


@winapi("msvcrt", args=(PTR, PTR, SIZE), ret=INT)
def memcmp(proc: Any, a: int, b: int, n: int) -> int:
    return _cmp(proc.read(a, n), proc.read(b, n)) if n else 0


@winapi("msvcrt", args=(PTR, INT, SIZE), ret=PTR)
def memchr(proc: Any, s: int, ch: int, n: int) -> int:
    i = proc.read(s, n).find(bytes([ch & 0xFF])) if n else -1
    return s + i if i >= 0 else 0


def _ctype(name: str, test: Any) -> None:
    def fn(proc: Any, c: int) -> int:
        return int(0 <= c < 0x80 and bool(test(chr(c))))

    fn.__doc__ = f"ctype.h {name} in the C locale."
    winapi("msvcrt", name, args=(INT,), ret=INT)(fn)


_ctype("isalpha", str.isalpha)
_ctype("isdigit", str.isdigit)
_ctype("isalnum", str.isalnum)
_ctype("isspace", lambda ch: ch in " \t\n\v\f\r")
_ctype("isupper", str.isupper)
_ctype("islower", str.islower)
_ctype("isxdigit", lambda ch: ch in "0123456789abcdefABCDEF")
_ctype("ispunct", lambda ch: 0x21 <= ord(ch) <= 0x7E and not ch.isalnum())
_ctype("isprint", lambda ch: 0x20 <= ord(ch) <= 0x7E)
_ctype("isgraph", lambda ch: 0x21 <= ord(ch) <= 0x7E)
_ctype("iscntrl", lambda ch: ord(ch) < 0x20 or ord(ch) == 0x7F)


@winapi("msvcrt", args=(INT,), ret=INT)
def tolower(proc: Any, c: int) -> int:
    return c + 32 if 0x41 <= c <= 0x5A else c


@winapi("msvcrt", args=(INT,), ret=INT)
def toupper(proc: Any, c: int) -> int:
    return c - 32 if 0x61 <= c <= 0x7A else c


alias("msvcrt", "iswalpha", "isalpha")
alias("msvcrt", "iswdigit", "isdigit")
alias("msvcrt", "iswspace", "isspace")
alias("msvcrt", "towlower", "tolower")
alias("msvcrt", "towupper", "toupper")


@winapi("msvcrt", args=(INT, UINT), ret=INT)
def _isctype(proc: Any, c: int, mask: int) -> int:
    return _ctype_bits(c & 0xFF) & mask if -1 <= c < 256 else 0


@winapi("msvcrt", args=(WSTR,), ret=SIZE)
def wcslen(proc: Any, s: int) -> int:
    return len(proc.read_wstr(s))


@winapi("msvcrt", args=(PTR, WSTR), ret=PTR)
def wcscpy(proc: Any, dst: int, src: int) -> int:
    proc.write(dst, proc.read_wstr(src).encode("utf-16-le", "surrogatepass") + b"\0\0")
    return dst


@winapi("msvcrt", args=(PTR, WSTR, SIZE), ret=PTR)
def wcsncpy(proc: Any, dst: int, src: int, n: int) -> int:
    text = proc.read_wstr(src, n)[:n]
    proc.write(dst, (text.encode("utf-16-le", "surrogatepass")).ljust(2 * n, b"\0"))
    return dst


@winapi("msvcrt", args=(PTR, WSTR), ret=PTR)
def wcscat(proc: Any, dst: int, src: int) -> int:
    cur = proc.read_wstr(dst)
    proc.write(
        dst + 2 * len(cur), proc.read_wstr(src).encode("utf-16-le", "surrogatepass") + b"\0\0"
    )
    return dst


@winapi("msvcrt", args=(WSTR, WSTR), ret=INT)
def wcscmp(proc: Any, a: int, b: int) -> int:
    x, y = proc.read_wstr(a), proc.read_wstr(b)
    return (x > y) - (x < y)


@winapi("msvcrt", args=(WSTR, WSTR, SIZE), ret=INT)
def wcsncmp(proc: Any, a: int, b: int, n: int) -> int:
    x, y = proc.read_wstr(a)[:n], proc.read_wstr(b)[:n]
    return (x > y) - (x < y)


@winapi("msvcrt", args=(WSTR, WSTR), ret=INT)
def _wcsicmp(proc: Any, a: int, b: int) -> int:
    x, y = proc.read_wstr(a).lower(), proc.read_wstr(b).lower()
    return (x > y) - (x < y)


@winapi("msvcrt", args=(WSTR, INT), ret=PTR)
def wcschr(proc: Any, s: int, ch: int) -> int:
    text = proc.read_wstr(s)
    ch &= 0xFFFF
    if ch == 0:
        return s + 2 * len(text)
    i = text.find(chr(ch))
    return s + 2 * i if i >= 0 else 0


@winapi("msvcrt", args=(WSTR, INT), ret=PTR)
def wcsrchr(proc: Any, s: int, ch: int) -> int:
    text = proc.read_wstr(s)
    ch &= 0xFFFF
    if ch == 0:
        return s + 2 * len(text)
    i = text.rfind(chr(ch))
    return s + 2 * i if i >= 0 else 0


@winapi("msvcrt", args=(WSTR, WSTR), ret=PTR)
def wcsstr(proc: Any, s: int, sub: int) -> int:
    i = proc.read_wstr(s).find(proc.read_wstr(sub))
    return s + 2 * i if i >= 0 else 0


@winapi("msvcrt", args=(WSTR,), ret=PTR)
def _wcsdup(proc: Any, s: int) -> int:
    raw = proc.read_wstr(s).encode("utf-16-le", "surrogatepass") + b"\0\0"
    addr = proc.process_heap.alloc(len(raw))
    proc.write(addr, raw)
    return int(addr)


@winapi("msvcrt", args=(INT,), ret=PTR)
def strerror(proc: Any, err: int) -> int:
    """msvcrt's message for an errno value, in a buffer that stays valid."""
    from .state import crt

    text = _STRERROR.get(err, "Unknown error").encode() + b"\0"
    c = crt(proc)
    addr = c.scratch.get("strerror")
    if addr is None:
        addr = proc.process_heap.alloc(128)
        c.scratch["strerror"] = addr
    proc.write(addr, text)
    return int(addr)


_STRERROR = {
    0: "No error", 1: "Operation not permitted", 2: "No such file or directory",
    3: "No such process", 4: "Interrupted function call", 5: "Input/output error",
    6: "No such device or address", 7: "Arg list too long", 8: "Exec format error",
    9: "Bad file descriptor", 10: "No child processes", 11: "Resource temporarily unavailable",
    12: "Not enough space", 13: "Permission denied", 14: "Bad address", 16: "Resource device",
    17: "File exists", 18: "Improper link", 19: "No such device", 20: "Not a directory",
    21: "Is a directory", 22: "Invalid argument", 23: "Too many open files in system",
    24: "Too many open files", 25: "Inappropriate I/O control operation", 27: "File too large",
    28: "No space left on device", 29: "Invalid seek", 30: "Read-only file system",
    31: "Too many links", 32: "Broken pipe", 33: "Domain error", 34: "Result too large",
    36: "Resource deadlock avoided", 38: "Filename too long", 39: "No locks available",
    40: "Function not implemented", 41: "Directory not empty", 42: "Illegal byte sequence",
}  # fmt: skip
