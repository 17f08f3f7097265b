"""INI files (Get/WritePrivateProfileString, GetPrivateProfileInt, GetProfileString).

The file is parsed on each call and rewritten whole on each change, keeping lines appvirt does
not touch (comments, blank lines, other keys) as they were. Section and key names match without
case. A file name without a folder lives in the Windows folder, as on Windows.
"""

from __future__ import annotations

from typing import Any

from ...handles import FileHandle
from ..decl import BOOL, INT, PTR, STR, UINT, WSTR, winapi
from . import files

WIN_INI = "C:\\Windows\\win.ini"


def _ini_path(name: str) -> str:
    if "\\" not in name and "/" not in name and ":" not in name:
        return "C:\\Windows\\" + name
    return name


def _load(proc: Any, path: str) -> list[str] | None:
    result = files.open_path(proc, path, files.GENERIC_READ, files.OPEN_EXISTING)
    if not isinstance(result, FileHandle):
        return None
    try:
        raw = result.file.read(1 << 24)
    finally:
        result.file.close()
    if raw.startswith(b"\xff\xfe"):
        text = raw[2:].decode("utf-16-le", "replace")
    else:
        text = raw.decode("cp1252", "surrogateescape")
    return text.replace("\r\n", "\n").split("\n")


def _sections(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, header line, end line) of each section; keys before the first header are in ""."""
    out = []
    name, start = "", -1
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[") and "]" in s:
            out.append((name, start, i))
            name, start = s[1 : s.index("]")].strip(), i
    out.append((name, start, len(lines)))
    return [sec for sec in out if sec[1] >= 0 or sec[0] == ""]


def _key_of(line: str) -> str | None:
    s = line.strip()
    if not s or s.startswith(";") or "=" not in s:
        return None
    return s.split("=", 1)[0].strip()


def _value(line: str) -> str:
    v = line.split("=", 1)[1].strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return v


def get_string(
    proc: Any, section: str | None, key: str | None, default: str, path: str
) -> tuple[str, bool]:
    """(result, is_list): a value, or a NUL-separated list of sections or keys."""
    lines = _load(proc, _ini_path(path)) or []
    secs = _sections(lines)
    if section is None:
        return "\0".join(s[0] for s in secs if s[1] >= 0), True
    for name, start, end in secs:
        if start < 0 or name.lower() != section.lower():
            continue
        if key is None:
            keys = [k for k in (_key_of(line) for line in lines[start + 1 : end]) if k]
            return "\0".join(keys), True
        for line in lines[start + 1 : end]:
            k = _key_of(line)
            if k is not None and k.lower() == key.lower():
                return _value(line), False
        break
    return default.rstrip(" "), False


def write_string(proc: Any, section: str, key: str | None, value: str | None, path: str) -> int:
    """0 on success, else a Win32 error. key None deletes the section, value None the key."""
    full = _ini_path(path)
    lines = _load(proc, full)
    if lines is None:
        lines = []
    elif lines and lines[-1] == "":
        lines.pop()
    secs = [s for s in _sections(lines) if s[1] >= 0]
    target = next((s for s in secs if s[0].lower() == section.lower()), None)
    if target is None:
        if key is None or value is None:
            return 0
        lines += [f"[{section}]", f"{key}={value}"]
    else:
        _name, start, end = target
        if key is None:
            del lines[start:end]
        else:
            index = next((i for i in range(start + 1, end)
                          if (k := _key_of(lines[i])) is not None and k.lower() == key.lower()), None)  # fmt: skip
            if value is None:
                if index is not None:
                    del lines[index]
            elif index is not None:
                lines[index] = f"{_key_of(lines[index])}={value}"
            else:
                last = end
                while last > start + 1 and not lines[last - 1].strip():
                    last -= 1
                lines.insert(last, f"{key}={value}")
    raw = "".join(line + "\r\n" for line in lines).encode("cp1252", "surrogateescape")
    result = files.open_path(proc, full, files.GENERIC_WRITE, files.CREATE_ALWAYS)
    if isinstance(result, int):
        return result
    try:
        result.file.write(raw)
    finally:
        result.file.close()
    return 0


def _out(proc: Any, text: str, is_list: bool, buf: int, size: int, wide: bool) -> int:
    """Copy with the profile functions' truncation rules; returns characters copied."""
    if size == 0 or not buf:
        return 0
    if is_list:
        body = text + "\0" if text else ""
        if len(body) + 1 > size:
            body = body[: max(size - 2, 0)] + "\0"
            n = size - 2
        else:
            n = len(body)
        data = body + "\0"
    else:
        body = text[: size - 1]
        n = len(body)
        data = body + "\0"
    proc.write(
        buf, data.encode("utf-16-le", "surrogatepass") if wide else data.encode("cp1252", "replace")
    )
    return n


