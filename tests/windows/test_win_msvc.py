"""MSVC-built console programs appvirt's authors did not write: pip's vendored distlib launchers.

``t64.exe``/``t32.exe`` are distlib's script launchers, built with Visual C++ and its static C
runtime (libcmt: its own heap, locks, stdio and lowio on top of kernel32). Run bare, without the
script archive pip appends to them, they get through CRT startup, open and read their own file,
and report ``Fatal error in launcher: Unable to find an appended archive.`` through
``fprintf(stderr, ...)`` before calling ``ExitProcess(1)``.

With a script appended the way pip appends it (a shebang line, then a zip archive), the launcher
reads its archive's end records back, checks the shebang names an ``.exe`` (shlwapi's
StrStrIW), creates a job object that kills its child when the launcher goes (kill-on-close),
makes inheritable copies of its standard handles and starts the program the shebang names with
CreateProcessW, waits for it and exits with its exit code. The sandbox has no Python for
Windows, so a shebang naming python.exe ends with the launcher's "Unable to create process"
message (with FormatMessageW's text); a shebang naming one of appvirt's sample programs runs it.

The messages reach a console only. The static CRT gives stderr a 4 KiB buffer when it is not a
character device (``_flsbuf``/``_getbuf``), and ``ExitProcess`` does not flush the EXE's own CRT
buffers, so with stderr redirected to a file or pipe Windows prints nothing. appvirt does the
same, and both cases are checked.
"""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

MESSAGE = b"Fatal error in launcher: Unable to find an appended archive."


def launchers() -> list[str]:
    import pip._vendor.distlib as distlib

    folder = Path(distlib.__file__).parent
    found = [name for name in ("t64.exe", "t32.exe") if (folder / name).exists()]
    if "t64.exe" not in found:
        pytest.fail(f"pip's distlib ships no t64.exe in {folder}")
    return found


def copy_launcher(name: str, dest: Path) -> Path:
    import pip._vendor.distlib as distlib

    target = dest / name
    shutil.copyfile(Path(distlib.__file__).parent / name, target)
    return target


def run_with_console_stderr(argv: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    """Run ``python -m appvirt`` with stderr on a pseudo-terminal: the guest sees a console."""
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, "-m", "appvirt", *argv], cwd=cwd,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)  # fmt: skip
    finally:
        os.close(slave)
    err = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal's other side closed it
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    assert child.stdout is not None
    out = child.stdout.read()
    child.stdout.close()
    return child.wait(timeout=120), out, bytes(err)


@pytest.mark.parametrize("name", launchers())
def test_launcher_reports_its_own_error_on_a_console(tmp_path: Path, name: str) -> None:
    exe = copy_launcher(name, tmp_path)
    status, out, err = run_with_console_stderr(["run", f"./{exe.name}"], tmp_path)
    assert status == 1
    assert out == b""
    # The CRT writes "\r\n" in text mode; the terminal's own newline translation adds one "\r".
    assert err.replace(b"\r", b"") == MESSAGE + b"\n"


@pytest.mark.parametrize("name", launchers())
def test_launcher_error_is_lost_when_stderr_is_redirected(tmp_path: Path, name: str) -> None:
    exe = copy_launcher(name, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "appvirt", "run", f"./{exe.name}"], cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", b"")


def with_script(exe: Path, shebang: bytes) -> Path:
    """The launcher with a script archive appended, as pip and distlib build console scripts."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("__main__.py", "print('hello')\n")
    target = exe.with_name("script-" + exe.name)
    target.write_bytes(exe.read_bytes() + shebang + b"\n" + archive.getvalue())
    return target


@pytest.mark.parametrize("name", launchers())
@pytest.mark.parametrize(
    ("shebang", "message"),
    [
        (b"#!/usr/bin/python3",
         b"Expected to find a command ending in '.exe' in shebang line: /usr/bin/python3"),
        (b'#!"C:\\Program Files\\Python\\PYTHON.EXE"',
         b"Unable to create process using '\"C:\\Program Files\\Python\\PYTHON.EXE\"  \"{script}\" ': "
         b"The system cannot find the file specified.\n"),
    ],
)  # fmt: skip
def test_launcher_reads_its_appended_script(tmp_path: Path, name: str, shebang: bytes,
                                            message: bytes) -> None:  # fmt: skip
    exe = with_script(copy_launcher(name, tmp_path), shebang)
    status, out, err = run_with_console_stderr(["run", f"./{exe.name}"], tmp_path)
    assert (status, out) == (1, b"")
    script = ("C:" + str(exe).replace("/", "\\")).encode()
    expected = b"Fatal error in launcher: " + message.replace(b"{script}", script) + b"\n"
    assert err.replace(b"\r", b"") == expected


@pytest.mark.parametrize("name", launchers())
def test_launcher_starts_the_program_its_shebang_names(tmp_path: Path, name: str) -> None:
    """The child runs in the same sandbox with the launcher's arguments after the script's
    path, its output reaches the launcher's stdout, and its exit code is the launcher's."""
    from helpers import ROOT

    shutil.copyfile(ROOT / "samples" / "bin" / "windows" / "args64.exe", tmp_path / "args64.exe")
    folder = "C:" + str(tmp_path).replace("/", "\\")
    exe = with_script(copy_launcher(name, tmp_path), f'#!"{folder}\\args64.exe" --exit 9'.encode())
    proc = subprocess.run([sys.executable, "-m", "appvirt", "run", f"./{exe.name}", "a", "b c"],
                          cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=120)  # fmt: skip
    expected = (
        f"argc=6\nargv[0]=args64\nargv[1]=--exit\nargv[2]=9\nargv[3]={folder}\\{exe.name}\n"
        f'argv[4]=a\nargv[5]=b c\ncmdline_tail=--exit 9 "{folder}\\{exe.name}" a "b c"\n'
        "env_count=0\nexit=9\n"
    )
    assert (proc.returncode, proc.stderr) == (9, b"")
    assert proc.stdout == expected.replace("\n", "\r\n").encode()
