"""A sandbox folder survives SIGKILL at any moment: the layer afterwards is the old one or the new
one, complete, never a mixture or a manifest naming a missing blob."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import BUSYBOX

from appvirt.persist.layer import Layer

FILES = 150
SAVER = """
import sys
from pathlib import Path
from appvirt.persist.layer import Layer
from appvirt.vfs.changes import Change, ChangeKind
from appvirt.vfs.types import FileKind

gen = int(sys.argv[2])
def body(i):
    return lambda: f"gen{gen} file{i}\\n".encode() * 3000
changes = [Change(ChangeKind.ADDED, f"/data/f{i}", FileKind.REG, 0o644, reader=body(i))
           for i in range(FILES)]
print("ready", flush=True)
Layer(Path(sys.argv[1])).save(changes, [], lambda path: None)
print("saved", flush=True)
""".replace("FILES", str(FILES))


def _save(folder: Path, gen: int, kill_after: float | None) -> bool:
    """Save generation ``gen`` in a child process, SIGKILLed ``kill_after`` s after it starts
    writing; True if it finished."""
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(folder), str(gen)],
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode == 0


def _generation(folder: Path) -> int:
    """The one generation the stored layer holds, after checking every blob is there and whole."""
    layer = Layer(folder)
    entries = layer.entries()
    assert len(entries) == FILES
    gens = set()
    for e in entries:
        data = layer.read(e)
        first = data.split(b"\n", 1)[0].decode()
        gen, name = first.split()
        assert name == "file" + e.path.rsplit("f", 1)[1]
        assert data == (first + "\n").encode() * 3000
        gens.add(int(gen[3:]))
    assert len(gens) == 1, gens
    return gens.pop()


def test_sigkill_during_save_leaves_old_or_new(tmp_path: Path) -> None:
    folder = tmp_path / "layer"
    assert _save(folder, 0, None)
    current = 0
    for gen, delay in enumerate([0.0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4], 1):
        finished = _save(folder, gen, delay)
        found = _generation(folder)
        assert found in (current, gen)
        if finished:
            assert found == gen
        current = found
    # Later saves remove what killed ones left behind.
    assert _save(folder, 99, None)
    blobs = [p for p in (folder / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == FILES
    assert not list(folder.glob(".*.tmp")) and not list((folder / "blobs").rglob(".*.tmp"))


def test_sigkill_of_a_run_keeps_the_sandbox_as_it_was(tmp_path: Path) -> None:
    box = tmp_path / "box"
    work = tmp_path / "work"
    work.mkdir()
    run = [sys.executable, "-m", "appvirt", "run", "--sandbox", str(box), BUSYBOX, "sh", "-c"]
    assert subprocess.run([*run, "echo first > f"], cwd=work, timeout=60).returncode == 0
    manifest = (box / "layer" / "manifest.json").read_bytes()
    proc = subprocess.Popen([*run, "echo second > f; echo started; while true; do :; done"],
                            cwd=work, stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert (box / "layer" / "manifest.json").read_bytes() == manifest
    assert json.loads(manifest)["entries"][0]["path"] == str(work / "f")
    out = subprocess.run([*run, "cat f"], cwd=work, capture_output=True, timeout=60)
    assert out.stdout == b"first\n"  # and the lock died with the killed run
