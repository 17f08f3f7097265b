"""Exports appvirt has no prototype for fail as documented, and on i386 still pop their arguments
(read from the caller's ``sub esp, N``), so a MinGW program that calls them keeps its stack."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox

EXPECTED = "last error 120\nstack moved by 0 bytes\nfailed calls 100 of 100\n"


@pytest.mark.parametrize("bits", BITS)
def test_undeclared_exports_fail_and_keep_the_stack(tmp_path: Path, bits: str) -> None:
    out = io.BytesIO()
    result = Sandbox(cwd=str(tmp_path)).run([exe("undeclared", bits)], stdout=out,
                                            host_env=TEST_ENV)  # fmt: skip
    assert (result.exit_code, out.getvalue()) == (0, crlf(EXPECTED))
    assert result.unknown_syscalls["kernel32!Beep"] == 50
    assert result.unknown_syscalls["kernel32!GetProcessAffinityMask"] == 50
