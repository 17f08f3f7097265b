"""appvirt's own entry points in guest memory: the return address of callbacks and threads.

They live in a hidden module (``appvirt.dll``, not in the PEB's loader lists): the sentinel that
ends a nested call into guest code, and the address the entry point returns to, which ends the
thread with the returned value as Windows' BaseThreadInitThunk does.
"""

from __future__ import annotations

from typing import Any

from .decl import UINT, VOID, winapi


@winapi("appvirt", "__callback_return", ret=VOID)
def callback_return(proc: Any) -> None:
    """A callback returned here: end the nested run that called it (see WinProcess.call).

    The stub copied the callback's result to R10 (x64) or ECX (i386) before this trap."""
    from unicorn import x86_const as x86

    reg = x86.UC_X86_REG_R10 if proc.is64 else x86.UC_X86_REG_ECX
    proc.callback_result = proc.uc.reg_read(reg)
    proc.callback_returned = True
    proc.machine.request_stop()


@winapi("appvirt", "__thread_return", args=(UINT,), ret=VOID)
def thread_return(proc: Any, code: int) -> None:
    """A thread's routine (or the entry point) returned: the thread ends with its value, as
    ExitThread; the last thread's end is the process's, with that exit code."""
    from ..threads import exit_current

    thread = proc.thread
    exit_current(proc, 0 if thread is not None and thread.void_routine else code)
