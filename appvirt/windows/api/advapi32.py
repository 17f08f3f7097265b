"""advapi32.dll: the registry (Reg*) on appvirt's registry, user identity, and security calls a
console program touches. Error codes are returned as Windows returns them (the Reg* functions
return them instead of setting the last error)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ...registry.hive import REG, STRING_TYPES, Key
from .decl import BOOL, HANDLE, HKEY, LSTATUS, PTR, STR, UINT, WSTR, winapi

ERROR_SUCCESS, ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE = 0, 2, 5, 6
ERROR_INVALID_PARAMETER, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_KEY_DELETED = (
    87,
    234,
    259,
    1018,
)
REG_CREATED_NEW_KEY, REG_OPENED_EXISTING_KEY = 1, 2
PREDEFINED = {0x80000000: "HKEY_CLASSES_ROOT", 0x80000001: "HKEY_CURRENT_USER",
              0x80000002: "HKEY_LOCAL_MACHINE", 0x80000003: "HKEY_USERS"}  # fmt: skip


@dataclass(slots=True, eq=False)
class KeyHandle:
    key: Key
    path: str


def _registry(proc: Any) -> Any:
    return proc.registry


def _key(proc: Any, hkey: int) -> Key | None:
    low = hkey & 0xFFFFFFFF
    if low in PREDEFINED and (hkey >> 32 in (0, 0xFFFFFFFF)):
        return _registry(proc).root(PREDEFINED[low])  # type: ignore[no-any-return]
    obj = proc.handles.get(hkey)
    if isinstance(obj, KeyHandle):
        return obj.key
    return None


def _path(proc: Any, hkey: int) -> str:
    low = hkey & 0xFFFFFFFF
    if low in PREDEFINED:
        return PREDEFINED[low]
    obj = proc.handles.get(hkey)
    return obj.path if isinstance(obj, KeyHandle) else "?"


def _classes_lookup(proc: Any, hkey: int, sub: str) -> Key | None:
    """HKCR: the per-user class registration wins over the machine one."""
    user, machine = _registry(proc).merged_classes()
    return _registry(proc).open(user, sub) or _registry(proc).open(machine, sub)  # type: ignore[no-any-return]


def _open(proc: Any, hkey: int, sub: str, out: int) -> int:
    base = _key(proc, hkey)
    if base is None:
        return ERROR_INVALID_HANDLE
    if base.deleted:
        return ERROR_KEY_DELETED
    if hkey & 0xFFFFFFFF == 0x80000000 and hkey >> 32 in (0, 0xFFFFFFFF):
        key = _classes_lookup(proc, hkey, sub)
    else:
        key = _registry(proc).open(base, sub)
    if key is None:
        return ERROR_FILE_NOT_FOUND
    full = _path(proc, hkey) + ("\\" + sub.strip("\\") if sub.strip("\\") else "")
    proc.write_ptr(out, proc.handles.add(KeyHandle(key, full)))
    proc.events.emit("registry", op="open", key=full)
    return ERROR_SUCCESS


def _create(proc: Any, hkey: int, sub: str, out: int, disposition: int) -> int:
    base = _key(proc, hkey)
    if base is None:
        return ERROR_INVALID_HANDLE
    if base.deleted:
        return ERROR_KEY_DELETED
    reg = _registry(proc)
    existing = reg.open(base, sub)
    key = existing if existing is not None else reg.create(base, sub)
    full = _path(proc, hkey) + ("\\" + sub.strip("\\") if sub.strip("\\") else "")
    proc.write_ptr(out, proc.handles.add(KeyHandle(key, full)))
    if disposition:
        proc.write_u32(
            disposition, REG_OPENED_EXISTING_KEY if existing is not None else REG_CREATED_NEW_KEY
        )
    proc.events.emit("registry", op="create", key=full)
    return ERROR_SUCCESS


def _s(proc: Any, ptr: int, wide: bool) -> str:
    if not ptr:
        return ""
    return str(proc.read_wstr(ptr) if wide else proc.read_str(ptr))


@winapi("advapi32", args=(HKEY, STR, UINT, UINT, PTR), ret=LSTATUS)
def RegOpenKeyExA(proc: Any, hkey: int, sub: int, options: int, access: int, out: int) -> int:
    """Open an existing key (ERROR_FILE_NOT_FOUND when it does not exist)."""
    return _open(proc, hkey, _s(proc, sub, False), out)


@winapi("advapi32", args=(HKEY, WSTR, UINT, UINT, PTR), ret=LSTATUS)
def RegOpenKeyExW(proc: Any, hkey: int, sub: int, options: int, access: int, out: int) -> int:
    return _open(proc, hkey, _s(proc, sub, True), out)


@winapi("advapi32", args=(HKEY, STR, PTR), ret=LSTATUS)
def RegOpenKeyA(proc: Any, hkey: int, sub: int, out: int) -> int:
    return _open(proc, hkey, _s(proc, sub, False), out)


@winapi("advapi32", args=(HKEY, WSTR, PTR), ret=LSTATUS)
def RegOpenKeyW(proc: Any, hkey: int, sub: int, out: int) -> int:
    return _open(proc, hkey, _s(proc, sub, True), out)


@winapi("advapi32", args=(HKEY, STR, UINT, STR, UINT, UINT, PTR, PTR, PTR), ret=LSTATUS)
def RegCreateKeyExA(proc: Any, hkey: int, sub: int, reserved: int, cls: int, options: int, access: int,
                    sa: int, out: int, disposition: int) -> int:  # fmt: skip
    """Open a key, creating it and its missing parents."""
    return _create(proc, hkey, _s(proc, sub, False), out, disposition)


@winapi("advapi32", args=(HKEY, WSTR, UINT, WSTR, UINT, UINT, PTR, PTR, PTR), ret=LSTATUS)
def RegCreateKeyExW(proc: Any, hkey: int, sub: int, reserved: int, cls: int, options: int, access: int,
                    sa: int, out: int, disposition: int) -> int:  # fmt: skip
    return _create(proc, hkey, _s(proc, sub, True), out, disposition)


@winapi("advapi32", args=(HKEY, STR, PTR), ret=LSTATUS)
def RegCreateKeyA(proc: Any, hkey: int, sub: int, out: int) -> int:
    return _create(proc, hkey, _s(proc, sub, False), out, 0)


@winapi("advapi32", args=(HKEY, WSTR, PTR), ret=LSTATUS)
def RegCreateKeyW(proc: Any, hkey: int, sub: int, out: int) -> int:
    return _create(proc, hkey, _s(proc, sub, True), out, 0)


@winapi("advapi32", args=(HKEY,), ret=LSTATUS)
def RegCloseKey(proc: Any, hkey: int) -> int:
    if hkey & 0xFFFFFFFF in PREDEFINED:
        return ERROR_SUCCESS
    if not isinstance(proc.handles.get(hkey), KeyHandle):
        return ERROR_INVALID_HANDLE
    proc.handles.close(hkey)
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY,), ret=LSTATUS)
def RegFlushKey(proc: Any, hkey: int) -> int:
    return ERROR_SUCCESS if _key(proc, hkey) is not None else ERROR_INVALID_HANDLE


def to_ansi(kind: int, data: bytes) -> bytes:
    """String data as the A functions return it: UTF-16 converted to the ANSI code page."""
    if kind not in STRING_TYPES or len(data) % 2:
        return data
    return data.decode("utf-16-le", "replace").encode("cp1252", "replace")


def from_ansi(kind: int, data: bytes) -> bytes:
    if kind not in STRING_TYPES:
        return data
    return data.decode("cp1252", "replace").encode("utf-16-le")


def _query(
    proc: Any, hkey: int, name: str, kind_ptr: int, data_ptr: int, size_ptr: int, wide: bool
) -> int:
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    if key.deleted:
        return ERROR_KEY_DELETED
    value = key.get(name)
    proc.events.emit("registry", op="query", key=_path(proc, hkey), value=name)
    if value is None:
        return ERROR_FILE_NOT_FOUND
    data = value.data if wide else to_ansi(value.type, value.data)
    if kind_ptr:
        proc.write_u32(kind_ptr, value.type)
    if data_ptr and not size_ptr:
        return ERROR_INVALID_PARAMETER
    if size_ptr:
        room = proc.read_u32(size_ptr)
        proc.write_u32(size_ptr, len(data))
        if data_ptr:
            if len(data) > room:
                return ERROR_MORE_DATA
            proc.write(data_ptr, data)
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, STR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegQueryValueExA(
    proc: Any, hkey: int, name: int, reserved: int, kind: int, data: int, size: int
) -> int:
    """A value's type and data; ERROR_MORE_DATA with the size needed when the buffer is short."""
    return _query(proc, hkey, _s(proc, name, False), kind, data, size, False)


