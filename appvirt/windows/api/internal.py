"""appvirt's own entry points in guest memory: the return address of callbacks and threads.

They live in a hidden module (``appvirt.dll``, not in the PEB's loader lists): the sentinel that
ends a nested call into guest code, and the address the entry point returns to, which ends the
process with the returned value as Windows' BaseThreadInitThunk does.
"""

from __future__ import annotations

from typing import Any

from ..process import ProcessExit
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
    """The entry point returned: the only thread ends, so the process exits with its value."""
    from . import msvcrt

    msvcrt.flush_all(proc)
    raise ProcessExit(code)
