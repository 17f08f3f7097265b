"""A Windows program's files persist in its sandbox folder (cwd and %APPDATA%), like its registry;
the host folder stays as it was."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from helpers import TEST_ENV, tree_digest
from test_win_samples import crlf, exe

from appvirt import Sandbox

APPDATA_NOTES = "C:\\Users\\appvirt\\AppData\\Roaming\\appvirt-notes\\notes.txt"


def _notes(bits: str, cwd: Path, box: Path) -> bytes:
    out = io.BytesIO()
    result = Sandbox(cwd=str(cwd), sandbox_dir=str(box)).run([exe("notes", bits)], stdout=out,
                                                             host_env=TEST_ENV)  # fmt: skip
    assert result.exit_code == 0
    return out.getvalue()


def test_files_persist_across_runs_and_architectures(tmp_path: Path) -> None:
    work, box = tmp_path / "work", tmp_path / "box"
    work.mkdir()
    before = tree_digest(work)
    assert _notes("64", work, box) == crlf(f"== {APPDATA_NOTES}\na note\n== notes.txt\na note\n")
    second = _notes("32", work, box)
    assert second == crlf(f"== {APPDATA_NOTES}\na note\na note\n== notes.txt\na note\na note\n")
    assert tree_digest(work) == before
    diff = subprocess.run([sys.executable, "-m", "appvirt", "sandbox", "diff", str(box)],
                          capture_output=True, timeout=60, check=True).stdout.decode()  # fmt: skip
    assert diff.splitlines() == [
        f"A {work}/notes.txt",
        "A /Users/appvirt/AppData/Roaming/appvirt-notes/",
        "A /Users/appvirt/AppData/Roaming/appvirt-notes/notes.txt",
    ]
