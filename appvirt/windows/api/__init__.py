"""API handlers, one module per DLL; importing this package registers every declaration."""

from __future__ import annotations

from . import (  # noqa: F401
    advapi32,
    internal,
    kernel32,
    msvcrt,
    ntdll,
    ntdll_seh,
    shell32,
    shlwapi,
    user32,
    ws2_32,
)
