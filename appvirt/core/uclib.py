"""Direct access to libunicorn's C API for the calls on the hot path.

The Python binding costs 2.5-3.5 us per register access and wraps every hook callback in extra
Python frames. A trap (syscall, API call) must cost about a microsecond, so registers are read and
written in preallocated batches through our own ctypes handle on the same shared library, and the
trap hooks are registered here with plain ctypes callbacks.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

from unicorn.unicorn_py3 import unicorn as _binding

_lib = ctypes.CDLL(_binding.uclib._name)
# A second handle without argtypes: ctypes' argument conversion costs more than the call itself
# (1.5-4 us against 0.8 us), so the hot-path calls pass ready-made ctypes objects through this one.
_raw = ctypes.CDLL(_binding.uclib._name)

_lib.uc_reg_read_batch.restype = ctypes.c_int
_lib.uc_reg_read_batch.argtypes = [
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_int,
]
_lib.uc_reg_write_batch.restype = ctypes.c_int
_lib.uc_reg_write_batch.argtypes = _lib.uc_reg_read_batch.argtypes
_lib.uc_reg_write.restype = ctypes.c_int
_lib.uc_reg_write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_lib.uc_reg_read.restype = ctypes.c_int
_lib.uc_reg_read.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_lib.uc_emu_stop.restype = ctypes.c_int
_lib.uc_emu_stop.argtypes = [ctypes.c_void_p]
_lib.uc_mem_read.restype = ctypes.c_int
_lib.uc_mem_read.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
_lib.uc_mem_write.restype = ctypes.c_int
_lib.uc_mem_write.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]

# uc_hook_add is variadic: the INSN hook takes one extra int (the instruction id).
_hook_add_insn = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_int,
)(("uc_hook_add", _lib))
_hook_add_plain = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.c_uint64,
)(("uc_hook_add", _lib))
_lib.uc_hook_del.restype = ctypes.c_int
_lib.uc_hook_del.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

# Callback shapes (see unicorn.h).
SYSCALL_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
INVALID_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)

UC_HOOK_INTR = 1 << 0
UC_HOOK_INSN = 1 << 1
UC_HOOK_INSN_INVALID = 1 << 14


def handle(uc: Any) -> int:
    """The raw ``uc_engine*`` of a binding ``Uc`` object."""
    return int(uc._uch.value)


class RegBatch:
    """A fixed set of registers read or written in one C call, through preallocated buffers."""

    __slots__ = ("_uch", "_ids", "_ptrs", "values", "_count", "_clear", "_h", "_read", "_write")

    def __init__(self, uch: int, reg_ids: Sequence[int], width: int | None = None) -> None:
        """``width`` 64 or 32 says every register in the set has that size, so reads need no
        clearing (the hot syscall path); without it values are cleared before each read."""
        count = len(reg_ids)
        self._uch = uch
        self._count = count
        self._clear = width is None
        size = 4 if width == 32 else 8
        self._ids = (ctypes.c_int * count)(*reg_ids)
        self.values = ((ctypes.c_uint32 if size == 4 else ctypes.c_uint64) * count)()
        base = ctypes.addressof(self.values)
        self._ptrs = (ctypes.c_void_p * count)(*[base + size * i for i in range(count)])
        self._h = ctypes.c_void_p(uch)
        self._read = _raw.uc_reg_read_batch
        self._write = _raw.uc_reg_write_batch

    def read(self) -> Any:
        """Refresh and return ``values`` (a ctypes array: index it for ints)."""
        vals = self.values
        if self._clear:
            for i in range(self._count):
                vals[i] = 0  # 32-bit registers only fill the low half
        self._read(self._h, self._ids, self._ptrs, self._count)
        return vals

    def raw_reader(self) -> tuple[Any, Any, Any, Any, Any, int]:
        """(``uc_reg_read_batch``, handle, ids, pointers, values, count) for a trap that calls
        the C function itself with these ready arguments: no Python frame of ours per call."""
        return self._read, self._h, self._ids, self._ptrs, self.values, self._count

    def write(self, vals: Sequence[int]) -> None:
        out = self.values
        mask = 0xFFFFFFFF if ctypes.sizeof(out) == 4 * self._count else 0xFFFFFFFFFFFFFFFF
        for i, v in enumerate(vals):
            out[i] = v & mask
        self._write(self._h, self._ids, self._ptrs, self._count)


class RegAccess:
    """Single-register reads and writes through the C API (under a microsecond each)."""

    __slots__ = ("_uch", "_buf", "_ptr", "_h", "_ref", "_read", "_write")

    def __init__(self, uch: int) -> None:
        self._uch = uch
        self._buf = ctypes.c_uint64(0)
        self._ptr = ctypes.addressof(self._buf)
        self._h = ctypes.c_void_p(uch)
        self._ref = ctypes.byref(self._buf)
        self._read = _raw.uc_reg_read
        self._write = _raw.uc_reg_write

    def read(self, reg: int) -> int:
        buf = self._buf
        buf.value = 0
        self._read(self._h, reg, self._ref)
        return buf.value

    def write(self, reg: int, value: int) -> None:
        self._buf.value = value & 0xFFFFFFFFFFFFFFFF
        self._write(self._h, reg, self._ref)

    def raw_writer(self) -> tuple[Any, Any, Any]:
        """(the value buffer, ``uc_reg_write``, a reference to the buffer) for a trap that writes
        a result register itself: set ``buffer.value``, call ``fn(handle, reg, reference)``."""
        return self._buf, self._write, self._ref


# ``uc_mem_read`` without argument conversion, for hot paths that pass ready ctypes objects (the
# handle as c_void_p, the address as c_uint64, a buffer, the size); returns 0 on success.
mem_read_raw = _raw.uc_mem_read


def emu_stop(uch: int) -> None:
    _lib.uc_emu_stop(uch)


def _add(uch: int, kind: int, cb: Any, begin: int, end: int, insn: int | None = None) -> int:
    """``uc_hook_add`` for a ready ctypes callback; returns the hook handle."""
    hh = ctypes.c_size_t(0)
    ptr = ctypes.cast(cb, ctypes.c_void_p)
    if insn is None:
        err = _hook_add_plain(uch, ctypes.byref(hh), kind, ptr, None, begin, end)
    else:
        err = _hook_add_insn(uch, ctypes.byref(hh), kind, ptr, None, begin, end, insn)
    if err:
        raise RuntimeError(f"uc_hook_add({kind:#x}) failed: {err}")
    return hh.value


def hook_native(uch: int, kind: int, callback: int, user_data: int) -> int:
    """``uc_hook_add`` over every address for a callback in native code (an address, not a ctypes
    function) and its user data pointer; returns the hook handle."""
    hh = ctypes.c_size_t(0)
    err = _hook_add_plain(
        uch, ctypes.byref(hh), kind, ctypes.c_void_p(callback), ctypes.c_void_p(user_data), 1, 0
    )
    if err:
        raise RuntimeError(f"uc_hook_add({kind:#x}) failed: {err}")
    return hh.value


def emu_stop_function() -> Any:
    """libunicorn's ``uc_emu_stop`` as a ctypes function (its address is what native code calls)."""
    return _lib.uc_emu_stop


