"""msvcrt.dll (and the UCRT's api-ms-win-crt-* sets): the C runtime MinGW programs link against.

Split by header: startup.py (CRT startup and exit), stdio.py (FILE streams and low-level fds),
string.py (string.h, ctype.h), stdlib.py (memory, conversions, sorting, environment, time),
threads.py (_beginthreadex, CRT locks).
"""

from __future__ import annotations

from . import cseh, startup, stdio, stdlib, string, threads  # noqa: F401
from .state import crt, flush_all, init_data

__all__ = ["crt", "flush_all", "init_data"]
