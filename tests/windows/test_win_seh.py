"""i386 structured exception handling: handlers registered by hand on the fs:[0] chain.

``data/seh32.c`` (built into ``data/seh32.exe`` with MinGW, see its header) installs
EXCEPTION_REGISTRATION_RECORDs with inline assembly, reads address 0 (or divides by zero, or runs
ud2), and prints what each handler receives. The expected lines are what Windows' RtlDispatchException and RtlUnwind give them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import run_guest

DATA = Path(__file__).parent / "data"
SEEN = "code=c0000005 flags={flags} params=2 read=0 eip_is_fault=1"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def run_mode(tmp_path: Path, mode: str):  # noqa: ANN201 - helpers.Outcome
    shutil.copyfile(DATA / "seh32.exe", tmp_path / "seh32.exe")
    return run_guest([str(tmp_path / "seh32.exe"), mode], tmp_path)


@pytest.mark.parametrize(
    ("mode", "lines"),
    [
        ("resume", ["outer: " + SEEN.format(flags=0)]),
        # CPU exceptions other than access violations carry no parameters.
        ("divide", ["outer: code=c0000094 flags=0 params=0 read=0 eip_is_fault=1"]),
        ("illegal", ["outer: code=c000001d flags=0 params=0 read=0 eip_is_fault=1"]),
        ("search", ["inner: flags=0", "outer: " + SEEN.format(flags=0)]),
        (
            "unwind",
            [
                "inner: flags=0",
                "unwinder: frame_is_outer=1",
                "inner: flags=2",  # RtlUnwind calls it again with EXCEPTION_UNWINDING
                "unwinder: head_is_frame=1",  # ... and unlinks it
                "unwinder: " + SEEN.format(flags=2),
            ],
        ),
    ],
)
def test_handler_resumes_after_exception(tmp_path: Path, mode: str, lines: list[str]) -> None:
    out = run_mode(tmp_path, mode)
    expected = "\n".join(["chain_end=1", *lines, "resumed: value=42"]) + "\n"
    assert (out.status, out.stdout) == (0, crlf(expected))


def test_declined_exception_ends_the_process_with_its_code(tmp_path: Path) -> None:
    out = run_mode(tmp_path, "unhandled")
    # 0xC0000005 seen by a shell: its low 8 bits.
    assert (out.status, out.stdout) == (5, crlf("chain_end=1\ninner: flags=0\n"))


@pytest.mark.parametrize("bits", ["32", "64"])
def test_callback_results_reach_the_caller(tmp_path: Path, bits: str) -> None:
    """``data/callbacks.c``: msvcrt's qsort and bsearch get their comparator's result (a nested
    call into guest code returns the callee's EAX/RAX)."""
    out = run_guest([str(DATA / f"callbacks{bits}.exe")], tmp_path)
    assert (out.status, out.stdout) == (0, crlf("9 7 5 3 2 1\nbsearch 7: 1\n"))
