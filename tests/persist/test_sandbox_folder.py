"""Persistent sandbox folders: a program run twice in one sandbox sees what it wrote the first time,
exactly as it would natively, while the host folder stays as it was; diff, commit, reset, the lock."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BUSYBOX, TEST_ENV, run_native, tree_digest

from appvirt import Sandbox
from appvirt.persist.folder import SandboxFolder
from appvirt.profile import Profile

APPVIRT = [sys.executable, "-m", "appvirt"]

# Changes every kind of thing a copy-on-write folder can hold: new files and folders, appends to a
# host file, a deleted host file, a renamed host file, a symlink, a mode change, a replaced folder.
FIRST = """
echo hello > new.txt
echo more >> keep.txt
rm gone.txt
mv old-name.txt new-name.txt
mkdir -p sub/deeper && echo deep > sub/deeper/file
ln -s new.txt link
chmod 600 new.txt
chmod 700 hostdir
rm -r olddir && mkdir olddir && echo replaced > olddir/only
"""
# Looks at all of it (no times: the guest's clock and the native one differ).
SECOND = """
find . | sort
for f in $(find . -type f | sort); do echo "== $f"; cat "$f"; done
for f in $(find . | sort); do stat -c '%n %a %F' "$f"; done
readlink link
echo again >> new.txt
"""


def _host_folder(base: Path) -> Path:
    proj = base / "proj"
    proj.mkdir()
    (proj / "keep.txt").write_text("hostdata\n")
    (proj / "gone.txt").write_text("old\n")
    (proj / "old-name.txt").write_text("renamed\n")
    (proj / "hostdir").mkdir()
    (proj / "hostdir" / "inside").write_text("x\n")
    (proj / "olddir").mkdir()
    (proj / "olddir" / "was").write_text("w\n")
    return proj


def _guest(script: str, cwd: Path, box: Path | None, **profile: object) -> tuple[int, bytes]:
    out = io.BytesIO()
    prof = Profile(**profile)  # type: ignore[arg-type]
    sandbox = Sandbox(prof, cwd=str(cwd), sandbox_dir=str(box) if box else None)
    result = sandbox.run([BUSYBOX, "sh", "-c", script], stdout=out, stderr=out, host_env=TEST_ENV)
    return result.exit_code, out.getvalue()


def _appvirt(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*APPVIRT, *args], cwd=cwd, capture_output=True, timeout=120)


def test_second_run_sees_the_first_like_native(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    native_dir = tmp_path / "native"
    shutil.copytree(proj, native_dir, symlinks=True)
    # Native paths differ from the guest's (the guest runs in proj): compare after the cwd.
    assert run_native([BUSYBOX, "sh", "-c", FIRST], native_dir).status == 0
    native = run_native([BUSYBOX, "sh", "-c", SECOND], native_dir)

    before = tree_digest(proj)
    box = tmp_path / "box"
    assert _guest(FIRST, proj, box)[0] == 0
    status, second = _guest(SECOND, proj, box)
    assert tree_digest(proj) == before, "the host folder changed"
    assert status == native.status == 0
    assert second == native.stdout + native.stderr
    # The second run's own change was kept as well.
    assert _guest("cat new.txt", proj, box)[1] == b"hello\nagain\n"


def test_without_a_sandbox_folder_nothing_is_kept(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    assert _guest("echo x > new.txt", proj, None)[0] == 0
    assert _guest("cat new.txt", proj, None) == (
        1,
        b"cat: can't open 'new.txt': No such file or directory\n",
    )


def test_diff_commit_to_folder_and_reset(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    box = tmp_path / "box"
    assert _guest(FIRST, proj, box)[0] == 0
    res = _appvirt("sandbox", "diff", str(box), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    p = str(proj)
    for line in (f"A {p}/new.txt", f"M {p}/keep.txt", f"D {p}/gone.txt", f"D {p}/old-name.txt",
                 f"A {p}/new-name.txt", f"A {p}/sub/", f"A {p}/sub/deeper/file",
                 f"A {p}/link -> new.txt", f"M {p}/hostdir/  (metadata)", f"D {p}/olddir/",
                 f"A {p}/olddir/", f"A {p}/olddir/only"):  # fmt: skip
        assert line in lines, (line, lines)
    assert not any("inside" in line or "/was" in line for line in lines)
    data = json.loads(_appvirt("sandbox", "diff", "--json", str(box), cwd=tmp_path).stdout)
    assert {e["op"] for e in data["files"]} == {"added", "modified", "deleted"}

    out = tmp_path / "out"
    res = _appvirt("sandbox", "commit", str(box), "--to", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    exported = out / p.lstrip("/")
    assert (exported / "new.txt").read_text() == "hello\n"
    assert (exported / "keep.txt").read_text() == "hostdata\nmore\n"
    assert (exported / "sub/deeper/file").read_text() == "deep\n"
    assert os.readlink(exported / "link") == "new.txt"
    assert (exported / "new.txt").stat().st_mode & 0o777 == 0o600
    assert not (exported / "gone.txt").exists()
    assert b"skipped" in res.stderr and b"gone.txt" in res.stderr

    res = _appvirt("sandbox", "reset", str(box), cwd=tmp_path)
    assert res.returncode == 0
    assert _appvirt("sandbox", "diff", str(box), cwd=tmp_path).stdout == b""
    assert _guest("cat gone.txt new.txt", proj, box)[1].startswith(b"old\ncat: can't open")


def test_commit_to_host_matches_a_native_run(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    native_dir = tmp_path / "native"
    shutil.copytree(proj, native_dir, symlinks=True)
    run_native([BUSYBOX, "sh", "-c", FIRST], native_dir)
    box = tmp_path / "box"
    assert _guest(FIRST, proj, box)[0] == 0
    res = _appvirt("sandbox", "commit", str(box), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert _shape(proj) == _shape(native_dir)
    assert json.loads((box / "layer" / "manifest.json").read_text())["entries"] == []


def _shape(root: Path) -> list[tuple[str, int, bytes]]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            full = Path(dirpath, name)
            st = full.lstat()
            body = os.readlink(full).encode() if full.is_symlink() else (
                full.read_bytes() if full.is_file() else b"")  # fmt: skip
            out.append((str(full.relative_to(root)), st.st_mode, body))
    return sorted(out)


def test_persistence_commit_writes_through_only_on_exit(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    code, _ = _guest("echo hi > made.txt; rm gone.txt", proj, None, persistence="commit")
    assert code == 0
    assert (proj / "made.txt").read_text() == "hi\n" and not (proj / "gone.txt").exists()
    # Killed by a signal: nothing reaches the host.
    code, _ = _guest("echo no > killed.txt; kill -9 $$", proj, None, persistence="commit")
    assert code == 137
    assert not (proj / "killed.txt").exists()


def test_persistence_discard_reads_but_does_not_write(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    box = tmp_path / "box"
    _guest("echo one > f", proj, box)
    manifest = (box / "layer" / "manifest.json").read_bytes()
    assert _guest("cat f; echo two > f", proj, box, persistence="discard")[1] == b"one\n"
    assert (box / "layer" / "manifest.json").read_bytes() == manifest
    assert _guest("cat f", proj, box)[1] == b"one\n"


def test_changes_of_another_folder_are_kept(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    box = tmp_path / "box"
    _guest("echo in-a > note", a, box)
    assert _guest("cat note; echo in-b > note", b, box)[1].startswith(b"cat: can't open")
    assert _guest("cat note", a, box)[1] == b"in-a\n"
    assert _guest("cat note", b, box)[1] == b"in-b\n"


def test_disk_limit_counts_what_the_sandbox_holds(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    box = tmp_path / "box"
    write = "dd if=/dev/zero of={} bs=1024 count=600 2>/dev/null && echo ok"
    limits = Profile().limits
    limits.disk = 1 << 20
    assert _guest(write.format("one"), proj, box, limits=limits)[1] == b"ok\n"
    code, out = _guest(write.format("two") + " || echo full", proj, box, limits=limits)
    assert out == b"full\n"


def test_sandbox_folder_is_hidden_from_the_guest(tmp_path: Path) -> None:
    proj = _host_folder(tmp_path)
    box = proj / "box"
    _guest("echo x > f", proj, box)
    assert box.is_dir()
    code, out = _guest("ls; cat box/sandbox.json", proj, box)
    assert b"box" not in out.split(b"cat:")[0]
    assert b"appvirt-sandbox" not in out


def test_second_run_is_refused_while_one_holds_the_lock(tmp_path: Path) -> None:
    box = tmp_path / "box"
    folder = SandboxFolder.open(box, create=True)
    with folder.locked():
        res = _appvirt("run", "--sandbox", str(box), BUSYBOX, "true", cwd=tmp_path)
        assert res.returncode == 125
        assert res.stderr.startswith(b"appvirt: error: sandbox ")
        assert f"in use by another run (pid {os.getpid()})".encode() in res.stderr
        assert _appvirt("sandbox", "reset", str(box), cwd=tmp_path).returncode == 125
    assert _appvirt("run", "--sandbox", str(box), BUSYBOX, "true", cwd=tmp_path).returncode == 0


def test_a_folder_that_is_not_a_sandbox_is_refused(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("precious")
    res = _appvirt("run", "--sandbox", str(docs), BUSYBOX, "true", cwd=tmp_path)
    assert res.returncode == 125
    assert b"is not an appvirt sandbox folder" in res.stderr
    assert os.listdir(docs) == ["thesis.txt"]


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    box = tmp_path / "box"
    SandboxFolder.open(box, create=True)
    meta = json.loads((box / "sandbox.json").read_text())
    meta["version"] = 99
    (box / "sandbox.json").write_text(json.dumps(meta))
    res = _appvirt("run", "--sandbox", str(box), BUSYBOX, "true", cwd=tmp_path)
    assert res.returncode == 125
    assert b"newer than this appvirt reads" in res.stderr


def test_profile_sandbox_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    proj = _host_folder(tmp_path)
    _guest("echo kept > f", proj, None, sandbox="{data}/boxes/{program}")
    assert (tmp_path / "data/appvirt/boxes/busybox/sandbox.json").is_file()
    assert _guest("cat f", proj, None, sandbox="{data}/boxes/{program}")[1] == b"kept\n"