def _opt(proc: Any, ptr: int, wide: bool) -> str | None:
    if not ptr:
        return None
    return proc.read_wstr(ptr) if wide else proc.read_str(ptr)


@winapi("kernel32", args=(STR, STR, STR, PTR, UINT, STR), ret=UINT)
def GetPrivateProfileStringA(proc: Any, section: int, key: int, default: int, buf: int, size: int,
                             path: int) -> int:  # fmt: skip
    """A value from an INI file (the default when missing); NULL section or key lists names."""
    text, is_list = get_string(proc, _opt(proc, section, False), _opt(proc, key, False),
                               _opt(proc, default, False) or "", proc.read_str(path) if path else WIN_INI)  # fmt: skip
    return _out(proc, text, is_list, buf, size, False)


@winapi("kernel32", args=(WSTR, WSTR, WSTR, PTR, UINT, WSTR), ret=UINT)
def GetPrivateProfileStringW(proc: Any, section: int, key: int, default: int, buf: int, size: int,
                             path: int) -> int:  # fmt: skip
    text, is_list = get_string(proc, _opt(proc, section, True), _opt(proc, key, True),
                               _opt(proc, default, True) or "", proc.read_wstr(path) if path else WIN_INI)  # fmt: skip
    return _out(proc, text, is_list, buf, size, True)


@winapi("kernel32", args=(STR, STR, STR, PTR, UINT), ret=UINT)
def GetProfileStringA(proc: Any, section: int, key: int, default: int, buf: int, size: int) -> int:
    text, is_list = get_string(proc, _opt(proc, section, False), _opt(proc, key, False),
                               _opt(proc, default, False) or "", WIN_INI)  # fmt: skip
    return _out(proc, text, is_list, buf, size, False)


def _int_value(text: str, default: int) -> int:
    import re

    m = re.match(r"\s*([+-]?)(0x[0-9a-fA-F]+|\d+)", text)
    if not m:
        return default if not text else 0
    v = int(m.group(2), 0) if m.group(2).lower().startswith("0x") else int(m.group(2))
    return (-v if m.group(1) == "-" else v) & 0xFFFFFFFF


@winapi("kernel32", args=(STR, STR, INT, STR), ret=UINT)
def GetPrivateProfileIntA(proc: Any, section: int, key: int, default: int, path: int) -> int:
    """An integer value (decimal or 0x hex); the default when the key is missing."""
    text, _ = get_string(proc, proc.read_str(section), proc.read_str(key), "", proc.read_str(path))
    return _int_value(text, default) if text else default & 0xFFFFFFFF


@winapi("kernel32", args=(WSTR, WSTR, INT, WSTR), ret=UINT)
def GetPrivateProfileIntW(proc: Any, section: int, key: int, default: int, path: int) -> int:
    text, _ = get_string(
        proc, proc.read_wstr(section), proc.read_wstr(key), "", proc.read_wstr(path)
    )
    return _int_value(text, default) if text else default & 0xFFFFFFFF


@winapi("kernel32", args=(STR, STR, INT), ret=UINT)
def GetProfileIntA(proc: Any, section: int, key: int, default: int) -> int:
    text, _ = get_string(proc, proc.read_str(section), proc.read_str(key), "", WIN_INI)
    return _int_value(text, default) if text else default & 0xFFFFFFFF


def _write(proc: Any, section: int, key: int, value: int, path: str, wide: bool) -> int:
    sec = _opt(proc, section, wide)
    if sec is None:
        return 0
    code = write_string(proc, sec, _opt(proc, key, wide), _opt(proc, value, wide), path)
    if code:
        proc.set_last_error(code)
        return 0
    return 1


@winapi("kernel32", args=(STR, STR, STR, STR), ret=BOOL)
def WritePrivateProfileStringA(proc: Any, section: int, key: int, value: int, path: int) -> int:
    """Set (or with NULL value delete) a key; a NULL key deletes the section."""
    return _write(proc, section, key, value, proc.read_str(path) if path else WIN_INI, False)


@winapi("kernel32", args=(WSTR, WSTR, WSTR, WSTR), ret=BOOL)
def WritePrivateProfileStringW(proc: Any, section: int, key: int, value: int, path: int) -> int:
    return _write(proc, section, key, value, proc.read_wstr(path) if path else WIN_INI, True)


@winapi("kernel32", args=(STR, STR, STR), ret=BOOL)
def WriteProfileStringA(proc: Any, section: int, key: int, value: int) -> int:
    return _write(proc, section, key, value, WIN_INI, False)


@winapi("kernel32", args=(STR, PTR, UINT, STR), ret=UINT)
def GetPrivateProfileSectionNamesA(proc: Any, buf: int, size: int, path: int) -> int:
    text, _ = get_string(proc, None, None, "", proc.read_str(path) if path else WIN_INI)
    return _out(proc, text, True, buf, size, False)


__all__ = ["PTR"]
