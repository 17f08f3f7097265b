"""Threads of a Windows process: each has its own stack, TEB, TLS slots and saved CPU state.

All threads of a process share its Machine (one Unicorn instance); a thread's registers live in
the Machine while it runs and in ``context`` while it does not (see sched.py). What differs per
thread is memory the program reads directly (the TEB: last error, TLS slots, stack bounds, the
i386 SEH chain; implicit TLS blocks) and a little state appvirt keeps in Python (FLS values,
owned mutexes, the CRT's errno). ``WinProcess.blocks.teb`` and ``WinProcess.tid`` always describe
the thread being served, so every handler written for one thread works for all of them.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any

from unicorn import x86_const as x86

from ..loader.image import Perm
from .process import ProcessExit
from .sync import STILL_ACTIVE, KObject

DLL_THREAD_ATTACH, DLL_THREAD_DETACH = 2, 3
TEB_GUARD = 0x100  # bytes left free above the first frame on a new stack


class ThreadExit(ProcessExit):
    """Raised by ExitThread (and a thread routine's return): the calling thread ends.

    A subclass of ProcessExit so that code which only knows processes (nested callbacks, the
    dispatcher's trace line) treats it like an exit; the scheduler ends just the thread, and the
    process only when it was the last one.
    """


class State(enum.Enum):
    RUNNABLE = "runnable"
    WAITING = "waiting"
    DEAD = "dead"


@dataclass(eq=False)
class WinThread(KObject):
    """One thread; as a kernel object it is signalled when the thread has ended."""

    proc: Any
    pobj: Any  # the sched.ProcessObject of its process
    tid: int
    teb: int
    stack_low: int = 0
    stack_size: int = 0
    context: Any = None  # saved (context, pc) while another thread of the process is loaded
    entry: tuple[int, int, int] | None = None  # (start, parameter, stack) before its first run
    state: State = State.RUNNABLE
    wait: Any = None  # the sync.Wait it sleeps in
    call: Any = None  # (api, args) of the call it sleeps in, for the trace line
    result: int | None = None  # the return value of that call, written when it runs again
    exit_code: int = STILL_ACTIVE
    suspended: int = 0
    priority: int = 0
    start: Any = None  # work to do on the thread before its first instruction (DLL attach)
    owned_memory: list[int] = field(default_factory=list)  # process-heap blocks to free
    mutexes: list[Any] = field(default_factory=list)
    fls: dict[int, int] = field(default_factory=dict)
    errno_addr: int = 0
    close_handle_at_exit: int = 0  # _beginthread: the handle goes away with the thread
    void_routine: bool = False  # _beginthread: the routine returns nothing, the exit code is 0
    kind = "thread"

    @property
    def alive(self) -> bool:
        return self.state is not State.DEAD

    def signaled(self, thread: Any) -> bool:
        return not self.alive


def new_thread_memory(proc: Any, tid: int, stack_size: int) -> tuple[int, int, int]:
    """Map a stack and a TEB for a new thread and fill the TEB; returns (teb, stack_low, size)."""
    mem = proc.mem
    blocks = proc.blocks
    o = blocks.off
    size = min(max((stack_size + 0xFFFF) & ~0xFFFF, 0x10000), 64 << 20)
    low = mem.map(mem.find_free(size), size, Perm.RW, "[stack]")
    try:
        teb = mem.map(mem.find_free(o.teb_size), o.teb_size, Perm.RW, "[teb]")
    except BaseException:
        mem.unmap(low, size)
        raise
    ptr = blocks.put_ptr
    ptr(teb + o.teb_self, teb)
    ptr(teb + o.teb_peb, blocks.peb)
    ptr(teb + o.teb_stack_base, low + size)
    ptr(teb + o.teb_stack_limit, low)
    ptr(teb + o.teb_client_id, proc.pid)
    ptr(teb + o.teb_client_id + o.ptr, tid)
    if not proc.is64:
        ptr(teb, 0xFFFFFFFF)  # an empty SEH chain
    return teb, low, size


def setup_implicit_tls(proc: Any, thread: WinThread) -> None:
    """The thread's ThreadLocalStoragePointer: a fresh copy of every module's TLS template."""
    heap = proc.process_heap
    array = heap.alloc(proc.word * 64, zero=True)
    thread.owned_memory.append(array)
    for module in proc.modules:
        image = module.image
        if image is None or not image.pe_tls_index_addr:
            continue
        delta = module.base - image.base
        index = proc.read_u32(image.pe_tls_index_addr + delta)
        start, end = image.pe_tls_raw
        template = bytes(proc.mem.uc.mem_read(start + delta, end - start)) if end > start else b""
        block = heap.alloc(len(template) + 0x1000, zero=True)
        thread.owned_memory.append(block)
        proc.mem.poke(block, template)
        if index < 64:
            proc.write_ptr(array + index * proc.word, block)
    proc.blocks.put_ptr(thread.teb + proc.blocks.off.teb_tls_pointer, array)


def first_frame(proc: Any, thread: WinThread, param: int) -> int:
    """Write the new thread's first stack frame (the return address is the exit thunk, so the
    routine's return value ends the thread); returns its stack pointer."""
    top = (thread.stack_low + thread.stack_size - TEB_GUARD) & ~0xF
    if proc.is64:
        sp = top - 0x28 - 8  # shadow space, then the return address: RSP = 16n + 8
        proc.mem.poke(sp, struct.pack("<Q", proc.entry_thunk) + bytes(0x20))
    else:
        sp = top - 8
        proc.mem.poke(sp, struct.pack("<II", proc.entry_thunk, param & 0xFFFFFFFF))
    return sp


def enter(proc: Any, thread: WinThread) -> None:
    """Give a thread that never ran its first registers, from whatever the Machine holds (the
    previous thread's flags, FPU and SSE state, as a new thread inherits its creator's).

    Done by the scheduler outside the emulator: inside the i386 SYSENTER hook Unicorn's EIP is
    not the instruction's own, so a context saved and restored there resumes in the wrong place.
    """
    assert thread.entry is not None
    start, param, sp = thread.entry
    thread.entry = None
    machine = proc.machine
    if proc.is64:
        machine.reg.write(x86.UC_X86_REG_RCX, param)
    machine.sp = sp
    machine.pc = start


def attach_callbacks(proc: Any, reason: int) -> list[tuple[int, int, int]]:
    """(function, module base, reason) to call when a thread starts or ends, in load order:
    the TLS callbacks of every image, then the entry point of each DLL that wants them."""
    skip = proc.state.get("no_thread_calls", set())
    calls = []
    for module in proc.modules:
        if module.fake or module.image is None:
            continue
        for callback in module.tls_callbacks:
            calls.append((callback, module.base, reason))
        if module is not proc.exe and module.entry and module.base not in skip:
            calls.append((module.entry, module.base, reason))
    return calls


def run_detach(proc: Any, thread: WinThread) -> None:
    """What a thread runs as it ends while others go on: FLS callbacks, then DLL_THREAD_DETACH."""
    callbacks = proc.state.get("fls_callbacks", {})
    for index, value in sorted(thread.fls.items()):
        fn = callbacks.get(index, 0)
        if fn and value:
            thread.fls[index] = 0
            proc.call(fn, value)
    for fn, base, reason in attach_callbacks(proc, DLL_THREAD_DETACH):
        proc.call(fn, base, reason, 0)


def per_thread_errno(proc: Any, thread: WinThread) -> None:
    """msvcrt's errno and _doserrno live in per-thread memory."""
    if "crt" in proc.state:
        thread.errno_addr = proc.process_heap.alloc(16, zero=True)
        thread.owned_memory.append(thread.errno_addr)


def exit_current(proc: Any, code: int) -> None:
    """ExitThread for the thread being served: its detach callbacks run while it still exists
    (unless it is the last one, whose end is the process's), then ThreadExit unwinds it."""
    thread = proc.thread
    if thread is not None and sum(1 for t in thread.pobj.threads if t.alive) > 1:
        run_detach(proc, thread)
    raise ThreadExit(code)


class TooManyThreads(Exception):
    """The sandbox's ``processes`` limit (threads of every process) is reached."""


def spawn_thread(proc: Any, start: int, param: int, stack_size: int, suspended: bool) -> WinThread:
    """A new thread of ``proc`` that will run ``start(param)``; raises TooManyThreads or
    OutOfMemory (nothing is left behind then)."""
    sched = proc.sched
    if sched.limit is not None and sched.live_tasks() >= sched.limit:
        raise TooManyThreads()
    if not stack_size:
        stack_size = proc.image.stack_reserve or (1 << 20)
    tid = sched.new_id()
    teb, low, size = new_thread_memory(proc, tid, stack_size)
    thread = WinThread(proc, proc.thread.pobj, tid, teb, low, size)
    thread.suspended = int(suspended)
    setup_implicit_tls(proc, thread)
    thread.entry = (start, param, first_frame(proc, thread, param))
    sched.add_thread(proc, thread)
    return thread
