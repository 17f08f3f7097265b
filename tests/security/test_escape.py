"""The adversarial suite: guest programs that try to escape, judged from the host side.

``samples/bin/security/escape`` (source: samples/security/escape.c) tries one attack per run. Every
test asserts on what the host sees: the secret never appears in the guest's output, the host
folders hash the same before and after, the host processes are alive, the listener saw no
connection, and the run ended with the documented exit code.
"""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, TEST_ENV, tree_digest

from appvirt import Sandbox
from appvirt.limits import parse_limits
from appvirt.profile import Profile
from appvirt.sandbox import RunResult
from appvirt.vfs.types import MountMode, MountSpec

ESCAPE = ROOT / "samples" / "bin" / "security" / "escape"
SECRET = b"TOPSECRET-7f3a9c"


@dataclass
class Host:
    """A host tree: ``secret/`` (never mounted), ``work/`` (the guest's cwd, copy-on-write)."""

    top: Path
    secret: Path
    work: Path

    def digests(self) -> tuple[str, str]:
        return tree_digest(self.top), tree_digest(ESCAPE.parent)


@dataclass
class Run:
    result: RunResult
    out: bytes
    err: bytes
    elapsed: float


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    if not ESCAPE.exists():
        pytest.fail("samples/bin/security/escape missing: run make -C samples security")
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "s.txt").write_bytes(SECRET + b"\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "inside").write_text("a file in the cwd\n")
    h = Host(tmp_path, secret_dir / "s.txt", work)
    before = h.digests()
    yield h
    assert h.digests() == before, "the host tree changed"


def run(host: Host, *args: str, limits: str = "", mounts: list[MountSpec] | None = None) -> Run:
    profile = Profile.default()
    if limits:
        profile = profile.with_limits(parse_limits(limits))
    if mounts:
        profile = profile.with_mounts(mounts)
    out, err = io.BytesIO(), io.BytesIO()
    started = time.monotonic()
    result = Sandbox(profile, cwd=str(host.work)).run(
        [str(ESCAPE), *args], stdin=b"", stdout=out, stderr=err, host_env=TEST_ENV
    )
    return Run(result, out.getvalue(), err.getvalue(), time.monotonic() - started)


def assert_no_leak(r: Run) -> None:
    assert SECRET not in r.out and SECRET not in r.err
    assert b"LEAK" not in r.out, r.out.decode()


def test_read_outside_the_mounts(host: Host) -> None:
    """Absolute path, "..", /proc/self/root, openat from a dir fd, own symlinks, mmap, stat."""
    r = run(host, "read", str(host.secret))
    assert r.result.exit_code == 0, r.err
    assert_no_leak(r)
    lines = r.out.decode().splitlines()
    for what in ("absolute", "dotdot", "proc-root", "openat-dotdot", "openat-abs", "symlink",
                 "symlink-openat", "dir-symlink", "mmap"):  # fmt: skip
        assert any(line.startswith(f"{what}: denied:") for line in lines), (what, lines)
    assert "stat: No such file or directory" in lines


def test_read_a_hidden_path_inside_a_mount(host: Host) -> None:
    """The secret's folder is mounted but the file is hidden: every spelling, and mmap, fail."""
    mount = MountSpec(guest="/data", mode=MountMode.RO, host=str(host.secret.parent),
                      hidden=("/data/s.txt",))  # fmt: skip
    r = run(host, "read", "/data/s.txt", mounts=[mount])
    assert r.result.exit_code == 0, r.err
    assert_no_leak(r)
    assert "mmap: denied: No such file or directory" in r.out.decode()


def test_write_host_files(host: Host) -> None:
    marker = Path("/tmp/appvirt-escaped")
    existed = marker.exists()
    targets = [str(host.secret), str(host.top / "new-file"), str(host.work.parent / "x")]
    r = run(host, "write", *targets)
    assert r.result.exit_code == 0, r.err
    assert not (host.top / "new-file").exists()
    assert marker.exists() == existed
    assert host.secret.read_bytes() == SECRET + b"\n"


def test_exec_a_shell_that_writes_to_the_host(host: Host) -> None:
    target = host.top / "pwned"
    cmd = f"echo PWNED > {target}; echo PWNED > {host.work}/in-cwd; cat {host.secret}; echo done"
    r = run(host, "shell", cmd)
    assert b"done" in r.out, r.err
    assert_no_leak(r)
    assert not target.exists()
    assert not (host.work / "in-cwd").exists()  # the cwd is copy-on-write


def test_kill_everything_and_the_host_parent(host: Host) -> None:
    me, parent = os.getpid(), os.getppid()
    r = run(host, "kill", str(me), str(parent))
    assert r.result.exit_code == 0, r.err
    lines = r.out.decode().splitlines()
    assert f"kill({me}): -1 No such process" in lines
    assert f"kill({parent}): -1 No such process" in lines
    os.kill(me, 0)  # both still alive
    os.kill(parent, 0)


def test_connect_to_a_host_listener(host: Host) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        r = run(host, "connect", str(port))
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert r.result.exit_code == 0, r.err
    assert "socket: denied: Permission denied" in r.out.decode()
    assert r.result.denied


def test_int80_from_64_bit_code(host: Host) -> None:
    r = run(host, "int80")
    assert r.result.exit_code == 139  # SIGSEGV, the call is not served
    assert b"INT80-WRITE" not in r.out


def test_exhaust_memory(host: Host) -> None:
    r = run(host, "memory", limits="memory=256M")
    assert r.result.exit_code == 0, r.err
    assert "Cannot allocate memory" in r.out.decode()
    assert r.result.peak_memory <= 256 << 20


def test_fork_bomb(host: Host) -> None:
    r = run(host, "fork", limits="processes=16,time=30s")
    assert r.result.exit_code == 0, r.err
    out = r.out.decode()
    assert "Resource temporarily unavailable" in out
    assert "bomb over" in out
    os.kill(os.getpid(), 0)


def test_fill_the_disk(host: Host) -> None:
    r = run(host, "disk", limits="disk=64M")
    assert r.result.exit_code == 0, r.err
    assert "No space left on device" in r.out.decode()
    assert not (host.work / "fill.bin").exists()


def test_spin_forever(host: Host) -> None:
    r = run(host, "spin", limits="time=2s")
    assert r.result.exit_code == 152
    assert r.result.limit == "time"
    assert r.elapsed < 4.5
