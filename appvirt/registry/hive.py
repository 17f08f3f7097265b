"""The registry tree: keys with case-insensitive names, typed values stored as Windows stores them.

Values keep their raw bytes (strings as UTF-16LE with their terminator), so what a program sets is
what it reads back, byte for byte, whatever the type. Four roots exist; HKEY_CLASSES_ROOT is not a
tree of its own but a merged view of the per-user and machine ``Software\\Classes`` keys, as on
Windows.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


class REG(enum.IntEnum):
    NONE = 0
    SZ = 1
    EXPAND_SZ = 2
    BINARY = 3
    DWORD = 4
    DWORD_BIG_ENDIAN = 5
    LINK = 6
    MULTI_SZ = 7
    RESOURCE_LIST = 8
    QWORD = 11


STRING_TYPES = frozenset({REG.SZ, REG.EXPAND_SZ, REG.MULTI_SZ})
ROOTS = ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS")
ROOT_ALIASES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKU": "HKEY_USERS",
                "HKCR": "HKEY_CLASSES_ROOT"}  # fmt: skip
CLASSES = "Software\\Classes"


@dataclass(slots=True)
class Value:
    name: str  # "" is the key's default value
    type: int
    data: bytes


@dataclass(slots=True, eq=False)
class Key:
    name: str
    keys: dict[str, Key] = field(default_factory=dict)  # lower-case name -> key
    values: dict[str, Value] = field(default_factory=dict)  # lower-case name -> value
    mtime_ns: int = field(default_factory=time.time_ns)
    deleted: bool = False

    def child(self, name: str) -> Key | None:
        return self.keys.get(name.lower())

    def add_child(self, name: str) -> Key:
        found = self.keys.get(name.lower())
        if found is None:
            found = Key(name)
            self.keys[name.lower()] = found
            self.mtime_ns = time.time_ns()
        return found

    def set(self, name: str, kind: int, data: bytes) -> None:
        existing = self.values.get(name.lower())
        self.values[name.lower()] = Value(existing.name if existing else name, kind, data)
        self.mtime_ns = time.time_ns()

    def get(self, name: str) -> Value | None:
        return self.values.get(name.lower())

    def walk(self, path: str = "") -> Iterator[tuple[str, Key]]:
        """(path, key) for this key and every key below it, parents first, children sorted."""
        yield path, self
        for sub in sorted(self.keys.values(), key=lambda k: k.name.lower()):
            yield from sub.walk(f"{path}\\{sub.name}" if path else sub.name)


def split_path(path: str) -> list[str]:
    return [p for p in path.replace("/", "\\").split("\\") if p]


class Registry:
    """The whole registry of one sandbox; ``dirty`` says whether it changed since it was loaded."""

    def __init__(self) -> None:
        self.roots: dict[str, Key] = {name: Key(name) for name in ROOTS}
        self.dirty = False

    def root(self, name: str) -> Key:
        name = ROOT_ALIASES.get(name.upper(), name.upper())
        if name == "HKEY_CLASSES_ROOT":
            return self.create(self.roots["HKEY_LOCAL_MACHINE"], CLASSES)
        return self.roots[name]

    def open(self, base: Key, path: str) -> Key | None:
        key: Key | None = base
        for part in split_path(path):
            assert key is not None
            key = key.child(part)
            if key is None:
                return None
        return key

    def create(self, base: Key, path: str) -> Key:
        key = base
        for part in split_path(path):
            existing = key.child(part)
            if existing is None:
                self.dirty = True
                existing = key.add_child(part)
            key = existing
        return key

    def open_path(self, full: str, create: bool = False) -> Key | None:
        """``HKEY_CURRENT_USER\\Software\\x`` (or ``HKCU\\...``) to its key."""
        parts = split_path(full)
        if not parts:
            return None
        try:
            root = self.root(parts[0])
        except KeyError:
            return None
        rest = "\\".join(parts[1:])
        return self.create(root, rest) if create else self.open(root, rest)

    def delete(self, parent: Key, name: str) -> bool:
        child = parent.keys.pop(name.lower(), None)
        if child is None:
            return False
        for _path, key in child.walk():
            key.deleted = True
        self.dirty = True
        return True

    def delete_path(self, full: str) -> bool:
        parts = split_path(full)
        if len(parts) < 2:
            return False
        parent = self.open_path("\\".join(parts[:-1]))
        return parent is not None and self.delete(parent, parts[-1])

    def merged_classes(self) -> tuple[Key, Key]:
        """(per-user, machine) classes keys; HKCR reads the first that has a name."""
        user = self.create(self.roots["HKEY_CURRENT_USER"], CLASSES)
        machine = self.create(self.roots["HKEY_LOCAL_MACHINE"], CLASSES)
        return user, machine


def seed_defaults(reg: Registry) -> None:
    """What every Windows has and programs commonly read: the OS version and shell folders."""
    nt = reg.create(
        reg.roots["HKEY_LOCAL_MACHINE"], "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
    )
    for name, text in (("ProductName", "Windows 10 Pro"), ("CurrentBuild", "19045"),
                       ("CurrentBuildNumber", "19045"), ("CurrentVersion", "6.3"),
                       ("DisplayVersion", "22H2"), ("SystemRoot", "C:\\Windows")):  # fmt: skip
        nt.set(name, REG.SZ, sz(text))
    nt.set("CurrentMajorVersionNumber", REG.DWORD, (10).to_bytes(4, "little"))
    nt.set("CurrentMinorVersionNumber", REG.DWORD, (0).to_bytes(4, "little"))
    win = reg.create(
        reg.roots["HKEY_LOCAL_MACHINE"], "SOFTWARE\\Microsoft\\Windows\\CurrentVersion"
    )
    win.set("ProgramFilesDir", REG.SZ, sz("C:\\Program Files"))
    win.set("CommonFilesDir", REG.SZ, sz("C:\\Program Files\\Common Files"))
    folders = reg.create(reg.roots["HKEY_CURRENT_USER"],
                         "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\Shell Folders")  # fmt: skip
    for name, sub in (("AppData", "AppData\\Roaming"), ("Local AppData", "AppData\\Local"),
                      ("Personal", "Documents"), ("Desktop", "Desktop")):  # fmt: skip
        folders.set(name, REG.SZ, sz("C:\\Users\\appvirt\\" + sub))
    reg.create(reg.roots["HKEY_USERS"], ".DEFAULT")
    reg.create(reg.roots["HKEY_LOCAL_MACHINE"], CLASSES)
    reg.create(reg.roots["HKEY_CURRENT_USER"], CLASSES)
    reg.dirty = False


def sz(text: str) -> bytes:
    """A REG_SZ's stored bytes: UTF-16LE with its terminator."""
    return (text + "\0").encode("utf-16-le", "surrogatepass")
