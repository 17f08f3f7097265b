"""kernel32.dll (and kernelbase.dll, the api-ms-win-core-* sets): split by area.

files.py (CreateFile, ReadFile, directories, FindFirstFile), profile.py (INI files), console.py,
memory.py (Heap*, Virtual*, Local*/Global*), process.py (command line, environment, modules,
exit), time.py, strings.py (code pages, LCMapString, CompareString), threads.py (threads, Sleep,
TLS/FLS), sync.py (events, mutexes, semaphores, waits), locks.py (critical sections, SRW locks,
condition variables, InitOnce), children.py (CreateProcess, job objects), pipes.py,
messages.py (FormatMessage).
"""

from __future__ import annotations

from . import (  # noqa: F401
    children,
    console,
    files,
    locks,
    memory,
    messages,
    pipes,
    process,
    profile,
    strings,
    sync,
    threads,
    time,
)