@winapi("advapi32", args=(HKEY, WSTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegQueryValueExW(
    proc: Any, hkey: int, name: int, reserved: int, kind: int, data: int, size: int
) -> int:
    return _query(proc, hkey, _s(proc, name, True), kind, data, size, True)


def _set(proc: Any, hkey: int, name: str, kind: int, data_ptr: int, size: int, wide: bool) -> int:
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    if key.deleted:
        return ERROR_KEY_DELETED
    data = proc.read(data_ptr, size) if size else b""
    if not wide:
        data = from_ansi(kind, data)
    key.set(name, kind, data)
    proc.registry.dirty = True
    proc.events.emit("registry", op="set", key=_path(proc, hkey), value=name)
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, STR, UINT, UINT, PTR, UINT), ret=LSTATUS)
def RegSetValueExA(
    proc: Any, hkey: int, name: int, reserved: int, kind: int, data: int, size: int
) -> int:
    """Store a value (ANSI strings are kept as UTF-16, as Windows keeps them)."""
    return _set(proc, hkey, _s(proc, name, False), kind, data, size, False)


@winapi("advapi32", args=(HKEY, WSTR, UINT, UINT, PTR, UINT), ret=LSTATUS)
def RegSetValueExW(
    proc: Any, hkey: int, name: int, reserved: int, kind: int, data: int, size: int
) -> int:
    return _set(proc, hkey, _s(proc, name, True), kind, data, size, True)


