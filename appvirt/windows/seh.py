"""Structured exception handling: what happens when guest code faults.

i386: the handlers registered in the TEB's exception list (``fs:[0]``) are called in order, as
``RtlDispatchException`` does, with an EXCEPTION_RECORD and a CONTEXT built from the faulting
state; a handler that returns ExceptionContinueExecution resumes at the (possibly edited) context.
x64: seh64.py dispatches through the vectored handlers, the .pdata unwind information of the
frames and the unhandled-exception filter. Without a taker, the process ends with the exception
code as its exit code, as an unhandled exception does on Windows when no debugger is attached.
"""

from __future__ import annotations

from typing import Any

# Shared by both architectures' dispatchers (seh32.py, seh64.py).
EXCEPTION_CONTINUE_EXECUTION = 0
FILTER_CONTINUE_EXECUTION = 0xFFFFFFFF  # EXCEPTION_CONTINUE_EXECUTION (-1) from a filter
EXCEPTION_NONCONTINUABLE = 0x01  # ExceptionFlags
EXCEPTION_UNWINDING = 0x02
EXCEPTION_EXIT_UNWIND = 0x04
STATUS_ACCESS_VIOLATION = 0xC0000005
STATUS_UNWIND = 0xC0000027


def dispatch_exception(proc: Any, status: int, address: int) -> bool:
    """Offer the exception to the guest's handlers; True when one of them handled it."""
    filters = proc.state.get("unhandled_filter_depth", 0)
    if filters:
        return False
    if proc.is64:
        from .seh64 import raise_fault

        return raise_fault(proc, status, address, access_params(proc, status, address))
    from .seh32 import dispatch_x86

    return dispatch_x86(proc, status, address)


def access_params(proc: Any, status: int, address: int) -> list[int]:
    """ExceptionInformation of an access violation: read (0), write (1) or execute (8), and the
    address that was accessed."""
    if status != STATUS_ACCESS_VIOLATION:
        return []
    from ..core.machine import Fault
    from .faultaddr import data_address

    fault = getattr(proc.machine, "fault", None)
    if fault is None:  # a page fault reached the interrupt hook: CR2 and the error code say it
        from unicorn import x86_const as x86

        from ..core.cpustate import CpuContext

        error = CpuContext(proc.uc).error_code
        kind = 8 if error & 0x10 else 1 if error & 2 else 0
        return [kind, proc.uc.reg_read(x86.UC_X86_REG_CR2)]
    if fault is Fault.FETCH:
        return [8, address]
    write = fault is Fault.WRITE
    return [int(write), data_address(proc, address, write)]
