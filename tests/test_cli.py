"""The command line: exit codes, one-line errors, tracing, inspect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import sample

APPVIRT = [sys.executable, "-m", "appvirt"]


def appvirt(
    *args: str, cwd: Path | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*APPVIRT, *args], cwd=cwd, input=stdin, capture_output=True, timeout=120)


def test_hello_both_abis() -> None:
    for arch in ("x86_64", "i386"):
        res = appvirt("run", sample(f"hello-{arch}"))
        assert res.returncode == 0
        assert res.stdout == b"Hello from appvirt guest\n"


def test_missing_program_is_127(tmp_path: Path) -> None:
    res = appvirt("run", str(tmp_path / "nope"))
    assert res.returncode == 127
    assert res.stderr.startswith(b"appvirt: error: ")
    assert res.stderr.count(b"\n") == 1


def test_malformed_program_is_126(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 20)
    bad.chmod(0o755)
    res = appvirt("run", str(bad))
    assert res.returncode == 126
    assert res.stderr.startswith(b"appvirt: error: ")
    assert b"Traceback" not in res.stderr


def test_text_file_is_126(tmp_path: Path) -> None:
    script = tmp_path / "notes.txt"
    script.write_text("just text\n")
    res = appvirt("run", str(script))
    assert res.returncode == 126


def test_crash_reports_signal(tmp_path: Path) -> None:
    res = appvirt("run", sample("crash-x86_64"), "segv", cwd=tmp_path)
    assert res.returncode == 139


def test_pipe_stdin_passthrough(tmp_path: Path) -> None:
    res = appvirt("run", "/bin/busybox", "tr", "a-z", "A-Z", cwd=tmp_path, stdin=b"piped text\n")
    assert res.returncode == 0
    assert res.stdout == b"PIPED TEXT\n"


def test_trace_lines(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    res = appvirt("run", f"--trace={trace}", sample("hello-x86_64"), cwd=tmp_path)
    assert res.returncode == 0
    text = trace.read_text()
    assert 'write(1, "Hello from appvirt guest\\n", 25) = 25' in text
    assert "exit_group(0) = ?" in text


def test_trace_shows_errno(tmp_path: Path) -> None:
    res = appvirt("run", "--trace", "/bin/busybox", "cat", "missing.txt", cwd=tmp_path)
    assert res.returncode == 1
    assert b'openat(AT_FDCWD, "missing.txt", O_RDONLY' in res.stderr
    assert b"= -1 ENOENT (No such file or directory)" in res.stderr


def test_hidden_home(tmp_path: Path) -> None:
    res = appvirt("run", "/bin/busybox", "ls", "/root", "/home", cwd=tmp_path)
    assert res.returncode != 0


def test_inspect(tmp_path: Path) -> None:
    res = appvirt("inspect", sample("hello-x86_64"))
    assert res.returncode == 0
    out = res.stdout.decode()
    assert "x86_64" in out and "entry" in out.lower()


def test_inspect_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"garbage")
    res = appvirt("inspect", str(bad))
    assert res.returncode == 126
    assert res.stderr.startswith(b"appvirt: error: ")


def test_bad_limit_is_125(tmp_path: Path) -> None:
    res = appvirt("run", "--limit", "bogus=1", sample("hello-x86_64"))
    assert res.returncode == 125
    assert res.stderr.startswith(b"appvirt: error: ")


def test_time_limit(tmp_path: Path) -> None:
    res = appvirt(
        "run", "--limit", "time=1s", sample("compute-x86_64"), "100000000000", cwd=tmp_path
    )
    assert res.returncode == 152
    assert b"time limit" in res.stderr


def test_fast_exit_keeps_every_byte_and_the_status(tmp_path: Path) -> None:
    """The command ends with os._exit after flushing (appvirt/launch.py): nothing written by the
    guest or by appvirt may be lost, and the guest's status is the command's."""
    res = appvirt("run", "/bin/busybox", "sh", "-c", "seq 1 200000; exit 3", cwd=tmp_path)
    assert res.returncode == 3
    assert res.stdout == b"".join(b"%d\n" % i for i in range(1, 200001))
    report = tmp_path / "report.json"
    res = appvirt("run", f"--report={report}", sample("hello-x86_64"), cwd=tmp_path)
    assert res.returncode == 0 and b'"exit_code": 0' in report.read_bytes()


def test_help_and_errors_end_normally_too(tmp_path: Path) -> None:
    assert appvirt("--help").returncode == 0
    res = appvirt("profiles", "show", "no-such-profile")
    assert res.returncode != 0 and res.stderr.startswith(b"appvirt: error: ")
    assert b"Traceback" not in res.stderr
