"""Shared helpers: run a program natively and under appvirt, and fingerprint host folders."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
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


def sample(name: str) -> str:
    path = SAMPLES / name
    if not path.exists():
        pytest.fail(f"sample {name} missing: run make -C samples")
    return str(path)