def _delete_value(proc: Any, hkey: int, name: str) -> int:
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    if key.values.pop(name.lower(), None) is None:
        return ERROR_FILE_NOT_FOUND
    proc.registry.dirty = True
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, STR), ret=LSTATUS)
def RegDeleteValueA(proc: Any, hkey: int, name: int) -> int:
    return _delete_value(proc, hkey, _s(proc, name, False))


@winapi("advapi32", args=(HKEY, WSTR), ret=LSTATUS)
def RegDeleteValueW(proc: Any, hkey: int, name: int) -> int:
    return _delete_value(proc, hkey, _s(proc, name, True))


def _delete_key(proc: Any, hkey: int, sub: str, tree: bool = False) -> int:
    base = _key(proc, hkey)
    if base is None:
        return ERROR_INVALID_HANDLE
    parts = [p for p in sub.split("\\") if p]
    if not parts and not tree:
        return ERROR_ACCESS_DENIED
    reg = proc.registry
    target = reg.open(base, sub)
    if target is None:
        return ERROR_FILE_NOT_FOUND
    if tree:
        for child in list(target.keys.values()):
            reg.delete(target, child.name)
        target.values.clear()
        reg.dirty = True
        if not parts:
            return ERROR_SUCCESS
    elif target.keys:
        return ERROR_ACCESS_DENIED  # RegDeleteKey refuses a key with subkeys
    parent = reg.open(base, "\\".join(parts[:-1]))
    reg.delete(parent, parts[-1])
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, STR), ret=LSTATUS)
def RegDeleteKeyA(proc: Any, hkey: int, sub: int) -> int:
    """Delete a key without subkeys (ERROR_ACCESS_DENIED when it has some)."""
    return _delete_key(proc, hkey, _s(proc, sub, False))


@winapi("advapi32", args=(HKEY, WSTR), ret=LSTATUS)
def RegDeleteKeyW(proc: Any, hkey: int, sub: int) -> int:
    return _delete_key(proc, hkey, _s(proc, sub, True))


@winapi("advapi32", args=(HKEY, STR), ret=LSTATUS)
def RegDeleteTreeA(proc: Any, hkey: int, sub: int) -> int:
    return _delete_key(proc, hkey, _s(proc, sub, False), tree=True)


