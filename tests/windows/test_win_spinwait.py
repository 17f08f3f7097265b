"""Threads that busy-wait on each other share the CPU: a thread spinning alone is preempted when
another becomes runnable, and code it translated alone still ends counted slices."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox
from appvirt.limits import parse_limits
from appvirt.profile import Profile

EXPECTED = """\
main saw the worker's flag
worker saw the main thread's flag
worker exit code 7
"""


@pytest.mark.parametrize("bits", BITS)
def test_spinning_threads_finish(tmp_path: Path, bits: str) -> None:
    out = io.BytesIO()
    profile = Profile().with_limits(parse_limits("time=30s"))  # a regression fails, not hangs
    result = Sandbox(profile, cwd=str(tmp_path)).run([exe("spinwait", bits)], stdout=out,
                                                      host_env=TEST_ENV)  # fmt: skip
    assert (result.exit_code, result.limit, out.getvalue()) == (0, None, crlf(EXPECTED))
