"""What a guest sees of /dev, /proc/self, its terminal, its environment and the host's folders.

Guests run through appvirt (in-process through ``Sandbox``, or the ``appvirt`` command when the
CLI is what is being tested) and, wherever the host can show the same thing, natively too: the
two must agree.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import BUSYBOX, ROOT, TEST_ENV, Outcome, run_guest, run_native, sample

from appvirt import Profile, Sandbox
from appvirt.profile import parse_mount

APPVIRT = [sys.executable, "-m", "appvirt"]
# the appvirt command runs this checkout's package and sees no more of our environment than this
CLI_ENV = {**TEST_ENV, "PYTHONPATH": str(ROOT)}
Completed = subprocess.CompletedProcess[bytes]
TEXT = b"some text\nover two lines\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "text.txt").write_bytes(TEXT)
    return folder


def both(argv: list[str], cwd: Path) -> tuple[Outcome, Outcome]:
    """(guest, native) outcome of one busybox applet, guest first so cwd is as native sees it."""
    return run_guest([BUSYBOX, *argv], cwd), run_native([BUSYBOX, *argv], cwd)


# -- /dev ---------------------------------------------------------------------------------------
SAME_AS_NATIVE = [
    ["cat", "/dev/null"],
    ["wc", "-c", "/dev/null"],
    ["cp", "text.txt", "/dev/null"],
    ["od", "-A", "d", "-t", "x1", "-N", "24", "/dev/zero"],
    ["head", "-c", "5", "/dev/zero"],
    ["dd", "if=/dev/zero", "of=/dev/full", "bs=16", "count=1"],
    ["stat", "-c", "%n %F %t:%T %a", "/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"],
    ["readlink", "/proc/self/exe"],
    ["ls", "/proc/self/fd"],
    ["cat", "/proc/self/cmdline"],
]


@pytest.mark.parametrize("argv", SAME_AS_NATIVE, ids=[" ".join(a) for a in SAME_AS_NATIVE])
def test_same_as_native(work: Path, argv: list[str]) -> None:
    guest, native = both(argv, work)
    assert (guest.status, guest.stdout) == (native.status, native.stdout), guest.stderr
    # the first stderr line carries the error text (dd's statistics that follow hold timings)
    assert guest.stderr.split(b"\n")[0] == native.stderr.split(b"\n")[0]


def test_dev_null_swallows_writes(work: Path) -> None:
    guest = run_guest([BUSYBOX, "tee", "/dev/null"], work, stdin=TEXT)
    assert (guest.status, guest.stdout) == (0, TEXT)


def test_dev_urandom(work: Path) -> None:
    first = run_guest([BUSYBOX, "head", "-c", "64", "/dev/urandom"], work)
    second = run_guest([BUSYBOX, "head", "-c", "64", "/dev/urandom"], work)
    assert first.status == second.status == 0
    assert len(first.stdout) == len(second.stdout) == 64
    assert first.stdout != second.stdout
    counted = run_guest([BUSYBOX, "wc", "-c"], work, stdin=first.stdout)
    assert counted.stdout.split() == [b"64"]


def test_dev_urandom_follows_the_profile_seed(work: Path) -> None:
    def draw(seed: int) -> bytes:
        out = io.BytesIO()
        sandbox = Sandbox(replace(Profile.default(), random_seed=seed), cwd=str(work))
        argv = [BUSYBOX, "head", "-c", "32", "/dev/urandom"]
        assert sandbox.run(argv, stdout=out, host_env=TEST_ENV).exit_code == 0
        return out.getvalue()

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_dev_tty_without_a_terminal_is_enxio(work: Path) -> None:
    argv = [BUSYBOX, "dd", "if=/dev/tty", "count=0"]
    guest = run_guest(argv, work)
    # natively, a new session has no controlling terminal
    native = subprocess.run(
        argv, cwd=work, capture_output=True, env=TEST_ENV, start_new_session=True, timeout=60
    )
    assert b"No such device or address" in native.stderr
    assert (guest.status, guest.stderr) == (native.returncode, native.stderr)


# -- /proc/self ---------------------------------------------------------------------------------
def test_proc_self_exe_is_the_program_guest_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    program = bindir / "busybox"  # busybox picks the applet by its own name
    shutil.copy(BUSYBOX, program)
    guest = run_guest([str(program), "readlink", "/proc/self/exe"], tmp_path)
    assert guest.stdout == os.path.realpath(program).encode() + b"\n"


def test_proc_self_exe_of_a_program_found_on_path(work: Path) -> None:
    guest = run_guest(["busybox", "readlink", "/proc/self/exe"], work)
    found = shutil.which("busybox", path=TEST_ENV["PATH"])
    assert found is not None
    assert guest.status == 0
    assert guest.stdout == os.path.realpath(found).encode() + b"\n"


def _load_segments(path: str) -> list[tuple[int, int, int, int]]:
    """(vaddr, filesz, memsz, flags) of each PT_LOAD of a non-PIE x86-64 ELF."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        assert head[:5] == b"\x7fELF\x02", "expected a 64-bit ELF"
        (e_type,) = struct.unpack_from("<H", head, 16)
        assert e_type == 2, "expected a fixed-address (ET_EXEC) program"
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, p_flags, _off, vaddr, _pa, filesz, memsz = struct.unpack_from(
            "<IIQQQQQ", table, i * phentsize
        )
        if p_type == 1:
            out.append((vaddr, filesz, memsz, p_flags))
    return out


