"""Registry seeds from a profile's ``[registry]`` table.

Each key of the table is a registry key's full path (``HKCU\\...``, ``HKEY_LOCAL_MACHINE\\...``;
a TOML literal string keeps the backslashes as they are), and its table holds that key's values::

    [registry.'HKCU\\Software\\Vendor\\App']
    Name = "appvirt"            # REG_SZ
    Count = 42                  # REG_DWORD (REG_QWORD when it does not fit in 32 bits)
    Paths = ["C:\\a", "C:\\b"]  # REG_MULTI_SZ
    "" = "default value"        # the key's default value

Seeds go into a new registry only (``RegistryStore.load``), over the built-in defaults: a
registry kept in a sandbox folder (``--sandbox DIR``) is the program's from its first run on, and
a profile does not undo what the program changed. Subkeys are written as keys of their own
(``[registry.'HKCU\\Software\\Vendor\\App\\Sub']``); an empty table creates the key alone.
Errors name the offending key and raise ``ProfileError``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProfileError
from .hive import REG, Registry, split_path, sz

ALLOWED_ROOTS = ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS", "HKEY_CLASSES_ROOT",
                 "HKLM", "HKCU", "HKU", "HKCR")  # fmt: skip


def seed_value(path: str, name: str, value: Any) -> tuple[int, bytes]:
    """The (type, stored bytes) of one TOML value."""
    if isinstance(value, bool):
        return REG.DWORD, int(value).to_bytes(4, "little")
    if isinstance(value, int):
        if 0 <= value <= 0xFFFFFFFF:
            return REG.DWORD, value.to_bytes(4, "little")
        if -(1 << 31) <= value < 0:
            return REG.DWORD, (value & 0xFFFFFFFF).to_bytes(4, "little")
        if -(1 << 63) <= value < (1 << 64):
            return REG.QWORD, (value & ((1 << 64) - 1)).to_bytes(8, "little")
        raise ProfileError(f"registry: {path}: {name!r}: {value} does not fit in a REG_QWORD")
    if isinstance(value, str):
        return REG.SZ, sz(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        text = "".join(item + "\0" for item in value) + "\0"
        return REG.MULTI_SZ, text.encode("utf-16-le", "surrogatepass")
    raise ProfileError(
        f"registry: {path}: {name!r}: use a string, an integer, a boolean or a list of strings"
    )


def apply_seed(reg: Registry, table: Any) -> int:
    """Create the keys and set the values of a profile's ``[registry]`` table; returns how many
    values were set. The table is checked whole before anything changes."""
    if table is None:
        return 0
    if not isinstance(table, dict):
        raise ProfileError("registry: must be a table of registry keys")
    checked = []
    for path, values in table.items():
        parts = split_path(path)
        if not parts or parts[0].upper() not in ALLOWED_ROOTS:
            raise ProfileError(
                f"registry: {path!r}: a key path starts with HKLM, HKCU, HKU or HKCR"
            )
        if not isinstance(values, dict):
            raise ProfileError(f"registry: {path}: must be a table of values")
        checked.append((path, {name: seed_value(path, name, v) for name, v in values.items()}))
    count = 0
    for path, typed in checked:
        key = reg.open_path(path, create=True)
        assert key is not None
        for name, (kind, data) in typed.items():
            key.set(name, kind, data)
            count += 1
    reg.dirty = reg.dirty or bool(checked)
    return count
