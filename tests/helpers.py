"""Shared helpers: run a program natively and under appvirt, and fingerprint host folders."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "bin" / "linux"
BUSYBOX = "/bin/busybox"
TEST_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}


@dataclass
class Outcome:
    status: int
    stdout: bytes
    stderr: bytes


def run_native(argv: list[str], cwd: Path, stdin: bytes = b"") -> Outcome:
    proc = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, env=TEST_ENV, timeout=60)
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Outcome(status, proc.stdout, proc.stderr)


def run_guest(argv: list[str], cwd: Path, stdin: bytes = b"", **kwargs: Any) -> Outcome:
    """Run argv under appvirt in-process; ``kwargs`` go to ``Sandbox.run`` (env, trace)."""
    from appvirt import Sandbox

    out, err = io.BytesIO(), io.BytesIO()
    result = Sandbox(cwd=str(cwd)).run(
        argv, stdin=stdin, stdout=out, stderr=err, host_env=TEST_ENV, **kwargs
    )
    return Outcome(result.exit_code, out.getvalue(), err.getvalue())


def tree_digest(path: Path) -> str:
    """Names, kinds, modes and contents of every entry under ``path``."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            h.update(
                f"{os.path.relpath(full, path)}:{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}".encode()
            )
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
            elif os.path.islink(full):
                h.update(os.readlink(full).encode())
    return h.hexdigest()


def guest_then_native(
    argv: list[str], folder: Path, pristine: Path, stdin: bytes = b""
) -> tuple[Outcome, Outcome]:
    """Run ``argv`` under appvirt in ``folder`` (which must stay unchanged: it is copy-on-write),
    then natively in the same folder, so paths and file times match; a native run that wrote
    into the folder is undone from ``pristine`` for the next case."""
    before = tree_digest(folder)
    guest = run_guest(argv, folder, stdin)
    assert tree_digest(folder) == before, "the guest changed the host folder"
    native = run_native(argv, folder, stdin)
    if tree_digest(folder) != before:
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder, symlinks=True)
    return guest, native


def pristine_copy(folder: Path) -> Path:
    """A copy of a fixture folder to restore it from (see ``guest_then_native``)."""
    copy = folder.parent / (folder.name + "-pristine")
    shutil.copytree(folder, copy, symlinks=True)
    return copy


def write_tar(path: Path) -> None:
    """A small ustar archive with fixed names, owners and times."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("t/a.txt", b"A\n"), ("t/b.txt", b"BB\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def sample(name: str) -> str:
    path = SAMPLES / name
    if not path.exists():
        pytest.fail(f"sample {name} missing: run make -C samples")
    return str(path)
