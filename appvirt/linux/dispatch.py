"""The syscall trap: Unicorn's hook -> one handler -> the result in RAX/EAX, without leaving the VM.

This is the hot path of every guest (a getpid loop is nothing else), so:
* the number -> handler table is built once per ABI, not per Machine (fork and exec make many);
* everything a call touches is a local of one closure per Machine, and registers go through the raw
  ctypes calls of ``RegBatch``/``RegAccess`` (core/uclib.py says why);
* the closure is itself the ctypes callback of the SYSCALL hook (x86-64), or sits one frame below
  the interrupt callback (i386 ``int 0x80``): no wrapper frames;
* a call without arguments (getpid, getuid, sched_yield ...) allocates nothing: no argument list,
  no sign fix-up; the per-number counter is one list slot;
* tracing is decided once: the strace line is only formatted when a trace was asked for.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unicorn import x86_const as x86

from ..core.memory import GuestFault, OutOfMemory
from . import syscalls as _register_handlers  # noqa: F401 - the table needs every handler
from . import tables
from .signals import EXCEPTION_SIGNAL, Sig
from .syscall import HANDLERS, SIGNED_INT, SIGNED_LONG, Handler, SyscallError
from .task import Block, State

if TYPE_CHECKING:
    from ..core.machine import Machine
    from .kernel import Kernel

# (handler function, argument count, C-int argument indexes, C-long argument indexes, declaration)
Entry = tuple[Callable[..., Any], int, tuple[int, ...], tuple[int, ...], Handler]

REGS64 = [x86.UC_X86_REG_RAX, x86.UC_X86_REG_RDI, x86.UC_X86_REG_RSI, x86.UC_X86_REG_RDX,
          x86.UC_X86_REG_R10, x86.UC_X86_REG_R8, x86.UC_X86_REG_R9]  # fmt: skip
REGS32 = [x86.UC_X86_REG_EAX, x86.UC_X86_REG_EBX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX,
          x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI, x86.UC_X86_REG_EBP]  # fmt: skip

_TABLES: dict[bool, list[Entry | None]] = {}


def dispatch_table(is64: bool) -> list[Entry | None]:
    """Handlers indexed by syscall number for one ABI (built on first use, then shared)."""
    table = _TABLES.get(is64)
    if table is None:
        numbers = tables.X86_64 if is64 else tables.I386
        table = [None] * (max(numbers) + 1)
        for nr, name in numbers.items():
            h = HANDLERS.get(name)
            if h is not None:
                ints = tuple(i for i, a in enumerate(h.args) if a in SIGNED_INT)
                longs = tuple(i for i, a in enumerate(h.args) if a in SIGNED_LONG)
                table[nr] = (h.fn, len(h.args), ints, longs, h)
        _TABLES[is64] = table
    return table


def install(kernel: Kernel, machine: Machine) -> list[int]:
    """Install the syscall, interrupt and invalid-instruction traps of ``machine``.

    Returns the machine's per-number call counters (the kernel folds them into the run's counts
    by name when the machine goes).
    """
    is64 = machine.is64
    table = dispatch_table(is64)
    limit = len(table)
    counts = [0] * limit
    regs = machine.batch(REGS64 if is64 else REGS32, 64 if is64 else 32)
    ret_reg = x86.UC_X86_REG_RAX if is64 else x86.UC_X86_REG_EAX
    read_regs, reg_h, reg_ids, reg_ptrs, vals, nregs = regs.raw_reader()
    ret_buf, write_reg, ret_ref = machine.reg.raw_writer()
    word_bits = 64 if is64 else 32
    sign_bit = 1 << (word_bits - 1)
    full = 1 << word_bits
    mask = full - 1
    dead, runnable = State.DEAD, State.RUNNABLE
    tracing = kernel.tracing
    events = kernel.events
    request_stop = machine.request_stop
    block, unknown, deliver_pending = kernel._block, kernel._unknown, kernel.deliver_pending
    no_args: list[int] = []

    bias = 2 if is64 else 0  # see Cpu.on_syscall_fast: inside the SYSCALL hook RIP lags by 2

    def serve(_uc: int = 0, _user: int = 0) -> None:
        machine.pc_bias = bias
        try:
            task = machine.task
            if task is None or task.state is dead:  # still running after exit: stop it
                request_stop()
                return
            kernel.current = task
            read_regs(reg_h, reg_ids, reg_ptrs, nregs)
            nr = vals[0]
            entry = table[nr] if nr < limit else None
            if entry is None:
                ret: int | None = unknown(task, nr, vals)
            else:
                fn, nargs, ints, longs, handler = entry
                counts[nr] += 1
                try:
                    if nargs:
                        args = vals[1 : 1 + nargs]
                        for i in ints:
                            a = args[i] & 0xFFFFFFFF
                            args[i] = a - 0x100000000 if a & 0x80000000 else a
                        for i in longs:
                            if args[i] & sign_bit:
                                args[i] -= full
                        ret = fn(task, *args)
                    else:
                        args = no_args
                        ret = fn(task)
                except Block as blk:
                    block(machine, task, blk)
                    return
                except SyscallError as err:
                    ret = -err.errno
                except OSError as err:
                    ret = -(err.errno or errno.EIO)
                except GuestFault:
                    ret = -errno.EFAULT
                except OutOfMemory:
                    ret = -errno.ENOMEM
                if task.restart:
                    task.restart.clear()
                if tracing:
                    from .trace import format_call

                    line = format_call(task.proc, handler, args, ret if ret is not None else 0)
                    events.line(line)
            if ret is not None and machine.task is task:
                ret_buf.value = ret & mask
                write_reg(reg_h, ret_reg, ret_ref)
            if (
                kernel.resched
                or task.pending
                or task.proc.pending
                or task.state is not runnable
                or machine.task is not task
            ):
                if task.state is runnable and (task.pending or task.proc.pending):
                    deliver_pending(task)
                request_stop()
        except BaseException as exc:  # noqa: BLE001 - a bug in a handler: re-raised by run()
            machine.fail(exc)
        finally:
            machine.pc_bias = 0

    def fault(intno: int) -> None:
        """A CPU exception (or ``int 0x80`` from 64-bit code, which Linux refuses here)."""
        task = machine.task
        if task is None or task.state is dead:
            request_stop()
            return
        sig = Sig.SIGSEGV if intno == 0x80 else EXCEPTION_SIGNAL.get(intno, Sig.SIGSEGV)
        kernel.force_signal(task, sig)

    def invalid() -> bool:
        task = machine.task
        if task is None or task.state is dead:
            request_stop()
            return True
        kernel.force_signal(task, Sig.SIGILL)
        return True

    def interrupt(_uc: int, intno: int, _user: int) -> None:
        if intno == 0x80 and not is64:
            serve()
            return
        try:
            fault(intno)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            machine.fail(exc)

    if is64:
        machine.on_syscall_raw(serve)
    machine.on_interrupt_raw(interrupt)
    machine.on_invalid(invalid)
    return counts
