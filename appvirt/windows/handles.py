"""The process's handle table: HANDLE values to the Python objects behind them.

Handles are multiples of 4 starting at 0x40, as on Windows, so a guest that tests the low bits or
compares with INVALID_HANDLE_VALUE (-1) sees what it expects. Pseudo-handles (the current process
and thread) are never stored here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..vfs.types import OpenFile

CURRENT_PROCESS = -1
CURRENT_THREAD = -2
INVALID_HANDLE_VALUE = -1


@dataclass(slots=True, eq=False)
class FileHandle:
    """An open file, directory or console stream (CreateFile, GetStdHandle)."""

    file: OpenFile
    path: str  # the Windows path it was opened by
    console: bool = False
    std: int = -1  # 0, 1, 2 for the standard streams
    delete_on_close: str | None = None  # VFS path
    append: bool = False


@dataclass(slots=True, eq=False)
class FindHandle:
    """A FindFirstFile search: the remaining matches with their stat records."""

    entries: list[tuple[str, Any]] = field(default_factory=list)
    pos: int = 0


@dataclass(slots=True, eq=False)
class SyncObject:
    """An event, mutex or semaphore of a single-threaded process: state only, nobody waits."""

    kind: str
    signaled: bool = False
    count: int = 0
    name: str = ""


class Handles:
    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._next = 0x40
        self.inheritable: set[int] = set()  # handles a child started with inheritance gets

    def add(self, obj: Any) -> int:
        handle = self._next
        self._next += 4
        self._objects[handle] = obj
        return handle

    def put(self, handle: int, obj: Any) -> None:
        """Install ``obj`` at a given value (inherited handles keep their values)."""
        self._objects[handle] = obj
        self._next = max(self._next, handle + 4)

    def get(self, handle: int) -> Any:
        return self._objects.get(handle)

    def items(self) -> list[tuple[int, Any]]:
        return list(self._objects.items())

    def close(self, handle: int) -> Any:
        self.inheritable.discard(handle)
        return self._objects.pop(handle, None)

    def values(self) -> list[Any]:
        return list(self._objects.values())

    def clear(self) -> None:
        self._objects.clear()
        self.inheritable.clear()