def _maps(text: str) -> list[tuple[int, int, str, str]]:
    rows = []
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) \S+ \S+ \S+\s*(.*)$", line)
        assert m, f"malformed maps line {line!r}"
        rows.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4)))
    return rows


def _covering(rows: list[tuple[int, int, str, str]], addr: int) -> tuple[str, str]:
    for start, end, perms, name in rows:
        if start <= addr < end:
            return perms, name
    raise AssertionError(f"{addr:#x} is not mapped")


def test_proc_self_maps(work: Path) -> None:
    guest, native = both(["cat", "/proc/self/maps"], work)
    assert guest.status == native.status == 0
    g, n = _maps(guest.stdout.decode()), _maps(native.stdout.decode())
    exe = os.path.realpath(BUSYBOX)
    for vaddr, filesz, _memsz, flags in _load_segments(BUSYBOX):
        want = "".join(c if flags & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))
        for addr in (vaddr, vaddr + filesz - 1):
            perms, name = _covering(g, addr)
            assert name == exe, f"{addr:#x}: {name!r}"
            assert perms == _covering(n, addr)[0], f"{addr:#x}: {perms} natively differs"
            if addr == vaddr + filesz - 1:  # past RELRO: the segment's own permissions
                assert perms == want + "p"
    for special in ("[stack]", "[heap]"):
        lines = [perms for _s, _e, perms, name in g if name == special]
        assert lines == ["rw-p"], f"{special}: {lines}"
    # the stack is the highest mapping of the guest's own address space
    assert max(g, key=lambda r: r[1])[3] == "[stack]"


# -- the terminal -------------------------------------------------------------------------------
# The child makes the pty its controlling terminal and stdio, then becomes argv (no preexec_fn:
# pytest-xdist workers have threads).
LOGIN_TTY = "import os, sys; os.login_tty(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"


def run_in_pty(argv: list[str], rows: int = 33, cols: int = 101) -> tuple[int, bytes]:
    """Run argv with stdin, stdout and stderr on a new pty that is its controlling terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("4H", rows, cols, 0, 0))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOGIN_TTY, str(slave), *argv], pass_fds=(slave,), env=CLI_ENV
        )
    finally:
        os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave descriptor is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=60), bytes(out)


PTY_CASES = [
    ["test", "-t", "0"],
    ["test", "-t", "1"],
    ["test", "-t", "2"],
    ["test", "-t", "5"],
    ["stty", "size"],
]


@pytest.mark.parametrize("argv", PTY_CASES, ids=[" ".join(a) for a in PTY_CASES])
def test_pty_same_as_native(argv: list[str]) -> None:
    native = run_in_pty([BUSYBOX, *argv])
    guest = run_in_pty([*APPVIRT, "run", BUSYBOX, *argv])
    assert guest == native


def test_stdio_links_to_the_terminal() -> None:
    status, out = run_in_pty([*APPVIRT, "run", BUSYBOX, "readlink", "/proc/self/fd/0"])
    assert status == 0
    assert re.fullmatch(rb"/dev/pts/\d+\r\n", out), out


def test_stty_size_is_the_terminal_size() -> None:
    assert run_in_pty([*APPVIRT, "run", BUSYBOX, "stty", "size"], 40, 132) == (0, b"40 132\r\n")


def test_pipes_are_not_terminals(work: Path) -> None:
    for fd in ("0", "1", "2"):
        guest, native = both(["test", "-t", fd], work)
        assert guest.status == native.status == 1


# -- the command line: --report, --env, --mount ---------------------------------------------------
def appvirt(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Completed:
    full_env = {**CLI_ENV, **(env or {})}
    return subprocess.run(
        [*APPVIRT, *args], cwd=cwd, capture_output=True, env=full_env, timeout=120
    )


def native_call_counts(argv: list[str], cwd: Path) -> dict[str, int]:
    """System calls by name, counted by ``strace -c`` (which leaves out exit_group)."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is needed for this test: apt-get install strace")
    summary = cwd.parent / "strace-c.txt"
    res = subprocess.run(
        [strace, "-f", "-c", "-o", str(summary), *argv], cwd=cwd, capture_output=True, timeout=60
    )
    if res.returncode != 0 and b"ptrace" in res.stderr.lower():
        pytest.skip(f"strace cannot trace here: {res.stderr.decode().strip()}")
    counts = {}
    for line in summary.read_text().splitlines():
        m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            counts[m.group(2)] = int(m.group(1))
    return counts


