"""Structured exception handling: what happens when guest code faults.

i386: the handlers registered in the TEB's exception list (``fs:[0]``) are called in order, as
``RtlDispatchException`` does, with an EXCEPTION_RECORD and a CONTEXT built from the faulting
state; a handler that returns ExceptionContinueExecution resumes at the (possibly edited) context.
x64 unwinding for programs that call RtlLookupFunctionEntry/RtlVirtualUnwind themselves lives in
api/ntdll.py. Without a taker, the process ends with the exception code as its exit code, as an
unhandled exception does on Windows when no debugger is attached.
"""

from __future__ import annotations

from typing import Any

EXCEPTION_CONTINUE_EXECUTION = 0


def dispatch_exception(proc: Any, status: int, address: int) -> bool:
    """Offer the exception to the guest's handlers; True when one of them handled it."""
    filters = proc.state.get("unhandled_filter_depth", 0)
    if filters:
        return False
    if proc.is64:
        return False
    from .seh32 import dispatch_x86

    return dispatch_x86(proc, status, address)
