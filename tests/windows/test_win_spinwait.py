"""Threads that busy-wait on each other, or sleep while another computes, share the CPU: a thread
spinning alone is preempted when another becomes runnable, code it translated alone still ends
counted slices, and a stop for a sleeper's wake-up repeats no store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox
from appvirt.core import blockstop
from appvirt.core.machine import Machine, Stop
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


@pytest.mark.parametrize("bits", BITS)
def test_a_loop_interrupted_every_millisecond_stores_exactly_once(
    tmp_path: Path, bits: str
) -> None:
    """samples/windows/ticking.c: the main thread's two-block loop is stopped whenever the other
    thread's Sleep(1) ends; each stop is exact (core/blockstop.py), so no store runs twice (with
    Unicorn's own stop from the watchdog thread the counters ended 40-100 too high)."""
    out = io.BytesIO()
    profile = Profile().with_limits(parse_limits("time=60s"))
    result = Sandbox(profile, cwd=str(tmp_path)).run([exe("ticking", bits), "60000000"],
                                                      stdout=out, host_env=TEST_ENV)  # fmt: skip
    expected = "first=60000000 second=60000000 napped=yes\n"
    assert (result.exit_code, result.limit, out.getvalue()) == (0, None, crlf(expected))


@pytest.mark.parametrize("bits", BITS)
def test_spinning_threads_share_the_cpu_without_counting(
    tmp_path: Path, bits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the host runs the exact block stop, shared slices end by it, 5 ms in, uncounted
    (counting costs 4-25x); the spinning threads still finish."""
    if not blockstop.available():
        pytest.skip("the block stop needs an x86-64 Linux host")
    counted: list[int] = []
    real = Machine.run

    def run(self: Machine, timeout_us: int = 0, count: int = 0) -> Stop:
        if count:
            counted.append(count)
        return real(self, timeout_us, count)

    monkeypatch.setattr(Machine, "run", run)
    out = io.BytesIO()
    profile = Profile().with_limits(parse_limits("time=30s"))
    result = Sandbox(profile, cwd=str(tmp_path)).run([exe("spinwait", bits)], stdout=out,
                                                      host_env=TEST_ENV)  # fmt: skip
    assert (result.exit_code, result.limit, out.getvalue()) == (0, None, crlf(EXPECTED))
    assert counted == []
