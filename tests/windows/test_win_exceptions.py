"""Exceptions as Windows delivers them: the except (C++), survive and crash samples.

The expected output is what the programs print on Windows. except64.exe throws through the
operating system (RaiseException, the .pdata/.xdata walk calling libgcc's language handler,
RtlUnwindEx running the destructors, a collided unwind for every cleanup frame); except32.exe
unwinds with DWARF tables in the program itself, so both must print the same. Destructor order
follows C++: the innermost frame's objects go first, and a frame's guard outlives its own catch
block, so ``leave level1`` comes after level1's rethrow message.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import run_guest
from test_win_samples import BITS, crlf, exe


def levels(middle: str, after3: str = "", after2: str = "") -> str:
    return ("enter level1\nenter level2\nenter level3\n" + after3 + "leave level3\n" + after2
            + "leave level2\n" + middle + "leave level1\n")  # fmt: skip


EXCEPT_OUTPUT = (
    levels("")
    + "mode 0: std::exception what(): disk on fire\n"
    + levels("level1 caught Custom 42, rethrowing\n")
    + "mode 1: Custom 42 after rethrow\n"
    + levels("")
    + "mode 2: catch(...)\n"
    + levels("", after3="level3 returns\n", after2="back in level2\n")
    + "mode 3: no exception\n"
    "caught inner, throwing another\n"
    "caught outer\n"
    "string::at: basic_string::at: __n (which is 10) >= this->size() (which is 3)\n"
    "caught 100 ints, sum 4950\n"
    "done\n"
)

ABORT = (
    "\nThis application has requested the Runtime to terminate it in an unusual way.\n"
    "Please contact the application's support team for more information.\n"
)


@pytest.mark.parametrize("bits", BITS)
def test_cpp_exceptions_unwind_through_frames(tmp_path: Path, bits: str) -> None:
    out = run_guest([exe("except", bits)], tmp_path)
    assert (out.status, out.stderr) == (0, b"")
    assert out.stdout == crlf(EXCEPT_OUTPUT)


@pytest.mark.parametrize("bits", BITS)
def test_uncaught_cpp_exception_terminates(tmp_path: Path, bits: str) -> None:
    """No catch: the search finds no handler, so nothing is unwound (``leave main`` never
    prints); std::terminate reports the exception and abort() exits with status 3."""
    out = run_guest([exe("except", bits), "uncaught"], tmp_path)
    assert (out.status, out.stdout) == (3, crlf("enter main\n"))
    assert out.stderr == crlf(
        "terminate called after throwing an instance of 'std::runtime_error'\n"
        "  what():  nobody catches this\n" + ABORT
    )


SURVIVE_OUTPUT = """handler added: 1
vectored: access violation (c0000005), read of 0x10, at the faulting pc: 1
load from 0x10 = 42
vectored: access violation (c0000005), write of 0x20, at the faulting pc: 1
store to 0x20 = 42
vectored: c0000094, searching on
filter: integer divide by zero (c0000094)
100 / 0 = 7
vectored: e0000042, searching on
filter: e0000042 with 2 parameters: 1 2, noncontinuable: 0
after RaiseException
removed: 1
removed again: 0
filter: integer divide by zero (c0000094)
100 / 0 = 7
done
"""


@pytest.mark.parametrize("bits", BITS)
def test_vectored_handler_and_filter_survive_faults(tmp_path: Path, bits: str) -> None:
    """Vectored handlers come first; the frames' handlers (MinGW's startup filter declines)
    next; the unhandled-exception filter last. Each resumes at the CONTEXT it edited."""
    out = run_guest([exe("survive", bits)], tmp_path)
    assert (out.status, out.stderr) == (0, b"")
    assert out.stdout == crlf(SURVIVE_OUTPUT)


@pytest.mark.parametrize("bits", BITS)
def test_unhandled_access_violation_ends_with_its_code(tmp_path: Path, bits: str) -> None:
    """Windows ends the process with STATUS_ACCESS_VIOLATION as its exit code; appvirt passes
    its low 8 bits to the shell and names the full code in the trace (docs/windows.md)."""
    trace = io.StringIO()
    out = run_guest([exe("crash", bits)], tmp_path, trace=trace)
    assert (out.status, out.stdout, out.stderr) == (
        5, crlf("about to write through a null pointer\n"), b"")  # fmt: skip
    crashes = [line for line in trace.getvalue().splitlines() if "unhandled exception" in line]
    assert len(crashes) == 1 and crashes[0].startswith("unhandled exception 0xc0000005 at ")


def test_trace_shows_the_unwind_calls(tmp_path: Path) -> None:
    """Every throw is a RaiseException of libgcc's code 0x20474343 (107: the loop's 100, the
    four modes with one rethrow, the nested pair and string::at); each catch ends in an
    RtlUnwindEx, and cleanups are collided unwinds started by a nested 0x21474343 exception."""
    trace = io.StringIO()
    out = run_guest([exe("except", "64")], tmp_path, trace=trace)
    assert out.status == 0
    lines = trace.getvalue().splitlines()
    throws = [
        line for line in lines if line.startswith("kernel32!RaiseException(0x20474343, 0, 1, ")
    ]
    nested = [
        line for line in lines if line.startswith("kernel32!RaiseException(0x21474343, 1, 4, ")
    ]
    unwinds = [line for line in lines if line.startswith("kernel32!RtlUnwindEx(")]
    assert len(throws) == 107
    assert nested and all(line.endswith(") = ?") for line in nested)  # they never return
    assert len(unwinds) >= len(throws) + len(nested)
    assert any(line.startswith("kernel32!RtlCaptureContext(") for line in lines)


class _FakeProc:
    """What faultaddr reads: code bytes at the PC and register values."""

    is64, word = True, 8

    def __init__(self, code: bytes, regs: dict[str, int]) -> None:
        from unicorn import x86_const as x86

        self.code = code
        self.values = {getattr(x86, f"UC_X86_REG_{k.upper()}"): v for k, v in regs.items()}
        self.uc = self

    def read(self, addr: int, size: int) -> bytes:
        return self.code.ljust(size, b"\x90")[:size]

    def reg_read(self, reg: int) -> int:
        return self.values.get(reg, 0)


@pytest.mark.parametrize(
    ("code", "regs", "write", "address"),
    [
        (bytes.fromhex("8b449108"), {"rcx": 0x1000, "rdx": 3}, False, 0x1014),  # [rcx+rdx*4+8]
        (bytes.fromhex("8905f0ffffff"), {}, True, 0x400000 + 6 - 0x10),  # [rip-0x10]
        (bytes.fromhex("65488b042530000000"), {"gs_base": 0x7000}, False, 0x7030),  # gs:[0x30]
        (bytes.fromhex("f3a4"), {"rsi": 0x10, "rdi": 0x20}, True, 0x20),  # rep movsb: the store
    ],
)
def test_access_violation_address_from_the_instruction(
    code: bytes, regs: dict[str, int], write: bool, address: int
) -> None:
    """A memory fault that Unicorn reports without an address: decoded from the instruction."""
    from appvirt.windows.faultaddr import data_address

    assert data_address(_FakeProc(code, regs), 0x400000, write) == address