@winapi("advapi32", args=(HKEY, WSTR), ret=LSTATUS)
def RegDeleteTreeW(proc: Any, hkey: int, sub: int) -> int:
    return _delete_key(proc, hkey, _s(proc, sub, True), tree=True)


def _sorted_keys(key: Key) -> list[Key]:
    return sorted(key.keys.values(), key=lambda k: k.name.lower())


def _put_name(proc: Any, name: str, buf: int, size_ptr: int | None, room: int, wide: bool) -> int:
    raw = name.encode("utf-16-le") if wide else name.encode("cp1252", "replace")
    units = len(name)
    if units + 1 > room:
        return ERROR_MORE_DATA
    proc.write(buf, raw + (b"\0\0" if wide else b"\0"))
    if size_ptr:
        proc.write_u32(size_ptr, units)
    return ERROR_SUCCESS


def _enum_key(
    proc: Any, hkey: int, index: int, buf: int, size_ptr: int, wide: bool, room: int | None = None
) -> int:
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    keys = _sorted_keys(key)
    if index >= len(keys):
        return ERROR_NO_MORE_ITEMS
    cap = room if room is not None else proc.read_u32(size_ptr)
    return _put_name(proc, keys[index].name, buf, size_ptr if room is None else None, cap, wide)


@winapi("advapi32", args=(HKEY, UINT, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegEnumKeyExA(proc: Any, hkey: int, index: int, buf: int, size: int, reserved: int, cls: int,
                  cls_size: int, mtime: int) -> int:  # fmt: skip
    """The index-th subkey name (sorted without case); ERROR_NO_MORE_ITEMS past the end."""
    return _enum_key(proc, hkey, index, buf, size, False)


@winapi("advapi32", args=(HKEY, UINT, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegEnumKeyExW(proc: Any, hkey: int, index: int, buf: int, size: int, reserved: int, cls: int,
                  cls_size: int, mtime: int) -> int:  # fmt: skip
    return _enum_key(proc, hkey, index, buf, size, True)


@winapi("advapi32", args=(HKEY, UINT, PTR, UINT), ret=LSTATUS)
def RegEnumKeyA(proc: Any, hkey: int, index: int, buf: int, size: int) -> int:
    return _enum_key(proc, hkey, index, buf, 0, False, size)


@winapi("advapi32", args=(HKEY, UINT, PTR, UINT), ret=LSTATUS)
def RegEnumKeyW(proc: Any, hkey: int, index: int, buf: int, size: int) -> int:
    return _enum_key(proc, hkey, index, buf, 0, True, size)


def _enum_value(proc: Any, hkey: int, index: int, name_buf: int, name_size: int, kind_ptr: int,
                data_ptr: int, data_size: int, wide: bool) -> int:  # fmt: skip
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    values = list(key.values.values())
    if index >= len(values):
        return ERROR_NO_MORE_ITEMS
    value = values[index]
    rc = _put_name(proc, value.name, name_buf, name_size, proc.read_u32(name_size), wide)
    if rc:
        return rc
    data = value.data if wide else to_ansi(value.type, value.data)
    if kind_ptr:
        proc.write_u32(kind_ptr, value.type)
    if data_size:
        room = proc.read_u32(data_size)
        proc.write_u32(data_size, len(data))
        if data_ptr:
            if len(data) > room:
                return ERROR_MORE_DATA
            proc.write(data_ptr, data)
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, UINT, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegEnumValueA(proc: Any, hkey: int, index: int, name: int, name_size: int, reserved: int, kind: int,
                  data: int, data_size: int) -> int:  # fmt: skip
    """The index-th value (in the order values were first set)."""
    return _enum_value(proc, hkey, index, name, name_size, kind, data, data_size, False)


@winapi("advapi32", args=(HKEY, UINT, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegEnumValueW(proc: Any, hkey: int, index: int, name: int, name_size: int, reserved: int, kind: int,
                  data: int, data_size: int) -> int:  # fmt: skip
    return _enum_value(proc, hkey, index, name, name_size, kind, data, data_size, True)


def _query_info(proc: Any, hkey: int, out: list[int], wide: bool) -> int:
    key = _key(proc, hkey)
    if key is None:
        return ERROR_INVALID_HANDLE
    keys = key.keys.values()
    values = key.values.values()

    def dlen(v: Any) -> int:
        return len(v.data if wide else to_ansi(v.type, v.data))

    numbers = [len(keys), max((len(k.name) for k in keys), default=0), 0, len(values),
               max((len(v.name) for v in values), default=0), max((dlen(v) for v in values), default=0), 0]  # fmt: skip
    for ptr, value in zip(out[:7], numbers, strict=False):
        if ptr:
            proc.write_u32(ptr, value)
    if out[7]:
        from .kernel32.files import filetime

        proc.write(out[7], struct.pack("<Q", filetime(key.mtime_ns)))
    return ERROR_SUCCESS


@winapi("advapi32", args=(HKEY, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegQueryInfoKeyA(proc: Any, hkey: int, cls: int, cls_size: int, reserved: int, nkeys: int, max_key: int,
                     max_cls: int, nvalues: int, max_name: int, max_data: int, sd: int, mtime: int) -> int:  # fmt: skip
    """Counts and longest names/data of a key's subkeys and values."""
    if cls_size:
        proc.write_u32(cls_size, 0)
    return _query_info(
        proc, hkey, [nkeys, max_key, max_cls, nvalues, max_name, max_data, sd, mtime], False
    )


@winapi("advapi32", args=(HKEY, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR), ret=LSTATUS)
def RegQueryInfoKeyW(proc: Any, hkey: int, cls: int, cls_size: int, reserved: int, nkeys: int, max_key: int,
                     max_cls: int, nvalues: int, max_name: int, max_data: int, sd: int, mtime: int) -> int:  # fmt: skip
    if cls_size:
        proc.write_u32(cls_size, 0)
    return _query_info(
        proc, hkey, [nkeys, max_key, max_cls, nvalues, max_name, max_data, sd, mtime], True
    )


def _user_name(proc: Any, buf: int, size_ptr: int, wide: bool) -> int:
    from ..startup import user_name

    name = user_name(proc)
    size = proc.read_u32(size_ptr)
    proc.write_u32(size_ptr, len(name) + 1)
    if len(name) + 1 > size:
        proc.set_last_error(122)
        return 0
    proc.write(buf, name.encode("utf-16-le") + b"\0\0" if wide else name.encode() + b"\0")
    return 1


@winapi("advapi32", args=(PTR, PTR), ret=BOOL)
def GetUserNameA(proc: Any, buf: int, size: int) -> int:
    """The sandbox user: the profile's ``identity.username`` ("appvirt" by default)."""
    return _user_name(proc, buf, size, False)


@winapi("advapi32", args=(PTR, PTR), ret=BOOL)
def GetUserNameW(proc: Any, buf: int, size: int) -> int:
    return _user_name(proc, buf, size, True)


@winapi("advapi32", args=(HANDLE, UINT, PTR), ret=BOOL)
def OpenProcessToken(proc: Any, process: int, access: int, out: int) -> int:
    """A token handle the security queries below accept."""
    from ..handles import SyncObject

    proc.write_ptr(out, proc.handles.add(SyncObject("token")))
    return 1


@winapi("advapi32", args=(HANDLE, UINT, PTR, UINT, PTR), ret=BOOL)
def GetTokenInformation(proc: Any, token: int, cls: int, buf: int, size: int, needed: int) -> int:
    """TokenElevation (20): not elevated; other classes are not available."""
    if cls == 20:
        if needed:
            proc.write_u32(needed, 4)
        if size < 4:
            proc.set_last_error(122)
            return 0
        proc.write_u32(buf, 0)
        return 1
    proc.set_last_error(87)
    return 0


@winapi("advapi32", args=(PTR, UINT), ret=BOOL)
def SystemFunction036(proc: Any, buf: int, size: int) -> int:
    """RtlGenRandom: random bytes (seeded by the profile when it sets a seed)."""
    import os

    proc.write(buf, os.urandom(size) if size else b"")
    return 1


__all__ = ["REG"]
