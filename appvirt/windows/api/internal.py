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
    """A callback returned here: end the nested run that called it (see WinProcess.call)."""
    proc.callback_returned = True
    proc.machine.request_stop()


@winapi("appvirt", "__thread_return", args=(UINT,), ret=VOID)
def thread_return(proc: Any, code: int) -> None:
    """The entry point returned: the only thread ends, so the process exits with its value."""
    from . import msvcrt

    msvcrt.flush_all(proc)
    raise ProcessExit(code)
