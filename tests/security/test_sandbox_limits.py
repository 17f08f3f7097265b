"""Limits enforced inside the VM: processes, files, output, instructions, time (exit codes)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from helpers import BUSYBOX, ROOT, TEST_ENV

from appvirt import Sandbox
from appvirt.limits import parse_limits
from appvirt.profile import Profile

ESCAPE = str(ROOT / "samples" / "bin" / "security" / "escape")


def run(tmp_path: Path, argv: list[str], limits: str) -> tuple[int, str | None, bytes]:
    profile = Profile.default().with_limits(parse_limits(limits))
    out = io.BytesIO()
    result = Sandbox(profile, cwd=str(tmp_path)).run(
        argv, stdin=b"", stdout=out, stderr=out, host_env=TEST_ENV
    )
    return result.exit_code, result.limit, out.getvalue()


def test_files_limit_is_emfile(tmp_path: Path) -> None:
    code, _, out = run(tmp_path, [ESCAPE, "files"], "files=10")
    assert code == 0
    assert out == b"open after 7: Too many open files\n"  # 0, 1, 2 and seven more


def test_processes_limit_is_eagain(tmp_path: Path) -> None:
    script = "for i in 1 2 3 4 5 6; do sleep 1 & done; wait; echo waited"
    code, _, out = run(tmp_path, [BUSYBOX, "sh", "-c", script], "processes=3,time=20s")
    assert b"can't fork" in out or b"Resource temporarily unavailable" in out, out
    assert code != 152


def test_output_limit_stops_the_run(tmp_path: Path) -> None:
    code, limit, out = run(tmp_path, [BUSYBOX, "yes"], "output=1000")
    assert (code, limit) == (153, "output")
    assert out == b"y\n" * 500


def test_output_under_the_limit(tmp_path: Path) -> None:
    code, limit, out = run(tmp_path, [BUSYBOX, "echo", "hi"], "output=3")
    assert (code, limit, out) == (0, None, b"hi\n")


def test_instruction_limit(tmp_path: Path) -> None:
    code, limit, _ = run(tmp_path, [ESCAPE, "spin"], "instructions=50M")
    assert (code, limit) == (152, "instructions")


COUNTER = "i=0; while :; do i=$((i+1)); echo $i; done"


def test_instruction_limit_is_counted_exactly(tmp_path: Path) -> None:
    """The same program stops at the same instruction every time (a wall-time budget would
    not), later with a larger limit, and a program that fits in its limit is unaffected."""
    outs = [run(tmp_path, [BUSYBOX, "sh", "-c", COUNTER], "instructions=20M") for _ in range(2)]
    assert outs[0] == outs[1]
    code, limit, out = outs[0]
    assert (code, limit) == (152, "instructions")
    reached = int(out.split()[-1])
    assert out == b"".join(b"%d\n" % i for i in range(1, reached + 1))
    _, _, more = run(tmp_path, [BUSYBOX, "sh", "-c", COUNTER], "instructions=40M")
    assert int(more.split()[-1]) > reached * 3 // 2
    code, limit, out = run(tmp_path, [BUSYBOX, "echo", "fits"], "instructions=20M")
    assert (code, limit, out) == (0, None, b"fits\n")


def test_cli_time_limit_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appvirt", "run", "--limit", "time=1s", ESCAPE, "spin"],
        cwd=tmp_path, capture_output=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 152
    assert b"time limit reached" in proc.stderr


def test_windows_instruction_limit_is_a_wall_time_bound(tmp_path: Path) -> None:
    apicalls = str(ROOT / "samples" / "bin" / "windows" / "apicalls64.exe")
    code, limit, _ = run(tmp_path, [apicalls, "1000000000"], "instructions=5M")
    assert (code, limit) == (152, "instructions")