def hook_syscall_raw(uch: int, insn: int, fn: Callable[[int, int], None]) -> tuple[int, Any]:
    """Register ``fn(uc, user)`` itself as the ctypes callback of a SYSCALL/SYSENTER instruction
    (the hot path: no extra Python frame); it must never raise. Returns (handle, keep-alive)."""
    cb = SYSCALL_CB(fn)
    return _add(uch, UC_HOOK_INSN, cb, 1, 0, insn), cb


def hook_syscall(uch: int, insn: int, fn: Callable[[], None]) -> tuple[int, Any]:
    """Register ``fn()`` for a SYSCALL/SYSENTER instruction; returns (hook handle, keep-alive)."""
    return hook_syscall_raw(uch, insn, lambda _uc, _user: fn())


def hook_interrupt_raw(uch: int, fn: Callable[[int, int, int], None]) -> tuple[int, Any]:
    """Register ``fn(uc, intno, user)`` itself as the interrupt callback; it must never raise."""
    cb = INTR_CB(fn)
    return _add(uch, UC_HOOK_INTR, cb, 1, 0), cb


def hook_interrupt(uch: int, fn: Callable[[int], None]) -> tuple[int, Any]:
    """Register ``fn(intno)`` for every interrupt and CPU exception."""
    return hook_interrupt_raw(uch, lambda _uc, intno, _user: fn(intno))


