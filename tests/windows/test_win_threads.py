"""Windows threads (samples/windows/threads.c): synchronisation, exit codes, deadlocks, limits.

Every check of the sample prints a value that does not depend on how the threads interleave, so
the whole output is compared. The workers really contend: they block in EnterCriticalSection
while the main thread holds the lock (it sees them all arrived and none inside).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from helpers import TEST_ENV
from test_win_samples import BITS, crlf, exe

from appvirt import Sandbox
from appvirt.limits import parse_limits
from appvirt.profile import Profile

THREADS_OUTPUT = """exit code while running: 259
workers arrived: 4, inside while main holds the lock: 0
WaitForMultipleObjects(all): 0
total 20010000 (expected 20010000), entries 8000
worker 1 exit code 101
worker 2 exit code 102
worker 3 exit code 103
worker 4 exit code 104
ping-pong: ioioioioio
auto-reset event after the wait: 258
recursive: 0 0 release: 1 1 1 0 error 288
owner exited with 9; wait: 0x80; again: 0x0
wait-any timeout: 0x102
wait timeout: 0x102
wait-any: 1
wait-all timeout: 0x102
consumed 100 items, sum 152550, queue never above 4: yes
semaphore over its maximum: 0 error 298
condition wait timeout: 0 error 1460
second shared: 1, exclusive while shared: 0
srw handoff reached 3; tls slots private: 3/3, main keeps 7
_beginthreadex exit codes sum 6, init-once callback ran 1 time(s)
done
"""


def run(tmp_path: Path, argv: list[str], limits: str = "time=60s",
        trace: io.StringIO | None = None) -> tuple[int, bytes, bytes]:  # fmt: skip
    profile = Profile.default().with_limits(parse_limits(limits))
    out, err = io.BytesIO(), io.BytesIO()
    result = Sandbox(profile, cwd=str(tmp_path)).run(
        argv, stdin=b"", stdout=out, stderr=err, host_env=TEST_ENV, trace=trace
    )
    return result.exit_code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("bits", BITS)
def test_threads_sample(tmp_path: Path, bits: str) -> None:
    assert run(tmp_path, [exe("threads", bits)]) == (0, crlf(THREADS_OUTPUT), b"")


@pytest.mark.parametrize("bits", BITS)
def test_the_last_thread_ends_the_process_with_its_code(tmp_path: Path, bits: str) -> None:
    expected = crlf("main thread exits first\nlast thread ends the process\n")
    assert run(tmp_path, [exe("threads", bits), "lastthread"]) == (7, expected, b"")


@pytest.mark.parametrize("bits", BITS)
def test_exit_process_from_another_thread(tmp_path: Path, bits: str) -> None:
    expected = crlf("worker calls ExitProcess(5)\n")
    assert run(tmp_path, [exe("threads", bits), "exitprocess"]) == (5, expected, b"")


@pytest.mark.parametrize("bits", BITS)
def test_a_deadlock_ends_the_run_with_a_message(tmp_path: Path, bits: str) -> None:
    code, out, err = run(tmp_path, [exe("threads", bits), "deadlock"])
    assert code == 0xC0000194 & 0xFF  # STATUS_POSSIBLE_DEADLOCK, low 8 bits
    assert out == b""
    assert re.fullmatch(
        rb"appvirt: deadlock: every guest thread is waiting \(thread \d+ of threads(32|64)\.exe "
        rb"in EnterCriticalSection, thread \d+ of threads\1\.exe in EnterCriticalSection\); "
        rb"ending the run\n",
        err,
    ), err


@pytest.mark.parametrize("bits", BITS)
def test_processes_limit_counts_threads(tmp_path: Path, bits: str) -> None:
    code, out, _ = run(tmp_path, [exe("threads", bits), "many", "5"], "processes=3,time=60s")
    assert (code, out) == (2, crlf("started 2 of 5 threads, last error 8\n"))
    code, out, _ = run(tmp_path, [exe("threads", bits), "many", "5"])
    assert (code, out) == (5, crlf("started 5 of 5 threads, last error 0\n"))


def test_trace_shows_thread_calls_and_finished_waits(tmp_path: Path) -> None:
    trace = io.StringIO()
    code, _, _ = run(tmp_path, [exe("threads", "64"), "lastthread"], trace=trace)
    assert code == 7
    lines = trace.getvalue().splitlines()
    main = next(m.group(1) for m in (re.match(r"\[tid (\d+)\] kernel32!CreateThread\(NULL, 0, "
                                              r"0x[0-9a-f]+, NULL, 0, NULL\) = 0x[0-9a-f]+$", line)
                                     for line in lines) if m)  # fmt: skip
    assert f"[tid {main}] kernel32!ExitThread(0)" in lines
    workers = {m.group(1) for line in lines if (m := re.match(r"\[tid (\d+)\]", line))} - {main}
    assert len(workers) == 1
    worker = workers.pop()
    # The worker's Sleep is traced when it ends, after the main thread's exit; then it returns.
    assert lines.index(f"[tid {worker}] kernel32!Sleep(30)") > lines.index(
        f"[tid {main}] kernel32!ExitThread(0)"
    )
    assert f"[tid {worker}] appvirt!__thread_return(7)" in lines
