"""How runnable tasks share the CPU (linux/kernel.py ``_shared_slice``).

A task that makes syscalls (a pipeline's members) runs uncounted and gives up the CPU at its first
syscall after the slice; one that computes without syscalls for longer than the grace after its
slice is stopped once by the watchdog, and from then on its slices end by the exact block stop
(core/blockstop.py), or are counted where the host cannot run that. Every case must give the
same output as a native run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import BUSYBOX, SAMPLES, run_guest, run_native

from appvirt.core import blockstop
from appvirt.linux import kernel
from appvirt.linux.kernel import Kernel


@pytest.fixture
def slices(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Counts of shared and counted slices, and the Machines that turned counted."""
    seen: dict[str, Any] = {"shared": 0, "counted": 0, "compute_bound": 0, "exact": 0}
    shared, counted = Kernel._shared_slice, Kernel._counted_slice

    def shared_slice(self: Kernel, machine: Any, watchdog: Any) -> Any:
        seen["shared"] += 1
        seen["exact"] += machine.block_stop is not None
        stop = shared(self, machine, watchdog)
        seen["compute_bound"] = max(seen["compute_bound"], len(self._compute_bound))
        return stop

    def counted_slice(self: Kernel, machine: Any, watchdog: Any) -> Any:
        seen["counted"] += 1
        return counted(self, machine, watchdog)

    monkeypatch.setattr(Kernel, "_shared_slice", shared_slice)
    monkeypatch.setattr(Kernel, "_counted_slice", counted_slice)
    return seen


def test_a_pipeline_shares_the_cpu_without_counting(tmp_path: Path, slices: dict[str, Any]) -> None:
    script = "seq 1 20000 | sort -rn | uniq | head -n 3; seq 1 3000 | sort | wc -l"
    argv = [BUSYBOX, "sh", "-c", script]
    native, guest = run_native(argv, tmp_path), run_guest(argv, tmp_path)
    assert (guest.status, guest.stdout) == (native.status, native.stdout), guest.stderr
    assert slices["shared"] > 0
    assert slices["counted"] == 0 and slices["compute_bound"] == 0


def _two_loops(tmp_path: Path, iterations: int) -> None:
    """Two compute loops with no syscall inside, runnable at the same time: same output as native."""
    shutil.copy(SAMPLES / "compute-x86_64", tmp_path / "compute")  # the cwd is visible inside
    script = f"./compute {iterations} & ./compute {iterations + 1}; wait"
    argv = [BUSYBOX, "sh", "-c", script]
    native, guest = run_native(argv, tmp_path), run_guest(argv, tmp_path)
    assert guest.status == native.status == 0, guest.stderr
    assert sorted(guest.stdout.splitlines()) == sorted(native.stdout.splitlines())


def test_short_computations_side_by_side_finish_uncounted(
    tmp_path: Path, slices: dict[str, Any]
) -> None:
    _two_loops(tmp_path, 20_000_000)  # ~50 ms each: within the grace, no outside stop
    assert slices["counted"] == 0 and slices["compute_bound"] == 0


def test_a_computation_past_the_grace_is_stopped_once_then_exactly(
    tmp_path: Path, slices: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernel, "SHARED_GRACE_S", 0.005)
    _two_loops(tmp_path, 30_000_000)  # ~75 ms each
    assert slices["compute_bound"] >= 1
    if blockstop.available():  # later slices end by the exact block stop, uncounted
        assert slices["exact"] > 0 and slices["counted"] == 0
    else:
        assert slices["counted"] > 0


def test_without_the_block_stop_a_computation_turns_counted(
    tmp_path: Path, slices: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernel, "SHARED_GRACE_S", 0.005)
    monkeypatch.setattr(blockstop, "available", lambda: False)
    _two_loops(tmp_path, 10_000_000)  # ~25 ms each
    assert slices["compute_bound"] >= 1 and slices["counted"] > 0 and slices["exact"] == 0
