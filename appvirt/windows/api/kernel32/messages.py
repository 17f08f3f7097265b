"""FormatMessage for system error codes: the text programs print after a failed call
("Unable to create process using ...: The system cannot find the file specified.")."""

from __future__ import annotations

from typing import Any

from ..decl import PTR, UINT, winapi

FROM_SYSTEM, ALLOCATE_BUFFER, IGNORE_INSERTS, MAX_WIDTH_MASK = 0x1000, 0x100, 0x200, 0xFF
ERROR_MR_MID_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER = 317, 122

# The English text Windows 10 gives for the codes appvirt's own handlers report.
MESSAGES = {
    0: "The operation completed successfully.",
    2: "The system cannot find the file specified.",
    3: "The system cannot find the path specified.",
    5: "Access is denied.",
    6: "The handle is invalid.",
    8: "Not enough memory resources are available to process this command.",
    18: "There are no more files.",
    32: "The process cannot access the file because it is being used by another process.",
    80: "The file exists.",
    87: "The parameter is incorrect.",
    109: "The pipe has been ended.",
    120: "This function is not supported on this system.",
    122: "The data area passed to a system call is too small.",
    145: "The directory is not empty.",
    183: "Cannot create a file when that file already exists.",
    193: "%1 is not a valid Win32 application.",
    203: "The system could not find the environment option that was entered.",
    267: "The directory name is invalid.",
    288: "Attempt to release mutex not owned by caller.",
    298: "Too many posts were made to a semaphore.",
    998: "Invalid access to memory location.",
    1460: "This operation returned because the timeout period expired.",
    1816: "Not enough quota is available to process this command.",
}


def _format(proc: Any, flags: int, code: int, out: int, size: int, wide: bool) -> int:
    text = MESSAGES.get(code & 0xFFFFFFFF) if flags & FROM_SYSTEM else None
    if text is None:
        proc.set_last_error(ERROR_MR_MID_NOT_FOUND)
        return 0
    if not flags & MAX_WIDTH_MASK:
        text += "\r\n"
    raw = text.encode("utf-16-le") + b"\0\0" if wide else text.encode("cp1252") + b"\0"
    if flags & ALLOCATE_BUFFER:
        block = proc.process_heap.alloc(len(raw))
        proc.write(block, raw)
        proc.write_ptr(out, block)
    else:
        if len(text) + 1 > size:
            proc.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        proc.write(out, raw)
    return len(text)


@winapi("kernel32", args=(UINT, PTR, UINT, UINT, PTR, UINT, PTR), ret=UINT)
def FormatMessageA(proc: Any, flags: int, source: int, code: int, lang: int, out: int,
                   size: int, args: int) -> int:  # fmt: skip
    """The English text of a system error code (FORMAT_MESSAGE_FROM_SYSTEM).

    The buffer is allocated with LocalAlloc when asked; other message sources are not available
    (ERROR_MR_MID_NOT_FOUND)."""
    return _format(proc, flags, code, out, size, False)


@winapi("kernel32", args=(UINT, PTR, UINT, UINT, PTR, UINT, PTR), ret=UINT)
def FormatMessageW(proc: Any, flags: int, source: int, code: int, lang: int, out: int,
                   size: int, args: int) -> int:  # fmt: skip
    return _format(proc, flags, code, out, size, True)
