"""kernel32.dll (and kernelbase.dll, the api-ms-win-core-* sets): split by area.

files.py (CreateFile, ReadFile, directories, FindFirstFile), profile.py (INI files), console.py,
memory.py (Heap*, Virtual*, Local*/Global*), process.py (command line, environment, modules,
exit, TLS/FLS), time.py, strings.py (code pages, LCMapString, CompareString), sync.py.
"""

from __future__ import annotations

from . import console, files, memory, process, profile, strings, sync, time  # noqa: F401
