"""A task spinning alone (no blocking call) must not starve a task whose sleep has ended.

The watchdog stops a lone runnable task when the earliest sleeper (nanosleep, clock_nanosleep,
poll/select timeouts, futex waits) or alarm is due (samples/linux/spinwake.c; its output is
compared with native runs in tests/differential/test_samples.py).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from helpers import TEST_ENV, run_guest, sample

from appvirt import Sandbox
from appvirt.linux import watchdog
from appvirt.profile import resolve_profile

THREADS_OUTPUT = b"".join(
    b"thread %s: flag set, spun yes, sleep returned 0\n" % how
    for how in (b"nanosleep", b"clock_nanosleep", b"poll", b"select", b"futex")
)
FORK_OUTPUT = b'fork: parent read "ready" after EAGAIN, child exited 0\n'


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_spinner_lets_sleepers_wake(tmp_path: Path, arch: str) -> None:
    started = time.monotonic()
    out = run_guest([sample(f"spinwake-{arch}")], tmp_path)
    assert (out.status, out.stdout) == (0, THREADS_OUTPUT + FORK_OUTPUT), out.stderr
    assert time.monotonic() - started < 20  # six 50 ms sleeps: not a deadlock broken by a limit


def test_spinner_lets_sleepers_wake_with_frozen_clock(tmp_path: Path) -> None:
    """A frozen clock moves when a lone task has spun until a sleeper's deadline in real time."""
    result = Sandbox(resolve_profile("reproducible"), cwd=str(tmp_path)).run(
        [sample("spinwake-x86_64")], stdout=(out := io.BytesIO()), stderr=io.BytesIO(),
        host_env=TEST_ENV,
    )  # fmt: skip
    assert (result.exit_code, out.getvalue()) == (0, THREADS_OUTPUT + FORK_OUTPUT)


class _Blk:
    def __init__(self, deadline: int | None) -> None:
        self.deadline = deadline


class _Task:
    def __init__(self, deadline: int | None) -> None:
        self.block = None if deadline is None else _Blk(deadline)


class _Proc:
    def __init__(self, itimer: int) -> None:
        self.alive = True
        self.itimer_real_ns = itimer


class _Kernel:
    def __init__(self, tasks: list[_Task], procs: list[_Proc]) -> None:
        self.tasks = tasks
        self.processes = dict(enumerate(procs))

    def now_ns(self) -> int:
        return 1_000_000_000


def test_next_deadline_includes_sleepers() -> None:
    nobody = _Kernel([_Task(None)], [_Proc(0)])
    assert watchdog.next_wake_ns(nobody) is None
    assert watchdog.next_deadline(nobody, None) is None
    assert watchdog.next_deadline(nobody, 123.0) == 123.0
    k = _Kernel([_Task(None), _Task(1_500_000_000), _Task(1_200_000_000)], [_Proc(1_900_000_000)])
    assert watchdog.next_wake_ns(k) == 1_200_000_000
    before = time.monotonic()
    moment = watchdog.next_deadline(k, None)
    assert moment is not None and before + 0.2 <= moment <= time.monotonic() + 0.2
    assert watchdog.next_deadline(k, before) == before


def test_spinner_lets_sleepers_wake_without_watchdog(tmp_path: Path) -> None:
    """Outside the main thread there is no watchdog: lone tasks run in time slices, and counted
    slices start from freshly translated code."""
    import threading

    result: list[tuple[int, bytes]] = []

    def body() -> None:
        out = run_guest([sample("spinwake-i386")], tmp_path)
        result.append((out.status, out.stdout))

    worker = threading.Thread(target=body)
    worker.start()
    worker.join(60)
    assert result == [(0, THREADS_OUTPUT + FORK_OUTPUT)]
