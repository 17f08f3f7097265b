"""Windows child processes (samples/windows/spawn.c): CreateProcess inside the sandbox.

The child is the args sample of the same bitness, started with a command line that exercises
the CRT's quoting rules, its stdout an inheritable pipe the parent reads, inside a job object;
then sharing the parent's console; then a child that hangs until TerminateProcess.
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

SPAWN_OUTPUT = """job: ok
AssignProcessToJobObject: 1
| argc=8
| argv[0]=args{bits}
| argv[1]=one
| argv[2]=two words
| argv[3]=q"uote
| argv[4]=back\\\\slash
| argv[5]=end\\\\
| argv[6]=--exit
| argv[7]=7
| cmdline_tail=one "two words" "q\\"uote" back\\\\slash "end\\\\\\\\" --exit 7
| env_count=1
| env=APPVIRT_FROM_PARENT=yes getenv=same
| exit=7
pipe closed: error 109
wait: 0
child exit code: 7
job limit flags: 0x2000, size ok
second child shares the console:
argc=3
argv[0]=args{bits}
argv[1]=--exit
argv[2]=3
cmdline_tail=--exit 3
env_count=1
env=APPVIRT_FROM_PARENT=yes getenv=same
exit=3
second child exit code: 3
hanging child, wait 50 ms: 0x102
still active: 259
TerminateProcess: 1
terminated child exit code: 42
missing program: failed error 2
"""

LIMITED_OUTPUT = """job: ok
CreateProcessA: error 1816
second child shares the console:
CreateProcessA: error 1816
CreateProcessA: error 1816
missing program: failed error 1816
"""


def run(tmp_path: Path, argv: list[str], limits: str = "time=60s",
        trace: io.StringIO | None = None) -> tuple[int, bytes, bytes]:  # fmt: skip
    profile = Profile.default().with_limits(parse_limits(limits))
    out, err = io.BytesIO(), io.BytesIO()
    result = Sandbox(profile, cwd=str(tmp_path)).run(
        argv, stdin=b"", stdout=out, stderr=err, host_env=TEST_ENV,
        env={"APPVIRT_FROM_PARENT": "yes"}, trace=trace,
    )  # fmt: skip
    return result.exit_code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("bits", BITS)
def test_spawn_sample(tmp_path: Path, bits: str) -> None:
    code, out, err = run(tmp_path, [exe("spawn", bits)])
    assert (code, err) == (7, b"")
    assert out == crlf(SPAWN_OUTPUT.format(bits=bits))


@pytest.mark.parametrize("bits", BITS)
def test_processes_limit_refuses_children(tmp_path: Path, bits: str) -> None:
    code, out, _ = run(tmp_path, [exe("spawn", bits)], "processes=1,time=60s")
    assert (code, out) == (1, crlf(LIMITED_OUTPUT))


def test_trace_names_the_child_and_its_calls(tmp_path: Path) -> None:
    trace = io.StringIO()
    code, _, _ = run(tmp_path, [exe("spawn", "64")], trace=trace)
    assert code == 7
    text = trace.getvalue()
    parent = re.search(r'\[tid (\d+)\] kernel32!CreateProcessA\(NULL, "\\"C:\\\\.*\\\\args64\.exe'
                       r'\\" one \\"two words\\" .*", NULL, NULL, 1, 0, NULL, NULL, 0x[0-9a-f]+, '
                       r"0x[0-9a-f]+\) = 1\n", text)  # fmt: skip
    assert parent is not None
    # The child's own calls are in the same trace, under its thread id.
    child = re.search(r"\[tid (\d+)\] kernel32!GetCommandLineA\(\) = ", text)
    assert child is not None and child.group(1) != parent.group(1)
    assert f"[tid {child.group(1)}] msvcrt!exit(7)\n" in text
    assert re.search(rf"\[tid {parent.group(1)}\] kernel32!TerminateProcess\(0x[0-9a-f]+, 42\) = 1\n",
                     text)  # fmt: skip