def test_report(work: Path) -> None:
    report = work.parent / "report.json"
    argv = [BUSYBOX, "cat", "text.txt"]
    res = appvirt("run", "--report", str(report), *argv, cwd=work)
    assert res.returncode == 0 and res.stdout == TEXT
    data = json.loads(report.read_text())
    assert (data["exit_code"], data["exit_status"], data["signal"]) == (0, 0, None)
    assert data["limit"] is None
    assert data["peak_memory_bytes"] > 0
    assert data["unknown_syscalls"] == {}
    assert str(work / "text.txt") in data["files_read"]
    native = native_call_counts(argv, work)
    native.pop("execve")  # appvirt loads the program itself
    assert data["syscalls"] == {**native, "exit_group": 1}


def test_report_of_a_crash(work: Path) -> None:
    report = work.parent / "report.json"
    res = appvirt("run", "--report", str(report), sample("crash-x86_64"), "segv", cwd=work)
    assert res.returncode == 139
    data = json.loads(report.read_text())
    assert (data["exit_code"], data["exit_status"], data["signal"]) == (139, None, 11)


def test_report_of_an_exit_status(work: Path) -> None:
    report = work.parent / "report.json"
    res = appvirt("run", f"--report={report}", sample("exitcode-i386"), "42", cwd=work)
    assert res.returncode == 42
    data = json.loads(report.read_text())
    assert (data["exit_code"], data["exit_status"]) == (42, 42)
    assert data["syscalls"]["exit_group"] == 1


def test_env_options_reach_the_guest(work: Path) -> None:
    res = appvirt(
        "run", "--env", "APPVIRT_SET=one two", "--env", "APPVIRT_EMPTY=", "--env", "APPVIRT_ABSENT",
        sample("args-x86_64"), cwd=work, env={"APPVIRT_HOST": "from host"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    env = [line for line in res.stdout.splitlines() if line.startswith(b"env=")]
    assert env == [b"env=APPVIRT_EMPTY=", b"env=APPVIRT_HOST=from host", b"env=APPVIRT_SET=one two"]


def test_env_name_passes_a_host_variable_the_profile_hides(work: Path) -> None:
    host = {"SECRET_TOKEN": "s3cr3t", "OTHER_SECRET": "x"}
    hidden = appvirt("run", BUSYBOX, "env", cwd=work, env=host)
    passed = appvirt("run", "--env", "SECRET_TOKEN", BUSYBOX, "env", cwd=work, env=host)
    assert hidden.returncode == passed.returncode == 0
    assert b"SECRET" not in hidden.stdout
    lines = passed.stdout.splitlines()
    assert b"SECRET_TOKEN=s3cr3t" in lines
    assert not any(line.startswith(b"OTHER_SECRET") for line in lines)
    assert not any(line.startswith(b"HOME=") for line in lines)


def test_mount_read_only(work: Path) -> None:
    data = work.parent / "data"
    data.mkdir()
    (data / "in.txt").write_bytes(b"mounted\n")
    mount = f"{data}:/data:ro"
    seen = appvirt("run", "--mount", mount, BUSYBOX, "cat", "/data/in.txt", cwd=work)
    assert (seen.returncode, seen.stdout) == (0, b"mounted\n")
    touch = appvirt("run", "--mount", mount, BUSYBOX, "touch", "/data/new", cwd=work)
    assert touch.returncode == 1
    assert touch.stderr == b"touch: /data/new: Read-only file system\n"
    sandbox = Sandbox(Profile.default().with_mounts([parse_mount(mount)]), cwd=str(work))
    for argv in (["rm", "/data/in.txt"], ["mkdir", "/data/sub"], ["cp", "text.txt", "/data/"]):
        err = io.BytesIO()
        result = sandbox.run([BUSYBOX, *argv], stdout=io.BytesIO(), stderr=err, host_env=TEST_ENV)
        assert result.exit_code == 1
        assert b"Read-only file system" in err.getvalue(), err.getvalue()
    assert sorted(os.listdir(data)) == ["in.txt"]


def test_mount_read_write_reaches_the_host(work: Path) -> None:
    data = work.parent / "data"
    data.mkdir()
    mount = f"{data}:/out:rw"
    res = appvirt("run", "--mount", mount, BUSYBOX, "cp", "text.txt", "/out/copy", cwd=work)
    assert res.returncode == 0, res.stderr
    assert (data / "copy").read_bytes() == TEXT


def test_unmounted_host_paths_are_invisible(tmp_path: Path) -> None:
    cwd, beside = tmp_path / "cwd", tmp_path / "beside"
    cwd.mkdir()
    beside.mkdir()
    (beside / "private.txt").write_text("private")
    home = os.path.expanduser("~")
    guest = run_guest([BUSYBOX, "ls", "-d", home, str(beside), "/home", "/root", "/mnt"], cwd)
    assert guest.status == 1
    assert guest.stdout == b""
    for path in (home, str(beside), "/home", "/root", "/mnt"):
        assert f"ls: {path}: No such file or directory".encode() in guest.stderr
    # the folders above the current one hold only the way down to it
    above = run_guest([BUSYBOX, "ls", "-a", str(tmp_path)], cwd)
    assert above.stdout.split() == [b".", b"..", b"cwd"]
    # without --mount a folder given on the command line is not there either
    res = appvirt("run", BUSYBOX, "cat", str(beside / "private.txt"), cwd=cwd)
    assert res.returncode == 1 and b"No such file or directory" in res.stderr