def hook_invalid(uch: int, fn: Callable[[], bool]) -> tuple[int, Any]:
    """Register ``fn()`` for invalid instructions; it returns True when it handled one."""
    cb = INVALID_CB(lambda _uc, _user: fn())
    return _add(uch, UC_HOOK_INSN_INVALID, cb, 1, 0), cb


def hook_del(uch: int, hh: int) -> None:
    _lib.uc_hook_del(uch, hh)


# -- hooks the System VM adds (port I/O, CPUID, code at chosen addresses, write-protected pages) --
IN_CB = ctypes.CFUNCTYPE(
    ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p
)
OUT_CB = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p
)
CPUID_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
MEM_EVENT_CB = ctypes.CFUNCTYPE(
    ctypes.c_bool,
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_uint64,
    ctypes.c_int,
    ctypes.c_int64,
    ctypes.c_void_p,
)

UC_HOOK_CODE = 1 << 2
UC_HOOK_MEM_WRITE_PROT = 1 << 8


def hook_port_in(uch: int, insn: int, fn: Callable[[int, int], int]) -> tuple[int, Any]:
    """``fn(port, size)`` serves IN; its result is what the guest reads."""

    def trampoline(_uc: int, port: int, size: int, _user: int) -> int:
        return fn(port, size)

    cb = IN_CB(trampoline)
    return _add(uch, UC_HOOK_INSN, cb, 1, 0, insn), cb


def hook_port_out(uch: int, insn: int, fn: Callable[[int, int, int], None]) -> tuple[int, Any]:
    """``fn(port, size, value)`` serves OUT."""

    def trampoline(_uc: int, port: int, size: int, value: int, _user: int) -> None:
        fn(port, size, value)

    cb = OUT_CB(trampoline)
    return _add(uch, UC_HOOK_INSN, cb, 1, 0, insn), cb


def hook_cpuid(uch: int, insn: int, fn: Callable[[], bool]) -> tuple[int, Any]:
    """``fn()`` serves CPUID; True means it wrote the result registers (skip the native one)."""

    def trampoline(_uc: int, _user: int) -> int:
        return 1 if fn() else 0

    cb = CPUID_CB(trampoline)
    return _add(uch, UC_HOOK_INSN, cb, 1, 0, insn), cb


def code_callback(fn: Callable[[int], None]) -> Any:
    """One ctypes callback ``fn(address)`` that many ``hook_code`` registrations can share."""

    def trampoline(_uc: int, address: int, _size: int, _user: int) -> None:
        fn(address)

    return CODE_CB(trampoline)


def hook_code(uch: int, cb: Any, begin: int, end: int) -> int:
    """Call ``cb`` before each instruction whose address is in [begin, end]; returns the handle."""
    return _add(uch, UC_HOOK_CODE, cb, begin, end)


def hook_write_prot(uch: int, fn: Callable[[int, int, int], bool]) -> tuple[int, Any]:
    """``fn(physical address, size, value)`` for a store to a page mapped without write permission.

    Returning True skips the store (the callback may perform it with ``uc_mem_write``) and goes on.
    """

    def trampoline(_uc: int, _kind: int, addr: int, size: int, value: int, _user: int) -> bool:
        return fn(addr, size, value & ((1 << (8 * size)) - 1))

    cb = MEM_EVENT_CB(trampoline)
    return _add(uch, UC_HOOK_MEM_WRITE_PROT, cb, 1, 0), cb


def mem_read_into(uch: int, addr: int, buf: Any, size: int) -> bool:
    """Read guest-physical memory into a ctypes buffer; False if part of it is not mapped."""
    return _lib.uc_mem_read(uch, addr, buf, size) == 0


def mem_write_from(uch: int, addr: int, data: bytes) -> bool:
    return _lib.uc_mem_write(uch, addr, data, len(data)) == 0


def mem_read_bytes(uch: int, addr: int, size: int) -> bytes | None:
    """Guest-physical memory as bytes (one copy, unlike the binding's two); None if unmapped."""
    buf = ctypes.create_string_buffer(size)
    if _lib.uc_mem_read(uch, addr, buf, size):
        return None
    return buf.raw


def mem_write_ptr(uch: int, addr: int, ptr: int, size: int) -> bool:
    """Write ``size`` bytes from host address ``ptr`` (a ctypes buffer of ours) to guest memory."""
    return _lib.uc_mem_write(uch, addr, ptr, size) == 0
