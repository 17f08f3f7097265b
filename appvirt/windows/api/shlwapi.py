"""shlwapi.dll: path helpers (PathRemoveFileSpec, PathFileExists, PathCombine ...)."""

from __future__ import annotations

from typing import Any

from .decl import BOOL, PTR, STR, WSTR, winapi


def _read(proc: Any, ptr: int, wide: bool) -> str:
    return str(proc.read_wstr(ptr) if wide else proc.read_str(ptr))


def _write(proc: Any, ptr: int, text: str, wide: bool) -> None:
    proc.write(
        ptr,
        text.encode("utf-16-le") + b"\0\0" if wide else text.encode("cp1252", "replace") + b"\0",
    )


def _remove_file_spec(proc: Any, ptr: int, wide: bool) -> int:
    path = _read(proc, ptr, wide)
    cut = path.rfind("\\")
    if cut < 0:
        if path:
            _write(proc, ptr, "", wide)
            return 1
        return 0
    new = path[: cut + 1] if cut == 2 and path[1:2] == ":" or cut == 0 else path[:cut]
    _write(proc, ptr, new, wide)
    return int(new != path)


@winapi("shlwapi", args=(PTR,), ret=BOOL)
def PathRemoveFileSpecA(proc: Any, path: int) -> int:
    """Cut the last component ("C:\\a\\b.exe" -> "C:\\a"); TRUE when something was removed."""
    return _remove_file_spec(proc, path, False)


@winapi("shlwapi", args=(PTR,), ret=BOOL)
def PathRemoveFileSpecW(proc: Any, path: int) -> int:
    return _remove_file_spec(proc, path, True)


def _exists(proc: Any, path: str) -> int:
    from .. import paths

    try:
        proc.vfs.stat(paths.vfs_path(path, proc.cwd, proc.vfs))
        return 1
    except (OSError, paths.BadPath):
        proc.set_last_error(2)
        return 0


@winapi("shlwapi", args=(STR,), ret=BOOL)
def PathFileExistsA(proc: Any, path: int) -> int:
    return _exists(proc, proc.read_str(path))


@winapi("shlwapi", args=(WSTR,), ret=BOOL)
def PathFileExistsW(proc: Any, path: int) -> int:
    return _exists(proc, proc.read_wstr(path))


def _combine(proc: Any, out: int, a: int, b: int, wide: bool) -> int:
    left = _read(proc, a, wide) if a else ""
    right = _read(proc, b, wide) if b else ""
    if right.startswith("\\") or right[1:2] == ":":
        result = right
    elif left and right:
        result = left.rstrip("\\") + "\\" + right
    else:
        result = left or right
    _write(proc, out, result, wide)
    return out


@winapi("shlwapi", args=(PTR, STR, STR), ret=PTR)
def PathCombineA(proc: Any, out: int, a: int, b: int) -> int:
    return _combine(proc, out, a, b, False)


@winapi("shlwapi", args=(PTR, WSTR, WSTR), ret=PTR)
def PathCombineW(proc: Any, out: int, a: int, b: int) -> int:
    return _combine(proc, out, a, b, True)


def _find_file_name(proc: Any, ptr: int, wide: bool) -> int:
    path = _read(proc, ptr, wide)
    cut = max(path.rfind("\\"), path.rfind("/"), path.rfind(":"))
    return ptr + (cut + 1) * (2 if wide else 1)


@winapi("shlwapi", args=(STR,), ret=PTR)
def PathFindFileNameA(proc: Any, path: int) -> int:
    return _find_file_name(proc, path, False)


@winapi("shlwapi", args=(WSTR,), ret=PTR)
def PathFindFileNameW(proc: Any, path: int) -> int:
    return _find_file_name(proc, path, True)


@winapi("shlwapi", args=(PTR, STR), ret=BOOL)
def PathAppendA(proc: Any, path: int, more: int) -> int:
    _combine(proc, path, path, more, False)
    return 1


@winapi("shlwapi", args=(PTR, WSTR), ret=BOOL)
def PathAppendW(proc: Any, path: int, more: int) -> int:
    _combine(proc, path, path, more, True)
    return 1


def _fold(text: str) -> str:
    """Lower case, one character for one (a few characters lower to two: those stay as they are)."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def _str_str(proc: Any, hay: int, needle: int, wide: bool, fold: bool) -> int:
    if not hay or not needle:
        return 0
    if wide:
        text, find = proc.read_wstr(hay), proc.read_wstr(needle)
    else:
        text = proc.read_bytes0(hay).decode("cp1252", "surrogateescape")
        find = proc.read_bytes0(needle).decode("cp1252", "surrogateescape")
    if not find:
        return 0
    if fold:
        text, find = _fold(text), _fold(find)
    at = text.find(find)
    if at < 0:
        return 0
    if wide:
        return int(hay + len(text[:at].encode("utf-16-le", "surrogatepass")))
    return int(hay + at)


@winapi("shlwapi", args=(PTR, PTR), ret=PTR)
def StrStrA(proc: Any, hay: int, needle: int) -> int:
    """The first occurrence of ``needle`` in ``hay`` (NULL when absent or ``needle`` is empty)."""
    return _str_str(proc, hay, needle, False, False)


@winapi("shlwapi", args=(PTR, PTR), ret=PTR)
def StrStrW(proc: Any, hay: int, needle: int) -> int:
    return _str_str(proc, hay, needle, True, False)


@winapi("shlwapi", args=(PTR, PTR), ret=PTR)
def StrStrIA(proc: Any, hay: int, needle: int) -> int:
    """StrStrA ignoring case."""
    return _str_str(proc, hay, needle, False, True)


@winapi("shlwapi", args=(PTR, PTR), ret=PTR)
def StrStrIW(proc: Any, hay: int, needle: int) -> int:
    return _str_str(proc, hay, needle, True, True)
