"""Ctrl-C reaches the guest: SIGINT sent to the appvirt process goes to the guest's foreground
process group, as a terminal's Ctrl-C goes to the foreground job natively.

The script prints "ready" once it runs (by then appvirt has installed its SIGINT handler), then
loops on ``sleep`` children. The same script runs natively in its own session and gets SIGINT on
its process group; status and stdout must match the expectation in both runs.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BUSYBOX, ROOT, TEST_ENV

LOOP = "echo ready; while true; do sleep 0.1; done"
CASES = [
    # (id, script, status, stdout)
    ("trap", 'trap "echo got INT; exit 3" INT; ' + LOOP, 3, b"ready\ngot INT\n"),
    ("default", LOOP, 130, b"ready\n"),
]


def _interrupt(argv: list[str], cwd: Path, group: bool) -> tuple[int, bytes, bytes]:
    """Start ``argv``, wait for its "ready" line, send SIGINT, return (status, stdout, stderr)."""
    env = {**TEST_ENV, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=group,
    )
    assert proc.stdout is not None
    try:
        readable, _, _ = select.select([proc.stdout], [], [], 30)
        first = proc.stdout.readline() if readable else b""
        time.sleep(0.5)  # inside the loop by now
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return status, first + out, err


@pytest.mark.parametrize("script,status,stdout", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ctrl_c_reaches_the_guest(tmp_path: Path, script: str, status: int, stdout: bytes) -> None:
    guest = _interrupt(
        [sys.executable, "-m", "appvirt", "run", BUSYBOX, "sh", "-c", script], tmp_path, False
    )
    assert guest[:2] == (status, stdout), guest[2].decode(errors="replace")
    native = _interrupt([BUSYBOX, "sh", "-c", script], tmp_path, True)
    assert native[:2] == (status, stdout), native[2].decode(errors="replace")
