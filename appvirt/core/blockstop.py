"""An exact stop that any thread can request: how appvirt's watchdogs end a run it will resume.

Unicorn 2.1.4 has two ways to end a run from outside guest traps. ``uc_emu_stop`` from another
thread is not exact: the run can end with the PC at the start of a translated block whose stores
already ran, and the resumed guest runs them again (two blocks incrementing two counters, stopped
every 0.5 ms by a thread: 2,778 increments too many in 40 M; the ticking samples showed it in real
guests). ``emu_start(count=N)`` is exact but counts with a hook on every instruction: ~30x slower
on a register loop.

A stop requested from inside a hook is exact (the same two blocks stopped 666,666 times from a
block hook: no increment lost or repeated). So a Machine whose runs a watchdog must end gets a
``UC_HOOK_BLOCK`` whose callback is seven x86-64 instructions (24 bytes), not Python: it ends the
run when a flag is set (by the watchdog thread) or when a block budget runs out, and otherwise
returns at once, 1.3-1.6x on the compute sample's loop. Users: the Linux kernel's and the Windows
scheduler's shared slices and deadline stops, the System VM's slice ends. The callback needs an
x86-64 host with the System V calling convention and a 64-bit Python; elsewhere ``available()``
is False and callers count instructions or fall back to ``uc_emu_stop``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading
from typing import TYPE_CHECKING

from unicorn import UC_HOOK_BLOCK

from . import uclib

if TYPE_CHECKING:
    from .machine import Cpu

NO_LIMIT = 1 << 62

# cb(uc: rdi, address: rsi, size: edx, user_data: rcx) with user_data -> _State:
#   cmp byte [rcx+8], 0 ; jne stop      (the flag)
#   dec qword [rcx]     ; jl stop       (the budget: stop once it is spent)
#   ret
# stop:
#   mov rax, uc_emu_stop ; jmp rax      (tail call: rdi is still the engine)
_CODE_HEAD = bytes.fromhex("80790800 7506 48ff09 7c01 c3 48b8")
_CODE_TAIL = bytes.fromhex("ffe0")

_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20


class _State(ctypes.Structure):
    _fields_ = [("budget", ctypes.c_int64), ("stop", ctypes.c_int64)]


_callback: int | None = None
_built = False


def _build() -> int | None:
    """The callback's address in an executable page of its own, or None on another host."""
    if platform.machine().lower() not in ("x86_64", "amd64") or os.name != "posix":
        return None
    if ctypes.sizeof(ctypes.c_void_p) != 8:  # a 32-bit Python on an x86-64 host
        return None
    if not platform.system() == "Linux":
        return None  # MAP_ANONYMOUS differs elsewhere; counting stays correct there
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mmap, mprotect = libc.mmap, libc.mprotect
    except (OSError, AttributeError):
        return None
    mmap.restype = ctypes.c_void_p
    mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                     ctypes.c_long]  # fmt: skip
    mprotect.restype = ctypes.c_int
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = mmap(None, 4096, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    if page in (None, ctypes.c_void_p(-1).value):
        return None
    stop = ctypes.cast(uclib.emu_stop_function(), ctypes.c_void_p).value
    code = _CODE_HEAD + struct.pack("<Q", stop) + _CODE_TAIL
    ctypes.memmove(page, code, len(code))
    if mprotect(page, 4096, _PROT_READ | _PROT_EXEC) != 0:  # W^X: never writable and executable
        return None
    return int(page)


def available() -> bool:
    """Whether this host can run the native callback (built once per process)."""
    global _callback, _built
    if not _built:
        _built = True
        _callback = _build()
    return _callback is not None


class BlockStop:
    """The flag and budget of one Machine, and its block hook (``Machine.enable_block_stop``).

    Making one drops the Machine's translated code, since a block translated before the hook
    existed would never call it: do it outside ``emu_start``.
    """

    def __init__(self, cpu: Cpu) -> None:
        if not available():
            raise RuntimeError("no native block callback on this host")
        self._state = _State(NO_LIMIT, 0)
        self._lock = threading.Lock()  # ``stop`` (any thread) against ``take`` (the CPU's)
        hook = uclib.hook_native(
            cpu.uch, UC_HOOK_BLOCK, _callback or 0, ctypes.addressof(self._state)
        )
        cpu._hooks.append((hook, self._state))  # deleted with the Machine's other hooks
        cpu.uc.ctl_flush_tb()  # type: ignore[attr-defined]
        cpu.block_stop = self  # what call_nested and the schedulers look for

    def arm(self, blocks: int = NO_LIMIT) -> None:
        """Before a run: no stop requested, at most ``blocks`` blocks."""
        self._state.stop = 0
        self._state.budget = blocks

    def stop(self) -> None:
        """End the current run at the start of the next block (safe from any thread)."""
        with self._lock:
            self._state.stop = 1

    def take(self) -> bool:
        """Withdraw a stop request (for a nested run); whether there was one."""
        with self._lock:
            requested = bool(self._state.stop)
            self._state.stop = 0
        return requested

    @property
    def stopped(self) -> bool:
        """Whether the last run ended by ``stop`` or by its budget (not by a guest trap)."""
        return bool(self._state.stop) or self._state.budget < 0
